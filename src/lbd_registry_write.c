/*
 * lbd_registry_write.c - the registry's changes: the config file
 * (lbd_registry_sync_conf, master), the API (backend add/update/remove,
 * pool strategy, control process), rows written from outside
 * (lbd_registry_fixup), the active checks' verdicts (control process), and
 * the shared-memory slot each backend counts in.
 *
 * Each is one BEGIN IMMEDIATE transaction that first checks what it can
 * name in a message (the pool, the backend, the value) and leaves the rest
 * to the schema; the triggers log the events and bump the generation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_log.h"
#include "lbd_registry_int.h"


/* --- slots --- */

/*
 * Give backend id a shared-memory slot (see "Slot reuse" in lbd_shm.h): a
 * retired slot that no worker's snapshot can still count on, lowest first,
 * else one never used.  Its counters are reset here, before COMMIT: no
 * worker can see the row yet, and after a rollback the slot is free anyway.
 */
static int
slot_give(struct lbd_registry *reg, int64_t id, char *err, size_t errlen)
{
    static const char sql_retired[] =
        "SELECT slot FROM retired_slots WHERE generation <= ?1 "
        "AND slot NOT IN (SELECT slot FROM backends WHERE slot IS NOT NULL) "
        "ORDER BY slot LIMIT 1";
    /* Never used: above every slot a backend has or a retired one waits on. */
    static const char sql_next[] =
        "SELECT coalesce(max(s), -1) + 1 FROM (SELECT max(slot) AS s FROM backends "
        "UNION ALL SELECT max(slot) FROM retired_slots)";
    static const char sql_counts[] =
        "SELECT (SELECT count(slot) FROM backends), (SELECT count(*) FROM retired_slots)";
    uint64_t      oldest = lbd_shm ? lbd_shm_oldest(lbd_shm) : LBD_SHM_NONE;
    int64_t       limit = oldest > INT64_MAX ? INT64_MAX : (int64_t) oldest;
    int64_t       slot;
    sqlite3_stmt *s;
    int           rc = lbd__reg_int64(reg, &slot, err, errlen, sql_retired, "l", limit);

    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, "DELETE FROM retired_slots WHERE slot = ?1", "l",
                           slot);
    else if (rc == LBD_REG_NOT_FOUND)
        rc = lbd__reg_int64(reg, &slot, err, errlen, sql_next, "");
    if (rc != LBD_REG_OK)
        return rc;
    if (slot >= LBD_SHM_BACKENDS) {
        long long used = -1, retired = -1;

        if (lbd__reg_run(reg, &s, sql_counts, "") == SQLITE_ROW) {
            used = sqlite3_column_int64(s, 0);
            retired = sqlite3_column_int64(s, 1);
            sqlite3_reset(s);
        }
        return lbd__reg_fail(LBD_REG_FULL, err, errlen, "no free backend slot (%lld in use, "
                             "%lld freed but still held by workers' older snapshots; the "
                             "limit is %d); remove backends, or wait for old connections to "
                             "end", used, retired, LBD_SHM_BACKENDS);
    }
    rc = lbd__reg_exec(reg, err, errlen, "UPDATE backends SET slot = ?2 WHERE id = ?1", "ll",
                       id, slot);
    if (rc == LBD_REG_OK && lbd_shm != NULL) {
        lbd_shm_backend_reset(lbd_shm, (unsigned) slot, id);
        /* A new backend ramps up like one that came back (slow start). */
        atomic_store(&lbd_shm->backends[slot].up_since, lbd_shm_now_ns() / 1000000);
    }
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
 * to 'lbd' when there is work and the transaction has no actor yet.
 */
