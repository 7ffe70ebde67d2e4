/* rill's native data-path format. See native.h for the layout. */
#include "proto/native.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/wire.h"


static const char *kind_name(rill__native_kind kind) {
    switch (kind) {
    case RILL__NATIVE_STREAM:
        return "a stream buffer";
    case RILL__NATIVE_MONITOR:
        return "a monitor value";
    case RILL__NATIVE_END:
        return "an end-of-stream message";
    }
    return "an unknown kind";
}

/* The rules each kind imposes on count and flags, shared by the encoder and
 * the decoder so that whatever one writes the other accepts. Writes the
 * reason into err and returns false when broken. */
static bool check_kind_rules(const rill__native_header *h, char *err,
                             size_t err_cap) {
    if ((h->flags & ~RILL__NATIVE_FLAGS_KNOWN) != 0) {
        rill__set_err(err, err_cap, "native: unknown flag bits 0x%02x",
                (unsigned)(h->flags & ~RILL__NATIVE_FLAGS_KNOWN));
        return false;
    }
    switch (h->kind) {
    case RILL__NATIVE_STREAM:
        if (h->count == 0) {
            rill__set_err(err, err_cap,
                    "native: a stream buffer has count 0; it needs at least "
                    "one value");
            return false;
        }
        return true;
    case RILL__NATIVE_MONITOR:
    case RILL__NATIVE_END: {
        uint32_t want = h->kind == RILL__NATIVE_MONITOR ? 1 : 0;
        if (h->flags != 0) {
            rill__set_err(err, err_cap, "native: %s has flags 0x%02x; it takes none",
                    kind_name(h->kind), (unsigned)h->flags);
            return false;
        }
        if (h->count != want) {
            rill__set_err(err, err_cap,
                    "native: %s has count %" PRIu32 "; it must be %" PRIu32,
                    kind_name(h->kind), h->count, want);
            return false;
        }
        return true;
    }
    }
    rill__set_err(err, err_cap, "native: unknown kind %d", (int)h->kind);
    return false;
}

/* Size as a uint64_t so that no count can overflow it: at most
 * 32 + 8 * (2^32 - 1) + 3 + 4 * (2^32 - 1), far below 2^64. */
static uint64_t size64(rill_type type, uint32_t count, bool sparse,
                       uint64_t *rel_offset) {
    uint64_t end = RILL__NATIVE_HEADER_BYTES + (uint64_t)count * rill_type_size(type);
    if (sparse) {
        end = (end + 3) & ~(uint64_t)3;
        if (rel_offset != NULL)
            *rel_offset = end;
        end += (uint64_t)count * 4;
    }
    return end;
}

size_t rill__native_size(const rill__native_header *h) {
    if (h == NULL || rill_type_size(h->type) == 0 ||
        !check_kind_rules(h, NULL, 0))
        return 0;
    uint64_t n = size64(h->type, h->count,
                        (h->flags & RILL__NATIVE_FLAG_SPARSE) != 0, NULL);
    return n > SIZE_MAX ? 0 : (size_t)n;
}

int rill__native_head_put(const rill__native_header *h,
                          uint8_t out[RILL__NATIVE_HEADER_BYTES]) {
    if (out == NULL || rill__native_size(h) == 0)
        return RILL_EINVAL;
    rill__head head = {RILL__NATIVE_VERSION, (uint8_t)h->kind,
                       (uint8_t)rill_type_letter(h->type), h->flags,
                       h->var_id, h->seq, h->first_ts, h->count, h->dropped};
    rill__head_put(out, &head);
    return 0;
}

int rill__native_encode(const rill__native_header *h, const void *values,
                        const uint32_t *rel, uint8_t *out, size_t cap,
                        size_t *len) {
    if (out == NULL || len == NULL)
        return RILL_EINVAL;
    size_t total = rill__native_size(h);
    if (total == 0)
        return RILL_EINVAL;
    bool sparse = (h->flags & RILL__NATIVE_FLAG_SPARSE) != 0;
    if (h->count > 0 && (values == NULL || (sparse && rel == NULL)))
        return RILL_EINVAL;
    if (total > cap)
        return RILL_ETOOBIG;

    rill__native_head_put(h, out);
    rill__wire_put_values(out + RILL__NATIVE_HEADER_BYTES, h->type, values,
                          h->count);
    if (sparse) {
        uint64_t rel_off = 0;
        size64(h->type, h->count, true, &rel_off);
        size_t values_end = RILL__NATIVE_HEADER_BYTES +
                            (size_t)h->count * rill_type_size(h->type);
        memset(out + values_end, 0, (size_t)rel_off - values_end);
        for (uint32_t i = 0; i < h->count; i++)
            rill__put_le32(out + (size_t)rel_off + 4 * (size_t)i, rel[i]);
    }
    *len = total;
    return 0;
}

int rill__native_decode(const uint8_t *msg, size_t len, rill__native_msg *out,
                        char *err, size_t err_cap) {
    if (msg == NULL || out == NULL) {
        rill__set_err(err, err_cap, "native: invalid arguments");
        return RILL_EINVAL;
    }
    if (len < RILL__NATIVE_HEADER_BYTES) {
        rill__set_err(err, err_cap,
                "native: message has %zu bytes, shorter than the %d-byte "
                "header",
                len, RILL__NATIVE_HEADER_BYTES);
        return RILL_EPROTO;
    }
    if (msg[0] != RILL__NATIVE_VERSION) {
        rill__set_err(err, err_cap, "native: version %u; this reader knows %d only",
                (unsigned)msg[0], RILL__NATIVE_VERSION);
        return RILL_EPROTO;
    }
    if (msg[1] > RILL__NATIVE_END) {
        rill__set_err(err, err_cap, "native: unknown kind %u", (unsigned)msg[1]);
        return RILL_EPROTO;
    }
    rill__native_header h;
    if (rill_type_from_letter((char)msg[2], &h.type) != 0) {
        rill__set_err(err, err_cap, "native: unknown type letter 0x%02x",
                (unsigned)msg[2]);
        return RILL_EPROTO;
    }
    rill__head head;
    rill__head_get(msg, &head);
    h.kind = (rill__native_kind)head.kind;
    h.flags = head.flags;
    h.var_id = head.id;
    h.seq = head.seq;
    h.first_ts = head.tick;
    h.count = head.count;
    h.dropped = head.extra;
    if (!check_kind_rules(&h, err, err_cap))
        return RILL_EPROTO;

    bool sparse = (h.flags & RILL__NATIVE_FLAG_SPARSE) != 0;
    uint64_t rel_off = 0;
    uint64_t want = size64(h.type, h.count, sparse, &rel_off);
    if (want != (uint64_t)len) {
        rill__set_err(err, err_cap,
                "native: count %" PRIu32 " of %s%s needs %" PRIu64
                " bytes, message has %zu",
                h.count, rill_type_name(h.type),
                sparse ? " with timestamps" : "", want, len);
        return RILL_EPROTO;
    }
    if (sparse) {
        size_t values_end = RILL__NATIVE_HEADER_BYTES +
                            (size_t)h.count * rill_type_size(h.type);
        for (size_t i = values_end; i < (size_t)rel_off; i++) {
            if (msg[i] != 0) {
                rill__set_err(err, err_cap,
                        "native: padding byte at offset %zu is 0x%02x, not 0",
                        i, (unsigned)msg[i]);
                return RILL_EPROTO;
            }
        }
    }
    out->h = h;
    out->values = msg + RILL__NATIVE_HEADER_BYTES;
    out->rel = sparse ? msg + (size_t)rel_off : NULL;
    return 0;
}
