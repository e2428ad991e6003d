/*
 * it_page.c - the status page in a real browser: headless Chromium, driven
 * over WebDriver (webdriver.h), loads the page from a running lbd's admin
 * port, and the test reads the DOM the page keeps (doc/STATUS.md, "The page")
 * and the registry with the sqlite3 command, as an operator would.
 *
 * Set-up of every test but the first: three lbd-testsrv -h backends in pool
 * "p" under an http service, active HTTP health checks every 300 ms (fall 2,
 * rise 2), two workers, the admin port with a token and admin.html pointing
 * at this tree's html/.  Each test has its own browser with an empty profile.
 *
 *   webdriver_works        the client itself, on a data: URL (no lbd)
 *   page_shows_backends    every backend of the registry is a row; one killed
 *                          is shown down within seconds while the others stay
 *                          up, and up again once restarted; the screenshot
 *                          objs/t/artefacts/it_page.png (and -down.png)
 *   strategy_from_page     the pool's <select> changed: the token dialog, a
 *                          wrong token refused with the API's message, the
 *                          right one reaching the registry
 *   conflict_message       a backend added twice from the page's form: the
 *                          API's 409 text in #message
 *
 * Chromium and chromedriver missing is a failure that says to run
 * ./configure --install-deps, never a skip.
 *
 * Environment (besides the harness's and webdriver.h's): LBD_HTML, the
 * page's directory (default: html/ of the tree the test runs in).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "webdriver.h"

#define TOKEN       "page-token-0123456789abcdef"
#define NB          3
#define WORKERS     2
#define DOWN_MS     8000        /* a killed backend shown down (fall 2 x 300 ms, polls 1 s) */
#define UP_MS       8000        /* and up again */
#define PAGE_MS     10000       /* the page's first poll shown */
#define UI_MS       5000        /* a click's outcome on the page */
#define REG_MS      8000        /* a change from the page in the registry */
#define ARTEFACTS   "objs/t/artefacts"
#define HEALTH      "health_check = { type = \"http\"; interval = \"300ms\"; " \
                    "timeout = \"200ms\"; rise = 2; fall = 2; path = \"/health\"; " \
                    "status = \"200-399\"; };"

static const char  *names[NB] = { "A", "B", "C" };
static int          bport[NB];
static pid_t        bpid[NB];
static char         addr[NB][32];       /* "127.0.0.1:PORT", as the registry has them */
static int          port, admin;
static struct h_lbd lbd;
static struct wd    wd;

/* ------------------------------------------------------------------ */
/* Set-up. */

/* Fail (never skip) when the browser is not installed. */
static void
require_browser(void)
{
    char why[512];

    if (!wd_available(why, sizeof(why)))
        fail_msg("%s", why);
}

/*
 * The page's files: $LBD_HTML, or this tree's html/ (the tests run from the
 * top of the tree, as make check does).
 */
static void
html_dir(char *out, size_t cap)
{
    const char *env = getenv("LBD_HTML");
    char        index[PATH_MAX + 16];

    if (realpath(env != NULL && *env != '\0' ? env : "html", out) == NULL || strlen(out) >= cap)
        fail_msg("no html directory (%s): %s; run from the top of the tree",
                 env != NULL ? env : "html", strerror(errno));
    snprintf(index, sizeof(index), "%s/index.html", out);
    if (!h_file_exists(index))
        fail_msg("%s is missing: the status page is not in this tree", index);
}

