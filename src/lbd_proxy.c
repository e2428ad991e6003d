/*
 * lbd_proxy.c - layer 4: one client socket, one backend socket, bytes both
 * ways.
 *
 * Each direction has at most one buffer, taken from the worker's free list
 * only while data is in flight: data read from one side is written to the
 * other at once, and when that write takes it all (the common case) the
 * buffer goes straight back.  An idle connection therefore holds no buffer
 * at all.  The buffer is proxy_buffer_size bytes, or a bulk one
 * (proxy_bulk_buffer_size) while the direction streams: its last read
 * filled the whole buffer and its reader keeps up (lbd_buf.h).
 *
 * Backpressure: reading from a side stops when the buffer towards the other
 * side is full (high watermark) and resumes when at least half of it is free
 * again (low watermark), so a slow reader costs one buffer, never more.  A
 * write that leaves bytes behind ends the streaming: a bulk buffer then
 * drains before the side reads again, into a normal buffer.
 *
 * Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other once
 * everything read before it was written.  The connection ends when both
 * directions have ended, on an error, or after the idle timeout.
 */
#include <assert.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lbd_buf.h"
#include "lbd_log.h"
#include "lbd_peer.h"
#include "lbd_shm.h"
#include "lbd_stats.h"
#include "lbd_worker.h"

/*
 * Buffers kept on a worker's free list at most; the rest go back to malloc.
 * An HTTP request in flight holds two or three (the head kept for a retry,
 * the response and its head), so 1,024 serve a few hundred requests in
 * flight without a malloc each: at 1,000 clients a cap of 256 put glibc's
 * malloc and free at 1.2% of a worker's cycles.  Only the pages a buffer
 * touched are resident: 1,024 buffers that carried small requests are 4 MB.
 */
#define LBD_FREE_BUFS_MAX 1024

/*
 * Bulk buffers kept: one is held only from a read to the write that empties
 * it, unless its reader is slow, so a few dozen serve a worker's streams;
 * 64 of 64 KiB are 4 MB at most.
 */
#define LBD_FREE_BULK_MAX 64

union lbd_sockaddr {
    struct sockaddr     sa;
    struct sockaddr_in  in;
    struct sockaddr_in6 in6;
};

/* One socket of a connection, and the bytes waiting to be written to it. */
struct lbd_side {
    struct lbd_conn *conn;
    int              fd;
    struct event     rev, wev;
    struct lbd_buf  *out;
    unsigned         eof:1;        /* read EOF from fd */
    unsigned         shut:1;       /* shutdown(fd, SHUT_WR) done */
    unsigned         reading:1;    /* rev added */
    unsigned         writing:1;    /* wev added */
    unsigned         bulk:1;       /* reads from fd fill whole buffers and the
                                      other side takes them: a bulk buffer next */
};

struct lbd_conn {
    struct lbd_conn     *prev, *next;
    struct lbd_service  *svc;
    struct lbd_snapshot *snap;      /* holds pool and peer alive */
    struct lbd_pool     *pool;
    struct lbd_peer     *peer;      /* NULL until one is picked */
    struct lbd_side      c, b;      /* client, backend */
    struct event         timer;     /* connect timeout, then idle timeout */
    int64_t              last_ms;   /* last byte moved, loop time */
    struct lbd_tried     tried;
    unsigned             ntried;    /* connects attempted */
    int64_t              connect_us;/* when the current connect started (us) */
    int64_t              start_us;  /* when it was accepted (us) */
    uint64_t             key;       /* hash of the client's address */
    unsigned             connected:1;
    unsigned             trial:1;   /* this connect is its peer's half-open trial */
    unsigned             on_backup:1;
    unsigned             backend_error:1;  /* ended by an error on the backend's side */
    union lbd_sockaddr   client;
    socklen_t            clientlen;
};

static void conn_close(struct lbd_conn *conn);
static void connect_next(struct lbd_conn *conn);

static struct lbd_worker *
conn_worker(const struct lbd_conn *conn)
{
    return conn->svc->worker;
}

/*
 * An established connection ended with an error on the backend's side (a
 * reset): a failure for the circuit breaker, like a refused connect.  A
 * connection that ends cleanly clears the count (conn_close).
 */
static void
backend_failed(struct lbd_conn *conn)
{
    conn->backend_error = 1;
}

