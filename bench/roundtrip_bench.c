/* Round trip device -> host -> device, the equivalent of pybela's published
 * benchmark (issue 4), and the host client's CPU cost per GB received.
 *
 * Round trip. The device streams N = 1, 10 and 100 float variables at
 * 44.1 kHz in 1024-value buffers (the native stream `length` 1024, which is
 * also the Bela size of a float buffer); a host program receives each
 * buffer and sends it straight back; the device measures, for every
 * buffer, the delay from completing it to having it back:
 *
 *  - "completed": the monotonic time read on the device's real-time thread
 *    right after the rill_var_set_float that stores the buffer's last
 *    value (inside that call the full buffer leaves for the network
 *    thread). Every variable's stream starts at the same tick, a multiple
 *    of 1024, so all N buffers complete in the same frame, as in pybela's
 *    benchmark where all variables are watched together.
 *  - "back": the monotonic time at the start of the device's buffer
 *    callback (rill_server_config.on_buffer, on the server's network
 *    thread) for the returned buffer, after libwebsockets has received and
 *    reassembled it.
 *
 * The device is a real rill_server in a child process (fork, no exec) with
 * a real-time producer thread: 64-frame blocks on absolute deadlines
 * (clock_nanosleep), tick + one set per variable per frame. The host is a
 * rill_client in the parent process, native mode, whose on_buffer callback
 * calls rill_client_send_buffer with id = variable index and the same
 * values. Host and device are separate processes, as they are in use, so
 * that neither shares an allocator, a cache-hot address space or a
 * scheduler slot with the other in a way a real deployment would not. The
 * values are the frame numbers (exact in a float below 2^24, 6 minutes),
 * so the device recovers a returned buffer's first tick from values[0],
 * checks values[1023], and looks up the completion time the real-time
 * thread left in a table indexed by (buffer number, variable). Completion
 * times are read after the set; if the real-time thread was preempted
 * between the set and the clock read, the time read just before the set
 * is used (an upper bound on the delay), and the run says how often.
 *
 * The first ~0.5 s of returned buffers are a warm-up; then
 * RILL_BENCH_ROUNDTRIP_S seconds (default 4) of buffers are measured: mean,
 * p50, p99, max per N, and lost buffers (completed in the window but not
 * back within 1 s; must be 0, else the row says so and misses).
 *
 * Baseline, in the same run: the same traffic on raw TCP on loopback
 * between the same two processes. A device thread wakes every 1024/44100 s
 * on absolute deadlines, reads the clock ("completed") and writes N
 * messages of 16 + 4096 bytes (the size of a client buffer message); a host
 * thread reads whole messages and writes them back; a device thread reads
 * them and takes the delay. TCP_NODELAY on both sides, as rill's sockets.
 *
 * Client CPU per GB received. The device ticks and sets 8 float variables
 * as fast as it can (no pacing), streamed to a host rill_client whose
 * callback only counts bytes (the native message: 32-byte header + 4096
 * bytes of values). CPU time is read with CLOCK_THREAD_CPUTIME_ID from
 * inside the callback, i.e. it is the client's I/O thread's own CPU time
 * (as getrusage(RUSAGE_THREAD)), over RILL_BENCH_ROUNDTRIP_CPU_S seconds
 * (default 2). Baseline: a host thread reading bytes written flat out by
 * the device process in 256 KiB batches (as rill's server writes its
 * queued messages) from a raw TCP socket in 256 KiB reads (as rill's
 * client reads), its CPU time read the same way: the cost of the kernel
 * copy alone, the floor for any client.
 *
 * Rows are single runs over thousands of buffers (not medians of
 * repeats): run the program several times to see the spread, and read the
 * load averages it prints. On a 2-core machine that is busy with other
 * work, the device's three threads (real-time, waker, network) wait for
 * a core and the tails grow far more than raw TCP's, which has one thread
 * per side. Everything finishes in about 35 s with the defaults.
 *
 * Knobs: RILL_BENCH_ROUNDTRIP_S, RILL_BENCH_ROUNDTRIP_CPU_S (0 skips the
 * CPU section) and RILL_BENCH_ROUNDTRIP_VARS (e.g. "100"; default
 * "1,10,100").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"

#define SUITE "roundtrip"
#define RATE 44100.0
#define BLOCK 64u      /* frames per real-time block */
#define BUF 1024u      /* values per buffer */
#define SLOTS 256u     /* completion times kept per variable: 5.9 s */
#define WARM_BUFS 22u  /* ~0.5 s of buffers not measured */
#define GRACE_S 1.0    /* a buffer not back this long after the window: lost */
#define MAX_VARS 100u
#define FLOOD_VARS 8u
#define TCP_MSG (16u + BUF * 4u)          /* header + 1024 floats */
#define NATIVE_MSG (32u + BUF * 4u)       /* rill's native stream message */
#define READ_CHUNK (256u << 10)           /* as src/client/ws.c */

