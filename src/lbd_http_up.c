/*
 * lbd_http_up.c - layer 7, the backend side: choosing a backend for a
 * request, connecting to it or taking an idle connection from its pool,
 * retries, and giving the connection back.
 *
 * Idle pools are per worker and per backend: a list per shared-memory
 * backend slot (w->hidle, 4096 heads allocated on first use), most recently
 * used first, so the connections that stay warm are the ones in use and the
 * others age out after keepalive_timeout.  A slot can be reused for another
 * backend once the first is deleted (lbd_shm.h), so an idle connection also
 * carries its address's id and is taken only for a peer with the same id.
 * An idle connection is watched for reading: the backend closing it (or
 * sending anything unasked) closes it here at once.
 *
 * The outcome of every request is reported like a TCP connection's
 * (lbd_peer.h): a refused or timed-out connect, a reset or a malformed
 * response count as failures for passive ejection; a response counts as
 * success.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "lbd_http.h"
#include "lbd_log.h"
#include "lbd_peer.h"
#include "lbd_shm.h"

static const struct lbd_pool_conf *
pconf(const struct lbd_htxn *t)
{
    return t->pool->conf;
}

void
lbd_http_up_read(struct lbd_hup *up, int on)
{
    if ((unsigned) on == up->reading)
        return;
    if (on)
        event_add(&up->rev, NULL);
    else
        event_del(&up->rev);
    up->reading = on ? 1 : 0;
}

void
lbd_http_up_write(struct lbd_hup *up, int on)
{
    if ((unsigned) on == up->writing)
        return;
    if (on)
        event_add(&up->wev, NULL);
    else
        event_del(&up->wev);
    up->writing = on ? 1 : 0;
}

/* Arm up's timer for up->due_ms. */
static void
up_arm(struct lbd_hup *up, int64_t now)
{
    int64_t        ms = up->due_ms > now ? up->due_ms - now : 0;
    struct timeval tv = { (time_t) (ms / 1000), (suseconds_t) (ms % 1000) * 1000 };

    up->armed_ms = up->due_ms;
    evtimer_add(&up->timer, &tv);
}

/*
 * Timers are lazy: a connection's deadline moves on every request and every
 * byte, but its timer is armed again only when the deadline comes earlier
 * than the armed one.  When a timer fires early its handler arms it for the
 * deadline as it stands: one heap operation per timeout, not per request.
 */
void
lbd_http_up_timer(struct lbd_hup *up, int ms)
{
    int64_t now = lbd_http_loop_ms(up->w);

    up->due_ms = now + ms;
    /* armed_ms is 0 exactly when the timer is not pending (it fired, or never was). */
    if (up->armed_ms != 0 && up->armed_ms <= up->due_ms)
        return;
    up_arm(up, now);
}

static struct lbd_hidle *
idle_list(struct lbd_worker *w, int slot)
{
    if (slot < 0 || slot >= LBD_SHM_BACKENDS)
        return NULL;
    if (w->hidle == NULL && (w->hidle = calloc(LBD_SHM_BACKENDS, sizeof(*w->hidle))) == NULL)
        return NULL;
    return &w->hidle[slot];
}

static void
idle_unlink(struct lbd_hup *up)
{
    struct lbd_hidle *l = &up->w->hidle[up->slot];

    if (up->prev)
        up->prev->next = up->next;
    else
        l->head = up->next;
    if (up->next)
        up->next->prev = up->prev;
    up->prev = up->next = NULL;
    l->n--;
}

static void
up_free(struct lbd_hup *up)
{
    lbd_http_up_read(up, 0);
    lbd_http_up_write(up, 0);
    evtimer_del(&up->timer);
    if (up->fd != -1)
        close(up->fd);
    free(up);
}

static struct lbd_worker *
tworker(const struct lbd_htxn *t)
{
    return t->c->svc->worker;
}

/* The request now counts against peer (lbd_peer.h), and in its totals. */
static void
peer_hold(struct lbd_htxn *t, struct lbd_peer *peer)
{
    t->peer = peer;
    t->backend = peer->addr.text;
    lbd_peer_hold(peer, tworker(t)->wslot);
    t->bstats = lbd_stats_peer(peer);
    lbd_stats_add(t->bstats, LBD_STAT_REQUESTS, 1);
}

/* The request no longer counts against its peer; the strategy hears how it went. */
static void
peer_drop(struct lbd_htxn *t, enum lbd_outcome outcome)
{
    lbd_peer_drop(t->pool, t->peer, tworker(t)->wslot, outcome);
    t->peer = NULL;
}

void
lbd_http_peer_failed(struct lbd_htxn *t, enum lbd_stat kind)
{
    if (t->peer == NULL)
        return;
    lbd_peer_failed(t->pool, t->peer, t->trial, kind);
    t->trial = 0;
}

