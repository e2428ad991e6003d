/*
 * lbd_http.h - layer 7: the HTTP/1.x data path of a worker (lbd_http.c: the
 * client side and the request's life; lbd_http_up.c: connections to
 * backends and their idle pools; lbd_http_msg.c: heads rewritten, lbd's own
 * responses, routing, sticky sessions).
 *
 * Three objects, sized so that what waits costs little:
 *
 *   struct lbd_hclient  one client connection.  Idle between requests it
 *                       holds no buffer and no request: its events, its
 *                       address and a few counters.
 *   struct lbd_htxn     one request in flight, from its head's last byte to
 *                       its response's last byte written to the client.
 *   struct lbd_hup      one connection to a backend: serving a request, or
 *                       idle in its backend's pool, ready for the next.
 *
 * Bytes and where they wait (every buffer proxy_buffer_size, from the
 * worker's free list, only while non-empty):
 *
 *   client --> c->in ---------------------------> backend   request body
 *                 (head parsed in place)           ^
 *              t->hout (the rewritten head) -------'
 *   backend --> c->rbuf --------------------------> client  response body
 *              c->out (rewritten heads, lbd's own) -'       written first
 *
 * Every byte forwarded was first validated by the parser; a body's framing
 * is walked as it arrives, so the bytes of the next pipelined request are
 * never sent with this one's body.
 */
#ifndef LBD_HTTP_H
#define LBD_HTTP_H

#include <event2/event.h>
#include <event2/event_struct.h>

#include "lbd_buf.h"
#include "lbd_http_parse.h"
#include "lbd_peer.h"
#include "lbd_stats.h"
#include "lbd_worker.h"

union lbd_http_sockaddr {
    struct sockaddr     sa;
    struct sockaddr_in  in;
    struct sockaddr_in6 in6;
};

struct lbd_hup;
struct lbd_htxn;

struct lbd_hclient {
    struct lbd_hclient *prev, *next;     /* the worker's clients */
    struct lbd_service *svc;
    int                 fd;
    unsigned            reading:1;
    unsigned            writing:1;
    unsigned            eof:1;           /* read EOF from the client */
    unsigned            closing:1;       /* close once out and rbuf are written */
    unsigned            shut:1;          /* shutdown(SHUT_WR) done */
    unsigned            lingering:1;     /* answered and shut: draining the client's bytes */
    unsigned            rbulk:1;         /* the backend's reads fill whole buffers and
                                            the client takes them: rbuf a bulk one */
    struct event        ev;              /* reading, writing or both (reading, writing) */
    struct lbd_tnode    timer;           /* header, body, keepalive or linger timeout */
    struct lbd_buf     *in;              /* read from the client, not yet forwarded */
    struct lbd_buf     *out;             /* heads and lbd's responses for the client */
    struct lbd_buf     *rbuf;            /* the response body, read from the backend */
    uint32_t            rready;          /* rbuf: [start, rready) may go to the client */
    unsigned            requests;        /* served on this connection */
    struct lbd_htxn    *txn;             /* the request in flight, or NULL */
    int64_t             last_ms;         /* last progress, loop time */
    int64_t             head_ms;         /* first byte of the current head, or 0 */
    uint32_t            scanned;         /* lbd_http_head_end's cursor in `in` */
    socklen_t           addrlen;
    union lbd_http_sockaddr addr;
};

struct lbd_htxn {
    struct lbd_htxn     *next_free;      /* the worker's free list */
    struct lbd_hclient  *c;
    struct lbd_snapshot *snap;           /* holds pool and peer alive */
    struct lbd_pool     *pool;
    struct lbd_peer     *peer;           /* held: counts against it; NULL when none */
    const char          *backend;        /* the last peer's address text (the log) */
    struct lbd_hup      *up;             /* serving this request, or NULL */
    struct lbd_buf      *hout;           /* the head for the backend, kept for a retry
                                            until the backend answers */
    uint32_t             hout_sent;

    /* The request. */
    enum lbd_http_method method;
    int                  version;        /* 10 or 11 */
    enum lbd_http_body   req_body;
    uint64_t             req_left;       /* LENGTH: bytes still to come */
    struct lbd_http_chunked req_chunked;
    uint32_t             req_fwd;        /* c->in: validated body bytes end here */
    uint32_t             req_sent;       /* c->in: bytes sent to the backend end here */
    unsigned             req_done:1;     /* the whole body is in c->in or sent */
    unsigned             retryable:1;    /* every byte sent is still held */
    unsigned             client_close:1; /* the client asked for close (or 1.0) */
    unsigned             upgrade:1;      /* asked to upgrade */
    unsigned             tunnel:1;       /* 101 passed: bytes both ways, raw */
    unsigned             on_backup:1;
    unsigned             trial:1;        /* the peer's half-open trial */
    unsigned             fresh:1;        /* the next connection must be a new one */
    unsigned             set_cookie:1;   /* the response gets the sticky cookie */
    unsigned             responded:1;    /* a response head went to the client */
    unsigned             keep:1;         /* the client connection stays open after */
    unsigned             got_bytes:1;    /* the backend sent something */

    /* The response. */
    size_t               rscanned;       /* head_end cursor in c->rbuf */
    int                  status;
    enum lbd_http_body   resp_body;
    uint64_t             resp_left;
    struct lbd_http_chunked resp_chunked;
    unsigned             resp_head:1;    /* the final head came */
    unsigned             resp_done:1;    /* the whole response is in c->rbuf or sent */
    unsigned             dechunk:1;      /* strip chunked framing (an HTTP/1.0 client) */
    unsigned             up_reuse:1;     /* the backend connection may serve another */

