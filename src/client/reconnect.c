/* Losing the connection and getting it back (rill_client_config's
 * keepalive_ms and reconnect): noticing a dead link, connecting again,
 * starting again what ran, and saying exactly what was missed.
 *
 * A connection that ends with a close or a reset is seen by the I/O
 * thread's poll. One whose link went silent (a cable pulled, a blackout, a
 * frozen device) is not, for minutes: rill__client_keepalive pings a
 * socket that has been silent for keepalive_ms and gives up on it when
 * nothing arrives within timeout_ms of the ping.
 *
 * With cfg.reconnect, the I/O thread (which owns the sockets) then:
 *  1. closes the door: requests may no longer send (`linked` cleared under
 *     link_mx, so nothing of a request can reach the next connection
 *     before it is set up); requests waiting for an answer are answered
 *     RILL_EAGAIN (an exactly-N request RILL_EIO: its values have a gap);
 *     on_event gets LOST;
 *  2. tries again after 100 ms, then twice as long each time up to 2 s:
 *     the same rill__ws objects are reopened (other threads hold them),
 *     then the connection event, hello (native) or connection-reply and
 *     /gui_data (compat), and one list, read here: the device must still
 *     have the same variables;
 *  3. starts again every stream at one tick ahead of the device's clock
 *     (its latest, plus twice the list's round trip and 50 ms, so that
 *     the request is there in time), a schedule for what is left of it;
 *     monitors too; the on_block group from that tick;
 *  4. opens the door; on_event gets RECONNECTED, then a GAP per streamed
 *     variable: from the tick after its last value delivered to its first
 *     value again, read from the values themselves, so the gap is exactly
 *     what is missing (a sparse variable's, whose values come when the
 *     program sets them, ends at the tick its stream starts again). A
 *     device that restarted meanwhile (another "run" in its hello reply,
 *     or a clock behind what it showed before) began its ticks again: its
 *     gaps say so rather than count ticks across two clocks.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"

#define RILL__RELINK_FIRST_MS 100u
#define RILL__RELINK_MAX_MS 2000u
/* The longest one attempt may block (rill_client_destroy waits for it). */
#define RILL__RELINK_ATTEMPT_MS 2000

int rill__client_sendv(rill_client *cl, rill__ws *ws, bool binary,
                       const rill__ws_part *parts, size_t n) {
    return rill__client_sendv_bounded(cl, ws, binary, parts, n, 0);
}

int rill__client_sendv_bounded(rill_client *cl, rill__ws *ws, bool binary,
                               const rill__ws_part *parts, size_t n,
                               size_t limit) {
    pthread_mutex_lock(&cl->link_mx);
    int rc = cl->gave_up ? RILL_ECLOSED
             : !cl->linked
                 ? RILL_EAGAIN
                 : rill__ws_sendv_bounded(ws, binary, parts, n, limit);
    /* The I/O thread has not seen yet that the socket closed. */
    if (rc == RILL_ECLOSED && cl->cfg.reconnect && !cl->gave_up)
        rc = RILL_EAGAIN;
    pthread_mutex_unlock(&cl->link_mx);
    return rc;
}

void rill__client_keepalive(rill_client *cl) {
    if (cl->cfg.keepalive_ms <= 0)
        return;
    uint64_t now = rill_clock_now_ns();
    uint64_t idle = (uint64_t)cl->cfg.keepalive_ms * 1000000u;
    uint64_t answer = (uint64_t)cl->cfg.timeout_ms * 1000000u;
    rill__ws *ws[2] = {cl->ctl, cl->data};
    for (size_t i = 0; i < 2; i++) {
        if (ws[i] == NULL || rill__ws_closed(ws[i]))
            continue;
        uint64_t rx = rill__ws_rx_ns(ws[i]);
        if (now < rx + idle) {
            cl->ping_ns[i] = 0;
        } else if (cl->ping_ns[i] == 0 || cl->ping_ns[i] < rx) {
            rill__ws_ping(ws[i]);
            cl->ping_ns[i] = now;
        } else if (now >= cl->ping_ns[i] + answer) {
            char why[200];
            snprintf(why, sizeof why,
                     "nothing came from the device for %.1f s, not even the "
                     "answer to a ping (the link is down, or the device "
                     "stopped)",
                     (double)(now - rx) / 1e9);
            rill__ws_abort(ws[i], why);
        }
    }
}

/* ---- Events ------------------------------------------------------------- */

