/* The tick thread's side of the device: setting variables, the stream state
 * machines, and records leaving through the rings.
 *
 * Everything reachable from rill_server_tick and rill_var_set_* is
 * wait-free: no allocation, no lock, no system call. Streams arrive ready
 * (allocated by the network thread); full buffers are copied into a ring
 * or, when the ring is full, dropped and counted, never waited for.
 *
 * Two families of streams share this file:
 *  - compatibility streams (pybela) follow the Watcher's state machine of
 *    spec §5.3 exactly: transitions happen at assignments, a scheduled
 *    duration D yields D + 1 values, and the last buffer is zero-padded;
 *  - native streams change state in tick(): a stream scheduled at `start`
 *    for `duration` ticks takes exactly the values set during ticks
 *    [start, start + duration), and its last buffer carries only those.
 */
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/device.h"
#include "server/internal.h"
#include "proto/wire.h"

/* The set path is inlined into each rill_var_set_* with the value size as
 * a constant, so that copying a value is one store, not a memcpy call. */
#define RILL__HOT static inline __attribute__((always_inline))

/* ---- Records ----------------------------------------------------------- */

/* Copy `n` bytes to offset `off` of a reserved span of two regions. */
static void span_put(const rill_ring_span *sp, size_t off, const void *src,
                     size_t n) {
    const uint8_t *p = src;
    if (off < sp->len[0]) {
        size_t k = RILL__MIN(n, sp->len[0] - off);
        memcpy(sp->ptr[0] + off, p, k);
        p += k;
        n -= k;
        off = 0;
    } else {
        off -= sp->len[0];
    }
    if (n != 0)
        memcpy(sp->ptr[1] + off, p, n);
}

/* One record = header + up to two payload pieces, committed together so
 * the reader never sees half of one. False if the ring has no room. */
static bool put_record(rill_ring *ring, const rill__rec *h, const void *p1,
                       size_t n1, const void *p2, size_t n2) {
    size_t total = sizeof *h + n1 + n2;
    rill_ring_span sp;
    if (rill_ring_write_reserve(ring, total, &sp) < total)
        return false;
    span_put(&sp, 0, h, sizeof *h);
    if (n1 != 0)
        span_put(&sp, sizeof *h, p1, n1);
    if (n2 != 0)
        span_put(&sp, sizeof *h + n1, p2, n2);
    rill_ring_write_commit(ring, total);
    return true;
}

static rill_ring *sink_ring(rill__device *dev, const rill__stream *s) {
    return s->sink == RILL__SINK_LOG ? dev->log : dev->out;
}

/* ---- Waking the network thread ------------------------------------------ */

/* The tick thread has just published a record in `out` or an event. The
 * network thread, when it has nothing to do, announces that it is about to
 * wait (net_sleeping = 1), looks at the ring and the event queue once more,
 * and waits in poll() on wake_fd among its sockets. So:
 *
 *  - the common case costs a fence and one load of a line both threads
 *    share: while the network thread is busy (draining, sending) the flag
 *    is 0 and nothing else happens;
 *  - a system call (one write(2) of 8 bytes to an eventfd, which does not
 *    block) happens only when the flag was 1, and the exchange that finds
 *    it 1 also clears it. Only the network thread sets it, once per wait,
 *    so the tick thread makes at most one system call per wait of the
 *    network thread, however many records it publishes meanwhile (a block
 *    completing eight buffers writes once, not eight times);
 *  - no wake-up is lost: each side stores (the ring position / the flag)
 *    and then, after a sequentially consistent fence, loads what the other
 *    stored (the flag / the ring position). Of two such stores at least
 *    one is seen by the other side: either the tick thread sees the flag
 *    and writes, or the network thread sees the record and does not wait.
 *
 * tests/server/device_test.c counts the writes against the waits. */
static void wake_network(rill__device *dev) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&dev->net_sleeping, memory_order_relaxed) == 0 ||
        atomic_exchange_explicit(&dev->net_sleeping, 0,
                                 memory_order_relaxed) == 0)
        return;
    atomic_fetch_add_explicit(&dev->wakeups, 1, memory_order_relaxed);
    if (dev->wake_fd >= 0) {
        uint64_t one = 1;
        /* Cannot fail but for a counter at its maximum, which means the
         * network thread is awake anyway. */
        (void)!write(dev->wake_fd, &one, sizeof one);
    }
}

