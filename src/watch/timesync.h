/* The device's half of the clock exchange (docs/PROTOCOL.md §9): a
 * precise (tick, device clock) pair, and the reply to {"rill":"time"}.
 *
 * A host that wants to convert this device's ticks to its own clock (the
 * NATS bridge, docs/SCALE.md) needs pairs of "tick T happened at device
 * time D" and the offset between the device's clock and its own. The
 * offset comes from an NTP-style exchange on the control socket (the
 * host's send time t0, the device's receive and send times t1, t2, the
 * host's receive time t3). The pair must be taken on the tick thread,
 * at the tick: the network thread only knows the latest tick, not when it
 * happened.
 *
 * Stamps are taken on request, not every tick: the network thread raises
 * `want`, and the next rill_server_tick reads CLOCK_MONOTONIC once (the
 * vDSO: no system call), stores the pair under a sequence lock and lowers
 * `want`. A tick without a request costs one relaxed load. A reply carries
 * the freshest complete pair, taken after the previous request, and asks
 * for the next one; a host probing every few hundred milliseconds always
 * gets one less than a probe old. Since the first tick after a request is
 * nearly always the first tick of an audio block (a block's ticks run in a
 * few microseconds, then the thread sleeps), stamps fall on block starts:
 * the moments the device's program actually sees its samples.
 */
#ifndef RILL_WATCH_TIMESYNC_H
#define RILL_WATCH_TIMESYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The native control protocol's version, in the hello reply: 2 since the
 * time exchange (1: without it). Native data messages keep their own
 * version byte, RILL__NATIVE_VERSION (1). */
#define RILL__CONTROL_VERSION 2

typedef struct rill__stamp {
    atomic_uint want;          /* network thread raises, tick thread lowers */
    atomic_uint_fast64_t seq;  /* odd while the tick thread writes */
    atomic_uint_fast64_t tick; /* the pair, valid when seq is even, != 0 */
    atomic_uint_fast64_t ns;   /* CLOCK_MONOTONIC at that tick */
} rill__stamp;

/* Tick thread, only when `want` is set (the caller checks it, so a tick
 * without a request pays one relaxed load): record (frame, now). Wait-free:
 * one vDSO clock read and four atomic stores. */
void rill__stamp_take(rill__stamp *st, uint64_t frame);

/* Any thread: the latest complete pair (false if none yet). */
bool rill__stamp_read(rill__stamp *st, uint64_t *tick, uint64_t *ns);

/* Network thread: the reply to the time request `text` (received at
 * device time `t1`), written into out[0..cap) as JSON, and a new stamp
 * requested. Returns the reply's length, or 0 if the request is not a
 * well-formed {"rill":"time"} (the reply is then an error sentence in
 * `why`). */
size_t rill__time_reply(rill__stamp *st, const void *request, uint64_t t1,
                        char *out, size_t cap, char *why, size_t why_cap);

#endif /* RILL_WATCH_TIMESYNC_H */