static void event_init(rill__event *e, rill_client_event_kind kind) {
    memset(e, 0, sizeof *e);
    e->ev.kind = kind;
}

/* A GAP of variable `v`, counted. lock held. */
static void gap_event(rill_client *cl, const rill_client_var *v, uint64_t first,
                      uint64_t ticks, uint64_t resumed, bool restarted,
                      const char *why, rill__event *e) {
    rill__var_state *st = &cl->vs[v->id];
    event_init(e, RILL_CLIENT_EVENT_GAP);
    e->ev.var_id = v->id;
    e->ev.first = first;
    e->ev.ticks = ticks;
    e->ev.resumed = resumed;
    e->ev.restarted = restarted;
    snprintf(e->name, sizeof e->name, "%s", v->name);
    if (restarted)
        rill__set_err(
            e->msg, sizeof e->msg,
            "%s: the device restarted while the connection was lost: "
            "its values from tick %llu of the earlier run on are lost%s",
            v->name, (unsigned long long)first,
            why != NULL ? why : "; delivered again from the new run");
    else
        rill__set_err(
            e->msg, sizeof e->msg,
            "%s: ticks %llu to %llu (%llu) are missing: the connection "
            "was lost%s",
            v->name, (unsigned long long)first,
            (unsigned long long)(first + ticks - 1), (unsigned long long)ticks,
            why != NULL ? why : "");
    st->gaps++;
    st->gap_ticks += ticks;
    atomic_fetch_add(&cl->gaps, 1);
    atomic_fetch_add(&cl->gap_ticks, ticks);
    if (st->sched >= 0)
        cl->sched[st->sched].err = RILL_EIO;
}

void rill__client_note_values(rill_client *cl, const rill_client_var *v,
                              uint64_t first_ts, uint64_t next,
                              rill__event *out) {
    rill__var_state *st = &cl->vs[v->id];
    out->ev.kind = 0;
    if (st->gap_pending) {
        st->gap_pending = false;
        uint64_t ticks = !st->gap_restarted && first_ts > st->gap_first
                             ? first_ts - st->gap_first
                             : 0;
        if (ticks > 0 || st->gap_restarted)
            gap_event(cl, v, st->gap_first, ticks, first_ts, st->gap_restarted,
                      NULL, out);
    }
    st->next_tick = next;
    st->next_known = true;
    if (next > 0 && next - 1 > cl->max_tick)
        cl->max_tick = next - 1;
}

/* ---- Getting the connection back ----------------------------------------- */

/* Requests may no longer send; those waiting are answered. */
static void link_down(rill_client *cl, const char *why) {
    pthread_mutex_lock(&cl->link_mx);
    cl->linked = false;
    pthread_mutex_unlock(&cl->link_mx);
    atomic_store(&cl->connected, false);
    pthread_mutex_lock(&cl->lock);
    if (cl->list_id >= 0 && !cl->list_ready) {
        cl->list_rc = RILL_EAGAIN;
        cl->list_ready = true;
    }
    if (cl->peek_var >= 0 && !cl->peek_done) {
        cl->peek_rc = RILL_EAGAIN;
        cl->peek_done = true;
    }
    if (cl->audio_id >= 0 && !cl->audio_done) {
        cl->audio_rc = RILL_EAGAIN;
        snprintf(cl->audio_why, sizeof cl->audio_why,
                 "the connection was lost before the device answered (it may "
                 "have applied the change; list again once reconnected)");
        cl->audio_done = true;
    }
    if (!cl->collect_done && cl->collect_left > 0) {
        cl->collect_broken = true;
        cl->collect_done = true;
    }
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
    /* A program that takes events hears it from on_event: said once. */
    if (cl->cfg.on_event != NULL)
        rill__log_info("connection to %s:%d lost: %s; reconnecting", cl->host,
                       cl->port, why);
    else
        rill__log_warn("connection to %s:%d lost: %s; reconnecting", cl->host,
                       cl->port, why);
    rill__event e;
    event_init(&e, RILL_CLIENT_EVENT_LOST);
    rill__set_err(e.msg, sizeof e.msg,
                  "the connection to %s:%d was lost (%s); reconnecting",
                  cl->host, cl->port, why);
    rill__deliver_event(cl, &e);
}

/* Sleep `ms`, or less when the client is being destroyed (false). */
static bool nap(rill_client *cl, uint64_t ms) {
    uint64_t end = rill_clock_now_ns() + ms * 1000000u;
    for (;;) {
        if (atomic_load(&cl->stop))
            return false;
        uint64_t now = rill_clock_now_ns();
        if (now >= end)
            return true;
        rill__sleep_ns(RILL__MIN(end - now, (uint64_t)20000000));
    }
}

