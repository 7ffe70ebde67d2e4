/*
 * linkem: an emulated network link between two network namespaces, for
 * tests of what crosses a bad network (delay, jitter, loss, blackouts,
 * a link that goes down).
 *
 * Why this exists: the usual tool, the kernel's netem qdisc, is not built
 * into the kernels these tests run on (CONFIG_NET_SCH_NETEM off, and no
 * modules), and nothing in Debian emulates a link in user space. TUN is
 * there everywhere, so linkem opens one TUN device in each namespace
 * (each named "lem0", with an address of one /24) and carries the IP
 * packets between them itself, holding each one for its delay. The two
 * ends see an ordinary point-to-point IPv4 network; TCP, its
 * retransmissions and its timeouts are the kernel's own.
 *
 *   linkem --ns-a A --ns-b B [--addr-a 10.77.0.1] [--addr-b 10.77.0.2]
 *          [--delay-ms D] [--jitter-ms J] [--loss P] [--limit N]
 *          [--rate-kbit R] [--seed S]
 *
 * A and B are network namespaces: a name from `ip netns add` or a path
 * such as /proc/PID/ns/net. The delay is added each way; jitter draws
 * uniformly from [-J, +J] per packet (so packets may be reordered, as
 * with netem); loss is a probability 0 ... 1 per packet; limit is how many
 * packets each direction may hold (more are dropped, as netem's limit);
 * rate serialises each direction at R kbit/s.
 *
 * Once both ends are up it prints "linkem: ready" on stdout. Then it reads
 * commands on stdin, one per line, and answers each with "ok" or
 * "error: ...":
 *   delay D J      delay and jitter, ms
 *   loss P         loss probability
 *   blackout MS    drop every packet both ways for MS milliseconds
 *   down / up      drop every packet until up (the interfaces stay)
 *   stats          "sent_ab N sent_ba N lost N dropped N"
 * End of stdin, SIGTERM or SIGINT end it; the TUN devices go with it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MTU 1500
#define DEV_NAME "lem0"

typedef struct packet {
    int64_t due_ns;
    uint64_t order; /* ties keep arrival order */
    uint16_t len;
    uint8_t data[MTU];
} packet;

/* One direction: a min-heap of held packets by due time. */
typedef struct direction {
    int in_fd, out_fd;
    packet **heap;
    size_t n, limit;
    int64_t link_free_ns; /* with a rate: when the last packet is sent */
    uint64_t sent;
} direction;

static volatile sig_atomic_t stop_flag;
static double delay_ms, jitter_ms, loss, rate_kbit;
static int64_t blackout_until_ns;
static bool down;
static uint64_t lost, dropped, order_counter;
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: enough for loss and jitter, and seedable for repeatable runs. */
static double rand01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717u) >> 11) / 9007199254740992.0;
}

static bool earlier(const packet *a, const packet *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->order < b->order);
}

static void heap_push(direction *d, packet *p)
{
    size_t i = d->n++;
    d->heap[i] = p;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(d->heap[i], d->heap[parent]))
            break;
        packet *t = d->heap[i];
        d->heap[i] = d->heap[parent];
        d->heap[parent] = t;
        i = parent;
    }
}

static packet *heap_pop(direction *d)
{
    packet *top = d->heap[0];
    d->heap[0] = d->heap[--d->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->n && earlier(d->heap[l], d->heap[m]))
            m = l;
        if (r < d->n && earlier(d->heap[r], d->heap[m]))
            m = r;
        if (m == i)
            break;
        packet *t = d->heap[i];
        d->heap[i] = d->heap[m];
        d->heap[m] = t;
        i = m;
    }
    return top;
}

