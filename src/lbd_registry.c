/*
 * lbd_registry.c - the registry's connection, statements and transactions,
 * and reading it (see lbd_registry.h for the tables, the processes and the
 * rules; lbd_registry_write.c for the changes).
 *
 * The rules that must hold whoever writes, lbd or an operator's sqlite3
 * session, live in the schema (lbd_registry_schema.c): CHECKs, triggers
 * that refuse unknown pools and strategies, triggers that bump
 * meta.generation and log events.  The C side adds what only lbd knows:
 * messages that name the value, shared-memory slots, the config file.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_log.h"
#include "lbd_registry_int.h"
#include "lbd_registry_schema.h"

/* meta.actor outside lbd's own transactions. */
#define ACTOR_OUTSIDE   "sqlite edit"

#define BACKEND_COLS \
    "id, pool, host, port, weight, state, source, slot, resolved, created, updated, health"

static const char sql_generation[] = "SELECT value FROM meta WHERE key = 'generation'";
static const char sql_actor[] = "UPDATE meta SET value = ?1 WHERE key = 'actor'";


/* --- statements and errors --- */

static int
vrun(struct lbd_registry *reg, sqlite3_stmt **out, const char *sql, const char *fmt,
     va_list ap)
{
    sqlite3_stmt *s = NULL;
    int           rc = SQLITE_OK;

    for (unsigned i = 0; i < reg->nstmts && s == NULL; i++)
        if (reg->stmts[i].sql == sql)
            s = reg->stmts[i].stmt;
    if (s == NULL) {
        /* The statements are the constants of two files: the cache cannot fill. */
        assert(reg->nstmts < LBD_REG_STMTS);
        if (reg->nstmts == LBD_REG_STMTS)
            return SQLITE_MISUSE;
        rc = sqlite3_prepare_v3(reg->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK)
            return rc;
        reg->stmts[reg->nstmts].sql = sql;
        reg->stmts[reg->nstmts++].stmt = s;
    }
    for (int i = 1; rc == SQLITE_OK && *fmt; fmt++, i++) {
        if (*fmt == 't')
            rc = sqlite3_bind_text(s, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (*fmt == 'i')
            rc = sqlite3_bind_int(s, i, va_arg(ap, int));
        else if (*fmt == 'l')
            rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
        else
            rc = SQLITE_MISUSE;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        sqlite3_reset(s);
    *out = s;
    return rc;
}

int
lbd__reg_run(struct lbd_registry *reg, sqlite3_stmt **s, const char *sql, const char *fmt, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, fmt);
    rc = vrun(reg, s, sql, fmt, ap);
    va_end(ap);
    return rc;
}

int
lbd__reg_next(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    if (rc != SQLITE_ROW)
        sqlite3_reset(s);
    return rc;
}

int
lbd__reg_sqlerr(struct lbd_registry *reg, int rc, char *err, size_t errlen)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        /* A CHECK or a trigger: the schema refused the row, so the value was bad. */
        snprintf(err, errlen, "the registry refused the change: %s", sqlite3_errmsg(reg->db));
        return LBD_REG_INVALID;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        snprintf(err, errlen, "registry %s stayed locked by another connection for more "
                 "than %d ms; try again", reg->path, reg->busy_ms);
        return LBD_REG_BUSY;
    default:
        snprintf(err, errlen, "registry %s: %s", reg->path, sqlite3_errmsg(reg->db));
        return LBD_REG_ERROR;
    }
}

int
lbd__reg_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

int
lbd__reg_exec(struct lbd_registry *reg, char *err, size_t errlen, const char *sql,
              const char *fmt, ...)
{
    sqlite3_stmt *s;
    va_list       ap;
    int           rc;

    va_start(ap, fmt);
    rc = vrun(reg, &s, sql, fmt, ap);
    va_end(ap);
    if (rc == SQLITE_ROW)
        sqlite3_reset(s);
    else if (rc != SQLITE_DONE)
        return lbd__reg_sqlerr(reg, rc, err, errlen);
    return LBD_REG_OK;
}

int
lbd__reg_int64(struct lbd_registry *reg, int64_t *out, char *err, size_t errlen,
               const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s;
    va_list       ap;
    int           rc;

    va_start(ap, fmt);
    rc = vrun(reg, &s, sql, fmt, ap);
    va_end(ap);
    if (rc == SQLITE_DONE)
        return LBD_REG_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return lbd__reg_sqlerr(reg, rc, err, errlen);
    *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return LBD_REG_OK;
}


