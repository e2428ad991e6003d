/*
 * test_ewma.c - peak EWMA with the power of two choices: a slow peer loses
 * its traffic, the peak rises at once and decays with tau (time goes through
 * ctx->now_ms), outstanding connections and weights count, a failed connect
 * counts as slow, a peer never observed is still tried.
 *
 * The draws are random, but every assertion holds whatever pairs are drawn:
 * with two peers both are always compared, and with more the slow peer
 * loses against any other.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lbd.h"

#define MAXP   8
#define TAU_MS 10000.0      /* the module's time constant */

#include "strategy_fixture.h"

static const struct lbd_strategy *ewma;

static void
pool_init(struct fixture *f, const int *weights, unsigned n)
{
    fixture_init(f, "ewma", weights, n);
}

static int
pick(struct fixture *f, int64_t now_ms, const uint64_t *tried)
{
    struct lbd_pick  ctx = { .now_ms = now_ms, .tried = tried };
    struct lbd_peer *p = ewma->pick(&f->pool, &ctx);

    return p ? (int) p->index : -1;
}

/* Pick at now_ms and report the connect as taking lat_us[peer].  The peer. */
static int
pick_connect(struct fixture *f, int64_t now_ms, const int64_t *lat_us)
{
    int i = pick(f, now_ms, NULL);

    assert_true(i >= 0);
    ewma->connected(&f->pool, &f->peers[i], lat_us[i]);
    return i;
}

/* An observation of peer i at now_ms (a pick first, to set the time). */
static void
observe(struct fixture *f, int i, int64_t now_ms, int64_t lat_us)
{
    (void) pick(f, now_ms, NULL);
    ewma->connected(&f->pool, &f->peers[i], lat_us);
}

static int
setup(void **state)
{
    lbd_modules_register();
    ewma = lbd_strategy_find("ewma");
    return ewma == NULL ? -1 : 0;
}

/*
 * Three peers, B connects in 50 ms, A and C in 1 ms; a pick every 10 ms for
 * 10 s: B gets its first connection or so (before it is known), then none.
 */
static void
test_slow_peer_avoided(void **state)
{
    static const int64_t lat[3] = { 1000, 50000, 1000 };
    struct fixture       f;
    int                  count[3] = { 0 };

    pool_init(&f, NULL, 3);
    for (int k = 0; k < 1000; k++)
        count[pick_connect(&f, 1000 + k * 10, lat)]++;
    fprintf(stderr, "1,000 picks: A %d, B (slow) %d, C %d\n", count[0], count[1], count[2]);
    assert_true(count[0] + count[2] > 900);
    assert_true(count[1] <= 1);         /* observed at its first pick */
    assert_true(count[0] > 300 && count[2] > 300);
    fixture_fini(&f);
}

/*
 * The first time t >= from (stepping 100 ms) when B (peer 1) wins against A,
 * whose 1 ms connects keep its estimate fresh.  -1 if not before until.
 */
static int64_t
first_b(struct fixture *f, int64_t from, int64_t until)
{
    static const int64_t lat[2] = { 1000, 0 };

    for (int64_t t = from; t < until; t += 100) {
        int i = pick(f, t, NULL);

        if (i == 1)
            return t;
        ewma->connected(&f->pool, &f->peers[0], lat[0]);
    }
    return -1;
}

/*
 * The peak: one 50 ms connect of B among 1 ms ones raises its estimate to
 * 50 ms at once, and a fast one right after barely lowers it.  Unobserved,
 * the estimate decays with tau: B is tried again when 50 ms * exp(-t / tau)
 * falls below A's 1 ms, at t = tau * ln(50) = 39.1 s.  An observation of 1 ms
 * 10 s after the peak blends: 50 ms * e^-1 + 1 ms * (1 - e^-1) = 19.0 ms,
 * which decays below 1 ms tau * ln(19.0) = 29.5 s later.
 */
static void
test_peak_and_decay(void **state)
{
    struct fixture f;
    int64_t        t0 = 5000, t, want;
    double         blend;

    pool_init(&f, NULL, 2);
    for (int k = 0; k < 20; k++) {
        observe(&f, 0, k * 100, 1000);
        observe(&f, 1, k * 100, 1000);
    }
    observe(&f, 1, t0, 50000);
    assert_int_equal(pick(&f, t0, NULL), 0);
    ewma->connected(&f.pool, &f.peers[0], 1000);

    /* A fast connect 1 s later: 50 * e^-0.1 + 1 * (1 - e^-0.1) = 45.3 ms. */
    observe(&f, 1, t0 + 1000, 1000);
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, t0 + 1000, NULL), 0);

    t = first_b(&f, t0 + 1000, t0 + 120000);
    blend = 50000 * exp(-1000 / TAU_MS) + 1000 * (1 - exp(-1000 / TAU_MS));
    want = t0 + 1000 + (int64_t) (TAU_MS * log(blend / 1000));
    fprintf(stderr, "after the peak B is tried again %.1f s later (expected %.1f s)\n",
            (t - t0) / 1000.0, (want - t0) / 1000.0);
    assert_true(t != -1 && llabs(t - want) <= 500);

    /* Peak again, then 1 ms 10 s later: the blend, then its decay. */
    observe(&f, 1, t, 50000);
    assert_int_equal(first_b(&f, t, t + 10000), -1);
    observe(&f, 1, t + 10000, 1000);
    blend = 50000 * exp(-1.0) + 1000 * (1 - exp(-1.0));
    want = t + 10000 + (int64_t) (TAU_MS * log(blend / 1000));
    t = first_b(&f, t + 10000, t + 120000);
    fprintf(stderr, "after a blend of %.1f ms B is tried again at %.1f s (expected %.1f s)\n",
            blend / 1000, t / 1000.0, want / 1000.0);
    assert_true(t != -1 && llabs(t - want) <= 500);
    fixture_fini(&f);
}

