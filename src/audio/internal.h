/* The engine's objects: outputs with their mixer, sources, inputs.
 * Not installed; shared by engine.c (outputs, inputs, the audio thread's
 * block), mixer.c (adding and removing sources), source.c (the common
 * part of sources and the sample, thread, sine and callback kinds) and
 * source_pd.c (the Pd kind). The calls go one way: engine -> mixer <-
 * source <- source_pd; sources reach the audio thread through their kind's
 * table, as devices through their backend's. */
#ifndef RILL_AUDIO_INTERNAL_H
#define RILL_AUDIO_INTERNAL_H

#include <pthread.h>

#include "audio/backend.h"
#include "rill/queue.h"
#include "rill/ring.h"

/* What a kind of source does: one table per kind, as each backend has
 * one. */
typedef struct rill__source_kind {
    const char *name;
    /* Audio thread: add `frames` frames of `channels` floats into `mix`.
     * Real-time safe. */
    void (*render)(rill_audio_source *s, float *mix, size_t frames,
                   uint32_t channels);
    /* Audio thread (the control thread while stopped): a change posted
     * with RILL__CMD_UPDATE, e.g. a sine's frequency and amplitude. NULL:
     * the kind takes none. */
    void (*update)(rill_audio_source *s, double a, double b, uint32_t rate);
    /* Control thread, s->lock held: play starts the kind's producer (a
     * worker thread, Pd), stop ends it and waits for it. NULL: none. */
    int (*start)(rill_audio_source *s);
    void (*stop)(rill_audio_source *s);
    /* Free what the kind owns. NULL: nothing. */
    void (*free)(rill_audio_source *s);
} rill__source_kind;

extern const rill__source_kind rill__source_sample;
extern const rill__source_kind rill__source_thread;
extern const rill__source_kind rill__source_sine;
extern const rill__source_kind rill__source_callback;
extern const rill__source_kind rill__source_pd;

/* A mixer command, posted by a control thread, applied by the audio thread
 * at the start of a block (or by the control thread while stopped). */
enum { RILL__CMD_ADD, RILL__CMD_REMOVE, RILL__CMD_UPDATE };
typedef struct rill__mix_cmd {
    int op;
    rill_audio_source *src;
    double a, b; /* UPDATE's values, for src->kind->update */
} rill__mix_cmd;

struct rill_audio_output {
    rill__audio_dev dev;
    /* Serialises control callers (add, remove, sine_set, start, stop,
     * source create/destroy). Never taken by the audio thread. */
    pthread_mutex_t ctl;
    bool running;            /* under ctl */
    atomic_bool draining;    /* running, for writers deciding to wait */
    rill_queue *cmds;        /* ctl -> audio */
    /* Owned by the audio thread while running, by ctl while stopped. */
    rill_audio_source **active;
    size_t n_active;
    uint32_t max_sources;
    size_t n_attached;       /* ctl side */
    rill_audio_source *sources; /* every source made for it (ctl side) */
    float *mix;              /* max_block * channels */
    uint64_t poll_ns;        /* how long waiting writers sleep */
};

struct rill_audio_source {
    const rill__source_kind *kind;
    rill_audio_output *out;  /* NULL once the output is closed */
    rill_audio_source *next, *prev; /* in out->sources */
    atomic_bool playing;
    atomic_bool in_mixer;    /* written by whoever applies the commands */
    atomic_bool removing;    /* a REMOVE is posted and not yet applied */
    bool attached;           /* ctl side: an ADD is posted, no REMOVE yet */
    pthread_mutex_t lock;    /* user calls on this source (play/stop) */

    /* Ring-fed sources (sample, thread, Pd). */
    rill_ring *ring;
    rill_audio_format fmt;
    uint32_t channels;
    size_t frame_bytes;
    uint32_t prebuffer;
    bool priming;            /* audio thread */
    atomic_bool prime_req;   /* set by play, taken by the audio thread */
    atomic_uint_least64_t frames, underruns, silent;

    /* Sine: the audio thread's state and the last values set. */
    double phase, inc, amp, amp_target;
    double rot_c, rot_s; /* cos and sin of 2 pi inc */
    double freq_set, amp_set;

    /* Thread source. */
    rill_audio_thread_config tcfg;
    pthread_t worker;
    bool worker_on;
    atomic_bool quit, ended;
    void *chunk;

    /* Callback source. */
    rill_audio_render_fn fn;
    void *user;

    /* Pd (source_pd.c). */
    struct rill__pd *pd;
};

struct rill_audio_input {
    rill__audio_dev dev;
    rill_audio_input_fn fn;
    void *user;
    pthread_mutex_t ctl;     /* start/stop/close/poll callers */
    bool running;
    rill_ring *ring;         /* records: rill__in_hdr + data */
    size_t frame_bytes;
    uint8_t *rtbuf;          /* audio thread: header + converted block */
    uint8_t *userbuf;        /* delivering side */
    pthread_t thread;
    bool thread_on;
    atomic_bool quit;
    uint64_t poll_ns;
};

typedef struct rill__in_hdr {
    uint64_t time;
    uint64_t frames;
} rill__in_hdr;

/* mixer.c */
int rill__mixer_init(rill_audio_output *o);
void rill__mixer_deinit(rill_audio_output *o);
/* Post a command, waiting for room; applies it at once while stopped.
 * Caller holds o->ctl. */
void rill__mixer_post(rill_audio_output *o, const rill__mix_cmd *cmd);
/* While stopped: apply every pending command. Caller holds o->ctl. */
void rill__mixer_apply_pending(rill_audio_output *o);
void rill__mixer_detach_all(rill_audio_output *o);

/* source.c: the common parts of creating a source, for every kind. */
int rill__source_new(rill_audio_output *o, const rill__source_kind *kind,
                     rill_audio_source **out);
int rill__source_ring(rill_audio_source *s, rill_audio_format fmt,
                      uint32_t channels, size_t ring_frames);
/* Into the output's list, once nothing can fail any more. */
void rill__source_link(rill_audio_source *s);
/* The render of every ring-fed kind (sample, thread, Pd). */
void rill__source_render_ring(rill_audio_source *s, float *mix, size_t frames,
                              uint32_t channels);
/* Wait-while-full writer shared by samples, thread and Pd feeders. */
int rill__source_write(rill_audio_source *s, const void *data, size_t bytes,
                       int64_t timeout_ns, const atomic_bool *cancel,
                       bool block_when_idle, size_t *written);

#endif /* RILL_AUDIO_INTERNAL_H */
