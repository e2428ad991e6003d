/*
 * lbd_api.c - the admin API (see lbd_api.h for the routes and the shapes).
 *
 * A request goes through the same steps in the same order, each of which
 * may end it with an error and none of which has changed anything yet:
 *
 *   path and route (400, 404) -> method (405) -> query string (400)
 *   -> token (403, 401) -> body size (413) -> JSON and fields (400)
 *   -> the registry call, one transaction
 *
 * The token is checked before the body is even looked at, so a request
 * without the right token learns nothing (not whether a pool exists, not
 * what a field should be) and changes nothing.  The body is strict: an
 * unknown field is an error rather than silently ignored, so that a typo
 * ("wieght") does not leave an operator thinking a change was made.
 *
 * Every answer, errors included, is one compact JSON object and a newline.
 * Control process only: the registry calls write SQLite with fsync and
 * lbd_addr_parse may wait for DNS.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "lbd_api.h"
#include "lbd_log.h"
#include "lbd_stats.h"

#define API_MAX_SEGS     5          /* api pools {pool} backends {backend} */
#define API_EVENTS_LIMIT 1000
#define API_EVENTS_DEF   100

/* The last resort when even an error body cannot be built. */
#define API_NOMEM_BODY   "{\"error\":\"out of memory\"}\n"

/* The path, split at '/' and percent-decoded segment by segment. */
struct api_path {
    char     *seg[API_MAX_SEGS];
    unsigned  nseg;
};

enum api_route {
    R_NONE = 0,
    R_POOLS,            /* /api/pools */
    R_POOL,             /* /api/pools/{pool} */
    R_BACKENDS,         /* /api/pools/{pool}/backends */
    R_BACKEND,          /* /api/pools/{pool}/backends/{backend} */
    R_STRATEGY,         /* /api/pools/{pool}/strategy */
    R_EVENTS,           /* /api/events */
    R_WORKERS,          /* /api/workers */
};

/* The fields a body may carry; a route says which it accepts. */
enum {
    F_ADDRESS  = 1 << 0,
    F_WEIGHT   = 1 << 1,
    F_STATE    = 1 << 2,
    F_STRATEGY = 1 << 3,
};

struct api_fields {
    const char *address;        /* these point into the parsed body */
    const char *strategy;
    int         weight;
    int         state;
};


/* --- answers --- */

/*
 * A JSON string of s.  jansson refuses text that is not UTF-8, and s may
 * come from the request (a percent-decoded "%FF"): then the bytes that are
 * not printable ASCII become '?', so an error message can always be built.
 */
static json_t *
json_text(const char *s)
{
    json_t *j = json_string(s);
    char   *copy;

    if (j != NULL || (copy = strdup(s)) == NULL)
        return j;
    for (char *p = copy; *p; p++) {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
            *p = '?';
    }
    j = json_string(copy);
    free(copy);
    return j;
}

/* body (stolen; NULL means an allocation failed) as the answer, with status. */
static void
reply(struct lbd_api_response *res, int status, json_t *body)
{
    size_t  len;
    char   *text = NULL;

    if (body != NULL && (len = json_dumpb(body, NULL, 0, JSON_COMPACT)) > 0
        && (text = malloc(len + 2)) != NULL) {
        json_dumpb(body, text, len, JSON_COMPACT);
        text[len] = '\n';
        text[len + 1] = '\0';
    }
    json_decref(body);
    if (text == NULL) {
        lbd_log(LBD_LOG_ERROR, "admin API: out of memory building an answer");
        status = 500;
        text = strdup(API_NOMEM_BODY);      /* NULL only if the heap is gone */
    }
    free(res->body);
    res->body = text;
    res->status = status;
}

static void __attribute__((format(printf, 3, 4)))
reply_error(struct lbd_api_response *res, int status, const char *fmt, ...)
{
    char    msg[1024];
    va_list ap;
    json_t *text;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    text = json_text(msg);
    reply(res, status, text ? json_pack("{so}", "error", text) : NULL);
}