bool rill__device_has_work(rill__device *dev) {
    return rill_ring_readable(dev->out) != 0 ||
           rill_queue_count(dev->events) != 0;
}

/* The flag's line is read by the tick thread at every record: it is
 * written only to announce a wait that is really about to happen, and
 * cleared only when it was set. */
bool rill__device_will_sleep(rill__device *dev) {
    if (rill__device_has_work(dev))
        return false;
    atomic_store_explicit(&dev->net_sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!rill__device_has_work(dev)) {
        atomic_fetch_add_explicit(&dev->net_sleeps, 1, memory_order_relaxed);
        return true;
    }
    atomic_store_explicit(&dev->net_sleeping, 0, memory_order_relaxed);
    return false;
}

void rill__device_awake(rill__device *dev) {
    if (atomic_load_explicit(&dev->net_sleeping, memory_order_relaxed) != 0)
        atomic_store_explicit(&dev->net_sleeping, 0, memory_order_relaxed);
}

/* Emit a record of stream `s`, or count it dropped. Every data record,
 * sent or dropped, takes a sequence number, so receivers see drops as gaps.
 * An END record carries no data: it takes no number and is retried rather
 * than dropped (see try_end). */
static bool emit(rill__device *dev, rill__stream *s, rill__rec_kind kind,
                 uint32_t flags, uint64_t ref, uint32_t count,
                 const void *p1, size_t n1, const void *p2, size_t n2) {
    bool data = kind != RILL__REC_END;
    rill__rec h = {.stream = s,
                   .ref = ref,
                   .seq = s->seq,
                   .count = count,
                   .dropped = s->rt_dropped,
                   .kind = (uint32_t)kind,
                   .flags = flags,
                   .bytes = (uint32_t)(n1 + n2),
                   .run = s->run};
    bool ok = put_record(sink_ring(dev, s), &h, p1, n1, p2, n2);
    if (ok && s->sink != RILL__SINK_LOG)
        wake_network(dev);
    if (!data)
        return ok;
    s->seq++;
    if (!ok) {
        s->rt_dropped++;
        atomic_fetch_add_explicit(&dev->tick_drops, 1, memory_order_relaxed);
        return false;
    }
    s->rt_dropped = 0;
    if (kind == RILL__REC_BUFFER)
        atomic_fetch_add_explicit(&dev->buffers_produced, 1,
                                  memory_order_relaxed);
    return true;
}

static bool is_sparse(const rill__stream *s) {
    return s->var->mode == RILL_TS_SPARSE;
}

/* device.h. Also the log writer's, at shutdown. */
void rill__stream_pad_body(rill__stream *s) {
    size_t size = s->var->size;
    uint32_t n = s->count;
    if (n < s->capacity) {
        memset(s->buf + s->values_off + (size_t)n * size, 0,
               (size_t)(s->capacity - n) * size);
        if (is_sparse(s))
            memset(s->buf + s->rel_off + (size_t)n * 4, 0,
                   (size_t)(s->capacity - n) * 4);
    }
    memcpy(s->buf, &s->ref, sizeof s->ref); /* little-endian host */
}

/* Send the current buffer. Compatibility buffers are always the full
 * 4104-byte body: the unused tail of the values and of the relative
 * timestamps is zeroed (spec §3.3 padding). Native buffers carry exactly
 * `count` values (and `count` timestamps). */
