/*
 * it_http.c - lbd's HTTP mode (mode = "http") end to end: the real
 * lbd in front of lbd-testsrv -h backends (they name themselves in
 * X-Server and number their connections in X-Conn), driven by curl and by a
 * raw client (http_client.h) for what curl would not send.
 *
 * What is checked, by group:
 *   proxying   per-request round robin over one client connection, the
 *              per-worker idle pools of backend connections, forwarded and
 *              hop-by-hop fields, bodies both ways in every framing (100 MB
 *              through curl), HTTP/1.0, HEAD, pipelining, WebSocket;
 *   choosing   retries (a pooled connection the backend closed, a refused
 *              connect), routes by host and path, the sticky cookie, hash
 *              on a header;
 *   errors     400 431 408 502 503 504 505 501 and the silent close of an
 *              idle client, each answered by lbd itself (no X-Server);
 *   smuggling  what a backend could read differently is refused with 400
 *              and never reaches it (its /count and its request log);
 *   logs       the access log, combined and JSON, and its reopening;
 *   slowloris  300 slow heads cost little memory and all end in 408;
 *   stopping   a graceful stop (and a reload) closes idle keepalive clients
 *              and lets the request in flight finish, with Connection: close.
 *
 * Unless a test says otherwise: one worker (so counts are exact), backends
 * "A", "B"... with -hv (request lines in <tmpdir>/srv-PORT.log), and the
 * spec's http settings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

#define TO          5000            /* ms for one exchange */
#define MB          (1024 * 1024)
#define MAXB        5
#define WS_KEY      "dGhlIHNhbXBsZSBub25jZQ=="         /* RFC 6455 1.3's example */
#define WS_ACCEPT   "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static const char  *names[MAXB] = { "A", "B", "C", "D", "E" };
static int          bport[MAXB];
static pid_t        bpid[MAXB];
static int          port;           /* lbd's service */
static struct h_lbd lbd;

/* ------------------------------------------------------------------ */
/* Set-up. */

/* Start backends names[0..n) on fresh ports with flags (NULL: "-hv"). */
static void
start_backends(int n, const char *flags)
{
    for (int i = 0; i < n; i++) {
        bport[i] = h_free_port();
        assert_int_not_equal(bport[i], -1);
        bpid[i] = h_testsrv(bport[i], names[i], flags != NULL ? flags : "-hv");
        assert_int_not_equal(bpid[i], -1);
    }
}

/* What a test changes in lbd's config; NULL or 0 fields keep the defaults. */
struct hopts {
    int         workers;            /* 1 */
    const int  *ports;              /* pool "p"'s backends: bport */
    int         nports;             /* with ports */
    const char *header_timeout;     /* "10s" */
    const char *keepalive_timeout;  /* "75s" */
    const char *response_timeout;   /* "60s" */
    const char *body_timeout;       /* "60s" */
    const char *access_log_format;  /* no access log */
    const char *routes;             /* the elements of routes = ( ), or none */
    const char *strategy;           /* round_robin */
    const char *pool_extra;         /* keepalive = 32; keepalive_timeout = "60s"; */
    const char *more_pools;
    const char *extra;              /* more top-level settings */
};

/* Start lbd in front of backends bport[0..n) (or o->ports), in mode http. */
static void
start_lbd(const struct hopts *o, int n)
{
    static const struct hopts none;
    struct h_conf c = { 0 };
    char          extra[8192], alog[1024] = "";
    const char   *conf;

    if (o == NULL)
        o = &none;
    if (o->access_log_format != NULL)
        snprintf(alog, sizeof(alog), "\n               access_log = \"%s\"; access_log_format = \"%s\";",
                 h_path("access.log"), o->access_log_format);
    snprintf(extra, sizeof(extra),
             "http = { max_header_size = \"8k\"; header_timeout = \"%s\"; keepalive_timeout = \"%s\";\n"
             "               keepalive_requests = 1000; response_timeout = \"%s\"; body_timeout = \"%s\";\n"
             "               forwarded_for = true; forwarded_proto = true; real_ip = true;%s };%s%s%s",
             o->header_timeout ? o->header_timeout : "10s",
             o->keepalive_timeout ? o->keepalive_timeout : "75s",
             o->response_timeout ? o->response_timeout : "60s",
             o->body_timeout ? o->body_timeout : "60s", alog,
             o->routes ? "\n      routes = ( " : "", o->routes ? o->routes : "",
             o->routes ? " );" : "");
    c.workers = o->workers > 0 ? o->workers : 1;
    c.backends = o->ports != NULL ? o->ports : bport;
    c.nbackends = o->ports != NULL ? o->nports : n;
    c.mode = "http";
    c.service_extra = extra;
    c.strategy = o->strategy;
    c.pool_extra = o->pool_extra != NULL ? o->pool_extra
                                         : "keepalive = 32; keepalive_timeout = \"60s\";";
    c.more_pools = o->more_pools;
    c.extra = o->extra;
    port = c.port = h_free_port();
    assert_int_not_equal(port, -1);
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start(&lbd, conf, port, c.workers), 0);
}

/* The usual set-up: n backends with flags (NULL: "-hv"), lbd with defaults. */
static void
start(int n, const char *flags)
{
    start_backends(n, flags);
    start_lbd(NULL, n);
}

/* ------------------------------------------------------------------ */
/* Requests and what to expect of responses. */

/* Send req on c and read the response into r (no_body for HEAD); fail the test otherwise. */
static void
roundtrip(struct hc *c, const char *req, struct hc_resp *r, int no_body)
{
    assert_int_equal(hc_sends(c, req, TO), 0);
    if (hc_read(c, r, no_body, TO) == -1) {
        fprintf(stderr, "no response to \"%.60s\": %s (status %d)\n", req, strerror(errno),
                r->status);
        fail();
    }
}

/* One request on a new connection to port; the test fails without a response. */
static void
exchange(int to_port, const char *req, struct hc_resp *r, int no_body)
{
    if (hc_exchange(to_port, req, r, no_body, TO) == -1) {
        fprintf(stderr, "no response to \"%.60s\": %s (status %d)\n", req, strerror(errno),
                r->status);
        fail();
    }
}

/* "GET path" with Host: host and extra fields (each ending in CRLF; may be NULL). */
static const char *
get(char *buf, size_t cap, const char *path, const char *host, const char *extra)
{
    snprintf(buf, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, host, extra ? extra : "");
    return buf;
}

/* X-Server of a response: the backend that answered ("" for none). */
static const char *
server_of(const struct hc_resp *r)
{
    static char name[64];

    hc_field(r->head, "X-Server", name, sizeof(name));
    return name;
}

/* The response is one lbd made itself: status, no X-Server, a text/plain explanation. */
static void
assert_lbd_answer(const struct hc_resp *r, int status)
{
    char ct[128];

    if (r->status != status)
        fprintf(stderr, "want %d from lbd, got:\n%s%s\n", status, r->head ? r->head : "(none)",
                r->body ? r->body : "");
    assert_int_equal(r->status, status);
    assert_int_equal(hc_field(r->head, "X-Server", NULL, 0), 0);
    assert_int_equal(hc_field(r->head, "Content-Type", ct, sizeof(ct)), 1);
    assert_true(strncmp(ct, "text/plain", 10) == 0);
    assert_true(r->body_len > 0);
}

