/*
 * lbd_status.c - what a worker serves on the admin port besides the API:
 * the status page's files, /status.json and /metrics (doc/STATUS.md).
 *
 * Everything here is read from memory: the page's files were read when the
 * worker started, the registry's names, weights and states come from the
 * state the worker last loaded with its snapshot, and the live part
 * (health, ejections, counters, events) from shared memory.  Serving never
 * touches SQLite or the disk, and any worker gives the same answer.
 */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "lbd_log.h"
#include "lbd_peer.h"
#include "lbd_registry.h"
#include "lbd_stats.h"
#include "lbd_status.h"
#include "lbd_worker.h"

#define STATUS_MAX_FILES     64
#define STATUS_MAX_FILE      (1024 * 1024)
#define STATUS_EVENTS        50

/* The page is ours alone: no script, style or request leaves this origin. */
#define STATUS_CSP  "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " \
                    "base-uri 'none'; form-action 'self'"

struct lbd_status_file {
    char   *name;
    char   *data;
    size_t  len;
    char    etag[24];
    const char *type;
};

static const struct { const char *ext, *type; } content_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".css",  "text/css; charset=utf-8" },
    { ".js",   "text/javascript; charset=utf-8" },
    { ".json", "application/json" },
    { ".svg",  "image/svg+xml" },
    { ".png",  "image/png" },
    { ".ico",  "image/x-icon" },
    { ".txt",  "text/plain; charset=utf-8" },
};

static const char *
content_type(const char *name)
{
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot != NULL && i < sizeof(content_types) / sizeof(content_types[0]); i++)
        if (strcmp(dot, content_types[i].ext) == 0)
            return content_types[i].type;
    return "application/octet-stream";
}

/* Read one regular file whole.  0, or -1 (logged). */
static int
file_read(int dirfd, const char *name, struct lbd_status_file *f)
{
    struct stat st;
    ssize_t     n;
    size_t      got = 0;
    int         fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd == -1 || fstat(fd, &st) == -1) {
        lbd_log_err(LBD_LOG_WARN, errno, "status page: cannot read \"%s\"", name);
        if (fd != -1)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > STATUS_MAX_FILE) {
        close(fd);
        if (S_ISREG(st.st_mode))
            lbd_log(LBD_LOG_WARN, "status page: \"%s\" is over %d bytes; not served",
                    name, STATUS_MAX_FILE);
        return -1;
    }
    f->len = (size_t) st.st_size;
    f->data = malloc(f->len + 1);
    f->name = strdup(name);
    if (f->data == NULL || f->name == NULL) {
        close(fd);
        return -1;
    }
    while (got < f->len && ((n = read(fd, f->data + got, f->len - got)) > 0
                            || (n == -1 && errno == EINTR)))
        if (n > 0)
            got += (size_t) n;
    close(fd);
    f->len = got;
    snprintf(f->etag, sizeof(f->etag), "\"%016llx\"",
             (unsigned long long) lbd_fnv1a(f->data, f->len));
    f->type = content_type(name);
    return 0;
}

void
lbd_status_files_free(struct lbd_worker *w)
{
    for (unsigned i = 0; i < w->nfiles; i++) {
        free(w->files[i].name);
        free(w->files[i].data);
    }
    free(w->files);
    w->files = NULL;
    w->nfiles = 0;
}

int
lbd_status_files_load(struct lbd_worker *w)
{
    const char    *dir = w->cycle->conf->admin.html;
    DIR           *d;
    struct dirent *de;

    if (dir == NULL)
        return 0;
    if ((d = opendir(dir)) == NULL) {
        lbd_log_err(LBD_LOG_WARN, errno, "status page: cannot open \"%s\" (admin.html); "
                    "/ will answer 404", dir);
        return 0;
    }
    w->files = calloc(STATUS_MAX_FILES, sizeof(*w->files));
    if (w->files == NULL) {
        closedir(d);
        return -1;
    }
    while ((de = readdir(d)) != NULL && w->nfiles < STATUS_MAX_FILES) {
        if (de->d_name[0] == '.')
            continue;
        if (file_read(dirfd(d), de->d_name, &w->files[w->nfiles]) == 0)
            w->nfiles++;
        else {
            free(w->files[w->nfiles].name);
            free(w->files[w->nfiles].data);
            memset(&w->files[w->nfiles], 0, sizeof(w->files[0]));
        }
    }
    closedir(d);
    return 0;
}

