/* bin: the Bela Watcher log format (src/proto/logfile.h), so that pybela's
 * Logger.read_binary_file opens what a client saved.
 *
 * The format has no count per body: a body is always N values (N from the
 * type and mode), and a short one is zero-padded. A client's buffers may
 * have any length, so the writer gathers values into a body of its own and
 * writes it, whole, with one write(2) when it holds N values. A killed
 * process thus leaves a header and complete bodies only, except for the
 * rare write(2) the kernel cuts short, which the reader (like pybela)
 * ignores as a truncated last body.
 *
 * A dense body covers N consecutive ticks, so a dense buffer that does not
 * start at the tick after the pending values ends the pending body early
 * (zero-padded, as the Watcher pads its last one). A sparse body keeps
 * 32-bit ticks relative to its first, so a tick that does not fit ends it
 * too.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "file/backend.h"
#include "proto/logfile.h"
#include "proto/wire.h"

typedef struct bin_writer {
    size_t n;      /* values per body */
    size_t size;   /* bytes per value */
    size_t fill;   /* values pending */
    uint64_t ref;  /* tick of the first pending value */
    uint8_t *vals; /* n values, host order */
    uint32_t *rel; /* n relative ticks (sparse) */
    uint8_t body[RILL__BELA_BODY_BYTES];
} bin_writer;

static int bin_flush(rill_file_writer *w) {
    bin_writer *b = w->impl;
    if (b->fill == 0)
        return 0;
    int rc = rill__bela_body_encode(b->body, b->ref, w->info.type,
                                    w->info.mode, b->vals, b->fill, b->rel);
    if (rc != 0)
        return rc;
    b->fill = 0;
    return rill__file_write_all(w, b->body, sizeof b->body);
}

static int bin_create(rill_file_writer *w) {
    bin_writer *b = rill__calloc(1, sizeof *b);
    if (b == NULL)
        return RILL_ENOMEM;
    w->impl = b;
    b->n = rill__bela_values_per_buffer(w->info.type, w->info.mode);
    b->size = rill_type_size(w->info.type);
    b->vals = rill__malloc(b->n * b->size);
    if (b->vals == NULL)
        return RILL_ENOMEM;
    if (w->info.mode == RILL_TS_SPARSE) {
        b->rel = rill__calloc(b->n, sizeof *b->rel);
        if (b->rel == NULL)
            return RILL_ENOMEM;
    }
    size_t cap = rill__logfile_header_size(w->name), len = 0;
    uint8_t *hdr = rill__malloc(cap);
    if (hdr == NULL)
        return RILL_ENOMEM;
    int rc = rill__logfile_header_encode(w->name, w->info.type,
                                         (uint32_t)getpid(), 0, hdr, cap, &len);
    if (rc == 0)
        rc = rill__file_write_all(w, hdr, len);
    rill__free(hdr);
    return rc;
}

static int bin_write(rill_file_writer *w, uint64_t first_ts,
                     const void *values, size_t count, const uint32_t *rel) {
    bin_writer *b = w->impl;
    const uint8_t *src = values;
    int rc;
    if (w->info.mode == RILL_TS_DENSE) {
        for (size_t i = 0; i < count;) {
            uint64_t t = first_ts + i;
            if (b->fill > 0 && t != b->ref + b->fill && (rc = bin_flush(w)))
                return rc;
            if (b->fill == 0)
                b->ref = t;
            size_t k = RILL__MIN(b->n - b->fill, count - i);
            memcpy(b->vals + b->fill * b->size, src + i * b->size,
                   k * b->size);
            b->fill += k;
            i += k;
            if (b->fill == b->n && (rc = bin_flush(w)))
                return rc;
        }
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        uint64_t t = first_ts + rel[i];
        if (b->fill > 0 && (t < b->ref || t - b->ref > UINT32_MAX) &&
            (rc = bin_flush(w)))
            return rc;
        if (b->fill == 0)
            b->ref = t;
        memcpy(b->vals + b->fill * b->size, src + i * b->size, b->size);
        b->rel[b->fill++] = (uint32_t)(t - b->ref);
        if (b->fill == b->n && (rc = bin_flush(w)))
            return rc;
    }
    return 0;
}

