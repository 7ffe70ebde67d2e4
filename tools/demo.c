/* The demo source. Its thread plays the part of a device's audio loop:
 * once per block it wakes at an absolute deadline, then for each frame
 * ticks the server and sets every variable, exactly as a Bela program does
 * in render(). Nothing in that loop allocates, locks or does I/O.
 *
 * Variables (registration order = id):
 *   0 frame    int32  dense   the frame number (value == its tick)
 *   1 frame_d  double dense   the frame number
 *   2 sine     float  dense   gain * 0.5 sin(2 pi 440 t)
 *   3 noise    float  dense   white noise in [-0.5, 0.5)
 *   4 chirp    float  dense   0.5 sin, log sweep 20 Hz -> 20 kHz every 10 s
 *   5 events   int32  sparse  the frame number, on frames where
 *                             frame % 64 == 0 or frame % 100 == 7
 *   6 level    double sparse  RMS of the previous block of sine, once per
 *                             block at the block's first frame
 *   7 gain     float  dense   1.0; the sine is scaled by rill_var_get(gain),
 *                             so a client that controls it changes the sine
 *   8 flags    uint32 dense   0 (a bit field for setMask)
 *   9 inbox    double dense   the sum of the values of the last buffer a
 *                             client sent to the device (pybela's
 *                             send_buffer), 0 before the first
 *  10 mic0     float  dense   a two-microphone pair (0.2 m apart) hearing
 *  11 mic1     float  dense   band-limited noise (200 Hz - 3 kHz) from a
 *                             source that circles it once every 20 s: mic1
 *                             is mic0 delayed by 0.2 m cos(angle) / 343 m/s
 *                             (negative: ahead), a fractional delay by
 *                             linear interpolation. The server's audio
 *                             description (rill_server_set_audio) names
 *                             them as the input channels.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

enum { V_FRAME, V_FRAME_D, V_SINE, V_NOISE, V_CHIRP, V_EVENTS, V_LEVEL,
       V_GAIN, V_FLAGS, V_INBOX, V_MIC0, V_MIC1, N_VARS };

static const struct {
    const char *name;
    rill_type type;
    rill_ts_mode mode;
    const char *what;
} var_specs[N_VARS] = {
    {"frame", RILL_TYPE_INT32, RILL_TS_DENSE, "the frame number"},
    {"frame_d", RILL_TYPE_DOUBLE, RILL_TS_DENSE, "the frame number"},
    {"sine", RILL_TYPE_FLOAT, RILL_TS_DENSE, "gain * 0.5 sin(2 pi 440 t)"},
    {"noise", RILL_TYPE_FLOAT, RILL_TS_DENSE, "white noise in [-0.5, 0.5)"},
    {"chirp", RILL_TYPE_FLOAT, RILL_TS_DENSE, "log sweep 20 Hz - 20 kHz / 10 s"},
    {"events", RILL_TYPE_INT32, RILL_TS_SPARSE,
     "frame number when frame % 64 == 0 or % 100 == 7"},
    {"level", RILL_TYPE_DOUBLE, RILL_TS_SPARSE, "RMS of the last block of sine"},
    {"gain", RILL_TYPE_FLOAT, RILL_TS_DENSE, "1.0; scales sine (control it)"},
    {"flags", RILL_TYPE_UINT32, RILL_TS_DENSE, "0 (bits for setMask)"},
    {"inbox", RILL_TYPE_DOUBLE, RILL_TS_DENSE,
     "sum of the last buffer a client sent"},
    {"mic0", RILL_TYPE_FLOAT, RILL_TS_DENSE,
     "microphone 0: noise from a source circling the pair"},
    {"mic1", RILL_TYPE_FLOAT, RILL_TS_DENSE,
     "microphone 1: mic0 delayed by 0.2 m cos(angle) / c"},
};

/* The microphone pair: spacing, speed of sound, one turn of the source,
 * the audio buffer the description announces. */
