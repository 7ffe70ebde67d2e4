/* The device side's shared state: variables, streams, and the messages that
 * cross between the tick thread, the network thread and the log writer.
 *
 * Ownership in one paragraph. The network thread allocates every stream
 * (and its buffer) and hands it to the tick thread with a command; from then
 * on the tick thread alone touches its "rt" fields. Full buffers leave the
 * tick thread as records in a ring (to the network thread, or to the log
 * writer for log streams, whose files the log writer creates and closes).
 * When the network thread is done with a stream it posts RT_RELEASE; the
 * tick thread detaches it and answers EV_RELEASED, and only then is it
 * freed, so no command or record can still refer to it.
 */
#ifndef RILL_SERVER_DEVICE_H
#define RILL_SERVER_DEVICE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rill/queue.h"
#include "rill/ring.h"
#include "rill/server.h"
#include "rill/watch.h"
#include "server/stamp.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
/* Stream buffers are filled with host-order values and sent as they are. */
#error "rill's device side assumes a little-endian host (as Bela and x86 are)"
#endif

#define RILL__NO_END UINT64_MAX
#define RILL__VAR_NAME_MAX 64
#define RILL__VAR_MAX_STREAMS 64 /* streams one variable can carry */
#define RILL__STREAM_ALIGN 64    /* a cache line: see the hot lines below */

typedef enum rill__stream_kind {
    RILL__STREAM_BUFFER = 0,
    RILL__STREAM_MONITOR = 1
} rill__stream_kind;

/* Where a stream's records go, and which semantics it follows. */
typedef enum rill__sink {
    RILL__SINK_COMPAT_WATCH = 0, /* broadcast to every /gui_data socket */
    RILL__SINK_COMPAT_MONITOR,   /* idem, monitor frames */
    RILL__SINK_LOG,              /* a log file, via the log writer */
    RILL__SINK_CLIENT            /* one native client */
} rill__sink;

/* The spec's stream states (§5.3). Native streams use NO, STARTING, YES and
 * STOPPING only; their transitions happen in tick(), not at assignments. */
typedef enum rill__state {
    RILL__ST_NO = 0,
    RILL__ST_STARTING,
    RILL__ST_YES,
    RILL__ST_STOPPING
} rill__state;

typedef struct rill__conn rill__conn;

typedef struct rill__stream {
    /* The tick thread's hot line: all that a set on the fast path (set_fast
     * in var.c) reads and writes of the stream, in one cache line (streams
     * are allocated aligned to one). */
    alignas(RILL__STREAM_ALIGN) uint8_t *values; /* buf + values_off */
    uint64_t ref;         /* tick of value 0 of the current buffer */
    uint32_t count;       /* values in the current buffer */
    uint32_t capacity;    /* values per buffer (immutable) */
    bool gated;           /* a compat watch: filled only while a compat
                             control socket is active (immutable) */

    /* Immutable once handed to the tick thread. */
    struct rill_var *var;
    rill__stream_kind kind;
    rill__sink sink;
    bool compat;          /* Bela semantics: padding, assignment-driven */
    uint32_t values_off;  /* offset of value 0 in `buf` */
    uint32_t rel_off;     /* offset of rel[0] in `buf` (sparse) */
    uint32_t buf_bytes;   /* bytes of `buf` sent as the payload */
    uint8_t *buf;         /* the payload being filled */
    /* Log: a body pending this many ticks goes to the file as it is
     * (RILL__REC_FLAG_PARTIAL), every so many ticks, so a killed server
     * loses at most that much (a second): at a sensor rate a body is
     * seconds to minutes of values. 0: never. Checked once a tick
     * (a running log is on the scheduled list). */
    uint64_t log_flush_ticks;

    /* Tick thread only ("rt"). */
    rill__state state;
    /* A dense buffer stream that takes every value with no other check
     * (see set_fast in var.c); kept current by every state change. */
    bool fast;
    uint64_t start;       /* requested start, clamped when applied */
    uint64_t end;         /* native: first tick not included; compat: stop tick */
    uint64_t seq;         /* records emitted (or dropped) so far */
    uint32_t rt_dropped;  /* records dropped since the last one emitted */
    uint32_t period;      /* monitor period, 0 off */
    uint64_t next_due;    /* monitor: next tick a frame is due */
    bool period_changed;  /* monitor: a new period waits for an assignment */
    bool attached;        /* in var->rt_streams */
    bool scheduled;       /* in the server's tick-checked list */
    bool end_pending;     /* native end (or log close) waiting for ring room */
    uint32_t run;         /* which START this run is (the network's count) */
    uint64_t log_flushed; /* log: the tick its partial body last went out */
    uint64_t log_flushed_ref;   /* log: the ref and count of that body, */
    uint32_t log_flushed_count; /* so the same one is not written again */

    /* Published by the tick thread for the list reply. */
    atomic_int pub_state;
    atomic_bool pub_started; /* a START was applied (a posted one may not
                                have been yet) */
    _Atomic uint64_t pub_start; /* that START's first tick */
    atomic_uint pub_period;

    /* Network thread only. */
    rill__conn *conn;     /* SINK_CLIENT: the owner (NULL once it left) */
    bool releasing;       /* RT_RELEASE posted */
    uint32_t net_dropped; /* dropped for the client since its last message */
    uint64_t net_seq;     /* the next sequence number the client sees */
    uint32_t net_runs;    /* STARTs posted: a record's run tells whether its
                             end is the latest run's (release) or an earlier
                             one's, restarted since (keep) */
    /* Compat watch: a STOP was posted for run net_runs; and the last
     * connection id when the latest session ended (STOP, or a START that
     * restarted it). Records of an ended session go only to sockets that
     * existed then (fanout.c, fan_out_compat). */
    bool net_stopped;
    uint64_t net_end_conns;
    struct rill__stream *next; /* the server's list of all streams */

    /* Log streams. The file is the log writer's (logwriter.h): it fills
     * these from the open request until its last event about the stream. */
    int log_fd;
    uint64_t log_pos; /* where the next body goes: after the last whole one */
    char log_name[RILL__VAR_NAME_MAX + 32];
    bool log_failed;
    char log_error[240];           /* OPEN_FAILED: why, in a sentence */
    /* Buffers the tick thread dropped because the log ring was full (the
     * writer fell behind: a slow disk), as the writer learns of them from
     * the next record's `dropped`: in all, not yet announced, and when it
     * last announced some (log writer). */
    uint64_t log_dropped, log_drop_unsaid, log_drop_ns;
    struct rill__stream *log_next; /* the writer's list of open files */
    rill__conn *log_waiter;        /* network: the connection whose message
                                      waits for this file (control.c) */
    bool log_named; /* network: the writer said OPENED, so log_name is
                       written and the network thread may read it */
} rill__stream;

