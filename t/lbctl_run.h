/*
 * lbctl_run.h - run objs/lbctl from an integration test (it_lbctl_client,
 * pending_it_lbctl) and look at what it printed.  Linked into those tests
 * only; call from inside a cmocka test (failures are cmocka assertions).
 */
#ifndef LBCTL_RUN_H
#define LBCTL_RUN_H

/* stdout and stderr of the last run, NUL-terminated; owned here. */
extern char *lbctl_out;
extern char *lbctl_err;

/*
 * Run objs/lbctl (or $LBCTL_BIN) with args (NULL-terminated), stdout and
 * stderr captured apart in "<tmpdir>/lbctl.out" and "lbctl-err.log" (names
 * the harness scans for sanitizer reports).  Returns
 * its exit code (128 + signal when killed).  Fails the test when it does not
 * finish within 30 s.
 */
int lbctl_run_argv(const char *const args[]);

/* lbctl_run_argv with the arguments inline. */
int lbctl_run(const char *arg, ...) __attribute__((sentinel));

/*
 * The last run printed nothing on stdout and exactly one line on stderr,
 * "lbctl: ..." holding want.
 */
void lbctl_assert_error(const char *want);

#endif /* LBCTL_RUN_H */