#define DEMO_MIC_SPACING_M 0.2
#define DEMO_SOUND_SPEED 343.0
#define DEMO_TURN_S 20.0
#define DEMO_AUDIO_FRAMES 1024u
#define DEMO_HIST 1024u /* source history, a power of two */
#define DEMO_IDLE_BLOCKS 8u /* blocks per wake-up while nothing watches */

/* Client buffers arrive on the network thread; the demo thread reads the
 * sum once per frame. One demo per process, so a static suffices. */
static _Atomic uint64_t inbox_bits;

void demo_on_buffer(rill_server *srv, uint32_t id, rill_type type,
                    const void *values, size_t count, void *user) {
    (void)srv;
    (void)id;
    (void)user;
    double sum = 0;
    size_t size = rill_type_size(type);
    for (size_t i = 0; i < count; i++)
        sum += rill_value_to_double(type, (const uint8_t *)values + i * size);
    uint64_t bits;
    memcpy(&bits, &sum, sizeof bits);
    atomic_store_explicit(&inbox_bits, bits, memory_order_relaxed);
}

struct demo {
    rill_server *srv;
    rill_var *v[N_VARS];
    double rate;
    unsigned block;
    pthread_t thread;
    bool running; /* thread started and not yet joined */
    atomic_bool stop;
    /* Changes from clients (demo_change, the device-request thread): the
     * microphones' gain (volume / 100), read by the demo thread at every
     * block; the announced frames per buffer; the next frame, so that a
     * restart at another rate goes on ticking from there. */
    _Atomic float mic_gain;
    double volume;
    uint32_t audio_frames;
    uint64_t next_frame;
    float hist[DEMO_HIST]; /* the source signal, for the delayed copies */
};

/* The source as heard at time `frame - delay` (delay in frames, >= 0, <
 * DEMO_HIST - 1), by linear interpolation in the history. */
static float demo_delayed(const demo *d, uint64_t frame, double delay) {
    double pos = (double)frame - delay;
    double base = floor(pos);
    double frac = pos - base;
    uint64_t i = (uint64_t)base;
    float a = d->hist[i & (DEMO_HIST - 1)];
    float b = d->hist[(i + 1) & (DEMO_HIST - 1)];
    return (float)((1.0 - frac) * a + frac * b);
}

/* Sleep until t, or until stop is asked; while idle (nothing watched),
 * also until a client starts watching. In slices of at most 50 ms, so a
 * low rate's long blocks (6.4 s at 10 Hz with 64-frame blocks, 8 of them
 * while idle) delay neither a stop nor a stream's start; at audio rates a
 * sleep is shorter than a slice and this is one clock_nanosleep. */
static void demo_sleep_until(demo *d, uint64_t t, bool idle) {
    const uint64_t slice = 50000000u;
    for (;;) {
        uint64_t now = rill_clock_now_ns();
        if (now >= t || atomic_load_explicit(&d->stop, memory_order_relaxed) ||
            (idle && rill_server_watched(d->srv)))
            return;
        rill_clock_sleep_until_ns(t - now > slice ? now + slice : t);
    }
}

