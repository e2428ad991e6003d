/*
 * lbd_conf.c - read, check and resolve the configuration file.
 *
 * libconfig does the syntax; everything else is here.  Each group is read
 * against a table of the keys it may hold, so an unknown key is refused at
 * its own line instead of being ignored, and every value is checked where
 * it is read, so the message can name the file, the line and the key.  The
 * result owns a copy of every string: the libconfig tree is destroyed before
 * lbd_conf_load returns.  The parsers of single values (addresses,
 * durations, sizes, levels) are in lbd_conf_value.c.
 *
 * Master only: loading may resolve host names and look up users.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "lbd_access_log.h"
#include "lbd_config.h"
#include "lbd_conf.h"

#define CONF_NAME_MAX       64      /* service and pool names */
#define CONF_MAX_BACKENDS   4096
#define CONF_MAX_ROUTES     4096    /* per service */
#define CONF_MAX_WORKERS    1024
#define CONF_INCLUDE_DEPTH  10      /* libconfig's own limit */
#define CONF_TOKEN_MAX      64      /* cookie and header names */
#define CONF_TOKEN_CHARS    "A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~"

/* Where the walk is, so that any check can say so in its message. */
struct conf_ctx {
    const char      *path;      /* the file given to lbd_conf_load */
    char            *err;
    size_t           errlen;
    struct lbd_conf *conf;

    const char      *where;     /* "service \"web\"", NULL at top level */
    const char      *prefix;    /* "timeouts." inside a top-level group */
    char             key[128];  /* scratch for the quoted key name */

    struct lbd_pool_conf   *pool;        /* the pool whose backends are read */
    const char             *pool_where;  /* and its "pool \"name\"" */
    const config_setting_t *services;    /* to find "pool" keys again */
    int                     have_group;  /* "group" given: keep its gid */
    const config_setting_t *bulk;        /* proxy_bulk_buffer_size, if given */
    gid_t                   user_gid;    /* primary group of "user" */
};

/* One key a group may hold.  set() checks the value and stores it in obj. */
struct conf_key {
    const char *name;
    int         required;
    int       (*set)(struct conf_ctx *cx, const config_setting_t *s, void *obj);
};


/* --- messages --- */

/*
 * Write "FILE:LINE: " (just "FILE: " for the root, which has no line), then
 * "WHERE: " when inside a service, pool or backend and with_where is set,
 * then the message.  Always returns -1 so that callers can return it.
 */
static int
conf_verror(struct conf_ctx *cx, const config_setting_t *s, int with_where,
            const char *fmt, va_list ap)
{
    const char *file = config_setting_source_file(s);
    unsigned    line = config_setting_source_line(s);
    size_t      n;
    int         rc;

    if (file == NULL)
        file = cx->path;
    if (line > 0)
        rc = snprintf(cx->err, cx->errlen, "%s:%u: ", file, line);
    else
        rc = snprintf(cx->err, cx->errlen, "%s: ", file);
    n = rc < 0 ? 0 : (size_t) rc;
    if (with_where && cx->where != NULL && n < cx->errlen) {
        rc = snprintf(cx->err + n, cx->errlen - n, "%s: ", cx->where);
        n += rc < 0 ? 0 : (size_t) rc;
    }
    if (n < cx->errlen)
        vsnprintf(cx->err + n, cx->errlen - n, fmt, ap);
    return -1;
}

/* An error about the value of s, prefixed with where the walk is. */
static int __attribute__((format(printf, 3, 4)))
conf_error(struct conf_ctx *cx, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_verror(cx, s, 1, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error that places itself ("... in service \"web\""). */
static int __attribute__((format(printf, 3, 4)))
conf_error_bare(struct conf_ctx *cx, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_verror(cx, s, 0, fmt, ap);
    va_end(ap);
    return -1;
}

static int
conf_nomem(struct conf_ctx *cx, const config_setting_t *s)
{
    return conf_error_bare(cx, s, "out of memory");
}

/* The key of s as the operator would write it in full: "timeouts.idle". */
static const char *
conf_key(struct conf_ctx *cx, const config_setting_t *s)
{
    const char *name = config_setting_name(s);

    snprintf(cx->key, sizeof(cx->key), "%s%s", cx->prefix, name ? name : "?");
    return cx->key;
}

/* What s is, for "must be X, not Y". */
static const char *
conf_type(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:  return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:  return "an integer";
    case CONFIG_TYPE_FLOAT:  return "a decimal number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL:   return "a boolean";
    case CONFIG_TYPE_ARRAY:  return "an array";
    case CONFIG_TYPE_LIST:   return "a list";
    default:                 return "of no known type";
    }
}


/* --- typed values --- */

static int
is_int(const config_setting_t *s)
{
    return config_setting_type(s) == CONFIG_TYPE_INT
           || config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* An integer from min to max. */
static int
conf_int(struct conf_ctx *cx, const config_setting_t *s, int min, int max, int *out)
{
    long long v;

    if (!is_int(s))
        return conf_error(cx, s, "\"%s\" must be a number from %d to %d, not %s",
                          conf_key(cx, s), min, max, conf_type(s));
    v = config_setting_get_int64(s);
    if (v < min || v > max)
        return conf_error(cx, s, "\"%s\" must be a number from %d to %d, not %lld",
                          conf_key(cx, s), min, max, v);
    *out = (int) v;
    return 0;
}

/* A non-empty string; *out points into libconfig, copy it to keep it. */
static int
conf_string(struct conf_ctx *cx, const config_setting_t *s, const char **out)
{
    const char *v;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_error(cx, s, "\"%s\" must be a string, not %s",
                          conf_key(cx, s), conf_type(s));
    v = config_setting_get_string(s);
    if (v == NULL || v[0] == '\0')
        return conf_error(cx, s, "\"%s\" must not be empty", conf_key(cx, s));
    *out = v;
    return 0;
}

/* A copy of the string value of s in *dst, replacing what was there. */
static int
conf_strdup(struct conf_ctx *cx, const config_setting_t *s, char **dst)
{
    const char *v;
    char       *copy;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    copy = strdup(v);
    if (copy == NULL)
        return conf_nomem(cx, s);
    free(*dst);
    *dst = copy;
    return 0;
}

/* A duration string such as "5s".  A bare number is refused: 5 what? */
static int
conf_duration(struct conf_ctx *cx, const config_setting_t *s, int *ms)
{
    const char *v;

    if (is_int(s))
        return conf_error(cx, s, "\"%s\" needs a unit: write \"%llds\" or \"%lldms\" "
                          "(use ms, s, m or h)", conf_key(cx, s),
                          config_setting_get_int64(s), config_setting_get_int64(s));
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_error(cx, s, "\"%s\" must be a duration such as \"5s\", not %s",
                          conf_key(cx, s), conf_type(s));
    v = config_setting_get_string(s);
    if (lbd_duration_parse(v, ms) == -1)
        return conf_error(cx, s, "\"%s\": \"%s\" is not a duration "
                          "(use ms, s, m or h, e.g. \"5s\")", conf_key(cx, s), v);
    return 0;
}

/* A duration, or zero (0, "0", "0s"...) where zero means off. */
static int
conf_duration_or_off(struct conf_ctx *cx, const config_setting_t *s, int *ms)
{
    static const char *const units[] = { "", "ms", "s", "m", "h" };
    const char              *v;
    size_t                   zeros;

    if (is_int(s) && config_setting_get_int64(s) == 0) {
        *ms = 0;
        return 0;
    }
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        v = config_setting_get_string(s);
        zeros = strspn(v, "0");
        for (size_t i = 0; zeros > 0 && i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(v + zeros, units[i]) == 0) {
                *ms = 0;
                return 0;
            }
    }
    return conf_duration(cx, s, ms);
}

static int
conf_bool(struct conf_ctx *cx, const config_setting_t *s, int *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return conf_error(cx, s, "\"%s\" must be true or false, not %s",
                          conf_key(cx, s), conf_type(s));
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/* n as the operator would write it: "16m", "8k", or bytes. */
static const char *
size_text(size_t n, char *buf, size_t len)
{
    if (n > 0 && n % (1024 * 1024) == 0)
        snprintf(buf, len, "%zum", n / (1024 * 1024));
    else if (n > 0 && n % 1024 == 0)
        snprintf(buf, len, "%zuk", n / 1024);
    else
        snprintf(buf, len, "%zu", n);
    return buf;
}

/* A size from min to max bytes: a number of bytes, or a string such as "16k". */
static int
conf_size(struct conf_ctx *cx, const config_setting_t *s, size_t min, size_t max,
          size_t *out)
{
    const char *v;
    size_t      size;
    char        shown[64], lo[32], hi[32];

    if (is_int(s)) {
        long long n = config_setting_get_int64(s);

        snprintf(shown, sizeof(shown), "%lld", n);
        size = n < 0 ? 0 : (size_t) n;
    } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        v = config_setting_get_string(s);
        if (lbd_size_parse(v, &size) == -1)
            return conf_error(cx, s, "\"%s\": \"%s\" is not a size "
                              "(bytes, or a k or m suffix, e.g. \"16k\")", conf_key(cx, s), v);
        snprintf(shown, sizeof(shown), "\"%.50s\"", v);
    } else {
        return conf_error(cx, s, "\"%s\" must be a size such as \"16k\" or a number "
                          "of bytes, not %s", conf_key(cx, s), conf_type(s));
    }
    if (size < min || size > max)
        return conf_error(cx, s, "\"%s\" must be from %s to %s, not %s", conf_key(cx, s),
                          size_text(min, lo, sizeof(lo)), size_text(max, hi, sizeof(hi)),
                          shown);
    *out = size;
    return 0;
}

/* s must be a group. */
static int
conf_group(struct conf_ctx *cx, const config_setting_t *s)
{
    if (!config_setting_is_group(s))
        return conf_error(cx, s, "\"%s\" must be a group: %s = { ... }, not %s",
                          conf_key(cx, s), conf_key(cx, s), conf_type(s));
    return 0;
}

/*
 * s must be a list of groups, of at least min and at most max entries;
 * what names one entry ("service").  The count goes to *n.
 */
static int
conf_list(struct conf_ctx *cx, const config_setting_t *s, const char *what,
          unsigned min, unsigned max, unsigned *n)
{
    int len;

    if (!config_setting_is_list(s))
        return conf_error(cx, s, "\"%s\" must be a list of groups: "
                          "%s = ( { ... }, { ... } ), not %s",
                          conf_key(cx, s), conf_key(cx, s), conf_type(s));
    len = config_setting_length(s);
    if (len == 0 && min > 0)
        return conf_error(cx, s, "\"%s\" must hold at least one %s",
                          conf_key(cx, s), what);
    if ((unsigned) len > max)
        return conf_error(cx, s, "\"%s\" holds %d entries, at most %u are allowed",
                          conf_key(cx, s), len, max);
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);

        if (!config_setting_is_group(e))
            return conf_error(cx, e, "each entry of \"%s\" must be a group "
                              "{ ... }, not %s", conf_key(cx, s), conf_type(e));
    }
    *n = (unsigned) len;
    return 0;
}

