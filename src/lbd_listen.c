/*
 * lbd_listen.c - listening sockets.
 *
 * The master binds every listener (it may be root; workers may not be) and
 * workers inherit them across fork.  On reload a socket whose address is
 * still configured moves to the new cycle as it is, so its accept queue
 * survives: no connection is refused during a reload.
 *
 * A service with reuseport has one socket per worker slot, each bound to its
 * address with SO_REUSEPORT: the kernel hashes every new connection (its
 * addresses and ports) to one of them, and worker k accepts on socket k
 * only, so no two workers contend for one queue.  The master holds them
 * all: what waits on a crashed worker's socket is served by its respawned
 * successor.  A reload moves sockets by position: the new cycle's socket k
 * is the old cycle's socket k while there is one (a shared socket counts as
 * socket 0), and only the missing ones are bound.  The surplus ones (fewer
 * workers, or reuseport switched off) stay with the old cycle: the master
 * closes its copy at once, and old worker k its own when it stops, after
 * taking what waits in the queue (lbd_worker.c, graceful_stop).  Only a
 * connection that completes its handshake on such a socket between that
 * last accept and the close is reset; with net.ipv4.tcp_migrate_req = 1
 * (Linux 5.14) the kernel moves it to a sibling socket instead.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lbd_core.h"
#include "lbd_log.h"

/* What lbd_listeners_open takes from the old cycle for one new listener. */
struct take {
    struct lbd_listener *from;          /* the old listener at the address, or NULL */
    unsigned             n;             /* its first n sockets move */
    int                  made_reuseport;/* SO_REUSEPORT was turned on on from->fds[0] */
};

static int
same_addr(const struct lbd_addr *a, const struct lbd_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static int
set_reuseport(int fd, int on)
{
    return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
}

static int
bind_one(const struct lbd_addr *addr, int backlog, int reuseport)
{
    int fd, on = 1;

    fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "socket() for %s failed", addr->text);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
        lbd_log_err(LBD_LOG_WARN, errno, "setsockopt(SO_REUSEADDR) on %s failed", addr->text);
    /* Not a warning: without it the siblings cannot bind, and the service fails. */
    if (reuseport && set_reuseport(fd, 1) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "setsockopt(SO_REUSEPORT) on %s failed", addr->text);
        close(fd);
        return -1;
    }
    if (addr->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
        lbd_log_err(LBD_LOG_WARN, errno, "setsockopt(IPV6_V6ONLY) on %s failed", addr->text);

    if (bind(fd, (const struct sockaddr *) &addr->ss, addr->len) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "bind() to %s failed", addr->text);
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "listen() on %s failed", addr->text);
        close(fd);
        return -1;
    }
    return fd;
}

/* The listener of old at addr whose sockets have not moved yet, or NULL. */
static struct lbd_listener *
old_at(struct lbd_cycle *old, const struct lbd_addr *addr)
{
    for (unsigned j = 0; old != NULL && j < old->nlisteners; j++)
        if (old->listeners[j].fds[0] != -1 && same_addr(&old->listeners[j].addr, addr))
            return &old->listeners[j];
    return NULL;
}

/* Take over the sockets of t->from that ls needs.  0 or -1 (logged). */
static int
take_old(struct lbd_listener *ls, struct take *t, int backlog, const struct lbd_conf *conf,
         unsigned i)
{
    struct lbd_listener *from = t->from;

    if (ls->reuseport && !from->reuseport) {
        /*
         * The shared socket becomes worker 0's: with SO_REUSEPORT on it the
         * siblings can bind next to it (the kernel reads the flag of a bound
         * socket when another binds), and it keeps its queue.
         */
        if (set_reuseport(from->fds[0], 1) == -1) {
            lbd_log_err(LBD_LOG_CRIT, errno, "%s:%d: service \"%s\": cannot turn reuseport "
                        "on for the running socket on %s", conf->file,
                        conf->services[i].line, conf->services[i].name, ls->addr.text);
            return -1;
        }
        t->made_reuseport = 1;
    }
    t->n = from->nfds < ls->nfds ? from->nfds : ls->nfds;
    for (unsigned k = 0; k < t->n; k++) {
        ls->fds[k] = from->fds[k];
        /* A new backlog applies to a listening socket at once. */
        if (listen(ls->fds[k], backlog) == -1)
            lbd_log_err(LBD_LOG_WARN, errno, "listen() on %s failed", ls->addr.text);
    }
    return 0;
}

