/*
 * it_limits.c - lbd at its connection limit, whether the open file limit
 * or worker_connections sets it.
 *
 * What lbd promises (doc/DESIGN.md, "Accepting"): each worker holds at most
 * min(worker_connections, (RLIMIT_NOFILE - 64) / 2) client connections, and
 * the master logs that capacity at start.  A full worker stops watching its
 * listeners; while every worker is full, what waits in the accept queue is
 * taken every 200 ms and refused: a TCP client sees its connection closed
 * (EOF), an HTTP client gets a 503 and then EOF.  So a connection over the
 * limit is served or refused within a fraction of a second, never left
 * hanging; the workers neither spin nor crash; and when held connections
 * close, new ones are served again.
 *
 * The low open file limit is a hard RLIMIT_NOFILE of 256 set in the child
 * before it execs lbd (h_spawn_nofile): lbd raises its soft limit to the
 * hard one, so 256 is what it gets, (256 - 64) / 2 = 96 per worker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MAX_CLIENTS     512
#define OVER            25      /* connections tried over the limit, one every 40 ms */
#define REFUSE_MS     1500      /* the longest an over-limit connection may wait */
#define REOPEN          10      /* held connections closed, then new ones served */

enum outcome { PENDING, SERVED, REFUSED, BROKEN };

/* One client connection driven by poll(): a HOLD (tcp) or a GET (http). */
struct cl {
    int          fd;
    int64_t      t0;            /* when it connected */
    int64_t      took;          /* ms from t0 to the outcome */
    char         buf[256];
    size_t       n;
    enum outcome out;
};

struct lim_case {
    const char   *mode;         /* "tcp" or "http" */
    int           workers;
    unsigned long nofile;       /* hard RLIMIT_NOFILE for lbd; 0: the test's own */
    int           worker_connections;   /* 0: the default (8192) */
    int           per_worker;   /* the limit each worker must end up with */
    const char   *why;          /* the log's reason: "the open file limit" or "worker_connections" */
};

static int http_mode;

/* Connect and send the request.  0 or -1. */
static int
cl_open(struct cl *c, int port)
{
    const char *req = http_mode ? "GET / HTTP/1.1\r\nHost: limits\r\n\r\n" : "HOLD\n";

    memset(c, 0, sizeof(*c));
    c->t0 = h_now_ms();
    if ((c->fd = h_connect(port, 3000)) == -1)
        return -1;
    return h_send_all(c->fd, req, strlen(req), 3000);
}

/*
 * What has come so far decides: the backend's answer ("OK\n", or a 200)
 * means served; lbd's 503 followed by EOF (http) or a bare EOF (tcp) means
 * refused; anything else is broken.
 */
static void
cl_judge(struct cl *c, int eof)
{
    const char *served = http_mode ? "HTTP/1.1 200" : "OK\n";

    if (c->n >= strlen(served) && memcmp(c->buf, served, strlen(served)) == 0)
        c->out = SERVED;
    else if (!eof)
        return;
    else if (http_mode)
        c->out = strncmp(c->buf, "HTTP/1.1 503", 12) == 0
                 && strstr(c->buf, "connection limit") != NULL ? REFUSED : BROKEN;
    else
        c->out = c->n == 0 ? REFUSED : BROKEN;
    c->took = h_now_ms() - c->t0;
    if (c->out == BROKEN)
        fprintf(stderr, "it_limits: unexpected answer (%zu bytes): %.*s\n", c->n, (int) c->n,
                c->buf);
}

