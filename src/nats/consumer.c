/* The JetStream consumer: a bridged device as a rill_client. See
 * rill/nats.h and docs/SCALE.md.
 *
 * The consumer plays the device for an attached rill_client
 * (client/internal.h): it answers hello and list from the device's
 * announcement (KV bucket), turns watch and unwatch into which variables'
 * frames it feeds and from which tick, and feeds the frames read from one
 * ordered JetStream consumer on <prefix>.<device>.>. Everything the client
 * does with a device's frames (exactly-N, aligned blocks, schedules, poll
 * mode, rill stream's files) then works unchanged.
 *
 * Its own thread reads JetStream and is the client's I/O thread. Per
 * variable it checks continuity before feeding:
 *  - the bridge's run (Rill-Run) changed: the bridge restarted or
 *    reconnected to the device; the ticks between the old run's last value
 *    and the new run's first are a gap. If the ticks went back, the device
 *    itself restarted: the session ends (RILL_ECLOSED, with why);
 *  - a frame whose sequence minus its `dropped` is the next expected one
 *    follows on; its `dropped` buffers were lost by the device (a gap);
 *  - a frame from further ahead waits: a retried publish may still come,
 *    out of order. The missing frame is a gap only once it cannot come any
 *    more: the bridge said it gave up on it (a Rill-Lost marker), a new run
 *    of the bridge began, or the bridge's retry horizon (its announcement's
 *    retryHorizonMs: how long after a later message was stored a retry can
 *    still be stored) has passed, by the stream's stored times (so a replay
 *    decides at once what a live consumer waited for) or by this host's
 *    clock when nothing newer arrives (a bridge that died). Waiting frames
 *    are bounded in bytes (RILL__HOLD_BYTES); past that the oldest hole is
 *    a gap at once;
 *  - a frame already delivered (older sequence) is ignored.
 * Each gap goes to on_gap and the log once, and the next frame delivered
 * carries the missing buffers in `dropped`, so the client's collectors,
 * on_buffer and rill stream see the loss as they see a device's.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"
#include "nats/common.h"
#include "rill/nats.h"
#include "proto/native.h"

/* The ordered consumer's idle heartbeat (see subscribe). */
#define RILL__NATS_HEARTBEAT_NS 1000000000

/* Frames waiting behind a hole, all variables together (see above). */
#define RILL__HOLD_BYTES ((size_t)256 << 20)
/* The retry horizon of a bridge whose announcement does not say it: its
 * default give-up (60 s) plus its ack wait (5 s) and a second. */
#define RILL__HORIZON_DEFAULT_MS 66000

/* A frame waiting for the ones before it, or the bridge's word that frame
 * `seq` was never stored (a Rill-Lost marker: `lost`). */
typedef struct hold {
    natsMsg *m;
    uint64_t seq, dropped; /* the frame's; for a marker, the lost frame's */
    bool lost;
    size_t bytes;
} hold;

typedef struct cvar {
    char name[64];
    char token[200];
    json_t *entry; /* the device's list entry */
    /* requests (under mx) */
    bool watched;
    uint64_t start, duration, end; /* end 0: none, or set at the first value */
    /* continuity (consumer thread) */
    bool have;
    char run[17];
    uint64_t next_seq, next_tick;
    hold *held; /* sorted by seq */
    size_t n_held, held_cap;
    uint64_t hole_local_ns; /* the head hole began waiting: this host's clock */
    int64_t hole_stored_ns; /* ... the stored time of the first frame after it */
    uint64_t pending_lost;  /* buffers given up before the next frame */
    bool fed;               /* values of it went to the client */
    const char *pending_why;
} cvar;

typedef struct reply {
    bool binary;
    json_t *list_id; /* a list reply, built when fed (see feed_replies) */
    bool list;
    size_t len;
    uint8_t data[];
} reply;

typedef struct ncons {
    rill_client *cl;
    rill_nats_config cfg;
    char *url, *device, *stream, *prefix, *bucket;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    json_t *ann;
    double rate;
    cvar *vars;
    size_t n;
    pthread_t thr;
    bool thr_started;
    atomic_bool stop;
    pthread_mutex_t mx;
    reply **q;
    size_t nq, qcap;
    bool started;
    atomic_uint_fast64_t last_tick;
    uint8_t *frame;
    size_t frame_cap;
    /* the consumer thread's, read by rill_nats_client_clock (under mx) */
    rill_clock_map clock;
    bool have_clock;
    char clock_text[160]; /* the consumer thread's: the Rill-Clock parsed */
    rill_nats_stats stats;
    /* holding (the consumer thread) */
    size_t held_bytes;
    int64_t newest_stored_ns; /* of the latest message, while anything waits */
    uint64_t horizon_ns;
    bool ended; /* the session ended (the device restarted): nothing is fed */
    uint64_t connected_ns, list_hold_ns; /* list_ready */
    char ann_run[17]; /* the bridge's run for the device when we connected */
} ncons;

static const rill__client_xport xport;

