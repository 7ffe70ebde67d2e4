/* The audio engine's mixer: the cost of one 64-frame block at 48 kHz,
 * stereo, for 1, 32 and 256 sources, as a fraction of the block's period
 * (1.333 ms). Target: 256 sources under 10% of the period.
 *
 * The block is rendered exactly as a backend's audio thread renders it
 * (rill__audio_render on an opened output: commands, every playing
 * source, clamp), called in a loop on this thread, so the figure is the
 * engine's own cost without a device's scheduling noise. The baseline, in
 * the same run, is the same block with no source (the fixed cost: commands,
 * clearing, clamping). Two kinds of source: sines (computed on the audio
 * thread) and samples (copied from their rings, refilled between blocks
 * outside the timing).
 *
 * Then the JACK round trip: a private `jackd -d dummy` at 48 kHz with
 * 64-frame periods, a rill output whose callback source plays an impulse
 * every 4800 frames, connected to a rill input. Each impulse's capture time
 * (the input block's JACK frame time + its index) minus its play time (the
 * output's clock origin + its frame number) is the latency in frames,
 * compared with one period, the period math.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio/backend.h"
#include "audio/engine.h"
#include "bench.h"

#define FRAMES 64
#define RATE 48000
#define BLOCKS 2000
#define REPEATS 9

static rill_audio_output *open_output(void) {
    rill_audio_config c = rill_audio_config_default();
    c.backend = "dummy";
    c.rate = RATE;
    c.channels = 2;
    c.format = RILL_AUDIO_F32;
    c.buffer_frames = FRAMES;
    c.max_sources = 512;
    rill_audio_output *o = NULL;
    if (rill_audio_output_open(&c, &o) != 0) {
        fprintf(stderr, "bench_audio: cannot open the dummy output\n");
        exit(1);
    }
    return o;
}

/* Median ns per block over REPEATS runs of BLOCKS blocks. */
static double time_blocks(rill_audio_output *o, rill_audio_source **samples,
                          size_t n_samples) {
    static float chunk[FRAMES * 2 * 8];
    double runs[REPEATS];
    uint64_t t = 0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t spent = 0;
        for (int b = 0; b < BLOCKS; b++) {
            /* Keep every sample's ring fed, outside the timing. */
            for (size_t i = 0; i < n_samples; i++)
                if (rill_audio_sample_writable(samples[i]) >= FRAMES)
                    rill_audio_sample_write(samples[i], chunk,
                                            FRAMES * sizeof(float), 0, NULL);
            uint64_t t0 = rill_clock_now_ns();
            rill__audio_rt_enter();
            float *mix = rill__audio_render(&o->dev, FRAMES, t);
            rill__audio_rt_leave();
            spent += rill_clock_now_ns() - t0;
            bench_sink(mix);
            t += FRAMES;
        }
        runs[r] = (double)spent / BLOCKS;
    }
    return bench_median(runs, REPEATS);
}

static double measure(int kind, size_t n) {
    rill_audio_output *o = open_output();
    rill_audio_source **src = calloc(n ? n : 1, sizeof *src);
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (kind == 0) {
            rc = rill_audio_sine_create(o, 100.0 + (double)i, 0.5 / (double)n, &src[i]);
        } else {
            rill_audio_sample_config sc = rill_audio_sample_config_default();
            sc.format = RILL_AUDIO_F32;
            sc.channels = 1;
            rc = rill_audio_sample_create(o, &sc, &src[i]);
        }
        if (rc == 0)
            rc = rill_audio_output_add(o, src[i]);
        if (rc == 0)
            rc = rill_audio_source_play(src[i]);
        if (rc != 0) {
            fprintf(stderr, "bench_audio: source %zu: %s\n", i, rill_strerror(rc));
            exit(1);
        }
    }
    double ns = time_blocks(o, kind == 1 ? src : NULL, kind == 1 ? n : 0);
    rill_audio_output_close(o);
    for (size_t i = 0; i < n; i++)
        rill_audio_source_destroy(src[i]);
    free(src);
    return ns;
}

/* ---- JACK round trip ---------------------------------------------------- */

#define IMPULSE_EVERY 4800
#define IMPULSE_AT 2400
#define MAX_HITS 64

static _Atomic uint64_t rendered;
static _Atomic uint64_t hits[MAX_HITS];
static atomic_int n_hits;

static void play_impulses(float *mix, size_t frames, uint32_t channels,
                          void *user) {
    (void)user;
    uint64_t c = atomic_load(&rendered);
    for (size_t i = 0; i < frames; i++)
        if ((c + i) % IMPULSE_EVERY == IMPULSE_AT)
            for (uint32_t ch = 0; ch < channels; ch++)
                mix[i * channels + ch] += 1.0f;
    atomic_store(&rendered, c + frames);
}

