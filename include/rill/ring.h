/* rill_ring: a lock-free single-producer single-consumer byte ring.
 *
 * This is the one hand-off every real-time path in rill uses: the tick or
 * audio thread writes, a network/worker thread reads (or the other way).
 *
 * Threads. Exactly ONE thread may call the writer functions
 * (rill_ring_write*, rill_ring_writable) and exactly ONE thread may call the
 * reader functions (rill_ring_read*, rill_ring_readable) at a time. They may
 * be different threads and run concurrently. Both sides are wait-free: no
 * locks, no allocation, no system calls, so both are safe on a real-time
 * thread. create/destroy/reset must not run concurrently with anything else.
 *
 * Capacity is a power of two (rill_ring_create rounds up). All of it is
 * usable: a ring of capacity 1024 holds 1024 bytes.
 *
 * Two-phase API. The writer reserves space, copies into the (at most two)
 * contiguous regions it is given, then commits; the reader peeks at the
 * filled space, copies out or processes in place, then releases. Nothing is
 * visible to the other side until commit/release, so the copy itself needs no
 * synchronisation. rill_ring_write/rill_ring_read do the copy for you.
 */
#ifndef RILL_RING_H
#define RILL_RING_H

#include "rill/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_ring rill_ring;

/* Up to two contiguous regions of the ring: bytes [0, len[0]) of ptr[0]
 * come first, then bytes [0, len[1]) of ptr[1]. len[1] is 0 unless the
 * region wraps around the end of the storage. */
typedef struct rill_ring_span {
    uint8_t *ptr[2];
    size_t len[2];
} rill_ring_span;

/* Create a ring holding at least `min_capacity` bytes (rounded up to a power
 * of two; at most SIZE_MAX/2 + 1). Returns 0, RILL_EINVAL (capacity 0 or too
 * large, out NULL) or RILL_ENOMEM. A non-real-time thread (it allocates). */
RILL_API int rill_ring_create(size_t min_capacity, rill_ring **out);

/* Free the ring, once neither side uses it. A non-real-time thread. NULL
 * is a no-op. */
RILL_API void rill_ring_destroy(rill_ring *ring);

/* Capacity in bytes (a power of two). Any thread. */
RILL_API size_t rill_ring_capacity(const rill_ring *ring);

/* Empty the ring. Only while neither side is in use. Never fails. */
RILL_API void rill_ring_reset(rill_ring *ring);

/* ---- Writer side ------------------------------------------------------- */

/* Bytes the writer can reserve now (a lower bound: the reader may free
 * more at any moment). Only atomic loads: any thread may call it for an
 * estimate, as may it rill_ring_readable. */
RILL_API size_t rill_ring_writable(const rill_ring *ring);

/* Reserve up to `max` bytes of free space. Fills `span` with the regions and
 * returns their total length (0 if the ring is full). Reserving again without
 * commit returns the same space. */
RILL_API size_t rill_ring_write_reserve(rill_ring *ring, size_t max,
                                        rill_ring_span *span);

/* Publish the first `n` reserved bytes to the reader. `n` must not exceed
 * what the last reserve returned. The writer's thread; never fails. */
RILL_API void rill_ring_write_commit(rill_ring *ring, size_t n);

/* Copy up to `n` bytes in; returns how many were written (less than `n`
 * only when the ring fills). */
RILL_API size_t rill_ring_write(rill_ring *ring, const void *data, size_t n);

/* Copy exactly `n` bytes in, or nothing: returns 0 or RILL_EFULL. For
 * fixed-size records that must never be split. */
RILL_API int rill_ring_write_all(rill_ring *ring, const void *data, size_t n);

/* ---- Reader side ------------------------------------------------------- */

/* Bytes the reader can peek now (a lower bound). Any thread may call it
 * for an estimate, e.g. to decide whether to wake the reader. */
RILL_API size_t rill_ring_readable(const rill_ring *ring);

/* Look at up to `max` filled bytes without consuming them. Returns the total
 * length of the regions in `span` (0 if the ring is empty). */
RILL_API size_t rill_ring_read_peek(rill_ring *ring, size_t max,
                                    rill_ring_span *span);

/* Consume the first `n` peeked bytes, giving their space back to the writer.
 * `n` must not exceed what the last peek returned. The reader's thread;
 * never fails. */
RILL_API void rill_ring_read_release(rill_ring *ring, size_t n);

/* Copy up to `n` bytes out and consume them; returns how many. */
RILL_API size_t rill_ring_read(rill_ring *ring, void *out, size_t n);

/* Copy exactly `n` bytes out and consume them, or nothing: 0 or
 * RILL_EEMPTY. With n 0, `out` may be NULL (so may `data` for the writes). */
RILL_API int rill_ring_read_all(rill_ring *ring, void *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* RILL_RING_H */
