/* The tick thread's stream state machines, driven directly: commands in,
 * records out of the rings, no network. Each test plays both sides on one
 * thread, so the exact tick of every transition can be checked. */
#include "test.h"
#include "server/device.h"
#include "proto/wire.h"

typedef struct fixture {
    rill__device dev;
    rill_var var;
} fixture;

static void setup(fixture *f, rill_type type, rill_ts_mode mode,
                  size_t out_bytes) {
    memset(f, 0, sizeof *f);
    ASSERT_OK(rill__device_init(&f->dev, 4, 64, out_bytes, 1 << 16));
    f->var.dev = &f->dev;
    f->var.type = type;
    f->var.mode = mode;
    f->var.size = rill_type_size(type);
    snprintf(f->var.name, sizeof f->var.name, "v");
    f->dev.vars[0] = &f->var;
    atomic_store(&f->dev.n_vars, 1);
    atomic_store(&f->dev.compat_active, 1); /* as if pybela were connected */
}

static void post(fixture *f, rill__rtcmd_kind kind, rill__stream *s,
                 uint64_t tick, uint64_t duration, uint32_t period) {
    rill__rtcmd c = {kind, period, s, tick, duration};
    ASSERT_OK(rill_queue_post(f->dev.cmds, &c, sizeof c));
}

/* One frame as a device runs it: tick, then set the frame number. */
static void frame_int(fixture *f, uint64_t t) {
    rill__device_tick(&f->dev, t);
    rill_var_set_int32(&f->var, (int32_t)t);
}

typedef struct rec {
    rill__rec h;
    uint8_t payload[8192];
} rec;

static bool next_rec(rill_ring *ring, rec *r) {
    if (rill_ring_read_all(ring, &r->h, sizeof r->h) != 0)
        return false;
    ASSERT_LE_UINT(r->h.bytes, sizeof r->payload);
    ASSERT_OK(rill_ring_read_all(ring, r->payload, r->h.bytes));
    return true;
}

static int32_t value_at(const rec *r, size_t off, size_t i) {
    int32_t v;
    memcpy(&v, r->payload + off + i * 4, 4);
    return v;
}

TEST(compat_watch_buffers_are_continuous_frame_numbers) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (uint64_t t = 100; t < 100 + 3 * 1024 + 10; t++)
        frame_int(&f, t);
    rec r;
    for (uint64_t b = 0; b < 3; b++) {
        ASSERT_TRUE(next_rec(f.dev.out, &r));
        ASSERT_EQ_UINT(r.h.bytes, RILL__BELA_BODY_BYTES);
        ASSERT_EQ_UINT(r.h.seq, b);
        uint64_t ref;
        memcpy(&ref, r.payload, 8);
        ASSERT_EQ_UINT(ref, 100 + b * 1024);
        ASSERT_EQ_INT(value_at(&r, 8, 0), (int64_t)ref);
        ASSERT_EQ_INT(value_at(&r, 8, 1023), (int64_t)ref + 1023);
    }
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(compat_scheduled_duration_gives_d_plus_one_values_then_padding) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    frame_int(&f, 10);
    post(&f, RILL__RT_START, s, 500, 100, 0); /* start at 500 for 100 */
    for (uint64_t t = 11; t < 2000; t++) {
        frame_int(&f, t);
        int st = atomic_load(&s->pub_state);
        if (t < 500)
            ASSERT_EQ_INT(st, RILL__ST_STARTING);
        else if (t < 600)
            ASSERT_EQ_INT(st, RILL__ST_STOPPING);
        else
            ASSERT_EQ_INT(st, RILL__ST_NO);
    }
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.count, 101); /* ticks 500..600 inclusive */
    ASSERT_TRUE(r.h.flags & RILL__REC_FLAG_LAST);
    ASSERT_EQ_INT(value_at(&r, 8, 0), 500);
    ASSERT_EQ_INT(value_at(&r, 8, 100), 600);
    for (size_t i = 101; i < 1024; i++)
        ASSERT_EQ_INT(value_at(&r, 8, i), 0);
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(s->var->rt_n_streams, 0);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(compat_watch_is_paused_while_no_client_is_active) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    atomic_store(&f.dev.compat_active, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    /* No active client: after the first tick nothing is filled. */
    for (uint64_t t = 0; t < 5000; t++)
        frame_int(&f, t);
    rec r;
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    atomic_store(&f.dev.compat_active, 1);
    for (uint64_t t = 5000; t < 5000 + 1024; t++)
        frame_int(&f, t);
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    uint64_t ref;
    memcpy(&ref, r.payload, 8);
    ASSERT_EQ_UINT(ref, 5000);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

/* Issue 15: pybela stops streaming and disconnects at once, so the stop
 * reaches the tick thread when no client is active any more. The partial
 * buffer must not wait there for the next client, who would take it
 * (padded, with a value from its own time appended) as its first buffer. */
TEST(compat_stop_applied_while_no_client_is_active_sends_nothing_later) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (uint64_t t = 0; t < 1024 + 700; t++) /* one full buffer, 700 more */
        frame_int(&f, t);
    post(&f, RILL__RT_STOP, s, 0, 0, 0);
    atomic_store(&f.dev.compat_active, 0); /* the client left */
    for (uint64_t t = 1724; t < 3000; t++)
        frame_int(&f, t);
    ASSERT_EQ_INT(atomic_load(&s->pub_state), RILL__ST_NO);
    atomic_store(&f.dev.compat_active, 1); /* the next client */
    for (uint64_t t = 3000; t < 3000 + 3 * 1024; t++)
        frame_int(&f, t);
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r)); /* the full buffer, sent live */
    uint64_t ref;
    memcpy(&ref, r.payload, 8);
    ASSERT_EQ_UINT(ref, 0);
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

