/*
 * test_health.c - unit tests of the active health checks (src/lbd_health.c):
 * the rise/fall counting, the judgement of an HTTP answer, the request, the
 * jitter, and the checker itself in a libevent loop of this process against
 * real loopback sockets, a real registry and a shared-memory segment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "lbd_health.h"
#include "lbd_registry.h"
#include "lbd_shm.h"


/* --- counting --- */

static void
test_count_rise_and_fall(void **state)
{
    struct lbd_health_track t = { LBD_HEALTH_UNKNOWN, 0, 0 };

    /* Unknown: rise successes make it up, fall failures down. */
    assert_int_equal(lbd_health_count(&t, 1, 2, 3), 0);
    assert_int_equal(t.health, LBD_HEALTH_UNKNOWN);
    assert_int_equal(lbd_health_count(&t, 1, 2, 3), 1);
    assert_int_equal(t.health, LBD_HEALTH_UP);
    assert_int_equal(t.rises, 2);
    /* Up: more successes change nothing; fall - 1 failures neither. */
    assert_int_equal(lbd_health_count(&t, 1, 2, 3), 0);
    assert_int_equal(lbd_health_count(&t, 0, 2, 3), 0);
    assert_int_equal(lbd_health_count(&t, 0, 2, 3), 0);
    assert_int_equal(t.health, LBD_HEALTH_UP);
    /* A success breaks the run of failures. */
    assert_int_equal(lbd_health_count(&t, 1, 2, 3), 0);
    assert_int_equal(t.falls, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(lbd_health_count(&t, 0, 2, 3), 0);
    assert_int_equal(lbd_health_count(&t, 0, 2, 3), 1);
    assert_int_equal(t.health, LBD_HEALTH_DOWN);
    assert_int_equal(t.falls, 3);
    /* Down: failures go on (the count stops at fall); alternating never flips it. */
    for (int i = 1; i <= 10; i++)
        assert_int_equal(lbd_health_count(&t, i % 2, 2, 3), 0);
    assert_int_equal(t.health, LBD_HEALTH_DOWN);
    assert_true(t.falls <= 3 && t.rises <= 2);
    assert_int_equal(lbd_health_count(&t, 1, 2, 3), 0);
    assert_int_equal(lbd_health_count(&t, 1, 2, 3), 1);
    assert_int_equal(t.health, LBD_HEALTH_UP);

    /* Unknown to down; rise = fall = 1 flips at every change. */
    t = (struct lbd_health_track) { LBD_HEALTH_UNKNOWN, 0, 0 };
    assert_int_equal(lbd_health_count(&t, 0, 1, 1), 1);
    assert_int_equal(t.health, LBD_HEALTH_DOWN);
    assert_int_equal(lbd_health_count(&t, 1, 1, 1), 1);
    assert_int_equal(lbd_health_count(&t, 0, 1, 1), 1);
    assert_int_equal(lbd_health_count(&t, 0, 1, 1), 0);
}


/* --- the HTTP answer --- */

static struct lbd_check_conf
http_check(int lo, int hi, const char *body)
{
    struct lbd_check_conf c = { .type = LBD_CHECK_HTTP, .interval = 2000, .timeout = 1000,
                                .rise = 2, .fall = 3, .method = (char *) "GET",
                                .path = (char *) "/", .status_min = lo, .status_max = hi,
                                .body = (char *) body };
    return c;
}

/*
 * The verdict on answer, handed over as the checker has it: exactly its
 * bytes, no terminating NUL (under --with-sanitizers a read past them fails).
 */
static int
verdict(const struct lbd_check_conf *c, const char *answer, int complete, char *why)
{
    size_t len = strlen(answer);
    char  *copy = malloc(len ? len : 1);
    int    v;

    assert_non_null(copy);
    memcpy(copy, answer, len);
    why[0] = '\0';
    v = lbd_health_http_verdict(c, copy, len, complete, why, 160);
    free(copy);
    return v;
}

static void
test_http_status(void **state)
{
    struct lbd_check_conf c = http_check(200, 399, NULL);
    char                  why[160];

    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\n", 0, why), LBD_HEALTH_PASS);
    assert_int_equal(verdict(&c, "HTTP/1.0 399 Whatever\r\n\r\n", 1, why), LBD_HEALTH_PASS);
    assert_int_equal(verdict(&c, "HTTP/1.1 301\r\n", 0, why), LBD_HEALTH_PASS);
    assert_int_equal(verdict(&c, "HTTP/1.1 204 No Content\n\n", 1, why), LBD_HEALTH_PASS);
    /* Out of range: failed at once, the body does not matter. */
    assert_int_equal(verdict(&c, "HTTP/1.1 503 Busy\r\nContent-Le", 0, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "status 503 (want 200-399)");
    assert_int_equal(verdict(&c, "HTTP/1.1 199 X\r\n", 0, why), LBD_HEALTH_FAIL);
    assert_int_equal(verdict(&c, "HTTP/1.1 400 X\r\n", 0, why), LBD_HEALTH_FAIL);
    c = http_check(204, 204, NULL);
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\n", 0, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "status 200 (want 204)");

    /* Not a whole status line yet. */
    c = http_check(200, 399, NULL);
    assert_int_equal(verdict(&c, "", 0, why), LBD_HEALTH_MORE);
    assert_int_equal(verdict(&c, "HTTP/1.1 200 O", 0, why), LBD_HEALTH_MORE);
    assert_int_equal(verdict(&c, "", 1, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "connection closed without an answer");
    assert_int_equal(verdict(&c, "HTTP/1.1 200 O", 1, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "not an HTTP answer");

    /* Not HTTP. */
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH_9.2\r\n", "HTTP/2 200\r\n", "HTTP/1.1 20\r\n", "HTTP/1.1 2000 X\r\n",
        "HTTP/1.1  200 X\r\n", "http/1.1 200 OK\r\n", "HTTP/1.x 200 OK\r\n", "HTTP/1.1 099 X\r\n",
        "B\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (verdict(&c, bad[i], 0, why) != LBD_HEALTH_FAIL)
            fail_msg("\"%s\" passed", bad[i]);
        assert_string_equal(why, "not an HTTP answer");
    }
}

static void
test_http_body(void **state)
{
    struct lbd_check_conf c = http_check(200, 299, "healthy");
    char                  why[160];

    /* Found, with or without the whole body. */
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nI am healthy", 0,
                             why), LBD_HEALTH_PASS);
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\n\r\nhealthy", 1, why), LBD_HEALTH_PASS);
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\n\nhealthy\n", 1, why), LBD_HEALTH_PASS);
    /* Not yet: head or body still coming. */
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\nServer: x\r\n", 0, why), LBD_HEALTH_MORE);
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\n\r\nheal", 0, why), LBD_HEALTH_MORE);
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nheal", 0, why),
                     LBD_HEALTH_MORE);
    /* Content-Length says the body is whole: no need to wait for the EOF. */
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\ncontent-length:  2 \r\n\r\nok", 0, why),
                     LBD_HEALTH_FAIL);
    assert_string_equal(why, "status 200 but the body lacks \"healthy\"");
    /* Bytes past Content-Length are not the body. */
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokhealthy", 0,
                             why), LBD_HEALTH_FAIL);
    /* The header's name must match whole. */
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\nX-Content-Length: 2\r\n\r\nok", 0, why),
                     LBD_HEALTH_MORE);
    /* EOF (or the cap) without it. */
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\n\r\nI am fine", 1, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "status 200 but the body lacks \"healthy\"");
    assert_int_equal(verdict(&c, "HTTP/1.1 200 OK\r\nServer: x\r\n", 1, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "the answer ends inside its head");
    /* The status is judged first. */
    assert_int_equal(verdict(&c, "HTTP/1.1 500 X\r\n\r\nhealthy", 1, why), LBD_HEALTH_FAIL);
    assert_string_equal(why, "status 500 (want 200-299)");
    /* The substring may sit in a binary body. */
    {
        static const char bin[] = "HTTP/1.1 200 OK\r\n\r\n\0\x01healthy";
        char              w[160];

        assert_int_equal(lbd_health_http_verdict(&c, bin, sizeof(bin) - 1, 1, w, sizeof(w)),
                         LBD_HEALTH_PASS);
    }
}

