/* csv: a header line "timestamp,<name>", then "tick,value" per value.
 *
 * Numbers are printed so that they read back exactly: integers as
 * integers, float and double with 17 significant digits. Each buffer's
 * lines are built in memory and handed to the kernel with one write, so a
 * killed writer leaves whole buffers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "file/backend.h"

typedef struct csv_writer {
    rill__strbuf text;
} csv_writer;

static int csv_create(rill_file_writer *w) {
    csv_writer *c = rill__calloc(1, sizeof *c);
    if (c == NULL)
        return RILL_ENOMEM;
    w->impl = c;
    size_t need = strlen(w->name) + 16;
    if (rill__strbuf_reserve(&c->text, need) != 0)
        return RILL_ENOMEM;
    rill__strbuf_printf(&c->text, "timestamp,%s\n", w->name);
    return rill__file_write_all(w, c->text.data, c->text.len);
}

/* A line is at most a 20-digit tick, a comma, a number and a newline. */
#define CSV_LINE_MAX (20 + 1 + RILL__FILE_NUM_MAX + 1)

static int csv_write(rill_file_writer *w, uint64_t first_ts,
                     const void *values, size_t count, const uint32_t *rel) {
    csv_writer *c = w->impl;
    c->text.len = 0;
    if (count > SIZE_MAX / CSV_LINE_MAX ||
        rill__strbuf_reserve(&c->text, count * CSV_LINE_MAX) != 0)
        return RILL_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        uint64_t t = first_ts + (rel != NULL && w->info.mode == RILL_TS_SPARSE
                                     ? rel[i]
                                     : (uint64_t)i);
        rill__strbuf_printf(&c->text, "%" PRIu64 ",", t);
        rill__file_put_csv_value(&c->text, w->info.type, values, i);
        rill__strbuf_printf(&c->text, "\n");
    }
    return rill__file_write_all(w, c->text.data, c->text.len);
}

static void csv_free(rill_file_writer *w) {
    csv_writer *c = w->impl;
    if (c == NULL)
        return;
    rill__strbuf_free(&c->text);
    rill__free(c);
}

/* ---- Reader ------------------------------------------------------------ */

#define CSV_BUFFER_VALUES 4096

/* Parse the whole file: the header, then one "tick,value" per line. A last
 * line without its newline that does not parse was cut by a kill and is
 * dropped; one that parses is kept (a hand-written file may end so) and
 * noted; anywhere else a bad line is an error naming its number. */
static int csv_open(rill_file_reader *r, rill_ts_mode mode) {
    RILL__UNUSED(mode);
    rill__file_table *t = rill__calloc(1, sizeof *t);
    if (t == NULL)
        return RILL_ENOMEM;
    r->impl = t;
    int rc = rill__file_table_load(t, r->path);
    if (rc != 0)
        return rc;
    char *p = (char *)t->data, *end = p + t->len;
    char *nl = memchr(p, '\n', t->len);
    if (strncmp(p, "timestamp,", 10) != 0 || nl == NULL) {
        rill__log_error("%s: line 1 is not a csv header "
                        "\"timestamp,<name>\"",
                        r->path);
        return RILL_EPROTO;
    }
    size_t name_len = (size_t)(nl - p) - 10;
    if (name_len > 0 && p[10 + name_len - 1] == '\r')
        name_len--;
    r->name = rill__malloc(name_len + 1);
    if (r->name == NULL)
        return RILL_ENOMEM;
    memcpy(r->name, p + 10, name_len);
    r->name[name_len] = '\0';
    p = nl + 1;
    for (size_t line = 2; p < end; line++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl != NULL ? nl : end;
        if (eol == p || (eol == p + 1 && *p == '\r')) { /* blank line */
            p = eol + (nl != NULL);
            continue;
        }
        char *q;
        errno = 0;
        unsigned long long ts = strtoull(p, &q, 10);
        int ok = q != p && *p != '-' && errno == 0 && *q == ',';
        double v = 0;
        if (ok) {
            char *num = q + 1;
            v = strtod(num, &q);
            ok = q != num && (q == eol || (*q == '\r' && q + 1 == eol));
        }
        if (!ok) {
            if (nl == NULL) {
                rill__log_info("%s: line %zu is cut short; ignored", r->path,
                               line);
                break;
            }
            rill__log_error("%s: line %zu is not \"timestamp,value\"",
                            r->path, line);
            return RILL_EPROTO;
        }
        if (nl == NULL) /* rill's writer ends every row with one */
            rill__log_info("%s: line %zu has no newline: it may be cut short "
                           "(read as it is)", r->path, line);
        if (t->n % CSV_BUFFER_VALUES == 0 &&
            (rc = rill__file_table_begin_buffer(t, ts)) != 0)
            return rc;
        if ((rc = rill__file_table_push(t, v, ts)) != 0)
            return rc;
        p = eol + (nl != NULL);
    }
    r->info.type = rill__file_table_type(t);
    r->info.mode = RILL_TS_DENSE;
    for (size_t i = 1; i < t->n; i++) {
        if (t->ts[i] != t->ts[i - 1] + 1) {
            r->info.mode = RILL_TS_SPARSE;
            break;
        }
    }
    r->info.sample_rate = 0;
    return 0;
}

static int csv_next(rill_file_reader *r, rill_file_buffer *out) {
    return rill__file_table_next(r->impl, out);
}

static void text_rfree(rill_file_reader *r) {
    rill__file_table *t = r->impl;
    if (t == NULL)
        return;
    rill__file_table_free(t);
    rill__free(t);
}

const rill__file_backend rill__file_csv = {
    .format = RILL_FILE_CSV,
    .create = csv_create,
    .write = csv_write,
    .free = csv_free,
    .open = csv_open,
    .next = csv_next,
    .rfree = text_rfree,
};