/* A dense buffer never spans a stretch without an active client: values
 * from before it and after it are not contiguous ticks. */
TEST(compat_partial_buffer_is_dropped_across_an_inactive_stretch) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (uint64_t t = 0; t < 700; t++)
        frame_int(&f, t);
    atomic_store(&f.dev.compat_active, 0);
    for (uint64_t t = 700; t < 5000; t++)
        frame_int(&f, t);
    atomic_store(&f.dev.compat_active, 1);
    for (uint64_t t = 5000; t < 5000 + 2 * 1024; t++)
        frame_int(&f, t);
    rec r;
    for (uint64_t b = 0; b < 2; b++) {
        ASSERT_TRUE(next_rec(f.dev.out, &r));
        uint64_t ref;
        memcpy(&ref, r.payload, 8);
        ASSERT_EQ_UINT(ref, 5000 + b * 1024);
        ASSERT_EQ_INT(value_at(&r, 8, 0), (int64_t)ref);
        ASSERT_EQ_INT(value_at(&r, 8, 1023), (int64_t)ref + 1023);
    }
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    ASSERT_EQ_INT(atomic_load(&s->pub_state), RILL__ST_YES);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(native_scheduled_watch_takes_exactly_duration_values) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 64);
    frame_int(&f, 0);
    post(&f, RILL__RT_START, s, 1000, 150, 0);
    for (uint64_t t = 1; t < 3000; t++)
        frame_int(&f, t);
    rec r;
    uint64_t expect = 1000, total = 0;
    bool last = false;
    while (next_rec(f.dev.out, &r)) {
        ASSERT_TRUE(!last);
        ASSERT_EQ_UINT(r.h.kind, RILL__REC_BUFFER);
        ASSERT_EQ_UINT(r.h.ref, expect);
        ASSERT_EQ_UINT(r.h.bytes, r.h.count * 4u);
        for (uint32_t i = 0; i < r.h.count; i++)
            ASSERT_EQ_INT(value_at(&r, 0, i), (int64_t)(expect + i));
        expect += r.h.count;
        total += r.h.count;
        last = (r.h.flags & RILL__REC_FLAG_LAST) != 0;
    }
    ASSERT_TRUE(last);
    ASSERT_EQ_UINT(total, 150); /* ticks 1000..1149 */
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(native_stop_on_a_buffer_boundary_sends_an_end_record) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 50);
    post(&f, RILL__RT_START, s, 0, 100, 0); /* two full buffers exactly */
    for (uint64_t t = 0; t < 300; t++)
        frame_int(&f, t);
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.count, 50);
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.count, 50);
    ASSERT_EQ_UINT(r.h.flags & RILL__REC_FLAG_LAST, 0);
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.kind, RILL__REC_END);
    ASSERT_EQ_UINT(r.h.ref, 100);
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(sparse_values_carry_exact_relative_timestamps) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_SPARSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (uint64_t t = 0; t < 40000; t++) {
        rill__device_tick(&f.dev, t);
        if (t % 64 == 0 || t % 100 == 7)
            rill_var_set_int32(&f.var, (int32_t)t);
    }
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    uint64_t ref;
    memcpy(&ref, r.payload, 8);
    size_t R = rill__bela_rel_offset(RILL_TYPE_INT32);
    ASSERT_EQ_UINT(R, 2056);
    for (size_t i = 0; i < 512; i++) {
        uint32_t rel;
        memcpy(&rel, r.payload + R + i * 4, 4);
        ASSERT_EQ_INT(value_at(&r, 8, i), (int64_t)(ref + rel));
    }
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(monitor_frames_are_exactly_one_period_apart_and_one_shot_stops) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *m = rill__stream_create(&f.var, RILL__STREAM_MONITOR,
                                          RILL__SINK_CLIENT, false, 0);
    post(&f, RILL__RT_MONITOR, m, 0, 0, 300);
    for (uint64_t t = 7; t < 7 + 3000; t++)
        frame_int(&f, t);
    rec r;
    for (uint64_t k = 0; k < 10; k++) {
        ASSERT_TRUE(next_rec(f.dev.out, &r));
        ASSERT_EQ_UINT(r.h.kind, RILL__REC_MONITOR);
        ASSERT_EQ_UINT(r.h.ref, 7 + k * 300);
        ASSERT_EQ_INT(value_at(&r, 0, 0), (int64_t)(7 + k * 300));
    }
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    post(&f, RILL__RT_MONITOR, m, 0, 0, 1); /* one-shot */
    for (uint64_t t = 5000; t < 6000; t++)
        frame_int(&f, t);
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.ref, 5000);
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(atomic_load(&m->pub_period), 0);
    rill__stream_destroy(m);
    rill__device_deinit(&f.dev);
}

