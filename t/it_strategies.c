/*
 * it_strategies.c - random, least_conn and two_choices in the real lbd with
 * two workers, real banner backends (-b: each greets a connection with its
 * name, then echoes) and the admin API, and a strategy switched while
 * clients connect.
 *
 * Every figure is checked against a bound derived in the test's comment
 * with the odds of a false failure; nothing waits on timing: counts are
 * read back from the admin API (the shared-memory "active" of each
 * backend) with h_wait and a deadline.
 *
 * Held connections are opened one after another and each is waited for
 * until its banner arrives, which the backend sends only once lbd has
 * connected, that is after pick() and peer_hold(): so each pick sees every
 * earlier connection in the shared counts, whichever worker made it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

#define WORKERS 2
#define TOKEN   "strategies-token-0123456789abcdef"
#define NB      3

static const char *names[NB] = { "A", "B", "C" };
static int         bport[NB];
static int         port, admin;
static struct h_lbd lbd;

/* Banner backends "A", "B", "C" on fresh ports. */
static void
start_backends(void)
{
    for (int i = 0; i < NB; i++) {
        bport[i] = h_free_port();
        assert_int_not_equal(bport[i], -1);
        assert_int_not_equal(h_testsrv(bport[i], names[i], "-b"), -1);
    }
}

/*
 * lbd with WORKERS workers and an admin port, pool "p" over the first
 * nconf backends with weights (NULL: 1 each) and strategy.
 */
static void
start_lbd(const char *strategy, int nconf, const int *weights)
{
    struct h_conf c = { .workers = WORKERS, .backends = bport, .weights = weights,
                        .nbackends = nconf, .strategy = strategy };
    char          extra[256];
    const char   *conf;

    port = h_free_port();
    admin = h_free_port();
    assert_true(port != -1 && admin != -1);
    snprintf(extra, sizeof(extra), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };",
             admin, TOKEN);
    c.port = port;
    c.extra = extra;
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start(&lbd, conf, port, WORKERS), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
}

static int
api(const char *method, const char *path, const char *body, char *resp, size_t cap)
{
    return h_http(admin, method, path, TOKEN, body, resp, cap, 10000);
}

/* The index of backend name "X\n" in a reply, or -1. */
static int
backend_of(const char *reply)
{
    for (int i = 0; i < NB; i++)
        if (reply[0] == names[i][0] && reply[1] == '\n' && reply[2] == '\0')
            return i;
    return -1;
}

/*
 * Open a connection through lbd and keep it: returns the descriptor once
 * the backend's banner arrived, and which backend in *which.
 */
static int
hold(int *which)
{
    char    line[64];
    int     fd = h_connect(port, 5000);

    assert_int_not_equal(fd, -1);
    assert_true(h_recv_line(fd, line, sizeof(line), 5000) > 0);
    *which = backend_of(line);
    if (*which == -1)
        fprintf(stderr, "unexpected banner \"%s\"\n", line);
    assert_int_not_equal(*which, -1);
    return fd;
}

/*
 * The "active" count of each backend of pool "p" (shared memory, every
 * worker) into active[0..NB), -1 for one not in the pool; the strategy's
 * name into strategy (may be NULL).  0, or -1 when the API did not answer.
 */
static int
pool_state(int64_t *active, char *strategy, size_t cap)
{
    static char  resp[65536];
    json_t      *root, *backends, *b;
    json_error_t jerr;
    size_t       k;

    if (api("GET", "/api/pools/p", NULL, resp, sizeof(resp)) != 200)
        return -1;
    if ((root = json_loads(resp, 0, &jerr)) == NULL)
        return -1;
    for (int i = 0; i < NB; i++)
        active[i] = -1;
    if (strategy != NULL)
        snprintf(strategy, cap, "%s", json_string_value(json_object_get(root, "strategy")));
    backends = json_object_get(root, "backends");
    json_array_foreach(backends, k, b) {
        json_int_t p = json_integer_value(json_object_get(b, "port"));

        for (int i = 0; i < NB; i++)
            if (p == bport[i])
                active[i] = json_integer_value(json_object_get(b, "active"));
    }
    json_decref(root);
    return 0;
}

struct active_arg {
    const int64_t *want;
};

static int
active_is(void *arg)
{
    const struct active_arg *a = arg;
    int64_t                  got[NB];

    if (pool_state(got, NULL, 0) == -1)
        return 0;
    for (int i = 0; i < NB; i++)
        if (got[i] != a->want[i])
            return 0;
    return 1;
}

