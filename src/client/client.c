/* rill_client: the host side's connection to a device. See client.h.
 *
 * One I/O thread owns the WebSocket(s) (net/ws.c) and decodes everything
 * that arrives: native messages on the control socket, or Bela's header +
 * body pairs on /gui_data in compatibility mode. Request functions run on
 * the caller's thread, one at a time (req_lock), send their command and,
 * when they need an answer, wait on `cond` for the I/O thread to post it,
 * never longer than the configured timeout.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "net/ws.h"
#include "rill/client.h"
#include "watch/native.h"
#include "watch/wire.h"

/* How long connect waits for a {"rill":"hello"} answer before deciding the
 * server is a Bela board (which ignores the message). */
#define RILL__HELLO_WAIT_MS 300

struct rill_client {
    rill_client_config cfg;
    char host[256];
    int port;
    rill__ws *ctl, *data;
    bool native;
    pthread_t io;
    bool io_started;
    atomic_bool stop;
    atomic_bool closed;

    pthread_mutex_t req_lock; /* one request at a time */
    pthread_mutex_t lock;     /* everything below, shared with the I/O thread */
    pthread_cond_t cond;

    rill_client_list *vars;   /* from the connect-time list */
    bool hello;               /* the server answered hello */
    bool got_connection;      /* the connection event arrived */
    int64_t list_id;          /* the list request being waited for, or -1 */
    rill_client_list *list_reply; /* built by the I/O thread */
    int list_rc;
    bool list_ready;
    int64_t next_id;
    /* peek */
    int32_t peek_var;
    bool peek_done;
    double peek_value;
    uint64_t peek_tick;
    /* stream_n_values */
    int32_t collect_var;
    size_t collect_n, collect_have;
    uint64_t collect_start; /* only buffers starting here or later */
    bool collect_done, collect_gap;
    double *collect_values;
    uint64_t *collect_ts;
    /* compat data: the last header */
    int64_t hdr_id;
    /* I/O thread: aligned copies of a buffer for the user's callback */
    void *scratch_values;
    uint32_t *scratch_rel;
    size_t scratch_cap; /* values */
    char close_reason[200];
};

/* ---- Decoding (I/O thread) ----------------------------------------------- */

static rill_client_var *var_by_id(rill_client *cl, uint32_t id) {
    rill_client_list *l = cl->vars;
    return l != NULL && id < l->n_vars ? &l->vars[id] : NULL;
}

/* A stream buffer: to stream_n_values if it is collecting this variable,
 * else to the user's callback. lock not held. */
static void on_stream(rill_client *cl, const rill_client_var *v,
                      uint64_t first_ts, size_t count, const uint8_t *values,
                      const uint8_t *rel, uint32_t dropped, bool last) {
    size_t size = rill_type_size(v->type);
    pthread_mutex_lock(&cl->lock);
    if (cl->collect_var == (int32_t)v->id) {
        /* Earlier streams' buffers (a late final one, Bela's zero padding)
         * start before collect_start; a gap means data was lost. */
        if (first_ts < cl->collect_start || cl->collect_done) {
            pthread_mutex_unlock(&cl->lock);
            return;
        }
        bool gap = dropped != 0 ||
                   (v->mode == RILL_TS_DENSE && cl->collect_have != 0 &&
                    first_ts != cl->collect_ts[cl->collect_have - 1] + 1);
        if (gap) {
            cl->collect_gap = cl->collect_done = true;
            pthread_cond_broadcast(&cl->cond);
            pthread_mutex_unlock(&cl->lock);
            return;
        }
        for (size_t i = 0; i < count && cl->collect_have < cl->collect_n; i++) {
            uint32_t r = (uint32_t)i;
            if (rel != NULL)
                memcpy(&r, rel + 4 * i, 4);
            cl->collect_values[cl->collect_have] = rill_value_to_double(v->type, values + i * size);
            cl->collect_ts[cl->collect_have] = first_ts + r;
            cl->collect_have++;
        }
        if (cl->collect_have == cl->collect_n) {
            cl->collect_done = true;
            pthread_cond_broadcast(&cl->cond);
        }
        pthread_mutex_unlock(&cl->lock);
        return;
    }
    pthread_mutex_unlock(&cl->lock);
    if (cl->cfg.on_buffer == NULL)
        return;
    /* The message sits at any offset of the receive buffer: hand the user
     * aligned arrays of its type. */
    if (count > cl->scratch_cap) {
        void *nv = rill__malloc(count * 8);
        uint32_t *nr = rill__malloc(count * 4);
        if (nv == NULL || nr == NULL) {
            rill__free(nv);
            rill__free(nr);
            rill__log_error("out of memory; a buffer of %s lost",
                            v->name);
            return;
        }
        rill__free(cl->scratch_values);
        rill__free(cl->scratch_rel);
        cl->scratch_values = nv;
        cl->scratch_rel = nr;
        cl->scratch_cap = count;
    }
    memcpy(cl->scratch_values, values, count * size);
    if (rel != NULL)
        memcpy(cl->scratch_rel, rel, count * 4);
    rill_client_buffer b = {v->name, v->id,   v->type, v->mode,
                            first_ts, count,  cl->scratch_values,
                            rel != NULL ? cl->scratch_rel : NULL,
                            dropped,  last};
    cl->cfg.on_buffer(&b, cl->cfg.user);
}

