/* What the audio engine and its backends share. Not installed.
 *
 * A backend (one file each: backend_jack.c, backend_alsa.c, backend_file.c,
 * backend_dummy.c) fills in a rill__audio_dev when it opens and then, on
 * its audio thread, calls back into the engine once per block:
 *
 *   output: rill__audio_render(dev, frames, time) returns the mixed,
 *           clamped float frames to play (frames <= dev->max_block);
 *   input:  rill__audio_capture(dev, data, format, frames, time) takes a
 *           block of captured frames in `format`.
 *
 * Backends mark their audio thread with rill__audio_rt_enter/leave around
 * the engine's calls, so tests can prove no rill code allocates or locks
 * there (rill__audio_in_rt).
 */
#ifndef RILL_AUDIO_BACKEND_H
#define RILL_AUDIO_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/internal.h"
#include "rill/audio.h"

typedef struct rill__audio_dev rill__audio_dev;

typedef struct rill__audio_backend {
    const char *name;
    /* Open the device described by dev->cfg (requested values) and set the
     * obtained rate, channels, buffer_frames, latency_frames. On failure
     * return a RILL_E* code and write the reason (without backend and
     * device, which the engine adds) into err. */
    int (*open)(rill__audio_dev *dev, char *err, size_t err_size);
    /* Start the audio thread; stop returns after its last engine call. */
    int (*start)(rill__audio_dev *dev);
    void (*stop)(rill__audio_dev *dev);
    void (*close)(rill__audio_dev *dev);
    int (*list_inputs)(const char *device,
                       void (*fn)(const char *name, void *user), void *user);
} rill__audio_backend;

extern const rill__audio_backend rill__audio_backend_jack;
extern const rill__audio_backend rill__audio_backend_alsa;
extern const rill__audio_backend rill__audio_backend_file;
extern const rill__audio_backend rill__audio_backend_dummy;

struct rill__audio_dev {
    const rill__audio_backend *be;
    bool is_input;
    rill_audio_config cfg; /* requested; strings below are owned copies */
    char *device, *name, *connect;
    /* Obtained. `format` is the user's; backends convert to their own. */
    uint32_t rate, channels, buffer_frames, latency_frames;
    rill_audio_format format;
    rill_audio_format device_format; /* set by open; default `format` */
    size_t max_block; /* frames the engine's buffers hold per call */
    void *impl;       /* the backend's state */
    void *owner;      /* rill_audio_output or rill_audio_input */
    atomic_uint_least64_t frames, blocks, xruns, dropped, origin;
    atomic_bool started, done, failed;
};

/* Engine entry points for the audio thread (real-time safe). `time` is the
 * backend's clock at the block's first frame (JACK frame time, or frames
 * since start); the engine records the first one. */
float *rill__audio_render(rill__audio_dev *dev, size_t frames, uint64_t time);
void rill__audio_capture(rill__audio_dev *dev, const void *data,
                         rill_audio_format format, size_t frames,
                         uint64_t time);
/* Mark the end of a finite stream (file/dummy max_frames, end of file). */
void rill__audio_done(rill__audio_dev *dev);

/* Sleep until deadline_ns (CLOCK_MONOTONIC) or until *quit, whichever is
 * first: a clock-paced backend's wait for its next block, which a stop
 * must not have to sit out (a block at 100 Hz lasts seconds). Wakes at
 * least every 20 ms to look at quit. */
void rill__audio_pace(uint64_t deadline_ns, atomic_bool *quit);

/* Conversions (convert.c). to_float with add=true mixes into dst. */
void rill__audio_from_float(rill_audio_format to, void *dst, const float *src,
                            size_t n);
void rill__audio_to_float(float *dst, rill_audio_format from, const void *src,
                          size_t n, bool add);

/* The audio-thread marker (thread-local). */
void rill__audio_rt_enter(void);
void rill__audio_rt_leave(void);
bool rill__audio_in_rt(void);

/* JACK orders the process callbacks of its clients (graph order within a
 * cycle, the driver between cycles) with futexes in libjack, which
 * ThreadSanitizer cannot see: to it, one client writing a port buffer and
 * the next reading it look like a race. Under TSan every JACK process
 * callback of this process acquires one sync object on entry and releases
 * it on exit, which states that ordering; elsewhere these are no-ops. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char rill__jack_tsan_sync;
#define RILL__JACK_CALLBACK_ENTER() __tsan_acquire(&rill__jack_tsan_sync)
#define RILL__JACK_CALLBACK_LEAVE() __tsan_release(&rill__jack_tsan_sync)
#else
#define RILL__JACK_CALLBACK_ENTER() ((void)0)
#define RILL__JACK_CALLBACK_LEAVE() ((void)0)
#endif

#endif /* RILL_AUDIO_BACKEND_H */
