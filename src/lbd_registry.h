/*
 * lbd_registry.h - the backend registry: one SQLite file, the single source
 * of truth for pools, backends, weights, states and strategies.
 *
 * Tables (an operator reads them with the sqlite3 CLI, no manual needed):
 *
 *   meta(key, value)        schema_version, generation, actor
 *   strategies(name)        the strategies this lbd has compiled in
 *   pools(name, strategy, source, conf_strategy, created, updated)
 *   backends(id, pool, host, port, weight, state, source, conf_weight,
 *            resolved, slot, created, updated, health, health_changed)
 *   retired_slots(slot, generation)
 *   events(id, at, actor, pool, backend, what, old, new, generation, detail)
 *
 * SQLite itself refuses a bad row: CHECK constraints (port 1..65535, weight
 * 1..1000, state up/drain/disabled, source config/api), and triggers that
 * RAISE(ABORT) on an unknown pool or strategy, so that the refusal does not
 * depend on PRAGMA foreign_keys being on in the operator's sqlite3 session.
 *
 * Triggers also make every change, whoever makes it, bump meta.generation
 * and write one events row, in the writer's own transaction.  The actor of
 * an event is meta.actor: lbd's writers set it to 'config', 'api' or 'lbd'
 * at the start of their transaction and put it back to 'sqlite edit' before
 * COMMIT, so a commit made by anyone else is recorded as 'sqlite edit'.
 * events.what is one of: pool added, pool removed (a renamed pool is both),
 * strategy, backend added, backend removed, weight, state, address (host or
 * port), moved (pool), source (the file adopted an API backend), health
 * (the active checks' verdict, actor 'health', with the reason in detail).
 * A new slot or resolved address bumps the generation without an event; a
 * slot given up (row deleted, slot changed) goes to retired_slots with the
 * generation of that change.  A health change is an event without a
 * generation: workers take health from shared memory, not from the row.
 *
 * Processes: the master migrates and syncs the config; the control process
 * does every API write and polls PRAGMA data_version for edits made from
 * outside; workers only read (lbd_registry_read), in one read transaction.
 * Each process opens its own connection after fork; a connection never
 * crosses a fork.
 *
 * Functions return LBD_REG_OK (0) or a negative LBD_REG_* code with a
 * message in err; an error leaves the registry as it was (the transaction
 * is rolled back).
 */
#ifndef LBD_REGISTRY_H
#define LBD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "lbd.h"
#include "lbd_conf.h"
#include "lbd_shm.h"

#define LBD_REG_SCHEMA_VERSION  2

/* Result codes; the API maps them to HTTP statuses. */
#define LBD_REG_OK          0
#define LBD_REG_ERROR      -1   /* SQLite or I/O failure: 500 */
#define LBD_REG_INVALID    -2   /* a value out of range, unknown strategy: 400 */
#define LBD_REG_NOT_FOUND  -3   /* no such pool or backend: 404 */
#define LBD_REG_CONFLICT   -4   /* duplicate, or owned by the config file: 409 */
#define LBD_REG_FULL       -5   /* no free shared-memory slot: 503 */
#define LBD_REG_BUSY       -6   /* the database stayed locked past busy_timeout: 503 */

enum lbd_backend_state {
    LBD_BACKEND_UP = 0,         /* takes new connections */
    LBD_BACKEND_DRAIN,          /* no new connections; open ones finish */
    LBD_BACKEND_DISABLED,       /* no new connections (administratively off) */
};

enum lbd_source {
    LBD_SOURCE_CONFIG = 0,      /* declared in the config file: the file owns it */
    LBD_SOURCE_API,             /* added at runtime: the file never touches it */
};

/* One backends row. */
struct lbd_reg_backend {
    int64_t                 id;
    char                    host[256];      /* as written */
    int                     port;
    int                     weight;         /* 1..1000 */
    enum lbd_backend_state  state;
    enum lbd_source         source;
    int                     slot;           /* shm slot, -1 while unassigned */
    struct lbd_addr         addr;           /* resolved (numeric); addr.len 0: unroutable */
    enum lbd_health         health;         /* the checks' last recorded verdict (shared
                                               memory has the live one) */
    char                    created[32];    /* ISO 8601 UTC, as stored */
    char                    updated[32];
};

