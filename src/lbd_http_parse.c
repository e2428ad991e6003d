/*
 * lbd_http_parse.c - HTTP/1.x message heads: where one ends, what it says,
 * and how its body is framed (the contract is lbd_http_parse.h).
 *
 * Each line of a head is looked at once, left to right, and every byte of
 * it is checked against the grammar it must match (RFC 9110, RFC 9112):
 * that is what makes a bare CR, a NUL or a space in the wrong place an
 * error without a separate pass.  What the parser cannot decide per field
 * (duplicate Host, Content-Length with Transfer-Encoding, the fields the
 * Connection header names) it decides once all fields are in (derive()).
 *
 * The rule behind every refusal: lbd must never forward a head that a
 * backend could frame differently from lbd.  Where RFC 9112 lets a
 * recipient choose between refusing and guessing, this parser refuses.
 */
#include <string.h>

#include "lbd_http_parse.h"

/* RFC 9110 5.6.2 tchar: the bytes of a token (method, field name, coding). */
static const uint8_t tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/*
 * The bytes of a host (RFC 3986 uri-host with a port): unreserved,
 * pct-encoded, the sub-delims but ',' (a Host list would be read as two
 * hosts by some), ':' and the brackets of an IP literal.  No '@': userinfo
 * is refused (RFC 9110 4.2.4).
 */
static const uint8_t hostchar[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1, ['.'] = 1,
    ['_'] = 1, ['~'] = 1, ['%'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1,
    ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [';'] = 1, ['='] = 1, [':'] = 1,
    ['['] = 1, [']'] = 1,
};

static inline int
is_tchar(char c)
{
    return tchar[(uint8_t) c];
}

static inline int
is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static inline int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* VCHAR: what a request target is made of. */
static inline int
is_vchar(char c)
{
    return (uint8_t) c > 0x20 && (uint8_t) c < 0x7f;
}

/* A byte of a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
static inline int
is_text(char c)
{
    return c == '\t' || ((uint8_t) c >= 0x20 && (uint8_t) c != 0x7f);
}

/* Whether a[0..n) is lit (NUL-terminated, lowercase) but for ASCII case. */
static int
ci_eq(const char *a, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char x = a[i];

        if (lit[i] == '\0')
            return 0;
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (x != lit[i])
            return 0;
    }
    return lit[n] == '\0';
}

/* Two runs of bytes equal but for ASCII case. */
static int
ci_eq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return 0;
    }
    return 1;
}

static struct lbd_http_span
span(size_t off, size_t len)
{
    return (struct lbd_http_span) { .off = (uint32_t) off, .len = (uint32_t) len };
}

/*
 * The line that starts at p: *eol is where its content ends (before CRLF
 * or LF), *next where the next line starts.  -1 when there is no LF.  A CR
 * anywhere else stays in the content, where the grammar refuses it.
 */
static int
line_at(const char *buf, size_t len, size_t p, size_t *eol, size_t *next)
{
    const char *nl;
    size_t      e;

    if (p >= len || (nl = memchr(buf + p, '\n', len - p)) == NULL)
        return -1;
    e = (size_t) (nl - buf);
    *next = e + 1;
    if (e > p && buf[e - 1] == '\r')
        e--;
    *eol = e;
    return 0;
}

/*
 * Whether the line that the LF at buf[i] ends is empty ("" or "\r"); *start
 * is where that line starts.
 */
static int
empty_line(const char *buf, size_t i, size_t *start)
{
    if (i == 0 || buf[i - 1] == '\n') {
        *start = i;
        return 1;
    }
    if (buf[i - 1] == '\r' && (i == 1 || buf[i - 2] == '\n')) {
        *start = i - 1;
        return 1;
    }
    return 0;
}

size_t
lbd_http_head_end(const char *buf, size_t len, size_t *scanned)
{
    size_t i = *scanned < len ? *scanned : len;

    /*
     * The head ends at the first empty line that follows a non-empty one.
     * Empty lines before the start line are skipped (RFC 9112 2.2), which
     * needs no state: an empty line whose previous line is empty too was
     * not an end, so it and all before it are leading.  Two bytes of look
     * back, never a rescan, so resuming costs nothing.
     */
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t      start, prev;

        if (nl == NULL)
            break;
        i = (size_t) (nl - buf);
        if (empty_line(buf, i, &start) && start > 0 && !empty_line(buf, start - 1, &prev)) {
            *scanned = i + 1;
            return i + 1;
        }
        i++;
    }
    *scanned = len;
    return 0;
}