/* A registry result code as an answer: its HTTP status and err as the message. */
static void
reply_reg_error(struct lbd_api_response *res, int rc, const char *err)
{
    int status;

    switch (rc) {
    case LBD_REG_INVALID:   status = 400; break;
    case LBD_REG_NOT_FOUND: status = 404; break;
    case LBD_REG_CONFLICT:  status = 409; break;
    case LBD_REG_FULL:      status = 503; break;
    case LBD_REG_BUSY:      status = 503; break;
    default:                status = 500; break;
    }
    if (status == 500)
        lbd_log(LBD_LOG_ERROR, "admin API: registry: %s", err[0] ? err : "unknown error");
    reply_error(res, status, "%s", err[0] ? err : "registry error");
}


/* --- the shapes of lbd_api.h --- */

static json_t *
backend_json(const char *pool, const struct lbd_reg_backend *b)
{
    char        address[300];
    const char *health = "unknown";
    json_int_t  active = 0, total = 0, requests = 0, fails = 0;

    /* Counters live in shared memory, by slot: none without a segment or a slot. */
    if (lbd_shm != NULL && b->slot >= 0 && b->slot < LBD_SHM_BACKENDS) {
        const struct lbd_shm_backend *s = &lbd_shm->backends[b->slot];

        switch (atomic_load_explicit(&s->health, memory_order_relaxed)) {
        case LBD_HEALTH_UP:   health = "up"; break;
        case LBD_HEALTH_DOWN: health = "down"; break;
        default:              break;
        }
        active = atomic_load_explicit(&s->active, memory_order_relaxed);
        total = (json_int_t) atomic_load_explicit(&s->stats.c[LBD_STAT_CONNS],
                                                  memory_order_relaxed);
        requests = (json_int_t) atomic_load_explicit(&s->stats.c[LBD_STAT_REQUESTS],
                                                     memory_order_relaxed);
        fails = (json_int_t) atomic_load_explicit(&s->fails, memory_order_relaxed);
    }
    lbd_reg_backend_address(b, address, sizeof(address));
    return json_pack("{sI so ss so si si ss ss ss sI sI sI sI ss ss}",
                     "id", (json_int_t) b->id,
                     "pool", json_text(pool),
                     "address", address,
                     "host", json_text(b->host),
                     "port", b->port,
                     "weight", b->weight,
                     "state", lbd_backend_state_name(b->state),
                     "source", lbd_source_name(b->source),
                     "health", health,
                     "active", active, "total", total, "requests", requests,
                     "fails", fails,
                     "created", b->created,
                     "updated", b->updated);
}

