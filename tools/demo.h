/* The built-in demo source of `rill serve`: a producer clocked in real
 * time that exposes variables of every kind rill handles. */
#ifndef RILL_TOOLS_DEMO_H
#define RILL_TOOLS_DEMO_H

#include "rill/rill.h"

typedef struct demo demo;

/* Declare the demo's variables on `srv` and start its thread, which ticks
 * `rate` frames per second in blocks of `block` frames. */
int demo_start(rill_server *srv, double rate, unsigned block, demo **out);

/* The server's on_buffer callback: shows the sum of each buffer a client
 * sends in the variable `inbox`. Network thread. */
void demo_on_buffer(rill_server *srv, uint32_t id, rill_type type,
                    const void *values, size_t count, void *user);

/* The server's on_audio_change (device-request thread): the microphones'
 * volume, the announced buffer size, and the rate (the demo thread
 * restarts at it, its ticks going on). Then the new description. */
int demo_change(rill_server *srv, const rill_audio_change *ch, char *why,
                size_t why_size, demo *d);

/* Stop the thread (the server can then be destroyed) and free. */
void demo_stop(demo *d);

/* Prints the variable table to `out`. */
void demo_describe(const demo *d, FILE *out);

#endif