static double env_seconds(const char *name, double dflt, double max) {
    const char *s = getenv(name);
    double v = s != NULL && *s != '\0' ? strtod(s, NULL) : dflt;
    return v > 0 && v <= max ? v : dflt;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- Processes and pipes ------------------------------------------------- */


static int send_all(int fd, const void *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, (const char *)buf + off, n - off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    return 0;
}

/* ---- Results -------------------------------------------------------------- */

/* What a device child reports for one round-trip row (same binary on both
 * sides of the pipe, so the struct travels as bytes). */
typedef struct rt_result {
    int ok;
    uint32_t n;
    uint64_t expected;  /* buffers completed in the window */
    uint64_t back;      /* of those, back within the grace time */
    uint64_t unmatched; /* returned buffers that fit no completed one */
    uint64_t corrupt;   /* returned with the wrong values */
    uint64_t dups;
    uint64_t preempted; /* completion time taken from before the set */
    uint64_t late_blocks; /* real-time blocks begun > 1 block late */
    uint64_t drops;     /* server: tick + client drops */
    double mean_ms, p50_ms, p99_ms, max_ms;
    double device_cpu; /* device process CPU over the window, % of a core */
} rt_result;

static void summarise(rt_result *r, double *delay_us, size_t n_slots) {
    size_t m = 0;
    double sum = 0;
    for (size_t i = 0; i < n_slots; i++) {
        if (delay_us[i] >= 0) {
            delay_us[m++] = delay_us[i];
            sum += delay_us[i];
        }
    }
    r->back = m;
    if (m == 0)
        return;
    r->mean_ms = sum / (double)m * 1e-3;
    r->p50_ms = bench_percentile(delay_us, m, 50.0) * 1e-3;
    r->p99_ms = bench_percentile(delay_us, m, 99.0) * 1e-3;
    r->max_ms = delay_us[m - 1] * 1e-3;
}

static double process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- Device: rill_server with a real-time producer ------------------------ */

/* Left by the real-time thread for each (buffer, variable): `tag` is the
 * buffer's first tick + 1 (0: never), `before_ns`/`complete_ns` the clock
 * just before and just after the set that completed it (complete_ns 0
 * until read). The real-time thread stores complete_ns = 0 and before_ns,
 * then tag with release; the network thread loads tag with acquire, so a
 * matching tag guarantees it sees this round's before_ns and either 0 or
 * this round's complete_ns, never an older round's. */
typedef struct rt_slot {
    _Atomic uint64_t tag;
    _Atomic uint64_t before_ns;
    _Atomic uint64_t complete_ns;
} rt_slot;

typedef struct device {
    rill_server *srv;
    rill_var *vars[MAX_VARS];
    uint32_t n;
    rt_slot *slots; /* [SLOTS][n] */
    pthread_t rt;
    atomic_bool stop;
    _Atomic uint64_t frame; /* frames produced so far */
    _Atomic uint64_t late;
    bool flood; /* unpaced producer (CPU section) */

    /* Network thread (on_buffer) only, read by the main thread after
     * rill_server_destroy has joined it; m0 and back are also published. */
    uint64_t m0;  /* first measured buffer number, UINT64_MAX before */
    uint64_t nb;  /* buffers measured per variable */
    double *delay_us; /* [nb][n], < 0 until back */
    uint64_t unmatched, corrupt, dups, preempted;
    _Atomic uint64_t m0_pub; /* m0 + 1, 0 before the first return */
    _Atomic uint64_t back;   /* measured buffers back */
} device;

/* The device's audio loop: every 64/44100 s a block of 64 frames (tick,
 * then one set per variable), then sleep to the next absolute deadline.
 * In the last frame of each 1024-frame buffer it reads the clock around
 * each variable's completing set. The flood variant does the same with no
 * sleep and no clock reads. */
static void *device_rt_main(void *arg) {
    device *d = arg;
    pthread_setname_np(pthread_self(), "bench-rt");
    const double period_ns = (double)BLOCK * 1e9 / RATE;
    uint64_t start = rill_clock_now_ns() + 1000000;
    uint64_t f = 0;
    for (uint64_t b = 0; !atomic_load_explicit(&d->stop, memory_order_relaxed);
         b++) {
        if (!d->flood) {
            uint64_t deadline = start + (uint64_t)((double)b * period_ns);
            rill_clock_sleep_until_ns(deadline);
            if (rill_clock_now_ns() > deadline + (uint64_t)period_ns)
                atomic_fetch_add_explicit(&d->late, 1, memory_order_relaxed);
        }
        for (uint32_t i = 0; i < BLOCK; i++, f++) {
            rill_server_tick(d->srv, f);
            float v = (float)(f & 0xFFFFFFu);
            if (d->flood || (f + 1) % BUF != 0) {
                for (uint32_t k = 0; k < d->n; k++)
                    rill_var_set_float(d->vars[k], v);
                continue;
            }
            uint64_t first = f + 1 - BUF;
            rt_slot *row = d->slots + (size_t)(first / BUF % SLOTS) * d->n;
            for (uint32_t k = 0; k < d->n; k++) {
                rt_slot *s = &row[k];
                atomic_store_explicit(&s->complete_ns, 0, memory_order_relaxed);
                atomic_store_explicit(&s->before_ns, rill_clock_now_ns(),
                                      memory_order_relaxed);
                atomic_store_explicit(&s->tag, first + 1, memory_order_release);
                rill_var_set_float(d->vars[k], v);
                atomic_store_explicit(&s->complete_ns, rill_clock_now_ns(),
                                      memory_order_release);
            }
        }
        atomic_store_explicit(&d->frame, f, memory_order_release);
    }
    return NULL;
}

/* A buffer back from the host (network thread): match it to its
 * completion and keep the delay if it falls in the measured window. */
static void device_on_buffer(rill_server *srv, uint32_t id, rill_type type,
                             const void *values, size_t count, void *user) {
    uint64_t t = rill_clock_now_ns();
    device *d = user;
    (void)srv;
    if (type != RILL_TYPE_FLOAT || count != BUF || id >= d->n) {
        d->unmatched++;
        return;
    }
    float v0, vl;
    memcpy(&v0, values, sizeof v0);
    memcpy(&vl, (const float *)values + (BUF - 1), sizeof vl);
    if (!(v0 >= 0.0f) || v0 != floorf(v0) || vl != v0 + (float)(BUF - 1)) {
        d->corrupt++;
        return;
    }
    uint64_t first = (uint64_t)v0;
    if (first % BUF != 0) {
        d->unmatched++;
        return;
    }
    uint64_t bn = first / BUF;
    rt_slot *s = &d->slots[(size_t)(bn % SLOTS) * d->n + id];
    if (atomic_load_explicit(&s->tag, memory_order_acquire) != first + 1) {
        d->unmatched++; /* back more than SLOTS buffers late */
        return;
    }
    if (d->m0 == UINT64_MAX) {
        d->m0 = bn + WARM_BUFS;
        atomic_store_explicit(&d->m0_pub, d->m0 + 1, memory_order_release);
    }
    if (bn < d->m0 || bn >= d->m0 + d->nb)
        return;
    uint64_t from = atomic_load_explicit(&s->complete_ns, memory_order_acquire);
    if (from == 0 || from > t) {
        from = atomic_load_explicit(&s->before_ns, memory_order_relaxed);
        d->preempted++;
    }
    double *slot = &d->delay_us[(size_t)(bn - d->m0) * d->n + id];
    if (*slot >= 0) {
        d->dups++;
        return;
    }
    *slot = (double)(t - from) * 1e-3;
    atomic_fetch_add_explicit(&d->back, 1, memory_order_relaxed);
}

static int device_open(device *d, uint32_t n, bool flood, uint64_t nb) {
    memset(d, 0, sizeof *d);
    d->n = n;
    d->flood = flood;
    d->nb = nb;
    d->m0 = UINT64_MAX;
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = "/tmp";
    cfg.on_buffer = flood ? NULL : device_on_buffer;
    cfg.user = d;
    if (!flood) {
        d->slots = calloc((size_t)SLOTS * n, sizeof *d->slots);
        d->delay_us = malloc((size_t)nb * n * sizeof *d->delay_us);
        if (d->slots == NULL || d->delay_us == NULL)
            return -1;
        for (size_t i = 0; i < (size_t)nb * n; i++)
            d->delay_us[i] = -1;
    }
    int rc = rill_server_create(&cfg, &d->srv);
    if (rc != 0) {
        fprintf(stderr, "bench_roundtrip: rill_server_create: %s\n",
                rill_strerror(rc));
        return -1;
    }
    for (uint32_t k = 0; k < n; k++) {
        char name[16];
        snprintf(name, sizeof name, "v%u", k);
        d->vars[k] =
            rill_var_create(d->srv, name, RILL_TYPE_FLOAT, RILL_TS_DENSE);
        if (d->vars[k] == NULL || rill_var_id(d->vars[k]) != k)
            return -1;
    }
    if (pthread_create(&d->rt, NULL, device_rt_main, d) != 0)
        return -1;
    return 0;
}

/* Stop the producer, then the server (which joins the network thread, so
 * the on_buffer results are safe to read afterwards). */
static void device_close(device *d, rill_server_stats *st) {
    atomic_store(&d->stop, true);
    pthread_join(d->rt, NULL);
    rill_server_get_stats(d->srv, st);
    rill_server_destroy(d->srv);
}

static uint64_t window_buffers(void) {
    double secs = env_seconds("RILL_BENCH_ROUNDTRIP_S", 4.0, 300.0);
    return (uint64_t)ceil(secs * RATE / BUF);
}

/* Child: the rill device of a round-trip row. Sends its port, then 'D'
 * when the window is over and every buffer is back (or the grace time
 * passed), then on 's' its rt_result. */
static void device_rt_child(int cmd_fd, int res_fd, void *arg) {
    uint32_t n = (uint32_t)(uintptr_t)arg;
    device d;
    int port = -1;
    rt_result r;
    memset(&r, 0, sizeof r);
    r.n = n;
    uint64_t nb = window_buffers();
    if (device_open(&d, n, false, nb) != 0) {
        (void)bench_write_full(res_fd, &port, sizeof port);
        return;
    }
    port = rill_server_port(d.srv);
    (void)bench_write_full(res_fd, &port, sizeof port);
    uint64_t t0 = rill_clock_now_ns();
    double cpu0 = 0, w0 = 0, cpu1 = 0, w1 = 0;
    bool started = false, done = false;
    while (!done) {
        sleep_ms(5);
        uint64_t m0 = atomic_load_explicit(&d.m0_pub, memory_order_acquire);
        uint64_t f = atomic_load_explicit(&d.frame, memory_order_acquire);
        if (m0 == 0) {
            if (rill_clock_now_ns() - t0 > 15000000000u)
                break; /* nothing came back: r.ok stays 0 */
            continue;
        }
        m0--;
        if (!started && f >= m0 * BUF) {
            started = true;
            cpu0 = process_cpu_s();
            w0 = (double)rill_clock_now_ns() * 1e-9;
        }
        uint64_t end = (m0 + nb) * BUF;
        if (f < end)
            continue;
        if (w1 == 0) {
            cpu1 = process_cpu_s();
            w1 = (double)rill_clock_now_ns() * 1e-9;
        }
        done = atomic_load(&d.back) == nb * n ||
               f >= end + (uint64_t)(GRACE_S * RATE);
        r.ok = 1;
    }
    (void)bench_write_full(res_fd, "D", 1);
    char cmd;
    bench_read_full(cmd_fd, &cmd, 1, 60000);
    rill_server_stats st;
    device_close(&d, &st);
    r.expected = nb * n;
    r.unmatched = d.unmatched;
    r.corrupt = d.corrupt;
    r.dups = d.dups;
    r.preempted = d.preempted;
    r.late_blocks = atomic_load(&d.late);
    r.drops = st.tick_drops + st.client_drops;
    r.device_cpu = w1 > w0 ? (cpu1 - cpu0) / (w1 - w0) * 100.0 : 0;
    summarise(&r, d.delay_us, (size_t)nb * n);
    (void)bench_write_full(res_fd, &r, sizeof r);
    free(d.slots);
    free(d.delay_us);
}

/* ---- Host: rill_client echoing every buffer ------------------------------- */

typedef struct echo_host {
    _Atomic(rill_client *) cl;
    _Atomic uint64_t buffers, dropped, send_errors;
} echo_host;

/* I/O thread. rill_client_send_buffer does not wait for anything: it
 * frames the message into the connection's send queue and wakes the I/O
 * thread (src/client/ws.c), which writes it after this callback returns. */
static void echo_on_buffer(rill_client *from, const rill_client_buffer *b,
                           void *user) {
    (void)from;
    echo_host *h = user;
    atomic_fetch_add_explicit(&h->buffers, 1, memory_order_relaxed);
    if (b->dropped != 0)
        atomic_fetch_add_explicit(&h->dropped, b->dropped,
                                  memory_order_relaxed);
    rill_client *cl = atomic_load_explicit(&h->cl, memory_order_acquire);
    if (cl == NULL ||
        rill_client_send_buffer(cl, b->var_id, b->type, b->values, b->count) !=
            0)
        atomic_fetch_add_explicit(&h->send_errors, 1, memory_order_relaxed);
}

static const char *g_names[MAX_VARS];
static char g_name_buf[MAX_VARS][16];

static void init_names(void) {
    for (uint32_t k = 0; k < MAX_VARS; k++) {
        snprintf(g_name_buf[k], sizeof g_name_buf[k], "v%u", k);
        g_names[k] = g_name_buf[k];
    }
}

/* Connect a native client to the child's port, streaming all n variables
 * from a common tick (a multiple of 1024) with 1024-value buffers. */
static rill_client *host_connect(int port, uint32_t n, rill_client_buffer_fn fn,
                                 void *user, bool aligned, const char *row) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    cfg.on_buffer = fn;
    cfg.user = user;
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        bench_row_failed(row, "rill_client_connect(%s): %s", url, rill_strerror(rc));
        return NULL;
    }
    rill_client_stream_opts opts;
    memset(&opts, 0, sizeof opts); /* start now, no end */
    opts.length = BUF;
    if (aligned) {
        /* A quarter of a second ahead, so that the watch is applied to
         * every variable before the start. */
        rill_client_list *list = NULL;
        rc = rill_client_list_vars(cl, &list);
        if (rc != 0) {
            bench_row_failed(row, "rill_client_list_vars: %s", rill_strerror(rc));
            rill_client_destroy(cl);
            return NULL;
        }
        uint64_t ahead = list->timestamp + (uint64_t)(RATE / 4);
        opts.start = (ahead / BUF + 1) * BUF;
        rill_client_list_free(list);
    }
    rc = rill_client_stream_start(cl, g_names, n, &opts);
    if (rc != 0) {
        bench_row_failed(row, "rill_client_stream_start: %s", rill_strerror(rc));
        rill_client_destroy(cl);
        return NULL;
    }
    return cl;
}

