/*
 * lbd_peer.c - whether a backend may take a connection now, with which
 * weight, and the passive circuit breaker that every worker feeds.
 *
 * The facts live in the backend's shared-memory slot, so every worker sees
 * the same: the active checks' verdict (health), the circuit (consecutive
 * failures, ejected until when, the half-open trial), and when the backend
 * last came up (slow start).  Strategies ask lbd_peer_eligible() and
 * lbd_peer_weight(); they never read the slot themselves.
 *
 * The circuit breaker, per backend:
 *   closed     failures in a row are counted (a refused or timed-out
 *              connect, or a connection the backend ended with an error);
 *              a connection that ends cleanly clears the count; `failures`
 *              in a row open the circuit;
 *   open       no connection until ejected_until; the ejection lasts
 *              `ejection`, doubling with each ejection in a row, up to
 *              `max_ejection`;
 *   half-open  past ejected_until, one worker claims the one trial
 *              connection (CAS on trial); success closes the circuit, and
 *              the backend ramps up again (slow start); failure opens it
 *              for twice as long.
 */
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbd_log.h"
#include "lbd_peer.h"
#include "lbd_shm.h"
#include "lbd_stats.h"

int
lbd_peer_eligible(const struct lbd_peer *peer, const struct lbd_pick *ctx)
{
    struct lbd_shm_backend *b = peer->live;
    int64_t                 until;

    if (peer->down || peer->draining)
        return 0;
    if (b == NULL)
        return 1;
    if (atomic_load_explicit(&b->health, memory_order_relaxed) == LBD_HEALTH_DOWN)
        return 0;
    until = atomic_load_explicit(&b->ejected_until, memory_order_relaxed);
    if (until == 0)
        return 1;
    /* Open: wait.  Half-open: eligible while nobody holds the trial. */
    return ctx->now_ms >= until && atomic_load_explicit(&b->trial, memory_order_relaxed) == 0;
}

int
lbd_peer_weight(const struct lbd_peer *peer, const struct lbd_pick *ctx)
{
    int     w = peer->weight * LBD_WEIGHT_SCALE;
    int64_t since, elapsed;

    if (peer->live == NULL || peer->slow_start <= 0)
        return w;
    since = atomic_load_explicit(&peer->live->up_since, memory_order_relaxed);
    if (since == 0 || (elapsed = ctx->now_ms - since) >= peer->slow_start)
        return w;
    /* From a tenth of the weight to all of it, linearly. */
    if (elapsed < 0)
        elapsed = 0;
    w = (int) (w / 10 + (int64_t) (w - w / 10) * elapsed / peer->slow_start);
    return w > 0 ? w : 1;
}

int64_t
lbd_peer_load(const struct lbd_peer *peer)
{
    if (peer->live == NULL)
        return (int64_t) peer->active;
    return atomic_load_explicit(&peer->live->active, memory_order_relaxed);
}

int
lbd_peer_claim(struct lbd_peer *peer, int64_t now_ms)
{
    struct lbd_shm_backend *b = peer->live;
    int32_t                 free_trial = 0;
    int64_t                 until;

    if (b == NULL || (until = atomic_load(&b->ejected_until)) == 0)
        return LBD_PEER_CLAIM_NORMAL;
    if (now_ms < until)
        return LBD_PEER_CLAIM_NONE;
    return atomic_compare_exchange_strong(&b->trial, &free_trial, 1) ? LBD_PEER_CLAIM_TRIAL
                                                                      : LBD_PEER_CLAIM_NONE;
}

void
lbd_peer_success(struct lbd_peer *peer, int trial, int64_t now_ms, const char *pool)
{
    struct lbd_shm_backend *b = peer->live;

    if (b == NULL || !trial)
        return;
    /* The trial went through: close the circuit, ramp up again. */
    lbd_shm_backend_back(b, now_ms);
    lbd_log(LBD_LOG_NOTICE, "backend %s (pool \"%s\") is back: its trial connection succeeded",
            peer->addr.text, pool);
}

void
lbd_peer_ok(struct lbd_peer *peer)
{
    struct lbd_shm_backend *b = peer->live;

    if (b != NULL && atomic_load_explicit(&b->fails_in_row, memory_order_relaxed) != 0)
        atomic_store_explicit(&b->fails_in_row, 0, memory_order_relaxed);
}

