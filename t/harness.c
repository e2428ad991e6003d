/*
 * harness.c - the integration-test library; see harness.h for the contract.
 *
 * The one piece of global state is the test's temp dir and what hangs off it
 * (path strings, kept descriptors).  Process tracking needs no list: the test
 * process is a child subreaper, so "everything we started" is "every
 * descendant", found by walking /proc.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "harness.h"

#define MAX_PROCS   1024    /* descendants tracked by one /proc walk */
#define MAX_KEPT    64      /* descriptors kept until teardown */
#define POLL_MS     5       /* pace of h_wait */
#define STREAM_BUF  (256 * 1024)

struct path_str {
    struct path_str *next;
    char             s[];
};

static char             tmpdir[256];
static struct path_str *paths;
static int              kept_fds[MAX_KEPT];
static int              nkept;
/* h_spawn_nofile's limit for the children h_spawn starts; 0: theirs is ours. */
static unsigned long    spawn_nofile;
static int              used_ports[4096];
static int              nused_ports;

static void
say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Processes: the /proc walk, safe in a signal handler (no stdio, no malloc). */

/* Parse the ppid and state out of /proc/pid/stat.  0 or -1. */
static int
proc_stat(pid_t pid, pid_t *ppid, char *state)
{
    char    path[64], buf[512], *p;
    int     fd, n, i;
    long    v = 0;

    /* Hand-made "/proc/%d/stat": snprintf is not async-signal-safe. */
    char    digits[16];
    int     nd = 0;
    long    x = pid;

    do {
        digits[nd++] = (char) ('0' + x % 10);
        x /= 10;
    } while (x > 0);
    memcpy(path, "/proc/", 6);
    for (i = 0; i < nd; i++)
        path[6 + i] = digits[nd - 1 - i];
    memcpy(path + 6 + nd, "/stat", 6);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    n = (int) read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')' - use the last ')'. */
    p = NULL;
    for (i = n - 1; i >= 0; i--) {
        if (buf[i] == ')') {
            p = buf + i;
            break;
        }
    }
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return -1;
    *state = p[2];
    for (p += 4; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    *ppid = (pid_t) v;
    return 0;
}

struct linux_dirent64 {
    uint64_t       d_ino;
    int64_t        d_off;
    unsigned short d_reclen;
    unsigned char  d_type;
    char           d_name[];
};

/*
 * Send sig to every descendant of this process, repeating the walk until a
 * pass finds nobody new (children of a killed parent are re-parented to us,
 * the subreaper).  Async-signal-safe.  Returns how many were signalled.
 */
static int
kill_descendants(int sig)
{
    static pid_t set[MAX_PROCS];
    int          nset = 1, found, pass, total = 0;
    char         dbuf[8192];

    set[0] = getpid();
    for (pass = 0; pass < 8; pass++) {
        int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        long n;

        if (fd == -1)
            return total;
        found = 0;
        while ((n = syscall(SYS_getdents64, fd, dbuf, sizeof(dbuf))) > 0) {
            for (long off = 0; off < n;) {
                struct linux_dirent64 *d = (struct linux_dirent64 *) (dbuf + off);
                pid_t  pid = 0, ppid;
                char   st;
                int    known = 0, parent = 0;
                const char *c;

                off += d->d_reclen;
                for (c = d->d_name; *c >= '0' && *c <= '9'; c++)
                    pid = pid * 10 + (*c - '0');
                if (*c != '\0' || pid <= 0 || proc_stat(pid, &ppid, &st) == -1)
                    continue;
                for (int i = 0; i < nset; i++) {
                    if (set[i] == pid)
                        known = 1;
                    if (set[i] == ppid)
                        parent = 1;
                }
                if (!parent || known || nset == MAX_PROCS)
                    continue;
                set[nset++] = pid;
                if (st != 'Z') {
                    kill(pid, sig);
                    total++;
                }
                found = 1;
            }
        }
        close(fd);
        if (!found)
            break;
    }
    return total;
}

/* Kill every descendant and reap our children, for up to timeout_ms. */
static void
kill_and_reap_all(int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;

    for (;;) {
        int   alive = kill_descendants(SIGKILL);
        pid_t r;

        while ((r = waitpid(-1, NULL, WNOHANG)) > 0)
            ;
        if (alive == 0 && r == -1 && errno == ECHILD)
            return;
        if (h_now_ms() > deadline) {
            say("processes still alive after %d ms at teardown", timeout_ms);
            return;
        }
        h_msleep(POLL_MS);
    }
}

static void
on_alarm(int sig)
{
    static const char msg[] = "harness: global timeout: killing everything\n";

    (void) !write(2, msg, sizeof(msg) - 1);
    for (int i = 0; i < 3; i++)
        kill_descendants(SIGKILL);
    _exit(1);
}

void
h_init(int timeout_sec)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
        say("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    srand((unsigned) getpid() ^ (unsigned) time(NULL));
    setvbuf(stderr, NULL, _IONBF, 0);
    /* LBD_TEST_ONLY=test_name (a glob) runs just those tests of the binary. */
    if (getenv("LBD_TEST_ONLY") != NULL)
        cmocka_set_test_filter(getenv("LBD_TEST_ONLY"));
    alarm((unsigned) timeout_sec);
}

/* ------------------------------------------------------------------ */
/* Set-up, tear-down, paths. */

static int
rm_rf(const char *path)
{
    DIR           *d = opendir(path);
    struct dirent *e;
    char           sub[512];

    if (d == NULL)
        return unlink(path);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    closedir(d);
    return rmdir(path);
}

int
h_setup(void **state)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/lbd-it.XXXXXX", base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        say("mkdtemp %s: %s", tmpdir, strerror(errno));
        tmpdir[0] = '\0';
        return -1;
    }
    return 0;
}

