/*
 * lbd_listen.c - listening sockets.
 *
 * The master binds every listener (it may be root; workers may not be) and
 * workers inherit them across fork.  On reload a socket whose address is
 * still configured moves to the new cycle as it is, so its accept queue
 * survives: no connection is refused during a reload.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lbd_core.h"
#include "lbd_log.h"

static int
same_addr(const struct lbd_addr *a, const struct lbd_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static int
bind_one(const struct lbd_addr *addr, int backlog)
{
    int fd, on = 1;

    fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "socket() for %s failed", addr->text);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
        lbd_log_err(LBD_LOG_WARN, errno, "setsockopt(SO_REUSEADDR) on %s failed", addr->text);
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

int
lbd_listeners_open(struct lbd_cycle *cycle, struct lbd_cycle *old)
{
    const struct lbd_conf *conf = cycle->conf;
    struct lbd_listener   *ls;
    int                   *from_old;   /* index into old->listeners, or -1 */
    unsigned               n = lbd_cycle_nlisteners(conf);

    ls = calloc(n, sizeof(*ls));
    from_old = calloc(n, sizeof(*from_old));
    if (ls == NULL || from_old == NULL) {
        lbd_log_err(LBD_LOG_CRIT, errno, "calloc() failed");
        free(ls);
        free(from_old);
        return -1;
    }

    for (unsigned i = 0; i < n; i++) {
        /* The admin port, when there is one, comes after the services. */
        ls[i].addr = i < conf->nservices ? conf->services[i].listen : conf->admin.listen;
        ls[i].fd = -1;
        from_old[i] = -1;
    }

    for (unsigned i = 0; i < n; i++) {
        int backlog = i < conf->nservices ? conf->services[i].backlog : 511;

        for (unsigned j = 0; old != NULL && j < old->nlisteners; j++) {
            if (old->listeners[j].fd != -1 && same_addr(&old->listeners[j].addr, &ls[i].addr)) {
                from_old[i] = (int) j;
                ls[i].fd = old->listeners[j].fd;
                /* A new backlog applies to a listening socket at once. */
                if (listen(ls[i].fd, backlog) == -1)
                    lbd_log_err(LBD_LOG_WARN, errno, "listen() on %s failed", ls[i].addr.text);
                break;
            }
        }
        if (ls[i].fd == -1 && (ls[i].fd = bind_one(&ls[i].addr, backlog)) == -1)
            goto failed;
    }

    /* Everything bound: only now take the reused sockets away from old. */
    for (unsigned i = 0; i < n; i++)
        if (from_old[i] != -1)
            old->listeners[from_old[i]].fd = -1;
    free(from_old);
    cycle->listeners = ls;
    cycle->nlisteners = n;
    return 0;

failed:
    for (unsigned i = 0; i < n; i++)
        if (ls[i].fd != -1 && from_old[i] == -1)
            close(ls[i].fd);
    free(ls);
    free(from_old);
    return -1;
}

int
lbd_listeners_same(const struct lbd_cycle *a, const struct lbd_conf *conf)
{
    if (a->nlisteners != lbd_cycle_nlisteners(conf))
        return 0;
    for (unsigned i = 0; i < a->nlisteners; i++) {
        const struct lbd_addr *want = i < conf->nservices ? &conf->services[i].listen
                                                          : &conf->admin.listen;
        if (!same_addr(&a->listeners[i].addr, want))
            return 0;
    }
    return 1;
}

void
lbd_listeners_close(struct lbd_cycle *cycle)
{
    for (unsigned i = 0; i < cycle->nlisteners; i++) {
        if (cycle->listeners[i].fd != -1) {
            close(cycle->listeners[i].fd);
            cycle->listeners[i].fd = -1;
        }
    }
}
