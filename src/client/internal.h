/* The client's insides, shared by its files:
 *
 *   client.c   connecting, the I/O thread, buffers and messages out
 *   channel.c  what requests share: waits, commands, the list round trip
 *   decode.c   the I/O thread: what the device sends, decoded
 *   request.c  requests: the list, monitor and peek, control, audio
 *   stream.c   streams, schedules, exactly-N collectors
 *   deliver.c  running callbacks now, or queueing them for poll()
 *   align.c    cutting several variables' buffers into aligned blocks
 *   fetch.c    device-side logging; log files over HTTP
 *   session.c  URLs, the start tick, waiting for device-side logs
 *   reconnect.c  liveness, getting a lost connection back, gaps, events
 *   ws.c       the WebSocket transport
 */
#ifndef RILL_CLIENT_INTERNAL_H
#define RILL_CLIENT_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "client/align.h"
#include "client/ws.h"
#include "rill/client.h"
#include "rill/ring.h"

/* A scheduled stream (rill_client_schedule) until its last variable ends. */
typedef struct rill__sched {
    rill_client_done_fn fn;
    void *user;
    size_t pending; /* variables still streaming */
    int err;
} rill__sched;

/* What a collector takes: stream buffers or monitored values. */
typedef enum rill__collect_kind {
    RILL__COLLECT_NONE = 0,
    RILL__COLLECT_STREAM,
    RILL__COLLECT_MONITOR
} rill__collect_kind;

/* Per variable, as the I/O thread needs it (indexed by variable id). */
typedef struct rill__var_state {
    bool in_group;      /* part of the on_block group */
    uint64_t order;     /* when it joined the group */
    uint64_t from;      /* its stream's start tick: earlier values are an
                           earlier run's */
    uint32_t length;    /* values per buffer, for the block span */
    int32_t sched;      /* index in cl->sched, or -1 */
    uint64_t sched_end; /* the scheduled stream's end tick */
    /* stream_n_values / monitor_n_values: while `collect` is set, the
     * variable's values of that kind go here instead of to the callbacks;
     * after, those still on the way are dropped (`mute`) until the next
     * request for the variable. */
    rill__collect_kind collect, mute;
    size_t have;
    double *values;
    uint64_t *ticks;
    /* Device-side logs, from the device's notices (session.c): the latest
     * log it started for the variable (file, first tick, whether a write
     * to it failed) and the latest file it finished. */
    char log_file[96];
    uint64_t log_from, log_to;
    bool log_failed;
    char log_done[96];
    bool log_done_failed;
    /* Reconnecting (reconnect.c). What runs, to start it again: a stream
     * this client started (`from`, `sched`, `sched_end` say the rest) and
     * its opts.length; a monitor's period (rill_client_monitor). Where
     * its values got to: the tick after the last one delivered. A dense
     * variable's gap waits for its first buffer after a reconnection. */
    bool streaming;
    uint32_t stream_length;
    uint32_t monitor;
    bool next_known;
    uint64_t next_tick;
    bool gap_pending, gap_restarted;
    uint64_t gap_first;
    /* Counters (rill_client_get_var_stats). */
    uint64_t gaps, gap_ticks, log_dropped;
} rill__var_state;

struct rill_client {
    rill_client_config cfg;
    char host[256];
    int port;
    rill__ws *ctl, *data;
    bool native;
    pthread_t io;
    bool io_started;
    atomic_bool stop;
    atomic_bool closed;

    pthread_mutex_t req_lock; /* one request at a time */
    pthread_mutex_t lock;     /* everything below, shared with the I/O thread */
    pthread_cond_t cond;

    rill_client_list *vars;       /* from the connect-time list */
    rill__var_state *vs;          /* n_vars entries */
    bool hello;                   /* the server answered hello */
    bool got_connection;          /* the connection event arrived */
    int64_t list_id;              /* the list request being waited for, or -1 */
    rill_client_list *list_reply; /* built by the I/O thread */
    int list_rc;
    rill_audio_desc list_audio; /* the reply's audio description */
    int list_audio_rc;          /* 0, RILL_ENOTFOUND (none), RILL_EPROTO */
    bool list_ready;
    int64_t next_id;
    int64_t audio_id; /* the audio-config request waited for, or -1 */
    bool audio_done;
    int audio_rc;
    char audio_why[512];
    /* peek */
    int32_t peek_var;
    bool peek_done;
    double peek_value;
    uint64_t peek_tick;
    /* stream_n_values / monitor_n_values: collect_n values of each
     * collecting variable (rill__var_state), from tick collect_start on */
    size_t collect_n;
    size_t collect_left; /* variables with fewer than collect_n */
    uint64_t collect_start;
    bool collect_done;       /* every variable complete, or a gap */
    const char *collect_gap; /* the variable that lost values, or NULL */
    /* on_block: the group as requests left it; the I/O thread rebuilds
     * its aligner when group_gen moves */
    uint32_t group_block; /* opts.block of the latest start, 0 = auto */
    uint64_t group_order;
    uint64_t group_gen, align_gen;
    /* scheduled streams */
    rill__sched *sched;
    size_t n_sched, sched_cap;
    size_t sched_pending; /* schedules not finished */
    int sched_err;        /* first error since the last wait */
    /* compat data: the last header */
    int64_t hdr_id;
    char close_reason[200];
    /* A client attached to an in-process transport instead of sockets
     * (attach.c: the NATS consumer), or NULL. */
    const struct rill__client_xport *xport;
    void *xport_user;