/*
 * 1 when a log in the temp dir (lbd's output, its error log, the backends'
 * logs) holds a sanitizer report: a daemon built with --with-sanitizers
 * writes them to stderr, where no assertion would look.
 */
static int
sanitizer_reports(void)
{
    static const char *const marks[] = {
        "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
    };
    DIR           *d = opendir(tmpdir);
    struct dirent *e;
    int            found = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t      n = strlen(e->d_name);
        const char *path;
        char       *text;

        if (n < 4 || (strcmp(e->d_name + n - 4, ".log") != 0
                      && strcmp(e->d_name + n - 4, ".out") != 0))
            continue;
        path = h_path(e->d_name);
        text = h_read_file(path, NULL);
        for (size_t i = 0; text != NULL && i < sizeof(marks) / sizeof(marks[0]); i++) {
            if (strstr(text, marks[i]) != NULL) {
                say("sanitizer report in %s:", path);
                h_dump(path);
                found = 1;
                break;
            }
        }
        free(text);
    }
    closedir(d);
    return found;
}

int
h_teardown(void **state)
{
    const char *verbose = getenv("LBD_TEST_VERBOSE");
    const char *keep = getenv("LBD_TEST_KEEP");
    int         rc = 0;

    kill_and_reap_all(5000);
    spawn_nofile = 0;
    for (int i = 0; i < nkept; i++)
        close(kept_fds[i]);
    nkept = 0;
    if (tmpdir[0] != '\0') {
        if (sanitizer_reports())
            rc = -1;
        if (verbose != NULL && *verbose == '1') {
            fprintf(stderr, "harness: %s/lbd.out:\n", tmpdir);
            h_dump(h_path("lbd.out"));
        }
        if (keep != NULL && *keep == '1')
            say("kept %s", tmpdir);
        else
            rm_rf(tmpdir);
    }
    while (paths != NULL) {
        struct path_str *next = paths->next;

        free(paths);
        paths = next;
    }
    tmpdir[0] = '\0';
    return rc;
}

const char *
h_tmpdir(void)
{
    return tmpdir;
}

const char *
h_path(const char *name)
{
    size_t           n = strlen(tmpdir) + 1 + strlen(name) + 1;
    struct path_str *p = malloc(sizeof(*p) + n);

    if (p == NULL)
        abort();
    snprintf(p->s, n, "%s/%s", tmpdir, name);
    p->next = paths;
    paths = p;
    return p->s;
}

/* ------------------------------------------------------------------ */
/* Time. */

int64_t
h_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
h_msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int
h_wait(int (*cond)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;

    for (;;) {
        if (cond(arg))
            return 0;
        if (h_now_ms() >= deadline)
            return -1;
        h_msleep(POLL_MS);
    }
}

/* ------------------------------------------------------------------ */
/* Ports. */

static int
port_bindable(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    if (fd == -1)
        return 0;
    /* No SO_REUSEADDR: a port with TIME_WAIT leftovers counts as used. */
    ok = bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

int
h_free_port(void)
{
    int   lo = 32768, hi = 60999, first, last;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f != NULL) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    /* Below the ephemeral range if there is room, else above it. */
    if (lo > 12000) {
        first = 10000;
        last = lo - 1;
    } else {
        first = hi + 1;
        last = 65535;
    }
    for (int tries = 0; tries < 1000 && last > first; tries++) {
        int port = first + rand() % (last - first + 1), used = 0;

        for (int i = 0; i < nused_ports; i++)
            used |= used_ports[i] == port;
        if (used || !port_bindable(port))
            continue;
        if (nused_ports < (int) (sizeof(used_ports) / sizeof(used_ports[0])))
            used_ports[nused_ports++] = port;
        return port;
    }
    say("no free port in %d..%d", first, last);
    return -1;
}

