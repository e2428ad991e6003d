/*
 * it_status.c - what the admin port shows besides the API: /metrics as a
 * Prometheus server reads it, /status.json after a known sequence of
 * changes, the counters against the traffic the test sent, and the page's
 * files (doc/STATUS.md).
 *
 * Backends are lbd-testsrv in HTTP mode (-h), or banner mode (-b) for the
 * TCP service; every number asserted is one the test caused.
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
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "lbd.h"
#include "http_client.h"
#include "prom.h"

#define WORKERS 2
#define TOKEN   "status-token-0123456789"
#define NB      3

static struct h_lbd lbd;
static int          port, admin, bport[NB + 1];
static pid_t        bpid[NB + 1];
static char         baddr[NB + 1][24];

/* A page directory of the test's own: the real page is it_page's business. */
static const char *
html_dir(void)
{
    const char *dir = h_path("html");

    mkdir(dir, 0755);
    assert_non_null(h_write_file("html/index.html", "<!doctype html><title>lbd</title>\n"));
    assert_non_null(h_write_file("html/lbd.css", "body { margin: 0 }\n"));
    return dir;
}

/*
 * lbd with workers workers and an http (or tcp) service "t" on pool "p"
 * over the first NB backends, health checks every 300 ms (when checks),
 * an admin port with a token.
 */
