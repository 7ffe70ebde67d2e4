/* What a session with a device needs around client.c's single requests:
 * checking a device URL before connecting, the tick a start "now" is put
 * at (client.c's, which its own requests use), and waiting until the
 * device has finished its log files. See the end of
 * include/rill/client.h.
 *
 * Log completion comes from the device's own notices, read on the I/O
 * thread (rill__client_log_notice): log-scheduled when a log starts,
 * log-ended when its file is complete and closed, and an error naming the
 * variable when a write to the file failed (docs/PROTOCOL.md). A Bela
 * board sends no log-ended notice, so in compatibility mode the wait
 * reads the device's list instead.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"

/* ---- URLs ------------------------------------------------------------------
 */

/* ws://HOST[:PORT][/...]: the one place a device URL is read, so that a
 * program can refuse a typo before connecting with the words the
 * connection would have used. */
int rill_client_parse_url(const char *url, char *host, size_t host_size,
                          int *port, char *why, size_t why_size) {
    char scratch[1];
    if (why == NULL || why_size == 0) {
        why = scratch;
        why_size = sizeof scratch;
    }
    why[0] = '\0';
    if (url == NULL || (host != NULL && host_size == 0)) {
        snprintf(why, why_size, "is not a URL");
        return RILL_EINVAL;
    }
    if (strncmp(url, "ws://", 5) != 0) {
        snprintf(why, why_size,
                 "is not a ws:// URL: write ws://HOST[:PORT], e.g. "
                 "ws://127.0.0.1:5555 or ws://bela.local:5555%s",
                 strncmp(url, "wss://", 6) == 0
                     ? " (rill speaks plain ws:// only)"
                     : "");
        return RILL_EINVAL;
    }
    const char *h = url + 5;
    size_t hl = strcspn(h, ":/");
    const char *after = h + hl; /* the port's ':', the path's '/' or the end */
    if (h[0] == '[') {
        /* An IPv6 address, ws://[::1]:5555: the host is what the brackets
         * hold. */
        const char *close = strchr(h, ']');
        if (close == NULL || close == h + 1 ||
            (close[1] != '\0' && close[1] != ':' && close[1] != '/')) {
            snprintf(why, why_size,
                     "has a bad IPv6 address: write ws://[ADDRESS]:PORT, e.g. "
                     "ws://[::1]:5555");
            return RILL_EINVAL;
        }
        h++;
        hl = (size_t)(close - h);
        after = close + 1;
    }
    size_t cap = host != NULL ? RILL__MIN(host_size, (size_t)256) : 256;
    if (hl == 0) {
        snprintf(why, why_size,
                 "has no host name: write ws://HOST[:PORT], e.g. "
                 "ws://127.0.0.1:5555");
        return RILL_EINVAL;
    }
    if (hl >= cap) {
        snprintf(why, why_size, "has too long a host name (at most %zu bytes)",
                 cap - 1);
        return RILL_EINVAL;
    }
    long p = 5555;
    if (*after == ':') {
        const char *digits = after + 1;
        size_t nd = strspn(digits, "0123456789");
        p = nd > 0 && nd <= 5 ? strtol(digits, NULL, 10) : 0;
        if (p < 1 || p > 65535 || (digits[nd] != '\0' && digits[nd] != '/')) {
            snprintf(why, why_size,
                     "has a bad port: give a number from 1 to 65535 "
                     "(rill serve and Bela use 5555)");
            return RILL_EINVAL;
        }
    }
    if (host != NULL) {
        memcpy(host, h, hl);
        host[hl] = '\0';
    }
    if (port != NULL)
        *port = (int)p;
    return 0;
}

/* ---- The tick to start at
 * ---------------------------------------------------- */

int rill_client_start_tick(rill_client *cl, uint64_t *tick) {
    if (cl == NULL || tick == NULL)
        return RILL_EINVAL;
    double rate;
    pthread_mutex_lock(&cl->req_lock);
    int rc = rill__client_soon(cl, cl->vars->n_vars, tick, &rate);
    pthread_mutex_unlock(&cl->req_lock);
    return rc;
}

/* ---- Log completion
 * ------------------------------------------------------------ */

