/* Bela Watcher log files (spec §6): the header, the file name, and a
 * reader.
 *
 * A log file is a header followed by back-to-back 4104-byte stream buffers
 * (the bodies of wire.h):
 *
 *   offset   size      content
 *        0      8      "watcher" and a NUL
 *        8  len+1      the variable name and a NUL
 *    len+9      2      the type letter and a NUL
 *   len+11      4      process id, u32 little-endian
 *   len+15      4      "instance" (opaque; a pointer on the 32-bit board,
 *                      always 4 bytes here, or pybela misreads the header)
 *   len+19    0-3      zero bytes up to a multiple of 4 from the file start
 *
 * The file records neither the timestamp mode nor a version: readers take
 * the mode from the list reply.
 *
 * Threads: header encoding is pure and safe anywhere; choosing a name and
 * reading a file do I/O, so never on the tick thread.
 */
#ifndef RILL_PROTO_LOGFILE_H
#define RILL_PROTO_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/watch.h"
#include "proto/wire.h"

#define RILL__LOGFILE_MAGIC "watcher"
#define RILL__LOGFILE_MAGIC_BYTES 8

/* Bytes of the header for variable `var`, padding included (a multiple of
 * 4); 0 for a NULL name. */
size_t rill__logfile_header_size(const char *var);

/* Write the header into out[0..cap) and its size into *len. Returns 0,
 * RILL_EINVAL (NULL pointers, bad type) or RILL_ETOOBIG (cap smaller than
 * rill__logfile_header_size(var); nothing written). */
int rill__logfile_header_encode(const char *var, rill_type type, uint32_t pid,
                                uint32_t instance, uint8_t *out, size_t cap,
                                size_t *len);

/* Choose the file name for a new log of `var` in directory `dir`, as the
 * Watcher does: "<var>.bin" if no entry of that name exists, else
 * "<stem>+<k><ext>" where <stem> is "<var>.bin" up to its first '.', <ext>
 * the rest, and k is one more than the largest k of the existing
 * "<stem>+<k><ext>" entries, or 0 if there is none. So: myvar.bin,
 * myvar+0.bin, myvar+1.bin, ...
 *
 * Writes the bare name (no directory) into out[0..cap). The name is free
 * when the directory was read; the caller creates the file with O_EXCL and
 * asks again if it lost a race. Returns 0, RILL_EINVAL (NULL pointers, an
 * empty name or one containing '/'), RILL_ENOTFOUND (no such directory),
 * RILL_EIO (the directory cannot be read) or RILL_ETOOBIG (cap too small). */
int rill__logfile_choose_name(const char *dir, const char *var, char *out,
                              size_t cap);

/* A parsed log file. Pointers point into the caller's data. */
typedef struct rill__logfile {
    const char *name; /* the variable name, NUL-terminated in the data */
    rill_type type;
    uint32_t pid;
    uint32_t instance;
    size_t header_bytes;    /* buffers start at this offset */
    const uint8_t *buffers; /* n_buffers complete 4104-byte buffers */
    size_t n_buffers;
    size_t tail_bytes; /* bytes of an incomplete last buffer, normally 0 */
} rill__logfile;

/* Parse a whole log file held in memory. A damaged or cut header is an
 * error: RILL_EPROTO with a message saying which field and where (e.g.
 * "log file: truncated inside the variable name: no NUL in bytes 8 to 12").
 * A file that ends inside a buffer is not an error, since a file being
 * written grows in 16 KiB steps: the function returns 0, counts the
 * complete buffers, sets tail_bytes and writes a message such as
 * "log file: buffer 2 at offset 8232 is truncated: 1000 of 4104 bytes"
 * into err. RILL_EINVAL for NULL pointers. */
int rill__logfile_parse(const uint8_t *data, size_t len, rill__logfile *out,
                        char *err, size_t err_cap);

/* Decode complete buffer i (< n_buffers) of a parsed file in the given
 * timestamp mode. Returns 0 or RILL_EINVAL. */
int rill__logfile_buffer(const rill__logfile *lf, size_t i, rill_ts_mode mode,
                         rill__bela_body *out);

/* Whether a parsed file's bodies look like a sparse variable's, the mode
 * the file does not record: in every complete body the relative ticks
 * start at 0 and rise (the same tick may repeat), then zero padding (tick
 * 0, value 0); each body starts after the previous one's last tick; and
 * some body holds two values or more, so that zeros (silence, a padded
 * last body) are not taken for it. A dense variable matches only if its
 * value at the relative ticks' offset is exactly 0 and the ones after it
 * rise as unsigned integers in every body, with the bodies' ticks in
 * order. */
bool rill__logfile_looks_sparse(const rill__logfile *lf);

/* Read a whole file into memory from rill__malloc (free with rill__free).
 * Returns 0, RILL_EINVAL, RILL_ENOTFOUND, RILL_EIO or RILL_ENOMEM. */
int rill__logfile_read(const char *path, uint8_t **data, size_t *len);

#endif /* RILL_PROTO_LOGFILE_H */
