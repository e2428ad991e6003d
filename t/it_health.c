/*
 * it_health.c - active health checks as users meet them: a real lbd with
 * two workers, real backends (lbd-testsrv), real clients.
 *
 * Banner backends (-b) greet each connection with their name, so a client
 * sees which backend took it; http backends (-H STATUS) answer any request
 * with that status and the body "ok".  A connection that lbd tries on a
 * dead backend leaves a "connect() to HOST:PORT" line in the error log (it
 * then fails over): counting those lines says whether any connection went
 * to the dead backend.
 *
 * Every wait is for a condition with a deadline.  The figures the tests
 * print (how long until a backend is out, or in again) run from the
 * signal or the start to the verdict's events row (events.at, wall clock
 * in ms), so the harness's own polling is not in them; they are bounded
 * generously, the assertions that matter are about which backend answered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS  2
#define TOKEN    "test-token-0123456789abcdef"
#define TOKEN2   "test-token-changed-98765432"
#define INTERVAL 200
#define FALL     2
#define RISE     2
#define TCP_CHECK "health_check = { type = \"tcp\"; interval = \"200ms\"; timeout = \"100ms\"; " \
                  "rise = 2; fall = 2; };"
#define HTTP_CHECK(more) "health_check = { type = \"http\"; interval = \"200ms\"; " \
                  "timeout = \"100ms\"; rise = 2; fall = 2; path = \"/health\"; " \
                  "status = \"200-399\"; " more " };"

static struct h_lbd lbd;
static int          port, admin;
static const char  *db;

/* Backends "A", "B" on fresh ports. */
static int          bport[2];
static pid_t        bpid[2];
static const char  *bname[2] = { "A", "B" };

static void
start_backend(int i, const char *flags)
{
    bpid[i] = h_testsrv(bport[i], bname[i], flags);
    assert_int_not_equal(bpid[i], -1);
}

static void
start_backends(const char *flags_a, const char *flags_b)
{
    for (int i = 0; i < 2; i++) {
        bport[i] = h_free_port();
        assert_int_not_equal(bport[i], -1);
    }
    start_backend(0, flags_a);
    start_backend(1, flags_b);
}

/* Stop backend i; once reaped, its port is closed. */
static void
kill_backend(int i)
{
    kill(bpid[i], SIGTERM);
    assert_int_equal(h_wait_exit(bpid[i], 5000, NULL), 0);
}

/* lbd.conf: pool "p" over A and B with check, an admin port with token, extra settings. */
static const char *
write_conf(const char *check, const char *token, const char *extra)
{
    struct h_conf c = { .workers = WORKERS, .port = port, .backends = bport, .nbackends = 2,
                        .pool_extra = check };
    char          more[1024];

    snprintf(more, sizeof(more), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };\n%s",
             admin, token, extra ? extra : "");
    c.extra = more;
    return h_conf_write("lbd.conf", &c);
}

