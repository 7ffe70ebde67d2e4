/* rill_client: the host side's connection to a device. See client.h.
 *
 * One I/O thread owns the WebSocket(s) (net/ws.c) and decodes everything
 * that arrives: native messages on the control socket, or Bela's header +
 * body pairs on /gui_data in compatibility mode. Request functions run on
 * the caller's thread, one at a time (req_lock), send their command and,
 * when they need an answer, wait on `cond` for the I/O thread to post it,
 * never longer than the configured timeout.
 *
 * What the I/O thread decodes goes to the user through deliver.c (now, or
 * queued for rill_client_poll), buffers also through the aligner
 * (align.c) when on_block is set.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/internal.h"
#include "core/internal.h"
#include "watch/native.h"
#include "watch/wire.h"

/* How long connect waits for a {"rill":"hello"} answer before deciding the
 * server is a Bela board (which ignores the message). */
#define RILL__HELLO_WAIT_MS 300

/* ---- Decoding (I/O thread) ----------------------------------------------- */

static rill_client_var *var_by_id(rill_client *cl, uint32_t id) {
    rill_client_list *l = cl->vars;
    return l != NULL && id < l->n_vars ? &l->vars[id] : NULL;
}

/* A schedule's last variable ended: its completion runs (or is queued for
 * rill_client_poll) before rill_client_wait can see it finished. lock not
 * held. */
static void schedule_finished(rill_client *cl, rill_client_done_fn fn,
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
            m[j] = (rill__align_member){v->id, v->name, v->type, v->mode, st->from};
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

/* A buffer to on_buffer. The message sits at any offset of the receive
 * buffer: hand the user aligned arrays of its type. */
static void deliver_stream(rill_client *cl, const rill_client_var *v,
                           uint64_t first_ts, size_t count,
                           const uint8_t *values, const uint8_t *rel,
                           uint32_t dropped, bool last) {
    if (cl->cfg.on_buffer == NULL)
        return;
    size_t size = rill_type_size(v->type);
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
    rill_client_buffer b = {v->name, v->id,   v->type, v->mode,
                            first_ts, count,  cl->scratch_values,
                            rel != NULL ? cl->scratch_rel : NULL,
                            dropped,  last};
    rill__deliver_buffer(cl, &b);
}

/* ---- Collectors (stream_n_values, monitor_n_values) ----------------------- */

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
    if (count > 0 || last)
        deliver_stream(cl, v, first_ts, count, values, rel, dropped, ended);
    if (blocks && in_group)
        rill__align_push(cl->align, v->id, first_ts, count, values, rel,
                         dropped, group_end);
    if (finished)
        schedule_finished(cl, done_fn, done_user, done_err);
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
        snprintf(err, sizeof err, "data for variable id %u, which the "
                 "device did not list", m.h.var_id);
        bad_data(cl, err);
        return;
    }
    if (m.h.kind == RILL__NATIVE_MONITOR) {
        on_monitor(cl, v->id, m.h.first_ts, rill_value_to_double(v->type, m.values));
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
    rill_client_var *v = cl->hdr_id >= 0 ? var_by_id(cl, (uint32_t)cl->hdr_id) : NULL;
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
static int build_list(json_t *root, rill_client_list **out) {
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

static void on_control(rill_client *cl, const uint8_t *data, size_t len) {
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, 0, &jerr);
    /* The log-scheduled notice says "no end" with 2^64 - 1, which jansson
     * reads only as a real (docs/PROTOCOL.md); nothing here reads its
     * numbers. */
    if (root == NULL)
        root = json_loadb((const char *)data, len, JSON_DECODE_INT_AS_REAL,
                          &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        char why[RILL__WIRE_ERR_CAP + 64];
        snprintf(why, sizeof why, "a control message that is not a JSON "
                 "object (%s)", root == NULL ? jerr.text : "another JSON value");
        bad_data(cl, why);
        return;
    }
    char refused[600] = "";
    json_t *w = json_object_get(root, "watcher");
    json_t *rill = json_object_get(root, "rill");
    json_t *ev = json_object_get(root, "event");
    json_t *error = json_object_get(root, "error");
    pthread_mutex_lock(&cl->lock);
    if (json_is_object(w) && json_object_get(w, "sampleRate") != NULL) {
        json_t *id = json_object_get(root, "id");
        /* rill serve echoes the request id; a Bela board sends none, and
         * then the next list reply is the answer. */
        if (cl->list_id >= 0 && cl->list_reply == NULL &&
            (id == NULL || (json_is_integer(id) &&
                            json_integer_value(id) == cl->list_id))) {
            cl->list_rc = build_list(root, &cl->list_reply);
            cl->list_ready = true;
            pthread_cond_broadcast(&cl->cond);
        }
    } else if (json_is_string(rill) &&
               strcmp(json_string_value(rill), "hello") == 0) {
        cl->hello = true;
        pthread_cond_broadcast(&cl->cond);
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "connection") == 0) {
        cl->got_connection = true;
        pthread_cond_broadcast(&cl->cond);
    } else if (cl->audio_id >= 0 && !cl->audio_done &&
               json_integer_value(json_object_get(json_is_object(error) ? error : root,
                                                  "id")) == cl->audio_id &&
               (json_is_object(error) ||
                (json_is_string(ev) &&
                 strcmp(json_string_value(ev), "audio-config") == 0))) {
        /* The answer to rill_client_change_audio: done, or why not. */
        json_t *msg = json_is_object(error) ? json_object_get(error, "message") : NULL;
        cl->audio_rc = json_is_object(error) ? RILL_EINVAL : 0;
        snprintf(cl->audio_why, sizeof cl->audio_why, "%s",
                 json_is_string(msg) ? json_string_value(msg) : "");
        cl->audio_done = true;
        pthread_cond_broadcast(&cl->cond);
    } else if (json_is_object(error)) {
        json_t *msg = json_object_get(error, "message");
        snprintf(refused, sizeof refused, "the device refused a command: %s",
                 json_is_string(msg) ? json_string_value(msg) : "(no reason)");
        rill__log_warn("%s", refused);
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "dropped") == 0) {
        rill__log_info("the device dropped buffers for us");
    }
    pthread_mutex_unlock(&cl->lock);
    json_decref(root);
    if (refused[0] != '\0')
        rill__deliver_error(cl, RILL_EINVAL, refused);
    if (cl->cfg.on_text != NULL)
        cl->cfg.on_text((const char *)data, len, cl->cfg.user);
}

