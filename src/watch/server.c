/* rill_server: the network thread of the device side.
 *
 * One libwebsockets context on one port serves the Watcher's two WebSocket
 * paths (/gui_control: JSON text, /gui_data: binary) and plain HTTP
 * (GET /files/<name> for finished log files; GET / and the files under the
 * web root for the browser dashboard). Everything in this file runs
 * on the network thread, except create/destroy/var_create and the getters
 * (user threads), which touch only what they say.
 *
 * Data path. The tick thread appends records to the `out` ring; a timer on
 * this thread (every drain_interval_us while anything streams) drains it
 * and turns each record into messages: for compatibility sinks one shared
 * header + body pair queued on every /gui_data socket, for a native client
 * one message on that client's control socket. Each socket has a bounded
 * queue; a message that does not fit is dropped for that socket alone,
 * counted, and announced. libwebsockets then writes one queued message
 * each time the socket is writable, so a slow socket only ever slows its
 * own queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "core/internal.h"
#include "device.h"
#include "devreq.h"
#include "exec.h"
#include "json_out.h"
#include "logfile.h"
#include "logwriter.h"
#include "native.h"
#include "wire.h"

/* ---- Messages and per-socket queues -------------------------------------- */

/* A message shared by every socket it is queued on. `data` has LWS_PRE
 * bytes of headroom that lws_write fills with the frame header. */
typedef struct rill__msg {
    uint32_t refs;
    bool binary;
    size_t len;
    uint8_t data[];
} rill__msg;

static rill__msg *msg_new(size_t len, bool binary) {
    rill__msg *m = rill__malloc(sizeof *m + LWS_PRE + len);
    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->binary = binary;
    m->len = len;
    return m;
}

static uint8_t *msg_payload(rill__msg *m) { return m->data + LWS_PRE; }

static void msg_unref(rill__msg *m) {
    if (m != NULL && --m->refs == 0)
        rill__free(m);
}

static rill__msg *msg_text(const char *text, size_t len) {
    rill__msg *m = msg_new(len, false);
    if (m != NULL)
        memcpy(msg_payload(m), text, len);
    return m;
}

typedef enum conn_path { PATH_CONTROL = 0, PATH_DATA = 1 } conn_path;

struct rill__conn {
    rill_server *srv;
    struct lws *wsi;
    conn_path path;
    uint64_t id;
    char peer[64];
    bool active;  /* counted in compat_active */
    bool native;  /* said hello: gets its own streams on this socket */
    bool closing;

    /* Outgoing queue (a ring of message pointers). */
    rill__msg **q;
    size_t q_head, q_len, q_cap, q_bytes;
    uint64_t drops;
    uint32_t unannounced;      /* /gui_data: drops not yet announced */
    uint64_t last_notice_ns;

    /* Outgoing frames gathered for one write (write_batch). */
    uint8_t *batch;
    size_t batch_cap;

    /* Incoming message being reassembled from fragments. */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    bool rx_too_big;

    /* Dashboard relay: a page subscribed with {"rill":"dash"}; handlers
     * this connection created as a program; handler data dropped for this
     * page since its last notice. */
    bool dash_page;
    uint32_t dash_handlers;
    uint32_t dash_unannounced;

    /* Native subscriptions, indexed by variable id (max_vars each). */
    rill__stream **sub_buf;
    rill__stream **sub_mon;
    uint32_t *pending_drop_notice; /* buffers dropped, not yet announced */

    rill__conn *next, *prev;
};

struct rill_server {
    rill_server_config cfg;
    char *host, *project, *token, *log_dir, *allow_origin, *web_root;

    rill__device dev;
    size_t max_streams;
    pthread_mutex_t vars_lock; /* user threads creating variables */

    struct lws_context *ctx;
    struct lws_vhost *vhost;
    int port;
    pthread_t net_thread, waker_thread;
    bool net_started, waker_started;
    atomic_bool stop;
    atomic_bool wake_pending; /* the waker has asked lws to wake up */
    lws_sorted_usec_list_t drain_sul;

    rill__logwriter *logwriter;

    /* Network thread. */
    rill__conn *conns;
    uint64_t next_conn_id;
    rill__stream *streams; /* every stream, for lookup and final cleanup */
    size_t n_streams;
    rill__stream **released; /* EV_RELEASED seen, freed after the drain */
    size_t n_released;
    uint8_t *scratch; /* one record's payload */
    size_t scratch_cap;
    uint8_t *values_scratch; /* client buffers converted to host order */

    atomic_ullong client_drops;
    atomic_ullong n_clients;
    atomic_ullong commands_rejected;

    /* Programs run for pages (allow_exec), network thread. */
    struct exec_job *jobs;
    size_t n_jobs;
    uint32_t next_job_id;

    /* Dashboard handlers, in creation order (network thread). */
    struct dash_handler *dash;
    size_t n_dash, dash_cap;
    uint32_t next_dash_id;

    /* The audio description (rill_server_set_audio): its JSON object, or
     * NULL, written by user threads under audio_lock; audio_gen counts the
     * changes, audio_sent_gen (network thread) the one announced last. */
    pthread_mutex_t audio_lock;
    char *audio_json;
    uint64_t audio_gen;
    uint64_t audio_sent_gen;
    /* What clients may change, from the same description (audio_lock). */
    bool audio_declared;
    double audio_rates[RILL_SERVER_AUDIO_MAX_RATES];
    size_t audio_n_rates, audio_min_ch, audio_max_ch;
    bool audio_bf_settable, audio_vol_settable;
    double audio_rate, audio_volume;
    size_t audio_channels;
    uint32_t audio_bf;
    /* The reported sample rate (rill_server_set_sample_rate), audio_lock. */
    double sample_rate;

    /* Audio configuration changes, run by the device program's
     * on_audio_change on a thread of their own (devreq.h); NULL without. */
    rill__devreq *devreq;
};

static double server_rate(rill_server *srv) {
    pthread_mutex_lock(&srv->audio_lock);
    double r = srv->sample_rate;
    pthread_mutex_unlock(&srv->audio_lock);
    return r;
}

static size_t conn_limit(const rill__conn *c) {
    return c->srv->cfg.client_queue_bytes;
}

static int conn_push(rill__conn *c, rill__msg *m) {
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 64;
        rill__msg **q = rill__malloc(cap * sizeof *q);
        if (q == NULL)
            return RILL_ENOMEM;
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->q[(c->q_head + i) % c->q_cap];
        rill__free(c->q);
        c->q = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_len) % c->q_cap] = m;
    c->q_len++;
    c->q_bytes += m->len;
    m->refs++;
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Whether `need` more bytes of data fit. An empty queue always takes a
 * message, however large, so a tiny limit cannot starve a client. */
static bool conn_has_room(const rill__conn *c, size_t need) {
    return !c->closing &&
           (c->q_len == 0 || c->q_bytes + need <= conn_limit(c));
}

/* Queue data messages (a header + body pair goes in whole or not at all).
 * False: dropped for this socket. */
static bool conn_send_data(rill__conn *c, rill__msg *a, rill__msg *b) {
    if (!conn_has_room(c, a->len + (b ? b->len : 0)))
        return false;
    if (conn_push(c, a) != 0)
        return false;
    if (b != NULL && conn_push(c, b) != 0)
        return false;
    return true;
}

/* Control replies are small but a client that never reads could pile them
 * up forever: past twice the data limit (plus 1 MiB) it is disconnected. */
static void conn_send_text(rill__conn *c, const char *text, size_t len) {
    if (c->closing)
        return;
    if (c->q_bytes + len > conn_limit(c) * 2 + (1u << 20)) {
        rill__log_warn("closing %s: it does not read its replies",
                       c->peer);
        c->closing = true;
        lws_callback_on_writable(c->wsi);
        return;
    }
    rill__msg *m = msg_text(text, len);
    if (m == NULL)
        return;
    conn_push(c, m);
    msg_unref(m);
}

static void conn_send_owned(rill__conn *c, char *text, size_t len) {
    if (text == NULL)
        return;
    conn_send_text(c, text, len);
    rill__free(text);
}

/* An error reply built by the caller's fields (see rill__cmd_error). */
static void send_error(rill__conn *c, const rill__cmd_error *e) {
    char *text = NULL;
    size_t len = 0;
    if (rill__cmd_error_reply(e, &text, &len) == 0)
        conn_send_owned(c, text, len);
}

static void send_error_text(rill__conn *c, const rill__cmd *cmd,
                            const rill__cmd_entry *entry, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));

static void send_error_text(rill__conn *c, const rill__cmd *cmd,
                            const rill__cmd_entry *entry, const char *fmt,
                            ...) {
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rill__cmd_error e = {
        .cmd_index = cmd ? cmd->index : RILL__CMD_NONE,
        .cmd = cmd ? cmd->name : NULL,
        .var_index = entry ? entry->index : RILL__CMD_NONE,
        .var = entry ? entry->name : NULL,
        .message = message,
        .id = cmd ? cmd->id : (rill__cmd_id){RILL__ID_NONE, 0, NULL},
    };
    send_error(c, &e);
}

static void conn_free(rill__conn *c) {
    for (size_t i = 0; i < c->q_len; i++)
        msg_unref(c->q[(c->q_head + i) % c->q_cap]);
    rill__free(c->q);
    rill__free(c->batch);
    rill__free(c->rx);
    rill__free(c->sub_buf);
    rill__free(c->sub_mon);
    rill__free(c->pending_drop_notice);
    rill__free(c);
}

/* ---- Variables (user threads) -------------------------------------------- */

static size_t n_vars(const rill_server *srv) {
    return atomic_load_explicit(&srv->dev.n_vars, memory_order_acquire);
}

static void register_stream(rill_server *srv, rill__stream *s) {
    s->next = srv->streams;
    srv->streams = s;
    srv->n_streams++;
    s->var->net_n_streams++;
}

rill_var *rill_var_create(rill_server *srv, const char *name, rill_type type,
                          rill_ts_mode mode) {
    if (srv == NULL || name == NULL || rill_type_size(type) == 0 ||
        (mode != RILL_TS_DENSE && mode != RILL_TS_SPARSE)) {
        rill__log_error("rill_var_create: invalid argument");
        return NULL;
    }
    size_t len = strlen(name);
    if (len == 0 || len >= RILL__VAR_NAME_MAX) {
        rill__log_error("rill_var_create: name '%s' must be 1 to %d bytes",
                        name, RILL__VAR_NAME_MAX - 1);
        return NULL;
    }
    pthread_mutex_lock(&srv->vars_lock);
    rill_var *v = NULL;
    size_t n = n_vars(srv);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(srv->dev.vars[i]->name, name) == 0) {
            rill__log_error("rill_var_create: a variable named '%s' exists",
                            name);
            goto out;
        }
    }
    if (n == srv->dev.max_vars) {
        rill__log_error("rill_var_create: '%s': the server holds at most %zu "
                        "variables (rill_server_config.max_vars)",
                        name, srv->dev.max_vars);
        goto out;
    }
    v = rill__calloc(1, sizeof *v);
    if (v == NULL)
        goto out;
    v->srv = srv;
    v->dev = &srv->dev;
    v->id = (uint32_t)n;
    v->type = type;
    v->mode = mode;
    v->size = rill_type_size(type);
    memcpy(v->name, name, len + 1);
    v->compat_watch = rill__stream_create(v, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    v->compat_monitor = rill__stream_create(v, RILL__STREAM_MONITOR,
                                            RILL__SINK_COMPAT_MONITOR, true, 0);
    if (v->compat_watch == NULL || v->compat_monitor == NULL) {
        rill__stream_destroy(v->compat_watch);
        rill__stream_destroy(v->compat_monitor);
        rill__free(v);
        v = NULL;
        rill__log_error("rill_var_create: '%s': out of memory", name);
        goto out;
    }
    v->net_n_streams = 2;
    srv->dev.vars[n] = v;
    /* Publish: readers that see the new count see the whole variable. */
    atomic_store_explicit(&srv->dev.n_vars, n + 1, memory_order_release);
out:
    pthread_mutex_unlock(&srv->vars_lock);
    return v;
}

static rill_var *find_var(rill_server *srv, const char *name) {
    size_t n = n_vars(srv);
    for (size_t i = 0; i < n; i++)
        if (strcmp(srv->dev.vars[i]->name, name) == 0)
            return srv->dev.vars[i];
    return NULL;
}

/* ---- Posting to the tick thread ------------------------------------------ */

/* Commands are posted deferred and published together at the end of each
 * network-thread entry point (publish_rt), so all the commands of one
 * client message take effect on the same tick: a watch of several
 * variables starts them all at once. */
static int post_rt(rill_server *srv, rill__rtcmd_kind kind, rill__stream *s,
                   uint64_t tick, uint64_t duration, uint32_t period) {
    rill__rtcmd c = {kind, period, s, tick, duration};
    int rc = rill_queue_post_deferred(srv->dev.cmds, &c, sizeof c);
    if (rc != 0)
        atomic_fetch_add(&srv->commands_rejected, 1);
    return rc;
}

static void publish_rt(rill_server *srv) { rill_queue_publish(srv->dev.cmds); }

/* Hand a stream back for freeing; retried from the drain if the queue is
 * momentarily full. */
static void release_stream(rill_server *srv, rill__stream *s) {
    if (s == NULL || s->releasing)
        return;
    if (post_rt(srv, RILL__RT_RELEASE, s, 0, 0, 0) == 0)
        s->releasing = true;
}

static void unlink_stream(rill_server *srv, rill__stream *s) {
    for (rill__stream **p = &srv->streams; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            srv->n_streams--;
            s->var->net_n_streams--;
            return;
        }
    }
}

/* ---- Records -> messages -------------------------------------------------- */

static bool stream_running(const rill__stream *s) {
    int st = atomic_load_explicit(&s->pub_state, memory_order_acquire);
    return st == RILL__ST_YES || st == RILL__ST_STOPPING;
}

/* A compatibility record goes to every /gui_data socket: "<id>/<t>" then
 * the body, both shared. Ids of 100 and more cannot reach pybela. */