void
lbd_http_up_release(struct lbd_htxn *t, int reuse)
{
    struct lbd_hup          *up = t->up;
    const struct lbd_pool_conf *pc = pconf(t);
    struct lbd_worker       *w = tworker(t);

    if (up != NULL) {
        struct lbd_hidle *l = idle_list(w, up->slot);

        t->up = NULL;
        up->txn = NULL;
        if (reuse && up->connected && !up->eof && l != NULL && pc != NULL
            && l->n < (unsigned) pc->keepalive && !w->shutting_down) {
            /*
             * Idle: watched for the backend's close (its read event stays as
             * it is: no epoll_ctl between requests), aged by keepalive_timeout.
             */
            lbd_http_up_write(up, 0);
            lbd_http_up_read(up, 1);
            lbd_http_up_timer(up, pc->keepalive_timeout);
            up->next = l->head;
            if (l->head)
                l->head->prev = up;
            l->head = up;
            l->n++;
        } else {
            up_free(up);
        }
    }
    if (t->peer != NULL) {
        if (t->got_bytes && t->resp_head)
            lbd_peer_ok(t->peer);
        peer_drop(t, LBD_PEER_OK);
    }
}

void
lbd_http_idle_close_all(struct lbd_worker *w)
{
    if (w->hidle == NULL)
        return;
    for (unsigned i = 0; i < LBD_SHM_BACKENDS; i++) {
        while (w->hidle[i].head != NULL) {
            struct lbd_hup *up = w->hidle[i].head;

            idle_unlink(up);
            up_free(up);
        }
    }
    free(w->hidle);
    w->hidle = NULL;
}

static void on_up_read(evutil_socket_t fd, short what, void *arg);
static void on_up_write(evutil_socket_t fd, short what, void *arg);
static void on_up_timer(evutil_socket_t fd, short what, void *arg);
static void connect_next(struct lbd_htxn *t);

/* Give up to the event handlers of a request. */
static void
up_attach(struct lbd_htxn *t, struct lbd_hup *up)
{
    struct lbd_worker *w = tworker(t);

    up->txn = t;
    t->up = up;
    up->last_ms = lbd_http_loop_ms(w);
}

/* An idle connection to peer, taken from its pool, or NULL. */
static struct lbd_hup *
idle_take(struct lbd_htxn *t, struct lbd_peer *peer)
{
    struct lbd_hidle *l;

    if (t->fresh || tworker(t)->hidle == NULL || (l = idle_list(tworker(t), peer->slot)) == NULL
        || l->head == NULL)
        return NULL;
    for (struct lbd_hup *up = l->head; up != NULL; up = up->next) {
        if (up->id != peer->key)
            continue;
        /* Its read event and timer stay: lbd_http_backend_ready moves the deadline. */
        idle_unlink(up);
        up->reused = 1;
        return up;
    }
    return NULL;
}

/* A new connection to peer is up: count it and how long it took.  Returns that (us). */
static int64_t
up_connected(const struct lbd_peer *peer, const struct lbd_hup *up)
{
    int64_t took = lbd_stats_now_us() - up->connect_us;

    lbd_stats_add(lbd_stats_peer(peer), LBD_STAT_CONNS, 1);
    lbd_stats_latency(peer, LBD_LAT_CONNECT, took);
    return took;
}

/*
 * Start a connection to t->peer.  0: connected or connecting (the handlers
 * take it from there); -1 with errno: refused at once.
 */
