/*
 * test_access_log.c - unit tests of the HTTP access log (src/lbd_access_log.c):
 * the exact combined line, JSON lines read back with jansson, escaping of
 * hostile bytes, buffering (whole lines only, none lost), sharing by path,
 * reopening after a rename, truncation of huge fields, lbd_alog_prepare, and
 * the rate-limited report of a failing write.
 *
 * Logs are real files in a fresh directory under /tmp; each test closes
 * every log and empties the directory in its teardown.  TZ is UTC unless a
 * test says otherwise, so that the combined format's local time is known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lbd_access_log.h"
#include "lbd_log.h"

/* 2026-11-21 16:40:00 UTC */
#define T0  1795279200

static char tmpdir[64];

static const char *
tpath(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", tmpdir, name);
    return buf;
}

/* Remove everything in dir (one level of subdirectories). */
static void
empty_dir(const char *dir)
{
    DIR           *d = opendir(dir);
    struct dirent *de;
    char           p[512];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (unlink(p) == -1 && errno == EISDIR) {
            empty_dir(p);
            rmdir(p);
        }
    }
    closedir(d);
}

static int
group_setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lbd-test-alog-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static int
group_teardown(void **state)
{
    empty_dir(tmpdir);
    return rmdir(tmpdir);
}

static int
teardown(void **state)
{
    lbd_alog_close_all();
    empty_dir(tmpdir);
    return 0;
}