__attribute__((noinline)) static bool emit_buffer(rill__device *dev,
                                                  rill__stream *s, bool last) {
    size_t size = s->var->size;
    uint32_t n = s->count;
    bool ok;
    if (s->compat) {
        rill__stream_pad_body(s);
        ok = emit(dev, s, RILL__REC_BUFFER, last ? RILL__REC_FLAG_LAST : 0,
                  s->ref, n, s->buf, s->buf_bytes, NULL, 0);
    } else {
        /* Native: the values, then (sparse) the timestamps, which start on
         * a 4-byte boundary of the record's payload so that the reader
         * can use them in place. */
        size_t vbytes = (size_t)n * size;
        if (is_sparse(s)) {
            /* The padding goes on the wire as it is: zeros. */
            size_t padded = (vbytes + 3) & ~(size_t)3;
            memset(s->buf + s->values_off + vbytes, 0, padded - vbytes);
            vbytes = padded;
        }
        ok = emit(dev, s, RILL__REC_BUFFER, last ? RILL__REC_FLAG_LAST : 0,
                  s->ref, n, s->buf + s->values_off, vbytes,
                  is_sparse(s) ? s->buf + s->rel_off : NULL,
                  is_sparse(s) ? (size_t)n * 4 : 0);
    }
    s->count = 0;
    return ok;
}

/* A log's partial body to the file, zero-padded, the count kept (see
 * rill__stream.log_flush_ticks). Not a buffer: no sequence number, and a
 * full ring skips it uncounted, since the whole body carries the values
 * again. */
__attribute__((noinline)) static void flush_log(rill__device *dev,
                                                rill__stream *s, uint64_t now) {
    rill__stream_pad_body(s);
    rill__rec h = {.stream = s,
                   .ref = s->ref,
                   .seq = s->seq,
                   .count = s->count,
                   .kind = RILL__REC_BUFFER,
                   .flags = RILL__REC_FLAG_PARTIAL,
                   .bytes = s->buf_bytes,
                   .run = s->run};
    if (put_record(dev->log, &h, s->buf, s->buf_bytes, NULL, 0)) {
        s->log_flushed_ref = s->ref;
        s->log_flushed_count = s->count;
    }
    s->log_flushed = now;
}

/* Once a tick for a running log (it is on the scheduled list): however
 * its values came (one set, a block, the fast path, a lone sparse value),
 * a body that has been filling for log_flush_ticks goes out, at most that
 * often, and only when it holds values not yet out. */
static inline void maybe_flush_log(rill__device *dev, rill__stream *s,
                                   uint64_t now) {
    if (s->log_flush_ticks != 0 && s->count != 0 &&
        now - s->ref >= s->log_flush_ticks &&
        now - s->log_flushed >= s->log_flush_ticks &&
        (s->count != s->log_flushed_count || s->ref != s->log_flushed_ref))
        flush_log(dev, s, now);
}

RILL__HOT void append(rill__device *dev, rill__stream *s, const void *value,
                     uint64_t now, size_t size) {
    if (s->count == 0)
        s->ref = now;
    memcpy(s->buf + s->values_off + (size_t)s->count * size, value, size);
    if (is_sparse(s)) {
        uint32_t rel = (uint32_t)(now - s->ref);
        memcpy(s->buf + s->rel_off + (size_t)s->count * 4, &rel, 4);
    }
    if (++s->count == s->capacity)
        emit_buffer(dev, s, false);
}

/* ---- Attaching streams to variables and to the tick list --------------- */

/* The variable's fast path is open when its one attached stream takes
 * every value with no other check; kept current by every change of a
 * stream's state and of the variable's table. */
static void update_fast(rill_var *v) {
    rill__stream *s = v->rt_streams[0];
    v->rt_fast = v->rt_n_streams == 1 && s->attached && s->fast ? s : NULL;
}

static void publish_state(rill__stream *s) {
    /* Compatibility streams check their stop tick at each assignment, so
     * only native ones may take the fast path while stopping. */
    s->fast = s->kind == RILL__STREAM_BUFFER &&
              s->var->mode == RILL_TS_DENSE &&
              (s->state == RILL__ST_YES ||
               (!s->compat && s->state == RILL__ST_STOPPING));
    update_fast(s->var);
    atomic_store_explicit(&s->pub_state, (int)s->state, memory_order_release);
}

static void attach(rill__stream *s) {
    rill_var *v = s->var;
    if (s->attached || v->rt_n_streams == RILL__VAR_MAX_STREAMS)
        return; /* the network thread never lets the table fill */
    v->rt_streams[v->rt_n_streams++] = s;
    s->attached = true;
    v->dev->rt_attached++;
    update_fast(v);
}

