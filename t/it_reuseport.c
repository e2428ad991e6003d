/*
 * it_reuseport.c - a service with reuseport = true: one SO_REUSEPORT
 * listening socket per worker, kept by the master (src/lbd_listen.c).
 *
 * What lbd promises: with W workers the port has W listening sockets, the
 * master holds all of them and worker k only socket k; the kernel spreads
 * connections over them, so every worker serves some; a killed worker's
 * successor inherits its socket, and what was queued there is served; a
 * reload keeps the sockets it can (same inodes), binds the missing ones,
 * and loses nothing queued on the ones it lets go (fewer workers, reuseport
 * switched off): the old worker serves their queue before it closes them.
 *
 * "Queued" is made deterministic with SIGSTOP: while every worker is
 * stopped, the kernel completes handshakes and the connections (their
 * request sent) wait in the accept queues; the test then kills, reloads or
 * continues the workers and every one of them must be answered.  A
 * continued old worker sees its listener ready before its QUIT (libevent
 * runs the signal's event after the I/O of the same wakeup), so this shows
 * that the queue is served, not that graceful_stop's last look took it:
 * that look is for what arrives within the wakeup, a race no test here
 * can stage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MAX_SOCKS   8
#define HELD       64           /* connections held open to see the spread */
#define QUEUED     30           /* connections queued while the workers are stopped */

static struct h_lbd lbd;
static int          port, port6, admin, backend;
static struct h_conf conf;
static char          extra[PATH_MAX + 96], service_extra[128], more_services[256];

/* --- lbd and its config --- */

/* Write lbd.conf: service "t" (and "v6" on [::1] when port6) with reuseport as given. */
static const char *
write_conf(int workers, int reuseport, const char *timeouts)
{
    snprintf(extra, sizeof(extra), "%s", h_admin_conf(admin));
    snprintf(service_extra, sizeof(service_extra), "reuseport = %s;",
             reuseport ? "true" : "false");
    snprintf(more_services, sizeof(more_services),
             "{ name = \"v6\"; listen = \"[::1]:%d\"; pool = \"p\"; reuseport = %s; }",
             port6, reuseport ? "true" : "false");
    conf = (struct h_conf) { .workers = workers, .port = port, .backends = &backend,
                             .nbackends = 1, .extra = extra, .service_extra = service_extra,
                             .more_services = port6 > 0 ? more_services : NULL,
                             .timeouts = timeouts };
    return h_conf_write("lbd.conf", &conf);
}

/* Is [::1] there to listen on? */
static int
have_ipv6(void)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int                 fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

    ok = fd != -1 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
    if (fd != -1)
        close(fd);
    return ok;
}