static void fan_out_compat(rill_server *srv, const rill__rec *r,
                           const uint8_t *payload) {
    rill_var *v = r->stream->var;
    char hdr[RILL__BELA_HEADER_MAX];
    size_t hlen;
    if (rill__bela_header_encode(v->id, v->type, true, hdr, &hlen) != 0)
        return;
    /* A monitor record holds the value; the frame is tick + value (§3.5). */
    uint8_t frame[RILL__BELA_MONITOR_MAX];
    size_t blen = r->bytes;
    if (r->kind == RILL__REC_MONITOR) {
        blen = rill__bela_monitor_encode(frame, r->ref, v->type, payload);
        payload = frame;
    }
    rill__msg *h = msg_new(hlen, true);
    rill__msg *b = msg_new(blen, true);
    if (h == NULL || b == NULL) {
        msg_unref(h);
        msg_unref(b);
        return;
    }
    memcpy(msg_payload(h), hdr, hlen);
    memcpy(msg_payload(b), payload, blen);
    for (rill__conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->path != PATH_DATA)
            continue;
        if (!conn_send_data(c, h, b)) {
            c->drops++;
            c->unannounced++;
            atomic_fetch_add(&srv->client_drops, 1);
        }
    }
    msg_unref(h);
    msg_unref(b);
}

static void announce_drops(rill__conn *c, rill_var *v, uint32_t n) {
    char text[160];
    int len = snprintf(text, sizeof text,
                       "{\"event\":\"dropped\",\"buffers\":%u,\"total\":%llu,"
                       "\"variable\":\"%s\"}",
                       n, (unsigned long long)c->drops, v->name);
    conn_send_text(c, text, (size_t)len);
}

/* A native record goes to its one client as one message. Sequence numbers
 * come from the tick thread (a record it dropped left a gap); drops here
 * add to `dropped` of the next message that gets through, preceded by a
 * text notice. */
static void send_native(rill_server *srv, const rill__rec *r,
                        const uint8_t *payload) {
    rill__stream *s = r->stream;
    rill__conn *c = s->conn;
    if (c == NULL)
        return;
    rill_var *v = s->var;
    bool monitor = r->kind == RILL__REC_MONITOR;
    bool sparse = !monitor && v->mode == RILL_TS_SPARSE;
    rill__native_header h = {
        .kind = r->kind == RILL__REC_END ? RILL__NATIVE_END
                : monitor                ? RILL__NATIVE_MONITOR
                                         : RILL__NATIVE_STREAM,
        .type = v->type,
        .flags = (uint8_t)((sparse && r->kind == RILL__REC_BUFFER
                                ? RILL__NATIVE_FLAG_SPARSE
                                : 0) |
                           (r->flags & RILL__REC_FLAG_LAST
                                ? RILL__NATIVE_FLAG_LAST
                                : 0)),
        .var_id = v->id,
        .seq = r->seq,
        .first_ts = r->ref,
        .count = r->count,
        .dropped = r->dropped + s->net_dropped,
    };
    size_t size = rill__native_size(&h);
    rill__msg *m = size ? msg_new(size, true) : NULL;
    size_t len = 0;
    /* var.c pads the values to 4 bytes before the timestamps. */
    const uint8_t *rel =
        sparse ? payload + (((size_t)r->count * v->size + 3) & ~(size_t)3)
               : NULL;
    if (m == NULL ||
        rill__native_encode(&h, payload, (const uint32_t *)(const void *)rel,
                            msg_payload(m), size, &len) != 0) {
        msg_unref(m);
        return;
    }
    uint32_t *pending = &c->pending_drop_notice[v->id];
    /* The end of a stream always gets through, its last buffer included
     * (at most one buffer per stream over the limit), or a stalled client
     * would wait for an end that never comes. */
    bool ending = r->kind == RILL__REC_END || (r->flags & RILL__REC_FLAG_LAST);
    if (conn_has_room(c, m->len) || (ending && !c->closing)) {
        if (*pending != 0) /* the notice goes just before the message */
            announce_drops(c, v, *pending);
        *pending = 0;
        s->net_dropped = 0;
        conn_push(c, m);
    } else {
        s->net_dropped += 1 + r->dropped;
        *pending += 1 + r->dropped;
        c->drops++;
        atomic_fetch_add(&srv->client_drops, 1);
    }
    msg_unref(m);
}

/* A native stream that ended lets go of its client's subscription slot. */
static void native_stream_ended(rill_server *srv, rill__stream *s) {
    if (s->conn != NULL && s->conn->sub_buf[s->var->id] == s)
        s->conn->sub_buf[s->var->id] = NULL;
    release_stream(srv, s);
}

static int ensure_scratch(rill_server *srv, size_t n) {
    if (n <= srv->scratch_cap)
        return 0;
    uint8_t *p = rill__malloc(n);
    if (p == NULL)
        return RILL_ENOMEM;
    rill__free(srv->scratch);
    srv->scratch = p;
    srv->scratch_cap = n;
    return 0;
}

/* Turn records into messages: at least `min_bytes` of them (everything a
 * released stream may still have in the ring), otherwise a bounded number
 * so that sockets get serviced even under a flood. */
static void drain_records(rill_server *srv, size_t min_bytes) {
    rill__rec r;
    size_t done = 0;
    for (int i = 0; i < 4096 || done < min_bytes; i++) {
        if (rill_ring_read_all(srv->dev.out, &r, sizeof r) != 0)
            return;
        done += sizeof r + r.bytes;
        if (ensure_scratch(srv, r.bytes) != 0) {
            /* Cannot hold it: skip its bytes, count it lost. */
            uint8_t sink[256];
            for (size_t left = r.bytes; left != 0;) {
                size_t k = rill_ring_read(srv->dev.out, sink,
                                          RILL__MIN(left, sizeof sink));
                left -= k;
            }
            atomic_fetch_add(&srv->client_drops, 1);
            continue;
        }
        rill_ring_read_all(srv->dev.out, srv->scratch, r.bytes);
        rill__stream *s = r.stream;
        if (s->sink == RILL__SINK_CLIENT) {
            send_native(srv, &r, srv->scratch);
            /* The end of a run that a later watch has restarted ends only
             * that run: the stream lives on. */
            if ((r.kind == RILL__REC_END || (r.flags & RILL__REC_FLAG_LAST)) &&
                r.run == s->net_runs)
                native_stream_ended(srv, s);
        } else if (r.kind != RILL__REC_END) {
            fan_out_compat(srv, &r, srv->scratch);
        }
    }
}

static void broadcast_control(rill_server *srv, const char *text, size_t len) {
    for (rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->path == PATH_CONTROL)
            conn_send_text(c, text, len);
}

static void handle_events(rill_server *srv) {
    rill__ev ev;
    while (rill_queue_pop(srv->dev.events, &ev, sizeof ev, NULL) == 0) {
        if (ev.kind == RILL__EV_RELEASED) {
            if (srv->n_released < srv->max_streams)
                srv->released[srv->n_released++] = ev.stream;
        } else if (ev.kind == RILL__EV_LOG_STARTED) {
            char *text = NULL;
            size_t len = 0;
            if (rill__cmd_log_scheduled(ev.stream->var->name,
                                        ev.stream->log_name, ev.start,
                                        ev.end, &text, &len) == 0) {
                broadcast_control(srv, text, len);
                rill__free(text);
            }
        }
    }
}

/* The log writer closed a file (or gave up on it): tell the clients and
 * give the stream back. */
static void handle_log_events(rill_server *srv) {
    rill__log_ev ev;
    while (rill__logwriter_poll(srv->logwriter, &ev) == 0) {
        rill__stream *s = ev.stream;
        char text[512];
        int len;
        if (ev.kind == RILL__LOG_EV_FAILED) {
            len = snprintf(text, sizeof text,
                           "{\"error\":{\"message\":\"logging %s to %s/%s "
                           "failed: %s; the file keeps every buffer written "
                           "before the failure\",\"variable\":\"%s\"}}",
                           s->var->name, srv->log_dir, s->log_name,
                           strerror(ev.err), s->var->name);
            rill__log_error("logging %s to %s/%s failed: %s",
                            s->var->name, srv->log_dir, s->log_name,
                            strerror(ev.err));
            broadcast_control(srv, text, (size_t)len);
            continue;
        }
        len = snprintf(text, sizeof text,
                       "{\"event\":\"log-ended\",\"logFileName\":\"%s\","
                       "\"variable\":\"%s\"}",
                       s->log_name, s->var->name);
        broadcast_control(srv, text, (size_t)len);
        if (s->var->log_stream == s)
            s->var->log_stream = NULL;
        release_stream(srv, s);
    }
}

/* A pybela data socket cannot take text (its data task dies on it), so its
 * drops are announced on the control sockets of the same peer, at most
 * every 100 ms per data socket:
 * {"event":"dropped","buffers":N,"path":"/gui_data","total":T}. */
#define RILL__NOTICE_INTERVAL_NS (100u * 1000 * 1000)

static void announce_compat_drops(rill_server *srv) {
    uint64_t now = rill_clock_now_ns();
    for (rill__conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->path != PATH_DATA || c->unannounced == 0 ||
            now - c->last_notice_ns < RILL__NOTICE_INTERVAL_NS)
            continue;
        char text[160];
        int len = snprintf(text, sizeof text,
                           "{\"event\":\"dropped\",\"buffers\":%u,"
                           "\"path\":\"/gui_data\",\"total\":%llu}",
                           c->unannounced, (unsigned long long)c->drops);
        for (rill__conn *k = srv->conns; k != NULL; k = k->next)
            if (k->path == PATH_CONTROL && strcmp(k->peer, c->peer) == 0)
                conn_send_text(k, text, (size_t)len);
        c->unannounced = 0;
        c->last_notice_ns = now;
    }
}

static void announce_audio(rill_server *srv);
static void answer_audio_changes(rill_server *srv);
static void poll_jobs(rill_server *srv);

/* Everything the tick thread and the log writer left for this thread. Runs
 * when the waker says the rings hold something, and on a slow timer. */
static void drain_now(rill_server *srv) {
    handle_events(srv);
    /* Records committed before a release was acknowledged are all readable
     * now; draining them first makes freeing the stream safe. */
    drain_records(srv, srv->n_released ? rill_ring_readable(srv->dev.out) : 0);
    handle_log_events(srv);
    announce_compat_drops(srv);
    announce_audio(srv);
    answer_audio_changes(srv);
    poll_jobs(srv);
    /* Released streams: records they emitted before the release was
     * acknowledged were in the ring ahead of it, drained just above. */
    for (size_t i = 0; i < srv->n_released; i++) {
        rill__stream *s = srv->released[i];
        unlink_stream(srv, s);
        rill__stream_destroy(s);
    }
    srv->n_released = 0;
    /* Streams whose release could not be posted earlier. */
    for (rill__stream *s = srv->streams; s != NULL; s = s->next)
        if (s->conn == NULL && s->sink == RILL__SINK_CLIENT && !s->releasing)
            release_stream(srv, s);
    publish_rt(srv);
}

/* Housekeeping: log events, retried releases, and a backstop for data. */
#define RILL__HOUSEKEEPING_US (20 * LWS_US_PER_MS)

static void drain_timer(lws_sorted_usec_list_t *sul) {
    rill_server *srv = lws_container_of(sul, rill_server, drain_sul);
    drain_now(srv);
    lws_sul_schedule(srv->ctx, 0, &srv->drain_sul, drain_timer,
                     RILL__HOUSEKEEPING_US);
}

/* The waker. The tick thread makes no system calls, so it cannot wake the
 * network thread itself; instead this thread looks at the rings every
 * drain_interval_us (two atomic loads) and wakes the network thread only
 * when they hold something. libwebsockets' own timers have millisecond
 * resolution, which would either add a millisecond of latency or, at a
 * sub-millisecond period, make the network thread spin on poll(0). After
 * 100 ms with nothing to do it checks every 5 ms only. */
static void *waker_main(void *arg) {
    rill_server *srv = arg;
    const uint64_t fast = (uint64_t)srv->cfg.drain_interval_us * 1000u;
    const uint64_t slow = 5u * 1000 * 1000;
    const unsigned idle_limit = (unsigned)(100u * 1000 * 1000 / fast) + 1;
    unsigned idle = 0;
    uint64_t next = rill_clock_now_ns();
    while (!atomic_load_explicit(&srv->stop, memory_order_relaxed)) {
        bool work = rill_ring_readable(srv->dev.out) != 0 ||
                    rill_queue_count(srv->dev.events) != 0;
        if (work) {
            idle = 0;
            if (!atomic_exchange(&srv->wake_pending, true))
                lws_cancel_service(srv->ctx);
        } else if (idle < idle_limit) {
            idle++;
        }
        next += idle < idle_limit ? fast : slow;
        uint64_t now = rill_clock_now_ns();
        if (next < now)
            next = now; /* we were late: do not try to catch up */
        rill_clock_sleep_until_ns(next);
    }
    return NULL;
}

/* ---- Control messages ------------------------------------------------------ */

/* Native list replies carry the audio description as "audio", the first
 * key of "watcher" (keys stay sorted). Compatibility clients never see it. */
static char *add_audio_to_list(rill_server *srv, char *text, size_t *len) {
    static const char key[] = "\"watcher\":{";
    char *at = strstr(text, key);
    pthread_mutex_lock(&srv->audio_lock);
    size_t alen = srv->audio_json ? strlen(srv->audio_json) : 0;
    char *out = NULL;
    if (at != NULL && alen != 0 &&
        (out = rill__malloc(*len + alen + sizeof "\"audio\":,")) != NULL) {
        size_t head = (size_t)(at - text) + sizeof key - 1;
        int n = snprintf(out, *len + alen + sizeof "\"audio\":,",
                         "%.*s\"audio\":%s,%s", (int)head, text,
                         srv->audio_json, text + head);
        *len = (size_t)n;
    }
    pthread_mutex_unlock(&srv->audio_lock);
    if (out == NULL)
        return text;
    rill__free(text);
    return out;
}

