/*
 * lbctl.c - the command line over lbd's admin API (src/lbd_api.h): list
 * pools and backends, add and remove backends, drain, enable, disable and
 * re-weight them, switch a pool's strategy, read the event log.
 *
 * A CLI, so the HTTP client blocks: one request per run, HTTP/1.1 with
 * "Connection: close", every socket operation bounded by TIMEOUT_SEC, the
 * answer read to EOF and capped at MAX_ANSWER bytes.
 *
 * Where the server is: --url, else $LBD_URL, else admin.listen in lbd's
 * configuration file (--config, else $LBD_CONF, else the configured path),
 * else 127.0.0.1:8081.  The token: --token, else $LBD_TOKEN, else admin.token
 * or admin.token_file of that same file, but only when the file also named
 * the server: a token is never sent to a server its file did not describe.
 * The file is read with libconfig directly, not with the daemon's parser,
 * which would resolve every backend and check every key lbctl never uses.
 *
 * Exit status: 0 success; 1 any failure, with one line on stderr
 * ("lbctl: 404: pool \"x\" has no backend \"y\""); 2 a usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <libconfig.h>

#include "lbd.h"
#include "lbd_config.h"

#define TIMEOUT_SEC   10
#define MAX_ANSWER    (16 * 1024 * 1024)
#define DEFAULT_HOST  "127.0.0.1"
#define DEFAULT_PORT  "8081"

#define EXIT_FAIL     1
#define EXIT_USAGE    2

/* Where requests go. */
struct server {
    char  host[256];        /* name or address, without brackets */
    char  port[8];
    char  where[300];       /* "host:port" or "[v6]:port", for messages */
    char *token;            /* NULL: no Authorization header */
};

/* What the command line asked for, besides the command. */
struct opts {
    const char *url;
    const char *token;
    const char *config;
    int         json;
    const char *weight;     /* add --weight */
    const char *state;      /* add --state */
    const char *limit;      /* events --limit */
};

/* A growing byte string; p is NUL-terminated whenever len > 0. */
struct buf {
    char  *p;
    size_t len, cap;
};

/* An answer from the server. */
struct answer {
    int    status;
    char   reason[64];
    char  *body;            /* NUL-terminated, malloc'd */
    size_t bodylen;
};

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: lbctl [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "Commands:\n"
        "  status                          every pool: strategy and backends\n"
        "  backends POOL                   the backends of POOL\n"
        "  add POOL HOST:PORT [--weight N] [--state up|drain|disabled]\n"
        "  remove POOL BACKEND             delete a backend added at runtime\n"
        "  drain POOL BACKEND              no new connections, open ones finish\n"
        "  enable POOL BACKEND             state up: takes new connections\n"
        "  disable POOL BACKEND            no new connections\n"
        "  weight POOL BACKEND N           set the weight (1-1000)\n"
        "  strategy POOL NAME              switch the pool's strategy\n"
        "  events [--limit N]              the change log, newest first\n"
        "  help                            this text\n"
        "\n"
        "BACKEND is an id (as status shows it) or HOST:PORT.  A command that\n"
        "changes a backend prints it as it is after the change (remove: as it was).\n"
        "\n"
        "Options:\n"
        "  --url http://HOST:PORT   the admin API [$LBD_URL, else admin.listen of\n"
        "                           the configuration file, else http://" DEFAULT_HOST ":"
        DEFAULT_PORT "]\n"
        "  --token TOKEN            bearer token for changes [$LBD_TOKEN, else\n"
        "                           admin.token or admin.token_file of the\n"
        "                           configuration file, when it also gave the URL]\n"
        "  --config FILE            lbd's configuration file [$LBD_CONF, else\n"
        "                           " LBD_CONF_PATH "]\n"
        "  --json                   print the API's JSON as received\n"
        "  -h, --help               this text\n"
        "  --version                print the version\n"
        "\n"
        "Exit status: 0 done, 1 failed (the reason on stderr), 2 usage error.\n");
}

/* "lbctl: MESSAGE" on one line: control characters (a server's newlines) become spaces. */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
    char    msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *c = msg; *c != '\0'; c++)
        if (iscntrl((unsigned char) *c))
            *c = ' ';
    fprintf(stderr, "lbctl: %s\n", msg);
}

/* --- byte strings --- */

