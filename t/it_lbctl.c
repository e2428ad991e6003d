/*
 * pending_it_lbctl.c - lbctl against the real admin API (src/lbd_api.h):
 * lbd runs with an admin group and a registry, lbctl reads, adds, re-weights,
 * drains, enables, disables and removes backends, switches the strategy,
 * reads the events, and says why when the token is wrong, the backend
 * unknown, the change refused or the server not there.
 *
 * PENDING: written against the contract before the API exists, so it fails
 * until the API lands.  "make check-pending" builds and runs it; make check
 * does not.  When the API is merged: git mv t/pending_it_lbctl.c t/it_lbctl.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"
#include "lbctl_run.h"

#define WORKERS 2
#define TOKEN   "0123456789abcdef0123"

static int          port;       /* the service */
static int          aport;      /* the admin API */
static int          a, b;       /* backends "A" (in the file) and "B" (added at runtime) */
static char         url[64], addr_a[32], addr_b[32];
static const char  *conf;

static int
api_ready(void *arg)
{
    return lbctl_run("--url", url, "status", NULL) == 0;
}

/*
 * Backends A and B running, lbd in front of A only, with the admin API on
 * aport and the registry in the temp dir.  Returns once the API answers.
 */
static void
start(void)
{
    char          extra[512];
    struct h_conf c = { .workers = WORKERS, .nbackends = 1, .extra = extra };
    const char   *argv[5];
    pid_t         lbd;

    a = h_free_port();
    b = h_free_port();
    aport = h_free_port();
    port = c.port = h_free_port();
    assert_true(a != -1 && b != -1 && aport != -1 && port != -1);
    assert_int_not_equal(h_testsrv(a, "A", NULL), -1);
    assert_int_not_equal(h_testsrv(b, "B", NULL), -1);
    snprintf(extra, sizeof(extra),
             "admin = { listen = \"127.0.0.1:%d\"; token = \"" TOKEN "\"; };\n", aport);
    c.backends = &a;
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", aport);
    snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%d", a);
    snprintf(addr_b, sizeof(addr_b), "127.0.0.1:%d", b);

    /* Not h_lbd_start: the master may have more children than its workers. */
    argv[0] = h_lbd_bin();
    argv[1] = "-g";
    argv[2] = "-c";
    argv[3] = conf;
    argv[4] = NULL;
    lbd = h_spawn(argv, h_path("lbd.out"));
    assert_int_not_equal(lbd, -1);
    if (h_wait_listening(port, 1, 10000) == -1 || h_wait_listening(aport, 1, 10000) == -1
        || h_wait(api_ready, NULL, 10000) == -1) {
        h_dump(h_path("lbd.out"));
        fail_msg("lbd with an admin API on %d did not come up", aport);
    }
}

/* The backends of pool p as JSON (lbctl --json backends p); the caller frees. */
static json_t *
backends_json(void)
{
    json_t      *j;
    json_error_t e;

    assert_int_equal(lbctl_run("--url", url, "--json", "backends", "p", NULL), 0);
    j = json_loads(lbctl_out, 0, &e);
    if (j == NULL)
        fail_msg("lbctl --json backends: not JSON: %s", e.text);
    return j;
}

/* The backend of pool p at address, from the API (borrowed from *all), or NULL. */
static json_t *
find_backend(json_t **all, const char *address)
{
    size_t  i;
    json_t *be;

    *all = backends_json();
    json_array_foreach(json_object_get(*all, "backends"), i, be)
        if (json_is_string(json_object_get(be, "address"))
            && strcmp(json_string_value(json_object_get(be, "address")), address) == 0)
            return be;
    return NULL;
}

/* The backend at address has weight and state (and exists). */
static void
assert_backend(const char *address, int weight, const char *state)
{
    json_t *all, *be = find_backend(&all, address);

    assert_non_null(be);
    assert_int_equal(json_integer_value(json_object_get(be, "weight")), weight);
    assert_string_equal(json_string_value(json_object_get(be, "state")), state);
    json_decref(all);
}

struct names {
    int seen_a, seen_b;
};

/* 20 NAME requests: which backends answered. */
static void
spread(struct names *n)
{
    n->seen_a = n->seen_b = 0;
    for (int i = 0; i < 20; i++) {
        char   resp[64];
        size_t len;

        assert_int_equal(h_request(port, "NAME\n", 5, resp, sizeof(resp), &len, 5000), 0);
        n->seen_a += strcmp(resp, "A\n") == 0;
        n->seen_b += strcmp(resp, "B\n") == 0;
    }
}

static int
both_serve(void *arg)
{
    struct names n;

    spread(&n);
    return n.seen_a > 0 && n.seen_b > 0;
}

static int
only_a_serves(void *arg)
{
    struct names n;

    spread(&n);
    return n.seen_a == 20;
}

/* status, backends, events and --json read what the file declared. */
static void
test_read(void **state)
{
    json_t      *j;
    json_error_t e;

    start();
    assert_int_equal(lbctl_run("--url", url, "status", NULL), 0);
    assert_non_null(strstr(lbctl_out, "pool p  strategy round_robin"));
    assert_non_null(strstr(lbctl_out, "ID  ADDRESS"));
    assert_non_null(strstr(lbctl_out, "WEIGHT  STATE  HEALTH"));
    assert_non_null(strstr(lbctl_out, addr_a));
    assert_non_null(strstr(lbctl_out, "config"));
    assert_string_equal(lbctl_err, "");

    assert_int_equal(lbctl_run("--url", url, "backends", "p", NULL), 0);
    assert_true(strncmp(lbctl_out, "ID  ADDRESS", 11) == 0);
    assert_non_null(strstr(lbctl_out, addr_a));

    assert_int_equal(lbctl_run("--url", url, "--json", "status", NULL), 0);
    j = json_loads(lbctl_out, 0, &e);
    assert_non_null(j);
    assert_true(json_is_integer(json_object_get(j, "generation")));
    assert_int_equal(json_array_size(json_object_get(j, "pools")), 1);
    json_decref(j);

    assert_backend(addr_a, 1, "up");
    assert_int_equal(lbctl_run("--url", url, "events", "--limit", "5", NULL), 0);
}

