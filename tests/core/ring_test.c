/* The SPSC ring, single-threaded behaviour. The threaded proof is in
 * ring_stress_test.c. */
#include "test.h"

static rill_ring *make(size_t cap) {
    rill_ring *r = NULL;
    ASSERT_OK(rill_ring_create(cap, &r));
    return r;
}

TEST(capacity_rounds_up_to_power_of_two) {
    rill_ring *r = make(1000);
    ASSERT_EQ_UINT(rill_ring_capacity(r), 1024);
    ASSERT_EQ_UINT(rill_ring_writable(r), 1024);
    ASSERT_EQ_UINT(rill_ring_readable(r), 0);
    rill_ring_destroy(r);
    r = make(1);
    ASSERT_EQ_UINT(rill_ring_capacity(r), 1);
    rill_ring_destroy(r);
}

TEST(create_rejects_bad_arguments) {
    rill_ring *r = (rill_ring *)1;
    ASSERT_ERR(rill_ring_create(0, &r), RILL_EINVAL);
    ASSERT_NULL(r);
    ASSERT_ERR(rill_ring_create(SIZE_MAX, &r), RILL_EINVAL);
    ASSERT_ERR(rill_ring_create(16, NULL), RILL_EINVAL);
    rill_ring_destroy(NULL);
}

static rill_ring *oom_ring;
static int oom_create(void *ctx) { (void)ctx; return rill_ring_create(4096, &oom_ring); }
static void oom_destroy(void *ctx) { (void)ctx; rill_ring_destroy(oom_ring); }

TEST(create_fails_cleanly_when_any_allocation_fails) {
    test_check_oom("rill_ring_create", oom_create, oom_destroy, NULL);
}

TEST(write_then_read_returns_same_bytes) {
    rill_ring *r = make(64);
    const char msg[] = "hello, ring";
    ASSERT_EQ_UINT(rill_ring_write(r, msg, sizeof msg), sizeof msg);
    ASSERT_EQ_UINT(rill_ring_readable(r), sizeof msg);
    char out[64];
    ASSERT_EQ_UINT(rill_ring_read(r, out, sizeof out), sizeof msg);
    ASSERT_EQ_STR(out, msg);
    ASSERT_EQ_UINT(rill_ring_read(r, out, sizeof out), 0);
    rill_ring_destroy(r);
}

TEST(full_ring_accepts_exactly_capacity_bytes) {
    rill_ring *r = make(16);
    uint8_t in[40], out[40];
    for (int i = 0; i < 40; i++)
        in[i] = (uint8_t)i;
    ASSERT_EQ_UINT(rill_ring_write(r, in, 40), 16);
    ASSERT_EQ_UINT(rill_ring_writable(r), 0);
    ASSERT_EQ_UINT(rill_ring_write(r, in, 1), 0);
    ASSERT_ERR(rill_ring_write_all(r, in, 1), RILL_EFULL);
    ASSERT_EQ_UINT(rill_ring_read(r, out, 40), 16);
    ASSERT_EQ_MEM(out, in, 16);
    ASSERT_ERR(rill_ring_read_all(r, out, 1), RILL_EEMPTY);
    rill_ring_destroy(r);
}

