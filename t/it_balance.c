/*
 * it_balance.c - round robin spreads connections in proportion to the
 * weights, skips backends that refuse or do not answer, and closes the
 * client promptly when no backend is left.
 *
 * Backends run in banner mode (-b): they greet each connection with their
 * name, so the client sees which one lbd picked.
 *
 * The bound: each of W workers runs its own smooth weighted round robin,
 * which keeps every backend within sum(weights) of its exact share, so over
 * all workers a backend's count is within W * sum(weights) of
 * N * weight / sum(weights).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS 2
#define MAXB    4

static const char *names[MAXB] = { "A", "B", "C", "D" };

/*
 * Start lbd with WORKERS workers on a free port in front of backends
 * ports[0..n) with weights (NULL: all 1) and timeouts (NULL: default).
 * Returns lbd's port.
 */
static int
start_lbd(struct h_lbd *l, const int *ports, const int *weights, int n,
          const char *timeouts)
{
    struct h_conf c = { .workers = WORKERS, .backends = ports, .weights = weights,
                        .nbackends = n, .timeouts = timeouts };
    const char   *conf;

    c.port = h_free_port();
    assert_int_not_equal(c.port, -1);
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start(l, conf, c.port, WORKERS), 0);
    return c.port;
}

/* Start banner backends "A", "B"... on fresh ports into ports[0..n). */
static void
start_banners(int *ports, int n)
{
    for (int i = 0; i < n; i++) {
        ports[i] = h_free_port();
        assert_int_not_equal(ports[i], -1);
        assert_int_not_equal(h_testsrv(ports[i], names[i], "-b"), -1);
    }
}

/*
 * Make nconn connections one after another; count in counts[i] the replies
 * "names[i]\n".  Returns how many connections failed or got anything else.
 */
static int
spread(int port, int nconn, int *counts, int nnames)
{
    int failures = 0;

    memset(counts, 0, sizeof(int) * (size_t) nnames);
    for (int k = 0; k < nconn; k++) {
        char   resp[64];
        size_t n;
        int    i;

        if (h_request(port, "", 0, resp, sizeof(resp), &n, 5000) == -1) {
            fprintf(stderr, "connection %d: %s\n", k, strerror(errno));
            failures++;
            continue;
        }
        for (i = 0; i < nnames; i++) {
            if (n == 2 && resp[0] == names[i][0] && resp[1] == '\n') {
                counts[i]++;
                break;
            }
        }
        if (i == nnames) {
            fprintf(stderr, "connection %d: unexpected reply \"%s\"\n", k, resp);
            failures++;
        }
    }
    return failures;
}

/* Assert each count is within the bound of its weighted share of nconn. */
static void
assert_proportional(const int *counts, const int *weights, int n, int nconn)
{
    int sum = 0;

    for (int i = 0; i < n; i++)
        sum += weights[i];
    for (int i = 0; i < n; i++) {
        double expect = (double) nconn * weights[i] / sum;
        double dev = counts[i] - expect;

        fprintf(stderr, "backend %s (weight %d): %d connections, exact share %.1f\n",
                names[i], weights[i], counts[i], expect);
        assert_true(dev <= WORKERS * sum && -dev <= WORKERS * sum);
    }
}

/* 600 connections over 3 banner backends with these weights (NULL: 1 each). */
static void
check_spread(const int *conf_weights, const int *weights)
{
    int          ports[3], counts[3], port;
    struct h_lbd l;

    start_banners(ports, 3);
    port = start_lbd(&l, ports, conf_weights, 3, NULL);
    assert_int_equal(spread(port, 600, counts, 3), 0);
    assert_proportional(counts, weights, 3, 600);
}

/* Equal weights (the default): 600 connections split evenly over 3 backends. */
static void
test_round_robin_equal(void **state)
{
    static const int ones[3] = { 1, 1, 1 };

    check_spread(NULL, ones);
}

/* Weights 1:2:3 over 600 connections: 100, 200, 300 within the bound. */
static void
test_round_robin_weighted(void **state)
{
    static const int weights[3] = { 1, 2, 3 };

    check_spread(weights, weights);
}

