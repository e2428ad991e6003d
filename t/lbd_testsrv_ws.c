/*
 * lbd_testsrv_ws.c - the WebSocket side of lbd-testsrv -h: the handshake's
 * Sec-WebSocket-Accept (a small SHA-1 and base64, so the test server needs
 * no crypto library) and an echo of frames (RFC 6455 section 5).
 *
 * The echo streams: a data frame's header is answered at once and its
 * payload is unmasked and copied as it arrives, so a frame of any size
 * costs the output buffer's HIGH_WATER at most.  Control frames (at most
 * 125 bytes, never fragmented) are answered whole.
 */
#include <string.h>

#include "lbd_testsrv.h"

#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_MAX  128     /* a real key is 24 characters */

static uint32_t
rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* SHA-1 (FIPS 180-4) of one 64-byte block, into h. */
static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k, t;

        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* SHA-1 of msg[0..len), len <= 247 (the message and its padding fit 256 bytes). */
static void
sha1_short(const void *msg, size_t len, unsigned char out[20])
{
    uint32_t      h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
    unsigned char buf[256];
    size_t        total = (len + 8) / 64 * 64 + 64;
    uint64_t      bits = (uint64_t) len * 8;

    memset(buf, 0, sizeof(buf));
    memcpy(buf, msg, len);
    buf[len] = 0x80;
    for (int i = 0; i < 8; i++)
        buf[total - 1 - i] = (unsigned char) (bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64)
        sha1_block(h, buf + off);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char) (h[i] >> 24);
        out[4 * i + 1] = (unsigned char) (h[i] >> 16);
        out[4 * i + 2] = (unsigned char) (h[i] >> 8);
        out[4 * i + 3] = (unsigned char) h[i];
    }
}

/* Base64 (RFC 4648, with padding) of in[0..len) into out, NUL-terminated. */
static void
base64(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];

        *out++ = digits[v >> 18];
        *out++ = digits[(v >> 12) & 63];
        *out++ = digits[(v >> 6) & 63];
        *out++ = digits[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < len ? (uint32_t) in[i + 1] << 8 : 0);

        *out++ = digits[v >> 18];
        *out++ = digits[(v >> 12) & 63];
        *out++ = i + 1 < len ? digits[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

void
ws_accept_key(const char *key, size_t len, char out[29])
{
    char          msg[WS_KEY_MAX + sizeof(WS_GUID)];
    unsigned char digest[20];

    if (len > WS_KEY_MAX)
        len = WS_KEY_MAX;
    memcpy(msg, key, len);
    memcpy(msg + len, WS_GUID, sizeof(WS_GUID) - 1);
    sha1_short(msg, len + sizeof(WS_GUID) - 1, digest);
    base64(digest, sizeof(digest), out);
}

/* Append a server frame's header: first byte b0 (FIN, opcode), len, no mask. */
static void
frame_head(struct evbuffer *out, unsigned char b0, uint64_t len)
{
    unsigned char h[10];
    size_t        n = 2;

    h[0] = b0;
    if (len < 126) {
        h[1] = (unsigned char) len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char) (len >> 8);
        h[3] = (unsigned char) len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char) (len >> (56 - 8 * i));
        n = 10;
    }
    evbuffer_add(out, h, n);
}

static void
unmask(const struct ws_echo *w, unsigned char *p, size_t n, uint64_t off)
{
    if (!w->masked)
        return;
    for (size_t i = 0; i < n; i++)
        p[i] ^= w->mask[(off + i) & 3];
}

/* Copy what has come of the current data frame's payload.  1 when it is all done. */
static int
payload_step(struct ws_echo *w, struct evbuffer *in, struct evbuffer *out)
{
    unsigned char buf[4096];

    while (w->left > 0) {
        size_t k = evbuffer_get_length(in);

        if (k == 0 || evbuffer_get_length(out) > HIGH_WATER)
            return 0;
        if (k > sizeof(buf))
            k = sizeof(buf);
        if (k > w->left)
            k = (size_t) w->left;
        evbuffer_remove(in, buf, k);
        unmask(w, buf, k, w->off);
        evbuffer_add(out, buf, k);
        w->left -= k;
        w->off += k;
    }
    return 1;
}

int
ws_echo_run(struct ws_echo *w, struct evbuffer *in, struct evbuffer *out)
{
    for (;;) {
        unsigned char h[14], ctl[125];
        size_t        avail, hl;
        uint64_t      len;
        int           opcode;

        if (evbuffer_get_length(out) > HIGH_WATER)
            return WS_MORE;
        if (w->in_data) {
            if (!payload_step(w, in, out))
                return WS_MORE;
            w->in_data = 0;
            continue;
        }

        avail = evbuffer_get_length(in);
        if (avail < 2)
            return WS_MORE;
        evbuffer_copyout(in, h, avail < sizeof(h) ? avail : sizeof(h));
        opcode = h[0] & 0x0f;
        len = h[1] & 0x7f;
        hl = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
        if (h[0] & 0x70)
            return WS_ERROR;    /* no extension was negotiated */
        if (avail < hl)
            return WS_MORE;
        if (len == 126) {
            len = (uint64_t) h[2] << 8 | h[3];
        } else if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
        }
        w->masked = (h[1] & 0x80) != 0;
        if (w->masked)
            memcpy(w->mask, h + hl - 4, 4);

        if (opcode >= 8) {
            if (len > sizeof(ctl) || !(h[0] & 0x80))
                return WS_ERROR;
            if (avail < hl + len)
                return WS_MORE;
            evbuffer_drain(in, hl);
            evbuffer_remove(in, ctl, (size_t) len);
            unmask(w, ctl, (size_t) len, 0);
            if (opcode == 8 || opcode == 9) {
                frame_head(out, (unsigned char) (0x80 | (opcode == 8 ? 8 : 10)), len);
                evbuffer_add(out, ctl, (size_t) len);
            } else if (opcode != 10) {
                return WS_ERROR;
            }
            if (opcode == 8)
                return WS_CLOSED;
            continue;
        }
        if (opcode > 2)
            return WS_ERROR;
        evbuffer_drain(in, hl);
        frame_head(out, h[0], len);
        w->in_data = 1;
        w->left = len;
        w->off = 0;
    }
}
