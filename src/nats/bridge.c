/* rill_bridge: devices -> JetStream. See rill/bridge.h, docs/SCALE.md.
 *
 * Per device: a native rill_client streams the chosen variables; its I/O
 * thread turns each buffer into the native frame (with the bridge's
 * per-variable sequence, which skips what the device dropped, exactly as
 * the device's own sequence does) and publishes it asynchronously. A
 * prober thread runs the clock exchange and keeps the tick -> clock line
 * (timefit.c) that every message carries.
 *
 * Delivery: libnats calls on_ack for every publish. A failure or timeout
 * (a node died, the cluster is electing a leader, the connection is
 * reconnecting) puts the message, untouched, on the retry list; the retry
 * thread publishes it again with the same Nats-Msg-Id, so JetStream keeps
 * one copy even when the first attempt was stored and only its ack was
 * lost. Retries may land after newer messages: consumers reorder by the
 * frame's sequence. A message still failing after give_up_s is counted as
 * lost, and a Rill-Lost marker with its sequence is published in its
 * place, so that consumers, which wait for a missing frame as long as a
 * retry may still store it (retryHorizonMs in the announcement), report
 * the gap at once. After a reconnection, every publish still awaiting its
 * ack is sent again at once: its ack, if any, went with the lost
 * connection, and waiting out the ack timeout would hold consumers back.
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
#include "nats/timefit.h"
#include "proto/native.h"
#include "proto/timesync.h"
#include "rill/bridge.h"
#include "rill/client.h"

#define RILL__BRIDGE_MAX_DEVICES 64
#define RILL__PROBES_PER_BURST 4
#define H_FIRST_FAIL "Rill-First-Fail"

typedef struct bvar {
    bool bridged;
    char subject[256];
    char token[200]; /* the variable's subject token */
    char id[300];    /* "<device>.<token>.<run>.": the message id's prefix */
    size_t id_len;
    uint64_t seq;
} bvar;

typedef struct bdev {
    rill_bridge *b;
    char name[65];
    char url[256];
    char *token;
    uint32_t length;
    /* Replaced on each connection, by the thread that connects (add, then
     * the prober) while no client of this device runs. */
    rill_client *cl;       /* the data */
    rill_client *probe_cl; /* the clock exchange, on a connection of its own */
    rill_client_list *list;
    bvar *vars; /* by the device's variable id */
    char run[17];
    double rate;
    char rate_text[32]; /* the rate as the Rill header writes it */
    uint8_t *frame; /* I/O thread: the frame being built */
    size_t frame_cap;
    char *list_json; /* the device's latest list reply, "watcher" object */
    char **bridged;
    size_t n_bridged;

    pthread_t prober;
    bool prober_started;
    atomic_bool lost; /* the connection to the device ended (its I/O thread) */
    uint64_t next_tick; /* I/O thread: after the latest value published */
    pthread_mutex_t mx; /* below, shared by the prober and the I/O thread */
    pthread_cond_t cv;
    int64_t want_id; /* the probe waited for */
    bool got;
    int64_t t[4];
    uint64_t ptick;
    int64_t ptick_ns;
    bool pstamp;
    rill__timefit fit;
    char clock[160]; /* the clock line of the messages now */
    rill_clock_map map;
} bdev;

typedef struct retry {
    natsMsg *m;
} retry;

struct rill_bridge {
    rill_bridge_config cfg;
    char *url, *stream, *prefix, *bucket;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    bdev *devs[RILL__BRIDGE_MAX_DEVICES];
    size_t n_devs;
    atomic_bool stop;    /* the retrier ends */
    atomic_bool closing; /* probers end (and reconnect no more) */

    pthread_t retrier;
    bool retrier_started;
    pthread_mutex_t rmx;
    pthread_cond_t rcv;
    natsMsg **retry;
    size_t n_retry, retry_cap;
    char why[200];    /* the latest failure, for the log */
    uint64_t said_ns; /* when the log last said publishes failed */

    atomic_bool resend_pending; /* reconnected: the retrier resends */
    atomic_uint_fast64_t published, acked, retried, lost, device_drops, bytes;
    atomic_uint_fast64_t markers_dropped; /* markers never stored either */
};

rill_bridge_config rill_bridge_config_default(void) {
    rill_bridge_config c;
    memset(&c, 0, sizeof c);
    c.nats_url = RILL__NATS_DEFAULT_URL;
    c.stream = RILL__NATS_DEFAULT_STREAM;
    c.subject_prefix = RILL__NATS_DEFAULT_PREFIX;
    c.kv_bucket = RILL__NATS_DEFAULT_BUCKET;
    c.replicas = 1;
    c.max_age_s = 3600;
    c.max_bytes = (int64_t)1 << 30;
    c.timeout_ms = 5000;
    c.probe_ms = 250;
    c.max_pending = 4096;
    c.give_up_s = 60;
    c.dedupe = true;
    return c;
}