/* The whole file, NUL-terminated; *len its size.  The caller frees it. */
static char *
slurp(const char *path, size_t *len)
{
    FILE  *fp = fopen(path, "r");
    char  *buf;
    size_t n = 0, cap = 4096, r;

    if (fp == NULL)
        return NULL;
    buf = malloc(cap);
    assert_non_null(buf);
    while ((r = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(fp);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static unsigned
count_lines(const char *s)
{
    unsigned n = 0;

    for (; (s = strchr(s, '\n')) != NULL; s++)
        n++;
    return n;
}

static void
assert_file_equal(const char *path, const char *want)
{
    char *got = slurp(path, NULL);

    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

#define STR(e, field, s)  ((e).field = (s), (e).field##_len = strlen(s))

static struct lbd_alog_entry
full_entry(void)
{
    struct lbd_alog_entry e = {
        .client = "192.0.2.7",
        .start = { T0, 123456 },
        .version = 11,
        .status = 200,
        .bytes_sent = 612,
        .bytes_received = 78,
        .service = "web",
        .pool = "app",
        .backend = "10.0.0.1:8080",
        .request_us = 1234567,
        .backend_us = 1499,
    };

    STR(e, method, "GET");
    STR(e, target, "/index.html?q=1");
    STR(e, referer, "https://example.com/");
    STR(e, user_agent, "curl/8.4.0");
    return e;
}

/* Write one entry to a fresh log at name, flush, return the file's text. */
static char *
one_line(const char *name, enum lbd_alog_format format, const struct lbd_alog_entry *e)
{
    char             p[256];
    struct lbd_alog *log = lbd_alog_get(tpath(p, name), format);

    assert_non_null(log);
    lbd_alog_write(log, e);
    lbd_alog_flush_all();
    return slurp(p, NULL);
}

/* ---- combined ---- */

static void
combined_full(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                 *got = one_line("c.log", LBD_ALOG_COMBINED, &e);

    assert_string_equal(got,
        "192.0.2.7 - - [21/Nov/2026:16:40:00 +0000] \"GET /index.html?q=1 HTTP/1.1\" "
        "200 612 \"https://example.com/\" \"curl/8.4.0\" 10.0.0.1:8080 1.235 0.001\n");
    free(got);
}

/* Nothing known: every field says "-"; status 0 is "000" as nginx writes it. */
static void
combined_nulls(void **state)
{
    struct lbd_alog_entry e = { .start = { T0 + 1, 0 }, .backend_us = -1 };
    char                  p[256];
    struct lbd_alog      *log = lbd_alog_get(tpath(p, "c.log"), LBD_ALOG_COMBINED);

    assert_non_null(log);
    lbd_alog_write(log, &e);
    e.status = 400;
    e.bytes_sent = 150;
    e.client = "";                      /* empty is no better than NULL */
    e.backend = "";
    STR(e, method, "");
    STR(e, referer, "");                /* empty but present: "" as nginx */
    e.request_us = 499;
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();
    assert_file_equal(p,
        "- - - [21/Nov/2026:16:40:01 +0000] \"-\" 000 0 \"-\" \"-\" - 0.000 -\n"
        "- - - [21/Nov/2026:16:40:01 +0000] \"-\" 400 150 \"\" \"-\" - 0.000 -\n");
}

/* The request field from what was read; strings are taken by length, not NUL. */
static void
combined_request_field(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  p[256];
    struct lbd_alog      *log = lbd_alog_get(tpath(p, "c.log"), LBD_ALOG_COMBINED);

    assert_non_null(log);
    e.method = "POSTED";
    e.method_len = 4;
    e.target = "/a?b=1 trailing";
    e.target_len = 6;
    e.version = 10;
    lbd_alog_write(log, &e);
    e.version = 0;                      /* unreadable version: no protocol */
    lbd_alog_write(log, &e);
    e.target = NULL;
    lbd_alog_write(log, &e);
    e.method = NULL;
    STR(e, target, "/t");
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();

    char *got = slurp(p, NULL);
    const char *want[] = {
        "\"POST /a?b=1 HTTP/1.0\" ", "\"POST /a?b=1\" ", "\"POST -\" ", "\"- /t\" ",
    };
    const char *line = got;

    assert_int_equal(count_lines(got), 4);
    for (unsigned i = 0; i < 4; i++) {
        const char *nl = strchr(line, '\n');
        char       *hit = strstr(line, want[i]);

        assert_non_null(hit);
        assert_true(hit < nl);
        line = nl + 1;
    }
    free(got);
}

/* '"', '\\', control bytes, DEL and bytes >= 0x80 as \xHH, in every field. */
static void
combined_escaping(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                 *got;

    e.client = "::1\x01";
    STR(e, method, "G\"T");
    STR(e, target, "/a\"b\\c\x01\n\x7f\xc3\xa9 d\xff");
    STR(e, referer, "r\t\"");
    STR(e, user_agent, "Mozilla \"x\" \\");
    e.backend = "h\x1b:80";
    got = one_line("c.log", LBD_ALOG_COMBINED, &e);
    assert_string_equal(got,
        "::1\\x01 - - [21/Nov/2026:16:40:00 +0000] "
        "\"G\\x22T /a\\x22b\\x5Cc\\x01\\x0A\\x7F\\xC3\\xA9 d\\xFF HTTP/1.1\" "
        "200 612 \"r\\x09\\x22\" \"Mozilla \\x22x\\x22 \\x5C\" h\\x1B:80 1.235 0.001\n");
    free(got);
}

/* $time_local: the local zone's time and offset. */
static void
combined_time_zone(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  p[256];
    struct lbd_alog      *log = lbd_alog_get(tpath(p, "c.log"), LBD_ALOG_COMBINED);
    char                 *got;

    assert_non_null(log);
    /* Seconds no other test uses: the formatted time is cached per second. */
    setenv("TZ", "<+0530>-5:30", 1);
    tzset();
    e.start.tv_sec = T0 + 100;
    lbd_alog_write(log, &e);
    setenv("TZ", "<-0330>3:30", 1);
    tzset();
    e.start.tv_sec = T0 + 200;
    lbd_alog_write(log, &e);
    setenv("TZ", "UTC", 1);
    tzset();
    lbd_alog_flush_all();

    got = slurp(p, NULL);
    assert_non_null(strstr(got, "[21/Nov/2026:22:11:40 +0530]"));
    assert_non_null(strstr(got, "[21/Nov/2026:13:13:20 -0330]"));
    free(got);
}

/* ---- JSON ---- */

static const char *const json_keys[] = {
    "time", "client", "method", "target", "protocol", "status", "bytes_sent",
    "bytes_received", "referer", "user_agent", "service", "pool", "backend",
    "request_time", "backend_time",
};
#define NKEYS (sizeof(json_keys) / sizeof(json_keys[0]))

/* Parse one line; it must hold exactly json_keys, in that order. */
static json_t *
parse_line(const char *line, size_t len)
{
    json_error_t jerr;
    json_t      *j = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    const char  *at = line;
    char         key[64];

    if (j == NULL)
        fail_msg("not JSON (%s at %d): %.*s", jerr.text, jerr.position, (int) len, line);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), NKEYS);
    for (unsigned i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "\"%s\":", json_keys[i]);
        at = strstr(at, key);
        assert_non_null(at);
        assert_true(at < line + len);
    }
    return j;
}

static void
assert_json_str(json_t *j, const char *key, const char *want, size_t want_len)
{
    json_t *v = json_object_get(j, key);

    assert_non_null(v);
    if (want == NULL) {
        assert_true(json_is_null(v));
        return;
    }
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), want_len);
    assert_memory_equal(json_string_value(v), want, want_len);
}

