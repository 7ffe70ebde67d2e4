/* The audio engine on the file and dummy backends: conversions, the
 * mixer's sums and saturation, adding and removing sources while a sine
 * plays, samples (underrun, blocking and timed-out writes), the sine's
 * frequency and phase continuity, thread sources, file inputs and poll
 * delivery, and opening (errors, the fallback order). Output files are
 * read back with libsndfile and compared sample by sample. */
#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

static rill_audio_config file_out(const char *path, rill_audio_format fmt,
                                  uint32_t rate, uint32_t channels,
                                  uint64_t frames, bool realtime) {
    rill_audio_config c = rill_audio_config_default();
    c.backend = "file";
    c.device = path;
    c.format = fmt;
    c.rate = rate;
    c.channels = channels;
    c.buffer_frames = 64;
    c.max_frames = frames;
    c.realtime = realtime;
    return c;
}

/* Waits until an output has played `frames` frames (a loaded machine may
 * start its thread late; a test that changes something "0.2 s in" must
 * not do it before the first block). */
static void wait_frames(rill_audio_output *o, uint64_t frames) {
    for (int i = 0; i < 5000; i++) {
        rill_audio_stats st;
        rill_audio_output_get_stats(o, &st);
        if (st.frames >= frames)
            return;
        rill__sleep_ns(1000000u);
    }
    FAIL("the output did not play %llu frames in 5 s", (unsigned long long)frames);
}

static double ms_since(uint64_t t0) {
    return (double)(rill_clock_now_ns() - t0) / 1e6;
}

TEST(convert_saturates_and_round_trips) {
    const float in[] = {2.0f, -2.0f, 1.0f, -1.0f, 0.5f, NAN, -0.5f, 1e-9f};
    const int16_t want16[] = {32767, -32768, 32767, -32768, 16384, 0, -16384, 0};
    const int8_t want8[] = {127, -128, 127, -128, 64, 0, -64, 0};
    int16_t s16[8];
    int8_t s8[8];
    float f[8];
    rill_audio_convert(RILL_AUDIO_S16, s16, RILL_AUDIO_F32, in, 8);
    rill_audio_convert(RILL_AUDIO_S8, s8, RILL_AUDIO_F32, in, 8);
    rill_audio_convert(RILL_AUDIO_F32, f, RILL_AUDIO_F32, in, 8);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ_INT(s16[i], want16[i]);
        ASSERT_EQ_INT(s8[i], want8[i]);
    }
    /* Same-format copies are exact, even of out-of-range floats. */
    ASSERT_EQ_MEM(f, in, sizeof f);
    /* Every 16-bit value survives s16 -> f32 -> s16. */
    for (int v = -32768; v <= 32767; v++) {
        int16_t a = (int16_t)v, b;
        float x;
        rill_audio_convert(RILL_AUDIO_F32, &x, RILL_AUDIO_S16, &a, 1);
        rill_audio_convert(RILL_AUDIO_S16, &b, RILL_AUDIO_F32, &x, 1);
        ASSERT_EQ_INT(b, a);
        ASSERT_EQ_DOUBLE(x, v / 32768.0, 0);
    }
    int32_t s32;
    float one = 1.0f;
    rill_audio_convert(RILL_AUDIO_S32, &s32, RILL_AUDIO_F32, &one, 1);
    ASSERT_EQ_INT(s32, INT32_MAX);
    /* An unknown format converts nothing: dst keeps what it held, whichever
     * side is unknown (the unknown source wrote stack garbage into it). */
    int16_t keep[4] = {1, 2, 3, 4};
    const int16_t was[4] = {1, 2, 3, 4};
    rill_audio_convert(RILL_AUDIO_S16, keep, (rill_audio_format)99, in, 4);
    ASSERT_EQ_MEM(keep, was, sizeof keep);
    rill_audio_convert((rill_audio_format)99, keep, RILL_AUDIO_F32, in, 4);
    ASSERT_EQ_MEM(keep, was, sizeof keep);
}

/* Four stereo samples and one mono sample of random 16-bit data, mixed
 * into a 16-bit file: every output sample must be the integer sum of the
 * inputs clamped to [-32768, 32767] (random full-scale data saturates in
 * both directions often). */
