/* pybela_device: a small device program on include/rill/server.h for the
 * tests that drive the real pybela (tests/pybela). It is what a Bela
 * project with the Watcher library is for pybela: a real-time loop that
 * ticks once per frame and sets its variables, and a callback for the
 * buffers clients send.
 *
 * Variables, in this order (the order is their id, as pybela assumes):
 *
 *   id name       type  mode    value
 *    0 frame_i    i     dense   the frame number
 *    1 frame_j    j     dense   the frame number
 *    2 frame_f    f     dense   the frame number (exact below 2^24)
 *    3 frame_d    d     dense   the frame number
 *    4 frame_c    c     dense   the frame number's low byte
 *    5 event_i    i     sparse  the frame number, on event frames
 *    6 event_j    j     sparse  idem
 *    7 event_f    f     sparse  idem
 *    8 event_d    d     sparse  idem
 *    9 event_c    c     sparse  the frame number's low byte, on event frames
 *   10 gain       f     dense   1.0 (clients control it)
 *   11 scaled     d     dense   what the program reads from gain, times the
 *                               frame number: proves a controlled value
 *                               reaches the program
 *   12 steps      i     dense   7 (clients control it; an integer)
 *   13 poke       i     dense   0 (clients control it)
 *   14 trigger    i     sparse  set once, to the value the program reads
 *                               from poke, each time that value changes: a
 *                               variable that a client sets on demand
 *
 * Event frames are the multiples of EVENT_EVERY (7). Every frame is set
 * within one tick, after rill_server_tick, as Bela's render loop does.
 *
 * Each buffer a client sends (pybela's send_buffer) is printed on stdout
 * as one line the tests parse, with the values exactly:
 *   buffer {"id":3,"type":"f","count":4,"values":[1.5,2,-3.25,1e+20]}
 * (floats with 9 significant digits, doubles with 17: both read back
 * exactly.)
 *
 * usage: pybela_device [--port N] [--rate HZ] [--block N] [--project NAME]
 *                      [--log-dir DIR] [--bela-project NAME] [--compat-only]
 * Prints "pybela_device: listening on ws://127.0.0.1:PORT (project P, log
 * dir D)" once serving; stops cleanly on SIGINT or SIGTERM (log files are
 * finished) and exits 0.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/rill.h"

#define EVENT_EVERY 7u

enum {
    V_FRAME_I, V_FRAME_J, V_FRAME_F, V_FRAME_D, V_FRAME_C,
    V_EVENT_I, V_EVENT_J, V_EVENT_F, V_EVENT_D, V_EVENT_C,
    V_GAIN, V_SCALED, V_STEPS, V_POKE, V_TRIGGER, N_VARS
};

static const struct {
    const char *name;
    rill_type type;
    rill_ts_mode mode;
} var_defs[N_VARS] = {
    {"frame_i", RILL_TYPE_INT32, RILL_TS_DENSE},
    {"frame_j", RILL_TYPE_UINT32, RILL_TS_DENSE},
    {"frame_f", RILL_TYPE_FLOAT, RILL_TS_DENSE},
    {"frame_d", RILL_TYPE_DOUBLE, RILL_TS_DENSE},
    {"frame_c", RILL_TYPE_CHAR, RILL_TS_DENSE},
    {"event_i", RILL_TYPE_INT32, RILL_TS_SPARSE},
    {"event_j", RILL_TYPE_UINT32, RILL_TS_SPARSE},
    {"event_f", RILL_TYPE_FLOAT, RILL_TS_SPARSE},
    {"event_d", RILL_TYPE_DOUBLE, RILL_TS_SPARSE},
    {"event_c", RILL_TYPE_CHAR, RILL_TS_SPARSE},
    {"gain", RILL_TYPE_FLOAT, RILL_TS_DENSE},
    {"scaled", RILL_TYPE_DOUBLE, RILL_TS_DENSE},
    {"steps", RILL_TYPE_INT32, RILL_TS_DENSE},
    {"poke", RILL_TYPE_INT32, RILL_TS_DENSE},
    {"trigger", RILL_TYPE_INT32, RILL_TS_SPARSE},
};

typedef struct device {
    rill_server *srv;
    rill_var *v[N_VARS];
    double rate;
    unsigned block;
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t out_lock; /* stdout lines from the network thread */
} device;

/* The real-time loop: one block of frames per period, on absolute
 * deadlines so the tick keeps real time. */
