/*
 * lbd_admin.c - the admin port, as a worker serves it.
 *
 * Every worker accepts on the admin listener (libevent's evhttp: this is
 * not the data path).  Requests under /api/ are relayed, unchanged but for
 * Connection and X-Forwarded-For, to the control process's unix socket and
 * its answer relayed back: to a worker the control process is one more
 * backend, and a worker never waits on SQLite.  Everything else (the status
 * page, /status.json, /metrics) is lbd_status.c's, from memory.
 *
 * The relay is asynchronous (a bufferevent to the socket); evhttp keeps the
 * client's request until we reply, and drops it safely if the client went
 * away meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lbd_log.h"
#include "lbd_status.h"
#include "lbd_worker.h"

#define LBD_ADMIN_MAX_HEADERS   16384
#define LBD_ADMIN_MAX_BODY      65536
#define LBD_ADMIN_MAX_ANSWER    (16 * 1024 * 1024)
#define LBD_ADMIN_TIMEOUT_S     30
/*
 * The control process may not listen yet (lbd just started, or the master
 * is respawning it): the relay tries its socket again every 50 ms for 5 s
 * before answering 503, so a client right after `service lbd start` is
 * served, not refused.
 */
#define LBD_ADMIN_RETRY_MS      50
#define LBD_ADMIN_RETRIES       100

/* One request on its way to the control process and back. */
struct relay {
    struct lbd_worker     *w;
    struct evhttp_request *req;
    struct bufferevent    *bev;
    struct evbuffer       *msg;       /* the request for the control process */
    struct event          *retry;     /* the next connect attempt */
    unsigned               attempts;
    unsigned               connected:1;
};

static void relay_connect(struct relay *r);

/*
 * Every request read gets exactly one answer, through here: a graceful
 * stop waits until each one was answered (lbd_worker_maybe_exit).
 */
static void
answered(struct lbd_worker *w)
{
    w->admin_inflight--;
    lbd_worker_maybe_exit(w);
}

/* Headers of the control process's answer that reach the client. */
static const char *const passed_headers[] = {
    "Content-Type", "Allow", "WWW-Authenticate", "Location", "X-LBD-Generation",
};

static void
reply_json(struct lbd_worker *w, struct evhttp_request *req, int status, const char *reason,
           const char *message)
{
    struct evbuffer *body = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (body != NULL)
        evbuffer_add_printf(body, "{\"error\":\"%s\"}\n", message);
    evhttp_send_reply(req, status, reason, body);
    if (body != NULL)
        evbuffer_free(body);
    answered(w);
}

static void
relay_free(struct relay *r)
{
    if (r->bev != NULL)
        bufferevent_free(r->bev);
    if (r->msg != NULL)
        evbuffer_free(r->msg);
    if (r->retry != NULL)
        event_free(r->retry);
    free(r);
}

static void
on_relay_retry(evutil_socket_t fd, short what, void *arg)
{
    relay_connect(arg);
}

/*
 * The control socket refused or is not there: try again shortly, or answer
 * 503 once the attempts are used up.  Frees r in that case.
 */
static void
relay_again(struct relay *r, int err)
{
    struct timeval tv = { 0, LBD_ADMIN_RETRY_MS * 1000 };

    if (r->bev != NULL) {
        bufferevent_free(r->bev);
        r->bev = NULL;
    }
    if (++r->attempts < LBD_ADMIN_RETRIES
        && (r->retry != NULL
            || (r->retry = evtimer_new(r->w->base, on_relay_retry, r)) != NULL)
        && evtimer_add(r->retry, &tv) == 0)
        return;
    lbd_log_err(LBD_LOG_ERROR, err, "admin: connect() to the control socket %s failed",
                r->w->cycle->conf->admin.socket_path);
    reply_json(r->w, r->req, 503, "Service Unavailable", "the control process is not available");
    relay_free(r);
}

/*
 * The control process answered and closed: parse the status line and the
 * headers, pass the body on.  0, or -1 when the answer is not HTTP.
 */
static int
relay_answer(struct relay *r)
{
    struct evbuffer *in = bufferevent_get_input(r->bev);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    char            *line;
    size_t           len;
    int              status;
    char             reason[64] = "";

    line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
    if (line == NULL || sscanf(line, "HTTP/1.%*d %d %63[^\r\n]", &status, reason) < 1
        || status < 100 || status > 599) {
        free(line);
        return -1;
    }
    free(line);
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL && len > 0) {
        char *colon = strchr(line, ':');

        if (colon != NULL) {
            char *value = colon + 1;

            *colon = '\0';
            while (*value == ' ' || *value == '\t')
                value++;
            for (size_t i = 0; i < sizeof(passed_headers) / sizeof(passed_headers[0]); i++)
                if (strcasecmp(line, passed_headers[i]) == 0)
                    evhttp_add_header(out, passed_headers[i], value);
        }
        free(line);
    }
    if (line == NULL)
        return -1;
    free(line);
    /* What is left in `in` is the body (the control process closes after it). */
    evhttp_send_reply(r->req, status, reason[0] ? reason : "OK", in);
    answered(r->w);
    return 0;
}

static void
relay_event(struct bufferevent *bev, short what, void *arg)
{
    struct relay *r = arg;

    if (what & BEV_EVENT_CONNECTED) {
        r->connected = 1;
        return;
    }
    if ((what & BEV_EVENT_ERROR) && !r->connected) {
        relay_again(r, EVUTIL_SOCKET_ERROR());
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (relay_answer(r) == -1)
            reply_json(r->w, r->req, 502, "Bad Gateway", "the control process sent a bad answer");
    } else if (what & BEV_EVENT_TIMEOUT) {
        reply_json(r->w, r->req, 504, "Gateway Timeout", "the control process did not answer in time");
    } else {
        lbd_log_err(LBD_LOG_ERROR, EVUTIL_SOCKET_ERROR(), "admin: relay to the control "
                    "process failed");
        reply_json(r->w, r->req, 503, "Service Unavailable", "the control process is not available");
    }
    relay_free(r);
}

