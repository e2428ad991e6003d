/*
 * test_round_robin.c - smooth weighted round robin: order, weights, and
 * what it skips (peers down or already tried).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lbd.h"

#define MAXP 8

#include "strategy_fixture.h"

static void
pool_init(struct fixture *f, const int *weights, unsigned n)
{
    fixture_init(f, "round_robin", weights, n);
}

static int
pick(struct fixture *f, const uint64_t *tried)
{
    struct lbd_pick  ctx = { .tried = tried };
    struct lbd_peer *p = f->pool.strategy->pick(&f->pool, &ctx);

    return p ? (int) p->index : -1;
}

static int
setup(void **state)
{
    lbd_modules_register();
    return 0;
}

/* nginx's example: weights 5,1,1 give a a b a c a a, spread, not bunched. */
static void
test_smooth_order(void **state)
{
    struct fixture f;
    const int      w[] = { 5, 1, 1 };
    const int      want[] = { 0, 0, 1, 0, 2, 0, 0 };

    pool_init(&f, w, 3);
    for (int round = 0; round < 3; round++)
        for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            assert_int_equal(pick(&f, NULL), want[i]);
    f.pool.strategy->fini(&f.pool);
    assert_null(f.pool.sdata);
}

static void
test_equal_weights_cycle(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 1, 1 };

    pool_init(&f, w, 3);
    for (int i = 0; i < 30; i++)
        assert_int_equal(pick(&f, NULL), i % 3);
    f.pool.strategy->fini(&f.pool);
}

/* Every window of sum(weights) picks holds each peer exactly weight times. */
static void
test_weights_exact_per_window(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 2, 3, 7 };
    int            count[4];

    pool_init(&f, w, 4);
    for (int window = 0; window < 50; window++) {
        memset(count, 0, sizeof(count));
        for (int i = 0; i < 13; i++)
            count[pick(&f, NULL)]++;
        for (int i = 0; i < 4; i++)
            assert_int_equal(count[i], w[i]);
    }
    f.pool.strategy->fini(&f.pool);
}

static void
test_skips_down_peers(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 1, 1 };

    pool_init(&f, w, 3);
    f.peers[1].down = 1;
    for (int i = 0; i < 20; i++)
        assert_int_not_equal(pick(&f, NULL), 1);
    f.peers[0].down = f.peers[2].down = 1;
    assert_int_equal(pick(&f, NULL), -1);
    f.pool.strategy->fini(&f.pool);
}

/* A retry never gets a peer it already tried; all tried means NULL. */
static void
test_skips_tried_peers(void **state)
{
    struct fixture f;
    const int      w[] = { 3, 1, 1 };
    uint64_t       tried = 0;
    int            seen = 0;

    pool_init(&f, w, 3);
    for (int i = 0; i < 3; i++) {
        int p = pick(&f, &tried);
        assert_true(p >= 0);
        assert_false(lbd_bit_test(&tried, (unsigned) p));
        lbd_bit_set(&tried, (unsigned) p);
        seen |= 1 << p;
    }
    assert_int_equal(seen, 7);
    assert_int_equal(pick(&f, &tried), -1);
    f.pool.strategy->fini(&f.pool);
}

static void
test_registry_refuses_duplicates(void **state)
{
    const struct lbd_strategy *rr = lbd_strategy_find("round_robin");

    assert_int_equal(lbd_strategy_register(rr), LBD_ERROR);
    assert_null(lbd_strategy_find("no_such_strategy"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smooth_order),
        cmocka_unit_test(test_equal_weights_cycle),
        cmocka_unit_test(test_weights_exact_per_window),
        cmocka_unit_test(test_skips_down_peers),
        cmocka_unit_test(test_skips_tried_peers),
        cmocka_unit_test(test_registry_refuses_duplicates),
    };
    return cmocka_run_group_tests_name("round_robin", tests, setup, NULL);
}