/* Every change, seen in the API and in where connections go. */
static void
test_changes(void **state)
{
    json_t      *all, *be, *j;
    json_error_t e;
    char         id[32];

    start();

    /* add B with weight 3: the token comes from lbd's own config file. */
    assert_int_equal(lbctl_run("--config", conf, "add", "p", addr_b, "--weight", "3", NULL), 0);
    assert_true(strncmp(lbctl_out, "ID  ADDRESS", 11) == 0);
    assert_non_null(strstr(lbctl_out, addr_b));
    assert_non_null(strstr(lbctl_out, "api"));
    assert_backend(addr_b, 3, "up");
    assert_int_equal(h_wait(both_serve, NULL, 5000), 0);

    /* weight by id */
    be = find_backend(&all, addr_b);
    assert_non_null(be);
    snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(be, "id")));
    json_decref(all);
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "weight", "p", id, "5", NULL), 0);
    assert_backend(addr_b, 5, "up");

    /* drain by address: new connections go to A only */
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "drain", "p", addr_b, NULL), 0);
    assert_non_null(strstr(lbctl_out, "drain"));
    assert_backend(addr_b, 5, "drain");
    assert_int_equal(h_wait(only_a_serves, NULL, 5000), 0);

    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "enable", "p", addr_b, NULL), 0);
    assert_backend(addr_b, 5, "up");
    assert_int_equal(h_wait(both_serve, NULL, 5000), 0);

    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "disable", "p", addr_b, NULL), 0);
    assert_backend(addr_b, 5, "disabled");
    assert_int_equal(h_wait(only_a_serves, NULL, 5000), 0);

    /* --json answers are the API's JSON */
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "--json", "enable", "p", addr_b,
                               NULL), 0);
    j = json_loads(lbctl_out, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "up");
    json_decref(j);

    /* remove: gone from the API and from the traffic */
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "remove", "p", addr_b, NULL), 0);
    assert_null(find_backend(&all, addr_b));
    json_decref(all);
    assert_int_equal(h_wait(only_a_serves, NULL, 5000), 0);

    /* strategy: the one compiled in is accepted, an unknown one refused */
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "strategy", "p", "round_robin",
                               NULL), 0);
    assert_non_null(strstr(lbctl_out, "pool p  strategy round_robin"));
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "strategy", "p", "no_such",
                               NULL), 1);
    lbctl_assert_error("lbctl: 400: ");

    /* the events tell the story, newest first */
    assert_int_equal(lbctl_run("--url", url, "events", NULL), 0);
    assert_true(strncmp(lbctl_out, "ID  AT", 6) == 0);
    assert_non_null(strstr(lbctl_out, addr_b));
}

/* Refusals: one line each, "lbctl: STATUS: the API's message", exit 1. */
static void
test_refusals(void **state)
{
    char nowhere[64];
    int  free_port;

    start();
    /* a wrong token, and none at all */
    assert_int_equal(lbctl_run("--url", url, "--token", "wrongwrongwrongwrong", "drain", "p",
                               addr_a, NULL), 1);
    lbctl_assert_error("lbctl: 401: ");
    assert_int_equal(lbctl_run("--url", url, "drain", "p", addr_a, NULL), 1);
    lbctl_assert_error("lbctl: 401: ");
    assert_backend(addr_a, 1, "up");

    /* an unknown pool, an unknown backend */
    assert_int_equal(lbctl_run("--url", url, "backends", "nope", NULL), 1);
    lbctl_assert_error("lbctl: 404: ");
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "drain", "p", "127.0.0.1:1",
                               NULL), 1);
    lbctl_assert_error("lbctl: 404: ");

    /* the file owns A: the API may not remove it; a duplicate is refused */
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "remove", "p", addr_a, NULL), 1);
    lbctl_assert_error("lbctl: 409: ");
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "add", "p", addr_a, NULL), 1);
    lbctl_assert_error("lbctl: 409: ");

    /* out of range */
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "weight", "p", addr_a, "0",
                               NULL), 1);
    lbctl_assert_error("lbctl: 400: ");
    assert_int_equal(lbctl_run("--url", url, "--token", TOKEN, "add", "p", addr_b,
                               "--state", "sideways", NULL), 1);
    lbctl_assert_error("lbctl: 400: ");

    /* no server there */
    free_port = h_free_port();
    snprintf(nowhere, sizeof(nowhere), "http://127.0.0.1:%d", free_port);
    assert_int_equal(lbctl_run("--url", nowhere, "status", NULL), 1);
    snprintf(nowhere, sizeof(nowhere), "lbctl: cannot connect to 127.0.0.1:%d: "
             "Connection refused\n", free_port);
    assert_string_equal(lbctl_err, nowhere);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_changes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, h_setup, h_teardown),
    };

    unsetenv("LBD_URL");
    unsetenv("LBD_TOKEN");
    unsetenv("LBD_CONF");
    h_init(180);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
