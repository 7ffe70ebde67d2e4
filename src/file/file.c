/* The public file API: argument checks, the parts every writer and reader
 * share, and dispatch to the format backends. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "file/backend.h"
#include "proto/logfile.h"

static const rill__file_backend *const backends[] = {
    [RILL_FILE_BIN] = &rill__file_bin,   [RILL_FILE_WAV] = &rill__file_wav,
    [RILL_FILE_FLAC] = &rill__file_flac, [RILL_FILE_CSV] = &rill__file_csv,
    [RILL_FILE_JSONL] = &rill__file_jsonl,
};

static const char *const format_names[] = {
    [RILL_FILE_BIN] = "bin",   [RILL_FILE_WAV] = "wav",
    [RILL_FILE_FLAC] = "flac", [RILL_FILE_CSV] = "csv",
    [RILL_FILE_JSONL] = "jsonl",
};

int rill_file_format_from_name(const char *name, rill_file_format *out) {
    if (name == NULL || out == NULL)
        return RILL_EINVAL;
    for (size_t i = 0; i < RILL__ARRAY_LEN(format_names); i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (rill_file_format)i;
            return 0;
        }
    }
    return RILL_EINVAL;
}

const char *rill_file_format_name(rill_file_format f) {
    if ((unsigned)f >= RILL__ARRAY_LEN(format_names))
        return "unknown";
    return format_names[f];
}

/* ---- Shared helpers ---------------------------------------------------- */

/* A disk that fills up takes the part of a write that fits: the file is
 * then cut back to where this write began, so that it ends after a whole
 * row, line or body, never inside one (a reader would take a cut number
 * for a value). */
int rill__file_write_all(rill_file_writer *w, const void *buf, size_t len) {
    const char *p = buf;
    off_t at = lseek(w->fd, 0, SEEK_CUR);
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : 0;
            if (at >= 0 && ftruncate(w->fd, at) == 0)
                lseek(w->fd, at, SEEK_SET);
            rill__log_error("%s: write failed: %s", w->path,
                            err != 0 ? strerror(err) : "no progress");
            return RILL_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rill__file_reserve(rill_file_reader *r, size_t n) {
    if (n <= r->cap)
        return 0;
    double *v = rill__malloc(n * sizeof *v);
    uint64_t *t = rill__malloc(n * sizeof *t);
    if (v == NULL || t == NULL) {
        rill__free(v);
        rill__free(t);
        return RILL_ENOMEM;
    }
    rill__free(r->values);
    rill__free(r->ts);
    r->values = v;
    r->ts = t;
    r->cap = n;
    return 0;
}

double rill__file_value(rill_type type, const void *values, size_t i) {
    switch (type) {
    case RILL_TYPE_CHAR:
        return (double)((const unsigned char *)values)[i];
    case RILL_TYPE_INT32:
        return (double)((const int32_t *)values)[i];
    case RILL_TYPE_UINT32:
        return (double)((const uint32_t *)values)[i];
    case RILL_TYPE_FLOAT:
        return (double)((const float *)values)[i];
    case RILL_TYPE_DOUBLE:
        return ((const double *)values)[i];
    }
    return 0.0;
}

char *rill__file_stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot != NULL && dot != base ? (size_t)(dot - base)
                                            : strlen(base);
    char *s = rill__malloc(len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, base, len);
    s[len] = '\0';
    return s;
}

/* ---- Writer ------------------------------------------------------------ */

static void writer_free(rill_file_writer *w) {
    if (w->be != NULL && w->be->free != NULL)
        w->be->free(w);
    if (w->fd >= 0)
        close(w->fd);
    rill__free(w->path);
    rill__free(w->name);
    rill__free(w);
}

