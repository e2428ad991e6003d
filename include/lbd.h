/*
 * lbd.h - what a balancing module needs from the core, and little else.
 *
 * A strategy sees a pool of peers that does not change under it (a pool is
 * part of an immutable snapshot; a new set of backends means a new pool and a
 * fresh init()).  Everything a strategy mutates lives in its own state, which
 * belongs to one worker: no locks, no atomics unless the strategy reads shared
 * counters on purpose.
 */
#ifndef LBD_H
#define LBD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LBD_VERSION "0.1.0"

/* Error codes: 0 is success, negative is failure. */
#define LBD_OK       0
#define LBD_ERROR   -1
#define LBD_DECLINED -2   /* nothing to offer: e.g. no peer left to pick */

/* A resolved socket address together with the text the operator wrote. */
struct lbd_addr {
    struct sockaddr_storage ss;
    socklen_t               len;
    char                    text[80];   /* "host:port" as written, for logs */
};

struct lbd_shm_backend;

/*
 * One backend of a pool, as a worker sees it.  The fields up to `slot` are
 * fixed for the life of the snapshot; whether the peer may take a
 * connection now, and with which weight, changes under it (health checks,
 * ejection, slow start: all in shared memory) and is asked with
 * lbd_peer_eligible() and lbd_peer_weight().
 */
struct lbd_peer {
    struct lbd_addr addr;          /* addr.text "host:port": the stable identity (hash keys) */
    int             weight;        /* configured weight, 1..1000 */
    unsigned        index;         /* position in pool->peers */
    unsigned        down:1;        /* never eligible in this snapshot (no address...) */
    unsigned        draining:1;    /* state drain or disabled: no new connections */
    int64_t         id;            /* registry id */
    uint64_t        key;           /* FNV-1a of addr.text: its identity in every worker and
                                      across restarts (sticky cookies, idle pools) */
    int             slot;          /* shared-memory slot, -1 when none */
    struct lbd_shm_backend *live;  /* its shared-memory slot, or NULL (unit tests) */
    int             slow_start;    /* ms its pool ramps a backend that came up; 0: off */
    uint64_t        active;        /* connections open through this worker */
    uint64_t        fails;         /* failures seen by this worker (refused, timed out, reset) */
};

struct lbd_strategy;

/* A pool: an ordered set of peers and the strategy that picks among them. */
struct lbd_pool {
    char                      *name;
    struct lbd_peer           *peers;
    unsigned                   npeers;
    const struct lbd_strategy *strategy;
    void                      *sdata;     /* the strategy's per-worker state */
    const void                *conf;      /* the core's: its struct lbd_pool_conf, or NULL */
    int                        backup;    /* the core's: index of the backup pool, or -1 */
};

/*
 * What pick() may look at.  tried is a bitmap of npeers bits: peers already
 * tried for this connection, which pick() must not return again.  The caller
 * owns it and sets the bit of the peer it got.
 */
struct lbd_pick {
    const struct sockaddr *client;
    socklen_t              clientlen;
    const uint64_t        *tried;
    uint64_t               key;      /* hash of the client's address (hash strategies) */
    int64_t                now_ms;   /* loop time, CLOCK_MONOTONIC ms */
};

/* Outcomes reported through release(). */
enum lbd_outcome {
    LBD_PEER_OK = 0,        /* the connection was established and ended */
    LBD_PEER_CONNECT_FAILED,/* refused, unreachable or timed out on connect */
};

/*
 * Can peer take a new connection now?  Not drained or disabled, not down by
 * the health checks, not ejected by passive detection (or this is the one
 * trial connection of a half-open circuit).  Worker loop: atomic loads only.
 */
int lbd_peer_eligible(const struct lbd_peer *peer, const struct lbd_pick *ctx);

/* lbd_peer_weight() is in hundredths of the configured weight. */
#define LBD_WEIGHT_SCALE 100

/*
 * The weight to balance peer with now: its configured weight times
 * LBD_WEIGHT_SCALE, ramped up from a tenth of that during slow start after
 * it came (back) up.  >= 1.
 */
int lbd_peer_weight(const struct lbd_peer *peer, const struct lbd_pick *ctx);

/*
 * Open connections to peer from every worker (shared memory), the load
 * least-connection strategies compare.  Falls back to this worker's count
 * when the peer has no shared slot.
 */
int64_t lbd_peer_load(const struct lbd_peer *peer);

/*
 * A balancing strategy.  Every hook but name and pick may be NULL.
 *
 * init(pool)  build pool->sdata for a freshly built pool; 0 or -1.  Runs in
 *             a worker (or the master, for `lbd -t`), may allocate.
 * fini(pool)  free pool->sdata.
 * pick(pool, ctx)
 *             return a peer for which lbd_peer_eligible() holds and that is
 *             not in ctx->tried, or NULL.  Balance by lbd_peer_weight().
 *             Worker loop: must not block, should not allocate.
 * connected(pool, peer, connect_us)
 *             the connection pick() chose is established, after connect_us
 *             microseconds (latency-aware strategies).
 * release(pool, peer, outcome)
 *             the connection that pick() chose ended with this outcome.
 */
struct lbd_strategy {
    const char *name;
    unsigned    flags;
    int              (*init)(struct lbd_pool *pool);
    void             (*fini)(struct lbd_pool *pool);
    struct lbd_peer *(*pick)(struct lbd_pool *pool, const struct lbd_pick *ctx);
    void             (*connected)(struct lbd_pool *pool, struct lbd_peer *peer,
                                  int64_t connect_us);
    void             (*release)(struct lbd_pool *pool, struct lbd_peer *peer,
                                enum lbd_outcome outcome);
};

/* Bitmap helpers for lbd_pick.tried. */
#define LBD_BITMAP_WORDS(n) (((n) + 63) / 64)

static inline int
lbd_bit_test(const uint64_t *map, unsigned i)
{
    return (map[i / 64] >> (i % 64)) & 1;
}

static inline void
lbd_bit_set(uint64_t *map, unsigned i)
{
    map[i / 64] |= (uint64_t) 1 << (i % 64);
}

/*
 * Register a strategy under its name.  Refuses a duplicate name (-1).
 * Called once per module at start, before any config is read.
 */
int lbd_strategy_register(const struct lbd_strategy *s);

/* The strategy registered under name, or NULL. */
const struct lbd_strategy *lbd_strategy_find(const char *name);

/*
 * Walk the registered strategies: lbd_strategy_at(i) for i below
 * lbd_strategy_count(), in the order they were registered (NULL past the
 * end).  The registry lists them in its strategies table.
 */
unsigned                   lbd_strategy_count(void);
const struct lbd_strategy *lbd_strategy_at(unsigned i);

/* Register every module that configure compiled in (objs/lbd_modules.c). */
void lbd_modules_register(void);

#endif /* LBD_H */