static json_t *
backends_json(const struct lbd_reg_pool *p)
{
    json_t *list = json_array();

    for (unsigned i = 0; list != NULL && i < p->nbackends; i++) {
        if (json_array_append_new(list, backend_json(p->name, &p->backends[i])) == -1) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

static json_t *
pool_json(const struct lbd_reg_pool *p)
{
    return json_pack("{ss ss ss so}",
                     "name", p->name,
                     "strategy", p->strategy,
                     "source", lbd_source_name(p->source),
                     "backends", backends_json(p));
}

/*
 * The backend of p that ref names: its id ("12") or "host:port" as stored.
 * The same rule as the registry's own lookup for PATCH and DELETE (ids
 * of up to 18 digits, host compared byte for byte), so that a reference
 * GET finds is one PATCH finds.
 */
static const struct lbd_reg_backend *
find_backend(const struct lbd_reg_pool *p, const char *ref)
{
    size_t len = strlen(ref);
    char   host[256], err[160];
    int    port;

    if (len > 0 && len <= 18 && strspn(ref, "0123456789") == len) {
        int64_t id = strtoll(ref, NULL, 10);

        for (unsigned i = 0; i < p->nbackends; i++) {
            if (p->backends[i].id == id)
                return &p->backends[i];
        }
        return NULL;
    }
    if (lbd_addr_split(ref, host, sizeof(host), &port, err, sizeof(err)) == -1)
        return NULL;
    for (unsigned i = 0; i < p->nbackends; i++) {
        if (p->backends[i].port == port && strcmp(p->backends[i].host, host) == 0)
            return &p->backends[i];
    }
    return NULL;
}


/* --- the request --- */

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decode the n bytes at s into a new string.  NULL with *bad set
 * for a malformed escape or an encoded NUL, NULL alone when out of memory.
 */
static char *
pct_decode(const char *s, size_t n, int *bad)
{
    char  *out = malloc(n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            *bad = 1;
            free(out);
            return NULL;
        }
        *o++ = (char) (hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static void
path_free(struct api_path *path)
{
    for (unsigned i = 0; i < path->nseg; i++)
        free(path->seg[i]);
    path->nseg = 0;
}

/*
 * Split the path (len bytes, before any '?') into decoded segments.  One
 * trailing slash is tolerated; an empty segment anywhere else, or more
 * segments than any route has, makes no route (returns 1).  Returns 0, 1,
 * -1 for a malformed escape, -2 when out of memory.
 */
static int
path_split(const char *p, size_t len, struct api_path *path)
{
    const char *end = p + len;
    int         bad = 0;

    path->nseg = 0;
    if (len == 0 || p[0] != '/')
        return 1;
    p++;
    if (p < end && end[-1] == '/')
        end--;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t) (end - p));
        const char *segend = slash ? slash : end;

        if (segend == p || path->nseg == API_MAX_SEGS) {
            path_free(path);
            return 1;
        }
        path->seg[path->nseg] = pct_decode(p, (size_t) (segend - p), &bad);
        if (path->seg[path->nseg] == NULL) {
            path_free(path);
            return bad ? -1 : -2;
        }
        path->nseg++;
        if (slash != NULL && slash + 1 == end) {     /* "//" at the end */
            path_free(path);
            return 1;
        }
        p = slash ? slash + 1 : end;
    }
    return 0;
}

static int
seg_is(const struct api_path *path, unsigned i, const char *s)
{
    return i < path->nseg && strcmp(path->seg[i], s) == 0;
}

/* Which route path is, and the methods it takes ("GET, POST"). */
static enum api_route
route_find(const struct api_path *path, const char **allow)
{
    static const struct {
        enum api_route  route;
        unsigned        nseg;
        const char     *s1, *s3;      /* fixed segments 1 and 3; NULL: none */
        const char     *allow;
    } routes[] = {
        { R_POOLS,    2, "pools",   NULL,       "GET" },
        { R_POOL,     3, "pools",   NULL,       "GET" },
        { R_BACKENDS, 4, "pools",   "backends", "GET, POST" },
        { R_BACKEND,  5, "pools",   "backends", "GET, PATCH, DELETE" },
        { R_STRATEGY, 4, "pools",   "strategy", "PUT" },
        { R_EVENTS,   2, "events",  NULL,       "GET" },
        { R_WORKERS,  2, "workers", NULL,       "GET" },
    };

    if (!seg_is(path, 0, "api"))
        return R_NONE;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (path->nseg == routes[i].nseg && seg_is(path, 1, routes[i].s1)
            && (routes[i].s3 == NULL || seg_is(path, 3, routes[i].s3))) {
            *allow = routes[i].allow;
            return routes[i].route;
        }
    }
    return R_NONE;
}

