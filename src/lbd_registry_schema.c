/*
 * lbd_registry_schema.c - the registry's tables and triggers, version by
 * version.
 *
 * The schema holds every rule that must stand whoever writes the file:
 * lbd, or an operator in a sqlite3 session where PRAGMA foreign_keys is
 * off.  So CHECKs bound the values, triggers refuse unknown pools and
 * strategies (foreign keys alone would not, in such a session), and
 * triggers turn each change into one bump of meta.generation and one
 * events row, in the writer's own transaction.  A trigger bumps first and
 * logs after, so the event carries the generation its change produced.
 *
 * Lengths are checked in bytes (CAST AS BLOB): struct lbd_reg_pool and
 * lbd_reg_backend copy names into fixed arrays.  The slot bound is
 * LBD_SHM_BACKENDS: changing that constant needs a schema step.
 */
#include "lbd_registry_schema.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

#define NOW     "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
#define BYTES(col) "length(CAST(" col " AS BLOB))"

/* "host:port" of a backends row (r is NEW or OLD), "[v6]:port" for IPv6. */
#define ADDR(r) \
    "iif(instr(" r ".host, ':'), '[' || " r ".host || ']', " r ".host) || ':' || " r ".port"
#define BACKEND_DESC(r) \
    "'weight=' || " r ".weight || ' state=' || " r ".state || ' source=' || " r ".source"
#define POOL_DESC(r) "'strategy=' || " r ".strategy || ' source=' || " r ".source"

#define BUMP    "UPDATE meta SET value = value + 1 WHERE key = 'generation';\n"
/* One events row; after BUMP, so that it records the generation it made. */
#define EVENT(pool, backend, what, old, new) \
    "INSERT INTO events (actor, pool, backend, what, old, new, generation) VALUES (\n" \
    "    (SELECT value FROM meta WHERE key = 'actor'), " pool ",\n" \
    "    " backend ",\n" \
    "    '" what "', " old ", " new ",\n" \
    "    (SELECT value FROM meta WHERE key = 'generation'));\n"

/* A backend change that workers see and people read about. */
#define BACKEND_CHANGE(name, cols, when, what, old, new) \
    "CREATE TRIGGER " name " AFTER UPDATE OF " cols " ON backends\n" \
    "WHEN " when "\nBEGIN\n" BUMP EVENT("NEW.pool", ADDR("NEW"), what, old, new) "END;\n"

/* Refuse: RAISE(ABORT) undoes the statement, whatever PRAGMA foreign_keys says. */
#define REFUSE(name, event, table, when, msg) \
    "CREATE TRIGGER " name " BEFORE " event " ON " table "\n" \
    "WHEN " when "\nBEGIN SELECT RAISE(ABORT, '" msg "'); END;\n"

#define POOL_KNOWN   "NOT EXISTS (SELECT 1 FROM pools WHERE name = NEW.pool)"
#define STRAT_KNOWN  "NOT EXISTS (SELECT 1 FROM strategies WHERE name = NEW.strategy)"
#define POOL_IN_USE  "EXISTS (SELECT 1 FROM backends WHERE pool = OLD.name)"
#define STRAT_IN_USE "EXISTS (SELECT 1 FROM pools WHERE strategy = OLD.name)"