/* Read the first `n` sockets until *flag (lock), the deadline, the
 * client's end, or a failure. */
static int pump(rill_client *cl, const bool *flag, uint64_t deadline,
                size_t n) {
    rill__ws *list[2] = {cl->ctl, cl->data};
    for (;;) {
        pthread_mutex_lock(&cl->lock);
        bool done = *flag;
        pthread_mutex_unlock(&cl->lock);
        if (done)
            return 0;
        if (atomic_load(&cl->stop))
            return RILL_ECANCELED;
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline)
            return RILL_ETIMEOUT;
        int ms = (int)RILL__MIN((deadline - now) / 1000000u + 1, (uint64_t)20);
        int rc = rill__ws_poll(list, n, ms, 0, rill__client_on_msg, cl);
        if (rc != 0)
            return rc;
    }
}

static int reopen(rill_client *cl, rill__ws *ws, const char *path, int ms,
                  char *err, size_t cap) {
    char target[512];
    if (cl->cfg.token != NULL)
        snprintf(target, sizeof target, "%s?token=%s", path, cl->cfg.token);
    else
        snprintf(target, sizeof target, "%s", path);
    return rill__ws_reopen(ws, cl->host, cl->port, target, ms, err, cap);
}

bool rill__client_relink_list(rill_client *cl, json_t *root) {
    if (cl->relink_list_id < 0 || cl->relink_list_ready)
        return false;
    /* rill serve echoes the id; a Bela board sends none (and no request
     * of the user's can be waiting: they cannot send now). */
    json_t *id = json_object_get(root, "id");
    if (id != NULL &&
        !(json_is_integer(id) && json_integer_value(id) == cl->relink_list_id))
        return false;
    if (rill__client_build_list(root, &cl->relink_list) != 0)
        cl->relink_list = NULL;
    cl->relink_list_ready = true;
    return true;
}

/* One attempt: the sockets, the handshakes of the protocol, the list.
 * *fatal: trying again cannot help (the token is refused, the device no
 * longer speaks native mode). */
static int relink(rill_client *cl, rill_client_list **out, uint64_t *rtt_ns,
                  char *err, size_t cap, bool *fatal) {
    int ms = RILL__MIN(cl->cfg.timeout_ms, RILL__RELINK_ATTEMPT_MS);
    *out = NULL;
    pthread_mutex_lock(&cl->lock);
    cl->got_connection = false;
    cl->hello = false;
    pthread_mutex_unlock(&cl->lock);
    cl->hdr_id = -1;
    cl->ping_ns[0] = cl->ping_ns[1] = 0;
    int rc = reopen(cl, cl->ctl, "/gui_control", ms, err, cap);
    if (rc == RILL_EAUTH)
        *fatal = true;
    if (rc != 0)
        return rc;
    uint64_t wait = (uint64_t)cl->cfg.timeout_ms * 1000000u;
    if ((rc = pump(cl, &cl->got_connection, rill_clock_now_ns() + wait, 1)) !=
        0) {
        rill__set_err(err, cap, "%s:%d sent no connection event (%s)", cl->host,
                      cl->port, rill_strerror(rc));
        return rc;
    }
    size_t n = 1;
    /* A device that has just started may not have ticked yet, and then
     * says nothing of its clock: ask again (20 ms apart, within the
     * timeout) until it does, to know where its ticks are. */
    uint64_t tick_wait = rill_clock_now_ns() + wait;
    for (bool answered = false; cl->native; answered = true, nap(cl, 20)) {
        const char hello[] = "{\"rill\":\"hello\",\"version\":1}";
        pthread_mutex_lock(&cl->lock);
        cl->hello = false;
        pthread_mutex_unlock(&cl->lock);
        rc = rill__ws_send(cl->ctl, false, hello, sizeof hello - 1);
        if (rc == 0)
            rc = pump(cl, &cl->hello, rill_clock_now_ns() + wait, 1);
        if (rc == RILL_ETIMEOUT && !answered) {
            *fatal = true;
            rill__set_err(err, cap,
                          "%s:%d no longer speaks rill's native mode (another "
                          "device?)",
                          cl->host, cl->port);
            return RILL_EPROTO;
        }
        if (rc != 0) {
            rill__set_err(err, cap, "no hello answer (%s)", rill_strerror(rc));
            return rc;
        }
        pthread_mutex_lock(&cl->lock);
        bool ticking = cl->server_first != 0;
        pthread_mutex_unlock(&cl->lock);
        if (ticking || rill_clock_now_ns() >= tick_wait)
            break;
    }
    if (!cl->native) {
        const char reply[] = "{\"event\":\"connection-reply\"}";
        rc = rill__ws_send(cl->ctl, false, reply, sizeof reply - 1);
        if (rc == 0)
            rc = reopen(cl, cl->data, "/gui_data", ms, err, cap);
        if (rc != 0)
            return rc;
        n = 2;
    }
    for (;; nap(cl, 20)) {
        pthread_mutex_lock(&cl->lock);
        int64_t id = cl->relink_list_id = cl->next_id++;
        cl->relink_list_ready = false;
        pthread_mutex_unlock(&cl->lock);
        char msg[96];
        snprintf(msg, sizeof msg,
                 "{\"id\":%lld,\"watcher\":[{\"cmd\":\"list\"}]}",
                 (long long)id);
        uint64_t t0 = rill_clock_now_ns();
        rc = rill__ws_send(cl->ctl, false, msg, strlen(msg));
        if (rc == 0)
            rc = pump(cl, &cl->relink_list_ready, t0 + wait, n);
        *rtt_ns = rill_clock_now_ns() - t0;
        pthread_mutex_lock(&cl->lock);
        rill_client_list_free(*out);
        *out = cl->relink_list;
        cl->relink_list = NULL;
        cl->relink_list_id = -1;
        pthread_mutex_unlock(&cl->lock);
        if (rc == 0 && *out == NULL)
            rc = RILL_ENOMEM;
        if (rc != 0 || (*out)->timestamp != 0 ||
            rill_clock_now_ns() >= tick_wait)
            break;
    }
    if (rc != 0)
        rill__set_err(err, cap, "no list reply (%s)", rill_strerror(rc));
    return rc;
}

