/*
 * lbd_testsrv.c - a real backend server for lbd's tests and demo.
 *
 *   lbd-testsrv -l HOST:PORT [-n NAME] [-b | -H STATUS | -h [-1] [-k MS]]
 *               [-x | -g] [-p PIDFILE] [-v]
 *
 * -l HOST:PORT  where to listen ("[v6]:PORT" too).
 * -n NAME       this server's name (default "testsrv"): NAME's reply, the
 *               banner, the HTTP mode's X-Server.
 * -p PIDFILE    write the pid there; removed at exit.
 * -v            log connections and commands on stderr; in HTTP mode also
 *               every request line on stdout, as "NAME conn C req K: LINE".
 *
 * Default mode: the client's first line (ending in \n, at most 128 bytes;
 * an unterminated line at EOF counts too) is a command:
 *
 *   NAME                  reply "NAME\n" (this server's -n) and close
 *   ECHO                  echo every byte until the client's EOF, then close
 *   SINK                  read until EOF, reply "<count> <fnv1a64 hex>\n"
 *   SOURCE N SEED [BPS]   send N bytes of SEED's stream (lbd_testdata.h),
 *                         at most BPS bytes per second if given, then close
 *   HOLD                  reply "OK\n" and stay idle until the client closes
 *   anything else         reply "ERR\n" and close
 *
 * -b (banner): on accept send "NAME\n" at once, then echo like ECHO.
 * -x (blackhole): listen with backlog 0 and never accept: once the queue
 *    holds one connection the kernel drops further SYNs and connects hang.
 * -g (gate): listen with backlog 0 (a queue of one) and accept as usual,
 *    until SIGUSR1 closes the gate: the server stops accepting and connects
 *    to itself, and that "plug" fills the queue, so the kernel drops every
 *    SYN that comes; the client's kernel sends it again after 1 s (then 3 s,
 *    7 s... after the first).  SIGUSR2 opens the gate: the plug goes, the
 *    queue is drained and accepting goes on.  A connect started while the
 *    gate is closed, the gate opened before its second SYN, takes a second:
 *    a slow backend as the client's kernel measures it.
 * -H STATUS (http): read a request head (up to the empty line, at most
 *    MAX_HEAD bytes) and answer "HTTP/1.1 STATUS X" with Content-Length: 2,
 *    Connection: close and the body "ok", whatever the request; with -v the
 *    request line is logged.  For the health checks' tests.
 *
 * -h (HTTP/1.1 server, lbd_testsrv_http.c): keepalive (HTTP/1.0 closes
 *    unless it asks for keep-alive; "Connection: close" is honoured),
 *    request bodies by Content-Length or chunked, pipelined requests
 *    answered in order.  Every response carries X-Server: NAME, X-Conn: C
 *    (the connection's serial number in this process, from 1) and X-Req: K
 *    (the request's number on its connection, from 1).  A request with
 *    "Expect: 100-continue" and a body gets "100 Continue" first.  A
 *    malformed request gets 400 with a body "testsrv: <why>\n" and the
 *    connection closes; it is not counted.  Paths (the query is parsed):
 *
 *    /echo-headers   200, body: the request head exactly as received
 *                    (request line, fields and the empty line)
 *    /bytes?n=N&seed=S[&chunked=1][&close=1]
 *                    200, body: N bytes of S's stream, generated as the
 *                    socket takes them (bounded memory for any N); with
 *                    Content-Length, or chunked (chunk sizes cycle through
 *                    1 B .. 64 KB), or close-delimited (close=1; also
 *                    chunked=1 to an HTTP/1.0 client).  HEAD: no body
 *    /sink           (any method; meant for POST and PUT) read the whole
 *                    body, reply "<count> <fnv1a64 hex>\n" as SINK does, with
 *                    X-Body: length, chunked or none (how the body came)
 *    /status?code=N  status N (200..999), body "status N\n" (none for 204, 304)
 *    /sleep?ms=N     answer 200 "slept N ms\n" after N ms (a timer)
 *    /close          close the connection, no response
 *    /reset          reset the connection (SO_LINGER 0, close)
 *    /garbage        send "NOT HTTP AT ALL\r\n\r\n", then close
 *    /ws             with Connection: upgrade, Upgrade: websocket and a
 *                    Sec-WebSocket-Key: 101 (RFC 6455), then every client
 *                    frame's payload comes back as a server frame of the
 *                    same opcode (unmasked), a ping gets a pong, a close a
 *                    close (and the connection closes)
 *    /count          200, body "N\n": the requests this process has served,
 *                    this one included (a request is served once its head
 *                    and whole body came; one answered 400 is not)
 *    anything else   200, body "NAME\n"
 *
 *    -1  one request per connection: the first byte of a second request on
 *        a connection closes it without a reply, as a server whose
 *        keepalive timeout fired just as the request came (the response
 *        before said nothing of closing).
 *    -k MS  close a connection idle for MS between requests (default 60000).
 *
 * Memory per connection is bounded: the server stops reading while a
 * connection's output holds more than HIGH_WATER bytes, and SOURCE only
 * generates up to that much ahead of what the socket took.
 *
 * "Close" means: flush the output, shutdown(SHUT_WR), then discard input
 * until the client's EOF (at most LINGER_SEC) and close.  Closing with unread
 * input would make the kernel send a reset that can destroy data in flight.
 *
 * SIGTERM and SIGINT stop the server (exit 0, pid file removed).
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lbd_testsrv.h"

#define MAX_CMD     128
#define MAX_HEAD    16384           /* -H: a longer request head is refused */
#define RATE_TICK_MS 10