static void
start_lbd(const char *check)
{
    const char *conf;

    port = h_free_port();
    admin = h_free_port();
    conf = write_conf(check, TOKEN, NULL);
    assert_non_null(conf);
    db = h_path("lbd.db");
    assert_int_equal(h_lbd_start(&lbd, conf, port, WORKERS), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
}

/* n connections; each must be answered by want.  Returns how many were not. */
static int
picks(int n, const char *want)
{
    char name[64];
    int  wrong = 0;

    for (int i = 0; i < n; i++) {
        h_banner(port, name, sizeof(name));
        if (strcmp(name, want) != 0) {
            if (wrong++ < 5)
                fprintf(stderr, "connection %d: got \"%s\", want \"%s\"\n", i, name, want);
        }
    }
    return wrong;
}

static int
file_there(void *arg)
{
    return h_file_exists(arg);
}

/*
 * The load: a child process that makes connections one after another until
 * the file "stop" appears (bounded: 30 s or 50,000 connections).  Each
 * started once the file "gone" exists must be answered, by backend only
 * when only is not NULL.  Before that file (the test writes it once the
 * backend it kills has exited) one connection may fail: the one to that
 * backend that its exit cut (the loop has one connection open at a time).
 * Returns once the child has made its first 20 connections.
 */
static pid_t
load_start(const char *only)
{
    const char *stop = h_path("stop"), *going = h_path("loading"), *gone = h_path("gone");
    pid_t       pid = fork();

    assert_int_not_equal(pid, -1);
    if (pid == 0) {
        int64_t end = h_now_ms() + 30000;
        int     n = 0, cut = 0, wrong = 0;
        char    name[64];

        while (!h_file_exists(stop) && n < 50000 && h_now_ms() < end) {
            int after = h_file_exists(gone);

            h_banner(port, name, sizeof(name));
            if (name[0] == '\0' && !after) {
                cut++;
            } else if (name[0] == '\0' || (only != NULL && strcmp(name, only) != 0)) {
                if (wrong++ < 5)
                    fprintf(stderr, "load: connection %d got \"%s\"\n", n, name);
            }
            if (++n == 20 && h_write_file("loading", "%d\n", n) == NULL)
                _exit(2);
        }
        fprintf(stderr, "load: %d connections, %d not answered%s%s, %d cut by the kill\n", n,
                wrong, only ? " by " : "", only ? only : "", cut);
        _exit(wrong == 0 && cut <= 1 && n > 20 ? 0 : 1);
    }
    assert_int_equal(h_wait(file_there, (void *) going, 10000), 0);
    return pid;
}

/* Stop the load and check that every connection was answered as it should be. */
static void
load_stop(pid_t pid)
{
    int status;

    assert_non_null(h_write_file("stop", "stop\n"));
    assert_int_equal(h_wait_exit(pid, 35000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static size_t
log_size(void)
{
    size_t len = 0;
    char  *text = h_read_file(lbd.error_log, &len);

    free(text);
    return len;
}

/* "127.0.0.1:PORT" of backend i, and its connect() failure needle. */
static const char *
baddr(int i, char *buf, size_t len)
{
    snprintf(buf, len, "backend 127.0.0.1:%d ", bport[i]);
    return buf;
}

static const char *
bconnect(int i, char *buf, size_t len)
{
    snprintf(buf, len, "connect() to 127.0.0.1:%d ", bport[i]);
    return buf;
}

/* Backend i's "health" as the API says it, into buf ("" when the API did not answer). */
static const char *
api_health(int i, char *buf, size_t len)
{
    char  path[128], resp[4096];
    char *h;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", bport[i]);
    if (h_http(admin, "GET", path, NULL, NULL, resp, sizeof(resp), 5000) != 200
        || (h = strstr(resp, "\"health\":\"")) == NULL)
        return buf;
    h += strlen("\"health\":\"");
    snprintf(buf, len, "%.*s", (int) strcspn(h, "\""), h);
    return buf;
}

static int
api_answers(void *arg)
{
    char h[32];

    return api_health(*(int *) arg, h, sizeof(h))[0] != '\0';
}

/*
 * Backend i's health once the API answers (a control process that has just
 * started may need a moment to listen), so that a caller can assert on the
 * first answer rather than wait for the one it wants.
 */
static const char *
api_health_first(int i, char *buf, size_t len)
{
    if (h_wait(api_answers, &i, 5000) == -1)
        fprintf(stderr, "the API does not answer\n");
    return api_health(i, buf, len);
}

struct health_arg {
    int         i;
    const char *want;
};

static int
health_is(void *arg)
{
    struct health_arg *a = arg;
    char               h[32];

    return strcmp(api_health(a->i, h, sizeof(h)), a->want) == 0;
}

static int
wait_health(int i, const char *want, int timeout_ms)
{
    struct health_arg a = { i, want };
    char              h[32];

    if (h_wait(health_is, &a, timeout_ms) == 0)
        return 0;
    fprintf(stderr, "backend %s is \"%s\", not \"%s\", after %d ms\n", bname[i],
            api_health(i, h, sizeof(h)), want, timeout_ms);
    h_dump(lbd.error_log);
    return -1;
}

struct count_arg {
    size_t      from;
    const char *a, *b;
    int         want;
};

static int
count_reached(void *arg)
{
    struct count_arg *c = arg;

    return h_log_count(lbd.error_log, c->from, c->a, c->b, NULL) >= c->want;
}

/* Wait until want lines after from hold a and b. */
static int
wait_count(size_t from, const char *a, const char *b, int want, int timeout_ms)
{
    struct count_arg c = { from, a, b, want };

    if (h_wait(count_reached, &c, timeout_ms) == 0)
        return 0;
    fprintf(stderr, "fewer than %d lines with \"%s\" and \"%s\" after %d ms:\n", want, a, b,
            timeout_ms);
    h_dump(lbd.error_log);
    return -1;
}

static const char *
sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a query with the sqlite3 CLI; its output (a static buffer). */
static const char *
sql(const char *fmt, ...)
{
    static char out[4096];
    char        text[1024];
    va_list     ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_int_equal(h_sqlite(db, text, out, sizeof(out)), 0);
    return out;
}

/* Wall-clock milliseconds, the clock of events.at. */
static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct event_arg {
    int         i;
    const char *old, *new;
    int64_t     at;
};

static int
event_there(void *arg)
{
    struct event_arg *e = arg;

    e->at = strtoll(sql("SELECT CAST(round((julianday(at) - 2440587.5) * 86400000) AS INTEGER) "
                        "FROM events WHERE what = 'health' AND backend = '127.0.0.1:%d' AND "
                        "old = '%s' AND new = '%s' ORDER BY id DESC LIMIT 1;", bport[e->i],
                        e->old, e->new), NULL, 10);
    return e->at > 0;
}

/*
 * When the newest health event old -> new of backend i was written
 * (wall-clock ms), waiting for it: the log line comes before the commit.
 */
static int64_t
event_ms(int i, const char *old, const char *new)
{
    struct event_arg e = { i, old, new, 0 };

    assert_int_equal(h_wait(event_there, &e, 5000), 0);
    return e.at;
}

/* ------------------------------------------------------------------ */

/*
 * Under a client loop, a backend killed is out within interval x fall
 * (and slack), after which no connection goes to it; the log and the
 * events table say so, with actor 'health', and no generation moved.
 * Brought back on the same port, it is in again after rise checks.
 */
static void
test_dead_backend_out_and_back(void **state)
{
    char    a[64], c[64], h[32], want[256], gen[64];
    int64_t t0, out_ms, in_ms;
    int     tried_dead, after;
    pid_t   load;

    start_backends("-b", "-b");
    start_lbd(TCP_CHECK);
    assert_int_equal(wait_health(0, "up", 5000), 0);
    assert_int_equal(wait_health(1, "up", 5000), 0);
    snprintf(gen, sizeof(gen), "%s", sql("SELECT value FROM meta WHERE key = 'generation';"));

    /* Under load; timed from the SIGTERM to the verdict's events row. */
    load = load_start(NULL);
    t0 = wall_ms();
    kill_backend(1);
    assert_non_null(h_write_file("gone", "B\n"));
    assert_int_equal(wait_count(0, baddr(1, a, sizeof(a)), "is down", 1, 10000), 0);
    out_ms = event_ms(1, "up", "down") - t0;
    load_stop(load);
    tried_dead = h_log_count(lbd.error_log, 0, bconnect(1, c, sizeof(c)), NULL);
    fprintf(stderr, "B out %lld ms after its SIGTERM (interval %d ms x fall %d); under load, "
            "%d connections tried B first and failed over\n", (long long) out_ms, INTERVAL,
            FALL, tried_dead);
    /* At most fall checks 10 % late, the last one's timeout, and a second of slack. */
    assert_true(out_ms > 0 && out_ms <= INTERVAL * FALL * 11 / 10 + 100 + 1000);

    /* From now on no connection goes to B: the log gets no connect() line for it. */
    assert_int_equal(picks(300, "A"), 0);
    after = h_log_count(lbd.error_log, 0, bconnect(1, c, sizeof(c)), NULL);
    fprintf(stderr, "300 connections after B was out: %d tried B\n", after - tried_dead);
    assert_int_equal(after, tried_dead);

    snprintf(want, sizeof(want), "backend 127.0.0.1:%d (pool \"p\") is down: connect() refused "
             "(2 failures in a row)", bport[1]);
    assert_int_equal(h_log_count(lbd.error_log, 0, want, NULL), 1);
    assert_int_equal(wait_health(1, "down", 1000), 0);
    snprintf(want, sizeof(want), "SELECT actor, old, new, detail FROM events WHERE what = "
             "'health' AND backend = '127.0.0.1:%d' ORDER BY id;", bport[1]);
    assert_string_equal(sql("%s", want), "health|unknown|up|2 successes in a row\n"
                        "health|up|down|connect() refused (2 failures in a row)\n");
    assert_string_equal(sql("SELECT health FROM backends WHERE port = %d;", bport[1]), "down\n");
    /* Health is not routing: no generation moved. */
    assert_string_equal(sql("SELECT value FROM meta WHERE key = 'generation';"), gen);

    /* Back on the same port: in after rise checks. */
    t0 = wall_ms();
    start_backend(1, "-b");
    assert_int_equal(wait_count(0, baddr(1, a, sizeof(a)), "is up (2 successes in a row)", 2,
                                10000), 0);
    in_ms = event_ms(1, "down", "up") - t0;
    fprintf(stderr, "B in again %lld ms after it was started (interval %d ms x rise %d)\n",
            (long long) in_ms, INTERVAL, RISE);
    assert_true(in_ms > 0 && in_ms <= INTERVAL * RISE * 11 / 10 + 100 + 1000);
    assert_string_equal(api_health_first(1, h, sizeof(h)), "up");
    assert_string_equal(sql("SELECT old || '>' || new FROM events WHERE what = 'health' AND "
                            "backend = '127.0.0.1:%d' ORDER BY id DESC LIMIT 1;", bport[1]),
                        "down>up\n");
    for (int64_t end = h_now_ms() + 5000, seen = 0; !seen; ) {
        char name[64];

        assert_true(h_now_ms() < end);
        h_banner(port, name, sizeof(name));
        seen = strcmp(name, "B") == 0;
    }
}

/*
 * http checks: a wrong status marks a backend down, a right one up; a
 * body that lacks the configured substring marks it down too.  Changing
 * the check restarts the control process, which goes on from the verdicts
 * in shared memory.
 */
static void
test_http_status_and_body(void **state)
{
    char a[64], want[256], path[64];

    start_backends("-vH200", "-H503");
    start_lbd(HTTP_CHECK(""));
    assert_int_equal(wait_health(0, "up", 5000), 0);
    assert_int_equal(wait_health(1, "down", 5000), 0);
    snprintf(want, sizeof(want), "backend 127.0.0.1:%d (pool \"p\") is down: status 503 "
             "(want 200-399) (2 failures in a row)", bport[1]);
    assert_int_equal(h_log_count(lbd.error_log, 0, want, NULL), 1);
    /* What A was asked (-v logs each request line). */
    snprintf(path, sizeof(path), "srv-%d.log", bport[0]);
    assert_int_equal(h_log_wait(h_path(path), 3000, "GET /health HTTP/1.1", NULL), 0);

    /* A body check A's "ok" fails. */
    assert_non_null(write_conf(HTTP_CHECK("body = \"healthy\";"), TOKEN, NULL));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_log_wait(lbd.error_log, 5000, "control process restarted", NULL), 0);
    assert_int_equal(wait_health(0, "down", 5000), 0);
    snprintf(want, sizeof(want), "backend 127.0.0.1:%d (pool \"p\") is down: status 200 but "
             "the body lacks \"healthy\" (2 failures in a row)", bport[0]);
    assert_int_equal(h_log_wait(lbd.error_log, 3000, want, NULL), 0);
    /* B stayed down through the restart: no second verdict on it. */
    assert_int_equal(h_log_count(lbd.error_log, 0, baddr(1, a, sizeof(a)), "is ", NULL), 1);

    /* One it holds: up again. */
    assert_non_null(write_conf(HTTP_CHECK("body = \"ok\";"), TOKEN, NULL));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(wait_health(0, "up", 5000), 0);
    assert_true(event_ms(0, "down", "up") > 0);
    assert_string_equal(sql("SELECT group_concat(old || '>' || new, ' ') FROM (SELECT old, new "
                            "FROM events WHERE what = 'health' AND backend = '127.0.0.1:%d' "
                            "ORDER BY id);", bport[0]), "unknown>up up>down down>up\n");
}

/*
 * With B down, reloads of both kinds (new workers; a new control process)
 * under a client loop: no connection ever reaches B, the API still says
 * down, and the registry has no new verdict on B.
 */
static void
test_reload_keeps_health(void **state)
{
    pid_t workers[16], load, ctl, ctl2;
    int   nw, tried_dead;
    char  a[64], c[64], h[32];

    start_backends("-b", "-b");
    start_lbd(TCP_CHECK);
    assert_int_equal(wait_health(1, "up", 5000), 0);
    kill_backend(1);
    assert_int_equal(wait_count(0, baddr(1, a, sizeof(a)), "is down", 1, 5000), 0);
    assert_true(event_ms(1, "up", "down") > 0);
    tried_dead = h_log_count(lbd.error_log, 0, bconnect(1, c, sizeof(c)), NULL);

    /* B died before the load: no connection may fail. */
    assert_non_null(h_write_file("gone", "B\n"));
    load = load_start("A");

    /* New workers. */
    nw = h_lbd_workers(&lbd, workers, 16);
    assert_non_null(write_conf(TCP_CHECK, TOKEN, "worker_connections = 5000;"));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_log_wait(lbd.error_log, 5000, "old workers finishing", NULL), 0);
    assert_int_equal(h_wait_gone(workers, nw, 10000), 0);
    assert_string_equal(api_health_first(1, h, sizeof(h)), "down");

    /* A new control process (another token). */
    ctl = h_lbd_control(&lbd);
    assert_non_null(write_conf(TCP_CHECK, TOKEN2, "worker_connections = 5000;"));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_log_wait(lbd.error_log, 5000, "control process restarted", NULL), 0);
    assert_int_equal(h_wait_gone(&ctl, 1, 5000), 0);
    ctl2 = h_lbd_control(&lbd);
    assert_true(ctl2 > 0 && ctl2 != ctl);
    assert_string_equal(api_health_first(1, h, sizeof(h)), "down");
    /* The new one checks B for a few intervals: it stays down, with no new verdict. */
    h_msleep(INTERVAL * (FALL + 3));

    load_stop(load);
    assert_int_equal(h_log_count(lbd.error_log, 0, bconnect(1, c, sizeof(c)), NULL), tried_dead);
    assert_string_equal(api_health_first(1, h, sizeof(h)), "down");
    assert_int_equal(h_log_count(lbd.error_log, 0, baddr(1, a, sizeof(a)), "is ", NULL), 2);
    assert_string_equal(sql("SELECT count(*) FROM events WHERE what = 'health' AND backend = "
                            "'127.0.0.1:%d';", bport[1]), "2\n");
    assert_string_equal(sql("SELECT health FROM backends WHERE port = %d;", bport[1]), "down\n");
}

/*
 * Stopped with B down and started again with B still dead: the registry
 * says down, shared memory starts from it, and no connection tries B (no
 * connect() line for it after the restart); B back, the new checks let it in.
 */
static void
test_restart_starts_from_last_state(void **state)
{
    char   a[64], c[64], h[32];
    size_t from;

    start_backends("-b", "-b");
    start_lbd(TCP_CHECK);
    assert_int_equal(wait_health(1, "up", 5000), 0);
    kill_backend(1);
    assert_int_equal(wait_count(0, baddr(1, a, sizeof(a)), "is down", 1, 5000), 0);
    assert_true(event_ms(1, "up", "down") > 0);

    kill(lbd.pid, SIGTERM);
    assert_int_equal(h_wait_exit(lbd.pid, 10000, NULL), 0);
    assert_string_equal(sql("SELECT health FROM backends WHERE port = %d;", bport[1]), "down\n");

    from = log_size();
    assert_int_equal(h_lbd_start(&lbd, lbd.conf, port, WORKERS), 0);
    /* At once: every connection to A, none tried on B. */
    assert_int_equal(picks(200, "A"), 0);
    assert_string_equal(api_health_first(1, h, sizeof(h)), "down");
    assert_int_equal(h_log_count(lbd.error_log, from, bconnect(1, c, sizeof(c)), NULL), 0);
    /* The checks run: a few intervals on, still down, never said up. */
    h_msleep(INTERVAL * (FALL + 3));
    assert_int_equal(picks(50, "A"), 0);
    assert_int_equal(h_log_count(lbd.error_log, from, bconnect(1, c, sizeof(c)), NULL), 0);
    assert_int_equal(h_log_count(lbd.error_log, from, baddr(1, a, sizeof(a)), "is ", NULL), 0);
    fprintf(stderr, "after the restart: 250 connections, 0 tried B\n");

    /* And they let B in when it comes back. */
    start_backend(1, "-b");
    assert_int_equal(wait_count(from, baddr(1, a, sizeof(a)), "is up", 1, 5000), 0);
    assert_int_equal(wait_health(1, "up", 1000), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dead_backend_out_and_back, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_http_status_and_body, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_health, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_restart_starts_from_last_state, h_setup,
                                        h_teardown),
    };

    h_init(300);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