static void
test_http_request(void **state)
{
    struct lbd_check_conf c = http_check(200, 399, NULL);
    char                  buf[512];
    int                   n;

    n = lbd_health_http_request(&c, "127.0.0.1:9001", buf, sizeof(buf));
    assert_string_equal(buf, "GET / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nConnection: close\r\n"
                        "User-Agent: lbd-health/" LBD_VERSION "\r\n\r\n");
    assert_int_equal(n, (int) strlen(buf));
    c.method = (char *) "HEAD";
    c.path = (char *) "/healthz?full=1";
    c.host = (char *) "app.example";
    n = lbd_health_http_request(&c, "[::1]:80", buf, sizeof(buf));
    assert_string_equal(buf, "HEAD /healthz?full=1 HTTP/1.1\r\nHost: app.example\r\n"
                        "Connection: close\r\nUser-Agent: lbd-health/" LBD_VERSION "\r\n\r\n");
    /* Sized like snprintf: the length with no buffer. */
    assert_int_equal(lbd_health_http_request(&c, "[::1]:80", NULL, 0), n);
}

static void
test_delays(void **state)
{
    uint64_t rng = 42;
    int      lo = 1 << 30, hi = -1, buckets[10] = { 0 };
    long     sum = 0;

    for (int i = 0; i < 10000; i++) {
        int d = lbd_health_first_delay(200, &rng);

        assert_true(d >= 0 && d < 200);
        buckets[d / 20]++;
    }
    /* Uniform over the first interval: each tenth gets about 1,000 of 10,000. */
    for (int i = 0; i < 10; i++)
        assert_true(buckets[i] > 800 && buckets[i] < 1200);
    for (int i = 0; i < 10000; i++) {
        int d = lbd_health_next_delay(200, &rng);

        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
    }
    assert_true(lo >= 180 && lo < 183);
    assert_true(hi <= 220 && hi > 217);
    assert_true(sum / 10000 >= 198 && sum / 10000 <= 202);
    assert_int_equal(lbd_health_first_delay(1, &rng), 0);
    assert_int_equal(lbd_health_next_delay(5, &rng), 5);
}


