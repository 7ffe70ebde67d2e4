/* Audio sources of `rill serve` (--source jack|alsa|file|sine): an audio
 * input whose callback ticks the server and sets one dense float variable
 * per channel (in1..inN), on the audio thread; and, optionally, an output
 * that plays the buffers clients send to the device (--play). */
#ifndef RILL_TOOLS_SOURCE_H
#define RILL_TOOLS_SOURCE_H

#include <stdio.h>

#include "rill/rill.h"

typedef struct audio_source audio_source;

/* True if `spec` names an audio source rather than "demo". */
bool audio_source_is_audio(const char *spec);

/* Open the input of `spec` ("jack[:SERVER]", "alsa[:PCM]", "file:PATH",
 * "sine:FREQ") at `rate` (a file has its own) in blocks of `block` frames,
 * and the output of `play` ("none", "jack[:SERVER]", "alsa[:PCM]",
 * "file:PATH.wav", or NULL: the input's device for jack and alsa, none
 * otherwise). Nothing runs yet. On failure a sentence is in err. */
int audio_source_open(const char *spec, double rate, unsigned block,
                      const char *play, audio_source **out, char *err,
                      size_t err_size);

/* The rate the input actually runs at (the server's sample rate). */
double audio_source_rate(const audio_source *a);

/* The frames of each block the input delivers (JACK's period for jack,
 * whatever the block asked). */
unsigned audio_source_block(const audio_source *a);

/* Declare in1..inN on `srv` and start: from now on the audio thread ticks
 * the server once per frame (the backend's frame clock) and sets them. */
int audio_source_start(audio_source *a, rill_server *srv);

/* The server's on_buffer callback (user = the audio_source): a client's
 * buffer goes to the output, as float samples, without waiting; what does
 * not fit is dropped and counted. Network thread. */
void audio_source_on_buffer(rill_server *srv, uint32_t id, rill_type type,
                            const void *values, size_t count, void *user);

/* The server's on_audio_change (device-request thread): a volume (a gain
 * on the audio thread) and a buffer size (the description's) for every
 * input; a new rate (alsa, sine) or channel count (alsa, jack) reopens the
 * input, whose ticks go on from the last one. Then the new description. */
int audio_source_change(rill_server *srv, const rill_audio_change *ch,
                        char *why, size_t why_size, audio_source *a);

/* Stop the audio: no more ticks, so the server can then be destroyed. */
void audio_source_stop(audio_source *a);

/* Close and free (after the server, which may still call on_buffer until
 * it is destroyed). NULL is a no-op. */
void audio_source_free(audio_source *a);

/* Prints a line to `out` when the input's xrun count grew since the last
 * call (each xrun skips frames, so the ticks jump). Not the audio thread. */
void audio_source_report(audio_source *a, FILE *out);

/* Whether the input has failed (a JACK server gone, an ALSA device
 * unplugged): its clock has stopped and nothing more can stream; said on
 * `err`. A failed --play output is said once and is not a failure of the
 * source. Main thread, under the lock a reopen takes. */
bool audio_source_failed(audio_source *a, FILE *err);

/* Prints what runs and the variable table to `out`. */
void audio_source_describe(const audio_source *a, FILE *out);

#endif
