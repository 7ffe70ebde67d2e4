/* What the text formats (csv, jsonl) share: building a buffer's text in
 * memory before one write, printing numbers exactly, and a parsed table
 * that the readers fill at open and serve buffers from. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "file/backend.h"
#include "proto/logfile.h"

int rill__strbuf_reserve(rill__strbuf *b, size_t extra) {
    if (b->cap - b->len > extra)
        return 0;
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2)
            return RILL_ENOMEM;
        cap *= 2;
    }
    char *p = rill__realloc(b->data, cap);
    if (p == NULL)
        return RILL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

void rill__strbuf_printf(rill__strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += RILL__MIN((size_t)n, b->cap - b->len - 1);
}

void rill__strbuf_free(rill__strbuf *b) {
    rill__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void rill__file_put_csv_value(rill__strbuf *b, rill_type type,
                              const void *values, size_t i) {
    size_t room = b->cap - b->len;
    int n = rill_value_format(type,
                              rill_value_to_double(
                                  type, (const char *)values +
                                            i * rill_type_size(type)),
                              b->data + b->len, room);
    if (n > 0)
        b->len += RILL__MIN((size_t)n, room - 1);
}

/* Python's float repr: the fewest significant digits that read back as
 * the same double (found by trying 1 to 17 with %e), then fixed notation
 * for decimal exponents -4 to 15 and scientific ("1e-05", "1.5e+16")
 * otherwise, as float_repr_style 'short' does. */
void rill__file_put_py_float(rill__strbuf *b, double v) {
    if (isnan(v)) {
        rill__strbuf_printf(b, "NaN");
        return;
    }
    if (isinf(v)) {
        rill__strbuf_printf(b, "%sInfinity", v < 0 ? "-" : "");
        return;
    }
    if (v == 0) {
        rill__strbuf_printf(b, "%s", signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is [-]d[.ddd]e(+|-)dd */
    const char *s = tmp;
    int neg = *s == '-';
    if (neg)
        s++;
    char digits[20];
    size_t nd = 0;
    for (; *s != 'e'; s++)
        if (*s != '.')
            digits[nd++] = *s;
    digits[nd] = '\0';
    int exp = atoi(s + 1);
    if (neg)
        rill__strbuf_printf(b, "-");
    if (exp < -4 || exp >= 16) {
        rill__strbuf_printf(b, "%c", digits[0]);
        if (nd > 1)
            rill__strbuf_printf(b, ".%s", digits + 1);
        rill__strbuf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        rill__strbuf_printf(b, "0.%.*s%s", -exp - 1, "0000", digits);
    } else {
        size_t ip = (size_t)exp + 1; /* digits before the point */
        if (nd <= ip) {
            rill__strbuf_printf(b, "%s%.*s.0", digits, (int)(ip - nd),
                                "0000000000000000");
        } else {
            rill__strbuf_printf(b, "%.*s.%s", (int)ip, digits, digits + ip);
        }
    }
}

/* ---- Parsed tables ----------------------------------------------------- */

int rill__file_table_push(rill__file_table *t, double v, uint64_t ts) {
    if (t->n == t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 1024;
        double *nv = rill__realloc(t->values, cap * sizeof *nv);
        if (nv == NULL)
            return RILL_ENOMEM;
        t->values = nv;
        uint64_t *nt = rill__realloc(t->ts, cap * sizeof *nt);
        if (nt == NULL)
            return RILL_ENOMEM;
        t->ts = nt;
        t->cap = cap;
    }
    if (t->n == 0) {
        t->all_int = 1;
        t->min = t->max = v;
    }
    if (v != floor(v) || isinf(v))
        t->all_int = 0;
    if (v < t->min)
        t->min = v;
    if (v > t->max)
        t->max = v;
    t->values[t->n] = v;
    t->ts[t->n] = ts;
    t->n++;
    return 0;
}

int rill__file_table_begin_buffer(rill__file_table *t, uint64_t first_ts) {
    if (t->n_bufs == t->bufs_cap) {
        size_t cap = t->bufs_cap != 0 ? t->bufs_cap * 2 : 64;
        size_t *ns = rill__realloc(t->starts, cap * sizeof *ns);
        if (ns == NULL)
            return RILL_ENOMEM;
        t->starts = ns;
        uint64_t *nf = rill__realloc(t->firsts, cap * sizeof *nf);
        if (nf == NULL)
            return RILL_ENOMEM;
        t->firsts = nf;
        t->bufs_cap = cap;
    }
    t->starts[t->n_bufs] = t->n;
    t->firsts[t->n_bufs] = first_ts;
    t->n_bufs++;
    return 0;
}

int rill__file_table_load(rill__file_table *t, const char *path) {
    int rc = rill__logfile_read(path, &t->data, &t->len);
    if (rc != 0) {
        if (rc != RILL_ENOMEM)
            rill__log_error("%s: cannot read: %s", path, rill_strerror(rc));
        return rc;
    }
    uint8_t *p = rill__realloc(t->data, t->len + 1);
    if (p == NULL)
        return RILL_ENOMEM;
    p[t->len] = 0;
    t->data = p;
    return 0;
}

void rill__file_table_free(rill__file_table *t) {
    rill__free(t->data);
    rill__free(t->values);
    rill__free(t->ts);
    rill__free(t->starts);
    rill__free(t->firsts);
    memset(t, 0, sizeof *t);
}

rill_type rill__file_table_type(const rill__file_table *t) {
    if (t->n == 0 || !t->all_int)
        return RILL_TYPE_DOUBLE;
    if (t->min >= INT32_MIN && t->max <= INT32_MAX)
        return RILL_TYPE_INT32;
    if (t->min >= 0 && t->max <= UINT32_MAX)
        return RILL_TYPE_UINT32;
    return RILL_TYPE_DOUBLE;
}

int rill__file_table_next(rill__file_table *t, rill_file_buffer *out) {
    if (t->next_buf >= t->n_bufs)
        return RILL_EEMPTY;
    size_t b = t->next_buf++;
    size_t start = t->starts[b];
    size_t end = b + 1 < t->n_bufs ? t->starts[b + 1] : t->n;
    out->count = end - start;
    /* A line with no values ("data": []) in a file of no values. */
    out->values = t->values != NULL ? t->values + start : NULL;
    out->timestamps = t->ts != NULL ? t->ts + start : NULL;
    out->first_ts = t->firsts[b];
    return 0;
}
