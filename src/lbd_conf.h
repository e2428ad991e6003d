/*
 * lbd_conf.h - the daemon's settings, read from a libconfig file.
 *
 * lbd_conf_load() reads and validates the whole file into a struct lbd_conf
 * that owns all of its memory; nothing in it points into libconfig.  A file
 * that is wrong anywhere (syntax, unknown key, wrong type, bad value, a
 * service naming a pool that does not exist, a name that does not resolve)
 * is refused as a whole with one message of the form "FILE:LINE: message".
 */
#ifndef LBD_CONF_H
#define LBD_CONF_H

#include <stddef.h>
#include <sys/types.h>

#include "lbd.h"

enum lbd_log_level {
    LBD_LOG_DEBUG = 0,
    LBD_LOG_INFO,
    LBD_LOG_NOTICE,
    LBD_LOG_WARN,
    LBD_LOG_ERROR,
    LBD_LOG_CRIT,
};

enum lbd_mode {
    LBD_MODE_TCP = 0,
    LBD_MODE_HTTP,
};

/* What the hash strategy keys on (HTTP services: a header or a cookie). */
enum lbd_hash_key {
    LBD_HASH_KEY_IP = 0,       /* the client's address (default; TCP and HTTP) */
    LBD_HASH_KEY_HEADER,       /* hash_key = "header:NAME": NAME's value, else the IP */
    LBD_HASH_KEY_COOKIE,       /* hash_key = "cookie:NAME": the cookie's value, else the IP */
};

struct lbd_backend_conf {
    struct lbd_addr addr;       /* resolved; addr.text is "host:port" as written */
    int             weight;     /* 1..1000, default 1 */
    int             line;
};

enum lbd_check_type {
    LBD_CHECK_NONE = 0,        /* no active checks: health stays unknown (counts as up) */
    LBD_CHECK_TCP,             /* a connect that succeeds within timeout */
    LBD_CHECK_HTTP,            /* an HTTP/1.1 request answered with status in range */
};

/* Active health checks of a pool's backends, run by the control process. */
struct lbd_check_conf {
    enum lbd_check_type type;
    int      interval;         /* ms between checks of one backend, default 2000 */
    int      timeout;          /* ms a check may take, default 1000 */
    int      rise;             /* consecutive successes that make a down backend up, default 2 */
    int      fall;             /* consecutive failures that make an up backend down, default 3 */
    char    *method;           /* http: default "GET" */
    char    *path;             /* http: default "/" */
    char    *host;             /* http: Host header; NULL: the backend's address */
    int      status_min;       /* http: accepted status range, default 200-399 */
    int      status_max;
    char    *body;             /* http: a substring the body must hold, or NULL */
};

/* Passive detection: a circuit breaker per backend, fed by every worker. */
struct lbd_passive_conf {
    int      failures;         /* consecutive failures that eject; 0: off; default 5 */
    int      ejection;         /* ms of the first ejection, default 10000 */
    int      max_ejection;     /* ms the doubling back-off stops at, default 300000 */
};

struct lbd_pool_conf {
    char                    *name;
    char                    *strategy;    /* a registered strategy name */
    struct lbd_check_conf    check;
    struct lbd_passive_conf  passive;
    int                      slow_start;  /* ms to ramp a backend that came up; 0: off */
    int                      retries;     /* other backends tried after a connect failure, default 3 */
    char                    *backup;      /* pool used when none of this one's is eligible, or NULL */
    int                      backup_index;/* index of backup in conf->pools, or -1 */

    /* HTTP services only. */
    int                      keepalive;   /* idle connections kept per backend per worker,
                                             0..10000, default 1024; 0: none */
    int                      keepalive_timeout; /* ms an idle backend connection is kept, default 60000 */
    char                    *sticky_cookie;/* cookie lbd sets to pin a client, NULL: off */
    enum lbd_hash_key        hash_key;    /* default LBD_HASH_KEY_IP */
    char                    *hash_key_name;/* header or cookie name, or NULL */

    struct lbd_backend_conf *backends;
    unsigned                 nbackends;   /* may be 0: backends come from the API */
    int                      line;
};

/*
 * A routing rule of an HTTP service: requests whose Host matches host and
 * whose path starts with path go to pool.  Of the rules that match, the one
 * with the longest path wins; at equal length one with a host beats one
 * without, and then the first written.  No rule: the service's pool.
 */
struct lbd_route_conf {
    char            *host;       /* lowercased, no port; "*.example.com" matches
                                    any subdomain; NULL: any host */
    char            *path;       /* prefix, starts with '/'; default "/" */
    char            *pool_name;
    unsigned         pool;       /* index into conf->pools */
    int              line;
};

/* An HTTP service's settings: its "http" group and "routes" list. */
struct lbd_http_conf {
    size_t           max_header_size;   /* a request or response head, default 8k,
                                           1k..64k and at most proxy_buffer_size / 2:
                                           over it a request gets 431 */
    int              header_timeout;    /* ms to receive a whole request head from its
                                           first byte, default 10000: then 408 */
    int              keepalive_timeout; /* ms a client connection may idle between
                                           requests, default 75000; 0: no keepalive */
    int              keepalive_requests;/* requests per client connection, default 1000 */
    int              response_timeout;  /* ms to wait for the response head once the
                                           request is sent, default 60000: then 504 */
    int              body_timeout;      /* ms a body may make no progress (either way),
                                           default 60000 */
    unsigned         forwarded_for:1;   /* X-Forwarded-For (appended), default on */
    unsigned         forwarded_proto:1; /* X-Forwarded-Proto, default on */
    unsigned         real_ip:1;         /* X-Real-IP, default on */
    char            *access_log;        /* path, NULL: off */
    int              access_log_format; /* enum lbd_alog_format, default combined */
    struct lbd_route_conf *routes;
    unsigned         nroutes;
};

