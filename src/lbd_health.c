/*
 * lbd_health.c - active health checks, in the control process's loop.
 *
 * One target per checked backend, indexed by its shared-memory slot.  A
 * target sleeps on its timer, then probes: a non-blocking connect() (tcp:
 * done when it completes), then for http a request and the answer, read
 * into a buffer that grows to at most LBD_HEALTH_MAX_ANSWER and is freed
 * after each probe, so an idle target holds no buffer.  The same timer
 * bounds the probe (check.timeout < check.interval, the config insists).
 *
 * The verdict (lbd_health_count: rise successes or fall failures in a row)
 * goes first to the slot, with one atomic store that every worker's
 * lbd_peer_eligible() sees at once, then to the log and the registry.  A
 * registry write that fails (busy) is tried again after the next check.
 *
 * Who owns what: the slot's health is written by this process only (the
 * master seeds it at start from the registry, before any child runs).
 * Targets follow the registry: when the shared generation moves, the
 * checker reads it again and starts or stops targets for backends added,
 * removed, moved, readdressed or disabled (disabled ones need no check;
 * drained ones are still checked, so they come back with a known verdict).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "lbd_health.h"
#include "lbd_log.h"
#include "lbd_stats.h"

/* How often the checker looks at the generation counter (one atomic load). */
#define LBD_HEALTH_SYNC_MS     100
/* The answer buffer starts this small and doubles up to the cap. */
#define LBD_HEALTH_FIRST_READ  1024


/* --- the pure parts --- */

int
lbd_health_count(struct lbd_health_track *t, int ok, int rise, int fall)
{
    if (ok) {
        t->falls = 0;
        if (t->rises < (unsigned) rise)
            t->rises++;
        if (t->health != LBD_HEALTH_UP && t->rises >= (unsigned) rise) {
            t->health = LBD_HEALTH_UP;
            return 1;
        }
        return 0;
    }
    t->rises = 0;
    if (t->falls < (unsigned) fall)
        t->falls++;
    if (t->health != LBD_HEALTH_DOWN && t->falls >= (unsigned) fall) {
        t->health = LBD_HEALTH_DOWN;
        return 1;
    }
    return 0;
}

