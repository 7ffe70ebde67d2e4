/* rill audio: an output with a mixer of sources, inputs with a callback,
 * on JACK, ALSA, sound files and a dummy clock (docs/AUDIO.md).
 *
 * The model is kivy audiostream's ("push bytes to the speaker, get bytes
 * from the microphone"), made real-time safe:
 *
 *   rill_audio_output   an open device; its audio thread runs the mixer.
 *   rill_audio_source   something the mixer plays: a sample (the user
 *                       writes frames into its ring), a thread source (a
 *                       worker thread produces chunks), a sine, a Pure Data
 *                       patch, or a real-time callback.
 *   rill_audio_input    an open capture device; its audio thread hands
 *                       blocks over a ring to the user's callback.
 *
 * Threads. Every function here is for the user's (non-real-time) threads
 * unless it says otherwise; calls on one object from several threads are
 * serialised inside. The audio thread (the backend's: JACK's process
 * thread, rill's ALSA/file/dummy thread) never allocates, locks, prints or
 * makes a system call while it runs rill code: commands reach it through a
 * rill_queue, data through rill_rings, and waiting sides poll with short
 * sleeps instead of being woken by it.
 *
 * Samples. All data is interleaved frames. Mixing is done in 32-bit float
 * and converted once, at the end, to the device's format with saturation:
 * a mixed value is clamped to [-1.0, +1.0] (NaN becomes 0), then an integer
 * format of b bits stores lrint(x * 2^(b-1)) clamped to
 * [-2^(b-1), 2^(b-1) - 1], so +1.0 gives the maximum and -1.0 the minimum;
 * float32 stores the clamped value. An integer sample v reads as the float
 * v / 2^(b-1), exactly (S32 keeps 24 significant bits through the mixer).
 */
#ifndef RILL_AUDIO_H
#define RILL_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Formats and configuration ---------------------------------------- */

typedef enum rill_audio_format {
    RILL_AUDIO_FORMAT_DEFAULT = 0, /* in a config: "the device's / S16" */
    RILL_AUDIO_S8 = 1,             /* signed 8-bit (audiostream's 8) */
    RILL_AUDIO_S16 = 2,            /* signed 16-bit, native order (16) */
    RILL_AUDIO_S32 = 3,            /* signed 32-bit, native order */
    RILL_AUDIO_F32 = 4             /* 32-bit float, full scale 1.0 */
} rill_audio_format;

/* Bytes per sample of a format (0 for an unknown one), and its name
 * ("s8", "s16", "s32", "f32"; "unknown", never NULL). Any thread. */
RILL_API size_t rill_audio_format_size(rill_audio_format format);
RILL_API const char *rill_audio_format_name(rill_audio_format format);

/* Convert `n` samples between formats with the saturation rules above.
 * Pure function: safe on real-time threads. Unknown formats convert
 * nothing. */
RILL_API void rill_audio_convert(rill_audio_format to, void *dst,
                                 rill_audio_format from, const void *src,
                                 size_t n);

/* How an input delivers its blocks to the callback. */
typedef enum rill_audio_delivery {
    /* On an engine thread that rill starts for the input. */
    RILL_AUDIO_DELIVER_THREAD = 0,
    /* Only inside rill_audio_input_poll(), on the caller's thread (as
     * audiostream's poll()). */
    RILL_AUDIO_DELIVER_POLL = 1,
    /* Directly on the audio thread, with no ring in between: the callback
     * must itself be real-time safe (no allocation, lock, I/O). Meant for
     * code like rill_server_tick that is built for it. */
    RILL_AUDIO_DELIVER_REALTIME = 2
} rill_audio_delivery;

/* What to open. Get one from rill_audio_config_default() and change the
 * fields you need; the strings are copied by open. */
