/* A minimal JSON writer for the messages the server sends.
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
 */
#ifndef RILL_PROTO_JSON_OUT_H
#define RILL_PROTO_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
void rill__jw_u64(rill__jw *w, uint64_t v);
void rill__jw_i64(rill__jw *w, int64_t v);
void rill__jw_double(rill__jw *w, double v);
void rill__jw_bool(rill__jw *w, bool v);

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

#endif /* RILL_PROTO_JSON_OUT_H */
