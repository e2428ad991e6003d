/*
 * lbd_strategy_util.h - what the strategies of modules/ share: a per-worker
 * random number generator, a weighted draw, and the least-load comparison.
 *
 * Module-private (static inline, no symbol exported), not part of the
 * module interface in include/lbd.h.
 *
 * The generator is xorshift64* (Vigna): 8 bytes of state, a shift-xor and a
 * multiply per number, period 2^64 - 1.  Not cryptographic, and need not
 * be: it spreads connections.  Each pool of each worker has its own, seeded
 * at init() from the pid, the time and the state's address, so that
 * workers forked at the same moment still draw different sequences.
 *
 * LBD_RANDOM_SEED (environment, read at init): when set to an integer
 * (strtoull, base 0), every generator starts from that seed instead, so a
 * test or a replay sees the same draws every run.  Every worker and every
 * pool then draws the same sequence: never set it in production.
 */
#ifndef LBD_STRATEGY_UTIL_H
#define LBD_STRATEGY_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lbd.h"

struct lbd__rand {
    uint64_t s;             /* never 0 */
};

/* splitmix64's finaliser: a bijection that spreads every input bit. */
static inline uint64_t
lbd__rand_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * Seed r: from LBD_RANDOM_SEED when it is set, else from the pid, the
 * time in nanoseconds and r's address, chained through the mixer so that
 * two workers collide only with probability 2^-64.  init() only (getenv,
 * clock_gettime).
 */
static inline void
lbd__rand_seed(struct lbd__rand *r)
{
    const char     *env = getenv("LBD_RANDOM_SEED");
    struct timespec ts;
    uint64_t        h;

    if (env != NULL && *env != '\0') {
        h = lbd__rand_mix(strtoull(env, NULL, 0));
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        h = lbd__rand_mix((uint64_t) getpid());
        h = lbd__rand_mix(h ^ ((uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec));
        h = lbd__rand_mix(h ^ (uint64_t) (uintptr_t) r);
    }
    r->s = h != 0 ? h : 0x9e3779b97f4a7c15ULL;
}

/*
 * init() and fini() of a strategy whose whole per-worker state is one
 * generator (random, two_choices): pool->sdata is a seeded struct lbd__rand.
 */
static inline int
lbd__rand_init(struct lbd_pool *pool)
{
    struct lbd__rand *r = malloc(sizeof(*r));

    if (r == NULL)
        return LBD_ERROR;
    lbd__rand_seed(r);
    pool->sdata = r;
    return LBD_OK;
}

static inline void
lbd__rand_fini(struct lbd_pool *pool)
{
    free(pool->sdata);
    pool->sdata = NULL;
}

/* The next 64 random bits.  Worker loop: a few cycles. */
static inline uint64_t
lbd__rand_next(struct lbd__rand *r)
{
    uint64_t x = r->s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/*
 * A number in [0, n), n >= 1.  From the top 53 bits (xorshift64*'s low bits
 * are its weakest); the modulo bias is below n / 2^53, under 10^-7 for any
 * sum of weights lbd can have (4096 backends x 100,000).
 */
static inline uint64_t
lbd__rand_below(struct lbd__rand *r, uint64_t n)
{
    return (lbd__rand_next(r) >> 11) % n;
}

/*
 * One peer of pool drawn with probability weight / (sum of weights) among
 * those eligible, not in ctx->tried and not skip (may be NULL); NULL when
 * there is none.
 *
 * One pass, a reservoir of one: the k-th candidate replaces the choice with
 * probability w_k / (w_1 + ... + w_k), which leaves each candidate chosen
 * with probability w_i / W in the end.  One pass also means eligibility is
 * asked once per peer, so a peer going down between two reads cannot make
 * a drawn number point at nothing.  O(npeers), one random number per
 * candidate, no allocation.
 */
static inline struct lbd_peer *
lbd__draw_weighted(struct lbd_pool *pool, const struct lbd_pick *ctx, struct lbd__rand *r,
                   const struct lbd_peer *skip)
{
    struct lbd_peer *chosen = NULL;
    uint64_t         total = 0;

    for (unsigned i = 0; i < pool->npeers; i++) {
        struct lbd_peer *p = &pool->peers[i];
        uint64_t         w;

        if (p == skip || (ctx->tried && lbd_bit_test(ctx->tried, i))
            || !lbd_peer_eligible(p, ctx))
            continue;
        w = (uint64_t) lbd_peer_weight(p, ctx);
        total += w;
        if (lbd__rand_below(r, total) < w)
            chosen = p;
    }
    return chosen;
}

/*
 * The load a least-load comparison uses: lbd_peer_load() clamped to
 * [0, INT32_MAX].  Below 0 is a transient of the shared counters (a dead
 * worker's share taken back while a connection of it is being dropped);
 * above 2^31 connections no backend goes.  With weights below 2^31 too
 * (lbd_peer_weight() is an int), every product below fits in an int64_t.
 */
static inline int64_t
lbd__load(const struct lbd_peer *p)
{
    int64_t load = lbd_peer_load(p);

    return load < 0 ? 0 : load > INT32_MAX ? INT32_MAX : load;
}

/*
 * Would a connection more leave a less loaded than b, by weight?  Compares
 * (load_a + 1) / w_a < (load_b + 1) / w_b, cross-multiplied, no division.
 * The + 1 counts the connection about to be made, as HAProxy's leastconn
 * does: between idle peers the heavier wins, and the spread over weights is
 * exact (from idle, with nothing closing, weights 1:2:3 hold exactly k, 2k
 * and 3k after 6k picks: the D'Hondt apportionment).  Loads from lbd__load,
 * weights >= 1.
 */
static inline int
lbd__less_loaded(int64_t load_a, int64_t w_a, int64_t load_b, int64_t w_b)
{
    return (load_a + 1) * w_b < (load_b + 1) * w_a;
}

#endif /* LBD_STRATEGY_UTIL_H */
