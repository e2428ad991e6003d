/*
 * conns_hold.c - the two ends of t/bench/conns: many idle connections held
 * open, through a load balancer, for as long as the benchmark looks.
 *
 *   conns_hold client -s SRC -d ADDR:PORT -n COUNT [-H] [-c INFLIGHT] -f FILE -t SEC
 *       opens COUNT connections from source address SRC to ADDR:PORT, at
 *       most INFLIGHT (default 500) unfinished at a time; with -H each sends
 *       one HTTP/1.1 request and waits for its response head, then stays
 *       idle (a keepalive client).  Without -H a connection is done when it
 *       is established.
 *   conns_hold origin -l ADDR:PORT [-H] -f FILE -t SEC
 *       accepts and holds every connection; with -H answers every request
 *       with a 2-byte 200 and keeps the connection.
 *
 * Each writes one status line to FILE every 250 ms (written to FILE.tmp and
 * renamed): client "opened done failed closed", origin "held requests".
 * Both exit on TERM or INT or after SEC seconds; 127.0.0.0/8 only.  One
 * process holds at most what its open file limit allows (its soft limit
 * is raised to the hard one): the benchmark runs several.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { S_FREE, S_CONNECTING, S_WAITING, S_DONE };

static volatile sig_atomic_t stop;
static unsigned char        *state;        /* per descriptor */
static const char            request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
static const char            response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

static void
on_signal(int sig)
{
    stop = 1;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
parse_addr(const char *text, struct sockaddr_in *sin)
{
    char        host[64];
    const char *colon = strrchr(text, ':');

    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    if (colon == NULL || (size_t) (colon - text) >= sizeof(host))
        return -1;
    memcpy(host, text, (size_t) (colon - text));
    host[colon - text] = '\0';
    sin->sin_port = htons((uint16_t) atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    /* Loopback only. */
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
}

static void
status(const char *file, const char *fmt, unsigned long a, unsigned long b,
       unsigned long c, unsigned long d)
{
    char  tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    if ((f = fopen(tmp, "w")) == NULL)
        return;
    fprintf(f, fmt, a, b, c, d);
    fclose(f);
    rename(tmp, file);
}

static int
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    state = calloc(rl.rlim_cur, 1);
    return state == NULL ? -1 : (int) rl.rlim_cur;
}

static int
client(const char *src, const char *dst, unsigned long n, int http, unsigned long inflight_max,
       const char *file, double limit)
{
    struct sockaddr_in  from, to;
    struct epoll_event  evs[512];
    unsigned long       opened = 0, done = 0, failed = 0, closed = 0, inflight = 0;
    double              t_end = now_s() + limit, t_status = 0;
    int                 ep = epoll_create1(EPOLL_CLOEXEC), one = 1;

    if (parse_addr(dst, &to) == -1 || inet_pton(AF_INET, src, &from.sin_addr) != 1
        || (ntohl(from.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "conns_hold: bad address %s or %s\n", src, dst);
        return 2;
    }
    from.sin_family = AF_INET;
    from.sin_port = 0;
    while (!stop && now_s() < t_end) {
        while (opened < n && inflight < inflight_max) {
            int                fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            struct epoll_event ev = { .events = EPOLLOUT };

            if (fd == -1) {
                perror("conns_hold: socket");
                n = opened;
                break;
            }
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            if (bind(fd, (struct sockaddr *) &from, sizeof(from)) == -1
                || (connect(fd, (struct sockaddr *) &to, sizeof(to)) == -1
                    && errno != EINPROGRESS)) {
                failed++;
                opened++;
                close(fd);
                continue;
            }
            ev.data.fd = fd;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            state[fd] = S_CONNECTING;
            opened++;
            inflight++;
        }
        int k = epoll_wait(ep, evs, 512, 50);

        for (int i = 0; i < k; i++) {
            int  fd = evs[i].data.fd, err = 0;
            char buf[4096];
            socklen_t len = sizeof(err);

            switch (state[fd]) {
            case S_CONNECTING: {
                struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };

                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) {
                    failed++;
                    inflight--;
                    state[fd] = S_FREE;
                    close(fd);
                    break;
                }
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                if (http) {
                    if (send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) == -1) {
                        failed++;
                        inflight--;
                        state[fd] = S_FREE;
                        close(fd);
                        break;
                    }
                    state[fd] = S_WAITING;
                } else {
                    state[fd] = S_DONE;
                    done++;
                    inflight--;
                }
                break;
            }
            case S_WAITING: {
                ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);

                if (r <= 0) {
                    failed++;
                    inflight--;
                    state[fd] = S_FREE;
                    close(fd);
                    break;
                }
                buf[r] = '\0';
                /* The head's end is enough: the 2-byte body comes with it. */
                if (strstr(buf, "\r\n\r\n") != NULL) {
                    state[fd] = strncmp(buf, "HTTP/1.1 200", 12) == 0 ? S_DONE : S_FREE;
                    if (state[fd] == S_DONE)
                        done++;
                    else {
                        failed++;
                        close(fd);
                    }
                    inflight--;
                }
                break;
            }
            case S_DONE: {
                ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (r == 0 || (r == -1 && errno != EAGAIN)) {
                    closed++;
                    done--;
                    state[fd] = S_FREE;
                    close(fd);
                }
                break;
            }
            }
        }
        if (now_s() >= t_status) {
            status(file, "%lu %lu %lu %lu\n", opened, done, failed, closed);
            t_status = now_s() + 0.25;
        }
    }
    status(file, "%lu %lu %lu %lu\n", opened, done, failed, closed);
    return 0;
}

