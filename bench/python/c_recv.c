/* The C baseline of bench/python/client_bench.py: stream variables from a
 * `rill serve` for some seconds with rill_client in poll mode (as the
 * Python package runs it) and an on_buffer callback that touches every
 * value, then print one line: "buffers bytes seconds cpu_seconds dropped".
 *
 *   c_recv URL SECONDS VAR...
 */
#include <rill/rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

typedef struct counts {
    uint64_t buffers, bytes, sum;
} counts;

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    counts *c = user;
    size_t n = b->count * rill_type_size(b->type);
    const unsigned char *p = b->values;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 64)
        s += p[i];
    c->sum += s;
    c->buffers++;
    c->bytes += n;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: c_recv URL SECONDS VAR...\n");
        return 2;
    }
    counts c = {0, 0, 0};
    rill_client_config cfg = rill_client_config_default();
    cfg.url = argv[1];
    cfg.poll = true;
    cfg.on_buffer = on_buffer;
    cfg.user = &c;
    rill_client *cl;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "c_recv: %s\n", rill_strerror(rc));
        return 1;
    }
    const char *const *names = (const char *const *)&argv[3];
    size_t n = (size_t)(argc - 3);
    double secs = atof(argv[2]);
    uint64_t t0 = rill_clock_now_ns();
    double c0 = cpu_seconds();
    rc = rill_client_stream_start(cl, names, n, NULL);
    while (rc == 0 && (double)(rill_clock_now_ns() - t0) < secs * 1e9)
        rill_client_poll(cl, 20);
    double dt = (double)(rill_clock_now_ns() - t0) / 1e9;
    double cpu = cpu_seconds() - c0;
    rill_client_stream_stop(cl, names, n);
    printf("%llu %llu %.6f %.6f %llu\n", (unsigned long long)c.buffers,
           (unsigned long long)c.bytes, dt, cpu,
           (unsigned long long)rill_client_dropped(cl));
    rill_client_destroy(cl);
    return rc == 0 ? 0 : 1;
}
