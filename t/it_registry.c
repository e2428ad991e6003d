/*
 * it_registry.c - the registry as users meet it: a real SQLite file the
 * sqlite3 CLI can read and edit, runtime changes over the admin API that
 * survive a SIGKILL of every process, and reloads that follow the file
 * without restarting workers.
 *
 * Backends run in banner mode (-b): they greet each connection with their
 * name, then echo, so a client sees which backend lbd picked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS 2
#define TOKEN   "test-token-0123456789abcdef"

static struct h_lbd lbd;
static int          port, admin;
static const char  *db;

/* Backends "A".."D" on fresh ports. */
static int          bport[4];
static const char  *bname[4] = { "A", "B", "C", "D" };

static void
start_backends(int n)
{
    for (int i = 0; i < n; i++) {
        bport[i] = h_free_port();
        assert_int_not_equal(bport[i], -1);
        assert_int_not_equal(h_testsrv(bport[i], bname[i], "-b"), -1);
    }
}

/* Write lbd.conf: pool "p" over the first nconf backends, an admin port. */
static const char *
write_conf(int nconf, const char *extra)
{
    struct h_conf c = { .workers = WORKERS, .port = port, .backends = bport,
                        .nbackends = nconf };
    char          more[1024];

    snprintf(more, sizeof(more), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };\n%s",
             admin, TOKEN, extra ? extra : "");
    c.extra = more;
    return h_conf_write("lbd.conf", &c);
}

