/*
 * test_two_choices.c - the power of two choices: of the two peers drawn the
 * less loaded by weight wins, ineligible and tried peers are never drawn,
 * and N connections into M backends leave the busiest far closer to the
 * mean than random does, for the same seed (the classic balls-into-bins
 * result).
 *
 * Peers have no shared slot (live = NULL), so lbd_peer_load() is
 * peer->active, raised after each pick as the core's peer_hold() does.
 * LBD_RANDOM_SEED fixes the generators: every figure is the same each run.
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

#define MAXP 128
#define SEED "20240611"

#include "strategy_fixture.h"

static void
pool_init(struct fixture *f, const int *weights, unsigned n)
{
    fixture_init(f, "two_choices", weights, n);
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

static int
setup(void **state)
{
    lbd_modules_register();
    return setenv("LBD_RANDOM_SEED", SEED, 1);
}

/* Two candidates: always the less loaded one, by weight. */
static void
test_two_never_the_more_loaded(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 3 };

    pool_init(&f, w, 2);
    f.peers[0].active = 2;      /* 3/1 */
    f.peers[1].active = 5;      /* 6/3 = 2: less loaded by weight */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pick(&f, NULL, 0), 1);
    f.peers[1].active = 9;      /* 10/3 > 3/1 */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pick(&f, NULL, 0), 0);
    fixture_fini(&f);
}

/*
 * Five peers of equal weight with distinct loads: the most loaded is never
 * chosen (it loses to whichever other peer is drawn with it), the least
 * loaded is chosen whenever drawn, i.e. 2 times in 5 (8 of 20 ordered pairs).
 */
static void
test_most_loaded_never(void **state)
{
    struct fixture f;
    int            count[5] = { 0 };

    pool_init(&f, NULL, 5);
    for (unsigned i = 0; i < 5; i++)
        f.peers[i].active = 10 + 3 * i;
    for (int k = 0; k < 10000; k++)
        count[pick(&f, NULL, 0)]++;
    fprintf(stderr, "loads 10 13 16 19 22 picked %d %d %d %d %d times of 10000\n",
            count[0], count[1], count[2], count[3], count[4]);
    assert_int_equal(count[4], 0);
    /* Exact shares 40, 30, 20, 10 %: within 2 points (4 to 6.6 sigma; the seed is fixed). */
    assert_true(count[0] > 3800 && count[0] < 4200);
    assert_true(count[1] > 2800 && count[1] < 3200);
    assert_true(count[2] > 1800 && count[2] < 2200);
    assert_true(count[3] > 800 && count[3] < 1200);
    fixture_fini(&f);
}

/* Equal loads: a tie goes to the first drawn, so both share. */
static void
test_ties_shared(void **state)
{
    struct fixture f;
    int            count[2] = { 0 };

    pool_init(&f, NULL, 2);
    for (int k = 0; k < 10000; k++)
        count[pick(&f, NULL, 0)]++;
    fprintf(stderr, "tied pair: %d and %d of 10000\n", count[0], count[1]);
    assert_true(count[0] > 4800 && count[1] > 4800);
    fixture_fini(&f);
}

/* Never ineligible or tried peers; one candidate: that one; none: NULL. */
static void
test_skips_ineligible_and_tried(void **state)
{
    struct fixture f;
    uint64_t       tried = 0;

    pool_init(&f, NULL, 4);
    f.peers[0].down = 1;
    f.peers[2].draining = 1;
    f.peers[1].active = 100;    /* more loaded than 3, but 3 is tried */
    lbd_bit_set(&tried, 3);
    for (int k = 0; k < 1000; k++)
        assert_int_equal(pick(&f, &tried, 0), 1);
    lbd_bit_set(&tried, 1);
    assert_int_equal(pick(&f, &tried, 0), -1);
    for (int k = 0; k < 1000; k++) {
        int p = pick(&f, NULL, 0);

        assert_true(p == 1 || p == 3);
    }
    fixture_fini(&f);
    pool_init(&f, NULL, 0);
    assert_int_equal(pick(&f, NULL, 0), -1);
    fixture_fini(&f);
}

/* Under load the weights still rule: 1:2:3 over 6000 held connections. */
static void
test_weights_honoured(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 2, 3 };

    pool_init(&f, w, 3);
    for (int k = 0; k < 6000; k++)
        assert_true(pick(&f, NULL, 1) >= 0);
    fprintf(stderr, "weights 1:2:3, 6000 connections: %llu %llu %llu\n",
            (unsigned long long) f.peers[0].active, (unsigned long long) f.peers[1].active,
            (unsigned long long) f.peers[2].active);
    /* Loads by weight stay within a few connections of each other. */
    for (int i = 0; i < 3; i++) {
        int64_t dev = (int64_t) f.peers[i].active - 1000 * w[i];

        assert_true(dev >= -6 && dev <= 6);
    }
    fixture_fini(&f);
}

/* n held connections into m equal backends; the busiest's load. */
static uint64_t
max_load(const char *strategy, unsigned m, int n)
{
    struct fixture f;
    uint64_t       max = 0;

    fixture_init(&f, strategy, NULL, m);
    for (int k = 0; k < n; k++)
        assert_true(pick(&f, NULL, 1) >= 0);
    for (unsigned i = 0; i < m; i++)
        if (f.peers[i].active > max)
            max = f.peers[i].active;
    fixture_fini(&f);
    return max;
}

/*
 * Balls into bins, same seed: 10,000 into 100 (mean 100) and 100 into 100
 * (mean 1).  Random's busiest is about sqrt(2 mean ln m) above the mean
 * (+30) in the first, ln m / ln ln m (~3) in the second; two choices'
 * about ln ln m / ln 2 (~2) in both.
 */
static void
test_beats_random(void **state)
{
    static const struct { unsigned m; int n; } runs[] = { { 100, 10000 }, { 100, 100 },
                                                          { 10, 100000 } };

    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        uint64_t mean = (uint64_t) runs[r].n / runs[r].m;
        uint64_t rnd = max_load("random", runs[r].m, runs[r].n);
        uint64_t tc = max_load("two_choices", runs[r].m, runs[r].n);

        fprintf(stderr, "%d into %u (mean %llu): busiest random %llu, two_choices %llu\n",
                runs[r].n, runs[r].m, (unsigned long long) mean, (unsigned long long) rnd,
                (unsigned long long) tc);
        assert_true(tc < rnd);
        assert_true(tc - mean <= 4);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_never_the_more_loaded),
        cmocka_unit_test(test_most_loaded_never),
        cmocka_unit_test(test_ties_shared),
        cmocka_unit_test(test_skips_ineligible_and_tried),
        cmocka_unit_test(test_weights_honoured),
        cmocka_unit_test(test_beats_random),
    };
    return cmocka_run_group_tests_name("two_choices", tests, setup, NULL);
}
