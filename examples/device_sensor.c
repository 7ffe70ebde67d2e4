/* A device program: what a Bela project with the Watcher library is, on
 * include/rill/server.h. It declares its variables, runs a real-time loop
 * that ticks once per frame and sets them, and takes the buffers clients
 * send; pybela, the rill command and the dashboard do the rest.
 *
 *   ./device_sensor [--port N]     # default 5555; Ctrl-C stops it
 *
 *   name      type    mode    value
 *   sensor    float   dense   gain * 0.5 sin(2 pi 5 t): a slow sensor
 *   peak      int32   sparse  the frame of each of its peaks, set then only
 *   gain      float   dense   1, or what a client sets (rill set gain 0.5)
 *   received  double  dense   the sum of the last buffer a client sent
 *                             (rill send 1 2 3.5; pybela's send_buffer)
 *
 * Try, while it runs:
 *   rill ls
 *   rill stream sensor -n 44100 -o data --format wav
 *   rill stream peak -d 2
 *   rill set gain 0.25; rill send 1 2 3.5; rill peek gain received
 *   from pybela import Streamer  (Streamer(ip="127.0.0.1", port=5555))
 *
 * The loop stands in for an audio callback: 64-frame blocks at 44.1 kHz on
 * absolute deadlines. Nothing on it allocates, locks, prints or does I/O:
 * rill_server_tick and rill_var_set_* are wait-free, and what clients send
 * arrives on the server's network thread (on_buffer), which hands the
 * loop nothing but an atomic.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rill/rill.h"

#define RATE 44100
#define BLOCK 64
#define SENSOR_HZ 5
#define PERIOD (RATE / SENSOR_HZ) /* frames per cycle of the sensor */

typedef struct device {
    rill_server *srv;
    rill_var *sensor, *peak, *gain, *received;
    atomic_bool quit;
    _Atomic uint64_t received_bits; /* a double, from the network thread */
} device;

/* The network thread, for each buffer a client sends: add it up and hand
 * the sum to the loop. It must return quickly: every client waits. */
static void on_buffer(rill_server *srv, uint32_t id, rill_type type,
                      const void *values, size_t count, void *user) {
    (void)srv;
    (void)id;
    device *d = user;
    double sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += rill_value_to_double(type, (const char *)values + i * rill_type_size(type));
    uint64_t bits;
    memcpy(&bits, &sum, sizeof bits);
    atomic_store(&d->received_bits, bits);
}

/* When `frame` is due: `start` plus frame / RATE seconds, exactly (no
 * rounding that adds up over hours). */
static struct timespec due_at(struct timespec start, uint64_t frame) {
    start.tv_sec += (time_t)(frame / RATE);
    start.tv_nsec += (long)((frame % RATE) * 1000000000ull / RATE);
    if (start.tv_nsec >= 1000000000L) {
        start.tv_nsec -= 1000000000L;
        start.tv_sec++;
    }
    return start;
}

/* The real-time loop: a block of frames, then sleep until the next one is
 * due. Each frame: tick first, then set the frame's values. */
static void *loop(void *arg) {
    device *d = arg;
    const double step = 2 * M_PI * SENSOR_HZ / RATE;
    uint64_t frame = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!atomic_load(&d->quit)) {
        /* The gain a client controls, else the program's own. */
        float gain = rill_var_controlled(d->gain) ? (float)rill_var_get(d->gain) : 1.0f;
        uint64_t bits = atomic_load(&d->received_bits);
        double received;
        memcpy(&received, &bits, sizeof received);
        for (int i = 0; i < BLOCK; i++, frame++) {
            rill_server_tick(d->srv, frame);
            rill_var_set_float(d->sensor, gain * 0.5f * (float)sin(step * (double)(frame % PERIOD)));
            if (frame % PERIOD == PERIOD / 4) /* the top of the sine */
                rill_var_set_int32(d->peak, (int32_t)frame);
            rill_var_set_float(d->gain, gain);
            rill_var_set_double(d->received, received);
        }
        struct timespec due = due_at(start, frame);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int port = 5555;
    if (argc == 3 && strcmp(argv[1], "--port") == 0)
        port = atoi(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: device_sensor [--port N]\n");
        return 2;
    }
    /* SIGINT and SIGTERM are taken by main with sigwait; the threads the
     * server and this program start inherit the blocked mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    static device d;
    rill_server_config cfg = rill_server_config_default();
    cfg.port = port;
    cfg.sample_rate = RATE;
    cfg.block_ticks = BLOCK; /* its clock moves a block at a time: said to clients */
    cfg.project_name = "device-sensor";
    cfg.on_buffer = on_buffer;
    cfg.user = &d;
    int rc = rill_server_create(&cfg, &d.srv);
    if (rc != 0) {
        fprintf(stderr, "device_sensor: cannot serve on port %d: %s\n", port, rill_strerror(rc));
        return 1;
    }
    /* The order of declaration is the variables' ids, as pybela sees them. */
    d.sensor = rill_var_create(d.srv, "sensor", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    d.peak = rill_var_create(d.srv, "peak", RILL_TYPE_INT32, RILL_TS_SPARSE);
    d.gain = rill_var_create(d.srv, "gain", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    d.received = rill_var_create(d.srv, "received", RILL_TYPE_DOUBLE, RILL_TS_DENSE);
    if (!d.sensor || !d.peak || !d.gain || !d.received) {
        fprintf(stderr, "device_sensor: cannot declare the variables\n");
        rill_server_destroy(d.srv);
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, loop, &d) != 0) {
        fprintf(stderr, "device_sensor: cannot start the loop\n");
        rill_server_destroy(d.srv);
        return 1;
    }
    printf("device_sensor: listening on ws://127.0.0.1:%d\n", rill_server_port(d.srv));
    fflush(stdout);

    int sig;
    sigwait(&stop, &sig);
    atomic_store(&d.quit, true);
    pthread_join(t, NULL); /* no tick or set after this */
    rill_server_destroy(d.srv);
    return 0;
}
