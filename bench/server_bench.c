/* The device-side server (src/server/), end to end.
 *
 * One run measures, each as the median of repeats, against baselines
 * taken in the same process a moment before:
 *
 *  1. Cost of rill_var_set_float on the tick thread, per value, with 16
 *     float variables set every frame and rill_server_tick called once per
 *     frame, as a device does: (a) nobody watches them, (b) a compatibility
 *     (pybela-style) client watches all 16 and really receives the data,
 *     so the tick -> network ring is being drained while we measure. The
 *     figure is loop time / values set, on this thread's CPU clock; the
 *     tick is not subtracted (1/16 of a tick per value) but is reported
 *     alone too, in ns/tick. Baseline: the same loop storing the same
 *     values into volatile floats.
 *  2. Throughput to one client on loopback, native and compatibility mode,
 *     against a raw TCP socket pair (blocking send/recv of the same 4 KiB
 *     payloads, measured in the same repeat). The producer feeds 4 float
 *     variables as an audio callback does, a tick and one
 *     rill_var_set_block per variable every 64 frames, as fast as it can
 *     for a fixed number of frames (a set per value, section 1's cost,
 *     would bound the figure at ~0.2x raw TCP before the server does);
 *     throughput = value bytes the client received per second, from the
 *     first tick to the arrival of the last buffer. Drops are counted
 *     (rill_server_get_stats); with drops the run is repeated with rings
 *     and queues large enough to hold a whole repeat. Because the client
 *     also costs CPU (libwebsockets' client parser), each configuration
 *     also reports the server's own CPU time per delivered buffer.
 *  3. Latency from the set that completes a buffer to the client having
 *     it, in one process: a real-time producer (44.1 kHz, 64-frame blocks,
 *     absolute deadlines) and one native client thread, one buffer
 *     completing per block, >= 2000 buffers, p50 and p99.
 *  4. Soak: 100 float variables at 44.1 kHz in real time to 2 native
 *     clients for RILL_BENCH_SOAK_S seconds (default 30; 0 skips it). The
 *     server and its producer run in a child process so that its CPU time
 *     and RSS can be read from /proc without the clients' share.
 *
 * Every client checks what it receives: values (each variable carries
 * (frame + id) mod 2^24 as a float), continuity of first timestamps,
 * sequence numbers and drop counters. Wrong data aborts that row loudly
 * and makes the program exit 1.
 *
 * Knob for investigating: RILL_BENCH_SERVER_SECTIONS=set,throughput,
 * latency,soak (any subset).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include "wsclient.h"

#define SUITE "server"
#define MAX_VARS 128
#define VALUE_MASK 0xFFFFFFu /* values stay exact in a float */
#define COMPAT_VALUES 1024u  /* a Bela float buffer: 4104-byte body */
#define COMPAT_BODY 4104u
#define NATIVE_HEADER 32u
#define RATE 44100.0
#define BLOCK 64u

static float value_at(uint64_t frame, uint32_t id) {
    return (float)((frame + id) & VALUE_MASK);
}

static double now_s(void) {
    return (double)rill_clock_now_ns() * 1e-9;
}

static void sleep_us(unsigned us) {
    struct timespec ts = {(time_t)(us / 1000000u),
                          (long)(us % 1000000u) * 1000};
    nanosleep(&ts, NULL);
}

