/* The aligner on its own: buffers of several variables, pushed in any
 * order and with different lengths, come out as blocks cut at the same
 * ticks, each value exactly once. */
#include "client/align.h"
#include "test.h"

#define MAX_BLOCKS 512

typedef struct got {
    size_t n_blocks;
    uint64_t first[MAX_BLOCKS], ticks[MAX_BLOCKS];
    /* per variable (id 0..2): values received, in order, with ticks */
    double vals[3][8192];
    uint64_t ts[3][8192];
    size_t n[3];
    uint32_t dropped[3];
    bool last[3];
    int bad; /* a value outside its block, or a first_ts not its first value */
} got;

static void emit(const rill_client_block *blk, void *user) {
    got *g = user;
    ASSERT_TRUE(g->n_blocks < MAX_BLOCKS);
    g->first[g->n_blocks] = blk->first_ts;
    g->ticks[g->n_blocks] = blk->ticks;
    g->n_blocks++;
    for (size_t i = 0; i < blk->n; i++) {
        const rill_client_buffer *b = &blk->buffers[i];
        uint32_t id = b->var_id;
        size_t size = rill_type_size(b->type);
        for (size_t k = 0; k < b->count; k++) {
            uint64_t t = b->first_ts + (b->rel ? b->rel[k] : k);
            if (t < blk->first_ts || t >= blk->first_ts + blk->ticks)
                g->bad++;
            g->vals[id][g->n[id]] =
                rill_value_to_double(b->type, (const uint8_t *)b->values + k * size);
            g->ts[id][g->n[id]++] = t;
        }
        if (b->count > 0 && b->rel != NULL && b->rel[0] != 0)
            g->bad++;
        g->dropped[id] += b->dropped;
        g->last[id] |= b->last;
    }
}

/* Push `count` dense values v = tick of variable id, starting at `first`. */
static void push_dense_f(rill__aligner *al, uint32_t id, uint64_t first,
                         size_t count, bool last) {
    float v[2048];
    for (size_t i = 0; i < count; i++)
        v[i] = (float)(first + i);
    rill__align_push(al, id, first, count, v, NULL, 0, last);
}

static void push_dense_d(rill__aligner *al, uint32_t id, uint64_t first,
                         size_t count, bool last) {
    double v[2048];
    for (size_t i = 0; i < count; i++)
        v[i] = (double)(first + i);
    rill__align_push(al, id, first, count, v, NULL, 0, last);
}

TEST(two_variables_of_different_buffer_lengths_come_out_cut_at_the_same_ticks) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[2] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0},
                               {1, "d", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 0}};
    ASSERT_OK(rill__align_set_group(al, m, 2, 1024));
    /* A float stream in 1024-value buffers and a double stream in 512-value
     * buffers, the double one starting 100 ticks later and arriving in
     * bursts: blocks start where both have values. */
    uint64_t f = 1000, d = 1100;
    for (int round = 0; round < 8; round++) {
        push_dense_f(al, 0, f, 1024, false);
        f += 1024;
        push_dense_d(al, 1, d, 512, false);
        push_dense_d(al, 1, d + 512, 512, false);
        d += 1024;
    }
    ASSERT_TRUE(g->n_blocks >= 6);
    for (size_t b = 0; b < g->n_blocks; b++) {
        ASSERT_EQ_UINT(g->first[b], 1100 + 1024 * b);
        ASSERT_EQ_UINT(g->ticks[b], 1024);
    }
    /* Every value of both, once, equal to its tick, from tick 1100 on. */
    for (int id = 0; id < 2; id++) {
        ASSERT_EQ_UINT(g->n[id], g->n_blocks * 1024);
        for (size_t k = 0; k < g->n[id]; k++) {
            ASSERT_EQ_UINT(g->ts[id][k], 1100 + k);
            ASSERT_EQ_DOUBLE(g->vals[id][k], (double)(1100 + k), 0);
        }
    }
    ASSERT_EQ_INT(g->bad, 0);
    ASSERT_TRUE(rill__align_active(al));
    rill__align_destroy(al);
    free(g);
}

