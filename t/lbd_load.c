/*
 * lbd_load.c - lbd-load, a bounded HTTP/1.1 load generator for the demo
 * and the tests.
 *
 *   lbd-load -c CONNS -r RATE -d SECONDS [-n MAX_REQUESTS] [-i SECS]
 *            [-p PATH]... http://HOST:PORT[/PATH]
 *
 * -c CONNS   keepalive connections, each with at most one request in flight.
 * -r RATE    requests per second over all connections (a token bucket
 *            filled every TICK_MS); 0: each connection as fast as it can.
 * -d SECONDS stop sending after this long (required: the load is bounded).
 * -n MAX     stop sending after MAX requests, if that comes first.
 * -i SECS    print a line of the last SECS' counts every SECS.
 * -p PATH    request these paths in turn (repeat -p); default: the URL's.
 *
 * HOST is a numeric loopback address (127.0.0.0/8 or [::1]): lbd-load
 * refuses to load anything else.  After the last request it waits up to
 * GRACE_MS for the responses in flight, counts those that did not come as
 * errors and prints one line (here folded):
 *
 *   lbd-load: total 20.0 s, 4000 requests, 200/s, 2xx=3990 3xx=0 4xx=0 5xx=10
 *     errors=0 connect_fail=0 | backend-1=1330 backend-2=1335 backend-3=1335
 *
 * responses by status class; errors: requests that got no whole response
 * (reset, closed, malformed, or not answered in time), so that requests =
 * responses + errors; connect_fail: connects that failed; and responses
 * by their X-Server field, "other" for none (lbd's own answers) or past
 * MAX_SERVERS names.  The -i lines have the same fields.
 *
 * A connection that closes is opened again at once; one that fails (a
 * refused connect, a reset, a cut or malformed response) after a back-off,
 * BACKOFF_MIN_MS doubling to BACKOFF_MAX_MS, so a backend or lbd going
 * away costs errors, never the run.  SIGINT and SIGTERM stop it at once
 * with the same line, plus in_flight=N: the requests still unanswered.
 * Exit status 0; 1 when it could not start, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define TICK_MS         10
#define GRACE_MS        2000
#define BACKOFF_MIN_MS  50
#define BACKOFF_MAX_MS  1000
#define HEAD_MAX        16384      /* a longer response head is an error */
#define LINE_MAX_LEN    4096       /* a chunk-size or trailer line */
#define MAX_PATHS       64
#define MAX_SERVERS     32         /* X-Server names told apart; more count as "other" */

struct counts {
    uint64_t requests;
    uint64_t class[6];             /* responses by status / 100; [0] unused */
    uint64_t errors;
    uint64_t connect_fail;
    uint64_t server[MAX_SERVERS];  /* by index into load.names */
};

enum cstate { C_CONNECTING, C_IDLE, C_BUSY, C_BACKOFF };
enum rstate { R_HEAD, R_LENGTH, R_CHUNK_SIZE, R_CHUNK_DATA, R_CHUNK_END, R_TRAILER, R_UNTIL_CLOSE };

struct conn {
    struct load        *ld;
    struct bufferevent *bev;
    struct event       *timer;     /* the back-off */
    enum cstate         state;
    int                 backoff_ms;
    unsigned long       answered;  /* responses on this connection */
    /* The response being read. */
    enum rstate         rs;
    uint64_t            left;      /* R_LENGTH, R_CHUNK_DATA: body bytes to come */
    int                 status;
    int                 server;    /* index into load.names */
    int                 close_after;
};

struct load {
    struct event_base      *base;
    struct sockaddr_storage addr;
    socklen_t               addrlen;
    char                    authority[128];    /* the Host field */
    const char             *paths[MAX_PATHS];
    int                     npaths, next_path;
    int                     next_conn;          /* where dispatch() looks first */
    double                  rate, tokens, burst;
    uint64_t                max_requests;       /* 0: no limit */
    struct timespec         start, last_tick, last_report;
    int                     stopping;           /* no more requests */
    int                     interrupted;        /* by a signal */
    struct conn            *conns;
    int                     nconns;
    const char             *names[MAX_SERVERS]; /* names[0] is "other" */
    int                     nnames;
    struct counts           total, interval;
};

static void conn_open(struct conn *c);

/* secs as a struct timeval, for evtimer_add(ev, &tv(secs)). */
#define tv(secs)    ((struct timeval) { (time_t) (secs), \
                                        (suseconds_t) (((secs) - (time_t) (secs)) * 1e6) })