static void *produce(void *arg) {
    device *d = arg;
    uint64_t frame = 0;
    uint64_t period_ns = (uint64_t)((double)d->block * 1e9 / d->rate);
    uint64_t deadline = rill_clock_now_ns();
    int32_t poked = 0;
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < d->block; i++, frame++) {
            rill_server_tick(d->srv, frame);
            rill_var_set_int32(d->v[V_FRAME_I], (int32_t)frame);
            rill_var_set_uint32(d->v[V_FRAME_J], (uint32_t)frame);
            rill_var_set_float(d->v[V_FRAME_F], (float)frame);
            rill_var_set_double(d->v[V_FRAME_D], (double)frame);
            rill_var_set_char(d->v[V_FRAME_C], (char)(frame & 0xffu));
            if (frame % EVENT_EVERY == 0) {
                rill_var_set_int32(d->v[V_EVENT_I], (int32_t)frame);
                rill_var_set_uint32(d->v[V_EVENT_J], (uint32_t)frame);
                rill_var_set_float(d->v[V_EVENT_F], (float)frame);
                rill_var_set_double(d->v[V_EVENT_D], (double)frame);
                rill_var_set_char(d->v[V_EVENT_C], (char)(frame & 0xffu));
            }
            rill_var_set_float(d->v[V_GAIN], 1.0f);
            rill_var_set_double(d->v[V_SCALED],
                                rill_var_get(d->v[V_GAIN]) * (double)frame);
            rill_var_set_int32(d->v[V_STEPS], 7);
            rill_var_set_int32(d->v[V_POKE], 0);
            int32_t p = (int32_t)rill_var_get(d->v[V_POKE]);
            if (p != poked) {
                rill_var_set_int32(d->v[V_TRIGGER], p);
                poked = p;
            }
        }
        deadline += period_ns;
        rill_clock_sleep_until_ns(deadline);
    }
    return NULL;
}

/* Network thread: print the buffer exactly, as one line. */
static void on_buffer(rill_server *srv, uint32_t id, rill_type type,
                      const void *values, size_t count, void *user) {
    (void)srv;
    device *d = user;
    size_t size = rill_type_size(type);
    pthread_mutex_lock(&d->out_lock);
    printf("buffer {\"id\":%u,\"type\":\"%c\",\"count\":%zu,\"values\":[", id,
           rill_type_letter(type), count);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = (const unsigned char *)values + i * size;
        double x = rill_value_to_double(type, p);
        const char *sep = i ? "," : "";
        if (type == RILL_TYPE_FLOAT)
            printf("%s%.9g", sep, x);
        else if (type == RILL_TYPE_DOUBLE)
            printf("%s%.17g", sep, x);
        else
            printf("%s%.0f", sep, x);
    }
    printf("]}\n");
    fflush(stdout);
    pthread_mutex_unlock(&d->out_lock);
}

static const char usage[] =
    "usage: pybela_device [--port N] [--rate HZ] [--block N] [--project NAME]\n"
    "                     [--log-dir DIR] [--bela-project NAME] [--compat-only]\n";

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"block", required_argument, NULL, 'b'},
        {"project", required_argument, NULL, 'P'},
        {"log-dir", required_argument, NULL, 'l'},
        {"bela-project", required_argument, NULL, 'B'},
        {"compat-only", no_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    static device d;
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.project_name = "pybela-device";
    d.rate = 44100;
    d.block = 64;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': cfg.port = atoi(optarg); break;
        case 'r': d.rate = atof(optarg); break;
        case 'b': d.block = (unsigned)atoi(optarg); break;
        case 'P': cfg.project_name = optarg; break;
        case 'l': cfg.log_dir = optarg; break;
        case 'B': cfg.bela_project = optarg; break;
        case 'C': cfg.compat_only = true; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc || !(d.rate > 0) || d.block == 0 || d.block > 65536) {
        fputs(usage, stderr);
        return 2;
    }
    cfg.sample_rate = d.rate;
    cfg.on_buffer = on_buffer;
    cfg.user = &d;
    pthread_mutex_init(&d.out_lock, NULL);

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = rill_server_create(&cfg, &d.srv);
    if (rc != 0) {
        fprintf(stderr, "pybela_device: rill_server_create: %s\n",
                rill_strerror(rc));
        return 1;
    }
    for (int i = 0; i < N_VARS; i++) {
        d.v[i] = rill_var_create(d.srv, var_defs[i].name, var_defs[i].type,
                                 var_defs[i].mode);
        if (d.v[i] == NULL) {
            fprintf(stderr, "pybela_device: cannot create %s\n",
                    var_defs[i].name);
            rill_server_destroy(d.srv);
            return 1;
        }
    }
    atomic_init(&d.stop, false);
    if (pthread_create(&d.thread, NULL, produce, &d) != 0) {
        rill_server_destroy(d.srv);
        return 1;
    }
    pthread_mutex_lock(&d.out_lock);
    if (cfg.bela_project != NULL)
        printf("pybela_device: listening on ws://127.0.0.1:%d (project %s, "
               "log dir " RILL_BELA_PROJECTS_DIR "/%s)\n",
               rill_server_port(d.srv), cfg.bela_project, cfg.bela_project);
    else
        printf("pybela_device: listening on ws://127.0.0.1:%d (project %s, "
               "log dir %s)\n",
               rill_server_port(d.srv), cfg.project_name, cfg.log_dir);
    fflush(stdout);
    pthread_mutex_unlock(&d.out_lock);

    int sig;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    atomic_store(&d.stop, true);
    pthread_join(d.thread, NULL);
    rill_server_destroy(d.srv);
    printf("pybela_device: stopped\n");
    return 0;
}