/* Whether method is one of allow's ("GET, PATCH, DELETE"). */
static int
method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);

    for (const char *p = allow; *p != '\0'; p += strspn(p, ", ")) {
        size_t len = strcspn(p, ",");

        if (len == n && memcmp(p, method, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/*
 * Compare the configured token with the one given, in a time that depends
 * only on the configured token's length, so that timing the answers does
 * not reveal how many leading characters were right.
 */
static int
token_equal(const char *want, const char *got, size_t gotlen)
{
    size_t                 n = strlen(want);
    volatile unsigned char diff = n != gotlen;

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char) want[i] ^ (unsigned char) (i < gotlen ? got[i] : 0);
    return diff == 0;
}

/* 0 when the request carries the configured token, else answers and returns -1. */
static int
check_token(const struct lbd_api_ctx *ctx, const struct lbd_api_request *req,
            struct lbd_api_response *res)
{
    const char *h = req->authorization, *end;

    if (ctx->token == NULL) {
        reply_error(res, 403, "mutations are disabled: no admin token is configured "
                    "(admin.token or admin.token_file)");
        return -1;
    }
    /* RFC 7235: the scheme is case-insensitive, then one or more spaces. */
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        reply_error(res, 401, "missing bearer token");
        return -1;
    }
    h += 7;
    h += strspn(h, " ");
    end = h + strlen(h);
    while (end > h && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == h) {
        reply_error(res, 401, "missing bearer token");
        return -1;
    }
    if (!token_equal(ctx->token, h, (size_t) (end - h))) {
        reply_error(res, 401, "wrong token");
        return -1;
    }
    return 0;
}

/*
 * Parse the body into f, taking only the fields in allowed.  *root holds
 * the strings f points to: the caller decrefs it.  0, or -1 answered.
 */
static int
parse_body(const struct lbd_api_request *req, unsigned allowed, json_t **root,
           struct api_fields *f, struct lbd_api_response *res)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "address", F_ADDRESS }, { "weight", F_WEIGHT },
        { "state", F_STATE }, { "strategy", F_STRATEGY },
    };
    json_error_t  jerr;
    const char   *key;
    json_t       *v;
    char          accepts[80] = "";

    memset(f, 0, sizeof(*f));
    f->weight = -1;
    f->state = -1;
    *root = NULL;
    if (req->bodylen > LBD_API_MAX_BODY) {
        reply_error(res, 413, "the body is over %d bytes", LBD_API_MAX_BODY);
        return -1;
    }
    /* DECODE_ANY: a body of 42 is valid JSON, just not an object. */
    *root = json_loadb(req->body ? req->body : "", req->bodylen,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (*root == NULL) {
        reply_error(res, 400, "malformed JSON at line %d column %d: %s",
                    jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(*root)) {
        reply_error(res, 400, "the body must be a JSON object");
        return -1;
    }

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (allowed & names[i].bit)
            snprintf(accepts + strlen(accepts), sizeof(accepts) - strlen(accepts),
                     "%s\"%s\"", accepts[0] ? ", " : "", names[i].name);
    }
    json_object_foreach(*root, key, v) {
        unsigned bit = 0;

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strcmp(key, names[i].name) == 0)
                bit = names[i].bit;
        }
        if ((bit & allowed) == 0) {
            reply_error(res, 400, "unknown field \"%s\" (this request takes %s)", key, accepts);
            return -1;
        }
        switch (bit) {
        case F_ADDRESS:
            if (!json_is_string(v) || json_string_length(v) == 0) {
                reply_error(res, 400, "\"address\" must be a string \"host:port\" "
                            "or \"[v6]:port\"");
                return -1;
            }
            f->address = json_string_value(v);
            break;
        case F_WEIGHT:
            if (!json_is_integer(v) || json_integer_value(v) < 1
                || json_integer_value(v) > 1000) {
                reply_error(res, 400, "\"weight\" must be an integer from 1 to 1000");
                return -1;
            }
            f->weight = (int) json_integer_value(v);
            break;
        case F_STATE:
            if (!json_is_string(v) || (f->state = lbd_backend_state_parse(json_string_value(v))) < 0) {
                reply_error(res, 400, "\"state\" must be \"up\", \"drain\" or \"disabled\"");
                return -1;
            }
            break;
        case F_STRATEGY:
            if (!json_is_string(v) || json_string_length(v) == 0) {
                reply_error(res, 400, "\"strategy\" must be the name of a strategy");
                return -1;
            }
            f->strategy = json_string_value(v);
            break;
        }
    }
    return 0;
}

/* "limit=N" (1..1000) from the query string of /api/events.  0, or -1 answered. */
static int
parse_limit(const char *query, int *limit, struct lbd_api_response *res)
{
    const char *p = query;
    int         seen = 0;

    *limit = API_EVENTS_DEF;
    while (p != NULL && *p != '\0') {
        const char *amp = strchr(p, '&');
        size_t      n = amp ? (size_t) (amp - p) : strlen(p);
        int         bad = 0, ok;
        char       *param, *value;

        if (n == 0) {                       /* "a&&b", a trailing '&' */
            p = amp + 1;
            continue;
        }
        if ((param = pct_decode(p, n, &bad)) == NULL) {
            if (bad)
                reply_error(res, 400, "malformed percent-encoding in the query string");
            else
                reply(res, 500, NULL);
            return -1;
        }
        p = amp ? amp + 1 : NULL;
        value = strchr(param, '=');
        if (value != NULL)
            *value++ = '\0';
        if (strcmp(param, "limit") != 0) {
            reply_error(res, 400, "unknown query parameter \"%s\" (this request takes "
                        "\"limit\")", param);
            free(param);
            return -1;
        }
        ok = !seen++ && value != NULL && value[0] != '\0' && strlen(value) <= 4
             && strspn(value, "0123456789") == strlen(value)
             && atoi(value) >= 1 && atoi(value) <= API_EVENTS_LIMIT;
        if (ok)
            *limit = atoi(value);
        free(param);
        if (!ok) {
            reply_error(res, 400, "\"limit\" must be given once, an integer from 1 to %d",
                        API_EVENTS_LIMIT);
            return -1;
        }
    }
    return 0;
}


