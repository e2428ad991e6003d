/*
 * lbd_http_msg.c - layer 7, the messages: heads rewritten for the backend
 * and for the client, lbd's own answers, routing, the keys that pin a
 * client (sticky cookie, hash on a header or cookie), the access log line.
 *
 * A head is rewritten field by field from the parser's spans: fields the
 * parser marked hop-by-hop are left out, the ones lbd owns (X-Forwarded-*,
 * X-Real-IP, Connection) are written by lbd, everything else goes as it
 * came, normalised to "Name: value\r\n".  The result always fits a buffer:
 * a head is at most max_header_size <= proxy_buffer_size / 2 and the
 * rewriting adds at most two bytes per field plus lbd's own fields.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lbd_access_log.h"
#include "lbd_http.h"
#include "lbd_log.h"
#include "lbd_peer.h"

/* An output buffer being filled; overflow sticks, checked once at the end. */
struct out {
    char   *p;
    size_t  len, cap;
    int     over;
};

static void
put(struct out *o, const char *s, size_t n)
{
    if (o->over || o->len + n > o->cap) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void
puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void
putspan(struct out *o, const char *buf, struct lbd_http_span sp)
{
    put(o, buf + sp.off, sp.len);
}

static void
putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
putf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (o->over)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= o->cap - o->len) {
        o->over = 1;
        return;
    }
    o->len += (size_t) n;
}

static void
putfield(struct out *o, const char *buf, const struct lbd_http_header *f)
{
    putspan(o, buf, f->name);
    put(o, ": ", 2);
    putspan(o, buf, f->value);
    put(o, "\r\n", 2);
}

/* n (0..999) in decimal at p, without leading zeros; returns the end. */
static char *
put_dec(char *p, unsigned n)
{
    if (n >= 100)
        *p++ = (char) ('0' + n / 100);
    if (n >= 10)
        *p++ = (char) ('0' + n / 10 % 10);
    *p++ = (char) ('0' + n % 10);
    return p;
}

/*
 * The client's IP as text (len >= INET6_ADDRSTRLEN).  IPv4, every request's
 * case, is written by hand: glibc's inet_ntop formats it with sprintf,
 * which the profile showed on every request.
 */
static const char *
client_ip(const struct lbd_hclient *c, char *out, size_t len)
{
    if (c->addr.sa.sa_family == AF_INET) {
        const unsigned char *a = (const unsigned char *) &c->addr.in.sin_addr;
        char                *p = out;

        for (int i = 0; i < 4; i++) {
            p = put_dec(p, a[i]);
            *p++ = i < 3 ? '.' : '\0';
        }
    } else if (c->addr.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &c->addr.in6.sin6_addr, out, (socklen_t) len);
    } else {
        snprintf(out, len, "unknown");
    }
    return out;
}

