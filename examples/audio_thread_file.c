/* A thread source that plays a sound file (audiostream's
 * audiofile_source.py): a worker thread reads the next chunk with
 * libsndfile and the mixer plays it; at the end of the file the function
 * says so and the source finishes once its ring has played out, instead
 * of spinning.
 *
 *   build/examples/audio_thread_file IN.wav            # dummy
 *   build/examples/audio_thread_file IN.wav file /tmp/copy.wav
 *
 * Without IN.wav it first writes a 1 s test tone with the file backend.
 */
#include <sndfile.h>
#include <stdio.h>

#include "rill/rill.h"

/* Runs on the worker thread: may block, may do I/O. */
static long read_chunk(rill_audio_source *src, void *buf, size_t frames,
                       void *user) {
    (void)src;
    sf_count_t got = sf_readf_float(user, buf, (sf_count_t)frames);
    return got > 0 ? (long)got : -1; /* -1: end of the data */
}

static int make_tone(const char *path) {
    rill_audio_config cfg = rill_audio_config_default();
    cfg.backend = "file";
    cfg.device = path;
    cfg.rate = 44100;
    cfg.channels = 1;
    cfg.realtime = false;
    cfg.max_frames = 44100;
    rill_audio_output *out;
    rill_audio_source *sine = NULL;
    int rc = rill_audio_output_open(&cfg, &out);
    if (rc != 0)
        return rc;
    if ((rc = rill_audio_sine_create(out, 330, 0.4, &sine)) == 0 &&
        (rc = rill_audio_output_add(out, sine)) == 0 &&
        (rc = rill_audio_source_play(sine)) == 0 &&
        (rc = rill_audio_output_start(out)) == 0)
        rc = rill_audio_output_wait(out, -1);
    rill_audio_source_destroy(sine);
    rill_audio_output_close(out);
    return rc;
}

int main(int argc, char **argv) {
    const char *in = argc > 1 ? argv[1] : "/tmp/rill-example-tone.wav";
    int rc;
    if (argc < 2 && (rc = make_tone(in)) != 0) {
        fprintf(stderr, "audio_thread_file: cannot write %s: %s\n", in,
                rill_strerror(rc));
        return 1;
    }
    SF_INFO si = {0};
    SNDFILE *sf = sf_open(in, SFM_READ, &si);
    if (sf == NULL) {
        fprintf(stderr, "audio_thread_file: %s: %s\n", in, sf_strerror(NULL));
        return 1;
    }
    rill_audio_config cfg = rill_audio_config_default();
    char err[256] = "";
    cfg.backend = argc > 2 ? argv[2] : "dummy";
    cfg.device = argc > 3 ? argv[3] : NULL;
    cfg.rate = (uint32_t)si.samplerate;
    cfg.channels = (uint32_t)si.channels;
    cfg.err = err;
    cfg.err_size = sizeof err;
    rill_audio_output *out;
    rc = rill_audio_output_open(&cfg, &out);
    if (rc != 0) {
        fprintf(stderr, "audio_thread_file: %s\n", err[0] ? err : rill_strerror(rc));
        sf_close(sf);
        return 1;
    }
    rill_audio_thread_config tc = rill_audio_thread_config_default();
    tc.fn = read_chunk;
    tc.user = sf;
    tc.format = RILL_AUDIO_F32; /* what read_chunk produces */
    tc.chunk_frames = 1024;
    tc.ring_frames = cfg.rate / 4; /* the worker may run 0.25 s ahead */
    rill_audio_source *src = NULL;
    if ((rc = rill_audio_thread_source_create(out, &tc, &src)) != 0 ||
        (rc = rill_audio_output_add(out, src)) != 0 ||
        (rc = rill_audio_source_play(src)) != 0 || /* starts the worker */
        (rc = rill_audio_output_start(out)) != 0) {
        fprintf(stderr, "audio_thread_file: %s\n", rill_strerror(rc));
        rill_audio_source_destroy(src);
        rill_audio_output_close(out);
        sf_close(sf);
        return 1;
    }
    while (!rill_audio_thread_source_finished(src))
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 20000000u);
    rill_audio_source_stats st;
    rill_audio_source_get_stats(src, &st);
    printf("played %s: %llu frames at %d Hz\n", in, (unsigned long long)st.frames,
           si.samplerate);
    rill_audio_source_destroy(src); /* stops and joins the worker */
    rill_audio_output_close(out);
    sf_close(sf);
    return 0;
}
