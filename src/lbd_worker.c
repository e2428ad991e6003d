/*
 * lbd_worker.c - a worker process: one libevent loop that accepts on the
 * inherited listeners and proxies.
 *
 * Signals from the master arrive as libevent signal events, so they are
 * handled between callbacks, never inside one:
 *   TERM, INT  fast stop: exit now, the kernel closes every socket;
 *   QUIT       graceful stop: close the listeners, let open connections end,
 *              exit when none is left or after timeouts.shutdown;
 *   USR1       reopen the error log (the master has reopened and chowned it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lbd_access_log.h"
#include "lbd_http_parse.h"
#include "lbd_log.h"
#include "lbd_peer.h"
#include "lbd_registry.h"
#include "lbd_shm.h"
#include "lbd_stats.h"
#include "lbd_status.h"
#include "lbd_worker.h"

/* Accepts per listener wakeup: bounds one callback's work, and leaves
 * connections in a busy queue to the other workers. */
#define LBD_ACCEPT_BATCH        64
/* On a shared socket, connections a worker may hold beyond its share of
 * the accepting workers' before it takes only one per wakeup; and beyond
 * an eighth more, before it steps back for LBD_ACCEPT_YIELD_MS. */
#define LBD_ACCEPT_SLACK         4
#define LBD_ACCEPT_YIELD_MS      1
/* After EMFILE/ENFILE, wait this long before accepting again. */
#define LBD_ACCEPT_PAUSE_MS    100
/* At its limit, a worker refuses what waits in the accept queue this often
 * (when every other worker is full too): the longest a connection waits
 * before it is served or refused. */
#define LBD_SHED_MS            200
/* At most one "refused at the limit" log line per worker this often. */
#define LBD_REFUSED_LOG_MS   10000
/* How often an idle worker looks at the generation counter (a busy one
 * also looks at every accept): bounds how stale its routing can be. */
#define LBD_GENERATION_TICK_MS  10
/* A worker's registry reads wait at most this long for a lock (WAL readers
 * rarely wait at all); past it the reload is retried on the next tick. */
#define LBD_READ_BUSY_MS       200
/* After a graceful stop closed the admin listener, how long the admin port
 * still reads what clients already sent. */
#define LBD_ADMIN_LINGER_MS   1000

static void
ms_to_tv(int ms, struct timeval *tv)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

unsigned long long
lbd_nofile_capacity(unsigned long long nofile)
{
    return nofile > LBD_FD_RESERVE ? (nofile - LBD_FD_RESERVE) / 2 : 0;
}

void
lbd_worker_accept_enable(struct lbd_worker *w, int on)
{
    if (w->shutting_down)
        return;
    /*
     * What every worker's shedding looks at: is anyone still taking
     * connections?  Published even when the listeners are already off: a
     * worker that stepped back (accept_yield) still counted as taking them.
     */
    if (w->wslot >= 0)
        atomic_store_explicit(&lbd_shm->workers[w->wslot].full, on ? 0 : 1,
                              memory_order_relaxed);
    if ((unsigned) on == w->accepting)
        return;
    if (on)
        evtimer_del(w->shed_timer);
    for (unsigned i = 0; i < w->nservices; i++) {
        if (w->services[i].fd == -1)
            continue;
        if (on)
            event_add(&w->services[i].ev, NULL);
        else
            event_del(&w->services[i].ev);
    }
    w->accepting = on ? 1 : 0;
}

