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
 * Its own thread reads JetStream and is the client's I/O thread; what it
 * reads goes through continuity.c (order, waiting, gaps) before it is fed.
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
#include "nats/consumer.h"
#include "proto/native.h"
#include "rill/nats.h"

/* The ordered consumer's idle heartbeat (see subscribe). */
#define RILL__NATS_HEARTBEAT_NS 1000000000
/* How long one JetStream API request waits for its answer (ask_again). */
#define RILL__NATS_TRY_MS 2000

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

/* ---- Replies to the client (queued; fed on the consumer thread) -----------
 */

static void push_reply(rill__ncons *c, rill__nreply *r) {
    pthread_mutex_lock(&c->mx);
    if (c->nq == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        rill__nreply **n = rill__malloc(cap * sizeof *n);
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

static void queue_reply(rill__ncons *c, bool binary, const void *data,
                        size_t len) {
    rill__nreply *r = rill__malloc(sizeof *r + len);
    if (r == NULL)
        return;
    r->binary = binary;
    r->list = false;
    r->list_id = NULL;
    r->len = len;
    memcpy(r->data, data, len);
    push_reply(c, r);
}

static void queue_json(rill__ncons *c, json_t *j) {
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text != NULL)
        queue_reply(c, false, text, strlen(text));
    free(text);
}

static json_t *list_reply(rill__ncons *c, json_t *id);

/* A list's timestamp is the device's latest tick, from which the client
 * computes "now" for starts, schedules and exactly-N. A live consumer
 * knows it from its first message only: until that came (at most half the
 * client's timeout: a silent device), list replies wait, and what was
 * asked after them too, in order. mx held. */
static bool list_ready(rill__ncons *c) {
    return c->cfg.start != RILL_NATS_LIVE || atomic_load(&c->last_tick) != 0 ||
           rill_clock_now_ns() - c->connected_ns > c->list_hold_ns;
}

static void feed_replies(rill__ncons *c) {
    for (;;) {
        pthread_mutex_lock(&c->mx);
        if (c->nq == 0 || (c->q[0]->list && !list_ready(c))) {
            pthread_mutex_unlock(&c->mx);
            return;
        }
        rill__nreply *r = c->q[0];
        memmove(c->q, c->q + 1, --c->nq * sizeof *c->q);
        rill_client *cl = c->cl;
        pthread_mutex_unlock(&c->mx);
        if (r->list) {
            json_t *j = list_reply(c, r->list_id);
            char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (text != NULL)
                rill__client_feed(cl, (const uint8_t *)text, strlen(text),
                                  false);
            free(text);
            json_decref(r->list_id);
        } else {
            rill__client_feed(cl, r->data, r->len, r->binary);
        }
        rill__free(r);
    }
}

/* A list reply, built when it is fed. */
static void queue_list(rill__ncons *c, json_t *id) {
    rill__nreply *r = rill__malloc(sizeof *r);
    if (r == NULL)
        return;
    r->binary = false;
    r->list = true;
    r->list_id = json_incref(id);
    r->len = 0;
    push_reply(c, r);
}

/* ---- Requests (the client's request threads) -------------------------------
 */

static json_t *list_reply(rill__ncons *c, json_t *id) {
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
    json_t *watcher =
        json_pack("{s:f,s:I,s:o}", "sampleRate", c->rate, "timestamp",
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

static rill__ncvar *find_var(rill__ncons *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->vars[i].name, name) == 0)
            return &c->vars[i];
    return NULL;
}

static void refuse(rill__ncons *c, const char *cmd, json_t *id) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "%s: not available through NATS: this is the bridged "
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

static void command(rill__ncons *c, json_t *cmd, json_t *msg_id) {
    const char *name = json_string_value(json_object_get(cmd, "cmd"));
    json_t *id =
        json_object_get(cmd, "id") ? json_object_get(cmd, "id") : msg_id;
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
            rill__ncvar *v =
                json_is_string(n) ? find_var(c, json_string_value(n)) : NULL;
            bool was = v != NULL && v->watched;
            if (v != NULL) {
                v->watched = on;
                if (on) {
                    v->start = entry_u64(ts, i);
                    v->duration = entry_u64(du, i);
                    v->end = v->start != 0 && v->duration != 0
                                 ? v->start + v->duration
                                 : 0;
                    c->started = true;
                }
            }
            pthread_mutex_unlock(&c->mx);
            if (v != NULL && !on && was) {
                /* The stream ends as a device's does: an end message. */
                rill__native_header h = {0};
                h.kind = RILL__NATIVE_END;
                h.type = RILL_TYPE_FLOAT;
                const char *t =
                    json_string_value(json_object_get(v->entry, "type"));
                if (t != NULL)
                    rill_type_from_letter(t[0], &h.type);
                h.var_id = (uint32_t)(v - c->vars);
                h.first_ts = atomic_load(&c->last_tick);
                uint8_t end[RILL__NATIVE_HEADER_BYTES];
                size_t len = 0;
                if (rill__native_encode(&h, NULL, NULL, end, sizeof end,
                                        &len) == 0)
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
    rill__ncons *c = user;
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
        queue_json(c, json_pack("{s:s,s:i,s:i,s:f}", "rill", "hello", "version",
                                2, "maxValues", 65536, "sampleRate", c->rate));
    } else if (json_is_string(r)) {
        refuse(c, json_string_value(r), json_object_get(root, "id"));
    } else if (json_is_array(w)) {
        size_t i;
        json_t *cmd;
        json_array_foreach(w, i, cmd)
            command(c, cmd, json_object_get(root, "id"));
    }
    json_decref(root);
    return 0;
}

static void *consume_main(void *arg) {
    rill__ncons *c = arg;
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
            rill__ncons_message(c, m);
        } else if (s != NATS_TIMEOUT) {
            nats_GetLastError(NULL); /* slow consumer and the like: go on */
        }
        rill__ncons_expire_holes(c);
    }
    return NULL;
}

