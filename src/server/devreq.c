/* The device-request thread (devreq.h). */
#include "server/devreq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

typedef struct request {
    uint64_t conn_id;
    int id_kind;
    int64_t id_i;
    char *id_s;
    rill_audio_change change;
} request;

struct rill__devreq {
    rill_server *srv;
    rill_server_audio_change_fn fn;
    void *user;
    void (*done_fn)(rill_server *srv);
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    bool joined;  /* rill__devreq_stop has joined the thread */
    bool running; /* the program's call is under way */
    /* Waiting requests and finished results, in arrival order. */
    request pending[RILL__DEVREQ_MAX];
    size_t n_pending;
    rill__devreq_result done[RILL__DEVREQ_MAX];
    size_t n_done;
};

static _Thread_local bool tl_in_call;

bool rill__devreq_in_call(void) { return tl_in_call; }

static void *devreq_main(void *arg) {
    rill__devreq *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->stop && d->n_pending == 0)
            pthread_cond_wait(&d->cond, &d->lock);
        if (d->stop)
            break;
        request r = d->pending[0];
        memmove(&d->pending[0], &d->pending[1],
                --d->n_pending * sizeof d->pending[0]);
        d->running = true;
        pthread_mutex_unlock(&d->lock);

        rill__devreq_result res = {r.conn_id, r.id_kind, r.id_i, r.id_s, 0, ""};
        tl_in_call = true;
        res.rc = d->fn(d->srv, &r.change, res.why, sizeof res.why, d->user);
        tl_in_call = false;
        if (res.rc != 0 && res.why[0] == '\0')
            snprintf(res.why, sizeof res.why, "the device refused (%s)",
                     rill_strerror(res.rc));

        pthread_mutex_lock(&d->lock);
        /* Posting counts every request in flight, so this never overflows. */
        d->done[d->n_done++] = res;
        d->running = false;
        if (d->done_fn != NULL) {
            pthread_mutex_unlock(&d->lock);
            d->done_fn(d->srv);
            pthread_mutex_lock(&d->lock);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int rill__devreq_create(rill_server *srv, rill_server_audio_change_fn fn, void *user,
                        void (*done)(rill_server *srv), rill__devreq **out) {
    *out = NULL;
    rill__devreq *d = rill__calloc(1, sizeof *d);
    if (d == NULL)
        return RILL_ENOMEM;
    d->srv = srv;
    d->fn = fn;
    d->user = user;
    d->done_fn = done;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    if (pthread_create(&d->thread, NULL, devreq_main, d) != 0) {
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
        rill__free(d);
        return RILL_ESYS;
    }
    *out = d;
    return 0;
}

int rill__devreq_post(rill__devreq *d, uint64_t conn_id, int id_kind,
                      int64_t id_i, const char *id_s,
                      const rill_audio_change *change) {
    char *s = NULL;
    if (id_s != NULL) {
        size_t n = strlen(id_s);
        if ((s = rill__malloc(n + 1)) == NULL)
            return RILL_ENOMEM;
        memcpy(s, id_s, n + 1);
    }
    pthread_mutex_lock(&d->lock);
    /* Every request in flight (waiting, running, or finished and not yet
     * taken) must find a place among the results. */
    if (d->n_pending + (d->running ? 1u : 0u) + d->n_done >= RILL__DEVREQ_MAX) {
        pthread_mutex_unlock(&d->lock);
        rill__free(s);
        return RILL_EBUSY;
    }
    d->pending[d->n_pending++] = (request){conn_id, id_kind, id_i, s, *change};
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

size_t rill__devreq_take(rill__devreq *d, rill__devreq_result *out,
                         size_t max) {
    pthread_mutex_lock(&d->lock);
    size_t n = d->n_done < max ? d->n_done : max;
    memcpy(out, d->done, n * sizeof *out);
    memmove(&d->done[0], &d->done[n], (d->n_done - n) * sizeof d->done[0]);
    d->n_done -= n;
    pthread_mutex_unlock(&d->lock);
    return n;
}

void rill__devreq_stop(rill__devreq *d) {
    if (d == NULL || d->joined)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    d->joined = true;
}

void rill__devreq_destroy(rill__devreq *d) {
    if (d == NULL)
        return;
    rill__devreq_stop(d);
    for (size_t i = 0; i < d->n_pending; i++)
        rill__free(d->pending[i].id_s);
    for (size_t i = 0; i < d->n_done; i++)
        rill__free(d->done[i].id_s);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    rill__free(d);
}
