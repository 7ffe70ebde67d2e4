/* rill_dash: dashboard handlers and live audio for user programs, on top
 * of rill_client (include/rill/dash.h).
 *
 * The client runs in poll mode, so its on_block callback (the audio, cut
 * at the same ticks for every channel) runs in rill_dash_poll on the
 * user's thread, where it is interleaved into frames x channels. What the
 * client has no callback for (the audio description in list replies and
 * {"event":"audio"} notices, the relay's error replies) arrives on the I/O
 * thread through on_text; it is parked under `lock` and handed over in the
 * next rill_dash_poll, which also restarts the audio streams when the
 * configuration changed (a blocking request, so never on the I/O thread).
 * Handler messages are sent as they are on the control socket with
 * rill_client_send_message; binary frames go out without a copy.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "rill/dash.h"
#include "proto/audio.h"
#include "proto/handler.h"

struct rill_dash_handler {
    rill_dash *dash;
    uint32_t id;
    _Atomic uint64_t seq;
    rill_dash_handler *next, *prev;
};

#define DASH_MAX_ERRORS 16
#define DASH_ERR_LEN 320

struct rill_dash {
    rill_dash_config cfg;
    rill_client *cl;

    pthread_mutex_t lock; /* everything up to the next comment */
    pthread_cond_t cond;
    rill_audio_desc audio; /* the configuration in effect */
    bool has_audio;
    rill_audio_desc next; /* the latest one the server announced */
    bool next_has, pending, list_seen;
    char errors[DASH_MAX_ERRORS][DASH_ERR_LEN];
    size_t n_errors;
    rill_dash_handler *handlers;
    uint32_t next_id;

    /* the polling thread */
    float *frames;
    size_t frames_cap;
    bool streaming, closed_told;
    bool warming; /* the streams restarted: no complete block yet */
    bool restarting; /* waiting for the old streams' ends */
    rill_audio_desc old; /* the channels being stopped */
    bool ended[RILL_AUDIO_MAX_CHANNELS];
    size_t n_ended;
};

rill_dash_config rill_dash_config_default(void) {
    rill_dash_config c;
    memset(&c, 0, sizeof c);
    c.url = "ws://127.0.0.1:5555";
    c.timeout_ms = 5000;
    c.poll_bytes = 16u << 20;
    return c;
}

static void set_next(rill_dash *d, json_t *a) {
    rill_audio_desc next;
    bool has = a != NULL && !json_is_null(a) && rill__audio_desc_parse(a, &next) == 0;
    if (a != NULL && !json_is_null(a) && !has)
        rill__log_warn("dash: the server's audio description is malformed; "
                       "taken as none");
    d->next_has = has;
    if (has)
        d->next = next;
    d->pending = true;
}

/* I/O thread: the messages the client leaves to us. */
static void on_text(rill_client *cl, const char *text, size_t len,
                    void *user) {
    (void)cl;
    rill_dash *d = user;
    if (memmem(text, len, "audio", 5) == NULL &&
        memmem(text, len, "rill-dash", 9) == NULL &&
        memmem(text, len, "\"error\"", 7) == NULL)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    json_t *id = json_object_get(root, "id");
    json_t *w = json_object_get(root, "watcher");
    json_t *ev = json_object_get(root, "event");
    json_t *err = json_object_get(root, "error");
    pthread_mutex_lock(&d->lock);
    if (json_is_string(id) && strcmp(json_string_value(id), "rill-dash") == 0 &&
        json_is_object(w)) {
        set_next(d, json_object_get(w, "audio"));
        d->list_seen = true;
        pthread_cond_broadcast(&d->cond);
    } else if (json_is_string(ev) && strcmp(json_string_value(ev), "audio") == 0) {
        set_next(d, json_object_get(root, "audio"));
    } else if (json_is_object(err) && json_is_string(json_object_get(err, "event"))) {
        /* The relay's error replies name the event they refuse. */
        json_t *msg = json_object_get(err, "message");
        if (d->n_errors < DASH_MAX_ERRORS)
            snprintf(d->errors[d->n_errors++], DASH_ERR_LEN, "%s",
                     json_is_string(msg) ? json_string_value(msg) : "?");
    }
    pthread_mutex_unlock(&d->lock);
    json_decref(root);
}