void
lbd_peer_failure(struct lbd_peer *peer, int trial, const struct lbd_passive_conf *pc,
                 int64_t now_ms, const char *pool)
{
    struct lbd_shm_backend *b = peer->live;
    uint32_t                fails, ejections;
    int64_t                 len, zero = 0;

    if (b == NULL)
        return;
    fails = atomic_fetch_add(&b->fails_in_row, 1) + 1;
    if (trial) {
        /* Still failing: open again, for longer. */
        ejections = atomic_fetch_add(&b->ejections, 1) + 1;
        len = (int64_t) pc->ejection << (ejections - 1 < 20 ? ejections - 1 : 20);
        if (len > pc->max_ejection)
            len = pc->max_ejection;
        atomic_store(&b->ejected_until, now_ms + len);
        atomic_store(&b->trial, 0);
        lbd_log(LBD_LOG_WARN, "backend %s (pool \"%s\") failed its trial connection; "
                "ejected for %lld ms (ejection %u in a row)", peer->addr.text, pool,
                (long long) len, ejections);
        return;
    }
    if (pc->failures <= 0 || fails < (uint32_t) pc->failures)
        return;
    /* The one worker whose CAS opens the circuit logs it. */
    len = pc->ejection;
    if (atomic_compare_exchange_strong(&b->ejected_until, &zero, now_ms + len)) {
        atomic_store(&b->ejections, 1);
        lbd_log(LBD_LOG_WARN, "backend %s (pool \"%s\") ejected for %lld ms after %u "
                "failures in a row", peer->addr.text, pool, (long long) len, fails);
    }
}

/*
 * CLOCK_MONOTONIC in ms, the clock of every time in shared memory
 * (ejections, slow start): the coarse one is a vDSO read, no system call.
 */
int64_t
lbd_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
lbd_fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t             h = 0xcbf29ce484222325ULL;

    while (n-- > 0) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t
lbd_client_key(const struct sockaddr *sa)
{
    const unsigned char *p;

    if (sa->sa_family == AF_INET) {
        p = (const unsigned char *) &((const struct sockaddr_in *) sa)->sin_addr;
        return lbd_fnv1a(p, 4);
    }
    if (sa->sa_family == AF_INET6) {
        p = (const unsigned char *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
        /* An IPv4 client seen through an IPv6 socket keys as itself. */
        if (IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *) sa)->sin6_addr))
            return lbd_fnv1a(p + 12, 4);
        return lbd_fnv1a(p, 16);
    }
    return 0;
}

void
lbd_peer_hold(struct lbd_peer *peer, int wslot)
{
    peer->active++;
    if (lbd_shm != NULL && wslot >= 0 && peer->slot >= 0)
        lbd_shm_backend_active(lbd_shm, wslot, (unsigned) peer->slot, 1);
}

void
lbd_peer_drop(struct lbd_pool *pool, struct lbd_peer *peer, int wslot, enum lbd_outcome outcome)
{
    peer->active--;
    if (lbd_shm != NULL && wslot >= 0 && peer->slot >= 0)
        lbd_shm_backend_active(lbd_shm, wslot, (unsigned) peer->slot, -1);
    if (pool->strategy->release)
        pool->strategy->release(pool, peer, outcome);
}

void
lbd_peer_failed(const struct lbd_pool *pool, struct lbd_peer *peer, int trial,
                enum lbd_stat kind)
{
    static const struct lbd_passive_conf off = { 0, 10000, 300000 };
    const struct lbd_pool_conf          *pc = pool->conf;

    peer->fails++;
    if (lbd_shm != NULL && peer->slot >= 0)
        atomic_fetch_add_explicit(&lbd_shm->backends[peer->slot].fails, 1,
                                  memory_order_relaxed);
    lbd_stats_both(peer, kind, 1);
    lbd_peer_failure(peer, trial, pc != NULL ? &pc->passive : &off, lbd_mono_ms(), pool->name);
}

int
lbd_tried_reset(struct lbd_tried *t, unsigned npeers)
{
    unsigned words = LBD_BITMAP_WORDS(npeers ? npeers : 1);

    if (t->map == NULL) {
        t->map = &t->small;
        t->words = 1;
    }
    if (words > t->words) {
        uint64_t *map = calloc(words, sizeof(uint64_t));

        if (map == NULL)
            return -1;
        lbd_tried_free(t);
        t->map = map;
        t->words = words;
    }
    memset(t->map, 0, t->words * sizeof(uint64_t));
    return 0;
}

void
lbd_tried_free(struct lbd_tried *t)
{
    if (t->map != NULL && t->map != &t->small)
        free(t->map);
    t->map = &t->small;
    t->words = 1;
}