TEST(the_end_of_every_stream_flushes_a_last_shorter_block) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[2] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0},
                               {1, "d", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 0}};
    ASSERT_OK(rill__align_set_group(al, m, 2, 1000));
    /* A scheduled stream of 2500 ticks from 5000: the float one in 1024
     * and 452 buffers, the double one in 512s and a last 452. */
    push_dense_f(al, 0, 5000, 1024, false);
    push_dense_f(al, 0, 6024, 1024, false);
    push_dense_f(al, 0, 7048, 452, true);
    for (uint64_t t = 5000; t < 7048; t += 512)
        push_dense_d(al, 1, t, 512, false);
    ASSERT_TRUE(rill__align_active(al));
    push_dense_d(al, 1, 7048, 452, true);
    ASSERT_EQ_UINT(g->n_blocks, 3);
    ASSERT_EQ_UINT(g->first[2], 7000);
    ASSERT_EQ_UINT(g->ticks[2], 500); /* up to the last value, not 1000 */
    ASSERT_EQ_UINT(g->n[0], 2500);
    ASSERT_EQ_UINT(g->n[1], 2500);
    ASSERT_TRUE(g->last[0] && g->last[1]);
    ASSERT_TRUE(!rill__align_active(al));
    ASSERT_EQ_INT(g->bad, 0);
    rill__align_destroy(al);
    free(g);
}

TEST(sparse_values_land_in_the_block_of_their_tick) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[2] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0},
                               {2, "ev", RILL_TYPE_INT32, RILL_TS_SPARSE, 0}};
    ASSERT_OK(rill__align_set_group(al, m, 2, 256));
    /* Events every 100 ticks from 0, in buffers of 8 values. */
    for (uint64_t t = 0; t < 4096; t += 256)
        push_dense_f(al, 0, t, 256, false);
    ASSERT_EQ_UINT(g->n_blocks, 0); /* the sparse variable holds them back */
    for (uint64_t base = 0; base < 4000; base += 800) {
        int32_t v[8];
        uint8_t rel[32];
        for (uint32_t i = 0; i < 8; i++) {
            v[i] = (int32_t)(base + 100 * i);
            uint32_t r = 100 * i;
            memcpy(rel + 4 * i, &r, 4);
        }
        rill__align_push(al, 2, base, 8, v, rel, 0, false);
    }
    /* Known up to the last event's tick (3900): blocks up to 3840. */
    ASSERT_EQ_UINT(g->n_blocks, 15);
    ASSERT_EQ_UINT(g->n[2], 39); /* events 0..3800; 3900 is in block 15 */
    for (size_t k = 0; k < g->n[2]; k++)
        ASSERT_EQ_UINT(g->ts[2][k], 100 * k);
    ASSERT_EQ_INT(g->bad, 0);
    rill__align_destroy(al);
    free(g);
}

TEST(a_silent_variable_holds_back_at_most_64_blocks) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[2] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0},
                               {2, "ev", RILL_TYPE_INT32, RILL_TS_SPARSE, 0}};
    ASSERT_OK(rill__align_set_group(al, m, 2, 16));
    for (uint64_t t = 0; t < 16 * 80; t += 16)
        push_dense_f(al, 0, t, 16, false);
    ASSERT_TRUE(g->n_blocks >= 80 - 64 - 1);
    ASSERT_TRUE(g->n_blocks <= 80 - 63);
    /* An event for a tick already emitted is counted as late. */
    int32_t v = 7;
    uint8_t rel[4] = {0};
    rill__align_push(al, 2, 5, 1, &v, rel, 0, false);
    ASSERT_EQ_UINT(rill__align_late(al), 1);
    size_t before = g->n[2];
    rill__align_push(al, 2, 16 * 79, 1, &v, rel, 0, false); /* in time */
    ASSERT_EQ_UINT(rill__align_late(al), 1);
    ASSERT_EQ_UINT(g->n[2], before); /* held until its block is complete */
    rill__align_destroy(al);
    free(g);
}

