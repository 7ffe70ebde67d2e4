/* Record the input to a WAV file (audiostream's record_mac.py, on Linux):
 * the audio thread hands blocks over a ring and the callback runs in
 * rill_audio_input_poll() on this thread, as audiostream's poll() does;
 * it writes them with libsndfile.
 *
 *   build/examples/audio_record /tmp/rec.wav                 # dummy: silence
 *   build/examples/audio_record /tmp/rec.wav file IN.wav     # "record" a file
 *   build/examples/audio_record /tmp/rec.wav alsa default 5  # a microphone
 */
#include <stdio.h>
#include <stdlib.h>

#include <sndfile.h>

#include "rill/rill.h"

typedef struct rec {
    SNDFILE *sf;
    uint64_t frames;
    bool failed; /* a write failed: stop recording */
} rec;

/* Runs in poll(), on the main thread. */
static void on_block(rill_audio_input *in, const void *data, size_t frames,
                     uint64_t first_frame, void *user) {
    (void)in;
    (void)first_frame;
    rec *r = user;
    if (r->failed)
        return;
    if (sf_writef_short(r->sf, data, (sf_count_t)frames) != (sf_count_t)frames) {
        fprintf(stderr, "audio_record: write failed: %s\n", sf_strerror(r->sf));
        r->failed = true;
        return;
    }
    r->frames += frames;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: audio_record OUT.wav [backend [device [seconds]]]\n");
        return 2;
    }
    rill_audio_config cfg = rill_audio_config_default();
    char err[256] = "";
    cfg.backend = argc > 2 ? argv[2] : "dummy";
    cfg.device = argc > 3 ? argv[3] : NULL;
    double seconds = argc > 4 ? atof(argv[4]) : 2.0;
    cfg.rate = 44100;
    cfg.channels = 1;
    cfg.format = RILL_AUDIO_S16;
    cfg.delivery = RILL_AUDIO_DELIVER_POLL;
    cfg.err = err;
    cfg.err_size = sizeof err;
    rec r = {NULL, 0, false};
    rill_audio_input *in;
    int rc = rill_audio_input_open(&cfg, on_block, &r, &in);
    if (rc != 0) {
        fprintf(stderr, "audio_record: %s\n", err[0] ? err : rill_strerror(rc));
        return 1;
    }
    rill_audio_info info;
    rill_audio_input_get_info(in, &info); /* a file input brings its own rate */
    SF_INFO si = {0};
    si.samplerate = (int)info.rate;
    si.channels = (int)info.channels;
    si.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    r.sf = sf_open(argv[1], SFM_WRITE, &si);
    if (r.sf == NULL) {
        fprintf(stderr, "audio_record: %s: %s\n", argv[1], sf_strerror(NULL));
        rill_audio_input_close(in);
        return 1;
    }
    if ((rc = rill_audio_input_start(in)) != 0) {
        fprintf(stderr, "audio_record: cannot start: %s\n", rill_strerror(rc));
        sf_close(r.sf);
        rill_audio_input_close(in);
        return 1;
    }
    uint64_t end = rill_clock_now_ns() + (uint64_t)(seconds * 1e9);
    while (rill_clock_now_ns() < end && !r.failed) {
        rill_audio_input_poll(in, 0);
        rill_audio_stats st;
        rill_audio_input_get_stats(in, &st);
        if (st.done) /* a file input ended */
            break;
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 20000000u);
    }
    rill_audio_input_stop(in);
    rill_audio_input_poll(in, 0); /* what was still queued */
    rill_audio_stats st;
    rill_audio_input_get_stats(in, &st);
    printf("recorded %llu frames at %u Hz from %s '%s' to %s (%llu blocks "
           "dropped)\n", (unsigned long long)r.frames, info.rate, info.backend,
           info.device, argv[1], (unsigned long long)st.dropped);
    int closed = sf_close(r.sf);
    rill_audio_input_close(in);
    if (closed != 0) {
        fprintf(stderr, "audio_record: %s: %s\n", argv[1], sf_error_number(closed));
        return 1;
    }
    if (st.dropped > 0)
        fprintf(stderr, "audio_record: %llu blocks lost: the poll loop fell "
                        "behind\n", (unsigned long long)st.dropped);
    return r.failed || st.dropped > 0 ? 1 : 0;
}
