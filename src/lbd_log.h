/*
 * lbd_log.h - the error log.
 *
 * One line per message, written with a single write(2) on an O_APPEND file
 * descriptor, so lines of the master and of every worker interleave whole.
 * Format: "2026/11/21 16:40:00 [error] 1234: message[: errno text]".
 */
#ifndef LBD_LOG_H
#define LBD_LOG_H

#include "lbd_conf.h"

/*
 * Use path ("stderr" or a file, opened O_APPEND|O_CREAT, mode 0644) at level.
 * Returns 0, or -1 with errno set; on failure the previous log stays.
 */
int lbd_log_open(const char *path, enum lbd_log_level level);

/*
 * Open path again (after logrotate moved it).  Returns 0 or -1 (errno).
 * When uid is not (uid_t) -1 the file is chowned to uid:gid, so that an
 * unprivileged child can reopen it too.
 */
int lbd_log_reopen(uid_t uid, gid_t gid);

/*
 * Also copy every line to stderr (lbd -g: the terminal or the service
 * manager sees the log while the configured file still gets it).
 */
void lbd_log_also_stderr(int on);

/* The descriptor the log writes to (for dup2 of stderr). */
int lbd_log_fd(void);

/* Whether a message at level would be written. */
int lbd_log_enabled(enum lbd_log_level level);

/* Log at level; when err is not 0, append ": " and strerror(err). */
void lbd_log_err(enum lbd_log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lbd_log(level, ...)  lbd_log_err((level), 0, __VA_ARGS__)

#define lbd_debug(...) do { \
        if (lbd_log_enabled(LBD_LOG_DEBUG)) lbd_log_err(LBD_LOG_DEBUG, 0, __VA_ARGS__); \
    } while (0)

#endif /* LBD_LOG_H */