/* ,"id":ID when the request had one, as sent (an integer or a string). */
static void jw_id(rill__jw *w, const rill__cmd_id *id) {
    if (id == NULL || id->kind == RILL__ID_NONE)
        return;
    rill__jw_lit(w, ",\"id\":");
    if (id->kind == RILL__ID_INT)
        rill__jw_i64(w, id->i);
    else
        rill__jw_string(w, id->s);
}

/* {"audio":A,"event":E[,"id":I][,"sampleRate":S]}: the audio event that
 * every native socket gets, and the answer to an audio-config request. */
typedef struct audio_msg_ctx {
    const char *audio;      /* the description's JSON, or NULL: none */
    const char *event;
    const rill__cmd_id *id; /* NULL: none */
    double sample_rate;     /* 0: not written */
} audio_msg_ctx;

static void build_audio_msg(rill__jw *w, const void *ctx) {
    const audio_msg_ctx *m = ctx;
    rill__jw_lit(w, "{\"audio\":");
    rill__jw_lit(w, m->audio ? m->audio : "null");
    rill__jw_lit(w, ",\"event\":");
    rill__jw_string(w, m->event);
    jw_id(w, m->id);
    if (m->sample_rate > 0) {
        rill__jw_lit(w, ",\"sampleRate\":");
        rill__jw_double(w, m->sample_rate);
    }
    rill__jw_lit(w, "}");
}

/* That message with the current description (and the sample rate if
 * `with_rate`); audio_lock held. NULL if out of memory. */
static char *audio_msg_locked(const rill_server *srv, const char *event,
                              const rill__cmd_id *id, bool with_rate,
                              size_t *len) {
    audio_msg_ctx m = {srv->audio_json, event, id,
                       with_rate ? srv->sample_rate : 0};
    char *text = NULL;
    return rill__json_render(build_audio_msg, &m, &text, len) == 0 ? text : NULL;
}

/* Tell every native client about a new audio description. */
static void announce_audio(rill_server *srv) {
    pthread_mutex_lock(&srv->audio_lock);
    if (srv->audio_gen == srv->audio_sent_gen) {
        pthread_mutex_unlock(&srv->audio_lock);
        return;
    }
    srv->audio_sent_gen = srv->audio_gen;
    size_t n = 0;
    char *text = audio_msg_locked(srv, "audio", NULL, true, &n);
    pthread_mutex_unlock(&srv->audio_lock);
    if (text == NULL)
        return;
    for (rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->path == PATH_CONTROL && c->native)
            conn_send_text(c, text, n);
    rill__free(text);
}

static void send_list(rill_server *srv, rill__conn *c, const rill__cmd_id *id) {
    size_t n = n_vars(srv);
    rill__var_snapshot *snap = rill__calloc(n ? n : 1, sizeof *snap);
    if (snap == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        rill_var *v = srv->dev.vars[i];
        rill__stream *w = c->native ? c->sub_buf[i] : v->compat_watch;
        rill__stream *m = c->native ? c->sub_mon[i] : v->compat_monitor;
        snap[i] = (rill__var_snapshot){
            .name = v->name,
            .type = v->type,
            .ts_mode = v->mode,
            .watched = w != NULL && stream_running(w),
            .logged = v->log_stream != NULL && stream_running(v->log_stream),
            .controlled = atomic_load(&v->controlled),
            .monitor = m ? atomic_load_explicit(&m->pub_period,
                                                memory_order_acquire)
                         : 0,
            .log_file_name = v->log_file_name,
            .value = rill_var_get(v),
            .value_input = rill__bits_to_double(atomic_load_explicit(
                &v->local_bits, memory_order_relaxed)),
        };
    }
    char *text = NULL;
    size_t len = 0;
    if (rill__cmd_list_reply(server_rate(srv),
                             rill_server_now(srv), snap, n, id, &text,
                             &len) == 0) {
        if (c->native)
            text = add_audio_to_list(srv, text, &len);
        conn_send_owned(c, text, len);
    }
    rill__free(snap);
}

/* The remote value as the variable's type reads it (C conversion, integer
 * types truncated toward zero, saturated), widened back to a double. */
static double as_var_type(const rill_var *v, double d) {
    uint64_t raw;
    rill_value_from_double(v->type, d, &raw);
    return rill_value_to_double(v->type, &raw);
}

static void set_remote(rill_var *v, double d) {
    atomic_store_explicit(&v->remote_bits, rill__double_to_bits(as_var_type(v, d)),
                          memory_order_relaxed);
}

static double remote(const rill_var *v) {
    return rill__bits_to_double(
        atomic_load_explicit(&v->remote_bits, memory_order_relaxed));
}

static const char *busy_message =
    "server busy: the command queue to the tick thread is full (is the "
    "device program calling rill_server_tick?); try again";

/* The tick thread's tables are fixed: refuse here, with a reason, what it
 * could not hold (per server, and per variable). */
static bool too_many_streams(rill_server *srv, rill__conn *c,
                             const rill__cmd *cmd, const rill__cmd_entry *e,
                             const rill_var *v) {
    if (srv->n_streams >= srv->max_streams) {
        send_error_text(c, cmd, e,
                        "%s: the server already runs %zu streams, its limit; "
                        "\"%s\" skipped",
                        cmd->name, srv->n_streams, e->name);
        return true;
    }
    if (v->net_n_streams >= RILL__VAR_MAX_STREAMS) {
        send_error_text(c, cmd, e,
                        "%s: \"%s\" already has %d streams (clients watching, "
                        "monitoring or logging it), its limit; skipped",
                        cmd->name, e->name, RILL__VAR_MAX_STREAMS);
        return true;
    }
    return false;
}

/* Open a new log file for `v` (spec §6: created and its header written
 * before the command reaches the tick thread, so the next list reply
 * already names it) and start its stream. */
static void start_log(rill_server *srv, rill__conn *c, const rill__cmd *cmd,
                      const rill__cmd_entry *e, rill_var *v) {
    rill__stream *old = v->log_stream;
    /* Busy while logging, and from the log command until the tick thread
     * takes it (two quick logs would otherwise both run). */
    if (old != NULL &&
        (atomic_load_explicit(&old->pub_state, memory_order_acquire) !=
             RILL__ST_NO ||
         !atomic_load_explicit(&old->pub_started, memory_order_acquire))) {
        send_error_text(c, cmd, e,
                        "log: \"%s\" is already being logged (or scheduled) "
                        "to %s; skipped, send unlog first",
                        v->name, old->log_name);
        return;
    }
    if (too_many_streams(srv, c, cmd, e, v))
        return;
    char name[sizeof old->log_name], path[4096];
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        int rc = rill__logfile_choose_name(srv->log_dir, v->name, name,
                                           sizeof name);
        if (rc != 0) {
            send_error_text(c, cmd, e,
                            "log: cannot choose a file name for \"%s\" in "
                            "%s: %s",
                            v->name, srv->log_dir, rill_strerror(rc));
            return;
        }
        snprintf(path, sizeof path, "%s/%s", srv->log_dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        err = errno;
        if (fd < 0 && err != EEXIST)
            break;
    }
    if (fd < 0) {
        send_error_text(c, cmd, e, "log: cannot create %s: %s", path,
                        strerror(err));
        return;
    }
    uint8_t hdr[RILL__VAR_NAME_MAX + 32];
    size_t hlen = 0;
    rill__logfile_header_encode(v->name, v->type, (uint32_t)getpid(),
                                (uint32_t)(uintptr_t)srv, hdr, sizeof hdr,
                                &hlen);
    if (write(fd, hdr, hlen) != (ssize_t)hlen) {
        err = errno;
        close(fd);
        send_error_text(c, cmd, e, "log: cannot write the header of %s: %s",
                        path, strerror(err));
        return;
    }
    rill__stream *s = rill__stream_create(v, RILL__STREAM_BUFFER,
                                          RILL__SINK_LOG, true, 0);
    if (s == NULL) {
        close(fd);
        send_error_text(c, cmd, e, "log: out of memory");
        return;
    }
    s->log_fd = fd;
    snprintf(s->log_name, sizeof s->log_name, "%s", name);
    if (post_rt(srv, RILL__RT_START, s, e->timestamp, e->duration, 0) != 0) {
        close(fd);
        rill__stream_destroy(s);
        send_error_text(c, cmd, e, "log: %s", busy_message);
        return;
    }
    register_stream(srv, s);
    v->log_stream = s;
    snprintf(v->log_file_name, sizeof v->log_file_name, "%s", name);
}

/* The stream a native client has for `v`, created on first use. A watch
 * asking for a different buffer length replaces it. */
static rill__stream *native_stream(rill_server *srv, rill__conn *c,
                                   const rill__cmd *cmd,
                                   const rill__cmd_entry *e, rill_var *v,
                                   rill__stream_kind kind, uint32_t length) {
    rill__stream **slot = kind == RILL__STREAM_MONITOR ? &c->sub_mon[v->id]
                                                       : &c->sub_buf[v->id];
    rill__stream *s = *slot;
    if (s != NULL && kind == RILL__STREAM_BUFFER && s->capacity != length) {
        s->conn = NULL;
        release_stream(srv, s);
        *slot = s = NULL;
    }
    if (s != NULL)
        return s;
    if (too_many_streams(srv, c, cmd, e, v))
        return NULL;
    s = rill__stream_create(v, kind, RILL__SINK_CLIENT, false, length);
    if (s == NULL) {
        send_error_text(c, cmd, e, "%s: out of memory", cmd->name);
        return NULL;
    }
    s->conn = c;
    register_stream(srv, s);
    *slot = s;
    return s;
}

/* setMask works on the integer version of the remote value: an int32's
 * two's-complement bits, else the value saturated to uint32. */
static uint32_t mask_base(const rill_var *v) {
    if (v->type == RILL_TYPE_INT32) {
        int32_t i;
        rill_value_from_double(RILL_TYPE_INT32, remote(v), &i);
        return (uint32_t)i;
    }
    uint32_t u;
    rill_value_from_double(RILL_TYPE_UINT32, remote(v), &u);
    return u;
}

static void run_entry(rill_server *srv, rill__conn *c, const rill__cmd *cmd,
                      const rill__cmd_entry *e, rill_var *v) {
    rill__stream *s = NULL;
    int rc = 0;
    bool compat_path = !c->native && (cmd->kind == RILL__CMD_WATCH ||
                                      cmd->kind == RILL__CMD_UNWATCH ||
                                      cmd->kind == RILL__CMD_MONITOR);
    if (compat_path && v->id >= RILL__BELA_COMPAT_MAX_IDS) {
        send_error_text(c, cmd, e,
                        "%s: \"%s\" has id %u, and compatibility (pybela) "
                        "clients can only address ids 0 to 99; use native "
                        "mode; skipped",
                        cmd->name, v->name, v->id);
        return;
    }
    switch (cmd->kind) {
    case RILL__CMD_WATCH:
        if (c->native) {
            uint32_t len = e->has_length
                               ? e->length
                               : (uint32_t)rill__bela_values_per_buffer(
                                     v->type, v->mode);
            s = native_stream(srv, c, cmd, e, v, RILL__STREAM_BUFFER, len);
            if (s == NULL)
                return;
        } else {
            s = v->compat_watch;
        }
        rc = post_rt(srv, RILL__RT_START, s, e->timestamp, e->duration,
                     ++s->net_runs);
        break;
    case RILL__CMD_UNWATCH:
        s = c->native ? c->sub_buf[v->id] : v->compat_watch;
        if (s != NULL)
            rc = post_rt(srv, RILL__RT_STOP, s, e->timestamp, 0, 0);
        break;
    case RILL__CMD_MONITOR:
        s = c->native ? native_stream(srv, c, cmd, e, v, RILL__STREAM_MONITOR, 0)
                      : v->compat_monitor;
        if (s == NULL)
            return;
        atomic_store_explicit(&s->pub_period, e->period, memory_order_release);
        rc = post_rt(srv, RILL__RT_MONITOR, s, 0, 0, e->period);
        break;
    case RILL__CMD_LOG:
        start_log(srv, c, cmd, e, v);
        return;
    case RILL__CMD_UNLOG:
        if (v->log_stream != NULL)
            rc = post_rt(srv, RILL__RT_STOP, v->log_stream, e->timestamp, 0, 0);
        break;
    case RILL__CMD_CONTROL:
        if (!atomic_load(&v->controlled)) {
            atomic_store(&v->remote_bits, atomic_load(&v->local_bits));
            atomic_store(&v->controlled, true);
        }
        return;
    case RILL__CMD_UNCONTROL:
        atomic_store(&v->controlled, false);
        return;
    case RILL__CMD_SET:
        set_remote(v, e->value);
        return;
    case RILL__CMD_SET_MASK: {
        uint32_t bits = (mask_base(v) & ~e->mask) | ((uint32_t)e->value & e->mask);
        set_remote(v, v->type == RILL_TYPE_INT32 ? (double)(int32_t)bits
                                                 : (double)bits);
        return;
    }
    case RILL__CMD_LIST:
    case RILL__CMD_UNKNOWN:
        return;
    }
    if (rc != 0)
        send_error_text(c, cmd, e, "%s: %s", cmd->name, busy_message);
}

static void run_cmd(rill_server *srv, rill__conn *c, const rill__cmd *cmd) {
    if (cmd->kind == RILL__CMD_LIST) {
        send_list(srv, c, &cmd->id);
        return;
    }
    for (size_t i = 0; i < cmd->n_entries; i++) {
        const rill__cmd_entry *e = &cmd->entries[i];
        rill_var *v = find_var(srv, e->name);
        if (v == NULL) {
            send_error_text(c, cmd, e,
                            "%s: unknown variable \"%s\"; skipped (a list "
                            "command gives the names)",
                            cmd->name, e->name);
            continue;
        }
        run_entry(srv, c, cmd, e, v);
    }
}

static void set_active(rill_server *srv, rill__conn *c, bool active) {
    if (c->active == active)
        return;
    c->active = active;
    atomic_fetch_add(&srv->dev.compat_active, active ? 1 : -1);
}

/* {"rill":"hello","version":1} switches a control socket to native mode.
 * Old clients never send it and never see native messages. */