enum state {
    S_CMD,      /* waiting for the command line */
    S_ECHO,
    S_SINK,
    S_SOURCE,
    S_HOLD,
    S_HTTP,     /* -H: waiting for the end of a request head */
    S_FLUSH,    /* reply queued: close once it is written */
    S_LINGER,   /* SHUT_WR done: discard input until EOF */
};

struct conn {
    struct srv         *srv;
    struct bufferevent *bev;
    unsigned long       id;
    enum state          state;
    int                 eof;        /* the client half-closed */
    int                 dead;       /* free at the end of the callback */

    uint64_t            count;      /* SINK: bytes read; SOURCE: bytes sent */
    uint64_t            hash;       /* SINK */

    struct lbd_td_rng   rng;        /* SOURCE */
    uint64_t            total;      /* SOURCE: bytes to send */
    uint64_t            rate;       /* SOURCE: bytes per second, 0 = no limit */
    struct timeval      start;      /* SOURCE: when sending started */
    struct event       *timer;      /* SOURCE: rate limit tick */
};

static void source_fill(struct conn *c);
static void conn_on_eof(struct conn *c);

void
logv(const struct srv *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->verbose)
        return;
    va_start(ap, fmt);
    fprintf(stderr, "lbd-testsrv[%d]: ", (int) getpid());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t
sink_feed(struct evbuffer *in, uint64_t max, uint64_t *hash)
{
    uint64_t taken = 0;

    while (taken < max) {
        struct evbuffer_iovec v[8];
        int                   nv = evbuffer_peek(in, -1, NULL, v, 8);
        size_t                used = 0;

        if (nv <= 0)
            break;
        for (int i = 0; i < nv && i < 8 && taken + used < max; i++) {
            size_t k = v[i].iov_len;

            if (k > max - taken - used)
                k = (size_t) (max - taken - used);
            *hash = lbd_td_fnv1a64(*hash, v[i].iov_base, k);
            used += k;
        }
        /* An empty chain can be peeked too: nothing taken means nothing left. */
        if (used == 0)
            break;
        evbuffer_drain(in, used);
        taken += used;
    }
    return taken;
}

int
source_gen(struct lbd_td_rng *r, struct evbuffer *out, size_t n)
{
    struct evbuffer_iovec v;

    if (evbuffer_reserve_space(out, (ev_ssize_t) n, &v, 1) < 1)
        return -1;
    lbd_td_fill(r, v.iov_base, n);
    v.iov_len = n;
    return evbuffer_commit_space(out, &v, 1);
}

static void
conn_free(struct conn *c)
{
    logv(c->srv, "conn %lu closed", c->id);
    if (c->timer != NULL)
        event_free(c->timer);
    bufferevent_free(c->bev);
    free(c);
}