static void
buf_need(struct buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;

    if (b->len + more + 1 <= b->cap)
        return;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
        say("out of memory");
        exit(EXIT_FAIL);
    }
    b->cap = cap;
}

static void
buf_add(struct buf *b, const void *data, size_t n)
{
    buf_need(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_need(b, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

/* A path segment: everything but RFC 3986's unreserved characters as %XX. */
static void
buf_add_segment(struct buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            buf_add(b, s, 1);
        else
            buf_printf(b, "%%%02X", c);
    }
}

/* --- where the server is --- */

/*
 * Split "host:port", "[v6]:port" or "host" (then default_port) into
 * srv->host and srv->port and fill srv->where.  0 or -1 (nothing printed).
 */
static int
server_set(struct server *srv, const char *text, size_t len, const char *default_port)
{
    const char *host = text, *end = text + len, *port = NULL;
    size_t      hlen;

    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);

        if (close == NULL)
            return -1;
        host = text + 1;
        hlen = (size_t) (close - host);
        if (close + 1 < end) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(text, ':', len);

        if (colon != NULL && memchr(colon + 1, ':', (size_t) (end - colon - 1)) != NULL)
            return -1;  /* a bare IPv6 address: it needs brackets */
        hlen = colon ? (size_t) (colon - text) : len;
        if (colon != NULL)
            port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof(srv->host))
        return -1;
    memcpy(srv->host, host, hlen);
    srv->host[hlen] = '\0';
    if (port == NULL) {
        snprintf(srv->port, sizeof(srv->port), "%s", default_port);
    } else {
        size_t plen = (size_t) (end - port);
        long   n;

        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
            return -1;
        memcpy(srv->port, port, plen);
        srv->port[plen] = '\0';
        n = strtol(srv->port, NULL, 10);
        if (n < 1 || n > 65535)
            return -1;
    }
    /* A wildcard listen address is reached through loopback. */
    if (strcmp(srv->host, "0.0.0.0") == 0 || strcmp(srv->host, "*") == 0)
        snprintf(srv->host, sizeof(srv->host), "127.0.0.1");
    else if (strcmp(srv->host, "::") == 0)
        snprintf(srv->host, sizeof(srv->host), "::1");
    snprintf(srv->where, sizeof(srv->where), strchr(srv->host, ':') ? "[%s]:%s" : "%s:%s",
             srv->host, srv->port);
    return 0;
}

/* "http://HOST[:PORT][/]".  0, or -1 with the reason said. */
static int
server_from_url(struct server *srv, const char *url, const char *from)
{
    const char *p = url, *slash;

    if (strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://") != NULL) {
        say("%s \"%s\": only http:// is supported", from, url);
        return -1;
    }
    slash = strchr(p, '/');
    if (slash != NULL && slash[1] != '\0') {
        say("%s \"%s\": give the server only (http://HOST:PORT), not a path", from, url);
        return -1;
    }
    if (memchr(p, '@', slash ? (size_t) (slash - p) : strlen(p)) != NULL
        || server_set(srv, p, slash ? (size_t) (slash - p) : strlen(p), "80") == -1) {
        say("%s \"%s\": not http://HOST:PORT", from, url);
        return -1;
    }
    return 0;
}

/* The first line of path, for admin.token_file.  malloc'd, or NULL with the reason said. */
static char *
read_token_file(const char *cfile, int line, const char *path)
{
    FILE  *f = fopen(path, "r");
    char   tok[512];
    size_t n;

    if (f == NULL) {
        say("%s:%d: admin.token_file: cannot read \"%s\": %s", cfile, line, path,
            strerror(errno));
        return NULL;
    }
    n = fread(tok, 1, sizeof(tok) - 1, f);
    fclose(f);
    tok[n] = '\0';
    tok[strcspn(tok, "\r\n")] = '\0';
    if (tok[0] == '\0') {
        say("%s:%d: admin.token_file: \"%s\" holds no token", cfile, line, path);
        return NULL;
    }
    return strdup(tok);
}

/*
 * Take the server, and the token unless srv has one, from the admin group of
 * the configuration file.  A missing default file means the defaults; a
 * file named by --config or $LBD_CONF must exist.  0, or -1 with the reason said.
 */