typedef struct rill_audio_config {
    /* "jack", "alsa", "file", "dummy", or NULL for the first one in
     * rill_audio_backend_name()'s order that opens (with a `device` other
     * than "default", one that has it: dummy, which has none, is not
     * tried). */
    const char *backend;
    /* Backend-specific device: ALSA PCM name ("default", "null", "hw:0");
     * the file path for "file" (.wav or .flac; an input file sets rate and
     * channels); for "jack" the JACK server name (NULL: $JACK_DEFAULT_SERVER
     * or "default"). Ignored by "dummy". */
    const char *device;
    /* Stream name: the JACK client name, whose ports are out_1..out_N or
     * in_1..in_N. Default "rill". */
    const char *name;
    uint32_t rate;          /* frames per second; default 48000 */
    uint32_t channels;      /* default 2 */
    rill_audio_format format; /* default S16 */
    uint32_t buffer_frames; /* frames per period/block; default 256 */
    uint32_t periods;       /* ALSA periods in the device buffer; default 2 */
    /* "jack": a regular expression of the ports to connect channel i to
     * (the i-th match; JACK's jack_get_ports). NULL: the physical ports;
     * "" connects nothing. */
    const char *connect;
    /* "file": true (default) paces blocks by the clock, false runs as fast
     * as possible. */
    bool realtime;
    /* "file"/"dummy": stop by themselves after this many frames (0 =
     * never, or at the end of an input file); see *_wait(). */
    uint64_t max_frames;
    bool loop;              /* "file" input: start over at the end */
    uint32_t max_sources;   /* output: mixer capacity; default 256 */
    /* Input only. */
    rill_audio_delivery delivery; /* default THREAD */
    uint32_t ring_blocks;   /* blocks the input ring holds; default 64 */
    /* Optional: on failure, a one-sentence message naming the backend, the
     * device and the reason is written here (it also goes to the log). */
    char *err;
    size_t err_size;
} rill_audio_config;

/* Defaults for every field. Always start from this. Any thread. */
RILL_API rill_audio_config rill_audio_config_default(void);

/* Backends compiled in, by index in the order NULL tries them ("jack",
 * "alsa", "file", "dummy"); NULL past the end. "dummy" is always last.
 * Any thread. */
RILL_API const char *rill_audio_backend_name(size_t index);

/* The input sources a backend offers, as device names for
 * rill_audio_config.device / connect: ALSA capture PCMs from its hints,
 * JACK output ports of the server named by `device`, "default" for dummy
 * and nothing for file (any path). Calls fn once per name (valid during
 * the call, on the calling thread). Returns 0, RILL_ENOTFOUND (no such
 * backend) or an error of the backend (JACK server not running:
 * RILL_EREFUSED). */
RILL_API int rill_audio_list_inputs(const char *backend, const char *device,
                                    void (*fn)(const char *name, void *user),
                                    void *user);

/* What an open stream actually got. Strings live as long as the stream. */
typedef struct rill_audio_info {
    const char *backend;
    const char *device;
    const char *name;
    uint32_t rate;
    uint32_t channels;
    rill_audio_format format;   /* the format of the user's data */
    uint32_t buffer_frames;     /* frames per callback/period */
    uint32_t latency_frames;    /* the backend's own latency figure */
    rill_audio_format device_format; /* what the device runs in (jack:
                                        float; alsa: the user's format if
                                        the PCM takes it, else the most
                                        precise it takes); rill converts */
} rill_audio_info;

/* Counters, read with atomic loads (any thread). */
typedef struct rill_audio_stats {
    uint64_t frames;      /* frames played / captured since open */
    uint64_t blocks;      /* audio callbacks */
    uint64_t xruns;       /* device under/overruns recovered from */
    uint64_t dropped;     /* input: blocks lost because the ring was full */
    /* The backend clock's origin: frame number k of the stream (counted
     * from 0 over `frames`) played or was captured at clock origin + k.
     * The clock is JACK's frame time (jack_last_frame_time) on jack and
     * frames since start elsewhere. Refreshed every block, so after a
     * lost cycle it describes the frames since. */
    uint64_t origin;
    bool started;         /* origin is valid */
    bool done;            /* file/dummy reached max_frames or end of file */
    bool failed;          /* the device failed (JACK server gone, ...) */
} rill_audio_stats;

/* ---- Output and mixer -------------------------------------------------- */

typedef struct rill_audio_output rill_audio_output;
typedef struct rill_audio_source rill_audio_source;

/* Open an output (stopped). Returns 0, RILL_EINVAL, RILL_ENOMEM,
 * RILL_ENOTFOUND (no such backend or device), RILL_EREFUSED (JACK server
 * not running), RILL_ENOTSUP (a parameter the device refuses) or
 * RILL_EIO; the message names backend, device and reason. */
RILL_API int rill_audio_output_open(const rill_audio_config *cfg,
                                    rill_audio_output **out);

