/* The client's I/O thread: decoding what the device sends. Native
 * messages arrive on the control socket, or Bela's header + body pairs on
 * /gui_data in compatibility mode; control messages answer requests
 * (request.c) or are notices. A stream buffer goes to a waiting collector
 * (rill_client_stream_n_values), or to the user through deliver.c (now or
 * queued for rill_client_poll) and, with on_block, through the aligner
 * (align.c); it may also end a schedule (stream.c). */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"
#include "proto/audio.h"
#include "proto/native.h"
#include "proto/wire.h"

static rill_client_var *var_by_id(rill_client *cl, uint32_t id) {
    rill_client_list *l = cl->vars;
    return l != NULL && id < l->n_vars ? &l->vars[id] : NULL;
}

/* A schedule's last variable ended: its completion runs (or is queued for
 * rill_client_poll) before rill_client_wait can see it finished. lock not
 * held. */
void rill__client_schedule_finished(rill_client *cl, rill_client_done_fn fn,
                                    void *user, int err) {
    rill__deliver_done(cl, fn, user, err);
    pthread_mutex_lock(&cl->lock);
    cl->sched_pending--;
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
}

/* The group of on_block as the requests left it, for the aligner: the
 * variables in the order they were started. lock held. */
static void rebuild_group(rill_client *cl) {
    cl->align_gen = cl->group_gen;
    size_t n = 0, nv = cl->vars->n_vars;
    rill__align_member *m = rill__calloc(nv ? nv : 1, sizeof *m);
    uint64_t *order = rill__calloc(nv ? nv : 1, sizeof *order);
    uint64_t span = cl->group_block;
    if (m == NULL || order == NULL) {
        rill__log_error("out of memory: no aligned blocks");
        n = 0;
    } else {
        for (size_t i = 0; i < nv; i++) {
            const rill__var_state *st = &cl->vs[i];
            if (!st->in_group)
                continue;
            const rill_client_var *v = &cl->vars->vars[i];
            size_t j = n++;
            while (j > 0 && order[j - 1] > st->order) {
                m[j] = m[j - 1];
                order[j] = order[j - 1];
                j--;
            }
            m[j] = (rill__align_member){v->id, v->name, v->type, v->mode,
                                        st->from};
            order[j] = st->order;
            if (cl->group_block == 0)
                span = RILL__MAX(span, (uint64_t)st->length);
        }
    }
    if (rill__align_set_group(cl->align, m, n, span) != 0)
        rill__log_error("out of memory: no aligned blocks");
    rill__free(m);
    rill__free(order);
}

/* A buffer to on_buffer, its values used where they are in the receive
 * buffer (little-endian, as the host). The message sits at whatever offset
 * the frames before it left it at, though: when the values (or the
 * relative ticks) are not aligned for their type they are copied to
 * aligned arrays first, for the user reads them as arrays of the type.
 * Float and int streams of whole buffers stay aligned message after
 * message (every frame is a multiple of 4 bytes long). */
static void deliver_stream(rill_client *cl, const rill_client_var *v,
                           uint64_t first_ts, size_t count,
                           const uint8_t *values, const uint8_t *rel,
                           uint32_t dropped, bool last) {
    if (cl->cfg.on_buffer == NULL)
        return;
    size_t size = rill_type_size(v->type);
    if (((uintptr_t)values & (size - 1)) == 0 &&
        ((uintptr_t)rel & 3) == 0) {
        rill_client_buffer b = {v->name, v->id,   v->type,
                                v->mode, first_ts, count,
                                count ? values : NULL,
                                (const uint32_t *)(const void *)rel,
                                dropped, last};
        rill__deliver_buffer(cl, &b);
        return;
    }
    if (count > cl->scratch_cap) {
        void *nv = rill__malloc(count * 8);
        uint32_t *nr = rill__malloc(count * 4);
        if (nv == NULL || nr == NULL) {
            rill__free(nv);
            rill__free(nr);
            rill__log_error("out of memory; a buffer of %s lost", v->name);
            atomic_fetch_add(&cl->dropped, 1);
            return;
        }
        rill__free(cl->scratch_values);
        rill__free(cl->scratch_rel);
        cl->scratch_values = nv;
        cl->scratch_rel = nr;
        cl->scratch_cap = count;
    }
    if (count > 0)
        memcpy(cl->scratch_values, values, count * size);
    if (rel != NULL && count > 0)
        memcpy(cl->scratch_rel, rel, count * 4);
    rill_client_buffer b = {v->name,
                            v->id,
                            v->type,
                            v->mode,
                            first_ts,
                            count,
                            cl->scratch_values,
                            rel != NULL ? cl->scratch_rel : NULL,
                            dropped,
                            last};
    rill__deliver_buffer(cl, &b);
}

