/* The client's requests that ask the device something or change it: the
 * list of variables, monitoring and peeking, control and values, the
 * audio configuration. Caller's thread; one request at a time. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"

int rill_client_list_vars(rill_client *cl, rill_client_list **out) {
    pthread_mutex_lock(&cl->req_lock);
    int rc = rill__client_list_locked(cl, out);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

void rill_client_free(void *p) {
    rill__free(p);
}

int rill_client_get_audio(rill_client *cl, rill_audio_desc *out) {
    if (cl == NULL || out == NULL)
        return RILL_EINVAL;
    if (!cl->native) {
        rill__log_error("a Bela board has no audio description (only rill "
                        "serve has)");
        return RILL_ENOTSUP;
    }
    pthread_mutex_lock(&cl->req_lock);
    rill_client_list *l = NULL;
    int rc = rill__client_list_locked(cl, &l);
    rill_client_list_free(l);
    if (rc == 0) {
        pthread_mutex_lock(&cl->lock);
        rc = cl->list_audio_rc;
        if (rc == 0)
            *out = cl->list_audio;
        pthread_mutex_unlock(&cl->lock);
        if (rc == RILL_EPROTO)
            rill__log_error("the device's audio description is malformed");
    }
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

/* A new monitor request for the variable: monitored values reach the
 * callbacks again. */
static void unmute_monitor(rill_client *cl, uint32_t id) {
    pthread_mutex_lock(&cl->lock);
    if (cl->vs[id].mute == RILL__COLLECT_MONITOR)
        cl->vs[id].mute = RILL__COLLECT_NONE;
    pthread_mutex_unlock(&cl->lock);
}

int rill_client_monitor(rill_client *cl, const char *const *names, size_t n,
                        uint32_t period) {
    if (period > INT32_MAX) {
        rill__log_error("monitor: period %lu is too long: a period is at most "
                        "2147483647 ticks (0 stops monitoring)", (unsigned long)period);
        return RILL_EINVAL;
    }
    json_t *periods = json_array();
    for (size_t i = 0; i < n; i++) {
        if (rill__client_find(cl, names[i]) == NULL) {
            json_decref(periods);
            return RILL_ENOTFOUND;
        }
        json_array_append_new(periods, json_integer(period));
    }
    pthread_mutex_lock(&cl->req_lock);
    for (size_t i = 0; i < n; i++)
        unmute_monitor(cl, rill__client_find(cl, names[i])->id);
    int rc = rill__client_send_cmd(cl, "monitor", names, n,
                                   json_pack("{s:o}", "periods", periods));
    /* What a reconnection starts again (reconnect.c); 1 is a one-shot. */
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; rc == 0 && i < n; i++)
        cl->vs[rill__client_find(cl, names[i])->id].monitor =
            period > 1 ? period : 0;
    pthread_mutex_unlock(&cl->lock);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

int rill_client_peek(rill_client *cl, const char *name, double *value,
                     uint64_t *tick) {
    const rill_client_var *v = rill__client_find(cl, name);
    if (v == NULL)
        return RILL_ENOTFOUND;
    pthread_mutex_lock(&cl->req_lock);
    unmute_monitor(cl, v->id);
    pthread_mutex_lock(&cl->lock);
    cl->peek_var = (int32_t)v->id;
    cl->peek_done = false;
    cl->peek_rc = 0;
    pthread_mutex_unlock(&cl->lock);
    const char *names[1] = {name};
    int rc = rill__client_send_cmd(cl, "monitor", names, 1,
                                   json_pack("{s:[i]}", "periods", 1));
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = rill__client_wait_for(cl, &cl->peek_done,
                                   rill__client_deadline(cl));
    if (rc == 0)
        rc = cl->peek_rc; /* RILL_EAGAIN: the connection broke (reconnect.c) */
    cl->peek_var = -1;
    double val = cl->peek_value;
    uint64_t t = cl->peek_tick;
    pthread_mutex_unlock(&cl->lock);
    if (!cl->native) /* as pybela's peek: the one-shot, then off */
        rill__client_send_cmd(cl, "monitor", names, 1,
                              json_pack("{s:[i]}", "periods", 0));
    pthread_mutex_unlock(&cl->req_lock);
    if (rc == 0) {
        if (value != NULL)
            *value = val;
        if (tick != NULL)
            *tick = t;
    }
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
    if (!isfinite(value)) {
        rill__log_error("set %s: %g cannot be sent: the control messages are JSON, which "
                        "has no inf or nan; give a finite value", name ? name : "(null)",
                        value);
        return RILL_EINVAL;
    }
    return cmd_then_sync(cl, "set", name,
                         json_pack("{s:[f]}", "values", value));
}

int rill_client_set_mask(rill_client *cl, const char *name, uint32_t value,
                         uint32_t mask) {
    return cmd_then_sync(cl, "setMask", name,
                         json_pack("{s:[I],s:[I]}", "values", (json_int_t)value,
                                   "masks", (json_int_t)mask));
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
            snprintf(why, why_size,
                     "a Bela board has no audio configuration "
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
        json_object_set_new(msg, "channels",
                            json_integer((json_int_t)ch->channels));
    if (ch->buffer_frames > 0)
        json_object_set_new(msg, "bufferFrames",
                            json_integer(ch->buffer_frames));
    if (ch->volume >= 0)
        json_object_set_new(msg, "volume", json_real(ch->volume));
    int rc = rill__client_send_json(cl, msg);
    uint64_t wait_ms =
        RILL__MAX((uint64_t)cl->cfg.timeout_ms * 2, (uint64_t)5000);
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = rill__client_wait_for(cl, &cl->audio_done,
                                   rill_clock_now_ns() + wait_ms * 1000000u);
    if (rc == 0)
        rc = cl->audio_rc;
    if (why != NULL && why_size != 0) {
        if (rc == RILL_ETIMEOUT)
            snprintf(why, why_size,
                     "no answer within %llu ms (the device may "
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
