/*
 * test_api.c - unit tests of the admin API (src/lbd_api.c) against a real
 * registry: a SQLite file in a fresh directory under /tmp, migrated and
 * synced from a small config built by hand (pool "web", round robin, two
 * config backends 127.0.0.1:9001 and :9002), made anew for every test.
 *
 * Every refused request is also checked to have changed nothing: a second
 * SQLite connection dumps every row of the registry before and after, and
 * the two dumps must be identical.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lbd_api.h"
#include "lbd_registry.h"
#include "lbd_shm.h"

#define TOKEN   "test-token-0123456789abcdef"
#define AUTH    "Bearer " TOKEN
#define BACKENDS "/api/pools/web/backends"

static char                 tmpdir[64];
static char                 db_path[128];
static struct lbd_registry *reg;
static struct lbd_api_ctx   ctx;

/* A second strategy, so that PUT strategy has something to switch to. */
static struct lbd_peer *
other_pick(struct lbd_pool *pool, const struct lbd_pick *pick)
{
    return NULL;
}

static const struct lbd_strategy other_strategy = { .name = "api_test", .pick = other_pick };


/* --- fixture --- */

static int
group_setup(void **state)
{
    lbd_modules_register();
    if (lbd_strategy_register(&other_strategy) != 0)
        return -1;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lbd-test-api-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(db_path, sizeof(db_path), "%s/lbd.db", tmpdir);
    return 0;
}

static int
group_teardown(void **state)
{
    return rmdir(tmpdir);
}

static void
unlink_db(void)
{
    char path[160];

    unlink(db_path);
    snprintf(path, sizeof(path), "%s-wal", db_path);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", db_path);
    unlink(path);
}

/* A fresh registry holding what a config file with one pool would give. */
static int
setup(void **state)
{
    struct lbd_backend_conf backends[2];
    struct lbd_pool_conf    pool;
    struct lbd_conf         conf;
    char                    err[512] = "";
    uint64_t                gen;

    memset(backends, 0, sizeof(backends));
    memset(&pool, 0, sizeof(pool));
    memset(&conf, 0, sizeof(conf));
    if (lbd_addr_numeric("127.0.0.1", 9001, &backends[0].addr) == -1
        || lbd_addr_numeric("127.0.0.1", 9002, &backends[1].addr) == -1)
        return -1;
    backends[0].weight = backends[1].weight = 1;
    pool.name = "web";
    pool.strategy = "round_robin";
    pool.backends = backends;
    pool.nbackends = 2;
    conf.pools = &pool;
    conf.npools = 1;
    conf.registry_path = db_path;

    unlink_db();
    reg = lbd_registry_open(db_path, 0, 1000, err, sizeof(err));
    if (reg == NULL
        || lbd_registry_migrate(reg, err, sizeof(err)) != LBD_REG_OK
        || lbd_registry_sync_conf(reg, &conf, &gen, err, sizeof(err)) != LBD_REG_OK) {
        print_error("registry set-up failed: %s\n", err);
        return -1;
    }
    ctx.reg = reg;
    ctx.token = TOKEN;
    return 0;
}

static int
teardown(void **state)
{
    if (lbd_shm != NULL) {              /* with_shm made one */
        munmap(lbd_shm, sizeof(*lbd_shm));
        lbd_shm = NULL;
    }
    lbd_registry_close(reg);
    reg = NULL;
    unlink_db();
    return 0;
}


/* --- requests and answers --- */

struct answer {
    int         status;
    json_t     *json;           /* the body, always an object */
    const char *allow;
    uint64_t    generation;
};

/* Send one request with a body of len bytes; check the answer is one JSON object line. */
static struct answer
requestn(const char *method, const char *uri, const char *auth, const char *body, size_t len)
{
    struct lbd_api_request  req = { method, uri, auth, body, len };
    struct lbd_api_response res;
    struct answer           a;
    json_error_t            jerr;
    size_t                  n;

    memset(&res, 0xa5, sizeof(res));      /* lbd_api_handle must fill all of it */
    lbd_api_handle(&ctx, &req, &res);
    assert_non_null(res.body);
    n = strlen(res.body);
    if (n < 3 || res.body[n - 1] != '\n' || strchr(res.body, '\n') != res.body + n - 1)
        fail_msg("%s %s: not one compact line: \"%s\"", method, uri, res.body);
    a.json = json_loads(res.body, 0, &jerr);
    if (a.json == NULL || !json_is_object(a.json))
        fail_msg("%s %s: not a JSON object: \"%s\"", method, uri, res.body);
    if (getenv("LBD_TEST_VERBOSE") != NULL)
        print_message("%s %s -> %d %s", method, uri, res.status, res.body);
    free(res.body);
    a.status = res.status;
    a.allow = res.allow;
    a.generation = res.generation;
    return a;
}

static struct answer
request(const char *method, const char *uri, const char *auth, const char *body)
{
    return requestn(method, uri, auth, body, body ? strlen(body) : 0);
}

