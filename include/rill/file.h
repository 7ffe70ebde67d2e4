/* rill file: saving streamed variables to disk and reading them back.
 *
 * A writer takes buffers exactly as a client receives them (one variable's
 * values, the tick of the first, and per-value ticks for sparse variables)
 * and appends them to a file in one of five formats; a reader opens any of
 * them and hands the values back as doubles with the absolute tick of each.
 * docs/FILES.md describes every format byte for byte.
 *
 *   bin    the Bela Watcher log format (pybela's Logger.read_binary_file)
 *   wav    one channel via libsndfile; dense numeric variables only
 *   flac   one channel, 24-bit, via libsndfile; dense numeric variables only
 *   csv    "timestamp,<name>" then one "tick,value" line per value
 *   jsonl  pybela's streamer saving format, one JSON object per buffer
 *
 * Durability. Every rill_file_writer_write hands its data to the kernel
 * before returning (bin: each complete 4104-byte body in one write(2)), so
 * a process killed at any moment leaves a file that a reader opens with
 * every buffer written before the kill, with two exceptions: bin keeps
 * only complete bodies (1024 float values, see docs/FILES.md), and flac
 * only complete FLAC blocks (4096 values), since libFLAC encodes whole
 * blocks. Nothing is fsync'ed: a power cut may still lose data.
 *
 * Threads. Writers and readers are independent objects with no shared
 * state: use each from one thread at a time (any thread but a real-time
 * one: they do I/O and allocate). The functions below that take no writer
 * or reader are pure and may be called from any thread.
 */
#ifndef RILL_FILE_H
#define RILL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "rill/core.h"
#include "rill/watch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rill_file_format {
    RILL_FILE_BIN = 0,
    RILL_FILE_WAV = 1,
    RILL_FILE_FLAC = 2,
    RILL_FILE_CSV = 3,
    RILL_FILE_JSONL = 4
} rill_file_format;

/* The format named "bin", "wav", "flac", "csv" or "jsonl" (exactly, lower
 * case). Returns 0 and sets *out, or RILL_EINVAL for any other name or a
 * NULL pointer. Any thread. */
RILL_API int rill_file_format_from_name(const char *name,
                                        rill_file_format *out);

/* The static name of a format (also its file extension, without the dot),
 * or "unknown". Never NULL. Any thread. */
RILL_API const char *rill_file_format_name(rill_file_format f);

/* What a file holds. For a writer, the caller's description of the
 * variable; for a reader, what the file records (see rill_file_reader_get_info
 * for what each format cannot record). */
typedef struct rill_file_info {
    const char *var_name;
    rill_type type;
    rill_ts_mode mode;
    double sample_rate; /* ticks per second; 0 when unknown */
} rill_file_info;

/* ---- Writing ----------------------------------------------------------- */

typedef struct rill_file_writer rill_file_writer;

/* Whether `fmt` can record the variable `info` describes, without
 * creating anything (to refuse a whole request before any file exists):
 * returns 0, or
 *   RILL_EINVAL   NULL info, an empty name, a bad type, mode or format, a
 *                 csv name containing ',', '"', CR or LF, or a wav/flac
 *                 sample rate below 1 Hz;
 *   RILL_ENOTSUP  the format cannot hold the variable (wav and flac: sparse
 *                 or char variables; jsonl: char variables, which pybela
 *                 cannot save either);
 * and, when `why` is not NULL, the reason in a sentence fragment ("wav
 * holds dense numeric variables only; ... (use bin, csv or jsonl)"). */
RILL_API int rill_file_format_check(rill_file_format fmt,
                                    const rill_file_info *info, char *why,
                                    size_t why_size);

/* Create (or truncate) `path` and write the format's header. `info` is
 * copied; var_name must be non-empty.
 *
 * Returns 0 and sets *out, or:
 *   RILL_EINVAL, RILL_ENOTSUP  as rill_file_format_check (or NULL path or
 *                 out), before the file is touched; the log says why;
 *   RILL_EIO      the file cannot be created or its header written (the log
 *                 gives the path and the system's reason);
 *   RILL_ENOMEM.
 * On error nothing is returned to free (after an RILL_EIO or RILL_ENOMEM,
 * a file may have been created). */
RILL_API int rill_file_writer_create(const char *path, rill_file_format fmt,
                                     const rill_file_info *info,
                                     rill_file_writer **out);