/* Stop, detach every source (they stay valid; destroy them after) and
 * close. Never from the output's own audio thread. NULL is a no-op. */
RILL_API void rill_audio_output_close(rill_audio_output *o);

/* Start/stop the audio thread. Stop returns after the last callback.
 * Never from the output's own audio thread. Start returns 0, RILL_EINVAL,
 * or the backend's error (RILL_ESYS, RILL_EIO, RILL_EREFUSED: the message
 * says why); stop returns 0 or RILL_EINVAL. */
RILL_API int rill_audio_output_start(rill_audio_output *o);
RILL_API int rill_audio_output_stop(rill_audio_output *o);

/* What the output got, and its counters. Any thread; never fail. */
RILL_API void rill_audio_output_get_info(const rill_audio_output *o,
                                         rill_audio_info *info);
RILL_API void rill_audio_output_get_stats(const rill_audio_output *o,
                                          rill_audio_stats *stats);

/* Wait until a file/dummy output with max_frames is done (0), for at most
 * timeout_ms (< 0: until then): RILL_ETIMEOUT when the time is up;
 * RILL_EIO as soon as the device fails (a write error, a JACK server that
 * went away). Without a timeout, a wait for an end that cannot come is
 * refused with a message: RILL_ESTATE when the output is not running,
 * RILL_EINVAL when it never ends by itself (JACK, ALSA, no max_frames),
 * and for NULL. */
RILL_API int rill_audio_output_wait(rill_audio_output *o, int timeout_ms);

/* Add a source to the mixer / remove it, running or not. Both take effect
 * at the start of the next block; remove returns only when the audio thread
 * has let go of the source, so it may be destroyed at once. If the audio
 * thread does not answer for a second (the device failed; JACK dropped the
 * client), the output is stopped (a warning is logged) and the change is
 * made at once; the same holds for rill_audio_sine_set. Add returns
 * RILL_EBUSY if the source is already in a mixer, RILL_EFULL past
 * max_sources, RILL_EINVAL if it was made for another output; remove
 * returns RILL_ENOTFOUND if it is not in this one. */
RILL_API int rill_audio_output_add(rill_audio_output *o, rill_audio_source *s);
RILL_API int rill_audio_output_remove(rill_audio_output *o,
                                      rill_audio_source *s);

/* ---- Sources ------------------------------------------------------------ */

/* A source is made for one output (its rate and channels) and plays when
 * it is both in that output's mixer and playing. Destroy removes it from
 * the mixer first. NULL is a no-op. */
RILL_API void rill_audio_source_destroy(rill_audio_source *s);

/* play: the mixer takes data from the source from the next block on.
 * stop: it is skipped (a sample keeps its queued data; a thread or Pd
 * source stops its producer, waiting for it). Returns 0, RILL_EINVAL,
 * RILL_ESTATE (play: the output is closed) or what starting the producer
 * gave (RILL_ESYS; Pd: its errors). playing: whether it plays; any
 * thread. */
RILL_API int rill_audio_source_play(rill_audio_source *s);
RILL_API int rill_audio_source_stop(rill_audio_source *s);
RILL_API bool rill_audio_source_playing(const rill_audio_source *s);

/* Counters of a ring-fed source (sample, thread, Pd); zeros otherwise. */
typedef struct rill_audio_source_stats {
    uint64_t frames;          /* frames taken from the ring */
    uint64_t underruns;       /* blocks the ring could not fill */
    uint64_t silent_frames;   /* frames of silence played for them */
} rill_audio_source_stats;

/* Read them (atomic loads). Any thread; never fails. */
RILL_API void rill_audio_source_get_stats(const rill_audio_source *s,
                                          rill_audio_source_stats *st);

/* Samples: the user writes frames, the mixer plays them. */
typedef struct rill_audio_sample_config {
    rill_audio_format format; /* of written data; DEFAULT: the output's */
    uint32_t channels;        /* the output's (0) or 1: mono to every channel */
    uint32_t ring_frames;     /* ring size; default max(4 blocks, 16 KiB) */
    /* Frames the ring must hold before the mixer starts taking from it
     * after play or an underrun (0: none; for sources fed in bursts). */
    uint32_t prebuffer_frames;
} rill_audio_sample_config;

RILL_API rill_audio_sample_config rill_audio_sample_config_default(void);