/* --- transactions --- */

/* Roll back whatever is open; every statement is reset first so none holds it. */
static void
rollback(struct lbd_registry *reg)
{
    if (sqlite3_get_autocommit(reg->db))
        return;
    for (unsigned i = 0; i < reg->nstmts; i++)
        sqlite3_reset(reg->stmts[i].stmt);
    sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

int
lbd__reg_actor(struct lbd_registry *reg, const char *actor, char *err, size_t errlen)
{
    int rc;

    if (reg->actor_set)
        return LBD_REG_OK;
    rc = lbd__reg_exec(reg, err, errlen, sql_actor, "t", actor);
    reg->actor_set = rc == LBD_REG_OK;
    return rc;
}

int
lbd__reg_begin(struct lbd_registry *reg, const char *actor, char *err, size_t errlen)
{
    int rc = lbd__reg_exec(reg, err, errlen, "BEGIN IMMEDIATE", "");

    reg->actor_set = 0;
    if (rc == LBD_REG_OK && actor != NULL
        && (rc = lbd__reg_actor(reg, actor, err, errlen)) != LBD_REG_OK)
        rollback(reg);
    return rc;
}

/* meta.generation; a file without one is not a registry lbd can use. */
static int
read_generation(struct lbd_registry *reg, int64_t *gen, char *err, size_t errlen)
{
    int rc = lbd__reg_int64(reg, gen, err, errlen, sql_generation, "");

    if (rc == LBD_REG_NOT_FOUND)
        rc = lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry %s has no generation in "
                           "meta", reg->path);
    return rc;
}

int
lbd__reg_end(struct lbd_registry *reg, int rc, uint64_t *generation, char *err, size_t errlen)
{
    int64_t gen = 0;

    if (rc == LBD_REG_OK && reg->actor_set)
        rc = lbd__reg_exec(reg, err, errlen, sql_actor, "t", ACTOR_OUTSIDE);
    if (rc == LBD_REG_OK)
        rc = read_generation(reg, &gen, err, errlen);
    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, "COMMIT", "");
    reg->actor_set = 0;
    if (rc != LBD_REG_OK)
        rollback(reg);
    else if (generation != NULL)
        *generation = (uint64_t) gen;
    return rc;
}


/* --- names --- */

