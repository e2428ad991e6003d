/*
 * webdriver.c - the WebDriver client of the browser tests; see webdriver.h
 * for the contract.
 *
 * The HTTP side is as small as chromedriver lets it be: one request per
 * connection ("Connection: close"), the answer delimited by its
 * Content-Length (chromedriver always sends one) or by the close.  Every
 * wait is a poll() bounded by the command's deadline.
 */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "webdriver.h"

#define WD_ELEMENT      "element-6066-11e4-a52e-4f735466cecf"  /* W3C's element key */
#define WD_ANSWER_MAX   (64 * 1024 * 1024)      /* a screenshot is a few hundred kB */
#define WD_START_MS     20000                   /* chromedriver answering /status */
#define WD_SESSION_MS   45000                   /* Chromium started on a busy machine */
#define WD_CMD_MS       20000                   /* any other command */

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("wd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *
chromium_path(void)
{
    const char *p = getenv("LBD_CHROMIUM");

    return p != NULL && *p != '\0' ? p : "/usr/bin/chromium";
}

static const char *
driver_name(void)
{
    const char *p = getenv("LBD_CHROMEDRIVER");

    return p != NULL && *p != '\0' ? p : "chromedriver";
}

/* 1 when name (a path, or a command looked up in PATH) is executable. */
static int
executable(const char *name)
{
    const char *path = getenv("PATH");
    char        buf[1024];

    if (strchr(name, '/') != NULL)
        return access(name, X_OK) == 0;
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");

        snprintf(buf, sizeof(buf), "%.*s/%s", (int) n, n > 0 ? path : ".", name);
        if (access(buf, X_OK) == 0)
            return 1;
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

int
wd_available(char *why, size_t len)
{
    const char *missing = NULL;

    if (!executable(chromium_path()))
        missing = chromium_path();
    else if (!executable(driver_name()))
        missing = driver_name();
    if (missing == NULL)
        return 1;
    snprintf(why, len, "%s is not installed: the browser tests need the Debian packages "
             "chromium and chromium-driver; run ./configure --install-deps (as root)", missing);
    return 0;
}

/* ------------------------------------------------------------------ */
/* HTTP/1.1 to chromedriver. */

/* Wait until fd is ready for events or deadline passes.  1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int64_t       left = deadline - h_now_ms();
        int           r;

        if (left <= 0)
            return 0;
        r = poll(&p, 1, (int) left);
        if (r == -1 && errno == EINTR)
            continue;
        return r;
    }
}

/*
 * Where the body starts in the answer buf[0..len) (the head complete), and
 * its Content-Length (-1 when none).  Returns the body's offset, 0 while
 * the head is incomplete, -1 when the head is not acceptable.
 */
static long
parse_head(const char *buf, size_t len, int *status, long *clen)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4), *line;

    if (end == NULL)
        return len > 65536 ? -1 : 0;
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    *clen = -1;
    for (line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        const char *v = line + strcspn(line, ":\r");

        if (*v != ':')
            continue;
        v++;
        v += strspn(v, " \t");
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            *clen = strtol(v, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
            return -1;          /* chromedriver never chunks; refuse rather than guess */
    }
    return (long) (end + 4 - buf);
}

/*
 * One exchange: method path with body (NULL: none) to chromedriver.
 * Returns the HTTP status and the body in *answer (malloc'd, NUL-terminated),
 * or -1 (quiet: without a message) when no whole answer came by timeout_ms.
 */
static int
exchange(struct wd *w, const char *method, const char *path, const char *body,
         char **answer, int timeout_ms, int quiet)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t  blen = body != NULL ? strlen(body) : 0, len = 0, cap = 65536;
    char    head[1024], *buf = NULL;
    int     fd, hlen, status = 0;
    long    off = 0, clen = -1;
    const char *why = NULL;

    *answer = NULL;
    hlen = snprintf(head, sizeof(head),
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                    "Accept: application/json\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    "Content-Length: %zu\r\n\r\n", method, path, w->port, blen);
    if (hlen < 0 || (size_t) hlen >= sizeof(head)) {
        if (!quiet)
            say("%s %s: the path is too long", method, path);
        return -1;
    }
    fd = h_connect(w->port, timeout_ms);
    if (fd == -1) {
        if (!quiet)
            say("%s %s: connect to chromedriver on port %d: %s", method, path, w->port,
                strerror(errno));
        return -1;
    }
    if (h_send_all(fd, head, (size_t) hlen, timeout_ms) == -1
        || (blen > 0 && h_send_all(fd, body, blen, (int) (deadline - h_now_ms())) == -1)) {
        why = "sending the request failed";
        goto fail;
    }
    if ((buf = malloc(cap)) == NULL) {
        why = "out of memory";
        goto fail;
    }
    for (;;) {
        ssize_t r;

        if (off > 0 && clen >= 0 && len >= (size_t) off + (size_t) clen)
            break;
        if (len + 1 >= cap) {
            char *more;

            if (cap >= WD_ANSWER_MAX) {
                why = "the answer is too large";
                goto fail;
            }
            cap *= 2;
            if ((more = realloc(buf, cap)) == NULL) {
                why = "out of memory";
                goto fail;
            }
            buf = more;
        }
        r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r > 0) {
            len += (size_t) r;
            buf[len] = '\0';
            if (off == 0 && (off = parse_head(buf, len, &status, &clen)) == -1) {
                why = "not an HTTP answer chromedriver would send";
                goto fail;
            }
            continue;
        }
        if (r == 0) {
            if (off > 0 && clen < 0)
                break;          /* delimited by the close */
            why = "chromedriver closed the connection before the whole answer";
            goto fail;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            why = strerror(errno);
            goto fail;
        }
        if (wait_fd(fd, POLLIN, deadline) != 1) {
            why = "no whole answer in time";
            goto fail;
        }
    }
    close(fd);
    if (clen >= 0)
        len = (size_t) off + (size_t) clen;
    memmove(buf, buf + off, len - (size_t) off);
    buf[len - (size_t) off] = '\0';
    *answer = buf;
    return status;
fail:
    if (!quiet)
        say("%s %s: %s (after %lld ms)", method, path, why,
            (long long) (h_now_ms() - deadline + timeout_ms));
    close(fd);
    free(buf);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Commands. */

static json_t *
command(struct wd *w, const char *method, const char *path, json_t *body, int timeout_ms)
{
    char        full[1024], *text = NULL, *answer = NULL;
    json_t     *root, *value, *err;
    json_error_t jerr;
    int         status;

    if (strncmp(path, "/session", 8) == 0 || strncmp(path, "/status", 7) == 0
        || strncmp(path, "/shutdown", 9) == 0)
        snprintf(full, sizeof(full), "%s", path);
    else if (w->session[0] == '\0') {
        say("%s %s: no session", method, path);
        json_decref(body);
        return NULL;
    } else
        snprintf(full, sizeof(full), "/session/%s%s", w->session, path);
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            say("%s %s: cannot encode the body", method, full);
            return NULL;
        }
    } else if (strcmp(method, "POST") == 0) {
        text = strdup("{}");
    }
    status = exchange(w, method, full, text, &answer, timeout_ms, 0);
    free(text);
    if (status == -1)
        return NULL;
    root = json_loads(answer, 0, &jerr);
    if (root == NULL || !json_is_object(root) || (value = json_object_get(root, "value")) == NULL) {
        say("%s %s: HTTP %d, not a WebDriver answer: %.300s", method, full, status, answer);
        json_decref(root);
        free(answer);
        return NULL;
    }
    free(answer);
    err = json_is_object(value) ? json_object_get(value, "error") : NULL;
    if (status != 200 || json_is_string(err)) {
        const char *msg = json_string_value(json_object_get(value, "message"));
        const char *name = json_is_string(err) ? json_string_value(err) : "error";

        /* chromedriver's message starts with the error's name: print it once. */
        if (msg == NULL)
            msg = "(no message)";
        else if (strncmp(msg, name, strlen(name)) == 0 && msg[strlen(name)] == ':')
            name = "";
        say("%s %s: HTTP %d: %s%s%.*s", method, full, status, name, name[0] ? ": " : "",
            (int) strcspn(msg, "\n"), msg);
        json_decref(root);
        return NULL;
    }
    json_incref(value);
    json_decref(root);
    return value;
}

