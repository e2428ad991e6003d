/*
 * harness.h - what lbd's integration tests (t/it_*.c) use to drive the real
 * binaries: objs/lbd, objs/lbd-testsrv and real TCP clients on 127.0.0.1.
 *
 * The life of a test binary:
 *
 *     main:      h_init(120);  cmocka_run_group_tests(tests, NULL, NULL);
 *     each test: cmocka_unit_test_setup_teardown(fn, h_setup, h_teardown)
 *
 * h_init() makes the test process a child subreaper, so every process it
 * starts, and every process those start (lbd's workers), stays its
 * descendant even when a parent dies.  h_teardown() kills and reaps all of
 * them, and the global alarm does the same before exiting with status 1.
 * Spawned children also get PR_SET_PDEATHSIG(SIGKILL), so a test binary that
 * crashes takes its direct children with it.
 *
 * Every wait is a poll with a deadline; nothing sleeps and hopes.  Functions
 * that can fail return 0 / -1 (or a pid / -1) and print the reason to stderr
 * with an "harness:" prefix, so a failing assert has context in the log.
 *
 * Environment: LBD_BIN (default objs/lbd), LBD_TESTSRV (default
 * objs/lbd-testsrv), LBD_TEST_KEEP=1 keeps each test's temp dir,
 * LBD_TEST_VERBOSE=1 prints lbd's output at teardown.
 */
#ifndef LBD_HARNESS_H
#define LBD_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lbd_testdata.h"

/* --- set-up and tear-down --- */

/*
 * Prepare the test process: child subreaper, SIGPIPE ignored, and an alarm
 * of timeout_sec seconds whose handler kills every descendant and _exit(1)s.
 * Call once, first thing in main.
 */
void h_init(int timeout_sec);

/* cmocka setup: a fresh temp dir for the test (mkdtemp).  0 or -1. */
int h_setup(void **state);

/*
 * cmocka teardown: kill (SIGKILL) and reap every descendant, close the
 * descriptors the harness kept, remove the temp dir.  Returns 0, or -1 (the
 * test counts as failed) when a log in the temp dir holds a sanitizer report.
 */
int h_teardown(void **state);

/* The current test's temp dir. */
const char *h_tmpdir(void);

/*
 * "<tmpdir>/<name>".  The string belongs to the harness and lives until
 * teardown.
 */
const char *h_path(const char *name);

/* --- time and waiting --- */

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t h_now_ms(void);

/*
 * Call cond(arg) every few milliseconds until it returns non-zero or
 * timeout_ms passes.  Returns 0 when the condition held, -1 on timeout.
 */
int h_wait(int (*cond)(void *arg), void *arg, int timeout_ms);

/* Wait until none of the n processes in pids is alive.  0, or -1 on timeout. */
int h_wait_gone(const pid_t *pids, int n, int timeout_ms);

/* Sleep ms milliseconds: only to pace a poll loop or a measurement window. */
void h_msleep(int ms);

/* --- ports --- */

/*
 * A TCP port on 127.0.0.1 that nothing uses now, outside the kernel's
 * ephemeral range (so lbd's own outgoing connections cannot take it), and
 * never handed out before by this process.  Returns the port or -1.
 */
int h_free_port(void);

/* 1 when some socket is in LISTEN state on port (from /proc/net/tcp{,6}). */
int h_port_listening(int port);

/*
 * How many sockets are in LISTEN state on port (IPv4 and IPv6), their
 * inode numbers (as /proc/PID/fd shows them: "socket:[INODE]") into the
 * first max entries of inodes (may be NULL).
 */
int h_port_listeners(int port, unsigned long *inodes, int max);

/* Wait until port is (listening = 1) or is not (0) in LISTEN state.  0 or -1. */
int h_wait_listening(int port, int listening, int timeout_ms);

/*
 * Try one connection to 127.0.0.1:port.  Returns 1 when it was refused
 * (ECONNREFUSED), 0 when it was accepted (closed again at once), -1 on any
 * other outcome (timeout after timeout_ms, other error).
 */
int h_connect_refused(int port, int timeout_ms);

/* --- files and logs --- */

/*
 * Write the printf-formatted text to "<tmpdir>/<name>" (a temp file renamed
 * into place, so a reader never sees half of it).  Returns the path (see
 * h_path) or NULL.
 */