/* What parsing one head knows besides what struct lbd_http_head holds. */
struct hp {
    const char           *buf;
    size_t                len;
    struct lbd_http_head *h;
    int                   request;
    struct lbd_http_span  authority;   /* absolute- or authority-form target's */
    unsigned              nhost;
    unsigned              ncl;
    int64_t               cl;
    unsigned              nte;         /* Transfer-Encoding fields */
    unsigned              nchunked;    /* times "chunked" was named */
    int                   last_chunked;
    int                   close, keep_alive, upgrade_token, upgrade_field, expect;
    int                   names;       /* Connection names other fields */
};

static const struct {
    const char *name;
    size_t      len;
    uint8_t     id;
} known[] = {
#define K(s, id) { s, sizeof(s) - 1, id }
    K("Host", LBD_HDR_HOST),
    K("Content-Length", LBD_HDR_CONTENT_LENGTH),
    K("Transfer-Encoding", LBD_HDR_TRANSFER_ENCODING),
    K("Connection", LBD_HDR_CONNECTION),
    K("Keep-Alive", LBD_HDR_KEEP_ALIVE),
    K("Proxy-Connection", LBD_HDR_PROXY_CONNECTION),
    K("TE", LBD_HDR_TE),
    K("Trailer", LBD_HDR_TRAILER),
    K("Upgrade", LBD_HDR_UPGRADE),
    K("Expect", LBD_HDR_EXPECT),
    K("Cookie", LBD_HDR_COOKIE),
    K("Set-Cookie", LBD_HDR_SET_COOKIE),
    K("X-Forwarded-For", LBD_HDR_X_FORWARDED_FOR),
    K("X-Forwarded-Proto", LBD_HDR_X_FORWARDED_PROTO),
    K("X-Real-IP", LBD_HDR_X_REAL_IP),
    K("Referer", LBD_HDR_REFERER),
    K("User-Agent", LBD_HDR_USER_AGENT),
#undef K
};

static uint8_t
header_id(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].len == len && ci_eq_n(name, known[i].name, len))
            return known[i].id;
    return LBD_HDR_OTHER;
}

static const struct {
    const char          *name;
    size_t               len;
    enum lbd_http_method id;
} methods[] = {
#define M(s, id) { s, sizeof(s) - 1, id }
    M("GET", LBD_METHOD_GET),         M("HEAD", LBD_METHOD_HEAD),
    M("POST", LBD_METHOD_POST),       M("PUT", LBD_METHOD_PUT),
    M("DELETE", LBD_METHOD_DELETE),   M("OPTIONS", LBD_METHOD_OPTIONS),
    M("TRACE", LBD_METHOD_TRACE),     M("CONNECT", LBD_METHOD_CONNECT),
    M("PATCH", LBD_METHOD_PATCH),
#undef M
};

/* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method. */
static enum lbd_http_method
method_id(const char *m, size_t len)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (methods[i].len == len && memcmp(m, methods[i].name, len) == 0)
            return methods[i].id;
    return LBD_METHOD_OTHER;
}

/* "HTTP/1.0" or "HTTP/1.1": 0; another "HTTP/d.d": BAD_VERSION; else BAD. */
static int
version(const char *v, size_t n, int *out)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
        return LBD_HTTP_BAD;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return LBD_HTTP_BAD_VERSION;
    *out = v[7] == '0' ? 10 : 11;
    return 0;
}

/* t[0..n) is a non-empty run of host characters. */
static int
valid_host(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!hostchar[(uint8_t) t[i]])
            return 0;
    return 1;
}

/*
 * The request target's form (RFC 9112 3.2): origin-form "/path?q",
 * absolute-form "http://authority/path?q" (http or https), authority-form
 * "host:port" (CONNECT only, and CONNECT only that), asterisk-form "*"
 * (OPTIONS only).  Sets path, and the authority the host comes from.
 */