static int64_t
loop_ms(struct event_base *base)
{
    struct timeval tv;

    event_base_gettimeofday_cached(base, &tv);
    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* What a worker's connections hold, for /status.json and /metrics. */
static void
buf_count(struct lbd_worker *w, const struct lbd_buf *buf, int sign)
{
    int bulk = lbd_buf_is_bulk(w, buf);

    if (sign > 0) {
        w->buf_bytes += buf->cap;
        w->nbulk += bulk ? 1 : 0;
    } else {
        w->buf_bytes -= buf->cap;
        w->nbulk -= bulk ? 1 : 0;
    }
    if (lbd_shm != NULL && w->wslot >= 0) {
        struct lbd_shm_worker *sw = &lbd_shm->workers[w->wslot];

        atomic_store_explicit(&sw->buffer_bytes, w->buf_bytes, memory_order_relaxed);
        if (bulk)
            atomic_store_explicit(&sw->bulk_buffers, w->nbulk, memory_order_relaxed);
    }
}

static struct lbd_buf *
buf_alloc(struct lbd_worker *w, struct lbd_buf **list, unsigned *n, size_t cap)
{
    struct lbd_buf *buf = *list;

    if (buf != NULL) {
        *list = buf->next;
        (*n)--;
    } else if ((buf = malloc(sizeof(*buf) + cap)) == NULL) {
        return NULL;
    } else {
        buf->cap = (uint32_t) cap;
    }
    buf->next = NULL;
    buf->start = buf->end = 0;
    buf_count(w, buf, 1);
    return buf;
}

struct lbd_buf *
lbd_buf_get(struct lbd_worker *w)
{
    return buf_alloc(w, &w->free_bufs, &w->nfree_bufs, w->cycle->conf->proxy_buffer_size);
}

/*
 * At most proxy_bulk_buffers held at once: a slow reader keeps its bulk
 * buffer until it takes the bytes, so that many stalled readers cost at most
 * that many bulk buffers; past it, streams use normal buffers.
 */
struct lbd_buf *
lbd_buf_get_bulk(struct lbd_worker *w)
{
    const struct lbd_conf *conf = w->cycle->conf;
    struct lbd_buf        *buf = NULL;

    if (conf->proxy_bulk_buffer_size > conf->proxy_buffer_size
        && w->nbulk < (unsigned) conf->proxy_bulk_buffers)
        buf = buf_alloc(w, &w->free_bulk, &w->nfree_bulk, conf->proxy_bulk_buffer_size);
    return buf != NULL ? buf : lbd_buf_get(w);
}

int
lbd_buf_is_bulk(const struct lbd_worker *w, const struct lbd_buf *buf)
{
    return buf->cap > w->cycle->conf->proxy_buffer_size;
}

void
lbd_buf_put(struct lbd_worker *w, struct lbd_buf *buf)
{
    int              bulk = lbd_buf_is_bulk(w, buf);
    struct lbd_buf **list = bulk ? &w->free_bulk : &w->free_bufs;
    unsigned        *n = bulk ? &w->nfree_bulk : &w->nfree_bufs;

    buf_count(w, buf, -1);
    if (*n >= (bulk ? LBD_FREE_BULK_MAX : LBD_FREE_BUFS_MAX)) {
        free(buf);
        return;
    }
    buf->next = *list;
    *list = buf;
    (*n)++;
}

static void
buf_list_free(struct lbd_buf **list, unsigned *n)
{
    while (*list != NULL) {
        struct lbd_buf *next = (*list)->next;
        free(*list);
        *list = next;
    }
    *n = 0;
}

void
lbd_proxy_free_buffers(struct lbd_worker *w)
{
    buf_list_free(&w->free_bufs, &w->nfree_bufs);
    buf_list_free(&w->free_bulk, &w->nfree_bulk);
}

static const char *
client_text(const struct lbd_conn *conn, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int  port = 0;

    if (conn->client.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &conn->client.in.sin_addr, host, sizeof(host));
        port = ntohs(conn->client.in.sin_port);
        snprintf(out, len, "%s:%d", host, port);
    } else if (conn->client.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &conn->client.in6.sin6_addr, host, sizeof(host));
        port = ntohs(conn->client.in6.sin6_port);
        snprintf(out, len, "[%s]:%d", host, port);
    } else {
        snprintf(out, len, "unknown");
    }
    return out;
}