/* Wait until the API shows exactly want[] active (-1: not in the pool). */
static void
wait_active(int64_t a, int64_t b, int64_t c)
{
    const int64_t     want[NB] = { a, b, c };
    struct active_arg arg = { want };
    int64_t           got[NB];

    if (h_wait(active_is, &arg, 10000) == 0)
        return;
    pool_state(got, NULL, 0);
    fprintf(stderr, "active A %lld B %lld C %lld, want %lld %lld %lld\n", (long long) got[0],
            (long long) got[1], (long long) got[2], (long long) a, (long long) b, (long long) c);
    fail();
}

/* Connections accepted so far by the worker with this pid (GET /api/workers). */
static long
accepted_by(pid_t pid)
{
    static char  resp[65536];
    json_t      *root, *w;
    json_error_t jerr;
    size_t       k;
    long         n = -1;

    assert_int_equal(api("GET", "/api/workers", NULL, resp, sizeof(resp)), 200);
    root = json_loads(resp, 0, &jerr);
    assert_non_null(root);
    json_array_foreach(json_object_get(root, "workers"), k, w) {
        if (json_integer_value(json_object_get(w, "pid")) == pid)
            n = (long) json_integer_value(json_object_get(w, "accepted"));
    }
    json_decref(root);
    assert_int_not_equal(n, -1);
    return n;
}

/* SIGSTOP a worker and wait until it is stopped: from then on it accepts nothing. */
static void
stop_worker(pid_t pid)
{
    assert_int_equal(h_stop(pid, 5000), 0);
}

/* ------------------------------------------------------------------ */

/*
 * random, weights 1:2:3, N short connections: each backend's share within
 * 2 percentage points of 1/6, 2/6, 3/6.
 *
 * Why that cannot flake: a share p of N independent draws has standard
 * deviation sqrt(p (1 - p) / N).  With N = 10,000 that is 0.37 points for
 * p = 1/6 but 0.47 for 1/3 and 0.50 for 1/2, where 2 points is only 4
 * sigma (a false failure once in ~12,000 runs for the three shares).
 * N = 24,000 makes the largest 0.32 points: 2 points is 6.2 sigma or more
 * for every share, a false failure below 2e-9 for the three together.
 */
#define RANDOM_N 24000

/* total connections to strategy's pool with weights 1:2:3; each share within 2 points. */
static void
check_weights(const char *strategy, int total)
{
    static const int weights[NB] = { 1, 2, 3 };
    int              counts[NB] = { 0 }, failures = 0;
    int64_t          t0;

    start_backends();
    start_lbd(strategy, NB, weights);
    t0 = h_now_ms();
    for (int k = 0; k < total; k++) {
        char   resp[64];
        size_t n;
        int    i;

        if (h_request(port, "", 0, resp, sizeof(resp), &n, 5000) == -1
            || (i = backend_of(resp)) == -1) {
            if (failures++ < 10)
                fprintf(stderr, "connection %d: \"%s\" %s\n", k, resp, strerror(errno));
            continue;
        }
        counts[i]++;
    }
    fprintf(stderr, "%s: %d connections in %lld ms\n", strategy, total,
            (long long) (h_now_ms() - t0));
    assert_int_equal(failures, 0);
    for (int i = 0; i < NB; i++) {
        double share = 100.0 * counts[i] / total, exact = 100.0 * weights[i] / 6;

        fprintf(stderr, "backend %s (weight %d): %d connections, %.2f%% (exact %.2f%%)\n",
                names[i], weights[i], counts[i], share, exact);
        assert_true(share - exact <= 2.0 && exact - share <= 2.0);
    }
}

static void
test_random_weights(void **state)
{
    check_weights("random", RANDOM_N);
}

/*
 * round_robin over 10,000 connections: deterministic per worker (each is
 * within sum(weights) = 6 of its exact share), so the 2-point bound holds
 * with a margin of about 190 connections.
 */
static void
test_round_robin_weights(void **state)
{
    check_weights("round_robin", 10000);
}

/*
 * least_conn counts every worker's connections.  20 long connections are
 * made while the pool holds only A, all through worker 1 (worker 2 is
 * stopped, so only worker 1 accepts); then B and C join over the API and 20
 * more are made, the first 10 through worker 2 alone (whose own count of A
 * is 0: a per-worker count would send them to A), the next 10 through
 * worker 1 alone.  None may go to A, and B and C share them: A 20, B and C
 * 10 each (the opens are sequential, so exactly 10; the bound allows 2).
 */