static int
origin(const char *listen_at, int http, const char *file, double limit)
{
    struct sockaddr_in  at;
    struct epoll_event  evs[512], ev = { .events = EPOLLIN };
    unsigned long       held = 0, requests = 0;
    double              t_end = now_s() + limit, t_status = 0;
    int                 ep = epoll_create1(EPOLL_CLOEXEC), one = 1, lfd;

    if (parse_addr(listen_at, &at) == -1) {
        fprintf(stderr, "conns_hold: bad address %s\n", listen_at);
        return 2;
    }
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *) &at, sizeof(at)) == -1 || listen(lfd, 4096) == -1) {
        perror("conns_hold: bind/listen");
        return 2;
    }
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    while (!stop && now_s() < t_end) {
        int k = epoll_wait(ep, evs, 512, 100);

        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;

            if (fd == lfd) {
                for (int a = 0; a < 256; a++) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                    if (cfd == -1)
                        break;
                    ev.data.fd = cfd;
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                    held++;
                }
                continue;
            }
            char    buf[4096];
            ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);

            if (r == 0 || (r == -1 && errno != EAGAIN)) {
                close(fd);
                held--;
                continue;
            }
            if (r > 0 && http) {
                buf[r] = '\0';
                /* One answer per request head in what came (requests are small). */
                for (char *p = buf; (p = strstr(p, "\r\n\r\n")) != NULL; p += 4) {
                    requests++;
                    send(fd, response, sizeof(response) - 1, MSG_NOSIGNAL);
                }
            }
        }
        if (now_s() >= t_status) {
            status(file, "%lu %lu\n", held, requests, 0, 0);
            t_status = now_s() + 0.25;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char   *src = NULL, *dst = NULL, *lst = NULL, *file = NULL;
    unsigned long n = 0, inflight = 500;
    double        limit = 600;
    int           http = 0, opt;

    if (argc < 2) {
        fprintf(stderr, "usage: conns_hold client|origin ...\n");
        return 2;
    }
    while ((opt = getopt(argc - 1, argv + 1, "s:d:n:Hc:f:t:l:")) != -1) {
        switch (opt) {
        case 's': src = optarg; break;
        case 'd': dst = optarg; break;
        case 'l': lst = optarg; break;
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'c': inflight = strtoul(optarg, NULL, 10); break;
        case 'H': http = 1; break;
        case 'f': file = optarg; break;
        case 't': limit = atof(optarg); break;
        default: return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (file == NULL || raise_nofile() == -1)
        return 2;
    if (strcmp(argv[1], "client") == 0 && src && dst && n > 0)
        return client(src, dst, n, http, inflight, file, limit);
    if (strcmp(argv[1], "origin") == 0 && lst)
        return origin(lst, http, file, limit);
    fprintf(stderr, "usage: conns_hold client|origin ...\n");
    return 2;
}