static void
assert_json_cstr(json_t *j, const char *key, const char *want)
{
    assert_json_str(j, key, want, want != NULL ? strlen(want) : 0);
}

static void
assert_json_int(json_t *j, const char *key, json_int_t want)
{
    json_t *v = json_object_get(j, key);

    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), want);
}

static void
assert_json_secs(json_t *j, const char *key, double want)
{
    json_t *v = json_object_get(j, key);

    assert_true(json_is_number(v));
    assert_true(json_number_value(v) > want - 1e-9 && json_number_value(v) < want + 1e-9);
}

static void
json_full(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                 *got = one_line("j.log", LBD_ALOG_JSON, &e);
    json_t               *j;

    assert_string_equal(got,
        "{\"time\":\"2026-11-21T16:40:00.123Z\",\"client\":\"192.0.2.7\",\"method\":\"GET\","
        "\"target\":\"/index.html?q=1\",\"protocol\":\"HTTP/1.1\",\"status\":200,"
        "\"bytes_sent\":612,\"bytes_received\":78,\"referer\":\"https://example.com/\","
        "\"user_agent\":\"curl/8.4.0\",\"service\":\"web\",\"pool\":\"app\","
        "\"backend\":\"10.0.0.1:8080\",\"request_time\":1.235,\"backend_time\":0.001}\n");

    j = parse_line(got, strlen(got));
    assert_json_cstr(j, "time", "2026-11-21T16:40:00.123Z");
    assert_json_cstr(j, "client", "192.0.2.7");
    assert_json_cstr(j, "method", "GET");
    assert_json_cstr(j, "target", "/index.html?q=1");
    assert_json_cstr(j, "protocol", "HTTP/1.1");
    assert_json_int(j, "status", 200);
    assert_json_int(j, "bytes_sent", 612);
    assert_json_int(j, "bytes_received", 78);
    assert_json_cstr(j, "referer", "https://example.com/");
    assert_json_cstr(j, "user_agent", "curl/8.4.0");
    assert_json_cstr(j, "service", "web");
    assert_json_cstr(j, "pool", "app");
    assert_json_cstr(j, "backend", "10.0.0.1:8080");
    assert_json_secs(j, "request_time", 1.235);
    assert_json_secs(j, "backend_time", 0.001);
    json_decref(j);
    free(got);
}

static void
json_nulls(void **state)
{
    struct lbd_alog_entry e = { .start = { T0, 999999 }, .status = 400, .backend_us = -1 };
    char                 *got = one_line("j.log", LBD_ALOG_JSON, &e);
    json_t               *j = parse_line(got, strlen(got));

    assert_json_cstr(j, "time", "2026-11-21T16:40:00.999Z");
    assert_json_cstr(j, "client", NULL);
    assert_json_cstr(j, "method", NULL);
    assert_json_cstr(j, "target", NULL);
    assert_json_cstr(j, "protocol", NULL);
    assert_json_int(j, "status", 400);
    assert_json_int(j, "bytes_sent", 0);
    assert_json_int(j, "bytes_received", 0);
    assert_json_cstr(j, "referer", NULL);
    assert_json_cstr(j, "user_agent", NULL);
    assert_json_cstr(j, "service", NULL);
    assert_json_cstr(j, "pool", NULL);
    assert_json_cstr(j, "backend", NULL);
    assert_json_secs(j, "request_time", 0);
    assert_true(json_is_null(json_object_get(j, "backend_time")));
    json_decref(j);
    free(got);
}

