/* A producer thread hands fixed-size blocks to the main thread through a
 * rill_ring: the pattern every real-time path in rill uses. The producer
 * never blocks; when the ring is full it counts a drop instead of waiting.
 *
 *   build/examples/ring_handoff
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "rill/rill.h"

#define BLOCK 64 /* frames per block */
#define BLOCKS 2000

typedef struct block {
    uint64_t first_frame;
    float samples[BLOCK];
} block;

typedef struct producer {
    rill_ring *ring;
    atomic_uint dropped;
    atomic_bool done;
} producer;

/* Stands in for an audio callback: no allocation, no locks, no I/O. */
static void *produce(void *arg) {
    producer *p = arg;
    uint64_t period_ns = 1000000; /* one block per millisecond */
    uint64_t next = rill_clock_now_ns();
    for (uint64_t b = 0; b < BLOCKS; b++) {
        block blk = {.first_frame = b * BLOCK};
        for (int i = 0; i < BLOCK; i++)
            blk.samples[i] = (float)(blk.first_frame + (uint64_t)i);
        if (rill_ring_write_all(p->ring, &blk, sizeof blk) != 0)
            atomic_fetch_add(&p->dropped, 1);
        next += period_ns;
        rill_clock_sleep_until_ns(next);
    }
    atomic_store(&p->done, true);
    return NULL;
}

int main(void) {
    producer p = {.dropped = 0, .done = false};
    int rc = rill_ring_create(64 * sizeof(block), &p.ring);
    if (rc != 0) {
        fprintf(stderr, "ring_handoff: cannot create ring: %s\n", rill_strerror(rc));
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, produce, &p);
    uint64_t received = 0, gaps = 0, expect = 0;
    block blk;
    for (;;) {
        bool finished = atomic_load(&p.done);
        while (rill_ring_read_all(p.ring, &blk, sizeof blk) == 0) {
            if (blk.first_frame != expect)
                gaps++;
            expect = blk.first_frame + BLOCK;
            received++;
        }
        if (finished)
            break;
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 5000000);
    }
    pthread_join(t, NULL);
    printf("received %llu blocks, producer dropped %u, gaps seen %llu\n",
           (unsigned long long)received, atomic_load(&p.dropped),
           (unsigned long long)gaps);
    rill_ring_destroy(p.ring);
    return received + atomic_load(&p.dropped) == BLOCKS ? 0 : 1;
}