TEST(data_wraps_around_end_of_storage_in_two_regions) {
    rill_ring *r = make(16);
    uint8_t buf[16] = {0};
    ASSERT_EQ_UINT(rill_ring_write(r, buf, 12), 12);
    ASSERT_EQ_UINT(rill_ring_read(r, buf, 12), 12);
    /* Position 12: a 10-byte reservation is 4 bytes at the end + 6 at the start. */
    rill_ring_span span;
    ASSERT_EQ_UINT(rill_ring_write_reserve(r, 10, &span), 10);
    ASSERT_EQ_UINT(span.len[0], 4);
    ASSERT_EQ_UINT(span.len[1], 6);
    ASSERT_TRUE(span.ptr[1] + 16 == span.ptr[0] + 4);
    for (size_t i = 0; i < 4; i++)
        span.ptr[0][i] = (uint8_t)(100 + i);
    for (size_t i = 0; i < 6; i++)
        span.ptr[1][i] = (uint8_t)(104 + i);
    ASSERT_EQ_UINT(rill_ring_readable(r), 0); /* not visible before commit */
    rill_ring_write_commit(r, 10);
    ASSERT_EQ_UINT(rill_ring_read_peek(r, 100, &span), 10);
    ASSERT_EQ_UINT(span.len[0], 4);
    ASSERT_EQ_UINT(span.len[1], 6);
    uint8_t out[10];
    ASSERT_OK(rill_ring_read_all(r, out, 10));
    for (int i = 0; i < 10; i++)
        ASSERT_EQ_UINT(out[i], 100 + i);
    rill_ring_destroy(r);
}

TEST(partial_commit_and_release_publish_only_that_much) {
    rill_ring *r = make(32);
    rill_ring_span span;
    ASSERT_EQ_UINT(rill_ring_write_reserve(r, 20, &span), 20);
    memcpy(span.ptr[0], "abcdefghijklmnopqrst", 20);
    rill_ring_write_commit(r, 5);
    ASSERT_EQ_UINT(rill_ring_readable(r), 5);
    ASSERT_EQ_UINT(rill_ring_read_peek(r, 32, &span), 5);
    ASSERT_EQ_MEM(span.ptr[0], "abcde", 5);
    rill_ring_read_release(r, 2);
    ASSERT_EQ_UINT(rill_ring_readable(r), 3);
    char out[3];
    ASSERT_OK(rill_ring_read_all(r, out, 3));
    ASSERT_EQ_MEM(out, "cde", 3);
    ASSERT_EQ_UINT(rill_ring_writable(r), 32);
    rill_ring_destroy(r);
}

TEST(positions_survive_counter_wraparound) {
    /* Many laps of a tiny ring exercise the modular arithmetic the same way
     * a size_t overflow would (positions only ever differ by <= capacity). */
    rill_ring *r = make(8);
    uint8_t in[7], out[7];
    for (uint32_t lap = 0; lap < 100000; lap++) {
        for (int i = 0; i < 7; i++)
            in[i] = (uint8_t)(lap + (uint32_t)i);
        ASSERT_OK(rill_ring_write_all(r, in, 7));
        ASSERT_OK(rill_ring_read_all(r, out, 7));
        ASSERT_EQ_MEM(out, in, 7);
    }
    rill_ring_destroy(r);
}

/* A record without payload is read with the payload buffer still NULL (the
 * server's scratch, allocated at the first payload): copies of 0 bytes
 * take NULL, and UBSan would stop at a memcpy given NULL. */
TEST(zero_byte_copies_accept_null_buffers) {
    rill_ring *r;
    ASSERT_OK(rill_ring_create(64, &r));
    ASSERT_OK(rill_ring_write_all(r, NULL, 0));
    ASSERT_EQ_UINT(rill_ring_write(r, NULL, 0), 0);
    ASSERT_OK(rill_ring_write_all(r, "abc", 3));
    uint8_t got[3];
    ASSERT_OK(rill_ring_read_all(r, NULL, 0));
    ASSERT_EQ_UINT(rill_ring_read(r, NULL, 0), 0);
    ASSERT_OK(rill_ring_read_all(r, got, 3));
    ASSERT_EQ_MEM(got, "abc", 3);
    ASSERT_OK(rill_ring_read_all(r, NULL, 0)); /* empty ring, 0 bytes */
    rill_ring_destroy(r);
}

TEST(reset_empties_the_ring) {
    rill_ring *r = make(8);
    ASSERT_EQ_UINT(rill_ring_write(r, "abc", 3), 3);
    rill_ring_reset(r);
    ASSERT_EQ_UINT(rill_ring_readable(r), 0);
    ASSERT_EQ_UINT(rill_ring_writable(r), 8);
    rill_ring_destroy(r);
}
