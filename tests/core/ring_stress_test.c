/* The ring under two real threads: at least 1 GiB from a writer to a reader
 * in random chunk sizes (1 byte to capacity), mixing the copying and the
 * two-phase APIs on both sides, every byte verified. CI runs this under
 * ThreadSanitizer too. */
#include <pthread.h>
#include <sched.h>

#include "test.h"

#define CAPACITY 4096u
/* The byte at stream position p is pattern[p % PERIOD]. The period is prime,
 * so it never lines up with the ring's power-of-two layout or a chunk size:
 * a lost, repeated or misplaced byte shows up as a mismatch. */
#define PERIOD 1000003u
#define TOTAL ((uint64_t)1 << 30)

static uint8_t pattern[PERIOD + CAPACITY];

typedef struct stress {
    rill_ring *ring;
    uint64_t seed;
    uint64_t moved;
    const char *error;
    uint64_t error_pos;
} stress;

static size_t random_chunk(uint64_t *rng) {
    return (size_t)(test_rand(rng) % CAPACITY) + 1;
}

static void *writer(void *arg) {
    stress *s = arg;
    uint64_t rng = s->seed, pos = 0;
    while (pos < TOTAL) {
        size_t want = random_chunk(&rng);
        if (want > TOTAL - pos)
            want = (size_t)(TOTAL - pos);
        const uint8_t *src = pattern + pos % PERIOD;
        size_t done;
        if (test_rand(&rng) & 1) {
            done = rill_ring_write(s->ring, src, want);
        } else {
            rill_ring_span span;
            done = rill_ring_write_reserve(s->ring, want, &span);
            memcpy(span.ptr[0], src, span.len[0]);
            memcpy(span.ptr[1], src + span.len[0], span.len[1]);
            /* Sometimes publish only part of what was reserved. */
            if (done > 1 && (test_rand(&rng) & 3) == 0)
                done /= 2;
            rill_ring_write_commit(s->ring, done);
        }
        if (done == 0)
            sched_yield();
        pos += done;
    }
    s->moved = pos;
    return NULL;
}

static void *reader(void *arg) {
    stress *s = arg;
    uint64_t rng = s->seed ^ 0x5deece66dULL, pos = 0;
    static uint8_t out[CAPACITY];
    while (pos < TOTAL) {
        size_t want = random_chunk(&rng);
        const uint8_t *expect = pattern + pos % PERIOD;
        size_t done;
        if (test_rand(&rng) & 1) {
            done = rill_ring_read(s->ring, out, want);
            if (memcmp(out, expect, done) != 0)
                goto mismatch;
        } else {
            rill_ring_span span;
            done = rill_ring_read_peek(s->ring, want, &span);
            if (memcmp(span.ptr[0], expect, span.len[0]) != 0 ||
                memcmp(span.ptr[1], expect + span.len[0], span.len[1]) != 0)
                goto mismatch;
            rill_ring_read_release(s->ring, done);
        }
        if (done == 0)
            sched_yield();
        pos += done;
    }
    s->moved = pos;
    return NULL;
mismatch:
    s->error = "reader saw a byte that differs from what the writer wrote";
    s->error_pos = pos;
    return NULL;
}

TEST(threads_move_1gib_in_random_chunks_with_every_byte_verified) {
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)test_rand(&rng);
    for (size_t i = PERIOD; i < sizeof pattern; i++)
        pattern[i] = pattern[i - PERIOD];

    rill_ring *ring = NULL;
    ASSERT_OK(rill_ring_create(CAPACITY, &ring));
    stress w = {ring, 12345, 0, NULL, 0}, r = {ring, 12345, 0, NULL, 0};
    pthread_t tw, tr;
    ASSERT_EQ_INT(pthread_create(&tr, NULL, reader, &r), 0);
    ASSERT_EQ_INT(pthread_create(&tw, NULL, writer, &w), 0);
    pthread_join(tr, NULL);
    if (r.error != NULL) {
        /* The reader stopped early: drain so the writer can finish. */
        uint8_t sink[CAPACITY];
        while (pthread_tryjoin_np(tw, NULL) != 0)
            rill_ring_read(ring, sink, sizeof sink);
        rill_ring_destroy(ring);
        FAIL("%s (stream position %llu)", r.error,
             (unsigned long long)r.error_pos);
    }
    pthread_join(tw, NULL);
    ASSERT_EQ_UINT(w.moved, TOTAL);
    ASSERT_EQ_UINT(r.moved, TOTAL);
    ASSERT_EQ_UINT(rill_ring_readable(ring), 0);
    rill_ring_destroy(ring);
}