static int enter_ns(const char *ns)
{
    char path[512];
    if (strchr(ns, '/'))
        snprintf(path, sizeof path, "%s", ns);
    else
        snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "linkem: cannot open network namespace %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    if (rc < 0) {
        fprintf(stderr, "linkem: cannot enter network namespace %s: %s (run as root)\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Open lem0 in the current namespace, give it addr/24, and bring it (and
 * lo) up. Returns the TUN fd or -1. */
static int open_end(const char *addr)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "linkem: cannot open /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV_NAME);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "linkem: cannot create %s: %s\n", DEV_NAME, strerror(errno));
        close(fd);
        return -1;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        goto fail;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "linkem: %s is not an IPv4 address\n", addr);
        close(s);
        close(fd);
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV_NAME);
    memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
        goto fail_s;
    sin.sin_addr.s_addr = htonl(0xffffff00u);
    memcpy(&ifr.ifr_netmask, &sin, sizeof sin);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
        goto fail_s;
    ifr.ifr_mtu = MTU;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
        goto fail_s;
    const char *up[] = {DEV_NAME, "lo"};
    for (size_t i = 0; i < 2; i++) {
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", up[i]);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
            goto fail_s;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            goto fail_s;
    }
    close(s);
    return fd;
fail_s:
    close(s);
fail:
    fprintf(stderr, "linkem: cannot configure %s (%s): %s\n", DEV_NAME, addr, strerror(errno));
    close(fd);
    return -1;
}

static bool passing(int64_t now)
{
    return !down && now >= blackout_until_ns;
}

/* Take every packet waiting on d's input: drop, lose, or hold it. */
static void take_in(direction *d, int64_t now)
{
    for (;;) {
        packet *p = malloc(sizeof *p);
        if (!p) {
            fprintf(stderr, "linkem: out of memory\n");
            exit(1);
        }
        ssize_t n = read(d->in_fd, p->data, sizeof p->data);
        if (n <= 0) {
            free(p);
            return;
        }
        if (!passing(now) || (loss > 0 && rand01() < loss)) {
            lost++;
            free(p);
            continue;
        }
        if (d->n >= d->limit) {
            dropped++;
            free(p);
            continue;
        }
        double ms = delay_ms + (jitter_ms > 0 ? (rand01() * 2 - 1) * jitter_ms : 0);
        if (ms < 0)
            ms = 0;
        p->len = (uint16_t)n;
        p->due_ns = now + (int64_t)(ms * 1e6);
        if (rate_kbit > 0) {
            int64_t start = d->link_free_ns > p->due_ns ? d->link_free_ns : p->due_ns;
            d->link_free_ns = start + (int64_t)((double)n * 8.0 / rate_kbit * 1e6);
            p->due_ns = d->link_free_ns;
        }
        p->order = order_counter++;
        heap_push(d, p);
    }
}

/* Send what is due; returns ns until the next packet is due, or -1. */
static int64_t send_due(direction *d, int64_t now)
{
    while (d->n > 0 && d->heap[0]->due_ns <= now) {
        packet *p = heap_pop(d);
        if (passing(now)) {
            if (write(d->out_fd, p->data, p->len) == (ssize_t)p->len)
                d->sent++;
            else
                dropped++;
        } else {
            lost++;
        }
        free(p);
    }
    return d->n > 0 ? d->heap[0]->due_ns - now : -1;
}

static void command(char *line, direction *ab, direction *ba)
{
    char word[32];
    double x = 0, y = 0;
    int n = sscanf(line, "%31s %lf %lf", word, &x, &y);
    if (n < 1)
        return;
    if (strcmp(word, "delay") == 0 && n >= 2 && x >= 0 && y >= 0) {
        delay_ms = x;
        jitter_ms = n == 3 ? y : 0;
    } else if (strcmp(word, "loss") == 0 && n == 2 && x >= 0 && x <= 1) {
        loss = x;
    } else if (strcmp(word, "blackout") == 0 && n == 2 && x >= 0) {
        blackout_until_ns = now_ns() + (int64_t)(x * 1e6);
    } else if (strcmp(word, "down") == 0) {
        down = true;
    } else if (strcmp(word, "up") == 0) {
        down = false;
    } else if (strcmp(word, "stats") == 0) {
        printf("sent_ab %llu sent_ba %llu lost %llu dropped %llu\n",
               (unsigned long long)ab->sent, (unsigned long long)ba->sent,
               (unsigned long long)lost, (unsigned long long)dropped);
        fflush(stdout);
        return;
    } else {
        printf("error: unknown or malformed command: %s (delay D J | loss P | blackout MS | "
               "down | up | stats)\n",
               word);
        fflush(stdout);
        return;
    }
    printf("ok\n");
    fflush(stdout);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: linkem --ns-a A --ns-b B [--addr-a IP] [--addr-b IP] [--delay-ms D]\n"
                    "              [--jitter-ms J] [--loss P] [--limit N] [--rate-kbit R] "
                    "[--seed S]\n");
}