/* Polling thread: one aligned block of every channel, interleaved. */
static void on_block(rill_client *cl, const rill_client_block *blk,
                     void *user) {
    (void)cl;
    rill_dash *d = user;
    size_t ch = d->audio.channels;
    size_t frames = (size_t)blk->ticks;
    if (d->restarting || !d->has_audio || d->cfg.on_data == NULL ||
        frames == 0 || blk->n != ch)
        return;
    if (frames * ch > d->frames_cap) {
        float *p = rill__malloc(frames * ch * sizeof *p);
        if (p == NULL) {
            rill__log_error("dash: out of memory for a %zu-frame buffer",
                            frames);
            return;
        }
        rill__free(d->frames);
        d->frames = p;
        d->frames_cap = frames * ch;
    }
    /* Just after a restart, buffers of the previous streams may still be
     * in flight and make blocks where the new channels have no values
     * yet: those are skipped, not handed over as silence. */
    if (d->warming) {
        for (size_t i = 0; i < blk->n; i++)
            if (blk->buffers[i].count < frames)
                return;
        d->warming = false;
    }
    memset(d->frames, 0, frames * ch * sizeof *d->frames);
    uint32_t dropped = 0;
    for (size_t i = 0; i < blk->n; i++) {
        const rill_client_buffer *b = &blk->buffers[i];
        size_t c = 0;
        while (c < ch && strcmp(d->audio.variables[c], b->name) != 0)
            c++;
        if (c == ch || b->type != RILL_TYPE_FLOAT)
            continue;
        const float *v = b->values;
        uint64_t off = b->first_ts - blk->first_ts;
        for (size_t k = 0; k < b->count; k++) {
            uint64_t f = off + (b->rel != NULL ? b->rel[k] : k);
            if (f < frames)
                d->frames[f * ch + c] = v[k];
        }
        if (b->dropped > dropped)
            dropped = b->dropped;
    }
    d->cfg.on_data(d, d->frames, frames, ch, blk->first_ts, dropped,
                   d->cfg.user);
}

static void on_client_error(rill_client *cl, int err, const char *msg,
                            void *user) {
    (void)cl;
    rill_dash *d = user;
    if (err == RILL_ECLOSED)
        d->closed_told = true;
    if (d->cfg.on_error != NULL)
        d->cfg.on_error(d, err, msg, d->cfg.user);
}

/* Polling thread: buffers come here only for the `last` mark of the
 * streams being stopped (see apply_config). */
static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    rill_dash *d = user;
    if (!d->restarting || !b->last)
        return;
    for (size_t c = 0; c < d->old.channels; c++)
        if (strcmp(d->old.variables[c], b->name) == 0 && !d->ended[c]) {
            d->ended[c] = true;
            d->n_ended++;
        }
}

/* A native stream leaves the client's block group with its last buffer,
 * which arrives after the stop: a restart before it would see the old
 * stream's end take the variable out of the new group, and blocks of the
 * old channels still wait in the poll queue. So the queue is run, its
 * blocks dropped, until every old channel's last buffer has come out
 * (the I/O thread had then handled it), for at most 2 s. */
static void wait_streams_ended(rill_dash *d) {
    d->restarting = true;
    d->n_ended = 0;
    memset(d->ended, 0, sizeof d->ended);
    uint64_t end = rill_clock_now_ns() + 2000000000u;
    while (d->n_ended < d->old.channels && rill_clock_now_ns() < end)
        if (rill_client_poll(d->cl, 20) < 0)
            break;
    if (d->n_ended < d->old.channels)
        rill__log_warn("dash: the audio streams did not end within 2 s");
    d->restarting = false;
}

/* Polling thread: a new configuration takes effect. The audio streams
 * restart with its channels, in buffers of its size. */
static int apply_config(rill_dash *d) {
    pthread_mutex_lock(&d->lock);
    if (!d->pending) {
        pthread_mutex_unlock(&d->lock);
        return 0;
    }
    d->pending = false;
    d->old = d->audio;
    d->has_audio = d->next_has;
    if (d->next_has)
        d->audio = d->next;
    rill_audio_desc a = d->audio;
    bool has = d->has_audio;
    pthread_mutex_unlock(&d->lock);
    if (d->streaming) {
        rill_client_stream_stop(d->cl, NULL, 0);
        d->streaming = false;
        wait_streams_ended(d);
    }
    if (has && d->cfg.on_data != NULL) {
        const char *names[RILL_AUDIO_MAX_CHANNELS];
        for (size_t i = 0; i < a.channels; i++)
            names[i] = a.variables[i];
        rill_client_stream_opts opts = {0, 0, a.buffer_frames, a.buffer_frames};
        int rc = rill_client_stream_start(d->cl, names, a.channels, &opts);
        if (rc != 0)
            rill__log_error("dash: cannot stream the audio channels: %s",
                            rill_strerror(rc));
        d->streaming = rc == 0;
        d->warming = true;
    }
    if (d->cfg.on_config != NULL)
        d->cfg.on_config(d, has ? &a : NULL, d->cfg.user);
    return 1;
}