/* CPU seconds of a clock from pthread_getcpuclockid or CLOCK_*_CPUTIME_ID. */
static double cpu_s(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p) {
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static float get_f32(const uint8_t *p) {
    uint32_t u = get_le32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- Servers and producers ------------------------------------------------
 */

typedef struct server_setup {
    rill_server *srv;
    rill_var *vars[MAX_VARS];
    uint32_t n_vars;
    const char *prefix; /* variable names: prefix0, prefix1, ... */
} server_setup;

/* A server on a free port with n float variables named prefix0, prefix1...
 * (ids 0..n-1 in that order). */
static int server_open(server_setup *s, uint32_t n, const char *prefix,
                       size_t queue_bytes, size_t ring_bytes) {
    memset(s, 0, sizeof *s);
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = "/tmp";
    if (queue_bytes)
        cfg.client_queue_bytes = queue_bytes;
    if (ring_bytes)
        cfg.out_ring_bytes = ring_bytes;
    int rc = rill_server_create(&cfg, &s->srv);
    if (rc != 0) {
        fprintf(stderr, "bench_server: rill_server_create: %s\n",
                rill_strerror(rc));
        return rc;
    }
    for (uint32_t k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof name, "%s%u", prefix, k);
        s->vars[k] =
            rill_var_create(s->srv, name, RILL_TYPE_FLOAT, RILL_TS_DENSE);
        if (s->vars[k] == NULL || rill_var_id(s->vars[k]) != k) {
            fprintf(stderr, "bench_server: rill_var_create(%s) failed\n", name);
            rill_server_destroy(s->srv);
            s->srv = NULL;
            return RILL_EINVAL;
        }
    }
    s->n_vars = n;
    s->prefix = prefix;
    return 0;
}

static uint64_t total_drops(rill_server *srv) {
    rill_server_stats st;
    rill_server_get_stats(srv, &st);
    return st.tick_drops + st.client_drops;
}

/* Flat out: tick once per frame, then set every variable. */
static void produce(server_setup *s, uint64_t *frame, uint64_t frames) {
    uint64_t f = *frame;
    for (uint64_t i = 0; i < frames; i++, f++) {
        rill_server_tick(s->srv, f);
        for (uint32_t k = 0; k < s->n_vars; k++)
            rill_var_set_float(s->vars[k], value_at(f, k));
    }
    *frame = f;
}

/* As an audio callback feeds rill: one tick per BLOCK frames, then each
 * variable's BLOCK values in one rill_var_set_block (section 1 has the cost
 * of a set per value). `frames` is a multiple of BLOCK. */
static void produce_blocks(server_setup *s, uint64_t *frame, uint64_t frames) {
    uint64_t f = *frame;
    float block[BLOCK];
    for (uint64_t i = 0; i < frames; i += BLOCK, f += BLOCK) {
        rill_server_tick(s->srv, f);
        for (uint32_t k = 0; k < s->n_vars; k++) {
            for (uint32_t j = 0; j < BLOCK; j++)
                block[j] = value_at(f + j, k);
            rill_var_set_block(s->vars[k], RILL_TYPE_FLOAT, block, BLOCK);
        }
    }
    *frame = f;
}

/* ---- Benchmark clients ------------------------------------------------------
 */

/* The latency run's shared plan (section 3), written before `armed`. */
typedef struct lat_plan {
    atomic_bool armed;
    uint32_t first_id;     /* latency variables: ids first_id .. first_id+K-1 */
    uint32_t n;            /* values per buffer */
    uint32_t k;            /* variables, n / BLOCK: one buffer per block */
    uint64_t t0;           /* start tick of the first; var i starts t0 + 64 i */
    uint32_t m;            /* buffers measured */
    uint64_t *complete_ns; /* [m], right after the completing set */
    uint64_t *before_ns;   /* [m], right before it (see bench_latency) */
    uint64_t *arrive_ns;   /* [m], written by the client */
    atomic_uint arrived;
} lat_plan;

static lat_plan g_lat;

typedef struct vstate {
    bool started;
    uint64_t next_seq;
    uint32_t full; /* values in the first buffer: the stream's length */
} vstate;

typedef struct client {
    const char *label;
    bool native;
    bool full_check; /* every value, or a sample of each buffer */
    int port;
    uint32_t n_vars;

    pthread_t thread;
    bool thread_started;
    bench_wsctx *ctx;
    bench_ws *ctl, *data;
    atomic_bool stop, ready, failed, hello;
    char err[512];

    vstate v[MAX_VARS]; /* client thread only */
    /* Published for the main thread. */
    _Atomic uint64_t start_ts[MAX_VARS];
    _Atomic uint64_t next_ts[MAX_VARS];
    _Atomic uint32_t full[MAX_VARS];
    atomic_uint started_vars;
    _Atomic uint64_t bytes, buffers, gap_buffers, drop_notices, errors;
    _Atomic uint64_t last_arrival_ns;

    int pending_id; /* compat: the header waiting for its body, or -1 */
} client;

static void client_fail(client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void client_fail(client *c, const char *fmt, ...) {
    if (atomic_load(&c->failed))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    atomic_store(&c->failed, true);
}

/* The buffer at first_ts of variable `id` must continue the previous one
 * (after `dropped` whole buffers, for native clients, which are told) and
 * hold the values the producer set. */
static void on_buffer(client *c, uint32_t id, uint64_t first_ts, uint32_t count,
                      const uint8_t *vals, bool native, uint64_t seq,
                      uint32_t dropped) {
    uint64_t t = rill_clock_now_ns();
    if (atomic_load(&c->failed))
        return;
    if (id >= c->n_vars) {
        client_fail(c, "%s: buffer for unknown variable id %u", c->label, id);
        return;
    }
    if (c->full_check) {
        for (uint32_t i = 0; i < count; i++) {
            float x = get_f32(vals + 4 * (size_t)i);
            if (x != value_at(first_ts + i, id)) {
                client_fail(c,
                            "%s: var %u, buffer at tick %llu: value %u is %g, "
                            "expected %g",
                            c->label, id, (unsigned long long)first_ts, i,
                            (double)x, (double)value_at(first_ts + i, id));
                return;
            }
        }
    } else {
        uint32_t probe[3] = {0, count / 2, count - 1};
        for (int p = 0; p < 3; p++) {
            uint32_t i = probe[p];
            float x = get_f32(vals + 4 * (size_t)i);
            if (x != value_at(first_ts + i, id)) {
                client_fail(c,
                            "%s: var %u, buffer at tick %llu: value %u is %g, "
                            "expected %g",
                            c->label, id, (unsigned long long)first_ts, i,
                            (double)x, (double)value_at(first_ts + i, id));
                return;
            }
        }
    }
    vstate *v = &c->v[id];
    if (!v->started) {
        v->started = true;
        v->full = count;
        atomic_store(&c->start_ts[id], first_ts);
        atomic_store(&c->full[id], count);
        atomic_fetch_add(&c->started_vars, 1);
    } else {
        uint64_t next =
            atomic_load_explicit(&c->next_ts[id], memory_order_relaxed);
        if (first_ts < next || (first_ts - next) % v->full != 0) {
            client_fail(c,
                        "%s: var %u: buffer starts at tick %llu, expected "
                        "%llu (+ a multiple of %u after drops)",
                        c->label, id, (unsigned long long)first_ts,
                        (unsigned long long)next, v->full);
            return;
        }
        uint64_t gap = (first_ts - next) / v->full;
        if (native && (gap != dropped || seq != v->next_seq + dropped)) {
            client_fail(c,
                        "%s: var %u: seq %llu, dropped %u, but expected seq "
                        "%llu and a gap of %llu buffers",
                        c->label, id, (unsigned long long)seq, dropped,
                        (unsigned long long)v->next_seq,
                        (unsigned long long)gap);
            return;
        }
        if (gap != 0)
            atomic_fetch_add(&c->gap_buffers, gap);
    }
    v->next_seq = seq + 1;
    atomic_store_explicit(&c->next_ts[id], first_ts + count,
                          memory_order_release);
    atomic_fetch_add_explicit(&c->bytes, (uint64_t)count * 4,
                              memory_order_relaxed);
    atomic_store_explicit(&c->last_arrival_ns, t, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->buffers, 1, memory_order_release);

    if (atomic_load_explicit(&g_lat.armed, memory_order_acquire) &&
        id >= g_lat.first_id && id < g_lat.first_id + g_lat.k) {
        /* Buffer j completes at the end of block (t0/64 + K + j). */
        uint64_t end = first_ts + count;
        if (count != g_lat.n || end < g_lat.t0 ||
            (end - g_lat.t0) % BLOCK != 0 ||
            ((end - g_lat.t0) / BLOCK) % g_lat.k != id - g_lat.first_id) {
            client_fail(c,
                        "latency: var %u: buffer [%llu, +%u) does not fit "
                        "the plan (t0 %llu, %u values, %u variables)",
                        id, (unsigned long long)first_ts, count,
                        (unsigned long long)g_lat.t0, g_lat.n, g_lat.k);
            return;
        }
        uint64_t j = (end - g_lat.t0) / BLOCK - g_lat.k;
        if (j < g_lat.m) {
            g_lat.arrive_ns[j] = t;
            atomic_fetch_add_explicit(&g_lat.arrived, 1, memory_order_release);
        }
    }
}

static void on_native(client *c, const uint8_t *d, size_t len) {
    if (!atomic_load(&c->hello)) {
        client_fail(c, "%s: binary message before the hello reply", c->label);
        return;
    }
    if (len < NATIVE_HEADER || d[0] != 1) {
        client_fail(c, "%s: native message of %zu bytes, version %u", c->label,
                    len, len ? d[0] : 0);
        return;
    }
    uint8_t kind = d[1], type = d[2], flags = d[3];
    uint32_t id = get_le32(d + 4);
    uint64_t seq = get_le64(d + 8);
    uint64_t first_ts = get_le64(d + 16);
    uint32_t count = get_le32(d + 24);
    uint32_t dropped = get_le32(d + 28);
    if (kind == 2) /* end of stream */
        return;
    if (kind != 0 || type != 'f' || (flags & ~0x02u) != 0 || count == 0 ||
        len != NATIVE_HEADER + (size_t)count * 4) {
        client_fail(c,
                    "%s: unexpected native message: kind %u type %c flags "
                    "%#x count %u, %zu bytes",
                    c->label, kind, type, flags, count, len);
        return;
    }
    on_buffer(c, id, first_ts, count, d + NATIVE_HEADER, true, seq, dropped);
}

static void on_ctl_message(void *user, bench_ws *ws, const uint8_t *data,
                           size_t len, bool binary) {
    client *c = user;
    (void)ws;
    if (binary) {
        on_native(c, data, len);
        return;
    }
    const char *t = (const char *)data;
    if (memmem(t, len, "\"rill\":\"hello\"", 14) != NULL) {
        atomic_store(&c->hello, true);
    } else if (memmem(t, len, "\"event\":\"dropped\"", 17) != NULL) {
        atomic_fetch_add(&c->drop_notices, 1);
    } else if (len > 9 && memcmp(t, "{\"error\"", 8) == 0) {
        atomic_fetch_add(&c->errors, 1);
        fprintf(stderr, "bench_server: %s: server says %.*s\n", c->label,
                (int)(len > 400 ? 400 : len), t);
    }
}

/* Bela data socket: "<id>/f" headers, each followed by its 4104-byte body
 * (8-byte first tick, 1024 floats). */
static void on_data_message(void *user, bench_ws *ws, const uint8_t *d,
                            size_t len, bool binary) {
    client *c = user;
    (void)ws;
    if (!binary) {
        client_fail(c, "%s: text message on /gui_data", c->label);
        return;
    }
    if (len >= 3 && len <= 5) {
        if (c->pending_id >= 0) {
            client_fail(c, "%s: two headers in a row", c->label);
            return;
        }
        int id = 0;
        size_t i = 0;
        for (; i < len && d[i] >= '0' && d[i] <= '9'; i++)
            id = id * 10 + (d[i] - '0');
        if (i == 0 || i + 2 != len || d[i] != '/' || d[i + 1] != 'f') {
            client_fail(c, "%s: bad header '%.*s'", c->label, (int)len,
                        (const char *)d);
            return;
        }
        c->pending_id = id;
        return;
    }
    if (c->pending_id < 0 || len != COMPAT_BODY) {
        client_fail(c, "%s: body of %zu bytes %s", c->label, len,
                    c->pending_id < 0 ? "without a header" : "(expected 4104)");
        return;
    }
    uint32_t id = (uint32_t)c->pending_id;
    c->pending_id = -1;
    on_buffer(c, id, get_le64(d), COMPAT_VALUES, d + 8, false, 0, 0);
}

static int ctl_send(client *c, const char *text) {
    return bench_ws_send_text(c->ctl, text, strlen(text));
}

static void *client_main(void *arg) {
    client *c = arg;
    pthread_setname_np(pthread_self(), "bench-client");
    c->ctx = bench_wsctx_create();
    if (c->ctx == NULL) {
        client_fail(c, "%s: no libwebsockets context", c->label);
        atomic_store(&c->ready, true);
        return NULL;
    }
    c->ctl = bench_ws_connect(c->ctx, "127.0.0.1", c->port, "/gui_control",
                              on_ctl_message, c, 5000);
    if (c->ctl == NULL) {
        client_fail(c, "%s: cannot connect to /gui_control", c->label);
    } else if (c->native) {
        ctl_send(c, "{\"rill\":\"hello\",\"version\":1}");
        double t0 = now_s();
        while (!atomic_load(&c->hello) && now_s() - t0 < 5.0 &&
               !bench_ws_closed(c->ctl))
            bench_wsctx_service(c->ctx, 10);
        if (!atomic_load(&c->hello))
            client_fail(c, "%s: no native hello reply", c->label);
    } else {
        /* Without connection-reply the server sends no watch data. */
        ctl_send(c, "{\"event\":\"connection-reply\"}");
        c->data = bench_ws_connect(c->ctx, "127.0.0.1", c->port, "/gui_data",
                                   on_data_message, c, 5000);
        if (c->data == NULL)
            client_fail(c, "%s: cannot connect to /gui_data", c->label);
    }
    atomic_store(&c->ready, true);
    while (!atomic_load(&c->stop))
        bench_wsctx_service(c->ctx, 20);
    bench_wsctx_destroy(c->ctx);
    return NULL;
}

static client *client_start(const char *label, bool native, bool full_check,
                            int port, uint32_t n_vars) {
    client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->label = label;
    c->native = native;
    c->full_check = full_check;
    c->port = port;
    c->n_vars = n_vars;
    c->pending_id = -1;
    if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
        free(c);
        return NULL;
    }
    c->thread_started = true;
    while (!atomic_load(&c->ready))
        sleep_us(1000);
    return c;
}

static void client_stop(client *c) {
    if (c == NULL)
        return;
    atomic_store(&c->stop, true);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    free(c);
}

/* Check a client after a phase; false (and the row fails) if it saw
 * anything wrong. */
static bool client_ok(client *c, const char *row) {
    if (atomic_load(&c->failed)) {
        bench_row_failed(row, "%s", c->err);
        return false;
    }
    return true;
}

/* {"watcher":[{"cmd":"watch","watchers":[...],...}]} for ids lo..hi-1 of
 * prefix, with optional start ticks (ts0 + step * i) and lengths. */
static char *watch_cmd(const char *cmd, const char *prefix, uint32_t lo,
                       uint32_t hi, bool with_ts, uint64_t ts0, uint64_t step,
                       uint32_t length) {
    size_t cap = 256 + (size_t)(hi - lo) * 64;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    size_t n = (size_t)snprintf(
        s, cap, "{\"watcher\":[{\"cmd\":\"%s\",\"watchers\":[", cmd);
    for (uint32_t i = lo; i < hi; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s%u\"", i > lo ? "," : "",
                              prefix, i);
    n += (size_t)snprintf(s + n, cap - n, "]");
    if (with_ts) {
        n += (size_t)snprintf(s + n, cap - n, ",\"timestamps\":[");
        for (uint32_t i = lo; i < hi; i++)
            n += (size_t)snprintf(s + n, cap - n, "%s%llu", i > lo ? "," : "",
                                  (unsigned long long)(ts0 + step * (i - lo)));
        n += (size_t)snprintf(s + n, cap - n, "]");
    }
    if (length != 0) {
        n += (size_t)snprintf(s + n, cap - n, ",\"lengths\":[");
        for (uint32_t i = lo; i < hi; i++)
            n += (size_t)snprintf(s + n, cap - n, "%s%u", i > lo ? "," : "",
                                  length);
        n += (size_t)snprintf(s + n, cap - n, "]");
    }
    snprintf(s + n, cap - n, "}]}");
    return s;
}

static int send_watch(client *c, const char *prefix, uint32_t lo, uint32_t hi,
                      bool with_ts, uint64_t ts0, uint64_t step,
                      uint32_t length) {
    char *s = watch_cmd("watch", prefix, lo, hi, with_ts, ts0, step, length);
    int rc = s != NULL ? ctl_send(c, s) : -1;
    free(s);
    return rc;
}

/* Subscribe `c` to every variable of `s` from a common start tick and
 * produce on this thread until everything up to a buffer boundary has
 * been delivered. Returns that boundary in *aligned and the stream length
 * in *n.
 *
 * The start is a tick 200 ms of slow production ahead (64 frames per ms),
 * not "now": the server posts one start command per variable and the tick
 * thread may apply some of them a tick (or a whole burst) before the
 * others, so "now" would start the variables on different ticks. */
#define WARM_LEAD (BLOCK * 200u)

static bool warm_up(server_setup *s, client *c, uint64_t *frame,
                    uint64_t *aligned, uint32_t *n, const char *row) {
    uint64_t start = *frame + WARM_LEAD;
    if (send_watch(c, s->prefix, 0, s->n_vars, true, start, 0, 0) != 0) {
        bench_row_failed(row, "cannot send the watch command");
        return false;
    }
    double t0 = now_s();
    while (atomic_load(&c->started_vars) < s->n_vars) {
        if (atomic_load(&c->failed) || now_s() - t0 > 10.0) {
            if (client_ok(c, row))
                bench_row_failed(row, "no data from %u variables after 10 s",
                           s->n_vars - atomic_load(&c->started_vars));
            return false;
        }
        produce(s, frame, BLOCK);
        sleep_us(1000);
    }
    uint32_t len = atomic_load(&c->full[0]);
    for (uint32_t k = 0; k < s->n_vars; k++) {
        if (atomic_load(&c->start_ts[k]) != start ||
            atomic_load(&c->full[k]) != len) {
            bench_row_failed(row,
                       "%s%u started at tick %llu with %u-value buffers; "
                       "asked for tick %llu (was the watch applied late?)",
                       s->prefix, k,
                       (unsigned long long)atomic_load(&c->start_ts[k]),
                       atomic_load(&c->full[k]), (unsigned long long)start);
            return false;
        }
    }
    uint64_t b = start + (*frame - start + len - 1) / len * len;
    produce(s, frame, b - *frame);
    t0 = now_s();
    for (uint32_t k = 0; k < s->n_vars; k++) {
        while (atomic_load(&c->next_ts[k]) < b) {
            if (atomic_load(&c->failed) || now_s() - t0 > 10.0) {
                if (client_ok(c, row))
                    bench_row_failed(row, "warm-up data not delivered after 10 s");
                return false;
            }
            sleep_us(200);
        }
    }
    *aligned = b;
    *n = len;
    return true;
}

/* Wait until `expected` buffers since the snapshot are either at the client
 * or counted as dropped by the server. */
static bool wait_delivered(server_setup *s, client *c, uint64_t buffers0,
                           uint64_t drops0, uint64_t expected, double timeout,
                           const char *row) {
    double t0 = now_s();
    for (;;) {
        uint64_t got = atomic_load(&c->buffers) - buffers0;
        uint64_t lost = total_drops(s->srv) - drops0;
        if (got + lost >= expected)
            return client_ok(c, row);
        if (atomic_load(&c->failed))
            return client_ok(c, row);
        if (now_s() - t0 > timeout) {
            bench_row_failed(row,
                       "after %.0f s the client has %llu of %llu buffers "
                       "(%llu dropped)",
                       timeout, (unsigned long long)got,
                       (unsigned long long)expected, (unsigned long long)lost);
            return false;
        }
        sleep_us(100);
    }
}

/* ---- 1. Cost of a set on the tick thread ------------------------------------
 */

#define SET_VARS 16u
#define SET_FRAMES 65536u /* 1 Mi values per repeat: 4 MiB, half the ring */
#define SET_REPEATS 21

static volatile float g_sink[MAX_VARS];

/* Section 1 times with this thread's CPU clock, not the wall clock: the
 * machines are shared, and a repeat that loses the CPU for a while would
 * otherwise count the wait as set cost. Each repeat is a few milliseconds,
 * so the clock's resolution does not matter. */
static double thread_ns(void) {
    return cpu_s(CLOCK_THREAD_CPUTIME_ID) * 1e9;
}

static double store_ns(uint64_t frames) {
    double t0 = thread_ns();
    for (uint64_t f = 0; f < frames; f++)
        for (uint32_t k = 0; k < SET_VARS; k++)
            g_sink[k] = value_at(f, k);
    return (thread_ns() - t0) / (double)(frames * SET_VARS);
}

static double set_ns(server_setup *s, uint64_t *frame, uint64_t frames) {
    double t0 = thread_ns();
    produce(s, frame, frames);
    return (thread_ns() - t0) / (double)(frames * s->n_vars);
}

static double tick_ns(server_setup *s, uint64_t *frame, uint64_t frames) {
    uint64_t f = *frame;
    double t0 = thread_ns();
    for (uint64_t i = 0; i < frames; i++)
        rill_server_tick(s->srv, f++);
    double ns = (thread_ns() - t0) / (double)frames;
    *frame = f;
    return ns;
}

static void bench_set_cost(void) {
    const char *row_a = "set float, not watched";
    const char *row_b = "set float, watched (compat client)";
    server_setup s;
    if (server_open(&s, SET_VARS, "s", 0, 0) != 0) {
        bench_row_failed(row_a, "no server");
        return;
    }
    uint64_t frame = 1;
    double base[SET_REPEATS], una[SET_REPEATS], wat[SET_REPEATS],
        tk[SET_REPEATS];
    for (int r = 0; r < SET_REPEATS; r++) {
        base[r] = store_ns(SET_FRAMES);
        una[r] = set_ns(&s, &frame, SET_FRAMES);
        tk[r] = tick_ns(&s, &frame, SET_FRAMES);
    }
    double tk_med = bench_median(tk, SET_REPEATS);
    double base_a = bench_median(base, SET_REPEATS);
    double una_med = bench_median(una, SET_REPEATS);

    client *c = client_start("compat client", false, true,
                             rill_server_port(s.srv), SET_VARS);
    uint64_t aligned = 0;
    uint32_t n = 0;
    bool ok = c != NULL && client_ok(c, row_b) &&
              warm_up(&s, c, &frame, &aligned, &n, row_b);
    uint64_t drops0 = total_drops(s.srv);
    uint64_t buffers0 = c ? atomic_load(&c->buffers) : 0;
    for (int r = 0; ok && r < SET_REPEATS; r++) {
        base[r] = store_ns(SET_FRAMES);
        wat[r] = set_ns(&s, &frame, SET_FRAMES);
        /* Every completed buffer is delivered before the next repeat, so
         * that no repeat meets a full ring. (No tick-only frames here: a
         * compatibility buffer takes its ticks from the sets, and frames
         * without sets would leave a hole inside a buffer.) */
        uint64_t done = (frame - aligned) / n * SET_VARS;
        ok = wait_delivered(&s, c, buffers0, drops0, done, 10.0, row_b);
    }
    rill_server_stats st;
    rill_server_get_stats(s.srv, &st);
    client_stop(c);
    rill_server_destroy(s.srv);

    bench_report(&(bench_row){SUITE, row_a, una_med, "ns", "volatile store",
                              base_a, una_med / base_a, NULL, -1});
    bench_report(&(bench_row){SUITE, "rill_server_tick, no command queued",
                              tk_med, "ns", NULL, 0, 0, NULL, -1});
    if (!ok)
        return;
    double base_b = bench_median(base, SET_REPEATS);
    double wat_med = bench_median(wat, SET_REPEATS);
    char name[160];
    snprintf(name, sizeof name, "%s, drops %llu", row_b,
             (unsigned long long)(st.tick_drops + st.client_drops));
    bench_report(&(bench_row){SUITE, name, wat_med, "ns", "volatile store",
                              base_b, wat_med / base_b, "<= 5 ns",
                              wat_med <= 5.0});
}

/* ---- 2. Throughput to one client vs raw TCP ---------------------------------
 */

#define TP_VARS 4u
#define TP_FRAMES (1u << 21) /* 4 vars x 4 B: 32 MiB of values per repeat */
#define TP_REPEATS 7
#define TP_CHUNK 4096u /* one buffer's values */

typedef struct tcp_sender {
    int fd;
    uint64_t bytes;
} tcp_sender;

static void *tcp_send_main(void *arg) {
    tcp_sender *t = arg;
    static uint8_t chunk[TP_CHUNK];
    for (uint64_t done = 0; done < t->bytes; done += TP_CHUNK) {
        for (size_t off = 0; off < TP_CHUNK;) {
            ssize_t k = send(t->fd, chunk + off, TP_CHUNK - off, MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return NULL;
            off += (size_t)k;
        }
    }
    return NULL;
}

/* Plain blocking sockets on loopback: one thread sends 4 KiB chunks, this
 * one receives them. MB/s, or < 0 on failure. */
static double raw_tcp_mbps(uint64_t bytes) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        if (ls >= 0)
            close(ls);
        return -1;
    }
    int cs = socket(AF_INET, SOCK_STREAM, 0);
    if (cs < 0 || connect(cs, (struct sockaddr *)&a, sizeof a) != 0) {
        close(ls);
        if (cs >= 0)
            close(cs);
        return -1;
    }
    int ss = accept(ls, NULL, NULL);
    close(ls);
    if (ss < 0) {
        close(cs);
        return -1;
    }
    static uint8_t buf[64 * 1024];
    tcp_sender t = {ss, bytes};
    pthread_t th;
    uint64_t t0 = rill_clock_now_ns();
    pthread_create(&th, NULL, tcp_send_main, &t);
    uint64_t got = 0;
    while (got < bytes) {
        ssize_t k = recv(cs, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (uint64_t)k;
    }
    uint64_t t1 = rill_clock_now_ns();
    pthread_join(th, NULL);
    close(ss);
    close(cs);
    return got == bytes ? (double)bytes / (double)(t1 - t0) * 1e3 : -1;
}

/* One configuration: a fresh server, one client, TP_REPEATS repeats each
 * paired with a raw TCP run. Reports one row; returns the drops seen, or
 * UINT64_MAX on failure. */
static uint64_t bench_throughput(bool native, size_t queue_bytes,
                                 size_t ring_bytes) {
    char row[96];
    snprintf(row, sizeof row, "%s, %s MiB queues", native ? "native" : "compat",
             queue_bytes ? "64" : "8");
    server_setup s;
    if (server_open(&s, TP_VARS, "t", queue_bytes, ring_bytes) != 0) {
        bench_row_failed(row, "no server");
        return UINT64_MAX;
    }
    client *c = client_start(native ? "native client" : "compat client", native,
                             false, rill_server_port(s.srv), TP_VARS);
    uint64_t frame = 1, aligned = 0;
    uint32_t n = 0;
    bool ok = c != NULL && client_ok(c, row) &&
              warm_up(&s, c, &frame, &aligned, &n, row);
    if (ok && TP_FRAMES % n != 0) {
        bench_row_failed(row, "buffers of %u values do not divide a repeat", n);
        ok = false;
    }
    rill_server_stats st0, st1;
    rill_server_get_stats(s.srv, &st0);
    double raw[TP_REPEATS], srv[TP_REPEATS];
    /* CPU time of each side over the server repeats: this thread (the
     * producer), the client thread, and the rest of the process, which is
     * the server's network thread (the log writer idles). It shows which
     * side bounds the figure, however loaded the machine is. */
    double cpu_prod = 0, cpu_client = 0, cpu_rest = 0, wall = 0;
    clockid_t client_clock = CLOCK_PROCESS_CPUTIME_ID;
    if (c != NULL && pthread_getcpuclockid(c->thread, &client_clock) != 0)
        client_clock = CLOCK_PROCESS_CPUTIME_ID;
    uint64_t bytes = (uint64_t)TP_FRAMES * TP_VARS * 4;
    for (int r = 0; ok && r < TP_REPEATS; r++) {
        raw[r] = raw_tcp_mbps(bytes);
        if (raw[r] < 0) {
            bench_row_failed(row, "the raw TCP baseline failed");
            ok = false;
            break;
        }
        uint64_t b0 = atomic_load(&c->buffers), by0 = atomic_load(&c->bytes);
        uint64_t d0 = total_drops(s.srv);
        double p0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID),
               m0 = cpu_s(CLOCK_THREAD_CPUTIME_ID), k0 = cpu_s(client_clock);
        uint64_t t0 = rill_clock_now_ns();
        produce_blocks(&s, &frame, TP_FRAMES);
        double m1 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
        ok = wait_delivered(&s, c, b0, d0, (uint64_t)TP_FRAMES / n * TP_VARS,
                            30.0, row);
        uint64_t t1 = atomic_load(&c->last_arrival_ns);
        double p1 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), k1 = cpu_s(client_clock);
        /* The waiting loop's own CPU (m1 -> now) is counted as "rest";
         * it sleeps 100 us per poll, a small share. */
        cpu_prod += m1 - m0;
        cpu_client += k1 - k0;
        cpu_rest += (p1 - p0) - (m1 - m0) - (k1 - k0);
        wall += (double)(t1 - t0) * 1e-9;
        if (ok && t1 <= t0) {
            bench_row_failed(row, "no buffer arrived (all %u dropped?)",
                       TP_FRAMES / n * TP_VARS);
            ok = false;
        }
        srv[r] =
            (double)(atomic_load(&c->bytes) - by0) / (double)(t1 - t0) * 1e3;
    }
    rill_server_get_stats(s.srv, &st1);
    client_stop(c);
    rill_server_destroy(s.srv);
    if (!ok)
        return UINT64_MAX;
    uint64_t td = st1.tick_drops - st0.tick_drops;
    uint64_t cd = st1.client_drops - st0.client_drops;
    uint64_t sent = (uint64_t)TP_FRAMES / n * TP_VARS * TP_REPEATS;
    double raw_med = bench_median(raw, TP_REPEATS);
    double srv_med = bench_median(srv, TP_REPEATS);
    double per_buf = cpu_rest / (double)(sent - td - cd) * 1e6;
    fprintf(stderr,
            "bench_server: %s: %llu buffers sent, %llu dropped on the tick "
            "thread, %llu for the client; CPU over %.2f s of repeats: "
            "producer %.2f s, client thread %.2f s (%.1f us/buffer), server "
            "network thread %.2f s (%.1f us/buffer)\n",
            row, (unsigned long long)sent, (unsigned long long)td,
            (unsigned long long)cd, wall, cpu_prod, cpu_client,
            cpu_client / (double)(sent - td - cd) * 1e6, cpu_rest, per_buf);
    char name[160];
    snprintf(name, sizeof name, "%s (drops %llu+%llu)", row,
             (unsigned long long)td, (unsigned long long)cd);
    /* A repeat that dropped measured what got through, not the stream: the
     * target is judged on a run without drops (the default queues), else on
     * the re-run with queues that hold a whole repeat, which must not drop. */
    bool judged = native && (td + cd == 0 || queue_bytes != 0);
    if (!judged && native)
        fprintf(stderr,
                "bench_server: %s: the producer, unpaced, outran the socket "
                "and the queues dropped (counted); judged on the re-run with "
                "64 MiB queues\n",
                row);
    bench_report(&(bench_row){SUITE, name, srv_med, "MB/s", "raw TCP 4KiB",
                              raw_med, srv_med / raw_med,
                              judged ? ">= 0.5x raw TCP" : NULL,
                              judged ? srv_med / raw_med >= 0.5 && td + cd == 0
                                     : -1});
    snprintf(name, sizeof name, "%s: server CPU per buffer", row);
    bench_report(
        &(bench_row){SUITE, name, per_buf, "us", NULL, 0, 0, NULL, -1});
    return td + cd;
}

