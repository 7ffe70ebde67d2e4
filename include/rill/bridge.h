/* rill_bridge: publishes rill devices' streams into a NATS JetStream
 * stream, so that any number of consumers on other hosts read them live or
 * later (rill/nats.h), with each device's ticks mapped to one clock.
 * docs/SCALE.md has the subject scheme, message format and guarantees.
 *
 * For each device the bridge keeps a native rill_client: it streams the
 * chosen variables and publishes every buffer (the native frame, with a
 * sequence number that counts the device's drops) to
 * <prefix>.<device>.<variable> with asynchronous acknowledged publishes; a
 * publish that fails or times out is sent again with the same Nats-Msg-Id,
 * so JetStream stores it once. It announces the device (its variables,
 * audio description, rate, bridged names) in a KV bucket, and estimates
 * the device's tick -> clock mapping by the clock exchange
 * (docs/PROTOCOL.md §10), carried in every message.
 *
 * Threads: each device's client I/O thread publishes; one thread per
 * device probes its clock; libnats's threads acknowledge; one thread
 * retries. The functions here are for one user thread at a time.
 */
#ifndef RILL_BRIDGE_H
#define RILL_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "rill/core.h"
#include "rill/nats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_bridge rill_bridge;

typedef struct rill_bridge_config {
    const char *nats_url;       /* default "nats://127.0.0.1:4222";
                                   several comma-separated */
    const char *stream;         /* default "RILL" */
    const char *subject_prefix; /* default "rill" */
    const char *kv_bucket;      /* default "rill_devices" */
    int replicas;               /* JetStream replicas, 1 ... 5; default 1 */
    double max_age_s;           /* retention by age; default 3600, 0 none */
    int64_t max_bytes;          /* retention by size; default 1 GiB, -1 none */
    int timeout_ms;             /* connects, publish acks; default 5000 */
    int probe_ms;               /* clock probes per device; default 250 */
    int max_pending;            /* publishes awaiting acks; default 4096 */
    double give_up_s;           /* a publish still failing after this long is
                                   lost (counted, and a gap for consumers);
                                   default 60 */
    bool dedupe;                /* a Nats-Msg-Id on every message, so that
                                   JetStream stores a retried one once;
                                   default true. Off, a retry whose first
                                   try was stored is stored twice (rill's
                                   consumers skip it by its sequence), and
                                   JetStream stores ~10% more messages
                                   per second (docs/SCALE.md, Measured) */
} rill_bridge_config;

RILL_API rill_bridge_config rill_bridge_config_default(void);

/* Connect to NATS, create or update the stream and the KV bucket.
 * Returns 0, RILL_EINVAL, RILL_EREFUSED (no NATS server answers),
 * RILL_EIO (JetStream refused: not enabled, too few servers for the
 * replicas ...; the log has its sentence), RILL_ETIMEOUT, RILL_ENOMEM. */
RILL_API int rill_bridge_create(const rill_bridge_config *cfg,
                                rill_bridge **out);

typedef struct rill_bridge_device {
    const char *name;  /* its subjects' token: letters, digits, _ and - */
    const char *url;   /* ws://host:port of its rill serve */
    const char *token; /* or NULL */
    const char *const *vars; /* the variables to publish; NULL: all */
    size_t n_vars;
    uint32_t length;   /* values per buffer; 0: sized for the rate
                          (RILL_CLIENT_LENGTH_LIVE, client.h) */
} rill_bridge_device;

/* Connect to a device (native mode), announce it and publish its
 * variables until rill_bridge_destroy. Returns 0, RILL_EINVAL (a bad
 * name), RILL_EEXISTS (that name is bridged already), the client's connect
 * errors, RILL_ENOTFOUND (a variable it does not have). */
RILL_API int rill_bridge_add(rill_bridge *b, const rill_bridge_device *dev);

typedef struct rill_bridge_stats {
    uint64_t published;    /* messages handed to JetStream (Rill-Lost
                              markers included, docs/SCALE.md) */
    uint64_t acked;        /* stored (duplicates of a retry included) */
    uint64_t retried;      /* publishes sent again after a failure */
    uint64_t lost;         /* given up after give_up_s */
    uint64_t device_drops; /* buffers the devices dropped for the bridge */
    uint64_t bytes;        /* payload bytes published */
    uint64_t pending;      /* awaiting an ack or a retry now */
    bool connected;        /* to NATS, now */
} rill_bridge_stats;

RILL_API void rill_bridge_get_stats(rill_bridge *b, rill_bridge_stats *out);

/* The current clock estimate of a bridged device. RILL_ENOTFOUND. */
RILL_API int rill_bridge_clock(rill_bridge *b, const char *device,
                               rill_clock_map *out);

/* Wait until every publish is acknowledged (or timeout_ms). Returns 0 or
 * RILL_ETIMEOUT. */
RILL_API int rill_bridge_flush(rill_bridge *b, int timeout_ms);

/* Stop publishing, wait for outstanding acks (up to the timeout), close
 * and free. NULL is a no-op. */
RILL_API void rill_bridge_destroy(rill_bridge *b);

#ifdef __cplusplus
}
#endif

#endif /* RILL_BRIDGE_H */
