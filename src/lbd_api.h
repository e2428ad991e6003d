/*
 * lbd_api.h - the admin API: JSON over HTTP, answered by the control
 * process.  Workers relay every request under /api/ to the control
 * process's unix socket unchanged; the control process parses it with
 * libevent's evhttp and hands it to lbd_api_handle, which does the work
 * against the registry and shared memory and says what to answer.
 *
 * Routes (doc/API.md is the reference for users):
 *   GET    /api/pools                               200 {"generation":N,"pools":[POOL...]}
 *   GET    /api/pools/{pool}                        200 POOL
 *   GET    /api/pools/{pool}/backends               200 {"backends":[BACKEND...]}
 *   POST   /api/pools/{pool}/backends               201 BACKEND   {"address":"h:p","weight":1,"state":"up"}
 *   GET    /api/pools/{pool}/backends/{backend}     200 BACKEND
 *   PATCH  /api/pools/{pool}/backends/{backend}     200 BACKEND   {"weight":N} and/or {"state":"..."}
 *   DELETE /api/pools/{pool}/backends/{backend}     200 BACKEND   (as it was)
 *   PUT    /api/pools/{pool}/strategy               200 POOL      {"strategy":"NAME"}
 *   GET    /api/events?limit=N                      200 {"events":[EVENT...]} newest first, N<=1000, default 100
 *   GET    /api/workers                             200 {"generation":N,"committed_ns":T,"workers":[WORKER...]}
 * {backend} is the id ("12") or "host:port" (percent-decoded).
 *
 *   POOL    {"name","strategy","source","backends":[BACKEND...]}
 *   BACKEND {"id","pool","address":"host:port","host","port","weight","state","source",
 *            "health":"unknown|up|down","active","total" (connections),"requests","fails",
 *            "created","updated"}
 *   EVENT   {"id","at","actor","pool","backend","what","old","new","generation"}
 *   WORKER  {"slot","pid","generation","applied_ns","oldest","snapshots","active","accepted"}
 *
 * Every mutation (POST, PATCH, PUT, DELETE) needs "Authorization: Bearer
 * TOKEN"; with no token configured every mutation is refused (403).  Errors
 * are {"error": "message"} with 400 (malformed JSON, bad field, value out of
 * range, unknown strategy, bad address), 401 (no or wrong token; with
 * WWW-Authenticate: Bearer), 403, 404 (unknown route, pool or backend), 405
 * (with Allow), 409 (duplicate backend, a backend the config file owns),
 * 413 (body over 64 KB), 500, 503 (registry busy, no free slot).  An error
 * changes nothing.  A successful mutation has committed and published its
 * generation (lbd_shm_publish) before lbd_api_handle returns; the
 * X-LBD-Generation header carries it.
 */
#ifndef LBD_API_H
#define LBD_API_H

#include <stddef.h>
#include <stdint.h>

#include "lbd_registry.h"

#define LBD_API_MAX_BODY  65536

struct lbd_api_ctx {
    struct lbd_registry *reg;       /* the control process's read-write connection */
    const char          *token;     /* NULL: mutations are refused */
};

struct lbd_api_request {
    const char *method;             /* "GET", "POST", ... */
    const char *uri;                /* as received: "/api/pools/web?x=1" (not decoded) */
    const char *authorization;      /* the header's value, or NULL */
    const char *body;               /* may be NULL when bodylen is 0; not NUL-terminated */
    size_t      bodylen;
};

struct lbd_api_response {
    int         status;             /* 200, 201, 4xx, 5xx */
    char       *body;               /* malloc'd JSON text, NUL-terminated; the caller frees */
    const char *allow;              /* for 405: "GET, POST"; else NULL */
    uint64_t    generation;         /* after a mutation, else 0 */
};

/*
 * Answer one request.  Always fills res (a JSON body, also for errors).
 * Control process only: it may write SQLite (fsync) and resolve names.
 */
void lbd_api_handle(const struct lbd_api_ctx *ctx, const struct lbd_api_request *req,
                    struct lbd_api_response *res);

#endif /* LBD_API_H */
