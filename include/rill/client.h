/* rill_client: the host side. Connects to a `rill serve` (native mode) or
 * a Bela board (the Watcher's compatibility mode), lists its variables,
 * streams them, peeks, controls and sends buffers to the device.
 *
 * Threads. rill_client_connect starts an I/O thread that owns the
 * connection. By default every callback runs on that thread: callbacks
 * must return quickly and must not call blocking rill_client functions
 * (the request functions below may be called from any other thread,
 * concurrently). With `poll` set in the configuration, the I/O thread
 * queues what it would have delivered instead, and rill_client_poll runs
 * the callbacks on the caller's thread (as audiostream's poll()); there
 * they may call any rill_client function.
 * Blocking calls return RILL_ETIMEOUT after the configured timeout and
 * RILL_ECLOSED once the connection is gone (with cfg.reconnect, RILL_EAGAIN
 * while it is being restored); nothing waits forever. A link that goes
 * silent is noticed by the keepalive (cfg.keepalive_ms).
 *
 * Errors are codes; the reason, in a sentence, goes to the log callback
 * (rill_set_log_callback) and, for failures after connecting, to the
 * on_error callback.
 */
#ifndef RILL_CLIENT_H
#define RILL_CLIENT_H

#include <stdbool.h>

#include "rill/core.h"
#include "rill/watch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_client rill_client;

typedef enum rill_client_mode {
    RILL_CLIENT_AUTO = 0, /* native if the server offers it, else compat */
    RILL_CLIENT_NATIVE,   /* rill serve's native mode, or fail */
    RILL_CLIENT_COMPAT    /* the Watcher protocol as a Bela board speaks it */
} rill_client_mode;

/* One stream buffer of one variable. Valid only during the callback. */
typedef struct rill_client_buffer {
    const char *name;
    uint32_t var_id;
    rill_type type;
    rill_ts_mode mode;
    uint64_t first_ts;   /* tick of values[0] */
    size_t count;        /* values in this buffer (compat: Bela's fixed N) */
    const void *values;  /* `count` values of `type`, host order */
    const uint32_t *rel; /* sparse: `count` ticks relative to first_ts */
    uint32_t dropped;    /* native: buffers lost just before this one */
    bool last;           /* native: the stream ended with this buffer */
} rill_client_buffer;

/* Stream buffers, on the I/O thread (or in rill_client_poll). */
typedef void (*rill_client_buffer_fn)(rill_client *cl,
                                      const rill_client_buffer *b, void *user);

/* One buffer per streamed variable, aligned by timestamp: every buffer
 * holds that variable's values whose ticks fall in [first_ts, first_ts +
 * ticks). Blocks are cut on a grid of the block span from the first one:
 * they follow each other without gaps, except that a stretch where no
 * variable has any value (rare sparse events, a long loss) gives no empty
 * blocks. Valid only during the callback.
 *
 * The block span is the longest buffer length among the variables (or
 * rill_client_stream_opts.block), so variables with different buffer
 * lengths (a float and a double on a Bela, or different `length`s) come
 * out cut at the same ticks. In each buffer, `first_ts` is the tick of its
 * first value and `rel` is NULL when the values are one per tick from
 * there (dense, nothing lost); otherwise `rel` gives each value's tick
 * relative to the buffer's first_ts. A variable with no value in the span
 * has count 0; `dropped` counts its buffers lost in the span. */
typedef struct rill_client_block {
    uint64_t first_ts;
    uint64_t ticks;
    size_t n; /* buffers, in the order the variables were started */
    const rill_client_buffer *buffers;
} rill_client_block;

/* Aligned blocks, on the I/O thread (or in rill_client_poll). */
typedef void (*rill_client_block_fn)(rill_client *cl,
                                     const rill_client_block *blk, void *user);
/* A monitored value: the variable, the tick it was set at, the value.
 * I/O thread (or rill_client_poll). */
typedef void (*rill_client_monitor_fn)(rill_client *cl, const char *name,
                                       uint64_t tick, double value,
                                       void *user);
/* Something failed after connecting, with the reason: the connection
 * closed (RILL_ECLOSED), undecodable data (RILL_EPROTO), the device
 * refused a command or a buffer of this client's (RILL_EINVAL), the device
 * reports a failure about a variable that no command of this client's
 * caused (RILL_EIO: a log file's write failed). I/O thread (or
 * rill_client_poll). */
