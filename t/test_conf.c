/*
 * test_conf.c - unit tests of the configuration parser (src/lbd_conf*.c).
 *
 * Each bad file is checked for the exact "FILE:LINE: " prefix of its message
 * and for the words that tell the operator what is wrong.  The files are
 * written into a fresh directory under /tmp, removed by the group teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbd_access_log.h"
#include "lbd_config.h"
#include "lbd_conf.h"

static char tmpdir[64];
static char conf_path[128];     /* tmpdir/t.conf, rewritten by each test */
static char inc_path[128];      /* tmpdir/inc.conf, for @include */

/* One line each, so that line numbers in the tests below stay easy to count. */
#define SERVICES \
    "services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\"; } );\n"
#define POOLS \
    "pools = ( { name = \"p\"; backends = ( { address = \"127.0.0.1:9001\"; } ); } );\n"

static int
group_setup(void **state)
{
    lbd_modules_register();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lbd-test-conf-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(conf_path, sizeof(conf_path), "%s/t.conf", tmpdir);
    snprintf(inc_path, sizeof(inc_path), "%s/inc.conf", tmpdir);
    return 0;
}

static int
group_teardown(void **state)
{
    unlink(conf_path);
    unlink(inc_path);
    return rmdir(tmpdir);
}

static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Write text as the config file and load it; the test frees the result. */
static struct lbd_conf *
load(const char *text, char *err, size_t errlen)
{
    write_file(conf_path, text);
    return lbd_conf_load(conf_path, err, errlen);
}

static struct lbd_conf *
load_ok(const char *text)
{
    char             err[512] = "";
    struct lbd_conf *conf = load(text, err, sizeof(err));

    if (conf == NULL)
        fail_msg("unexpected error: %s", err);
    return conf;
}

/*
 * The file must be refused with "FILE:LINE: ..." (line 0: "FILE: ...") and
 * the message must contain what.
 */
static void
check_error(const char *file, int line, const char *what, const char *err)
{
    char prefix[256];

    if (getenv("LBD_TEST_VERBOSE") != NULL)
        print_message("%s\n", err);
    if (line > 0)
        snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
    else
        snprintf(prefix, sizeof(prefix), "%s: ", file);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
    if (strstr(err, what) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err, what);
}

static void
expect_error(const char *text, int line, const char *what)
{
    char             err[512] = "";
    struct lbd_conf *conf = load(text, err, sizeof(err));

    if (conf != NULL) {
        lbd_conf_free(conf);
        fail_msg("accepted a file that should fail with \"%s\"", what);
    }
    check_error(conf_path, line, what, err);
}

/* As expect_error, but the message after "FILE:LINE: " must be exactly msg. */
static void
expect_message(const char *text, int line, const char *msg)
{
    char             err[512] = "", want[768];
    struct lbd_conf *conf = load(text, err, sizeof(err));

    if (conf != NULL) {
        lbd_conf_free(conf);
        fail_msg("accepted a file that should fail with \"%s\"", msg);
    }
    snprintf(want, sizeof(want), "%s:%d: %s", conf_path, line, msg);
    if (strcmp(err, want) != 0)
        fail_msg("error \"%s\" is not \"%s\"", err, want);
}

static int
port_of(const struct lbd_addr *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *) &a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *) &a->ss)->sin_port);
}


/* --- good files --- */

static void
example_conf(void **state)
{
    /* conf/lbd.conf, found next to this file: t/../conf/lbd.conf */
    const char      *slash = strrchr(__FILE__, '/');
    char             path[512], err[512] = "";
    struct lbd_conf *conf;

    if (slash == NULL)
        snprintf(path, sizeof(path), "../conf/lbd.conf");
    else
        snprintf(path, sizeof(path), "%.*s/../conf/lbd.conf",
                 (int) (slash - __FILE__), __FILE__);
    conf = lbd_conf_load(path, err, sizeof(err));
    if (conf == NULL)
        fail_msg("conf/lbd.conf: %s", err);
    assert_int_equal(conf->nservices, 1);
    assert_string_equal(conf->services[0].name, "demo");
    assert_int_equal(conf->npools, 1);
    assert_int_equal(conf->pools[0].nbackends, 3);
    assert_string_equal(conf->pools[0].backends[2].addr.text, "127.0.0.1:9003");
    assert_string_equal(conf->pid_file, LBD_PID_PATH);   /* the example leaves it to configure */
    assert_int_equal(conf->proxy_buffer_size, 16384);
    lbd_conf_free(conf);
}

static void
minimal_defaults(void **state)
{
    struct lbd_conf *conf = load_ok(SERVICES POOLS);
    long             ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    assert_string_equal(conf->file, conf_path);
    assert_int_equal(conf->worker_processes, ncpu < 1 ? 1 : ncpu > 1024 ? 1024 : ncpu);
    assert_int_equal(conf->worker_connections, 8192);
    assert_string_equal(conf->pid_file, LBD_PID_PATH);
    assert_null(conf->user);
    assert_null(conf->group);
    assert_int_equal(conf->uid, (uid_t) -1);
    assert_int_equal(conf->gid, (gid_t) -1);
    assert_string_equal(conf->error_log_path, LBD_ERROR_LOG);
    assert_int_equal(conf->error_log_level, LBD_LOG_NOTICE);
    assert_int_equal(conf->connect_timeout, 5000);
    assert_int_equal(conf->idle_timeout, 600000);
    assert_int_equal(conf->shutdown_timeout, 30000);
    assert_int_equal(conf->proxy_buffer_size, 16384);
    assert_int_equal(conf->proxy_bulk_buffer_size, 65536);
    assert_int_equal(conf->proxy_bulk_buffers, 256);

    assert_int_equal(conf->nservices, 1);
    assert_string_equal(conf->services[0].name, "web");
    assert_string_equal(conf->services[0].listen.text, "127.0.0.1:8080");
    assert_int_equal(conf->services[0].listen.ss.ss_family, AF_INET);
    assert_int_equal(conf->services[0].listen.len, sizeof(struct sockaddr_in));
    assert_int_equal(port_of(&conf->services[0].listen), 8080);
    assert_int_equal(conf->services[0].mode, LBD_MODE_TCP);
    assert_string_equal(conf->services[0].pool_name, "p");
    assert_int_equal(conf->services[0].pool, 0);
    assert_int_equal(conf->services[0].backlog, 511);
    assert_int_equal(conf->services[0].reuseport, 0);
    assert_int_equal(conf->services[0].connect_timeout, 5000);
    assert_int_equal(conf->services[0].idle_timeout, 600000);
    assert_int_equal(conf->services[0].line, 1);

    assert_int_equal(conf->npools, 1);
    assert_string_equal(conf->pools[0].name, "p");
    assert_string_equal(conf->pools[0].strategy, "round_robin");
    assert_int_equal(conf->pools[0].nbackends, 1);
    assert_int_equal(conf->pools[0].backends[0].weight, 1);
    assert_int_equal(port_of(&conf->pools[0].backends[0].addr), 9001);
    assert_int_equal(conf->pools[0].line, 2);
    lbd_conf_free(conf);
}

static void
every_key_set(void **state)
{
    struct lbd_conf *conf = load_ok(
        "worker_processes = 3;\n"
        "worker_connections = 512;\n"
        "pid_file = \"/tmp/4294967297.pid\";  /* 1e99 */ # 99999999999 in a comment is no number\n"
        "error_log = { path = \"stderr\"; level = \"debug\"; };\n"
        "timeouts = { connect = \"250ms\"; idle = \"2m\"; shutdown = \"1h\"; };\n"
        "proxy_buffer_size = \"1m\";\n"
        "services = (\n"
        "  { name = \"a\"; listen = \"127.0.0.1:8080\"; mode = \"tcp\"; pool = \"two\";\n"
        "    backlog = 128; connect_timeout = \"1s\"; idle_timeout = \"30s\"; reuseport = true; },\n"
        "  { name = \"b.c-d_e\"; listen = \"127.0.0.1:8081\"; pool = \"one\"; reuseport = false; }\n"
        ");\n"
        "pools = (\n"
        "  { name = \"one\"; strategy = \"round_robin\";\n"
        "    backends = ( { address = \"127.0.0.1:9001\"; weight = 1000; } ); },\n"
        "  { name = \"two\"; backends = ( { address = \"127.0.0.1:9002\"; weight = 5; },\n"
        "                               { address = \"[::1]:9002\"; } ); }\n"
        ");\n");

    assert_int_equal(conf->worker_processes, 3);
    assert_int_equal(conf->worker_connections, 512);
    assert_string_equal(conf->pid_file, "/tmp/4294967297.pid");
    assert_string_equal(conf->error_log_path, "stderr");
    assert_int_equal(conf->error_log_level, LBD_LOG_DEBUG);
    assert_int_equal(conf->connect_timeout, 250);
    assert_int_equal(conf->idle_timeout, 120000);
    assert_int_equal(conf->shutdown_timeout, 3600000);
    assert_int_equal(conf->proxy_buffer_size, 1024 * 1024);
    assert_int_equal(conf->services[0].pool, 1);
    assert_int_equal(conf->services[0].backlog, 128);
    assert_int_equal(conf->services[0].reuseport, 1);
    assert_int_equal(conf->services[1].reuseport, 0);
    assert_int_equal(conf->services[0].connect_timeout, 1000);
    assert_int_equal(conf->services[0].idle_timeout, 30000);
    assert_int_equal(conf->services[0].line, 8);
    assert_int_equal(conf->services[1].pool, 0);
    assert_int_equal(conf->services[1].connect_timeout, 250);
    assert_int_equal(conf->services[1].idle_timeout, 120000);
    assert_int_equal(conf->pools[0].backends[0].weight, 1000);
    assert_int_equal(conf->pools[1].nbackends, 2);
    assert_int_equal(conf->pools[1].backends[0].weight, 5);
    assert_int_equal(conf->pools[1].backends[1].addr.ss.ss_family, AF_INET6);
    assert_int_equal(conf->pools[1].backends[1].line, 16);
    lbd_conf_free(conf);
}

