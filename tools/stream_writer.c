/* rill stream's writer thread (stream_writer.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_writer.h"

/* One record in the ring: this header, then `count` values of the
 * output's type, then (sparse) `count` relative ticks; committed whole. */
typedef struct record {
    uint32_t out;
    uint32_t count;
    uint64_t first_ts;
    uint32_t sparse;
    uint32_t pad;
} record;

typedef struct output {
    const char *name;
    rill_type type;
    rill_file_writer *file;      /* NULL: standard output */
    atomic_uint_fast64_t values; /* written */
    atomic_uint_fast64_t dropped;
} output;

struct stream_writer {
    rill_ring *ring;
    output *outs;
    size_t n;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_uint_fast64_t bytes;
    atomic_int failed; /* the first write error, or 0 */
    atomic_size_t failed_out;
    uint8_t *stage; /* producer: one record, put together */
    size_t stage_cap;
    uint8_t *scratch; /* writer thread: one record's values and ticks */
    size_t scratch_cap;
    size_t unflushed; /* writer thread: the output printed lines since its last flush */
};

/* How long the thread sleeps when the ring is empty: a buffer waits at
 * most this long, and the ring holds seconds of data. */
#define IDLE_NS (2 * 1000 * 1000)

int stream_writer_create(size_t n, size_t ring_bytes, stream_writer **out) {
    *out = NULL;
    stream_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return RILL_ENOMEM;
    w->n = n;
    w->outs = calloc(n ? n : 1, sizeof *w->outs);
    int rc = w->outs == NULL ? RILL_ENOMEM : rill_ring_create(ring_bytes, &w->ring);
    if (rc != 0) {
        free(w->outs);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void stream_writer_set(stream_writer *w, size_t i, const char *name, rill_type type,
                       rill_file_writer *file) {
    w->outs[i].name = name;
    w->outs[i].type = type;
    w->outs[i].file = file;
}

/* The record is put together in `stage` and copied into the ring in one
 * piece (rill_ring_write_all: whole or not at all); one more copy of a
 * few kilobytes, on a thread that is not real time. */
bool stream_writer_push(stream_writer *w, size_t i, uint64_t first_ts,
                        const void *values, size_t count, const uint32_t *rel) {
    output *o = &w->outs[i];
    record h = {(uint32_t)i, (uint32_t)count, first_ts, rel != NULL, 0};
    size_t vbytes = count * rill_type_size(o->type), tbytes = rel != NULL ? count * 4 : 0;
    size_t total = sizeof h + vbytes + tbytes;
    if (total > w->stage_cap) {
        uint8_t *p = realloc(w->stage, total);
        if (p == NULL) {
            atomic_fetch_add(&o->dropped, 1);
            return false;
        }
        w->stage = p;
        w->stage_cap = total;
    }
    memcpy(w->stage, &h, sizeof h);
    memcpy(w->stage + sizeof h, values, vbytes);
    if (tbytes != 0)
        memcpy(w->stage + sizeof h + vbytes, rel, tbytes);
    if (atomic_load(&w->failed) != 0 || rill_ring_write_all(w->ring, w->stage, total) != 0) {
        atomic_fetch_add(&o->dropped, 1);
        return false;
    }
    return true;
}

/* 'var,tick,value' lines; false if standard output failed. */
static bool print_lines(const output *o, uint64_t first_ts, const uint8_t *values,
                        size_t count, const uint32_t *rel) {
    size_t size = rill_type_size(o->type);
    for (size_t i = 0; i < count; i++) {
        char text[RILL_VALUE_TEXT_MAX];
        rill_value_format(o->type, rill_value_to_double(o->type, values + i * size), text,
                          sizeof text);
        printf("%s,%llu,%s\n", o->name,
               (unsigned long long)(first_ts + (rel != NULL ? rel[i] : i)), text);
    }
    return !ferror(stdout);
}

/* The first failure only. The writer thread, or the main thread once it
 * has stopped: never two at once. */
/* Standard output failed (a full disk, a closed pipe): said as the
 * library says a file's failure. */
static int stdout_failed(void) {
    fprintf(stderr, "rill: standard output: write failed: %s\n", strerror(errno));
    return RILL_EIO;
}

static void fail(stream_writer *w, size_t i, int err) {
    if (atomic_load(&w->failed) != 0)
        return;
    atomic_store(&w->failed_out, i); /* first: whoever sees `failed` sees it */
    atomic_store(&w->failed, err);
}

/* One record out of the ring and written: false when the ring is empty. */
static bool write_one(stream_writer *w) {
    record h;
    if (rill_ring_read_all(w->ring, &h, sizeof h) != 0)
        return false;
    output *o = &w->outs[h.out];
    size_t vbytes = (size_t)h.count * rill_type_size(o->type);
    size_t tbytes = h.sparse ? (size_t)h.count * 4 : 0;
    if (vbytes + tbytes > w->scratch_cap) {
        uint8_t *p = realloc(w->scratch, vbytes + tbytes);
        if (p == NULL) {
            /* The record is still in the ring: skip it, and stop. */
            for (size_t left = vbytes + tbytes; left != 0;) {
                uint8_t sink[256];
                left -= rill_ring_read(w->ring, sink, left < sizeof sink ? left : sizeof sink);
            }
            fail(w, h.out, RILL_ENOMEM);
            return true;
        }
        w->scratch = p;
        w->scratch_cap = vbytes + tbytes;
    }
    /* Committed whole: the rest of the record is there. */
    rill_ring_read_all(w->ring, w->scratch, vbytes + tbytes);
    if (atomic_load(&w->failed) != 0)
        return true; /* stopped writing: what is left goes nowhere */
    const uint32_t *rel = h.sparse ? (const uint32_t *)(w->scratch + vbytes) : NULL;
    int rc = 0;
    if (o->file != NULL)
        rc = rill_file_writer_write(o->file, h.first_ts, w->scratch, h.count, rel);
    else if (!print_lines(o, h.first_ts, w->scratch, h.count, rel))
        rc = stdout_failed();
    else
        w->unflushed = h.out + 1;
    if (rc != 0) {
        fail(w, h.out, rc);
        return true;
    }
    atomic_fetch_add(&o->values, h.count);
    atomic_fetch_add(&w->bytes, vbytes);
    return true;
}

static void *writer_main(void *arg) {
    stream_writer *w = arg;
    for (;;) {
        /* Read before looking at the ring: a stop set after the last push
         * still finds every record. */
        bool stopping = atomic_load(&w->stop);
        if (write_one(w))
            continue;
        /* Caught up: what was printed goes out now, not when stdio's
         * buffer fills (a pipe's 4 KiB is seconds of values at a sensor
         * rate); under load lines still go out in 4 KiB writes. */
        if (w->unflushed != 0 && atomic_load(&w->failed) == 0 && fflush(stdout) != 0)
            fail(w, w->unflushed - 1, stdout_failed());
        w->unflushed = 0;
        if (stopping)
            break;
        rill_clock_sleep_until_ns(rill_clock_now_ns() + IDLE_NS);
    }
    return NULL;
}

int stream_writer_start(stream_writer *w) {
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
        return RILL_ESYS;
    w->started = true;
    return 0;
}

uint64_t stream_writer_values(const stream_writer *w, size_t i) {
    return atomic_load(&w->outs[i].values);
}

uint64_t stream_writer_dropped(const stream_writer *w, size_t i) {
    return atomic_load(&w->outs[i].dropped);
}

uint64_t stream_writer_bytes(const stream_writer *w) { return atomic_load(&w->bytes); }

int stream_writer_failed(const stream_writer *w, size_t *which) {
    int err = atomic_load(&w->failed);
    if (err != 0 && which != NULL)
        *which = atomic_load(&w->failed_out);
    return err;
}

void stream_writer_finish(stream_writer *w) {
    if (w == NULL)
        return;
    atomic_store(&w->stop, true);
    if (w->started)
        pthread_join(w->thread, NULL);
    w->started = false;
    for (size_t i = 0; i < w->n; i++)
        if (w->outs[i].file == NULL && fflush(stdout) != 0)
            fail(w, i, stdout_failed());
}

void stream_writer_destroy(stream_writer *w) {
    if (w == NULL)
        return;
    stream_writer_finish(w);
    rill_ring_destroy(w->ring);
    free(w->stage);
    free(w->scratch);
    free(w->outs);
    free(w);
}