static void on_msg(void *user, rill__ws *ws, const uint8_t *data, size_t len,
                   bool binary) {
    rill_client *cl = user;
    if (ws == cl->data)
        on_compat_data(cl, data, len);
    else if (binary)
        on_native(cl, data, len);
    else
        on_control(cl, data, len);
}

/* Every scheduled stream not finished yet ends with `err`. */
static void fail_schedules(rill_client *cl, int err) {
    pthread_mutex_lock(&cl->lock);
    size_t n = 0;
    rill__sched *failed = rill__calloc(cl->n_sched ? cl->n_sched : 1, sizeof *failed);
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
        schedule_finished(cl, failed[i].fn, failed[i].user, err);
    rill__free(failed);
}

static void on_block(const rill_client_block *blk, void *user) {
    rill__deliver_block(user, blk);
}

/* The I/O thread (or an attached transport's): the device is gone. */
static void connection_lost(rill_client *cl, const char *why) {
    pthread_mutex_lock(&cl->lock);
    snprintf(cl->close_reason, sizeof cl->close_reason, "%s", why);
    atomic_store(&cl->closed, true);
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
    rill__log_error("connection to %s:%d lost: %s", cl->host, cl->port,
                    cl->close_reason);
    fail_schedules(cl, RILL_ECLOSED);
    rill__deliver_error(cl, RILL_ECLOSED, cl->close_reason);
    rill__deliver_wake(cl);
}

static void *io_main(void *arg) {
    rill_client *cl = arg;
    rill__ws *list[2] = {cl->ctl, cl->data};
    size_t n = cl->data != NULL ? 2 : 1;
    while (!atomic_load(&cl->stop)) {
        if (rill__ws_poll(list, n, 100, on_msg, cl) == 0)
            continue;
        const rill__ws *dead = rill__ws_closed(cl->ctl) ? cl->ctl : cl->data;
        connection_lost(cl, rill__ws_error(dead));
        break;
    }
    return NULL;
}

/* ---- Requests (caller's thread) ------------------------------------------ */

void rill__cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mx, uint64_t ns) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec += (long)(ns % 1000000000u);
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_cond_timedwait(cv, mx, &ts);
}

/* Wait on cond until *flag or the deadline; lock held. */
static int wait_for(rill_client *cl, const bool *flag, uint64_t deadline_ns) {
    while (!*flag) {
        if (atomic_load(&cl->closed))
            return RILL_ECLOSED;
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline_ns)
            return RILL_ETIMEOUT;
        rill__cond_wait_ns(&cl->cond, &cl->lock,
                           RILL__MIN(deadline_ns - now, (uint64_t)50000000));
    }
    return 0;
}

static uint64_t deadline(const rill_client *cl) {
    return rill_clock_now_ns() + (uint64_t)cl->cfg.timeout_ms * 1000000u;
}

/* The control socket, or an attached client's transport. */
static int ctl_send(rill_client *cl, bool binary, const void *data, size_t len) {
    if (cl->xport != NULL)
        return cl->xport->send(cl->xport_user, cl, binary, data, len);
    return rill__ws_send(cl->ctl, binary, data, len);
}

static int send_json(rill_client *cl, json_t *msg) {
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        return RILL_ENOMEM;
    int rc = ctl_send(cl, false, text, strlen(text));
    free(text);
    return rc;
}

/* {"watcher":[{"cmd":cmd,"watchers":[names...], extra...}]} */
static int send_cmd(rill_client *cl, const char *cmd, const char *const *names,
                    size_t n, json_t *extra) {
    json_t *w = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(w, json_string(names[i]));
    json_t *c = json_pack("{s:s,s:o}", "cmd", cmd, "watchers", w);
    if (extra != NULL)
        json_object_update(c, extra), json_decref(extra);
    return send_json(cl, json_pack("{s:[o]}", "watcher", c));
}