struct rill__device;

struct rill_var {
    /* The tick thread's hot line: what every rill_var_set_* reads and
     * writes of the variable (variables are allocated aligned to a line;
     * the network thread writes nothing here). */
    alignas(RILL__STREAM_ALIGN) rill__stream *rt_fast; /* the one attached
                                  stream when it may take values on the
                                  fast path (set_fast), else NULL */
    struct rill__device *dev;
    _Atomic uint64_t local_bits;  /* last local value, as double bits (tick) */
    uint32_t rt_n_streams;        /* attached streams (tick) */
    rill_type type;

    rill_server *srv;
    uint32_t id;
    rill_ts_mode mode;
    size_t size;
    char name[RILL__VAR_NAME_MAX];

    /* Tick thread only. */
    rill__stream *rt_streams[RILL__VAR_MAX_STREAMS];

    /* Written by the network thread, read by the tick thread: on a line of
     * their own, away from the tick thread's writes. */
    alignas(RILL__STREAM_ALIGN) _Atomic uint64_t remote_bits; /* remote
                                  value, as double bits */
    atomic_bool controlled;

    /* Network thread only. */
    rill__stream *compat_watch;   /* permanent */
    rill__stream *compat_monitor; /* permanent */
    rill__stream *log_stream;     /* the current log session, or NULL */
    uint32_t net_n_streams;       /* streams of this variable that exist,
                                     the two permanent ones included */
    char log_file_name[RILL__VAR_NAME_MAX + 32]; /* latest, "" if never */
};

/* ---- Tick thread <- network thread ------------------------------------- */

typedef enum rill__rtcmd_kind {
    RILL__RT_START = 1, /* start (or restart) stream at `tick`, for `duration` */
    RILL__RT_STOP,      /* stop stream at `tick` */
    RILL__RT_MONITOR,   /* set the monitor period of stream to `period` */
    RILL__RT_RELEASE    /* detach stream for good; answer EV_RELEASED */
} rill__rtcmd_kind;

typedef struct rill__rtcmd {
    rill__rtcmd_kind kind;
    uint32_t period;
    rill__stream *stream;
    uint64_t tick;
    uint64_t duration;
} rill__rtcmd;

/* ---- Tick thread -> network thread: events ----------------------------- */

typedef enum rill__ev_kind {
    RILL__EV_RELEASED = 1, /* stream is detached; free it */
    RILL__EV_LOG_STARTED   /* a log command was applied: start..end */
} rill__ev_kind;

typedef struct rill__ev {
    rill__ev_kind kind;
    rill__stream *stream;
    uint64_t start;
    uint64_t end;
} rill__ev;

/* ---- Records in the tick -> network and tick -> log rings -------------- */

typedef enum rill__rec_kind {
    /* A stream buffer. Compat payload: the 4104-byte body. Native: count
     * values, then (sparse) zero to three bytes to a multiple of 4 and
     * count u32 relative timestamps. */
    RILL__REC_BUFFER = 1,
    RILL__REC_MONITOR,    /* one value: payload = var size */
    RILL__REC_END         /* the stream ended (native end / log close) */
} rill__rec_kind;

