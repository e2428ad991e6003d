/*
 * lbd_hash.c - consistent hashing on ctx->key: Maglev hashing (Eisenbud et
 * al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI
 * 2016, section 3.4).
 *
 * init() fills a lookup table of M entries (M prime) with peer indexes;
 * pick() returns table[mix(key) % M], mix being a splitmix64 finalizer: the
 * key may come from anywhere (a hash of the client's address today, a header
 * or a cookie tomorrow) and need not be well mixed itself.  Each peer has
 * its own permutation of the entries, (offset + j * skip) % M for j = 0, 1,
 * 2..., offset and skip derived from a hash of its address text: the one
 * identity every worker, and every generation of the registry, agrees on.
 * Its position in the pool does not matter; ties go in the order of the
 * address texts.  Peers take turns claiming the next entry of their own
 * permutation that is still free, until the table is full.  So:
 *
 *   - the same peers with the same weights give the same table in every
 *     worker: a key lands on the same backend whichever worker accepts it;
 *   - each peer owns a share of the entries proportional to its configured
 *     weight, within an entry or so (weighted turns: a peer of weight w takes
 *     its k-th turn at time k / w; equal weights give Maglev's plain rounds);
 *   - adding or removing a peer changes the entries of that peer, and a few
 *     others: Maglev trades perfect consistency for that exact balance.
 *     t/test_hash.c measures how few (removing 1 of 3, 5, 10 peers moves at
 *     most 0.00%, 0.14%, 0.35% of the keys between the remaining ones).
 *
 * The table is built from the configured weights, not lbd_peer_weight():
 * slow start changes that one with time, and two workers building their
 * tables a moment apart would then disagree.  Slow start therefore does not
 * ramp a backend under this strategy.
 *
 * Peers that are drained, down or ejected keep their entries: being
 * ineligible is a state that changes without a new pool.  A key whose entry
 * names an ineligible (or already tried) peer walks its own probe sequence
 * through the table, (slot + i * skip(key)) % M, to the first entry whose
 * peer it may use.  Its keys therefore spread over the others in proportion
 * to their weights, the keys of every other peer stay where they were, and
 * when the peer comes back its keys come back with it.
 *
 * Memory: M entries of 2 bytes (4 from 65,535 peers up) per pool per worker,
 * M = the smallest prime >= max(65,537, 100 * npeers), at most 1,000,003:
 * 128 KiB for any pool up to 655 peers.  init() is O(M log M): 3 to 25 ms
 * up to 1,000 peers, 400 ms for 10,000 (measured at -O2; it runs in the
 * worker, when a snapshot is built).  pick() is O(1) while most entries are usable and
 * allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "lbd.h"

#define HASH_M_MIN      65537u      /* Maglev's own size for small pools */
#define HASH_M_PER_PEER 100u        /* entries per peer, at least (Maglev: M >> N) */
#define HASH_M_MAX      1000003u
#define HASH_PROBES     256         /* table probes before a scan of the peers */

struct hash_state {
    uint32_t  m;        /* table size, prime */
    int       wide;     /* entries are uint32_t (65,535 peers or more) */
    void     *table;    /* m entries: peer indexes */
};

/* FNV-1a 64 then a splitmix64 finalizer: FNV alone mixes its low bits poorly. */
static uint64_t
hash_text(const char *s, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char) *s;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static uint64_t
mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int
is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* The table size for npeers peers: a prime, so every skip walks all of it. */
static uint32_t
table_size(unsigned npeers)
{
    uint64_t want = (uint64_t) npeers * HASH_M_PER_PEER;
    uint32_t m;

    if (want < HASH_M_MIN)
        want = HASH_M_MIN;
    if (want > HASH_M_MAX)
        want = HASH_M_MAX;
    for (m = (uint32_t) want; !is_prime(m); m++)
        ;
    return m;
}

static unsigned
entry(const struct hash_state *st, uint32_t slot)
{
    return st->wide ? ((const uint32_t *) st->table)[slot]
                    : ((const uint16_t *) st->table)[slot];
}

/* A peer's place in the fill: where its permutation stands. */
struct fill {
    const struct lbd_peer *peer;
    uint32_t               offset, skip;
    uint32_t               next;        /* position in its permutation */
    uint32_t               turns;       /* entries it took */
    uint32_t               weight;      /* >= 1 */
    unsigned               order;       /* rank of its address text */
};

static int
fill_cmp(const void *a, const void *b)
{
    const struct fill *x = a, *y = b;
    int                c = strcmp(x->peer->addr.text, y->peer->addr.text);

    /* The same address twice (should not happen): by weight, then index. */
    if (c == 0)
        c = x->peer->weight - y->peer->weight;
    if (c == 0)
        c = (x->peer->index > y->peer->index) - (x->peer->index < y->peer->index);
    return c;
}

/*
 * Whose turn comes first: a peer of weight w takes its k-th turn at time
 * k / w, so over any stretch of the fill each peer takes turns in proportion
 * to its weight; equal times go in address order.  With equal weights that
 * is Maglev's plain round of turns.
 */
static int
turn_before(const struct fill *a, const struct fill *b)
{
    uint64_t ta = (uint64_t) (a->turns + 1) * b->weight;
    uint64_t tb = (uint64_t) (b->turns + 1) * a->weight;

    return ta != tb ? ta < tb : a->order < b->order;
}