static int
fixup_rows(struct lbd_registry *reg, char *err, size_t errlen)
{
    struct fix_row *rows = NULL, *r;
    size_t          n = 0, cap = 0;
    sqlite3_stmt   *s;
    int             rc;

    for (rc = lbd__reg_run(reg, &s, "SELECT id, host, slot IS NULL, resolved IS NULL FROM "
                           "backends WHERE slot IS NULL OR resolved IS NULL ORDER BY id", "");
         rc == SQLITE_ROW; rc = lbd__reg_next(s)) {
        const char     *host = (const char *) sqlite3_column_text(s, 1);
        struct lbd_addr a;

        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            if ((r = realloc(rows, cap * sizeof(*rows))) == NULL) {
                sqlite3_reset(s);
                free(rows);
                return lbd__reg_fail(LBD_REG_ERROR, err, errlen, "registry: out of memory");
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
    rc = rc == SQLITE_DONE ? LBD_REG_OK : lbd__reg_sqlerr(reg, rc, err, errlen);
    if (rc == LBD_REG_OK && n > 0)
        rc = lbd__reg_actor(reg, "lbd", err, errlen);
    for (r = rows; rc == LBD_REG_OK && r < rows + n; r++) {
        if (r->resolved[0])
            rc = lbd__reg_exec(reg, err, errlen, "UPDATE backends SET resolved = ?2 "
                               "WHERE id = ?1", "lt", r->id, r->resolved);
        if (rc == LBD_REG_OK && r->need_slot)
            rc = slot_give(reg, r->id, err, errlen);
    }
    free(rows);
    return rc;
}

int
lbd_registry_fixup(struct lbd_registry *reg, uint64_t *generation, char *err, size_t errlen)
{
    /* No actor yet: with nothing to do, the transaction writes nothing. */
    int rc = lbd__reg_begin(reg, NULL, err, errlen);

    if (rc != LBD_REG_OK)
        return rc;
    return lbd__reg_end(reg, fixup_rows(reg, err, errlen), generation, err, errlen);
}


/* --- the config file --- */

/* strategies lists what this lbd has compiled in, and what a pool still names. */
static int
sync_strategies(struct lbd_registry *reg, char *err, size_t errlen)
{
    int rc = lbd__reg_exec(reg, err, errlen, "DELETE FROM strategies WHERE name NOT IN "
                           "(SELECT strategy FROM pools)", "");

    for (unsigned i = 0; rc == LBD_REG_OK && i < lbd_strategy_count(); i++)
        rc = lbd__reg_exec(reg, err, errlen, "INSERT OR IGNORE INTO strategies (name) "
                           "VALUES (?1)", "t", lbd_strategy_at(i)->name);
    return rc;
}

/*
 * One pool of the file and its backends.  The file's strategy and weights
 * win only where the file changed them (conf_strategy, conf_weight differ),
 * so runtime changes survive reloads; states are never the file's.  An API
 * row at an address the file declares becomes the file's.
 */
static int
sync_pool(struct lbd_registry *reg, const struct lbd_pool_conf *p, char *err, size_t errlen)
{
    static const char sql_pool[] =
        "INSERT INTO pools (name, strategy, source, conf_strategy) VALUES (?1, ?2, 'config', ?2) "
        "ON CONFLICT (name) DO UPDATE SET strategy = iif(conf_strategy IS "
        "excluded.conf_strategy, strategy, excluded.strategy), "
        "conf_strategy = excluded.conf_strategy, source = 'config'";
    static const char sql_backend[] =
        "INSERT INTO backends (pool, host, port, weight, source, conf_weight, resolved) "
        "VALUES (?1, ?2, ?3, ?4, 'config', ?4, ?5) ON CONFLICT (pool, host, port) DO UPDATE "
        "SET weight = iif(conf_weight IS excluded.conf_weight, weight, excluded.weight), "
        "conf_weight = excluded.conf_weight, source = 'config', "
        "resolved = coalesce(excluded.resolved, resolved)";
    int rc = lbd__reg_exec(reg, err, errlen, sql_pool, "tt", p->name, p->strategy);

    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, "INSERT OR IGNORE INTO temp.conf_pools (name) "
                           "VALUES (?1)", "t", p->name);
    for (unsigned i = 0; rc == LBD_REG_OK && i < p->nbackends; i++) {
        const struct lbd_backend_conf *b = &p->backends[i];
        char                           host[256], resolved[64], msg[160];
        int                            port;

        /* The identity is the text as written; the address is what it resolved to. */
        if (lbd_addr_split(b->addr.text, host, sizeof(host), &port, msg, sizeof(msg)) == -1)
            return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "pool \"%s\": backend %s",
                                 p->name, msg);
        rc = lbd__reg_exec(reg, err, errlen, sql_backend, "ttiit", p->name, host, port,
                           b->weight, lbd_addr_host(&b->addr, resolved, sizeof(resolved)) == 0
                           ? resolved : NULL);
        if (rc == LBD_REG_OK)
            rc = lbd__reg_exec(reg, err, errlen, "INSERT OR IGNORE INTO temp.conf_backends "
                               "(pool, host, port) VALUES (?1, ?2, ?3)", "tti", p->name, host,
                               port);
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
    static const char sql_backends[] =
        "DELETE FROM backends WHERE source = 'config' AND NOT EXISTS (SELECT 1 FROM "
        "temp.conf_backends c WHERE c.pool = backends.pool AND c.host = backends.host "
        "AND c.port = backends.port)";
    static const char sql_kept[] =
        "SELECT name, count(*) FROM pools JOIN backends ON pool = name WHERE pools.source = "
        "'config' AND name NOT IN (SELECT name FROM temp.conf_pools) GROUP BY name";
    static const char sql_pools[] =
        "DELETE FROM pools WHERE source = 'config' AND name NOT IN (SELECT name FROM "
        "temp.conf_pools) AND NOT EXISTS (SELECT 1 FROM backends WHERE pool = pools.name)";
    sqlite3_stmt     *s;
    int               rc = lbd__reg_exec(reg, err, errlen, sql_backends, "");

    if (rc == LBD_REG_OK) {
        for (rc = lbd__reg_run(reg, &s, sql_kept, ""); rc == SQLITE_ROW; rc = lbd__reg_next(s))
            lbd_log(LBD_LOG_WARN, "pool \"%s\" is no longer in %s but is kept: it still has "
                    "%d backend(s) added through the API (remove them, or declare the pool "
                    "again)", (const char *) sqlite3_column_text(s, 0),
                    conf->file ? conf->file : "the config file", sqlite3_column_int(s, 1));
        rc = rc == SQLITE_DONE ? LBD_REG_OK : lbd__reg_sqlerr(reg, rc, err, errlen);
    }
    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, sql_pools, "");
    return rc;
}

