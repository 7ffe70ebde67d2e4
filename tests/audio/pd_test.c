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
    pid_t jackd = au_jackd_start(server, sizeof server, (unsigned)RATE, 256, 0);
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
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_source_play(pd));
    printf("  pd started in %.0f ms\n", (double)(rill_clock_now_ns() - t0) / 1e6);

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
    t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_source_stop(pd));
    printf("  pd stopped in %.0f ms\n", (double)(rill_clock_now_ns() - t0) / 1e6);
    rill_audio_input_close(in);
    rill_audio_source_destroy(pd);
    rill_audio_output_close(o);
    t0 = rill_clock_now_ns();
    au_jackd_stop(jackd);
    printf("  jackd stopped in %.0f ms\n", (double)(rill_clock_now_ns() - t0) / 1e6);

    /* Skip to the first non-silent frame and measure over what follows. */
    size_t i = 0;
    while (i < c.n && c.v[i] == 0.0f)
        i++;
    double peak = 0;
    for (size_t k = i; k < c.n; k++)
        peak = fmax(peak, fabs(c.v[k]));
    size_t n = c.n - i;
    double f = au_measure_freq(c.v + i, n, 1, RATE);
    printf("  captured %zu frames (%.2f s), peak %.4f; measured %.6f Hz "
           "(error %.2e); pd ring: %llu frames, %llu underruns; xruns %llu, "
           "skipped cycles %d\n",
           n, (double)n / RATE, peak, f, f - 440.0,
           (unsigned long long)st.frames, (unsigned long long)st.underruns,
           (unsigned long long)ost.xruns, c.gaps);
    ASSERT_TRUE(n > RATE * 2);
    /* Gaps in JACK's frame clock are cycles the (non-real-time) server
     * skipped as a whole: Pd skipped them too, so its wave has no seam. */
    ASSERT_EQ_DOUBLE(peak, 0.5, 0.01);
    ASSERT_EQ_DOUBLE(f, 440.0, 0.01);
    free(c.v);
}