const char *h_write_file(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The whole of path, NUL-terminated, malloc'd (len may be NULL); NULL if unreadable. */
char *h_read_file(const char *path, size_t *len);

/* 1 when path exists. */
int h_file_exists(const char *path);

/*
 * Wait until a line of the file at path contains every one of the strings
 * (a NULL-terminated list).  0 when found, -1 on timeout.
 */
int h_log_wait(const char *path, int timeout_ms, ...) __attribute__((sentinel));

/* 1 when a line of path contains every string (NULL-terminated), else 0. */
int h_log_has(const char *path, ...) __attribute__((sentinel));

/*
 * Lines of path, from byte offset from on, that contain every one of the
 * strings (a NULL-terminated list of at most 4).  0 when path is unreadable.
 */
int h_log_count(const char *path, size_t from, ...) __attribute__((sentinel));

/* Print path to stderr, each line prefixed with "  | ". */
void h_dump(const char *path);

/* --- processes --- */

/*
 * Start argv[0] with argv (fork + exec; PR_SET_PDEATHSIG(SIGKILL); stdin
 * /dev/null; stdout and stderr appended to out_path, or inherited when NULL).
 * Returns the pid or -1.
 */
pid_t h_spawn(const char *const argv[], const char *out_path);

/*
 * In a child just forked by the test (parent: the test's pid before the
 * fork): die with the test, exit 127 if it is gone already, and undo what
 * the harness set for itself (its alarm, ignored SIGPIPE, blocked signals)
 * before an exec.
 */
void h_child_init(pid_t parent);

/*
 * From now on, processes h_spawn starts get RLIMIT_NOFILE soft = hard = n
 * before exec (0: unchanged, the default; teardown sets it back to 0).
 * Lowering a hard limit needs no privilege and cannot be undone, so it is
 * done in the child only: the test process keeps its own limit.
 */
void h_spawn_nofile(unsigned long n);

/*
 * The CPU time (user + system) pid has used, in clock ticks
 * (sysconf(_SC_CLK_TCK)) from /proc/pid/stat; -1 when unreadable.
 */
long h_proc_cpu_ticks(pid_t pid);

/*
 * Wait for pid (a child of this process) to exit, up to timeout_ms.
 * Returns 0 and the wait status in *status (may be NULL), or -1 on timeout.
 */
int h_wait_exit(pid_t pid, int timeout_ms, int *status);

/*
 * h_spawn, then h_wait_exit.  Returns the exit code (0..255), 128 + signal
 * when killed by a signal, or -1 (could not start, or still running after
 * timeout_ms: then it is killed).
 */
int h_run(const char *const argv[], const char *out_path, int timeout_ms);

/* 1 when pid exists and is not a zombie (a zombie child of ours is reaped). */
int h_pid_alive(pid_t pid);

/* 1 when /proc/pid exists at all, zombies included. */
int h_pid_exists(pid_t pid);

/*
 * SIGSTOP pid and wait until it is stopped (state T in /proc/pid/stat): from
 * then on it runs nothing (SIGSTOP alone is asynchronous).  0 or -1.
 */
int h_stop(pid_t pid, int timeout_ms);

/* The children of ppid that are not zombies, at most max into out.  Returns the count. */
int h_children(pid_t ppid, pid_t *out, int max);

/*
 * /proc/pid/cmdline with the NUL separators turned into spaces and trailing
 * NULs and spaces dropped.  0 or -1.
 */
int h_proc_cmdline(pid_t pid, char *buf, size_t len);

/* A "kB" field of /proc/pid/status, e.g. "VmRSS"; -1 if absent. */
long h_proc_status_kb(pid_t pid, const char *field);

/* 1 when one of pid's descriptors is the file path (as /proc/pid/fd shows it). */
int h_proc_has_open(pid_t pid, const char *path);

/* The real, effective, saved and fs uids of pid (the Uid: line).  0 or -1. */
int h_proc_uids(pid_t pid, long uids[4]);

/* --- backends (lbd-testsrv) --- */

/*
 * Start lbd-testsrv on 127.0.0.1:port named name, with extra flags (e.g. "-b",
 * "-x"; NULL for none), and wait until it listens.  Its stderr goes to
 * "<tmpdir>/srv-<port>.log".  Returns the pid or -1.
 */
pid_t h_testsrv(int port, const char *name, const char *flags);

/*
 * Fill the accept queue of a blackhole server (lbd-testsrv -x) on port:
 * connect until a connect does not finish within 200 ms.  The connections
 * are kept open until teardown.  Returns how many were queued, or -1.
 */
int h_blackhole_fill(int port);

/* --- lbd --- */

/*
 * What h_conf_write puts into a config.  One service "t" on
 * 127.0.0.1:port in tcp mode (or mode), using pool "p" with the given
 * backends.
 */
struct h_conf {
    int         workers;        /* worker_processes */
    int         port;           /* the service's port */
    const int  *backends;       /* ports on 127.0.0.1 */
    const int  *weights;        /* NULL: all 1 */
    int         nbackends;
    const char *timeouts;       /* body of timeouts = { }; NULL: connect 1s, idle 30s, shutdown 10s */
    const char *extra;          /* more top-level settings, or NULL */
    const char *more_services;  /* more elements of services = ( ), or NULL */
    const char *more_pools;     /* more elements of pools = ( ), or NULL */
    const char *registry;       /* the registry file; NULL: "<tmpdir>/lbd.db" */
    const char *strategy;       /* pool "p"'s strategy; NULL: "round_robin" */
    const char *pool_extra;     /* more settings inside pool "p"'s group (e.g. a
                                   health_check), or NULL */
    const char *mode;           /* service "t"'s mode; NULL: "tcp" */
    const char *service_extra;  /* more settings inside service "t"'s group (e.g.
                                   an http group and routes), or NULL */
};

/*
 * Write a config file "<tmpdir>/<name>" from c, with registry
 * "<tmpdir>/lbd.db", pid_file "<tmpdir>/lbd.pid" and error_log
 * "<tmpdir>/error.log" at level info.
 * Returns its path or NULL.
 */
const char *h_conf_write(const char *name, const struct h_conf *c);

/* A running lbd master started by h_lbd_start. */
struct h_lbd {
    pid_t       pid;            /* the master */
    const char *conf;           /* config file */
    const char *out;            /* its stdout + stderr: "<tmpdir>/lbd.out" */
    const char *error_log;      /* "<tmpdir>/error.log" */
    const char *pid_file;       /* "<tmpdir>/lbd.pid" */
};

/* The lbd binary: $LBD_BIN or objs/lbd. */
const char *h_lbd_bin(void);

/*
 * Start "lbd -g -c conf" and wait (10 s) until port listens and the master
 * has nworkers non-zombie children.  On failure prints lbd's output.
 * Returns 0 or -1.
 */
int h_lbd_start(struct h_lbd *l, const char *conf, int port, int nworkers);

/*
 * Start lbd as a daemon ("lbd -c conf", no -g): the command must exit 0
 * (the daemon said it is ready); the master's pid comes from the pid file.
 * The daemon is re-parented to the test process (the subreaper), so
 * h_wait_exit and teardown still work on it.  Then waits like h_lbd_start.
 * Returns 0 or -1.
 */
int h_lbd_start_daemon(struct h_lbd *l, const char *conf, int port, int nworkers);

/*
 * The master's live children but its control process (its workers), at
 * most max.  Returns the count.
 */
int h_lbd_workers(const struct h_lbd *l, pid_t *out, int max);

/* The master's control process, or -1 when it has none now. */
pid_t h_lbd_control(const struct h_lbd *l);

/* The common set-up of a test: one backend and lbd in front of it. */
struct h_single {
    struct h_lbd l;
    int          port;          /* lbd's service */
    int          backend;       /* the backend's port */
    const char  *conf;          /* "<tmpdir>/lbd.conf" */
};

/*
 * Start a testsrv called name (srv_flags as h_testsrv) and lbd with nworkers
 * and extra top-level settings (as h_conf.extra) in front of it.
 * Returns 0 or -1 (the reason on stderr).
 */
int h_single_start(struct h_single *s, int nworkers, const char *extra,
                   const char *name, const char *srv_flags);

/*
 * Open one connection to a banner backend through port (lbd-testsrv -b) and
 * read its greeting: the chosen backend's name, without the newline, into
 * name; "" when the connection was closed or nothing came within 3 s.
 */
void h_banner(int port, char *name, size_t cap);

/*
 * n "NAME" requests to port, each answered "<name>\n" within 5 s.
 * Returns 0, or -1 with the first wrong answer on stderr.
 */
int h_expect_name(int port, const char *name, int n);

/* --- clients --- */

/*
 * Connect to 127.0.0.1:port within timeout_ms.  Returns a non-blocking
 * descriptor, or -1 with errno set (ECONNREFUSED, ETIMEDOUT...).
 */
int h_connect(int port, int timeout_ms);

/* Send all len bytes of buf on non-blocking fd within timeout_ms.  0 or -1. */
int h_send_all(int fd, const void *buf, size_t len, int timeout_ms);

/*
 * Read until '\n' (included) or cap - 1 bytes, NUL-terminate.  Reads byte by
 * byte, so nothing after the line is consumed.  Returns the length, or -1 on
 * EOF before a line, error or timeout.
 */
ssize_t h_recv_line(int fd, char *buf, size_t cap, int timeout_ms);

/*
 * Read and discard until EOF within timeout_ms.  Returns the number of bytes
 * discarded, or -1 (error, reset, or timeout: errno ETIMEDOUT).
 */
ssize_t h_recv_eof(int fd, int timeout_ms);

/*
 * One exchange: connect, send req, half-close, read everything until EOF
 * into resp (NUL-terminated; more than cap - 1 bytes is an error).
 * Returns 0 with *resp_len set (may be NULL), or -1 with errno set.
 */
int h_request(int port, const void *req, size_t req_len, char *resp, size_t cap,
              size_t *resp_len, int timeout_ms);

/*
 * A streaming, full-duplex client: it sends cmd, then send_len bytes of the
 * stream of send_seed (lbd_testdata.h), then half-closes (unless keep_open),
 * while it reads everything until EOF, counting and hashing what it gets and
 * keeping the first keep_cap bytes.  Fill in the first block, then
 * h_stream_open; then h_stream_run until it returns 0.
 */
struct h_stream {
    /* set by the caller */
    const char    *cmd;         /* sent first; NULL for none */
    uint64_t       send_len;    /* generated bytes after cmd */
    uint64_t       send_seed;
    int            keep_open;   /* 1: do not half-close after sending */
    int            paused;      /* 1: do not read (the caller may flip it) */
    char          *keep;        /* the first received bytes go here (NUL-terminated) */
    size_t         keep_cap;

    /* progress, read-only for the caller */
    int            fd;
    uint64_t       sent;        /* generated bytes sent */
    uint64_t       sent_hash;   /* FNV-1a 64 of them */
    uint64_t       recvd;
    uint64_t       recv_hash;
    size_t         kept;
    int            shut;        /* half-closed */
    int            eof;         /* EOF received */
    int            err;         /* errno of the failure, 0 if none */

    /* private */
    size_t            cmd_off;
    struct lbd_td_rng rng;
    unsigned char    *buf;      /* generated, not yet sent: buf[off..len) */
    size_t            off, len;
    unsigned char    *rbuf;
};

/* Connect s to 127.0.0.1:port.  0 or -1 (s->err set). */
int h_stream_open(struct h_stream *s, int port, int timeout_ms);

/*
 * Move data for up to timeout_ms.  Returns 0 when everything is sent (and
 * half-closed unless keep_open) and EOF was read, 1 when timeout_ms passed
 * first, -1 on an error (s->err).
 */
int h_stream_run(struct h_stream *s, int timeout_ms);

/* Close the socket and free the buffers. */
void h_stream_close(struct h_stream *s);

/* --- HTTP and sqlite3 --- */

#define H_HTTP_MAX (4 * 1024 * 1024)

/*
 * One HTTP/1.1 request to 127.0.0.1:port (Connection: close; with
 * "Authorization: Bearer token" when token is not NULL; body as JSON when
 * not NULL).  The answer's body goes to resp (NUL-terminated, truncated to
 * cap).  Returns the status code, or -1 (no answer within timeout_ms).
 */
int h_http(int port, const char *method, const char *path, const char *token,
           const char *body, char *resp, size_t cap, int timeout_ms);

/*
 * An admin group for a config's top level, on 127.0.0.1:admin, with a
 * one-page html directory in the test's temp dir (written here):
 * "admin = { listen = ...; html = ...; };".  A static buffer.
 */
const char *h_admin_conf(int admin);

/* One live worker as /status.json lists it. */
struct h_worker_status {
    pid_t pid;
    long  active;               /* client connections open */
    long  buffer_bytes;         /* bytes of buffers its connections hold */
    long  bulk_buffers;         /* of which bulk buffers */
};

/*
 * GET /status.json from the admin port: its workers, at most max, into out.
 * Returns the count, or -1 (no 200 within 5 s, not JSON, no "workers"
 * array, a worker without one of the fields; the reason on stderr).
 */
int h_status_workers(int admin, struct h_worker_status *out, int max);

/*
 * Run the sqlite3 CLI on db with sql, as an operator would (no pragmas:
 * foreign keys off).  Its stdout and stderr go to out (NUL-terminated,
 * truncated to cap; out may be NULL).  Returns sqlite3's exit code or -1.
 */
int h_sqlite(const char *db, const char *sql, char *out, size_t cap);

#endif /* LBD_HARNESS_H */
