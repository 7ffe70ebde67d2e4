/* rill_dash: a user program's side of the browser dashboard (EasyDSP's
 * browserinterface, in C). The program connects to a `rill serve` with
 * the client library, receives the device's live audio input as buffers
 * of frames x channels (EasyDSP's handle_data), learns the audio
 * configuration and its changes, creates data handlers (charts, polar
 * plots, heat maps, spectrograms, an audio player, level meters: one tab
 * each in every open dashboard page) and sends them data: small data as
 * JSON, big data (spectrogram columns, PCM, long series) as binary frames.
 * The server relays everything to every page (docs/HANDLERS.md); when the
 * program disconnects, its tabs go away.
 *
 * Threads. Like EasyDSP's loop_callbacks, every callback runs in
 * rill_dash_poll (or rill_dash_run) on the caller's thread, one at a time;
 * there they may call any rill_dash function. The send functions may be
 * called from any thread; they queue the message and return.
 *
 * Errors are codes; the reason goes to the log callback
 * (rill_set_log_callback), and what the server refused (a bad handler
 * message) to on_error.
 */
#ifndef RILL_DASH_H
#define RILL_DASH_H

#include <stdbool.h>

#include "rill/client.h"
#include "rill/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_dash rill_dash;
typedef struct rill_dash_handler rill_dash_handler;

/* A buffer of the live input: `frames` x `channels` floats, interleaved
 * (frame 0's channels, then frame 1's, ...), of the device tick `tick`
 * onwards. `dropped`: buffers lost just before this one (the device or
 * the poll queue could not keep up). Valid only during the call. In
 * rill_dash_poll. */
typedef void (*rill_dash_data_fn)(rill_dash *dash, const float *buf,
                                  size_t frames, size_t channels,
                                  uint64_t tick, uint32_t dropped, void *user);
/* The audio configuration (watch.h's rill_audio_desc, as the device's
 * program declared it): at connect (if the device has one) and after
 * every change. While it has none, `audio` is NULL. In rill_dash_poll. */
typedef void (*rill_dash_config_fn)(rill_dash *dash,
                                    const rill_audio_desc *audio, void *user);
/* The server refused a handler message (err RILL_EPROTO, with its reason),
 * or the connection closed (RILL_ECLOSED). In rill_dash_poll. */
typedef void (*rill_dash_error_fn)(rill_dash *dash, int err, const char *msg,
                                   void *user);

typedef struct rill_dash_config {
    const char *url;   /* default "ws://127.0.0.1:5555" */
    const char *token; /* if the server needs one */
    int timeout_ms;    /* connecting and requests; default 5000 */
    rill_dash_data_fn on_data;     /* NULL: no audio is streamed */
    rill_dash_config_fn on_config; /* may be NULL */
    rill_dash_error_fn on_error;   /* may be NULL */
    void *user;
    size_t poll_bytes; /* audio waiting for rill_dash_poll; default 16 MiB */
} rill_dash_config;

/* Defaults for every field. Always start from this. Any thread. */
RILL_API rill_dash_config rill_dash_config_default(void);

/* Connect (native mode), read the audio configuration and, with on_data,
 * start streaming the audio channels. Any thread. Returns 0 or the codes
 * of rill_client_connect; RILL_EPROTO if the server is not a rill serve,
 * RILL_ETIMEOUT if it does not answer a list request. */
RILL_API int rill_dash_connect(const rill_dash_config *cfg, rill_dash **out);

/* Close the connection (the server removes this program's handlers from
 * every page), free every handler and the dash. Any thread but a
 * callback's; nothing else may use the dash or its handlers during or
 * after. NULL is a no-op. */
RILL_API void rill_dash_destroy(rill_dash *dash);

/* Run the callbacks that are due: a configuration change first (the audio
 * streams restart with the new channels and buffer size), then the audio
 * buffers and errors. Waits up to timeout_ms (0: not at all, -1: until
 * something happens) for the first. Returns how many callbacks ran, or
 * RILL_ECLOSED once the connection is gone. One thread at a time. */
RILL_API int rill_dash_poll(rill_dash *dash, int timeout_ms);