/*
 * Input bytes and what a JSON reader must get back: control bytes, quotes
 * and backslashes round-trip; valid UTF-8 round-trips; every byte of an
 * invalid sequence comes back as the code point of its value (U+00XX).
 */
static const struct {
    const char *in, *out;
} hostile[] = {
    { "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
      "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" },
    { "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f",
      "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f" },
    { "\"},\"x\":\"\\\\/\x7f", "\"},\"x\":\"\\\\/\x7f" },
    { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
    { "\xff", "\xc3\xbf" },                             /* never in UTF-8 */
    { "\xc0\xaf", "\xc3\x80\xc2\xaf" },                 /* overlong '/' */
    { "\x80", "\xc2\x80" },                             /* stray continuation */
    { "\xed\xa0\x80", "\xc3\xad\xc2\xa0\xc2\x80" },     /* a surrogate */
    { "\xf4\x90\x80\x80", "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80" },  /* past U+10FFFF */
    { "\xe2\x82x", "\xc3\xa2\xc2\x82x" },               /* cut short */
};

static void
json_hostile(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  in[512], out[512];
    size_t                nin = 0, nout = 0;
    char                 *got;
    json_t               *j;

    /* A NUL inside a length-counted field too. */
    in[nin++] = 'a';
    in[nin++] = '\0';
    out[nout++] = 'a';
    out[nout++] = '\0';
    for (unsigned i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        memcpy(in + nin, hostile[i].in, strlen(hostile[i].in));
        nin += strlen(hostile[i].in);
        memcpy(out + nout, hostile[i].out, strlen(hostile[i].out));
        nout += strlen(hostile[i].out);
    }
    e.method = e.target = e.referer = e.user_agent = in;
    e.method_len = 45;                  /* under its cap: NUL, controls, quotes, DEL */
    e.target_len = e.referer_len = e.user_agent_len = nin;
    e.client = "1.2.3.4\"}\n";
    e.service = "we\"b\\";
    e.pool = "p\x7f\xfe";
    e.backend = "h\r\n:1";

    got = one_line("j.log", LBD_ALOG_JSON, &e);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, "a\\u0000\\u0001"));
    assert_non_null(strstr(got, "\\b\\t\\n\\u000B\\f\\r"));
    assert_non_null(strstr(got, "\\u001F\\\"},\\\"x\\\":\\\"\\\\\\\\/"));
    assert_non_null(strstr(got, "\\u00FF\\u00C0\\u00AF"));

    j = parse_line(got, strlen(got));
    assert_json_str(j, "target", out, nout);
    assert_json_str(j, "referer", out, nout);
    assert_json_str(j, "user_agent", out, nout);
    assert_json_str(j, "method", out, 45);
    assert_json_cstr(j, "client", "1.2.3.4\"}\n");
    assert_json_cstr(j, "service", "we\"b\\");
    assert_json_cstr(j, "pool", "p\x7f\xc3\xbe");
    assert_json_cstr(j, "backend", "h\r\n:1");
    json_decref(j);
    free(got);
}

/* ---- buffering ---- */

/* Nothing reaches the file before a flush; a flush writes whole lines. */
static void
buffered_until_flush(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  p[256];
    struct lbd_alog      *log = lbd_alog_get(tpath(p, "b.log"), LBD_ALOG_COMBINED);
    char                 *got;
    size_t                len;

    assert_non_null(log);
    for (int i = 0; i < 3; i++)
        lbd_alog_write(log, &e);
    assert_int_equal(file_size(p), 0);
    lbd_alog_flush_all();
    got = slurp(p, &len);
    assert_int_equal(count_lines(got), 3);
    assert_int_equal(got[len - 1], '\n');
    free(got);
    lbd_alog_flush_all();               /* nothing left: nothing more */
    assert_int_equal(file_size(p), (off_t) len);
}