/* The request must answer status; returns the body (the caller decrefs it). */
static json_t *
expect(int status, const char *method, const char *uri, const char *auth, const char *body)
{
    struct answer a = request(method, uri, auth, body);

    if (a.status != status) {
        char *text = json_dumps(a.json, JSON_COMPACT);

        fail_msg("%s %s: status %d, expected %d: %s", method, uri, a.status, status, text);
    }
    return a.json;
}

static const char *
str_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

static json_int_t
int_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

static const json_t *
list_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_array(v))
        fail_msg("\"%s\" is not an array", key);
    return v;
}

/* A BACKEND object: every field of the contract, with these values. */
static void
check_backend(const json_t *b, const char *address, const char *host, int port, int weight,
              const char *state, const char *source)
{
    static const char *const keys[] = {
        "id", "pool", "address", "host", "port", "weight", "state", "source",
        "health", "active", "total", "requests", "fails", "created", "updated",
    };

    assert_int_equal(json_object_size(b), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_get(b, keys[i]) == NULL)
            fail_msg("BACKEND has no \"%s\"", keys[i]);
    }
    assert_true(int_of(b, "id") > 0);
    assert_string_equal(str_of(b, "pool"), "web");
    assert_string_equal(str_of(b, "address"), address);
    assert_string_equal(str_of(b, "host"), host);
    assert_int_equal(int_of(b, "port"), port);
    assert_int_equal(int_of(b, "weight"), weight);
    assert_string_equal(str_of(b, "state"), state);
    assert_string_equal(str_of(b, "source"), source);
    assert_non_null(str_of(b, "created"));
    assert_non_null(str_of(b, "updated"));
}

/* The registry's generation as committed. */
static uint64_t
generation(void)
{
    uint64_t gen = 0;

    assert_int_equal(lbd_registry_generation(reg, &gen), LBD_REG_OK);
    return gen;
}


/* --- the registry, seen from a second connection --- */

