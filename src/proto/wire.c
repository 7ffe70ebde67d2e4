/* The Bela compatibility wire format: stream bodies, headers, monitor
 * frames and client buffers. See wire.h for the contracts. */
#include "core/internal.h"
#include "proto/wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>



static bool mode_valid(rill_ts_mode mode) {
    return mode == RILL_TS_DENSE || mode == RILL_TS_SPARSE;
}

/* On a little-endian host (every board rill targets) the wire layout is the
 * memory layout and one memcpy does it; the byte-wise path keeps rill
 * correct on a big-endian host too. Floats travel as their bit patterns. */
void rill__wire_put_values(uint8_t *dst, rill_type type, const void *src,
                           size_t count) {
    size_t size = rill_type_size(type);
    if (size == 0 || count == 0)
        return;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, size * count);
#else
    const uint8_t *s = src;
    for (size_t i = 0; i < count; i++, s += size, dst += size) {
        if (size == 1) {
            dst[0] = s[0];
        } else if (size == 4) {
            uint32_t v;
            memcpy(&v, s, 4);
            rill__put_le32(dst, v);
        } else {
            uint64_t v;
            memcpy(&v, s, 8);
            rill__put_le64(dst, v);
        }
    }
#endif
}

void rill__wire_get_values(void *dst, rill_type type, const uint8_t *src,
                           size_t count) {
    size_t size = rill_type_size(type);
    if (size == 0 || count == 0)
        return;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, size * count);
#else
    uint8_t *d = dst;
    for (size_t i = 0; i < count; i++, src += size, d += size) {
        if (size == 1) {
            d[0] = src[0];
        } else if (size == 4) {
            uint32_t v = rill__get_le32(src);
            memcpy(d, &v, 4);
        } else {
            uint64_t v = rill__get_le64(src);
            memcpy(d, &v, 8);
        }
    }
#endif
}

/* ---- Stream bodies ----------------------------------------------------- */

/* The Watcher sizes its sparse buffer as "as many (value, u32 tick) pairs as
 * fit in 4096 bytes", then rounds the end of the value array down to a
 * multiple of 4 so the timestamps are aligned. The rounding is what makes
 * the char N 816 and not 819. We compute it the same way rather than keep
 * a table, and the tests pin the results to the spec's table. */
size_t rill__bela_rel_offset(rill_type type) {
    size_t size = rill_type_size(type);
    if (size == 0)
        return 0;
    size_t fit = RILL__BELA_PAYLOAD_BYTES / (size + 4);
    return (RILL__BELA_VALUES_OFFSET + size * fit) & ~(size_t)3;
}

size_t rill__bela_values_per_buffer(rill_type type, rill_ts_mode mode) {
    size_t size = rill_type_size(type);
    if (size == 0 || !mode_valid(mode))
        return 0;
    if (mode == RILL_TS_DENSE)
        return RILL__BELA_PAYLOAD_BYTES / size;
    return (rill__bela_rel_offset(type) - RILL__BELA_VALUES_OFFSET) / size;
}

int rill__bela_body_encode(uint8_t out[RILL__BELA_BODY_BYTES], uint64_t ref,
                           rill_type type, rill_ts_mode mode,
                           const void *values, size_t count,
                           const uint32_t *rel) {
    size_t n = rill__bela_values_per_buffer(type, mode);
    if (out == NULL || n == 0 || count > n)
        return RILL_EINVAL;
    if (count > 0 && (values == NULL || (mode == RILL_TS_SPARSE && rel == NULL)))
        return RILL_EINVAL;
    /* Zero everything first: that is exactly the padding of a short final
     * buffer, in both the value and the timestamp arrays, plus the unused
     * tail of sparse c and d bodies. */
    memset(out, 0, RILL__BELA_BODY_BYTES);
    rill__put_le64(out, ref);
    rill__wire_put_values(out + RILL__BELA_VALUES_OFFSET, type, values, count);
    if (mode == RILL_TS_SPARSE) {
        uint8_t *p = out + rill__bela_rel_offset(type);
        for (size_t i = 0; i < count; i++)
            rill__put_le32(p + 4 * i, rel[i]);
    }
    return 0;
}

int rill__bela_body_decode(const uint8_t *msg, size_t len, rill_type type,
                           rill_ts_mode mode, rill__bela_body *out,
                           char *err, size_t err_cap) {
    size_t n = rill__bela_values_per_buffer(type, mode);
    if (msg == NULL || out == NULL || n == 0) {
        rill__set_err(err, err_cap, "stream buffer: invalid arguments");
        return RILL_EINVAL;
    }
    if (len != RILL__BELA_BODY_BYTES) {
        rill__set_err(err, err_cap,
                "stream buffer: message has %zu bytes, a buffer has %d", len,
                RILL__BELA_BODY_BYTES);
        return RILL_EPROTO;
    }
    out->ref = rill__get_le64(msg);
    out->n = n;
    out->values = msg + RILL__BELA_VALUES_OFFSET;
    out->rel = mode == RILL_TS_SPARSE ? msg + rill__bela_rel_offset(type) : NULL;
    return 0;
}

/* ---- Headers ----------------------------------------------------------- */