void
lbd_worker_refresh(struct lbd_worker *w)
{
    struct lbd_reg_state *state;
    struct lbd_snapshot  *snap;
    uint64_t              gen;
    char                  err[512];

    if (lbd_shm == NULL || (gen = lbd_shm_generation(lbd_shm)) == w->seen)
        return;
    if (lbd_registry_read(w->reg, &state, err, sizeof(err)) != LBD_REG_OK) {
        /* Keep routing with what we have; the next tick tries again. */
        if (w->refresh_failed++ % 1000 == 0)
            lbd_log(LBD_LOG_ERROR, "worker %u: reading the registry failed, keeping "
                    "generation %llu: %s", w->slot, (unsigned long long) w->snap->generation,
                    err);
        return;
    }
    snap = lbd_snapshot_build(w->cycle->conf, state);
    if (snap == NULL) {
        lbd_reg_state_free(state);
        w->refresh_failed++;
        return;
    }
    lbd_reg_state_free(w->state);
    w->state = state;
    w->refresh_failed = 0;
    lbd_debug("worker %u: generation %llu -> %llu", w->slot,
              (unsigned long long) w->snap->generation, (unsigned long long) snap->generation);
    /* Connections keep the old snapshot until they end; new ones get this. */
    lbd_snapshot_unref(w->snap);
    w->snap = snap;
    w->seen = gen;
    if (w->wslot >= 0) {
        struct lbd_shm_worker *sw = &lbd_shm->workers[w->wslot];

        atomic_store(&sw->generation, snap->generation);
        atomic_store(&sw->applied_ns, lbd_shm_now_ns());
        atomic_fetch_add(&sw->snapshots, 1);
    }
}

static void
on_generation_tick(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_worker *w = arg;

    lbd_worker_refresh(w);
    /* A reload that kept this worker: the page's files may have changed. */
    if (lbd_shm != NULL && w->cycle->conf->admin.enabled
        && atomic_load_explicit(&lbd_shm->reloads, memory_order_relaxed) != w->reloads) {
        w->reloads = atomic_load(&lbd_shm->reloads);
        lbd_status_files_free(w);
        if (lbd_status_files_load(w) == -1)
            lbd_log(LBD_LOG_ERROR, "worker %u: no memory for the status page's files", w->slot);
    }
}

static void accept_full(struct lbd_worker *w);

/* After a pause (EMFILE) or a step back (accept_yield): accept again, or say full. */
static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_worker *w = arg;

    if (w->nconns < w->max_conns)
        lbd_worker_accept_enable(w, 1);
    else
        accept_full(w);
}

/* 1 when no live worker but this one is accepting (each is full, paused or stopping). */
static int
all_workers_full(const struct lbd_worker *w)
{
    if (lbd_shm == NULL || w->wslot < 0)
        return 1;
    for (int i = 0; i < LBD_SHM_WORKERS; i++) {
        const struct lbd_shm_worker *sw = &lbd_shm->workers[i];

        if (i != w->wslot && atomic_load_explicit(&sw->pid, memory_order_relaxed) != 0
            && !atomic_load_explicit(&sw->full, memory_order_relaxed))
            return 0;
    }
    return 1;
}

/*
 * Refuse one connection taken from the queue at the limit: an HTTP client
 * gets a 503 saying why, a TCP client an immediate close.  What the client
 * already sent is read first, so that the close is a FIN, not a reset that
 * could destroy the answer.  Worker loop; never blocks.
 */
static void
refuse(const struct lbd_service *svc, int fd)
{
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Content-Length: 36\r\nConnection: close\r\n\r\n"
        "lbd: at its connection limit; retry\n";
    char   sink[4096];

    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
    if (svc->conf->mode == LBD_MODE_HTTP
        && send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
        /* The client has gone already: nothing to tell it. */
    }
    close(fd);
}

/*
 * At the limit the worker stops watching its listeners: new connections
 * wait in the kernel's queue for any worker with room.  When every worker
 * is full, nothing would ever take them, so every LBD_SHED_MS this one
 * takes what waits and refuses it (refuse()): a client is served or told
 * no within about LBD_SHED_MS, never left hanging, and the worker does not
 * spin.  A reuseport socket is this worker's alone, so nobody else would
 * take its queue: what waits there is refused whether or not other
 * workers have room.  Worker loop.
 */
