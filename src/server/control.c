/* The Watcher's control channel on the device: a client's parsed commands
 * become stream commands for the tick thread, list replies, remote values
 * and log sessions. Network thread only.
 *
 * Commands are posted deferred and published together at the end of each
 * network-thread entry point (rill__publish_rt), so all the commands of one
 * client message take effect on the same tick: a watch of several
 * variables starts them all at once. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "proto/logfile.h"
#include "proto/native.h"
#include "proto/timesync.h"
#include "proto/wire.h"
#include "server/internal.h"

void rill__register_stream(rill_server *srv, rill__stream *s) {
    s->next = srv->streams;
    srv->streams = s;
    srv->n_streams++;
    s->var->net_n_streams++;
}

/* Commands are posted deferred and published together at the end of each
 * network-thread entry point (rill__publish_rt), so all the commands of one
 * client message take effect on the same tick: a watch of several
 * variables starts them all at once. */
int rill__post_rt(rill_server *srv, rill__rtcmd_kind kind, rill__stream *s,
                  uint64_t tick, uint64_t duration, uint32_t period) {
    rill__rtcmd c = {kind, period, s, tick, duration};
    int rc = rill_queue_post_deferred(srv->dev.cmds, &c, sizeof c);
    if (rc != 0)
        atomic_fetch_add(&srv->commands_rejected, 1);
    return rc;
}

void rill__publish_rt(rill_server *srv) {
    rill_queue_publish(srv->dev.cmds);
}

/* Hand a stream back for freeing; retried from the drain if the queue is
 * momentarily full. */
void rill__release_stream(rill_server *srv, rill__stream *s) {
    if (s == NULL || s->releasing)
        return;
    if (rill__post_rt(srv, RILL__RT_RELEASE, s, 0, 0, 0) == 0)
        s->releasing = true;
    else
        srv->release_retry = true;
}

void rill__unlink_stream(rill_server *srv, rill__stream *s) {
    for (rill__stream **p = &srv->streams; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            srv->n_streams--;
            s->var->net_n_streams--;
            return;
        }
    }
}

static bool stream_running(const rill__stream *s) {
    int st = atomic_load_explicit(&s->pub_state, memory_order_acquire);
    return st == RILL__ST_YES || st == RILL__ST_STOPPING;
}

/* A log is listed as logging from its first tick until its file is
 * finished (log-ended clears the variable's log_stream): after the tick
 * thread ended it, the writer may still hold its last buffers, and a
 * client that reads the list to know when to fetch the file (pybela, a
 * compatibility-mode rill client) would fetch it short. From its first
 * tick means from `now` (the list's timestamp) reaching it, though the
 * stream may still be STARTING: a compatibility stream turns YES at the
 * variable's next assignment, after the tick was published, and a list
 * in between told a client that the log had already ended. */
static bool log_unfinished(const rill__stream *s, uint64_t now) {
    int st = atomic_load_explicit(&s->pub_state, memory_order_acquire);
    bool started = atomic_load_explicit(&s->pub_started, memory_order_acquire);
    return stream_running(s) || (st == RILL__ST_NO && started) ||
           (st == RILL__ST_STARTING && started &&
            atomic_load_explicit(&s->pub_start, memory_order_relaxed) <= now);
}

