/*
 * test_timer.c - unit tests of a worker's timeout lists (src/lbd_timer.c),
 * in a real libevent loop of this process: order within and across
 * durations, cancel, moving a timeout, an early deadline put in its place,
 * handlers that set timeouts again, and how long the loop really waited.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "lbd_timer.h"

struct item {
    struct lbd_tnode node;
    int              id;
    int64_t          fired_ms;       /* CLOCK_MONOTONIC when it fired */
};

static struct lbd_timers ts;
static struct event_base *base;
static int                order[64];
static int                nfired;

static int64_t
mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
fired(struct lbd_tnode *n)
{
    struct item *it = (struct item *) n;

    assert_false(lbd_timer_is_set(n));
    it->fired_ms = mono_ms();
    if (nfired < 64)
        order[nfired] = it->id;
    nfired++;
}

/* Stops the loop once everything expected has fired. */
static int expect;

static void
fired_then_maybe_stop(struct lbd_tnode *n)
{
    fired(n);
    if (nfired == expect)
        event_base_loopbreak(base);
}

static int
setup(void **state)
{
    base = event_base_new();
    assert_non_null(base);
    assert_int_equal(lbd_timers_init(&ts, base), 0);
    nfired = 0;
    expect = 0;
    return 0;
}

static int
teardown(void **state)
{
    lbd_timers_free(&ts);
    event_base_free(base);
    return 0;
}

/* The loop, bounded: a watchdog stops it after ms whatever happens. */
static void
run(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void
test_fire_in_deadline_order(void **state)
{
    struct item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 }, d = { .id = 4 };
    int64_t     t0 = mono_ms();

    /* Three durations, set out of order; two on the same list. */
    assert_int_equal(lbd_timer_set(&ts, &a.node, 120, fired_then_maybe_stop), 0);
    assert_int_equal(lbd_timer_set(&ts, &b.node, 40, fired_then_maybe_stop), 0);
    assert_int_equal(lbd_timer_set(&ts, &c.node, 80, fired_then_maybe_stop), 0);
    assert_int_equal(lbd_timer_set(&ts, &d.node, 40, fired_then_maybe_stop), 0);
    assert_true(lbd_timer_is_set(&a.node));
    expect = 4;
    run(2000);
    assert_int_equal(nfired, 4);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 4);
    assert_int_equal(order[2], 3);
    assert_int_equal(order[3], 1);
    /* Not before their time, and not much after on an idle loop. */
    assert_true(b.fired_ms - t0 >= 39);
    assert_true(c.fired_ms - t0 >= 79);
    assert_true(a.fired_ms - t0 >= 119);
}

static void
test_cancel_and_move(void **state)
{
    struct item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
    int64_t     t0 = mono_ms();

    lbd_timer_set(&ts, &a.node, 30, fired_then_maybe_stop);
    lbd_timer_set(&ts, &b.node, 30, fired_then_maybe_stop);
    lbd_timer_set(&ts, &c.node, 60, fired_then_maybe_stop);
    lbd_timer_cancel(&a.node);
    assert_false(lbd_timer_is_set(&a.node));
    lbd_timer_cancel(&a.node);                 /* twice is harmless */
    /* b moves to a longer list: it now fires after c. */
    lbd_timer_set(&ts, &b.node, 150, fired_then_maybe_stop);
    expect = 2;
    run(2000);
    assert_int_equal(nfired, 2);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 2);
    assert_int_equal(a.fired_ms, 0);
    assert_true(b.fired_ms - t0 >= 149);
}

static void
test_early_deadline_goes_in_order(void **state)
{
    struct item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };

    /*
     * On the 5 s list: a and b from now, c as if it had started 4.95 s ago.
     * c must fire on its own deadline, not queued behind a's.
     */
    lbd_timer_set(&ts, &a.node, 5000, fired_then_maybe_stop);
    lbd_timer_set(&ts, &b.node, 5000, fired_then_maybe_stop);
    assert_int_equal(lbd_timer_set_in(&ts, &c.node, 50, 5000, fired_then_maybe_stop), 0);
    assert_true(c.node.due_ms < a.node.due_ms);
    expect = 1;
    run(4000);
    assert_int_equal(nfired, 1);
    assert_int_equal(order[0], 3);
    assert_true(lbd_timer_is_set(&a.node));
    assert_true(lbd_timer_is_set(&b.node));
    lbd_timer_cancel(&a.node);
    lbd_timer_cancel(&b.node);
}

/* A handler that sets its own timeout again, as a client's does. */
static struct item again;
static int         again_left;

static void
fired_again(struct lbd_tnode *n)
{
    fired(n);
    if (--again_left > 0)
        lbd_timer_set(&ts, n, 10, fired_again);
    else
        event_base_loopbreak(base);
}

static void
test_handler_sets_again(void **state)
{
    again.id = 7;
    again.fired_ms = 0;
    again_left = 5;
    lbd_timer_set(&ts, &again.node, 10, fired_again);
    run(2000);
    assert_int_equal(nfired, 5);
    assert_int_equal(again_left, 0);
    assert_false(lbd_timer_is_set(&again.node));
}

/* Many on one list, half cancelled: the rest fire, each once. */
static void
test_many(void **state)
{
    enum { N = 2000 };
    struct item *items = calloc(N, sizeof(*items));

    assert_non_null(items);
    for (int i = 0; i < N; i++) {
        items[i].id = i;
        lbd_timer_set(&ts, &items[i].node, 20, fired_then_maybe_stop);
    }
    for (int i = 0; i < N; i += 2)
        lbd_timer_cancel(&items[i].node);
    expect = N / 2;
    run(3000);
    assert_int_equal(nfired, N / 2);
    for (int i = 0; i < N; i++)
        assert_true((items[i].fired_ms != 0) == (i % 2 == 1));
    free(items);
}

/* Freeing the lists leaves nodes still set detached, not dangling. */
static void
test_free_detaches(void **state)
{
    struct item a = { .id = 1 };

    lbd_timer_set(&ts, &a.node, 1000, fired);
    lbd_timers_free(&ts);
    assert_false(lbd_timer_is_set(&a.node));
    assert_int_equal(lbd_timers_init(&ts, base), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fire_in_deadline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_deadline_goes_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_sets_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_detaches, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