/* One pools row and its backends, ordered by id. */
struct lbd_reg_pool {
    char                    name[65];
    char                    strategy[33];
    enum lbd_source         source;
    struct lbd_reg_backend *backends;
    unsigned                nbackends;
};

/* The whole registry, read in one transaction: a committed state, whole. */
struct lbd_reg_state {
    uint64_t                generation;
    struct lbd_reg_pool    *pools;          /* ordered by name */
    unsigned                npools;
};

struct lbd_registry;

/* Names of states and sources, as stored ("up", "drain", "disabled"; "config", "api"). */
const char *lbd_backend_state_name(enum lbd_backend_state s);
int         lbd_backend_state_parse(const char *name);   /* the state or -1 */
const char *lbd_source_name(enum lbd_source s);

/* Names of health verdicts, as stored: "unknown", "up", "down"; parse gives the value or -1. */
const char *lbd_health_name(enum lbd_health h);
int         lbd_health_parse(const char *name);

/*
 * Open the registry at path.  readonly: a worker's connection (query_only).
 * Sets WAL mode (writers), synchronous=FULL, foreign_keys=ON and a busy
 * timeout of busy_ms.  Does not create the schema (lbd_registry_migrate
 * does).  Returns NULL with the reason in err.  Any process, after fork.
 */
struct lbd_registry *lbd_registry_open(const char *path, int readonly, int busy_ms,
                                       char *err, size_t errlen);

/* Close a connection.  NULL is fine.  Never on a connection inherited through fork. */
void lbd_registry_close(struct lbd_registry *reg);

/*
 * Create the schema in an empty file, or upgrade an older one step by step
 * to LBD_REG_SCHEMA_VERSION, in one transaction.  Refuses a file made by a
 * newer lbd.  Master only, at start.
 */
int lbd_registry_migrate(struct lbd_registry *reg, char *err, size_t errlen);

/*
 * Make the registry match conf, in one transaction with actor 'config':
 *   - strategies lists every registered strategy;
 *   - every pool of the file exists; its strategy is set from the file only
 *     when the file's value differs from conf_strategy (the file changed
 *     it), so a strategy switched at runtime survives reloads and restarts
 *     until the file itself changes that pool's strategy;
 *   - every backend of the file exists with source 'config' (an 'api' row
 *     with the same pool, host and port is adopted by the file); its weight
 *     is set from the file only when the file's value differs from
 *     conf_weight; its state is never touched;
 *   - 'config' backends no longer in the file are deleted; 'api' rows are
 *     never touched; a 'config' pool no longer in the file is deleted once
 *     it has no backends left, and kept (with a warning in the log)
 *     otherwise.
 * Slots are assigned to new rows and to any row without one (lbd_shm may
 * be NULL for `lbd -t`: slots then come from retired_slots freely).  On
 * success *generation is the committed generation, to publish.  Master only.
 */
int lbd_registry_sync_conf(struct lbd_registry *reg, const struct lbd_conf *conf,
                           uint64_t *generation, char *err, size_t errlen);

/*
 * Read the whole registry in one read transaction.  *out is a new state
 * (free with lbd_reg_state_free).  Backends whose slot is unassigned or
 * whose address is not numeric and not resolved have addr.len == 0.
 * Worker loop: a short read, never a write; no DNS.
 */
int lbd_registry_read(struct lbd_registry *reg, struct lbd_reg_state **out,
                      char *err, size_t errlen);

void lbd_reg_state_free(struct lbd_reg_state *state);

/* "host:port" of b, "[host]:port" for an IPv6 host: how the API and events name it. */
void lbd_reg_backend_address(const struct lbd_reg_backend *b, char *buf, size_t len);

/* The pool called name in state, or NULL. */
const struct lbd_reg_pool *lbd_reg_state_pool(const struct lbd_reg_state *state,
                                              const char *name);

