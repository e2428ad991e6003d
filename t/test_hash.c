/*
 * test_hash.c - Maglev hashing: workers agree, removal and addition move few
 * keys, weights give proportional shares, and an ineligible or tried peer's
 * keys go elsewhere while every other key stays.
 *
 * Everything here is deterministic: peers are named "10.0.0.x:80" and keys
 * are splitmix64 of 0, 1, 2...  The figures printed are those of this
 * fixed set, so a change in the algorithm shows as a change in them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lbd.h"

#define MAXP  16
#define NKEYS 10000

struct fixture {
    struct lbd_pool pool;
    struct lbd_peer peers[MAXP];
};

static const struct lbd_strategy *hash;

static uint64_t
key_of(uint64_t k)
{
    k += 0x9e3779b97f4a7c15ULL;
    k = (k ^ (k >> 30)) * 0xbf58476d1ce4e5b9ULL;
    k = (k ^ (k >> 27)) * 0x94d049bb133111ebULL;
    return k ^ (k >> 31);
}

/*
 * A pool of the peers named by ids (10.0.0.<id>:80) with these weights
 * (NULL: all 1), in that order.
 */
static void
pool_init(struct fixture *f, const int *ids, const int *weights, unsigned n)
{
    memset(f, 0, sizeof(*f));
    for (unsigned i = 0; i < n; i++) {
        snprintf(f->peers[i].addr.text, sizeof(f->peers[i].addr.text), "10.0.0.%d:80", ids[i]);
        f->peers[i].weight = weights ? weights[i] : 1;
        f->peers[i].index = i;
        f->peers[i].slot = -1;
    }
    f->pool.name = "t";
    f->pool.peers = f->peers;
    f->pool.npeers = n;
    f->pool.strategy = hash;
    assert_int_equal(hash->init(&f->pool), LBD_OK);
}

static void
pool_fini(struct fixture *f)
{
    hash->fini(&f->pool);
    assert_null(f->pool.sdata);
}

/* The peer key k lands on, as its id (the x of 10.0.0.x), or -1 for none. */
static int
pick_id(struct fixture *f, uint64_t key, const uint64_t *tried)
{
    struct lbd_pick  ctx = { .key = key, .tried = tried };
    struct lbd_peer *p = hash->pick(&f->pool, &ctx);

    if (p == NULL)
        return -1;
    assert_true(p >= f->peers && p < f->peers + f->pool.npeers);
    return atoi(p->addr.text + strlen("10.0.0."));
}

static int
setup(void **state)
{
    lbd_modules_register();
    hash = lbd_strategy_find("hash");
    return hash == NULL ? -1 : 0;
}

/*
 * Two workers build their pools independently, one of them with the peers
 * in another order: the table hangs on the addresses, not on positions, so
 * every key lands on the same backend in both.
 */
static void
test_workers_agree(void **state)
{
    static const int ids[5] = { 1, 2, 3, 4, 5 }, shuffled[5] = { 4, 1, 5, 3, 2 };
    struct fixture  *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *c = malloc(sizeof(*c));

    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    pool_init(a, ids, NULL, 5);
    pool_init(b, ids, NULL, 5);
    pool_init(c, shuffled, NULL, 5);
    for (uint64_t k = 0; k < NKEYS; k++) {
        int x = pick_id(a, key_of(k), NULL);

        assert_true(x >= 1 && x <= 5);
        assert_int_equal(pick_id(b, key_of(k), NULL), x);
        assert_int_equal(pick_id(c, key_of(k), NULL), x);
    }
    pool_fini(a);
    pool_fini(b);
    pool_fini(c);
    free(a);
    free(b);
    free(c);
}

/*
 * Remove each peer of n in turn: the keys that move are at most 1/n + 2% of
 * all, all of the removed peer's keys move, and the keys that move between
 * the remaining peers (Maglev rebuilds its table and does not promise zero)
 * stay under 0.5%.
 */