/* --- the checker, in this process --- */

static char tmpdir[64], db_path[128];

static int
setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lbd-test-health-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(db_path, sizeof(db_path), "%s/lbd.db", tmpdir);
    return lbd_shm_create();
}

static int
teardown(void **state)
{
    const char *suffix[] = { "", "-wal", "-shm" };
    char        path[160];

    for (unsigned i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
        unlink(path);
    }
    munmap(lbd_shm, sizeof(*lbd_shm));
    lbd_shm = NULL;
    return rmdir(tmpdir);
}

/* A socket listening on a free loopback port that never accepts.  Its port in *port. */
static int
listen_silent(int *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t          len = sizeof(sin);
    int                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_int_not_equal(fd, -1);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, len), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* A loopback port nothing listens on (bound then closed: refused). */
static int
closed_port(void)
{
    int port, fd = listen_silent(&port);

    close(fd);
    return port;
}

struct run {
    struct event_base *base;
    unsigned           slots[2];
    int                want[2];    /* LBD_HEALTH_* each slot must reach */
};

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;

    if (atomic_load(&lbd_shm->backends[r->slots[0]].health) == (uint32_t) r->want[0]
        && atomic_load(&lbd_shm->backends[r->slots[1]].health) == (uint32_t) r->want[1])
        event_base_loopbreak(r->base);
}

