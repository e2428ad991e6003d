/*
 * it_lbctl_client.c - objs/lbctl against a fake admin API (a child process
 * that records each request and sends a canned answer): what lbctl sends
 * (method, percent-encoded path, headers, the JSON body, the token), what it
 * makes of answers (tables, --json, Content-Length, chunked, 100 Continue,
 * API errors, short and non-HTTP answers, no server), where it finds the
 * server and the token (options, environment, lbd's config file), and its
 * exit codes.  The real API is driven by t/pending_it_lbctl.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "harness.h"
#include "lbctl_run.h"

static const char POOLS[] =
    "{\"generation\":7,\"pools\":["
    "{\"name\":\"web\",\"strategy\":\"round_robin\",\"source\":\"config\",\"backends\":["
    "{\"id\":1,\"pool\":\"web\",\"address\":\"10.0.0.1:8080\",\"host\":\"10.0.0.1\","
    "\"port\":8080,\"weight\":2,\"state\":\"up\",\"source\":\"config\",\"health\":\"unknown\","
    "\"active\":0,\"total\":0,\"fails\":0},"
    "{\"id\":12,\"pool\":\"web\",\"address\":\"[::1]:8080\",\"host\":\"::1\",\"port\":8080,"
    "\"weight\":1000,\"state\":\"drain\",\"source\":\"api\",\"health\":\"up\","
    "\"active\":1234,\"total\":5000,\"fails\":1}]},"
    "{\"name\":\"empty\",\"strategy\":\"round_robin\",\"source\":\"api\",\"backends\":[]}]}";

static const char POOLS_TABLE[] =
    "generation 7\n"
    "\n"
    "pool web  strategy round_robin  source config\n"
    "ID  ADDRESS        WEIGHT  STATE  HEALTH   ACTIVE  SOURCE\n"
    "1   10.0.0.1:8080  2       up     unknown  0       config\n"
    "12  [::1]:8080     1000    drain  up       1234    api\n"
    "\n"
    "pool empty  strategy round_robin  source api\n"
    "  (no backends)\n";

static const char BACKEND[] =
    "{\"id\":13,\"pool\":\"web\",\"address\":\"10.0.0.9:80\",\"host\":\"10.0.0.9\","
    "\"port\":80,\"weight\":3,\"state\":\"drain\",\"source\":\"api\",\"health\":\"unknown\","
    "\"active\":0,\"total\":0,\"fails\":0}";

static const char BACKEND_TABLE[] =
    "ID  ADDRESS      WEIGHT  STATE  HEALTH   ACTIVE  SOURCE\n"
    "13  10.0.0.9:80  3       drain  unknown  0       api\n";

/* "HTTP/1.1 <status>" with a Content-Length body, malloc'd. */
static char *
answer(const char *status, const char *body)
{
    char *a;

    if (asprintf(&a, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 status, strlen(body), body) == -1)
        abort();
    return a;
}

/* Read one request from fd: the head, then Content-Length bytes.  Its length or -1. */
static ssize_t
read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    long   clen = -1;
    char  *head_end = NULL;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t       n;

        if (head_end != NULL && clen <= (long) (len - (size_t) (head_end + 4 - buf)))
            return (ssize_t) len;
        if (len + 1 >= cap || poll(&p, 1, 10000) != 1)
            return -1;
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            return head_end != NULL ? (ssize_t) len : -1;
        len += (size_t) n;
        buf[len] = '\0';
        if (head_end == NULL && (head_end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");

            clen = cl != NULL && cl < head_end ? strtol(cl + 17, NULL, 10) : 0;
        }
    }
}

/*
 * A fake admin API on 127.0.0.1:port, in a child process: for each of n
 * connections it reads one request, writes it to "<tmpdir>/request" (so the
 * file holds the last one), sends resp and closes.  Returns once it listens.
 */