/* --- answers --- */

static void
send_body(struct evhttp_request *req, int status, const char *reason, const char *type,
          struct evbuffer *body)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    evhttp_add_header(out, "Content-Type", type);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply(req, status, reason, body);
}

static void
serve_file(struct evhttp_request *req, const struct lbd_status_file *f)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char       *inm = evhttp_find_header(evhttp_request_get_input_headers(req),
                                               "If-None-Match");
    struct evbuffer  *body;

    evhttp_add_header(out, "ETag", f->etag);
    evhttp_add_header(out, "Content-Security-Policy", STATUS_CSP);
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    if (inm != NULL && strstr(inm, f->etag) != NULL) {
        send_body(req, 304, "Not Modified", f->type, NULL);
        return;
    }
    body = evbuffer_new();
    if (body != NULL)
        evbuffer_add_reference(body, f->data, f->len, NULL, NULL);
    send_body(req, 200, "OK", f->type, body);
    if (body != NULL)
        evbuffer_free(body);
}

/* The registry state a worker last loaded: its pools, backends and names. */
static const struct lbd_reg_state *
state_of(const struct lbd_worker *w)
{
    return w->state;
}

/* What the page shows of a backend: up, down, draining or disabled. */
static const char *
backend_status(const struct lbd_reg_backend *b, int health, int ejected)
{
    if (b->state == LBD_BACKEND_DISABLED)
        return "disabled";
    if (health == LBD_HEALTH_DOWN || ejected || b->addr.len == 0)
        return "down";
    if (b->state == LBD_BACKEND_DRAIN)
        return "draining";
    return "up";
}

/* A backend of the registry as it is now: its slot's live state. */
struct live {
    struct lbd_shm_backend *s;      /* its slot, or NULL (none yet, or given away) */
    int                     health; /* enum lbd_health */
    int                     ejected;
    int64_t                 active;
    const char             *status; /* backend_status() */
};

static void
live_of(const struct lbd_reg_backend *b, int64_t now_ms, struct live *l)
{
    memset(l, 0, sizeof(*l));
    l->health = LBD_HEALTH_UNKNOWN;
    if (lbd_shm != NULL && b->slot >= 0 && b->slot < LBD_SHM_BACKENDS
        && atomic_load(&lbd_shm->backends[b->slot].id) == b->id)
        l->s = &lbd_shm->backends[b->slot];
    if (l->s != NULL) {
        int64_t until = atomic_load_explicit(&l->s->ejected_until, memory_order_relaxed);

        l->health = (int) atomic_load_explicit(&l->s->health, memory_order_relaxed);
        l->ejected = until != 0 && until > now_ms;
        l->active = atomic_load_explicit(&l->s->active, memory_order_relaxed);
        if (l->active < 0)
            l->active = 0;
    }
    l->status = backend_status(b, l->health, l->ejected);
}

/* Which mode of service uses pool: "http", "tcp" or "none". */
static const char *
pool_mode(const struct lbd_conf *conf, const char *pool)
{
    const char *mode = "none";

    for (unsigned i = 0; i < conf->nservices; i++) {
        const struct lbd_service_conf *s = &conf->services[i];
        int                            uses = strcmp(s->pool_name, pool) == 0;

        for (unsigned r = 0; !uses && r < s->http.nroutes; r++)
            uses = strcmp(s->http.routes[r].pool_name, pool) == 0;
        if (!uses)
            continue;
        if (s->mode == LBD_MODE_HTTP)
            return "http";
        mode = "tcp";
    }
    return mode;
}