/* Read what is there on the pending clients, without waiting more than ms. */
static void
cl_poll(struct cl *cs, int n, int ms)
{
    struct pollfd pfd[MAX_CLIENTS];
    int           idx[MAX_CLIENTS], k = 0;

    for (int i = 0; i < n; i++)
        if (cs[i].out == PENDING) {
            pfd[k].fd = cs[i].fd;
            pfd[k].events = POLLIN;
            idx[k++] = i;
        }
    if (k == 0 || poll(pfd, (nfds_t) k, ms) <= 0)
        return;
    for (int j = 0; j < k; j++) {
        struct cl *c = &cs[idx[j]];
        ssize_t    r;

        if (pfd[j].revents == 0)
            continue;
        r = recv(c->fd, c->buf + c->n, sizeof(c->buf) - 1 - c->n, 0);
        if (r > 0) {
            c->n += (size_t) r;
            c->buf[c->n] = '\0';
            cl_judge(c, c->n == sizeof(c->buf) - 1);
        } else if (r == 0 || errno == ECONNRESET) {
            cl_judge(c, 1);
        } else if (errno != EAGAIN && errno != EINTR) {
            c->out = BROKEN;
        }
    }
}

/* Poll until no client of cs is pending or deadline_ms passes. */
static void
cl_settle(struct cl *cs, int n, int deadline_ms)
{
    int64_t end = h_now_ms() + deadline_ms;

    for (;;) {
        int pending = 0;

        for (int i = 0; i < n; i++)
            pending += cs[i].out == PENDING;
        if (pending == 0 || h_now_ms() >= end)
            return;
        cl_poll(cs, n, 20);
    }
}

static int
count(const struct cl *cs, int n, enum outcome o)
{
    int k = 0;

    for (int i = 0; i < n; i++)
        k += cs[i].out == o;
    return k;
}

static long
workers_cpu(const pid_t *w, int n)
{
    long sum = 0;

    for (int i = 0; i < n; i++) {
        long t = h_proc_cpu_ticks(w[i]);

        assert_true(t >= 0);
        sum += t;
    }
    return sum;
}