static void *demo_main(void *arg) {
    demo *d = arg;
    const double two_pi = 6.283185307179586;
    const double sweep_s = 10.0, f0 = 20.0, f1 = 20000.0;
    const double k = log(f1 / f0) / sweep_s;
    uint64_t rng = 0x853c49e6748fea9bULL;
    uint64_t src_rng = 0x9e3779b97f4a7c15ULL;
    uint64_t frame = d->next_frame;
    double sine_phase = 0.0, sum_sq = 0.0;
    /* Band-pass noise: a one-pole low-pass at 3 kHz minus one at 200 Hz. */
    const double lp_hi = 1.0 - exp(-two_pi * 3000.0 / d->rate);
    const double lp_lo = 1.0 - exp(-two_pi * 200.0 / d->rate);
    double y_hi = 0.0, y_lo = 0.0;
    double max_delay = DEMO_MIC_SPACING_M / DEMO_SOUND_SPEED * d->rate;
    if (max_delay > DEMO_HIST / 2 - 2)
        max_delay = DEMO_HIST / 2 - 2;
    uint64_t period_ns = (uint64_t)((double)d->block * 1e9 / d->rate);
    uint64_t deadline = rill_clock_now_ns();
    unsigned owed = 0; /* blocks due already (see the end of the loop) */
    /* Per frame the sine turns by a fixed angle and the chirp's frequency
     * grows by a fixed factor: both follow by recurrences from values
     * computed exactly at each block's start (libm's sin, cos and exp once
     * per block instead of once per frame: the demo is most of an idle
     * server's CPU). */
    const double sine_step = two_pi * 440.0 / d->rate;
    const double rot_c = cos(sine_step), rot_s = sin(sine_step);
    const double chirp_growth = exp(k / d->rate);
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        /* Relaxed: a gain from any moment is as good. */
        float mic_gain = atomic_load_explicit(&d->mic_gain, memory_order_relaxed);
        double sin_a = sin(two_pi * sine_phase), cos_a = cos(two_pi * sine_phase);
        double t = fmod((double)frame / d->rate, sweep_s);
        double chirp_freq = f0 * exp(k * t);
        double chirp_phase = f0 * (exp(k * t) - 1.0) / k;
        /* The source circles once in 20 s: its angle is taken once per
         * block (it turns by a few thousandths of a degree in one). */
        double angle =
            two_pi * fmod((double)frame / d->rate, DEMO_TURN_S) / DEMO_TURN_S;
        double rel = max_delay * cos(angle); /* mic1 behind mic0 */
        /* The chirp as a complex oscillator too: z = e^(2 pi i phase) turns
         * by w = e^(2 pi i step) per frame, and the step grows by the factor
         * chirp_growth, which over one block is a growth by a nearly
         * constant amount: w turns by v = e^(2 pi i step (growth - 1)).
         * (Over 64 frames that drifts from the exact phase by < 1e-5 rad;
         * each block starts exact again.) */
        double step = chirp_freq * (chirp_growth - 1.0) / k;
        /* (The phase's whole turns dropped: libm reduces a large argument
         * the slow way.) */
        double turn = chirp_phase - floor(chirp_phase);
        double z_c = cos(two_pi * turn), z_s = sin(two_pi * turn);
        double w_c = cos(two_pi * step), w_s = sin(two_pi * step);
        double v_c = cos(two_pi * step * (chirp_growth - 1.0)),
               v_s = sin(two_pi * step * (chirp_growth - 1.0));
        for (unsigned i = 0; i < d->block; i++, frame++) {
            rill_server_tick(d->srv, frame);
            rill_var_set_int32(d->v[V_FRAME], (int32_t)(frame & 0x7fffffff));
            rill_var_set_double(d->v[V_FRAME_D], (double)frame);
            rill_var_set_float(d->v[V_GAIN], 1.0f);
            float gain = (float)rill_var_get(d->v[V_GAIN]);
            float s = gain * 0.5f * (float)sin_a;
            double next_sin = sin_a * rot_c + cos_a * rot_s;
            cos_a = cos_a * rot_c - sin_a * rot_s;
            sin_a = next_sin;
            sine_phase += 440.0 / d->rate;
            sine_phase -= floor(sine_phase);
            rill_var_set_float(d->v[V_SINE], s);
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            double u = (double)((rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
            rill_var_set_float(d->v[V_NOISE], (float)(u - 0.5));
            rill_var_set_float(d->v[V_CHIRP], (float)(0.5 * z_s));
            /* phase(t) = f0 (e^kt - 1) / k grows by f(t) (e^(k/rate) - 1)
             * / k from one frame to the next; the sweep starts again at
             * 20 Hz every sweep_s, a frame that the sum of 1/rate cannot
             * be trusted to find: near it, t is taken exactly. (Within
             * 1e-9 of the exact formula at every frame.) */
            t += 1.0 / d->rate;
            if (t >= sweep_s - 2.0 / d->rate) {
                t = fmod((double)(frame + 1) / d->rate, sweep_s);
                chirp_freq = f0 * exp(k * t);
                chirp_phase = f0 * (exp(k * t) - 1.0) / k;
                turn = chirp_phase - floor(chirp_phase);
                z_c = cos(two_pi * turn);
                z_s = sin(two_pi * turn);
                step = chirp_freq * (chirp_growth - 1.0) / k;
                w_c = cos(two_pi * step);
                w_s = sin(two_pi * step);
                v_c = cos(two_pi * step * (chirp_growth - 1.0));
                v_s = sin(two_pi * step * (chirp_growth - 1.0));
            } else {
                chirp_phase += chirp_freq * (chirp_growth - 1.0) / k;
                chirp_freq *= chirp_growth;
                double zc = z_c * w_c - z_s * w_s;
                z_s = z_s * w_c + z_c * w_s;
                z_c = zc;
                double wc = w_c * v_c - w_s * v_s;
                w_s = w_s * v_c + w_c * v_s;
                w_c = wc;
            }
            if (frame % 64 == 0 || frame % 100 == 7)
                rill_var_set_int32(d->v[V_EVENTS], (int32_t)(frame & 0x7fffffff));
            if (i == 0) {
                rill_var_set_double(d->v[V_LEVEL], sqrt(sum_sq / d->block));
                sum_sq = 0.0;
            }
            sum_sq += (double)s * s;
            rill_var_set_uint32(d->v[V_FLAGS], 0);
            uint64_t bits = atomic_load_explicit(&inbox_bits, memory_order_relaxed);
            double inbox;
            memcpy(&inbox, &bits, sizeof inbox);
            rill_var_set_double(d->v[V_INBOX], inbox);
            /* The source: its own xorshift stream (noise keeps its own). */
            src_rng ^= src_rng >> 12;
            src_rng ^= src_rng << 25;
            src_rng ^= src_rng >> 27;
            double w = (double)((src_rng * 0x2545F4914F6CDD1DULL) >> 11) /
                           9007199254740992.0 - 0.5;
            y_hi += lp_hi * (w - y_hi);
            y_lo += lp_lo * (w - y_lo);
            d->hist[frame & (DEMO_HIST - 1)] = (float)(4.0 * (y_hi - y_lo));
            rill_var_set_float(d->v[V_MIC0],
                               frame > 2 * DEMO_HIST
                                   ? mic_gain * demo_delayed(d, frame, max_delay)
                                   : 0.0f);
            rill_var_set_float(d->v[V_MIC1],
                               frame > 2 * DEMO_HIST
                                   ? mic_gain * demo_delayed(d, frame, max_delay + rel)
                                   : 0.0f);
        }
        /* Then sleep until the next block is due. While nothing watches a
         * variable (rill_server_watched), nothing sees when a block is
         * made either: the demo sleeps DEMO_IDLE_BLOCKS blocks at a time
         * and then makes the ones that are due at once (its ticks lag by
         * up to that many, never lead), a fraction of the wake-ups that
         * are most of an idle server's CPU. */
        deadline += period_ns;
        if (owed > 0) {
            owed--;
        } else if (!rill_server_watched(d->srv)) {
            demo_sleep_until(d, deadline + (DEMO_IDLE_BLOCKS - 1) * period_ns, true);
            uint64_t now = rill_clock_now_ns();
            if (now < deadline) /* woken early: a client watches now */
                demo_sleep_until(d, deadline, false);
            else if ((now - deadline) / period_ns < DEMO_IDLE_BLOCKS - 1)
                owed = (unsigned)((now - deadline) / period_ns);
            else
                owed = DEMO_IDLE_BLOCKS - 1;
        } else {
            demo_sleep_until(d, deadline, false);
        }
    }
    d->next_frame = frame; /* read after the join */
    return NULL;
}

/* The rates the demo offers to clients. */
static const double demo_rates[] = {8000, 16000, 22050, 32000, 44100, 48000, 96000};

/* The microphone pair as the server's audio input, and what may change:
 * the rate (the demo restarts at it), the buffer size and the volume. */
static int demo_describe_audio(demo *d) {
    rill_audio_desc audio = {
        .rate = d->rate,
        .buffer_frames = d->audio_frames,
        .volume = d->volume,
        .channels = 2,
        .variables = {"mic0", "mic1"},
        .n_rates = sizeof demo_rates / sizeof demo_rates[0],
        .buffer_frames_settable = true,
        .volume_settable = true,
    };
    memcpy(audio.rates, demo_rates, sizeof demo_rates);
    return rill_server_set_audio(d->srv, &audio);
}

int demo_change(rill_server *srv, const rill_audio_change *ch, char *why,
                size_t why_size, demo *d) {
    (void)srv;
    if (ch->rate > 0 && ch->rate != d->rate) {
        if (d->running) {
            atomic_store(&d->stop, true);
            pthread_join(d->thread, NULL);
            d->running = false;
        }
        d->rate = ch->rate;
        atomic_store(&d->stop, false);
        if (pthread_create(&d->thread, NULL, demo_main, d) != 0) {
            snprintf(why, why_size, "cannot restart the demo thread (restart "
                                    "rill serve)");
            return RILL_ESYS;
        }
        d->running = true;
        rill_server_set_sample_rate(d->srv, d->rate);
    }
    if (ch->volume >= 0) {
        d->volume = ch->volume;
        atomic_store_explicit(&d->mic_gain, (float)(ch->volume / 100.0),
                              memory_order_relaxed);
    }
    if (ch->buffer_frames > 0)
        d->audio_frames = ch->buffer_frames;
    return demo_describe_audio(d);
}

int demo_start(rill_server *srv, double rate, unsigned block, demo **out) {
    demo *d = calloc(1, sizeof *d);
    if (d == NULL)
        return RILL_ENOMEM;
    d->srv = srv;
    d->rate = rate;
    d->block = block;
    for (int i = 0; i < N_VARS; i++) {
        d->v[i] = rill_var_create(srv, var_specs[i].name, var_specs[i].type,
                                  var_specs[i].mode);
        if (d->v[i] == NULL) {
            free(d);
            return RILL_EINVAL;
        }
    }
    d->audio_frames = DEMO_AUDIO_FRAMES;
    d->volume = 100;
    atomic_init(&d->mic_gain, 1.0f);
    int rc = demo_describe_audio(d);
    if (rc != 0) {
        free(d);
        return rc;
    }
    atomic_init(&d->stop, false);
    /* gain is 1.0 from the start, not only once the thread ran its first
     * frame: a client that lists the variables at once (a loaded machine
     * may not have run it yet) reads 1.0. No thread ticks yet. */
    rill_var_set_float(d->v[V_GAIN], 1.0f);
    if (pthread_create(&d->thread, NULL, demo_main, d) != 0) {
        free(d);
        return RILL_ESYS;
    }
    d->running = true;
    *out = d;
    return 0;
}

void demo_stop(demo *d) {
    if (d == NULL)
        return;
    if (d->running) {
        atomic_store(&d->stop, true);
        pthread_join(d->thread, NULL);
    }
    free(d);
}

void demo_describe(const demo *d, FILE *out) {
    fprintf(out, "%-4s %-8s %-7s %-7s %s\n", "id", "name", "type", "mode",
            "value");
    for (int i = 0; i < N_VARS; i++)
        fprintf(out, "%-4u %-8s %-7s %-7s %s\n", rill_var_id(d->v[i]),
                var_specs[i].name, rill_type_name(var_specs[i].type),
                var_specs[i].mode == RILL_TS_DENSE ? "dense" : "sparse",
                var_specs[i].what);
}