/* ---- Real-time producer (sections 3 and 4)
 * ------------------------------------ */

typedef struct rt_producer {
    server_setup *s;
    pthread_t thread;
    atomic_bool stop;
    _Atomic uint64_t frame; /* frames produced so far */
    _Atomic uint64_t late;  /* blocks that began more than a block late */
} rt_producer;

/* A device's audio loop: every 64/44100 s, 64 frames of tick + sets, as
 * fast as they go, then sleep to the next absolute deadline. In the last
 * frame of a block it notes the time right after each set that completes
 * a buffer of the latency plan. */
static void *rt_main(void *arg) {
    rt_producer *p = arg;
    server_setup *s = p->s;
    pthread_setname_np(pthread_self(), "bench-rt");
    const double period_ns = (double)BLOCK * 1e9 / RATE;
    uint64_t start = rill_clock_now_ns() + 1000000;
    uint64_t f = 0;
    for (uint64_t b = 0; !atomic_load_explicit(&p->stop, memory_order_relaxed);
         b++) {
        uint64_t deadline = start + (uint64_t)((double)b * period_ns);
        rill_clock_sleep_until_ns(deadline);
        if (rill_clock_now_ns() > deadline + (uint64_t)period_ns)
            atomic_fetch_add_explicit(&p->late, 1, memory_order_relaxed);
        bool armed = atomic_load_explicit(&g_lat.armed, memory_order_acquire);
        for (uint32_t i = 0; i < BLOCK; i++, f++) {
            rill_server_tick(s->srv, f);
            if (!armed || i != BLOCK - 1) {
                for (uint32_t k = 0; k < s->n_vars; k++)
                    rill_var_set_float(s->vars[k], value_at(f, k));
                continue;
            }
            for (uint32_t k = 0; k < s->n_vars; k++) {
                /* Does this set complete buffer j of the plan? */
                bool completes = false;
                uint64_t j = 0;
                if (k >= g_lat.first_id && k < g_lat.first_id + g_lat.k) {
                    uint64_t sk =
                        g_lat.t0 + (uint64_t)BLOCK * (k - g_lat.first_id);
                    if (f + 1 >= sk + g_lat.n && (f + 1 - sk) % g_lat.n == 0) {
                        j = (f + 1 - g_lat.t0) / BLOCK - g_lat.k;
                        completes = j < g_lat.m;
                    }
                }
                uint64_t before = completes ? rill_clock_now_ns() : 0;
                rill_var_set_float(s->vars[k], value_at(f, k));
                if (completes) {
                    g_lat.complete_ns[j] = rill_clock_now_ns();
                    g_lat.before_ns[j] = before;
                }
            }
        }
        atomic_store_explicit(&p->frame, f, memory_order_release);
    }
    return NULL;
}