static void
run_case(const struct lim_case *lc)
{
    static struct cl held[MAX_CLIENTS], over[OVER], again[REOPEN + 1];
    struct h_conf c = { 0 };
    struct h_lbd  l;
    char          extra[64] = "", line[160];
    int           bport = h_free_port(), port = h_free_port();
    int           cap = lc->per_worker * lc->workers;
    pid_t         w0[16], w1[16];
    int           nw;
    long          cpu0, cpu1, tck = sysconf(_SC_CLK_TCK);
    int64_t       t0;
    int           slowest = 0;

    assert_true(cap + OVER < MAX_CLIENTS);
    http_mode = strcmp(lc->mode, "http") == 0;
    assert_true(h_testsrv(bport, "b1", http_mode ? "-h" : NULL) > 0);
    if (lc->worker_connections > 0)
        snprintf(extra, sizeof(extra), "worker_connections = %d;", lc->worker_connections);
    c.workers = lc->workers;
    c.port = port;
    c.backends = &bport;
    c.nbackends = 1;
    c.mode = lc->mode;
    c.extra = extra;
    h_spawn_nofile(lc->nofile);
    assert_int_equal(h_lbd_start(&l, h_conf_write("lbd.conf", &c), port, lc->workers), 0);
    h_spawn_nofile(0);

    /* The capacity, logged at start. */
    snprintf(line, sizeof(line), "capacity %d connections (%d workers x %d)", cap,
             lc->workers, lc->per_worker);
    if (lc->nofile != 0) {
        char lim[96];

        snprintf(lim, sizeof(lim), "open file limit %lu: up to %lu proxied", lc->nofile,
                 (lc->nofile - 64) / 2);
        assert_int_equal(h_log_wait(l.error_log, 3000, lim, line, NULL), 0);
    } else {
        assert_int_equal(h_log_wait(l.error_log, 3000, line, NULL), 0);
    }
    nw = h_lbd_workers(&l, w0, 16);
    assert_int_equal(nw, lc->workers);

    /* Up to the capacity: every connection served. */
    for (int i = 0; i < cap; i++) {
        assert_int_equal(cl_open(&held[i], port), 0);
        cl_settle(&held[i], 1, 5000);
        if (held[i].out != SERVED)
            fprintf(stderr, "it_limits: connection %d of %d: outcome %d\n", i + 1, cap,
                    held[i].out);
        assert_int_equal(held[i].out, SERVED);
    }

    /*
     * Over it, one connection every 40 ms for a second: each refused within
     * REFUSE_MS, and the workers' CPU over that second small (a worker
     * spinning on its listener would burn the whole second).
     */
    cpu0 = workers_cpu(w0, nw);
    t0 = h_now_ms();
    for (int i = 0; i < OVER; i++) {
        assert_int_equal(cl_open(&over[i], port), 0);
        while (h_now_ms() < t0 + 40 * (i + 1))
            cl_poll(over, i + 1, 5);
    }
    while (h_now_ms() < t0 + 1000)
        cl_poll(over, OVER, 10);
    cpu1 = workers_cpu(w0, nw);
    cl_settle(over, OVER, REFUSE_MS + 1000);
    for (int i = 0; i < OVER; i++)
        if (over[i].out == REFUSED && over[i].took > slowest)
            slowest = (int) over[i].took;
    fprintf(stderr, "it_limits: %s, %d workers x %d: %d of %d over the limit refused, the "
            "slowest in %d ms; workers' CPU over 1 s: %ld ms\n", lc->mode, lc->workers,
            lc->per_worker, count(over, OVER, REFUSED), OVER, slowest,
            (cpu1 - cpu0) * 1000 / tck);
    assert_int_equal(count(over, OVER, REFUSED), OVER);
    assert_true(slowest <= REFUSE_MS);
    assert_true((cpu1 - cpu0) * 1000 / tck <= 200);
    for (int i = 0; i < OVER; i++)
        close(over[i].fd);

    /* Nothing crashed, every held connection still open, and the log says why. */
    assert_int_equal(h_lbd_workers(&l, w1, 16), nw);
    for (int i = 0; i < nw; i++)
        assert_true(h_pid_alive(w0[i]));
    cl_poll(held, cap, 0);
    for (int i = 0; i < cap; i++) {
        char b;

        assert_true(recv(held[i].fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) == -1 || http_mode);
    }
    snprintf(line, sizeof(line), "at its limit of %d connections (%s); refused",
             lc->per_worker, lc->why);
    assert_int_equal(h_log_wait(l.error_log, 3000, line, NULL), 0);

    /* Held connections close: as many new ones are served (retried while lbd notices). */
    for (int i = 0; i < REOPEN; i++)
        close(held[i].fd);
    for (int i = 0; i < REOPEN; i++) {
        int64_t end = h_now_ms() + 3000;

        do {
            if (again[i].fd > 0)
                close(again[i].fd);
            assert_int_equal(cl_open(&again[i], port), 0);
            cl_settle(&again[i], 1, REFUSE_MS + 500);
        } while (again[i].out == REFUSED && h_now_ms() < end);
        assert_int_equal(again[i].out, SERVED);
    }
    /* ...and full again: the next is refused. */
    assert_int_equal(cl_open(&again[REOPEN], port), 0);
    cl_settle(&again[REOPEN], 1, REFUSE_MS + 500);
    assert_int_equal(again[REOPEN].out, REFUSED);
    for (int i = 0; i <= REOPEN; i++) {
        close(again[i].fd);
        again[i].fd = 0;
    }
    for (int i = REOPEN; i < cap; i++)
        close(held[i].fd);
    assert_true(h_pid_alive(l.pid));
}

static void
test_tcp_open_file_limit(void **state)
{
    static const struct lim_case lc = { "tcp", 2, 256, 0, 96, "the open file limit" };

    run_case(&lc);
}

static void
test_http_open_file_limit(void **state)
{
    static const struct lim_case lc = { "http", 2, 256, 0, 96, "the open file limit" };

    run_case(&lc);
}

static void
test_tcp_worker_connections(void **state)
{
    static const struct lim_case lc = { "tcp", 2, 0, 25, 25, "worker_connections" };

    run_case(&lc);
}

static void
test_http_worker_connections(void **state)
{
    static const struct lim_case lc = { "http", 1, 0, 25, 25, "worker_connections" };

    run_case(&lc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tcp_open_file_limit, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_http_open_file_limit, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_tcp_worker_connections, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_http_worker_connections, h_setup, h_teardown),
    };
    struct rlimit rl;

    /* The test holds a few hundred sockets itself. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    h_init(60);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