static double
since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

/* The index of X-Server value v[0..len) in ld->names, added if new; 0 ("other") when full. */
static int
server_index(struct load *ld, const char *v, size_t len)
{
    for (int i = 1; i < ld->nnames; i++)
        if (strlen(ld->names[i]) == len && memcmp(ld->names[i], v, len) == 0)
            return i;
    if (ld->nnames == MAX_SERVERS)
        return 0;
    ld->names[ld->nnames] = strndup(v, len);
    return ld->names[ld->nnames] == NULL ? 0 : ld->nnames++;
}

/* One line: counts over secs seconds, servers sorted by name; unanswered if not 0. */
static void
report(struct load *ld, const char *label, const struct counts *k, double secs, int unanswered)
{
    int order[MAX_SERVERS], n = 0;

    printf("lbd-load: %s %.1f s, %" PRIu64 " requests, %.0f/s, 2xx=%" PRIu64 " 3xx=%" PRIu64
           " 4xx=%" PRIu64 " 5xx=%" PRIu64 " errors=%" PRIu64 " connect_fail=%" PRIu64 " |",
           label, secs, k->requests, secs > 0 ? (double) k->requests / secs : 0.0,
           k->class[2], k->class[3], k->class[4], k->class[5], k->errors, k->connect_fail);
    for (int i = 1; i < ld->nnames; i++) {
        int j = n++;

        while (j > 0 && strcmp(ld->names[order[j - 1]], ld->names[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int j = 0; j < n; j++)
        printf(" %s=%" PRIu64, ld->names[order[j]], k->server[order[j]]);
    if (k->server[0] > 0 || n == 0)
        printf(" other=%" PRIu64, k->server[0]);
    if (unanswered > 0)
        printf(" in_flight=%d", unanswered);
    putchar('\n');
}

/* Count one event in the run's totals and in the current -i interval's. */
#define COUNT(ld, field)    ((ld)->total.field++, (ld)->interval.field++)

/* Requests sent and not answered yet. */
static int
in_flight(const struct load *ld)
{
    int n = 0;

    for (int i = 0; i < ld->nconns; i++)
        n += ld->conns[i].state == C_BUSY;
    return n;
}

static void
send_request(struct conn *c)
{
    struct load *ld = c->ld;
    const char  *path = ld->paths[ld->next_path];

    ld->next_path = (ld->next_path + 1) % ld->npaths;
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lbd-load\r\n\r\n",
                        path, ld->authority);
    c->state = C_BUSY;
    c->rs = R_HEAD;
    COUNT(ld, requests);
    if (ld->max_requests > 0 && ld->total.requests >= ld->max_requests)
        ld->stopping = 1;
}

/*
 * -r: send on idle connections while the bucket holds a token, taking them
 * in turn from where the last call stopped so that all of them are used.
 */
static void
dispatch(struct load *ld)
{
    for (int n = 0; n < ld->nconns && ld->tokens >= 1 && !ld->stopping; n++) {
        struct conn *c = &ld->conns[ld->next_conn];

        ld->next_conn = (ld->next_conn + 1) % ld->nconns;
        if (c->state == C_IDLE) {
            ld->tokens -= 1;
            send_request(c);
        }
    }
}

/* The connection is idle: at rate 0 it sends at once, else it waits for a token. */
static void
conn_idle(struct conn *c)
{
    c->state = C_IDLE;
    if (c->ld->rate == 0 && !c->ld->stopping)
        send_request(c);
}

/* Once the run is over and no answer is awaited, the loop ends. */
static void
settle(struct load *ld)
{
    if (ld->stopping && in_flight(ld) == 0)
        event_base_loopbreak(ld->base);
}

/* The connection failed or closed: open it again, after a back-off if it failed. */
static void
conn_restart(struct conn *c, int failed)
{
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (!failed) {
        conn_open(c);
        return;
    }
    c->backoff_ms = c->backoff_ms == 0 ? BACKOFF_MIN_MS
                    : c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    c->state = C_BACKOFF;
    evtimer_add(c->timer, &tv(c->backoff_ms / 1000.0));
}

/* A whole response came. */
static void
conn_done(struct conn *c)
{
    struct load *ld = c->ld;

    COUNT(ld, class[c->status / 100]);
    COUNT(ld, server[c->server]);
    c->answered++;
    c->backoff_ms = 0;
    if (c->close_after)
        conn_restart(c, 0);
    else
        conn_idle(c);
}

/* Whether field line[0..len) is "name: value"; *v, *vlen: the value, trimmed. */
static int
field(const char *line, size_t len, const char *name, const char **v, size_t *vlen)
{
    size_t n = strlen(name);

    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return 0;
    line += n + 1, len -= n + 1;
    while (len > 0 && (*line == ' ' || *line == '\t'))
        line++, len--;
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    *v = line, *vlen = len;
    return 1;
}

/* Parse a response head (NUL-terminated, lines end in CRLF).  0, or -1 if it is not one. */
static int
parse_head(struct conn *c, char *head)
{
    char       *line = strstr(head, "\r\n"), *end;
    int         chunked = 0, has_length = 0, v10 = strncmp(head, "HTTP/1.0 ", 9) == 0;
    const char *v;
    size_t      vlen;

    if ((strncmp(head, "HTTP/1.1 ", 9) != 0 && !v10) || line == NULL)
        return -1;
    c->status = (int) strtol(head + 9, &end, 10);
    if (end != head + 12 || c->status < 100 || c->status > 599)
        return -1;
    c->server = 0;
    c->close_after = v10;
    for (line += 2; (end = strstr(line, "\r\n")) != NULL && end > line; line = end + 2) {
        size_t len = (size_t) (end - line);

        if (field(line, len, "X-Server", &v, &vlen))
            c->server = server_index(c->ld, v, vlen);
        else if (field(line, len, "Content-Length", &v, &vlen))
            has_length = 1, c->left = strtoull(v, NULL, 10);
        else if (field(line, len, "Transfer-Encoding", &v, &vlen))
            chunked = memmem(v, vlen, "chunked", 7) != NULL;
        else if (field(line, len, "Connection", &v, &vlen))
            c->close_after = memmem(v, vlen, "close", 5) != NULL
                             || (v10 && memmem(v, vlen, "keep-alive", 10) == NULL);
    }
    if (c->status < 200 || c->status == 204 || c->status == 304)
        c->rs = R_LENGTH, c->left = 0;
    else if (chunked)
        c->rs = R_CHUNK_SIZE;
    else if (has_length)
        c->rs = R_LENGTH;
    else
        c->rs = R_UNTIL_CLOSE, c->close_after = 1;
    return 0;
}

/*
 * Read what came of the response in flight.  Returns 1 when it is whole,
 * 0 when more must come, -1 on a malformed response.
 */
static int
read_response(struct conn *c, struct evbuffer *in)
{
    for (;;) {
        size_t have = evbuffer_get_length(in), n;

        switch (c->rs) {
        case R_HEAD: {
            struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            char                head[HEAD_MAX + 1];

            if (end.pos == -1)
                return have > HEAD_MAX ? -1 : 0;
            if ((size_t) end.pos + 4 > HEAD_MAX)
                return -1;
            n = (size_t) end.pos + 4;
            evbuffer_remove(in, head, n);
            head[n] = '\0';
            if (parse_head(c, head) == -1)
                return -1;
            if (c->status < 200)    /* interim (100 Continue): the real one follows */
                c->rs = R_HEAD;
            break;
        }
        case R_LENGTH:
        case R_CHUNK_DATA:
            n = have < c->left ? have : (size_t) c->left;
            evbuffer_drain(in, n);
            c->left -= n;
            if (c->left > 0)
                return 0;
            if (c->rs == R_LENGTH)
                return 1;
            c->rs = R_CHUNK_END;
            break;
        case R_UNTIL_CLOSE:
            evbuffer_drain(in, have);
            return 0;               /* the close completes it */
        case R_CHUNK_SIZE:
        case R_CHUNK_END:
        case R_TRAILER: {
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT), *end;
            int   bad = 0, whole = 0;

            if (line == NULL)
                return have > LINE_MAX_LEN ? -1 : 0;
            if (c->rs == R_CHUNK_SIZE) {
                c->left = strtoull(line, &end, 16);
                bad = end == line;
                c->rs = c->left > 0 ? R_CHUNK_DATA : R_TRAILER;
            } else if (c->rs == R_CHUNK_END) {
                bad = n != 0;       /* the CRLF that ends a chunk's data */
                c->rs = R_CHUNK_SIZE;
            } else {
                whole = n == 0;     /* the empty line after the trailer fields */
            }
            free(line);
            if (bad || whole)
                return bad ? -1 : 1;
            break;
        }
        }
    }
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    int          rc;

    if (c->state != C_BUSY) {       /* bytes nobody asked for: start afresh */
        conn_restart(c, 1);
        return;
    }
    rc = read_response(c, bufferevent_get_input(bev));
    if (rc == 1) {
        conn_done(c);
    } else if (rc == -1) {
        COUNT(c->ld, errors);
        conn_restart(c, 1);
    }
    settle(c->ld);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct load *ld = c->ld;

    if (what & BEV_EVENT_CONNECTED) {
        conn_idle(c);
        return;
    }
    /* EOF or error. */
    if (c->state == C_CONNECTING) {
        COUNT(ld, connect_fail);
        conn_restart(c, 1);
    } else if (c->state == C_BUSY && c->rs == R_UNTIL_CLOSE && (what & BEV_EVENT_EOF)) {
        c->close_after = 1;
        conn_done(c);
    } else if (c->state == C_BUSY) {
        COUNT(ld, errors);
        conn_restart(c, 1);
    } else {
        /* An idle keepalive connection closed: a server that closes them
         * before any answer gets the back-off, not a busy loop. */
        conn_restart(c, c->answered == 0);
    }
    settle(ld);
}

static void
conn_open(struct conn *c)
{
    struct load *ld = c->ld;

    c->state = C_CONNECTING;
    c->answered = 0;
    c->bev = bufferevent_socket_new(ld->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        fprintf(stderr, "lbd-load: bufferevent_socket_new failed\n");
        exit(1);
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *) &ld->addr, (int) ld->addrlen) == -1) {
        COUNT(ld, connect_fail);
        conn_restart(c, 1);
    }
}