/* Names of services and pools end up in logs and on the control socket. */
static int
name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > CONF_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char) name[i]) && strchr("_.-", name[i]) == NULL)
            return 0;
    return 1;
}

static int
conf_name(struct conf_ctx *cx, const config_setting_t *s, char **dst)
{
    const char *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (!name_ok(v))
        return conf_error(cx, s, "\"%s\" must be 1 to %d characters from "
                          "A-Z a-z 0-9 _ . -", conf_key(cx, s), CONF_NAME_MAX);
    return conf_strdup(cx, s, dst);
}

/*
 * A header or cookie name: an RFC 9110 token (RFC 6265's cookie-name is
 * one too), of at most CONF_TOKEN_MAX characters.  It goes into headers lbd
 * writes and is compared with what clients send, so nothing else is taken.
 */
static int
token_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > CONF_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char) name[i]) && strchr("!#$%&'*+-.^_`|~", name[i]) == NULL)
            return 0;
    return 1;
}

/*
 * A route's host: "example.com", or "*.example.com" for any subdomain;
 * labels of letters, digits and '-' (1 to 63 each), 253 characters in all.
 * The engine compares it with the Host header lowercased and without its
 * port, so a port, a path or an IPv6 literal here could never match.
 */
static int
host_ok(const char *host)
{
    const char *p = strncmp(host, "*.", 2) == 0 ? host + 2 : host;
    size_t      label = 0;

    if (strlen(p) > 253)
        return 0;
    for (;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63)
                return 0;
            if (*p == '\0')
                return 1;
            label = 0;
        } else if (isalnum((unsigned char) *p) || *p == '-') {
            label++;
        } else {
            return 0;
        }
    }
}

static int
addr_equal(const struct lbd_addr *a, const struct lbd_addr *b)
{
    const struct sockaddr_in  *a4 = (const void *) &a->ss, *b4 = (const void *) &b->ss;
    const struct sockaddr_in6 *a6 = (const void *) &a->ss, *b6 = (const void *) &b->ss;

    if (a->ss.ss_family != b->ss.ss_family)
        return 0;
    if (a->ss.ss_family == AF_INET)
        return a4->sin_port == b4->sin_port
               && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
    if (a->ss.ss_family == AF_INET6)
        return a6->sin6_port == b6->sin6_port
               && a6->sin6_scope_id == b6->sin6_scope_id
               && memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}


/* --- walking a group --- */

static const struct conf_key *
find_key(const struct conf_key *keys, const char *name)
{
    for (; keys->name != NULL; keys++)
        if (name != NULL && strcmp(keys->name, name) == 0)
            return keys;
    return NULL;
}

/*
 * Read every member of group through keys, in file order, so that the first
 * error reported is the first in the file; then report a missing required
 * key at the group's line.
 */
static int
conf_walk(struct conf_ctx *cx, const config_setting_t *group,
          const struct conf_key *keys, void *obj)
{
    const struct conf_key *k;
    const char            *in = cx->where ? " in " : "";
    const char            *where = cx->where ? cx->where : "";

    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, i);

        k = find_key(keys, config_setting_name(s));
        if (k == NULL)
            return conf_error_bare(cx, s, "unknown key \"%s\"%s%s",
                                   conf_key(cx, s), in, where);
        if (k->set(cx, s, obj) == -1)
            return -1;
    }
    for (k = keys; k->name != NULL; k++)
        if (k->required && config_setting_get_member(group, k->name) == NULL)
            return conf_error_bare(cx, group, "missing required key \"%s%s\"%s%s",
                                   cx->prefix, k->name, in, where);
    return 0;
}

/* Walk a top-level group such as error_log, naming its keys "error_log.x". */
static int
conf_walk_nested(struct conf_ctx *cx, const config_setting_t *s,
                 const struct conf_key *keys, void *obj)
{
    char        prefix[64];
    const char *saved = cx->prefix;
    int         rc;

    if (conf_group(cx, s) == -1)
        return -1;
    snprintf(prefix, sizeof(prefix), "%s.", config_setting_name(s));
    cx->prefix = prefix;
    rc = conf_walk(cx, s, keys, obj);
    cx->prefix = saved;
    return rc;
}

/*
 * Set cx->where to "what \"NAME\"" from the member key of group when it is
 * a string, else "what #N"; buf holds the text.  Returns the previous where.
 */
static const char *
conf_enter(struct conf_ctx *cx, const config_setting_t *group, const char *key,
           const char *what, int index, char *buf, size_t len)
{
    const config_setting_t *m = config_setting_get_member(group, key);
    const char             *saved = cx->where;

    if (m != NULL && config_setting_type(m) == CONFIG_TYPE_STRING)
        snprintf(buf, len, "%s \"%s\"", what, config_setting_get_string(m));
    else
        snprintf(buf, len, "%s #%d", what, index + 1);
    cx->where = buf;
    return saved;
}


