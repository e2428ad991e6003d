/*
 * lbd_ewma.c - peak EWMA of connect latency, picked by the power of two
 * choices, as Finagle's and Linkerd's "p2c + peak EWMA" balancers do.
 *
 * Each worker keeps, per peer, an estimate of how long a connect to it takes
 * (connected() reports each one, in microseconds):
 *
 *   w    = exp(-elapsed / tau)          elapsed: since the last observation
 *   ewma = rtt > ewma ? rtt             the peak: up at once on a slow one,
 *                     : ewma * w + rtt * (1 - w)   down gently, with tau
 *
 * tau is 10 s.  A pick draws two distinct usable peers at random (eligible,
 * not tried) and takes the cheaper, where
 *
 *   cost = latency * (outstanding + 1) / lbd_peer_weight()
 *
 * - latency is the estimate decayed to the pick's time, ewma * exp(-(now -
 *   last observation) / tau), as Finagle does: a peer that stopped being
 *   chosen because it was slow is tried again after about tau * ln(its cost
 *   / the others'), and that connect sets its estimate right.
 * - a peer this worker never observed costs nothing while the worker has no
 *   connection open to it, so it is tried as soon as it is drawn (Finagle
 *   probes the same way); while that first connect is under way it counts
 *   as the mean estimate of the peers observed (1 ms when none is), so a
 *   new peer is neither shunned nor flooded before its first observation.
 * - outstanding is lbd_peer_load(): the connections open to the peer from
 *   every worker (shared memory), pending connects included.  The backend's
 *   queue is what slows it down, and it holds every worker's connections: a
 *   per-worker count would let W workers each send the same "idle" backend
 *   their next connection.  (Long idle connections count too: layer 4 cannot
 *   tell them from busy ones.)
 * - a failed connect (refused, or timed out) counts as a connect of 1 s, or
 *   of the peer's current estimate when that is worse: a backend that does
 *   not answer is no faster than a slow one.
 *
 * The power of two choices avoids the herd that "always the cheapest" makes
 * when estimates are stale, and costs two random draws, not a scan.
 *
 * Time: latencies are measured by the core (connected()); the clock of the
 * decay is ctx->now_ms.  connected() and release() get no time, so they use
 * the latest ctx->now_ms this pool saw, at most one connect timeout old.
 *
 * State: 24 bytes per peer, per worker, in pool->sdata; lost with the pool
 * when the set of backends changes (a new pool starts from no observations).
 * pick() allocates nothing and calls exp() twice.
 */
#include <math.h>
#include <stdlib.h>

#include "lbd.h"
#include "lbd_strategy_util.h"

#define EWMA_TAU_MS       10000.0   /* decay time constant */
#define EWMA_DEFAULT_US   1000.0    /* latency of a peer when nothing is known */
#define EWMA_FAIL_US      1000000.0 /* a failed connect counts as this slow, at least */
#define EWMA_FLOOR_US     1.0       /* never 0: then outstanding still tells peers apart */
#define EWMA_DRAWS        4         /* random draws for a candidate before a scan */

struct ewma_peer {
    double  ewma_us;        /* the estimate as of stamp_ms */
    int64_t stamp_ms;       /* the last observation */
    int     observed;
};

struct ewma_state {
    struct lbd__rand rng;           /* this worker's own sequence */
    int64_t          now_ms;        /* the latest ctx->now_ms */
    double           sum_us;        /* of the observed peers' ewma_us */
    unsigned         nobserved;
    struct ewma_peer peer[];        /* npeers */
};

static int
ewma_init(struct lbd_pool *pool)
{
    struct ewma_state *st;

    st = calloc(1, sizeof(*st) + (size_t) pool->npeers * sizeof(struct ewma_peer));
    if (st == NULL)
        return LBD_ERROR;
    /* Each worker its own sequence: two workers must not draw the same pairs. */
    lbd__rand_seed(&st->rng);
    pool->sdata = st;
    return LBD_OK;
}

static void
ewma_fini(struct lbd_pool *pool)
{
    free(pool->sdata);
    pool->sdata = NULL;
}

/*
 * The latency estimate of peer i at time now, decayed since it was observed.
 * Never observed: 0 while this worker has no connection open to it (probe
 * it), else the mean of the observed peers.
 */
