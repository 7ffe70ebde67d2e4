/* jsonl: pybela's streamer saving format (spec §7), one JSON object per
 * received buffer, written as pybela's json.dumps writes it:
 *
 *   {"ref_timestamp": 1024, "data": [1.0, 0.5]}
 *   {"ref_timestamp": 7, "data": [3, 4], "rel_timestamps": [0, 5]}
 *
 * Integers as integers, floats as Python's repr (shortest round-trip
 * digits, NaN, Infinity), ", " and ": " as separators. pybela's
 * load_data_from_file reads it back, and so does the reader here, which
 * accepts any key order and spacing but only these keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "file/backend.h"

typedef struct jsonl_writer {
    rill__strbuf text;
} jsonl_writer;

static int jsonl_create(rill_file_writer *w) {
    jsonl_writer *j = rill__calloc(1, sizeof *j);
    if (j == NULL)
        return RILL_ENOMEM;
    w->impl = j;
    return 0;
}

/* Per value at most a number, a 10-digit relative tick and separators. */
#define JSONL_VALUE_MAX (RILL__FILE_NUM_MAX + 10 + 4)

static int jsonl_write(rill_file_writer *w, uint64_t first_ts,
                       const void *values, size_t count,
                       const uint32_t *rel) {
    jsonl_writer *j = w->impl;
    rill__strbuf *b = &j->text;
    b->len = 0;
    if (count > SIZE_MAX / JSONL_VALUE_MAX - 1 ||
        rill__strbuf_reserve(b, (count + 1) * JSONL_VALUE_MAX) != 0)
        return RILL_ENOMEM;
    rill__strbuf_printf(b, "{\"ref_timestamp\": %" PRIu64 ", \"data\": [",
                        first_ts);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            rill__strbuf_printf(b, ", ");
        if (w->info.type == RILL_TYPE_FLOAT || w->info.type == RILL_TYPE_DOUBLE)
            rill__file_put_py_float(b,
                                    rill__file_value(w->info.type, values, i));
        else
            rill__file_put_csv_value(b, w->info.type, values, i);
    }
    rill__strbuf_printf(b, "]");
    if (w->info.mode == RILL_TS_SPARSE) {
        rill__strbuf_printf(b, ", \"rel_timestamps\": [");
        for (size_t i = 0; i < count; i++)
            rill__strbuf_printf(b, "%s%" PRIu32, i > 0 ? ", " : "", rel[i]);
        rill__strbuf_printf(b, "]");
    }
    rill__strbuf_printf(b, "}\n");
    return rill__file_write_all(w, b->data, b->len);
}

static void jsonl_free(rill_file_writer *w) {
    jsonl_writer *j = w->impl;
    if (j == NULL)
        return;
    rill__strbuf_free(&j->text);
    rill__free(j);
}

/* ---- Reader ------------------------------------------------------------ */

typedef struct jsonl_reader {
    rill__file_table t;
    /* One line's arrays, reused. */
    double *data;
    uint64_t *rel;
    size_t n_data, n_rel, cap_data, cap_rel;
} jsonl_reader;

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* Parse "[n, n, ...]" into (*arr, *n); `ints` asks for non-negative
 * integers (ticks). Returns the position after ']' or NULL. */
static const char *parse_array(const char *p, int ints, void **arr, size_t *n,
                               size_t *cap, int *nomem) {
    *n = 0;
    if (*p != '[')
        return NULL;
    p = skip_ws(p + 1);
    if (*p == ']')
        return p + 1;
    for (;;) {
        if (*n == *cap) {
            size_t c = *cap != 0 ? *cap * 2 : 1024;
            void *a = rill__realloc(*arr, c * 8);
            if (a == NULL) {
                *nomem = 1;
                return NULL;
            }
            *arr = a;
            *cap = c;
        }
        char *q;
        errno = 0;
        if (ints) {
            if (*p == '-')
                return NULL;
            ((uint64_t *)*arr)[*n] = strtoull(p, &q, 10);
        } else {
            ((double *)*arr)[*n] = strtod(p, &q);
        }
        if (q == p || (ints && errno == ERANGE))
            return NULL;
        (*n)++;
        p = skip_ws(q);
        if (*p == ']')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1);
    }
}

/* One line: an object with "ref_timestamp", "data" and optionally
 * "rel_timestamps", in any order. Returns 0, 1 for a line that is not such
 * an object, or RILL_ENOMEM. */