static json_t *
counters_json(const struct lbd_shm_stats *s, unsigned from, unsigned to)
{
    json_t *o = json_object();

    for (unsigned i = from; o != NULL && i < to; i++)
        json_object_set_new(o, lbd_stat_names[i],
                            json_integer((json_int_t) atomic_load_explicit(
                                &((struct lbd_shm_stats *) s)->c[i], memory_order_relaxed)));
    return o;
}

static json_t *
quantile_json(const struct lbd_hist_snap *h, double q)
{
    double v = lbd_stats_quantile_ms(h, q);

    return v < 0 ? json_null() : json_real((double) (int64_t) (v * 1000 + 0.5) / 1000);
}

/*
 * The traffic part of a backend or a worker: counters, errors, responses,
 * histograms, and the p50/p99 of hist (LBD_LAT_*).
 */
static int
stats_json(json_t *o, const struct lbd_shm_stats *s, enum lbd_lat quantiles)
{
    struct lbd_shm_stats *m = (struct lbd_shm_stats *) s;
    json_t               *lat = json_object();
    struct lbd_hist_snap  q = { { 0 }, 0, 0 };

    for (unsigned i = LBD_STAT_CONNS; i <= LBD_STAT_BYTES_OUT; i++)
        json_object_set_new(o, lbd_stat_names[i], json_integer((json_int_t)
                            atomic_load_explicit(&m->c[i], memory_order_relaxed)));
    json_object_set_new(o, "errors", counters_json(s, LBD_STAT_ERR_CONNECT, LBD_STAT_ERR_5XX + 1));
    json_object_set_new(o, "responses", counters_json(s, LBD_STAT_1XX, LBD_STAT_COUNTERS));
    for (unsigned l = 0; lat != NULL && l < LBD_LATS; l++) {
        struct lbd_hist_snap h;
        json_t              *counts = json_array();

        lbd_stats_hist_read(&s->lat[l], &h);
        for (unsigned b = 0; counts != NULL && b < LBD_HIST_BUCKETS; b++)
            json_array_append_new(counts, json_integer((json_int_t) h.counts[b]));
        json_object_set_new(lat, lbd_lat_names[l],
                            json_pack("{so sf sI}", "counts", counts,
                                      "sum_ms", (double) h.sum_us / 1000,
                                      "count", (json_int_t) h.count));
        if (l == quantiles)
            q = h;
    }
    json_object_set_new(o, "latency", lat);
    json_object_set_new(o, "p50_ms", quantile_json(&q, 0.50));
    json_object_set_new(o, "p99_ms", quantile_json(&q, 0.99));
    return 0;
}

/* A backend with no slot yet (an edit from outside, a moment ago) has no traffic. */
static struct lbd_shm_stats no_traffic;

static json_t *
backend_json(const struct lbd_reg_backend *b, int http, int64_t now_ms)
{
    char         address[300];
    struct live  l;
    json_t      *o;

    live_of(b, now_ms, &l);
    lbd_reg_backend_address(b, address, sizeof(address));
    o = json_pack("{sI ss si ss ss sb ss sI}",
                  "id", (json_int_t) b->id,
                  "address", address,
                  "weight", b->weight,
                  "state", lbd_backend_state_name(b->state),
                  "health", lbd_health_name(l.health),
                  "ejected", l.ejected,
                  "status", l.status,
                  "active", (json_int_t) l.active);
    if (o != NULL)
        stats_json(o, l.s != NULL ? &l.s->stats : &no_traffic,
                   http ? LBD_LAT_TOTAL : LBD_LAT_CONNECT);
    return o;
}

