/* Streaming on the client: starting and stopping streams (and the block
 * group of on_block), schedules and their completion, and the collectors
 * behind rill_client_stream_n_values / monitor_n_values. Caller's thread;
 * the I/O thread's side is in decode.c. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"

/* The values per buffer asked for v: `asked`, or for
 * RILL_CLIENT_LENGTH_LIVE the live size at the device's rate (client.h);
 * 0 is the Bela size. A Bela board takes no length: 0. */
static uint32_t length_for(const rill_client *cl, const rill_client_var *v,
                           uint32_t asked) {
    if (!cl->native)
        return 0;
    if (asked != RILL_CLIENT_LENGTH_LIVE)
        return asked;
    double rate = cl->vars->sample_rate > 0 ? cl->vars->sample_rate : 1000;
    bool dense = v->mode == RILL_TS_DENSE;
    double per = dense ? rate / 25.0 : rate / 2756.0;
    uint32_t cap = dense ? 1u << 20 : 16, n = 1;
    while (n * 2.0 <= per && n < cap)
        n *= 2;
    return n >= v->length ? 0 : n;
}

/* The named variables join the on_block group. lock held. */
static void join_group(rill_client *cl, const char *const *names, size_t n,
                       const rill_client_stream_opts *opts) {
    for (size_t i = 0; i < n; i++) {
        const rill_client_var *v = rill__client_find(cl, names[i]);
        rill__var_state *st = &cl->vs[v->id];
        if (st->mute == RILL__COLLECT_STREAM)
            st->mute = RILL__COLLECT_NONE;
        if (!st->in_group)
            st->order = ++cl->group_order;
        st->in_group = true;
        st->from = opts != NULL ? opts->start : 0;
        uint32_t len = length_for(cl, v, opts != NULL ? opts->length : 0);
        st->length = len != 0 ? len : v->length;
        /* What a reconnection starts again (reconnect.c). */
        st->streaming = true;
        st->stream_length = len;
        st->next_known = false;
        st->gap_pending = false;
    }
    cl->group_block = opts != NULL ? opts->block : 0;
    cl->group_gen++;
}

/* watch with per-variable timestamps, durations and (native) lengths. */
static int send_watch(rill_client *cl, const char *const *names, size_t n,
                      uint64_t start, uint64_t duration, uint32_t length) {
    json_t *ts = json_array(), *du = json_array(), *le = json_array();
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(ts, json_integer((json_int_t)start));
        json_array_append_new(du, json_integer((json_int_t)duration));
        /* 0 is the Bela size, which a mixed list names: the device takes
         * lengths of 1 and up. */
        const rill_client_var *v = rill__client_find(cl, names[i]);
        uint32_t len = length_for(cl, v, length);
        json_array_append_new(le, json_integer(len != 0 ? len : v->length));
        any |= len != 0;
    }
    json_t *extra = json_pack("{s:o,s:o}", "timestamps", ts, "durations", du);
    if (any)
        json_object_set_new(extra, "lengths", le);
    else
        json_decref(le);
    return rill__client_send_cmd(cl, "watch", names, n, extra);
}

static int schedule(rill_client *cl, const char *const *names, size_t n,
                    rill_client_stream_opts o, rill_client_done_fn done,
                    void *user);

