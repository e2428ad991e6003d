/*
 * lbd_timer.h - a worker's timeouts for many connections that share a few
 * durations (header_timeout, keepalive_timeout, ...).
 *
 * One FIFO list per (duration, handler) and one libevent timer for them
 * all.  A timeout set now for d ms ends after every one already on d's list,
 * so appending keeps each list in deadline order: setting, moving and
 * cancelling a timeout are a few pointer writes, and the libevent timer is
 * armed again only when the earliest deadline moves earlier.
 *
 * What a connection carries is a struct lbd_tnode, 24 bytes, where a
 * libevent timer is a 128-byte struct event with a place in a heap: at a
 * hundred thousand idle keepalive clients the difference is 10 MB, and the
 * heap's O(log n) per request becomes O(1).
 *
 * Deadlines are CLOCK_MONOTONIC ms (lbd_timers_now): wall clock steps move
 * none.  Everything here belongs to one worker's loop.
 */
#ifndef LBD_TIMER_H
#define LBD_TIMER_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

struct lbd_tnode {
    struct lbd_tnode *prev, *next;     /* its list's neighbours; NULL when not set */
    int64_t           due_ms;          /* loop time when it expires */
};

/* A timeout expired: n is no longer on any list (the handler may set it again). */
typedef void (*lbd_timer_fn)(struct lbd_tnode *n);

struct lbd_tqueue;

struct lbd_timers {
    struct event_base  *base;
    struct event        ev;            /* fires at the earliest deadline, or later */
    int64_t             armed_ms;      /* ev fires then; 0: not armed */
    struct lbd_tqueue **q;             /* one list per (duration, handler) */
    unsigned            nq;
};

/* Set up ts on base.  0, or -1 (no memory). */
int lbd_timers_init(struct lbd_timers *ts, struct event_base *base);

/* Free the lists (the nodes are their owners') and the event. */
void lbd_timers_free(struct lbd_timers *ts);

/* CLOCK_MONOTONIC in ms. */
int64_t lbd_timers_now(void);

/*
 * n expires ms from now and then fn(n) runs; whatever it was set for
 * before is forgotten.  0, or -1 when a new list could not be allocated
 * (n is then not set).  ms >= 0.
 */
int lbd_timer_set(struct lbd_timers *ts, struct lbd_tnode *n, int ms, lbd_timer_fn fn);

/*
 * n expires `in` ms from now (in <= ms), on ms's list: for a timeout of ms
 * that started earlier (at the last byte that moved).  Costs a step per
 * node on that list due later than n; lbd_timer_set's deadlines are the
 * latest, and cost none.  0 or -1, as lbd_timer_set.
 */
int lbd_timer_set_in(struct lbd_timers *ts, struct lbd_tnode *n, int in, int ms,
                     lbd_timer_fn fn);

/* n no longer expires (nothing when it was not set). */
void lbd_timer_cancel(struct lbd_tnode *n);

/* 1 when n is set. */
static inline int
lbd_timer_is_set(const struct lbd_tnode *n)
{
    return n->next != NULL;
}

#endif /* LBD_TIMER_H */