rill_nats_config rill_nats_config_default(void) {
    rill_nats_config c;
    memset(&c, 0, sizeof c);
    c.nats_url = RILL__NATS_DEFAULT_URL;
    c.stream = RILL__NATS_DEFAULT_STREAM;
    c.subject_prefix = RILL__NATS_DEFAULT_PREFIX;
    c.kv_bucket = RILL__NATS_DEFAULT_BUCKET;
    c.start = RILL_NATS_LIVE;
    return c;
}

/* ---- Replies to the client (queued; fed on the consumer thread) ----------- */

static void push_reply(ncons *c, reply *r) {
    pthread_mutex_lock(&c->mx);
    if (c->nq == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        reply **n = rill__malloc(cap * sizeof *n);
        if (n == NULL) {
            pthread_mutex_unlock(&c->mx);
            json_decref(r->list_id);
            rill__free(r);
            return;
        }
        if (c->nq)
            memcpy(n, c->q, c->nq * sizeof *n);
        rill__free(c->q);
        c->q = n;
        c->qcap = cap;
    }
    c->q[c->nq++] = r;
    pthread_mutex_unlock(&c->mx);
}

static void queue_reply(ncons *c, bool binary, const void *data, size_t len) {
    reply *r = rill__malloc(sizeof *r + len);
    if (r == NULL)
        return;
    r->binary = binary;
    r->list = false;
    r->list_id = NULL;
    r->len = len;
    memcpy(r->data, data, len);
    push_reply(c, r);
}

static void queue_json(ncons *c, json_t *j) {
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text != NULL)
        queue_reply(c, false, text, strlen(text));
    free(text);
}

static json_t *list_reply(ncons *c, json_t *id);

/* A list's timestamp is the device's latest tick, from which the client
 * computes "now" for starts, schedules and exactly-N. A live consumer
 * knows it from its first message only: until that came (at most half the
 * client's timeout: a silent device), list replies wait, and what was
 * asked after them too, in order. mx held. */
static bool list_ready(ncons *c) {
    return c->cfg.start != RILL_NATS_LIVE || atomic_load(&c->last_tick) != 0 ||
           rill_clock_now_ns() - c->connected_ns > c->list_hold_ns;
}

static void feed_replies(ncons *c) {
    for (;;) {
        pthread_mutex_lock(&c->mx);
        if (c->nq == 0 || (c->q[0]->list && !list_ready(c))) {
            pthread_mutex_unlock(&c->mx);
            return;
        }
        reply *r = c->q[0];
        memmove(c->q, c->q + 1, --c->nq * sizeof *c->q);
        rill_client *cl = c->cl;
        pthread_mutex_unlock(&c->mx);
        if (r->list) {
            json_t *j = list_reply(c, r->list_id);
            char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (text != NULL)
                rill__client_feed(cl, (const uint8_t *)text, strlen(text), false);
            free(text);
            json_decref(r->list_id);
        } else {
            rill__client_feed(cl, r->data, r->len, r->binary);
        }
        rill__free(r);
    }
}

/* A list reply, built when it is fed. */
static void queue_list(ncons *c, json_t *id) {
    reply *r = rill__malloc(sizeof *r);
    if (r == NULL)
        return;
    r->binary = false;
    r->list = true;
    r->list_id = json_incref(id);
    r->len = 0;
    push_reply(c, r);
}

/* ---- Requests (the client's request threads) ------------------------------- */

static json_t *list_reply(ncons *c, json_t *id) {
    json_t *w = json_array();
    pthread_mutex_lock(&c->mx);
    for (size_t i = 0; i < c->n; i++) {
        json_t *e = json_deep_copy(c->vars[i].entry);
        json_object_set_new(e, "watched", json_boolean(c->vars[i].watched));
        json_object_set_new(e, "controlled", json_false());
        json_object_set_new(e, "logged", json_false());
        json_object_set_new(e, "monitor", json_integer(0));
        json_array_append_new(w, e);
    }
    pthread_mutex_unlock(&c->mx);
    json_t *watcher = json_pack("{s:f,s:I,s:o}", "sampleRate", c->rate, "timestamp",
                                (json_int_t)atomic_load(&c->last_tick), "watchers", w);
    json_t *list = json_object_get(c->ann, "list");
    json_t *audio = json_object_get(list, "audio");
    if (json_is_object(audio)) {
        /* Only when every channel is bridged: ids are the bridged list's. */
        bool all = true;
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(audio, "variables"), k, v) {
            bool found = false;
            for (size_t i = 0; i < c->n && json_is_string(v); i++)
                found |= strcmp(c->vars[i].name, json_string_value(v)) == 0;
            all &= found;
        }
        if (all)
            json_object_set(watcher, "audio", audio);
    }
    json_t *r = json_pack("{s:o}", "watcher", watcher);
    if (id != NULL)
        json_object_set(r, "id", id);
    return r;
}

static cvar *find_var(ncons *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->vars[i].name, name) == 0)
            return &c->vars[i];
    return NULL;
}