static rill__var_state *var_named(rill_client *cl, json_t *name) {
    const char *s = json_string_value(name);
    if (s == NULL || cl->vs == NULL)
        return NULL;
    for (size_t i = 0; i < cl->vars->n_vars; i++)
        if (strcmp(cl->vars->vars[i].name, s) == 0)
            return &cl->vs[i];
    return NULL;
}

/* A tick in a notice: rill serve's "no end" is 2^64 - 1, which the
 * decoder read as a real (too big for jansson's integers). */
static uint64_t tick_of(json_t *v, uint64_t otherwise) {
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    if (!json_is_real(v))
        return otherwise;
    double d = json_real_value(v);
    return d >= 18446744073709551615.0 ? UINT64_MAX : d > 0 ? (uint64_t)d : 0;
}

static void copy_name(char *dst, size_t cap, json_t *s) {
    snprintf(dst, cap, "%s", json_is_string(s) ? json_string_value(s) : "");
}

/* The notices, as docs/PROTOCOL.md writes them:
 *   {"watcher":{"logFileName":F,"timestamp":S,"timestampEnd":E,"watcher":X}}
 *   {"event":"log-ended"[,"dropped":T],"logFileName":F,"variable":X}
 *   {"event":"log-dropped","buffers":N,"logFileName":F,"total":T,
 *    "variable":X}
 *   {"error":{"message":"logging X to ... failed: ...","variable":X}}
 * The last is the only error that names a variable but no command: a
 * command's refusal always carries its "cmd". A file that lost buffers
 * (log-dropped, or log-ended's "dropped") is not whole, as one whose write
 * failed: rill_client_log_wait returns RILL_EIO. */
void rill__client_log_notice(rill_client *cl, json_t *root, rill__event *out) {
    json_t *w = json_object_get(root, "watcher");
    json_t *ev = json_object_get(root, "event");
    json_t *err = json_object_get(root, "error");
    rill__var_state *st;
    out->ev.kind = 0;
    if (json_is_object(w) && json_object_get(w, "logFileName") != NULL &&
        (st = var_named(cl, json_object_get(w, "watcher"))) != NULL) {
        copy_name(st->log_file, sizeof st->log_file,
                  json_object_get(w, "logFileName"));
        st->log_from = tick_of(json_object_get(w, "timestamp"), 0);
        st->log_to = tick_of(json_object_get(w, "timestampEnd"), UINT64_MAX);
        st->log_failed = false;
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "log-ended") == 0 &&
               (st = var_named(cl, json_object_get(root, "variable"))) !=
                   NULL) {
        copy_name(st->log_done, sizeof st->log_done,
                  json_object_get(root, "logFileName"));
        if (json_integer_value(json_object_get(root, "dropped")) > 0 &&
            strcmp(st->log_done, st->log_file) == 0)
            st->log_failed = true;
        st->log_done_failed =
            st->log_failed && strcmp(st->log_done, st->log_file) == 0;
        pthread_cond_broadcast(&cl->cond);
    } else if (json_is_string(ev) &&
               strcmp(json_string_value(ev), "log-dropped") == 0 &&
               (st = var_named(cl, json_object_get(root, "variable"))) !=
                   NULL) {
        json_t *file = json_object_get(root, "logFileName");
        uint64_t n =
            (uint64_t)json_integer_value(json_object_get(root, "buffers"));
        if (json_is_string(file) &&
            strcmp(json_string_value(file), st->log_file) == 0)
            st->log_failed = true;
        st->log_dropped += n;
        atomic_fetch_add(&cl->log_dropped, n);
        memset(out, 0, sizeof *out);
        out->ev.kind = RILL_CLIENT_EVENT_LOG_DROPPED;
        out->ev.var_id = (uint32_t)(st - cl->vs);
        out->ev.buffers = n;
        const char *name = cl->vars->vars[out->ev.var_id].name;
        snprintf(out->name, sizeof out->name, "%s", name);
        copy_name(out->file, sizeof out->file, file);
        rill__set_err(
            out->msg, sizeof out->msg,
            "the device dropped %llu buffers of %s's log file %s (%lld in "
            "all): its log writer could not keep up (a slow disk?); the "
            "file lacks them",
            (unsigned long long)n, name, out->file,
            (long long)json_integer_value(json_object_get(root, "total")));
    } else if (json_is_object(err) && json_object_get(err, "cmd") == NULL &&
               (st = var_named(cl, json_object_get(err, "variable"))) != NULL) {
        st->log_failed = true;
    }
}

