/*
 * lbd_http.c - layer 7, the client side: a client connection, its requests
 * one after the other, and the life of each request from its head to the
 * last byte of its response (lbd_http.h draws the buffers).
 *
 * A request's life:
 *   1. bytes arrive in c->in; lbd_http_head_end() finds the head's end
 *      (resuming its scan: a trickled head costs O(n)); header_timeout runs
 *      from the first byte (408), the head may not outgrow max_header_size
 *      (431);
 *   2. the head is parsed whole and refused at the first doubt (400, 501,
 *      505); a pool is chosen by the service's routes, a backend by the
 *      pool's strategy (or the sticky cookie), and the head for the backend
 *      is written to t->hout;
 *   3. the body's framing is walked as bytes arrive (req_scan): only bytes
 *      known to belong to this request's body are sent, so a bad chunk size
 *      stops the body where it went wrong and the next pipelined request
 *      waits in c->in;
 *   4. the response head is parsed and rewritten into c->out, its body is
 *      walked the same way (and de-chunked for an HTTP/1.0 client) and
 *      written from c->rbuf; when it is all in, the backend connection goes
 *      back to its idle pool, and when it is all written the next request
 *      (maybe already in c->in) starts.
 *
 * Nothing here blocks: every socket is non-blocking, every wait is an event
 * or a timer, and a client that stalls holds at most its buffers.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "lbd_http.h"
#include "lbd_log.h"
#include "lbd_shm.h"

/* Requests kept on a worker's free list at most; the rest go back to malloc. */
#define LBD_HTTP_FREE_TXNS 1024

/* How long a client may keep sending after lbd answered and closed: lingering. */
#define LBD_HTTP_LINGER_MS 2000

static void client_close(struct lbd_hclient *c);
static void client_flush(struct lbd_hclient *c);
static void client_parse(struct lbd_hclient *c);
static void txn_finish(struct lbd_htxn *t);
static void resp_advance(struct lbd_htxn *t);

