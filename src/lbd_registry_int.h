/*
 * lbd_registry_int.h - what the registry's own files share (lbd_registry.c:
 * connection, statements, transactions, reading; lbd_registry_write.c:
 * slots, the config file, the API's changes).  Nothing else includes it.
 *
 * Statements: every SQL text lbd runs is a string constant, and the
 * connection keeps one prepared statement per constant (keyed by its
 * address), prepared on first use.  Workers read often; a connection opened
 * before the schema exists prepares nothing until it is there.
 *
 * Errors: the helpers return LBD_REG_OK or an LBD_REG_* code with the
 * message already in err, except lbd__reg_run and lbd__reg_next, which
 * return SQLite's code for the caller to read rows with.
 */
#ifndef LBD_REGISTRY_INT_H
#define LBD_REGISTRY_INT_H

#include <sqlite3.h>

#include "lbd_registry.h"

#define LBD_REG_STMTS   64      /* distinct statements a connection may cache */

struct lbd_registry {
    sqlite3      *db;
    char         *path;
    int           busy_ms;
    int           actor_set;    /* the open write transaction has set meta.actor */
    unsigned      nstmts;
    struct {
        const char   *sql;      /* the constant it was prepared from */
        sqlite3_stmt *stmt;
    } stmts[LBD_REG_STMTS];
};

/*
 * Run sql (a string constant) with the arguments fmt describes ('t' const
 * char *, NULL binds NULL; 'i' int; 'l' int64_t) and step once.  Returns
 * SQLITE_ROW with *s on the first row (read it, then lbd__reg_next or
 * sqlite3_reset), SQLITE_DONE (reset), or an error code (reset;
 * sqlite3_errmsg says why).
 */
int lbd__reg_run(struct lbd_registry *reg, sqlite3_stmt **s, const char *sql,
                 const char *fmt, ...);

/* The next row of a statement on a row: as lbd__reg_run returns. */
int lbd__reg_next(sqlite3_stmt *s);

/* Run sql, which returns no row (or whose rows do not matter). */
int lbd__reg_exec(struct lbd_registry *reg, char *err, size_t errlen, const char *sql,
                  const char *fmt, ...);

/* Column 0 of the first row of sql into *out; LBD_REG_NOT_FOUND (err untouched): no row. */
int lbd__reg_int64(struct lbd_registry *reg, int64_t *out, char *err, size_t errlen,
                   const char *sql, const char *fmt, ...);

/* The LBD_REG_* code for SQLite's error rc, with the reason in err. */
int lbd__reg_sqlerr(struct lbd_registry *reg, int rc, char *err, size_t errlen);

/* Write a message for the operator into err and return code. */
int lbd__reg_fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Write transactions.  begin: BEGIN IMMEDIATE (the write lock now, so that
 * what is checked stays true until COMMIT) and, unless actor is NULL,
 * lbd__reg_actor.  actor: record actor on the events from now on (once per
 * transaction).  end: with rc LBD_REG_OK, put meta.actor back, take the
 * generation into *generation (when not NULL) and COMMIT; otherwise, or
 * when that fails, ROLLBACK.  Returns the outcome.
 */
int  lbd__reg_begin(struct lbd_registry *reg, const char *actor, char *err, size_t errlen);
int  lbd__reg_actor(struct lbd_registry *reg, const char *actor, char *err, size_t errlen);
int  lbd__reg_end(struct lbd_registry *reg, int rc, uint64_t *generation,
                  char *err, size_t errlen);

/* "host:port", "[v6]:port" for an IPv6 host, as the events table writes it. */
void lbd__reg_backend_text(const char *host, int port, char *buf, size_t len);

/* The backends row id, or LBD_REG_NOT_FOUND. */
int lbd__reg_backend_get(struct lbd_registry *reg, int64_t id, struct lbd_reg_backend *out,
                         char *err, size_t errlen);

/* LBD_REG_OK when pool exists, else LBD_REG_NOT_FOUND: no pool "x". */
int lbd__reg_pool_find(struct lbd_registry *reg, const char *pool, char *err, size_t errlen);

/*
 * The backend of pool that ref names: its id when ref is all digits, else
 * "host:port" ("[v6]:port") as stored.  LBD_REG_NOT_FOUND names the pool
 * or the backend.
 */
int lbd__reg_backend_find(struct lbd_registry *reg, const char *pool, const char *ref,
                          struct lbd_reg_backend *out, char *err, size_t errlen);

#endif /* LBD_REGISTRY_INT_H */
