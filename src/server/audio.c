/* The device's audio description (rill_server_set_audio) and clients'
 * requests to change it (docs/PROTOCOL.md §8). The description is set by
 * user threads and read by the network thread under audio_lock; requests
 * are checked here on the network thread against what it offers, then run
 * by the program on the device-request thread (devreq.c). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/audio.h"
#include "proto/json_out.h"
#include "server/internal.h"

double rill__server_rate(rill_server *srv) {
    pthread_mutex_lock(&srv->audio_lock);
    double r = srv->sample_rate;
    pthread_mutex_unlock(&srv->audio_lock);
    return r;
}

/* A copy of the description's JSON (rill__free it), or NULL: none (or
 * out of memory). Any thread. */
char *rill__audio_description(rill_server *srv) {
    pthread_mutex_lock(&srv->audio_lock);
    char *copy = srv->audio_json ? rill__strdup(srv->audio_json) : NULL;
    pthread_mutex_unlock(&srv->audio_lock);
    return copy;
}

/* {"audio":A,"event":E[,"id":I][,"sampleRate":S]} with the current
 * description (null: none): the audio event every native socket gets, and
 * the answer to an audio-config request. audio_lock held. NULL if out of
 * memory. */
static char *audio_msg_locked(const rill_server *srv, const char *event,
                              const rill__cmd_id *id, bool with_rate,
                              size_t *len) {
    rill__jv m[] = {
        RILL__JV_RAWJ("audio", srv->audio_json),
        RILL__JV_S("event", event),
        rill__cmd_id_member(id),
        with_rate ? (rill__jv)RILL__JV_D("sampleRate", srv->sample_rate)
                  : (rill__jv)RILL__JV_NONE,
    };
    char *text = NULL;
    return rill__json_object(m, RILL__JV_COUNT(m), &text, len) == 0 ? text
                                                                    : NULL;
}

/* Tell every native client about a new audio description. */
void rill__audio_announce(rill_server *srv) {
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
            rill__conn_send_text(c, text, n);
    rill__free(text);
}

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
 * out at a later drain (rill__audio_answer). */
void rill__audio_change_request(rill_server *srv, rill__conn *c, json_t *root) {
    static const char *const keys[] = {"rill",     "id",           "rate",
                                       "channels", "bufferFrames", "volume"};
    if (!c->native) {
        rill__request_error(c, "audio-config", root,
                            "audio-config: send {\"rill\":\"hello\","
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
            rill__request_error(c, "audio-config", root,
                                "audio-config: unknown field \"%.64s\" (the "
                                "fields are rate, channels, bufferFrames and "
                                "volume); refused",
                                key);
            return;
        }
    }
    if (srv->devreq == NULL) {
        rill__request_error(c, "audio-config", root,
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
        rill__request_error(c, "audio-config", root,
                            "audio-config: rate and volume must be numbers, "
                            "channels and bufferFrames integers; refused");
        return;
    }
    rill_audio_change ch = rill_audio_change_none();
    char err[400] = "";
    pthread_mutex_lock(&srv->audio_lock);
    if (!srv->audio_declared) {
        snprintf(err, sizeof err,
                 "audio-config: this device has no audio "
                 "input to configure; refused");
    }
    if (err[0] == '\0' && jr != NULL &&
        json_number_value(jr) != srv->audio.rate) {
        double r = json_number_value(jr);
        bool offered = false;
        for (size_t i = 0; i < srv->audio.n_rates; i++)
            offered = offered || srv->audio.rates[i] == r;
        char list[300];
        format_rates(list, sizeof list, srv->audio.rates, srv->audio.n_rates);
        if (srv->audio.n_rates == 0)
            snprintf(err, sizeof err,
                     "audio-config: the rate is fixed at %g "
                     "Hz on this device; refused",
                     srv->audio.rate);
        else if (!offered)
            snprintf(err, sizeof err,
                     "audio-config: rate %g is not offered "
                     "by this device (it offers %s); refused",
                     r, list);
        else
            ch.rate = r;
    }
    if (err[0] == '\0' && jc != NULL &&
        json_integer_value(jc) != (json_int_t)srv->audio.channels) {
        json_int_t n = json_integer_value(jc);
        if (srv->audio.max_channels == 0)
            snprintf(err, sizeof err,
                     "audio-config: the channel count is "
                     "fixed at %zu on this device; refused",
                     srv->audio.channels);
        else if (n < (json_int_t)srv->audio.min_channels ||
                 n > (json_int_t)srv->audio.max_channels)
            snprintf(err, sizeof err,
                     "audio-config: channels %lld is not "
                     "offered by this device (%zu to %zu); "
                     "refused",
                     (long long)n, srv->audio.min_channels,
                     srv->audio.max_channels);
        else
            ch.channels = (size_t)n;
    }
    if (err[0] == '\0' && jb != NULL &&
        json_integer_value(jb) != (json_int_t)srv->audio.buffer_frames) {
        json_int_t n = json_integer_value(jb);
        if (!srv->audio.buffer_frames_settable)
            snprintf(err, sizeof err,
                     "audio-config: the buffer size is fixed "
                     "at %u frames on this device; refused",
                     srv->audio.buffer_frames);
        else if (n < 1 || n > 65536)
            snprintf(err, sizeof err,
                     "audio-config: bufferFrames %lld is out "
                     "of range (1 to 65536); refused",
                     (long long)n);
        else
            ch.buffer_frames = (uint32_t)n;
    }
    if (err[0] == '\0' && jv != NULL &&
        json_number_value(jv) != srv->audio.volume) {
        double v = json_number_value(jv);
        if (!srv->audio.volume_settable && srv->audio.volume >= 0)
            snprintf(err, sizeof err,
                     "audio-config: the volume is fixed at "
                     "%g on this device; refused",
                     srv->audio.volume);
        else if (!srv->audio.volume_settable)
            snprintf(err, sizeof err,
                     "audio-config: this device reports no "
                     "volume, so it cannot be changed; "
                     "refused");
        else if (!(v >= 0 && v <= 100))
            snprintf(err, sizeof err,
                     "audio-config: volume %g is out of range "
                     "(0 to 100); refused",
                     v);
        else
            ch.volume = v;
    }
    pthread_mutex_unlock(&srv->audio_lock);
    if (err[0] != '\0') {
        rill__request_error(c, "audio-config", root, "%s", err);
        return;
    }
    rill__cmd_id id = rill__request_id(root);
    int rc =
        rill__devreq_post(srv->devreq, c->id, (int)id.kind, id.i, id.s, &ch);
    if (rc == RILL_EBUSY)
        rill__request_error(c, "audio-config", root,
                            "audio-config: %d changes are waiting "
                            "already; try again once they are done",
                            RILL__DEVREQ_MAX);
    else if (rc != 0)
        rill__request_error(c, "audio-config", root,
                            "audio-config: out of memory; refused");
}

/* The program's answers, to the connections that asked (if still open).
 * After rill__audio_announce in the same drain, so the new description's event
 * reaches everyone before the answer does. */
void rill__audio_answer(rill_server *srv) {
    if (srv->devreq == NULL)
        return;
    rill__devreq_result res[RILL__DEVREQ_MAX];
    size_t n = rill__devreq_take(srv->devreq, res, RILL__DEVREQ_MAX);
    /* The program may have set its new description after rill__audio_announce
     * looked, just before these results were posted: announce it now, so
     * that it still goes out before the answers. */
    if (n != 0)
        rill__audio_announce(srv);
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
            rill__send_error(c, &e);
        } else {
            size_t len = 0;
            pthread_mutex_lock(&srv->audio_lock);
            char *text =
                audio_msg_locked(srv, "audio-config", &id, false, &len);
            pthread_mutex_unlock(&srv->audio_lock);
            if (text != NULL) {
                rill__conn_send_text(c, text, len);
                rill__free(text);
            }
        }
        rill__free(res[i].id_s);
    }
}

