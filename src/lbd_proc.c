/*
 * lbd_proc.c - process plumbing: titles, daemonizing, the pid file and
 * dropping privileges.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbd_core.h"
#include "lbd_log.h"

extern char **environ;

static char  *title_start;   /* argv[0] */
static size_t title_room;    /* contiguous bytes of argv and environ */
static int    ready_fd = -1; /* the daemonizing parent waits on this */
static char **volatile environ_copy;  /* also environ; glibc forgets it at exit */

void
lbd_proc_title_init(int argc, char **argv)
{
    char  *end;
    size_t n = 0;

    if (argc == 0 || argv[0] == NULL)
        return;

    /* argv strings and then environ strings lie end to end; find the end. */
    end = argv[0];
    for (int i = 0; i < argc; i++)
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    for (char **e = environ; *e != NULL; e++, n++)
        if (*e == end)
            end = *e + strlen(*e) + 1;

    /* Move environ out of the way so the title may overwrite it. */
    char **copy = calloc(n + 1, sizeof(char *));
    if (copy == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        if ((copy[i] = strdup(environ[i])) == NULL)
            return;
    environ = environ_copy = copy;

    /* And argv too: getopt and the config path keep pointing at copies. */
    title_start = argv[0];
    title_room = (size_t) (end - argv[0]);
    for (int i = 0; i < argc; i++)
        if ((argv[i] = strdup(argv[i])) == NULL)
            return;
}

void
lbd_proc_title(const char *title)
{
    prctl(PR_SET_NAME, "lbd", 0, 0, 0);
    if (title_start == NULL || title_room < 2)
        return;
    memset(title_start, 0, title_room);
    snprintf(title_start, title_room, "%s", title);
}

int
lbd_proc_daemonize(void)
{
    int   p[2];
    pid_t pid;
    char  c;

    if (pipe2(p, O_CLOEXEC) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "pipe() failed");
        return -1;
    }
    pid = fork();
    if (pid == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "fork() failed");
        return -1;
    }
    if (pid > 0) {
        /* The parent: exit 0 only once the daemon says it is up. */
        close(p[1]);
        ssize_t n;
        while ((n = read(p[0], &c, 1)) == -1 && errno == EINTR)
            ;
        _exit(n == 1 ? 0 : 1);
    }
    close(p[0]);
    ready_fd = p[1];
    if (setsid() == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "setsid() failed");
        return -1;
    }
    umask(022);

    int null = open("/dev/null", O_RDWR);
    if (null != -1) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 1)
            close(null);
    }
    /* Stray writes to stderr (a library's, a sanitizer's) land in the log. */
    if (lbd_log_fd() != 2)
        dup2(lbd_log_fd(), 2);
    return 0;
}

void
lbd_proc_daemon_ready(void)
{
    if (ready_fd == -1)
        return;
    while (write(ready_fd, "1", 1) == -1 && errno == EINTR)
        ;
    close(ready_fd);
    ready_fd = -1;
}

int
lbd_pid_file_write(const char *path)
{
    char buf[32];
    int  fd, n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "open() \"%s\" failed", path);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    if (write(fd, buf, (size_t) n) != n) {
        lbd_log_err(LBD_LOG_CRIT, errno, "write() to \"%s\" failed", path);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

pid_t
lbd_pid_file_read(const char *path)
{
    char  buf[32];
    FILE *f;
    long  pid;
    char *end;

    f = fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "lbd: open() \"%s\" failed: %s (is lbd running?)\n",
                path, strerror(errno));
        return -1;
    }
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 1) {
        fprintf(stderr, "lbd: invalid pid in \"%s\"\n", path);
        return -1;
    }
    return (pid_t) pid;
}

int
lbd_proc_drop_privileges(const struct lbd_conf *conf)
{
    if (conf->user == NULL || geteuid() != 0)
        return 0;
    if (setgid(conf->gid) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "setgid(%d) failed", (int) conf->gid);
        return -1;
    }
    if (initgroups(conf->user, conf->gid) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "initgroups(%s, %d) failed",
                    conf->user, (int) conf->gid);
        return -1;
    }
    if (setuid(conf->uid) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "setuid(%d) failed", (int) conf->uid);
        return -1;
    }
    /* setuid clears the dumpable flag; keep core dumps possible. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 0;
}

int
lbd_proc_state_dir(const struct lbd_conf *conf)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char        dir[PATH_MAX], file[PATH_MAX];
    const char *slash = strrchr(conf->registry_path, '/');
    int         as_root_with_user = conf->user != NULL && geteuid() == 0;

    if (slash == NULL || slash == conf->registry_path)
        snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int) (slash - conf->registry_path),
                 conf->registry_path);
    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        lbd_log_err(LBD_LOG_CRIT, errno, "cannot create the registry directory \"%s\"", dir);
        return -1;
    }
    if (!as_root_with_user)
        return 0;
    /* The children write here (the registry's WAL, the control socket). */
    if (strcmp(dir, "/") != 0 && strcmp(dir, ".") != 0 && chown(dir, conf->uid, conf->gid) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "chown(\"%s\", %s) failed", dir, conf->user);
        return -1;
    }
    /* A registry left by a run as root would be read-only to the user. */
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(file, sizeof(file), "%s%s", conf->registry_path, suffixes[i]);
        if (chown(file, conf->uid, conf->gid) == -1 && errno != ENOENT) {
            lbd_log_err(LBD_LOG_CRIT, errno, "chown(\"%s\", %s) failed", file, conf->user);
            return -1;
        }
    }
    return 0;
}

int
lbd_proc_as_user(const struct lbd_conf *conf)
{
    if (conf->user == NULL || geteuid() != 0)
        return 0;
    if (setegid(conf->gid) == -1 || seteuid(conf->uid) == -1) {
        lbd_log_err(LBD_LOG_CRIT, errno, "cannot act as user %s", conf->user);
        lbd_proc_as_root();
        return -1;
    }
    return 0;
}

void
lbd_proc_as_root(void)
{
    if (getuid() != 0)
        return;
    /* Back to root: the saved set-user-ID allows it. */
    if (seteuid(0) == -1 || setegid(0) == -1)
        lbd_log_err(LBD_LOG_CRIT, errno, "cannot return to root");
}
