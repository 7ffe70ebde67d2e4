/* The device side's insides, shared by the files of src/server/: the
 * server object, its connections and their messages, and what each file
 * offers the others. Everything here runs on the network thread unless it
 * says otherwise.
 *
 *   server.c    the libwebsockets callback, the message router, create/destroy
 *   netloop.c   the network thread's loop, its wake-ups, the drain, lws's log
 *   conn.c      a connection's outgoing queue, replies, batched writes
 *   control.c   Watcher commands: streams, lists, remote values, log sessions
 *   fanout.c    records to messages; tick and log events
 *   relay.c     the dashboard relay: handlers and their data, to every page
 *   exec.c      programs run for pages (allow_exec)
 *   script.c    the editor's scripts: private files, environment (exec.c)
 *   audio.c     the audio description and clients' changes to it
 *   devreq.c    the device-request thread (on_audio_change)
 *   http.c      HTTP, the Host, token and Origin checks, file serving
 *   logfiles_http.c  GET /files/ (the log files) and DELETE /files/<name>
 *   bela_project.c   the log directory of a Bela project (bela_project)
 *   webdir.c    the user's directories at /handlers/ and /examples/
 *   logwriter.c the log writer thread
 *   var.c       variables and the tick thread (device.h)
 *   device.c    the device's setup: rings, streams' memory, rill_var_create
 *   wsguard.c   closes a connection whose client frame is not masked
 *               (wsguard.h)
 */
#ifndef RILL_SERVER_INTERNAL_H
#define RILL_SERVER_INTERNAL_H

#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "proto/command.h"
#include "proto/json_out.h"
#include "rill/server.h"
#include "server/device.h"
#include "server/devreq.h"
#include "server/logwriter.h"

/* A message shared by every socket it is queued on. `data` has LWS_PRE
 * bytes of headroom that lws_write fills with the frame header. */
typedef struct rill__msg {
    uint32_t refs;
    bool binary;
    size_t len;
    uint8_t data[];
} rill__msg;

static inline uint8_t *rill__msg_payload(rill__msg *m) {
    return m->data + LWS_PRE;
}

/* Which WebSocket path a connection came in on. */
typedef enum conn_path { PATH_CONTROL = 0, PATH_DATA = 1 } conn_path;

struct rill__conn {
    rill_server *srv;
    struct lws *wsi;
    conn_path path;
    uint64_t id;
    char peer[64];
    bool active; /* counted in compat_active */
    bool native; /* said hello: gets its own streams on this socket */
    bool closing;

    /* Outgoing queue (a ring of message pointers), sent by rill__conn_write
     * straight from the messages. */
    rill__msg **q;
    size_t q_head, q_len, q_cap, q_bytes;
    bool blocked; /* the socket took less than offered: wait for lws's
                     WRITEABLE before writing again */
    uint64_t drops;
    uint32_t unannounced; /* /gui_data: drops not yet announced */
    uint64_t last_notice_ns;

    /* Incoming message being reassembled from fragments. */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    bool rx_too_big;

    /* Dashboard relay: a page subscribed with {"rill":"dash"}; handlers
     * this connection created as a program; handler data dropped for this
     * page since its last notice. */
    bool dash_page;
    uint32_t dash_handlers;
    uint32_t dash_unannounced;

    /* A control message waiting for the log writer to create its files
     * (control.c), and what arrived on this connection after it, held in
     * order (server.c). `gone`: it closed meanwhile; freed once the
     * message has run. */
    rill__cmd_msg *deferred;
    struct rill__pending_log *logs;
    size_t n_logs, logs_waiting;
    struct rill__held *held, *held_tail;
    bool gone;
    bool resume; /* its message has run: read again at the next drain */

    /* Native subscriptions, indexed by variable id (max_vars each). */
    rill__stream **sub_buf;
    rill__stream **sub_mon;
    uint32_t *pending_drop_notice; /* buffers dropped, not yet announced */

    rill__conn *next, *prev;
};

/* A dashboard handler the relay knows (relay.c). */
typedef struct rill__relay_handler {
    uint32_t id;    /* server-wide, what pages see */
    uint32_t local; /* the program's own id */
    rill__conn *owner;
    rill__msg *create; /* the latest handler event, rewritten */
} rill__relay_handler;

struct rill_server {
    rill_server_config cfg;
    char *host, *project, *token, *log_dir, *allow_origin, *web_root;
    char *handlers_dir, *examples_dir; /* webdir.c */
    char *script_interpreter;          /* exec.c, script.c */
    char *allow_hosts; /* --allow-host names, comma-separated, or NULL */

    rill__device dev;
    size_t max_streams;
    pthread_mutex_t vars_lock; /* user threads creating variables */