TEST(full_ring_drops_whole_buffers_counted_as_sequence_gaps) {
    fixture f;
    /* A 1024-byte ring holds three records of 64 int32 values. */
    size_t rec_bytes = sizeof(rill__rec) + 64 * 4;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1024);
    ASSERT_EQ_UINT(1024 / rec_bytes, 3);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 64);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (uint64_t t = 0; t < 64 * 6; t++) /* six buffers, room for three */
        frame_int(&f, t);
    ASSERT_EQ_UINT(atomic_load(&f.dev.tick_drops), 3);
    rec r;
    for (uint64_t k = 0; k < 3; k++) {
        ASSERT_TRUE(next_rec(f.dev.out, &r));
        ASSERT_EQ_UINT(r.h.seq, k);
        ASSERT_EQ_UINT(r.h.dropped, 0);
    }
    ASSERT_TRUE(!next_rec(f.dev.out, &r));
    for (uint64_t t = 64 * 6; t < 64 * 7; t++)
        frame_int(&f, t);
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.seq, 6);     /* 3, 4 and 5 were dropped */
    ASSERT_EQ_UINT(r.h.dropped, 3); /* and the record says so */
    ASSERT_EQ_UINT(r.h.ref, 64 * 6);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(set_path_never_allocates) {
    fixture f;
    setup(&f, RILL_TYPE_FLOAT, RILL_TS_DENSE, 1 << 20);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 256);
    rill__stream *m = rill__stream_create(&f.var, RILL__STREAM_MONITOR,
                                          RILL__SINK_CLIENT, false, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    post(&f, RILL__RT_MONITOR, m, 0, 0, 10);
    long before = test_alloc_count();
    rec r;
    for (uint64_t t = 0; t < 100000; t++) {
        rill__device_tick(&f.dev, t);
        rill_var_set_float(&f.var, (float)t);
        rill_var_set_double(&f.var, (double)t); /* converting path too */
        while (next_rec(f.dev.out, &r)) {
        }
    }
    ASSERT_EQ_INT(test_alloc_count(), before);
    rill__stream_destroy(s);
    rill__stream_destroy(m);
    rill__device_deinit(&f.dev);
}