/* A monitored value: to a waiting peek, else to the user's callback. */
static void on_monitor(rill_client *cl, uint32_t id, uint64_t tick,
                       double value) {
    pthread_mutex_lock(&cl->lock);
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
    if (cl->cfg.on_monitor != NULL && v != NULL)
        cl->cfg.on_monitor(v->name, tick, value, cl->cfg.user);
}

static void on_native(rill_client *cl, const uint8_t *data, size_t len) {
    rill__native_msg m;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__native_decode(data, len, &m, err, sizeof err) != 0) {
        rill__log_warn("%s", err);
        return;
    }
    rill_client_var *v = var_by_id(cl, m.h.var_id);
    if (v == NULL)
        return;
    if (m.h.kind == RILL__NATIVE_MONITOR) {
        on_monitor(cl, v->id, m.h.first_ts, rill_value_to_double(v->type, m.values));
        return;
    }
    if (m.h.kind == RILL__NATIVE_STREAM) {
        /* Values and timestamps are little-endian in the message: on the
         * little-endian hosts rill supports they are used in place. */
        on_stream(cl, v, m.h.first_ts, m.h.count, m.values, m.rel, m.h.dropped,
                  (m.h.flags & RILL__NATIVE_FLAG_LAST) != 0);
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
    if (len == RILL__BELA_BODY_BYTES) {
        rill__bela_body body;
        if (rill__bela_body_decode(data, len, v->type, v->mode, &body, NULL, 0) == 0)
            on_stream(cl, v, body.ref, body.n, body.values, body.rel, 0, false);
        return;
    }
    uint64_t tick;
    const uint8_t *value;
    if (rill__bela_monitor_decode(data, len, v->type, &tick, &value, NULL, 0) == 0)
        on_monitor(cl, v->id, tick, rill_value_to_double(v->type, value));
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
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
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
    } else if (json_is_object(error)) {
        json_t *msg = json_object_get(error, "message");
        rill__log_warn("the device says: %s",
                       json_is_string(msg) ? json_string_value(msg) : "?");
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "dropped") == 0) {
        rill__log_info("the device dropped buffers for us");
    }
    pthread_mutex_unlock(&cl->lock);
    json_decref(root);
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

static void *io_main(void *arg) {
    rill_client *cl = arg;
    rill__ws *list[2] = {cl->ctl, cl->data};
    size_t n = cl->data != NULL ? 2 : 1;
    while (!atomic_load(&cl->stop)) {
        if (rill__ws_poll(list, n, 100, on_msg, cl) == 0)
            continue;
        const rill__ws *dead = rill__ws_closed(cl->ctl) ? cl->ctl : cl->data;
        pthread_mutex_lock(&cl->lock);
        snprintf(cl->close_reason, sizeof cl->close_reason, "%s",
                 rill__ws_error(dead));
        atomic_store(&cl->closed, true);
        pthread_cond_broadcast(&cl->cond);
        pthread_mutex_unlock(&cl->lock);
        rill__log_error("connection to %s:%d lost: %s", cl->host,
                        cl->port, cl->close_reason);
        if (cl->cfg.on_error != NULL)
            cl->cfg.on_error(RILL_ECLOSED, cl->close_reason, cl->cfg.user);
        break;
    }
    return NULL;
}

