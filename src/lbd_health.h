/*
 * lbd_health.h - active health checks: the control process probes every
 * backend of each pool that has a health_check, and its verdict goes to the
 * backend's shared-memory slot (workers skip a backend that is down) and to
 * the registry (backends.health, one events row per change).
 *
 * The checker (lbd_checker_*) runs in the control process's event loop and
 * never blocks: non-blocking sockets, libevent events, a bounded answer.
 * The pure parts below (counting, judging an HTTP answer, building the
 * request, the jitter) are apart so that unit tests can reach them.
 */
#ifndef LBD_HEALTH_H
#define LBD_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "lbd_conf.h"
#include "lbd_registry.h"
#include "lbd_shm.h"

/* An http check reads at most this much of the answer; what is there then is judged. */
#define LBD_HEALTH_MAX_ANSWER  65536

/* One backend's verdict and the run of equal outcomes that leads to the next one. */
struct lbd_health_track {
    enum lbd_health health;
    unsigned        rises;      /* successes in a row */
    unsigned        falls;      /* failures in a row */
};

/*
 * Count one check's outcome (ok: 1 success, 0 failure).  A backend that is
 * not up (down or unknown) becomes up after rise successes in a row; one
 * that is not down (up or unknown) becomes down after fall failures in a
 * row.  Returns 1 when t->health changed, else 0.  Pure.
 */
int lbd_health_count(struct lbd_health_track *t, int ok, int rise, int fall);

#define LBD_HEALTH_MORE   1     /* not decided yet: read more */
#define LBD_HEALTH_PASS   0
#define LBD_HEALTH_FAIL  -1

/*
 * Judge the answer to an http check: buf holds its first len bytes;
 * complete says nothing more will come (EOF, or the cap was reached).
 * Passes when the status line's status is in [status_min, status_max] and,
 * when check->body is set, the body holds that substring (searched in the
 * bytes as they came: a chunked body's framing is not removed, so a
 * substring cut by a chunk boundary is not found).  A status out of range
 * fails at once, without waiting for the body.  On LBD_HEALTH_FAIL a
 * reason for people is in why ("status 503 (want 200-399)").  Pure.
 */
int lbd_health_http_verdict(const struct lbd_check_conf *check, const char *buf, size_t len,
                            int complete, char *why, size_t whylen);

/*
 * The request of an http check to the backend whose "host:port" is
 * addr_text: "METHOD PATH HTTP/1.1", Host (check->host or addr_text),
 * Connection: close, User-Agent: lbd-health/VERSION.  Returns its length as
 * snprintf does (when >= len, buf holds no usable request).  Pure.
 */
int lbd_health_http_request(const struct lbd_check_conf *check, const char *addr_text,
                            char *buf, size_t len);

/*
 * Milliseconds until a backend's first check (uniform in [0, interval), so
 * the checks of many backends do not fire together) and until each later
 * one (interval +- 10 %, uniform), drawing from the generator state *rng.
 */
int lbd_health_first_delay(int interval, uint64_t *rng);
int lbd_health_next_delay(int interval, uint64_t *rng);

struct lbd_checker;

/*
 * Start checking, in base's loop, the backends of conf's pools that have a
 * health_check, as the registry (reg: the control process's read-write
 * connection) lists them; the list is read again whenever the shared
 * generation moves.  Each backend starts from the verdict its shared-memory
 * slot holds, so a restarted control process opens no window where a dead
 * backend counts as up.  Backends of pools without checks are put back to
 * unknown.  Returns NULL on failure (logged).  Control process only.
 */
struct lbd_checker *lbd_checker_start(struct event_base *base, const struct lbd_conf *conf,
                                      struct lbd_registry *reg);

/* Stop every check and free everything.  NULL is fine. */
void lbd_checker_free(struct lbd_checker *k);

#endif /* LBD_HEALTH_H */