static int
target_form(struct hp *s)
{
    struct lbd_http_head *h = s->h;
    const char           *t = s->buf + h->target.off;
    size_t                n = h->target.len, i, a;

    if (h->method_id == LBD_METHOD_CONNECT) {
        for (i = n; i > 0 && t[i - 1] != ':'; i--)
            ;
        if (i < 2 || i == n || !valid_host(t, i - 1))
            return LBD_HTTP_BAD;
        for (a = i; a < n; a++)
            if (!is_digit(t[a]))
                return LBD_HTTP_BAD;
        s->authority = h->target;
        h->path = span(h->target.off + n, 0);
        return 0;
    }
    if (t[0] == '/') {
        for (i = 0; i < n && t[i] != '?'; i++)
            ;
        h->path = span(h->target.off, i);
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (h->method_id != LBD_METHOD_OPTIONS)
            return LBD_HTTP_BAD;
        h->path = span(h->target.off + n, 0);
        return 0;
    }
    if (n > 7 && ci_eq(t, 7, "http://"))
        a = 7;
    else if (n > 8 && ci_eq(t, 8, "https://"))
        a = 8;
    else
        return LBD_HTTP_BAD;
    for (i = a; i < n && t[i] != '/' && t[i] != '?'; i++)
        ;
    if (i == a || !valid_host(t + a, i - a))
        return LBD_HTTP_BAD;
    s->authority = span(h->target.off + a, i - a);
    for (a = i; i < n && t[i] != '?'; i++)
        ;
    h->path = span(h->target.off + a, i - a);
    return 0;
}

/* method SP request-target SP HTTP-version, nothing else. */
static int
request_line(struct hp *s, size_t p, size_t eol)
{
    struct lbd_http_head *h = s->h;
    const char           *buf = s->buf;
    size_t                i, t;
    int                   rc;

    for (i = p; i < eol && is_tchar(buf[i]); i++)
        ;
    if (i == p || i == eol || buf[i] != ' ')
        return LBD_HTTP_BAD;
    h->method = span(p, i - p);
    h->method_id = method_id(buf + p, i - p);
    for (t = ++i; i < eol && is_vchar(buf[i]); i++)
        ;
    if (i == t || i == eol || buf[i] != ' ')
        return LBD_HTTP_BAD;
    h->target = span(t, i - t);
    i++;
    if ((rc = version(buf + i, eol - i, &h->version)) != 0)
        return rc;
    return target_form(s);
}

/* HTTP-version SP 3DIGIT [SP reason-phrase]; "HTTP/1.1 200" is tolerated. */
static int
status_line(struct hp *s, size_t p, size_t eol)
{
    struct lbd_http_head *h = s->h;
    const char           *l = s->buf + p;
    size_t                n = eol - p, i;
    int                   rc;

    if (n < 12 || l[8] != ' ' || !is_digit(l[9]) || !is_digit(l[10]) || !is_digit(l[11]))
        return LBD_HTTP_BAD;
    if (n > 12 && l[12] != ' ')
        return LBD_HTTP_BAD;
    if ((rc = version(l, 8, &h->version)) != 0)
        return rc;
    h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (h->status < 100)
        return LBD_HTTP_BAD;
    for (i = 13; i < n; i++)
        if (!is_text(l[i]))
            return LBD_HTTP_BAD;
    h->reason = n > 12 ? span(p + 13, n - 13) : span(eol, 0);
    return 0;
}

/*
 * The next element of the comma-separated list v[0..n) from *pos, trimmed
 * of OWS (it may be empty): *es, *el.  0 when the list is done.
 */
static int
list_next(const char *v, size_t n, size_t *pos, size_t *es, size_t *el)
{
    size_t i = *pos, e;

    if (i > n)
        return 0;
    while (i < n && is_ws(v[i]))
        i++;
    *es = i;
    while (i < n && v[i] != ',')
        i++;
    for (e = i; e > *es && is_ws(v[e - 1]); e--)
        ;
    *el = e - *es;
    *pos = i + 1;
    return 1;
}

/* Content-Length: 1*DIGIT, or a list of equal ones ("5, 5"). */
static int
content_length(struct hp *s, const char *v, size_t n)
{
    size_t pos = 0, es, el;

    while (list_next(v, n, &pos, &es, &el)) {
        int64_t x = 0;

        if (el == 0)
            return LBD_HTTP_BAD;
        for (size_t i = es; i < es + el; i++) {
            if (!is_digit(v[i]) || x > (INT64_MAX - (v[i] - '0')) / 10)
                return LBD_HTTP_BAD;
            x = x * 10 + (v[i] - '0');
        }
        if (s->cl >= 0 && x != s->cl)
            return LBD_HTTP_BAD;
        s->cl = x;
    }
    s->ncl++;
    return 0;
}

static size_t
skip_ws(const char *v, size_t n, size_t i)
{
    while (i < n && is_ws(v[i]))
        i++;
    return i;
}

