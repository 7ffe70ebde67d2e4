/* rill__ws: a WebSocket client connection (RFC 6455, ws:// only) on a
 * plain socket, for rill's host side.
 *
 * Why not libwebsockets' client, which the server side uses: its client
 * parser handles payload one byte at a time (about 20 us of CPU per 4 KiB
 * message on the development machines), which would make the client the
 * bottleneck of every stream. This one receives in bulk and parses frames
 * in place. It does what rill's clients need: the opening handshake (with a
 * random key, verified), whole messages delivered with fragments
 * reassembled, pings answered, masked text and binary messages out, and a
 * precise error for every way a connection can fail.
 *
 * Threads. One thread, the owner, calls rill__ws_poll (which delivers the
 * messages) and rill__ws_close. rill__ws_send may be called from any
 * thread: it queues the message and, if the queue was empty, writes it at
 * once (what the socket does not take waits for the owner, which it
 * wakes). Not for real-time threads (it allocates, locks and may make a
 * system call).
 */
#ifndef RILL_CLIENT_WS_H
#define RILL_CLIENT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rill__ws rill__ws;

/* A whole message; `data` is valid only during the call. */
typedef void (*rill__ws_msg_fn)(void *user, rill__ws *ws, const uint8_t *data,
                                size_t len, bool binary);

/* Connect to ws://host:port<target>, `target` being the path and query
 * ("/gui_control?token=abc"). Blocks for at most timeout_ms. Returns 0, or
 * with a sentence in err (what failed, where, what to do):
 *   RILL_EREFUSED  nothing listens on host:port
 *   RILL_ETIMEOUT  no connection or no handshake answer in time
 *   RILL_EAUTH     the server answered 401 or 403 (token, Origin)
 *   RILL_ENOTFOUND the server answered 404 (wrong path)
 *   RILL_EPROTO    not a WebSocket server, or a bad handshake
 *   RILL_EIO       the address cannot be resolved, or a socket error
 *   RILL_ENOMEM    out of memory
 * Frames that arrive with the handshake answer are kept for the first
 * rill__ws_poll. */
int rill__ws_connect(const char *host, int port, const char *target,
                     int timeout_ms, rill__ws **out, char *err, size_t err_cap);

/* Queue a message (text or binary); sent in order, at once when the queue
 * was empty, else by the owner (woken).
 * Returns 0, RILL_ECLOSED or RILL_ENOMEM. Any thread; from a message
 * callback of this connection it skips the wake-up (the poll sends it). */
int rill__ws_send(rill__ws *ws, bool binary, const void *data, size_t len);

/* The same, with the payload given in parts (no copy to join them). */
typedef struct rill__ws_part {
    const void *data;
    size_t len;
} rill__ws_part;
int rill__ws_sendv(rill__ws *ws, bool binary, const rill__ws_part *parts,
                   size_t n);
/* The same, refused with RILL_EFULL (nothing queued) when more than
 * `limit` bytes (0: no limit) would then wait to be sent; an empty queue
 * takes any message. */
int rill__ws_sendv_bounded(rill__ws *ws, bool binary,
                           const rill__ws_part *parts, size_t n,
                           size_t limit);

/* Owner thread: wait up to timeout_ms (-1: no limit) for any of the n
 * (at most 16) connections to have something, then read what arrived on each and call
 * `fn` for every whole message, and send what is queued. Returns 0, or the
 * first error of a connection that closed or broke (RILL_ECLOSED after a
 * close frame or the peer hanging up, RILL_EPROTO for a frame that breaks
 * the protocol); rill__ws_closed then tells which, and rill__ws_error why. */
/* With busy_ns > 0, the wait polls without sleeping for as long as bytes
 * arrived on any of the connections within the last busy_ns, and sleeps
 * only after that (rill_client_config.busy_poll_us). */
int rill__ws_poll(rill__ws *const *ws, size_t n, int timeout_ms,
                  uint64_t busy_ns, rill__ws_msg_fn fn, void *user);

/* Make a rill__ws_poll that waits on this connection return early. Any
 * thread. */
void rill__ws_wake(rill__ws *ws);

/* True once the connection has closed or failed. Any thread. */
bool rill__ws_closed(const rill__ws *ws);

/* Why the connection closed ("" while it is open). Owner thread. */
const char *rill__ws_error(const rill__ws *ws);

/* Send a close frame (best effort), close the socket and free. Owner
 * thread. NULL is a no-op. */
void rill__ws_close(rill__ws *ws);

/* ---- Liveness and reconnecting (client/reconnect.c) ---------------------- */

/* When bytes last arrived (rill_clock_now_ns; the handshake's end at
 * first). Owner thread. */
uint64_t rill__ws_rx_ns(const rill__ws *ws);

/* Queue a ping; the next rill__ws_poll sends it, and the peer's pong
 * counts as bytes arriving. Owner thread. 0, RILL_ECLOSED, RILL_ENOMEM. */
int rill__ws_ping(rill__ws *ws);

/* Take the connection as failed, `why` being its reason (rill__ws_error):
 * a link that went silent gives no error of its own. Owner thread. */
void rill__ws_abort(rill__ws *ws, const char *why);

/* Connect this same object again (after it closed or failed), as
 * rill__ws_connect does, so that other threads may keep the pointer: their
 * sends fail with RILL_ECLOSED until the new handshake is done, and nothing
 * queued for the old connection is sent on the new one. Owner thread.
 * Returns as rill__ws_connect; on failure the object stays closed and may
 * be reopened again. */
int rill__ws_reopen(rill__ws *ws, const char *host, int port,
                    const char *target, int timeout_ms, char *err, size_t cap);

#endif /* RILL_CLIENT_WS_H */
