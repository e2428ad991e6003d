/*
 * lbd_testsrv_http.c - lbd-testsrv -h: an HTTP/1.1 origin server for lbd's
 * HTTP-mode tests.  What it answers is listed in lbd_testsrv.c's top
 * comment; this file is how.
 *
 * A connection is a small state machine that conn_run() drives whenever
 * input came, the output drained or a timer fired:
 *
 *   HEAD -> BODY -> response -> HEAD ...     keepalive, pipelining
 *                -> SLEEP -> response        /sleep
 *                -> SOURCE -> response       /bytes (the body is generated)
 *                -> WS                       /ws, until a close frame
 *   any  -> DROP                             /close, -1, idle: close once
 *                                            the output is written
 *   any  -> FLUSH -> LINGER                  Connection: close, errors
 *
 * Requests are answered one at a time, in order: while one is answered the
 * next waits in the input buffer.  The request parser is strict on purpose:
 * what lbd must never forward (two Content-Lengths, Content-Length with
 * Transfer-Encoding, a bad chunk size, obsolete folding, a bare CR, no or
 * two Host fields) is answered 400 here and not counted, so a test that
 * looks at /count or at the -v log sees whether lbd let it through.
 *
 * Memory per connection is bounded: the input is read up to READ_MAX bytes
 * (a head may be HEAD_MAX), the output is filled only while it holds less
 * than HIGH_WATER, and a request body is hashed as it streams, never kept.
 * The only copy is the current request's head (at most HEAD_MAX).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "lbd_testsrv.h"

#define HEAD_MAX        65536
#define READ_MAX        (HEAD_MAX + 65536)
#define CHUNK_LINE_MAX  4096

enum hstate {
    H_HEAD,     /* waiting for a request head; the idle timer runs while nothing came */
    H_BODY,     /* reading the request's body */
    H_SLEEP,    /* /sleep: the timer runs */
    H_SOURCE,   /* /bytes: generating the body as the socket takes it */
    H_WS,       /* /ws: echoing frames */
    H_DROP,     /* close without lingering once the output is written */
    H_FLUSH,    /* close once the output is written */
    H_LINGER,   /* SHUT_WR done: discard input until the client's EOF */
};

enum endpoint {
    EP_NAME,
    EP_ECHO_HEADERS,
    EP_BYTES,
    EP_SINK,
    EP_STATUS,
    EP_SLEEP,
    EP_CLOSE,
    EP_RESET,
    EP_GARBAGE,
    EP_WS,
    EP_COUNT,
};

enum body { B_NONE, B_LENGTH, B_CHUNKED };

enum chunk { C_SIZE, C_DATA, C_DATA_END, C_TRAILER };

/* The chunk sizes of a chunked /bytes body, in turn: tiny to the largest. */
static const size_t chunk_sizes[] = { 1, 13, 256, 1000, 4096, 8191, 65536, 30000 };

struct hconn {
    struct srv         *srv;
    struct bufferevent *bev;
    struct event       *timer;      /* H_HEAD: idle; H_SLEEP: the sleep */
    unsigned long       id;         /* X-Conn */
    unsigned long       nreq;       /* X-Req of the current request */
    enum hstate         state;
    int                 eof;        /* the client half-closed */
    int                 dead;       /* free at the end of the callback */

    /* The request being answered. */
    char               *head;       /* its head as received, NUL-terminated */
    size_t              head_len;
    enum endpoint       ep;
    int                 head_only;  /* HEAD: the response has no body */
    int                 v10;        /* HTTP/1.0 */
    int                 keep;       /* keep the connection after the response */
    int                 expect;     /* Expect: 100-continue */
    int                 upgrade;    /* Connection: upgrade and Upgrade: websocket */
    const char         *ws_key;     /* into head */
    size_t              ws_key_len;
    uint64_t            arg_n, arg_seed, arg_code, arg_ms;
    int                 arg_chunked, arg_close;
    enum body           body;
    enum chunk          chunk;
    uint64_t            left;       /* B_LENGTH: body bytes to come; C_DATA: chunk bytes */
    uint64_t            count;      /* body bytes so far (chunk data only) */
    uint64_t            hash;       /* their FNV-1a 64 */