/* rill_dash_poll for `duration_ms` (-1: until the connection closes).
 * The polling thread. Returns 0 at the end of the time, or RILL_ECLOSED. */
RILL_API int rill_dash_run(rill_dash *dash, int duration_ms);

/* The latest audio configuration the device announced (even before
 * rill_dash_poll applied it), without a round trip. Any thread. Returns
 * 0, RILL_ENOTFOUND (the device declares none) or RILL_EINVAL. */
RILL_API int rill_dash_get_audio(rill_dash *dash, rill_audio_desc *out);

/* The client underneath, e.g. to list or stream other variables. Any
 * thread; never fails. It lives as long as the dash. */
RILL_API rill_client *rill_dash_client(rill_dash *dash);

/* ---- Handlers ------------------------------------------------------------- */

/* The longest handler type and name (UTF-8 bytes) a server relays. */
#define RILL_DASH_TYPE_MAX 64
#define RILL_DASH_NAME_MAX 256

/* Create a handler: a tab named `name` in every page, of `type` (line,
 * area, bar, scatter, polar-line, polar-area, heatmap, spectrogram, audio,
 * meter; or EasyDSP's names) with `params_json`, a JSON object or NULL
 * (docs/HANDLERS.md). Returns the handler, or NULL (bad arguments: not
 * JSON, not an object, an empty type, a type or name that is not UTF-8 or
 * is longer than RILL_DASH_TYPE_MAX / RILL_DASH_NAME_MAX; or no memory;
 * the log says which). The server's own checks come back to on_error. Any
 * thread. */
RILL_API rill_dash_handler *rill_dash_add_handler(rill_dash *dash,
                                                  const char *name,
                                                  const char *type,
                                                  const char *params_json);

/* This program's number for the handler (1, 2, ...), as in error replies.
 * Any thread; never fails. */
RILL_API uint32_t rill_dash_handler_id(const rill_dash_handler *h);

/* Small data as JSON (`data_json`: any JSON value the type understands,
 * e.g. "{\"add\":[{\"x\":[1],\"y\":[2]}]}" or "[-12.5,-18]"), with the
 * device tick it belongs to (0: none). Returns 0, RILL_EINVAL (not JSON),
 * RILL_ERANGE (over RILL_DASH_MAX_MESSAGE), RILL_ECLOSED, RILL_ENOMEM.
 * Any thread: it queues the message and returns. */
RILL_API int rill_dash_send_json(rill_dash_handler *h, const char *data_json,
                                 uint64_t tick);

/* The server's default limit for one message (max_message_bytes). */
#define RILL_DASH_MAX_MESSAGE 65536

/* Flags of a binary frame. */
#define RILL_DASH_REPLACE 1u

/* Big data as one binary frame: `count` values of `type` (RILL_TYPE_FLOAT,
 * RILL_TYPE_DOUBLE, RILL_TYPE_INT32) with `arg` (series index, channels,
 * row length: per type, docs/HANDLERS.md), flags (RILL_DASH_REPLACE) and
 * the device tick (0: none). The values go on the wire as they are, no
 * copy. Returns 0, RILL_EINVAL, RILL_ERANGE (32 + count x size over
 * RILL_DASH_MAX_MESSAGE: send it in parts), RILL_ECLOSED, RILL_ENOMEM.
 * Any thread: it queues the frame and returns. */
RILL_API int rill_dash_send_values(rill_dash_handler *h, rill_type type,
                                   const void *values, size_t count,
                                   uint32_t arg, unsigned flags,
                                   uint64_t tick);

/* Audio PCM for an audio handler as int16 frames (`frames` x `channels`,
 * interleaved; scaled by 1/32768 in the page). As rill_dash_send_values. */
RILL_API int rill_dash_send_pcm16(rill_dash_handler *h, const int16_t *pcm,
                                  size_t frames, uint32_t channels,
                                  uint64_t tick);

/* Remove the handler from every page and free it. Any thread, once no
 * other call uses `h`. Returns 0 (also for NULL), RILL_ECLOSED or
 * RILL_ENOMEM (the handler is freed all the same). */
RILL_API int rill_dash_remove_handler(rill_dash_handler *h);

#ifdef __cplusplus
}
#endif

#endif /* RILL_DASH_H */