static int timeout_ms(void) {
    double secs = (double)window_buffers() * BUF / RATE;
    return (int)(secs * 1000.0) + 20000;
}

static bool rt_rill(uint32_t n, rt_result *out) {
    char row[64];
    snprintf(row, sizeof row, "round trip rill, %u vars", n);
    bench_child c;
    if (bench_child_start(&c, device_rt_child, (void *)(uintptr_t)n) != 0) {
        bench_row_failed(row, "fork: %s", strerror(errno));
        return false;
    }
    int port = -1;
    bool ok = bench_read_full(c.from, &port, sizeof port, 10000) == 0 && port > 0;
    if (!ok)
        bench_row_failed(row, "the device process did not start");
    echo_host h;
    memset(&h, 0, sizeof h);
    rill_client *cl = ok ? host_connect(port, n, echo_on_buffer, &h, true, row)
                         : NULL;
    ok = cl != NULL;
    atomic_store_explicit(&h.cl, cl, memory_order_release);
    char done = 0;
    if (ok && (bench_read_full(c.from, &done, 1, timeout_ms()) != 0 || done != 'D')) {
        bench_row_failed(row, "the device did not finish");
        ok = false;
    }
    rill_client_destroy(cl);
    (void)bench_write_full(c.to, "s", 1);
    memset(out, 0, sizeof *out);
    if (ok && bench_read_full(c.from, out, sizeof *out, 10000) != 0) {
        bench_row_failed(row, "the device did not report");
        ok = false;
    }
    bench_child_finish(&c, "bench_roundtrip");
    if (ok && !out->ok) {
        bench_row_failed(row, "no buffer came back within 15 s");
        ok = false;
    }
    if (ok)
        fprintf(stderr,
                "bench_roundtrip: rill %3u vars: %llu of %llu buffers back, "
                "host saw %llu buffers (%llu dropped, %llu send errors); "
                "device: %llu unmatched, %llu corrupt, %llu dups, %llu "
                "server drops, %llu completion times from before the set, "
                "%llu late blocks, %.1f%% CPU\n",
                n, (unsigned long long)out->back,
                (unsigned long long)out->expected,
                (unsigned long long)atomic_load(&h.buffers),
                (unsigned long long)atomic_load(&h.dropped),
                (unsigned long long)atomic_load(&h.send_errors),
                (unsigned long long)out->unmatched,
                (unsigned long long)out->corrupt,
                (unsigned long long)out->dups, (unsigned long long)out->drops,
                (unsigned long long)out->preempted,
                (unsigned long long)out->late_blocks, out->device_cpu);
    return ok;
}