static void on_capture(rill_audio_input *in, const void *data, size_t frames,
                       uint64_t first_frame, void *user) {
    (void)in;
    (void)user;
    const float *x = data;
    for (size_t i = 0; i < frames; i++) {
        if (x[i] > 0.5f) {
            int k = atomic_fetch_add(&n_hits, 1);
            if (k < MAX_HITS)
                atomic_store(&hits[k], first_frame + i);
        }
    }
}

/* Median round trip in frames, or -1 if JACK is not there. */
static double jack_round_trip(void) {
    const char *server = "rill-bench";
    fflush(stdout); /* the child must not write this process's buffer */
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("jackd", "jackd", "--no-realtime", "-n", server, "-d", "dummy",
               "-r", "48000", "-p", "64", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || system("jack_wait -s rill-bench -w -t 10 > /dev/null 2>&1") != 0) {
        fprintf(stderr, "bench_audio: no JACK server (jackd, jack_wait from "
                        "jackd2); JACK round trip skipped\n");
        if (pid > 0)
            kill(pid, SIGTERM), waitpid(pid, NULL, 0);
        return -1;
    }
    double result = -1;
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillbench-out";
    oc.channels = 1;
    oc.format = RILL_AUDIO_F32;
    oc.connect = "";
    rill_audio_config ic = oc;
    ic.name = "rillbench-in";
    ic.connect = "rillbench-out:out_1";
    rill_audio_output *out = NULL;
    rill_audio_input *in = NULL;
    rill_audio_source *src = NULL;
    if (rill_audio_output_open(&oc, &out) == 0 &&
        rill_audio_callback_source_create(out, play_impulses, NULL, &src) == 0 &&
        rill_audio_output_add(out, src) == 0 && rill_audio_source_play(src) == 0 &&
        rill_audio_output_start(out) == 0 &&
        rill_audio_input_open(&ic, on_capture, NULL, &in) == 0 &&
        rill_audio_input_start(in) == 0) {
        uint64_t end = rill_clock_now_ns() + 1500000000u;
        while (atomic_load(&n_hits) < 12 && rill_clock_now_ns() < end)
            rill_clock_sleep_until_ns(rill_clock_now_ns() + 10000000u);
        rill_audio_stats st;
        rill_audio_output_stats(out, &st);
        int n = atomic_load(&n_hits);
        if (n > MAX_HITS)
            n = MAX_HITS;
        double lat[MAX_HITS];
        int m = 0;
        for (int k = 0; k < n; k++) {
            /* The impulse j played at origin + IMPULSE_AT + j * EVERY. */
            int64_t d = (int64_t)atomic_load(&hits[k]) - (int64_t)st.origin - IMPULSE_AT;
            int64_t j = (d + IMPULSE_EVERY / 2) / IMPULSE_EVERY;
            if (d >= -IMPULSE_EVERY / 2)
                lat[m++] = (double)(d - j * IMPULSE_EVERY);
        }
        if (m > 0)
            result = bench_median(lat, (size_t)m);
        else
            fprintf(stderr, "bench_audio: no impulse came back through JACK\n");
    } else {
        fprintf(stderr, "bench_audio: cannot open the JACK streams\n");
    }
    if (in != NULL)
        rill_audio_input_stop(in);
    if (out != NULL)
        rill_audio_output_stop(out);
    rill_audio_input_close(in);
    rill_audio_output_close(out);
    rill_audio_source_destroy(src);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return result;
}

int main(void) {
    const double period_ns = 1e9 * FRAMES / RATE;
    double empty = measure(0, 0);
    bench_header("audio mixer, one 64-frame stereo block at 48 kHz (period 1333 us)");
    static const size_t counts[] = {1, 32, 256};
    static const char *const kinds[] = {"sines", "samples"};
    for (int kind = 0; kind < 2; kind++) {
        for (size_t k = 0; k < 3; k++) {
            size_t n = counts[k];
            double ns = measure(kind, n);
            double frac = ns / period_ns * 100.0;
            char name[64];
            snprintf(name, sizeof name, "%zu %s, block cost, %% of period", n, kinds[kind]);
            bool big = n == 256;
            bench_report(&(bench_row){"audio", name, frac, "%", "no source",
                                      empty / period_ns * 100.0,
                                      empty > 0 ? ns / empty : 0,
                                      big ? "< 10 %" : "-",
                                      big ? frac < 10.0 : -1});
        }
    }
    double rt = jack_round_trip();
    if (rt >= 0)
        bench_report(&(bench_row){"audio", "JACK round trip out -> in, frames", rt,
                                  "frames", "one period (64)", 64, rt / 64,
                                  "<= 1 period", rt <= 64});
    return 0;
}
