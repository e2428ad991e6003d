/*
 * it_process.c - lbd's processes: titles, worker count, respawn, stop by
 * signal and by "lbd -s stop", "lbd -t", and dropping root in workers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TITLE_MASTER "lbd: master process"
#define TITLE_WORKER "lbd: worker process"

static int          port;
static struct h_lbd lbd;
static const char  *conf;

/* One backend "b1" and lbd with nworkers in front of it; extra as in h_conf. */
static void
start(int nworkers, const char *extra)
{
    struct h_single s = { 0 };

    assert_int_equal(h_single_start(&s, nworkers, extra, "b1", NULL), 0);
    lbd = s.l;
    port = s.port;
    conf = s.conf;
}


static int
has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

struct titles_arg {
    pid_t master;
    int   n;
};

/* Every child of the master carries the worker title (a fresh fork may not yet). */
static int
workers_titled(void *arg)
{
    struct titles_arg *a = arg;
    pid_t              w[64];
    struct h_lbd       l = { .pid = a->master };
    int                n = h_lbd_workers(&l, w, 64);
    char               t[256];

    if (n != a->n)
        return 0;
    for (int i = 0; i < n; i++)
        if (h_proc_cmdline(w[i], t, sizeof(t)) == -1 || !has_prefix(t, TITLE_WORKER))
            return 0;
    return 1;
}

/* Master and workers show their titles; there are worker_processes workers. */
static void
test_titles_and_worker_count(void **state)
{
    struct titles_arg a;
    char              t[256];
    pid_t             w[64];
    int               n;

    start(3, NULL);
    assert_int_equal(h_proc_cmdline(lbd.pid, t, sizeof(t)), 0);
    fprintf(stderr, "master title: \"%s\"\n", t);
    assert_true(has_prefix(t, TITLE_MASTER));

    a.master = lbd.pid;
    a.n = 3;
    if (h_wait(workers_titled, &a, 5000) == -1) {
        n = h_children(lbd.pid, w, 64);
        for (int i = 0; i < n; i++) {
            h_proc_cmdline(w[i], t, sizeof(t));
            fprintf(stderr, "child %d: \"%s\"\n", (int) w[i], t);
        }
        fail_msg("lbd does not have 3 children titled \"" TITLE_WORKER "\"");
    }
    /* And it stays at 3: no extra worker is started late. */
    h_msleep(200);
    assert_int_equal(h_lbd_workers(&lbd, w, 64), 3);
    assert_int_equal(h_expect_name(port, "b1", 5), 0);
}

struct respawn_arg {
    pid_t killed;
    int   n;
};

/* n workers again, none of them the killed one, which the master reaped. */
static int
respawned(void *arg)
{
    struct respawn_arg *a = arg;
    pid_t               w[64];
    int                 n = h_lbd_workers(&lbd, w, 64);

    for (int i = 0; i < n; i++)
        if (w[i] == a->killed)
            return 0;
    return n == a->n && !h_pid_exists(a->killed);
}

/* SIGKILL a worker: the master reaps it and starts another; lbd keeps serving. */
static void
test_worker_respawn(void **state)
{
    struct respawn_arg a;
    pid_t              w[64];

    start(2, NULL);
    assert_int_equal(h_lbd_workers(&lbd, w, 64), 2);
    a.killed = w[0];
    a.n = 2;
    assert_int_equal(kill(a.killed, SIGKILL), 0);
    assert_int_equal(h_wait(respawned, &a, 5000), 0);
    assert_true(h_pid_alive(lbd.pid));
    assert_int_equal(h_expect_name(port, "b1", 20), 0);

    /* Kill the other original worker too: respawned the same way. */
    assert_int_equal(h_lbd_workers(&lbd, w, 64), 2);
    a.killed = w[1];
    assert_int_equal(kill(a.killed, SIGKILL), 0);
    assert_int_equal(h_wait(respawned, &a, 5000), 0);
    assert_int_equal(h_expect_name(port, "b1", 20), 0);
}

/*
 * After a stop was requested: the master exits 0 within 5 s, so do its
 * workers, the pid file is gone and the port refuses connections.
 */