TEST(mixer_sum_of_sources_equals_clamped_integer_sum) {
    enum { L = 4000, NS = 5 };
    char path[128];
    au_tmp_path(path, sizeof path, "mix.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_S16, 48000, 2, L, false);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *s[NS];
    int16_t *data[NS];
    uint64_t seed = 42;
    for (int k = 0; k < NS; k++) {
        uint32_t ch = k == NS - 1 ? 1 : 2;
        rill_audio_sample_config sc = rill_audio_sample_config_default();
        sc.channels = ch == 1 ? 1 : 0;
        sc.ring_frames = L;
        ASSERT_OK(rill_audio_sample_create(o, &sc, &s[k]));
        data[k] = malloc(L * ch * sizeof(int16_t));
        for (size_t i = 0; i < L * ch; i++)
            data[k][i] = (int16_t)(test_rand(&seed) >> 48);
        size_t written;
        ASSERT_OK(rill_audio_sample_write(s[k], data[k], L * ch * 2, 0, &written));
        ASSERT_EQ_UINT(written, L * ch * 2);
        ASSERT_OK(rill_audio_output_add(o, s[k]));
        ASSERT_OK(rill_audio_source_play(s[k]));
    }
    ASSERT_ERR(rill_audio_output_add(o, s[0]), RILL_EBUSY);
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    for (int k = 0; k < NS; k++) {
        rill_audio_source_stats st;
        rill_audio_source_get_stats(s[k], &st);
        ASSERT_EQ_UINT(st.frames, L);
        ASSERT_EQ_UINT(st.underruns, 0);
        rill_audio_source_destroy(s[k]);
    }
    rill_audio_output_close(o);

    size_t n;
    int ch;
    short *got = au_read_wav_s16(path, &n, &ch);
    ASSERT_EQ_UINT(n, L);
    ASSERT_EQ_INT(ch, 2);
    long clipped_hi = 0, clipped_lo = 0;
    for (size_t i = 0; i < L; i++)
        for (int c2 = 0; c2 < 2; c2++) {
            long sum = 0;
            for (int k = 0; k < NS; k++)
                sum += k == NS - 1 ? data[k][i] : data[k][i * 2 + (size_t)c2];
            long want = sum > 32767 ? 32767 : sum < -32768 ? -32768 : sum;
            clipped_hi += sum > 32767;
            clipped_lo += sum < -32768;
            if (got[i * 2 + (size_t)c2] != want)
                FAIL("frame %zu channel %d: got %d, want %ld (sum %ld)", i, c2,
                     got[i * 2 + (size_t)c2], want, sum);
        }
    ASSERT_TRUE(clipped_hi > 100 && clipped_lo > 100);
    free(got);
    for (int k = 0; k < NS; k++)
        free(data[k]);
    unlink(path);
}

/* A callback source that adds nothing and counts the blocks it was in. */
static void count_blocks(rill_audio_source *src, float *mix, size_t frames,
                         uint32_t channels, void *user) {
    (void)src;
    (void)mix;
    (void)frames;
    (void)channels;
    atomic_fetch_add_explicit((atomic_long *)user, 1, memory_order_relaxed);
}

static long zeros_fn(rill_audio_source *src, void *buf, size_t frames,
                     void *user) {
    (void)src;
    (void)user;
    memset(buf, 0, frames * sizeof(int16_t));
    return (long)frames;
}

typedef struct churn {
    rill_audio_output *o;
    atomic_bool stop;
    long rounds, sources;
    atomic_long blocks; /* blocks the churned callback sources were in */
} churn;

/* Another thread, for the whole run: makes five silent sources of every
 * kind (a zero-amplitude sine, a sample of zeros, an empty sample that
 * underruns, a worker that writes zeros, a callback that adds nothing),
 * adds and plays them, changes the silent sine, then stops, removes and
 * destroys them, over and over. */
static void *churn_main(void *arg) {
    churn *c = arg;
    static const int16_t zeros[256];
    while (!atomic_load(&c->stop)) {
        rill_audio_source *s[5];
        rill_audio_sample_config mono = rill_audio_sample_config_default();
        mono.format = RILL_AUDIO_S16;
        mono.channels = 1;
        rill_audio_thread_config tc = rill_audio_thread_config_default();
        tc.fn = zeros_fn;
        tc.format = RILL_AUDIO_S16;
        tc.channels = 1;
        if (rill_audio_sine_create(c->o, 1000.0 + (double)(c->rounds % 50), 0.0,
                                   &s[0]) != 0 ||
            rill_audio_sample_create(c->o, &mono, &s[1]) != 0 ||
            rill_audio_sample_create(c->o, NULL, &s[2]) != 0 ||
            rill_audio_thread_source_create(c->o, &tc, &s[3]) != 0 ||
            rill_audio_callback_source_create(c->o, count_blocks, &c->blocks,
                                              &s[4]) != 0 ||
            rill_audio_sample_write(s[1], zeros, sizeof zeros, 0, NULL) != 0)
            abort();
        for (int k = 0; k < 5; k++)
            if (rill_audio_output_add(c->o, s[k]) != 0 ||
                rill_audio_source_play(s[k]) != 0)
                abort();
        rill__sleep_ns(1000000u);
        if (rill_audio_sine_set(s[0], 2000.0, 0.0) != 0)
            abort();
        rill__sleep_ns(1000000u);
        for (int k = 0; k < 5; k++) {
            if (k % 2 == 0 && rill_audio_source_stop(s[k]) != 0)
                abort();
            if (rill_audio_output_remove(c->o, s[k]) != 0)
                abort();
            rill_audio_source_destroy(s[k]);
        }
        c->rounds++;
        c->sources += 5;
    }
    return NULL;
}

/* Renders slowly (20 ms a block), so commands wait in the queue. */
static void slow_block(rill_audio_source *src, float *mix, size_t frames,
                       uint32_t channels, void *user) {
    (void)src;
    (void)mix;
    (void)frames;
    (void)channels;
    rill__sleep_ns(20000000u);
    atomic_fetch_add_explicit((atomic_long *)user, 1, memory_order_relaxed);
}

/* A source removed right after it was added, while the audio thread is in
 * the middle of a block: both commands wait in the queue, and remove must
 * not return (and the source must not be freed) before the audio thread
 * took them. (It used to return at once, because the pending ADD had not
 * set in_mixer yet: the audio thread then wrote to the freed source, which
 * AddressSanitizer reports here.) */
TEST(remove_right_after_add_waits_for_the_audio_thread) {
    rill_audio_config c = rill_audio_config_default();
    c.backend = "dummy";
    c.rate = 48000;
    c.buffer_frames = 64;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    static atomic_long blocks;
    atomic_store(&blocks, 0);
    rill_audio_source *slow;
    ASSERT_OK(rill_audio_callback_source_create(o, slow_block, &blocks, &slow));
    ASSERT_OK(rill_audio_output_add(o, slow));
    ASSERT_OK(rill_audio_source_play(slow));
    ASSERT_OK(rill_audio_output_start(o));
    while (atomic_load(&blocks) < 2)
        rill__sleep_ns(1000000u);
    int waited = 0;
    for (int i = 0; i < 10; i++) {
        rill_audio_source *s;
        ASSERT_OK(rill_audio_sine_create(o, 440, 0.1, &s));
        long before = atomic_load(&blocks);
        ASSERT_OK(rill_audio_output_add(o, s));
        ASSERT_OK(rill_audio_output_remove(o, s));
        /* The audio thread finished the block it was in (the count goes up
         * at its end) and took both commands at the next one. Posted just
         * between a block's end and the next, both are taken at once. */
        if (atomic_load(&blocks) > before)
            waited++;
        rill_audio_source_destroy(s);
    }
    ASSERT_TRUE(waited >= 8);
    ASSERT_OK(rill_audio_output_stop(o));
    rill_audio_source_destroy(slow);
    rill_audio_output_close(o);
}

/* A 441 Hz sine plays for 1.5 s on the real-time clock while another
 * thread adds and removes silent sources of every kind, ~100 at a time per
 * second. Silence adds exactly 0.0, so the file must hold the sine's
 * formula A sin(2 pi f n / R) in every frame on both channels: a block
 * lost, played twice or mixed with a stale source breaks it by up to 2 A. */
TEST(sources_added_and_removed_while_playing_never_glitch_the_mix) {
    const double R = 48000, A = 0.5, F = 441;
    const size_t L = 72000;
    char path[128];
    au_tmp_path(path, sizeof path, "churn.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_F32, (uint32_t)R, 2, L, true);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *sine;
    ASSERT_OK(rill_audio_sine_create(o, F, A, &sine));
    ASSERT_OK(rill_audio_output_add(o, sine));
    ASSERT_OK(rill_audio_source_play(sine));
    static churn ch;
    ch.o = o;
    atomic_store(&ch.stop, false);
    atomic_store(&ch.blocks, 0);
    ch.rounds = ch.sources = 0;
    pthread_t t;
    ASSERT_TRUE(pthread_create(&t, NULL, churn_main, &ch) == 0);
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 20000));
    atomic_store(&ch.stop, true);
    pthread_join(t, NULL);
    rill_audio_source_destroy(sine);
    rill_audio_output_close(o);

    size_t n;
    int chans;
    float *x = au_read_wav(path, &n, &chans, NULL);
    ASSERT_EQ_UINT(n, L);
    ASSERT_EQ_INT(chans, 2);
    double maxdev = 0;
    for (size_t i = 0; i < L; i++) {
        double want = A * sin(2 * M_PI * F * (double)i / R);
        for (int k = 0; k < 2; k++) {
            double dev = fabs(x[i * 2 + (size_t)k] - want);
            if (dev > 1e-6)
                FAIL("frame %zu channel %d: got %.9f, the sine is %.9f", i, k,
                     (double)x[i * 2 + (size_t)k], want);
            maxdev = fmax(maxdev, dev);
        }
    }
    long blocks = atomic_load(&ch.blocks);
    printf("  %ld rounds, %ld sources added and removed, in the mix for %ld "
           "of %zu blocks; largest deviation from the sine %.2e\n", ch.rounds,
           ch.sources, blocks, L / 64, maxdev);
    /* The churn really overlapped the sine: many rounds, and its sources
     * were mixed in a good share of the blocks. */
    ASSERT_TRUE(ch.rounds >= 10);
    ASSERT_TRUE(blocks >= 100);
    free(x);
    unlink(path);
}