static int list_locked_req(rill_client *cl, rill_client_list **out) {
    pthread_mutex_lock(&cl->lock);
    int64_t id = cl->list_id = cl->next_id++;
    rill_client_list_free(cl->list_reply);
    cl->list_reply = NULL;
    cl->list_ready = false;
    pthread_mutex_unlock(&cl->lock);
    int rc = send_json(cl, json_pack("{s:I,s:[{s:s}]}", "id", (json_int_t)id,
                                     "watcher", "cmd", "list"));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&cl->lock);
    rc = wait_for(cl, &cl->list_ready, deadline(cl));
    if (rc == 0)
        rc = cl->list_rc;
    rill_client_list *reply = cl->list_reply;
    cl->list_reply = NULL;
    cl->list_ready = false;
    cl->list_id = -1;
    pthread_mutex_unlock(&cl->lock);
    if (rc != 0) {
        rill_client_list_free(reply);
        return rc;
    }
    *out = reply;
    return 0;
}

int rill_client_list_vars(rill_client *cl, rill_client_list **out) {
    pthread_mutex_lock(&cl->req_lock);
    int rc = list_locked_req(cl, out);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

void rill_client_list_free(rill_client_list *list) {
    if (list == NULL)
        return;
    rill__free(list->vars);
    rill__free(list);
}

void rill_client_free(void *p) { rill__free(p); }

static const rill_client_var *find(rill_client *cl, const char *name) {
    for (size_t i = 0; i < cl->vars->n_vars; i++)
        if (strcmp(cl->vars->vars[i].name, name) == 0)
            return &cl->vars->vars[i];
    rill__log_error("the device has no variable \"%s\"", name);
    return NULL;
}

const rill_client_var *rill__client_find(rill_client *cl, const char *name) {
    return find(cl, name);
}

/* The device's latest tick and its rate (1000 if it gives none), from a
 * list round trip. */
static int device_now(rill_client *cl, uint64_t *tick, double *rate) {
    rill_client_list *now = NULL;
    int rc = list_locked_req(cl, &now);
    if (rc != 0)
        return rc;
    *rate = now->sample_rate > 0 ? now->sample_rate : 1000;
    *tick = now->timestamp;
    rill_client_list_free(now);
    return 0;
}

/* A tick a little after the device's latest, so that every variable
 * starts at the same tick and no earlier buffer is taken for the start. */
static int soon(rill_client *cl, uint64_t *tick, double *rate) {
    int rc = device_now(cl, tick, rate);
    if (rc == 0)
        *tick += (uint64_t)(*rate / 20) + 64;
    return rc;
}

/* The named variables join the on_block group. lock held. */
static void join_group(rill_client *cl, const char *const *names, size_t n,
                       const rill_client_stream_opts *opts) {
    for (size_t i = 0; i < n; i++) {
        const rill_client_var *v = find(cl, names[i]);
        rill__var_state *st = &cl->vs[v->id];
        if (st->mute == RILL__COLLECT_STREAM)
            st->mute = RILL__COLLECT_NONE;
        if (!st->in_group)
            st->order = ++cl->group_order;
        st->in_group = true;
        st->from = opts != NULL ? opts->start : 0;
        uint32_t len = opts != NULL ? opts->length : 0;
        st->length = cl->native && len != 0 ? len : v->length;
    }
    cl->group_block = opts != NULL ? opts->block : 0;
    cl->group_gen++;
}

/* watch with per-variable timestamps, durations and (native) lengths. */
static int send_watch(rill_client *cl, const char *const *names, size_t n,
                      uint64_t start, uint64_t duration, uint32_t length) {
    json_t *ts = json_array(), *du = json_array(), *le = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(ts, json_integer((json_int_t)start));
        json_array_append_new(du, json_integer((json_int_t)duration));
        json_array_append_new(le, json_integer(length));
    }
    json_t *extra = json_pack("{s:o,s:o}", "timestamps", ts, "durations", du);
    if (cl->native && length != 0)
        json_object_set_new(extra, "lengths", le);
    else
        json_decref(le);
    return send_cmd(cl, "watch", names, n, extra);
}

static int check_names(rill_client *cl, const char *const *names, size_t n) {
    if (n > 0 && names == NULL)
        return RILL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (names[i] == NULL || find(cl, names[i]) == NULL)
            return RILL_ENOTFOUND;
    return 0;
}