/* Backend "b1" and lbd with workers workers; with_v6 adds service "v6" on [::1]. */
static void
start(int workers, int reuseport, int with_v6)
{
    backend = h_free_port();
    port = h_free_port();
    admin = h_free_port();
    port6 = with_v6 ? h_free_port() : 0;
    assert_int_not_equal(h_testsrv(backend, "b1", NULL), -1);
    assert_int_equal(h_lbd_start(&lbd, write_conf(workers, reuseport, NULL), port, workers), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
}

/* --- sockets --- */

static int
holds(pid_t pid, unsigned long inode)
{
    char link[64];

    snprintf(link, sizeof(link), "socket:[%lu]", inode);
    return h_proc_has_open(pid, link);
}

/* The listening sockets on port (their inodes, sorted); asserts there are n. */
static void
listeners(int p, unsigned long *inodes, int n)
{
    int got = h_port_listeners(p, inodes, MAX_SOCKS);

    if (got != n)
        fail_msg("%d sockets listen on port %d, want %d", got, p, n);
    for (int i = 1; i < n; i++)         /* insertion sort: n is tiny */
        for (int j = i; j > 0 && inodes[j - 1] > inodes[j]; j--) {
            unsigned long t = inodes[j];

            inodes[j] = inodes[j - 1];
            inodes[j - 1] = t;
        }
}

struct sockets_arg {
    int  port;
    int  n;
    char why[160];              /* what was wrong the last time */
};

/*
 * n sockets listen on the port, all the master's, n workers, and each
 * worker holds exactly one of the sockets, each a different one.
 */
static int
one_socket_each(void *arg)
{
    struct sockets_arg *a = arg;
    unsigned long       in[MAX_SOCKS];
    pid_t               w[MAX_SOCKS];
    int                 owner[MAX_SOCKS] = { 0 }, nw;

    if (h_port_listeners(a->port, in, MAX_SOCKS) != a->n) {
        snprintf(a->why, sizeof(a->why), "%d sockets listen on port %d, want %d",
                 h_port_listeners(a->port, NULL, 0), a->port, a->n);
        return 0;
    }
    if ((nw = h_lbd_workers(&lbd, w, MAX_SOCKS)) != a->n) {
        snprintf(a->why, sizeof(a->why), "%d workers, want %d", nw, a->n);
        return 0;
    }
    for (int i = 0; i < a->n; i++)
        if (!holds(lbd.pid, in[i])) {
            snprintf(a->why, sizeof(a->why), "the master does not hold socket %lu", in[i]);
            return 0;
        }
    for (int k = 0; k < a->n; k++) {
        int mine = 0;

        for (int i = 0; i < a->n; i++)
            if (holds(w[k], in[i])) {
                mine++;
                owner[i]++;
            }
        if (mine != 1) {
            snprintf(a->why, sizeof(a->why), "worker %d holds %d of the %d sockets on port %d",
                     (int) w[k], mine, a->n, a->port);
            return 0;
        }
    }
    for (int i = 0; i < a->n; i++)
        if (owner[i] != 1) {
            snprintf(a->why, sizeof(a->why), "%d workers hold socket %lu", owner[i], in[i]);
            return 0;
        }
    return 1;
}

/* one_socket_each, within 5 s (a worker just forked holds every socket a moment). */
static void
assert_one_socket_per_worker(int p, int n)
{
    struct sockets_arg a = { .port = p, .n = n };

    if (h_wait(one_socket_each, &a, 5000) == -1)
        fail_msg("%s", a.why);
}

/* The worker holding the socket with inode, or -1. */
static pid_t
worker_holding(unsigned long inode)
{
    pid_t w[MAX_SOCKS];
    int   n = h_lbd_workers(&lbd, w, MAX_SOCKS);

    for (int i = 0; i < n; i++)
        if (holds(w[i], inode))
            return w[i];
    return -1;
}

/* --- clients --- */

/* Connect to 127.0.0.1:p, or [::1]:p when v6.  A blocking fd with 5 s timeouts, or -1. */
static int
connect_to(int p, int v6)
{
    struct sockaddr_in  a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t) p),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t) p),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    struct timeval      tv = { 5, 0 };
    int                 fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

    if (fd == -1)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, v6 ? (struct sockaddr *) &a6 : (struct sockaddr *) &a4,
                v6 ? sizeof(a6) : sizeof(a4)) == -1) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Open n connections and send cmd on each (the kernel queues them if no one accepts). */
static void
open_n(int p, int v6, const char *cmd, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i] = connect_to(p, v6);
        if (fds[i] == -1)
            fail_msg("connection %d of %d to port %d: %s", i + 1, n, p, strerror(errno));
        assert_int_equal(send(fds[i], cmd, strlen(cmd), MSG_NOSIGNAL), (ssize_t) strlen(cmd));
    }
}