static void refuse(ncons *c, const char *cmd, json_t *id) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s: not available through NATS: this is the bridged "
             "recording of %s's streams; connect to the device itself for %s",
             cmd, c->device, cmd);
    json_t *e = json_pack("{s:s,s:s}", "cmd", cmd, "message", msg);
    if (id != NULL)
        json_object_set(e, "id", id);
    queue_json(c, json_pack("{s:o}", "error", e));
}

static uint64_t entry_u64(json_t *arr, size_t i) {
    json_t *v = json_array_get(arr, i);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v)
           : json_is_real(v)  ? (uint64_t)json_real_value(v)
                              : 0;
}

static void command(ncons *c, json_t *cmd, json_t *msg_id) {
    const char *name = json_string_value(json_object_get(cmd, "cmd"));
    json_t *id = json_object_get(cmd, "id") ? json_object_get(cmd, "id") : msg_id;
    json_t *names = json_object_get(cmd, "watchers");
    if (name == NULL)
        return;
    if (strcmp(name, "list") == 0) {
        queue_list(c, id);
    } else if (strcmp(name, "watch") == 0 || strcmp(name, "unwatch") == 0) {
        bool on = name[0] == 'w';
        json_t *ts = json_object_get(cmd, "timestamps");
        json_t *du = json_object_get(cmd, "durations");
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n) {
            pthread_mutex_lock(&c->mx);
            cvar *v = json_is_string(n) ? find_var(c, json_string_value(n)) : NULL;
            bool was = v != NULL && v->watched;
            if (v != NULL) {
                v->watched = on;
                if (on) {
                    v->start = entry_u64(ts, i);
                    v->duration = entry_u64(du, i);
                    v->end = v->start != 0 && v->duration != 0 ? v->start + v->duration : 0;
                    c->started = true;
                }
            }
            pthread_mutex_unlock(&c->mx);
            if (v != NULL && !on && was) {
                /* The stream ends as a device's does: an end message. */
                rill__native_header h = {0};
                h.kind = RILL__NATIVE_END;
                h.type = RILL_TYPE_FLOAT;
                const char *t = json_string_value(json_object_get(v->entry, "type"));
                if (t != NULL)
                    rill_type_from_letter(t[0], &h.type);
                h.var_id = (uint32_t)(v - c->vars);
                h.first_ts = atomic_load(&c->last_tick);
                uint8_t end[RILL__NATIVE_HEADER_BYTES];
                size_t len = 0;
                if (rill__native_encode(&h, NULL, NULL, end, sizeof end, &len) == 0)
                    queue_reply(c, true, end, len);
            }
        }
    } else {
        refuse(c, name, id);
    }
}

/* The client sends: answer (queued for the consumer thread). */
static int x_send(void *user, rill_client *cl, bool binary, const void *data,
                  size_t len) {
    ncons *c = user;
    pthread_mutex_lock(&c->mx);
    c->cl = cl; /* from the first request (attach's list) on */
    pthread_mutex_unlock(&c->mx);
    if (binary)
        return RILL_ENOTSUP;
    json_error_t e;
    json_t *root = json_loadb(data, len, 0, &e);
    if (!json_is_object(root)) {
        json_decref(root);
        return RILL_EINVAL;
    }
    json_t *r = json_object_get(root, "rill");
    json_t *w = json_object_get(root, "watcher");
    if (json_is_string(r) && strcmp(json_string_value(r), "hello") == 0) {
        queue_json(c, json_pack("{s:s,s:i,s:i,s:f}", "rill", "hello", "version", 2,
                                "maxValues", 65536, "sampleRate", c->rate));
    } else if (json_is_string(r)) {
        refuse(c, json_string_value(r), json_object_get(root, "id"));
    } else if (json_is_array(w)) {
        size_t i;
        json_t *cmd;
        json_array_foreach(w, i, cmd) command(c, cmd, json_object_get(root, "id"));
    }
    json_decref(root);
    return 0;
}

/* ---- Frames (the consumer thread) -------------------------------------------- */

static void report_gap(ncons *c, cvar *v, uint64_t from, uint64_t to,
                       uint64_t buffers, const char *why) {
    c->stats.gaps++;
    rill__log_warn("%s.%s: ticks [%" PRIu64 ", %" PRIu64 ") are missing: %s",
                   c->device, v->name, from, to, why);
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    pthread_mutex_unlock(&c->mx);
    if (c->cfg.on_gap != NULL) {
        rill_nats_gap g = {c->device, v->name, from, to, buffers, why};
        c->cfg.on_gap(cl, &g, c->cfg.gap_user);
    }
}

static bool ensure_frame(ncons *c, size_t need) {
    if (need <= c->frame_cap)
        return true;
    uint8_t *f = rill__malloc(need);
    if (f == NULL)
        return false;
    rill__free(c->frame);
    c->frame = f;
    c->frame_cap = need;
    return true;
}

/* Feed one in-order frame of `v` (trimmed to its watch), with `lost` more
 * buffers missing before it. */
