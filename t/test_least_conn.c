/*
 * test_least_conn.c - weighted least connections: the least (load + 1) /
 * weight wins, ineligible and tried peers are skipped, ties take turns,
 * weights are honoured exactly, huge counts do not overflow.
 *
 * Peers have no shared slot (live = NULL), so lbd_peer_load() is
 * peer->active: the test plays the core and raises it after each pick, as
 * peer_hold() does right after pick() in connect_next().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lbd.h"

#define MAXP 8

#include "strategy_fixture.h"

static void
pool_init(struct fixture *f, const int *weights, unsigned n)
{
    fixture_init(f, "least_conn", weights, n);
}

/* One pick; the index, or -1 for NULL.  hold: count it as the core would. */
static int
pick(struct fixture *f, const uint64_t *tried, int hold)
{
    struct lbd_pick  ctx = { .tried = tried, .now_ms = 1000 };
    struct lbd_peer *p = f->pool.strategy->pick(&f->pool, &ctx);

    if (p == NULL)
        return -1;
    if (hold)
        p->active++;
    return (int) p->index;
}

static void
set_active(struct fixture *f, const uint64_t *active, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        f->peers[i].active = active[i];
}

static int
setup(void **state)
{
    unsetenv("LBD_RANDOM_SEED");     /* the scan's start must come from the pid and time */
    lbd_modules_register();
    return 0;
}

/* The least (load + 1) / weight wins, whatever the scan's starting point. */
static void
test_least_loaded_by_weight(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 2, 3 };

    for (int run = 0; run < 20; run++) {
        pool_init(&f, w, 3);
        /* 4/1, 5/2, 6/3: C. */
        set_active(&f, (const uint64_t[]) { 3, 4, 5 }, 3);
        assert_int_equal(pick(&f, NULL, 0), 2);
        /* 1/1, 5/2, 9/3: A, though it has a third of the weight. */
        set_active(&f, (const uint64_t[]) { 0, 4, 8 }, 3);
        assert_int_equal(pick(&f, NULL, 0), 0);
        /* 11/1, 21/2, 30/3 = 10: C, the most connections but the least by weight. */
        set_active(&f, (const uint64_t[]) { 10, 20, 29 }, 3);
        assert_int_equal(pick(&f, NULL, 0), 2);
        fixture_fini(&f);
    }
}

/* Between idle peers the heaviest wins: the connection to be made counts. */
static void
test_idle_heaviest_first(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 5, 2 };

    for (int run = 0; run < 20; run++) {
        pool_init(&f, w, 3);
        assert_int_equal(pick(&f, NULL, 0), 1);
        fixture_fini(&f);
    }
}

/* Down and draining peers never; none left: NULL. */
static void
test_skips_ineligible(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 1, 1, 1 };

    pool_init(&f, w, 4);
    f.peers[0].down = 1;
    f.peers[2].draining = 1;
    for (int i = 0; i < 40; i++) {
        int p = pick(&f, NULL, 1);

        assert_true(p == 1 || p == 3);
    }
    assert_int_equal(f.peers[1].active, 20);
    assert_int_equal(f.peers[3].active, 20);
    f.peers[1].down = f.peers[3].draining = 1;
    assert_int_equal(pick(&f, NULL, 0), -1);
    fixture_fini(&f);
}

/* A retry never gets a tried peer, even the least loaded; all tried: NULL. */
static void
test_skips_tried(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 1, 1 };
    uint64_t       tried = 0;

    pool_init(&f, w, 3);
    set_active(&f, (const uint64_t[]) { 0, 5, 9 }, 3);
    assert_int_equal(pick(&f, &tried, 0), 0);
    lbd_bit_set(&tried, 0);
    assert_int_equal(pick(&f, &tried, 0), 1);
    lbd_bit_set(&tried, 1);
    assert_int_equal(pick(&f, &tried, 0), 2);
    lbd_bit_set(&tried, 2);
    assert_int_equal(pick(&f, &tried, 0), -1);
    fixture_fini(&f);
}