/* --- the handlers --- */

/*
 * Read the registry and find the pool called name.  Returns the state (the
 * caller frees it) with *pool set, or NULL answered (404, 5xx).
 */
static struct lbd_reg_state *
read_pool(const struct lbd_api_ctx *ctx, const char *name, const struct lbd_reg_pool **pool,
          struct lbd_api_response *res)
{
    struct lbd_reg_state *st;
    char                  err[512] = "";
    int                   rc;

    if ((rc = lbd_registry_read(ctx->reg, &st, err, sizeof(err))) != LBD_REG_OK) {
        reply_reg_error(res, rc, err);
        return NULL;
    }
    if (name != NULL && (*pool = lbd_reg_state_pool(st, name)) == NULL) {
        reply_error(res, 404, "no pool \"%s\"", name);
        lbd_reg_state_free(st);
        return NULL;
    }
    return st;
}

static void
get_pools(const struct lbd_api_ctx *ctx, struct lbd_api_response *res)
{
    struct lbd_reg_state *st = read_pool(ctx, NULL, NULL, res);
    json_t               *pools;

    if (st == NULL)
        return;
    pools = json_array();
    for (unsigned i = 0; pools != NULL && i < st->npools; i++) {
        if (json_array_append_new(pools, pool_json(&st->pools[i])) == -1) {
            json_decref(pools);
            pools = NULL;
        }
    }
    reply(res, 200, pools ? json_pack("{sI so}", "generation", (json_int_t) st->generation,
                                      "pools", pools) : NULL);
    lbd_reg_state_free(st);
}

/* GET of one pool, its backends or one backend. */
static void
get_pool(const struct lbd_api_ctx *ctx, enum api_route route, const struct api_path *path,
         struct lbd_api_response *res)
{
    const struct lbd_reg_pool    *pool;
    const struct lbd_reg_backend *b;
    struct lbd_reg_state         *st = read_pool(ctx, path->seg[2], &pool, res);

    if (st == NULL)
        return;
    if (route == R_POOL) {
        reply(res, 200, pool_json(pool));
    } else if (route == R_BACKENDS) {
        reply(res, 200, json_pack("{so}", "backends", backends_json(pool)));
    } else if ((b = find_backend(pool, path->seg[4])) != NULL) {
        reply(res, 200, backend_json(pool->name, b));
    } else {
        reply_error(res, 404, "pool \"%s\" has no backend \"%s\"", pool->name, path->seg[4]);
    }
    lbd_reg_state_free(st);
}

static void
published(struct lbd_api_response *res, uint64_t generation)
{
    if (lbd_shm != NULL)
        lbd_shm_publish(lbd_shm, generation);
    res->generation = generation;
}

static void
post_backend(const struct lbd_api_ctx *ctx, const char *pool, const struct api_fields *f,
             struct lbd_api_response *res)
{
    struct lbd_reg_backend out;
    struct lbd_addr        addr;
    char                   host[256], err[512] = "";
    int                    port, rc;
    uint64_t               gen;

    if (f->address == NULL) {
        reply_error(res, 400, "\"address\" is required (\"host:port\" or \"[v6]:port\")");
        return;
    }
    /* Split first: it holds the host to what the registry can store, with no DNS. */
    if (lbd_addr_split(f->address, host, sizeof(host), &port, err, sizeof(err)) == -1
        || lbd_addr_parse(f->address, &addr, err, sizeof(err)) == -1) {
        reply_error(res, 400, "%s", err);
        return;
    }
    rc = lbd_registry_backend_add(ctx->reg, pool, host, port, &addr,
                                  f->weight < 0 ? 1 : f->weight,
                                  f->state < 0 ? LBD_BACKEND_UP : (enum lbd_backend_state) f->state,
                                  &out, &gen, err, sizeof(err));
    if (rc != LBD_REG_OK) {
        reply_reg_error(res, rc, err);
        return;
    }
    published(res, gen);
    reply(res, 201, backend_json(pool, &out));
}