/* The index of name in names[0..n), or -1. */
static int
name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (name != NULL && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static const char *const state_names[] = { "up", "drain", "disabled" };

const char *
lbd_backend_state_name(enum lbd_backend_state s)
{
    return (unsigned) s < 3 ? state_names[s] : "?";
}

int
lbd_backend_state_parse(const char *name)
{
    return name_index(state_names, 3, name);
}

void
lbd_reg_backend_address(const struct lbd_reg_backend *b, char *buf, size_t len)
{
    snprintf(buf, len, strchr(b->host, ':') ? "[%s]:%d" : "%s:%d", b->host, b->port);
}

const char *
lbd_source_name(enum lbd_source s)
{
    return s == LBD_SOURCE_API ? "api" : "config";
}

/* In enum lbd_health order. */
static const char *const health_names[] = { "unknown", "up", "down" };

const char *
lbd_health_name(enum lbd_health h)
{
    return (unsigned) h < 3 ? health_names[h] : "?";
}

int
lbd_health_parse(const char *name)
{
    return name_index(health_names, 3, name);
}

void
lbd__reg_backend_text(const char *host, int port, char *buf, size_t len)
{
    int n = snprintf(buf, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

    (void) n;   /* a long name is cut short: the text is for people to read */
}


/* --- open, close, migrate --- */

/* Run a PRAGMA or a script; LBD_REG_OK or the error. */
static int
exec_script(struct lbd_registry *reg, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? LBD_REG_OK : lbd__reg_sqlerr(reg, rc, err, errlen);
}

/* WAL lets workers read while a writer writes: a writer insists on it. */
static int
set_wal(struct lbd_registry *reg, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int           rc = sqlite3_prepare_v2(reg->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    char          mode[16] = "";

    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *m = sqlite3_column_text(s, 0);

        snprintf(mode, sizeof(mode), "%s", m ? (const char *) m : "");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return lbd__reg_sqlerr(reg, rc, err, errlen);
    if (strcmp(mode, "wal") != 0)
        return lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry %s: cannot use WAL mode "
                             "(the journal stays \"%s\"); put the file on a local file system",
                             reg->path, mode);
    return LBD_REG_OK;
}

struct lbd_registry *
lbd_registry_open(const char *path, int readonly, int busy_ms, char *err, size_t errlen)
{
    struct lbd_registry *reg = calloc(1, sizeof(*reg));
    /* Readers too open read-write: a WAL reader writes the -shm index. */
    int                  flags = SQLITE_OPEN_READWRITE | (readonly ? 0 : SQLITE_OPEN_CREATE);
    int                  rc;

    if (reg == NULL || (reg->path = strdup(path)) == NULL) {
        free(reg);
        snprintf(err, errlen, "registry %s: out of memory", path);
        return NULL;
    }
    reg->busy_ms = busy_ms;
    rc = sqlite3_open_v2(path, &reg->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open registry %s: %s", path,
                 reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
        lbd_registry_close(reg);
        return NULL;
    }
    sqlite3_busy_timeout(reg->db, busy_ms);
    rc = readonly ? exec_script(reg, "PRAGMA query_only=1", err, errlen)
                  : set_wal(reg, err, errlen);
    if (rc == LBD_REG_OK)
        rc = exec_script(reg, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                         "PRAGMA recursive_triggers=OFF", err, errlen);
    if (rc != LBD_REG_OK) {
        lbd_registry_close(reg);
        return NULL;
    }
    return reg;
}

void
lbd_registry_close(struct lbd_registry *reg)
{
    if (reg == NULL)
        return;
    for (unsigned i = 0; i < reg->nstmts; i++)
        sqlite3_finalize(reg->stmts[i].stmt);
    sqlite3_close(reg->db);
    free(reg->path);
    free(reg);
}

/* The schema version of the file, 0 when it is empty; inside a transaction. */
static int
schema_version(struct lbd_registry *reg, int64_t *version, char *err, size_t errlen)
{
    static const char sql_tables[] = "SELECT count(*) FILTER (WHERE name = 'meta'), count(*) "
                                     "FROM sqlite_schema WHERE type = 'table'";
    sqlite3_stmt     *s;
    int               rc = lbd__reg_run(reg, &s, sql_tables, "");
    int               has_meta, tables;

    if (rc != SQLITE_ROW)
        return lbd__reg_sqlerr(reg, rc, err, errlen);
    has_meta = sqlite3_column_int(s, 0);
    tables = sqlite3_column_int(s, 1);
    sqlite3_reset(s);
    *version = 0;
    if (!has_meta && tables == 0)
        return LBD_REG_OK;
    rc = !has_meta ? LBD_REG_NOT_FOUND : lbd__reg_int64(reg, version, err, errlen,
        "SELECT value FROM meta WHERE key = 'schema_version'", "");
    if (rc == LBD_REG_NOT_FOUND)
        rc = lbd__reg_fail(LBD_REG_ERROR, err, errlen, "%s is not an lbd registry (it has "
                           "%s); move it away or set registry to another file", reg->path,
                           has_meta ? "no schema_version in meta" : "tables but no meta table");
    return rc;
}

int
lbd_registry_migrate(struct lbd_registry *reg, char *err, size_t errlen)
{
    int64_t version = 0;
    int     rc = lbd__reg_begin(reg, NULL, err, errlen);

    if (rc == LBD_REG_OK)
        rc = schema_version(reg, &version, err, errlen);
    if (rc == LBD_REG_OK && version < 0)
        rc = lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry %s has schema_version %lld, "
                           "which no lbd writes", reg->path, (long long) version);
    if (rc == LBD_REG_OK && version > LBD_REG_SCHEMA_VERSION)
        rc = lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry %s was written by a newer "
                           "lbd (schema %lld, this lbd knows %d)", reg->path,
                           (long long) version, LBD_REG_SCHEMA_VERSION);
    /* Step by step, all in this one transaction: a failed step leaves the old file. */
    for (int64_t v = version; rc == LBD_REG_OK && v < LBD_REG_SCHEMA_VERSION; v++) {
        rc = exec_script(reg, lbd_registry_migrations[v], err, errlen);
        if (rc == LBD_REG_OK)
            rc = lbd__reg_exec(reg, err, errlen, "UPDATE meta SET value = ?1 WHERE key = "
                               "'schema_version'", "l", v + 1);
    }
    rc = lbd__reg_end(reg, rc, NULL, err, errlen);
    if (rc == LBD_REG_OK && version < LBD_REG_SCHEMA_VERSION)
        lbd_log(LBD_LOG_NOTICE, "registry %s: schema %s version %d", reg->path,
                version == 0 ? "created at" : "upgraded to", LBD_REG_SCHEMA_VERSION);
    return rc;
}