    /* /bytes */
    struct lbd_td_rng   rng;
    uint64_t            sent;
    int                 out_chunked;
    unsigned            nchunk;

    struct ws_echo      ws;
};

static void conn_run(struct hconn *c);

static const char *
reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default:  return "Status";
    }
}

static void
conn_free(struct hconn *c)
{
    logv(c->srv, "conn %lu closed", c->id);
    event_free(c->timer);
    bufferevent_free(c->bev);
    free(c->head);
    free(c);
}

/* Close after what is queued has been written: FLUSH, then LINGER. */
static void
conn_finish(struct hconn *c)
{
    c->state = H_FLUSH;
}

/* Close without a reply (what is queued is written first), without lingering. */
static void
conn_drop(struct hconn *c)
{
    c->state = H_DROP;
}

/* The status line and the fields every response carries. */
static void
resp_start(struct hconn *c, int status)
{
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "HTTP/1.1 %d %s\r\nX-Server: %s\r\nX-Conn: %lu\r\nX-Req: %lu\r\n%s",
                        status, reason(status), c->srv->name, c->id, c->nreq,
                        !c->keep ? "Connection: close\r\n"
                                 : c->v10 ? "Connection: keep-alive\r\n" : "");
}

/* The response is all queued: the next request, or closing. */
static void
response_done(struct hconn *c)
{
    free(c->head);
    c->head = NULL;
    c->ws_key = NULL;
    if (c->keep)
        c->state = H_HEAD;
    else
        conn_finish(c);
}

