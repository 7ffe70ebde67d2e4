/* Sources: what they share, and four kinds of them: samples, thread
 * sources, sines and real-time callbacks (Pd is in source_pd.c). Each kind
 * is a table of functions (rill__source_kind) that the mixer and the
 * control calls use without knowing which kind they hold.
 *
 * Ring-fed sources (sample, thread, Pd) keep frames in their own SPSC
 * rill_ring: one producer (the user's writer, the worker thread, the Pd
 * capture client) and one consumer (the audio thread). The audio thread
 * takes what is there and plays silence for the rest of the block: an
 * underrun, counted. Producers that find the ring full wait in short
 * sleeps (the audio thread never wakes anybody: that would be a system
 * call), checking their deadline and a cancel flag each time, so nothing
 * can wait for ever on a ring nobody drains.
 */
#include <math.h>
#include <string.h>

#include "audio/internal.h"

/* ---- Common ------------------------------------------------------------ */

int rill__source_new(rill_audio_output *o, const rill__source_kind *kind,
                     rill_audio_source **out) {
    if (o == NULL || out == NULL)
        return RILL_EINVAL;
    *out = NULL;
    rill_audio_source *s = rill__calloc(1, sizeof *s);
    if (s == NULL)
        return RILL_ENOMEM;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        rill__free(s);
        return RILL_ENOMEM;
    }
    s->kind = kind;
    s->out = o;
    atomic_init(&s->playing, false);
    atomic_init(&s->in_mixer, false);
    atomic_init(&s->removing, false);
    atomic_init(&s->prime_req, false);
    atomic_init(&s->frames, 0);
    atomic_init(&s->underruns, 0);
    atomic_init(&s->silent, 0);
    atomic_init(&s->quit, false);
    atomic_init(&s->ended, false);
    *out = s;
    return 0;
}

void rill__source_link(rill_audio_source *s) {
    rill_audio_output *o = s->out;
    pthread_mutex_lock(&o->ctl);
    s->next = o->sources;
    if (o->sources)
        o->sources->prev = s;
    o->sources = s;
    pthread_mutex_unlock(&o->ctl);
}

int rill__source_ring(rill_audio_source *s, rill_audio_format fmt,
                      uint32_t channels, size_t ring_frames) {
    rill_audio_output *o = s->out;
    s->fmt = fmt == RILL_AUDIO_FORMAT_DEFAULT ? o->dev.format : fmt;
    s->channels = channels == 0 ? o->dev.channels : channels;
    if (rill_audio_format_size(s->fmt) == 0 ||
        (s->channels != 1 && s->channels != o->dev.channels))
        return RILL_EINVAL;
    s->frame_bytes = s->channels * rill_audio_format_size(s->fmt);
    return rill_ring_create(ring_frames * s->frame_bytes, &s->ring);
}

static void source_free(rill_audio_source *s) {
    if (s->kind->free != NULL)
        s->kind->free(s);
    rill_ring_destroy(s->ring);
    rill__free(s->chunk);
    pthread_mutex_destroy(&s->lock);
    rill__free(s);
}

static void stop_producer(rill_audio_source *s) {
    if (s->kind->stop != NULL)
        s->kind->stop(s);
}

void rill_audio_source_destroy(rill_audio_source *s) {
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->playing, false);
    stop_producer(s);
    pthread_mutex_unlock(&s->lock);
    rill_audio_output *o = s->out;
    if (o != NULL) {
        rill_audio_output_remove(o, s); /* RILL_ENOTFOUND if not in it */
        pthread_mutex_lock(&o->ctl);
        if (s->prev)
            s->prev->next = s->next;
        else if (o->sources == s)
            o->sources = s->next;
        if (s->next)
            s->next->prev = s->prev;
        pthread_mutex_unlock(&o->ctl);
    }
    source_free(s);
}

