/*
 * lbd_log.c - the error log.
 *
 * Writes are synchronous write(2) calls on a regular file or stderr.  That
 * is a system call on the worker's loop, but an append to the page cache does
 * not wait on the disk, and the error log is not written per byte proxied:
 * only on events worth an operator's attention.  The access log (HTTP mode)
 * is buffered separately.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lbd_log.h"

static int                log_fd = 2;
static enum lbd_log_level log_level = LBD_LOG_NOTICE;
static char               log_path[4096] = "stderr";
static int                also_stderr;

static const char *const level_names[] = {
    "debug", "info", "notice", "warn", "error", "crit",
};

static int
open_path(const char *path)
{
    if (strcmp(path, "stderr") == 0)
        return 2;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int
lbd_log_open(const char *path, enum lbd_log_level level)
{
    int fd = open_path(path);

    if (fd == -1)
        return -1;
    if (log_fd > 2 && log_fd != fd)
        close(log_fd);
    log_fd = fd;
    log_level = level;
    snprintf(log_path, sizeof(log_path), "%s", path);
    return 0;
}

int
lbd_log_reopen(uid_t uid, gid_t gid)
{
    int fd;

    if (log_fd == 2)
        return 0;
    fd = open_path(log_path);
    if (fd == -1)
        return -1;
    if (uid != (uid_t) -1 && fchown(fd, uid, gid) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    /* A daemon's stderr is the log (lbd_proc_daemonize): move it along, or
     * stray writes keep the rotated file open and its space never comes back. */
    struct stat err_st, log_st;
    if (fstat(2, &err_st) == 0 && fstat(log_fd, &log_st) == 0 &&
        err_st.st_dev == log_st.st_dev && err_st.st_ino == log_st.st_ino)
        dup2(fd, 2);
    close(log_fd);
    log_fd = fd;
    return 0;
}

void
lbd_log_also_stderr(int on)
{
    also_stderr = on;
}

int
lbd_log_fd(void)
{
    return log_fd;
}

int
lbd_log_enabled(enum lbd_log_level level)
{
    return level >= log_level;
}

void
lbd_log_err(enum lbd_log_level level, int err, const char *fmt, ...)
{
    char       line[2048];
    size_t     n;
    int        r;
    time_t     now;
    struct tm  tm;
    va_list    ap;

    if (level < log_level)
        return;

    now = time(NULL);
    localtime_r(&now, &tm);
    n = strftime(line, sizeof(line), "%Y/%m/%d %H:%M:%S ", &tm);
    r = snprintf(line + n, sizeof(line) - n, "[%s] %d: ",
                 level_names[level], (int) getpid());
    n += (size_t) r;

    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = (size_t) r < sizeof(line) - n ? n + (size_t) r : sizeof(line) - 1;

    if (err != 0 && n < sizeof(line) - 1) {
        r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err));
        n = (size_t) r < sizeof(line) - n ? n + (size_t) r : sizeof(line) - 1;
    }
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';

    /* One write: whole lines, even with several processes on one file. */
    while (write(log_fd, line, n) == -1 && errno == EINTR)
        ;
    if (also_stderr && log_fd != 2)
        while (write(2, line, n) == -1 && errno == EINTR)
            ;
}