/* ---- Requests (caller's thread) ------------------------------------------ */

/* Wait on cond until *flag or the deadline; lock held. */
static int wait_for(rill_client *cl, const bool *flag, uint64_t deadline_ns) {
    while (!*flag) {
        if (atomic_load(&cl->closed))
            return RILL_ECLOSED;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline_ns)
            return RILL_ETIMEOUT;
        uint64_t wait = RILL__MIN(deadline_ns - now, (uint64_t)50000000);
        ts.tv_nsec += (long)wait;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&cl->cond, &cl->lock, &ts);
    }
    return 0;
}

static uint64_t deadline(const rill_client *cl) {
    return rill_clock_now_ns() + (uint64_t)cl->cfg.timeout_ms * 1000000u;
}

static int send_json(rill_client *cl, json_t *msg) {
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        return RILL_ENOMEM;
    int rc = rill__ws_send(cl->ctl, false, text, strlen(text));
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

int rill_client_stream_start(rill_client *cl, const char *const *names,
                             size_t n, const rill_client_stream_opts *opts) {
    for (size_t i = 0; i < n; i++)
        if (find(cl, names[i]) == NULL)
            return RILL_ENOTFOUND;
    json_t *extra = json_object();
    if (opts != NULL) {
        json_t *ts = json_array(), *du = json_array(), *le = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(ts, json_integer((json_int_t)opts->start));
            json_array_append_new(du, json_integer((json_int_t)opts->duration));
            json_array_append_new(le, json_integer(opts->length));
        }
        json_object_set_new(extra, "timestamps", ts);
        json_object_set_new(extra, "durations", du);
        if (cl->native && opts->length != 0)
            json_object_set_new(extra, "lengths", le);
        else
            json_decref(le);
    }
    pthread_mutex_lock(&cl->req_lock);
    int rc = send_cmd(cl, "watch", names, n, extra);
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
    pthread_mutex_lock(&cl->req_lock);
    int rc = send_cmd(cl, "unwatch", names, n, NULL);
    pthread_mutex_unlock(&cl->req_lock);
    rill__free(all);
    return rc;
}

/* Exactly n values: the stream is scheduled to start a little after the
 * device's latest tick, so that no buffer of an earlier stream of the same
 * variable (a late final one, or Bela's zero-padded one) can be taken for
 * its beginning; the values must then arrive without a gap. */