TEST(release_detaches_and_acknowledges) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 64);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    frame_int(&f, 0);
    ASSERT_EQ_UINT(f.var.rt_n_streams, 1);
    post(&f, RILL__RT_RELEASE, s, 0, 0, 0);
    frame_int(&f, 1);
    ASSERT_EQ_UINT(f.var.rt_n_streams, 0);
    rill__ev ev;
    ASSERT_OK(rill_queue_pop(f.dev.events, &ev, sizeof ev, NULL));
    ASSERT_EQ_INT(ev.kind, RILL__EV_RELEASED);
    ASSERT_TRUE(ev.stream == s);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(mismatched_set_type_converts_with_saturation) {
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 4);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    const double in[4] = {-3.7, 1e12, -1e12, 0.0 / 0.0};
    const int32_t want[4] = {-3, INT32_MAX, INT32_MIN, 0};
    for (int i = 0; i < 4; i++) {
        rill__device_tick(&f.dev, (uint64_t)i);
        rill_var_set_double(&f.var, in[i]);
    }
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ_INT(value_at(&r, 0, i), want[i]);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(native_sparse_records_align_timestamps_after_odd_sized_values) {
    fixture f;
    setup(&f, RILL_TYPE_CHAR, RILL_TS_SPARSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 5);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (uint64_t t = 0; t < 20; t++) {
        rill__device_tick(&f.dev, t);
        if (t % 3 == 0)
            rill_var_set_char(&f.var, (char)('a' + t));
    }
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.count, 5);
    ASSERT_EQ_UINT(r.h.bytes, 8 + 5 * 4); /* 5 chars padded to 8, 5 u32 */
    ASSERT_EQ_MEM(r.payload, "adgjm", 5);
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t rel;
        memcpy(&rel, r.payload + 8 + i * 4, 4);
        ASSERT_EQ_UINT(rel, i * 3);
    }
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

/* ---- Waking the network thread -------------------------------------------- */

#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#if !defined(__SANITIZE_THREAD__)
/* Every write(2) this program makes, counted when it comes from a thread
 * marked as the tick thread (ThreadSanitizer intercepts write itself, so
 * there the eventfd's counter alone counts). */
#include <dlfcn.h>
static _Thread_local bool tl_tick;
static atomic_long tick_writes;
static ssize_t (*real_write)(int, const void *, size_t);
ssize_t write(int fd, const void *buf, size_t n) {
    if (tl_tick)
        atomic_fetch_add(&tick_writes, 1);
    if (real_write == NULL)
        real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
                                                                   "write");
    return real_write(fd, buf, n);
}
#define MARK_TICK_THREAD(on) (tl_tick = (on))
#define TICK_WRITES() atomic_load(&tick_writes)
#else
#define MARK_TICK_THREAD(on) ((void)0)
#define TICK_WRITES() 0L
#endif

/* What the eventfd holds: the writes made to it since the last read. */
static uint64_t take_eventfd(int fd) {
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        return 0;
    return v;
}

TEST(tick_thread_wakes_the_network_thread_once_per_sleep_and_never_while_it_is_busy) {
    fixture f;
    setup(&f, RILL_TYPE_FLOAT, RILL_TS_DENSE, 1 << 20);
    f.dev.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_TRUE(f.dev.wake_fd >= 0);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 64);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    long writes0 = TICK_WRITES();
    rec r;
    MARK_TICK_THREAD(true);
    /* The network thread busy (it never said it sleeps): 1000 buffers, not
     * one system call. */
    uint64_t t = 0;
    for (; t < 64 * 1000; t++) {
        rill__device_tick(&f.dev, t);
        rill_var_set_float(&f.var, (float)t);
    }
    MARK_TICK_THREAD(false);
    ASSERT_EQ_UINT(atomic_load(&f.dev.wakeups), 0);
    ASSERT_EQ_UINT(take_eventfd(f.dev.wake_fd), 0);
    ASSERT_EQ_INT(TICK_WRITES() - writes0, 0);
    /* With records waiting it must not sleep. */
    ASSERT_TRUE(!rill__device_will_sleep(&f.dev));
    while (next_rec(f.dev.out, &r)) {
    }
    /* Each sleep: eight buffers complete, exactly one write wakes it. */
    for (int sleep = 0; sleep < 100; sleep++) {
        ASSERT_TRUE(rill__device_will_sleep(&f.dev));
        MARK_TICK_THREAD(true);
        for (uint64_t end = t + 64 * 8; t < end; t++) {
            rill__device_tick(&f.dev, t);
            rill_var_set_float(&f.var, (float)t);
        }
        MARK_TICK_THREAD(false);
        ASSERT_EQ_UINT(take_eventfd(f.dev.wake_fd), 1);
        rill__device_awake(&f.dev);
        int n = 0;
        while (next_rec(f.dev.out, &r))
            n++;
        ASSERT_EQ_INT(n, 8);
    }
    ASSERT_EQ_UINT(atomic_load(&f.dev.wakeups), 100);
    ASSERT_EQ_UINT(atomic_load(&f.dev.net_sleeps), 100);