/* LISTEN sockets on port in file (/proc/net/tcp{,6}); their inodes into inodes[n..max). */
static int
listeners_in(const char *file, int port, unsigned long *inodes, int n, int max)
{
    FILE *f = fopen(file, "r");
    char  line[512];

    if (f == NULL)
        return n;
    while (fgets(line, sizeof(line), f) != NULL) {
        char          local[128];
        unsigned      st;
        unsigned long inode;
        char         *colon;

        /* "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode" */
        if (sscanf(line, " %*s %127s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
            continue;
        colon = strrchr(local, ':');
        if (colon == NULL || st != 0x0A || strtol(colon + 1, NULL, 16) != port)
            continue;
        if (inodes != NULL && n < max)
            inodes[n] = inode;
        n++;
    }
    fclose(f);
    return n;
}

int
h_port_listeners(int port, unsigned long *inodes, int max)
{
    return listeners_in("/proc/net/tcp6", port, inodes,
                        listeners_in("/proc/net/tcp", port, inodes, 0, max), max);
}

int
h_port_listening(int port)
{
    return h_port_listeners(port, NULL, 0) > 0;
}

struct listen_arg {
    int port;
    int want;
};

static int
listening_is(void *arg)
{
    struct listen_arg *a = arg;

    return h_port_listening(a->port) == a->want;
}

int
h_wait_listening(int port, int listening, int timeout_ms)
{
    struct listen_arg a = { port, listening ? 1 : 0 };

    if (h_wait(listening_is, &a, timeout_ms) == 0)
        return 0;
    say("port %d still %slistening after %d ms", port, listening ? "not " : "", timeout_ms);
    return -1;
}

int
h_connect_refused(int port, int timeout_ms)
{
    int fd = h_connect(port, timeout_ms);

    if (fd != -1) {
        close(fd);
        return 0;
    }
    return errno == ECONNREFUSED ? 1 : -1;
}

/* ------------------------------------------------------------------ */
/* Files and logs. */

const char *
h_write_file(const char *name, const char *fmt, ...)
{
    const char *path = h_path(name);
    char        tmp[600];
    FILE       *f;
    va_list     ap;
    int         rc;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        say("%s: %s", tmp, strerror(errno));
        return NULL;
    }
    va_start(ap, fmt);
    rc = vfprintf(f, fmt, ap);
    va_end(ap);
    if (rc < 0 || fclose(f) != 0 || rename(tmp, path) == -1) {
        say("writing %s: %s", path, strerror(errno));
        return NULL;
    }
    return path;
}

char *
h_read_file(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "r");
    char  *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);

        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int
h_file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* 1 when a line of the file contains all needles[0..n). */
static int
file_has_line(const char *path, const char *const *needles, int n)
{
    char *text = h_read_file(path, NULL), *line, *save = NULL;
    int   found = 0;

    if (text == NULL)
        return 0;
    for (line = strtok_r(text, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        int all = 1;

        for (int i = 0; i < n && all; i++)
            all = strstr(line, needles[i]) != NULL;
        found = all;
    }
    free(text);
    return found;
}

#define MAX_NEEDLES 8

struct log_arg {
    const char *path;
    const char *needles[MAX_NEEDLES];
    int         n;
};

static int
log_has_cond(void *arg)
{
    struct log_arg *a = arg;

    return file_has_line(a->path, a->needles, a->n);
}

static void
collect_needles(struct log_arg *a, va_list ap)
{
    const char *s;

    a->n = 0;
    while ((s = va_arg(ap, const char *)) != NULL && a->n < MAX_NEEDLES)
        a->needles[a->n++] = s;
}

int
h_log_wait(const char *path, int timeout_ms, ...)
{
    struct log_arg a = { .path = path };
    va_list        ap;

    va_start(ap, timeout_ms);
    collect_needles(&a, ap);
    va_end(ap);
    if (h_wait(log_has_cond, &a, timeout_ms) == 0)
        return 0;
    say("no line with \"%s\"%s in %s after %d ms; it holds:", a.needles[0],
        a.n > 1 ? " (and more)" : "", path, timeout_ms);
    h_dump(path);
    return -1;
}

int
h_log_has(const char *path, ...)
{
    struct log_arg a = { .path = path };
    va_list        ap;

    va_start(ap, path);
    collect_needles(&a, ap);
    va_end(ap);
    return file_has_line(path, a.needles, a.n);
}

void
h_dump(const char *path)
{
    char *text = h_read_file(path, NULL), *line, *save = NULL;

    if (text == NULL) {
        fprintf(stderr, "  | (%s: %s)\n", path, strerror(errno));
        return;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        fprintf(stderr, "  | %s\n", line);
    free(text);
}

/* ------------------------------------------------------------------ */
/* Processes. */

void
h_spawn_nofile(unsigned long n)
{
    spawn_nofile = n;
}

long
h_proc_cpu_ticks(pid_t pid)
{
    char  path[64], *text, *p;
    long  utime, stime;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    if ((text = h_read_file(path, NULL)) == NULL)
        return -1;
    /* After the command's ")": state is field 3, utime 14, stime 15. */
    p = strrchr(text, ')');
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
                            &utime, &stime) != 2) {
        free(text);
        return -1;
    }
    free(text);
    return utime + stime;
}