/* A backend's /count, asked directly (not through lbd): requests it served, this one included. */
static int
direct_count(int backend)
{
    struct hc_resp r;
    int            n;

    exchange(backend, "GET /count HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 200);
    n = atoi(r.body);
    hc_resp_free(&r);
    return n;
}

/* "<tmpdir>/srv-PORT.log": backend i's output (-v: request lines, connections). */
static const char *
srv_log(int i)
{
    char name[64];

    snprintf(name, sizeof(name), "srv-%d.log", bport[i]);
    return h_path(name);
}

/* The expected /sink answer for len bytes of seed's stream. */
static void
sink_answer(char *buf, size_t cap, uint64_t seed, uint64_t len)
{
    snprintf(buf, cap, "%" PRIu64 " %016" PRIx64 "\n", len, lbd_td_stream_hash(seed, len));
}

/* Write len bytes of seed's stream to "<tmpdir>/name"; returns the path. */
static const char *
stream_file(const char *name, uint64_t seed, size_t len)
{
    const char       *path = h_path(name);
    FILE             *f = fopen(path, "w");
    struct lbd_td_rng rng;
    unsigned char     buf[65536];

    assert_non_null(f);
    lbd_td_rng_init(&rng, seed);
    while (len > 0) {
        size_t k = len < sizeof(buf) ? len : sizeof(buf);

        lbd_td_fill(&rng, buf, k);
        assert_int_equal(fwrite(buf, 1, k, f), k);
        len -= k;
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

/* The URL of path on lbd. */
static const char *
url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", port, path);
    return buf;
}

/* curl's output file (hc_curl's out_name), read whole; the test owns it. */
static char *
curl_output(const char *out_name)
{
    char *text = h_read_file(h_path(out_name), NULL);

    assert_non_null(text);
    return text;
}

/* ------------------------------------------------------------------ */
/* Proxying. */

/*
 * curl gets a backend's answer through lbd; three URLs in one curl run
 * share one client connection (keepalive to clients).
 */
static void
test_get_and_client_keepalive(void **state)
{
    char        u[3][128], v[64], *text, *body;
    const char *one[] = { "--http1.1", "-i", u[0], NULL };
    int         connects = 0, lines = 0, nc, code;

    start(1, NULL);
    url(u[0], sizeof(u[0]), "/");
    url(u[1], sizeof(u[1]), "/echo-headers");
    url(u[2], sizeof(u[2]), "/count");
    assert_int_equal(hc_curl("curl.out", one, 10000), 0);
    text = curl_output("curl.out");
    assert_true(strncmp(text, "HTTP/1.1 200", 12) == 0);
    assert_int_equal(hc_field(text, "X-Server", v, sizeof(v)), 1);
    assert_string_equal(v, "A");
    body = strstr(text, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "A\n");
    free(text);

    {
        const char *three[] = { "--http1.1", "-w", "%{num_connects} %{http_code}\n",
                                "-o", "/dev/null", u[0], "-o", "/dev/null", u[1],
                                "-o", "/dev/null", u[2], NULL };

        assert_int_equal(hc_curl("curl.out", three, 10000), 0);
    }
    text = curl_output("curl.out");
    for (char *p = text; sscanf(p, "%d %d", &nc, &code) == 2; p = strchr(p, '\n') + 1) {
        connects += nc;
        lines++;
        assert_int_equal(code, 200);
        if (strchr(p, '\n') == NULL)
            break;
    }
    fprintf(stderr, "3 requests, %d connection(s):\n%s", connects, text);
    assert_int_equal(lines, 3);
    assert_int_equal(connects, 1);
    free(text);
}

/*
 * 300 requests on one client connection over three round_robin backends:
 * 100 each, exactly (one worker), each request balanced on its own.  The
 * backend connections are reused: a handful, not 300.
 */
static void
test_round_robin_per_request(void **state)
{
    struct hc      c;
    int            counts[3] = { 0 }, distinct = 0;
    unsigned long  seen[3][16];
    int            nseen[3] = { 0 };
    char           req[256];

    start(3, NULL);
    assert_int_equal(hc_open(&c, port, TO), 0);
    get(req, sizeof(req), "/", "example.com", NULL);
    for (int k = 0; k < 300; k++) {
        struct hc_resp r;
        char           conn[32], want[8];
        int            i, j;
        unsigned long  id;

        roundtrip(&c, req, &r, 0);
        assert_int_equal(r.status, 200);
        i = server_of(&r)[0] - 'A';
        assert_true(i >= 0 && i < 3);
        snprintf(want, sizeof(want), "%s\n", names[i]);
        assert_string_equal(r.body, want);
        counts[i]++;
        assert_int_equal(hc_field(r.head, "X-Conn", conn, sizeof(conn)), 1);
        id = strtoul(conn, NULL, 10);
        for (j = 0; j < nseen[i] && seen[i][j] != id; j++)
            ;
        if (j == nseen[i] && nseen[i] < 16) {
            seen[i][nseen[i]++] = id;
            distinct++;
        }
        hc_resp_free(&r);
    }
    hc_close(&c);
    fprintf(stderr, "A %d, B %d, C %d; %d backend connections\n", counts[0], counts[1],
            counts[2], distinct);
    for (int i = 0; i < 3; i++)
        assert_int_equal(counts[i], 100);
    assert_true(distinct <= 6);
}

/*
 * Each worker keeps idle backend connections for every client: 20 clients
 * one after another (two workers) are served over a few backend
 * connections, each carrying several requests.
 */
static void
test_backend_pool_across_clients(void **state)
{
    struct hopts  o = { .workers = 2 };
    unsigned long seen[20];
    int           nseen = 0, reused = 0;
    char          req[256];

    start_backends(1, NULL);
    start_lbd(&o, 1);
    get(req, sizeof(req), "/", "example.com", "Connection: close\r\n");
    for (int k = 0; k < 20; k++) {
        struct hc_resp r;
        char           v[32];
        unsigned long  id;
        int            j;

        exchange(port, req, &r, 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(hc_field(r.head, "X-Conn", v, sizeof(v)), 1);
        id = strtoul(v, NULL, 10);
        hc_field(r.head, "X-Req", v, sizeof(v));
        reused |= atoi(v) > 1;
        for (j = 0; j < nseen && seen[j] != id; j++)
            ;
        if (j == nseen)
            seen[nseen++] = id;
        hc_resp_free(&r);
    }
    fprintf(stderr, "20 clients over %d backend connections\n", nseen);
    assert_true(nseen <= 4);
    assert_true(reused);
}

/*
 * X-Forwarded-For gets the client's address appended (or is set to it),
 * X-Forwarded-Proto and X-Real-IP replace what the client sent, Host goes
 * through unchanged.
 */
static void
test_forwarded_fields(void **state)
{
    struct hc      c;
    struct hc_resp r;
    char           req[512], v[256];

    start(1, NULL);
    assert_int_equal(hc_open(&c, port, TO), 0);
    roundtrip(&c, get(req, sizeof(req), "/echo-headers", "www.example.com:8080",
                      "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
                      "X-Real-IP: 198.51.100.1\r\n"), &r, 0);
    assert_int_equal(r.status, 200);
    fprintf(stderr, "the backend saw:\n%s", r.body);
    assert_true(strncmp(r.body, "GET /echo-headers HTTP/1.1\r\n", 28) == 0);
    assert_int_equal(hc_field(r.body, "X-Forwarded-For", v, sizeof(v)), 1);
    assert_string_equal(v, "203.0.113.7, 127.0.0.1");
    assert_int_equal(hc_field(r.body, "X-Forwarded-Proto", v, sizeof(v)), 1);
    assert_string_equal(v, "http");
    assert_int_equal(hc_field(r.body, "X-Real-IP", v, sizeof(v)), 1);
    assert_string_equal(v, "127.0.0.1");
    assert_int_equal(hc_field(r.body, "Host", v, sizeof(v)), 1);
    assert_string_equal(v, "www.example.com:8080");
    hc_resp_free(&r);

    /* No X-Forwarded-For from the client: just its address. */
    roundtrip(&c, get(req, sizeof(req), "/echo-headers", "www.example.com", NULL), &r, 0);
    assert_int_equal(hc_field(r.body, "X-Forwarded-For", v, sizeof(v)), 1);
    assert_string_equal(v, "127.0.0.1");
    hc_resp_free(&r);
    hc_close(&c);

    /* Octets of one, two and three digits, and a zero, written right. */
    assert_int_equal(hc_open_from(&c, "127.10.200.0", port, TO), 0);
    roundtrip(&c, get(req, sizeof(req), "/echo-headers", "www.example.com", NULL), &r, 0);
    assert_int_equal(hc_field(r.body, "X-Forwarded-For", v, sizeof(v)), 1);
    assert_string_equal(v, "127.10.200.0");
    assert_int_equal(hc_field(r.body, "X-Real-IP", v, sizeof(v)), 1);
    assert_string_equal(v, "127.10.200.0");
    hc_resp_free(&r);
    hc_close(&c);
}

/*
 * Hop-by-hop fields stop at lbd: Connection, Keep-Alive, Proxy-Connection,
 * TE, Upgrade (not an upgrade here) and what Connection names; the others
 * pass.  An HTTP/1.0 request goes to the backend as HTTP/1.1.
 */
static void
test_hop_by_hop_and_version(void **state)
{
    struct hc_resp r;
    char           req[512], v[256];

    start(1, NULL);
    exchange(port, get(req, sizeof(req), "/echo-headers", "example.com",
                       "Connection: keep-alive, X-Drop\r\nKeep-Alive: timeout=5\r\n"
                       "Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n"
                       "X-Drop: secret\r\nX-Keep: kept\r\n"), &r, 0);
    assert_int_equal(r.status, 200);
    fprintf(stderr, "the backend saw:\n%s", r.body);
    assert_int_equal(hc_field(r.body, "Keep-Alive", NULL, 0), 0);
    assert_int_equal(hc_field(r.body, "Proxy-Connection", NULL, 0), 0);
    assert_int_equal(hc_field(r.body, "TE", NULL, 0), 0);
    assert_int_equal(hc_field(r.body, "Upgrade", NULL, 0), 0);
    assert_int_equal(hc_field(r.body, "X-Drop", NULL, 0), 0);
    if (hc_field(r.body, "Connection", v, sizeof(v)) > 0)      /* lbd's own, if any */
        assert_null(strcasestr(v, "x-drop"));
    assert_int_equal(hc_field(r.body, "X-Keep", v, sizeof(v)), 1);
    assert_string_equal(v, "kept");
    hc_resp_free(&r);

    exchange(port, "GET /echo-headers HTTP/1.0\r\nHost: example.com\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "GET /echo-headers HTTP/1.1\r\n", 28) == 0);
    hc_resp_free(&r);
}

/* POST (Content-Length) and PUT (curl -T) bodies of 1 MB reach the backend intact. */
static void
test_request_body_content_length(void **state)
{
    const char *file = stream_file("up.bin", 21, MB);
    char        u[128], data[600], want[64], v[64], *text;
    const char *post[] = { "--http1.1", "-i", "-H", "Expect:", "--data-binary", data,
                           u, NULL };
    const char *put[] = { "--http1.1", "-i", "-H", "Expect:", "-T", file, u, NULL };

    snprintf(data, sizeof(data), "@%s", file);
    sink_answer(want, sizeof(want), 21, MB);
    start(1, NULL);
    url(u, sizeof(u), "/sink");
    for (int k = 0; k < 2; k++) {
        assert_int_equal(hc_curl("curl.out", k == 0 ? post : put, 20000), 0);
        text = curl_output("curl.out");
        assert_true(strncmp(text, "HTTP/1.1 200", 12) == 0);
        assert_int_equal(hc_field(text, "X-Body", v, sizeof(v)), 1);
        assert_string_equal(v, "length");
        assert_string_equal(strstr(text, "\r\n\r\n") + 4, want);
        free(text);
    }
}

/*
 * A chunked request body is forwarded chunked: 8 MB from curl, and a
 * hand-made one with an extension, a one-byte chunk and a trailer.
 */
static void
test_request_body_chunked(void **state)
{
    const char    *file = stream_file("up.bin", 22, 8 * MB);
    char           u[128], data[600], want[64], *text;
    const char    *post[] = { "--http1.1", "-i", "-H", "Expect:", "-H", "Transfer-Encoding: chunked",
                              "--data-binary", data, u, NULL };
    struct hc_resp r;
    char           v[32];

    snprintf(data, sizeof(data), "@%s", file);
    sink_answer(want, sizeof(want), 22, 8 * MB);
    start(1, NULL);
    url(u, sizeof(u), "/sink");
    assert_int_equal(hc_curl("curl.out", post, 30000), 0);
    text = curl_output("curl.out");
    assert_true(strncmp(text, "HTTP/1.1 200", 12) == 0);
    assert_int_equal(hc_field(text, "X-Body", v, sizeof(v)), 1);
    assert_string_equal(v, "chunked");
    assert_string_equal(strstr(text, "\r\n\r\n") + 4, want);
    free(text);

    exchange(port, "POST /sink HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3;name=value\r\nabc\r\n1\r\nd\r\n0\r\nX-Trailer: t\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(hc_field(r.head, "X-Body", v, sizeof(v)), 1);
    assert_string_equal(v, "chunked");
    snprintf(want, sizeof(want), "4 %016" PRIx64 "\n",
             lbd_td_fnv1a64(LBD_TD_FNV_BASIS, "abcd", 4));
    assert_string_equal(r.body, want);
    hc_resp_free(&r);
}

/* 100 MB through lbd to curl: every byte right (the backend's stream, checksummed). */
static void
test_download_100mb(void **state)
{
    char        u[128];
    const char *args[] = { "--http1.1", u, NULL };
    uint64_t    len, hash;
    int64_t     t0;

    start(1, NULL);
    url(u, sizeof(u), "/bytes?n=104857600&seed=31");
    t0 = h_now_ms();
    assert_int_equal(hc_curl_hash(args, &len, &hash, 50000), 0);
    fprintf(stderr, "100 MB in %lld ms\n", (long long) (h_now_ms() - t0));
    assert_int_equal(len, 100 * MB);
    assert_true(hash == lbd_td_stream_hash(31, 100 * MB));
}

/*
 * Response bodies in every framing reach the client whole: Content-Length
 * (kept), chunked (kept chunked for an HTTP/1.1 client; curl de-chunks it
 * right too) and close-delimited.
 */
static void
test_response_framings(void **state)
{
    static const char *const query[3] = { "", "&chunked=1", "&close=1" };
    char                     u[256], path[128], req[256];
    const char              *args[] = { "--http1.1", u, NULL };
    uint64_t                 len, hash, want = lbd_td_stream_hash(41, 300000);

    start(1, NULL);
    for (int k = 0; k < 3; k++) {
        struct hc_resp r;

        snprintf(path, sizeof(path), "/bytes?n=300000&seed=41%s", query[k]);
        exchange(port, get(req, sizeof(req), path, "example.com", NULL), &r, 0);
        fprintf(stderr, "%s: framing %d\n", path, r.framing);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 300000);
        assert_true(r.body_hash == want);
        if (k == 0)
            assert_int_equal(r.framing, HC_LENGTH);
        if (k == 1)
            assert_int_equal(r.framing, HC_CHUNKED);
        hc_resp_free(&r);

        url(u, sizeof(u), path);
        assert_int_equal(hc_curl_hash(args, &len, &hash, 20000), 0);
        assert_int_equal(len, 300000);
        assert_true(hash == want);
    }
}

/*
 * An HTTP/1.0 client gets a chunked response de-chunked, delimited by the
 * close of its connection.
 */
static void
test_http10_client_gets_dechunked_body(void **state)
{
    struct hc      c;
    struct hc_resp r;
    char           v[64];

    start(1, NULL);
    assert_int_equal(hc_open(&c, port, TO), 0);
    roundtrip(&c, "GET /bytes?n=100000&seed=9&chunked=1 HTTP/1.0\r\nHost: example.com\r\n\r\n",
              &r, 0);
    fprintf(stderr, "%s", r.head);
    assert_int_equal(r.status, 200);
    assert_true(hc_field(r.head, "Transfer-Encoding", v, sizeof(v)) == 0
                || strcasestr(v, "chunked") == NULL);
    assert_int_not_equal(r.framing, HC_CHUNKED);
    assert_int_equal(r.body_len, 100000);
    assert_true(r.body_hash == lbd_td_stream_hash(9, 100000));
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    hc_resp_free(&r);
    hc_close(&c);
}

/* HEAD responses have no body, whatever their fields say: the next response reads clean. */
static void
test_head_has_no_body(void **state)
{
    struct hc      c;
    struct hc_resp r;
    char           req[256];

    start(1, NULL);
    assert_int_equal(hc_open(&c, port, TO), 0);
    for (int k = 0; k < 2; k++) {
        snprintf(req, sizeof(req), "HEAD /bytes?n=5000&seed=1%s HTTP/1.1\r\nHost: example.com\r\n\r\n",
                 k == 0 ? "" : "&chunked=1");
        roundtrip(&c, req, &r, 1);
        assert_int_equal(r.status, 200);
        hc_resp_free(&r);
        roundtrip(&c, get(req, sizeof(req), "/", "example.com", NULL), &r, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "A\n");
        hc_resp_free(&r);
    }
    assert_int_equal(c.len, 0);
    hc_close(&c);
}

/* Five requests in one write come back in order. */
static void
test_pipelining(void **state)
{
    struct hc      c;
    struct hc_resp r;
    char           want[64];

    start(1, NULL);
    assert_int_equal(hc_open(&c, port, TO), 0);
    assert_int_equal(hc_sends(&c,
        "GET /status?code=201 HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        "GET /bytes?n=7&seed=1&chunked=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
        "GET /status?code=404 HTTP/1.1\r\nHost: h\r\n\r\n", TO), 0);

    assert_int_equal(hc_read(&c, &r, 0, TO), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "status 201\n");
    hc_resp_free(&r);
    assert_int_equal(hc_read(&c, &r, 0, TO), 0);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "5 %016" PRIx64 "\n",
             lbd_td_fnv1a64(LBD_TD_FNV_BASIS, "hello", 5));
    assert_string_equal(r.body, want);
    hc_resp_free(&r);
    assert_int_equal(hc_read(&c, &r, 0, TO), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 7);
    assert_true(r.body_hash == lbd_td_stream_hash(1, 7));
    hc_resp_free(&r);
    assert_int_equal(hc_read(&c, &r, 1, TO), 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    assert_int_equal(hc_read(&c, &r, 0, TO), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "status 404\n");
    hc_resp_free(&r);
    hc_close(&c);
}

/* A WebSocket upgrade: 101 passed through, then frames echoed end to end. */
static void
test_websocket_tunnel(void **state)
{
    struct hc       c;
    struct hc_resp  r;
    char            v[128];
    size_t          big = 100000;
    unsigned char  *frame = malloc(big + 14), *payload = malloc(big), h[10];
    static const unsigned char mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    struct lbd_td_rng rng;

    assert_non_null(frame);
    assert_non_null(payload);
    start(1, NULL);
    assert_int_equal(hc_open(&c, port, TO), 0);
    roundtrip(&c, "GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n", &r, 1);
    fprintf(stderr, "%s", r.head);
    assert_int_equal(r.status, 101);
    assert_int_equal(hc_field(r.head, "Sec-WebSocket-Accept", v, sizeof(v)), 1);
    assert_string_equal(v, WS_ACCEPT);
    assert_int_equal(hc_field(r.head, "Upgrade", v, sizeof(v)), 1);
    assert_true(strcasecmp(v, "websocket") == 0);
    hc_resp_free(&r);

    /* A text frame, then a 100,000-byte binary one, each masked. */
    lbd_td_rng_init(&rng, 51);
    lbd_td_fill(&rng, payload, big);
    for (int k = 0; k < 2; k++) {
        const unsigned char *p = k == 0 ? (const unsigned char *) "hello, lbd" : payload;
        size_t               n = k == 0 ? 10 : big, hl;
        uint64_t             len;

        frame[0] = (unsigned char) (0x80 | (k == 0 ? 1 : 2));
        if (n < 126) {
            frame[1] = (unsigned char) (0x80 | n);
            hl = 2;
        } else {
            frame[1] = 0x80 | 127;
            for (int i = 0; i < 8; i++)
                frame[2 + i] = (unsigned char) ((uint64_t) n >> (56 - 8 * i));
            hl = 10;
        }
        memcpy(frame + hl, mask, 4);
        for (size_t i = 0; i < n; i++)
            frame[hl + 4 + i] = p[i] ^ mask[i & 3];
        assert_int_equal(hc_send(&c, frame, hl + 4 + n, TO), 0);

        /* The echo: same opcode, unmasked. */
        assert_int_equal(hc_recv_n(&c, h, 2, TO), 0);
        assert_int_equal(h[0], frame[0]);
        assert_int_equal(h[1] & 0x80, 0);
        len = h[1] & 0x7f;
        if (len == 127) {
            assert_int_equal(hc_recv_n(&c, h + 2, 8, TO), 0);
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
        }
        assert_int_equal(len, n);
        assert_int_equal(hc_recv_n(&c, frame, n, TO), 0);
        assert_memory_equal(frame, p, n);
    }

    /* Close (1000): the close comes back, then the connection ends. */
    memcpy(frame, "\x88\x82", 2);
    memcpy(frame + 2, mask, 4);
    frame[6] = 0x03 ^ mask[0];
    frame[7] = 0xe8 ^ mask[1];
    assert_int_equal(hc_send(&c, frame, 8, TO), 0);
    assert_int_equal(hc_recv_n(&c, h, 4, TO), 0);
    assert_memory_equal(h, "\x88\x02\x03\xe8", 4);
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    hc_close(&c);
    free(frame);
    free(payload);
}

/* ------------------------------------------------------------------ */
/* Choosing a backend. */

/*
 * A pooled connection that the backend closes as the request comes (-1:
 * one request per connection) costs the client nothing: lbd sends the
 * request again on a fresh connection, a POST as well as a GET.
 */
static void
test_retry_on_stale_pooled_connection(void **state)
{
    char want[64];

    snprintf(want, sizeof(want), "9 %016" PRIx64 "\n",
             lbd_td_fnv1a64(LBD_TD_FNV_BASIS, "payload-x", 9));
    start(1, "-h1v");
    for (int k = 0; k < 5; k++) {
        struct hc_resp r;
        char           v[32];

        exchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "A\n");
        hc_resp_free(&r);
        exchange(port, "POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\npayload-x",
                 &r, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want);
        assert_int_equal(hc_field(r.head, "X-Req", v, sizeof(v)), 1);
        assert_string_equal(v, "1");
        hc_resp_free(&r);
    }
    /* The stale connections were really used (the backend closed them on a second request). */
    fprintf(stderr, "backend closed %d pooled connections\n",
            h_log_count(srv_log(0), 0, "a second request", NULL));
    assert_true(h_log_count(srv_log(0), 0, "a second request", NULL) >= 5);
}

/* A backend that refuses connections is skipped: every request gets 200 from the live one. */
static void
test_retry_on_connect_refused(void **state)
{
    int          ports[2];
    struct hopts o = { .ports = ports, .nports = 2 };

    start_backends(1, NULL);
    ports[0] = h_free_port();      /* nothing listens there */
    ports[1] = bport[0];
    assert_int_not_equal(ports[0], -1);
    start_lbd(&o, 0);
    for (int k = 0; k < 10; k++) {
        struct hc_resp r;

        exchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(server_of(&r), "A");
        hc_resp_free(&r);
    }
}

/*
 * Routes: host (exact, case-insensitive, port ignored; "*.example.org" any
 * subdomain) and path prefix, the longest prefix first, else the service's
 * pool.  All on one client connection: routing is per request.
 */
static void
test_routes(void **state)
{
    static const struct { const char *host, *path, *server; } cases[] = {
        { "api.example.com",      "/v1/users",          "B" },
        { "API.Example.COM:8080", "/v1/x",              "B" },
        { "api.example.com",      "/v2/x",              "A" },
        { "other.example.com",    "/v1/x",              "A" },
        { "other.example.com",    "/static/app.css",    "C" },
        { "api.example.com",      "/static/img/a.png",  "D" },
        { "www.example.org",      "/x",                 "E" },
        { "a.b.example.org:81",   "/y",                 "E" },
        { "example.org",          "/x",                 "A" },
        { "www.example.org",      "/static/a.css",      "C" },
    };
    char         pools[1024], req[256];
    struct hopts o = {
        .routes = "{ host = \"api.example.com\"; path = \"/v1/\"; pool = \"api\"; },\n"
                  "        { path = \"/static/\"; pool = \"static\"; },\n"
                  "        { path = \"/static/img/\"; pool = \"img\"; },\n"
                  "        { host = \"*.example.org\"; pool = \"wild\"; }",
        .more_pools = pools,
    };
    struct hc    c;

    start_backends(5, NULL);
    snprintf(pools, sizeof(pools),
             "{ name = \"api\"; backends = ( { address = \"127.0.0.1:%d\"; } ); },\n"
             "    { name = \"static\"; backends = ( { address = \"127.0.0.1:%d\"; } ); },\n"
             "    { name = \"img\"; backends = ( { address = \"127.0.0.1:%d\"; } ); },\n"
             "    { name = \"wild\"; backends = ( { address = \"127.0.0.1:%d\"; } ); }",
             bport[1], bport[2], bport[3], bport[4]);
    start_lbd(&o, 1);
    assert_int_equal(hc_open(&c, port, TO), 0);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct hc_resp r;

        roundtrip(&c, get(req, sizeof(req), cases[k].path, cases[k].host, NULL), &r, 0);
        fprintf(stderr, "Host %s, %s: %d from %s (want %s)\n", cases[k].host, cases[k].path,
                r.status, server_of(&r), cases[k].server);
        assert_int_equal(r.status, 200);
        assert_string_equal(server_of(&r), cases[k].server);
        hc_resp_free(&r);
    }
    hc_close(&c);
}

/* The lbd_srv cookie's value from a response's Set-Cookie (checking its form), or "". */
static void
sticky_cookie(const struct hc_resp *r, char *value, size_t cap)
{
    char v[256];
    int  n = hc_field(r->head, "Set-Cookie", v, sizeof(v));

    value[0] = '\0';
    if (n == 0)
        return;
    assert_int_equal(n, 1);
    fprintf(stderr, "Set-Cookie: %s\n", v);
    assert_true(strncmp(v, "lbd_srv=", 8) == 0);
    for (int i = 0; i < 16; i++)
        assert_true(strchr("0123456789abcdefABCDEF", v[8 + i]) != NULL && v[8 + i] != '\0');
    assert_string_equal(v + 24, "; Path=/; HttpOnly");
    snprintf(value, cap, "%.16s", v + 8);
}

/* GET / with Cookie: cookie (NULL: none) on a new connection. */
static void
get_with_cookie(const char *cookie, struct hc_resp *r)
{
    char req[512], extra[300] = "";

    if (cookie != NULL)
        snprintf(extra, sizeof(extra), "Cookie: %s\r\n", cookie);
    exchange(port, get(req, sizeof(req), "/", "example.com", extra), r, 0);
    assert_int_equal(r->status, 200);
}

/*
 * sticky_cookie: a client without the cookie gets one; with it, it stays
 * on that backend (round robin would move it); when that backend is down
 * it goes to another and gets a new cookie, which then sticks.
 */
static void
test_sticky_cookie(void **state)
{
    struct hopts   o = { .pool_extra = "keepalive = 32; sticky_cookie = \"lbd_srv\";" };
    struct hc_resp r;
    char           v1[32], v2[32], cookie[256], first[64], second[64];
    int            status;

    start_backends(3, NULL);
    start_lbd(&o, 3);
    get_with_cookie(NULL, &r);
    sticky_cookie(&r, v1, sizeof(v1));
    assert_int_equal(strlen(v1), 16);
    snprintf(first, sizeof(first), "%s", server_of(&r));
    hc_resp_free(&r);

    for (int k = 0; k < 9; k++) {
        snprintf(cookie, sizeof(cookie), k % 2 ? "lbd_srv=%s" : "theme=dark; lbd_srv=%s; a=b", v1);
        get_with_cookie(cookie, &r);
        assert_string_equal(server_of(&r), first);
        assert_int_equal(hc_field(r.head, "Set-Cookie", NULL, 0), 0);
        hc_resp_free(&r);
    }

    /* A cookie that pins nothing is replaced. */
    get_with_cookie("lbd_srv=not-a-backend", &r);
    sticky_cookie(&r, v2, sizeof(v2));
    assert_int_equal(strlen(v2), 16);
    hc_resp_free(&r);

    /* The pinned backend goes down. */
    assert_int_equal(kill(bpid[first[0] - 'A'], SIGTERM), 0);
    assert_int_equal(h_wait_exit(bpid[first[0] - 'A'], TO, &status), 0);
    snprintf(cookie, sizeof(cookie), "lbd_srv=%s", v1);
    get_with_cookie(cookie, &r);
    snprintf(second, sizeof(second), "%s", server_of(&r));
    assert_string_not_equal(second, first);
    sticky_cookie(&r, v2, sizeof(v2));
    assert_int_equal(strlen(v2), 16);
    assert_string_not_equal(v2, v1);
    hc_resp_free(&r);
    snprintf(cookie, sizeof(cookie), "lbd_srv=%s", v2);
    for (int k = 0; k < 5; k++) {
        get_with_cookie(cookie, &r);
        assert_string_equal(server_of(&r), second);
        hc_resp_free(&r);
    }
}

/*
 * hash with hash_key "header:X-User": one user, one backend, whichever of
 * the two workers takes the connection; users spread; without the header
 * the client's address decides (one address here: one backend).
 */
static void
test_hash_on_header(void **state)
{
    struct hopts o = { .workers = 2, .strategy = "hash",
                       .pool_extra = "keepalive = 32; hash_key = \"header:X-User\";" };
    int          used[3] = { 0 }, spread = 0;
    char         none[64] = "";

    start_backends(3, NULL);
    start_lbd(&o, 3);
    for (int u = 0; u < 12; u++) {
        char first[64] = "", extra[64], req[256];

        snprintf(extra, sizeof(extra), "X-User: user-%d\r\n", u);
        for (int k = 0; k < 3; k++) {
            struct hc_resp r;

            exchange(port, get(req, sizeof(req), "/", "example.com", extra), &r, 0);
            assert_int_equal(r.status, 200);
            if (k == 0)
                snprintf(first, sizeof(first), "%s", server_of(&r));
            assert_string_equal(server_of(&r), first);
            hc_resp_free(&r);
        }
        used[first[0] - 'A'] = 1;
    }
    for (int i = 0; i < 3; i++)
        spread += used[i];
    assert_true(spread >= 2);

    for (int k = 0; k < 6; k++) {
        struct hc_resp r;

        exchange(port, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
        assert_int_equal(r.status, 200);
        if (k == 0)
            snprintf(none, sizeof(none), "%s", server_of(&r));
        assert_string_equal(server_of(&r), none);
        hc_resp_free(&r);
    }
}

/* ------------------------------------------------------------------ */
/* Errors lbd answers itself. */

/* req on a new connection: lbd answers status itself, then closes. */
static void
expect_lbd_close(const char *req, int status)
{
    struct hc      c;
    struct hc_resp r;

    assert_int_equal(hc_open(&c, port, TO), 0);
    roundtrip(&c, req, &r, 0);
    assert_lbd_answer(&r, status);
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    hc_resp_free(&r);
    hc_close(&c);
}

/* A request line that is not one: 400, closed; the backend saw nothing. */
static void
test_400_malformed(void **state)
{
    start(1, NULL);
    expect_lbd_close("NOT A REQUEST LINE\r\nHost: example.com\r\n\r\n", 400);
    assert_int_equal(direct_count(bport[0]), 1);
}

/* A head over max_header_size ("8k"): 431, closed. */
static void
test_431_head_too_large(void **state)
{
    char *req = malloc(12000);

    assert_non_null(req);
    start(1, NULL);
    snprintf(req, 12000, "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: %010000d\r\n\r\n", 7);
    expect_lbd_close(req, 431);
    free(req);
    assert_int_equal(direct_count(bport[0]), 1);
}

/* Half a head, then nothing: 408 after header_timeout ("1s"), closed. */
static void
test_408_header_timeout(void **state)
{
    struct hopts   o = { .header_timeout = "1s" };
    struct hc      c;
    struct hc_resp r;
    int64_t        t0, waited;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    assert_int_equal(hc_open(&c, port, TO), 0);
    t0 = h_now_ms();
    assert_int_equal(hc_sends(&c, "GET / HTTP/1.1\r\nHost: example.com\r\n", TO), 0);
    assert_int_equal(hc_read(&c, &r, 0, TO), 0);
    waited = h_now_ms() - t0;
    fprintf(stderr, "408 after %lld ms\n", (long long) waited);
    assert_lbd_answer(&r, 408);
    assert_true(waited >= 900);
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    hc_resp_free(&r);
    hc_close(&c);
}

/* Every backend refuses: 502. */
static void
test_502_all_refused(void **state)
{
    int            ports[2] = { h_free_port(), h_free_port() };
    struct hopts   o = { .ports = ports, .nports = 2 };
    struct hc_resp r;

    assert_true(ports[0] != -1 && ports[1] != -1);
    start_lbd(&o, 0);
    exchange(port, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
    assert_lbd_answer(&r, 502);
    hc_resp_free(&r);
}

/* The backend closes without a response, resets, or answers garbage: 502 each time. */
static void
test_502_backend_fails(void **state)
{
    static const char *const paths[] = { "/close", "/reset", "/garbage" };

    start(1, NULL);
    for (int k = 0; k < 3; k++) {
        struct hc_resp r;
        char           req[256];

        exchange(port, get(req, sizeof(req), paths[k], "example.com", NULL), &r, 0);
        fprintf(stderr, "%s: %d\n", paths[k], r.status);
        assert_lbd_answer(&r, 502);
        hc_resp_free(&r);
    }
}

/* No backend at all in the pool: 503. */
static void
test_503_no_backend(void **state)
{
    struct hc_resp r;

    start_lbd(NULL, 0);
    exchange(port, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
    assert_lbd_answer(&r, 503);
    hc_resp_free(&r);
}

/* The response head does not come within response_timeout ("500ms"): 504. */
static void
test_504_response_timeout(void **state)
{
    struct hopts   o = { .response_timeout = "500ms" };
    struct hc_resp r;
    int64_t        t0 = 0, waited;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    t0 = h_now_ms();
    exchange(port, "GET /sleep?ms=5000 HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
    waited = h_now_ms() - t0;
    fprintf(stderr, "504 after %lld ms\n", (long long) waited);
    assert_lbd_answer(&r, 504);
    assert_true(waited >= 400 && waited < 4000);
    hc_resp_free(&r);
}

/* HTTP/2.0 in an HTTP/1 request line: 505; the backend saw nothing. */
static void
test_505_version(void **state)
{
    struct hc_resp r;

    start(1, NULL);
    exchange(port, "GET / HTTP/2.0\r\nHost: example.com\r\n\r\n", &r, 0);
    assert_lbd_answer(&r, 505);
    hc_resp_free(&r);
    assert_int_equal(direct_count(bport[0]), 1);
}

/*
 * A transfer coding without chunked (gzip alone): the body's length cannot
 * be known, 501, and the backend never sees it.  gzip then chunked is a
 * body lbd can delimit: it goes through as it is, for the backend to decode
 * (the test server refuses it: its answer, not lbd's, is what comes back).
 */
static void
test_501_transfer_coding(void **state)
{
    struct hc_resp r;

    start(1, NULL);
    exchange(port, "POST /sink HTTP/1.1\r\nHost: example.com\r\n"
                   "Transfer-Encoding: gzip\r\n\r\n", &r, 0);
    assert_lbd_answer(&r, 501);
    hc_resp_free(&r);
    assert_int_equal(direct_count(bport[0]), 1);
    exchange(port, "POST /sink HTTP/1.1\r\nHost: example.com\r\n"
                   "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", &r, 0);
    /* The backend got it: the test server itself takes only plain chunked. */
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "testsrv:"));
    hc_resp_free(&r);
}

/* A client idle past keepalive_timeout ("500ms") is closed without a word. */
static void
test_client_keepalive_timeout(void **state)
{
    struct hopts   o = { .keepalive_timeout = "500ms" };
    struct hc      c;
    struct hc_resp r;
    int64_t        t0, waited;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    assert_int_equal(hc_open(&c, port, TO), 0);
    roundtrip(&c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    t0 = h_now_ms();
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    waited = h_now_ms() - t0;
    fprintf(stderr, "closed after %lld ms idle\n", (long long) waited);
    assert_true(waited >= 400);
    hc_close(&c);
}

/* ------------------------------------------------------------------ */
/* Smuggling. */

struct conns_arg {
    const char *log;
};

/* Every connection the backend accepted is closed again (its -v log says so). */
static int
backend_conns_closed(void *arg)
{
    struct conns_arg *a = arg;

    return h_log_count(a->log, 0, "accepted", NULL) == h_log_count(a->log, 0, " closed", NULL);
}

/*
 * lbd refused a request (the backend's /count said 1 before): the backend
 * completed nothing of it and its log has no line holding never.
 *
 * The order makes that sound without sleeping: a direct /count connects
 * after any connection lbd made for the request, so once the backend has
 * accepted it, it has accepted lbd's too; once every accepted connection is
 * closed again, the backend has read all lbd sent (the EOF comes last).
 * Then its log is complete, and a last /count shows nothing was served but
 * the three direct asks.
 */
static void
assert_backend_never_served(const char *never)
{
    struct conns_arg a = { srv_log(0) };

    direct_count(bport[0]);
    assert_int_equal(h_wait(backend_conns_closed, &a, TO), 0);
    assert_int_equal(h_log_count(a.log, 0, never, NULL), 0);
    assert_int_equal(direct_count(bport[0]), 3);
}

/* req (whose target holds "/smuggle") is answered 400 by lbd and never reaches the backend. */
static void
expect_refused(const char *req)
{
    struct hc_resp r;

    start(1, NULL);
    assert_int_equal(direct_count(bport[0]), 1);
    exchange(port, req, &r, 0);
    assert_lbd_answer(&r, 400);
    hc_resp_free(&r);
    assert_backend_never_served("/smuggle");
}

static void
test_smuggle_cl_and_te(void **state)
{
    expect_refused("POST /smuggle HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
}

static void
test_smuggle_two_content_lengths(void **state)
{
    expect_refused("POST /smuggle HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
                   "Content-Length: 5\r\n\r\nhello");
}

static void
test_smuggle_space_before_colon(void **state)
{
    expect_refused("POST /smuggle HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding : chunked\r\n"
                   "Content-Length: 5\r\n\r\nhello");
}

static void
test_smuggle_obs_fold(void **state)
{
    expect_refused("GET /smuggle HTTP/1.1\r\nHost: example.com\r\nX-Folded: a\r\n b\r\n\r\n");
}

static void
test_smuggle_bare_cr(void **state)
{
    expect_refused("GET /smuggle HTTP/1.1\r\nHost: example.com\r\nX-CR: a\rb\r\n\r\n");
}

static void
test_smuggle_no_host(void **state)
{
    expect_refused("GET /smuggle HTTP/1.1\r\nX-A: 1\r\n\r\n");
}

static void
test_smuggle_two_hosts(void **state)
{
    expect_refused("GET /smuggle HTTP/1.1\r\nHost: a.example.com\r\nHost: b.example.com\r\n\r\n");
}

/*
 * A chunked body with a bad size line after a good chunk.  The head is
 * valid, so lbd may have sent it (and the good chunk) to the backend
 * before finding the bad line.  The client gets lbd's 400 (or, had a
 * response begun, a close); the backend never completes the request and
 * never sees the bad bytes (lbd-testsrv would log "bad chunked body").
 */
static void
expect_bad_chunk_stopped(const char *bad_line)
{
    struct hc      c;
    struct hc_resp r;
    char           req[512];

    start(1, NULL);
    assert_int_equal(direct_count(bport[0]), 1);
    snprintf(req, sizeof(req), "POST /sink?case=badchunk HTTP/1.1\r\nHost: example.com\r\n"
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n%s\r\nhello\r\n0\r\n\r\n", bad_line);
    assert_int_equal(hc_open(&c, port, TO), 0);
    assert_int_equal(hc_sends(&c, req, TO), 0);
    if (hc_read(&c, &r, 0, TO) == 0) {
        assert_lbd_answer(&r, 400);
    } else {
        assert_int_equal(errno, ECONNRESET);    /* closed, never a hang */
        assert_int_equal(r.status, 0);
    }
    hc_resp_free(&r);
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    hc_close(&c);
    assert_backend_never_served("bad chunked body");
}

static void
test_smuggle_bad_chunk_size(void **state)
{
    expect_bad_chunk_stopped("zz");
}

static void
test_smuggle_chunk_size_leading_space(void **state)
{
    expect_bad_chunk_stopped(" 5");
}

/* ------------------------------------------------------------------ */
/* The access log. */

struct line_arg {
    const char *path;
    const char *needle;
    char        line[2048];
};

/* The file has a line holding a->needle: copy it to a->line. */
static int
find_line(void *arg)
{
    struct line_arg *a = arg;
    char            *text = h_read_file(a->path, NULL), *p, *end;
    int              found = 0;

    if (text != NULL && (p = strstr(text, a->needle)) != NULL) {
        while (p > text && p[-1] != '\n')
            p--;
        end = strchr(p, '\n');
        if (end != NULL) {     /* only whole lines */
            snprintf(a->line, sizeof(a->line), "%.*s", (int) (end - p), p);
            found = 1;
        }
    }
    free(text);
    return found;
}

/* Wait (3 s: lines are flushed each second) for the line of path holding needle. */
static const char *
wait_line(struct line_arg *a, const char *path, const char *needle)
{
    a->path = path;
    a->needle = needle;
    if (h_wait(find_line, a, 3000) == -1) {
        fprintf(stderr, "no line with \"%s\" in %s; it holds:\n", needle, path);
        h_dump(path);
        fail();
    }
    fprintf(stderr, "%s\n", a->line);
    return a->line;
}

/*
 * Combined format: client, request line, status, bytes, referer, user
 * agent, then the backend and the times (nginx's upstream_addr,
 * request_time, upstream_response_time).
 */
static void
test_access_log_combined(void **state)
{
    struct hopts       o = { .access_log_format = "combined" };
    struct hc_resp     r;
    struct line_arg    a;
    char               client[64], when[64], request[256], referer[256], agent[256];
    char               backend[64], want[64];
    int                status;
    unsigned long long bytes;
    double             rt, bt;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    exchange(port, "GET /alog?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                   "Referer: http://ref.example/page\r\nUser-Agent: lbd-test/1.0\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    exchange(port, "GET /status?code=404 HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 404);
    hc_resp_free(&r);

    wait_line(&a, h_path("access.log"), "\"GET /alog?x=1 HTTP/1.1\"");
    assert_int_equal(sscanf(a.line, "%63s - - [%63[^]]] \"%255[^\"]\" %d %llu \"%255[^\"]\" "
                            "\"%255[^\"]\" %63s %lf %lf", client, when, request, &status, &bytes,
                            referer, agent, backend, &rt, &bt), 10);
    assert_string_equal(client, "127.0.0.1");
    assert_string_equal(request, "GET /alog?x=1 HTTP/1.1");
    assert_int_equal(status, 200);
    assert_true(bytes > 2);                 /* head and "A\n" */
    assert_string_equal(referer, "http://ref.example/page");
    assert_string_equal(agent, "lbd-test/1.0");
    snprintf(want, sizeof(want), "127.0.0.1:%d", bport[0]);
    assert_string_equal(backend, want);
    assert_true(rt >= 0 && bt >= 0 && bt <= rt + 0.001);

    wait_line(&a, h_path("access.log"), "\"GET /status?code=404 HTTP/1.1\" 404 ");
}

/* The string member key of o, or fail. */
static const char *
json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

/*
 * JSON format: each line an object with the documented keys; a request lbd
 * answers itself has a null backend.
 */
static void
test_access_log_json(void **state)
{
    static const char *const keys[] = {
        "time", "client", "method", "target", "protocol", "status", "bytes_sent",
        "bytes_received", "referer", "user_agent", "service", "pool", "backend",
        "request_time", "backend_time",
    };
    struct hopts    o = { .access_log_format = "json" };
    struct hc_resp  r;
    struct line_arg a;
    json_error_t    err;
    json_t         *j;
    char            want[64];

    start_backends(1, NULL);
    start_lbd(&o, 1);
    exchange(port, "GET /j?a=b HTTP/1.1\r\nHost: example.com\r\n"
                   "Referer: http://ref.example/\r\nUser-Agent: lbd-test/2.0\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);
    exchange(port, "GET /nohost HTTP/1.1\r\nX-A: 1\r\n\r\n", &r, 0);
    assert_int_equal(r.status, 400);
    hc_resp_free(&r);

    j = json_loads(wait_line(&a, h_path("access.log"), "\"/j?a=b\""), 0, &err);
    if (j == NULL)
        fprintf(stderr, "not JSON: %s\n", err.text);
    assert_non_null(j);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_get(j, keys[i]) == NULL)
            fprintf(stderr, "no key \"%s\"\n", keys[i]);
        assert_non_null(json_object_get(j, keys[i]));
    }
    assert_true(strlen(json_str(j, "time")) >= 20);
    assert_string_equal(json_str(j, "client"), "127.0.0.1");
    assert_string_equal(json_str(j, "method"), "GET");
    assert_string_equal(json_str(j, "target"), "/j?a=b");
    assert_string_equal(json_str(j, "protocol"), "HTTP/1.1");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_true(json_integer_value(json_object_get(j, "bytes_sent")) > 2);
    assert_true(json_integer_value(json_object_get(j, "bytes_received")) > 0);
    assert_string_equal(json_str(j, "referer"), "http://ref.example/");
    assert_string_equal(json_str(j, "user_agent"), "lbd-test/2.0");
    assert_string_equal(json_str(j, "service"), "t");
    assert_string_equal(json_str(j, "pool"), "p");
    snprintf(want, sizeof(want), "127.0.0.1:%d", bport[0]);
    assert_string_equal(json_str(j, "backend"), want);
    assert_true(json_is_number(json_object_get(j, "request_time")));
    assert_true(json_number_value(json_object_get(j, "request_time")) >= 0);
    assert_true(json_is_number(json_object_get(j, "backend_time")));
    json_decref(j);

    j = json_loads(wait_line(&a, h_path("access.log"), "\"/nohost\""), 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    assert_true(json_is_null(json_object_get(j, "backend")));
    json_decref(j);
}

/*
 * logrotate: the log is renamed and lbd gets USR1; from then on lines go to
 * a new file at the configured path.
 */
static void
test_access_log_reopen(void **state)
{
    struct hopts    o = { .access_log_format = "combined" };
    struct hc_resp  r;
    struct line_arg a;
    const char     *path, *old;
    int64_t         deadline;
    int             k = 0;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    path = h_path("access.log");
    old = h_path("access.log.1");
    exchange(port, "GET /before HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);
    hc_resp_free(&r);
    wait_line(&a, path, "/before");

    assert_int_equal(rename(path, old), 0);
    assert_int_equal(kill(lbd.pid, SIGUSR1), 0);
    /* Requests until one is logged in the new file (the signal is handled in passing). */
    deadline = h_now_ms() + 10000;
    while (!(h_file_exists(path) && h_log_has(path, "/after", NULL))) {
        char req[128];

        assert_true(h_now_ms() < deadline);
        snprintf(req, sizeof(req), "GET /after-%d HTTP/1.1\r\nHost: example.com\r\n\r\n", k++);
        exchange(port, req, &r, 0);
        assert_int_equal(r.status, 200);
        hc_resp_free(&r);
        h_msleep(200);
    }
    assert_true(h_log_has(old, "/before", NULL));
    assert_false(h_log_has(path, "/before", NULL));
}

/* ------------------------------------------------------------------ */
/* Slowloris. */

#define SLOW_N      300
/*
 * Bulk buffers: a response streams through a bulk buffer; clients that stop
 * reading hold one response buffer each, at most proxy_bulk_buffers of them
 * bulk, and /status.json says so to the byte.  Once they read on, every body
 * arrives whole and the worker holds nothing.
 */
#define STALLED     3
#define BULK_CAP    1
#define BUF         16384
#define BULK        65536

struct held {
    int  admin;
    int  want_active;
    int  idle;                  /* 0: one buffer per client; 1: none */
    long active, bytes, bulk;
};

static int
held_settled(void *arg)
{
    struct held           *h = arg;
    struct h_worker_status w;

    assert_int_equal(h_status_workers(h->admin, &w, 1), 1);
    h->active = w.active;
    h->bytes = w.buffer_bytes;
    h->bulk = w.bulk_buffers;
    if (h->idle)
        return h->active == h->want_active && h->bytes == 0 && h->bulk == 0;
    return h->active == h->want_active
           && h->bytes == h->bulk * BULK + (h->active - h->bulk) * BUF;
}

static void
test_bulk_buffers(void **state)
{
    struct hopts   o = { 0 };
    struct held    h = { .admin = h_free_port(), .want_active = STALLED };
    struct hc      c[STALLED];
    struct hc_resp r;
    char           extra[PATH_MAX + 256], req[256];
    int            queued, last[STALLED];
    int64_t        deadline, still_since = 0;

    snprintf(extra, sizeof(extra), "proxy_buffer_size = %d; proxy_bulk_buffer_size = %d; "
             "proxy_bulk_buffers = %d; %s", BUF, BULK, BULK_CAP, h_admin_conf(h.admin));
    o.extra = extra;
    start_backends(1, NULL);
    start_lbd(&o, 1);
    assert_int_equal(h_wait_listening(h.admin, 1, TO), 0);

    for (int i = 0; i < STALLED; i++) {
        assert_int_equal(hc_open(&c[i], port, TO), 0);
        snprintf(req, sizeof(req), "GET /bytes?n=%d&seed=%d HTTP/1.1\r\nHost: x\r\n\r\n",
                 32 * MB, 60 + i);
        assert_int_equal(hc_sends(&c[i], req, TO), 0);
        last[i] = -1;
    }
    /* Nobody reads: wait until no receive queue has grown for 300 ms. */
    deadline = h_now_ms() + 20000;
    for (;;) {
        int moved = 0;

        for (int i = 0; i < STALLED; i++) {
            assert_int_equal(ioctl(c[i].fd, FIONREAD, &queued), 0);
            if (queued != last[i] || queued == 0)
                moved = 1;
            last[i] = queued;
        }
        if (moved)
            still_since = h_now_ms();
        else if (h_now_ms() - still_since >= 300)
            break;
        assert_true(h_now_ms() < deadline);
        h_msleep(10);
    }
    if (h_wait(held_settled, &h, TO) != 0)
        fail_msg("stalled: active %ld, buffer bytes %ld, bulk %ld", h.active, h.bytes, h.bulk);
    fprintf(stderr, "%d stalled clients: the worker holds %ld bytes in buffers, %ld bulk\n",
            STALLED, h.bytes, h.bulk);
    assert_true(h.bulk >= 1 && h.bulk <= BULK_CAP);

    for (int i = 0; i < STALLED; i++) {
        assert_int_equal(hc_read(&c[i], &r, 0, 60000), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 32 * MB);
        assert_true(r.body_hash == lbd_td_stream_hash(60 + (uint64_t) i, 32 * MB));
        hc_resp_free(&r);
    }
    /* Kept alive and idle: no buffer held for them. */
    h.idle = 1;
    if (h_wait(held_settled, &h, TO) != 0)
        fail_msg("idle: active %ld, buffer bytes %ld, bulk %ld", h.active, h.bytes, h.bulk);
    for (int i = 0; i < STALLED; i++)
        hc_close(&c[i]);
}

/*
 * What a slow client may cost lbd, on average, at most.  AddressSanitizer's
 * allocator (redzones, a quarantine of freed blocks) makes every block
 * cost several times more: the bound is for lbd's memory, not ASan's.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SLOW_KB     32
#else
#define SLOW_KB     8
#endif

/* Descriptors pid has open, or -1. */
static int
count_fds(pid_t pid)
{
    char           dir[64];
    DIR           *d;
    struct dirent *e;
    int            n = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
    d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The slow clients: their sockets, what came back, and when. */
struct slow {
    int     fd[SLOW_N];
    int64_t sent[SLOW_N];       /* when the first bytes went */
    int64_t answered[SLOW_N];   /* when 12 bytes or the close came; 0: not yet */
    char    got[SLOW_N][64];
    size_t  ngot[SLOW_N];
    int     left;               /* not answered yet */
};

/*
 * Read what came for the unanswered clients (up to 20 ms).  Returns how
 * many got their answer in this call.
 */
static int
slow_poll(struct slow *sl)
{
    struct pollfd p[SLOW_N];
    int           map[SLOW_N], np = 0, done = 0;

    for (int i = 0; i < SLOW_N; i++) {
        if (sl->answered[i] == 0) {
            p[np].fd = sl->fd[i];
            p[np].events = POLLIN;
            map[np++] = i;
        }
    }
    if (poll(p, (nfds_t) np, 20) <= 0)
        return 0;
    for (int k = 0; k < np; k++) {
        int     i = map[k];
        ssize_t n;

        if (p[k].revents == 0)
            continue;
        n = recv(sl->fd[i], sl->got[i] + sl->ngot[i], sizeof(sl->got[i]) - 1 - sl->ngot[i], 0);
        if (n > 0)
            sl->ngot[i] += (size_t) n;
        sl->got[i][sl->ngot[i]] = '\0';
        if (n == 0 || (n == -1 && errno != EAGAIN) || sl->ngot[i] >= 12) {
            sl->answered[i] = h_now_ms();
            sl->left--;
            done++;
        }
    }
    return done;
}

/*
 * 300 clients each send half a head, then a field line every 250 ms.  lbd
 * holds them for little memory: until the first answer, the worker's RSS
 * grows by less than SLOW_KB per connection it holds (its descriptors,
 * counted as the RSS is sampled).  header_timeout ("1s") counts from a
 * head's first byte, so the trickle does not extend it: every client gets
 * 408, a second or more after its first byte, and is closed.
 */
static void
test_slowloris(void **state)
{
    struct hopts   o = { .header_timeout = "1s" };
    struct hc_resp r;
    static struct slow sl;
    pid_t          w;
    long           base_rss, peak_rss = 0;
    int            base_fds, held = 0, answers = 0;
    int64_t        deadline, next_trickle;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    exchange(port, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, 0);    /* warm up */
    hc_resp_free(&r);
    assert_int_equal(h_lbd_workers(&lbd, &w, 1), 1);
    base_rss = h_proc_status_kb(w, "VmRSS");
    base_fds = count_fds(w);
    assert_true(base_rss > 0 && base_fds > 0);

    memset(&sl, 0, sizeof(sl));
    sl.left = SLOW_N;
    for (int i = 0; i < SLOW_N; i++) {
        sl.fd[i] = h_connect(port, TO);
        assert_int_not_equal(sl.fd[i], -1);
        sl.sent[i] = h_now_ms();
        assert_int_equal(h_send_all(sl.fd[i], "GET / HTTP/1.1\r\nHost: example.com\r\n", 35, TO), 0);
    }

    deadline = h_now_ms() + 8000;
    next_trickle = h_now_ms() + 250;
    while (sl.left > 0 && h_now_ms() < deadline) {
        if (answers == 0) {     /* before any timeout: lbd holds what it accepted */
            long rss = h_proc_status_kb(w, "VmRSS");
            int  fds = count_fds(w);

            if (rss - base_rss > peak_rss)
                peak_rss = rss - base_rss;
            if (fds - base_fds > held)
                held = fds - base_fds;
        }
        if (h_now_ms() >= next_trickle) {
            for (int i = 0; i < SLOW_N; i++)
                if (sl.answered[i] == 0)
                    send(sl.fd[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
            next_trickle += 250;
        }
        answers += slow_poll(&sl);
    }
    fprintf(stderr, "%d slow clients: lbd held %d at once, its RSS grew by %ld kB\n",
            SLOW_N, held, peak_rss);
    assert_int_equal(sl.left, 0);
    assert_true(held >= SLOW_N / 2);
    /* Under a wrapper (LBD_BIN: valgrind) the RSS is the wrapper's, not lbd's. */
    if (getenv("LBD_BIN") == NULL)
        assert_true(peak_rss < (long) held * SLOW_KB);
    for (int i = 0; i < SLOW_N; i++) {
        if (strncmp(sl.got[i], "HTTP/1.1 408", 12) != 0 || sl.answered[i] - sl.sent[i] < 900)
            fprintf(stderr, "client %d got \"%s\" after %lld ms\n", i, sl.got[i],
                    (long long) (sl.answered[i] - sl.sent[i]));
        assert_true(strncmp(sl.got[i], "HTTP/1.1 408", 12) == 0);
        assert_true(sl.answered[i] - sl.sent[i] >= 900);
        assert_true(h_recv_eof(sl.fd[i], TO) >= 0 || errno == ECONNRESET);
        close(sl.fd[i]);
    }
}

/*
 * QUIT while one client waits for a slow response and another idles between
 * requests: the idle one is closed at once, the busy one gets its whole
 * response with Connection: close, and lbd exits after it.
 */
static void
test_graceful_stop(void **state)
{
    struct hc      busy, idle;
    struct hc_resp r;
    char           conn[64];
    int            status;

    start(1, NULL);
    assert_int_equal(hc_open(&idle, port, TO), 0);
    assert_int_equal(hc_sends(&idle, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", TO), 0);
    assert_int_equal(hc_read(&idle, &r, 0, TO), 0);
    assert_int_equal(r.status, 200);
    hc_resp_free(&r);

    assert_int_equal(hc_open(&busy, port, TO), 0);
    assert_int_equal(hc_sends(&busy, "GET /sleep?ms=1500 HTTP/1.1\r\nHost: example.com\r\n\r\n",
                              TO), 0);
    /* The request is in flight once the backend logged it. */
    assert_int_equal(h_log_wait(srv_log(0), TO, "/sleep?ms=1500", NULL), 0);
    kill(lbd.pid, SIGQUIT);
    assert_int_equal(hc_wait_closed(&idle, TO), 1);
    assert_int_equal(hc_read(&busy, &r, 0, TO), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(hc_field(r.head, "Connection", conn, sizeof(conn)), 1);
    assert_string_equal(conn, "close");
    hc_resp_free(&r);
    assert_int_equal(hc_wait_closed(&busy, TO), 1);
    assert_int_equal(h_wait_exit(lbd.pid, 10000, &status), 0);
    hc_close(&busy);
    hc_close(&idle);
}

/*
 * A request body that stops coming for body_timeout ("500ms"): 408, and the
 * backend never gets a whole request (its /sink would have answered).
 */
static void
test_408_body_timeout(void **state)
{
    struct hopts   o = { .body_timeout = "500ms" };
    struct hc      c;
    struct hc_resp r;

    start_backends(1, NULL);
    start_lbd(&o, 1);
    assert_int_equal(hc_open(&c, port, TO), 0);
    assert_int_equal(hc_sends(&c, "POST /sink HTTP/1.1\r\nHost: example.com\r\n"
                                  "Content-Length: 10\r\n\r\nabc", TO), 0);
    assert_int_equal(hc_read(&c, &r, 0, TO), 0);
    assert_lbd_answer(&r, 408);
    hc_resp_free(&r);
    assert_int_equal(hc_wait_closed(&c, TO), 1);
    hc_close(&c);
    assert_int_equal(direct_count(bport[0]), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_client_keepalive, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_per_request, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_backend_pool_across_clients, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_forwarded_fields, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_hop_by_hop_and_version, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_request_body_content_length, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_request_body_chunked, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_download_100mb, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_response_framings, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_http10_client_gets_dechunked_body, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_head_has_no_body, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_pipelining, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_websocket_tunnel, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_stale_pooled_connection, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_connect_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_routes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_sticky_cookie, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_hash_on_header, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_400_malformed, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_431_head_too_large, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_408_header_timeout, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_502_all_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_502_backend_fails, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_503_no_backend, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_504_response_timeout, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_505_version, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_501_transfer_coding, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_client_keepalive_timeout, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_cl_and_te, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_two_content_lengths, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_space_before_colon, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_obs_fold, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_bare_cr, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_no_host, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_two_hosts, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_bad_chunk_size, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_smuggle_chunk_size_leading_space, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_access_log_combined, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_access_log_json, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_access_log_reopen, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_buffers, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_slowloris, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_graceful_stop, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_408_body_timeout, h_setup, h_teardown),
    };

    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