int
lbd_http_request_head(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf)
{
    const struct lbd_http_conf *hc = &t->c->svc->conf->http;
    struct lbd_buf             *b = t->hout;
    struct out                  o = { b->data, 0, t->c->svc->worker->cycle->conf->proxy_buffer_size, 0 };
    char                        ip[INET6_ADDRSTRLEN];
    int                         absolute = h->target.len > 0 && buf[h->target.off] != '/'
                                                    && buf[h->target.off] != '*';

    client_ip(t->c, ip, sizeof(ip));
    putspan(&o, buf, h->method);
    put(&o, " ", 1);
    if (absolute) {
        /* An absolute-form target goes on in origin form (RFC 9112 3.2.2). */
        if (h->path.len > 0)
            put(&o, buf + h->path.off, h->target.off + h->target.len - h->path.off);
        else
            put(&o, "/", 1);
    } else {
        putspan(&o, buf, h->target);
    }
    puts_(&o, " HTTP/1.1\r\n");
    for (unsigned i = 0; i < h->nheaders; i++) {
        const struct lbd_http_header *f = &h->headers[i];

        if (f->flags & LBD_HDR_F_HOP)
            continue;
        if ((f->id == LBD_HDR_X_FORWARDED_FOR && hc->forwarded_for)
            || (f->id == LBD_HDR_X_FORWARDED_PROTO && hc->forwarded_proto)
            || (f->id == LBD_HDR_X_REAL_IP && hc->real_ip)
            || (f->id == LBD_HDR_HOST && absolute))
            continue;
        putfield(&o, buf, f);
    }
    if (hc->forwarded_for) {
        /* Earlier proxies' addresses stay, in order, joined in one field, this client's last. */
        puts_(&o, "X-Forwarded-For: ");
        for (unsigned i = 0; i < h->nheaders; i++) {
            const struct lbd_http_header *f = &h->headers[i];

            if (f->id == LBD_HDR_X_FORWARDED_FOR && f->value.len > 0) {
                putspan(&o, buf, f->value);
                put(&o, ", ", 2);
            }
        }
        puts_(&o, ip);
        put(&o, "\r\n", 2);
    }
    if (hc->forwarded_proto)
        puts_(&o, "X-Forwarded-Proto: http\r\n");
    if (hc->real_ip) {
        puts_(&o, "X-Real-IP: ");
        puts_(&o, ip);
        put(&o, "\r\n", 2);
    }
    if (absolute || h->host.len == 0) {
        /* HTTP/1.1 needs a Host: the target's authority, else the backend's address. */
        puts_(&o, "Host: ");
        if (h->host.len > 0)
            putspan(&o, buf, h->host);
        else
            puts_(&o, t->c->svc->conf->listen.text);   /* an HTTP/1.0 client sent none */
        put(&o, "\r\n", 2);
    }
    if (h->upgrade)
        puts_(&o, "Connection: upgrade\r\n");
    put(&o, "\r\n", 2);
    if (o.over)
        return -1;
    b->start = 0;
    b->end = (uint32_t) o.len;
    return 0;
}

static struct lbd_buf *
out_buf(struct lbd_hclient *c)
{
    if (c->out == NULL)
        c->out = lbd_buf_get(c->svc->worker);
    return c->out;
}

int
lbd_http_response_head(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf)
{
    struct lbd_hclient *c = t->c;
    struct lbd_buf     *b = out_buf(c);
    struct out          o;
    int                 interim = h->status < 200 && h->status != 101;

    if (b == NULL)
        return -1;
    /* Append after what waits (an interim head before the final one). */
    o.p = b->data + b->end;
    o.len = 0;
    o.cap = c->svc->worker->cycle->conf->proxy_buffer_size - b->end;
    o.over = 0;
    {
        /* The status line without printf: the parser gave a status of three digits. */
        char line[16] = "HTTP/1.1 ", *p = put_dec(line + 9, (unsigned) h->status % 1000);

        *p++ = ' ';
        put(&o, line, (size_t) (p - line));
    }
    putspan(&o, buf, h->reason);
    put(&o, "\r\n", 2);
    for (unsigned i = 0; i < h->nheaders; i++) {
        const struct lbd_http_header *f = &h->headers[i];

        if (f->flags & LBD_HDR_F_HOP)
            continue;
        /* De-chunked for an HTTP/1.0 client: the body ends with the connection. */
        if (t->dechunk && (f->id == LBD_HDR_TRANSFER_ENCODING || f->id == LBD_HDR_TRAILER))
            continue;
        putfield(&o, buf, f);
    }
    if (!interim) {
        if (t->set_cookie && t->peer != NULL) {
            const struct lbd_pool_conf *pc = t->pool->conf;

            putf(&o, "Set-Cookie: %s=%016llx; Path=/; HttpOnly\r\n", pc->sticky_cookie,
                 (unsigned long long) t->peer->key);
        }
        if (h->status == 101)
            puts_(&o, "Connection: upgrade\r\n");
        else if (!t->keep)
            puts_(&o, "Connection: close\r\n");
        else if (t->version < 11)
            puts_(&o, "Connection: keep-alive\r\n");
    }
    put(&o, "\r\n", 2);
    if (o.over)
        return -1;
    b->end += (uint32_t) o.len;
    return 0;
}