static void
worker_processes_auto(void **state)
{
    struct lbd_conf *conf = load_ok("worker_processes = \"auto\";\n" SERVICES POOLS);
    long             ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    assert_int_equal(conf->worker_processes, ncpu < 1 ? 1 : ncpu > 1024 ? 1024 : ncpu);
    lbd_conf_free(conf);
}

static void
user_resolves(void **state)
{
    struct passwd   *pw = getpwnam("nobody");
    struct lbd_conf *conf;

    if (pw == NULL)
        skip();
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;

    conf = load_ok("user = \"nobody\";\n" SERVICES POOLS);
    assert_string_equal(conf->user, "nobody");
    assert_int_equal(conf->uid, uid);
    assert_int_equal(conf->gid, gid);   /* no group: the user's primary one */
    lbd_conf_free(conf);
}

static void
group_overrides_user_gid(void **state)
{
    struct group    *gr = getgrgid(0);
    char             text[1024];
    struct lbd_conf *conf;

    if (gr == NULL || getpwnam("nobody") == NULL)
        skip();
    /* group before user: the order in the file does not matter */
    snprintf(text, sizeof(text), "group = \"%s\";\nuser = \"nobody\";\n" SERVICES POOLS,
             gr->gr_name);
    conf = load_ok(text);
    assert_string_equal(conf->group, gr->gr_name);
    assert_int_equal(conf->gid, 0);
    lbd_conf_free(conf);
}

static void
ipv6_listen(void **state)
{
    struct lbd_conf *conf = load_ok(
        "services = ( { name = \"v6\"; listen = \"[::1]:8080\"; pool = \"p\"; } );\n" POOLS);
    const struct sockaddr_in6 *sin6 = (const void *) &conf->services[0].listen.ss;
    struct in6_addr            loopback = IN6ADDR_LOOPBACK_INIT;

    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 8080);
    assert_memory_equal(&sin6->sin6_addr, &loopback, sizeof(loopback));
    assert_int_equal(conf->services[0].listen.len, sizeof(struct sockaddr_in6));
    assert_string_equal(conf->services[0].listen.text, "[::1]:8080");
    lbd_conf_free(conf);
}

static void
service_timeout_override(void **state)
{
    /* timeouts{} after the services: the defaults still reach them */
    struct lbd_conf *conf = load_ok(
        "services = (\n"
        "  { name = \"a\"; listen = \"127.0.0.1:8080\"; pool = \"p\"; connect_timeout = \"2s\"; },\n"
        "  { name = \"b\"; listen = \"127.0.0.1:8081\"; pool = \"p\"; idle_timeout = \"1m\"; }\n"
        ");\n"
        POOLS
        "timeouts = { connect = \"3s\"; idle = \"5m\"; };\n");

    assert_int_equal(conf->services[0].connect_timeout, 2000);
    assert_int_equal(conf->services[0].idle_timeout, 300000);
    assert_int_equal(conf->services[1].connect_timeout, 3000);
    assert_int_equal(conf->services[1].idle_timeout, 60000);
    lbd_conf_free(conf);
}

static void
buffer_size_in_bytes(void **state)
{
    struct lbd_conf *conf = load_ok("proxy_buffer_size = 4096;\n" SERVICES POOLS);

    assert_int_equal(conf->proxy_buffer_size, 4096);
    lbd_conf_free(conf);
}

/*
 * Bulk buffers: at least proxy_buffer_size, whichever comes first in the
 * file; the default follows a larger proxy_buffer_size (no growth then).
 */
static void
bulk_buffers(void **state)
{
    struct lbd_conf *conf;

    conf = load_ok("proxy_bulk_buffer_size = \"256k\";\nproxy_bulk_buffers = 0;\n"
                   SERVICES POOLS);
    assert_int_equal(conf->proxy_bulk_buffer_size, 256 * 1024);
    assert_int_equal(conf->proxy_bulk_buffers, 0);
    lbd_conf_free(conf);

    conf = load_ok("proxy_bulk_buffer_size = \"16k\";\n" SERVICES POOLS);
    assert_int_equal(conf->proxy_bulk_buffer_size, 16384);
    lbd_conf_free(conf);

    conf = load_ok("proxy_buffer_size = \"128k\";\n" SERVICES POOLS);
    assert_int_equal(conf->proxy_bulk_buffer_size, 128 * 1024);
    lbd_conf_free(conf);

    /* smaller than the buffer, before or after it: the line is the bulk size's */
    expect_message("proxy_buffer_size = \"32k\";\nproxy_bulk_buffer_size = \"16k\";\n"
                   SERVICES POOLS, 2,
                   "\"proxy_bulk_buffer_size\" (16k) must be at least proxy_buffer_size (32k); "
                   "equal to it, buffers never grow");
    expect_message("proxy_bulk_buffer_size = \"16k\";\nproxy_buffer_size = \"32k\";\n"
                   SERVICES POOLS, 1,
                   "\"proxy_bulk_buffer_size\" (16k) must be at least proxy_buffer_size (32k); "
                   "equal to it, buffers never grow");
    expect_error("proxy_bulk_buffer_size = \"32m\";\n" SERVICES POOLS,
                 1, "\"proxy_bulk_buffer_size\" must be from 1k to 16m, not \"32m\"");
    expect_error("proxy_bulk_buffers = -1;\n" SERVICES POOLS,
                 1, "\"proxy_bulk_buffers\" must be a number from 0 to 65536, not -1");
    expect_error("proxy_bulk_buffers = \"many\";\n" SERVICES POOLS,
                 1, "\"proxy_bulk_buffers\" must be a number from 0 to 65536");
}

static void
host_names_resolve(void **state)
{
    struct lbd_conf *conf = load_ok(
        "services = ( { name = \"web\"; listen = \"localhost:8080\"; pool = \"p\"; } );\n"
        "pools = ( { name = \"p\"; backends = ( { address = \"localhost:9001\"; } ); } );\n");

    assert_string_equal(conf->services[0].listen.text, "localhost:8080");
    assert_int_equal(port_of(&conf->pools[0].backends[0].addr), 9001);
    lbd_conf_free(conf);
}


/* --- bad files: syntax and reading --- */

static void
syntax_error(void **state)
{
    expect_error("worker_connections = 10;\nworker_processes = ;\n" SERVICES POOLS,
                 2, "syntax error");
}

static void
missing_file(void **state)
{
    char             path[256], err[512] = "";
    struct lbd_conf *conf;

    snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
    conf = lbd_conf_load(path, err, sizeof(err));
    assert_null(conf);
    check_error(path, 0, "cannot read: No such file or directory", err);
}

static void
error_in_included_file(void **state)
{
    char text[512], err[512] = "";

    write_file(inc_path, "# included\nworker_connections = \"many\";\n");
    snprintf(text, sizeof(text), SERVICES POOLS "@include \"%s\"\n", inc_path);
    assert_null(load(text, err, sizeof(err)));
    check_error(inc_path, 2, "\"worker_connections\" must be a number from 1 to 1000000", err);
}

static void
integer_that_libconfig_wraps(void **state)
{
    /* libconfig 1.5 reads 4294967297 as 1, which would pass as a weight */
    expect_error(SERVICES
                 "pools = ( { name = \"p\";\n"
                 "  backends = ( { address = \"127.0.0.1:9001\"; weight = 4294967297; } ); } );\n",
                 3, "the number 4294967297 is too large");
    expect_error("worker_connections = 0x100000000;\n" SERVICES POOLS,
                 1, "is too large");
}