/* Backends, lbd, a browser on the page.  Fails the test on any error. */
static void
start_all(void)
{
    char           extra[PATH_MAX + 256], html[PATH_MAX], url[64];
    struct h_conf  c;
    const char    *conf;

    require_browser();
    html_dir(html, sizeof(html));
    for (int i = 0; i < NB; i++) {
        bport[i] = h_free_port();
        assert_int_not_equal(bport[i], -1);
        bpid[i] = h_testsrv(bport[i], names[i], "-h");
        assert_int_not_equal(bpid[i], -1);
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", bport[i]);
    }
    port = h_free_port();
    admin = h_free_port();
    assert_true(port != -1 && admin != -1);
    snprintf(extra, sizeof(extra),
             "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; html = \"%s\"; };",
             admin, TOKEN, html);
    memset(&c, 0, sizeof(c));
    c.workers = WORKERS;
    c.port = port;
    c.backends = bport;
    c.nbackends = NB;
    c.extra = extra;
    c.mode = "http";
    c.pool_extra = HEALTH;
    assert_non_null(conf = h_conf_write("lbd.conf", &c));
    assert_int_equal(h_lbd_start(&lbd, conf, port, WORKERS), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);

    assert_int_equal(wd_start(&wd, 1280, 1000), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", admin);
    assert_int_equal(wd_get(&wd, url), 0);
}

static int
teardown(void **state)
{
    wd_quit(&wd);
    return h_teardown(state);
}

/* ------------------------------------------------------------------ */
/* The registry, through the sqlite3 command. */

/*
 * Run sql on the registry with "sqlite3 -readonly" (a busy timeout, as an
 * operator's reads take turns with lbd's writes); its output, trailing
 * newline dropped, into out.  Fails the test when sqlite3 does.
 */
static void
reg_query(const char *sql, char *out, size_t cap)
{
    const char *argv[] = { "sqlite3", "-readonly", "-batch", "-cmd", ".timeout 2000",
                           h_path("lbd.db"), sql, NULL };
    const char *log = h_path("sqlite3-ro.out");
    char       *text;
    int         rc;
    size_t      n;

    unlink(log);
    rc = h_run(argv, log, 10000);
    text = h_read_file(log, NULL);
    snprintf(out, cap, "%s", text != NULL ? text : "");
    free(text);
    if (rc != 0)
        fail_msg("sqlite3 -readonly \"%s\" exited %d: %s", sql, rc, out);
    n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
}

/* Pool p's strategy in the registry, into out. */
static void
reg_strategy(char *out, size_t cap)
{
    reg_query("select strategy from pools where name='p'", out, cap);
}

/* ------------------------------------------------------------------ */
/* The page. */

/* The rows the page shows, as [[pool, address, status, id], ...]. */
static const char JS_ROWS[] =
    "return Array.from(document.querySelectorAll('tr[data-pool][data-backend]'))"
    ".map(r => [r.dataset.pool, r.dataset.backend, r.dataset.status || '', r.dataset.id || '']);";

/* The status of the row arguments[0] (pool), arguments[1] (address); '' when none. */
static const char JS_STATUS[] =
    "const r = document.querySelector('tr[data-pool=\"' + CSS.escape(arguments[0]) + "
    "'\"][data-backend=\"' + CSS.escape(arguments[1]) + '\"]');"
    "return r ? (r.dataset.status || '?') : '';";

/* Whether the element arguments[0] (a selector) is shown. */
static const char JS_SHOWN[] =
    "const e = document.querySelector(arguments[0]);"
    "if (!e) return false;"
    "if (e.tagName === 'DIALOG') return e.open;"
    "return !e.hidden && getComputedStyle(e).display !== 'none'"
    " && getComputedStyle(e).visibility !== 'hidden' && e.getClientRects().length > 0;";

/* The text of the element arguments[0]; '' when none. */
static const char JS_TEXT[] =
    "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';";

/* Print what the page shows now: its rows, #message, and its console. */
static void
describe_page(void)
{
    json_t *rows = wd_exec(&wd, JS_ROWS, NULL);
    char   *text = rows != NULL ? json_dumps(rows, JSON_COMPACT) : NULL;
    char    msg[1024] = "";

    fprintf(stderr, "page rows: %s\n", text != NULL ? text : "(none)");
    if (wd_exec_str(&wd, JS_TEXT, json_pack("[s]", "#message"), msg, sizeof(msg)) == 0)
        fprintf(stderr, "page #message: \"%s\"\n", msg);
    wd_dump_console(&wd);
    free(text);
    json_decref(rows);
}

/* The status the page shows for backend i of pool p ("" when no row). */
static void
row_status(int i, char *out, size_t cap)
{
    if (wd_exec_str(&wd, JS_STATUS, json_pack("[ss]", "p", addr[i]), out, cap) == -1)
        out[0] = '\0';
}

static int
shown(const char *css)
{
    long long v = 0;

    return wd_exec_int(&wd, JS_SHOWN, json_pack("[s]", css), &v) == 0 && v == 1;
}

static void
text_of(const char *css, char *out, size_t cap)
{
    if (wd_exec_str(&wd, JS_TEXT, json_pack("[s]", css), out, cap) == -1)
        out[0] = '\0';
}

/* Wait until the page has a row for each backend.  Fails the test on timeout. */
static void
wait_rows(void)
{
    int64_t deadline = h_now_ms() + PAGE_MS;

    for (;;) {
        int  have = 0;
        char st[32];

        for (int i = 0; i < NB; i++) {
            row_status(i, st, sizeof(st));
            have += st[0] != '\0';
        }
        if (have == NB)
            return;
        if (h_now_ms() >= deadline) {
            describe_page();
            fail_msg("the page shows %d of the %d backends after %d ms", have, NB, PAGE_MS);
        }
        h_msleep(100);
    }
}

/*
 * Wait until backend i shows want, the others staying "up" meanwhile.
 * Returns the milliseconds it took; fails the test on timeout or when
 * another backend leaves "up".
 */
static int64_t
wait_status(int i, const char *want, int timeout_ms)
{
    int64_t start = h_now_ms(), deadline = start + timeout_ms;
    char    st[32];

    for (;;) {
        row_status(i, st, sizeof(st));
        for (int j = 0; j < NB; j++) {
            char other[32];

            if (j == i)
                continue;
            row_status(j, other, sizeof(other));
            if (strcmp(other, "up") != 0) {
                describe_page();
                fail_msg("backend %s shows \"%s\" while %s is the one waited for", addr[j],
                         other, addr[i]);
            }
        }
        if (strcmp(st, want) == 0)
            return h_now_ms() - start;
        if (h_now_ms() >= deadline) {
            describe_page();
            fail_msg("backend %s shows \"%s\", not \"%s\", after %d ms", addr[i], st, want,
                     timeout_ms);
        }
        h_msleep(100);
    }
}

/* Wait until css is shown (1) or not (0).  Fails the test on timeout. */
static void
wait_shown(const char *css, int want, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;

    while (shown(css) != want) {
        if (h_now_ms() >= deadline) {
            describe_page();
            fail_msg("%s is %s after %d ms", css, want ? "still not shown" : "still shown",
                     timeout_ms);
        }
        h_msleep(50);
    }
}

/* Wait until #message contains needle.  Fails the test on timeout. */
static void
wait_message(const char *needle, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    char    msg[1024];

    for (;;) {
        text_of("#message", msg, sizeof(msg));
        if (strstr(msg, needle) != NULL)
            return;
        if (h_now_ms() >= deadline) {
            describe_page();
            fail_msg("#message is \"%s\", not one with \"%s\", after %d ms", msg, needle,
                     timeout_ms);
        }
        h_msleep(50);
    }
}

/* Type token into the shown token dialog and submit it, as a person would. */
static void
enter_token(const char *token)
{
    char input[256], save[256];

    assert_int_equal(wd_find(&wd, "#token-input", input, sizeof(input)), 0);
    assert_int_equal(wd_clear(&wd, input), 0);
    assert_int_equal(wd_send_keys(&wd, input, token), 0);
    assert_int_equal(wd_find(&wd, "#token-save", save, sizeof(save)), 0);
    assert_int_equal(wd_click(&wd, save), 0);
}

/* Check the file at path is a PNG and print where it is. */
static void
check_png(const char *path)
{
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    size_t len = 0;
    char  *png = h_read_file(path, &len);

    assert_non_null(png);
    assert_true(len > 1000);
    assert_memory_equal(png, sig, sizeof(sig));
    free(png);
    fprintf(stderr, "screenshot: %s (%zu bytes)\n", path, len);
}

/* Save the viewport to objs/t/artefacts/name, a test artefact. */
static void
artefact(const char *name)
{
    char path[256];

    if (mkdir("objs/t", 0755) == -1 && errno != EEXIST)
        fail_msg("mkdir objs/t: %s", strerror(errno));
    if (mkdir(ARTEFACTS, 0755) == -1 && errno != EEXIST)
        fail_msg("mkdir %s: %s", ARTEFACTS, strerror(errno));
    snprintf(path, sizeof(path), "%s/%s", ARTEFACTS, name);
    assert_int_equal(wd_screenshot(&wd, path), 0);
    check_png(path);
}

/* ------------------------------------------------------------------ */
/* Tests. */

/*
 * The WebDriver client against a page of its own (a data: URL): navigate,
 * script, find, type, click, screenshot, and a script's error reported as
 * one.  When this fails the browser is at fault, not the status page.
 */
static void
webdriver_works(void **state)
{
    char      id[256], title[64];
    long long n = 0;

    require_browser();
    assert_int_equal(wd_start(&wd, 800, 600), 0);
    assert_int_equal(wd_get(&wd, "data:text/html,<title>start</title>"
                             "<input id=i><button id=b onclick=\"document.title="
                             "document.getElementById('i').value\">go</button>"), 0);
    assert_int_equal(wd_exec_int(&wd, "return arguments[0] + arguments[1];",
                                 json_pack("[ii]", 40, 2), &n), 0);
    assert_int_equal(n, 42);
    assert_int_equal(wd_find(&wd, "#i", id, sizeof(id)), 0);
    assert_int_equal(wd_send_keys(&wd, id, "typed"), 0);
    assert_int_equal(wd_find(&wd, "#b", id, sizeof(id)), 0);
    assert_int_equal(wd_click(&wd, id), 0);
    assert_int_equal(wd_exec_str(&wd, "return document.title;", NULL, title, sizeof(title)), 0);
    assert_string_equal(title, "typed");
    assert_int_equal(wd_find(&wd, "#nothing", id, sizeof(id)), -1);
    assert_null(wd_exec(&wd, "throw new Error('expected by the test');", NULL));
    assert_int_equal(wd_screenshot(&wd, h_path("self.png")), 0);
    check_png(h_path("self.png"));
    wd_quit(&wd);
}

/*
 * Every backend of the registry is a row with its id; a backend killed is
 * shown down within DOWN_MS while the others stay up, and up again within
 * UP_MS of its restart.
 */
static void
page_shows_backends(void **state)
{
    char    reg[1024], want[1024], line[64];
    json_t *rows, *row;
    size_t  i;
    int64_t ms;

    start_all();
    wait_rows();

    /* The page's rows of pool p are exactly the registry's backends. */
    reg_query("select host||':'||port from backends where pool='p' order by id", reg,
              sizeof(reg));
    want[0] = '\0';
    for (int b = 0; b < NB; b++)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", b ? "\n" : "",
                 addr[b]);
    assert_string_equal(reg, want);
    assert_non_null(rows = wd_exec(&wd, JS_ROWS, NULL));
    assert_int_equal(json_array_size(rows), NB);
    json_array_foreach(rows, i, row) {
        const char *pool = json_string_value(json_array_get(row, 0));
        const char *a = json_string_value(json_array_get(row, 1));
        const char *id = json_string_value(json_array_get(row, 3));
        char        sql[256];

        assert_non_null(pool);
        assert_non_null(a);
        assert_non_null(id);
        assert_string_equal(pool, "p");
        snprintf(line, sizeof(line), "%s", a);
        assert_non_null(strstr(reg, line));
        snprintf(sql, sizeof(sql), "select id from backends where pool='p' and "
                 "host||':'||port='%s'", a);
        reg_query(sql, line, sizeof(line));
        assert_string_equal(id, line);
    }
    json_decref(rows);
    for (int b = 0; b < NB; b++)
        wait_status(b, "up", UP_MS);

    /* B dies: down within seconds, A and C stay up. */
    assert_int_equal(kill(bpid[1], SIGKILL), 0);
    assert_int_equal(h_wait_exit(bpid[1], 5000, NULL), 0);
    ms = wait_status(1, "down", DOWN_MS);
    fprintf(stderr, "killed backend %s shown down after %lld ms\n", addr[1], (long long) ms);
    artefact("it_page-down.png");

    /* B comes back. */
    bpid[1] = h_testsrv(bport[1], names[1], "-h");
    assert_int_not_equal(bpid[1], -1);
    ms = wait_status(1, "up", UP_MS);
    fprintf(stderr, "restarted backend %s shown up after %lld ms\n", addr[1], (long long) ms);
    artefact("it_page.png");
}