/* --- rows --- */

static void
col_copy(sqlite3_stmt *s, int col, char *buf, size_t len)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    int                  n = snprintf(buf, len, "%s", t ? (const char *) t : "");

    (void) n;   /* the schema bounds every column copied here to its buffer */
}

/*
 * A backends row, in BACKEND_COLS order, into b.  addr is routable only
 * with a slot and a numeric address (resolved, or the host itself); its
 * text is always "host:port" as written, for logs.
 */
static void
row_backend(sqlite3_stmt *s, struct lbd_reg_backend *b)
{
    const char *resolved = (const char *) sqlite3_column_text(s, 8);
    char        text[sizeof(b->addr.text)];
    int         health;

    b->id = sqlite3_column_int64(s, 0);
    col_copy(s, 2, b->host, sizeof(b->host));
    b->port = sqlite3_column_int(s, 3);
    b->weight = sqlite3_column_int(s, 4);
    b->state = (enum lbd_backend_state) lbd_backend_state_parse(
                   (const char *) sqlite3_column_text(s, 5));
    b->source = strcmp((const char *) sqlite3_column_text(s, 6), "api") == 0
                ? LBD_SOURCE_API : LBD_SOURCE_CONFIG;
    b->slot = sqlite3_column_type(s, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 7);
    if (b->slot < 0 || lbd_addr_numeric(resolved ? resolved : b->host, b->port, &b->addr) == -1)
        memset(&b->addr, 0, sizeof(b->addr));
    lbd__reg_backend_text(b->host, b->port, text, sizeof(text));
    memcpy(b->addr.text, text, sizeof(text));
    col_copy(s, 9, b->created, sizeof(b->created));
    col_copy(s, 10, b->updated, sizeof(b->updated));
    health = lbd_health_parse((const char *) sqlite3_column_text(s, 11));
    b->health = health < 0 ? LBD_HEALTH_UNKNOWN : (enum lbd_health) health;
}

int
lbd__reg_backend_get(struct lbd_registry *reg, int64_t id, struct lbd_reg_backend *out,
                     char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int           rc = lbd__reg_run(reg, &s, "SELECT " BACKEND_COLS " FROM backends "
                                    "WHERE id = ?1", "l", id);

    if (rc == SQLITE_DONE)
        return lbd__reg_fail(LBD_REG_NOT_FOUND, err, errlen, "no backend with id %lld",
                             (long long) id);
    if (rc != SQLITE_ROW)
        return lbd__reg_sqlerr(reg, rc, err, errlen);
    row_backend(s, out);
    sqlite3_reset(s);
    return LBD_REG_OK;
}

int
lbd__reg_pool_find(struct lbd_registry *reg, const char *pool, char *err, size_t errlen)
{
    int64_t one;
    int     rc = lbd__reg_int64(reg, &one, err, errlen, "SELECT 1 FROM pools WHERE name = ?1",
                                "t", pool);

    if (rc == LBD_REG_NOT_FOUND)
        return lbd__reg_fail(rc, err, errlen, "no pool \"%s\"", pool);
    return rc;
}