int rill_file_format_check(rill_file_format fmt, const rill_file_info *info,
                           char *why, size_t why_size) {
    char scratch[1];
    if (why == NULL) {
        why = scratch;
        why_size = sizeof scratch;
    }
    if (info == NULL || info->var_name == NULL || info->var_name[0] == '\0' ||
        (unsigned)fmt >= RILL__ARRAY_LEN(backends) ||
        rill_type_size(info->type) == 0 ||
        (info->mode != RILL_TS_DENSE && info->mode != RILL_TS_SPARSE)) {
        snprintf(why, why_size, "no variable name, or a bad type, mode or "
                                "format");
        return RILL_EINVAL;
    }
    const char *fmt_name = rill_file_format_name(fmt);
    if ((fmt == RILL_FILE_WAV || fmt == RILL_FILE_FLAC) &&
        (info->mode != RILL_TS_DENSE || info->type == RILL_TYPE_CHAR)) {
        snprintf(why, why_size, "%s holds dense numeric variables only; "
                 "\"%s\" is %s %s (use bin, csv or jsonl)",
                 fmt_name, info->var_name,
                 info->mode == RILL_TS_SPARSE ? "sparse" : "dense",
                 rill_type_name(info->type));
        return RILL_ENOTSUP;
    }
    if ((fmt == RILL_FILE_WAV || fmt == RILL_FILE_FLAC) &&
        !(info->sample_rate >= 1 && info->sample_rate <= INT_MAX)) {
        snprintf(why, why_size, "%s needs a sample rate of at least 1 Hz, "
                 "not %g", fmt_name, info->sample_rate);
        return RILL_EINVAL;
    }
    if (fmt == RILL_FILE_JSONL && info->type == RILL_TYPE_CHAR) {
        snprintf(why, why_size, "jsonl cannot hold char variable \"%s\" "
                 "(pybela cannot save char data either); use bin or csv",
                 info->var_name);
        return RILL_ENOTSUP;
    }
    if (fmt == RILL_FILE_CSV && strpbrk(info->var_name, ",\"\r\n") != NULL) {
        snprintf(why, why_size, "a csv header cannot hold the variable name "
                 "\"%s\" (it contains ',', '\"' or a line break; use bin or "
                 "jsonl)", info->var_name);
        return RILL_EINVAL;
    }
    return 0;
}

int rill_file_writer_create(const char *path, rill_file_format fmt,
                            const rill_file_info *info,
                            rill_file_writer **out) {
    if (path == NULL || out == NULL)
        return RILL_EINVAL;
    char why[256];
    int rc = rill_file_format_check(fmt, info, why, sizeof why);
    if (rc != 0) {
        rill__log_error("%s: %s", path, why);
        return rc;
    }
    rill_file_writer *w = rill__calloc(1, sizeof *w);
    if (w == NULL)
        return RILL_ENOMEM;
    w->fd = -1;
    rc = RILL_ENOMEM;
    w->path = rill__strdup(path);
    w->name = rill__strdup(info->var_name);
    if (w->path == NULL || w->name == NULL)
        goto fail;
    w->info = *info;
    w->info.var_name = w->name;
    w->be = backends[fmt];
    {
        /* Read-write: libsndfile reads back what it wrote to update the
         * header. */
        w->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->fd < 0) {
            rill__log_error("%s: cannot create: %s", path, strerror(errno));
            rc = RILL_EIO;
            goto fail;
        }
    }
    rc = w->be->create(w);
    if (rc != 0)
        goto fail;
    *out = w;
    return 0;
fail:
    writer_free(w);
    return rc;
}

int rill_file_writer_write(rill_file_writer *w, uint64_t first_ts,
                           const void *values, size_t count,
                           const uint32_t *rel) {
    if (w == NULL || (count > 0 && values == NULL) ||
        (count > 0 && w->info.mode == RILL_TS_SPARSE && rel == NULL))
        return RILL_EINVAL;
    if (w->err != 0)
        return w->err;
    if (count == 0)
        return 0;
    int rc = w->be->write(w, first_ts, values, count, rel);
    if (rc != 0)
        w->err = rc;
    return rc;
}