typedef void (*rill_client_error_fn)(rill_client *cl, int err,
                                     const char *msg, void *user);
/* A scheduled stream finished (err 0: every variable delivered its last
 * value) or did not: RILL_EIO (values were lost on the way), RILL_ECLOSED
 * (the connection went), RILL_ECANCELED (stopped, or scheduled again).
 * I/O thread (or rill_client_poll); a schedule stopped by
 * rill_client_stream_stop completes on the stopping thread. */
typedef void (*rill_client_done_fn)(rill_client *cl, int err, void *user);
/* A JSON text message from the server's control socket (not
 * NUL-terminated), after the client has read it itself: notices and
 * replies it has no callback for (the audio description, dashboard
 * errors; docs/PROTOCOL.md). Always on the I/O thread, even with poll. */
typedef void (*rill_client_text_fn)(rill_client *cl, const char *text,
                                    size_t len, void *user);

/* ---- Events: a connection lost and restored, gaps, the device's logs ---- */

typedef enum rill_client_event_kind {
    /* The connection broke (`msg` says why) and, with cfg.reconnect, the
     * client is connecting again. (Without cfg.reconnect a lost connection
     * goes to on_error as RILL_ECLOSED, as always.) */
    RILL_CLIENT_EVENT_LOST = 1,
    /* Connected again: the streams and monitors that were running are
     * running again; a GAP event per streamed variable says what was
     * missed. */
    RILL_CLIENT_EVENT_RECONNECTED,
    /* A streamed variable's ticks that no buffer will ever carry, because
     * the connection was lost: [first, first + ticks), `resumed` being the
     * first tick delivered again (= first + ticks). A dense variable's gap
     * comes just before its first buffer after the reconnection, a sparse
     * one's (whose values come when the program sets them) at the
     * reconnection, up to the tick its stream was started again at. With
     * `restarted` the device's clock went back (the device restarted):
     * what its earlier run produced from `first` on is lost as well, and
     * how much that was cannot be known (`ticks` is 0); the variable is
     * delivered again from tick `resumed` of the new run. */
    RILL_CLIENT_EVENT_GAP,
    /* The device dropped `buffers` buffers of the log file `file` of
     * variable `name` (its log writer could not keep up: a slow disk);
     * the file lacks them. rill_client_log_wait then returns RILL_EIO. */
    RILL_CLIENT_EVENT_LOG_DROPPED
} rill_client_event_kind;

/* Valid only during the callback. Fields a kind does not use are 0/NULL. */
typedef struct rill_client_event {
    rill_client_event_kind kind;
    const char *msg;   /* one sentence about it; never NULL */
    const char *name;  /* GAP, LOG_DROPPED: the variable */
    uint32_t var_id;   /* GAP, LOG_DROPPED */
    uint64_t first;    /* GAP: the first tick missing */
    uint64_t ticks;    /* GAP: how many ticks are missing */
    uint64_t resumed;  /* GAP: the first tick that arrives again */
    bool restarted;    /* GAP: the device restarted meanwhile */
    const char *file;  /* LOG_DROPPED: the device's file name */
    uint64_t buffers;  /* LOG_DROPPED: buffers dropped since the last one */
    uint32_t attempts; /* RECONNECTED: connection attempts it took */
} rill_client_event;

/* Events, on the I/O thread (or in rill_client_poll). */
typedef void (*rill_client_event_fn)(rill_client *cl,
                                     const rill_client_event *ev, void *user);