int
lbd__reg_backend_find(struct lbd_registry *reg, const char *pool, const char *ref,
                      struct lbd_reg_backend *out, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    size_t        len = strlen(ref);
    char          host[256], msg[128];
    int           port, rc;

    if ((rc = lbd__reg_pool_find(reg, pool, err, errlen)) != LBD_REG_OK)
        return rc;
    if (len > 0 && len <= 18 && strspn(ref, "0123456789") == len)
        rc = lbd__reg_run(reg, &s, "SELECT " BACKEND_COLS " FROM backends WHERE pool = ?1 "
                          "AND id = ?2", "tl", pool, (int64_t) strtoll(ref, NULL, 10));
    else if (lbd_addr_split(ref, host, sizeof(host), &port, msg, sizeof(msg)) == 0)
        rc = lbd__reg_run(reg, &s, "SELECT " BACKEND_COLS " FROM backends WHERE pool = ?1 "
                          "AND host = ?2 AND port = ?3", "tti", pool, host, port);
    else
        rc = SQLITE_DONE;
    if (rc == SQLITE_DONE)
        return lbd__reg_fail(LBD_REG_NOT_FOUND, err, errlen, "pool \"%s\" has no backend "
                             "\"%s\"", pool, ref);
    if (rc != SQLITE_ROW)
        return lbd__reg_sqlerr(reg, rc, err, errlen);
    row_backend(s, out);
    sqlite3_reset(s);
    return LBD_REG_OK;
}


/* --- reading the whole registry --- */

/* Pools by name (at most max), with room for the backends counted with each. */
static int
read_pools(struct lbd_registry *reg, struct lbd_reg_state *st, unsigned max, unsigned *room,
           char *err, size_t errlen)
{
    static const char sql[] = "SELECT name, strategy, source, (SELECT count(*) FROM backends "
                              "WHERE pool = pools.name) FROM pools ORDER BY name";
    sqlite3_stmt     *s;
    int               rc;

    for (rc = lbd__reg_run(reg, &s, sql, ""); rc == SQLITE_ROW && st->npools < max;
         rc = lbd__reg_next(s)) {
        struct lbd_reg_pool *p = &st->pools[st->npools];
        int                  n = sqlite3_column_int(s, 3);

        col_copy(s, 0, p->name, sizeof(p->name));
        col_copy(s, 1, p->strategy, sizeof(p->strategy));
        p->source = strcmp((const char *) sqlite3_column_text(s, 2), "api") == 0
                    ? LBD_SOURCE_API : LBD_SOURCE_CONFIG;
        room[st->npools++] = (unsigned) n;
        if (n > 0 && (p->backends = calloc((size_t) n, sizeof(*p->backends))) == NULL) {
            sqlite3_reset(s);
            return lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
        }
    }
    if (rc == SQLITE_ROW)
        sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? LBD_REG_OK
                                                 : lbd__reg_sqlerr(reg, rc, err, errlen);
}

/*
 * Backends ordered by pool, id, into the pools (ordered by name: the same
 * BINARY order), walking both lists once.  A row whose pool is missing (a
 * write made with triggers off) is left out.
 */
static int
read_backends(struct lbd_registry *reg, struct lbd_reg_state *st, const unsigned *room,
              char *err, size_t errlen)
{
    sqlite3_stmt *s;
    unsigned      i = 0;
    int           rc;

    for (rc = lbd__reg_run(reg, &s, "SELECT " BACKEND_COLS " FROM backends ORDER BY pool, id",
                           ""); rc == SQLITE_ROW; rc = lbd__reg_next(s)) {
        const char          *pool = (const char *) sqlite3_column_text(s, 1);
        struct lbd_reg_pool *p;

        while (i < st->npools && strcmp(st->pools[i].name, pool) < 0)
            i++;
        p = &st->pools[i];
        if (i < st->npools && strcmp(p->name, pool) == 0 && p->nbackends < room[i])
            row_backend(s, &p->backends[p->nbackends++]);
    }
    return rc == SQLITE_DONE ? LBD_REG_OK : lbd__reg_sqlerr(reg, rc, err, errlen);
}

int
lbd_registry_read(struct lbd_registry *reg, struct lbd_reg_state **out,
                  char *err, size_t errlen)
{
    struct lbd_reg_state *st = calloc(1, sizeof(*st));
    unsigned             *room = NULL;
    int64_t               gen = 0, npools = 0;
    int                   rc;

    if (st == NULL)
        return lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
    /* One read transaction: every row below is from the same commit. */
    rc = lbd__reg_exec(reg, err, errlen, "BEGIN", "");
    if (rc == LBD_REG_OK)
        rc = read_generation(reg, &gen, err, errlen);
    if (rc == LBD_REG_OK)
        rc = lbd__reg_int64(reg, &npools, err, errlen, "SELECT count(*) FROM pools", "");
    if (rc == LBD_REG_OK) {
        st->pools = calloc((size_t) npools + 1, sizeof(*st->pools));
        room = calloc((size_t) npools + 1, sizeof(*room));
        if (st->pools == NULL || room == NULL)
            rc = lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
    }
    if (rc == LBD_REG_OK)
        rc = read_pools(reg, st, (unsigned) npools, room, err, errlen);
    if (rc == LBD_REG_OK)
        rc = read_backends(reg, st, room, err, errlen);
    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, "COMMIT", "");
    free(room);
    if (rc != LBD_REG_OK) {
        rollback(reg);
        lbd_reg_state_free(st);
        return rc;
    }
    st->generation = (uint64_t) gen;
    *out = st;
    return LBD_REG_OK;
}

