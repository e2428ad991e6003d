/*
 * http_client.c - HTTP/1.x clients for the HTTP mode's integration tests;
 * see http_client.h for the contract.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

#define HC_READ     65536
#define HC_HEAD_MAX (256 * 1024)     /* a longer head is not an answer we expect */
#define HC_ARGS_MAX 64

static void
say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("hc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int
hc_open(struct hc *c, int port, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = h_connect(port, timeout_ms);
    if (c->fd == -1) {
        say("connect to %d: %s", port, strerror(errno));
        return -1;
    }
    return 0;
}

int
hc_open_from(struct hc *c, const char *src, int port, int timeout_ms)
{
    struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
    struct pollfd      pfd;
    int                err = 0;
    socklen_t          len = sizeof(err);

    memset(c, 0, sizeof(*c));
    to.sin_port = htons((uint16_t) port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (inet_pton(AF_INET, src, &from.sin_addr) != 1) {
        say("%s is not an IPv4 address", src);
        return -1;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1 || bind(c->fd, (struct sockaddr *) &from, sizeof(from)) == -1
        || (connect(c->fd, (struct sockaddr *) &to, sizeof(to)) == -1 && errno != EINPROGRESS)) {
        say("connect from %s to %d: %s", src, port, strerror(errno));
        hc_close(c);
        return -1;
    }
    pfd.fd = c->fd;
    pfd.events = POLLOUT;
    if (poll(&pfd, 1, timeout_ms) != 1
        || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
        say("connect from %s to %d: %s", src, port, err ? strerror(err) : "timed out");
        hc_close(c);
        return -1;
    }
    return 0;
}

void
hc_close(struct hc *c)
{
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int
hc_send(struct hc *c, const void *buf, size_t len, int timeout_ms)
{
    return h_send_all(c->fd, buf, len, timeout_ms);
}

int
hc_sends(struct hc *c, const char *s, int timeout_ms)
{
    return hc_send(c, s, strlen(s), timeout_ms);
}

/*
 * Receive more into the buffer, waiting until the deadline.  1 when bytes
 * came, 0 on EOF or reset (c->eof), -1 on another error or the deadline.
 */
static int
fill(struct hc *c, int64_t deadline)
{
    if (c->eof)
        return 0;
    if (c->cap - c->len < HC_READ) {
        size_t cap = c->cap ? c->cap * 2 : 4 * HC_READ;
        char  *nb;

        while (cap - c->len < HC_READ)
            cap *= 2;
        nb = realloc(c->buf, cap + 1);
        if (nb == NULL)
            return -1;
        c->buf = nb;
        c->cap = cap;
    }
    for (;;) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        ssize_t       n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        int64_t       left;

        if (n > 0) {
            c->len += (size_t) n;
            return 1;
        }
        if (n == 0 || errno == ECONNRESET) {
            c->eof = 1;
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        left = deadline - h_now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (poll(&p, 1, (int) left) == -1 && errno != EINTR)
            return -1;
    }
}

/* fill, for a caller that needs more bytes: 0 when some came, else -1 (EOF: ECONNRESET). */
static int
fill_more(struct hc *c, int64_t deadline)
{
    int rc = fill(c, deadline);

    if (rc == 0)
        errno = ECONNRESET;
    return rc == 1 ? 0 : -1;
}

static void
consume(struct hc *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Where "\r\n\r\n" ends in the buffer, or 0. */
static size_t
head_end(const struct hc *c)
{
    for (size_t i = 0; i + 3 < c->len; i++)
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

/* Where the first "\r\n" ends in the buffer, or 0. */
static size_t
line_end(const struct hc *c)
{
    for (size_t i = 0; i + 1 < c->len; i++)
        if (c->buf[i] == '\r' && c->buf[i + 1] == '\n')
            return i + 2;
    return 0;
}

/*
 * Receive until end() finds its delimiter in the buffer; returns where it
 * ends, or 0 (errno: EPROTO when max bytes came without it, else fill_more's).
 */
static size_t
fill_until(struct hc *c, size_t (*end)(const struct hc *), size_t max, int64_t deadline)
{
    size_t e;

    while ((e = end(c)) == 0) {
        if (c->len > max) {
            errno = EPROTO;
            return 0;
        }
        if (fill_more(c, deadline) == -1)
            return 0;
    }
    return e;
}

/* Take up to n buffered body bytes into r.  Returns how many. */
static size_t
take(struct hc *c, struct hc_resp *r, uint64_t n)
{
    size_t k = c->len < n ? c->len : (size_t) n;

    r->body_hash = lbd_td_fnv1a64(r->body_hash, c->buf, k);
    if (r->body_len < HC_BODY_KEEP) {
        size_t keep = HC_BODY_KEEP - (size_t) r->body_len;

        if (keep > k)
            keep = k;
        memcpy(r->body + r->body_len, c->buf, keep);
        r->body[r->body_len + keep] = '\0';
    }
    r->body_len += k;
    consume(c, k);
    return k;
}

/* Read exactly n body bytes.  0 or -1. */
static int
body_bytes(struct hc *c, struct hc_resp *r, uint64_t n, int64_t deadline)
{
    while (n > 0) {
        if (c->len == 0 && fill_more(c, deadline) == -1)
            return -1;
        n -= take(c, r, n);
    }
    return 0;
}

/* Read one CRLF-terminated line into line (cap bytes, NUL-terminated).  0 or -1. */
static int
read_line(struct hc *c, char *line, size_t cap, int64_t deadline)
{
    size_t end = fill_until(c, line_end, 8192, deadline);

    if (end == 0)
        return -1;
    if (end - 2 >= cap) {
        errno = EPROTO;
        return -1;
    }
    memcpy(line, c->buf, end - 2);
    line[end - 2] = '\0';
    consume(c, end);
    return 0;
}

static int
chunked_body(struct hc *c, struct hc_resp *r, int64_t deadline)
{
    char line[8192];

    for (;;) {
        char              *end;
        unsigned long long size;

        if (read_line(c, line, sizeof(line), deadline) == -1)
            return -1;
        errno = 0;
        size = strtoull(line, &end, 16);
        if (end == line || errno != 0 || (*end != '\0' && *end != ';')) {
            say("bad chunk size line \"%s\"", line);
            errno = EPROTO;
            return -1;
        }
        if (size == 0)
            break;
        if (body_bytes(c, r, size, deadline) == -1 || read_line(c, line, sizeof(line), deadline) == -1)
            return -1;
        if (line[0] != '\0') {
            errno = EPROTO;
            return -1;
        }
    }
    do {    /* trailer fields, up to the empty line */
        if (read_line(c, line, sizeof(line), deadline) == -1)
            return -1;
    } while (line[0] != '\0');
    return 0;
}

int
hc_read(struct hc *c, struct hc_resp *r, int no_body, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    char    val[256];
    size_t  hl;

    memset(r, 0, sizeof(*r));
    r->body_hash = LBD_TD_FNV_BASIS;
    for (;;) {
        int status;

        if ((hl = fill_until(c, head_end, HC_HEAD_MAX, deadline)) == 0)
            return -1;
        if (hl < 13 || memcmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' '
            || sscanf(c->buf + 9, "%3d", &status) != 1 || status < 100) {
            say("not an HTTP response: \"%.*s\"", (int) (hl < 80 ? hl : 80), c->buf);
            errno = EPROTO;
            return -1;
        }
        if (status >= 200 || status == 101) {
            r->status = status;
            r->head = strndup(c->buf, hl);
            consume(c, hl);
            break;
        }
        consume(c, hl);     /* 100 Continue and the like */
    }
    r->body = malloc(HC_BODY_KEEP + 1);
    if (r->head == NULL || r->body == NULL) {
        errno = ENOMEM;
        return -1;
    }
    r->body[0] = '\0';

    if (no_body || r->status < 200 || r->status == 204 || r->status == 304) {
        r->framing = HC_NONE;
        return 0;
    }
    if (hc_field(r->head, "Transfer-Encoding", val, sizeof(val)) > 0) {
        size_t n = strlen(val);

        if (n >= 7 && strcasecmp(val + n - 7, "chunked") == 0) {
            r->framing = HC_CHUNKED;
            return chunked_body(c, r, deadline);
        }
    } else if (hc_field(r->head, "Content-Length", val, sizeof(val)) > 0) {
        r->framing = HC_LENGTH;
        return body_bytes(c, r, strtoull(val, NULL, 10), deadline);
    }
    r->framing = HC_CLOSE;
    for (;;) {
        int rc;

        take(c, r, c->len);
        rc = fill(c, deadline);
        if (rc == 0)
            return 0;
        if (rc == -1)
            return -1;
    }
}

void
hc_resp_free(struct hc_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int
hc_wait_closed(struct hc *c, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    int     rc;

    if (c->len > 0)
        return 0;
    rc = fill(c, deadline);
    if (rc == 1)
        return 0;
    if (rc == 0)
        return 1;
    return errno == ETIMEDOUT ? -1 : 1;     /* any other error: the connection is gone */
}

int
hc_recv_n(struct hc *c, void *dst, size_t n, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;

    while (c->len < n)
        if (fill_more(c, deadline) == -1)
            return -1;
    memcpy(dst, c->buf, n);
    consume(c, n);
    return 0;
}

int
hc_field(const char *head, const char *name, char *val, size_t cap)
{
    size_t      nlen = strlen(name);
    const char *p = strstr(head, "\r\n");
    int         count = 0;

    if (val != NULL && cap > 0)
        val[0] = '\0';
    while (p != NULL && p[2] != '\0' && !(p[2] == '\r' && p[3] == '\n')) {
        const char *line = p + 2, *eol = strstr(line, "\r\n"), *v, *ve;

        if (eol == NULL)
            break;
        p = eol;
        if ((size_t) (eol - line) <= nlen || line[nlen] != ':'
            || strncasecmp(line, name, nlen) != 0)
            continue;
        for (v = line + nlen + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
            ;
        for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
            ;
        if (count++ == 0 && val != NULL && cap > 0)
            snprintf(val, cap, "%.*s", (int) (ve - v), v);
    }
    return count;
}

int
hc_exchange(int port, const char *req, struct hc_resp *r, int no_body, int timeout_ms)
{
    struct hc c;
    int       rc, err;

    memset(r, 0, sizeof(*r));
    if (hc_open(&c, port, timeout_ms) == -1)
        return -1;
    rc = hc_sends(&c, req, timeout_ms);
    if (rc == 0)
        rc = hc_read(&c, r, no_body, timeout_ms);
    err = errno;
    hc_close(&c);
    errno = err;
    return rc;
}

/* "curl -s" and args into argv (HC_ARGS_MAX).  0 or -1. */
static int
curl_argv(const char *argv[], const char *const args[])
{
    int n = 0;

    argv[n++] = "curl";
    argv[n++] = "-s";
    for (int i = 0; args[i] != NULL; i++) {
        if (n == HC_ARGS_MAX - 1)
            return -1;
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return 0;
}

int
hc_curl(const char *out_name, const char *const args[], int timeout_ms)
{
    const char *argv[HC_ARGS_MAX];
    const char *out = h_path(out_name);

    if (curl_argv(argv, args) == -1)
        return -1;
    unlink(out);
    return h_run(argv, out, timeout_ms);
}

int
hc_curl_hash(const char *const args[], uint64_t *len, uint64_t *hash, int timeout_ms)
{
    const char   *argv[HC_ARGS_MAX];
    int64_t       deadline = h_now_ms() + timeout_ms;
    int           pfd[2], st;
    pid_t         parent = getpid(), pid;
    unsigned char *buf;

    *len = 0;
    *hash = LBD_TD_FNV_BASIS;
    if (curl_argv(argv, args) == -1 || pipe2(pfd, O_CLOEXEC) == -1)
        return -1;
    pid = fork();
    if (pid == -1) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        int err = open(h_path("curl-err.log"), O_WRONLY | O_CREAT | O_APPEND, 0644);
        int in = open("/dev/null", O_RDONLY);

        h_child_init(parent);
        dup2(pfd[1], 1);
        if (in != -1)
            dup2(in, 0);
        if (err != -1)
            dup2(err, 2);
        execvp(argv[0], (char *const *) argv);
        _exit(127);
    }
    close(pfd[1]);
    buf = malloc(HC_READ);
    for (;;) {
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        int64_t       left = deadline - h_now_ms();
        ssize_t       n;

        if (buf == NULL || left <= 0) {
            say("curl: no end after %d ms: killed", timeout_ms);
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, (int) left) <= 0)
            continue;
        n = read(pfd[0], buf, HC_READ);
        if (n > 0) {
            *hash = lbd_td_fnv1a64(*hash, buf, (size_t) n);
            *len += (uint64_t) n;
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    free(buf);
    close(pfd[0]);
    if (h_wait_exit(pid, (int) (deadline - h_now_ms() > 1000 ? deadline - h_now_ms() : 1000),
                    &st) == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}
