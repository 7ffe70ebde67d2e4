/* A small WebSocket client for benchmarks, over rill's client transport
 * (src/client/ws.h, which says why not libwebsockets').
 *
 * It exists so that benchmarks can talk to a rill server from C, in the
 * same process or in another one, without Python in the measured path.
 * It does only what a benchmark client needs: connect to ws://host:port/
 * path, receive whole messages (fragments are reassembled before the
 * callback sees them) and send text messages.
 *
 * Threads. A context belongs to the thread that services it (the
 * "owner"): create, connect, service and
 * destroy happen there. bench_ws_send_text and bench_wsctx_wake may be
 * called from any thread; they queue and wake the owner. Message callbacks
 * run on the owner thread, inside bench_wsctx_service or bench_ws_connect.
 *
 * Failures are reported on stderr (this is a benchmark tool, not the
 * library) and by the return values.
 */
#ifndef RILL_BENCH_WSCLIENT_H
#define RILL_BENCH_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_wsctx bench_wsctx;
typedef struct bench_ws bench_ws;

/* One whole message. `data` is valid only during the call. */
typedef void (*bench_ws_on_message)(void *user, bench_ws *ws,
                                    const uint8_t *data, size_t len,
                                    bool binary);

/* A client-only context (no listening socket). NULL on failure. */
bench_wsctx *bench_wsctx_create(void);

/* Close every connection of the context and free it. Owner thread. NULL is
 * a no-op. */
void bench_wsctx_destroy(bench_wsctx *ctx);

/* Service sockets once: deliver what arrived, send what is queued. Returns
 * after at most about max_ms milliseconds, sooner when something happened
 * or bench_wsctx_wake was called. Owner thread. */
void bench_wsctx_service(bench_wsctx *ctx, int max_ms);

/* Make a bench_wsctx_service in progress return soon. Any thread. */
void bench_wsctx_wake(bench_wsctx *ctx);

/* Open ws://host:port/path and service the context until the WebSocket is
 * established (messages of other connections are delivered meanwhile).
 * Returns the connection, owned by the context, or NULL on failure or
 * after timeout_ms. Owner thread. */
bench_ws *bench_ws_connect(bench_wsctx *ctx, const char *host, int port,
                           const char *path, bench_ws_on_message on_message,
                           void *user, int timeout_ms);

/* Queue one text message; it is sent by the owner's next service. Returns
 * 0, or -1 if the connection is closed or memory runs out. Any thread. */
int bench_ws_send_text(bench_ws *ws, const char *text, size_t len);

/* True once the connection has closed or failed. Any thread. */
bool bench_ws_closed(const bench_ws *ws);

#endif /* RILL_BENCH_WSCLIENT_H */