static void
start(const char *mode, const char *srv_flags, int workers, int checks)
{
    struct h_conf c = { .workers = workers, .nbackends = NB, .mode = mode };
    char          extra[512];

    for (int i = 0; i <= NB; i++) {
        bport[i] = h_free_port();
        assert_int_not_equal(bport[i], -1);
        snprintf(baddr[i], sizeof(baddr[i]), "127.0.0.1:%d", bport[i]);
        bpid[i] = h_testsrv(bport[i], (const char *[]) { "A", "B", "C", "D" }[i], srv_flags);
        assert_int_not_equal(bpid[i], -1);
    }
    port = h_free_port();
    admin = h_free_port();
    snprintf(extra, sizeof(extra), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; "
             "html = \"%s\"; };\n", admin, TOKEN, html_dir());
    c.port = port;
    c.backends = bport;
    c.extra = extra;
    c.pool_extra = !checks ? NULL : strcmp(mode, "http") == 0
        ? "health_check = { type = \"http\"; path = \"/\"; interval = \"300ms\"; "
          "timeout = \"250ms\"; rise = 2; fall = 2; };"
        : "health_check = { type = \"tcp\"; interval = \"300ms\"; timeout = \"250ms\"; "
          "rise = 2; fall = 2; };";
    assert_int_equal(h_lbd_start(&lbd, h_conf_write("lbd.conf", &c), port, workers), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
}

/* GET path on the admin port into a malloc'd buffer; the status in *status. */
static char *
get(const char *path, int *status)
{
    char *buf = malloc(H_HTTP_MAX);

    assert_non_null(buf);
    *status = h_http(admin, "GET", path, NULL, NULL, buf, H_HTTP_MAX, 10000);
    return buf;
}

static json_t *
status_json(void)
{
    int           code;
    char         *text = get("/status.json", &code);
    json_error_t  e;
    json_t       *j;

    assert_int_equal(code, 200);
    j = json_loads(text, 0, &e);
    if (j == NULL)
        fail_msg("/status.json is not JSON: %s: %.200s", e.text, text);
    free(text);
    return j;
}

static int
metrics(struct prom *p)
{
    int   code;
    char *text = get("/metrics", &code);
    int   rc = code == 200 ? prom_parse(text, p) : -1;

    free(text);
    return rc;
}

/* Pool "p"'s backend at address in a /status.json document, or NULL. */
static json_t *
backend_of(json_t *doc, const char *address)
{
    json_t *pool, *b;
    size_t  i, k;

    json_array_foreach(json_object_get(doc, "pools"), i, pool) {
        if (strcmp(json_string_value(json_object_get(pool, "name")), "p") != 0)
            continue;
        json_array_foreach(json_object_get(pool, "backends"), k, b)
            if (strcmp(json_string_value(json_object_get(b, "address")), address) == 0)
                return b;
    }
    return NULL;
}

static const char *
str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static json_int_t
num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* --- waiting on /status.json --- */

struct want {
    const char *address;
    const char *key, *value;    /* a string field of the backend; value NULL: the backend is gone */
};

static int
backend_is(void *arg)
{
    struct want *w = arg;
    json_t      *doc = status_json(), *b = backend_of(doc, w->address);
    json_t      *v = b != NULL ? json_object_get(b, w->key) : NULL;
    int          ok = w->value == NULL ? b == NULL
                      : json_is_integer(v) ? json_integer_value(v) == atoll(w->value)
                      : v != NULL && strcmp(str(b, w->key), w->value) == 0;

    json_decref(doc);
    return ok;
}

static void
wait_backend(const char *address, const char *key, const char *value, int timeout_ms)
{
    struct want w = { address, key, value };   /* an integer field compares as a number */

    if (h_wait(backend_is, &w, timeout_ms) == -1)
        fail_msg("backend %s: %s never became \"%s\"", address, key, value ? value : "(gone)");
}

static int
strategy_is(void *arg)
{
    json_t *doc = status_json();
    int     ok = strcmp(str(json_array_get(json_object_get(doc, "pools"), 0), "strategy"),
                        arg) == 0;

    json_decref(doc);
    return ok;
}

/* The newest event whose what and backend are these, or NULL. */
static json_t *
event_of(json_t *doc, const char *what, const char *backend)
{
    json_t *e;
    size_t  i;

    json_array_foreach(json_object_get(doc, "events"), i, e)
        if (strcmp(str(e, "what"), what) == 0
            && (backend == NULL || strcmp(str(e, "backend"), backend) == 0))
            return e;
    return NULL;
}

struct want_event {
    const char *what, *backend, *new_;
};

static int
has_event(void *arg)
{
    struct want_event *w = arg;
    json_t            *doc = status_json(), *e = event_of(doc, w->what, w->backend);
    int                ok = e != NULL && (w->new_ == NULL || strcmp(str(e, "new"), w->new_) == 0);

    json_decref(doc);
    return ok;
}

static void
wait_event(const char *what, const char *backend, const char *new_)
{
    struct want_event w = { what, backend, new_ };

    if (h_wait(has_event, &w, 5000) == -1)
        fail_msg("no \"%s\" event for %s (new \"%s\") in /status.json", what,
                 backend ? backend : "the pool", new_ ? new_ : "");
}

/* --- traffic --- */

/* n requests for path on one keepalive connection, each answered with status. */
static void
requests(int n, const char *path, int status)
{
    struct hc c;
    char      req[256];

    assert_int_equal(hc_open(&c, port, 3000), 0);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    for (int i = 0; i < n; i++) {
        struct hc_resp r = { 0 };

        assert_int_equal(hc_sends(&c, req, 3000), 0);
        assert_int_equal(hc_read(&c, &r, 0, 5000), 0);
        assert_int_equal(r.status, status);
        hc_resp_free(&r);
    }
    hc_close(&c);
}

struct want_metric {
    const char *name;
    const char *label;          /* one key="value" or NULL */
    double      value;
};

static int
metric_is(void *arg)
{
    struct want_metric *w = arg;
    struct prom         p;
    int                 ok = metrics(&p) == 0
                             && prom_sum(&p, w->name, w->label, (char *) NULL) == w->value;

    prom_free(&p);
    return ok;
}

static void
wait_metric(const char *name, const char *label, double value)
{
    struct want_metric w = { name, label, value };
    struct prom        p;

    if (h_wait(metric_is, &w, 5000) == 0)
        return;
    assert_int_equal(metrics(&p), 0);
    fail_msg("%s{%s} is %g, not %g", name, label ? label : "",
             prom_sum(&p, name, label, (char *) NULL), value);
}

/* Every counter and histogram series of b is at least a's. */
static void
never_down(const struct prom *a, const struct prom *b)
{
    for (size_t i = 0; i < a->n; i++) {
        const char *n = a->s[i].name;
        double      v;

        if (strstr(n, "_total") == NULL && strstr(n, "_bucket") == NULL
            && strstr(n, "_count") == NULL && strstr(n, "_sum") == NULL)
            continue;
        v = prom_get(b, n, a->s[i].labels);
        if (v < a->s[i].value)
            fail_msg("%s{%s} went down: %g -> %g", n, a->s[i].labels, a->s[i].value, v);
    }
}

/* --- tests --- */

/*
 * /metrics parses as Prometheus text, its counters are the traffic sent
 * (requests, status classes, 5xx errors, histograms' counts), and none
 * goes down when more traffic comes.
 */
static void
metrics_count_the_traffic(void **state)
{
    struct prom p1, p2;
    char        label[128];

    start("http", "-h", WORKERS, 1);
    for (int i = 0; i < NB; i++)
        wait_backend(baddr[i], "health", "up", 5000);

    requests(30, "/bytes?n=100", 200);
    requests(6, "/status?code=503", 503);
    requests(3, "/status?code=404", 404);
    wait_metric("lbd_worker_requests_total", NULL, 39);
    wait_metric("lbd_backend_requests_total", "pool=\"p\"", 39);

    assert_int_equal(metrics(&p1), 0);
    assert_true(p1.n > 100);
    assert_true(prom_sum(&p1, "lbd_backend_responses_total", "code=\"2xx\"", (char *) NULL) == 30);
    assert_true(prom_sum(&p1, "lbd_backend_responses_total", "code=\"5xx\"", (char *) NULL) == 6);
    assert_true(prom_sum(&p1, "lbd_backend_responses_total", "code=\"4xx\"", (char *) NULL) == 3);
    assert_true(prom_sum(&p1, "lbd_backend_errors_total", "kind=\"http_5xx\"", (char *) NULL) == 6);
    assert_true(prom_sum(&p1, "lbd_backend_errors_total", "kind=\"connect\"", (char *) NULL) == 0);
    assert_true(prom_sum(&p1, "lbd_worker_responses_total", "code=\"2xx\"", (char *) NULL) == 30);
    assert_true(prom_sum(&p1, "lbd_worker_responses_total", "code=\"5xx\"", (char *) NULL) == 6);
    /* Every request has its time to first byte and total time; three connections at most per backend. */
    assert_true(prom_sum(&p1, "lbd_backend_ttfb_seconds_count", (char *) NULL) == 39);
    assert_true(prom_sum(&p1, "lbd_backend_total_seconds_count", (char *) NULL) == 39);
    assert_true(prom_sum(&p1, "lbd_worker_total_seconds_count", (char *) NULL) == 39);
    assert_true(prom_sum(&p1, "lbd_backend_connections_total", (char *) NULL) >= NB);
    assert_true(prom_sum(&p1, "lbd_backend_connect_seconds_count", (char *) NULL)
                == prom_sum(&p1, "lbd_backend_connections_total", (char *) NULL));
    /* Bytes: 100 of body per 200 response at least, both ways counted. */
    assert_true(prom_sum(&p1, "lbd_backend_received_bytes_total", (char *) NULL) > 3000);
    assert_true(prom_sum(&p1, "lbd_worker_sent_bytes_total", (char *) NULL) > 3000);
    assert_true(prom_sum(&p1, "lbd_worker_received_bytes_total", (char *) NULL) > 39 * 20);
    assert_true(prom_sum(&p1, "lbd_backend_sent_bytes_total", (char *) NULL) > 39 * 20);
    /* Round robin: each backend got its third. */
    for (int i = 0; i < NB; i++) {
        snprintf(label, sizeof(label), "backend=\"%s\"", baddr[i]);
        assert_true(prom_sum(&p1, "lbd_backend_requests_total", label, (char *) NULL) == 13);
        assert_true(prom_sum(&p1, "lbd_backend_up", label, (char *) NULL) == 1);
        assert_true(prom_sum(&p1, "lbd_backend_weight", label, (char *) NULL) == 1);
    }
    assert_true(prom_get(&p1, "lbd_pool_info", "pool=\"p\",strategy=\"round_robin\"") == 1);

    requests(12, "/bytes?n=10", 200);
    wait_metric("lbd_worker_requests_total", NULL, 51);
    assert_int_equal(metrics(&p2), 0);
    never_down(&p1, &p2);
    assert_true(prom_sum(&p2, "lbd_backend_requests_total", (char *) NULL) == 51);
    prom_free(&p1);
    prom_free(&p2);
}

/* A killed backend: up 0, connect errors counted when traffic meets it, down in the JSON. */
static void
metrics_show_a_dead_backend(void **state)
{
    struct prom p;
    char        label[128];

    /* One worker: its round robin surely meets the dead one among the next three. */
    start("http", "-h", 1, 1);
    for (int i = 0; i < NB; i++)
        wait_backend(baddr[i], "health", "up", 5000);
    kill(bpid[1], SIGKILL);
    h_wait_exit(bpid[1], 2000, NULL);
    /* Before the checks notice, round robin meets it: refused, retried elsewhere. */
    requests(9, "/bytes?n=1", 200);
    wait_backend(baddr[1], "status", "down", 5000);
    snprintf(label, sizeof(label), "backend=\"%s\"", baddr[1]);
    wait_metric("lbd_backend_up", label, 0);
    assert_int_equal(metrics(&p), 0);
    assert_true(prom_sum(&p, "lbd_backend_errors_total", label, "kind=\"connect\"",
                         (char *) NULL) >= 1);
    assert_true(prom_sum(&p, "lbd_backend_responses_total", label, (char *) NULL) == 0);
    prom_free(&p);
}

/*
 * /status.json after a known sequence of changes through the API: each
 * shows in the backend's fields and in the event feed, newest first.
 */
static void
status_json_follows_changes(void **state)
{
    char    resp[4096], path[128], body[128];
    json_t *doc, *b, *e, *pool;
    size_t  i;
    json_int_t last = INT64_MAX;

    start("http", "-h", WORKERS, 1);
    for (int k = 0; k < NB; k++)
        wait_backend(baddr[k], "health", "up", 5000);

    doc = status_json();
    assert_string_equal(str(doc, "version"), LBD_VERSION);
    assert_int_equal(json_array_size(json_object_get(doc, "workers")), WORKERS);
    assert_true(json_is_true(json_object_get(doc, "token_required")));
    assert_int_equal(json_array_size(json_object_get(doc, "strategies")), 6);
    assert_int_equal(json_array_size(json_object_get(doc, "latency_buckets_ms")), 16);
    assert_string_equal(str(json_array_get(json_object_get(doc, "services"), 0), "mode"), "http");
    pool = json_array_get(json_object_get(doc, "pools"), 0);
    assert_string_equal(str(pool, "name"), "p");
    assert_string_equal(str(pool, "mode"), "http");
    assert_string_equal(str(pool, "strategy"), "round_robin");
    assert_int_equal(json_array_size(json_object_get(pool, "backends")), NB);
    b = backend_of(doc, baddr[0]);
    assert_non_null(b);
    assert_string_equal(str(b, "state"), "up");
    assert_true(json_is_false(json_object_get(b, "ejected")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(b,
                     "latency"), "total"), "counts")), 17);
    assert_true(json_is_null(json_object_get(b, "p50_ms")));    /* no traffic yet */
    json_decref(doc);

    /* Traffic: the JSON counts it like /metrics. */
    requests(9, "/bytes?n=10", 200);
    {
        struct want_metric w = { "lbd_backend_requests_total", NULL, 9 };

        assert_int_equal(h_wait(metric_is, &w, 5000), 0);
    }
    doc = status_json();
    b = backend_of(doc, baddr[0]);
    assert_int_equal(num(b, "requests"), 3);
    assert_int_equal(num(json_object_get(b, "responses"), "2xx"), 3);
    assert_int_equal(num(json_object_get(json_object_get(b, "latency"), "total"), "count"), 3);
    assert_true(json_real_value(json_object_get(b, "p50_ms")) > 0);
    assert_true(json_real_value(json_object_get(b, "p99_ms"))
                >= json_real_value(json_object_get(b, "p50_ms")));
    json_decref(doc);

    /* Added. */
    snprintf(body, sizeof(body), "{\"address\":\"%s\"}", baddr[NB]);
    assert_int_equal(h_http(admin, "POST", "/api/pools/p/backends", TOKEN, body, resp,
                            sizeof(resp), 10000), 201);
    wait_backend(baddr[NB], "state", "up", 5000);
    wait_event("backend added", baddr[NB], NULL);
    /* Reweighted. */
    snprintf(path, sizeof(path), "/api/pools/p/backends/%s", baddr[NB]);
    assert_int_equal(h_http(admin, "PATCH", path, TOKEN, "{\"weight\":5}", resp, sizeof(resp),
                            10000), 200);
    wait_event("weight", baddr[NB], "5");
    wait_backend(baddr[NB], "weight", "5", 5000);
    /* Drained. */
    assert_int_equal(h_http(admin, "PATCH", path, TOKEN, "{\"state\":\"drain\"}", resp,
                            sizeof(resp), 10000), 200);
    wait_backend(baddr[NB], "status", "draining", 5000);
    wait_event("state", baddr[NB], "drain");
    /* Strategy switched. */
    assert_int_equal(h_http(admin, "PUT", "/api/pools/p/strategy", TOKEN,
                            "{\"strategy\":\"least_conn\"}", resp, sizeof(resp), 10000), 200);
    wait_event("strategy", NULL, "least_conn");
    if (h_wait(strategy_is, "least_conn", 5000) == -1)
        fail_msg("pool p's strategy never became least_conn in /status.json");
    /* Disabled. */
    snprintf(path, sizeof(path), "/api/pools/p/backends/%s", baddr[2]);
    assert_int_equal(h_http(admin, "PATCH", path, TOKEN, "{\"state\":\"disabled\"}", resp,
                            sizeof(resp), 10000), 200);
    wait_backend(baddr[2], "status", "disabled", 5000);
    /* Killed: down within a few seconds, by the health checks. */
    kill(bpid[1], SIGKILL);
    wait_backend(baddr[1], "status", "down", 5000);
    wait_backend(baddr[1], "health", "down", 100);
    wait_event("health", baddr[1], "down");
    /* Removed. */
    snprintf(path, sizeof(path), "/api/pools/p/backends/%s", baddr[NB]);
    assert_int_equal(h_http(admin, "DELETE", path, TOKEN, NULL, resp, sizeof(resp), 10000), 200);
    wait_backend(baddr[NB], "status", NULL, 5000);
    wait_event("backend removed", baddr[NB], NULL);

    /* The feed: newest first, ids only going down, each with its actor. */
    doc = status_json();
    assert_true(json_array_size(json_object_get(doc, "events")) >= 7);
    json_array_foreach(json_object_get(doc, "events"), i, e) {
        assert_true(num(e, "id") < last);
        last = num(e, "id");
        assert_true(str(e, "actor")[0] != '\0');
        assert_true(str(e, "at")[0] != '\0');
    }
    e = event_of(doc, "health", baddr[1]);
    assert_string_equal(str(e, "actor"), "health");
    assert_string_equal(str(e, "old"), "up");
    e = event_of(doc, "weight", baddr[NB]);
    assert_string_equal(str(e, "actor"), "api");
    assert_string_equal(str(e, "old"), "1");
    json_decref(doc);
}