/* ---- Retries ------------------------------------------------------------- */

static void retry_push(rill_bridge *b, natsMsg *m) {
    pthread_mutex_lock(&b->rmx);
    if (b->n_retry == b->retry_cap) {
        size_t cap = b->retry_cap ? b->retry_cap * 2 : 256;
        natsMsg **n = rill__malloc(cap * sizeof *n);
        if (n == NULL) {
            pthread_mutex_unlock(&b->rmx);
            rill__log_error("bridge: out of memory; a message is lost");
            atomic_fetch_add(&b->lost, 1);
            natsMsg_Destroy(m);
            return;
        }
        if (b->n_retry)
            memcpy(n, b->retry, b->n_retry * sizeof *n);
        rill__free(b->retry);
        b->retry = n;
        b->retry_cap = cap;
    }
    b->retry[b->n_retry++] = m;
    pthread_cond_signal(&b->rcv);
    pthread_mutex_unlock(&b->rmx);
}

/* Mark `m`'s first failure (kept across retries), for the give-up. */
static void stamp_first_fail(natsMsg *m) {
    const char *first = NULL;
    if (natsMsgHeader_Get(m, H_FIRST_FAIL, &first) != NATS_OK) {
        char now[32];
        snprintf(now, sizeof now, "%" PRIu64, rill_clock_now_ns());
        natsMsgHeader_Set(m, H_FIRST_FAIL, now);
    }
}

/* libnats's thread: the connection is back (perhaps to another server).
 * Publishes sent before it lost their acks with the old connection. */
static void on_reconnected(natsConnection *nc, void *closure) {
    (void)nc;
    rill_bridge *b = closure;
    atomic_store(&b->resend_pending, true);
    pthread_mutex_lock(&b->rmx);
    pthread_cond_signal(&b->rcv);
    pthread_mutex_unlock(&b->rmx);
}

/* libnats's thread: the answer to one publish. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                   void *closure) {
    (void)js;
    rill_bridge *b = closure;
    if (pa != NULL || pae == NULL) {
        atomic_fetch_add(&b->acked, 1);
        natsMsg_Destroy(msg);
        return;
    }
    stamp_first_fail(msg); /* so the retrier knows when to give up */
    pthread_mutex_lock(&b->rmx);
    snprintf(b->why, sizeof b->why, "%s",
             pae->ErrText != NULL && pae->ErrText[0]
                 ? pae->ErrText
                 : natsStatus_GetText(pae->Err));
    pthread_mutex_unlock(&b->rmx);
    retry_push(b, msg);
}

static jsPubOptions pub_options(const rill_bridge *b) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = b->cfg.timeout_ms;
    return po;
}

/* Publish (a new message, or one again); a refusal right away goes to the
 * retry list too: nothing is dropped here. */
static void publish(rill_bridge *b, natsMsg *m, const atomic_bool *quit) {
    jsPubOptions po = pub_options(b);
    natsStatus s;
    /* Too many publishes awaiting their acks (max_pending): wait here, not
     * on the retry list. A message that never left must not be overtaken by
     * later ones (consumers would wait for it, out of order); waiting makes
     * the device drop for the bridge instead, in order and counted. */
    while ((s = js_PublishMsgAsync(b->js, &m, &po)) == NATS_TIMEOUT && m != NULL &&
           !atomic_load(quit))
        nats_GetLastError(NULL);
    if (s != NATS_OK && m != NULL) {
        stamp_first_fail(m);
        retry_push(b, m);
    }
}

/* The bridge gave up storing `m`: say so in its place, so consumers
 * report the gap now instead of waiting out the retry horizon. A marker
 * that cannot be stored either is dropped (consumers then wait). */
static void give_up(rill_bridge *b, natsMsg *m) {
    const char *lost = NULL;
    if (natsMsgHeader_Get(m, RILL__H_LOST, &lost) == NATS_OK) {
        atomic_fetch_add(&b->markers_dropped, 1);
        natsMsg_Destroy(m);
        return;
    }
    rill__log_error("bridge: %s could not be stored for %.0f s; given up "
                    "(consumers see the gap)",
                    natsMsg_GetSubject(m), b->cfg.give_up_s);
    atomic_fetch_add(&b->lost, 1);
    rill__native_msg f;
    const char *meta = NULL, *id = NULL;
    natsMsg *mk = NULL;
    if (rill__native_decode((const uint8_t *)natsMsg_GetData(m),
                            (size_t)natsMsg_GetDataLength(m), &f, NULL,
                            0) == 0 &&
        natsMsgHeader_Get(m, RILL__H_META, &meta) == NATS_OK &&
        natsMsg_Create(&mk, natsMsg_GetSubject(m), NULL, NULL, 0) == NATS_OK) {
        char text[64], mid[360];
        snprintf(text, sizeof text, "%" PRIu64 " %" PRIu32, f.h.seq,
                 f.h.dropped);
        natsMsgHeader_Set(mk, RILL__H_LOST, text);
        natsMsgHeader_Set(mk, RILL__H_META, meta); /* its run */
        if (natsMsgHeader_Get(m, RILL__H_MSGID, &id) == NATS_OK) { /* dedupe */
            snprintf(mid, sizeof mid, "%s.lost", id);
            natsMsgHeader_Set(mk, RILL__H_MSGID, mid);
        }
        atomic_fetch_add(&b->published, 1); /* its ack is counted too */
        publish(b, mk, &b->stop);
    }
    natsMsg_Destroy(m);
}