int
lbd_http_error_response(struct lbd_hclient *c, int status, const char *why, int close)
{
    struct lbd_buf *b = out_buf(c);
    struct out      o;
    char            body[256];
    int             n;

    if (b == NULL)
        return -1;
    n = snprintf(body, sizeof(body), "%d %s: %s\n", status, lbd_http_reason(status), why);
    if (n < 0 || (size_t) n >= sizeof(body))
        n = (int) sizeof(body) - 1;
    o.p = b->data + b->end;
    o.len = 0;
    o.cap = c->svc->worker->cycle->conf->proxy_buffer_size - b->end;
    o.over = 0;
    putf(&o, "HTTP/1.1 %d %s\r\nServer: lbd\r\nContent-Type: text/plain\r\n"
         "Content-Length: %d\r\n%s\r\n", status, lbd_http_reason(status), n,
         close ? "Connection: close\r\n" : "");
    /* A HEAD request's error has no body either. */
    if (c->txn == NULL || c->txn->method != LBD_METHOD_HEAD)
        put(&o, body, (size_t) n);
    if (o.over)
        return -1;
    b->end += (uint32_t) o.len;
    return 0;
}

/* Does the Host value (maybe with a port) match rule host pat (lowercase)? */
static int
host_match(const char *pat, const char *host, size_t len)
{
    size_t plen;

    /* The port is not part of the name. */
    if (len > 0 && host[0] != '[') {
        const char *colon = memchr(host, ':', len);

        if (colon != NULL)
            len = (size_t) (colon - host);
    }
    if (len > 0 && host[len - 1] == '.')
        len--;
    if (pat[0] == '*' && pat[1] == '.') {
        plen = strlen(pat + 1);          /* ".example.org" */
        return len > plen && strncasecmp(host + len - plen, pat + 1, plen) == 0;
    }
    plen = strlen(pat);
    return len == plen && strncasecmp(host, pat, len) == 0;
}

int
lbd_http_route(const struct lbd_snapshot *snap, const struct lbd_service *svc,
               const struct lbd_http_head *h, const char *buf)
{
    const struct lbd_http_conf *hc = &svc->conf->http;
    unsigned                    si = (unsigned) (svc - svc->worker->services);
    int                         best = -1;
    size_t                      best_len = 0;
    int                         best_host = 0;

    for (unsigned i = 0; i < hc->nroutes; i++) {
        const struct lbd_route_conf *r = &hc->routes[i];
        size_t                       plen = r->path != NULL ? strlen(r->path) : 1;
        int                          has_host = r->host != NULL;

        if (has_host && !host_match(r->host, buf + h->host.off, h->host.len))
            continue;
        if (r->path != NULL && (h->path.len < plen
                                || memcmp(buf + h->path.off, r->path, plen) != 0))
            continue;
        if (best < 0 || plen > best_len || (plen == best_len && has_host && !best_host)) {
            best = (int) i;
            best_len = plen;
            best_host = has_host;
        }
    }
    if (best >= 0 && snap->route_pool != NULL && snap->route_pool[si] != NULL)
        return snap->route_pool[si][best];
    return snap->service_pool[si];
}

void
lbd_http_keys(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf)
{
    const struct lbd_pool_conf *pc = t->pool->conf;
    struct lbd_hclient         *c = t->c;

    const struct lbd_http_header *f;
    unsigned                      from = 0;

    t->key = lbd_client_key(&c->addr.sa);
    t->sticky = 0;
    if (pc == NULL)
        return;
    if (pc->hash_key == LBD_HASH_KEY_HEADER
        && (f = lbd_http_find(h, buf, pc->hash_key_name, NULL)) != NULL)
        t->key = lbd_fnv1a(buf + f->value.off, f->value.len);
    if (pc->hash_key != LBD_HASH_KEY_COOKIE && pc->sticky_cookie == NULL)
        return;
    while ((f = lbd_http_find(h, buf, "Cookie", &from)) != NULL) {
        const char          *v = buf + f->value.off;
        struct lbd_http_span sp;

        if (pc->hash_key == LBD_HASH_KEY_COOKIE
            && lbd_http_cookie(v, f->value.len, pc->hash_key_name, &sp))
            t->key = lbd_fnv1a(v + sp.off, sp.len);
        if (pc->sticky_cookie != NULL && lbd_http_cookie(v, f->value.len, pc->sticky_cookie, &sp)
            && sp.len == 16) {
            char  hex[17];
            char *end;

            memcpy(hex, v + sp.off, 16);
            hex[16] = '\0';
            t->sticky = strtoull(hex, &end, 16);
            if (*end != '\0')
                t->sticky = 0;
        }
    }
}