static int parse_line(jsonl_reader *j, const char *p, uint64_t *ref,
                      int *has_rel) {
    int has_ref = 0, has_data = 0, nomem = 0;
    *has_rel = 0;
    p = skip_ws(p);
    if (*p++ != '{')
        return 1;
    p = skip_ws(p);
    while (*p != '}') {
        if (*p++ != '"')
            return 1;
        const char *key = p;
        while (*p != '"' && *p != '\0' && *p != '\n')
            p++;
        if (*p != '"')
            return 1;
        size_t klen = (size_t)(p - key);
        p = skip_ws(p + 1);
        if (*p++ != ':')
            return 1;
        p = skip_ws(p);
        if (klen == 13 && memcmp(key, "ref_timestamp", 13) == 0) {
            char *q;
            errno = 0;
            if (*p == '-')
                return 1;
            *ref = strtoull(p, &q, 10);
            if (q == p || errno != 0)
                return 1;
            p = q;
            has_ref = 1;
        } else if (klen == 4 && memcmp(key, "data", 4) == 0) {
            p = parse_array(p, 0, (void **)&j->data, &j->n_data,
                            &j->cap_data, &nomem);
            has_data = 1;
        } else if (klen == 14 && memcmp(key, "rel_timestamps", 14) == 0) {
            p = parse_array(p, 1, (void **)&j->rel, &j->n_rel, &j->cap_rel,
                            &nomem);
            *has_rel = 1;
        } else {
            return 1;
        }
        if (nomem)
            return RILL_ENOMEM;
        if (p == NULL)
            return 1;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p != '}')
            return 1;
    }
    p = skip_ws(p + 1);
    if (*p != '\n' && *p != '\0')
        return 1;
    if (!has_ref || !has_data || (*has_rel && j->n_rel != j->n_data))
        return 1;
    return 0;
}

static int jsonl_open(rill_file_reader *r, rill_ts_mode mode) {
    RILL__UNUSED(mode);
    jsonl_reader *j = rill__calloc(1, sizeof *j);
    if (j == NULL)
        return RILL_ENOMEM;
    r->impl = j;
    rill__file_table *t = &j->t;
    int rc = rill__file_table_load(t, r->path);
    if (rc != 0)
        return rc;
    r->name = rill__file_stem(r->path);
    if (r->name == NULL)
        return RILL_ENOMEM;
    int sparse = 0;
    const char *p = (const char *)t->data, *end = p + t->len;
    for (size_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl != NULL ? nl + 1 : end;
        if (*skip_ws(p) == '\n' || *skip_ws(p) == '\0') {
            p = next;
            continue;
        }
        uint64_t ref = 0;
        int has_rel = 0;
        rc = parse_line(j, p, &ref, &has_rel);
        if (rc == RILL_ENOMEM)
            return rc;
        if (rc != 0) {
            if (nl == NULL) {
                rill__log_info("%s: line %zu is cut short; ignored", r->path,
                               line);
                break;
            }
            rill__log_error("%s: line %zu is not a pybela buffer object "
                            "{\"ref_timestamp\": N, \"data\": [...]}",
                            r->path, line);
            return RILL_EPROTO;
        }
        sparse |= has_rel;
        if ((rc = rill__file_table_begin_buffer(t, ref)) != 0)
            return rc;
        for (size_t i = 0; i < j->n_data; i++) {
            uint64_t ts = ref + (has_rel ? j->rel[i] : (uint64_t)i);
            if ((rc = rill__file_table_push(t, j->data[i], ts)) != 0)
                return rc;
        }
        p = next;
    }
    r->info.type = rill__file_table_type(t);
    r->info.mode = sparse ? RILL_TS_SPARSE : RILL_TS_DENSE;
    r->info.sample_rate = 0;
    return 0;
}

static int jsonl_next(rill_file_reader *r, rill_file_buffer *out) {
    jsonl_reader *j = r->impl;
    return rill__file_table_next(&j->t, out);
}

static void jsonl_rfree(rill_file_reader *r) {
    jsonl_reader *j = r->impl;
    if (j == NULL)
        return;
    rill__file_table_free(&j->t);
    rill__free(j->data);
    rill__free(j->rel);
    rill__free(j);
}

const rill__file_backend rill__file_jsonl = {
    .format = RILL_FILE_JSONL,
    .create = jsonl_create,
    .write = jsonl_write,
    .free = jsonl_free,
    .open = jsonl_open,
    .next = jsonl_next,
    .rfree = jsonl_rfree,
};