int rill__bela_header_encode(uint32_t id, rill_type type, bool compat,
                             char out[RILL__BELA_HEADER_MAX], size_t *len) {
    char letter = rill_type_letter(type);
    if (out == NULL || len == NULL || letter == '\0')
        return RILL_EINVAL;
    if (compat && id >= RILL__BELA_COMPAT_MAX_IDS)
        return RILL_ERANGE;
    /* Digits backwards into a scratch buffer: snprintf would need a NUL
     * byte of room that the 12-byte header does not have. */
    char digits[10];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + id % 10);
        id /= 10;
    } while (id != 0);
    size_t n = 0;
    while (nd > 0)
        out[n++] = digits[--nd];
    out[n++] = '/';
    out[n++] = letter;
    *len = n;
    return 0;
}

int rill__bela_header_decode(const uint8_t *msg, size_t len, uint32_t *id,
                             rill_type *type, char *err, size_t err_cap) {
    if (msg == NULL || id == NULL || type == NULL) {
        rill__set_err(err, err_cap, "header: invalid arguments");
        return RILL_EINVAL;
    }
    if (len < 3 || len > RILL__BELA_HEADER_MAX) {
        rill__set_err(err, err_cap, "header: %zu bytes, a header has 3 to %d", len,
                RILL__BELA_HEADER_MAX);
        return RILL_EPROTO;
    }
    size_t nd = len - 2;
    if (msg[nd] != '/') {
        rill__set_err(err, err_cap, "header: no '/' before the type letter");
        return RILL_EPROTO;
    }
    if (nd > 1 && msg[0] == '0') {
        rill__set_err(err, err_cap, "header: id has a leading zero");
        return RILL_EPROTO;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        if (msg[i] < '0' || msg[i] > '9') {
            rill__set_err(err, err_cap, "header: byte %zu (0x%02x) is not a digit",
                    i, msg[i]);
            return RILL_EPROTO;
        }
        v = v * 10 + (uint64_t)(msg[i] - '0');
    }
    if (v > UINT32_MAX) {
        rill__set_err(err, err_cap, "header: id %" PRIu64 " does not fit in 32 bits",
                v);
        return RILL_EPROTO;
    }
    if (rill_type_from_letter((char)msg[len - 1], type) != 0) {
        rill__set_err(err, err_cap, "header: unknown type letter 0x%02x",
                msg[len - 1]);
        return RILL_EPROTO;
    }
    *id = (uint32_t)v;
    return 0;
}

/* ---- Monitor frames ---------------------------------------------------- */

size_t rill__bela_monitor_encode(uint8_t out[RILL__BELA_MONITOR_MAX],
                                 uint64_t tick, rill_type type,
                                 const void *value) {
    size_t size = rill_type_size(type);
    if (out == NULL || value == NULL || size == 0)
        return 0;
    rill__put_le64(out, tick);
    rill__wire_put_values(out + 8, type, value, 1);
    return 8 + size;
}

int rill__bela_monitor_decode(const uint8_t *msg, size_t len, rill_type type,
                              uint64_t *tick, const uint8_t **value,
                              char *err, size_t err_cap) {
    size_t size = rill_type_size(type);
    if (msg == NULL || tick == NULL || value == NULL || size == 0) {
        rill__set_err(err, err_cap, "monitor frame: invalid arguments");
        return RILL_EINVAL;
    }
    if (len != 8 + size) {
        rill__set_err(err, err_cap,
                "monitor frame: %zu bytes, %s %s frame has %zu", len,
                type == RILL_TYPE_INT32 ? "an" : "a", rill_type_name(type), 8 + size);
        return RILL_EPROTO;
    }
    *tick = rill__get_le64(msg);
    *value = msg + 8;
    return 0;
}

/* ---- Client buffers ---------------------------------------------------- */

/* Bela's default handler trusts the count, sizes every non-char type as 4
 * bytes and copies without looking at the message length (defect 14). Here
 * the length must match the count exactly, so a truncated message or a
 * count from a different type can never make anyone read past the end. */
int rill__client_buffer_parse(const uint8_t *msg, size_t len,
                              rill__client_buffer *out, char *err,
                              size_t err_cap) {
    if (msg == NULL || out == NULL) {
        rill__set_err(err, err_cap, "client buffer: invalid arguments");
        return RILL_EINVAL;
    }
    if (len < RILL__CLIENT_BUFFER_HEADER) {
        rill__set_err(err, err_cap,
                "client buffer: message has %zu bytes, shorter than the "
                "%d-byte header",
                len, RILL__CLIENT_BUFFER_HEADER);
        return RILL_EPROTO;
    }
    rill_type type;
    if (rill_type_from_letter((char)msg[4], &type) != 0) {
        if (msg[4] >= 0x21 && msg[4] < 0x7f)
            rill__set_err(err, err_cap,
                    "client buffer: unknown type letter '%c'; expected one "
                    "of c, i, j, f, d",
                    msg[4]);
        else
            rill__set_err(err, err_cap,
                    "client buffer: unknown type byte 0x%02x; expected one "
                    "of c, i, j, f, d",
                    msg[4]);
        return RILL_EPROTO;
    }
    uint32_t count = rill__get_le32(msg + 8);
    uint64_t need = (uint64_t)count * rill_type_size(type);
    size_t have = len - RILL__CLIENT_BUFFER_HEADER;
    if (need != (uint64_t)have) {
        rill__set_err(err, err_cap,
                "client buffer: count %" PRIu32 " needs %" PRIu64
                " bytes of %s values, message has %zu",
                count, need, rill_type_name(type), have);
        return RILL_EPROTO;
    }
    out->id = rill__get_le32(msg);
    out->type = type;
    out->count = count;
    out->values = msg + RILL__CLIENT_BUFFER_HEADER;
    out->values_len = have;
    return 0;
}