/* The output is flushed: half-close and wait for the client's EOF. */
static void
conn_linger(struct conn *c)
{
    struct timeval tv = { LINGER_SEC, 0 };

    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    c->state = S_LINGER;
    if (c->eof) {
        c->dead = 1;
        return;
    }
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

/* Close after what is queued has been written. */
static void
conn_finish(struct conn *c)
{
    c->state = S_FLUSH;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_linger(c);
}

static uint64_t
elapsed_us(const struct timeval *since)
{
    struct timeval now;

    gettimeofday(&now, NULL);
    return (uint64_t) (now.tv_sec - since->tv_sec) * 1000000u
           + (uint64_t) (now.tv_usec - since->tv_usec);
}

static void
source_tick(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    source_fill(c);
    if (c->dead)
        conn_free(c);
}

/*
 * Queue more of the SOURCE stream: never more than HIGH_WATER ahead of the
 * socket, never ahead of the rate.  Finishes the connection when all is sent.
 */
static void
source_fill(struct conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    while (c->count < c->total && evbuffer_get_length(out) < HIGH_WATER) {
        uint64_t n = c->total - c->count;

        if (n > CHUNK)
            n = CHUNK;
        if (c->rate > 0) {
            uint64_t allowed = elapsed_us(&c->start) * c->rate / 1000000u;

            if (allowed <= c->count) {
                struct timeval tv = { 0, RATE_TICK_MS * 1000 };

                evtimer_add(c->timer, &tv);
                return;
            }
            if (n > allowed - c->count)
                n = allowed - c->count;
        }
        if (source_gen(&c->rng, out, (size_t) n) == -1)
            break;
        c->count += n;
    }
    if (c->count == c->total)
        conn_finish(c);
}

static void
conn_reply(struct conn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
    va_end(ap);
    conn_finish(c);
}

/*
 * Parse "N SEED [BPS]": decimal numbers separated by single spaces.
 * Returns 0, or -1 when anything else is there.
 */
static int
parse_source(const char *args, uint64_t *n, uint64_t *seed, uint64_t *rate)
{
    uint64_t   *out[3] = { n, seed, rate };
    const char *p = args;
    char       *end;
    int         k;

    *rate = 0;
    for (k = 0; k < 3 && *p != '\0'; k++) {
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        *out[k] = strtoull(p, &end, 10);
        if (errno != 0 || (*end != ' ' && *end != '\0'))
            return -1;
        p = *end == ' ' ? end + 1 : end;
    }
    return (k >= 2 && *p == '\0') ? 0 : -1;
}

/* Act on the command line (without its \n). */
static void
conn_command(struct conn *c, char *line)
{
    uint64_t n, seed, rate;

    logv(c->srv, "conn %lu: %s", c->id, line);
    if (strcmp(line, "NAME") == 0) {
        conn_reply(c, "%s\n", c->srv->name);
    } else if (strcmp(line, "ECHO") == 0) {
        c->state = S_ECHO;
    } else if (strcmp(line, "SINK") == 0) {
        c->state = S_SINK;
        c->hash = LBD_TD_FNV_BASIS;
    } else if (strcmp(line, "HOLD") == 0) {
        c->state = S_HOLD;
        evbuffer_add_printf(bufferevent_get_output(c->bev), "OK\n");
    } else if (strncmp(line, "SOURCE ", 7) == 0
               && parse_source(line + 7, &n, &seed, &rate) == 0) {
        c->state = S_SOURCE;
        c->total = n;
        c->rate = rate;
        lbd_td_rng_init(&c->rng, seed);
        gettimeofday(&c->start, NULL);
        c->timer = evtimer_new(c->srv->base, source_tick, c);
        if (c->timer == NULL) {
            c->dead = 1;
            return;
        }
        source_fill(c);
    } else {
        conn_reply(c, "ERR\n");
    }
}

/* Feed input to the connection's current state. */
static void
conn_input(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (c->state == S_HTTP) {
        struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        size_t              len;
        char               *line;

        if (end.pos == -1) {
            if (evbuffer_get_length(in) > MAX_HEAD)
                c->dead = 1;
            return;
        }
        line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
        logv(c->srv, "conn %lu: %s", c->id, line ? line : "");
        free(line);
        evbuffer_drain(in, evbuffer_get_length(in));
        conn_reply(c, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                   c->srv->http_status);
        return;
    }
    if (c->state == S_CMD) {
        size_t len;
        char  *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

        if (line == NULL) {
            if (evbuffer_get_length(in) > MAX_CMD)
                conn_reply(c, "ERR\n");
            return;
        }
        if (len > MAX_CMD)
            conn_reply(c, "ERR\n");
        else
            conn_command(c, line);
        free(line);
        if (c->dead)
            return;
        /* What followed the command line belongs to the new state. */
    }

    switch (c->state) {
    case S_ECHO:
        evbuffer_add_buffer(out, in);
        if (evbuffer_get_length(out) > HIGH_WATER)
            bufferevent_disable(c->bev, EV_READ);   /* conn_write resumes */
        break;
    case S_SINK:
        c->count += sink_feed(in, UINT64_MAX, &c->hash);
        break;
    default:    /* SOURCE, HOLD, FLUSH, LINGER: input is not wanted */
        evbuffer_drain(in, evbuffer_get_length(in));
        break;
    }
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    conn_input(c);
    if (c->dead)
        conn_free(c);
}

/* Called when the output has drained to LOW_WATER or below. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    size_t       left = evbuffer_get_length(bufferevent_get_output(bev));

    switch (c->state) {
    case S_ECHO:
        if (c->eof && left == 0)
            conn_linger(c);
        else if (!c->eof)
            bufferevent_enable(bev, EV_READ);
        break;
    case S_SOURCE:
        source_fill(c);
        break;
    case S_FLUSH:
        if (left == 0)
            conn_linger(c);
        break;
    default:
        break;
    }
    if (c->dead)
        conn_free(c);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

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
    conn_on_eof(c);
    if (c->dead)
        conn_free(c);
}

/* The client half-closed: finish what the state owes it. */
static void
conn_on_eof(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    switch (c->state) {
    case S_CMD: {
        /* An unterminated last line is still a command. */
        size_t len = evbuffer_get_length(in);
        char   line[MAX_CMD + 1];

        if (len == 0) {
            c->dead = 1;
        } else if (len > MAX_CMD) {
            conn_reply(c, "ERR\n");
        } else {
            evbuffer_remove(in, line, len);
            line[len] = '\0';
            conn_command(c, line);
            if (!c->dead && c->state != S_CMD)
                conn_on_eof(c);
        }
        break;
    }
    case S_ECHO:
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_linger(c);
        break;      /* otherwise conn_write finishes */
    case S_SINK:
        conn_reply(c, "%" PRIu64 " %016" PRIx64 "\n", c->count, c->hash);
        break;
    case S_HOLD:
    case S_HTTP:
    case S_LINGER:
        c->dead = 1;
        break;
    default:        /* SOURCE, FLUSH: the client may still read */
        break;
    }
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
    struct srv  *s = arg;
    struct conn *c;

    if (s->http) {
        struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);

        if (bev == NULL) {
            evutil_closesocket(fd);
            return;
        }
        http_conn_start(s, bev, ++s->next_id);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->id = ++s->next_id;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    logv(s, "conn %lu accepted", c->id);
    bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, LOW_WATER, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (s->banner) {
        evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\n", s->name);
        c->state = S_ECHO;
    } else if (s->http_status != 0) {
        c->state = S_HTTP;
    }
}

/* -g, SIGUSR1: close the gate (stop accepting, fill the queue with a plug). */
static void
on_gate_close(evutil_socket_t sig, short what, void *arg)
{
    struct srv *s = arg;

    if (s->plug != -1)
        return;
    evconnlistener_disable(s->listener);
    s->plug = socket(s->ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->plug == -1 || (connect(s->plug, s->ai->ai_addr, s->ai->ai_addrlen) == -1
                          && errno != EINPROGRESS))
        fprintf(stderr, "lbd-testsrv: gate plug: %s\n", strerror(errno));
    logv(s, "gate closed");
}

/* -g, SIGUSR2: open the gate (the plug goes; accept again, the queue first). */
static void
on_gate_open(evutil_socket_t sig, short what, void *arg)
{
    struct srv *s = arg;

    if (s->plug == -1)
        return;
    close(s->plug);
    s->plug = -1;
    evconnlistener_enable(s->listener);
    logv(s, "gate open");
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();

    /* EMFILE and friends: keep going, the next accept may work. */
    fprintf(stderr, "lbd-testsrv: accept: %s\n", evutil_socket_error_to_string(err));
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Resolve "HOST:PORT" ("[v6]:PORT" too) into res.  0 or -1. */
static int
parse_listen(const char *text, struct addrinfo **res)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    char            host[256];
    const char     *colon = strrchr(text, ':');
    size_t          hl;
    int             rc;

    if (colon == NULL || colon == text || colon[1] == '\0')
        return -1;
    hl = (size_t) (colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, text, hl);
    host[hl] = '\0';
    rc = getaddrinfo(host, colon + 1, &hints, res);
    if (rc != 0) {
        fprintf(stderr, "lbd-testsrv: %s: %s\n", text, gai_strerror(rc));
        return -1;
    }
    return 0;
}

static int
write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fprintf(f, "%d\n", (int) getpid()) < 0 || fclose(f) != 0) {
        fprintf(stderr, "lbd-testsrv: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: lbd-testsrv -l HOST:PORT [-n NAME] [-b | -H STATUS | -h [-1] [-k MS]] "
            "[-x | -g] [-p PIDFILE] [-v]\n");
}