/*
 * A backend whose port refuses connections sits between two live ones:
 * every client connection still succeeds, served by A or B.
 */
static void
test_dead_backend_skipped(void **state)
{
    int          ports[3], live[2], counts[2], port;
    struct h_lbd l;

    start_banners(live, 2);
    ports[0] = live[0];
    ports[1] = h_free_port();      /* nothing listens there */
    ports[2] = live[1];
    assert_int_not_equal(ports[1], -1);
    port = start_lbd(&l, ports, NULL, 3, NULL);
    assert_int_equal(spread(port, 300, counts, 2), 0);
    fprintf(stderr, "A %d, B %d\n", counts[0], counts[1]);
    assert_int_equal(counts[0] + counts[1], 300);
    assert_true(counts[0] > 0 && counts[1] > 0);
}

/*
 * A backend that never answers SYNs (a blackhole with a full accept queue)
 * is given up after timeouts.connect and the next one serves: no client
 * connection fails, and the slowest took about the connect timeout.
 */
static void
test_blackhole_backend_skipped(void **state)
{
    int          ports[3], live[2], port, failures = 0;
    int64_t      slowest = 0;
    struct h_lbd l;

    start_banners(live, 2);
    ports[0] = live[0];
    ports[1] = h_free_port();
    ports[2] = live[1];
    assert_int_not_equal(ports[1], -1);
    assert_int_not_equal(h_testsrv(ports[1], "X", "-x"), -1);
    assert_true(h_blackhole_fill(ports[1]) >= 1);
    port = start_lbd(&l, ports, NULL, 3,
                     "connect = \"300ms\"; idle = \"30s\"; shutdown = \"10s\";");

    /* 12 connections: some worker gets >= 6, so it picks X at least once. */
    for (int k = 0; k < 12; k++) {
        char    resp[64];
        size_t  n;
        int64_t t0 = h_now_ms(), dt;

        if (h_request(port, "", 0, resp, sizeof(resp), &n, 5000) == -1
            || !(strcmp(resp, "A\n") == 0 || strcmp(resp, "B\n") == 0)) {
            fprintf(stderr, "connection %d: \"%s\" %s\n", k, resp, strerror(errno));
            failures++;
        }
        dt = h_now_ms() - t0;
        if (dt > slowest)
            slowest = dt;
    }
    fprintf(stderr, "slowest connection: %lld ms\n", (long long) slowest);
    assert_int_equal(failures, 0);
    assert_true(slowest >= 250);       /* X was tried and timed out */
    assert_true(slowest < 2300);       /* ...once, not stuck in SYN retries */
}

/*
 * No backend left: lbd closes the client within 3 s (EOF or reset, not a
 * hang) and says "no backend" on stderr and in the error log.
 */
static void
test_all_backends_dead(void **state)
{
    int          ports[2], port, fd;
    int64_t      t0;
    ssize_t      got;
    struct h_lbd l;

    ports[0] = h_free_port();
    ports[1] = h_free_port();
    assert_true(ports[0] != -1 && ports[1] != -1);
    port = start_lbd(&l, ports, NULL, 2, NULL);

    t0 = h_now_ms();
    fd = h_connect(port, 3000);
    assert_int_not_equal(fd, -1);
    assert_int_equal(h_send_all(fd, "NAME\n", 5, 3000), 0);
    got = h_recv_eof(fd, 3000);
    if (got == -1)
        assert_int_not_equal(errno, ETIMEDOUT);   /* a reset is a close too */
    else
        assert_int_equal(got, 0);
    close(fd);
    fprintf(stderr, "closed after %lld ms\n", (long long) (h_now_ms() - t0));
    assert_true(h_now_ms() - t0 < 3000);
    /* Said on stderr, and (lbd -g logs to both) in the configured error_log. */
    assert_int_equal(h_log_wait(l.out, 3000, "no backend", NULL), 0);
    assert_int_equal(h_log_wait(l.error_log, 1000, "no backend", NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_robin_equal, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_weighted, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_dead_backend_skipped, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_blackhole_backend_skipped, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_all_backends_dead, h_setup, h_teardown),
    };

    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