/* Drop detached streams from their variable's table, keeping order. */
static void compact(rill_var *v) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < v->rt_n_streams; i++)
        if (v->rt_streams[i]->attached)
            v->rt_streams[k++] = v->rt_streams[i];
    v->dev->rt_attached -= v->rt_n_streams - k;
    v->rt_n_streams = k;
    update_fast(v);
}

static void schedule(rill__device *dev, rill__stream *s) {
    if (s->scheduled || dev->n_scheduled == dev->max_scheduled)
        return; /* the list holds every stream there can be */
    dev->scheduled[dev->n_scheduled++] = s;
    s->scheduled = true;
}

/* The stream has nothing more to do on the tick thread: no state, no
 * pending end record. */
static void finish(rill__stream *s) {
    s->state = RILL__ST_NO;
    s->attached = false;
    publish_state(s);
}

/* Tell the consumer that a stream has ended (at tick `at`), so a log file
 * can be closed or a native client told. Retried from tick() until the
 * ring has room. */
static void try_end(rill__device *dev, rill__stream *s, uint64_t at) {
    s->end_pending = !emit(dev, s, RILL__REC_END, 0, at, 0, NULL, 0, NULL, 0);
    if (s->end_pending)
        schedule(dev, s);
}

/* ---- Compatibility streams: spec §5.3, at assignments ------------------ */

RILL__HOT void compat_buffer_value(rill__device *dev, rill__stream *s,
                                  const void *value, uint64_t now,
                                  size_t size) {
    /* While no control socket is active, watch streams are not filled
     * (spec §1.4); log streams are not affected. Unlike Bela, the partial
     * buffer is dropped rather than kept: kept, it would join values from
     * before the silence to values after it as if they were contiguous,
     * and a stream told to stop would send it, padded, to whoever connects
     * next, as that client's first buffer (issue 15: pybela's Streamer
     * stops, disconnects, a new one connects). A stop that comes due with
     * nobody listening ends the stream there. */
    if (s->sink == RILL__SINK_COMPAT_WATCH && !dev->rt_active) {
        s->count = 0;
        if (s->state == RILL__ST_STOPPING && now >= s->end)
            finish(s);
        return;
    }
    switch (s->state) {
    case RILL__ST_NO:
        return;
    case RILL__ST_STARTING:
        if (now < s->start)
            return;
        s->state = s->end == RILL__NO_END ? RILL__ST_YES : RILL__ST_STOPPING;
        s->count = 0;
        publish_state(s);
        append(dev, s, value, now, size);
        return;
    case RILL__ST_YES:
        append(dev, s, value, now, size);
        return;
    case RILL__ST_STOPPING:
        append(dev, s, value, now, size);
        if (now >= s->end) {
            if (s->count != 0)
                emit_buffer(dev, s, true);
            finish(s);
            if (s->sink == RILL__SINK_LOG)
                try_end(dev, s, now);
        }
        return;
    }
}

/* ---- Monitors: spec §5.4, at assignments ------------------------------- */

static void monitor_value(rill__device *dev, rill__stream *s,
                          const void *value, uint64_t now) {
    if (s->period_changed) {
        s->period_changed = false;
        s->next_due = now;
    }
    if (s->period == 0 || now < s->next_due)
        return;
    if (s->sink != RILL__SINK_COMPAT_MONITOR || dev->rt_active)
        emit(dev, s, RILL__REC_MONITOR, 0, now, 1, value, s->var->size, NULL,
             0);
    if (s->period == 1) { /* one-shot */
        s->period = 0;
        atomic_store_explicit(&s->pub_period, 0, memory_order_release);
        finish(s);
    } else {
        s->next_due = now + s->period;
    }
}

/* ---- Native streams: values between start and end ---------------------- */

RILL__HOT void native_buffer_value(rill__device *dev, rill__stream *s,
                                  const void *value, uint64_t now,
                                  size_t size) {
    if (s->state == RILL__ST_YES || s->state == RILL__ST_STOPPING)
        append(dev, s, value, now, size);
}

