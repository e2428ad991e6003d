/*
 * it_proxy.c - lbd's TCP proxy moves bytes both ways unchanged, passes
 * half-closes through and applies backpressure.
 *
 * Every test: one lbd-testsrv backend, lbd with 2 workers in front of it,
 * real clients on 127.0.0.1.  test_bulk_buffers reads what the workers hold
 * from /status.json.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MB          (1024 * 1024)
#define WORKERS     2

static int          port;       /* lbd's service */
static struct h_lbd lbd;

/* One ECHO/SINK/SOURCE backend named "b1" and lbd in front of it. */
static void
start(void)
{
    struct h_single s = { 0 };

    assert_int_equal(h_single_start(&s, WORKERS, NULL, "b1", NULL), 0);
    lbd = s.l;
    port = s.port;
}

/* Run s to the end (timeout_ms), failing the test on error or timeout. */
static void
stream_finish(struct h_stream *s, int timeout_ms)
{
    int rc = h_stream_run(s, timeout_ms);

    if (rc != 0)
        fprintf(stderr, "stream: rc %d (%s), sent %" PRIu64 " received %" PRIu64
                " eof %d\n", rc, rc == -1 ? strerror(s->err) : "timeout",
                s->sent, s->recvd, s->eof);
    assert_int_equal(rc, 0);
}

/* A short exchange, every byte value included, comes back unchanged. */
static void
test_echo_small(void **state)
{
    char   req[5 + 256 + 32], resp[512];
    size_t n;

    start();
    assert_int_equal(h_request(port, "NAME\n", 5, resp, sizeof(resp), &n, 5000), 0);
    assert_string_equal(resp, "b1\n");

    memcpy(req, "ECHO\n", 5);
    for (int i = 0; i < 256; i++)
        req[5 + i] = (char) i;
    memcpy(req + 5 + 256, "hello, lbd\r\n", 12);
    assert_int_equal(h_request(port, req, 5 + 256 + 12, resp, sizeof(resp), &n, 5000), 0);
    assert_int_equal(n, 256 + 12);
    assert_memory_equal(resp, req + 5, 256 + 12);
}

/* 100 MB client -> backend: the backend counts and hashes what arrived. */
static void
test_upload_100mb(void **state)
{
    struct h_stream s = { .cmd = "SINK\n", .send_len = 100 * MB, .send_seed = 11 };
    char            reply[128], expect[128];

    s.keep = reply;
    s.keep_cap = sizeof(reply);
    start();
    assert_int_equal(h_stream_open(&s, port, 5000), 0);
    stream_finish(&s, 40000);
    assert_int_equal(s.sent, 100 * MB);
    snprintf(expect, sizeof(expect), "%u %016" PRIx64 "\n", 100 * MB, s.sent_hash);
    assert_string_equal(reply, expect);
    h_stream_close(&s);
}

/* 100 MB backend -> client. */
static void
test_download_100mb(void **state)
{
    struct h_stream s = { .cmd = "SOURCE 104857600 12\n" };

    start();
    assert_int_equal(h_stream_open(&s, port, 5000), 0);
    stream_finish(&s, 40000);
    assert_int_equal(s.recvd, 100 * MB);
    assert_true(s.recv_hash == lbd_td_stream_hash(12, 100 * MB));
    h_stream_close(&s);
}

/* 100 MB both ways at once: the client sends while the echo comes back. */
static void
test_duplex_echo_100mb(void **state)
{
    struct h_stream s = { .cmd = "ECHO\n", .send_len = 100 * MB, .send_seed = 13 };

    start();
    assert_int_equal(h_stream_open(&s, port, 5000), 0);
    stream_finish(&s, 40000);
    assert_int_equal(s.sent, 100 * MB);
    assert_int_equal(s.recvd, 100 * MB);
    assert_true(s.recv_hash == s.sent_hash);
    h_stream_close(&s);
}

/*
 * Half-close in both directions.
 * Client -> backend: the client sends, shuts its write side before reading
 * a byte, and still receives the echo of everything, then EOF.
 * Backend -> client: the backend finishes a SOURCE and half-closes while the
 * client keeps its write side open: the client still gets all and EOF.
 */
static void
test_half_close(void **state)
{
    struct h_stream up = { .cmd = "ECHO\n", .send_len = 32 * 1024, .send_seed = 14,
                           .paused = 1 };
    struct h_stream down = { .cmd = "SOURCE 65536 15\n", .keep_open = 1 };
    int64_t         deadline;

    start();
    assert_int_equal(h_stream_open(&up, port, 5000), 0);
    deadline = h_now_ms() + 5000;
    while (!up.shut && h_now_ms() < deadline)
        assert_int_not_equal(h_stream_run(&up, 20), -1);
    assert_true(up.shut);
    assert_int_equal(up.recvd, 0);
    up.paused = 0;
    stream_finish(&up, 10000);
    assert_int_equal(up.recvd, 32 * 1024);
    assert_true(up.recv_hash == up.sent_hash);
    h_stream_close(&up);

    assert_int_equal(h_stream_open(&down, port, 5000), 0);
    stream_finish(&down, 10000);
    assert_false(down.shut);
    assert_int_equal(down.recvd, 65536);
    assert_true(down.recv_hash == lbd_td_stream_hash(15, 65536));
    h_stream_close(&down);
}

