/*
 * lbd_shm.h - the shared-memory segment: generation counter, worker slots,
 * backend slots.
 *
 * One anonymous MAP_SHARED mapping, made by the master before its first
 * fork and inherited by every child (workers and the control process), so
 * every process sees the same bytes at the same address.  It outlives
 * reloads; it does not outlive the master (a restart starts from zeros and
 * from the registry).
 *
 * Everything in it is a C11 atomic with one writer per field or with
 * add/sub/CAS semantics: no locks.  The rules:
 *
 *   generation   written by whoever committed a registry change, after the
 *                COMMIT, with lbd_shm_publish() (a monotonic maximum);
 *                read by every worker at each accept and on a short timer.
 *   workers[i]   written by the worker that owns slot i (its observed
 *                generation, the oldest generation it still holds) and by
 *                the master (pid, on fork and reap).
 *   backends[s]  counters added to by every worker (atomic adds); the slot
 *                number of a backend is a column of its registry row,
 *                assigned by the registry writer (lbd_registry.c).
 *   events       written by the control process only (a seqlock ring).
 *   conns[i][s]  the share of backends[s].active that worker slot i holds,
 *                so that the master can take back a dead worker's share.
 *
 * Slot reuse (epoch reclamation across processes): a backend removed at
 * generation G leaves its slot in the registry's retired_slots table with G;
 * the writer reuses it only when lbd_shm_oldest() >= G, that is when no
 * worker holds a snapshot older than G, so no connection can still count on
 * the slot.
 */
#ifndef LBD_SHM_H
#define LBD_SHM_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define LBD_SHM_MAGIC        0x6c626473u   /* "lbds" */
#define LBD_SHM_WORKERS      128           /* worker slots: 2 x worker_processes during a reload */
#define LBD_SHM_BACKENDS     4096          /* backend slots, all pools together */
#define LBD_SHM_NONE         UINT64_MAX    /* "holds nothing" for oldest */

/*
 * Traffic counters: one set per backend (every worker adds to it) and one
 * per worker (only that worker adds to it), relaxed atomic adds, read by
 * /status.json and /metrics (lbd_stats.h has the names and the helpers).
 * They only grow, until the slot is given to another backend or worker.
 */
enum lbd_stat {
    LBD_STAT_CONNS = 0,         /* backend: connections established; worker: accepted */
    LBD_STAT_REQUESTS,          /* backend: requests sent; worker: requests read */
    LBD_STAT_BYTES_IN,          /* backend: read from it; worker: read from clients */
    LBD_STAT_BYTES_OUT,         /* backend: written to it; worker: written to clients */
    LBD_STAT_ERR_CONNECT,       /* connect refused or failed */
    LBD_STAT_ERR_TIMEOUT,       /* connect or response timed out */
    LBD_STAT_ERR_RESET,         /* reset or closed before done */
    LBD_STAT_ERR_5XX,           /* the backend answered 5xx */
    LBD_STAT_1XX,               /* responses by status class */
    LBD_STAT_2XX,
    LBD_STAT_3XX,
    LBD_STAT_4XX,
    LBD_STAT_5XX,
    LBD_STAT_COUNTERS
};

/* Latency histograms. */
enum lbd_lat {
    LBD_LAT_CONNECT = 0,        /* connect() to established */
    LBD_LAT_TTFB,               /* http: request sent to first response byte */
    LBD_LAT_TOTAL,              /* http: request read to response written; tcp: the connection */
    LBD_LATS
};

#define LBD_HIST_BUCKETS  17    /* 16 fixed upper bounds (lbd_stats.h) and +Inf */

struct lbd_shm_hist {
    _Atomic uint64_t counts[LBD_HIST_BUCKETS];  /* not cumulative */
    _Atomic uint64_t sum_us;
};

struct lbd_shm_stats {
    _Atomic uint64_t    c[LBD_STAT_COUNTERS];
    struct lbd_shm_hist lat[LBD_LATS];
};

/*
 * The registry's most recent events, for /status.json: a ring that only
 * the control process writes (after the events rows committed), read by
 * any worker without a lock.  Each entry is a seqlock: seq is odd while
 * the writer fills it, and 2 * (its index + 1) once it is whole; a reader
 * copies the entry and keeps the copy only when seq was that even value
 * before and after.  Strings are cut to fit (the registry has them whole).
 */
#define LBD_SHM_EVENTS    64

struct lbd_shm_event {
    _Atomic uint64_t seq;
    int64_t          id;            /* events.id */
    char             at[32];
    char             actor[16];
    char             pool[65];
    char             backend[96];
    char             what[24];
    char             old[48];
    char             new_[48];
    char             detail[96];
};

struct lbd_shm_events {
    _Atomic uint64_t     pushed;    /* entries ever written; the newest is pushed - 1 */
    _Atomic int64_t      last_id;   /* events.id of the newest */
    struct lbd_shm_event ring[LBD_SHM_EVENTS];
};

/* Health of a backend as the checks see it (issue 4 fills it in). */
enum lbd_health {
    LBD_HEALTH_UNKNOWN = 0,     /* never checked: counts as up */
    LBD_HEALTH_UP,
    LBD_HEALTH_DOWN,
};