static void
on_shed(evutil_socket_t unused, short what, void *arg)
{
    struct lbd_worker *w = arg;
    struct timeval     tv;
    int64_t            now;
    int                all_full;

    if (w->accepting || w->shutting_down || w->nconns < w->max_conns)
        return;
    all_full = all_workers_full(w);
    for (unsigned i = 0; i < w->nservices; i++) {
        struct lbd_service *svc = &w->services[i];
        int                 fd;

        if (svc->fd == -1 || (!all_full && !svc->conf->reuseport))
            continue;
        for (int k = 0; k < LBD_ACCEPT_BATCH; k++) {
            fd = accept4(svc->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd == -1)
                break;
            refuse(svc, fd);
            w->refused++;
        }
    }
    now = lbd_mono_ms();
    if (w->refused > 0 && now - w->refused_logged >= LBD_REFUSED_LOG_MS) {
        lbd_log(LBD_LOG_WARN, "worker %u: at its limit of %u connections (%s); refused %u "
                "new ones", w->slot, w->max_conns,
                w->max_conns < (unsigned) w->cycle->conf->worker_connections
                ? "the open file limit" : "worker_connections", w->refused);
        w->refused = 0;
        w->refused_logged = now;
    }
    ms_to_tv(LBD_SHED_MS, &tv);
    evtimer_add(w->shed_timer, &tv);
}

/* Stop accepting at the limit, and start refusing what waits if all are full. */
static void
accept_full(struct lbd_worker *w)
{
    struct timeval tv;

    lbd_worker_accept_enable(w, 0);
    if (!evtimer_pending(w->shed_timer, NULL)) {
        ms_to_tv(LBD_SHED_MS, &tv);
        evtimer_add(w->shed_timer, &tv);
    }
}

/*
 * How many connections this wakeup may take from svc's socket, 0 for none
 * now.  On a shared socket the worker that wakes first would take a whole
 * burst: wrk's 100 connections on 2 workers went 100/0 at times, and the
 * run's throughput to two thirds of an even split's.  Taking one per wakeup
 * (nginx's multi_accept off) still left 70/30 splits, because on a busy
 * machine the sibling the kernel woke too may not run for a while.  So:
 *   - up to its share of the connections the accepting workers hold, plus
 *     LBD_ACCEPT_SLACK: a batch, as many as bring it there;
 *   - beyond that: one per wakeup;
 *   - an eighth beyond it: none; the worker stops watching its listeners
 *     for LBD_ACCEPT_YIELD_MS (not published as full: it still has room).
 *     When it is back it takes LBD_ACCEPT_SLACK connections, twice as many
 *     after each step back in a row up to a whole batch, so a sibling that
 *     does not take them (stuck, or not scheduled) strands nothing for
 *     more than a few milliseconds.
 * A reuseport socket is this worker's own: a whole batch.
 */
static int
accept_quota(struct lbd_worker *w, const struct lbd_service *svc)
{
    uint64_t sum = 0, share;
    unsigned n = 0;

    if (svc->conf->reuseport || lbd_shm == NULL || w->wslot < 0)
        return LBD_ACCEPT_BATCH;
    if (w->yielded) {
        w->yielded = 0;
        return (int) w->yield_batch;
    }
    for (int i = 0; i < LBD_SHM_WORKERS; i++) {
        const struct lbd_shm_worker *sw = &lbd_shm->workers[i];

        if (atomic_load_explicit(&sw->pid, memory_order_relaxed) == 0
            || (i != w->wslot && atomic_load_explicit(&sw->full, memory_order_relaxed)))
            continue;
        sum += i == w->wslot ? w->nconns
                             : atomic_load_explicit(&sw->active, memory_order_relaxed);
        n++;
    }
    if (n < 2)
        return LBD_ACCEPT_BATCH;
    share = (sum + n - 1) / n;
    if (w->nconns >= share + share / 8 + LBD_ACCEPT_SLACK)
        return 0;
    w->yield_batch = 0;     /* back within its share: the next step back starts small */
    if (w->nconns >= share + LBD_ACCEPT_SLACK)
        return 1;
    return share + LBD_ACCEPT_SLACK - w->nconns < LBD_ACCEPT_BATCH
           ? (int) (share + LBD_ACCEPT_SLACK - w->nconns) : LBD_ACCEPT_BATCH;
}