typedef struct rill_client_config {
    const char *url;     /* "ws://host:port"; default "ws://127.0.0.1:5555" */
    const char *token;   /* sent as ?token=... if set */
    int timeout_ms;      /* connecting and every blocking call; default 5000 */
    rill_client_mode mode;
    rill_client_buffer_fn on_buffer; /* stream buffers; may be NULL */
    rill_client_block_fn on_block;   /* aligned blocks; may be NULL */
    rill_client_monitor_fn on_monitor; /* monitored values; may be NULL */
    rill_client_error_fn on_error;   /* may be NULL */
    rill_client_text_fn on_text;     /* may be NULL */
    void *user;
    /* Queue the callbacks for rill_client_poll instead of running them on
     * the I/O thread. Up to poll_bytes (default 16 MiB) of buffers wait;
     * beyond that whole buffers are dropped, and counted in the next
     * delivered buffer's `dropped` and in rill_client_dropped. */
    bool poll;
    size_t poll_bytes;
    /* Liveness. When nothing has arrived for keepalive_ms, the client
     * sends a ping; when nothing arrives within timeout_ms of it, the
     * connection is taken as lost ("no answer from the device for N ms"):
     * a dead link or a frozen device sends no close of its own, and TCP
     * would wait for minutes. 0: never ping. Default 1000. */
    int keepalive_ms;
    /* Reconnect when the connection is lost (default false, as pybela:
     * a lost connection is then an error, RILL_ECLOSED). With it, the
     * client connects again (after 100 ms, then waiting twice as long each
     * time up to 2 s), checks that the device has the same variables,
     * starts again the streams (a schedule for what is left of it), monitors
     * and the on_block group that were running, and reports through
     * on_event: LOST, then RECONNECTED and a GAP per streamed variable with
     * exactly the ticks that were missed. Meanwhile requests return
     * RILL_EAGAIN (a request waiting for an answer when the connection
     * broke, too; an exactly-N request, RILL_EIO: its values have a gap);
     * logs on the device are not started again. rill_client_get_stats
     * counts reconnections and gaps. */
    bool reconnect;
    /* With reconnect: give up after this long without a connection (then
     * on_error gets RILL_ECLOSED, as without reconnect); 0: never. Default
     * 0. */
    int reconnect_ms;
    /* May be NULL: then the loss is also a warning in the log; with it,
     * an info line (the program says it from the event). */
    rill_client_event_fn on_event;
    /* rill_client_send_buffer's queue: up to this many bytes of buffers
     * wait to be sent (default 8 MiB; 0: no limit). A buffer that does not
     * fit is refused with RILL_EFULL and counted
     * (rill_client_send_dropped), as the server drops what does not fit
     * in a client's queue; a slow link never makes the queue grow without
     * end. An empty queue takes a buffer of any size. */
    size_t send_queue_bytes;
    /* The Watcher's WebSocket paths. A Bela whose Gui was set up with
     * another base name serves /<base>_control and /<base>_data (pybela's
     * control_add and data_add). NULL: "/gui_control" and "/gui_data".
     * rill serve serves only those. */
    const char *control_path;
    const char *data_path;
    /* Busy polling, as Linux's SO_BUSY_POLL (default 0: off). A thread the
     * kernel wakes when bytes arrive runs up to hundreds of microseconds
     * late on a virtual machine or a CPU in a deep idle state: the tail of
     * a stream's latency. With busy_poll_us > 0 the I/O thread, for as long
     * as bytes arrived within the last busy_poll_us, looks for more without
     * sleeping. Set above a stream's buffer period (e.g. 2000 for 64-frame
     * buffers at 48 kHz, 1.33 ms), it never sleeps while the stream runs:
     * a whole core for the lowest latency (bench_peers measures both);
     * once nothing arrives for busy_poll_us it sleeps as usual. At most
     * RILL_CLIENT_BUSY_POLL_MAX_US. */
    int busy_poll_us;
} rill_client_config;

#define RILL_CLIENT_BUSY_POLL_MAX_US 1000000

/* Defaults for every field. Always start from this. Any thread. */
RILL_API rill_client_config rill_client_config_default(void);

/* Connect, learn the device's variables, start the I/O thread. The
 * strings are copied. Any thread but a callback's. Returns 0 and sets
 * *out, or RILL_EINVAL (bad URL or timeout), RILL_EREFUSED, RILL_ETIMEOUT,
 * RILL_EAUTH (token or Origin refused), RILL_ENOTFOUND (no such host or
 * path), RILL_EPROTO (not a Watcher server, or RILL_CLIENT_NATIVE asked of
 * a server without it), RILL_ENOMEM, RILL_ESYS; the log says why. */
RILL_API int rill_client_connect(const rill_client_config *cfg,
                                 rill_client **out);

/* Close the connection, stop the I/O thread, free. Any thread but a
 * callback's (it joins the I/O thread); no other call on `cl` may run or
 * follow. NULL is a no-op. */
RILL_API void rill_client_destroy(rill_client *cl);

/* True when connected in native mode. Any thread; never fails. */
RILL_API bool rill_client_native(const rill_client *cl);

/* With cfg.poll: run the queued callbacks on this thread. Waits up to
 * timeout_ms (0: not at all, -1: until something arrives or the connection
 * closes) for the first one, then runs every one queued. Returns how many
 * ran (>= 0), or RILL_ECLOSED once the connection is gone and the queue is
 * empty, or RILL_EINVAL without cfg.poll. One thread at a time. */
