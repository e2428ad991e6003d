/*
 * lbd_peer.h - the core's side of a backend's live state: the passive
 * circuit breaker that the proxy feeds (lbd_peer.c).  Strategies see only
 * lbd_peer_eligible, lbd_peer_weight and lbd_peer_load (include/lbd.h).
 */
#ifndef LBD_PEER_H
#define LBD_PEER_H

#include "lbd.h"
#include "lbd_conf.h"

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

/*
 * The client's address as a 64-bit key: FNV-1a over the IP bytes, not the
 * port; an IPv4 client seen through an IPv6 socket keys as itself.  What
 * hash strategies map to a backend, equal in every worker.
 */
uint64_t lbd_client_key(const struct sockaddr *sa);

#endif /* LBD_PEER_H */
