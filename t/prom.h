/*
 * prom.h - a strict reader of the Prometheus text format (0.0.4) for the
 * tests: it refuses what a Prometheus server would refuse or misread, and
 * checks what lbd promises beyond the format (doc/STATUS.md): every family
 * has HELP and TYPE before its samples, names start with lbd_, counters
 * end in _total, histograms are cumulative and end with +Inf == _count,
 * no series appears twice.
 */
#ifndef LBD_T_PROM_H
#define LBD_T_PROM_H

#include <stddef.h>

struct prom_sample {
    char   *name;       /* the sample's name (lbd_backend_connect_seconds_bucket) */
    char   *family;     /* its family (lbd_backend_connect_seconds) */
    char   *labels;     /* the label set as written, without braces: pool="p",backend="..." */
    double  value;
};

struct prom {
    struct prom_sample *s;
    size_t              n;
};

/*
 * Parse and check text.  0, or -1 with the reason and the line on stderr
 * ("prom:").  Free with prom_free either way.
 */
int prom_parse(const char *text, struct prom *p);

void prom_free(struct prom *p);

/*
 * The sum of the samples called name whose label set contains every
 * `key="value"` given (a NULL-terminated list of such strings); -1 when
 * none matches.
 */
double prom_sum(const struct prom *p, const char *name, ...) __attribute__((sentinel));

/* The value of the one sample of name with exactly these labels (text as written), or -1. */
double prom_get(const struct prom *p, const char *name, const char *labels);

#endif /* LBD_T_PROM_H */