static int
server_from_config(struct server *srv, const char *path, int named)
{
    config_t                cfg;
    const config_setting_t *admin, *s;
    const char             *v = DEFAULT_HOST ":" DEFAULT_PORT;
    FILE                   *f;
    int                     rc = -1;

    /* libconfig's own failure to open does not keep errno: open it first. */
    f = fopen(path, "r");
    if (f == NULL && errno == ENOENT && !named)
        return server_set(srv, v, strlen(v), DEFAULT_PORT);
    if (f == NULL) {
        say("cannot read %s: %s (give --url and --token, or LBD_URL and LBD_TOKEN)",
            path, strerror(errno));
        return -1;
    }
    fclose(f);
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        say("%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg) : path,
            config_error_line(&cfg), config_error_text(&cfg));
        goto done;
    }
    admin = config_lookup(&cfg, "admin");
    if (admin != NULL && !config_setting_is_group(admin)) {
        say("%s:%d: \"admin\" must be a group", path, config_setting_source_line(admin));
        goto done;
    }
    s = admin ? config_setting_get_member(admin, "listen") : NULL;
    if (s != NULL && (v = config_setting_get_string(s)) == NULL) {
        say("%s:%d: admin.listen must be a string", path, config_setting_source_line(s));
        goto done;
    }
    if (server_set(srv, v, strlen(v), DEFAULT_PORT) == -1) {
        say("%s:%d: admin.listen \"%s\" is not HOST:PORT", path,
            s ? config_setting_source_line(s) : 0, v);
        goto done;
    }
    if (srv->token == NULL && admin != NULL) {
        if ((s = config_setting_get_member(admin, "token")) != NULL) {
            if ((v = config_setting_get_string(s)) == NULL) {
                say("%s:%d: admin.token must be a string", path, config_setting_source_line(s));
                goto done;
            }
            srv->token = strdup(v);
        } else if ((s = config_setting_get_member(admin, "token_file")) != NULL) {
            if ((v = config_setting_get_string(s)) == NULL) {
                say("%s:%d: admin.token_file must be a string", path,
                    config_setting_source_line(s));
                goto done;
            }
            srv->token = read_token_file(path, config_setting_source_line(s), v);
            if (srv->token == NULL)
                goto done;
        }
    }
    rc = 0;
done:
    config_destroy(&cfg);
    return rc;
}

/*
 * Fill srv from the options, the environment and the configuration file,
 * in that order.  0, -1 (failure said), or -2 (a bad --url: usage error).
 */
static int
server_resolve(struct server *srv, const struct opts *o)
{
    const char *url = o->url, *token = o->token, *from = "--url";
    const char *conf = o->config;
    int         named = 1;

    if (url == NULL) {
        url = getenv("LBD_URL");
        from = "LBD_URL";
    }
    if (url != NULL && *url == '\0')
        url = NULL;
    if (token == NULL)
        token = getenv("LBD_TOKEN");
    if (token != NULL && *token == '\0')
        token = NULL;
    if (token != NULL && (srv->token = strdup(token)) == NULL) {
        say("out of memory");
        return -1;
    }
    if (url != NULL)
        return server_from_url(srv, url, from) == -1 ? (o->url ? -2 : -1) : 0;
    if (conf == NULL && ((conf = getenv("LBD_CONF")) == NULL || *conf == '\0')) {
        conf = LBD_CONF_PATH;
        named = 0;
    }
    return server_from_config(srv, conf, named);
}

/* --- HTTP --- */

/* Connect to srv within TIMEOUT_SEC, trying each address.  A blocking fd or -1 (said). */
static int
http_connect(const struct server *srv)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res, *ai;
    struct timeval   tv = { .tv_sec = TIMEOUT_SEC };
    int              rc, fd = -1, err = 0;

    rc = getaddrinfo(srv->host, srv->port, &hints, &res);
    if (rc != 0) {
        say("cannot resolve %s: %s", srv->host,
            rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        struct pollfd p;
        socklen_t     len = sizeof(err);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd == -1) {
            err = errno;
            continue;
        }
        err = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            err = errno;
            if (err == EINPROGRESS) {
                p.fd = fd;
                p.events = POLLOUT;
                do
                    rc = poll(&p, 1, TIMEOUT_SEC * 1000);
                while (rc == -1 && errno == EINTR);
                if (rc == 0)
                    err = ETIMEDOUT;
                else if (rc == -1)
                    err = errno;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
                    err = errno;
            }
        }
        if (err == 0
            && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != -1
            && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != -1
            && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != -1)
            break;
        if (err == 0)
            err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd == -1)
        say("cannot connect to %s: %s", srv->where, strerror(err));
    return fd;
}

