/* The ALSA backend: any PCM name ("default", "null", "hw:0,0",
 * "plughw:1", "jack"), interleaved read/write on a thread of ours.
 *
 * The device paces the thread: it waits (snd_pcm_wait) until the device
 * can take or give a period, so the device's clock decides, not the
 * system's, and a card whose crystal runs a little fast or slow is
 * followed exactly. Only a PCM that never makes anyone wait (ALSA's
 * "null", alone or under plug/file/... wrappers: it accepts and produces
 * frames instantly) is paced by the monotonic clock instead, never more
 * than one device buffer ahead of it.
 *
 * Xruns are recovered with snd_pcm_recover (prepare again, and restart a
 * capture), counted, and the stream carries on: a glitch, never an exit.
 * The stream position (the `time` of each block, frames since start) then
 * jumps by an estimate of the frames the device went through meanwhile,
 * so it keeps counting device time as JACK's frame time does across
 * skipped cycles, and a capture's first_frame shows the gap. A device
 * that moves no frame for seconds (the JACK server under the "jack" PCM
 * died) fails the stream instead of hanging it.
 */
#include <alsa/asoundlib.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audio/backend.h"

typedef struct alsadev {
    snd_pcm_t *pcm;
    pthread_t thread;
    atomic_bool quit;
    void *buf; /* one period in the device's format */
    snd_pcm_uframes_t period;
    rill_audio_format format; /* the device's: the user's if it takes it */
    bool paces; /* read/write block on the device's clock (all but null) */
    /* The audio thread's own (set by start): */
    uint64_t pos;        /* stream position of the next frame to transfer */
    uint64_t seen_ns;    /* when the device was last seen... */
    uint64_t seen_delay; /* ...with this many frames queued (playback) or
                            waiting to be read (capture): snd_pcm_delay */
    uint64_t pace_ns, pace_pos; /* non-pacing PCMs: pos pace_pos was due
                                   at pace_ns */
    uint64_t dead_ns; /* no frame moved for this long: the device is gone */
} alsadev;

/* The audio thread waits for the device at most this long at a time. */
enum { WAIT_MS = 50 };

/* alsa-lib prints its errors on stderr unless told otherwise; the library
 * never prints, so they go to the log at debug level (the error that
 * matters is reported by open with the device and the reason). */
static void alsa_quiet(const char *file, int line, const char *function,
                       int err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void alsa_quiet(const char *file, int line, const char *function,
                       int err, const char *fmt, ...) {
    (void)file;
    (void)line;
    (void)err;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rill__log_debug("alsa: %s: %s", function, buf);
}

static snd_pcm_format_t alsa_format(rill_audio_format f) {
    switch (f) {
    case RILL_AUDIO_S8:
        return SND_PCM_FORMAT_S8;
    case RILL_AUDIO_S32:
        return SND_PCM_FORMAT_S32;
    case RILL_AUDIO_F32:
        return SND_PCM_FORMAT_FLOAT;
    default:
        return SND_PCM_FORMAT_S16;
    }
}

/* Frames in `ns` nanoseconds at `rate`, and back, without overflow for
 * any gap a stream can see (a suspend of days). */
static uint64_t ns_to_frames(uint64_t ns, uint32_t rate) {
    return ns / 1000000000u * rate +
           (ns % 1000000000u * rate + 500000000u) / 1000000000u;
}
static uint64_t frames_to_ns(uint64_t frames, uint32_t rate) {
    return frames / rate * 1000000000u + frames % rate * 1000000000u / rate;
}

/* Whether the PCM is ALSA's null device or wraps one (plug:null, a file
 * plugin on null, a .asoundrc "default" that points at null): those never
 * block. alsa-lib has no call to walk a PCM's slaves, but its dump names
 * every one of them ("Plug PCM: Null PCM", "Slave: Null PCM"), a format
 * unchanged since alsa-lib 1.0. */
static bool pcm_is_null(snd_pcm_t *pcm) {
    if (snd_pcm_type(pcm) == SND_PCM_TYPE_NULL)
        return true;
    snd_output_t *out;
    if (snd_output_buffer_open(&out) < 0)
        return false;
    bool null = false;
    char *text;
    if (snd_pcm_dump(pcm, out) >= 0 && snd_output_buffer_string(out, &text) > 0)
        null = strstr(text, "Null PCM") != NULL;
    snd_output_close(out);
    return null;
}

/* The user's format if the PCM takes it, else the most precise one it
 * takes (the "jack" PCM takes float only, a "hw:" device what its codec
 * does), which the engine converts from and to. */
static rill_audio_format pick_format(snd_pcm_t *pcm, snd_pcm_hw_params_t *hw,
                                     rill_audio_format want) {
    static const rill_audio_format formats[] = {RILL_AUDIO_F32, RILL_AUDIO_S32,
                                                RILL_AUDIO_S16, RILL_AUDIO_S8};
    if (snd_pcm_hw_params_test_format(pcm, hw, alsa_format(want)) == 0)
        return want;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        snd_pcm_format_t f = alsa_format(formats[i]);
        if (snd_pcm_hw_params_test_format(pcm, hw, f) == 0)
            return formats[i];
    }
    return want; /* set_format reports it */
}