static void
on_backoff(evutil_socket_t fd, short what, void *arg)
{
    conn_open(arg);
}

/* -r: every TICK_MS, fill the bucket and send. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct load *ld = arg;
    double       dt = since(&ld->last_tick);

    clock_gettime(CLOCK_MONOTONIC, &ld->last_tick);
    ld->tokens += ld->rate * dt;
    if (ld->tokens > ld->burst)
        ld->tokens = ld->burst;
    dispatch(ld);
}

static void
on_interval(evutil_socket_t fd, short what, void *arg)
{
    struct load *ld = arg;
    char         label[32];

    snprintf(label, sizeof(label), "at %.0f s: last", since(&ld->start));
    report(ld, label, &ld->interval, since(&ld->last_report), 0);
    clock_gettime(CLOCK_MONOTONIC, &ld->last_report);
    memset(&ld->interval, 0, sizeof(ld->interval));
}

/* -d: no more requests; the answers in flight have GRACE_MS more. */
static void
on_end(evutil_socket_t fd, short what, void *arg)
{
    struct load *ld = arg;

    ld->stopping = 1;
    settle(ld);
}

/* The grace is over too: what was not answered by now is an error. */
static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
    struct load *ld = arg;

    for (int i = 0; i < ld->nconns; i++)
        if (ld->conns[i].state == C_BUSY)
            COUNT(ld, errors);
    event_base_loopbreak(ld->base);
}