/* --- backends --- */

static int
backend_address(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_backend_conf *b = obj;
    struct lbd_pool_conf    *pool = cx->pool;
    const char              *v;
    char                     msg[256];

    if (conf_string(cx, s, &v) == -1)
        return -1;
    /* The message starts with the quoted address: "backend \"x\": ..." */
    if (lbd_addr_parse(v, &b->addr, msg, sizeof(msg)) == -1)
        return conf_error_bare(cx, s, "backend %s", msg);
    for (struct lbd_backend_conf *o = pool->backends; o < b; o++)
        if (addr_equal(&o->addr, &b->addr))
            return conf_error_bare(cx, s, "duplicate backend \"%s\" in %s "
                                   "(same address as line %d)", v, cx->pool_where, o->line);
    return 0;
}

static int
backend_weight(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_backend_conf *b = obj;

    return conf_int(cx, s, 1, 1000, &b->weight);
}

static const struct conf_key backend_keys[] = {
    { "address", 1, backend_address },
    { "weight",  0, backend_weight },
    { NULL, 0, NULL }
};

static int
backend_read(struct conf_ctx *cx, const config_setting_t *g, int i,
             struct lbd_backend_conf *b)
{
    char        where[128];
    const char *saved = conf_enter(cx, g, "address", "backend", i, where, sizeof(where));
    int         rc;

    b->weight = 1;
    b->line = config_setting_source_line(g);
    rc = conf_walk(cx, g, backend_keys, b);
    cx->where = saved;
    return rc;
}


/* --- pools --- */

static int
pool_name(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;

    if (conf_name(cx, s, &p->name) == -1)
        return -1;
    for (struct lbd_pool_conf *o = cx->conf->pools; o < p; o++)
        if (strcmp(o->name, p->name) == 0)
            return conf_error_bare(cx, s, "duplicate pool name \"%s\" "
                                   "(first at line %d)", p->name, o->line);
    return 0;
}

static int
pool_strategy(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;

    if (conf_strdup(cx, s, &p->strategy) == -1)
        return -1;
    /* Only registered strategies: the core never switches on names. */
    if (lbd_strategy_find(p->strategy) == NULL)
        return conf_error(cx, s, "unknown strategy \"%s\"", p->strategy);
    return 0;
}

static int
pool_backends(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;
    unsigned              n;

    if (conf_list(cx, s, "backend", 0, CONF_MAX_BACKENDS, &n) == -1)
        return -1;
    p->backends = calloc(n ? n : 1, sizeof(*p->backends));
    if (p->backends == NULL)
        return conf_nomem(cx, s);
    p->nbackends = n;
    cx->pool = p;
    for (unsigned i = 0; i < n; i++)
        if (backend_read(cx, config_setting_get_elem(s, i), (int) i, &p->backends[i]) == -1)
            return -1;
    return 0;
}

/* --- a pool's health checks, passive detection, slow start, backup --- */

static int
check_type(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_check_conf *c = obj;
    const char            *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (strcmp(v, "tcp") == 0)
        c->type = LBD_CHECK_TCP;
    else if (strcmp(v, "http") == 0)
        c->type = LBD_CHECK_HTTP;
    else
        return conf_error(cx, s, "\"%s\" must be \"tcp\" or \"http\", not \"%s\"",
                          conf_key(cx, s), v);
    return 0;
}

static int
check_interval(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_check_conf *) obj)->interval);
}

static int
check_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_check_conf *) obj)->timeout);
}

static int
check_rise(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_int(cx, s, 1, 100, &((struct lbd_check_conf *) obj)->rise);
}

static int
check_fall(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_int(cx, s, 1, 100, &((struct lbd_check_conf *) obj)->fall);
}

static int
check_method(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_check_conf *c = obj;
    const char            *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (v[0] == '\0' || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(v) || strlen(v) > 16)
        return conf_error(cx, s, "\"%s\" must be an HTTP method in capitals, e.g. \"GET\"",
                          conf_key(cx, s));
    free(c->method);
    c->method = NULL;
    return conf_strdup(cx, s, &c->method);
}

/* Text that goes into a request line or header: printable, no spaces where it matters. */
static int
check_text(struct conf_ctx *cx, const config_setting_t *s, char **dst, int path)
{
    const char *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    for (const char *p = v; *p; p++)
        if ((unsigned char) *p <= ' ' || *p == 0x7f)
            return conf_error(cx, s, "\"%s\" must not hold spaces or control characters",
                              conf_key(cx, s));
    if (v[0] == '\0' || (path && v[0] != '/'))
        return conf_error(cx, s, path ? "\"%s\" must start with \"/\""
                                      : "\"%s\" must not be empty", conf_key(cx, s));
    free(*dst);
    *dst = NULL;
    return conf_strdup(cx, s, dst);
}

static int
check_path(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return check_text(cx, s, &((struct lbd_check_conf *) obj)->path, 1);
}

static int
check_host(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return check_text(cx, s, &((struct lbd_check_conf *) obj)->host, 0);
}

static int
check_status(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_check_conf *c = obj;
    const char            *v;
    int                    lo, hi, n = 0;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (sscanf(v, "%3d-%3d%n", &lo, &hi, &n) == 2 && v[n] == '\0') {
        /* a range */
    } else if (sscanf(v, "%3d%n", &lo, &n) == 1 && v[n] == '\0') {
        hi = lo;
    } else {
        lo = hi = 0;
    }
    if (lo < 100 || hi > 599 || lo > hi)
        return conf_error(cx, s, "\"%s\" must be a status or a range such as \"200-399\"",
                          conf_key(cx, s));
    c->status_min = lo;
    c->status_max = hi;
    return 0;
}

static int
check_body(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_check_conf *c = obj;

    free(c->body);
    c->body = NULL;
    return conf_strdup(cx, s, &c->body);
}

static const struct conf_key check_keys[] = {
    { "type",     1, check_type },
    { "interval", 0, check_interval },
    { "timeout",  0, check_timeout },
    { "rise",     0, check_rise },
    { "fall",     0, check_fall },
    { "method",   0, check_method },
    { "path",     0, check_path },
    { "host",     0, check_host },
    { "status",   0, check_status },
    { "body",     0, check_body },
    { NULL, 0, NULL }
};

static int
pool_health_check(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;

    if (conf_walk_nested(cx, s, check_keys, &p->check) == -1)
        return -1;
    if (p->check.timeout >= p->check.interval)
        return conf_error(cx, s, "\"health_check.timeout\" (%d ms) must be shorter than "
                          "\"health_check.interval\" (%d ms)", p->check.timeout,
                          p->check.interval);
    if (p->check.type == LBD_CHECK_TCP && (p->check.path || p->check.host || p->check.body))
        return conf_error(cx, s, "path, host and body apply to type \"http\" only");
    return 0;
}

static int
passive_failures(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_int(cx, s, 0, 1000, &((struct lbd_passive_conf *) obj)->failures);
}

static int
passive_ejection(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_passive_conf *) obj)->ejection);
}

static int
passive_max_ejection(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_passive_conf *) obj)->max_ejection);
}

static const struct conf_key passive_keys[] = {
    { "failures",     0, passive_failures },
    { "ejection",     0, passive_ejection },
    { "max_ejection", 0, passive_max_ejection },
    { NULL, 0, NULL }
};

static int
pool_passive(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;

    if (conf_walk_nested(cx, s, passive_keys, &p->passive) == -1)
        return -1;
    if (p->passive.max_ejection < p->passive.ejection)
        return conf_error(cx, s, "\"passive.max_ejection\" must not be shorter than "
                          "\"passive.ejection\"");
    return 0;
}

static int
pool_slow_start(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_pool_conf *) obj)->slow_start);
}

static int
pool_retries(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_int(cx, s, 0, 100, &((struct lbd_pool_conf *) obj)->retries);
}