/* ---- Collectors (stream_n_values, monitor_n_values) -----------------------
 */

/* One more value of a collecting variable; the request is done when every
 * variable has collect_n. lock held. */
static void collect_value(rill_client *cl, rill__var_state *st, uint64_t tick,
                          double value) {
    if (st->have == cl->collect_n || cl->collect_done)
        return;
    st->values[st->have] = value;
    st->ticks[st->have] = tick;
    if (++st->have == cl->collect_n && --cl->collect_left == 0) {
        cl->collect_done = true;
        pthread_cond_broadcast(&cl->cond);
    }
}

/* A stream buffer of a collecting variable. Earlier streams' buffers (a
 * late final one, Bela's zero padding) start before collect_start; a loss
 * ends the request with nothing. lock held. */
static void collect_buffer(rill_client *cl, const rill_client_var *v,
                           uint64_t first_ts, size_t count,
                           const uint8_t *values, const uint8_t *rel,
                           uint32_t dropped) {
    rill__var_state *st = &cl->vs[v->id];
    if (first_ts < cl->collect_start || cl->collect_done ||
        st->have == cl->collect_n)
        return;
    if (dropped != 0 || (v->mode == RILL_TS_DENSE && st->have != 0 &&
                         first_ts != st->ticks[st->have - 1] + 1)) {
        cl->collect_gap = v->name;
        cl->collect_done = true;
        pthread_cond_broadcast(&cl->cond);
        return;
    }
    size_t size = rill_type_size(v->type);
    for (size_t i = 0; i < count; i++) {
        uint32_t r = (uint32_t)i;
        if (rel != NULL)
            memcpy(&r, rel + 4 * i, 4);
        collect_value(cl, st, first_ts + r,
                      rill_value_to_double(v->type, values + i * size));
    }
}

