/*
 * lbd_core.h - what the master, the workers and the proxy share.
 */
#ifndef LBD_CORE_H
#define LBD_CORE_H

#include <assert.h>
#include <signal.h>
#include <sys/types.h>

#include "lbd.h"
#include "lbd_conf.h"

/*
 * A listening address, bound by the master and inherited by workers: one
 * socket that every worker accepts on, or with reuseport one socket per
 * worker slot (fds[k] is slot k's), each bound with SO_REUSEPORT so that the
 * kernel spreads new connections over them.  The master keeps every socket
 * open, so a worker that dies leaves its queue to its respawned successor.
 */
struct lbd_listener {
    struct lbd_addr addr;
    int             reuseport;
    unsigned        nfds;       /* 1, or worker_processes with reuseport */
    int            *fds;        /* -1: closed, or moved to a newer cycle */
};

/* The socket worker slot accepts on for ls (-1 when closed).  Any process. */
static inline int
lbd_listener_fd(const struct lbd_listener *ls, unsigned slot)
{
    assert(!ls->reuseport || slot < ls->nfds);
    return ls->reuseport ? ls->fds[slot] : ls->fds[0];
}

/* Listeners a conf asks for: one per service, then the admin port. */
static inline unsigned
lbd_cycle_nlisteners(const struct lbd_conf *conf)
{
    return conf->nservices + (conf->admin.enabled ? 1 : 0);
}

/*
 * A cycle is one generation of configuration: the conf and the listeners
 * that go with it (listeners[i] serves conf->services[i]; the admin port,
 * when configured, is listeners[nservices]).  A reload builds a
 * new cycle; sockets whose address did not change move to it unclosed.
 */
struct lbd_cycle {
    struct lbd_conf     *conf;
    struct lbd_listener *listeners;
    unsigned             nlisteners;
    unsigned             generation;
};

/* Command-line options that outlive parsing. */
struct lbd_options {
    const char *conf_file;
    int         foreground;     /* -g: no daemon, log to stderr */
};

/* --- lbd_proc.c: process plumbing (master only unless said) --- */

/* Descriptors a worker keeps for itself (listeners, epoll, logs, registry, admin). */
#define LBD_FD_RESERVE 64

/*
 * The client connections a worker can hold with nofile descriptors: each
 * proxied connection (or HTTP client with a request in flight) holds two,
 * after LBD_FD_RESERVE.  Anywhere.
 */
unsigned long long lbd_nofile_capacity(unsigned long long nofile);

/* Remember argv so that lbd_proc_title() can overwrite it.  Call first. */
void lbd_proc_title_init(int argc, char **argv);

/* Set the title ps shows, e.g. "lbd: worker process".  Any process. */
void lbd_proc_title(const char *title);

/*
 * Fork into the background.  The parent waits until the daemon calls
 * lbd_proc_daemon_ready() (exit 0) or dies (exit 1) and then exits; the
 * child returns 0.  Returns -1 if fork or setsid failed.
 */
int lbd_proc_daemonize(void);

/* Tell the waiting parent that start-up went well.  Daemon only. */
void lbd_proc_daemon_ready(void);

/* Write getpid() to path (create or replace).  0 or -1, logged. */
int lbd_pid_file_write(const char *path);

/* Read a pid from path.  Returns the pid, or -1 with the reason logged to stderr. */
pid_t lbd_pid_file_read(const char *path);

/*
 * In a freshly forked child running as root: switch to conf's user and
 * group.  Returns 0 (also when there is nothing to do) or -1, logged.
 */
int lbd_proc_drop_privileges(const struct lbd_conf *conf);

/*
 * Make sure the directory of the registry exists and, when lbd runs as root
 * with a "user", belongs to that user together with the registry's files:
 * the children write there.  Master only.  0 or -1 (logged).
 */
int lbd_proc_state_dir(const struct lbd_conf *conf);

/*
 * Act as conf's user (effective ids) until lbd_proc_as_root(), so that every
 * file the master creates meanwhile (the registry, its WAL) belongs to the
 * user who will write it.  Nothing to do without a user or when not root.
 * Master only.  0 or -1 (logged; still root).
 */
int  lbd_proc_as_user(const struct lbd_conf *conf);
void lbd_proc_as_root(void);

/* --- lbd_listen.c (master only unless said) --- */

/*
 * Make the listeners for conf.  The sockets of old (may be NULL) at an
 * address that is still wanted are moved over (their fds set to -1 in old):
 * as many as the new listener needs, the first ones first, so that worker k
 * of the new cycle accepts where worker k of the old one did; only the
 * missing ones are bound.  A socket that was shared and becomes worker 0's
 * gets SO_REUSEPORT on the fly; one that was worker 0's and becomes shared
 * keeps it.  Returns 0, or -1 when a bind fails (logged, nothing leaked,
 * old as it was).
 */
int lbd_listeners_open(struct lbd_cycle *cycle, struct lbd_cycle *old);

/* Does cycle listen on exactly the sockets conf asks for, in order? */
int lbd_listeners_same(const struct lbd_cycle *cycle, const struct lbd_conf *conf);

/* Close every listener socket of cycle that is still open. */
void lbd_listeners_close(struct lbd_cycle *cycle);

/* Close what is open and free cycle's listeners (cycle->listeners becomes NULL). */
void lbd_listeners_free(struct lbd_cycle *cycle);

/*
 * In worker slot, right after the fork: close the reuseport sockets of the
 * other slots, which this worker never accepts on, so that it holds no more
 * descriptors than with shared sockets (LBD_FD_RESERVE).  Worker only.
 */
void lbd_listeners_keep_slot(struct lbd_cycle *cycle, unsigned slot);

/* --- lbd_master.c --- */

/* Run the master: never returns on success; returns an exit code on failure. */
int lbd_master_run(struct lbd_cycle *cycle, const struct lbd_options *opt);

/* --- lbd_worker.c --- */

/*
 * Run a worker of cycle (in the forked child); wslot is its slot in shared
 * memory.  Never returns: exits 0 after a stop, 1 on a fatal error.
 */
void lbd_worker_run(struct lbd_cycle *cycle, unsigned slot, int wslot)
    __attribute__((noreturn));

/* --- lbd_control.c --- */

/*
 * Run the control process (in the forked child): the admin API on the unix
 * socket, every API write to the registry, the watch for edits made from
 * outside (PRAGMA data_version), and the active health checks.  Never
 * returns.
 */
void lbd_control_run(struct lbd_cycle *cycle) __attribute__((noreturn));

#endif /* LBD_CORE_H */