RILL_API int rill_client_poll(rill_client *cl, int timeout_ms);

/* What a queued callback would have been called with, as
 * rill_client_poll_batch hands it over. */
typedef enum rill_client_polled_kind {
    RILL_CLIENT_POLLED_BUFFER = 1,  /* `buffer`, as on_buffer gets it */
    RILL_CLIENT_POLLED_BLOCK = 2,   /* `block`, as on_block gets it */
    RILL_CLIENT_POLLED_MONITOR = 3, /* buffer.name, buffer.var_id, the tick
                                       in buffer.first_ts, `value` */
    RILL_CLIENT_POLLED_ERROR = 4,   /* `err`, `msg` (on_error) */
    RILL_CLIENT_POLLED_DONE = 5,    /* a schedule's completion: `done`,
                                       `done_user`, `err` */
    RILL_CLIENT_POLLED_EVENT = 6    /* `event`, as on_event gets it */
} rill_client_polled_kind;

typedef struct rill_client_polled {
    rill_client_polled_kind kind;
    int err;
    rill_client_buffer buffer;
    rill_client_block block;
    double value;
    const char *msg;
    rill_client_done_fn done;
    void *done_user;
    rill_client_event event;
} rill_client_polled;

/* With cfg.poll: take up to `max` queued callbacks' arguments into `out`
 * instead of running the callbacks, in the order they would have run (the
 * callbacks are not called; a DONE carries the completion to call). Waits
 * for the first one as rill_client_poll does, then takes what is queued
 * now, so a caller that pays per call (Python's ctypes) makes one call per
 * burst of buffers instead of one callback per buffer. A block ends the
 * batch.
 *
 * The pointers in `out` (values, rel, a block's buffers, messages, an
 * event's strings) point into the poll queue itself: nothing is copied,
 * and they stay valid until the next rill_client_poll_batch or
 * rill_client_poll on `cl`, which gives their room back to the I/O
 * thread. With `copy_to` (NULL: none; `copy_bytes` bytes, 8-byte
 * aligned), the values and relative ticks of buffers (and of a block's
 * buffers) are copied there instead, each part starting at an 8-byte
 * boundary of `copy_to` in the order of `out`, so they outlive the call;
 * the batch then takes no more buffers than fit.
 *
 * Returns how many were taken (>= 0; 0: none within the timeout),
 * RILL_ECLOSED once the connection is gone and the queue is empty,
 * RILL_ETOOBIG when the next buffer alone does not fit `copy_bytes`
 * (nothing taken: call again with more room), or RILL_EINVAL (no
 * cfg.poll, `out` NULL or max 0). One thread at a time, the one that
 * polls: not concurrently with rill_client_poll. */
RILL_API int rill_client_poll_batch(rill_client *cl, int timeout_ms,
                                    rill_client_polled *out, size_t max,
                                    void *copy_to, size_t copy_bytes);

/* Buffers lost on the way to this client's callbacks: dropped by the
 * device for it (native mode) plus dropped from a full poll queue. Any
 * thread; never fails. */
RILL_API uint64_t rill_client_dropped(const rill_client *cl);

/* Counters of a connection. */
typedef struct rill_client_stats {
    uint64_t dropped;     /* as rill_client_dropped */
    uint64_t reconnects;  /* connections restored (cfg.reconnect) */
    uint64_t gaps;        /* GAP events */
    uint64_t gap_ticks;   /* their ticks, summed over the variables */
    uint64_t log_dropped; /* buffers the device dropped from log files */
    bool connected;       /* false while reconnecting and once closed */
} rill_client_stats;

/* Read the counters. Any thread; never fails. */
RILL_API void rill_client_get_stats(rill_client *cl, rill_client_stats *out);

/* The same for one variable. */
typedef struct rill_client_var_stats {
    uint64_t gaps;        /* GAP events of this variable */
    uint64_t gap_ticks;   /* their ticks */
    uint64_t log_dropped; /* buffers dropped from its log files */
} rill_client_var_stats;

/* Any thread. Returns 0, RILL_EINVAL (NULL arguments) or RILL_ENOTFOUND. */
RILL_API int rill_client_get_var_stats(rill_client *cl, const char *name,
                                       rill_client_var_stats *out);