int64_t
lbd_http_loop_ms(struct lbd_worker *w)
{
    struct timeval tv;

    event_base_gettimeofday_cached(w->base, &tv);
    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const struct lbd_http_conf *
hconf(const struct lbd_hclient *c)
{
    return &c->svc->conf->http;
}

static struct lbd_worker *
cworker(const struct lbd_hclient *c)
{
    return c->svc->worker;
}

static uint32_t
bufcap(const struct lbd_hclient *c)
{
    return (uint32_t) cworker(c)->cycle->conf->proxy_buffer_size;
}

static void on_client_event(evutil_socket_t fd, short what, void *arg);
static void on_client_timer(struct lbd_tnode *n);

/*
 * One event per client for both directions (a struct event is 128 bytes,
 * and an idle client should cost little): reading is on for nearly all of
 * its life, writing only while the socket is full.  A change is an
 * event_del and an event_add in the same loop turn, which the epoll
 * changelist makes one epoll_ctl.
 */
static void
client_watch(struct lbd_hclient *c, unsigned reading, unsigned writing)
{
    short want = (short) ((reading ? EV_READ : 0) | (writing ? EV_WRITE : 0));

    if (reading == c->reading && writing == c->writing)
        return;
    if (c->reading || c->writing)
        event_del(&c->ev);
    c->reading = reading;
    c->writing = writing;
    if (want != 0) {
        event_assign(&c->ev, cworker(c)->base, c->fd, want | EV_PERSIST, on_client_event, c);
        event_add(&c->ev, NULL);
    }
}

static void
client_read(struct lbd_hclient *c, int on)
{
    client_watch(c, on ? 1 : 0, c->writing);
}

static void
client_write(struct lbd_hclient *c, int on)
{
    client_watch(c, c->reading, on ? 1 : 0);
}

/* c's timeout, ms from now (its list is ms's: lbd_timer.h). */
static void
client_timer(struct lbd_hclient *c, int ms)
{
    lbd_timer_set(&cworker(c)->timers, &c->timer, ms, on_client_timer);
}

/* c's timeout of ms, running since `since` (loop time, lbd_http_loop_ms). */
static void
client_timer_since(struct lbd_hclient *c, int64_t since, int ms)
{
    lbd_timer_set_in(&cworker(c)->timers, &c->timer,
                     (int) (since + ms - lbd_http_loop_ms(cworker(c))), ms, on_client_timer);
}

/* c->in back to the free list when it holds nothing (offsets restart at 0). */
static void
in_release(struct lbd_hclient *c)
{
    if (c->in == NULL || c->in->start != c->in->end)
        return;
    lbd_buf_put(cworker(c), c->in);
    c->in = NULL;
    c->scanned = 0;
    if (c->txn != NULL)
        c->txn->req_fwd = c->txn->req_sent = 0;
}

/*
 * Make room at the end of c->in by moving what must be kept to the front.
 * Bytes sent to the backend but kept for a retry are given up when the
 * buffer is full (a body larger than a buffer cannot be sent twice).
 * Returns the room left.
 */
static uint32_t
in_room(struct lbd_hclient *c)
{
    struct lbd_buf  *in = c->in;
    struct lbd_htxn *t = c->txn;
    uint32_t         cap = bufcap(c), shift;

    if (in == NULL)
        return cap;
    if (in->end < cap)
        return cap - in->end;
    if (t != NULL && in->start < t->req_sent) {
        in->start = t->req_sent;
        t->retryable = 0;
    }
    shift = in->start;
    if (shift == 0)
        return 0;
    memmove(in->data, in->data + shift, in->end - shift);
    in->start = 0;
    in->end -= shift;
    if (t != NULL) {
        t->req_fwd -= shift;
        t->req_sent -= shift;
    }
    return cap - in->end;
}

/* Read from the client while there is room and nothing says stop. */
static void
client_update_read(struct lbd_hclient *c)
{
    int on = !c->eof && !c->closing;

    if (on && c->in != NULL && c->in->end == bufcap(c) && in_room(c) == 0)
        on = 0;
    client_read(c, on);
}

/* --- requests --- */

static struct lbd_htxn *
txn_new(struct lbd_hclient *c)
{
    struct lbd_worker *w = cworker(c);
    struct lbd_htxn   *t = w->free_txns;

    /* From the worker's free list: no allocation per request once warm. */
    if (t != NULL) {
        w->free_txns = t->next_free;
        w->nfree_txns--;
        memset(t, 0, sizeof(*t));
    } else if ((t = calloc(1, sizeof(*t))) == NULL) {
        lbd_log_err(LBD_LOG_ERROR, ENOMEM, "no memory for a request");
        return NULL;
    }
    t->c = c;
    t->start_us = lbd_stats_now_us();
    gettimeofday(&t->start_tv, NULL);
    t->version = 11;
    c->txn = t;
    return t;
}

static void
txn_free(struct lbd_htxn *t)
{
    struct lbd_worker *w = cworker(t->c);

    if (t->peer != NULL || t->up != NULL)
        lbd_http_up_release(t, 0);
    if (t->hout != NULL)
        lbd_buf_put(w, t->hout);
    lbd_tried_free(&t->tried);
    free(t->logstr);
    lbd_snapshot_unref(t->snap);
    if (t->c->txn == t)
        t->c->txn = NULL;
    if (w->nfree_txns >= LBD_HTTP_FREE_TXNS) {
        free(t);
        return;
    }
    t->next_free = w->free_txns;
    w->free_txns = t;
    w->nfree_txns++;
}

/* The client connection ends now: nothing more can be said to it. */
static void
client_abort(struct lbd_hclient *c)
{
    struct lbd_htxn *t = c->txn;

    if (t != NULL) {
        if (t->up != NULL)
            lbd_http_up_release(t, 0);
        if (t->status == 0)
            t->status = 499;          /* nginx's "client closed request" */
        lbd_http_log(t);
        txn_free(t);
    }
    c->closing = 0;                   /* no lingering: this is an abort */
    client_close(c);
}

void
lbd_http_fail(struct lbd_htxn *t, int status, const char *why)
{
    struct lbd_hclient *c = t->c;
    int                 close;

    if (t->up != NULL)
        lbd_http_up_release(t, 0);
    if (t->responded) {
        /* The head is out: a broken body can only be told by closing. */
        lbd_log(LBD_LOG_INFO, "service \"%s\": response cut short: %s", c->svc->conf->name, why);
        client_abort(c);
        return;
    }
    /* Whatever the backend sent is not for the client. */
    if (c->rbuf != NULL) {
        lbd_buf_put(cworker(c), c->rbuf);
        c->rbuf = NULL;
        c->rready = 0;
    }
    close = status == 400 || status == 408 || status == 431 || status == 501 || status == 505
            || !t->req_done || t->client_close || t->upgrade || cworker(c)->shutting_down;
    t->status = status;
    t->responded = 1;
    t->resp_head = 1;
    t->resp_done = 1;
    t->keep = !close;
    if (lbd_http_error_response(c, status, why, close) == -1) {
        client_abort(c);
        return;
    }
    if (close)
        c->closing = 1;
    client_flush(c);
}

/* Walk the request body's framing over the bytes c->in holds. */
static int
req_scan(struct lbd_htxn *t)
{
    struct lbd_buf *in = t->c->in;

    if (t->req_done || in == NULL)
        return 0;
    if (t->tunnel) {
        t->req_fwd = in->end;
        return 0;
    }
    switch (t->req_body) {
    case LBD_BODY_LENGTH: {
        uint64_t n = in->end - t->req_fwd;

        if (n > t->req_left)
            n = t->req_left;
        t->req_fwd += (uint32_t) n;
        t->req_left -= n;
        if (t->req_left == 0)
            t->req_done = 1;
        break;
    }
    case LBD_BODY_CHUNKED:
        while (t->req_fwd < in->end) {
            size_t used;
            int    is_data;
            int    rc = lbd_http_chunked_next(&t->req_chunked, in->data + t->req_fwd,
                                              in->end - t->req_fwd, &used, &is_data);

            if (rc == LBD_HTTP_BAD) {
                /* What came before the bad run was valid and may be out; the
                 * backend never gets a complete request (its connection goes). */
                t->retryable = 0;
                lbd_http_fail(t, 400, "the request's chunked body is malformed");
                return -1;
            }
            t->req_fwd += (uint32_t) used;
            if (rc == LBD_HTTP_DONE) {
                t->req_done = 1;
                break;
            }
            if (used == 0)
                break;
        }
        break;
    default:
        t->req_done = 1;
        break;
    }
    return 0;
}

/* Send the backend what is ready: the head (again, after a retry), then the body. */
int
lbd_http_backend_writable(struct lbd_htxn *t)
{
    struct lbd_hup     *up = t->up;
    struct lbd_hclient *c = t->c;
    struct iovec        iov[2];
    int                 n = 0;
    ssize_t             w;

    if (up == NULL || !up->connected)
        return 0;
    if (t->hout != NULL && t->hout_sent < t->hout->end) {
        iov[n].iov_base = t->hout->data + t->hout_sent;
        iov[n++].iov_len = t->hout->end - t->hout_sent;
    }
    if (c->in != NULL && t->req_sent < t->req_fwd) {
        iov[n].iov_base = c->in->data + t->req_sent;
        iov[n++].iov_len = t->req_fwd - t->req_sent;
    }
    if (n == 0) {
        lbd_http_up_write(up, 0);
        client_update_read(c);
        return 0;
    }
    do {
        w = writev(up->fd, iov, n);
    } while (w == -1 && errno == EINTR);
    if (w == -1) {
        if (errno == EAGAIN) {
            lbd_http_up_write(up, 1);
            return 0;
        }
        lbd_http_backend_gone(t, errno);
        return -1;
    }
    up->last_ms = lbd_http_loop_ms(up->w);
    lbd_stats_add(t->bstats, LBD_STAT_BYTES_OUT, (uint64_t) w);
    if (t->hout != NULL && t->hout_sent < t->hout->end) {
        uint32_t h = t->hout->end - t->hout_sent;

        if ((size_t) w < h) {
            t->hout_sent += (uint32_t) w;
            lbd_http_up_write(up, 1);
            return 0;
        }
        t->hout_sent = t->hout->end;
        w -= h;
        if (t->sent_us == 0)
            t->sent_us = lbd_stats_now_us();
    }
    t->req_sent += (uint32_t) w;
    if (t->tunnel && c->eof && c->in != NULL && t->req_sent == c->in->end && !up->shut) {
        up->shut = 1;
        shutdown(up->fd, SHUT_WR);
    }
    if (!t->retryable && c->in != NULL) {
        /* Nothing to keep for a retry: the room goes back to the client. */
        c->in->start = t->req_sent;
        if (t->req_sent == c->in->end)
            in_release(c);
    }
    lbd_http_up_write(up, c->in != NULL && t->req_sent < t->req_fwd);
    client_update_read(c);
    return 0;
}

void
lbd_http_backend_ready(struct lbd_htxn *t)
{
    lbd_http_up_read(t->up, 1);
    lbd_http_up_timer(t->up, hconf(t->c)->response_timeout);
    lbd_http_backend_writable(t);
}

/* The head is in c->in[start, start + hl): start a request for it. */
static void
request_start(struct lbd_hclient *c, struct lbd_htxn *t, size_t hl)
{
    struct lbd_worker       *w = cworker(c);
    struct lbd_http_head    *h = w->hhead;
    const char              *buf = c->in->data + c->in->start;
    int                      rc, pool;

    h->version = 0;
    h->method.len = h->target.len = 0;
    h->nheaders = 0;
    rc = lbd_http_parse_request(buf, hl, h);
    if (rc != LBD_HTTP_DONE) {
        /* What was parsed before the fault still tells the log which request it was. */
        t->version = h->version == 10 || h->version == 11 ? h->version : 0;
        t->bytes_in += hl;
        if (c->svc->conf->http.access_log != NULL && h->method.len > 0 && h->target.len > 0)
            lbd_http_log_keep(t, h, buf);
        c->in->start = c->in->end;    /* nothing after a bad head can be trusted */
        lbd_http_fail(t, rc == LBD_HTTP_TOO_LARGE ? 431 : rc == LBD_HTTP_BAD_VERSION ? 505
                      : rc == LBD_HTTP_NOT_IMPL ? 501 : 400,
                      rc == LBD_HTTP_TOO_LARGE ? "the request has too many header fields"
                      : rc == LBD_HTTP_BAD_VERSION ? "only HTTP/1.0 and HTTP/1.1 are served"
                      : rc == LBD_HTTP_NOT_IMPL ? "the transfer coding is not supported"
                      : "the request is malformed");
        return;
    }
    t->method = h->method_id;
    t->version = h->version;
    t->client_close = h->conn_close;
    t->upgrade = h->upgrade;
    t->bytes_in += hl;
    if (c->svc->conf->http.access_log != NULL)
        lbd_http_log_keep(t, h, buf);
    if (h->method_id == LBD_METHOD_CONNECT) {
        c->in->start = c->in->end;
        lbd_http_fail(t, 405, "CONNECT is not served here");
        return;
    }

    t->req_body = h->body;
    if (h->body == LBD_BODY_LENGTH)
        t->req_left = (uint64_t) h->content_length;
    else if (h->body == LBD_BODY_CHUNKED)
        lbd_http_chunked_init(&t->req_chunked);

    lbd_worker_refresh(w);
    pool = lbd_http_route(w->snap, c->svc, h, buf);
    t->snap = w->snap;
    lbd_snapshot_ref(t->snap);
    if (pool < 0) {
        c->in->start = c->in->end;
        lbd_http_fail(t, 503, "the service's pool is not in the registry");
        return;
    }
    t->pool = &t->snap->pools[pool];
    lbd_http_keys(t, h, buf);

    if ((t->hout = lbd_buf_get(w)) == NULL) {
        client_abort(c);
        return;
    }
    if (lbd_http_request_head(t, h, buf) == -1) {
        c->in->start = c->in->end;
        lbd_http_fail(t, 431, "the request head is too large");
        return;
    }
    /* The head is copied out: its bytes in c->in are done with. */
    c->in->start += (uint32_t) hl;
    c->scanned = 0;
    c->head_ms = 0;
    t->req_fwd = t->req_sent = c->in->start;
    t->retryable = 1;
    if (t->req_body == LBD_BODY_NONE)
        t->req_done = 1;
    if (req_scan(t) == -1)
        return;
    if (c->in->start == c->in->end)
        in_release(c);
    client_timer(c, hconf(c)->body_timeout);
    lbd_http_connect(t);
}

/* No request in flight: is there a head in c->in? */
static void
client_parse(struct lbd_hclient *c)
{
    struct lbd_buf  *in = c->in;
    struct lbd_htxn *t;
    size_t           len, hl;

    if (c->txn != NULL || in == NULL || in->start == in->end || c->closing)
        return;
    len = in->end - in->start;
    {
        size_t scanned = c->scanned;   /* under a buffer: 32 bits hold it */

        hl = lbd_http_head_end(in->data + in->start, len, &scanned);
        c->scanned = (uint32_t) scanned;
    }
    if (hl == 0 && len < hconf(c)->max_header_size) {
        if (c->head_ms == 0) {
            /* The first byte of a head: header_timeout runs from here. */
            c->head_ms = lbd_http_loop_ms(cworker(c));
            client_timer(c, hconf(c)->header_timeout);
        }
        client_update_read(c);
        return;
    }
    if ((t = txn_new(c)) == NULL) {
        client_close(c);
        return;
    }
    if (hl == 0 || hl > hconf(c)->max_header_size) {
        t->version = 0;
        t->bytes_in = len;
        in->start = in->end;
        lbd_http_fail(t, 431, "the request head is larger than the limit");
        return;
    }
    request_start(c, t, hl);
}

/* The client's EOF. */
static void
client_eof(struct lbd_hclient *c)
{
    struct lbd_htxn *t = c->txn;

    c->eof = 1;
    client_read(c, 0);
    if (t == NULL) {
        /* Between requests, or within a head: the client is gone. */
        client_close(c);
        return;
    }
    if (t->tunnel) {
        /* Half-close: the backend learns once everything before it is sent. */
        if (t->up != NULL && (c->in == NULL || t->req_sent == c->in->end)) {
            t->up->shut = 1;
            shutdown(t->up->fd, SHUT_WR);
        }
        if (t->up == NULL || t->up->eof)
            client_abort(c);
        return;
    }
    if (!t->req_done) {
        /* The request body ended early: the backend must not take it whole. */
        lbd_log(LBD_LOG_INFO, "service \"%s\": the client closed before its request body ended",
                c->svc->conf->name);
        client_abort(c);
        return;
    }
    /* A client that half-closes after its request still gets the response. */
    t->keep = 0;
}

static void
client_readable(struct lbd_hclient *c)
{
    int                 fd = c->fd;
    struct lbd_worker  *w = cworker(c);
    struct lbd_htxn    *t = c->txn;
    uint32_t            room;
    ssize_t             n;

    if (c->in == NULL && (c->in = lbd_buf_get(w)) == NULL) {
        lbd_log_err(LBD_LOG_ERROR, ENOMEM, "no buffer for a client");
        client_abort(c);
        return;
    }
    if ((room = in_room(c)) == 0) {
        client_read(c, 0);
        return;
    }
    do {
        n = recv(fd, c->in->data + c->in->end, room, 0);
    } while (n == -1 && errno == EINTR);
    if (n > 0) {
        c->in->end += (uint32_t) n;
        c->last_ms = lbd_http_loop_ms(w);
        lbd_stats_add(lbd_stats_self, LBD_STAT_BYTES_IN, (uint64_t) n);
        if (t == NULL) {
            client_parse(c);
            return;
        }
        t->bytes_in += (uint64_t) n;
        if (req_scan(t) == -1)
            return;
        if (t->up != NULL && t->up->connected)
            lbd_http_backend_writable(t);   /* reads on or off as room says */
        else
            client_update_read(c);
        return;
    }
    in_release(c);
    if (n == -1 && errno == EAGAIN)
        return;
    if (n == 0) {
        client_eof(c);
        return;
    }
    lbd_log_err(LBD_LOG_INFO, errno, "service \"%s\": recv() from a client failed",
                c->svc->conf->name);
    client_abort(c);
}

/* Write what waits for the client: lbd's bytes first, then the body. */
static void
client_flush(struct lbd_hclient *c)
{
    struct lbd_htxn *t = c->txn;
    struct iovec     iov[2];
    int              n = 0;
    ssize_t          w;

    for (;;) {
        n = 0;
        if (c->out != NULL && c->out->start < c->out->end) {
            iov[n].iov_base = c->out->data + c->out->start;
            iov[n++].iov_len = c->out->end - c->out->start;
        }
        if (c->rbuf != NULL && c->rbuf->start < c->rready) {
            iov[n].iov_base = c->rbuf->data + c->rbuf->start;
            iov[n++].iov_len = c->rready - c->rbuf->start;
        }
        if (n == 0)
            break;
        do {
            w = writev(c->fd, iov, n);
        } while (w == -1 && errno == EINTR);
        if (w == -1) {
            if (errno == EAGAIN) {
                /* The client is slower than its backend: no bulk buffer for it after this one. */
                c->rbulk = 0;
                client_write(c, 1);
                return;
            }
            lbd_log_err(LBD_LOG_INFO, errno, "service \"%s\": writing to a client failed",
                        c->svc->conf->name);
            client_abort(c);
            return;
        }
        c->last_ms = lbd_http_loop_ms(cworker(c));
        lbd_stats_add(lbd_stats_self, LBD_STAT_BYTES_OUT, (uint64_t) w);
        if (t != NULL)
            t->bytes_out += (uint64_t) w;
        if (c->out != NULL && c->out->start < c->out->end) {
            uint32_t o = c->out->end - c->out->start;

            if ((size_t) w < o) {
                c->out->start += (uint32_t) w;
                continue;
            }
            c->out->start = c->out->end;
            w -= o;
        }
        if (c->rbuf != NULL)
            c->rbuf->start += (uint32_t) w;
    }
    client_write(c, 0);
    if (c->out != NULL) {
        lbd_buf_put(cworker(c), c->out);
        c->out = NULL;
    }
    if (c->rbuf != NULL && c->rbuf->start == c->rbuf->end) {
        lbd_buf_put(cworker(c), c->rbuf);
        c->rbuf = NULL;
        c->rready = 0;
    }
    if (t != NULL && t->tunnel) {
        /* The backend's EOF reaches the client once its bytes are out. */
        if (t->up != NULL && t->up->eof && c->rbuf == NULL && !c->shut) {
            c->shut = 1;
            shutdown(c->fd, SHUT_WR);
            if (c->eof) {
                client_abort(c);
                return;
            }
        }
    }
    if (t != NULL && t->up != NULL && t->up->connected && !t->up->eof)
        lbd_http_up_read(t->up, 1);
    if (t != NULL && t->resp_done) {
        txn_finish(t);
        return;
    }
    if (t == NULL && c->closing)
        client_close(c);
}


/* Every byte of the response is written: the request is over. */
static void
txn_finish(struct lbd_htxn *t)
{
    struct lbd_hclient *c = t->c;
    struct lbd_worker  *w = cworker(c);
    int                 keep = t->keep && !c->eof && !c->closing && !w->shutting_down;

    if (t->up != NULL)
        lbd_http_up_release(t, t->up_reuse);
    lbd_http_log(t);
    /* This request's bytes are done with (held for a retry, or never sent). */
    if (c->in != NULL && c->in->start < t->req_sent)
        c->in->start = t->req_sent;
    if (c->in != NULL && t->req_done && c->in->start < t->req_fwd)
        c->in->start = t->req_fwd;
    txn_free(t);
    c->requests++;
    in_release(c);
    if (!keep) {
        c->closing = 1;
        client_close(c);
        return;
    }
    c->head_ms = 0;
    client_timer(c, hconf(c)->keepalive_timeout);
    client_update_read(c);
    /* A pipelined request may be waiting already (this may end c). */
    if (c->in != NULL && c->in->start < c->in->end)
        client_parse(c);
}

/* --- responses --- */

/* Walk the response body over c->rbuf[rready, end): ready bytes, de-chunked if asked. */
static int
resp_scan(struct lbd_htxn *t)
{
    struct lbd_hclient *c = t->c;
    struct lbd_buf     *b = c->rbuf;

    if (b == NULL || t->resp_done)
        return 0;
    if (t->tunnel) {
        c->rready = b->end;
        return 0;
    }
    switch (t->resp_body) {
    case LBD_BODY_LENGTH: {
        uint64_t n = b->end - c->rready;

        if (n > t->resp_left)
            n = t->resp_left;
        c->rready += (uint32_t) n;
        t->resp_left -= n;
        if (t->resp_left == 0)
            t->resp_done = 1;
        break;
    }
    case LBD_BODY_CLOSE:
        c->rready = b->end;
        break;
    case LBD_BODY_CHUNKED: {
        uint32_t scan = c->rready;

        while (scan < b->end) {
            size_t used;
            int    is_data;
            int    rc = lbd_http_chunked_next(&t->resp_chunked, b->data + scan, b->end - scan,
                                              &used, &is_data);

            if (rc == LBD_HTTP_BAD) {
                lbd_http_peer_failed(t, LBD_STAT_ERR_RESET);
                lbd_http_fail(t, 502, "the backend's chunked body is malformed");
                return -1;
            }
            if (!t->dechunk || is_data) {
                if (c->rready != scan)
                    memmove(b->data + c->rready, b->data + scan, used);
                c->rready += (uint32_t) used;
            }
            scan += (uint32_t) used;
            if (rc == LBD_HTTP_DONE) {
                t->resp_done = 1;
                break;
            }
            if (used == 0)
                break;
        }
        if (scan != c->rready) {
            memmove(b->data + c->rready, b->data + scan, b->end - scan);
            b->end -= scan - c->rready;
        }
        break;
    }
    default:
        t->resp_done = 1;
        break;
    }
    if (t->resp_done && b->end > c->rready) {
        /* More than the response: the backend cannot be trusted with another. */
        t->up_reuse = 0;
        b->end = c->rready;
    }
    return 0;
}

/* Which body a response has, given its request (RFC 9112 6.3). */
static void
resp_framing(struct lbd_htxn *t, const struct lbd_http_head *h)
{
    t->resp_body = h->body;
    if (t->method == LBD_METHOD_HEAD || h->status == 204 || h->status == 304
        || (h->status >= 100 && h->status < 200))
        t->resp_body = LBD_BODY_NONE;
    t->resp_left = t->resp_body == LBD_BODY_LENGTH ? (uint64_t) h->content_length : 0;
    if (t->resp_body == LBD_BODY_CHUNKED)
        lbd_http_chunked_init(&t->resp_chunked);
    t->dechunk = t->resp_body == LBD_BODY_CHUNKED && t->version < 11;
    t->up_reuse = !h->conn_close && t->resp_body != LBD_BODY_CLOSE && h->version >= 11;
    t->keep = !t->client_close && t->req_done && t->resp_body != LBD_BODY_CLOSE && !t->dechunk
              && hconf(t->c)->keepalive_timeout > 0
              && t->c->requests + 1 < (unsigned) hconf(t->c)->keepalive_requests
              && !cworker(t->c)->shutting_down;
}

/* Parse response heads in c->rbuf until the final one; then the body. */
static void
resp_advance(struct lbd_htxn *t)
{
    struct lbd_hclient   *c = t->c;
    struct lbd_buf       *b = c->rbuf;
    struct lbd_http_head *h = cworker(c)->hhead;

    while (!t->resp_head && b != NULL) {
        size_t len = b->end - b->start, hl;
        int    rc;

        hl = lbd_http_head_end(b->data + b->start, len, &t->rscanned);
        if (hl == 0) {
            if (len >= hconf(c)->max_header_size)
                lbd_http_fail(t, 502, "the backend's response head is too large");
            return;
        }
        rc = lbd_http_parse_response(b->data + b->start, hl, h);
        if (rc != LBD_HTTP_DONE || hl > hconf(c)->max_header_size) {
            lbd_log(LBD_LOG_WARN, "backend %s (pool \"%s\") sent a malformed response",
                    t->peer != NULL ? t->peer->addr.text : "?", t->pool->name);
            lbd_http_peer_failed(t, LBD_STAT_ERR_RESET);
            lbd_http_fail(t, 502, "the backend's response is malformed");
            return;
        }
        if (h->status < 200 && h->status != 101) {
            /* Interim (100 Continue...): an HTTP/1.1 client sees it, then the final one. */
            if (t->version >= 11 && lbd_http_response_head(t, h, b->data + b->start) == -1) {
                lbd_http_fail(t, 502, "the backend's response head is too large");
                return;
            }
            b->start += (uint32_t) hl;
            t->rscanned = 0;
            continue;
        }
        if (h->status == 101 && !t->upgrade) {
            lbd_http_fail(t, 502, "the backend switched protocols unasked");
            return;
        }
        t->status = h->status;
        lbd_stats_add(t->bstats, lbd_stats_class(h->status), 1);
        if (h->status >= 500)
            lbd_stats_both(t->peer, LBD_STAT_ERR_5XX, 1);
        resp_framing(t, h);
        if (h->status == 101) {
            t->tunnel = 1;
            t->resp_body = LBD_BODY_CLOSE;
            t->keep = 0;
            t->up_reuse = 0;
        }
        if (lbd_http_response_head(t, h, b->data + b->start) == -1) {
            lbd_http_fail(t, 502, "the backend's response head is too large");
            return;
        }
        t->responded = 1;
        t->resp_head = 1;
        b->start += (uint32_t) hl;
        c->rready = b->start;
        lbd_http_up_timer(t->up, hconf(c)->body_timeout);
        if (t->tunnel) {
            /* Both ways raw from here: what the client sent after its head too. */
            t->req_done = 0;
            client_timer(c, c->svc->conf->idle_timeout);
            req_scan(t);
            if (lbd_http_backend_writable(t) == -1)
                return;
        }
    }
    if (resp_scan(t) == -1)
        return;
    if (t->resp_done && t->up != NULL) {
        /* All of it is here: the backend connection may serve someone else now. */
        lbd_http_up_release(t, t->up_reuse && t->req_done
                               && (c->in == NULL || t->req_sent == t->req_fwd));
    }
    client_flush(c);
}

void
lbd_http_backend_readable(struct lbd_htxn *t)
{
    struct lbd_hclient *c = t->c;
    struct lbd_hup     *up = t->up;
    struct lbd_worker  *w = cworker(c);
    struct lbd_buf     *b;
    uint32_t            cap;
    ssize_t             n;

    if (c->rbuf == NULL) {
        c->rbuf = c->rbulk ? lbd_buf_get_bulk(w) : lbd_buf_get(w);
        if (c->rbuf == NULL) {
            client_abort(c);
            return;
        }
        c->rready = 0;
    }
    b = c->rbuf;
    cap = b->cap;
    if (!c->rbulk && lbd_buf_is_bulk(w, b) && b->start < c->rready) {
        /* A bulk buffer that met a slow client takes no more until it took what is ready. */
        lbd_http_up_read(up, 0);
        return;
    }
    if (b->end == cap && b->start > 0) {
        uint32_t shift = b->start;

        memmove(b->data, b->data + shift, b->end - shift);
        b->end -= shift;
        b->start = 0;
        c->rready -= shift;
    }
    if (b->end == cap) {
        /* The client is not taking it: stop reading until it does. */
        lbd_http_up_read(up, 0);
        return;
    }
    do {
        n = recv(up->fd, b->data + b->end, cap - b->end, 0);
    } while (n == -1 && errno == EINTR);
    if (n > 0) {
        /* Streaming while reads fill what they are given; not once one falls short of a buffer. */
        if ((uint32_t) n == cap - b->end)
            c->rbulk = 1;
        else if ((size_t) n < w->cycle->conf->proxy_buffer_size)
            c->rbulk = 0;
        b->end += (uint32_t) n;
        up->last_ms = lbd_http_loop_ms(up->w);
        lbd_stats_add(t->bstats, LBD_STAT_BYTES_IN, (uint64_t) n);
        if (!t->got_bytes) {
            t->got_bytes = 1;
            if (t->sent_us != 0)
                lbd_stats_latency(t->peer, LBD_LAT_TTFB, lbd_stats_now_us() - t->sent_us);
            /* The backend took the request: a retry is off the table. */
            if (t->retryable && c->in != NULL)
                c->in->start = t->req_sent;
            t->retryable = 0;
            /* So is sending its head again: the buffer goes back now, not at the end. */
            if (t->hout != NULL && t->hout_sent == t->hout->end) {
                lbd_buf_put(w, t->hout);
                t->hout = NULL;
            }
        }
        resp_advance(t);
        return;
    }
    if (n == -1 && errno == EAGAIN)
        return;
    lbd_http_backend_gone(t, n == 0 ? 0 : errno);
}

void
lbd_http_backend_gone(struct lbd_htxn *t, int err)
{
    struct lbd_hclient *c = t->c;
    struct lbd_hup     *up = t->up;

    if (!t->got_bytes && !t->resp_head) {
        lbd_http_retry(t, err);
        return;
    }
    if (t->tunnel) {
        if (err != 0) {
            client_abort(c);
            return;
        }
        up->eof = 1;
        lbd_http_up_read(up, 0);
        if (c->eof && (c->rbuf == NULL || c->rbuf->start == c->rbuf->end)) {
            client_abort(c);
            return;
        }
        client_flush(c);
        return;
    }
    if (!t->resp_head) {
        lbd_http_fail(t, 502, err ? "the backend reset the connection"
                                  : "the backend closed the connection before the response");
        return;
    }
    if (err == 0 && t->resp_body == LBD_BODY_CLOSE) {
        /* The end of a response delimited by the close. */
        up->eof = 1;
        t->resp_done = 1;
        t->up_reuse = 0;
        lbd_http_up_release(t, 0);
        client_flush(c);
        return;
    }
    if (lbd_log_enabled(LBD_LOG_INFO))
        lbd_log_err(LBD_LOG_INFO, err, "backend %s (pool \"%s\") ended a response early",
                    t->peer != NULL ? t->peer->addr.text : "?", t->pool->name);
    if (err != 0)
        lbd_http_peer_failed(t, LBD_STAT_ERR_RESET);
    else
        lbd_stats_both(t->peer, LBD_STAT_ERR_RESET, 1);
    /* Send what did come, then close: the client sees the response is short. */
    lbd_http_up_release(t, 0);
    t->keep = 0;
    t->status = t->status ? t->status : 502;
    c->closing = 1;
    t->resp_done = 1;
    client_flush(c);
}

/* --- the client connection --- */

static void
linger_read(struct lbd_hclient *c)
{
    char    sink[4096];
    ssize_t n;

    do {
        n = recv(c->fd, sink, sizeof(sink), 0);
    } while (n == -1 && errno == EINTR);
    if (n == 0 || (n == -1 && errno != EAGAIN))
        client_close(c);
}

/*
 * The client's socket is ready.  One direction per call (either may end c):
 * a level-triggered event that is still ready comes again next turn.
 */
static void
on_client_event(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_hclient *c = arg;

    (void) fd;
    if (c->lingering)
        linger_read(c);
    else if (what & EV_WRITE)
        client_flush(c);
    else
        client_readable(c);
}

static void
on_client_timer(struct lbd_tnode *n)
{
    struct lbd_hclient *c = (struct lbd_hclient *) ((char *) n - offsetof(struct lbd_hclient, timer));
    struct lbd_htxn    *t = c->txn;
    int64_t             now = lbd_http_loop_ms(cworker(c));

    if (c->lingering) {
        client_close(c);
        return;
    }
    if (t == NULL) {
        if (c->head_ms != 0 && (t = txn_new(c)) != NULL) {
            t->version = 0;
            if (c->in != NULL)
                c->in->start = c->in->end;
            lbd_http_fail(t, 408, "the request head did not come in time");
            return;
        }
        /* Idle between requests (or never started one): close quietly. */
        client_close(c);
        return;
    }
    if (t->tunnel) {
        int64_t idle = c->svc->conf->idle_timeout;
        int64_t last = c->last_ms;

        if (t->up != NULL && t->up->last_ms > last)
            last = t->up->last_ms;

        if (now - last >= idle) {
            client_abort(c);
            return;
        }
        client_timer_since(c, last, (int) idle);
        return;
    }
    if (now - c->last_ms < hconf(c)->body_timeout) {
        client_timer_since(c, c->last_ms, hconf(c)->body_timeout);
        return;
    }
    /* The client made no progress for body_timeout: which side is it stalling? */
    if (!t->req_done) {
        lbd_http_fail(t, 408, "the request body did not come in time");
        return;
    }
    if (c->writing) {
        client_abort(c);
        return;
    }
    /* Waiting on the backend: its own timer decides. */
    client_timer(c, hconf(c)->body_timeout);
}

static void
client_close(struct lbd_hclient *c)
{
    struct lbd_worker *w = cworker(c);

    if (c->txn != NULL) {
        client_abort(c);
        return;
    }
    client_watch(c, 0, 0);
    lbd_timer_cancel(&c->timer);
    /*
     * Unread bytes would make close() send a reset that can destroy the
     * answer still in flight (a 400 to a client that went on sending): let
     * the client finish, for a little while.
     */
    if (!c->eof && !c->lingering && c->closing) {
        c->lingering = 1;
        c->shut = 1;
        shutdown(c->fd, SHUT_WR);
        client_read(c, 1);             /* on_client_event drains while lingering */
        client_timer(c, LBD_HTTP_LINGER_MS);
        c->eof = 1;          /* the next client_close closes */
        return;
    }
    close(c->fd);
    if (c->in != NULL)
        lbd_buf_put(w, c->in);
    if (c->out != NULL)
        lbd_buf_put(w, c->out);
    if (c->rbuf != NULL)
        lbd_buf_put(w, c->rbuf);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->hclients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    lbd_worker_conn_closed(w);
}

void
lbd_http_start(struct lbd_service *svc, int fd, const struct sockaddr *sa, socklen_t salen)
{
    struct lbd_worker  *w = svc->worker;
    struct lbd_hclient *c = calloc(1, sizeof(*c));
    int                 on = 1;

    if (c == NULL) {
        lbd_log_err(LBD_LOG_ERROR, ENOMEM, "no memory for a connection");
        close(fd);
        lbd_worker_conn_closed(w);
        return;
    }
    c->svc = svc;
    c->fd = fd;
    if (salen > sizeof(c->addr))
        salen = sizeof(c->addr);
    memcpy(&c->addr, sa, salen);
    c->addrlen = salen;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    c->next = w->hclients;
    if (w->hclients)
        w->hclients->prev = c;
    w->hclients = c;
    c->last_ms = lbd_http_loop_ms(w);
    /* The first request's head must start within header_timeout too. */
    client_timer(c, svc->conf->http.header_timeout);
    client_read(c, 1);
}

void
lbd_http_shutdown(struct lbd_worker *w)
{
    struct lbd_hclient *c, *next;

    for (c = w->hclients; c != NULL; c = next) {
        next = c->next;
        /* Idle between requests: nothing is lost by closing now. */
        if (c->txn == NULL && (c->in == NULL || c->in->start == c->in->end) && !c->closing)
            client_close(c);
    }
    lbd_http_idle_close_all(w);
}

void
lbd_http_close_all(struct lbd_worker *w)
{
    while (w->hclients != NULL) {
        struct lbd_hclient *c = w->hclients;

        c->closing = 0;
        c->eof = 1;
        client_abort(c);
    }
    lbd_http_idle_close_all(w);
    while (w->free_txns != NULL) {
        struct lbd_htxn *t = w->free_txns;

        w->free_txns = t->next_free;
        free(t);
    }
    w->nfree_txns = 0;
}
