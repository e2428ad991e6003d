/*
 * lbd_buf.h - the proxy buffers of a worker: proxy_buffer_size bytes each,
 * taken from the worker's free list only while bytes are in flight and put
 * back as soon as they are written, so an idle connection holds none.
 *
 * Bulk buffers (proxy_bulk_buffer_size, 64 KiB by default) are for a
 * direction that streams: once a read has filled a whole buffer, the next
 * one is a bulk buffer, so a large body moves in a quarter of the reads and
 * writes.  A direction whose reader is slow goes back to normal buffers, so
 * backpressure still holds one proxy_buffer_size per direction.
 *
 * Worker loop only (the free lists are the worker's).
 */
#ifndef LBD_BUF_H
#define LBD_BUF_H

#include <stdint.h>

struct lbd_worker;

struct lbd_buf {
    struct lbd_buf *next;          /* free list link */
    uint32_t        start, end;    /* the bytes not yet consumed */
    uint32_t        cap;           /* bytes in data */
    char            data[];        /* proxy_buffer_size or proxy_bulk_buffer_size */
};

/* An empty buffer (start = end = 0) of proxy_buffer_size, or NULL when out of memory. */
struct lbd_buf *lbd_buf_get(struct lbd_worker *w);

/*
 * An empty bulk buffer; one of proxy_buffer_size when bulk buffers are off
 * (the two sizes equal) or malloc has none.  NULL when out of memory.
 */
struct lbd_buf *lbd_buf_get_bulk(struct lbd_worker *w);

/* Is buf a bulk buffer (larger than proxy_buffer_size)? */
int lbd_buf_is_bulk(const struct lbd_worker *w, const struct lbd_buf *buf);

/* Give buf back: to its free list (at most 1,024 normal and 64 bulk kept) or to malloc. */
void lbd_buf_put(struct lbd_worker *w, struct lbd_buf *buf);

#endif /* LBD_BUF_H */
