/* `rill stream --nats URL SUBJECT...`: the stream command reads a bridged
 * device from JetStream instead of a device (docs/SCALE.md). cmd_stream
 * calls nats_stream_args first; connect_with calls nats_stream_connect
 * when it took --nats. Everything else (files, -n, -d, exit statuses) is
 * the stream command's own. */
#ifndef RILL_TOOLS_NATS_STREAM_H
#define RILL_TOOLS_NATS_STREAM_H

#include <stdbool.h>

#include "rill/client.h"

/* Take --nats URL, --replay all|seq:N|time:SECONDS, --stream NAME out of
 * argv (rewritten in place) and turn the subjects <prefix>.<device>.<var>
 * (or <device>.<var>) into variable names. Returns -1 when there is no
 * --nats (nothing changed), else 0, or an exit status > 0 after a message
 * on stderr. */
int nats_stream_args(int *argc, char **argv);

/* True after nats_stream_args took --nats. */
bool nats_stream_active(void);

/* Connect to the device the subjects named; NULL and *status on failure. */
rill_client *nats_stream_connect(rill_client_config cfg, int *status);

/* After streaming: gaps reported (each said on stderr as it came). */
unsigned long nats_stream_gaps(void);

#endif