int rill_client_stream_start(rill_client *cl, const char *const *names,
                             size_t n, const rill_client_stream_opts *opts) {
    int rc = check_names(cl, names, n);
    if (rc != 0)
        return rc;
    rill_client_stream_opts o = {0, 0, 0, 0};
    if (opts != NULL)
        o = *opts;
    pthread_mutex_lock(&cl->req_lock);
    /* With on_block, "now" is made a tick: every variable starts on it, and
     * the late last buffer of an earlier run (earlier ticks) cannot be
     * taken for this one's beginning. */
    double rate;
    if (cl->cfg.on_block != NULL && o.start == 0 &&
        (rc = soon(cl, &o.start, &rate)) != 0) {
        pthread_mutex_unlock(&cl->req_lock);
        return rc;
    }
    pthread_mutex_lock(&cl->lock);
    join_group(cl, names, n, &o);
    pthread_mutex_unlock(&cl->lock);
    rc = send_watch(cl, names, n, o.start, o.duration, o.length);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

int rill_client_stream_stop(rill_client *cl, const char *const *names,
                            size_t n) {
    const char **all = NULL;
    if (names == NULL) {
        all = rill__calloc(cl->vars->n_vars ? cl->vars->n_vars : 1, sizeof *all);
        if (all == NULL)
            return RILL_ENOMEM;
        for (size_t i = 0; i < cl->vars->n_vars; i++)
            all[i] = cl->vars->vars[i].name;
        names = all;
        n = cl->vars->n_vars;
    }
    int rc = check_names(cl, names, n);
    if (rc != 0) {
        rill__free(all);
        return rc;
    }
    /* A stopped schedule is finished, as canceled. The variables leave the
     * block group now: values after its last whole block go to on_buffer
     * only. */
    rill__sched *canceled = rill__calloc(n, sizeof *canceled);
    size_t n_canceled = 0;
    pthread_mutex_lock(&cl->req_lock);
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; i < n; i++) {
        rill__var_state *st = &cl->vs[find(cl, names[i])->id];
        if (st->in_group) {
            st->in_group = false;
            cl->group_gen++;
        }
        if (st->sched < 0)
            continue;
        rill__sched *sc = &cl->sched[st->sched];
        st->sched = -1;
        if (--sc->pending == 0) {
            if (canceled != NULL)
                canceled[n_canceled++] = *sc;
            else
                cl->sched_pending--;
            if (cl->sched_err == 0)
                cl->sched_err = RILL_ECANCELED;
        }
    }
    pthread_mutex_unlock(&cl->lock);
    rc = send_cmd(cl, "unwatch", names, n, NULL);
    pthread_mutex_unlock(&cl->req_lock);
    for (size_t i = 0; i < n_canceled; i++)
        schedule_finished(cl, canceled[i].fn, canceled[i].user, RILL_ECANCELED);
    rill__free(canceled);
    rill__free(all);
    return rc;
}

int rill_client_schedule(rill_client *cl, const char *const *names, size_t n,
                         uint64_t start, uint64_t duration,
                         rill_client_done_fn done, void *user) {
    int rc = check_names(cl, names, n);
    if (rc != 0)
        return rc;
    if (n == 0 || duration == 0 || start > UINT64_MAX - duration)
        return RILL_EINVAL;
    pthread_mutex_lock(&cl->req_lock);
    double rate;
    if (start == 0 && (rc = soon(cl, &start, &rate)) != 0) {
        pthread_mutex_unlock(&cl->req_lock);
        return rc;
    }
    pthread_mutex_lock(&cl->lock);
    if (cl->sched_pending == 0)
        cl->n_sched = 0; /* every earlier one has finished */
    if (cl->n_sched == cl->sched_cap) {
        size_t cap = cl->sched_cap ? cl->sched_cap * 2 : 8;
        rill__sched *ns = rill__realloc(cl->sched, cap * sizeof *ns);
        if (ns == NULL) {
            pthread_mutex_unlock(&cl->lock);
            pthread_mutex_unlock(&cl->req_lock);
            return RILL_ENOMEM;
        }
        cl->sched = ns;
        cl->sched_cap = cap;
    }
    int32_t idx = (int32_t)cl->n_sched++;
    cl->sched[idx] = (rill__sched){done, user, n, 0};
    cl->sched_pending++;
    /* A variable already scheduled is restarted by the device: its earlier
     * schedule loses it, and ends canceled if that was its last. */
    rill__sched *replaced = rill__calloc(n, sizeof *replaced);
    size_t n_replaced = 0;
    for (size_t i = 0; i < n; i++) {
        rill__var_state *st = &cl->vs[find(cl, names[i])->id];
        if (st->sched >= 0 && --cl->sched[st->sched].pending == 0) {
            if (replaced != NULL)
                replaced[n_replaced++] = cl->sched[st->sched];
            else
                cl->sched_pending--;
        }
        st->sched = idx;
        st->sched_end = start + duration;
    }
    rill_client_stream_opts o = {start, duration, 0, 0};
    join_group(cl, names, n, &o);
    pthread_mutex_unlock(&cl->lock);
    /* A Bela sends the value at start + duration too; the client trims. */
    rc = send_watch(cl, names, n, start, duration, 0);
    if (rc != 0) {
        pthread_mutex_lock(&cl->lock);
        for (size_t i = 0; i < n; i++)
            cl->vs[find(cl, names[i])->id].sched = -1;
        cl->sched[idx].pending = 0;
        cl->sched_pending--;
        pthread_mutex_unlock(&cl->lock);
    }
    pthread_mutex_unlock(&cl->req_lock);
    for (size_t i = 0; i < n_replaced; i++)
        schedule_finished(cl, replaced[i].fn, replaced[i].user, RILL_ECANCELED);
    rill__free(replaced);
    return rc;
}

int rill_client_wait(rill_client *cl, int timeout_ms) {
    uint64_t end = timeout_ms < 0
                       ? UINT64_MAX
                       : rill_clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    pthread_mutex_lock(&cl->lock);
    int rc = 0;
    while (cl->sched_pending > 0) {
        if (atomic_load(&cl->closed)) {
            rc = RILL_ECLOSED;
            break;
        }
        uint64_t now = rill_clock_now_ns();
        if (now >= end) {
            rc = RILL_ETIMEOUT;
            break;
        }
        rill__cond_wait_ns(&cl->cond, &cl->lock,
                           RILL__MIN(end - now, (uint64_t)50000000));
    }
    if (rc == 0) {
        rc = cl->sched_err;
        cl->sched_err = 0;
    }
    pthread_mutex_unlock(&cl->lock);
    return rc;
}

