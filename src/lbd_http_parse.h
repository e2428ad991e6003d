/*
 * lbd_http_parse.h - HTTP/1.x message heads and chunked bodies, parsed
 * strictly enough that lbd never forwards what a backend could read
 * differently (request smuggling).
 *
 * The parser never allocates and never copies: a parsed head is a set of
 * spans (offset, length) into the caller's buffer, which must stay put
 * while the head is used.  It runs in a worker loop and costs O(bytes):
 *
 *   1. lbd_http_head_end() finds where a head ends, resuming its scan where
 *      the previous call stopped, so a client that trickles a head byte by
 *      byte costs O(n) in all, not O(n^2).
 *   2. lbd_http_parse_request() / lbd_http_parse_response() parse the whole
 *      head once it is complete, validate it, and derive its framing.
 *   3. A chunked body is walked with lbd_http_chunked_next(), which tells
 *      the chunk data from the framing so a caller may forward the body as
 *      it is or strip the framing (an HTTP/1.0 client).
 *
 * Every function here is pure: no I/O, no globals; safe in any process.
 */
#ifndef LBD_HTTP_PARSE_H
#define LBD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Results.  Negative results say what to answer a client with. */
#define LBD_HTTP_AGAIN          1    /* need more bytes */
#define LBD_HTTP_DONE           0    /* parsed / complete */
#define LBD_HTTP_BAD           -1    /* malformed: 400 (502 for a response) */
#define LBD_HTTP_TOO_LARGE     -2    /* too many header fields: 431 */
#define LBD_HTTP_BAD_VERSION   -3    /* HTTP/2.0, HTTP/3.7...: 505 */
#define LBD_HTTP_NOT_IMPL      -4    /* a transfer coding other than chunked: 501 */

/* Header fields a head holds at most (more: LBD_HTTP_TOO_LARGE). */
#define LBD_HTTP_MAX_HEADERS   128

/* A run of bytes of the caller's buffer: buf + off, len bytes. */
struct lbd_http_span {
    uint32_t off;
    uint32_t len;
};

/* Header fields lbd acts on, recognised case-insensitively by name. */
enum lbd_http_hdr_id {
    LBD_HDR_OTHER = 0,
    LBD_HDR_HOST,
    LBD_HDR_CONTENT_LENGTH,
    LBD_HDR_TRANSFER_ENCODING,
    LBD_HDR_CONNECTION,
    LBD_HDR_KEEP_ALIVE,
    LBD_HDR_PROXY_CONNECTION,
    LBD_HDR_TE,
    LBD_HDR_TRAILER,
    LBD_HDR_UPGRADE,
    LBD_HDR_EXPECT,
    LBD_HDR_COOKIE,
    LBD_HDR_SET_COOKIE,
    LBD_HDR_X_FORWARDED_FOR,
    LBD_HDR_X_FORWARDED_PROTO,
    LBD_HDR_X_REAL_IP,
    LBD_HDR_REFERER,
    LBD_HDR_USER_AGENT,
};

/*
 * Header flags.  LBD_HDR_F_HOP marks a field a proxy must not forward
 * (RFC 9110 7.6.1): Connection, Keep-Alive, Proxy-Connection, TE, Upgrade
 * (unless the message is an upgrade, see upgrade below), and every field
 * the Connection header names.  Content-Length of a response that also has
 * Transfer-Encoding is marked too (Transfer-Encoding wins, RFC 9112 6.3).
 * Trailer and Transfer-Encoding are NOT marked: lbd forwards chunked
 * bodies as they are.
 */
#define LBD_HDR_F_HOP   0x1

struct lbd_http_header {
    struct lbd_http_span name;      /* as received, without the colon */
    struct lbd_http_span value;     /* leading and trailing whitespace trimmed */
    uint8_t              id;        /* enum lbd_http_hdr_id */
    uint8_t              flags;     /* LBD_HDR_F_* */
};

/* Request methods lbd tells apart (idempotency, HEAD's empty response). */
enum lbd_http_method {
    LBD_METHOD_OTHER = 0,
    LBD_METHOD_GET,
    LBD_METHOD_HEAD,
    LBD_METHOD_POST,
    LBD_METHOD_PUT,
    LBD_METHOD_DELETE,
    LBD_METHOD_OPTIONS,
    LBD_METHOD_TRACE,
    LBD_METHOD_CONNECT,
    LBD_METHOD_PATCH,
};

/* How a message body is delimited. */
enum lbd_http_body {
    LBD_BODY_NONE = 0,        /* no body (or Content-Length: 0) */
    LBD_BODY_LENGTH,          /* content_length bytes */
    LBD_BODY_CHUNKED,         /* Transfer-Encoding: chunked */
    LBD_BODY_CLOSE,           /* response only: until the backend closes */
};

