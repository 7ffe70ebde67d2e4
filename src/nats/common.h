/* What the bridge (bridge.c) and the consumer (consumer.c) share: the
 * subject scheme, the message headers, the announcement, connecting to
 * NATS and turning its statuses into rill errors. docs/SCALE.md describes
 * the format for other implementations.
 *
 * Why src/nats/ holds both sides: they are the only code that links
 * libnats and they must agree byte for byte on subjects and headers; one
 * folder is one dependency boundary (a build without libnats leaves it
 * out) and one place to read the format.
 */
#ifndef RILL_NATS_COMMON_H
#define RILL_NATS_COMMON_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/nats.h"

/* Headers of every message (docs/SCALE.md "Message format"): two, since
 * each header is several allocations for libnats on both sides and bytes
 * for the server to scan (six made the bridge's flood 15-25% slower). */
#define RILL__H_MSGID "Nats-Msg-Id" /* <device>.<var>.<run>.<seq>: dedupe */
/* "<run> <type> <mode> <rate> <tick0> <ns0> <ns_per_tick> <err_ns>
 * <points>": the bridge's session (16 hex digits), the type letter (c i j
 * f d), dense | sparse, ticks per second, then the clock line. */
#define RILL__H_META "Rill"
/* A marker, not a frame (empty body): "seq dropped" of a frame the bridge
 * gave up storing, so consumers stop waiting for it. */
#define RILL__H_LOST "Rill-Lost"

/* The Rill header, read. `clock` points into the parsed text, at the
 * clock line (rill__clock_parse reads it). */
typedef struct rill__nats_meta {
    char run[17];
    char type; /* the type letter */
    bool sparse;
    double rate;
    const char *clock;
} rill__nats_meta;

/* Parse a Rill header's value. False if it is not one. */
bool rill__nats_meta_parse(const char *s, rill__nats_meta *out);

/* Write a Rill header's value into `out` (at least
 * RILL__NATS_META_MAX bytes): `rate_text` is the rate as text, `clock`
 * the clock line (rill__clock_format). Returns its length. No allocation
 * and no printf: the bridge writes one per message. */
#define RILL__NATS_META_MAX 256
size_t rill__nats_meta_write(char *out, const char *run, char type,
                             bool sparse, const char *rate_text,
                             const char *clock);

#define RILL__NATS_DEFAULT_URL "nats://127.0.0.1:4222"
#define RILL__NATS_DEFAULT_STREAM "RILL"
#define RILL__NATS_DEFAULT_PREFIX "rill"
#define RILL__NATS_DEFAULT_BUCKET "rill_devices"

/* A device name is one subject token: 1-64 of [A-Za-z0-9_-]. */
bool rill__nats_name_ok(const char *name);

/* <prefix>.<device>.<var>, the variable's name escaped into one token
 * (bytes outside [A-Za-z0-9_-] as %XX). Returns 0 or RILL_ETOOBIG. */
int rill__nats_subject(const char *prefix, const char *device, const char *var,
                       char *out, size_t cap);

/* Unescape a subject's variable token. Returns 0 or RILL_EINVAL. */
int rill__nats_unescape(const char *token, char *out, size_t cap);

/* "tick0 ns0 ns_per_tick err_ns points" and back. */
void rill__clock_format(const rill_clock_map *m, char *out, size_t cap);
bool rill__clock_parse(const char *s, rill_clock_map *m);

/* Connect with reconnection for ever (a cluster node may go away), to
 * every server of a comma-separated `urls`; `reconnected` (may be NULL)
 * runs on libnats's thread after each reconnection. Returns 0 or a rill
 * error with a sentence in the log (what failed, where, what to do). */
int rill__nats_connect(const char *urls, int timeout_ms, const char *who,
                       natsConnectionHandler reconnected, void *closure,
                       natsConnection **out);

/* A rill error for a NATS status, logged with `what` and JetStream's own
 * sentence when there is one. */
int rill__nats_error(natsStatus s, jsErrCode jerr, const char *what);

/* The realtime clock minus the monotonic one, now, in ns. */
int64_t rill__realtime_minus_monotonic(void);

#endif /* RILL_NATS_COMMON_H */