/* ---- The device's variables --------------------------------------------- */

typedef struct rill_client_var {
    char name[64];
    uint32_t id;
    rill_type type;
    rill_ts_mode mode;
    uint32_t length;         /* values per buffer in a Bela stream (native
                                streams choose theirs with opts.length) */
    bool watched, logged, controlled;
    uint32_t monitor;        /* monitor period, 0 = off */
    double value;            /* what the program reads now */
    char log_file_name[96];
} rill_client_var;

typedef struct rill_client_list {
    double sample_rate;
    uint64_t timestamp; /* the device's latest tick */
    size_t n_vars;
    rill_client_var *vars;
} rill_client_list;

/* Ask the device for its variables (a round trip). On success *out is
 * owned by the caller and freed with rill_client_list_free (any thread;
 * NULL is a no-op). Any thread but the I/O thread's callbacks. Returns 0,
 * RILL_ETIMEOUT, RILL_ECLOSED or RILL_ENOMEM. */
RILL_API int rill_client_list_vars(rill_client *cl, rill_client_list **out);
RILL_API void rill_client_list_free(rill_client_list *list);

/* The device's audio description (watch.h; rill_server_set_audio on the
 * device), as it is now: a list round trip. Any thread but the I/O
 * thread's callbacks. Returns 0, RILL_ENOTFOUND (the device declares no
 * audio input), RILL_ENOTSUP (a Bela board, which has no description),
 * RILL_EPROTO (the device's description is malformed), RILL_ETIMEOUT,
 * RILL_ECLOSED or RILL_ENOMEM. */
RILL_API int rill_client_get_audio(rill_client *cl, rill_audio_desc *out);

/* ---- Streaming ------------------------------------------------------------ */

/* rill_client_stream_opts.length: each variable's buffers sized for a live
 * view at the device's rate. A buffer is sent when full, so the Bela size
 * (1024 floats: 10 s at 100 Hz; 512 sparse values) holds values back at a
 * low rate. Dense: the largest power of two that arrives 25 times a second
 * (the Bela size when that is longer: audio rates keep it). Sparse: a
 * power of two up to 16 and at most rate / 2756 (1 below 5.5 kHz), so one
 * set on every tick sends at most ~2756 buffers a second while rare
 * values come at once. */
#define RILL_CLIENT_LENGTH_LIVE UINT32_MAX

typedef struct rill_client_stream_opts {
    uint64_t start;  /* tick to start at; 0 = now */
    uint64_t duration; /* ticks; 0 = until stopped */
    uint32_t length; /* native: values per buffer; 0 = the Bela size;
                        RILL_CLIENT_LENGTH_LIVE: per variable, above */
    uint32_t block;  /* on_block span in ticks; 0 = the longest buffer */
} rill_client_stream_opts;

/* Start streaming the `n` named variables to on_buffer and on_block.
 * Unknown names are refused (RILL_ENOTFOUND) before anything is sent. opts
 * may be NULL. Any thread but the I/O thread's callbacks (it may wait for
 * a list round trip). Returns 0, RILL_EINVAL, RILL_ENOTFOUND,
 * RILL_ETIMEOUT, RILL_ECLOSED or RILL_ENOMEM. The variables streaming at
 * once form the block group: starting or stopping one restarts the
 * alignment (a stopped variable leaves it at once; its values after the
 * last whole block reach on_buffer only). With on_block set, a start "now"
 * (opts->start 0) is
 * made a tick a few milliseconds ahead (one list round trip), so the
 * variables start together. With opts->duration above 0 this is
 * rill_client_schedule (no completion callback; opts' length and block
 * apply): exactly the values of ticks [start, start + duration), the last
 * buffer marked `last`, and rill_client_wait waits for it. */
RILL_API int rill_client_stream_start(rill_client *cl, const char *const *names,
                                      size_t n,
                                      const rill_client_stream_opts *opts);

/* Stop streaming them (NULL, 0: every variable); a schedule of theirs
 * completes with RILL_ECANCELED. Any thread but the I/O thread's
 * callbacks. Returns 0, RILL_EINVAL, RILL_ENOTFOUND, RILL_ECLOSED or
 * RILL_ENOMEM. */
RILL_API int rill_client_stream_stop(rill_client *cl, const char *const *names,
                                     size_t n);

