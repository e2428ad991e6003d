/*
 * lbd_control.c - the control process.
 *
 * Forked and respawned by the master, it owns every write to the registry
 * that is not the config file's: the admin API (relayed by the workers over
 * a unix socket) and the fix-ups an edit from outside needs.  SQLite writes
 * fsync and may wait on a lock; that is why they happen here and never in a
 * worker's loop.
 *
 * Once a second it asks SQLite whether anyone else committed (PRAGMA
 * data_version: the sqlite3 CLI, or the master's config sync); when so, it
 * gives new rows a slot and publishes the registry's generation, so that an
 * edit made with sqlite3 reaches every worker within about a second, with
 * no signal.  The triggers have already written the events row.
 *
 * It is also the one writer of the events ring in shared memory: after
 * each of its commits, and on every poll for everyone else's, it copies the
 * new events rows there (lbd_stats_events_sync), for the status page.
 *
 * It also runs the active health checks (lbd_health.c) in the same loop:
 * probes are non-blocking, and a verdict's registry write is one short
 * transaction like an API change.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lbd_api.h"
#include "lbd_core.h"
#include "lbd_health.h"
#include "lbd_log.h"
#include "lbd_registry.h"
#include "lbd_shm.h"
#include "lbd_stats.h"

#define LBD_CONTROL_POLL_MS   1000
#define LBD_CONTROL_BUSY_MS   5000
/* The events table keeps this many rows; older ones are pruned hourly. */
#define LBD_EVENTS_KEEP       100000
#define LBD_PRUNE_EVERY_POLLS 3600

struct control {
    struct event_base   *base;
    struct lbd_cycle    *cycle;
    struct lbd_registry *reg;
    struct evhttp       *http;
    struct lbd_api_ctx   api;
    struct lbd_checker  *checks;
    int64_t              data_version;
    unsigned             polls;
};

static void
on_api(struct evhttp_request *req, void *arg)
{
    struct control          *c = arg;
    struct evbuffer         *in = evhttp_request_get_input_buffer(req);
    struct evkeyvalq        *out = evhttp_request_get_output_headers(req);
    struct lbd_api_request   ar = { 0 };
    struct lbd_api_response  res = { 0 };
    struct evbuffer         *body;
    char                     gen[32];

    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:    ar.method = "GET"; break;
    case EVHTTP_REQ_HEAD:   ar.method = "HEAD"; break;
    case EVHTTP_REQ_POST:   ar.method = "POST"; break;
    case EVHTTP_REQ_PUT:    ar.method = "PUT"; break;
    case EVHTTP_REQ_PATCH:  ar.method = "PATCH"; break;
    case EVHTTP_REQ_DELETE: ar.method = "DELETE"; break;
    default:                ar.method = "OTHER"; break;
    }
    ar.uri = evhttp_request_get_uri(req);
    ar.authorization = evhttp_find_header(evhttp_request_get_input_headers(req),
                                          "Authorization");
    ar.bodylen = evbuffer_get_length(in);
    ar.body = ar.bodylen ? (const char *) evbuffer_pullup(in, -1) : NULL;

    lbd_api_handle(&c->api, &ar, &res);
    if (res.generation != 0)
        lbd_stats_events_sync(c->reg);       /* the change's events, for /status.json */

    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Connection", "close");
    if (res.allow != NULL)
        evhttp_add_header(out, "Allow", res.allow);
    if (res.status == 401)
        evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"lbd\"");
    if (res.generation != 0) {
        snprintf(gen, sizeof(gen), "%llu", (unsigned long long) res.generation);
        evhttp_add_header(out, "X-LBD-Generation", gen);
    }
    body = evbuffer_new();
    if (body != NULL && res.body != NULL)
        evbuffer_add(body, res.body, strlen(res.body));
    evhttp_send_reply(req, res.status, NULL, body);
    if (body != NULL)
        evbuffer_free(body);
    free(res.body);
}

/*
 * Did someone else commit?  Then give their rows what lbd needs (a slot)
 * and make the workers load the result.
 */
static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct control *c = arg;
    int64_t         v;
    uint64_t        gen, before;
    char            err[512];

    if (c->polls++ % LBD_PRUNE_EVERY_POLLS == 0
        && lbd_registry_prune_events(c->reg, LBD_EVENTS_KEEP, err, sizeof(err)) != LBD_REG_OK)
        lbd_log(LBD_LOG_WARN, "registry: pruning old events failed: %s", err);
    /* Events others wrote (the master's config sync, sqlite3) reach the ring within a poll. */
    lbd_stats_events_sync(c->reg);
    if (lbd_registry_data_version(c->reg, &v) != LBD_REG_OK || v == c->data_version)
        return;
    c->data_version = v;
    if (lbd_registry_fixup(c->reg, &gen, err, sizeof(err)) != LBD_REG_OK) {
        lbd_log(LBD_LOG_ERROR, "registry: fixing up an outside edit failed: %s", err);
        if (lbd_registry_generation(c->reg, &gen) != LBD_REG_OK)
            return;
    }
    /* Our own fix-up commit moved data_version for nobody but others. */
    lbd_registry_data_version(c->reg, &c->data_version);
    before = lbd_shm_generation(lbd_shm);
    if (gen > before) {
        lbd_log(LBD_LOG_NOTICE, "registry: changed outside lbd, generation %llu -> %llu",
                (unsigned long long) before, (unsigned long long) gen);
        lbd_shm_publish(lbd_shm, gen);
    }
}