static void
check_removal(unsigned n)
{
    struct fixture *all = malloc(sizeof(*all)), *less = malloc(sizeof(*less));
    int             ids[MAXP], rest[MAXP];
    int             worst_moved = 0, worst_cross = 0;

    assert_non_null(all);
    assert_non_null(less);
    for (unsigned i = 0; i < n; i++)
        ids[i] = (int) i + 1;
    pool_init(all, ids, NULL, n);
    for (unsigned r = 0; r < n; r++) {
        int moved = 0, cross = 0, removed = ids[r];

        for (unsigned i = 0, j = 0; i < n; i++)
            if (i != r)
                rest[j++] = ids[i];
        pool_init(less, rest, NULL, n - 1);
        for (uint64_t k = 0; k < NKEYS; k++) {
            int before = pick_id(all, key_of(k), NULL);
            int after = pick_id(less, key_of(k), NULL);

            assert_int_not_equal(after, removed);
            if (before != after) {
                moved++;
                cross += before != removed;
            }
        }
        pool_fini(less);
        if (moved > worst_moved)
            worst_moved = moved;
        if (cross > worst_cross)
            worst_cross = cross;
        assert_true(moved <= NKEYS / (int) n + NKEYS * 2 / 100);
        assert_true(cross * 200 <= NKEYS);          /* 0.5% */
    }
    fprintf(stderr, "remove 1 of %2u: at most %5.2f%% of keys moved (1/%u = %5.2f%%), "
            "at most %4.2f%% between remaining peers\n", n, 100.0 * worst_moved / NKEYS, n,
            100.0 / n, 100.0 * worst_cross / NKEYS);
    pool_fini(all);
    free(all);
    free(less);
}

static void
test_removal_moves_few(void **state)
{
    check_removal(3);
    check_removal(5);
    check_removal(10);
}

/* Adding an (n+1)th peer: about 1/(n+1) of the keys move, nearly all to it. */
static void
test_addition_moves_few(void **state)
{
    static const int ids[6] = { 1, 2, 3, 4, 5, 6 };
    struct fixture  *five = malloc(sizeof(*five)), *six = malloc(sizeof(*six));
    int              moved = 0, to_new = 0;

    assert_non_null(five);
    assert_non_null(six);
    pool_init(five, ids, NULL, 5);
    pool_init(six, ids, NULL, 6);
    for (uint64_t k = 0; k < NKEYS; k++) {
        int before = pick_id(five, key_of(k), NULL), after = pick_id(six, key_of(k), NULL);

        if (before != after) {
            moved++;
            to_new += after == 6;
        }
    }
    fprintf(stderr, "add a 6th peer: %.2f%% of keys moved (1/6 = %.2f%%), %.2f%% of them "
            "to it\n", 100.0 * moved / NKEYS, 100.0 / 6, 100.0 * to_new / moved);
    assert_true(moved <= NKEYS / 6 + NKEYS * 2 / 100);
    assert_true((moved - to_new) * 200 <= NKEYS);
    pool_fini(five);
    pool_fini(six);
    free(five);
    free(six);
}

/* Weights 1:2:3: shares of 100,000 keys within 2 points of 1/6, 2/6, 3/6. */
static void
test_weights(void **state)
{
    static const int ids[3] = { 1, 2, 3 }, weights[3] = { 1, 2, 3 };
    struct fixture  *f = malloc(sizeof(*f));
    int              count[4] = { 0 };

    assert_non_null(f);
    pool_init(f, ids, weights, 3);
    for (uint64_t k = 0; k < 100000; k++)
        count[pick_id(f, key_of(k), NULL)]++;
    for (int i = 1; i <= 3; i++) {
        double share = count[i] / 100000.0, want = weights[i - 1] / 6.0;

        fprintf(stderr, "weight %d: %.2f%% of keys (exact %.2f%%)\n", weights[i - 1],
                100 * share, 100 * want);
        assert_true(share > want - 0.02 && share < want + 0.02);
    }
    pool_fini(f);
    free(f);
}

