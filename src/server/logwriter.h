/* The log writer: the thread that owns every log file's whole life, so
 * that neither the tick thread nor the network thread ever waits for a
 * disk.
 *
 * A log session's file is created here: the network thread asks for it
 * (rill__logwriter_open) and goes on serving; this thread chooses the name
 * as the Watcher does, creates the file, writes its header and answers
 * (OPENED, or OPEN_FAILED with a sentence). Only then does the network
 * thread start the stream on the tick thread, whose full buffers come
 * back here through the log ring. Each record is one whole 4104-byte
 * buffer written with one write(2), so a file always ends on a buffer
 * boundary, even if the process is killed. An END record closes the file
 * (after fsync). A failed write (a full disk) stops that file, keeps what
 * it already holds, and is reported once. Buffers the tick thread could
 * not put in the log ring (this thread fell behind) are counted from the
 * next record's `dropped` and announced (DROPPED) at most every 100 ms per
 * file, and before the file's CLOSED. When the server stops, the
 * files still open get their partial last buffer, zero-padded, and are
 * closed here too.
 */
#ifndef RILL_SERVER_LOGWRITER_H
#define RILL_SERVER_LOGWRITER_H

#include "rill/ring.h"
#include "rill/watch.h"

typedef struct rill__logwriter rill__logwriter;
struct rill__stream;

typedef enum rill__log_ev_kind {
    RILL__LOG_EV_OPENED = 1, /* the file exists with its header: log_name */
    RILL__LOG_EV_OPEN_FAILED, /* no file; log_error says why */
    RILL__LOG_EV_CLOSED,     /* the file is complete and closed */
    RILL__LOG_EV_FAILED,     /* a write failed (err = errno); file stopped */
    RILL__LOG_EV_DISCARDED,  /* a file never started is closed, as it is */
    RILL__LOG_EV_DROPPED     /* `buffers` more of the file were dropped */
} rill__log_ev_kind;

typedef struct rill__log_ev {
    rill__log_ev_kind kind;
    int err;
    struct rill__stream *stream;
    uint64_t buffers; /* DROPPED: since the previous DROPPED */
    uint64_t total;   /* DROPPED: of this file in all */
} rill__log_ev;

/* Start the thread reading `ring` (the tick thread writes it), creating
 * files in `dir` (kept, not copied: it outlives the writer) with
 * `instance` in their headers; notify(arg), if not NULL, runs on the
 * writer's thread after each event it posts, so that the network thread
 * takes it at once. Returns 0, RILL_ENOMEM or RILL_ESYS. */
int rill__logwriter_start(rill_ring *ring, const char *dir, uint32_t instance,
                          void (*notify)(void *arg), void *arg,
                          rill__logwriter **out);

/* Write what the ring still holds, finish the files still open (their
 * partial buffer, zero-padded; the tick thread must be gone) and close
 * them, stop the thread and free it. NULL: no-op. */
void rill__logwriter_stop(rill__logwriter *lw);

/* Network thread: create the file of a new log stream. The answer comes
 * back as an event; the stream's log_name and log_fd belong to this thread
 * until then. Returns 0 or RILL_EFULL (too many waiting; try later). */
int rill__logwriter_open(rill__logwriter *lw, struct rill__stream *s);

/* Network thread: close the file of a stream that was opened but never
 * started (its header stays, as any log file's). Answered by DISCARDED.
 * Returns 0 or RILL_EFULL. */
int rill__logwriter_discard(rill__logwriter *lw, struct rill__stream *s);

/* Network thread: the next event, 0 or RILL_EEMPTY. */
int rill__logwriter_poll(rill__logwriter *lw, rill__log_ev *ev);

#endif /* RILL_SERVER_LOGWRITER_H */