static int deliver_errors(rill_dash *d) {
    char errors[DASH_MAX_ERRORS][DASH_ERR_LEN];
    pthread_mutex_lock(&d->lock);
    size_t n = d->n_errors;
    memcpy(errors, d->errors, n * sizeof errors[0]);
    d->n_errors = 0;
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++) {
        rill__log_warn("dash: the server refused: %s", errors[i]);
        if (d->cfg.on_error != NULL)
            d->cfg.on_error(d, RILL_EPROTO, errors[i], d->cfg.user);
    }
    return (int)n;
}

int rill_dash_connect(const rill_dash_config *cfg, rill_dash **out) {
    if (cfg == NULL || out == NULL)
        return RILL_EINVAL;
    *out = NULL;
    rill_dash *d = rill__calloc(1, sizeof *d);
    if (d == NULL)
        return RILL_ENOMEM;
    d->cfg = *cfg;
    d->next_id = 1;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    rill_client_config cc = rill_client_config_default();
    if (cfg->url != NULL)
        cc.url = cfg->url;
    cc.token = cfg->token;
    if (cfg->timeout_ms > 0)
        cc.timeout_ms = cfg->timeout_ms;
    cc.mode = RILL_CLIENT_NATIVE;
    cc.poll = true;
    if (cfg->poll_bytes != 0)
        cc.poll_bytes = cfg->poll_bytes;
    cc.on_block = on_block;
    cc.on_buffer = on_buffer;
    cc.on_error = on_client_error;
    cc.on_text = on_text;
    cc.user = d;
    int rc = rill_client_connect(&cc, &d->cl);
    if (rc != 0)
        goto fail;
    /* Our own list request (a string id the client leaves alone), whose
     * reply on_text reads the audio description from. */
    static const char list[] = "{\"id\":\"rill-dash\",\"watcher\":[{\"cmd\":\"list\"}]}";
    rc = rill_client_send_message(d->cl, false, list, sizeof list - 1, NULL, 0);
    if (rc != 0)
        goto fail;
    uint64_t deadline = rill_clock_now_ns() + (uint64_t)cc.timeout_ms * 1000000u;
    pthread_mutex_lock(&d->lock);
    while (!d->list_seen && rill_clock_now_ns() < deadline) {
        pthread_mutex_unlock(&d->lock);
        rill__sleep_ns(2000000);
        pthread_mutex_lock(&d->lock);
    }
    bool seen = d->list_seen;
    pthread_mutex_unlock(&d->lock);
    if (!seen) {
        rill__log_error("dash: %s did not answer a list request in %d ms",
                        cc.url, cc.timeout_ms);
        rc = RILL_ETIMEOUT;
        goto fail;
    }
    *out = d;
    return 0;
fail:
    rill_dash_destroy(d);
    return rc;
}

void rill_dash_destroy(rill_dash *d) {
    if (d == NULL)
        return;
    rill_client_destroy(d->cl);
    while (d->handlers != NULL) {
        rill_dash_handler *h = d->handlers;
        d->handlers = h->next;
        rill__free(h);
    }
    rill__free(d->frames);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    rill__free(d);
}

rill_client *rill_dash_client(rill_dash *d) { return d->cl; }

int rill_dash_get_audio(rill_dash *d, rill_audio_desc *out) {
    if (d == NULL || out == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&d->lock);
    /* The latest announced, even before a poll applied it. */
    bool has = d->pending ? d->next_has : d->has_audio;
    if (has)
        *out = d->pending ? d->next : d->audio;
    pthread_mutex_unlock(&d->lock);
    return has ? 0 : RILL_ENOTFOUND;
}