static double
latency(const struct lbd_pool *pool, unsigned i, int64_t now)
{
    const struct ewma_state *st = pool->sdata;
    const struct ewma_peer  *p = &st->peer[i];
    double                   lat;

    if (!p->observed) {
        if (pool->peers[i].active == 0)
            return 0.0;
        lat = st->nobserved > 0 ? st->sum_us / st->nobserved : EWMA_DEFAULT_US;
    } else {
        int64_t elapsed = now - p->stamp_ms;

        lat = p->ewma_us;
        if (elapsed > 0)
            lat *= exp(-(double) elapsed / EWMA_TAU_MS);
    }
    return lat > EWMA_FLOOR_US ? lat : EWMA_FLOOR_US;
}

static double
cost(const struct lbd_pool *pool, unsigned i, const struct lbd_pick *ctx)
{
    const struct lbd_peer *peer = &pool->peers[i];
    int64_t                load = lbd_peer_load(peer);

    if (load < 0)
        load = 0;
    return latency(pool, i, ctx->now_ms) * (double) (load + 1)
           / lbd_peer_weight(peer, ctx);
}

static int
usable(const struct lbd_pool *pool, unsigned i, const struct lbd_pick *ctx)
{
    return !(ctx->tried && lbd_bit_test(ctx->tried, i))
           && lbd_peer_eligible(&pool->peers[i], ctx);
}

/*
 * A random usable peer other than avoid (-1: none), or -1.  A few random
 * draws first; when they miss (most peers unusable), the first usable peer
 * from a random place on.
 */
static int
draw(struct lbd_pool *pool, const struct lbd_pick *ctx, int avoid)
{
    struct ewma_state *st = pool->sdata;
    unsigned           n = pool->npeers, start;

    for (int k = 0; k < EWMA_DRAWS; k++) {
        unsigned i = (unsigned) lbd__rand_below(&st->rng, n);

        if ((int) i != avoid && usable(pool, i, ctx))
            return (int) i;
    }
    start = (unsigned) lbd__rand_below(&st->rng, n);
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (start + k) % n;

        if ((int) i != avoid && usable(pool, i, ctx))
            return (int) i;
    }
    return -1;
}

static struct lbd_peer *
ewma_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    struct ewma_state *st = pool->sdata;
    int                a, b;

    if (pool->npeers == 0)
        return NULL;
    if (ctx->now_ms > st->now_ms)
        st->now_ms = ctx->now_ms;
    if ((a = draw(pool, ctx, -1)) == -1)
        return NULL;
    if ((b = draw(pool, ctx, a)) == -1)
        return &pool->peers[a];
    return &pool->peers[cost(pool, (unsigned) b, ctx) < cost(pool, (unsigned) a, ctx) ? b : a];
}

/* One observation of peer's connect latency, at this pool's latest time. */
static void
observe(struct lbd_pool *pool, const struct lbd_peer *peer, double rtt_us)
{
    struct ewma_state *st = pool->sdata;
    struct ewma_peer  *p = &st->peer[peer->index];
    double             old = p->ewma_us;

    if (!p->observed) {
        p->observed = 1;
        p->ewma_us = rtt_us;
        st->nobserved++;
    } else if (rtt_us > old) {
        p->ewma_us = rtt_us;
    } else {
        int64_t elapsed = st->now_ms - p->stamp_ms;
        double  w = elapsed > 0 ? exp(-(double) elapsed / EWMA_TAU_MS) : 1.0;

        p->ewma_us = old * w + rtt_us * (1.0 - w);
    }
    p->stamp_ms = st->now_ms;
    st->sum_us += p->ewma_us - old;
    if (st->sum_us < 0)
        st->sum_us = 0;
}

static void
ewma_connected(struct lbd_pool *pool, struct lbd_peer *peer, int64_t connect_us)
{
    observe(pool, peer, connect_us > 0 ? (double) connect_us : 0.0);
}

static void
ewma_release(struct lbd_pool *pool, struct lbd_peer *peer, enum lbd_outcome outcome)
{
    const struct ewma_state *st = pool->sdata;
    const struct ewma_peer  *p = &st->peer[peer->index];

    if (outcome != LBD_PEER_CONNECT_FAILED)
        return;
    observe(pool, peer, p->observed && p->ewma_us > EWMA_FAIL_US ? p->ewma_us : EWMA_FAIL_US);
}

const struct lbd_strategy lbd_strategy_ewma = {
    .name = "ewma",
    .init = ewma_init,
    .fini = ewma_fini,
    .pick = ewma_pick,
    .connected = ewma_connected,
    .release = ewma_release,
};