int
lbd_listeners_open(struct lbd_cycle *cycle, struct lbd_cycle *old)
{
    const struct lbd_conf *conf = cycle->conf;
    struct lbd_listener   *ls;
    struct take           *take;
    unsigned               n = lbd_cycle_nlisteners(conf);

    ls = calloc(n, sizeof(*ls));
    take = calloc(n, sizeof(*take));
    if (ls == NULL || take == NULL) {
        lbd_log_err(LBD_LOG_CRIT, errno, "calloc() failed");
        free(ls);
        free(take);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        /* The admin port, when there is one, comes after the services. */
        int svc = i < conf->nservices;

        ls[i].addr = svc ? conf->services[i].listen : conf->admin.listen;
        ls[i].reuseport = svc && conf->services[i].reuseport;
        ls[i].nfds = ls[i].reuseport ? (unsigned) conf->worker_processes : 1;
        if ((ls[i].fds = malloc(ls[i].nfds * sizeof(*ls[i].fds))) == NULL) {
            lbd_log_err(LBD_LOG_CRIT, errno, "malloc() failed");
            goto failed;
        }
        for (unsigned k = 0; k < ls[i].nfds; k++)
            ls[i].fds[k] = -1;
    }

    for (unsigned i = 0; i < n; i++) {
        int backlog = i < conf->nservices ? conf->services[i].backlog : 511;

        take[i].from = old_at(old, &ls[i].addr);
        if (take[i].from != NULL && take_old(&ls[i], &take[i], backlog, conf, i) == -1)
            goto failed;
        for (unsigned k = take[i].n; k < ls[i].nfds; k++)
            if ((ls[i].fds[k] = bind_one(&ls[i].addr, backlog, ls[i].reuseport)) == -1)
                goto failed;
    }

    /* Everything bound: only now take the moved sockets away from old. */
    for (unsigned i = 0; i < n; i++) {
        for (unsigned k = 0; k < take[i].n; k++)
            take[i].from->fds[k] = -1;
        if (ls[i].reuseport)
            lbd_log(LBD_LOG_NOTICE, "service \"%s\" listens on %s with reuseport: %u sockets, "
                    "one per worker", conf->services[i].name, ls[i].addr.text, ls[i].nfds);
    }
    free(take);
    cycle->listeners = ls;
    cycle->nlisteners = n;
    return 0;

failed:
    for (unsigned i = 0; i < n; i++) {
        for (unsigned k = take[i].n; ls[i].fds != NULL && k < ls[i].nfds; k++)
            if (ls[i].fds[k] != -1)
                close(ls[i].fds[k]);
        /* Shared again, as the running workers expect (its siblings are closed). */
        if (take[i].made_reuseport && set_reuseport(take[i].from->fds[0], 0) == -1)
            lbd_log_err(LBD_LOG_WARN, errno, "setsockopt(SO_REUSEPORT) on %s failed",
                        ls[i].addr.text);
        free(ls[i].fds);
    }
    free(ls);
    free(take);
    return -1;
}

int
lbd_listeners_same(const struct lbd_cycle *a, const struct lbd_conf *conf)
{
    if (a->nlisteners != lbd_cycle_nlisteners(conf))
        return 0;
    for (unsigned i = 0; i < a->nlisteners; i++) {
        const struct lbd_listener *ls = &a->listeners[i];
        int svc = i < conf->nservices;
        int reuseport = svc && conf->services[i].reuseport;

        if (!same_addr(&ls->addr, svc ? &conf->services[i].listen : &conf->admin.listen)
            || ls->reuseport != reuseport
            || ls->nfds != (reuseport ? (unsigned) conf->worker_processes : 1))
            return 0;
    }
    return 1;
}

void
lbd_listeners_close(struct lbd_cycle *cycle)
{
    for (unsigned i = 0; i < cycle->nlisteners; i++) {
        struct lbd_listener *ls = &cycle->listeners[i];

        for (unsigned k = 0; k < ls->nfds; k++) {
            if (ls->fds[k] != -1) {
                close(ls->fds[k]);
                ls->fds[k] = -1;
            }
        }
    }
}

void
lbd_listeners_free(struct lbd_cycle *cycle)
{
    lbd_listeners_close(cycle);
    for (unsigned i = 0; i < cycle->nlisteners; i++)
        free(cycle->listeners[i].fds);
    free(cycle->listeners);
    cycle->listeners = NULL;
    cycle->nlisteners = 0;
}

void
lbd_listeners_keep_slot(struct lbd_cycle *cycle, unsigned slot)
{
    for (unsigned i = 0; i < cycle->nlisteners; i++) {
        struct lbd_listener *ls = &cycle->listeners[i];

        for (unsigned k = 0; ls->reuseport && k < ls->nfds; k++) {
            if (k != slot && ls->fds[k] != -1) {
                close(ls->fds[k]);
                ls->fds[k] = -1;
            }
        }
    }
}
