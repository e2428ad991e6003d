/*
 * lbd_registry.c - the backend registry in SQLite (see lbd_registry.h for
 * the tables, the processes and the rules).
 *
 * Every statement lbd runs is in the q_sql table below and is prepared once
 * per connection, on first use (workers read often; a connection opened
 * before the schema exists prepares nothing until it is there).  The
 * invariants that must hold whoever writes, lbd or an operator's sqlite3
 * session, live in the schema itself (lbd_registry_schema.c): CHECKs,
 * triggers that refuse unknown pools and strategies, and triggers that bump
 * meta.generation and log events.  This file adds what only lbd knows:
 * messages that name the value, slots in shared memory, the config file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "lbd_log.h"
#include "lbd_registry.h"
#include "lbd_registry_schema.h"

/* meta.actor outside lbd's own transactions. */
#define ACTOR_OUTSIDE   "sqlite edit"

#define BACKEND_COLS \
    "id, pool, host, port, weight, state, source, slot, resolved, created, updated"

enum q {
    Q_BEGIN, Q_BEGIN_WRITE, Q_COMMIT, Q_ACTOR, Q_GENERATION, Q_DATA_VERSION,
    Q_META_TABLES, Q_SCHEMA_VERSION,
    Q_POOL_COUNT, Q_READ_POOLS, Q_READ_BACKENDS,
    Q_POOL_EXISTS, Q_BACKEND_BY_ID, Q_BACKEND_BY_ADDR, Q_BACKEND_GET,
    Q_BACKEND_INSERT, Q_BACKEND_SET, Q_BACKEND_DELETE, Q_POOL_STRATEGY,
    Q_SLOT_RETIRED, Q_SLOT_UNRETIRE, Q_SLOT_NEXT, Q_SLOT_COUNTS, Q_SLOT_SET,
    Q_FIXUP_ROWS, Q_RESOLVED_SET,
    Q_SYNC_STRATEGIES_DROP, Q_SYNC_STRATEGY, Q_SYNC_POOL, Q_SYNC_POOL_SEEN,
    Q_SYNC_BACKEND, Q_SYNC_BACKEND_SEEN, Q_SYNC_DROP_BACKENDS, Q_SYNC_KEPT_POOLS,
    Q_SYNC_DROP_POOLS,
    Q_EVENTS,
    Q_COUNT
};