TEST(sample_underrun_plays_exact_silence_and_is_counted) {
    enum { K = 1000, L = 3200 };
    char path[128];
    au_tmp_path(path, sizeof path, "underrun.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_S16, 48000, 1, L, false);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *s;
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    sc.ring_frames = 4096;
    ASSERT_OK(rill_audio_sample_create(o, &sc, &s));
    int16_t data[K];
    for (int i = 0; i < K; i++)
        data[i] = (int16_t)(1000 + i % 100);
    ASSERT_OK(rill_audio_sample_write(s, data, sizeof data, 0, NULL));
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    rill_audio_source_stats st;
    rill_audio_source_get_stats(s, &st);
    /* Blocks of 64: block 15 (frames 960..1023) is short, 16..49 empty. */
    ASSERT_EQ_UINT(st.frames, K);
    ASSERT_EQ_UINT(st.underruns, 35);
    ASSERT_EQ_UINT(st.silent_frames, L - K);
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
    size_t n;
    short *got = au_read_wav_s16(path, &n, NULL);
    ASSERT_EQ_UINT(n, L);
    for (size_t i = 0; i < L; i++)
        if (got[i] != (i < K ? data[i] : 0))
            FAIL("frame %zu: got %d, want %d", i, got[i], i < K ? data[i] : 0);
    free(got);
    unlink(path);
}

static rill_audio_output *dummy_out(uint32_t channels) {
    rill_audio_config c = rill_audio_config_default();
    c.backend = "dummy";
    c.channels = channels;
    c.rate = 48000;
    c.buffer_frames = 256;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    return o;
}

/* rill_audio_source_playing says what play and stop last did, on any
 * source, whether or not it is in a mixer; NULL is not playing. */
TEST(playing_follows_play_and_stop) {
    rill_audio_output *o = dummy_out(1);
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    rill_audio_source *s;
    ASSERT_OK(rill_audio_sample_create(o, &sc, &s));
    ASSERT_TRUE(!rill_audio_source_playing(s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_TRUE(rill_audio_source_playing(s)); /* not in a mixer yet */
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_TRUE(rill_audio_source_playing(s));
    ASSERT_OK(rill_audio_source_stop(s));
    ASSERT_TRUE(!rill_audio_source_playing(s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_TRUE(rill_audio_source_playing(s));
    ASSERT_OK(rill_audio_source_stop(s));
    ASSERT_OK(rill_audio_source_stop(s)); /* twice: still stopped */
    ASSERT_TRUE(!rill_audio_source_playing(s));
    ASSERT_TRUE(!rill_audio_source_playing(NULL));
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
}

/* A 4096-frame ring is full; writing 4800 more frames must wait for the
 * mixer to take them (48 kHz: ~100 ms minus the ring), and on return the
 * mixer must have consumed all but at most a ring's worth. */
TEST(sample_full_ring_blocks_write_until_room) {
    rill_audio_output *o = dummy_out(1);
    rill_audio_source *s;
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    sc.ring_frames = 4096;
    ASSERT_OK(rill_audio_sample_create(o, &sc, &s));
    static int16_t buf[4096 + 4800];
    for (size_t i = 0; i < RILL__ARRAY_LEN(buf); i++)
        buf[i] = (int16_t)i;
    ASSERT_OK(rill_audio_sample_write(s, buf, 4096 * 2, 0, NULL));
    ASSERT_EQ_UINT(rill_audio_sample_writable(s), 0);
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    uint64_t t0 = rill_clock_now_ns();
    size_t written = 0;
    ASSERT_OK(rill_audio_sample_write(s, buf + 4096, 4800 * 2, -1, &written));
    double ms = ms_since(t0);
    rill_audio_source_stats st;
    rill_audio_source_get_stats(s, &st);
    ASSERT_EQ_UINT(written, 4800 * 2);
    if (ms < 10.0)
        FAIL("write returned after %.1f ms without waiting", ms);
    /* All but what is still in the ring has been played. */
    ASSERT_TRUE(st.frames + 4096 >= 4096 + 4800);
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
}

TEST(sample_write_timeout_returns_etimeout_in_time) {
    rill_audio_output *o = dummy_out(1);
    rill_audio_source *s;
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    sc.ring_frames = 1024;
    ASSERT_OK(rill_audio_sample_create(o, &sc, &s));
    static int16_t buf[48000];
    /* Not playing: nothing drains the ring, so no waiting at all. */
    size_t written = 0;
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_audio_sample_write(s, buf, sizeof buf, 1000, &written),
               RILL_EFULL);
    ASSERT_TRUE(ms_since(t0) < 50);
    ASSERT_EQ_UINT(written, 1024 * 2);
    /* Playing: a second of audio cannot fit in 50 ms. */
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_audio_sample_write(s, buf, sizeof buf, 50, &written),
               RILL_ETIMEOUT);
    double ms = ms_since(t0);
    /* Never early; late only by how long a loaded machine takes to wake a
     * sleeping thread. */
    if (ms < 49 || ms > 500)
        FAIL("timed out after %.1f ms, expected 50", ms);
    ASSERT_TRUE(written < sizeof buf && written % 2 == 0);
    /* A partial frame is refused. */
    ASSERT_ERR(rill_audio_sample_write(s, buf, 3, 0, NULL), RILL_EINVAL);
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
}

static float *render_sine(double rate, double freq, size_t frames) {
    char path[128];
    au_tmp_path(path, sizeof path, "sine.wav");
    rill_audio_config c =
        file_out(path, RILL_AUDIO_F32, (uint32_t)rate, 1, frames, false);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *s;
    ASSERT_OK(rill_audio_sine_create(o, freq, 0.5, &s));
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
    size_t n;
    float *x = au_read_wav(path, &n, NULL, NULL);
    ASSERT_EQ_UINT(n, frames);
    unlink(path);
    return x;
}

static void check_sine_rate(double rate) {
    const double freqs[] = {440.0, 997.13, 20.5, 8000.25};
    for (size_t k = 0; k < RILL__ARRAY_LEN(freqs); k++) {
        size_t frames = (size_t)rate * 2;
        float *x = render_sine(rate, freqs[k], frames);
        double f = au_measure_freq(x, frames, 1, rate);
        printf("  sine %.2f Hz at %.0f Hz: measured %.6f Hz (error %.2e)\n",
               freqs[k], rate, f, f - freqs[k]);
        ASSERT_EQ_DOUBLE(f, freqs[k], 0.01);
        free(x);
    }
}

TEST(sine_frequency_within_0_01_hz_at_44100) { check_sine_rate(44100); }
TEST(sine_frequency_within_0_01_hz_at_48000) { check_sine_rate(48000); }

/* A sine at 440 Hz changed to 1000 Hz while it plays (real-time file
 * clock). Before the change every sample is A sin(2 pi 440 n / R); after
 * it, the wave must carry on from the phase reached: A sin(2 pi (440 m +
 * 1000 (n - m)) / R), where m is the frame the change took effect at. A
 * restart or any jump of phase breaks that equation by up to 2 A. */
TEST(sine_frequency_change_keeps_phase_continuous) {
    const double R = 44100, A = 0.5, f1 = 440, f2 = 1000;
    const size_t L = 44100; /* room for a stall before the change lands */
    char path[128];
    au_tmp_path(path, sizeof path, "sweep.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_F32, (uint32_t)R, 1, L, true);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *s;
    ASSERT_OK(rill_audio_sine_create(o, f1, A, &s));
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    wait_frames(o, 8820);
    ASSERT_OK(rill_audio_sine_set(s, f2, A));
    ASSERT_ERR(rill_audio_sine_set(s, R, A), RILL_EINVAL);
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
    size_t n;
    float *x = au_read_wav(path, &n, NULL, NULL);
    ASSERT_EQ_UINT(n, L);
    size_t m = 0;
    for (size_t i = 0; i < L && m == 0; i++)
        if (fabs(x[i] - A * sin(2 * M_PI * f1 * (double)i / R)) > 1e-5)
            m = i - 1; /* frame i-1 still had the old phase */
    if (m < 2000 || m > L - 2000)
        FAIL("the change took effect at frame %zu, not after 0.2 s", m);
    ASSERT_EQ_UINT(m % 64, 0); /* at a block boundary */
    double maxdev = 0;
    for (size_t i = m; i < L; i++) {
        double want = A * sin(2 * M_PI * (f1 * (double)m + f2 * (double)(i - m)) / R);
        maxdev = fmax(maxdev, fabs(x[i] - want));
    }
    printf("  change at frame %zu; largest deviation after it %.2e\n", m, maxdev);
    ASSERT_TRUE(maxdev < 1e-5);
    double fa = au_measure_freq(x + 100, m - 200, 1, R);
    double fb = au_measure_freq(x + m + 100, L - m - 200, 1, R);
    ASSERT_EQ_DOUBLE(fa, f1, 0.05);
    ASSERT_EQ_DOUBLE(fb, f2, 0.05);
    free(x);
    unlink(path);
}

/* An amplitude change ramps across one block: no step bigger than the
 * wave's own slope plus the ramp's. */
TEST(sine_amplitude_change_ramps_without_a_step) {
    const double R = 48000;
    const size_t L = 24000;
    char path[128];
    au_tmp_path(path, sizeof path, "amp.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_F32, (uint32_t)R, 1, L, true);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *s;
    ASSERT_OK(rill_audio_sine_create(o, 100, 0.1, &s));
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    wait_frames(o, 9600);
    ASSERT_OK(rill_audio_sine_set(s, 100, 0.9));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
    size_t n;
    float *x = au_read_wav(path, &n, NULL, NULL);
    ASSERT_EQ_UINT(n, L);
    double maxstep = 0, peak_end = 0;
    for (size_t i = 1; i < L; i++)
        maxstep = fmax(maxstep, fabs(x[i] - x[i - 1]));
    for (size_t i = L - 960; i < L; i++)
        peak_end = fmax(peak_end, fabs(x[i]));
    /* slope 2 pi 100 / 48000 * 0.9 = 0.0118; ramp 0.8 / 64 = 0.0125 */
    printf("  largest step %.4f\n", maxstep);
    ASSERT_TRUE(maxstep < 0.0118 + 0.0125 + 1e-4);
    ASSERT_EQ_DOUBLE(peak_end, 0.9, 0.001);
    free(x);
    unlink(path);
}

typedef struct counter_gen {
    int16_t next;
    long limit, made;
} counter_gen;

static long counter_fn(rill_audio_source *src, void *buf, size_t frames,
                       void *user) {
    (void)src;
    counter_gen *g = user;
    if (g->made >= g->limit)
        return -1;
    int16_t *b = buf;
    size_t n = RILL__MIN(frames, (size_t)(g->limit - g->made));
    for (size_t i = 0; i < n; i++)
        b[i] = g->next++;
    g->made += (long)n;
    return (long)n;
}

/* A worker produces a counting sequence; the file holds exactly that
 * sequence (after whatever silence came before the first chunk), with no
 * gap, then silence once the data ended; finished() says so. */
TEST(thread_source_plays_its_chunks_in_order) {
    const size_t L = 14400, LIMIT = 9000;
    char path[128];
    au_tmp_path(path, sizeof path, "thread.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_S16, 48000, 1, L, true);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    counter_gen g = {1, (long)LIMIT, 0};
    rill_audio_thread_config tc = rill_audio_thread_config_default();
    tc.fn = counter_fn;
    tc.user = &g;
    tc.chunk_frames = 100;
    tc.ring_frames = 9600; /* 200 ms: a loaded machine may stall the worker */
    rill_audio_source *s;
    ASSERT_OK(rill_audio_thread_source_create(o, &tc, &s));
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    ASSERT_TRUE(rill_audio_thread_source_finished(s));
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);
    size_t n;
    short *x = au_read_wav_s16(path, &n, NULL);
    ASSERT_EQ_UINT(n, L);
    size_t i = 0;
    while (i < L && x[i] == 0)
        i++;
    size_t lead = i;
    for (size_t k = 0; k < LIMIT; k++, i++)
        if (i >= L || x[i] != (short)(k + 1))
            FAIL("frame %zu (sequence %zu after %zu silent frames): got %d",
                 i, k, lead, i < L ? x[i] : -1);
    for (; i < L; i++)
        ASSERT_EQ_INT(x[i], 0);
    free(x);
    unlink(path);
}

static long endless_fn(rill_audio_source *src, void *buf, size_t frames,
                       void *user) {
    (void)src;
    (void)user;
    memset(buf, 0, frames * 2);
    return (long)frames;
}

/* A worker blocked on a full ring (the output is not even running) must
 * let stop and destroy return at once. */
TEST(thread_source_stop_never_deadlocks) {
    rill_audio_output *o = dummy_out(1);
    rill_audio_thread_config tc = rill_audio_thread_config_default();
    tc.fn = endless_fn;
    tc.format = RILL_AUDIO_S16;
    rill_audio_source *s;
    ASSERT_OK(rill_audio_thread_source_create(o, &tc, &s));
    ASSERT_OK(rill_audio_output_add(o, s));
    for (int round = 0; round < 3; round++) {
        ASSERT_OK(rill_audio_source_play(s));
        if (round < 2) {
            /* Nothing drains the ring: the worker fills it and blocks. */
            for (int i = 0; i < 1000 && rill_audio_sample_writable(s) != 0; i++)
                rill__sleep_ns(1000000u);
            ASSERT_EQ_UINT(rill_audio_sample_writable(s), 0);
        }
        rill__sleep_ns(20000000u);
        uint64_t t0 = rill_clock_now_ns();
        ASSERT_OK(rill_audio_source_stop(s));
        double ms = ms_since(t0);
        if (ms > 1000) /* a deadlock never returns; this allows for load */
            FAIL("stop took %.1f ms", ms);
        if (round == 1)
            ASSERT_OK(rill_audio_output_start(o));
    }
    ASSERT_OK(rill_audio_source_play(s));
    uint64_t t0 = rill_clock_now_ns();
    rill_audio_source_destroy(s);
    ASSERT_TRUE(ms_since(t0) < 1000);
    rill_audio_output_close(o);
}

typedef struct collect {
    int16_t *buf;
    size_t n, cap;
    uint64_t next_time;
    int gaps, calls;
} collect;

static void collect_fn(rill_audio_input *in, const void *data, size_t frames,
                       uint64_t first, void *user) {
    (void)in;
    collect *c = user;
    if (first != c->next_time)
        c->gaps++;
    c->next_time = first + frames;
    size_t k = RILL__MIN(frames, c->cap - c->n);
    memcpy(c->buf + c->n, data, k * 2);
    c->n += k;
    c->calls++;
}

/* What the file output wrote, the file input reads back exactly, in
 * contiguous blocks, delivered by poll() on this thread. */
TEST(file_input_delivers_the_file_exactly_through_poll) {
    enum { L = 5000 };
    char path[128];
    au_tmp_path(path, sizeof path, "in.wav");
    rill_audio_config c = file_out(path, RILL_AUDIO_S16, 22050, 1, L, false);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_source *s;
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    sc.ring_frames = L;
    ASSERT_OK(rill_audio_sample_create(o, &sc, &s));
    static int16_t data[L];
    for (int i = 0; i < L; i++)
        data[i] = (int16_t)(i * 13 - 30000);
    ASSERT_OK(rill_audio_sample_write(s, data, sizeof data, 0, NULL));
    ASSERT_OK(rill_audio_output_add(o, s));
    ASSERT_OK(rill_audio_source_play(s));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    rill_audio_source_destroy(s);
    rill_audio_output_close(o);

    static int16_t got[L + 100];
    collect col = {got, 0, L + 100, 0, 0, 0};
    rill_audio_config ic = rill_audio_config_default();
    ic.backend = "file";
    ic.device = path;
    ic.format = RILL_AUDIO_S16;
    ic.realtime = false;
    ic.buffer_frames = 300;
    ic.ring_blocks = 64; /* 64 * 300 > L: nothing dropped before polling */
    ic.delivery = RILL_AUDIO_DELIVER_POLL;
    rill_audio_input *in;
    ASSERT_OK(rill_audio_input_open(&ic, collect_fn, &col, &in));
    rill_audio_info info;
    rill_audio_input_get_info(in, &info);
    ASSERT_EQ_UINT(info.rate, 22050);
    ASSERT_EQ_UINT(info.channels, 1);
    ASSERT_EQ_STR(info.backend, "file");
    ASSERT_OK(rill_audio_input_start(in));
    ASSERT_OK(rill_audio_input_wait(in, 10000));
    ASSERT_EQ_INT(col.calls, 0); /* nothing until we poll */
    int blocks = rill_audio_input_poll(in, 0);
    ASSERT_EQ_INT(blocks, (L + 299) / 300);
    ASSERT_OK(rill_audio_input_stop(in));
    rill_audio_stats st;
    rill_audio_input_get_stats(in, &st);
    ASSERT_EQ_UINT(st.dropped, 0);
    ASSERT_TRUE(st.done);
    rill_audio_input_close(in);
    ASSERT_EQ_UINT(col.n, L);
    ASSERT_EQ_INT(col.gaps, 0);
    ASSERT_EQ_MEM(got, data, sizeof data);
    unlink(path);
}

typedef struct stopper {
    rill_audio_input *in;
    atomic_int calls; /* read by the test while an engine thread counts */
    atomic_int nested;
    _Atomic size_t frames;
    int polled;
    atomic_bool done;
} stopper;

/* The poll callback stops its own input at the second block, and tries a
 * poll of it from inside (refused). */
static void stop_fn(rill_audio_input *in, const void *data, size_t frames,
                    uint64_t first, void *user) {
    (void)data;
    (void)first;
    stopper *st = user;
    st->calls++;
    st->frames += frames;
    if (st->calls == 2) {
        st->nested = rill_audio_input_poll(in, 0);
        if (rill_audio_input_stop(in) != 0)
            abort();
    }
}

/* Frames in the file the stoppers read: 5 s at 22050 Hz. */
enum { STOPPER_FRAMES = 5 * 22050 };

/* Writes a 5 s silent WAV at `path` (from `tag`) and opens st->in on it
 * with stop_fn, clocked in real time (blocks of 441 frames, 20 ms apart),
 * its ring holding the whole file so that nothing is dropped if the
 * callbacks are late. */
static void open_stopper(stopper *st, char *path, size_t cap, const char *tag,
                         rill_audio_delivery delivery) {
    au_tmp_path(path, cap, tag);
    rill_audio_config c =
        file_out(path, RILL_AUDIO_S16, 22050, 1, STOPPER_FRAMES, false);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, 10000));
    rill_audio_output_close(o);

    memset(st, 0, sizeof *st);
    rill_audio_config ic = rill_audio_config_default();
    ic.backend = "file";
    ic.device = path;
    ic.format = RILL_AUDIO_S16;
    ic.realtime = true;
    ic.buffer_frames = 441;
    ic.ring_blocks = 300;
    ic.delivery = delivery;
    ASSERT_OK(rill_audio_input_open(&ic, stop_fn, st, &st->in));
}

static void *poll_main(void *arg) {
    stopper *st = arg;
    int total = 0;
    for (int i = 0; i < 5000 && st->calls < 2; i++) {
        int n = rill_audio_input_poll(st->in, 0);
        if (n < 0)
            abort();
        total += n;
        rill__sleep_ns(1000000u);
    }
    st->polled = total;
    atomic_store(&st->done, true);
    return NULL;
}

/* A poll callback may stop its input: poll runs it under the input's
 * lock, and stop from it must neither deadlock nor fail. The poll runs on
 * a helper thread so a deadlock fails the test instead of hanging it. */
TEST(poll_callback_may_stop_its_input) {
    char path[128];
    static stopper st;
    open_stopper(&st, path, sizeof path, "pollstop.wav", RILL_AUDIO_DELIVER_POLL);
    ASSERT_OK(rill_audio_input_start(st.in));
    pthread_t t;
    ASSERT_TRUE(pthread_create(&t, NULL, poll_main, &st) == 0);
    for (int i = 0; i < 1000 && !atomic_load(&st.done); i++)
        rill__sleep_ns(10000000u);
    if (!atomic_load(&st.done))
        FAIL("poll did not return within 10 s: stop from its callback "
             "deadlocked (%d calls)", atomic_load(&st.calls));
    pthread_join(t, NULL);
    ASSERT_TRUE(st.calls >= 2);
    ASSERT_ERR(atomic_load(&st.nested), RILL_EBUSY);
    /* Stopped: what was queued was delivered by that same poll, and
     * nothing comes after, long before the file's end. */
    rill__sleep_ns(100000000u);
    ASSERT_EQ_INT(rill_audio_input_poll(st.in, 0), 0);
    rill_audio_stats stats;
    rill_audio_input_get_stats(st.in, &stats);
    printf("  stopped from the callback after %d blocks; %llu frames "
           "captured, %zu delivered\n", atomic_load(&st.calls),
           (unsigned long long)stats.frames, atomic_load(&st.frames));
    ASSERT_EQ_UINT(stats.dropped, 0);
    ASSERT_EQ_UINT(stats.frames, st.frames);
    ASSERT_TRUE(st.frames < STOPPER_FRAMES);
    ASSERT_EQ_INT(st.polled, st.calls);
    /* Stop and start again from outside still work. */
    ASSERT_OK(rill_audio_input_stop(st.in));
    ASSERT_OK(rill_audio_input_start(st.in));
    ASSERT_OK(rill_audio_input_stop(st.in));
    rill_audio_input_close(st.in);
    unlink(path);
}

/* A callback on the engine's delivery thread may stop its input too: the
 * thread ends when the callback returns (it cannot join itself), and a
 * later start or close from another thread joins it. */
TEST(thread_callback_may_stop_its_input) {
    char path[128];
    static stopper st;
    open_stopper(&st, path, sizeof path, "threadstop.wav", RILL_AUDIO_DELIVER_THREAD);
    ASSERT_OK(rill_audio_input_start(st.in));
    for (int i = 0; i < 1000 && atomic_load(&st.nested) == 0; i++)
        rill__sleep_ns(10000000u);
    ASSERT_TRUE(st.calls >= 2);
    ASSERT_ERR(atomic_load(&st.nested), RILL_ESTATE); /* poll is for POLL delivery */
    /* Stopped: a few blocks left in the ring at most, then nothing. */
    rill__sleep_ns(200000000u);
    int after = st.calls;
    rill__sleep_ns(200000000u);
    ASSERT_EQ_INT(st.calls, after);
    ASSERT_TRUE(st.frames < STOPPER_FRAMES);
    /* Start again from here: the ended thread is joined, a new one runs. */
    ASSERT_OK(rill_audio_input_start(st.in));
    for (int i = 0; i < 1000 && st.calls == after; i++)
        rill__sleep_ns(10000000u);
    ASSERT_TRUE(st.calls > after);
    ASSERT_OK(rill_audio_input_stop(st.in));
    rill_audio_input_close(st.in);
    unlink(path);
}

/* The dummy input delivers silence on its own thread, on the clock. */
TEST(dummy_input_delivers_blocks_on_its_thread) {
    static int16_t got[48000];
    collect col = {got, 0, 48000, 0, 0, 0};
    rill_audio_config ic = rill_audio_config_default();
    ic.backend = "dummy";
    ic.channels = 1;
    ic.buffer_frames = 480;
    rill_audio_input *in;
    ASSERT_OK(rill_audio_input_open(&ic, collect_fn, &col, &in));
    ASSERT_ERR(rill_audio_input_poll(in, 0), RILL_ESTATE);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_input_start(in));
    /* At least 200 ms and 10 blocks (a loaded machine may start late). */
    rill__sleep_ns(200000000u);
    for (int i = 0; i < 500; i++) {
        rill_audio_stats now;
        rill_audio_input_get_stats(in, &now);
        if (now.blocks >= 10)
            break;
        rill__sleep_ns(10000000u);
    }
    ASSERT_OK(rill_audio_input_stop(in));
    double secs = (double)(rill_clock_now_ns() - t0) / 1e9;
    rill_audio_stats st;
    rill_audio_input_get_stats(in, &st);
    rill_audio_input_close(in);
    /* On the clock: 48 kHz in blocks of 480, one per 10 ms, never more
     * than the time until stop returned allows; every captured block
     * delivered, on the delivery thread, without a gap. */
    printf("  %.3f s: %d blocks\n", secs, col.calls);
    ASSERT_TRUE(col.calls >= 10 && col.calls <= (int)(secs * 100) + 2);
    ASSERT_EQ_UINT(st.frames, col.n);
    ASSERT_EQ_INT(col.gaps, 0);
    for (size_t i = 0; i < col.n; i++)
        ASSERT_EQ_INT(got[i], 0);
}

static char logged[1024];
static void log_fn(rill_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    snprintf(logged, sizeof logged, "%s", msg);
}

/* A clock-paced stream at a low rate (a block lasts seconds) stops at once,
 * without sitting out the block it is waiting for. */
TEST(slow_clock_paced_streams_stop_without_waiting_out_their_block) {
    char path[128];
    au_tmp_path(path, sizeof path, "slow.wav");
    rill_audio_config fc = file_out(path, RILL_AUDIO_S16, 100, 1, 0, true);
    fc.buffer_frames = 1024; /* 10.24 s a block */
    rill_audio_config dc = rill_audio_config_default();
    dc.backend = "dummy";
    dc.rate = 100;
    dc.channels = 1;
    dc.buffer_frames = 1024;
    const rill_audio_config *cfgs[] = {&fc, &dc};
    for (int i = 0; i < 2; i++) {
        rill_audio_output *o;
        ASSERT_OK(rill_audio_output_open(cfgs[i], &o));
        ASSERT_OK(rill_audio_output_start(o));
        wait_frames(o, 1024);
        uint64_t t0 = rill_clock_now_ns();
        ASSERT_OK(rill_audio_output_stop(o));
        uint64_t took = rill_clock_now_ns() - t0;
        rill_audio_output_close(o);
        printf("  %s: stopped in %.3f s\n", cfgs[i]->backend, (double)took / 1e9);
        ASSERT_TRUE(took < 500000000u);
    }
    rill_audio_config ic = rill_audio_config_default();
    ic.backend = "file";
    ic.device = path;
    ic.buffer_frames = 1024;
    rill_audio_input *in;
    static int16_t got[4096];
    collect col = {got, 0, 4096, 0, 0, 0};
    ASSERT_OK(rill_audio_input_open(&ic, collect_fn, &col, &in));
    ASSERT_OK(rill_audio_input_start(in));
    rill__sleep_ns(50000000u);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_input_stop(in));
    uint64_t took = rill_clock_now_ns() - t0;
    rill_audio_input_close(in);
    ASSERT_TRUE(took < 500000000u);
}

/* A wait without a timeout for an end that cannot come is refused with a
 * message instead of blocking for ever; with a timeout it times out. */
TEST(wait_for_an_end_that_cannot_come_is_refused) {
    rill_set_log_callback(log_fn, RILL_LOG_ERROR, NULL);
    rill_audio_config c = rill_audio_config_default();
    c.backend = "dummy";
    c.channels = 1;
    c.buffer_frames = 64;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    ASSERT_ERR(rill_audio_output_wait(o, -1), RILL_ESTATE);
    ASSERT_TRUE(strstr(logged, "audio: dummy: output 'default': not running") != NULL);
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_ERR(rill_audio_output_wait(o, -1), RILL_EINVAL);
    ASSERT_TRUE(strstr(logged, "never ends by itself") != NULL);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_audio_output_wait(o, 50), RILL_ETIMEOUT);
    ASSERT_TRUE(rill_clock_now_ns() - t0 >= 50000000u);
    rill_audio_output_close(o);

    /* A looping file input never ends; the same file read once does. */
    char path[128];
    au_tmp_path(path, sizeof path, "wait.wav");
    rill_audio_config fc = file_out(path, RILL_AUDIO_S16, 8000, 1, 800, false);
    ASSERT_OK(rill_audio_output_open(&fc, &o));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_output_wait(o, -1));
    rill_audio_output_close(o);
    static int16_t got[8000];
    for (int loop = 1; loop >= 0; loop--) {
        collect col = {got, 0, 8000, 0, 0, 0};
        rill_audio_config ic = rill_audio_config_default();
        ic.backend = "file";
        ic.device = path;
        ic.realtime = false;
        ic.loop = loop;
        ic.delivery = RILL_AUDIO_DELIVER_POLL;
        rill_audio_input *in;
        ASSERT_OK(rill_audio_input_open(&ic, collect_fn, &col, &in));
        ASSERT_OK(rill_audio_input_start(in));
        if (loop) {
            ASSERT_ERR(rill_audio_input_wait(in, -1), RILL_EINVAL);
            ASSERT_TRUE(strstr(logged, "audio: file: input '") != NULL &&
                        strstr(logged, "never ends by itself") != NULL);
        } else {
            ASSERT_OK(rill_audio_input_wait(in, -1));
        }
        rill_audio_input_close(in);
    }
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
}