int rill_client_stream_n_values(rill_client *cl, const char *name,
                                size_t n_values, double **values,
                                uint64_t **timestamps) {
    const rill_client_var *v = find(cl, name);
    if (v == NULL)
        return RILL_ENOTFOUND;
    if (n_values == 0 || values == NULL || timestamps == NULL)
        return RILL_EINVAL;
    double *vals = rill__calloc(n_values, sizeof *vals);
    uint64_t *ts = rill__calloc(n_values, sizeof *ts);
    if (vals == NULL || ts == NULL) {
        rill__free(vals);
        rill__free(ts);
        return RILL_ENOMEM;
    }
    pthread_mutex_lock(&cl->req_lock);
    rill_client_list *now = NULL;
    int rc = list_locked_req(cl, &now);
    double rate = now != NULL && now->sample_rate > 0 ? now->sample_rate : 1000;
    uint64_t start = now != NULL ? now->timestamp + (uint64_t)(rate / 20) + 64 : 0;
    rill_client_list_free(now);
    pthread_mutex_lock(&cl->lock);
    cl->collect_var = (int32_t)v->id;
    cl->collect_n = n_values;
    cl->collect_have = 0;
    cl->collect_values = vals;
    cl->collect_ts = ts;
    cl->collect_start = start;
    cl->collect_done = cl->collect_gap = false;
    pthread_mutex_unlock(&cl->lock);
    const char *names[1] = {name};
    if (rc == 0)
        rc = send_cmd(cl, "watch", names, 1,
                      json_pack("{s:[I]}", "timestamps", (json_int_t)start));
    /* The timeout, plus the time the values take at the device's rate. */
    uint64_t end = deadline(cl) + (uint64_t)((double)n_values / rate * 1e9) +
                   50000000u;
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = wait_for(cl, &cl->collect_done, end);
    if (rc == 0 && cl->collect_gap) {
        rill__log_error("values of %s were lost in transit (the "
                        "device or the network dropped buffers); nothing "
                        "returned, try again",
                        name);
        rc = RILL_EIO;
    }
    cl->collect_var = -1;
    pthread_mutex_unlock(&cl->lock);
    send_cmd(cl, "unwatch", names, 1, NULL);
    pthread_mutex_unlock(&cl->req_lock);
    if (rc != 0) {
        rill__free(vals);
        rill__free(ts);
        return rc;
    }
    *values = vals;
    *timestamps = ts;
    return 0;
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
 * order, so when the list reply arrives the command has taken effect. */
static int cmd_then_sync(rill_client *cl, const char *cmd, const char *name,
                         json_t *extra) {
    if (find(cl, name) == NULL) {
        json_decref(extra);
        return RILL_ENOTFOUND;
    }
    const char *names[1] = {name};
    pthread_mutex_lock(&cl->req_lock);
    int rc = send_cmd(cl, cmd, names, 1, extra);
    rill_client_list *l = NULL;
    if (rc == 0)
        rc = list_locked_req(cl, &l);
    rill_client_list_free(l);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

int rill_client_control(rill_client *cl, const char *name, bool on) {
    return cmd_then_sync(cl, on ? "control" : "uncontrol", name, NULL);
}

int rill_client_set(rill_client *cl, const char *name, double value) {
    return cmd_then_sync(cl, "set", name, json_pack("{s:[f]}", "values", value));
}

int rill_client_send_buffer(rill_client *cl, uint32_t id, rill_type type,
                            const void *values, size_t count) {
    size_t size = rill_type_size(type);
    if (size == 0 || (count != 0 && values == NULL) || count > UINT32_MAX / 8)
        return RILL_EINVAL;
    size_t len = RILL__CLIENT_BUFFER_HEADER + count * size;
    uint8_t *msg = rill__calloc(1, len);
    if (msg == NULL)
        return RILL_ENOMEM;
    rill__put_le32(msg, id);
    msg[4] = (uint8_t)rill_type_letter(type);
    rill__put_le32(msg + 8, (uint32_t)count);
    rill__wire_put_values(msg + RILL__CLIENT_BUFFER_HEADER, type, values, count);
    int rc = rill__ws_send(cl->native ? cl->ctl : cl->data, true, msg, len);
    rill__free(msg);
    return rc;
}

/* ---- Connecting ------------------------------------------------------------ */

rill_client_config rill_client_config_default(void) {
    rill_client_config c = {"ws://127.0.0.1:5555", NULL, 5000, RILL_CLIENT_AUTO,
                            NULL, NULL, NULL, NULL};
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

int rill_client_connect(const rill_client_config *cfg, rill_client **out) {
    if (cfg == NULL || out == NULL || cfg->url == NULL || cfg->timeout_ms <= 0)
        return RILL_EINVAL;
    *out = NULL;
    rill_client *cl = rill__calloc(1, sizeof *cl);
    if (cl == NULL)
        return RILL_ENOMEM;
    cl->cfg = *cfg;
    cl->list_id = -1;
    cl->peek_var = cl->collect_var = -1;
    cl->hdr_id = -1;
    cl->next_id = 1;
    pthread_mutex_init(&cl->req_lock, NULL);
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->cond, NULL);
    int rc = parse_url(cl, cfg->url);
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
    if ((rc = rill_client_list_vars(cl, &cl->vars)) != 0) {
        rill__log_error("no list reply from %s:%d (%s)", cl->host,
                        cl->port, rill_strerror(rc));
        goto fail;
    }
    *out = cl;
    return 0;
fail:
    rill_client_destroy(cl);
    return rc;
}

bool rill_client_native(const rill_client *cl) { return cl->native; }

void rill_client_destroy(rill_client *cl) {
    if (cl == NULL)
        return;
    atomic_store(&cl->stop, true);
    if (cl->io_started)
        pthread_join(cl->io, NULL);
    rill__ws_close(cl->data);
    rill__ws_close(cl->ctl);
    rill_client_list_free(cl->list_reply);
    rill_client_list_free(cl->vars);
    rill__free(cl->scratch_values);
    rill__free(cl->scratch_rel);
    pthread_cond_destroy(&cl->cond);
    pthread_mutex_destroy(&cl->lock);
    pthread_mutex_destroy(&cl->req_lock);
    rill__free(cl);
}