static const char *const q_sql[Q_COUNT] = {
    [Q_BEGIN]          = "BEGIN",
    [Q_BEGIN_WRITE]    = "BEGIN IMMEDIATE",
    [Q_COMMIT]         = "COMMIT",
    [Q_ACTOR]          = "UPDATE meta SET value = ?1 WHERE key = 'actor'",
    [Q_GENERATION]     = "SELECT value FROM meta WHERE key = 'generation'",
    [Q_DATA_VERSION]   = "PRAGMA data_version",
    [Q_META_TABLES]    = "SELECT count(*) FILTER (WHERE name = 'meta'), count(*) "
                         "FROM sqlite_schema WHERE type = 'table'",
    [Q_SCHEMA_VERSION] = "SELECT value FROM meta WHERE key = 'schema_version'",

    [Q_POOL_COUNT]     = "SELECT count(*) FROM pools",
    [Q_READ_POOLS]     = "SELECT name, strategy, source, "
                         "(SELECT count(*) FROM backends WHERE pool = pools.name) "
                         "FROM pools ORDER BY name",
    [Q_READ_BACKENDS]  = "SELECT " BACKEND_COLS " FROM backends ORDER BY pool, id",

    [Q_POOL_EXISTS]     = "SELECT 1 FROM pools WHERE name = ?1",
    [Q_BACKEND_BY_ID]   = "SELECT " BACKEND_COLS " FROM backends WHERE pool = ?1 AND id = ?2",
    [Q_BACKEND_BY_ADDR] = "SELECT " BACKEND_COLS " FROM backends "
                          "WHERE pool = ?1 AND host = ?2 AND port = ?3",
    [Q_BACKEND_GET]     = "SELECT " BACKEND_COLS " FROM backends WHERE id = ?1",
    [Q_BACKEND_INSERT]  = "INSERT INTO backends (pool, host, port, weight, state, source, "
                          "resolved) VALUES (?1, ?2, ?3, ?4, ?5, 'api', ?6) RETURNING id",
    [Q_BACKEND_SET]     = "UPDATE backends SET weight = ?2, state = ?3 WHERE id = ?1",
    [Q_BACKEND_DELETE]  = "DELETE FROM backends WHERE id = ?1",
    [Q_POOL_STRATEGY]   = "UPDATE pools SET strategy = ?2 WHERE name = ?1",

    /* A retired slot whose generation no worker still holds, lowest first. */
    [Q_SLOT_RETIRED]   = "SELECT slot FROM retired_slots WHERE generation <= ?1 "
                         "AND slot NOT IN (SELECT slot FROM backends WHERE slot IS NOT NULL) "
                         "ORDER BY slot LIMIT 1",
    [Q_SLOT_UNRETIRE]  = "DELETE FROM retired_slots WHERE slot = ?1",
    /* Never used: above every slot a backend has or a retired one waits on. */
    [Q_SLOT_NEXT]      = "SELECT coalesce(max(s), -1) + 1 FROM (SELECT max(slot) AS s FROM "
                         "backends UNION ALL SELECT max(slot) FROM retired_slots)",
    [Q_SLOT_COUNTS]    = "SELECT (SELECT count(slot) FROM backends), "
                         "(SELECT count(*) FROM retired_slots)",
    [Q_SLOT_SET]       = "UPDATE backends SET slot = ?2 WHERE id = ?1",
    [Q_FIXUP_ROWS]     = "SELECT id, host, slot IS NULL, resolved IS NULL FROM backends "
                         "WHERE slot IS NULL OR resolved IS NULL ORDER BY id",
    [Q_RESOLVED_SET]   = "UPDATE backends SET resolved = ?2 WHERE id = ?1",

    /* Unregistered strategies go unless a pool still names one. */
    [Q_SYNC_STRATEGIES_DROP] = "DELETE FROM strategies WHERE name NOT IN "
                               "(SELECT strategy FROM pools)",
    [Q_SYNC_STRATEGY]  = "INSERT OR IGNORE INTO strategies (name) VALUES (?1)",
    /* The file's strategy wins only when the file changed it (conf_strategy). */
    [Q_SYNC_POOL]      = "INSERT INTO pools (name, strategy, source, conf_strategy) "
                         "VALUES (?1, ?2, 'config', ?2) ON CONFLICT (name) DO UPDATE SET "
                         "strategy = iif(conf_strategy IS excluded.conf_strategy, strategy, "
                         "excluded.strategy), conf_strategy = excluded.conf_strategy, "
                         "source = 'config'",
    [Q_SYNC_POOL_SEEN] = "INSERT OR IGNORE INTO temp.conf_pools (name) VALUES (?1)",
    /* Same rule for the weight; the state is the operator's, never the file's. */
    [Q_SYNC_BACKEND]   = "INSERT INTO backends (pool, host, port, weight, source, conf_weight, "
                         "resolved) VALUES (?1, ?2, ?3, ?4, 'config', ?4, ?5) "
                         "ON CONFLICT (pool, host, port) DO UPDATE SET "
                         "weight = iif(conf_weight IS excluded.conf_weight, weight, "
                         "excluded.weight), conf_weight = excluded.conf_weight, "
                         "source = 'config', resolved = coalesce(excluded.resolved, resolved)",
    [Q_SYNC_BACKEND_SEEN]  = "INSERT OR IGNORE INTO temp.conf_backends (pool, host, port) "
                             "VALUES (?1, ?2, ?3)",
    [Q_SYNC_DROP_BACKENDS] = "DELETE FROM backends WHERE source = 'config' AND NOT EXISTS "
                             "(SELECT 1 FROM temp.conf_backends c WHERE c.pool = backends.pool "
                             "AND c.host = backends.host AND c.port = backends.port)",
    [Q_SYNC_KEPT_POOLS]    = "SELECT name, count(*) FROM pools JOIN backends ON pool = name "
                             "WHERE pools.source = 'config' AND name NOT IN "
                             "(SELECT name FROM temp.conf_pools) GROUP BY name ORDER BY name",
    [Q_SYNC_DROP_POOLS]    = "DELETE FROM pools WHERE source = 'config' AND name NOT IN "
                             "(SELECT name FROM temp.conf_pools) AND NOT EXISTS "
                             "(SELECT 1 FROM backends WHERE pool = pools.name)",

    [Q_EVENTS]         = "SELECT id, at, actor, pool, backend, what, old, new, generation "
                         "FROM events ORDER BY id DESC LIMIT ?1",
};

/* What sync_conf compares the registry with: the file's pools and backends. */
static const char sync_tables_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS conf_pools (name TEXT PRIMARY KEY);"
    "CREATE TEMP TABLE IF NOT EXISTS conf_backends (pool TEXT, host TEXT, port INTEGER,"
    "    PRIMARY KEY (pool, host, port));"
    "DELETE FROM temp.conf_pools;"
    "DELETE FROM temp.conf_backends;";

struct lbd_registry {
    sqlite3      *db;
    char         *path;
    int           busy_ms;
    int           actor_set;        /* the open write transaction has set meta.actor */
    sqlite3_stmt *stmt[Q_COUNT];    /* prepared on first use, finalized by close */
};


/* --- statements and errors --- */

/*
 * Bind the arguments fmt describes ('t' const char *, NULL binds NULL; 'i'
 * int; 'l' int64_t) to statement id and step once.  Returns SQLITE_ROW with
 * the statement on its first row (read it, then q_next or q_reset),
 * SQLITE_DONE (reset), or an error code (reset; sqlite3_errmsg says why).
 */