static struct lbd_side *
other_side(struct lbd_side *s)
{
    return s == &s->conn->c ? &s->conn->b : &s->conn->c;
}

static void
side_read(struct lbd_side *s, int on)
{
    if ((unsigned) on == s->reading)
        return;
    if (on)
        event_add(&s->rev, NULL);
    else
        event_del(&s->rev);
    s->reading = on ? 1 : 0;
}

static void
side_write(struct lbd_side *s, int on)
{
    if ((unsigned) on == s->writing)
        return;
    if (on)
        event_add(&s->wev, NULL);
    else
        event_del(&s->wev);
    s->writing = on ? 1 : 0;
}

/* Both directions over: the client's bytes reached the backend and back. */
static int
conn_done(const struct lbd_conn *conn)
{
    return conn->c.eof && conn->b.shut && conn->b.eof && conn->c.shut;
}

static void
side_shutdown(struct lbd_side *s)
{
    if (s->shut)
        return;
    s->shut = 1;
    /* ENOTCONN when the peer already went away: nothing left to tell it. */
    shutdown(s->fd, SHUT_WR);
}

/*
 * Read permission for src follows the room in the buffer towards dst: off
 * at the high watermark (full), on again at the low one (half free).  A
 * bulk buffer that met a slow reader takes no more (src->bulk is off): it
 * drains first.
 */
static void
update_backpressure(struct lbd_side *src, struct lbd_side *dst)
{
    const struct lbd_buf *buf = dst->out;
    int                   on;

    if (src->eof)
        return;
    if (buf == NULL)
        on = 1;
    else if (!src->bulk && lbd_buf_is_bulk(conn_worker(src->conn), buf))
        on = 0;
    else if (src->reading)
        on = buf->end < buf->cap;
    else
        on = buf->cap - buf->end >= buf->cap / 2;
    side_read(src, on);
}

/*
 * Write what is waiting for dst.  Returns 0, or -1 when the connection was
 * closed (the caller must not touch it again).
 */
static int
flush(struct lbd_side *dst)
{
    struct lbd_conn *conn = dst->conn;
    struct lbd_side *src = other_side(dst);
    struct lbd_buf  *buf = dst->out;

    while (buf->start < buf->end) {
        ssize_t n = send(dst->fd, buf->data + buf->start, buf->end - buf->start,
                         MSG_NOSIGNAL);
        if (n > 0) {
            buf->start += (uint32_t) n;
            conn->last_ms = loop_ms(conn_worker(conn)->base);
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN)
            break;
        if (lbd_log_enabled(LBD_LOG_INFO)) {
            char client[64];
            lbd_log_err(LBD_LOG_INFO, errno, "send() to %s failed (client %s)",
                        dst == &conn->c ? "client" : conn->peer->addr.text,
                        client_text(conn, client, sizeof(client)));
        }
        if (dst == &conn->b)
            backend_failed(conn);
        conn_close(conn);
        return -1;
    }

    if (buf->start == buf->end) {
        /* All gone: the buffer goes back, nothing is held while idle. */
        lbd_buf_put(conn_worker(conn), buf);
        dst->out = NULL;
        side_write(dst, 0);
        if (src->eof) {
            side_shutdown(dst);
            if (conn_done(conn)) {
                conn_close(conn);
                return -1;
            }
        }
    } else {
        /* dst is slower than src: no bulk buffer for it after this one. */
        src->bulk = 0;
        /* Amortised: at most half a buffer moves, once per half written. */
        if (buf->start >= buf->cap / 2) {
            memmove(buf->data, buf->data + buf->start, buf->end - buf->start);
            buf->end -= buf->start;
            buf->start = 0;
        }
        side_write(dst, 1);
    }
    update_backpressure(src, dst);
    return 0;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_side *src = arg;
    struct lbd_side *dst = other_side(src);
    struct lbd_conn *conn = src->conn;
    struct lbd_worker *w = conn_worker(conn);
    struct lbd_buf  *buf = dst->out;
    size_t           room;
    ssize_t          n;

    if (buf == NULL) {
        buf = dst->out = src->bulk ? lbd_buf_get_bulk(w) : lbd_buf_get(w);
        if (buf == NULL) {
            lbd_log_err(LBD_LOG_ERROR, ENOMEM, "no buffer for a connection");
            conn_close(conn);
            return;
        }
    }
    assert(buf->end < buf->cap);
    room = buf->cap - buf->end;

    do {
        n = recv(src->fd, buf->data + buf->end, room, 0);
    } while (n == -1 && errno == EINTR);

    if (n > 0) {
        buf->end += (uint32_t) n;
        /* Streaming while reads fill what they are given; not once one falls short of a buffer. */
        if ((size_t) n == room)
            src->bulk = 1;
        else if ((size_t) n < w->cycle->conf->proxy_buffer_size)
            src->bulk = 0;
        conn->last_ms = loop_ms(conn_worker(conn)->base);
        /* Counted as read: what the client sends is on its way to the backend. */
        if (src == &conn->c) {
            lbd_stats_add(lbd_stats_self, LBD_STAT_BYTES_IN, (uint64_t) n);
            lbd_stats_add(lbd_stats_peer(conn->peer), LBD_STAT_BYTES_OUT, (uint64_t) n);
        } else {
            lbd_stats_add(lbd_stats_peer(conn->peer), LBD_STAT_BYTES_IN, (uint64_t) n);
            lbd_stats_add(lbd_stats_self, LBD_STAT_BYTES_OUT, (uint64_t) n);
        }
        flush(dst);
        return;
    }
    if (buf->start == buf->end) {
        lbd_buf_put(w, buf);
        dst->out = NULL;
    }
    if (n == -1 && errno == EAGAIN)
        return;
    if (n == 0) {
        src->eof = 1;
        side_read(src, 0);
        if (dst->out == NULL) {
            side_shutdown(dst);
            if (conn_done(conn))
                conn_close(conn);
        }
        return;
    }
    if (lbd_log_enabled(LBD_LOG_INFO)) {
        char client[64];
        lbd_log_err(LBD_LOG_INFO, errno, "recv() from %s failed (client %s)",
                    src == &conn->c ? "client" : conn->peer->addr.text,
                    client_text(conn, client, sizeof(client)));
    }
    if (src == &conn->b)
        backend_failed(conn);
    conn_close(conn);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_side *dst = arg;

    if (dst->out != NULL)
        flush(dst);
    else
        side_write(dst, 0);
}