/* Failures name the backend, the device and the reason, in the error
 * buffer and in the log. */
TEST(open_errors_name_backend_device_and_reason) {
    char err[256];
    rill_set_log_callback(log_fn, RILL_LOG_ERROR, NULL);
    rill_audio_config c = rill_audio_config_default();
    c.err = err;
    c.err_size = sizeof err;
    rill_audio_output *o = NULL;

    c.backend = "nope";
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_ENOTFOUND);
    ASSERT_NULL(o);
    ASSERT_TRUE(strstr(err, "nope") && strstr(err, "no such backend"));

    c.backend = "file";
    c.device = "/tmp/rill-audio-test.mp3";
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_ENOTSUP);
    ASSERT_TRUE(strstr(err, "file") && strstr(err, "rill-audio-test.mp3") &&
                strstr(err, ".wav or .flac"));

    c.device = "/nonexistent-dir/x.wav";
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_EIO);
    ASSERT_TRUE(strstr(err, "file: output '/nonexistent-dir/x.wav'"));

    rill_audio_input *in = NULL;
    c.device = "/nonexistent.wav";
    ASSERT_ERR(rill_audio_input_open(&c, collect_fn, NULL, &in), RILL_ENOTFOUND);
    ASSERT_TRUE(strstr(err, "file: input '/nonexistent.wav': No such file or directory"));
    ASSERT_NULL(strstr(err, "System error"));
    /* A file that is no sound, and a directory: each its own reason. */
    const char *text = "/tmp/rill-audio-test-not-sound.wav";
    FILE *f = fopen(text, "w");
    ASSERT_NOT_NULL(f);
    fputs("this is not audio\n", f);
    fclose(f);
    c.device = text;
    ASSERT_ERR(rill_audio_input_open(&c, collect_fn, NULL, &in), RILL_ENOTSUP);
    ASSERT_TRUE(strstr(err, "not a sound file libsndfile reads"));
    remove(text);
    c.device = "/tmp";
    ASSERT_ERR(rill_audio_input_open(&c, collect_fn, NULL, &in), RILL_EIO);
    ASSERT_TRUE(strstr(err, "file: input '/tmp': Is a directory"));

    c.backend = "alsa";
    c.device = "no_such_pcm";
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_ENOTFOUND);
    ASSERT_TRUE(strstr(err, "alsa: output 'no_such_pcm': cannot open"));

    c.backend = "jack";
    c.device = "rill-no-such-server";
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_EREFUSED);
    ASSERT_TRUE(strstr(err, "jack: output 'rill-no-such-server': no JACK server"));
    ASSERT_TRUE(strstr(logged, "no JACK server") != NULL);

    c.backend = "dummy";
    c.rate = 0;
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_EINVAL);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
    printf("  last message: %s\n", logged);
}