int rill_audio_source_play(rill_audio_source *s) {
    if (s == NULL)
        return RILL_EINVAL;
    if (s->out == NULL)
        return RILL_ESTATE;
    pthread_mutex_lock(&s->lock);
    int rc = s->kind->start != NULL ? s->kind->start(s) : 0;
    if (rc == 0) {
        atomic_store(&s->prime_req, s->prebuffer > 0);
        atomic_store_explicit(&s->playing, true, memory_order_release);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rill_audio_source_stop(rill_audio_source *s) {
    if (s == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->playing, false);
    stop_producer(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

bool rill_audio_source_playing(const rill_audio_source *s) {
    return s != NULL &&
           atomic_load(&((rill_audio_source *)(uintptr_t)s)->playing);
}

void rill_audio_source_get_stats(const rill_audio_source *s,
                             rill_audio_source_stats *st) {
    rill_audio_source *m = (rill_audio_source *)(uintptr_t)s;
    st->frames = atomic_load(&m->frames);
    st->underruns = atomic_load(&m->underruns);
    st->silent_frames = atomic_load(&m->silent);
}

/* ---- Rendering (audio thread) ------------------------------------------ */

/* Adds `n` frames of `src` (the source's format and channels) into `mix`
 * (`och` channels); a mono source goes to every channel. */
static void add_frames(float *mix, uint32_t och, const rill_audio_source *s,
                       const uint8_t *src, size_t n) {
    if (s->channels == och) {
        rill__audio_to_float(mix, s->fmt, src, n * och, true);
        return;
    }
    size_t ss = s->frame_bytes;
    for (size_t i = 0; i < n; i++) {
        float v;
        rill__audio_to_float(&v, s->fmt, src + i * ss, 1, false);
        for (uint32_t c = 0; c < och; c++)
            mix[i * och + c] += v;
    }
}

void rill__source_render_ring(rill_audio_source *s, float *mix, size_t frames,
                              uint32_t och) {
    size_t fb = s->frame_bytes;
    if (atomic_exchange_explicit(&s->prime_req, false, memory_order_acquire))
        s->priming = true;
    size_t avail = rill_ring_readable(s->ring) / fb;
    if (s->priming) {
        if (avail < s->prebuffer)
            return;
        s->priming = false;
    }
    size_t n = RILL__MIN(avail, frames);
    rill_ring_span sp;
    rill_ring_read_peek(s->ring, n * fb, &sp);
    size_t pos = 0; /* frames done */
    uint8_t split[64 * 4];
    for (int k = 0; k < 2; k++) {
        size_t whole = sp.len[k] / fb;
        add_frames(mix + pos * och, och, s, sp.ptr[k], whole);
        pos += whole;
        size_t rest = sp.len[k] - whole * fb;
        if (rest != 0 && k == 0) {
            /* A frame straddles the end of the storage: copy it whole. */
            memcpy(split, sp.ptr[0] + whole * fb, rest);
            memcpy(split + rest, sp.ptr[1], fb - rest);
            add_frames(mix + pos * och, och, s, split, 1);
            pos++;
            sp.ptr[1] += fb - rest;
            sp.len[1] -= fb - rest;
        }
    }
    rill_ring_read_release(s->ring, n * fb);
    atomic_fetch_add_explicit(&s->frames, n, memory_order_relaxed);
    if (n < frames) {
        /* A thread source whose function has ended has simply finished
         * (no other kind ever sets `ended`). */
        if (atomic_load_explicit(&s->ended, memory_order_acquire))
            return;
        atomic_fetch_add_explicit(&s->underruns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->silent, frames - n, memory_order_relaxed);
        if (s->prebuffer > 0)
            s->priming = true;
    }
}

/* The sine's phase is in cycles, in [0, 1), advanced by freq / rate per
 * frame in double precision: after 10^9 frames the accumulated rounding is
 * around 1e-7 of a cycle, so the frequency is the requested one to far
 * better than 0.01 Hz at any rate. A new frequency only changes the
 * increment, so the wave carries on from where it is.
 *
 * Within a block the samples come from rotating (cos, sin) of the block's
 * start phase by the per-frame angle: four multiplications instead of a
 * sin() per frame (about 7x cheaper), and the rotation's rounding (~1e-16
 * per frame) is discarded at the next block, which starts again from the
 * accumulator. */
static void sine_render(rill_audio_source *s, float *mix, size_t frames,
                        uint32_t och) {
    double a = s->amp;
    double da = (s->amp_target - a) / (double)frames;
    double c = cos(2.0 * M_PI * s->phase), sn = sin(2.0 * M_PI * s->phase);
    const double rc = s->rot_c, rs = s->rot_s;
    for (size_t i = 0; i < frames; i++) {
        float v = (float)(a * sn);
        for (uint32_t ch = 0; ch < och; ch++)
            mix[i * och + ch] += v;
        double nc = c * rc - sn * rs;
        sn = sn * rc + c * rs;
        c = nc;
        a += da;
    }
    double ph = s->phase + s->inc * (double)frames;
    s->phase = ph - floor(ph);
    s->amp = s->amp_target;
}

static void sine_update(rill_audio_source *s, double freq, double amp,
                        uint32_t rate) {
    s->inc = freq / (double)rate;
    s->rot_c = cos(2.0 * M_PI * s->inc);
    s->rot_s = sin(2.0 * M_PI * s->inc);
    s->amp_target = amp;
}

/* ---- Writing into a ring ----------------------------------------------- */

/* Copies whole frames in, waiting while the ring is full until the
 * deadline (timeout_ns < 0: none), the cancel flag, or -- unless
 * block_when_idle -- the moment nothing drains the ring. */
int rill__source_write(rill_audio_source *s, const void *data, size_t bytes,
                       int64_t timeout_ns, const atomic_bool *cancel,
                       bool block_when_idle, size_t *written) {
    size_t fb = s->frame_bytes, done = 0;
    const uint8_t *p = data;
    uint64_t deadline = timeout_ns >= 0 ? rill_clock_now_ns() + (uint64_t)timeout_ns
                                        : UINT64_MAX;
    uint64_t poll_ns = s->out ? s->out->poll_ns : 1000000u;
    int rc = 0;
    for (;;) {
        size_t room = rill_ring_writable(s->ring) / fb * fb;
        size_t k = RILL__MIN(room, bytes - done);
        if (k > 0)
            done += rill_ring_write(s->ring, p + done, k);
        if (done == bytes)
            break;
        if (cancel != NULL && atomic_load((atomic_bool *)(uintptr_t)cancel)) {
            rc = RILL_ECANCELED;
            break;
        }
        if (!block_when_idle &&
            !(atomic_load(&s->playing) && atomic_load(&s->in_mixer) &&
              s->out != NULL && atomic_load(&s->out->draining))) {
            rc = RILL_EFULL;
            break;
        }
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline) {
            rc = RILL_ETIMEOUT;
            break;
        }
        rill__sleep_ns(RILL__MIN(poll_ns, deadline - now));
    }
    if (written)
        *written = done;
    return rc;
}

/* ---- Samples ------------------------------------------------------------ */

rill_audio_sample_config rill_audio_sample_config_default(void) {
    rill_audio_sample_config c;
    memset(&c, 0, sizeof c);
    return c;
}

const rill__source_kind rill__source_sample = {
    .name = "sample",
    .render = rill__source_render_ring,
};

int rill_audio_sample_create(rill_audio_output *o,
                             const rill_audio_sample_config *cfg,
                             rill_audio_source **out) {
    rill_audio_sample_config def = rill_audio_sample_config_default();
    if (cfg == NULL)
        cfg = &def;
    rill_audio_source *s;
    int rc = rill__source_new(o, &rill__source_sample, &s);
    if (rc != 0)
        return rc;
    size_t frames = cfg->ring_frames;
    if (frames == 0) {
        size_t fb = (cfg->channels ? cfg->channels : o->dev.channels) *
                    rill_audio_format_size(cfg->format ? cfg->format
                                                       : o->dev.format);
        frames = RILL__MAX(4 * (size_t)o->dev.buffer_frames,
                           fb ? 16384 / fb : 4096);
    }
    s->prebuffer = cfg->prebuffer_frames;
    rc = rill__source_ring(s, cfg->format, cfg->channels, frames);
    if (rc != 0) {
        source_free(s);
        return rc;
    }
    rill__source_link(s);
    *out = s;
    return 0;
}

int rill_audio_sample_write(rill_audio_source *s, const void *data,
                            size_t bytes, int timeout_ms, size_t *written) {
    if (written)
        *written = 0;
    if (s == NULL || s->kind != &rill__source_sample || (data == NULL && bytes))
        return RILL_EINVAL;
    if (bytes % s->frame_bytes != 0) {
        rill__log_error("audio: sample write: %zu byte%s, not a whole number "
                        "of frames: a frame is %zu bytes (%u channel%s of %s); "
                        "nothing written",
                        bytes, bytes == 1 ? "" : "s", s->frame_bytes, s->channels,
                        s->channels == 1 ? "" : "s", rill_audio_format_name(s->fmt));
        return RILL_EINVAL;
    }
    int64_t tns = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
    return rill__source_write(s, data, bytes, tns, NULL, false, written);
}

size_t rill_audio_sample_writable(const rill_audio_source *s) {
    if (s == NULL || s->ring == NULL)
        return 0;
    return rill_ring_writable(s->ring) / s->frame_bytes;
}

/* ---- Thread sources ----------------------------------------------------- */

rill_audio_thread_config rill_audio_thread_config_default(void) {
    rill_audio_thread_config c;
    memset(&c, 0, sizeof c);
    return c;
}

/* The worker: produce a chunk, queue it (waiting for room in bounded
 * sleeps that watch the quit flag), again until quit or the end. */
static void *worker_main(void *arg) {
    rill_audio_source *s = arg;
    size_t cf = s->tcfg.chunk_frames;
    uint64_t poll_ns = s->out ? s->out->poll_ns : 1000000u;
    while (!atomic_load(&s->quit)) {
        long n = s->tcfg.fn(s, s->chunk, cf, s->tcfg.user);
        if (n < 0) {
            atomic_store(&s->ended, true);
            break;
        }
        if (n == 0) {
            rill__sleep_ns(poll_ns);
            continue;
        }
        size_t frames = RILL__MIN((size_t)n, cf);
        if (rill__source_write(s, s->chunk, frames * s->frame_bytes, -1,
                               &s->quit, true, NULL) != 0)
            break;
    }
    return NULL;
}

static int thread_start(rill_audio_source *s) {
    if (s->worker_on)
        return 0;
    atomic_store(&s->quit, false);
    atomic_store(&s->ended, false);
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0)
        return RILL_ESYS;
    s->worker_on = true;
    return 0;
}

static void thread_stop(rill_audio_source *s) {
    if (!s->worker_on)
        return;
    atomic_store(&s->quit, true);
    pthread_join(s->worker, NULL);
    s->worker_on = false;
}

const rill__source_kind rill__source_thread = {
    .name = "thread",
    .render = rill__source_render_ring,
    .start = thread_start,
    .stop = thread_stop,
};

int rill_audio_thread_source_create(rill_audio_output *o,
                                    const rill_audio_thread_config *cfg,
                                    rill_audio_source **out) {
    if (cfg == NULL || cfg->fn == NULL)
        return RILL_EINVAL;
    rill_audio_source *s;
    int rc = rill__source_new(o, &rill__source_thread, &s);
    if (rc != 0)
        return rc;
    s->tcfg = *cfg;
    if (s->tcfg.chunk_frames == 0)
        s->tcfg.chunk_frames = o->dev.buffer_frames;
    size_t ring = cfg->ring_frames ? cfg->ring_frames
                                   : 8 * (size_t)o->dev.buffer_frames;
    ring = RILL__MAX(ring, s->tcfg.chunk_frames);
    rc = rill__source_ring(s, cfg->format, cfg->channels, ring);
    if (rc == 0) {
        s->chunk = rill__malloc(s->tcfg.chunk_frames * s->frame_bytes);
        if (s->chunk == NULL)
            rc = RILL_ENOMEM;
    }
    if (rc != 0) {
        source_free(s);
        return rc;
    }
    rill__source_link(s);
    *out = s;
    return 0;
}

bool rill_audio_thread_source_finished(const rill_audio_source *s) {
    rill_audio_source *m = (rill_audio_source *)(uintptr_t)s;
    return m != NULL && m->kind == &rill__source_thread && atomic_load(&m->ended) &&
           rill_ring_readable(m->ring) == 0;
}

/* ---- Sine and callback sources ------------------------------------------ */

const rill__source_kind rill__source_sine = {
    .name = "sine",
    .render = sine_render,
    .update = sine_update,
};

int rill_audio_sine_create(rill_audio_output *o, double freq_hz,
                           double amplitude, rill_audio_source **out) {
    if (o != NULL && !(freq_hz >= 0 && freq_hz < o->dev.rate / 2.0 &&
                       isfinite(amplitude)))
        return RILL_EINVAL;
    rill_audio_source *s;
    int rc = rill__source_new(o, &rill__source_sine, &s);
    if (rc != 0)
        return rc;
    sine_update(s, freq_hz, amplitude, o->dev.rate);
    s->amp = amplitude;
    s->freq_set = freq_hz;
    s->amp_set = amplitude;
    rill__source_link(s);
    *out = s;
    return 0;
}

int rill_audio_sine_set(rill_audio_source *s, double freq_hz, double amplitude) {
    if (s == NULL || s->kind != &rill__source_sine)
        return RILL_EINVAL;
    rill_audio_output *o = s->out;
    if (o == NULL)
        return RILL_ESTATE;
    if (!(freq_hz >= 0 && freq_hz < o->dev.rate / 2.0 && isfinite(amplitude)))
        return RILL_EINVAL;
    pthread_mutex_lock(&o->ctl);
    s->freq_set = freq_hz;
    s->amp_set = amplitude;
    rill__mix_cmd c = {RILL__CMD_UPDATE, s, freq_hz, amplitude};
    if (s->attached)
        rill__mixer_post(o, &c);
    else
        /* Not in a mixer: the audio thread cannot be looking at it. Safe
         * as long as add (which takes ctl) publishes it afterwards. */
        sine_update(s, freq_hz, amplitude, o->dev.rate);
    pthread_mutex_unlock(&o->ctl);
    return 0;
}

static void callback_render(rill_audio_source *s, float *mix, size_t frames,
                            uint32_t channels) {
    s->fn(s, mix, frames, channels, s->user);
}

const rill__source_kind rill__source_callback = {
    .name = "callback",
    .render = callback_render,
};

int rill_audio_callback_source_create(rill_audio_output *o,
                                      rill_audio_render_fn fn, void *user,
                                      rill_audio_source **out) {
    if (fn == NULL)
        return RILL_EINVAL;
    rill_audio_source *s;
    int rc = rill__source_new(o, &rill__source_callback, &s);
    if (rc != 0)
        return rc;
    s->fn = fn;
    s->user = user;
    rill__source_link(s);
    *out = s;
    return 0;
}
