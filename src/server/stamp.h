/* The device's (tick, clock) pairs for the clock exchange
 * (docs/PROTOCOL.md §10; the messages are proto/timesync.h).
 *
 * A pair "tick T happened at CLOCK_MONOTONIC D" must be taken on the tick
 * thread, at the tick: the network thread only knows the latest tick, not
 * when it happened. Pairs are taken on request, not every tick: the
 * network thread raises `want`, and the next rill_server_tick reads
 * CLOCK_MONOTONIC once (the vDSO: no system call), stores the pair under a
 * sequence lock and lowers `want`. A tick without a request costs one
 * relaxed load. A reply carries the freshest complete pair, taken after
 * the previous request, and asks for the next one; a host probing every
 * few hundred milliseconds always gets one less than a probe old. Since
 * the first tick after a request is nearly always the first tick of an
 * audio block (a block's ticks run in a few microseconds, then the thread
 * sleeps), pairs fall on block starts: the moments the device's program
 * actually sees its samples.
 */
#ifndef RILL_SERVER_STAMP_H
#define RILL_SERVER_STAMP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

/* Network thread: ask for a pair at the next tick. */
void rill__stamp_request(rill__stamp *st);

#endif /* RILL_SERVER_STAMP_H */