/*
 * Equal loads: consecutive picks go to different peers.  Counted like the
 * core counts, 4 peers take 2 each of 8 picks; and even when the count does
 * not rise (a pick whose connection ended at once), ties take turns.
 */
static void
test_ties_spread(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 1, 1, 1 };

    for (int run = 0; run < 20; run++) {
        int seen = 0, last = -1;

        pool_init(&f, w, 4);
        for (int i = 0; i < 8; i++) {
            int p = pick(&f, NULL, 1);

            assert_true(p >= 0);
            assert_int_not_equal(p, last);
            last = p;
        }
        for (int i = 0; i < 4; i++)
            assert_int_equal(f.peers[i].active, 2);
        /* No count: turns, every peer once in 4 picks. */
        for (int i = 0; i < 4; i++)
            seen |= 1 << pick(&f, NULL, 0);
        assert_int_equal(seen, 15);
        fixture_fini(&f);
    }
}

/*
 * Each worker starts its scan at a random peer: over many inits (one per
 * snapshot, per worker) the first pick between idle equals is not always
 * the same peer.
 */
static void
test_workers_start_apart(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 1, 1, 1 };
    int            first = 0;

    for (int run = 0; run < 64; run++) {
        pool_init(&f, w, 4);
        first |= 1 << pick(&f, NULL, 0);
        fixture_fini(&f);
    }
    /* All four: a fixed start would give one; missing one has odds 4 (3/4)^64 < 1e-7. */
    assert_int_equal(first, 15);
}

/* Weights 1:2:3: after every 6 picks, exactly 1, 2 and 3 more each. */
static void
test_weights_exact(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 2, 3 };

    pool_init(&f, w, 3);
    for (uint64_t k = 1; k <= 100; k++) {
        for (int i = 0; i < 6; i++)
            assert_true(pick(&f, NULL, 1) >= 0);
        assert_int_equal(f.peers[0].active, k);
        assert_int_equal(f.peers[1].active, 2 * k);
        assert_int_equal(f.peers[2].active, 3 * k);
    }
    fixture_fini(&f);
}

/* Counts far beyond any real backend compare without overflow (UBSan watches). */
static void
test_huge_counts(void **state)
{
    struct fixture f;
    const int      w[] = { 1000, 1000, 1 };

    pool_init(&f, w, 3);
    set_active(&f, (const uint64_t[]) { 2000000001, 2000000000, 0 }, 3);
    /* 2000000002/1000 vs 2000000001/1000 vs 1/1: C. */
    assert_int_equal(pick(&f, NULL, 0), 2);
    f.peers[2].active = 2000001;
    assert_int_equal(pick(&f, NULL, 0), 1);
    /* Above INT32_MAX everything counts as INT32_MAX: a tie, not a wrap. */
    set_active(&f, (const uint64_t[]) { (uint64_t) 1 << 62, (uint64_t) 1 << 40, 1 }, 3);
    assert_int_equal(pick(&f, NULL, 0), 2);
    set_active(&f, (const uint64_t[]) { (uint64_t) 1 << 62, (uint64_t) 1 << 40,
                                        (uint64_t) 1 << 50 }, 3);
    assert_true(pick(&f, NULL, 0) <= 1);    /* weight 1000 beats weight 1 at equal load */
    fixture_fini(&f);
}

/* An empty pool: init works, pick says NULL. */
static void
test_empty_pool(void **state)
{
    struct fixture f;

    pool_init(&f, NULL, 0);
    assert_int_equal(pick(&f, NULL, 0), -1);
    fixture_fini(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_least_loaded_by_weight),
        cmocka_unit_test(test_idle_heaviest_first),
        cmocka_unit_test(test_skips_ineligible),
        cmocka_unit_test(test_skips_tried),
        cmocka_unit_test(test_ties_spread),
        cmocka_unit_test(test_workers_start_apart),
        cmocka_unit_test(test_weights_exact),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_empty_pool),
    };
    return cmocka_run_group_tests_name("least_conn", tests, setup, NULL);
}
