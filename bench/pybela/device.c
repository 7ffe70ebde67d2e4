/* bench_pybela_device: the device side of pybela's round-trip benchmark
 * (BelaPlatform/pybela benchmark/bela2python2bela-benchmark.py: an async
 * on_buffer callback echoes each buffer's ref_timestamp back with
 * send_buffer; the device measures the round trip), on include/rill/server.h.
 *
 * It has N int variables auxWatcherVar0 .. auxWatcherVar{N-1} (dense, 1024
 * values per Bela buffer), each set to the frame number every frame at
 * 44.1 kHz: a real-time thread runs 64-frame blocks on absolute deadlines
 * (clock_nanosleep), tick then one set per variable per frame. A client
 * that watches several variables with one command starts them on the same
 * tick, so their buffers complete in the same frame, as on a Bela.
 *
 * What is measured, per returned buffer: from the frame that completes it
 * (the monotonic clock read on the real-time thread right before the
 * frame's tick and sets: the buffer leaves for the network thread inside
 * its last set, so never earlier; the figure includes the frame's sets, a
 * few µs) to the start of the device's buffer callback for the echo (the
 * server's network thread, after libwebsockets has received it). The time
 * is recorded before the sets so that an echo always finds it: recorded
 * after them, a real-time thread preempted between the set that sent a
 * buffer and the recording (a loaded machine) let the echo come first, and
 * it was miscounted as lost or as a negative delay. The echo's
 * values[0] is the buffer's ref_timestamp (its first tick); the buffer
 * completed at ref + 1023, whose time the real-time thread left in a table
 * of the last SLOTS frames.
 *
 * Protocol on stdin/stdout (bench/pybela/roundtrip.py drives it):
 *   prints "listening on ws://127.0.0.1:PORT" once serving;
 *   "measure S\n": a window of S seconds starts now; S + GRACE_S later it
 *   prints one JSON line: buffers completed in the window (from the
 *   server's count), echoes of them received, unknown or repeated echoes,
 *   buffers the server dropped, and the delays' mean, p1, p50, p99 and
 *   max (p1: about the first echo of a frame's burst, before any waits
 *   for the callbacks ahead of it);
 *   "quit\n" or EOF: stop and exit 0.
 *
 *   bench_pybela_device [--vars N] [--port P]
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define RATE 44100.0
#define BLOCK 64u
#define BUF 1024u
#define SLOTS (1u << 19) /* frames of completion times kept: 11.9 s */
#define MAX_VARS 128u
#define MAX_ECHOES (1u << 20)
#define GRACE_S 1.0

typedef struct slot {
    _Atomic uint64_t frame; /* frame + 1 (0: never) */
    _Atomic uint64_t ns;    /* time right after the frame's sets */
} slot;

typedef struct device {
    rill_server *srv;
    rill_var *v[MAX_VARS];
    unsigned n;
    slot *slots;
    atomic_bool stop;
    pthread_t rt;
    /* Network thread only, between "measure" and the report. */
    pthread_mutex_t lock;
    bool measuring;
    uint64_t t0, t1;      /* the window, monotonic ns */
    double *delays;       /* us */
    size_t n_delays;
    uint64_t unmatched, dups;
    uint8_t *seen;        /* per (buffer index mod, var): echoed already */
    uint64_t lo, hi;      /* lowest and highest buffer index echoed */
} device;

static device dev;

static void *rt_main(void *arg) {
    (void)arg;
    uint64_t frame = 0, next = rill_clock_now_ns();
    uint64_t period = (uint64_t)(BLOCK * 1e9 / RATE);
    while (!atomic_load_explicit(&dev.stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < BLOCK; i++, frame++) {
            slot *s = &dev.slots[frame % SLOTS];
            atomic_store_explicit(&s->ns, rill_clock_now_ns(), memory_order_relaxed);
            /* Release: a reader that sees this frame sees its time. */
            atomic_store_explicit(&s->frame, frame + 1, memory_order_release);
            rill_server_tick(dev.srv, frame);
            for (unsigned k = 0; k < dev.n; k++)
                rill_var_set_int32(dev.v[k], (int32_t)frame);
        }
        next += period;
        rill_clock_sleep_until_ns(next);
    }
    return NULL;
}

/* Network thread: an echo. values[0] is the echoed buffer's first tick. */
static void on_buffer(rill_server *srv, uint32_t id, rill_type type,
                      const void *values, size_t count, void *user) {
    (void)srv;
    (void)user;
    uint64_t now = rill_clock_now_ns();
    if (count == 0 || id >= dev.n)
        return;
    double first = rill_value_to_double(type, values);
    if (!(first >= 0))
        return;
    uint64_t done = (uint64_t)first + BUF - 1;
    slot *s = &dev.slots[done % SLOTS];
    pthread_mutex_lock(&dev.lock);
    if (dev.measuring) {
        if (atomic_load_explicit(&s->frame, memory_order_acquire) != done + 1) {
            dev.unmatched++;
        } else {
            uint64_t t = atomic_load_explicit(&s->ns, memory_order_relaxed);
            size_t key = (size_t)((done / BUF) % 4096) * MAX_VARS + id;
            if (t >= dev.t0 && t < dev.t1) {
                if (dev.seen[key]) {
                    dev.dups++;
                } else if (dev.n_delays < MAX_ECHOES) {
                    dev.seen[key] = 1;
                    dev.delays[dev.n_delays++] = (double)(now - t) * 1e-3;
                    uint64_t idx = done / BUF;
                    if (dev.n_delays == 1 || idx < dev.lo)
                        dev.lo = idx;
                    if (dev.n_delays == 1 || idx > dev.hi)
                        dev.hi = idx;
                }
            }
        }
    }
    pthread_mutex_unlock(&dev.lock);
}

