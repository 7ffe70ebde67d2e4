/* The audio engine: opening outputs and inputs on a backend chosen by name,
 * the per-block entry points the backends call, and input delivery.
 *
 * Data path. An output's audio thread calls rill__audio_render once per
 * block: it applies pending mixer commands, mixes every playing source into
 * one float buffer and clamps it; the backend converts that to the device's
 * format. An input's audio thread calls rill__audio_capture: the block is
 * converted to the user's format and written, with its clock stamp, as one
 * record into a ring (or handed straight to a real-time callback). The
 * user's callback then runs on the delivery thread or in poll(). Nothing on
 * the audio side waits for the user side: a full input ring drops the
 * block and counts it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audio/internal.h"

static const rill__audio_backend *const backends[] = {
#ifdef RILL_HAVE_JACK
    &rill__audio_backend_jack,
#endif
#ifdef RILL_HAVE_ALSA
    &rill__audio_backend_alsa,
#endif
    &rill__audio_backend_file,
    &rill__audio_backend_dummy, /* always last: it always opens */
};

const char *rill_audio_backend_name(size_t index) {
    return index < RILL__ARRAY_LEN(backends) ? backends[index]->name : NULL;
}

static const rill__audio_backend *find_backend(const char *name) {
    for (size_t i = 0; i < RILL__ARRAY_LEN(backends); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

rill_audio_config rill_audio_config_default(void) {
    rill_audio_config c;
    memset(&c, 0, sizeof c);
    c.name = "rill";
    c.rate = 48000;
    c.channels = 2;
    c.format = RILL_AUDIO_S16;
    c.buffer_frames = 256;
    c.periods = 2;
    c.realtime = true;
    c.max_sources = 256;
    c.delivery = RILL_AUDIO_DELIVER_THREAD;
    c.ring_blocks = 64;
    return c;
}

int rill_audio_list_inputs(const char *backend, const char *device,
                           void (*fn)(const char *name, void *user),
                           void *user) {
    if (backend == NULL || fn == NULL)
        return RILL_EINVAL;
    const rill__audio_backend *be = find_backend(backend);
    if (be == NULL)
        return RILL_ENOTFOUND;
    return be->list_inputs(device, fn, user);
}

/* ---- The audio-thread marker and small helpers ------------------------ */

static _Thread_local bool in_rt;
void rill__audio_rt_enter(void) { in_rt = true; }
void rill__audio_rt_leave(void) { in_rt = false; }
bool rill__audio_in_rt(void) { return in_rt; }

/* Waiters poll at a quarter of a block, within [100 us, 2 ms]: fast enough
 * to refill a ring long before it drains, cheap enough to leave a core. */
static uint64_t poll_interval(const rill__audio_dev *d) {
    uint64_t ns = (uint64_t)d->buffer_frames * 1000000000u / d->rate / 4;
    return RILL__MAX(RILL__MIN(ns, 2000000u), 100000u);
}

static void fail_msg(const rill_audio_config *cfg, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_msg(const rill_audio_config *cfg, int rc, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rill__log_error("%s (%s)", buf, rill_err_name(rc));
    rill__set_err(cfg->err, cfg->err_size, "%s", buf);
}

/* Copies the request, picks the backend (or tries each in order) and
 * opens it. The message names the backend, the device and the reason.
 *
 * With no backend named, a backend that fails is not an error as long as
 * a later one opens (jack without a server, alsa without a card are the
 * usual case): its message goes to the log at debug level, and only if
 * every backend fails does the last message become the error, in the log
 * and in cfg->err. A device named with no backend ("nope", "hw:9") is
 * never opened by dummy, which has no devices: every backend's reason is
 * the error then. On success cfg->err is left empty. */
static int dev_open(rill__audio_dev *d, const rill_audio_config *cfg,
                    bool is_input, void *owner) {
    d->is_input = is_input;
    d->owner = owner;
    d->cfg = *cfg;
    if (d->cfg.format == RILL_AUDIO_FORMAT_DEFAULT)
        d->cfg.format = RILL_AUDIO_S16;
    if (cfg->rate == 0 || cfg->channels == 0 || cfg->channels > 64 ||
        cfg->buffer_frames == 0 || cfg->buffer_frames > 65536 ||
        rill_audio_format_size(d->cfg.format) == 0) {
        fail_msg(cfg, RILL_EINVAL,
                 "audio: %s: invalid request (rate %u, channels %u, format %s, "
                 "buffer %u frames)",
                 cfg->backend ? cfg->backend : "any", cfg->rate, cfg->channels,
                 rill_audio_format_name(d->cfg.format), cfg->buffer_frames);
        return RILL_EINVAL;
    }
    d->device = cfg->device ? rill__strdup(cfg->device) : NULL;
    d->name = rill__strdup(cfg->name ? cfg->name : "rill");
    d->connect = cfg->connect ? rill__strdup(cfg->connect) : NULL;
    if ((cfg->device && !d->device) || !d->name ||
        (cfg->connect && !d->connect))
        return RILL_ENOMEM;
    d->cfg.device = d->device;
    d->cfg.name = d->name;
    d->cfg.connect = d->connect;
    d->cfg.err = NULL;
    atomic_init(&d->frames, 0);
    atomic_init(&d->blocks, 0);
    atomic_init(&d->xruns, 0);
    atomic_init(&d->dropped, 0);
    atomic_init(&d->origin, 0);
    atomic_init(&d->started, false);
    atomic_init(&d->done, false);
    atomic_init(&d->failed, false);

    int rc = RILL_ENOTFOUND;
    char why[384] = "", last[512] = "", tried[768] = "";
    /* A device named without a backend is one the caller wants: the dummy
     * backend, which has no devices, would open "it" as silence. */
    bool named = cfg->backend == NULL && d->device != NULL &&
                 strcmp(d->device, "default") != 0;
    for (size_t i = 0; i < RILL__ARRAY_LEN(backends); i++) {
        const rill__audio_backend *be = backends[i];
        if (cfg->backend != NULL && strcmp(cfg->backend, be->name) != 0)
            continue;
        if (named && strcmp(be->name, "dummy") == 0)
            continue;
        d->be = be;
        d->rate = cfg->rate;
        d->channels = cfg->channels;
        d->buffer_frames = cfg->buffer_frames;
        d->format = d->cfg.format;
        d->device_format = d->format;
        why[0] = '\0';
        rc = be->open(d, why, sizeof why);
        if (rc == 0) {
            d->max_block = RILL__MAX((size_t)d->buffer_frames, 4096);
            if (cfg->err != NULL && cfg->err_size > 0)
                cfg->err[0] = '\0';
            return 0;
        }
        d->be = NULL;
        if (cfg->backend != NULL) {
            fail_msg(cfg, rc, "audio: %s: %s '%s': %s", be->name,
                     is_input ? "input" : "output",
                     d->device ? d->device : "default", why);
            return rc;
        }
        snprintf(last, sizeof last, "audio: %s: %s '%s': %s", be->name,
                 is_input ? "input" : "output",
                 d->device ? d->device : "default", why);
        size_t t = strlen(tried);
        snprintf(tried + t, sizeof tried - t, "%s%s: %s", t ? "; " : "", be->name, why);
        rill__log_debug("%s (%s; trying the next backend)", last,
                        rill_err_name(rc));
    }
    if (cfg->backend != NULL)
        fail_msg(cfg, RILL_ENOTFOUND, "audio: %s: no such backend (have "
                 "jack, alsa, file, dummy as built)", cfg->backend);
    else if (named)
        fail_msg(cfg, rc = RILL_ENOTFOUND, "audio: no backend has an %s '%s' (%s)",
                 is_input ? "input" : "output", d->device, tried);
    else
        fail_msg(cfg, rc, "%s", last); /* every backend failed */
    return rc;
}

static void dev_free(rill__audio_dev *d) {
    if (d->be != NULL)
        d->be->close(d);
    d->be = NULL;
    rill__free(d->device);
    rill__free(d->name);
    rill__free(d->connect);
}

static void dev_info(const rill__audio_dev *d, rill_audio_info *info) {
    info->backend = d->be->name;
    info->device = d->device ? d->device : "default";
    info->name = d->name;
    info->rate = d->rate;
    info->channels = d->channels;
    info->format = d->format;
    info->buffer_frames = d->buffer_frames;
    info->latency_frames = d->latency_frames;
    info->device_format = d->device_format;
}

static void dev_stats(const rill__audio_dev *d, rill_audio_stats *st) {
    /* The casts drop const for atomic_load on C11 compilers that want a
     * non-const pointer; nothing is written. */
    rill__audio_dev *m = (rill__audio_dev *)(uintptr_t)d;
    st->frames = atomic_load(&m->frames);
    st->blocks = atomic_load(&m->blocks);
    st->xruns = atomic_load(&m->xruns);
    st->dropped = atomic_load(&m->dropped);
    st->started = atomic_load(&m->started);
    st->origin = atomic_load(&m->origin);
    st->done = atomic_load(&m->done);
    st->failed = atomic_load(&m->failed);
}

void rill__audio_done(rill__audio_dev *dev) { atomic_store(&dev->done, true); }

void rill__audio_pace(uint64_t deadline_ns, atomic_bool *quit) {
    const uint64_t slice = 20000000u;
    for (;;) {
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline_ns || atomic_load_explicit(quit, memory_order_relaxed))
            return;
        rill_clock_sleep_until_ns(deadline_ns - now > slice ? now + slice : deadline_ns);
    }
}

/* The clock origin is refreshed every block (clock at this block minus the
 * frames before it), so it follows the backend's clock across lost cycles
 * and a stale stamp on the very first cycle cannot stick. Relaxed order
 * is enough: readers want a recent value, not a synchronised one. */
static void mark_start(rill__audio_dev *d, uint64_t time) {
    uint64_t before = atomic_load_explicit(&d->frames, memory_order_relaxed);
    atomic_store_explicit(&d->origin, time - before, memory_order_relaxed);
    if (!atomic_load_explicit(&d->started, memory_order_relaxed))
        atomic_store(&d->started, true);
}

/* ---- Output ------------------------------------------------------------ */

int rill_audio_output_open(const rill_audio_config *cfg,
                           rill_audio_output **out) {
    if (out == NULL || cfg == NULL)
        return RILL_EINVAL;
    *out = NULL;
    rill_audio_output *o = rill__calloc(1, sizeof *o);
    if (o == NULL)
        return RILL_ENOMEM;
    if (pthread_mutex_init(&o->ctl, NULL) != 0) {
        rill__free(o);
        return RILL_ENOMEM;
    }
    atomic_init(&o->draining, false);
    o->max_sources = cfg->max_sources ? cfg->max_sources : 256;
    int rc = dev_open(&o->dev, cfg, false, o);
    if (rc == 0)
        rc = rill__mixer_init(o);
    if (rc != 0) {
        rill__mixer_deinit(o);
        dev_free(&o->dev);
        pthread_mutex_destroy(&o->ctl);
        rill__free(o);
        return rc;
    }
    o->poll_ns = poll_interval(&o->dev);
    *out = o;
    return 0;
}

int rill_audio_output_start(rill_audio_output *o) {
    if (o == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&o->ctl);
    int rc = 0;
    if (!o->running) {
        o->running = true;
        atomic_store(&o->draining, true);
        atomic_store(&o->dev.done, false);
        atomic_store(&o->dev.failed, false);
        rc = o->dev.be->start(&o->dev);
        if (rc != 0) {
            o->running = false;
            atomic_store(&o->draining, false);
            rill__log_error("audio: %s: output '%s': cannot start (%s)",
                            o->dev.be->name,
                            o->dev.device ? o->dev.device : "default",
                            rill_strerror(rc));
        }
    }
    pthread_mutex_unlock(&o->ctl);
    return rc;
}

int rill_audio_output_stop(rill_audio_output *o) {
    if (o == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&o->ctl);
    if (o->running) {
        atomic_store(&o->draining, false);
        o->dev.be->stop(&o->dev);
        o->running = false;
        rill__mixer_apply_pending(o);
    }
    pthread_mutex_unlock(&o->ctl);
    return 0;
}

void rill_audio_output_close(rill_audio_output *o) {
    if (o == NULL)
        return;
    rill_audio_output_stop(o);
    pthread_mutex_lock(&o->ctl);
    rill__mixer_detach_all(o);
    pthread_mutex_unlock(&o->ctl);
    dev_free(&o->dev);
    rill__mixer_deinit(o);
    pthread_mutex_destroy(&o->ctl);
    rill__free(o);
}

void rill_audio_output_get_info(const rill_audio_output *o, rill_audio_info *info) {
    dev_info(&o->dev, info);
}

void rill_audio_output_get_stats(const rill_audio_output *o, rill_audio_stats *st) {
    dev_stats(&o->dev, st);
}

/* Whether a running stream of this device ends by itself. */
static bool dev_ends(const rill__audio_dev *d) {
    if (strcmp(d->be->name, "file") == 0)
        return d->cfg.max_frames != 0 || (d->is_input && !d->cfg.loop);
    return strcmp(d->be->name, "dummy") == 0 && d->cfg.max_frames != 0;
}

/* Wait for the end of a stream (and for `ring` to be empty). A device
 * that failed ends the wait at once; a wait without a timeout for an end
 * that cannot come (stopped, or a stream that never ends) is refused
 * rather than blocking for ever. `running` reads the caller's state. */
static int wait_done(rill__audio_dev *d, rill_ring *ring, int timeout_ms,
                     uint64_t poll_ns, bool (*running)(void *), void *owner) {
    const char *dir = d->is_input ? "input" : "output";
    const char *dev = d->device ? d->device : "default";
    uint64_t deadline = rill_clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (atomic_load(&d->done) && (ring == NULL || rill_ring_readable(ring) == 0))
            return 0;
        if (atomic_load(&d->failed)) {
            rill__log_error("audio: %s: %s '%s': the device failed and the stream "
                            "stopped before its end (the log above says why)",
                            d->be->name, dir, dev);
            return RILL_EIO;
        }
        if (timeout_ms < 0 && !atomic_load(&d->done)) {
            if (!running(owner)) {
                rill__log_error("audio: %s: %s '%s': not running, so it cannot end: "
                                "start it before waiting for its end",
                                d->be->name, dir, dev);
                return RILL_ESTATE;
            }
            if (!dev_ends(d)) {
                rill__log_error("audio: %s: %s '%s': this stream never ends by itself "
                                "(only file and dummy streams with max_frames, and "
                                "file inputs that do not loop, do): wait with a timeout",
                                d->be->name, dir, dev);
                return RILL_EINVAL;
            }
        }
        if (timeout_ms >= 0 && rill_clock_now_ns() >= deadline)
            return RILL_ETIMEOUT;
        rill__sleep_ns(poll_ns);
    }
}

static bool output_running(void *owner) {
    rill_audio_output *o = owner;
    pthread_mutex_lock(&o->ctl);
    bool r = o->running;
    pthread_mutex_unlock(&o->ctl);
    return r;
}

int rill_audio_output_wait(rill_audio_output *o, int timeout_ms) {
    if (o == NULL)
        return RILL_EINVAL;
    return wait_done(&o->dev, NULL, timeout_ms, o->poll_ns, output_running, o);
}

/* The audio thread's block. */
float *rill__audio_render(rill__audio_dev *dev, size_t frames, uint64_t time) {
    rill_audio_output *o = dev->owner;
    mark_start(dev, time);
    rill__mixer_apply_pending(o);
    uint32_t ch = dev->channels;
    float *mix = o->mix;
    memset(mix, 0, frames * ch * sizeof *mix);
    for (size_t i = 0; i < o->n_active; i++) {
        rill_audio_source *s = o->active[i];
        if (atomic_load_explicit(&s->playing, memory_order_acquire))
            s->kind->render(s, mix, frames, ch);
    }
    size_t n = frames * ch;
    for (size_t i = 0; i < n; i++) {
        float x = mix[i];
        mix[i] = x > 1.0f ? 1.0f : x < -1.0f ? -1.0f : x == x ? x : 0.0f;
    }
    atomic_fetch_add_explicit(&dev->frames, frames, memory_order_relaxed);
    atomic_fetch_add_explicit(&dev->blocks, 1, memory_order_relaxed);
    return mix;
}

/* ---- Input ------------------------------------------------------------- */

static size_t record_bytes(const rill_audio_input *in) {
    return sizeof(rill__in_hdr) + in->dev.max_block * in->frame_bytes;
}

int rill_audio_input_open(const rill_audio_config *cfg, rill_audio_input_fn fn,
                          void *user, rill_audio_input **out) {
    if (out == NULL || cfg == NULL || fn == NULL)
        return RILL_EINVAL;
    *out = NULL;
    rill_audio_input *in = rill__calloc(1, sizeof *in);
    if (in == NULL)
        return RILL_ENOMEM;
    if (pthread_mutex_init(&in->ctl, NULL) != 0) {
        rill__free(in);
        return RILL_ENOMEM;
    }
    in->fn = fn;
    in->user = user;
    atomic_init(&in->quit, false);
    int rc = dev_open(&in->dev, cfg, true, in);
    if (rc == 0) {
        in->frame_bytes = in->dev.channels * rill_audio_format_size(in->dev.format);
        size_t rec = record_bytes(in);
        size_t blocks = cfg->ring_blocks ? cfg->ring_blocks : 64;
        in->rtbuf = rill__malloc(rec);
        in->userbuf = rill__malloc(rec);
        if (in->rtbuf == NULL || in->userbuf == NULL)
            rc = RILL_ENOMEM;
        else
            /* Records are one block each (the backend's period), so the
             * ring holds `blocks` of them plus the largest one. */
            rc = rill_ring_create(blocks * (sizeof(rill__in_hdr) +
                                            in->dev.buffer_frames * in->frame_bytes) +
                                      rec,
                                  &in->ring);
    }
    if (rc != 0) {
        rill_ring_destroy(in->ring);
        rill__free(in->rtbuf);
        rill__free(in->userbuf);
        dev_free(&in->dev);
        pthread_mutex_destroy(&in->ctl);
        rill__free(in);
        return rc;
    }
    in->poll_ns = poll_interval(&in->dev);
    *out = in;
    return 0;
}

/* The input whose callback this thread is running inside
 * rill_audio_input_poll(), if any. That poll holds in->ctl for the whole
 * delivery (it serialises pollers: one reader of the ring, one user of
 * userbuf), so start and stop called from the callback must not take ctl
 * again, which would deadlock: they run under the lock this thread already
 * holds. A poll of the same input from its own callback would overwrite
 * the block being read, so it is refused (RILL_EBUSY); close from the
 * callback would free what the poll is using and is not allowed. (The lock
 * is not released around the callback instead: another thread's poll
 * could then read the next block into userbuf while this callback reads
 * it.) */
static _Thread_local const rill_audio_input *delivering;

static void ctl_lock(rill_audio_input *in) {
    if (delivering != in)
        pthread_mutex_lock(&in->ctl);
}

static void ctl_unlock(rill_audio_input *in) {
    if (delivering != in)
        pthread_mutex_unlock(&in->ctl);
}

/* Delivers one record if there is one: true if it did. The data follows
 * its header in the same commit, so once the header is there all is. */
static bool deliver_one(rill_audio_input *in) {
    rill__in_hdr h;
    if (rill_ring_read_all(in->ring, &h, sizeof h) != 0)
        return false;
    size_t bytes = (size_t)h.frames * in->frame_bytes;
    rill_ring_read_all(in->ring, in->userbuf, bytes);
    in->fn(in, in->userbuf, (size_t)h.frames, h.time, in->user);
    return true;
}

static void *delivery_main(void *arg) {
    rill_audio_input *in = arg;
    for (;;) {
        bool quit = atomic_load(&in->quit);
        while (deliver_one(in)) {
        }
        if (quit)
            break;
        rill__sleep_ns(in->poll_ns);
    }
    return NULL;
}

int rill_audio_input_start(rill_audio_input *in) {
    if (in == NULL)
        return RILL_EINVAL;
    int rc = 0;
    ctl_lock(in);
    if (!in->running && in->thread_on) {
        /* The delivery thread was stopped from its own callback. */
        if (pthread_equal(pthread_self(), in->thread)) {
            ctl_unlock(in);
            return RILL_ESTATE;
        }
        pthread_join(in->thread, NULL);
        in->thread_on = false;
    }
    if (!in->running) {
        atomic_store(&in->dev.done, false);
        atomic_store(&in->dev.failed, false);
        if (in->dev.cfg.delivery == RILL_AUDIO_DELIVER_THREAD) {
            atomic_store(&in->quit, false);
            if (pthread_create(&in->thread, NULL, delivery_main, in) != 0)
                rc = RILL_ESYS;
            else
                in->thread_on = true;
        }
        if (rc == 0)
            rc = in->dev.be->start(&in->dev);
        if (rc != 0 && in->thread_on) {
            atomic_store(&in->quit, true);
            pthread_join(in->thread, NULL);
            in->thread_on = false;
        }
        in->running = rc == 0;
    }
    ctl_unlock(in);
    return rc;
}

int rill_audio_input_stop(rill_audio_input *in) {
    if (in == NULL)
        return RILL_EINVAL;
    ctl_lock(in);
    if (in->running) {
        in->dev.be->stop(&in->dev);
        in->running = false;
    }
    if (in->thread_on) {
        atomic_store(&in->quit, true);
        /* From the delivery thread's own callback: it ends when the
         * callback returns, and a later stop or close joins it. */
        if (!pthread_equal(pthread_self(), in->thread)) {
            pthread_join(in->thread, NULL); /* it delivers what is left first */
            in->thread_on = false;
        }
    }
    ctl_unlock(in);
    return 0;
}

void rill_audio_input_close(rill_audio_input *in) {
    if (in == NULL)
        return;
    rill_audio_input_stop(in);
    dev_free(&in->dev);
    rill_ring_destroy(in->ring);
    rill__free(in->rtbuf);
    rill__free(in->userbuf);
    pthread_mutex_destroy(&in->ctl);
    rill__free(in);
}

int rill_audio_input_poll(rill_audio_input *in, size_t max_blocks) {
    if (in == NULL)
        return RILL_EINVAL;
    if (in->dev.cfg.delivery != RILL_AUDIO_DELIVER_POLL)
        return RILL_ESTATE;
    if (delivering == in)
        return RILL_EBUSY; /* from its own callback */
    int n = 0;
    pthread_mutex_lock(&in->ctl);
    const rill_audio_input *outer = delivering; /* another input's poll */
    delivering = in;
    while ((max_blocks == 0 || (size_t)n < max_blocks) && n < INT32_MAX &&
           deliver_one(in))
        n++;
    delivering = outer;
    pthread_mutex_unlock(&in->ctl);
    return n;
}

void rill_audio_input_get_info(const rill_audio_input *in, rill_audio_info *info) {
    dev_info(&in->dev, info);
}

void rill_audio_input_get_stats(const rill_audio_input *in, rill_audio_stats *st) {
    dev_stats(&in->dev, st);
}

static bool input_running(void *owner) {
    rill_audio_input *in = owner;
    ctl_lock(in);
    bool r = in->running;
    ctl_unlock(in);
    return r;
}

int rill_audio_input_wait(rill_audio_input *in, int timeout_ms) {
    if (in == NULL)
        return RILL_EINVAL;
    return wait_done(&in->dev,
                     in->dev.cfg.delivery == RILL_AUDIO_DELIVER_THREAD ? in->ring
                                                                      : NULL,
                     timeout_ms, in->poll_ns, input_running, in);
}

/* The audio thread's captured block. Backends never pass more than
 * max_block frames. */
void rill__audio_capture(rill__audio_dev *dev, const void *data,
                         rill_audio_format format, size_t frames,
                         uint64_t time) {
    rill_audio_input *in = dev->owner;
    mark_start(dev, time);
    uint8_t *body = in->rtbuf + sizeof(rill__in_hdr);
    rill_audio_convert(dev->format, body, format, data, frames * dev->channels);
    if (dev->cfg.delivery == RILL_AUDIO_DELIVER_REALTIME) {
        in->fn(in, body, frames, time, in->user);
    } else {
        rill__in_hdr h = {time, frames};
        memcpy(in->rtbuf, &h, sizeof h);
        if (rill_ring_write_all(in->ring, in->rtbuf,
                                sizeof h + frames * in->frame_bytes) != 0)
            atomic_fetch_add_explicit(&dev->dropped, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&dev->frames, frames, memory_order_relaxed);
    atomic_fetch_add_explicit(&dev->blocks, 1, memory_order_relaxed);
}
