/*
 * strategy_fixture.h - a pool built by hand for a strategy's unit test: the
 * peers, their weights, the strategy's init() and fini().  Define MAXP (the
 * most peers a test uses) before including it.  The peers are named
 * 10.0.0.1:80, 10.0.0.2:80... and have no shared-memory slot, so their load
 * is peer->active.
 */
#ifndef LBD_STRATEGY_FIXTURE_H
#define LBD_STRATEGY_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "lbd.h"

struct fixture {
    struct lbd_pool pool;
    struct lbd_peer peers[MAXP];
};

/* n peers with weights (NULL: all 1), and strategy's init() run on them. */
static inline void
fixture_init(struct fixture *f, const char *strategy, const int *weights, unsigned n)
{
    const struct lbd_strategy *s = lbd_strategy_find(strategy);

    assert_non_null(s);
    assert_true(n <= MAXP);
    memset(f, 0, sizeof(*f));
    for (unsigned i = 0; i < n; i++) {
        snprintf(f->peers[i].addr.text, sizeof(f->peers[i].addr.text), "10.0.0.%u:80", i + 1);
        f->peers[i].weight = weights ? weights[i] : 1;
        f->peers[i].index = i;
        f->peers[i].slot = -1;
    }
    f->pool.name = "t";
    f->pool.peers = f->peers;
    f->pool.npeers = n;
    f->pool.strategy = s;
    assert_int_equal(s->init(&f->pool), LBD_OK);
}

/* The strategy's fini(), which must leave nothing behind. */
static inline void
fixture_fini(struct fixture *f)
{
    if (f->pool.strategy->fini != NULL)
        f->pool.strategy->fini(&f->pool);
    assert_null(f->pool.sdata);
}

#endif /* LBD_STRATEGY_FIXTURE_H */