/* The device must have the variables it had: ids, types and modes are
 * what every stream, buffer and callback of this client rely on. */
static bool same_vars(const rill_client_list *was, const rill_client_list *now,
                      char *err, size_t cap) {
    if (was->n_vars != now->n_vars) {
        rill__set_err(err, cap,
                      "the device has %zu variable%s now and had %zu: its "
                      "program changed; connect again",
                      now->n_vars, now->n_vars == 1 ? "" : "s", was->n_vars);
        return false;
    }
    for (size_t i = 0; i < now->n_vars; i++) {
        const rill_client_var *a = &was->vars[i], *b = &now->vars[i];
        if (strcmp(a->name, b->name) != 0 || a->type != b->type ||
            a->mode != b->mode) {
            rill__set_err(err, cap,
                          "the device's variable %zu was \"%s\" (%c) and is "
                          "now \"%s\" (%c): its program changed; connect again",
                          i, a->name, rill_type_letter(a->type), b->name,
                          rill_type_letter(b->type));
            return false;
        }
    }
    return true;
}

/* Send `cmd` (taken) on the new connection, before requests may. */
static void send_now(rill_client *cl, json_t *cmds) {
    if (json_array_size(cmds) == 0) {
        json_decref(cmds);
        return;
    }
    json_t *msg = json_pack("{s:o}", "watcher", cmds);
    char *text = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (text == NULL || rill__ws_send(cl->ctl, false, text, strlen(text)) != 0)
        rill__log_error("streams could not be started again (out of memory "
                        "or the connection broke again)");
    free(text);
}

/* A schedule that cannot go on (its end has passed, or the device
 * restarted) lets go of the variable. lock held. */
static void sched_leave(rill_client *cl, rill__var_state *st,
                        rill__sched *finished, size_t *n_finished) {
    rill__sched *sc = &cl->sched[st->sched];
    st->sched = -1;
    st->streaming = false;
    if (st->in_group) {
        st->in_group = false;
        cl->group_gen++;
    }
    if (--sc->pending == 0) {
        finished[(*n_finished)++] = *sc;
        if (sc->err != 0 && cl->sched_err == 0)
            cl->sched_err = sc->err;
    }
}