void
lbd_reg_state_free(struct lbd_reg_state *state)
{
    if (state == NULL)
        return;
    for (unsigned i = 0; i < state->npools; i++)
        free(state->pools[i].backends);
    free(state->pools);
    free(state);
}

const struct lbd_reg_pool *
lbd_reg_state_pool(const struct lbd_reg_state *state, const char *name)
{
    unsigned lo = 0, hi = state->npools;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int      c = strcmp(state->pools[mid].name, name);

        if (c == 0)
            return &state->pools[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}


/* --- small reads --- */

int
lbd_registry_data_version(struct lbd_registry *reg, int64_t *version)
{
    char err[256];

    return lbd__reg_int64(reg, version, err, sizeof(err), "PRAGMA data_version", "")
           == LBD_REG_OK ? LBD_REG_OK : LBD_REG_ERROR;
}

int
lbd_registry_generation(struct lbd_registry *reg, uint64_t *generation)
{
    char    err[256];
    int64_t gen;
    int     rc = read_generation(reg, &gen, err, sizeof(err));

    if (rc == LBD_REG_OK)
        *generation = (uint64_t) gen;
    return rc;
}

/* Walk the rows of an events query (its columns as in events_query). */
static int
events_walk(struct lbd_registry *reg, sqlite3_stmt *s, int rc,
            void (*cb)(const struct lbd_reg_event *ev, void *arg), void *arg,
            char *err, size_t errlen)
{
    for (; rc == SQLITE_ROW; rc = lbd__reg_next(s)) {
        struct lbd_reg_event ev;

#define TEXT(i) ((const char *) sqlite3_column_text(s, (i)))
        ev.id = sqlite3_column_int64(s, 0);
        ev.at = TEXT(1);
        ev.actor = TEXT(2);
        ev.pool = TEXT(3);
        ev.backend = TEXT(4);
        ev.what = TEXT(5);
        ev.old = TEXT(6);
        ev.new_ = TEXT(7);
        ev.generation = (uint64_t) sqlite3_column_int64(s, 8);
        ev.detail = TEXT(9);
#undef TEXT
        cb(&ev, arg);
    }
    return rc == SQLITE_DONE ? LBD_REG_OK : lbd__reg_sqlerr(reg, rc, err, errlen);
}

#define EVENTS_COLUMNS "id, at, actor, pool, backend, what, old, new, generation, detail"

int
lbd_registry_events(struct lbd_registry *reg, int limit,
                    void (*cb)(const struct lbd_reg_event *ev, void *arg), void *arg,
                    char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int           rc;

    rc = lbd__reg_run(reg, &s, "SELECT " EVENTS_COLUMNS " FROM events ORDER BY id DESC LIMIT ?1",
                      "i", limit);
    return events_walk(reg, s, rc, cb, arg, err, errlen);
}

int
lbd_registry_events_after(struct lbd_registry *reg, int64_t after, int limit,
                          void (*cb)(const struct lbd_reg_event *ev, void *arg), void *arg,
                          char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int           rc;

    rc = lbd__reg_run(reg, &s, "SELECT * FROM (SELECT " EVENTS_COLUMNS " FROM events "
                      "WHERE id > ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id", "li",
                      after, limit);
    return events_walk(reg, s, rc, cb, arg, err, errlen);
}

int
lbd_registry_prune_events(struct lbd_registry *reg, int64_t keep, char *err, size_t errlen)
{
    /* No trigger watches events: no generation moves, no worker reloads. */
    return lbd__reg_exec(reg, err, errlen,
                         "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?",
                         "l", (int64_t) keep);
}
