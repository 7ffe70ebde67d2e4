/* The client's insides, shared by client.c (connection, decoding,
 * requests), deliver.c (running the user's callbacks now or queueing them
 * for rill_client_poll) and fetch.c (log files over HTTP). */
#ifndef RILL_CLIENT_INTERNAL_H
#define RILL_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "client/align.h"
#include "net/ws.h"
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
    bool in_group;    /* part of the on_block group */
    uint64_t order;   /* when it joined the group */
    uint64_t from;    /* its stream's start tick: earlier values are an
                         earlier run's */
    uint32_t length;  /* values per buffer, for the block span */
    int32_t sched;    /* index in cl->sched, or -1 */
    uint64_t sched_end; /* the scheduled stream's end tick */
    /* stream_n_values / monitor_n_values: while `collect` is set, the
     * variable's values of that kind go here instead of to the callbacks;
     * after, those still on the way are dropped (`mute`) until the next
     * request for the variable. */
    rill__collect_kind collect, mute;
    size_t have;
    double *values;
    uint64_t *ticks;
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

    rill_client_list *vars;   /* from the connect-time list */
    rill__var_state *vs;      /* n_vars entries */
    bool hello;               /* the server answered hello */
    bool got_connection;      /* the connection event arrived */
    int64_t list_id;          /* the list request being waited for, or -1 */
    rill_client_list *list_reply; /* built by the I/O thread */
    int list_rc;
    bool list_ready;
    int64_t next_id;
    int64_t audio_id;         /* the audio-config request waited for, or -1 */
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
    size_t collect_left;    /* variables with fewer than collect_n */
    uint64_t collect_start;
    bool collect_done;      /* every variable complete, or a gap */
    const char *collect_gap; /* the variable that lost values, or NULL */
    /* on_block: the group as requests left it; the I/O thread rebuilds
     * its aligner when group_gen moves */
    uint32_t group_block;     /* opts.block of the latest start, 0 = auto */
    uint64_t group_order;
    uint64_t group_gen, align_gen;
    /* scheduled streams */
    rill__sched *sched;
    size_t n_sched, sched_cap;
    size_t sched_pending;     /* schedules not finished */
    int sched_err;            /* first error since the last wait */
    /* compat data: the last header */
    int64_t hdr_id;
    char close_reason[200];
    /* A client attached to an in-process transport instead of sockets
     * (rill__client_attach: the NATS consumer), or NULL. */
    const struct rill__client_xport *xport;
    void *xport_user;

    /* I/O thread only */
    rill__aligner *align;
    void *scratch_values; /* aligned copies of a buffer for the callback */
    uint32_t *scratch_rel;
    size_t scratch_cap; /* values */

    /* delivery (deliver.c) */
    rill_ring *pq;            /* poll mode: events for rill_client_poll */
    pthread_mutex_t poll_mx;  /* the consumer side, and poll_cv */
    pthread_cond_t poll_cv;
    uint8_t *pscratch;        /* consumer: one event */
    size_t pscratch_cap;
    uint32_t pending_drops;   /* I/O thread: dropped before the next buffer */
    atomic_uint_fast64_t dropped;
};

/* Wait on `cv` (mutex held) for at most `ns` nanoseconds; callers loop on
 * their own condition and deadline. client.c. */
void rill__cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mx, uint64_t ns);

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

/* client.c, for fetch.c. */
const rill_client_var *rill__client_find(rill_client *cl, const char *name);
int rill__client_cmd_sync(rill_client *cl, const char *cmd,
                          const char *const *names, size_t n, void *extra,
                          rill_client_list **after);

/* ---- Attached clients (client.c) -------------------------------------------
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
