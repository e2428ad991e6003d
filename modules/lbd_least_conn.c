/*
 * lbd_least_conn.c - weighted least connections, over every worker.
 *
 * The load of a peer is lbd_peer_load(): the connections open to it from
 * every worker (shared memory), so a backend that one worker filled is
 * avoided by all of them.  The winner is the eligible, untried peer with
 * the least (load + 1) / weight (lbd__less_loaded: the connection about to
 * be made counts, cross-multiplied in 64 bits).
 *
 * The count a pick reads rises right after it: connect_next() in
 * lbd_proxy.c calls peer_hold() (this worker's count and the shared one)
 * on the peer pick() returned, before it can pick again.  So a burst of
 * connections on one worker sees each of its own earlier picks and does
 * not pile onto one peer.
 *
 * Ties (equal (load + 1) / weight: idle peers of equal weight, or a tie
 * the counts have not broken yet) go to the first tied peer of a scan that
 * starts just after this worker's previous winner: within a worker, tied
 * peers take turns; across workers, each starts at a random peer (seeded
 * like the random strategies), so a burst arriving at all workers at once
 * does not send each worker's first connection to the same peer.
 *
 * State: one unsigned per pool per worker.  pick() is one pass over the
 * peers, O(npeers), and allocates nothing.
 */
#include <stdlib.h>

#include "lbd.h"
#include "lbd_strategy_util.h"

struct lc_state {
    unsigned next;          /* where the next scan starts, < npeers (0 when empty) */
};

static int
lc_init(struct lbd_pool *pool)
{
    struct lc_state *st = malloc(sizeof(*st));
    struct lbd__rand r;

    if (st == NULL)
        return LBD_ERROR;
    lbd__rand_seed(&r);
    st->next = pool->npeers ? (unsigned) lbd__rand_below(&r, pool->npeers) : 0;
    pool->sdata = st;
    return LBD_OK;
}

static void
lc_fini(struct lbd_pool *pool)
{
    free(pool->sdata);
    pool->sdata = NULL;
}

static struct lbd_peer *
lc_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    struct lc_state *st = pool->sdata;
    struct lbd_peer *best = NULL;
    int64_t          best_load = 0, best_w = 0;
    unsigned         i = st->next, best_i = 0;

    for (unsigned k = 0; k < pool->npeers; k++, i = i + 1 < pool->npeers ? i + 1 : 0) {
        struct lbd_peer *p = &pool->peers[i];
        int64_t          load, w;

        if ((ctx->tried && lbd_bit_test(ctx->tried, i)) || !lbd_peer_eligible(p, ctx))
            continue;
        load = lbd__load(p);
        w = lbd_peer_weight(p, ctx);
        /* Strictly less: the first of equals in scan order stays. */
        if (best == NULL || lbd__less_loaded(load, w, best_load, best_w)) {
            best = p;
            best_i = i;
            best_load = load;
            best_w = w;
        }
    }
    if (best != NULL)
        st->next = best_i + 1 < pool->npeers ? best_i + 1 : 0;
    return best;
}

const struct lbd_strategy lbd_strategy_least_conn = {
    .name = "least_conn",
    .init = lc_init,
    .fini = lc_fini,
    .pick = lc_pick,
};
