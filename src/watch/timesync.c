/* The device's half of the clock exchange. See timesync.h. */
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "core/internal.h"
#include "watch/timesync.h"

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

size_t rill__time_reply(rill__stamp *st, const void *request, uint64_t t1,
                        char *out, size_t cap, char *why, size_t why_cap) {
    const json_t *root = request;
    json_t *id = json_object_get(root, "id");
    json_t *t0 = json_object_get(root, "t0");
    why[0] = '\0';
    if (!json_is_integer(t0) || json_integer_value(t0) < 0) {
        snprintf(why, why_cap, "time: \"t0\" must be the sender's clock in "
                 "nanoseconds, a non-negative integer; ignored");
        return 0;
    }
    char idtext[64] = "";
    if (json_is_integer(id))
        snprintf(idtext, sizeof idtext, "\"id\":%lld,",
                 (long long)json_integer_value(id));
    uint64_t tick = 0, ns = 0;
    bool have = rill__stamp_read(st, &tick, &ns);
    /* The next reply's stamp: taken at the next tick. Relaxed: the tick
     * thread only needs to see it eventually. */
    atomic_store_explicit(&st->want, 1, memory_order_relaxed);
    char pair[96] = "";
    if (have)
        snprintf(pair, sizeof pair, ",\"tick\":%llu,\"tickNs\":%llu",
                 (unsigned long long)tick, (unsigned long long)ns);
    int n = snprintf(out, cap,
                     "{%s\"rill\":\"time\",\"t0\":%lld,\"t1\":%llu%s,\"t2\":%llu}",
                     idtext, (long long)json_integer_value(t0),
                     (unsigned long long)t1, pair,
                     (unsigned long long)rill_clock_now_ns());
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