/* Exactly n_values of each variable, streamed or monitored. A stream is
 * scheduled to start a little after the device's latest tick, the same
 * tick for every variable, so that no buffer of an earlier stream (a late
 * final one, or Bela's zero-padded one) can be taken for its beginning;
 * the values must then arrive without a gap. Monitored values count from
 * the device's latest tick. */
static int collect_n_values(rill_client *cl, rill__collect_kind kind,
                            const char *const *names, size_t n,
                            uint32_t period, size_t n_values, double **values,
                            uint64_t **timestamps) {
    if (n == 0 || names == NULL || n_values == 0 || values == NULL ||
        timestamps == NULL || period > INT32_MAX)
        return RILL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (find(cl, names[i]) == NULL)
            return RILL_ENOTFOUND;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                rill__log_error("\"%s\" is named twice", names[i]);
                return RILL_EINVAL;
            }
        }
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        values[i] = rill__calloc(n_values, sizeof **values);
        timestamps[i] = rill__calloc(n_values, sizeof **timestamps);
        if (values[i] == NULL || timestamps[i] == NULL)
            rc = RILL_ENOMEM;
    }
    if (rc != 0)
        goto out;
    pthread_mutex_lock(&cl->req_lock);
    uint64_t start = 0;
    double rate = 1000;
    rc = kind == RILL__COLLECT_STREAM ? soon(cl, &start, &rate)
                                      : device_now(cl, &start, &rate);
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; i < n; i++) {
        rill__var_state *st = &cl->vs[find(cl, names[i])->id];
        st->collect = kind;
        st->mute = RILL__COLLECT_NONE;
        st->have = 0;
        st->values = values[i];
        st->ticks = timestamps[i];
    }
    cl->collect_n = n_values;
    cl->collect_left = n;
    cl->collect_start = start;
    cl->collect_done = false;
    cl->collect_gap = NULL;
    pthread_mutex_unlock(&cl->lock);
    json_t *each = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(each, json_integer(kind == RILL__COLLECT_STREAM
                                                     ? (json_int_t)start
                                                     : (json_int_t)period));
    if (rc == 0)
        rc = send_cmd(cl, kind == RILL__COLLECT_STREAM ? "watch" : "monitor",
                      names, n,
                      json_pack("{s:o}", kind == RILL__COLLECT_STREAM
                                             ? "timestamps" : "periods",
                                each));
    else
        json_decref(each);
    /* The timeout, plus the time the values take at the device's rate. */
    double ticks = (double)n_values * (kind == RILL__COLLECT_STREAM ? 1 : period);
    uint64_t end = deadline(cl) + (uint64_t)(ticks / rate * 1e9) + 50000000u;
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = wait_for(cl, &cl->collect_done, end);
    if (rc == 0 && cl->collect_gap != NULL) {
        rill__log_error("values of %s were lost in transit (the device or "
                        "the network dropped buffers); nothing returned, "
                        "try again",
                        cl->collect_gap);
        rc = RILL_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        rill__var_state *st = &cl->vs[find(cl, names[i])->id];
        st->collect = RILL__COLLECT_NONE;
        st->mute = kind;
    }
    pthread_mutex_unlock(&cl->lock);
    if (kind == RILL__COLLECT_STREAM) {
        send_cmd(cl, "unwatch", names, n, NULL);
    } else {
        json_t *off = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(off, json_integer(0));
        send_cmd(cl, "monitor", names, n, json_pack("{s:o}", "periods", off));
    }
    pthread_mutex_unlock(&cl->req_lock);
out:
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            rill__free(values[i]);
            rill__free(timestamps[i]);
            values[i] = NULL;
            timestamps[i] = NULL;
        }
    }
    return rc;
}

int rill_client_stream_n_values(rill_client *cl, const char *const *names,
                                size_t n, size_t n_values, double **values,
                                uint64_t **timestamps) {
    return collect_n_values(cl, RILL__COLLECT_STREAM, names, n, 0, n_values,
                            values, timestamps);
}

int rill_client_monitor_n_values(rill_client *cl, const char *const *names,
                                 size_t n, uint32_t period, size_t n_values,
                                 double **values, uint64_t **timestamps) {
    if (period == 0 || (period == 1 && n_values > 1)) {
        rill__log_error("monitoring %zu values needs a period of 2 ticks or "
                        "more (period 1 is a one-shot: use rill_client_peek)",
                        n_values);
        return RILL_EINVAL;
    }
    return collect_n_values(cl, RILL__COLLECT_MONITOR, names, n, period,
                            n_values, values, timestamps);
}

/* A new monitor request for the variable: monitored values reach the
 * callbacks again. */
static void unmute_monitor(rill_client *cl, uint32_t id) {
    pthread_mutex_lock(&cl->lock);
    if (cl->vs[id].mute == RILL__COLLECT_MONITOR)
        cl->vs[id].mute = RILL__COLLECT_NONE;
    pthread_mutex_unlock(&cl->lock);
}