static void send_list(rill_server *srv, rill__conn *c, const rill__cmd_id *id) {
    size_t n = rill__n_vars(srv);
    rill__var_snapshot *snap = rill__calloc(n ? n : 1, sizeof *snap);
    if (snap == NULL)
        return;
    uint64_t now = rill_server_now(srv); /* the reply's timestamp */
    for (size_t i = 0; i < n; i++) {
        rill_var *v = srv->dev.vars[i];
        rill__stream *w = c->native ? c->sub_buf[i] : v->compat_watch;
        rill__stream *m = c->native ? c->sub_mon[i] : v->compat_monitor;
        snap[i] = (rill__var_snapshot){
            .name = v->name,
            .type = v->type,
            .ts_mode = v->mode,
            .watched = w != NULL && stream_running(w),
            .logged = v->log_stream != NULL && log_unfinished(v->log_stream, now),
            .controlled = atomic_load(&v->controlled),
            .monitor =
                m ? atomic_load_explicit(&m->pub_period, memory_order_acquire)
                  : 0,
            .log_file_name = v->log_file_name,
            .value = rill_var_get(v),
            .value_input = rill__bits_to_double(
                atomic_load_explicit(&v->local_bits, memory_order_relaxed)),
        };
    }
    /* Native clients see the audio description; compatibility clients
     * never do. */
    char *audio = c->native ? rill__audio_description(srv) : NULL;
    char *text = NULL;
    size_t len = 0;
    if (rill__cmd_list_reply_audio(rill__server_rate(srv), now, snap, n, id, audio,
                                   &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
    rill__free(audio);
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
    atomic_store_explicit(&v->remote_bits,
                          rill__double_to_bits(as_var_type(v, d)),
                          memory_order_relaxed);
}

static double remote(const rill_var *v) {
    return rill__bits_to_double(
        atomic_load_explicit(&v->remote_bits, memory_order_relaxed));
}

static const char *busy_message =
    "server busy: the command queue to the tick thread is full (is the "
    "device program calling rill_server_tick?); try again";

/* The tick thread's tables are fixed: refuse here, with a reason (in
 * `why`), what it could not hold (per server, and per variable). */
static bool too_many_streams(rill_server *srv, const rill__cmd *cmd,
                             const rill__cmd_entry *e, const rill_var *v,
                             char *why, size_t cap) {
    if (srv->n_streams >= srv->max_streams) {
        snprintf(why, cap,
                 "%s: the server already runs %zu streams, its limit; \"%s\" "
                 "skipped",
                 cmd->name, srv->n_streams, e->name);
        return true;
    }
    if (v->net_n_streams >= RILL__VAR_MAX_STREAMS) {
        snprintf(why, cap,
                 "%s: \"%s\" already has %d streams (clients watching, "
                 "monitoring or logging it), its limit; skipped",
                 cmd->name, e->name, RILL__VAR_MAX_STREAMS);
        return true;
    }
    return false;
}

/* ---- Log sessions -----------------------------------------------------------
 *
 * Spec §6: a log file is created and its header written before the
 * command reaches the tick thread, so the next list reply already names
 * it. The log writer thread creates it (no disk I/O here), so a message
 * with log commands runs in two steps. First every log entry is checked
 * and its file asked for (prepare_logs); the message then waits, and so
 * does whatever its connection sends after it, until the writer has
 * answered for each file (rill__control_log_answered). Then the whole
 * message runs as any other, its log entries taking their files in order
 * (start_log), and the messages that waited behind it follow. */

/* A log entry of a waiting message: its stream (the file asked for), or
 * why it was refused. */
typedef struct rill__pending_log {
    const rill__cmd_entry *entry;
    rill__stream *stream;
    rill__stream *old; /* the variable's log stream before this one */
    bool answered, opened;
    char why[300];
} rill__pending_log;

static void prepare_log(rill_server *srv, rill__conn *c, const rill__cmd *cmd,
                        const rill__cmd_entry *e, rill_var *v,
                        rill__pending_log *p) {
    rill__stream *old = v->log_stream;
    p->entry = e;
    p->old = old;
    /* Busy while logging, and from the log command until the tick thread
     * takes it (two quick logs would otherwise both run). */
    if (old != NULL &&
        (atomic_load_explicit(&old->pub_state, memory_order_acquire) !=
             RILL__ST_NO ||
         !atomic_load_explicit(&old->pub_started, memory_order_acquire))) {
        /* Its file's name is the writer's until the writer said OPENED. */
        snprintf(p->why, sizeof p->why,
                 "log: \"%s\" is already being logged (or scheduled) to %s; "
                 "skipped, send unlog first",
                 v->name, old->log_named ? old->log_name : "a file being made");
        return;
    }
    if (too_many_streams(srv, cmd, e, v, p->why, sizeof p->why))
        return;
    rill__stream *s =
        rill__stream_create(v, RILL__STREAM_BUFFER, RILL__SINK_LOG, true, 0);
    if (s == NULL) {
        snprintf(p->why, sizeof p->why, "log: out of memory");
        return;
    }
    double rate = rill__server_rate(srv);
    s->log_flush_ticks = rate >= 1 ? (uint64_t)rate : 1; /* a second */
    if (rill__logwriter_open(srv->logwriter, s) != 0) {
        rill__stream_destroy(s);
        snprintf(p->why, sizeof p->why,
                 "log: server busy: too many log files are being created; "
                 "try again");
        return;
    }
    s->log_waiter = c;
    rill__register_stream(srv, s);
    v->log_stream = s;
    p->stream = s;
    c->logs_waiting++;
}

/* A prepared log stream that does not start: the variable's log stream is
 * what it was. The writer may hold its file (opened): it closes it first. */
static void drop_log(rill_server *srv, rill__pending_log *p) {
    rill__stream *s = p->stream;
    if (s->var->log_stream == s)
        s->var->log_stream = p->old;
    s->log_waiter = NULL;
    if (p->opened && rill__logwriter_discard(srv->logwriter, s) == 0)
        return; /* released when the writer says DISCARDED */
    rill__unlink_stream(srv, s);
    rill__stream_destroy(s);
}

/* Run time of a log entry: its file is there (or why not); start it. */
static void start_log(rill_server *srv, rill__conn *c, const rill__cmd *cmd,
                      const rill__cmd_entry *e, rill_var *v) {
    rill__pending_log *p = NULL;
    for (size_t i = 0; i < c->n_logs && p == NULL; i++)
        if (c->logs[i].entry == e)
            p = &c->logs[i];
    if (p == NULL) { /* rill_var_create ran while the message waited */
        rill__send_error_text(c, cmd, e,
                              "log: \"%s\" was created while this message "
                              "waited for other log files; send the log "
                              "command again",
                              v->name);
        return;
    }
    if (p->stream == NULL) {
        rill__send_error_text(c, cmd, e, "%s", p->why);
        return;
    }
    rill__stream *s = p->stream;
    if (!p->opened) {
        rill__send_error_text(c, cmd, e, "log: %s", s->log_error);
        drop_log(srv, p);
        return;
    }
    if (rill__post_rt(srv, RILL__RT_START, s, e->timestamp, e->duration, 0) !=
        0) {
        rill__send_error_text(c, cmd, e, "log: %s", busy_message);
        drop_log(srv, p);
        return;
    }
    s->log_waiter = NULL;
    snprintf(v->log_file_name, sizeof v->log_file_name, "%s", s->log_name);
}

/* The stream a native client has for `v`, created on first use. A watch
 * asking for a different buffer length replaces it. */
static rill__stream *native_stream(rill_server *srv, rill__conn *c,
                                   const rill__cmd *cmd,
                                   const rill__cmd_entry *e, rill_var *v,
                                   rill__stream_kind kind, uint32_t length) {
    rill__stream **slot =
        kind == RILL__STREAM_MONITOR ? &c->sub_mon[v->id] : &c->sub_buf[v->id];
    rill__stream *s = *slot;
    if (s != NULL && kind == RILL__STREAM_BUFFER && s->capacity != length) {
        s->conn = NULL;
        rill__release_stream(srv, s);
        *slot = s = NULL;
    }
    if (s != NULL)
        return s;
    char why[300];
    if (too_many_streams(srv, cmd, e, v, why, sizeof why)) {
        rill__send_error_text(c, cmd, e, "%s", why);
        return NULL;
    }
    s = rill__stream_create(v, kind, RILL__SINK_CLIENT, false, length);
    if (s == NULL) {
        rill__send_error_text(c, cmd, e, "%s: out of memory", cmd->name);
        return NULL;
    }
    s->conn = c;
    rill__register_stream(srv, s);
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
        rill__send_error_text(
            c, cmd, e,
            "%s: \"%s\" has id %u, and compatibility (pybela) "
            "clients can only address ids 0 to 99; use native "
            "mode; skipped",
            cmd->name, v->name, v->id);
        return;
    }
    switch (cmd->kind) {
    case RILL__CMD_WATCH:
        if (c->native) {
            uint32_t len =
                e->has_length
                    ? e->length
                    : (uint32_t)rill__bela_values_per_buffer(v->type, v->mode);
            s = native_stream(srv, c, cmd, e, v, RILL__STREAM_BUFFER, len);
            if (s == NULL)
                return;
        } else {
            s = v->compat_watch;
            s->net_stopped = false; /* a new session; the last one ended */
            s->net_end_conns = srv->next_conn_id;
        }
        rc = rill__post_rt(srv, RILL__RT_START, s, e->timestamp, e->duration,
                           ++s->net_runs);
        break;
    case RILL__CMD_UNWATCH:
        s = c->native ? c->sub_buf[v->id] : v->compat_watch;
        if (s != NULL && !c->native) {
            s->net_stopped = true;
            s->net_end_conns = srv->next_conn_id;
        }
        if (s != NULL)
            rc = rill__post_rt(srv, RILL__RT_STOP, s, e->timestamp, 0, 0);
        break;
    case RILL__CMD_MONITOR:
        s = c->native
                ? native_stream(srv, c, cmd, e, v, RILL__STREAM_MONITOR, 0)
                : v->compat_monitor;
        if (s == NULL)
            return;
        atomic_store_explicit(&s->pub_period, e->period, memory_order_release);
        rc = rill__post_rt(srv, RILL__RT_MONITOR, s, 0, 0, e->period);
        break;
    case RILL__CMD_LOG:
        start_log(srv, c, cmd, e, v);
        return;
    case RILL__CMD_UNLOG:
        if (v->log_stream != NULL)
            rc = rill__post_rt(srv, RILL__RT_STOP, v->log_stream, e->timestamp,
                               0, 0);
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
        uint32_t bits =
            (mask_base(v) & ~e->mask) | ((uint32_t)e->value & e->mask);
        set_remote(v, v->type == RILL_TYPE_INT32 ? (double)(int32_t)bits
                                                 : (double)bits);
        return;
    }
    case RILL__CMD_LIST:
    case RILL__CMD_UNKNOWN:
        return;
    }
    if (rc != 0)
        rill__send_error_text(c, cmd, e, "%s: %s", cmd->name, busy_message);
}