static void
on_connected(struct lbd_conn *conn)
{
    struct lbd_worker *w = conn_worker(conn);
    int64_t            took = lbd_stats_now_us() - conn->connect_us;

    conn->connected = 1;
    lbd_stats_add(lbd_stats_peer(conn->peer), LBD_STAT_CONNS, 1);
    lbd_stats_latency(conn->peer, LBD_LAT_CONNECT, took);
    lbd_peer_success(conn->peer, conn->trial, lbd_mono_ms(), conn->pool->name);
    conn->trial = 0;
    if (conn->pool->strategy->connected)
        conn->pool->strategy->connected(conn->pool, conn->peer, took);
    event_assign(&conn->b.wev, w->base, conn->b.fd, EV_WRITE | EV_PERSIST, on_write, &conn->b);
    conn->last_ms = loop_ms(w->base);
    evtimer_add(&conn->timer, conn->svc->idle_tv);
    side_read(&conn->c, 1);
    side_read(&conn->b, 1);
}

/* The current peer did not take the connection (kind: LBD_STAT_ERR_*): log, count, let it go. */
static void
peer_give_up(struct lbd_conn *conn, int err, const char *what, enum lbd_stat kind)
{
    struct lbd_peer *peer = conn->peer;

    lbd_log_err(LBD_LOG_WARN, err, "connect() to %s (pool \"%s\") %s",
                peer->addr.text, conn->pool->name, what);
    side_write(&conn->b, 0);
    evtimer_del(&conn->timer);
    close(conn->b.fd);
    conn->b.fd = -1;
    lbd_peer_failed(conn->pool, peer, conn->trial, kind);
    conn->trial = 0;
    lbd_peer_drop(conn->pool, peer, conn_worker(conn)->wslot, LBD_PEER_CONNECT_FAILED);
    conn->peer = NULL;
}

