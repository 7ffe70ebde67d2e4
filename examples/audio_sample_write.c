/* Write raw chunks to a sample (audiostream's AudioSample example): the
 * main thread writes 16-bit frames; write blocks while the sample's ring
 * is full, so the writer runs at the output's pace. The first chunks are
 * queued before the sample plays, so the mixer never starts on an empty
 * ring; underruns (the writer too slow) are played as silence and counted.
 *
 *   build/examples/audio_sample_write                    # dummy
 *   build/examples/audio_sample_write file /tmp/saw.wav
 */
#include <stdio.h>

#include "rill/rill.h"

#define CHUNK 100
#define CHUNKS (22050 / CHUNK) /* one second */
#define AHEAD 20               /* chunks queued before play */

int main(int argc, char **argv) {
    rill_audio_config cfg = rill_audio_config_default();
    char err[256] = "";
    cfg.backend = argc > 1 ? argv[1] : "dummy";
    cfg.device = argc > 2 ? argv[2] : NULL;
    cfg.rate = 22050;
    cfg.channels = 1;
    cfg.format = RILL_AUDIO_S16;
    cfg.buffer_frames = 1024;
    cfg.err = err;
    cfg.err_size = sizeof err;
    rill_audio_output *out;
    int rc = rill_audio_output_open(&cfg, &out);
    if (rc != 0) {
        fprintf(stderr, "audio_sample_write: %s\n", err[0] ? err : rill_strerror(rc));
        return 1;
    }
    rill_audio_source *sample = NULL;
    rc = rill_audio_sample_create(out, NULL, &sample); /* the output's format */
    if (rc == 0)
        rc = rill_audio_output_add(out, sample);

    /* One second of a 220.5 Hz sawtooth, in chunks of 100 frames. */
    int16_t chunk[CHUNK];
    int phase = 0;
    for (int n = 0; rc == 0 && n < CHUNKS; n++) {
        if (n == AHEAD && ((rc = rill_audio_source_play(sample)) != 0 ||
                           (rc = rill_audio_output_start(out)) != 0))
            break;
        for (int i = 0; i < CHUNK; i++, phase = (phase + 1) % 100)
            chunk[i] = (int16_t)(phase * 600 - 30000);
        rc = rill_audio_sample_write(sample, chunk, sizeof chunk, 1000, NULL);
    }
    if (rc != 0) {
        fprintf(stderr, "audio_sample_write: %s\n", rill_strerror(rc));
        rill_audio_source_destroy(sample);
        rill_audio_output_close(out);
        return 1;
    }
    /* Let the ring drain (5 s at most), then report. */
    rill_audio_source_stats st;
    uint64_t give_up = rill_clock_now_ns() + 5000000000u;
    do {
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 10000000u);
        rill_audio_source_get_stats(sample, &st);
    } while (st.frames < CHUNKS * CHUNK && rill_clock_now_ns() < give_up);
    printf("played %llu frames from the sample; %llu underruns (%llu silent "
           "frames)\n", (unsigned long long)st.frames,
           (unsigned long long)st.underruns, (unsigned long long)st.silent_frames);
    rill_audio_source_destroy(sample);
    rill_audio_output_close(out);
    if (st.frames < CHUNKS * CHUNK) {
        fprintf(stderr, "audio_sample_write: the output did not play it all\n");
        return 1;
    }
    return 0;
}