/* Stop watching the listeners for LBD_ACCEPT_YIELD_MS (accept_quota said none now). */
static void
accept_yield(struct lbd_worker *w)
{
    struct timeval tv;

    for (unsigned i = 0; i < w->nservices; i++)
        if (w->services[i].fd != -1)
            event_del(&w->services[i].ev);
    w->accepting = 0;
    w->yielded = 1;
    w->yield_batch = w->yield_batch == 0 ? LBD_ACCEPT_SLACK
                     : w->yield_batch * 2 < LBD_ACCEPT_BATCH ? w->yield_batch * 2
                     : LBD_ACCEPT_BATCH;
    ms_to_tv(LBD_ACCEPT_YIELD_MS, &tv);
    evtimer_add(w->accept_timer, &tv);
}

/*
 * Accept up to accept_quota() connections on svc and start them.
 * Returns 1 when it took a whole batch (more may wait), else 0: the queue
 * is empty, the worker is full, or accept() failed.  Worker loop.
 */
static int
accept_batch(struct lbd_service *svc)
{
    struct lbd_worker  *w = svc->worker;
    unsigned            limit = w->max_conns;
    int                 lfd = svc->fd;
    int                 quota;

    if (w->nconns >= limit) {
        /* Full: say so before anything else (a worker that steps back is not full). */
        if (!w->shutting_down)
            accept_full(w);
        return 0;
    }
    if ((quota = accept_quota(w, svc)) == 0) {
        accept_yield(w);
        return 0;
    }
    for (int i = 0; i < quota; i++) {
        struct sockaddr_storage ss;
        socklen_t               len = sizeof(ss);
        int                     fd;

        if (w->nconns >= limit) {
            /* Full: leave the rest in the kernel's queue (or to other workers). */
            if (!w->shutting_down)
                accept_full(w);
            return 0;
        }
        fd = accept4(lfd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            switch (errno) {
            case EAGAIN:
            case ECONNABORTED:
                return 0;
            case EINTR:
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM: {
                struct timeval tv;

                /* Spinning on a full descriptor table helps no one. */
                lbd_log_err(LBD_LOG_ERROR, errno, "accept() on %s failed; pausing accepts "
                            "for %d ms (%u connections open)", svc->conf->listen.text,
                            LBD_ACCEPT_PAUSE_MS, w->nconns);
                lbd_worker_accept_enable(w, 0);
                ms_to_tv(LBD_ACCEPT_PAUSE_MS, &tv);
                evtimer_add(w->accept_timer, &tv);
                return 0;
            }
            default:
                lbd_log_err(LBD_LOG_ERROR, errno, "accept() on %s failed", svc->conf->listen.text);
                return 0;
            }
        }
        w->nconns++;
        if (w->wslot >= 0) {
            lbd_stats_add(lbd_stats_self, LBD_STAT_CONNS, 1);
            atomic_store_explicit(&lbd_shm->workers[w->wslot].active, w->nconns,
                                  memory_order_relaxed);
        }
        if (svc->conf->mode == LBD_MODE_HTTP)
            lbd_http_start(svc, fd, (struct sockaddr *) &ss, len);
        else
            lbd_proxy_start(svc, fd, (struct sockaddr *) &ss, len);
    }
    return quota == LBD_ACCEPT_BATCH;
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct lbd_service *svc = arg;

    /* Route what arrives now with the newest committed registry. */
    lbd_worker_refresh(svc->worker);
    accept_batch(svc);
}

void
lbd_worker_conn_closed(struct lbd_worker *w)
{
    w->nconns--;
    if (w->wslot >= 0)
        atomic_store_explicit(&lbd_shm->workers[w->wslot].active, w->nconns,
                              memory_order_relaxed);
    if (w->shutting_down) {
        lbd_worker_maybe_exit(w);
        return;
    }
    if (!w->accepting && !evtimer_pending(w->accept_timer, NULL) && w->nconns < w->max_conns)
        lbd_worker_accept_enable(w, 1);
}

void
lbd_worker_maybe_exit(struct lbd_worker *w)
{
    if (w->shutting_down && !w->draining && w->nconns == 0 && w->admin_inflight == 0
        && !w->admin_lingering)
        event_base_loopexit(w->base, NULL);
}

