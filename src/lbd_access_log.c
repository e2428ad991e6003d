/*
 * lbd_access_log.c - the HTTP access log (see lbd_access_log.h).
 *
 * Each log of the process is one node of a short list (a few paths at most)
 * with a 64 KB buffer that only ever holds whole lines.  A line is
 * formatted straight into the buffer's free room; when it does not fit, the
 * buffer is written out and the line formatted again into the empty buffer,
 * where it always fits: every field is capped before it is escaped (the
 * caps below), so the longest possible line is known at compile time.
 *
 * Choices the header leaves open:
 *  - Descriptors are opened O_NONBLOCK too: that changes nothing for a
 *    regular file, and a pipe whose reader stalls makes write() fail with
 *    EAGAIN (lines dropped) instead of stopping the worker's loop.  A FIFO
 *    with no reader cannot be opened at all (ENXIO).
 *  - A field longer than its cap keeps its first cap bytes (cut back to a
 *    UTF-8 boundary) followed by "..." inside the quotes.
 *  - Combined: a NULL client or backend, or an empty one, is "-" (they are
 *    not quoted, an empty one would shift the fields); a NULL referer or
 *    user agent is "-" in quotes, an empty one "".  The request field is
 *    "-" when both method and target are NULL or empty (nothing readable);
 *    otherwise "METHOD TARGET" with "-" for a missing part, followed by
 *    " HTTP/x.y" only when version is not 0.  Status 0 (no response) is
 *    "000", as nginx writes it.
 *  - JSON: a byte >= 0x80 that does not start a valid UTF-8 sequence
 *    (overlong, surrogate, truncated, stray continuation byte) is written
 *    as \u00XX of its value, so the line stays valid JSON; a reader sees
 *    U+00XX in its place.  "protocol" and "backend_time" are null when
 *    version is 0 and backend_us < 0.
 *  - Times: request_time and backend_time are rounded to the millisecond;
 *    the JSON time is the start's UTC wall clock, milliseconds truncated.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lbd_access_log.h"
#include "lbd_log.h"

#define LBD_ALOG_BUF         65536
#define LBD_ALOG_OPEN_FLAGS  (O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC)
/* A failed write is reported at most this often per log. */
#define LBD_ALOG_ERR_MS      60000

/* Raw bytes kept of each field (before escaping). */
#define CAP_CLIENT      64
#define CAP_METHOD      64
#define CAP_TARGET      4096
#define CAP_REFERER     2048
#define CAP_AGENT       2048
#define CAP_NAME        256     /* service, pool, backend */

/*
 * The longest line: every byte of every field escaped in the widest form
 * (JSON's \u00XX, 6 bytes), plus quotes and the "..." marker, plus the keys,
 * numbers and punctuation (well under 1 KB).
 */
#define LBD_ALOG_LINE_MAX \
    (6 * (CAP_CLIENT + CAP_METHOD + CAP_TARGET + CAP_REFERER + CAP_AGENT + 3 * CAP_NAME) \
     + 8 * 5 + 1024)
_Static_assert(LBD_ALOG_LINE_MAX <= LBD_ALOG_BUF, "one line must fit an empty buffer");

struct lbd_alog {
    struct lbd_alog     *next;
    char                *path;
    enum lbd_alog_format format;
    int                  fd;
    size_t               len;           /* bytes buffered: whole lines */
    uint64_t             dropped;       /* lines lost since the last report */
    int                  reported;      /* an error was reported, at err_ms */
    int64_t              err_ms;
    char                 buf[LBD_ALOG_BUF];
};

static struct lbd_alog *logs;

/* The formatted second last used: lines come in bursts within one second. */
static time_t local_sec = -1, utc_sec = -1;
static char   local_text[64];           /* "21/Nov/2026:16:40:00 +0000" */
static char   utc_text[64];             /* "2026-11-21T16:40:00" */
static size_t local_len, utc_len;

