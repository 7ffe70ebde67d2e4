/* The SPSC byte ring.
 *
 * Positions are free-running size_t counters; the byte at position p lives
 * at buf[p & mask]. Because capacity is a power of two and unsigned overflow
 * is modular, `write_pos - read_pos` is the fill level even after the
 * counters wrap, and all of the capacity is usable (no "one empty slot").
 *
 * Each side keeps a private copy of the other side's position and refreshes
 * it only when the copy says there is not enough room (or data). In the
 * steady state a side touches only its own cache line, which is what makes
 * small transfers cost a few nanoseconds.
 *
 * Memory order: a side publishes its position with a release store after it
 * has copied the bytes, and reads the other side's position with an acquire
 * load before it touches the bytes. That pairs each copy with the other
 * side's earlier copy; nothing stronger is needed. A side reads its own
 * position relaxed because no other thread writes it.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "rill/ring.h"

struct rill_ring {
    /* Writer's line. */
    alignas(RILL__CACHE_LINE) atomic_size_t write_pos;
    size_t writer_seen_read;
    /* Reader's line. */
    alignas(RILL__CACHE_LINE) atomic_size_t read_pos;
    size_t reader_seen_write;
    /* Read-only after create. */
    alignas(RILL__CACHE_LINE) size_t capacity;
    size_t mask;
    uint8_t *buf;
};

int rill_ring_create(size_t min_capacity, rill_ring **out) {
    if (out == NULL)
        return RILL_EINVAL;
    *out = NULL;
    size_t cap = rill__next_pow2(min_capacity);
    if (min_capacity == 0 || cap == 0)
        return RILL_EINVAL;
    rill_ring *ring = rill__malloc_aligned(sizeof *ring, RILL__CACHE_LINE);
    if (ring == NULL)
        return RILL_ENOMEM;
    /* Cache-line aligned, as the records in it are: a bulk copy in or out
     * of an aligned buffer runs at memcpy's best (malloc gives 16 bytes). */
    ring->buf = rill__malloc_aligned(cap, RILL__CACHE_LINE);
    if (ring->buf == NULL) {
        rill__free_aligned(ring);
        return RILL_ENOMEM;
    }
    ring->capacity = cap;
    ring->mask = cap - 1;
    rill_ring_reset(ring);
    *out = ring;
    return 0;
}

void rill_ring_destroy(rill_ring *ring) {
    if (ring == NULL)
        return;
    rill__free_aligned(ring->buf);
    rill__free_aligned(ring);
}

size_t rill_ring_capacity(const rill_ring *ring) { return ring->capacity; }

void rill_ring_reset(rill_ring *ring) {
    atomic_store(&ring->write_pos, 0);
    atomic_store(&ring->read_pos, 0);
    ring->writer_seen_read = 0;
    ring->reader_seen_write = 0;
}

/* Describe `n` bytes starting at position `pos` as one or two regions. */
static void ring_span(const rill_ring *ring, size_t pos, size_t n,
                      rill_ring_span *span) {
    size_t off = pos & ring->mask;
    size_t first = RILL__MIN(n, ring->capacity - off);
    span->ptr[0] = ring->buf + off;
    span->len[0] = first;
    span->ptr[1] = ring->buf;
    span->len[1] = n - first;
}

size_t rill_ring_writable(const rill_ring *ring) {
    size_t w = atomic_load_explicit(&ring->write_pos, memory_order_relaxed);
    size_t r = atomic_load_explicit(&ring->read_pos, memory_order_acquire);
    return ring->capacity - (w - r);
}

size_t rill_ring_write_reserve(rill_ring *ring, size_t max,
                               rill_ring_span *span) {
    size_t w = atomic_load_explicit(&ring->write_pos, memory_order_relaxed);
    size_t space = ring->capacity - (w - ring->writer_seen_read);
    if (space < max) {
        ring->writer_seen_read =
            atomic_load_explicit(&ring->read_pos, memory_order_acquire);
        space = ring->capacity - (w - ring->writer_seen_read);
    }
    size_t n = RILL__MIN(max, space);
    ring_span(ring, w, n, span);
    return n;
}

void rill_ring_write_commit(rill_ring *ring, size_t n) {
    size_t w = atomic_load_explicit(&ring->write_pos, memory_order_relaxed);
    atomic_store_explicit(&ring->write_pos, w + n, memory_order_release);
}

/* A copy of 0 bytes may have a NULL buffer (a record without payload read
 * into a scratch buffer not allocated yet): memcpy's arguments must not be
 * NULL even then, so there is no call at all. */
static void span_copy_in(const rill_ring_span *span, const void *data) {
    if (span->len[0] == 0)
        return;
    memcpy(span->ptr[0], data, span->len[0]);
    if (span->len[1] != 0)
        memcpy(span->ptr[1], (const uint8_t *)data + span->len[0],
               span->len[1]);
}

static void span_copy_out(const rill_ring_span *span, void *out) {
    if (span->len[0] == 0) /* out may be NULL then (memcpy's contract) */
        return;
    memcpy(out, span->ptr[0], span->len[0]);
    if (span->len[1] != 0)
        memcpy((uint8_t *)out + span->len[0], span->ptr[1], span->len[1]);
}

size_t rill_ring_write(rill_ring *ring, const void *data, size_t n) {
    rill_ring_span span;
    size_t got = rill_ring_write_reserve(ring, n, &span);
    span_copy_in(&span, data);
    rill_ring_write_commit(ring, got);
    return got;
}

int rill_ring_write_all(rill_ring *ring, const void *data, size_t n) {
    rill_ring_span span;
    if (rill_ring_write_reserve(ring, n, &span) < n)
        return RILL_EFULL;
    span_copy_in(&span, data);
    rill_ring_write_commit(ring, n);
    return 0;
}

size_t rill_ring_readable(const rill_ring *ring) {
    size_t w = atomic_load_explicit(&ring->write_pos, memory_order_acquire);
    size_t r = atomic_load_explicit(&ring->read_pos, memory_order_relaxed);
    return w - r;
}

size_t rill_ring_read_peek(rill_ring *ring, size_t max, rill_ring_span *span) {
    size_t r = atomic_load_explicit(&ring->read_pos, memory_order_relaxed);
    size_t avail = ring->reader_seen_write - r;
    if (avail < max) {
        ring->reader_seen_write =
            atomic_load_explicit(&ring->write_pos, memory_order_acquire);
        avail = ring->reader_seen_write - r;
    }
    size_t n = RILL__MIN(max, avail);
    ring_span(ring, r, n, span);
    return n;
}

void rill_ring_read_release(rill_ring *ring, size_t n) {
    size_t r = atomic_load_explicit(&ring->read_pos, memory_order_relaxed);
    atomic_store_explicit(&ring->read_pos, r + n, memory_order_release);
}

size_t rill_ring_read(rill_ring *ring, void *out, size_t n) {
    rill_ring_span span;
    size_t got = rill_ring_read_peek(ring, n, &span);
    span_copy_out(&span, out);
    rill_ring_read_release(ring, got);
    return got;
}

int rill_ring_read_all(rill_ring *ring, void *out, size_t n) {
    rill_ring_span span;
    if (rill_ring_read_peek(ring, n, &span) < n)
        return RILL_EEMPTY;
    span_copy_out(&span, out);
    rill_ring_read_release(ring, n);
    return 0;
}
