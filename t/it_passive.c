/*
 * it_passive.c - what lbd does when backends fail without any active check:
 * the circuit breaker every worker feeds (ejection, back-off, the half-open
 * trial), bounded retries, the backup pool, fail-fast when nothing is left,
 * and slow start for a backend that was added.
 *
 * Backends run in banner mode (-b): the client reads which one lbd chose.
 * A "dead" backend is a free port nothing listens on: connects are refused
 * at once on loopback, and the error log names each attempt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN "passive-token-0123456789"

static struct h_lbd lbd;
static int          port, admin;

/* Start lbd (2 workers) with pool p over ports[0..n) and pool_extra in p's group. */
static void
start(const int *ports, int n, const char *pool_extra, const char *more_pools)
{
    char          extra[256], pools[1024], backends[512] = "";
    const char   *conf;
    size_t        off = 0;

    port = h_free_port();
    admin = h_free_port();
    for (int i = 0; i < n; i++)
        off += (size_t) snprintf(backends + off, sizeof(backends) - off,
                                 "%s{ address = \"127.0.0.1:%d\"; }", i ? ", " : "", ports[i]);
    snprintf(extra, sizeof(extra), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };",
             admin, TOKEN);
    snprintf(pools, sizeof(pools), "pools = ( { name = \"p\"; %s backends = ( %s ); }%s%s );",
             pool_extra, backends, more_pools ? ", " : "", more_pools ? more_pools : "");
    conf = h_write_file("lbd.conf",
        "worker_processes = 2;\n"
        "registry = \"%s\";\n"
        "pid_file = \"%s\";\n"
        "error_log = { path = \"%s\"; level = \"info\"; };\n"
        "timeouts = { connect = \"1s\"; idle = \"30s\"; shutdown = \"5s\"; };\n"
        "%s\n"
        "services = ( { name = \"t\"; listen = \"127.0.0.1:%d\"; pool = \"p\"; } );\n"
        "%s\n",
        h_path("lbd.db"), h_path("lbd.pid"), h_path("error.log"), extra, port, pools);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start(&lbd, conf, port, 2), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
}

struct log_arg {
    const char *a, *b;
};

static int
logged(void *arg)
{
    struct log_arg *l = arg;

    return h_log_count(lbd.error_log, 0, l->a, l->b, NULL) > 0;
}

/*
 * A dead backend is ejected after `failures` refusals in a row, gets no
 * connect attempt while ejected, fails its trial and is ejected for twice
 * as long, and comes back through a trial once it listens again.
 */
static void
test_ejection_and_trial(void **state)
{
    int            ports[2], attempts;
    char           name[64], dead[64];
    struct log_arg back = { "is back", NULL };

    ports[0] = h_free_port();
    ports[1] = h_free_port();
    assert_int_not_equal(h_testsrv(ports[0], "A", "-b"), -1);
    snprintf(dead, sizeof(dead), "connect() to 127.0.0.1:%d", ports[1]);
    start(ports, 2, "passive = { failures = 3; ejection = \"1s\"; max_ejection = \"8s\"; };",
          NULL);

    /* Every client is served (retries), and B is ejected after 3 refusals. */
    for (int i = 0; i < 20; i++) {
        h_banner(port, name, sizeof(name));
        assert_string_equal(name, "A");
    }
    assert_int_equal(h_log_wait(lbd.error_log, 3000, "ejected for 1000 ms after", NULL), 0);
    attempts = h_log_count(lbd.error_log, 0, dead, NULL);
    fprintf(stderr, "connect attempts to the dead backend before the ejection: %d\n", attempts);
    assert_true(attempts >= 3 && attempts <= 3 + 2);    /* each worker may race one in */

    /* Ejected: the next connections go to A without trying B. */
    for (int i = 0; i < 20; i++) {
        h_banner(port, name, sizeof(name));
        assert_string_equal(name, "A");
    }
    assert_true(h_log_count(lbd.error_log, 0, dead, NULL) <= attempts + 1);

    /* Still dead at the trial: ejected again, for twice as long. */
    for (int64_t end = h_now_ms() + 5000;
         h_now_ms() < end && h_log_count(lbd.error_log, 0, "failed its trial", "ejected for 2000 ms", NULL) == 0;
         h_msleep(100))
        h_banner(port, name, sizeof(name));
    assert_true(h_log_count(lbd.error_log, 0, "failed its trial", "ejected for 2000 ms", NULL) >= 1);

    /* It comes back: the trial succeeds and B takes connections again. */
    assert_int_not_equal(h_testsrv(ports[1], "B", "-b"), -1);
    for (int64_t end = h_now_ms() + 10000; h_now_ms() < end && !logged(&back); h_msleep(50))
        h_banner(port, name, sizeof(name));
    assert_true(logged(&back));
    {
        int got_b = 0;

        for (int i = 0; i < 40 && !got_b; i++) {
            h_banner(port, name, sizeof(name));
            got_b = strcmp(name, "B") == 0;
        }
        assert_true(got_b);
    }
}

