/* rill against its peers: the four stream shapes of issue 14, with raw
 * TCP on loopback measured in the same run as the baseline and Lab
 * Streaming Layer's published figures for this kind of machine (2 cores,
 * loopback, liblsl 1.17.7 outlet -> inlet, one process each) printed
 * beside them as the reference.
 *
 * Shapes (one dense float variable per channel, native stream `length` =
 * the block of values per buffer):
 *
 *   flood 64 ch x 1024    throughput, MB/s of values received
 *   flood 512 ch x 1024   throughput
 *   paced 8 ch x 64 at 48 kHz       latency p50 / p99
 *   paced 100 ch x 1024 at 44.1 kHz latency p50 / p99
 *
 * Every rill row is a real rill_server with a producer thread in a child
 * process (fork, no exec) and a native rill_client in this process, whose
 * on_buffer checks every buffer it gets (its length, its first tick's
 * continuity per variable, sampled values: channel k carries the frame
 * number plus k, exact in a float) and counts it. The producer works as
 * an audio program does, in 64-frame blocks: one rill_server_tick per
 * block, then each channel's 64 values with one rill_var_set_block (LSL's
 * outlet takes chunks the same way). The "set per value" rows repeat the
 * floods with a tick per frame and one rill_var_set_float per channel per
 * frame, to show what that API costs (no target).
 *
 * Flood. The producer ticks and sets every channel once per frame as fast
 * as it can, but stays at most FLOOD_WINDOW bytes ahead of what the client
 * has received (a counter in shared memory): so the row measures the rate
 * the whole path sustains without loss, as a device producing at that
 * rate would see it, and the drop counters (the server's tick and client
 * drops, the client's gaps) must stay 0 with the default queues.
 * Throughput: value bytes the client received over FLOOD_S seconds after
 * FLOOD_WARM_S of warm-up. Raw TCP baseline: one process writes 256 KiB
 * chunks as fast as it can, the other reads them (the kernel's loopback
 * copy alone, the ceiling for any transport here).
 *
 * Paced. The producer runs 64-frame blocks on absolute deadlines at the
 * rate, ticking and setting every channel per frame, and writes the
 * monotonic time right after each block's last set into shared memory.
 * The client notes each buffer's arrival (monotonic, the same clock) at
 * the start of its callback; afterwards every buffer is matched with the
 * block that completed it: latency = arrival - end of that block (0 when
 * it arrived before the block's last set was over, which the rows count:
 * buffers of the first channels complete before the others are set).
 * Raw TCP baseline: the same blocks and timestamps, and at each block that
 * completes buffers, one send of that many (16 + 4 x length)-byte
 * messages, timed on arrival the same way.
 *
 * Busy polling: the paced shapes again with the client's
 * rill_client_config.busy_poll_us above the buffer period, so that its I/O
 * thread never sleeps while the stream runs: the latency without the
 * kernel waking a sleeping thread (on this kind of virtual machine up to
 * hundreds of microseconds late, raw TCP's p99 too), at the price of a
 * core (the client CPU row).
 *
 * Idle CPU: `rill serve --source demo` (this build's rill), alone and with
 * one connected native client that streams nothing, over IDLE_S seconds
 * (the process's threads' run time from /proc/<pid>/task/<tid>/schedstat).
 *
 * Every row is the median of PEER_RUNS runs (RILL_BENCH_PEER_RUNS, at
 * least 3), each a fresh server process. The load average is printed at
 * the start and the end: the machine is shared. Knobs:
 * RILL_BENCH_PEER_SHAPES=flood64,flood512,paced8,paced100,paced8busy,
 * paced100busy,flood64v,flood512v,idle (any subset).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"

#define SUITE "peers"
#define BLOCK 64u
#define MAX_CH 512u
#define VALUE_MASK 0xFFFFFFu /* channel values stay exact in a float */
/* Bytes of values in flight, at most: with the 2 MiB that 512 channels
 * complete in one frame, still less than the server's 8 MiB ring and its
 * 8 MiB queue for the client (the defaults). */
#define FLOOD_WINDOW (4u << 20)
#define FLOOD_WARM_S 0.4
#define FLOOD_S 1.5
#define PACED_WARM_S 0.4
#define PACED_S 3.0
#define MAX_BLOCKS (1u << 16) /* block end times kept: 87 s at 48 kHz */
#define MAX_ARRIVALS (1u << 16)
#define IDLE_S 5.0
#define TCP_CHUNK (256u << 10)

