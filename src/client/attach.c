/* Attached clients: a rill_client whose device is an in-process transport
 * (client/internal.h, rill__client_xport), not a socket. The NATS consumer
 * (src/nats/consumer.c) is one: it answers the client's requests from a
 * JetStream stream and feeds the frames, so the client's collectors,
 * aligner, schedules and poll mode serve bridged devices unchanged. The
 * transport's thread plays the I/O thread.
 */
#include <stdio.h>

#include "client/internal.h"

int rill__client_attach(const rill_client_config *cfg,
                        const rill__client_xport *x, void *user,
                        rill_client **out) {
    *out = NULL;
    rill_client *cl = NULL;
    int rc = cfg == NULL || cfg->timeout_ms <= 0 ? RILL_EINVAL
                                                 : rill__client_new(cfg, &cl);
    if (rc != 0) {
        x->detach(user);
        return rc;
    }
    cl->xport = x;
    cl->xport_user = user;
    cl->native = true;
    snprintf(cl->host, sizeof cl->host, "%s",
             cfg->url ? cfg->url : "(attached)");
    if ((rc = rill__client_take_vars(cl)) != 0) {
        rill_client_destroy(cl); /* detaches the transport */
        return rc;
    }
    *out = cl;
    return 0;
}

void rill__client_feed(rill_client *cl, const uint8_t *data, size_t len,
                       bool binary) {
    rill__client_on_msg(cl, NULL, data, len, binary);
}

void rill__client_feed_closed(rill_client *cl, const char *why) {
    rill__client_lost(cl, why);
}

void *rill__client_xport_user(const rill_client *cl) {
    return cl->xport_user;
}