static void
fake_api(int port, const char *resp, int n)
{
    const char        *reqfile = h_path("request");
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int                one = 1, lfd;
    pid_t              pid;

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_not_equal(lfd, -1);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 16), 0);
    pid = fork();
    assert_int_not_equal(pid, -1);
    if (pid > 0) {
        close(lfd);
        return;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int i = 0; i < n; i++) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        static char   req[1 << 16];
        ssize_t       len;
        FILE         *f;
        int           fd;

        if (poll(&p, 1, 60000) != 1 || (fd = accept(lfd, NULL, NULL)) == -1)
            _exit(1);
        len = read_request(fd, req, sizeof(req));
        if (len > 0 && (f = fopen(reqfile, "w")) != NULL) {
            fwrite(req, 1, (size_t) len, f);
            fclose(f);
        }
        (void) !write(fd, resp, strlen(resp));
        shutdown(fd, SHUT_WR);
        while (read(fd, req, sizeof(req)) > 0)
            ;
        close(fd);
    }
    _exit(0);
}

/* The last request the fake API received (owned here until the next call). */
static const char *
request(void)
{
    static char *text;

    free(text);
    text = h_read_file(h_path("request"), NULL);
    assert_non_null(text);
    return text;
}

/* The JSON body of the last request equals want (a json_pack format and values). */
static void
assert_body(const char *fmt, ...)
{
    const char  *body = strstr(request(), "\r\n\r\n");
    json_t      *got, *want;
    json_error_t e;
    va_list      ap;

    assert_non_null(body);
    got = json_loads(body + 4, 0, &e);
    if (got == NULL)
        fail_msg("request body is not JSON (%s): %s", e.text, body + 4);
    va_start(ap, fmt);
    want = json_vpack_ex(&e, 0, fmt, ap);
    va_end(ap);
    assert_non_null(want);
    if (!json_equal(got, want))
        fail_msg("request body %s", body + 4);
    json_decref(got);
    json_decref(want);
}

static const char *
url(int port)
{
    static char u[64];

    snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
    return u;
}

/* status: the request it makes and the table it prints. */
static void
test_status_table(void **state)
{
    int   port = h_free_port();
    char *a = answer("200 OK", POOLS), host[64];

    fake_api(port, a, 1);
    assert_int_equal(lbctl_run("--url", url(port), "status", NULL), 0);
    assert_string_equal(lbctl_err, "");
    assert_string_equal(lbctl_out, POOLS_TABLE);
    assert_true(strncmp(request(), "GET /api/pools HTTP/1.1\r\n", 25) == 0);
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", port);
    assert_non_null(strstr(request(), host));
    assert_non_null(strstr(request(), "\r\nConnection: close\r\n"));
    assert_null(strstr(request(), "Authorization"));
    free(a);
}