static double env_num(const char *name, double dflt) {
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? strtod(s, NULL) : dflt;
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u),
                          (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

static double process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float value_at(uint64_t frame, uint32_t ch) {
    return (float)((frame + ch) & VALUE_MASK);
}

/* ---- What the two processes share ---------------------------------------- */

typedef enum shape_kind { FLOOD, PACED } shape_kind;

typedef struct shape {
    const char *key;   /* RILL_BENCH_PEER_SHAPES */
    const char *label; /* in the rows */
    shape_kind kind;
    uint32_t channels;
    uint32_t length; /* values per buffer */
    double rate;     /* paced: frames per second */
    /* LSL's published figures for this machine kind (issue 14). */
    const char *lsl;
    /* The producer sets one value per channel per frame (rill_var_set_float)
     * instead of a block per channel (rill_var_set_block). */
    bool per_value;
    /* The client's rill_client_config.busy_poll_us. */
    int busy_poll_us;
} shape;

/* mmap'd MAP_SHARED before the fork: the producer writes, the client
 * reads, and the other way round for `received`. */
typedef struct shared {
    _Atomic uint64_t start;    /* the streams' start tick (client) */
    _Atomic uint64_t received; /* buffers the client has (client) */
    atomic_bool stop;          /* the producer stops (parent) */
    _Atomic uint64_t frames;   /* produced so far (producer) */
    _Atomic uint64_t late;     /* paced blocks begun > 1 block late */
    /* Paced: block b's last set was over at block_end[b] (0: not yet). */
    _Atomic uint64_t block_end[MAX_BLOCKS];
    /* The device's results, written before it answers 'R'. */
    double cpu_pct; /* the device process over the measured window */
    uint64_t tick_drops, client_drops, produced;
    int ok;
} shared;

/* ---- The device: rill_server and its producer ----------------------------- */

typedef struct device {
    const shape *sh;
    shared *sh_mem;
    rill_server *srv;
    rill_var *vars[MAX_CH];
    pthread_t thread;
    float block[BLOCK]; /* one channel's values for one block */
} device;

/* One block of 64 frames from frame f: the way an audio program hands a
 * block over (one tick, then each channel's 64 values at once), or, for
 * the per-value rows, one tick and one set per channel for every frame. */
static void produce_block(device *d, uint64_t f) {
    const shape *sh = d->sh;
#if defined(RILL_BENCH_NO_SET_BLOCK)
    /* Built against a librill without rill_var_set_block (a baseline from
     * before issue 14): every row sets per value. */
    if (true) {
#else
    if (sh->per_value) {
#endif
        for (uint32_t i = 0; i < BLOCK; i++, f++) {
            rill_server_tick(d->srv, f);
            float v = (float)(f & VALUE_MASK);
            for (uint32_t k = 0; k < sh->channels; k++)
                rill_var_set_float(d->vars[k], v + (float)k);
        }
        return;
    }
#if !defined(RILL_BENCH_NO_SET_BLOCK)
    rill_server_tick(d->srv, f);
    for (uint32_t k = 0; k < sh->channels; k++) {
        /* The values (frame + channel, exact in a float) by additions, as
         * cheap as the program's own data would be; exactly where the
         * mask wraps inside the block. */
        uint64_t first = (f + k) & VALUE_MASK;
        if (first + BLOCK - 1 <= VALUE_MASK) {
            float v = (float)first;
            for (uint32_t i = 0; i < BLOCK; i++)
                d->block[i] = v + (float)i;
        } else {
            for (uint32_t i = 0; i < BLOCK; i++)
                d->block[i] = value_at(f + i, k);
        }
        rill_var_set_block(d->vars[k], RILL_TYPE_FLOAT, d->block, BLOCK);
    }
#endif
}

/* Flood: as fast as the path takes it, never more than FLOOD_WINDOW bytes
 * of values ahead of the client: the buffers the server made (its stats)
 * against those the client has. The check runs once per 64 frames. */
static void flood_loop(device *d) {
    const shape *sh = d->sh;
    shared *m = d->sh_mem;
    const uint64_t per_buffer = (uint64_t)sh->length * 4u;
    const uint64_t max_lead = FLOOD_WINDOW / per_buffer;
    uint64_t f = 0;
    while (!atomic_load_explicit(&m->stop, memory_order_relaxed)) {
        for (;;) {
            rill_server_stats st;
            rill_server_get_stats(d->srv, &st);
            if (st.buffers_produced <=
                    atomic_load_explicit(&m->received, memory_order_relaxed) +
                        max_lead ||
                atomic_load_explicit(&m->stop, memory_order_relaxed))
                break;
            sleep_ns(20000);
        }
        produce_block(d, f);
        f += BLOCK;
        atomic_store_explicit(&m->frames, f, memory_order_release);
    }
}

/* Paced: 64-frame blocks on absolute deadlines; each block's end time. */
static void paced_loop(device *d) {
    const shape *sh = d->sh;
    shared *m = d->sh_mem;
    const double period = (double)BLOCK * 1e9 / sh->rate;
    uint64_t t0 = rill_clock_now_ns() + 1000000u;
    uint64_t f = 0;
    for (uint64_t b = 0; !atomic_load_explicit(&m->stop, memory_order_relaxed);
         b++) {
        uint64_t deadline = t0 + (uint64_t)((double)b * period);
        rill_clock_sleep_until_ns(deadline);
        if (rill_clock_now_ns() > deadline + (uint64_t)period)
            atomic_fetch_add_explicit(&m->late, 1, memory_order_relaxed);
        produce_block(d, f);
        f += BLOCK;
        if (b < MAX_BLOCKS)
            atomic_store_explicit(&m->block_end[b], rill_clock_now_ns(),
                                  memory_order_release);
        atomic_store_explicit(&m->frames, f, memory_order_release);
    }
}

static void *producer_main(void *arg) {
    device *d = arg;
    pthread_setname_np(pthread_self(), "peers-producer");
    if (d->sh->kind == FLOOD)
        flood_loop(d);
    else
        paced_loop(d);
    return NULL;
}

typedef struct run_arg {
    const shape *sh;
    shared *m;
} run_arg;

/* The child of a rill row: the server, its port up the pipe, the producer;
 * 'M' starts the measured window, 'E' ends it, then it stops and reports
 * ('R'). */
static void device_child(int cmd_fd, int res_fd, void *arg) {
    run_arg *a = arg;
    device d;
    memset(&d, 0, sizeof d);
    d.sh = a->sh;
    d.sh_mem = a->m;
    int port = -1;
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = "/tmp";
    cfg.max_vars = MAX_CH + 16;
    if (rill_server_create(&cfg, &d.srv) != 0) {
        bench_write_full(res_fd, &port, sizeof port);
        return;
    }
    for (uint32_t k = 0; k < a->sh->channels; k++) {
        char name[16];
        snprintf(name, sizeof name, "c%u", k);
        d.vars[k] =
            rill_var_create(d.srv, name, RILL_TYPE_FLOAT, RILL_TS_DENSE);
        if (d.vars[k] == NULL || rill_var_id(d.vars[k]) != k) {
            bench_write_full(res_fd, &port, sizeof port);
            return;
        }
    }
    if (pthread_create(&d.thread, NULL, producer_main, &d) != 0) {
        bench_write_full(res_fd, &port, sizeof port);
        return;
    }
    port = rill_server_port(d.srv);
    bench_write_full(res_fd, &port, sizeof port);
    char c = 0;
    double cpu0 = 0, w0 = 0;
    /* The drop counters are read when the client's window ends ('S'):
     * after it, the client leaves while the producer still runs, and what
     * the server then makes for the closing connection is no drop of the
     * run's. */
    rill_server_stats st;
    bool counted = false;
    while (bench_read_full(cmd_fd, &c, 1, 120000) == 0 && c != 'E') {
        if (c == 'M') {
            cpu0 = process_cpu_s();
            w0 = (double)rill_clock_now_ns() * 1e-9;
        } else if (c == 'S') {
            rill_server_get_stats(d.srv, &st);
            counted = true;
            bench_write_full(res_fd, "C", 1);
        }
    }
    double cpu1 = process_cpu_s(), w1 = (double)rill_clock_now_ns() * 1e-9;
    atomic_store(&a->m->stop, true);
    pthread_join(d.thread, NULL);
    if (!counted)
        rill_server_get_stats(d.srv, &st);
    rill_server_destroy(d.srv);
    a->m->cpu_pct = w1 > w0 && w0 > 0 ? (cpu1 - cpu0) / (w1 - w0) * 100 : 0;
    a->m->tick_drops = st.tick_drops;
    a->m->client_drops = st.client_drops;
    a->m->produced = st.buffers_produced;
    a->m->ok = c == 'E';
    bench_write_full(res_fd, "R", 1);
}

/* ---- The client ------------------------------------------------------------ */

typedef struct arrival {
    uint64_t t;    /* when the callback began */
    uint64_t last; /* the buffer's last tick */
} arrival;

typedef struct peer_client {
    const shape *sh;
    shared *m;
    uint64_t next_ts[MAX_CH]; /* I/O thread */
    atomic_bool measuring;
    _Atomic uint64_t bytes, buffers, gaps, bad;
    char why[256];
    arrival *arr; /* paced, while measuring */
    _Atomic uint64_t n_arr;
} peer_client;

static void note_bad(peer_client *pc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_bad(peer_client *pc, const char *fmt, ...) {
    if (atomic_fetch_add(&pc->bad, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pc->why, sizeof pc->why, fmt, ap);
    va_end(ap);
}

/* Every buffer: its length, its place after the variable's previous one
 * (a hole is a gap, counted), three of its values; then counted, and
 * while measuring, its bytes and (paced) its arrival. */
static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    uint64_t t = rill_clock_now_ns();
    peer_client *pc = user;
    (void)cl;
    const shape *sh = pc->sh;
    uint32_t k = b->var_id;
    if (k >= sh->channels || b->type != RILL_TYPE_FLOAT ||
        b->count != sh->length) {
        note_bad(pc, "a buffer of variable %u with %zu values (expected %u "
                     "floats)",
                 k, b->count, sh->length);
        return;
    }
    const float *v = b->values;
    uint32_t probe[3] = {0, sh->length / 2, sh->length - 1};
    for (int i = 0; i < 3; i++) {
        float want = value_at(b->first_ts + probe[i], k);
        if (v[probe[i]] != want) {
            note_bad(pc, "c%u, buffer at tick %llu: value %u is %g, not %g", k,
                     (unsigned long long)b->first_ts, probe[i],
                     (double)v[probe[i]], (double)want);
            return;
        }
    }
    if (pc->next_ts[k] != 0 && b->first_ts != pc->next_ts[k]) {
        if (b->first_ts < pc->next_ts[k] ||
            (b->first_ts - pc->next_ts[k]) % sh->length != 0) {
            note_bad(pc, "c%u: a buffer at tick %llu after one that ended at "
                         "%llu",
                     k, (unsigned long long)b->first_ts,
                     (unsigned long long)pc->next_ts[k]);
            return;
        }
        atomic_fetch_add(&pc->gaps,
                         (b->first_ts - pc->next_ts[k]) / sh->length);
    }
    pc->next_ts[k] = b->first_ts + b->count;
    atomic_fetch_add_explicit(&pc->m->received, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&pc->measuring, memory_order_acquire))
        return;
    atomic_fetch_add_explicit(&pc->bytes, b->count * 4, memory_order_relaxed);
    atomic_fetch_add_explicit(&pc->buffers, 1, memory_order_relaxed);
    if (pc->arr != NULL) {
        uint64_t i = atomic_load_explicit(&pc->n_arr, memory_order_relaxed);
        if (i < MAX_ARRIVALS) {
            pc->arr[i] = (arrival){t, b->first_ts + b->count - 1};
            atomic_store_explicit(&pc->n_arr, i + 1, memory_order_release);
        }
    }
}

/* ---- One run --------------------------------------------------------------- */

typedef struct run_result {
    bool ok;
    double mbps;             /* flood */
    double p50_us, p99_us;   /* paced */
    uint64_t early;          /* paced: arrived before the block was over */
    uint64_t drops;          /* server tick + client drops + client gaps */
    uint64_t late_blocks;    /* paced: producer blocks begun late */
    double device_cpu, client_cpu; /* % of a core over the window */
} run_result;

/* Latency percentiles of the paced arrivals against the block ends. */
static bool paced_latency(const shape *sh, shared *m, peer_client *pc,
                          run_result *r, const char *row) {
    uint64_t n = atomic_load(&pc->n_arr);
    double *lat = malloc((n ? n : 1) * sizeof *lat);
    if (lat == NULL)
        return false;
    uint64_t used = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t block = pc->arr[i].last / BLOCK;
        uint64_t end = block < MAX_BLOCKS ? atomic_load(&m->block_end[block])
                                          : 0;
        if (end == 0) {
            bench_row_failed(row, "a buffer ending at tick %llu arrived, but "
                                  "its block has no end time",
                             (unsigned long long)pc->arr[i].last);
            free(lat);
            return false;
        }
        if (pc->arr[i].t < end) {
            r->early++;
            lat[used++] = 0;
        } else {
            lat[used++] = (double)(pc->arr[i].t - end) * 1e-3;
        }
    }
    (void)sh;
    if (used < 100) {
        bench_row_failed(row, "only %llu buffers measured",
                         (unsigned long long)used);
        free(lat);
        return false;
    }
    r->p50_us = bench_percentile(lat, used, 50.0);
    r->p99_us = bench_percentile(lat, used, 99.0);
    free(lat);
    return true;
}

static run_result run_rill(const shape *sh, const char *row) {
    run_result r;
    memset(&r, 0, sizeof r);
    shared *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        bench_row_failed(row, "mmap: %s", strerror(errno));
        return r;
    }
    run_arg a = {sh, m};
    bench_child c;
    if (bench_child_start(&c, device_child, &a) != 0) {
        bench_row_failed(row, "fork: %s", strerror(errno));
        munmap(m, sizeof *m);
        return r;
    }
    int port = -1;
    peer_client *pc = calloc(1, sizeof *pc);
    rill_client *cl = NULL;
    const char **names = calloc(sh->channels, sizeof *names);
    char (*name_buf)[16] = calloc(sh->channels, sizeof *name_buf);
    bool ok = pc != NULL && names != NULL && name_buf != NULL &&
              bench_read_full(c.from, &port, sizeof port, 10000) == 0 && port > 0;
    if (!ok)
        bench_row_failed(row, "the device process did not start");
    if (ok) {
        pc->sh = sh;
        pc->m = m;
        if (sh->kind == PACED)
            pc->arr = calloc(MAX_ARRIVALS, sizeof *pc->arr);
        char url[64];
        snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
        rill_client_config cfg = rill_client_config_default();
        cfg.url = url;
        cfg.mode = RILL_CLIENT_NATIVE;
        cfg.on_buffer = on_buffer;
        cfg.user = pc;
        cfg.busy_poll_us = sh->busy_poll_us;
        int rc = rill_client_connect(&cfg, &cl);
        if (rc != 0) {
            bench_row_failed(row, "rill_client_connect: %s", rill_strerror(rc));
            ok = false;
        }
    }
    uint64_t start = 0;
    if (ok) {
        for (uint32_t k = 0; k < sh->channels; k++) {
            snprintf(name_buf[k], sizeof name_buf[k], "c%u", k);
            names[k] = name_buf[k];
        }
        int rc = rill_client_start_tick(cl, &start);
        /* On a multiple of the length: buffers end at block ends. */
        start = (start + sh->length - 1) / sh->length * sh->length;
        atomic_store(&m->start, start);
        rill_client_stream_opts opts = {start, 0, sh->length, 0};
        if (rc == 0)
            rc = rill_client_stream_start(cl, names, sh->channels, &opts);
        if (rc != 0) {
            bench_row_failed(row, "starting the streams: %s",
                             rill_strerror(rc));
            ok = false;
        }
    }
    /* Warm up: every channel has delivered, then the warm-up time. */
    if (ok) {
        uint64_t t0 = rill_clock_now_ns();
        while (atomic_load(&m->received) < sh->channels &&
               rill_clock_now_ns() - t0 < 10000000000u)
            sleep_ns(2000000);
        if (atomic_load(&m->received) < sh->channels) {
            bench_row_failed(row, "no data after 10 s");
            ok = false;
        }
    }
    double warm = sh->kind == FLOOD ? FLOOD_WARM_S : PACED_WARM_S;
    double secs = sh->kind == FLOOD ? FLOOD_S : PACED_S;
    uint64_t t0 = 0, t1 = 0;
    double ccpu0 = 0, ccpu1 = 0;
    if (ok) {
        sleep_ns((uint64_t)(warm * 1e9));
        bench_write_full(c.to, "M", 1);
        ccpu0 = process_cpu_s();
        t0 = rill_clock_now_ns();
        atomic_store_explicit(&pc->measuring, true, memory_order_release);
        sleep_ns((uint64_t)(secs * 1e9));
        atomic_store_explicit(&pc->measuring, false, memory_order_release);
        t1 = rill_clock_now_ns();
        ccpu1 = process_cpu_s();
    }
    /* The run's drops are counted now, then the client goes first, so
     * that the server sees it leave. */
    char counted = 0;
    bench_write_full(c.to, "S", 1);
    if (bench_read_full(c.from, &counted, 1, 30000) != 0 || counted != 'C') {
        if (ok)
            bench_row_failed(row, "the device process did not count");
        ok = false;
    }
    rill_client_destroy(cl);
    bench_write_full(c.to, "E", 1);
    char res = 0;
    if (bench_read_full(c.from, &res, 1, 30000) != 0 || res != 'R' || !m->ok) {
        if (ok)
            bench_row_failed(row, "the device process did not report");
        ok = false;
    }
    bench_child_finish(&c, "bench_peers");
    if (ok && atomic_load(&pc->bad) != 0) {
        bench_row_failed(row, "%llu wrong buffers, the first: %s",
                         (unsigned long long)atomic_load(&pc->bad), pc->why);
        ok = false;
    }
    if (ok) {
        r.drops = m->tick_drops + m->client_drops + atomic_load(&pc->gaps);
        r.late_blocks = atomic_load(&m->late);
        r.device_cpu = m->cpu_pct;
        r.client_cpu = (ccpu1 - ccpu0) / ((double)(t1 - t0) * 1e-9) * 100;
        if (sh->kind == FLOOD)
            r.mbps = (double)atomic_load(&pc->bytes) /
                     ((double)(t1 - t0) * 1e-9) / 1e6;
        else
            ok = paced_latency(sh, m, pc, &r, row);
    }
    r.ok = ok;
    if (pc != NULL)
        free(pc->arr);
    free(pc);
    free(names);
    free(name_buf);
    munmap(m, sizeof *m);
    return r;
}

