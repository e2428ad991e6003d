/*
 * lbd_timer.c - a worker's timeout lists (lbd_timer.h).
 *
 * Each list is circular with its head as sentinel, so a node leaves its
 * list without knowing which one it is on.  Lists are never freed before
 * the worker ends: there is one per distinct duration and handler the
 * configuration has, a handful.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "lbd_log.h"
#include "lbd_timer.h"

struct lbd_tqueue {
    struct lbd_tnode head;     /* head.next: the earliest; head.prev: the latest */
    int              ms;
    lbd_timer_fn     fn;
};

int64_t
lbd_timers_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
arm(struct lbd_timers *ts, int64_t due, int64_t now)
{
    int64_t        ms = due > now ? due - now : 0;
    struct timeval tv = { (time_t) (ms / 1000), (suseconds_t) (ms % 1000) * 1000 };

    ts->armed_ms = due;
    evtimer_add(&ts->ev, &tv);
}

/* Arm for the earliest deadline of every list, unless armed at or before it. */
static void
rearm(struct lbd_timers *ts, int64_t now)
{
    int64_t due = 0;

    for (unsigned i = 0; i < ts->nq; i++) {
        struct lbd_tnode *first = ts->q[i]->head.next;

        if (first != &ts->q[i]->head && (due == 0 || first->due_ms < due))
            due = first->due_ms;
    }
    if (due != 0 && (ts->armed_ms == 0 || due < ts->armed_ms))
        arm(ts, due, now);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lbd_timers *ts = arg;
    int64_t            now = lbd_timers_now();

    (void) fd;
    (void) what;
    ts->armed_ms = 0;
    /* Handlers may set timeouts, on new lists too: re-read q and nq each time. */
    for (unsigned i = 0; i < ts->nq; i++) {
        struct lbd_tqueue *q = ts->q[i];

        while (q->head.next != &q->head && q->head.next->due_ms <= now) {
            struct lbd_tnode *n = q->head.next;

            lbd_timer_cancel(n);
            q->fn(n);
        }
    }
    rearm(ts, now);
}

int
lbd_timers_init(struct lbd_timers *ts, struct event_base *base)
{
    ts->base = base;
    ts->armed_ms = 0;
    ts->q = NULL;
    ts->nq = 0;
    return evtimer_assign(&ts->ev, base, on_timer, ts);
}

void
lbd_timers_free(struct lbd_timers *ts)
{
    evtimer_del(&ts->ev);
    for (unsigned i = 0; i < ts->nq; i++) {
        struct lbd_tqueue *q = ts->q[i];

        /* Whatever is still listed belongs to its owner: just detach it. */
        while (q->head.next != &q->head)
            lbd_timer_cancel(q->head.next);
        free(q);
    }
    free(ts->q);
    ts->q = NULL;
    ts->nq = 0;
}

/* The list for (ms, fn), made when new.  NULL: no memory. */
static struct lbd_tqueue *
queue_for(struct lbd_timers *ts, int ms, lbd_timer_fn fn)
{
    struct lbd_tqueue **grown, *q;

    for (unsigned i = 0; i < ts->nq; i++)
        if (ts->q[i]->ms == ms && ts->q[i]->fn == fn)
            return ts->q[i];
    if ((q = malloc(sizeof(*q))) == NULL)
        return NULL;
    if ((grown = realloc(ts->q, (ts->nq + 1) * sizeof(*grown))) == NULL) {
        free(q);
        return NULL;
    }
    q->head.next = q->head.prev = &q->head;
    q->head.due_ms = 0;
    q->ms = ms;
    q->fn = fn;
    grown[ts->nq++] = q;
    ts->q = grown;
    return q;
}

int
lbd_timer_set_in(struct lbd_timers *ts, struct lbd_tnode *n, int in, int ms, lbd_timer_fn fn)
{
    struct lbd_tqueue *q = queue_for(ts, ms, fn);
    int64_t            now = lbd_timers_now(), due = now + (in > 0 ? in : 0);
    struct lbd_tnode  *at;

    lbd_timer_cancel(n);
    if (q == NULL) {
        lbd_log_err(LBD_LOG_ERROR, ENOMEM, "no memory for a timeout list");
        return -1;
    }
    /* After the last one due no later: the tail itself, but for a shorter wait. */
    for (at = q->head.prev; at != &q->head && at->due_ms > due; at = at->prev)
        ;
    n->due_ms = due;
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
    if (ts->armed_ms == 0 || due < ts->armed_ms)
        arm(ts, due, now);
    return 0;
}

int
lbd_timer_set(struct lbd_timers *ts, struct lbd_tnode *n, int ms, lbd_timer_fn fn)
{
    return lbd_timer_set_in(ts, n, ms, ms, fn);
}

void
lbd_timer_cancel(struct lbd_tnode *n)
{
    if (n->next == NULL)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}
