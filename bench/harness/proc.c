/* Child processes, pipes and loopback sockets for benchmarks (proc.h). */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rill/rill.h"

int bench_child_start(bench_child *c, bench_child_fn fn, void *arg) {
    int down[2], up[2];
    if (pipe(down) != 0)
        return -1;
    if (pipe(up) != 0) {
        close(down[0]);
        close(down[1]);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(down[0]);
        close(down[1]);
        close(up[0]);
        close(up[1]);
        return -1;
    }
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        signal(SIGPIPE, SIG_IGN);
        fn(down[0], up[1], arg);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    c->pid = pid;
    c->to = down[1];
    c->from = up[0];
    return 0;
}

void bench_child_finish(bench_child *c, const char *who) {
    close(c->to);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            close(c->from);
            return;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "%s: child %d did not exit; killing it\n", who,
            (int)c->pid);
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    close(c->from);
}

int bench_read_full(int fd, void *p, size_t n, int timeout_ms) {
    uint64_t deadline = rill_clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (size_t off = 0; off < n;) {
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline)
            return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
            continue; /* EINTR or not yet: the deadline decides */
        ssize_t k = read(fd, (char *)p + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    return 0;
}

int bench_write_full(int fd, const void *p, size_t n) {
    for (size_t off = 0; off < n;) {
        ssize_t k = write(fd, (const char *)p + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    return 0;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    return a;
}

int bench_tcp_listen(int *port) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t alen = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        if (ls >= 0)
            close(ls);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return ls;
}

int bench_tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    bench_nodelay(fd);
    return fd;
}

void bench_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