/* ---- Raw TCP baseline ------------------------------------------------------- */

typedef struct tcp_arg {
    const shape *sh;
    shared *m;
    int port;
} tcp_arg;

/* The sending side of a raw TCP row, in the child. Flood: 256 KiB writes
 * until the reader hangs up. Paced: the producer's block clock, and at a
 * block that completes buffers, one write of `channels` messages of 16 +
 * 4 x length bytes (the block's end time in the first 8). */
static void tcp_child(int cmd_fd, int res_fd, void *arg) {
    tcp_arg *a = arg;
    (void)cmd_fd;
    int fd = bench_tcp_connect(a->port);
    if (fd < 0)
        return;
    const shape *sh = a->sh;
    if (sh->kind == FLOOD) {
        uint8_t *chunk = calloc(1, TCP_CHUNK);
        while (chunk != NULL &&
               send(fd, chunk, TCP_CHUNK, MSG_NOSIGNAL) > 0) {
        }
        free(chunk);
        close(fd);
        return;
    }
    size_t msg = 16 + (size_t)sh->length * 4;
    size_t burst = msg * sh->channels;
    uint8_t *out = calloc(1, burst);
    const double period = (double)BLOCK * 1e9 / sh->rate;
    uint64_t t0 = rill_clock_now_ns() + 1000000u;
    uint32_t blocks_per_buffer = sh->length / BLOCK;
    for (uint64_t b = 0; out != NULL && !atomic_load(&a->m->stop); b++) {
        rill_clock_sleep_until_ns(t0 + (uint64_t)((double)b * period));
        if ((b + 1) % blocks_per_buffer != 0)
            continue;
        uint64_t end = rill_clock_now_ns();
        for (uint32_t k = 0; k < sh->channels; k++)
            memcpy(out + (size_t)k * msg, &end, sizeof end);
        if (send(fd, out, burst, MSG_NOSIGNAL) != (ssize_t)burst)
            break;
    }
    free(out);
    close(fd);
    (void)res_fd;
}