static bool is_hello(const char *text, size_t len) {
    static const char key[] = "\"rill\"";
    if (memmem(text, len, key, sizeof key - 1) == NULL)
        return false;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    json_t *r = json_object_get(root, "rill");
    bool hello = json_is_string(r) && strcmp(json_string_value(r), "hello") == 0;
    json_decref(root);
    return hello;
}

static void go_native(rill_server *srv, rill__conn *c) {
    size_t n = srv->dev.max_vars;
    if (!c->native) {
        /* Only what is missing: a hello retried after a failed one must
         * not leak the arrays the first one got. */
        if (c->sub_buf == NULL)
            c->sub_buf = rill__calloc(n, sizeof *c->sub_buf);
        if (c->sub_mon == NULL)
            c->sub_mon = rill__calloc(n, sizeof *c->sub_mon);
        if (c->pending_drop_notice == NULL)
            c->pending_drop_notice =
                rill__calloc(n, sizeof *c->pending_drop_notice);
        if (c->sub_buf == NULL || c->sub_mon == NULL ||
            c->pending_drop_notice == NULL) {
            send_error_text(c, NULL, NULL, "hello: out of memory");
            return;
        }
        c->native = true;
        set_active(srv, c, false); /* native data ignores the active set */
    }
    char text[256];
    int len = snprintf(text, sizeof text,
                       "{\"rill\":\"hello\",\"version\":%d,\"maxValues\":%d,"
                       "\"queueBytes\":%zu,\"sampleRate\":%.17g}",
                       RILL__CONTROL_VERSION, RILL__CMD_MAX_LENGTH,
                       srv->cfg.client_queue_bytes, server_rate(srv));
    conn_send_text(c, text, (size_t)len);
}

static bool dash_message(rill_server *srv, rill__conn *c, const char *text,
                         size_t len);

static void on_control_text(rill_server *srv, rill__conn *c, const char *text,
                            size_t len) {
    if (is_hello(text, len)) {
        if (!srv->cfg.compat_only) /* a Bela ignores it */
            go_native(srv, c);
        return;
    }
    if (dash_message(srv, c, text, len))
        return;
    rill__cmd_msg *msg = NULL;
    if (rill__cmd_parse(text, len, &msg) != 0) {
        send_error_text(c, NULL, NULL, "out of memory parsing a message");
        return;
    }
    for (size_t i = 0; i < msg->n_errors; i++)
        send_error(c, &msg->errors[i]);
    if (msg->status == 0) {
        if (msg->event == RILL__EVENT_CONNECTION_REPLY ||
            msg->event == RILL__EVENT_ACTIVE)
            set_active(srv, c, !c->native);
        else if (msg->event == RILL__EVENT_INACTIVE)
            set_active(srv, c, false);
        for (size_t i = 0; i < msg->n_cmds; i++)
            run_cmd(srv, c, &msg->cmds[i]);
        publish_rt(srv);
    }
    rill__cmd_msg_destroy(msg);
}

/* Errors about what a client sent on a data path go to its control
 * socket: itself in native mode, otherwise the control sockets of the same
 * peer. Never as text on /gui_data: pybela's data task dies on a text
 * frame (spec §7). */
static void report_data_error(rill_server *srv, rill__conn *c,
                              const char *err) {
    rill__log_warn("%s: %s", c->peer, err);
    for (rill__conn *k = srv->conns; k != NULL; k = k->next) {
        if (k->path != PATH_CONTROL)
            continue;
        if (k == c || (c->path == PATH_DATA && strcmp(k->peer, c->peer) == 0))
            send_error_text(k, NULL, NULL, "%s; buffer ignored", err);
    }
}

/* A client's buffer for the device (spec §4), fully validated first. */
static void on_client_buffer(rill_server *srv, rill__conn *c,
                             const uint8_t *data, size_t len) {
    static const uint8_t empty[1];
    rill__client_buffer b;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__client_buffer_parse(data ? data : empty, len, &b, err,
                                  sizeof err) != 0) {
        report_data_error(srv, c, err);
        return;
    }
    if (srv->cfg.on_buffer == NULL)
        return;
    rill__wire_get_values(srv->values_scratch, b.type, b.values, b.count);
    srv->cfg.on_buffer(srv, b.id, b.type, srv->values_scratch, b.count,
                       srv->cfg.user);
}

/* ---- Dashboard relay ---------------------------------------------------------- */

/* Pages subscribe with {"rill":"dash"}; programs (native clients) create
 * handlers and send them data (docs/HANDLERS.md). A program's handler ids
 * are its own; the server gives each handler a server-wide id, rewrites
 * every message with it and relays it to every subscribed page. Creation
 * and removal always reach a page (like a stream's end); data goes through
 * the page's bounded queue and is dropped, counted and announced when it is
 * full, so a slow page never holds up a program or the other pages. */

#define RILL__DASH_MAX_HANDLERS 1024
#define RILL__DASH_MAX_TYPE 64
#define RILL__DASH_MAX_NAME 256
#define RILL__DASH_FRAME_HEADER 32
#define RILL__DASH_KIND 16

typedef struct dash_handler {
    uint32_t id;       /* server-wide, what pages see */
    uint32_t local;    /* the program's own id */
    rill__conn *owner;
    rill__msg *create; /* the latest handler event, rewritten */
} dash_handler;

static dash_handler *dash_find(rill_server *srv, const rill__conn *owner,
                               uint32_t local) {
    for (size_t i = 0; i < srv->n_dash; i++)
        if (srv->dash[i].owner == owner && srv->dash[i].local == local)
            return &srv->dash[i];
    return NULL;
}

static void dash_forget(rill_server *srv, dash_handler *h) {
    msg_unref(h->create);
    h->owner->dash_handlers--;
    size_t i = (size_t)(h - srv->dash);
    memmove(&srv->dash[i], &srv->dash[i + 1],
            (srv->n_dash - i - 1) * sizeof *srv->dash);
    srv->n_dash--;
}