/*
 * A parsed head.  Spans point into the buffer given to the parse call.
 *
 * Requests: method, target, path (the target's path: from the first '/' of
 * an origin-form target or after the authority of an absolute-form one, up
 * to '?' or the end; empty for "*" and authority-form), host (the Host
 * field's value, or the authority of an absolute-form target, which wins
 * per RFC 9112 3.2.2; len 0 when neither).
 *
 * Requests' target forms (RFC 9112 3.2): origin-form ("/p?q"); absolute-form
 * with the scheme http or https ("http://a:8/p?q", any case; host is then
 * "a:8"); authority-form "host:port", which CONNECT must use and no other
 * method may; asterisk-form "*", OPTIONS only.  Anything else is BAD.
 *
 * Responses: status and reason (empty, at the line's end, for "HTTP/1.1 200").
 *
 * Framing: for a request, body is NONE, LENGTH or CHUNKED.  For a response
 * the parser cannot know the request (HEAD, 1xx, 204, 304 carry no body):
 * it derives body from the fields alone (CLOSE when there is neither
 * Content-Length nor chunked) and the caller overrides for those cases.
 * "Content-Length: 0" is NONE, so content_length is -1 unless body is
 * LENGTH (and then > 0).
 *
 * Connection, if the message has to go on, is for the caller to write:
 * the field is always marked LBD_HDR_F_HOP, upgrade included (a caller
 * forwarding an upgrade sends "Connection: upgrade" itself).
 */
struct lbd_http_head {
    uint32_t             head_len;     /* bytes of the head, final empty line included */
    int                  version;      /* 10 or 11 */

    enum lbd_http_method method_id;
    struct lbd_http_span method;
    struct lbd_http_span target;
    struct lbd_http_span path;
    struct lbd_http_span host;

    int                  status;       /* 100..999 */
    struct lbd_http_span reason;

    enum lbd_http_body   body;
    int64_t              content_length; /* LBD_BODY_LENGTH: >= 0; else -1 */

    unsigned             conn_close:1;   /* Connection: close, or 1.0 without keep-alive */
    unsigned             conn_keep_alive:1; /* Connection: keep-alive named */
    unsigned             upgrade:1;      /* Connection: upgrade and an Upgrade field */
    unsigned             expect_continue:1; /* Expect: 100-continue, HTTP/1.1 requests only
                                               (RFC 9110 10.1.1: a 1.0 one is ignored) */

    unsigned             nheaders;
    struct lbd_http_header headers[LBD_HTTP_MAX_HEADERS];
};

/*
 * Where the head in buf[0..len) ends.  *scanned is the caller's cursor
 * (start it at 0 for a new message; the function advances it), so bytes
 * already looked at are not scanned again.  A head ends at the first empty
 * line: CRLF CRLF, or bare LF line ends (RFC 9112 2.2 lets a recipient
 * accept LF).  Returns the head's length (> 0) when complete, else 0.
 *
 * Empty lines before the start line are not an end: they are skipped, as
 * the parse functions skip them (RFC 9112 2.2), and counted in the head's
 * length, so "\r\n\r\n" alone is no head yet.  Resuming needs nothing but
 * *scanned (the bytes before it must be the same); when complete,
 * *scanned is the head's length.  O(new bytes) per call.
 */
size_t lbd_http_head_end(const char *buf, size_t len, size_t *scanned);

/*
 * Parse a complete request head buf[0..len) (len as lbd_http_head_end()
 * returned) into h.  Empty lines before the request line are skipped;
 * parsing stops at the head's empty line (h->head_len), and bytes after it,
 * if len is longer, are not looked at.  Returns LBD_HTTP_DONE, or a
 * negative LBD_HTTP_* code:
 *
 *   BAD: no empty line within len; no or bad request line (method not a
 *   token, target empty or with a byte that is not VCHAR, a target form
 *   the method may not use, anything but one SP between the parts),
 *   a field name that is not a token or has whitespace before the colon, a
 *   control character other than HTAB in a value, obsolete line folding (a
 *   line starting with SP or HTAB), a bare CR, Content-Length not 1*DIGIT
 *   or too large for int64, Content-Length fields that differ (equal ones,
 *   as separate fields or a comma list, are one value), both
 *   Content-Length and Transfer-Encoding, Transfer-Encoding in HTTP/1.0,
 *   Transfer-Encoding that names chunked twice, or not last, or with
 *   parameters, or is not a well-formed list of codings (an empty element
 *   included), more than one Host field, HTTP/1.1 without Host, a Host
 *   value that is not a host[:port] (userinfo, a comma, a space: BAD; an
 *   empty value is allowed), a Connection token that is not a token, or
 *   that names Host, Content-Length or Transfer-Encoding (they are not
 *   the proxy's to drop).
 *   TOO_LARGE: more than LBD_HTTP_MAX_HEADERS fields.
 *   BAD_VERSION: a well-formed HTTP-version other than 1.0 and 1.1
 *   ("HTTP/" DIGIT "." DIGIT; "HTTP/1.10", "http/1.1" are BAD).
 *   NOT_IMPL: Transfer-Encoding without chunked at all ("gzip",
 *   "identity"): the body's length cannot be known (RFC 9112 6.1: 501).
 *   Returned only when nothing else is wrong; the first problem found wins
 *   otherwise (BAD_VERSION at the request line ends the parse there).
 *
 * When the result is not DONE, h holds what was parsed so far and only
 * that: no span in it is used by anything but the caller's logging.
 */