static run_result run_tcp(const shape *sh, const char *row) {
    run_result r;
    memset(&r, 0, sizeof r);
    shared *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int port = 0;
    int ls = bench_tcp_listen(&port);
    if (m == MAP_FAILED || ls < 0) {
        bench_row_failed(row, "raw TCP: no shared memory or socket");
        if (ls >= 0)
            close(ls);
        return r;
    }
    tcp_arg a = {sh, m, port};
    bench_child c;
    if (bench_child_start(&c, tcp_child, &a) != 0) {
        close(ls);
        munmap(m, sizeof *m);
        return r;
    }
    int fd = accept(ls, NULL, NULL);
    close(ls);
    size_t cap = TCP_CHUNK;
    uint8_t *buf = malloc(cap);
    bool ok = fd >= 0 && buf != NULL;
    double warm = sh->kind == FLOOD ? FLOOD_WARM_S : PACED_WARM_S;
    double secs = sh->kind == FLOOD ? FLOOD_S : PACED_S;
    uint64_t begin = rill_clock_now_ns();
    uint64_t m0 = begin + (uint64_t)(warm * 1e9);
    uint64_t m1 = m0 + (uint64_t)(secs * 1e9);
    uint64_t bytes = 0;
    size_t msg = 16 + (size_t)sh->length * 4, have = 0;
    double *lat = sh->kind == PACED ? malloc(MAX_ARRIVALS * sizeof *lat) : NULL;
    size_t n_lat = 0;
    uint8_t head[8];
    while (ok) {
        ssize_t k = recv(fd, buf, cap, 0);
        uint64_t t = rill_clock_now_ns();
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            ok = false;
            break;
        }
        if (t >= m1)
            break;
        if (sh->kind == FLOOD) {
            if (t >= m0)
                bytes += (uint64_t)k;
            continue;
        }
        /* Messages end at multiples of msg in the stream: each one whose
         * end arrived in this read is timed now. */
        for (size_t i = 0; i < (size_t)k; i++) {
            if (have < 8)
                head[have] = buf[i];
            if (++have == msg) {
                uint64_t end;
                memcpy(&end, head, sizeof end);
                if (t >= m0 && lat != NULL && n_lat < MAX_ARRIVALS)
                    lat[n_lat++] = t > end ? (double)(t - end) * 1e-3 : 0;
                have = 0;
            }
        }
    }
    uint64_t t_end = rill_clock_now_ns();
    atomic_store(&m->stop, true);
    if (fd >= 0)
        close(fd);
    bench_child_finish(&c, "bench_peers");
    if (ok && sh->kind == FLOOD)
        r.mbps = (double)bytes / ((double)(t_end < m1 ? t_end - m0 : m1 - m0) *
                                  1e-9) / 1e6;
    if (ok && sh->kind == PACED) {
        if (n_lat < 100) {
            ok = false;
        } else {
            r.p50_us = bench_percentile(lat, n_lat, 50.0);
            r.p99_us = bench_percentile(lat, n_lat, 99.0);
        }
    }
    if (!ok)
        bench_row_failed(row, "raw TCP baseline failed");
    r.ok = ok;
    free(lat);
    free(buf);
    munmap(m, sizeof *m);
    return r;
}