static void run_cmd(rill_server *srv, rill__conn *c, const rill__cmd *cmd) {
    /* A connection that closed while this message waited gets no replies,
     * and a native one's own streams are gone: only what outlives it runs
     * (logs, control, values, the compatibility streams all share). */
    bool own = cmd->kind == RILL__CMD_WATCH || cmd->kind == RILL__CMD_UNWATCH ||
               cmd->kind == RILL__CMD_MONITOR;
    if (c->gone && (cmd->kind == RILL__CMD_LIST || (c->native && own)))
        return;
    if (cmd->kind == RILL__CMD_LIST) {
        send_list(srv, c, &cmd->id);
        return;
    }
    for (size_t i = 0; i < cmd->n_entries; i++) {
        const rill__cmd_entry *e = &cmd->entries[i];
        rill_var *v = rill__var_find(srv, e->name);
        if (v == NULL) {
            rill__send_error_text(
                c, cmd, e,
                "%s: unknown variable \"%s\"; skipped (a list "
                "command gives the names)",
                cmd->name, e->name);
            continue;
        }
        run_entry(srv, c, cmd, e, v);
    }
}

void rill__conn_set_active(rill_server *srv, rill__conn *c, bool active) {
    if (c->active == active)
        return;
    c->active = active;
    atomic_fetch_add(&srv->dev.compat_active, active ? 1 : -1);
}

