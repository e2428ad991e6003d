/*
 * it_init.c - the installed service: "make install" into the test's temp
 * dir with every directory overridden, then the installed SysV init script
 * starts lbd, reloads it (a good file: same master, new backends; a broken
 * one: refused with FILE:LINE before any signal), reports its status and
 * stops it gracefully; a start with a broken file is refused.
 *
 * Runs as root only (start-stop-daemon, as the script runs in production);
 * skipped otherwise, and when /etc/default/lbd exists (the script reads it,
 * and it would point the test at the machine's own lbd).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS 2

static char top[512];       /* the source tree: the test runs from its top */

/* Skip unless the script can run here as it would in production. */
static int
runnable(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "it_init: not root: skipped (the init script needs "
                "start-stop-daemon as root)\n");
        return 0;
    }
    if (h_file_exists("/etc/default/lbd")) {
        fprintf(stderr, "it_init: /etc/default/lbd exists and would override the "
                "installed paths: skipped\n");
        return 0;
    }
    return 1;
}

/*
 * make install into the temp dir, every directory on the command line.  A
 * make run by make check must not inherit its jobserver or its variables.
 * 0 or -1 (make's output printed).
 */
static int
make_install(const char *out_name)
{
    const char *t = h_tmpdir();
    char        v[14][600];
    const char *argv[24];
    int         n = 0, rc;
    static const char *const dirs[][2] = {
        { "prefix", "" }, { "sbindir", "/sbin" }, { "bindir", "/bin" },
        { "sysconfdir", "/etc" }, { "localstatedir", "/var" }, { "datadir", "/share" },
        { "confdir", "/etc/lbd" }, { "statedir", "/var/lib/lbd" },
        { "logdir", "/var/log/lbd" }, { "rundir", "/var/run" },
        { "htmldir", "/share/lbd/html" }, { "initdir", "/init.d" },
        { "systemdunitdir", "/systemd" },
    };

    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
    unsetenv("MAKEOVERRIDES");
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = "exec make \"$@\"";
    argv[n++] = "make";
    argv[n++] = "-s";
    argv[n++] = "-C";
    argv[n++] = top;
    argv[n++] = "install";
    argv[n++] = "DESTDIR=";
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(v[i], sizeof(v[i]), "%s=%s%s", dirs[i][0], t, dirs[i][1]);
        argv[n++] = v[i];
    }
    argv[n] = NULL;
    rc = h_run(argv, h_path(out_name), 120000);
    if (rc != 0) {
        fprintf(stderr, "make install exited with %d:\n", rc);
        h_dump(h_path(out_name));
        return -1;
    }
    return 0;
}

/*
 * "sh <tmp>/init.d/lbd action", output to out_name; returns its exit code,
 * or -1 (it ran over a minute and was killed).  While it runs, the master
 * (when master > 0) is reaped the moment it exits, as init would do: the
 * test process is its parent (the subreaper), and a zombie still looks alive
 * to start-stop-daemon.  *gone is set to 1 then.
 */
static int
service(const char *action, const char *out_name, pid_t master, int *gone)
{
    const char *argv[] = { "/bin/sh", h_path("init.d/lbd"), action, NULL };
    pid_t       sh = h_spawn(argv, h_path(out_name));
    int64_t     deadline = h_now_ms() + 60000;
    int         st, rc = -1;

    if (sh == -1)
        return -1;
    for (;;) {
        if (master > 0 && !*gone && waitpid(master, NULL, WNOHANG) == master)
            *gone = 1;
        if (waitpid(sh, &st, WNOHANG) == sh) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (h_now_ms() > deadline) {
            kill(sh, SIGKILL);
            waitpid(sh, NULL, 0);
            break;
        }
        h_msleep(5);
    }
    fprintf(stderr, "service lbd %s: exit %d\n", action, rc);
    h_dump(h_path(out_name));
    return rc;
}

