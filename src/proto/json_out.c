/* The JSON writer for server -> client messages. See json_out.h for why it
 * exists and what it writes. */
#include "proto/json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

void rill__jw_raw(rill__jw *w, const char *s, size_t n) {
    if (w->buf != NULL && w->len + n <= w->cap)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

void rill__jw_lit(rill__jw *w, const char *s) { rill__jw_raw(w, s, strlen(s)); }

static void put_u16_escape(rill__jw *w, unsigned cp) {
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15],
                 hex[(cp >> 4) & 15], hex[cp & 15]};
    rill__jw_raw(w, e, sizeof e);
}

/* Length of the valid UTF-8 sequence at s (1 to 4) and its code point, or
 * 0 if the bytes there are not one: a bad lead byte, a missing or bad
 * continuation byte, an overlong form, a surrogate or a value above
 * U+10FFFF. The NUL terminator is never a continuation byte, so this never
 * reads past the end of the string. */
static size_t utf8_decode(const unsigned char *s, unsigned *cp) {
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, c &= 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, c &= 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

void rill__jw_string(rill__jw *w, const char *str) {
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    rill__jw_raw(w, "\"", 1);
    while (*s != 0) {
        /* Copy the longest run that needs no escaping in one go. */
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\' && *s != '/')
            s++;
        if (s > run)
            rill__jw_raw(w, (const char *)run, (size_t)(s - run));
        if (*s == 0)
            break;
        unsigned c = *s, cp;
        size_t n;
        switch (c) {
        case '"':
            rill__jw_raw(w, "\\\"", 2);
            s++;
            continue;
        case '\\':
            rill__jw_raw(w, "\\\\", 2);
            s++;
            continue;
        case '/':
            rill__jw_raw(w, "\\/", 2);
            s++;
            continue;
        case '\b':
            rill__jw_raw(w, "\\b", 2);
            s++;
            continue;
        case '\f':
            rill__jw_raw(w, "\\f", 2);
            s++;
            continue;
        case '\n':
            rill__jw_raw(w, "\\n", 2);
            s++;
            continue;
        case '\r':
            rill__jw_raw(w, "\\r", 2);
            s++;
            continue;
        case '\t':
            rill__jw_raw(w, "\\t", 2);
            s++;
            continue;
        default:
            break;
        }
        if (c < 0x80) {
            put_u16_escape(w, c); /* other control bytes and DEL */
            s++;
        } else if ((n = utf8_decode(s, &cp)) == 0) {
            put_u16_escape(w, 0xfffd);
            s++;
        } else {
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u16_escape(w, 0xd800 | (cp >> 10));
                put_u16_escape(w, 0xdc00 | (cp & 0x3ff));
            } else {
                put_u16_escape(w, cp);
            }
            s += n;
        }
    }
    rill__jw_raw(w, "\"", 1);
}

void rill__jw_u64(rill__jw *w, uint64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    rill__jw_raw(w, b, (size_t)n);
}

void rill__jw_i64(rill__jw *w, int64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    rill__jw_raw(w, b, (size_t)n);
}

void rill__jw_bool(rill__jw *w, bool v) {
    rill__jw_lit(w, v ? "true" : "false");
}

/* Integers first, because sample rates and integer variables travel as
 * doubles and must not turn into 1.234567e+06. Only up to 2^53, where
 * doubles stop holding every integer: beyond it a 20-digit integer would
 * look exact without being so, and parsers with 64-bit integers (jansson)
 * refuse literals past 2^63. Integer fields (ticks) do not come here; they
 * are printed exactly by rill__jw_u64. Anything else takes the fewest
 * significant digits that read back to the same double, so 4.6 stays 4.6
 * (Bela's 15 digits would be shorter but lossy). A locale with a decimal
 * comma would break the JSON, so any byte that is not part of a number's
 * syntax becomes '.'. */
size_t rill__json_format_double(char out[RILL__JSON_DOUBLE_MAX], double v) {
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    double mag = fabs(v);
    if (mag <= 9007199254740992.0 && mag == floor(mag)) {
        uint64_t u = (uint64_t)mag;
        int n = snprintf(out, RILL__JSON_DOUBLE_MAX, "%s%" PRIu64,
                         v < 0 && u != 0 ? "-" : "", u);
        return (size_t)n;
    }
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(out, RILL__JSON_DOUBLE_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    for (int i = 0; i < n; i++) {
        char c = out[i];
        if (!(c >= '0' && c <= '9') && c != '-' && c != '+' && c != 'e')
            out[i] = '.';
    }
    return (size_t)n;
}

void rill__jw_double(rill__jw *w, double v) {
    char b[RILL__JSON_DOUBLE_MAX];
    size_t n = rill__json_format_double(b, v);
    rill__jw_raw(w, b, n);
}

int rill__json_render(rill__jw_build_fn build, const void *ctx, char **out,
                      size_t *out_len) {
    rill__jw w = {NULL, 0, 0};
    build(&w, ctx);
    size_t len = w.len;
    char *buf = rill__malloc(len + 1);
    if (buf == NULL)
        return RILL_ENOMEM;
    w.buf = buf;
    w.cap = len;
    w.len = 0;
    build(&w, ctx);
    /* Both passes see the same inputs, so they emit the same bytes. */
    buf[len] = '\0';
    *out = buf;
    if (out_len != NULL)
        *out_len = len;
    return 0;
}