#if !defined(__SANITIZE_THREAD__)
    ASSERT_EQ_INT(TICK_WRITES() - writes0, 100);
#endif
    /* Ticks that complete nothing never write, even while it sleeps. */
    ASSERT_TRUE(rill__device_will_sleep(&f.dev));
    MARK_TICK_THREAD(true);
    for (uint64_t end = t + 63; t < end; t++) {
        rill__device_tick(&f.dev, t);
        rill_var_set_float(&f.var, (float)t);
    }
    MARK_TICK_THREAD(false);
    ASSERT_EQ_UINT(take_eventfd(f.dev.wake_fd), 0);
    rill__device_awake(&f.dev);
    close(f.dev.wake_fd);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

/* The two threads for real: the producer publishes one buffer at a
 * random moment, then waits until the consumer has it; the consumer drains,
 * announces its sleep and waits in poll() on the eventfd. So every buffer
 * is the last one for a while: a wake-up lost to the race between the
 * announcement and a record would leave it in the ring through a whole
 * poll timeout. None may, and the writes never outnumber the sleeps. */
typedef struct wake_race {
    fixture *f;
    atomic_bool done;
    _Atomic uint64_t consumed;
    uint64_t buffers;
} wake_race;

static void *race_producer(void *arg) {
    wake_race *w = arg;
    unsigned seed = 12345;
    uint64_t t = 0;
    for (uint64_t b = 0; b < w->buffers; b++) {
        seed = seed * 1103515245u + 12345u;
        for (unsigned spin = (seed >> 16) % 4000; spin > 0; spin--)
            __asm__ volatile("" ::: "memory");
        for (int i = 0; i < 16; i++, t++) {
            rill__device_tick(&w->f->dev, t);
            rill_var_set_float(&w->f->var, (float)t);
        }
        while (atomic_load(&w->consumed) <= b)
            sched_yield();
    }
    atomic_store(&w->done, true);
    return NULL;
}

TEST(no_wake_up_is_lost_between_the_sleep_announcement_and_a_record) {
    fixture f;
    setup(&f, RILL_TYPE_FLOAT, RILL_TS_DENSE, 1 << 20);
    f.dev.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_TRUE(f.dev.wake_fd >= 0);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 16);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    wake_race w = {&f, false, 0, 20000};
    pthread_t th;
    ASSERT_EQ_INT(pthread_create(&th, NULL, race_producer, &w), 0);
    uint64_t got = 0, timeouts = 0;
    rec r;
    for (;;) {
        while (next_rec(f.dev.out, &r))
            atomic_store(&w.consumed, ++got);
        if (atomic_load(&w.done))
            break;
        if (!rill__device_will_sleep(&f.dev))
            continue;
        struct pollfd p = {f.dev.wake_fd, POLLIN, 0};
        /* The producer waits for us: only a lost wake-up lets this time
         * out with a record in the ring. */
        int n = poll(&p, 1, 1000);
        rill__device_awake(&f.dev);
        if (n == 0 && rill__device_has_work(&f.dev))
            timeouts++;
        if (n > 0)
            take_eventfd(f.dev.wake_fd);
    }
    pthread_join(th, NULL);
    while (next_rec(f.dev.out, &r))
        got++;
    ASSERT_EQ_UINT(got, w.buffers);
    ASSERT_EQ_UINT(timeouts, 0);
    ASSERT_LE_UINT(atomic_load(&f.dev.wakeups), atomic_load(&f.dev.net_sleeps));
    close(f.dev.wake_fd);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

/* ---- Setting a block of values --------------------------------------------- */

/* Two devices fed the same frames: one ticks and sets every frame, the
 * other ticks once per block and sets the block at once. Every record
 * (kind, tick, count, flags, sequence, payload) must be the same. */
typedef struct twin {
    fixture per_frame, per_block;
    rill__stream *a[4], *b[4];
    size_t n;
} twin;