static void
assert_stopped(const pid_t *workers, int nworkers)
{
    int             st;

    if (h_wait_exit(lbd.pid, 5000, &st) == -1) {
        h_dump(lbd.out);
        fail_msg("master %d still running 5 s after the stop", (int) lbd.pid);
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(h_wait_gone(workers, nworkers, 5000), 0);
    assert_false(h_file_exists(lbd.pid_file));
    assert_int_equal(h_connect_refused(port, 1000), 1);
}

/* SIGTERM: fast stop of everything, pid file removed. */
static void
test_term_stops_everything(void **state)
{
    pid_t w[64];
    int   n;
    char *pid_text;

    start(2, NULL);
    pid_text = h_read_file(lbd.pid_file, NULL);
    assert_non_null(pid_text);
    assert_int_equal(atoi(pid_text), lbd.pid);
    free(pid_text);

    n = h_lbd_workers(&lbd, w, 64);
    assert_int_equal(n, 2);
    assert_int_equal(kill(lbd.pid, SIGTERM), 0);
    assert_stopped(w, n);
}

/* "lbd -s stop -c FILE" finds the master through the pid file and stops it. */
static void
test_signal_stop_via_pid_file(void **state)
{
    const char *argv[] = { h_lbd_bin(), "-s", "stop", "-c", NULL, NULL };
    pid_t       w[64];
    int         n;

    start(2, NULL);
    argv[4] = conf;
    n = h_lbd_workers(&lbd, w, 64);
    assert_int_equal(n, 2);
    assert_int_equal(h_run(argv, h_path("stop.out"), 5000), 0);
    assert_stopped(w, n);

    /* With nothing running (no pid file) it fails and says so. */
    assert_int_equal(h_run(argv, h_path("stop2.out"), 5000), 1);
    assert_true(h_log_has(h_path("stop2.out"), "lbd", NULL));
}

/* "lbd -t" on a good file: exit 0, "test is successful" on stderr. */
static void
test_config_test_good(void **state)
{
    const char *argv[] = { h_lbd_bin(), "-t", "-c", NULL, NULL };
    int         b = h_free_port();
    struct h_conf c = { .workers = 2, .port = h_free_port(), .backends = &b,
                        .nbackends = 1 };

    argv[3] = conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_run(argv, h_path("t.out"), 10000), 0);
    assert_true(h_log_has(h_path("t.out"), "test is successful", NULL));
    assert_false(h_file_exists(h_path("lbd.pid")));    /* -t starts nothing */
}

/*
 * "lbd -t" on a file with an error on line 2 (after a comment line, before a
 * valid rest): exit 1, "lbd: FILE:2: ..." and "test failed" on stderr.
 */
static void
check_bad_line2(const char *name, const char *line2)
{
    const char *argv[] = { h_lbd_bin(), "-t", "-c", NULL, NULL };
    int         b = h_free_port();
    struct h_conf c = { .workers = 2, .port = h_free_port(), .backends = &b,
                        .nbackends = 1 };
    char        out_name[64], where[600];
    char       *good;
    const char *bad, *out;

    good = h_read_file(h_conf_write("good.conf", &c), NULL);
    assert_non_null(good);
    bad = h_write_file(name, "# %s\n%s\n%s", name, line2, good);
    free(good);
    assert_non_null(bad);
    snprintf(out_name, sizeof(out_name), "%s.out", name);
    out = h_path(out_name);
    argv[3] = bad;
    assert_int_equal(h_run(argv, out, 10000), 1);
    snprintf(where, sizeof(where), "lbd: %s:2: ", bad);
    if (!h_log_has(out, where, NULL)) {
        h_dump(out);
        fail_msg("no \"%s\" in the output of lbd -t", where);
    }
    assert_true(h_log_has(out, "test failed", NULL));
    assert_false(h_log_has(out, "test is successful", NULL));
}

static void
test_config_test_bad(void **state)
{
    check_bad_line2("unknown-key.conf", "no_such_setting = 1;");
    check_bad_line2("syntax.conf", "worker_connections = ;");
    check_bad_line2("bad-value.conf", "proxy_buffer_size = \"lots\";");
    check_bad_line2("bad-type.conf", "worker_connections = \"many\";");
}

/* Started as root with user = "nobody": every uid of each worker is nobody's. */
/* 1 when lbd has two workers and every uid of both is *arg. */
static int
workers_are(void *arg)
{
    uid_t uid = *(uid_t *) arg;
    pid_t w[64];
    long  uids[4];
    int   n = h_lbd_workers(&lbd, w, 64);

    if (n != 2)
        return 0;
    for (int i = 0; i < n; i++) {
        if (h_proc_uids(w[i], uids) != 0)
            return 0;
        for (int k = 0; k < 4; k++)
            if (uids[k] != (long) uid)
                return 0;
    }
    return 1;
}

static void
test_user_nobody(void **state)
{
    struct passwd *pw;
    pid_t          w[64];
    long           uids[4];
    int            n;

    if (geteuid() != 0)
        skip();
    pw = getpwnam("nobody");
    if (pw == NULL)
        skip();
    /* lbd's files are in the temp dir: let an unprivileged worker reach it. */
    assert_int_equal(chmod(h_tmpdir(), 0755), 0);
    start(2, "user = \"nobody\";");
    /* A worker forked a moment ago may not have dropped root yet: wait for both. */
    if (h_wait(workers_are, &pw->pw_uid, 5000) == -1) {
        n = h_lbd_workers(&lbd, w, 64);
        for (int i = 0; i < n; i++)
            if (h_proc_uids(w[i], uids) == 0)
                fprintf(stderr, "worker %d: uids %ld %ld %ld %ld\n", (int) w[i], uids[0],
                        uids[1], uids[2], uids[3]);
        fail_msg("the workers did not all run as nobody (uid %d)", (int) pw->pw_uid);
    }
    assert_int_equal(h_proc_uids(lbd.pid, uids), 0);
    assert_int_equal(uids[0], 0);
    assert_int_equal(h_expect_name(port, "b1", 5), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_titles_and_worker_count, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_worker_respawn, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_term_stops_everything, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_signal_stop_via_pid_file, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_config_test_good, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_config_test_bad, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_user_nobody, h_setup, h_teardown),
    };

    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
