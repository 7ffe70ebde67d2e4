/* The client's control channel, as requests use it: waiting for the I/O
 * thread's answer, sending commands, the list round trip that every
 * request timed on the device relies on, and the variables by name.
 * Caller's thread (the waits hold cl->lock as they say). */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"
#include "proto/command.h"

/* Wait on cond until *flag or the deadline; lock held. */
int rill__client_wait_for(rill_client *cl, const bool *flag,
                          uint64_t deadline_ns) {
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

uint64_t rill__client_deadline(const rill_client *cl) {
    return rill_clock_now_ns() + (uint64_t)cl->cfg.timeout_ms * 1000000u;
}

int rill__client_send_json(rill_client *cl, json_t *msg) {
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        return RILL_ENOMEM;
    int rc;
    if (cl->xport != NULL) { /* an attached client's device (attach.c) */
        rc = cl->xport->send(cl->xport_user, cl, false, text, strlen(text));
    } else {
        rill__ws_part part = {text, strlen(text)};
        rc = rill__client_sendv(cl, cl->ctl, false, &part, 1);
    }
    free(text);
    return rc;
}

/* A device takes at most RILL__CMD_MAX_ENTRIES names a command and
 * RILL__CMD_MAX_BYTES a message (proto/command.h). A command for more than
 * RILL__CMD_CHUNK names goes as commands of that many, each with its slice
 * of `extra`'s per-name arrays, packed into as few messages as hold them
 * (a chunk of the longest names with three per-name arrays is ~17 KB): the
 * commands of one message take effect on one tick; a start "now" across
 * several messages is not one tick, so the callers that start together
 * name it. */
#define RILL__CMD_CHUNK 128
#define RILL__MSG_BUDGET (RILL__CMD_MAX_BYTES - 4096)

/* The command for names[at .. at + k) of n. */
static json_t *cmd_part(const char *cmd, const char *const *names, size_t n,
                        size_t at, size_t k, json_t *extra) {
    json_t *w = json_array();
    for (size_t i = at; i < at + k; i++)
        json_array_append_new(w, json_string(names[i]));
    json_t *c = json_pack("{s:s,s:o}", "cmd", cmd, "watchers", w);
    const char *key;
    json_t *value;
    json_object_foreach(extra, key, value) {
        if (!json_is_array(value) || json_array_size(value) != n || k == n) {
            json_object_set(c, key, value);
            continue;
        }
        json_t *slice = json_array();
        for (size_t i = at; i < at + k; i++)
            json_array_append(slice, json_array_get(value, i));
        json_object_set_new(c, key, slice);
    }
    return c;
}

static size_t dumped_bytes(const json_t *c) {
    char *text = json_dumps(c, JSON_COMPACT);
    size_t len = text != NULL ? strlen(text) + 1 : 0; /* and its comma */
    free(text);
    return len;
}

int rill__client_send_cmd(rill_client *cl, const char *cmd,
                          const char *const *names, size_t n, json_t *extra) {
    if (n <= RILL__CMD_CHUNK) { /* the common case: one command */
        json_t *c = cmd_part(cmd, names, n, 0, n, extra);
        json_decref(extra);
        return rill__client_send_json(cl, json_pack("{s:[o]}", "watcher", c));
    }
    json_t *msg = json_array();
    size_t bytes = 0;
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < n; at += RILL__CMD_CHUNK) {
        json_t *c = cmd_part(cmd, names, n, at,
                             RILL__MIN((size_t)RILL__CMD_CHUNK, n - at), extra);
        size_t len = dumped_bytes(c);
        if (json_array_size(msg) != 0 &&
            (bytes + len > RILL__MSG_BUDGET ||
             json_array_size(msg) == RILL__CMD_MAX_COMMANDS)) {
            rc = rill__client_send_json(cl, json_pack("{s:o}", "watcher", msg));
            msg = json_array();
            bytes = 0;
        }
        json_array_append_new(msg, c);
        bytes += len;
    }
    if (rc == 0)
        rc = rill__client_send_json(cl, json_pack("{s:o}", "watcher", msg));
    else
        json_decref(msg);
    json_decref(extra);
    return rc;
}

