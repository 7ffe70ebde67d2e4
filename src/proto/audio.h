/* The device's audio description (rill_audio_desc, watch.h) as JSON, both
 * ways: the server writes it into native list replies and its
 * {"event":"audio"} notices, clients (rill_client, rill_dash) read it back
 * (docs/PROTOCOL.md §8):
 *
 *   {"bufferFrames":B,"channels":C,"rate":R[,"settable":{["bufferFrames":
 *    [1,65536]][,"channels":[MIN,MAX]][,"rates":[...]][,"volume":[0,100]]}],
 *    "variables":[...][,"volume":V]}
 *
 * "settable" is written only when the device takes changes, and holds only
 * what may change, so that a page's form offers nothing else. Keys sorted,
 * by the one JSON writer. Any thread but the tick thread (allocates).
 */
#ifndef RILL_PROTO_AUDIO_H
#define RILL_PROTO_AUDIO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "rill/watch.h"

/* Whether a description's fields are in range: rate 0 < r < 1e7,
 * buffer_frames 1 to 65536, channels 1 to RILL_AUDIO_MAX_CHANNELS with a
 * non-empty name each, volume at most 100; what may change: at most
 * RILL_AUDIO_MAX_RATES rates in range, min_channels 1 to max_channels (at
 * most RILL_AUDIO_MAX_CHANNELS) or both 0, a settable volume needs a
 * volume. Returns 0, or RILL_EINVAL with a sentence in `why`. Whether the
 * variables exist is the server's to check. */
int rill__audio_desc_check(const rill_audio_desc *a, char *why, size_t cap);

/* Render `a` (checked) as above, with "settable" when `settable`. Returns
 * 0 and a NUL-terminated text from rill__malloc (*len its length; may be
 * NULL), or RILL_ENOMEM. */
int rill__audio_desc_render(const rill_audio_desc *a, bool settable, char **out,
                            size_t *len);

/* Read a description from its parsed JSON. Returns 0, or RILL_EPROTO when
 * it is not one (missing or mistyped fields, too many channels, a name too
 * long): *out is then the default (rill_audio_desc_default). */
int rill__audio_desc_parse(const json_t *j, rill_audio_desc *out);

#endif /* RILL_PROTO_AUDIO_H */