static void *retry_main(void *arg) {
    rill_bridge *b = arg;
    while (!atomic_load(&b->stop)) {
        pthread_mutex_lock(&b->rmx);
        if (b->n_retry == 0 && !atomic_load(&b->resend_pending))
            rill__cond_wait_ns(&b->rcv, &b->rmx, 50000000);
        pthread_mutex_unlock(&b->rmx);
        if (atomic_exchange(&b->resend_pending, false)) {
            /* Everything still awaiting an ack goes again (JetStream keeps
             * one copy of each Nats-Msg-Id). */
            natsMsgList pend = {0};
            if (js_PublishAsyncGetPendingList(&pend, b->js) == NATS_OK) {
                for (int i = 0; i < pend.Count; i++) {
                    stamp_first_fail(pend.Msgs[i]);
                    retry_push(b, pend.Msgs[i]);
                    pend.Msgs[i] = NULL;
                }
                natsMsgList_Destroy(&pend);
            }
        }
        pthread_mutex_lock(&b->rmx);
        natsMsg **list = b->retry;
        size_t n = b->n_retry;
        b->retry = NULL;
        b->n_retry = b->retry_cap = 0;
        pthread_mutex_unlock(&b->rmx);
        if (n == 0)
            continue;
        uint64_t said = rill_clock_now_ns();
        if (said - b->said_ns > 1000000000u) { /* at most once a second */
            b->said_ns = said;
            pthread_mutex_lock(&b->rmx);
            rill__log_warn(
                "bridge: %zu publishes to resend (%s); the same message "
                "ids, so JetStream stores each once",
                n, b->why[0] ? b->why : "reconnected");
            b->why[0] = '\0';
            pthread_mutex_unlock(&b->rmx);
        }
        /* A short pause: a failed node's peers need a moment to elect. */
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 20000000);
        uint64_t now = rill_clock_now_ns();
        for (size_t i = 0; i < n; i++) {
            const char *first = NULL;
            uint64_t t = 0;
            if (natsMsgHeader_Get(list[i], H_FIRST_FAIL, &first) == NATS_OK)
                t = strtoull(first, NULL, 10);
            if (t != 0 && (double)(now - t) / 1e9 > b->cfg.give_up_s) {
                give_up(b, list[i]);
                continue;
            }
            atomic_fetch_add(&b->retried, 1);
            publish(b, list[i], &b->stop);
        }
        rill__free(list);
    }
    return NULL;
}

/* ---- Publishing (a device's I/O thread) ---------------------------------- */

