/*
 * lbd_access_log.h - the HTTP access log: one line per request, in the
 * combined format (what nginx and Apache write, what log tools read) or as
 * one JSON object per line.
 *
 * Each worker buffers its lines and writes whole lines with one write(2)
 * on an O_APPEND descriptor when the buffer fills or when
 * lbd_alog_flush_all() runs (a 1 s timer in the worker, and before exit),
 * so the lines of all workers interleave whole and a busy worker makes one
 * system call per buffer, not per request.  A write to a local file does
 * not block for long; a failed write is reported once per minute at most
 * and its lines are dropped, never retried forever (the loop must go on).
 *
 * Logs with the same path share one lbd_alog (two services may log to one
 * file).  USR1 makes the worker call lbd_alog_reopen_all(): logrotate moves
 * the file, lbd opens the path again.
 */
#ifndef LBD_ACCESS_LOG_H
#define LBD_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

enum lbd_alog_format {
    LBD_ALOG_COMBINED = 0,
    LBD_ALOG_JSON,
};

/* What one request line says.  Strings may be NULL ("-" / null). */
struct lbd_alog_entry {
    const char     *client;        /* client IP text */
    struct timeval  start;         /* wall clock when the request's first byte came */
    const char     *method;        /* strings need not be NUL-terminated: *_len */
    size_t          method_len;
    const char     *target;
    size_t          target_len;
    int             version;       /* 10 or 11; 0 when the request line was unreadable */
    int             status;        /* sent to the client (lbd's own errors included) */
    uint64_t        bytes_sent;    /* to the client, head and body */
    uint64_t        bytes_received;/* from the client, head and body */
    const char     *referer;
    size_t          referer_len;
    const char     *user_agent;
    size_t          user_agent_len;
    const char     *service;       /* service name */
    const char     *pool;          /* pool the request was routed to, or NULL */
    const char     *backend;       /* backend "host:port", or NULL (lbd answered) */
    int64_t         request_us;    /* first byte in to last byte out */
    int64_t         backend_us;    /* request sent to response complete; -1: none */
};

struct lbd_alog;

/*
 * The log for path in this process, opened (O_WRONLY|O_APPEND|O_CREAT,
 * 0644) on first use; later calls with the same path return the same log
 * (the format of the first call wins; the config checks they agree).
 * NULL with errno on failure (logged by the caller).  Worker, at start.
 */
struct lbd_alog *lbd_alog_get(const char *path, enum lbd_alog_format format);

/*
 * Format entry as one line into the log's buffer (64 KB); a line that
 * does not fit flushes the buffer first.  Never blocks for long.  Fields
 * are escaped: combined escapes '"', '\\' and bytes outside 0x20-0x7e as
 * \xHH (as nginx does); JSON escapes as JSON strings must.
 *
 * Combined:  CLIENT - - [21/Nov/2026:16:40:00 +0000] "METHOD TARGET HTTP/1.1"
 *            STATUS BYTES "REFERER" "USER_AGENT" BACKEND REQUEST_S BACKEND_S
 * (the last three are nginx's $upstream_addr $request_time
 * $upstream_response_time: "-" when there is none, times in seconds with
 * millisecond precision).
 * JSON:      {"time":"2026-11-21T16:40:00.123Z","client":..,"method":..,
 *            "target":..,"protocol":"HTTP/1.1","status":200,"bytes_sent":..,
 *            "bytes_received":..,"referer":..,"user_agent":..,"service":..,
 *            "pool":..,"backend":..,"request_time":0.001,"backend_time":0.001}
 */
void lbd_alog_write(struct lbd_alog *log, const struct lbd_alog_entry *entry);

/* Write out every log's buffered lines.  Worker loop (1 s timer, exit). */
void lbd_alog_flush_all(void);

/*
 * Flush, then open every log's path again (USR1, after logrotate).  A log
 * whose path cannot be opened keeps its old descriptor.  0, or -1 when one
 * failed (logged).
 */
int lbd_alog_reopen_all(void);

/* Flush and close every log of this process. */
void lbd_alog_close_all(void);

/*
 * Master: create path if missing and, when uid is not (uid_t) -1, chown it
 * to uid:gid, so that workers running as the user can open it.  At start
 * and before signalling workers on USR1.  0 or -1 (errno).
 */
int lbd_alog_prepare(const char *path, uid_t uid, gid_t gid);

#endif /* LBD_ACCESS_LOG_H */
