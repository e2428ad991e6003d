/*
 * lbd_round_robin.c - smooth weighted round robin.
 *
 * The algorithm nginx uses: on each pick every eligible peer's current
 * weight grows by its weight, the peer with the largest current weight wins
 * and gives back the sum of the weights.  Over any window of sum(weights)
 * picks each peer is chosen exactly weight times, and the choices of a heavy
 * peer are spread out instead of bunched (weights 5,1,1 give a a b a c a a).
 *
 * State is one int per peer, per worker.  pick() is O(npeers) and allocates
 * nothing.
 */
#include <stdlib.h>

#include "lbd.h"

struct rr_state {
    int current[1];     /* npeers entries */
};

static int
rr_init(struct lbd_pool *pool)
{
    size_t n = pool->npeers ? pool->npeers : 1;

    pool->sdata = calloc(n, sizeof(int));
    return pool->sdata ? LBD_OK : LBD_ERROR;
}

static void
rr_fini(struct lbd_pool *pool)
{
    free(pool->sdata);
    pool->sdata = NULL;
}

static struct lbd_peer *
rr_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    struct rr_state *st = pool->sdata;
    struct lbd_peer *best = NULL;
    int             *best_cw = NULL;
    int              total = 0;

    for (unsigned i = 0; i < pool->npeers; i++) {
        struct lbd_peer *p = &pool->peers[i];

        int w;

        if ((ctx->tried && lbd_bit_test(ctx->tried, i)) || !lbd_peer_eligible(p, ctx))
            continue;
        w = lbd_peer_weight(p, ctx);
        st->current[i] += w;
        total += w;
        if (best == NULL || st->current[i] > *best_cw) {
            best = p;
            best_cw = &st->current[i];
        }
    }
    if (best != NULL)
        *best_cw -= total;
    return best;
}

const struct lbd_strategy lbd_strategy_round_robin = {
    .name = "round_robin",
    .init = rr_init,
    .fini = rr_fini,
    .pick = rr_pick,
};
