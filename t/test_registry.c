/*
 * test_registry.c - unit tests of the SQLite registry (src/lbd_registry*.c).
 *
 * Each test gets a fresh directory under /tmp holding its registry file.
 * A second, plain sqlite3 connection (foreign_keys off, as in the sqlite3
 * CLI) plays the operator, and dumps every table so that a refused change
 * can be shown to have changed nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lbd_registry.h"
#include "lbd_registry_schema.h"

static char tmpdir[64];
static char db_path[128];

/* Two more strategies, so that changes of strategy can be told apart. */
static struct lbd_peer *
first_pick(struct lbd_pool *pool, const struct lbd_pick *ctx)
{
    return pool->npeers > 0 ? &pool->peers[0] : NULL;
}

static const struct lbd_strategy test_first = { .name = "test_first", .pick = first_pick };
static const struct lbd_strategy test_last = { .name = "test_last", .pick = first_pick };

/*
 * The names of every registered strategy (the modules configure compiled in,
 * then the two above), joined by sep: sorted, or in the order of
 * registration.  Into a static buffer.
 */
static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static const char *
strategy_names(const char *sep, int sorted)
{
    static char buf[512];
    const char *names[64];
    unsigned    n = lbd_strategy_count();
    size_t      len = 0;

    assert_true(n <= 64);
    for (unsigned i = 0; i < n; i++)
        names[i] = lbd_strategy_at(i)->name;
    if (sorted)
        qsort(names, n, sizeof(names[0]), name_cmp);
    buf[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? sep : "", names[i]);
    assert_true(len < sizeof(buf));
    return buf;
}

static int
group_setup(void **state)
{
    lbd_modules_register();
    lbd_strategy_register(&test_first);
    lbd_strategy_register(&test_last);
    return 0;
}

static int
setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lbd-test-registry-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(db_path, sizeof(db_path), "%s/lbd.db", tmpdir);
    return 0;
}

static int
teardown(void **state)
{
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    char        path[160];

    for (unsigned i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
        unlink(path);
    }
    if (lbd_shm != NULL) {
        munmap(lbd_shm, sizeof(*lbd_shm));
        lbd_shm = NULL;
    }
    return rmdir(tmpdir);
}


/* --- the operator's connection --- */