/* A whole response with a text body (none for 204 and 304, nor to HEAD). */
static void
reply(struct hconn *c, int status, const char *fields, const char *body, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int              bodyless = status == 204 || status == 304;

    resp_start(c, status);
    if (!bodyless)
        evbuffer_add_printf(out, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", len);
    evbuffer_add_printf(out, "%s\r\n", fields != NULL ? fields : "");
    if (!bodyless && !c->head_only)
        evbuffer_add(out, body, len);
    response_done(c);
}

/* 400 "testsrv: why", then close.  Not counted as served. */
static void
bad_request(struct hconn *c, const char *why)
{
    char body[128];
    int  n = snprintf(body, sizeof(body), "testsrv: %s\n", why);

    logv(c->srv, "conn %lu req %lu: bad request: %s", c->id, c->nreq, why);
    c->keep = 0;
    c->head_only = 0;
    reply(c, 400, NULL, body, (size_t) n);
}

/* With -v, the request line on stdout, control bytes shown as '?'. */
static void
log_request_line(const struct hconn *c)
{
    char   line[256];
    size_t n = 0;

    if (!c->srv->verbose)
        return;
    while (n < sizeof(line) - 1 && n < c->head_len && c->head[n] != '\r' && c->head[n] != '\n') {
        unsigned char ch = (unsigned char) c->head[n];

        line[n++] = ch < 0x20 || ch > 0x7e ? '?' : (char) ch;
    }
    line[n] = '\0';
    printf("%s conn %lu req %lu: %s\n", c->srv->name, c->id, c->nreq, line);
}

/* ------------------------------------------------------------------ */
/* Parsing a request head. */

static int
is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* name[0..len) is the field name want, case-insensitively. */
static int
name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* The value of "key=" in query q[0..len) as a decimal number.  1 when found. */
static int
query_u64(const char *q, size_t len, const char *key, uint64_t *v)
{
    size_t klen = strlen(key);

    for (size_t i = 0; i < len;) {
        size_t end = i;

        while (end < len && q[end] != '&')
            end++;
        if (end - i > klen && strncmp(q + i, key, klen) == 0 && q[i + klen] == '=') {
            uint64_t x = 0;
            size_t   j = i + klen + 1;

            if (j == end)
                return 0;
            for (; j < end; j++) {
                if (q[j] < '0' || q[j] > '9' || x > (UINT64_MAX - 9) / 10)
                    return 0;
                x = x * 10 + (uint64_t) (q[j] - '0');
            }
            *v = x;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

/* Comma-separated tokens of a Connection value v[0..len). */
static void
connection_tokens(const char *v, size_t len, int *close, int *keep, int *upgrade)
{
    for (size_t i = 0; i < len;) {
        size_t s, e;

        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < len && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (name_is(v + s, e - s, "close"))
            *close = 1;
        else if (name_is(v + s, e - s, "keep-alive"))
            *keep = 1;
        else if (name_is(v + s, e - s, "upgrade"))
            *upgrade = 1;
    }
}

/* The endpoint and its arguments from the request target t[0..len). */
static int
parse_target(struct hconn *c, const char *t, size_t len, const char **why)
{
    const char *path = t, *q;
    size_t      plen, qlen = 0;

    if (len > 7 && strncasecmp(t, "http://", 7) == 0) {     /* absolute form */
        path = memchr(t + 7, '/', len - 7);
        if (path == NULL)
            path = t + len;
    }
    plen = (size_t) (t + len - path);
    q = memchr(path, '?', plen);
    if (q != NULL) {
        qlen = (size_t) (path + plen - q - 1);
        plen = (size_t) (q - path);
        q++;
    }

    c->ep = EP_NAME;
    if (name_is(path, plen, "/echo-headers")) {
        c->ep = EP_ECHO_HEADERS;
    } else if (name_is(path, plen, "/bytes")) {
        uint64_t flag = 0;

        c->ep = EP_BYTES;
        query_u64(q, qlen, "n", &c->arg_n);
        query_u64(q, qlen, "seed", &c->arg_seed);
        c->arg_chunked = query_u64(q, qlen, "chunked", &flag) && flag != 0;
        flag = 0;
        c->arg_close = query_u64(q, qlen, "close", &flag) && flag != 0;
    } else if (name_is(path, plen, "/sink")) {
        c->ep = EP_SINK;
    } else if (name_is(path, plen, "/status")) {
        c->ep = EP_STATUS;
        c->arg_code = 200;
        query_u64(q, qlen, "code", &c->arg_code);
        if (c->arg_code < 200 || c->arg_code > 999) {
            *why = "/status wants code=200..999";
            return -1;
        }
    } else if (name_is(path, plen, "/sleep")) {
        c->ep = EP_SLEEP;
        query_u64(q, qlen, "ms", &c->arg_ms);
    } else if (name_is(path, plen, "/close")) {
        c->ep = EP_CLOSE;
    } else if (name_is(path, plen, "/reset")) {
        c->ep = EP_RESET;
    } else if (name_is(path, plen, "/garbage")) {
        c->ep = EP_GARBAGE;
    } else if (name_is(path, plen, "/ws")) {
        c->ep = EP_WS;
    } else if (name_is(path, plen, "/count")) {
        c->ep = EP_COUNT;
    }
    return 0;
}

/*
 * Parse c->head: the request line, the fields, the framing.  Returns 0, or
 * -1 with *why saying what is wrong.
 */
static int
parse_request(struct hconn *c, const char **why)
{
    char       *p = c->head, *end = c->head + c->head_len;
    char       *sp1, *sp2, *eol;
    int         hosts = 0, te = 0, cl_seen = 0, conn_close = 0, conn_keep = 0, conn_up = 0;
    int         ws = 0;
    uint64_t    cl = 0;

    /* Every line ends in CRLF and holds no other CR (nor a NUL: strstr below). */
    for (char *s = p; s < end; s++) {
        if (*s == '\0') {
            *why = "NUL in the head";
            return -1;
        }
        if (*s == '\r' && (s + 1 == end || s[1] != '\n')) {
            *why = "bare CR";
            return -1;
        }
        if (*s == '\n' && (s == p || s[-1] != '\r')) {
            *why = "bare LF";
            return -1;
        }
    }

    eol = strstr(p, "\r\n");
    sp1 = memchr(p, ' ', (size_t) (eol - p));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t) (eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == p || sp2 == sp1 + 1
        || memchr(sp2 + 1, ' ', (size_t) (eol - sp2 - 1)) != NULL) {
        *why = "bad request line";
        return -1;
    }
    for (char *s = p; s < sp1; s++) {
        if (!is_tchar((unsigned char) *s)) {
            *why = "bad method";
            return -1;
        }
    }
    if (eol - sp2 - 1 == 8 && strncmp(sp2 + 1, "HTTP/1.1", 8) == 0) {
        c->v10 = 0;
    } else if (eol - sp2 - 1 == 8 && strncmp(sp2 + 1, "HTTP/1.0", 8) == 0) {
        c->v10 = 1;
    } else {
        *why = "unsupported version";
        return -1;
    }
    c->head_only = sp1 - p == 4 && strncmp(p, "HEAD", 4) == 0;
    if (parse_target(c, sp1 + 1, (size_t) (sp2 - sp1 - 1), why) == -1)
        return -1;

    for (p = eol + 2; p < end - 2; p = eol + 2) {
        char  *colon, *v, *ve;
        size_t nlen;

        eol = strstr(p, "\r\n");
        if (*p == ' ' || *p == '\t') {
            *why = "obsolete line folding";
            return -1;
        }
        colon = memchr(p, ':', (size_t) (eol - p));
        if (colon == NULL || colon == p) {
            *why = "field without a name";
            return -1;
        }
        for (char *s = p; s < colon; s++) {
            if (!is_tchar((unsigned char) *s)) {
                *why = "bad field name (whitespace before the colon?)";
                return -1;
            }
        }
        nlen = (size_t) (colon - p);
        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
            ;
        for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
            ;

        if (name_is(p, nlen, "Host")) {
            hosts++;
        } else if (name_is(p, nlen, "Content-Length")) {
            uint64_t x = 0;

            if (v == ve) {
                *why = "empty Content-Length";
                return -1;
            }
            for (char *s = v; s < ve; s++) {
                if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10) {
                    *why = "bad Content-Length";
                    return -1;
                }
                x = x * 10 + (uint64_t) (*s - '0');
            }
            if (cl_seen && x != cl) {
                *why = "differing Content-Lengths";
                return -1;
            }
            cl_seen = 1;
            cl = x;
        } else if (name_is(p, nlen, "Transfer-Encoding")) {
            if (!name_is(v, (size_t) (ve - v), "chunked") || te) {
                *why = "Transfer-Encoding other than one chunked";
                return -1;
            }
            te = 1;
        } else if (name_is(p, nlen, "Connection")) {
            connection_tokens(v, (size_t) (ve - v), &conn_close, &conn_keep, &conn_up);
        } else if (name_is(p, nlen, "Upgrade")) {
            ws = name_is(v, (size_t) (ve - v), "websocket");
        } else if (name_is(p, nlen, "Sec-WebSocket-Key")) {
            c->ws_key = v;
            c->ws_key_len = (size_t) (ve - v);
        } else if (name_is(p, nlen, "Expect")) {
            c->expect = name_is(v, (size_t) (ve - v), "100-continue");
        }
    }

    if (!c->v10 && hosts == 0) {
        *why = "HTTP/1.1 without Host";
        return -1;
    }
    if (hosts > 1) {
        *why = "more than one Host";
        return -1;
    }
    if (te && (cl_seen || c->v10)) {
        *why = cl_seen ? "Content-Length and Transfer-Encoding" : "Transfer-Encoding in HTTP/1.0";
        return -1;
    }
    c->keep = c->v10 ? conn_keep && !conn_close : !conn_close;
    c->upgrade = conn_up && ws;
    c->body = te ? B_CHUNKED : cl > 0 ? B_LENGTH : B_NONE;
    c->left = cl;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Answering. */

/* /ws: the 101 and the switch to echoing frames. */
static void
ws_start(struct hconn *c)
{
    char accept[29];

    if (!c->upgrade || c->ws_key == NULL || c->ws_key_len == 0 || c->ws_key_len > 128) {
        bad_request(c, "/ws wants Connection: upgrade, Upgrade: websocket and a key");
        return;
    }
    c->srv->served++;
    ws_accept_key(c->ws_key, c->ws_key_len, accept);
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                        "X-Server: %s\r\nX-Conn: %lu\r\nX-Req: %lu\r\n\r\n",
                        accept, c->srv->name, c->id, c->nreq);
    free(c->head);
    c->head = NULL;
    c->ws_key = NULL;
    memset(&c->ws, 0, sizeof(c->ws));
    c->state = H_WS;
}

/* /bytes: the head, then SOURCE generates the body. */
static void
bytes_start(struct hconn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int              close_delimited = c->arg_close || (c->arg_chunked && c->v10);

    if (close_delimited)
        c->keep = 0;
    c->out_chunked = c->arg_chunked && !close_delimited;
    resp_start(c, 200);
    if (c->out_chunked)
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
    else if (!close_delimited)
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n", c->arg_n);
    evbuffer_add_printf(out, "Content-Type: application/octet-stream\r\n\r\n");
    if (c->head_only) {
        response_done(c);
        return;
    }
    lbd_td_rng_init(&c->rng, c->arg_seed);
    c->sent = 0;
    c->nchunk = 0;
    c->state = H_SOURCE;
}

/* The request (head and body) is all in: answer it. */
static void
respond(struct hconn *c)
{
    char body[128];
    int  n;

    c->srv->served++;
    switch (c->ep) {
    case EP_NAME:
        n = snprintf(body, sizeof(body), "%s\n", c->srv->name);
        reply(c, 200, NULL, body, (size_t) n);
        break;
    case EP_ECHO_HEADERS:
        reply(c, 200, NULL, c->head, c->head_len);
        break;
    case EP_COUNT:
        n = snprintf(body, sizeof(body), "%lu\n", c->srv->served);
        reply(c, 200, NULL, body, (size_t) n);
        break;
    case EP_STATUS:
        n = snprintf(body, sizeof(body), "status %" PRIu64 "\n", c->arg_code);
        reply(c, (int) c->arg_code, NULL, body, (size_t) n);
        break;
    case EP_SINK:
        n = snprintf(body, sizeof(body), "%" PRIu64 " %016" PRIx64 "\n", c->count, c->hash);
        reply(c, 200, c->body == B_CHUNKED ? "X-Body: chunked\r\n"
                      : c->body == B_LENGTH ? "X-Body: length\r\n" : "X-Body: none\r\n",
              body, (size_t) n);
        break;
    case EP_SLEEP: {
        struct timeval tv = { (time_t) (c->arg_ms / 1000), (suseconds_t) (c->arg_ms % 1000) * 1000 };

        c->state = H_SLEEP;
        evtimer_add(c->timer, &tv);
        break;
    }
    case EP_BYTES:
        bytes_start(c);
        break;
    case EP_CLOSE:
        logv(c->srv, "conn %lu req %lu: closing without a response", c->id, c->nreq);
        conn_drop(c);
        break;
    case EP_RESET: {
        struct linger lg = { 1, 0 };

        logv(c->srv, "conn %lu req %lu: resetting", c->id, c->nreq);
        setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        c->dead = 1;
        break;
    }
    case EP_GARBAGE:
        evbuffer_add_printf(bufferevent_get_output(c->bev), "NOT HTTP AT ALL\r\n\r\n");
        c->keep = 0;
        response_done(c);
        break;
    case EP_WS:     /* ws_start took it at the head */
        break;
    }
}

/* ------------------------------------------------------------------ */
/* The steps of conn_run: each returns 1 when the state moved on, 0 to wait. */

static int
head_step(struct hconn *c)
{
    struct evbuffer    *in = bufferevent_get_input(c->bev);
    size_t              avail = evbuffer_get_length(in);
    struct evbuffer_ptr end;
    const char         *why = NULL;

    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > HIGH_WATER)
        return 0;       /* the write callback resumes */
    if (avail == 0) {
        if (c->eof) {
            conn_finish(c);
            return 1;
        }
        if (!evtimer_pending(c->timer, NULL)) {
            struct timeval tv = { c->srv->idle_ms / 1000, (c->srv->idle_ms % 1000) * 1000 };

            evtimer_add(c->timer, &tv);
        }
        return 0;
    }
    evtimer_del(c->timer);
    if (c->srv->one_request && c->nreq > 0) {
        logv(c->srv, "conn %lu: a second request: closing without a reply", c->id);
        conn_drop(c);
        return 1;
    }

    end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos == -1 ? avail > HEAD_MAX : (size_t) end.pos + 4 > HEAD_MAX) {
        char body[] = "testsrv: request head too large\n";

        c->nreq++;
        c->keep = 0;
        c->head_only = 0;
        reply(c, 431, NULL, body, sizeof(body) - 1);
        return 1;
    }
    if (end.pos == -1) {
        if (c->eof) {
            logv(c->srv, "conn %lu: EOF inside a request head", c->id);
            c->dead = 1;
        }
        return 0;
    }

    /* A new request: reset what the last one left. */
    c->head_len = (size_t) end.pos + 4;
    c->head = malloc(c->head_len + 1);
    if (c->head == NULL) {
        c->dead = 1;
        return 0;
    }
    evbuffer_remove(in, c->head, c->head_len);
    c->head[c->head_len] = '\0';
    c->nreq++;
    c->head_only = c->v10 = c->keep = c->expect = c->upgrade = 0;
    c->ws_key = NULL;
    c->arg_n = c->arg_seed = c->arg_code = c->arg_ms = 0;
    c->arg_chunked = c->arg_close = 0;
    c->chunk = C_SIZE;
    c->count = 0;
    c->hash = LBD_TD_FNV_BASIS;
    log_request_line(c);

    if (parse_request(c, &why) == -1) {
        bad_request(c, why);
        return 1;
    }
    if (c->ep == EP_WS) {
        ws_start(c);
        return 1;
    }
    if (c->expect && c->body != B_NONE)
        evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    c->state = H_BODY;
    return 1;
}