    /* Reconnecting (reconnect.c). Senders take link_mx to check `linked`
     * and queue, so that once the I/O thread has cleared it nothing of a
     * request reaches a new connection before it is set up again. */
    pthread_mutex_t link_mx;
    bool linked;  /* link_mx: requests may send */
    bool gave_up; /* link_mx: the connection is gone for good */
    atomic_bool connected;
    uint64_t server_run;    /* lock: the hello reply's "run", 0 if none */
    uint64_t server_first;  /* lock: its "firstTick" + 1, 0 if none */
    uint64_t server_block;  /* lock: its "blockTicks", 0 if none */
    uint64_t max_tick;      /* lock: the latest tick the device showed */
    int64_t relink_list_id; /* lock: the reconnection's list request */
    rill_client_list *relink_list;
    bool relink_list_ready;
    int peek_rc;         /* lock: how the peek waited for ended */
    bool collect_broken; /* lock: the connection broke under it */
    uint64_t ping_ns[2]; /* I/O thread: pings waiting (ctl, data) */
    atomic_uint_fast64_t reconnects, gaps, gap_ticks, log_dropped;

    /* I/O thread only */
    rill__aligner *align;
    void *scratch_values; /* aligned copies of a buffer for the callback */
    uint32_t *scratch_rel;
    size_t scratch_cap; /* values */

    /* delivery (deliver.c) */
    rill_ring *pq;           /* poll mode: events for rill_client_poll */
    pthread_mutex_t poll_mx; /* the consumer side, and poll_cv */
    pthread_cond_t poll_cv;
    size_t pheld; /* consumer: bytes rill_client_poll_batch lent out */
    rill_client_buffer *pblock; /* consumer: the lent block's buffers */
    size_t pblock_cap;
    uint32_t pending_drops; /* I/O thread: dropped before the next buffer */
    atomic_uint_fast64_t dropped;
    atomic_uint_fast64_t send_dropped; /* rill_client_send_buffer: EFULL */
};

/* deliver.c. The I/O thread calls these instead of the callbacks. */
int rill__deliver_init(rill_client *cl);
void rill__deliver_free(rill_client *cl);
void rill__deliver_buffer(rill_client *cl, const rill_client_buffer *b);
void rill__deliver_block(rill_client *cl, const rill_client_block *blk);
void rill__deliver_monitor(rill_client *cl, const char *name, uint64_t tick,
                           double value);
void rill__deliver_error(rill_client *cl, int err, const char *msg);
void rill__deliver_done(rill_client *cl, rill_client_done_fn fn, void *user,
                        int err);
/* Wake a waiting rill_client_poll (the connection closed). */
void rill__deliver_wake(rill_client *cl);

/* channel.c. Wait on cl->cond (lock held) until *flag, the connection
 * closes (RILL_ECLOSED) or the deadline (RILL_ETIMEOUT). */
int rill__client_wait_for(rill_client *cl, const bool *flag,
                          uint64_t deadline_ns);
/* Now plus the configured timeout. */
uint64_t rill__client_deadline(const rill_client *cl);
/* Send a JSON message (taken) on the control socket. */
int rill__client_send_json(rill_client *cl, json_t *msg);
/* {"watcher":[{"cmd":cmd,"watchers":[names...], extra...}]}; `extra` (a
 * JSON object, taken) may be NULL. */
int rill__client_send_cmd(rill_client *cl, const char *cmd,
                          const char *const *names, size_t n, json_t *extra);

/* A list round trip (req_lock held). */
int rill__client_list_locked(rill_client *cl, rill_client_list **out);
/* A variable of the connect-time list, or NULL (and a log line). */
const rill_client_var *rill__client_find(rill_client *cl, const char *name);
/* The device's latest tick and its rate (1000 if it gives none). */
int rill__client_device_now(rill_client *cl, uint64_t *tick, double *rate);
/* A tick a little after the device's latest, for starting together: what
 * schedules, exactly-N collectors, on_block starts and
 * rill_client_start_tick (session.c) start on, `n_names` the variables
 * started on it (more take longer to ask for). req_lock held. */
int rill__client_soon(rill_client *cl, size_t n_names, uint64_t *tick,
                      double *rate);
/* Send a command, then a list round trip, so that it has taken effect;
 * `extra` as rill__client_send_cmd; `after` (may be NULL) gets the list. */
int rill__client_cmd_sync(rill_client *cl, const char *cmd,
                          const char *const *names, size_t n, json_t *extra,
                          rill_client_list **after);

/* RILL_EINVAL or RILL_ENOTFOUND unless every name is known. */
int rill__client_check_names(rill_client *cl, const char *const *names,
                             size_t n);

/* decode.c: the I/O thread. */
void rill__client_on_msg(void *user, rill__ws *ws, const uint8_t *data,
                         size_t len, bool binary);
