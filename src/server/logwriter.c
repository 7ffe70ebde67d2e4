/* The log writer thread. See logwriter.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "proto/logfile.h"
#include "rill/queue.h"
#include "server/device.h"
#include "server/logwriter.h"

typedef enum req_kind { REQ_OPEN = 1, REQ_DISCARD } req_kind;

typedef struct req {
    req_kind kind;
    rill__stream *stream;
} req;

struct rill__logwriter {
    rill_ring *ring;      /* tick thread -> here: records */
    rill_queue *requests; /* network thread -> here */
    rill_queue *events;   /* here -> network thread */
    const char *dir;
    uint32_t instance;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mx; /* only to sleep on `wake` */
    pthread_cond_t wake;
    rill__stream *open; /* files open, linked by log_next (this thread) */
    uint8_t *buf;
    size_t buf_cap;
    void (*notify)(void *arg);
    void *notify_arg;
};

/* How long the writer sleeps when it has nothing to do, unless a request
 * wakes it. Logging is not latency-critical; the ring holds seconds of
 * data. With no file open no record can come (a log stream starts only
 * once its file exists, and a request wakes the writer), so it sleeps
 * longer: an idle server stays idle. */
#define RILL__LOGWRITER_IDLE_NS (2 * 1000 * 1000)
#define RILL__LOGWRITER_NO_FILE_NS (500 * 1000 * 1000)
/* Requests waiting at most; a network thread that asks for more is told
 * to try later (a log command gets "busy"). */
#define RILL__LOGWRITER_MAX_REQUESTS 256

static void post(rill__logwriter *lw, rill__log_ev_kind kind, int err,
                 rill__stream *s) {
    rill__log_ev ev = {kind, err, s, 0, 0};
    /* The queue holds an event per possible stream; if the network thread
     * has stopped, losing the event loses only a notice. */
    rill_queue_post(lw->events, &ev, sizeof ev);
    if (lw->notify != NULL)
        lw->notify(lw->notify_arg);
}