/* {"error":{"event":E,"handler":ID,"message":M}} to the program. */
static void dash_error(rill__conn *c, const char *event, int64_t local,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct dash_err_ctx {
    const char *event;
    int64_t local;
    const char *message;
} dash_err_ctx;

static void build_dash_error(rill__jw *w, const void *ctx) {
    const dash_err_ctx *e = ctx;
    rill__jw_lit(w, "{\"error\":{\"event\":");
    rill__jw_string(w, e->event);
    if (e->local >= 0) {
        rill__jw_lit(w, ",\"handler\":");
        rill__jw_i64(w, e->local);
    }
    rill__jw_lit(w, ",\"message\":");
    rill__jw_string(w, e->message);
    rill__jw_lit(w, "}}");
}

static void dash_error(rill__conn *c, const char *event, int64_t local,
                       const char *fmt, ...) {
    char message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rill__log_warn("%s: %s", c->peer, message);
    dash_err_ctx e = {event, local, message};
    char *text = NULL;
    size_t len = 0;
    if (rill__json_render(build_dash_error, &e, &text, &len) == 0)
        conn_send_owned(c, text, len);
}

/* One message to one page. Data (`droppable`) needs room in the page's
 * queue, and a notice of earlier drops goes just before it; creation and
 * removal always go, up to the limit past which a page that reads nothing
 * is disconnected (as for control replies). */
static void page_send(rill_server *srv, rill__conn *c, rill__msg *m,
                      bool droppable) {
    if (c->closing)
        return;
    if (droppable) {
        if (!conn_has_room(c, m->len)) {
            c->drops++;
            c->dash_unannounced++;
            atomic_fetch_add(&srv->client_drops, 1);
            return;
        }
        if (c->dash_unannounced != 0) {
            char text[160];
            int n = snprintf(text, sizeof text,
                             "{\"event\":\"dropped\",\"buffers\":%u,"
                             "\"path\":\"dash\",\"total\":%llu}",
                             c->dash_unannounced, (unsigned long long)c->drops);
            conn_send_text(c, text, (size_t)n);
            c->dash_unannounced = 0;
        }
    } else if (c->q_bytes + m->len > conn_limit(c) * 2 + (1u << 20)) {
        rill__log_warn("closing %s: it does not read its messages", c->peer);
        c->closing = true;
        lws_callback_on_writable(c->wsi);
        return;
    }
    conn_push(c, m);
}

static void dash_broadcast(rill_server *srv, rill__msg *m, bool droppable) {
    for (rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->dash_page)
            page_send(srv, c, m, droppable);
}

/* jansson's text as a message (jansson allocates with malloc). */
static rill__msg *dash_msg_json(json_t *obj) {
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return NULL;
    rill__msg *m = msg_text(text, strlen(text));
    free(text);
    return m;
}

static void dash_broadcast_remove(rill_server *srv, uint32_t id) {
    char text[64];
    int n = snprintf(text, sizeof text,
                     "{\"event\":\"handler-remove\",\"id\":%u}", id);
    rill__msg *m = msg_text(text, (size_t)n);
    if (m == NULL)
        return;
    dash_broadcast(srv, m, false);
    msg_unref(m);
}

/* {"rill":"dash","version":1} from a page. */
static void dash_subscribe(rill_server *srv, rill__conn *c, json_t *root) {
    json_t *jid = json_object_get(root, "id");
    rill__cmd_id id = {RILL__ID_NONE, 0, NULL};
    if (json_is_string(jid))
        id = (rill__cmd_id){RILL__ID_STRING, 0, json_string_value(jid)};
    else if (json_is_integer(jid))
        id = (rill__cmd_id){RILL__ID_INT, json_integer_value(jid), NULL};
    json_t *ver = json_object_get(root, "version");
    const char *why = NULL;
    if (!c->native)
        why = "dash: send {\"rill\":\"hello\",\"version\":1} first; the "
              "dashboard relay is for native connections";
    else if (ver != NULL && !(json_is_integer(ver) && json_integer_value(ver) == 1))
        why = "dash: this server speaks dashboard version 1 only";
    if (why != NULL) {
        rill__cmd_error e = {.cmd_index = RILL__CMD_NONE,
                             .var_index = RILL__CMD_NONE,
                             .message = why,
                             .id = id};
        send_error(c, &e);
        return;
    }
    static const char reply[] = "{\"rill\":\"dash\",\"version\":1}";
    conn_send_text(c, reply, sizeof reply - 1);
    if (c->dash_page)
        return; /* subscribed already: it has every handler */
    c->dash_page = true;
    for (size_t i = 0; i < srv->n_dash; i++)
        page_send(srv, c, srv->dash[i].create, false);
}

/* The handler's id as the program sent it: an integer 1 ... 2^32 - 1. */
static int64_t dash_local_id(rill__conn *c, const char *event, json_t *root) {
    json_t *jid = json_object_get(root, "id");
    if (!json_is_integer(jid) || json_integer_value(jid) < 1 ||
        json_integer_value(jid) > (json_int_t)UINT32_MAX) {
        dash_error(c, event, -1,
                   "%s: \"id\" must be an integer from 1 to 4294967295 (the "
                   "program's own number for the handler); ignored",
                   event);
        return -1;
    }
    return (int64_t)json_integer_value(jid);
}

static void dash_create(rill_server *srv, rill__conn *c, json_t *root,
                        int64_t local) {
    static const char ev[] = "handler";
    json_t *type = json_object_get(root, "type");
    json_t *name = json_object_get(root, "name");
    json_t *params = json_object_get(root, "parameters");
    if (!json_is_string(type) || json_string_length(type) == 0 ||
        json_string_length(type) > RILL__DASH_MAX_TYPE) {
        dash_error(c, ev, local,
                   "handler %lld: \"type\" must be a string of 1 to %d "
                   "bytes (line, area, bar, scatter, polar-line, "
                   "polar-area, heatmap, spectrogram, audio, meter); ignored",
                   (long long)local, RILL__DASH_MAX_TYPE);
        return;
    }
    if (name != NULL && (!json_is_string(name) ||
                         json_string_length(name) > RILL__DASH_MAX_NAME)) {
        dash_error(c, ev, local,
                   "handler %lld: \"name\" must be a string of at most %d "
                   "bytes; ignored",
                   (long long)local, RILL__DASH_MAX_NAME);
        return;
    }
    if (params != NULL && !json_is_object(params)) {
        dash_error(c, ev, local,
                   "handler %lld: \"parameters\" must be an object; ignored",
                   (long long)local);
        return;
    }
    dash_handler *h = dash_find(srv, c, (uint32_t)local);
    if (h == NULL) {
        if (srv->n_dash >= RILL__DASH_MAX_HANDLERS) {
            dash_error(c, ev, local,
                       "handler %lld: the server already relays %d "
                       "handlers, its limit; remove some first; ignored",
                       (long long)local, RILL__DASH_MAX_HANDLERS);
            return;
        }
        if (srv->n_dash == srv->dash_cap) {
            size_t cap = srv->dash_cap ? srv->dash_cap * 2 : 16;
            dash_handler *p = rill__realloc(srv->dash, cap * sizeof *p);
            if (p == NULL) {
                dash_error(c, ev, local, "handler %lld: out of memory",
                           (long long)local);
                return;
            }
            srv->dash = p;
            srv->dash_cap = cap;
        }
    }
    uint32_t id = h != NULL ? h->id : ++srv->next_dash_id;
    if (id == 0) /* after 2^32 - 1 handlers: wrap, skipping 0 */
        id = srv->next_dash_id = 1;
    json_t *out = json_pack("{s:s,s:I,s:O,s:o}", "event", "handler", "id",
                            (json_int_t)id, "type", type, "parameters",
                            params != NULL ? json_incref(params)
                                           : json_object());
    if (out != NULL && name != NULL)
        json_object_set(out, "name", name);
    rill__msg *m = out ? dash_msg_json(out) : NULL;
    json_decref(out);
    if (m == NULL) {
        dash_error(c, ev, local, "handler %lld: out of memory",
                   (long long)local);
        return;
    }
    if (h == NULL) {
        h = &srv->dash[srv->n_dash++];
        *h = (dash_handler){id, (uint32_t)local, c, NULL};
        c->dash_handlers++;
    }
    msg_unref(h->create);
    h->create = m;
    dash_broadcast(srv, m, false);
}

static void dash_data(rill_server *srv, rill__conn *c, json_t *root,
                      int64_t local) {
    static const char ev[] = "handler-data";
    dash_handler *h = dash_find(srv, c, (uint32_t)local);
    if (h == NULL) {
        dash_error(c, ev, local,
                   "handler-data: unknown handler %lld (create it first with "
                   "a handler event on this connection); ignored",
                   (long long)local);
        return;
    }
    json_t *data = json_object_get(root, "data");
    json_t *tick = json_object_get(root, "tick");
    if (data == NULL) {
        dash_error(c, ev, local, "handler-data %lld: no \"data\"; ignored",
                   (long long)local);
        return;
    }
    if (tick != NULL && !(json_is_integer(tick) && json_integer_value(tick) >= 0)) {
        dash_error(c, ev, local,
                   "handler-data %lld: \"tick\" must be a non-negative "
                   "integer; ignored",
                   (long long)local);
        return;
    }
    json_t *out = json_pack("{s:s,s:I,s:O}", "event", "handler-data", "id",
                            (json_int_t)h->id, "data", data);
    if (out != NULL && tick != NULL)
        json_object_set(out, "tick", tick);
    rill__msg *m = out ? dash_msg_json(out) : NULL;
    json_decref(out);
    if (m == NULL) {
        dash_error(c, ev, local, "handler-data %lld: out of memory",
                   (long long)local);
        return;
    }
    dash_broadcast(srv, m, true);
    msg_unref(m);
}

static void dash_remove(rill_server *srv, rill__conn *c, int64_t local) {
    dash_handler *h = dash_find(srv, c, (uint32_t)local);
    if (h == NULL) {
        dash_error(c, "handler-remove", local,
                   "handler-remove: unknown handler %lld; ignored",
                   (long long)local);
        return;
    }
    uint32_t id = h->id;
    dash_forget(srv, h);
    dash_broadcast_remove(srv, id);
}

/* A program's connection closed: its handlers go, and every page is told. */
static void dash_conn_closed(rill_server *srv, rill__conn *c) {
    c->dash_page = false;
    /* While the server is being destroyed the other sockets are closing
     * too: nobody to tell. */
    bool tell = !atomic_load(&srv->stop);
    for (size_t i = srv->n_dash; i-- > 0;) {
        if (srv->dash[i].owner != c)
            continue;
        uint32_t id = srv->dash[i].id;
        dash_forget(srv, &srv->dash[i]);
        if (tell)
            dash_broadcast_remove(srv, id);
    }
}

/* ---- Running programs for pages (allow_exec) ---------------------------------- */

/* EasyDSP's editor ran what the user wrote; here a page asks the server to
 * run a program (argv, no shell unless the user writes "sh", "-c"), and
 * gets its stdout and stderr as text events and its exit. Only with
 * allow_exec, which needs a token: it is remote code execution for whoever
 * holds the token. Output is read when there is room in the page's queue,
 * so a program that writes faster than the page reads is slowed down by
 * its pipe, not buffered without bound. */

#define RILL__EXEC_MAX_JOBS 8
#define RILL__EXEC_MAX_ARGS 256

typedef struct exec_job {
    rill__job *job;
    rill__conn *owner;
    uint32_t id;
} exec_job;

static rill__cmd_id json_id(json_t *root) {
    json_t *jid = json_object_get(root, "id");
    if (json_is_string(jid))
        return (rill__cmd_id){RILL__ID_STRING, 0, json_string_value(jid)};
    if (json_is_integer(jid))
        return (rill__cmd_id){RILL__ID_INT, json_integer_value(jid), NULL};
    return (rill__cmd_id){RILL__ID_NONE, 0, NULL};
}

/* An error reply to a {"rill":...} request: its `cmd` and the request's id. */
static void request_error(rill__conn *c, const char *cmd, json_t *root,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void request_error(rill__conn *c, const char *cmd, json_t *root,
                          const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rill__cmd_error e = {.cmd_index = RILL__CMD_NONE,
                         .cmd = cmd,
                         .var_index = RILL__CMD_NONE,
                         .message = message,
                         .id = json_id(root)};
    send_error(c, &e);
}

typedef struct exec_ev_ctx {
    const char *event, *stream;
    uint32_t job;
    const char *text;
    size_t len;
    int64_t pid, code, sig;
    const rill__cmd_id *id;
} exec_ev_ctx;

static void build_exec_event(rill__jw *w, const void *ctx) {
    const exec_ev_ctx *e = ctx;
    rill__jw_lit(w, "{");
    if (e->code != INT64_MIN) {
        rill__jw_lit(w, "\"code\":");
        rill__jw_i64(w, e->code);
        rill__jw_lit(w, ",");
    }
    rill__jw_lit(w, "\"event\":");
    rill__jw_string(w, e->event);
    jw_id(w, e->id);
    rill__jw_lit(w, ",\"job\":");
    rill__jw_u64(w, e->job);
    if (e->pid != INT64_MIN) {
        rill__jw_lit(w, ",\"pid\":");
        rill__jw_i64(w, e->pid);
    }
    if (e->sig != INT64_MIN) {
        rill__jw_lit(w, ",\"signal\":");
        rill__jw_i64(w, e->sig);
    }
    if (e->stream != NULL) {
        rill__jw_lit(w, ",\"stream\":");
        rill__jw_string(w, e->stream);
        /* The bytes as they came; invalid UTF-8 becomes U+FFFD. */
        char *t = rill__malloc(e->len + 1);
        if (t != NULL) {
            memcpy(t, e->text, e->len);
            t[e->len] = '\0';
            rill__jw_lit(w, ",\"text\":");
            rill__jw_string(w, t);
            rill__free(t);
        }
    }
    rill__jw_lit(w, "}");
}

static void exec_send(rill__conn *c, const exec_ev_ctx *e) {
    char *text = NULL;
    size_t len = 0;
    if (rill__json_render(build_exec_event, e, &text, &len) == 0)
        conn_send_owned(c, text, len);
}

/* {"rill":"exec","id":X,"argv":["prog","arg",...],"cwd":"dir"} */
static void exec_start(rill_server *srv, rill__conn *c, json_t *root) {
    if (!srv->cfg.allow_exec) {
        request_error(c, "exec", root,
                   "exec: refused: this server does not run programs (start "
                   "it with rill serve --allow-exec --token SECRET; that is "
                   "remote code execution, for the device's owner only)");
        return;
    }
    if (!c->native) {
        request_error(c, "exec", root, "exec: send {\"rill\":\"hello\",\"version\":1} "
                            "first; refused");
        return;
    }
    json_t *argv = json_object_get(root, "argv");
    json_t *cwd = json_object_get(root, "cwd");
    size_t n = json_array_size(argv);
    if (!json_is_array(argv) || n == 0 || n > RILL__EXEC_MAX_ARGS) {
        request_error(c, "exec", root,
                   "exec: \"argv\" must be an array of 1 to %d strings, the "
                   "program then its arguments (no shell: write \"sh\", "
                   "\"-c\", \"...\" for one); refused",
                   RILL__EXEC_MAX_ARGS);
        return;
    }
    char *args[RILL__EXEC_MAX_ARGS + 1];
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(argv, i);
        if (!json_is_string(a) || (i == 0 && json_string_length(a) == 0) ||
            strlen(json_string_value(a)) != json_string_length(a)) {
            request_error(c, "exec", root,
                       "exec: argv[%zu] must be a string without NUL bytes%s; "
                       "refused",
                       i, i == 0 ? ", not empty" : "");
            return;
        }
        args[i] = (char *)json_string_value(a);
    }
    args[n] = NULL;
    if (cwd != NULL && !json_is_string(cwd)) {
        request_error(c, "exec", root, "exec: \"cwd\" must be a string; refused");
        return;
    }
    if (srv->n_jobs >= RILL__EXEC_MAX_JOBS) {
        request_error(c, "exec", root,
                   "exec: %d programs are running, the limit; stop one "
                   "first; refused",
                   RILL__EXEC_MAX_JOBS);
        return;
    }
    if (srv->jobs == NULL &&
        (srv->jobs = rill__calloc(RILL__EXEC_MAX_JOBS, sizeof *srv->jobs)) == NULL) {
        request_error(c, "exec", root, "exec: out of memory; refused");
        return;
    }
    char err[512];
    rill__job *job = NULL;
    int rc = rill__job_start(args, cwd ? json_string_value(cwd) : NULL, &job,
                             err, sizeof err);
    if (rc != 0) {
        request_error(c, "exec", root, "exec: %s",
                   rc == RILL_ENOMEM ? "out of memory" : err);
        return;
    }
    uint32_t id = ++srv->next_job_id;
    srv->jobs[srv->n_jobs++] = (exec_job){job, c, id};
    rill__log_info("%s: running %s (pid %d, job %u)", c->peer, args[0],
                   (int)rill__job_pid(job), id);
    rill__cmd_id rid = json_id(root);
    exec_ev_ctx e = {"exec-started", NULL, id, NULL, 0,
                     rill__job_pid(job), INT64_MIN, INT64_MIN, &rid};
    exec_send(c, &e);
}

/* {"rill":"exec-stop","job":J}: SIGTERM to its process group (SIGKILL
 * 2 s later); without "job", every program this connection started. */
static void exec_stop(rill_server *srv, rill__conn *c, json_t *root) {
    json_t *jj = json_object_get(root, "job");
    if (jj != NULL && !json_is_integer(jj)) {
        request_error(c, "exec", root, "exec-stop: \"job\" must be an integer");
        return;
    }
    size_t stopped = 0;
    for (size_t i = 0; i < srv->n_jobs; i++) {
        exec_job *j = &srv->jobs[i];
        if (j->owner == c &&
            (jj == NULL || (json_int_t)j->id == json_integer_value(jj))) {
            rill__job_stop(j->job);
            stopped++;
        }
    }
    if (jj != NULL && stopped == 0)
        request_error(c, "exec", root,
                   "exec-stop: no running job %lld of this connection",
                   (long long)json_integer_value(jj));
}

typedef struct exec_out_ctx {
    rill__conn *c;
    uint32_t job;
} exec_out_ctx;

static void exec_output(void *user, int stream, const char *data, size_t len) {
    exec_out_ctx *o = user;
    exec_ev_ctx e = {"exec-output", stream == 1 ? "stdout" : "stderr", o->job,
                     data, len, INT64_MIN, INT64_MIN, INT64_MIN, NULL};
    exec_send(o->c, &e);
}

static void poll_jobs(rill_server *srv) {
    for (size_t i = 0; i < srv->n_jobs;) {
        exec_job *j = &srv->jobs[i];
        size_t used = j->owner->q_bytes, limit = conn_limit(j->owner);
        size_t room = used < limit ? RILL__MIN(limit - used, (size_t)65536) : 0;
        exec_out_ctx o = {j->owner, j->id};
        int code = 0, sig = 0;
        if (!rill__job_poll(j->job, room, exec_output, &o, &code, &sig)) {
            i++;
            continue;
        }
        exec_ev_ctx e = {"exec-exit", NULL, j->id, NULL, 0, INT64_MIN, code,
                         sig, NULL};
        exec_send(j->owner, &e);
        rill__job_destroy(j->job);
        srv->jobs[i] = srv->jobs[--srv->n_jobs];
    }
}

/* The page that started them went away: so do its programs. */
static void exec_conn_closed(rill_server *srv, rill__conn *c) {
    for (size_t i = 0; i < srv->n_jobs;) {
        if (srv->jobs[i].owner != c) {
            i++;
            continue;
        }
        rill__job_destroy(srv->jobs[i].job);
        srv->jobs[i] = srv->jobs[--srv->n_jobs];
    }
}

/* ---- Audio configuration changes (PROTOCOL.md §8) -------------------- */

/* "8000, 44100, 48000" */
static void format_rates(char *out, size_t cap, const double *rates, size_t n) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++) {
        int k = snprintf(out + len, cap - len, "%s%g", i ? ", " : "", rates[i]);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

/* {"rill":"audio-config","id":X,"rate":R,"channels":C,"bufferFrames":B,
 * "volume":V}: checked here against what the description offers (a field
 * equal to its current value is no change, so a form may send them all),
 * then run by the program on the device-request thread; the answer goes
 * out at a later drain (answer_audio_changes). */
static void audio_change_request(rill_server *srv, rill__conn *c,
                                 json_t *root) {
    static const char *const keys[] = {"rill", "id", "rate", "channels",
                                       "bufferFrames", "volume"};
    if (!c->native) {
        request_error(c, "audio-config", root, "audio-config: send {\"rill\":\"hello\","
                                    "\"version\":1} first; refused");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(key, keys[k]) != 0)
            k++;
        if (k == sizeof keys / sizeof keys[0]) {
            request_error(c, "audio-config", root,
                               "audio-config: unknown field \"%.64s\" (the "
                               "fields are rate, channels, bufferFrames and "
                               "volume); refused",
                               key);
            return;
        }
    }
    if (srv->devreq == NULL) {
        request_error(c, "audio-config", root,
                           "audio-config: refused: this device's program "
                           "does not take audio configuration changes (rill "
                           "serve takes them for its audio sources)");
        return;
    }
    json_t *jr = json_object_get(root, "rate");
    json_t *jc = json_object_get(root, "channels");
    json_t *jb = json_object_get(root, "bufferFrames");
    json_t *jv = json_object_get(root, "volume");
    if ((jr && !json_is_number(jr)) || (jv && !json_is_number(jv)) ||
        (jc && !json_is_integer(jc)) || (jb && !json_is_integer(jb))) {
        request_error(c, "audio-config", root,
                           "audio-config: rate and volume must be numbers, "
                           "channels and bufferFrames integers; refused");
        return;
    }
    rill_audio_change ch = rill_audio_change_none();
    char err[400] = "";
    pthread_mutex_lock(&srv->audio_lock);
    if (!srv->audio_declared) {
        snprintf(err, sizeof err, "audio-config: this device has no audio "
                                  "input to configure; refused");
    }
    if (err[0] == '\0' && jr != NULL && json_number_value(jr) != srv->audio_rate) {
        double r = json_number_value(jr);
        bool offered = false;
        for (size_t i = 0; i < srv->audio_n_rates; i++)
            offered = offered || srv->audio_rates[i] == r;
        char list[300];
        format_rates(list, sizeof list, srv->audio_rates, srv->audio_n_rates);
        if (srv->audio_n_rates == 0)
            snprintf(err, sizeof err, "audio-config: the rate is fixed at %g "
                                      "Hz on this device; refused",
                     srv->audio_rate);
        else if (!offered)
            snprintf(err, sizeof err, "audio-config: rate %g is not offered "
                                      "by this device (it offers %s); refused",
                     r, list);
        else
            ch.rate = r;
    }
    if (err[0] == '\0' && jc != NULL &&
        json_integer_value(jc) != (json_int_t)srv->audio_channels) {
        json_int_t n = json_integer_value(jc);
        if (srv->audio_max_ch == 0)
            snprintf(err, sizeof err, "audio-config: the channel count is "
                                      "fixed at %zu on this device; refused",
                     srv->audio_channels);
        else if (n < (json_int_t)srv->audio_min_ch ||
                 n > (json_int_t)srv->audio_max_ch)
            snprintf(err, sizeof err, "audio-config: channels %lld is not "
                                      "offered by this device (%zu to %zu); "
                                      "refused",
                     (long long)n, srv->audio_min_ch, srv->audio_max_ch);
        else
            ch.channels = (size_t)n;
    }
    if (err[0] == '\0' && jb != NULL &&
        json_integer_value(jb) != (json_int_t)srv->audio_bf) {
        json_int_t n = json_integer_value(jb);
        if (!srv->audio_bf_settable)
            snprintf(err, sizeof err, "audio-config: the buffer size is fixed "
                                      "at %u frames on this device; refused",
                     srv->audio_bf);
        else if (n < 1 || n > 65536)
            snprintf(err, sizeof err, "audio-config: bufferFrames %lld is out "
                                      "of range (1 to 65536); refused",
                     (long long)n);
        else
            ch.buffer_frames = (uint32_t)n;
    }
    if (err[0] == '\0' && jv != NULL && json_number_value(jv) != srv->audio_volume) {
        double v = json_number_value(jv);
        if (!srv->audio_vol_settable && srv->audio_volume >= 0)
            snprintf(err, sizeof err, "audio-config: the volume is fixed at "
                                      "%g on this device; refused",
                     srv->audio_volume);
        else if (!srv->audio_vol_settable)
            snprintf(err, sizeof err, "audio-config: this device reports no "
                                      "volume, so it cannot be changed; "
                                      "refused");
        else if (!(v >= 0 && v <= 100))
            snprintf(err, sizeof err, "audio-config: volume %g is out of range "
                                      "(0 to 100); refused",
                     v);
        else
            ch.volume = v;
    }
    pthread_mutex_unlock(&srv->audio_lock);
    if (err[0] != '\0') {
        request_error(c, "audio-config", root, "%s", err);
        return;
    }
    rill__cmd_id id = json_id(root);
    int rc = rill__devreq_post(srv->devreq, c->id, (int)id.kind, id.i, id.s, &ch);
    if (rc == RILL_EBUSY)
        request_error(c, "audio-config", root, "audio-config: %d changes are waiting "
                                    "already; try again once they are done",
                           RILL__DEVREQ_MAX);
    else if (rc != 0)
        request_error(c, "audio-config", root, "audio-config: out of memory; refused");
}