static int
pool_backup(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_name(cx, s, &((struct lbd_pool_conf *) obj)->backup);
}

/* --- a pool's settings for HTTP services (TCP services ignore them) --- */

static int
pool_keepalive(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_int(cx, s, 0, 10000, &((struct lbd_pool_conf *) obj)->keepalive);
}

static int
pool_keepalive_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_pool_conf *) obj)->keepalive_timeout);
}

static int
pool_sticky_cookie(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;
    const char           *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (!token_ok(v))
        return conf_error(cx, s, "\"%s\" must be a cookie name: 1 to %d characters "
                          "from %s", conf_key(cx, s), CONF_TOKEN_MAX, CONF_TOKEN_CHARS);
    return conf_strdup(cx, s, &p->sticky_cookie);
}

/* "ip", "header:NAME" or "cookie:NAME". */
static int
pool_hash_key(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_pool_conf *p = obj;
    const char           *v, *name, *what;
    enum lbd_hash_key     key;
    char                 *copy = NULL;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (strcmp(v, "ip") == 0) {
        key = LBD_HASH_KEY_IP;
        name = NULL;
        what = NULL;
    } else if (strncmp(v, "header:", 7) == 0) {
        key = LBD_HASH_KEY_HEADER;
        name = v + 7;
        what = "header";
    } else if (strncmp(v, "cookie:", 7) == 0) {
        key = LBD_HASH_KEY_COOKIE;
        name = v + 7;
        what = "cookie";
    } else {
        return conf_error(cx, s, "\"%s\" must be \"ip\", \"header:NAME\" or "
                          "\"cookie:NAME\", not \"%s\"", conf_key(cx, s), v);
    }
    if (name != NULL && !token_ok(name))
        return conf_error(cx, s, "\"%s\": \"%s\" is not a %s name (1 to %d characters "
                          "from %s)", conf_key(cx, s), name, what, CONF_TOKEN_MAX,
                          CONF_TOKEN_CHARS);
    if (name != NULL && (copy = strdup(name)) == NULL)
        return conf_nomem(cx, s);
    free(p->hash_key_name);
    p->hash_key_name = copy;
    p->hash_key = key;
    return 0;
}

static const struct conf_key pool_keys[] = {
    { "name",     1, pool_name },
    { "strategy", 0, pool_strategy },
    { "health_check", 0, pool_health_check },
    { "passive",  0, pool_passive },
    { "slow_start", 0, pool_slow_start },
    { "retries",  0, pool_retries },
    { "backup",   0, pool_backup },
    { "keepalive", 0, pool_keepalive },
    { "keepalive_timeout", 0, pool_keepalive_timeout },
    { "sticky_cookie", 0, pool_sticky_cookie },
    { "hash_key", 0, pool_hash_key },
    { "backends", 0, pool_backends },   /* none: the API adds them */
    { NULL, 0, NULL }
};

static int
pool_read(struct conf_ctx *cx, const config_setting_t *g, int i, struct lbd_pool_conf *p)
{
    char        where[CONF_NAME_MAX + 32];
    const char *saved = conf_enter(cx, g, "name", "pool", i, where, sizeof(where));
    int         rc;

    p->line = config_setting_source_line(g);
    p->check.interval = 2000;
    p->check.timeout = 1000;
    p->check.rise = 2;
    p->check.fall = 3;
    p->check.status_min = 200;
    p->check.status_max = 399;
    p->passive.failures = 5;
    p->passive.ejection = 10000;
    p->passive.max_ejection = 300000;
    p->retries = 3;
    p->backup_index = -1;
    p->keepalive = 1024;
    p->keepalive_timeout = 60000;
    p->hash_key = LBD_HASH_KEY_IP;
    cx->pool_where = where;
    rc = conf_walk(cx, g, pool_keys, p);
    if (rc == 0 && p->check.type == LBD_CHECK_HTTP) {
        if (p->check.method == NULL)
            p->check.method = strdup("GET");
        if (p->check.path == NULL)
            p->check.path = strdup("/");
        if (p->check.method == NULL || p->check.path == NULL)
            rc = conf_nomem(cx, g);
    }
    if (rc == 0 && p->strategy == NULL) {
        p->strategy = strdup("round_robin");
        if (p->strategy == NULL)
            rc = conf_nomem(cx, g);
        else if (lbd_strategy_find(p->strategy) == NULL)
            rc = conf_error(cx, g, "the default strategy \"round_robin\" is not "
                            "compiled in");
    }
    cx->where = saved;
    return rc;
}


/* --- services --- */

static int
service_name(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;

    if (conf_name(cx, s, &svc->name) == -1)
        return -1;
    /* The entries before this one are complete: any error stops the walk. */
    for (struct lbd_service_conf *o = cx->conf->services; o < svc; o++)
        if (strcmp(o->name, svc->name) == 0)
            return conf_error_bare(cx, s, "duplicate service name \"%s\" "
                                   "(first at line %d)", svc->name, o->line);
    return 0;
}

static int
service_listen(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;
    const char              *v;
    char                     msg[256];

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (lbd_addr_parse(v, &svc->listen, msg, sizeof(msg)) == -1)
        return conf_error(cx, s, "listen %s", msg);
    /* Only the same address is caught here; 0.0.0.0 against 127.0.0.1 on one
     * port is left to bind(2), which says so at start. */
    for (struct lbd_service_conf *o = cx->conf->services; o < svc; o++)
        if (addr_equal(&o->listen, &svc->listen))
            return conf_error(cx, s, "listen \"%s\" is already used by service "
                              "\"%s\" (line %d)", v, o->name, o->line);
    return 0;
}

static int
service_mode(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;
    const char              *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (strcmp(v, "tcp") == 0) {
        svc->mode = LBD_MODE_TCP;
        return 0;
    }
    if (strcmp(v, "http") == 0) {
        svc->mode = LBD_MODE_HTTP;
        return 0;
    }
    return conf_error(cx, s, "unknown mode \"%s\" (use \"tcp\" or \"http\")", v);
}

/* The name only: pools may come later in the file, so it is resolved after. */
static int
service_pool(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;

    return conf_strdup(cx, s, &svc->pool_name);
}

static int
service_backlog(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;

    return conf_int(cx, s, 1, 65535, &svc->backlog);
}

static int
service_reuseport(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;

    return conf_bool(cx, s, &svc->reuseport);
}

/* 0 until conf_finish: timeouts{} may come later in the file. */
static int
service_connect_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;

    return conf_duration(cx, s, &svc->connect_timeout);
}

static int
service_idle_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;

    return conf_duration(cx, s, &svc->idle_timeout);
}

/* --- an HTTP service's "http" group and "routes" --- */

static const char *const alog_formats[] = {
    [LBD_ALOG_COMBINED] = "combined",
    [LBD_ALOG_JSON]     = "json",
};

/* "http" and "routes" belong to mode "http", which may come later in the group. */
static int
service_is_http(struct conf_ctx *cx, const config_setting_t *s)
{
    const config_setting_t *m = config_setting_get_member(config_setting_parent(s), "mode");

    if (m != NULL && config_setting_type(m) == CONFIG_TYPE_STRING
        && strcmp(config_setting_get_string(m), "http") == 0)
        return 0;
    return conf_error(cx, s, "\"%s\" needs mode \"http\"", conf_key(cx, s));
}

/* At most proxy_buffer_size / 2: checked in conf_finish, the buffer may come later. */
static int
http_max_header_size(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_size(cx, s, 1024, 64 * 1024,
                     &((struct lbd_http_conf *) obj)->max_header_size);
}

static int
http_header_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_http_conf *) obj)->header_timeout);
}

static int
http_keepalive_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration_or_off(cx, s, &((struct lbd_http_conf *) obj)->keepalive_timeout);
}

static int
http_keepalive_requests(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_int(cx, s, 1, 1000000, &((struct lbd_http_conf *) obj)->keepalive_requests);
}

static int
http_response_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_http_conf *) obj)->response_timeout);
}

