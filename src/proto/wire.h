/* The Bela compatibility wire format of the data path (/gui_data).
 *
 * Pure functions: no allocation, no I/O, no locks, no global state, so
 * every function here may be called from any thread, the tick thread
 * included. The byte layouts are in docs/PROTOCOL.md and in
 * ../shared/spec/watcher-protocol.md §3 and §4; this header states only
 * the contracts.
 *
 * Byte order. All multi-byte fields on the wire are little-endian. Values
 * passed in by the caller are in host order and arrays of the variable's C
 * type (char, int32_t, uint32_t, float, double); values handed back point
 * into the message and stay little-endian and possibly unaligned, so read
 * them with rill__wire_get_values.
 *
 * Error messages. Parsers take an optional `err` buffer of `err_cap`
 * bytes (NULL/0 to skip) and write one precise, NUL-terminated sentence
 * into it on failure, cut to fit. RILL__WIRE_ERR_CAP is always enough.
 */
#ifndef RILL_PROTO_WIRE_H
#define RILL_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/watch.h"

#define RILL__WIRE_ERR_CAP 160

/* ---- Little-endian helpers --------------------------------------------- */

static inline void rill__put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void rill__put_le64(uint8_t *p, uint64_t v) {
    rill__put_le32(p, (uint32_t)v);
    rill__put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t rill__get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t rill__get_le64(const uint8_t *p) {
    return (uint64_t)rill__get_le32(p) | (uint64_t)rill__get_le32(p + 4) << 32;
}

/* ---- The 32-byte header of rill's own binary messages ------------------
 *
 * Native data messages (native.h) and dashboard handler frames (handler.h)
 * share one header layout, told apart by `kind` (native 0 to 2, handler
 * frames 16):
 *
 *   0 version, 1 kind, 2 type letter, 3 flags, 4 u32 id, 8 u64 seq,
 *   16 u64 tick, 24 u32 count, 28 u32 extra (native: dropped; frames: arg)
 */
#define RILL__HEAD_BYTES 32

typedef struct rill__head {
    uint8_t version, kind, type, flags;
    uint32_t id;
    uint64_t seq, tick;
    uint32_t count, extra;
} rill__head;

static inline void rill__head_put(uint8_t *out, const rill__head *h) {
    out[0] = h->version;
    out[1] = h->kind;
    out[2] = h->type;
    out[3] = h->flags;
    rill__put_le32(out + 4, h->id);
    rill__put_le64(out + 8, h->seq);
    rill__put_le64(out + 16, h->tick);
    rill__put_le32(out + 24, h->count);
    rill__put_le32(out + 28, h->extra);
}

static inline void rill__head_get(const uint8_t *in, rill__head *h) {
    h->version = in[0];
    h->kind = in[1];
    h->type = in[2];
    h->flags = in[3];
    h->id = rill__get_le32(in + 4);
    h->seq = rill__get_le64(in + 8);
    h->tick = rill__get_le64(in + 16);
    h->count = rill__get_le32(in + 24);
    h->extra = rill__get_le32(in + 28);
}

/* Copy `count` values of `type` from host order at `src` to little-endian
 * bytes at `dst` (count * rill_type_size(type) bytes), and back. Neither
 * pointer needs any alignment. An invalid type copies nothing. */
void rill__wire_put_values(uint8_t *dst, rill_type type, const void *src,
                           size_t count);
void rill__wire_get_values(void *dst, rill_type type, const uint8_t *src,
                           size_t count);

/* ---- Server -> client: stream buffers (§3.3) --------------------------- */

/* Every body is 4104 bytes: an 8-byte reference tick and 4096 of payload. */
#define RILL__BELA_BODY_BYTES 4104
#define RILL__BELA_PAYLOAD_BYTES 4096
/* Offset of the value array in a body. */
#define RILL__BELA_VALUES_OFFSET 8
/* The largest N over all types and modes (dense char). */
#define RILL__BELA_MAX_VALUES 4096

/* Values per buffer N for a type and mode: dense c 4096, i/j/f 1024,
 * d 512; sparse c 816, i/j/f 512, d 341. 0 for an invalid type or mode. */
size_t rill__bela_values_per_buffer(rill_type type, rill_ts_mode mode);

/* Offset R of the relative-timestamp array in a sparse body: c 824,
 * i/j/f 2056, d 2736. 0 for an invalid type. */
size_t rill__bela_rel_offset(rill_type type);

/* Build one 4104-byte body into `out`: `ref` (the tick of the first value),
 * then `count` values from `values` (host order, an array of the type).
 * Sparse mode also writes `rel` (count relative ticks, rel[0] normally 0)
 * at rill__bela_rel_offset. Every byte not written that way is zero: this
 * is the end-of-stream padding of §3.3 when count < N.
 * Returns 0, or RILL_EINVAL (bad type or mode, count > N, NULL values or,
 * in sparse mode, NULL rel while count > 0). On error `out` is untouched. */
int rill__bela_body_encode(uint8_t out[RILL__BELA_BODY_BYTES], uint64_t ref,
                           rill_type type, rill_ts_mode mode,
                           const void *values, size_t count,
                           const uint32_t *rel);

/* A decoded body. `values` (N little-endian values) and `rel` (N uint32,
 * NULL in dense mode) point into the message. The body has no count:
 * padding zeros are indistinguishable from data, so n is always N. */
typedef struct rill__bela_body {
    uint64_t ref;
    size_t n;
    const uint8_t *values;
    const uint8_t *rel;
} rill__bela_body;

/* Split a body received on the data path or read from a log file. The
 * type and mode come from the list reply. Returns 0, RILL_EINVAL (bad
 * type or mode, NULL pointers) or RILL_EPROTO (length is not 4104). */
int rill__bela_body_decode(const uint8_t *msg, size_t len, rill_type type,
                           rill_ts_mode mode, rill__bela_body *out,
                           char *err, size_t err_cap);

/* ---- Server -> client: header message (§3.1) --------------------------- */

/* Longest header: "4294967295/f". */
#define RILL__BELA_HEADER_MAX 12
/* pybela tells a header from a body by its length (3 or 4 bytes), so a
 * pybela-compatible server must keep ids below this. */
#define RILL__BELA_COMPAT_MAX_IDS 100

/* Write the header "<id>/<letter>" (decimal id, no NUL) into `out` and its
 * length (3 to 12) into *len. With `compat` set (the client may be pybela)
 * an id >= RILL__BELA_COMPAT_MAX_IDS is refused with RILL_ERANGE, because
 * pybela would take the 5-byte header for a body and stop. RILL_EINVAL for
 * a bad type or NULL pointers. */
int rill__bela_header_encode(uint32_t id, rill_type type, bool compat,
                             char out[RILL__BELA_HEADER_MAX], size_t *len);

/* Parse a header message: `^[0-9]+/[cijfd]$` with no leading zeros and an
 * id that fits in 32 bits. Returns 0 or RILL_EPROTO (with a message), for a
 * client's header -> body state machine. */
int rill__bela_header_decode(const uint8_t *msg, size_t len, uint32_t *id,
                             rill_type *type, char *err, size_t err_cap);

/* ---- Server -> client: monitor frames (§3.5) --------------------------- */

#define RILL__BELA_MONITOR_MAX 16

/* Write a monitor frame body: the tick (u64) then one value of `type` read
 * from `value` (host order). Returns its length, 9 (c), 12 (i, j, f) or
 * 16 (d), or 0 for a bad type or NULL pointer. */
size_t rill__bela_monitor_encode(uint8_t out[RILL__BELA_MONITOR_MAX],
                                 uint64_t tick, rill_type type,
                                 const void *value);

/* Parse a monitor frame of a variable of type `type`: the length must be
 * exactly 8 + size. *value points at the little-endian value in `msg`.
 * Returns 0, RILL_EINVAL or RILL_EPROTO. */
int rill__bela_monitor_decode(const uint8_t *msg, size_t len, rill_type type,
                              uint64_t *tick, const uint8_t **value,
                              char *err, size_t err_cap);

/* ---- Client -> server: a data buffer (§4) ------------------------------ */

#define RILL__CLIENT_BUFFER_HEADER 16

/* A parsed client buffer. `values` points into the message at byte 16 and
 * holds exactly count * rill_type_size(type) little-endian bytes. */
typedef struct rill__client_buffer {
    uint32_t id;
    rill_type type;
    uint32_t count;
    const uint8_t *values;
    size_t values_len;
} rill__client_buffer;

/* Parse and fully validate a binary message a client sent on the data
 * path: 16-byte header (u32 id, type letter + 3 bytes, u32 count, 4 bytes
 * pad; the pad bytes are not checked, as on Bela) followed by exactly
 * count values sized by the real type (Bela's default handler sizes 'd' as
 * 4 bytes and never checks the length: defect 14).
 * Returns 0, RILL_EINVAL (NULL msg or out) or RILL_EPROTO with a message:
 * shorter than the header, unknown type letter, or a length that does not
 * match the count, e.g. "client buffer: count 300 needs 1200 bytes of
 * float values, message has 400". */
int rill__client_buffer_parse(const uint8_t *msg, size_t len,
                              rill__client_buffer *out, char *err,
                              size_t err_cap);

#endif /* RILL_PROTO_WIRE_H */