static int rt_start(rt_producer *p, server_setup *s) {
    memset(p, 0, sizeof *p);
    p->s = s;
    return pthread_create(&p->thread, NULL, rt_main, p) == 0 ? 0 : -1;
}

static void rt_stop(rt_producer *p) {
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
}

/* ---- 3. Latency
 * ---------------------------------------------------------------- */

#define LAT_BUFFERS 2500u
#define LAT_MAX_K 16u

static void bench_latency(void) {
    const char *row = "latency native, tick -> client";
    server_setup s;
    /* "s0" is the probe, "s1".."s16" carry the measured buffers. */
    if (server_open(&s, 1 + LAT_MAX_K, "s", 0, 0) != 0) {
        bench_row_failed(row, "no server");
        return;
    }
    rt_producer p;
    memset(&g_lat, 0, sizeof g_lat);
    if (rt_start(&p, &s) != 0) {
        rill_server_destroy(s.srv);
        bench_row_failed(row, "no producer thread");
        return;
    }
    client *c = client_start("latency client", true, true,
                             rill_server_port(s.srv), 1 + LAT_MAX_K);
    bool ok = c != NULL && client_ok(c, row);
    /* Probe: does the native watch take "lengths"? The first buffer says. */
    ok = ok && send_watch(c, "s", 0, 1, false, 0, 0, BLOCK) == 0;
    double t0 = now_s();
    while (ok && atomic_load(&c->started_vars) == 0) {
        if (now_s() - t0 > 5.0 || atomic_load(&c->failed)) {
            if (client_ok(c, row))
                bench_row_failed(row, "no probe buffer after 5 s");
            ok = false;
        }
        sleep_us(1000);
    }
    uint32_t n = ok ? atomic_load(&c->full[0]) : 0;
    if (ok) {
        char *u = watch_cmd("unwatch", "s", 0, 1, false, 0, 0, 0);
        ctl_send(c, u);
        free(u);
        fprintf(stderr,
                "bench_server: latency: native buffers hold %u values (asked "
                "for %u with \"lengths\")%s\n",
                n, BLOCK,
                n == BLOCK ? ""
                           : "; lengths not supported, staggering "
                             "variables for one buffer per block");
        if (n % BLOCK != 0 || n / BLOCK > LAT_MAX_K) {
            bench_row_failed(row, "buffers of %u values cannot be staggered", n);
            ok = false;
        }
    }
    uint32_t k = ok ? n / BLOCK : 0;
    uint64_t *complete = calloc(LAT_BUFFERS, sizeof *complete);
    uint64_t *before = calloc(LAT_BUFFERS, sizeof *before);
    uint64_t *arrive = calloc(LAT_BUFFERS, sizeof *arrive);
    uint64_t late0 = atomic_load(&p.late);
    uint64_t drops0 = total_drops(s.srv);
    if (ok && (complete == NULL || before == NULL || arrive == NULL))
        ok = false;
    if (ok) {
        /* Start 0.2 s ahead, on a block boundary, so that the watch is
         * surely applied before the first variable starts. */
        uint64_t cur = atomic_load(&p.frame);
        uint64_t start = (cur + (uint64_t)(RATE * 0.2) + BLOCK) / BLOCK * BLOCK;
        g_lat.first_id = 1;
        g_lat.n = n;
        g_lat.k = k;
        g_lat.t0 = start;
        g_lat.m = LAT_BUFFERS;
        g_lat.complete_ns = complete;
        g_lat.before_ns = before;
        g_lat.arrive_ns = arrive;
        atomic_store_explicit(&g_lat.armed, true, memory_order_release);
        ok = send_watch(c, "s", 1, 1 + k, true, start, BLOCK, n) == 0;
        uint64_t last = start + (uint64_t)BLOCK * (k + LAT_BUFFERS);
        double limit = now_s() + (double)(last - cur) / RATE + 5.0;
        while (ok && atomic_load(&g_lat.arrived) < LAT_BUFFERS) {
            if (atomic_load(&c->failed) || now_s() > limit) {
                if (client_ok(c, row))
                    bench_row_failed(row, "%u of %u buffers arrived",
                               atomic_load(&g_lat.arrived), LAT_BUFFERS);
                ok = false;
            }
            sleep_us(2000);
        }
        ok = ok && client_ok(c, row);
        for (uint32_t i = 0; ok && i < k; i++) {
            uint64_t st = atomic_load(&c->start_ts[1 + i]);
            if (st != start + (uint64_t)BLOCK * i) {
                bench_row_failed(row, "s%u started at tick %llu, not %llu as asked",
                           1 + i, (unsigned long long)st,
                           (unsigned long long)(start + (uint64_t)BLOCK * i));
                ok = false;
            }
        }
    }
    atomic_store(&g_lat.armed, false);
    uint64_t late = atomic_load(&p.late) - late0;
    uint64_t drops = total_drops(s.srv) - drops0;
    uint64_t gaps = c ? atomic_load(&c->gap_buffers) : 0;
    client_stop(c);
    rt_stop(&p);
    rill_server_destroy(s.srv);

    /* A buffer leaves inside the set that completes it. If the producer
     * loses the CPU after that set and before it reads the clock, the
     * buffer can arrive "before" it completed; its latency is then counted
     * from just before the set, an upper bound. Arriving before the set
     * began would mean the matching is wrong. */
    double *lat = ok ? calloc(LAT_BUFFERS, sizeof *lat) : NULL;
    uint32_t preempted = 0;
    for (uint32_t j = 0; ok && j < LAT_BUFFERS; j++) {
        if (complete[j] == 0 || arrive[j] == 0 || arrive[j] < before[j]) {
            bench_row_failed(row,
                       "buffer %u: set began at %llu, arrived at %llu "
                       "(matching is wrong)",
                       j, (unsigned long long)before[j],
                       (unsigned long long)arrive[j]);
            ok = false;
            break;
        }
        if (arrive[j] >= complete[j]) {
            lat[j] = (double)(arrive[j] - complete[j]) * 1e-3;
        } else {
            lat[j] = (double)(arrive[j] - before[j]) * 1e-3;
            preempted++;
        }
    }
    if (ok && (drops != 0 || gaps != 0)) {
        bench_row_failed(row, "%llu buffers dropped (%llu gaps at the client)",
                   (unsigned long long)drops, (unsigned long long)gaps);
        ok = false;
    }
    if (ok) {
        double p50 = bench_percentile(lat, LAT_BUFFERS, 50.0);
        double p99 = bench_percentile(lat, LAT_BUFFERS, 99.0);
        double max = lat[LAT_BUFFERS - 1];
        fprintf(stderr,
                "bench_server: latency: %u buffers of %u values, max %.0f us, "
                "%llu producer blocks began > 1 block late, %u buffers "
                "arrived before the producer's clock read after the set\n",
                LAT_BUFFERS, n, max, (unsigned long long)late, preempted);
        char name[160];
        snprintf(name, sizeof name, "latency native p50 (%u-value bufs)", n);
        bench_report(
            &(bench_row){SUITE, name, p50, "us", NULL, 0, 0, NULL, -1});
        snprintf(name, sizeof name, "latency native p99 (%u-value bufs)", n);
        bench_report(&(bench_row){SUITE, name, p99, "us", NULL, 0, 0,
                                  "<= 1000 us", p99 <= 1000.0});
    }
    free(lat);
    free(complete);
    free(before);
    free(arrive);
    memset(&g_lat, 0, sizeof g_lat);
}

