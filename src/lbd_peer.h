/*
 * lbd_peer.h - the core's side of a backend's live state: the passive
 * circuit breaker that the proxy feeds (lbd_peer.c).  Strategies see only
 * lbd_peer_eligible, lbd_peer_weight and lbd_peer_load (include/lbd.h).
 */
#ifndef LBD_PEER_H
#define LBD_PEER_H

#include "lbd.h"
#include "lbd_conf.h"
#include "lbd_shm.h"

#define LBD_PEER_CLAIM_NONE    0   /* ejected, or another worker holds the trial: skip it */
#define LBD_PEER_CLAIM_NORMAL  1   /* the circuit is closed: connect */
#define LBD_PEER_CLAIM_TRIAL   2   /* this connection is the half-open trial */

/*
 * Before connecting to a peer pick() returned: may this connection go
 * there, and is it the circuit's trial?  Worker loop: one CAS at most.
 */
int lbd_peer_claim(struct lbd_peer *peer, int64_t now_ms);

/* A connection to peer ended cleanly: clear its failures in a row. */
void lbd_peer_ok(struct lbd_peer *peer);

/* The connection to peer was established; trial: it was the half-open trial (closes the circuit). */
void lbd_peer_success(struct lbd_peer *peer, int trial, int64_t now_ms, const char *pool);

/*
 * A connect to peer failed or timed out: count it; open the circuit after
 * pc->failures in a row, or again (longer) when the trial failed.
 */
void lbd_peer_failure(struct lbd_peer *peer, int trial, const struct lbd_passive_conf *pc,
                      int64_t now_ms, const char *pool);

/*
 * CLOCK_MONOTONIC in ms (the coarse clock: a vDSO read), the clock of every
 * time in shared memory (ejections, slow start).  Any process.
 */
int64_t lbd_mono_ms(void);

/* FNV-1a, 64 bits, of n bytes: client keys, backend keys, hash keys. */
uint64_t lbd_fnv1a(const void *data, size_t n);

/*
 * The client's address as a 64-bit key: FNV-1a over the IP bytes, not the
 * port; an IPv4 client seen through an IPv6 socket keys as itself.  What
 * hash strategies map to a backend, equal in every worker.
 */
uint64_t lbd_client_key(const struct sockaddr *sa);

/*
 * A TCP connection or an HTTP request now counts against peer, in this
 * worker (peer->active) and in every worker's view (shared memory, wslot's
 * share).  Worker loop.
 */
void lbd_peer_hold(struct lbd_peer *peer, int wslot);

/* It no longer does; pool's strategy hears the outcome.  Worker loop. */
void lbd_peer_drop(struct lbd_pool *pool, struct lbd_peer *peer, int wslot,
                   enum lbd_outcome outcome);

/*
 * peer failed a connection or request (refused, timed out, reset, a
 * malformed answer): count it as kind (LBD_STAT_ERR_*) for the backend and
 * this worker, and feed the circuit breaker with pool's passive settings
 * (none: no ejection).  trial: it was the half-open trial.
 */
void lbd_peer_failed(const struct lbd_pool *pool, struct lbd_peer *peer, int trial,
                     enum lbd_stat kind);

/*
 * The peers a connection or request has tried: a bitmap for lbd_pick.tried,
 * in `small` for pools of up to 64 peers, else allocated.  Zero it to
 * start; lbd_tried_reset() sizes and clears it for a pool of npeers (0 or
 * -1: out of memory), lbd_tried_free() lets go of an allocated map.
 */
struct lbd_tried {
    uint64_t  small;
    uint64_t *map;       /* &small, or words words; NULL before the first reset */
    unsigned  words;
};

int  lbd_tried_reset(struct lbd_tried *t, unsigned npeers);
void lbd_tried_free(struct lbd_tried *t);

#endif /* LBD_PEER_H */