static void
relay_read(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;

    if (evbuffer_get_length(bufferevent_get_input(bev)) > LBD_ADMIN_MAX_ANSWER) {
        reply_json(r->w, r->req, 502, "Bad Gateway", "the control process's answer is too large");
        relay_free(r);
    }
}

static void
relay_start(struct lbd_worker *w, struct evhttp_request *req)
{
    struct evkeyvalq   *in = evhttp_request_get_input_headers(req);
    struct evbuffer    *body = evhttp_request_get_input_buffer(req);
    struct relay       *r;
    struct evbuffer    *out;
    const char         *method, *v;
    char               *peer_host = NULL;
    ev_uint16_t         peer_port = 0;

    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:    method = "GET"; break;
    case EVHTTP_REQ_POST:   method = "POST"; break;
    case EVHTTP_REQ_PUT:    method = "PUT"; break;
    case EVHTTP_REQ_PATCH:  method = "PATCH"; break;
    case EVHTTP_REQ_DELETE: method = "DELETE"; break;
    case EVHTTP_REQ_HEAD:   method = "HEAD"; break;
    default:
        reply_json(w, req, 405, "Method Not Allowed", "method not allowed");
        return;
    }

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        reply_json(w, req, 503, "Service Unavailable", "out of memory");
        return;
    }
    r->w = w;
    r->req = req;
    if ((r->msg = evbuffer_new()) == NULL) {
        relay_free(r);
        reply_json(w, req, 503, "Service Unavailable", "out of memory");
        return;
    }
    /* HTTP/1.0 and one request per connection: the answer ends at EOF. */
    out = r->msg;
    evbuffer_add_printf(out, "%s %s HTTP/1.0\r\nHost: lbd\r\nContent-Length: %zu\r\n",
                        method, evhttp_request_get_uri(req), evbuffer_get_length(body));
    if ((v = evhttp_find_header(in, "Authorization")) != NULL)
        evbuffer_add_printf(out, "Authorization: %s\r\n", v);
    if ((v = evhttp_find_header(in, "Content-Type")) != NULL)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", v);
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer_host, &peer_port);
    if (peer_host != NULL)
        evbuffer_add_printf(out, "X-Forwarded-For: %s\r\n", peer_host);
    evbuffer_add(out, "\r\n", 2);
    evbuffer_add_buffer(out, body);
    relay_connect(r);
}

/* One attempt to hand r's request to the control process. */
static void
relay_connect(struct relay *r)
{
    struct lbd_worker  *w = r->w;
    struct sockaddr_un  sun = { .sun_family = AF_UNIX };
    struct timeval      tv = { LBD_ADMIN_TIMEOUT_S, 0 };

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", w->cycle->conf->admin.socket_path);
    r->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (r->bev == NULL) {
        reply_json(w, r->req, 503, "Service Unavailable", "out of memory");
        relay_free(r);
        return;
    }
    bufferevent_setcb(r->bev, relay_read, NULL, relay_event, r);
    bufferevent_set_timeouts(r->bev, &tv, &tv);
    /* A copy: a failed attempt must leave the request for the next one. */
    if (evbuffer_add(bufferevent_get_output(r->bev), evbuffer_pullup(r->msg, -1),
                     evbuffer_get_length(r->msg)) == -1) {
        reply_json(w, r->req, 503, "Service Unavailable", "out of memory");
        relay_free(r);
        return;
    }
    if (bufferevent_socket_connect(r->bev, (struct sockaddr *) &sun, sizeof(sun)) == -1) {
        relay_again(r, errno);
        return;
    }
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    struct lbd_worker *w = arg;
    const char        *uri = evhttp_request_get_uri(req);

    w->admin_inflight++;
    if (strncmp(uri, "/api/", 5) == 0 || strcmp(uri, "/api") == 0) {
        relay_start(w, req);
        return;
    }
    if (lbd_status_serve(w, req)) {
        answered(w);
        return;
    }
    reply_json(w, req, 404, "Not Found", "no such page");
}

int
lbd_admin_start(struct lbd_worker *w, int fd)
{
    w->admin = evhttp_new(w->base);
    if (w->admin == NULL)
        return -1;
    evhttp_set_max_headers_size(w->admin, LBD_ADMIN_MAX_HEADERS);
    evhttp_set_max_body_size(w->admin, LBD_ADMIN_MAX_BODY);
    evhttp_set_timeout(w->admin, LBD_ADMIN_TIMEOUT_S);
    evhttp_set_allowed_methods(w->admin, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT
                               | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(w->admin, on_request, w);
    /* The listener is the worker's copy of the master's socket; freeing closes it. */
    w->admin_bound = evhttp_accept_socket_with_handle(w->admin, fd);
    return w->admin_bound != NULL ? 0 : -1;
}

void
lbd_admin_stop(struct lbd_worker *w)
{
    if (w->admin != NULL && w->admin_bound != NULL) {
        evhttp_del_accept_socket(w->admin, w->admin_bound);
        w->admin_bound = NULL;
    }
}

void
lbd_admin_free(struct lbd_worker *w)
{
    if (w->admin != NULL) {
        evhttp_free(w->admin);
        w->admin = NULL;
        w->admin_bound = NULL;
    }
}