struct lbd_shm_worker {
    _Atomic int32_t  pid;           /* 0: the slot is free */
    _Atomic uint64_t generation;    /* of the snapshot it routes new connections with */
    _Atomic uint64_t oldest;        /* oldest generation of a snapshot it still holds */
    _Atomic int64_t  applied_ns;    /* CLOCK_MONOTONIC when it took `generation` */
    _Atomic uint64_t snapshots;     /* snapshots built since it started */
    _Atomic uint64_t active;        /* client connections open */
    _Atomic uint32_t full;          /* 1: not accepting (at its limit, paused, stopping) */
    _Atomic uint32_t bulk_buffers;  /* bulk buffers its connections hold */
    _Atomic uint64_t buffer_bytes;  /* bytes of buffers its connections hold */
    struct lbd_shm_stats stats;     /* its traffic, all backends together */
} __attribute__((aligned(64)));

struct lbd_shm_backend {
    _Atomic int64_t  id;            /* registry id of the backend in this slot, 0: none */
    _Atomic int64_t  active;        /* connections open to it, every worker */
    _Atomic uint64_t fails;         /* failures of any kind (the circuit breaker's) */
    _Atomic uint32_t health;        /* enum lbd_health: the active checks' verdict */
    _Atomic uint32_t fails_in_row;  /* passive: consecutive failures, any worker */
    _Atomic int64_t  ejected_until; /* passive: CLOCK_MONOTONIC ms; 0: not ejected */
    _Atomic uint32_t ejections;     /* passive: ejections in a row (the back-off grows) */
    _Atomic int32_t  trial;         /* passive: 1 while the half-open trial is out */
    _Atomic int64_t  up_since;      /* ms when it last came (back) up: slow start; 0: long ago */
    struct lbd_shm_stats stats;     /* its traffic, every worker's */
} __attribute__((aligned(64)));

struct lbd_shm {
    uint32_t                magic;
    uint32_t                size;
    _Atomic uint64_t        generation;     /* last committed registry generation */
    _Atomic int64_t         committed_ns;   /* CLOCK_MONOTONIC when it was published */
    _Atomic uint64_t        publishes;      /* times the generation moved */
    _Atomic uint64_t        reloads;        /* HUPs applied; the master's: workers kept
                                               across one re-read the page's files */
    struct lbd_shm_events   events;         /* the registry's latest events */
    struct lbd_shm_worker   workers[LBD_SHM_WORKERS];
    struct lbd_shm_backend  backends[LBD_SHM_BACKENDS];
    _Atomic uint32_t        conns[LBD_SHM_WORKERS][LBD_SHM_BACKENDS];
};

/* The segment, or NULL when this process has none (lbd -t, unit tests). */
extern struct lbd_shm *lbd_shm;

/*
 * Map a zeroed segment and set lbd_shm.  Master only, before the first
 * fork.  Returns 0 or -1 (logged).
 */
int lbd_shm_create(void);

/* CLOCK_MONOTONIC in nanoseconds: comparable across processes. */
int64_t lbd_shm_now_ns(void);

/*
 * Publish generation after its COMMIT: the counter only ever grows (a late
 * publisher of an older generation changes nothing).  Any process.
 */
void lbd_shm_publish(struct lbd_shm *shm, uint64_t generation);

/* The published generation: one relaxed-acquire load.  Any process. */
static inline uint64_t
lbd_shm_generation(const struct lbd_shm *shm)
{
    return atomic_load_explicit(&((struct lbd_shm *) shm)->generation, memory_order_acquire);
}

/*
 * Take a free worker slot for a child about to be forked.  Its generation
 * and oldest start at the published generation (the child reads the
 * registry at that generation or later, so the claim is conservative).
 * Master only.  Returns the slot, or -1 when all are taken.
 */
int lbd_shm_worker_claim(struct lbd_shm *shm);

/* Record the pid of the child forked for slot.  Master only. */
void lbd_shm_worker_set_pid(struct lbd_shm *shm, int slot, pid_t pid);

/*
 * A worker died or exited: take back its share of every backend's active
 * count and free its slot.  Master only.
 */
void lbd_shm_worker_release(struct lbd_shm *shm, int slot);

/*
 * The oldest generation any live worker still holds a snapshot of, or
 * LBD_SHM_NONE when no worker holds any.  Any process.
 */
uint64_t lbd_shm_oldest(const struct lbd_shm *shm);

/*
 * Give slot to backend id: zero its counters, health unknown.  The
 * registry writer, inside the transaction that assigns the slot (nobody
 * else can be counting on it, see slot reuse above).
 */
void lbd_shm_backend_reset(struct lbd_shm *shm, unsigned slot, int64_t id);

/*
 * The backend is (back) up: a successful trial connection, or the health
 * checks' verdict.  Closes its passive circuit breaker (no failures, no
 * ejection, no trial out) and starts its slow-start ramp at now_ms
 * (CLOCK_MONOTONIC).  Any process.
 */
void lbd_shm_backend_back(struct lbd_shm_backend *b, int64_t now_ms);

/*
 * One connection more (delta 1) or less (-1) to the backend in slot, held
 * by worker wslot.  Worker loop; two relaxed atomic adds.
 */
static inline void
lbd_shm_backend_active(struct lbd_shm *shm, int wslot, unsigned slot, int delta)
{
    atomic_fetch_add_explicit(&shm->backends[slot].active, delta, memory_order_relaxed);
    atomic_fetch_add_explicit(&shm->conns[wslot][slot], (uint32_t) delta, memory_order_relaxed);
}

#endif /* LBD_SHM_H */