static size_t
skip_token(const char *v, size_t n, size_t i)
{
    while (i < n && is_tchar(v[i]))
        i++;
    return i;
}

/* A quoted-string at v[i] ('"'): the index after its closing quote, or 0. */
static size_t
skip_quoted(const char *v, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (v[i] == '"')
            return i + 1;
        if (v[i] == '\\' && ++i == n)
            return 0;
        /* The value's bytes were checked already: all are HTAB, SP, VCHAR, obs-text. */
    }
    return 0;
}

/*
 * Transfer-Encoding: 1#( token *( OWS ";" OWS token BWS "=" BWS
 * ( token / quoted-string ) ) ).  Counts "chunked" and remembers whether
 * it is the last coding so far (the fields of a message make one list).
 * BAD: a malformed list, an empty element, chunked twice or with
 * parameters.
 */
static int
transfer_encoding(struct hp *s, const char *v, size_t n)
{
    size_t i = 0, t;

    s->nte++;
    for (;;) {
        int chunked;

        i = skip_ws(v, n, i);
        t = skip_token(v, n, i);
        if (t == i)
            return LBD_HTTP_BAD;
        chunked = ci_eq(v + i, t - i, "chunked");
        i = skip_ws(v, n, t);
        while (i < n && v[i] == ';') {
            if (chunked)
                return LBD_HTTP_BAD;
            i = skip_ws(v, n, i + 1);
            t = skip_token(v, n, i);
            if (t == i)
                return LBD_HTTP_BAD;
            i = skip_ws(v, n, t);
            if (i == n || v[i] != '=')
                return LBD_HTTP_BAD;
            i = skip_ws(v, n, i + 1);
            if (i < n && v[i] == '"') {
                if ((t = skip_quoted(v, n, i)) == 0)
                    return LBD_HTTP_BAD;
            } else if ((t = skip_token(v, n, i)) == i) {
                return LBD_HTTP_BAD;
            }
            i = skip_ws(v, n, t);
        }
        if (chunked && ++s->nchunked > 1)
            return LBD_HTTP_BAD;
        s->last_chunked = chunked;
        if (i == n)
            return 0;
        if (v[i] != ',')
            return LBD_HTTP_BAD;
        i++;
    }
}

/* Connection: #token; close, keep-alive, upgrade, or names of fields. */
static int
connection(struct hp *s, const char *v, size_t n)
{
    size_t pos = 0, es, el;

    while (list_next(v, n, &pos, &es, &el)) {
        if (el == 0)
            continue;
        if (skip_token(v, es + el, es) != es + el)
            return LBD_HTTP_BAD;
        if (ci_eq(v + es, el, "close"))
            s->close = 1;
        else if (ci_eq(v + es, el, "keep-alive"))
            s->keep_alive = 1;
        else if (ci_eq(v + es, el, "upgrade"))
            s->upgrade_token = 1;
        else
            s->names = 1;
    }
    return 0;
}

/* One field line buf[p..eol): name ":" OWS value OWS. */
static int
field(struct hp *s, size_t p, size_t eol)
{
    struct lbd_http_head   *h = s->h;
    struct lbd_http_header *hd;
    const char             *buf = s->buf;
    size_t                  i, vs, ve;

    /* A line that starts with whitespace is obs-fold, or junk before the first field. */
    for (i = p; i < eol && is_tchar(buf[i]); i++)
        ;
    if (i == p || i == eol || buf[i] != ':')
        return LBD_HTTP_BAD;
    vs = ve = skip_ws(buf, eol, i + 1);
    for (size_t j = vs; j < eol; j++) {
        if (!is_text(buf[j]))
            return LBD_HTTP_BAD;
        if (!is_ws(buf[j]))
            ve = j + 1;
    }
    if (h->nheaders == LBD_HTTP_MAX_HEADERS)
        return LBD_HTTP_TOO_LARGE;
    hd = &h->headers[h->nheaders++];
    hd->name = span(p, i - p);
    hd->value = span(vs, ve - vs);
    hd->id = header_id(buf + p, i - p);
    hd->flags = 0;

    switch (hd->id) {
    case LBD_HDR_HOST:
        if (!s->request)
            return 0;
        if (++s->nhost == 1)
            h->host = hd->value;
        return valid_host(buf + vs, ve - vs) ? 0 : LBD_HTTP_BAD;
    case LBD_HDR_CONTENT_LENGTH:
        return content_length(s, buf + vs, ve - vs);
    case LBD_HDR_TRANSFER_ENCODING:
        return transfer_encoding(s, buf + vs, ve - vs);
    case LBD_HDR_CONNECTION:
        hd->flags |= LBD_HDR_F_HOP;
        return connection(s, buf + vs, ve - vs);
    case LBD_HDR_KEEP_ALIVE:
    case LBD_HDR_PROXY_CONNECTION:
    case LBD_HDR_TE:
        hd->flags |= LBD_HDR_F_HOP;
        return 0;
    case LBD_HDR_UPGRADE:
        if (ve > vs)
            s->upgrade_field = 1;
        return 0;
    case LBD_HDR_EXPECT:
        if (ci_eq(buf + vs, ve - vs, "100-continue"))
            s->expect = 1;
        return 0;
    default:
        return 0;
    }
}