int rill_client_stream_start(rill_client *cl, const char *const *names,
                             size_t n, const rill_client_stream_opts *opts) {
    int rc = rill__client_check_names(cl, names, n);
    if (rc != 0)
        return rc;
    rill_client_stream_opts o = {0, 0, 0, 0};
    if (opts != NULL)
        o = *opts;
    /* One way to stream for a duration: a schedule without completion,
     * trimmed to exactly [start, start + duration) in both modes. */
    if (o.duration != 0)
        return schedule(cl, names, n, o, NULL, NULL);
    pthread_mutex_lock(&cl->req_lock);
    /* With on_block, "now" is made a tick: every variable starts on it, and
     * the late last buffer of an earlier run (earlier ticks) cannot be
     * taken for this one's beginning. With reconnect, so that a gap
     * before the first value can be counted from it. */
    double rate;
    if ((cl->cfg.on_block != NULL || cl->cfg.reconnect) && o.start == 0 &&
        (rc = rill__client_soon(cl, n, &o.start, &rate)) != 0) {
        pthread_mutex_unlock(&cl->req_lock);
        return rc;
    }
    pthread_mutex_lock(&cl->lock);
    join_group(cl, names, n, &o);
    pthread_mutex_unlock(&cl->lock);
    rc = send_watch(cl, names, n, o.start, o.duration, o.length);
    if (rc != 0) { /* not started: nothing to start again */
        pthread_mutex_lock(&cl->lock);
        for (size_t i = 0; i < n; i++)
            cl->vs[rill__client_find(cl, names[i])->id].streaming = false;
        pthread_mutex_unlock(&cl->lock);
    }
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

int rill_client_stream_stop(rill_client *cl, const char *const *names,
                            size_t n) {
    const char **all = NULL;
    if (names == NULL) {
        all =
            rill__calloc(cl->vars->n_vars ? cl->vars->n_vars : 1, sizeof *all);
        if (all == NULL)
            return RILL_ENOMEM;
        for (size_t i = 0; i < cl->vars->n_vars; i++)
            all[i] = cl->vars->vars[i].name;
        names = all;
        n = cl->vars->n_vars;
    }
    int rc = rill__client_check_names(cl, names, n);
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
        rill__var_state *st = &cl->vs[rill__client_find(cl, names[i])->id];
        st->streaming = false;
        st->gap_pending = false;
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
    rc = rill__client_send_cmd(cl, "unwatch", names, n, NULL);
    pthread_mutex_unlock(&cl->req_lock);
    for (size_t i = 0; i < n_canceled; i++)
        rill__client_schedule_finished(cl, canceled[i].fn, canceled[i].user,
                                       RILL_ECANCELED);
    rill__free(canceled);
    rill__free(all);
    return rc;
}

int rill_client_schedule(rill_client *cl, const char *const *names, size_t n,
                         uint64_t start, uint64_t duration,
                         rill_client_done_fn done, void *user) {
    rill_client_stream_opts o = {start, duration, 0, 0};
    return schedule(cl, names, n, o, done, user);
}

/* rill_client_schedule, and rill_client_stream_start with a duration (its
 * values per buffer and block span too). */
static int schedule(rill_client *cl, const char *const *names, size_t n,
                    rill_client_stream_opts o, rill_client_done_fn done,
                    void *user) {
    int rc = rill__client_check_names(cl, names, n);
    if (rc != 0)
        return rc;
    uint64_t start = o.start, duration = o.duration;
    if (n == 0 || duration == 0 || start > UINT64_MAX - duration) {
        if (n == 0)
            rill__log_error("schedule: no variables named: give at least one");
        else if (duration == 0)
            rill__log_error("schedule: a duration of 0 ticks: give how many ticks to stream");
        else
            rill__log_error("schedule: start tick %llu + duration %llu passes the last "
                            "tick (2^64 - 1): is a negative number behind them?",
                            (unsigned long long)start, (unsigned long long)duration);
        return RILL_EINVAL;
    }
    pthread_mutex_lock(&cl->req_lock);
    double rate;
    if (start == 0 && (rc = rill__client_soon(cl, n, &start, &rate)) != 0) {
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
        rill__var_state *st = &cl->vs[rill__client_find(cl, names[i])->id];
        if (st->sched >= 0 && --cl->sched[st->sched].pending == 0) {
            if (replaced != NULL)
                replaced[n_replaced++] = cl->sched[st->sched];
            else
                cl->sched_pending--;
        }
        st->sched = idx;
        st->sched_end = start + duration;
    }
    o.start = start;
    join_group(cl, names, n, &o);
    pthread_mutex_unlock(&cl->lock);
    /* A Bela sends the value at start + duration too; the client trims. */
    rc = send_watch(cl, names, n, start, duration, o.length);
    if (rc != 0) {
        pthread_mutex_lock(&cl->lock);
        for (size_t i = 0; i < n; i++) {
            rill__var_state *st = &cl->vs[rill__client_find(cl, names[i])->id];
            st->sched = -1;
            st->streaming = false;
        }
        cl->sched[idx].pending = 0;
        cl->sched_pending--;
        pthread_mutex_unlock(&cl->lock);
    }
    pthread_mutex_unlock(&cl->req_lock);
    for (size_t i = 0; i < n_replaced; i++)
        rill__client_schedule_finished(cl, replaced[i].fn, replaced[i].user,
                                       RILL_ECANCELED);
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
                            const char *const *names, size_t n, uint32_t period,
                            size_t n_values, double **values,
                            uint64_t **timestamps) {
    if (n == 0 || names == NULL || n_values == 0 || values == NULL ||
        timestamps == NULL || period > INT32_MAX)
        return RILL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (rill__client_find(cl, names[i]) == NULL)
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
    rc = kind == RILL__COLLECT_STREAM
             ? rill__client_soon(cl, n, &start, &rate)
             : rill__client_device_now(cl, &start, &rate);
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; i < n; i++) {
        rill__var_state *st = &cl->vs[rill__client_find(cl, names[i])->id];
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
    cl->collect_broken = false;
    pthread_mutex_unlock(&cl->lock);
    json_t *each = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(each, json_integer(kind == RILL__COLLECT_STREAM
                                                     ? (json_int_t)start
                                                     : (json_int_t)period));
    if (rc == 0)
        rc = rill__client_send_cmd(
            cl, kind == RILL__COLLECT_STREAM ? "watch" : "monitor", names, n,
            json_pack("{s:o}",
                      kind == RILL__COLLECT_STREAM ? "timestamps" : "periods",
                      each));
    else
        json_decref(each);
    /* The timeout, plus the time the values take at the device's rate. */
    double ticks =
        (double)n_values * (kind == RILL__COLLECT_STREAM ? 1 : period);
    uint64_t end =
        rill__client_deadline(cl) + (uint64_t)(ticks / rate * 1e9) + 50000000u;
    pthread_mutex_lock(&cl->lock);
    if (rc == 0)
        rc = rill__client_wait_for(cl, &cl->collect_done, end);
    if (rc == 0 && cl->collect_gap != NULL) {
        rill__log_error("values of %s were lost in transit (the device or "
                        "the network dropped buffers); nothing returned, "
                        "try again",
                        cl->collect_gap);
        rc = RILL_EIO;
    } else if (rc == 0 && cl->collect_broken) {
        rill__log_error("the connection to the device was lost while %zu "
                        "values were collected; nothing returned, try again "
                        "once it is back",
                        n_values);
        rc = RILL_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        rill__var_state *st = &cl->vs[rill__client_find(cl, names[i])->id];
        st->collect = RILL__COLLECT_NONE;
        st->mute = kind;
    }
    pthread_mutex_unlock(&cl->lock);
    if (kind == RILL__COLLECT_STREAM) {
        rill__client_send_cmd(cl, "unwatch", names, n, NULL);
    } else {
        json_t *off = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(off, json_integer(0));
        rill__client_send_cmd(cl, "monitor", names, n,
                              json_pack("{s:o}", "periods", off));
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
