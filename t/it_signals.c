/*
 * it_signals.c - what the master does on QUIT (graceful stop), HUP (reload,
 * good and bad) and USR1 (reopen logs).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS 2

static int          port;
static struct h_lbd lbd;
static const char  *conf;
static int          backend;

/* One backend "b1" (flags as h_testsrv) and lbd in front of it. */
static void
start(const char *srv_flags)
{
    struct h_single s = { 0 };

    assert_int_equal(h_single_start(&s, WORKERS, NULL, "b1", srv_flags), 0);
    lbd = s.l;
    port = s.port;
    conf = s.conf;
    backend = s.backend;
}


static int
pid_in(pid_t pid, const pid_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == pid)
            return 1;
    return 0;
}

/*
 * QUIT while a 2 MB download at 1 MB/s is in flight: new connections are
 * refused within 2 s while the download goes on to the end with the right
 * checksum; then master and workers exit and the pid file is gone.
 */
static void
test_quit_graceful(void **state)
{
    struct h_stream s = { .cmd = "SOURCE 2097152 21 1048576\n" };
    pid_t           w[16];
    int             n, refused = 0, st;
    int64_t         deadline, t_quit, t_done;

    start(NULL);
    n = h_lbd_workers(&lbd, w, 16);
    assert_int_equal(n, WORKERS);

    assert_int_equal(h_stream_open(&s, port, 5000), 0);
    deadline = h_now_ms() + 5000;
    while (s.recvd == 0 && h_now_ms() < deadline)
        assert_int_equal(h_stream_run(&s, 20), 1);
    assert_true(s.recvd > 0);

    assert_int_equal(kill(lbd.pid, SIGQUIT), 0);
    t_quit = h_now_ms();
    while (!refused && h_now_ms() - t_quit < 2000) {
        assert_int_equal(h_stream_run(&s, 20), 1);
        refused = h_connect_refused(port, 500) == 1;
    }
    fprintf(stderr, "refused after %lld ms, %" PRIu64 " bytes in\n",
            (long long) (h_now_ms() - t_quit), s.recvd);
    assert_true(refused);
    assert_true(s.recvd < 2097152);     /* still in flight when lbd stopped listening */

    /* The master must still be there, waiting for the download. */
    assert_true(h_pid_alive(lbd.pid));
    assert_int_equal(h_stream_run(&s, 10000), 0);
    t_done = h_now_ms();
    assert_int_equal(s.recvd, 2097152);
    assert_true(s.recv_hash == lbd_td_stream_hash(21, 2097152));
    h_stream_close(&s);

    /* Now it has nothing left to wait for: well before timeouts.shutdown (10 s). */
    if (h_wait_exit(lbd.pid, 5000, &st) == -1) {
        h_dump(lbd.out);
        fail_msg("master still running 5 s after the last connection ended");
    }
    fprintf(stderr, "master exited %lld ms after the download ended\n",
            (long long) (h_now_ms() - t_done));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(h_wait_gone(w, n, 5000), 0);
    assert_false(h_file_exists(lbd.pid_file));
}

/* Sorted copy, for comparing sets of pids. */
static int
cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

    return (x > y) - (x < y);
}

/*
 * HUP with a broken file: the error is logged with "reload" and FILE:LINE,
 * the same master and workers go on serving with the old configuration.
 */
static void
test_hup_bad_config(void **state)
{
    pid_t  before[16], after[16];
    int    n, m;
    char  *good, where[600];

    start(NULL);
    n = h_lbd_workers(&lbd, before, 16);
    assert_int_equal(n, WORKERS);

    good = h_read_file(conf, NULL);
    assert_non_null(good);
    assert_non_null(h_write_file("lbd.conf", "# broken below\nworker_connections = ;\n%s", good));
    free(good);
    snprintf(where, sizeof(where), "%s:2:", conf);

    assert_int_equal(kill(lbd.pid, SIGHUP), 0);
    assert_int_equal(h_log_wait(lbd.out, 5000, "reload", where, NULL), 0);

    assert_true(h_pid_alive(lbd.pid));
    assert_int_equal(h_expect_name(port, "b1", 20), 0);
    m = h_lbd_workers(&lbd, after, 16);
    assert_int_equal(m, n);
    qsort(before, (size_t) n, sizeof(pid_t), cmp_pid);
    qsort(after, (size_t) m, sizeof(pid_t), cmp_pid);
    assert_memory_equal(before, after, (size_t) n * sizeof(pid_t));

    /* lbd -g logs to stderr and to the configured error_log. */
    assert_int_equal(h_log_wait(lbd.error_log, 1000, "reload", where, NULL), 0);
}

