/* Play a sine and sweep it (audiostream's simple_sinsource.py): 220 Hz,
 * up 20 Hz every 0.1 s, twenty times. The sine is computed on the audio
 * thread from a double-precision phase, so each step is exact and
 * phase-continuous.
 *
 *   build/examples/audio_sine                  # dummy backend (no sound)
 *   build/examples/audio_sine file /tmp/sweep.wav
 *   build/examples/audio_sine alsa default     # or jack, on a real machine
 */
#include <stdio.h>
#include <time.h>

#include "rill/rill.h"

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    rill_audio_config cfg = rill_audio_config_default();
    char err[256] = "";
    cfg.backend = argc > 1 ? argv[1] : "dummy";
    cfg.device = argc > 2 ? argv[2] : NULL;
    cfg.rate = 22050;
    cfg.channels = 2;
    cfg.buffer_frames = 128;
    cfg.err = err;
    cfg.err_size = sizeof err;
    rill_audio_output *out;
    int rc = rill_audio_output_open(&cfg, &out);
    if (rc != 0) {
        fprintf(stderr, "audio_sine: %s\n", err[0] ? err : rill_strerror(rc));
        return 1;
    }
    rill_audio_info info;
    rill_audio_output_get_info(out, &info);
    printf("%s '%s': %u Hz, %u channels, %s, %u frames per block\n",
           info.backend, info.device, info.rate, info.channels,
           rill_audio_format_name(info.format), info.buffer_frames);

    rill_audio_source *sine = NULL;
    double freq = 220;
    if ((rc = rill_audio_sine_create(out, freq, 0.5, &sine)) != 0 ||
        (rc = rill_audio_output_add(out, sine)) != 0 ||
        (rc = rill_audio_source_play(sine)) != 0 ||
        (rc = rill_audio_output_start(out)) != 0) {
        fprintf(stderr, "audio_sine: %s\n", rill_strerror(rc));
        rill_audio_source_destroy(sine);
        rill_audio_output_close(out);
        return 1;
    }
    for (int step = 0; step < 20; step++) {
        sleep_ms(100);
        freq += 20;
        if ((rc = rill_audio_sine_set(sine, freq, 0.5)) != 0) {
            fprintf(stderr, "audio_sine: %.0f Hz: %s\n", freq, rill_strerror(rc));
            rill_audio_source_destroy(sine);
            rill_audio_output_close(out);
            return 1;
        }
    }
    sleep_ms(100);
    rill_audio_stats st;
    rill_audio_output_get_stats(out, &st);
    printf("played %llu frames, ending at %.0f Hz\n",
           (unsigned long long)st.frames, freq);
    rill_audio_source_destroy(sine);
    rill_audio_output_close(out);
    return 0;
}
