/* The unmasked-frame guard: RFC 6455 5.1 says a server MUST close the
 * connection on a client frame that is not masked. libwebsockets 4.1
 * (Debian 12) neither checks the mask bit nor tells its callback, so rill
 * watches the bytes libwebsockets reads from the server's own connections
 * and closes (1002) the one whose frame header lacks it. wsguard.c says
 * how and why this way.
 *
 * Threads: rill__wsguard_install from any thread (once per process, the
 * later calls return its first result); the others on the network thread
 * of the server that owns the connection, from its lws callback. */
#ifndef RILL_SERVER_WSGUARD_H
#define RILL_SERVER_WSGUARD_H

#include <libwebsockets.h>
#include <stdbool.h>

/* Starts watching libwebsockets' socket reads, for the whole process.
 * 0, or RILL_ENOTSUP when this libwebsockets cannot be watched (then the
 * guard is off: the caller says so in the log; nothing else changes). */
int rill__wsguard_install(void);

/* A server accepted `fd` (LWS_CALLBACK_FILTER_NETWORK_CONNECTION): watch
 * what libwebsockets reads from it. false: it cannot be watched (no
 * memory, or a descriptor beyond the guard's table): refuse it. */
bool rill__wsguard_accept(int fd);

/* `wsi` became a WebSocket (LWS_CALLBACK_ESTABLISHED): its frames are
 * checked from the byte after the upgrade request on. false: the
 * boundary is not known (the client sent bytes behind its request before
 * the answer, which RFC 6455 4.1 forbids): refuse it (a close reason is
 * set and the refusal logged). */
bool rill__wsguard_established(struct lws *wsi);

/* The writable callback of a WebSocket: true if the guard found an
 * unmasked frame on it; the caller then returns -1 (once its replies are
 * out) and lws sends the close frame 1002. */
bool rill__wsguard_refused(struct lws *wsi);

#endif
