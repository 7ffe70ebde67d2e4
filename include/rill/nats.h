/* Streams through NATS JetStream: the consumer side, and what the bridge
 * and its consumers share (the clock mapping, gap reports). The bridge
 * that publishes devices is in rill/bridge.h; docs/SCALE.md has the subject
 * scheme, the message format, the clock model and the guarantees.
 *
 * A consumer is a rill_client (client.h) whose device is a bridged one,
 * read from JetStream instead of a socket: rill_nats_connect returns one,
 * and list, stream_start/stop, stream_n_values, schedules, on_buffer,
 * on_block and poll mode work as on a direct connection. Requests the
 * recording cannot answer (monitor, peek, control, set, log, send_buffer)
 * fail with an error reply (RILL_EINVAL) or RILL_ENOTSUP.
 *
 * Threads. The consumer's thread reads JetStream and plays the client's
 * I/O thread: callbacks run there, or in rill_client_poll with
 * cfg.poll.
 */
#ifndef RILL_NATS_H
#define RILL_NATS_H

#include <stdbool.h>
#include <stdint.h>

#include "rill/client.h"
#include "rill/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A device's ticks on one clock: the bridge's estimate of when tick t
 * happened, in nanoseconds since the Unix epoch (the bridge host's
 * CLOCK_REALTIME; hosts that share NTP or PTP share it):
 *   ns(t) = ns0 + (t - tick0) * ns_per_tick
 * err_ns is the fit's residual (RMS over its window); `points` the probes
 * behind it (0: no estimate yet, ns_per_tick is then 1e9 / rate). */
typedef struct rill_clock_map {
    uint64_t tick0;
    int64_t ns0;
    double ns_per_tick;
    double err_ns;
    uint32_t points;
} rill_clock_map;

/* ns(t) of the mapping, rounded. Any thread. */
RILL_API int64_t rill_clock_map_ns(const rill_clock_map *m, uint64_t tick);

/* Values that will never arrive, said once per span. */
typedef struct rill_nats_gap {
    const char *device, *variable;
    uint64_t from_tick, to_tick; /* ticks [from, to) (sparse: at most) */
    uint64_t buffers;            /* buffers missing, if known (else 0) */
    const char *why;             /* one sentence: the device dropped them,
                                    the bridge could not store them, the
                                    bridge restarted, ... */
} rill_nats_gap;

/* On the consumer's thread, always (also with cfg.poll), before the buffer
 * that follows the gap is delivered. */
typedef void (*rill_nats_gap_fn)(rill_client *cl, const rill_nats_gap *gap,
                                 void *user);

typedef enum rill_nats_start {
    RILL_NATS_LIVE = 0, /* from the newest message on */
    RILL_NATS_ALL,      /* from the start of the stream's retention */
    RILL_NATS_SEQ,      /* from stream sequence start_seq */
    RILL_NATS_TIME      /* from messages stored at start_time_ns on */
} rill_nats_start;

typedef struct rill_nats_config {
    const char *nats_url;   /* "nats://127.0.0.1:4222"; several servers of a
                               cluster comma-separated */
    const char *device;     /* the bridged device's name */
    const char *stream;     /* default "RILL" */
    const char *subject_prefix; /* default "rill" */
    const char *kv_bucket;  /* device announcements; default "rill_devices" */
    rill_nats_start start;
    uint64_t start_seq;     /* RILL_NATS_SEQ */
    int64_t start_time_ns;  /* RILL_NATS_TIME: Unix epoch nanoseconds */
    rill_nats_gap_fn on_gap; /* may be NULL (the log still says it) */
    void *gap_user;
} rill_nats_config;

RILL_API rill_nats_config rill_nats_config_default(void);

/* Connect to the bridged device `ncfg->device` through JetStream, as
 * rill_client_connect does to a device (cfg->url is ignored; the
 * callbacks, poll and timeout apply). Returns 0, RILL_EINVAL,
 * RILL_EREFUSED (no NATS server answers at nats_url), RILL_ENOTFOUND (no
 * such device announced: the log lists those that are; or no such
 * stream), RILL_ETIMEOUT, RILL_ENOMEM; the log says why. Destroy with
 * rill_client_destroy. */
RILL_API int rill_nats_connect(const rill_client_config *cfg,
                               const rill_nats_config *ncfg,
                               rill_client **out);

/* The clock mapping carried by the latest message delivered (on the
 * consumer thread: of the buffer being delivered). Returns 0, RILL_EINVAL
 * (not a NATS client), RILL_ENOTFOUND (no message yet). */
RILL_API int rill_nats_client_clock(const rill_client *cl, rill_clock_map *out);

/* Messages delivered and missing spans reported so far. */
typedef struct rill_nats_stats {
    uint64_t messages, gaps, bad_messages, reordered;
} rill_nats_stats;
RILL_API int rill_nats_client_stats(const rill_client *cl, rill_nats_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* RILL_NATS_H */
