/*
 * lbd_conf_value.c - the value parsers of the configuration: addresses,
 * durations, sizes and log levels.
 *
 * They take the text the operator wrote and are strict about it (no spaces,
 * no unit guessing), so a value means one thing or is refused.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_conf.h"

/* Split "host:port" or "[v6]:port" into host and *port.  0, or -1 with err. */
static int
addr_split(const char *text, char *host, size_t hostlen, const char **port,
           char *err, size_t errlen)
{
    const char *colon, *h = text, *hend;

    if (text[0] == '[') {
        hend = strchr(text, ']');
        if (hend == NULL) {
            snprintf(err, errlen, "\"%s\": no \"]\" after the IPv6 address", text);
            return -1;
        }
        h = text + 1;
        colon = hend[1] == ':' ? hend + 1 : NULL;
        if (hend[1] != ':' && hend[1] != '\0') {
            snprintf(err, errlen, "\"%s\": unexpected text after \"]\"", text);
            return -1;
        }
    } else {
        colon = strrchr(text, ':');
        hend = colon;
        if (colon != NULL && memchr(text, ':', (size_t) (colon - text)) != NULL) {
            snprintf(err, errlen, "\"%s\": write an IPv6 address in brackets, "
                     "e.g. \"[::1]:8080\"", text);
            return -1;
        }
    }
    if (colon == NULL) {
        snprintf(err, errlen, "\"%s\" has no port (use HOST:PORT)", text);
        return -1;
    }
    if (hend == h) {
        snprintf(err, errlen, "\"%s\" has no host (use HOST:PORT)", text);
        return -1;
    }
    if ((size_t) (hend - h) >= hostlen) {
        snprintf(err, errlen, "\"%.40s...\": the host name is too long", text);
        return -1;
    }
    memcpy(host, h, (size_t) (hend - h));
    host[hend - h] = '\0';
    *port = colon + 1;
    return 0;
}

/*
 * Whether host is meant as an IPv4 address: its last label starts with a
 * digit, which no top-level domain does.  getaddrinfo would accept inet_aton's
 * forms for it ("010.0.0.1" is 8.0.0.1, "127.1" is 127.0.0.1), so such a host
 * is held to the dotted-quad form instead.
 */
static int
looks_ipv4(const char *host)
{
    const char *dot = strrchr(host, '.');
    const char *last = dot ? dot + 1 : host;

    return isdigit((unsigned char) last[0]);
}

