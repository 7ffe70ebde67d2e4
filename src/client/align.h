/* rill__aligner: cuts the buffers of several variables into blocks that
 * cover the same ticks (the on_block callback of client.h).
 *
 * Buffers of different variables arrive in any order and with different
 * lengths; each variable's values wait in its own FIFO until every
 * variable of the group is known up to the end of the next block, then one
 * block [t0, t0 + span) is emitted with, for each variable, the values
 * whose ticks fall in it. "Known up to" is the end of the last buffer for a
 * dense variable, the tick of its last value for a sparse one (a later
 * buffer may still hold values of that same tick), and forever once its
 * stream has ended.
 *
 * The first block starts at the latest first tick of the dense variables
 * (a scheduled start makes them equal), so every dense variable has values
 * from the first block on. Blocks are cut on a grid of `span` ticks from
 * there; a stretch of the grid where no variable has a value (rare sparse
 * events, a long drop) gives no blocks. A variable that stays silent (a sparse one that
 * never fills a buffer) would hold the others back without limit: when any
 * FIFO reaches 64 blocks, the next block is emitted with what there is,
 * and values that arrive for ticks already emitted are counted in `late`.
 *
 * Single-threaded: the client's I/O thread owns it. It allocates (FIFOs
 * grow), so it is not for real-time threads.
 */
#ifndef RILL_CLIENT_ALIGN_H
#define RILL_CLIENT_ALIGN_H

#include "rill/client.h"

typedef struct rill__aligner rill__aligner;

typedef struct rill__align_member {
    uint32_t id;
    const char *name; /* must outlive the group */
    rill_type type;
    rill_ts_mode mode;
    uint64_t from;    /* values of earlier ticks are not this group's (an
                         earlier run's late buffers): ignored */
} rill__align_member;

typedef void (*rill__align_emit_fn)(const rill_client_block *blk, void *user);

int rill__align_create(rill__align_emit_fn emit, void *user,
                       rill__aligner **out);
void rill__align_destroy(rill__aligner *al);

/* Start a new group of `n` variables cut every `span` ticks; whatever the
 * previous group held is discarded. n = 0 empties it. Returns 0 or
 * RILL_ENOMEM (the group is then empty). */
int rill__align_set_group(rill__aligner *al, const rill__align_member *m,
                          size_t n, uint64_t span);

/* A buffer of variable `id` (ignored if not in the group): `count` values
 * of its type in host order (any alignment), and for sparse variables
 * `rel`, count little-endian u32 ticks relative to first_ts (any
 * alignment). `last`: its stream ended with this buffer. Emits every block
 * that became complete. */
void rill__align_push(rill__aligner *al, uint32_t id, uint64_t first_ts,
                      size_t count, const void *values, const uint8_t *rel,
                      uint32_t dropped, bool last);

/* The stream of `id` ended without a buffer (an end message). */
void rill__align_end(rill__aligner *al, uint32_t id);

/* True while a group is set and has not ended in full. */
bool rill__align_active(const rill__aligner *al);

/* Values that came for ticks whose block was already emitted. */
uint64_t rill__align_late(const rill__aligner *al);

#endif /* RILL_CLIENT_ALIGN_H */