/* Start again what ran (see the top of this file). */
static void resume(rill_client *cl, const rill_client_list *l, uint64_t rtt_ns,
                   uint64_t old_run) {
    size_t nv = cl->vars->n_vars;
    rill__event *gaps = rill__calloc(nv ? nv : 1, sizeof *gaps);
    rill__sched *finished = rill__calloc(nv ? nv : 1, sizeof *finished);
    json_t *cmds = json_array();
    json_t *names = json_array(), *ts = json_array(), *du = json_array(),
           *le = json_array();
    json_t *mnames = json_array(), *periods = json_array();
    size_t n_finished = 0;
    pthread_mutex_lock(&cl->lock);
    double rate = l->sample_rate > 0 ? l->sample_rate : 1000;
    /* The same run goes on; another run whose clock began at or before
     * the last tick seen began the ticks again; without runs (a Bela
     * board) or a first tick, a clock behind the last tick seen did. */
    bool restarted;
    if (old_run != 0 && old_run == cl->server_run)
        restarted = false;
    else if (old_run != 0 && cl->server_run != 0 && cl->server_first != 0)
        restarted = cl->server_first - 1 <= cl->max_tick;
    else
        restarted = l->timestamp < cl->max_tick;
    cl->max_tick =
        restarted ? l->timestamp : RILL__MAX(cl->max_tick, l->timestamp);
    uint64_t at = l->timestamp +
                  (uint64_t)((2.0 * (double)rtt_ns / 1e9 + 0.05) * rate) + 64;
    for (size_t i = 0; i < nv; i++) {
        rill__var_state *st = &cl->vs[i];
        const rill_client_var *v = &cl->vars->vars[i];
        if (restarted && st->log_file[0] != '\0' &&
            strcmp(st->log_done, st->log_file) != 0) {
            /* The log was cut short with the device's earlier run:
             * rill_client_log_wait sees it ended, and not whole. */
            st->log_failed = true;
            st->log_from = 0;
        }
        if (st->monitor != 0) {
            json_array_append_new(mnames, json_string(v->name));
            json_array_append_new(periods, json_integer(st->monitor));
        }
        if (!st->streaming)
            continue;
        uint64_t first = st->next_known ? st->next_tick : st->from;
        uint64_t start = restarted ? at : RILL__MAX(at, first);
        if (!st->next_known && st->from == 0)
            first = start; /* started "now" and nothing came: no tick to count
                              from */
        if (st->sched >= 0 && (restarted || cl->vs[i].sched_end <= start)) {
            uint64_t end = st->sched_end;
            if (restarted || first < end)
                gap_event(cl, v, first, restarted ? 0 : end - first,
                          restarted ? 0 : end, restarted,
                          "; its schedule ended meanwhile", &gaps[i]);
            sched_leave(cl, st, finished, &n_finished);
            continue;
        }
        json_array_append_new(names, json_string(v->name));
        json_array_append_new(ts, json_integer((json_int_t)start));
        json_array_append_new(
            du, json_integer(
                    st->sched >= 0 ? (json_int_t)(st->sched_end - start) : 0));
        json_array_append_new(le, json_integer(st->stream_length != 0
                                                   ? st->stream_length
                                                   : v->length));
        st->from = start;
        if (st->in_group)
            cl->group_gen++;
        if (restarted)
            st->next_known = false;
        if (v->mode == RILL_TS_DENSE) {
            st->gap_pending = true;
            st->gap_first = first;
            st->gap_restarted = restarted;
        } else {
            if (restarted || start > first)
                gap_event(cl, v, first, restarted ? 0 : start - first, start,
                          restarted, NULL, &gaps[i]);
            st->next_tick = start;
            st->next_known = true;
        }
    }
    pthread_mutex_unlock(&cl->lock);
    if (json_array_size(names) != 0) {
        json_t *w = json_pack("{s:s,s:o,s:o,s:o}", "cmd", "watch", "watchers",
                              names, "timestamps", ts, "durations", du);
        if (cl->native)
            json_object_set_new(w, "lengths", le);
        else
            json_decref(le);
        json_array_append_new(cmds, w);
    } else {
        json_decref(names);
        json_decref(ts);
        json_decref(du);
        json_decref(le);
    }
    if (json_array_size(mnames) != 0)
        json_array_append_new(cmds, json_pack("{s:s,s:o,s:o}", "cmd", "monitor",
                                              "watchers", mnames, "periods",
                                              periods));
    else
        json_decref(mnames), json_decref(periods);
    send_now(cl, cmds);
    for (size_t i = 0; gaps != NULL && i < nv; i++)
        rill__deliver_event(cl, &gaps[i]);
    for (size_t i = 0; i < n_finished; i++)
        rill__client_schedule_finished(cl, finished[i].fn, finished[i].user,
                                       finished[i].err);
    rill__free(gaps);
    rill__free(finished);
}