void
h_child_init(pid_t parent)
{
    sigset_t none;

    /* Die with the test; and do not outlive a parent that died already. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    alarm(0);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t
h_spawn(const char *const argv[], const char *out_path)
{
    pid_t parent = getpid(), pid;
    int   out = -1;

    if (out_path != NULL) {
        out = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out == -1) {
            say("%s: %s", out_path, strerror(errno));
            return -1;
        }
    }
    pid = fork();
    if (pid == -1) {
        say("fork: %s", strerror(errno));
        if (out != -1)
            close(out);
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);

        h_child_init(parent);
        if (in != -1) {
            dup2(in, 0);
            close(in);
        }
        if (out != -1) {
            dup2(out, 1);
            dup2(out, 2);
        }
        if (spawn_nofile != 0) {
            struct rlimit rl = { spawn_nofile, spawn_nofile };

            if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
                fprintf(stderr, "harness: setrlimit(RLIMIT_NOFILE, %lu): %s\n",
                        spawn_nofile, strerror(errno));
                _exit(127);
            }
        }
        execvp(argv[0], (char *const *) argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out != -1)
        close(out);
    return pid;
}

int
h_wait_exit(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    int     st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid) {
            if (status != NULL)
                *status = st;
            return 0;
        }
        if (r == -1 && errno != EINTR) {
            say("waitpid %d: %s", (int) pid, strerror(errno));
            return -1;
        }
        if (h_now_ms() >= deadline)
            return -1;
        h_msleep(POLL_MS);
    }
}

int
h_run(const char *const argv[], const char *out_path, int timeout_ms)
{
    pid_t pid = h_spawn(argv, out_path);
    int   st;

    if (pid == -1)
        return -1;
    if (h_wait_exit(pid, timeout_ms, &st) == -1) {
        say("%s still running after %d ms: killed", argv[0], timeout_ms);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

int
h_pid_alive(pid_t pid)
{
    pid_t ppid;
    char  st;

    if (waitpid(pid, NULL, WNOHANG) == pid)
        return 0;
    if (proc_stat(pid, &ppid, &st) == -1)
        return 0;
    return st != 'Z' && st != 'X';
}

int
h_pid_exists(pid_t pid)
{
    pid_t ppid;
    char  st;

    return proc_stat(pid, &ppid, &st) == 0;
}

static int
is_stopped(void *arg)
{
    pid_t ppid;
    char  st;

    return proc_stat(*(pid_t *) arg, &ppid, &st) == 0 && st == 'T';
}

int
h_stop(pid_t pid, int timeout_ms)
{
    if (kill(pid, SIGSTOP) == -1) {
        say("kill(%d, SIGSTOP): %s", (int) pid, strerror(errno));
        return -1;
    }
    if (h_wait(is_stopped, &pid, timeout_ms) == 0)
        return 0;
    say("process %d not stopped %d ms after SIGSTOP", (int) pid, timeout_ms);
    return -1;
}

int
h_children(pid_t parent, pid_t *out, int max)
{
    DIR           *d = opendir("/proc");
    struct dirent *e;
    int            n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long  pid = strtol(e->d_name, &end, 10);
        pid_t ppid;
        char  st;

        if (*end != '\0' || pid <= 0 || proc_stat((pid_t) pid, &ppid, &st) == -1)
            continue;
        if (ppid == parent && st != 'Z' && st != 'X')
            out[n++] = (pid_t) pid;
    }
    closedir(d);
    return n;
}

int
h_proc_cmdline(pid_t pid, char *buf, size_t len)
{
    char    path[64];
    int     fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    while (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == ' '))
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return 0;
}

/* The line of /proc/pid/status that starts with "field:", after the colon. */
static int
status_field(pid_t pid, const char *field, char *val, size_t len)
{
    char   path[64], line[256];
    FILE  *f;
    size_t fl = strlen(field);
    int    found = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            snprintf(val, len, "%s", line + fl + 1);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

long
h_proc_status_kb(pid_t pid, const char *field)
{
    char val[128];

    if (status_field(pid, field, val, sizeof(val)) == -1)
        return -1;
    return strtol(val, NULL, 10);
}

int
h_proc_has_open(pid_t pid, const char *path)
{
    char           dir[64], link[600], target[600];
    DIR           *d;
    struct dirent *e;
    int            found = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
    d = opendir(dir);
    if (d == NULL)
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        ssize_t n;

        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        found = strcmp(target, path) == 0;
    }
    closedir(d);
    return found;
}

int
h_proc_uids(pid_t pid, long uids[4])
{
    char val[128];

    if (status_field(pid, "Uid", val, sizeof(val)) == -1)
        return -1;
    return sscanf(val, "%ld %ld %ld %ld", &uids[0], &uids[1], &uids[2], &uids[3]) == 4 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Backends. */

static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : dflt;
}

const char *
h_lbd_bin(void)
{
    return env_or("LBD_BIN", "objs/lbd");
}

pid_t
h_testsrv(int port, const char *name, const char *flags)
{
    char        listen_on[64], log[64];
    const char *argv[8];
    int         argc = 0;
    pid_t       pid;

    snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
    snprintf(log, sizeof(log), "srv-%d.log", port);
    argv[argc++] = env_or("LBD_TESTSRV", "objs/lbd-testsrv");
    argv[argc++] = "-l";
    argv[argc++] = listen_on;
    argv[argc++] = "-n";
    argv[argc++] = name;
    if (flags != NULL)
        argv[argc++] = flags;
    argv[argc] = NULL;
    pid = h_spawn(argv, h_path(log));
    if (pid == -1)
        return -1;
    if (h_wait_listening(port, 1, 10000) == -1) {
        say("lbd-testsrv on port %d did not start:", port);
        h_dump(h_path(log));
        return -1;
    }
    return pid;
}

int
h_blackhole_fill(int port)
{
    int queued = 0;

    for (int i = 0; i < MAX_KEPT / 2; i++) {
        int fd = h_connect(port, 200);

        if (fd == -1) {
            if (errno == ETIMEDOUT)
                return queued;
            say("blackhole on port %d: connect: %s", port, strerror(errno));
            return -1;
        }
        if (nkept == MAX_KEPT) {
            close(fd);
            return -1;
        }
        kept_fds[nkept++] = fd;
        queued++;
    }
    say("blackhole on port %d never filled", port);
    return -1;
}

/* ------------------------------------------------------------------ */
/* lbd. */

const char *
h_conf_write(const char *name, const struct h_conf *c)
{
    char   backends[4096];
    size_t off = 0;

    backends[0] = '\0';
    for (int i = 0; i < c->nbackends; i++) {
        off += (size_t) snprintf(backends + off, sizeof(backends) - off,
                                 "%s\n        { address = \"127.0.0.1:%d\"; weight = %d; }",
                                 i > 0 ? "," : "", c->backends[i],
                                 c->weights != NULL ? c->weights[i] : 1);
        if (off >= sizeof(backends))
            return NULL;
    }
    return h_write_file(name,
        "# written by t/harness.c\n"
        "worker_processes = %d;\n"
        "registry = \"%s\";\n"
        "pid_file = \"%s\";\n"
        "error_log = { path = \"%s\"; level = \"info\"; };\n"
        "timeouts = { %s };\n"
        "%s\n"
        "services = (\n"
        "    { name = \"t\"; listen = \"127.0.0.1:%d\"; mode = \"%s\"; pool = \"p\";%s%s }%s%s\n"
        ");\n"
        "pools = (\n"
        "    { name = \"p\"; strategy = \"%s\"; %s\n      backends = (%s\n    ); }%s%s\n"
        ");\n",
        c->workers, c->registry ? c->registry : h_path("lbd.db"), h_path("lbd.pid"),
        h_path("error.log"),
        c->timeouts != NULL ? c->timeouts
                            : "connect = \"1s\"; idle = \"30s\"; shutdown = \"10s\";",
        c->extra != NULL ? c->extra : "",
        c->port, c->mode != NULL ? c->mode : "tcp",
        c->service_extra != NULL ? "\n      " : "", c->service_extra != NULL ? c->service_extra : "",
        c->more_services ? ",\n    " : "", c->more_services ? c->more_services : "",
        c->strategy != NULL ? c->strategy : "round_robin",
        c->pool_extra ? c->pool_extra : "", backends, c->more_pools ? ",\n    " : "",
        c->more_pools ? c->more_pools : "");
}

struct workers_arg {
    const struct h_lbd *l;
    int                 n;
};

static int
has_workers(void *arg)
{
    struct workers_arg *a = arg;
    pid_t               w[256];

    /* The control process first: until it has its title it looks like a worker. */
    return h_lbd_control(a->l) > 0 && h_lbd_workers(a->l, w, 256) == a->n;
}

/* Wait until port listens and l->pid has nworkers workers (10 s in all). */
static int
lbd_wait_ready(struct h_lbd *l, int port, int nworkers)
{
    struct workers_arg wa = { l, nworkers };
    int64_t            deadline = h_now_ms() + 10000;
    int                st;

    while (!h_port_listening(port)) {
        if (waitpid(l->pid, &st, WNOHANG) == l->pid) {
            say("lbd exited during start-up (status 0x%x); its output:", st);
            h_dump(l->out);
            l->pid = -1;
            return -1;
        }
        if (h_now_ms() >= deadline) {
            say("lbd does not listen on %d after 10 s; its output:", port);
            h_dump(l->out);
            return -1;
        }
        h_msleep(POLL_MS);
    }
    if (h_wait(has_workers, &wa, (int) (deadline - h_now_ms())) == -1) {
        pid_t w[256];

        say("lbd has %d workers, not %d, after 10 s; its output:",
            h_lbd_workers(l, w, 256), nworkers);
        h_dump(l->out);
        return -1;
    }
    return 0;
}

static void
lbd_paths(struct h_lbd *l, const char *conf)
{
    l->conf = conf;
    l->out = h_path("lbd.out");
    l->error_log = h_path("error.log");
    l->pid_file = h_path("lbd.pid");
}

static int
pid_file_ready(void *arg)
{
    struct h_lbd *l = arg;
    char         *text = h_read_file(l->pid_file, NULL);
    int           ok = text != NULL && atoi(text) > 0;

    if (ok)
        l->pid = (pid_t) atoi(text);
    free(text);
    return ok;
}

int
h_lbd_start_daemon(struct h_lbd *l, const char *conf, int port, int nworkers)
{
    const char *argv[] = { h_lbd_bin(), "-c", conf, NULL };
    int         rc;

    lbd_paths(l, conf);
    l->pid = -1;
    rc = h_run(argv, l->out, 10000);
    if (rc != 0) {
        say("lbd -c %s exited with %d; its output:", conf, rc);
        h_dump(l->out);
        return -1;
    }
    if (h_wait(pid_file_ready, l, 5000) == -1) {
        say("lbd -c %s: no pid in %s", conf, l->pid_file);
        return -1;
    }
    return lbd_wait_ready(l, port, nworkers);
}

int
h_lbd_start(struct h_lbd *l, const char *conf, int port, int nworkers)
{
    const char *argv[] = { h_lbd_bin(), "-g", "-c", conf, NULL };

    lbd_paths(l, conf);
    l->pid = h_spawn(argv, l->out);
    if (l->pid == -1)
        return -1;
    return lbd_wait_ready(l, port, nworkers);
}

#define H_TITLE_CONTROL "lbd: control process"

/*
 * The control process: the newest "started control process PID" of the
 * error log that is a live child of the master (titles are not reliable:
 * under valgrind a process cannot set one), else the child with the title.
 */
pid_t
h_lbd_control(const struct h_lbd *l)
{
    static const char tag[] = "started control process ";
    pid_t all[256], found = -1;
    int   n = h_children(l->pid, all, 256);
    char *text = l->error_log ? h_read_file(l->error_log, NULL) : NULL;
    char  t[256];

    for (const char *p = text; p != NULL && (p = strstr(p, tag)) != NULL; p += sizeof(tag) - 1) {
        pid_t pid = (pid_t) atoi(p + sizeof(tag) - 1);

        for (int i = 0; i < n; i++)
            if (all[i] == pid)
                found = pid;
    }
    free(text);
    if (found > 0)
        return found;
    for (int i = 0; i < n; i++)
        if (h_proc_cmdline(all[i], t, sizeof(t)) == 0
            && strncmp(t, H_TITLE_CONTROL, strlen(H_TITLE_CONTROL)) == 0)
            return all[i];
    return -1;
}

int
h_lbd_workers(const struct h_lbd *l, pid_t *out, int max)
{
    pid_t all[256];
    int   n = h_children(l->pid, all, 256), k = 0;
    pid_t control = h_lbd_control(l);

    for (int i = 0; i < n && k < max; i++)
        if (all[i] != control)
            out[k++] = all[i];
    return k;
}

/* ------------------------------------------------------------------ */
/* Clients. */

/* poll one fd for events, up to the deadline.  1 ready, 0 timeout, -1 error. */
static int
poll_until(int fd, short events, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };

    for (;;) {
        int64_t left = deadline - h_now_ms();
        int     r;

        if (left < 0)
            left = 0;
        r = poll(&p, 1, (int) left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int
h_connect(int port, int timeout_ms)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int                fd, err = 0, r;
    socklen_t          len = sizeof(err);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        err = errno;
        goto fail;
    }
    r = poll_until(fd, POLLOUT, h_now_ms() + timeout_ms);
    if (r == 0) {
        err = ETIMEDOUT;
        goto fail;
    }
    if (r == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
        goto fail;
    }
    if (err == 0)
        return fd;
fail:
    close(fd);
    errno = err;
    return -1;
}

int
h_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    const char *p = buf;
    int64_t     deadline = h_now_ms() + timeout_ms;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t) n;
            continue;
        }
        if (n == -1 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (poll_until(fd, POLLOUT, deadline) != 1) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

ssize_t
h_recv_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t  n = 0;

    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, 1, 0);

        if (r == 1) {
            if (buf[n++] == '\n')
                break;
            continue;
        }
        if (r == 0) {
            buf[n] = '\0';
            errno = ECONNRESET;
            return -1;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (poll_until(fd, POLLIN, deadline) != 1) {
            buf[n] = '\0';
            errno = ETIMEDOUT;
            return -1;
        }
    }
    buf[n] = '\0';
    return (ssize_t) n;
}