/* The end tick of a native stream has come: send what is left, marked as
 * the last buffer, or an END record when there is nothing left (or the
 * last buffer could not be queued). */
static void native_finish(rill__device *dev, rill__stream *s, uint64_t at) {
    bool sent = s->count != 0 && emit_buffer(dev, s, true);
    finish(s);
    if (!sent)
        try_end(dev, s, at);
}

static void native_tick(rill__device *dev, rill__stream *s, uint64_t now) {
    if (s->state == RILL__ST_STARTING && now >= s->start) {
        s->state = s->end == RILL__NO_END ? RILL__ST_YES : RILL__ST_STOPPING;
        s->count = 0;
        publish_state(s);
    }
    if (s->state == RILL__ST_STOPPING && now >= s->end) {
        native_finish(dev, s, now);
        compact(s->var);
    }
}

/* ---- Setting a value --------------------------------------------------- */

RILL__HOT void var_push(rill_var *v, const void *value, size_t size) {
    rill__device *dev = v->dev;
    uint64_t now = dev->now;
    uint32_t n = v->rt_n_streams;
    bool detached = false;
    for (uint32_t i = 0; i < n; i++) {
        rill__stream *s = v->rt_streams[i];
        if (s->kind == RILL__STREAM_MONITOR)
            monitor_value(dev, s, value, now);
        else if (s->compat)
            compat_buffer_value(dev, s, value, now, size);
        else
            native_buffer_value(dev, s, value, now, size);
        detached |= !s->attached;
    }
    if (detached)
        compact(v);
}

/* A set function of another type than the variable's: the cold path. */
__attribute__((noinline)) static void var_push_converted(rill_var *v,
                                                         double d) {
    uint64_t raw; /* saturating, as rill_value_from_double says */
    rill_value_from_double(v->type, d, &raw);
    var_push(v, &raw, v->size);
}

/* The general path, out of line so that the fast path needs no stack. */
__attribute__((noinline)) static void var_push_any(rill_var *v,
                                                   const void *value,
                                                   size_t size) {
    var_push(v, value, size);
}

__attribute__((noinline)) static void buffer_full(rill__device *dev,
                                                  rill__stream *s) {
    emit_buffer(dev, s, false);
}

/* The common case, one running dense stream, in a handful of instructions
 * and only tail calls: the value goes straight into the buffer. It reads
 * the variable's hot line and the stream's, and writes the buffer. */
RILL__HOT bool set_fast(rill_var *v, const void *value, size_t size) {
    rill__stream *s = v->rt_fast;
    if (s == NULL || (s->gated && !v->dev->rt_active))
        return false;
    uint32_t c = s->count;
    if (c == 0)
        s->ref = v->dev->now;
    memcpy(s->values + (size_t)c * size, value, size);
    s->count = ++c;
    if (c == s->capacity)
        buffer_full(v->dev, s);
    return true;
}

/* The matching-type path is the hot one: one relaxed store (for the list
 * reply's "valueInput") and, only when something is attached, the push. */
#define RILL__DEFINE_SET(suffix, ctype, rtype)                                 \
    void rill_var_set_##suffix(rill_var *v, ctype x) {                        \
        atomic_store_explicit(&v->local_bits,                                  \
                              rill__double_to_bits((double)x),                 \
                              memory_order_relaxed);                           \
        if (v->rt_n_streams == 0)                                              \
            return;                                                            \
        if (v->type != (rtype))                                                \
            var_push_converted(v, (double)x);                                  \
        else if (!set_fast(v, &x, sizeof x))                                   \
            var_push_any(v, &x, sizeof x);                                     \
    }

RILL__DEFINE_SET(int32, int32_t, RILL_TYPE_INT32)
RILL__DEFINE_SET(uint32, uint32_t, RILL_TYPE_UINT32)
RILL__DEFINE_SET(float, float, RILL_TYPE_FLOAT)
RILL__DEFINE_SET(double, double, RILL_TYPE_DOUBLE)