int rill_client_monitor(rill_client *cl, const char *const *names,
                        size_t n, uint32_t period) {
    if (period > INT32_MAX)
        return RILL_EINVAL;
    json_t *periods = json_array();
    for (size_t i = 0; i < n; i++) {
        if (find(cl, names[i]) == NULL) {
            json_decref(periods);
            return RILL_ENOTFOUND;
        }
        json_array_append_new(periods, json_integer(period));
    }
    pthread_mutex_lock(&cl->req_lock);
    for (size_t i = 0; i < n; i++)
        unmute_monitor(cl, find(cl, names[i])->id);
    int rc = send_cmd(cl, "monitor", names, n,
                      json_pack("{s:o}", "periods", periods));
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

int rill_client_peek(rill_client *cl, const char *name, double *value,
                     uint64_t *tick) {
    const rill_client_var *v = find(cl, name);
    if (v == NULL)
        return RILL_ENOTFOUND;
    pthread_mutex_lock(&cl->req_lock);
    unmute_monitor(cl, v->id);
    pthread_mutex_lock(&cl->lock);
    cl->peek_var = (int32_t)v->id;
    cl->peek_done = false;
    pthread_mutex_unlock(&cl->lock);
    const char *names[1] = {name};
    int rc = send_cmd(cl, "monitor", names, 1, json_pack("{s:[i]}", "periods", 1));
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = wait_for(cl, &cl->peek_done, deadline(cl));
    cl->peek_var = -1;
    double val = cl->peek_value;
    uint64_t t = cl->peek_tick;
    pthread_mutex_unlock(&cl->lock);
    if (!cl->native) /* as pybela's peek: the one-shot, then off */
        send_cmd(cl, "monitor", names, 1, json_pack("{s:[i]}", "periods", 0));
    pthread_mutex_unlock(&cl->req_lock);
    if (rc == 0) {
        if (value != NULL)
            *value = val;
        if (tick != NULL)
            *tick = t;
    }
    return rc;
}

/* Send a command, then a list round trip: the device applies commands in
 * order, so when the list reply arrives the command has taken effect.
 * `extra` (a json_t *, taken) adds fields to the command; `after`, if not
 * NULL, receives that list. */
int rill__client_cmd_sync(rill_client *cl, const char *cmd,
                          const char *const *names, size_t n, void *extra,
                          rill_client_list **after) {
    int rc = check_names(cl, names, n);
    if (rc != 0) {
        json_decref(extra);
        return rc;
    }
    pthread_mutex_lock(&cl->req_lock);
    rc = send_cmd(cl, cmd, names, n, extra);
    rill_client_list *l = NULL;
    if (rc == 0)
        rc = list_locked_req(cl, &l);
    pthread_mutex_unlock(&cl->req_lock);
    if (rc == 0 && after != NULL)
        *after = l;
    else
        rill_client_list_free(l);
    return rc;
}

static int cmd_then_sync(rill_client *cl, const char *cmd, const char *name,
                         json_t *extra) {
    const char *names[1] = {name};
    return rill__client_cmd_sync(cl, cmd, names, 1, extra, NULL);
}

int rill_client_control(rill_client *cl, const char *name, bool on) {
    return cmd_then_sync(cl, on ? "control" : "uncontrol", name, NULL);
}

int rill_client_set(rill_client *cl, const char *name, double value) {
    return cmd_then_sync(cl, "set", name, json_pack("{s:[f]}", "values", value));
}

int rill_client_set_mask(rill_client *cl, const char *name, uint32_t value,
                         uint32_t mask) {
    return cmd_then_sync(cl, "setMask", name,
                         json_pack("{s:[I],s:[I]}", "values", (json_int_t)value,
                                   "masks", (json_int_t)mask));
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "rill's wire formats are little-endian and used in place");

int rill_client_send_buffer(rill_client *cl, uint32_t id, rill_type type,
                            const void *values, size_t count) {
    size_t size = rill_type_size(type);
    if (size == 0 || (count != 0 && values == NULL) || count > UINT32_MAX / 8)
        return RILL_EINVAL;
    uint8_t hdr[RILL__CLIENT_BUFFER_HEADER] = {0};
    rill__put_le32(hdr, id);
    hdr[4] = (uint8_t)rill_type_letter(type);
    rill__put_le32(hdr + 8, (uint32_t)count);
    /* Values go on the wire little-endian, as the host holds them: framed
     * straight from the caller's array, no copy in between. */
    if (cl->xport != NULL)
        return RILL_ENOTSUP; /* a bridged device's recording takes nothing */
    rill__ws_part parts[2] = {{hdr, sizeof hdr}, {values, count * size}};
    return rill__ws_sendv(cl->native ? cl->ctl : cl->data, true, parts,
                          count != 0 ? 2 : 1);
}

/* {"rill":"audio-config","id":N,...} (PROTOCOL.md §8), then wait for its
 * answer. The device may take a while to reopen its audio: twice the
 * timeout, at least 5 s. */
int rill_client_change_audio(rill_client *cl, const rill_audio_change *ch,
                             char *why, size_t why_size) {
    if (why != NULL && why_size != 0)
        why[0] = '\0';
    if (cl == NULL || ch == NULL)
        return RILL_EINVAL;
    if (!cl->native) {
        if (why != NULL)
            snprintf(why, why_size, "a Bela board has no audio configuration "
                                    "to change (only rill serve has)");
        return RILL_ENOTSUP;
    }
    json_t *msg = json_object();
    pthread_mutex_lock(&cl->req_lock);
    pthread_mutex_lock(&cl->lock);
    int64_t id = cl->audio_id = cl->next_id++;
    cl->audio_done = false;
    pthread_mutex_unlock(&cl->lock);
    json_object_set_new(msg, "rill", json_string("audio-config"));
    json_object_set_new(msg, "id", json_integer(id));
    if (ch->rate > 0)
        json_object_set_new(msg, "rate", json_real(ch->rate));
    if (ch->channels > 0)
        json_object_set_new(msg, "channels", json_integer((json_int_t)ch->channels));
    if (ch->buffer_frames > 0)
        json_object_set_new(msg, "bufferFrames", json_integer(ch->buffer_frames));
    if (ch->volume >= 0)
        json_object_set_new(msg, "volume", json_real(ch->volume));
    int rc = send_json(cl, msg);
    uint64_t wait_ms = RILL__MAX((uint64_t)cl->cfg.timeout_ms * 2, (uint64_t)5000);
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = wait_for(cl, &cl->audio_done, rill_clock_now_ns() + wait_ms * 1000000u);
    if (rc == 0)
        rc = cl->audio_rc;
    if (why != NULL && why_size != 0) {
        if (rc == RILL_ETIMEOUT)
            snprintf(why, why_size, "no answer within %llu ms (the device may "
                                    "still apply it; list again to see)",
                     (unsigned long long)wait_ms);
        else if (rc != 0 && cl->audio_done)
            snprintf(why, why_size, "%s", cl->audio_why);
        else if (rc != 0)
            snprintf(why, why_size, "%s", rill_strerror(rc));
    }
    cl->audio_id = -1;
    pthread_mutex_unlock(&cl->lock);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

int rill_client_send_message(rill_client *cl, bool binary, const void *head,
                             size_t head_len, const void *body,
                             size_t body_len) {
    if (cl == NULL || (head_len != 0 && head == NULL) ||
        (body_len != 0 && body == NULL))
        return RILL_EINVAL;
    if (!cl->native || cl->xport != NULL)
        return RILL_ENOTSUP;
    rill__ws_part parts[2] = {{head, head_len}, {body, body_len}};
    return rill__ws_sendv(cl->ctl, binary, parts, body_len != 0 ? 2 : 1);
}

/* ---- Connecting ------------------------------------------------------------ */

rill_client_config rill_client_config_default(void) {
    rill_client_config c;
    memset(&c, 0, sizeof c);
    c.url = "ws://127.0.0.1:5555";
    c.timeout_ms = 5000;
    c.mode = RILL_CLIENT_AUTO;
    return c;
}

static int parse_url(rill_client *cl, const char *url) {
    const char *p = strncmp(url, "ws://", 5) == 0 ? url + 5 : NULL;
    if (p == NULL) {
        rill__log_error("'%s' is not a ws:// URL (e.g. "
                        "ws://127.0.0.1:5555)", url);
        return RILL_EINVAL;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof cl->host) {
        rill__log_error("no host in '%s'", url);
        return RILL_EINVAL;
    }
    memcpy(cl->host, p, hl);
    cl->host[hl] = 0;
    cl->port = 5555;
    if (p[hl] == ':') {
        char *end;
        long port = strtol(p + hl + 1, &end, 10);
        if (end == p + hl + 1 || port <= 0 || port > 65535 ||
            (*end != '\0' && *end != '/')) {
            rill__log_error("bad port in '%s'", url);
            return RILL_EINVAL;
        }
        cl->port = (int)port;
    }
    return 0;
}

static int open_ws(rill_client *cl, const char *path, rill__ws **out) {
    char target[512], err[256];
    if (cl->cfg.token != NULL)
        snprintf(target, sizeof target, "%s?token=%s", path, cl->cfg.token);
    else
        snprintf(target, sizeof target, "%s", path);
    int rc = rill__ws_connect(cl->host, cl->port, target, cl->cfg.timeout_ms,
                              out, err, sizeof err);
    if (rc != 0)
        rill__log_error("%s", err);
    return rc;
}

static int wait_flag(rill_client *cl, bool *flag, int ms) {
    pthread_mutex_lock(&cl->lock);
    int rc = wait_for(cl, flag, rill_clock_now_ns() + (uint64_t)ms * 1000000u);
    pthread_mutex_unlock(&cl->lock);
    return rc;
}

/* A client with nothing connected yet (connect and attach). */
static int client_new(const rill_client_config *cfg, rill_client **out) {
    rill_client *cl = rill__calloc(1, sizeof *cl);
    if (cl == NULL)
        return RILL_ENOMEM;
    cl->cfg = *cfg;
    cl->list_id = -1;
    cl->audio_id = -1;
    cl->peek_var = -1;
    cl->hdr_id = -1;
    cl->next_id = 1;
    pthread_mutex_init(&cl->req_lock, NULL);
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->cond, NULL);
    int rc = rill__deliver_init(cl);
    if (rc == 0)
        rc = rill__align_create(on_block, cl, &cl->align);
    if (rc != 0) {
        rill_client_destroy(cl);
        return rc;
    }
    *out = cl;
    return 0;
}

/* The device's variables, from the first list (connect and attach). */
static int client_take_vars(rill_client *cl) {
    rill_client_list *vars = NULL;
    int rc = rill_client_list_vars(cl, &vars);
    if (rc != 0) {
        rill__log_error("no list reply from %s:%d (%s)", cl->host,
                        cl->port, rill_strerror(rc));
        return rc;
    }
    rill__var_state *vs = rill__calloc(vars->n_vars ? vars->n_vars : 1, sizeof *vs);
    if (vs == NULL) {
        rill_client_list_free(vars);
        return RILL_ENOMEM;
    }
    for (size_t i = 0; i < vars->n_vars; i++)
        vs[i].sched = -1;
    pthread_mutex_lock(&cl->lock);
    cl->vars = vars;
    cl->vs = vs;
    pthread_mutex_unlock(&cl->lock);
    return 0;
}

int rill_client_connect(const rill_client_config *cfg, rill_client **out) {
    if (cfg == NULL || out == NULL || cfg->url == NULL || cfg->timeout_ms <= 0)
        return RILL_EINVAL;
    *out = NULL;
    rill_client *cl = NULL;
    int rc = client_new(cfg, &cl);
    if (rc != 0)
        return rc;
    rc = parse_url(cl, cfg->url);
    if (rc == 0)
        rc = open_ws(cl, "/gui_control", &cl->ctl);
    if (rc == 0 && pthread_create(&cl->io, NULL, io_main, cl) != 0)
        rc = RILL_ESYS;
    if (rc != 0)
        goto fail;
    cl->io_started = true;
    if ((rc = wait_flag(cl, &cl->got_connection, cfg->timeout_ms)) != 0) {
        rill__log_error("%s:%d sent no connection event: not a "
                        "Watcher server?",
                        cl->host, cl->port);
        rc = rc == RILL_ETIMEOUT ? RILL_EPROTO : rc;
        goto fail;
    }
    if (cfg->mode != RILL_CLIENT_COMPAT) {
        const char hello[] = "{\"rill\":\"hello\",\"version\":1}";
        rill__ws_send(cl->ctl, false, hello, sizeof hello - 1);
        int wait = cfg->mode == RILL_CLIENT_NATIVE ? cfg->timeout_ms
                                                   : RILL__HELLO_WAIT_MS;
        cl->native = wait_flag(cl, &cl->hello, wait) == 0;
        if (!cl->native && cfg->mode == RILL_CLIENT_NATIVE) {
            rill__log_error("%s:%d does not speak rill's native "
                            "mode (a Bela board?); connect in compat mode",
                            cl->host, cl->port);
            rc = RILL_EPROTO;
            goto fail;
        }
    }
    if (!cl->native) {
        /* A Bela board sends no data until a client says it is active. */
        const char reply[] = "{\"event\":\"connection-reply\"}";
        rill__ws_send(cl->ctl, false, reply, sizeof reply - 1);
        /* The I/O thread polls the sockets it was started with: restart it
         * with the data socket added. */
        atomic_store(&cl->stop, true);
        pthread_join(cl->io, NULL);
        cl->io_started = false;
        atomic_store(&cl->stop, false);
        if ((rc = open_ws(cl, "/gui_data", &cl->data)) != 0)
            goto fail;
        if (pthread_create(&cl->io, NULL, io_main, cl) != 0) {
            rc = RILL_ESYS;
            goto fail;
        }
        cl->io_started = true;
    }
    if ((rc = client_take_vars(cl)) != 0)
        goto fail;
    *out = cl;
    return 0;
fail:
    rill_client_destroy(cl);
    return rc;
}

int rill__client_attach(const rill_client_config *cfg,
                        const rill__client_xport *x, void *user,
                        rill_client **out) {
    *out = NULL;
    rill_client *cl = NULL;
    int rc = cfg == NULL || cfg->timeout_ms <= 0 ? RILL_EINVAL
                                                 : client_new(cfg, &cl);
    if (rc != 0) {
        x->detach(user);
        return rc;
    }
    cl->xport = x;
    cl->xport_user = user;
    cl->native = true;
    snprintf(cl->host, sizeof cl->host, "%s", cfg->url ? cfg->url : "(attached)");
    if ((rc = client_take_vars(cl)) != 0) {
        rill_client_destroy(cl);
        return rc;
    }
    *out = cl;
    return 0;
}

void rill__client_feed(rill_client *cl, const uint8_t *data, size_t len,
                       bool binary) {
    if (binary)
        on_native(cl, data, len);
    else
        on_control(cl, data, len);
}

void rill__client_feed_closed(rill_client *cl, const char *why) {
    connection_lost(cl, why);
}

void *rill__client_xport_user(const rill_client *cl) { return cl->xport_user; }

bool rill_client_native(const rill_client *cl) { return cl->native; }

void rill_client_destroy(rill_client *cl) {
    if (cl == NULL)
        return;
    atomic_store(&cl->stop, true);
    if (cl->io_started)
        pthread_join(cl->io, NULL);
    if (cl->xport != NULL)
        cl->xport->detach(cl->xport_user); /* its thread feeds no more */
    rill__ws_close(cl->data);
    rill__ws_close(cl->ctl);
    rill_client_list_free(cl->list_reply);
    rill_client_list_free(cl->vars);
    rill__free(cl->vs);
    rill__free(cl->sched);
    rill__align_destroy(cl->align);
    rill__free(cl->scratch_values);
    rill__free(cl->scratch_rel);
    rill__deliver_free(cl);
    pthread_cond_destroy(&cl->cond);
    pthread_mutex_destroy(&cl->lock);
    pthread_mutex_destroy(&cl->req_lock);
    rill__free(cl);
}
