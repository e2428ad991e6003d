/*
 * lbd_testsrv.h - what the parts of lbd-testsrv share: the server's state,
 * the byte stream and checksum helpers of SOURCE and SINK, the HTTP mode's
 * entry (lbd_testsrv_http.c) and the WebSocket pieces (lbd_testsrv_ws.c).
 *
 * One process, one event loop: nothing here is thread-safe or needs to be.
 */
#ifndef LBD_TESTSRV_H
#define LBD_TESTSRV_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "lbd_testdata.h"

#define HIGH_WATER  (256 * 1024)    /* stop reading / generating above this */
#define LOW_WATER   (64 * 1024)     /* write callback fires at or below this */
#define CHUNK       (64 * 1024)     /* SOURCE generates this much at a time */
#define LINGER_SEC  10

struct srv {
    struct event_base     *base;
    struct evconnlistener *listener;
    const struct addrinfo *ai;          /* where we listen: -g connects its plug there */
    int                    plug;        /* -g: the plug's client socket, -1: gate open */
    const char            *name;
    int                    banner;
    int                    http_status; /* -H: the status every request gets, or 0 */
    int                    http;        /* -h: HTTP/1.1 server */
    int                    one_request; /* -1: a second request on a connection closes it */
    int                    idle_ms;     /* -k: close a connection idle this long */
    int                    verbose;
    unsigned long          next_id;     /* connections accepted so far */
    unsigned long          served;      /* -h: requests received whole and answered */
};

/* With -v: "lbd-testsrv[PID]: " and the message on stderr. */
void logv(const struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * SINK's checksum: fold up to max bytes of in into the FNV-1a 64 *hash and
 * drain them.  Returns how many bytes it took.
 */
uint64_t sink_feed(struct evbuffer *in, uint64_t max, uint64_t *hash);

/* SOURCE's generator: append the next n bytes of r's stream to out.  0 or -1. */
int source_gen(struct lbd_td_rng *r, struct evbuffer *out, size_t n);

/*
 * -h: serve HTTP/1.1 on a connection just accepted (id: its serial number).
 * Takes bev; frees it when the connection ends.
 */
void http_conn_start(struct srv *s, struct bufferevent *bev, unsigned long id);

/* --- WebSocket (RFC 6455) --- */

/* Sec-WebSocket-Accept for key[0..len): base64(SHA-1(key GUID)), NUL-terminated. */
void ws_accept_key(const char *key, size_t len, char out[29]);

/* The echo of one connection's frames. */
struct ws_echo {
    int      in_data;      /* streaming a data frame's payload */
    uint8_t  mask[4];
    int      masked;
    uint64_t left;         /* payload bytes of the current frame still to come */
    uint64_t off;          /* payload bytes of it done (the mask's phase) */
};

#define WS_MORE     0       /* wants more input (or room in out) */
#define WS_CLOSED   1       /* a close frame came and was answered */
#define WS_ERROR   -1       /* not a WebSocket frame stream */

/*
 * Echo the client frames in `in` to `out` as server frames (same opcode
 * and FIN, unmasked), answering a ping with a pong and a close with a
 * close.  Data frames stream, so a frame may be of any size; stops while
 * out holds more than HIGH_WATER.  Returns WS_MORE, WS_CLOSED or WS_ERROR.
 */
int ws_echo_run(struct ws_echo *w, struct evbuffer *in, struct evbuffer *out);

#endif /* LBD_TESTSRV_H */
