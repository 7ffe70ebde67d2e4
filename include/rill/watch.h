/* rill watch: variables a program exposes to remote clients (the Bela
 * Watcher model), watched, logged, monitored and controlled over the
 * network.
 *
 * The value types shared by the server, the log files and the clients,
 * and the device API: the variables a program declares on its rill_server
 * and sets from its real-time loop (server.h has the server itself).
 */
#ifndef RILL_WATCH_H
#define RILL_WATCH_H

#include <stdbool.h>

#include "rill/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defined in server.h; variables belong to a server. */
typedef struct rill_server rill_server;

/* The C type of a watched variable. On the wire each is one letter, the
 * one Bela's Watcher takes from the C++ type name (docs/PROTOCOL.md). */
typedef enum rill_type {
    RILL_TYPE_CHAR = 0,   /* 'c': one byte, unsigned as on ARM Linux */
    RILL_TYPE_INT32 = 1,  /* 'i': int32_t */
    RILL_TYPE_UINT32 = 2, /* 'j': uint32_t */
    RILL_TYPE_FLOAT = 3,  /* 'f': IEEE binary32 */
    RILL_TYPE_DOUBLE = 4  /* 'd': IEEE binary64 */
} rill_type;

/* How values are timestamped in a stream buffer. Dense: value i of a
 * buffer is taken to belong to tick ref + i. Sparse: every value carries
 * its own tick, relative to the buffer's first. The numbers are the
 * "timestampMode" of the Bela list reply. */
typedef enum rill_ts_mode {
    RILL_TS_DENSE = 0,
    RILL_TS_SPARSE = 1
} rill_ts_mode;

/* Size in bytes of one value (1, 4 or 8), or 0 if `type` is not a
 * rill_type. Any thread, including real-time ones. */
RILL_API size_t rill_type_size(rill_type type);

/* The wire letter ('c', 'i', 'j', 'f', 'd'), or '\0' if `type` is not a
 * rill_type. Any thread. */
RILL_API char rill_type_letter(rill_type type);

/* The type a wire letter stands for. Returns 0 and sets *out, or
 * RILL_EINVAL for any other letter (and for a NULL `out`). Any thread. */
RILL_API int rill_type_from_letter(char letter, rill_type *out);

/* A static lower-case name ("char", "int32", "uint32", "float", "double"),
 * or "unknown". Never NULL. Any thread. */
RILL_API const char *rill_type_name(rill_type type);

/* One value of `type` at `p` (host order, any alignment) as a double:
 * exact for every type. 0 for an invalid type. Any thread, wait-free. */
RILL_API double rill_value_to_double(rill_type type, const void *p);

/* Room for any text rill_value_format writes, with its '\0'. */
#define RILL_VALUE_TEXT_MAX 32

/* `v`, a value of `type` as rill_value_to_double gives it, as the shortest
 * text that reads back (strtod, then stored as `type`) to the same value:
 * integer types as decimal integers; a float with the fewest significant
 * digits that read back as the same float (0.1f is "0.1", at most 9), a
 * double the fewest that read back as the same double (at most 17); "nan",
 * "inf", "-inf" for the special values; %g's form otherwise ("1e-05").
 * Writes at most `size` bytes with the '\0' (RILL_VALUE_TEXT_MAX is always
 * enough) and returns the length, as snprintf. Any thread; C locale. */
RILL_API int rill_value_format(rill_type type, double v, char *out,
                               size_t size);

/* Store `d` at `out` (any alignment) as one value of `type`, converting as
 * C does (integers truncate toward zero) except that out-of-range integers
 * saturate and NaN becomes 0, so no input is undefined behaviour. Returns
 * the bytes written (1, 4 or 8), 0 for an invalid type. Any thread,
 * wait-free. */
RILL_API size_t rill_value_from_double(rill_type type, double d, void *out);

/* ---- Device API: variables of a rill_server ---------------------------- */

typedef struct rill_var rill_var;

/* Declare a variable on a server. `name` is copied (1 to
 * RILL_VAR_NAME_MAX - 1 bytes, unique on the server). The first 100
 * variables are visible to compatibility (pybela) clients, which cannot
 * address more. Returns NULL on a bad argument, a
 * duplicate name, a full table (rill_server_config.max_vars) or no memory;
 * the log says which. Any non-real-time thread, before or while serving.
 * The server owns the variable: it lives until rill_server_destroy. */
RILL_API rill_var *rill_var_create(rill_server *srv, const char *name,
                                   rill_type type, rill_ts_mode mode);

/* Set the variable's value for the current tick: it is streamed, logged and
 * monitored as clients asked. Real-time thread only (the one that ticks);
 * wait-free: no allocation or lock. No system call in the common case: a
 * set that completes a buffer while the server's network thread sleeps
 * wakes it with one write(2) to an eventfd, at most once per sleep
 * (server.h). They never fail: a value that finds its stream's ring full
 * is counted as dropped (stats). The type of the function
 * should match the variable's; a different one converts as C does. */