/* The program's answers, to the connections that asked (if still open).
 * After announce_audio in the same drain, so the new description's event
 * reaches everyone before the answer does. */
static void answer_audio_changes(rill_server *srv) {
    if (srv->devreq == NULL)
        return;
    rill__devreq_result res[RILL__DEVREQ_MAX];
    size_t n = rill__devreq_take(srv->devreq, res, RILL__DEVREQ_MAX);
    /* The program may have set its new description after announce_audio
     * looked, just before these results were posted: announce it now, so
     * that it still goes out before the answers. */
    if (n != 0)
        announce_audio(srv);
    for (size_t i = 0; i < n; i++) {
        rill__conn *c = srv->conns;
        while (c != NULL && c->id != res[i].conn_id)
            c = c->next;
        rill__cmd_id id = {(rill__cmd_id_kind)res[i].id_kind, res[i].id_i,
                           res[i].id_s};
        if (c == NULL) {
            /* asked and left: nothing to answer */
        } else if (res[i].rc != 0) {
            char message[512];
            snprintf(message, sizeof message, "audio-config: %s", res[i].why);
            rill__cmd_error e = {.cmd_index = RILL__CMD_NONE,
                                 .cmd = "audio-config",
                                 .var_index = RILL__CMD_NONE,
                                 .message = message,
                                 .id = id};
            send_error(c, &e);
        } else {
            size_t len = 0;
            pthread_mutex_lock(&srv->audio_lock);
            char *text = audio_msg_locked(srv, "audio-config", &id, false, &len);
            pthread_mutex_unlock(&srv->audio_lock);
            if (text != NULL) {
                conn_send_text(c, text, len);
                rill__free(text);
            }
        }
        rill__free(res[i].id_s);
    }
}

/* {"rill":"time","id":X,"t0":NS}: the clock exchange (PROTOCOL.md §9). */
static void time_request(rill_server *srv, rill__conn *c, json_t *root) {
    uint64_t t1 = rill_clock_now_ns();
    char text[384], why[160];
    size_t len = rill__time_reply(&srv->dev.stamp, root, t1, text, sizeof text,
                                  why, sizeof why);
    if (len > 0)
        conn_send_text(c, text, len);
    else
        request_error(c, "time", root, "%s", why);
}

/* A control message for the relay? {"rill":"dash"} and the events
 * "handler", "handler-data", "handler-remove". True if it was one (handled
 * here, errors included). Messages without those keys are not parsed. */
static bool dash_message(rill_server *srv, rill__conn *c, const char *text,
                         size_t len) {
    if (memmem(text, len, "\"rill\"", 6) == NULL &&
        memmem(text, len, "\"handler", 8) == NULL)
        return false;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return false; /* the command parser reports it */
    }
    json_t *r = json_object_get(root, "rill");
    json_t *ev = json_object_get(root, "event");
    const char *event = json_is_string(ev) ? json_string_value(ev) : "";
    bool mine = true;
    if (json_is_string(r) && strcmp(json_string_value(r), "dash") == 0) {
        dash_subscribe(srv, c, root);
    } else if (json_is_string(r) && strcmp(json_string_value(r), "exec") == 0) {
        exec_start(srv, c, root);
    } else if (json_is_string(r) &&
               strcmp(json_string_value(r), "exec-stop") == 0) {
        exec_stop(srv, c, root);
    } else if (json_is_string(r) &&
               strcmp(json_string_value(r), "audio-config") == 0) {
        audio_change_request(srv, c, root);
    } else if (json_is_string(r) && strcmp(json_string_value(r), "time") == 0) {
        time_request(srv, c, root); /* the clock exchange, timesync.h */
    } else if (strcmp(event, "handler") == 0 ||
               strcmp(event, "handler-data") == 0 ||
               strcmp(event, "handler-remove") == 0) {
        int64_t local;
        if (!c->native)
            dash_error(c, event, -1,
                       "%s: handler messages need a native connection (send "
                       "{\"rill\":\"hello\",\"version\":1} first); ignored",
                       event);
        else if ((local = dash_local_id(c, event, root)) < 0)
            ;
        else if (event[7] == '\0')
            dash_create(srv, c, root, local);
        else if (event[8] == 'd')
            dash_data(srv, c, root, local);
        else
            dash_remove(srv, c, local);
    } else {
        mine = false;
    }
    json_decref(root);
    return mine;
}

/* A binary handler frame from a program (HANDLERS.md): checked whole, its
 * handler id rewritten, relayed to every page. */
static void dash_frame(rill_server *srv, rill__conn *c, const uint8_t *data,
                       size_t len) {
    static const char ev[] = "handler-frame";
    if (len < RILL__DASH_FRAME_HEADER) {
        dash_error(c, ev, -1,
                   "handler frame: %zu bytes, shorter than its 32-byte "
                   "header; ignored",
                   len);
        return;
    }
    uint32_t local = rill__get_le32(data + 4);
    uint32_t count = rill__get_le32(data + 24);
    size_t size = data[2] == 'f' || data[2] == 'i' ? 4
                  : data[2] == 'd'                 ? 8
                  : data[2] == 'h'                 ? 2
                                                   : 0;
    if (size == 0) {
        dash_error(c, ev, local,
                   "handler frame: unknown value type 0x%02x (f, d, h or i); "
                   "ignored",
                   data[2]);
        return;
    }
    if ((data[3] & ~1u) != 0) {
        dash_error(c, ev, local,
                   "handler frame: unknown flag bits 0x%02x (only bit 0, "
                   "replace); ignored",
                   data[3]);
        return;
    }
    if ((uint64_t)count * size + RILL__DASH_FRAME_HEADER != len) {
        dash_error(c, ev, local,
                   "handler frame: count %u of '%c' needs %llu bytes after "
                   "the header, the message has %zu; ignored",
                   count, data[2], (unsigned long long)count * size,
                   len - RILL__DASH_FRAME_HEADER);
        return;
    }
    dash_handler *h = dash_find(srv, c, local);
    if (h == NULL) {
        dash_error(c, ev, local,
                   "handler frame: unknown handler %u (create it first with "
                   "a handler event on this connection); ignored",
                   local);
        return;
    }
    rill__msg *m = msg_new(len, true);
    if (m == NULL)
        return;
    memcpy(msg_payload(m), data, len);
    rill__put_le32(msg_payload(m) + 4, h->id);
    dash_broadcast(srv, m, true);
    msg_unref(m);
}

/* ---- libwebsockets ----------------------------------------------------------- */

/* Constant-time comparison, so a token cannot be guessed byte by byte. */
static bool token_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* With a token configured, a request must carry it as ?token=... or as
 * "Authorization: Bearer ...". */
