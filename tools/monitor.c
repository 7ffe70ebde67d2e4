/* rill monitor: variables' values, one every period, as they come. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

static const char usage[] =
    "usage: rill monitor VAR... [--period TICKS] [-n COUNT] [--url URL] [--token T]\n"
    "                    [--timeout S]\n\n"
    "Print 'var tick value' every TICKS ticks (2 or more; default 1000, or a\n"
    "tenth of a second's ticks when that is fewer: 10 at 100 Hz) until Ctrl-C,\n"
    "or until COUNT values of each variable have been printed. For one value\n"
    "now, use rill peek.\n"
    HOST_URL_HELP
    "\nexamples:\n  rill monitor sine --period 4410\n  rill monitor frame gain -n 3\n";

typedef struct monitor_ctx {
    pthread_mutex_t lock;
    const char *const *names;
    size_t n;
    long *count;
    rill_type *types; /* each name's, from the list (set before monitoring) */
    long limit;
    atomic_bool lost;
    atomic_bool refused;
} monitor_ctx;

/* I/O thread. */
static void on_value(rill_client *cl, const char *name, uint64_t tick, double value,
                     void *user) {
    (void)cl;
    monitor_ctx *m = user;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->names[i], name) != 0 || (m->limit > 0 && m->count[i] >= m->limit))
            continue;
        m->count[i]++;
        char text[RILL_VALUE_TEXT_MAX];
        rill_value_format(m->types[i], value, text, sizeof text);
        printf("%s %llu %s\n", name, (unsigned long long)tick, text);
        fflush(stdout);
    }
    pthread_mutex_unlock(&m->lock);
}

/* I/O thread: the library has logged why. A refused command (the device
 * has no room for a monitor stream) ends the command as a lost connection
 * does; a report about a variable (RILL_EIO: another client's log) does
 * not. */
static void on_error(rill_client *cl, int err, const char *msg, void *user) {
    (void)cl;
    (void)msg;
    monitor_ctx *m = user;
    if (err == RILL_EINVAL)
        atomic_store(&m->refused, true);
    else if (err != RILL_EIO)
        atomic_store(&m->lost, true);
}

static bool all_printed(monitor_ctx *m) {
    bool all = m->limit > 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++)
        all &= m->count[i] >= m->limit;
    pthread_mutex_unlock(&m->lock);
    return all;
}

int cmd_monitor(int argc, char **argv) {
    static const struct option opts[] = {{"period", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    host h;
    host_init(&h, argc, argv, usage, "n:", opts);
    double period = 0, limit = 0; /* 0: the default, once the rate is known */
    int c, status;
    while ((c = host_next(&h)) > 0) {
        /* Period 1 is a one-shot on the device: one value, then nothing. */
        if (c == 'p' && !parse_option_number("monitor", "--period", optarg, 2, INT32_MAX,
                                             true, &period))
            return EXIT_USAGE;
        if (c == 'n' && !parse_option_number("monitor", "-n", optarg, 1, 1e9, true, &limit))
            return EXIT_USAGE;
    }
    if (c == CLI_STOP)
        return h.opts.status;
    if ((status = cli_args(&h.opts, 1, SIZE_MAX)) >= 0)
        return status;
    size_t n = (size_t)(argc - optind);
    monitor_ctx m = {.names = (const char *const *)(argv + optind), .n = n,
                     .limit = (long)limit};
    m.count = calloc(n, sizeof *m.count);
    m.types = calloc(n, sizeof *m.types);
    if (m.count == NULL || m.types == NULL) {
        free(m.count);
        free(m.types);
        return EXIT_FAILED;
    }
    for (size_t i = 0; i < n; i++)
        m.types[i] = RILL_TYPE_DOUBLE; /* until the list says */
    pthread_mutex_init(&m.lock, NULL);
    atomic_init(&m.lost, false);
    atomic_init(&m.refused, false);
    rill_client_config cfg = rill_client_config_default();
    cfg.on_monitor = on_value;
    cfg.on_error = on_error;
    cfg.user = &m;
    rill_client *cl = host_connect(&h, cfg, &status);
    const rill_client_var **vars = calloc(n, sizeof *vars);
    rill_client_list *l =
        cl != NULL && vars != NULL ? host_list(&h, cl, m.names, n, vars, &status) : NULL;
    pthread_mutex_lock(&m.lock);
    for (size_t i = 0; l != NULL && i < n; i++)
        m.types[i] = vars[i]->type;
    pthread_mutex_unlock(&m.lock);
    free(vars);
    /* 1000 ticks is 23 ms at 44.1 kHz and 100 s at 10 Hz. */
    if (period == 0) {
        double tenth = l != NULL && l->sample_rate > 0 ? floor(l->sample_rate / 10) : 1000;
        period = tenth < 2 ? 2 : tenth > 1000 ? 1000 : tenth;
    }
    int rc = l == NULL ? RILL_ENOTFOUND : rill_client_monitor(cl, m.names, n, (uint32_t)period);
    if (l != NULL && rc != 0)
        status = host_fail(&h, EXIT_FAILED, "%s", rill_strerror(rc));
    else if (l != NULL)
        status = EXIT_OK;
    host_catch_interrupt();
    while (rc == 0 && !host_interrupted() && !all_printed(&m)) {
        usleep(50000);
        if (atomic_load(&m.refused)) {
            status = host_fail(&h, EXIT_FAILED, "the device refused to monitor (its reason "
                               "is above)");
            break;
        }
        if (atomic_load(&m.lost)) {
            status = host_fail(&h, EXIT_FAILED, "the connection to %s was lost", h.url);
            break;
        }
    }
    if (status == EXIT_OK)
        rill_client_monitor(cl, m.names, n, 0);
    rill_client_list_free(l);
    rill_client_destroy(cl);
    pthread_mutex_destroy(&m.lock);
    free(m.count);
    free(m.types);
    return status;
}