int lbd_http_parse_request(const char *buf, size_t len, struct lbd_http_head *h);

/*
 * Parse a complete response head.  Same rules as requests for fields
 * (Host aside: a response's is not looked at); status line
 * "HTTP/1.x SSS[ reason]", SSS 100..999.  Both Content-Length and
 * Transfer-Encoding: Transfer-Encoding wins and Content-Length is marked
 * LBD_HDR_F_HOP.  A Transfer-Encoding whose last coding is not chunked
 * ("gzip", "chunked, gzip") makes the body CLOSE-delimited (RFC 9112 6.3);
 * chunked named twice is still BAD, and so is Transfer-Encoding in an
 * HTTP/1.0 response (RFC 9112 6.1: its framing is faulty).
 * LBD_HTTP_DONE or LBD_HTTP_BAD (or TOO_LARGE / BAD_VERSION).
 */
int lbd_http_parse_response(const char *buf, size_t len, struct lbd_http_head *h);

/*
 * The header called name (case-insensitive) in h, from index *from on;
 * NULL.  *from is set past the header returned, so calling again finds the
 * next one; from may be NULL (search from the first).
 */
const struct lbd_http_header *lbd_http_find(const struct lbd_http_head *h, const char *buf,
                                            const char *name, unsigned *from);

/*
 * The value of cookie name in a Cookie header value v[0..vlen), as a span
 * relative to v.  1 when found, 0 when not.  The first cookie whose name
 * is exactly name (case-sensitive) wins; pairs are split at ';' and the
 * first '=', spaces around both are ignored, a pair without '=' is
 * skipped, and a value is returned as it is (DQUOTEs included).
 */
int lbd_http_cookie(const char *v, size_t vlen, const char *name, struct lbd_http_span *out);

/* Walking a chunked body. */
struct lbd_http_chunked {
    int      state;        /* private */
    uint64_t left;         /* bytes of chunk data still to come in this chunk */
    uint32_t line;         /* bytes of the current size or trailer line so far */
    uint64_t total;        /* data bytes so far (the decoded body's length) */
};

/* Start walking a new body. */
void lbd_http_chunked_init(struct lbd_http_chunked *c);

/*
 * Consume the next run of buf[0..len): either chunk data or framing (size
 * lines, extensions, the CRLF after data, the last chunk, trailers), never
 * both in one call.  *used is the run's length, *is_data whether it is
 * chunk data.  Returns LBD_HTTP_AGAIN (more body to come; *used may be 0
 * only when len is 0), LBD_HTTP_DONE (the run ended the body: the last
 * chunk and its trailers are in; bytes after *used belong to the next
 * message), or LBD_HTTP_BAD: a size that is not hex, is empty, has
 * whitespace before it or overflows 64 bits; data not followed by CRLF; a
 * size, extension or trailer line over 4096 bytes; a control character in
 * an extension or trailer.  Bytes before a BAD are valid; nothing from the
 * bad run on is.
 *
 * Stricter than heads, because chunked framing is where proxies and
 * servers have disagreed: every line ends with CRLF (a bare LF is BAD);
 * an extension must match RFC 9112 7.1.1 (*( BWS ";" BWS name [ BWS "="
 * BWS ( token / quoted-string ) ] )), so whitespace after a size or value
 * is allowed only before a ';' ("5 \r\n" is BAD); a trailer line is
 * name ":" value, no obs-fold.  On BAD, *used is 0.  After DONE or BAD the
 * walker stays there: later calls return the same, *used 0.  The result
 * is the same however the body is split between calls.
 */
int lbd_http_chunked_next(struct lbd_http_chunked *c, const char *buf, size_t len,
                          size_t *used, int *is_data);

/* The standard reason phrase of status ("OK", "Bad Gateway"...), or "". */
const char *lbd_http_reason(int status);

/* Whether method is idempotent (RFC 9110 9.2.2): GET HEAD PUT DELETE OPTIONS TRACE. */
int lbd_http_idempotent(enum lbd_http_method m);

#endif /* LBD_HTTP_PARSE_H */