static int
q_vrun(struct lbd_registry *reg, enum q id, const char *fmt, va_list ap)
{
    sqlite3_stmt *s = reg->stmt[id];
    int           rc = SQLITE_OK;

    if (s == NULL) {
        rc = sqlite3_prepare_v3(reg->db, q_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK)
            return rc;
        reg->stmt[id] = s;
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
    return rc;
}

static int
q_run(struct lbd_registry *reg, enum q id, const char *fmt, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, fmt);
    rc = q_vrun(reg, id, fmt, ap);
    va_end(ap);
    return rc;
}

/* The next row of a statement q_run left on a row: as q_run returns. */
static int
q_next(struct lbd_registry *reg, enum q id)
{
    int rc = sqlite3_step(reg->stmt[id]);

    if (rc != SQLITE_ROW)
        sqlite3_reset(reg->stmt[id]);
    return rc;
}

static void
q_reset(struct lbd_registry *reg, enum q id)
{
    sqlite3_reset(reg->stmt[id]);
}

/* The LBD_REG_* code for SQLite's rc (an error), with the reason in err. */
static int
sql_error(struct lbd_registry *reg, int rc, char *err, size_t errlen)
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

static int
fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Write a message for the operator into err and return code. */
static int
fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* Run a statement that returns no row: LBD_REG_OK or the error. */
static int
q_exec(struct lbd_registry *reg, enum q id, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, fmt);
    rc = q_vrun(reg, id, fmt, ap);
    va_end(ap);
    if (rc == SQLITE_ROW)
        q_reset(reg, id);
    else if (rc != SQLITE_DONE)
        return sql_error(reg, rc, err, errlen);
    return LBD_REG_OK;
}

/*
 * Run a statement and take column 0 of its first row into *out: LBD_REG_OK,
 * LBD_REG_NOT_FOUND when there is no row (err untouched), or the error.
 */
static int
q_int64(struct lbd_registry *reg, enum q id, int64_t *out, char *err, size_t errlen,
        const char *fmt, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, fmt);
    rc = q_vrun(reg, id, fmt, ap);
    va_end(ap);
    if (rc == SQLITE_DONE)
        return LBD_REG_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return sql_error(reg, rc, err, errlen);
    *out = sqlite3_column_int64(reg->stmt[id], 0);
    q_reset(reg, id);
    return LBD_REG_OK;
}


/* --- transactions --- */

/* Roll back whatever is open; every statement is reset first so none holds it. */
static void
txn_rollback(struct lbd_registry *reg)
{
    if (sqlite3_get_autocommit(reg->db))
        return;
    for (int i = 0; i < Q_COUNT; i++)
        if (reg->stmt[i] != NULL)
            sqlite3_reset(reg->stmt[i]);
    sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Record actor on the events the open write transaction makes from now on. */
static int
txn_actor(struct lbd_registry *reg, const char *actor, char *err, size_t errlen)
{
    int rc;

    if (reg->actor_set)
        return LBD_REG_OK;
    rc = q_exec(reg, Q_ACTOR, err, errlen, "t", actor);
    reg->actor_set = rc == LBD_REG_OK;
    return rc;
}

/*
 * BEGIN IMMEDIATE: the write lock now, so that what is validated stays true
 * until COMMIT.  actor NULL: set later with txn_actor, when there is work.
 */
static int
txn_begin(struct lbd_registry *reg, const char *actor, char *err, size_t errlen)
{
    int rc = q_exec(reg, Q_BEGIN_WRITE, err, errlen, "");

    reg->actor_set = 0;
    if (rc == LBD_REG_OK && actor != NULL && (rc = txn_actor(reg, actor, err, errlen)) != 0)
        txn_rollback(reg);
    return rc;
}

/* meta.generation; a file without one is not a registry lbd can use. */
static int
read_generation(struct lbd_registry *reg, int64_t *gen, char *err, size_t errlen)
{
    int rc = q_int64(reg, Q_GENERATION, gen, err, errlen, "");

    if (rc == LBD_REG_NOT_FOUND)
        rc = fail(LBD_REG_ERROR, err, errlen, "registry %s has no generation in meta",
                  reg->path);
    return rc;
}

/*
 * End a write transaction begun by txn_begin: with rc LBD_REG_OK put the
 * actor back, take the generation and COMMIT; otherwise, or when any of
 * that fails, ROLLBACK.  Returns the outcome.
 */
static int
txn_end(struct lbd_registry *reg, int rc, uint64_t *generation, char *err, size_t errlen)
{
    int64_t gen = 0;

    if (rc == LBD_REG_OK && reg->actor_set)
        rc = q_exec(reg, Q_ACTOR, err, errlen, "t", ACTOR_OUTSIDE);
    if (rc == LBD_REG_OK)
        rc = read_generation(reg, &gen, err, errlen);
    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_COMMIT, err, errlen, "");
    reg->actor_set = 0;
    if (rc != LBD_REG_OK)
        txn_rollback(reg);
    else if (generation != NULL)
        *generation = (uint64_t) gen;
    return rc;
}


/* --- names --- */

static const char *const state_names[] = { "up", "drain", "disabled" };

const char *
lbd_backend_state_name(enum lbd_backend_state s)
{
    return (unsigned) s < 3 ? state_names[s] : "?";
}

