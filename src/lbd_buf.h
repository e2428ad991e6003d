/*
 * lbd_buf.h - the proxy buffers of a worker: proxy_buffer_size bytes each,
 * taken from the worker's free list only while bytes are in flight and put
 * back as soon as they are written, so an idle connection holds none.
 * Worker loop only (the free list is the worker's).
 */
#ifndef LBD_BUF_H
#define LBD_BUF_H

#include <stdint.h>

struct lbd_worker;

struct lbd_buf {
    struct lbd_buf *next;          /* free list link */
    uint32_t        start, end;    /* the bytes not yet consumed */
    char            data[];        /* proxy_buffer_size bytes */
};

/* An empty buffer (start = end = 0), or NULL when out of memory. */
struct lbd_buf *lbd_buf_get(struct lbd_worker *w);

/* Give buf back: to the free list (at most 1,024 kept) or to malloc. */
void lbd_buf_put(struct lbd_worker *w, struct lbd_buf *buf);

#endif /* LBD_BUF_H */
