/* Stream two variables and process them as they arrive (pybela tutorial 2,
 * "On-buffer and on-block callbacks"), in C.
 *
 *   rill serve &                      # the demo device
 *   ./stream_callbacks [URL] [SECONDS]
 *
 * on_buffer sees each variable's buffers as they come: "sine" (float) in
 * buffers of 1024 values and "frame_d" (double) in buffers of 512.
 * on_block sees the two cut at the same ticks, one buffer per variable, so
 * they can be processed together (pybela only groups buffers by arrival).
 *
 * The callbacks run here, on the main thread, inside rill_client_poll (as
 * audiostream's poll()), so they need no locks. Without cfg.poll they
 * would run on the client's I/O thread.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rill/rill.h"

typedef struct totals {
    unsigned long buffers[2], blocks, aligned;
    uint64_t next_block; /* where the next block should start */
    double sine_energy;
} totals;

static int var_index(const char *name) { return name[0] == 's' ? 0 : 1; }

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    totals *t = user;
    unsigned long k = t->buffers[var_index(b->name)]++;
    if (k < 2)
        printf("buffer %s first_ts %llu count %zu\n", b->name,
               (unsigned long long)b->first_ts, b->count);
}

static void on_block(rill_client *cl, const rill_client_block *blk,
                     void *user) {
    (void)cl;
    totals *t = user;
    /* One buffer per variable, both covering [first_ts, first_ts+ticks). */
    const rill_client_buffer *sine = &blk->buffers[0], *frame = &blk->buffers[1];
    const float *s = sine->values;
    const double *f = frame->values;
    bool ok = sine->count == blk->ticks && frame->count == blk->ticks &&
              (t->blocks == 0 || blk->first_ts == t->next_block) &&
              f[0] == (double)blk->first_ts; /* frame_d is the tick */
    for (size_t i = 0; i < sine->count; i++)
        t->sine_energy += (double)s[i] * s[i];
    t->aligned += ok;
    t->next_block = blk->first_ts + blk->ticks;
    if (t->blocks++ < 3)
        printf("block first_ts %llu ticks %llu %s:%zu %s:%zu\n",
               (unsigned long long)blk->first_ts, (unsigned long long)blk->ticks,
               sine->name, sine->count, frame->name, frame->count);
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("RILL_URL");
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    rill_client_config cfg = rill_client_config_default();
    if (url != NULL)
        cfg.url = url;
    totals t = {{0, 0}, 0, 0, 0, 0};
    cfg.on_buffer = on_buffer;
    cfg.on_block = on_block;
    cfg.user = &t;
    cfg.poll = true;
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", cfg.url, rill_strerror(rc));
        return 1;
    }
    const char *vars[] = {"sine", "frame_d"};
    rc = rill_client_stream_start(cl, vars, 2, NULL);
    uint64_t end = rill_clock_now_ns() + (uint64_t)(seconds * 1e9);
    while (rc == 0 && rill_clock_now_ns() < end)
        rc = rill_client_poll(cl, 100) < 0 ? RILL_ECLOSED : 0;
    rill_client_stream_stop(cl, vars, 2);
    rill_client_poll(cl, 200); /* what was on its way */
    rill_client_destroy(cl);
    if (rc != 0) {
        fprintf(stderr, "streaming failed: %s\n", rill_strerror(rc));
        return 1;
    }
    printf("buffers sine %lu frame_d %lu, blocks %lu (%lu aligned), sine "
           "energy %.1f\n", t.buffers[0], t.buffers[1], t.blocks, t.aligned,
           t.sine_energy);
    return t.blocks > 0 && t.aligned == t.blocks ? 0 : 1;
}
