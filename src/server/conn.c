/* A connection's outgoing side: messages shared by every socket they are
 * queued on, each socket's bounded queue, replies and errors, and the
 * batched writes that put many queued messages into one send. Network
 * thread only. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/internal.h"
#include "server/internal.h"

rill__msg *rill__msg_new(size_t len, bool binary) {
    rill__msg *m = rill__malloc(sizeof *m + LWS_PRE + len);
    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->binary = binary;
    m->len = len;
    return m;
}

void rill__msg_unref(rill__msg *m) {
    if (m != NULL && --m->refs == 0)
        rill__free(m);
}

rill__msg *rill__msg_text(const char *text, size_t len) {
    rill__msg *m = rill__msg_new(len, false);
    if (m != NULL)
        memcpy(rill__msg_payload(m), text, len);
    return m;
}

int rill__conn_push(rill__conn *c, rill__msg *m) {
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 64;
        rill__msg **q = rill__malloc(cap * sizeof *q);
        if (q == NULL)
            return RILL_ENOMEM;
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->q[(c->q_head + i) % c->q_cap];
        rill__free(c->q);
        c->q = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_len) % c->q_cap] = m;
    c->q_len++;
    c->q_bytes += m->len;
    m->refs++;
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Whether `need` more bytes of data fit. An empty queue always takes a
 * message, however large, so a tiny limit cannot starve a client. */
bool rill__conn_has_room(const rill__conn *c, size_t need) {
    return !c->closing &&
           (c->q_len == 0 || c->q_bytes + need <= rill__conn_limit(c));
}

/* Queue data messages (a header + body pair goes in whole or not at all).
 * False: dropped for this socket. */
bool rill__conn_send_data(rill__conn *c, rill__msg *a, rill__msg *b) {
    if (!rill__conn_has_room(c, a->len + (b ? b->len : 0)))
        return false;
    if (rill__conn_push(c, a) != 0)
        return false;
    if (b != NULL && rill__conn_push(c, b) != 0)
        return false;
    return true;
}

/* Messages that are never dropped (replies, a handler's creation) are
 * small, but a client that never reads could pile them up forever: past
 * twice the data limit (plus 1 MiB) it is disconnected. */
bool rill__conn_owes_too_much(rill__conn *c, size_t len, const char *what) {
    if (c->q_bytes + len <= rill__conn_limit(c) * 2 + (1u << 20))
        return false;
    rill__log_warn("closing %s: it does not read its %s", c->peer, what);
    c->closing = true;
    lws_callback_on_writable(c->wsi);
    return true;
}

void rill__conn_send_text(rill__conn *c, const char *text, size_t len) {
    if (c->closing || rill__conn_owes_too_much(c, len, "replies"))
        return;
    rill__msg *m = rill__msg_text(text, len);
    if (m == NULL)
        return;
    rill__conn_push(c, m);
    rill__msg_unref(m);
}

void rill__conn_send_owned(rill__conn *c, char *text, size_t len) {
    if (text == NULL)
        return;
    rill__conn_send_text(c, text, len);
    rill__free(text);
}

/* {"event":"dropped","buffers":N[,"path":P],"total":T[,"variable":V]}:
 * buffers dropped for `c` (or, for a data socket, its peer) since the last
 * notice, and all of them so far. */
void rill__send_dropped(rill__conn *to, uint32_t buffers, uint64_t total,
                        const char *path, const char *variable) {
    rill__jv m[] = {
        RILL__JV_S("event", "dropped"),
        RILL__JV_U("buffers", buffers),
        path ? (rill__jv)RILL__JV_S("path", path) : (rill__jv)RILL__JV_NONE,
        RILL__JV_U("total", total),
        variable ? (rill__jv)RILL__JV_S("variable", variable)
                 : (rill__jv)RILL__JV_NONE,
    };
    char *text = NULL;
    size_t len = 0;
    if (rill__json_object(m, RILL__JV_COUNT(m), &text, &len) == 0)
        rill__conn_send_owned(to, text, len);
}