/*
 * A chunk-size line: 1*HEXDIG, then nothing or [BWS] ";" extensions.
 * 0 with *size, or -1.
 */
static int
chunk_size(const char *line, size_t len, uint64_t *size)
{
    uint64_t x = 0;
    size_t   i = 0;

    for (; i < len && isxdigit((unsigned char) line[i]); i++) {
        if (i == 16)
            return -1;
        x = x * 16 + (uint64_t) (isdigit((unsigned char) line[i]) ? line[i] - '0'
                                 : (tolower((unsigned char) line[i]) - 'a' + 10));
    }
    if (i == 0)
        return -1;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < len && line[i] != ';')
        return -1;
    *size = x;
    return 0;
}

/* Walk the chunked body in the input.  1 when it is all in, 0 for more, -1 bad. */
static int
chunked_step(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    for (;;) {
        char   *line, crlf[2];
        size_t  n;
        int     rc;

        switch (c->chunk) {
        case C_SIZE:
        case C_TRAILER:
            line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
            if (line == NULL)
                return evbuffer_get_length(in) > CHUNK_LINE_MAX ? -1 : 0;
            if (n > CHUNK_LINE_MAX) {
                free(line);
                return -1;
            }
            if (c->chunk == C_TRAILER) {
                free(line);
                if (n == 0)
                    return 1;
                continue;
            }
            rc = chunk_size(line, n, &c->left);
            free(line);
            if (rc == -1)
                return -1;
            c->chunk = c->left == 0 ? C_TRAILER : C_DATA;
            break;
        case C_DATA: {
            uint64_t used = sink_feed(in, c->left, &c->hash);

            c->left -= used;
            c->count += used;
            if (c->left > 0)
                return 0;
            c->chunk = C_DATA_END;
            break;
        }
        case C_DATA_END:
            if (evbuffer_get_length(in) < 2)
                return 0;
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n')
                return -1;
            c->chunk = C_SIZE;
            break;
        }
    }
}

