/* The mixer's control side: adding and removing sources while the audio
 * thread runs, without locks or allocation on that thread.
 *
 * The audio thread owns a fixed array of active sources (allocated at open
 * with room for max_sources). Control threads never touch it while the
 * output runs: they post ADD/REMOVE/SINE commands into a rill_queue (under
 * the output's ctl mutex, which only control threads take, so the queue
 * has one producer at a time), and the audio thread applies them at the
 * start of its next block. A remover then waits until the audio thread has
 * applied its REMOVE (the source's `removing` flag cleared: a release
 * store, read with acquire), after which the audio thread holds no pointer
 * to it and the remover may free it on its own thread. Waiting for
 * in_mixer to clear instead is not enough: an ADD still queued before the
 * REMOVE leaves in_mixer false until the audio thread takes both. While the output is stopped the backend has
 * joined its thread (or deactivated JACK), so the control thread applies
 * the commands itself.
 */
#include <string.h>

#include "audio/internal.h"

int rill__mixer_init(rill_audio_output *o) {
    o->active = rill__calloc(o->max_sources, sizeof o->active[0]);
    o->mix = rill__calloc(o->dev.max_block * o->dev.channels, sizeof(float));
    if (o->active == NULL || o->mix == NULL)
        return RILL_ENOMEM;
    /* Room for every source to be added and removed, plus sine updates. */
    return rill_queue_create(sizeof(rill__mix_cmd), 2 * (size_t)o->max_sources + 64,
                             &o->cmds);
}

void rill__mixer_deinit(rill_audio_output *o) {
    rill_queue_destroy(o->cmds);
    rill__free(o->active);
    rill__free(o->mix);
    o->cmds = NULL;
    o->active = NULL;
    o->mix = NULL;
}

static void apply(rill_audio_output *o, const rill__mix_cmd *c) {
    switch (c->op) {
    case RILL__CMD_ADD:
        o->active[o->n_active++] = c->src;
        atomic_store(&c->src->in_mixer, true);
        break;
    case RILL__CMD_REMOVE:
        for (size_t i = 0; i < o->n_active; i++)
            if (o->active[i] == c->src) {
                memmove(&o->active[i], &o->active[i + 1],
                        (o->n_active - i - 1) * sizeof o->active[0]);
                o->n_active--;
                break;
            }
        atomic_store(&c->src->in_mixer, false);
        atomic_store_explicit(&c->src->removing, false, memory_order_release);
        break;
    case RILL__CMD_UPDATE:
        c->src->kind->update(c->src, c->a, c->b, o->dev.rate);
        break;
    }
}

void rill__mixer_apply_pending(rill_audio_output *o) {
    rill__mix_cmd c;
    while (rill_queue_pop(o->cmds, &c, sizeof c, NULL) == 0)
        apply(o, &c);
}

/* The audio thread stopped answering (device gone, JACK dropped a client
 * that was too slow, a stall of a second): stop the output, which joins or
 * deactivates it, and become the consumer. Caller holds o->ctl. */
static void stop_dead(rill_audio_output *o) {
    atomic_store(&o->draining, false);
    o->dev.be->stop(&o->dev);
    o->running = false;
    if (!atomic_load(&o->dev.done))
        rill__log_warn("audio: %s: output '%s': the audio thread stopped "
                       "answering; output stopped", o->dev.be->name,
                       o->dev.device ? o->dev.device : "default");
    rill__mixer_apply_pending(o);
}

void rill__mixer_post(rill_audio_output *o, const rill__mix_cmd *cmd) {
    /* The queue holds two commands per source plus some, so it is full
     * only if the audio thread has stalled: wait for it rather than lose a
     * command, but not for ever. */
    uint64_t give_up = rill_clock_now_ns() + 1000000000u;
    while (o->running && rill_queue_post(o->cmds, cmd, sizeof *cmd) != 0) {
        if (atomic_load(&o->dev.failed) || atomic_load(&o->dev.done) ||
            rill_clock_now_ns() > give_up)
            stop_dead(o);
        else
            rill__sleep_ns(o->poll_ns);
    }
    if (!o->running) {
        rill__mixer_apply_pending(o);
        apply(o, cmd);
    }
}

/* On close: every attached source leaves the (stopped) mixer, and every
 * source made for this output forgets it. */
void rill__mixer_detach_all(rill_audio_output *o) {
    rill__mixer_apply_pending(o);
    for (size_t i = 0; i < o->n_active; i++)
        atomic_store(&o->active[i]->in_mixer, false);
    o->n_active = 0;
    o->n_attached = 0;
    for (rill_audio_source *s = o->sources; s != NULL; s = s->next) {
        s->attached = false;
        s->out = NULL;
    }
    o->sources = NULL;
}

int rill_audio_output_add(rill_audio_output *o, rill_audio_source *s) {
    if (o == NULL || s == NULL || s->out != o)
        return RILL_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&o->ctl);
    if (s->attached)
        rc = RILL_EBUSY;
    else if (o->n_attached >= o->max_sources)
        rc = RILL_EFULL;
    else {
        rill__mix_cmd c = {RILL__CMD_ADD, s, 0, 0};
        s->attached = true;
        o->n_attached++;
        rill__mixer_post(o, &c);
    }
    pthread_mutex_unlock(&o->ctl);
    return rc;
}

int rill_audio_output_remove(rill_audio_output *o, rill_audio_source *s) {
    if (o == NULL || s == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&o->ctl);
    if (s->out != o || !s->attached) {
        pthread_mutex_unlock(&o->ctl);
        return RILL_ENOTFOUND;
    }
    rill__mix_cmd c = {RILL__CMD_REMOVE, s, 0, 0};
    s->attached = false;
    o->n_attached--;
    atomic_store(&s->removing, true);
    rill__mixer_post(o, &c);
    /* Wait for the audio thread to let go. Holding ctl keeps stop from
     * racing us; if the device died, the thread may never come back. */
    uint64_t give_up = rill_clock_now_ns() + 1000000000u;
    while (atomic_load_explicit(&s->removing, memory_order_acquire)) {
        /* A file/dummy stream that reached max_frames has ended its thread;
         * a failed device or a second without an answer: stop (join) it
         * and finish the job here. */
        if (!o->running) {
            rill__mixer_apply_pending(o);
            break;
        }
        if (atomic_load(&o->dev.done) || atomic_load(&o->dev.failed) ||
            rill_clock_now_ns() > give_up) {
            stop_dead(o);
            break;
        }
        rill__sleep_ns(o->poll_ns);
    }
    pthread_mutex_unlock(&o->ctl);
    return 0;
}
