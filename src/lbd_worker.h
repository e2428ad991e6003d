/*
 * lbd_worker.h - a worker's state, shared by the accept loop and the proxy.
 * Everything here belongs to one worker process and one event loop.
 */
#ifndef LBD_WORKER_H
#define LBD_WORKER_H

#include <event2/event.h>
#include <event2/event_struct.h>

#include "lbd_core.h"

#include "lbd_registry.h"
#include "lbd_timer.h"

/*
 * The pools a worker balances over, built from one registry generation read
 * whole.  Immutable once built but for strategy state; a connection holds a
 * reference so that a snapshot replaced under it stays valid, with its
 * backends and their shm slots, until the connection ends.
 *
 * A worker keeps its live snapshots on a list and publishes the oldest
 * one's generation in its shm slot: a removed backend's slot is reused only
 * once no snapshot that has it is alive anywhere (lbd_shm.h).
 */
struct lbd_snapshot {
    struct lbd_snapshot *prev, *next;   /* the worker's live snapshots */
    unsigned             refs;
    uint64_t             generation;    /* the registry's, as read */
    struct lbd_pool     *pools;
    unsigned             npools;
    int                 *service_pool;  /* per service: index into pools, or -1 */
    int                **route_pool;    /* per service: per route, index into pools
                                           (or the service's pool when -1); NULL for tcp */
    unsigned             nservices;     /* of route_pool */
};

/*
 * Build a snapshot of state for conf's services, strategies initialised,
 * and put it on the live list.  NULL on failure (logged).  Worker loop.
 */
struct lbd_snapshot *lbd_snapshot_build(const struct lbd_conf *conf,
                                        const struct lbd_reg_state *state);

void lbd_snapshot_ref(struct lbd_snapshot *snap);

/* Drop a reference; the last one frees the snapshot and republishes oldest. */
void lbd_snapshot_unref(struct lbd_snapshot *snap);

/* This worker's shm slot, where the oldest live generation is published (-1: none). */
void lbd_snapshot_set_slot(int wslot);

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
struct lbd_hclient;
struct lbd_htxn;
struct lbd_hidle;
struct lbd_http_head;
struct lbd_alog;
struct lbd_reg_state;
struct lbd_status_file;

struct evhttp;
struct evhttp_bound_socket;

struct lbd_worker {
    struct event_base   *base;
    struct lbd_cycle    *cycle;
    unsigned             slot;
    int                  wslot;          /* its slot in shared memory */
    struct lbd_snapshot *snap;           /* routes new connections */
    struct lbd_reg_state *state;         /* the registry as snap was built from (status page) */
    struct lbd_registry *reg;            /* read-only connection */
    uint64_t             seen;           /* shm generation snap was loaded for */
    struct event        *gen_timer;      /* looks at the generation counter */
    unsigned             refresh_failed; /* consecutive failed reloads */

    struct evhttp              *admin;   /* the admin port, when configured */
    struct evhttp_bound_socket *admin_bound;
    unsigned                    admin_inflight;   /* requests read, not yet answered */
    unsigned                    admin_lingering:1;
    struct event               *admin_linger;
    struct lbd_status_file     *files;   /* the status page's, read at start */
    unsigned                    nfiles;
    uint64_t                    reloads; /* lbd_shm->reloads when they were read */

    struct lbd_service  *services;
    unsigned             nservices;

    struct lbd_conn     *conns;          /* every open connection */
    unsigned             nconns;
    unsigned             max_conns;      /* worker_connections, or less when the
                                            open file limit allows less */
    unsigned             refused;        /* connections refused at the limit, not yet logged */
    int64_t              refused_logged; /* lbd_mono_ms() of the last such log line */
    unsigned             accepting:1;    /* listener events are added */
    unsigned             shutting_down:1;
    unsigned             yield_batch;    /* what the wakeup after stepping back from a shared
                                            socket takes (accept_quota); 0: no step back */
    unsigned             yielded:1;      /* stepped back: the next wakeup takes yield_batch */
    unsigned             draining:1;     /* graceful stop under way (taking the last of
                                            the queues): not the moment to exit */

    struct event        *accept_timer;   /* resumes accepts after EMFILE */
    struct event        *shed_timer;     /* at the limit: refuses what waits in the queue */
    struct event        *shutdown_timer;

    struct lbd_buf      *free_bufs;      /* recycled proxy buffers */
    unsigned             nfree_bufs;
    struct lbd_buf      *free_bulk;      /* and bulk ones (lbd_buf.h) */
    unsigned             nfree_bulk;
    uint64_t             buf_bytes;      /* in buffers held by connections now */
    unsigned             nbulk;          /* bulk buffers held by connections now */

    /* HTTP services (lbd_http*.c). */
    struct lbd_hclient  *hclients;       /* every open HTTP client connection */
    struct lbd_timers    timers;         /* HTTP clients' timeouts */
    struct lbd_hidle    *hidle;          /* idle backend connections, per shm slot */
    struct lbd_htxn     *free_txns;      /* recycled requests */
    unsigned             nfree_txns;
    struct lbd_http_head *hhead;         /* the parser's scratch: one head at a time */
    struct lbd_alog    **alogs;          /* per service: its access log, or NULL */
    struct event        *alog_timer;     /* flushes the access logs every second */
};

/*
 * Load a new snapshot when the published generation moved since the last
 * one: one read transaction, one pointer swap.  Cheap when nothing moved
 * (one atomic load).  Worker loop.
 */
void lbd_worker_refresh(struct lbd_worker *w);

/* --- lbd_admin.c: the admin port in a worker --- */

/* Serve the admin port on the inherited listener fd.  0 or -1 (logged). */
int lbd_admin_start(struct lbd_worker *w, int fd);

/* Stop accepting on the admin port (graceful stop). */
void lbd_admin_stop(struct lbd_worker *w);

/* Free everything of the admin port, open requests included. */
void lbd_admin_free(struct lbd_worker *w);

/* Start or stop the listener events of every service. */
void lbd_worker_accept_enable(struct lbd_worker *w, int on);

/*
 * During a graceful stop: leave the loop once no proxied connection and no
 * admin request is left.  Worker loop.
 */
void lbd_worker_maybe_exit(struct lbd_worker *w);

/* A connection ended: called by the proxy after it freed one. */
void lbd_worker_conn_closed(struct lbd_worker *w);

/*
 * Take over an accepted client socket: pick a backend, connect, proxy.
 * Worker loop; never blocks.  On any failure the socket is closed.
 */
void lbd_proxy_start(struct lbd_service *svc, int fd, const struct sockaddr *sa,
                     socklen_t salen);

/*
 * Take over an accepted client socket of an HTTP service: read requests,
 * balance each.  Worker loop; never blocks.  On failure the socket is closed.
 */
void lbd_http_start(struct lbd_service *svc, int fd, const struct sockaddr *sa,
                    socklen_t salen);

/*
 * Graceful stop: close HTTP clients idle between requests and the idle
 * backend connections; a request in flight finishes and its response says
 * "Connection: close".  Worker loop.
 */
void lbd_http_shutdown(struct lbd_worker *w);

/* Close every HTTP connection at once (fast stop, exit). */
void lbd_http_close_all(struct lbd_worker *w);

/* Close every connection at once (fast stop, shutdown timeout). */
void lbd_proxy_close_all(struct lbd_worker *w);

/* Free the recycled buffers. */
void lbd_proxy_free_buffers(struct lbd_worker *w);

#endif /* LBD_WORKER_H */