int rill_dash_poll(rill_dash *d, int timeout_ms) {
    if (d == NULL)
        return RILL_EINVAL;
    uint64_t start = rill_clock_now_ns();
    for (;;) {
        int ran = apply_config(d) + deliver_errors(d);
        int slice = ran != 0 ? 0 : 50;
        if (timeout_ms >= 0) {
            uint64_t spent_ms = (rill_clock_now_ns() - start) / 1000000u;
            int left = spent_ms >= (uint64_t)timeout_ms
                           ? 0
                           : timeout_ms - (int)spent_ms;
            if (left < slice)
                slice = left;
        }
        int rc = rill_client_poll(d->cl, slice);
        if (rc == RILL_ECLOSED) {
            if (!d->closed_told) {
                d->closed_told = true;
                if (d->cfg.on_error != NULL)
                    d->cfg.on_error(d, RILL_ECLOSED, "the connection closed",
                                    d->cfg.user);
            }
            return ran != 0 ? ran : RILL_ECLOSED;
        }
        if (rc > 0)
            ran += rc;
        if (ran != 0)
            return ran;
        if (timeout_ms >= 0 &&
            rill_clock_now_ns() - start >= (uint64_t)timeout_ms * 1000000u)
            return 0;
    }
}

int rill_dash_run(rill_dash *d, int duration_ms) {
    uint64_t end = rill_clock_now_ns() + (uint64_t)duration_ms * 1000000u;
    for (;;) {
        int left = 100;
        if (duration_ms >= 0) {
            uint64_t now = rill_clock_now_ns();
            if (now >= end)
                return 0;
            left = (int)RILL__MIN((end - now) / 1000000u + 1, (uint64_t)100);
        }
        int rc = rill_dash_poll(d, left);
        if (rc == RILL_ECLOSED)
            return rc;
    }
}

/* ---- Handlers ---------------------------------------------------------------- */

static int send_text(rill_dash *d, const char *text, size_t len) {
    if (len > RILL_DASH_MAX_MESSAGE) {
        rill__log_error("dash: a %zu-byte message is over the server's "
                        "%d-byte limit; send binary frames or smaller parts",
                        len, RILL_DASH_MAX_MESSAGE);
        return RILL_ERANGE;
    }
    return rill_client_send_message(d->cl, false, text, len, NULL, 0);
}

/* A handler's type or name: UTF-8 (JSON strings are) of at most `max`
 * bytes; false, logged, if not. */
static bool handler_text_ok(const char *what, const char *text, size_t max) {
    size_t n = strlen(text);
    json_t *j = json_string(text);
    bool utf8 = j != NULL;
    json_decref(j);
    if (n <= max && utf8)
        return true;
    if (!utf8)
        rill__log_error("dash: a handler's %s must be UTF-8 text", what);
    else
        rill__log_error("dash: a handler's %s is at most %zu bytes, not %zu "
                        "(\"%.40s...\")", what, max, n, text);
    return false;
}

