/*
 * test_random.c - weighted random: shares follow the weights, ineligible
 * and tried peers are never drawn, a seed replays, and two workers seeded
 * at the same moment draw different sequences.
 *
 * LBD_RANDOM_SEED fixes the generator's seed at init (lbd_strategy_util.h),
 * so every figure here is the same on every run: the bounds are those a
 * fair draw meets with overwhelming odds, checked once for this seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lbd.h"

#define MAXP 8
#define SEED "20240611"

#include "strategy_fixture.h"

static void
pool_init(struct fixture *f, const int *weights, unsigned n)
{
    fixture_init(f, "random", weights, n);
}

static int
pick(struct fixture *f, const uint64_t *tried)
{
    struct lbd_pick  ctx = { .tried = tried, .now_ms = 1000 };
    struct lbd_peer *p = f->pool.strategy->pick(&f->pool, &ctx);

    return p ? (int) p->index : -1;
}

static int
setup(void **state)
{
    lbd_modules_register();
    return 0;
}

static int
seeded(void **state)
{
    return setenv("LBD_RANDOM_SEED", SEED, 1);
}

static int
unseeded(void **state)
{
    return unsetenv("LBD_RANDOM_SEED");
}

/*
 * n draws over weights w[0..np): each share within 2 percentage points of
 * w_i / sum and within 5 standard deviations of the binomial count
 * (dev^2 <= 25 n p (1 - p): no libm), printed.
 */
static void
check_shares(struct fixture *f, const int *w, const int *eligible, unsigned np, int n)
{
    int    count[MAXP] = { 0 }, sum = 0;

    for (unsigned i = 0; i < np; i++)
        sum += eligible[i] ? w[i] : 0;
    for (int k = 0; k < n; k++) {
        int p = pick(f, NULL);

        assert_true(p >= 0 && p < (int) np);
        assert_true(eligible[p]);
        count[p]++;
    }
    for (unsigned i = 0; i < np; i++) {
        double p = eligible[i] ? (double) w[i] / sum : 0;
        double dev = count[i] - n * p, var = n * p * (1 - p);
        double off = 100.0 * count[i] / n - 100 * p;

        fprintf(stderr, "peer %u weight %d: %d of %d (%.3f%%, exact %.3f%%, dev^2/var %.2f)\n",
                i, w[i], count[i], n, 100.0 * count[i] / n, 100 * p,
                var > 0 ? dev * dev / var : 0);
        assert_true(off <= 2.0 && off >= -2.0);
        assert_true(dev * dev <= 25 * var);
    }
}

/* Weights 1:2:3 over 100,000 draws. */
static void
test_weights_honoured(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 2, 3 }, all[] = { 1, 1, 1 };

    pool_init(&f, w, 3);
    check_shares(&f, w, all, 3, 100000);
    fixture_fini(&f);
}

/* A draining and a down peer take nothing; the others keep their ratio. */
static void
test_skips_ineligible(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 5, 3, 4, 2 }, ok[] = { 1, 0, 1, 0, 1 };

    pool_init(&f, w, 5);
    f.peers[1].draining = 1;
    f.peers[3].down = 1;
    check_shares(&f, w, ok, 5, 100000);
    f.peers[0].down = f.peers[2].down = f.peers[4].draining = 1;
    assert_int_equal(pick(&f, NULL), -1);
    fixture_fini(&f);
}

/* Tried peers are never drawn again, whatever their weight; all tried: NULL. */
static void
test_skips_tried(void **state)
{
    struct fixture f;
    const int      w[] = { 100, 1, 1, 1 };

    pool_init(&f, w, 4);
    for (int run = 0; run < 1000; run++) {
        uint64_t tried = 0;

        for (int i = 0; i < 4; i++) {
            int p = pick(&f, &tried);

            assert_true(p >= 0);
            assert_false(lbd_bit_test(&tried, (unsigned) p));
            lbd_bit_set(&tried, (unsigned) p);
        }
        assert_int_equal(tried, 15);
        assert_int_equal(pick(&f, &tried), -1);
    }
    fixture_fini(&f);
}

/* One eligible peer: always it.  No peer: NULL. */
static void
test_one_and_none(void **state)
{
    struct fixture f;
    const int      w[] = { 1, 7, 1 };

    pool_init(&f, w, 3);
    f.peers[0].down = f.peers[2].down = 1;
    for (int i = 0; i < 100; i++)
        assert_int_equal(pick(&f, NULL), 1);
    fixture_fini(&f);
    pool_init(&f, NULL, 0);
    assert_int_equal(pick(&f, NULL), -1);
    fixture_fini(&f);
}

/* The same seed replays the same draws. */
static void
test_seed_replays(void **state)
{
    struct fixture a, b;
    const int      w[] = { 1, 1, 1, 1, 1, 1, 1, 1 };

    pool_init(&a, w, 8);
    pool_init(&b, w, 8);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pick(&a, NULL), pick(&b, NULL));
    fixture_fini(&a);
    fixture_fini(&b);
}

/*
 * Two workers forked from one master, started at once and unseeded: their
 * first 32 draws over 8 equal peers differ (equal by chance: 8^-32).
 */
static void
test_workers_differ(void **state)
{
    char  seq[2][33];
    int   fds[2][2];
    pid_t pid[2];

    for (int w = 0; w < 2; w++) {
        assert_int_equal(pipe(fds[w]), 0);
        pid[w] = fork();
        assert_int_not_equal(pid[w], -1);
        if (pid[w] == 0) {
            struct fixture f;
            const int      ones[] = { 1, 1, 1, 1, 1, 1, 1, 1 };
            char           out[32];

            pool_init(&f, ones, 8);
            for (int i = 0; i < 32; i++)
                out[i] = (char) ('0' + pick(&f, NULL));
            _exit(write(fds[w][1], out, sizeof(out)) == (ssize_t) sizeof(out) ? 0 : 1);
        }
        close(fds[w][1]);
    }
    for (int w = 0; w < 2; w++) {
        int st;

        assert_int_equal(read(fds[w][0], seq[w], 32), 32);
        seq[w][32] = '\0';
        close(fds[w][0]);
        assert_int_equal(waitpid(pid[w], &st, 0), pid[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    fprintf(stderr, "worker 1: %s\nworker 2: %s\n", seq[0], seq[1]);
    assert_string_not_equal(seq[0], seq[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_weights_honoured, seeded),
        cmocka_unit_test_setup(test_skips_ineligible, seeded),
        cmocka_unit_test_setup(test_skips_tried, seeded),
        cmocka_unit_test_setup(test_one_and_none, seeded),
        cmocka_unit_test_setup(test_seed_replays, seeded),
        cmocka_unit_test_setup(test_workers_differ, unseeded),
    };
    return cmocka_run_group_tests_name("random", tests, setup, NULL);
}