/*
 * Mark LBD_HDR_F_HOP on every field a Connection header names.  A
 * Connection that names Host, Content-Length or Transfer-Encoding asks the
 * proxy to drop what the next hop needs to route or frame the message: BAD.
 * At most LBD_HTTP_MAX_HEADERS comparisons per name, so O(bytes).
 */
static int
mark_named(struct hp *s)
{
    struct lbd_http_head *h = s->h;
    const char           *buf = s->buf;

    for (unsigned c = 0; c < h->nheaders; c++) {
        const char *v = buf + h->headers[c].value.off;
        size_t      n = h->headers[c].value.len, pos = 0, es, el;

        if (h->headers[c].id != LBD_HDR_CONNECTION)
            continue;
        while (list_next(v, n, &pos, &es, &el)) {
            if (el == 0 || ci_eq(v + es, el, "close") || ci_eq(v + es, el, "keep-alive") ||
                ci_eq(v + es, el, "upgrade"))
                continue;
            for (unsigned j = 0; j < h->nheaders; j++) {
                struct lbd_http_header *hd = &h->headers[j];

                if (hd->name.len != el || !ci_eq_n(buf + hd->name.off, v + es, el))
                    continue;
                if (hd->id == LBD_HDR_HOST || hd->id == LBD_HDR_CONTENT_LENGTH ||
                    hd->id == LBD_HDR_TRANSFER_ENCODING)
                    return LBD_HTTP_BAD;
                hd->flags |= LBD_HDR_F_HOP;
            }
        }
    }
    return 0;
}

/* Flag every field with this id. */
static void
mark_id(struct lbd_http_head *h, uint8_t id)
{
    for (unsigned i = 0; i < h->nheaders; i++)
        if (h->headers[i].id == id)
            h->headers[i].flags |= LBD_HDR_F_HOP;
}

/* What the fields say together: Host, framing, connection, hop-by-hop fields. */
static int
derive(struct hp *s)
{
    struct lbd_http_head *h = s->h;
    int                   rc = LBD_HTTP_DONE;

    if (s->nte > 0 && h->version == 10)
        return LBD_HTTP_BAD;     /* RFC 9112 6.1: framing faulty */
    if (s->request) {
        if (s->nhost > 1 || (s->nhost == 0 && h->version == 11))
            return LBD_HTTP_BAD;
        if (s->authority.len != 0)
            h->host = s->authority;
        if (s->nte > 0 && s->ncl > 0)
            return LBD_HTTP_BAD;
        if (s->nte > 0 && !s->last_chunked)
            rc = s->nchunked > 0 ? LBD_HTTP_BAD : LBD_HTTP_NOT_IMPL;
        if (rc == LBD_HTTP_BAD)
            return rc;
    }
    if (s->nte > 0) {
        /* A request that is not chunked is NOT_IMPL: its body is no concern. */
        h->body = s->last_chunked ? LBD_BODY_CHUNKED : s->request ? LBD_BODY_NONE : LBD_BODY_CLOSE;
        mark_id(h, LBD_HDR_CONTENT_LENGTH);
    } else if (s->ncl > 0 && s->cl > 0) {
        h->body = LBD_BODY_LENGTH;
        h->content_length = s->cl;
    } else if (s->ncl > 0 || s->request) {
        h->body = LBD_BODY_NONE;
    } else {
        h->body = LBD_BODY_CLOSE;
    }

    h->conn_close = s->close || (h->version == 10 && !s->keep_alive);
    h->conn_keep_alive = s->keep_alive;
    h->upgrade = s->upgrade_token && s->upgrade_field && (!s->request || h->version == 11);
    h->expect_continue = s->request && s->expect && h->version == 11;
    if (!h->upgrade)
        mark_id(h, LBD_HDR_UPGRADE);
    if (s->names && mark_named(s) != 0)
        return LBD_HTTP_BAD;
    return rc;
}

