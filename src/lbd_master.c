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

#include "lbd_core.h"
#include "lbd_log.h"

/* A worker that dies sooner than this after its start counts as a crash loop. */
#define LBD_QUICK_DEATH_MS   1000
#define LBD_RESPAWN_MIN_MS    100
#define LBD_RESPAWN_MAX_MS  10000
/* After a fast stop, or past the graceful budget, children get SIGKILL. */
#define LBD_KILL_GRACE_MS    5000

struct lbd_child {
    pid_t    pid;           /* 0: the slot waits for a respawn */
    unsigned slot;          /* worker number within its generation */
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

/* Fork worker `slot` of cycle into c.  Returns 0 or -1 (logged). */
static int
spawn_worker(struct lbd_cycle *cycle, struct lbd_child *c, unsigned slot)
{
    pid_t pid = fork();

    if (pid == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "fork() failed");
        return -1;
    }
    if (pid == 0) {
        reset_signals();
        free(children);
        lbd_worker_run(cycle, slot);
    }
    c->pid = pid;
    c->slot = slot;
    c->generation = cycle->generation;
    c->retiring = 0;
    c->started_ms = now_ms();
    c->respawn_at_ms = 0;
    lbd_log(LBD_LOG_NOTICE, "started worker process %d", (int) pid);
    return 0;
}

static int
spawn_workers(struct lbd_cycle *cycle)
{
    for (int i = 0; i < cycle->conf->worker_processes; i++) {
        struct lbd_child *c = child_add();

        if (c == NULL) {
            lbd_log_err(LBD_LOG_CRIT, errno, "no memory for the worker table");
            return -1;
        }
        c->quick_deaths = 0;
        if (spawn_worker(cycle, c, (unsigned) i) == -1) {
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

        int crashed = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
        if (WIFSIGNALED(status))
            lbd_log(c->retiring ? LBD_LOG_NOTICE : LBD_LOG_CRIT,
                    "worker process %d exited on signal %d%s", (int) pid,
                    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
        else
            lbd_log(crashed && !c->retiring ? LBD_LOG_CRIT : LBD_LOG_NOTICE,
                    "worker process %d exited with code %d", (int) pid,
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
            lbd_log(LBD_LOG_ERROR, "worker %u died %u times in a row within %d ms of "
                    "starting; respawning in %lld ms", c->slot, c->quick_deaths,
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

        if (c->pid == 0 && c->respawn_at_ms <= now && spawn_worker(cycle, c, c->slot) == -1)
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
 * Reload: read the file again; when it is good, start workers of the new
 * cycle and only then ask the old ones to finish their connections and
 * exit.  A bad file changes nothing.
 */
static void
reload(struct lbd_cycle *cycle, const struct lbd_options *opt)
{
    struct lbd_cycle next = { 0 };
    char             err[1024];

    lbd_log(LBD_LOG_NOTICE, "reloading configuration from %s", opt->conf_file);
    next.conf = lbd_conf_load(opt->conf_file, err, sizeof(err));
    if (next.conf == NULL) {
        lbd_log(LBD_LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (lbd_listeners_open(&next, cycle) == -1) {
        lbd_log(LBD_LOG_ERROR, "reload failed, keeping the running configuration: "
                "cannot open the new listeners");
        lbd_conf_free(next.conf);
        return;
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

    next.generation = cycle->generation + 1;
    for (unsigned i = 0; i < nchildren; i++)
        if (children[i].pid >= 0 && children[i].generation == cycle->generation) {
            children[i].retiring = 1;
            if (children[i].pid == 0)
                children[i].pid = -1;       /* a pending respawn is moot */
        }

    /* Sockets the new cycle did not take over close now; the rest moved. */
    lbd_listeners_close(cycle);
    free(cycle->listeners);
    lbd_conf_free(cycle->conf);
    *cycle = next;

    spawn_workers(cycle);
    signal_children(SIGQUIT, 1);
    lbd_log(LBD_LOG_NOTICE, "reload: generation %u started, old workers finishing",
            cycle->generation);
}

static void
reopen_logs(const struct lbd_cycle *cycle)
{
    const struct lbd_conf *conf = cycle->conf;
    uid_t uid = (conf->user && geteuid() == 0) ? conf->uid : (uid_t) -1;

    lbd_log(LBD_LOG_NOTICE, "reopening logs");
    if (lbd_log_reopen(uid, conf->gid) == -1)
        lbd_log_err(LBD_LOG_ERROR, errno, "reopening \"%s\" failed", conf->error_log_path);
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
    /* Each proxied connection holds two descriptors. */
    unsigned long long cap = rl.rlim_cur > 64 ? (rl.rlim_cur - 64) / 2 : 0;
    lbd_log(LBD_LOG_NOTICE, "open file limit %llu: up to %llu proxied connections per worker",
            (unsigned long long) rl.rlim_cur, cap);
    if ((unsigned long long) conf->worker_connections > cap)
        lbd_log(LBD_LOG_WARN, "worker_connections %d exceeds what the open file limit "
                "allows (%llu); accepts pause at the limit", conf->worker_connections, cap);
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
    lbd_log_also_stderr(opt->foreground);

    raise_nofile(conf);
    if (setup_signals(&blocked) == -1)
        return 1;
    if (lbd_listeners_open(cycle, NULL) == -1)
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
    if (spawn_workers(cycle) == -1)
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
    lbd_listeners_close(cycle);
    free(cycle->listeners);
    lbd_conf_free(cycle->conf);
    free(children);
    return 0;
}