/* char is unsigned on Bela (ARM); make the value the same on every host. */
void rill_var_set_char(rill_var *v, char x) {
    unsigned char u = (unsigned char)x;
    atomic_store_explicit(&v->local_bits, rill__double_to_bits((double)u),
                          memory_order_relaxed);
    if (v->rt_n_streams == 0)
        return;
    if (v->type != RILL_TYPE_CHAR)
        var_push_converted(v, (double)u);
    else if (!set_fast(v, &x, 1))
        var_push_any(v, &x, 1);
}

/* ---- Setting a block of values ------------------------------------------- */

/* `k` values of one stream, for ticks from `tick` on, copied into its
 * buffer a run at a time (emitting each buffer as it fills) rather than
 * one call per value. Dense streams only: the ticks are implied. */
static void append_run(rill__device *dev, rill__stream *s, const uint8_t *p,
                       size_t k, uint64_t tick, size_t size) {
    while (k != 0) {
        if (s->count == 0)
            s->ref = tick;
        size_t m = RILL__MIN(k, (size_t)(s->capacity - s->count));
        memcpy(s->values + (size_t)s->count * size, p, m * size);
        s->count += (uint32_t)m;
        p += m * size;
        tick += m;
        k -= m;
        if (s->count == s->capacity)
            emit_buffer(dev, s, false);
    }
}

/* A native stream's share of the block [a, a + n): from its start tick if
 * that falls inside, up to its end tick if that does (then it finishes
 * there, as native_tick would at that tick), each value at its own tick. */
static void native_block(rill__device *dev, rill__stream *s, const uint8_t *p,
                         size_t n, uint64_t a, size_t size) {
    uint64_t b = a + n;
    size_t from = 0;
    if (s->state == RILL__ST_STARTING) {
        if (s->start >= b)
            return;
        from = s->start > a ? (size_t)(s->start - a) : 0;
        s->state = s->end == RILL__NO_END ? RILL__ST_YES : RILL__ST_STOPPING;
        s->count = 0;
        publish_state(s);
    }
    if (s->state != RILL__ST_YES && s->state != RILL__ST_STOPPING)
        return;
    bool ends = s->state == RILL__ST_STOPPING && s->end < b;
    size_t to = ends ? (size_t)(s->end > a + from ? s->end - a : from) : n;
    if (is_sparse(s)) {
        for (size_t i = from; i < to; i++)
            append(dev, s, p + i * size, a + i, size);
    } else {
        append_run(dev, s, p + from * size, to - from, a + from, size);
    }
    if (ends)
        native_finish(dev, s, s->end);
}

/* A compatibility stream keeps Bela's rules at each assignment: one value
 * at a time, unless it simply runs (the common case), then a run. */
static void compat_block(rill__device *dev, rill__stream *s, const uint8_t *p,
                         size_t n, uint64_t a, size_t size) {
    if (s->state == RILL__ST_YES && !is_sparse(s) &&
        !(s->sink == RILL__SINK_COMPAT_WATCH && !dev->rt_active)) {
        append_run(dev, s, p, n, a, size);
        return;
    }
    for (size_t i = 0; i < n && s->attached; i++)
        compat_buffer_value(dev, s, p + i * size, a + i, size);
}

/* A monitor takes a value every `period` ticks: straight to the next one
 * due instead of looking at each. */
static void monitor_block(rill__device *dev, rill__stream *s, const uint8_t *p,
                          size_t n, uint64_t a, size_t size) {
    for (size_t i = 0; i < n && s->attached;) {
        if (!s->period_changed && s->period != 0 && a + i < s->next_due) {
            i = s->next_due - a < n ? (size_t)(s->next_due - a) : n;
            continue;
        }
        if (!s->period_changed && s->period == 0)
            return;
        monitor_value(dev, s, p + i * size, a + i);
        i++;
    }
}

/* n values of the variable's own type for ticks a .. a + n - 1. */
static void push_block(rill_var *v, const uint8_t *p, size_t n, uint64_t a) {
    rill__device *dev = v->dev;
    size_t size = v->size;
    uint32_t count = v->rt_n_streams;
    bool detached = false;
    for (uint32_t i = 0; i < count; i++) {
        rill__stream *s = v->rt_streams[i];
        if (s->kind == RILL__STREAM_MONITOR)
            monitor_block(dev, s, p, n, a, size);
        else if (s->compat)
            compat_block(dev, s, p, n, a, size);
        else
            native_block(dev, s, p, n, a, size);
        detached |= !s->attached;
    }
    if (detached)
        compact(v);
}