static int
http_body_timeout(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_http_conf *) obj)->body_timeout);
}

static int
http_forwarded_for(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    int on = 0;

    if (conf_bool(cx, s, &on) == -1)
        return -1;
    ((struct lbd_http_conf *) obj)->forwarded_for = on;
    return 0;
}

static int
http_forwarded_proto(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    int on = 0;

    if (conf_bool(cx, s, &on) == -1)
        return -1;
    ((struct lbd_http_conf *) obj)->forwarded_proto = on;
    return 0;
}

static int
http_real_ip(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    int on = 0;

    if (conf_bool(cx, s, &on) == -1)
        return -1;
    ((struct lbd_http_conf *) obj)->real_ip = on;
    return 0;
}

/*
 * A path as error_log takes one (relative: to where lbd was started), but
 * not "stderr": that means the terminal to error_log and would be a file
 * called stderr here.
 */
static int
http_access_log(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_http_conf *h = obj;
    const char           *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (strcmp(v, "stderr") == 0)
        return conf_error(cx, s, "\"%s\" must be the path of a file (\"stderr\" is for "
                          "error_log only)", conf_key(cx, s));
    return conf_strdup(cx, s, &h->access_log);
}

static int
http_access_log_format(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_http_conf *h = obj;
    const char           *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    for (size_t i = 0; i < sizeof(alog_formats) / sizeof(alog_formats[0]); i++)
        if (strcmp(v, alog_formats[i]) == 0) {
            h->access_log_format = (int) i;
            return 0;
        }
    return conf_error(cx, s, "\"%s\" must be \"combined\" or \"json\", not \"%s\"",
                      conf_key(cx, s), v);
}

static const struct conf_key http_keys[] = {
    { "max_header_size",    0, http_max_header_size },
    { "header_timeout",     0, http_header_timeout },
    { "keepalive_timeout",  0, http_keepalive_timeout },
    { "keepalive_requests", 0, http_keepalive_requests },
    { "response_timeout",   0, http_response_timeout },
    { "body_timeout",       0, http_body_timeout },
    { "forwarded_for",      0, http_forwarded_for },
    { "forwarded_proto",    0, http_forwarded_proto },
    { "real_ip",            0, http_real_ip },
    { "access_log",         0, http_access_log },
    { "access_log_format",  0, http_access_log_format },
    { NULL, 0, NULL }
};

static int
service_http(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;
    const char              *log = NULL;

    if (service_is_http(cx, s) == -1 || conf_walk_nested(cx, s, http_keys, &svc->http) == -1)
        return -1;
    /* One file, one format: lbd_alog_get keeps the format a path was first opened with. */
    log = svc->http.access_log;
    for (struct lbd_service_conf *o = cx->conf->services; log != NULL && o < svc; o++)
        if (o->http.access_log != NULL && strcmp(o->http.access_log, log) == 0
            && o->http.access_log_format != svc->http.access_log_format)
            return conf_error(cx, config_setting_get_member(s, "access_log"),
                              "\"http.access_log\" \"%s\" is written as %s by service "
                              "\"%s\" (line %d), not as %s: one file takes one format", log,
                              alog_formats[o->http.access_log_format], o->name, o->line,
                              alog_formats[svc->http.access_log_format]);
    return 0;
}

static int
route_host(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_route_conf *r = obj;
    const char            *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (!host_ok(v))
        return conf_error(cx, s, "\"%s\": \"%s\" is not a host name (letters, digits, "
                          "\"-\" and \".\", \"*.\" in front for any subdomain; no port)",
                          conf_key(cx, s), v);
    if (conf_strdup(cx, s, &r->host) == -1)
        return -1;
    for (char *p = r->host; *p != '\0'; p++)
        *p = (char) tolower((unsigned char) *p);
    return 0;
}

static int
route_path(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return check_text(cx, s, &((struct lbd_route_conf *) obj)->path, 1);
}

/* The name only, resolved in conf_finish as a service's pool is. */
static int
route_pool(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_strdup(cx, s, &((struct lbd_route_conf *) obj)->pool_name);
}

static const struct conf_key route_keys[] = {
    { "host", 0, route_host },
    { "path", 0, route_path },
    { "pool", 1, route_pool },
    { NULL, 0, NULL }
};

/* Route i of svc, from group g; the routes before it are complete. */
static int
route_read(struct conf_ctx *cx, const config_setting_t *g, int i,
           struct lbd_service_conf *svc)
{
    struct lbd_route_conf *r = &svc->http.routes[i];
    const char            *saved = cx->where;
    char                   where[CONF_NAME_MAX + 64];
    int                    rc;

    snprintf(where, sizeof(where), "route #%d of %s", i + 1, saved);
    r->line = config_setting_source_line(g);
    cx->where = where;
    rc = conf_walk(cx, g, route_keys, r);
    if (rc == 0 && r->host == NULL && r->path == NULL)
        rc = conf_error(cx, g, "give \"host\", \"path\" or both");
    if (rc == 0 && r->path == NULL && (r->path = strdup("/")) == NULL)
        rc = conf_nomem(cx, g);
    for (struct lbd_route_conf *o = svc->http.routes; rc == 0 && o < r; o++)
        if (((o->host == NULL && r->host == NULL)
             || (o->host != NULL && r->host != NULL && strcmp(o->host, r->host) == 0))
            && strcmp(o->path, r->path) == 0)
            rc = conf_error_bare(cx, g, "duplicate route in %s: %s%s%s, path \"%s\" "
                                 "(first at line %d)", saved, r->host ? "host \"" : "any host",
                                 r->host ? r->host : "", r->host ? "\"" : "", r->path, o->line);
    cx->where = saved;
    return rc;
}

static int
service_routes(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_service_conf *svc = obj;
    unsigned                 n;

    if (service_is_http(cx, s) == -1
        || conf_list(cx, s, "route", 0, CONF_MAX_ROUTES, &n) == -1)
        return -1;
    svc->http.routes = calloc(n ? n : 1, sizeof(*svc->http.routes));
    if (svc->http.routes == NULL)
        return conf_nomem(cx, s);
    svc->http.nroutes = n;
    for (unsigned i = 0; i < n; i++)
        if (route_read(cx, config_setting_get_elem(s, i), (int) i, svc) == -1)
            return -1;
    return 0;
}

static const struct conf_key service_keys[] = {
    { "name",            1, service_name },
    { "listen",          1, service_listen },
    { "mode",            0, service_mode },
    { "pool",            1, service_pool },
    { "backlog",         0, service_backlog },
    { "reuseport",       0, service_reuseport },
    { "connect_timeout", 0, service_connect_timeout },
    { "idle_timeout",    0, service_idle_timeout },
    { "http",            0, service_http },
    { "routes",          0, service_routes },
    { NULL, 0, NULL }
};

static int
service_read(struct conf_ctx *cx, const config_setting_t *g, int i,
             struct lbd_service_conf *svc)
{
    char        where[CONF_NAME_MAX + 32];
    const char *saved = conf_enter(cx, g, "name", "service", i, where, sizeof(where));
    int         rc;

    svc->mode = LBD_MODE_TCP;
    svc->backlog = 511;
    svc->http.max_header_size = 8192;
    svc->http.header_timeout = 10000;
    svc->http.keepalive_timeout = 75000;
    svc->http.keepalive_requests = 1000;
    svc->http.response_timeout = 60000;
    svc->http.body_timeout = 60000;
    svc->http.forwarded_for = 1;
    svc->http.forwarded_proto = 1;
    svc->http.real_ip = 1;
    svc->http.access_log_format = LBD_ALOG_COMBINED;
    svc->line = config_setting_source_line(g);
    rc = conf_walk(cx, g, service_keys, svc);
    cx->where = saved;
    return rc;
}


/* --- top level --- */