    struct lws_context *ctx;
    struct lws_vhost *vhost;
    /* How libwebsockets opens the files it serves (http.c). */
    struct lws_plat_file_ops fops;
    int port;
    /* This server's run, random, below 2^53 (so JavaScript reads it
     * exactly): in the hello reply, with the tick its clock began at, so
     * that a reconnecting client knows the device it lost from a
     * restarted one, and whether its ticks began again. */
    uint64_t run_id;
    pthread_t net_thread;
    bool net_started;
    atomic_bool stop;
    struct lws *wake_wsi; /* the tick thread's eventfd, as lws polls it */
    struct lws *timer_wsi; /* the housekeeping timerfd */
    long housekeeping_ns;  /* its period now */
    atomic_bool poked;    /* rill__server_poke: run the whole drain now */

    rill__logwriter *logwriter;

    /* Network thread. */
    rill__conn *conns;
    rill__conn *gone; /* closed while a message waited (see rill__conn) */
    uint64_t next_conn_id;
    rill__stream *streams; /* every stream, for lookup and final cleanup */
    size_t n_streams;
    rill__stream **released; /* EV_RELEASED seen, freed after the drain */
    size_t n_released;
    bool release_retry;      /* a release could not be posted: retry */
    uint64_t drained_bytes;  /* of records taken from `out`, ever (the
                                flood test in netloop.c) */
    uint8_t *values_scratch; /* client buffers converted to host order */

    atomic_ullong client_drops;
    atomic_ullong n_clients;
    uint64_t fd_refused;      /* network: connections refused at the fd limit */
    uint64_t fd_refused_said; /* network: when that was last logged (ns) */
    atomic_ullong commands_rejected;

    /* Programs run for pages (allow_exec), network thread. */
    struct rill__exec_job *jobs;
    size_t n_jobs;
    uint32_t next_job_id;

    /* Dashboard handlers, in creation order (network thread). */
    struct rill__relay_handler *dash;
    size_t n_dash, dash_cap;
    uint32_t next_dash_id;

    /* The audio description (rill_server_set_audio), written by user
     * threads under audio_lock: the description (`audio_declared`: there
     * is one) and its JSON; audio_gen counts the changes, audio_sent_gen
     * (network thread) the one announced last. */
    pthread_mutex_t audio_lock;
    bool audio_declared;
    rill_audio_desc audio;
    char *audio_json;
    uint64_t audio_gen;
    uint64_t audio_sent_gen;
    /* The reported sample rate (rill_server_set_sample_rate), audio_lock. */
    double sample_rate;

    /* Audio configuration changes, run by the device program's
     * on_audio_change on a thread of their own (devreq.h); NULL without. */
    rill__devreq *devreq;
};

static inline size_t rill__conn_limit(const rill__conn *c) {
    return c->srv->cfg.client_queue_bytes;
}

/* ---- server.c ----------------------------------------------------------- */

/* A connection whose waiting message has run (c->resume): what it held
 * runs now, in order, and it reads again (or, gone, it is freed). */
void rill__conn_resume(rill_server *srv, rill__conn *c);

/* ---- netloop.c ---------------------------------------------------------- */

/* Have the network thread run its whole drain (announcements, answers)
 * now rather than at its next housekeeping tick. Any thread but the tick
 * thread (it writes the eventfd unconditionally). _from: the same for a
 * callback taking a void * (the log writer's). */
void rill__server_poke(rill_server *srv);
void rill__server_poke_from(void *srv);

/* The network thread (pthread start routine; `arg` is the server). */
void *rill__net_main(void *arg);

/* Everything the other threads left for the network thread, sent. */
void rill__net_drain(rill_server *srv);

/* The housekeeping period: short while programs run for pages (busy). */
void rill__net_housekeeping(rill_server *srv, bool busy);

/* The eventfd and the housekeeping timerfd join the descriptors lws
 * polls. 0 or RILL_ESYS. */
int rill__net_adopt_fds(rill_server *srv);

/* libwebsockets' log hook (lws_set_log_level). */
void rill__net_lws_log(int level, const char *line);

/* ---- conn.c ------------------------------------------------------------- */

/* A message of `len` bytes (with LWS_PRE of headroom), one reference. */
rill__msg *rill__msg_new(size_t len, bool binary);
rill__msg *rill__msg_text(const char *text, size_t len);
void rill__msg_unref(rill__msg *m);

/* Queue `m` (a new reference) and ask lws for a write. */
int rill__conn_push(rill__conn *c, rill__msg *m);
/* Queue `m` only: the drain that queues data sends it (rill__conns_flush)
 * as soon as it has turned the waiting records into messages. */
int rill__conn_push_data(rill__conn *c, rill__msg *m);
/* Whether `need` more bytes of data fit in the queue. */
bool rill__conn_has_room(const rill__conn *c, size_t need);
/* Queue data messages (a pair goes in whole or not at all; sent by the
 * drain's flush); false: dropped. */