struct lbd_service_conf {
    char            *name;
    struct lbd_addr  listen;
    enum lbd_mode    mode;
    char            *pool_name;
    unsigned         pool;             /* index into conf->pools */
    int              backlog;          /* listen(2) backlog, default 511 */
    int              reuseport;        /* one SO_REUSEPORT socket per worker, default 0
                                          (one socket all workers share) */
    int              connect_timeout;  /* ms; default conf->connect_timeout */
    int              idle_timeout;     /* ms; default conf->idle_timeout (http: tunnels) */
    struct lbd_http_conf http;         /* mode http */
    int              line;
};

/* The admin port: status page and /api/, served by the workers. */
struct lbd_admin_conf {
    int              enabled;      /* the file has an "admin" group */
    struct lbd_addr  listen;       /* default 127.0.0.1:8081 */
    char            *token;        /* bearer token; NULL: mutations are refused */
    char            *socket_path;  /* the control process's unix socket */
    char            *html;         /* the status page's files; default LBD_HTML_DIR */
    int              line;
};

struct lbd_conf {
    char    *file;                 /* path the config was read from */
    char    *registry_path;        /* the SQLite registry, default LBD_STATE_DIR/lbd.db */
    struct lbd_admin_conf admin;

    int      worker_processes;     /* resolved: "auto" becomes the CPU count */
    int      worker_connections;   /* max client connections per worker, default 8192 */
    char    *pid_file;
    char    *user;                 /* NULL: children keep the master's user */
    char    *group;                /* NULL: the user's primary group */
    uid_t    uid;                  /* resolved when user is set, else (uid_t) -1 */
    gid_t    gid;                  /* group's, else user's primary, else (gid_t) -1 */

    char    *error_log_path;       /* "stderr" or a file path */
    int      error_log_set;        /* the file names error_log.path */
    enum lbd_log_level error_log_level;

    int      connect_timeout;      /* ms, default 5000 */
    int      idle_timeout;         /* ms, default 600000 */
    int      shutdown_timeout;     /* ms, graceful stop budget, default 30000 */
    size_t   proxy_buffer_size;    /* bytes per direction, default 16384 */
    size_t   proxy_bulk_buffer_size;/* a streaming direction's, >= proxy_buffer_size,
                                      default 65536 */
    int      proxy_bulk_buffers;   /* bulk buffers a worker holds at most, default 256 */

    struct lbd_service_conf *services;
    unsigned                 nservices;  /* >= 1 */
    struct lbd_pool_conf    *pools;
    unsigned                 npools;     /* >= 1 */
};

/*
 * Read and validate path.  On success returns a new conf (free it with
 * lbd_conf_free) and leaves err untouched; on failure returns NULL and
 * writes "FILE:LINE: message" (or "FILE: message" when no line applies)
 * into err.  Master only: it may resolve host names, so it may block.
 */
struct lbd_conf *lbd_conf_load(const char *path, char *err, size_t errlen);

/* The pool of conf called name, or NULL.  Any process. */
const struct lbd_pool_conf *lbd_conf_pool(const struct lbd_conf *conf, const char *name);

/* Free a conf returned by lbd_conf_load.  NULL is fine. */
void lbd_conf_free(struct lbd_conf *conf);

/*
 * Parse "HOST:PORT" ("[v6]:PORT" for IPv6) into addr, resolving HOST with
 * getaddrinfo (numeric first).  Returns 0, or -1 with a reason in err.
 * Master only (may block on DNS).
 */
int lbd_addr_parse(const char *text, struct lbd_addr *addr, char *err, size_t errlen);

/*
 * Parse a duration such as "250ms", "5s", "2m", "1h" into milliseconds.
 * Returns 0, or -1 when the text is not a positive duration.
 */
int lbd_duration_parse(const char *text, int *ms);

/*
 * Split "HOST:PORT" ("[v6]:PORT") into host (without brackets) and *port,
 * checking the port is 1-65535.  No DNS.  0, or -1 with a reason in err.
 */
int lbd_addr_split(const char *text, char *host, size_t hostlen, int *port,
                   char *err, size_t errlen);

/*
 * Fill addr from a numeric host ("127.0.0.1", "::1") and port, with text
 * "host:port" ("[::1]:port").  No DNS: safe in a worker loop.  0 or -1.
 */
int lbd_addr_numeric(const char *host, int port, struct lbd_addr *addr);

/* The numeric host of addr ("127.0.0.1", "::1") into buf.  0 or -1. */
int lbd_addr_host(const struct lbd_addr *addr, char *buf, size_t len);

/* Parse a size such as "16k", "1m", "4096" into bytes.  0 or -1. */
int lbd_size_parse(const char *text, size_t *bytes);

/* The level called name ("debug".."crit"), or -1. */
int lbd_log_level_parse(const char *name);

#endif /* LBD_CONF_H */
