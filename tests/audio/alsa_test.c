/* The alsa backend on ALSA's "null" PCM (part of alsa-lib's standard
 * configuration, no sound card needed): it opens, plays and captures
 * without error, on the clock. */
#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

typedef struct got {
    size_t frames;
    int calls, gaps;
    uint64_t next;
    bool all_zero;
} got;

static void on_block(rill_audio_input *in, const void *data, size_t frames,
                     uint64_t first, void *user) {
    (void)in;
    got *g = user;
    if (g->calls > 0 && first != g->next)
        g->gaps++;
    g->next = first + frames;
    const int16_t *s = data;
    for (size_t i = 0; i < frames * 2; i++)
        if (s[i] != 0)
            g->all_zero = false;
    g->frames += frames;
    g->calls++;
}

static char logged[512];
static void log_fn(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN)
        snprintf(logged, sizeof logged, "%s", msg);
}

TEST(null_device_opens_plays_and_captures_without_error) {
    rill_set_log_callback(log_fn, RILL_LOG_WARN, NULL);
    rill_audio_config c = rill_audio_config_default();
    c.backend = "alsa";
    c.device = "null";
    c.rate = 48000;
    c.channels = 2;
    c.buffer_frames = 480;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_info info;
    rill_audio_output_info(o, &info);
    ASSERT_EQ_STR(info.backend, "alsa");
    ASSERT_EQ_STR(info.device, "null");
    ASSERT_EQ_UINT(info.rate, 48000);
    ASSERT_EQ_UINT(info.channels, 2);
    printf("  null output: period %u frames, buffer %u frames\n",
           info.buffer_frames, info.latency_frames);
    rill_audio_source *sine;
    ASSERT_OK(rill_audio_sine_create(o, 440, 0.5, &sine));
    ASSERT_OK(rill_audio_output_add(o, sine));
    ASSERT_OK(rill_audio_source_play(sine));

    got g = {0, 0, 0, 0, true};
    rill_audio_input *in;
    ASSERT_OK(rill_audio_input_open(&c, on_block, &g, &in));
    rill_audio_input_info(in, &info);
    ASSERT_EQ_STR(info.backend, "alsa");

    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_input_start(in));
    rill__audio_sleep_ns(300000000u);
    ASSERT_OK(rill_audio_input_stop(in));
    ASSERT_OK(rill_audio_output_stop(o));
    double secs = (double)(rill_clock_now_ns() - t0) / 1e9;

    rill_audio_stats ost, ist;
    rill_audio_output_stats(o, &ost);
    rill_audio_input_stats(in, &ist);
    printf("  %.3f s: played %llu frames, captured %llu frames in %d blocks; "
           "xruns %llu/%llu\n", secs, (unsigned long long)ost.frames,
           (unsigned long long)g.frames, g.calls, (unsigned long long)ost.xruns,
           (unsigned long long)ist.xruns);
    ASSERT_TRUE(!ost.failed && !ist.failed);
    /* Paced by the clock (null itself does not block): each stream ran
     * for at least the 0.3 s slept and at most `secs`, and may be one
     * device buffer ahead. */
    double lo = 0.3 * 48000 * 0.7, hi = secs * 48000 + 2 * 960 + 4800;
    ASSERT_TRUE((double)ost.frames > lo && (double)ost.frames < hi);
    ASSERT_TRUE((double)g.frames > lo && (double)g.frames < hi);
    ASSERT_EQ_UINT(g.frames, ist.frames);
    ASSERT_EQ_INT(g.gaps, 0);
    ASSERT_TRUE(g.all_zero); /* null captures silence */
    ASSERT_EQ_STR(logged, "");
    rill_audio_input_close(in);
    rill_audio_source_destroy(sine);
    rill_audio_output_close(o);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
}

static void add_name(const char *name, void *user) {
    if (strcmp(name, "null") == 0)
        *(bool *)user = true;
}

TEST(input_sources_include_the_null_pcm) {
    bool found = false;
    ASSERT_OK(rill_audio_list_inputs("alsa", NULL, add_name, &found));
    ASSERT_TRUE(found);
    ASSERT_ERR(rill_audio_list_inputs("nope", NULL, add_name, &found),
               RILL_ENOTFOUND);
}