/*
 * Far more than 64 KB of lines without a flush: the buffer goes out on its
 * own, whole lines only, and after the last flush every line is there once,
 * in order.
 */
static void
many_lines_whole(void **state)
{
    enum { N = 500 };
    struct lbd_alog_entry e = full_entry();
    char                  p[256], target[1200];
    struct lbd_alog      *log = lbd_alog_get(tpath(p, "m.log"), LBD_ALOG_JSON);
    char                 *got, *line;
    size_t                len;

    assert_non_null(log);
    memset(target, 'x', sizeof(target));
    for (int i = 0; i < N; i++) {
        int n = snprintf(target, sizeof(target), "/req/%06d/", i);

        target[n] = 'x';                /* the padding goes on after the number */
        e.target = target;
        e.target_len = 100 + (size_t) (i * 7) % 1000;   /* lines of varied length */
        lbd_alog_write(log, &e);
        if (i == N / 2) {
            /* Written on its own by now (~300 KB), and only whole lines. */
            got = slurp(p, &len);
            assert_true(len > 65536);
            assert_int_equal(got[len - 1], '\n');
            free(got);
        }
    }
    lbd_alog_flush_all();

    got = slurp(p, &len);
    assert_int_equal(count_lines(got), N);
    line = got;
    for (int i = 0; i < N; i++) {
        char   *nl = strchr(line, '\n');
        json_t *j = parse_line(line, (size_t) (nl - line));
        char    want[32];

        snprintf(want, sizeof(want), "/req/%06d/", i);
        assert_memory_equal(json_string_value(json_object_get(j, "target")), want, strlen(want));
        assert_int_equal(json_string_length(json_object_get(j, "target")),
                         100 + (size_t) (i * 7) % 1000);
        json_decref(j);
        line = nl + 1;
    }
    free(got);
}

/* Two services on one path share one log (and its buffer); the first format wins. */
static void
same_path_shares(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  p[256], q[256];
    struct lbd_alog      *a = lbd_alog_get(tpath(p, "s.log"), LBD_ALOG_COMBINED);
    struct lbd_alog      *b = lbd_alog_get(p, LBD_ALOG_COMBINED);
    struct lbd_alog      *c = lbd_alog_get(p, LBD_ALOG_JSON);
    struct lbd_alog      *d = lbd_alog_get(tpath(q, "other.log"), LBD_ALOG_COMBINED);
    char                 *got;

    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_non_null(d);
    assert_ptr_not_equal(a, d);
    lbd_alog_write(a, &e);
    lbd_alog_write(c, &e);
    lbd_alog_flush_all();
    got = slurp(p, NULL);
    assert_int_equal(count_lines(got), 2);
    assert_null(strchr(got, '{'));
    free(got);
    assert_int_equal(file_size(q), 0);
}

static void
get_errors(void **state)
{
    char p[256];

    errno = 0;
    assert_null(lbd_alog_get(tpath(p, "no/such/dir/a.log"), LBD_ALOG_COMBINED));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_null(lbd_alog_get(tpath(p, "a.log"), (enum lbd_alog_format) 7));
    assert_int_equal(errno, EINVAL);
    lbd_alog_write(NULL, NULL);         /* no log: nothing, no crash */
}

/* ---- rotation ---- */

/* logrotate renames the file, USR1: lines before go to the old file, after to the new. */
static void
reopen_after_rename(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  p[256], rotated[256];
    struct lbd_alog      *log = lbd_alog_get(tpath(p, "r.log"), LBD_ALOG_COMBINED);
    char                 *got;

    assert_non_null(log);
    STR(e, target, "/before");
    lbd_alog_write(log, &e);
    assert_int_equal(rename(p, tpath(rotated, "r.log.1")), 0);
    assert_int_equal(lbd_alog_reopen_all(), 0);
    STR(e, target, "/after");
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();

    got = slurp(rotated, NULL);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, "/before"));
    free(got);
    got = slurp(p, NULL);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, "/after"));
    free(got);
}