int
lbd_backend_state_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name != NULL && strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

const char *
lbd_source_name(enum lbd_source s)
{
    return s == LBD_SOURCE_API ? "api" : "config";
}

/* "host:port", or "[host]:port" for an IPv6 host, as the events table writes it. */
static void
backend_text(const char *host, int port, char *buf, size_t len)
{
    int n = snprintf(buf, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

    (void) n;   /* a long name is cut short: the text is for people to read */
}


/* --- open, close, migrate --- */

/* Run one PRAGMA or script; LBD_REG_OK, or LBD_REG_ERROR with "registry PATH: why". */
static int
exec_script(struct lbd_registry *reg, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? LBD_REG_OK : sql_error(reg, rc, err, errlen);
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
        return sql_error(reg, rc, err, errlen);
    if (strcmp(mode, "wal") != 0)
        return fail(LBD_REG_ERROR, err, errlen, "registry %s: cannot use WAL mode (the "
                    "journal stays \"%s\"); put the file on a local file system", reg->path,
                    mode);
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
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(reg->stmt[i]);
    sqlite3_close(reg->db);
    free(reg->path);
    free(reg);
}

/* The schema version of the file, 0 when it is empty; inside a transaction. */
static int
schema_version(struct lbd_registry *reg, int64_t *version, char *err, size_t errlen)
{
    int rc = q_run(reg, Q_META_TABLES, "");
    int has_meta, tables;

    if (rc != SQLITE_ROW)
        return sql_error(reg, rc, err, errlen);
    has_meta = sqlite3_column_int(reg->stmt[Q_META_TABLES], 0);
    tables = sqlite3_column_int(reg->stmt[Q_META_TABLES], 1);
    q_reset(reg, Q_META_TABLES);
    *version = 0;
    if (!has_meta && tables == 0)
        return LBD_REG_OK;
    rc = has_meta ? q_int64(reg, Q_SCHEMA_VERSION, version, err, errlen, "")
                  : LBD_REG_NOT_FOUND;
    if (rc == LBD_REG_NOT_FOUND)
        rc = fail(LBD_REG_ERROR, err, errlen, "%s is not an lbd registry (it has %s); "
                  "move it away or set registry to another file", reg->path,
                  has_meta ? "no schema_version in meta" : "tables but no meta table");
    return rc;
}

int
lbd_registry_migrate(struct lbd_registry *reg, char *err, size_t errlen)
{
    int64_t version = 0;
    int     rc = txn_begin(reg, NULL, err, errlen);

    if (rc == LBD_REG_OK)
        rc = schema_version(reg, &version, err, errlen);
    if (rc == LBD_REG_OK && version < 0)
        rc = fail(LBD_REG_ERROR, err, errlen, "registry %s has schema_version %lld, which "
                  "no lbd writes", reg->path, (long long) version);
    if (rc == LBD_REG_OK && version > LBD_REG_SCHEMA_VERSION)
        rc = fail(LBD_REG_ERROR, err, errlen, "registry %s was written by a newer lbd "
                  "(schema %lld, this lbd knows %d)", reg->path, (long long) version,
                  LBD_REG_SCHEMA_VERSION);
    /* Step by step, all in this one transaction: a failed step leaves the old file. */
    for (int64_t v = version; rc == LBD_REG_OK && v < LBD_REG_SCHEMA_VERSION; v++) {
        char sql[96];

        snprintf(sql, sizeof(sql), "UPDATE meta SET value = %lld WHERE key = "
                 "'schema_version'", (long long) v + 1);
        rc = exec_script(reg, lbd_registry_migrations[v], err, errlen);
        if (rc == LBD_REG_OK)
            rc = exec_script(reg, sql, err, errlen);
    }
    rc = txn_end(reg, rc, NULL, err, errlen);
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
    backend_text(b->host, b->port, text, sizeof(text));
    memcpy(b->addr.text, text, sizeof(text));
    col_copy(s, 9, b->created, sizeof(b->created));
    col_copy(s, 10, b->updated, sizeof(b->updated));
}

static int
backend_get(struct lbd_registry *reg, int64_t id, struct lbd_reg_backend *out,
            char *err, size_t errlen)
{
    int rc = q_run(reg, Q_BACKEND_GET, "l", id);

    if (rc == SQLITE_DONE)
        return fail(LBD_REG_NOT_FOUND, err, errlen, "no backend with id %lld", (long long) id);
    if (rc != SQLITE_ROW)
        return sql_error(reg, rc, err, errlen);
    row_backend(reg->stmt[Q_BACKEND_GET], out);
    q_reset(reg, Q_BACKEND_GET);
    return LBD_REG_OK;
}

static int
pool_find(struct lbd_registry *reg, const char *pool, char *err, size_t errlen)
{
    int64_t one;
    int     rc = q_int64(reg, Q_POOL_EXISTS, &one, err, errlen, "t", pool);

    if (rc == LBD_REG_NOT_FOUND)
        return fail(rc, err, errlen, "no pool \"%s\"", pool);
    return rc;
}

/*
 * The backend of pool that ref names: its id when ref is all digits, else
 * "host:port" ("[v6]:port") as stored.  NOT_FOUND names the pool or ref.
 */
static int
backend_find(struct lbd_registry *reg, const char *pool, const char *ref,
             struct lbd_reg_backend *out, char *err, size_t errlen)
{
    size_t len = strlen(ref);
    enum q id = Q_BACKEND_BY_ID;
    char   host[256], msg[128];
    int    port, rc;

    if ((rc = pool_find(reg, pool, err, errlen)) != LBD_REG_OK)
        return rc;
    if (len > 0 && len <= 18 && strspn(ref, "0123456789") == len)
        rc = q_run(reg, id, "tl", pool, (int64_t) strtoll(ref, NULL, 10));
    else if (lbd_addr_split(ref, host, sizeof(host), &port, msg, sizeof(msg)) == 0)
        rc = q_run(reg, id = Q_BACKEND_BY_ADDR, "tti", pool, host, port);
    else
        rc = SQLITE_DONE;
    if (rc == SQLITE_DONE)
        return fail(LBD_REG_NOT_FOUND, err, errlen, "pool \"%s\" has no backend \"%s\"",
                    pool, ref);
    if (rc != SQLITE_ROW)
        return sql_error(reg, rc, err, errlen);
    row_backend(reg->stmt[id], out);
    q_reset(reg, id);
    return LBD_REG_OK;
}


/* --- slots --- */

/*
 * Give backend id a shared-memory slot (see "Slot reuse" in lbd_shm.h): a
 * retired slot that no worker's snapshot can still count on, lowest first,
 * else one never used.  Its counters are reset here, before COMMIT: no
 * worker can see the row yet, and a rollback leaves a free slot zeroed.
 */
static int
slot_give(struct lbd_registry *reg, int64_t id, char *err, size_t errlen)
{
    uint64_t oldest = lbd_shm ? lbd_shm_oldest(lbd_shm) : LBD_SHM_NONE;
    int64_t  limit = oldest > INT64_MAX ? INT64_MAX : (int64_t) oldest;
    int64_t  slot, used = 0, retired = 0;
    int      rc = q_int64(reg, Q_SLOT_RETIRED, &slot, err, errlen, "l", limit);

    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_SLOT_UNRETIRE, err, errlen, "l", slot);
    else if (rc == LBD_REG_NOT_FOUND)
        rc = q_int64(reg, Q_SLOT_NEXT, &slot, err, errlen, "");
    if (rc != LBD_REG_OK)
        return rc;
    if (slot >= LBD_SHM_BACKENDS) {
        if (q_run(reg, Q_SLOT_COUNTS, "") == SQLITE_ROW) {
            used = sqlite3_column_int64(reg->stmt[Q_SLOT_COUNTS], 0);
            retired = sqlite3_column_int64(reg->stmt[Q_SLOT_COUNTS], 1);
            q_reset(reg, Q_SLOT_COUNTS);
        }
        return fail(LBD_REG_FULL, err, errlen, "no free backend slot (%lld in use, %lld "
                    "freed but still held by workers' older snapshots; the limit is %d); "
                    "remove backends, or wait for old connections to end", (long long) used,
                    (long long) retired, LBD_SHM_BACKENDS);
    }
    rc = q_exec(reg, Q_SLOT_SET, err, errlen, "ll", id, slot);
    if (rc == LBD_REG_OK && lbd_shm != NULL)
        lbd_shm_backend_reset(lbd_shm, (unsigned) slot, id);
    return rc;
}

