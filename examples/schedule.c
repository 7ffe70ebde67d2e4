/* Schedule a streaming session: one second of data, starting one second
 * from now (pybela tutorial 2, "Scheduling streaming sessions"), in C.
 *
 *   ./schedule [URL]
 *
 * pybela's schedule_streaming blocks the caller and polls the device;
 * rill_client_schedule returns at once, the values arrive at on_buffer, a
 * completion callback says when every variable is done, and
 * rill_client_wait waits for it when the program has nothing else to do.
 * The device starts every variable at the same tick and sends exactly the
 * values of [start, start + duration).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "rill/rill.h"

typedef struct got {
    atomic_ulong values[2];
    _Atomic uint64_t first[2], last[2];
    atomic_int done_err;
} got;

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    got *g = user;
    int i = b->name[0] == 's' ? 0 : 1; /* sine, chirp */
    if (b->count == 0)
        return;
    if (atomic_fetch_add(&g->values[i], b->count) == 0)
        atomic_store(&g->first[i], b->first_ts);
    atomic_store(&g->last[i], b->first_ts + b->count - 1);
}

static void on_done(rill_client *cl, int err, void *user) {
    (void)cl;
    got *g = user;
    atomic_store(&g->done_err, err);
    printf("done: %s\n", err == 0 ? "every variable delivered its values" : rill_strerror(err));
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("RILL_URL");
    rill_client_config cfg = rill_client_config_default();
    if (url != NULL)
        cfg.url = url;
    got g;
    atomic_init(&g.done_err, 1);
    for (int i = 0; i < 2; i++) {
        atomic_init(&g.values[i], 0);
        atomic_init(&g.first[i], 0);
        atomic_init(&g.last[i], 0);
    }
    cfg.on_buffer = on_buffer;
    cfg.user = &g;
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", cfg.url, rill_strerror(rc));
        return 1;
    }
    rill_client_list *l = NULL;
    if ((rc = rill_client_list_vars(cl, &l)) != 0) {
        fprintf(stderr, "list: %s\n", rill_strerror(rc));
        rill_client_destroy(cl);
        return 1;
    }
    uint64_t rate = (uint64_t)l->sample_rate;
    uint64_t start = l->timestamp + rate; /* one second from now */
    uint64_t duration = rate;             /* for one second */
    rill_client_list_free(l);
    const char *vars[] = {"sine", "chirp"};
    rc = rill_client_schedule(cl, vars, 2, start, duration, on_done, &g);
    if (rc == 0) {
        printf("scheduled %llu ticks from tick %llu\n",
               (unsigned long long)duration, (unsigned long long)start);
        rc = rill_client_wait(cl, 10000);
    }
    rill_client_destroy(cl);
    if (rc != 0) {
        fprintf(stderr, "schedule: %s\n", rill_strerror(rc));
        return 1;
    }
    for (int i = 0; i < 2; i++)
        printf("%s: %lu values, ticks %llu..%llu\n", vars[i],
               atomic_load(&g.values[i]), (unsigned long long)atomic_load(&g.first[i]),
               (unsigned long long)atomic_load(&g.last[i]));
    return atomic_load(&g.done_err) == 0 ? 0 : 1;
}
