/*
 * lbd.c - the command line: start the daemon, test a config, signal a
 * running master.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_config.h"
#include "lbd_core.h"
#include "lbd_log.h"

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: lbd [-c FILE] [-t] [-g] [-s SIGNAL] [-v] [-h]\n"
        "\n"
        "  -c FILE    configuration file [" LBD_CONF_PATH "]\n"
        "  -t         test the configuration and exit\n"
        "  -g         stay in the foreground and log to stderr (and to a\n"
        "             configured error_log.path)\n"
        "  -s SIGNAL  send SIGNAL to the running master: stop (fast), quit\n"
        "             (graceful), reload, reopen (log files)\n"
        "  -v         print the version and exit\n"
        "  -h         print this help and exit\n");
}

static const struct {
    const char *name;
    int         signo;
} signals[] = {
    { "stop",   SIGTERM },
    { "quit",   SIGQUIT },
    { "reload", SIGHUP  },
    { "reopen", SIGUSR1 },
};

static int
send_signal(const struct lbd_conf *conf, const char *name)
{
    pid_t pid;

    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        if (strcmp(signals[i].name, name) != 0)
            continue;
        pid = lbd_pid_file_read(conf->pid_file);
        if (pid == -1)
            return 1;
        if (kill(pid, signals[i].signo) == -1) {
            fprintf(stderr, "lbd: kill(%d, %s) failed: %s\n",
                    (int) pid, name, strerror(errno));
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "lbd: unknown signal \"%s\" (stop, quit, reload, reopen)\n", name);
    return 1;
}

int
main(int argc, char **argv)
{
    struct lbd_options opt = { .conf_file = LBD_CONF_PATH };
    struct lbd_cycle   cycle = { 0 };
    const char        *sig = NULL;
    int                test = 0, c;
    char               err[1024];

    lbd_proc_title_init(argc, argv);
    lbd_modules_register();

    while ((c = getopt(argc, argv, "c:tgs:vh")) != -1) {
        switch (c) {
        case 'c': opt.conf_file = optarg; break;
        case 't': test = 1; break;
        case 'g': opt.foreground = 1; break;
        case 's': sig = optarg; break;
        case 'v': printf("lbd version " LBD_VERSION "\n"); return 0;
        case 'h': usage(stdout); return 0;
        default:  usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lbd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    cycle.conf = lbd_conf_load(opt.conf_file, err, sizeof(err));
    if (cycle.conf == NULL) {
        fprintf(stderr, "lbd: %s\n", err);
        if (test)
            fprintf(stderr, "lbd: configuration file %s test failed\n", opt.conf_file);
        return 1;
    }
    if (test) {
        fprintf(stderr, "lbd: configuration file %s test is successful\n", opt.conf_file);
        lbd_conf_free(cycle.conf);
        return 0;
    }
    if (sig != NULL) {
        int rc = send_signal(cycle.conf, sig);
        lbd_conf_free(cycle.conf);
        return rc;
    }
    return lbd_master_run(&cycle, &opt);
}