/* The largest VmRSS growth (kB) of any of lbd's workers over base[]. */
static long
worker_rss_growth(const pid_t *w, const long *base, int n)
{
    long worst = 0;

    for (int i = 0; i < n; i++) {
        long rss = h_proc_status_kb(w[i], "VmRSS");

        assert_true(rss > 0);
        if (rss - base[i] > worst)
            worst = rss - base[i];
    }
    return worst;
}

/*
 * A client asks for 200 MB and does not read: once the pipe is full, lbd
 * must stop reading from the backend, so its workers' memory stays put
 * (< 8 MB growth).  Then the client reads it all and the checksum matches.
 */
static void
test_backpressure(void **state)
{
    struct h_stream s = { .cmd = "SOURCE 209715200 16\n", .paused = 1 };
    pid_t           w[16];
    long            base[16], growth = 0;
    int             n, queued = -1, last = -2;
    int64_t         deadline, still_since = 0, window_end;

    start();
    n = h_lbd_workers(&lbd, w, 16);
    assert_int_equal(n, WORKERS);
    for (int i = 0; i < n; i++)
        assert_true((base[i] = h_proc_status_kb(w[i], "VmRSS")) > 0);

    assert_int_equal(h_stream_open(&s, port, 5000), 0);

    /* Wait until the client's receive queue stops growing for 300 ms. */
    deadline = h_now_ms() + 15000;
    for (;;) {
        assert_int_not_equal(h_stream_run(&s, 20), -1);
        assert_int_equal(ioctl(s.fd, FIONREAD, &queued), 0);
        if (queued != last) {
            last = queued;
            still_since = h_now_ms();
        } else if (queued > 0 && h_now_ms() - still_since >= 300) {
            break;
        }
        assert_true(h_now_ms() < deadline);
    }

    /* A 500 ms window: an lbd without backpressure would read ~GBs in it. */
    window_end = h_now_ms() + 500;
    while (h_now_ms() < window_end) {
        long g = worker_rss_growth(w, base, n);

        if (g > growth)
            growth = g;
        h_msleep(20);
    }
    fprintf(stderr, "backpressure: client queue %d bytes, worst worker RSS growth %ld kB\n",
            queued, growth);
    assert_true(growth < 8 * 1024);

    s.paused = 0;
    stream_finish(&s, 60000);
    assert_int_equal(s.recvd, 200 * MB);
    assert_true(s.recv_hash == lbd_td_stream_hash(16, 200 * MB));
    h_stream_close(&s);
}

/* --- bulk buffers, as /status.json counts them --- */

#define STALLED     5           /* paused readers */
#define BULK_CAP    2           /* proxy_bulk_buffers */
#define BUF         16384       /* proxy_buffer_size */
#define BULK        65536       /* proxy_bulk_buffer_size */

struct held {
    int  admin;                 /* the admin port */
    int  want_active;           /* client connections the workers must hold in all */
    long active, bytes, bulk;   /* summed over the workers */
    int  bad;                   /* a worker's counts break the rule */
};

/*
 * Read every worker's "active", "buffer_bytes" and "bulk_buffers".  The
 * rule: a worker holds one buffer per stalled connection, at most
 * BULK_CAP of them bulk: buffer_bytes = bulk * BULK + (active - bulk) * BUF.
 */
static int
held_settled(void *arg)
{
    struct held           *h = arg;
    struct h_worker_status ws[16];
    int                    n = h_status_workers(h->admin, ws, 16);

    assert_int_not_equal(n, -1);
    h->active = h->bytes = h->bulk = 0;
    h->bad = 0;
    for (int i = 0; i < n; i++) {
        if (ws[i].bulk_buffers > BULK_CAP || ws[i].bulk_buffers > ws[i].active
            || ws[i].buffer_bytes != ws[i].bulk_buffers * BULK
                                     + (ws[i].active - ws[i].bulk_buffers) * BUF)
            h->bad = 1;
        h->active += ws[i].active;
        h->bytes += ws[i].buffer_bytes;
        h->bulk += ws[i].bulk_buffers;
    }
    return h->active == h->want_active && !h->bad;
}

/*
 * Streams move in bulk buffers; readers that stop hold one buffer each, no
 * more than proxy_bulk_buffers of them bulk per worker, and /status.json
 * says so to the byte.  Once they read on, every stream arrives intact and
 * the workers hold nothing.
 */
