/* The one JSON writer: every message the server sends, and the handler
 * messages a program sends, are written here.
 *
 * Why not jansson, which parses the incoming side: jansson's integers are
 * signed 64-bit, so it cannot print the "no end" tick 2^64 - 1 as an
 * integer (spec defect 10), and it prints reals with %.17g, so 4.6 comes out
 * as 4.5999999999999996 and 1234567.0 as 1234567.0. The messages we build
 * are a handful of fixed shapes, so a writer that emits keys in the order
 * the caller gives them (the callers give them sorted) is all we need.
 *
 * Output format, matching Bela's byte for byte where it is exact:
 *  - no whitespace;
 *  - integers exactly; doubles that hold an integer of magnitude up to
 *    2^53 as that integer; other doubles in the shortest form that reads
 *    back to the same double (so 1e19 is "1e+19", never a 20-digit
 *    integer that int64-based parsers refuse); NaN and infinities as null;
 *  - strings escape '"', '\\' and '/' with a backslash, use \b \f \n \r \t,
 *    and write every other byte below 0x20, 0x7f and every non-ASCII code
 *    point as \uXXXX (UTF-16 surrogate pairs above U+FFFF; each byte of an
 *    invalid UTF-8 sequence becomes \ufffd).
 *
 * Two passes, no reallocation: the builder runs once with a NULL buffer to
 * measure, then once more into a buffer of exactly that size. Not for the
 * tick thread (rill__json_render allocates).
 *
 * Most messages are one object of a few members: rill__json_object writes
 * one from a list of members (rill__jv), in the order given, so a message
 * reads as its fields. Values that came in as JSON (a handler's
 * parameters, a program's data) are written from jansson's tree by the
 * same rules (rill__jw_value), never pasted in as text.
 */
#ifndef RILL_PROTO_JSON_OUT_H
#define RILL_PROTO_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct rill__jw {
    char *buf; /* NULL while measuring */
    size_t cap;
    size_t len; /* bytes emitted so far (also counted while measuring) */
} rill__jw;

void rill__jw_raw(rill__jw *w, const char *s, size_t n);
/* A NUL-terminated piece of literal JSON, e.g. "{\"watcher\":". */
void rill__jw_lit(rill__jw *w, const char *s);
/* A quoted, escaped string; NULL is written as "". */
void rill__jw_string(rill__jw *w, const char *s);
/* The same for `n` bytes, NUL bytes included (written as \u0000). */
void rill__jw_string_n(rill__jw *w, const char *s, size_t n);
void rill__jw_u64(rill__jw *w, uint64_t v);
void rill__jw_i64(rill__jw *w, int64_t v);
void rill__jw_double(rill__jw *w, double v);
void rill__jw_bool(rill__jw *w, bool v);

/* A jansson value by this writer's rules: objects with their keys sorted,
 * integers exactly, reals as rill__jw_double, strings as rill__jw_string_n. */
void rill__jw_value(rill__jw *w, const json_t *v);

/* Longest text rill__json_format_double writes, NUL included. */
#define RILL__JSON_DOUBLE_MAX 32

/* Format a double as rill__jw_double would (integers up to 2^53 as
 * integers, else shortest round-trip form); NaN/inf give "null". Returns
 * the length. */
size_t rill__json_format_double(char out[RILL__JSON_DOUBLE_MAX], double v);

/* Run `build(w, ctx)` twice as described above and hand back the text in a
 * buffer from rill__malloc (NUL-terminated; *out_len excludes the NUL). The
 * caller frees it with rill__free. Returns 0 or RILL_ENOMEM. */
typedef void (*rill__jw_build_fn)(rill__jw *w, const void *ctx);
int rill__json_render(rill__jw_build_fn build, const void *ctx, char **out,
                      size_t *out_len);

/* ---- Objects from a list of members ---------------------------------- */

typedef enum rill__jv_kind {
    RILL__JV_SKIP = 0, /* left out: an optional member that is absent */
    RILL__JV_STR,      /* v.s, a NUL-terminated string (NULL: "") */
    RILL__JV_STRN,     /* v.sn, `n` bytes */
    RILL__JV_U64,
    RILL__JV_I64,
    RILL__JV_DBL,
    RILL__JV_BOOL,
    RILL__JV_RAW,      /* v.s, JSON this writer rendered before (an audio
                          description), copied as it is */
    RILL__JV_JSON,     /* v.json, a jansson value (rill__jw_value) */
    RILL__JV_OBJ       /* v.obj, a nested object */
} rill__jv_kind;

typedef struct rill__jv {
    const char *key;
    rill__jv_kind kind;
    union {
        const char *s;
        struct {
            const char *s;
            size_t n;
        } sn;
        uint64_t u;
        int64_t i;
        double d;
        bool b;
        const json_t *json;
        struct {
            const struct rill__jv *m;
            size_t n;
        } obj;
    } v;
} rill__jv;

#define RILL__JV_S(k, x) {(k), RILL__JV_STR, {.s = (x)}}
#define RILL__JV_SN(k, x, len) {(k), RILL__JV_STRN, {.sn = {(x), (len)}}}
#define RILL__JV_U(k, x) {(k), RILL__JV_U64, {.u = (x)}}
#define RILL__JV_I(k, x) {(k), RILL__JV_I64, {.i = (x)}}
#define RILL__JV_D(k, x) {(k), RILL__JV_DBL, {.d = (x)}}
#define RILL__JV_B(k, x) {(k), RILL__JV_BOOL, {.b = (x)}}
#define RILL__JV_RAWJ(k, x) {(k), RILL__JV_RAW, {.s = (x)}}
#define RILL__JV_J(k, x) {(k), RILL__JV_JSON, {.json = (x)}}
#define RILL__JV_O(k, m, cnt) {(k), RILL__JV_OBJ, {.obj = {(m), (cnt)}}}
#define RILL__JV_NONE {NULL, RILL__JV_SKIP, {.u = 0}}
/* Members of an array (RILL__JV_O's count). */
#define RILL__JV_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* {"key":value,...} in the order given, RILL__JV_SKIP members left out. */
void rill__jw_object(rill__jw *w, const rill__jv *m, size_t n);

/* That object as a NUL-terminated text from rill__malloc (free with
 * rill__free); *out_len (may be NULL) excludes the NUL. 0 or RILL_ENOMEM. */
int rill__json_object(const rill__jv *m, size_t n, char **out, size_t *out_len);

#endif /* RILL_PROTO_JSON_OUT_H */