static void
dump_query(sqlite3 *db, const char *sql, FILE *out)
{
    sqlite3_stmt *st;
    int           rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    fprintf(out, "%s\n", sql);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *v = sqlite3_column_text(st, i);

            fprintf(out, "%s%s", i ? "|" : "", v ? (const char *) v : "NULL");
        }
        fputc('\n', out);
    }
    if (rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/* Every row of every table the API could change, as text.  The caller frees it. */
static char *
dump(void)
{
    static const char *const queries[] = {
        "SELECT * FROM meta ORDER BY key",
        "SELECT * FROM pools ORDER BY name",
        "SELECT * FROM backends ORDER BY id",
        "SELECT * FROM events ORDER BY id",
        "SELECT * FROM retired_slots ORDER BY slot",
    };
    sqlite3 *db;
    char    *text = NULL;
    size_t   len = 0;
    FILE    *out = open_memstream(&text, &len);

    assert_non_null(out);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("%s: %s", db_path, sqlite3_errmsg(db));
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        dump_query(db, queries[i], out);
    sqlite3_close(db);
    assert_int_equal(fclose(out), 0);
    return text;
}

/* The first column of the first row of sql, as text ("" for none).  The caller frees it. */
static char *
sql_text(const char *sql)
{
    sqlite3      *db;
    sqlite3_stmt *st;
    char         *text;

    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        text = strdup((const char *) sqlite3_column_text(st, 0));
    else
        text = strdup("");
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(text);
    return text;
}

static void
expect_sql(const char *sql, const char *want)
{
    char *got = sql_text(sql);

    if (strcmp(got, want) != 0)
        fail_msg("%s: \"%s\", expected \"%s\"", sql, got, want);
    free(got);
}


/* --- reading --- */

static void
get_pools_shape(void **state)
{
    json_t       *j = expect(200, "GET", "/api/pools", NULL, NULL);
    const json_t *pools = list_of(j, "pools"), *p, *bs;

    assert_int_equal(json_object_size(j), 2);
    assert_int_equal(int_of(j, "generation"), (json_int_t) generation());
    assert_int_equal(json_array_size(pools), 1);
    p = json_array_get(pools, 0);
    assert_int_equal(json_object_size(p), 4);
    assert_string_equal(str_of(p, "name"), "web");
    assert_string_equal(str_of(p, "strategy"), "round_robin");
    assert_string_equal(str_of(p, "source"), "config");
    bs = list_of(p, "backends");
    assert_int_equal(json_array_size(bs), 2);
    check_backend(json_array_get(bs, 0), "127.0.0.1:9001", "127.0.0.1", 9001, 1, "up", "config");
    check_backend(json_array_get(bs, 1), "127.0.0.1:9002", "127.0.0.1", 9002, 1, "up", "config");
    /* No shared memory here: no counters to show. */
    assert_string_equal(str_of(json_array_get(bs, 0), "health"), "unknown");
    assert_int_equal(int_of(json_array_get(bs, 0), "active"), 0);
    assert_int_equal(int_of(json_array_get(bs, 0), "total"), 0);
    assert_int_equal(int_of(json_array_get(bs, 0), "fails"), 0);
    json_decref(j);

    /* A trailing slash is tolerated. */
    j = expect(200, "GET", "/api/pools/", NULL, NULL);
    assert_int_equal(json_array_size(list_of(j, "pools")), 1);
    json_decref(j);
}

static void
get_pool_and_backends(void **state)
{
    json_t *j = expect(200, "GET", "/api/pools/web", NULL, NULL);
    char    uri[128];
    int     id;

    assert_string_equal(str_of(j, "name"), "web");
    assert_int_equal(json_array_size(list_of(j, "backends")), 2);
    json_decref(j);

    j = expect(200, "GET", BACKENDS "/", NULL, NULL);
    assert_int_equal(json_object_size(j), 1);
    assert_int_equal(json_array_size(list_of(j, "backends")), 2);
    id = (int) int_of(json_array_get(list_of(j, "backends"), 1), "id");
    json_decref(j);

    /* By id and by host:port. */
    snprintf(uri, sizeof(uri), BACKENDS "/%d", id);
    j = expect(200, "GET", uri, NULL, NULL);
    check_backend(j, "127.0.0.1:9002", "127.0.0.1", 9002, 1, "up", "config");
    json_decref(j);
    j = expect(200, "GET", BACKENDS "/127.0.0.1:9002", NULL, NULL);
    assert_int_equal(int_of(j, "id"), id);
    json_decref(j);
}


/* --- changing --- */

static void
post_backend(void **state)
{
    uint64_t      before = generation();
    struct answer a = request("POST", BACKENDS, AUTH,
                              "{\"address\":\"127.0.0.1:9003\",\"weight\":5,\"state\":\"drain\"}");
    json_t       *j;

    assert_int_equal(a.status, 201);
    check_backend(a.json, "127.0.0.1:9003", "127.0.0.1", 9003, 5, "drain", "api");
    assert_true(a.generation > before);
    assert_int_equal(a.generation, generation());
    assert_null(a.allow);
    json_decref(a.json);
    expect_sql("SELECT weight || ' ' || state || ' ' || source FROM backends WHERE port = 9003",
               "5 drain api");

    /* The defaults: weight 1, state up. */
    j = expect(201, "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9004\"}");
    check_backend(j, "127.0.0.1:9004", "127.0.0.1", 9004, 1, "up", "api");
    json_decref(j);

    /* Seen by a fresh GET, in id order. */
    j = expect(200, "GET", BACKENDS, NULL, NULL);
    assert_int_equal(json_array_size(list_of(j, "backends")), 4);
    check_backend(json_array_get(list_of(j, "backends"), 2),
                  "127.0.0.1:9003", "127.0.0.1", 9003, 5, "drain", "api");
    json_decref(j);
    j = expect(200, "GET", BACKENDS "/127.0.0.1:9004", NULL, NULL);
    check_backend(j, "127.0.0.1:9004", "127.0.0.1", 9004, 1, "up", "api");
    json_decref(j);
}

/* A body of exactly LBD_API_MAX_BODY bytes is taken; one byte more is 413 (in bad_inputs). */
static void
post_largest_body(void **state)
{
    char   *body = malloc(LBD_API_MAX_BODY);
    const char *obj = "{\"address\":\"127.0.0.1:9007\"}";
    struct answer a;

    assert_non_null(body);
    memset(body, ' ', LBD_API_MAX_BODY);
    memcpy(body, obj, strlen(obj));
    a = requestn("POST", BACKENDS, AUTH, body, LBD_API_MAX_BODY);
    assert_int_equal(a.status, 201);
    json_decref(a.json);
    free(body);
}

static void
patch_backend(void **state)
{
    uint64_t      before = generation();
    struct answer a = request("PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"weight\":7}");
    json_t       *j;

    assert_int_equal(a.status, 200);
    check_backend(a.json, "127.0.0.1:9001", "127.0.0.1", 9001, 7, "up", "config");
    assert_true(a.generation > before);
    assert_int_equal(a.generation, generation());
    json_decref(a.json);

    j = expect(200, "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"state\":\"disabled\"}");
    check_backend(j, "127.0.0.1:9001", "127.0.0.1", 9001, 7, "disabled", "config");
    json_decref(j);

    j = expect(200, "PATCH", BACKENDS "/127.0.0.1:9002", AUTH,
               "{\"state\":\"drain\",\"weight\":1000}");
    check_backend(j, "127.0.0.1:9002", "127.0.0.1", 9002, 1000, "drain", "config");
    json_decref(j);

    /* The registry agrees. */
    expect_sql("SELECT group_concat(port || ' ' || weight || ' ' || state, ',') "
               "FROM (SELECT * FROM backends ORDER BY id)",
               "9001 7 disabled,9002 1000 drain");
    j = expect(200, "GET", BACKENDS "/127.0.0.1:9001", NULL, NULL);
    check_backend(j, "127.0.0.1:9001", "127.0.0.1", 9001, 7, "disabled", "config");
    json_decref(j);
}

static void
delete_backend(void **state)
{
    json_t  *j = expect(201, "POST", BACKENDS, AUTH,
                        "{\"address\":\"127.0.0.1:9005\",\"weight\":3}");
    json_int_t id = int_of(j, "id");
    uint64_t before;
    struct answer a;
    char    *d1, *d2;

    json_decref(j);
    j = expect(200, "PATCH", BACKENDS "/127.0.0.1:9005", AUTH, "{\"state\":\"drain\"}");
    json_decref(j);

    /* The answer is the backend as it was. */
    before = generation();
    a = request("DELETE", BACKENDS "/127.0.0.1:9005", AUTH, NULL);
    assert_int_equal(a.status, 200);
    check_backend(a.json, "127.0.0.1:9005", "127.0.0.1", 9005, 3, "drain", "api");
    assert_int_equal(int_of(a.json, "id"), id);
    assert_true(a.generation > before);
    assert_int_equal(a.generation, generation());
    json_decref(a.json);
    j = expect(404, "GET", BACKENDS "/127.0.0.1:9005", NULL, NULL);
    json_decref(j);
    expect_sql("SELECT count(*) FROM backends WHERE port = 9005", "0");

    /* A backend of the config file: the file owns it. */
    d1 = dump();
    j = expect(409, "DELETE", BACKENDS "/127.0.0.1:9001", AUTH, NULL);
    assert_true(strlen(str_of(j, "error")) > 0);
    json_decref(j);
    d2 = dump();
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
}

static void
put_strategy(void **state)
{
    uint64_t      before = generation();
    struct answer a = request("PUT", "/api/pools/web/strategy", AUTH,
                              "{\"strategy\":\"api_test\"}");
    json_t       *j;

    assert_int_equal(a.status, 200);
    assert_string_equal(str_of(a.json, "name"), "web");
    assert_string_equal(str_of(a.json, "strategy"), "api_test");
    assert_int_equal(json_array_size(list_of(a.json, "backends")), 2);
    assert_true(a.generation > before);
    assert_int_equal(a.generation, generation());
    json_decref(a.json);
    expect_sql("SELECT strategy FROM pools WHERE name = 'web'", "api_test");

    j = expect(200, "GET", "/api/pools/web", NULL, NULL);
    assert_string_equal(str_of(j, "strategy"), "api_test");
    json_decref(j);
}

/* {backend} is percent-decoded, and IPv6 references work bracketed. */
static void
percent_encoded_refs(void **state)
{
    json_t *j;

    j = expect(200, "GET", BACKENDS "/127.0.0.1%3A9001", NULL, NULL);
    check_backend(j, "127.0.0.1:9001", "127.0.0.1", 9001, 1, "up", "config");
    json_decref(j);
    j = expect(200, "GET", "/api/pools/w%65b/backends/127.0.0.1%3a9002", NULL, NULL);
    assert_int_equal(int_of(j, "port"), 9002);
    json_decref(j);

    j = expect(201, "POST", BACKENDS, AUTH, "{\"address\":\"[::1]:9003\"}");
    check_backend(j, "[::1]:9003", "::1", 9003, 1, "up", "api");
    json_decref(j);
    j = expect(200, "GET", BACKENDS "/[::1]:9003", NULL, NULL);
    check_backend(j, "[::1]:9003", "::1", 9003, 1, "up", "api");
    json_decref(j);
    j = expect(200, "GET", BACKENDS "/%5B%3A%3A1%5D%3A9003", NULL, NULL);
    assert_string_equal(str_of(j, "host"), "::1");
    json_decref(j);
    j = expect(200, "PATCH", BACKENDS "/%5B%3A%3A1%5D%3A9003", AUTH, "{\"weight\":9}");
    check_backend(j, "[::1]:9003", "::1", 9003, 9, "up", "api");
    json_decref(j);
    j = expect(200, "DELETE", BACKENDS "/[::1]:9003/", AUTH, NULL);
    check_backend(j, "[::1]:9003", "::1", 9003, 9, "up", "api");
    json_decref(j);
    expect_sql("SELECT count(*) FROM backends", "2");
}


/* --- refusals: the status, the message, and nothing changed --- */

struct bad {
    const char *method, *uri, *auth, *body;
    int         status;
    const char *error;          /* the message contains this */
    const char *allow;          /* for 405 */
};

static const struct bad bad_inputs_table[] = {
    /* malformed JSON, not an object, duplicate keys */
    { "POST", BACKENDS, AUTH, "{\"address\":", 400, "malformed JSON at line 1 column", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\"} x", 400, "malformed JSON", NULL },
    { "POST", BACKENDS, AUTH, "", 400, "malformed JSON at line", NULL },
    { "POST", BACKENDS, AUTH, NULL, 400, "malformed JSON", NULL },
    { "POST", BACKENDS, AUTH, "[\"127.0.0.1:9005\"]", 400, "must be a JSON object", NULL },
    { "POST", BACKENDS, AUTH, "42", 400, "must be a JSON object", NULL },
    { "POST", BACKENDS, AUTH, "\"127.0.0.1:9005\"", 400, "must be a JSON object", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"address\":\"127.0.0.1:9006\"}",
      400, "duplicate", NULL },
    /* unknown fields */
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"wieght\":2}",
      400, "unknown field \"wieght\"", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"strategy\":\"round_robin\"}",
      400, "unknown field \"strategy\"", NULL },
    { "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"address\":\"127.0.0.1:9005\"}",
      400, "unknown field \"address\"", NULL },
    { "PUT", "/api/pools/web/strategy", AUTH, "{\"strategy\":\"round_robin\",\"x\":1}",
      400, "unknown field \"x\"", NULL },
    /* weight and state */
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":0}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":1001}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":\"x\"}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":2.0}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":null}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":-3}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"weight\":99999999999999999999}",
      400, "", NULL },
    { "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"weight\":0}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"weight\":true}",
      400, "\"weight\" must be an integer from 1 to 1000", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\",\"state\":\"sleeping\"}",
      400, "\"state\" must be", NULL },
    { "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"state\":1}", 400, "\"state\" must be", NULL },
    { "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{}", 400, "\"weight\"", NULL },
    /* addresses */
    { "POST", BACKENDS, AUTH, "{\"weight\":2}", 400, "\"address\" is required", NULL },
    { "POST", BACKENDS, AUTH, "{}", 400, "\"address\" is required", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1\"}", 400, "has no port", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:0\"}", 400, "port must be 1-65535", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:http\"}", 400, "port must be", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"999.0.0.1:80\"}", 400, "not an IPv4 address", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"::1:80\"}", 400, "in brackets", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"[::1:80\"}", 400, "no \"]\"", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":\"\"}", 400, "\"address\" must be a string", NULL },
    { "POST", BACKENDS, AUTH, "{\"address\":9001}", 400, "\"address\" must be a string", NULL },
    /* conflicts, unknown pools and backends */
    { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9001\"}", 409, "", NULL },
    { "DELETE", BACKENDS "/127.0.0.1:9002", AUTH, NULL, 409, "", NULL },
    { "POST", "/api/pools/nope/backends", AUTH, "{\"address\":\"127.0.0.1:9005\"}", 404, "", NULL },
    { "GET", "/api/pools/nope", NULL, NULL, 404, "no pool \"nope\"", NULL },
    { "GET", "/api/pools/nope/backends", NULL, NULL, 404, "no pool \"nope\"", NULL },
    { "GET", BACKENDS "/127.0.0.1:9999", NULL, NULL, 404, "has no backend \"127.0.0.1:9999\"", NULL },
    { "GET", BACKENDS "/99999", NULL, NULL, 404, "has no backend", NULL },
    { "GET", BACKENDS "/nonsense", NULL, NULL, 404, "has no backend", NULL },
    { "PATCH", BACKENDS "/127.0.0.1:9999", AUTH, "{\"weight\":2}", 404, "", NULL },
    { "DELETE", BACKENDS "/99999", AUTH, NULL, 404, "", NULL },
    { "PATCH", "/api/pools/nope/backends/1", AUTH, "{\"weight\":2}", 404, "", NULL },
    /* strategies */
    { "PUT", "/api/pools/web/strategy", AUTH, "{\"strategy\":\"nope\"}", 400, "", NULL },
    { "PUT", "/api/pools/web/strategy", AUTH, "{}", 400, "\"strategy\" is required", NULL },
    { "PUT", "/api/pools/web/strategy", AUTH, "{\"strategy\":7}", 400, "\"strategy\" must be", NULL },
    { "PUT", "/api/pools/nope/strategy", AUTH, "{\"strategy\":\"round_robin\"}", 404, "", NULL },
    /* routes and methods */
    { "GET", "/api/nope", NULL, NULL, 404, "no such endpoint: GET /api/nope", NULL },
    { "GET", "/api", NULL, NULL, 404, "no such endpoint: GET /api", NULL },
    { "GET", "/", NULL, NULL, 404, "no such endpoint", NULL },
    { "GET", "/status", NULL, NULL, 404, "no such endpoint", NULL },
    { "GET", "/api//pools", NULL, NULL, 404, "no such endpoint", NULL },
    { "GET", "/api/pools//", NULL, NULL, 404, "no such endpoint", NULL },
    { "GET", "/api/pools/web/nope", NULL, NULL, 404, "no such endpoint", NULL },
    { "GET", BACKENDS "/1/x", NULL, NULL, 404, "no such endpoint", NULL },
    { "POST", "/api/pools/web/backendz", AUTH, "{}", 404, "no such endpoint: POST", NULL },
    { "GET", "/api/pools/%zz", NULL, NULL, 400, "percent-encoding", NULL },
    { "GET", "/api/pools/web%00", NULL, NULL, 400, "percent-encoding", NULL },
    { "GET", "/api/pools/%4", NULL, NULL, 400, "percent-encoding", NULL },
    { "GET", "/api/pools/%FF", NULL, NULL, 404, "no pool", NULL },
    { "DELETE", "/api/pools", AUTH, NULL, 405, "DELETE is not allowed", "GET" },
    { "POST", "/api/pools/web", AUTH, "{}", 405, "", "GET" },
    { "GET", "/api/pools/web/strategy", NULL, NULL, 405, "", "PUT" },
    { "PUT", BACKENDS, AUTH, "{}", 405, "", "GET, POST" },
    { "POST", BACKENDS "/127.0.0.1:9001", AUTH, "{}", 405, "", "GET, PATCH, DELETE" },
    { "PATCH", "/api/events", AUTH, "{}", 405, "", "GET" },
    { "GET", "/api/pools?x=1", NULL, NULL, 400, "no query string", NULL },
    /* the token, checked before anything else of a mutation */
    { "POST", BACKENDS, NULL, "{\"address\":\"127.0.0.1:9005\"}", 401, "missing bearer token", NULL },
    { "POST", BACKENDS, "Basic dXNlcjpwYXNz", "{\"address\":\"127.0.0.1:9005\"}",
      401, "missing bearer token", NULL },
    { "POST", BACKENDS, "Bearer ", "{\"address\":\"127.0.0.1:9005\"}", 401, "missing bearer token", NULL },
    { "POST", BACKENDS, "Bearer", "{\"address\":\"127.0.0.1:9005\"}", 401, "missing bearer token", NULL },
    { "POST", BACKENDS, "Bearer wrong", "{\"address\":\"127.0.0.1:9005\"}", 401, "wrong token", NULL },
    { "POST", BACKENDS, "Bearer test-token-0123456789abcde", "{\"address\":\"127.0.0.1:9005\"}",
      401, "wrong token", NULL },
    { "POST", BACKENDS, AUTH "f", "{\"address\":\"127.0.0.1:9005\"}", 401, "wrong token", NULL },
    { "DELETE", BACKENDS "/127.0.0.1:9001", "Bearer wrong", NULL, 401, "wrong token", NULL },
    { "PUT", "/api/pools/web/strategy", NULL, "{\"strategy\":\"api_test\"}", 401, "", NULL },
    { "POST", BACKENDS, NULL, "{\"address\":", 401, "missing bearer token", NULL },
    { "POST", BACKENDS, "Bearer wrong", "{\"wieght\":1}", 401, "wrong token", NULL },
    { "POST", "/api/pools/nope/backends", NULL, "{}", 401, "missing bearer token", NULL },
    /* events */
    { "GET", "/api/events?limit=0", NULL, NULL, 400, "\"limit\"", NULL },
    { "GET", "/api/events?limit=1001", NULL, NULL, 400, "\"limit\"", NULL },
    { "GET", "/api/events?limit=abc", NULL, NULL, 400, "\"limit\"", NULL },
    { "GET", "/api/events?limit=", NULL, NULL, 400, "\"limit\"", NULL },
    { "GET", "/api/events?limit=-1", NULL, NULL, 400, "\"limit\"", NULL },
    { "GET", "/api/events?limit=2&limit=3", NULL, NULL, 400, "\"limit\"", NULL },
    { "GET", "/api/events?max=2", NULL, NULL, 400, "unknown query parameter \"max\"", NULL },
    { "GET", "/api/events?limit", NULL, NULL, 400, "\"limit\" must be", NULL },
    { "GET", "/api/events?limit=5&x", NULL, NULL, 400, "unknown query parameter \"x\"", NULL },
    { "GET", "/api/events?limit=%zz", NULL, NULL, 400, "percent-encoding", NULL },
};

