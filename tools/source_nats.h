/* `rill serve --source nats://HOST:PORT[,nats://...]/DEVICE`: a device that
 * `rill bridge` publishes into NATS JetStream, served again by this server
 * (docs/SCALE.md "The dashboard"): its bridged variables, with their
 * types, modes and the device's own ticks, and its audio description when
 * every channel is bridged. The dashboard, pybela and rill clients then see
 * the remote device as if they were connected to it, from any host that
 * reaches the NATS cluster. Read-only: what clients set or send stays
 * here; audio changes are refused.
 *
 * The NATS consumer's thread (rill/nats.h) is this server's tick thread: it
 * receives the variables' values in blocks aligned by tick and, tick by
 * tick, ticks the server and sets the values of that tick. */
#ifndef RILL_TOOLS_SOURCE_NATS_H
#define RILL_TOOLS_SOURCE_NATS_H

#include <stdbool.h>
#include <stdio.h>

#include "rill/rill.h"

typedef struct nats_source nats_source;

/* True if `spec` is a nats:// source. */
bool nats_source_is(const char *spec);

/* Connect to NATS and read the device's announcement: "nats://URLS/DEVICE"
 * with optional "?stream=S&prefix=P&bucket=B". On failure a sentence is in
 * err (no server, no such device and those there are, ...). */
int nats_source_open(const char *spec, nats_source **out, char *err,
                     size_t err_size);

/* The device's rate (the server's sample rate). */
double nats_source_rate(const nats_source *s);

/* Declare the device's variables on `srv` (and its audio description) and
 * start: from now on the consumer's thread ticks the server. */
int nats_source_start(nats_source *s, rill_server *srv);

/* No more ticks (the server can then be destroyed), and free. */
void nats_source_free(nats_source *s);

/* Prints what runs and the variable table to `out`. */
void nats_source_describe(const nats_source *s, FILE *out);

#endif