/*
 * The pool's strategy changed from its <select>: the page asks for the
 * token; a wrong one is refused with the API's message and the dialog comes
 * back; the right one reaches the registry.
 */
static void
strategy_from_page(void **state)
{
    static const char JS_SET[] =
        "const s = document.querySelector('select.strategy[data-pool=\"p\"]');"
        "if (!s) return 'no select';"
        "if (!Array.from(s.options).some(o => o.value === arguments[0]))"
        "  return 'no option ' + arguments[0];"
        "s.value = arguments[0];"
        "s.dispatchEvent(new Event('change', { bubbles: true }));"
        "return 'ok';";
    char            before[64], after[64], out[128], sel[64];
    int64_t         deadline;

    start_all();
    wait_rows();
    reg_strategy(before, sizeof(before));
    assert_string_equal(before, "round_robin");
    assert_int_equal(wd_exec_str(&wd, "const s = document.querySelector("
                                 "'select.strategy[data-pool=\"p\"]'); return s ? s.value : '';",
                                 NULL, sel, sizeof(sel)), 0);
    assert_string_equal(sel, "round_robin");

    assert_int_equal(wd_exec_str(&wd, JS_SET, json_pack("[s]", "least_conn"), out,
                                 sizeof(out)), 0);
    assert_string_equal(out, "ok");
    wait_shown("#token-dialog", 1, UI_MS);

    /* A wrong token: the API's 401 message, the dialog again, no change. */
    enter_token("not-the-token");
    wait_message("wrong token", UI_MS);
    wait_shown("#token-dialog", 1, UI_MS);
    reg_strategy(after, sizeof(after));
    assert_string_equal(after, "round_robin");

    /* The right one: the registry has the new strategy, the dialog closes. */
    enter_token(TOKEN);
    deadline = h_now_ms() + REG_MS;
    for (;;) {
        reg_strategy(after, sizeof(after));
        if (strcmp(after, "least_conn") == 0)
            break;
        if (h_now_ms() >= deadline) {
            describe_page();
            fail_msg("the registry's strategy is \"%s\", not least_conn, %d ms after the "
                     "token was saved", after, REG_MS);
        }
        h_msleep(100);
    }
    wait_shown("#token-dialog", 0, UI_MS);
}

