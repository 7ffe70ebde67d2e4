/* rill stream's writer thread. The client's I/O thread hands each buffer
 * to it through a bounded single-producer single-consumer ring (rill_ring)
 * and returns at once; this thread writes it to the variable's file (a
 * rill_file_writer) or as 'var,tick,value' lines on standard output. So a
 * slow disk or a slow reader of standard output never holds up the I/O
 * thread: the ring absorbs it, and when it is full whole buffers are
 * dropped and counted per output (never part of one, never silently).
 * The first write that fails stops all writing; the command sees it and
 * stops too.
 *
 * Threads: stream_writer_push on one producer thread (the I/O thread);
 * the counters from any thread; create, set, start and destroy on the
 * command's main thread, before and after the producer. */
#ifndef RILL_TOOLS_STREAM_WRITER_H
#define RILL_TOOLS_STREAM_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/rill.h"

typedef struct stream_writer stream_writer;

/* A writer for `n` outputs with a ring of at least `ring_bytes`. Returns 0
 * or RILL_ENOMEM. */
int stream_writer_create(size_t n, size_t ring_bytes, stream_writer **out);

/* Output `i`: variable `name` of `type`, to `file` (not owned; the
 * caller closes it after stream_writer_destroy), or to standard output
 * when `file` is NULL. Before stream_writer_start. */
void stream_writer_set(stream_writer *w, size_t i, const char *name, rill_type type,
                       rill_file_writer *file);

/* Start the thread: 0 or RILL_ESYS. */
int stream_writer_start(stream_writer *w);

/* Producer thread: `count` values of output `i` (and, sparse, their ticks
 * relative to first_ts in `rel`), copied into the ring as one record.
 * Never blocks; false when the ring is full and the buffer was dropped
 * (counted in stream_writer_dropped). */
bool stream_writer_push(stream_writer *w, size_t i, uint64_t first_ts,
                        const void *values, size_t count, const uint32_t *rel);

/* Values written to output `i` so far; buffers dropped for it; value
 * bytes written in all. Any thread. */
uint64_t stream_writer_values(const stream_writer *w, size_t i);
uint64_t stream_writer_dropped(const stream_writer *w, size_t i);
uint64_t stream_writer_bytes(const stream_writer *w);

/* The first failed write (RILL_EIO, ...) and its output in *which, or 0.
 * Any thread. */
int stream_writer_failed(const stream_writer *w, size_t *which);

/* After the producer has stopped for good: write what the ring still
 * holds (unless a write failed), stop the thread, flush standard output
 * (a failure counts as a failed write). The counters stay readable; the
 * files stay open. NULL is a no-op. */
void stream_writer_finish(stream_writer *w);

/* Finish if not done, and free. NULL is a no-op. */
void stream_writer_destroy(stream_writer *w);

#endif
