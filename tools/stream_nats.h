/* rill stream --nats URL SUBJECT...: the stream command reads a bridged
 * device from JetStream instead of a device (docs/SCALE.md). stream.c
 * takes the options (--nats, --replay, --stream) and calls these; the
 * connection is host_connect_nats (host.c). Everything else (files, -n,
 * -d, exit statuses) is the stream command's own, and the library's gap
 * reports ("dev1.frame: ticks [a, b) are missing: why") show on stderr as
 * its other warnings do. */
#ifndef RILL_TOOLS_STREAM_NATS_H
#define RILL_TOOLS_STREAM_NATS_H

#include <stdbool.h>
#include <stddef.h>

#include "host.h"
#include "rill/nats.h"

typedef struct stream_nats {
    bool on; /* --nats was given */
    rill_nats_config cfg;
    char device[80], prefix[80];
} stream_nats;

void stream_nats_init(stream_nats *n);

/* --replay live|all|seq:N|time:SECONDS: true, or false after saying why. */
bool stream_nats_replay(const host *h, stream_nats *n, const char *s);

/* The SUBJECTs [<prefix>.]<device>.<var>, every one of the same device,
 * become the variables' names (rewritten in place) and n->cfg's device
 * and prefix. -1 to go on, or EXIT_USAGE after saying why. */
int stream_nats_subjects(const host *h, stream_nats *n, char **names, size_t count);

#endif