/* Send the request of b; the answer must be b's and the registry unchanged. */
static void
check_bad(const struct bad *b, const char *body, size_t bodylen)
{
    char         *before = dump(), *after;
    struct answer a = requestn(b->method, b->uri, b->auth, body, bodylen);
    const char   *error = json_string_value(json_object_get(a.json, "error"));

    /* The dump does see the rows (an empty one would prove nothing). */
    assert_non_null(strstr(before, "127.0.0.1|9001"));

    if (a.status != b->status)
        fail_msg("%s %s %s: status %d, expected %d (%s)", b->method, b->uri,
                 b->body ? b->body : "", a.status, b->status, error ? error : "no error");
    if (error == NULL || error[0] == '\0' || json_object_size(a.json) != 1)
        fail_msg("%s %s: the body is not {\"error\": message}", b->method, b->uri);
    if (strstr(error, b->error) == NULL)
        fail_msg("%s %s %s: error \"%s\" does not say \"%s\"", b->method, b->uri,
                 b->body ? b->body : "", error, b->error);
    if (b->allow == NULL && a.allow != NULL)
        fail_msg("%s %s: Allow \"%s\" on a %d", b->method, b->uri, a.allow, a.status);
    if (b->allow != NULL && (a.allow == NULL || strcmp(a.allow, b->allow) != 0))
        fail_msg("%s %s: Allow \"%s\", expected \"%s\"", b->method, b->uri,
                 a.allow ? a.allow : "(none)", b->allow);
    assert_int_equal(a.generation, 0);
    json_decref(a.json);

    after = dump();
    if (strcmp(before, after) != 0)
        fail_msg("%s %s %s changed the registry:\n%s\n---\n%s", b->method, b->uri,
                 b->body ? b->body : "", before, after);
    free(before);
    free(after);
}