static const char schema_1[] =
    "CREATE TABLE meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO meta (key, value) VALUES ('schema_version', 1), ('generation', 0),\n"
    "    ('actor', 'sqlite edit');\n"

    "CREATE TABLE strategies (\n"
    "    name TEXT NOT NULL PRIMARY KEY CHECK (" BYTES("name") " BETWEEN 1 AND 32)\n"
    ");\n"

    "CREATE TABLE pools (\n"
    "    name          TEXT NOT NULL PRIMARY KEY CHECK (" BYTES("name") " BETWEEN 1 AND 64),\n"
    "    strategy      TEXT NOT NULL REFERENCES strategies (name),\n"
    "    source        TEXT NOT NULL DEFAULT 'config' CHECK (source IN ('config', 'api')),\n"
    "    conf_strategy TEXT,\n"
    "    created       TEXT NOT NULL DEFAULT " NOW ",\n"
    "    updated       TEXT NOT NULL DEFAULT " NOW "\n"
    ");\n"

    "CREATE TABLE backends (\n"
    "    id          INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    pool        TEXT NOT NULL REFERENCES pools (name),\n"
    "    host        TEXT NOT NULL CHECK (" BYTES("host") " BETWEEN 1 AND 253),\n"
    "    port        INTEGER NOT NULL\n"
    "                CHECK (typeof(port) = 'integer' AND port BETWEEN 1 AND 65535),\n"
    "    weight      INTEGER NOT NULL DEFAULT 1\n"
    "                CHECK (typeof(weight) = 'integer' AND weight BETWEEN 1 AND 1000),\n"
    "    state       TEXT NOT NULL DEFAULT 'up' CHECK (state IN ('up', 'drain', 'disabled')),\n"
    "    source      TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),\n"
    "    conf_weight INTEGER,\n"
    "    resolved    TEXT,\n"
    "    slot        INTEGER UNIQUE CHECK (slot IS NULL OR (typeof(slot) = 'integer'\n"
    "                AND slot >= 0 AND slot < " STR(LBD_SHM_BACKENDS) ")),\n"
    "    created     TEXT NOT NULL DEFAULT " NOW ",\n"
    "    updated     TEXT NOT NULL DEFAULT " NOW ",\n"
    "    UNIQUE (pool, host, port)\n"
    ");\n"

    "CREATE TABLE retired_slots (\n"
    "    slot       INTEGER PRIMARY KEY CHECK (slot >= 0 AND slot < " STR(LBD_SHM_BACKENDS) "),\n"
    "    generation INTEGER NOT NULL\n"
    ");\n"

    "CREATE TABLE events (\n"
    "    id         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    at         TEXT NOT NULL DEFAULT " NOW ",\n"
    "    actor      TEXT NOT NULL,\n"
    "    pool       TEXT,\n"
    "    backend    TEXT,\n"
    "    what       TEXT NOT NULL,\n"
    "    old        TEXT,\n"
    "    new        TEXT,\n"
    "    generation INTEGER NOT NULL\n"
    ");\n"

    /* What SQLite refuses, from anyone. */
    REFUSE("backends_pool_insert", "INSERT", "backends", POOL_KNOWN, "unknown pool")
    REFUSE("backends_pool_update", "UPDATE OF pool", "backends", POOL_KNOWN, "unknown pool")
    REFUSE("pools_strategy_insert", "INSERT", "pools", STRAT_KNOWN, "unknown strategy")
    REFUSE("pools_strategy_update", "UPDATE OF strategy", "pools", STRAT_KNOWN,
           "unknown strategy")
    REFUSE("pools_delete", "DELETE", "pools", POOL_IN_USE, "pool still has backends")
    REFUSE("pools_rename", "UPDATE OF name", "pools",
           "OLD.name IS NOT NEW.name AND " POOL_IN_USE, "pool still has backends")
    REFUSE("strategies_delete", "DELETE", "strategies", STRAT_IN_USE,
           "strategy still used by a pool")
    REFUSE("strategies_rename", "UPDATE OF name", "strategies",
           "OLD.name IS NOT NEW.name AND " STRAT_IN_USE, "strategy still used by a pool")

    /* Backends: each change one generation and one event. */
    "CREATE TRIGGER backends_added AFTER INSERT ON backends\nBEGIN\n"
    BUMP EVENT("NEW.pool", ADDR("NEW"), "backend added", "NULL", BACKEND_DESC("NEW"))
    "END;\n"
    /* The freed slot waits in retired_slots until no worker can still count on it. */
    "CREATE TRIGGER backends_removed AFTER DELETE ON backends\nBEGIN\n"
    BUMP
    "INSERT OR REPLACE INTO retired_slots (slot, generation) SELECT OLD.slot,\n"
    "    (SELECT value FROM meta WHERE key = 'generation') WHERE OLD.slot IS NOT NULL;\n"
    EVENT("OLD.pool", ADDR("OLD"), "backend removed", BACKEND_DESC("OLD"), "NULL")
    "END;\n"
    BACKEND_CHANGE("backends_weight", "weight", "OLD.weight IS NOT NEW.weight", "weight",
                   "OLD.weight", "NEW.weight")
    BACKEND_CHANGE("backends_state", "state", "OLD.state IS NOT NEW.state", "state",
                   "OLD.state", "NEW.state")
    BACKEND_CHANGE("backends_address", "host, port",
                   "OLD.host IS NOT NEW.host OR OLD.port IS NOT NEW.port", "address",
                   ADDR("OLD"), ADDR("NEW"))
    BACKEND_CHANGE("backends_moved", "pool", "OLD.pool IS NOT NEW.pool", "moved",
                   "OLD.pool", "NEW.pool")
    BACKEND_CHANGE("backends_source", "source", "OLD.source IS NOT NEW.source", "source",
                   "OLD.source", "NEW.source")
    /* Workers route by slot and resolved address: a new generation, no event. */
    "CREATE TRIGGER backends_slot AFTER UPDATE OF slot, resolved ON backends\n"
    "WHEN OLD.slot IS NOT NEW.slot OR OLD.resolved IS NOT NEW.resolved\nBEGIN\n"
    BUMP
    "INSERT OR REPLACE INTO retired_slots (slot, generation) SELECT OLD.slot,\n"
    "    (SELECT value FROM meta WHERE key = 'generation')\n"
    "    WHERE OLD.slot IS NOT NULL AND OLD.slot IS NOT NEW.slot;\n"
    "END;\n"
    /* Not recursive: the UPDATE inside names no column these triggers watch. */
    "CREATE TRIGGER backends_updated AFTER UPDATE OF pool, host, port, weight, state, source\n"
    "    ON backends\n"
    "WHEN NEW.updated IS OLD.updated AND (OLD.pool IS NOT NEW.pool OR OLD.host IS NOT NEW.host\n"
    "    OR OLD.port IS NOT NEW.port OR OLD.weight IS NOT NEW.weight\n"
    "    OR OLD.state IS NOT NEW.state OR OLD.source IS NOT NEW.source)\n"
    "BEGIN UPDATE backends SET updated = " NOW " WHERE id = NEW.id; END;\n"

    /* Pools. */
    "CREATE TRIGGER pools_added AFTER INSERT ON pools\nBEGIN\n"
    BUMP EVENT("NEW.name", "NULL", "pool added", "NULL", POOL_DESC("NEW"))
    "END;\n"
    "CREATE TRIGGER pools_removed AFTER DELETE ON pools\nBEGIN\n"
    BUMP EVENT("OLD.name", "NULL", "pool removed", POOL_DESC("OLD"), "NULL")
    "END;\n"
    /* A rename (of an empty pool): the old name is gone, a new one is there. */
    "CREATE TRIGGER pools_renamed AFTER UPDATE OF name ON pools\n"
    "WHEN OLD.name IS NOT NEW.name\nBEGIN\n"
    BUMP EVENT("OLD.name", "NULL", "pool removed", POOL_DESC("OLD"), "NULL")
    BUMP EVENT("NEW.name", "NULL", "pool added", "NULL", POOL_DESC("NEW"))
    "END;\n"
    "CREATE TRIGGER pools_strategy AFTER UPDATE OF strategy ON pools\n"
    "WHEN OLD.strategy IS NOT NEW.strategy\nBEGIN\n"
    BUMP EVENT("NEW.name", "NULL", "strategy", "OLD.strategy", "NEW.strategy")
    "END;\n"
    "CREATE TRIGGER pools_updated AFTER UPDATE OF name, strategy, source ON pools\n"
    "WHEN NEW.updated IS OLD.updated AND (OLD.name IS NOT NEW.name\n"
    "    OR OLD.strategy IS NOT NEW.strategy OR OLD.source IS NOT NEW.source)\n"
    "BEGIN UPDATE pools SET updated = " NOW " WHERE name = NEW.name; END;\n";

/*
 * Version 2: the active checks' verdict.  backends.health is what the
 * control process last decided (workers read the live one from shared
 * memory, so a change is an event but no generation: nothing is routed from
 * this column); the master seeds shared memory from it at start.
 * events.detail says why, for the events that have a reason.
 */
static const char schema_2[] =
    "ALTER TABLE backends ADD COLUMN health TEXT NOT NULL DEFAULT 'unknown'\n"
    "    CHECK (health IN ('unknown', 'up', 'down'));\n"
    "ALTER TABLE backends ADD COLUMN health_changed TEXT;\n"
    "ALTER TABLE events ADD COLUMN detail TEXT;\n"
    /* No BUMP: see above.  health_changed names no column a trigger watches. */
    "CREATE TRIGGER backends_health AFTER UPDATE OF health ON backends\n"
    "WHEN OLD.health IS NOT NEW.health\nBEGIN\n"
    "UPDATE backends SET health_changed = " NOW " WHERE id = NEW.id;\n"
    EVENT("NEW.pool", ADDR("NEW"), "health", "OLD.health", "NEW.health")
    "END;\n";

const char *const lbd_registry_migrations[LBD_REG_SCHEMA_VERSION] = {
    schema_1,
    schema_2,
};
