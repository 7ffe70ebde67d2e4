/* The Pure Data source: a patch with [osc~ 440] played by Debian's `pd
 * -nogui -jack` on a private jackd, mixed by a rill output on the same
 * server, and captured by a rill input connected to that output. The
 * frequency is measured on the captured signal. */
#include <math.h>
#include <stdlib.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

#ifndef RILL_TEST_DATA
#error RILL_TEST_DATA must name tests/audio/data
#endif

typedef struct capture {
    float *v;
    size_t n, cap;
    int gaps;
    uint64_t next;
} capture;

static void capture_fn(rill_audio_input *in, const void *data, size_t frames,
                       uint64_t first, void *user) {
    (void)in;
    capture *c = user;
    if (c->n > 0 && first != c->next)
        c->gaps++;
    c->next = first + frames;
    const float *f = data;
    for (size_t i = 0; i < frames && c->n < c->cap; i++)
        c->v[c->n++] = f[2 * i]; /* left channel */
}

TEST(osc_440_patch_plays_at_440_hz) {
    const double RATE = 48000;
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, (unsigned)RATE, 256, 0, false);
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillout";
    oc.connect = "";
    oc.format = RILL_AUDIO_F32;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&oc, &o));
    rill_audio_source *pd;
    ASSERT_ERR(rill_audio_pd_create(o, "/nonexistent.pd", server, NULL, &pd),
               RILL_ENOTFOUND);
    ASSERT_OK(rill_audio_pd_create(o, RILL_TEST_DATA "/osc440.pd", server, NULL,
                                   &pd));
    ASSERT_OK(rill_audio_output_add(o, pd));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_source_play(pd));

    capture c = {0};
    c.cap = (size_t)RATE * 3;
    c.v = calloc(c.cap, sizeof *c.v);
    rill_audio_config ic = oc;
    ic.name = "rillin";
    ic.connect = "rillout:out_";
    rill_audio_input *in;
    /* Let Pd settle before recording: its first cycles may be late. */
    rill__audio_sleep_ns(500000000u);
    ASSERT_OK(rill_audio_input_open(&ic, capture_fn, &c, &in));
    ASSERT_OK(rill_audio_input_start(in));
    rill__audio_sleep_ns(3200000000u);
    ASSERT_OK(rill_audio_input_stop(in));
    rill_audio_sample_stats st;
    rill_audio_source_stats(pd, &st);
    rill_audio_stats ost;
    rill_audio_output_stats(o, &ost);
    ASSERT_OK(rill_audio_source_stop(pd));
    rill_audio_input_close(in);
    rill_audio_source_destroy(pd);
    rill_audio_output_close(o);
    au_jackd_stop(jackd);

    /* Pd is not a real-time process here, and on a loaded machine its
     * scheduler can miss a JACK cycle: Pd then outputs a block of zeros.
     * Such seams are found (a step larger than the wave's own slope
     * allows), counted and reported, and the frequency is measured on the
     * longest stretch without one, which must last at least 1 s. */
    size_t i = 0;
    while (i < c.n && c.v[i] == 0.0f)
        i++;
    double peak = 0;
    for (size_t k = i; k < c.n; k++)
        peak = fmax(peak, fabs(c.v[k]));
    const double maxstep = 2 * M_PI * 440 / RATE * 0.5 * 1.01 + 1e-6;
    size_t best = i, best_len = 0, start = i, seams = 0;
    for (size_t k = i + 1; k <= c.n; k++) {
        if (k == c.n || fabs(c.v[k] - c.v[k - 1]) > maxstep) {
            if (k - start > best_len) {
                best = start;
                best_len = k - start;
            }
            seams += k < c.n;
            start = k;
        }
    }
    double f = au_measure_freq(c.v + best, best_len, 1, RATE);
    printf("  captured %zu frames, peak %.4f, %zu seams; over the longest "
           "clean stretch (%.2f s): %.6f Hz (error %.2e); pd ring: %llu "
           "frames, %llu underruns; output xruns %llu, skipped cycles %d\n",
           c.n - i, peak, seams, (double)best_len / RATE, f, f - 440.0,
           (unsigned long long)st.frames, (unsigned long long)st.underruns,
           (unsigned long long)ost.xruns, c.gaps);
    ASSERT_TRUE(best_len > RATE);
    ASSERT_EQ_DOUBLE(peak, 0.5, 0.01);
    ASSERT_EQ_DOUBLE(f, 440.0, 0.01);
    free(c.v);
}