/* The block's values, converted a slice at a time when the type is not
 * the variable's, streamed as `n` one-value sets at ticks now, now + 1,
 * ... would be. The variable's own type on its one running dense stream
 * is a few memcpy calls per block (append_run), whatever n is. */
void rill_var_set_block(rill_var *v, rill_type type, const void *values,
                        size_t n) {
    size_t size = rill_type_size(type);
    if (v == NULL || values == NULL || n == 0 || size == 0)
        return;
    const uint8_t *p = values;
    /* char is unsigned here, as in rill_var_set_char. */
    double last = rill_value_to_double(type, p + (n - 1) * size);
    atomic_store_explicit(&v->local_bits, rill__double_to_bits(last),
                          memory_order_relaxed);
    if (v->rt_n_streams == 0)
        return;
    uint64_t a = v->dev->now;
    if (type == v->type) {
        push_block(v, p, n, a);
        return;
    }
    uint8_t slice[64 * 8];
    for (size_t done = 0; done < n;) {
        size_t m = RILL__MIN(n - done, (size_t)64);
        for (size_t i = 0; i < m; i++) {
            double d = rill_value_to_double(type, p + (done + i) * size);
            uint64_t raw; /* saturating, as rill_value_from_double says */
            rill_value_from_double(v->type, d, &raw);
            memcpy(slice + i * v->size, &raw, v->size);
        }
        push_block(v, slice, m, a + done);
        done += m;
    }
}

double rill_var_get(const rill_var *v) {
    if (atomic_load_explicit(&v->controlled, memory_order_acquire))
        return rill__bits_to_double(
            atomic_load_explicit(&v->remote_bits, memory_order_relaxed));
    return rill__bits_to_double(
        atomic_load_explicit(&v->local_bits, memory_order_relaxed));
}

bool rill_var_controlled(const rill_var *v) {
    return atomic_load_explicit(&v->controlled, memory_order_acquire);
}

const char *rill_var_name(const rill_var *v) { return v->name; }
rill_type rill_var_type(const rill_var *v) { return v->type; }
rill_ts_mode rill_var_mode(const rill_var *v) { return v->mode; }
uint32_t rill_var_id(const rill_var *v) { return v->id; }

/* ---- Commands ------------------------------------------------------------ */

static void post_event(rill__device *dev, rill__ev_kind kind,
                       rill__stream *s, uint64_t start, uint64_t end) {
    rill__ev ev = {kind, s, start, end};
    if (rill_queue_post(dev->events, &ev, sizeof ev) != 0)
        atomic_fetch_add_explicit(&dev->events_lost, 1, memory_order_relaxed);
    else
        wake_network(dev);
}

static uint64_t add_ticks(uint64_t a, uint64_t b) {
    return a > RILL__NO_END - 1 - b ? RILL__NO_END - 1 : a + b;
}

static void apply_start(rill__device *dev, rill__stream *s,
                        const rill__rtcmd *c) {
    uint64_t now = dev->now;
    s->run = c->period; /* START carries its run number there */
    s->start = RILL__MAX(c->tick, now);
    s->end = c->duration ? add_ticks(s->start, c->duration) : RILL__NO_END;
    s->count = 0; /* a restart discards the partial buffer (spec §2.2) */
    s->end_pending = false; /* a restart supersedes an unsent end */
    s->state = RILL__ST_STARTING;
    atomic_store_explicit(&s->pub_start, s->start, memory_order_relaxed);
    publish_state(s);
    atomic_store_explicit(&s->pub_started, true, memory_order_release);
    attach(s);
    if (s->sink == RILL__SINK_LOG) {
        post_event(dev, RILL__EV_LOG_STARTED, s, s->start, s->end);
        s->log_flushed_count = 0;
        schedule(dev, s); /* for its partial bodies (maybe_flush_log) */
    }
    if (!s->compat) {
        schedule(dev, s);
        native_tick(dev, s, now);
    }
}

