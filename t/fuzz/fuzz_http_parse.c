/*
 * fuzz_http_parse.c - libFuzzer harness of the HTTP/1.x parser
 * (src/lbd_http_parse.c, src/lbd_http_chunked.c).  Built with clang by
 * "make fuzz" and by make check (t/it_fuzz_http.c runs it).
 *
 * The first input byte chooses how the rest is cut into pieces (1..256
 * bytes; the pieces vary around that size), the rest is fed to every entry
 * point, and what the contract promises is checked, not only "no crash":
 *
 *   - lbd_http_head_end: fed in pieces, it finds the same end as in one
 *     call; *scanned never passes len; the end is where the parsers stop;
 *   - lbd_http_parse_request / _response: results in the documented set;
 *     on DONE every span lies inside the head, values are trimmed and free
 *     of CR, LF and other controls, framing is one of the allowed ones and
 *     agrees with the fields (never Content-Length with chunked in a
 *     request), and lbd_http_find finds every field by its name;
 *   - lbd_http_chunked_next: every run fits the bytes given, *used is 0 only
 *     for no bytes, total counts the data runs, and the answer (result,
 *     data, where the body ends) is the same in pieces as in one call;
 *   - lbd_http_cookie: the value found lies inside the header value.
 *
 * A broken promise is an abort(), which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_http_parse.h"

#define CHECK(x)                                                                      \
    do {                                                                              \
        if (!(x)) {                                                                   \
            fprintf(stderr, "fuzz_http_parse: invariant broken, line %d: %s\n",        \
                    __LINE__, #x);                                                    \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static struct lbd_http_head H, H2;

/* The size of the next piece: around `base`, varied by the input's bytes. */
static size_t
piece(const char *buf, size_t len, size_t at, unsigned base)
{
    unsigned v = len > 0 ? (uint8_t) buf[at % len] : 0;

    return 1 + (base > 1 ? (v * 7u + at) % base : 0);
}

static int
span_in(struct lbd_http_span s, size_t limit)
{
    return (size_t) s.off + s.len <= limit;
}

