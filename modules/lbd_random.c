/*
 * lbd_random.c - weighted random: each connection goes to an eligible,
 * untried peer with probability lbd_peer_weight / (sum over those peers).
 *
 * No state shared between picks but the generator, so it needs no
 * coordination between workers and is the fairest choice in the long run;
 * in the short run a backend's share wanders like a binomial count (over
 * n connections, a share p is off by about sqrt(p (1 - p) / n)).
 *
 * State: a struct lbd__rand (8 bytes) per pool per worker, seeded at init
 * (see lbd_strategy_util.h, LBD_RANDOM_SEED for tests).  pick() is one pass,
 * O(npeers), one random number per candidate, and allocates nothing.
 */
#include <stdlib.h>

#include "lbd.h"
#include "lbd_strategy_util.h"

static struct lbd_peer *
random_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    return lbd__draw_weighted(pool, ctx, pool->sdata, NULL);
}

const struct lbd_strategy lbd_strategy_random = {
    .name = "random",
    .init = lbd__rand_init,
    .fini = lbd__rand_fini,
    .pick = random_pick,
};