static void
test_least_conn_global(void **state)
{
    pid_t   w[WORKERS];
    int     fds[40], got[NB] = { 0 }, which;
    long    before;
    char    body[128], resp[4096];
    int64_t active[NB];

    start_backends();
    start_lbd("least_conn", 1, NULL);
    assert_int_equal(h_lbd_workers(&lbd, w, WORKERS), WORKERS);

    before = accepted_by(w[0]);
    stop_worker(w[1]);
    for (int k = 0; k < 20; k++) {
        fds[k] = hold(&which);
        assert_int_equal(which, 0);
    }
    assert_int_equal(kill(w[1], SIGCONT), 0);
    assert_int_equal(accepted_by(w[0]) - before, 20);
    wait_active(20, -1, -1);

    for (int i = 1; i < NB; i++) {
        snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\"}", bport[i]);
        assert_int_equal(api("POST", "/api/pools/p/backends", body, resp, sizeof(resp)), 201);
    }
    wait_active(20, 0, 0);

    for (int half = 0; half < 2; half++) {
        pid_t serving = w[half == 0 ? 1 : 0], stopped = w[half == 0 ? 0 : 1];
        long  accepted;

        before = accepted_by(serving);
        stop_worker(stopped);
        for (int k = 0; k < 10; k++) {
            fds[20 + half * 10 + k] = hold(&which);
            got[which]++;
        }
        assert_int_equal(kill(stopped, SIGCONT), 0);
        accepted = accepted_by(serving) - before;
        fprintf(stderr, "worker %d alone accepted %ld; so far A %d, B %d, C %d\n",
                (int) serving, accepted, got[0], got[1], got[2]);
        assert_int_equal(accepted, 10);
    }
    assert_int_equal(got[0], 0);
    assert_true(got[1] >= 8 && got[1] <= 12);
    assert_true(got[2] >= 8 && got[2] <= 12);
    assert_int_equal(pool_state(active, NULL, 0), 0);
    fprintf(stderr, "API active: A %lld, B %lld, C %lld\n", (long long) active[0],
            (long long) active[1], (long long) active[2]);
    assert_int_equal(active[0], 20);
    assert_true(active[1] >= 8 && active[1] <= 12);
    assert_true(active[2] >= 8 && active[2] <= 12);
    assert_int_equal(active[1] + active[2], 20);
    for (int k = 0; k < 40; k++)
        close(fds[k]);
    wait_active(0, 0, 0);
}

/*
 * NHELD long connections through the current strategy of pool "p" over
 * three backends of weight 1.  Returns the gap (busiest - idlest) at the
 * end; *gap_sum gets the sum over the run of the gap after each
 * connection.  Closes them all and waits until the counts are back to 0.
 */
#define NHELD 300

static int
held_run(const char *strategy, long *gap_sum)
{
    static int fds[NHELD];
    int        load[NB] = { 0 }, which, gap = 0;

    *gap_sum = 0;
    for (int k = 0; k < NHELD; k++) {
        int max, min;

        fds[k] = hold(&which);
        load[which]++;
        max = min = load[0];
        for (int i = 1; i < NB; i++) {
            max = load[i] > max ? load[i] : max;
            min = load[i] < min ? load[i] : min;
        }
        gap = max - min;
        *gap_sum += gap;
    }
    fprintf(stderr, "%s: %d held connections: A %d, B %d, C %d; gap %d at the end, "
            "mean gap over the run %.2f\n", strategy, NHELD, load[0], load[1], load[2], gap,
            (double) *gap_sum / NHELD);
    wait_active(load[0], load[1], load[2]);
    for (int k = 0; k < NHELD; k++)
        close(fds[k]);
    wait_active(0, 0, 0);
    return gap;
}

/*
 * two_choices keeps 300 long connections over 3 backends within a small
 * gap, and far better balanced than random over the same run.
 *
 * The opens are sequential, so each pick sees exact counts: two_choices
 * is then a Markov chain on the sorted loads (draw an ordered pair of
 * distinct backends, 1/6 each; the less loaded, the first on a tie, gets
 * the connection), and random a multinomial.  Computed exactly (dynamic
 * programming over 300 steps):
 *   final gap of two_choices > 12:       probability 1.2e-11;
 *   sum over the run of two_choices' gap >= random's:  2.4e-14.
 * Comparing final gaps instead (two_choices <= random) would fail about
 * once in 750 runs: random ends with a gap of 3 or less 3.5% of the time.
 */
static void
test_two_choices_balance(void **state)
{
    char resp[4096];
    long tc_sum, rnd_sum;
    int  tc_gap;

    start_backends();
    start_lbd("two_choices", NB, NULL);
    tc_gap = held_run("two_choices", &tc_sum);
    assert_int_equal(api("PUT", "/api/pools/p/strategy", "{\"strategy\":\"random\"}", resp,
                         sizeof(resp)), 200);
    held_run("random", &rnd_sum);
    assert_true(tc_gap <= 12);
    assert_true(tc_sum < rnd_sum);
}

/* ------------------------------------------------------------------ */
/* A strategy switched under a running client loop. */

#define LOOP_MAX    20000   /* connections at most */
#define LOOP_MS     30000   /* and at most this long */

/*
 * The client loop (a child process): short connections one after another,
 * one byte per connection on out ('.' answered by a backend, 'x' not),
 * until stop_fd reads EOF, LOOP_MAX connections or LOOP_MS.
 */