static void deliver(ncons *c, cvar *v, natsMsg *m, const rill__native_msg *f,
                    uint64_t lost, const char *why) {
    uint64_t first = f->h.first_ts;
    size_t count = f->h.count;
    uint64_t end_tick = first + (count ? count : 0);
    if (f->rel != NULL && count > 0) {
        uint32_t r;
        memcpy(&r, f->rel + 4 * (count - 1), 4);
        end_tick = first + r + 1;
    }
    uint64_t next_tick = v->next_tick;
    bool had = v->have;
    v->next_tick = end_tick;
    uint64_t lt = atomic_load(&c->last_tick);
    if (end_tick > lt)
        atomic_store(&c->last_tick, end_tick);
    /* The line changes a few times a second: parsed only when it did. */
    const char *clock = NULL;
    rill_clock_map map;
    if (natsMsgHeader_Get(m, RILL__H_CLOCK, &clock) == NATS_OK &&
        strncmp(clock, c->clock_text, sizeof c->clock_text) != 0 &&
        rill__clock_parse(clock, &map)) {
        snprintf(c->clock_text, sizeof c->clock_text, "%s", clock);
        pthread_mutex_lock(&c->mx);
        c->clock = map;
        c->have_clock = true;
        pthread_mutex_unlock(&c->mx);
    }
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    bool watched = v->watched;
    uint64_t start = v->start, end = v->end;
    if (watched && end == 0 && v->duration != 0) /* "now" for D ticks */
        end = v->end = RILL__MAX(first, start) + v->duration;
    pthread_mutex_unlock(&c->mx);
    if (!watched || end_tick <= start || f->h.kind != RILL__NATIVE_STREAM ||
        cl == NULL)
        return;
    if (v->pending_lost != 0) { /* the bridge gave up on these */
        lost += v->pending_lost;
        why = v->pending_why;
        v->pending_lost = 0;
    }
    uint64_t dropped = f->h.dropped + lost;
    if (dropped != 0 && had)
        report_gap(c, v, next_tick, first, dropped, why);
    /* Keep the values in [start, end). */
    size_t size = rill_type_size(f->h.type), a = 0, b = count;
    for (size_t i = 0; i < count; i++) {
        uint32_t r = (uint32_t)i;
        if (f->rel)
            memcpy(&r, f->rel + 4 * i, 4);
        uint64_t t = first + r;
        if (t < start)
            a = i + 1;
        if (end != 0 && t >= end && b == count)
            b = i;
    }
    bool last = (f->h.flags & RILL__NATIVE_FLAG_LAST) != 0 || (end != 0 && end_tick >= end);
    if (a >= b && !last)
        return;
    rill__native_header h = f->h;
    h.var_id = (uint32_t)(v - c->vars);
    h.count = (uint32_t)(b > a ? b - a : 0);
    h.dropped = (uint32_t)RILL__MIN(dropped, (uint64_t)UINT32_MAX);
    uint32_t r0 = (uint32_t)a;
    if (f->rel && a < count)
        memcpy(&r0, f->rel + 4 * a, 4);
    h.first_ts = first + r0;
    if (h.count == 0) {
        h.kind = RILL__NATIVE_END;
        h.flags = 0;
    } else if (last) {
        h.flags |= RILL__NATIVE_FLAG_LAST;
    }
    uint32_t *rel = NULL;
    if (f->rel && h.count) {
        rel = rill__malloc(h.count * 4u);
        if (rel == NULL)
            return;
        for (size_t i = 0; i < h.count; i++) {
            uint32_t r;
            memcpy(&r, f->rel + 4 * (a + i), 4);
            rel[i] = r - r0;
        }
    }
    size_t need = rill__native_size(&h), len = 0;
    /* The values straight from the message (the encoder copies them once,
     * behind the new header): no copy of our own. */
    const void *vals = h.count ? f->values + a * size : NULL;
    if (ensure_frame(c, need) &&
        rill__native_encode(&h, vals, rel, c->frame, c->frame_cap, &len) == 0) {
        c->stats.messages++;
        v->fed |= h.count > 0;
        rill__client_feed(cl, c->frame, len, true);
    }
    rill__free(rel);
    if (last) {
        pthread_mutex_lock(&c->mx);
        v->watched = false;
        pthread_mutex_unlock(&c->mx);
    }
}

static bool decode(ncons *c, natsMsg *m, rill__native_msg *f) {
    char err[200];
    if (rill__native_decode((const uint8_t *)natsMsg_GetData(m),
                            (size_t)natsMsg_GetDataLength(m), f, err, sizeof err) == 0)
        return true;
    c->stats.bad_messages++;
    char msg[600];
    snprintf(msg, sizeof msg, "%s: a message on %s that is not a rill frame (%s); "
             "skipped (is something else publishing under %s.%s?)",
             c->device, natsMsg_GetSubject(m), err, c->prefix, c->device);
    rill__log_warn("%s", msg);
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    pthread_mutex_unlock(&c->mx);
    if (cl != NULL)
        rill__deliver_error(cl, RILL_EPROTO, msg);
    return false;
}

/* The stream's stored time of `m` (ns since the epoch), or 0. */
static int64_t stored_ns(natsMsg *m) {
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK)
        return 0;
    int64_t t = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    return t;
}

