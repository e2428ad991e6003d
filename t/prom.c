/*
 * prom.c - a strict reader of the Prometheus text format (see prom.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

struct family {
    char name[128];
    char type[16];
    int  help, typed;
};

static int
bad(int line, const char *why, const char *text)
{
    fprintf(stderr, "prom: line %d: %s: %.200s\n", line, why, text);
    return -1;
}

static int
name_char(char c, int first)
{
    return isalpha((unsigned char) c) || c == '_' || c == ':' || (!first && isdigit((unsigned char) c));
}

/* Length of a metric or label name at s, 0 when there is none. */
static size_t
name_len(const char *s)
{
    size_t n = 0;

    while (name_char(s[n], n == 0))
        n++;
    return n;
}

/*
 * The label set at s (after '{'): k="v" pairs, values with \\ \" \n
 * escapes only, no duplicate key.  Sets *end after the '}'.  0 or -1.
 */
static int
parse_labels(const char *s, const char **end)
{
    char keys[16][64];
    int  nkeys = 0;

    while (*s != '}') {
        size_t n = name_len(s);

        if (n == 0 || n >= sizeof(keys[0]) || s[n] != '=' || s[n + 1] != '"' || nkeys == 16)
            return -1;
        for (int i = 0; i < nkeys; i++)
            if (strncmp(keys[i], s, n) == 0 && keys[i][n] == '\0')
                return -1;
        memcpy(keys[nkeys], s, n);
        keys[nkeys++][n] = '\0';
        s += n + 2;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n')
                return -1;
            if (*s == '\\') {
                if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                    return -1;
                s++;
            }
            s++;
        }
        s++;
        if (*s == ',')
            s++;
        else if (*s != '}')
            return -1;
    }
    *end = s + 1;
    return 0;
}

/* The family a sample name belongs to, given the family being read. */
static int
belongs(const char *name, const struct family *f)
{
    size_t fl = strlen(f->name);

    if (strcmp(name, f->name) == 0)
        return strcmp(f->type, "histogram") != 0;
    if (strcmp(f->type, "histogram") != 0 || strncmp(name, f->name, fl) != 0)
        return 0;
    return strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0
           || strcmp(name + fl, "_count") == 0;
}

static int
add(struct prom *p, const char *name, const char *family, const char *labels, size_t llen,
    double v)
{
    struct prom_sample *s = realloc(p->s, (p->n + 1) * sizeof(*s));

    if (s == NULL)
        return -1;
    p->s = s;
    s = &p->s[p->n++];
    s->name = strdup(name);
    s->family = strdup(family);
    s->labels = strndup(labels, llen);
    s->value = v;
    return s->name && s->family && s->labels ? 0 : -1;
}

/* The labels without le="...", for grouping a histogram's series. */
static void
strip_le(const char *labels, char *out, size_t cap, double *le)
{
    const char *l = strstr(labels, "le=\"");
    size_t      n = 0;

    *le = NAN;
    if (l == NULL || (l != labels && l[-1] != ',')) {
        snprintf(out, cap, "%s", labels);
        return;
    }
    n = (size_t) (l - labels);
    snprintf(out, cap, "%.*s", (int) n, labels);
    *le = strncmp(l + 4, "+Inf\"", 5) == 0 ? INFINITY : strtod(l + 4, NULL);
    l = strchr(l + 4, '"') + 1;
    if (*l == ',')
        l++;
    if (n > 0 && *l == '\0' && out[n - 1] == ',')
        out[n - 1] = '\0';
    snprintf(out + strlen(out), cap - strlen(out), "%s", l);
}

/* Histograms: per series, le ascending, counts not decreasing, +Inf last and == _count. */
static int
check_histograms(const struct prom *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct prom_sample *c = &p->s[i];
        char                      want[256], base[512], b2[512];
        double                    last_le = -INFINITY, last = 0, le;
        int                       inf = 0, buckets = 0;

        if (strlen(c->name) < 6 || strcmp(c->name + strlen(c->name) - 6, "_count") != 0
            || strcmp(c->name, c->family) == 0)
            continue;
        snprintf(want, sizeof(want), "%s_bucket", c->family);
        snprintf(base, sizeof(base), "%s", c->labels);
        for (size_t j = 0; j < p->n; j++) {
            if (strcmp(p->s[j].name, want) != 0)
                continue;
            strip_le(p->s[j].labels, b2, sizeof(b2), &le);
            if (strcmp(b2, base) != 0)
                continue;
            if (isnan(le) || le <= last_le || inf)
                return bad(0, "histogram buckets out of order", p->s[j].labels);
            if (p->s[j].value < last)
                return bad(0, "histogram buckets not cumulative", p->s[j].labels);
            last_le = le;
            last = p->s[j].value;
            inf = isinf(le);
            buckets++;
        }
        if (buckets == 0 || !inf)
            return bad(0, "histogram without a +Inf bucket", c->labels);
        if (last != c->value)
            return bad(0, "histogram +Inf bucket differs from _count", c->labels);
    }
    return 0;
}