/*
 * A peer that goes down (or is drained) loses its keys to the others, in
 * about equal parts; every other key stays where it was.  Up again, its keys
 * come back.
 */
static void
test_ineligible_peer(void **state)
{
    static const int ids[4] = { 1, 2, 3, 4 };
    struct fixture  *f = malloc(sizeof(*f));
    int             *before = malloc(NKEYS * sizeof(int));
    int              got[5] = { 0 }, lost = 0;

    assert_non_null(f);
    assert_non_null(before);
    pool_init(f, ids, NULL, 4);
    for (uint64_t k = 0; k < NKEYS; k++)
        before[k] = pick_id(f, key_of(k), NULL);

    f->peers[1].down = 1;           /* 10.0.0.2 */
    for (uint64_t k = 0; k < NKEYS; k++) {
        int now = pick_id(f, key_of(k), NULL);

        assert_int_not_equal(now, 2);
        if (before[k] != 2) {
            assert_int_equal(now, before[k]);
        } else {
            lost++;
            got[now]++;
        }
    }
    fprintf(stderr, "peer 2 down: its %d keys went %d / %d / %d to peers 1, 3, 4\n",
            lost, got[1], got[3], got[4]);
    for (int i = 1; i <= 4; i++)
        if (i != 2)
            assert_true(got[i] > lost / 3 - lost / 10 && got[i] < lost / 3 + lost / 10);

    f->peers[1].down = 0;
    f->peers[1].draining = 1;       /* drained: the same */
    for (uint64_t k = 0; k < NKEYS; k++)
        if (before[k] != 2)
            assert_int_equal(pick_id(f, key_of(k), NULL), before[k]);
    f->peers[1].draining = 0;
    for (uint64_t k = 0; k < NKEYS; k++)
        assert_int_equal(pick_id(f, key_of(k), NULL), before[k]);
    pool_fini(f);
    free(f);
    free(before);
}

/*
 * Retries: each pick for a key skips what was tried, the order is the same
 * every time (deterministic), all peers come up once, then NULL.
 */
static void
test_tried_peers(void **state)
{
    static const int ids[5] = { 1, 2, 3, 4, 5 };
    struct fixture  *f = malloc(sizeof(*f));

    assert_non_null(f);
    pool_init(f, ids, NULL, 5);
    for (uint64_t k = 0; k < 200; k++) {
        uint64_t tried = 0, again = 0;
        int      order[5];

        for (int t = 0; t < 5; t++) {
            int id = pick_id(f, key_of(k), &tried);

            assert_true(id >= 1 && id <= 5);
            assert_false(lbd_bit_test(&tried, (unsigned) id - 1));
            lbd_bit_set(&tried, (unsigned) id - 1);
            order[t] = id;
        }
        assert_int_equal(pick_id(f, key_of(k), &tried), -1);
        for (int t = 0; t < 5; t++) {
            assert_int_equal(pick_id(f, key_of(k), &again), order[t]);
            lbd_bit_set(&again, (unsigned) order[t] - 1);
        }
    }
    /* Everyone down: nothing. */
    for (int i = 0; i < 5; i++)
        f->peers[i].down = 1;
    assert_int_equal(pick_id(f, key_of(1), NULL), -1);
    pool_fini(f);
    free(f);
}

/* No peers at all: init works, pick says none. */
static void
test_empty_pool(void **state)
{
    struct fixture *f = malloc(sizeof(*f));

    assert_non_null(f);
    pool_init(f, NULL, NULL, 0);
    assert_int_equal(pick_id(f, 42, NULL), -1);
    pool_fini(f);
    free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_agree),
        cmocka_unit_test(test_removal_moves_few),
        cmocka_unit_test(test_addition_moves_few),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_ineligible_peer),
        cmocka_unit_test(test_tried_peers),
        cmocka_unit_test(test_empty_pool),
    };
    return cmocka_run_group_tests_name("hash", tests, setup, NULL);
}