/* A chunked answer after an interim 100 Continue reads the same; backends POOL. */
static void
test_chunked(void **state)
{
    int    port = h_free_port();
    char  *a = NULL;
    size_t len, n = strlen(POOLS);
    FILE  *f = open_memstream(&a, &len);

    fputs("HTTP/1.1 100 Continue\r\n\r\n"
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", f);
    for (size_t off = 0; off < n; off += 37) {
        size_t k = n - off < 37 ? n - off : 37;

        fprintf(f, "%zx;ext=1\r\n%.*s\r\n", k, (int) k, POOLS + off);
    }
    fputs("0\r\nX-Trailer: 1\r\n\r\n", f);
    fclose(f);
    fake_api(port, a, 2);
    assert_int_equal(lbctl_run("status", "--url", url(port), NULL), 0);
    assert_string_equal(lbctl_out, POOLS_TABLE);

    /* Only the "backends" member matters to "backends POOL". */
    assert_int_equal(lbctl_run("--url", url(port), "backends", "web", NULL), 0);
    assert_true(strncmp(request(), "GET /api/pools/web/backends HTTP/1.1\r\n", 38) == 0);
    assert_string_equal(lbctl_out, "(no backends)\n");
    free(a);
}

/* add: POST with a JSON body that jansson escaped; the token from $LBD_TOKEN. */
static void
test_add(void **state)
{
    int   port = h_free_port();
    char *a = answer("201 Created", BACKEND);

    fake_api(port, a, 2);
    setenv("LBD_URL", url(port), 1);
    setenv("LBD_TOKEN", "0123456789abcdef0123", 1);
    assert_int_equal(lbctl_run("add", "we b", "10.0.0.9:80", "--weight", "3", "--state", "drain",
                           NULL), 0);
    assert_string_equal(lbctl_out, BACKEND_TABLE);
    assert_true(strncmp(request(), "POST /api/pools/we%20b/backends HTTP/1.1\r\n", 42) == 0);
    assert_non_null(strstr(request(), "\r\nAuthorization: Bearer 0123456789abcdef0123\r\n"));
    assert_non_null(strstr(request(), "\r\nContent-Type: application/json\r\n"));
    assert_body("{s:s, s:i, s:s}", "address", "10.0.0.9:80", "weight", 3, "state", "drain");

    /* Quotes and backslashes reach the server escaped, as one JSON string. */
    assert_int_equal(lbctl_run("add", "web", "a\"b\\c:1", NULL), 0);
    assert_body("{s:s}", "address", "a\"b\\c:1");
    unsetenv("LBD_URL");
    unsetenv("LBD_TOKEN");
    free(a);
}

/* Each change command: its method, its percent-encoded path, its body. */
static void
test_changes(void **state)
{
    int         port = h_free_port();
    char       *a = answer("200 OK", BACKEND);
    const char *u;

    fake_api(port, a, 8);
    u = url(port);
    assert_int_equal(lbctl_run("--url", u, "--token", "t0123456789abcdef", "weight", "web",
                           "[::1]:8080", "5", NULL), 0);
    assert_true(strncmp(request(), "PATCH /api/pools/web/backends/%5B%3A%3A1%5D%3A8080 "
                        "HTTP/1.1\r\n", 61) == 0);
    assert_non_null(strstr(request(), "\r\nAuthorization: Bearer t0123456789abcdef\r\n"));
    assert_body("{s:i}", "weight", 5);
    assert_string_equal(lbctl_out, "ID  ADDRESS      WEIGHT  STATE  HEALTH   ACTIVE  SOURCE\n"
                             "13  10.0.0.9:80  3       drain  unknown  0       api\n");

    assert_int_equal(lbctl_run("--url", u, "drain", "web", "12", NULL), 0);
    assert_true(strncmp(request(), "PATCH /api/pools/web/backends/12 HTTP/1.1\r\n", 43) == 0);
    assert_body("{s:s}", "state", "drain");
    assert_int_equal(lbctl_run("--url", u, "enable", "web", "12", NULL), 0);
    assert_body("{s:s}", "state", "up");
    assert_int_equal(lbctl_run("--url", u, "disable", "web", "12", NULL), 0);
    assert_body("{s:s}", "state", "disabled");

    assert_int_equal(lbctl_run("--url", u, "remove", "web", "10.0.0.9:80", NULL), 0);
    assert_true(strncmp(request(), "DELETE /api/pools/web/backends/10.0.0.9%3A80 HTTP/1.1\r\n",
                        55) == 0);
    assert_null(strstr(request(), "Content-Length"));

    assert_int_equal(lbctl_run("--url", u, "strategy", "web", "least_conn", NULL), 0);
    assert_true(strncmp(request(), "PUT /api/pools/web/strategy HTTP/1.1\r\n", 38) == 0);
    assert_body("{s:s}", "strategy", "least_conn");

    assert_int_equal(lbctl_run("--url", u, "events", "--limit", "5", NULL), 0);
    assert_true(strncmp(request(), "GET /api/events?limit=5 HTTP/1.1\r\n", 34) == 0);
    assert_int_equal(lbctl_run("--url", u, "events", NULL), 0);
    assert_true(strncmp(request(), "GET /api/events HTTP/1.1\r\n", 26) == 0);
    free(a);
}

/* events: the table of the log. */
static void
test_events(void **state)
{
    int   port = h_free_port();
    char *a = answer("200 OK",
        "{\"events\":[{\"id\":9,\"at\":\"2026-01-02T03:04:05Z\",\"actor\":\"api\","
        "\"pool\":\"web\",\"backend\":\"10.0.0.9:80\",\"what\":\"weight\",\"old\":1,"
        "\"new\":3,\"generation\":4},{\"id\":8,\"at\":\"2026-01-02T03:04:00Z\","
        "\"actor\":\"config\",\"pool\":\"web\",\"backend\":null,\"what\":\"strategy\","
        "\"old\":null,\"new\":\"round_robin\",\"generation\":3}]}");

    fake_api(port, a, 1);
    assert_int_equal(lbctl_run("--url", url(port), "events", NULL), 0);
    assert_string_equal(lbctl_out,
        "ID  AT                    ACTOR   POOL  BACKEND      WHAT      OLD  NEW          GENERATION\n"
        "9   2026-01-02T03:04:05Z  api     web   10.0.0.9:80  weight    1    3            4\n"
        "8   2026-01-02T03:04:00Z  config  web   -            strategy  -    round_robin  3\n");
    free(a);
}

/* --json prints the body as it came, plus a final newline. */
static void
test_json(void **state)
{
    int   port = h_free_port();
    char *a = answer("200 OK", POOLS), want[sizeof(POOLS) + 1];

    fake_api(port, a, 1);
    assert_int_equal(lbctl_run("--json", "--url", url(port), "status", NULL), 0);
    snprintf(want, sizeof(want), "%s\n", POOLS);
    assert_string_equal(lbctl_out, want);
    free(a);
}

/* API errors: exit 1, nothing on stdout, one line: "lbctl: STATUS: message". */
static void
test_api_errors(void **state)
{
    static const struct {
        const char *status;
        const char *body;
        const char *want;
    } cases[] = {
        { "404 Not Found", "{\"error\":\"pool \\\"x\\\" has no backend \\\"y\\\"\"}",
          "lbctl: 404: pool \"x\" has no backend \"y\"\n" },
        { "401 Unauthorized", "{\"error\":\"wrong\\ntoken\"}", "lbctl: 401: wrong token\n" },
        { "502 Bad Gateway", "<html>oops</html>", "lbctl: 502: Bad Gateway\n" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int   port = h_free_port();
        char *a = answer(cases[i].status, cases[i].body);

        fake_api(port, a, 1);
        assert_int_equal(lbctl_run("--url", url(port), "--token", "0123456789abcdef",
                               "drain", "x", "y", NULL), 1);
        lbctl_assert_error(cases[i].want);
        assert_string_equal(lbctl_err, cases[i].want);
        free(a);
    }
}

/* Answers that are not whole HTTP, and no server at all. */
static void
test_broken_answers(void **state)
{
    int port;

    port = h_free_port();
    fake_api(port, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"pools\":", 1);
    assert_int_equal(lbctl_run("--url", url(port), "status", NULL), 1);
    lbctl_assert_error("cut short");

    port = h_free_port();
    fake_api(port, "SSH-2.0-OpenSSH\r\n", 1);
    assert_int_equal(lbctl_run("--url", url(port), "status", NULL), 1);
    lbctl_assert_error("did not answer in HTTP");

    port = h_free_port();
    fake_api(port, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 1);
    assert_int_equal(lbctl_run("--url", url(port), "status", NULL), 1);
    lbctl_assert_error("is not JSON");

    port = h_free_port();
    assert_int_equal(lbctl_run("--url", url(port), "status", NULL), 1);
    {
        char want[128];

        snprintf(want, sizeof(want), "lbctl: cannot connect to 127.0.0.1:%d: "
                 "Connection refused\n", port);
        assert_string_equal(lbctl_err, want);
        assert_string_equal(lbctl_out, "");
    }
}

/*
 * The server and the token from lbd's config file (--config or $LBD_CONF):
 * a wildcard admin.listen is reached on loopback, admin.token_file is read;
 * the file's token is not sent to a server the file did not name.
 */
static void
test_config_file(void **state)
{
    int         port = h_free_port();
    char       *a = answer("200 OK", BACKEND), host[64];
    const char *tok, *conf;

    fake_api(port, a, 3);
    tok = h_write_file("token", "fedcba9876543210fedc\n");
    assert_non_null(tok);
    conf = h_write_file("lbd.conf",
        "worker_processes = 1;\n"
        "admin = { listen = \"0.0.0.0:%d\"; token_file = \"%s\"; };\n"
        "services = ( { name = \"t\"; listen = \"127.0.0.1:1\"; pool = \"p\"; } );\n"
        "pools = ( { name = \"p\"; backends = ( { address = \"unresolvable.invalid:1\"; } ); } );\n",
        port, tok);
    assert_non_null(conf);

    assert_int_equal(lbctl_run("--config", conf, "drain", "web", "3", NULL), 0);
    assert_true(strncmp(request(), "PATCH /api/pools/web/backends/3 HTTP/1.1\r\n", 42) == 0);
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", port);
    assert_non_null(strstr(request(), host));
    assert_non_null(strstr(request(), "\r\nAuthorization: Bearer fedcba9876543210fedc\r\n"));

    setenv("LBD_CONF", conf, 1);
    assert_int_equal(lbctl_run("enable", "web", "3", NULL), 0);
    assert_non_null(strstr(request(), "\r\nAuthorization: Bearer fedcba9876543210fedc\r\n"));

    /* The URL from elsewhere: the file's token stays home. */
    setenv("LBD_URL", url(port), 1);
    assert_int_equal(lbctl_run("enable", "web", "3", NULL), 0);
    assert_null(strstr(request(), "Authorization"));
    unsetenv("LBD_URL");
    unsetenv("LBD_CONF");

    /* A file libconfig refuses: FILE:LINE. */
    conf = h_write_file("bad.conf", "admin = {\n  listen = ;\n};\n");
    assert_int_equal(lbctl_run("--config", conf, "status", NULL), 1);
    lbctl_assert_error(":2: syntax error");
    assert_int_equal(lbctl_run("--config", h_path("missing.conf"), "status", NULL), 1);
    lbctl_assert_error("No such file or directory");
    free(a);
}

/* Usage errors: exit 2 and one line; help and --version: exit 0 on stdout. */
static void
test_usage(void **state)
{
    static const char *const bad[][6] = {
        { NULL },
        { "frobnicate", NULL },
        { "backends", NULL },
        { "weight", "web", "1", NULL },
        { "weight", "web", "1", "heavy", NULL },
        { "add", "web", "h:1", "--weight", "x", NULL },
        { "status", "--limit", "3", NULL },
        { "drain", "web", "1", "--weight", "2", NULL },
        { "status", "--bogus", NULL },
        { "status", "--url", NULL },
        { "--url", "https://127.0.0.1:1", "status", NULL },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lbctl_run_argv(bad[i]), 2);
        lbctl_assert_error("");
    }
    assert_int_equal(lbctl_run("help", NULL), 0);
    assert_non_null(strstr(lbctl_out, "Usage: lbctl"));
    assert_int_equal(lbctl_run("--version", NULL), 0);
    assert_true(strncmp(lbctl_out, "lbctl version ", 14) == 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_table, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_chunked, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_add, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_changes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_events, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_json, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_api_errors, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_broken_answers, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_config_file, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_usage, h_setup, h_teardown),
    };

    /* Whatever the caller's shell points lbctl at, these tests name their own. */
    unsetenv("LBD_URL");
    unsetenv("LBD_TOKEN");
    unsetenv("LBD_CONF");
    h_init(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