json_t *
wd_cmd(struct wd *w, const char *method, const char *path, json_t *body)
{
    return command(w, method, path, body, w->timeout_ms);
}

/* A command whose value is not needed.  0 or -1. */
static int
cmd_ok(struct wd *w, const char *method, const char *path, json_t *body)
{
    json_t *v = wd_cmd(w, method, path, body);

    json_decref(v);
    return v != NULL ? 0 : -1;
}

/* 1 when chromedriver's /status says ready (quietly: it may not listen yet). */
static int
driver_ready(struct wd *w)
{
    char   *answer = NULL;
    json_t *root;
    int     ready = 0;

    if (exchange(w, "GET", "/status", NULL, &answer, 2000, 1) != 200)
        goto out;
    root = json_loads(answer, 0, NULL);
    ready = json_is_true(json_object_get(json_object_get(root, "value"), "ready"));
    json_decref(root);
out:
    free(answer);
    return ready;
}

int
wd_start(struct wd *w, int width, int height)
{
    char        why[512], port_arg[32], window[64], profile_arg[600];
    char        home_env[600], config_env[600], cache_env[600];
    const char *profile = h_path("chromium-profile"), *home;
    int64_t     deadline;
    json_t     *args, *caps, *value;
    const char *id;

    memset(w, 0, sizeof(*w));
    w->pid = -1;
    w->timeout_ms = WD_CMD_MS;
    if (!wd_available(why, sizeof(why))) {
        say("%s", why);
        return -1;
    }
    if ((w->port = h_free_port()) == -1)
        return -1;
    /* Not "*.log": the harness reads those for sanitizer reports, and a
     * browser's chatter is no business of that check. */
    snprintf(w->log, sizeof(w->log), "%s", h_path("chromedriver.txt"));
    snprintf(port_arg, sizeof(port_arg), "--port=%d", w->port);
    /*
     * A home of its own in the temp dir: Chromium keeps things there even
     * with --user-data-dir (its crash database), and the test leaves
     * nothing behind.  env execs chromedriver: w->pid is chromedriver's.
     */
    home = h_path("home");
    if (mkdir(home, 0700) == -1) {
        say("mkdir %s: %s", home, strerror(errno));
        return -1;
    }
    snprintf(home_env, sizeof(home_env), "HOME=%s", home);
    snprintf(config_env, sizeof(config_env), "XDG_CONFIG_HOME=%s/.config", home);
    snprintf(cache_env, sizeof(cache_env), "XDG_CACHE_HOME=%s/.cache", home);
    {
        const char *argv[] = { "env", home_env, config_env, cache_env, driver_name(), port_arg,
                               NULL };

        if ((w->pid = h_spawn(argv, w->log)) == -1)
            return -1;
    }
    deadline = h_now_ms() + WD_START_MS;
    while (!driver_ready(w)) {
        if (!h_pid_alive(w->pid)) {
            say("chromedriver exited during start-up; its output:");
            h_dump(w->log);
            w->pid = -1;
            return -1;
        }
        if (h_now_ms() >= deadline) {
            say("chromedriver on port %d not ready after %d ms; its output:", w->port,
                WD_START_MS);
            h_dump(w->log);
            return -1;
        }
        h_msleep(20);
    }

    /* A fresh, empty profile: nothing from an earlier run can change the page. */
    if (mkdir(profile, 0700) == -1) {
        say("mkdir %s: %s", profile, strerror(errno));
        return -1;
    }
    snprintf(profile_arg, sizeof(profile_arg), "--user-data-dir=%s", profile);
    snprintf(window, sizeof(window), "--window-size=%d,%d", width, height);
    args = json_pack("[sssssssss]", "--headless", "--no-sandbox", "--disable-gpu",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", profile_arg, window);
    caps = json_pack("{s:{s:{s:s, s:{s:s, s:o}, s:{s:s}, s:s, s:{s:i, s:i, s:i}}}}",
                     "capabilities", "alwaysMatch",
                     "browserName", "chrome",
                     "goog:chromeOptions", "binary", chromium_path(), "args", args,
                     "goog:loggingPrefs", "browser", "ALL",
                     "pageLoadStrategy", "normal",
                     "timeouts", "script", 10000, "pageLoad", 20000, "implicit", 0);
    if (caps == NULL) {
        say("cannot build the capabilities");
        return -1;
    }
    value = command(w, "POST", "/session", caps, WD_SESSION_MS);
    id = json_string_value(json_object_get(value, "sessionId"));
    if (id == NULL || strlen(id) >= sizeof(w->session)) {
        say("no session from chromedriver; its output:");
        h_dump(w->log);
        json_decref(value);
        return -1;
    }
    snprintf(w->session, sizeof(w->session), "%s", id);
    json_decref(value);
    return 0;
}

void
wd_quit(struct wd *w)
{
    char *answer = NULL;

    if (w->session[0] != '\0') {
        char path[200];

        snprintf(path, sizeof(path), "/session/%s", w->session);
        json_decref(command(w, "DELETE", path, NULL, 10000));
        w->session[0] = '\0';
    }
    if (w->pid > 0) {
        /* /shutdown ends chromedriver cleanly; a kill if it does not. */
        exchange(w, "GET", "/shutdown", NULL, &answer, 5000, 1);
        free(answer);
        if (h_wait_exit(w->pid, 5000, NULL) == -1) {
            kill(w->pid, SIGKILL);
            h_wait_exit(w->pid, 5000, NULL);
        }
        w->pid = -1;
    }
}

int
wd_get(struct wd *w, const char *url)
{
    return cmd_ok(w, "POST", "/url", json_pack("{ss}", "url", url));
}

json_t *
wd_exec(struct wd *w, const char *script, json_t *args)
{
    json_t *body = json_pack("{s:s, s:o}", "script", script,
                             "args", args != NULL ? args : json_array());

    if (body == NULL) {
        say("execute: cannot build the body");
        return NULL;
    }
    return wd_cmd(w, "POST", "/execute/sync", body);
}

int
wd_exec_str(struct wd *w, const char *script, json_t *args, char *out, size_t cap)
{
    json_t *v = wd_exec(w, script, args);
    int     rc = -1;

    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
        rc = 0;
    } else if (v != NULL) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

        say("execute: a string was expected, the script returned %.200s", text ? text : "?");
        free(text);
    }
    json_decref(v);
    return rc;
}

