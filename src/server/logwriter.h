/* The log writer: a thread that takes log records from the tick thread's
 * log ring and appends them to their files, so that neither the tick
 * thread nor the network thread ever waits for a disk.
 *
 * Each record is one whole 4104-byte buffer written with one write(2), so a
 * file always ends on a buffer boundary, even if the process is killed.
 * An END record closes the file (after fsync). A failed write (a full disk)
 * stops that file, keeps what it already holds, and is reported once.
 */
#ifndef RILL_SERVER_LOGWRITER_H
#define RILL_SERVER_LOGWRITER_H

#include "rill/ring.h"

typedef struct rill__logwriter rill__logwriter;
struct rill__stream;

typedef enum rill__log_ev_kind {
    RILL__LOG_EV_CLOSED = 1, /* the file is complete and closed */
    RILL__LOG_EV_FAILED      /* a write failed (err = errno); file stopped */
} rill__log_ev_kind;

typedef struct rill__log_ev {
    rill__log_ev_kind kind;
    int err;
    struct rill__stream *stream;
} rill__log_ev;

/* Start the thread reading `ring` (the tick thread writes it). Returns 0,
 * RILL_ENOMEM or RILL_ESYS. */
int rill__logwriter_start(rill_ring *ring, rill__logwriter **out);

/* Write what the ring still holds, stop the thread and free it. Files whose
 * stream has not ended stay open (the server finishes them). NULL: no-op. */
void rill__logwriter_stop(rill__logwriter *lw);

/* Network thread: the next event, 0 or RILL_EEMPTY. */
int rill__logwriter_poll(rill__logwriter *lw, rill__log_ev *ev);

#endif /* RILL_SERVER_LOGWRITER_H */