/* ---- Rows ------------------------------------------------------------------ */

static int runs(void) {
    int n = (int)env_num("RILL_BENCH_PEER_RUNS", 3);
    return n < 3 ? 3 : n > 15 ? 15 : n;
}

static bool wanted(const char *key) {
    const char *env = getenv("RILL_BENCH_PEER_SHAPES");
    if (env == NULL || *env == '\0')
        return true;
    size_t n = strlen(key);
    for (const char *p = env; (p = strstr(p, key)) != NULL; p += n)
        if ((p == env || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

#define MAX_RUNS 15

static void bench_shape(const shape *sh) {
    const char *row = sh->label;
    int n = runs();
    double rill_a[MAX_RUNS], rill_b[MAX_RUNS], tcp_a[MAX_RUNS],
        tcp_b[MAX_RUNS], dcpu[MAX_RUNS], ccpu[MAX_RUNS];
    uint64_t drops = 0, early = 0, late = 0;
    int got = 0;
    for (int i = 0; i < n; i++) {
        run_result t = run_tcp(sh, row);
        run_result x = run_rill(sh, row);
        if (!t.ok || !x.ok)
            return;
        fprintf(stderr,
                "bench_peers: %s run %d: rill %.4g %s, raw TCP %.4g; drops "
                "%llu; device CPU %.0f%%, client CPU %.0f%%\n",
                sh->label, i + 1, sh->kind == FLOOD ? x.mbps : x.p99_us,
                sh->kind == FLOOD ? "MB/s" : "us p99 (p50 below)",
                sh->kind == FLOOD ? t.mbps : t.p99_us,
                (unsigned long long)x.drops, x.device_cpu, x.client_cpu);
        rill_a[got] = sh->kind == FLOOD ? x.mbps : x.p50_us;
        rill_b[got] = x.p99_us;
        tcp_a[got] = sh->kind == FLOOD ? t.mbps : t.p50_us;
        tcp_b[got] = t.p99_us;
        dcpu[got] = x.device_cpu;
        ccpu[got] = x.client_cpu;
        got++;
        drops += x.drops;
        early += x.early;
        late += x.late_blocks;
    }
    char name[192], target[64];
    double ra = bench_median(rill_a, (size_t)got);
    double ta = bench_median(tcp_a, (size_t)got);
    double dc = bench_median(dcpu, (size_t)got);
    double cc = bench_median(ccpu, (size_t)got);
    if (sh->kind == FLOOD) {
        double lsl_hi = sh->channels == 64 ? 652 : 867;
        double factor = sh->channels == 64 ? 2.0 : 1.5;
        snprintf(name, sizeof name, "%s (LSL %s), drops %llu", sh->label,
                 sh->lsl, (unsigned long long)drops);
        snprintf(target, sizeof target, ">= %.4g (%.1fx LSL)", factor * lsl_hi,
                 factor);
        bench_report(&(bench_row){SUITE, name, ra, "MB/s", "raw TCP", ta,
                                  ra / ta, sh->per_value ? NULL : target,
                                  sh->per_value ? -1
                                                : ra >= factor * lsl_hi &&
                                                      drops == 0});
    } else {
        double rb = bench_median(rill_b, (size_t)got);
        double tb = bench_median(tcp_b, (size_t)got);
        bool small = sh->length == 64;
        snprintf(name, sizeof name, "%s p50 (LSL %s)", sh->label, sh->lsl);
        snprintf(target, sizeof target, "%s", small ? "<= 80 us" : "-");
        bench_report(&(bench_row){SUITE, name, ra, "us", "raw TCP p50", ta,
                                  ta > 0 ? ra / ta : 0,
                                  small ? target : NULL,
                                  small ? ra <= 80.0 : -1});
        snprintf(name, sizeof name, "%s p99, drops %llu", sh->label,
                 (unsigned long long)drops);
        snprintf(target, sizeof target, "%s", small ? "<= 150 us" : "<= 500 us");
        bench_report(&(bench_row){SUITE, name, rb, "us", "raw TCP p99", tb,
                                  tb > 0 ? rb / tb : 0, target,
                                  rb <= (small ? 150.0 : 500.0) && drops == 0});
        /* What the client's waiting costs (spin_us spins). */
        snprintf(name, sizeof name, "%s, client process CPU", sh->label);
        bench_report(&(bench_row){SUITE, name, cc, "%core", NULL, 0, 0, NULL,
                                  -1});
    }
    fprintf(stderr,
            "bench_peers: %s: medians of %d runs; device process CPU %.0f%%, "
            "client process CPU %.0f%% of a core%s",
            sh->label, got, dc, cc, sh->kind == PACED ? "" : "\n");
    if (sh->kind == PACED)
        fprintf(stderr,
                "; %llu buffers arrived before their block's last set was "
                "over (latency 0); %llu producer blocks began > 1 block "
                "late\n",
                (unsigned long long)early, (unsigned long long)late);
}

/* ---- Idle CPU of rill serve --------------------------------------------------- */

/* Run time of every thread of a process, ns (schedstat), or -1. */
static double process_run_ns(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    double sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[320];
        snprintf(p, sizeof p, "/proc/%d/task/%s/schedstat", (int)pid,
                 e->d_name);
        FILE *f = fopen(p, "r");
        unsigned long long ns = 0;
        if (f != NULL) {
            if (fscanf(f, "%llu", &ns) == 1)
                sum += (double)ns;
            fclose(f);
        }
    }
    closedir(d);
    return sum;
}

/* This build's `rill`: ../bin/rill from this program. */
static bool rill_path(char *out, size_t cap) {
    char self[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    snprintf(out, cap, "%s/../bin/rill", self);
    return access(out, X_OK) == 0;
}

static double idle_pct(pid_t pid) {
    double a = process_run_ns(pid);
    uint64_t t0 = rill_clock_now_ns();
    sleep_ns((uint64_t)(IDLE_S * 1e9));
    double b = process_run_ns(pid);
    uint64_t t1 = rill_clock_now_ns();
    return a < 0 || b < 0 ? -1 : (b - a) / (double)(t1 - t0) * 100.0;
}

static void bench_idle(void) {
    const char *row = "idle rill serve --source demo";
    char rill[PATH_MAX];
    if (!rill_path(rill, sizeof rill)) {
        bench_row_failed(row, "no rill program next to this benchmark");
        return;
    }
    int out[2];
    if (pipe(out) != 0)
        return;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(rill, rill, "serve", "--source", "demo", "--port", "0",
              "--log-dir", "/tmp", "--web-root", "", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[512];
    size_t len = 0;
    int port = 0;
    uint64_t t0 = rill_clock_now_ns();
    while (port == 0 && len + 1 < sizeof line &&
           rill_clock_now_ns() - t0 < 10000000000u) {
        if (bench_read_full(out[0], line + len, 1, 10000) != 0)
            break;
        line[++len] = '\0';
        const char *p = strstr(line, "ws://127.0.0.1:");
        if (p != NULL && line[len - 1] == ' ')
            port = atoi(p + strlen("ws://127.0.0.1:"));
    }
    if (port <= 0) {
        bench_row_failed(row, "rill serve did not say its port");
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        close(out[0]);
        return;
    }
    sleep_ns(1000000000u); /* settle */
    double alone = idle_pct(pid);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    rill_client *cl = NULL;
    double one = -1;
    if (rill_client_connect(&cfg, &cl) == 0) {
        sleep_ns(500000000u);
        one = idle_pct(pid);
    }
    rill_client_destroy(cl);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    close(out[0]);
    bench_report(&(bench_row){SUITE, "idle rill serve --source demo, no client",
                              alone, "%core", NULL, 0, 0, "< 1 %core",
                              alone >= 0 && alone < 1.0});
    if (one >= 0)
        bench_report(&(bench_row){SUITE,
                                  "idle rill serve --source demo, 1 idle client",
                                  one, "%core", NULL, 0, 0, "< 1 %core",
                                  one < 1.0});
    else
        bench_row_failed(row, "no client could connect");
}

static void print_load(const char *when) {
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("bench_peers: load average %s: %.2f %.2f %.2f on %ld cores\n",
               when, l[0], l[1], l[2], sysconf(_SC_NPROCESSORS_ONLN));
}

static const shape shapes[] = {
    {"flood64", "flood 64 ch x 1024 MB/s", FLOOD, 64, 1024, 0,
     "445-652 MB/s", false, 0},
    {"flood512", "flood 512 ch x 1024 MB/s", FLOOD, 512, 1024, 0,
     "782-867 MB/s", false, 0},
    {"paced8", "paced 8 ch x 64 @ 48 kHz latency", PACED, 8, 64, 48000,
     "0.09 / 0.19-0.21 ms", false, 0},
    {"paced100", "paced 100 ch x 1024 @ 44.1 kHz latency", PACED, 100, 1024,
     44100, "0.64-0.68 / 0.92-1.14 ms", false, 0},
    /* The same with the client busy polling through the buffer period
     * (rill_client_config.busy_poll_us): what a core given to the client
     * buys (its CPU: the client CPU row). */
    {"paced8busy", "paced 8 ch x 64 @ 48 kHz latency, client busy_poll_us 2000",
     PACED, 8, 64, 48000, "0.09 / 0.19-0.21 ms", false, 2000},
    {"paced100busy",
     "paced 100 ch x 1024 @ 44.1 kHz latency, client busy_poll_us 30000",
     PACED, 100, 1024, 44100, "0.64-0.68 / 0.92-1.14 ms", false, 30000},
    /* The floods again with one call per value: what the producer's API
     * costs (no target; the rows above are the comparison with LSL's
     * chunk pushes). */
    {"flood64v", "flood 64 ch x 1024, set per value, MB/s", FLOOD, 64, 1024,
     0, "445-652 MB/s", true, 0},
    {"flood512v", "flood 512 ch x 1024, set per value, MB/s", FLOOD, 512,
     1024, 0, "782-867 MB/s", true, 0},
};

int main(void) {
    bench_set_name("bench_peers");
    rill_set_log_callback(bench_log, RILL_LOG_WARN, NULL);
    signal(SIGPIPE, SIG_IGN);
    print_load("at start");
    printf("bench_peers: LSL figures are liblsl 1.17.7's, published in issue "
           "14 for this machine kind (not measured here)\n");
    bench_header("peers: rill vs raw TCP (same run) and LSL (published)");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (wanted(shapes[i].key))
            bench_shape(&shapes[i]);
    if (wanted("idle"))
        bench_idle();
    print_load("at end");
    return bench_failed() ? 1 : 0;
}