static void
start_lbd(int nconf)
{
    const char *conf;

    port = h_free_port();
    admin = h_free_port();
    conf = write_conf(nconf, NULL);
    assert_non_null(conf);
    db = h_path("lbd.db");
    assert_int_equal(h_lbd_start(&lbd, conf, port, WORKERS), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
}

struct seen_arg {
    const char *name;
    int         want;       /* 1: wait until it is picked; 0: until it is not, 20 times */
};

static int
seen(void *arg)
{
    struct seen_arg *a = arg;
    char             got[64];

    if (a->want) {
        for (int i = 0; i < 8; i++) {
            h_banner(port, got, sizeof(got));
            if (strcmp(got, a->name) == 0)
                return 1;
        }
        return 0;
    }
    for (int i = 0; i < 20; i++) {
        h_banner(port, got, sizeof(got));
        if (strcmp(got, a->name) == 0 || got[0] == '\0')
            return 0;
    }
    return 1;
}

static int
wait_picked(const char *name, int timeout_ms)
{
    struct seen_arg a = { name, 1 };

    return h_wait(seen, &a, timeout_ms);
}

static int
wait_not_picked(const char *name, int timeout_ms)
{
    struct seen_arg a = { name, 0 };

    return h_wait(seen, &a, timeout_ms);
}

static int
api(const char *method, const char *path, const char *body, char *resp, size_t cap)
{
    return h_http(admin, method, path, TOKEN, body, resp, cap, 10000);
}

/* SIGKILL the master and every child, as a power cut would. */
static void
kill_everything(void)
{
    pid_t pids[64];
    int   n = h_lbd_workers(&lbd, pids, 60);
    pid_t ctl = h_lbd_control(&lbd);

    if (ctl > 0)
        pids[n++] = ctl;
    pids[n++] = lbd.pid;
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    assert_int_equal(h_wait_gone(pids, n, 5000), 0);
    h_wait_exit(lbd.pid, 1000, NULL);
}

/* ------------------------------------------------------------------ */

/* The file is there, in WAL mode, and tells its story to sqlite3. */
static void
test_registry_readable_with_sqlite3(void **state)
{
    char out[4096], want[256];

    start_backends(2);
    start_lbd(2);

    assert_int_equal(h_sqlite(db, "PRAGMA journal_mode;", out, sizeof(out)), 0);
    assert_string_equal(out, "wal\n");
    assert_int_equal(h_sqlite(db, "SELECT name, strategy, source FROM pools;", out,
                              sizeof(out)), 0);
    assert_string_equal(out, "p|round_robin|config\n");
    assert_int_equal(h_sqlite(db, "SELECT host, port, weight, state, source FROM backends "
                              "ORDER BY port;", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "127.0.0.1|%d|1|up|config\n127.0.0.1|%d|1|up|config\n",
             bport[0] < bport[1] ? bport[0] : bport[1], bport[0] < bport[1] ? bport[1] : bport[0]);
    assert_string_equal(out, want);
    assert_int_equal(h_sqlite(db, "SELECT count(*) FROM events WHERE actor = 'config' "
                              "AND what = 'backend added';", out, sizeof(out)), 0);
    assert_string_equal(out, "2\n");
    assert_int_equal(h_sqlite(db, "SELECT value FROM meta WHERE key = 'schema_version';",
                              out, sizeof(out)), 0);
    assert_string_equal(out, "2\n");
    assert_int_equal(wait_picked("A", 5000), 0);
    assert_int_equal(wait_picked("B", 5000), 0);
}

/* Added over the API, the backend survives SIGKILL of everything and serves again. */
static void
test_api_change_survives_sigkill(void **state)
{
    char body[256], resp[8192], out[1024];

    start_backends(2);
    start_lbd(1);
    assert_int_equal(wait_not_picked("B", 5000), 0);

    snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\", \"weight\": 2}", bport[1]);
    assert_int_equal(api("POST", "/api/pools/p/backends", body, resp, sizeof(resp)), 201);
    assert_non_null(strstr(resp, "\"weight\":2"));
    assert_int_equal(wait_picked("B", 5000), 0);

    kill_everything();
    assert_int_equal(h_lbd_start(&lbd, lbd.conf, port, WORKERS), 0);
    assert_int_equal(wait_picked("B", 5000), 0);
    assert_int_equal(wait_picked("A", 5000), 0);
    assert_int_equal(h_sqlite(db, "SELECT weight, source FROM backends WHERE port = "
                              "(SELECT max(port) FROM backends WHERE source = 'api');",
                              out, sizeof(out)), 0);
    assert_string_equal(out, "2|api\n");
    assert_int_equal(h_sqlite(db, "PRAGMA integrity_check;", out, sizeof(out)), 0);
    assert_string_equal(out, "ok\n");
}

/* An edit made with sqlite3 while lbd runs reaches the workers, with no signal. */
static void
test_sqlite_edit_picked_up(void **state)
{
    char sql[512], out[4096];

    start_backends(3);
    start_lbd(2);
    assert_int_equal(wait_picked("B", 5000), 0);

    snprintf(sql, sizeof(sql), "UPDATE backends SET state = 'drain' WHERE port = %d;", bport[1]);
    assert_int_equal(h_sqlite(db, sql, out, sizeof(out)), 0);
    assert_int_equal(wait_not_picked("B", 5000), 0);

    snprintf(sql, sizeof(sql), "INSERT INTO backends (pool, host, port) VALUES "
             "('p', '127.0.0.1', %d);", bport[2]);
    assert_int_equal(h_sqlite(db, sql, out, sizeof(out)), 0);
    assert_int_equal(wait_picked("C", 5000), 0);

    assert_int_equal(h_sqlite(db, "SELECT what, new FROM events WHERE actor = 'sqlite edit' "
                              "ORDER BY id;", out, sizeof(out)), 0);
    fprintf(stderr, "sqlite edit events:\n%s", out);
    assert_non_null(strstr(out, "state|drain"));
    assert_non_null(strstr(out, "backend added|"));
    assert_int_equal(h_log_wait(lbd.error_log, 3000, "changed outside lbd", NULL), 0);
}

/* The schema refuses bad rows from sqlite3, and the registry stays as it was. */
static void
test_bad_sqlite_edit_refused(void **state)
{
    static const struct { const char *sql, *says; } bad[] = {
        { "INSERT INTO backends (pool, host, port) VALUES ('nope', '127.0.0.1', 9);",
          "unknown pool" },
        { "INSERT INTO backends (pool, host, port) VALUES ('p', '127.0.0.1', 70000);",
          "CHECK constraint failed" },
        { "INSERT INTO backends (pool, host, port, weight) VALUES ('p', '127.0.0.1', 9, 0);",
          "CHECK constraint failed" },
        { "UPDATE backends SET state = 'sleepy';", "CHECK constraint failed" },
        { "UPDATE pools SET strategy = 'fastest';", "unknown strategy" },
        { "DELETE FROM pools;", "" },
    };
    static const char dump[] = "SELECT * FROM pools; SELECT * FROM backends; "
                               "SELECT * FROM events; SELECT * FROM meta;";
    char before[16384], after[16384], out[1024];

    start_backends(1);
    start_lbd(1);
    assert_int_equal(h_sqlite(db, dump, before, sizeof(before)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = h_sqlite(db, bad[i].sql, out, sizeof(out));

        fprintf(stderr, "%s -> %d %s", bad[i].sql, rc, out);
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(out, bad[i].says));
    }
    assert_int_equal(h_sqlite(db, dump, after, sizeof(after)), 0);
    assert_string_equal(before, after);
    assert_int_equal(wait_picked("A", 3000), 0);
}

/*
 * HUP with a changed pool: the registry follows the file and the workers
 * route with it, and no worker restarts.  A weight changed over the API
 * survives the reload as long as the file does not change that weight.
 */
static void
test_reload_pool_change_keeps_workers(void **state)
{
    pid_t before[16], after[16];
    int   nb, na;
    char  path[128], resp[4096], out[256], sql[256];

    start_backends(3);
    start_lbd(2);
    nb = h_lbd_workers(&lbd, before, 16);
    assert_int_equal(nb, WORKERS);

    snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", bport[0]);
    assert_int_equal(api("PATCH", path, "{\"weight\": 7}", resp, sizeof(resp)), 200);

    /* The file now lists A, B and C. */
    assert_non_null(write_conf(3, NULL));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_log_wait(lbd.error_log, 5000, "applied without restarting workers",
                                NULL), 0);
    assert_int_equal(wait_picked("C", 5000), 0);

    na = h_lbd_workers(&lbd, after, 16);
    assert_int_equal(na, nb);
    for (int i = 0; i < nb; i++) {
        int found = 0;

        for (int j = 0; j < na; j++)
            found |= before[i] == after[j];
        assert_true(found);
    }
    snprintf(sql, sizeof(sql), "SELECT weight FROM backends WHERE port = %d;", bport[0]);
    assert_int_equal(h_sqlite(db, sql, out, sizeof(out)), 0);
    assert_string_equal(out, "7\n");

    /* Back to A only: B and C, owned by the file, go. */
    assert_non_null(write_conf(1, NULL));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(wait_not_picked("C", 5000), 0);
    assert_int_equal(wait_not_picked("B", 5000), 0);
    assert_int_equal(h_sqlite(db, "SELECT count(*) FROM backends;", out, sizeof(out)), 0);
    assert_string_equal(out, "1\n");
}