/* The admin port's last moment to finish what it had already read. */
static void
on_admin_linger(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_worker *w = arg;

    w->admin_lingering = 0;
    lbd_worker_maybe_exit(w);
}

static void
on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_worker *w = arg;

    lbd_log(LBD_LOG_WARN, "graceful stop: %u connections still open after %d ms; closing them",
            w->nconns, w->cycle->conf->shutdown_timeout);
    event_base_loopexit(w->base, NULL);
}

static void
graceful_stop(struct lbd_worker *w)
{
    struct timeval tv;

    if (w->shutting_down)
        return;
    lbd_worker_accept_enable(w, 0);
    w->shutting_down = 1;
    /* Until the last queue is taken, a connection's end must not end the loop. */
    w->draining = 1;
    /* HTTP clients idle between requests go now; busy ones after their response. */
    lbd_http_shutdown(w);
    for (unsigned i = 0; i < w->nservices; i++) {
        struct lbd_service *svc = &w->services[i];

        if (svc->fd == -1)
            continue;
        /*
         * A shared socket stays with the master and the other workers.  A
         * reuseport socket may be closing for good (fewer workers, a stop):
         * take what waits in its queue first, or the close would reset it.
         * After lbd_http_shutdown, so that these clients get their one
         * request answered ("Connection: close") instead of being closed
         * idle.  At most 64 batches (a backlog of 4,096): a flood that
         * keeps the queue full cannot keep the stop from ending.
         */
        for (int k = 0; svc->conf->reuseport && k < 64 && accept_batch(svc); k++)
            ;
        close(svc->fd);
        svc->fd = -1;
    }
    w->draining = 0;
    evtimer_del(w->accept_timer);
    evtimer_del(w->shed_timer);
    if (w->admin != NULL) {
        /*
         * An admin client may have connected just before the listener
         * closed, its request not yet read: answer it before leaving.  Its
         * requests are counted once read (admin_inflight); this covers the
         * bytes still on their way.
         */
        lbd_admin_stop(w);
        ms_to_tv(LBD_ADMIN_LINGER_MS, &tv);
        w->admin_linger = evtimer_new(w->base, on_admin_linger, w);
        if (w->admin_linger != NULL && evtimer_add(w->admin_linger, &tv) == 0)
            w->admin_lingering = 1;
    }
    lbd_log(LBD_LOG_INFO, "graceful stop: %u connections open", w->nconns);
    if (w->nconns == 0 && w->admin_inflight == 0 && !w->admin_lingering) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    ms_to_tv(w->cycle->conf->shutdown_timeout, &tv);
    w->shutdown_timer = evtimer_new(w->base, on_shutdown_timeout, w);
    if (w->shutdown_timer == NULL || evtimer_add(w->shutdown_timer, &tv) == -1)
        event_base_loopexit(w->base, NULL);
}

static void
on_signal(evutil_socket_t signo, short what, void *arg)
{
    struct lbd_worker *w = arg;

    switch (signo) {
    case SIGTERM:
    case SIGINT:
        event_base_loopbreak(w->base);
        break;
    case SIGQUIT:
        graceful_stop(w);
        break;
    case SIGUSR1:
        if (lbd_log_reopen((uid_t) -1, (gid_t) -1) == -1)
            lbd_log_err(LBD_LOG_ERROR, errno, "reopening the error log failed");
        lbd_alog_reopen_all();
        break;
    }
}

static int
setup_services(struct lbd_worker *w)
{
    const struct lbd_conf *conf = w->cycle->conf;

    w->services = calloc(conf->nservices, sizeof(*w->services));
    if (w->services == NULL)
        return -1;
    w->nservices = conf->nservices;
    for (unsigned i = 0; i < conf->nservices; i++) {
        struct lbd_service *svc = &w->services[i];
        struct timeval      tv;

        svc->conf = &conf->services[i];
        svc->worker = w;
        svc->fd = lbd_listener_fd(&w->cycle->listeners[i], w->slot);
        event_assign(&svc->ev, w->base, svc->fd, EV_READ | EV_PERSIST, on_accept, svc);
        /* Common timeouts: O(1) timer adds for the many equal durations. */
        ms_to_tv(svc->conf->connect_timeout, &tv);
        svc->connect_tv = event_base_init_common_timeout(w->base, &tv);
        ms_to_tv(svc->conf->idle_timeout, &tv);
        svc->idle_tv = event_base_init_common_timeout(w->base, &tv);
        if (svc->connect_tv == NULL || svc->idle_tv == NULL)
            return -1;
    }
    return 0;
}