int rill_file_writer_close(rill_file_writer *w) {
    if (w == NULL)
        return 0;
    int rc = w->be->close != NULL ? w->be->close(w) : 0;
    if (w->err == 0)
        w->err = rc;
    if (w->fd >= 0) {
        if (close(w->fd) != 0 && w->err == 0) {
            rill__log_error("%s: close failed: %s", w->path, strerror(errno));
            w->err = RILL_EIO;
        }
        w->fd = -1;
    }
    rc = w->err;
    writer_free(w);
    return rc;
}

/* ---- Reader ------------------------------------------------------------ */

static const rill__file_backend *backend_for_path(const char *path) {
    static const struct {
        const char *ext;
        const rill__file_backend *be;
    } exts[] = {
        {".bin", &rill__file_bin},     {".wav", &rill__file_wav},
        {".flac", &rill__file_flac},   {".csv", &rill__file_csv},
        {".jsonl", &rill__file_jsonl}, {".txt", &rill__file_jsonl},
    };
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < RILL__ARRAY_LEN(exts); i++)
        if (strcmp(dot, exts[i].ext) == 0)
            return exts[i].be;
    return NULL;
}

void rill_file_reader_close(rill_file_reader *r) {
    if (r == NULL)
        return;
    if (r->be != NULL && r->be->rfree != NULL)
        r->be->rfree(r);
    rill__free(r->values);
    rill__free(r->ts);
    rill__free(r->path);
    rill__free(r->name);
    rill__free(r);
}

int rill_file_reader_open(const char *path, rill_ts_mode mode,
                          rill_file_reader **out) {
    if (path == NULL || out == NULL ||
        (mode != RILL_TS_DENSE && mode != RILL_TS_SPARSE))
        return RILL_EINVAL;
    const rill__file_backend *be = backend_for_path(path);
    if (be == NULL) {
        rill__log_error("%s: unknown file extension (expected .bin, .wav, "
                        ".flac, .csv, .jsonl or .txt)",
                        path);
        return RILL_ENOTSUP;
    }
    rill_file_reader *r = rill__calloc(1, sizeof *r);
    if (r == NULL)
        return RILL_ENOMEM;
    int rc = RILL_ENOMEM;
    r->path = rill__strdup(path);
    if (r->path == NULL)
        goto fail;
    rc = be->open(r, mode);
    r->be = be; /* after open: rfree may then assume open's state exists */
    if (rc != 0)
        goto fail;
    r->info.var_name = r->name;
    *out = r;
    return 0;
fail:
    rill_file_reader_close(r);
    return rc;
}

int rill_file_mode(const char *path, rill_ts_mode *mode, bool *guessed) {
    if (path == NULL || mode == NULL || guessed == NULL)
        return RILL_EINVAL;
    if (backend_for_path(path) != &rill__file_bin) {
        rill_file_reader *r = NULL;
        int rc = rill_file_reader_open(path, RILL_TS_DENSE, &r);
        if (rc == 0) {
            *mode = r->info.mode;
            *guessed = false;
        }
        rill_file_reader_close(r);
        return rc;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = rill__logfile_read(path, &data, &len);
    if (rc != 0) {
        if (rc != RILL_ENOMEM)
            rill__log_error("%s: cannot read: %s", path, rill_strerror(rc));
        return rc;
    }
    rill__logfile lf;
    char err[RILL__WIRE_ERR_CAP] = "";
    rc = rill__logfile_parse(data, len, &lf, err, sizeof err);
    if (rc != 0)
        rill__log_error("%s: %s", path, err);
    else {
        *mode = rill__logfile_looks_sparse(&lf) ? RILL_TS_SPARSE : RILL_TS_DENSE;
        *guessed = true;
    }
    rill__free(data);
    return rc;
}

int rill_file_reader_get_info(const rill_file_reader *r, rill_file_info *out) {
    if (r == NULL || out == NULL)
        return RILL_EINVAL;
    *out = r->info;
    return 0;
}

int rill_file_reader_next(rill_file_reader *r, rill_file_buffer *out) {
    if (r == NULL || out == NULL)
        return RILL_EINVAL;
    return r->be->next(r, out);
}
