/* Dashboard handler messages: binary frames and JSON events. See
 * handler.h for the layouts. */
#include "proto/handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/json_out.h"
#include "proto/wire.h"

size_t rill__handler_value_size(char type) {
    switch (type) {
    case 'f':
    case 'i':
        return 4;
    case 'd':
        return 8;
    case 'h':
        return 2;
    default:
        return 0;
    }
}

bool rill__handler_frame_is(const uint8_t *msg, size_t len) {
    return msg != NULL && len >= 2 && msg[0] == RILL__HANDLER_FRAME_VERSION &&
           msg[1] == RILL__HANDLER_FRAME_KIND;
}

int rill__handler_frame_header_encode(const rill__handler_frame *f,
                                      uint8_t out[RILL__HANDLER_FRAME_HEADER]) {
    if (f == NULL || out == NULL || rill__handler_value_size(f->type) == 0 ||
        (f->flags & ~RILL__HANDLER_FLAGS_KNOWN) != 0)
        return RILL_EINVAL;
    rill__head h = {RILL__HANDLER_FRAME_VERSION,
                    RILL__HANDLER_FRAME_KIND,
                    (uint8_t)f->type,
                    f->flags,
                    f->handler,
                    f->seq,
                    f->tick,
                    f->count,
                    f->arg};
    rill__head_put(out, &h);
    return 0;
}

int rill__handler_frame_decode(const uint8_t *msg, size_t len,
                               rill__handler_frame *out, char *err,
                               size_t err_cap) {
    if (msg == NULL || out == NULL)
        return RILL_EINVAL;
    memset(out, 0, sizeof *out);
    if (len < RILL__HANDLER_FRAME_HEADER) {
        rill__set_err(err, err_cap,
                      "handler frame: %zu bytes, shorter than its %d-byte "
                      "header",
                      len, RILL__HANDLER_FRAME_HEADER);
        return RILL_EPROTO;
    }
    rill__head h;
    rill__head_get(msg, &h);
    out->handler = h.id;
    if (h.version != RILL__HANDLER_FRAME_VERSION ||
        h.kind != RILL__HANDLER_FRAME_KIND) {
        rill__set_err(err, err_cap,
                      "handler frame: version %u kind %u, not a handler "
                      "frame (version 1, kind 16)",
                      h.version, h.kind);
        return RILL_EPROTO;
    }
    size_t size = rill__handler_value_size((char)h.type);
    if (size == 0) {
        rill__set_err(err, err_cap,
                      "handler frame: unknown value type 0x%02x (f, d, h or "
                      "i)",
                      h.type);
        return RILL_EPROTO;
    }
    if ((h.flags & ~RILL__HANDLER_FLAGS_KNOWN) != 0) {
        rill__set_err(err, err_cap,
                      "handler frame: unknown flag bits 0x%02x (only bit 0, "
                      "replace)",
                      h.flags);
        return RILL_EPROTO;
    }
    if ((uint64_t)h.count * size + RILL__HANDLER_FRAME_HEADER != len) {
        rill__set_err(err, err_cap,
                      "handler frame: count %u of '%c' needs %llu bytes "
                      "after the header, the message has %zu",
                      h.count, h.type, (unsigned long long)h.count * size,
                      len - RILL__HANDLER_FRAME_HEADER);
        return RILL_EPROTO;
    }
    out->type = (char)h.type;
    out->flags = h.flags;
    out->seq = h.seq;
    out->tick = h.tick;
    out->count = h.count;
    out->arg = h.extra;
    out->values = msg + RILL__HANDLER_FRAME_HEADER;
    return 0;
}

void rill__handler_frame_set_id(uint8_t *msg, uint32_t handler) {
    rill__put_le32(msg + 4, handler);
}

int rill__handler_create_msg(uint32_t id, const json_t *type,
                             const json_t *name, const json_t *params,
                             char **out, size_t *len) {
    json_t *none = params == NULL ? json_object() : NULL;
    if (params == NULL && none == NULL)
        return RILL_ENOMEM;
    rill__jv m[] = {
        RILL__JV_S("event", "handler"),
        RILL__JV_U("id", id),
        name != NULL ? (rill__jv)RILL__JV_J("name", name)
                     : (rill__jv)RILL__JV_NONE,
        RILL__JV_J("parameters", params != NULL ? params : none),
        RILL__JV_J("type", type),
    };
    int rc = rill__json_object(m, RILL__JV_COUNT(m), out, len);
    json_decref(none);
    return rc;
}

int rill__handler_data_msg(uint32_t id, const json_t *data, bool has_tick,
                           uint64_t tick, char **out, size_t *len) {
    rill__jv m[] = {
        RILL__JV_J("data", data),
        RILL__JV_S("event", "handler-data"),
        RILL__JV_U("id", id),
        has_tick ? (rill__jv)RILL__JV_U("tick", tick) : (rill__jv)RILL__JV_NONE,
    };
    return rill__json_object(m, RILL__JV_COUNT(m), out, len);
}

int rill__handler_remove_msg(uint32_t id, char **out, size_t *len) {
    rill__jv m[] = {
        RILL__JV_S("event", "handler-remove"),
        RILL__JV_U("id", id),
    };
    return rill__json_object(m, RILL__JV_COUNT(m), out, len);
}
