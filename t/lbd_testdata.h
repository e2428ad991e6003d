/*
 * lbd_testdata.h - the deterministic byte stream and the checksum that the
 * test server (lbd-testsrv) and the integration tests agree on.
 *
 * Stream: xorshift64* (Vigna 2014).  The state starts at
 * seed ^ 0x9E3779B97F4A7C15 (or 1 if that is 0, since xorshift must not be
 * 0).  Each step gives one 64-bit word; its 8 bytes go out little-endian
 * (least significant byte first), words one after another.  So the stream
 * depends only on the seed and byte n is the same however the stream is cut
 * into chunks.
 *
 * Checksum: FNV-1a 64 over the bytes (offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3), printed as 16 lower-case hex digits.
 *
 * Header only, static inline: the server and the test harness include it.
 */
#ifndef LBD_TESTDATA_H
#define LBD_TESTDATA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LBD_TD_FNV_BASIS 0xcbf29ce484222325ULL
#define LBD_TD_FNV_PRIME 0x100000001b3ULL

/* A position in the stream of one seed. */
struct lbd_td_rng {
    uint64_t      state;
    unsigned char word[8];   /* the current word's bytes */
    unsigned      pos;       /* next byte of word to hand out; 8 = none left */
};

/* Start the stream of seed at byte 0. */
static inline void
lbd_td_rng_init(struct lbd_td_rng *r, uint64_t seed)
{
    r->state = seed ^ 0x9E3779B97F4A7C15ULL;
    if (r->state == 0)
        r->state = 1;
    r->pos = 8;
}

/* The next 64-bit word of the stream (xorshift64*). */
static inline uint64_t
lbd_td_next64(struct lbd_td_rng *r)
{
    uint64_t x = r->state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline void
lbd_td_put64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char) (v >> (8 * i));
}

/* Write the next n bytes of the stream into dst. */
static inline void
lbd_td_fill(struct lbd_td_rng *r, void *dst, size_t n)
{
    unsigned char *p = dst;

    while (n > 0 && r->pos < 8) {
        *p++ = r->word[r->pos++];
        n--;
    }
    while (n >= 8) {
        lbd_td_put64le(p, lbd_td_next64(r));
        p += 8;
        n -= 8;
    }
    if (n > 0) {        /* fewer than 8 left: the start of a new word */
        lbd_td_put64le(r->word, lbd_td_next64(r));
        memcpy(p, r->word, n);
        r->pos = (unsigned) n;
    }
}

/* Continue an FNV-1a 64 hash h (start with LBD_TD_FNV_BASIS) over n bytes. */
static inline uint64_t
lbd_td_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= LBD_TD_FNV_PRIME;
    }
    return h;
}

/* The FNV-1a 64 of the first n bytes of seed's stream. */
static inline uint64_t
lbd_td_stream_hash(uint64_t seed, uint64_t n)
{
    struct lbd_td_rng r;
    unsigned char     buf[65536];
    uint64_t          h = LBD_TD_FNV_BASIS;

    lbd_td_rng_init(&r, seed);
    while (n > 0) {
        size_t k = n < sizeof(buf) ? (size_t) n : sizeof(buf);

        lbd_td_fill(&r, buf, k);
        h = lbd_td_fnv1a64(h, buf, k);
        n -= k;
    }
    return h;
}

#endif /* LBD_TESTDATA_H */