/* Read want from fd (within 5 s).  0, or -1 with what came instead on stderr. */
static int
expect_line(int fd, const char *want)
{
    char    buf[64];
    size_t  got = 0;
    ssize_t r = 1;

    while (got < strlen(want) && (r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t) r;
    buf[got] = '\0';
    if (strcmp(buf, want) == 0)
        return 0;
    fprintf(stderr, "got \"%s\" (%s), want \"%s\"\n", buf,
            r == 0 ? "EOF" : r < 0 ? strerror(errno) : "data", want);
    return -1;
}

/* Each of the n connections is answered want; closes them. */
static void
expect_n(int *fds, int n, const char *want)
{
    int bad = 0;

    for (int i = 0; i < n; i++) {
        if (expect_line(fds[i], want) == -1) {
            fprintf(stderr, "  (connection %d of %d)\n", i + 1, n);
            bad++;
        }
        close(fds[i]);
    }
    if (bad > 0)
        fail_msg("%d of %d connections were not answered", bad, n);
}

static void
close_n(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* n NAME requests on fresh connections, each answered "b1". */
static void
serve_n(int p, int v6, int n)
{
    int fds[1];

    for (int i = 0; i < n; i++) {
        open_n(p, v6, "NAME\n", fds, 1);
        expect_n(fds, 1, "b1\n");
    }
}

/* --- the workers, as /status.json counts them --- */

/* Each live worker's open connections ("active"), by pid, into pids/active.  The count. */
static int
workers_active(pid_t *pids, long *active, int max)
{
    struct h_worker_status ws[MAX_SOCKS];
    int                    n = h_status_workers(admin, ws, MAX_SOCKS);

    assert_int_not_equal(n, -1);
    for (int i = 0; i < n && i < max; i++) {
        pids[i] = ws[i].pid;
        active[i] = ws[i].active;
    }
    return n < max ? n : max;
}

struct held_arg {
    int  want;                  /* open connections in all */
    int  n;
    pid_t pids[MAX_SOCKS];
    long active[MAX_SOCKS];
};

static int
all_held(void *arg)
{
    struct held_arg *a = arg;
    long             sum = 0;

    a->n = workers_active(a->pids, a->active, MAX_SOCKS);
    for (int i = 0; i < a->n; i++)
        sum += a->active[i];
    return sum == a->want;
}

/*
 * Hold HELD connections open (HOLD: the backend answers "OK" and waits)
 * and wait until the workers count want in all; fds get the connections.
 */
static void
hold(int p, int v6, int *fds, struct held_arg *a)
{
    open_n(p, v6, "HOLD\n", fds, HELD);
    for (int i = 0; i < HELD; i++)
        assert_int_equal(expect_line(fds[i], "OK\n"), 0);
    if (h_wait(all_held, a, 5000) == -1)
        fail_msg("the workers never held %d connections", a->want);
}

/* --- reloads --- */

struct log_arg {
    size_t      from;
    const char *what;
};

static int
logged(void *arg)
{
    struct log_arg *a = arg;

    return h_log_count(lbd.error_log, a->from, a->what, NULL) > 0;
}

/* SIGHUP, and wait until the error log says what (a reload's outcome). */
static void
reload_and_wait(const char *what)
{
    char          *text = h_read_file(lbd.error_log, NULL);
    struct log_arg a = { text != NULL ? strlen(text) : 0, what };

    free(text);
    assert_int_equal(kill(lbd.pid, SIGHUP), 0);
    if (h_wait(logged, &a, 10000) == -1) {
        h_dump(lbd.error_log);
        fail_msg("no \"%s\" in the error log after the reload", what);
    }
}

/* Stop every worker (they accept nothing until SIGCONT); their pids into w.  The count. */
static int
stop_workers(pid_t *w)
{
    int n = h_lbd_workers(&lbd, w, MAX_SOCKS);

    for (int i = 0; i < n; i++)
        assert_int_equal(h_stop(w[i], 5000), 0);
    return n;
}

/*
 * Stop the workers, queue QUEUED requests, reload with the file written
 * meanwhile, and continue the old workers: every request is answered,
 * whether it waited on a socket that moved or on one that closed.
 */
static void
reload_with_queue(void)
{
    pid_t old[MAX_SOCKS];
    int   fds[QUEUED], n;

    n = stop_workers(old);
    open_n(port, 0, "NAME\n", fds, QUEUED);
    reload_and_wait("old workers finishing");
    for (int i = 0; i < n; i++)
        assert_int_equal(kill(old[i], SIGCONT), 0);
    expect_n(fds, QUEUED, "b1\n");
    assert_int_equal(h_wait_gone(old, n, 10000), 0);
}

/* --- the tests --- */

/*
 * 2 workers: 2 listening sockets on the port, one per worker, all the
 * master's; HELD connections from as many source ports land on both
 * workers.  The same over IPv6.
 */
static void
spread_over_workers(void **state)
{
    int             v6 = have_ipv6();
    int             fds[HELD], fds6[HELD];
    struct held_arg a = { .want = HELD };

    start(2, 1, v6);
    assert_true(h_log_has(lbd.error_log, "[notice]", "service \"t\"", "reuseport", NULL));
    assert_one_socket_per_worker(port, 2);

    hold(port, 0, fds, &a);
    assert_int_equal(a.n, 2);
    for (int i = 0; i < a.n; i++) {
        fprintf(stderr, "worker %d holds %ld of %d connections\n", (int) a.pids[i],
                a.active[i], HELD);
        assert_true(a.active[i] > 0);
    }
    if (!v6) {
        fprintf(stderr, "no [::1] here: IPv6 not checked\n");
        close_n(fds, HELD);
        return;
    }
    assert_one_socket_per_worker(port6, 2);
    {
        struct held_arg b = { .want = 2 * HELD };

        hold(port6, 1, fds6, &b);
        assert_int_equal(b.n, 2);
        for (int i = 0; i < b.n; i++)
            for (int k = 0; k < a.n; k++)
                if (b.pids[i] == a.pids[k] && b.active[i] <= a.active[k])
                    fail_msg("worker %d took none of the IPv6 connections", (int) b.pids[i]);
    }
    serve_n(port6, 1, 5);
    close_n(fds, HELD);
    close_n(fds6, HELD);
}

/*
 * The shared socket (reuseport off): a burst of HELD connections from one
 * client lands on both workers about evenly, because a worker ahead of its
 * share steps back (accept_quota in src/lbd_worker.c).  Without that, the
 * worker that wakes first took whole bursts (wrk's 100 connections went
 * 100/0 at times; here 64/0 or 56/8 in 4 of 5 runs).  The bound is loose, a quarter
 * each at least: the split depends on when the kernel lets each worker run.
 * Then, with one worker stopped (SIGSTOP), the other still serves every new
 * connection.
 */
static void
shared_socket_spreads(void **state)
{
    int             fds[HELD];
    struct held_arg a = { .want = HELD };

    start(2, 0, 0);
    hold(port, 0, fds, &a);
    assert_int_equal(a.n, 2);
    for (int i = 0; i < a.n; i++) {
        fprintf(stderr, "worker %d holds %ld of %d connections\n", (int) a.pids[i],
                a.active[i], HELD);
        assert_true(a.active[i] >= HELD / 4);
    }

    /* A sibling that does not run strands nothing: the other steps back, then takes them. */
    {
        pid_t w[MAX_SOCKS];
        int   more[QUEUED];
        int   n = h_lbd_workers(&lbd, w, MAX_SOCKS);
        int64_t t0;

        assert_int_equal(n, 2);
        assert_int_equal(h_stop(w[0], 5000), 0);
        t0 = h_now_ms();
        open_n(port, 0, "NAME\n", more, QUEUED);
        expect_n(more, QUEUED, "b1\n");
        fprintf(stderr, "one worker stopped: %d new connections served in %lld ms\n", QUEUED,
                (long long) (h_now_ms() - t0));
        assert_int_equal(kill(w[0], SIGCONT), 0);
    }
    close_n(fds, HELD);
}

struct respawn_arg {
    pid_t         killed;
    unsigned long inode;
};

static int
respawned(void *arg)
{
    struct respawn_arg *a = arg;
    pid_t               w = worker_holding(a->inode);

    return w > 0 && w != a->killed;
}

/*
 * Kill -9 a worker: the master respawns it on the same socket.  Connections
 * queued on that socket while it was stopped are served by the successor,
 * and connections made until the respawn is seen are all served.
 */
static void
respawn_inherits_socket(void **state)
{
    struct respawn_arg a;
    unsigned long      in[MAX_SOCKS], now[MAX_SOCKS];
    pid_t              w[MAX_SOCKS];
    int                fds[QUEUED], n, served = 0;

    start(2, 1, 0);
    listeners(port, in, 2);
    a.inode = in[1];
    a.killed = worker_holding(a.inode);
    assert_true(a.killed > 0);

    /* Queue on every socket, the killed worker's included. */
    n = stop_workers(w);
    open_n(port, 0, "NAME\n", fds, QUEUED);
    assert_int_equal(kill(a.killed, SIGKILL), 0);
    for (int i = 0; i < n; i++)
        if (w[i] != a.killed)
            assert_int_equal(kill(w[i], SIGCONT), 0);
    while (!respawned(&a)) {
        serve_n(port, 0, 1);
        served++;
        assert_true(served < 10000);
    }
    fprintf(stderr, "%d connections served until the respawn was seen\n", served);
    expect_n(fds, QUEUED, "b1\n");
    assert_false(h_pid_exists(a.killed));
    assert_one_socket_per_worker(port, 2);
    listeners(port, now, 2);
    assert_memory_equal(in, now, 2 * sizeof(in[0]));
    serve_n(port, 0, 20);
}

/*
 * A reload that changes nothing keeps the workers and the sockets; one that
 * restarts the workers (a timeout changed) keeps the sockets too: same
 * inodes, one per new worker.
 */
static void
reload_keeps_sockets(void **state)
{
    unsigned long before[MAX_SOCKS], after[MAX_SOCKS];
    pid_t         w[MAX_SOCKS];

    start(2, 1, 0);
    listeners(port, before, 2);

    reload_and_wait("applied without restarting workers");
    listeners(port, after, 2);
    assert_memory_equal(before, after, 2 * sizeof(before[0]));
    serve_n(port, 0, 20);

    assert_non_null(write_conf(2, 1, "connect = \"1s\"; idle = \"31s\"; shutdown = \"10s\";"));
    reload_with_queue();
    listeners(port, after, 2);
    assert_memory_equal(before, after, 2 * sizeof(before[0]));
    assert_int_equal(h_lbd_workers(&lbd, w, MAX_SOCKS), 2);
    assert_one_socket_per_worker(port, 2);
    serve_n(port, 0, 20);
}

/*
 * worker_processes 2 -> 3 binds a third socket next to the two kept ones;
 * 3 -> 2 keeps the first two and closes the third, and what was queued on
 * it is served (the old worker takes it before closing).
 */
static void
reload_grows_and_shrinks(void **state)
{
    unsigned long two[MAX_SOCKS], three[MAX_SOCKS], again[MAX_SOCKS];

    start(2, 1, 0);
    listeners(port, two, 2);

    assert_non_null(write_conf(3, 1, NULL));
    reload_with_queue();
    listeners(port, three, 3);
    for (int i = 0; i < 2; i++)
        assert_true(three[0] == two[i] || three[1] == two[i] || three[2] == two[i]);
    assert_one_socket_per_worker(port, 3);
    serve_n(port, 0, 20);

    assert_non_null(write_conf(2, 1, NULL));
    reload_with_queue();
    listeners(port, again, 2);
    assert_memory_equal(two, again, 2 * sizeof(two[0]));
    assert_one_socket_per_worker(port, 2);
    serve_n(port, 0, 20);
}

/*
 * reuseport off -> on: the shared socket becomes worker 0's (same inode,
 * its queue served) and a second one is bound.  On -> off: worker 0's socket
 * becomes the shared one, the other closes, and nothing queued is lost.
 */
static void
reload_switches_reuseport(void **state)
{
    unsigned long shared[MAX_SOCKS], on[MAX_SOCKS], off[MAX_SOCKS];
    pid_t         w[MAX_SOCKS];

    start(2, 0, 0);
    listeners(port, shared, 1);

    assert_non_null(write_conf(2, 1, NULL));
    reload_with_queue();
    listeners(port, on, 2);
    assert_true(on[0] == shared[0] || on[1] == shared[0]);
    assert_one_socket_per_worker(port, 2);
    serve_n(port, 0, 20);

    assert_non_null(write_conf(2, 0, NULL));
    reload_with_queue();
    listeners(port, off, 1);
    assert_int_equal(off[0], shared[0]);
    assert_int_equal(h_lbd_workers(&lbd, w, MAX_SOCKS), 2);
    for (int i = 0; i < 2; i++)
        assert_true(holds(w[i], shared[0]));
    serve_n(port, 0, 20);
}

/* Where "reuseport = 5" is in the file written by write_conf: its line. */
static int
bad_line(const char *file)
{
    char *text = h_read_file(file, NULL), *at;
    int   line = 1;

    assert_non_null(text);
    at = strstr(text, "reuseport = 5");
    assert_non_null(at);
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    return line;
}

/*
 * "reuseport = 5" is refused by lbd -t, and by a reload (the running
 * workers keep serving), with the file and line.
 */
static void
bad_value_names_the_line(void **state)
{
    const char *argv[] = { h_lbd_bin(), "-t", "-c", NULL, NULL };
    const char *file;
    char        where[600];
    pid_t       before[MAX_SOCKS], after[MAX_SOCKS];

    start(2, 1, 0);
    assert_int_equal(h_lbd_workers(&lbd, before, MAX_SOCKS), 2);
    file = write_conf(2, 1, NULL);
    assert_non_null(file);
    snprintf(service_extra, sizeof(service_extra), "reuseport = 5;");
    file = h_conf_write("lbd.conf", &conf);
    assert_non_null(file);
    snprintf(where, sizeof(where), "%s:%d: ", file, bad_line(file));

    argv[3] = file;
    assert_int_equal(h_run(argv, h_path("t.out"), 10000), 1);
    if (!h_log_has(h_path("t.out"), where, "\"reuseport\" must be true or false", NULL)) {
        h_dump(h_path("t.out"));
        fail_msg("lbd -t does not say \"%s...\"", where);
    }

    reload_and_wait("reload failed, keeping the running configuration");
    assert_true(h_log_has(lbd.error_log, where, "reuseport", NULL));
    assert_int_equal(h_lbd_workers(&lbd, after, MAX_SOCKS), 2);
    assert_memory_equal(before, after, 2 * sizeof(before[0]));
    assert_one_socket_per_worker(port, 2);
    serve_n(port, 0, 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spread_over_workers, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(shared_socket_spreads, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(respawn_inherits_socket, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(reload_keeps_sockets, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(reload_grows_and_shrinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(reload_switches_reuseport, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(bad_value_names_the_line, h_setup, h_teardown),
    };

    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