static sqlite3 *
raw_open(void)
{
    sqlite3 *db;

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* Run sql as the operator; the SQLite result code. */
static int
raw_exec(const char *sql)
{
    sqlite3 *db = raw_open();
    int      rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    sqlite3_close(db);
    return rc;
}

static void
raw_ok(const char *sql)
{
    sqlite3 *db = raw_open();
    char    *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* Column 0 of the first row of sql, as text into buf ("" for no row, "NULL"). */
static const char *
raw_text(const char *sql, char *buf, size_t len)
{
    sqlite3      *db = raw_open();
    sqlite3_stmt *s;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        snprintf(buf, len, "%s", sqlite3_column_type(s, 0) == SQLITE_NULL ? "NULL"
                 : (const char *) sqlite3_column_text(s, 0));
    else
        buf[0] = '\0';
    sqlite3_finalize(s);
    sqlite3_close(db);
    return buf;
}

static int64_t
raw_int(const char *sql)
{
    char buf[64];

    return strtoll(raw_text(sql, buf, sizeof(buf)), NULL, 10);
}

#define assert_sql_text(sql, want) do { \
        char buf_[1024]; \
        assert_string_equal(raw_text((sql), buf_, sizeof(buf_)), (want)); \
    } while (0)

struct buf {
    char  *p;
    size_t len, cap;
};

static int
dump_row(void *arg, int n, char **vals, char **cols)
{
    struct buf *b = arg;

    for (int i = 0; i < n; i++) {
        size_t need = strlen(cols[i]) + (vals[i] ? strlen(vals[i]) : 4) + 4;

        if (b->len + need >= b->cap) {
            b->cap = 2 * (b->cap + need);
            b->p = realloc(b->p, b->cap);
            assert_non_null(b->p);
        }
        b->len += (size_t) sprintf(b->p + b->len, "%s=%s%s", cols[i], vals[i] ? vals[i] : "NULL",
                                   i + 1 < n ? "|" : "\n");
    }
    return 0;
}

/* Every row of every table, as committed: the caller frees it. */
static char *
dump(void)
{
    static const char *const sql[] = {
        "SELECT * FROM meta ORDER BY key", "SELECT * FROM strategies ORDER BY name",
        "SELECT * FROM pools ORDER BY name", "SELECT * FROM backends ORDER BY id",
        "SELECT * FROM retired_slots ORDER BY slot", "SELECT * FROM events ORDER BY id",
    };
    struct buf b = { calloc(1, 1), 0, 1 };
    sqlite3   *db = raw_open();

    for (unsigned i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
        assert_int_equal(sqlite3_exec(db, sql[i], dump_row, &b, NULL), SQLITE_OK);
    sqlite3_close(db);
    return b.p;
}

#define assert_unchanged(before) do { \
        char *after_ = dump(); \
        assert_string_equal(after_, (before)); \
        free(after_); \
    } while (0)


/* --- a config, built in memory --- */

struct tconf {
    struct lbd_conf         conf;
    struct lbd_pool_conf    pools[4];
    struct lbd_backend_conf backends[4][8];
};

static void
tconf_init(struct tconf *t)
{
    memset(t, 0, sizeof(*t));
    t->conf.file = (char *) "test.conf";
    t->conf.pools = t->pools;
}

static void
tconf_pool(struct tconf *t, const char *name, const char *strategy)
{
    struct lbd_pool_conf *p = &t->pools[t->conf.npools];

    p->name = (char *) name;
    p->strategy = (char *) strategy;
    p->backends = t->backends[t->conf.npools];
    t->conf.npools++;
}

/* A backend of the last pool added. */
static void
tconf_backend(struct tconf *t, const char *address, int weight)
{
    struct lbd_pool_conf    *p = &t->pools[t->conf.npools - 1];
    struct lbd_backend_conf *b = &p->backends[p->nbackends++];
    char                     err[256];

    if (lbd_addr_parse(address, &b->addr, err, sizeof(err)) == -1)
        fail_msg("%s", err);
    b->weight = weight;
}

static struct lbd_registry *
reg_open(void)
{
    char                 err[512] = "";
    struct lbd_registry *reg = lbd_registry_open(db_path, 0, 2000, err, sizeof(err));

    if (reg == NULL || lbd_registry_migrate(reg, err, sizeof(err)) != LBD_REG_OK)
        fail_msg("%s", err);
    return reg;
}

static uint64_t
sync_ok(struct lbd_registry *reg, const struct tconf *t)
{
    char     err[512] = "";
    uint64_t gen = 0;

    if (lbd_registry_sync_conf(reg, &t->conf, &gen, err, sizeof(err)) != LBD_REG_OK)
        fail_msg("%s", err);
    return gen;
}

/* web: 9001 (weight 1), 9002 (2), [::1]:9003 (3); empty: no backends. */
static void
conf_web(struct tconf *t)
{
    tconf_init(t);
    tconf_pool(t, "web", "round_robin");
    tconf_backend(t, "127.0.0.1:9001", 1);
    tconf_backend(t, "127.0.0.1:9002", 2);
    tconf_backend(t, "[::1]:9003", 3);
    tconf_pool(t, "empty", "test_first");
}

static struct lbd_registry *
reg_web(void)
{
    struct lbd_registry *reg = reg_open();
    struct tconf         t;

    conf_web(&t);
    sync_ok(reg, &t);
    return reg;
}

static int64_t
add_ok(struct lbd_registry *reg, const char *pool, const char *host, int port, int weight)
{
    struct lbd_reg_backend b;
    char                   err[512] = "";

    if (lbd_registry_backend_add(reg, pool, host, port, NULL, weight, LBD_BACKEND_UP, &b, NULL,
                                 err, sizeof(err)) != LBD_REG_OK)
        fail_msg("%s", err);
    return b.id;
}

static uint64_t
generation(struct lbd_registry *reg)
{
    uint64_t gen = 0;

    assert_int_equal(lbd_registry_generation(reg, &gen), LBD_REG_OK);
    return gen;
}


/* --- open and migrate --- */

static void
test_open(void **state)
{
    char                 err[512] = "";
    struct lbd_registry *reg = lbd_registry_open(db_path, 1, 100, err, sizeof(err));

    /* A reader never creates the file; a writer does. */
    assert_null(reg);
    assert_non_null(strstr(err, db_path));
    assert_int_equal(access(db_path, F_OK), -1);
    reg = lbd_registry_open(db_path, 0, 100, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(access(db_path, F_OK), 0);
    assert_sql_text("PRAGMA journal_mode", "wal");
    lbd_registry_close(reg);
    lbd_registry_close(NULL);
}

static void
test_migrate_creates_schema(void **state)
{
    struct lbd_registry *reg = reg_open();

    assert_sql_text("SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema "
                    "WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name)",
                    "backends events meta pools retired_slots strategies");
    assert_sql_text("SELECT value FROM meta WHERE key = 'schema_version'", "2");
    assert_sql_text("SELECT value FROM meta WHERE key = 'generation'", "0");
    assert_sql_text("SELECT value FROM meta WHERE key = 'actor'", "sqlite edit");
    assert_int_equal(generation(reg), 0);
    lbd_registry_close(reg);
}

static void
test_migrate_twice(void **state)
{
    struct lbd_registry *reg = reg_open();
    char                 err[512] = "";
    char                *before = dump();

    assert_int_equal(lbd_registry_migrate(reg, err, sizeof(err)), LBD_REG_OK);
    lbd_registry_close(reg);
    reg = reg_open();
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}

static void
test_migrate_refuses_newer(void **state)
{
    struct lbd_registry *reg = reg_open();
    char                 err[512] = "", want[512];

    raw_ok("UPDATE meta SET value = 3 WHERE key = 'schema_version'");
    assert_int_equal(lbd_registry_migrate(reg, err, sizeof(err)), LBD_REG_ERROR);
    snprintf(want, sizeof(want), "registry %s was written by a newer lbd (schema 3, this lbd "
             "knows 2)", db_path);
    assert_string_equal(err, want);
    lbd_registry_close(reg);
}

/*
 * A file made by schema 1 (the step itself, as the field has it), with rows
 * and events, becomes version 2: every backend's health is unknown, the
 * rows and the generation are as they were, and the health trigger works.
 */
static void
test_migrate_v1_to_v2(void **state)
{
    struct lbd_registry  *reg;
    struct lbd_reg_state *st;
    char                  err[512] = "";
    int64_t               gen, events;

    raw_ok(lbd_registry_migrations[0]);
    raw_ok("INSERT INTO strategies (name) VALUES ('round_robin');"
           "INSERT INTO pools (name, strategy) VALUES ('web', 'round_robin');"
           "INSERT INTO backends (pool, host, port, weight, slot, resolved) VALUES "
           "('web', '127.0.0.1', 9001, 3, 0, '127.0.0.1'), "
           "('web', '127.0.0.1', 9002, 1, 1, '127.0.0.1');");
    assert_sql_text("SELECT value FROM meta WHERE key = 'schema_version'", "1");
    gen = raw_int("SELECT value FROM meta WHERE key = 'generation'");
    events = raw_int("SELECT count(*) FROM events");
    assert_true(gen > 0 && events == 3);

    reg = reg_open();
    assert_sql_text("SELECT value FROM meta WHERE key = 'schema_version'", "2");
    assert_int_equal(raw_int("SELECT value FROM meta WHERE key = 'generation'"), gen);
    assert_int_equal(raw_int("SELECT count(*) FROM events"), events);
    assert_sql_text("SELECT group_concat(port || ':' || weight || ':' || health || ':' || "
                    "coalesce(health_changed, 'never'), ' ') FROM backends ORDER BY id",
                    "9001:3:unknown:never 9002:1:unknown:never");
    assert_sql_text("SELECT count(*) FROM events WHERE detail IS NULL", "3");
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(st->pools[0].backends[0].health, LBD_HEALTH_UNKNOWN);
    lbd_reg_state_free(st);

    /* The step's trigger: an event, no generation. */
    assert_int_equal(lbd_registry_backend_health(reg, 1, LBD_HEALTH_DOWN, "test", err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_int_equal(raw_int("SELECT value FROM meta WHERE key = 'generation'"), gen);
    assert_sql_text("SELECT actor || ' ' || what || ' ' || old || '->' || new || ' ' || detail "
                    "FROM events ORDER BY id DESC LIMIT 1", "health health unknown->down test");
    lbd_registry_close(reg);
}

static void
test_migrate_refuses_other_file(void **state)
{
    char                 err[512] = "";
    struct lbd_registry *reg;

    raw_ok("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
    reg = lbd_registry_open(db_path, 0, 100, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(lbd_registry_migrate(reg, err, sizeof(err)), LBD_REG_ERROR);
    assert_non_null(strstr(err, "is not an lbd registry"));
    assert_int_equal(raw_int("SELECT count(*) FROM sqlite_schema"), 1);
    lbd_registry_close(reg);
}


/* --- the config file --- */

static void
test_sync_creates(void **state)
{
    struct lbd_registry *reg = reg_open();
    struct tconf         t;
    uint64_t             gen;

    conf_web(&t);
    gen = sync_ok(reg, &t);
    assert_true(gen > 0);
    assert_int_equal(gen, generation(reg));
    assert_sql_text("SELECT group_concat(name || ':' || strategy || ':' || source, ' ') "
                    "FROM (SELECT * FROM pools ORDER BY name)",
                    "empty:test_first:config web:round_robin:config");
    assert_sql_text("SELECT group_concat(host || ':' || port || ' w' || weight || ' ' || source "
                    "|| ' ' || state || ' ' || resolved, ', ') FROM (SELECT * FROM backends "
                    "ORDER BY id)", "127.0.0.1:9001 w1 config up 127.0.0.1, "
                    "127.0.0.1:9002 w2 config up 127.0.0.1, ::1:9003 w3 config up ::1");
    assert_sql_text("SELECT group_concat(slot, ',') FROM (SELECT slot FROM backends "
                    "ORDER BY slot)", "0,1,2");
    assert_sql_text("SELECT group_concat(name, ',') FROM (SELECT name FROM strategies "
                    "ORDER BY name)", strategy_names(",", 1));
    /* One event per pool and backend, all by the config, the last at the generation. */
    assert_int_equal(raw_int("SELECT count(*) FROM events WHERE actor = 'config'"), 5);
    assert_int_equal(raw_int("SELECT count(*) FROM events"), 5);
    assert_sql_text("SELECT new FROM events WHERE backend = '[::1]:9003'",
                    "weight=3 state=up source=config");
    assert_sql_text("SELECT new FROM events WHERE what = 'pool added' AND pool = 'web'",
                    "strategy=round_robin source=config");
    assert_true(raw_int("SELECT max(generation) FROM events") <= (int64_t) gen);
    assert_sql_text("SELECT value FROM meta WHERE key = 'actor'", "sqlite edit");
    lbd_registry_close(reg);
}

static void
test_sync_again_changes_nothing(void **state)
{
    struct lbd_registry *reg = reg_open();
    struct tconf         t;
    uint64_t             gen;
    char                *before;

    conf_web(&t);
    gen = sync_ok(reg, &t);
    before = dump();
    assert_int_equal(sync_ok(reg, &t), gen);
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}

/* A runtime change survives a reload until the file itself changes that value. */
static void
test_sync_runtime_change_survives(void **state)
{
    struct lbd_registry *reg = reg_open();
    struct tconf         t;
    char                 err[512] = "";

    conf_web(&t);
    sync_ok(reg, &t);
    assert_int_equal(lbd_registry_backend_update(reg, "web", "127.0.0.1:9001", 5, -1, NULL,
                                                 NULL, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_registry_pool_strategy(reg, "web", "test_first", NULL, err,
                                                sizeof(err)), LBD_REG_OK);
    sync_ok(reg, &t);
    assert_int_equal(raw_int("SELECT weight FROM backends WHERE port = 9001"), 5);
    assert_sql_text("SELECT strategy FROM pools WHERE name = 'web'", "test_first");

    /* Now the file changes both: the file wins. */
    t.backends[0][0].weight = 3;
    t.pools[0].strategy = (char *) "test_last";
    sync_ok(reg, &t);
    assert_int_equal(raw_int("SELECT weight FROM backends WHERE port = 9001"), 3);
    assert_sql_text("SELECT strategy FROM pools WHERE name = 'web'", "test_last");
    assert_sql_text("SELECT actor || ' ' || old || ' ' || new FROM events "
                    "WHERE what = 'weight' ORDER BY id DESC", "config 5 3");
    assert_sql_text("SELECT actor || ' ' || old || ' ' || new FROM events "
                    "WHERE what = 'strategy' ORDER BY id DESC", "config test_first test_last");
    /* The state is never the file's. */
    assert_int_equal(lbd_registry_backend_update(reg, "web", "127.0.0.1:9002", -1,
                                                 LBD_BACKEND_DRAIN, NULL, NULL, err,
                                                 sizeof(err)), LBD_REG_OK);
    sync_ok(reg, &t);
    assert_sql_text("SELECT state FROM backends WHERE port = 9002", "drain");
    lbd_registry_close(reg);
}

static void
test_sync_removes_config_rows_only(void **state)
{
    struct lbd_registry *reg = reg_open();
    struct tconf         t;

    conf_web(&t);
    tconf_pool(&t, "old", "round_robin");
    tconf_backend(&t, "127.0.0.1:9100", 1);
    tconf_pool(&t, "gone", "round_robin");
    tconf_backend(&t, "127.0.0.1:9200", 1);
    sync_ok(reg, &t);
    add_ok(reg, "web", "127.0.0.1", 9050, 1);
    add_ok(reg, "old", "127.0.0.1", 9150, 1);

    /* web loses 9002; pools old and gone leave the file. */
    conf_web(&t);
    t.backends[0][1] = t.backends[0][2];
    t.pools[0].nbackends = 2;
    sync_ok(reg, &t);
    assert_sql_text("SELECT group_concat(pool || ':' || port, ' ') FROM (SELECT * FROM "
                    "backends ORDER BY id)", "web:9001 web:9003 web:9050 old:9150");
    /* old keeps its API backend, so it stays; gone is empty, so it goes. */
    assert_sql_text("SELECT group_concat(name, ' ') FROM (SELECT name FROM pools "
                    "ORDER BY name)", "empty old web");
    assert_sql_text("SELECT group_concat(what || ' ' || coalesce(pool, '') || ' ' || "
                    "coalesce(backend, ''), ', ') FROM (SELECT * FROM events WHERE actor = "
                    "'config' AND what LIKE '%removed' ORDER BY id)",
                    "backend removed web 127.0.0.1:9002, backend removed old 127.0.0.1:9100, "
                    "backend removed gone 127.0.0.1:9200, pool removed gone ");
    /* Their slots wait for the workers, at the generation of their removal. */
    assert_int_equal(raw_int("SELECT count(*) FROM retired_slots"), 3);
    assert_int_equal(raw_int("SELECT count(*) FROM retired_slots r JOIN events e ON "
                             "e.generation = r.generation AND e.what = 'backend removed'"), 3);
    lbd_registry_close(reg);
}

/* An API row at an address the file then declares becomes the file's. */
static void
test_sync_adopts_api_row(void **state)
{
    struct lbd_registry *reg = reg_open();
    struct tconf         t;
    int64_t              id;

    tconf_init(&t);
    tconf_pool(&t, "web", "round_robin");
    sync_ok(reg, &t);
    id = add_ok(reg, "web", "127.0.0.1", 9001, 7);
    tconf_backend(&t, "127.0.0.1:9001", 2);
    sync_ok(reg, &t);
    assert_int_equal(raw_int("SELECT id FROM backends"), id);
    assert_sql_text("SELECT source || ' ' || weight || ' ' || conf_weight FROM backends",
                    "config 2 2");
    assert_sql_text("SELECT group_concat(what || ' ' || old || ' ' || new, ', ') FROM "
                    "(SELECT * FROM events WHERE actor = 'config' AND backend IS NOT NULL "
                    "ORDER BY what)", "source api config, weight 7 2");
    lbd_registry_close(reg);
}


/* --- mutations --- */

static void
test_add(void **state)
{
    struct lbd_registry   *reg = reg_web();
    struct lbd_reg_backend b;
    struct lbd_addr        a;
    char                   err[512] = "", *before;
    uint64_t               gen = 0;

    assert_int_equal(lbd_addr_numeric("127.0.0.1", 9010, &a), 0);
    assert_int_equal(lbd_registry_backend_add(reg, "web", "localhost", 9010, &a, 4,
                                              LBD_BACKEND_DRAIN, &b, &gen, err, sizeof(err)),
                     LBD_REG_OK);
    assert_int_equal(gen, generation(reg));
    assert_string_equal(b.host, "localhost");
    assert_int_equal(b.port, 9010);
    assert_int_equal(b.weight, 4);
    assert_int_equal(b.state, LBD_BACKEND_DRAIN);
    assert_int_equal(b.source, LBD_SOURCE_API);
    assert_int_equal(b.slot, 3);
    /* Routed to what the name resolved to; logged as written. */
    assert_int_equal(b.addr.len, sizeof(struct sockaddr_in));
    assert_string_equal(b.addr.text, "localhost:9010");
    assert_int_equal(strlen(b.created), 24);
    assert_sql_text("SELECT actor || ' ' || what || ' ' || backend || ' ' || new FROM events "
                    "ORDER BY id DESC", "api backend added localhost:9010 "
                    "weight=4 state=drain source=api");

    before = dump();
    assert_int_equal(lbd_registry_backend_add(reg, "web", "127.0.0.1", 9001, NULL, 1,
                                              LBD_BACKEND_UP, &b, &gen, err, sizeof(err)),
                     LBD_REG_CONFLICT);
    assert_string_equal(err, "pool \"web\" already has backend 127.0.0.1:9001 (id 1)");
    assert_int_equal(lbd_registry_backend_add(reg, "web", "127.0.0.1", 9020, NULL, 0,
                                              LBD_BACKEND_UP, &b, &gen, err, sizeof(err)),
                     LBD_REG_INVALID);
    assert_string_equal(err, "weight 0 is out of range (1-1000)");
    assert_int_equal(lbd_registry_backend_add(reg, "web", "127.0.0.1", 9020, NULL, 1001,
                                              LBD_BACKEND_UP, &b, &gen, err, sizeof(err)),
                     LBD_REG_INVALID);
    assert_string_equal(err, "weight 1001 is out of range (1-1000)");
    assert_int_equal(lbd_registry_backend_add(reg, "web", "127.0.0.1", 0, NULL, 1,
                                              LBD_BACKEND_UP, &b, &gen, err, sizeof(err)),
                     LBD_REG_INVALID);
    assert_string_equal(err, "port 0 is out of range (1-65535)");
    assert_int_equal(lbd_registry_backend_add(reg, "nope", "127.0.0.1", 9020, NULL, 1,
                                              LBD_BACKEND_UP, &b, &gen, err, sizeof(err)),
                     LBD_REG_NOT_FOUND);
    assert_string_equal(err, "no pool \"nope\"");
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}

static void
test_update(void **state)
{
    struct lbd_registry   *reg = reg_web();
    struct lbd_reg_backend b;
    char                   err[512] = "", *before;
    uint64_t               gen = 0, gen2 = 0;

    /* Setting updated itself is kept; any other change sets it to now. */
    raw_ok("UPDATE backends SET updated = '2000-01-01T00:00:00.000Z' WHERE id = 1");
    assert_sql_text("SELECT updated FROM backends WHERE id = 1", "2000-01-01T00:00:00.000Z");
    assert_int_equal(lbd_registry_backend_update(reg, "web", "1", 9, -1, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_int_equal(b.weight, 9);
    assert_string_not_equal(b.updated, "2000-01-01T00:00:00.000Z");
    assert_int_equal(b.state, LBD_BACKEND_UP);
    assert_int_equal(lbd_registry_backend_update(reg, "web", "[::1]:9003", -1,
                                                 LBD_BACKEND_DISABLED, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_int_equal(b.weight, 3);
    assert_int_equal(b.state, LBD_BACKEND_DISABLED);
    assert_string_equal(b.addr.text, "[::1]:9003");
    assert_int_equal(gen, generation(reg));
    assert_sql_text("SELECT actor || ' ' || what || ' ' || backend || ' ' || old || ' ' || new "
                    "FROM events ORDER BY id DESC", "api state [::1]:9003 up disabled");
    /* Nothing to change: no new generation, no event. */
    before = dump();
    assert_int_equal(lbd_registry_backend_update(reg, "web", "127.0.0.1:9001", 9, 0, &b, &gen2,
                                                 err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(gen2, gen);
    assert_unchanged(before);

    assert_int_equal(lbd_registry_backend_update(reg, "web", "127.0.0.1:1", 2, -1, &b, &gen,
                                                 err, sizeof(err)), LBD_REG_NOT_FOUND);
    assert_string_equal(err, "pool \"web\" has no backend \"127.0.0.1:1\"");
    assert_int_equal(lbd_registry_backend_update(reg, "empty", "1", 2, -1, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_NOT_FOUND);
    assert_string_equal(err, "pool \"empty\" has no backend \"1\"");
    assert_int_equal(lbd_registry_backend_update(reg, "web", "x", 2, -1, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_NOT_FOUND);
    assert_int_equal(lbd_registry_backend_update(reg, "nope", "1", 2, -1, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_NOT_FOUND);
    assert_string_equal(err, "no pool \"nope\"");
    assert_int_equal(lbd_registry_backend_update(reg, "web", "1", 1001, -1, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_INVALID);
    assert_string_equal(err, "weight 1001 is out of range (1-1000)");
    assert_int_equal(lbd_registry_backend_update(reg, "web", "1", -1, 3, &b, &gen, err,
                                                 sizeof(err)), LBD_REG_INVALID);
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}

static void
test_remove(void **state)
{
    struct lbd_registry   *reg = reg_web();
    struct lbd_reg_backend b;
    char                   err[512] = "", *before;
    uint64_t               gen = 0;
    int64_t                id = add_ok(reg, "web", "127.0.0.1", 9010, 2);

    before = dump();
    assert_int_equal(lbd_registry_backend_remove(reg, "web", "127.0.0.1:9001", &b, &gen, err,
                                                 sizeof(err)), LBD_REG_CONFLICT);
    assert_string_equal(err, "backend 127.0.0.1:9001 is declared in the config file; remove "
                        "it there and reload, or set its state to disabled");
    assert_int_equal(lbd_registry_backend_remove(reg, "web", "127.0.0.1:9999", &b, &gen, err,
                                                 sizeof(err)), LBD_REG_NOT_FOUND);
    assert_int_equal(lbd_registry_backend_remove(reg, "nope", "1", &b, &gen, err,
                                                 sizeof(err)), LBD_REG_NOT_FOUND);
    assert_unchanged(before);
    free(before);

    assert_int_equal(lbd_registry_backend_remove(reg, "web", "127.0.0.1:9010", &b, &gen, err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_int_equal(b.id, id);
    assert_int_equal(b.weight, 2);
    assert_int_equal(gen, generation(reg));
    assert_int_equal(raw_int("SELECT count(*) FROM backends WHERE port = 9010"), 0);
    assert_sql_text("SELECT actor || ' ' || what || ' ' || old FROM events ORDER BY id DESC",
                    "api backend removed weight=2 state=up source=api");
    /* Its slot is retired at the generation its removal made. */
    assert_int_equal(raw_int("SELECT slot FROM retired_slots"), 3);
    assert_int_equal(raw_int("SELECT generation FROM retired_slots"), (int64_t) gen);
    lbd_registry_close(reg);
}

static void
test_pool_strategy(void **state)
{
    struct lbd_registry *reg = reg_web();
    char                 err[512] = "", want[600], *before;
    uint64_t             gen = 0;

    assert_int_equal(lbd_registry_pool_strategy(reg, "web", "test_first", &gen, err,
                                                sizeof(err)), LBD_REG_OK);
    assert_int_equal(gen, generation(reg));
    assert_sql_text("SELECT actor || ' ' || pool || ' ' || old || ' ' || new FROM events "
                    "WHERE what = 'strategy'", "api web round_robin test_first");
    before = dump();
    assert_int_equal(lbd_registry_pool_strategy(reg, "web", "foo", &gen, err, sizeof(err)),
                     LBD_REG_INVALID);
    snprintf(want, sizeof(want), "unknown strategy \"foo\" (known: %s)",
             strategy_names(", ", 0));
    assert_string_equal(err, want);
    assert_int_equal(lbd_registry_pool_strategy(reg, "nope", "round_robin", &gen, err,
                                                sizeof(err)), LBD_REG_NOT_FOUND);
    assert_string_equal(err, "no pool \"nope\"");
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}


/* --- edits from outside --- */

static void
test_outside_bad_rows_refused(void **state)
{
    static const char *const bad[] = {
        "INSERT INTO backends (pool, host, port) VALUES ('nope', '127.0.0.1', 9009)",
        "INSERT INTO backends (pool, host, port) VALUES ('web', '127.0.0.1', 0)",
        "INSERT INTO backends (pool, host, port) VALUES ('web', '127.0.0.1', '90x')",
        "INSERT INTO backends (pool, host, port, weight) VALUES ('web', '127.0.0.1', 9009, 5000)",
        "INSERT INTO backends (pool, host, port, state) VALUES ('web', '127.0.0.1', 9009, "
        "'bogus')",
        "INSERT INTO backends (pool, host, port, slot) VALUES ('web', '127.0.0.1', 9009, 4096)",
        "INSERT INTO backends (pool, host, port) VALUES ('web', '', 9009)",
        "UPDATE backends SET pool = 'nope' WHERE id = 1",
        "UPDATE backends SET weight = 0 WHERE id = 1",
        "DELETE FROM pools WHERE name = 'web'",
        "UPDATE pools SET name = 'www' WHERE name = 'web'",
        "UPDATE pools SET strategy = 'nope' WHERE name = 'web'",
        "INSERT INTO pools (name, strategy) VALUES ('new', 'nope')",
        "INSERT INTO pools (name, strategy) VALUES (NULL, 'round_robin')",
        "DELETE FROM strategies WHERE name = 'round_robin'",
    };
    struct lbd_registry *reg = reg_web();
    char                *before = dump();

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if ((raw_exec(bad[i]) & 0xff) != SQLITE_CONSTRAINT)
            fail_msg("not refused: %s", bad[i]);
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}

static void
test_outside_edit_logged_and_fixed(void **state)
{
    struct lbd_registry  *reg = reg_web();
    struct lbd_reg_state *st;
    char                  err[512] = "", sql[512], *before;
    int64_t               v1 = 0, v2 = 0;
    uint64_t              gen = generation(reg), gen2 = 0;

    assert_int_equal(lbd_registry_data_version(reg, &v1), LBD_REG_OK);
    raw_ok("INSERT INTO backends (pool, host, port) VALUES ('web', '127.0.0.2', 9009)");
    raw_ok("INSERT INTO backends (pool, host, port) VALUES ('web', 'db.invalid', 5432)");
    assert_int_equal(lbd_registry_data_version(reg, &v2), LBD_REG_OK);
    assert_true(v2 != v1);
    assert_int_equal(generation(reg), gen + 2);
    assert_sql_text("SELECT actor || ' ' || what || ' ' || new FROM events "
                    "WHERE backend = '127.0.0.2:9009'",
                    "sqlite edit backend added weight=1 state=up source=api");
    assert_int_equal(raw_int("SELECT generation FROM events WHERE backend = '127.0.0.2:9009'"),
                     (int64_t) gen + 1);

    /* Not routable yet: no slot. */
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(st->pools[1].nbackends, 5);
    assert_int_equal(st->pools[1].backends[3].slot, -1);
    assert_int_equal(st->pools[1].backends[3].addr.len, 0);
    assert_string_equal(st->pools[1].backends[3].addr.text, "127.0.0.2:9009");
    lbd_reg_state_free(st);

    assert_int_equal(lbd_registry_fixup(reg, &gen2, err, sizeof(err)), LBD_REG_OK);
    assert_true(gen2 > gen + 2);
    assert_sql_text("SELECT slot || ' ' || resolved FROM backends WHERE port = 9009",
                    "3 127.0.0.2");
    assert_sql_text("SELECT slot || ' ' || coalesce(resolved, 'none') FROM backends "
                    "WHERE port = 5432", "4 none");
    assert_int_equal(raw_int("SELECT count(*) FROM events WHERE actor = 'lbd'"), 0);
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(st->pools[1].backends[3].addr.len, sizeof(struct sockaddr_in));
    /* A name nobody resolved stays unroutable, and says what it is. */
    assert_int_equal(st->pools[1].backends[4].addr.len, 0);
    assert_string_equal(st->pools[1].backends[4].addr.text, "db.invalid:5432");
    lbd_reg_state_free(st);

    /* Nothing left to do: nothing written. */
    before = dump();
    assert_int_equal(lbd_registry_fixup(reg, &gen, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(gen, gen2);
    assert_unchanged(before);
    free(before);

    /* Other edits say what changed; a renamed pool is one gone and one new. */
    raw_ok("UPDATE backends SET port = 9010 WHERE port = 9009");
    raw_ok("UPDATE backends SET pool = 'empty' WHERE port = 9010");
    raw_ok("DELETE FROM backends WHERE port = 9010");
    raw_ok("UPDATE pools SET name = 'spare' WHERE name = 'empty'");
    snprintf(sql, sizeof(sql), "SELECT group_concat(what || ' ' || coalesce(pool, '-') || ' ' "
             "|| coalesce(old, '-') || ' ' || coalesce(new, '-'), ', ') FROM (SELECT * FROM "
             "events WHERE generation > %llu ORDER BY id)", (unsigned long long) gen2);
    assert_sql_text(sql,
                    "address web 127.0.0.2:9009 127.0.0.2:9010, moved empty web empty, "
                    "backend removed empty weight=1 state=up source=api -, "
                    "pool removed empty strategy=test_first source=config -, "
                    "pool added spare - strategy=test_first source=config");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE actor <> 'sqlite edit' "
             "AND generation > %llu", (unsigned long long) gen2);
    assert_int_equal(raw_int(sql), 0);
    lbd_registry_close(reg);
}


/* --- slots --- */

static void
test_slot_reuse_waits_for_workers(void **state)
{
    struct lbd_registry *reg;
    char                 err[512] = "";
    int64_t              a, c;
    int                  w;

    assert_int_equal(lbd_shm_create(), 0);
    reg = reg_web();                            /* slots 0-2 */
    a = add_ok(reg, "web", "127.0.0.1", 9010, 1);
    assert_int_equal(atomic_load(&lbd_shm->backends[3].id), a);
    w = lbd_shm_worker_claim(lbd_shm);          /* holds generation 0 */
    assert_true(w >= 0);
    assert_int_equal(lbd_registry_backend_remove(reg, "web", "127.0.0.1:9010", NULL, NULL, err,
                                                 sizeof(err)), LBD_REG_OK);
    atomic_store(&lbd_shm->backends[3].active, 5);

    /* The worker may still count on slot 3: a new backend gets a fresh slot. */
    add_ok(reg, "web", "127.0.0.1", 9011, 1);
    assert_int_equal(raw_int("SELECT slot FROM backends WHERE port = 9011"), 4);

    /* Gone, nothing holds it: the lowest retired slot comes back, zeroed. */
    lbd_shm_worker_release(lbd_shm, w);
    c = add_ok(reg, "web", "127.0.0.1", 9012, 1);
    assert_int_equal(raw_int("SELECT slot FROM backends WHERE port = 9012"), 3);
    assert_int_equal(atomic_load(&lbd_shm->backends[3].id), c);
    assert_int_equal(atomic_load(&lbd_shm->backends[3].active), 0);
    assert_int_equal(raw_int("SELECT count(*) FROM retired_slots"), 0);
    lbd_registry_close(reg);
}

static void
test_slots_exhausted(void **state)
{
    struct lbd_registry *reg = reg_web();
    char                 err[512] = "", *before;

    /* Slots run out from the top: an operator's row in the last one stands for the rest. */
    raw_ok("INSERT INTO backends (pool, host, port, slot) VALUES ('web', '127.0.0.1', 9999, "
           "4095)");
    before = dump();
    assert_int_equal(lbd_registry_backend_add(reg, "web", "127.0.0.1", 9010, NULL, 1,
                                              LBD_BACKEND_UP, NULL, NULL, err, sizeof(err)),
                     LBD_REG_FULL);
    assert_non_null(strstr(err, "no free backend slot (4 in use, 0 freed"));
    assert_unchanged(before);
    free(before);
    lbd_registry_close(reg);
}


/* --- reading --- */

static void
test_read(void **state)
{
    struct lbd_registry        *reg = reg_web(), *ro;
    struct lbd_reg_state       *st;
    const struct lbd_reg_pool  *web;
    const struct sockaddr_in6  *in6;
    char                        err[512] = "";

    ro = lbd_registry_open(db_path, 1, 100, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(lbd_registry_read(ro, &st, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(st->generation, generation(reg));
    assert_int_equal(st->npools, 2);
    assert_string_equal(st->pools[0].name, "empty");
    assert_string_equal(st->pools[0].strategy, "test_first");
    assert_int_equal(st->pools[0].nbackends, 0);
    web = lbd_reg_state_pool(st, "web");
    assert_ptr_equal(web, &st->pools[1]);
    assert_null(lbd_reg_state_pool(st, "nope"));
    assert_int_equal(web->source, LBD_SOURCE_CONFIG);
    assert_int_equal(web->nbackends, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(web->backends[i].id, i + 1);
        assert_int_equal(web->backends[i].slot, i);
        assert_int_equal(web->backends[i].weight, i + 1);
        assert_int_equal(web->backends[i].source, LBD_SOURCE_CONFIG);
    }
    assert_string_equal(web->backends[1].addr.text, "127.0.0.1:9002");
    in6 = (const struct sockaddr_in6 *) &web->backends[2].addr.ss;
    assert_int_equal(web->backends[2].addr.len, sizeof(*in6));
    assert_int_equal(in6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(in6->sin6_port), 9003);
    assert_string_equal(web->backends[2].addr.text, "[::1]:9003");
    lbd_reg_state_free(st);

    /* A reader's connection writes nothing. */
    assert_int_equal(lbd_registry_backend_add(ro, "web", "127.0.0.1", 9010, NULL, 1,
                                              LBD_BACKEND_UP, NULL, NULL, err, sizeof(err)),
                     LBD_REG_ERROR);
    lbd_registry_close(ro);
    lbd_registry_close(reg);
}

static void
count_event(const struct lbd_reg_event *ev, void *arg)
{
    int64_t *last = arg;

    /* Newest first. */
    assert_true(last[0] == 0 || ev->id < last[0]);
    assert_non_null(ev->what);
    last[0] = ev->id;
    last[1]++;
}

static void
test_events_and_busy(void **state)
{
    struct lbd_registry *reg = reg_web();
    struct lbd_registry *slow;
    char                 err[512] = "";
    int64_t              seen[2] = { 0, 0 };
    sqlite3             *db;

    assert_int_equal(lbd_registry_events(reg, 3, count_event, seen, err, sizeof(err)),
                     LBD_REG_OK);
    assert_int_equal(seen[1], 3);
    assert_int_equal(seen[0], 3);   /* 5 events: 5, 4, 3 */

    /* Another writer holds the lock past busy_timeout: BUSY, and nothing changed. */
    slow = lbd_registry_open(db_path, 0, 50, err, sizeof(err));
    assert_non_null(slow);
    db = raw_open();
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(lbd_registry_backend_add(slow, "web", "127.0.0.1", 9010, NULL, 1,
                                              LBD_BACKEND_UP, NULL, NULL, err, sizeof(err)),
                     LBD_REG_BUSY);
    assert_non_null(strstr(err, "locked"));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    add_ok(slow, "web", "127.0.0.1", 9010, 1);
    lbd_registry_close(slow);
    lbd_registry_close(reg);
}

/*
 * The checks' verdict: the row and one event (actor health, with why), no
 * generation, nothing when unchanged; the actor is put back; read gives it.
 */
static void
test_backend_health(void **state)
{
    struct lbd_registry  *reg = reg_web();
    struct lbd_reg_state *st;
    char                  err[512] = "", want[256], *before;
    int64_t               gen = raw_int("SELECT value FROM meta WHERE key = 'generation'");
    int64_t               events = raw_int("SELECT count(*) FROM events");

    assert_int_equal(lbd_registry_backend_health(reg, 1, LBD_HEALTH_DOWN,
                                                 "connect() refused (2 failures in a row)",
                                                 err, sizeof(err)), LBD_REG_OK);
    assert_sql_text("SELECT health FROM backends WHERE id = 1", "down");
    assert_int_equal(raw_int("SELECT count(*) FROM backends WHERE id = 1 AND "
                             "health_changed LIKE '20%Z'"), 1);
    snprintf(want, sizeof(want), "health|web|127.0.0.1:9001|health|unknown|down|%lld|"
             "connect() refused (2 failures in a row)", (long long) gen);
    assert_sql_text("SELECT actor || '|' || pool || '|' || backend || '|' || what || '|' || old "
                    "|| '|' || new || '|' || generation || '|' || detail FROM events "
                    "ORDER BY id DESC LIMIT 1", want);
    assert_int_equal(raw_int("SELECT value FROM meta WHERE key = 'generation'"), gen);
    assert_int_equal(generation(reg), (uint64_t) gen);
    assert_sql_text("SELECT value FROM meta WHERE key = 'actor'", "sqlite edit");

    /* The same verdict again: nothing at all. */
    before = dump();
    assert_int_equal(lbd_registry_backend_health(reg, 1, LBD_HEALTH_DOWN, "again", err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_unchanged(before);
    free(before);

    assert_int_equal(lbd_registry_backend_health(reg, 1, LBD_HEALTH_UP, NULL, err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_sql_text("SELECT old || '->' || new || ' ' || coalesce(detail, 'none') FROM events "
                    "ORDER BY id DESC LIMIT 1", "down->up none");
    assert_int_equal(raw_int("SELECT count(*) FROM events"), events + 2);
    assert_int_equal(lbd_registry_backend_health(reg, 2, LBD_HEALTH_DOWN, "x", err,
                                                 sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(lbd_reg_state_pool(st, "web")->backends[0].health, LBD_HEALTH_UP);
    assert_int_equal(lbd_reg_state_pool(st, "web")->backends[1].health, LBD_HEALTH_DOWN);
    assert_int_equal(lbd_reg_state_pool(st, "web")->backends[2].health, LBD_HEALTH_UNKNOWN);
    lbd_reg_state_free(st);

    /* Errors change nothing. */
    before = dump();
    assert_int_equal(lbd_registry_backend_health(reg, 999, LBD_HEALTH_UP, NULL, err,
                                                 sizeof(err)), LBD_REG_NOT_FOUND);
    assert_string_equal(err, "no backend with id 999");
    assert_int_equal(lbd_registry_backend_health(reg, 1, (enum lbd_health) 7, NULL, err,
                                                 sizeof(err)), LBD_REG_INVALID);
    assert_unchanged(before);
    free(before);

    /* An operator's edit: logged as theirs, still no generation; a bad value refused. */
    raw_ok("UPDATE backends SET health = 'unknown' WHERE id = 1");
    assert_sql_text("SELECT actor || ' ' || old || '->' || new FROM events ORDER BY id DESC "
                    "LIMIT 1", "sqlite edit up->unknown");
    assert_int_equal(raw_int("SELECT value FROM meta WHERE key = 'generation'"), gen);
    assert_int_not_equal(raw_exec("UPDATE backends SET health = 'sleepy' WHERE id = 1"),
                         SQLITE_OK);
    assert_string_equal(lbd_health_name(LBD_HEALTH_DOWN), "down");
    assert_int_equal(lbd_health_parse("up"), LBD_HEALTH_UP);
    assert_int_equal(lbd_health_parse("UP"), -1);
    lbd_registry_close(reg);
}

/* Pruning keeps the newest events and moves no generation. */
static void
test_prune_events(void **state)
{
    struct lbd_registry *reg = reg_web();
    char                 err[512] = "";
    int64_t              before_gen = raw_int("SELECT value FROM meta WHERE key = 'generation'");
    int64_t              newest = raw_int("SELECT max(id) FROM events");

    assert_true(raw_int("SELECT count(*) FROM events") > 2);
    assert_int_equal(lbd_registry_prune_events(reg, 2, err, sizeof(err)), LBD_REG_OK);
    assert_int_equal(raw_int("SELECT count(*) FROM events"), 2);
    assert_int_equal(raw_int("SELECT max(id) FROM events"), newest);
    assert_int_equal(raw_int("SELECT value FROM meta WHERE key = 'generation'"), before_gen);
    lbd_registry_close(reg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open),
        T(test_migrate_creates_schema),
        T(test_migrate_twice),
        T(test_migrate_refuses_newer),
        T(test_migrate_v1_to_v2),
        T(test_migrate_refuses_other_file),
        T(test_sync_creates),
        T(test_sync_again_changes_nothing),
        T(test_sync_runtime_change_survives),
        T(test_sync_removes_config_rows_only),
        T(test_sync_adopts_api_row),
        T(test_add),
        T(test_update),
        T(test_remove),
        T(test_pool_strategy),
        T(test_outside_bad_rows_refused),
        T(test_outside_edit_logged_and_fixed),
        T(test_slot_reuse_waits_for_workers),
        T(test_slots_exhausted),
        T(test_read),
        T(test_events_and_busy),
        T(test_backend_health),
        T(test_prune_events),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