int
lbd_registry_sync_conf(struct lbd_registry *reg, const struct lbd_conf *conf,
                       uint64_t *generation, char *err, size_t errlen)
{
    /* What the file declares, for the set-wise deletes of sync_drop. */
    static const char sql_tables[] =
        "CREATE TEMP TABLE IF NOT EXISTS conf_pools (name TEXT PRIMARY KEY);"
        "CREATE TEMP TABLE IF NOT EXISTS conf_backends (pool TEXT, host TEXT, port INTEGER,"
        "    PRIMARY KEY (pool, host, port));"
        "DELETE FROM temp.conf_pools;"
        "DELETE FROM temp.conf_backends;";
    int rc = lbd__reg_begin(reg, "config", err, errlen);

    if (rc != LBD_REG_OK)
        return rc;
    rc = sync_strategies(reg, err, errlen);
    if (rc == LBD_REG_OK && (rc = sqlite3_exec(reg->db, sql_tables, NULL, NULL, NULL)) != 0)
        rc = lbd__reg_sqlerr(reg, rc, err, errlen);
    for (unsigned i = 0; rc == LBD_REG_OK && i < conf->npools; i++)
        rc = sync_pool(reg, &conf->pools[i], err, errlen);
    if (rc == LBD_REG_OK)
        rc = sync_drop(reg, conf, err, errlen);
    /* New rows have no slot yet; rows edited in while lbd was down get theirs too. */
    if (rc == LBD_REG_OK)
        rc = fixup_rows(reg, err, errlen);
    return lbd__reg_end(reg, rc, generation, err, errlen);
}