#define RILL__REC_FLAG_LAST 0x1u
/* A log's body so far, zero-padded: the writer puts it where the body
 * goes and keeps the place for the whole body, which replaces it. */
#define RILL__REC_FLAG_PARTIAL 0x2u

typedef struct rill__rec {
    rill__stream *stream;
    uint64_t ref;     /* first tick (monitor: the value's tick) */
    uint64_t seq;     /* per stream */
    uint32_t count;   /* values in the payload */
    uint32_t dropped; /* records of this stream dropped just before */
    uint32_t kind;
    uint32_t flags;
    uint32_t bytes;   /* payload bytes that follow this header */
    uint32_t run;     /* the stream's run (rill__stream.run) */
} rill__rec;

/* ---- The server ---------------------------------------------------------- */

/* Tick-thread state and the hand-off objects. The network side (sockets,
 * clients) is rill_server, in server/internal.h. */
typedef struct rill__device {
    rill_var **vars;      /* max_vars slots */
    size_t max_vars;
    atomic_size_t n_vars; /* published with release after a var is ready */
    /* The variables by name (rill__var_find): open addressing, at least
     * twice max_vars slots, a power of two; filled under vars_lock, read
     * without it (a slot is set once, with release, to a ready var). */
    _Atomic(rill_var *) *by_name;
    size_t by_name_mask;

    rill_queue *cmds;     /* network -> tick */
    rill_queue *events;   /* tick -> network */
    rill_ring *out;       /* tick -> network records */
    rill_ring *log;       /* tick -> log writer records */

    /* Tick thread. */
    uint64_t now;
    bool ticked;
    size_t rt_attached; /* streams attached to variables, all of them */
    rill__stream **scheduled; /* streams whose state changes in tick() */
    size_t n_scheduled, max_scheduled;

    /* Published by the tick thread. */
    _Atomic uint64_t pub_now;
    _Atomic uint64_t pub_first; /* the first tick + 1; 0 before it */
    atomic_ullong buffers_produced;
    atomic_ullong tick_drops;
    atomic_ullong events_lost;
    /* Published by the network thread: compat control sockets that are
     * active (pybela's connection-reply or a browser's "active"); read once
     * per tick into rt_active (true before the first tick, as on Bela). */
    atomic_int compat_active;
    bool rt_active;
    rill__stamp stamp; /* (tick, clock) pairs on request: stamp.h */

    /* Waking the network thread: the one system call the tick thread may
     * make (rill__device_wake in var.c says when, and why at most once per
     * wait). The network thread sets net_sleeping just before it waits in
     * poll(); the tick thread, having published a record or an event,
     * takes the flag back and, only if it was set, writes wake_fd. On a
     * line of its own: both threads write it. */
    alignas(RILL__STREAM_ALIGN) atomic_int net_sleeping;
    int wake_fd;             /* an eventfd the network thread polls; -1:
                                none (the flag is still kept) */
    atomic_ullong wakeups;   /* writes to wake_fd so far */
    atomic_ullong net_sleeps; /* waits the network thread announced */
    atomic_ullong net_naps;   /* naps it took instead, in floods (netloop.c) */
} rill__device;

/* Tick side (var.c). */
int rill__device_init(rill__device *dev, size_t max_vars, size_t max_streams,
                      size_t out_bytes, size_t log_bytes);
/* Frees the queues, rings and tables; not the variables or streams. */
void rill__device_deinit(rill__device *dev);
void rill__device_tick(rill__device *dev, uint64_t frame);
/* Whether the tick thread left records or events for the network thread.
 * Any thread (two atomic loads). */
bool rill__device_has_work(rill__device *dev);
/* Network thread: about to wait in poll() for wake_fd. Returns false (and
 * does not announce the wait) when work arrived meanwhile, so the caller
 * must not wait. */
bool rill__device_will_sleep(rill__device *dev);
/* Network thread: awake again (after poll returned). */
void rill__device_awake(rill__device *dev);

/* Streams (var.c). Network thread. */
rill__stream *rill__stream_create(rill_var *var, rill__stream_kind kind,
                                  rill__sink sink, bool compat,
                                  uint32_t capacity);
void rill__stream_destroy(rill__stream *s);
/* A compat stream's body as it goes out: the values after its count and
 * their relative ticks zeroed (spec §3.3 padding), its reference tick in
 * front. The thread that owns the stream's buffer (the tick thread; the
 * log writer at shutdown). */
void rill__stream_pad_body(rill__stream *s);

static inline double rill__bits_to_double(uint64_t b) {
    double d;
    __builtin_memcpy(&d, &b, sizeof d);
    return d;
}

static inline uint64_t rill__double_to_bits(double d) {
    uint64_t b;
    __builtin_memcpy(&b, &d, sizeof b);
    return b;
}

#endif /* RILL_SERVER_DEVICE_H */
