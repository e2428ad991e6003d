/*
 * lbd_http_chunked.c - walking a chunked body (RFC 9112 7.1) a run at a
 * time, telling chunk data from framing (the contract is lbd_http_parse.h).
 *
 * The framing is read one byte at a time by a state machine whose whole
 * state is struct lbd_http_chunked, so the walk gives the same answer
 * however the body is split between calls, down to one byte per call.
 * Chunk data is not looked at: a call in the middle of a chunk returns as
 * much of it as the buffer holds, in O(1).
 *
 * Stricter than a head on purpose: every line of the framing ends with
 * CRLF (a bare LF is BAD), and whitespace is only allowed where the
 * grammar has BWS, i.e. around the ';' and '=' of an extension, never
 * after a size or a value at the end of the line.  Proxies and servers
 * that disagree on exactly these (bare LF after a size, "5 \r\n",
 * whitespace before a size) are how chunked bodies get smuggled.
 */
#include "lbd_http_parse.h"

/* Longest size, extension or trailer line, CRLF not counted. */
#define CHUNK_LINE_MAX 4096

enum {
    CH_SIZE0 = 0,       /* at a chunk-size line's start: its first hex digit */
    CH_SIZE,            /* in the size's digits */
    CH_BWS_SEMI,        /* whitespace after the size or a value: only ';' may follow */
    CH_EXT_NAME0,       /* after ';': BWS, then an extension's name */
    CH_EXT_NAME,
    CH_EXT_NAME_BWS,    /* whitespace after a name: '=' or ';' */
    CH_EXT_VAL0,        /* after '=': BWS, then a token or a quoted-string */
    CH_EXT_TOKEN,
    CH_EXT_QUOTED,
    CH_EXT_QPAIR,       /* after a backslash in a quoted-string */
    CH_EXT_END,         /* just after a quoted-string's closing quote */
    CH_SIZE_LF,         /* CR ended the size line: LF must follow */
    CH_DATA,            /* left bytes of chunk data to come */
    CH_DATA_CR,         /* after the data: CR LF */
    CH_DATA_LF,
    CH_TRAILER0,        /* at a trailer line's start, or the final empty line's CR */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF,          /* the final empty line's LF: then DONE */
    CH_DONE,
    CH_BAD,
};