/* ---- Connecting -------------------------------------------------------------
 */

static void x_detach(void *user) {
    rill__ncons *c = user;
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

/* JetStream answers nothing while a stream (or the KV bucket's, or the
 * meta group) elects a leader after a node died: a request sent then times
 * out, and one sent again later is answered. So a request that timed out
 * (or found no responder) during rill_nats_connect is asked again, each
 * try waiting RILL__NATS_TRY_MS, until the connect's own timeout; any other
 * answer ("no such stream") is final. Without it a consumer started during
 * an election said "no JetStream stream" of a stream that was there. */
static bool ask_again(const rill__ncons *c, natsStatus s) {
    if ((s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS) ||
        rill_clock_now_ns() >= c->setup_end_ns)
        return false;
    rill__sleep_ns(100000000);
    return true;
}

/* The device's announcement, or a sentence naming those there are. */
static int read_announcement(rill__ncons *c) {
    kvStore *kv = NULL;
    natsStatus s;
    do
        s = js_KeyValue(&kv, c->js, c->bucket);
    while (ask_again(c, s));
    if (s != NATS_OK) {
        rill__log_error(
            "no bridged devices at %s: the KV bucket %s does not exist "
            "(start rill bridge first; docs/SCALE.md)",
            c->url, c->bucket);
        nats_GetLastError(NULL);
        return RILL_ENOTFOUND;
    }
    kvEntry *e = NULL;
    do
        s = kvStore_Get(&e, kv, c->device);
    while (ask_again(c, s));
    int rc = 0;
    if (s != NATS_OK) {
        kvKeysList keys = {0};
        char known[512] = "";
        if (kvStore_Keys(&keys, kv, NULL) == NATS_OK)
            for (int i = 0; i < keys.Count; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known),
                         "%s%s", i ? ", " : "", keys.Keys[i]);
        kvKeysList_Destroy(&keys);
        rill__log_error(
            "no device \"%s\" is announced in bucket %s at %s (subjects "
            "%s.%s.*); announced: %s",
            c->device, c->bucket, c->url, c->prefix, c->device,
            known[0] ? known : "none");
        rc = RILL_ENOTFOUND;
    } else {
        json_error_t je;
        c->ann = json_loads(kvEntry_ValueString(e), 0, &je);
        if (!json_is_object(c->ann) ||
            !json_is_array(json_object_get(c->ann, "bridged"))) {
            rill__log_error(
                "the announcement of %s in %s is not a rill bridge's",
                c->device, c->bucket);
            rc = RILL_EPROTO;
        }
    }
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    if (rc != 0)
        return rc;
    json_t *stream = json_object_get(c->ann, "stream");
    if (json_is_string(stream) &&
        strcmp(json_string_value(stream), c->stream) != 0) {
        rill__free(c->stream);
        c->stream = rill__strdup(json_string_value(stream));
    }
    json_t *run = json_object_get(c->ann, "run");
    if (json_is_string(run))
        snprintf(c->ann_run, sizeof c->ann_run, "%s", json_string_value(run));
    json_t *horizon = json_object_get(c->ann, "retryHorizonMs");
    c->horizon_ns =
        (uint64_t)(json_is_number(horizon) && json_number_value(horizon) > 0
                       ? json_number_value(horizon)
                       : RILL__HORIZON_DEFAULT_MS) *
        1000000u;
    c->rate = json_number_value(json_object_get(c->ann, "sampleRate"));
    if (!(c->rate > 0))
        c->rate = 1000;
    json_t *bridged = json_object_get(c->ann, "bridged");
    json_t *entries =
        json_object_get(json_object_get(c->ann, "list"), "watchers");
    size_t n = json_array_size(bridged);
    c->vars = rill__calloc(n ? n : 1, sizeof *c->vars);
    if (c->vars == NULL || c->stream == NULL)
        return RILL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(bridged, i));
        if (name == NULL)
            continue;
        rill__ncvar *v = &c->vars[c->n];
        snprintf(v->name, sizeof v->name, "%s", name);
        char subject[400];
        if (rill__nats_subject(c->prefix, c->device, name, subject,
                               sizeof subject) != 0)
            continue;
        snprintf(v->token, sizeof v->token, "%s",
                 subject + strlen(c->prefix) + strlen(c->device) + 2);
        size_t k;
        json_t *en;
        json_array_foreach(entries, k, en) {
            if (json_is_string(json_object_get(en, "name")) &&
                strcmp(json_string_value(json_object_get(en, "name")), name) ==
                    0)
                v->entry = json_deep_copy(en);
        }
        if (v->entry == NULL)
            v->entry = json_pack("{s:s,s:s,s:i}", "name", name, "type", "f",
                                 "timestampMode", 0);
        c->n++;
    }
    return 0;
}