/* `n` in decimal, NUL-terminated, at `out` (21 bytes). */
static void write_u64(char *out, uint64_t n) {
    char tmp[21];
    size_t k = 0;
    do
        tmp[k++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    for (size_t i = 0; i < k; i++)
        out[i] = tmp[k - 1 - i];
    out[k] = '\0';
}

static void on_buffer(rill_client *cl, const rill_client_buffer *buf,
                      void *user) {
    (void)cl;
    bdev *d = user;
    rill_bridge *b = d->b;
    if (buf->var_id >= d->list->n_vars || !d->vars[buf->var_id].bridged)
        return;
    /* Closing: what the device still had queued is not published (the run
     * ends here; a later run's consumers report the ticks in between).
     * Publishing it could wait the publish stall (timeout_ms) per buffer
     * while JetStream is saturated: a flood's queue held rill_bridge_destroy
     * for over 20 minutes in bench_nats. */
    if (atomic_load(&b->closing))
        return;
    bvar *v = &d->vars[buf->var_id];
    if (buf->count > 0)
        d->next_tick = RILL__MAX(
            d->next_tick,
            buf->first_ts + (buf->rel != NULL ? buf->rel[buf->count - 1] + 1u
                                              : buf->count));
    v->seq += 1 + buf->dropped;
    if (buf->dropped != 0)
        atomic_fetch_add(&b->device_drops, buf->dropped);
    rill__native_header h = {0};
    h.kind = buf->count > 0 ? RILL__NATIVE_STREAM : RILL__NATIVE_END;
    h.type = buf->type;
    h.flags =
        (uint8_t)((buf->count > 0 && buf->mode == RILL_TS_SPARSE
                       ? RILL__NATIVE_FLAG_SPARSE
                       : 0) |
                  (buf->count > 0 && buf->last ? RILL__NATIVE_FLAG_LAST : 0));
    h.var_id = buf->var_id;
    h.seq = v->seq;
    h.first_ts = buf->first_ts;
    h.count = (uint32_t)buf->count;
    h.dropped = buf->dropped;
    size_t need = rill__native_size(&h);
    if (need > d->frame_cap) {
        uint8_t *f = rill__malloc(need);
        if (f == NULL) {
            rill__log_error("bridge: out of memory; a buffer of %s is lost",
                            buf->name);
            return;
        }
        rill__free(d->frame);
        d->frame = f;
        d->frame_cap = need;
    }
    size_t len = 0;
    if (rill__native_encode(&h, buf->values, buf->rel, d->frame, d->frame_cap,
                            &len) != 0)
        return;
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, v->subject, NULL, (const char *)d->frame,
                       (int)len) != NATS_OK) {
        rill__log_error("bridge: out of memory; a buffer of %s is lost",
                        buf->name);
        return;
    }
    /* The headers without printf or allocation of our own: this runs for
     * every buffer of every variable. */
    char clock[160], meta[RILL__NATS_META_MAX];
    pthread_mutex_lock(&d->mx);
    memcpy(clock, d->clock, sizeof clock);
    pthread_mutex_unlock(&d->mx);
    rill__nats_meta_write(meta, d->run, rill_type_letter(buf->type),
                          buf->mode == RILL_TS_SPARSE, d->rate_text, clock);
    if (b->cfg.dedupe) {
        char id[sizeof v->id + 24];
        memcpy(id, v->id, v->id_len);
        write_u64(id + v->id_len, h.seq);
        natsMsgHeader_Set(m, RILL__H_MSGID, id);
    }
    natsMsgHeader_Set(m, RILL__H_META, meta);
    atomic_fetch_add(&b->published, 1);
    atomic_fetch_add(&b->bytes, len);
    publish(b, m, &b->closing);
}

/* ---- The clock exchange ----------------------------------------------------
 */

/* The device's control messages (its I/O thread): time replies for the
 * prober; list replies for the announcement. */
static void on_text(rill_client *cl, const char *text, size_t len, void *user) {
    (void)cl;
    bdev *d = user;
    int64_t t3 = (int64_t)rill_clock_now_ns();
    if (memmem(text, len, "\"rill\":\"time\"", 13) == NULL &&
        memmem(text, len, "\"sampleRate\"", 12) == NULL)
        return;
    json_error_t e;
    json_t *root = json_loadb(text, len, 0, &e);
    if (root == NULL) /* 2^64 - 1 in a notice: jansson reads it as a real */
        root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &e);
    json_t *r = json_object_get(root, "rill");
    pthread_mutex_lock(&d->mx);
    rill__time_msg tm;
    if (json_is_string(r) && strcmp(json_string_value(r), "time") == 0) {
        if (rill__time_reply_read(root, &tm) == 0 && tm.has_id &&
            tm.id == d->want_id) {
            d->t[0] = tm.t0;
            d->t[1] = (int64_t)tm.t1;
            d->t[2] = (int64_t)tm.t2;
            d->t[3] = t3;
            d->pstamp = tm.has_pair;
            d->ptick = tm.tick;
            d->ptick_ns = (int64_t)tm.tick_ns;
            d->got = true;
            pthread_cond_broadcast(&d->cv);
        }
    } else if (json_is_object(json_object_get(root, "watcher")) &&
               d->list_json == NULL) {
        char *w = json_dumps(json_object_get(root, "watcher"), JSON_COMPACT);
        if (w != NULL) {
            d->list_json = rill__strdup(w);
            free(w);
        }
    }
    pthread_mutex_unlock(&d->mx);
    json_decref(root);
}

static int dev_connect(bdev *d, const char *const *names, size_t n);
static void dev_disconnect(bdev *d);

/* The device is gone: connect again every second (a new run: consumers
 * see the run change and report the ticks between as missing) until it
 * answers or the bridge closes. The prober's thread. */
static void reconnect(bdev *d) {
    rill_bridge *b = d->b;
    uint64_t from = d->next_tick;
    dev_disconnect(d); /* its I/O thread has ended: d is this thread's */
    rill__log_warn("bridge: lost %s (%s) after tick %" PRIu64
                   "; connecting again "
                   "every second",
                   d->name, d->url, from);
    int rc = -1;
    while (rc != 0 && !atomic_load(&b->closing)) {
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 1000000000u);
        if (!atomic_load(&b->closing))
            rc = dev_connect(d, (const char *const *)d->bridged, d->n_bridged);
    }
    if (rc == 0)
        rill__log_warn(
            "bridge: %s is back (run %s); nothing was published from tick "
            "%" PRIu64 " to its first tick now (consumers report the gap)",
            d->name, d->run, from);
}