/* One line of an HTTP head: [*p, end) up to "\n" (an "\r" before it is dropped). */
static int
next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t) (end - *p));

    if (nl == NULL)
        return -1;
    *line = *p;
    *len = (size_t) (nl - *p);
    if (*len > 0 && nl[-1] == '\r')
        (*len)--;
    *p = nl + 1;
    return 0;
}

/* Undo chunked transfer coding of [p, end) into out.  0 or -1. */
static int
dechunk(const char *p, const char *end, struct buf *out)
{
    for (;;) {
        const char   *line;
        size_t        len;
        unsigned long n = 0;
        size_t        digits = 0;

        if (next_line(&p, end, &line, &len) == -1)
            return -1;
        while (digits < len && isxdigit((unsigned char) line[digits])) {
            if (n > MAX_ANSWER)
                return -1;
            n = n * 16 + (unsigned long) (isdigit((unsigned char) line[digits])
                                          ? line[digits] - '0'
                                          : (tolower((unsigned char) line[digits]) - 'a' + 10));
            digits++;
        }
        if (digits == 0 || n > MAX_ANSWER)
            return -1;
        if (n == 0)
            return 0;       /* trailers, if any, carry nothing we use */
        if ((size_t) (end - p) < n + 1)
            return -1;
        buf_add(out, p, n);
        p += n;
        if (next_line(&p, end, &line, &len) == -1 || len != 0)
            return -1;
    }
}

/*
 * Parse a whole answer (head and body, as read to EOF) into a.  Skips
 * interim 1xx answers.  0, or -1 with the reason said.
 */
static int
http_parse(const struct server *srv, const char *data, size_t size, struct answer *a)
{
    const char *p = data, *end = data + size, *line;
    size_t      len;
    long long   clen;
    int         chunked;
    struct buf  body = { 0 };

    do {
        int minor;

        clen = -1;
        chunked = 0;
        if (next_line(&p, end, &line, &len) == -1 || len < 12
            || sscanf(line, "HTTP/1.%1d %3d", &minor, &a->status) != 2
            || a->status < 100 || a->status > 599 || line[12] > ' ') {
            say("%s did not answer in HTTP", srv->where);
            return -1;
        }
        snprintf(a->reason, sizeof(a->reason), "%.*s", len > 13 ? (int) (len - 13) : 0,
                 line + 13);
        for (;;) {
            const char *colon, *v;

            if (next_line(&p, end, &line, &len) == -1) {
                say("the answer from %s ends inside its header", srv->where);
                return -1;
            }
            if (len == 0)
                break;
            colon = memchr(line, ':', len);
            if (colon == NULL)
                continue;
            for (v = colon + 1; v < line + len && (*v == ' ' || *v == '\t'); v++)
                ;
            if (colon - line == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
                clen = 0;
                for (; v < line + len && isdigit((unsigned char) *v); v++)
                    if ((clen = clen * 10 + (*v - '0')) > MAX_ANSWER)
                        break;
            } else if (colon - line == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
                chunked = memmem(v, (size_t) (line + len - v), "chunked", 7) != NULL;
            }
        }
    } while (a->status >= 100 && a->status < 200 && a->status != 101);

    if (chunked) {
        if (dechunk(p, end, &body) == -1) {
            free(body.p);
            say("the chunked answer from %s is cut short or malformed", srv->where);
            return -1;
        }
    } else if (clen >= 0) {
        if ((long long) (end - p) < clen) {
            say("the answer from %s is cut short (%zu of %lld bytes)", srv->where,
                (size_t) (end - p), clen);
            return -1;
        }
        buf_add(&body, p, (size_t) clen);
    } else {
        buf_add(&body, p, (size_t) (end - p));
    }
    buf_need(&body, 0);
    body.p[body.len] = '\0';
    a->body = body.p;
    a->bodylen = body.len;
    return 0;
}

/*
 * Send one request and read the whole answer.  body may be NULL.  0 with a
 * filled in (any status), or -1 with the reason said.
 */