TEST(backends_are_listed_with_dummy_last) {
    const char *want[] = {"jack", "alsa", "file", "dummy"};
    size_t i = 0;
    for (; rill_audio_backend_name(i) != NULL; i++)
        ASSERT_EQ_STR(rill_audio_backend_name(i), want[i]);
    ASSERT_EQ_UINT(i, 4);
}

static int fallback_errors, fallback_debug;
static char fallback_first[512];
static void fallback_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN)
        fallback_errors++;
    if (level == RILL_LOG_DEBUG && strstr(msg, "trying the next backend")) {
        if (fallback_debug++ == 0)
            snprintf(fallback_first, sizeof fallback_first, "%s", msg);
    }
}

/* With no backend named, the first that opens is used: without a JACK
 * server and with ALSA's default unusable here, that can be alsa or
 * dummy, never a failure. The backends that failed before it are not
 * errors: they are logged at debug level, and the error buffer is left
 * empty. */
TEST(any_backend_falls_back_and_always_opens) {
    rill_audio_config c = rill_audio_config_default();
    char err[256] = "stale text from an earlier call";
    c.err = err;
    c.err_size = sizeof err;
    setenv("JACK_DEFAULT_SERVER", "rill-no-such-server", 1);
    fallback_errors = fallback_debug = 0;
    rill_set_log_callback(fallback_log, RILL_LOG_DEBUG, NULL);
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
    rill_audio_info info;
    rill_audio_output_get_info(o, &info);
    printf("  opened %s; %d backends failed before it, first: %s\n",
           info.backend, fallback_debug, fallback_first);
    ASSERT_TRUE(strcmp(info.backend, "jack") != 0);
    ASSERT_EQ_STR(err, "");
    ASSERT_EQ_INT(fallback_errors, 0);
    ASSERT_TRUE(fallback_debug >= 1);
    ASSERT_TRUE(strstr(fallback_first, "audio: jack: output 'default': no JACK "
                                       "server running") != NULL);
    rill_audio_output_close(o);
    unsetenv("JACK_DEFAULT_SERVER");
}