/* TCP: connections, bytes both ways, connect errors, a connection's life as its total. */
static void
tcp_counters(void **state)
{
    char        name[64], label[128];
    struct prom p;
    int         fd;
    char        line[64];

    /* One worker, no checks: its round robin surely meets a dead backend among three. */
    start("tcp", "-b", 1, 0);
    for (int i = 0; i < 6; i++) {
        h_banner(port, name, sizeof(name));
        assert_true(name[0] != '\0');
    }
    /* One connection with traffic: 1000 bytes out, echoed back. */
    fd = h_connect(port, 3000);
    assert_true(fd >= 0);
    assert_true(h_recv_line(fd, line, sizeof(line), 3000) > 0);
    {
        char buf[1000];

        memset(buf, 'x', sizeof(buf) - 1);
        buf[sizeof(buf) - 1] = '\n';
        char echo[1100];

        assert_int_equal(h_send_all(fd, buf, sizeof(buf), 3000), 0);
        assert_int_equal(h_recv_line(fd, echo, sizeof(echo), 3000), 1000);
    }
    close(fd);
    wait_metric("lbd_backend_total_seconds_count", NULL, 7);
    assert_int_equal(metrics(&p), 0);
    assert_true(prom_sum(&p, "lbd_backend_connections_total", (char *) NULL) == 7);
    assert_true(prom_sum(&p, "lbd_worker_connections_total", (char *) NULL) == 7);
    assert_true(prom_sum(&p, "lbd_backend_connect_seconds_count", (char *) NULL) == 7);
    assert_true(prom_sum(&p, "lbd_backend_sent_bytes_total", (char *) NULL) == 1000);
    assert_true(prom_sum(&p, "lbd_worker_received_bytes_total", (char *) NULL) == 1000);
    /* Six banners of two bytes, the seventh's, and the echo. */
    assert_true(prom_sum(&p, "lbd_backend_received_bytes_total", (char *) NULL) == 7 * 2 + 1000);
    assert_true(prom_sum(&p, "lbd_worker_sent_bytes_total", (char *) NULL) == 7 * 2 + 1000);
    assert_true(prom_sum(&p, "lbd_backend_requests_total", (char *) NULL) == 0);
    prom_free(&p);

    /* A dead backend: the next connection it would get is refused, counted, retried. */
    kill(bpid[0], SIGKILL);
    h_wait_exit(bpid[0], 2000, NULL);
    for (int i = 0; i < 3; i++) {
        h_banner(port, name, sizeof(name));
        assert_true(name[0] != '\0' && strcmp(name, "A") != 0);
    }
    snprintf(label, sizeof(label), "backend=\"%s\"", baddr[0]);
    assert_int_equal(metrics(&p), 0);
    assert_true(prom_sum(&p, "lbd_backend_errors_total", label, "kind=\"connect\"",
                         (char *) NULL) >= 1);
    assert_true(prom_sum(&p, "lbd_worker_errors_total", "kind=\"connect\"", (char *) NULL) >= 1);
    prom_free(&p);
    {
        json_t *doc = status_json();

        assert_string_equal(str(json_array_get(json_object_get(doc, "pools"), 0), "mode"), "tcp");
        json_decref(doc);
    }
}