/* SIGINT, SIGTERM: stop now; the answers awaited show as in_flight. */
static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
    struct load *ld = arg;

    ld->interrupted = 1;
    event_base_loopbreak(ld->base);
}

/*
 * http://HOST:PORT[/PATH] (HOST an IPv4 or a bracketed IPv6 literal) with a
 * loopback HOST: fill ld->addr and ld->authority, point *path at PATH.
 * 0, or -1 saying why.
 */
static int
parse_url(struct load *ld, const char *url, const char **path)
{
    struct addrinfo  hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai;
    const char      *auth = url + 7;
    size_t           alen = strcspn(auth, "/");
    char             host[64], port[8];
    int              v6;

    *path = auth[alen] == '/' ? auth + alen : "/";
    v6 = strncmp(url, "http://[", 8) == 0;
    if (strncmp(url, "http://", 7) != 0
        || sscanf(auth, v6 ? "[%63[^]/]]:%7[0-9]" : "%63[^:/]:%7[0-9]", host, port) != 2
        /* nothing else before the path: the authority as parsed is all of it */
        || (size_t) snprintf(ld->authority, sizeof(ld->authority), v6 ? "[%s]:%s" : "%s:%s",
                             host, port) != alen
        || strncmp(ld->authority, auth, alen) != 0
        || getaddrinfo(host, port, &hints, &ai) != 0)
        return fprintf(stderr, "lbd-load: %s: not http://ADDRESS:PORT/...\n", url), -1;
    memcpy(&ld->addr, ai->ai_addr, ai->ai_addrlen);
    ld->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (ld->addr.ss_family == AF_INET
        ? (ntohl(((struct sockaddr_in *) &ld->addr)->sin_addr.s_addr) >> 24) != 127
        : !IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *) &ld->addr)->sin6_addr))
        return fprintf(stderr, "lbd-load: %s: loopback only (127.0.0.0/8 or [::1])\n", host), -1;
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: lbd-load -c CONNS -r RATE -d SECONDS [-n MAX_REQUESTS] [-i SECS] "
            "[-p PATH]... http://127.0.0.1:PORT/PATH\n");
}