TEST(a_gap_in_a_dense_stream_gives_relative_ticks_and_the_drop_count) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[1] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0}};
    ASSERT_OK(rill__align_set_group(al, m, 1, 100));
    push_dense_f(al, 0, 0, 50, false);
    float v[50];
    for (int i = 0; i < 50; i++)
        v[i] = (float)(70 + i);
    rill__align_push(al, 0, 70, 50, v, NULL, 1, false); /* 20 ticks lost */
    ASSERT_EQ_UINT(g->n_blocks, 1);
    ASSERT_EQ_UINT(g->n[0], 80);
    ASSERT_EQ_UINT(g->ts[0][49], 49);
    ASSERT_EQ_UINT(g->ts[0][50], 70);
    ASSERT_EQ_DOUBLE(g->vals[0][50], 70.0, 0);
    ASSERT_EQ_UINT(g->dropped[0], 1);
    ASSERT_EQ_INT(g->bad, 0);
    rill__align_destroy(al);
    free(g);
}

static rill__aligner *oom_al;

static int oom_create(void *ctx) {
    (void)ctx;
    int rc = rill__align_create(emit, NULL, &oom_al);
    if (rc != 0)
        return rc;
    rill__align_member m[1] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0}};
    rc = rill__align_set_group(oom_al, m, 1, 100);
    if (rc != 0) {
        rill__align_destroy(oom_al);
        oom_al = NULL;
    }
    return rc;
}

static void oom_destroy(void *ctx) {
    (void)ctx;
    rill__align_destroy(oom_al);
    oom_al = NULL;
}

TEST(aligner_create_and_group_fail_cleanly_without_memory) {
    test_check_oom("rill__align_create + set_group", oom_create, oom_destroy,
                   NULL);
}

TEST(a_stretch_without_values_gives_no_empty_blocks) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[1] = {{2, "ev", RILL_TYPE_INT32, RILL_TS_SPARSE, 0}};
    ASSERT_OK(rill__align_set_group(al, m, 1, 100));
    /* Three events ten million ticks apart: three blocks on the grid from
     * the first, not a hundred thousand empty ones. */
    int32_t v[3] = {1, 2, 3};
    uint8_t rel[12];
    uint32_t r[3] = {0, 10000000, 20000050};
    memcpy(rel, r, sizeof r);
    rill__align_push(al, 2, 1000, 3, v, rel, 0, true);
    ASSERT_EQ_UINT(g->n_blocks, 3);
    ASSERT_EQ_UINT(g->first[0], 1000);
    ASSERT_EQ_UINT(g->first[1], 1000 + 10000000);
    ASSERT_EQ_UINT(g->first[2], 1000 + 20000000);
    ASSERT_EQ_UINT(g->ticks[2], 51); /* the last block ends at its value */
    ASSERT_EQ_UINT(g->n[2], 3);
    ASSERT_EQ_INT(g->bad, 0);
    rill__align_destroy(al);
    free(g);
}

TEST(values_before_a_members_start_tick_are_an_earlier_runs_and_ignored) {
    got *g = calloc(1, sizeof *g);
    rill__aligner *al = NULL;
    ASSERT_OK(rill__align_create(emit, g, &al));
    rill__align_member m[2] = {{0, "f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 1000},
                               {1, "d", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 1000}};
    ASSERT_OK(rill__align_set_group(al, m, 2, 100));
    /* The previous run's last buffer of "d" (ticks 600..699) arrives after
     * the restart at 1000: it must not become the group's beginning. */
    push_dense_d(al, 1, 600, 100, true);
    push_dense_f(al, 0, 1000, 300, false);
    push_dense_d(al, 1, 1000, 300, false);
    ASSERT_EQ_UINT(g->n_blocks, 3);
    ASSERT_EQ_UINT(g->first[0], 1000);
    ASSERT_EQ_UINT(g->n[0], 300);
    ASSERT_EQ_UINT(g->n[1], 300);
    ASSERT_EQ_UINT(g->ts[1][0], 1000);
    ASSERT_EQ_UINT(rill__align_late(al), 0);
    ASSERT_EQ_INT(g->bad, 0);
    rill__align_destroy(al);
    free(g);
}