static void
on_alog_tick(evutil_socket_t fd, short what, void *arg)
{
    lbd_alog_flush_all();
}

/*
 * What HTTP services need: the parser's scratch head, and the access logs
 * (one per distinct path), flushed every second.  0 or -1 (logged).
 */
static int
setup_http(struct lbd_worker *w)
{
    const struct lbd_conf *conf = w->cycle->conf;
    int                    logs = 0;

    for (unsigned i = 0; i < conf->nservices; i++) {
        if (conf->services[i].mode != LBD_MODE_HTTP)
            continue;
        if (w->hhead == NULL && (w->hhead = malloc(sizeof(*w->hhead))) == NULL)
            return -1;
        if (conf->services[i].http.access_log == NULL)
            continue;
        if (w->alogs == NULL && (w->alogs = calloc(conf->nservices, sizeof(*w->alogs))) == NULL)
            return -1;
        w->alogs[i] = lbd_alog_get(conf->services[i].http.access_log,
                                   (enum lbd_alog_format) conf->services[i].http.access_log_format);
        if (w->alogs[i] == NULL) {
            lbd_log_err(LBD_LOG_CRIT, errno, "opening the access log \"%s\" failed",
                        conf->services[i].http.access_log);
            return -1;
        }
        logs++;
    }
    if (logs > 0) {
        struct timeval tv = { 1, 0 };

        w->alog_timer = event_new(w->base, -1, EV_PERSIST, on_alog_tick, w);
        if (w->alog_timer == NULL || evtimer_add(w->alog_timer, &tv) == -1)
            return -1;
    }
    return 0;
}

/* Open the registry and load the first snapshot.  0 or -1 (logged). */
static int
load_registry(struct lbd_worker *w)
{
    struct lbd_reg_state *state;
    char                  err[512];

    w->reg = lbd_registry_open(w->cycle->conf->registry_path, 1, LBD_READ_BUSY_MS,
                               err, sizeof(err));
    if (w->reg == NULL) {
        lbd_log(LBD_LOG_CRIT, "worker %u: %s", w->slot, err);
        return -1;
    }
    /* The generation first: a commit after this read is seen on the next tick. */
    w->seen = lbd_shm ? lbd_shm_generation(lbd_shm) : 0;
    if (lbd_registry_read(w->reg, &state, err, sizeof(err)) != LBD_REG_OK) {
        lbd_log(LBD_LOG_CRIT, "worker %u: reading the registry failed: %s", w->slot, err);
        return -1;
    }
    w->snap = lbd_snapshot_build(w->cycle->conf, state);
    w->state = state;
    if (w->snap == NULL)
        return -1;
    if (w->wslot >= 0) {
        atomic_store(&lbd_shm->workers[w->wslot].generation, w->snap->generation);
        atomic_store(&lbd_shm->workers[w->wslot].applied_ns, lbd_shm_now_ns());
        atomic_fetch_add(&lbd_shm->workers[w->wslot].snapshots, 1);
    }
    return 0;
}