static json_t *
pools_json(const struct lbd_worker *w, const struct lbd_reg_state *st)
{
    json_t  *list = json_array();
    int64_t  now_ms = lbd_mono_ms();

    for (unsigned p = 0; list != NULL && st != NULL && p < st->npools; p++) {
        const struct lbd_reg_pool *rp = &st->pools[p];
        const char                *mode = pool_mode(w->cycle->conf, rp->name);
        json_t                    *backends = json_array();

        for (unsigned b = 0; backends != NULL && b < rp->nbackends; b++)
            json_array_append_new(backends, backend_json(&rp->backends[b],
                                                         strcmp(mode, "http") == 0, now_ms));
        json_array_append_new(list, json_pack("{ss ss ss so}", "name", rp->name,
                                              "strategy", rp->strategy, "mode", mode,
                                              "backends", backends));
    }
    return list;
}

static json_t *
workers_json(void)
{
    json_t *list = json_array();

    for (int i = 0; list != NULL && lbd_shm != NULL && i < LBD_SHM_WORKERS; i++) {
        struct lbd_shm_worker *sw = &lbd_shm->workers[i];
        int32_t                pid = atomic_load(&sw->pid);
        json_t                *o;

        if (pid <= 0)
            continue;
        o = json_pack("{si si sI sI sI sI}", "slot", i, "pid", (int) pid,
                      "generation", (json_int_t) atomic_load(&sw->generation),
                      "active", (json_int_t) atomic_load(&sw->active),
                      "buffer_bytes", (json_int_t) atomic_load(&sw->buffer_bytes),
                      "bulk_buffers", (json_int_t) atomic_load(&sw->bulk_buffers));
        if (o != NULL)
            stats_json(o, &sw->stats, LBD_LAT_TOTAL);
        json_array_append_new(list, o);
    }
    return list;
}

static json_t *
services_json(const struct lbd_conf *conf)
{
    json_t *list = json_array();

    for (unsigned i = 0; list != NULL && i < conf->nservices; i++) {
        const struct lbd_service_conf *s = &conf->services[i];

        json_array_append_new(list, json_pack("{ss ss ss ss}", "name", s->name,
                                              "mode", s->mode == LBD_MODE_HTTP ? "http" : "tcp",
                                              "listen", s->listen.text, "pool", s->pool_name));
    }
    return list;
}

static json_t *
events_json(void)
{
    struct lbd_shm_event ev[STATUS_EVENTS];
    unsigned             n = lbd_stats_events_read(ev, STATUS_EVENTS);
    json_t              *list = json_array();

    /* The ring keeps SQL NULL as "": null again here, as /api/events has it. */
#define OR_NULL(s) ((s)[0] != '\0' ? json_string(s) : json_null())
    for (unsigned i = 0; list != NULL && i < n; i++) {
        json_t *o = json_pack("{sI ss ss so so ss so so so}", "id", (json_int_t) ev[i].id,
                              "at", ev[i].at, "actor", ev[i].actor, "pool", OR_NULL(ev[i].pool),
                              "backend", OR_NULL(ev[i].backend), "what", ev[i].what,
                              "old", OR_NULL(ev[i].old), "new", OR_NULL(ev[i].new_),
                              "detail", OR_NULL(ev[i].detail));

        json_array_append_new(list, o);
    }
#undef OR_NULL
    return list;
}

static void
serve_status_json(struct lbd_worker *w, struct evhttp_request *req)
{
    const struct lbd_conf *conf = w->cycle->conf;
    json_t                *root, *strategies = json_array(), *bounds = json_array();
    struct timeval         now;
    struct evbuffer       *body = evbuffer_new();
    char                  *text = NULL;

    gettimeofday(&now, NULL);
    for (unsigned i = 0; strategies != NULL && i < lbd_strategy_count(); i++)
        json_array_append_new(strategies, json_string(lbd_strategy_at(i)->name));
    for (unsigned b = 0; bounds != NULL && b < LBD_HIST_BUCKETS - 1; b++)
        json_array_append_new(bounds, json_real((double) lbd_stats_bounds_us[b] / 1000));
    root = json_pack("{ss sI sI s{si si} sb so so so so so so}",
                     "version", LBD_VERSION,
                     "now_ms", (json_int_t) now.tv_sec * 1000 + now.tv_usec / 1000,
                     "generation", (json_int_t) (lbd_shm ? lbd_shm_generation(lbd_shm) : 0),
                     "worker", "slot", w->wslot, "pid", (int) getpid(),
                     "token_required", conf->admin.token != NULL,
                     "strategies", strategies,
                     "latency_buckets_ms", bounds,
                     "services", services_json(conf),
                     "pools", pools_json(w, state_of(w)),
                     "workers", workers_json(),
                     "events", events_json());
    if (root != NULL)
        text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (text == NULL || body == NULL) {
        free(text);
        if (body != NULL)
            evbuffer_free(body);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(body, text, strlen(text));
    evbuffer_add(body, "\n", 1);
    free(text);
    send_body(req, 200, "OK", "application/json", body);
    evbuffer_free(body);
}

/* --- /metrics: Prometheus text format 0.0.4 --- */

/* A label value: backslash, double quote and newline escaped. */
static void
label(struct evbuffer *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            evbuffer_add_printf(b, "\\%c", *v);
        else if (*v == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, v, 1);
    }
}