/* The value of header name (case-insensitive) in head[0..len), or NULL. */
static const char *
header_value(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t      nlen = strlen(name);
    const char *p = memchr(head, '\n', len), *end = head + len;

    /* Skip the status line; each later line starts after a '\n'. */
    while (p != NULL && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        size_t      llen = (size_t) ((eol ? eol : end) - p);

        if (llen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1, *ve = p + llen;

            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t) (ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

int
lbd_health_http_verdict(const struct lbd_check_conf *check, const char *buf, size_t len,
                        int complete, char *why, size_t whylen)
{
    const char *eol = memchr(buf, '\n', len), *sep, *body, *cl;
    size_t      head, blen, cllen, nlen;
    int         status;

    if (eol == NULL) {
        if (!complete)
            return LBD_HEALTH_MORE;
        snprintf(why, whylen, len == 0 ? "connection closed without an answer"
                                       : "not an HTTP answer");
        return LBD_HEALTH_FAIL;
    }
    /* "HTTP/1.x SSS" and then a space or the end of the line (buf is not a C string). */
    if (eol - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) buf[7])
        || buf[8] != ' ' || !isdigit((unsigned char) buf[9])
        || !isdigit((unsigned char) buf[10]) || !isdigit((unsigned char) buf[11])
        || (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
        || (status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0')) < 100) {
        snprintf(why, whylen, "not an HTTP answer");
        return LBD_HEALTH_FAIL;
    }
    if (status < check->status_min || status > check->status_max) {
        if (check->status_min == check->status_max)
            snprintf(why, whylen, "status %d (want %d)", status, check->status_min);
        else
            snprintf(why, whylen, "status %d (want %d-%d)", status, check->status_min,
                     check->status_max);
        return LBD_HEALTH_FAIL;
    }
    if (check->body == NULL)
        return LBD_HEALTH_PASS;

    /* The body starts after the first empty line. */
    sep = memmem(buf, len, "\r\n\r\n", 4);
    head = sep ? (size_t) (sep - buf) + 4 : 0;
    if (sep == NULL && (sep = memmem(buf, len, "\n\n", 2)) != NULL)
        head = (size_t) (sep - buf) + 2;
    if (sep == NULL) {
        if (!complete)
            return LBD_HEALTH_MORE;
        snprintf(why, whylen, "the answer ends inside its head");
        return LBD_HEALTH_FAIL;
    }
    body = buf + head;
    blen = len - head;
    /* Content-Length tells when the body is whole, before the EOF. */
    cl = header_value(buf, head, "Content-Length", &cllen);
    if (cl != NULL && cllen > 0 && cllen < 12) {
        size_t want = 0, i;

        for (i = 0; i < cllen && isdigit((unsigned char) cl[i]); i++)
            want = want * 10 + (size_t) (cl[i] - '0');
        if (i < cllen)
            want = SIZE_MAX;        /* not a number: wait for the EOF */
        if (blen >= want) {
            blen = want;
            complete = 1;
        }
    }
    nlen = strlen(check->body);
    if (memmem(body, blen, check->body, nlen) != NULL)
        return LBD_HEALTH_PASS;
    if (!complete)
        return LBD_HEALTH_MORE;
    snprintf(why, whylen, "status %d but the body lacks \"%.64s%s\"", status, check->body,
             nlen > 64 ? "..." : "");
    return LBD_HEALTH_FAIL;
}

int
lbd_health_http_request(const struct lbd_check_conf *check, const char *addr_text,
                        char *buf, size_t len)
{
    return snprintf(buf, len, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                    "User-Agent: lbd-health/" LBD_VERSION "\r\n\r\n",
                    check->method ? check->method : "GET", check->path ? check->path : "/",
                    check->host ? check->host : addr_text);
}

/* splitmix64: statistically fine, and jitter needs nothing more. */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

int
lbd_health_first_delay(int interval, uint64_t *rng)
{
    return interval > 1 ? (int) (rng_next(rng) % (uint64_t) interval) : 0;
}

int
lbd_health_next_delay(int interval, uint64_t *rng)
{
    int spread = interval / 10;

    return interval - spread + (int) (rng_next(rng) % (uint64_t) (2 * spread + 1));
}


/* --- the checker --- */

enum phase {
    P_IDLE = 0,         /* the timer waits for the next check */
    P_CONNECT,
    P_SEND,
    P_RECV,
};

struct target {
    struct lbd_checker         *k;
    int64_t                     id;
    unsigned                    slot;
    const struct lbd_pool_conf *pool;       /* its pool in the config, which has the check */
    struct lbd_addr             addr;       /* numeric; addr.text "host:port" as stored */
    struct lbd_health_track     track;
    enum lbd_health             recorded;   /* the registry's, as last read or written */
    enum phase                  phase;
    int                         fd;
    int64_t                     started_ms;
    struct event                io;         /* assigned per probe */
    struct event                timer;      /* next check, or the probe's deadline */
    char                       *req;        /* http: the request, built once */
    size_t                      reqlen, sent;
    char                       *buf;        /* http: the answer so far */
    size_t                      len, cap;
    unsigned                    seen:1;     /* still in the registry (sync) */
    unsigned                    record_failed:1;    /* the last registry write failed */
};

struct lbd_checker {
    struct event_base     *base;
    const struct lbd_conf *conf;
    struct lbd_registry   *reg;
    struct event          *sync;
    uint64_t               generation;      /* the registry was last read at or after it */
    int                    synced;
    unsigned               read_failed;     /* reads failed in a row */
    uint64_t               rng;
    unsigned               ntargets;
    struct target         *by_slot[LBD_SHM_BACKENDS];
};

static int64_t
now_ms(void)
{
    return lbd_shm_now_ns() / 1000000;
}

static void
ms_to_tv(int ms, struct timeval *tv)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

static void on_io(evutil_socket_t fd, short what, void *arg);

/* End the probe in flight, if any: socket, events, answer buffer. */
static void
probe_close(struct target *t)
{
    if (t->phase == P_IDLE)
        return;
    event_del(&t->io);
    evtimer_del(&t->timer);
    close(t->fd);
    t->fd = -1;
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
    t->phase = P_IDLE;
}

/* The slot still counts for this backend (the registry may have moved on). */
static struct lbd_shm_backend *
target_slot(const struct target *t)
{
    struct lbd_shm_backend *b = &lbd_shm->backends[t->slot];

    return atomic_load(&b->id) == t->id ? b : NULL;
}

/* Why t has its verdict, for the log and events.detail. */
static void
verdict_detail(const struct target *t, const char *why, char *buf, size_t len)
{
    unsigned r = t->track.rises, f = t->track.falls;

    /* Recorded late, the last check may already point the other way. */
    if (t->track.health == LBD_HEALTH_DOWN && f == 0)
        snprintf(buf, len, "still down (%u success%s in a row)", r, r == 1 ? "" : "es");
    else if (t->track.health == LBD_HEALTH_DOWN)
        snprintf(buf, len, "%s (%u failure%s in a row)", why ? why : "failed", f,
                 f == 1 ? "" : "s");
    else if (r == 0)
        snprintf(buf, len, "still up (%u failure%s in a row)", f, f == 1 ? "" : "s");
    else
        snprintf(buf, len, "%u success%s in a row", r, r == 1 ? "" : "es");
}

/* Write the verdict to the registry; on failure the next check tries again. */
static void
record(struct target *t, const char *detail)
{
    char err[512];
    int  rc = lbd_registry_backend_health(t->k->reg, t->id, t->track.health, detail, err,
                                          sizeof(err));

    if (rc == LBD_REG_OK || rc == LBD_REG_NOT_FOUND) {
        /* Not found: removed meanwhile; the next sync drops the target. */
        t->recorded = t->track.health;
        lbd_stats_events_sync(t->k->reg);     /* the status page's event feed */
        if (t->record_failed)
            lbd_log(LBD_LOG_NOTICE, "registry: backend %s (pool \"%s\") recorded as %s",
                    t->addr.text, t->pool->name, lbd_health_name(t->track.health));
        t->record_failed = 0;
        return;
    }
    /* Once per run of failures: a locked file would otherwise say so every interval. */
    if (!t->record_failed)
        lbd_log(LBD_LOG_WARN, "registry: recording that backend %s (pool \"%s\") is %s "
                "failed; tried again after each check: %s", t->addr.text, t->pool->name,
                lbd_health_name(t->track.health), err);
    t->record_failed = 1;
}

/* A new verdict: shared memory first (workers act on it now), then the log, then the file. */
static void
publish(struct target *t, enum lbd_health was, const char *why)
{
    struct lbd_shm_backend *b = target_slot(t);
    char                    detail[256];

    if (b != NULL) {
        /*
         * Up again: the ramp starts before anyone can see it (slow start),
         * and the checks' proof of life closes the passive circuit breaker
         * too, so that failures seen while it was down do not keep it out.
         */
        if (t->track.health == LBD_HEALTH_UP && was == LBD_HEALTH_DOWN)
            lbd_shm_backend_back(b, now_ms());
        atomic_store(&b->health, (uint32_t) t->track.health);
    }
    verdict_detail(t, why, detail, sizeof(detail));
    if (t->track.health == LBD_HEALTH_DOWN)
        lbd_log(LBD_LOG_NOTICE, "backend %s (pool \"%s\") is down: %s", t->addr.text,
                t->pool->name, detail);
    else
        lbd_log(LBD_LOG_NOTICE, "backend %s (pool \"%s\") is up (%s)", t->addr.text,
                t->pool->name, detail);
    record(t, detail);
}

/* The probe is over: count it, publish a change, sleep until the next one. */
static void
probe_done(struct target *t, int ok, const char *why)
{
    const struct lbd_check_conf *check = &t->pool->check;
    enum lbd_health              was = t->track.health;
    struct timeval               tv;
    int64_t                      delay;
    char                         detail[256];

    probe_close(t);
    lbd_debug("check of backend %s (pool \"%s\"): %s", t->addr.text, t->pool->name,
              ok ? "pass" : why);
    if (lbd_health_count(&t->track, ok, check->rise, check->fall)) {
        publish(t, was, why);
    } else if (t->recorded != t->track.health && t->track.health != LBD_HEALTH_UNKNOWN) {
        /* A write that failed before, or a row someone edited: the file follows us. */
        verdict_detail(t, ok ? NULL : why, detail, sizeof(detail));
        record(t, detail);
    }
    /* Every interval from the start of the last probe, jittered. */
    delay = lbd_health_next_delay(check->interval, &t->k->rng) - (now_ms() - t->started_ms);
    ms_to_tv(delay > 0 ? (int) delay : 0, &tv);
    evtimer_add(&t->timer, &tv);
}

static void
probe_fail_errno(struct target *t, const char *call, int err)
{
    char why[160];

    if (err == ECONNREFUSED)
        snprintf(why, sizeof(why), "%s refused", call);
    else if (err == ECONNRESET)
        snprintf(why, sizeof(why), "connection reset");
    else
        snprintf(why, sizeof(why), "%s failed: %s", call, strerror(err));
    probe_done(t, 0, why);
}

/* Wait for fd to be ready for what (EV_READ or EV_WRITE). */
static void
probe_wait(struct target *t, short what)
{
    event_del(&t->io);
    event_assign(&t->io, t->k->base, t->fd, what, on_io, t);
    event_add(&t->io, NULL);
}

/*
 * Judge what has come so far (complete: nothing more will).  Returns 1 when
 * the probe is over, 0 when more must be read.
 */
static int
probe_judge(struct target *t, int complete)
{
    char why[160];
    int  v = lbd_health_http_verdict(&t->pool->check, t->buf, t->len, complete, why,
                                     sizeof(why));

    if (v == LBD_HEALTH_MORE)
        return 0;
    probe_done(t, v == LBD_HEALTH_PASS, why);
    return 1;
}

static void
probe_recv(struct target *t)
{
    for (;;) {
        ssize_t n;

        if (t->len == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : LBD_HEALTH_FIRST_READ;
            char  *buf;

            if (t->cap == LBD_HEALTH_MAX_ANSWER) {
                /* Enough: judge what there is. */
                probe_judge(t, 1);
                return;
            }
            if (cap > LBD_HEALTH_MAX_ANSWER)
                cap = LBD_HEALTH_MAX_ANSWER;
            if ((buf = realloc(t->buf, cap)) == NULL) {
                probe_done(t, 0, "out of memory");
                return;
            }
            t->buf = buf;
            t->cap = cap;
        }
        n = recv(t->fd, t->buf + t->len, t->cap - t->len, 0);
        if (n > 0) {
            /* Decided as early as it can be: a status check needs only the first line. */
            t->len += (size_t) n;
            if (probe_judge(t, 0))
                return;
            continue;
        }
        if (n == 0) {
            probe_judge(t, 1);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            probe_wait(t, EV_READ);
            return;
        }
        probe_fail_errno(t, "recv()", errno);
        return;
    }
}

static void
probe_send(struct target *t)
{
    while (t->sent < t->reqlen) {
        ssize_t n = send(t->fd, t->req + t->sent, t->reqlen - t->sent, MSG_NOSIGNAL);

        if (n >= 0) {
            t->sent += (size_t) n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            probe_wait(t, EV_WRITE);
            return;
        }
        probe_fail_errno(t, "send()", errno);
        return;
    }
    t->phase = P_RECV;
    probe_recv(t);
}

/* The connect completed. */
static void
probe_connected(struct target *t)
{
    if (t->pool->check.type == LBD_CHECK_TCP) {
        probe_done(t, 1, NULL);
        return;
    }
    t->phase = P_SEND;
    t->sent = 0;
    probe_send(t);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
    struct target *t = arg;
    int            err = 0;
    socklen_t      len = sizeof(err);

    switch (t->phase) {
    case P_CONNECT:
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0)
            probe_fail_errno(t, "connect()", err);
        else
            probe_connected(t);
        break;
    case P_SEND:
        probe_send(t);
        break;
    case P_RECV:
        probe_recv(t);
        break;
    case P_IDLE:
        break;
    }
}

static void
probe_start(struct target *t)
{
    struct timeval tv;
    int            fd;

    t->started_ms = now_ms();
    fd = socket(t->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        /* Out of descriptors is lbd's trouble, not the backend's: no verdict, try later. */
        lbd_log_err(LBD_LOG_ERROR, errno, "health check of backend %s: socket() failed",
                    t->addr.text);
        ms_to_tv(t->pool->check.interval, &tv);
        evtimer_add(&t->timer, &tv);
        return;
    }
    t->fd = fd;
    t->phase = P_CONNECT;
    event_assign(&t->io, t->k->base, fd, EV_WRITE, on_io, t);
    /* The timer is the probe's deadline until probe_done makes it the next check's. */
    ms_to_tv(t->pool->check.timeout, &tv);
    evtimer_add(&t->timer, &tv);
    if (connect(fd, (const struct sockaddr *) &t->addr.ss, t->addr.len) == 0) {
        probe_connected(t);
        return;
    }
    if (errno != EINPROGRESS) {
        probe_fail_errno(t, "connect()", errno);
        return;
    }
    event_add(&t->io, NULL);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct target *t = arg;
    char           why[160];
    int            timeout = t->pool->check.timeout;

    switch (t->phase) {
    case P_IDLE:
        probe_start(t);
        return;
    case P_CONNECT:
        snprintf(why, sizeof(why), "connect() timed out (%d ms)", timeout);
        break;
    case P_SEND:
    case P_RECV:
        /* A wrong status fails at once: what is left is silence or a slow body. */
        snprintf(why, sizeof(why), "no %sanswer within %d ms", t->len > 0 ? "whole " : "",
                 timeout);
        break;
    }
    probe_done(t, 0, why);
}

static void
target_free(struct target *t)
{
    struct lbd_checker *k = t->k;

    probe_close(t);
    evtimer_del(&t->timer);
    k->by_slot[t->slot] = NULL;
    k->ntargets--;
    free(t->req);
    free(t);
}

/*
 * Start checking backend b of pool pc, from the verdict its slot holds now
 * (a restarted control process goes on from there).  NULL when out of memory.
 */
static struct target *
target_new(struct lbd_checker *k, const struct lbd_reg_backend *b,
           const struct lbd_pool_conf *pc)
{
    struct target          *t = calloc(1, sizeof(*t));
    struct lbd_shm_backend *slot = &lbd_shm->backends[b->slot];
    struct timeval          tv;

    if (t == NULL)
        return NULL;
    t->k = k;
    t->id = b->id;
    t->slot = (unsigned) b->slot;
    t->pool = pc;
    t->addr = b->addr;
    t->fd = -1;
    t->recorded = b->health;
    t->track.health = atomic_load(&slot->id) == b->id
                      ? (enum lbd_health) atomic_load(&slot->health) : LBD_HEALTH_UNKNOWN;
    if (pc->check.type == LBD_CHECK_HTTP) {
        int n = lbd_health_http_request(&pc->check, b->addr.text, NULL, 0);

        t->reqlen = (size_t) n;
        if (n < 0 || (t->req = malloc((size_t) n + 1)) == NULL) {
            free(t);
            return NULL;
        }
        lbd_health_http_request(&pc->check, b->addr.text, t->req, (size_t) n + 1);
    }
    evtimer_assign(&t->timer, k->base, on_timer, t);
    ms_to_tv(lbd_health_first_delay(pc->check.interval, &k->rng), &tv);
    evtimer_add(&t->timer, &tv);
    k->by_slot[t->slot] = t;
    k->ntargets++;
    return t;
}

/*
 * Backend b of pool is not checked (its pool has no health_check): its
 * verdict goes back to unknown, in the slot and in the registry, so that an
 * old "down" cannot keep it out forever.
 */
static void
unchecked(struct lbd_checker *k, const char *pool, const struct lbd_reg_backend *b)
{
    struct lbd_shm_backend *s = &lbd_shm->backends[b->slot];
    uint32_t                down = LBD_HEALTH_DOWN, up = LBD_HEALTH_UP;
    char                    why[128], err[512];

    if (atomic_load(&s->id) == b->id
        && (atomic_compare_exchange_strong(&s->health, &down, LBD_HEALTH_UNKNOWN)
            || atomic_compare_exchange_strong(&s->health, &up, LBD_HEALTH_UNKNOWN)))
        lbd_log(LBD_LOG_NOTICE, "backend %s (pool \"%s\") is no longer checked: its health "
                "is unknown (it counts as up)", b->addr.text, pool);
    if (b->health == LBD_HEALTH_UNKNOWN)
        return;
    snprintf(why, sizeof(why), "pool \"%s\" has no health_check", pool);
    if (lbd_registry_backend_health(k->reg, b->id, LBD_HEALTH_UNKNOWN, why, err,
                                    sizeof(err)) != LBD_REG_OK)
        lbd_log(LBD_LOG_WARN, "registry: %s", err);
}

static int
addr_same(const struct lbd_addr *a, const struct lbd_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0
           && strcmp(a->text, b->text) == 0;
}

/* Make the targets match the registry when the generation moved (or at first). */
static void
checker_sync(struct lbd_checker *k)
{
    struct lbd_reg_state *st;
    uint64_t              gen = lbd_shm_generation(lbd_shm);
    char                  err[512];

    if (k->synced && gen == k->generation)
        return;
    if (lbd_registry_read(k->reg, &st, err, sizeof(err)) != LBD_REG_OK) {
        if (k->read_failed++ % 100 == 0)
            lbd_log(LBD_LOG_ERROR, "health checks: reading the registry failed, the list "
                    "of backends to check stays as it was: %s", err);
        return;
    }
    k->read_failed = 0;
    k->synced = 1;
    /* What was read is at least as new as gen: a later move reads again. */
    k->generation = gen;
    for (unsigned s = 0; s < LBD_SHM_BACKENDS; s++)
        if (k->by_slot[s] != NULL)
            k->by_slot[s]->seen = 0;
    for (unsigned i = 0; i < st->npools; i++) {
        const struct lbd_reg_pool  *p = &st->pools[i];
        const struct lbd_pool_conf *pc = lbd_conf_pool(k->conf, p->name);
        int                         checked = pc != NULL && pc->check.type != LBD_CHECK_NONE;

        for (unsigned j = 0; j < p->nbackends; j++) {
            const struct lbd_reg_backend *b = &p->backends[j];
            struct target                *t;

            if (b->slot < 0 || b->slot >= LBD_SHM_BACKENDS)
                continue;
            if (!checked) {
                unchecked(k, p->name, b);
                continue;
            }
            if (b->addr.len == 0 || b->state == LBD_BACKEND_DISABLED)
                continue;
            t = k->by_slot[b->slot];
            if (t != NULL && (t->id != b->id || t->pool != pc || !addr_same(&t->addr, &b->addr))) {
                target_free(t);
                t = NULL;
            }
            if (t == NULL && (t = target_new(k, b, pc)) == NULL) {
                lbd_log_err(LBD_LOG_ERROR, ENOMEM, "cannot check backend %s", b->addr.text);
                continue;
            }
            t->recorded = b->health;
            t->seen = 1;
        }
    }
    lbd_reg_state_free(st);
    for (unsigned s = 0; s < LBD_SHM_BACKENDS; s++)
        if (k->by_slot[s] != NULL && !k->by_slot[s]->seen)
            target_free(k->by_slot[s]);
}

static void
on_sync(evutil_socket_t fd, short what, void *arg)
{
    checker_sync(arg);
}

struct lbd_checker *
lbd_checker_start(struct event_base *base, const struct lbd_conf *conf,
                  struct lbd_registry *reg)
{
    struct lbd_checker *k;
    struct timeval      tv;

    if (lbd_shm == NULL) {
        lbd_log(LBD_LOG_CRIT, "health checks need the shared-memory segment");
        return NULL;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        lbd_log_err(LBD_LOG_CRIT, ENOMEM, "cannot start the health checks");
        return NULL;
    }
    k->base = base;
    k->conf = conf;
    k->reg = reg;
    k->rng = (uint64_t) lbd_shm_now_ns() ^ ((uint64_t) getpid() << 32);
    k->sync = event_new(base, -1, EV_PERSIST, on_sync, k);
    ms_to_tv(LBD_HEALTH_SYNC_MS, &tv);
    if (k->sync == NULL || evtimer_add(k->sync, &tv) == -1) {
        lbd_log(LBD_LOG_CRIT, "cannot start the health checks' timer");
        lbd_checker_free(k);
        return NULL;
    }
    checker_sync(k);
    if (k->ntargets > 0)
        lbd_log(LBD_LOG_INFO, "health checks: %u backend(s) to check", k->ntargets);
    return k;
}

void
lbd_checker_free(struct lbd_checker *k)
{
    if (k == NULL)
        return;
    for (unsigned s = 0; s < LBD_SHM_BACKENDS; s++)
        if (k->by_slot[s] != NULL)
            target_free(k->by_slot[s]);
    if (k->sync != NULL)
        event_free(k->sync);
    free(k);
}