    /* Choosing a backend. */
    uint64_t             key;            /* hash strategies: IP, header or cookie */
    uint64_t             sticky;         /* the sticky cookie's backend id, 0: none */
    struct lbd_tried     tried;
    unsigned             ntried;

    /* For the access log and the counters. */
    int64_t              start_us;       /* head's first byte, CLOCK_MONOTONIC */
    int64_t              sent_us;        /* head handed to a backend, or 0 */
    struct lbd_shm_stats *bstats;        /* its backend's counters, or NULL */
    struct timeval       start_tv;       /* wall clock, for the log */
    uint64_t             bytes_in, bytes_out;
    char                *logstr;         /* method, target, referer, user agent */
    uint16_t             log_method, log_target, log_referer, log_ua;
};

struct lbd_hup {
    struct lbd_hup     *prev, *next;     /* its slot's idle list */
    struct lbd_worker  *w;
    int                 fd;
    struct event        rev, wev, timer;
    int                 slot;            /* the backend's shm slot */
    uint64_t            id;              /* its peer's key (the address, hashed) */
    struct lbd_htxn    *txn;             /* NULL while idle */
    unsigned            connected:1;
    unsigned            reused:1;        /* served a request before this one */
    unsigned            reading:1;
    unsigned            writing:1;
    unsigned            shut:1;          /* shutdown(SHUT_WR) done (tunnel) */
    unsigned            eof:1;
    int64_t             last_ms;         /* last byte either way, loop time */
    int64_t             due_ms;          /* the current timeout's deadline, loop time */
    int64_t             armed_ms;        /* the timer fires then (0: not armed) */
    int64_t             connect_us;      /* when its connect started (strategies' latency) */
};

/* A worker's idle backend connections, one list per shm backend slot. */
struct lbd_hidle {
    struct lbd_hup *head;
    unsigned        n;
};

/* --- lbd_http.c --- */

/* The request on t ended badly before a response head was sent: answer status. */
void lbd_http_fail(struct lbd_htxn *t, int status, const char *why);

/* The backend connection of t is readable: read into c->rbuf, parse, forward. */
void lbd_http_backend_readable(struct lbd_htxn *t);

/* The backend connection ended (EOF or error err, 0 for EOF). */
void lbd_http_backend_gone(struct lbd_htxn *t, int err);

/*
 * The backend may take more bytes: send what is ready.  0, or -1 when the
 * request (and maybe its client) ended meanwhile: touch neither.
 */
int lbd_http_backend_writable(struct lbd_htxn *t);

/* The backend connection is up (fresh connect or idle one reused). */
void lbd_http_backend_ready(struct lbd_htxn *t);

/* Loop time in ms. */
int64_t lbd_http_loop_ms(struct lbd_worker *w);

/* --- lbd_http_up.c --- */

/*
 * Pick a backend for t and get a connection to it: an idle one from the
 * pool, or a new connect.  Tries further peers after connect failures, up
 * to the pool's retries, then its backup pool.  On success the connection
 * calls lbd_http_backend_ready (maybe later); on failure t is answered
 * (502/503) through lbd_http_fail.  Worker loop.
 */
void lbd_http_connect(struct lbd_htxn *t);

/*
 * The connection of t to its peer failed before any byte of a response:
 * a reused one (the backend closed it as the request came) is replaced by a
 * fresh connection to the same peer; otherwise, when the request may be sent
 * again (idempotent, every byte still held), another peer is tried.  err is
 * the errno (0: EOF).  Answers 502 when neither applies.  Worker loop.
 */
void lbd_http_retry(struct lbd_htxn *t, int err);

/*
 * The backend of t failed it after connecting (a malformed response, a
 * reset mid-response): a failure for passive ejection, as a refused
 * connect is.  Worker loop.
 */
void lbd_http_peer_failed(struct lbd_htxn *t, enum lbd_stat kind);

/* Start or stop reading or writing on up (events).  */
void lbd_http_up_read(struct lbd_hup *up, int on);
void lbd_http_up_write(struct lbd_hup *up, int on);

/*
 * t is done with its backend connection: to the idle pool when reuse is
 * set and the pool keeps connections, else closed.  Counts the request's
 * outcome for the peer.  Worker loop.
 */
void lbd_http_up_release(struct lbd_htxn *t, int reuse);

/* Arm up's timer for ms. */
void lbd_http_up_timer(struct lbd_hup *up, int ms);

/* Close every idle backend connection (graceful stop, exit). */
void lbd_http_idle_close_all(struct lbd_worker *w);

/* --- lbd_http_msg.c --- */

/*
 * Write the request head for the backend into t->hout from the parsed head
 * h over buf.  0, or -1 when it does not fit (431).
 */
int lbd_http_request_head(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf);

/*
 * Append the response head for the client to c->out from the backend's
 * head h over buf.  0, or -1 when it does not fit (502).
 */
int lbd_http_response_head(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf);

/*
 * Append lbd's own response status (a short text/plain body with why) to
 * c->out, with Connection: close when close is set.  0 or -1.
 */
int lbd_http_error_response(struct lbd_hclient *c, int status, const char *why, int close);

/*
 * The snapshot pool for request h over buf on service svc: the routes'
 * longest matching prefix, else the service's pool.  -1 when the registry
 * lacks it.
 */
int lbd_http_route(const struct lbd_snapshot *snap, const struct lbd_service *svc,
                   const struct lbd_http_head *h, const char *buf);

/* Fill t->key and t->sticky from the request as the pool's settings say. */
void lbd_http_keys(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf);

/* Keep copies of what the access log prints of the request.  0 or -1. */
int lbd_http_log_keep(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf);

/*
 * t is over: count it (requests, its status class, its total time) and
 * write its access log line, when its service logs.  Once per request.
 */
void lbd_http_log(struct lbd_htxn *t);

#endif /* LBD_HTTP_H */