static void apply_stop(rill__device *dev, rill__stream *s,
                       const rill__rtcmd *c) {
    if (s->state == RILL__ST_NO)
        return;
    if (s->compat) {
        /* Not clamped: a past tick, 0 included, stops at the next
         * assignment, which is then the last value (spec §2.2). */
        s->state = RILL__ST_STOPPING;
        s->end = c->tick;
        publish_state(s);
        return;
    }
    s->end = RILL__MAX(c->tick, dev->now);
    if (s->state == RILL__ST_YES)
        s->state = RILL__ST_STOPPING;
    publish_state(s);
    schedule(dev, s);
    if (s->state == RILL__ST_STARTING && s->end <= s->start) {
        finish(s); /* stopped before it began: nothing to send but the end */
        try_end(dev, s, dev->now);
        compact(s->var);
        return;
    }
    native_tick(dev, s, dev->now);
}

static void apply_monitor(rill__stream *s, uint32_t period) {
    s->period = period;
    atomic_store_explicit(&s->pub_period, period, memory_order_release);
    if (period == 0) {
        finish(s);
        compact(s->var);
        return;
    }
    s->state = RILL__ST_YES;
    s->period_changed = true;
    attach(s);
}

static void unschedule(rill__device *dev, rill__stream *s) {
    for (size_t i = 0; i < dev->n_scheduled; i++) {
        if (dev->scheduled[i] == s) {
            dev->scheduled[i] = dev->scheduled[--dev->n_scheduled];
            break;
        }
    }
    s->scheduled = false;
}

static void apply(rill__device *dev, const rill__rtcmd *c) {
    rill__stream *s = c->stream;
    switch (c->kind) {
    case RILL__RT_START:
        apply_start(dev, s, c);
        return;
    case RILL__RT_STOP:
        apply_stop(dev, s, c);
        return;
    case RILL__RT_MONITOR:
        apply_monitor(s, c->period);
        return;
    case RILL__RT_RELEASE:
        if (s->attached) {
            s->attached = false;
            compact(s->var);
        }
        s->state = RILL__ST_NO;
        publish_state(s);
        if (s->scheduled)
            unschedule(dev, s);
        post_event(dev, RILL__EV_RELEASED, s, 0, 0);
        return;
    }
}


void rill__device_tick(rill__device *dev, uint64_t frame) {
    if (!dev->ticked) /* where this run's clock began, for the hello */
        atomic_store_explicit(&dev->pub_first, frame + 1, memory_order_release);
    dev->now = frame;
    dev->ticked = true;
    atomic_store_explicit(&dev->pub_now, frame, memory_order_release);
    if (atomic_load_explicit(&dev->stamp.want, memory_order_relaxed))
        rill__stamp_take(&dev->stamp, frame); /* stamp.h */
    dev->rt_active =
        atomic_load_explicit(&dev->compat_active, memory_order_relaxed) > 0;

    /* Everything visible now: the network thread publishes each client
     * message's commands together, so applying them all keeps them on one
     * tick. The queue's capacity bounds the work. */
    rill__rtcmd c;
    while (rill_queue_pop(dev->cmds, &c, sizeof c, NULL) == 0)
        apply(dev, &c);

    for (size_t i = 0; i < dev->n_scheduled;) {
        rill__stream *s = dev->scheduled[i];
        if (!s->compat)
            native_tick(dev, s, frame);
        else if (s->sink == RILL__SINK_LOG && s->state != RILL__ST_NO)
            maybe_flush_log(dev, s, frame);
        if (s->end_pending)
            try_end(dev, s, dev->now);
        bool keep = s->end_pending || s->state == RILL__ST_STARTING ||
                    s->state == RILL__ST_STOPPING ||
                    (s->sink == RILL__SINK_LOG && s->state == RILL__ST_YES);
        if (keep) {
            i++;
        } else {
            s->scheduled = false;
            dev->scheduled[i] = dev->scheduled[--dev->n_scheduled];
        }
    }
}