static void held_pop(ncons *c, cvar *v) {
    natsMsg_Destroy(v->held[0].m);
    c->held_bytes -= v->held[0].bytes;
    memmove(v->held, v->held + 1, --v->n_held * sizeof *v->held);
}

/* What waited behind a hole, delivered in order as far as nothing is
 * missing; with `force`, the head hole is given up as a gap first (it
 * cannot come any more). */
static void drain_held(ncons *c, cvar *v, bool force, const char *why) {
    bool moved = false;
    while (v->n_held > 0) {
        hold *h = &v->held[0];
        uint64_t base = h->seq - h->dropped;
        if (base > v->next_seq && !force)
            break;
        uint64_t lost = base > v->next_seq ? base - v->next_seq : 0;
        v->next_seq = h->seq + 1;
        force = false;
        moved = true;
        if (h->lost) {
            /* The marker's frame and the device's drops before it: said
             * with the next frame delivered. */
            v->pending_lost += lost + h->dropped + 1;
            v->pending_why = "the bridge could not store these buffers (it gave up "
                             "after retrying)";
            held_pop(c, v);
            continue;
        }
        rill__native_msg f;
        if (decode(c, h->m, &f))
            deliver(c, v, h->m, &f, lost,
                    lost ? why
                         : "the device dropped them for the bridge (its queue was full)");
        held_pop(c, v);
    }
    if (moved && v->n_held > 0) { /* a new head hole: its wait starts now */
        v->hole_local_ns = rill_clock_now_ns();
        v->hole_stored_ns = c->newest_stored_ns;
    }
}

/* Keep `m` (frame or marker `seq`) until the frames before it came or
 * cannot come. Sorted by seq; a second copy is dropped. */
static void hold_msg(ncons *c, cvar *v, natsMsg *m, uint64_t seq, uint64_t dropped,
                     bool lost) {
    if (v->n_held == v->held_cap) {
        size_t cap = v->held_cap ? v->held_cap * 2 : 64;
        hold *n = rill__malloc(cap * sizeof *n);
        if (n == NULL) { /* no room to wait: the hole is a gap now */
            drain_held(c, v, true, "the consumer ran out of memory while waiting");
            natsMsg_Destroy(m);
            return;
        }
        if (v->n_held)
            memcpy(n, v->held, v->n_held * sizeof *n);
        rill__free(v->held);
        v->held = n;
        v->held_cap = cap;
    }
    size_t k = v->n_held;
    while (k > 0 && v->held[k - 1].seq >= seq) {
        if (v->held[k - 1].seq == seq) {
            natsMsg_Destroy(m);
            return;
        }
        k--;
    }
    c->stats.reordered++;
    memmove(v->held + k + 1, v->held + k, (v->n_held - k) * sizeof *v->held);
    size_t bytes = (size_t)natsMsg_GetDataLength(m) + 256;
    v->held[k] = (hold){m, seq, dropped, lost, bytes};
    c->held_bytes += bytes;
    if (v->n_held++ == 0) {
        v->hole_local_ns = rill_clock_now_ns();
        v->hole_stored_ns = c->newest_stored_ns;
    }
    drain_held(c, v, false, NULL);
    while (c->held_bytes > RILL__HOLD_BYTES && v->n_held > 0)
        drain_held(c, v, true, "the consumer could not hold more frames while waiting "
                               "for them (RILL__HOLD_BYTES)");
}

/* Holes that can no longer be filled: past the bridge's retry horizon by
 * stored time, or by this host's clock when nothing newer came. */
static void expire_holes(ncons *c) {
    uint64_t now = rill_clock_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        cvar *v = &c->vars[i];
        if (v->n_held == 0)
            continue;
        bool stored_past = v->hole_stored_ns != 0 && c->newest_stored_ns != 0 &&
                           c->newest_stored_ns - v->hole_stored_ns > (int64_t)c->horizon_ns;
        if (stored_past || now - v->hole_local_ns > c->horizon_ns)
            drain_held(c, v, true,
                       "the bridge did not store these buffers within its retry horizon "
                       "(it gave up, or retention removed them)");
    }
}

/* "Rill-Lost: <seq> <dropped>": the bridge gave up on frame seq. */
static bool lost_marker(natsMsg *m, uint64_t *seq, uint64_t *dropped) {
    const char *h = NULL;
    unsigned long long s = 0, d = 0;
    if (natsMsgHeader_Get(m, RILL__H_LOST, &h) != NATS_OK)
        return false;
    if (sscanf(h, "%llu %llu", &s, &d) != 2 || d > s)
        return false;
    *seq = s;
    *dropped = d;
    return true;
}

/* Nothing more is fed: the client sees its device gone, with `why`. */
static void end_session(ncons *c, const char *why) {
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    pthread_mutex_unlock(&c->mx);
    c->ended = true;
    rill__log_error("%s", why);
    if (cl != NULL)
        rill__client_feed_closed(cl, why);
}