static void on_stream(rill_client *cl, const rill_client_var *v,
                      uint64_t first_ts, size_t count, const uint8_t *values,
                      const uint8_t *rel, uint32_t dropped, bool last) {
    pthread_mutex_lock(&cl->lock);
    if (cl->vs[v->id].collect == RILL__COLLECT_STREAM ||
        cl->vs[v->id].mute == RILL__COLLECT_STREAM) {
        if (cl->vs[v->id].collect == RILL__COLLECT_STREAM)
            collect_buffer(cl, v, first_ts, count, values, rel, dropped);
        pthread_mutex_unlock(&cl->lock);
        return;
    }
    rill__var_state *st = &cl->vs[v->id];
    bool ended = last;
    rill_client_done_fn done_fn = NULL;
    void *done_user = NULL;
    int done_err = 0;
    bool finished = false;
    bool scheduled = st->sched >= 0;
    if (scheduled && !cl->native && first_ts < st->from) {
        /* A Bela's watch stream is shared: a buffer from before the start
         * (another client's stream, still on its way) is not this run's,
         * whose first buffer starts at `from`. */
        pthread_mutex_unlock(&cl->lock);
        return;
    }
    if (scheduled) {
        rill__sched *sc = &cl->sched[st->sched];
        if (dropped != 0)
            sc->err = RILL_EIO;
        /* A Bela ends a scheduled stream with the value at the end tick
         * (one more than asked) and pads the rest with zeros, which in a
         * sparse buffer have relative tick 0: keep [start, end). */
        if (!cl->native) {
            size_t keep = 0;
            uint64_t prev = first_ts;
            ended = false;
            for (; keep < count; keep++) {
                uint32_t r = (uint32_t)keep;
                if (rel != NULL)
                    memcpy(&r, rel + 4 * keep, 4);
                uint64_t t = first_ts + r;
                if (t >= st->sched_end) {
                    ended = true;
                    break;
                }
                if (t < prev)
                    break;
                prev = t;
            }
            count = keep;
        }
        if (ended) {
            st->sched = -1;
            st->streaming = false;
            if (--sc->pending == 0) {
                done_fn = sc->fn;
                done_user = sc->user;
                done_err = sc->err;
                if (done_err != 0 && cl->sched_err == 0)
                    cl->sched_err = done_err;
                finished = true;
            }
        }
    }
    /* Where the variable's values got to, and a gap a reconnection left
     * (reconnect.c), said just before the values that end it. */
    rill__event gap;
    gap.ev.kind = 0;
    if (count > 0) {
        uint32_t r = (uint32_t)(count - 1);
        if (rel != NULL)
            memcpy(&r, rel + 4 * (count - 1), 4);
        rill__client_note_values(cl, v, first_ts, first_ts + r + 1, &gap);
    }
    bool blocks = cl->cfg.on_block != NULL;
    if (blocks && cl->group_gen != cl->align_gen)
        rebuild_group(cl);
    /* A schedule's end leaves the group with its last block; a stopped
     * stream left it at the stop (its late last buffer, which may come
     * after the variable was started again, changes nothing). */
    bool in_group = st->in_group;
    bool group_end = ended && scheduled;
    if (group_end)
        st->in_group = false;
    pthread_mutex_unlock(&cl->lock);
    rill__deliver_event(cl, &gap);
    if (count > 0 || last)
        deliver_stream(cl, v, first_ts, count, values, rel, dropped, ended);
    if (blocks && in_group)
        rill__align_push(cl->align, v->id, first_ts, count, values, rel,
                         dropped, group_end);
    if (finished)
        rill__client_schedule_finished(cl, done_fn, done_user, done_err);
}

/* A monitored value: to a waiting peek, else to the user's callback. */
static void on_monitor(rill_client *cl, uint32_t id, uint64_t tick,
                       double value) {
    pthread_mutex_lock(&cl->lock);
    rill__var_state *st = id < cl->vars->n_vars ? &cl->vs[id] : NULL;
    if (st != NULL && (st->collect == RILL__COLLECT_MONITOR ||
                       st->mute == RILL__COLLECT_MONITOR)) {
        if (st->collect == RILL__COLLECT_MONITOR && tick >= cl->collect_start)
            collect_value(cl, st, tick, value);
        pthread_mutex_unlock(&cl->lock);
        return;
    }
    if (cl->peek_var == (int32_t)id && !cl->peek_done) {
        cl->peek_done = true;
        cl->peek_value = value;
        cl->peek_tick = tick;
        pthread_cond_broadcast(&cl->cond);
        pthread_mutex_unlock(&cl->lock);
        return;
    }
    pthread_mutex_unlock(&cl->lock);
    const rill_client_var *v = var_by_id(cl, id);
    if (v != NULL)
        rill__deliver_monitor(cl, v->name, tick, value);
}

/* Data the client cannot decode: dropped, and said (log, on_error). */
static void bad_data(rill_client *cl, const char *why) {
    char msg[RILL__WIRE_ERR_CAP + 128];
    snprintf(msg, sizeof msg, "undecodable data from the device, dropped: %s",
             why);
    rill__log_warn("%s", msg);
    rill__deliver_error(cl, RILL_EPROTO, msg);
}

static void on_native(rill_client *cl, const uint8_t *data, size_t len) {
    rill__native_msg m;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__native_decode(data, len, &m, err, sizeof err) != 0) {
        bad_data(cl, err);
        return;
    }
    rill_client_var *v = var_by_id(cl, m.h.var_id);
    if (v == NULL) {
        snprintf(err, sizeof err,
                 "data for variable id %u, which the "
                 "device did not list",
                 m.h.var_id);
        bad_data(cl, err);
        return;
    }
    if (m.h.kind == RILL__NATIVE_MONITOR) {
        on_monitor(cl, v->id, m.h.first_ts,
                   rill_value_to_double(v->type, m.values));
        return;
    }
    if (m.h.kind == RILL__NATIVE_STREAM) {
        /* Values and timestamps are little-endian in the message: on the
         * little-endian hosts rill supports they are used in place. */
        on_stream(cl, v, m.h.first_ts, m.h.count, m.values, m.rel, m.h.dropped,
                  (m.h.flags & RILL__NATIVE_FLAG_LAST) != 0);
    } else if (m.h.kind == RILL__NATIVE_END) {
        on_stream(cl, v, m.h.first_ts, 0, NULL, NULL, m.h.dropped, true);
    }
}