static void *probe_main(void *arg) {
    bdev *d = arg;
    rill_bridge *b = d->b;
    int64_t next_id = 1;
    while (!atomic_load(&b->closing)) {
        if (atomic_load(&d->lost)) {
            reconnect(d);
            continue;
        }
        uint64_t burst_start = rill_clock_now_ns();
        for (int k = 0; k < RILL__PROBES_PER_BURST && !atomic_load(&b->closing);
             k++) {
            int64_t id = next_id++;
            pthread_mutex_lock(&d->mx);
            d->want_id = id;
            d->got = false;
            pthread_mutex_unlock(&d->mx);
            char msg[128];
            size_t n = rill__time_request_write(
                id, (int64_t)rill_clock_now_ns(), msg, sizeof msg);
            if (rill_client_send_message(d->probe_cl, false, msg, n, NULL, 0) !=
                0)
                break;
            uint64_t until = rill_clock_now_ns() + 200000000;
            pthread_mutex_lock(&d->mx);
            while (!d->got && rill_clock_now_ns() < until &&
                   !atomic_load(&b->closing))
                rill__cond_wait_ns(&d->cv, &d->mx, 20000000);
            if (d->got && d->pstamp)
                rill__timefit_probe(&d->fit, d->ptick, d->ptick_ns, d->t[0],
                                    d->t[1], d->t[2], d->t[3]);
            pthread_mutex_unlock(&d->mx);
        }
        pthread_mutex_lock(&d->mx);
        if (rill__timefit_burst_end(&d->fit)) {
            /* Published on the realtime clock, the one hosts share. */
            d->map = d->fit.map;
            d->map.ns0 += rill__realtime_minus_monotonic();
            rill__clock_format(&d->map, d->clock, sizeof d->clock);
        }
        pthread_mutex_unlock(&d->mx);
        rill_clock_sleep_until_ns(burst_start +
                                  (uint64_t)b->cfg.probe_ms * 1000000u);
    }
    return NULL;
}

/* ---- Devices
 * ----------------------------------------------------------------- */

/* The current connection's client and what came with it. */
static void dev_disconnect(bdev *d) {
    rill_client_destroy(d->cl); /* joins its I/O thread */
    d->cl = NULL;
    rill_client_destroy(d->probe_cl);
    d->probe_cl = NULL;
    rill_client_list_free(d->list);
    d->list = NULL;
    rill__free(d->vars);
    d->vars = NULL;
    pthread_mutex_lock(&d->mx);
    rill__free(d->list_json);
    d->list_json = NULL;
    pthread_mutex_unlock(&d->mx);
}

static void dev_free(bdev *d) {
    if (d == NULL)
        return;
    if (d->prober_started) /* rill_bridge_destroy has set closing */
        pthread_join(d->prober, NULL);
    dev_disconnect(d);
    rill__free(d->frame);
    rill__free(d->token);
    for (size_t i = 0; i < d->n_bridged; i++)
        rill__free(d->bridged[i]);
    rill__free(d->bridged);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mx);
    rill__free(d);
}

/* The announcement: what a consumer needs to read the device without
 * connecting to it (docs/SCALE.md "Announcements"). */
static int announce(rill_bridge *b, bdev *d) {
    json_error_t e;
    pthread_mutex_lock(&d->mx);
    json_t *list = d->list_json ? json_loads(d->list_json, 0, &e) : NULL;
    pthread_mutex_unlock(&d->mx);
    json_t *names = json_array();
    for (size_t i = 0; i < d->n_bridged; i++)
        json_array_append_new(names, json_string(d->bridged[i]));
    /* How long after a later message was stored a retry may still be:
     * the give-up, plus an ack's wait before the first failure is known,
     * plus a second for the stored times of different leaders' clocks. */
    double horizon_ms = b->cfg.give_up_s * 1000 + b->cfg.timeout_ms + 1000;
    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:o,s:o}", "device",
                          d->name, "source", d->url, "stream", b->stream,
                          "prefix", b->prefix, "run", d->run, "sampleRate",
                          d->rate, "retryHorizonMs", horizon_ms, "bridged",
                          names, "list", list ? list : json_object());
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (text == NULL)
        return RILL_ENOMEM;
    uint64_t rev = 0;
    natsStatus s = kvStore_PutString(&rev, b->kv, d->name, text);
    free(text);
    if (s != NATS_OK) {
        char what[160];
        snprintf(what, sizeof what, "bridge: cannot announce %s in bucket %s",
                 d->name, b->bucket);
        return rill__nats_error(s, 0, what);
    }
    return 0;
}

