/* The dummy backend: no device, a timer thread. Always available and
 * always last, so a program runs (and its tests run) on any machine.
 *
 * The thread sleeps to absolute deadlines (clock_nanosleep, through
 * rill__audio_pace, which also watches for a stop), one block period
 * apart, so the block rate does not drift however long each block takes.
 * An output's mix is computed and thrown away; an input captures silence.
 */
#include <pthread.h>
#include <string.h>

#include "audio/backend.h"

typedef struct dummy {
    pthread_t thread;
    atomic_bool quit;
    void *buf; /* input: a block of silence (f32) */
} dummy;

static int dummy_open(rill__audio_dev *d, char *err, size_t err_size) {
    (void)err;
    (void)err_size;
    dummy *u = rill__calloc(1, sizeof *u);
    if (u == NULL)
        return RILL_ENOMEM;
    if (d->is_input) {
        u->buf = rill__calloc((size_t)d->buffer_frames * d->channels, sizeof(float));
        if (u->buf == NULL) {
            rill__free(u);
            return RILL_ENOMEM;
        }
    }
    atomic_init(&u->quit, false);
    d->latency_frames = d->buffer_frames;
    d->impl = u;
    return 0;
}

static void *dummy_main(void *arg) {
    rill__audio_dev *d = arg;
    dummy *u = d->impl;
    uint64_t period_ns = (uint64_t)d->buffer_frames * 1000000000u / d->rate;
    uint64_t t0 = rill_clock_now_ns(), k = 0, pos = 0;
    while (!atomic_load(&u->quit)) {
        size_t n = d->buffer_frames;
        if (d->cfg.max_frames && pos + n > d->cfg.max_frames)
            n = (size_t)(d->cfg.max_frames - pos);
        rill__audio_rt_enter();
        if (d->is_input)
            rill__audio_capture(d, u->buf, RILL_AUDIO_F32, n, pos);
        else
            rill__audio_render(d, n, pos);
        rill__audio_rt_leave();
        pos += n;
        if (d->cfg.max_frames && pos >= d->cfg.max_frames) {
            rill__audio_done(d);
            break;
        }
        /* Deadlines from the start, not from the last wake-up: no drift. */
        k++;
        rill__audio_pace(t0 + k * period_ns, &u->quit);
    }
    return NULL;
}

static int dummy_start(rill__audio_dev *d) {
    dummy *u = d->impl;
    atomic_store(&u->quit, false);
    return pthread_create(&u->thread, NULL, dummy_main, d) == 0 ? 0 : RILL_ESYS;
}

static void dummy_stop(rill__audio_dev *d) {
    dummy *u = d->impl;
    atomic_store(&u->quit, true);
    pthread_join(u->thread, NULL);
}

static void dummy_close(rill__audio_dev *d) {
    dummy *u = d->impl;
    if (u != NULL)
        rill__free(u->buf);
    rill__free(u);
    d->impl = NULL;
}

static int dummy_list_inputs(const char *device,
                             void (*fn)(const char *name, void *user),
                             void *user) {
    (void)device;
    fn("default", user);
    return 0;
}

const rill__audio_backend rill__audio_backend_dummy = {
    "dummy", dummy_open, dummy_start, dummy_stop, dummy_close, dummy_list_inputs,
};