int
prom_parse(const char *text, struct prom *p)
{
    struct family  f = { "", "", 0, 0 };
    struct family *seen = NULL;
    size_t         nseen = 0;
    int            line = 0, rc = 0;
    const char    *s = text;

    memset(p, 0, sizeof(*p));
    while (*s != '\0' && rc == 0) {
        const char *eol = strchr(s, '\n');
        char        buf[1024];
        size_t      len;

        line++;
        if (eol == NULL) {
            rc = bad(line, "the last line has no newline", s);
            break;
        }
        len = (size_t) (eol - s);
        if (len >= sizeof(buf)) {
            rc = bad(line, "line too long", s);
            break;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        s = eol + 1;
        if (strncmp(buf, "# HELP ", 7) == 0 || strncmp(buf, "# TYPE ", 7) == 0) {
            const char *n = buf + 7;
            size_t      nl = name_len(n);
            int         help = buf[2] == 'H';

            if (nl == 0 || nl >= sizeof(f.name) || n[nl] != ' ' || n[nl + 1] == '\0') {
                rc = bad(line, "malformed HELP or TYPE", buf);
                break;
            }
            if (strncmp(f.name, n, nl) != 0 || f.name[nl] != '\0') {
                for (size_t i = 0; i < nseen; i++)
                    if (strncmp(seen[i].name, n, nl) == 0 && seen[i].name[nl] == '\0')
                        rc = bad(line, "a family declared twice", buf);
                if (rc != 0)
                    break;
                if (f.name[0] != '\0') {
                    struct family *g = realloc(seen, (nseen + 1) * sizeof(*g));

                    if (g == NULL) {
                        rc = -1;
                        break;
                    }
                    seen = g;
                    seen[nseen++] = f;
                }
                memset(&f, 0, sizeof(f));
                memcpy(f.name, n, nl);
            }
            if (strncmp(f.name, "lbd_", 4) != 0) {
                rc = bad(line, "a family without the lbd_ prefix", buf);
                break;
            }
            if (help) {
                if (f.help++) rc = bad(line, "two HELP lines", buf);
                continue;
            }
            if (f.typed++) {
                rc = bad(line, "two TYPE lines", buf);
                break;
            }
            snprintf(f.type, sizeof(f.type), "%s", n + nl + 1);
            if (strcmp(f.type, "counter") && strcmp(f.type, "gauge")
                && strcmp(f.type, "histogram")) {
                rc = bad(line, "a type lbd does not use", buf);
                break;
            }
            if (strcmp(f.type, "counter") == 0
                && (nl < 6 || strncmp(n + nl - 6, "_total", 6) != 0))
                rc = bad(line, "a counter not named *_total", buf);
            continue;
        }
        if (buf[0] == '#') {
            rc = bad(line, "a comment lbd does not write", buf);
            break;
        }
        {
            size_t      nl = name_len(buf);
            char        name[160];
            const char *labels = "", *after;
            size_t      llen = 0;
            char       *end;
            double      v;

            if (nl == 0 || nl >= sizeof(name)) {
                rc = bad(line, "no metric name", buf);
                break;
            }
            memcpy(name, buf, nl);
            name[nl] = '\0';
            after = buf + nl;
            if (*after == '{') {
                labels = after + 1;
                if (parse_labels(labels, &after) == -1) {
                    rc = bad(line, "malformed labels", buf);
                    break;
                }
                llen = (size_t) (after - labels - 1);
            }
            if (*after != ' ') {
                rc = bad(line, "no space before the value", buf);
                break;
            }
            after++;
            if (strcmp(after, "+Inf") == 0)
                v = INFINITY;
            else {
                v = strtod(after, &end);
                if (end == after || *end != '\0') {
                    rc = bad(line, "malformed value", buf);
                    break;
                }
            }
            if (!f.typed || !f.help || !belongs(name, &f)) {
                rc = bad(line, "a sample outside its family, or before HELP and TYPE", buf);
                break;
            }
            for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->s[i].name, name) == 0 && strlen(p->s[i].labels) == llen
                    && strncmp(p->s[i].labels, labels, llen) == 0)
                    rc = bad(line, "a series twice", buf);
            if (rc == 0 && strcmp(f.type, "gauge") != 0 && v < 0)
                rc = bad(line, "a negative counter", buf);
            if (rc == 0 && add(p, name, f.name, labels, llen, v) == -1)
                rc = -1;
        }
    }
    free(seen);
    if (rc == 0)
        rc = check_histograms(p);
    return rc;
}

void
prom_free(struct prom *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->s[i].name);
        free(p->s[i].family);
        free(p->s[i].labels);
    }
    free(p->s);
    memset(p, 0, sizeof(*p));
}

double
prom_sum(const struct prom *p, const char *name, ...)
{
    double sum = 0;
    int    found = 0;

    for (size_t i = 0; i < p->n; i++) {
        va_list     ap;
        const char *want;
        int         ok = strcmp(p->s[i].name, name) == 0;

        va_start(ap, name);
        while (ok && (want = va_arg(ap, const char *)) != NULL) {
            const char *at = strstr(p->s[i].labels, want);

            ok = at != NULL && (at == p->s[i].labels || at[-1] == ',');
        }
        va_end(ap);
        if (ok) {
            sum += p->s[i].value;
            found = 1;
        }
    }
    return found ? sum : -1;
}

double
prom_get(const struct prom *p, const char *name, const char *labels)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->s[i].name, name) == 0 && strcmp(p->s[i].labels, labels) == 0)
            return p->s[i].value;
    return -1;
}