/* The configuration: one service on port, its pool on one backend; paths in the temp dir. */
static const char *
write_conf(int port, int backend, const char *broken)
{
    return h_write_file("etc/lbd/lbd.conf",
        "# written by t/it_init.c\n"
        "%s"
        "worker_processes = %d;\n"
        "pid_file = \"%s\";\n"
        "error_log = { path = \"%s\"; level = \"info\"; };\n"
        "registry = \"%s\";\n"
        "timeouts = { connect = \"1s\"; idle = \"30s\"; shutdown = \"10s\"; };\n"
        "services = ( { name = \"t\"; listen = \"127.0.0.1:%d\"; mode = \"tcp\"; pool = \"p\"; } );\n"
        "pools = ( { name = \"p\"; strategy = \"round_robin\";\n"
        "            backends = ( { address = \"127.0.0.1:%d\"; weight = 1; } ); } );\n",
        broken ? broken : "", WORKERS, h_path("var/run/lbd.pid"),
        h_path("var/log/lbd/error.log"), h_path("var/lib/lbd/lbd.db"), port, backend);
}

static pid_t
pid_from_file(void)
{
    char  *text = h_read_file(h_path("var/run/lbd.pid"), NULL);
    pid_t  pid = text ? (pid_t) atoi(text) : -1;

    free(text);
    return pid > 0 ? pid : -1;
}

struct reach {
    int         port;
    const char *want;       /* "NAME\n" */
};

/* 1 when a NAME request to a->port gets a->want. */
static int
reaches(void *arg)
{
    struct reach *a = arg;
    char          resp[64];
    size_t        len;

    return h_request(a->port, "NAME\n", 5, resp, sizeof(resp), &len, 2000) == 0
           && strcmp(resp, a->want) == 0;
}

/*
 * The installed tree: binaries, the example config, the init script (755)
 * and the unit with their paths filled in; a second install keeps the
 * operator's lbd.conf.
 */
static void
test_install_tree(void **state)
{
    struct stat st;
    char       *text, want[700];
    const char *conf;

    assert_int_equal(make_install("make.out"), 0);
    assert_true(h_file_exists(h_path("sbin/lbd")));
    assert_true(h_file_exists(h_path("bin/lbctl")));
    assert_true(h_file_exists(h_path("etc/lbd/lbd.conf.default")));
    assert_true(h_file_exists(h_path("var/lib/lbd")));
    assert_true(h_file_exists(h_path("var/log/lbd")));
    assert_int_equal(stat(h_path("init.d/lbd"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);

    text = h_read_file(h_path("init.d/lbd"), NULL);
    assert_non_null(text);
    assert_null(strchr(text, '@'));     /* every placeholder filled in */
    snprintf(want, sizeof(want), "\nDAEMON=%s\n", h_path("sbin/lbd"));
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "\nCONF=%s\n", h_path("etc/lbd/lbd.conf"));
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "\nPIDFILE=%s\n", h_path("var/run/lbd.pid"));
    assert_non_null(strstr(text, want));
    free(text);

    text = h_read_file(h_path("systemd/lbd.service"), NULL);
    assert_non_null(text);
    assert_null(strchr(text, '@'));
    snprintf(want, sizeof(want), "\nPIDFile=%s\n", h_path("var/run/lbd.pid"));
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "\nExecStart=%s -c %s\n", h_path("sbin/lbd"),
             h_path("etc/lbd/lbd.conf"));
    assert_non_null(strstr(text, want));
    free(text);

    /* The operator's file survives another install. */
    conf = h_write_file("etc/lbd/lbd.conf", "# mine\n");
    assert_non_null(conf);
    assert_int_equal(make_install("make2.out"), 0);
    text = h_read_file(conf, NULL);
    assert_non_null(text);
    assert_string_equal(text, "# mine\n");
    free(text);
}

/*
 * The service's life through the installed script: start, status, a good
 * reload (same master, new backend), a broken one (refused, FILE:LINE, still
 * serving), stop (graceful; master gone, pid file removed), status 3.
 */
