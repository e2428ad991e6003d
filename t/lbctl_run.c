/*
 * lbctl_run.c - see lbctl_run.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lbctl_run.h"

char *lbctl_out;
char *lbctl_err;

int
lbctl_run_argv(const char *const args[])
{
    const char *argv[40], *o = h_path("lbctl.out"), *e = h_path("lbctl-err.log");
    const char *bin = getenv("LBCTL_BIN");
    int         n = 0, st;
    pid_t       pid;

    /* sh sends stderr to its own file; h_spawn puts stdout in o. */
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = "e=$1; shift; exec \"$@\" 2>\"$e\"";
    argv[n++] = "sh";
    argv[n++] = e;
    argv[n++] = bin != NULL && *bin != '\0' ? bin : "objs/lbctl";
    for (int i = 0; args[i] != NULL; i++) {
        assert_true(n < 39);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    unlink(o);
    unlink(e);
    pid = h_spawn(argv, o);
    assert_int_not_equal(pid, -1);
    assert_int_equal(h_wait_exit(pid, 30000, &st), 0);
    free(lbctl_out);
    free(lbctl_err);
    lbctl_out = h_read_file(o, NULL);
    lbctl_err = h_read_file(e, NULL);
    assert_non_null(lbctl_out);
    assert_non_null(lbctl_err);
    fprintf(stderr, "lbctl");
    for (int i = 0; args[i] != NULL; i++)
        fprintf(stderr, " %s", args[i]);
    fprintf(stderr, ": exit %d\n%s%s", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
            lbctl_out, lbctl_err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
lbctl_run(const char *arg, ...)
{
    const char *args[32];
    int         n = 0;
    va_list     ap;

    va_start(ap, arg);
    for (; arg != NULL; arg = va_arg(ap, const char *)) {
        assert_true(n < 31);
        args[n++] = arg;
    }
    va_end(ap);
    args[n] = NULL;
    return lbctl_run_argv(args);
}

void
lbctl_assert_error(const char *want)
{
    char *nl = strchr(lbctl_err, '\n');

    assert_string_equal(lbctl_out, "");
    assert_true(strncmp(lbctl_err, "lbctl: ", 7) == 0);
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
    assert_non_null(strstr(lbctl_err, want));
}