static int
late_served(void *arg)
{
    struct hc_resp r = { 0 };
    int            ok = hc_exchange(admin, "GET /late.html HTTP/1.1\r\nHost: a\r\n\r\n", &r, 0,
                                    5000) == 0 && r.status == 200
                        && strcmp(r.body, "late\n") == 0;

    hc_resp_free(&r);
    return ok;
}

/*
 * The page's files: read at start, an ETag, a strict CSP, 304, HEAD; a file
 * added later is not served until a reload makes the workers read them again.
 */
static void
page_files(void **state)
{
    struct hc_resp r = { 0 };
    char           etag[64], v[256], req[256];

    start("http", "-h", 1, 0);
    assert_int_equal(hc_exchange(admin, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r, 0, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<!doctype html><title>lbd</title>\n");
    assert_int_equal(hc_field(r.head, "Content-Type", v, sizeof(v)), 1);
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_int_equal(hc_field(r.head, "Content-Security-Policy", v, sizeof(v)), 1);
    assert_non_null(strstr(v, "default-src 'self'"));
    assert_int_equal(hc_field(r.head, "ETag", etag, sizeof(etag)), 1);
    hc_resp_free(&r);

    snprintf(req, sizeof(req), "GET /index.html HTTP/1.1\r\nHost: a\r\nIf-None-Match: %s\r\n\r\n",
             etag);
    assert_int_equal(hc_exchange(admin, req, &r, 0, 5000), 0);
    assert_int_equal(r.status, 304);
    hc_resp_free(&r);

    assert_int_equal(hc_exchange(admin, "HEAD /lbd.css HTTP/1.1\r\nHost: a\r\n\r\n", &r, 1,
                                 5000), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(hc_field(r.head, "Content-Type", v, sizeof(v)), 1);
    assert_string_equal(v, "text/css; charset=utf-8");
    hc_resp_free(&r);

    /* Only the files read at start: no path reaches the disk. */
    assert_non_null(h_write_file("html/late.html", "late\n"));
    assert_int_equal(hc_exchange(admin, "GET /late.html HTTP/1.1\r\nHost: a\r\n\r\n", &r, 0,
                                 5000), 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"error\""));
    hc_resp_free(&r);
    /* A reload that keeps the workers makes them read the files again. */
    {
        pid_t before[4], after[4];
        int   n = h_lbd_workers(&lbd, before, 4);

        assert_int_equal(kill(lbd.pid, SIGHUP), 0);
        assert_int_equal(h_log_wait(lbd.error_log, 5000, "applied without restarting workers",
                                    NULL), 0);
        assert_int_equal(h_wait(late_served, NULL, 5000), 0);
        assert_int_equal(h_lbd_workers(&lbd, after, 4), n);
        assert_memory_equal(before, after, (size_t) n * sizeof(pid_t));
    }
    assert_int_equal(hc_exchange(admin, "GET /../lbd.conf HTTP/1.1\r\nHost: a\r\n\r\n", &r, 0,
                                 5000), 0);
    assert_true(r.status == 404 || r.status == 400);
    hc_resp_free(&r);
    assert_int_equal(hc_exchange(admin, "GET /status.json?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r,
                                 0, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(hc_field(r.head, "Content-Type", v, sizeof(v)), 1);
    assert_string_equal(v, "application/json");
    hc_resp_free(&r);
    assert_int_equal(hc_exchange(admin, "POST /status.json HTTP/1.1\r\nHost: a\r\n"
                                 "Content-Length: 0\r\n\r\n", &r, 0, 5000), 0);
    assert_int_equal(r.status, 404);
    hc_resp_free(&r);
}

/* admin.html must be a directory: the error names the file and the line. */
static void
html_dir_checked(void **state)
{
    const char *conf = h_write_file("bad.conf",
        "registry = \"%s\";\n"
        "admin = {\n"
        "  listen = \"127.0.0.1:1\";\n"
        "  html = \"%s\";\n"
        "};\n"
        "services = ( { name = \"t\"; listen = \"127.0.0.1:1\"; pool = \"p\"; } );\n"
        "pools = ( { name = \"p\"; backends = ( { address = \"127.0.0.1:2\"; } ); } );\n",
        h_path("lbd.db"), h_path("no-such-dir"));
    const char *argv[] = { h_lbd_bin(), "-t", "-c", conf, NULL };
    char        want[256];

    assert_int_equal(h_run(argv, h_path("t.out"), 10000), 1);
    snprintf(want, sizeof(want), "%s:4:", conf);
    assert_int_equal(h_log_has(h_path("t.out"), want, "admin.html", "no-such-dir", NULL), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(metrics_count_the_traffic, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(metrics_show_a_dead_backend, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(status_json_follows_changes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(tcp_counters, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(page_files, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(html_dir_checked, h_setup, h_teardown),
    };

    h_init(300);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