/*
 * A backend the pool already has, added from the page's form: the API
 * answers 409 and #message shows its text; the registry keeps 3 backends.
 */
static void
conflict_message(void **state)
{
    static const char JS_SUBMIT[] =
        "const f = document.querySelector('form.add-backend[data-pool=\"p\"]');"
        "if (!f) return 'no form';"
        "const b = f.querySelector('[type=submit]');"
        "if (b) b.click(); else f.requestSubmit();"
        "return 'ok';";
    char    id[256], out[128], want[128], count[32];
    int64_t deadline;

    start_all();
    wait_rows();
    assert_int_equal(wd_find(&wd, "form.add-backend[data-pool=\"p\"] input[name=\"address\"]",
                             id, sizeof(id)), 0);
    assert_int_equal(wd_clear(&wd, id), 0);
    assert_int_equal(wd_send_keys(&wd, id, addr[0]), 0);
    if (wd_find(&wd, "form.add-backend[data-pool=\"p\"] input[name=\"weight\"]",
                id, sizeof(id)) == 0) {
        assert_int_equal(wd_clear(&wd, id), 0);
        assert_int_equal(wd_send_keys(&wd, id, "1"), 0);
    }
    assert_int_equal(wd_exec_str(&wd, JS_SUBMIT, NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "ok");

    /* The page has no token yet: it asks first. */
    deadline = h_now_ms() + UI_MS;
    while (!shown("#token-dialog")) {
        char msg[1024];

        text_of("#message", msg, sizeof(msg));
        if (msg[0] != '\0')
            break;
        if (h_now_ms() >= deadline) {
            describe_page();
            fail_msg("neither the token dialog nor a message %d ms after the submit", UI_MS);
        }
        h_msleep(50);
    }
    if (shown("#token-dialog"))
        enter_token(TOKEN);

    snprintf(want, sizeof(want), "pool \"p\" already has backend %s", addr[0]);
    wait_message(want, UI_MS);
    reg_query("select count(*) from backends where pool='p'", count, sizeof(count));
    assert_string_equal(count, "3");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(webdriver_works, h_setup, teardown),
        cmocka_unit_test_setup_teardown(page_shows_backends, h_setup, teardown),
        cmocka_unit_test_setup_teardown(strategy_from_page, h_setup, teardown),
        cmocka_unit_test_setup_teardown(conflict_message, h_setup, teardown),
    };

    h_init(150);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