static int
up_connect(struct lbd_htxn *t)
{
    struct lbd_peer *peer = t->peer;
    struct lbd_hup  *up;
    int              fd, on = 1;

    fd = socket(peer->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    if ((up = calloc(1, sizeof(*up))) == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    up->w = tworker(t);
    up->fd = fd;
    /* Assigned once: the handlers look at whether a request holds it. */
    event_assign(&up->rev, up->w->base, fd, EV_READ | EV_PERSIST, on_up_read, up);
    event_assign(&up->wev, up->w->base, fd, EV_WRITE | EV_PERSIST, on_up_write, up);
    evtimer_assign(&up->timer, up->w->base, on_up_timer, up);
    up->slot = peer->slot;
    up->id = peer->key;
    up_attach(t, up);
    t->sent_us = 0;
    up->connect_us = lbd_stats_now_us();
    if (connect(fd, (const struct sockaddr *) &peer->addr.ss, peer->addr.len) == 0) {
        up->connected = 1;
        up_connected(peer, up);
        lbd_peer_success(peer, t->trial, lbd_mono_ms(), t->pool->name);
        t->trial = 0;
        lbd_http_backend_ready(t);
        return 0;
    }
    if (errno == EINPROGRESS) {
        lbd_http_up_write(up, 1);
        lbd_http_up_timer(up, t->c->svc->conf->connect_timeout);
        return 0;
    }
    {
        int err = errno;

        t->up = NULL;
        up->txn = NULL;
        up_free(up);
        errno = err;
    }
    return -1;
}

/* The current peer did not take the connection (kind: LBD_STAT_ERR_*): log, count, drop it. */
static void
give_up(struct lbd_htxn *t, int err, const char *what, enum lbd_stat kind)
{
    lbd_log_err(LBD_LOG_WARN, err, "connect() to %s (pool \"%s\") %s",
                t->peer->addr.text, t->pool->name, what);
    if (t->up != NULL) {
        struct lbd_hup *up = t->up;

        t->up = NULL;
        up->txn = NULL;
        up_free(up);
    }
    lbd_http_peer_failed(t, kind);
    peer_drop(t, LBD_PEER_CONNECT_FAILED);
}

/* Point t at pool with nothing tried.  0 or -1 (no memory). */
static int
use_pool(struct lbd_htxn *t, struct lbd_pool *pool)
{
    if (lbd_tried_reset(&t->tried, pool->npeers) == -1)
        return -1;
    t->pool = pool;
    return 0;
}

/* The sticky cookie's backend, when it may take the request now. */
static struct lbd_peer *
sticky_peer(struct lbd_htxn *t, const struct lbd_pick *ctx)
{
    if (t->sticky == 0 || t->on_backup)
        return NULL;
    for (unsigned i = 0; i < t->pool->npeers; i++) {
        struct lbd_peer *p = &t->pool->peers[i];

        if (p->key != t->sticky)
            continue;
        if (lbd_bit_test(ctx->tried, p->index) || !lbd_peer_eligible(p, ctx))
            return NULL;
        return p;
    }
    return NULL;
}

/*
 * Pick the next untried peer and get a connection to it, as the TCP proxy's
 * connect_next does: retries up to the pool's, then the backup pool once.
 */
static void
connect_next(struct lbd_htxn *t)
{
    const struct lbd_pool_conf *pc;
    struct lbd_pick             ctx = {
        .client = &t->c->addr.sa, .clientlen = t->c->addrlen, .tried = t->tried.map,
        .key = t->key, .now_ms = lbd_mono_ms(),
    };

    for (;;) {
        struct lbd_peer *peer = NULL;
        struct lbd_hup  *up;
        int              claim;

        pc = pconf(t);
        if (pc == NULL || t->ntried <= (unsigned) pc->retries) {
            peer = sticky_peer(t, &ctx);
            if (peer == NULL)
                peer = t->pool->strategy->pick(t->pool, &ctx);
        }
        if (peer == NULL && !t->on_backup && t->pool->backup >= 0) {
            struct lbd_pool *backup = &t->snap->pools[t->pool->backup];

            lbd_log(LBD_LOG_INFO, "pool \"%s\": %s; using its backup pool \"%s\"",
                    t->pool->name, t->ntried ? "every backend tried failed"
                    : "no eligible backend", backup->name);
            t->on_backup = 1;
            if (use_pool(t, backup) == 0) {
                t->ntried = 0;
                ctx.tried = t->tried.map;
                continue;
            }
        }
        if (peer == NULL) {
            if (t->ntried == 0)
                lbd_http_fail(t, 503, "no backend is available");
            else
                lbd_http_fail(t, 502, "no backend could be reached");
            return;
        }
        lbd_bit_set(t->tried.map, peer->index);
        if ((claim = lbd_peer_claim(peer, ctx.now_ms)) == LBD_PEER_CLAIM_NONE)
            continue;
        t->trial = claim == LBD_PEER_CLAIM_TRIAL;
        t->ntried++;
        peer_hold(t, peer);
        {
            const struct lbd_pool_conf *spc = pconf(t);

            t->set_cookie = spc != NULL && spc->sticky_cookie != NULL
                            && t->sticky != peer->key;
        }
        if (!t->trial && (up = idle_take(t, peer)) != NULL) {
            up_attach(t, up);
            up->connected = 1;
            lbd_http_backend_ready(t);
            return;
        }
        if (up_connect(t) == 0)
            return;
        /* Refused at once (loopback does that): the next one, right away. */
        give_up(t, errno, "failed", LBD_STAT_ERR_CONNECT);
    }
}

void
lbd_http_connect(struct lbd_htxn *t)
{
    if (use_pool(t, t->pool) == -1) {
        lbd_http_fail(t, 500, "out of memory");
        return;
    }
    connect_next(t);
}

/* Start sending t's request from its first byte again, on a new connection. */
static void
rewind_request(struct lbd_htxn *t)
{
    struct lbd_hclient *c = t->c;

    t->hout_sent = 0;
    t->sent_us = 0;
    t->rscanned = 0;
    if (c->in != NULL)
        t->req_sent = c->in->start;
}

void
lbd_http_retry(struct lbd_htxn *t, int err)
{
    struct lbd_hup *up = t->up;
    int             reused = up != NULL && up->reused;

    if (up != NULL) {
        t->up = NULL;
        up->txn = NULL;
        up_free(up);
    }
    if (!t->retryable) {
        lbd_http_peer_failed(t, LBD_STAT_ERR_RESET);
        lbd_http_fail(t, 502, err ? "the backend reset the connection"
                                  : "the backend closed the connection before the response");
        return;
    }
    rewind_request(t);
    if (reused) {
        /*
         * The backend closed an idle connection just as this request came
         * (its keepalive timeout): not a failure, and it never saw the
         * request.  The same backend, on a connection of its own.
         */
        lbd_debug("backend %s closed a kept-alive connection; sending the request again",
                  t->peer->addr.text);
        t->fresh = 1;
        if (up_connect(t) == 0)
            return;
        give_up(t, errno, "failed", LBD_STAT_ERR_CONNECT);
        connect_next(t);
        return;
    }
    /* A fresh connection failed before any response: another backend, if safe. */
    lbd_log_err(LBD_LOG_WARN, err, "backend %s (pool \"%s\") %s", t->peer->addr.text,
                t->pool->name, err ? "failed before responding"
                                   : "closed the connection before responding");
    lbd_http_peer_failed(t, LBD_STAT_ERR_RESET);
    peer_drop(t, LBD_PEER_CONNECT_FAILED);
    if (!lbd_http_idempotent(t->method)) {
        lbd_http_fail(t, 502, "the backend failed before responding");
        return;
    }
    t->fresh = 1;
    connect_next(t);
}

/* An idle connection spoke (EOF, or bytes nobody asked for) or aged out. */
static void
idle_close(struct lbd_hup *up)
{
    idle_unlink(up);
    up_free(up);
}

static void
on_up_read(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_hup *up = arg;

    if (up->txn == NULL) {
        idle_close(up);
        return;
    }
    lbd_http_backend_readable(up->txn);
}

static void
on_up_write(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_hup  *up = arg;
    struct lbd_htxn *t = up->txn;
    int              err = 0;
    socklen_t        len = sizeof(err);
    int64_t          took;

    if (up->connected) {
        lbd_http_backend_writable(t);
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    if (err != 0) {
        give_up(t, err, "failed", LBD_STAT_ERR_CONNECT);
        connect_next(t);
        return;
    }
    up->connected = 1;
    lbd_http_up_write(up, 0);
    took = up_connected(t->peer, up);
    lbd_peer_success(t->peer, t->trial, lbd_mono_ms(), t->pool->name);
    t->trial = 0;
    if (t->pool->strategy->connected)
        t->pool->strategy->connected(t->pool, t->peer, took);
    lbd_http_backend_ready(t);
}

static void
on_up_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_hup     *up = arg;
    struct lbd_htxn    *t = up->txn;
    const struct lbd_http_conf *hc;
    int64_t             now = lbd_http_loop_ms(up->w), limit;

    up->armed_ms = 0;
    if (now < up->due_ms) {
        /* Fired for a deadline since moved later. */
        up_arm(up, now);
        return;
    }
    if (t == NULL) {
        idle_close(up);
        return;
    }
    hc = &t->c->svc->conf->http;
    if (!up->connected) {
        char what_text[64];

        snprintf(what_text, sizeof(what_text), "timed out after %d ms",
                 t->c->svc->conf->connect_timeout);
        give_up(t, 0, what_text, LBD_STAT_ERR_TIMEOUT);
        connect_next(t);
        return;
    }
    if (t->tunnel)
        return;               /* the client's timer watches a tunnel */
    limit = t->resp_head ? hc->body_timeout : hc->response_timeout;
    if (now - up->last_ms < limit) {
        lbd_http_up_timer(up, (int) (up->last_ms + limit - now));
        return;
    }
    if (t->resp_head && !up->reading) {
        /* Stopped by a slow client, not by the backend: the client's timer decides. */
        lbd_http_up_timer(up, (int) limit);
        return;
    }
    lbd_log(LBD_LOG_WARN, "backend %s (pool \"%s\"): no response for %lld ms",
            t->peer->addr.text, t->pool->name, (long long) limit);
    if (!t->resp_head) {
        lbd_http_peer_failed(t, LBD_STAT_ERR_TIMEOUT);
        lbd_http_fail(t, 504, "the backend did not respond in time");
    } else {
        lbd_stats_both(t->peer, LBD_STAT_ERR_TIMEOUT, 1);
        lbd_http_fail(t, 504, "the backend stopped sending");
    }
}