rill_dash_handler *rill_dash_add_handler(rill_dash *d, const char *name,
                                         const char *type,
                                         const char *params_json) {
    if (d == NULL || type == NULL || *type == '\0') {
        rill__log_error("dash: rill_dash_add_handler needs a dash and a type");
        return NULL;
    }
    /* The server's rules, said here rather than by an error that comes
     * back later to on_error with the handler already returned. */
    if (!handler_text_ok("type", type, RILL_DASH_TYPE_MAX) ||
        (name != NULL && !handler_text_ok("name", name, RILL_DASH_NAME_MAX)))
        return NULL;
    json_t *params = NULL;
    if (params_json != NULL) {
        json_error_t jerr;
        params = json_loads(params_json, 0, &jerr);
        if (!json_is_object(params)) {
            rill__log_error("dash: handler \"%s\": the parameters must be a "
                            "JSON object (%s at line %d, column %d)",
                            name ? name : type,
                            params ? "not an object" : jerr.text, jerr.line,
                            jerr.column);
            json_decref(params);
            return NULL;
        }
    }
    rill_dash_handler *h = rill__calloc(1, sizeof *h);
    if (h == NULL) {
        json_decref(params);
        return NULL;
    }
    h->dash = d;
    pthread_mutex_lock(&d->lock);
    h->id = d->next_id++;
    pthread_mutex_unlock(&d->lock);
    json_t *jtype = json_string(type);
    json_t *jname = name != NULL ? json_string(name) : NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = jtype != NULL && (name == NULL || jname != NULL)
                 ? rill__handler_create_msg(h->id, jtype, jname, params, &text,
                                            &len)
                 : RILL_ENOMEM;
    json_decref(jtype);
    json_decref(jname);
    json_decref(params);
    if (rc == 0)
        rc = send_text(d, text, len);
    rill__free(text);
    if (rc != 0) {
        rill__log_error("dash: cannot create handler \"%s\": %s",
                        name ? name : type, rill_strerror(rc));
        rill__free(h);
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    h->next = d->handlers;
    if (d->handlers != NULL)
        d->handlers->prev = h;
    d->handlers = h;
    pthread_mutex_unlock(&d->lock);
    return h;
}

uint32_t rill_dash_handler_id(const rill_dash_handler *h) { return h->id; }

int rill_dash_send_json(rill_dash_handler *h, const char *data_json,
                        uint64_t tick) {
    if (h == NULL || data_json == NULL)
        return RILL_EINVAL;
    json_error_t jerr;
    json_t *data = json_loads(data_json, JSON_DECODE_ANY, &jerr);
    if (data == NULL) {
        rill__log_error("dash: handler %u: the data is not JSON: %s (line "
                        "%d, column %d)",
                        h->id, jerr.text, jerr.line, jerr.column);
        return RILL_EINVAL;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = rill__handler_data_msg(h->id, data, tick != 0, tick, &text, &len);
    json_decref(data);
    if (rc == 0)
        rc = send_text(h->dash, text, len);
    rill__free(text);
    return rc;
}

static int send_frame(rill_dash_handler *h, char letter, const void *values,
                      size_t count, uint32_t arg, unsigned flags,
                      uint64_t tick) {
    size_t size = rill__handler_value_size(letter);
    if (h == NULL || (count != 0 && values == NULL) ||
        (flags & ~RILL__HANDLER_FLAGS_KNOWN) != 0)
        return RILL_EINVAL;
    if (count > (RILL_DASH_MAX_MESSAGE - RILL__HANDLER_FRAME_HEADER) / size) {
        rill__log_error("dash: handler %u: %zu values make a frame over the "
                        "server's %d-byte limit; send them in parts",
                        h->id, count, RILL_DASH_MAX_MESSAGE);
        return RILL_ERANGE;
    }
    rill__handler_frame f = {
        .type = letter,
        .flags = (uint8_t)flags,
        .handler = h->id,
        .seq = atomic_fetch_add(&h->seq, 1),
        .tick = tick,
        .count = (uint32_t)count,
        .arg = arg,
    };
    uint8_t hdr[RILL__HANDLER_FRAME_HEADER];
    if (rill__handler_frame_header_encode(&f, hdr) != 0)
        return RILL_EINVAL;
    /* Little-endian hosts only (client.c asserts it): the values go out as
     * they are. */
    return rill_client_send_message(h->dash->cl, true, hdr, sizeof hdr, values,
                                    count * size);
}

int rill_dash_send_values(rill_dash_handler *h, rill_type type,
                          const void *values, size_t count, uint32_t arg,
                          unsigned flags, uint64_t tick) {
    char letter = type == RILL_TYPE_FLOAT    ? 'f'
                  : type == RILL_TYPE_DOUBLE ? 'd'
                  : type == RILL_TYPE_INT32  ? 'i'
                                             : 0;
    if (letter == 0) {
        rill__log_error("dash: handler frames carry float, double or int32 "
                        "values");
        return RILL_EINVAL;
    }
    return send_frame(h, letter, values, count, arg, flags, tick);
}

int rill_dash_send_pcm16(rill_dash_handler *h, const int16_t *pcm,
                         size_t frames, uint32_t channels, uint64_t tick) {
    if (channels == 0)
        return RILL_EINVAL;
    return send_frame(h, 'h', pcm, frames * channels, channels, 0, tick);
}

int rill_dash_remove_handler(rill_dash_handler *h) {
    if (h == NULL)
        return 0;
    rill_dash *d = h->dash;
    char *text = NULL;
    size_t len = 0;
    int rc = rill__handler_remove_msg(h->id, &text, &len);
    if (rc == 0)
        rc = send_text(d, text, len);
    rill__free(text);
    pthread_mutex_lock(&d->lock);
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        d->handlers = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&d->lock);
    rill__free(h);
    return rc;
}