int
lbd_addr_parse(const char *text, struct lbd_addr *addr, char *err, size_t errlen)
{
    char             host[NI_MAXHOST];
    const char      *port;
    struct addrinfo  hints, *res;
    size_t           plen;
    long             pnum;
    struct in_addr   v4;
    int              rc;

    memset(addr, 0, sizeof(*addr));
    /* The text names the backend in logs and in the registry: never cut it. */
    if (strlen(text) >= sizeof(addr->text)) {
        snprintf(err, errlen, "\"%.40s...\" is longer than %zu characters", text,
                 sizeof(addr->text) - 1);
        return -1;
    }
    if (addr_split(text, host, sizeof(host), &port, err, errlen) == -1)
        return -1;
    /* Decimal only: getaddrinfo would take "http" or "0x50" as well. */
    plen = strspn(port, "0123456789");
    pnum = plen > 0 && plen <= 5 && port[plen] == '\0' ? strtol(port, NULL, 10) : 0;
    if (pnum < 1 || pnum > 65535) {
        snprintf(err, errlen, "\"%s\": port must be 1-65535", text);
        return -1;
    }

    if (text[0] != '[' && looks_ipv4(host) && inet_pton(AF_INET, host, &v4) != 1) {
        snprintf(err, errlen, "\"%s\": \"%s\" is not an IPv4 address "
                 "(write four decimal numbers, e.g. 127.0.0.1)", text, host);
        return -1;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = text[0] == '[' ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 && text[0] == '[') {
        snprintf(err, errlen, "\"%s\": \"%s\" is not an IPv6 address", text, host);
        return -1;
    }
    if (rc == EAI_NONAME) {
        /* A name, not a number: this may block on DNS, hence master only. */
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, port, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, errlen, "\"%s\": cannot resolve \"%s\": %s", text, host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
    addr->len = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(addr->text, sizeof(addr->text), "%s", text);
    return 0;
}

int
lbd_addr_split(const char *text, char *host, size_t hostlen, int *port,
               char *err, size_t errlen)
{
    const char *p;
    size_t      plen;
    long        pnum;

    if (addr_split(text, host, hostlen, &p, err, errlen) == -1)
        return -1;
    plen = strspn(p, "0123456789");
    pnum = plen > 0 && plen <= 5 && p[plen] == '\0' ? strtol(p, NULL, 10) : 0;
    if (pnum < 1 || pnum > 65535) {
        snprintf(err, errlen, "\"%s\": port must be 1-65535", text);
        return -1;
    }
    *port = (int) pnum;
    return 0;
}

int
lbd_addr_numeric(const char *host, int port, struct lbd_addr *addr)
{
    struct sockaddr_in  *in = (struct sockaddr_in *) &addr->ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &addr->ss;

    memset(addr, 0, sizeof(*addr));
    if (port < 1 || port > 65535)
        return -1;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t) port);
        addr->len = sizeof(*in);
        snprintf(addr->text, sizeof(addr->text), "%s:%d", host, port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t) port);
        addr->len = sizeof(*in6);
        snprintf(addr->text, sizeof(addr->text), "[%s]:%d", host, port);
        return 0;
    }
    memset(addr, 0, sizeof(*addr));
    return -1;
}

int
lbd_addr_host(const struct lbd_addr *addr, char *buf, size_t len)
{
    const struct sockaddr_in  *in = (const struct sockaddr_in *) &addr->ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &addr->ss;

    if (addr->ss.ss_family == AF_INET)
        return inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t) len) ? 0 : -1;
    if (addr->ss.ss_family == AF_INET6)
        return inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t) len) ? 0 : -1;
    return -1;
}

int
lbd_duration_parse(const char *text, int *ms)
{
    static const struct { const char *unit; long long ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    };
    long long   n = 0;
    const char *p = text;

    if (text == NULL || !isdigit((unsigned char) *p))
        return -1;
    /* Stop before it could overflow: more than INT_MAX ms is refused anyway. */
    for (; isdigit((unsigned char) *p); p++) {
        n = n * 10 + (*p - '0');
        if (n > INT_MAX)
            return -1;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        if (n == 0 || n > INT_MAX / units[i].ms)
            return -1;
        *ms = (int) (n * units[i].ms);
        return 0;
    }
    return -1;
}

int
lbd_size_parse(const char *text, size_t *bytes)
{
    size_t      n = 0, mult = 1;
    const char *p = text;

    if (text == NULL || !isdigit((unsigned char) *p))
        return -1;
    for (; isdigit((unsigned char) *p); p++) {
        if (n > (SIZE_MAX - 9) / 10)
            return -1;
        n = n * 10 + (size_t) (*p - '0');
    }
    if (*p == 'k' || *p == 'K')
        mult = 1024;
    else if (*p == 'm' || *p == 'M')
        mult = 1024 * 1024;
    else if (*p != '\0')
        return -1;
    if (mult > 1 && p[1] != '\0')
        return -1;
    if (n > SIZE_MAX / mult)
        return -1;
    *bytes = n * mult;
    return 0;
}

int
lbd_log_level_parse(const char *name)
{
    static const char *const names[] = {
        [LBD_LOG_DEBUG] = "debug", [LBD_LOG_INFO] = "info",
        [LBD_LOG_NOTICE] = "notice", [LBD_LOG_WARN] = "warn",
        [LBD_LOG_ERROR] = "error", [LBD_LOG_CRIT] = "crit",
    };

    for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return (int) i;
    return -1;
}
