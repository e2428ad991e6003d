/*
 * lbd_worker.h - a worker's state, shared by the accept loop and the proxy.
 * Everything here belongs to one worker process and one event loop.
 */
#ifndef LBD_WORKER_H
#define LBD_WORKER_H

#include <event2/event.h>
#include <event2/event_struct.h>

#include "lbd_core.h"

/*
 * The pools a worker balances over, built from one configuration (later,
 * from one registry generation).  Immutable once built but for strategy
 * state; a connection holds a reference so that a snapshot replaced under
 * it stays valid until the connection ends.
 */
struct lbd_snapshot {
    unsigned         refs;
    struct lbd_pool *pools;
    unsigned         npools;
};

/* Build the snapshot of conf's pools, strategies initialised.  NULL on failure (logged). */
struct lbd_snapshot *lbd_snapshot_build(const struct lbd_conf *conf);

void lbd_snapshot_ref(struct lbd_snapshot *snap);

/* Drop a reference; the last one frees the snapshot. */
void lbd_snapshot_unref(struct lbd_snapshot *snap);

/* A listener as one worker runs it. */
struct lbd_service {
    const struct lbd_service_conf *conf;
    struct lbd_worker             *worker;
    int                            fd;
    struct event                   ev;
    const struct timeval          *connect_tv;   /* common timeouts */
    const struct timeval          *idle_tv;
};

struct lbd_buf;
struct lbd_conn;

struct lbd_worker {
    struct event_base   *base;
    struct lbd_cycle    *cycle;
    unsigned             slot;
    struct lbd_snapshot *snap;

    struct lbd_service  *services;
    unsigned             nservices;

    struct lbd_conn     *conns;          /* every open connection */
    unsigned             nconns;
    unsigned             accepting:1;    /* listener events are added */
    unsigned             shutting_down:1;

    struct event        *accept_timer;   /* resumes accepts after EMFILE */
    struct event        *shutdown_timer;

    struct lbd_buf      *free_bufs;      /* recycled proxy buffers */
    unsigned             nfree_bufs;
};

/* Start or stop the listener events of every service. */
void lbd_worker_accept_enable(struct lbd_worker *w, int on);

/* A connection ended: called by the proxy after it freed one. */
void lbd_worker_conn_closed(struct lbd_worker *w);

/*
 * Take over an accepted client socket: pick a backend, connect, proxy.
 * Worker loop; never blocks.  On any failure the socket is closed.
 */
void lbd_proxy_start(struct lbd_service *svc, int fd, const struct sockaddr *sa,
                     socklen_t salen);

/* Close every connection at once (fast stop, shutdown timeout). */
void lbd_proxy_close_all(struct lbd_worker *w);

/* Free the recycled buffers. */
void lbd_proxy_free_buffers(struct lbd_worker *w);

#endif /* LBD_WORKER_H */