/* Compatibility data: "<id>/<t>" then a 4104-byte body or a monitor frame
 * (spec §3), parsed as a state machine: a header may follow a header. */
static void on_compat_data(rill_client *cl, const uint8_t *data, size_t len) {
    uint32_t id;
    rill_type type;
    if (len <= RILL__BELA_HEADER_MAX &&
        rill__bela_header_decode(data, len, &id, &type, NULL, 0) == 0) {
        cl->hdr_id = id;
        return;
    }
    rill_client_var *v =
        cl->hdr_id >= 0 ? var_by_id(cl, (uint32_t)cl->hdr_id) : NULL;
    cl->hdr_id = -1;
    if (v == NULL)
        return;
    char err[RILL__WIRE_ERR_CAP];
    if (len == RILL__BELA_BODY_BYTES) {
        rill__bela_body body;
        if (rill__bela_body_decode(data, len, v->type, v->mode, &body, err,
                                   sizeof err) == 0)
            on_stream(cl, v, body.ref, body.n, body.values, body.rel, 0, false);
        else
            bad_data(cl, err);
        return;
    }
    uint64_t tick;
    const uint8_t *value;
    if (rill__bela_monitor_decode(data, len, v->type, &tick, &value, err,
                                  sizeof err) == 0)
        on_monitor(cl, v->id, tick, rill_value_to_double(v->type, value));
    else
        bad_data(cl, err);
}

static void copy_var(json_t *o, uint32_t id, rill_client_var *v) {
    memset(v, 0, sizeof *v);
    v->id = id;
    const char *name = json_string_value(json_object_get(o, "name"));
    snprintf(v->name, sizeof v->name, "%s", name ? name : "");
    const char *t = json_string_value(json_object_get(o, "type"));
    if (t == NULL || rill_type_from_letter(t[0], &v->type) != 0)
        v->type = RILL_TYPE_FLOAT;
    v->mode = json_integer_value(json_object_get(o, "timestampMode")) == 1
                  ? RILL_TS_SPARSE
                  : RILL_TS_DENSE;
    v->length = (uint32_t)rill__bela_values_per_buffer(v->type, v->mode);
    v->watched = json_is_true(json_object_get(o, "watched"));
    v->logged = json_is_true(json_object_get(o, "logged"));
    v->controlled = json_is_true(json_object_get(o, "controlled"));
    v->monitor = (uint32_t)json_integer_value(json_object_get(o, "monitor"));
    v->value = json_number_value(json_object_get(o, "value"));
    const char *lf = json_string_value(json_object_get(o, "logFileName"));
    snprintf(v->log_file_name, sizeof v->log_file_name, "%s", lf ? lf : "");
}

/* The list reply as plain structs, built here on the I/O thread: jansson
 * objects must not be shared between threads (their reference counts are
 * not atomic). */
int rill__client_build_list(json_t *root, rill_client_list **out) {
    json_t *w = json_object_get(root, "watcher");
    json_t *arr = json_object_get(w, "watchers");
    size_t n = json_array_size(arr);
    rill_client_list *l = rill__calloc(1, sizeof *l);
    rill_client_var *vars = rill__calloc(n ? n : 1, sizeof *vars);
    if (l == NULL || vars == NULL) {
        rill__free(l);
        rill__free(vars);
        return RILL_ENOMEM;
    }
    l->sample_rate = json_number_value(json_object_get(w, "sampleRate"));
    l->timestamp = (uint64_t)json_number_value(json_object_get(w, "timestamp"));
    l->n_vars = n;
    l->vars = vars;
    for (size_t i = 0; i < n; i++)
        copy_var(json_array_get(arr, i), (uint32_t)i, &vars[i]);
    *out = l;
    return 0;
}