/* A connect failure tries at most `retries` other backends, then gives up with a reason. */
static void
test_retries_are_bounded(void **state)
{
    int  ports[6];
    char name[64];
    int  failed = 0, served = 0;

    for (int i = 0; i < 6; i++)
        ports[i] = h_free_port();
    assert_int_not_equal(h_testsrv(ports[5], "live", "-b"), -1);
    /* Five dead, one live; passive detection off so that nothing is ejected. */
    start(ports, 6, "retries = 1; passive = { failures = 0; };", NULL);
    for (int i = 0; i < 60; i++) {
        int64_t t0 = h_now_ms();

        h_banner(port, name, sizeof(name));
        if (name[0] == '\0') {
            failed++;
            assert_true(h_now_ms() - t0 < 1000);        /* closed at once, no hang */
        } else {
            served++;
        }
    }
    fprintf(stderr, "retries = 1 over 5 dead of 6: %d served, %d closed\n", served, failed);
    assert_true(failed > 0 && served > 0);
    assert_true(h_log_count(lbd.error_log, 0, "retries used up", "tried 2 of 6", NULL) > 0);
    assert_int_equal(h_log_count(lbd.error_log, 0, "tried 3 of 6", NULL), 0);
}

/* No eligible backend in the pool: its backup pool serves; none there either: fail fast. */
static void
test_backup_pool_and_fail_fast(void **state)
{
    int  ports[1], spare = h_free_port();
    char name[64], more[256], path[128], resp[4096];

    ports[0] = h_free_port();
    assert_int_not_equal(h_testsrv(ports[0], "A", "-b"), -1);
    assert_int_not_equal(h_testsrv(spare, "S", "-b"), -1);
    snprintf(more, sizeof(more), "{ name = \"spare\"; backends = ( { address = "
             "\"127.0.0.1:%d\"; } ); }", spare);
    start(ports, 1, "backup = \"spare\";", more);

    h_banner(port, name, sizeof(name));
    assert_string_equal(name, "A");
    snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", ports[0]);
    assert_int_equal(h_http(admin, "PATCH", path, TOKEN, "{\"state\": \"drain\"}", resp,
                            sizeof(resp), 5000), 200);
    for (int64_t end = h_now_ms() + 3000; h_now_ms() < end; h_msleep(20)) {
        h_banner(port, name, sizeof(name));
        if (strcmp(name, "S") == 0)
            break;
    }
    assert_string_equal(name, "S");
    for (int i = 0; i < 10; i++) {
        h_banner(port, name, sizeof(name));
        assert_string_equal(name, "S");
    }

    /* The backup drained too: closed at once, and the log says why. */
    snprintf(path, sizeof(path), "/api/pools/spare/backends/127.0.0.1:%d", spare);
    assert_int_equal(h_http(admin, "PATCH", path, TOKEN, "{\"state\": \"drain\"}", resp,
                            sizeof(resp), 5000), 200);
    for (int64_t end = h_now_ms() + 3000; h_now_ms() < end; h_msleep(20)) {
        int64_t t0 = h_now_ms();

        h_banner(port, name, sizeof(name));
        if (name[0] == '\0') {
            assert_true(h_now_ms() - t0 < 1000);
            break;
        }
    }
    assert_string_equal(name, "");
    assert_int_equal(h_log_wait(lbd.error_log, 3000, "none is eligible", NULL), 0);
}

/* A backend added at runtime starts with a small share and ramps to its full one. */
static void
test_slow_start_ramps_an_added_backend(void **state)
{
    int  ports[2], c = h_free_port(), early = 0, late = 0;
    char name[64], body[128], resp[4096];

    ports[0] = h_free_port();
    ports[1] = h_free_port();
    assert_int_not_equal(h_testsrv(ports[0], "A", "-b"), -1);
    assert_int_not_equal(h_testsrv(ports[1], "B", "-b"), -1);
    assert_int_not_equal(h_testsrv(c, "C", "-b"), -1);
    start(ports, 2, "slow_start = \"3s\";", NULL);

    snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\"}", c);
    assert_int_equal(h_http(admin, "POST", "/api/pools/p/backends", TOKEN, body, resp,
                            sizeof(resp), 5000), 201);
    /* First, a share near a tenth of its weight (A and B: full). */
    for (int i = 0; i < 90; i++) {
        h_banner(port, name, sizeof(name));
        early += strcmp(name, "C") == 0;
    }
    h_msleep(3200);
    for (int i = 0; i < 90; i++) {
        h_banner(port, name, sizeof(name));
        late += strcmp(name, "C") == 0;
    }
    fprintf(stderr, "slow start: C got %d of 90 right after it was added, %d of 90 after 3 s\n",
            early, late);
    /* Full weight: 30 of 90 (round robin is exact per worker: +-2 for 2 workers). */
    assert_true(late >= 28 && late <= 32);
    assert_true(early < late / 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ejection_and_trial, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_retries_are_bounded, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_backup_pool_and_fail_fast, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_slow_start_ramps_an_added_backend, h_setup,
                                        h_teardown),
    };

    h_init(240);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