static int alsa_open(rill__audio_dev *d, char *err, size_t err_size) {
    const char *name = d->device ? d->device : "default";
    alsadev *u = rill__calloc(1, sizeof *u);
    if (u == NULL)
        return RILL_ENOMEM;
    atomic_init(&u->quit, false);
    snd_lib_error_set_handler(alsa_quiet);
    snd_pcm_hw_params_t *hw;
    snd_pcm_hw_params_alloca(&hw);
    int e = snd_pcm_open(&u->pcm, name,
                         d->is_input ? SND_PCM_STREAM_CAPTURE
                                     : SND_PCM_STREAM_PLAYBACK, 0);
    int rc = RILL_EIO;
    const char *step = "open";
    if (e < 0) {
        rc = e == -ENOENT ? RILL_ENOTFOUND : e == -EBUSY ? RILL_EBUSY : RILL_EIO;
        goto fail;
    }
    unsigned rate = d->rate;
    snd_pcm_uframes_t period = d->buffer_frames;
    unsigned periods = d->cfg.periods ? d->cfg.periods : 2;
    snd_pcm_uframes_t bufsize = period * periods;
    rc = RILL_ENOTSUP;
    if ((e = snd_pcm_hw_params_any(u->pcm, hw)) < 0) {
        step = "read the hardware parameters";
        goto fail;
    }
    if ((e = snd_pcm_hw_params_set_access(u->pcm, hw,
                                          SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) {
        step = "set interleaved access";
        goto fail;
    }
    u->format = pick_format(u->pcm, hw, d->format);
    d->device_format = u->format;
    e = snd_pcm_hw_params_set_format(u->pcm, hw, alsa_format(u->format));
    if (e < 0) {
        step = "set the sample format";
        goto fail;
    }
    if ((e = snd_pcm_hw_params_set_channels(u->pcm, hw, d->channels)) < 0) {
        step = "set the channel count";
        goto fail;
    }
    if ((e = snd_pcm_hw_params_set_rate_near(u->pcm, hw, &rate, NULL)) < 0) {
        step = "set the rate";
        goto fail;
    }
    if ((e = snd_pcm_hw_params_set_period_size_near(u->pcm, hw, &period, NULL)) < 0) {
        step = "set the period size";
        goto fail;
    }
    if ((e = snd_pcm_hw_params_set_buffer_size_near(u->pcm, hw, &bufsize)) < 0) {
        step = "set the buffer size";
        goto fail;
    }
    if ((e = snd_pcm_hw_params(u->pcm, hw)) < 0) {
        step = "apply the hardware parameters";
        goto fail;
    }
    snd_pcm_hw_params_get_period_size(hw, &period, NULL);
    snd_pcm_hw_params_get_buffer_size(hw, &bufsize);
    if (period == 0 || period > 65536) {
        e = -EINVAL;
        step = "get a usable period size";
        goto fail;
    }
    d->rate = rate;
    d->buffer_frames = (uint32_t)period;
    d->latency_frames = (uint32_t)bufsize;
    u->period = period;
    u->paces = !pcm_is_null(u->pcm);
    /* Four device buffers, and at least 2 s (a busy machine). */
    u->dead_ns = RILL__MAX(2000000000u, 4 * frames_to_ns(bufsize, rate));
    snd_pcm_nonblock(u->pcm, 1);
    rill__log_debug("audio: alsa: '%s' %s", name,
                    u->paces ? "paced by the device's clock"
                             : "does not block: paced by the monotonic clock");
    u->buf = rill__calloc(period * d->channels, 4);
    if (u->buf == NULL) {
        snd_pcm_close(u->pcm);
        rill__free(u);
        return RILL_ENOMEM;
    }
    d->impl = u;
    return 0;
fail:
    rill__set_err(err, err_size, "cannot %s: %s", step, snd_strerror(e));
    if (u->pcm)
        snd_pcm_close(u->pcm);
    rill__free(u);
    return rc;
}

/* After every transfer: where the device is now, for recover's estimate. */
static void observe(alsadev *u) {
    snd_pcm_sframes_t delay;
    int e = snd_pcm_delay(u->pcm, &delay);
    u->seen_ns = rill_clock_now_ns();
    u->seen_delay = e == 0 && delay > 0 ? (uint64_t)delay : 0;
}

/* Recovers from an xrun or a suspend and moves the stream position past
 * the frames the device went through meanwhile; returns false if the
 * device is gone.
 *
 * Capture: frame `pos` had been captured seen_delay frames before seen_ns
 * (it was waiting in the buffer then); whatever was captured after it is
 * thrown away by the prepare, and the first frame read after the restart
 * is captured now. Playback: frame `pos` would have played seen_delay
 * frames after seen_ns (that much was queued); the device ran dry and
 * starts again with the next write, now. The device's clock is taken to
 * run at the nominal rate over the gap: 100 ppm off is 5 frames a second.
 * A status timestamp would be more exact on a card but is not kept by
 * every plugin (the jack PCM leaves its trigger time at the start). */
static bool recover(rill__audio_dev *d, alsadev *u, snd_pcm_sframes_t e) {
    if (e == -EINTR) /* a signal, not an xrun: just try again */
        return true;
    int r = snd_pcm_recover(u->pcm, (int)e, 1);
    if (r < 0) {
        rill__log_error("audio: alsa: %s '%s': cannot recover from '%s': %s",
                        d->is_input ? "input" : "output",
                        d->device ? d->device : "default", snd_strerror((int)e),
                        snd_strerror(r));
        atomic_store(&d->failed, true);
        return false;
    }
    atomic_fetch_add(&d->xruns, 1);
    if (d->is_input)
        snd_pcm_start(u->pcm);
    uint64_t now = rill_clock_now_ns();
    uint64_t went = ns_to_frames(now - u->seen_ns, d->rate);
    uint64_t lost = d->is_input            ? went + u->seen_delay
                    : went > u->seen_delay ? went - u->seen_delay
                                           : 0;
    u->pos += lost;
    u->seen_ns = now;
    u->seen_delay = 0;
    u->pace_ns = now; /* pacing starts over from here */
    u->pace_pos = u->pos;
    return true;
}

/* Moves up to `n` frames between buf and the device. The PCM is
 * non-blocking and the thread waits for it in slices of WAIT_MS, so stop
 * is seen within one, and a device that moves no frame for dead_ns counts
 * as gone: a JACK server that dies under the jack PCM leaves a blocking
 * read or write waiting forever. Returns the frames moved (capture: a
 * whole period, as the wait is for avail_min), 0 on stop, or a negative
 * error: -EPIPE (xrun), -ESTRPIPE (suspend), -ETIMEDOUT (gone), others. */
static snd_pcm_sframes_t transfer(rill__audio_dev *d, alsadev *u, void *buf,
                                  size_t n) {
    uint64_t since = 0;
    while (!atomic_load(&u->quit)) {
        snd_pcm_sframes_t r = d->is_input ? snd_pcm_readi(u->pcm, buf, n)
                                          : snd_pcm_writei(u->pcm, buf, n);
        if (r != -EAGAIN && r != 0)
            return r;
        uint64_t now = rill_clock_now_ns();
        if (since == 0)
            since = now;
        else if (now - since > u->dead_ns)
            return -ETIMEDOUT;
        int w = snd_pcm_wait(u->pcm, WAIT_MS);
        if (w < 0)
            return w;
    }
    return 0;
}

/* On the audio thread: the device is gone; say so and end the thread. */
static void give_up(rill__audio_dev *d, alsadev *u, snd_pcm_sframes_t e) {
    const char *dir = d->is_input ? "input" : "output";
    const char *dev = d->device ? d->device : "default";
    if (e == -ETIMEDOUT)
        rill__log_error("audio: alsa: %s '%s': the device stopped: no frame "
                        "for %.1f s", dir, dev, (double)u->dead_ns / 1e9);
    else
        rill__log_error("audio: alsa: %s '%s': %s", dir, dev,
                        snd_strerror((int)e));
    atomic_store(&d->failed, true);
}

static bool xrun_or_suspend(snd_pcm_sframes_t e) {
    return e == -EPIPE || e == -ESTRPIPE || e == -EINTR;
}

static void *alsa_main(void *arg) {
    rill__audio_dev *d = arg;
    alsadev *u = d->impl;
    size_t fs = rill_audio_format_size(u->format);
    uint64_t ahead_ns = frames_to_ns(d->latency_frames, d->rate);
    if (d->is_input)
        snd_pcm_start(u->pcm);
    u->pos = 0;
    u->seen_ns = u->pace_ns = rill_clock_now_ns();
    u->seen_delay = u->pace_pos = 0;
    while (!atomic_load(&u->quit)) {
        size_t n = u->period;
        if (d->is_input) {
            snd_pcm_sframes_t got = transfer(d, u, u->buf, n);
            if (got == 0)
                break;
            if (got < 0) {
                if (xrun_or_suspend(got) && recover(d, u, got))
                    continue;
                if (!xrun_or_suspend(got))
                    give_up(d, u, got);
                break;
            }
            observe(u);
            n = (size_t)got;
            rill__audio_rt_enter();
            rill__audio_capture(d, u->buf, u->format, n, u->pos);
            rill__audio_rt_leave();
        } else {
            /* A block rendered before an underrun is noticed (by the
             * write) keeps its stamp; the next one is stamped after the
             * gap. */
            rill__audio_rt_enter();
            float *mix = rill__audio_render(d, n, u->pos);
            rill__audio_from_float(u->format, u->buf, mix, n * d->channels);
            rill__audio_rt_leave();
            size_t off = 0;
            while (off < n) {
                snd_pcm_sframes_t w = transfer(
                    d, u, (uint8_t *)u->buf + off * d->channels * fs, n - off);
                if (w == 0)
                    goto out;
                if (w < 0) {
                    if (xrun_or_suspend(w) && recover(d, u, w))
                        continue;
                    if (!xrun_or_suspend(w))
                        give_up(d, u, w);
                    goto out;
                }
                off += (size_t)w;
            }
            observe(u);
        }
        u->pos += n;
        if (!u->paces) {
            /* At most a device buffer ahead of the monotonic clock. */
            uint64_t due =
                u->pace_ns + frames_to_ns(u->pos - u->pace_pos, d->rate);
            if (due > rill_clock_now_ns() + ahead_ns)
                rill__audio_pace(due - ahead_ns, &u->quit);
        }
    }
out:
    return NULL;
}

static int alsa_start(rill__audio_dev *d) {
    alsadev *u = d->impl;
    atomic_store(&u->quit, false);
    int e = snd_pcm_prepare(u->pcm);
    if (e < 0) {
        rill__log_error("audio: alsa: '%s': cannot prepare: %s",
                        d->device ? d->device : "default", snd_strerror(e));
        return RILL_EIO;
    }
    return pthread_create(&u->thread, NULL, alsa_main, d) == 0 ? 0 : RILL_ESYS;
}

static void alsa_stop(rill__audio_dev *d) {
    alsadev *u = d->impl;
    atomic_store(&u->quit, true);
    pthread_join(u->thread, NULL);
    snd_pcm_drop(u->pcm);
}

static void alsa_close(rill__audio_dev *d) {
    alsadev *u = d->impl;
    if (u == NULL)
        return;
    snd_pcm_close(u->pcm);
    rill__free(u->buf);
    rill__free(u);
    d->impl = NULL;
}

/* Capture PCMs from ALSA's name hints ("null", "default", "hw:...", and
 * whatever the configuration defines). */
static int alsa_list_inputs(const char *device,
                            void (*fn)(const char *name, void *user),
                            void *user) {
    (void)device;
    void **hints;
    snd_lib_error_set_handler(alsa_quiet);
    if (snd_device_name_hint(-1, "pcm", &hints) < 0)
        return RILL_EIO;
    for (void **h = hints; *h != NULL; h++) {
        char *name = snd_device_name_get_hint(*h, "NAME");
        char *io = snd_device_name_get_hint(*h, "IOID");
        if (name != NULL && (io == NULL || strcmp(io, "Input") == 0))
            fn(name, user);
        free(name);
        free(io);
    }
    snd_device_name_free_hint(hints);
    return 0;
}

const rill__audio_backend rill__audio_backend_alsa = {
    "alsa", alsa_open, alsa_start, alsa_stop, alsa_close, alsa_list_inputs,
};