/* PATCH and DELETE: the registry finds the backend, in the same transaction. */
static void
change_backend(const struct lbd_api_ctx *ctx, int patch, const struct api_path *path,
               const struct api_fields *f, struct lbd_api_response *res)
{
    struct lbd_reg_backend out;
    char                   err[512] = "";
    int                    rc;
    uint64_t               gen;

    if (patch && f->weight < 0 && f->state < 0) {
        reply_error(res, 400, "give \"weight\", \"state\" or both");
        return;
    }
    if (patch)
        rc = lbd_registry_backend_update(ctx->reg, path->seg[2], path->seg[4], f->weight,
                                         f->state, &out, &gen, err, sizeof(err));
    else
        rc = lbd_registry_backend_remove(ctx->reg, path->seg[2], path->seg[4], &out, &gen,
                                         err, sizeof(err));
    if (rc != LBD_REG_OK) {
        reply_reg_error(res, rc, err);
        return;
    }
    published(res, gen);
    reply(res, 200, backend_json(path->seg[2], &out));
}

static void
put_strategy(const struct lbd_api_ctx *ctx, const char *name, const struct api_fields *f,
             struct lbd_api_response *res)
{
    const struct lbd_reg_pool *pool;
    struct lbd_reg_state      *st;
    char                       err[512] = "";
    int                        rc;
    uint64_t                   gen;

    if (f->strategy == NULL) {
        reply_error(res, 400, "\"strategy\" is required");
        return;
    }
    rc = lbd_registry_pool_strategy(ctx->reg, name, f->strategy, &gen, err, sizeof(err));
    if (rc != LBD_REG_OK) {
        reply_reg_error(res, rc, err);
        return;
    }
    published(res, gen);
    /* Committed: a failure to read it back is a 5xx, the change stays. */
    if ((st = read_pool(ctx, name, &pool, res)) != NULL) {
        reply(res, 200, pool_json(pool));
        lbd_reg_state_free(st);
    }
}

struct events_walk {
    json_t *list;
    int     failed;
};

static json_t *
json_or_null(const char *s)
{
    return s ? json_text(s) : json_null();
}

static void
event_add(const struct lbd_reg_event *ev, void *arg)
{
    struct events_walk *w = arg;
    json_t             *e;

    e = json_pack("{sI so so so so so so so sI}",
                  "id", (json_int_t) ev->id,
                  "at", json_or_null(ev->at),
                  "actor", json_or_null(ev->actor),
                  "pool", json_or_null(ev->pool),
                  "backend", json_or_null(ev->backend),
                  "what", json_or_null(ev->what),
                  "old", json_or_null(ev->old),
                  "new", json_or_null(ev->new_),
                  "generation", (json_int_t) ev->generation);
    if (json_array_append_new(w->list, e) == -1)
        w->failed = 1;
}

static void
get_events(const struct lbd_api_ctx *ctx, const char *query, struct lbd_api_response *res)
{
    struct events_walk w = { json_array(), 0 };
    char               err[512] = "";
    int                limit, rc;

    if (parse_limit(query, &limit, res) == -1) {
        json_decref(w.list);
        return;
    }
    if (w.list == NULL) {
        reply(res, 500, NULL);
        return;
    }
    rc = lbd_registry_events(ctx->reg, limit, event_add, &w, err, sizeof(err));
    if (rc != LBD_REG_OK) {
        json_decref(w.list);
        reply_reg_error(res, rc, err);
        return;
    }
    if (w.failed) {
        json_decref(w.list);
        w.list = NULL;
    }
    reply(res, 200, w.list ? json_pack("{so}", "events", w.list) : NULL);
}