static void on_client_error(rill_client *cl, int err, const char *msg,
                            void *user) {
    (void)cl;
    (void)msg; /* the client has logged it */
    if (err == RILL_ECLOSED)
        atomic_store(&((bdev *)user)->lost, true); /* the prober reconnects */
}

/* Connect to the device (a new run), find the `n` variables `names`, announce
 * and start publishing them. On failure nothing of the connection is
 * left. The caller is the only thread that touches d's connection. */
static int dev_connect(bdev *d, const char *const *names, size_t n) {
    rill_bridge *b = d->b;
    uint64_t r = rill_clock_now_ns() ^
                 ((uint64_t)rill__realtime_minus_monotonic() << 17) ^
                 (uint64_t)(uintptr_t)d;
    snprintf(d->run, sizeof d->run, "%016" PRIx64,
             (uint64_t)(r * 0x9e3779b97f4a7c15ULL));
    d->next_tick = 0;
    atomic_store(&d->lost, false);
    rill_client_config cc = rill_client_config_default();
    cc.url = d->url;
    cc.token = d->token;
    cc.mode = RILL_CLIENT_NATIVE;
    cc.timeout_ms = b->cfg.timeout_ms;
    cc.on_buffer = on_buffer;
    cc.on_text = on_text;
    cc.on_error = on_client_error;
    cc.user = d;
    int rc = rill_client_connect(&cc, &d->cl);
    /* The exchange's own connection: on the data's, a time reply would
     * queue behind the stream (the device -> host direction only), and
     * that asymmetry is the offset's error. */
    cc.on_buffer = NULL;
    if (rc == 0)
        rc = rill_client_connect(&cc, &d->probe_cl);
    if (rc == 0)
        rc = rill_client_list_vars(d->cl, &d->list);
    size_t nv = rc == 0 ? d->list->n_vars : 0;
    if (rc == 0 &&
        (d->vars = rill__calloc(nv ? nv : 1, sizeof *d->vars)) == NULL)
        rc = RILL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t k = 0;
        while (k < nv && strcmp(d->list->vars[k].name, names[i]) != 0)
            k++;
        if (k == nv) {
            rill__log_error("bridge: %s has no variable \"%s\"", d->name,
                            names[i]);
            rc = RILL_ENOTFOUND;
            break;
        }
        bvar *v = &d->vars[k];
        v->bridged = true;
        rc = rill__nats_subject(b->prefix, d->name, names[i], v->subject,
                                sizeof v->subject);
        if (rc == 0) {
            snprintf(v->token, sizeof v->token, "%s",
                     v->subject + strlen(b->prefix) + strlen(d->name) + 2);
            int w = snprintf(v->id, sizeof v->id, "%s.%s.%s.", d->name,
                             v->token, d->run);
            v->id_len = w > 0 && (size_t)w < sizeof v->id ? (size_t)w : 0;
        }
    }
    if (rc == 0) {
        d->rate = d->list->sample_rate > 0 ? d->list->sample_rate : 1000;
        snprintf(d->rate_text, sizeof d->rate_text, "%.17g", d->rate);
        pthread_mutex_lock(&d->mx);
        /* A device that came back may be another boot: a new line. */
        rill__timefit_init(&d->fit, d->rate);
        d->map = d->fit.map;
        rill__clock_format(&d->map, d->clock, sizeof d->clock);
        pthread_mutex_unlock(&d->mx);
        rc = announce(b, d);
    }
    if (rc == 0) {
        rill_client_stream_opts so = {
            0, 0, d->length != 0 ? d->length : RILL_CLIENT_LENGTH_LIVE, 0};
        rc = rill_client_stream_start(d->cl, names, n, &so);
    }
    if (rc != 0)
        dev_disconnect(d);
    return rc;
}