/* n bytes at offset `off` of the file. */
static bool pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off, int *err) {
    while (n != 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            return false;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return true;
}

static void forget(rill__logwriter *lw, rill__stream *s) {
    for (rill__stream **p = &lw->open; *p != NULL; p = &(*p)->log_next) {
        if (*p == s) {
            *p = s->log_next;
            s->log_next = NULL;
            return;
        }
    }
}

static void close_file(rill__logwriter *lw, rill__stream *s) {
    if (s->log_fd >= 0) {
        fsync(s->log_fd);
        close(s->log_fd);
        s->log_fd = -1;
    }
    forget(lw, s);
}

/* A new log file for `s`, as the Watcher makes it (spec §6): a name
 * chosen from what the directory holds, created with O_EXCL (asking again
 * if another process took the name meanwhile), and its header. */
static void open_file(rill__logwriter *lw, rill__stream *s) {
    const char *var = s->var->name;
    char name[sizeof s->log_name], path[4096];
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        int rc = rill__logfile_choose_name(lw->dir, var, name, sizeof name);
        if (rc != 0) {
            rill__set_err(s->log_error, sizeof s->log_error,
                          "cannot choose a file name for \"%s\" in %s: %s", var,
                          lw->dir, rill_strerror(rc));
            post(lw, RILL__LOG_EV_OPEN_FAILED, 0, s);
            return;
        }
        snprintf(path, sizeof path, "%s/%s", lw->dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        err = errno;
        if (fd < 0 && err != EEXIST)
            break;
    }
    if (fd < 0) {
        rill__set_err(s->log_error, sizeof s->log_error, "cannot create %s: %s",
                      path, strerror(err));
        post(lw, RILL__LOG_EV_OPEN_FAILED, err, s);
        return;
    }
    uint8_t hdr[RILL__VAR_NAME_MAX + 32];
    size_t hlen = 0;
    rill__logfile_header_encode(var, s->var->type, (uint32_t)getpid(),
                                lw->instance, hdr, sizeof hdr, &hlen);
    if (!pwrite_all(fd, hdr, hlen, 0, &err)) {
        close(fd);
        rill__set_err(s->log_error, sizeof s->log_error,
                      "cannot write the header of %s: %s", path, strerror(err));
        post(lw, RILL__LOG_EV_OPEN_FAILED, err, s);
        return;
    }
    s->log_fd = fd;
    s->log_pos = hlen;
    snprintf(s->log_name, sizeof s->log_name, "%s", name);
    s->log_next = lw->open;
    lw->open = s;
    post(lw, RILL__LOG_EV_OPENED, 0, s);
}

/* Announce what `s` lost and has not said yet: at once with `now` 0
 * (before its CLOSED), else at most every 100 ms. */
#define RILL__LOG_DROP_INTERVAL_NS (100u * 1000 * 1000)

static void say_drops(rill__logwriter *lw, rill__stream *s, uint64_t now) {
    if (s->log_drop_unsaid == 0 ||
        (now != 0 && now - s->log_drop_ns < RILL__LOG_DROP_INTERVAL_NS))
        return;
    rill__log_ev ev = {RILL__LOG_EV_DROPPED, 0, s, s->log_drop_unsaid,
                       s->log_dropped};
    if (rill_queue_post(lw->events, &ev, sizeof ev) == 0) {
        s->log_drop_unsaid = 0;
        s->log_drop_ns = now != 0 ? now : rill_clock_now_ns();
    }
}

static void say_all_drops(rill__logwriter *lw) {
    uint64_t now = rill_clock_now_ns();
    for (rill__stream *s = lw->open; s != NULL; s = s->log_next)
        say_drops(lw, s, now);
}

/* Returns false when no request waits. */
static bool handle_request(rill__logwriter *lw) {
    req r;
    if (rill_queue_pop(lw->requests, &r, sizeof r, NULL) != 0)
        return false;
    if (r.kind == REQ_OPEN) {
        open_file(lw, r.stream);
    } else {
        close_file(lw, r.stream);
        post(lw, RILL__LOG_EV_DISCARDED, 0, r.stream);
    }
    return true;
}

/* One record: returns false when the ring is empty. A stream's records
 * follow its OPENED event (the network thread starts it only then), so its
 * file is always open here unless it failed. */
static bool write_one(rill__logwriter *lw) {
    rill__rec r;
    if (rill_ring_read_all(lw->ring, &r, sizeof r) != 0)
        return false;
    if (r.bytes > lw->buf_cap) {
        /* Log buffers are 4104 bytes; nothing bigger is ever queued. */
        uint8_t sink[256];
        for (size_t left = r.bytes; left != 0;)
            left -=
                rill_ring_read(lw->ring, sink, RILL__MIN(left, sizeof sink));
        return true;
    }
    rill_ring_read_all(lw->ring, lw->buf, r.bytes);
    rill__stream *s = r.stream;
    if (r.dropped != 0) {
        s->log_dropped += r.dropped;
        s->log_drop_unsaid += r.dropped;
    }
    if (r.kind == RILL__REC_END) {
        say_drops(lw, s, 0);
        close_file(lw, s);
        post(lw, RILL__LOG_EV_CLOSED, 0, s);
        return true;
    }
    /* Each body at the end of the whole ones: a partial one (the body so
     * far, padded) keeps the place for the whole body, which replaces it. */
    int err = 0;
    if (s->log_fd >= 0 && !s->log_failed) {
        if (!pwrite_all(s->log_fd, lw->buf, r.bytes, s->log_pos, &err)) {
            s->log_failed = true;
            post(lw, RILL__LOG_EV_FAILED, err, s);
        } else if (!(r.flags & RILL__REC_FLAG_PARTIAL)) {
            s->log_pos += r.bytes;
        }
    }
    return true;
}

/* The server stops: the tick thread is gone (the caller stopped ticking),
 * so the partial buffers of the streams still logging are written here,
 * zero-padded as at a normal stop, and the files closed. */
static void finish_open_files(rill__logwriter *lw) {
    while (lw->open != NULL) {
        rill__stream *s = lw->open;
        if (s->count != 0 && !s->log_failed && s->log_fd >= 0) {
            rill__stream_pad_body(s);
            int err = 0;
            if (!pwrite_all(s->log_fd, s->buf, s->buf_bytes, s->log_pos, &err))
                rill__log_error("finishing %s/%s: %s", lw->dir, s->log_name,
                                strerror(err));
        }
        close_file(lw, s);
    }
}

static void idle(rill__logwriter *lw) {
    pthread_mutex_lock(&lw->mx);
    if (rill_queue_count(lw->requests) == 0 && !atomic_load(&lw->stop))
        rill__cond_wait_ns(&lw->wake, &lw->mx,
                           lw->open != NULL ? RILL__LOGWRITER_IDLE_NS
                                            : RILL__LOGWRITER_NO_FILE_NS);
    pthread_mutex_unlock(&lw->mx);
}

static void *writer_main(void *arg) {
    rill__logwriter *lw = arg;
    pthread_setname_np(pthread_self(), "rill-logwriter");
    while (!atomic_load(&lw->stop)) {
        bool did = handle_request(lw);
        did = write_one(lw) || did;
        say_all_drops(lw);
        if (!did)
            idle(lw);
    }
    while (handle_request(lw) || write_one(lw))
        ;
    finish_open_files(lw);
    return NULL;
}

int rill__logwriter_start(rill_ring *ring, const char *dir, uint32_t instance,
                          void (*notify)(void *arg), void *arg,
                          rill__logwriter **out) {
    *out = NULL;
    rill__logwriter *lw = rill__calloc(1, sizeof *lw);
    if (lw == NULL)
        return RILL_ENOMEM;
    lw->ring = ring;
    lw->dir = dir;
    lw->notify = notify;
    lw->notify_arg = arg;
    lw->instance = instance;
    lw->buf_cap = 8192;
    lw->buf = rill__malloc(lw->buf_cap);
    int rc = lw->buf
                 ? rill_queue_create(sizeof(rill__log_ev), 8192, &lw->events)
                 : RILL_ENOMEM;
    if (rc == 0)
        rc = rill_queue_create(sizeof(req), RILL__LOGWRITER_MAX_REQUESTS,
                               &lw->requests);
    if (rc != 0)
        goto fail;
    pthread_mutex_init(&lw->mx, NULL);
    pthread_cond_init(&lw->wake, NULL);
    atomic_init(&lw->stop, false);
    if (pthread_create(&lw->thread, NULL, writer_main, lw) != 0) {
        pthread_cond_destroy(&lw->wake);
        pthread_mutex_destroy(&lw->mx);
        rc = RILL_ESYS;
        goto fail;
    }
    *out = lw;
    return 0;
fail:
    rill_queue_destroy(lw->requests);
    rill_queue_destroy(lw->events);
    rill__free(lw->buf);
    rill__free(lw);
    return rc;
}

static void wake(rill__logwriter *lw) {
    pthread_mutex_lock(&lw->mx);
    pthread_cond_signal(&lw->wake);
    pthread_mutex_unlock(&lw->mx);
}

void rill__logwriter_stop(rill__logwriter *lw) {
    if (lw == NULL)
        return;
    atomic_store(&lw->stop, true);
    wake(lw);
    pthread_join(lw->thread, NULL);
    rill_queue_destroy(lw->requests);
    rill_queue_destroy(lw->events);
    pthread_cond_destroy(&lw->wake);
    pthread_mutex_destroy(&lw->mx);
    rill__free(lw->buf);
    rill__free(lw);
}

static int request(rill__logwriter *lw, req_kind kind, rill__stream *s) {
    req r = {kind, s};
    int rc = rill_queue_post(lw->requests, &r, sizeof r);
    if (rc != 0)
        return RILL_EFULL;
    wake(lw);
    return 0;
}

int rill__logwriter_open(rill__logwriter *lw, rill__stream *s) {
    return request(lw, REQ_OPEN, s);
}

int rill__logwriter_discard(rill__logwriter *lw, rill__stream *s) {
    return request(lw, REQ_DISCARD, s);
}

int rill__logwriter_poll(rill__logwriter *lw, rill__log_ev *ev) {
    return rill_queue_pop(lw->events, ev, sizeof *ev, NULL);
}