int main(int argc, char **argv)
{
    const char *ns_a = NULL, *ns_b = NULL, *addr_a = "10.77.0.1", *addr_b = "10.77.0.2";
    size_t limit = 1000;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(o, "--ns-a") == 0)
            ns_a = v;
        else if (strcmp(o, "--ns-b") == 0)
            ns_b = v;
        else if (strcmp(o, "--addr-a") == 0)
            addr_a = v;
        else if (strcmp(o, "--addr-b") == 0)
            addr_b = v;
        else if (strcmp(o, "--delay-ms") == 0)
            delay_ms = atof(v);
        else if (strcmp(o, "--jitter-ms") == 0)
            jitter_ms = atof(v);
        else if (strcmp(o, "--loss") == 0)
            loss = atof(v);
        else if (strcmp(o, "--limit") == 0)
            limit = (size_t)atol(v);
        else if (strcmp(o, "--rate-kbit") == 0)
            rate_kbit = atof(v);
        else if (strcmp(o, "--seed") == 0)
            rng_state = (uint64_t)atoll(v) | 1;
        else {
            usage();
            return 2;
        }
    }
    if (!ns_a || !ns_b || limit == 0 || loss < 0 || loss > 1 || delay_ms < 0 || jitter_ms < 0) {
        usage();
        return 2;
    }
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0 || enter_ns(ns_a) < 0)
        return 1;
    int fd_a = open_end(addr_a);
    if (fd_a < 0 || enter_ns(ns_b) < 0)
        return 1;
    int fd_b = open_end(addr_b);
    if (fd_b < 0)
        return 1;
    setns(home, CLONE_NEWNET);
    close(home);

    direction ab = {.in_fd = fd_a, .out_fd = fd_b, .limit = limit};
    direction ba = {.in_fd = fd_b, .out_fd = fd_a, .limit = limit};
    ab.heap = calloc(limit, sizeof *ab.heap);
    ba.heap = calloc(limit, sizeof *ba.heap);
    if (!ab.heap || !ba.heap)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("linkem: ready\n");
    fflush(stdout);

    char line[256];
    size_t line_len = 0;
    bool stdin_open = true;
    while (!stop_flag) {
        int64_t now = now_ns();
        int64_t wait_a = send_due(&ab, now), wait_b = send_due(&ba, now);
        int64_t wait = wait_a < 0 ? wait_b : (wait_b < 0 || wait_a < wait_b ? wait_a : wait_b);
        struct pollfd pfd[3] = {{fd_a, POLLIN, 0}, {fd_b, POLLIN, 0}, {0, POLLIN, 0}};
        struct timespec ts = {0, 0}, *tsp = NULL;
        if (wait >= 0) {
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tsp = &ts;
        }
        int n = ppoll(pfd, stdin_open ? 3 : 2, tsp, NULL);
        if (n < 0 && errno != EINTR)
            break;
        now = now_ns();
        if (pfd[0].revents & POLLIN)
            take_in(&ab, now);
        if (pfd[1].revents & POLLIN)
            take_in(&ba, now);
        if (stdin_open && (pfd[2].revents & (POLLIN | POLLHUP))) {
            ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
            if (r <= 0) {
                stdin_open = false;
                break;
            }
            line_len += (size_t)r;
            char *nl;
            while ((nl = memchr(line, '\n', line_len))) {
                *nl = '\0';
                command(line, &ab, &ba);
                size_t used = (size_t)(nl - line) + 1;
                memmove(line, nl + 1, line_len - used);
                line_len -= used;
            }
            if (line_len == sizeof line - 1)
                line_len = 0; /* an over-long line: dropped */
        }
    }
    while (ab.n)
        free(heap_pop(&ab));
    while (ba.n)
        free(heap_pop(&ba));
    free(ab.heap);
    free(ba.heap);
    close(fd_a);
    close(fd_b);
    return 0;
}