int rill_bridge_add(rill_bridge *b, const rill_bridge_device *dev) {
    if (b == NULL || dev == NULL || dev->url == NULL ||
        (dev->n_vars && !dev->vars))
        return RILL_EINVAL;
    if (!rill__nats_name_ok(dev->name)) {
        rill__log_error("bridge: device name \"%s\" is not one subject token "
                        "(1-64 of letters, digits, _ and -)",
                        dev->name ? dev->name : "");
        return RILL_EINVAL;
    }
    for (size_t i = 0; i < b->n_devs; i++)
        if (strcmp(b->devs[i]->name, dev->name) == 0) {
            rill__log_error("bridge: %s is bridged already", dev->name);
            return RILL_EEXISTS;
        }
    if (b->n_devs == RILL__BRIDGE_MAX_DEVICES)
        return RILL_EFULL;
    bdev *d = rill__calloc(1, sizeof *d);
    if (d == NULL)
        return RILL_ENOMEM;
    d->b = b;
    d->length = dev->length;
    pthread_mutex_init(&d->mx, NULL);
    pthread_cond_init(&d->cv, NULL);
    snprintf(d->name, sizeof d->name, "%s", dev->name);
    snprintf(d->url, sizeof d->url, "%s", dev->url);
    int rc = 0;
    if (dev->token != NULL && (d->token = rill__strdup(dev->token)) == NULL)
        rc = RILL_ENOMEM;
    /* The names bridged, for every connection: those asked, or all the
     * device has now (a first connection tells). */
    rill_client_list *first = NULL;
    if (rc == 0 && dev->vars == NULL) {
        rill_client_config cc = rill_client_config_default();
        cc.url = d->url;
        cc.token = d->token;
        cc.mode = RILL_CLIENT_NATIVE;
        cc.timeout_ms = b->cfg.timeout_ms;
        rill_client *cl = NULL;
        rc = rill_client_connect(&cc, &cl);
        if (rc == 0)
            rc = rill_client_list_vars(cl, &first);
        rill_client_destroy(cl);
    }
    size_t want = rc != 0 ? 0 : dev->vars ? dev->n_vars : first->n_vars;
    if (rc == 0 && (d->bridged = rill__calloc(want ? want : 1,
                                              sizeof *d->bridged)) == NULL)
        rc = RILL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < want; i++) {
        const char *name = dev->vars ? dev->vars[i] : first->vars[i].name;
        bool dup = false;
        for (size_t k = 0; k < d->n_bridged; k++)
            dup |= strcmp(d->bridged[k], name) == 0;
        if (dup)
            continue;
        if ((d->bridged[d->n_bridged] = rill__strdup(name)) == NULL)
            rc = RILL_ENOMEM;
        else
            d->n_bridged++;
    }
    rill_client_list_free(first);
    if (rc == 0)
        rc = dev_connect(d, (const char *const *)d->bridged, d->n_bridged);
    if (rc == 0 && pthread_create(&d->prober, NULL, probe_main, d) != 0)
        rc = RILL_ESYS;
    if (rc != 0) {
        dev_free(d);
        return rc;
    }
    d->prober_started = true;
    b->devs[b->n_devs++] = d;
    rill__log_info("bridge: %s (%s) -> %s.%s.*, stream %s", d->name, d->url,
                   b->prefix, d->name, b->stream);
    return 0;
}

/* ---- The bridge
 * -------------------------------------------------------------- */

static int setup_stream(rill_bridge *b) {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    char subject[160];
    snprintf(subject, sizeof subject, "%s.>", b->prefix);
    const char *subjects[1] = {subject};
    sc.Name = b->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = b->cfg.replicas;
    sc.MaxAge = (int64_t)(b->cfg.max_age_s * 1e9);
    sc.MaxBytes = b->cfg.max_bytes;
    /* The duplicate window: four ack waits (20 s by default) cover the
     * resend after a reconnection (seconds) and the first retries after
     * ack timeouts. JetStream keeps every id of the window in memory and
     * checks each message against them: 120 s of a flood's ids (millions)
     * slowed the engine as they accumulated (bench_nats R1 flood: 0.77x
     * falling from run to run; 0.81x steady with 10 s). A later copy of a
     * stored message is stored twice; consumers skip it by its sequence,
     * as any message already delivered. */
    sc.Duplicates = (int64_t)b->cfg.timeout_ms * 4 * 1000000;
    if (sc.MaxAge > 0 && sc.Duplicates > sc.MaxAge)
        sc.Duplicates = sc.MaxAge;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        jerr = 0;
        s = js_UpdateStream(&si, b->js, &sc, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        char what[640];
        snprintf(
            what, sizeof what,
            "bridge: cannot create JetStream stream %s "
            "(subjects %s, replicas %d; a cluster needs at least that many "
            "servers with JetStream)",
            b->stream, subject, b->cfg.replicas);
        return rill__nats_error(s, jerr, what);
    }
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = b->bucket;
    kc.Replicas = b->cfg.replicas;
    kc.History = 1;
    s = js_CreateKeyValue(&b->kv, b->js, &kc);
    if (s != NATS_OK) {
        s = js_KeyValue(&b->kv, b->js, b->bucket);
    }
    if (s != NATS_OK) {
        char what[200];
        snprintf(what, sizeof what, "bridge: cannot create the KV bucket %s",
                 b->bucket);
        return rill__nats_error(s, 0, what);
    }
    return 0;
}