static void
on_connect(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_conn *conn = arg;
    int              err = 0;
    socklen_t        len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    if (err != 0) {
        peer_give_up(conn, err, "failed", LBD_STAT_ERR_CONNECT);
        connect_next(conn);
        return;
    }
    side_write(&conn->b, 0);
    evtimer_del(&conn->timer);
    on_connected(conn);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_conn *conn = arg;
    int64_t          idle_ms, now;

    if (!conn->connected) {
        char what_text[64];
        snprintf(what_text, sizeof(what_text), "timed out after %d ms",
                 conn->svc->conf->connect_timeout);
        peer_give_up(conn, 0, what_text, LBD_STAT_ERR_TIMEOUT);
        connect_next(conn);
        return;
    }
    idle_ms = conn->svc->conf->idle_timeout;
    now = loop_ms(conn_worker(conn)->base);
    if (now - conn->last_ms < idle_ms) {
        /* Traffic since the timer was set: sleep for what is left. */
        struct timeval tv;
        int64_t        left = conn->last_ms + idle_ms - now;

        tv.tv_sec = left / 1000;
        tv.tv_usec = (left % 1000) * 1000;
        evtimer_add(&conn->timer, &tv);
        return;
    }
    if (lbd_log_enabled(LBD_LOG_INFO)) {
        char client[64];
        lbd_log(LBD_LOG_INFO, "connection %s -> %s idle for %lld ms, closing",
                client_text(conn, client, sizeof(client)), conn->peer->addr.text,
                (long long) idle_ms);
    }
    conn_close(conn);
}

/*
 * Point conn at pool index i of its snapshot with nothing tried yet.
 * 0, or -1 when the bitmap cannot be had (out of memory).
 */
static int
conn_use_pool(struct lbd_conn *conn, struct lbd_pool *pool)
{
    if (lbd_tried_reset(&conn->tried, pool->npeers) == -1)
        return -1;
    conn->pool = pool;
    return 0;
}

/*
 * Pick the next untried peer and start connecting.  A connect failure tries
 * another peer, up to the pool's `retries`; when the pool has no eligible
 * peer at all, its backup pool (once).  When nothing is left the client is
 * closed at once, with the reason in the log: never a hang.
 */