static void on_message(ncons *c, natsMsg *m) {
    if (c->ended) {
        natsMsg_Destroy(m);
        return;
    }
    const char *subj = natsMsg_GetSubject(m);
    size_t pl = strlen(c->prefix) + strlen(c->device) + 2;
    cvar *v = NULL;
    if (strlen(subj) > pl)
        for (size_t i = 0; i < c->n && v == NULL; i++)
            if (strcmp(subj + pl, c->vars[i].token) == 0)
                v = &c->vars[i];
    bool holding = false;
    for (size_t i = 0; i < c->n && !holding; i++)
        holding = c->vars[i].n_held > 0;
    if (holding) { /* the stream's clock, for expire_holes */
        int64_t t = stored_ns(m);
        if (t > c->newest_stored_ns)
            c->newest_stored_ns = t;
    }
    const char *run = NULL;
    if (natsMsgHeader_Get(m, RILL__H_RUN, &run) != NATS_OK)
        run = "";
    uint64_t lseq = 0, ldropped = 0;
    if (v != NULL && lost_marker(m, &lseq, &ldropped)) {
        /* Frames at or before next_seq are accounted for already; a
         * marker of another run is moot (its run change says the gap). */
        if (v->have && strcmp(run, v->run) == 0 && lseq >= v->next_seq) {
            if (v->n_held == 0)
                c->newest_stored_ns = stored_ns(m);
            hold_msg(c, v, m, lseq, ldropped, true);
        } else {
            natsMsg_Destroy(m);
        }
        return;
    }
    rill__native_msg f;
    if (v == NULL || !decode(c, m, &f)) {
        natsMsg_Destroy(m);
        return;
    }
    if (!v->have && c->cfg.start == RILL_NATS_LIVE && c->ann_run[0] != '\0' &&
        strcmp(run, c->ann_run) != 0) {
        /* Live starts on the last stored message: one of an older run (a
         * device since restarted or reconnected) is not live. */
        natsMsg_Destroy(m);
        return;
    }
    if (v->have && strcmp(run, v->run) != 0) {
        /* A new bridge session: what waited from the old one goes first;
         * whatever it still missed will never come. */
        drain_held(c, v, true, "the bridge stopped before storing these buffers");
        while (v->n_held > 0)
            drain_held(c, v, true, "the bridge stopped before storing these buffers");
        uint64_t from = v->next_tick;
        if (f.h.first_ts < from && !v->fed) {
            /* Nothing of the old boot went to the client (a live start met
             * the last message of a device that restarted since): start
             * over on the new boot, its ticks the device's latest. */
            v->have = false;
            atomic_store(&c->last_tick, 0);
        } else if (f.h.first_ts < from) {
            /* The device itself restarted (the bridge reconnected to a new
             * boot): its ticks began again, and everything asked of this
             * consumer names the old ones. The session ends, as a
             * connection to the device would have. */
            char why[300];
            snprintf(why, sizeof why, "%s restarted: its ticks began again at %" PRIu64
                     " after %" PRIu64 " (connect again to read its new run)",
                     c->device, f.h.first_ts, from);
            end_session(c, why);
            natsMsg_Destroy(m);
            return;
        } else {
            snprintf(v->run, sizeof v->run, "%s", run);
            v->next_seq = f.h.seq - f.h.dropped;
            v->pending_lost = 0;
            /* deliver reports [from, first) with this frame. */
            deliver(c, v, m, &f, f.h.first_ts > from ? 1 : 0,
                    "the bridge restarted, or reconnected to the device: nothing "
                    "was published between its runs");
            v->next_seq = f.h.seq + 1;
            natsMsg_Destroy(m);
            return;
        }
    }
    if (!v->have) {
        v->have = true;
        snprintf(v->run, sizeof v->run, "%s", run);
        v->next_seq = f.h.seq - f.h.dropped;
        v->next_tick = f.h.first_ts;
    }
    uint64_t base = f.h.seq - f.h.dropped;
    if (f.h.seq < v->next_seq) { /* delivered already */
        natsMsg_Destroy(m);
        return;
    }
    if (base == v->next_seq && v->n_held == 0) {
        v->next_seq = f.h.seq + 1;
        deliver(c, v, m, &f, 0,
                "the device dropped them for the bridge (its queue was full)");
        natsMsg_Destroy(m);
        return;
    }
    /* Out of order: wait for the missing ones. */
    if (v->n_held == 0)
        c->newest_stored_ns = stored_ns(m);
    hold_msg(c, v, m, f.h.seq, f.h.dropped, false);
}

static void *consume_main(void *arg) {
    ncons *c = arg;
    while (!atomic_load(&c->stop)) {
        feed_replies(c);
        pthread_mutex_lock(&c->mx);
        bool go = c->started || c->cfg.start == RILL_NATS_LIVE;
        pthread_mutex_unlock(&c->mx);
        if (!go) {
            rill_clock_sleep_until_ns(rill_clock_now_ns() + 5000000);
            continue;
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, c->sub, 10);
        if (s == NATS_OK) {
            on_message(c, m);
        } else if (s != NATS_TIMEOUT) {
            nats_GetLastError(NULL); /* slow consumer and the like: go on */
        }
        expire_holes(c);
    }
    return NULL;
}