static int
ci_same(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

/* Resumed in pieces, head_end finds what one call finds; returns that. */
static size_t
check_head_end(const char *buf, size_t len, unsigned base)
{
    size_t sc = 0, end = lbd_http_head_end(buf, len, &sc), avail = 0;

    CHECK(end <= len);
    CHECK(sc == (end > 0 ? end : len));
    if (end > 0) {
        CHECK(buf[end - 1] == '\n');
    }
    sc = 0;
    while (avail < len) {
        size_t r;

        avail += piece(buf, len, avail, base);
        if (avail > len)
            avail = len;
        r = lbd_http_head_end(buf, avail, &sc);
        CHECK(sc <= avail);
        if (r > 0) {
            CHECK(r == end);
            CHECK(sc == r);
            return end;
        }
        CHECK(sc == avail);
        CHECK(end == 0 || avail < end);
    }
    CHECK(end == 0);
    return end;
}

/* What holds of any head parsed DONE. */
static void
check_head(const char *buf, struct lbd_http_head *h, size_t len)
{
    size_t   hl = h->head_len;
    unsigned ncl = 0, nte = 0;

    CHECK(hl > 0 && hl <= len);
    CHECK(buf[hl - 1] == '\n');
    CHECK(h->version == 10 || h->version == 11);
    CHECK(h->nheaders <= LBD_HTTP_MAX_HEADERS);
    CHECK(span_in(h->method, hl) && span_in(h->target, hl) && span_in(h->path, hl));
    CHECK(span_in(h->host, hl) && span_in(h->reason, hl));
    CHECK(h->body == LBD_BODY_NONE || h->body == LBD_BODY_LENGTH || h->body == LBD_BODY_CHUNKED ||
          h->body == LBD_BODY_CLOSE);
    CHECK((h->body == LBD_BODY_LENGTH) == (h->content_length > 0));
    CHECK(h->body == LBD_BODY_LENGTH || h->content_length == -1);

    for (unsigned i = 0; i < h->nheaders; i++) {
        const struct lbd_http_header *hd = &h->headers[i], *f;
        char                          name[64];
        unsigned                      from = 0;

        CHECK(span_in(hd->name, hl) && span_in(hd->value, hl));
        CHECK(hd->name.len > 0);
        CHECK(hd->flags == 0 || hd->flags == LBD_HDR_F_HOP);
        CHECK(hd->id <= LBD_HDR_USER_AGENT);
        for (uint32_t j = 0; j < hd->value.len; j++) {
            uint8_t c = (uint8_t) buf[hd->value.off + j];

            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (hd->value.len > 0) {
            CHECK(buf[hd->value.off] != ' ' && buf[hd->value.off] != '\t');
            CHECK(buf[hd->value.off + hd->value.len - 1] != ' ');
            CHECK(buf[hd->value.off + hd->value.len - 1] != '\t');
        }
        CHECK(buf[hd->name.off + hd->name.len] == ':');
        ncl += hd->id == LBD_HDR_CONTENT_LENGTH;
        nte += hd->id == LBD_HDR_TRANSFER_ENCODING;
        if (hd->id == LBD_HDR_CONNECTION || hd->id == LBD_HDR_KEEP_ALIVE ||
            hd->id == LBD_HDR_PROXY_CONNECTION || hd->id == LBD_HDR_TE)
            CHECK(hd->flags & LBD_HDR_F_HOP);
        if (hd->id == LBD_HDR_HOST || hd->id == LBD_HDR_TRANSFER_ENCODING)
            CHECK(!(hd->flags & LBD_HDR_F_HOP));
        if (hd->id == LBD_HDR_UPGRADE && !h->upgrade)
            CHECK(hd->flags & LBD_HDR_F_HOP);

        /* lbd_http_find finds it, or an earlier field of the same name */
        if (hd->name.len < sizeof(name)) {
            memcpy(name, buf + hd->name.off, hd->name.len);
            name[hd->name.len] = '\0';
            f = lbd_http_find(h, buf, name, &from);
            CHECK(f != NULL && f <= hd && from == (unsigned) (f - h->headers) + 1);
            CHECK(f->name.len == hd->name.len && ci_same(buf + f->name.off, name, f->name.len));
        }
    }
    if (h->body == LBD_BODY_CHUNKED)
        CHECK(nte > 0);
    if (nte > 0)
        CHECK(h->body == LBD_BODY_CHUNKED || h->body == LBD_BODY_CLOSE || h->body == LBD_BODY_NONE);
    if (h->body == LBD_BODY_LENGTH)
        CHECK(ncl > 0 && nte == 0);
    if (h->version == 10 && !h->conn_keep_alive)
        CHECK(h->conn_close);
    if (h->conn_keep_alive || h->upgrade || (h->conn_close && h->version == 11))
        CHECK(lbd_http_find(h, buf, "Connection", NULL) != NULL);
}

static void
check_request(const char *buf, size_t len, size_t end)
{
    int rc = lbd_http_parse_request(buf, len, &H), rc2;

    CHECK(rc == LBD_HTTP_DONE || rc == LBD_HTTP_BAD || rc == LBD_HTTP_TOO_LARGE ||
          rc == LBD_HTTP_BAD_VERSION || rc == LBD_HTTP_NOT_IMPL);
    CHECK(H.nheaders <= LBD_HTTP_MAX_HEADERS);
    /* The parser stops where head_end says the head ends. */
    if (end == 0) {
        CHECK(rc != LBD_HTTP_DONE && rc != LBD_HTTP_NOT_IMPL);
    } else {
        rc2 = lbd_http_parse_request(buf, end, &H2);
        CHECK(rc2 == rc);
        if (rc == LBD_HTTP_DONE)
            CHECK(H.head_len == end && H2.head_len == end);
    }
    if (rc != LBD_HTTP_DONE)
        return;
    check_head(buf, &H, len);
    CHECK(H.method.len > 0 && H.target.len > 0);
    CHECK(H.path.off >= H.target.off && H.path.off + H.path.len <= H.target.off + H.target.len);
    CHECK(H.body != LBD_BODY_CLOSE);
    CHECK(H.status == 0);
    CHECK(H.expect_continue == 0 || H.version == 11);
    CHECK(H.upgrade == 0 || H.version == 11);
    {
        unsigned from = 0, n = 0;

        while (lbd_http_find(&H, buf, "Host", &from) != NULL)
            n++;
        CHECK(n <= 1);
    }
    if (H.body == LBD_BODY_CHUNKED)
        CHECK(lbd_http_find(&H, buf, "Content-Length", NULL) == NULL);
    if (H.version == 11)
        CHECK(lbd_http_find(&H, buf, "Host", NULL) != NULL);
    if (H.version == 10)
        CHECK(lbd_http_find(&H, buf, "Transfer-Encoding", NULL) == NULL);
    (void) lbd_http_idempotent(H.method_id);
}

static void
check_response(const char *buf, size_t len, size_t end)
{
    int rc = lbd_http_parse_response(buf, len, &H), rc2;

    CHECK(rc == LBD_HTTP_DONE || rc == LBD_HTTP_BAD || rc == LBD_HTTP_TOO_LARGE ||
          rc == LBD_HTTP_BAD_VERSION);
    if (end == 0) {
        CHECK(rc != LBD_HTTP_DONE);
    } else {
        rc2 = lbd_http_parse_response(buf, end, &H2);
        CHECK(rc2 == rc);
    }
    if (rc != LBD_HTTP_DONE)
        return;
    check_head(buf, &H, len);
    CHECK(H.status >= 100 && H.status <= 999);
    CHECK(H.method.len == 0 && H.host.len == 0);
    CHECK(lbd_http_reason(H.status) != NULL);
}

/* What a walk of a chunked body saw. */
struct walk {
    int      rc;
    size_t   consumed;
    uint64_t total;
    uint64_t hash;     /* FNV-1a of the data bytes, in order */
};

static void
walk(const char *buf, size_t len, unsigned base, struct walk *w)
{
    struct lbd_http_chunked c;
    size_t                  pos = 0, avail = 0, used;
    uint64_t                data = 0;
    int                     is_data;

    lbd_http_chunked_init(&c);
    w->hash = 1469598103934665603ULL;
    for (;;) {
        if (pos == avail) {
            if (avail == len) {
                w->rc = LBD_HTTP_AGAIN;
                break;
            }
            avail += base == 0 ? len : piece(buf, len, avail, base);
            if (avail > len)
                avail = len;
        }
        used = 12345;
        w->rc = lbd_http_chunked_next(&c, buf + pos, avail - pos, &used, &is_data);
        CHECK(w->rc == LBD_HTTP_AGAIN || w->rc == LBD_HTTP_DONE || w->rc == LBD_HTTP_BAD);
        CHECK(used <= avail - pos);
        if (w->rc == LBD_HTTP_BAD) {
            CHECK(used == 0);
            break;
        }
        CHECK(is_data == 0 || is_data == 1);
        CHECK(used > 0 || avail == pos);
        if (is_data) {
            CHECK(w->rc == LBD_HTTP_AGAIN);
            for (size_t i = 0; i < used; i++)
                w->hash = (w->hash ^ (uint8_t) buf[pos + i]) * 1099511628211ULL;
            data += used;
        }
        pos += used;
        CHECK(c.total == data);
        if (w->rc == LBD_HTTP_DONE) {
            /* it stays done */
            CHECK(lbd_http_chunked_next(&c, buf + pos, len - pos, &used, &is_data) == LBD_HTTP_DONE);
            CHECK(used == 0);
            break;
        }
    }
    w->consumed = pos;
    w->total = c.total;
    CHECK(pos <= len);
    CHECK(w->rc != LBD_HTTP_DONE || (pos >= 5 && buf[pos - 1] == '\n' && buf[pos - 2] == '\r'));
}

static void
check_chunked(const char *buf, size_t len, unsigned base)
{
    struct walk one, split, bytes;

    walk(buf, len, 0, &one);
    walk(buf, len, base, &split);
    CHECK(split.rc == one.rc && split.total == one.total && split.hash == one.hash);
    if (one.rc != LBD_HTTP_BAD)
        CHECK(split.consumed == one.consumed);
    if (len <= 512) {
        walk(buf, len, 1, &bytes);
        CHECK(bytes.rc == one.rc && bytes.total == one.total && bytes.hash == one.hash);
        if (one.rc != LBD_HTTP_BAD)
            CHECK(bytes.consumed == one.consumed);
    }
}

static void
check_cookie(const char *buf, size_t len)
{
    static const char *names[] = { "a", "session", "SID", "x" };
    struct lbd_http_span sp;
    char                 name[32];
    size_t               n;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (lbd_http_cookie(buf, len, names[i], &sp)) {
            CHECK(span_in(sp, len));
            CHECK(memchr(buf + sp.off, ';', sp.len) == NULL);
        }
    }
    /* the input's own first name, up to '=' */
    for (n = 0; n < len && n < sizeof(name) - 1 && buf[n] != '=' && buf[n] != '\0'; n++)
        name[n] = buf[n];
    name[n] = '\0';
    if (lbd_http_cookie(buf, len, name, &sp)) {
        CHECK(n > 0 && span_in(sp, len));
        CHECK(memchr(buf + sp.off, ';', sp.len) == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf;
    size_t      len, end;
    unsigned    base;

    if (size == 0)
        return 0;
    base = (unsigned) data[0] + 1;
    buf = (const char *) data + 1;
    len = size - 1;

    end = check_head_end(buf, len, base);
    check_request(buf, len, end);
    check_response(buf, len, end);
    check_chunked(buf, len, base);
    /* a chunked body right after a head, as the proxy walks it */
    if (end > 0)
        check_chunked(buf + end, len - end, base);
    check_cookie(buf, len);
    return 0;
}