static inline int
is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 tchar. */
static int
is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* HTAB, SP, VCHAR, obs-text: a trailer value's bytes, a quoted-pair's second byte. */
static inline int
is_text(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One byte of framing in state c->state: the next state, or CH_BAD. */
static int
step(struct lbd_http_chunked *c, uint8_t ch)
{
    int v;

    switch (c->state) {
    case CH_SIZE0:
        if ((v = hex_value(ch)) < 0)
            return CH_BAD;
        c->left = (uint64_t) v;
        return CH_SIZE;
    case CH_SIZE:
        if ((v = hex_value(ch)) >= 0) {
            if (c->left > (UINT64_MAX >> 4))
                return CH_BAD;
            c->left = c->left << 4 | (uint64_t) v;
            return CH_SIZE;
        }
        if (ch == ';')
            return CH_EXT_NAME0;
        if (ch == '\r')
            return CH_SIZE_LF;
        return is_ws(ch) ? CH_BWS_SEMI : CH_BAD;
    case CH_BWS_SEMI:
        if (ch == ';')
            return CH_EXT_NAME0;
        return is_ws(ch) ? CH_BWS_SEMI : CH_BAD;
    case CH_EXT_NAME0:
        if (is_ws(ch))
            return CH_EXT_NAME0;
        return is_tchar(ch) ? CH_EXT_NAME : CH_BAD;
    case CH_EXT_NAME:
        if (is_tchar(ch))
            return CH_EXT_NAME;
        if (ch == '=')
            return CH_EXT_VAL0;
        if (ch == ';')
            return CH_EXT_NAME0;
        if (ch == '\r')
            return CH_SIZE_LF;
        return is_ws(ch) ? CH_EXT_NAME_BWS : CH_BAD;
    case CH_EXT_NAME_BWS:
        if (ch == '=')
            return CH_EXT_VAL0;
        if (ch == ';')
            return CH_EXT_NAME0;
        return is_ws(ch) ? CH_EXT_NAME_BWS : CH_BAD;
    case CH_EXT_VAL0:
        if (is_ws(ch))
            return CH_EXT_VAL0;
        if (ch == '"')
            return CH_EXT_QUOTED;
        return is_tchar(ch) ? CH_EXT_TOKEN : CH_BAD;
    case CH_EXT_TOKEN:
        if (is_tchar(ch))
            return CH_EXT_TOKEN;
        if (ch == ';')
            return CH_EXT_NAME0;
        if (ch == '\r')
            return CH_SIZE_LF;
        return is_ws(ch) ? CH_BWS_SEMI : CH_BAD;
    case CH_EXT_QUOTED:
        if (ch == '"')
            return CH_EXT_END;
        if (ch == '\\')
            return CH_EXT_QPAIR;
        return is_text(ch) ? CH_EXT_QUOTED : CH_BAD;
    case CH_EXT_QPAIR:
        return is_text(ch) ? CH_EXT_QUOTED : CH_BAD;
    case CH_EXT_END:
        if (ch == ';')
            return CH_EXT_NAME0;
        if (ch == '\r')
            return CH_SIZE_LF;
        return is_ws(ch) ? CH_BWS_SEMI : CH_BAD;
    case CH_SIZE_LF:
        if (ch != '\n')
            return CH_BAD;
        c->line = 0;
        return c->left == 0 ? CH_TRAILER0 : CH_DATA;
    case CH_DATA_CR:
        return ch == '\r' ? CH_DATA_LF : CH_BAD;
    case CH_DATA_LF:
        return ch == '\n' ? CH_SIZE0 : CH_BAD;
    case CH_TRAILER0:
        if (ch == '\r')
            return CH_END_LF;
        return is_tchar(ch) ? CH_TRAILER_NAME : CH_BAD;   /* SP, HTAB: obs-fold */
    case CH_TRAILER_NAME:
        if (ch == ':')
            return CH_TRAILER_VALUE;
        return is_tchar(ch) ? CH_TRAILER_NAME : CH_BAD;
    case CH_TRAILER_VALUE:
        if (ch == '\r')
            return CH_TRAILER_LF;
        return is_text(ch) ? CH_TRAILER_VALUE : CH_BAD;
    case CH_TRAILER_LF:
        if (ch != '\n')
            return CH_BAD;
        c->line = 0;
        return CH_TRAILER0;
    case CH_END_LF:
        return ch == '\n' ? CH_DONE : CH_BAD;
    default:
        return CH_BAD;
    }
}

/* States whose bytes are a size, extension or trailer line's content. */
static int
in_line(int state)
{
    return (state >= CH_SIZE0 && state <= CH_EXT_END) ||
           (state >= CH_TRAILER0 && state <= CH_TRAILER_VALUE);
}

void
lbd_http_chunked_init(struct lbd_http_chunked *c)
{
    c->state = CH_SIZE0;
    c->left = 0;
    c->line = 0;
    c->total = 0;
}

int
lbd_http_chunked_next(struct lbd_http_chunked *c, const char *buf, size_t len,
                      size_t *used, int *is_data)
{
    const uint8_t *b = (const uint8_t *) buf;
    size_t         i;

    *used = 0;
    *is_data = 0;
    if (c->state == CH_DONE)
        return LBD_HTTP_DONE;
    if (c->state == CH_BAD)
        return LBD_HTTP_BAD;

    if (c->state == CH_DATA) {
        size_t n = len < c->left ? len : (size_t) c->left;

        c->left -= n;
        c->total += n;
        if (c->left == 0)
            c->state = CH_DATA_CR;
        *used = n;
        *is_data = n > 0;
        return LBD_HTTP_AGAIN;
    }

    /* Framing up to the next chunk's data, the end, or the buffer's end. */
    for (i = 0; i < len && c->state != CH_DATA; i++) {
        if (in_line(c->state) && b[i] != '\r' && ++c->line > CHUNK_LINE_MAX)
            c->state = CH_BAD;
        else
            c->state = step(c, b[i]);
        if (c->state == CH_BAD)
            return LBD_HTTP_BAD;
        if (c->state == CH_DONE) {
            *used = i + 1;
            return LBD_HTTP_DONE;
        }
    }
    *used = i;
    return LBD_HTTP_AGAIN;
}