/* Native mode: the device said `file` is finished (log-ended). lock held. */
static bool ended(const rill_client *cl, const char *file, bool *failed) {
    for (size_t i = 0; i < cl->vars->n_vars; i++) {
        if (strcmp(cl->vs[i].log_done, file) == 0) {
            *failed |= cl->vs[i].log_done_failed;
            return true;
        }
    }
    return false;
}

/* Compatibility mode (a Bela board sends no log-ended): `file` is finished
 * when its variable's log has started (the log-scheduled notice gave its
 * first tick, and the device's clock is past it) and the list no longer
 * shows the variable logging that file. lock held. */
static bool listed_ended(const rill_client *cl, const rill_client_list *l,
                         const char *file, bool *failed) {
    for (size_t i = 0; i < cl->vars->n_vars && i < l->n_vars; i++) {
        const rill__var_state *st = &cl->vs[i];
        if (strcmp(st->log_file, file) != 0)
            continue;
        const rill_client_var *v = &l->vars[i];
        if (l->timestamp < st->log_from ||
            (v->logged && strcmp(v->log_file_name, file) == 0))
            return false;
        *failed |= st->log_failed;
        return true;
    }
    return false; /* not started yet: no log-scheduled notice for it */
}

/* Native mode waits on the notices; compatibility mode asks for the list
 * every 100 ms, and so does native mode once the connection was lost and
 * restored (reconnect.c): a notice sent meanwhile never came. While the
 * client reconnects, it waits. */
int rill_client_log_wait(rill_client *cl, const rill_client_log_file *files,
                         size_t n, int timeout_ms) {
    if (cl == NULL || (n > 0 && files == NULL))
        return RILL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (files[i].name[0] == '\0')
            return RILL_EINVAL;
    uint64_t end = timeout_ms < 0
                       ? UINT64_MAX
                       : rill_clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        rill_client_list *l = NULL;
        bool by_list = !cl->native || atomic_load(&cl->reconnects) != 0;
        int rc = by_list ? rill_client_list_vars(cl, &l) : 0;
        if (rc != 0 && rc != RILL_EAGAIN)
            return rc;
        pthread_mutex_lock(&cl->lock);
        bool failed = false;
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            bool done = cl->native && ended(cl, files[i].name, &failed);
            if (!done && l != NULL)
                done = listed_ended(cl, l, files[i].name, &failed);
            left += !done;
        }
        uint64_t now = rill_clock_now_ns();
        if (left == 0)
            rc = failed ? RILL_EIO : 0;
        else if (atomic_load(&cl->closed))
            rc = RILL_ECLOSED;
        else if (now >= end)
            rc = RILL_ETIMEOUT;
        else if (!by_list)
            rill__cond_wait_ns(&cl->cond, &cl->lock,
                               RILL__MIN(end - now, (uint64_t)50000000));
        else
            rc = 0; /* RILL_EAGAIN: reconnecting; ask again */
        pthread_mutex_unlock(&cl->lock);
        rill_client_list_free(l);
        if (left == 0 || rc != 0)
            return rc;
        if (by_list)
            rill_clock_sleep_until_ns(RILL__MIN(end, now + 100000000u));
    }
}

int rill_client_log_span(rill_client *cl, const char *file, uint64_t *start,
                         uint64_t *end) {
    if (cl == NULL || file == NULL || start == NULL || end == NULL)
        return RILL_EINVAL;
    int rc = RILL_ENOTFOUND;
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; cl->vs != NULL && i < cl->vars->n_vars; i++) {
        const rill__var_state *st = &cl->vs[i];
        if (file[0] != '\0' && strcmp(st->log_file, file) == 0) {
            *start = st->log_from;
            *end = st->log_to;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&cl->lock);
    return rc;
}