/* {"rill":"hello","version":1} switches a control socket to native mode.
 * Old clients never send it and never see native messages. */
void rill__control_hello(rill_server *srv, rill__conn *c) {
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
            rill__send_error_text(c, NULL, NULL, "hello: out of memory");
            return;
        }
        c->native = true;
        rill__conn_set_active(srv, c,
                              false); /* native data ignores the active set */
    }
    /* "run" and "firstTick" tell a client that reconnects whether this is
     * the device it lost, and whether ticks began again. */
    uint64_t first =
        atomic_load_explicit(&srv->dev.pub_first, memory_order_acquire);
    rill__jv m[] = {
        RILL__JV_S("rill", "hello"),
        RILL__JV_U("version", RILL__CONTROL_VERSION), /* proto/timesync.h */
        RILL__JV_U("maxValues", RILL__CMD_MAX_LENGTH),
        RILL__JV_U("queueBytes", srv->cfg.client_queue_bytes),
        RILL__JV_D("sampleRate", rill__server_rate(srv)),
        RILL__JV_U("run", srv->run_id),
        srv->cfg.block_ticks != 0
            ? (rill__jv)RILL__JV_U("blockTicks", srv->cfg.block_ticks)
            : (rill__jv)RILL__JV_NONE,
        first != 0 ? (rill__jv)RILL__JV_U("firstTick", first - 1)
                   : (rill__jv)RILL__JV_NONE,
    };
    char *text = NULL;
    size_t len = 0;
    if (rill__json_object(m, RILL__JV_COUNT(m), &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
}

/* Everything of a parsed message after its parse errors: its event, its
 * commands, published together. A connection that closed while the
 * message waited runs only what outlives it (see run_cmd). */
static void run_message(rill_server *srv, rill__conn *c,
                        const rill__cmd_msg *msg) {
    if (!c->gone) {
        if (msg->event == RILL__EVENT_CONNECTION_REPLY ||
            msg->event == RILL__EVENT_ACTIVE)
            rill__conn_set_active(srv, c, !c->native);
        else if (msg->event == RILL__EVENT_INACTIVE)
            rill__conn_set_active(srv, c, false);
    }
    for (size_t i = 0; i < msg->n_cmds; i++)
        run_cmd(srv, c, &msg->cmds[i]);
    rill__publish_rt(srv);
}

/* The log entries a message will run: those of log commands whose
 * variable exists (run_cmd skips the others). */
static size_t count_logs(rill_server *srv, const rill__cmd_msg *msg) {
    size_t n = 0;
    for (size_t i = 0; i < msg->n_cmds; i++)
        if (msg->cmds[i].kind == RILL__CMD_LOG)
            for (size_t k = 0; k < msg->cmds[i].n_entries; k++)
                n += rill__var_find(srv, msg->cmds[i].entries[k].name) != NULL;
    return n;
}

static void free_logs(rill__conn *c) {
    rill__free(c->logs);
    c->logs = NULL;
    c->n_logs = 0;
}

void rill__control_message(rill_server *srv, rill__conn *c, const char *text,
                           size_t len) {
    rill__cmd_msg *msg = NULL;
    if (rill__cmd_parse(text, len, &msg) != 0) {
        rill__send_error_text(c, NULL, NULL, "out of memory parsing a message");
        return;
    }
    for (size_t i = 0; i < msg->n_errors; i++)
        rill__send_error(c, &msg->errors[i]);
    size_t n_logs = msg->status == 0 ? count_logs(srv, msg) : 0;
    if (n_logs != 0) {
        c->logs = rill__calloc(n_logs, sizeof *c->logs);
        if (c->logs == NULL) {
            rill__send_error_text(c, NULL, NULL,
                                  "out of memory running a message; nothing "
                                  "of it was done");
            rill__cmd_msg_destroy(msg);
            return;
        }
        c->n_logs = n_logs;
        size_t k = 0;
        for (size_t i = 0; i < msg->n_cmds; i++) {
            const rill__cmd *cmd = &msg->cmds[i];
            for (size_t j = 0; cmd->kind == RILL__CMD_LOG && j < cmd->n_entries;
                 j++) {
                rill_var *v = rill__var_find(srv, cmd->entries[j].name);
                if (v != NULL)
                    prepare_log(srv, c, cmd, &cmd->entries[j], v,
                                &c->logs[k++]);
            }
        }
        if (c->logs_waiting != 0) {
            c->deferred = msg; /* rill__control_log_answered runs it */
            return;
        }
    }
    if (msg->status == 0)
        run_message(srv, c, msg);
    free_logs(c);
    rill__cmd_msg_destroy(msg);
}

/* The log writer answered for a file a waiting message asked for: when it
 * has answered for all of them, the message runs, then the messages that
 * waited behind it. Network thread (the drain). */
void rill__control_log_answered(rill_server *srv, rill__stream *s,
                                bool opened) {
    rill__conn *c = s->log_waiter;
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_logs; i++) {
        if (c->logs[i].stream == s && !c->logs[i].answered) {
            c->logs[i].answered = true;
            c->logs[i].opened = opened;
            c->logs_waiting--;
        }
    }
    if (c->logs_waiting != 0 || c->deferred == NULL)
        return;
    rill__cmd_msg *msg = c->deferred;
    c->deferred = NULL;
    run_message(srv, c, msg);
    free_logs(c);
    rill__cmd_msg_destroy(msg);
    c->resume = true; /* the drain replays what it held (server.c) */
}