/* Defaults for every field. Any thread. */
/* cfg may be NULL for defaults. Not yet in the mixer and stopped.
 * Returns 0, RILL_EINVAL (bad format or channels) or RILL_ENOMEM. */
RILL_API int rill_audio_sample_create(rill_audio_output *o,
                                      const rill_audio_sample_config *cfg,
                                      rill_audio_source **out);

/* Copy `bytes` (whole frames in the sample's format) into the ring. While
 * the sample is playing on a running output and the ring is full, wait for
 * room, at most timeout_ms (< 0: forever; 0: not at all), then return
 * RILL_ETIMEOUT. When nothing drains it (stopped, or the output is not
 * running) a full ring gives RILL_EFULL at once instead of blocking for
 * ever. *written (optional) gets the bytes queued, all of them on success.
 * One writer thread per sample. RILL_EINVAL for a partial frame. */
RILL_API int rill_audio_sample_write(rill_audio_source *s, const void *data,
                                     size_t bytes, int timeout_ms,
                                     size_t *written);

/* Frames the ring can take now (0 for NULL). Any thread; never fails. */
RILL_API size_t rill_audio_sample_writable(const rill_audio_source *s);

/* Thread sources: a worker thread calls `fn` for the next chunk and queues
 * it; the mixer plays it. */
/* Fill `frames` frames of `buf` (the source's format and channels) and
 * return how many were filled (0..frames), or a negative number at the end
 * of the data (what was queued still plays). Runs on the worker thread; it
 * may block, but stop waits for it to return. */
typedef long (*rill_audio_thread_fn)(rill_audio_source *s, void *buf,
                                     size_t frames, void *user);

typedef struct rill_audio_thread_config {
    rill_audio_thread_fn fn;
    void *user;
    rill_audio_format format; /* of buf; DEFAULT: the output's */
    uint32_t channels;        /* 0: the output's, or 1 */
    uint32_t chunk_frames;    /* frames asked per call; default a block */
    uint32_t ring_frames;     /* default 8 blocks */
} rill_audio_thread_config;

/* Defaults for every field. Any thread. */
RILL_API rill_audio_thread_config rill_audio_thread_config_default(void);

/* play starts the worker (or restarts it after stop); stop tells it to
 * quit, and never deadlocks: the worker only waits in bounded sleeps that
 * check the stop flag. Returns 0, RILL_EINVAL (no fn, bad format or
 * channels) or RILL_ENOMEM. */
RILL_API int rill_audio_thread_source_create(rill_audio_output *o,
                                             const rill_audio_thread_config *cfg,
                                             rill_audio_source **out);

/* True once fn has reported the end and the ring has run dry. Any
 * thread; false for NULL or another kind of source. */
RILL_API bool rill_audio_thread_source_finished(const rill_audio_source *s);

/* Sine: computed on the audio thread from a double-precision phase
 * accumulator, so its frequency is exact at any rate and changes are
 * phase-continuous. The same wave goes to every channel. Returns 0,
 * RILL_EINVAL (a frequency not in [0, rate / 2), a non-finite amplitude)
 * or RILL_ENOMEM. */
RILL_API int rill_audio_sine_create(rill_audio_output *o, double freq_hz,
                                    double amplitude, rill_audio_source **out);

/* Change frequency and amplitude from the next block on: the phase carries
 * on, and the amplitude moves linearly across that block. RILL_EINVAL if
 * the frequency is negative or not below half the rate, RILL_ESTATE once
 * the output is closed. */
RILL_API int rill_audio_sine_set(rill_audio_source *s, double freq_hz,
                                 double amplitude);

/* Real-time callback source: `fn` adds (mixes) `frames` frames of
 * `channels` float samples into `mix` on the audio thread. It must be
 * real-time safe. Create returns 0, RILL_EINVAL (no fn) or RILL_ENOMEM. */
typedef void (*rill_audio_render_fn)(rill_audio_source *s, float *mix,
                                     size_t frames, uint32_t channels,
                                     void *user);
RILL_API int rill_audio_callback_source_create(rill_audio_output *o,
                                               rill_audio_render_fn fn,
                                               void *user,
                                               rill_audio_source **out);