struct new_workers_arg {
    const pid_t *old;
    int          nold;
};

/* WORKERS children of the master that are not old workers. */
static int
new_workers_up(void *arg)
{
    struct new_workers_arg *a = arg;
    pid_t                   w[64];
    int                     n = h_lbd_workers(&lbd, w, 64), fresh = 0;

    for (int i = 0; i < n; i++)
        fresh += !pid_in(w[i], a->old, a->nold);
    return fresh == WORKERS;
}

/*
 * HUP with a good file that swaps backend A for backend B and changes a
 * setting the workers were started with (the idle timeout), so new workers
 * start: new connections reach B, and a connection opened before the
 * reload keeps working (its worker finishes it) and then that old worker
 * exits.  (A change of pools alone restarts nothing: it_registry.)
 */
static void
test_hup_good_config(void **state)
{
    int                    a, b, fd, got_b = 0;
    pid_t                  old[16];
    int                    nold;
    char                   line[64];
    int64_t                deadline;
    struct h_conf          c = { .workers = WORKERS, .nbackends = 1 };
    struct new_workers_arg nw;

    a = h_free_port();
    b = h_free_port();
    assert_true(a != -1 && b != -1);
    assert_int_not_equal(h_testsrv(a, "A", "-b"), -1);
    assert_int_not_equal(h_testsrv(b, "B", "-b"), -1);
    port = c.port = h_free_port();
    c.backends = &a;
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start(&lbd, conf, port, WORKERS), 0);
    nold = h_lbd_workers(&lbd, old, 16);
    assert_int_equal(nold, WORKERS);

    /* A connection that lives across the reload: greeted by A, then echo. */
    fd = h_connect(port, 5000);
    assert_int_not_equal(fd, -1);
    assert_int_equal(h_recv_line(fd, line, sizeof(line), 5000), 2);
    assert_string_equal(line, "A\n");

    c.backends = &b;
    c.timeouts = "connect = \"1s\"; idle = \"31s\"; shutdown = \"10s\";";
    assert_non_null(h_conf_write("lbd.conf", &c));
    assert_int_equal(kill(lbd.pid, SIGHUP), 0);

    /* New connections reach B (right away, or after a short switch-over). */
    deadline = h_now_ms() + 5000;
    while (!got_b && h_now_ms() < deadline) {
        char   resp[64];
        size_t len;

        assert_int_equal(h_request(port, "", 0, resp, sizeof(resp), &len, 5000), 0);
        got_b = strcmp(resp, "B\n") == 0;
    }
    assert_true(got_b);
    for (int i = 0; i < 20; i++) {
        char   resp[64];
        size_t len;

        assert_int_equal(h_request(port, "", 0, resp, sizeof(resp), &len, 5000), 0);
        assert_string_equal(resp, "B\n");
    }
    nw.old = old;
    nw.nold = nold;
    assert_int_equal(h_wait(new_workers_up, &nw, 5000), 0);
    assert_true(h_pid_alive(lbd.pid));

    /* The old connection still works, both ways, to its end. */
    assert_int_equal(h_send_all(fd, "still here\n", 11, 5000), 0);
    assert_int_equal(h_recv_line(fd, line, sizeof(line), 5000), 11);
    assert_string_equal(line, "still here\n");
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_int_equal(h_recv_eof(fd, 5000), 0);
    close(fd);

    /* With their last connection gone, the old workers exit. */
    assert_int_equal(h_wait_gone(old, nold, 5000), 0);
    assert_true(h_pid_alive(lbd.pid));
}