/* A log file's write failed: every control client is told, with the file's
 * whole path however long the log directory's (the message is sized to
 * it, never cut), as an error naming the variable (PROTOCOL.md). */
static void log_failed(rill_server *srv, const rill__stream *s, int err) {
    static const char fmt[] = "logging %s to %s/%s failed: %s; the file keeps "
                              "every buffer written before the failure";
    const char *var = s->var->name, *why = strerror(err);
    rill__log_error("logging %s to %s/%s failed: %s", var, srv->log_dir,
                    s->log_name, why);
    int n = snprintf(NULL, 0, fmt, var, srv->log_dir, s->log_name, why);
    char *message = n > 0 ? rill__malloc((size_t)n + 1) : NULL;
    if (message == NULL)
        return;
    snprintf(message, (size_t)n + 1, fmt, var, srv->log_dir, s->log_name, why);
    rill__jv e[] = {RILL__JV_S("message", message),
                    RILL__JV_S("variable", var)};
    rill__jv m[] = {RILL__JV_O("error", e, RILL__JV_COUNT(e))};
    rill__broadcast_object(srv, m, RILL__JV_COUNT(m));
    rill__free(message);
}

/* The log writer fell behind and `buffers` of the file were dropped:
 * every control socket is told, as of the file's end, so that whoever
 * asked for the log knows the file lacks them:
 * {"event":"log-dropped","buffers":N,"logFileName":F,"total":T,"variable":V}.
 * The log writer says it at most every 100 ms per file. */