static int subscribe(rill__ncons *c) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    do {
        jsStreamInfo_Destroy(si);
        si = NULL;
        s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr);
    } while (ask_again(c, s));
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        char what[400];
        snprintf(what, sizeof what,
                 "no JetStream stream %s at %s (start rill bridge "
                 "first, or name the stream the bridge uses)",
                 c->stream, c->url);
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
    case RILL_NATS_LIVE:
        so.Config.DeliverPolicy = js_DeliverLastPerSubject;
        break;
    case RILL_NATS_ALL:
        so.Config.DeliverPolicy = js_DeliverAll;
        break;
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
    do
        s = js_SubscribeSync(&c->sub, c->js, filter, NULL, &so, &jerr);
    while (ask_again(c, s));
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(c->sub, 1 << 20, 1 << 30);
    if (s != NATS_OK) {
        char what[400];
        snprintf(what, sizeof what, "cannot read %s from stream %s at %s",
                 filter, c->stream, c->url);
        return rill__nats_error(s, jerr, what);
    }
    return 0;
}

int rill_nats_connect(const rill_client_config *cfg,
                      const rill_nats_config *ncfg, rill_client **out) {
    if (cfg == NULL || ncfg == NULL || out == NULL || ncfg->nats_url == NULL ||
        ncfg->device == NULL || ncfg->stream == NULL ||
        ncfg->subject_prefix == NULL || ncfg->kv_bucket == NULL)
        return RILL_EINVAL;
    *out = NULL;
    if (!rill__nats_name_ok(ncfg->device)) {
        rill__log_error(
            "\"%s\" is not a bridged device's name (one subject token: "
            "letters, digits, _ and -)",
            ncfg->device);
        return RILL_EINVAL;
    }
    rill__ncons *c = rill__calloc(1, sizeof *c);
    if (c == NULL)
        return RILL_ENOMEM;
    pthread_mutex_init(&c->mx, NULL);
    c->cfg = *ncfg;
    c->connected_ns = rill_clock_now_ns();
    c->list_hold_ns = (uint64_t)cfg->timeout_ms * 500000u; /* half of it */
    c->setup_end_ns = c->connected_ns + (uint64_t)cfg->timeout_ms * 1000000u;
    c->url = rill__strdup(ncfg->nats_url);
    c->device = rill__strdup(ncfg->device);
    c->stream = rill__strdup(ncfg->stream);
    c->prefix = rill__strdup(ncfg->subject_prefix);
    c->bucket = rill__strdup(ncfg->kv_bucket);
    int rc = c->url && c->device && c->stream && c->prefix && c->bucket
                 ? 0
                 : RILL_ENOMEM;
    if (rc == 0)
        rc = rill__nats_connect(c->url, cfg->timeout_ms, "rill consumer", NULL,
                                NULL, &c->nc);
    if (rc == 0) {
        jsOptions jo;
        jsOptions_Init(&jo);
        /* Each request's wait; setup asks again until the timeout. */
        jo.Wait = RILL__MIN(cfg->timeout_ms, RILL__NATS_TRY_MS);
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
    rill__ncons *c = cl ? rill__client_xport_user(cl) : NULL;
    if (c == NULL || out == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&c->mx);
    bool have = c->have_clock;
    *out = c->clock;
    pthread_mutex_unlock(&c->mx);
    return have ? 0 : RILL_ENOTFOUND;
}

int rill_nats_client_stats(const rill_client *cl, rill_nats_stats *out) {
    rill__ncons *c = cl ? rill__client_xport_user(cl) : NULL;
    if (c == NULL || out == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&c->mx);
    *out = c->stats;
    pthread_mutex_unlock(&c->mx);
    return 0;
}