int
wd_exec_int(struct wd *w, const char *script, json_t *args, long long *out)
{
    json_t *v = wd_exec(w, script, args);
    int     rc = -1;

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        rc = 0;
    } else if (json_is_boolean(v)) {
        *out = json_is_true(v);
        rc = 0;
    } else if (v != NULL) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

        say("execute: an integer was expected, the script returned %.200s", text ? text : "?");
        free(text);
    }
    json_decref(v);
    return rc;
}

int
wd_find(struct wd *w, const char *css, char *id, size_t cap)
{
    json_t     *v = wd_cmd(w, "POST", "/element",
                           json_pack("{s:s, s:s}", "using", "css selector", "value", css));
    const char *ref = json_string_value(json_object_get(v, WD_ELEMENT));
    int         rc = -1;

    if (ref != NULL && strlen(ref) < cap) {
        snprintf(id, cap, "%s", ref);
        rc = 0;
    } else if (v != NULL) {
        say("find %s: no element reference in the answer", css);
    }
    json_decref(v);
    return rc;
}

/* POST /element/{id}/what with body.  0 or -1. */
static int
element_cmd(struct wd *w, const char *id, const char *what, json_t *body)
{
    char path[512];

    snprintf(path, sizeof(path), "/element/%s/%s", id, what);
    return cmd_ok(w, "POST", path, body);
}