/* A path that cannot be opened again keeps the old descriptor; -1 and a message. */
static void
reopen_failure_keeps_old(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  dir[256], p[256], errlog[256];
    struct lbd_alog      *log;
    char                 *got;

    assert_int_equal(mkdir(tpath(dir, "sub"), 0755), 0);
    log = lbd_alog_get(tpath(p, "sub/r.log"), LBD_ALOG_COMBINED);
    assert_non_null(log);
    assert_int_equal(lbd_log_open(tpath(errlog, "error.log"), LBD_LOG_NOTICE), 0);

    assert_int_equal(unlink(p), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(lbd_alog_reopen_all(), -1);
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();               /* to the unlinked file: no error */

    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(lbd_alog_reopen_all(), 0);
    STR(e, target, "/back");
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();
    assert_int_equal(lbd_log_open("stderr", LBD_LOG_NOTICE), 0);

    got = slurp(p, NULL);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, "/back"));
    free(got);
    got = slurp(errlog, NULL);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, "reopening the access log \""));
    assert_non_null(strstr(got, "sub/r.log\" failed, keeping the old file: "
                                "No such file or directory"));
    free(got);
}

/* ---- truncation ---- */

/* A huge target keeps its first 4096 bytes and "..."; the line still fits. */
static void
huge_target_truncated(void **state)
{
    enum { HUGE = 200000 };
    struct lbd_alog_entry e = full_entry();
    char                 *target = malloc(HUGE), *want, *got;
    json_t               *j;

    assert_non_null(target);
    memset(target, 'a', HUGE);
    target[0] = '/';
    e.target = target;
    e.target_len = HUGE;

    want = malloc(8192);
    assert_non_null(want);
    got = one_line("c.log", LBD_ALOG_COMBINED, &e);
    snprintf(want, 8192, "192.0.2.7 - - [21/Nov/2026:16:40:00 +0000] \"GET /%.4095s... HTTP/1.1\" "
             "200 612 \"https://example.com/\" \"curl/8.4.0\" 10.0.0.1:8080 1.235 0.001\n",
             target + 1);
    assert_string_equal(got, want);
    free(got);

    /* JSON, with a two-byte character across the cut: it goes whole. */
    target[4095] = '\xc3';
    target[4096] = '\xa9';
    got = one_line("j.log", LBD_ALOG_JSON, &e);
    j = parse_line(got, strlen(got));
    snprintf(want, 8192, "%.4095s...", target);
    assert_json_cstr(j, "target", want);
    json_decref(j);
    free(got);
    free(want);
    free(target);
}

/*
 * The worst line: every field at and over its cap, every byte escaped in
 * the widest form.  Each line is written whole, several in a row too.
 */
static void
worst_lines_fit(void **state)
{
    enum { HUGE = 100000 };
    struct lbd_alog_entry e = full_entry();
    char                 *junk = malloc(HUGE + 1), *got, *line;
    char                  p[256];
    size_t                len;

    assert_non_null(junk);
    memset(junk, '\x01', HUGE);
    junk[HUGE] = '\0';
    e.client = e.service = e.pool = e.backend = junk;
    e.method = e.target = e.referer = e.user_agent = junk;
    e.method_len = e.target_len = e.referer_len = e.user_agent_len = HUGE;

    for (int f = LBD_ALOG_COMBINED; f <= LBD_ALOG_JSON; f++) {
        struct lbd_alog *log = lbd_alog_get(tpath(p, f == LBD_ALOG_JSON ? "w.json" : "w.log"),
                                            (enum lbd_alog_format) f);

        assert_non_null(log);
        for (int i = 0; i < 5; i++)
            lbd_alog_write(log, &e);
        lbd_alog_flush_all();
        got = slurp(p, &len);
        assert_int_equal(count_lines(got), 5);
        line = got;
        for (int i = 0; i < 5; i++) {
            char *nl = strchr(line, '\n');

            assert_true(nl - line < 65536);
            if (f == LBD_ALOG_JSON)
                json_decref(parse_line(line, (size_t) (nl - line)));
            line = nl + 1;
        }
        free(got);
    }
    free(junk);
}