bool rill__conn_send_data(rill__conn *c, rill__msg *a, rill__msg *b);
/* Queue a control reply (never dropped; a client that owes too many is
 * disconnected). _owned frees `text` (rill__free); NULL is ignored. */
void rill__conn_send_text(rill__conn *c, const char *text, size_t len);
void rill__conn_send_owned(rill__conn *c, char *text, size_t len);
/* The JSON object of members m[0..n) to `c`, as rill__conn_send_owned
 * (nothing if it cannot be written: out of memory). */
void rill__conn_send_object(rill__conn *c, const rill__jv *m, size_t n);
/* True (and the connection closing) if `len` more bytes of messages that
 * are never dropped would leave it owing too much; `what` names them in the
 * log. */
bool rill__conn_owes_too_much(rill__conn *c, size_t len, const char *what);
/* A text message to every control socket. */
void rill__broadcast_control(rill_server *srv, const char *text, size_t len);
/* The JSON object of members m[0..n) to every control socket (nothing if
 * it cannot be written: out of memory). */
void rill__broadcast_object(rill_server *srv, const rill__jv *m, size_t n);
/* A drop notice to `to` (path or variable may be NULL). */
void rill__send_dropped(rill__conn *to, uint32_t buffers, uint64_t total,
                        const char *path, const char *variable);