/* ---- 4. Soak
 * --------------------------------------------------------------------- */

#define SOAK_VARS 100u
#define SOAK_CLIENTS 2

typedef struct soak_result {
    rill_server_stats st;
    uint64_t frames;
    uint64_t late;
    int ok;
} soak_result;

static ssize_t read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return (ssize_t)got;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* The child: server + real-time producer until the parent says stop. */
/* bench_server runs itself with this argument and the three pipes' fds
 * to be the soak's server process. */
#define SOAK_CHILD_ARG "--soak-child"

static void soak_child(int port_fd, int cmd_fd, int res_fd) {
    soak_result r;
    memset(&r, 0, sizeof r);
    server_setup s;
    rt_producer p;
    int port = -1;
    if (server_open(&s, SOAK_VARS, "v", 0, 0) != 0) {
        (void)!write(port_fd, &port, sizeof port);
        _exit(1);
    }
    if (rt_start(&p, &s) != 0) {
        (void)!write(port_fd, &port, sizeof port);
        _exit(1);
    }
    port = rill_server_port(s.srv);
    (void)!write(port_fd, &port, sizeof port);
    /* 'S': the counters while the clients are still connected (a
     * connection's teardown makes records nobody will read: those are
     * not the soak's drops), then 's' to stop. Anything else (the
     * parent failed or died): stop. */
    char cmd = 0;
    read_full(cmd_fd, &cmd, 1);
    if (cmd == 'S') {
        rill_server_get_stats(s.srv, &r.st);
        r.frames = atomic_load(&p.frame);
        r.late = atomic_load(&p.late);
        r.ok = 1;
        (void)!write(res_fd, &r, sizeof r);
        read_full(cmd_fd, &cmd, 1);
    }
    rt_stop(&p);
    rill_server_destroy(s.srv);
    _exit(0);
}