static int bin_close(rill_file_writer *w) {
    return w->err != 0 ? w->err : bin_flush(w);
}

static void bin_free(rill_file_writer *w) {
    bin_writer *b = w->impl;
    if (b == NULL)
        return;
    rill__free(b->vals);
    rill__free(b->rel);
    rill__free(b);
}

/* ---- Reader ------------------------------------------------------------ */

typedef struct bin_reader {
    uint8_t *data;
    size_t len;
    rill__logfile lf;
    size_t next;
    double scratch[RILL__BELA_PAYLOAD_BYTES / sizeof(double)];
} bin_reader;

static int bin_open(rill_file_reader *r, rill_ts_mode mode) {
    bin_reader *b = rill__calloc(1, sizeof *b);
    if (b == NULL)
        return RILL_ENOMEM;
    r->impl = b;
    int rc = rill__logfile_read(r->path, &b->data, &b->len);
    if (rc != 0) {
        if (rc != RILL_ENOMEM)
            rill__log_error("%s: cannot read: %s", r->path, rill_strerror(rc));
        return rc;
    }
    char err[RILL__WIRE_ERR_CAP] = "";
    rc = rill__logfile_parse(b->data, b->len, &b->lf, err, sizeof err);
    if (rc != 0) {
        rill__log_error("%s: %s", r->path, err);
        return rc;
    }
    if (b->lf.tail_bytes != 0)
        rill__log_info("%s: %s; reading the complete buffers", r->path, err);
    r->name = rill__strdup(b->lf.name);
    if (r->name == NULL)
        return RILL_ENOMEM;
    r->info.type = b->lf.type;
    r->info.mode = mode;
    r->info.sample_rate = 0;
    return rill__file_reserve(
        r, rill__bela_values_per_buffer(b->lf.type, mode));
}

static int bin_next(rill_file_reader *r, rill_file_buffer *out) {
    bin_reader *b = r->impl;
    if (b->next >= b->lf.n_buffers)
        return RILL_EEMPTY;
    rill__bela_body body;
    int rc = rill__logfile_buffer(&b->lf, b->next, r->info.mode, &body);
    if (rc != 0)
        return rc;
    b->next++;
    rill_type type = r->info.type;
    /* A sparse body's ticks rise after its first: a short body's zero
     * padding (relative tick 0, value 0) is not data, so it is left out. A
     * dense body's padding cannot be told from zeros: it stays, as pybela
     * reads it. */
    if (body.rel != NULL) {
        size_t size = rill_type_size(type);
        static const uint8_t zero[8];
        while (body.n > 1 && rill__get_le32(body.rel + 4 * (body.n - 1)) == 0 &&
               memcmp(body.values + (body.n - 1) * size, zero, size) == 0)
            body.n--;
    }
    rill__wire_get_values(b->scratch, type, body.values, body.n);
    for (size_t k = 0; k < body.n; k++) {
        r->values[k] = rill__file_value(type, b->scratch, k);
        r->ts[k] = body.ref + (body.rel != NULL
                                   ? rill__get_le32(body.rel + 4 * k)
                                   : (uint64_t)k);
    }
    out->first_ts = body.ref;
    out->count = body.n;
    out->values = r->values;
    out->timestamps = r->ts;
    return 0;
}

static void bin_rfree(rill_file_reader *r) {
    bin_reader *b = r->impl;
    if (b == NULL)
        return;
    rill__free(b->data);
    rill__free(b);
}

const rill__file_backend rill__file_bin = {
    .format = RILL_FILE_BIN,
    .create = bin_create,
    .write = bin_write,
    .close = bin_close,
    .free = bin_free,
    .open = bin_open,
    .next = bin_next,
    .rfree = bin_rfree,
};