/*
 * HUP with a changed pool setting that a worker reads from the conf it was
 * started with (retries, passive, slow_start, backup, keepalive,
 * sticky_cookie, hash_key): new workers, the old ones finish.  Unlike
 * backends and strategies, those do not reach workers through the registry.
 */
static void
test_reload_pool_setting_restarts_workers(void **state)
{
    pid_t         before[16], after[16];
    int           nb, na;
    char          more[256];
    struct h_conf c = { .workers = WORKERS, .backends = bport, .nbackends = 1,
                        .pool_extra = "retries = 1; keepalive = 4; hash_key = \"cookie:u\";" };

    start_backends(1);
    start_lbd(1);
    nb = h_lbd_workers(&lbd, before, 16);
    assert_int_equal(nb, WORKERS);
    c.port = port;
    snprintf(more, sizeof(more), "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };\n",
             admin, TOKEN);
    c.extra = more;
    assert_non_null(h_conf_write("lbd.conf", &c));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_log_wait(lbd.error_log, 5000, "old workers finishing", NULL), 0);
    assert_int_equal(h_wait_gone(before, nb, 10000), 0);
    na = h_lbd_workers(&lbd, after, 16);
    assert_int_equal(na, WORKERS);
    assert_int_equal(wait_picked("A", 5000), 0);
}