/* --- the API --- */

static int
check_weight(int weight, char *err, size_t errlen)
{
    if (weight < 1 || weight > 1000)
        return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "weight %d is out of range "
                             "(1-1000)", weight);
    return LBD_REG_OK;
}

static int
check_state(int state, char *err, size_t errlen)
{
    if (state < LBD_BACKEND_UP || state > LBD_BACKEND_DISABLED)
        return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "state %d is not a backend state "
                             "(up, drain or disabled)", state);
    return LBD_REG_OK;
}

int
lbd_registry_backend_add(struct lbd_registry *reg, const char *pool, const char *host,
                         int port, const struct lbd_addr *addr, int weight,
                         enum lbd_backend_state state, struct lbd_reg_backend *out,
                         uint64_t *generation, char *err, size_t errlen)
{
    static const char sql_insert[] =
        "INSERT INTO backends (pool, host, port, weight, state, source, resolved) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 'api', ?6) RETURNING id";
    struct lbd_addr   numeric;
    char              text[300], resolved[64];
    const char       *res = NULL;
    int64_t           id;
    size_t            hlen = strlen(host);
    int               rc;

    if (hlen < 1 || hlen > 253)
        return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "host \"%.64s%s\" must be 1-253 "
                             "bytes long", host, hlen > 64 ? "..." : "");
    if (port < 1 || port > 65535)
        return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "port %d is out of range "
                             "(1-65535)", port);
    if ((rc = check_weight(weight, err, errlen)) != LBD_REG_OK
        || (rc = check_state((int) state, err, errlen)) != LBD_REG_OK)
        return rc;
    if (addr != NULL && addr->len > 0 && lbd_addr_host(addr, resolved, sizeof(resolved)) == 0)
        res = resolved;
    else if (lbd_addr_numeric(host, port, &numeric) == 0)
        res = host;
    lbd__reg_backend_text(host, port, text, sizeof(text));

    if ((rc = lbd__reg_begin(reg, "api", err, errlen)) != LBD_REG_OK)
        return rc;
    rc = lbd__reg_pool_find(reg, pool, err, errlen);
    if (rc == LBD_REG_OK && lbd__reg_int64(reg, &id, err, errlen, "SELECT id FROM backends "
                                           "WHERE pool = ?1 AND host = ?2 AND port = ?3",
                                           "tti", pool, host, port) != LBD_REG_NOT_FOUND)
        rc = lbd__reg_fail(LBD_REG_CONFLICT, err, errlen, "pool \"%s\" already has backend "
                           "%s (id %lld)", pool, text, (long long) id);
    if (rc == LBD_REG_OK)
        rc = lbd__reg_int64(reg, &id, err, errlen, sql_insert, "ttiitt", pool, host, port,
                            weight, lbd_backend_state_name(state), res);
    if (rc == LBD_REG_OK)
        rc = slot_give(reg, id, err, errlen);
    if (rc == LBD_REG_OK && out != NULL)
        rc = lbd__reg_backend_get(reg, id, out, err, errlen);
    return lbd__reg_end(reg, rc, generation, err, errlen);
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
    if ((rc = lbd__reg_begin(reg, "api", err, errlen)) != LBD_REG_OK)
        return rc;
    rc = lbd__reg_backend_find(reg, pool, backend, &row, err, errlen);
    if (rc == LBD_REG_OK) {
        if (weight == -1)
            weight = row.weight;
        if (state == -1)
            state = (int) row.state;
        rc = lbd__reg_exec(reg, err, errlen, "UPDATE backends SET weight = ?2, state = ?3 "
                           "WHERE id = ?1", "lit", row.id, weight,
                           lbd_backend_state_name((enum lbd_backend_state) state));
    }
    if (rc == LBD_REG_OK && out != NULL)
        rc = lbd__reg_backend_get(reg, row.id, out, err, errlen);
    return lbd__reg_end(reg, rc, generation, err, errlen);
}