/* ---- Connecting ------------------------------------------------------------- */

static void x_detach(void *user) {
    ncons *c = user;
    if (c == NULL)
        return;
    atomic_store(&c->stop, true);
    if (c->thr_started)
        pthread_join(c->thr, NULL);
    if (c->sub != NULL) {
        natsSubscription_Unsubscribe(c->sub);
        natsSubscription_Destroy(c->sub);
    }
    jsCtx_Destroy(c->js);
    if (c->nc != NULL) {
        natsConnection_Close(c->nc);
        natsConnection_Destroy(c->nc);
    }
    for (size_t i = 0; i < c->n; i++) {
        for (size_t k = 0; k < c->vars[i].n_held; k++)
            natsMsg_Destroy(c->vars[i].held[k].m);
        rill__free(c->vars[i].held);
        json_decref(c->vars[i].entry);
    }
    rill__free(c->vars);
    for (size_t i = 0; i < c->nq; i++) {
        json_decref(c->q[i]->list_id);
        rill__free(c->q[i]);
    }
    rill__free(c->q);
    json_decref(c->ann);
    rill__free(c->frame);
    rill__free(c->url);
    rill__free(c->device);
    rill__free(c->stream);
    rill__free(c->prefix);
    rill__free(c->bucket);
    pthread_mutex_destroy(&c->mx);
    rill__free(c);
}

static const rill__client_xport xport = {x_send, x_detach};

/* The device's announcement, or a sentence naming those there are. */
static int read_announcement(ncons *c) {
    kvStore *kv = NULL;
    natsStatus s = js_KeyValue(&kv, c->js, c->bucket);
    if (s != NATS_OK) {
        rill__log_error("no bridged devices at %s: the KV bucket %s does not exist "
                        "(start rill bridge first; docs/SCALE.md)", c->url, c->bucket);
        nats_GetLastError(NULL);
        return RILL_ENOTFOUND;
    }
    kvEntry *e = NULL;
    s = kvStore_Get(&e, kv, c->device);
    int rc = 0;
    if (s != NATS_OK) {
        kvKeysList keys = {0};
        char known[512] = "";
        if (kvStore_Keys(&keys, kv, NULL) == NATS_OK)
            for (int i = 0; i < keys.Count; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         i ? ", " : "", keys.Keys[i]);
        kvKeysList_Destroy(&keys);
        rill__log_error("no device \"%s\" is announced in bucket %s at %s (subjects "
                        "%s.%s.*); announced: %s", c->device, c->bucket, c->url,
                        c->prefix, c->device, known[0] ? known : "none");
        rc = RILL_ENOTFOUND;
    } else {
        json_error_t je;
        c->ann = json_loads(kvEntry_ValueString(e), 0, &je);
        if (!json_is_object(c->ann) || !json_is_array(json_object_get(c->ann, "bridged"))) {
            rill__log_error("the announcement of %s in %s is not a rill bridge's",
                            c->device, c->bucket);
            rc = RILL_EPROTO;
        }
    }
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    if (rc != 0)
        return rc;
    json_t *stream = json_object_get(c->ann, "stream");
    if (json_is_string(stream) && strcmp(json_string_value(stream), c->stream) != 0) {
        rill__free(c->stream);
        c->stream = rill__strdup(json_string_value(stream));
    }
    json_t *run = json_object_get(c->ann, "run");
    if (json_is_string(run))
        snprintf(c->ann_run, sizeof c->ann_run, "%s", json_string_value(run));
    json_t *horizon = json_object_get(c->ann, "retryHorizonMs");
    c->horizon_ns = (uint64_t)(json_is_number(horizon) && json_number_value(horizon) > 0
                                   ? json_number_value(horizon)
                                   : RILL__HORIZON_DEFAULT_MS) *
                    1000000u;
    c->rate = json_number_value(json_object_get(c->ann, "sampleRate"));
    if (!(c->rate > 0))
        c->rate = 1000;
    json_t *bridged = json_object_get(c->ann, "bridged");
    json_t *entries = json_object_get(json_object_get(c->ann, "list"), "watchers");
    size_t n = json_array_size(bridged);
    c->vars = rill__calloc(n ? n : 1, sizeof *c->vars);
    if (c->vars == NULL || c->stream == NULL)
        return RILL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(bridged, i));
        if (name == NULL)
            continue;
        cvar *v = &c->vars[c->n];
        snprintf(v->name, sizeof v->name, "%s", name);
        char subject[400];
        if (rill__nats_subject(c->prefix, c->device, name, subject, sizeof subject) != 0)
            continue;
        snprintf(v->token, sizeof v->token, "%s", subject + strlen(c->prefix) +
                 strlen(c->device) + 2);
        size_t k;
        json_t *en;
        json_array_foreach(entries, k, en) {
            if (json_is_string(json_object_get(en, "name")) &&
                strcmp(json_string_value(json_object_get(en, "name")), name) == 0)
                v->entry = json_deep_copy(en);
        }
        if (v->entry == NULL)
            v->entry = json_pack("{s:s,s:s,s:i}", "name", name, "type", "f",
                                 "timestampMode", 0);
        c->n++;
    }
    return 0;
}

