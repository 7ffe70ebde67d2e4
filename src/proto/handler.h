/* Dashboard handler messages (docs/HANDLERS.md): what a program sends its
 * handlers on its control socket (include/rill/dash.h), and what the
 * server relays to every page, with the program's handler id rewritten to
 * a server-wide one. One codec for both sides.
 *
 * JSON events, written by the one JSON writer (json_out.h), keys sorted:
 *   {"event":"handler","id":N[,"name":S],"parameters":{...},"type":T}
 *   {"data":D,"event":"handler-data","id":N[,"tick":T]}
 *   {"event":"handler-remove","id":N}
 *
 * Binary frames, for big data (one WebSocket message each):
 *
 *   offset size field
 *        0    1 version (RILL__HANDLER_FRAME_VERSION = 1)
 *        1    1 kind (RILL__HANDLER_FRAME_KIND = 16: tells a frame from a
 *               native data message, whose kinds are 0 to 2)
 *        2    1 value type: 'f' float32, 'd' float64, 'h' int16, 'i' int32
 *        3    1 flags (RILL__HANDLER_FLAG_REPLACE)
 *        4    4 handler id
 *        8    8 sequence number (per handler, from 0)
 *       16    8 device tick (0: none)
 *       24    4 value count
 *       28    4 arg (series index, channels, row length: per handler type)
 *       32    . count values
 *
 * Everything is little-endian. The frame functions are pure (no
 * allocation, no I/O); the JSON builders allocate (rill__malloc). Any
 * thread but the tick thread.
 */
#ifndef RILL_PROTO_HANDLER_H
#define RILL_PROTO_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define RILL__HANDLER_FRAME_VERSION 1
#define RILL__HANDLER_FRAME_KIND 16
#define RILL__HANDLER_FRAME_HEADER 32
/* The frame replaces what the handler shows instead of adding to it. */
#define RILL__HANDLER_FLAG_REPLACE 0x01u
#define RILL__HANDLER_FLAGS_KNOWN 0x01u

/* A frame's header fields, host order. `values` points at the count
 * little-endian values (into the message, when decoded). */
typedef struct rill__handler_frame {
    char type; /* 'f', 'd', 'h' or 'i' */
    uint8_t flags;
    uint32_t handler;
    uint64_t seq;
    uint64_t tick;
    uint32_t count;
    uint32_t arg;
    const uint8_t *values;
} rill__handler_frame;

/* Bytes per value of a frame's type letter: 4 ('f', 'i'), 8 ('d'), 2
 * ('h'), or 0 for any other letter. */
size_t rill__handler_value_size(char type);

/* Whether a binary message on a control socket is a handler frame (its
 * version and kind), rather than a buffer for the device. */
bool rill__handler_frame_is(const uint8_t *msg, size_t len);

/* Write the 32-byte header of `f` (its values follow, sent as they are).
 * Returns 0, or RILL_EINVAL for an unknown type or flag bits. */
int rill__handler_frame_header_encode(const rill__handler_frame *f,
                                      uint8_t out[RILL__HANDLER_FRAME_HEADER]);

/* Parse and fully check a frame: its header, its type and flags, and a
 * length of exactly 32 + count values. Returns 0, RILL_EINVAL (NULL
 * pointers) or RILL_EPROTO with one sentence in err (RILL__WIRE_ERR_CAP is
 * enough), e.g. "handler frame: count 4 of 'f' needs 16 bytes after the
 * header, the message has 8". Once the message holds a whole header,
 * out->handler is set even on failure, so the refusal can name it. */
int rill__handler_frame_decode(const uint8_t *msg, size_t len,
                               rill__handler_frame *out, char *err,
                               size_t err_cap);

/* Rewrite a frame's handler id in place (the relay's server-wide id). */
void rill__handler_frame_set_id(uint8_t *msg, uint32_t handler);

/* ---- JSON events ---------------------------------------------------------
 *
 * Each returns 0 and a NUL-terminated text from rill__malloc (free with
 * rill__free) with its length in *len (may be NULL), or RILL_ENOMEM. */

/* A handler's creation (or its replacement, with the same id). `type` and
 * `name` are JSON strings, `name` and `params` may be NULL (no name; the
 * parameters {}). */
int rill__handler_create_msg(uint32_t id, const json_t *type,
                             const json_t *name, const json_t *params,
                             char **out, size_t *len);

/* Data for a handler: any JSON value, with the tick it belongs to if
 * `has_tick`. */
int rill__handler_data_msg(uint32_t id, const json_t *data, bool has_tick,
                           uint64_t tick, char **out, size_t *len);

int rill__handler_remove_msg(uint32_t id, char **out, size_t *len);

#endif /* RILL_PROTO_HANDLER_H */