/* --- bad files: unknown keys --- */

static void
unknown_keys(void **state)
{
    expect_error(SERVICES POOLS "\nworker_procs = 2;\n", 4, "unknown key \"worker_procs\"");
    expect_error("services = (\n"
                 "  { name = \"web\"; listen = \"127.0.0.1:8080\";\n"
                 "    listn = \"x\"; pool = \"p\"; }\n"
                 ");\n" POOLS,
                 3, "unknown key \"listn\" in service \"web\"");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; stratgy = \"round_robin\";\n"
                 "            backends = ( { address = \"127.0.0.1:9001\"; } ); } );\n",
                 2, "unknown key \"stratgy\" in pool \"p\"");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = (\n"
                 "  { address = \"127.0.0.1:9001\";\n"
                 "    wieght = 2; } ); } );\n",
                 4, "unknown key \"wieght\" in backend \"127.0.0.1:9001\"");
    expect_error("error_log = {\n  path = \"stderr\";\n  colour = true;\n};\n" SERVICES POOLS,
                 3, "unknown key \"error_log.colour\"");
    expect_error(SERVICES POOLS "timeouts = { read = \"5s\"; };\n",
                 3, "unknown key \"timeouts.read\"");
}


/* --- bad files: types --- */

static void
wrong_types(void **state)
{
    expect_error("worker_connections = \"100\";\n" SERVICES POOLS,
                 1, "\"worker_connections\" must be a number from 1 to 1000000, not a string");
    expect_error("pid_file = 5;\n" SERVICES POOLS, 1, "\"pid_file\" must be a string, not an integer");
    expect_error("pid_file = \"\";\n" SERVICES POOLS, 1, "\"pid_file\" must not be empty");
    expect_error("worker_processes = 2.5;\n" SERVICES POOLS,
                 1, "\"worker_processes\" must be a number from 1 to 1024 or \"auto\"");
    expect_error("error_log = \"stderr\";\n" SERVICES POOLS, 1, "\"error_log\" must be a group");
    expect_error("services = { name = \"web\"; };\n" POOLS, 1, "\"services\" must be a list");
    expect_error("services = ( \"web\" );\n" POOLS,
                 1, "each entry of \"services\" must be a group");
    expect_error("services = (\n"
                 "  { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                 "    backlog = \"lots\"; }\n"
                 ");\n" POOLS,
                 3, "service \"web\": \"backlog\" must be a number from 1 to 65535, not a string");
    expect_message("services = (\n"
                   "  { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                   "    reuseport = 5; }\n"
                   ");\n" POOLS,
                   3, "service \"web\": \"reuseport\" must be true or false, not an integer");
    expect_error("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                 "  reuseport = \"yes\"; } );\n" POOLS,
                 2, "\"reuseport\" must be true or false, not a string");
    expect_error("services = ( { name = 7; listen = \"127.0.0.1:8080\"; pool = \"p\"; } );\n"
                 POOLS, 1, "service #1: \"name\" must be a string, not an integer");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = ( { address = \"127.0.0.1:9001\";\n"
                 "  weight = \"2\"; } ); } );\n",
                 3, "backend \"127.0.0.1:9001\": \"weight\" must be a number from 1 to 1000");
    expect_error("proxy_buffer_size = true;\n" SERVICES POOLS,
                 1, "\"proxy_buffer_size\" must be a size such as \"16k\"");
}


/* --- bad files: values out of range --- */

static void
out_of_range(void **state)
{
    expect_error("worker_processes = 0;\n" SERVICES POOLS,
                 1, "\"worker_processes\" must be a number from 1 to 1024 or \"auto\"");
    expect_error("worker_processes = 1025;\n" SERVICES POOLS, 1, "\"worker_processes\"");
    expect_error("worker_processes = \"many\";\n" SERVICES POOLS, 1, "or \"auto\"");
    expect_error("worker_connections = 1000001;\n" SERVICES POOLS,
                 1, "not 1000001");
    expect_error("worker_connections = 5000000000L;\n" SERVICES POOLS,
                 1, "not 5000000000");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = (\n"
                 "  { address = \"127.0.0.1:9001\"; weight = 0; } ); } );\n",
                 3, "\"weight\" must be a number from 1 to 1000, not 0");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = (\n"
                 "  { address = \"127.0.0.1:9001\"; weight = 1001; } ); } );\n",
                 3, "not 1001");
    expect_error("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                 "  backlog = 65536; } );\n" POOLS,
                 2, "\"backlog\" must be a number from 1 to 65535, not 65536");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = (\n"
                 "  { address = \"10.0.0.1:99999\"; } ); } );\n",
                 3, "backend \"10.0.0.1:99999\": port must be 1-65535");
    expect_error("services = ( { name = \"web\"; listen = \"127.0.0.1:0\"; pool = \"p\"; } );\n"
                 POOLS, 1, "service \"web\": listen \"127.0.0.1:0\": port must be 1-65535");
    expect_error("services = ( { name = \"we b\"; listen = \"127.0.0.1:1\"; pool = \"p\"; } );\n"
                 POOLS, 1, "\"name\" must be 1 to 64 characters from A-Z a-z 0-9 _ . -");
}

static void
bad_durations_and_sizes(void **state)
{
    expect_error("timeouts = {\n  connect = \"5x\";\n};\n" SERVICES POOLS,
                 2, "\"timeouts.connect\": \"5x\" is not a duration "
                    "(use ms, s, m or h, e.g. \"5s\")");
    expect_error("timeouts = { idle = 30; };\n" SERVICES POOLS,
                 1, "\"timeouts.idle\" needs a unit");
    expect_error("timeouts = { shutdown = \"0s\"; };\n" SERVICES POOLS,
                 1, "\"timeouts.shutdown\": \"0s\" is not a duration");
    expect_error("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                 "  idle_timeout = 10; } );\n" POOLS,
                 2, "service \"web\": \"idle_timeout\" needs a unit");
    expect_error("proxy_buffer_size = \"16q\";\n" SERVICES POOLS,
                 1, "\"proxy_buffer_size\": \"16q\" is not a size");
    expect_error("proxy_buffer_size = \"32m\";\n" SERVICES POOLS,
                 1, "\"proxy_buffer_size\" must be from 1k to 16m, not \"32m\"");
    expect_error("proxy_buffer_size = 100;\n" SERVICES POOLS,
                 1, "\"proxy_buffer_size\" must be from 1k to 16m, not 100");
}


/* --- bad files: missing keys and empty lists --- */

static void
missing_keys(void **state)
{
    /* the root has no line: "FILE: message" */
    expect_error(POOLS, 0, "missing required key \"services\"");
    expect_error(SERVICES, 0, "missing required key \"pools\"");
    expect_error("services = (\n  { name = \"web\"; pool = \"p\"; }\n);\n" POOLS,
                 2, "missing required key \"listen\" in service \"web\"");
    expect_error("services = (\n  { listen = \"127.0.0.1:8080\"; pool = \"p\"; }\n);\n" POOLS,
                 2, "missing required key \"name\" in service #1");
    expect_error("services = (\n  { name = \"web\"; listen = \"127.0.0.1:8080\"; }\n);\n" POOLS,
                 2, "missing required key \"pool\" in service \"web\"");
    expect_error(SERVICES "pools = ( { name = \"p\"; backends = (\n  { weight = 2; } ); } );\n",
                 3, "missing required key \"address\" in backend #1");
}

static void
empty_lists(void **state)
{
    expect_error("services = ();\n" POOLS, 1, "\"services\" must hold at least one service");
    expect_error("pools = ();\n" SERVICES, 1, "\"pools\" must hold at least one pool");
}

