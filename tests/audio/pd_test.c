/* The Pure Data source: a patch with [osc~ 440] played by Debian's `pd
 * -nogui -jack` on a private jackd and mixed by a rill output on the same
 * server. The frequency is measured on the output's mixed blocks. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

#ifndef RILL_TEST_DATA
#error RILL_TEST_DATA must name tests/audio/data
#endif

/* A callback source added after the Pd source: it sees the mixed block
 * on the audio thread and keeps its left channel, i.e. exactly what the
 * output plays. Entries below n are complete (release/acquire). */
typedef struct tap {
    float *v;
    size_t cap;
    atomic_size_t n;
    atomic_bool on;
} tap;

static void tap_fn(rill_audio_source *src, float *mix, size_t frames,
                   uint32_t channels, void *user) {
    (void)src;
    tap *t = user;
    if (!atomic_load_explicit(&t->on, memory_order_relaxed))
        return;
    size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    for (size_t i = 0; i < frames && n < t->cap; i++)
        t->v[n++] = mix[i * channels];
    atomic_store_explicit(&t->n, n, memory_order_release);
}

TEST(osc_440_patch_plays_at_440_hz) {
    const double RATE = 48000;
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, (unsigned)RATE, 256, 0,
                                 false);
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillout";
    oc.connect = "";
    oc.format = RILL_AUDIO_F32;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&oc, &o));
    rill_audio_source *pd, *probe;
    ASSERT_ERR(rill_audio_pd_create(o, "/nonexistent.pd", server, NULL, &pd),
               RILL_ENOTFOUND);
    ASSERT_OK(rill_audio_pd_create(o, RILL_TEST_DATA "/osc440.pd", server,
                                   RILL_TEST_DATA "/pd-dies-with-parent.sh",
                                   &pd));
    static tap t;
    t.cap = (size_t)RATE * 3;
    t.v = calloc(t.cap, sizeof *t.v);
    atomic_store(&t.n, 0);
    atomic_store(&t.on, false);
    ASSERT_OK(rill_audio_callback_source_create(o, tap_fn, &t, &probe));
    ASSERT_OK(rill_audio_output_add(o, pd));
    ASSERT_OK(rill_audio_output_add(o, probe));
    ASSERT_OK(rill_audio_source_play(probe));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_source_play(pd));
    /* Let Pd settle before recording: its first cycles may be late. */
    rill__sleep_ns(500000000u);
    atomic_store(&t.on, true);
    for (int i = 0; i < 600 && atomic_load(&t.n) < t.cap; i++)
        rill__sleep_ns(10000000u);
    rill_audio_source_stats st;
    rill_audio_source_get_stats(pd, &st);
    rill_audio_stats ost;
    rill_audio_output_get_stats(o, &ost);
    rill_audio_output_close(o);
    uint64_t t0 = rill_clock_now_ns();
    rill_audio_source_destroy(pd); /* a source outlives its output's close */
    double stop_ms = (double)(rill_clock_now_ns() - t0) / 1e6;
    rill_audio_source_destroy(probe);
    au_jackd_stop(jackd);
    ASSERT_TRUE(stop_ms < 2500); /* Pd ends on SIGTERM */

    size_t total = atomic_load_explicit(&t.n, memory_order_acquire);
    const float *x = t.v;
    /* Pd is not a real-time process here, and on a loaded machine its
     * scheduler can miss a JACK cycle: Pd then outputs a block of zeros.
     * Such seams are found (a step larger than the wave's own slope
     * allows) and counted; the frequency is measured on every clean
     * stretch of at least 0.25 s and averaged by length, over at least
     * 1 s in all. Each stretch alone is already within 1e-4 Hz. */
    size_t i = 0;
    while (i < total && x[i] == 0.0f)
        i++;
    double peak = 0;
    for (size_t k = i; k < total; k++)
        peak = fmax(peak, fabs(x[k]));
    const double maxstep = 2 * M_PI * 440 / RATE * 0.5 * 1.01 + 1e-6;
    size_t start = i, seams = 0, clean = 0, stretches = 0;
    double fsum = 0, fmin = 1e9, fmax_ = 0;
    for (size_t k = i + 1; k <= total; k++) {
        if (k == total || fabs(x[k] - x[k - 1]) > maxstep) {
            size_t len = k - start;
            if (len >= RATE / 4) {
                double fk = au_measure_freq(x + start, len, 1, RATE);
                fsum += fk * (double)len;
                clean += len;
                stretches++;
                fmin = fmin < fk ? fmin : fk;
                fmax_ = fmax_ > fk ? fmax_ : fk;
            }
            seams += k < total;
            start = k;
        }
    }
    double f = clean ? fsum / (double)clean : 0;
    printf("  captured %zu frames, peak %.4f, %zu seams; %zu clean stretches "
           "(%.2f s): %.6f Hz (error %.2e; stretches %.6f..%.6f); pd ring: "
           "%llu frames, %llu underruns; output xruns %llu\n",
           total - i, peak, seams, stretches, (double)clean / RATE, f,
           f - 440.0, fmin, fmax_, (unsigned long long)st.frames,
           (unsigned long long)st.underruns, (unsigned long long)ost.xruns);
    ASSERT_TRUE(clean > RATE);
    ASSERT_EQ_DOUBLE(peak, 0.5, 0.01);
    ASSERT_EQ_DOUBLE(f, 440.0, 0.01);
    ASSERT_EQ_DOUBLE(fmin, 440.0, 0.01);
    ASSERT_EQ_DOUBLE(fmax_, 440.0, 0.01);
    free(t.v);
}