int rill__client_list_locked(rill_client *cl, rill_client_list **out) {
    pthread_mutex_lock(&cl->lock);
    int64_t id = cl->list_id = cl->next_id++;
    rill_client_list_free(cl->list_reply);
    cl->list_reply = NULL;
    cl->list_ready = false;
    pthread_mutex_unlock(&cl->lock);
    int rc = rill__client_send_json(cl, json_pack("{s:I,s:[{s:s}]}", "id",
                                                  (json_int_t)id, "watcher",
                                                  "cmd", "list"));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&cl->lock);
    rc = rill__client_wait_for(cl, &cl->list_ready, rill__client_deadline(cl));
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

void rill_client_list_free(rill_client_list *list) {
    if (list == NULL)
        return;
    rill__free(list->vars);
    rill__free(list);
}

const rill_client_var *rill__client_find(rill_client *cl, const char *name) {
    for (size_t i = 0; i < cl->vars->n_vars; i++)
        if (strcmp(cl->vars->vars[i].name, name) == 0)
            return &cl->vars->vars[i];
    rill__log_error("the device has no variable \"%s\"", name);
    return NULL;
}

/* The device's latest tick and its rate (1000 if it gives none), from a
 * list round trip. */
int rill__client_device_now(rill_client *cl, uint64_t *tick, double *rate) {
    rill_client_list *now = NULL;
    int rc = rill__client_list_locked(cl, &now);
    if (rc != 0)
        return rc;
    *rate = now->sample_rate > 0 ? now->sample_rate : 1000;
    *tick = now->timestamp;
    rill_client_list_free(now);
    return 0;
}

/* A tick a little after the device's latest, so that every variable
 * starts at the same tick and no earlier buffer is taken for the start:
 * 50 ms plus twice the list's round trip (so that the request naming the
 * tick reaches the device before it, on a LAN or USB link and on a slow
 * or lossy one too: a start in the past is taken as "now", and the values
 * before it would be missing) plus one block of the device's ticks (it
 * may make a block at once): the block rill serve announces
 * ("blockTicks"), else 64, Bela's usual. Schedules, exactly-N, on_block
 * starts and rill_client_start_tick (session.c) all start "now" here.
 * req_lock held. */
int rill__client_soon(rill_client *cl, size_t n_names, uint64_t *tick,
                      double *rate) {
    uint64_t t0 = rill_clock_now_ns();
    int rc = rill__client_device_now(cl, tick, rate);
    double rtt = (double)(rill_clock_now_ns() - t0) / 1e9;
    pthread_mutex_lock(&cl->lock);
    uint64_t block = cl->native && cl->server_block != 0 ? cl->server_block : 64;
    pthread_mutex_unlock(&cl->lock);
    /* A command for more names than one chunk goes in several messages
     * (rill__client_send_cmd), which the device takes in turn: 20 us a
     * name covers a slow device (a Bela's ARM) or a checked build. */
    double names = n_names > RILL__CMD_CHUNK ? 20e-6 * (double)n_names : 0;
    if (rc == 0)
        *tick += (uint64_t)(*rate * (0.05 + 2 * rtt + names)) + block;
    return rc;
}

/* RILL_EINVAL (a NULL list or name) or RILL_ENOTFOUND (logged) unless
 * every name is a variable of the device. */
int rill__client_check_names(rill_client *cl, const char *const *names,
                             size_t n) {
    if (n > 0 && names == NULL)
        return RILL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (names[i] == NULL || rill__client_find(cl, names[i]) == NULL)
            return RILL_ENOTFOUND;
    return 0;
}

/* Send a command, then a list round trip: the device applies commands in
 * order, so when the list reply arrives the command has taken effect.
 * `extra` (a json_t *, taken) adds fields to the command; `after`, if not
 * NULL, receives that list. */
int rill__client_cmd_sync(rill_client *cl, const char *cmd,
                          const char *const *names, size_t n, json_t *extra,
                          rill_client_list **after) {
    int rc = rill__client_check_names(cl, names, n);
    if (rc != 0) {
        json_decref(extra);
        return rc;
    }
    pthread_mutex_lock(&cl->req_lock);
    rc = rill__client_send_cmd(cl, cmd, names, n, extra);
    rill_client_list *l = NULL;
    if (rc == 0)
        rc = rill__client_list_locked(cl, &l);
    pthread_mutex_unlock(&cl->req_lock);
    if (rc == 0 && after != NULL)
        *after = l;
    else
        rill_client_list_free(l);
    return rc;
}