static void log_dropped(rill_server *srv, const rill__stream *s,
                        uint64_t buffers, uint64_t total) {
    rill__log_warn("the log writer fell behind: %llu buffers of %s dropped "
                   "from %s/%s (%llu in all; a slow disk?)",
                   (unsigned long long)buffers, s->var->name, srv->log_dir,
                   s->log_name, (unsigned long long)total);
    rill__jv m[] = {
        RILL__JV_S("event", "log-dropped"), RILL__JV_U("buffers", buffers),
        RILL__JV_S("logFileName", s->log_name), RILL__JV_U("total", total),
        RILL__JV_S("variable", s->var->name)};
    rill__broadcast_object(srv, m, RILL__JV_COUNT(m));
}

/* The log writer's events: a file made (or not) for a waiting message; a
 * file closed or given up on, which the clients are told of, and whose
 * stream goes back; a file discarded, whose stream never started. */
void rill__control_log_events(rill_server *srv) {
    rill__log_ev ev;
    while (rill__logwriter_poll(srv->logwriter, &ev) == 0) {
        rill__stream *s = ev.stream;
        const char *var = s->var->name;
        if (ev.kind == RILL__LOG_EV_OPENED ||
            ev.kind == RILL__LOG_EV_OPEN_FAILED) {
            s->log_named = ev.kind == RILL__LOG_EV_OPENED;
            rill__control_log_answered(srv, s, ev.kind == RILL__LOG_EV_OPENED);
            continue;
        }
        if (ev.kind == RILL__LOG_EV_DISCARDED) { /* never started */
            rill__unlink_stream(srv, s);
            rill__stream_destroy(s);
            continue;
        }
        if (ev.kind == RILL__LOG_EV_FAILED) {
            log_failed(srv, s, ev.err);
            continue;
        }
        if (ev.kind == RILL__LOG_EV_DROPPED) {
            log_dropped(srv, s, ev.buffers, ev.total);
            continue;
        }
        /* A file that lost buffers says how many in all (the writer is
         * done with the stream: its counts are this thread's now). */
        rill__jv m[] = {RILL__JV_S("event", "log-ended"),
                        s->log_dropped != 0
                            ? (rill__jv)RILL__JV_U("dropped", s->log_dropped)
                            : (rill__jv)RILL__JV_NONE,
                        RILL__JV_S("logFileName", s->log_name),
                        RILL__JV_S("variable", var)};
        rill__broadcast_object(srv, m, RILL__JV_COUNT(m));
        if (s->var->log_stream == s)
            s->var->log_stream = NULL;
        rill__release_stream(srv, s);
    }
}

/* A connection that closes while its message waits stays (closing, off
 * the server's list) until the message has run; at destroy, when nothing
 * will answer any more, its prepared logs are dropped. */
void rill__control_forget(rill_server *srv, rill__conn *c) {
    for (size_t i = 0; i < c->n_logs; i++)
        if (c->logs[i].stream != NULL) {
            c->logs[i].stream->log_waiter = NULL;
        }
    (void)srv;
    free_logs(c);
    rill__cmd_msg_destroy(c->deferred);
    c->deferred = NULL;
    c->logs_waiting = 0;
}
