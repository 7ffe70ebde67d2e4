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

/* Length of the valid UTF-8 sequence at s (1 to 4, ending before `end`)
 * and its code point, or 0 if the bytes there are not one: a bad lead
 * byte, a missing or bad continuation byte, an overlong form, a surrogate
 * or a value above U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, const unsigned char *end,
                          unsigned *cp) {
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
    if ((size_t)(end - s) < n)
        return 0;
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
    str = str ? str : "";
    rill__jw_string_n(w, str, strlen(str));
}

/* A NUL byte inside the string is a control byte like any other; the
 * decoder below never reads past `end`, because every sequence it accepts
 * is checked against it first. */
void rill__jw_string_n(rill__jw *w, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    const unsigned char *end = s + (str ? len : 0);
    rill__jw_raw(w, "\"", 1);
    while (s < end) {
        /* Copy the longest run that needs no escaping in one go. */
        const unsigned char *run = s;
        while (s < end && *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\' &&
               *s != '/')
            s++;
        if (s > run)
            rill__jw_raw(w, (const char *)run, (size_t)(s - run));
        if (s == end)
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
        } else if ((n = utf8_decode(s, end, &cp)) == 0) {
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
    /* Both passes see the same inputs, so they emit the same bytes (unless
     * an allocation inside one of them failed: then the lengths differ). */
    if (w.len != len) {
        rill__free(buf);
        return RILL_ENOMEM;
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len != NULL)
        *out_len = len;
    return 0;
}

/* jansson iterates an object in insertion order; the keys are sorted here
 * so that a message is the same bytes whatever order its sender used. */
static int compare_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void rill__jw_value(rill__jw *w, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        const char **keys = n ? rill__malloc(n * sizeof *keys) : NULL;
        if (n != 0 && keys == NULL) {
            /* Out of memory: the measuring and writing passes may then
             * differ, which rill__json_render detects by length. */
            rill__jw_lit(w, "{}");
            break;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) keys[k++] = key;
        if (n > 1)
            qsort(keys, n, sizeof *keys, compare_keys);
        rill__jw_raw(w, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i != 0)
                rill__jw_raw(w, ",", 1);
            rill__jw_string(w, keys[i]);
            rill__jw_raw(w, ":", 1);
            rill__jw_value(w, json_object_get(v, keys[i]));
        }
        rill__jw_raw(w, "}", 1);
        rill__free(keys);
        break;
    }
    case JSON_ARRAY:
        rill__jw_raw(w, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i != 0)
                rill__jw_raw(w, ",", 1);
            rill__jw_value(w, json_array_get(v, i));
        }
        rill__jw_raw(w, "]", 1);
        break;
    case JSON_STRING:
        rill__jw_string_n(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        rill__jw_i64(w, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        rill__jw_double(w, json_real_value(v));
        break;
    case JSON_TRUE:
        rill__jw_lit(w, "true");
        break;
    case JSON_FALSE:
        rill__jw_lit(w, "false");
        break;
    case JSON_NULL:
        rill__jw_lit(w, "null");
        break;
    }
}

void rill__jw_object(rill__jw *w, const rill__jv *m, size_t n) {
    rill__jw_raw(w, "{", 1);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (m[i].kind == RILL__JV_SKIP)
            continue;
        if (!first)
            rill__jw_raw(w, ",", 1);
        first = false;
        rill__jw_string(w, m[i].key);
        rill__jw_raw(w, ":", 1);
        switch (m[i].kind) {
        case RILL__JV_SKIP:
            break;
        case RILL__JV_STR:
            rill__jw_string(w, m[i].v.s);
            break;
        case RILL__JV_STRN:
            rill__jw_string_n(w, m[i].v.sn.s, m[i].v.sn.n);
            break;
        case RILL__JV_U64:
            rill__jw_u64(w, m[i].v.u);
            break;
        case RILL__JV_I64:
            rill__jw_i64(w, m[i].v.i);
            break;
        case RILL__JV_DBL:
            rill__jw_double(w, m[i].v.d);
            break;
        case RILL__JV_BOOL:
            rill__jw_bool(w, m[i].v.b);
            break;
        case RILL__JV_RAW:
            rill__jw_lit(w, m[i].v.s ? m[i].v.s : "null");
            break;
        case RILL__JV_JSON:
            if (m[i].v.json != NULL)
                rill__jw_value(w, m[i].v.json);
            else
                rill__jw_lit(w, "null");
            break;
        case RILL__JV_OBJ:
            rill__jw_object(w, m[i].v.obj.m, m[i].v.obj.n);
            break;
        }
    }
    rill__jw_raw(w, "}", 1);
}

typedef struct object_ctx {
    const rill__jv *m;
    size_t n;
} object_ctx;

static void build_object(rill__jw *w, const void *ctx) {
    const object_ctx *o = ctx;
    rill__jw_object(w, o->m, o->n);
}

int rill__json_object(const rill__jv *m, size_t n, char **out, size_t *out_len) {
    object_ctx o = {m, n};
    return rill__json_render(build_object, &o, out, out_len);
}