/* ---- Baseline: the same traffic on raw TCP ------------------------------- */

typedef struct tcp_dev {
    int fd;
    uint32_t n;
    uint64_t nb;
    double *delay_us; /* [nb][n] */
    _Atomic uint64_t back;
    uint64_t unmatched, dups;
} tcp_dev;

/* Device side: read the returned messages; header = id u32, buffer number
 * u32, completion time u64. */
static void *tcp_dev_rx(void *arg) {
    tcp_dev *t = arg;
    uint8_t *rx = malloc(64u << 10);
    size_t len = 0;
    while (rx != NULL) {
        ssize_t k = recv(t->fd, rx + len, (64u << 10) - len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
        uint64_t now = rill_clock_now_ns();
        size_t off = 0;
        for (; len - off >= TCP_MSG; off += TCP_MSG) {
            uint32_t id, bn;
            uint64_t sent;
            memcpy(&id, rx + off, 4);
            memcpy(&bn, rx + off + 4, 4);
            memcpy(&sent, rx + off + 8, 8);
            if (id >= t->n || sent > now) {
                t->unmatched++;
                continue;
            }
            if (bn < WARM_BUFS || bn >= WARM_BUFS + t->nb)
                continue;
            double *slot = &t->delay_us[(size_t)(bn - WARM_BUFS) * t->n + id];
            if (*slot >= 0) {
                t->dups++;
                continue;
            }
            *slot = (double)(now - sent) * 1e-3;
            atomic_fetch_add_explicit(&t->back, 1, memory_order_relaxed);
        }
        memmove(rx, rx + off, len - off);
        len -= off;
    }
    free(rx);
    return NULL;
}

/* Child: every buffer period, "complete" n buffers and write them. */
static void tcp_rt_child(int cmd_fd, int res_fd, void *arg) {
    uint32_t n = (uint32_t)(uintptr_t)arg;
    rt_result r;
    memset(&r, 0, sizeof r);
    r.n = n;
    tcp_dev t;
    memset(&t, 0, sizeof t);
    t.n = n;
    t.nb = window_buffers();
    t.delay_us = malloc((size_t)t.nb * n * sizeof *t.delay_us);
    uint8_t *msg = calloc(1, TCP_MSG);
    int port = -1;
    int ls = t.delay_us != NULL && msg != NULL ? bench_tcp_listen(&port) : -1;
    (void)bench_write_full(res_fd, &port, sizeof port);
    if (ls < 0)
        return;
    for (size_t i = 0; i < (size_t)t.nb * n; i++)
        t.delay_us[i] = -1;
    t.fd = accept(ls, NULL, NULL);
    close(ls);
    if (t.fd < 0)
        return;
    bench_nodelay(t.fd);
    pthread_t rx;
    if (pthread_create(&rx, NULL, tcp_dev_rx, &t) != 0)
        return;
    const double period_ns = (double)BUF * 1e9 / RATE;
    uint64_t start = rill_clock_now_ns() + 1000000;
    uint64_t total = WARM_BUFS + t.nb;
    double cpu0 = 0, w0 = 0;
    bool ok = true;
    for (uint64_t b = 0; ok && b < total; b++) {
        uint64_t deadline = start + (uint64_t)((double)b * period_ns);
        rill_clock_sleep_until_ns(deadline);
        uint64_t now = rill_clock_now_ns();
        if (now > deadline + (uint64_t)(period_ns / 16)) /* a 64-frame block */
            r.late_blocks++;
        if (b == WARM_BUFS) {
            cpu0 = process_cpu_s();
            w0 = (double)now * 1e-9;
        }
        for (uint32_t k = 0; ok && k < n; k++) {
            uint32_t bn = (uint32_t)b;
            memcpy(msg, &k, 4);
            memcpy(msg + 4, &bn, 4);
            memcpy(msg + 8, &now, 8);
            float v = (float)(b * BUF);
            memcpy(msg + 16, &v, 4);
            ok = send_all(t.fd, msg, TCP_MSG) == 0;
        }
    }
    double cpu1 = process_cpu_s(), w1 = (double)rill_clock_now_ns() * 1e-9;
    uint64_t grace = rill_clock_now_ns() + (uint64_t)(GRACE_S * 1e9);
    while (atomic_load(&t.back) < t.nb * n && rill_clock_now_ns() < grace)
        sleep_ms(2);
    shutdown(t.fd, SHUT_RDWR);
    pthread_join(rx, NULL);
    close(t.fd);
    (void)bench_write_full(res_fd, "D", 1);
    char cmd;
    bench_read_full(cmd_fd, &cmd, 1, 60000);
    r.ok = ok;
    r.expected = t.nb * n;
    r.unmatched = t.unmatched;
    r.dups = t.dups;
    r.device_cpu = w1 > w0 ? (cpu1 - cpu0) / (w1 - w0) * 100.0 : 0;
    summarise(&r, t.delay_us, (size_t)t.nb * n);
    (void)bench_write_full(res_fd, &r, sizeof r);
    free(t.delay_us);
    free(msg);
}

/* Host side of the baseline: write back every whole message read. */
static void *tcp_echo_main(void *arg) {
    int fd = *(int *)arg;
    uint8_t *rx = malloc(64u << 10);
    size_t len = 0;
    while (rx != NULL) {
        ssize_t k = recv(fd, rx + len, (64u << 10) - len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
        size_t whole = len / TCP_MSG * TCP_MSG;
        if (whole != 0 && send_all(fd, rx, whole) != 0)
            break;
        memmove(rx, rx + whole, len - whole);
        len -= whole;
    }
    free(rx);
    return NULL;
}

static bool rt_tcp(uint32_t n, rt_result *out) {
    char row[64];
    snprintf(row, sizeof row, "round trip raw TCP, %u vars", n);
    bench_child c;
    if (bench_child_start(&c, tcp_rt_child, (void *)(uintptr_t)n) != 0) {
        bench_row_failed(row, "fork: %s", strerror(errno));
        return false;
    }
    int port = -1;
    bool ok = bench_read_full(c.from, &port, sizeof port, 10000) == 0 && port > 0;
    int fd = ok ? bench_tcp_connect(port) : -1;
    pthread_t th;
    bool started = fd >= 0 && pthread_create(&th, NULL, tcp_echo_main, &fd) == 0;
    ok = started;
    if (!ok)
        bench_row_failed(row, "no connection to the device process");
    char done = 0;
    if (ok && (bench_read_full(c.from, &done, 1, timeout_ms()) != 0 || done != 'D')) {
        bench_row_failed(row, "the device did not finish");
        ok = false;
    }
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    if (started)
        pthread_join(th, NULL);
    if (fd >= 0)
        close(fd);
    (void)bench_write_full(c.to, "s", 1);
    memset(out, 0, sizeof *out);
    if (ok && (bench_read_full(c.from, out, sizeof *out, 10000) != 0 || !out->ok)) {
        bench_row_failed(row, "the device did not report");
        ok = false;
    }
    bench_child_finish(&c, "bench_roundtrip");
    if (ok)
        fprintf(stderr,
                "bench_roundtrip: TCP  %3u vars: %llu of %llu buffers back; "
                "%llu unmatched, %llu dups, %llu late sends, %.1f%% CPU\n",
                n, (unsigned long long)out->back,
                (unsigned long long)out->expected,
                (unsigned long long)out->unmatched,
                (unsigned long long)out->dups,
                (unsigned long long)out->late_blocks, out->device_cpu);
    return ok;
}

/* ---- Client CPU per GB ------------------------------------------------------ */

/* Marks taken on the receiving thread itself: the main thread asks for
 * mark k (mark_req = k) and waits for mark_ack == k. */
typedef struct cpu_meter {
    atomic_uint mark_req, mark_ack;
    unsigned mark_done; /* receiving thread only */
    uint64_t bytes;     /* receiving thread only */
    double cpu[2], wall[2];
    uint64_t at[2];
} cpu_meter;

static void meter_count(cpu_meter *m, uint64_t bytes) {
    m->bytes += bytes;
    unsigned req = atomic_load_explicit(&m->mark_req, memory_order_acquire);
    if (req != m->mark_done && req >= 1 && req <= 2) {
        m->cpu[req - 1] = thread_cpu_s();
        m->wall[req - 1] = (double)rill_clock_now_ns() * 1e-9;
        m->at[req - 1] = m->bytes;
        m->mark_done = req;
        atomic_store_explicit(&m->mark_ack, req, memory_order_release);
    }
}

/* Take mark k; false if the receiver did not see it within 2 s (nothing
 * arriving). */
static bool meter_mark(cpu_meter *m, unsigned k) {
    atomic_store_explicit(&m->mark_req, k, memory_order_release);
    for (int i = 0; i < 2000; i++) {
        if (atomic_load_explicit(&m->mark_ack, memory_order_acquire) == k)
            return true;
        sleep_ms(1);
    }
    return false;
}

/* Measure over the window: warm up, mark, wait, mark. */
static bool meter_run(cpu_meter *m, const char *row) {
    double secs = env_seconds("RILL_BENCH_ROUNDTRIP_CPU_S", 2.0, 60.0);
    sleep_ms(500);
    if (!meter_mark(m, 1)) {
        bench_row_failed(row, "no data arrived");
        return false;
    }
    sleep_ms((unsigned)(secs * 1000.0));
    if (!meter_mark(m, 2)) {
        bench_row_failed(row, "data stopped arriving");
        return false;
    }
    return true;
}

static double meter_s_per_gb(const cpu_meter *m) {
    return (m->cpu[1] - m->cpu[0]) / ((double)(m->at[1] - m->at[0]) * 1e-9);
}

static double meter_mbps(const cpu_meter *m) {
    return (double)(m->at[1] - m->at[0]) / (m->wall[1] - m->wall[0]) * 1e-6;
}

typedef struct flood_result {
    int ok;
    uint64_t produced, drops;
} flood_result;

static void flood_rill_child(int cmd_fd, int res_fd, void *arg) {
    uint32_t n = (uint32_t)(uintptr_t)arg;
    device d;
    int port = -1;
    flood_result r;
    memset(&r, 0, sizeof r);
    if (device_open(&d, n, true, 0) != 0) {
        (void)bench_write_full(res_fd, &port, sizeof port);
        return;
    }
    port = rill_server_port(d.srv);
    (void)bench_write_full(res_fd, &port, sizeof port);
    char cmd;
    bench_read_full(cmd_fd, &cmd, 1, 60000);
    rill_server_stats st;
    device_close(&d, &st);
    r.ok = 1;
    r.produced = st.buffers_produced;
    r.drops = st.tick_drops + st.client_drops;
    (void)bench_write_full(res_fd, &r, sizeof r);
}

static void count_on_buffer(rill_client *cl, const rill_client_buffer *b,
                            void *user) {
    (void)cl;
    meter_count(user, 32u + (uint64_t)b->count * 4u);
}

static bool cpu_rill(double *s_per_gb, double *mbps) {
    const char *row = "client CPU per GB, rill";
    bench_child c;
    if (bench_child_start(&c, flood_rill_child, (void *)(uintptr_t)FLOOD_VARS) != 0) {
        bench_row_failed(row, "fork: %s", strerror(errno));
        return false;
    }
    int port = -1;
    bool ok = bench_read_full(c.from, &port, sizeof port, 10000) == 0 && port > 0;
    if (!ok)
        bench_row_failed(row, "the device process did not start");
    cpu_meter m;
    memset(&m, 0, sizeof m);
    rill_client *cl = ok ? host_connect(port, FLOOD_VARS, count_on_buffer, &m,
                                        false, row)
                         : NULL;
    ok = cl != NULL && meter_run(&m, row);
    rill_client_destroy(cl);
    (void)bench_write_full(c.to, "s", 1);
    flood_result r;
    memset(&r, 0, sizeof r);
    if (ok && (bench_read_full(c.from, &r, sizeof r, 10000) != 0 || !r.ok)) {
        bench_row_failed(row, "the device did not report");
        ok = false;
    }
    bench_child_finish(&c, "bench_roundtrip");
    if (!ok)
        return false;
    *s_per_gb = meter_s_per_gb(&m);
    *mbps = meter_mbps(&m);
    fprintf(stderr,
            "bench_roundtrip: CPU rill: %.0f MB/s received, client I/O "
            "thread %.3f s CPU for %.1f MB; device produced %llu buffers, "
            "dropped %llu (unpaced: the producer outruns the network)\n",
            *mbps, m.cpu[1] - m.cpu[0], (double)(m.at[1] - m.at[0]) * 1e-6,
            (unsigned long long)r.produced, (unsigned long long)r.drops);
    return true;
}

/* Child: write as fast as the socket takes it. */
static void flood_tcp_child(int cmd_fd, int res_fd, void *arg) {
    uint32_t n = (uint32_t)(uintptr_t)arg;
    (void)cmd_fd;
    (void)n;
    int port = -1;
    int ls = bench_tcp_listen(&port);
    (void)bench_write_full(res_fd, &port, sizeof port);
    if (ls < 0)
        return;
    int fd = accept(ls, NULL, NULL);
    close(ls);
    if (fd < 0)
        return;
    bench_nodelay(fd);
    /* Batches of 256 KiB, of the order of the server's writes of queued
     * messages (up to 64 of them, 512 KiB, a sendmsg: docs/ARCHITECTURE.md,
     * "Throughput"), so the reader gets the same large reads. */
    static uint8_t chunk[READ_CHUNK];
    while (send_all(fd, chunk, sizeof chunk) == 0) {
    }
    close(fd);
}

typedef struct tcp_reader {
    int fd;
    cpu_meter *m;
} tcp_reader;

static void *tcp_reader_main(void *arg) {
    tcp_reader *t = arg;
    uint8_t *buf = malloc(READ_CHUNK);
    while (buf != NULL) {
        ssize_t k = recv(t->fd, buf, READ_CHUNK, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        meter_count(t->m, (uint64_t)k);
    }
    free(buf);
    return NULL;
}

static bool cpu_tcp(double *s_per_gb, double *mbps) {
    const char *row = "client CPU per GB, raw TCP";
    bench_child c;
    if (bench_child_start(&c, flood_tcp_child, (void *)(uintptr_t)0) != 0) {
        bench_row_failed(row, "fork: %s", strerror(errno));
        return false;
    }
    int port = -1;
    bool ok = bench_read_full(c.from, &port, sizeof port, 10000) == 0 && port > 0;
    cpu_meter m;
    memset(&m, 0, sizeof m);
    tcp_reader t = {ok ? bench_tcp_connect(port) : -1, &m};
    pthread_t th;
    bool started =
        t.fd >= 0 && pthread_create(&th, NULL, tcp_reader_main, &t) == 0;
    ok = started;
    if (!ok)
        bench_row_failed(row, "no connection to the device process");
    ok = ok && meter_run(&m, row);
    if (t.fd >= 0)
        shutdown(t.fd, SHUT_RDWR);
    if (started)
        pthread_join(th, NULL);
    if (t.fd >= 0)
        close(t.fd);
    bench_child_finish(&c, "bench_roundtrip");
    if (!ok)
        return false;
    *s_per_gb = meter_s_per_gb(&m);
    *mbps = meter_mbps(&m);
    fprintf(stderr,
            "bench_roundtrip: CPU raw TCP: %.0f MB/s received, reader thread "
            "%.3f s CPU for %.1f MB\n",
            *mbps, m.cpu[1] - m.cpu[0], (double)(m.at[1] - m.at[0]) * 1e-6);
    return true;
}

/* ---- Report ------------------------------------------------------------------ */

static void report_rt(const rt_result *r, const rt_result *t) {
    char name[96];
    bool target = r->n == 100;
    const char *vars = r->n == 1 ? "var" : "vars";
    struct {
        const char *what;
        double v, base;
        const char *target;
        double limit;
    } rows[] = {
        {"mean", r->mean_ms, t->mean_ms, target ? "<= 1 ms" : NULL, 1.0},
        {"p50", r->p50_ms, t->p50_ms, NULL, 0},
        {"p99", r->p99_ms, t->p99_ms, NULL, 0},
        {"max", r->max_ms, t->max_ms, target ? "<= 10 ms" : NULL, 10.0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(name, sizeof name, "round trip %u %s: %s", r->n, vars,
                 rows[i].what);
        /* Lost buffers would make every statistic look better than it
         * is: a row with losses misses its target. */
        bool met = rows[i].v <= rows[i].limit && r->back == r->expected;
        bench_report(&(bench_row){SUITE, name, rows[i].v, "ms",
                                  "raw TCP", rows[i].base,
                                  rows[i].base > 0 ? rows[i].v / rows[i].base
                                                   : 0,
                                  rows[i].target,
                                  rows[i].target ? met : -1});
    }
    uint64_t lost = r->expected - r->back;
    snprintf(name, sizeof name, "round trip %u %s: lost of %llu", r->n, vars,
             (unsigned long long)r->expected);
    /* (Raw TCP's losses are in the summary table.) */
    bench_report(&(bench_row){SUITE, name, (double)lost, "bufs", NULL, 0, 0,
                              "0", lost == 0});
}

static void print_summary(const rt_result *r, const rt_result *t, size_t n) {
    printf("\nround trip, device -> host -> device, %u-value float buffers at "
           "%.1f kHz, %.1f s per row (pybela: 7.6 ms mean at 1 var, 476 ms at "
           "100)\n",
           BUF, RATE / 1000, (double)window_buffers() * BUF / RATE);
    printf("%5s %8s | %9s %9s %9s %9s %5s | %9s %9s %9s %9s %5s\n", "vars",
           "buffers", "rill mean", "p50", "p99", "max", "lost", "TCP mean",
           "p50", "p99", "max", "lost");
    for (size_t i = 0; i < n; i++)
        printf("%5u %8llu | %6.3f ms %6.3f ms %6.3f ms %6.3f ms %5llu | "
               "%6.3f ms %6.3f ms %6.3f ms %6.3f ms %5llu\n",
               r[i].n, (unsigned long long)r[i].expected, r[i].mean_ms,
               r[i].p50_ms, r[i].p99_ms, r[i].max_ms,
               (unsigned long long)(r[i].expected - r[i].back), t[i].mean_ms,
               t[i].p50_ms, t[i].p99_ms, t[i].max_ms,
               (unsigned long long)(t[i].expected - t[i].back));
    fflush(stdout);
}

/* The figures depend on what else the machine runs: say how busy it was. */
static void print_load(const char *when) {
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("bench_roundtrip: load average %s: %.2f %.2f %.2f on %ld "
               "cores\n",
               when, l[0], l[1], l[2], sysconf(_SC_NPROCESSORS_ONLN));
}

/* RILL_BENCH_ROUNDTRIP_VARS, e.g. "100" or "1,10": the variable counts
 * to run (default 1,10,100; "0" none). */
static size_t vars_list(uint32_t *ns, size_t cap) {
    const char *env = getenv("RILL_BENCH_ROUNDTRIP_VARS");
    if (env == NULL || *env == '\0')
        env = "1,10,100";
    size_t n = 0;
    for (const char *p = env; *p != '\0' && n < cap;) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            break;
        if (v >= 1 && v <= MAX_VARS)
            ns[n++] = (uint32_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(void) {
    bench_set_name("bench_roundtrip");
    rill_set_log_callback(bench_log, RILL_LOG_WARN, NULL);
    signal(SIGPIPE, SIG_IGN);
    init_names();
    print_load("at start");
    bench_header("round trip (device -> host -> device) and client CPU");
    uint32_t ns[8];
    size_t nn = vars_list(ns, 8);
    rt_result rr[8], tr[8];
    size_t done = 0;
    for (size_t i = 0; i < nn; i++) {
        if (!rt_tcp(ns[i], &tr[i]) || !rt_rill(ns[i], &rr[i]))
            continue;
        report_rt(&rr[i], &tr[i]);
        rr[done] = rr[i];
        tr[done] = tr[i];
        done++;
    }
    double rill_gb = 0, rill_mbps = 0, tcp_gb = 0, tcp_mbps = 0;
    const char *cpu_s = getenv("RILL_BENCH_ROUNDTRIP_CPU_S");
    bool cpu = cpu_s == NULL || strcmp(cpu_s, "0") != 0;
    if (cpu && cpu_tcp(&tcp_gb, &tcp_mbps) && cpu_rill(&rill_gb, &rill_mbps)) {
        char name[96];
        snprintf(name, sizeof name, "client CPU per GB received (%.0f MB/s)",
                 rill_mbps);
        bench_report(&(bench_row){SUITE, name, rill_gb, "s/GB",
                                  "raw TCP reader", tcp_gb, rill_gb / tcp_gb,
                                  NULL, -1});
    }
    if (done != 0)
        print_summary(rr, tr, done);
    print_load("at end");
    return bench_failed() ? 1 : 0;
}