/* A device named without a backend is one the program wants: when no
 * backend has it, opening fails with every backend's reason, instead of
 * the dummy backend opening silence in its place. */
TEST(a_named_device_no_backend_has_is_not_replaced_by_silence) {
    rill_audio_config c = rill_audio_config_default();
    char err[512];
    c.err = err;
    c.err_size = sizeof err;
    c.device = "rill-no-such-device";
    setenv("JACK_DEFAULT_SERVER", "rill-no-such-server", 1);
    rill_audio_input *in = NULL;
    ASSERT_ERR(rill_audio_input_open(&c, collect_fn, NULL, &in), RILL_ENOTFOUND);
    ASSERT_NULL(in);
    ASSERT_TRUE(strstr(err, "audio: no backend has an input 'rill-no-such-device' (jack: ") != NULL);
    ASSERT_TRUE(strstr(err, "; alsa: ") != NULL && strstr(err, "; file: ") != NULL);
    ASSERT_NULL(strstr(err, "dummy"));
    rill_audio_output *o = NULL;
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_ENOTFOUND);
    ASSERT_TRUE(strstr(err, "audio: no backend has an output 'rill-no-such-device'") != NULL);
    /* "default", or no device: any backend that opens, dummy last. */
    c.device = "default";
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_output_close(o);
    unsetenv("JACK_DEFAULT_SERVER");
}

