/*
 * it_fuzz_http.c - make check's fuzz step: the HTTP parser's libFuzzer
 * harness (t/fuzz/fuzz_http_parse.c, built with clang into
 * objs/t/fuzz/fuzz_http_parse by make check) replays the seed corpus
 * (t/fuzz/corpus/http: valid heads and bodies, every smuggling case) and
 * then mutates it for LBD_FUZZ_TIME seconds (default 20).  A crash, a
 * sanitizer report, a broken invariant (the harness aborts), a hang or a
 * missing fuzzer fails the test.
 *
 * The seeds are given as -seed_inputs and no corpus directory, so the
 * inputs libFuzzer derives stay in its memory: nothing is written, not to
 * t/fuzz/corpus, not to thousands of temp files, but a crashing input,
 * which goes to the test's temp dir (LBD_TEST_KEEP=1 keeps it).
 * Environment: LBD_FUZZ_BIN (default objs/t/fuzz/fuzz_http_parse),
 * LBD_FUZZ_TIME.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define SEEDS "t/fuzz/corpus/http"

static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : dflt;
}

/* "-seed_inputs=dir/a,dir/b,..." for the files of dir into out; their count, or -1. */
static int
seed_inputs(const char *dir, char *out, size_t size)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    size_t         o = (size_t) snprintf(out, size, "-seed_inputs=");
    int            n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        o += (size_t) snprintf(out + o, size - o, "%s%s/%s", n > 0 ? "," : "", dir, e->d_name);
        if (o >= size) {
            closedir(d);
            return -1;
        }
        n++;
    }
    closedir(d);
    return n;
}

/* Print the lines of the log that say how much ran and what it covered. */
static void
print_figures(const char *log)
{
    char *text = h_read_file(log, NULL), *line, *save = NULL;

    for (line = text != NULL ? strtok_r(text, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (((strstr(line, "INITED") != NULL || strstr(line, "DONE") != NULL) &&
             strstr(line, "cov:") != NULL) ||
            strncmp(line, "Done ", 5) == 0 || strncmp(line, "stat::", 6) == 0)
            printf("  | %s\n", line);
    }
    free(text);
}

static void
seed_corpus_then_mutations(void **state)
{
    const char *bin = env_or("LBD_FUZZ_BIN", "objs/t/fuzz/fuzz_http_parse");
    const char *secs = env_or("LBD_FUZZ_TIME", "20");
    const char *log;
    char        time_arg[64], artifacts[600], seeds_arg[16384];
    int         seeds, rc;

    if (access(bin, X_OK) != 0)
        fail_msg("%s is missing: make check builds it with clang, and could not (see the "
                 "\"fuzz:\" lines above).  Install the Debian packages clang and "
                 "libclang-rt-14-dev (./configure --install-deps does)", bin);
    seeds = seed_inputs(SEEDS, seeds_arg, sizeof(seeds_arg));
    print_message("%d seeds in %s\n", seeds, SEEDS);
    assert_true(seeds >= 20);

    snprintf(time_arg, sizeof(time_arg), "-max_total_time=%s", secs);
    snprintf(artifacts, sizeof(artifacts), "-artifact_prefix=%s/", h_tmpdir());
    {
        const char *const argv[] = {
            bin, time_arg, "-runs=5000000", "-max_len=8192", "-timeout=10",
            "-print_final_stats=1", artifacts, seeds_arg, NULL,
        };

        log = h_path("fuzz.log");
        rc = h_run(argv, log, (atoi(secs) + 60) * 1000);
    }
    print_figures(log);
    if (rc != 0) {
        h_dump(log);
        fail_msg("the fuzzer exited with %d: crashing input under %s (LBD_TEST_KEEP=1 keeps it)",
                 rc, h_tmpdir());
    }
    /* it ran to the end, not only started */
    assert_true(h_log_has(log, "Done ", "runs in", NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(seed_corpus_then_mutations, h_setup, h_teardown),
    };

    h_init(240);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