/* A refused monitor command for the variable rill_client_peek waits on
 * (the device has no room for its stream): the peek fails at once with
 * RILL_EBUSY instead of at its timeout. With cl->lock held. */
static void refuse_peek(rill_client *cl, const char *name) {
    if (cl->peek_var < 0 || cl->peek_done || cl->vars == NULL)
        return;
    for (size_t i = 0; i < cl->vars->n_vars; i++)
        if ((int32_t)cl->vars->vars[i].id == cl->peek_var &&
            strcmp(cl->vars->vars[i].name, name) == 0) {
            cl->peek_rc = RILL_EBUSY;
            cl->peek_done = true;
            pthread_cond_broadcast(&cl->cond);
        }
}

static void on_control(rill_client *cl, const uint8_t *data, size_t len) {
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, 0, &jerr);
    /* The log-scheduled notice says "no end" with 2^64 - 1, which jansson
     * reads only as a real (docs/PROTOCOL.md); nothing here reads its
     * numbers. */
    if (root == NULL)
        root =
            json_loadb((const char *)data, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        char why[RILL__WIRE_ERR_CAP + 64];
        snprintf(why, sizeof why,
                 "a control message that is not a JSON "
                 "object (%s)",
                 root == NULL ? jerr.text : "another JSON value");
        bad_data(cl, why);
        return;
    }
    char refused[1024] = ""; /* as long as a log line (core/log.c) */
    int refused_err = RILL_EINVAL;
    json_t *w = json_object_get(root, "watcher");
    json_t *rill = json_object_get(root, "rill");
    json_t *ev = json_object_get(root, "event");
    json_t *error = json_object_get(root, "error");
    rill__event notice;
    pthread_mutex_lock(&cl->lock);
    /* Logs starting, ending, failing: for rill_client_log_wait (session.c).
     * Only notes them; the chain below still sees every message. */
    rill__client_log_notice(cl, root, &notice);
    if (json_is_object(w) && json_object_get(w, "sampleRate") != NULL &&
        rill__client_relink_list(cl, root)) {
        /* the reconnection's own list (reconnect.c) */
    } else if (json_is_object(w) && json_object_get(w, "sampleRate") != NULL) {
        json_t *id = json_object_get(root, "id");
        /* rill serve echoes the request id; a Bela board sends none, and
         * then the next list reply is the answer. */
        if (cl->list_id >= 0 && cl->list_reply == NULL &&
            (id == NULL ||
             (json_is_integer(id) && json_integer_value(id) == cl->list_id))) {
            cl->list_rc = rill__client_build_list(root, &cl->list_reply);
            if (cl->list_reply != NULL &&
                cl->list_reply->timestamp > cl->max_tick)
                cl->max_tick = cl->list_reply->timestamp;
            /* Native replies carry the audio description (rill serve);
             * rill_client_get_audio reads it from here. */
            json_t *audio = json_object_get(w, "audio");
            cl->list_audio_rc =
                audio == NULL || json_is_null(audio)
                    ? RILL_ENOTFOUND
                    : rill__audio_desc_parse(audio, &cl->list_audio);
            cl->list_ready = true;
            pthread_cond_broadcast(&cl->cond);
        }
    } else if (json_is_string(rill) &&
               strcmp(json_string_value(rill), "hello") == 0) {
        cl->hello = true;
        /* A restarted rill serve has another run (reconnect.c). */
        cl->server_run =
            (uint64_t)json_integer_value(json_object_get(root, "run"));
        json_t *first = json_object_get(root, "firstTick");
        cl->server_first = json_is_integer(first)
                               ? (uint64_t)json_integer_value(first) + 1
                               : 0;
        json_t *block = json_object_get(root, "blockTicks");
        cl->server_block = json_is_integer(block) && json_integer_value(block) > 0
                               ? (uint64_t)json_integer_value(block)
                               : 0;
        pthread_cond_broadcast(&cl->cond);
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "connection") == 0) {
        cl->got_connection = true;
        pthread_cond_broadcast(&cl->cond);
    } else if (cl->audio_id >= 0 && !cl->audio_done &&
               json_integer_value(json_object_get(
                   json_is_object(error) ? error : root, "id")) ==
                   cl->audio_id &&
               (json_is_object(error) ||
                (json_is_string(ev) &&
                 strcmp(json_string_value(ev), "audio-config") == 0))) {
        /* The answer to rill_client_change_audio: done, or why not. */
        json_t *msg =
            json_is_object(error) ? json_object_get(error, "message") : NULL;
        cl->audio_rc = json_is_object(error) ? RILL_EINVAL : 0;
        /* The device's sentence without the protocol's framing around
         * it ("audio-config: ...; refused"): the caller says "not changed". */
        const char *m = json_is_string(msg) ? json_string_value(msg) : "";
        if (strncmp(m, "audio-config: ", 14) == 0)
            m += 14;
        if (strncmp(m, "refused: ", 9) == 0)
            m += 9;
        size_t n = strlen(m);
        if (n >= 9 && strcmp(m + n - 9, "; refused") == 0)
            n -= 9;
        snprintf(cl->audio_why, sizeof cl->audio_why, "%.*s", (int)n, m);
        cl->audio_done = true;
        pthread_cond_broadcast(&cl->cond);
    } else if (json_is_object(error)) {
        json_t *msg = json_object_get(error, "message");
        json_t *cmd = json_object_get(error, "cmd");
        json_t *var = json_object_get(error, "variable");
        const char *m = json_is_string(msg) ? json_string_value(msg) : "(no reason)";
        if (!json_is_string(cmd) && json_is_string(var)) {
            /* No command's answer: a report about a variable (a log file's
             * write failed), to every client. */
            snprintf(refused, sizeof refused, "the device reports: %s", m);
            refused_err = RILL_EIO;
        } else {
            snprintf(refused, sizeof refused, "the device refused a command: %s", m);
            if (json_is_string(cmd) && strcmp(json_string_value(cmd), "monitor") == 0 &&
                json_is_string(var))
                refuse_peek(cl, json_string_value(var));
        }
        rill__log_warn("%s", refused);
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "dropped") == 0) {
        rill__log_info("the device dropped buffers for us");
    }
    pthread_mutex_unlock(&cl->lock);
    json_decref(root);
    rill__deliver_event(cl, &notice);
    if (refused[0] != '\0')
        rill__deliver_error(cl, refused_err, refused);
    if (cl->cfg.on_text != NULL)
        cl->cfg.on_text(cl, (const char *)data, len, cl->cfg.user);
}