int rill_bridge_create(const rill_bridge_config *cfg, rill_bridge **out) {
    if (cfg == NULL || out == NULL || cfg->nats_url == NULL ||
        cfg->replicas < 1 || cfg->replicas > 5 || cfg->timeout_ms <= 0 ||
        cfg->probe_ms <= 0 || cfg->max_pending <= 0 ||
        !rill__nats_name_ok(cfg->stream) ||
        !rill__nats_name_ok(cfg->subject_prefix) ||
        !rill__nats_name_ok(cfg->kv_bucket))
        return RILL_EINVAL;
    *out = NULL;
    rill_bridge *b = rill__calloc(1, sizeof *b);
    if (b == NULL)
        return RILL_ENOMEM;
    b->cfg = *cfg;
    pthread_mutex_init(&b->rmx, NULL);
    pthread_cond_init(&b->rcv, NULL);
    b->url = rill__strdup(cfg->nats_url);
    b->stream = rill__strdup(cfg->stream);
    b->prefix = rill__strdup(cfg->subject_prefix);
    b->bucket = rill__strdup(cfg->kv_bucket);
    int rc = b->url && b->stream && b->prefix && b->bucket ? 0 : RILL_ENOMEM;
    if (rc == 0)
        rc = rill__nats_connect(b->url, cfg->timeout_ms, "rill bridge",
                                on_reconnected, b, &b->nc);
    if (rc == 0) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = cfg->timeout_ms;
        jo.PublishAsync.MaxPending = cfg->max_pending;
        jo.PublishAsync.AckHandler = on_ack;
        jo.PublishAsync.AckHandlerClosure = b;
        jo.PublishAsync.StallWait = cfg->timeout_ms;
        natsStatus s = natsConnection_JetStream(&b->js, b->nc, &jo);
        if (s != NATS_OK)
            rc = rill__nats_error(s, 0, "bridge: no JetStream context");
    }
    if (rc == 0)
        rc = setup_stream(b);
    if (rc == 0 && pthread_create(&b->retrier, NULL, retry_main, b) != 0)
        rc = RILL_ESYS;
    if (rc != 0) {
        rill_bridge_destroy(b);
        return rc;
    }
    b->retrier_started = true;
    *out = b;
    return 0;
}

void rill_bridge_get_stats(rill_bridge *b, rill_bridge_stats *out) {
    memset(out, 0, sizeof *out);
    out->published = atomic_load(&b->published);
    out->acked = atomic_load(&b->acked);
    out->retried = atomic_load(&b->retried);
    out->lost = atomic_load(&b->lost);
    out->device_drops = atomic_load(&b->device_drops);
    out->bytes = atomic_load(&b->bytes);
    uint64_t done = out->acked + out->lost + atomic_load(&b->markers_dropped);
    out->pending = out->published > done ? out->published - done : 0;
    out->connected = b->nc != NULL &&
                     natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

int rill_bridge_clock(rill_bridge *b, const char *device, rill_clock_map *out) {
    for (size_t i = 0; i < b->n_devs; i++) {
        bdev *d = b->devs[i];
        if (strcmp(d->name, device) != 0)
            continue;
        pthread_mutex_lock(&d->mx);
        *out = d->map;
        pthread_mutex_unlock(&d->mx);
        return 0;
    }
    return RILL_ENOTFOUND;
}

int rill_bridge_flush(rill_bridge *b, int timeout_ms) {
    uint64_t until = rill_clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        rill_bridge_stats st;
        rill_bridge_get_stats(b, &st);
        if (st.pending == 0)
            return 0;
        if (rill_clock_now_ns() >= until)
            return RILL_ETIMEOUT;
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 5000000);
    }
}

void rill_bridge_destroy(rill_bridge *b) {
    if (b == NULL)
        return;
    /* Devices first: no reconnection, then nothing new is published. */
    atomic_store(&b->closing, true);
    for (size_t i = 0; i < b->n_devs; i++) {
        bdev *d = b->devs[i];
        if (d->prober_started)
            pthread_join(d->prober, NULL);
        d->prober_started = false;
        if (d->cl != NULL)
            rill_client_stream_stop(d->cl, NULL, 0);
    }
    if (b->js != NULL && b->retrier_started)
        rill_bridge_flush(b, b->cfg.timeout_ms);
    atomic_store(&b->stop, true);
    for (size_t i = 0; i < b->n_devs; i++)
        dev_free(b->devs[i]);
    if (b->retrier_started) {
        pthread_mutex_lock(&b->rmx);
        pthread_cond_broadcast(&b->rcv);
        pthread_mutex_unlock(&b->rmx);
        pthread_join(b->retrier, NULL);
    }
    for (size_t i = 0; i < b->n_retry; i++)
        natsMsg_Destroy(b->retry[i]);
    rill__free(b->retry);
    kvStore_Destroy(b->kv);
    jsCtx_Destroy(b->js);
    if (b->nc != NULL) {
        natsConnection_Close(b->nc);
        natsConnection_Destroy(b->nc);
    }
    rill__free(b->url);
    rill__free(b->stream);
    rill__free(b->prefix);
    rill__free(b->bucket);
    pthread_cond_destroy(&b->rcv);
    pthread_mutex_destroy(&b->rmx);
    rill__free(b);
}
