/*
 * lbd_master.c - the master process.
 *
 * The master does no network I/O.  It binds the listeners, forks the
 * workers, and then sleeps in sigsuspend(): every action it takes is the
 * answer to a signal (a child died, an operator asked for a reload, a stop,
 * a log reopen) or to its one timer (a delayed respawn, a stop deadline).
 * Signals stay blocked except inside sigsuspend(), so none is lost and the
 * handlers only set flags.
 *
 * It runs no event loop on purpose: a libevent base would be inherited by
 * every fork, and a child touching the shared epoll instance would change the
 * master's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lbd_access_log.h"
#include "lbd_core.h"
#include "lbd_log.h"
#include "lbd_registry.h"
#include "lbd_shm.h"

/* A worker that dies sooner than this after its start counts as a crash loop. */
#define LBD_QUICK_DEATH_MS   1000
#define LBD_RESPAWN_MIN_MS    100
#define LBD_RESPAWN_MAX_MS  10000
/* After a fast stop, or past the graceful budget, children get SIGKILL. */
#define LBD_KILL_GRACE_MS    5000

enum lbd_child_kind {
    LBD_CHILD_WORKER = 0,
    LBD_CHILD_CONTROL,
};

struct lbd_child {
    pid_t    pid;           /* 0: the slot waits for a respawn */
    enum lbd_child_kind kind;
    unsigned slot;          /* worker number within its generation */
    int      wslot;         /* a worker's slot in shared memory, or -1 */
    unsigned generation;
    int      retiring;      /* asked to stop (old generation or stop) */
    int64_t  started_ms;
    unsigned quick_deaths;  /* consecutive deaths within LBD_QUICK_DEATH_MS */
    int64_t  respawn_at_ms; /* when pid == 0 */
};

static volatile sig_atomic_t sig_child, sig_alarm, sig_reload, sig_reopen,
                             sig_quit, sig_terminate;

static struct lbd_child *children;
static unsigned          nchildren, children_cap;
static int               stopping;      /* 0, SIGQUIT or SIGTERM */
static int64_t           kill_at_ms;    /* 0 or when to SIGKILL the rest */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int signo)
{
    switch (signo) {
    case SIGCHLD: sig_child = 1; break;
    case SIGALRM: sig_alarm = 1; break;
    case SIGHUP:  sig_reload = 1; break;
    case SIGUSR1: sig_reopen = 1; break;
    case SIGQUIT: sig_quit = 1; break;
    case SIGTERM:
    case SIGINT:  sig_terminate = 1; break;
    }
}

static const int master_signals[] = {
    SIGCHLD, SIGALRM, SIGHUP, SIGUSR1, SIGQUIT, SIGTERM, SIGINT,
};

static int
setup_signals(sigset_t *blocked)
{
    struct sigaction sa;

    sigemptyset(blocked);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(master_signals) / sizeof(master_signals[0]); i++) {
        sigaddset(blocked, master_signals[i]);
        if (sigaction(master_signals[i], &sa, NULL) == -1) {
            lbd_log_err(LBD_LOG_CRIT, errno, "sigaction(%d) failed", master_signals[i]);
            return -1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, blocked, NULL) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "sigprocmask() failed");
        return -1;
    }
    return 0;
}