static void
test_service_lifecycle(void **state)
{
    int         port, a, b, gone = 0, nw;
    pid_t       master, w[16];
    struct reach to_b = { .want = "B\n" };
    const char *conf, *log = h_path("var/log/lbd/error.log");
    char        where[700];

    if (!runnable())
        skip();
    assert_int_equal(make_install("make.out"), 0);
    port = h_free_port();
    a = h_free_port();
    b = h_free_port();
    assert_true(port != -1 && a != -1 && b != -1);
    assert_int_not_equal(h_testsrv(a, "A", NULL), -1);
    assert_int_not_equal(h_testsrv(b, "B", NULL), -1);
    conf = write_conf(port, a, NULL);
    assert_non_null(conf);

    /* start: returns once lbd listens and wrote its pid file. */
    assert_int_equal(service("start", "start.out", 0, NULL), 0);
    master = pid_from_file();
    assert_true(master > 0);
    assert_true(h_pid_alive(master));
    assert_int_equal(h_wait_listening(port, 1, 5000), 0);
    assert_int_equal(h_expect_name(port, "A", 5), 0);
    assert_int_equal(service("status", "status.out", 0, NULL), 0);
    assert_true(h_log_has(h_path("status.out"), "is running", NULL));

    /* start again: it is running, nothing changes. */
    assert_int_equal(service("start", "start2.out", 0, NULL), 0);
    assert_int_equal(pid_from_file(), master);

    /* reload with a good file: the same master switches to backend B. */
    assert_non_null(write_conf(port, b, NULL));
    assert_int_equal(service("reload", "reload.out", 0, NULL), 0);
    assert_int_equal(h_log_wait(log, 5000, "reloading configuration from", conf, NULL), 0);
    to_b.port = port;
    assert_int_equal(h_wait(reaches, &to_b, 5000), 0);
    assert_int_equal(h_expect_name(port, "B", 10), 0);
    assert_true(h_pid_alive(master));
    assert_int_equal(pid_from_file(), master);

    /* reload with a broken file: refused before any signal, with FILE:LINE. */
    assert_non_null(write_conf(port, b, "worker_connections = ;\n"));
    assert_int_not_equal(service("reload", "reload-bad.out", 0, NULL), 0);
    snprintf(where, sizeof(where), "%s:2:", conf);
    assert_true(h_log_has(h_path("reload-bad.out"), where, NULL));
    assert_int_not_equal(service("configtest", "configtest.out", 0, NULL), 0);
    assert_true(h_log_has(h_path("configtest.out"), where, NULL));
    h_msleep(200);  /* time for a HUP, had one been sent, to be logged */
    assert_false(h_log_has(log, "reload failed", NULL));
    assert_true(h_pid_alive(master));
    assert_int_equal(h_expect_name(port, "B", 10), 0);

    /* restart with the broken file is refused too: lbd keeps running. */
    assert_int_not_equal(service("restart", "restart-bad.out", master, &gone), 0);
    assert_false(gone);
    assert_true(h_pid_alive(master));
    assert_int_equal(h_expect_name(port, "B", 2), 0);

    /* stop: graceful (QUIT), the master, workers and control process gone,
     * the pid file removed. */
    nw = h_children(master, w, 16);
    assert_int_equal(nw, WORKERS + 1);
    assert_int_equal(service("stop", "stop.out", master, &gone), 0);
    assert_true(gone || h_wait_exit(master, 5000, NULL) == 0);
    assert_int_equal(h_wait_gone(w, nw, 5000), 0);
    assert_true(h_log_has(log, "graceful stop", NULL));
    assert_false(h_file_exists(h_path("var/run/lbd.pid")));
    assert_int_equal(h_wait_listening(port, 0, 5000), 0);

    assert_int_equal(service("status", "status2.out", 0, NULL), 3);
    assert_int_equal(service("stop", "stop2.out", 0, NULL), 0);      /* LSB: stopping a stopped service */
    /* reload when stopped: LSB's "not running" (7), good file or not. */
    assert_non_null(write_conf(port, b, NULL));
    assert_int_equal(service("reload", "reload-stopped.out", 0, NULL), 7);

    /* start with a broken file: refused with FILE:LINE, nothing left running. */
    assert_non_null(write_conf(port, b, "worker_connections = ;\n"));
    assert_int_equal(service("start", "start-bad.out", 0, NULL), 1);
    assert_true(h_log_has(h_path("start-bad.out"), where, NULL));
    assert_false(h_file_exists(h_path("var/run/lbd.pid")));
    assert_int_equal(h_connect_refused(port, 1000), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_install_tree, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_service_lifecycle, h_setup, h_teardown),
    };

    h_init(240);
    if (getcwd(top, sizeof(top)) == NULL || !h_file_exists("Makefile")) {
        fprintf(stderr, "it_init: run from the configured source tree (no Makefile here)\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