static void
bad_inputs(void **state)
{
    static const struct bad too_big = {
        "POST", BACKENDS, AUTH, NULL, 413, "over 65536 bytes", NULL
    };
    static const struct bad too_big_no_token = {
        "POST", BACKENDS, NULL, NULL, 401, "missing bearer token", NULL
    };
    char *big = malloc(LBD_API_MAX_BODY + 1);

    for (size_t i = 0; i < sizeof(bad_inputs_table) / sizeof(bad_inputs_table[0]); i++) {
        const struct bad *b = &bad_inputs_table[i];

        check_bad(b, b->body, b->body ? strlen(b->body) : 0);
    }

    /* Valid JSON, one byte too long; without a token it is 401 all the same. */
    assert_non_null(big);
    memset(big, ' ', LBD_API_MAX_BODY + 1);
    memcpy(big, "{\"address\":\"127.0.0.1:9005\"}", 28);
    check_bad(&too_big, big, LBD_API_MAX_BODY + 1);
    check_bad(&too_big_no_token, big, LBD_API_MAX_BODY + 1);
    free(big);
}

/* With no token configured, every mutation is refused, whatever it carries. */
static void
no_token_configured(void **state)
{
    static const struct bad cases[] = {
        { "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9005\"}", 403,
          "mutations are disabled: no admin token is configured "
          "(admin.token or admin.token_file)", NULL },
        { "POST", BACKENDS, NULL, "{\"address\":\"127.0.0.1:9005\"}", 403, "disabled", NULL },
        { "PATCH", BACKENDS "/127.0.0.1:9001", AUTH, "{\"weight\":2}", 403, "disabled", NULL },
        { "DELETE", BACKENDS "/127.0.0.1:9001", AUTH, NULL, 403, "disabled", NULL },
        { "PUT", "/api/pools/web/strategy", AUTH, "{\"strategy\":\"api_test\"}", 403,
          "disabled", NULL },
    };
    json_t *j;

    ctx.token = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_bad(&cases[i], cases[i].body, cases[i].body ? strlen(cases[i].body) : 0);
    /* Reading still works. */
    j = expect(200, "GET", "/api/pools", NULL, NULL);
    json_decref(j);
    ctx.token = TOKEN;
}