/* The aligner's callback: a block to deliver. */
void rill__client_on_block(const rill_client_block *blk, void *user);
/* A schedule finished: its completion runs or is queued, then
 * rill_client_wait can see it. lock not held. */
void rill__client_schedule_finished(rill_client *cl, rill_client_done_fn fn,
                                    void *user, int err);
/* Every schedule not finished yet ends with `err`. */
void rill__client_fail_schedules(rill_client *cl, int err);

/* An event with room for its strings, filled under `lock` and delivered
 * after it (deliver.c copies it for poll()). */
typedef struct rill__event {
    rill_client_event ev;
    char name[64];
    char file[96];
    char msg[256];
} rill__event;

/* session.c: the log notices (log-scheduled, log-ended, a log's failed
 * write, log-dropped) in a control message `root`, for
 * rill_client_log_wait. lock held, I/O thread. A log-dropped notice fills
 * `out` (kind 0 otherwise), to be delivered once the lock is let go. */
void rill__client_log_notice(rill_client *cl, json_t *root, rill__event *out);

/* decode.c: the list reply in `root` as plain structs. */
int rill__client_build_list(json_t *root, rill_client_list **out);

/* deliver.c: an event to on_event (now, or queued for poll()). */
void rill__deliver_event(rill_client *cl, const rill__event *e);

/* ---- reconnect.c ------------------------------------------------------- */

/* Queue a message on `ws` while the connection is up (linked): 0,
 * RILL_EAGAIN while it is being restored, RILL_ECLOSED once it is gone
 * for good, RILL_ENOMEM. Any thread. */
int rill__client_sendv(rill_client *cl, rill__ws *ws, bool binary,
                       const rill__ws_part *parts, size_t n);
/* The same, refused with RILL_EFULL when more than `limit` bytes (0: no
 * limit) would then wait to be sent (rill__ws_sendv_bounded). */
int rill__client_sendv_bounded(rill_client *cl, rill__ws *ws, bool binary,
                               const rill__ws_part *parts, size_t n,
                               size_t limit);
/* I/O thread, between polls: ping a silent socket, give up on one that
 * does not answer (it is then found closed). */
void rill__client_keepalive(rill_client *cl);

typedef enum rill__relink {
    RILL__RELINK_BACK = 0, /* connected again, everything resumed */
    RILL__RELINK_GONE,     /* given up: close_reason says why */
    RILL__RELINK_STOPPED   /* rill_client_destroy is waiting */
} rill__relink;

/* I/O thread: the connection was lost for `why`; get it back (with
 * cfg.reconnect). */
rill__relink rill__client_reconnect(rill_client *cl, const char *why);
/* decode.c, lock held: a list reply the reconnection asked for (true: it
 * is taken). */
bool rill__client_relink_list(rill_client *cl, json_t *root);
/* decode.c, lock held: variable `st` delivers values from `first_ts`;
 * through `next` (the tick after its last value). A gap waiting for it
 * fills `out` (kind 0 otherwise). */
void rill__client_note_values(rill_client *cl, const rill_client_var *v,
                              uint64_t first_ts, uint64_t next,
                              rill__event *out);

/* client.c: a client with nothing connected yet; the device's variables
 * from a first list; the device is gone (`why`), on the I/O thread or an
 * attached transport's. */
int rill__client_new(const rill_client_config *cfg, rill_client **out);
int rill__client_take_vars(rill_client *cl);
void rill__client_lost(rill_client *cl, const char *why);

/* ---- Attached clients (attach.c) --------------------------------------------
 *
 * A rill_client whose "device" is not a socket but an in-process transport
 * that speaks the native protocol: the NATS consumer (src/nats/consumer.c)
 * answers hello, list and watch from a JetStream stream and feeds the
 * frames, so every client feature (exactly-N, aligned blocks, poll mode,
 * the Python package, rill stream's files) works on bridged devices with no
 * second copy. The transport's thread plays the I/O thread: it alone calls
 * rill__client_feed and rill__client_feed_closed. */
typedef struct rill__client_xport {
    /* A message from the client (requests' threads, one at a time): the
     * transport answers by feeding replies later, on its thread. */
    int (*send)(void *user, rill_client *cl, bool binary, const void *data,
                size_t len);
    /* rill_client_destroy: stop feeding and free the transport. */
    void (*detach)(void *user);
} rill__client_xport;

/* Like rill_client_connect with the transport as the device (native mode;
 * the transport answers hello and list). On failure the transport is
 * detached. */
int rill__client_attach(const rill_client_config *cfg,
                        const rill__client_xport *x, void *user,
                        rill_client **out);
/* The transport's thread: one message from the device. */
void rill__client_feed(rill_client *cl, const uint8_t *data, size_t len,
                       bool binary);
/* The transport's thread: the device is gone (`why`), as a lost socket. */
void rill__client_feed_closed(rill_client *cl, const char *why);
/* The transport's user pointer (NULL for socket clients). */
void *rill__client_xport_user(const rill_client *cl);

#endif /* RILL_CLIENT_INTERNAL_H */