static int
http_request(const struct server *srv, const char *method, const char *path,
             const char *body, struct answer *a)
{
    struct buf req = { 0 }, in = { 0 };
    char       host[sizeof(srv->where)];
    size_t     off = 0;
    int        fd, rc = -1, send_err = 0;

    /* Host: the port is left out when it is http's own; an IPv6 host keeps its brackets. */
    if (strcmp(srv->port, "80") != 0)
        snprintf(host, sizeof(host), "%s", srv->where);
    else
        snprintf(host, sizeof(host), strchr(srv->host, ':') ? "[%s]" : "%s", srv->host);
    buf_printf(&req, "%s %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: lbctl/" LBD_VERSION "\r\n"
                     "Accept: application/json\r\n"
                     "Connection: close\r\n",
               method, path, host);
    if (srv->token != NULL)
        buf_printf(&req, "Authorization: Bearer %s\r\n", srv->token);
    if (body != NULL)
        buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                   strlen(body));
    buf_add(&req, "\r\n", 2);
    if (body != NULL)
        buf_add(&req, body, strlen(body));

    fd = http_connect(srv);
    if (fd == -1)
        goto done;
    while (off < req.len) {
        ssize_t n = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);

        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            /* The server may have answered and closed early (413): read on. */
            send_err = errno == EAGAIN ? ETIMEDOUT : errno;
            break;
        }
        off += (size_t) n;
    }
    for (;;) {
        ssize_t n;

        buf_need(&in, 65536);
        n = recv(fd, in.p + in.len, 65536, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == 0 || (n == -1 && errno == ECONNRESET && in.len > 0))
            break;
        if (n == -1) {
            if (send_err != 0)
                say("sending to %s: %s", srv->where, strerror(send_err));
            else if (errno == EAGAIN)
                say("no answer from %s within %d s", srv->where, TIMEOUT_SEC);
            else
                say("reading from %s: %s", srv->where, strerror(errno));
            goto done;
        }
        in.len += (size_t) n;
        if (in.len > MAX_ANSWER) {
            say("the answer from %s is larger than %d MB", srv->where,
                MAX_ANSWER / (1024 * 1024));
            goto done;
        }
    }
    if (in.len > 0)
        in.p[in.len] = '\0';
    if (in.len == 0) {
        if (send_err != 0)
            say("sending to %s: %s", srv->where, strerror(send_err));
        else
            say("%s closed the connection without an answer", srv->where);
        goto done;
    }
    rc = http_parse(srv, in.p, in.len, a);
done:
    if (fd != -1)
        close(fd);
    free(req.p);
    free(in.p);
    return rc;
}

/* --- output --- */

/* A JSON value as table text: strings as they are, null "-", the rest compact JSON. */
static char *
cell_text(const json_t *v)
{
    char *s;

    if (v == NULL || json_is_null(v))
        s = strdup("-");
    else if (json_is_string(v))
        s = strdup(json_string_value(v));
    else
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        say("out of memory");
        exit(EXIT_FAIL);
    }
    /* Nothing the server sends may drive the terminal. */
    for (char *c = s; *c != '\0'; c++)
        if (iscntrl((unsigned char) *c))
            *c = '?';
    return s;
}

struct column {
    const char *title;
    const char *key;
};

static const struct column backend_cols[] = {
    { "ID", "id" }, { "ADDRESS", "address" }, { "WEIGHT", "weight" }, { "STATE", "state" },
    { "HEALTH", "health" }, { "ACTIVE", "active" }, { "SOURCE", "source" },
};

static const struct column event_cols[] = {
    { "ID", "id" }, { "AT", "at" }, { "ACTOR", "actor" }, { "POOL", "pool" },
    { "BACKEND", "backend" }, { "WHAT", "what" }, { "OLD", "old" }, { "NEW", "new" },
    { "GENERATION", "generation" },
};

#define NCOLS(c) (sizeof(c) / sizeof((c)[0]))