int
wd_click(struct wd *w, const char *id)
{
    return element_cmd(w, id, "click", NULL);
}

int
wd_clear(struct wd *w, const char *id)
{
    return element_cmd(w, id, "clear", NULL);
}

int
wd_send_keys(struct wd *w, const char *id, const char *text)
{
    return element_cmd(w, id, "value", json_pack("{ss}", "text", text));
}

void
wd_dump_console(struct wd *w)
{
    json_t *v = wd_cmd(w, "POST", "/se/log", json_pack("{ss}", "type", "browser"));
    size_t  i;
    json_t *e;

    json_array_foreach(v, i, e) {
        fprintf(stderr, "wd: console %s: %s\n",
                json_string_value(json_object_get(e, "level")) ?: "?",
                json_string_value(json_object_get(e, "message")) ?: "?");
    }
    if (json_array_size(v) == 0 && v != NULL)
        fprintf(stderr, "wd: console: (nothing)\n");
    json_decref(v);
}

/* ------------------------------------------------------------------ */
/* Screenshots. */

long
wd_base64_decode(const char *in, size_t len, unsigned char *out)
{
    unsigned acc = 0;
    int      bits = 0, pad = 0;
    long     n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) in[i];
        int           v;

        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=') {
            pad++;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        else
            return -1;
        if (pad > 0)
            return -1;          /* data after padding */
        acc = (acc << 6) | (unsigned) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return pad > 2 ? -1 : n;
}

int
wd_screenshot(struct wd *w, const char *path)
{
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    json_t        *v = wd_cmd(w, "GET", "/screenshot", NULL);
    const char    *b64 = json_string_value(v);
    unsigned char *png = NULL;
    char           tmp[1024];
    long           n;
    int            fd, rc = -1;

    if (b64 == NULL) {
        if (v != NULL)
            say("screenshot: the value is not a string");
        goto out;
    }
    png = malloc(strlen(b64) / 4 * 3 + 3);
    if (png == NULL)
        goto out;
    n = wd_base64_decode(b64, strlen(b64), png);
    if (n < (long) sizeof(sig) || memcmp(png, sig, sizeof(sig)) != 0) {
        say("screenshot: not a base64 PNG (%ld bytes decoded)", n);
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        say("screenshot: %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write(fd, png, (size_t) n) != n) {
        say("screenshot: writing %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) == -1) {
        say("screenshot: closing %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) == -1) {
        say("screenshot: rename to %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(png);
    json_decref(v);
    return rc;
}
