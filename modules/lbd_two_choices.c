/*
 * lbd_two_choices.c - the power of two random choices.
 *
 * Draw two distinct eligible, untried peers, each by weight (the second
 * among the others), and take the less loaded by weight: the least
 * (lbd_peer_load + 1) / lbd_peer_weight, as least_conn compares (the load is
 * every worker's, from shared memory).  A tie goes to the first drawn,
 * itself a random peer.  With one candidate, that one.
 *
 * Why: n connections thrown at m backends at random leave the busiest
 * about sqrt(2 (n/m) ln m) above the mean (n >> m); choosing the less loaded of two
 * random ones cuts that to about ln ln m / ln 2, whatever n (Azar, Broder,
 * Karlin and Upfal, "Balanced allocations", 1994, for n = m; Berenbrink,
 * Czumaj, Steger and Voecking, 2000, for n >> m), nearly what least_conn
 * achieves, while the randomness keeps workers whose view of the counts
 * lags a little from all rushing to the same least loaded peer.  The more
 * loaded of the two is never chosen, so a peer more loaded (by weight) than
 * every other candidate is never chosen at all.
 *
 * State: a struct lbd__rand (8 bytes) per pool per worker, seeded at init
 * (see lbd_strategy_util.h, LBD_RANDOM_SEED for tests).  pick() is two
 * passes over the peers, O(npeers), and allocates nothing.
 */
#include <stdlib.h>

#include "lbd.h"
#include "lbd_strategy_util.h"

static struct lbd_peer *
tc_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    struct lbd_peer *a, *b;

    if ((a = lbd__draw_weighted(pool, ctx, pool->sdata, NULL)) == NULL)
        return NULL;
    if ((b = lbd__draw_weighted(pool, ctx, pool->sdata, a)) == NULL)
        return a;
    return lbd__less_loaded(lbd__load(b), lbd_peer_weight(b, ctx),
                            lbd__load(a), lbd_peer_weight(a, ctx)) ? b : a;
}

const struct lbd_strategy lbd_strategy_two_choices = {
    .name = "two_choices",
    .init = lbd__rand_init,
    .fini = lbd__rand_fini,
    .pick = tc_pick,
};