/* Stream exactly `n_values` values of each of the `n` named variables,
 * all starting at the same tick (now, give or take a list round trip),
 * and return them: values[i] (as doubles, exact for every type) and
 * timestamps[i] (the tick of each value) for names[i], each an array of
 * n_values from rill's allocator, freed with rill_client_free. The caller
 * passes the two arrays of n pointers. The buffer and block callbacks do
 * not see these values. If any value is lost on the way nothing is
 * returned (RILL_EIO, and the log names the variable). Any thread but the
 * I/O thread's callbacks. Also RILL_EINVAL (no names, n_values 0, a name
 * twice), RILL_ENOTFOUND, RILL_ETIMEOUT, RILL_ECLOSED, RILL_ENOMEM.
 *
 *   const char *names[] = {"sine", "frame"};
 *   double *v[2];
 *   uint64_t *t[2];
 *   if (rill_client_stream_n_values(cl, names, 2, 1000, v, t) == 0) ...
 */
RILL_API int rill_client_stream_n_values(rill_client *cl,
                                         const char *const *names, size_t n,
                                         size_t n_values, double **values,
                                         uint64_t **timestamps);

/* Free what rill_client_stream_n_values and _monitor_n_values returned.
 * Any thread; NULL is a no-op. */
RILL_API void rill_client_free(void *p);

/* Schedule streaming of the `n` named variables for `duration` ticks (> 0)
 * from tick `start` (0 = now), without blocking: the values set during
 * ticks [start, start + duration) arrive at on_buffer/on_block, exactly
 * those in both modes (a Bela sends one more and pads; the client trims).
 * When every variable has delivered its last value, `done` runs (on the
 * I/O thread, or in rill_client_poll) with 0, or with an error if the
 * connection closed or values were lost. `done` may be NULL. Any thread
 * but the I/O thread's callbacks (a start "now" waits for a list round
 * trip). Returns 0, RILL_EINVAL (duration 0, no names, a tick overflow),
 * RILL_ENOTFOUND, RILL_ETIMEOUT, RILL_ECLOSED or RILL_ENOMEM. */
RILL_API int rill_client_schedule(rill_client *cl, const char *const *names,
                                  size_t n, uint64_t start, uint64_t duration,
                                  rill_client_done_fn done, void *user);

/* Wait until every scheduled stream has finished and its completion has
 * run (with cfg.poll: has been queued for rill_client_poll). Returns 0, or
 * the first error a schedule finished with since the previous wait, or
 * RILL_ETIMEOUT after timeout_ms (-1: no limit but the connection's life),
 * RILL_ECLOSED. Any thread but the I/O thread's callbacks. */
RILL_API int rill_client_wait(rill_client *cl, int timeout_ms);

/* ---- Logging on the device -------------------------------------------------- */

typedef struct rill_client_log_file {
    char name[96]; /* the device's file name for the variable */
} rill_client_log_file;

/* Start logging the `n` named variables to files on the device (opts:
 * start tick and duration as for streams; NULL = now, until stopped).
 * files, if not NULL, receives each variable's file name (n entries).
 * Waits until the device has created the files (a list round trip). Any
 * thread but the I/O thread's callbacks. Returns 0, RILL_EINVAL,
 * RILL_ENOTFOUND, RILL_ETIMEOUT, RILL_ECLOSED, RILL_ENOMEM; what the device
 * refuses (already logging, no room) goes to on_error. */
RILL_API int rill_client_log_start(rill_client *cl, const char *const *names,
                                   size_t n,
                                   const rill_client_stream_opts *opts,
                                   rill_client_log_file *files);

/* Stop logging them; the device finishes the files. Same thread rule and
 * errors as rill_client_log_start. */
RILL_API int rill_client_log_stop(rill_client *cl, const char *const *names,
                                  size_t n);

/* Download a log file the device has finished to `path` (over HTTP, GET
 * /files/<name> on rill serve). While the device is still writing it,
 * retries until timeout_ms. Returns 0, RILL_ETIMEOUT, RILL_ENOTFOUND (no
 * such file), RILL_ENOTSUP (a Bela board: its files are fetched with
 * scp/SFTP, the log says how), RILL_EIO (the local file cannot be
 * written; nothing partial is left at `path`), RILL_EINVAL, RILL_ENOMEM.
 * Any thread but the I/O thread's callbacks. */
RILL_API int rill_client_fetch(rill_client *cl, const char *file_name,
                               const char *path, int timeout_ms);

/* ---- Monitor, control, buffers to the device ------------------------------ */