/* From shared memory; without a segment (tests, lbd -t) nothing is published. */
static void
get_workers(struct lbd_api_response *res)
{
    json_t  *list = json_array();
    uint64_t gen = 0;
    int64_t  committed = 0;

    if (lbd_shm != NULL) {
        gen = lbd_shm_generation(lbd_shm);
        committed = atomic_load(&lbd_shm->committed_ns);
    }
    for (int i = 0; list != NULL && lbd_shm != NULL && i < LBD_SHM_WORKERS; i++) {
        struct lbd_shm_worker *w = &lbd_shm->workers[i];
        int32_t                pid = atomic_load(&w->pid);
        uint64_t               oldest = atomic_load(&w->oldest);

        if (pid == 0)
            continue;
        /* "oldest" is null while the worker holds no snapshot at all. */
        if (json_array_append_new(list, json_pack("{si si sI sI so sI sI sI}",
                "slot", i, "pid", (int) pid,
                "generation", (json_int_t) atomic_load(&w->generation),
                "applied_ns", (json_int_t) atomic_load(&w->applied_ns),
                "oldest", oldest == LBD_SHM_NONE ? json_null() : json_integer((json_int_t) oldest),
                "snapshots", (json_int_t) atomic_load(&w->snapshots),
                "active", (json_int_t) atomic_load(&w->active),
                "accepted", (json_int_t) atomic_load(&w->stats.c[LBD_STAT_CONNS]))) == -1) {
            json_decref(list);
            list = NULL;
        }
    }
    reply(res, 200, list ? json_pack("{sI sI so}", "generation", (json_int_t) gen,
                                     "committed_ns", (json_int_t) committed,
                                     "workers", list) : NULL);
}

void
lbd_api_handle(const struct lbd_api_ctx *ctx, const struct lbd_api_request *req,
               struct lbd_api_response *res)
{
    struct api_path    path;
    struct api_fields  f = { .weight = -1, .state = -1 };
    json_t            *root = NULL;
    const char        *query = strchr(req->uri, '?'), *allow = NULL, *m = req->method;
    size_t             pathlen = query ? (size_t) (query - req->uri) : strlen(req->uri);
    enum api_route     route = R_NONE;
    int                rc, mutation;

    memset(res, 0, sizeof(*res));
    rc = path_split(req->uri, pathlen, &path);
    if (rc == -1) {
        reply_error(res, 400, "malformed percent-encoding in the path");
        return;
    }
    if (rc == -2) {
        reply(res, 500, NULL);
        return;
    }
    if (rc == 0)
        route = route_find(&path, &allow);
    if (route == R_NONE) {
        path_free(&path);
        reply_error(res, 404, "no such endpoint: %s %.*s", m, (int) pathlen, req->uri);
        return;
    }
    if (!method_allowed(allow, m)) {
        path_free(&path);
        reply_error(res, 405, "%s is not allowed here (allowed: %s)", m, allow);
        res->allow = allow;
        return;
    }
    if (query != NULL && query[1] != '\0' && route != R_EVENTS) {
        path_free(&path);
        reply_error(res, 400, "this request takes no query string");
        return;
    }

    mutation = strcmp(m, "GET") != 0;
    if (mutation && check_token(ctx, req, res) == -1) {
        path_free(&path);
        return;
    }
    /* DELETE takes no body: whatever came with it is ignored, as HTTP allows. */
    if (mutation && strcmp(m, "DELETE") != 0
        && parse_body(req, route == R_BACKENDS ? F_ADDRESS | F_WEIGHT | F_STATE
                           : route == R_BACKEND ? F_WEIGHT | F_STATE : F_STRATEGY,
                      &root, &f, res) == -1) {
        json_decref(root);
        path_free(&path);
        return;
    }

    switch (route) {
    case R_POOLS:
        get_pools(ctx, res);
        break;
    case R_POOL:
        get_pool(ctx, route, &path, res);
        break;
    case R_BACKENDS:
        if (mutation)
            post_backend(ctx, path.seg[2], &f, res);
        else
            get_pool(ctx, route, &path, res);
        break;
    case R_BACKEND:
        if (mutation)
            change_backend(ctx, strcmp(m, "PATCH") == 0, &path, &f, res);
        else
            get_pool(ctx, route, &path, res);
        break;
    case R_STRATEGY:
        put_strategy(ctx, path.seg[2], &f, res);
        break;
    case R_EVENTS:
        get_events(ctx, query ? query + 1 : NULL, res);
        break;
    case R_WORKERS:
        get_workers(res);
        break;
    case R_NONE:
        break;
    }
    json_decref(root);
    path_free(&path);
}