RILL_API void rill_var_set_char(rill_var *var, char value);
RILL_API void rill_var_set_int32(rill_var *var, int32_t value);
RILL_API void rill_var_set_uint32(rill_var *var, uint32_t value);
RILL_API void rill_var_set_float(rill_var *var, float value);
RILL_API void rill_var_set_double(rill_var *var, double value);

/* Set `n` consecutive values of the variable at once: values[i] is its
 * value for tick now + i, `now` being the tick given to the latest
 * rill_server_tick. For a program that processes blocks of frames, as an
 * audio callback does: rill_server_tick(srv, first frame of the block) once,
 * then one call per variable with the block's values, and the next tick
 * for the block after (now + n or later). Streams, logs and monitors see
 * exactly what n frames of one set each would give them (a stream
 * scheduled to start or end inside the block starts or ends at that tick),
 * but the common case costs a few copies per block, not a call per value:
 * what makes wide streams (hundreds of channels) cheap. Client commands
 * take effect at ticks, so at block boundaries. `values` holds n values of
 * `type` in host order; another type than the variable's converts as the
 * single sets do. Real-time thread; wait-free like them, with the same
 * one possible system call (waking the network thread). Ignores NULL
 * values, n 0 or a bad type. */
RILL_API void rill_var_set_block(rill_var *var, rill_type type,
                                 const void *values, size_t n);

/* The value the program should read: the value a client set remotely while
 * the variable is controlled (control/set/setMask), otherwise the last value
 * set locally. Exact for every type (all fit in a double). Any thread;
 * wait-free; never fails. */
RILL_API double rill_var_get(const rill_var *var);

/* True while a client controls the variable. Any thread, wait-free. */
RILL_API bool rill_var_controlled(const rill_var *var);

/* What rill_var_create was given, and the variable's id: its index in the
 * list reply and on the wire. Any thread; they never fail (the name lives
 * as long as the variable). */
RILL_API const char *rill_var_name(const rill_var *var);
RILL_API rill_type rill_var_type(const rill_var *var);
RILL_API rill_ts_mode rill_var_mode(const rill_var *var);
RILL_API uint32_t rill_var_id(const rill_var *var);

/* ---- The device's audio ---------------------------------------------------
 *
 * A device program says which of its variables are its audio input
 * channels (rill_server_set_audio), so that host programs (rill_dash, the
 * dashboard) know the configuration (EasyDSP's rate, channels,
 * buffer_frames, volume) and which variables to stream as frames x
 * channels. The same value type is what a client reads back
 * (rill_client_get_audio, rill_dash_get_audio): self-contained, with no
 * pointer into anybody's memory. docs/PROTOCOL.md §8. */

#define RILL_AUDIO_MAX_CHANNELS 64
#define RILL_AUDIO_MAX_RATES 32
/* Bytes of a variable's name, its NUL included (rill_var_create). */
#define RILL_VAR_NAME_MAX 64

typedef struct rill_audio_desc {
    double rate;            /* frames per second, > 0 */
    uint32_t buffer_frames; /* frames per audio buffer, 1 ... 65536 */
    double volume;          /* capture volume 0 ... 100; negative: none */
    size_t channels;        /* entries of `variables`, 1 ... 64 */
    /* The channels' variables, in order: each a dense float variable. */
    char variables[RILL_AUDIO_MAX_CHANNELS][RILL_VAR_NAME_MAX];
    /* What clients may change (a server offers it only with
     * on_audio_change set; all zero: nothing), as "settable". */
    double rates[RILL_AUDIO_MAX_RATES]; /* the rates offered (0: fixed) */
    size_t n_rates;
    size_t min_channels, max_channels; /* channel counts offered (0, 0:
                                          fixed) */
    bool buffer_frames_settable;       /* any 1 ... 65536 */
    bool volume_settable;              /* any 0 ... 100 */
} rill_audio_desc;

/* An empty description to fill in: everything 0, volume -1 (none). Any
 * thread. */
RILL_API rill_audio_desc rill_audio_desc_default(void);

/* A client's request to change the device's audio configuration. A
 * separate type from the description because it says which fields change
 * and which stay: a field left as it is reads 0 (volume: negative, since 0
 * is a volume), so start from rill_audio_change_none(), not {0}. Clients
 * send it (rill_client_change_audio); the server checks each set field
 * against what its description offers (`rates`, `min_channels` ...)
 * before the device program sees it. */
typedef struct rill_audio_change {
    double rate;            /* frames per second; 0: unchanged */
    size_t channels;        /* 0: unchanged */
    uint32_t buffer_frames; /* 0: unchanged */
    double volume;          /* 0 ... 100; negative: unchanged */
} rill_audio_change;

/* A change of nothing ({0, 0, 0, -1}): set only the fields to change. Any
 * thread. */
RILL_API rill_audio_change rill_audio_change_none(void);

#ifdef __cplusplus
}
#endif

#endif /* RILL_WATCH_H */
