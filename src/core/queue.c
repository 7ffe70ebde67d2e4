/* The fixed-capacity message queue.
 *
 * A ring of equal slots, each holding the message size and its bytes. The
 * positions work as in ring.c (free-running counters, a private copy of the
 * other side's position, release to publish, acquire to observe); they count
 * messages instead of bytes. Slots keep messages whole and let the consumer
 * reject a too-small output buffer without consuming anything, which a byte
 * ring could only do by peeking twice.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "rill/queue.h"

struct rill_queue {
    alignas(RILL__CACHE_LINE) atomic_size_t tail; /* producer */
    size_t producer_seen_head;
    size_t pending; /* posted but not yet published (producer only) */
    alignas(RILL__CACHE_LINE) atomic_size_t head; /* consumer */
    size_t consumer_seen_tail;
    alignas(RILL__CACHE_LINE) size_t capacity;
    size_t mask;
    size_t max_msg;
    size_t stride;
    uint8_t *slots;
};

/* Slot layout: a size_t with the message size, then the message. The
 * stride keeps every slot's size field aligned. */
static uint8_t *slot_at(const rill_queue *q, size_t pos) {
    return q->slots + (pos & q->mask) * q->stride;
}

int rill_queue_create(size_t max_msg_size, size_t capacity, rill_queue **out) {
    if (out == NULL)
        return RILL_EINVAL;
    *out = NULL;
    size_t cap = rill__next_pow2(capacity);
    if (max_msg_size == 0 || capacity == 0 || cap == 0 ||
        max_msg_size > SIZE_MAX / 4)
        return RILL_EINVAL;
    size_t align = alignof(max_align_t);
    size_t stride = (sizeof(size_t) + max_msg_size + align - 1) & ~(align - 1);
    rill_queue *q = rill__malloc_aligned(sizeof *q, RILL__CACHE_LINE);
    if (q == NULL)
        return RILL_ENOMEM;
    q->slots = rill__calloc(cap, stride);
    if (q->slots == NULL) {
        rill__free_aligned(q);
        return RILL_ENOMEM;
    }
    q->capacity = cap;
    q->mask = cap - 1;
    q->max_msg = max_msg_size;
    q->stride = stride;
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    q->pending = 0;
    q->producer_seen_head = 0;
    q->consumer_seen_tail = 0;
    *out = q;
    return 0;
}

void rill_queue_destroy(rill_queue *q) {
    if (q == NULL)
        return;
    rill__free(q->slots);
    rill__free_aligned(q);
}

size_t rill_queue_capacity(const rill_queue *q) { return q->capacity; }

size_t rill_queue_max_msg_size(const rill_queue *q) { return q->max_msg; }

int rill_queue_post_deferred(rill_queue *q, const void *msg, size_t size) {
    if (size > q->max_msg)
        return RILL_ETOOBIG;
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed) + q->pending;
    if (t - q->producer_seen_head >= q->capacity) {
        q->producer_seen_head =
            atomic_load_explicit(&q->head, memory_order_acquire);
        if (t - q->producer_seen_head >= q->capacity)
            return RILL_EFULL;
    }
    uint8_t *slot = slot_at(q, t);
    memcpy(slot, &size, sizeof size);
    if (size != 0)
        memcpy(slot + sizeof size, msg, size);
    q->pending++;
    return 0;
}

void rill_queue_publish(rill_queue *q) {
    if (q->pending == 0)
        return;
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    atomic_store_explicit(&q->tail, t + q->pending, memory_order_release);
    q->pending = 0;
}

int rill_queue_post(rill_queue *q, const void *msg, size_t size) {
    int rc = rill_queue_post_deferred(q, msg, size);
    rill_queue_publish(q);
    return rc;
}

int rill_queue_pop(rill_queue *q, void *out, size_t out_cap, size_t *size) {
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (h == q->consumer_seen_tail) {
        q->consumer_seen_tail =
            atomic_load_explicit(&q->tail, memory_order_acquire);
        if (h == q->consumer_seen_tail)
            return RILL_EEMPTY;
    }
    const uint8_t *slot = slot_at(q, h);
    size_t n;
    memcpy(&n, slot, sizeof n);
    if (size != NULL)
        *size = n;
    if (n > out_cap)
        return RILL_ETOOBIG;
    if (n != 0)
        memcpy(out, slot + sizeof n, n);
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return 0;
}

size_t rill_queue_count(const rill_queue *q) {
    size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    return t - h;
}
