/* rill_queue: a fixed-capacity message queue into (or out of) a real-time
 * thread.
 *
 * Messages are small, self-contained values (a command struct, an event)
 * of at most `max_msg_size` bytes, copied in and out whole: the queue never
 * splits, reorders or allocates. All memory is allocated by
 * rill_queue_create.
 *
 * Threads. One producer thread posts and one consumer thread pops; both
 * sides are wait-free (no locks, no allocation, no system calls) and so safe
 * on a real-time thread. If several threads need to post, they must
 * serialise among themselves (e.g. with a mutex held only by producers; the
 * real-time consumer never waits on it).
 */
#ifndef RILL_QUEUE_H
#define RILL_QUEUE_H

#include "rill/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_queue rill_queue;

/* A queue of `capacity` messages (rounded up to a power of two) of up to
 * `max_msg_size` bytes each. Returns 0, RILL_EINVAL or RILL_ENOMEM. A
 * non-real-time thread (it allocates). */
RILL_API int rill_queue_create(size_t max_msg_size, size_t capacity,
                               rill_queue **out);

/* Free the queue and any messages still in it, once neither side uses it.
 * A non-real-time thread. NULL is a no-op. */
RILL_API void rill_queue_destroy(rill_queue *q);

/* Messages the queue can hold (a power of two). Any thread. */
RILL_API size_t rill_queue_capacity(const rill_queue *q);

/* Largest message in bytes. Any thread. */
RILL_API size_t rill_queue_max_msg_size(const rill_queue *q);

/* Producer: copy a message of `size` bytes in. Returns 0, RILL_EFULL (the
 * consumer has not caught up; nothing was queued) or RILL_ETOOBIG. */
RILL_API int rill_queue_post(rill_queue *q, const void *msg, size_t size);

/* Producer: like rill_queue_post, but the message stays invisible to the
 * consumer until rill_queue_publish, so several messages can be made to
 * appear at once (the consumer never sees part of such a batch). Returns 0,
 * RILL_EFULL or RILL_ETOOBIG; on failure the earlier unpublished messages
 * stay pending. */
RILL_API int rill_queue_post_deferred(rill_queue *q, const void *msg,
                                      size_t size);

/* Producer: make every message posted with rill_queue_post_deferred
 * visible to the consumer, in order. rill_queue_post publishes them too.
 * Never fails. */
RILL_API void rill_queue_publish(rill_queue *q);

/* Consumer: copy the oldest message into `out` (room for `out_cap` bytes),
 * store its size in `*size` (may be NULL) and remove it. Returns 0,
 * RILL_EEMPTY, or RILL_ETOOBIG if `out_cap` is too small (the message stays
 * queued and `*size` tells how much room it needs). */
RILL_API int rill_queue_pop(rill_queue *q, void *out, size_t out_cap,
                            size_t *size);

/* Number of published messages waiting (a lower bound). Only atomic
 * loads: any thread may call it for an estimate. */
RILL_API size_t rill_queue_count(const rill_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* RILL_QUEUE_H */