/* Count the lines of path that contain needle. */
static int
count_lines(const char *path, const char *needle)
{
    char *text = h_read_file(path, NULL), *p;
    int   n = 0;

    if (text == NULL)
        return 0;
    for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* One connection to the dead service: lbd closes it (EOF or reset) within 3 s. */
static void
poke_dead(int dport)
{
    int     fd = h_connect(dport, 3000);
    ssize_t got;

    assert_int_not_equal(fd, -1);
    got = h_recv_eof(fd, 3000);
    assert_true(got == 0 || (got == -1 && errno != ETIMEDOUT));
    close(fd);
}

/* Does any lbd process (master or worker) hold path open? */
static int
lbd_holds(const char *path)
{
    pid_t w[64];
    int   n = h_lbd_workers(&lbd, w, 64);

    if (h_proc_has_open(lbd.pid, path))
        return 1;
    for (int i = 0; i < n; i++)
        if (h_proc_has_open(w[i], path))
            return 1;
    return 0;
}

/* Every lbd process (master and workers) holds path open. */
static int
all_hold(void *arg)
{
    const char *path = arg;
    pid_t       w[64];
    int         n = h_lbd_workers(&lbd, w, 64);

    if (!h_proc_has_open(lbd.pid, path))
        return 0;
    for (int i = 0; i < n; i++)
        if (!h_proc_has_open(w[i], path))
            return 0;
    return 1;
}

/*
 * USR1 after the error log was renamed (log rotation): the file is created
 * again, master and workers open it, new lines go to it only, and nobody
 * keeps the old one open.  lbd runs as a daemon here (no -g), as it does under logrotate.
 * Log lines come from a second service whose only backend is dead: each
 * connection to it logs "no backend".
 */
static void
test_usr1_reopens_logs(void **state)
{
    char                svc[256], pool[256];
    int                 live, dead, dport, old_count;
    struct h_conf       c = { .workers = WORKERS, .nbackends = 1 };
    const char         *rotated;
    int64_t             deadline;

    live = h_free_port();
    dead = h_free_port();
    dport = h_free_port();
    port = c.port = h_free_port();
    assert_true(live != -1 && dead != -1 && dport != -1 && port != -1);
    assert_int_not_equal(h_testsrv(live, "b1", NULL), -1);
    snprintf(svc, sizeof(svc),
             "{ name = \"d\"; listen = \"127.0.0.1:%d\"; mode = \"tcp\"; pool = \"dead\"; }",
             dport);
    snprintf(pool, sizeof(pool),
             "{ name = \"dead\"; strategy = \"round_robin\"; "
             "backends = ( { address = \"127.0.0.1:%d\"; weight = 1; } ); }", dead);
    c.backends = &live;
    c.more_services = svc;
    c.more_pools = pool;
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start_daemon(&lbd, conf, port, WORKERS), 0);
    assert_int_equal(h_wait_listening(dport, 1, 5000), 0);

    /* A line before the rotation lands in error.log. */
    poke_dead(dport);
    assert_int_equal(h_log_wait(lbd.error_log, 3000, "no backend", NULL), 0);

    rotated = h_path("error.log.1");
    assert_int_equal(rename(lbd.error_log, rotated), 0);
    assert_int_equal(kill(lbd.pid, SIGUSR1), 0);
    /* Reopened: the file exists again and master and workers all hold it. */
    assert_int_equal(h_wait(all_hold, (void *) lbd.error_log, 5000), 0);

    /* Every process reopened: new lines go to the new file only. */
    old_count = count_lines(rotated, "no backend");
    deadline = h_now_ms() + 3000;
    for (int i = 0; i < 10; i++)
        poke_dead(dport);
    while (count_lines(lbd.error_log, "no backend") < 10 && h_now_ms() < deadline)
        h_msleep(10);
    assert_int_equal(count_lines(lbd.error_log, "no backend"), 10);
    assert_int_equal(count_lines(rotated, "no backend"), old_count);

    /*
     * Nothing keeps the rotated file open, not even as stderr (fd 2, where
     * libraries and sanitizers write): else a rotated and deleted log never
     * frees its disk space.  nginx dup2()s the new log onto stderr.
     */
    if (lbd_holds(rotated)) {
        pid_t w[64];
        int   n = h_lbd_workers(&lbd, w, 64);

        fprintf(stderr, "still open: master %d %s", (int) lbd.pid,
                h_proc_has_open(lbd.pid, rotated) ? "yes" : "no");
        for (int i = 0; i < n; i++)
            fprintf(stderr, ", worker %d %s", (int) w[i],
                    h_proc_has_open(w[i], rotated) ? "yes" : "no");
        fprintf(stderr, "\n");
        fail_msg("lbd still holds the rotated log %s open after USR1", rotated);
    }

    /* The daemon stops on request like the foreground one. */
    assert_int_equal(kill(lbd.pid, SIGTERM), 0);
    assert_int_equal(h_wait_exit(lbd.pid, 5000, NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quit_graceful, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_hup_bad_config, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_hup_good_config, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_usr1_reopens_logs, h_setup, h_teardown),
    };

    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