/* HUP with a new service port: new workers on the new socket, old ones finish. */
static void
test_reload_listener_change_restarts_workers(void **state)
{
    pid_t before[16], after[16];
    int   nb, na, old_port;

    start_backends(1);
    start_lbd(1);
    nb = h_lbd_workers(&lbd, before, 16);
    old_port = port;
    port = h_free_port();
    assert_non_null(write_conf(1, NULL));
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_wait_listening(port, 1, 5000), 0);
    assert_int_equal(h_wait_gone(before, nb, 10000), 0);
    na = h_lbd_workers(&lbd, after, 16);
    assert_int_equal(na, WORKERS);
    assert_int_equal(wait_picked("A", 5000), 0);
    assert_int_equal(h_wait_listening(old_port, 0, 5000), 0);
}

/* Drain: no new connection goes to the backend; the open ones carry on. */
static void
test_drain_lets_open_connections_finish(void **state)
{
    char    path[128], resp[4096], line[64];
    int     held[8], nheld = 0;

    start_backends(2);
    start_lbd(2);

    /* Connections to A, kept open. */
    for (int tries = 0; tries < 40 && nheld < 4; tries++) {
        int fd = h_connect(port, 3000);

        assert_int_not_equal(fd, -1);
        assert_true(h_recv_line(fd, line, sizeof(line), 3000) > 0);
        if (strcmp(line, "A\n") == 0)
            held[nheld++] = fd;
        else
            close(fd);
    }
    assert_int_equal(nheld, 4);

    snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", bport[0]);
    assert_int_equal(api("PATCH", path, "{\"state\": \"drain\"}", resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "\"state\":\"drain\""));
    assert_int_equal(wait_not_picked("A", 5000), 0);

    /* The held connections still echo through A. */
    for (int i = 0; i < nheld; i++) {
        assert_int_equal(h_send_all(held[i], "still here\n", 11, 3000), 0);
        assert_true(h_recv_line(held[i], line, sizeof(line), 3000) > 0);
        assert_string_equal(line, "still here\n");
        close(held[i]);
    }
    /* And back. */
    assert_int_equal(api("PATCH", path, "{\"state\": \"up\"}", resp, sizeof(resp)), 200);
    assert_int_equal(wait_picked("A", 5000), 0);
}

/*
 * Under a client loop (bounded in count and time), adding, draining,
 * removing backends, switching the strategy and reloading (with and
 * without new workers) fails no connection.
 */