/* --- events and workers --- */

static void
events(void **state)
{
    json_t       *j = expect(201, "POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9006\"}");
    const json_t *list, *e0, *e1;
    char         *max, *count, want[32];

    json_decref(j);
    j = expect(200, "PATCH", BACKENDS "/127.0.0.1:9006", AUTH, "{\"weight\":4}");
    json_decref(j);

    j = expect(200, "GET", "/api/events?limit=2", NULL, NULL);
    list = list_of(j, "events");
    assert_int_equal(json_array_size(list), 2);
    e0 = json_array_get(list, 0);
    e1 = json_array_get(list, 1);
    /* Newest first: the first is the last row written. */
    max = sql_text("SELECT max(id) FROM events");
    snprintf(want, sizeof(want), "%lld", (long long) int_of(e0, "id"));
    assert_string_equal(want, max);
    free(max);
    assert_true(int_of(e0, "id") > int_of(e1, "id"));
    assert_int_equal(json_object_size(e0), 9);
    assert_string_equal(str_of(e0, "actor"), "api");
    assert_string_equal(str_of(e0, "pool"), "web");
    assert_true(int_of(e0, "generation") > 0);
    assert_non_null(str_of(e0, "at"));
    assert_non_null(str_of(e0, "what"));
    for (const char *const *k = (const char *const[]) { "backend", "old", "new", NULL }; *k; k++) {
        json_t *v = json_object_get(e0, *k);

        if (v == NULL || !(json_is_string(v) || json_is_null(v)))
            fail_msg("EVENT \"%s\" is neither a string nor null", *k);
    }
    json_decref(j);

    /* The default limit is 100, and a trailing slash is fine. */
    j = expect(200, "GET", "/api/events/", NULL, NULL);
    count = sql_text("SELECT min(count(*), 100) FROM events");
    snprintf(want, sizeof(want), "%zu", json_array_size(list_of(j, "events")));
    assert_string_equal(want, count);
    free(count);
    json_decref(j);
    j = expect(200, "GET", "/api/events?limit=1000", NULL, NULL);
    json_decref(j);
    j = expect(200, "GET", "/api/events?limit=1", NULL, NULL);
    assert_int_equal(json_array_size(list_of(j, "events")), 1);
    json_decref(j);
}

