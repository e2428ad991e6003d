/*
 * lbd_stats.h - counting traffic into shared memory (the counters are
 * declared in lbd_shm.h), and reading it back for /status.json and
 * /metrics (lbd_status.c).
 *
 * A worker counts every event twice: into the backend's set (every worker
 * adds to it) and into its own set (lbd_stats_self, which only it writes).
 * Each count is one relaxed atomic add: no lock, no fence, and a reader may
 * see one counter a moment ahead of another, never a torn value.
 */
#ifndef LBD_STATS_H
#define LBD_STATS_H

#include <stdint.h>

#include "lbd.h"
#include "lbd_shm.h"

/* Upper bounds of the finite latency buckets, in microseconds. */
extern const int64_t lbd_stats_bounds_us[LBD_HIST_BUCKETS - 1];

/* Names: "connections", "requests", ..., "http_5xx", "1xx"... and "connect", "ttfb", "total". */
extern const char *const lbd_stat_names[LBD_STAT_COUNTERS];
extern const char *const lbd_lat_names[LBD_LATS];

/* This process's own set: a worker's slot in shared memory; NULL elsewhere. */
extern struct lbd_shm_stats *lbd_stats_self;

/* Point lbd_stats_self at worker slot wslot's set (-1: none).  Worker start. */
void lbd_stats_set_worker(int wslot);

/* Zero a set: when its slot is given to another backend or worker. */
void lbd_stats_reset(struct lbd_shm_stats *s);

static inline void
lbd_stats_add(struct lbd_shm_stats *s, enum lbd_stat what, uint64_t n)
{
    if (s != NULL)
        atomic_fetch_add_explicit(&s->c[what], n, memory_order_relaxed);
}

/* The backend's set of peer, or NULL (no shared memory, no slot). */
static inline struct lbd_shm_stats *
lbd_stats_peer(const struct lbd_peer *peer)
{
    if (lbd_shm == NULL || peer == NULL || peer->slot < 0)
        return NULL;
    return &lbd_shm->backends[peer->slot].stats;
}

/* Count n of what against peer (when not NULL) and against this worker. */
static inline void
lbd_stats_both(const struct lbd_peer *peer, enum lbd_stat what, uint64_t n)
{
    lbd_stats_add(lbd_stats_peer(peer), what, n);
    lbd_stats_add(lbd_stats_self, what, n);
}

/* The counter of an HTTP status's class: LBD_STAT_1XX... (anything else: 5xx). */
static inline enum lbd_stat
lbd_stats_class(int status)
{
    if (status >= 100 && status < 600)
        return (enum lbd_stat) (LBD_STAT_1XX + status / 100 - 1);
    return LBD_STAT_5XX;
}

/* One sample of us microseconds into a histogram (negative counts as 0). */
void lbd_stats_hist_add(struct lbd_shm_hist *h, int64_t us);

/* A latency sample against peer (when not NULL) and against this worker. */
void lbd_stats_latency(const struct lbd_peer *peer, enum lbd_lat which, int64_t us);

/* Microseconds of CLOCK_MONOTONIC (a vDSO read): what latencies are measured with. */
static inline int64_t
lbd_stats_now_us(void)
{
    return lbd_shm_now_ns() / 1000;
}

/* A histogram read at once: plain numbers. */
struct lbd_hist_snap {
    uint64_t counts[LBD_HIST_BUCKETS];
    uint64_t count;                     /* their sum */
    uint64_t sum_us;
};

void lbd_stats_hist_read(const struct lbd_shm_hist *h, struct lbd_hist_snap *out);

/*
 * The q-quantile (0 < q < 1) of a histogram in milliseconds, interpolated
 * linearly inside its bucket (the +Inf bucket answers its lower bound);
 * -1 when it holds no sample.
 */
double lbd_stats_quantile_ms(const struct lbd_hist_snap *h, double q);

/*
 * The control process: copy the registry's events newer than the ring's
 * newest into the ring (lbd_registry_events_after), so that workers can
 * serve them without SQLite.  Cheap when there is nothing new (one
 * indexed query).
 */
struct lbd_registry;
void lbd_stats_events_sync(struct lbd_registry *reg);

/*
 * Copy the ring's entries into out, newest first, at most max; entries
 * being written at that moment are left out.  Returns how many.  Any
 * process.
 */
unsigned lbd_stats_events_read(struct lbd_shm_event *out, unsigned max);

#endif /* LBD_STATS_H */