static void
family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels of a series: backend ones (pool, backend) or worker ones (worker). */
struct series {
    const char *pool, *backend;
    int         worker;             /* -1: a backend's series */
};

static void
labels(struct evbuffer *b, const struct series *s, const char *extra_name, const char *extra)
{
    evbuffer_add(b, "{", 1);
    if (s->worker >= 0) {
        evbuffer_add_printf(b, "worker=\"%d\"", s->worker);
    } else {
        evbuffer_add(b, "pool=\"", 6);
        label(b, s->pool);
        evbuffer_add(b, "\",backend=\"", 11);
        label(b, s->backend);
        evbuffer_add(b, "\"", 1);
    }
    if (extra_name != NULL) {
        evbuffer_add_printf(b, ",%s=\"", extra_name);
        label(b, extra);
        evbuffer_add(b, "\"", 1);
    }
    evbuffer_add(b, "}", 1);
}

/* Every series of one set of counters, in the families' order. */
struct metrics_src {
    struct series               s;
    const struct lbd_shm_stats *stats;
    int64_t                     active;
    int64_t                     up, weight;                 /* backends' */
    int64_t                     buffer_bytes, bulk_buffers; /* workers' */
};

/* One gauge family of the int64_t at offset in each src. */
static void
gauges(struct evbuffer *b, const char *name, const char *help, const struct metrics_src *src,
       unsigned n, size_t offset)
{
    family(b, name, "gauge", help);
    for (unsigned i = 0; i < n; i++) {
        evbuffer_add_printf(b, "%s", name);
        labels(b, &src[i].s, NULL, NULL);
        evbuffer_add_printf(b, " %lld\n",
                            (long long) *(const int64_t *) ((const char *) &src[i] + offset));
    }
}

static uint64_t
counter(const struct lbd_shm_stats *s, unsigned i)
{
    return atomic_load_explicit(&((struct lbd_shm_stats *) s)->c[i], memory_order_relaxed);
}

static const struct {
    const char *suffix, *help;
    unsigned    stat;
} simple_counters[] = {
    { "connections_total", "Connections established (backend) or accepted (worker).",
      LBD_STAT_CONNS },
    { "requests_total", "HTTP requests sent to the backend or read from clients.",
      LBD_STAT_REQUESTS },
    { "received_bytes_total", "Bytes read from the backend or from clients.",
      LBD_STAT_BYTES_IN },
    { "sent_bytes_total", "Bytes written to the backend or to clients.",
      LBD_STAT_BYTES_OUT },
};

/*
 * A counter family: for each series, the counters from..to, one sample each;
 * labelled label="<the counter's name>" when label is set (from..to is a
 * range of kinds), unlabelled when it is NULL (from == to).
 */
static void
counter_family(struct evbuffer *b, const char *name, const char *help,
               const struct metrics_src *src, unsigned n, const char *label,
               unsigned from, unsigned to)
{
    family(b, name, "counter", help);
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = from; k <= to; k++) {
            evbuffer_add_printf(b, "%s", name);
            labels(b, &src[i].s, label, label != NULL ? lbd_stat_names[k] : NULL);
            evbuffer_add_printf(b, " %llu\n", (unsigned long long) counter(src[i].stats, k));
        }
}