typedef struct oom_ctx {
    rill_audio_output *o;
    rill_audio_source *s;
    rill_audio_input *in;
} oom_ctx;

static int open_output(void *arg) {
    oom_ctx *c = arg;
    rill_audio_config cfg = rill_audio_config_default();
    cfg.backend = "dummy";
    return rill_audio_output_open(&cfg, &c->o);
}
static void close_output(void *arg) { rill_audio_output_close(((oom_ctx *)arg)->o); }

static int make_sample(void *arg) {
    oom_ctx *c = arg;
    return rill_audio_sample_create(c->o, NULL, &c->s);
}
static int make_thread(void *arg) {
    oom_ctx *c = arg;
    rill_audio_thread_config tc = rill_audio_thread_config_default();
    tc.fn = endless_fn;
    return rill_audio_thread_source_create(c->o, &tc, &c->s);
}
static void destroy_source(void *arg) { rill_audio_source_destroy(((oom_ctx *)arg)->s); }

static int open_input(void *arg) {
    oom_ctx *c = arg;
    rill_audio_config cfg = rill_audio_config_default();
    cfg.backend = "dummy";
    return rill_audio_input_open(&cfg, collect_fn, NULL, &c->in);
}
static void close_input(void *arg) { rill_audio_input_close(((oom_ctx *)arg)->in); }

/* Every allocation of open/create failing in turn gives RILL_ENOMEM and
 * leaks nothing. */
TEST(open_and_create_fail_cleanly_without_memory) {
    oom_ctx c = {0};
    test_check_oom("rill_audio_output_open", open_output, close_output, &c);
    test_check_oom("rill_audio_input_open", open_input, close_input, &c);
    ASSERT_OK(open_output(&c));
    test_check_oom("rill_audio_sample_create", make_sample, destroy_source, &c);
    test_check_oom("rill_audio_thread_source_create", make_thread,
                   destroy_source, &c);
    rill_audio_output_close(c.o);
}

TEST(default_format_in_a_config_means_s16) {
    rill_audio_config c = rill_audio_config_default();
    c.backend = "dummy";
    c.format = RILL_AUDIO_FORMAT_DEFAULT;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_info info;
    rill_audio_output_get_info(o, &info);
    ASSERT_EQ_INT(info.format, RILL_AUDIO_S16);
    rill_audio_output_close(o);
    c.format = (rill_audio_format)99;
    ASSERT_ERR(rill_audio_output_open(&c, &o), RILL_EINVAL);
}