/* Monitor the `n` named variables: one value every `period` ticks to
 * on_monitor (spec: the first at the next assignment, then each at least
 * `period` ticks after the previous). Period 0 stops monitoring them. Any
 * thread; it sends and returns. Returns 0, RILL_EINVAL (a period of 2^31
 * or more), RILL_ENOTFOUND, RILL_ECLOSED or RILL_ENOMEM. */
RILL_API int rill_client_monitor(rill_client *cl, const char *const *names,
                                 size_t n, uint32_t period);

/* Monitor the `n` named variables every `period` ticks (2 or more) until
 * each has given `n_values` values, then stop monitoring them, and return
 * the values and their ticks as rill_client_stream_n_values does
 * (values[i], timestamps[i], freed with rill_client_free). on_monitor does
 * not see them. Thread rule and errors as rill_client_stream_n_values;
 * RILL_EINVAL also for a period below 2. */
RILL_API int rill_client_monitor_n_values(rill_client *cl,
                                          const char *const *names, size_t n,
                                          uint32_t period, size_t n_values,
                                          double **values,
                                          uint64_t **timestamps);

/* The variable's current value and the tick it was set at (a one-shot
 * monitor; `value` and `tick` may be NULL). Any thread but the I/O
 * thread's callbacks. Returns 0, RILL_ENOTFOUND, RILL_ETIMEOUT (the
 * program set no value within the timeout), RILL_EBUSY (the device
 * refused the one-shot monitor: no room for its stream; said through
 * on_error), RILL_ECLOSED. */
RILL_API int rill_client_peek(rill_client *cl, const char *name,
                              double *value, uint64_t *tick);

/* Take (true) or release control of a variable; while controlled the
 * program reads the value set with rill_client_set. Applied before the
 * function returns (a list round trip). Any thread but the I/O thread's
 * callbacks. Returns 0, RILL_ENOTFOUND, RILL_ETIMEOUT, RILL_ECLOSED or
 * RILL_ENOMEM; so do rill_client_set and rill_client_set_mask, and
 * rill_client_set RILL_EINVAL for an infinite or NaN value (the control
 * messages are JSON, which has neither). A command the device refuses is
 * said through on_error (RILL_EINVAL) before the function returns. */
RILL_API int rill_client_control(rill_client *cl, const char *name, bool on);
RILL_API int rill_client_set(rill_client *cl, const char *name, double value);
/* Replace only the `mask` bits of a controlled integer variable's value
 * with those of `value` (as Bela's setMask, unsigned 32-bit). Thread and
 * errors as rill_client_control. */
RILL_API int rill_client_set_mask(rill_client *cl, const char *name,
                                  uint32_t value, uint32_t mask);

/* Send `count` values of `type` to the device's buffer callback, as
 * pybela's send_buffer does, with the channel number `id`. It queues the
 * message and returns (no waiting: into an empty queue it is written to
 * the socket at once, without blocking, else the I/O thread writes it),
 * so it may be called from any callback, e.g. to send a received buffer
 * straight back. Any thread.
 * Returns 0, RILL_EFULL (the send queue holds cfg.send_queue_bytes
 * already: the buffer is not sent, and counted), RILL_EINVAL (bad type,
 * NULL values, too many), RILL_ECLOSED or RILL_ENOMEM. */
RILL_API int rill_client_send_buffer(rill_client *cl, uint32_t id,
                                     rill_type type, const void *values,
                                     size_t count);

/* Buffers rill_client_send_buffer refused with RILL_EFULL so far. Any
 * thread; never fails. */
RILL_API uint64_t rill_client_send_dropped(const rill_client *cl);

/* Ask the device to change its audio configuration (rill serve; the
 * dashboard's form; docs/PROTOCOL.md §8): the fields of `change` that are
 * set, each one the device's audio description offers as "settable". Waits
 * for the device to apply it (it may reopen its audio input: up to twice
 * the timeout, at least 5 s); every client then gets the new description.
 * Any thread but the I/O thread's callbacks. Returns 0; RILL_EINVAL with
 * the device's sentence in `why` (a value not offered, a device that
 * cannot reopen ...; without the protocol's "audio-config: " and
 * "; refused" around it); RILL_ENOTSUP (a Bela board); RILL_ETIMEOUT,
 * RILL_ECLOSED. */
