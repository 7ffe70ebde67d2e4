/* rill's native data-path format: one binary WebSocket message per buffer.
 *
 * The Bela format (wire.h) needs two messages per buffer, has no count, no
 * sequence number and no drop counter, and pads short buffers with zeros
 * that look like data. Clients that ask for the native format get instead,
 * for every stream buffer, monitor value or end of stream, one message:
 *
 *   offset size field
 *        0    1 version (RILL__NATIVE_VERSION = 1)
 *        1    1 kind (rill__native_kind)
 *        2    1 type letter ('c', 'i', 'j', 'f', 'd')
 *        3    1 flags (RILL__NATIVE_FLAG_*)
 *        4    4 variable id
 *        8    8 sequence number
 *       16    8 first timestamp (tick of value 0)
 *       24    4 value count
 *       28    4 dropped
 *       32    . count values, packed
 *        .    . sparse only: zero bytes up to a multiple of 4 from the start
 *                of the message, then count u32 relative timestamps
 *
 * Everything is little-endian. docs/PROTOCOL.md has the full description.
 * Pure functions: no allocation, no I/O, no state; any thread may call
 * them, the tick thread included.
 */
#ifndef RILL_PROTO_NATIVE_H
#define RILL_PROTO_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/watch.h"

#define RILL__NATIVE_VERSION 1
#define RILL__NATIVE_HEADER_BYTES 32

typedef enum rill__native_kind {
    /* count >= 1 values of a stream; flags may be SPARSE and/or LAST. */
    RILL__NATIVE_STREAM = 0,
    /* one monitored value (count 1) at tick first_ts; no flags. */
    RILL__NATIVE_MONITOR = 1,
    /* the stream ended with no values left to send (count 0); no flags. */
    RILL__NATIVE_END = 2
} rill__native_kind;

/* Relative timestamps follow the values (sparse variables). */
#define RILL__NATIVE_FLAG_SPARSE 0x01u
/* This buffer is the last of its stream: nothing follows until the next
 * watch. Saves the client waiting for an END message. */
#define RILL__NATIVE_FLAG_LAST 0x02u
#define RILL__NATIVE_FLAGS_KNOWN 0x03u

/* The fields of the 32-byte header, in host order. The version is not a
 * field: the encoder always writes RILL__NATIVE_VERSION and the decoder
 * accepts nothing else.
 *
 * seq counts messages per client per variable: it goes up by one with each
 * message of that variable the server produces for that client, delivered
 * or not, so a dropped message leaves a gap. dropped is the number of
 * buffers of this variable dropped for this client (queue full) since the
 * previous message delivered to it; when the server is the only cause of
 * loss, seq - previous seq == 1 + dropped. */
typedef struct rill__native_header {
    rill__native_kind kind;
    rill_type type;
    uint8_t flags;
    uint32_t var_id;
    uint64_t seq;
    uint64_t first_ts;
    uint32_t count;
    uint32_t dropped;
} rill__native_header;

/* A decoded message: the header, and pointers into the message at the
 * count little-endian values and (sparse only, else NULL) the count
 * little-endian u32 relative timestamps. Read them with
 * rill__wire_get_values / rill__get_le32; they may be unaligned. */
typedef struct rill__native_msg {
    rill__native_header h;
    const uint8_t *values;
    const uint8_t *rel;
} rill__native_msg;

/* Bytes of the message `h` describes, or 0 if `h` breaks a rule of its kind
 * (see rill__native_kind) or the size does not fit in size_t. */
size_t rill__native_size(const rill__native_header *h);

/* Write the message for `h` into out[0..cap): the header, then h->count
 * values read from `values` (host order, an array of h->type), then for
 * SPARSE the padding and h->count relative ticks from `rel`. *len gets the
 * length (rill__native_size). Returns 0, RILL_EINVAL (a rule of the kind is
 * broken, or a needed pointer is NULL) or RILL_ETOOBIG (cap too small;
 * nothing is written). */
int rill__native_encode(const rill__native_header *h, const void *values,
                        const uint32_t *rel, uint8_t *out, size_t cap,
                        size_t *len);

/* Write only the 32-byte header for `h` (the caller writes the body after
 * it, laid out as rill__native_encode would). Returns 0 or RILL_EINVAL (a
 * rule of the kind is broken). */
int rill__native_head_put(const rill__native_header *h,
                          uint8_t out[RILL__NATIVE_HEADER_BYTES]);

/* Parse and fully validate one message. Returns 0, RILL_EINVAL (NULL
 * pointers) or RILL_EPROTO with a precise message: shorter than the
 * header, unknown version, kind, type letter or flag bits, a count the
 * kind does not allow, or a length that does not match the count. */
int rill__native_decode(const uint8_t *msg, size_t len, rill__native_msg *out,
                        char *err, size_t err_cap);

#endif /* RILL_PROTO_NATIVE_H */
