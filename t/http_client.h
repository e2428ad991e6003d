/*
 * http_client.h - HTTP/1.x clients for the HTTP mode's integration tests
 * (pending_it_http, later it_http).  Linked into those tests only.
 *
 * Two kinds:
 *   - a raw client on a socket the test drives byte by byte, for what a
 *     real client would not send or would hide: pipelining, HTTP/1.0,
 *     malformed and smuggling requests, slow heads, WebSocket frames, and
 *     the exact framing of a response;
 *   - curl, run as a real client, its body streamed through a pipe and
 *     hashed (hc_curl_hash) or its output kept in a file (hc_curl).
 *
 * Every call has a timeout; failures return -1 with errno and print the
 * reason to stderr with an "hc:" prefix, as the harness does.
 */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define HC_BODY_KEEP    (1024 * 1024)   /* body bytes a response keeps; all are hashed */

/* One client connection. */
struct hc {
    int    fd;
    char  *buf;         /* received, not consumed yet: buf[0..len) */
    size_t len;
    size_t cap;
    int    eof;         /* the peer closed (EOF or reset) */
};

/* How a response's body was delimited. */
enum hc_framing { HC_NONE = 0, HC_LENGTH, HC_CHUNKED, HC_CLOSE };

/* A response read by hc_read. */
struct hc_resp {
    int             status;     /* 0 until one was read */
    char           *head;       /* status line and fields (and the empty line), NUL-terminated */
    char           *body;       /* its first HC_BODY_KEEP bytes, NUL-terminated */
    uint64_t        body_len;   /* the whole (decoded) body's length */
    uint64_t        body_hash;  /* FNV-1a 64 of it (lbd_testdata.h) */
    enum hc_framing framing;
};

/* Connect to 127.0.0.1:port.  0, or -1 with errno. */
int hc_open(struct hc *c, int port, int timeout_ms);

/* The same from source address src (IPv4, e.g. "127.10.200.5").  0, or -1. */
int hc_open_from(struct hc *c, const char *src, int port, int timeout_ms);

/* Close the socket and free the buffer (safe on a closed one). */
void hc_close(struct hc *c);

/* Send len bytes of buf.  0 or -1. */
int hc_send(struct hc *c, const void *buf, size_t len, int timeout_ms);

/* Send a string.  0 or -1. */
int hc_sends(struct hc *c, const char *s, int timeout_ms);

/*
 * Read one response into r (free it with hc_resp_free).  no_body: the
 * request was HEAD, so the response has no body whatever its fields say
 * (a 101 has none either; bytes after it stay in the buffer).  Interim
 * responses (1xx but 101) are skipped.  A body is delimited as RFC 9112
 * 6.3 says: chunked, Content-Length, or the peer's close.  Returns 0, or
 * -1 with errno: ECONNRESET when the connection closed before a whole
 * response (r->status says whether a head came), ETIMEDOUT, EPROTO when
 * what came is not an HTTP response.
 */
int hc_read(struct hc *c, struct hc_resp *r, int no_body, int timeout_ms);

/* Free what hc_read allocated; r is then empty. */
void hc_resp_free(struct hc_resp *r);

/*
 * Wait until the peer closes (EOF or reset).  Returns 1 when it closed
 * with nothing more sent, 0 when bytes came instead, -1 on timeout.
 */
int hc_wait_closed(struct hc *c, int timeout_ms);

/* Receive exactly n bytes into dst (the buffer's first).  0 or -1. */
int hc_recv_n(struct hc *c, void *dst, size_t n, int timeout_ms);

/*
 * The fields called name (case-insensitive) in a message head (the first
 * line is skipped): returns how many there are and copies the first one's
 * value, trimmed, into val (NUL-terminated; val may be NULL).
 */
int hc_field(const char *head, const char *name, char *val, size_t cap);

/* Connect, send req, read one response (no_body as hc_read), close.  0 or -1. */
int hc_exchange(int port, const char *req, struct hc_resp *r, int no_body, int timeout_ms);

/*
 * Run "curl -s" with args (NULL-terminated); its stdout and stderr go to
 * "<tmpdir>/<out_name>".  Returns curl's exit code, or -1 (could not run,
 * or killed after timeout_ms).
 */
int hc_curl(const char *out_name, const char *const args[], int timeout_ms);

/*
 * Run "curl -s" with args, reading its stdout through a pipe: the length
 * and FNV-1a 64 of everything it wrote go to *len and *hash, so a large
 * body is checked without being stored.  stderr goes to
 * "<tmpdir>/curl-err.log".  Returns curl's exit code or -1.
 */
int hc_curl_hash(const char *const args[], uint64_t *len, uint64_t *hash, int timeout_ms);

#endif /* HTTP_CLIENT_H */