static void
head_reset(struct lbd_http_head *h)
{
    static const struct lbd_http_span none;

    h->head_len = 0;
    h->version = 0;
    h->method_id = LBD_METHOD_OTHER;
    h->method = h->target = h->path = h->host = h->reason = none;
    h->status = 0;
    h->body = LBD_BODY_NONE;
    h->content_length = -1;
    h->conn_close = h->conn_keep_alive = h->upgrade = h->expect_continue = 0;
    h->nheaders = 0;
}

/* Leading empty lines, the start line, the fields, then what they mean. */
static int
parse(const char *buf, size_t len, struct lbd_http_head *h, int request)
{
    struct hp s = { .buf = buf, .len = len, .h = h, .request = request, .cl = -1 };
    size_t    p = 0, eol, next;
    int       rc;

    head_reset(h);
    if (len >= UINT32_MAX)
        return LBD_HTTP_BAD;
    for (;; p = next) {
        if (line_at(buf, len, p, &eol, &next) != 0)
            return LBD_HTTP_BAD;
        if (eol > p)
            break;
    }
    rc = request ? request_line(&s, p, eol) : status_line(&s, p, eol);
    if (rc != 0)
        return rc;
    for (p = next;; p = next) {
        if (line_at(buf, len, p, &eol, &next) != 0)
            return LBD_HTTP_BAD;
        if (eol == p)
            break;
        if ((rc = field(&s, p, eol)) != 0)
            return rc;
    }
    h->head_len = (uint32_t) next;
    return derive(&s);
}

int
lbd_http_parse_request(const char *buf, size_t len, struct lbd_http_head *h)
{
    return parse(buf, len, h, 1);
}

int
lbd_http_parse_response(const char *buf, size_t len, struct lbd_http_head *h)
{
    return parse(buf, len, h, 0);
}

const struct lbd_http_header *
lbd_http_find(const struct lbd_http_head *h, const char *buf, const char *name, unsigned *from)
{
    size_t n = strlen(name);

    for (unsigned i = from != NULL ? *from : 0; i < h->nheaders; i++) {
        const struct lbd_http_header *hd = &h->headers[i];

        if (hd->name.len == n && ci_eq_n(buf + hd->name.off, name, n)) {
            if (from != NULL)
                *from = i + 1;
            return hd;
        }
    }
    if (from != NULL)
        *from = h->nheaders;
    return NULL;
}

int
lbd_http_cookie(const char *v, size_t vlen, const char *name, struct lbd_http_span *out)
{
    size_t nlen = strlen(name), i = 0;

    if (nlen == 0 || vlen >= UINT32_MAX)
        return 0;
    /* cookie-pair *( ";" SP cookie-pair ), read leniently: any OWS around ';' and '='. */
    while (i < vlen) {
        size_t ns, ne, vs, ve;

        ns = skip_ws(v, vlen, i);
        for (ve = ns; ve < vlen && v[ve] != ';'; ve++)
            ;
        i = ve + 1;
        for (ne = ns; ne < ve && v[ne] != '='; ne++)
            ;
        if (ne == ve)
            continue;           /* no '=': not a cookie-pair */
        vs = skip_ws(v, ve, ne + 1);
        while (ne > ns && is_ws(v[ne - 1]))
            ne--;
        while (ve > vs && is_ws(v[ve - 1]))
            ve--;
        if (ne - ns == nlen && memcmp(v + ns, name, nlen) == 0) {
            *out = span(vs, ve - vs);
            return 1;
        }
    }
    return 0;
}

const char *
lbd_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 306: return "Unused";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 511: return "Network Authentication Required";
    default:  return "";
    }
}

int
lbd_http_idempotent(enum lbd_http_method m)
{
    switch (m) {
    case LBD_METHOD_GET:
    case LBD_METHOD_HEAD:
    case LBD_METHOD_PUT:
    case LBD_METHOD_DELETE:
    case LBD_METHOD_OPTIONS:
    case LBD_METHOD_TRACE:
        return 1;
    default:
        return 0;
    }
}