void
lbd_worker_run(struct lbd_cycle *cycle, unsigned slot, int wslot)
{
    static const int signals[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1 };
    struct lbd_worker  w = { .cycle = cycle, .slot = slot, .wslot = wslot };
    struct event      *sigev[sizeof(signals) / sizeof(signals[0])] = { 0 };
    struct event_config *cfg;
    pid_t              master = getppid();
    int                code = 1;

    lbd_proc_title("lbd: worker process");
    lbd_listeners_keep_slot(cycle, slot);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    if (lbd_proc_drop_privileges(cycle->conf) == -1)
        exit(2);
    /* After setuid, which clears it: stop gracefully if the master dies. */
    prctl(PR_SET_PDEATHSIG, SIGQUIT, 0, 0, 0);
    if (getppid() != master)
        exit(0);

    cfg = event_config_new();
    if (cfg == NULL)
        exit(2);
    /* One thread per process: no locks inside libevent either. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (w.base == NULL) {
        lbd_log(LBD_LOG_CRIT, "event_base_new() failed");
        exit(2);
    }

    if (lbd_timers_init(&w.timers, w.base) == -1) {
        lbd_log(LBD_LOG_CRIT, "worker %u: cannot set up its timers", slot);
        exit(2);
    }
    lbd_snapshot_set_slot(wslot);
    lbd_stats_set_worker(wslot);
    w.accept_timer = evtimer_new(w.base, accept_resume, &w);
    w.shed_timer = evtimer_new(w.base, on_shed, &w);
    {
        struct rlimit      rl;
        unsigned long long cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                                 ? lbd_nofile_capacity(rl.rlim_cur) : ~0ULL;

        w.max_conns = (unsigned) cycle->conf->worker_connections;
        if (cap < w.max_conns)
            w.max_conns = cap > 0 ? (unsigned) cap : 1;
    }
    w.gen_timer = event_new(w.base, -1, EV_PERSIST, on_generation_tick, &w);
    w.reloads = lbd_shm != NULL ? atomic_load(&lbd_shm->reloads) : 0;
    if (load_registry(&w) == -1 || w.accept_timer == NULL || w.shed_timer == NULL
        || w.gen_timer == NULL
        || setup_services(&w) == -1 || setup_http(&w) == -1
        || (cycle->conf->admin.enabled && lbd_status_files_load(&w) == -1)) {
        lbd_log(LBD_LOG_CRIT, "worker %u failed to start", slot);
        exit(2);
    }
    {
        struct timeval tv;

        ms_to_tv(LBD_GENERATION_TICK_MS, &tv);
        evtimer_add(w.gen_timer, &tv);
    }
    if (cycle->conf->admin.enabled
        && lbd_admin_start(&w, lbd_listener_fd(&cycle->listeners[cycle->conf->nservices],
                                                slot)) == -1) {
        lbd_log(LBD_LOG_CRIT, "worker %u: cannot serve the admin port", slot);
        exit(2);
    }
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        sigev[i] = evsignal_new(w.base, signals[i], on_signal, &w);
        if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1) {
            lbd_log(LBD_LOG_CRIT, "cannot handle signal %d", signals[i]);
            exit(2);
        }
    }
    lbd_worker_accept_enable(&w, 1);
    lbd_debug("worker %u running", slot);

    if (event_base_dispatch(w.base) == -1)
        lbd_log(LBD_LOG_CRIT, "event loop failed");
    else
        code = 0;

    /* Tidy exit, so that leak checkers see what a worker really leaks. */
    lbd_worker_accept_enable(&w, 0);
    w.shutting_down = 1;
    lbd_proxy_close_all(&w);
    lbd_http_close_all(&w);
    lbd_timers_free(&w.timers);
    lbd_alog_close_all();
    lbd_proxy_free_buffers(&w);
    free(w.hhead);
    free(w.alogs);
    if (w.alog_timer)
        event_free(w.alog_timer);
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        event_free(sigev[i]);
    for (unsigned i = 0; i < w.nservices; i++) {
        event_del(&w.services[i].ev);
        if (w.services[i].fd != -1)
            close(w.services[i].fd);
    }
    free(w.services);
    lbd_admin_free(&w);
    if (w.shutdown_timer)
        event_free(w.shutdown_timer);
    if (w.admin_linger)
        event_free(w.admin_linger);
    event_free(w.accept_timer);
    event_free(w.shed_timer);
    event_free(w.gen_timer);
    lbd_snapshot_unref(w.snap);
    lbd_reg_state_free(w.state);
    lbd_status_files_free(&w);
    lbd_registry_close(w.reg);
    event_base_free(w.base);
    exit(code);
}