void rill__client_on_msg(void *user, rill__ws *ws, const uint8_t *data,
                         size_t len, bool binary) {
    rill_client *cl = user;
    if (ws != NULL && ws == cl->data) /* NULL: an attached transport's */
        on_compat_data(cl, data, len);
    else if (binary)
        on_native(cl, data, len);
    else
        on_control(cl, data, len);
}

/* Every scheduled stream not finished yet ends with `err`. */
void rill__client_fail_schedules(rill_client *cl, int err) {
    pthread_mutex_lock(&cl->lock);
    size_t n = 0;
    rill__sched *failed =
        rill__calloc(cl->n_sched ? cl->n_sched : 1, sizeof *failed);
    for (size_t i = 0; i < cl->n_sched; i++) {
        rill__sched *sc = &cl->sched[i];
        if (sc->pending == 0)
            continue;
        sc->pending = 0;
        sc->err = err;
        if (failed != NULL)
            failed[n++] = *sc;
        else
            cl->sched_pending--;
    }
    for (size_t i = 0; cl->vs != NULL && i < cl->vars->n_vars; i++)
        cl->vs[i].sched = -1;
    if (cl->sched_err == 0 && n > 0)
        cl->sched_err = err;
    pthread_mutex_unlock(&cl->lock);
    for (size_t i = 0; i < n; i++)
        rill__client_schedule_finished(cl, failed[i].fn, failed[i].user, err);
    rill__free(failed);
}

void rill__client_on_block(const rill_client_block *blk, void *user) {
    rill__deliver_block(user, blk);
}
