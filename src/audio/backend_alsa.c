/* The ALSA backend: any PCM name ("default", "null", "hw:0,0",
 * "plughw:1"), interleaved read/write on a thread of ours.
 *
 * Xruns are recovered with snd_pcm_recover (prepare again, and restart a
 * capture), counted, and the stream carries on: a glitch, never an exit.
 * Some PCMs do not pace their callers ("null" accepts and produces frames
 * instantly), so the thread also never runs more than one device buffer
 * ahead of the clock: on real hardware the blocking read/write is always
 * the slower of the two and this costs nothing.
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
} alsadev;

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
    if ((e = snd_pcm_hw_params_set_format(u->pcm, hw, alsa_format(d->format))) < 0) {
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

/* Recovers from an xrun or a suspend; returns false if the device is gone. */
static bool recover(rill__audio_dev *d, alsadev *u, snd_pcm_sframes_t e) {
    if (snd_pcm_recover(u->pcm, (int)e, 1) < 0) {
        rill__log_error("audio: alsa: %s '%s': cannot recover: %s",
                        d->is_input ? "input" : "output",
                        d->device ? d->device : "default", snd_strerror((int)e));
        atomic_store(&d->failed, true);
        return false;
    }
    atomic_fetch_add(&d->xruns, 1);
    if (d->is_input)
        snd_pcm_start(u->pcm);
    return true;
}

static void *alsa_main(void *arg) {
    rill__audio_dev *d = arg;
    alsadev *u = d->impl;
    size_t fs = rill_audio_format_size(d->format);
    uint64_t t0 = rill_clock_now_ns(), pos = 0;
    uint64_t ahead_ns = (uint64_t)d->latency_frames * 1000000000u / d->rate;
    if (d->is_input)
        snd_pcm_start(u->pcm);
    while (!atomic_load(&u->quit)) {
        size_t n = u->period;
        if (d->is_input) {
            snd_pcm_sframes_t got = snd_pcm_readi(u->pcm, u->buf, n);
            if (got < 0) {
                if (!recover(d, u, got))
                    break;
                continue;
            }
            n = (size_t)got;
            rill__audio_rt_enter();
            rill__audio_capture(d, u->buf, d->format, n, pos);
            rill__audio_rt_leave();
        } else {
            rill__audio_rt_enter();
            float *mix = rill__audio_render(d, n, pos);
            rill__audio_from_float(d->format, u->buf, mix, n * d->channels);
            rill__audio_rt_leave();
            size_t off = 0;
            while (off < n && !atomic_load(&u->quit)) {
                snd_pcm_sframes_t w = snd_pcm_writei(
                    u->pcm, (uint8_t *)u->buf + off * d->channels * fs, n - off);
                if (w < 0) {
                    if (!recover(d, u, w))
                        goto out;
                    continue;
                }
                off += (size_t)w;
            }
        }
        pos += n;
        /* Never more than a device buffer ahead of real time (for PCMs
         * that do not block, like "null"). */
        uint64_t due = t0 + pos * 1000000000u / d->rate;
        if (due > rill_clock_now_ns() + ahead_ns)
            rill_clock_sleep_until_ns(due - ahead_ns);
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