static void
metrics_set(struct evbuffer *b, const char *prefix, const struct metrics_src *src, unsigned n)
{
    char name[96];

    snprintf(name, sizeof(name), "%s_active_connections", prefix);
    family(b, name, "gauge", "Connections open now.");
    for (unsigned i = 0; i < n; i++) {
        evbuffer_add_printf(b, "%s", name);
        labels(b, &src[i].s, NULL, NULL);
        evbuffer_add_printf(b, " %lld\n", (long long) (src[i].active < 0 ? 0 : src[i].active));
    }
    for (size_t c = 0; c < sizeof(simple_counters) / sizeof(simple_counters[0]); c++) {
        snprintf(name, sizeof(name), "%s_%s", prefix, simple_counters[c].suffix);
        counter_family(b, name, simple_counters[c].help, src, n, NULL,
                       simple_counters[c].stat, simple_counters[c].stat);
    }
    snprintf(name, sizeof(name), "%s_errors_total", prefix);
    counter_family(b, name, "Backend errors by kind: connect, timeout, reset, http_5xx.",
                   src, n, "kind", LBD_STAT_ERR_CONNECT, LBD_STAT_ERR_5XX);
    snprintf(name, sizeof(name), "%s_responses_total", prefix);
    counter_family(b, name, "HTTP responses by status class.", src, n, "code",
                   LBD_STAT_1XX, LBD_STAT_5XX);
    for (unsigned l = 0; l < LBD_LATS; l++) {
        static const char *const help[LBD_LATS] = {
            "Time to establish a connection to the backend.",
            "Time from the request sent to the backend to the response's first byte.",
            "Time from the request's first byte to the response's last (tcp: the "
            "connection's life).",
        };

        snprintf(name, sizeof(name), "%s_%s_seconds", prefix, lbd_lat_names[l]);
        family(b, name, "histogram", help[l]);
        for (unsigned i = 0; i < n; i++) {
            struct lbd_hist_snap h;
            uint64_t             cum = 0;
            char                 le[32];

            lbd_stats_hist_read(&src[i].stats->lat[l], &h);
            for (unsigned k = 0; k < LBD_HIST_BUCKETS; k++) {
                cum += h.counts[k];
                if (k < LBD_HIST_BUCKETS - 1)
                    snprintf(le, sizeof(le), "%g", (double) lbd_stats_bounds_us[k] / 1e6);
                else
                    snprintf(le, sizeof(le), "+Inf");
                evbuffer_add_printf(b, "%s_bucket", name);
                labels(b, &src[i].s, "le", le);
                evbuffer_add_printf(b, " %llu\n", (unsigned long long) cum);
            }
            evbuffer_add_printf(b, "%s_sum", name);
            labels(b, &src[i].s, NULL, NULL);
            evbuffer_add_printf(b, " %.6f\n", (double) h.sum_us / 1e6);
            evbuffer_add_printf(b, "%s_count", name);
            labels(b, &src[i].s, NULL, NULL);
            evbuffer_add_printf(b, " %llu\n", (unsigned long long) cum);
        }
    }
}

