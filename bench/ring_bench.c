/* Ring buffer speed.
 *
 *  - Bulk hand-off: a 64 KiB chunk written into the ring and read out again,
 *    against one plain memcpy of the same chunk in the same process. A
 *    hand-off copies each byte twice (in and out), so 0.5x memcpy means the
 *    ring itself adds nothing; the target is >= 0.5x.
 *  - Bulk between threads: the same chunks from a writer thread to a reader
 *    thread. Reported without a target: here every byte also travels from
 *    one core's cache to the other's, which bounds the figure on this
 *    hardware whatever the ring does (see docs/ARCHITECTURE.md).
 *  - Small items: one 8-byte write + one 8-byte read, the per-message cost a
 *    real-time thread pays, single-threaded so that only the ring is timed.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CHUNK (64u * 1024)
#define RING_CAP (256u * 1024)
#define BULK_BYTES ((uint64_t)2 << 30)
#define REPEATS 9

static uint8_t *src, *dst;

static double memcpy_gbps(void) {
    uint64_t t0 = rill_clock_now_ns();
    for (uint64_t done = 0; done < BULK_BYTES; done += CHUNK) {
        memcpy(dst, src, CHUNK);
        bench_sink(dst);
    }
    return (double)BULK_BYTES / (double)(rill_clock_now_ns() - t0);
}

typedef struct side {
    rill_ring *ring;
    uint8_t *buf;
} side;

/* Whole chunks, as a producer handing off records would. */
static void *bulk_writer(void *arg) {
    side *s = arg;
    for (uint64_t done = 0; done < BULK_BYTES;) {
        if (rill_ring_write_all(s->ring, s->buf, CHUNK) == 0)
            done += CHUNK;
        else
            sched_yield();
    }
    return NULL;
}

static double handoff_gbps(void) {
    rill_ring *ring = NULL;
    if (rill_ring_create(RING_CAP, &ring) != 0)
        abort();
    uint64_t t0 = rill_clock_now_ns();
    for (uint64_t done = 0; done < BULK_BYTES; done += CHUNK) {
        if (rill_ring_write_all(ring, src, CHUNK) != 0 ||
            rill_ring_read_all(ring, dst, CHUNK) != 0)
            abort();
        bench_sink(dst);
    }
    double gbps = (double)BULK_BYTES / (double)(rill_clock_now_ns() - t0);
    rill_ring_destroy(ring);
    return gbps;
}

static double ring_gbps(void) {
    rill_ring *ring = NULL;
    if (rill_ring_create(RING_CAP, &ring) != 0)
        abort();
    side w = {ring, src};
    pthread_t t;
    uint64_t t0 = rill_clock_now_ns();
    pthread_create(&t, NULL, bulk_writer, &w);
    for (uint64_t done = 0; done < BULK_BYTES;) {
        if (rill_ring_read_all(ring, dst, CHUNK) == 0)
            done += CHUNK;
        else
            sched_yield();
    }
    pthread_join(t, NULL);
    double gbps = (double)BULK_BYTES / (double)(rill_clock_now_ns() - t0);
    rill_ring_destroy(ring);
    return gbps;
}

#define ITEMS 20000000u

static double item_ns(void) {
    rill_ring *ring = NULL;
    if (rill_ring_create(4096, &ring) != 0)
        abort();
    uint64_t v = 0, out = 0, sum = 0;
    uint64_t t0 = rill_clock_now_ns();
    for (uint32_t i = 0; i < ITEMS; i++) {
        v = i;
        rill_ring_write(ring, &v, sizeof v);
        rill_ring_read(ring, &out, sizeof out);
        sum += out;
    }
    double ns = (double)(rill_clock_now_ns() - t0) / ITEMS;
    bench_sink(&sum);
    if (sum != (uint64_t)ITEMS * (ITEMS - 1) / 2) {
        fprintf(stderr, "bench_ring: items came back wrong\n");
        exit(1);
    }
    rill_ring_destroy(ring);
    return ns;
}

static double memcpy8_ns(void) {
    uint64_t a = 0, b = 0, sum = 0;
    uint64_t t0 = rill_clock_now_ns();
    for (uint32_t i = 0; i < ITEMS; i++) {
        a = i;
        memcpy(&b, &a, sizeof a);
        bench_sink(&b);
        sum += b;
    }
    bench_sink(&sum);
    return (double)(rill_clock_now_ns() - t0) / ITEMS;
}

int main(void) {
    src = malloc(CHUNK);
    dst = malloc(CHUNK);
    if (src == NULL || dst == NULL)
        return 1;
    memset(src, 0x5a, CHUNK);
    memset(dst, 0, CHUNK);

    double mc[REPEATS], ho[REPEATS], rg[REPEATS], it[REPEATS], m8[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        mc[r] = memcpy_gbps();
        ho[r] = handoff_gbps();
        rg[r] = ring_gbps();
        it[r] = item_ns();
        m8[r] = memcpy8_ns();
    }
    double mc_med = bench_median(mc, REPEATS);
    double ho_med = bench_median(ho, REPEATS);
    double rg_med = bench_median(rg, REPEATS);
    double it_med = bench_median(it, REPEATS);
    double m8_med = bench_median(m8, REPEATS);

    bench_header("ring buffer (SPSC)");
    bench_report(&(bench_row){"ring", "64 KiB chunk hand-off, write+read",
                              ho_med, "GB/s", "memcpy 64KiB", mc_med,
                              ho_med / mc_med, ">= 0.5x memcpy",
                              ho_med / mc_med >= 0.5});
    bench_report(&(bench_row){"ring", "64 KiB chunks, writer->reader threads",
                              rg_med, "GB/s", "memcpy 64KiB", mc_med,
                              rg_med / mc_med, NULL, -1});
    bench_report(&(bench_row){"ring", "8-byte item, write+read", it_med, "ns",
                              "memcpy 8B", m8_med, it_med / m8_med, "<= 20 ns",
                              it_med <= 20.0});
    free(src);
    free(dst);
    return 0;
}