/*
 * Mutations, each its own BEGIN IMMEDIATE transaction with actor 'api'.
 * backend is the id ("12") or "host:port" as stored.  On success *out (when
 * not NULL) is the row after the change (for remove: before it) and
 * *generation the committed generation, to publish.  Control process only.
 *
 * backend_add: addr is the resolved address of host:port; weight 1..1000;
 *   LBD_REG_CONFLICT when the pool already has host:port.
 * backend_update: weight -1 and state -1 mean "leave as is".
 * backend_remove: LBD_REG_CONFLICT for a 'config' row (the file owns it:
 *   remove it there, or disable it).
 * pool_strategy: LBD_REG_INVALID for a strategy not in strategies.
 */
int lbd_registry_backend_add(struct lbd_registry *reg, const char *pool, const char *host,
                             int port, const struct lbd_addr *addr, int weight,
                             enum lbd_backend_state state, struct lbd_reg_backend *out,
                             uint64_t *generation, char *err, size_t errlen);
int lbd_registry_backend_update(struct lbd_registry *reg, const char *pool,
                                const char *backend, int weight, int state,
                                struct lbd_reg_backend *out, uint64_t *generation,
                                char *err, size_t errlen);
int lbd_registry_backend_remove(struct lbd_registry *reg, const char *pool,
                                const char *backend, struct lbd_reg_backend *out,
                                uint64_t *generation, char *err, size_t errlen);
int lbd_registry_pool_strategy(struct lbd_registry *reg, const char *pool,
                               const char *strategy, uint64_t *generation,
                               char *err, size_t errlen);

/*
 * Record the active checks' verdict on backend id: backends.health and,
 * when it changed, health_changed and one events row (actor 'health', what
 * 'health', old and new verdict, detail why; why may be NULL).  Moves no
 * generation: workers read health from shared memory.  A verdict equal to
 * the recorded one writes nothing.  LBD_REG_NOT_FOUND when the row is gone.
 * Control process (its loop waits for the fsync: a transition is rare).
 */
int lbd_registry_backend_health(struct lbd_registry *reg, int64_t id, enum lbd_health health,
                                const char *why, char *err, size_t errlen);

/*
 * After an edit from outside: give a slot to every backend that has none
 * and fill `resolved` for numeric hosts (names are resolved by the caller
 * beforehand; here only numeric ones), actor 'lbd'.  *generation is the
 * committed generation (unchanged when there was nothing to do).
 * Control process.
 */
int lbd_registry_fixup(struct lbd_registry *reg, uint64_t *generation,
                       char *err, size_t errlen);

/*
 * PRAGMA data_version of this connection: changes when another connection
 * committed.  Control process, about once a second.
 */
int lbd_registry_data_version(struct lbd_registry *reg, int64_t *version);

/* meta.generation as committed.  Any process. */
int lbd_registry_generation(struct lbd_registry *reg, uint64_t *generation);

/*
 * The most recent events, newest first, at most limit (negative: all), as
 * a caller-walked list: cb is called once per row, and its strings last
 * until cb returns.  Control process (status, API).
 */
struct lbd_reg_event {
    int64_t     id;
    const char *at, *actor, *pool, *backend, *what, *old, *new_;   /* NULL when SQL NULL */
    const char *detail;
    uint64_t    generation;
};
int lbd_registry_events(struct lbd_registry *reg, int limit,
                        void (*cb)(const struct lbd_reg_event *ev, void *arg), void *arg,
                        char *err, size_t errlen);

/*
 * The newest events with an id above after, at most limit, oldest first
 * (cb as above).  Control process: what the shared-memory ring lacks.
 */
int lbd_registry_events_after(struct lbd_registry *reg, int64_t after, int limit,
                              void (*cb)(const struct lbd_reg_event *ev, void *arg), void *arg,
                              char *err, size_t errlen);

/*
 * Keep the newest keep events and delete the rest: the history is bounded.
 * Control process, now and then.
 */
int lbd_registry_prune_events(struct lbd_registry *reg, int64_t keep, char *err, size_t errlen);

#endif /* LBD_REGISTRY_H */