struct fix_row {
    int64_t id;
    int     need_slot;
    char    resolved[64];       /* the numeric host to copy into resolved, or "" */
};

/*
 * Rows written from outside may lack a slot or, for a numeric host, the
 * resolved address: give them both.  Rows are collected before any is
 * changed (a statement must not walk rows it is changing).  Sets the actor
 * to 'lbd' only when there is work, when the transaction has none yet.
 */
static int
fixup_rows(struct lbd_registry *reg, char *err, size_t errlen)
{
    struct fix_row *rows = NULL, *r;
    size_t          n = 0, cap = 0;
    int             rc = q_run(reg, Q_FIXUP_ROWS, "");

    for (; rc == SQLITE_ROW; rc = q_next(reg, Q_FIXUP_ROWS)) {
        sqlite3_stmt   *s = reg->stmt[Q_FIXUP_ROWS];
        const char     *host = (const char *) sqlite3_column_text(s, 1);
        struct lbd_addr a;

        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            if ((r = realloc(rows, cap * sizeof(*rows))) == NULL) {
                q_reset(reg, Q_FIXUP_ROWS);
                free(rows);
                return fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
            }
            rows = r;
        }
        r = &rows[n];
        r->id = sqlite3_column_int64(s, 0);
        r->need_slot = sqlite3_column_int(s, 2);
        r->resolved[0] = '\0';
        if (sqlite3_column_int(s, 3) && strlen(host) < sizeof(r->resolved)
            && lbd_addr_numeric(host, 1, &a) == 0)
            memcpy(r->resolved, host, strlen(host) + 1);
        if (r->need_slot || r->resolved[0])
            n++;
    }
    rc = rc == SQLITE_DONE ? LBD_REG_OK : sql_error(reg, rc, err, errlen);
    if (rc == LBD_REG_OK && n > 0)
        rc = txn_actor(reg, "lbd", err, errlen);
    for (r = rows; rc == LBD_REG_OK && r < rows + n; r++) {
        if (r->resolved[0])
            rc = q_exec(reg, Q_RESOLVED_SET, err, errlen, "lt", r->id, r->resolved);
        if (rc == LBD_REG_OK && r->need_slot)
            rc = slot_give(reg, r->id, err, errlen);
    }
    free(rows);
    return rc;
}


