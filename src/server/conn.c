/* A connection's outgoing side: messages shared by every socket they are
 * queued on, each socket's bounded queue, replies and errors, and the
 * writes that send many queued messages with one system call, straight
 * from the messages. Network thread only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

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

int rill__conn_push_data(rill__conn *c, rill__msg *m) {
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
    return 0;
}

int rill__conn_push(rill__conn *c, rill__msg *m) {
    int rc = rill__conn_push_data(c, m);
    if (rc == 0)
        lws_callback_on_writable(c->wsi);
    return rc;
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
    if (rill__conn_push_data(c, a) != 0)
        return false;
    if (b != NULL && rill__conn_push_data(c, b) != 0)
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
    rill__conn_send_object(to, m, RILL__JV_COUNT(m));
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

_Static_assert(LWS_PRE >= 10, "a frame header fits in a message's headroom");

/* Up to this many messages and bytes go out in one system call. */
#define RILL__WRITE_MSGS 64u
#define RILL__WRITE_BYTES (512u * 1024)

/* The unmasked server frame header RFC 6455 defines (FIN, opcode, length),
 * written into the message's headroom just before its payload; returns its
 * length. A message shared by several sockets gets the same bytes each
 * time. */
static size_t put_frame_header(rill__msg *m) {
    uint8_t h[10];
    size_t n = 0;
    h[n++] = (uint8_t)(0x80 | (m->binary ? 0x2 : 0x1));
    if (m->len < 126) {
        h[n++] = (uint8_t)m->len;
    } else if (m->len < 65536) {
        h[n++] = 126;
        h[n++] = (uint8_t)(m->len >> 8);
        h[n++] = (uint8_t)m->len;
    } else {
        h[n++] = 127;
        for (int k = 7; k >= 0; k--)
            h[n++] = (uint8_t)((uint64_t)m->len >> (8 * k));
    }
    memcpy(rill__msg_payload(m) - n, h, n);
    return n;
}

static rill__msg *pop(rill__conn *c) {
    rill__msg *m = c->q[c->q_head];
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_len--;
    c->q_bytes -= m->len;
    return m;
}

/* The socket is full: lws says when it can take more (WRITEABLE). */
static void block(rill__conn *c) {
    c->blocked = true;
    lws_callback_on_writable(c->wsi);
}

/* Write queued messages, many per system call, straight from the messages
 * (each framed in its own headroom): no copy but the kernel's. The socket
 * is non-blocking; when it takes only part of a frame, the rest of that
 * frame is handed to lws (lws_write RAW keeps it and sends it before
 * anything else on the connection, its own pongs and close frames
 * included), so frames stay whole and in order. Nothing is written while
 * lws still holds such a rest. */
int rill__conn_write(rill__conn *c) {
    if (c->wsi == NULL)
        return 0;
    if (lws_partial_buffered(c->wsi)) {
        block(c);
        return 0;
    }
    /* Writable (lws has nothing of ours left): even with nothing queued
     * now, what the drain queues next is sent at once. */
    c->blocked = false;
    if (c->q_len == 0)
        return 0;
    int fd = lws_get_socket_fd(c->wsi);
    if (fd < 0)
        return -1;
    while (c->q_len != 0) {
        struct iovec iov[RILL__WRITE_MSGS];
        size_t n = 0, total = 0;
        for (; n < c->q_len && n < RILL__WRITE_MSGS; n++) {
            rill__msg *m = c->q[(c->q_head + n) % c->q_cap];
            size_t h = put_frame_header(m);
            if (n != 0 && total + h + m->len > RILL__WRITE_BYTES)
                break;
            iov[n].iov_base = rill__msg_payload(m) - h;
            iov[n].iov_len = h + m->len;
            total += h + m->len;
        }
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = n;
        ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                block(c);
                return 0;
            }
            return -1;
        }
        size_t left = (size_t)k;
        for (size_t i = 0; i < n; i++) {
            if (left >= iov[i].iov_len) {
                left -= iov[i].iov_len;
                rill__msg_unref(pop(c));
                continue;
            }
            if (left != 0) {
                rill__msg *m = pop(c);
                int rc = lws_write(c->wsi, (uint8_t *)iov[i].iov_base + left,
                                   iov[i].iov_len - left, LWS_WRITE_RAW);
                rill__msg_unref(m);
                if (rc < 0)
                    return -1;
            }
            block(c);
            return 0;
        }
    }
    return 0;
}

/* After the tick thread's records became messages: send them now rather
 * than one poll() later, to every connection whose socket is not known to
 * be full. A connection whose socket failed is closed by lws from its
 * WRITEABLE callback, where returning -1 is allowed. */
void rill__conns_flush(rill_server *srv) {
    for (rill__conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->q_len == 0 || c->blocked || c->closing)
            continue;
        if (rill__conn_write(c) != 0) {
            c->closing = true;
            lws_callback_on_writable(c->wsi);
        }
    }
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

/* A client that sends many small messages (pybela's benchmark echoes 100
 * buffers of 4 KiB one by one) fills its congestion window with small
 * segments and then waits for our acknowledgement; Linux delays that up
 * to 40 ms when we also send to the client (it takes the connection for
 * an interactive one). The stream measured the 40 ms as its p99. Quick
 * acknowledgements are not a lasting mode, so they are asked for again
 * after each message read; one system call on the network thread. */
void rill__conn_quickack(struct lws *wsi) {
    int one = 1;
    lws_sockfd_type fd = lws_get_socket_fd(wsi);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

void rill__broadcast_control(rill_server *srv, const char *text, size_t len) {
    for (rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->path == PATH_CONTROL)
            rill__conn_send_text(c, text, len);
}

void rill__conn_send_object(rill__conn *c, const rill__jv *m, size_t n) {
    char *text = NULL;
    size_t len = 0;
    if (rill__json_object(m, n, &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
}

void rill__broadcast_object(rill_server *srv, const rill__jv *m, size_t n) {
    char *text = NULL;
    size_t len = 0;
    if (rill__json_object(m, n, &text, &len) == 0)
        rill__broadcast_control(srv, text, len);
    rill__free(text);
}