static void
serve_metrics(struct lbd_worker *w, struct evhttp_request *req)
{
    const struct lbd_reg_state *st = state_of(w);
    struct evbuffer            *b = evbuffer_new();
    struct metrics_src         *src = NULL;
    char                      (*addrs)[300] = NULL;
    unsigned                    n = 0, cap = 0;
    int64_t                     now_ms = lbd_mono_ms();

    for (unsigned p = 0; st != NULL && p < st->npools; p++)
        cap += st->pools[p].nbackends;
    cap = cap > LBD_SHM_WORKERS ? cap : LBD_SHM_WORKERS;
    src = calloc(cap, sizeof(*src));
    addrs = calloc(cap, sizeof(*addrs));
    if (b == NULL || src == NULL || addrs == NULL) {
        free(src);
        free(addrs);
        if (b != NULL)
            evbuffer_free(b);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    family(b, "lbd_generation", "gauge", "The registry generation last published.");
    evbuffer_add_printf(b, "lbd_generation %llu\n",
                        (unsigned long long) (lbd_shm ? lbd_shm_generation(lbd_shm) : 0));
    family(b, "lbd_pool_info", "gauge", "A pool and its strategy (always 1).");
    for (unsigned p = 0; st != NULL && p < st->npools; p++) {
        evbuffer_add(b, "lbd_pool_info{pool=\"", 20);
        label(b, st->pools[p].name);
        evbuffer_add(b, "\",strategy=\"", 12);
        label(b, st->pools[p].strategy);
        evbuffer_add(b, "\"} 1\n", 5);
    }

    /* The backends: their state and weight first, then their traffic. */
    for (unsigned p = 0; st != NULL && p < st->npools; p++) {
        const struct lbd_reg_pool *rp = &st->pools[p];

        for (unsigned i = 0; i < rp->nbackends; i++) {
            const struct lbd_reg_backend *rb = &rp->backends[i];
            struct live                   l;

            live_of(rb, now_ms, &l);
            lbd_reg_backend_address(rb, addrs[n], sizeof(addrs[n]));
            src[n].s.pool = rp->name;
            src[n].s.backend = addrs[n];
            src[n].s.worker = -1;
            src[n].stats = l.s != NULL ? &l.s->stats : &no_traffic;
            src[n].active = l.active;
            src[n].up = strcmp(l.status, "up") == 0 || strcmp(l.status, "draining") == 0;
            src[n].weight = rb->weight;
            n++;
        }
    }
    gauges(b, "lbd_backend_up",
           "1 when the backend takes or finishes traffic (up or draining), else 0.",
           src, n, offsetof(struct metrics_src, up));
    gauges(b, "lbd_backend_weight", "The backend's weight.", src, n,
           offsetof(struct metrics_src, weight));
    metrics_set(b, "lbd_backend", src, n);

    /* The workers: every slot a live worker holds. */
    n = 0;
    for (int i = 0; lbd_shm != NULL && i < LBD_SHM_WORKERS; i++) {
        struct lbd_shm_worker *sw = &lbd_shm->workers[i];

        if (atomic_load(&sw->pid) <= 0)
            continue;
        src[n].s.worker = i;
        src[n].stats = &sw->stats;
        src[n].active = (int64_t) atomic_load(&sw->active);
        src[n].buffer_bytes = (int64_t) atomic_load(&sw->buffer_bytes);
        src[n].bulk_buffers = (int64_t) atomic_load(&sw->bulk_buffers);
        n++;
    }
    metrics_set(b, "lbd_worker", src, n);
    gauges(b, "lbd_worker_buffer_bytes",
           "Bytes of proxy buffers the worker's connections hold (bytes in flight).",
           src, n, offsetof(struct metrics_src, buffer_bytes));
    gauges(b, "lbd_worker_bulk_buffers",
           "Bulk buffers the worker's connections hold (at most proxy_bulk_buffers).",
           src, n, offsetof(struct metrics_src, bulk_buffers));

    free(src);
    free(addrs);
    send_body(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

int
lbd_status_serve(struct lbd_worker *w, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char              *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type     cmd = evhttp_request_get_command(req);

    if (path == NULL || path[0] != '/')
        return 0;
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
        return 0;
    if (strcmp(path, "/status.json") == 0) {
        serve_status_json(w, req);
        return 1;
    }
    if (strcmp(path, "/metrics") == 0) {
        serve_metrics(w, req);
        return 1;
    }
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    /* Only the files read at start, by their plain name: no path ever reaches the disk. */
    for (unsigned i = 0; i < w->nfiles; i++)
        if (strcmp(path + 1, w->files[i].name) == 0) {
            serve_file(req, &w->files[i]);
            return 1;
        }
    return 0;
}