RILL_API int rill_client_change_audio(rill_client *cl,
                                      const rill_audio_change *change,
                                      char *why, size_t why_size);

/* Send one message as it is on the control socket (native mode only):
 * `head` then `body` (either may be empty) as one text (JSON) or binary
 * WebSocket message, e.g. a dashboard handler message (include/rill/dash.h).
 * Queues it and returns, from any thread or callback. Returns 0,
 * RILL_EINVAL, RILL_ENOTSUP (not native), RILL_ECLOSED. */
RILL_API int rill_client_send_message(rill_client *cl, bool binary,
                                      const void *head, size_t head_len,
                                      const void *body, size_t body_len);

/* ---- Sessions: URLs, start ticks, log completion ------------------------------ */

/* Check a device URL as rill_client_connect reads it, ws://HOST[:PORT][/...]
 * (port 5555 if none; an IPv6 address in brackets, ws://[::1]:5555, its
 * host the address without them), without connecting: so that a program can refuse a
 * typo before doing anything else. On success writes the host (when `host`
 * is not NULL; host_size of 256 holds any host this accepts) and the port
 * (when `port` is not NULL). Returns 0, or RILL_EINVAL with, in `why` (when
 * not NULL), what is wrong as the end of a sentence about the URL: "is not
 * a ws:// URL: write ws://HOST[:PORT], ...", "has no host name: ...",
 * "has too long a host name ...", "has a bad port: ...". Any thread; no
 * I/O. */
RILL_API int rill_client_parse_url(const char *url, char *host,
                                   size_t host_size, int *port, char *why,
                                   size_t why_size);

/* The tick to start streams or logs at for "now": a little (50 ms and twice
 * the round trip; on a device of more than 128 variables, 20 us more for
 * each, which a request naming them all may take) after the device's
 * latest tick, asked with one list round trip, so that
 * the request naming it reaches the device in time, every variable
 * started with it starts on that same tick, and no buffer of an earlier
 * stream is taken for the start. rill_client_schedule and the exactly-N
 * requests use the same tick for their own start "now". Blocks for the
 * round trip: not from a callback on the I/O thread. Returns 0 and
 * *tick; RILL_EINVAL (NULL cl or tick), RILL_ETIMEOUT, RILL_ECLOSED. */
RILL_API int rill_client_start_tick(rill_client *cl, uint64_t *tick);

/* Wait until the device has finished the `n` log files that
 * rill_client_log_start returned (`files`), each complete and closed, so
 * that rill_client_fetch gets all of it. A log with a duration finishes by
 * itself; one without, after rill_client_log_stop. Native mode waits for
 * the device's log-ended notices (it may be called after they arrived);
 * compatibility mode, where a Bela board sends none, asks for the list
 * every 100 ms until it shows each variable no longer logging its file.
 * Blocks: not from a callback on the I/O thread; any other thread, also
 * while other requests run. timeout_ms -1: no limit but the connection's
 * life. Returns 0; RILL_EIO when the device said a write to one of the
 * files failed (the file keeps every buffer written before the failure;
 * the message went to on_error), or that it dropped buffers of one (its log
 * writer fell behind; on_event got LOG_DROPPED), or when the device
 * restarted while the connection was lost (cfg.reconnect; the wait then
 * also reads the list, since notices sent meanwhile never came);
 * RILL_ETIMEOUT; RILL_ECLOSED; RILL_EINVAL
 * (NULL cl, NULL files with n > 0, an empty file name). */
RILL_API int rill_client_log_wait(rill_client *cl,
                                  const rill_client_log_file *files, size_t n,
                                  int timeout_ms);

/* The ticks the device logs `file` over, [*start, *end), as it announced
 * when the log began (its log-scheduled notice). A start tick that had
 * passed when the device took the command (a loaded device, a slow link)
 * is taken as "now", so *start may be later than asked, and *end keeps
 * the duration after it; without a duration *end is what the device said
 * (UINT64_MAX on rill serve). The latest log of the file's variable only.
 * Any thread but the I/O thread's callbacks. Returns 0, RILL_ENOTFOUND
 * (no announcement for that file yet: after rill_client_log_wait returned
 * 0 or RILL_EIO there is one), RILL_EINVAL (NULL argument). */
RILL_API int rill_client_log_span(rill_client *cl, const char *file,
                                  uint64_t *start, uint64_t *end);

#ifdef __cplusplus
}
#endif

#endif /* RILL_CLIENT_H */