static void
workers_without_shm(void **state)
{
    json_t *j = expect(200, "GET", "/api/workers", NULL, NULL);

    assert_int_equal(json_object_size(j), 3);
    assert_int_equal(int_of(j, "generation"), 0);
    assert_int_equal(int_of(j, "committed_ns"), 0);
    assert_int_equal(json_array_size(list_of(j, "workers")), 0);
    json_decref(j);
}

/* With a segment: workers listed, backend counters shown, generations published. */
static void
with_shm(void **state)
{
    struct lbd_reg_state *st;
    const json_t         *w;
    json_t               *j;
    char                  err[256];
    int                   slot;
    struct answer         a;

    assert_int_equal(lbd_shm_create(), 0);
    atomic_store(&lbd_shm->workers[3].pid, 4242);
    atomic_store(&lbd_shm->workers[3].generation, 5);
    atomic_store(&lbd_shm->workers[3].snapshots, 2);
    atomic_store(&lbd_shm->workers[3].stats.c[LBD_STAT_CONNS], 11);
    atomic_store(&lbd_shm->workers[4].pid, 4243);
    atomic_store(&lbd_shm->workers[4].oldest, 5);

    j = expect(200, "GET", "/api/workers", NULL, NULL);
    assert_int_equal(json_array_size(list_of(j, "workers")), 2);
    w = json_array_get(list_of(j, "workers"), 0);
    assert_int_equal(json_object_size(w), 8);
    assert_int_equal(int_of(w, "slot"), 3);
    assert_int_equal(int_of(w, "pid"), 4242);
    assert_int_equal(int_of(w, "generation"), 5);
    assert_int_equal(int_of(w, "snapshots"), 2);
    assert_int_equal(int_of(w, "accepted"), 11);
    assert_true(json_is_null(json_object_get(w, "oldest")));
    assert_int_equal(int_of(json_array_get(list_of(j, "workers"), 1), "oldest"), 5);
    json_decref(j);

    /* Counters of a backend come from its slot. */
    assert_int_equal(lbd_registry_read(reg, &st, err, sizeof(err)), LBD_REG_OK);
    slot = st->pools[0].backends[0].slot;
    lbd_reg_state_free(st);
    assert_true(slot >= 0 && slot < LBD_SHM_BACKENDS);
    atomic_store(&lbd_shm->backends[slot].health, LBD_HEALTH_DOWN);
    atomic_store(&lbd_shm->backends[slot].active, 2);
    atomic_store(&lbd_shm->backends[slot].stats.c[LBD_STAT_CONNS], 7);
    atomic_store(&lbd_shm->backends[slot].stats.c[LBD_STAT_REQUESTS], 9);
    atomic_store(&lbd_shm->backends[slot].fails, 1);
    j = expect(200, "GET", BACKENDS "/127.0.0.1:9001", NULL, NULL);
    assert_string_equal(str_of(j, "health"), "down");
    assert_int_equal(int_of(j, "active"), 2);
    assert_int_equal(int_of(j, "total"), 7);
    assert_int_equal(int_of(j, "requests"), 9);
    assert_int_equal(int_of(j, "fails"), 1);
    json_decref(j);

    /* A mutation publishes the generation it committed. */
    a = request("POST", BACKENDS, AUTH, "{\"address\":\"127.0.0.1:9008\"}");
    assert_int_equal(a.status, 201);
    assert_int_equal(lbd_shm_generation(lbd_shm), a.generation);
    assert_string_equal(str_of(a.json, "health"), "unknown");
    json_decref(a.json);
    j = expect(200, "GET", "/api/workers", NULL, NULL);
    assert_int_equal(int_of(j, "generation"), (json_int_t) a.generation);
    assert_true(int_of(j, "committed_ns") > 0);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_pools_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(get_pool_and_backends, setup, teardown),
        cmocka_unit_test_setup_teardown(post_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(post_largest_body, setup, teardown),
        cmocka_unit_test_setup_teardown(patch_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(put_strategy, setup, teardown),
        cmocka_unit_test_setup_teardown(percent_encoded_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(no_token_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(events, setup, teardown),
        cmocka_unit_test_setup_teardown(workers_without_shm, setup, teardown),
        cmocka_unit_test_setup_teardown(with_shm, setup, teardown),
    };

    return cmocka_run_group_tests_name("api", tests, group_setup, group_teardown);
}