static int
top_worker_processes(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    long long        v;

    if (config_setting_type(s) == CONFIG_TYPE_STRING
        && strcmp(config_setting_get_string(s), "auto") == 0)
        return 0;   /* the default already is the CPU count */
    if (is_int(s)) {
        v = config_setting_get_int64(s);
        if (v >= 1 && v <= CONF_MAX_WORKERS) {
            conf->worker_processes = (int) v;
            return 0;
        }
    }
    return conf_error(cx, s, "\"worker_processes\" must be a number from 1 to %d "
                      "or \"auto\"", CONF_MAX_WORKERS);
}

static int
top_worker_connections(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    return conf_int(cx, s, 1, 1000000, &conf->worker_connections);
}

static int
top_pid_file(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    return conf_strdup(cx, s, &conf->pid_file);
}

static int
top_user(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    struct passwd   *pw;

    if (conf_strdup(cx, s, &conf->user) == -1)
        return -1;
    errno = 0;
    pw = getpwnam(conf->user);
    if (pw == NULL && errno != 0 && errno != ENOENT && errno != ESRCH
        && errno != EBADF && errno != EPERM)
        return conf_error(cx, s, "\"user\": cannot look up \"%s\": %s",
                          conf->user, strerror(errno));
    if (pw == NULL)
        return conf_error(cx, s, "\"user\": no user \"%s\" on this system", conf->user);
    conf->uid = pw->pw_uid;
    cx->user_gid = pw->pw_gid;
    return 0;
}

static int
top_group(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    struct group    *gr;

    if (conf_strdup(cx, s, &conf->group) == -1)
        return -1;
    errno = 0;
    gr = getgrnam(conf->group);
    if (gr == NULL && errno != 0 && errno != ENOENT && errno != ESRCH
        && errno != EBADF && errno != EPERM)
        return conf_error(cx, s, "\"group\": cannot look up \"%s\": %s",
                          conf->group, strerror(errno));
    if (gr == NULL)
        return conf_error(cx, s, "\"group\": no group \"%s\" on this system",
                          conf->group);
    conf->gid = gr->gr_gid;
    cx->have_group = 1;
    return 0;
}

static int
elog_path(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    conf->error_log_set = 1;
    return conf_strdup(cx, s, &conf->error_log_path);
}

static int
elog_level(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;
    int              level;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    level = lbd_log_level_parse(v);
    if (level == -1)
        return conf_error(cx, s, "\"%s\": unknown level \"%s\" (use debug, info, "
                          "notice, warn, error or crit)", conf_key(cx, s), v);
    conf->error_log_level = (enum lbd_log_level) level;
    return 0;
}

static const struct conf_key error_log_keys[] = {
    { "path",  0, elog_path },
    { "level", 0, elog_level },
    { NULL, 0, NULL }
};

static int
top_error_log(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_walk_nested(cx, s, error_log_keys, obj);
}

static int
timeout_connect(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_conf *) obj)->connect_timeout);
}

static int
timeout_idle(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_conf *) obj)->idle_timeout);
}

static int
timeout_shutdown(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_duration(cx, s, &((struct lbd_conf *) obj)->shutdown_timeout);
}

static const struct conf_key timeout_keys[] = {
    { "connect",  0, timeout_connect },
    { "idle",     0, timeout_idle },
    { "shutdown", 0, timeout_shutdown },
    { NULL, 0, NULL }
};

static int
top_timeouts(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    return conf_walk_nested(cx, s, timeout_keys, obj);
}

static int
top_proxy_buffer_size(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    return conf_size(cx, s, 1024, 16 * 1024 * 1024, &conf->proxy_buffer_size);
}

/* At least proxy_buffer_size: checked in conf_finish, that may come later. */
static int
top_proxy_bulk_buffer_size(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    cx->bulk = s;
    return conf_size(cx, s, 1024, 16 * 1024 * 1024, &conf->proxy_bulk_buffer_size);
}

static int
top_proxy_bulk_buffers(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    return conf_int(cx, s, 0, 65536, &conf->proxy_bulk_buffers);
}

static int
top_services(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    unsigned         n;

    if (conf_list(cx, s, "service", 1, UINT_MAX, &n) == -1)
        return -1;
    conf->services = calloc(n, sizeof(*conf->services));
    if (conf->services == NULL)
        return conf_nomem(cx, s);
    conf->nservices = n;
    cx->services = s;
    for (unsigned i = 0; i < n; i++)
        if (service_read(cx, config_setting_get_elem(s, i), (int) i,
                         &conf->services[i]) == -1)
            return -1;
    return 0;
}

static int
top_pools(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    unsigned         n;

    if (conf_list(cx, s, "pool", 1, UINT_MAX, &n) == -1)
        return -1;
    conf->pools = calloc(n, sizeof(*conf->pools));
    if (conf->pools == NULL)
        return conf_nomem(cx, s);
    conf->npools = n;
    for (unsigned i = 0; i < n; i++)
        if (pool_read(cx, config_setting_get_elem(s, i), (int) i, &conf->pools[i]) == -1)
            return -1;
    return 0;
}

/* --- admin and registry --- */

static int
admin_listen(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;
    char             msg[256];

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (lbd_addr_parse(v, &conf->admin.listen, msg, sizeof(msg)) == -1)
        return conf_error(cx, s, "admin.listen %s", msg);
    return 0;
}

static int
admin_token(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (conf->admin.token != NULL)
        return conf_error(cx, s, "give either \"admin.token\" or \"admin.token_file\", "
                          "not both");
    if (strlen(v) < 16 || strpbrk(v, " \t\r\n") != NULL)
        return conf_error(cx, s, "\"admin.token\" must be at least 16 characters, "
                          "without spaces");
    return conf_strdup(cx, s, &conf->admin.token);
}

static int
admin_token_file(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;
    char             buf[512];
    FILE            *fp;
    size_t           n;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (conf->admin.token != NULL)
        return conf_error(cx, s, "give either \"admin.token\" or \"admin.token_file\", "
                          "not both");
    fp = fopen(v, "r");
    if (fp == NULL)
        return conf_error(cx, s, "\"admin.token_file\": cannot read \"%s\": %s",
                          v, strerror(errno));
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) < 16 || strpbrk(buf, " \t") != NULL)
        return conf_error(cx, s, "\"admin.token_file\": the first line of \"%s\" must "
                          "be a token of at least 16 characters, without spaces", v);
    conf->admin.token = strdup(buf);
    return conf->admin.token ? 0 : conf_nomem(cx, s);
}

static int
admin_socket(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (v[0] != '/' || strlen(v) >= 100)
        return conf_error(cx, s, "\"admin.socket\" must be an absolute path shorter "
                          "than 100 characters");
    return conf_strdup(cx, s, &conf->admin.socket_path);
}