/* A pool's health checks, passive detection, slow start, retries and backup. */
static void
pool_health_and_passive(void **state)
{
#define P1 SERVICES "pools = ( { name = \"p\"; "
#define P2 " backends = ( { address = \"127.0.0.1:9001\"; } ); } );\n"
    struct lbd_conf *conf = load_ok(P1 "health_check = { type = \"http\"; interval = \"500ms\";"
                                    " timeout = \"200ms\"; rise = 1; fall = 4; path = \"/h\";"
                                    " status = \"204\"; body = \"ok\"; };"
                                    " passive = { failures = 2; ejection = \"1s\"; };"
                                    " slow_start = \"5s\"; retries = 0;" P2);

    assert_int_equal(conf->pools[0].check.type, LBD_CHECK_HTTP);
    assert_int_equal(conf->pools[0].check.interval, 500);
    assert_int_equal(conf->pools[0].check.timeout, 200);
    assert_int_equal(conf->pools[0].check.rise, 1);
    assert_int_equal(conf->pools[0].check.fall, 4);
    assert_string_equal(conf->pools[0].check.method, "GET");
    assert_string_equal(conf->pools[0].check.path, "/h");
    assert_int_equal(conf->pools[0].check.status_min, 204);
    assert_int_equal(conf->pools[0].check.status_max, 204);
    assert_string_equal(conf->pools[0].check.body, "ok");
    assert_int_equal(conf->pools[0].passive.failures, 2);
    assert_int_equal(conf->pools[0].passive.ejection, 1000);
    assert_int_equal(conf->pools[0].passive.max_ejection, 300000);
    assert_int_equal(conf->pools[0].slow_start, 5000);
    assert_int_equal(conf->pools[0].retries, 0);
    lbd_conf_free(conf);

    /* defaults */
    conf = load_ok(SERVICES POOLS);
    assert_int_equal(conf->pools[0].check.type, LBD_CHECK_NONE);
    assert_int_equal(conf->pools[0].passive.failures, 5);
    assert_int_equal(conf->pools[0].retries, 3);
    assert_int_equal(conf->pools[0].backup_index, -1);
    lbd_conf_free(conf);

    expect_error(P1 "health_check = { type = \"icmp\"; };" P2, 2, "must be \"tcp\" or \"http\"");
    expect_error(P1 "health_check = { interval = \"1s\"; };" P2, 2,
                 "missing required key \"health_check.type\"");
    expect_error(P1 "health_check = { type = \"tcp\"; interval = \"1s\"; timeout = \"2s\"; };"
                 P2, 2, "must be shorter than");
    expect_error(P1 "health_check = { type = \"tcp\"; path = \"/x\"; };" P2, 2,
                 "apply to type \"http\" only");
    expect_error(P1 "health_check = { type = \"http\"; status = \"600\"; };" P2, 2,
                 "must be a status or a range");
    expect_error(P1 "health_check = { type = \"http\"; path = \"no-slash\"; };" P2, 2,
                 "must start with \"/\"");
    expect_error(P1 "health_check = { type = \"http\"; method = \"get\"; };" P2, 2,
                 "must be an HTTP method");
    expect_error(P1 "passive = { ejection = \"10s\"; max_ejection = \"1s\"; };" P2, 2,
                 "must not be shorter");
    expect_error(P1 "backup = \"nope\";" P2, 2, "backup pool \"nope\" is not defined");
    expect_error(P1 "backup = \"p\";" P2, 2, "is the pool itself");
    expect_error(P1 "retries = 101;" P2, 2, "retries");
#undef P1
#undef P2
}

/* A pool's settings for HTTP services: keepalive, sticky_cookie, hash_key. */
static void
pool_http_settings(void **state)
{
#define P1 SERVICES "pools = ( { name = \"p\";\n"
#define P2 " backends = ( { address = \"127.0.0.1:9001\"; } ); } );\n"
    struct lbd_conf *conf = load_ok(SERVICES POOLS);

    /* defaults */
    assert_int_equal(conf->pools[0].keepalive, 1024);
    assert_int_equal(conf->pools[0].keepalive_timeout, 60000);
    assert_null(conf->pools[0].sticky_cookie);
    assert_int_equal(conf->pools[0].hash_key, LBD_HASH_KEY_IP);
    assert_null(conf->pools[0].hash_key_name);
    lbd_conf_free(conf);

    conf = load_ok(P1 "keepalive = 0; keepalive_timeout = \"250ms\"; sticky_cookie = \"lbd_srv\";"
                   " hash_key = \"header:X-User\";" P2);
    assert_int_equal(conf->pools[0].keepalive, 0);
    assert_int_equal(conf->pools[0].keepalive_timeout, 250);
    assert_string_equal(conf->pools[0].sticky_cookie, "lbd_srv");
    assert_int_equal(conf->pools[0].hash_key, LBD_HASH_KEY_HEADER);
    assert_string_equal(conf->pools[0].hash_key_name, "X-User");
    lbd_conf_free(conf);

    conf = load_ok(P1 "keepalive = 10000; keepalive_timeout = \"2m\";"
                   " sticky_cookie = \"!#$%&'*+-.^_`|~09azAZ\"; hash_key = \"cookie:sid\";" P2);
    assert_int_equal(conf->pools[0].keepalive, 10000);
    assert_int_equal(conf->pools[0].keepalive_timeout, 120000);
    assert_string_equal(conf->pools[0].sticky_cookie, "!#$%&'*+-.^_`|~09azAZ");
    assert_int_equal(conf->pools[0].hash_key, LBD_HASH_KEY_COOKIE);
    assert_string_equal(conf->pools[0].hash_key_name, "sid");
    lbd_conf_free(conf);

    /* "ip" is the default spelled out: no name */
    conf = load_ok(P1 "hash_key = \"ip\";" P2);
    assert_int_equal(conf->pools[0].hash_key, LBD_HASH_KEY_IP);
    assert_null(conf->pools[0].hash_key_name);
    lbd_conf_free(conf);

    /* the longest names taken: 64 characters */
    conf = load_ok(P1 "sticky_cookie = \"" "0123456789012345678901234567890123456789"
                   "012345678901234567890123" "\"; hash_key = \"header:"
                   "0123456789012345678901234567890123456789012345678901234567890123"
                   "\";" P2);
    assert_int_equal(strlen(conf->pools[0].sticky_cookie), 64);
    assert_int_equal(strlen(conf->pools[0].hash_key_name), 64);
    lbd_conf_free(conf);

    expect_message(P1 "keepalive = 10001;" P2, 3,
                   "pool \"p\": \"keepalive\" must be a number from 0 to 10000, not 10001");
    expect_message(P1 "keepalive = -1;" P2, 3,
                   "pool \"p\": \"keepalive\" must be a number from 0 to 10000, not -1");
    expect_message(P1 "keepalive = \"32\";" P2, 3,
                   "pool \"p\": \"keepalive\" must be a number from 0 to 10000, not a string");
    expect_message(P1 "keepalive_timeout = 60;" P2, 3,
                   "pool \"p\": \"keepalive_timeout\" needs a unit: write \"60s\" or "
                   "\"60ms\" (use ms, s, m or h)");
    expect_message(P1 "keepalive_timeout = \"0s\";" P2, 3,
                   "pool \"p\": \"keepalive_timeout\": \"0s\" is not a duration "
                   "(use ms, s, m or h, e.g. \"5s\")");
    expect_message(P1 "sticky_cookie = \"lbd srv\";" P2, 3,
                   "pool \"p\": \"sticky_cookie\" must be a cookie name: 1 to 64 characters "
                   "from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~");
    expect_message(P1 "sticky_cookie = \"a=b\";" P2, 3,
                   "pool \"p\": \"sticky_cookie\" must be a cookie name: 1 to 64 characters "
                   "from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~");
    expect_message(P1 "sticky_cookie = \"" "0123456789012345678901234567890123456789"
                   "0123456789012345678901234" "\";" P2, 3,
                   "pool \"p\": \"sticky_cookie\" must be a cookie name: 1 to 64 characters "
                   "from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~");
    expect_message(P1 "sticky_cookie = \"\";" P2, 3,
                   "pool \"p\": \"sticky_cookie\" must not be empty");
    expect_message(P1 "sticky_cookie = true;" P2, 3,
                   "pool \"p\": \"sticky_cookie\" must be a string, not a boolean");
    expect_message(P1 "hash_key = \"url\";" P2, 3,
                   "pool \"p\": \"hash_key\" must be \"ip\", \"header:NAME\" or "
                   "\"cookie:NAME\", not \"url\"");
    expect_message(P1 "hash_key = \"IP\";" P2, 3,
                   "pool \"p\": \"hash_key\" must be \"ip\", \"header:NAME\" or "
                   "\"cookie:NAME\", not \"IP\"");
    expect_message(P1 "hash_key = \"header:\";" P2, 3,
                   "pool \"p\": \"hash_key\": \"\" is not a header name (1 to 64 characters "
                   "from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)");
    expect_message(P1 "hash_key = \"header:X User\";" P2, 3,
                   "pool \"p\": \"hash_key\": \"X User\" is not a header name (1 to 64 "
                   "characters from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)");
    expect_message(P1 "hash_key = \"cookie:a;b\";" P2, 3,
                   "pool \"p\": \"hash_key\": \"a;b\" is not a cookie name (1 to 64 "
                   "characters from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)");
    expect_message(P1 "hash_key = \"cookie:" "0123456789012345678901234567890123456789"
                   "0123456789012345678901234" "\";" P2, 3,
                   "pool \"p\": \"hash_key\": \"0123456789012345678901234567890123456789"
                   "0123456789012345678901234\" is not a cookie name (1 to 64 "
                   "characters from A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)");
    expect_message(P1 "hash_key = 1;" P2, 3,
                   "pool \"p\": \"hash_key\" must be a string, not an integer");
#undef P1
#undef P2
}