/* Restore the heap below position i (a min-heap on turn_before). */
static void
sift_down(struct fill **heap, unsigned n, unsigned i)
{
    for (;;) {
        unsigned l = 2 * i + 1, r = l + 1, min = i;
        struct fill *t;

        if (l < n && turn_before(heap[l], heap[min]))
            min = l;
        if (r < n && turn_before(heap[r], heap[min]))
            min = r;
        if (min == i)
            return;
        t = heap[i];
        heap[i] = heap[min];
        heap[min] = t;
        i = min;
    }
}

/*
 * Maglev's population of the table (the paper's Pseudocode 1): peers take
 * turns, each claiming the next entry of its permutation that is still
 * free.  Weighted: the turns are ordered by turn_before, through a heap, so
 * the fill costs O(M log n) whatever the weights.
 */
static void
populate(struct hash_state *st, struct fill *f, struct fill **heap, unsigned n)
{
    uint32_t m = st->m;
    uint32_t none = st->wide ? UINT32_MAX : UINT16_MAX;

    for (uint32_t i = 0; i < m; i++) {
        if (st->wide)
            ((uint32_t *) st->table)[i] = none;
        else
            ((uint16_t *) st->table)[i] = (uint16_t) none;
    }
    for (unsigned i = 0; i < n; i++) {
        f[i].order = i;
        f[i].weight = f[i].peer->weight > 0 ? (uint32_t) f[i].peer->weight : 1;
        heap[i] = &f[i];
    }
    for (unsigned i = n / 2; i-- > 0;)
        sift_down(heap, n, i);

    for (uint32_t filled = 0; filled < m; filled++) {
        struct fill *p = heap[0];
        uint32_t     slot;

        do {
            slot = (uint32_t) ((p->offset + (uint64_t) p->next * p->skip) % m);
            p->next++;
        } while (entry(st, slot) != none);
        if (st->wide)
            ((uint32_t *) st->table)[slot] = p->peer->index;
        else
            ((uint16_t *) st->table)[slot] = (uint16_t) p->peer->index;
        p->turns++;
        sift_down(heap, n, 0);
    }
}

static int
hash_init(struct lbd_pool *pool)
{
    struct hash_state *st;
    struct fill       *f;
    struct fill      **heap;
    unsigned           n = pool->npeers;

    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return LBD_ERROR;
    pool->sdata = st;
    if (n == 0)
        return LBD_OK;
    st->m = table_size(n);
    st->wide = n > UINT16_MAX - 1;
    st->table = malloc((size_t) st->m * (st->wide ? sizeof(uint32_t) : sizeof(uint16_t)));
    f = calloc(n, sizeof(*f));
    heap = calloc(n, sizeof(*heap));
    if (st->table == NULL || f == NULL || heap == NULL) {
        free(heap);
        free(f);
        free(st->table);
        free(st);
        pool->sdata = NULL;
        return LBD_ERROR;
    }
    for (unsigned i = 0; i < n; i++) {
        const char *id = pool->peers[i].addr.text;

        f[i].peer = &pool->peers[i];
        f[i].offset = (uint32_t) (hash_text(id, 0x6d61676c6576ULL) % st->m);
        f[i].skip = (uint32_t) (hash_text(id, 0x736b6970ULL) % (st->m - 1)) + 1;
    }
    qsort(f, n, sizeof(*f), fill_cmp);
    populate(st, f, heap, n);
    free(heap);
    free(f);
    return LBD_OK;
}

static void
hash_fini(struct lbd_pool *pool)
{
    struct hash_state *st = pool->sdata;

    if (st != NULL)
        free(st->table);
    free(st);
    pool->sdata = NULL;
}

static int
usable(struct lbd_pool *pool, unsigned i, const struct lbd_pick *ctx)
{
    return !(ctx->tried && lbd_bit_test(ctx->tried, i))
           && lbd_peer_eligible(&pool->peers[i], ctx);
}

static struct lbd_peer *
hash_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    const struct hash_state *st = pool->sdata;
    uint32_t                 slot, skip;
    unsigned                 i, start;

    if (st == NULL || st->m == 0)
        return NULL;
    slot = (uint32_t) (mix64(ctx->key) % st->m);
    i = entry(st, slot);
    if (usable(pool, i, ctx))
        return &pool->peers[i];

    /*
     * The key's own walk: a skip of its own, so two keys that share an entry
     * part ways at once, and a prime M, so the walk visits every entry.
     */
    skip = (uint32_t) (mix64(ctx->key ^ 0x736b6970ULL) % (st->m - 1)) + 1;
    for (int probe = 0; probe < HASH_PROBES; probe++) {
        slot = (uint32_t) (((uint64_t) slot + skip) % st->m);
        i = entry(st, slot);
        if (usable(pool, i, ctx))
            return &pool->peers[i];
    }

    /* Nearly every entry unusable: any usable peer, still by key. */
    start = (unsigned) (mix64(ctx->key) % pool->npeers);
    for (unsigned k = 0; k < pool->npeers; k++) {
        i = (start + k) % pool->npeers;
        if (usable(pool, i, ctx))
            return &pool->peers[i];
    }
    return NULL;
}

const struct lbd_strategy lbd_strategy_hash = {
    .name = "hash",
    .init = hash_init,
    .fini = hash_fini,
    .pick = hash_pick,
};