static int
body_step(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    int              rc = 1;

    if (c->body == B_LENGTH) {
        uint64_t used = sink_feed(in, c->left, &c->hash);

        c->left -= used;
        c->count += used;
        rc = c->left == 0;
    } else if (c->body == B_CHUNKED) {
        rc = chunked_step(c);
    }
    if (rc == -1) {
        bad_request(c, "bad chunked body");
        return 1;
    }
    if (rc == 0) {
        if (c->eof) {
            logv(c->srv, "conn %lu req %lu: EOF inside the body after %" PRIu64 " bytes",
                 c->id, c->nreq, c->count);
            c->dead = 1;
        }
        return 0;
    }
    respond(c);
    return 1;
}

static int
source_step(struct hconn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    while (c->sent < c->arg_n && evbuffer_get_length(out) < HIGH_WATER) {
        uint64_t n = c->arg_n - c->sent;
        size_t   max = c->out_chunked ? chunk_sizes[c->nchunk++ % (sizeof(chunk_sizes)
                                                                 / sizeof(chunk_sizes[0]))]
                                      : CHUNK;

        if (n > max)
            n = max;
        if (c->out_chunked)
            evbuffer_add_printf(out, "%" PRIx64 "\r\n", n);
        if (source_gen(&c->rng, out, (size_t) n) == -1) {
            c->dead = 1;
            return 0;
        }
        if (c->out_chunked)
            evbuffer_add(out, "\r\n", 2);
        c->sent += n;
    }
    if (c->sent < c->arg_n)
        return 0;       /* the write callback resumes */
    if (c->out_chunked)
        evbuffer_add(out, "0\r\n\r\n", 5);
    response_done(c);
    return 1;
}