static void
test_bulk_buffers(void **state)
{
    struct h_single s = { 0 };
    struct h_stream st[STALLED];
    struct held     h = { .admin = h_free_port(), .want_active = STALLED };
    char            extra[PATH_MAX + 256], cmd[STALLED][64];
    int             queued[STALLED], last[STALLED];
    int64_t         deadline, still_since = 0;

    snprintf(extra, sizeof(extra), "proxy_buffer_size = %d; proxy_bulk_buffer_size = %d; "
             "proxy_bulk_buffers = %d; %s", BUF, BULK, BULK_CAP, h_admin_conf(h.admin));
    assert_int_equal(h_single_start(&s, WORKERS, extra, "b1", NULL), 0);
    lbd = s.l;
    port = s.port;
    assert_int_equal(h_wait_listening(h.admin, 1, 5000), 0);

    for (int i = 0; i < STALLED; i++) {
        snprintf(cmd[i], sizeof(cmd[i]), "SOURCE %d %d\n", 64 * MB, 40 + i);
        st[i] = (struct h_stream) { .cmd = cmd[i], .paused = 1 };
        assert_int_equal(h_stream_open(&st[i], port, 5000), 0);
        last[i] = -1;
    }

    /* Wait until no client's receive queue has grown for 300 ms: all stalled. */
    deadline = h_now_ms() + 20000;
    for (;;) {
        int moved = 0;

        for (int i = 0; i < STALLED; i++) {
            assert_int_not_equal(h_stream_run(&st[i], 5), -1);
            assert_int_equal(ioctl(st[i].fd, FIONREAD, &queued[i]), 0);
            if (queued[i] != last[i] || queued[i] == 0)
                moved = 1;
            last[i] = queued[i];
        }
        if (moved)
            still_since = h_now_ms();
        else if (h_now_ms() - still_since >= 300)
            break;
        assert_true(h_now_ms() < deadline);
    }

    if (h_wait(held_settled, &h, 5000) != 0)
        fail_msg("stalled: active %ld, buffer bytes %ld, bulk %ld (a worker breaks the rule: %d)",
                 h.active, h.bytes, h.bulk, h.bad);
    fprintf(stderr, "%d stalled readers: workers hold %ld bytes in buffers, %ld bulk\n",
            STALLED, h.bytes, h.bulk);
    assert_true(h.bulk >= 1);

    for (int i = 0; i < STALLED; i++) {
        st[i].paused = 0;
        stream_finish(&st[i], 60000);
        assert_int_equal(st[i].recvd, 64 * MB);
        assert_true(st[i].recv_hash == lbd_td_stream_hash(40 + (uint64_t) i, 64 * MB));
        h_stream_close(&st[i]);
    }
    h.want_active = 0;
    assert_int_equal(h_wait(held_settled, &h, 5000), 0);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(h.bulk, 0);
}

/*
 * A connection that keeps moving bytes outlives timeouts.idle many times;
 * once it goes quiet both ways lbd closes it after about timeouts.idle and
 * says so in the error log.
 */
static void
test_idle_timeout(void **state)
{
    int           b = h_free_port();
    struct h_conf c = { .workers = 1, .backends = &b, .nbackends = 1,
                        .timeouts = "connect = \"1s\"; idle = \"400ms\"; shutdown = \"5s\";" };
    const char   *conf;
    char          line[16];
    int           fd;
    int64_t       t0, waited;

    assert_int_not_equal(b, -1);
    assert_int_not_equal(h_testsrv(b, "b1", NULL), -1);
    port = c.port = h_free_port();
    assert_non_null(conf = h_conf_write("lbd.conf", &c));
    assert_int_equal(h_lbd_start(&lbd, conf, port, 1), 0);

    fd = h_connect(port, 2000);
    assert_int_not_equal(fd, -1);
    assert_int_equal(h_send_all(fd, "ECHO\n", 5, 2000), 0);
    /* 1.2 s of traffic, a byte every 100 ms: three idle periods pass. */
    for (int i = 0; i < 12; i++) {
        if (i > 0)
            usleep(100 * 1000);
        assert_int_equal(h_send_all(fd, "x\n", 2, 2000), 0);
        assert_int_equal(h_recv_line(fd, line, sizeof(line), 2000), 2);
    }
    /* Quiet from the last echo on: closed after the idle time, not much later. */
    t0 = h_now_ms();
    assert_int_equal(h_recv_eof(fd, 5000), 0);
    waited = h_now_ms() - t0;
    assert_true(waited >= 350);
    assert_true(waited < 4000);
    close(fd);
    assert_int_equal(h_log_wait(lbd.error_log, 2000, "idle for 400 ms, closing", NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_small, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_upload_100mb, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_download_100mb, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_duplex_echo_100mb, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_half_close, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_buffers, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, h_setup, h_teardown),
    };

    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
