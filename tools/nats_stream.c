/* rill stream --nats. See nats_stream.h. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "nats_stream.h"
#include "rill/nats.h"

static bool active;
static rill_nats_config ncfg;
static char device[80];
static atomic_ulong gaps;

bool nats_stream_active(void) { return active; }
unsigned long nats_stream_gaps(void) { return atomic_load(&gaps); }

static void on_gap(const rill_nats_gap *g, void *user) {
    (void)user;
    atomic_fetch_add(&gaps, 1);
    fprintf(stderr, "rill stream: %s.%s: ticks [%" PRIu64 ", %" PRIu64 ") are missing"
                    "%s: %s\n", g->device, g->variable, g->from_tick, g->to_tick,
            g->buffers ? "" : " (at most)", g->why);
}

static bool parse_replay(const char *s) {
    char *end = NULL;
    if (strcmp(s, "live") == 0) {
        ncfg.start = RILL_NATS_LIVE;
    } else if (strcmp(s, "all") == 0) {
        ncfg.start = RILL_NATS_ALL;
    } else if (strncmp(s, "seq:", 4) == 0) {
        ncfg.start = RILL_NATS_SEQ;
        ncfg.start_seq = strtoull(s + 4, &end, 10);
        return end != s + 4 && *end == '\0' && ncfg.start_seq > 0;
    } else if (strncmp(s, "time:", 5) == 0) {
        double t = strtod(s + 5, &end);
        ncfg.start = RILL_NATS_TIME;
        ncfg.start_time_ns = (int64_t)(t * 1e9);
        return end != s + 5 && *end == '\0' && t > 0;
    } else {
        return false;
    }
    return true;
}

int nats_stream_args(int *argc, char **argv) {
    int n = *argc, out = 1;
    bool seen = false;
    ncfg = rill_nats_config_default();
    ncfg.on_gap = on_gap;
    for (int i = 1; i < n; i++) {
        const char *a = argv[i];
        const char *opt = strcmp(a, "--nats") == 0 || strcmp(a, "--replay") == 0 ||
                                  strcmp(a, "--stream") == 0
                              ? a
                              : NULL;
        if (opt == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        if (i + 1 >= n) {
            fprintf(stderr, "rill stream: %s needs a value\n", opt);
            return EXIT_USAGE;
        }
        const char *val = argv[++i];
        if (opt[2] == 'n') {
            ncfg.nats_url = val;
            seen = true;
        } else if (opt[2] == 'r' && !parse_replay(val)) {
            fprintf(stderr, "rill stream: --replay takes live, all, seq:N (a stream "
                            "sequence) or time:SECONDS (Unix time), not '%s'\n", val);
            return EXIT_USAGE;
        } else if (opt[2] == 's') {
            ncfg.stream = val;
        }
    }
    if (!seen) {
        if (out != n) {
            fprintf(stderr, "rill stream: --replay and --stream go with --nats URL\n");
            return EXIT_USAGE;
        }
        return -1;
    }
    argv[out] = NULL;
    *argc = out;
    /* SUBJECT: [prefix.]device.var; every one names the same device. */
    static const char *const valued[] = {"-n", "-d", "-o", "--format", "--output",
                                         "--duration", "--url", "--token", "--at"};
    for (int i = 1; i < out; i++) {
        char *s = argv[i];
        bool value = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            value |= strcmp(argv[i - 1], valued[k]) == 0;
        if (s[0] == '-' || value)
            continue;
        char *dot = strrchr(s, '.');
        if (dot == NULL) {
            fprintf(stderr, "rill stream: '%s' is not a subject: with --nats name "
                            "<prefix>.<device>.<variable> (e.g. rill.board1.sine)\n", s);
            return EXIT_USAGE;
        }
        char *dev = dot;
        while (dev > s && dev[-1] != '.')
            dev--;
        char d[80];
        snprintf(d, sizeof d, "%.*s", (int)(dot - dev), dev);
        if (dev > s) {
            static char prefix[80];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(dev - 1 - s), s);
            ncfg.subject_prefix = prefix;
        }
        if (device[0] != '\0' && strcmp(device, d) != 0) {
            fprintf(stderr, "rill stream: with --nats every subject names one device "
                            "(%s and %s); run one rill stream per device\n", device, d);
            return EXIT_USAGE;
        }
        snprintf(device, sizeof device, "%s", d);
        memmove(s, dot + 1, strlen(dot + 1) + 1);
    }
    ncfg.device = device;
    active = true;
    return 0;
}

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN && strstr(msg, "are missing") == NULL)
        fprintf(stderr, "rill: %s\n", msg);
}

rill_client *nats_stream_connect(rill_client_config cfg, int *status) {
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    rill_client *cl = NULL;
    int rc = rill_nats_connect(&cfg, &ncfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "rill stream: cannot read %s from NATS at %s: %s\n", device,
                ncfg.nats_url, rill_strerror(rc));
        *status = EXIT_FAILED;
        return NULL;
    }
    return cl;
}