/* Put the signal handling back to the defaults in a forked child. */
static void
reset_signals(void)
{
    sigset_t none;

    for (size_t i = 0; i < sizeof(master_signals) / sizeof(master_signals[0]); i++)
        signal(master_signals[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static struct lbd_child *
child_add(void)
{
    for (unsigned i = 0; i < nchildren; i++)
        if (children[i].pid == -1)
            return &children[i];
    if (nchildren == children_cap) {
        unsigned          cap = children_cap ? children_cap * 2 : 16;
        struct lbd_child *c = realloc(children, cap * sizeof(*c));
        if (c == NULL)
            return NULL;
        children = c;
        children_cap = cap;
    }
    return &children[nchildren++];
}

static unsigned
children_alive(void)
{
    unsigned n = 0;

    for (unsigned i = 0; i < nchildren; i++)
        n += children[i].pid > 0;
    return n;
}

static const char *
kind_name(const struct lbd_child *c)
{
    return c->kind == LBD_CHILD_CONTROL ? "control" : "worker";
}

/* Fork child c (a worker numbered slot, or the control process) of cycle.  0 or -1 (logged). */
static int
spawn_child(struct lbd_cycle *cycle, struct lbd_child *c, unsigned slot)
{
    pid_t pid;
    int   wslot = -1;

    if (c->kind == LBD_CHILD_WORKER && (wslot = lbd_shm_worker_claim(lbd_shm)) == -1) {
        lbd_log(LBD_LOG_CRIT, "no free worker slot in shared memory (%d in use)",
                LBD_SHM_WORKERS);
        return -1;
    }
    pid = fork();
    if (pid == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "fork() failed");
        if (wslot != -1)
            lbd_shm_worker_release(lbd_shm, wslot);
        return -1;
    }
    if (pid == 0) {
        enum lbd_child_kind kind = c->kind;

        reset_signals();
        free(children);
        if (kind == LBD_CHILD_CONTROL)
            lbd_control_run(cycle);
        lbd_worker_run(cycle, slot, wslot);
    }
    if (wslot != -1)
        lbd_shm_worker_set_pid(lbd_shm, wslot, pid);
    c->wslot = wslot;
    c->pid = pid;
    c->slot = slot;
    c->generation = cycle->generation;
    c->retiring = 0;
    c->started_ms = now_ms();
    c->respawn_at_ms = 0;
    lbd_log(LBD_LOG_NOTICE, "started %s process %d", kind_name(c), (int) pid);
    return 0;
}

/* Start a control process, or the workers, of cycle.  0 or -1 (logged). */
static int
spawn_children(struct lbd_cycle *cycle, enum lbd_child_kind kind)
{
    int n = kind == LBD_CHILD_CONTROL ? 1 : cycle->conf->worker_processes;

    for (int i = 0; i < n; i++) {
        struct lbd_child *c = child_add();

        if (c == NULL) {
            lbd_log_err(LBD_LOG_CRIT, errno, "no memory for the child table");
            return -1;
        }
        c->kind = kind;
        c->quick_deaths = 0;
        c->wslot = -1;
        if (spawn_child(cycle, c, (unsigned) i) == -1) {
            c->pid = 0;                     /* retried by the respawn timer */
            c->generation = cycle->generation;
            c->retiring = 0;
            c->respawn_at_ms = now_ms() + LBD_RESPAWN_MIN_MS;
        }
    }
    return 0;
}

static void
signal_children(int signo, int only_retiring)
{
    for (unsigned i = 0; i < nchildren; i++) {
        if (children[i].pid <= 0 || (only_retiring && !children[i].retiring))
            continue;
        if (kill(children[i].pid, signo) == -1 && errno != ESRCH)
            lbd_log_err(LBD_LOG_ERROR, errno, "kill(%d, %d) failed",
                        (int) children[i].pid, signo);
    }
}

/* Reap every child that exited and decide whether it comes back. */
static void
reap_children(const struct lbd_cycle *cycle)
{
    int   status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct lbd_child *c = NULL;

        for (unsigned i = 0; i < nchildren; i++)
            if (children[i].pid == pid)
                c = &children[i];
        if (c == NULL)
            continue;
        if (c->wslot != -1) {
            /* Its connections died with it: so does its share of the counts. */
            lbd_shm_worker_release(lbd_shm, c->wslot);
            c->wslot = -1;
        }

        int crashed = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
        if (WIFSIGNALED(status))
            lbd_log(c->retiring ? LBD_LOG_NOTICE : LBD_LOG_CRIT,
                    "%s process %d exited on signal %d%s", kind_name(c), (int) pid,
                    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
        else
            lbd_log(crashed && !c->retiring ? LBD_LOG_CRIT : LBD_LOG_NOTICE,
                    "%s process %d exited with code %d", kind_name(c), (int) pid,
                    WEXITSTATUS(status));

        if (c->retiring || stopping || c->generation != cycle->generation) {
            c->pid = -1;                        /* the slot is free */
            continue;
        }

        /* A worker of the running generation died: bring it back. */
        int64_t now = now_ms();
        if (now - c->started_ms < LBD_QUICK_DEATH_MS) {
            c->quick_deaths++;
        } else {
            c->quick_deaths = 0;
        }
        int64_t delay = 0;
        if (c->quick_deaths > 0) {
            delay = LBD_RESPAWN_MIN_MS << (c->quick_deaths - 1 < 7 ? c->quick_deaths - 1 : 7);
            if (delay > LBD_RESPAWN_MAX_MS)
                delay = LBD_RESPAWN_MAX_MS;
            lbd_log(LBD_LOG_ERROR, "%s %u died %u times in a row within %d ms of "
                    "starting; respawning in %lld ms", kind_name(c), c->slot, c->quick_deaths,
                    LBD_QUICK_DEATH_MS, (long long) delay);
        }
        c->pid = 0;
        c->respawn_at_ms = now + delay;
    }
}

static void
respawn_due(struct lbd_cycle *cycle)
{
    int64_t now = now_ms();

    if (stopping)
        return;
    for (unsigned i = 0; i < nchildren; i++) {
        struct lbd_child *c = &children[i];

        if (c->pid == 0 && c->respawn_at_ms <= now && spawn_child(cycle, c, c->slot) == -1)
            c->respawn_at_ms = now + LBD_RESPAWN_MIN_MS;
    }
}

/* Arm SIGALRM for the nearest deadline: a respawn or the stop's SIGKILL. */
static void
arm_timer(void)
{
    int64_t          next = 0, now = now_ms();
    struct itimerval it;

    for (unsigned i = 0; i < nchildren; i++)
        if (children[i].pid == 0 && !stopping &&
            (next == 0 || children[i].respawn_at_ms < next))
            next = children[i].respawn_at_ms;
    if (kill_at_ms != 0 && (next == 0 || kill_at_ms < next))
        next = kill_at_ms;

    memset(&it, 0, sizeof(it));
    if (next != 0) {
        int64_t delta = next - now;
        if (delta < 1)
            delta = 1;
        it.it_value.tv_sec = delta / 1000;
        it.it_value.tv_usec = (delta % 1000) * 1000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

static void
start_stop(struct lbd_cycle *cycle, int how)
{
    int budget;

    if (stopping == SIGTERM || stopping == how)
        return;
    stopping = how;
    if (how == SIGQUIT) {
        lbd_log(LBD_LOG_NOTICE, "graceful stop: closing listeners, waiting up to %d ms "
                "for open connections", cycle->conf->shutdown_timeout);
        budget = cycle->conf->shutdown_timeout + LBD_KILL_GRACE_MS;
    } else {
        lbd_log(LBD_LOG_NOTICE, "fast stop");
        budget = LBD_KILL_GRACE_MS;
    }
    /* Workers hold their own copies; closing ours refuses nothing yet. */
    lbd_listeners_close(cycle);
    for (unsigned i = 0; i < nchildren; i++)
        if (children[i].pid > 0)
            children[i].retiring = 1;
    signal_children(how, 0);
    kill_at_ms = now_ms() + budget;
}

/*
 * Where the error log goes: the configured path; with -g, stderr unless the
 * file names a path (then both: lbd_log_also_stderr).
 */
static const char *
log_target(const struct lbd_conf *conf, const struct lbd_options *opt)
{
    if (opt->foreground && !conf->error_log_set)
        return "stderr";
    return conf->error_log_path;
}

/* Is the new configuration compatible with what cannot change on reload? */
static void
warn_unchangeable(const struct lbd_conf *old, const struct lbd_conf *conf)
{
    if (strcmp(old->pid_file, conf->pid_file) != 0)
        lbd_log(LBD_LOG_WARN, "reload: pid_file changes only on restart (keeping \"%s\")",
                old->pid_file);
}

/*
 * Make the registry follow conf: create or upgrade its schema, sync the
 * rows the file owns, publish the committed generation.  Acts as the
 * children's user, so that every file it creates is theirs to write.  The
 * connection is closed before returning: none may cross a fork.
 */
static int
registry_follow(const struct lbd_conf *conf, int starting)
{
    struct lbd_registry  *reg = NULL;
    struct lbd_reg_state *state = NULL;
    uint64_t              gen = 0;
    char                  err[1024];
    int                   rc = -1;

    if (lbd_proc_state_dir(conf) == -1)
        return -1;
    if (lbd_proc_as_user(conf) == -1)
        return -1;
    reg = lbd_registry_open(conf->registry_path, 0, 5000, err, sizeof(err));
    if (reg == NULL
        || lbd_registry_migrate(reg, err, sizeof(err)) != LBD_REG_OK
        || lbd_registry_sync_conf(reg, conf, &gen, err, sizeof(err)) != LBD_REG_OK
        || lbd_registry_read(reg, &state, err, sizeof(err)) != LBD_REG_OK) {
        lbd_log(LBD_LOG_CRIT, "registry \"%s\": %s", conf->registry_path, err);
        goto out;
    }
    /*
     * Slots whose counters belong to another backend (a fresh segment): claim
     * them.  Health starts from the checks' last recorded verdict where the
     * pool is still checked, so that a backend down before a restart stays
     * out until the control process sees it up again; a slot this process
     * already holds (a reload) keeps its live verdict.
     */
    for (unsigned i = 0; i < state->npools; i++) {
        const struct lbd_pool_conf *pc = lbd_conf_pool(conf, state->pools[i].name);
        int checked = pc != NULL && pc->check.type != LBD_CHECK_NONE;

        for (unsigned j = 0; j < state->pools[i].nbackends; j++) {
            const struct lbd_reg_backend *b = &state->pools[i].backends[j];

            if (b->slot < 0)
                continue;
            /* Slow start is for a backend that joins running traffic, not for all at boot. */
            if (starting)
                atomic_store(&lbd_shm->backends[b->slot].up_since, 0);
            if (atomic_load(&lbd_shm->backends[b->slot].id) == b->id)
                continue;
            lbd_shm_backend_reset(lbd_shm, (unsigned) b->slot, b->id);
            if (checked)
                atomic_store(&lbd_shm->backends[b->slot].health, (uint32_t) b->health);
        }
    }
    lbd_shm_publish(lbd_shm, state->generation);
    lbd_log(LBD_LOG_INFO, "registry \"%s\" follows %s: generation %llu",
            conf->registry_path, conf->file, (unsigned long long) state->generation);
    rc = 0;
out:
    lbd_reg_state_free(state);
    lbd_registry_close(reg);
    lbd_proc_as_root();
    return rc;
}

static int
str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Who must own the files children open: conf's user when lbd runs as root, else (uid_t) -1. */
static uid_t
children_uid(const struct lbd_conf *conf)
{
    return (conf->user && geteuid() == 0) ? conf->uid : (uid_t) -1;
}

/*
 * Create every access log of conf that is missing and give it to the
 * children's user: a worker that has dropped root opens its logs itself
 * (at start, and again on USR1 after logrotate moved them) and may not be
 * allowed to create a file in the log directory.  Each distinct path once.
 * Every failure is logged at level, prefixed with when; 0, or -1 when one
 * failed.
 */
static int
access_logs_prepare(const struct lbd_conf *conf, enum lbd_log_level level, const char *when)
{
    int rc = 0;

    for (unsigned i = 0; i < conf->nservices; i++) {
        const char *path = conf->services[i].http.access_log;
        unsigned    j;

        if (path == NULL)
            continue;
        for (j = 0; j < i; j++)
            if (str_same(conf->services[j].http.access_log, path))
                break;
        if (j < i)
            continue;
        if (lbd_alog_prepare(path, children_uid(conf), conf->gid) == -1) {
            lbd_log_err(level, errno, "%scannot create the access log \"%s\" "
                        "of service \"%s\"", when, path, conf->services[i].name);
            rc = -1;
        }
    }
    return rc;
}

/* Do an HTTP service's http group and routes read the same in x and y? */
static int
http_same(const struct lbd_http_conf *x, const struct lbd_http_conf *y)
{
    if (x->max_header_size != y->max_header_size || x->header_timeout != y->header_timeout
        || x->keepalive_timeout != y->keepalive_timeout
        || x->keepalive_requests != y->keepalive_requests
        || x->response_timeout != y->response_timeout || x->body_timeout != y->body_timeout
        || x->forwarded_for != y->forwarded_for || x->forwarded_proto != y->forwarded_proto
        || x->real_ip != y->real_ip || !str_same(x->access_log, y->access_log)
        || x->access_log_format != y->access_log_format || x->nroutes != y->nroutes)
        return 0;
    for (unsigned i = 0; i < x->nroutes; i++) {
        const struct lbd_route_conf *r = &x->routes[i], *q = &y->routes[i];

        /* Order counts: at equal length the first written wins. */
        if (!str_same(r->host, q->host) || strcmp(r->path, q->path) != 0
            || strcmp(r->pool_name, q->pool_name) != 0)
            return 0;
    }
    return 1;
}

/*
 * Does every pool that a and b both have keep the settings a worker reads
 * from the conf it was started with (lbd_snapshot.c: pool->conf)?  Backends
 * and strategies are not compared: they live in the registry and reach
 * workers through the generation.  A pool in only one of the two needs no
 * restart: no service, route or backup of a running worker can name a pool
 * its conf lacks, and a change to those names is a change compared here or
 * in workers_same.
 */
static int
pools_same(const struct lbd_conf *a, const struct lbd_conf *b)
{
    for (unsigned i = 0; i < a->npools; i++) {
        const struct lbd_pool_conf *x = &a->pools[i], *y = lbd_conf_pool(b, x->name);

        if (y == NULL)
            continue;
        if (x->retries != y->retries || x->slow_start != y->slow_start
            || x->passive.failures != y->passive.failures
            || x->passive.ejection != y->passive.ejection
            || x->passive.max_ejection != y->passive.max_ejection
            || !str_same(x->backup, y->backup)
            || x->keepalive != y->keepalive || x->keepalive_timeout != y->keepalive_timeout
            || !str_same(x->sticky_cookie, y->sticky_cookie) || x->hash_key != y->hash_key
            || !str_same(x->hash_key_name, y->hash_key_name))
            return 0;
    }
    return 1;
}

/*
 * Do running workers serve conf b as they serve a?  A worker keeps the conf
 * it was forked with, so every setting it reads from there counts: the top
 * level, each service (its http group and routes too), and the settings of
 * the pools (pools_same).
 */
static int
workers_same(const struct lbd_conf *a, const struct lbd_conf *b)
{
    if (a->worker_processes != b->worker_processes
        || a->worker_connections != b->worker_connections
        || a->uid != b->uid || a->gid != b->gid
        || a->connect_timeout != b->connect_timeout || a->idle_timeout != b->idle_timeout
        || a->shutdown_timeout != b->shutdown_timeout
        || a->proxy_buffer_size != b->proxy_buffer_size
        || a->proxy_bulk_buffer_size != b->proxy_bulk_buffer_size
        || a->proxy_bulk_buffers != b->proxy_bulk_buffers
        || a->error_log_level != b->error_log_level
        || !str_same(a->error_log_path, b->error_log_path)
        || !str_same(a->registry_path, b->registry_path)
        || a->admin.enabled != b->admin.enabled
        || !str_same(a->admin.socket_path, b->admin.socket_path)
        || !str_same(a->admin.html, b->admin.html)
        || a->nservices != b->nservices || !pools_same(a, b))
        return 0;
    for (unsigned i = 0; i < a->nservices; i++) {
        const struct lbd_service_conf *x = &a->services[i], *y = &b->services[i];

        if (strcmp(x->name, y->name) != 0 || strcmp(x->pool_name, y->pool_name) != 0
            || x->mode != y->mode || x->backlog != y->backlog || x->reuseport != y->reuseport
            || x->connect_timeout != y->connect_timeout || x->idle_timeout != y->idle_timeout
            /* Workers open their access logs once, at start: compared there too. */
            || !http_same(&x->http, &y->http))
            return 0;
    }
    return 1;
}

static int
check_same(const struct lbd_check_conf *x, const struct lbd_check_conf *y)
{
    return x->type == y->type && x->interval == y->interval && x->timeout == y->timeout
        && x->rise == y->rise && x->fall == y->fall && str_same(x->method, y->method)
        && str_same(x->path, y->path) && str_same(x->host, y->host)
        && x->status_min == y->status_min && x->status_max == y->status_max
        && str_same(x->body, y->body);
}

/* Does every pool of a that has a health check have the same one in b? */
static int
checks_within(const struct lbd_conf *a, const struct lbd_conf *b)
{
    static const struct lbd_check_conf none = { .type = LBD_CHECK_NONE };

    for (unsigned i = 0; i < a->npools; i++) {
        const struct lbd_pool_conf *p = lbd_conf_pool(b, a->pools[i].name);

        if (a->pools[i].check.type != LBD_CHECK_NONE
            && !check_same(&a->pools[i].check, p != NULL ? &p->check : &none))
            return 0;
    }
    return 1;
}

/*
 * Does the running control process serve conf b as it serves a?  It runs
 * the health checks, so a pool's health_check counts too.
 */
static int
control_same(const struct lbd_conf *a, const struct lbd_conf *b)
{
    return checks_within(a, b) && checks_within(b, a)
        && str_same(a->registry_path, b->registry_path)
        && str_same(a->admin.token, b->admin.token)
        && str_same(a->admin.socket_path, b->admin.socket_path)
        && a->uid == b->uid && a->gid == b->gid
        && a->error_log_level == b->error_log_level
        && str_same(a->error_log_path, b->error_log_path);
}

/* Ask the children of kind in the running generation to finish; their slots are moot. */
static void
retire(const struct lbd_cycle *cycle, enum lbd_child_kind kind)
{
    for (unsigned i = 0; i < nchildren; i++)
        if (children[i].pid >= 0 && children[i].kind == kind
            && children[i].generation == cycle->generation) {
            children[i].retiring = 1;
            if (children[i].pid == 0)
                children[i].pid = -1;       /* a pending respawn is moot */
        }
}

/*
 * Reload: read the file again; when it is good, make the registry follow
 * it.  When nothing the workers were started with changed (pools live in
 * the registry), that is all: the generation counter brings the change to
 * them and no process restarts.  Otherwise start workers of a new cycle on
 * the new sockets and only then ask the old ones to finish their
 * connections and exit, nginx style.  A bad file changes nothing.
 */
static void
reload(struct lbd_cycle *cycle, const struct lbd_options *opt)
{
    struct lbd_cycle next = { 0 };
    char             err[1024];
    int              same_workers, same_control;

    lbd_log(LBD_LOG_NOTICE, "reloading configuration from %s", opt->conf_file);
    next.conf = lbd_conf_load(opt->conf_file, err, sizeof(err));
    if (next.conf == NULL) {
        lbd_log(LBD_LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
        return;
    }
    same_workers = lbd_listeners_same(cycle, next.conf) && workers_same(cycle->conf, next.conf);
    same_control = control_same(cycle->conf, next.conf);

    if (!same_workers && lbd_listeners_open(&next, cycle) == -1) {
        lbd_log(LBD_LOG_ERROR, "reload failed, keeping the running configuration: "
                "cannot open the new listeners");
        lbd_conf_free(next.conf);
        return;
    }
    if (registry_follow(next.conf, 0) == -1) {
        if (same_workers) {
            lbd_log(LBD_LOG_ERROR, "reload failed, keeping the running configuration: "
                    "the registry cannot follow the file");
            lbd_conf_free(next.conf);
            return;
        }
        lbd_log(LBD_LOG_ERROR, "reload: the registry cannot follow the file; pools keep "
                "their last committed state");
    }
    warn_unchangeable(cycle->conf, next.conf);
    /* The running pid file stays: swap the strings, the old conf frees the new one. */
    char *running_pid_file = cycle->conf->pid_file;
    cycle->conf->pid_file = next.conf->pid_file;
    next.conf->pid_file = running_pid_file;

    if ((strcmp(log_target(next.conf, opt), log_target(cycle->conf, opt)) != 0 ||
         next.conf->error_log_level != cycle->conf->error_log_level) &&
        lbd_log_open(log_target(next.conf, opt), next.conf->error_log_level) == -1)
        lbd_log_err(LBD_LOG_ERROR, errno, "reload: cannot open the error log \"%s\", "
                    "keeping the old one", next.conf->error_log_path);

    if (same_workers) {
        /* Same sockets, same settings: keep the processes, take the new conf. */
        lbd_conf_free(cycle->conf);
        cycle->conf = next.conf;
        if (!same_control) {
            retire(cycle, LBD_CHILD_CONTROL);
            spawn_children(cycle, LBD_CHILD_CONTROL);
            signal_children(SIGQUIT, 1);
        }
        /* The workers kept re-read what they serve from files (the status page). */
        if (lbd_shm != NULL)
            atomic_fetch_add(&lbd_shm->reloads, 1);
        lbd_log(LBD_LOG_NOTICE, "reload: applied without restarting workers%s",
                same_control ? "" : " (control process restarted)");
        return;
    }

    /* The new workers open the new conf's access logs as its user. */
    access_logs_prepare(next.conf, LBD_LOG_ERROR, "reload: ");

    next.generation = cycle->generation + 1;
    retire(cycle, LBD_CHILD_WORKER);
    if (!same_control)
        retire(cycle, LBD_CHILD_CONTROL);
    for (unsigned i = 0; i < nchildren; i++)
        if (same_control && children[i].kind == LBD_CHILD_CONTROL && children[i].pid >= 0
            && !children[i].retiring)
            children[i].generation = next.generation;   /* it carries on */

    /*
     * Sockets the new cycle did not take over close now; the rest moved.
     * An old worker holds its own copies until it stops (a surplus
     * reuseport socket's queue is its to take: lbd_listen.c).
     */
    lbd_listeners_free(cycle);
    lbd_conf_free(cycle->conf);
    *cycle = next;

    if (!same_control)
        spawn_children(cycle, LBD_CHILD_CONTROL);
    spawn_children(cycle, LBD_CHILD_WORKER);
    signal_children(SIGQUIT, 1);
    lbd_log(LBD_LOG_NOTICE, "reload: generation %u started, old workers finishing",
            cycle->generation);
}

static void
reopen_logs(const struct lbd_cycle *cycle)
{
    const struct lbd_conf *conf = cycle->conf;
    uid_t uid = children_uid(conf);

    lbd_log(LBD_LOG_NOTICE, "reopening logs");
    if (lbd_log_reopen(uid, conf->gid) == -1)
        lbd_log_err(LBD_LOG_ERROR, errno, "reopening \"%s\" failed", conf->error_log_path);
    /* Before the workers reopen: logrotate moved the files, they may not create them. */
    access_logs_prepare(conf, LBD_LOG_ERROR, "reopening logs: ");
    signal_children(SIGUSR1, 0);
}

/*
 * Raise the open-file limit to the hard limit, as nginx's
 * worker_rlimit_nofile does, and say what that allows.
 */
static void
raise_nofile(const struct lbd_conf *conf)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            lbd_log_err(LBD_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE, %llu) failed",
                        (unsigned long long) rl.rlim_max);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Each proxied connection holds two descriptors (lbd_nofile_capacity). */
    unsigned long long cap = lbd_nofile_capacity(rl.rlim_cur);
    unsigned long long per = (unsigned long long) conf->worker_connections < cap
                             ? (unsigned long long) conf->worker_connections : cap;
    lbd_log(LBD_LOG_NOTICE, "open file limit %llu: up to %llu proxied connections per worker; "
            "capacity %llu connections (%d workers x %llu)", (unsigned long long) rl.rlim_cur,
            cap, per * (unsigned long long) conf->worker_processes, conf->worker_processes, per);
    if ((unsigned long long) conf->worker_connections > cap)
        lbd_log(LBD_LOG_WARN, "worker_connections %d exceeds what the open file limit "
                "allows (%llu); each worker holds at most %llu and refuses the rest",
                conf->worker_connections, cap, cap);
}

int
lbd_master_run(struct lbd_cycle *cycle, const struct lbd_options *opt)
{
    sigset_t blocked, none;
    struct lbd_conf *conf = cycle->conf;

    if (lbd_log_open(log_target(conf, opt), conf->error_log_level) == -1) {
        fprintf(stderr, "lbd: cannot open the error log \"%s\": %s\n",
                conf->error_log_path, strerror(errno));
        return 1;
    }
    /* As root, before any worker exists; a failure reaches the terminal too. */
    lbd_log_also_stderr(1);
    if (access_logs_prepare(conf, LBD_LOG_CRIT, "") == -1)
        return 1;
    lbd_log_also_stderr(opt->foreground);

    raise_nofile(conf);
    if (setup_signals(&blocked) == -1)
        return 1;
    if (lbd_listeners_open(cycle, NULL) == -1)
        return 1;
    if (lbd_shm_create() == -1 || registry_follow(conf, 1) == -1)
        return 1;
    if (!opt->foreground && lbd_proc_daemonize() == -1)
        return 1;
    if (lbd_pid_file_write(conf->pid_file) == -1)
        return 1;

    lbd_proc_title("lbd: master process");
    lbd_log(LBD_LOG_NOTICE, "lbd " LBD_VERSION " started, %d worker processes",
            conf->worker_processes);
    if (conf->user && geteuid() != 0)
        lbd_log(LBD_LOG_WARN, "\"user\" takes effect only when lbd starts as root; ignored");

    /* Before the fork: a worker must not hold the waiting parent's pipe. */
    lbd_proc_daemon_ready();
    if (spawn_children(cycle, LBD_CHILD_CONTROL) == -1
        || spawn_children(cycle, LBD_CHILD_WORKER) == -1)
        return 1;

    sigemptyset(&none);
    for (;;) {
        arm_timer();
        sigsuspend(&none);

        if (sig_child) {
            sig_child = 0;
            reap_children(cycle);
        }
        if (sig_terminate) {
            sig_terminate = 0;
            start_stop(cycle, SIGTERM);
        }
        if (sig_quit) {
            sig_quit = 0;
            start_stop(cycle, SIGQUIT);
        }
        if (sig_reload) {
            sig_reload = 0;
            if (!stopping)
                reload(cycle, opt);
        }
        if (sig_reopen) {
            sig_reopen = 0;
            reopen_logs(cycle);
        }
        if (sig_alarm) {
            sig_alarm = 0;
            if (kill_at_ms != 0 && now_ms() >= kill_at_ms) {
                lbd_log(LBD_LOG_WARN, "%u worker processes still running; killing them",
                        children_alive());
                signal_children(SIGKILL, 0);
                kill_at_ms = 0;
            }
        }
        respawn_due(cycle);

        if (stopping && children_alive() == 0)
            break;
    }

    if (unlink(cycle->conf->pid_file) == -1 && errno != ENOENT)
        lbd_log_err(LBD_LOG_WARN, errno, "unlink() \"%s\" failed", cycle->conf->pid_file);
    lbd_log(LBD_LOG_NOTICE, "exiting");
    lbd_listeners_free(cycle);
    lbd_conf_free(cycle->conf);
    free(children);
    return 0;
}