int
lbd_http_log_keep(struct lbd_htxn *t, const struct lbd_http_head *h, const char *buf)
{
    const struct lbd_http_header *ref = NULL, *ua = NULL;
    size_t                        n, tl = h->target.len > 4096 ? 4096 : h->target.len;
    char                         *p;

    for (unsigned i = 0; i < h->nheaders; i++) {
        if (h->headers[i].id == LBD_HDR_REFERER && ref == NULL)
            ref = &h->headers[i];
        else if (h->headers[i].id == LBD_HDR_USER_AGENT && ua == NULL)
            ua = &h->headers[i];
    }
    n = h->method.len + tl + (ref ? ref->value.len : 0) + (ua ? ua->value.len : 0);
    if ((p = t->logstr = malloc(n + 1)) == NULL)
        return -1;
    memcpy(p, buf + h->method.off, h->method.len);
    p += h->method.len;
    memcpy(p, buf + h->target.off, tl);
    p += tl;
    if (ref) {
        memcpy(p, buf + ref->value.off, ref->value.len);
        p += ref->value.len;
    }
    if (ua)
        memcpy(p, buf + ua->value.off, ua->value.len);
    t->log_method = (uint16_t) h->method.len;
    t->log_target = (uint16_t) tl;
    t->log_referer = ref ? (uint16_t) ref->value.len : 0xffff;
    t->log_ua = ua ? (uint16_t) ua->value.len : 0xffff;
    return 0;
}

void
lbd_http_log(struct lbd_htxn *t)
{
    struct lbd_hclient    *c = t->c;
    struct lbd_worker     *w = c->svc->worker;
    struct lbd_alog       *log;
    struct lbd_alog_entry  e;
    char                   ip[INET6_ADDRSTRLEN];
    const char            *p = t->logstr;
    int64_t                now = lbd_stats_now_us();

    /* The counters first: every request ends here once, logged or not. */
    lbd_stats_add(lbd_stats_self, LBD_STAT_REQUESTS, 1);
    if (t->status != 0)
        lbd_stats_add(lbd_stats_self, lbd_stats_class(t->status), 1);
    if (lbd_stats_self != NULL)
        lbd_stats_hist_add(&lbd_stats_self->lat[LBD_LAT_TOTAL], now - t->start_us);
    if (t->bstats != NULL)
        lbd_stats_hist_add(&t->bstats->lat[LBD_LAT_TOTAL], now - t->start_us);
    if (w->alogs == NULL || (log = w->alogs[c->svc - w->services]) == NULL)
        return;
    memset(&e, 0, sizeof(e));
    e.client = client_ip(c, ip, sizeof(ip));
    e.start = t->start_tv;
    if (p != NULL) {
        e.method = p;
        e.method_len = t->log_method;
        p += t->log_method;
        e.target = p;
        e.target_len = t->log_target;
        p += t->log_target;
        if (t->log_referer != 0xffff) {
            e.referer = p;
            e.referer_len = t->log_referer;
            p += t->log_referer;
        }
        if (t->log_ua != 0xffff) {
            e.user_agent = p;
            e.user_agent_len = t->log_ua;
        }
        e.version = t->version;
    }
    e.status = t->status;
    e.bytes_sent = t->bytes_out;
    e.bytes_received = t->bytes_in;
    e.service = c->svc->conf->name;
    e.pool = t->pool != NULL ? t->pool->name : NULL;
    e.backend = t->backend;
    e.request_us = now - t->start_us;
    e.backend_us = t->sent_us != 0 ? now - t->sent_us : -1;
    lbd_alog_write(log, &e);
}