static int
admin_html(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;
    struct stat      st;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (v[0] != '/')
        return conf_error(cx, s, "\"admin.html\" must be an absolute path");
    if (stat(v, &st) == -1)
        return conf_error(cx, s, "\"admin.html\": cannot use \"%s\": %s", v, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return conf_error(cx, s, "\"admin.html\": \"%s\" is not a directory", v);
    free(conf->admin.html);
    conf->admin.html = NULL;
    return conf_strdup(cx, s, &conf->admin.html);
}

static const struct conf_key admin_keys[] = {
    { "listen",     0, admin_listen },
    { "html",       0, admin_html },
    { "token",      0, admin_token },
    { "token_file", 0, admin_token_file },
    { "socket",     0, admin_socket },
    { NULL, 0, NULL }
};

static int
top_admin(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;

    conf->admin.enabled = 1;
    conf->admin.line = config_setting_source_line(s);
    return conf_walk_nested(cx, s, admin_keys, obj);
}

static int
top_registry(struct conf_ctx *cx, const config_setting_t *s, void *obj)
{
    struct lbd_conf *conf = obj;
    const char      *v;

    if (conf_string(cx, s, &v) == -1)
        return -1;
    if (v[0] == '\0')
        return conf_error(cx, s, "\"registry\" must be the path of the SQLite file");
    free(conf->registry_path);
    conf->registry_path = NULL;
    return conf_strdup(cx, s, &conf->registry_path);
}

static const struct conf_key top_keys[] = {
    { "registry",           0, top_registry },
    { "admin",              0, top_admin },
    { "worker_processes",   0, top_worker_processes },
    { "worker_connections", 0, top_worker_connections },
    { "pid_file",           0, top_pid_file },
    { "user",               0, top_user },
    { "group",              0, top_group },
    { "error_log",          0, top_error_log },
    { "timeouts",           0, top_timeouts },
    { "proxy_buffer_size",  0, top_proxy_buffer_size },
    { "proxy_bulk_buffer_size", 0, top_proxy_bulk_buffer_size },
    { "proxy_bulk_buffers", 0, top_proxy_bulk_buffers },
    { "services",           1, top_services },
    { "pools",              1, top_pools },
    { NULL, 0, NULL }
};

/* A conf holding every default, before the file is read. */
static struct lbd_conf *
conf_new(const char *path)
{
    struct lbd_conf *conf = calloc(1, sizeof(*conf));
    long             ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (conf == NULL)
        return NULL;
    conf->worker_processes = ncpu < 1 ? 1 : ncpu > CONF_MAX_WORKERS ? CONF_MAX_WORKERS
                                                                    : (int) ncpu;
    conf->worker_connections = 8192;
    conf->uid = (uid_t) -1;
    conf->gid = (gid_t) -1;
    conf->error_log_level = LBD_LOG_NOTICE;
    conf->connect_timeout = 5000;
    conf->idle_timeout = 600000;
    conf->shutdown_timeout = 30000;
    conf->proxy_buffer_size = 16384;
    conf->proxy_bulk_buffer_size = 65536;
    conf->proxy_bulk_buffers = 256;
    conf->file = strdup(path);
    conf->pid_file = strdup(LBD_PID_PATH);
    conf->error_log_path = strdup(LBD_ERROR_LOG);
    conf->registry_path = strdup(LBD_STATE_DIR "/lbd.db");
    lbd_addr_numeric("127.0.0.1", 8081, &conf->admin.listen);
    if (conf->file == NULL || conf->pid_file == NULL || conf->error_log_path == NULL
        || conf->registry_path == NULL) {
        lbd_conf_free(conf);
        return NULL;
    }
    return conf;
}

/* The index of the pool called name in conf->pools, or conf->npools. */
static unsigned
pool_index(const struct lbd_conf *conf, const char *name)
{
    unsigned p;

    for (p = 0; p < conf->npools; p++)
        if (strcmp(conf->pools[p].name, name) == 0)
            break;
    return p;
}

/*
 * What HTTP service i needs from the rest of the file: the pools its routes
 * name, and a proxy_buffer_size that holds at least two heads of
 * max_header_size (the bound lbd_conf.h gives the engine).
 */
static int
http_finish(struct conf_ctx *cx, unsigned i)
{
    struct lbd_conf         *conf = cx->conf;
    struct lbd_service_conf *svc = &conf->services[i];
    const config_setting_t  *g = config_setting_get_elem(cx->services, i);
    const config_setting_t  *routes = config_setting_get_member(g, "routes");
    const config_setting_t  *http = config_setting_get_member(g, "http");
    const config_setting_t  *max = http ? config_setting_get_member(http, "max_header_size")
                                        : NULL;
    char                     where[CONF_NAME_MAX + 64], size[32], half[32];
    int                      rc = 0;

    for (unsigned j = 0; rc == 0 && j < svc->http.nroutes; j++) {
        struct lbd_route_conf *r = &svc->http.routes[j];

        r->pool = pool_index(conf, r->pool_name);
        if (r->pool == conf->npools) {
            snprintf(where, sizeof(where), "route #%u of service \"%s\"", j + 1, svc->name);
            cx->where = where;
            rc = conf_error(cx, config_setting_get_member(config_setting_get_elem(routes, j),
                                                          "pool"),
                            "pool \"%s\" is not defined", r->pool_name);
        }
    }
    if (rc == 0 && svc->http.max_header_size > conf->proxy_buffer_size / 2) {
        snprintf(where, sizeof(where), "service \"%s\"", svc->name);
        cx->where = where;
        size_text(svc->http.max_header_size, size, sizeof(size));
        size_text(conf->proxy_buffer_size / 2, half, sizeof(half));
        if (max != NULL)
            rc = conf_error(cx, max, "\"http.max_header_size\" (%s) must be at most half "
                            "of proxy_buffer_size (%s)", size, half);
        else
            rc = conf_error(cx, g, "the default \"http.max_header_size\" (%s) must be at "
                            "most half of proxy_buffer_size (%s): set a smaller one or a "
                            "larger proxy_buffer_size", size, half);
    }
    cx->where = NULL;
    return rc;
}

/* What depends on keys that may come in any order: pools, timeouts, gid. */
static int
conf_finish(struct conf_ctx *cx)
{
    struct lbd_conf *conf = cx->conf;

    if (conf->user != NULL && !cx->have_group)
        conf->gid = cx->user_gid;

    if (conf->proxy_bulk_buffer_size < conf->proxy_buffer_size) {
        char bulk[32], base[32];

        if (cx->bulk != NULL)
            return conf_error(cx, cx->bulk, "\"proxy_bulk_buffer_size\" (%s) must be at "
                              "least proxy_buffer_size (%s); equal to it, buffers never grow",
                              size_text(conf->proxy_bulk_buffer_size, bulk, sizeof(bulk)),
                              size_text(conf->proxy_buffer_size, base, sizeof(base)));
        /* The default follows a larger proxy_buffer_size: no growth then. */
        conf->proxy_bulk_buffer_size = conf->proxy_buffer_size;
    }

    if (conf->admin.html == NULL && (conf->admin.html = strdup(LBD_HTML_DIR)) == NULL) {
        snprintf(cx->err, cx->errlen, "%s: out of memory", cx->path);
        return -1;
    }
    if (conf->admin.socket_path == NULL) {
        /* Next to the registry: a directory the children can write. */
        const char *slash = strrchr(conf->registry_path, '/');
        int         dirlen = slash ? (int) (slash - conf->registry_path) : 1;
        char        path[PATH_MAX];

        if (slash == NULL)
            snprintf(path, sizeof(path), "control.sock");
        else
            snprintf(path, sizeof(path), "%.*s/control.sock", dirlen, conf->registry_path);
        if (strlen(path) >= 100) {
            snprintf(cx->err, cx->errlen, "%s: the control socket \"%s\" (next to the "
                     "registry) is too long for a unix socket; set admin.socket",
                     cx->path, path);
            return -1;
        }
        conf->admin.socket_path = strdup(path);
        if (conf->admin.socket_path == NULL) {
            snprintf(cx->err, cx->errlen, "%s: out of memory", cx->path);
            return -1;
        }
    }

    for (unsigned i = 0; i < conf->npools; i++) {
        struct lbd_pool_conf *pc = &conf->pools[i];

        if (pc->backup == NULL)
            continue;
        for (unsigned j = 0; j < conf->npools; j++)
            if (strcmp(conf->pools[j].name, pc->backup) == 0)
                pc->backup_index = (int) j;
        if (pc->backup_index == -1 || pc->backup_index == (int) i) {
            snprintf(cx->err, cx->errlen, "%s:%d: pool \"%s\": backup pool \"%s\" %s",
                     cx->path, pc->line, pc->name, pc->backup,
                     pc->backup_index == -1 ? "is not defined" : "is the pool itself");
            return -1;
        }
    }

    for (unsigned i = 0; i < conf->nservices; i++) {
        struct lbd_service_conf *svc = &conf->services[i];
        unsigned                 p;

        if (conf->admin.enabled && addr_equal(&svc->listen, &conf->admin.listen)) {
            snprintf(cx->err, cx->errlen, "%s:%d: admin.listen \"%s\" is already used "
                     "by service \"%s\" (line %d)", cx->path, conf->admin.line,
                     conf->admin.listen.text, svc->name, svc->line);
            return -1;
        }

        if (svc->connect_timeout == 0)
            svc->connect_timeout = conf->connect_timeout;
        if (svc->idle_timeout == 0)
            svc->idle_timeout = conf->idle_timeout;
        p = pool_index(conf, svc->pool_name);
        if (p == conf->npools) {
            const config_setting_t *g = config_setting_get_elem(cx->services, i);
            char                    where[CONF_NAME_MAX + 32];

            snprintf(where, sizeof(where), "service \"%s\"", svc->name);
            cx->where = where;
            conf_error(cx, config_setting_get_member(g, "pool"),
                       "pool \"%s\" is not defined", svc->pool_name);
            cx->where = NULL;
            return -1;
        }
        svc->pool = p;
        if (svc->mode == LBD_MODE_HTTP && http_finish(cx, i) == -1)
            return -1;
    }
    return 0;
}


/* --- integer literals libconfig would wrap --- */

/*
 * libconfig 1.5 stores an integer literal that does not fit in 32 bits
 * without a word (4294967297 reads as 1, 99999999999 as 1215752191), so a
 * typo could pass every range check.  This scan of the raw text refuses such
 * literals before the values are looked at.  It runs after libconfig parsed
 * the file, so it only has to tell numbers from strings, comments and names.
 */
static char *
read_whole(const char *file)
{
    FILE   *fp = fopen(file, "r");
    char   *buf = NULL, *bigger;
    size_t  len = 0, cap = 0, n;

    if (fp == NULL)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            bigger = realloc(buf, cap + 1);
            if (bigger == NULL) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = bigger;
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    fclose(fp);
    buf[len] = '\0';
    return buf;
}

static int scan_file(struct conf_ctx *cx, const char *file, int depth);

/* Step over the number at *pp; -1 when it is an int libconfig would wrap. */
static int
scan_number(struct conf_ctx *cx, const char *file, int line, const char **pp)
{
    const char *p = *pp;
    char       *end;
    int         hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    long long   v;

    errno = 0;
    v = strtoll(p, &end, hex ? 16 : 10);
    if (!hex && (*end == '.' || *end == 'e' || *end == 'E' || end == p)) {
        strtod(p, &end);                /* a float: libconfig keeps it right */
        *pp = end > p ? end : p + 1;
        return 0;
    }
    if (*end == 'L') {                  /* an explicit 64-bit integer */
        while (*end == 'L')
            end++;
        *pp = end;
        return 0;
    }
    *pp = end > p ? end : p + 1;
    if (errno == ERANGE || v > INT_MAX || v < INT_MIN) {
        snprintf(cx->err, cx->errlen, "%s:%d: the number %.*s is too large",
                 file, line, (int) (end - p > 40 ? 40 : end - p), p);
        return -1;
    }
    return 0;
}

/* Step over the string at *pp (on its opening quote); copy it to out. */
static const char *
scan_string(const char *p, int *line, char *out, size_t outlen)
{
    size_t n = 0;

    for (p++; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        if (*p == '\n')
            (*line)++;
        if (n + 1 < outlen)
            out[n++] = *p;
    }
    out[n] = '\0';
    return *p == '"' ? p + 1 : p;
}

static int
scan_text(struct conf_ctx *cx, const char *file, const char *p, int depth)
{
    int  line = 1, include = 0;
    char str[PATH_MAX];

    while (*p != '\0') {
        if (*p == '\n') {
            line++;
            p++;
        } else if (*p == '"') {
            p = scan_string(p, &line, str, sizeof(str));
            if (include && scan_file(cx, str, depth + 1) == -1)
                return -1;
            include = 0;
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p != '\0' && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    line++;
            p += *p ? 2 : 0;
        } else if (isalpha((unsigned char) *p) || *p == '*' || *p == '@') {
            const char *start = p++;

            while (isalnum((unsigned char) *p) || *p == '-' || *p == '_' || *p == '*')
                p++;
            include = p - start == 8 && memcmp(start, "@include", 8) == 0;
        } else if (isdigit((unsigned char) *p)
                   || ((*p == '-' || *p == '+' || *p == '.')
                       && isdigit((unsigned char) p[1]))) {
            if (scan_number(cx, file, line, &p) == -1)
                return -1;
        } else {
            p++;
        }
    }
    return 0;
}

/* An included file is found as libconfig found it: relative to the cwd. */
static int
scan_file(struct conf_ctx *cx, const char *file, int depth)
{
    char *text;
    int   rc;

    if (depth > CONF_INCLUDE_DEPTH)
        return 0;
    text = read_whole(file);
    if (text == NULL)
        return 0;   /* libconfig read it a moment ago; nothing more to say */
    rc = scan_text(cx, file, text, depth);
    free(text);
    return rc;
}


/* --- the public functions --- */

/*
 * Why path could not be read.  libconfig says only "file I/O error", and
 * errno is 0 when fopen worked but reading did not (a directory).
 */
static int
read_errno(const char *path, int e)
{
    FILE *fp;

    if (e != 0)
        return e;
    fp = fopen(path, "r");
    if (fp == NULL)
        return errno;
    errno = 0;
    if (getc(fp) == EOF && ferror(fp))
        e = errno;
    fclose(fp);
    return e != 0 ? e : EIO;
}

struct lbd_conf *
lbd_conf_load(const char *path, char *err, size_t errlen)
{
    config_t         cfg;
    struct conf_ctx  cx = { .path = path, .err = err, .errlen = errlen, .prefix = "" };
    struct lbd_conf *conf = NULL;

    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        int         e = errno;
        const char *file = config_error_file(&cfg);

        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     strerror(read_errno(path, e)));
        else
            snprintf(err, errlen, "%s:%d: %s", file ? file : path,
                     config_error_line(&cfg), config_error_text(&cfg));
        goto fail;
    }
    if (scan_file(&cx, path, 0) == -1)
        goto fail;
    conf = conf_new(path);
    if (conf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    cx.conf = conf;
    if (conf_walk(&cx, config_root_setting(&cfg), top_keys, conf) == -1
        || conf_finish(&cx) == -1)
        goto fail;
    config_destroy(&cfg);
    return conf;

fail:
    lbd_conf_free(conf);
    config_destroy(&cfg);
    return NULL;
}

