/*
 * lbd_stats.c - traffic counters and the events ring in shared memory (see
 * lbd_stats.h and lbd_shm.h).
 */
#include <stdio.h>
#include <string.h>

#include "lbd_log.h"
#include "lbd_registry.h"
#include "lbd_stats.h"

const int64_t lbd_stats_bounds_us[LBD_HIST_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};

const char *const lbd_stat_names[LBD_STAT_COUNTERS] = {
    [LBD_STAT_CONNS] = "connections",   [LBD_STAT_REQUESTS] = "requests",
    [LBD_STAT_BYTES_IN] = "bytes_in",   [LBD_STAT_BYTES_OUT] = "bytes_out",
    [LBD_STAT_ERR_CONNECT] = "connect", [LBD_STAT_ERR_TIMEOUT] = "timeout",
    [LBD_STAT_ERR_RESET] = "reset",     [LBD_STAT_ERR_5XX] = "http_5xx",
    [LBD_STAT_1XX] = "1xx", [LBD_STAT_2XX] = "2xx", [LBD_STAT_3XX] = "3xx",
    [LBD_STAT_4XX] = "4xx", [LBD_STAT_5XX] = "5xx",
};

const char *const lbd_lat_names[LBD_LATS] = {
    [LBD_LAT_CONNECT] = "connect", [LBD_LAT_TTFB] = "ttfb", [LBD_LAT_TOTAL] = "total",
};

struct lbd_shm_stats *lbd_stats_self;

void
lbd_stats_set_worker(int wslot)
{
    lbd_stats_self = lbd_shm != NULL && wslot >= 0 ? &lbd_shm->workers[wslot].stats : NULL;
}

void
lbd_stats_reset(struct lbd_shm_stats *s)
{
    for (unsigned i = 0; i < LBD_STAT_COUNTERS; i++)
        atomic_store_explicit(&s->c[i], 0, memory_order_relaxed);
    for (unsigned l = 0; l < LBD_LATS; l++) {
        for (unsigned b = 0; b < LBD_HIST_BUCKETS; b++)
            atomic_store_explicit(&s->lat[l].counts[b], 0, memory_order_relaxed);
        atomic_store_explicit(&s->lat[l].sum_us, 0, memory_order_relaxed);
    }
}

void
lbd_stats_hist_add(struct lbd_shm_hist *h, int64_t us)
{
    unsigned b = 0;

    if (us < 0)
        us = 0;
    /* Most samples on a LAN land in the first few buckets: a linear scan. */
    while (b < LBD_HIST_BUCKETS - 1 && us > lbd_stats_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t) us, memory_order_relaxed);
}

void
lbd_stats_latency(const struct lbd_peer *peer, enum lbd_lat which, int64_t us)
{
    struct lbd_shm_stats *s = lbd_stats_peer(peer);

    if (s != NULL)
        lbd_stats_hist_add(&s->lat[which], us);
    if (lbd_stats_self != NULL)
        lbd_stats_hist_add(&lbd_stats_self->lat[which], us);
}

void
lbd_stats_hist_read(const struct lbd_shm_hist *h, struct lbd_hist_snap *out)
{
    struct lbd_shm_hist *m = (struct lbd_shm_hist *) h;

    out->count = 0;
    for (unsigned b = 0; b < LBD_HIST_BUCKETS; b++) {
        out->counts[b] = atomic_load_explicit(&m->counts[b], memory_order_relaxed);
        out->count += out->counts[b];
    }
    out->sum_us = atomic_load_explicit(&m->sum_us, memory_order_relaxed);
}

double
lbd_stats_quantile_ms(const struct lbd_hist_snap *h, double q)
{
    double   rank, below = 0;

    if (h->count == 0)
        return -1;
    rank = q * (double) h->count;
    for (unsigned b = 0; b < LBD_HIST_BUCKETS; b++) {
        double lo = b == 0 ? 0 : (double) lbd_stats_bounds_us[b - 1];

        if (below + (double) h->counts[b] >= rank && h->counts[b] > 0) {
            double hi;

            if (b == LBD_HIST_BUCKETS - 1)
                return lo / 1000;           /* +Inf: at least the last bound */
            hi = (double) lbd_stats_bounds_us[b];
            return (lo + (hi - lo) * (rank - below) / (double) h->counts[b]) / 1000;
        }
        below += (double) h->counts[b];
    }
    return (double) lbd_stats_bounds_us[LBD_HIST_BUCKETS - 2] / 1000;
}

/* --- the events ring --- */

static void
copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void
ring_push(const struct lbd_reg_event *ev, void *arg)
{
    struct lbd_shm_events *r = &lbd_shm->events;
    uint64_t               n = atomic_load_explicit(&r->pushed, memory_order_relaxed);
    struct lbd_shm_event  *e = &r->ring[n % LBD_SHM_EVENTS];

    (void) arg;
    /* Odd: being written.  The fence keeps the fields' stores after it. */
    atomic_store_explicit(&e->seq, 2 * n + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    e->id = ev->id;
    copy_text(e->at, sizeof(e->at), ev->at);
    copy_text(e->actor, sizeof(e->actor), ev->actor);
    copy_text(e->pool, sizeof(e->pool), ev->pool);
    copy_text(e->backend, sizeof(e->backend), ev->backend);
    copy_text(e->what, sizeof(e->what), ev->what);
    copy_text(e->old, sizeof(e->old), ev->old);
    copy_text(e->new_, sizeof(e->new_), ev->new_);
    copy_text(e->detail, sizeof(e->detail), ev->detail);
    atomic_store_explicit(&e->seq, 2 * (n + 1), memory_order_release);
    atomic_store_explicit(&r->last_id, ev->id, memory_order_relaxed);
    atomic_store_explicit(&r->pushed, n + 1, memory_order_release);
}

void
lbd_stats_events_sync(struct lbd_registry *reg)
{
    char err[256];

    if (lbd_shm == NULL)
        return;
    if (lbd_registry_events_after(reg, atomic_load(&lbd_shm->events.last_id), LBD_SHM_EVENTS,
                                  ring_push, NULL, err, sizeof(err)) != LBD_REG_OK)
        lbd_log(LBD_LOG_WARN, "registry: reading new events failed: %s", err);
}

unsigned
lbd_stats_events_read(struct lbd_shm_event *out, unsigned max)
{
    struct lbd_shm_events *r;
    uint64_t               pushed, k;
    unsigned               n = 0;

    if (lbd_shm == NULL)
        return 0;
    r = &lbd_shm->events;
    pushed = atomic_load_explicit(&r->pushed, memory_order_acquire);
    for (k = pushed; k > 0 && pushed - k < LBD_SHM_EVENTS && n < max; k--) {
        struct lbd_shm_event *e = &r->ring[(k - 1) % LBD_SHM_EVENTS];
        uint64_t              want = 2 * k;

        if (atomic_load_explicit(&e->seq, memory_order_acquire) != want)
            continue;
        memcpy((char *) &out[n] + sizeof(out[n].seq), (char *) e + sizeof(e->seq),
               sizeof(*e) - sizeof(e->seq));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) != want)
            continue;
        atomic_store_explicit(&out[n].seq, want, memory_order_relaxed);
        n++;
    }
    return n;
}