/* rows (objects) as a table, columns two spaces apart, no trailing blanks. */
static void
print_table(const struct column *cols, size_t ncols, const json_t *rows)
{
    size_t  nrows = json_array_size(rows), width[16];
    char  **cell = calloc(nrows * ncols + 1, sizeof(char *));

    if (cell == NULL || ncols > 16) {
        say("out of memory");
        exit(EXIT_FAIL);
    }
    for (size_t c = 0; c < ncols; c++)
        width[c] = strlen(cols[c].title);
    for (size_t r = 0; r < nrows; r++) {
        const json_t *row = json_array_get(rows, r);

        for (size_t c = 0; c < ncols; c++) {
            char *s = cell_text(json_is_object(row) ? json_object_get(row, cols[c].key) : NULL);

            cell[r * ncols + c] = s;
            if (strlen(s) > width[c])
                width[c] = strlen(s);
        }
    }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = r == 0 ? cols[c].title : cell[(r - 1) * ncols + c];

            if (c + 1 < ncols)
                printf("%-*s  ", (int) width[c], s);
            else
                printf("%s\n", s);
        }
    }
    for (size_t i = 0; i < nrows * ncols; i++)
        free(cell[i]);
    free(cell);
}

/* A pool: one line of what it is, then its backends. */
static void
print_pool(const json_t *pool)
{
    char *name = cell_text(json_object_get(pool, "name"));
    char *strategy = cell_text(json_object_get(pool, "strategy"));
    char *source = cell_text(json_object_get(pool, "source"));
    json_t *backends = json_object_get(pool, "backends");

    printf("pool %s  strategy %s  source %s\n", name, strategy, source);
    if (json_array_size(backends) == 0)
        printf("  (no backends)\n");
    else
        print_table(backend_cols, NCOLS(backend_cols), backends);
    free(name);
    free(strategy);
    free(source);
}

/* --- commands --- */

struct run {
    struct server srv;
    struct opts   o;
};

/*
 * Make one request and hand the parsed JSON answer to show (unless --json:
 * then the body is printed as it came).  Returns the exit status.
 */
static int
call(struct run *r, const char *method, const struct buf *path, json_t *body,
     void (*show)(const json_t *answer))
{
    struct answer a = { 0 };
    char         *text = NULL;
    json_t       *j = NULL;
    json_error_t  jerr;
    int           rc = EXIT_FAIL;

    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            say("out of memory");
            return EXIT_FAIL;
        }
    }
    if (http_request(&r->srv, method, path->p, text, &a) == -1)
        goto done;
    if (a.status < 200 || a.status > 299) {
        const char *msg = NULL;

        j = json_loadb(a.body, a.bodylen, 0, &jerr);
        if (json_is_object(j) && json_is_string(json_object_get(j, "error")))
            msg = json_string_value(json_object_get(j, "error"));
        say("%d: %s", a.status, msg ? msg : a.reason[0] ? a.reason : "error");
        goto done;
    }
    if (r->o.json) {
        fwrite(a.body, 1, a.bodylen, stdout);
        if (a.bodylen == 0 || a.body[a.bodylen - 1] != '\n')
            putchar('\n');
        rc = 0;
        goto done;
    }
    j = json_loadb(a.body, a.bodylen, 0, &jerr);
    if (j == NULL) {
        say("the answer from %s is not JSON: %s (line %d)", r->srv.where, jerr.text, jerr.line);
        goto done;
    }
    show(j);
    rc = 0;
done:
    if (fflush(stdout) == EOF && rc == 0) {
        say("writing the output: %s", strerror(errno));
        rc = EXIT_FAIL;
    }
    json_decref(j);
    free(text);
    free(a.body);
    return rc;
}

static void
show_pools(const json_t *a)
{
    const json_t *pools = json_object_get(a, "pools");
    size_t        i;
    json_t       *pool;

    if (json_is_integer(json_object_get(a, "generation")))
        printf("generation %" JSON_INTEGER_FORMAT "\n\n",
               json_integer_value(json_object_get(a, "generation")));
    json_array_foreach(pools, i, pool) {
        if (i > 0)
            putchar('\n');
        print_pool(pool);
    }
    if (json_array_size(pools) == 0)
        printf("(no pools)\n");
}

static void
show_pool(const json_t *a)
{
    print_pool(a);
}

static void
show_backends(const json_t *a)
{
    const json_t *b = json_object_get(a, "backends");

    if (json_array_size(b) == 0)
        printf("(no backends)\n");
    else
        print_table(backend_cols, NCOLS(backend_cols), b);
}

static void
show_backend(const json_t *a)
{
    json_t *one = json_pack("[O]", a);

    print_table(backend_cols, NCOLS(backend_cols), one);
    json_decref(one);
}