static void
client_loop(int out, int stop_fd)
{
    int64_t end = h_now_ms() + LOOP_MS;

    fcntl(stop_fd, F_SETFL, O_NONBLOCK);
    for (int k = 0; k < LOOP_MAX && h_now_ms() < end; k++) {
        char   resp[64], c;
        size_t n;
        int    ok = h_request(port, "", 0, resp, sizeof(resp), &n, 5000) == 0
                    && backend_of(resp) != -1;

        c = ok ? '.' : 'x';
        if (write(out, &c, 1) != 1 || read(stop_fd, &c, 1) == 0)
            break;
    }
    _exit(0);
}

struct loop {
    int  fd;                /* the child's progress */
    long ok, bad;
};

/* Count what the child reported so far; 1 when it is done (EOF). */
static int
loop_read(struct loop *l)
{
    char    buf[4096];
    ssize_t n;

    while ((n = read(l->fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++)
            buf[i] == '.' ? l->ok++ : l->bad++;
    return n == 0;          /* EOF: the child is done */
}

struct loop_wait {
    struct loop *l;
    long         want;
};

static int
loop_reached(void *arg)
{
    struct loop_wait *a = arg;

    loop_read(a->l);
    return a->l->ok + a->l->bad >= a->want;
}

/*
 * round_robin to least_conn under a client loop: no connection fails
 * across the switch (200 before it, 200 after the PUT returned), and then
 * least_conn's behaviour shows: with A holding k long connections and B
 * and C none, the next 2k go to B and C only, k each (round robin would
 * give A a third of them).
 */
static void
test_switch_under_load(void **state)
{
    int              progress[2], stop[2], st, fds[64], nfds = 0, which, a_held;
    int              others[16], nothers = 0;
    int              got[NB] = { 0 };
    pid_t            child;
    struct loop      l = { 0 };
    struct loop_wait w = { &l, 200 };
    char             resp[4096], strategy[64];
    int64_t          active[NB];
    long             at_switch;

    start_backends();
    start_lbd(NULL, NB, NULL);
    assert_int_equal(pipe(progress), 0);
    assert_int_equal(pipe(stop), 0);
    child = fork();
    assert_int_not_equal(child, -1);
    if (child == 0) {
        close(progress[0]);
        close(stop[1]);
        client_loop(progress[1], stop[0]);
    }
    close(progress[1]);
    close(stop[0]);
    l.fd = progress[0];
    fcntl(l.fd, F_SETFL, O_NONBLOCK);

    assert_int_equal(h_wait(loop_reached, &w, 20000), 0);
    assert_int_equal(api("PUT", "/api/pools/p/strategy", "{\"strategy\":\"least_conn\"}", resp,
                         sizeof(resp)), 200);
    loop_read(&l);
    at_switch = l.ok + l.bad;
    w.want = at_switch + 200;
    assert_int_equal(h_wait(loop_reached, &w, 20000), 0);
    close(stop[1]);
    assert_int_equal(h_wait_exit(child, 10000, &st), 0);
    fcntl(l.fd, F_SETFL, 0);
    while (!loop_read(&l))
        ;
    close(l.fd);
    fprintf(stderr, "client loop: %ld connections answered, %ld not; %ld of them after the "
            "switch\n", l.ok, l.bad, l.ok + l.bad - at_switch);
    assert_int_equal(l.bad, 0);
    assert_true(l.ok - at_switch >= 200);

    assert_int_equal(pool_state(active, strategy, sizeof(strategy)), 0);
    assert_string_equal(strategy, "least_conn");
    wait_active(0, 0, 0);

    /* 15 long connections, least loaded first: 5 each.  Keep A's, close the rest. */
    for (int k = 0; k < 15; k++) {
        int fd = hold(&which);

        got[which]++;
        if (which == 0)
            fds[nfds++] = fd;
        else
            others[nothers++] = fd;
    }
    assert_int_equal(got[0], 5);
    assert_int_equal(got[1], 5);
    a_held = nfds;
    for (int k = 0; k < nothers; k++)
        close(others[k]);
    memset(got, 0, sizeof(got));
    wait_active(a_held, 0, 0);
    for (int k = 0; k < 2 * a_held; k++) {
        fds[nfds++] = hold(&which);
        got[which]++;
    }
    fprintf(stderr, "after the switch, A holding %d: the next %d went A %d, B %d, C %d\n",
            a_held, 2 * a_held, got[0], got[1], got[2]);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], a_held);
    assert_int_equal(got[2], a_held);
    for (int k = 0; k < nfds; k++)
        close(fds[k]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_weights, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_weights, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_least_conn_global, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_two_choices_balance, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_switch_under_load, h_setup, h_teardown),
    };

    h_init(300);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
