/* rill bridge: publish rill devices into NATS JetStream (rill/bridge.h,
 * docs/SCALE.md). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "host.h"
#include "rill/bridge.h"
#include "rill/rill.h"

static const char usage[] =
    "usage: rill bridge NAME=URL[=VAR,VAR...]... [--nats URL] [--replicas N]\n"
    "                   [--max-age SECONDS] [--max-bytes BYTES] [--stream NAME]\n"
    "                   [--prefix P] [--bucket B] [--length N] [--token T]\n"
    "                   [--no-dedupe]\n\n"
    "Connect to each rill device (rill serve, native mode) and publish its\n"
    "variables (all, or the VARs named) into the JetStream stream NAME (default\n"
    "RILL) as <prefix>.<NAME>.<variable> (prefix rill), one message per buffer,\n"
    "with acknowledged publishes retried until stored. Each device is announced\n"
    "in the KV bucket (default rill_devices), and its ticks are mapped to the\n"
    "host's clock by the clock exchange. --nats takes several comma-separated\n"
    "servers of a cluster (default nats://127.0.0.1:4222); --replicas N stores\n"
    "each message on N of them; --max-age and --max-bytes bound the retention\n"
    "(default 3600 s, 1 GiB). A device that goes away is connected to again\n"
    "every second (consumers report the ticks in between as missing). Runs\n"
    "until Ctrl-C or SIGTERM, then waits for the last acknowledgements; exits\n"
    "1 if any message could not be stored. --no-dedupe leaves out the\n"
    "Nats-Msg-Id that lets JetStream store a retried message once: it then\n"
    "stores ~10% more per second, and a retry may be stored twice\n"
    "(rill's consumers skip the second by its sequence). --length N: values\n"
    "per message (1-65536); by default sized for the device's rate, so that\n"
    "values reach consumers within a fraction of a second (the Bela buffer at\n"
    "audio rates; shorter at a sensor's: 1024 values at 100 Hz would take 10 s).\n"
    "Read a bridged device with: rill stream --nats URL rill.NAME.VAR ...\n\n"
    "example:\n"
    "  rill bridge board1=ws://10.0.0.5:5555=sine,frame --nats nats://hub:4222\n";

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* While the bridge is made, the library's first error is kept for the
 * one line that says why it could not be; after, every line is printed. */
static bool capturing;
static char captured[512];

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (strncmp(msg, "bridge: ", 8) == 0) /* this is rill bridge already */
        msg += 8;
    if (capturing && level <= RILL_LOG_ERROR) {
        if (captured[0] == '\0')
            snprintf(captured, sizeof captured, "%s", msg);
    } else if (level <= RILL_LOG_INFO) {
        fprintf(stderr, "rill bridge: %s\n", msg);
    }
}

/* NAME=URL[=VAR,...] split in place; false if it is not one. */
static bool split_spec(char *spec, char **url, char **list) {
    char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec || eq[1] == '\0')
        return false;
    *eq = '\0';
    *url = eq + 1;
    *list = strchr(*url, '=');
    if (*list != NULL)
        *(*list)++ = '\0';
    return true;
}

/* The options into cfg, *token and *length: -1 to go on, or the exit
 * status to return at once. */
static int parse(cli_opts *o, rill_bridge_config *cfg, const char **token,
                 uint32_t *length) {
    static const struct option opts[] = {
        {"nats", required_argument, NULL, 'N'},   {"replicas", required_argument, NULL, 'r'},
        {"max-age", required_argument, NULL, 'a'}, {"max-bytes", required_argument, NULL, 'b'},
        {"stream", required_argument, NULL, 's'},  {"prefix", required_argument, NULL, 'p'},
        {"bucket", required_argument, NULL, 'k'},  {"length", required_argument, NULL, 'l'},
        {"token", required_argument, NULL, 't'},   {"no-dedupe", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0}};
    cli_opts_init(o, o->argc, o->argv, usage, "", opts);
    double num = 0;
    int c;
    while ((c = cli_next(o)) > 0) {
        if (c == 'N')
            cfg->nats_url = optarg;
        else if (c == 's')
            cfg->stream = optarg;
        else if (c == 'p')
            cfg->subject_prefix = optarg;
        else if (c == 'k')
            cfg->kv_bucket = optarg;
        else if (c == 't')
            *token = optarg;
        else if (c == 'D')
            cfg->dedupe = false;
        else if (c == 'r') {
            if (!parse_option_number("bridge", "--replicas", optarg, 1, 5, true, &num))
                return EXIT_USAGE;
            cfg->replicas = (int)num;
        } else if (c == 'a') {
            if (!parse_option_number("bridge", "--max-age", optarg, 0, 1e9, false, &num))
                return EXIT_USAGE;
            cfg->max_age_s = num;
        } else if (c == 'b') {
            if (!parse_option_number("bridge", "--max-bytes", optarg, 1024, 1e15, true,
                                     &num))
                return EXIT_USAGE;
            cfg->max_bytes = (int64_t)num;
        } else if (c == 'l') {
            if (!parse_option_number("bridge", "--length", optarg, 1, 65536, true, &num))
                return EXIT_USAGE;
            *length = (uint32_t)num;
        }
    }
    if (c == CLI_STOP)
        return o->status;
    if (optind == o->argc) {
        fprintf(stderr, "rill bridge: name at least one device as NAME=ws://HOST:PORT\n");
        return EXIT_USAGE;
    }
    return -1;
}