/* Checked and rendered on the caller's thread; the network thread only
 * copies the text under the lock and announces it at its next drain. */
int rill_server_set_audio(rill_server *srv, const rill_audio_desc *a) {
    if (srv == NULL)
        return RILL_EINVAL;
    char *json = NULL;
    if (a != NULL) {
        char why[300];
        if (rill__audio_desc_check(a, why, sizeof why) != 0) {
            rill__log_error("rill_server_set_audio: %s", why);
            return RILL_EINVAL;
        }
        for (size_t i = 0; i < a->channels; i++) {
            rill_var *v = rill__var_find(srv, a->variables[i]);
            if (v == NULL || v->type != RILL_TYPE_FLOAT ||
                v->mode != RILL_TS_DENSE) {
                rill__log_error("rill_server_set_audio: channel %zu: \"%s\" "
                                "is not a dense float variable of this "
                                "server (create it first)",
                                i, a->variables[i]);
                return RILL_EINVAL;
            }
        }
        if (rill__audio_desc_render(a, srv->cfg.on_audio_change != NULL, &json,
                                    NULL) != 0)
            return RILL_ENOMEM;
    }
    pthread_mutex_lock(&srv->audio_lock);
    char *old = srv->audio_json;
    srv->audio_json = json;
    srv->audio_gen++;
    srv->audio_declared = a != NULL;
    srv->audio = a != NULL ? *a : rill_audio_desc_default();
    pthread_mutex_unlock(&srv->audio_lock);
    rill__free(old);
    /* Announced now, not at the next housekeeping tick: a client that
     * connects meanwhile would read the new description in its list reply
     * and then again in the event. (During a client's change the program
     * may call this and rill_server_set_sample_rate: the announcement
     * waits until it returns, so that it is the final one.) */
    if (!rill__devreq_in_call())
        rill__server_poke(srv);
    return 0;
}

int rill_server_set_sample_rate(rill_server *srv, double rate) {
    if (srv == NULL || !(rate > 0 && rate < 1e7))
        return RILL_EINVAL;
    pthread_mutex_lock(&srv->audio_lock);
    srv->sample_rate = rate;
    srv->audio_gen++; /* the audio event carries it */
    pthread_mutex_unlock(&srv->audio_lock);
    if (!rill__devreq_in_call())
        rill__server_poke(srv);
    return 0;
}