/* --- the config file --- */

/* strategies lists what this lbd has compiled in (and what a pool still names). */
static int
sync_strategies(struct lbd_registry *reg, char *err, size_t errlen)
{
    int rc = q_exec(reg, Q_SYNC_STRATEGIES_DROP, err, errlen, "");

    for (unsigned i = 0; rc == LBD_REG_OK && i < lbd_strategy_count(); i++)
        rc = q_exec(reg, Q_SYNC_STRATEGY, err, errlen, "t", lbd_strategy_at(i)->name);
    return rc;
}

static int
sync_pool(struct lbd_registry *reg, const struct lbd_pool_conf *p, char *err, size_t errlen)
{
    int rc = q_exec(reg, Q_SYNC_POOL, err, errlen, "tt", p->name, p->strategy);

    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_SYNC_POOL_SEEN, err, errlen, "t", p->name);
    for (unsigned i = 0; rc == LBD_REG_OK && i < p->nbackends; i++) {
        const struct lbd_backend_conf *b = &p->backends[i];
        char                           host[256], resolved[64], msg[160];
        int                            port;

        /* The identity is the text as written; the address is what it resolved to. */
        if (lbd_addr_split(b->addr.text, host, sizeof(host), &port, msg, sizeof(msg)) == -1)
            return fail(LBD_REG_INVALID, err, errlen, "pool \"%s\": backend %s", p->name, msg);
        rc = q_exec(reg, Q_SYNC_BACKEND, err, errlen, "ttiit",
                    p->name, host, port, b->weight,
                    lbd_addr_host(&b->addr, resolved, sizeof(resolved)) == 0 ? resolved : NULL);
        if (rc == LBD_REG_OK)
            rc = q_exec(reg, Q_SYNC_BACKEND_SEEN, err, errlen, "tti", p->name, host, port);
    }
    return rc;
}

/*
 * What the file no longer declares: its backends go; its pools go once
 * empty, and are kept (with a warning) while they hold backends the API
 * added, which the file never touches.
 */
static int
sync_drop(struct lbd_registry *reg, const struct lbd_conf *conf, char *err, size_t errlen)
{
    int rc = q_exec(reg, Q_SYNC_DROP_BACKENDS, err, errlen, "");

    if (rc == LBD_REG_OK) {
        for (rc = q_run(reg, Q_SYNC_KEPT_POOLS, ""); rc == SQLITE_ROW;
             rc = q_next(reg, Q_SYNC_KEPT_POOLS)) {
            sqlite3_stmt *s = reg->stmt[Q_SYNC_KEPT_POOLS];

            lbd_log(LBD_LOG_WARN, "pool \"%s\" is no longer in %s but is kept: it still has "
                    "%d backend(s) added through the API (remove them, or declare the pool "
                    "again)", (const char *) sqlite3_column_text(s, 0),
                    conf->file ? conf->file : "the config file", sqlite3_column_int(s, 1));
        }
        rc = rc == SQLITE_DONE ? LBD_REG_OK : sql_error(reg, rc, err, errlen);
    }
    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_SYNC_DROP_POOLS, err, errlen, "");
    return rc;
}

int
lbd_registry_sync_conf(struct lbd_registry *reg, const struct lbd_conf *conf,
                       uint64_t *generation, char *err, size_t errlen)
{
    int rc = txn_begin(reg, "config", err, errlen);

    if (rc != LBD_REG_OK)
        return rc;
    rc = sync_strategies(reg, err, errlen);
    if (rc == LBD_REG_OK)
        rc = exec_script(reg, sync_tables_sql, err, errlen);
    for (unsigned i = 0; rc == LBD_REG_OK && i < conf->npools; i++)
        rc = sync_pool(reg, &conf->pools[i], err, errlen);
    if (rc == LBD_REG_OK)
        rc = sync_drop(reg, conf, err, errlen);
    /* New rows have no slot yet; rows edited in while lbd was down get theirs too. */
    if (rc == LBD_REG_OK)
        rc = fixup_rows(reg, err, errlen);
    return txn_end(reg, rc, generation, err, errlen);
}


/* --- reading the whole registry --- */

