/* The log writer thread. See logwriter.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/device.h"
#include "server/logwriter.h"
#include "rill/queue.h"

struct rill__logwriter {
    rill_ring *ring;
    rill_queue *events;
    pthread_t thread;
    atomic_bool stop;
    uint8_t *buf;
    size_t buf_cap;
};

/* How long the writer sleeps when the ring is empty. Logging is not
 * latency-critical; the ring holds seconds of data. */
#define RILL__LOGWRITER_IDLE_NS (2 * 1000 * 1000)

static void post(rill__logwriter *lw, rill__log_ev_kind kind, int err,
                 rill__stream *s) {
    rill__log_ev ev = {kind, err, s};
    /* The queue holds an event per possible stream; if the network thread
     * has stopped, losing the event loses only a notice. */
    rill_queue_post(lw->events, &ev, sizeof ev);
}

static bool write_all(int fd, const uint8_t *p, size_t n, int *err) {
    while (n != 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* One record: returns false when the ring is empty. */
static bool write_one(rill__logwriter *lw) {
    rill__rec r;
    if (rill_ring_read_all(lw->ring, &r, sizeof r) != 0)
        return false;
    if (r.bytes > lw->buf_cap) {
        /* Log buffers are 4104 bytes; nothing bigger is ever queued. */
        uint8_t sink[256];
        for (size_t left = r.bytes; left != 0;)
            left -= rill_ring_read(lw->ring, sink, RILL__MIN(left, sizeof sink));
        return true;
    }
    rill_ring_read_all(lw->ring, lw->buf, r.bytes);
    rill__stream *s = r.stream;
    if (r.kind == RILL__REC_END) {
        if (s->log_fd >= 0) {
            fsync(s->log_fd);
            close(s->log_fd);
            s->log_fd = -1;
        }
        post(lw, RILL__LOG_EV_CLOSED, 0, s);
        return true;
    }
    int err = 0;
    if (s->log_fd >= 0 && !s->log_failed &&
        !write_all(s->log_fd, lw->buf, r.bytes, &err)) {
        s->log_failed = true;
        post(lw, RILL__LOG_EV_FAILED, err, s);
    }
    return true;
}

static void *writer_main(void *arg) {
    rill__logwriter *lw = arg;
    while (!atomic_load(&lw->stop)) {
        if (!write_one(lw))
            rill_clock_sleep_until_ns(rill_clock_now_ns() +
                                      RILL__LOGWRITER_IDLE_NS);
    }
    while (write_one(lw))
        ;
    return NULL;
}

int rill__logwriter_start(rill_ring *ring, rill__logwriter **out) {
    *out = NULL;
    rill__logwriter *lw = rill__calloc(1, sizeof *lw);
    if (lw == NULL)
        return RILL_ENOMEM;
    lw->ring = ring;
    lw->buf_cap = 8192;
    lw->buf = rill__malloc(lw->buf_cap);
    int rc = lw->buf ? rill_queue_create(sizeof(rill__log_ev), 8192, &lw->events)
                     : RILL_ENOMEM;
    if (rc != 0)
        goto fail;
    atomic_init(&lw->stop, false);
    if (pthread_create(&lw->thread, NULL, writer_main, lw) != 0) {
        rc = RILL_ESYS;
        goto fail;
    }
    *out = lw;
    return 0;
fail:
    rill_queue_destroy(lw->events);
    rill__free(lw->buf);
    rill__free(lw);
    return rc;
}

void rill__logwriter_stop(rill__logwriter *lw) {
    if (lw == NULL)
        return;
    atomic_store(&lw->stop, true);
    pthread_join(lw->thread, NULL);
    rill_queue_destroy(lw->events);
    rill__free(lw->buf);
    rill__free(lw);
}

int rill__logwriter_poll(rill__logwriter *lw, rill__log_ev *ev) {
    return rill_queue_pop(lw->events, ev, sizeof *ev, NULL);
}
