/* Benchmarks that measure two processes (a device and a client, or two
 * ends of a raw socket) run one side in a forked child and talk to it over
 * two pipes; the raw TCP baselines use loopback sockets. What
 * bench_roundtrip and bench_peers share.
 */
#ifndef RILL_BENCH_PROC_H
#define RILL_BENCH_PROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bench_child {
    pid_t pid;
    int to;   /* parent -> child: commands; closed by bench_child_finish */
    int from; /* child -> parent: a port, 'D' (done), results */
} bench_child;

/* The child's side: read commands on cmd_fd, write results to res_fd. */
typedef void (*bench_child_fn)(int cmd_fd, int res_fd, void *arg);

/* fn(arg) runs in a forked child that _exits when fn returns (SIGPIPE
 * ignored there). The parent must have no other thread at this point:
 * only the calling one survives a fork. 0, or -1 (pipe or fork failed). */
int bench_child_start(bench_child *c, bench_child_fn fn, void *arg);

/* Close the command pipe (a child waiting for a command reads its end),
 * reap the child, and kill it if it has not exited within 10 s. `who`
 * names the benchmark in that message. */
void bench_child_finish(bench_child *c, const char *who);

/* Exactly n bytes within timeout_ms: 0, or -1 on end of file or timeout. */
int bench_read_full(int fd, void *p, size_t n, int timeout_ms);

/* All n bytes: 0, or -1 (the other end is gone). */
int bench_write_full(int fd, const void *p, size_t n);

/* A listening socket on 127.0.0.1 (any port, written to *port), or -1. */
int bench_tcp_listen(int *port);

/* A TCP_NODELAY connection to 127.0.0.1:port, or -1. */
int bench_tcp_connect(int port);

void bench_nodelay(int fd);

#endif