static const char *
sql_text(const char *sql, char *buf, size_t len)
{
    sqlite3      *db;
    sqlite3_stmt *s;

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    buf[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
        snprintf(buf, len, "%s", (const char *) sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return buf;
}

/*
 * An http check against a port that accepts (the kernel's backlog) but
 * never answers, and one where nothing listens: both go down after fall
 * failures, the reasons say why, the registry has the events and its
 * generation did not move; then the pool loses its check (a new conf) and
 * both are unknown again.
 */
static void
test_checker_marks_down(void **state)
{
    struct lbd_conf         conf = { .file = (char *) "test.conf" };
    struct lbd_pool_conf    pool = { .name = (char *) "web", .strategy = (char *) "round_robin" };
    struct lbd_backend_conf backends[2] = { { .weight = 1 }, { .weight = 1 } };
    struct lbd_registry    *reg;
    struct lbd_reg_state   *st;
    struct lbd_checker     *k;
    struct event           *tick;
    struct timeval          tv = { 0, 5000 }, limit = { 5, 0 };
    struct run              r;
    char                    err[512] = "", text[64], buf[512], want[256], out[256];
    uint64_t                gen = 0, gen_after = 0;
    int                     silent_port, refused_port = closed_port();
    int                     silent = listen_silent(&silent_port);

    lbd_modules_register();
    snprintf(text, sizeof(text), "127.0.0.1:%d", silent_port);
    assert_int_equal(lbd_addr_parse(text, &backends[0].addr, err, sizeof(err)), 0);
    snprintf(text, sizeof(text), "127.0.0.1:%d", refused_port);
    assert_int_equal(lbd_addr_parse(text, &backends[1].addr, err, sizeof(err)), 0);
    pool.backends = backends;
    pool.nbackends = 2;
    pool.check = http_check(200, 399, NULL);
    pool.check.interval = 200;
    pool.check.timeout = 100;
    pool.check.rise = 2;
    pool.check.fall = 2;
    conf.pools = &pool;
    conf.npools = 1;

    reg = lbd_registry_open(db_path, 0, 2000, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(lbd_registry_migrate(reg, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_registry_sync_conf(reg, &conf, &gen, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    r.slots[0] = (unsigned) st->pools[0].backends[0].slot;
    r.slots[1] = (unsigned) st->pools[0].backends[1].slot;
    lbd_reg_state_free(st);
    lbd_shm_publish(lbd_shm, gen);

    r.base = event_base_new();
    r.want[0] = r.want[1] = LBD_HEALTH_DOWN;
    k = lbd_checker_start(r.base, &conf, reg);
    assert_non_null(k);
    tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
    event_add(tick, &tv);
    event_base_loopexit(r.base, &limit);
    event_base_dispatch(r.base);
    assert_int_equal(atomic_load(&lbd_shm->backends[r.slots[0]].health), LBD_HEALTH_DOWN);
    assert_int_equal(atomic_load(&lbd_shm->backends[r.slots[1]].health), LBD_HEALTH_DOWN);

    snprintf(want, sizeof(want), "health|unknown|down|no answer within 100 ms "
             "(2 failures in a row)");
    snprintf(buf, sizeof(buf), "SELECT actor || '|' || old || '|' || new || '|' || detail "
             "FROM events WHERE what = 'health' AND backend = '127.0.0.1:%d'", silent_port);
    assert_string_equal(sql_text(buf, out, sizeof(out)), want);
    snprintf(buf, sizeof(buf), "SELECT detail FROM events WHERE what = 'health' AND "
             "backend = '127.0.0.1:%d'", refused_port);
    assert_string_equal(sql_text(buf, out, sizeof(out)),
                        "connect() refused (2 failures in a row)");
    assert_int_equal(lbd_registry_generation(reg, &gen_after), LBD_REG_OK);
    assert_int_equal(gen_after, gen);
    lbd_checker_free(k);

    /* The pool has no check any more: unknown again, in the slot and the registry. */
    pool.check.type = LBD_CHECK_NONE;
    k = lbd_checker_start(r.base, &conf, reg);
    assert_non_null(k);
    assert_int_equal(atomic_load(&lbd_shm->backends[r.slots[0]].health), LBD_HEALTH_UNKNOWN);
    assert_int_equal(atomic_load(&lbd_shm->backends[r.slots[1]].health), LBD_HEALTH_UNKNOWN);
    assert_string_equal(sql_text("SELECT group_concat(health) FROM backends", out,
                                 sizeof(out)), "unknown,unknown");
    lbd_checker_free(k);

    event_free(tick);
    event_base_free(r.base);
    lbd_registry_close(reg);
    close(silent);
}

static struct bufferevent *served[64];
static unsigned            nserved;

/*
 * A server in this process's loop: on each connection it sends the answer
 * given as the listener's argument (the first byte says how: 'B' a big body,
 * 'S' a short one) and never closes, so a verdict cannot wait for the EOF.
 */
static void
on_server_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                 void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
                                                     BEV_OPT_CLOSE_ON_FREE);
    struct evbuffer    *out = bufferevent_get_output(bev);

    if (*(const char *) arg == 'B') {
        /* 100 KB of filler, then the substring: past what a check reads. */
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n\r\n");
        for (int i = 0; i < 100; i++) {
            char kb[1024];

            memset(kb, 'x', sizeof(kb));
            evbuffer_add(out, kb, sizeof(kb));
        }
        evbuffer_add_printf(out, "healthy");
    } else {
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nServer: t\r\n\r\nI am healthy");
    }
    bufferevent_enable(bev, EV_WRITE);
    /* Kept open until the test ends. */
    if (nserved < sizeof(served) / sizeof(served[0]))
        served[nserved++] = bev;
    else
        bufferevent_free(bev);
}

static struct evconnlistener *
server(struct event_base *base, const char *mode, int *port)
{
    int fd = listen_silent(port);

    evutil_make_socket_nonblocking(fd);
    return evconnlistener_new(base, on_server_accept, (void *) mode, LEV_OPT_CLOSE_ON_FREE,
                              -1, fd);
}

/*
 * The body is judged on what comes: a substring found passes before any
 * EOF, and an answer read up to the cap without it fails (a 100 KB body
 * whose substring lies past 64 KB).
 */
static void
test_checker_http_body(void **state)
{
    struct lbd_conf         conf = { .file = (char *) "test.conf" };
    struct lbd_pool_conf    pool = { .name = (char *) "web", .strategy = (char *) "round_robin" };
    struct lbd_backend_conf backends[2] = { { .weight = 1 }, { .weight = 1 } };
    struct lbd_registry    *reg;
    struct lbd_reg_state   *st;
    struct lbd_checker     *k;
    struct evconnlistener  *big, *small;
    struct event           *tick;
    struct timeval          tv = { 0, 5000 }, limit = { 5, 0 };
    struct run              r = { .want = { LBD_HEALTH_DOWN, LBD_HEALTH_UP } };
    char                    err[512] = "", text[64], out[256];
    uint64_t                gen = 0;
    int                     big_port, small_port;

    r.base = event_base_new();
    big = server(r.base, "B", &big_port);
    small = server(r.base, "S", &small_port);
    assert_true(big != NULL && small != NULL);
    snprintf(text, sizeof(text), "127.0.0.1:%d", big_port);
    assert_int_equal(lbd_addr_parse(text, &backends[0].addr, err, sizeof(err)), 0);
    snprintf(text, sizeof(text), "127.0.0.1:%d", small_port);
    assert_int_equal(lbd_addr_parse(text, &backends[1].addr, err, sizeof(err)), 0);
    pool.backends = backends;
    pool.nbackends = 2;
    pool.check = http_check(200, 399, "healthy");
    pool.check.interval = 200;
    pool.check.timeout = 150;
    pool.check.rise = 1;
    pool.check.fall = 1;
    conf.pools = &pool;
    conf.npools = 1;

    reg = lbd_registry_open(db_path, 0, 2000, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(lbd_registry_migrate(reg, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_registry_sync_conf(reg, &conf, &gen, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    r.slots[0] = (unsigned) st->pools[0].backends[0].slot;
    r.slots[1] = (unsigned) st->pools[0].backends[1].slot;
    lbd_reg_state_free(st);
    lbd_shm_publish(lbd_shm, gen);

    k = lbd_checker_start(r.base, &conf, reg);
    assert_non_null(k);
    tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
    event_add(tick, &tv);
    event_base_loopexit(r.base, &limit);
    event_base_dispatch(r.base);
    assert_int_equal(atomic_load(&lbd_shm->backends[r.slots[0]].health), LBD_HEALTH_DOWN);
    assert_int_equal(atomic_load(&lbd_shm->backends[r.slots[1]].health), LBD_HEALTH_UP);
    assert_string_equal(sql_text("SELECT detail FROM events WHERE what = 'health' AND "
                                 "new = 'down'", out, sizeof(out)),
                        "status 200 but the body lacks \"healthy\" (1 failure in a row)");
    /* The short answer passed long before its timeout, with the connection still open. */
    assert_string_equal(sql_text("SELECT new || ' ' || detail FROM events WHERE what = "
                                 "'health' AND new = 'up'", out, sizeof(out)),
                        "up 1 success in a row");
    lbd_checker_free(k);
    event_free(tick);
    evconnlistener_free(big);
    evconnlistener_free(small);
    while (nserved > 0)
        bufferevent_free(served[--nserved]);
    event_base_free(r.base);
    lbd_registry_close(reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_rise_and_fall),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_http_body),
        cmocka_unit_test(test_http_request),
        cmocka_unit_test(test_delays),
        cmocka_unit_test_setup_teardown(test_checker_marks_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checker_http_body, setup, teardown),
    };

    /* The in-process servers write to sockets the checker closes. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
