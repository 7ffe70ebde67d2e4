/* rill: live audio and sensor streams.
 *
 * The one header a program needs; it pulls in every subsystem's header.
 * See docs/ARCHITECTURE.md for how the pieces fit together.
 */
#ifndef RILL_RILL_H
#define RILL_RILL_H

#include "rill/audio.h"
#include "rill/client.h"
#include "rill/core.h"
#include "rill/dash.h"
#include "rill/file.h"
#include "rill/queue.h"
#include "rill/ring.h"
#include "rill/server.h"
#include "rill/watch.h"

#endif /* RILL_RILL_H */