static void
test_changes_under_load_fail_nothing(void **state)
{
    pid_t client;
    int   status;
    char  body[256], path[128], resp[4096];

    start_backends(4);
    start_lbd(1);

    client = fork();
    assert_int_not_equal(client, -1);
    if (client == 0) {
        int64_t end = h_now_ms() + 8000;
        int     n = 0, failed = 0;
        char    name[64];

        /* Bounded: 8 s or 3000 connections, whichever comes first. */
        while (n < 3000 && h_now_ms() < end) {
            h_banner(port, name, sizeof(name));
            n++;
            if (name[0] == '\0') {
                failed++;
                fprintf(stderr, "connection %d got no backend\n", n);
            }
        }
        fprintf(stderr, "client: %d connections, %d failed\n", n, failed);
        _exit(failed == 0 && n > 50 ? 0 : 1);
    }

    for (int round = 0; round < 3; round++) {
        /* The API works on C and D; the file on A and B: never the same rows. */
        snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\"}", bport[2]);
        assert_int_equal(api("POST", "/api/pools/p/backends", body, resp, sizeof(resp)), 201);
        snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\", \"weight\": 3}", bport[3]);
        assert_int_equal(api("POST", "/api/pools/p/backends", body, resp, sizeof(resp)), 201);
        h_msleep(150);
        snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", bport[2]);
        assert_int_equal(api("PATCH", path, "{\"state\": \"drain\"}", resp, sizeof(resp)), 200);
        assert_int_equal(api("PUT", "/api/pools/p/strategy", "{\"strategy\": \"round_robin\"}",
                             resp, sizeof(resp)), 200);
        h_msleep(150);
        assert_int_equal(api("DELETE", path, NULL, resp, sizeof(resp)), 200);
        snprintf(path, sizeof(path), "/api/pools/p/backends/127.0.0.1:%d", bport[3]);
        assert_int_equal(api("DELETE", path, NULL, resp, sizeof(resp)), 200);
        /* Reloads too: a pool change (no restart), then new workers. */
        assert_non_null(write_conf(round % 2 ? 1 : 2, NULL));
        kill(lbd.pid, SIGHUP);
        h_msleep(150);
        assert_non_null(write_conf(1, round % 2 ? "worker_connections = 4000;"
                                                : "worker_connections = 5000;"));
        kill(lbd.pid, SIGHUP);
        h_msleep(150);
    }
    assert_int_equal(h_wait_exit(client, 20000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * SIGKILL of every process in the middle of a stream of API writes: the
 * file passes integrity_check and holds every change that was acknowledged.
 */
static void
test_sigkill_during_writes_loses_nothing_acknowledged(void **state)
{
    int   fds[2], acked[400], nacked = 0;
    pid_t writer;
    char  out[256], sql[256];

    start_backends(1);
    start_lbd(1);
    assert_int_equal(pipe(fds), 0);
    writer = fork();
    assert_int_not_equal(writer, -1);
    if (writer == 0) {
        char body[128], resp[2048];

        close(fds[0]);
        for (int i = 0; i < 400; i++) {
            snprintf(body, sizeof(body), "{\"address\": \"127.0.0.2:%d\"}", 20000 + i);
            if (h_http(admin, "POST", "/api/pools/p/backends", TOKEN, body, resp, sizeof(resp),
                       5000) != 201)
                _exit(0);
            if (write(fds[1], &i, sizeof(i)) != sizeof(i))
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    while (nacked < 40 && read(fds[0], &acked[nacked], sizeof(int)) == sizeof(int))
        nacked++;
    kill_everything();
    /* What the writer heard back before lbd died counts too. */
    while (nacked < 400 && read(fds[0], &acked[nacked], sizeof(int)) == sizeof(int))
        nacked++;
    close(fds[0]);
    h_wait_exit(writer, 10000, NULL);
    fprintf(stderr, "%d writes acknowledged before the kill\n", nacked);
    assert_true(nacked >= 40);

    assert_int_equal(h_sqlite(db, "PRAGMA integrity_check;", out, sizeof(out)), 0);
    assert_string_equal(out, "ok\n");
    for (int i = 0; i < nacked; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM backends WHERE host = '127.0.0.2' "
                 "AND port = %d;", 20000 + acked[i]);
        assert_int_equal(h_sqlite(db, sql, out, sizeof(out)), 0);
        assert_string_equal(out, "1\n");
    }
    /* And lbd starts again on that file. */
    assert_int_equal(h_lbd_start(&lbd, lbd.conf, port, WORKERS), 0);
}

/* Writers in parallel: every change lands, none overwrites another. */
static void
test_concurrent_writers_lose_no_update(void **state)
{
    enum { WRITERS = 4, EACH = 15 };
    pid_t pids[WRITERS];
    char  out[256];

    start_backends(1);
    start_lbd(1);
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_int_not_equal(pids[w], -1);
        if (pids[w] == 0) {
            char body[128], resp[2048];
            int  bad = 0;

            for (int i = 0; i < EACH; i++) {
                snprintf(body, sizeof(body), "{\"address\": \"127.0.0.3:%d\", \"weight\": %d}",
                         21000 + w * 100 + i, w + 1);
                bad += h_http(admin, "POST", "/api/pools/p/backends", TOKEN, body, resp,
                              sizeof(resp), 10000) != 201;
            }
            _exit(bad);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;

        assert_int_equal(h_wait_exit(pids[w], 30000, &status), 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(h_sqlite(db, "SELECT count(*), sum(weight) FROM backends "
                              "WHERE host = '127.0.0.3';", out, sizeof(out)), 0);
    assert_string_equal(out, "60|150\n");
    assert_int_equal(h_sqlite(db, "SELECT count(*) FROM events WHERE actor = 'api' "
                              "AND what = 'backend added';", out, sizeof(out)), 0);
    assert_string_equal(out, "60\n");
}

/*
 * Started as root with user = "nobody": the registry's directory, the file,
 * its WAL and the control socket belong to nobody, before and after a
 * reload, and the children can write (an API change commits).
 */
static void
test_files_belong_to_the_user(void **state)
{
    static const char *const files[] = {
        "state", "state/lbd.db", "state/lbd.db-wal", "state/lbd.db-shm", "state/control.sock",
    };
    struct h_conf c = { .workers = 1, .nbackends = 1 };
    char          extra[256], body[128], resp[2048];
    struct stat   st;
    const char   *conf;

    if (geteuid() != 0)
        skip();
    /* The user must be able to reach its directory. */
    assert_int_equal(chmod(h_tmpdir(), 0755), 0);
    start_backends(1);
    port = h_free_port();
    admin = h_free_port();
    snprintf(extra, sizeof(extra), "user = \"nobody\";\n"
             "admin = { listen = \"127.0.0.1:%d\"; token = \"%s\"; };", admin, TOKEN);
    c.port = port;
    c.backends = bport;
    c.extra = extra;
    c.registry = h_path("state/lbd.db");
    conf = h_conf_write("lbd.conf", &c);
    assert_non_null(conf);
    assert_int_equal(h_lbd_start(&lbd, conf, port, 1), 0);
    assert_int_equal(h_wait_listening(admin, 1, 5000), 0);
    snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\"}", h_free_port());
    assert_int_equal(h_http(admin, "POST", "/api/pools/p/backends", TOKEN, body, resp,
                            sizeof(resp), 10000), 201);
    kill(lbd.pid, SIGHUP);
    assert_int_equal(h_log_wait(lbd.error_log, 5000, "applied without restarting", NULL), 0);

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        assert_int_equal(stat(h_path(files[i]), &st), 0);
        fprintf(stderr, "%s: uid %d\n", files[i], (int) st.st_uid);
        assert_int_equal(st.st_uid, 65534);
    }
}

/* The control process is respawned like a worker, and the API comes back. */
static void
test_control_process_respawned(void **state)
{
    char  body[128], resp[4096];
    pid_t ctl, again;

    start_backends(2);
    start_lbd(1);
    ctl = h_lbd_control(&lbd);
    assert_true(ctl > 0);
    kill(ctl, SIGKILL);
    assert_int_equal(h_wait_gone(&ctl, 1, 5000), 0);
    snprintf(body, sizeof(body), "{\"address\": \"127.0.0.1:%d\"}", bport[1]);
    /* Until the new one listens, workers answer 503: retry for a while. */
    for (int64_t end = h_now_ms() + 5000; h_now_ms() < end; h_msleep(50))
        if (api("POST", "/api/pools/p/backends", body, resp, sizeof(resp)) == 201)
            break;
    assert_non_null(strstr(resp, "\"source\":\"api\""));
    again = h_lbd_control(&lbd);
    assert_true(again > 0 && again != ctl);
    assert_int_equal(wait_picked("B", 5000), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_readable_with_sqlite3, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_api_change_survives_sigkill, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_edit_picked_up, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_bad_sqlite_edit_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reload_pool_change_keeps_workers, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reload_pool_setting_restarts_workers, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_reload_listener_change_restarts_workers, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_drain_lets_open_connections_finish, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_changes_under_load_fail_nothing, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_during_writes_loses_nothing_acknowledged,
                                        h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_lose_no_update, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_files_belong_to_the_user, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_control_process_respawned, h_setup, h_teardown),
    };

    h_init(300);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