/* Pools by name (at most max), with room for the backends counted with each. */
static int
read_pools(struct lbd_registry *reg, struct lbd_reg_state *st, unsigned max, unsigned *room,
           char *err, size_t errlen)
{
    int rc = q_run(reg, Q_READ_POOLS, "");

    for (; rc == SQLITE_ROW && st->npools < max; rc = q_next(reg, Q_READ_POOLS)) {
        sqlite3_stmt        *s = reg->stmt[Q_READ_POOLS];
        struct lbd_reg_pool *p = &st->pools[st->npools];
        int                  n = sqlite3_column_int(s, 3);

        col_copy(s, 0, p->name, sizeof(p->name));
        col_copy(s, 1, p->strategy, sizeof(p->strategy));
        p->source = strcmp((const char *) sqlite3_column_text(s, 2), "api") == 0
                    ? LBD_SOURCE_API : LBD_SOURCE_CONFIG;
        room[st->npools++] = (unsigned) n;
        if (n > 0 && (p->backends = calloc((size_t) n, sizeof(*p->backends))) == NULL) {
            q_reset(reg, Q_READ_POOLS);
            return fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
        }
    }
    if (rc == SQLITE_ROW)
        q_reset(reg, Q_READ_POOLS);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? LBD_REG_OK : sql_error(reg, rc, err, errlen);
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
    unsigned i = 0;
    int      rc;

    for (rc = q_run(reg, Q_READ_BACKENDS, ""); rc == SQLITE_ROW;
         rc = q_next(reg, Q_READ_BACKENDS)) {
        sqlite3_stmt        *s = reg->stmt[Q_READ_BACKENDS];
        const char          *pool = (const char *) sqlite3_column_text(s, 1);
        struct lbd_reg_pool *p;

        while (i < st->npools && strcmp(st->pools[i].name, pool) < 0)
            i++;
        p = &st->pools[i];
        if (i < st->npools && strcmp(p->name, pool) == 0 && p->nbackends < room[i])
            row_backend(s, &p->backends[p->nbackends++]);
    }
    return rc == SQLITE_DONE ? LBD_REG_OK : sql_error(reg, rc, err, errlen);
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
        return fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
    /* One read transaction: every row below is from the same commit. */
    rc = q_exec(reg, Q_BEGIN, err, errlen, "");
    if (rc == LBD_REG_OK)
        rc = read_generation(reg, &gen, err, errlen);
    if (rc == LBD_REG_OK)
        rc = q_int64(reg, Q_POOL_COUNT, &npools, err, errlen, "");
    if (rc == LBD_REG_OK) {
        st->pools = calloc((size_t) npools + 1, sizeof(*st->pools));
        room = calloc((size_t) npools + 1, sizeof(*room));
        if (st->pools == NULL || room == NULL)
            rc = fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
    }
    if (rc == LBD_REG_OK)
        rc = read_pools(reg, st, (unsigned) npools, room, err, errlen);
    if (rc == LBD_REG_OK)
        rc = read_backends(reg, st, room, err, errlen);
    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_COMMIT, err, errlen, "");
    free(room);
    if (rc != LBD_REG_OK) {
        txn_rollback(reg);
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


/* --- mutations (the API) --- */

static int
check_weight(int weight, char *err, size_t errlen)
{
    if (weight < 1 || weight > 1000)
        return fail(LBD_REG_INVALID, err, errlen, "weight %d is out of range (1-1000)", weight);
    return LBD_REG_OK;
}

static int
check_state(int state, char *err, size_t errlen)
{
    if (state < LBD_BACKEND_UP || state > LBD_BACKEND_DISABLED)
        return fail(LBD_REG_INVALID, err, errlen, "state %d is not a backend state (up, "
                    "drain or disabled)", state);
    return LBD_REG_OK;
}

int
lbd_registry_backend_add(struct lbd_registry *reg, const char *pool, const char *host,
                         int port, const struct lbd_addr *addr, int weight,
                         enum lbd_backend_state state, struct lbd_reg_backend *out,
                         uint64_t *generation, char *err, size_t errlen)
{
    struct lbd_reg_backend row;
    char                   text[300], resolved[64];
    const char            *res = NULL;
    int64_t                id;
    size_t                 hlen = strlen(host);
    int                    rc;

    backend_text(host, port, text, sizeof(text));
    if (hlen < 1 || hlen > 253)
        return fail(LBD_REG_INVALID, err, errlen, "host \"%.64s%s\" must be 1-253 bytes long",
                    host, hlen > 64 ? "..." : "");
    if (port < 1 || port > 65535)
        return fail(LBD_REG_INVALID, err, errlen, "port %d is out of range (1-65535)", port);
    if ((rc = check_weight(weight, err, errlen)) != LBD_REG_OK
        || (rc = check_state((int) state, err, errlen)) != LBD_REG_OK)
        return rc;
    if (addr != NULL && addr->len > 0 && lbd_addr_host(addr, resolved, sizeof(resolved)) == 0)
        res = resolved;
    else if (lbd_addr_numeric(host, port, &row.addr) == 0)
        res = host;

    if ((rc = txn_begin(reg, "api", err, errlen)) != LBD_REG_OK)
        return rc;
    rc = pool_find(reg, pool, err, errlen);
    if (rc == LBD_REG_OK && q_int64(reg, Q_BACKEND_BY_ADDR, &id, err, errlen, "tti", pool, host,
                                    port) != LBD_REG_NOT_FOUND)
        rc = fail(LBD_REG_CONFLICT, err, errlen, "pool \"%s\" already has backend %s (id %lld)",
                  pool, text, (long long) id);
    if (rc == LBD_REG_OK)
        rc = q_int64(reg, Q_BACKEND_INSERT, &id, err, errlen, "ttiitt", pool, host, port,
                     weight, lbd_backend_state_name(state), res);
    if (rc == LBD_REG_OK)
        rc = slot_give(reg, id, err, errlen);
    if (rc == LBD_REG_OK && out != NULL)
        rc = backend_get(reg, id, out, err, errlen);
    return txn_end(reg, rc, generation, err, errlen);
}

int
lbd_registry_backend_update(struct lbd_registry *reg, const char *pool,
                            const char *backend, int weight, int state,
                            struct lbd_reg_backend *out, uint64_t *generation,
                            char *err, size_t errlen)
{
    struct lbd_reg_backend row;
    int                    rc;

    if ((weight != -1 && (rc = check_weight(weight, err, errlen)) != LBD_REG_OK)
        || (state != -1 && (rc = check_state(state, err, errlen)) != LBD_REG_OK))
        return rc;
    if ((rc = txn_begin(reg, "api", err, errlen)) != LBD_REG_OK)
        return rc;
    rc = backend_find(reg, pool, backend, &row, err, errlen);
    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_BACKEND_SET, err, errlen, "lit", row.id,
                    weight != -1 ? weight : row.weight,
                    lbd_backend_state_name(state != -1 ? (enum lbd_backend_state) state
                                                       : row.state));
    if (rc == LBD_REG_OK && out != NULL)
        rc = backend_get(reg, row.id, out, err, errlen);
    return txn_end(reg, rc, generation, err, errlen);
}