const struct lbd_pool_conf *
lbd_conf_pool(const struct lbd_conf *conf, const char *name)
{
    for (unsigned i = 0; i < conf->npools; i++)
        if (strcmp(conf->pools[i].name, name) == 0)
            return &conf->pools[i];
    return NULL;
}

void
lbd_conf_free(struct lbd_conf *conf)
{
    if (conf == NULL)
        return;
    /* Arrays are calloc'd whole and counted before they are filled, so an
     * entry that an error left half read, or never reached, is freed too. */
    for (unsigned i = 0; i < conf->nservices; i++) {
        struct lbd_http_conf *h = &conf->services[i].http;

        free(conf->services[i].name);
        free(conf->services[i].pool_name);
        free(h->access_log);
        for (unsigned j = 0; j < h->nroutes; j++) {
            free(h->routes[j].host);
            free(h->routes[j].path);
            free(h->routes[j].pool_name);
        }
        free(h->routes);
    }
    free(conf->services);
    for (unsigned i = 0; i < conf->npools; i++) {
        free(conf->pools[i].name);
        free(conf->pools[i].strategy);
        free(conf->pools[i].backends);
        free(conf->pools[i].check.method);
        free(conf->pools[i].check.path);
        free(conf->pools[i].check.host);
        free(conf->pools[i].check.body);
        free(conf->pools[i].backup);
        free(conf->pools[i].sticky_cookie);
        free(conf->pools[i].hash_key_name);
    }
    free(conf->pools);
    free(conf->file);
    free(conf->pid_file);
    free(conf->user);
    free(conf->group);
    free(conf->error_log_path);
    free(conf->registry_path);
    free(conf->admin.token);
    free(conf->admin.socket_path);
    free(conf->admin.html);
    free(conf);
}