/* For a device that lacks a variable asked of it: "; did you mean 'x'?"
 * for the first such name, from a list of the device's own, or "". */
static void nearest(const char *url, const char *token, const char *const *vars, size_t n,
                    char *out, size_t cap) {
    out[0] = '\0';
    rill_client_config cc = rill_client_config_default();
    cc.url = url;
    cc.token = token;
    rill_client *cl = NULL;
    rill_client_list *l = NULL;
    if (rill_client_connect(&cc, &cl) == 0 && rill_client_list_vars(cl, &l) == 0)
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            while (k < l->n_vars && strcmp(l->vars[k].name, vars[i]) != 0)
                k++;
            if (k == l->n_vars) {
                host_suggest(l, vars[i], out, cap);
                break;
            }
        }
    rill_client_list_free(l);
    rill_client_destroy(cl);
}

/* The bridge of the devices argv[first..argc) (their specs split into
 * urls and lists), until a signal: the exit status. */
static int run(const rill_bridge_config *cfg, int first, int argc, char **argv, char **urls,
               char **lists, const char *token, uint32_t length) {
    rill_set_log_callback(print_log, RILL_LOG_INFO, NULL);
    rill_bridge *b = NULL;
    capturing = true;
    int rc = rill_bridge_create(cfg, &b);
    capturing = false;
    if (rc != 0) {
        /* The library's sentence says where and what to check. */
        if (captured[0] != '\0')
            fprintf(stderr, "rill bridge: %s\n", captured);
        else
            fprintf(stderr, "rill bridge: cannot use NATS at %s: %s\n", cfg->nats_url,
                    rill_strerror(rc));
        return EXIT_FAILED;
    }
    for (int i = first; i < argc; i++) {
        const char *vars[256];
        size_t nv = 0;
        if (lists[i] != NULL)
            for (char *save = NULL, *t = strtok_r(lists[i], ",", &save); t && nv < 256;
                 t = strtok_r(NULL, ",", &save))
                vars[nv++] = t;
        rill_bridge_device d = {argv[i], urls[i], token, nv ? vars : NULL, nv, length};
        captured[0] = '\0';
        capturing = true;
        rc = rill_bridge_add(b, &d);
        capturing = false;
        if (rc != 0) {
            char why[512], hint[160] = "";
            snprintf(why, sizeof why, "%s", captured[0] != '\0' ? captured : rill_strerror(rc));
            capturing = true; /* the look-up's own failures are not the news */
            if (rc == RILL_ENOTFOUND && nv != 0)
                nearest(urls[i], token, vars, nv, hint, sizeof hint);
            capturing = false;
            fprintf(stderr, "rill bridge: cannot bridge %s (%s): %s%s\n", argv[i], urls[i],
                    why, hint);
            rill_bridge_destroy(b);
            return rc == RILL_EINVAL ? EXIT_USAGE : EXIT_FAILED;
        }
    }
    printf("rill bridge: publishing %d device(s) to %s (stream %s, replicas %d)\n",
           argc - first, cfg->nats_url, cfg->stream, cfg->replicas);
    fflush(stdout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    bool tty = isatty(STDERR_FILENO);
    while (!stop) {
        usleep(200000);
        if (!tty)
            continue;
        rill_bridge_stats st;
        rill_bridge_get_stats(b, &st);
        fprintf(stderr, "\r%" PRIu64 " published, %" PRIu64 " stored, %" PRIu64
                        " retried, %" PRIu64 " lost, %" PRIu64 " dropped by devices%s ",
                st.published, st.acked, st.retried, st.lost, st.device_drops,
                st.connected ? "" : " (reconnecting)");
    }
    if (tty)
        fputc('\n', stderr);
    rill_bridge_stats st;
    rill_bridge_get_stats(b, &st);
    rill_bridge_destroy(b);
    if (st.lost != 0) {
        fprintf(stderr, "rill bridge: %" PRIu64 " messages could not be stored "
                        "(consumers report their spans as gaps)\n", st.lost);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int cmd_bridge(int argc, char **argv) {
    rill_bridge_config cfg = rill_bridge_config_default();
    const char *token = NULL;
    uint32_t length = 0;
    cli_opts o = {.argc = argc, .argv = argv};
    int status = parse(&o, &cfg, &token, &length);
    if (status >= 0)
        return status;
    /* Every device's spec is checked before anything connects: a typo is
     * a usage error at once, not after NATS answered. */
    char **urls = calloc((size_t)argc, sizeof *urls);
    char **lists = calloc((size_t)argc, sizeof *lists);
    if (urls == NULL || lists == NULL) {
        fprintf(stderr, "rill bridge: out of memory\n");
        status = EXIT_FAILED;
    }
    for (int i = optind; status < 0 && i < argc; i++)
        if (!split_spec(argv[i], &urls[i], &lists[i])) {
            fprintf(stderr, "rill bridge: '%s' is not NAME=ws://HOST:PORT[=VAR,...]\n",
                    argv[i]);
            status = EXIT_USAGE;
        }
    if (status < 0)
        status = run(&cfg, optind, argc, argv, urls, lists, token, length);
    free(urls);
    free(lists);
    return status;
}