int
lbd_registry_backend_remove(struct lbd_registry *reg, const char *pool,
                            const char *backend, struct lbd_reg_backend *out,
                            uint64_t *generation, char *err, size_t errlen)
{
    struct lbd_reg_backend row;
    int                    rc = txn_begin(reg, "api", err, errlen);

    if (rc != LBD_REG_OK)
        return rc;
    rc = backend_find(reg, pool, backend, &row, err, errlen);
    if (rc == LBD_REG_OK && row.source == LBD_SOURCE_CONFIG)
        rc = fail(LBD_REG_CONFLICT, err, errlen, "backend %s is declared in the config file; "
                  "remove it there and reload, or set its state to disabled", row.addr.text);
    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_BACKEND_DELETE, err, errlen, "l", row.id);
    if (rc == LBD_REG_OK && out != NULL)
        *out = row;
    return txn_end(reg, rc, generation, err, errlen);
}

int
lbd_registry_pool_strategy(struct lbd_registry *reg, const char *pool,
                           const char *strategy, uint64_t *generation,
                           char *err, size_t errlen)
{
    int rc;

    if (lbd_strategy_find(strategy) == NULL) {
        char   known[256] = "";
        size_t len = 0;

        for (unsigned i = 0; i < lbd_strategy_count() && len < sizeof(known); i++)
            len += (size_t) snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                                     lbd_strategy_at(i)->name);
        return fail(LBD_REG_INVALID, err, errlen, "unknown strategy \"%s\" (known: %s)",
                    strategy, known);
    }
    if ((rc = txn_begin(reg, "api", err, errlen)) != LBD_REG_OK)
        return rc;
    rc = pool_find(reg, pool, err, errlen);
    if (rc == LBD_REG_OK)
        rc = q_exec(reg, Q_POOL_STRATEGY, err, errlen, "tt", pool, strategy);
    return txn_end(reg, rc, generation, err, errlen);
}


/* --- the control process --- */

int
lbd_registry_fixup(struct lbd_registry *reg, uint64_t *generation, char *err, size_t errlen)
{
    int rc = txn_begin(reg, NULL, err, errlen);

    if (rc != LBD_REG_OK)
        return rc;
    return txn_end(reg, fixup_rows(reg, err, errlen), generation, err, errlen);
}

int
lbd_registry_data_version(struct lbd_registry *reg, int64_t *version)
{
    char err[256];

    return q_int64(reg, Q_DATA_VERSION, version, err, sizeof(err), "") == LBD_REG_OK
           ? LBD_REG_OK : LBD_REG_ERROR;
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

int
lbd_registry_events(struct lbd_registry *reg, int limit,
                    void (*cb)(const struct lbd_reg_event *ev, void *arg), void *arg,
                    char *err, size_t errlen)
{
    int rc;

    for (rc = q_run(reg, Q_EVENTS, "i", limit); rc == SQLITE_ROW; rc = q_next(reg, Q_EVENTS)) {
        sqlite3_stmt        *s = reg->stmt[Q_EVENTS];
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
#undef TEXT
        cb(&ev, arg);
    }
    return rc == SQLITE_DONE ? LBD_REG_OK : sql_error(reg, rc, err, errlen);
}