int
main(int argc, char **argv)
{
    static struct load ld = { .nnames = 1, .names = { "other" } };
    double             duration = 0, every = 0;
    const char        *url_path;
    struct event      *tick, *end, *grace, *interval, *sigint, *sigterm;
    int                c;

    while ((c = getopt(argc, argv, "c:r:d:n:i:p:")) != -1) {
        switch (c) {
        case 'c': ld.nconns = atoi(optarg); break;
        case 'r': ld.rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'n': ld.max_requests = strtoull(optarg, NULL, 10); break;
        case 'i': every = atof(optarg); break;
        case 'p':
            if (ld.npaths == MAX_PATHS || optarg[0] != '/') {
                fprintf(stderr, "lbd-load: -p wants a path starting with / (at most %d)\n", MAX_PATHS);
                return 2;
            }
            ld.paths[ld.npaths++] = optarg;
            break;
        default: usage(); return 2;
        }
    }
    if (optind != argc - 1 || ld.nconns < 1 || ld.nconns > 10000 || ld.rate < 0
        || duration <= 0 || every < 0) {
        usage();
        return 2;
    }
    if (parse_url(&ld, argv[optind], &url_path) == -1)
        return 2;
    if (ld.npaths == 0)
        ld.paths[ld.npaths++] = url_path;
    /* A tenth of a second's worth: connections all busy for long must not
     * turn into a burst once they are free. */
    ld.burst = ld.rate / 10 > 1 ? ld.rate / 10 : 1;

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    ld.base = event_base_new();
    ld.conns = calloc((size_t) ld.nconns, sizeof(*ld.conns));
    if (ld.base == NULL || ld.conns == NULL) {
        fprintf(stderr, "lbd-load: out of memory\n");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &ld.start);
    ld.last_tick = ld.last_report = ld.start;

    tick = event_new(ld.base, -1, EV_PERSIST, on_tick, &ld);
    end = evtimer_new(ld.base, on_end, &ld);
    grace = evtimer_new(ld.base, on_grace, &ld);
    sigint = evsignal_new(ld.base, SIGINT, on_signal, &ld);
    sigterm = evsignal_new(ld.base, SIGTERM, on_signal, &ld);
    interval = event_new(ld.base, -1, EV_PERSIST, on_interval, &ld);
    if (tick == NULL || end == NULL || grace == NULL || sigint == NULL || sigterm == NULL
        || interval == NULL) {
        fprintf(stderr, "lbd-load: cannot create events\n");
        return 1;
    }
    if (ld.rate > 0)
        evtimer_add(tick, &tv(TICK_MS / 1000.0));
    if (every > 0)
        evtimer_add(interval, &tv(every));
    evtimer_add(end, &tv(duration));
    evtimer_add(grace, &tv(duration + GRACE_MS / 1000.0));
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);

    for (int i = 0; i < ld.nconns; i++) {
        ld.conns[i].ld = &ld;
        ld.conns[i].timer = evtimer_new(ld.base, on_backoff, &ld.conns[i]);
        if (ld.conns[i].timer == NULL) {
            fprintf(stderr, "lbd-load: cannot create events\n");
            return 1;
        }
        conn_open(&ld.conns[i]);
    }

    event_base_dispatch(ld.base);

    report(&ld, "total", &ld.total, since(&ld.start), ld.interrupted ? in_flight(&ld) : 0);
    /* The connections are not freed: exit closes their sockets. */
    event_free(tick);
    event_free(end);
    event_free(grace);
    event_free(interval);
    event_free(sigint);
    event_free(sigterm);
    return 0;
}
