/*
 * propagation.c - how long a registry change takes to reach every worker.
 *
 * Starts lbd (WORKERS workers, an admin port) in front of one test backend,
 * then makes N changes over the admin API one after the other (a backend's
 * weight, alternating).  After each it polls GET /api/workers until every
 * worker routes with the committed generation, and takes the delay from the
 * shared-memory timestamps lbd itself keeps: max over workers of the
 * moment it swapped snapshots, minus the moment the control process
 * published the generation (both CLOCK_MONOTONIC).  Prints p50, p90, p99 and
 * max.  A measurement for `make bench`, not a test: it asserts nothing
 * about time.
 *
 * Usage: objs/t/bench/propagation [N] [WORKERS]   (defaults 500 and 2)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include <time.h>

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define TOKEN "bench-token-0123456789abcdef"

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}

/* Numbers of "key":N in json, in order, at most max.  Returns the count. */
static int
numbers(const char *json, const char *key, int64_t *out, int max)
{
    char        pat[64];
    const char *p = json;
    int         n = 0;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    while (n < max && (p = strstr(p, pat)) != NULL) {
        p += strlen(pat);
        out[n++] = strtoll(p, NULL, 10);
    }
    return n;
}

int
main(int argc, char **argv)
{
    int          n = argc > 1 ? atoi(argv[1]) : 500;
    int          workers = argc > 2 ? atoi(argv[2]) : 2;
    struct h_lbd l;
    int          backend, port, admin;
    char         extra[256], path[128], body[64];
    char        *resp = malloc(H_HTTP_MAX);
    int64_t     *delay = calloc((size_t) n, sizeof(int64_t));
    int64_t     *write_us = calloc((size_t) n, sizeof(int64_t));
    const char  *conf;
    int          rc = 1;

    if (n < 1 || workers < 1 || resp == NULL || delay == NULL || write_us == NULL)
        return 2;
    h_init(600);
    if (h_setup(NULL) != 0)
        return 2;
    backend = h_free_port();
    port = h_free_port();
    admin = h_free_port();
    if (h_testsrv(backend, "b", NULL) == -1)
        goto out;
    snprintf(extra, sizeof(extra), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };",
             admin, TOKEN);
    {
        struct h_conf c = { .workers = workers, .port = port, .backends = &backend,
                            .nbackends = 1, .extra = extra };

        conf = h_conf_write("lbd.conf", &c);
    }
    if (conf == NULL || h_lbd_start(&l, conf, port, workers) == -1
        || h_wait_listening(admin, 1, 5000) == -1)
        goto out;
    snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", backend);

    for (int i = 0; i < n; i++) {
        int64_t gen[1], committed[1], wgen[256], applied[256], deadline;
        int64_t t0 = now_us();
        int     nw;

        snprintf(body, sizeof(body), "{\"weight\": %d}", 1 + (i % 2));
        if (h_http(admin, "PATCH", path, TOKEN, body, resp, H_HTTP_MAX, 10000) != 200) {
            fprintf(stderr, "change %d failed: %s\n", i, resp);
            goto out;
        }
        write_us[i] = now_us() - t0;
        deadline = h_now_ms() + 5000;
        for (;;) {
            int all = 1;

            if (h_http(admin, "GET", "/api/workers", NULL, NULL, resp, H_HTTP_MAX, 10000) != 200
                || numbers(resp, "generation", gen, 1) != 1
                || numbers(resp, "committed_ns", committed, 1) != 1)
                goto out;
            /* The first "generation" is the document's; the workers' follow. */
            nw = numbers(resp, "generation", wgen, 256) - 1;
            numbers(resp, "applied_ns", applied, 256);
            for (int w = 0; w < nw; w++)
                all &= wgen[w + 1] >= gen[0];
            if (all && nw >= workers) {
                int64_t worst = 0;

                for (int w = 0; w < nw; w++)
                    if (applied[w] - committed[0] > worst)
                        worst = applied[w] - committed[0];
                delay[i] = worst;
                break;
            }
            if (h_now_ms() > deadline) {
                fprintf(stderr, "change %d: not every worker moved within 5 s\n", i);
                goto out;
            }
        }
    }
    qsort(delay, (size_t) n, sizeof(int64_t), cmp_i64);
    printf("registry change -> every worker routing with it (%d changes, %d workers):\n"
           "  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", n, workers,
           delay[n / 2] / 1e6, delay[n * 9 / 10] / 1e6, delay[n * 99 / 100] / 1e6,
           delay[n - 1] / 1e6);
    qsort(write_us, (size_t) n, sizeof(int64_t), cmp_i64);
    printf("API change round trip (PATCH through a worker, commit with fsync, publish):\n"
           "  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", write_us[n / 2] / 1e3,
           write_us[n * 99 / 100] / 1e3, write_us[n - 1] / 1e3);
    rc = 0;
out:
    h_teardown(NULL);
    free(resp);
    free(delay);
    free(write_us);
    return rc;
}
