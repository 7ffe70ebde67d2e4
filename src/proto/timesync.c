/* The clock exchange's messages. See timesync.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/json_out.h"
#include "proto/timesync.h"

size_t rill__time_request_write(int64_t id, int64_t t0, char *out, size_t cap) {
    int n = snprintf(
        out, cap, "{\"rill\":\"time\",\"id\":%" PRId64 ",\"t0\":%" PRId64 "}",
        id, t0);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int rill__time_request_read(const json_t *root, rill__time_msg *m, char *why,
                            size_t why_cap) {
    memset(m, 0, sizeof *m);
    json_t *id = json_object_get(root, "id");
    json_t *t0 = json_object_get(root, "t0");
    if (!json_is_integer(t0) || json_integer_value(t0) < 0) {
        snprintf(why, why_cap,
                 "time: \"t0\" must be the sender's clock in "
                 "nanoseconds, a non-negative integer; ignored");
        return RILL_EINVAL;
    }
    m->t0 = json_integer_value(t0);
    m->has_id = json_is_integer(id);
    m->id = m->has_id ? json_integer_value(id) : 0;
    return 0;
}

int rill__time_reply_write(const rill__time_msg *m, char **out, size_t *len) {
    rill__jv v[] = {
        m->has_id ? (rill__jv)RILL__JV_I("id", m->id) : (rill__jv)RILL__JV_NONE,
        RILL__JV_S("rill", "time"),
        RILL__JV_I("t0", m->t0),
        RILL__JV_U("t1", m->t1),
        m->has_pair ? (rill__jv)RILL__JV_U("tick", m->tick)
                    : (rill__jv)RILL__JV_NONE,
        m->has_pair ? (rill__jv)RILL__JV_U("tickNs", m->tick_ns)
                    : (rill__jv)RILL__JV_NONE,
        RILL__JV_U("t2", m->t2),
    };
    return rill__json_object(v, RILL__JV_COUNT(v), out, len);
}

/* Clock values are integers; a real (a writer that prints them so) is
 * taken as its integer part. */
static bool read_int(const json_t *root, const char *key, int64_t *out) {
    json_t *v = json_object_get(root, key);
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_real(v))
        *out = (int64_t)json_real_value(v);
    else
        return false;
    return true;
}

int rill__time_reply_read(const json_t *root, rill__time_msg *m) {
    memset(m, 0, sizeof *m);
    int64_t t1 = 0, t2 = 0, tick = 0, tick_ns = 0;
    if (!read_int(root, "t0", &m->t0) || !read_int(root, "t1", &t1) ||
        !read_int(root, "t2", &t2))
        return RILL_EPROTO;
    m->t1 = (uint64_t)t1;
    m->t2 = (uint64_t)t2;
    m->has_id = read_int(root, "id", &m->id);
    m->has_pair =
        read_int(root, "tick", &tick) && read_int(root, "tickNs", &tick_ns);
    m->tick = (uint64_t)tick;
    m->tick_ns = (uint64_t)tick_ns;
    return 0;
}
