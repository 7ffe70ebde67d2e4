/* The file formats behind rill/file.h: one backend per format, each a
 * small table of functions, and the helpers they share. Not installed.
 *
 * file.c owns the common parts of writers and readers (argument checks,
 * the path and name, the sticky error, the output arrays of a reader) and
 * calls the backend for the rest. A backend keeps its own state in `impl`.
 */
#ifndef RILL_FILE_BACKEND_H
#define RILL_FILE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "rill/file.h"

struct rill_file_writer {
    const struct rill__file_backend *be;
    char *path;
    char *name;
    rill_file_info info; /* info.var_name == name */
    int fd;
    int err;             /* the first error, returned again by later calls */
    void *impl;
};

struct rill_file_reader {
    const struct rill__file_backend *be;
    char *path;
    char *name;
    rill_file_info info; /* filled by the backend's open; var_name == name */
    void *impl;
    /* Output arrays handed out by next(), grown with rill__file_reserve. */
    double *values;
    uint64_t *ts;
    size_t cap;
};

typedef struct rill__file_backend {
    rill_file_format format;
    /* Writer: the common part is filled and fd is open (read-write,
     * truncated). create writes the header; write appends a buffer
     * (count > 0, arguments checked); close flushes (its result becomes the
     * writer's error if none came before; file.c closes fd) and free
     * releases impl, also after a failed create. */
    int (*create)(rill_file_writer *w);
    int (*write)(rill_file_writer *w, uint64_t first_ts, const void *values,
                 size_t count, const uint32_t *rel);
    int (*close)(rill_file_writer *w);
    void (*free)(rill_file_writer *w);
    /* Reader: open sets info (and name) from the file; `mode` is the
     * caller's, for bin. */
    int (*open)(rill_file_reader *r, rill_ts_mode mode);
    int (*next)(rill_file_reader *r, rill_file_buffer *out);
    void (*rfree)(rill_file_reader *r);
} rill__file_backend;

extern const rill__file_backend rill__file_bin;
extern const rill__file_backend rill__file_csv;
extern const rill__file_backend rill__file_jsonl;
extern const rill__file_backend rill__file_wav;
extern const rill__file_backend rill__file_flac;

/* Write all of buf to w->fd, retrying short writes and EINTR. On failure
 * logs the path and strerror and returns RILL_EIO. */
int rill__file_write_all(rill_file_writer *w, const void *buf, size_t len);

/* Make the reader's values/ts arrays hold at least n entries. */
int rill__file_reserve(rill_file_reader *r, size_t n);

/* Value i of an array of `type` in host order, as a double (exact). */
double rill__file_value(rill_type type, const void *values, size_t i);

/* The file name of `path` without its directory and its last extension,
 * from rill__malloc; NULL when out of memory. */
char *rill__file_stem(const char *path);

/* ---- Text formats (text.c) ---------------------------------------------- */

/* A growable byte buffer for building one buffer's text before one write. */
typedef struct rill__strbuf {
    char *data;
    size_t len, cap;
} rill__strbuf;

int rill__strbuf_reserve(rill__strbuf *b, size_t extra);
/* Append with printf formatting; the caller reserved enough room. */
void rill__strbuf_printf(rill__strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rill__strbuf_free(rill__strbuf *b);

/* Longest text of one number written by the helpers below. */
#define RILL__FILE_NUM_MAX 40

/* Write value i of `values` as CSV does (rill_value_format: integers as
 * integers, float and double in the fewest digits that read back the same)
 * into b (room reserved). */
void rill__file_put_csv_value(rill__strbuf *b, rill_type type,
                              const void *values, size_t i);

/* Write a double as Python's repr does (json.dumps of a float): shortest
 * round-trip digits, "1.0", "1e-05", "1e+16", "NaN", "Infinity". */
void rill__file_put_py_float(rill__strbuf *b, double v);

/* A text file parsed whole: every value with its tick, and where each
 * buffer starts. The csv and jsonl readers fill it at open and serve
 * buffers from it. */
typedef struct rill__file_table {
    uint8_t *data; /* the file */
    size_t len;
    double *values;
    uint64_t *ts;
    size_t n, cap;
    size_t *starts; /* buffer b is values[starts[b] .. starts[b+1]) */
    uint64_t *firsts; /* and its first tick */
    size_t n_bufs, bufs_cap;
    size_t next_buf;
    int all_int;
    double min, max;
} rill__file_table;

int rill__file_table_push(rill__file_table *t, double v, uint64_t ts);
int rill__file_table_begin_buffer(rill__file_table *t, uint64_t first_ts);
/* Read a whole file into t->data, NUL-terminated, for parsing. */
int rill__file_table_load(rill__file_table *t, const char *path);
void rill__file_table_free(rill__file_table *t);
/* The type a table's values suggest (see rill_file_reader_get_info). */
rill_type rill__file_table_type(const rill__file_table *t);
/* Serve the next buffer of the table. */
int rill__file_table_next(rill__file_table *t, rill_file_buffer *out);

#endif /* RILL_FILE_BACKEND_H */