/* An error reply built by the caller's fields (see rill__cmd_error). */
void rill__send_error(rill__conn *c, const rill__cmd_error *e) {
    char *text = NULL;
    size_t len = 0;
    if (rill__cmd_error_reply(e, &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
}

void rill__send_error_text(rill__conn *c, const rill__cmd *cmd,
                           const rill__cmd_entry *entry, const char *fmt, ...) {
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rill__cmd_error e = {
        .cmd_index = cmd ? cmd->index : RILL__CMD_NONE,
        .cmd = cmd ? cmd->name : NULL,
        .var_index = entry ? entry->index : RILL__CMD_NONE,
        .var = entry ? entry->name : NULL,
        .message = message,
        .id = cmd ? cmd->id : (rill__cmd_id){RILL__ID_NONE, 0, NULL},
    };
    rill__send_error(c, &e);
}

void rill__conn_free(rill__conn *c) {
    for (size_t i = 0; i < c->q_len; i++)
        rill__msg_unref(c->q[(c->q_head + i) % c->q_cap]);
    rill__free(c->q);
    rill__free(c->batch);
    rill__free(c->rx);
    rill__free(c->sub_buf);
    rill__free(c->sub_mon);
    rill__free(c->pending_drop_notice);
    rill__free(c);
}

rill__cmd_id rill__request_id(json_t *root) {
    json_t *jid = json_object_get(root, "id");
    if (json_is_string(jid))
        return (rill__cmd_id){RILL__ID_STRING, 0, json_string_value(jid)};
    if (json_is_integer(jid))
        return (rill__cmd_id){RILL__ID_INT, json_integer_value(jid), NULL};
    return (rill__cmd_id){RILL__ID_NONE, 0, NULL};
}

/* An error reply to a {"rill":...} request: its `cmd` and the request's id. */
void rill__request_error(rill__conn *c, const char *cmd, json_t *root,
                         const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rill__cmd_error e = {.cmd_index = RILL__CMD_NONE,
                         .cmd = cmd,
                         .var_index = RILL__CMD_NONE,
                         .message = message,
                         .id = rill__request_id(root)};
    rill__send_error(c, &e);
}

/* Up to this many bytes of queued messages go out in one write. */
#define RILL__BATCH_BYTES (256u * 1024)

/* Write queued messages, many per call. Each is framed here as the
 * unmasked server frame RFC 6455 defines (FIN, opcode, length) and the
 * frames are handed to libwebsockets as one raw write: one send() for many
 * messages instead of lws_write's send() (and a poll) per message, which
 * capped throughput. libwebsockets keeps whatever the socket did not take
 * and sends it before anything else on the connection (its own pongs and
 * close frames included), so frames stay whole and in order. */
/* The oldest message alone, framed by libwebsockets in the headroom every
 * message has (LWS_PRE): the way out when there is no memory for a batch,
 * rather than closing the connection. */
static int write_one(rill__conn *c) {
    rill__msg *m = c->q[c->q_head];
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_len--;
    c->q_bytes -= m->len;
    int rc = lws_write(c->wsi, rill__msg_payload(m), m->len,
                       m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    rill__msg_unref(m);
    return rc < 0 ? -1 : 0;
}

int rill__conn_write(rill__conn *c) {
    size_t total = 0, n = 0;
    for (; n < c->q_len; n++) {
        size_t len = c->q[(c->q_head + n) % c->q_cap]->len;
        size_t frame = len + (len < 126 ? 2 : len < 65536 ? 4 : 10);
        if (n != 0 && total + frame > RILL__BATCH_BYTES)
            break;
        total += frame;
    }
    if (n == 0)
        return 0;
    if (LWS_PRE + total > c->batch_cap) {
        uint8_t *b = rill__malloc(LWS_PRE + total);
        if (b == NULL) /* a server at its memory limit */
            return write_one(c);
        rill__free(c->batch);
        c->batch = b;
        c->batch_cap = LWS_PRE + total;
    }
    uint8_t *p = c->batch + LWS_PRE;
    for (size_t i = 0; i < n; i++) {
        rill__msg *m = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        c->q_bytes -= m->len;
        *p++ = (uint8_t)(0x80 | (m->binary ? 0x2 : 0x1));
        if (m->len < 126) {
            *p++ = (uint8_t)m->len;
        } else if (m->len < 65536) {
            *p++ = 126;
            *p++ = (uint8_t)(m->len >> 8);
            *p++ = (uint8_t)m->len;
        } else {
            *p++ = 127;
            for (int k = 7; k >= 0; k--)
                *p++ = (uint8_t)((uint64_t)m->len >> (8 * k));
        }
        memcpy(p, rill__msg_payload(m), m->len);
        p += m->len;
        rill__msg_unref(m);
    }
    return lws_write(c->wsi, c->batch + LWS_PRE, total, LWS_WRITE_RAW) < 0 ? -1
                                                                           : 0;
}

/* Linux grows a socket's send buffer on its own, up to 4 MiB: for a client
 * that stops reading that is a second, invisible queue, and megabytes of
 * stale data it gets before any drop is counted. A fixed buffer (a quarter
 * of the client's queue, 64 KiB to 1 MiB) keeps the bound the user set with
 * client_queue_bytes, and the drops where they are counted. */
void rill__conn_bound_sndbuf(rill_server *srv, struct lws *wsi) {
    size_t q = srv->cfg.client_queue_bytes / 4;
    int size = (int)RILL__MAX((size_t)64 * 1024, RILL__MIN(q, (size_t)1 << 20));
    lws_sockfd_type fd = lws_get_socket_fd(wsi);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

void rill__broadcast_control(rill_server *srv, const char *text, size_t len) {
    for (rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->path == PATH_CONTROL)
            rill__conn_send_text(c, text, len);
}