/* Error replies: a built one, or one sentence about a command/entry. */
void rill__send_error(rill__conn *c, const rill__cmd_error *e);
void rill__send_error_text(rill__conn *c, const rill__cmd *cmd,
                           const rill__cmd_entry *entry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The "id" of a {"rill":...} request, and an error reply echoing it. */
rill__cmd_id rill__request_id(json_t *root);
void rill__request_error(rill__conn *c, const char *cmd, json_t *root,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write queued messages, many per system call, straight from them. -1: the
 * socket failed (close the connection). */
int rill__conn_write(rill__conn *c);
/* Send what every connection has queued, unless its socket is full (then
 * lws calls WRITEABLE later). Outside lws callbacks, on the network thread. */
void rill__conns_flush(rill_server *srv);
void rill__conn_bound_sndbuf(rill_server *srv, struct lws *wsi);
/* Acknowledge what the client sent at once (see conn.c). */
void rill__conn_quickack(struct lws *wsi);
void rill__conn_free(rill__conn *c);

/* ---- control.c ---------------------------------------------------------- */

void rill__register_stream(rill_server *srv, rill__stream *s);
void rill__unlink_stream(rill_server *srv, rill__stream *s);
/* Post a command for the tick thread (published by rill__publish_rt). */
int rill__post_rt(rill_server *srv, rill__rtcmd_kind kind, rill__stream *s,
                  uint64_t tick, uint64_t duration, uint32_t period);
void rill__publish_rt(rill_server *srv);
/* Hand a stream back for freeing (retried from the drain if need be). */
void rill__release_stream(rill_server *srv, rill__stream *s);
/* A compat socket joins or leaves the active ones (pybela's
 * connection-reply, a browser's "active"). */
void rill__conn_set_active(rill_server *srv, rill__conn *c, bool active);
/* {"rill":"hello"}: the control socket switches to native mode. */
void rill__control_hello(rill_server *srv, rill__conn *c);
/* A Watcher control message: parse it, run its commands (after its log
 * files exist, if it asks for any: then c->deferred holds it). */
void rill__control_message(rill_server *srv, rill__conn *c, const char *text,
                           size_t len);
/* The log writer's answer for a file a waiting message asked for. */
void rill__control_log_answered(rill_server *srv, rill__stream *s, bool opened);
/* Drop a waiting message (the server is being destroyed). */
void rill__control_forget(rill_server *srv, rill__conn *c);
/* The log writer's events (drain). */
void rill__control_log_events(rill_server *srv);

/* ---- fanout.c ----------------------------------------------------------- */

/* The tick thread's events and records (as messages), drop notices.
 * Returns true when it stopped with records left (a bounded amount per
 * call, so that sockets get serviced under a flood). */
bool rill__fanout(rill_server *srv);
/* Free the streams the tick thread let go of; retry releases. */
void rill__fanout_release(rill_server *srv);

/* ---- relay.c ------------------------------------------------------------ */

void rill__relay_subscribe(rill_server *srv, rill__conn *c, json_t *root);
/* "handler", "handler-data" or "handler-remove" from a program. */
void rill__relay_event(rill_server *srv, rill__conn *c, const char *event,
                       json_t *root);
/* A binary handler frame from a program. */
void rill__relay_frame(rill_server *srv, rill__conn *c, const uint8_t *data,
                       size_t len);
void rill__relay_conn_closed(rill_server *srv, rill__conn *c);
void rill__relay_free(rill_server *srv);
/* The second byte of a binary handler frame (its first is the version). */
#define RILL__HANDLER_FRAME_KIND 16

/* ---- exec.c ------------------------------------------------------------- */

void rill__exec_request(rill_server *srv, rill__conn *c, json_t *root);
void rill__exec_stop_request(rill_server *srv, rill__conn *c, json_t *root);
void rill__exec_poll(rill_server *srv);
void rill__exec_conn_closed(rill_server *srv, rill__conn *c);
void rill__exec_free(rill_server *srv);

/* ---- audio.c ------------------------------------------------------------ */

/* The reported sample rate. Any thread. */
double rill__server_rate(rill_server *srv);
/* A copy of the description's JSON (rill__free it), or NULL: none. */
char *rill__audio_description(rill_server *srv);
void rill__audio_announce(rill_server *srv);
void rill__audio_change_request(rill_server *srv, rill__conn *c, json_t *root);
void rill__audio_answer(rill_server *srv);

/* ---- stamp.c ------------------------------------------------------------ */

/* {"rill":"time"}: the clock exchange (proto/timesync.h, PROTOCOL.md §10). */
void rill__time_request(rill_server *srv, rill__conn *c, json_t *root);

/* ---- http.c ------------------------------------------------------------- */

/* The path of a GET or HEAD request ("" for another method). */
int rill__uri_path(struct lws *wsi, char *buf, int cap);
/* A whole response: `body` (small) as `type`, with its length, not cached,
 * not sniffed; headers only for a HEAD request. rill__http_text: `message`
 * and a line break as text/plain. Return what LWS_CALLBACK_HTTP returns. */
int rill__http_respond(struct lws *wsi, unsigned status, const char *type,
                       const char *body, size_t len);
int rill__http_text(struct lws *wsi, unsigned status, const char *message);
/* LWS_CALLBACK_HTTP. */
int rill__http(rill_server *srv, struct lws *wsi);
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0, or 1 after refusing with a status. */
int rill__http_confirm_upgrade(rill_server *srv, struct lws *wsi);
/* Whether the server listens only on loopback (127.0.0.0/8, ::1,
 * localhost). */
bool rill__server_bound_to_loopback(const rill_server *srv);
/* Open `rel` (names separated by '/') under the directory `root` for
 * reading, following no symbolic link below `root`, and only if it is a
 * regular file (*st filled). The descriptor, or -1 with errno. Any
 * thread. */
int rill__open_beneath(const char *root, const char *rel, struct stat *st);
/* Make the context open every file it serves through rill__open_beneath,
 * under the log directory or the web root only. After the context exists. */
void rill__server_fops(rill_server *srv);

/* Whether the log file `name` is still being written (a log stream names
 * it). */
bool rill__log_busy(rill_server *srv, const char *name);

/* ---- logfiles_http.c ---------------------------------------------------- */

/* Answer GET /files/ (name NULL: the listing) or DELETE /files/<name>
 * (name: the part after /files/) for the log files of the log directory,
 * so that a client can do what pybela's Logger does over SFTP. The caller
 * (rill__http) has made the Host and token checks of every request.
 * Returns what the libwebsockets HTTP callback returns (0, or -1 to
 * close). */
int rill__logfiles_http(rill_server *srv, struct lws *wsi, const char *name);
/* Whether `name` can be a log file's: ending in ".bin" (the only names the
 * server gives them), without '/', not starting with '.', at most 200
 * bytes. The log directory may be a program's working directory: nothing
 * else in it is served, listed or deleted. */
bool rill__is_log_name(const char *name);
/* The log file a request's path names. libwebsockets hands the path out
 * decoded with '+' read as a space, so "/files/frame+1.bin" typed by hand
 * (Bela's numbering of a variable's second log) arrives as "frame 1.bin":
 * `asked` itself when such a file exists, else `asked` with its spaces as
 * '+' when that one exists, else `asked`. Written to `out` (cap bytes, at
 * least strlen(asked) + 1). */
void rill__log_file_resolve(rill_server *srv, const char *asked, char *out,
                            size_t cap);

/* ---- bela_project.c ----------------------------------------------------- */

/* The log directory of Bela project `project`,
 * RILL_BELA_PROJECTS_DIR/<project>, written to `dir` (cap bytes) and
 * created with its parents when missing. User thread (rill_server_create).
 * Returns 0, RILL_EINVAL (not a plain name: empty, over 64 bytes, a '/',
 * "." or "..", or a control character) or RILL_EIO (a directory cannot be
 * created); the log says which and why. */
int rill__bela_project_dir(const char *project, char *dir, size_t cap);

/* ---- var.c -------------------------------------------------------------- */

/* Variables published so far. Any thread. */
size_t rill__n_vars(const rill_server *srv);
rill_var *rill__var_find(rill_server *srv, const char *name);

#endif /* RILL_SERVER_INTERNAL_H */