ssize_t
h_recv_eof(int fd, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    ssize_t total = 0;
    char    buf[65536];

    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);

        if (r > 0) {
            total += r;
            continue;
        }
        if (r == 0)
            return total;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (poll_until(fd, POLLIN, deadline) != 1) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

int
h_request(int port, const void *req, size_t req_len, char *resp, size_t cap,
          size_t *resp_len, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t  n = 0;
    int     fd, err;

    fd = h_connect(port, timeout_ms);
    if (fd == -1)
        return -1;
    if (h_send_all(fd, req, req_len, timeout_ms) == -1 || shutdown(fd, SHUT_WR) == -1)
        goto fail;
    for (;;) {
        ssize_t r;

        if (n + 1 >= cap) {
            errno = EMSGSIZE;
            goto fail;
        }
        r = recv(fd, resp + n, cap - 1 - n, 0);
        if (r > 0) {
            n += (size_t) r;
            continue;
        }
        if (r == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            goto fail;
        if (poll_until(fd, POLLIN, deadline) != 1) {
            errno = ETIMEDOUT;
            goto fail;
        }
    }
    resp[n] = '\0';
    if (resp_len != NULL)
        *resp_len = n;
    close(fd);
    return 0;
fail:
    err = errno;
    resp[n < cap ? n : cap - 1] = '\0';
    if (resp_len != NULL)
        *resp_len = n;
    close(fd);
    errno = err;
    return -1;
}

int
h_stream_open(struct h_stream *s, int port, int timeout_ms)
{
    s->fd = -1;
    s->sent = s->recvd = 0;
    s->sent_hash = s->recv_hash = LBD_TD_FNV_BASIS;
    s->kept = 0;
    s->shut = s->eof = s->err = 0;
    s->cmd_off = 0;
    s->off = s->len = 0;
    lbd_td_rng_init(&s->rng, s->send_seed);
    s->buf = malloc(STREAM_BUF);
    s->rbuf = malloc(STREAM_BUF);
    if (s->buf == NULL || s->rbuf == NULL) {
        s->err = ENOMEM;
        return -1;
    }
    if (s->keep != NULL && s->keep_cap > 0)
        s->keep[0] = '\0';
    s->fd = h_connect(port, timeout_ms);
    if (s->fd == -1) {
        s->err = errno;
        return -1;
    }
    return 0;
}

/* Send what can be sent now.  0, or -1 on error. */
static int
stream_send(struct h_stream *s)
{
    for (;;) {
        ssize_t n;

        if (s->cmd != NULL && s->cmd[s->cmd_off] != '\0') {
            n = send(s->fd, s->cmd + s->cmd_off, strlen(s->cmd + s->cmd_off), MSG_NOSIGNAL);
            if (n > 0) {
                s->cmd_off += (size_t) n;
                continue;
            }
        } else if (s->off < s->len) {
            n = send(s->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
            if (n > 0) {
                s->sent_hash = lbd_td_fnv1a64(s->sent_hash, s->buf + s->off, (size_t) n);
                s->off += (size_t) n;
                s->sent += (uint64_t) n;
                continue;
            }
        } else if (s->sent < s->send_len) {
            uint64_t want = s->send_len - s->sent;

            s->len = want < STREAM_BUF ? (size_t) want : STREAM_BUF;
            s->off = 0;
            lbd_td_fill(&s->rng, s->buf, s->len);
            continue;
        } else {
            if (!s->keep_open && !s->shut) {
                if (shutdown(s->fd, SHUT_WR) == -1)
                    return -1;
                s->shut = 1;
            }
            return 0;
        }
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return -1;
    }
}

/* Read what is there.  0, or -1 on error. */
static int
stream_recv(struct h_stream *s)
{
    for (;;) {
        ssize_t n = recv(s->fd, s->rbuf, STREAM_BUF, 0);

        if (n > 0) {
            s->recv_hash = lbd_td_fnv1a64(s->recv_hash, s->rbuf, (size_t) n);
            s->recvd += (uint64_t) n;
            if (s->keep != NULL && s->kept + 1 < s->keep_cap) {
                size_t k = s->keep_cap - 1 - s->kept;

                if (k > (size_t) n)
                    k = (size_t) n;
                memcpy(s->keep + s->kept, s->rbuf, k);
                s->kept += k;
                s->keep[s->kept] = '\0';
            }
            continue;
        }
        if (n == 0) {
            s->eof = 1;
            return 0;
        }
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        return -1;
    }
}

static int
stream_sending(const struct h_stream *s)
{
    return (s->cmd != NULL && s->cmd[s->cmd_off] != '\0') || s->off < s->len
           || s->sent < s->send_len || (!s->keep_open && !s->shut);
}

int
h_stream_run(struct h_stream *s, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;

    for (;;) {
        struct pollfd p = { .fd = s->fd };
        int64_t       left;

        if (stream_sending(s) && stream_send(s) == -1)
            break;
        if (!s->paused && !s->eof && stream_recv(s) == -1)
            break;
        if (!stream_sending(s) && s->eof)
            return 0;
        left = deadline - h_now_ms();
        if (left <= 0)
            return 1;
        if (stream_sending(s))
            p.events |= POLLOUT;
        if (!s->paused && !s->eof)
            p.events |= POLLIN;
        if (p.events == 0)
            p.fd = -1;      /* nothing to wait for but the clock */
        if (poll(&p, 1, (int) left) == -1 && errno != EINTR)
            break;
    }
    s->err = errno;
    return -1;
}

void
h_stream_close(struct h_stream *s)
{
    if (s->fd != -1)
        close(s->fd);
    s->fd = -1;
    free(s->buf);
    free(s->rbuf);
    s->buf = s->rbuf = NULL;
}

int
h_single_start(struct h_single *s, int nworkers, const char *extra,
               const char *name, const char *srv_flags)
{
    struct h_conf c = { .workers = nworkers, .backends = &s->backend, .nbackends = 1,
                        .extra = extra };

    if ((s->backend = h_free_port()) == -1 || h_testsrv(s->backend, name, srv_flags) == -1)
        return -1;
    if ((s->port = c.port = h_free_port()) == -1)
        return -1;
    if ((s->conf = h_conf_write("lbd.conf", &c)) == NULL)
        return -1;
    return h_lbd_start(&s->l, s->conf, s->port, nworkers);
}

int
h_expect_name(int port, const char *name, int n)
{
    char   want[128];

    snprintf(want, sizeof(want), "%s\n", name);
    for (int i = 0; i < n; i++) {
        char   resp[128];
        size_t len;

        if (h_request(port, "NAME\n", 5, resp, sizeof(resp), &len, 5000) == -1) {
            fprintf(stderr, "request %d of %d to port %d failed\n", i + 1, n, port);
            return -1;
        }
        if (strcmp(resp, want) != 0) {
            fprintf(stderr, "request %d of %d: got \"%s\", want \"%s\"\n", i + 1, n,
                    resp, name);
            return -1;
        }
    }
    return 0;
}

struct gone_arg {
    const pid_t *pids;
    int          n;
};

static int
all_gone(void *arg)
{
    struct gone_arg *a = arg;

    for (int i = 0; i < a->n; i++)
        if (h_pid_alive(a->pids[i]))
            return 0;
    return 1;
}

int
h_wait_gone(const pid_t *pids, int n, int timeout_ms)
{
    struct gone_arg a = { pids, n };

    return h_wait(all_gone, &a, timeout_ms);
}

/* ------------------------------------------------------------------ */
/* HTTP and sqlite3: the admin API and the registry, as operators use them. */

int
h_http(int port, const char *method, const char *path, const char *token,
       const char *body, char *resp, size_t cap, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t  n = 0, blen = body ? strlen(body) : 0;
    char    head[2048], *text, *sep;
    int     fd, hlen, status;

    hlen = snprintf(head, sizeof(head),
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                    "%s%s%s"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                    method, path, port, token ? "Authorization: Bearer " : "",
                    token ? token : "", token ? "\r\n" : "", blen);
    if (hlen < 0 || (size_t) hlen >= sizeof(head))
        return -1;
    text = malloc(H_HTTP_MAX);
    if (text == NULL)
        return -1;
    fd = h_connect(port, timeout_ms);
    if (fd == -1) {
        free(text);
        return -1;
    }
    if (h_send_all(fd, head, (size_t) hlen, timeout_ms) == -1
        || (blen && h_send_all(fd, body, blen, timeout_ms) == -1))
        goto fail;
    for (;;) {
        ssize_t r;

        if (n + 1 >= H_HTTP_MAX)
            goto fail;
        r = recv(fd, text + n, H_HTTP_MAX - 1 - n, 0);
        if (r > 0) {
            n += (size_t) r;
            continue;
        }
        if (r == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            goto fail;
        if (poll_until(fd, POLLIN, deadline) != 1)
            goto fail;
    }
    close(fd);
    text[n] = '\0';
    if (sscanf(text, "HTTP/1.%*d %d", &status) != 1 || (sep = strstr(text, "\r\n\r\n")) == NULL) {
        say("%s %s: not an HTTP answer: %.200s", method, path, text);
        free(text);
        return -1;
    }
    if (resp != NULL && cap > 0)
        snprintf(resp, cap, "%s", sep + 4);
    free(text);
    return status;
fail:
    say("%s %s on port %d failed: %s", method, path, port, strerror(errno));
    close(fd);
    free(text);
    return -1;
}

const char *
h_admin_conf(int admin)
{
    static char conf[PATH_MAX + 96];
    const char *html = h_path("html");

    mkdir(html, 0755);
    if (h_write_file("html/index.html", "<!doctype html><title>lbd</title>\n") == NULL)
        say("cannot write %s/index.html", html);
    snprintf(conf, sizeof(conf), "admin = { listen = \"127.0.0.1:%d\"; html = \"%s\"; };",
             admin, html);
    return conf;
}

int
h_status_workers(int admin, struct h_worker_status *out, int max)
{
    static const char *const fields[] = { "pid", "active", "buffer_bytes", "bulk_buffers" };
    char        *text = malloc(H_HTTP_MAX);
    json_t      *doc = NULL, *ws, *w;
    json_error_t e;
    size_t       i;
    int          n = 0, code;

    if (text == NULL)
        return -1;
    code = h_http(admin, "GET", "/status.json", NULL, NULL, text, H_HTTP_MAX, 5000);
    if (code != 200) {
        say("/status.json on port %d: status %d", admin, code);
        free(text);
        return -1;
    }
    if ((doc = json_loads(text, 0, &e)) == NULL) {
        say("/status.json is not JSON: %s", e.text);
        free(text);
        return -1;
    }
    free(text);
    if (!json_is_array(ws = json_object_get(doc, "workers"))) {
        say("/status.json has no \"workers\" array");
        json_decref(doc);
        return -1;
    }
    json_array_foreach(ws, i, w) {
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            if (!json_is_integer(json_object_get(w, fields[k]))) {
                say("/status.json: a worker without \"%s\"", fields[k]);
                json_decref(doc);
                return -1;
            }
        if (n < max)
            out[n++] = (struct h_worker_status) {
                .pid = (pid_t) json_integer_value(json_object_get(w, "pid")),
                .active = (long) json_integer_value(json_object_get(w, "active")),
                .buffer_bytes = (long) json_integer_value(json_object_get(w, "buffer_bytes")),
                .bulk_buffers = (long) json_integer_value(json_object_get(w, "bulk_buffers")),
            };
    }
    json_decref(doc);
    return n;
}

int
h_sqlite(const char *db, const char *sql, char *out, size_t cap)
{
    const char *argv[] = { "sqlite3", "-batch", "-bail", db, sql, NULL };
    const char *log = h_path("sqlite3.out");
    char       *text;
    int         rc;

    unlink(log);
    rc = h_run(argv, log, 20000);
    text = h_read_file(log, NULL);
    if (out != NULL && cap > 0)
        snprintf(out, cap, "%s", text ? text : "");
    free(text);
    return rc;
}

int
h_log_count(const char *path, size_t from, ...)
{
    const char *needles[4];
    int         nn = 0, count = 0;
    va_list     ap;
    size_t      len;
    char       *text = h_read_file(path, &len), *line, *save = NULL;

    va_start(ap, from);
    while (nn < 4 && (needles[nn] = va_arg(ap, const char *)) != NULL)
        nn++;
    va_end(ap);
    if (text == NULL)
        return 0;
    for (line = strtok_r(from < len ? text + from : text + len, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        int all = 1;

        for (int i = 0; i < nn && all; i++)
            all = strstr(line, needles[i]) != NULL;
        count += all;
    }
    free(text);
    return count;
}

void
h_banner(int port, char *name, size_t cap)
{
    int     fd = h_connect(port, 3000);
    ssize_t n;

    name[0] = '\0';
    if (fd == -1)
        return;
    n = h_recv_line(fd, name, cap, 3000);
    close(fd);
    if (n <= 0)
        name[0] = '\0';
    else
        name[strcspn(name, "\n")] = '\0';
}
