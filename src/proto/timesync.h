/* The clock exchange (docs/PROTOCOL.md §10): {"rill":"time"} on a native
 * control socket, and its reply. Both sides' codec: the device reads the
 * request and writes the reply (server/stamp.c), the host writes the
 * request and reads the reply (the NATS bridge, src/nats/bridge.c).
 *
 * A host that converts a device's ticks to its own clock needs pairs "tick
 * T happened at device time D" and the offset between the device's clock
 * and its own. The offset comes from an NTP-style exchange: the host's
 * send time t0, the device's receive and send times t1 and t2 (its
 * CLOCK_MONOTONIC), the host's receive time t3. The reply also carries the
 * device's freshest (tick, tickNs) pair, taken on its tick thread.
 */
#ifndef RILL_PROTO_TIMESYNC_H
#define RILL_PROTO_TIMESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The native control protocol's version, in the hello reply: 2 since the
 * time exchange (1: without it). Native data messages keep their own
 * version byte, RILL__NATIVE_VERSION (1). */
#define RILL__CONTROL_VERSION 2

typedef struct rill__time_msg {
    bool has_id;
    int64_t id;      /* the request's, echoed */
    int64_t t0;      /* the host's clock at sending, ns */
    uint64_t t1, t2; /* the device's clock at receiving, at replying */
    bool has_pair;   /* a (tick, tick_ns) pair was taken already */
    uint64_t tick;   /* a tick and the device's clock at it */
    uint64_t tick_ns;
} rill__time_msg;

/* Host: {"rill":"time","id":id,"t0":t0} into out[0..cap). Returns its
 * length (0 if it does not fit). */
size_t rill__time_request_write(int64_t id, int64_t t0, char *out, size_t cap);

/* Device: read a request (root is a parsed {"rill":"time"} object) into
 * m's id and t0. 0, or RILL_EINVAL with a sentence in `why`. */
int rill__time_request_read(const json_t *root, rill__time_msg *m, char *why,
                            size_t why_cap);

/* Device: the reply, as text from rill__malloc (rill__free it). 0 or
 * RILL_ENOMEM. */
int rill__time_reply_write(const rill__time_msg *m, char **out, size_t *len);

/* Host: read a reply (a parsed {"rill":"time"} object). 0, or RILL_EPROTO
 * if t0, t1 or t2 is missing. */
int rill__time_reply_read(const json_t *root, rill__time_msg *m);

#endif /* RILL_PROTO_TIMESYNC_H */