/* --- HTTP services: the "http" group and "routes" --- */

/* An HTTP service "web" on line 1 whose body x starts on line 2; pools after. */
#define HTTP_SERVICE(x) \
    "services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; mode = \"http\"; pool = \"p\";\n" \
    x " } );\n"
#define HTTP_POOLS \
    "pools = ( { name = \"p\"; }, { name = \"api\"; }, { name = \"static\"; } );\n"

static void
http_defaults(void **state)
{
    struct lbd_conf            *conf = load_ok(HTTP_SERVICE("") HTTP_POOLS);
    const struct lbd_http_conf *h = &conf->services[0].http;

    assert_int_equal(conf->services[0].mode, LBD_MODE_HTTP);
    assert_int_equal(h->max_header_size, 8192);
    assert_int_equal(h->header_timeout, 10000);
    assert_int_equal(h->keepalive_timeout, 75000);
    assert_int_equal(h->keepalive_requests, 1000);
    assert_int_equal(h->response_timeout, 60000);
    assert_int_equal(h->body_timeout, 60000);
    assert_int_equal(h->forwarded_for, 1);
    assert_int_equal(h->forwarded_proto, 1);
    assert_int_equal(h->real_ip, 1);
    assert_null(h->access_log);
    assert_int_equal(h->access_log_format, LBD_ALOG_COMBINED);
    assert_int_equal(h->nroutes, 0);
    lbd_conf_free(conf);

    /* an empty group and an empty list change nothing */
    conf = load_ok(HTTP_SERVICE("http = { }; routes = ( );") HTTP_POOLS);
    assert_int_equal(conf->services[0].http.max_header_size, 8192);
    assert_int_equal(conf->services[0].http.nroutes, 0);
    lbd_conf_free(conf);
}

static void
http_every_key(void **state)
{
    struct lbd_conf            *conf = load_ok(HTTP_SERVICE(
        "  http = {\n"
        "    max_header_size = \"4k\"; header_timeout = \"250ms\"; keepalive_timeout = \"2m\";\n"
        "    keepalive_requests = 1000000; response_timeout = \"1h\"; body_timeout = \"5s\";\n"
        "    forwarded_for = false; forwarded_proto = false; real_ip = false;\n"
        "    access_log = \"/var/log/lbd/access.log\"; access_log_format = \"json\";\n"
        "  };") HTTP_POOLS);
    const struct lbd_http_conf *h = &conf->services[0].http;

    assert_int_equal(h->max_header_size, 4096);
    assert_int_equal(h->header_timeout, 250);
    assert_int_equal(h->keepalive_timeout, 120000);
    assert_int_equal(h->keepalive_requests, 1000000);
    assert_int_equal(h->response_timeout, 3600000);
    assert_int_equal(h->body_timeout, 5000);
    assert_int_equal(h->forwarded_for, 0);
    assert_int_equal(h->forwarded_proto, 0);
    assert_int_equal(h->real_ip, 0);
    assert_string_equal(h->access_log, "/var/log/lbd/access.log");
    assert_int_equal(h->access_log_format, LBD_ALOG_JSON);
    lbd_conf_free(conf);

    /* the other forms: sizes in bytes, the bounds, keepalive off, a relative log */
    conf = load_ok(HTTP_SERVICE("http = { max_header_size = 1024; keepalive_timeout = 0;"
                                " keepalive_requests = 1; forwarded_for = true;"
                                " access_log = \"access.log\"; access_log_format = \"combined\"; };")
                   HTTP_POOLS);
    assert_int_equal(conf->services[0].http.max_header_size, 1024);
    assert_int_equal(conf->services[0].http.keepalive_timeout, 0);
    assert_int_equal(conf->services[0].http.keepalive_requests, 1);
    assert_int_equal(conf->services[0].http.forwarded_for, 1);
    assert_string_equal(conf->services[0].http.access_log, "access.log");
    assert_int_equal(conf->services[0].http.access_log_format, LBD_ALOG_COMBINED);
    lbd_conf_free(conf);

    conf = load_ok("proxy_buffer_size = \"128k\";\n"
                   HTTP_SERVICE("http = { max_header_size = \"64k\"; keepalive_timeout = \"0\"; };")
                   HTTP_POOLS);
    assert_int_equal(conf->services[0].http.max_header_size, 65536);
    assert_int_equal(conf->services[0].http.keepalive_timeout, 0);
    lbd_conf_free(conf);

    conf = load_ok(HTTP_SERVICE("http = { keepalive_timeout = \"0s\"; };") HTTP_POOLS);
    assert_int_equal(conf->services[0].http.keepalive_timeout, 0);
    lbd_conf_free(conf);
}