static const char month_names[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static const char hex_digits[] = "0123456789ABCDEF";

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- writing out ---- */

/*
 * Write the buffer with one write(2) (more only after a partial write or
 * EINTR).  On failure the rest is dropped and counted; the error is logged
 * once per LBD_ALOG_ERR_MS with the lines lost since the last message.
 */
static void
alog_flush(struct lbd_alog *log)
{
    size_t  off = 0;
    ssize_t n;
    int     err = 0;

    while (off < log->len) {
        n = write(log->fd, log->buf + off, log->len - off);
        if (n > 0) {
            off += (size_t) n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        err = n == -1 ? errno : 0;
        break;
    }
    if (off < log->len) {
        for (const char *p = log->buf + off, *end = log->buf + log->len;
             (p = memchr(p, '\n', (size_t) (end - p))) != NULL; p++)
            log->dropped++;

        int64_t now = mono_ms();
        if (!log->reported || now - log->err_ms >= LBD_ALOG_ERR_MS) {
            lbd_log_err(LBD_LOG_ERROR, err, "access log \"%s\": write() failed, "
                        "%llu lines dropped (reported once a minute at most)",
                        log->path, (unsigned long long) log->dropped);
            log->reported = 1;
            log->err_ms = now;
            log->dropped = 0;
        }
    }
    log->len = 0;
}

/* ---- formatting ---- */

/* Where a line is being formatted; full: something did not fit, the line is void. */
struct out {
    char *p;
    char *end;
    int   full;
};

static void
put(struct out *o, const char *s, size_t n)
{
    if ((size_t) (o->end - o->p) < n) {
        o->full = 1;
        o->p = o->end;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

#define put_lit(o, lit)  put((o), (lit), sizeof(lit) - 1)

static void
put_c(struct out *o, char c)
{
    put(o, &c, 1);
}

/* v in decimal, zero-padded to width digits. */
static void
put_uint(struct out *o, uint64_t v, int width)
{
    char  d[24];
    char *p = d + sizeof(d);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
        width--;
    } while (v != 0 || width > 0);
    put(o, p, (size_t) (d + sizeof(d) - p));
}

/* Microseconds as seconds with 3 decimals, rounded: "0.002". */
static void
put_secs(struct out *o, int64_t us)
{
    uint64_t ms = us > 0 ? ((uint64_t) us + 500) / 1000 : 0;

    put_uint(o, ms / 1000, 1);
    put_c(o, '.');
    put_uint(o, ms % 1000, 3);
}

static void
put_hex_escape(struct out *o, const char *prefix, size_t plen, unsigned char c)
{
    char e[8];

    memcpy(e, prefix, plen);
    e[plen] = hex_digits[c >> 4];
    e[plen + 1] = hex_digits[c & 0xf];
    put(o, e, plen + 2);
}

/*
 * How many of s's n bytes to keep under cap: cap, moved back (3 bytes at
 * most) so as not to split a UTF-8 sequence.  *cut tells whether bytes go.
 */
static size_t
capped(const char *s, size_t n, size_t cap, int *cut)
{
    size_t k = cap;

    *cut = n > cap;
    if (!*cut)
        return n;
    while (k > cap - 3 && ((unsigned char) s[k] & 0xc0) == 0x80)
        k--;
    return k;
}

/* Combined: '"', '\\' and bytes outside 0x20-0x7e as \xHH, as nginx does. */
static void
put_clf(struct out *o, const char *s, size_t n, size_t cap)
{
    int cut;

    n = capped(s, n, cap, &cut);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            put_hex_escape(o, "\\x", 2, c);
        else
            put_c(o, (char) c);
    }
    if (cut)
        put_lit(o, "...");
}

/* An unquoted combined field: "-" when there is nothing. */
static void
put_clf_word(struct out *o, const char *s, size_t cap)
{
    if (s == NULL || *s == '\0')
        put_c(o, '-');
    else
        put_clf(o, s, strlen(s), cap);
}

/* A quoted combined field: "-" in quotes when NULL. */
static void
put_clf_quoted(struct out *o, const char *s, size_t n, size_t cap)
{
    put_c(o, '"');
    if (s == NULL)
        put_c(o, '-');
    else
        put_clf(o, s, n, cap);
    put_c(o, '"');
}

/* The length of the valid UTF-8 sequence of 2 to 4 bytes at s, or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t        len;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        if (s[0] == 0xe0)
            lo = 0xa0;                  /* overlong */
        else if (s[0] == 0xed)
            hi = 0x9f;                  /* surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        if (s[0] == 0xf0)
            lo = 0x90;                  /* overlong */
        else if (s[0] == 0xf4)
            hi = 0x8f;                  /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* A JSON string (null when s is NULL); invalid UTF-8 bytes as \u00XX. */
static void
put_json(struct out *o, const char *s, size_t n, size_t cap)
{
    int cut;

    if (s == NULL) {
        put_lit(o, "null");
        return;
    }
    n = capped(s, n, cap, &cut);
    put_c(o, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        size_t        len;

        if (c >= 0x80) {
            if ((len = utf8_len((const unsigned char *) s + i, n - i)) != 0) {
                put(o, s + i, len);
                i += len - 1;
            } else {
                put_hex_escape(o, "\\u00", 4, c);
            }
            continue;
        }
        switch (c) {
        case '"':  put_lit(o, "\\\""); break;
        case '\\': put_lit(o, "\\\\"); break;
        case '\n': put_lit(o, "\\n"); break;
        case '\r': put_lit(o, "\\r"); break;
        case '\t': put_lit(o, "\\t"); break;
        case '\b': put_lit(o, "\\b"); break;
        case '\f': put_lit(o, "\\f"); break;
        default:
            if (c < 0x20)
                put_hex_escape(o, "\\u00", 4, c);
            else
                put_c(o, (char) c);
        }
    }
    if (cut)
        put_lit(o, "...");
    put_c(o, '"');
}

static void
put_json_cstr(struct out *o, const char *s, size_t cap)
{
    put_json(o, s, s != NULL ? strlen(s) : 0, cap);
}

/* "[21/Nov/2026:16:40:00 +0000]" in the local time zone, as nginx's $time_local. */
static void
put_time_local(struct out *o, time_t sec)
{
    if (sec != local_sec) {
        struct tm tm;
        long      off;
        int       r;

        if (localtime_r(&sec, &tm) == NULL)
            memset(&tm, 0, sizeof(tm));
        off = tm.tm_gmtoff;
        r = snprintf(local_text, sizeof(local_text), "%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld",
                     tm.tm_mday, month_names[tm.tm_mon % 12], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
                     labs(off) / 3600, labs(off) % 3600 / 60);
        local_len = r > 0 && (size_t) r < sizeof(local_text) ? (size_t) r : 0;
        local_sec = sec;
    }
    put_c(o, '[');
    put(o, local_text, local_len);
    put_c(o, ']');
}

/* "2026-11-21T16:40:00.123Z": UTC, milliseconds. */
static void
put_time_utc(struct out *o, const struct timeval *tv)
{
    long ms = tv->tv_usec >= 0 && tv->tv_usec < 1000000 ? (long) tv->tv_usec / 1000 : 0;

    if (tv->tv_sec != utc_sec) {
        struct tm tm;
        int       r;

        if (gmtime_r(&tv->tv_sec, &tm) == NULL)
            memset(&tm, 0, sizeof(tm));
        r = snprintf(utc_text, sizeof(utc_text), "%04d-%02d-%02dT%02d:%02d:%02d",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
        utc_len = r > 0 && (size_t) r < sizeof(utc_text) ? (size_t) r : 0;
        utc_sec = tv->tv_sec;
    }
    put_c(o, '"');
    put(o, utc_text, utc_len);
    put_c(o, '.');
    put_uint(o, (uint64_t) ms, 3);
    put_lit(o, "Z\"");
}

static int
present(const char *s, size_t n)
{
    return s != NULL && n > 0;
}

static void
put_protocol(struct out *o, int version)
{
    put_lit(o, "HTTP/");
    put_uint(o, (uint64_t) (version / 10), 1);
    put_c(o, '.');
    put_uint(o, (uint64_t) (version % 10), 1);
}

static void
format_combined(struct out *o, const struct lbd_alog_entry *e)
{
    put_clf_word(o, e->client, CAP_CLIENT);
    put_lit(o, " - - ");
    put_time_local(o, e->start.tv_sec);

    put_lit(o, " \"");
    if (!present(e->method, e->method_len) && !present(e->target, e->target_len)) {
        put_c(o, '-');
    } else {
        if (present(e->method, e->method_len))
            put_clf(o, e->method, e->method_len, CAP_METHOD);
        else
            put_c(o, '-');
        put_c(o, ' ');
        if (present(e->target, e->target_len))
            put_clf(o, e->target, e->target_len, CAP_TARGET);
        else
            put_c(o, '-');
        if (e->version > 0) {
            put_c(o, ' ');
            put_protocol(o, e->version);
        }
    }
    put_lit(o, "\" ");

    put_uint(o, e->status > 0 ? (uint64_t) e->status : 0, 3);
    put_c(o, ' ');
    put_uint(o, e->bytes_sent, 1);
    put_c(o, ' ');
    put_clf_quoted(o, e->referer, e->referer_len, CAP_REFERER);
    put_c(o, ' ');
    put_clf_quoted(o, e->user_agent, e->user_agent_len, CAP_AGENT);
    put_c(o, ' ');
    put_clf_word(o, e->backend, CAP_NAME);
    put_c(o, ' ');
    put_secs(o, e->request_us);
    put_c(o, ' ');
    if (e->backend_us < 0)
        put_c(o, '-');
    else
        put_secs(o, e->backend_us);
    put_c(o, '\n');
}

static void
format_json(struct out *o, const struct lbd_alog_entry *e)
{
    put_lit(o, "{\"time\":");
    put_time_utc(o, &e->start);
    put_lit(o, ",\"client\":");
    put_json_cstr(o, e->client, CAP_CLIENT);
    put_lit(o, ",\"method\":");
    put_json(o, e->method, e->method_len, CAP_METHOD);
    put_lit(o, ",\"target\":");
    put_json(o, e->target, e->target_len, CAP_TARGET);
    put_lit(o, ",\"protocol\":");
    if (e->version > 0) {
        put_c(o, '"');
        put_protocol(o, e->version);
        put_c(o, '"');
    } else {
        put_lit(o, "null");
    }
    put_lit(o, ",\"status\":");
    put_uint(o, e->status > 0 ? (uint64_t) e->status : 0, 1);
    put_lit(o, ",\"bytes_sent\":");
    put_uint(o, e->bytes_sent, 1);
    put_lit(o, ",\"bytes_received\":");
    put_uint(o, e->bytes_received, 1);
    put_lit(o, ",\"referer\":");
    put_json(o, e->referer, e->referer_len, CAP_REFERER);
    put_lit(o, ",\"user_agent\":");
    put_json(o, e->user_agent, e->user_agent_len, CAP_AGENT);
    put_lit(o, ",\"service\":");
    put_json_cstr(o, e->service, CAP_NAME);
    put_lit(o, ",\"pool\":");
    put_json_cstr(o, e->pool, CAP_NAME);
    put_lit(o, ",\"backend\":");
    put_json_cstr(o, e->backend, CAP_NAME);
    put_lit(o, ",\"request_time\":");
    put_secs(o, e->request_us);
    put_lit(o, ",\"backend_time\":");
    if (e->backend_us < 0)
        put_lit(o, "null");
    else
        put_secs(o, e->backend_us);
    put_lit(o, "}\n");
}

/* Format e at the end of log's buffer.  0 when it did not fit (nothing added). */
static int
format_line(struct lbd_alog *log, const struct lbd_alog_entry *e)
{
    struct out o = { log->buf + log->len, log->buf + sizeof(log->buf), 0 };

    if (log->format == LBD_ALOG_JSON)
        format_json(&o, e);
    else
        format_combined(&o, e);
    if (o.full)
        return 0;
    log->len = (size_t) (o.p - log->buf);
    return 1;
}

/* ---- the public functions ---- */

struct lbd_alog *
lbd_alog_get(const char *path, enum lbd_alog_format format)
{
    struct lbd_alog *log;
    int              fd;

    if (path == NULL || (format != LBD_ALOG_COMBINED && format != LBD_ALOG_JSON)) {
        errno = EINVAL;
        return NULL;
    }
    for (log = logs; log != NULL; log = log->next)
        if (strcmp(log->path, path) == 0)
            return log;

    fd = open(path, LBD_ALOG_OPEN_FLAGS, 0644);
    if (fd == -1)
        return NULL;
    log = malloc(sizeof(*log));
    if (log == NULL || (log->path = strdup(path)) == NULL) {
        free(log);
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    log->format = format;
    log->fd = fd;
    log->len = 0;
    log->dropped = 0;
    log->reported = 0;
    log->err_ms = 0;
    log->next = logs;
    logs = log;
    return log;
}

void
lbd_alog_write(struct lbd_alog *log, const struct lbd_alog_entry *entry)
{
    if (log == NULL || entry == NULL)
        return;
    if (format_line(log, entry))
        return;
    alog_flush(log);
    /* An empty buffer holds the longest line (LBD_ALOG_LINE_MAX). */
    if (!format_line(log, entry))
        assert(!"an access log line outgrew the buffer");
}

void
lbd_alog_flush_all(void)
{
    for (struct lbd_alog *log = logs; log != NULL; log = log->next)
        if (log->len > 0)
            alog_flush(log);
}

int
lbd_alog_reopen_all(void)
{
    int rc = 0;

    for (struct lbd_alog *log = logs; log != NULL; log = log->next) {
        int fd;

        if (log->len > 0)
            alog_flush(log);
        fd = open(log->path, LBD_ALOG_OPEN_FLAGS, 0644);
        if (fd == -1) {
            lbd_log_err(LBD_LOG_ERROR, errno, "reopening the access log \"%s\" failed, "
                        "keeping the old file", log->path);
            rc = -1;
            continue;
        }
        close(log->fd);
        log->fd = fd;
    }
    return rc;
}

void
lbd_alog_close_all(void)
{
    struct lbd_alog *log, *next;

    for (log = logs; log != NULL; log = next) {
        next = log->next;
        if (log->len > 0)
            alog_flush(log);
        close(log->fd);
        free(log->path);
        free(log);
    }
    logs = NULL;
}

int
lbd_alog_prepare(const char *path, uid_t uid, gid_t gid)
{
    struct stat st;
    int         fd, err;

    fd = open(path, LBD_ALOG_OPEN_FLAGS, 0644);
    if (fd == -1)
        /* A FIFO that nobody reads yet: it exists, there is nothing to create. */
        return errno == ENXIO ? 0 : -1;
    /* Only a regular file: chowning /dev/stdout would give away a terminal. */
    if (uid != (uid_t) -1 && (fstat(fd, &st) == -1 ||
                              (S_ISREG(st.st_mode) && fchown(fd, uid, gid) == -1))) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    close(fd);
    return 0;
}
