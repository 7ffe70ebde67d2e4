/* pybela_bench_c_echo: pybela's round-trip benchmark client written in C
 * on include/rill/client.h, the reference rill.pybela is compared with in
 * the same run (bench/pybela/roundtrip.py): it streams the N variables and
 * echoes each buffer's ref_timestamp back with a 1024-int send_buffer, as
 * the Python callback does. Where the callback runs:
 *
 *   io     on the client's I/O thread (plain callbacks: the fastest path)
 *   batch  on a thread of its own taking the queued buffers with
 *          rill_client_poll_batch, as rill.pybela's poll thread does
 *
 * so that what the Python layer adds on top of the same structure shows.
 *
 *   pybela_bench_c_echo PORT N SECONDS io|batch
 *
 * Prints "streaming" once the stream is started, then "cpu S N": the
 * process's CPU seconds and the buffers echoed from then on; stops after
 * SECONDS and exits 0.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define BUF 1024u
#define MAX_VARS 128u

typedef struct echo {
    int32_t values[BUF];
    uint32_t ids[MAX_VARS]; /* variable id -> channel: its index */
    atomic_uint_fast64_t echoed;
} echo;

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The channel is the variable's index, as the Python client's `ids`. */
static void send_echo(rill_client *cl, echo *e, const rill_client_buffer *b) {
    if (b->count == 0 || b->var_id >= MAX_VARS)
        return;
    e->values[0] = (int32_t)b->first_ts;
    rill_client_send_buffer(cl, e->ids[b->var_id], RILL_TYPE_INT32, e->values,
                            BUF);
    atomic_fetch_add_explicit(&e->echoed, 1, memory_order_relaxed);
}

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    send_echo(cl, user, b);
}

int main(int argc, char **argv) {
    if (argc != 5 ||
        (strcmp(argv[4], "io") != 0 && strcmp(argv[4], "batch") != 0)) {
        fprintf(stderr, "usage: pybela_bench_c_echo PORT N SECONDS io|batch\n");
        return 2;
    }
    int port = atoi(argv[1]);
    unsigned n = (unsigned)atoi(argv[2]);
    double seconds = atof(argv[3]);
    bool batch = strcmp(argv[4], "batch") == 0;
    if (n == 0 || n > MAX_VARS) {
        fprintf(stderr, "pybela_bench_c_echo: N is 1 to %u\n", MAX_VARS);
        return 2;
    }
    static echo e;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.on_buffer = on_buffer;
    cfg.user = &e;
    cfg.poll = batch;
    cfg.poll_bytes = 64u << 20; /* as rill.pybela */
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc < 0) {
        fprintf(stderr, "pybela_bench_c_echo: connect to %s: %s\n", url,
                rill_strerror(rc));
        return 1;
    }
    static char names[MAX_VARS][32];
    const char *list[MAX_VARS];
    rill_client_list *l = NULL;
    rc = rill_client_list_vars(cl, &l);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        snprintf(names[i], sizeof names[i], "auxWatcherVar%u", i);
        list[i] = names[i];
        for (size_t k = 0; k < l->n_vars; k++)
            if (strcmp(l->vars[k].name, names[i]) == 0 &&
                l->vars[k].id < MAX_VARS)
                e.ids[l->vars[k].id] = i;
    }
    rill_client_list_free(l);
    if (rc == 0)
        rc = rill_client_stream_start(cl, list, n, NULL);
    if (rc < 0) {
        fprintf(stderr, "pybela_bench_c_echo: start streaming: %s\n",
                rill_strerror(rc));
        rill_client_destroy(cl);
        return 1;
    }
    printf("streaming\n");
    fflush(stdout);
    uint64_t end = rill_clock_now_ns() + (uint64_t)(seconds * 1e9);
    double cpu0 = cpu_s();
    uint64_t echoed0 = atomic_load(&e.echoed);
    if (batch) {
        static rill_client_polled ev[256];
        while (rill_clock_now_ns() < end) {
            int got = rill_client_poll_batch(cl, 50, ev, 256, NULL, 0);
            for (int i = 0; i < got; i++)
                if (ev[i].kind == RILL_CLIENT_POLLED_BUFFER)
                    send_echo(cl, &e, &ev[i].buffer);
        }
    } else {
        rill_clock_sleep_until_ns(end);
    }
    printf("cpu %.6f %llu\n", cpu_s() - cpu0,
           (unsigned long long)(atomic_load(&e.echoed) - echoed0));
    fflush(stdout);
    rill_client_stream_stop(cl, NULL, 0);
    rill_client_destroy(cl);
    printf("done\n");
    return 0;
}