int
lbd_registry_backend_remove(struct lbd_registry *reg, const char *pool,
                            const char *backend, struct lbd_reg_backend *out,
                            uint64_t *generation, char *err, size_t errlen)
{
    struct lbd_reg_backend row;
    int                    rc = lbd__reg_begin(reg, "api", err, errlen);

    if (rc != LBD_REG_OK)
        return rc;
    rc = lbd__reg_backend_find(reg, pool, backend, &row, err, errlen);
    if (rc == LBD_REG_OK && row.source == LBD_SOURCE_CONFIG)
        rc = lbd__reg_fail(LBD_REG_CONFLICT, err, errlen, "backend %s is declared in the "
                           "config file; remove it there and reload, or set its state to "
                           "disabled", row.addr.text);
    /* The trigger retires its slot at the generation of this change. */
    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, "DELETE FROM backends WHERE id = ?1", "l", row.id);
    if (rc == LBD_REG_OK && out != NULL)
        *out = row;
    return lbd__reg_end(reg, rc, generation, err, errlen);
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
        return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "unknown strategy \"%s\" (known: "
                             "%s)", strategy, known);
    }
    if ((rc = lbd__reg_begin(reg, "api", err, errlen)) != LBD_REG_OK)
        return rc;
    rc = lbd__reg_pool_find(reg, pool, err, errlen);
    if (rc == LBD_REG_OK)
        rc = lbd__reg_exec(reg, err, errlen, "UPDATE pools SET strategy = ?2 WHERE name = ?1",
                           "tt", pool, strategy);
    return lbd__reg_end(reg, rc, generation, err, errlen);
}


/* --- the active checks --- */

int
lbd_registry_backend_health(struct lbd_registry *reg, int64_t id, enum lbd_health health,
                            const char *why, char *err, size_t errlen)
{
    /* The trigger has just written the newest events row, under our write lock. */
    static const char sql_detail[] =
        "UPDATE events SET detail = ?1 WHERE id = (SELECT max(id) FROM events)";
    sqlite3_stmt     *s;
    int               rc, old;

    if ((unsigned) health > LBD_HEALTH_DOWN)
        return lbd__reg_fail(LBD_REG_INVALID, err, errlen, "health %d is not a verdict "
                             "(unknown, up or down)", (int) health);
    /* No actor yet: an unchanged verdict commits an empty transaction. */
    if ((rc = lbd__reg_begin(reg, NULL, err, errlen)) != LBD_REG_OK)
        return rc;
    rc = lbd__reg_run(reg, &s, "SELECT health FROM backends WHERE id = ?1", "l", id);
    if (rc == SQLITE_ROW) {
        old = lbd_health_parse((const char *) sqlite3_column_text(s, 0));
        sqlite3_reset(s);
        rc = LBD_REG_OK;
        if (old != (int) health) {
            rc = lbd__reg_actor(reg, "health", err, errlen);
            if (rc == LBD_REG_OK)
                rc = lbd__reg_exec(reg, err, errlen, "UPDATE backends SET health = ?2 "
                                   "WHERE id = ?1", "lt", id, lbd_health_name(health));
            if (rc == LBD_REG_OK && why != NULL)
                rc = lbd__reg_exec(reg, err, errlen, sql_detail, "t", why);
        }
    } else if (rc == SQLITE_DONE) {
        rc = lbd__reg_fail(LBD_REG_NOT_FOUND, err, errlen, "no backend with id %lld",
                           (long long) id);
    } else {
        rc = lbd__reg_sqlerr(reg, rc, err, errlen);
    }
    return lbd__reg_end(reg, rc, NULL, err, errlen);
}