static void
show_events(const json_t *a)
{
    const json_t *e = json_object_get(a, "events");

    if (json_array_size(e) == 0)
        printf("(no events)\n");
    else
        print_table(event_cols, NCOLS(event_cols), e);
}

/* "/api/pools/POOL" + rest, POOL percent-encoded. */
static void
pool_path(struct buf *b, const char *pool, const char *rest)
{
    buf_printf(b, "/api/pools/");
    buf_add_segment(b, pool);
    buf_printf(b, "%s", rest);
}

/* "/api/pools/POOL/backends/BACKEND", both percent-encoded. */
static void
backend_path(struct buf *b, const char *pool, const char *backend)
{
    pool_path(b, pool, "/backends/");
    buf_add_segment(b, backend);
}

/* A decimal int in [min, max], or -1 (and *ok 0). */
static int
parse_int(const char *s, long min, long max, int *ok)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    *ok = errno == 0 && end != s && *end == '\0' && v >= min && v <= max;
    return *ok ? (int) v : -1;
}

static int
cmd_status(struct run *r, char **arg)
{
    struct buf p = { 0 };
    int        rc;

    buf_printf(&p, "/api/pools");
    rc = call(r, "GET", &p, NULL, show_pools);
    free(p.p);
    return rc;
}

static int
cmd_backends(struct run *r, char **arg)
{
    struct buf p = { 0 };
    int        rc;

    pool_path(&p, arg[0], "/backends");
    rc = call(r, "GET", &p, NULL, show_backends);
    free(p.p);
    return rc;
}

static int
cmd_add(struct run *r, char **arg)
{
    struct buf p = { 0 };
    json_t    *body = json_pack("{s:s}", "address", arg[1]);
    int        rc, ok, w;

    if (body == NULL) {
        say("the address must be UTF-8 text");
        return EXIT_USAGE;
    }
    if (r->o.weight != NULL) {
        w = parse_int(r->o.weight, INT_MIN, INT_MAX, &ok);
        if (!ok) {
            say("--weight \"%s\" is not a number", r->o.weight);
            json_decref(body);
            return EXIT_USAGE;
        }
        json_object_set_new(body, "weight", json_integer(w));
    }
    if (r->o.state != NULL)
        json_object_set_new(body, "state", json_string(r->o.state));
    pool_path(&p, arg[0], "/backends");
    rc = call(r, "POST", &p, body, show_backend);
    free(p.p);
    return rc;
}

static int
cmd_remove(struct run *r, char **arg)
{
    struct buf p = { 0 };
    int        rc;

    backend_path(&p, arg[0], arg[1]);
    rc = call(r, "DELETE", &p, NULL, show_backend);
    free(p.p);
    return rc;
}

/* PATCH one field of a backend. */
static int
patch(struct run *r, char **arg, json_t *body)
{
    struct buf p = { 0 };
    int        rc;

    if (body == NULL) {
        say("out of memory");
        return EXIT_FAIL;
    }
    backend_path(&p, arg[0], arg[1]);
    rc = call(r, "PATCH", &p, body, show_backend);
    free(p.p);
    return rc;
}

static int
cmd_drain(struct run *r, char **arg)
{
    return patch(r, arg, json_pack("{s:s}", "state", "drain"));
}

static int
cmd_enable(struct run *r, char **arg)
{
    return patch(r, arg, json_pack("{s:s}", "state", "up"));
}

static int
cmd_disable(struct run *r, char **arg)
{
    return patch(r, arg, json_pack("{s:s}", "state", "disabled"));
}

static int
cmd_weight(struct run *r, char **arg)
{
    int ok, w = parse_int(arg[2], INT_MIN, INT_MAX, &ok);

    if (!ok) {
        say("weight \"%s\" is not a number", arg[2]);
        return EXIT_USAGE;
    }
    return patch(r, arg, json_pack("{s:i}", "weight", w));
}

static int
cmd_strategy(struct run *r, char **arg)
{
    struct buf p = { 0 };
    json_t    *body = json_pack("{s:s}", "strategy", arg[1]);
    int        rc;

    if (body == NULL) {
        say("the strategy must be UTF-8 text");
        return EXIT_USAGE;
    }
    pool_path(&p, arg[0], "/strategy");
    rc = call(r, "PUT", &p, body, show_pool);
    free(p.p);
    return rc;
}