static rill__relink give_up(rill_client *cl, const char *why) {
    pthread_mutex_lock(&cl->link_mx);
    cl->gave_up = true;
    pthread_mutex_unlock(&cl->link_mx);
    pthread_mutex_lock(&cl->lock);
    snprintf(cl->close_reason, sizeof cl->close_reason, "%s", why);
    pthread_mutex_unlock(&cl->lock);
    return RILL__RELINK_GONE;
}

rill__relink rill__client_reconnect(rill_client *cl, const char *why) {
    link_down(cl, why);
    pthread_mutex_lock(&cl->lock);
    uint64_t old_run = cl->server_run;
    pthread_mutex_unlock(&cl->lock);
    uint64_t t0 = rill_clock_now_ns(), backoff = RILL__RELINK_FIRST_MS;
    char err[300] = "";
    for (uint32_t attempt = 1;; attempt++) {
        if (!nap(cl, backoff))
            return RILL__RELINK_STOPPED;
        bool fatal = false;
        rill_client_list *l = NULL;
        uint64_t rtt = 0;
        int rc = relink(cl, &l, &rtt, err, sizeof err, &fatal);
        if (rc == 0 && !same_vars(cl->vars, l, err, sizeof err)) {
            rc = RILL_EPROTO;
            fatal = true;
        }
        if (rc == 0) {
            resume(cl, l, rtt, old_run);
            rill_client_list_free(l);
            pthread_mutex_lock(&cl->link_mx);
            cl->linked = true;
            pthread_mutex_unlock(&cl->link_mx);
            atomic_store(&cl->connected, true);
            atomic_fetch_add(&cl->reconnects, 1);
            double s = (double)(rill_clock_now_ns() - t0) / 1e9;
            rill__log_info("connected to %s:%d again (attempt %u, %.1f s)",
                           cl->host, cl->port, attempt, s);
            rill__event e;
            event_init(&e, RILL_CLIENT_EVENT_RECONNECTED);
            e.ev.attempts = attempt;
            rill__set_err(
                e.msg, sizeof e.msg,
                "connected to %s:%d again after %.1f s (%u attempts); "
                "streams started again",
                cl->host, cl->port, s, attempt);
            rill__deliver_event(cl, &e);
            return RILL__RELINK_BACK;
        }
        rill_client_list_free(l);
        if (atomic_load(&cl->stop))
            return RILL__RELINK_STOPPED;
        uint64_t spent = (rill_clock_now_ns() - t0) / 1000000u;
        if (fatal || (cl->cfg.reconnect_ms > 0 &&
                      spent >= (uint64_t)cl->cfg.reconnect_ms)) {
            char reason[sizeof cl->close_reason];
            if (fatal)
                rill__set_err(reason, sizeof reason, "not reconnected: %s", err);
            else
                rill__set_err(reason, sizeof reason,
                              "not reconnected within %d ms (%u attempts; the "
                              "last: %s)",
                              cl->cfg.reconnect_ms, attempt, err);
            return give_up(cl, reason); /* rill__client_lost says it */
        }
        rill__log_info("reconnecting to %s:%d: attempt %u failed: %s", cl->host,
                       cl->port, attempt, err);
        backoff = RILL__MIN(backoff * 2, (uint64_t)RILL__RELINK_MAX_MS);
    }
}

/* ---- Counters ----------------------------------------------------------- */

void rill_client_get_stats(rill_client *cl, rill_client_stats *out) {
    memset(out, 0, sizeof *out);
    out->dropped = atomic_load(&cl->dropped);
    out->reconnects = atomic_load(&cl->reconnects);
    out->gaps = atomic_load(&cl->gaps);
    out->gap_ticks = atomic_load(&cl->gap_ticks);
    out->log_dropped = atomic_load(&cl->log_dropped);
    out->connected = atomic_load(&cl->connected) && !atomic_load(&cl->closed);
}

int rill_client_get_var_stats(rill_client *cl, const char *name,
                              rill_client_var_stats *out) {
    if (cl == NULL || name == NULL || out == NULL)
        return RILL_EINVAL;
    const rill_client_var *v = rill__client_find(cl, name);
    if (v == NULL)
        return RILL_ENOTFOUND;
    pthread_mutex_lock(&cl->lock);
    const rill__var_state *st = &cl->vs[v->id];
    out->gaps = st->gaps;
    out->gap_ticks = st->gap_ticks;
    out->log_dropped = st->log_dropped;
    pthread_mutex_unlock(&cl->lock);
    return 0;
}