static void twin_stream(twin *t, rill__stream_kind kind, rill__sink sink,
                        bool compat, uint32_t cap, uint64_t start,
                        uint64_t duration, uint32_t period) {
    rill__stream *x = rill__stream_create(&t->per_frame.var, kind, sink,
                                          compat, cap);
    rill__stream *y = rill__stream_create(&t->per_block.var, kind, sink,
                                          compat, cap);
    ASSERT_NOT_NULL(x);
    ASSERT_NOT_NULL(y);
    rill__rtcmd_kind k = kind == RILL__STREAM_MONITOR ? RILL__RT_MONITOR
                                                       : RILL__RT_START;
    post(&t->per_frame, k, x, start, duration, period);
    post(&t->per_block, k, y, start, duration, period);
    t->a[t->n] = x;
    t->b[t->n] = y;
    t->n++;
}

static void twin_run(twin *t, uint64_t from, uint64_t frames, size_t block) {
    int32_t v[256];
    for (uint64_t f = from; f < from + frames; f += block) {
        for (size_t i = 0; i < block; i++) {
            rill__device_tick(&t->per_frame.dev, f + i);
            rill_var_set_int32(&t->per_frame.var, (int32_t)(f + i));
            v[i] = (int32_t)(f + i);
        }
        rill__device_tick(&t->per_block.dev, f);
        rill_var_set_block(&t->per_block.var, RILL_TYPE_INT32, v, block);
    }
}

/* Records of one stream keep their order; different streams' records
 * interleave differently when a block is set at once, so they are
 * compared stream by stream. Returns how many records there were. */
#define TWIN_MAX 2048
static size_t twin_compare(twin *t) {
    static rec x[TWIN_MAX], y[TWIN_MAX];
    size_t nx = 0, ny = 0;
    while (nx < TWIN_MAX && next_rec(t->per_frame.dev.out, &x[nx]))
        nx++;
    while (ny < TWIN_MAX && next_rec(t->per_block.dev.out, &y[ny]))
        ny++;
    ASSERT_EQ_UINT(nx, ny);
    ASSERT_TRUE(nx < TWIN_MAX);
    for (size_t k = 0; k < t->n; k++) {
        size_t i = 0, j = 0;
        for (;;) {
            while (i < nx && x[i].h.stream != t->a[k])
                i++;
            while (j < ny && y[j].h.stream != t->b[k])
                j++;
            ASSERT_EQ_INT(i < nx, j < ny);
            if (i == nx)
                break;
            ASSERT_EQ_UINT(x[i].h.kind, y[j].h.kind);
            ASSERT_EQ_UINT(x[i].h.ref, y[j].h.ref);
            ASSERT_EQ_UINT(x[i].h.seq, y[j].h.seq);
            ASSERT_EQ_UINT(x[i].h.count, y[j].h.count);
            ASSERT_EQ_UINT(x[i].h.flags, y[j].h.flags);
            ASSERT_EQ_UINT(x[i].h.bytes, y[j].h.bytes);
            ASSERT_EQ_MEM(x[i].payload, y[j].payload, x[i].h.bytes);
            i++;
            j++;
        }
    }
    return nx;
}

static void twin_free(twin *t) {
    for (size_t i = 0; i < t->n; i++) {
        rill__stream_destroy(t->a[i]);
        rill__stream_destroy(t->b[i]);
    }
    rill__device_deinit(&t->per_frame.dev);
    rill__device_deinit(&t->per_block.dev);
}

TEST(a_block_of_values_streams_exactly_as_one_set_per_frame_would) {
    static twin t;
    memset(&t, 0, sizeof t);
    setup(&t.per_frame, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 20);
    setup(&t.per_block, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 20);
    /* A running stream whose buffers are not a whole number of blocks; a
     * schedule starting and ending inside blocks; a compatibility watch;
     * a monitor whose period is not a divisor of the block. */
    twin_stream(&t, RILL__STREAM_BUFFER, RILL__SINK_CLIENT, false, 100, 0, 0, 0);
    twin_stream(&t, RILL__STREAM_BUFFER, RILL__SINK_CLIENT, false, 30, 1000 + 10,
                777, 0);
    twin_stream(&t, RILL__STREAM_BUFFER, RILL__SINK_COMPAT_WATCH, true, 0, 0, 0,
                0);
    twin_stream(&t, RILL__STREAM_MONITOR, RILL__SINK_CLIENT, false, 0, 0, 0, 7);
    twin_run(&t, 0, 64 * 100, 64);
    size_t n = twin_compare(&t);
    /* 64 buffers of 100; 26 of the schedule (777 values from tick 1010:
     * 25 full, the last of 27 flagged); 6 compat bodies; a monitor frame
     * every 7 ticks, 915 of them. */
    ASSERT_EQ_UINT(n, 64 + 26 + 6 + 915);
    twin_free(&t);
}