/* Bind the unix socket the workers relay to.  Returns the fd or -1 (logged). */
static int
control_socket(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int                fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        lbd_log(LBD_LOG_CRIT, "control socket path \"%s\" is too long", path);
        return -1;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "socket(AF_UNIX) failed");
        return -1;
    }
    /* A socket left by a previous control process (it is ours to replace). */
    if (unlink(path) == -1 && errno != ENOENT)
        lbd_log_err(LBD_LOG_WARN, errno, "unlink(\"%s\") failed", path);
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) == -1 || listen(fd, 511) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "cannot listen on the control socket \"%s\"", path);
        close(fd);
        return -1;
    }
    /* The workers run as the same user; nobody else has business here. */
    if (chmod(path, 0660) == -1)
        lbd_log_err(LBD_LOG_WARN, errno, "chmod(\"%s\") failed", path);
    return fd;
}

static void
on_signal(evutil_socket_t signo, short what, void *arg)
{
    struct control *c = arg;

    if (signo == SIGUSR1) {
        if (lbd_log_reopen((uid_t) -1, (gid_t) -1) == -1)
            lbd_log_err(LBD_LOG_ERROR, errno, "reopening the error log failed");
        return;
    }
    /* QUIT or TERM: an API request is short; stop now. */
    event_base_loopbreak(c->base);
}

void
lbd_control_run(struct lbd_cycle *cycle)
{
    static const int signals[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1 };
    struct control   c = { .cycle = cycle };
    struct event    *sigev[sizeof(signals) / sizeof(signals[0])] = { 0 };
    struct event    *poll;
    struct timeval   tv = { LBD_CONTROL_POLL_MS / 1000, (LBD_CONTROL_POLL_MS % 1000) * 1000 };
    const struct lbd_conf *conf = cycle->conf;
    pid_t            master = getppid();
    char             err[512];
    int              fd;

    lbd_proc_title("lbd: control process");
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* The listeners are the workers' business. */
    lbd_listeners_close(cycle);

    if (lbd_proc_drop_privileges(conf) == -1)
        exit(2);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != master)
        exit(0);

    c.base = event_base_new();
    if (c.base == NULL)
        exit(2);
    c.reg = lbd_registry_open(conf->registry_path, 0, LBD_CONTROL_BUSY_MS, err, sizeof(err));
    if (c.reg == NULL) {
        lbd_log(LBD_LOG_CRIT, "control: %s", err);
        exit(2);
    }
    c.api.reg = c.reg;
    c.api.token = conf->admin.token;

    fd = control_socket(conf->admin.socket_path);
    c.http = evhttp_new(c.base);
    if (fd == -1 || c.http == NULL)
        exit(2);
    evhttp_set_max_body_size(c.http, LBD_API_MAX_BODY + 1);
    evhttp_set_timeout(c.http, 30);
    evhttp_set_allowed_methods(c.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT
                               | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(c.http, on_api, &c);
    if (evhttp_accept_socket(c.http, fd) == -1) {
        lbd_log(LBD_LOG_CRIT, "control: cannot serve the control socket");
        exit(2);
    }

    poll = event_new(c.base, -1, EV_PERSIST, on_poll, &c);
    if (poll == NULL || evtimer_add(poll, &tv) == -1)
        exit(2);
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        sigev[i] = evsignal_new(c.base, signals[i], on_signal, &c);
        if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
            exit(2);
    }
    /* An edit made while no control process ran (a respawn) is caught here. */
    c.data_version = -1;
    on_poll(-1, 0, &c);
    /* After the fix-up: every backend has its slot, and each starts from its slot's verdict. */
    c.checks = lbd_checker_start(c.base, conf, c.reg);
    if (c.checks == NULL)
        exit(2);
    lbd_debug("control process running on %s", conf->admin.socket_path);

    event_base_dispatch(c.base);

    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        event_free(sigev[i]);
    event_free(poll);
    lbd_checker_free(c.checks);
    evhttp_free(c.http);
    lbd_registry_close(c.reg);
    event_base_free(c.base);
    exit(0);
}