static int
cmd_events(struct run *r, char **arg)
{
    struct buf p = { 0 };
    int        rc, ok, n = 0;

    if (r->o.limit != NULL) {
        n = parse_int(r->o.limit, 1, INT_MAX, &ok);
        if (!ok) {
            say("--limit \"%s\" is not a positive number", r->o.limit);
            return EXIT_USAGE;
        }
    }
    buf_printf(&p, "/api/events");
    if (n > 0)
        buf_printf(&p, "?limit=%d", n);
    rc = call(r, "GET", &p, NULL, show_events);
    free(p.p);
    return rc;
}

static const struct command {
    const char *name;
    int         nargs;
    const char *args;       /* for the usage message */
    int       (*run)(struct run *r, char **arg);
} commands[] = {
    { "status",   0, "",                      cmd_status },
    { "backends", 1, "POOL",                  cmd_backends },
    { "add",      2, "POOL HOST:PORT",        cmd_add },
    { "remove",   2, "POOL BACKEND",          cmd_remove },
    { "drain",    2, "POOL BACKEND",          cmd_drain },
    { "enable",   2, "POOL BACKEND",          cmd_enable },
    { "disable",  2, "POOL BACKEND",          cmd_disable },
    { "weight",   3, "POOL BACKEND N",        cmd_weight },
    { "strategy", 2, "POOL NAME",             cmd_strategy },
    { "events",   0, "",                      cmd_events },
};

enum { OPT_URL = 256, OPT_TOKEN, OPT_CONFIG, OPT_JSON, OPT_WEIGHT, OPT_STATE, OPT_LIMIT,
       OPT_VERSION };

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "url",     required_argument, NULL, OPT_URL },
        { "token",   required_argument, NULL, OPT_TOKEN },
        { "config",  required_argument, NULL, OPT_CONFIG },
        { "json",    no_argument,       NULL, OPT_JSON },
        { "weight",  required_argument, NULL, OPT_WEIGHT },
        { "state",   required_argument, NULL, OPT_STATE },
        { "limit",   required_argument, NULL, OPT_LIMIT },
        { "help",    no_argument,       NULL, 'h' },
        { "version", no_argument,       NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 }
    };
    struct run            r = { 0 };
    const struct command *cmd = NULL;
    int                   c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_URL:     r.o.url = optarg; break;
        case OPT_TOKEN:   r.o.token = optarg; break;
        case OPT_CONFIG:  r.o.config = optarg; break;
        case OPT_JSON:    r.o.json = 1; break;
        case OPT_WEIGHT:  r.o.weight = optarg; break;
        case OPT_STATE:   r.o.state = optarg; break;
        case OPT_LIMIT:   r.o.limit = optarg; break;
        case 'h':         usage(stdout); return 0;
        case OPT_VERSION: printf("lbctl version " LBD_VERSION "\n"); return 0;
        default:
            if (optopt >= 256)
                say("%s needs a value", argv[optind - 1]);
            else if (optopt != 0)
                say("unknown option -%c (see lbctl help)", optopt);
            else
                say("unknown option %s (see lbctl help)", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        say("no command (see lbctl help)");
        return EXIT_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOLS(commands); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL) {
        say("unknown command \"%s\" (see lbctl help)", argv[optind]);
        return EXIT_USAGE;
    }
    if (argc - optind - 1 != cmd->nargs) {
        say("usage: lbctl %s%s%s", cmd->name, cmd->nargs ? " " : "", cmd->args);
        return EXIT_USAGE;
    }
    if ((r.o.weight != NULL || r.o.state != NULL) && cmd->run != cmd_add) {
        say("--weight and --state go with add (see lbctl weight, drain, enable, disable)");
        return EXIT_USAGE;
    }
    if (r.o.limit != NULL && cmd->run != cmd_events) {
        say("--limit goes with events");
        return EXIT_USAGE;
    }

    rc = server_resolve(&r.srv, &r.o);
    if (rc == 0 && r.srv.token != NULL && strpbrk(r.srv.token, "\r\n") != NULL) {
        say("the token holds a line break");
        rc = -1;
    }
    if (rc == 0)
        rc = cmd->run(&r, argv + optind + 1);
    else
        rc = rc == -2 ? EXIT_USAGE : EXIT_FAIL;
    free(r.srv.token);
    return rc;
}