/* Append one buffer as received from a stream: `count` values of the
 * variable's C type in host order (char, int32_t, uint32_t, float or
 * double), `first_ts` the tick of the first, and for sparse variables
 * `rel`, `count` ticks relative to first_ts (NULL for dense variables).
 * Buffers may have any length; count 0 writes nothing.
 *
 * The data has reached the kernel when this returns, except that bin
 * keeps values until a whole Bela body (N values for the type and mode,
 * see docs/FILES.md) is complete. bin also starts a new, zero-padded body
 * early when a dense buffer does not continue at the next tick or a sparse
 * tick is more than 2^32-1 after its body's first.
 *
 * Returns 0, RILL_EINVAL (NULL w or values with count > 0, NULL rel for a
 * sparse variable), RILL_EIO (a write failed, e.g. the disk is full; the
 * log says why; the file keeps what was written before, and bin, csv and
 * jsonl files are cut back to their last whole body, row or line, never
 * ending inside one) or RILL_ENOMEM. Errors are sticky: after one, every
 * later call returns it again. */
RILL_API int rill_file_writer_write(rill_file_writer *w, uint64_t first_ts,
                                    const void *values, size_t count,
                                    const uint32_t *rel);

/* Flush what is pending (bin: the last body, zero-padded), finalise the
 * file, close it and free the writer. Returns the first error the writer
 * saw (from any write or from closing), or 0. NULL is a no-op returning 0. */
RILL_API int rill_file_writer_close(rill_file_writer *w);

/* ---- Reading ----------------------------------------------------------- */

typedef struct rill_file_reader rill_file_reader;

/* One buffer read back. `values` and `timestamps` hold `count` entries;
 * timestamps[i] is the absolute tick of values[i] (for dense data,
 * first_ts + i). first_ts is the buffer's reference tick: the tick of its
 * first value, except that a sparse jsonl line's ref_timestamp may precede
 * it. Every type converts to double exactly. */
typedef struct rill_file_buffer {
    uint64_t first_ts;
    size_t count;
    const double *values;
    const uint64_t *timestamps;
} rill_file_buffer;

/* Open a file written by a rill_file_writer (or by the Bela Watcher, or by
 * pybela's streamer). The format comes from the extension: .bin, .wav,
 * .flac, .csv, .jsonl, and .txt as jsonl (pybela's default name). `mode`
 * is needed for bin only, which does not record it; other formats ignore it.
 *
 * Returns 0 and sets *out, or RILL_EINVAL (NULL pointers, bad mode),
 * RILL_ENOTSUP (unknown extension), RILL_ENOTFOUND (no such file), RILL_EIO,
 * RILL_EPROTO (the file is damaged; the log says where) or RILL_ENOMEM. A
 * bin file that ends inside a body is not damaged (it was cut while being
 * written): the reader stops after the last complete body. */
RILL_API int rill_file_reader_open(const char *path, rill_ts_mode mode,
                                   rill_file_reader **out);

/* The timestamp mode of the variable in the file at `path`. A bin file
 * does not record it: RILL_TS_SPARSE when its bodies look like a sparse
 * variable's (in each, relative ticks that start at 0 and rise, then zero
 * padding; the bodies in tick order; some body with two values or more),
 * else RILL_TS_DENSE, with *guessed set to true. Other formats record
 * their mode (csv in its ticks): that one, *guessed false. Returns 0, or as
 * rill_file_reader_open. The caller's thread; reads the whole file. */
RILL_API int rill_file_mode(const char *path, rill_ts_mode *mode,
                            bool *guessed);

/* What the file records. var_name is valid until rill_file_reader_close.
 * The reader's thread.
 *   bin:   name and type from the header; mode as passed; sample_rate 0.
 *   wav, flac: everything (written in the file's comment by the writer; a
 *          file from elsewhere gives its name from the file name, type
 *          double, mode dense, its own sample rate and first tick 0).
 *   csv:   name from the header line. The type is not recorded: int32 if
 *          every value is an integer within int32 (uint32 if within that),
 *          otherwise double. Mode dense if the ticks are consecutive, else
 *          sparse. sample_rate 0.
 *   jsonl: name from the file name (up to its last '.'); type as csv;
 *          mode sparse if the lines have "rel_timestamps". sample_rate 0.
 * Returns 0 or RILL_EINVAL. */
RILL_API int rill_file_reader_get_info(const rill_file_reader *r,
                                       rill_file_info *out);

/* The next buffer: for bin one Bela body (a dense one N values, padding
 * included, as pybela reads it; a sparse one without its padding, the
 * entries after the first at relative tick 0 with value 0, which rising
 * ticks tell from data), for jsonl one line, for the others up to 4096
 * values.
 * Returns 0, RILL_EEMPTY at the end, RILL_EINVAL, RILL_EIO or RILL_ENOMEM.
 * The pointers in *out stay valid until the next call or close. */
RILL_API int rill_file_reader_next(rill_file_reader *r, rill_file_buffer *out);

/* Close and free. NULL is a no-op. */
RILL_API void rill_file_reader_close(rill_file_reader *r);

#ifdef __cplusplus
}
#endif

#endif /* RILL_FILE_H */