/* Pure Data: runs `pd -nogui -jack` on `patch` as a JACK client of the
 * server named by `jack_server` (NULL: $JACK_DEFAULT_SERVER or "default")
 * and takes its outputs in through a JACK client of its own, into a ring
 * the mixer plays. A JACK server must be running; use the jack backend on
 * the same server for the output so both run on one clock. play starts Pd
 * (and waits up to 10 s for its ports), stop ends it. `pd_path` NULL: "pd".
 * Returns 0, RILL_EINVAL, RILL_ENOTFOUND (no such patch) or RILL_ENOMEM;
 * play returns RILL_EREFUSED (no JACK server), RILL_EIO (Pd could not
 * start or died; the log says why), RILL_ENOTSUP or RILL_ETIMEOUT (Pd's
 * ports never came). */
RILL_API int rill_audio_pd_create(rill_audio_output *o, const char *patch,
                                  const char *jack_server, const char *pd_path,
                                  rill_audio_source **out);

/* Send a message to the playing patch's [receive `receiver`] objects, as
 * libpd's libpd_float / libpd_bang / libpd_message do: `message` is Pd
 * atoms separated by spaces, "660" (a float), "bang", "symbol foo",
 * "list 1 2 a", "set 1 2" (a message), or "" (a bang). It travels to Pd
 * over a local TCP connection Pd opened to us at play (authenticated by a
 * token), so it arrives within a few ms, in order, but not at a given
 * sample. Any user thread. Returns 0; RILL_EINVAL (not a Pd source, a
 * receiver that is empty, has spaces or is a number, text with ';' ','
 * '\\' '$' or control characters, over 4096 characters); RILL_ESTATE (not
 * playing); RILL_EIO (Pd exited); RILL_EFULL (Pd does not read). */
RILL_API int rill_audio_pd_send(rill_audio_source *s, const char *receiver,
                                const char *message);

/* ---- Input -------------------------------------------------------------- */

typedef struct rill_audio_input rill_audio_input;

/* A block of `frames` interleaved frames in the configured format and the
 * obtained channel count. `first_frame` is the backend clock of its first
 * frame (JACK frame time, or frames since start), so a gap means lost
 * data. `data` is valid during the call. Runs on the thread chosen with
 * rill_audio_config.delivery. */
typedef void (*rill_audio_input_fn)(rill_audio_input *in, const void *data,
                                    size_t frames, uint64_t first_frame,
                                    void *user);

/* Open an input (stopped). Errors as rill_audio_output_open. */
RILL_API int rill_audio_input_open(const rill_audio_config *cfg,
                                   rill_audio_input_fn fn, void *user,
                                   rill_audio_input **out);
/* Stop and close. Not from the input's own callback. NULL is a no-op. */
RILL_API void rill_audio_input_close(rill_audio_input *in);
/* Start capturing. Returns 0, RILL_EINVAL, RILL_ESTATE (from the input's
 * own callback while it is being stopped), RILL_ESYS or the backend's
 * error. May be called from the input's own callback (poll or engine
 * thread). */
RILL_API int rill_audio_input_start(rill_audio_input *in);
/* Stop capturing; blocks still in the ring can be polled afterwards. May
 * be called from the input's own callback (poll or engine thread).
 * Returns 0 or RILL_EINVAL. */
RILL_API int rill_audio_input_stop(rill_audio_input *in);

/* Deliver up to max_blocks queued blocks (0: all) to the callback on this
 * thread. Returns the number delivered (>= 0), RILL_ESTATE if the input
 * delivers on a thread of its own, RILL_EBUSY from the callback itself,
 * RILL_EINVAL. One thread at a time. */
RILL_API int rill_audio_input_poll(rill_audio_input *in, size_t max_blocks);

/* What the input got, and its counters. Any thread; never fail. */
RILL_API void rill_audio_input_get_info(const rill_audio_input *in,
                                        rill_audio_info *info);
RILL_API void rill_audio_input_get_stats(const rill_audio_input *in,
                                         rill_audio_stats *stats);

/* Wait until a file input has reached its end (or max_frames) and every
 * block has been delivered (THREAD) or queued (POLL): 0 or RILL_ETIMEOUT;
 * RILL_EIO, RILL_ESTATE and RILL_EINVAL as rill_audio_output_wait. Not
 * from the input's own callback. */
RILL_API int rill_audio_input_wait(rill_audio_input *in, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* RILL_AUDIO_H */
