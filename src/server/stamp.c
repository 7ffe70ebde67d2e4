/* The device's half of the clock exchange: (tick, clock) pairs taken on
 * the tick thread (stamp.h) and the network thread's answer to
 * {"rill":"time"} (proto/timesync.h has the messages).
 */
#include <jansson.h>
#include <time.h>

#include "core/internal.h"
#include "proto/timesync.h"
#include "server/internal.h"
#include "server/stamp.h"

/* A sequence lock with one writer (the tick thread) and readers that retry:
 * seq goes odd, the pair is stored, seq goes even. The stores are relaxed
 * between two release increments; a reader loads seq (acquire), the pair,
 * then seq again after an acquire fence, and retries if it moved or was
 * odd. clock_gettime(CLOCK_MONOTONIC) is served by the vDSO on Linux (no
 * system call, ~20 ns), which keeps the tick wait-free. */
void rill__stamp_take(rill__stamp *st, uint64_t frame) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t s = atomic_load_explicit(&st->seq, memory_order_relaxed);
    atomic_store_explicit(&st->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&st->tick, frame, memory_order_relaxed);
    atomic_store_explicit(&st->ns, ns, memory_order_relaxed);
    atomic_store_explicit(&st->seq, s + 2, memory_order_release);
    atomic_store_explicit(&st->want, 0, memory_order_relaxed);
}

bool rill__stamp_read(rill__stamp *st, uint64_t *tick, uint64_t *ns) {
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t s0 = atomic_load_explicit(&st->seq, memory_order_acquire);
        uint64_t t = atomic_load_explicit(&st->tick, memory_order_relaxed);
        uint64_t n = atomic_load_explicit(&st->ns, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        uint64_t s1 = atomic_load_explicit(&st->seq, memory_order_relaxed);
        if (s0 == s1 && (s0 & 1u) == 0) {
            *tick = t;
            *ns = n;
            return s0 != 0;
        }
    }
    return false;
}

void rill__stamp_request(rill__stamp *st) {
    /* Relaxed: the tick thread only needs to see it eventually. */
    atomic_store_explicit(&st->want, 1, memory_order_relaxed);
}

/* {"rill":"time","id":X,"t0":NS}: answered at once with the device's
 * receive and send times and the freshest pair; the next pair is asked
 * for, to be taken at the next tick. */
void rill__time_request(rill_server *srv, rill__conn *c, json_t *root) {
    uint64_t t1 = rill_clock_now_ns();
    rill__time_msg m;
    char why[160];
    if (rill__time_request_read(root, &m, why, sizeof why) != 0) {
        rill__request_error(c, "time", root, "%s", why);
        return;
    }
    m.t1 = t1;
    m.has_pair = rill__stamp_read(&srv->dev.stamp, &m.tick, &m.tick_ns);
    rill__stamp_request(&srv->dev.stamp);
    m.t2 = rill_clock_now_ns();
    char *text = NULL;
    size_t len = 0;
    if (rill__time_reply_write(&m, &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
}
