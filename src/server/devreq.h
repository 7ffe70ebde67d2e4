/* Device requests: clients' audio configuration changes (docs/PROTOCOL.md
 * §8), run one at a time on a thread of their own, so that the device
 * program's on_audio_change may stop and reopen its audio for as long as
 * that takes while the network thread goes on serving everyone else.
 *
 * The network thread posts requests and takes the results at each drain;
 * the request thread calls the program. A small mutex-protected queue each
 * way: neither side is real-time. */
#ifndef RILL_SERVER_DEVREQ_H
#define RILL_SERVER_DEVREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/server.h"

typedef struct rill__devreq rill__devreq;

/* At most this many requests wait; more are refused (RILL_EBUSY). */
#define RILL__DEVREQ_MAX 8

/* A finished request: which connection asked, its id (echoed), the
 * program's answer. */
typedef struct rill__devreq_result {
    uint64_t conn_id;
    int id_kind;   /* a rill__cmd_id_kind */
    int64_t id_i;
    char *id_s;    /* owned; free with rill__free */
    int rc;        /* 0 or the program's error code */
    char why[400]; /* the program's sentence when rc != 0 */
} rill__devreq_result;

/* Start the thread that calls fn(srv, change, why, size, user), and
 * done(srv) after each call's result is ready to take (so that the network
 * thread takes it now). Returns 0, RILL_ENOMEM or RILL_ESYS. */
int rill__devreq_create(rill_server *srv, rill_server_audio_change_fn fn, void *user,
                        void (*done)(rill_server *srv), rill__devreq **out);

/* True on the request thread while the program's call runs. */
bool rill__devreq_in_call(void);

/* Network thread: queue a request. `id_s` is copied. Returns 0,
 * RILL_EBUSY (RILL__DEVREQ_MAX waiting) or RILL_ENOMEM. */
int rill__devreq_post(rill__devreq *d, uint64_t conn_id, int id_kind,
                      int64_t id_i, const char *id_s,
                      const rill_audio_change *change);

/* Network thread: move up to `max` finished requests to `out`, oldest
 * first; returns how many. */
size_t rill__devreq_take(rill__devreq *d, rill__devreq_result *out,
                         size_t max);

/* Finish the request being run (the program's call returns first) and
 * join: no call of the program after this. The network thread may still
 * post (kept, never run) and take until rill__devreq_destroy. NULL is a
 * no-op; a second call too. */
void rill__devreq_stop(rill__devreq *d);

/* Stop (if not yet), drop the requests waiting and the results not taken,
 * free. Only once nothing posts or takes any more (the network thread is
 * gone). NULL is a no-op. */
void rill__devreq_destroy(rill__devreq *d);

#endif /* RILL_SERVER_DEVREQ_H */