static int
ws_step(struct hconn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int              rc = ws_echo_run(&c->ws, bufferevent_get_input(c->bev), out);

    if (rc == WS_CLOSED) {
        conn_finish(c);
        return 1;
    }
    if (rc == WS_ERROR) {
        logv(c->srv, "conn %lu: not a WebSocket frame", c->id);
        c->dead = 1;
        return 0;
    }
    if (c->eof && evbuffer_get_length(out) <= HIGH_WATER) {
        conn_finish(c);     /* what is left of the input is half a frame */
        return 1;
    }
    return 0;
}

/* DROP, FLUSH: once the output is written, close (DROP) or half-close and linger. */
static int
closing_step(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct timeval   tv = { LINGER_SEC, 0 };

    evbuffer_drain(in, evbuffer_get_length(in));
    evtimer_del(c->timer);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return 0;       /* the write callback comes back */
    if (c->state == H_DROP || c->eof) {
        c->dead = 1;
        return 0;
    }
    /* Closing with unread input would reset: the last response could be lost. */
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    c->state = H_LINGER;
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    return 0;
}

static void
conn_run(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    int              moved = 1;

    while (moved && !c->dead) {
        switch (c->state) {
        case H_HEAD:   moved = head_step(c); break;
        case H_BODY:   moved = body_step(c); break;
        case H_SOURCE: moved = source_step(c); break;
        case H_WS:     moved = ws_step(c); break;
        case H_SLEEP:  moved = 0; break;
        case H_DROP:
        case H_FLUSH:  moved = closing_step(c); break;
        case H_LINGER:
            evbuffer_drain(in, evbuffer_get_length(in));
            c->dead = c->eof;
            moved = 0;
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Callbacks. */

/* Input came, or the output drained to LOW_WATER or below: run the connection on. */
static void
on_io(struct bufferevent *bev, void *arg)
{
    struct hconn *c = arg;

    conn_run(c);
    if (c->dead)
        conn_free(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    struct hconn *c = arg;

    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        logv(c->srv, "conn %lu: %s", c->id,
             (what & BEV_EVENT_TIMEOUT) ? "linger timeout"
                                         : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_free(c);
        return;
    }
    if (!(what & BEV_EVENT_EOF))
        return;
    c->eof = 1;
    conn_run(c);
    if (c->dead)
        conn_free(c);
}

/* H_SLEEP: the sleep is over.  H_HEAD: the connection was idle for -k. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct hconn *c = arg;

    if (c->state == H_SLEEP) {
        char body[64];
        int  n = snprintf(body, sizeof(body), "slept %" PRIu64 " ms\n", c->arg_ms);

        reply(c, 200, NULL, body, (size_t) n);
        conn_run(c);
    } else if (c->state == H_HEAD && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
        struct timeval tv = { c->srv->idle_ms / 1000, (c->srv->idle_ms % 1000) * 1000 };

        if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
            evtimer_add(c->timer, &tv);     /* still answering: not idle */
        } else {
            logv(c->srv, "conn %lu: idle for %d ms, closing", c->id, c->srv->idle_ms);
            c->dead = 1;
        }
    }
    if (c->dead)
        conn_free(c);
}

void
http_conn_start(struct srv *s, struct bufferevent *bev, unsigned long id)
{
    struct hconn *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->timer = evtimer_new(s->base, on_timer, c)) == NULL) {
        free(c);
        bufferevent_free(bev);
        return;
    }
    c->srv = s;
    c->bev = bev;
    c->id = id;
    c->state = H_HEAD;
    logv(s, "conn %lu accepted", id);
    bufferevent_setcb(bev, on_io, on_io, on_event, c);
    bufferevent_setwatermark(bev, EV_READ, 0, READ_MAX);
    bufferevent_setwatermark(bev, EV_WRITE, LOW_WATER, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    conn_run(c);        /* arms the idle timer */
}