/* ---- prepare ---- */

static void
prepare_creates(void **state)
{
    char        p[256], fifo[256];
    struct stat st;
    mode_t      old = umask(0);         /* so that the mode is lbd's, all of it */
    uid_t       uid = geteuid() == 0 ? 65534 : geteuid();
    gid_t       gid = geteuid() == 0 ? 65534 : getegid();
    int         fd;

    assert_int_equal(lbd_alog_prepare(tpath(p, "p.log"), (uid_t) -1, (gid_t) -1), 0);
    assert_int_equal(stat(p, &st), 0);
    umask(old);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_size, 0);

    /* An existing file keeps its lines and goes to the workers' user. */
    fd = open(p, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x\n", 2), 2);
    close(fd);
    assert_int_equal(lbd_alog_prepare(p, uid, gid), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 2);
    assert_int_equal(st.st_uid, uid);
    assert_int_equal(st.st_gid, gid);

    errno = 0;
    assert_int_equal(lbd_alog_prepare(tpath(p, "no/such/dir/p.log"), (uid_t) -1, (gid_t) -1), -1);
    assert_int_equal(errno, ENOENT);

    /* Not a regular file: it is only opened, never chowned. */
    assert_int_equal(mkfifo(tpath(fifo, "fifo"), 0600), 0);
    assert_int_equal(lbd_alog_prepare(fifo, uid, gid), 0);      /* no reader: ENXIO */
    fd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(lbd_alog_prepare(fifo, uid, gid), 0);
    close(fd);
    assert_int_equal(stat(fifo, &st), 0);
    assert_int_equal(st.st_uid, geteuid());
}

/* ---- failing writes ---- */

/* A write that fails drops the lines and says so, once per minute at most. */
static void
write_error_rate_limited(void **state)
{
    struct lbd_alog_entry e = full_entry();
    char                  errlog[256];
    struct lbd_alog      *log = lbd_alog_get("/dev/full", LBD_ALOG_COMBINED);
    char                 *got;

    if (log == NULL)
        skip();
    assert_int_equal(lbd_log_open(tpath(errlog, "error.log"), LBD_LOG_NOTICE), 0);
    lbd_alog_write(log, &e);
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();
    lbd_alog_write(log, &e);
    lbd_alog_flush_all();
    lbd_alog_close_all();
    assert_int_equal(lbd_log_open("stderr", LBD_LOG_NOTICE), 0);

    got = slurp(errlog, NULL);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, "access log \"/dev/full\": write() failed, 2 lines dropped"));
    assert_non_null(strstr(got, "No space left on device"));
    free(got);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(combined_full, teardown),
        cmocka_unit_test_teardown(combined_nulls, teardown),
        cmocka_unit_test_teardown(combined_request_field, teardown),
        cmocka_unit_test_teardown(combined_escaping, teardown),
        cmocka_unit_test_teardown(combined_time_zone, teardown),
        cmocka_unit_test_teardown(json_full, teardown),
        cmocka_unit_test_teardown(json_nulls, teardown),
        cmocka_unit_test_teardown(json_hostile, teardown),
        cmocka_unit_test_teardown(buffered_until_flush, teardown),
        cmocka_unit_test_teardown(many_lines_whole, teardown),
        cmocka_unit_test_teardown(same_path_shares, teardown),
        cmocka_unit_test_teardown(get_errors, teardown),
        cmocka_unit_test_teardown(reopen_after_rename, teardown),
        cmocka_unit_test_teardown(reopen_failure_keeps_old, teardown),
        cmocka_unit_test_teardown(huge_target_truncated, teardown),
        cmocka_unit_test_teardown(worst_lines_fit, teardown),
        cmocka_unit_test_teardown(prepare_creates, teardown),
        cmocka_unit_test_teardown(write_error_rate_limited, teardown),
    };

    return cmocka_run_group_tests_name("access_log", tests, group_setup, group_teardown);
}