static void
http_bad_values(void **state)
{
    expect_message(HTTP_SERVICE("http = { max_header_size = \"512\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.max_header_size\" must be from 1k to 64k, not \"512\"");
    expect_message(HTTP_SERVICE("http = { max_header_size = 65537; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.max_header_size\" must be from 1k to 64k, not 65537");
    expect_message(HTTP_SERVICE("http = { max_header_size = \"8kb\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.max_header_size\": \"8kb\" is not a size "
                   "(bytes, or a k or m suffix, e.g. \"16k\")");
    expect_message(HTTP_SERVICE("http = { max_header_size = 8.5; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.max_header_size\" must be a size such as \"16k\" "
                   "or a number of bytes, not a decimal number");
    expect_message(HTTP_SERVICE("http = { header_timeout = 10; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.header_timeout\" needs a unit: write \"10s\" or "
                   "\"10ms\" (use ms, s, m or h)");
    expect_message(HTTP_SERVICE("http = { header_timeout = \"0\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.header_timeout\": \"0\" is not a duration "
                   "(use ms, s, m or h, e.g. \"5s\")");
    expect_message(HTTP_SERVICE("http = { keepalive_timeout = 75; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.keepalive_timeout\" needs a unit: write \"75s\" or "
                   "\"75ms\" (use ms, s, m or h)");
    expect_message(HTTP_SERVICE("http = { keepalive_timeout = \"0x\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.keepalive_timeout\": \"0x\" is not a duration "
                   "(use ms, s, m or h, e.g. \"5s\")");
    expect_message(HTTP_SERVICE("http = { keepalive_timeout = false; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.keepalive_timeout\" must be a duration such as "
                   "\"5s\", not a boolean");
    expect_message(HTTP_SERVICE("http = { keepalive_requests = 0; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.keepalive_requests\" must be a number from 1 to "
                   "1000000, not 0");
    expect_message(HTTP_SERVICE("http = { keepalive_requests = 1000001; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.keepalive_requests\" must be a number from 1 to "
                   "1000000, not 1000001");
    expect_message(HTTP_SERVICE("http = { response_timeout = \"1d\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.response_timeout\": \"1d\" is not a duration "
                   "(use ms, s, m or h, e.g. \"5s\")");
    expect_message(HTTP_SERVICE("http = { body_timeout = 60; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.body_timeout\" needs a unit: write \"60s\" or "
                   "\"60ms\" (use ms, s, m or h)");
    expect_message(HTTP_SERVICE("http = { forwarded_for = 1; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.forwarded_for\" must be true or false, not an integer");
    expect_message(HTTP_SERVICE("http = { forwarded_proto = \"yes\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.forwarded_proto\" must be true or false, not a string");
    expect_message(HTTP_SERVICE("http = { real_ip = \"true\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.real_ip\" must be true or false, not a string");
    expect_message(HTTP_SERVICE("http = { access_log = \"\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.access_log\" must not be empty");
    expect_message(HTTP_SERVICE("http = { access_log = \"stderr\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.access_log\" must be the path of a file "
                   "(\"stderr\" is for error_log only)");
    expect_message(HTTP_SERVICE("http = { access_log_format = \"common\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"http.access_log_format\" must be \"combined\" or "
                   "\"json\", not \"common\"");
    expect_message(HTTP_SERVICE("http = {\n  access_log_format = \"json\";\n  colour = 1; };")
                   HTTP_POOLS, 4, "unknown key \"http.colour\" in service \"web\"");
    expect_message(HTTP_SERVICE("http = \"on\";") HTTP_POOLS, 2,
                   "service \"web\": \"http\" must be a group: http = { ... }, not a string");
}

/* "http" and "routes" need mode "http", wherever mode is in the group. */
static void
http_needs_mode(void **state)
{
    struct lbd_conf *conf;

    expect_message("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                   "  http = { real_ip = false; }; } );\n" HTTP_POOLS, 2,
                   "service \"web\": \"http\" needs mode \"http\"");
    expect_message("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                   "  mode = \"tcp\";\n"
                   "  routes = ( { path = \"/\"; pool = \"p\"; } ); } );\n" HTTP_POOLS, 3,
                   "service \"web\": \"routes\" needs mode \"http\"");
    expect_message("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                   "  routes = ( );\n"
                   "  mode = \"tcp\"; } );\n" HTTP_POOLS, 2,
                   "service \"web\": \"routes\" needs mode \"http\"");

    /* mode after the group it allows */
    conf = load_ok("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                   "  http = { real_ip = false; }; routes = ( { path = \"/\"; pool = \"api\"; } );\n"
                   "  mode = \"http\"; } );\n" HTTP_POOLS);
    assert_int_equal(conf->services[0].mode, LBD_MODE_HTTP);
    assert_int_equal(conf->services[0].http.real_ip, 0);
    assert_int_equal(conf->services[0].http.nroutes, 1);
    lbd_conf_free(conf);
}

static void
routes(void **state)
{
    struct lbd_conf             *conf = load_ok(HTTP_SERVICE(
        "  routes = (\n"
        "    { host = \"API.Example.COM\"; path = \"/v1/\"; pool = \"api\"; },\n"
        "    { path = \"/static/\"; pool = \"static\"; },\n"
        "    { host = \"*.example.org\"; pool = \"p\"; },\n"
        "    { host = \"api.example.com\"; pool = \"api\"; },\n"
        "    { host = \"127.0.0.1\"; path = \"/v1/%41?x=1\"; pool = \"static\"; },\n"
        "    { host = \"a-b.c\"; path = \"/\"; pool = \"api\"; }\n"
        "  );") HTTP_POOLS);
    const struct lbd_route_conf *r = conf->services[0].http.routes;

    assert_int_equal(conf->services[0].http.nroutes, 6);
    assert_string_equal(r[0].host, "api.example.com");     /* lowercased */
    assert_string_equal(r[0].path, "/v1/");
    assert_string_equal(r[0].pool_name, "api");
    assert_int_equal(r[0].pool, 1);
    assert_int_equal(r[0].line, 3);
    assert_null(r[1].host);
    assert_string_equal(r[1].path, "/static/");
    assert_int_equal(r[1].pool, 2);
    assert_int_equal(r[1].line, 4);
    assert_string_equal(r[2].host, "*.example.org");
    assert_string_equal(r[2].path, "/");                    /* the default */
    assert_int_equal(r[2].pool, 0);
    assert_string_equal(r[3].host, "api.example.com");     /* another path than r[0] */
    assert_string_equal(r[3].path, "/");
    assert_string_equal(r[4].host, "127.0.0.1");
    assert_string_equal(r[4].path, "/v1/%41?x=1");
    assert_string_equal(r[5].host, "a-b.c");
    lbd_conf_free(conf);

    /* a pool defined before the services is found as well */
    conf = load_ok(HTTP_POOLS HTTP_SERVICE("routes = ( { path = \"/x\"; pool = \"static\"; } );"));
    assert_int_equal(conf->services[0].http.routes[0].pool, 2);
    lbd_conf_free(conf);
}

static void
routes_bad(void **state)
{
#define R(x) HTTP_SERVICE("routes = (\n  { path = \"/a\"; pool = \"p\"; },\n  " x "\n);") HTTP_POOLS
    /* the second route is on line 4 */
    expect_message(R("{ pool = \"p\"; }"), 4,
                   "route #2 of service \"web\": give \"host\", \"path\" or both");
    expect_message(R("{ path = \"/b\"; }"), 4,
                   "missing required key \"pool\" in route #2 of service \"web\"");
    expect_message(R("{ path = \"/b\"; pool = \"p\"; weight = 2; }"), 4,
                   "unknown key \"weight\" in route #2 of service \"web\"");
    expect_message(R("{ path = \"/b\"; pool = \"nope\"; }"), 4,
                   "route #2 of service \"web\": pool \"nope\" is not defined");
    expect_message(R("{ path = \"/b\"; pool = 3; }"), 4,
                   "route #2 of service \"web\": \"pool\" must be a string, not an integer");
    expect_message(R("{ path = \"b\"; pool = \"p\"; }"), 4,
                   "route #2 of service \"web\": \"path\" must start with \"/\"");
    expect_message(R("{ path = \"/a b\"; pool = \"p\"; }"), 4,
                   "route #2 of service \"web\": \"path\" must not hold spaces or control "
                   "characters");
    expect_message(R("{ path = \"/a\\tb\"; pool = \"p\"; }"), 4,
                   "route #2 of service \"web\": \"path\" must not hold spaces or control "
                   "characters");
    expect_message(R("{ path = \"\"; pool = \"p\"; }"), 4,
                   "route #2 of service \"web\": \"path\" must not be empty");
    expect_message(R("{ host = \"\"; pool = \"p\"; }"), 4,
                   "route #2 of service \"web\": \"host\" must not be empty");
    /* (one line: libconfig places a scalar list entry at the line after it) */
    expect_message(HTTP_SERVICE("routes = ( \"/b\" );") HTTP_POOLS, 2,
                   "service \"web\": each entry of \"routes\" must be a group { ... }, not a string");
    static const char *const bad_hosts[] = {
        "example.com:8080", "example.com/", "[::1]", "*", "*.", "**.example.com",
        "a.*.example.com", "example..com", ".example.com", "example.com.", "exa_mple.com",
        "ex ample.com", "http://example.com",
        "a234567890123456789012345678901234567890123456789012345678901234.com",
    };
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        char text[1024], msg[512], route[256];

        snprintf(route, sizeof(route), "{ host = \"%s\"; pool = \"p\"; }", bad_hosts[i]);
        snprintf(text, sizeof(text), R("%s"), route);
        snprintf(msg, sizeof(msg), "route #2 of service \"web\": \"host\": \"%s\" is not a "
                 "host name (letters, digits, \"-\" and \".\", \"*.\" in front for any "
                 "subdomain; no port)", bad_hosts[i]);
        expect_message(text, 4, msg);
    }

    /* duplicates: the same host (in any case) and the same path, "/" when unsaid */
    expect_message(R("{ path = \"/a\"; pool = \"api\"; }"), 4,
                   "duplicate route in service \"web\": any host, path \"/a\" (first at line 3)");
    expect_message(HTTP_SERVICE("routes = (\n"
                                "  { host = \"a.example.com\"; pool = \"p\"; },\n"
                                "  { host = \"b.example.com\"; pool = \"p\"; },\n"
                                "  { host = \"A.Example.com\"; path = \"/\"; pool = \"api\"; }\n"
                                ");") HTTP_POOLS, 5,
                   "duplicate route in service \"web\": host \"a.example.com\", path \"/\" "
                   "(first at line 3)");
    expect_message(R("{ path = \"/A\"; pool = \"p\"; },\n  { path = \"/A\"; pool = \"p\"; }"), 5,
                   "duplicate route in service \"web\": any host, path \"/A\" (first at line 4)");
    expect_message(HTTP_SERVICE("routes = { path = \"/\"; pool = \"p\"; };") HTTP_POOLS, 2,
                   "service \"web\": \"routes\" must be a list of groups: "
                   "routes = ( { ... }, { ... } ), not a group");
#undef R
}

/* max_header_size against proxy_buffer_size, known only at the end of the file. */
static void
http_header_size_and_buffer(void **state)
{
    struct lbd_conf *conf;

    /* exactly half */
    conf = load_ok(HTTP_SERVICE("http = { max_header_size = \"2k\"; };") HTTP_POOLS
                   "proxy_buffer_size = 4096;\n");
    assert_int_equal(conf->services[0].http.max_header_size, 2048);
    lbd_conf_free(conf);

    /* the buffer comes after the services: the line is max_header_size's */
    expect_message(HTTP_SERVICE("http = {\n  max_header_size = \"16k\"; };") HTTP_POOLS
                   "proxy_buffer_size = \"16k\";\n", 3,
                   "service \"web\": \"http.max_header_size\" (16k) must be at most half of "
                   "proxy_buffer_size (8k)");
    expect_message("proxy_buffer_size = 5000;\n"
                   HTTP_SERVICE("http = {\n  max_header_size = 2501; };") HTTP_POOLS, 4,
                   "service \"web\": \"http.max_header_size\" (2501) must be at most half of "
                   "proxy_buffer_size (2500)");
    /* the default 8k against a small buffer: the line is the service's */
    expect_message("proxy_buffer_size = \"8k\";\n" HTTP_SERVICE("") HTTP_POOLS, 2,
                   "service \"web\": the default \"http.max_header_size\" (8k) must be at most "
                   "half of proxy_buffer_size (4k): set a smaller one or a larger "
                   "proxy_buffer_size");
    /* a TCP service does not care */
    conf = load_ok("proxy_buffer_size = \"1k\";\n" SERVICES POOLS);
    lbd_conf_free(conf);
}

/* Services may share an access log, in one format. */
static void
http_shared_access_log(void **state)
{
#define SVC(n, port, fmt) \
    "  { name = \"" n "\"; listen = \"127.0.0.1:" port "\"; mode = \"http\"; pool = \"p\";\n" \
    "    http = { access_log = \"/tmp/a.log\"; access_log_format = \"" fmt "\"; }; }"
    struct lbd_conf *conf = load_ok("services = (\n" SVC("a", "8080", "json") ",\n"
                                    SVC("b", "8081", "json") "\n);\n" HTTP_POOLS);

    assert_string_equal(conf->services[0].http.access_log, conf->services[1].http.access_log);
    lbd_conf_free(conf);

    expect_message("services = (\n" SVC("a", "8080", "json") ",\n"
                   "  { name = \"t\"; listen = \"127.0.0.1:8082\"; pool = \"p\"; },\n"
                   SVC("b", "8081", "combined") "\n);\n" HTTP_POOLS, 6,
                   "service \"b\": \"http.access_log\" \"/tmp/a.log\" is written as json by "
                   "service \"a\" (line 2), not as combined: one file takes one format");
#undef SVC
}

/*
 * Every allocation of an HTTP service and of a pool's HTTP settings is
 * freed, whether the file is good or refused half-way through its routes
 * (the ASan build, --with-sanitizers, reports a leak as a failure).
 */
static void
http_free(void **state)
{
    struct lbd_conf *conf = load_ok(HTTP_SERVICE(
        "  http = { access_log = \"/tmp/a.log\"; };\n"
        "  routes = ( { host = \"a.example.com\"; path = \"/v1/\"; pool = \"api\"; },\n"
        "             { path = \"/s/\"; pool = \"static\"; } );")
        "pools = ( { name = \"p\"; sticky_cookie = \"s\"; hash_key = \"cookie:c\"; },\n"
        "          { name = \"api\"; hash_key = \"header:X-A\"; },\n"
        "          { name = \"static\"; } );\n");

    lbd_conf_free(conf);
    expect_error(HTTP_SERVICE(
        "  http = { access_log = \"/tmp/a.log\"; };\n"
        "  routes = ( { host = \"a.example.com\"; path = \"/v1/\"; pool = \"api\"; },\n"
        "             { host = \"b.example.com\"; path = \"/v1/\"; pool = 1; } );")
        "pools = ( { name = \"p\"; sticky_cookie = \"s\"; hash_key = \"cookie:c\"; } );\n",
        4, "\"pool\" must be a string");
    expect_error(HTTP_SERVICE(
        "  routes = ( { host = \"a.example.com\"; path = \"/v1/\"; pool = \"api\"; } );")
        "pools = ( { name = \"p\"; sticky_cookie = \"s\"; hash_key = \"cookie:c\"; } );\n",
        2, "pool \"api\" is not defined");
}

/* A pool may start empty: its backends come from the admin API. */
static void
pool_without_backends(void **state)
{
    struct lbd_conf *conf = load_ok(SERVICES "pools = ( { name = \"p\"; } );\n");

    assert_int_equal(conf->pools[0].nbackends, 0);
    lbd_conf_free(conf);
    conf = load_ok(SERVICES "pools = ( { name = \"p\"; backends = (); } );\n");
    assert_int_equal(conf->pools[0].nbackends, 0);
    lbd_conf_free(conf);
}

/* registry and admin: defaults, values, and the mistakes each refuses. */
static void
registry_and_admin(void **state)
{
    struct lbd_conf *conf = load_ok(SERVICES POOLS);

    assert_false(conf->admin.enabled);
    assert_string_equal(conf->admin.listen.text, "127.0.0.1:8081");
    assert_null(conf->admin.token);
    assert_non_null(strstr(conf->registry_path, "/lbd.db"));
    lbd_conf_free(conf);

    conf = load_ok("registry = \"/tmp/x/reg.db\";\n"
                   "admin = { listen = \"127.0.0.1:9999\"; token = \"0123456789abcdef\"; };\n"
                   SERVICES POOLS);
    assert_true(conf->admin.enabled);
    assert_string_equal(conf->admin.listen.text, "127.0.0.1:9999");
    assert_string_equal(conf->admin.token, "0123456789abcdef");
    assert_string_equal(conf->admin.socket_path, "/tmp/x/control.sock");
    assert_string_equal(conf->registry_path, "/tmp/x/reg.db");
    lbd_conf_free(conf);

    expect_error("admin = { token = \"short\"; };\n" SERVICES POOLS, 1,
                 "\"admin.token\" must be at least 16 characters");
    expect_error("admin = { token_file = \"/nonexistent/token\"; };\n" SERVICES POOLS, 1,
                 "\"admin.token_file\": cannot read \"/nonexistent/token\"");
    expect_error("admin = { socket = \"relative.sock\"; };\n" SERVICES POOLS, 1,
                 "\"admin.socket\" must be an absolute path");
    expect_error("admin = { listen = \"127.0.0.1\"; };\n" SERVICES POOLS, 1,
                 "has no port");
    expect_error("admin = { colour = \"red\"; };\n" SERVICES POOLS, 1, "colour");
    expect_error("registry = 5;\n" SERVICES POOLS, 1, "registry");
}

static void
too_many_backends(void **state)
{
    size_t           len = 4200 * 48 + 1024, n;
    char            *text = malloc(len);
    char             err[512] = "";

    assert_non_null(text);
    n = (size_t) snprintf(text, len, SERVICES "pools = ( { name = \"p\"; backends = (\n");
    for (int i = 0; i < 4097; i++)
        n += (size_t) snprintf(text + n, len - n, "{ address = \"127.0.0.1:%d\"; }%s\n",
                               i + 1, i < 4096 ? "," : "");
    snprintf(text + n, len - n, "); } );\n");
    assert_null(load(text, err, sizeof(err)));
    free(text);
    check_error(conf_path, 2, "\"backends\" holds 4097 entries, at most 4096", err);
}


/* --- bad files: duplicates and references --- */

static void
duplicates(void **state)
{
    expect_error("services = (\n"
                 "  { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\"; },\n"
                 "  { name = \"web\"; listen = \"127.0.0.1:8081\"; pool = \"p\"; }\n"
                 ");\n" POOLS,
                 3, "duplicate service name \"web\" (first at line 2)");
    expect_error(SERVICES
                 "pools = (\n"
                 "  { name = \"p\"; backends = ( { address = \"127.0.0.1:9001\"; } ); },\n"
                 "  { name = \"p\"; backends = ( { address = \"127.0.0.1:9002\"; } ); }\n"
                 ");\n",
                 4, "duplicate pool name \"p\" (first at line 3)");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = (\n"
                 "  { address = \"127.0.0.1:9001\"; },\n"
                 "  { address = \"127.0.0.1:9001\"; weight = 2; } ); } );\n",
                 4, "duplicate backend \"127.0.0.1:9001\" in pool \"p\" (same address as line 3)");
    expect_error("services = (\n"
                 "  { name = \"a\"; listen = \"127.0.0.1:8080\"; pool = \"p\"; },\n"
                 "  { name = \"b\"; listen = \"127.0.0.1:8080\"; pool = \"p\"; }\n"
                 ");\n" POOLS,
                 3, "service \"b\": listen \"127.0.0.1:8080\" is already used by service \"a\"");
}

static void
bad_references(void **state)
{
    expect_error("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\";\n"
                 "  pool = \"nope\"; } );\n" POOLS,
                 2, "service \"web\": pool \"nope\" is not defined");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; strategy = \"no_such_strategy\";\n"
                 "  backends = ( { address = \"127.0.0.1:9001\"; } ); } );\n",
                 2, "pool \"p\": unknown strategy \"no_such_strategy\"");
    expect_error("user = \"lbd-no-such-user\";\n" SERVICES POOLS,
                 1, "no user \"lbd-no-such-user\"");
    expect_error("group = \"lbd-no-such-group\";\n" SERVICES POOLS,
                 1, "no group \"lbd-no-such-group\"");
}

static void
bad_values(void **state)
{
    expect_error("services = ( { name = \"web\"; listen = \"127.0.0.1:8080\"; pool = \"p\";\n"
                 "  mode = \"udp\"; } );\n" POOLS,
                 2, "service \"web\": unknown mode \"udp\" (use \"tcp\" or \"http\")");
    expect_error(SERVICES
                 "pools = ( { name = \"p\"; backends = (\n"
                 "  { address = \"nohost.invalid:80\"; } ); } );\n",
                 3, "backend \"nohost.invalid:80\": cannot resolve \"nohost.invalid\"");
    expect_error("services = ( { name = \"web\"; listen = \"::1:8080\"; pool = \"p\"; } );\n"
                 POOLS, 1, "in brackets");
    expect_error("services = ( { name = \"web\"; listen = \"8080\"; pool = \"p\"; } );\n"
                 POOLS, 1, "listen \"8080\" has no port (use HOST:PORT)");
    expect_error("error_log = { level = \"verbose\"; };\n" SERVICES POOLS,
                 1, "\"error_log.level\": unknown level \"verbose\"");
}


/* --- the value parsers --- */

static void
addr_parse(void **state)
{
    struct lbd_addr a;
    char            err[256];

    assert_int_equal(lbd_addr_parse("127.0.0.1:80", &a, err, sizeof(err)), 0);
    assert_int_equal(a.ss.ss_family, AF_INET);
    assert_int_equal(port_of(&a), 80);
    assert_string_equal(a.text, "127.0.0.1:80");
    assert_int_equal(lbd_addr_parse("[::1]:65535", &a, err, sizeof(err)), 0);
    assert_int_equal(a.ss.ss_family, AF_INET6);
    assert_int_equal(port_of(&a), 65535);
    assert_int_equal(lbd_addr_parse("0.0.0.0:1", &a, err, sizeof(err)), 0);

    assert_int_equal(lbd_addr_parse("foo", &a, err, sizeof(err)), -1);
    assert_string_equal(err, "\"foo\" has no port (use HOST:PORT)");
    assert_int_equal(lbd_addr_parse(":80", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "has no host"));
    assert_int_equal(lbd_addr_parse("1.2.3.4:", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "port must be 1-65535"));
    assert_int_equal(lbd_addr_parse("1.2.3.4:0", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("1.2.3.4:65536", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("1.2.3.4:http", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("1.2.3.4:+80", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("1.2.3.4:000080", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("::1:80", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "in brackets"));
    assert_int_equal(lbd_addr_parse("[::1:80", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no \"]\""));
    assert_int_equal(lbd_addr_parse("[::1]80", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("[::1]", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "has no port"));
    assert_int_equal(lbd_addr_parse("[127.0.0.1]:80", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not an IPv6 address"));
    assert_int_equal(lbd_addr_parse("nohost.invalid:80", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot resolve \"nohost.invalid\": "));

    /* inet_aton's forms would make "010.0.0.1" mean 8.0.0.1: refused */
    assert_int_equal(lbd_addr_parse("010.0.0.1:80", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not an IPv4 address"));
    assert_int_equal(lbd_addr_parse("127.1:80", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("2130706433:80", &a, err, sizeof(err)), -1);
    assert_int_equal(lbd_addr_parse("0x7f.0.0.1:80", &a, err, sizeof(err)), -1);
}

static void
addr_text_truncated(void **state)
{
    struct lbd_addr a;
    char            err[256], text[1200];

    /* an address longer than text[] is refused, never cut (it names the
     * backend in the registry) */
    snprintf(text, sizeof(text), "[fe80::1%%%0100d]:80", 1);
    assert_int_equal(lbd_addr_parse(text, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is longer than 79 characters"));

    /* a host name longer than any the resolver takes */
    snprintf(text, sizeof(text), "x%01100d:80", 0);
    assert_int_equal(lbd_addr_parse(text, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 79"));
}

static void
duration_parse(void **state)
{
    int ms = -1;

    assert_int_equal(lbd_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(lbd_duration_parse("5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(lbd_duration_parse("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(lbd_duration_parse("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(lbd_duration_parse("596h", &ms), 0);   /* largest that fits */
    assert_int_equal(ms, 596 * 3600000);

    ms = 42;
    assert_int_equal(lbd_duration_parse("597h", &ms), -1);
    assert_int_equal(lbd_duration_parse("99999999999999999999ms", &ms), -1);
    assert_int_equal(lbd_duration_parse("0s", &ms), -1);
    assert_int_equal(lbd_duration_parse("", &ms), -1);
    assert_int_equal(lbd_duration_parse("5", &ms), -1);
    assert_int_equal(lbd_duration_parse("s", &ms), -1);
    assert_int_equal(lbd_duration_parse("5 s", &ms), -1);
    assert_int_equal(lbd_duration_parse(" 5s", &ms), -1);
    assert_int_equal(lbd_duration_parse("-5s", &ms), -1);
    assert_int_equal(lbd_duration_parse("+5s", &ms), -1);
    assert_int_equal(lbd_duration_parse("1.5s", &ms), -1);
    assert_int_equal(lbd_duration_parse("5S", &ms), -1);
    assert_int_equal(lbd_duration_parse("5sec", &ms), -1);
    assert_int_equal(lbd_duration_parse("5d", &ms), -1);
    assert_int_equal(ms, 42);   /* untouched on failure */
}

static void
size_parse(void **state)
{
    size_t n = 7;

    assert_int_equal(lbd_size_parse("4096", &n), 0);
    assert_int_equal(n, 4096);
    assert_int_equal(lbd_size_parse("16k", &n), 0);
    assert_int_equal(n, 16384);
    assert_int_equal(lbd_size_parse("16K", &n), 0);
    assert_int_equal(n, 16384);
    assert_int_equal(lbd_size_parse("1m", &n), 0);
    assert_int_equal(n, 1048576);
    assert_int_equal(lbd_size_parse("2M", &n), 0);
    assert_int_equal(n, 2097152);
    assert_int_equal(lbd_size_parse("0", &n), 0);   /* a size; the caller checks range */
    assert_int_equal(n, 0);

    n = 7;
    assert_int_equal(lbd_size_parse("", &n), -1);
    assert_int_equal(lbd_size_parse("k", &n), -1);
    assert_int_equal(lbd_size_parse("16kb", &n), -1);
    assert_int_equal(lbd_size_parse("1g", &n), -1);
    assert_int_equal(lbd_size_parse("-1", &n), -1);
    assert_int_equal(lbd_size_parse("16 k", &n), -1);
    assert_int_equal(lbd_size_parse("99999999999999999999999", &n), -1);
    assert_int_equal(lbd_size_parse("18014398509481984m", &n), -1);
    assert_int_equal(n, 7);
}

static void
log_level_parse(void **state)
{
    assert_int_equal(lbd_log_level_parse("debug"), LBD_LOG_DEBUG);
    assert_int_equal(lbd_log_level_parse("info"), LBD_LOG_INFO);
    assert_int_equal(lbd_log_level_parse("notice"), LBD_LOG_NOTICE);
    assert_int_equal(lbd_log_level_parse("warn"), LBD_LOG_WARN);
    assert_int_equal(lbd_log_level_parse("error"), LBD_LOG_ERROR);
    assert_int_equal(lbd_log_level_parse("crit"), LBD_LOG_CRIT);
    assert_int_equal(lbd_log_level_parse("warning"), -1);
    assert_int_equal(lbd_log_level_parse("DEBUG"), -1);
    assert_int_equal(lbd_log_level_parse(""), -1);
}

static void
free_null(void **state)
{
    lbd_conf_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_conf),
        cmocka_unit_test(minimal_defaults),
        cmocka_unit_test(every_key_set),
        cmocka_unit_test(worker_processes_auto),
        cmocka_unit_test(user_resolves),
        cmocka_unit_test(group_overrides_user_gid),
        cmocka_unit_test(ipv6_listen),
        cmocka_unit_test(service_timeout_override),
        cmocka_unit_test(buffer_size_in_bytes),
        cmocka_unit_test(bulk_buffers),
        cmocka_unit_test(host_names_resolve),
        cmocka_unit_test(syntax_error),
        cmocka_unit_test(missing_file),
        cmocka_unit_test(error_in_included_file),
        cmocka_unit_test(integer_that_libconfig_wraps),
        cmocka_unit_test(unknown_keys),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(out_of_range),
        cmocka_unit_test(bad_durations_and_sizes),
        cmocka_unit_test(missing_keys),
        cmocka_unit_test(empty_lists),
        cmocka_unit_test(too_many_backends),
        cmocka_unit_test(pool_without_backends),
        cmocka_unit_test(pool_health_and_passive),
        cmocka_unit_test(pool_http_settings),
        cmocka_unit_test(http_defaults),
        cmocka_unit_test(http_every_key),
        cmocka_unit_test(http_bad_values),
        cmocka_unit_test(http_needs_mode),
        cmocka_unit_test(routes),
        cmocka_unit_test(routes_bad),
        cmocka_unit_test(http_header_size_and_buffer),
        cmocka_unit_test(http_shared_access_log),
        cmocka_unit_test(http_free),
        cmocka_unit_test(registry_and_admin),
        cmocka_unit_test(duplicates),
        cmocka_unit_test(bad_references),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(addr_parse),
        cmocka_unit_test(addr_text_truncated),
        cmocka_unit_test(duration_parse),
        cmocka_unit_test(size_parse),
        cmocka_unit_test(log_level_parse),
        cmocka_unit_test(free_null),
    };

    return cmocka_run_group_tests_name("conf", tests, group_setup, group_teardown);
}