TEST(a_sparse_block_and_a_converted_block_stream_as_single_sets_would) {
    static twin t;
    memset(&t, 0, sizeof t);
    setup(&t.per_frame, RILL_TYPE_INT32, RILL_TS_SPARSE, 1 << 20);
    setup(&t.per_block, RILL_TYPE_INT32, RILL_TS_SPARSE, 1 << 20);
    twin_stream(&t, RILL__STREAM_BUFFER, RILL__SINK_CLIENT, false, 50, 33, 500, 0);
    twin_run(&t, 0, 48 * 20, 48);
    /* 500 values from tick 33: ten full buffers, then the end record. */
    ASSERT_EQ_UINT(twin_compare(&t), 11);
    twin_free(&t);

    /* Doubles into an int variable: the block converts as rill_var_set_*
     * do (saturating). */
    fixture f;
    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 4);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    rill__device_tick(&f.dev, 0);
    const double in[4] = {-3.7, 1e12, -1e12, 0.0 / 0.0};
    const int32_t want[4] = {-3, INT32_MAX, INT32_MIN, 0};
    rill_var_set_block(&f.var, RILL_TYPE_DOUBLE, in, 4);
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    ASSERT_EQ_UINT(r.h.count, 4);
    ASSERT_EQ_UINT(r.h.ref, 0);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(value_at(&r, 0, (size_t)i), want[i]);
    /* What the program reads back is the last value as given, as after
     * rill_var_set_double. */
    ASSERT_TRUE(rill_var_get(&f.var) != rill_var_get(&f.var));
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

TEST(a_block_set_never_allocates) {
    fixture f;
    setup(&f, RILL_TYPE_FLOAT, RILL_TS_DENSE, 1 << 20);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 1000);
    rill__stream *m = rill__stream_create(&f.var, RILL__STREAM_MONITOR,
                                          RILL__SINK_CLIENT, false, 0);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    post(&f, RILL__RT_MONITOR, m, 0, 0, 10);
    static float fv[64];
    static double dv[64];
    long before = test_alloc_count();
    rec r;
    for (uint64_t t = 0; t < 64 * 2000; t += 64) {
        rill__device_tick(&f.dev, t);
        rill_var_set_block(&f.var, RILL_TYPE_FLOAT, fv, 64);
        rill_var_set_block(&f.var, RILL_TYPE_DOUBLE, dv, 64); /* converting */
        while (next_rec(f.dev.out, &r)) {
        }
    }
    ASSERT_EQ_INT(test_alloc_count(), before);
    rill__stream_destroy(s);
    rill__stream_destroy(m);
    rill__device_deinit(&f.dev);
}

/* rill_var_set_uint32 on its own type stores the bits as they are (values
 * past INT32_MAX included), on another type converts the value, not the
 * bits: 3000000000 into an int32 saturates, into a double stays exact. */
TEST(set_uint32_keeps_values_past_int32_max_and_converts_to_other_types) {
    const uint32_t in[4] = {0, 1, 2147483648u, UINT32_MAX};
    fixture f;
    setup(&f, RILL_TYPE_UINT32, RILL_TS_DENSE, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_CLIENT, false, 4);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (int i = 0; i < 4; i++) {
        rill__device_tick(&f.dev, (uint64_t)i);
        rill_var_set_uint32(&f.var, in[i]);
    }
    rec r;
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    for (size_t i = 0; i < 4; i++) {
        uint32_t v;
        memcpy(&v, r.payload + i * 4, 4);
        ASSERT_EQ_UINT(v, in[i]);
    }
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);

    setup(&f, RILL_TYPE_INT32, RILL_TS_DENSE, 1 << 16);
    s = rill__stream_create(&f.var, RILL__STREAM_BUFFER, RILL__SINK_CLIENT,
                            false, 4);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (int i = 0; i < 4; i++) {
        rill__device_tick(&f.dev, (uint64_t)i);
        rill_var_set_uint32(&f.var, in[i]);
    }
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    const int32_t want[4] = {0, 1, INT32_MAX, INT32_MAX};
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ_INT(value_at(&r, 0, i), want[i]);
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);

    setup(&f, RILL_TYPE_DOUBLE, RILL_TS_DENSE, 1 << 16);
    s = rill__stream_create(&f.var, RILL__STREAM_BUFFER, RILL__SINK_CLIENT,
                            false, 4);
    post(&f, RILL__RT_START, s, 0, 0, 0);
    for (int i = 0; i < 4; i++) {
        rill__device_tick(&f.dev, (uint64_t)i);
        rill_var_set_uint32(&f.var, in[i]);
    }
    ASSERT_TRUE(next_rec(f.dev.out, &r));
    for (size_t i = 0; i < 4; i++) {
        double v;
        memcpy(&v, r.payload + i * 8, 8);
        ASSERT_EQ_DOUBLE(v, (double)in[i], 0);
    }
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
}