static bool authorized(rill_server *srv, struct lws *wsi) {
    if (srv->token == NULL)
        return true;
    char buf[512];
    const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)sizeof buf);
    if (v != NULL && token_equal(v, srv->token))
        return true;
    char auth[512];
    if (lws_hdr_copy(wsi, auth, (int)sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
        strncmp(auth, "Bearer ", 7) == 0 && token_equal(auth + 7, srv->token))
        return true;
    /* The dashboard's own cookie (see token_cookie): a page opened with
     * ?token= loads its scripts and styles without the query. */
    char cookies[1024], name[32];
    if (lws_hdr_copy(wsi, cookies, (int)sizeof cookies, WSI_TOKEN_HTTP_COOKIE) <= 0)
        return false;
    int nl = snprintf(name, sizeof name, "rill_token_%d=", srv->port);
    for (char *p = cookies; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == ';')
            p++;
        char *end = strchr(p, ';');
        if (end != NULL)
            *end = '\0';
        if (strncmp(p, name, (size_t)nl) == 0 && token_equal(p + nl, srv->token))
            return true;
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* A token that may appear in a cookie as it is (RFC 6265 cookie-octets). */
static bool cookie_safe(const char *t) {
    for (; *t != '\0'; t++)
        if (*t <= 0x20 || *t >= 0x7f || *t == '"' || *t == ',' || *t == ';' ||
            *t == '\\')
            return false;
    return true;
}

/* Browsers send Origin; a page from another site must not drive the
 * device. Allowed: no Origin (non-browser clients), the server's own
 * origin (Origin's host:port equals Host), and --allow-origin. */
static bool origin_ok(rill_server *srv, struct lws *wsi) {
    char origin[256], host[256];
    if (lws_hdr_copy(wsi, origin, (int)sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
        return true;
    if (srv->allow_origin != NULL && strcmp(origin, srv->allow_origin) == 0)
        return true;
    if (lws_hdr_copy(wsi, host, (int)sizeof host, WSI_TOKEN_HOST) <= 0)
        return false;
    const char *o = strstr(origin, "://");
    return o != NULL && strcmp(o + 3, host) == 0;
}

/* Answer a WebSocket upgrade request with an error status. Written by hand
 * because lws words the status line of a refused upgrade as HTTP/1.0, which
 * WebSocket clients (Python's websockets among them) reject as invalid, so
 * the user would never see why. */
static int refuse_upgrade(struct lws *wsi, int status, const char *reason,
                          const char *message) {
    uint8_t buf[LWS_PRE + 512];
    char *p = (char *)buf + LWS_PRE;
    int n = snprintf(p, sizeof buf - LWS_PRE,
                     "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s\n",
                     status, reason, strlen(message) + 1, message);
    if (n > 0 && (size_t)n < sizeof buf - LWS_PRE)
        lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_HTTP_HEADERS);
    return 1;
}

static int uri_path(struct lws *wsi, char *buf, int cap) {
    int n = lws_hdr_copy(wsi, buf, cap, WSI_TOKEN_GET_URI);
    if (n <= 0)
        buf[0] = '\0';
    return n;
}

/* GET /files/<name>: a finished log file from the log directory. */
static int serve_file(rill_server *srv, struct lws *wsi, const char *uri) {
    const char *name = uri + strlen("/files/");
    if (*name == '\0' || strchr(name, '/') != NULL || name[0] == '.' ||
        strlen(name) > 200) {
        lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                               "bad file name: use /files/<name> with a name "
                               "from the list reply's logFileName");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    for (rill__stream *s = srv->streams; s != NULL; s = s->next) {
        if (s->sink == RILL__SINK_LOG && strcmp(s->log_name, name) == 0) {
            lws_return_http_status(wsi, 409,
                                   "this file is still being logged; "
                                   "unlog the variable, then fetch it");
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", srv->log_dir, name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "no such log file");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    int n = lws_serve_http_file(wsi, path, "application/octet-stream", NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

static const char *mime_type(const char *path) {
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

/* GET / and the dashboard's files under the web root. Paths are plain
 * (letters, digits, '-', '_', '.', '/'; no segment starting with '.'), so
 * nothing outside the root can be named. index.html is never cached (it
 * names the current build's assets); assets/ files carry a content hash in
 * their names and are cached for a day. When the page itself was opened
 * with the right ?token=, a cookie private to this port lets its scripts
 * and styles load without the query. */
static int serve_web(rill_server *srv, struct lws *wsi, const char *uri) {
    const char *rel = strcmp(uri, "/") == 0 ? "/index.html" : uri;
    bool ok = strlen(rel) < 256;
    for (const char *p = rel; ok && *p != '\0'; p++) {
        char ch = *p;
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '/' ||
             (ch == '.' && p[-1] != '/');
    }
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", srv->web_root, rel);
    if (!ok || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        bool page = strcmp(rel, "/index.html") == 0;
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                               page ? "rill serve: the dashboard is not "
                                      "built (make build writes web/dist; "
                                      "or pass --web-root DIR)"
                                    : "no such file");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    uint8_t hbuf[1024];
    unsigned char *h = hbuf, *end = hbuf + sizeof hbuf;
    bool asset = strncmp(rel, "/assets/", 8) == 0;
    const char *cache = asset ? "public, max-age=86400, immutable" : "no-cache";
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache,
                                    (int)strlen(cache), &h, end) != 0 ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, &h,
                                    end) != 0)
        return -1;
    char query[512];
    if (srv->token != NULL && !asset &&
        lws_get_urlarg_by_name(wsi, "token=", query, (int)sizeof query) != NULL) {
        if (cookie_safe(srv->token)) {
            char cookie[700];
            int n = snprintf(cookie, sizeof cookie,
                             "rill_token_%d=%s; Path=/; HttpOnly; SameSite=Strict",
                             srv->port, srv->token);
            if (n < 0 || (size_t)n >= sizeof cookie ||
                lws_add_http_header_by_name(wsi, (const unsigned char *)"set-cookie:",
                                            (const unsigned char *)cookie, n,
                                            &h, end) != 0)
                return -1;
        } else {
            rill__log_warn("the token has characters a cookie cannot carry: "
                           "the dashboard's scripts will be refused");
        }
    }
    int n = lws_serve_http_file(wsi, path, mime_type(path), (const char *)hbuf,
                                (int)(h - hbuf));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

static int on_http(rill_server *srv, struct lws *wsi) {
    char uri[512];
    uri_path(wsi, uri, (int)sizeof uri);
    if (!authorized(srv, wsi)) {
        lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED,
                               "this server needs a token: add ?token=...");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    if (strncmp(uri, "/files/", 7) == 0)
        return serve_file(srv, wsi, uri);
    if (srv->web_root != NULL)
        return serve_web(srv, wsi, uri);
    lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                           "rill serve: WebSocket paths /gui_control and "
                           "/gui_data; log files at /files/<name>");
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void on_receive(rill_server *srv, rill__conn *c, struct lws *wsi,
                       const void *in, size_t len) {
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_too_big = false;
    }
    size_t max = srv->cfg.max_message_bytes;
    if (!c->rx_too_big) {
        if (c->rx_len + len > max) {
            c->rx_too_big = true;
        } else {
            if (c->rx_len + len > c->rx_cap) {
                size_t cap = RILL__MAX(c->rx_cap * 2, c->rx_len + len);
                uint8_t *p = rill__realloc(c->rx, cap + 1);
                if (p == NULL) {
                    c->rx_too_big = true;
                } else {
                    c->rx = p;
                    c->rx_cap = cap;
                }
            }
            if (!c->rx_too_big && len != 0) { /* an empty message has no data */
                memcpy(c->rx + c->rx_len, in, len);
                c->rx_len += len;
            }
        }
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
        return;
    bool binary = lws_frame_is_binary(wsi) != 0;
    if (c->rx_too_big) {
        rill__log_warn("%s sent a message over %zu bytes", c->peer,
                       max);
        char err[128];
        snprintf(err, sizeof err,
                 "message over %zu bytes (the server's max_message_bytes); "
                 "send smaller messages",
                 max);
        if (c->path == PATH_DATA)
            report_data_error(srv, c, err);
        else
            send_error_text(c, NULL, NULL, "%s; ignored", err);
        return;
    }
    if (binary && c->native && c->rx_len >= 2 && c->rx[0] == 1 &&
        c->rx[1] == RILL__DASH_KIND) {
        dash_frame(srv, c, c->rx, c->rx_len);
    } else if (c->path == PATH_DATA || (binary && c->native)) {
        on_client_buffer(srv, c, c->rx, c->rx_len);
    } else if (binary) {
        send_error_text(c, NULL, NULL,
                        "binary message on /gui_control ignored: control "
                        "messages are JSON text (send {\"rill\":\"hello\"} "
                        "first to send buffers here)");
    } else {
        on_control_text(srv, c, (const char *)c->rx, c->rx_len);
    }
}

static void on_close(rill_server *srv, rill__conn *c) {
    set_active(srv, c, false);
    dash_conn_closed(srv, c);
    exec_conn_closed(srv, c);
    if (c->native) {
        for (size_t i = 0; i < srv->dev.max_vars; i++) {
            rill__stream *s[2] = {c->sub_buf[i], c->sub_mon[i]};
            for (int k = 0; k < 2; k++) {
                if (s[k] != NULL) {
                    s[k]->conn = NULL;
                    release_stream(srv, s[k]);
                }
            }
        }
    }
    publish_rt(srv);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    atomic_fetch_sub(&srv->n_clients, 1);
    conn_free(c);
}

/* Up to this many bytes of queued messages go out in one write. */
#define RILL__BATCH_BYTES (256u * 1024)

/* Write queued messages, many per call. Each is framed here as the
 * unmasked server frame RFC 6455 defines (FIN, opcode, length) and the
 * frames are handed to libwebsockets as one raw write: one send() for many
 * messages instead of lws_write's send() (and a poll) per message, which
 * capped throughput. libwebsockets keeps whatever the socket did not take
 * and sends it before anything else on the connection (its own pongs and
 * close frames included), so frames stay whole and in order. */
static int write_batch(rill__conn *c) {
    size_t total = 0, n = 0;
    for (; n < c->q_len; n++) {
        size_t len = c->q[(c->q_head + n) % c->q_cap]->len;
        size_t frame = len + (len < 126 ? 2 : len < 65536 ? 4 : 10);
        if (n != 0 && total + frame > RILL__BATCH_BYTES)
            break;
        total += frame;
    }
    if (n == 0)
        return 0;
    if (LWS_PRE + total > c->batch_cap) {
        uint8_t *b = rill__malloc(LWS_PRE + total);
        if (b == NULL)
            return -1;
        rill__free(c->batch);
        c->batch = b;
        c->batch_cap = LWS_PRE + total;
    }
    uint8_t *p = c->batch + LWS_PRE;
    for (size_t i = 0; i < n; i++) {
        rill__msg *m = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        c->q_bytes -= m->len;
        *p++ = (uint8_t)(0x80 | (m->binary ? 0x2 : 0x1));
        if (m->len < 126) {
            *p++ = (uint8_t)m->len;
        } else if (m->len < 65536) {
            *p++ = 126;
            *p++ = (uint8_t)(m->len >> 8);
            *p++ = (uint8_t)m->len;
        } else {
            *p++ = 127;
            for (int k = 7; k >= 0; k--)
                *p++ = (uint8_t)((uint64_t)m->len >> (8 * k));
        }
        memcpy(p, msg_payload(m), m->len);
        p += m->len;
        msg_unref(m);
    }
    return lws_write(c->wsi, c->batch + LWS_PRE, total, LWS_WRITE_RAW) < 0 ? -1
                                                                           : 0;
}

/* Linux grows a socket's send buffer on its own, up to 4 MiB: for a client
 * that stops reading that is a second, invisible queue, and megabytes of
 * stale data it gets before any drop is counted. A fixed buffer (a quarter
 * of the client's queue, 64 KiB to 1 MiB) keeps the bound the user set with
 * client_queue_bytes, and the drops where they are counted. */
static void bound_kernel_buffer(rill_server *srv, struct lws *wsi) {
    size_t q = srv->cfg.client_queue_bytes / 4;
    int size = (int)RILL__MAX((size_t)64 * 1024, RILL__MIN(q, (size_t)1 << 20));
    lws_sockfd_type fd = lws_get_socket_fd(wsi);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len) {
    rill_server *srv = lws_context_user(lws_get_context(wsi));
    rill__conn **pc = user;
    rill__conn *c = pc != NULL ? *pc : NULL;
    char uri[256];

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(srv, wsi);

    /* A file sent by lws_serve_http_file is done: end the transaction, so a
     * kept-alive connection (a browser loading a page's scripts) can carry
     * the next request. */
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;

    /* Refused before the upgrade, with a status saying why (>0 tells lws
     * we answered). */
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        uri_path(wsi, uri, (int)sizeof uri);
        if (strcmp(uri, "/gui_control") != 0 && strcmp(uri, "/gui_data") != 0) {
            rill__log_warn("refused a WebSocket to unknown path %s",
                           uri);
            return refuse_upgrade(wsi, 404, "Not Found",
                                  "WebSocket paths are /gui_control and "
                                  "/gui_data");
        }
        if (!authorized(srv, wsi)) {
            rill__log_warn("refused a WebSocket without the token");
            return refuse_upgrade(wsi, 401, "Unauthorized",
                                  "this server needs a token: add ?token=... "
                                  "to the URL or send 'Authorization: Bearer "
                                  "...'");
        }
        if (!origin_ok(srv, wsi)) {
            rill__log_warn("refused a WebSocket from a foreign "
                           "Origin (use --allow-origin to permit it)");
            return refuse_upgrade(wsi, 403, "Forbidden",
                                  "pages from this Origin may not connect; "
                                  "start the server with --allow-origin");
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        uri_path(wsi, uri, (int)sizeof uri);
        c = rill__calloc(1, sizeof *c);
        if (c == NULL)
            return -1;
        c->srv = srv;
        c->wsi = wsi;
        c->path = strcmp(uri, "/gui_data") == 0 ? PATH_DATA : PATH_CONTROL;
        c->id = ++srv->next_conn_id;
        lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
        bound_kernel_buffer(srv, wsi);
        c->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = c;
        srv->conns = c;
        *pc = c;
        atomic_fetch_add(&srv->n_clients, 1);
        if (c->path == PATH_CONTROL) {
            /* The first message on a control socket, to it alone (the
             * spec's fix of Bela's broadcast). */
            char *text = NULL;
            size_t tlen = 0;
            if (rill__cmd_connection_event(srv->project, &text, &tlen) == 0)
                conn_send_owned(c, text, tlen);
        }
        return 0;
    }

    case LWS_CALLBACK_RECEIVE:
        if (c != NULL)
            on_receive(srv, c, wsi, in, len);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (c == NULL)
            return 0;
        if (write_batch(c) != 0)
            return -1;
        if (c->closing && c->q_len == 0)
            return -1;
        if (c->q_len != 0)
            lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLOSED:
        if (c != NULL) {
            on_close(srv, c);
            *pc = NULL;
        }
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* The waker saw data in the rings (see waker_main). Clear the flag
         * first: data arriving during the drain wakes us again. */
        atomic_store(&srv->wake_pending, false);
        drain_now(srv);
        return 0;

    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"rill", callback, sizeof(rill__conn *), 64 * 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_to_rill(int level, const char *line) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    rill__log(level == LLL_ERR ? RILL_LOG_ERROR : RILL_LOG_WARN,
              "libwebsockets: %.*s", (int)n, line);
}

static void *net_main(void *arg) {
    rill_server *srv = arg;
    lws_sul_schedule(srv->ctx, 0, &srv->drain_sul, drain_timer, 1);
    while (!atomic_load(&srv->stop))
        if (lws_service(srv->ctx, 0) < 0)
            break;
    return NULL;
}

/* ---- Create / destroy ---------------------------------------------------------- */

rill_server_config rill_server_config_default(void) {
    rill_server_config cfg = {
        .host = "127.0.0.1",
        .port = 5555,
        .sample_rate = 44100.0,
        .project_name = "rill",
        .token = NULL,
        .log_dir = ".",
        .allow_origin = NULL,
        .web_root = NULL,
        .max_vars = 256,
        .client_queue_bytes = 8u << 20,
        .out_ring_bytes = 8u << 20,
        .log_ring_bytes = 8u << 20,
        .max_message_bytes = 64u << 10,
        .drain_interval_us = 250,
        .allow_exec = false,
        .on_buffer = NULL,
        .user = NULL,
        .on_audio_change = NULL,
    };
    return cfg;
}

/* Try the address before handing it to libwebsockets: lws reports a failed
 * bind only as a failed context (and leaks a little doing so), while the
 * user needs to know whether the port is taken, the address is not one of
 * this machine's, or a privileged port needs root. */
static int probe_bind(const char *host, int port) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        rill__log_error("cannot listen on %s:%d: %s", host, port,
                        gai_strerror(gai));
        return RILL_EIO;
    }
    int rc = 0;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int err = errno;
        rill__log_error("cannot listen on %s:%d: %s%s", host, port,
                        strerror(err),
                        err == EADDRINUSE ? " (another program uses the "
                                            "port: pick another with --port)"
                        : err == EADDRNOTAVAIL ? " (not an address of this "
                                                 "machine)"
                        : err == EACCES ? " (ports below 1024 need root)"
                                        : "");
        rc = RILL_EIO;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return rc;
}

static char *dup_or_null(const char *s, int *rc) {
    if (s == NULL)
        return NULL;
    char *d = rill__strdup(s);
    if (d == NULL)
        *rc = RILL_ENOMEM;
    return d;
}

int rill_server_create(const rill_server_config *cfg, rill_server **out) {
    if (cfg == NULL || out == NULL || cfg->host == NULL || cfg->port < 0 ||
        cfg->port > 65535 || cfg->max_vars == 0 || cfg->max_vars > 100000 ||
        cfg->client_queue_bytes == 0 || cfg->max_message_bytes < 64 ||
        cfg->drain_interval_us == 0 || !(cfg->sample_rate >= 0))
        return RILL_EINVAL;
    *out = NULL;
    if (cfg->allow_exec && (cfg->token == NULL || *cfg->token == '\0')) {
        rill__log_error("allow_exec needs a token: running programs for "
                        "anyone who can reach the port is not offered");
        return RILL_EINVAL;
    }
    int rc = 0;
    rill_server *srv = rill__calloc(1, sizeof *srv);
    if (srv == NULL)
        return RILL_ENOMEM;
    srv->cfg = *cfg;
    srv->host = dup_or_null(cfg->host, &rc);
    srv->project = dup_or_null(cfg->project_name ? cfg->project_name : "rill", &rc);
    srv->token = cfg->token && *cfg->token ? dup_or_null(cfg->token, &rc) : NULL;
    srv->log_dir = dup_or_null(cfg->log_dir ? cfg->log_dir : ".", &rc);
    srv->allow_origin = dup_or_null(cfg->allow_origin, &rc);
    srv->web_root = cfg->web_root && *cfg->web_root ? dup_or_null(cfg->web_root, &rc) : NULL;
    pthread_mutex_init(&srv->vars_lock, NULL);
    pthread_mutex_init(&srv->audio_lock, NULL);
    srv->sample_rate = cfg->sample_rate;
    atomic_init(&srv->stop, false);
    if (rc != 0)
        goto fail;
    srv->max_streams = cfg->max_vars * 4 + 4096;
    if ((rc = rill__device_init(&srv->dev, cfg->max_vars, srv->max_streams,
                                cfg->out_ring_bytes, cfg->log_ring_bytes)) != 0)
        goto fail;
    srv->released = rill__calloc(srv->max_streams, sizeof *srv->released);
    srv->values_scratch = rill__malloc(cfg->max_message_bytes * 2);
    if (srv->released == NULL || srv->values_scratch == NULL) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    struct stat st;
    if (stat(srv->log_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rill__log_error("log directory %s does not exist (create it, or "
                        "choose another with log_dir / --log-dir)",
                        srv->log_dir);
        rc = RILL_ENOTFOUND;
        goto fail;
    }
    if (cfg->port != 0 && (rc = probe_bind(srv->host, cfg->port)) != 0)
        goto fail;
    if ((rc = rill__logwriter_start(srv->dev.log, &srv->logwriter)) != 0)
        goto fail;

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_rill);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = srv->host;
    info.protocols = protocols;
    info.user = srv;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6 * (strchr(srv->host, ':') == NULL);
    info.pt_serv_buf_size = 64 * 1024;
    info.count_threads = 1;
    srv->ctx = lws_create_context(&info);
    if (srv->ctx == NULL) {
        rill__log_error("cannot listen on %s:%d (in use, or not "
                        "an address of this machine)",
                        srv->host, cfg->port);
        rc = RILL_EIO;
        goto fail;
    }
    srv->vhost = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : cfg->port;
    atomic_init(&srv->wake_pending, false);
    /* Before the network thread, which reads srv->devreq. */
    if (cfg->on_audio_change != NULL &&
        (rc = rill__devreq_create(srv, cfg->on_audio_change, cfg->user,
                                  &srv->devreq)) != 0)
        goto fail;
    if (pthread_create(&srv->net_thread, NULL, net_main, srv) != 0) {
        rc = RILL_ESYS;
        goto fail;
    }
    srv->net_started = true;
    if (pthread_create(&srv->waker_thread, NULL, waker_main, srv) != 0) {
        rc = RILL_ESYS;
        goto fail;
    }
    srv->waker_started = true;
    *out = srv;
    return 0;
fail:
    rill_server_destroy(srv);
    return rc;
}

/* Log streams still running when the server stops: the tick thread is
 * gone (the caller stopped ticking), so their partial buffers are written
 * here, zero-padded as at a normal stop, and the files closed. */
static void finalize_logs(rill_server *srv) {
    for (rill__stream *s = srv->streams; s != NULL; s = s->next) {
        if (s->sink != RILL__SINK_LOG || s->log_fd < 0)
            continue;
        if (s->count != 0 && !s->log_failed) {
            size_t size = s->var->size;
            memset(s->buf + s->values_off + (size_t)s->count * size, 0,
                   (size_t)(s->capacity - s->count) * size);
            if (s->var->mode == RILL_TS_SPARSE)
                memset(s->buf + s->rel_off + (size_t)s->count * 4, 0,
                       (size_t)(s->capacity - s->count) * 4);
            memcpy(s->buf, &s->ref, sizeof s->ref);
            if (write(s->log_fd, s->buf, s->buf_bytes) != (ssize_t)s->buf_bytes)
                rill__log_error("finishing %s/%s: %s",
                                srv->log_dir, s->log_name, strerror(errno));
        }
        fsync(s->log_fd);
        close(s->log_fd);
        s->log_fd = -1;
    }
}

void rill_server_destroy(rill_server *srv) {
    if (srv == NULL)
        return;
    /* First: the program's on_audio_change may still be running, and may
     * call into the server. Freed only once the network thread, which
     * posts requests and takes answers, is gone (below). */
    rill__devreq_stop(srv->devreq);
    atomic_store(&srv->stop, true);
    if (srv->waker_started) /* first: it calls lws_cancel_service */
        pthread_join(srv->waker_thread, NULL);
    if (srv->net_started) {
        lws_cancel_service(srv->ctx);
        pthread_join(srv->net_thread, NULL);
    }
    /* After the join, as libwebsockets' threaded examples do: nothing
     * services the context any more, and lws_cancel_service above could
     * not race with its teardown. Closing the sockets runs on_close. */
    if (srv->ctx != NULL)
        lws_context_destroy(srv->ctx);
    rill__devreq_destroy(srv->devreq);
    srv->devreq = NULL;
    rill__logwriter_stop(srv->logwriter); /* writes what the ring holds */
    finalize_logs(srv);
    while (srv->streams != NULL) {
        rill__stream *s = srv->streams;
        srv->streams = s->next;
        rill__stream_destroy(s);
    }
    size_t n = n_vars(srv);
    for (size_t i = 0; i < n; i++) {
        rill_var *v = srv->dev.vars[i];
        rill__stream_destroy(v->compat_watch);
        rill__stream_destroy(v->compat_monitor);
        rill__free(v);
    }
    rill__device_deinit(&srv->dev);
    pthread_mutex_destroy(&srv->vars_lock);
    pthread_mutex_destroy(&srv->audio_lock);
    rill__free(srv->audio_json);
    for (size_t i = 0; i < srv->n_jobs; i++)
        rill__job_destroy(srv->jobs[i].job);
    rill__free(srv->jobs);
    for (size_t i = 0; i < srv->n_dash; i++)
        msg_unref(srv->dash[i].create);
    rill__free(srv->dash);
    rill__free(srv->scratch);
    rill__free(srv->values_scratch);
    rill__free(srv->released);
    rill__free(srv->host);
    rill__free(srv->project);
    rill__free(srv->token);
    rill__free(srv->log_dir);
    rill__free(srv->allow_origin);
    rill__free(srv->web_root);
    rill__free(srv);
}

int rill_server_port(const rill_server *srv) { return srv->port; }

void rill_server_tick(rill_server *srv, uint64_t frame) {
    rill__device_tick(&srv->dev, frame);
}

uint64_t rill_server_now(const rill_server *srv) {
    return atomic_load_explicit(&((rill_server *)srv)->dev.pub_now,
                                memory_order_acquire);
}

void rill_server_get_stats(const rill_server *srv, rill_server_stats *out) {
    rill_server *s = (rill_server *)srv;
    out->buffers_produced = atomic_load(&s->dev.buffers_produced);
    out->tick_drops = atomic_load(&s->dev.tick_drops);
    out->client_drops = atomic_load(&s->client_drops);
    out->clients = atomic_load(&s->n_clients);
    out->commands_rejected = atomic_load(&s->commands_rejected);
}

/* ---- Audio description -------------------------------------------------------- */

typedef struct audio_ctx {
    const rill_server_audio *a;
    bool changes; /* the program takes changes (on_audio_change) */
} audio_ctx;

static void build_audio(rill__jw *w, const void *ctx) {
    const rill_server_audio *a = ((const audio_ctx *)ctx)->a;
    rill__jw_lit(w, "{\"bufferFrames\":");
    rill__jw_u64(w, a->buffer_frames);
    rill__jw_lit(w, ",\"channels\":");
    rill__jw_u64(w, a->channels);
    rill__jw_lit(w, ",\"rate\":");
    rill__jw_double(w, a->rate);
    if (((const audio_ctx *)ctx)->changes) {
        /* Only what may change, so that a page's form offers nothing else. */
        rill__jw_lit(w, ",\"settable\":{");
        const char *sep = "";
        if (a->buffer_frames_settable) {
            rill__jw_lit(w, "\"bufferFrames\":[1,65536]");
            sep = ",";
        }
        if (a->max_channels != 0) {
            rill__jw_lit(w, sep);
            rill__jw_lit(w, "\"channels\":[");
            rill__jw_u64(w, a->min_channels);
            rill__jw_lit(w, ",");
            rill__jw_u64(w, a->max_channels);
            rill__jw_lit(w, "]");
            sep = ",";
        }
        if (a->n_rates != 0) {
            rill__jw_lit(w, sep);
            rill__jw_lit(w, "\"rates\":[");
            for (size_t i = 0; i < a->n_rates; i++) {
                if (i != 0)
                    rill__jw_lit(w, ",");
                rill__jw_double(w, a->rates[i]);
            }
            rill__jw_lit(w, "]");
            sep = ",";
        }
        if (a->volume_settable) {
            rill__jw_lit(w, sep);
            rill__jw_lit(w, "\"volume\":[0,100]");
        }
        rill__jw_lit(w, "}");
    }
    rill__jw_lit(w, ",\"variables\":[");
    for (size_t i = 0; i < a->channels; i++) {
        if (i != 0)
            rill__jw_lit(w, ",");
        rill__jw_string(w, a->variables[i]);
    }
    rill__jw_lit(w, "]");
    if (a->volume >= 0) {
        rill__jw_lit(w, ",\"volume\":");
        rill__jw_double(w, a->volume);
    }
    rill__jw_lit(w, "}");
}

/* Checked and rendered on the caller's thread; the network thread only
 * copies the text under the lock and announces it at its next drain. */
int rill_server_set_audio(rill_server *srv, const rill_server_audio *a) {
    if (srv == NULL)
        return RILL_EINVAL;
    char *json = NULL;
    if (a != NULL) {
        if (!(a->rate > 0 && a->rate < 1e7) || a->buffer_frames == 0 ||
            a->buffer_frames > 65536 || a->channels == 0 ||
            a->channels > RILL_SERVER_AUDIO_MAX_CHANNELS ||
            a->variables == NULL || !(a->volume <= 100)) {
            rill__log_error("rill_server_set_audio: rate must be > 0, "
                            "buffer_frames 1 to 65536, channels 1 to %d with "
                            "as many variables, volume at most 100",
                            RILL_SERVER_AUDIO_MAX_CHANNELS);
            return RILL_EINVAL;
        }
        bool rates_ok = a->n_rates <= RILL_SERVER_AUDIO_MAX_RATES &&
                        (a->n_rates == 0 || a->rates != NULL);
        for (size_t i = 0; rates_ok && i < a->n_rates; i++)
            rates_ok = a->rates[i] > 0 && a->rates[i] < 1e7;
        if (!rates_ok || a->min_channels > a->max_channels ||
            a->max_channels > RILL_SERVER_AUDIO_MAX_CHANNELS ||
            (a->max_channels != 0 && a->min_channels == 0) ||
            (a->volume_settable && a->volume < 0)) {
            rill__log_error("rill_server_set_audio: what may change: at most "
                            "%d rates, each > 0; min_channels 1 to "
                            "max_channels (at most %d), or both 0; a settable "
                            "volume needs a volume",
                            RILL_SERVER_AUDIO_MAX_RATES,
                            RILL_SERVER_AUDIO_MAX_CHANNELS);
            return RILL_EINVAL;
        }
        for (size_t i = 0; i < a->channels; i++) {
            const char *name = a->variables[i];
            rill_var *v = name ? find_var(srv, name) : NULL;
            if (v == NULL || v->type != RILL_TYPE_FLOAT ||
                v->mode != RILL_TS_DENSE) {
                rill__log_error("rill_server_set_audio: channel %zu: %s%s%s "
                                "is not a dense float variable of this "
                                "server (create it first)",
                                i, name ? "\"" : "", name ? name : "NULL",
                                name ? "\"" : "");
                return RILL_EINVAL;
            }
        }
        audio_ctx ctx = {a, srv->cfg.on_audio_change != NULL};
        size_t len;
        if (rill__json_render(build_audio, &ctx, &json, &len) != 0)
            return RILL_ENOMEM;
    }
    pthread_mutex_lock(&srv->audio_lock);
    char *old = srv->audio_json;
    srv->audio_json = json;
    srv->audio_gen++;
    srv->audio_declared = a != NULL;
    srv->audio_n_rates = a ? a->n_rates : 0;
    if (a != NULL && a->n_rates != 0)
        memcpy(srv->audio_rates, a->rates, a->n_rates * sizeof a->rates[0]);
    srv->audio_min_ch = a ? a->min_channels : 0;
    srv->audio_max_ch = a ? a->max_channels : 0;
    srv->audio_bf_settable = a && a->buffer_frames_settable;
    srv->audio_vol_settable = a && a->volume_settable;
    if (a != NULL) {
        srv->audio_rate = a->rate;
        srv->audio_channels = a->channels;
        srv->audio_bf = a->buffer_frames;
        srv->audio_volume = a->volume;
    }
    pthread_mutex_unlock(&srv->audio_lock);
    rill__free(old);
    return 0;
}

int rill_server_set_sample_rate(rill_server *srv, double rate) {
    if (srv == NULL || !(rate > 0 && rate < 1e7))
        return RILL_EINVAL;
    pthread_mutex_lock(&srv->audio_lock);
    srv->sample_rate = rate;
    srv->audio_gen++; /* the audio event carries it */
    pthread_mutex_unlock(&srv->audio_lock);
    return 0;
}