static int subscribe(ncons *c) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        char what[400];
        snprintf(what, sizeof what, "no JetStream stream %s at %s (start rill bridge "
                 "first, or name the stream the bridge uses)", c->stream, c->url);
        int rc = rill__nats_error(s, jerr, what);
        return rc == RILL_EIO ? RILL_ENOTFOUND : rc;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = c->stream;
    so.Ordered = true;
    /* An ordered consumer notices that its server-side consumer is gone
     * (its node died) only by missed idle heartbeats, and then makes a new
     * one from where it was. libnats's default heartbeat, 5 s, left a
     * consumer stalled for 10 s after the stream's leader came back. */
    so.Config.Heartbeat = RILL__NATS_HEARTBEAT_NS;
    switch (c->cfg.start) {
    case RILL_NATS_LIVE: so.Config.DeliverPolicy = js_DeliverLastPerSubject; break;
    case RILL_NATS_ALL: so.Config.DeliverPolicy = js_DeliverAll; break;
    case RILL_NATS_SEQ:
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = c->cfg.start_seq;
        break;
    case RILL_NATS_TIME:
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = c->cfg.start_time_ns;
        break;
    }
    char filter[300];
    snprintf(filter, sizeof filter, "%s.%s.>", c->prefix, c->device);
    s = js_SubscribeSync(&c->sub, c->js, filter, NULL, &so, &jerr);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(c->sub, 1 << 20, 1 << 30);
    if (s != NATS_OK) {
        char what[400];
        snprintf(what, sizeof what, "cannot read %s from stream %s at %s", filter,
                 c->stream, c->url);
        return rill__nats_error(s, jerr, what);
    }
    return 0;
}

int rill_nats_connect(const rill_client_config *cfg, const rill_nats_config *ncfg,
                      rill_client **out) {
    if (cfg == NULL || ncfg == NULL || out == NULL || ncfg->nats_url == NULL ||
        ncfg->device == NULL || ncfg->stream == NULL || ncfg->subject_prefix == NULL ||
        ncfg->kv_bucket == NULL)
        return RILL_EINVAL;
    *out = NULL;
    if (!rill__nats_name_ok(ncfg->device)) {
        rill__log_error("\"%s\" is not a bridged device's name (one subject token: "
                        "letters, digits, _ and -)", ncfg->device);
        return RILL_EINVAL;
    }
    ncons *c = rill__calloc(1, sizeof *c);
    if (c == NULL)
        return RILL_ENOMEM;
    pthread_mutex_init(&c->mx, NULL);
    c->cfg = *ncfg;
    c->connected_ns = rill_clock_now_ns();
    c->list_hold_ns = (uint64_t)cfg->timeout_ms * 500000u; /* half of it */
    c->url = rill__strdup(ncfg->nats_url);
    c->device = rill__strdup(ncfg->device);
    c->stream = rill__strdup(ncfg->stream);
    c->prefix = rill__strdup(ncfg->subject_prefix);
    c->bucket = rill__strdup(ncfg->kv_bucket);
    int rc = c->url && c->device && c->stream && c->prefix && c->bucket ? 0 : RILL_ENOMEM;
    if (rc == 0)
        rc = rill__nats_connect(c->url, cfg->timeout_ms, "rill consumer", NULL, NULL,
                                &c->nc);
    if (rc == 0) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = cfg->timeout_ms;
        natsStatus s = natsConnection_JetStream(&c->js, c->nc, &jo);
        if (s != NATS_OK)
            rc = rill__nats_error(s, 0, "no JetStream context");
    }
    if (rc == 0)
        rc = read_announcement(c);
    if (rc == 0)
        rc = subscribe(c);
    if (rc == 0 && pthread_create(&c->thr, NULL, consume_main, c) != 0)
        rc = RILL_ESYS;
    if (rc != 0) {
        x_detach(c);
        return rc;
    }
    c->thr_started = true;
    rill_client_config cc = *cfg;
    char url[300];
    snprintf(url, sizeof url, "%s/%s", c->url, c->device);
    cc.url = url;
    rill_client *cl = NULL;
    rc = rill__client_attach(&cc, &xport, c, &cl);
    if (rc != 0)
        return rc;
    *out = cl;
    return 0;
}

int rill_nats_client_clock(const rill_client *cl, rill_clock_map *out) {
    ncons *c = cl ? rill__client_xport_user(cl) : NULL;
    if (c == NULL || out == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&c->mx);
    bool have = c->have_clock;
    *out = c->clock;
    pthread_mutex_unlock(&c->mx);
    return have ? 0 : RILL_ENOTFOUND;
}

int rill_nats_client_stats(const rill_client *cl, rill_nats_stats *out) {
    ncons *c = cl ? rill__client_xport_user(cl) : NULL;
    if (c == NULL || out == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&c->mx);
    *out = c->stats;
    pthread_mutex_unlock(&c->mx);
    return 0;
}
