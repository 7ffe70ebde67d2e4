/* libFuzzer target: the client's block aligner (src/client/align.c), fed
 * buffers of up to three variables in any order, with any ticks, counts,
 * drops and ends a server could send. Every block must hold, for each
 * variable, values whose ticks lie inside the block, in order; blocks
 * come in order on one grid; every value pushed comes out at most once. */
#include <stdlib.h>
#include <string.h>

#include "client/align.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static size_t pushed, emitted;
static uint64_t next_first, grid0, span;
static int n_blocks;

static void emit(const rill_client_block *blk, void *user) {
    (void)user;
    CHECK(blk->ticks > 0 && blk->ticks <= span);
    if (n_blocks == 0)
        grid0 = blk->first_ts;
    /* On the grid, in order; skipped stretches had no values. */
    CHECK(n_blocks == 0 || blk->first_ts >= next_first);
    CHECK((blk->first_ts - grid0) % span == 0);
    next_first = blk->first_ts + blk->ticks;
    n_blocks++;
    for (size_t i = 0; i < blk->n; i++) {
        const rill_client_buffer *b = &blk->buffers[i];
        uint64_t prev = 0;
        for (size_t k = 0; k < b->count; k++) {
            uint64_t t = b->first_ts + (b->rel != NULL ? b->rel[k] : k);
            CHECK(t >= blk->first_ts && t < blk->first_ts + blk->ticks);
            CHECK(k == 0 || t >= prev);
            prev = t;
        }
        emitted += b->count;
    }
}

static uint32_t take(const uint8_t **p, const uint8_t *end, int bytes) {
    uint32_t v = 0;
    for (int i = 0; i < bytes && *p < end; i++)
        v |= (uint32_t)*(*p)++ << (8 * i);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    pushed = emitted = 0;
    n_blocks = 0;
    rill__aligner *al = NULL;
    if (rill__align_create(emit, NULL, &al) != 0)
        return 0;
    uint32_t cfg = take(&p, end, 2);
    rill__align_member m[3] = {{0, "a", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0},
                               {1, "b", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 0},
                               {2, "c", RILL_TYPE_INT32, RILL_TS_SPARSE, 0}};
    size_t n = 1 + cfg % 3;
    if (cfg & 4)
        m[0].mode = RILL_TS_SPARSE;
    span = 1 + (cfg >> 3) % 300;
    CHECK(rill__align_set_group(al, m, n, span) == 0);
    static uint8_t values[8 * 512];
    static uint8_t rel[4 * 512];
    while (p < end) {
        uint32_t op = take(&p, end, 1);
        uint32_t id = op % 4;
        if (op & 0x80) {
            rill__align_end(al, id);
            continue;
        }
        uint64_t first = take(&p, end, 3);
        size_t count = take(&p, end, 1) % 200;
        uint32_t dropped = (op >> 4) & 1;
        bool last = (op >> 5) & 1;
        memset(values, 0, sizeof values);
        uint32_t r = 0;
        for (size_t i = 0; i < count; i++) {
            r += take(&p, end, 1) % 4;
            memcpy(rel + 4 * i, &r, 4);
        }
        bool sparse = id < n && m[id].mode == RILL_TS_SPARSE;
        rill__align_push(al, id, first, count, values, sparse ? rel : NULL,
                         dropped, last);
        if (id < n)
            pushed += count;
    }
    CHECK(emitted <= pushed);
    rill__align_destroy(al);
    return 0;
}
