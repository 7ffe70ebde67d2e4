/* Helpers shared by the audio tests: reading back WAV files, measuring a
 * sine's frequency, and running a private JACK server. */
#ifndef RILL_TEST_AUDIO_UTIL_H
#define RILL_TEST_AUDIO_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "test.h"

/* Reads a whole sound file as float frames (malloc'd, caller frees);
 * fails the test on error. */
float *au_read_wav(const char *path, size_t *frames, int *channels, int *rate);
/* Reads a 16-bit file's samples exactly (malloc'd). */
short *au_read_wav_s16(const char *path, size_t *frames, int *channels);

/* Frequency from upward zero crossings, each placed by linear
 * interpolation between the two samples around it: (crossings - 1)
 * periods over the time from the first to the last. `stride` picks one
 * channel of interleaved data. */
double au_measure_freq(const float *x, size_t n, size_t stride, double rate);

/* A temporary path "/tmp/rill-audio-<pid>-<tag>" (static buffer per tag
 * call; copy it). */
void au_tmp_path(char *buf, size_t cap, const char *tag);

/* Starts `jackd --no-realtime [-S] -n <name> -L <loopback> -d dummy -r
 * <rate> -p <period>` with a unique name and waits until a client can
 * connect. `sync` (-S) makes the server wait for every client before the
 * next cycle, so callbacks of two cycles never overlap even when slowed
 * down (ThreadSanitizer). Returns its pid; the name goes to `name`. */
pid_t au_jackd_start(char *name, size_t cap, unsigned rate, unsigned period,
                     unsigned loopback, bool sync);
/* The same under a fixed name: jackd2 reclaims a dead server's registry
 * entry only when a server of the same name starts. */
pid_t au_jackd_start_named(const char *name, unsigned rate, unsigned period,
                           unsigned loopback, bool sync);
void au_jackd_stop(pid_t pid);
/* The end of server `name`'s output (its log, kept until au_jackd_stop):
 * what JACK said on its side when a client could not open. */
void au_jackd_log_tail(const char *name, char *buf, size_t cap);

#endif