/* The partial bodies of a log (RILL__REC_FLAG_PARTIAL) on its ring, after
 * `ticks` frames from 0 in blocks of `block` (1: one set a frame), every
 * frame's value set (dense), or only at the ticks in `sets` (sparse).
 * Returns how many; the count and ref of each in `counts`/`refs`. */
static size_t run_log(rill_ts_mode mode, uint64_t duration, size_t block,
                      uint64_t ticks, const uint64_t *sets, size_t n_sets,
                      uint32_t *counts, uint64_t *refs, size_t max) {
    static fixture f;
    setup(&f, RILL_TYPE_INT32, mode, 1 << 16);
    rill__stream *s = rill__stream_create(&f.var, RILL__STREAM_BUFFER,
                                          RILL__SINK_LOG, true, 0);
    s->log_flush_ticks = 100;
    post(&f, RILL__RT_START, s, 0, duration, 0);
    int32_t values[64];
    for (uint64_t t = 0; t < ticks; t += block) {
        rill__device_tick(&f.dev, t);
        if (mode == RILL_TS_SPARSE) {
            for (size_t i = 0; i < n_sets; i++)
                if (sets[i] == t)
                    rill_var_set_int32(&f.var, (int32_t)t);
        } else if (block == 1) {
            rill_var_set_int32(&f.var, (int32_t)t);
        } else {
            for (size_t i = 0; i < block; i++)
                values[i] = (int32_t)(t + i);
            rill_var_set_block(&f.var, RILL_TYPE_INT32, values, block);
        }
    }
    size_t n = 0;
    rec r;
    while (next_rec(f.dev.log, &r)) {
        ASSERT_EQ_UINT(r.h.kind, RILL__REC_BUFFER);
        ASSERT_TRUE(r.h.flags & RILL__REC_FLAG_PARTIAL);
        ASSERT_EQ_UINT(r.h.bytes, RILL__BELA_BODY_BYTES);
        ASSERT_LE_UINT(n + 1, max);
        uint64_t ref;
        memcpy(&ref, r.payload, 8);
        ASSERT_EQ_UINT(ref, r.h.ref);
        for (uint32_t i = 0; i < r.h.count && mode == RILL_TS_DENSE; i++)
            ASSERT_EQ_INT(value_at(&r, 8, i), (int64_t)(ref + i));
        counts[n] = r.h.count;
        refs[n++] = ref;
    }
    rill__stream_destroy(s);
    rill__device_deinit(&f.dev);
    return n;
}

TEST(a_slow_logs_partial_body_goes_out_once_a_second_however_it_is_set) {
    uint32_t counts[8];
    uint64_t refs[8];
    /* A log with no end (the fast path takes its values), one with an
     * end, and one set a block at a time: a partial body at ticks 100,
     * 200 and 300, each holding every value before its tick. */
    const uint64_t ends[] = {0, 5000, 0};
    const size_t blocks[] = {1, 1, 4};
    for (size_t k = 0; k < 3; k++) {
        size_t n = run_log(RILL_TS_DENSE, ends[k], blocks[k], 350, NULL, 0,
                           counts, refs, 8);
        ASSERT_EQ_UINT(n, 3);
        for (size_t i = 0; i < n; i++) {
            ASSERT_EQ_UINT(refs[i], 0);
            ASSERT_EQ_UINT(counts[i], 100 * (i + 1));
        }
    }
    /* A sparse log's lone value goes out a second after it, once: the
     * body is not written again while nothing is added to it. A value
     * added to a body older than a second goes out at the next tick, the
     * next one a second later (at most once a second). */
    const uint64_t sets[] = {5, 400, 410};
    size_t n = run_log(RILL_TS_SPARSE, 0, 1, 700, sets, 3, counts, refs, 8);
    ASSERT_EQ_UINT(n, 3);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ_UINT(refs[i], 5);
        ASSERT_EQ_UINT(counts[i], i + 1);
    }
}