static void measure(double seconds) {
    rill_server_stats a, b;
    pthread_mutex_lock(&dev.lock);
    memset(dev.seen, 0, 4096u * MAX_VARS);
    dev.n_delays = 0;
    dev.unmatched = dev.dups = 0;
    dev.t0 = rill_clock_now_ns();
    dev.t1 = dev.t0 + (uint64_t)(seconds * 1e9);
    dev.measuring = true;
    pthread_mutex_unlock(&dev.lock);
    rill_server_get_stats(dev.srv, &a);
    struct timespec w = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    nanosleep(&w, NULL);
    rill_server_get_stats(dev.srv, &b);
    struct timespec g = {(time_t)GRACE_S, (long)((GRACE_S - floor(GRACE_S)) * 1e9)};
    nanosleep(&g, NULL);
    pthread_mutex_lock(&dev.lock);
    dev.measuring = false;
    size_t n = dev.n_delays;
    double sum = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        sum += dev.delays[i];
        if (dev.delays[i] > mx)
            mx = dev.delays[i];
    }
    double p1 = bench_percentile(dev.delays, n, 1.0);
    double p50 = bench_percentile(dev.delays, n, 50.0);
    double p99 = bench_percentile(dev.delays, n, 99.0);
    /* Buffers missing between the first and the last echoed (every
     * variable completes one per index): lost on the way. Those completed
     * in the window but after the last echo are in completed - back. */
    uint64_t within = n ? (dev.hi - dev.lo + 1) * dev.n - n : 0;
    printf("{\"vars\":%u,\"completed\":%llu,\"back\":%zu,\"missing_within\":%llu,"
           "\"unmatched\":%llu,"
           "\"dups\":%llu,\"tick_drops\":%llu,\"client_drops\":%llu,"
           "\"mean_ms\":%.4f,\"p1_ms\":%.4f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
           "\"max_ms\":%.4f}\n",
           dev.n, (unsigned long long)(b.buffers_produced - a.buffers_produced), n,
           (unsigned long long)within,
           (unsigned long long)dev.unmatched, (unsigned long long)dev.dups,
           (unsigned long long)(b.tick_drops - a.tick_drops),
           (unsigned long long)(b.client_drops - a.client_drops),
           n ? sum / (double)n * 1e-3 : 0.0, p1 * 1e-3, p50 * 1e-3, p99 * 1e-3,
           mx * 1e-3);
    fflush(stdout);
    pthread_mutex_unlock(&dev.lock);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"vars", required_argument, NULL, 'n'},
        {"port", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.project_name = "bela2python2bela-benchmark";
    dev.n = 100;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n')
            dev.n = (unsigned)atoi(optarg);
        else if (c == 'p')
            cfg.port = atoi(optarg);
        else
            return 2;
    }
    if (dev.n == 0 || dev.n > MAX_VARS)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    rill_set_log_callback(bench_log, RILL_LOG_WARN, NULL);
    bench_set_name("bench_pybela_device");
    dev.slots = calloc(SLOTS, sizeof *dev.slots);
    dev.delays = malloc(MAX_ECHOES * sizeof *dev.delays);
    dev.seen = calloc(4096u * MAX_VARS, 1);
    pthread_mutex_init(&dev.lock, NULL);
    cfg.sample_rate = RATE;
    cfg.on_buffer = on_buffer;
    if (dev.slots == NULL || dev.delays == NULL || dev.seen == NULL ||
        rill_server_create(&cfg, &dev.srv) != 0) {
        fprintf(stderr, "bench_pybela_device: cannot start the server\n");
        return 1;
    }
    for (unsigned k = 0; k < dev.n; k++) {
        char name[32];
        snprintf(name, sizeof name, "auxWatcherVar%u", k);
        dev.v[k] = rill_var_create(dev.srv, name, RILL_TYPE_INT32, RILL_TS_DENSE);
        if (dev.v[k] == NULL)
            return 1;
    }
    atomic_init(&dev.stop, false);
    if (pthread_create(&dev.rt, NULL, rt_main, NULL) != 0)
        return 1;
    printf("bench_pybela_device: listening on ws://127.0.0.1:%d (%u variables)\n",
           rill_server_port(dev.srv), dev.n);
    fflush(stdout);
    char line[128];
    while (fgets(line, sizeof line, stdin) != NULL) {
        double s;
        if (sscanf(line, "measure %lf", &s) == 1 && s > 0 && s < 60)
            measure(s);
        else if (strncmp(line, "quit", 4) == 0)
            break;
    }
    atomic_store(&dev.stop, true);
    pthread_join(dev.rt, NULL);
    rill_server_destroy(dev.srv);
    free(dev.slots);
    free(dev.delays);
    free(dev.seen);
    return 0;
}