static void
connect_next(struct lbd_conn *conn)
{
    struct lbd_worker          *w = conn_worker(conn);
    const struct lbd_pool_conf *pc;
    struct lbd_pick             ctx = {
        .client = &conn->client.sa, .clientlen = conn->clientlen, .tried = conn->tried.map,
        .key = conn->key, .now_ms = lbd_mono_ms(),
    };

    for (;;) {
        struct lbd_peer *peer = NULL;
        int              fd, on = 1, claim;

        pc = conn->pool->conf;
        if (pc == NULL || conn->ntried <= (unsigned) pc->retries)
            peer = conn->pool->strategy->pick(conn->pool, &ctx);
        if (peer == NULL && !conn->on_backup && conn->pool->backup >= 0) {
            struct lbd_pool *backup = &conn->snap->pools[conn->pool->backup];

            /* Nothing (more) to try here: the backup pool, with a fresh budget. */
            lbd_log(LBD_LOG_INFO, "pool \"%s\": %s; using its backup pool \"%s\"",
                    conn->pool->name, conn->ntried ? "every backend tried failed"
                    : "no eligible backend", backup->name);
            conn->on_backup = 1;
            if (conn_use_pool(conn, backup) == 0) {
                conn->ntried = 0;
                ctx.tried = conn->tried.map;
                continue;
            }
        }
        if (peer == NULL) {
            char client[64];
            lbd_log(LBD_LOG_ERROR, "service \"%s\": no backend of pool \"%s\" took the "
                    "connection from %s (tried %u of %u%s); closing it",
                    conn->svc->conf->name, conn->pool->name,
                    client_text(conn, client, sizeof(client)), conn->ntried,
                    conn->pool->npeers,
                    conn->ntried == 0 ? ": none is eligible (down, ejected or drained)"
                    : pc != NULL && conn->ntried > (unsigned) pc->retries ? ", retries used up"
                    : "");
            conn_close(conn);
            return;
        }
        lbd_bit_set(conn->tried.map, peer->index);
        /* An ejected peer's one trial may already be out (another worker's). */
        if ((claim = lbd_peer_claim(peer, ctx.now_ms)) == LBD_PEER_CLAIM_NONE)
            continue;
        conn->trial = claim == LBD_PEER_CLAIM_TRIAL;
        conn->ntried++;
        conn->peer = peer;
        lbd_peer_hold(peer, w->wslot);

        fd = socket(peer->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1) {
            lbd_log_err(LBD_LOG_ERROR, errno, "socket() for %s failed", peer->addr.text);
            conn_close(conn);
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        conn->b.fd = fd;
        event_assign(&conn->b.rev, w->base, fd, EV_READ | EV_PERSIST, on_read, &conn->b);

        conn->connect_us = lbd_stats_now_us();
        if (connect(fd, (const struct sockaddr *) &peer->addr.ss, peer->addr.len) == 0) {
            on_connected(conn);
            return;
        }
        if (errno == EINPROGRESS) {
            event_assign(&conn->b.wev, w->base, fd, EV_WRITE | EV_PERSIST, on_connect, conn);
            side_write(&conn->b, 1);
            evtimer_add(&conn->timer, conn->svc->connect_tv);
            return;
        }
        /* Refused at once (loopback does that): the next one, right away. */
        peer_give_up(conn, errno, "failed", LBD_STAT_ERR_CONNECT);
    }
}

void
lbd_proxy_start(struct lbd_service *svc, int fd, const struct sockaddr *sa, socklen_t salen)
{
    struct lbd_worker *w = svc->worker;
    struct lbd_conn   *conn;
    int                on = 1;
    int                pool = w->snap->service_pool[svc - w->services];

    if (pool < 0) {
        /* The registry lost the pool the file names (an edit from outside). */
        lbd_log(LBD_LOG_ERROR, "service \"%s\": pool \"%s\" is not in the registry; "
                "closing the connection", svc->conf->name, svc->conf->pool_name);
        close(fd);
        lbd_worker_conn_closed(w);
        return;
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        lbd_log_err(LBD_LOG_ERROR, ENOMEM, "no memory for a connection");
        close(fd);
        lbd_worker_conn_closed(w);
        return;
    }
    conn->svc = svc;
    conn->snap = w->snap;
    lbd_snapshot_ref(conn->snap);
    if (conn_use_pool(conn, &conn->snap->pools[pool]) == -1) {
        lbd_snapshot_unref(conn->snap);
        free(conn);
        close(fd);
        lbd_worker_conn_closed(w);
        return;
    }
    if (salen > sizeof(conn->client))
        salen = sizeof(conn->client);
    memcpy(&conn->client, sa, salen);
    conn->clientlen = salen;
    conn->key = lbd_client_key(&conn->client.sa);
    conn->start_us = lbd_stats_now_us();

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    conn->c.conn = conn;
    conn->c.fd = fd;
    event_assign(&conn->c.rev, w->base, fd, EV_READ | EV_PERSIST, on_read, &conn->c);
    event_assign(&conn->c.wev, w->base, fd, EV_WRITE | EV_PERSIST, on_write, &conn->c);
    conn->b.conn = conn;
    conn->b.fd = -1;
    evtimer_assign(&conn->timer, w->base, on_timer, conn);

    conn->next = w->conns;
    if (w->conns)
        w->conns->prev = conn;
    w->conns = conn;

    connect_next(conn);
}

static void
conn_close(struct lbd_conn *conn)
{
    struct lbd_worker *w = conn_worker(conn);

    side_read(&conn->c, 0);
    side_write(&conn->c, 0);
    close(conn->c.fd);
    if (conn->b.fd != -1) {
        side_read(&conn->b, 0);
        side_write(&conn->b, 0);
        close(conn->b.fd);
    }
    evtimer_del(&conn->timer);
    if (conn->c.out)
        lbd_buf_put(w, conn->c.out);
    if (conn->b.out)
        lbd_buf_put(w, conn->b.out);

    if (conn->peer != NULL) {
        if (conn->connected && conn->backend_error)
            lbd_peer_failed(conn->pool, conn->peer, 0, LBD_STAT_ERR_RESET);
        else if (conn->connected)
            lbd_peer_ok(conn->peer);
        if (conn->connected)
            lbd_stats_latency(conn->peer, LBD_LAT_TOTAL, lbd_stats_now_us() - conn->start_us);
        lbd_peer_drop(conn->pool, conn->peer, w->wslot,
                      conn->connected ? LBD_PEER_OK : LBD_PEER_CONNECT_FAILED);
    }

    if (conn->prev)
        conn->prev->next = conn->next;
    else
        w->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;

    lbd_tried_free(&conn->tried);
    lbd_snapshot_unref(conn->snap);
    free(conn);
    lbd_worker_conn_closed(w);
}

void
lbd_proxy_close_all(struct lbd_worker *w)
{
    while (w->conns != NULL)
        conn_close(w->conns);
}