/*
 * cost = latency * (outstanding + 1) / weight: with equal latencies the
 * peer with fewer open connections wins; a weight of 3 carries three times
 * the connections for the same cost.
 */
static void
test_outstanding_and_weight(void **state)
{
    static const int weights[2] = { 3, 1 };
    struct fixture   f;

    pool_init(&f, NULL, 2);
    observe(&f, 0, 0, 1000);
    observe(&f, 1, 0, 1000);
    f.peers[0].active = 2;
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, 0, NULL), 1);
    f.peers[1].active = 3;
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, 0, NULL), 0);
    /* Twice as slow but idle beats busy: 2 * 1 < 1 * 4. */
    observe(&f, 1, 1, 2000);
    f.peers[0].active = 3;
    f.peers[1].active = 0;
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, 1, NULL), 1);
    fixture_fini(&f);

    pool_init(&f, weights, 2);
    observe(&f, 0, 0, 1000);
    observe(&f, 1, 0, 1000);
    f.peers[0].active = 1;          /* 1 * 2 / 3 < 1 * 1 / 1 */
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, 0, NULL), 0);
    f.peers[0].active = 3;          /* 1 * 4 / 3 > 1 */
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, 0, NULL), 1);
    fixture_fini(&f);
}

/* A failed connect counts as a 1 s one: the peer loses against a 1 ms one. */
static void
test_failure_counts_as_slow(void **state)
{
    struct fixture f;

    pool_init(&f, NULL, 2);
    observe(&f, 0, 0, 1000);
    observe(&f, 1, 0, 500);
    assert_int_equal(pick(&f, 0, NULL), 1);
    ewma->release(&f.pool, &f.peers[1], LBD_PEER_CONNECT_FAILED);
    for (int k = 0; k < 20; k++)
        assert_int_equal(pick(&f, 0, NULL), 0);
    /* An ordinary end of a connection is no observation. */
    ewma->release(&f.pool, &f.peers[0], LBD_PEER_OK);
    assert_int_equal(pick(&f, 0, NULL), 0);
    fixture_fini(&f);
}

/*
 * A peer never observed is tried as soon as it is drawn, once: with no
 * connection of this worker open to it, it costs nothing.  While that first
 * connect is open it counts as the mean of the others: between a 1 ms and a
 * 3 ms one it costs 2 ms, so it wins against the slow one only.
 * (Whichever pairs are drawn, except that C must be drawn with B once in 100
 * picks and with someone in more than 20: (2/3)^100 and about 1e-20.)
 */
static void
test_unobserved_peer_tried(void **state)
{
    static const int64_t lat[3] = { 1000, 3000, 1000 };
    struct fixture       f;
    int                  count[3] = { 0 };

    pool_init(&f, NULL, 2);
    assert_int_equal(pick_connect(&f, 0, lat) + pick_connect(&f, 1, lat), 1);
    fixture_fini(&f);

    pool_init(&f, NULL, 3);
    observe(&f, 0, 0, 1000);
    observe(&f, 1, 0, 3000);
    for (int k = 0; k < 100; k++)
        count[pick(&f, 0, NULL)]++;
    fprintf(stderr, "never observed C against A (1 ms) and B (3 ms): A %d, B %d, C %d\n",
            count[0], count[1], count[2]);
    assert_int_equal(count[1], 0);
    assert_true(count[2] > 20);         /* every pair it is in: 2/3 of them */

    /* Its first connect under way, and one to B: C 2 ms * 2 < B 3 ms * 2. */
    f.peers[2].active = 1;
    f.peers[1].active = 1;
    memset(count, 0, sizeof(count));
    for (int k = 0; k < 100; k++)
        count[pick(&f, 0, NULL)]++;
    fprintf(stderr, "...while its first connect is open: A %d, B %d, C %d\n",
            count[0], count[1], count[2]);
    assert_true(count[0] > 0 && count[2] > 0);
    assert_int_equal(count[1], 0);
    fixture_fini(&f);
}

/* Tried and ineligible peers are skipped; none left gives NULL. */
static void
test_skips_tried_and_down(void **state)
{
    struct fixture f;
    uint64_t       tried = 0;
    int            seen = 0;

    pool_init(&f, NULL, 4);
    f.peers[2].down = 1;
    for (int t = 0; t < 3; t++) {
        int i = pick(&f, 0, &tried);

        assert_true(i >= 0 && i != 2);
        assert_false(lbd_bit_test(&tried, (unsigned) i));
        lbd_bit_set(&tried, (unsigned) i);
        seen |= 1 << i;
    }
    assert_int_equal(seen, 0xb);
    assert_int_equal(pick(&f, 0, &tried), -1);
    f.peers[0].draining = f.peers[1].down = f.peers[3].down = 1;
    assert_int_equal(pick(&f, 0, NULL), -1);
    fixture_fini(&f);

    pool_init(&f, NULL, 0);
    assert_int_equal(pick(&f, 0, NULL), -1);
    fixture_fini(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_peer_avoided),
        cmocka_unit_test(test_peak_and_decay),
        cmocka_unit_test(test_outstanding_and_weight),
        cmocka_unit_test(test_failure_counts_as_slow),
        cmocka_unit_test(test_unobserved_peer_tried),
        cmocka_unit_test(test_skips_tried_and_down),
    };
    return cmocka_run_group_tests_name("ewma", tests, setup, NULL);
}
