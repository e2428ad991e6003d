/*
 * webdriver.h - a small W3C WebDriver client for lbd's browser tests
 * (t/it_page.c): it starts chromedriver, drives a headless Chromium through
 * it, and reads what the page shows.  Linked into those tests only.
 *
 * chromedriver runs as a child of the test (h_spawn), so the harness's
 * teardown kills it and every Chromium process it started, whatever state
 * the test ended in; wd_quit() closes the browser politely first.
 *
 * Each command is one HTTP/1.1 exchange with chromedriver on 127.0.0.1 over
 * a fresh connection, bounded by a timeout.  An answer is {"value": ...};
 * an error is {"value": {"error": "...", "message": "..."}}.  Failures
 * return -1 (or NULL) and print the reason to stderr with a "wd:" prefix,
 * so a failing assert has context in the log.
 *
 * Environment: LBD_CHROMIUM (default /usr/bin/chromium), LBD_CHROMEDRIVER
 * (default chromedriver, found in PATH).
 */
#ifndef LBD_WEBDRIVER_H
#define LBD_WEBDRIVER_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* One chromedriver and (at most) one browser session in it. */
struct wd {
    int   port;             /* chromedriver's, on 127.0.0.1 */
    pid_t pid;              /* chromedriver's, -1 when not running */
    char  session[128];     /* the session id, "" when none */
    int   timeout_ms;       /* the bound of one command (wd_start sets 20000) */
    char  log[512];         /* chromedriver's (and Chromium's) output */
};

/*
 * Whether Chromium and chromedriver are installed (executable).  When not,
 * returns 0 and writes what is missing, with the fix, into why.  1 when
 * both are there.
 */
int wd_available(char *why, size_t len);

/*
 * Start chromedriver on a free port (its output and Chromium's to
 * "<tmpdir>/chromedriver.txt"),
 * wait until its /status says ready, and open a session: headless Chromium
 * with an empty profile in "<tmpdir>/chromium-profile", a window of
 * width x height.  Must run inside a test (after h_setup).  0 or -1.
 */
int wd_start(struct wd *w, int width, int height);

/* Delete the session and stop chromedriver (best effort; safe to repeat). */
void wd_quit(struct wd *w);

/*
 * Send one command: method (GET, POST, DELETE) on path, relative to the
 * session ("/url") when the path does not start with "/session" or
 * "/status", with body (a JSON object; a reference is stolen; NULL: none,
 * "{}" for a POST).  Returns the answer's "value" (a new reference; JSON
 * null is json_null(), not NULL), or NULL on any failure, the WebDriver
 * error's name and message printed.
 */
json_t *wd_cmd(struct wd *w, const char *method, const char *path, json_t *body);

/* Navigate to url and wait for the load (the page load timeout).  0 or -1. */
int wd_get(struct wd *w, const char *url);

/*
 * Run script (a function body: "return document.title;") in the page with
 * args (a JSON array, stolen; NULL for none), synchronously.  Returns what
 * it returned (a new reference, json_null() for undefined or null), or NULL
 * on an error (a script exception is one).
 */
json_t *wd_exec(struct wd *w, const char *script, json_t *args);

/*
 * Run script as wd_exec, expecting a string, copied into out
 * (NUL-terminated, truncated to cap).  0, or -1 (an error, or not a string).
 */
int wd_exec_str(struct wd *w, const char *script, json_t *args, char *out, size_t cap);

/*
 * Run script as wd_exec, expecting an integer or a boolean (true = 1).
 * Returns 0 and *out, or -1.
 */
int wd_exec_int(struct wd *w, const char *script, json_t *args, long long *out);

/*
 * The first element that matches the CSS selector css: its WebDriver
 * reference into id (cap bytes).  0, or -1 (none: "no such element").
 */
int wd_find(struct wd *w, const char *css, char *id, size_t cap);

/* Click the element id (scrolled into view; it must be interactable).  0 or -1. */
int wd_click(struct wd *w, const char *id);

/* Empty the editable element id.  0 or -1. */
int wd_clear(struct wd *w, const char *id);

/* Type text into the element id, as keystrokes.  0 or -1. */
int wd_send_keys(struct wd *w, const char *id, const char *text);

/*
 * Print what the page wrote to its console since the last call (errors
 * included: an exception in the page's script shows here), to stderr with
 * a "wd: console" prefix.  For a failing test's context.
 */
void wd_dump_console(struct wd *w);

/*
 * Take a screenshot of the viewport and write it to path as PNG (a temp
 * file renamed into place).  Checks the PNG signature.  0 or -1.
 */
int wd_screenshot(struct wd *w, const char *path);

/*
 * Decode the base64 text in (len bytes; whitespace skipped) into out, which
 * holds at least len / 4 * 3 bytes.  Returns the decoded length or -1
 * (not base64).
 */
long wd_base64_decode(const char *in, size_t len, unsigned char *out);

#endif /* LBD_WEBDRIVER_H */