/* utime + stime of a process, in seconds. */
static double proc_cpu_s(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A field of /proc/<pid>/status in kB (VmRSS, VmHWM), or -1. */
static double proc_status_kb(pid_t pid, const char *key) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    double kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            kb = strtod(line + kl + 1, NULL);
    fclose(f);
    return kb;
}

static void bench_soak(void) {
    double secs = 30;
    const char *env = getenv("RILL_BENCH_SOAK_S");
    if (env != NULL && *env != '\0')
        secs = strtod(env, NULL);
    if (!(secs > 0))
        return;
    char row[96];
    snprintf(row, sizeof row, "soak %u vars x 2 native, %.0f s", SOAK_VARS,
             secs);
    int port_p[2], cmd_p[2], res_p[2];
    if (pipe(port_p) != 0 || pipe(cmd_p) != 0 || pipe(res_p) != 0) {
        bench_row_failed(row, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        bench_row_failed(row, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        /* A fresh process image: the RSS row is this server's alone, not
         * the pages the earlier sections left resident in this process
         * (fork copies them, and VmHWM starts from them). */
        close(port_p[0]);
        close(cmd_p[1]);
        close(res_p[0]);
        char fds[3][16];
        snprintf(fds[0], sizeof fds[0], "%d", port_p[1]);
        snprintf(fds[1], sizeof fds[1], "%d", cmd_p[0]);
        snprintf(fds[2], sizeof fds[2], "%d", res_p[1]);
        execl("/proc/self/exe", "bench_server", SOAK_CHILD_ARG, fds[0], fds[1],
              fds[2], (char *)NULL);
        fprintf(stderr, "bench_server: cannot run the soak's server: %s\n",
                strerror(errno));
        _exit(1);
    }
    close(port_p[1]);
    close(cmd_p[0]);
    close(res_p[1]);
    int port = -1;
    bool ok =
        read_full(port_p[0], &port, sizeof port) == sizeof port && port > 0;
    if (!ok)
        bench_row_failed(row, "the server process did not start");
    client *c[SOAK_CLIENTS] = {NULL, NULL};
    for (int i = 0; ok && i < SOAK_CLIENTS; i++) {
        c[i] = client_start(i ? "soak client 2" : "soak client 1", true, true,
                            port, SOAK_VARS);
        ok = c[i] != NULL && client_ok(c[i], row) &&
             send_watch(c[i], "v", 0, SOAK_VARS, false, 0, 0, 0) == 0;
    }
    double t0 = now_s();
    for (int i = 0; ok && i < SOAK_CLIENTS; i++) {
        while (ok && atomic_load(&c[i]->started_vars) < SOAK_VARS) {
            if (atomic_load(&c[i]->failed) || now_s() - t0 > 10.0) {
                if (client_ok(c[i], row))
                    bench_row_failed(row, "no data from every variable after 10 s");
                ok = false;
            }
            sleep_us(2000);
        }
    }
    double cpu0 = proc_cpu_s(pid), cpu1 = cpu0, rss = -1, hwm = -1;
    double w0 = now_s(), w1 = w0;
    uint64_t b0[SOAK_CLIENTS] = {0, 0}, b1[SOAK_CLIENTS] = {0, 0};
    for (int i = 0; ok && i < SOAK_CLIENTS; i++)
        b0[i] = atomic_load(&c[i]->buffers);
    while (ok && now_s() - w0 < secs) {
        sleep_us(100000);
        for (int i = 0; i < SOAK_CLIENTS; i++)
            if (atomic_load(&c[i]->failed))
                ok = client_ok(c[i], row);
    }
    if (ok) {
        cpu1 = proc_cpu_s(pid);
        w1 = now_s();
        rss = proc_status_kb(pid, "VmRSS");
        hwm = proc_status_kb(pid, "VmHWM");
        for (int i = 0; i < SOAK_CLIENTS; i++)
            b1[i] = atomic_load(&c[i]->buffers);
    }
    /* The clients' gaps first, then the server's counters, both while
     * the clients are connected: a drop is counted before its gap is
     * seen, so gaps <= drops must hold. */
    uint64_t gaps = 0, notices = 0;
    for (int i = 0; i < SOAK_CLIENTS; i++) {
        if (c[i] != NULL) {
            if (ok)
                ok = client_ok(c[i], row);
            gaps += atomic_load(&c[i]->gap_buffers);
            notices += atomic_load(&c[i]->drop_notices);
        }
    }
    soak_result r;
    memset(&r, 0, sizeof r);
    if (ok) {
        (void)!write(cmd_p[1], "S", 1);
        if (read_full(res_p[0], &r, sizeof r) != sizeof r || !r.ok) {
            bench_row_failed(row, "the server process did not report");
            ok = false;
        }
    }
    for (int i = 0; i < SOAK_CLIENTS; i++)
        client_stop(c[i]);
    (void)!write(cmd_p[1], "s", 1);
    int status = 0;
    waitpid(pid, &status, 0);
    close(port_p[0]);
    close(cmd_p[1]);
    close(res_p[0]);
    if (!ok)
        return;
    double expected = (w1 - w0) * RATE / COMPAT_VALUES * SOAK_VARS;
    for (int i = 0; i < SOAK_CLIENTS; i++) {
        double got = (double)(b1[i] - b0[i]);
        if (got < 0.95 * expected) {
            bench_row_failed(row,
                       "client %d got %.0f buffers in %.1f s, expected "
                       "about %.0f",
                       i + 1, got, w1 - w0, expected);
            return;
        }
    }
    fprintf(stderr,
            "bench_server: soak: %.1f s, %.0f buffers/s per client, "
            "%llu frames, %llu blocks began > 1 block late, drops: tick "
            "%llu, client %llu, gaps seen by the clients %llu, drop notices "
            "%llu; VmHWM %.1f MiB\n",
            w1 - w0, (double)(b1[0] - b0[0]) / (w1 - w0),
            (unsigned long long)r.frames, (unsigned long long)r.late,
            (unsigned long long)r.st.tick_drops,
            (unsigned long long)r.st.client_drops, (unsigned long long)gaps,
            (unsigned long long)notices, hwm / 1024.0);
    double cpu = (cpu1 - cpu0) / (w1 - w0) * 100.0;
    char name[160];
    snprintf(name, sizeof name, "%s: server CPU", row);
    bench_report(&(bench_row){SUITE, name, cpu, "%core", NULL, 0, 0, NULL, -1});
    snprintf(name, sizeof name, "%s: server RSS", row);
    bench_report(
        &(bench_row){SUITE, name, rss / 1024.0, "MiB", NULL, 0, 0, NULL, -1});
    /* Every buffer the server dropped for a native client is a gap that
     * client sees when the next buffer arrives; more gaps than drops would
     * mean lost data nobody counted. */
    uint64_t drops = r.st.tick_drops + r.st.client_drops;
    if (gaps > drops) {
        bench_row_failed(row,
                   "the clients saw %llu missing buffers, the server "
                   "counted %llu drops",
                   (unsigned long long)gaps, (unsigned long long)drops);
        return;
    }
    snprintf(name, sizeof name, "%s: drops", row);
    bench_report(&(bench_row){SUITE, name, (double)drops, "bufs", NULL, 0, 0,
                              "0", drops == 0});
}

/* RILL_BENCH_SERVER_SECTIONS, e.g. "set,throughput", runs only those of
 * set, throughput, latency, soak (default: all). */
static bool section(const char *name) {
    const char *env = getenv("RILL_BENCH_SERVER_SECTIONS");
    if (env == NULL || *env == '\0')
        return true;
    size_t n = strlen(name);
    for (const char *p = env; (p = strstr(p, name)) != NULL; p += n)
        if ((p == env || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void print_load(const char *when) {
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("bench_server: load average %s: %.2f %.2f %.2f on %ld cores\n",
               when, l[0], l[1], l[2], sysconf(_SC_NPROCESSORS_ONLN));
}

int main(int argc, char **argv) {
    bench_set_name("bench_server");
    rill_set_log_callback(bench_log, RILL_LOG_WARN, NULL);
    if (argc == 5 && strcmp(argv[1], SOAK_CHILD_ARG) == 0)
        soak_child(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    print_load("at start");
    bench_header("server (rill watch): tick cost, throughput, latency, soak");
    if (section("set"))
        bench_set_cost();
    for (int native = 1; native >= 0 && section("throughput"); native--) {
        uint64_t d = bench_throughput(native, 0, 0);
        if (d != 0 && d != UINT64_MAX)
            bench_throughput(native, 64u << 20, 64u << 20);
    }
    if (section("latency"))
        bench_latency();
    if (section("soak"))
        bench_soak();
    print_load("at end");
    return bench_failed() ? 1 : 0;
}