int
main(int argc, char **argv)
{
    struct srv              s = { .name = "testsrv", .plug = -1, .idle_ms = 60000 };
    const char             *listen_on = NULL, *pid_file = NULL;
    int                     blackhole = 0, gate = 0, http_opt = 0, c, fd = -1, one = 1, rc = 1;
    struct addrinfo        *ai = NULL;
    struct evconnlistener  *l = NULL;
    struct event           *sigterm = NULL, *sigint = NULL, *usr1 = NULL, *usr2 = NULL;
    struct rlimit           rl;

    while ((c = getopt(argc, argv, "l:n:bxgH:hk:1p:v")) != -1) {
        switch (c) {
        case 'l': listen_on = optarg; break;
        case 'n': s.name = optarg; break;
        case 'b': s.banner = 1; break;
        case 'x': blackhole = 1; break;
        case 'g': gate = 1; break;
        case 'H':
            s.http_status = atoi(optarg);
            if (s.http_status < 100 || s.http_status > 999) {
                fprintf(stderr, "lbd-testsrv: -H wants a status 100-999\n");
                return 2;
            }
            break;
        case 'h': s.http = 1; break;
        case '1': s.one_request = 1; http_opt = 1; break;
        case 'k':
            http_opt = 1;
            s.idle_ms = atoi(optarg);
            if (s.idle_ms < 1) {
                fprintf(stderr, "lbd-testsrv: -k wants milliseconds > 0\n");
                return 2;
            }
            break;
        case 'p': pid_file = optarg; break;
        case 'v': s.verbose = 1; break;
        default:  usage(); return 2;
        }
    }
    if (listen_on == NULL || optind != argc || (gate && blackhole)
        || s.banner + (s.http_status != 0) + s.http > 1
        || (http_opt && !s.http)) {
        usage();
        return 2;
    }
    if (parse_listen(listen_on, &ai) == -1) {
        fprintf(stderr, "lbd-testsrv: bad listen address \"%s\"\n", listen_on);
        return 2;
    }

    /* Thousands of connections: take every descriptor the hard limit allows. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);   /* -h -v: request lines, whole, as they come */

    s.base = event_base_new();
    if (s.base == NULL) {
        fprintf(stderr, "lbd-testsrv: event_base_new failed\n");
        goto out;
    }

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1
        || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1
        || listen(fd, blackhole || gate ? 0 : 4096) == -1) {
        fprintf(stderr, "lbd-testsrv: listen on %s: %s\n", listen_on, strerror(errno));
        goto out;
    }
    if (!blackhole) {
        /* Backlog 0: libevent leaves the socket as listen() made it; -1 would
         * listen() again with 128, and -g needs its queue of one. */
        l = evconnlistener_new(s.base, on_accept, &s, LEV_OPT_CLOSE_ON_FREE, gate ? 0 : -1, fd);
        if (l == NULL) {
            fprintf(stderr, "lbd-testsrv: evconnlistener_new failed\n");
            goto out;
        }
        fd = -1;    /* the listener owns it */
        evconnlistener_set_error_cb(l, on_accept_error);
        s.listener = l;
        s.ai = ai;
    }
    if (gate) {
        usr1 = evsignal_new(s.base, SIGUSR1, on_gate_close, &s);
        usr2 = evsignal_new(s.base, SIGUSR2, on_gate_open, &s);
        if (usr1 == NULL || usr2 == NULL
            || evsignal_add(usr1, NULL) == -1 || evsignal_add(usr2, NULL) == -1) {
            fprintf(stderr, "lbd-testsrv: cannot handle SIGUSR1 and SIGUSR2\n");
            goto out;
        }
    }

    sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
    sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
    if (sigterm == NULL || sigint == NULL
        || evsignal_add(sigterm, NULL) == -1 || evsignal_add(sigint, NULL) == -1) {
        fprintf(stderr, "lbd-testsrv: cannot handle signals\n");
        goto out;
    }
    if (pid_file != NULL && write_pid_file(pid_file) == -1)
        goto out;

    /* EVLOOP_NO_EXIT_ON_EMPTY: a blackhole has no events but signals. */
    event_base_loop(s.base, EVLOOP_NO_EXIT_ON_EMPTY);
    rc = 0;
    if (pid_file != NULL)
        unlink(pid_file);

out:
    /* Open connections are not freed: exit() closes their sockets. */
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    if (usr1 != NULL)
        event_free(usr1);
    if (usr2 != NULL)
        event_free(usr2);
    if (l != NULL)
        evconnlistener_free(l);
    if (fd != -1)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    /* The base is not freed: connections may still use it; exit cleans up. */
    return rc;
}
