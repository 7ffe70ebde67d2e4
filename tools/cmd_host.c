/* The host-side commands: rill ls, stream, peek, set, monitor, log, send.
 * Each connects with rill_client to --url (default $RILL_URL, else
 * ws://127.0.0.1:5555). */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "rill/rill.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN)
        fprintf(stderr, "rill: %s\n", msg);
}

static const char *default_url(void) {
    const char *u = getenv("RILL_URL");
    return u != NULL && *u ? u : "ws://127.0.0.1:5555";
}

/* Connect or explain why not; the library has logged the reason. */
static rill_client *connect_with(const char *url, const char *token,
                                 rill_client_buffer_fn on_buffer,
                                 rill_client_error_fn on_error, void *user) {
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.token = token;
    cfg.on_buffer = on_buffer;
    cfg.on_error = on_error;
    cfg.user = user;
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "rill: cannot connect to %s: %s%s\n", url,
                rill_strerror(rc),
                rc == RILL_EREFUSED ? " (is \"rill serve\" running?)" : "");
        return NULL;
    }
    return cl;
}

static rill_client *connect_or_explain(const char *url, const char *token) {
    return connect_with(url, token, NULL, NULL, NULL);
}

/* Commands whose only options are --url, --token and --help, with exactly
 * `want_args` arguments: returns an exit status to return now, or -1 to go
 * on (the log callback is then installed). */
static int simple(int argc, char **argv, int want_args, const char *usage,
                  const char **url, const char **token) {
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *url = default_url();
    *token = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'u')
            *url = optarg;
        else if (c == 't')
            *token = optarg;
        else if (c == 'h') {
            fputs(usage, stdout);
            return EXIT_OK;
        } else
            return EXIT_USAGE;
    }
    if (argc - optind > want_args) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0],
                argv[optind + want_args]);
        return EXIT_USAGE;
    }
    if (argc - optind < want_args) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    return -1;
}

/* ---- rill ls ----------------------------------------------------------------- */

static const char ls_usage[] =
    "usage: rill ls [--url URL] [--token T]\n\n"
    "List the device's variables: a header line, then one variable per line,\n"
    "name first: type, timestamp mode, values per Bela buffer, stream and log\n"
    "state, control, monitor period, and the value the program reads now.\n\nexamples:\n  rill ls\n  rill ls --url ws://bela.local:5555\n";

int cmd_ls(int argc, char **argv) {
    const char *url, *token;
    int rc = simple(argc, argv, 0, ls_usage, &url, &token);
    if (rc >= 0)
        return rc;
    rill_client *cl = connect_or_explain(url, token);
    if (cl == NULL)
        return EXIT_FAILED;
    rill_client_list *l = NULL;
    rc = rill_client_list_vars(cl, &l);
    if (rc != 0) {
        fprintf(stderr, "rill ls: no list from %s: %s\n", url, rill_strerror(rc));
        rill_client_destroy(cl);
        return EXIT_FAILED;
    }
    printf("%-16s %-7s %-7s %-7s %-8s %-7s %-10s %-8s %s\n", "name", "type", "mode",
           "length", "watched", "logged", "controlled", "monitor", "value");
    for (size_t i = 0; i < l->n_vars; i++) {
        const rill_client_var *v = &l->vars[i];
        printf("%-16s %-7s %-7s %-7u %-8s %-7s %-10s %-8u %.17g\n", v->name,
               rill_type_name(v->type),
               v->mode == RILL_TS_DENSE ? "dense" : "sparse", v->length,
               v->watched ? "yes" : "no", v->logged ? "yes" : "no",
               v->controlled ? "yes" : "no", v->monitor, v->value);
    }
    rill_client_list_free(l);
    rill_client_destroy(cl);
    return EXIT_OK;
}

/* ---- rill stream ------------------------------------------------------------- */

static const char stream_usage[] =
    "usage: rill stream VAR... [-n N | -d SECONDS] [--at TICK] [-o DIR]\n"
    "                   [--format bin|csv|jsonl|wav|flac] [--url URL] [--token T]\n\n"
    "Stream variables from the device. With -o, each goes to DIR/<var>.<format>\n"
    "(default format csv), written as it arrives; without, lines\n"
    "'var,tick,value' go to standard output. -n takes exactly N values of\n"
    "each variable, -d the values of SECONDS seconds (dense variables: exactly\n"
    "SECONDS x rate); without either, streaming goes on until Ctrl-C.\n"
    "Progress shows on a terminal.\n\nexamples:\n"
    "  rill stream frame -n 44100 -o data --format wav\n"
    "  rill stream sine noise -d 2 -o data\n"
    "  rill stream events -d 5 | head\n";

typedef struct var_out {
    const rill_client_var *var;
    rill_file_writer *writer;
    uint64_t have, want; /* want 0: no limit */
    uint64_t next_ts;
    uint64_t skipped, skip_from, skip_to; /* ticks the device never produced */
    bool done, gap;
} var_out;

typedef struct stream_ctx {
    pthread_mutex_t lock;
    var_out *vars;
    size_t n;
    uint64_t start;
    uint64_t bytes, drops;
    int write_error;
    atomic_bool lost; /* the connection failed (I/O thread) */
} stream_ctx;

static void on_stream_error(int err, const char *msg, void *user) {
    (void)err;
    (void)msg; /* the library has logged it */
    atomic_store(&((stream_ctx *)user)->lost, true);
}

static void print_values(const rill_client_buffer *b, size_t k) {
    size_t size = rill_type_size(b->type);
    for (size_t i = 0; i < k; i++) {
        double v = rill_value_to_double(b->type, (const uint8_t *)b->values + i * size);
        uint64_t t = b->first_ts + (b->rel ? b->rel[i] : i);
        printf("%s,%llu,%.17g\n", b->name, (unsigned long long)t, v);
    }
}

/* I/O thread: take what the request asks for, in order, without gaps. */
static void on_stream_buffer(const rill_client_buffer *b, void *user) {
    stream_ctx *ctx = user;
    pthread_mutex_lock(&ctx->lock);
    var_out *o = NULL;
    for (size_t i = 0; i < ctx->n; i++)
        if (ctx->vars[i].var->id == b->var_id)
            o = &ctx->vars[i];
    if (o == NULL || o->done || b->first_ts < ctx->start) {
        pthread_mutex_unlock(&ctx->lock);
        return;
    }
    ctx->drops += b->dropped;
    /* Both are reported at the end; the data stays. */
    if (b->dropped != 0) {
        o->gap = true;
    } else if (o->have != 0 && b->mode == RILL_TS_DENSE && b->first_ts != o->next_ts) {
        /* Nothing was dropped on the way, yet the ticks jumped: the device's
         * clock skipped them (an audio xrun, or a source that restarted). */
        if (o->skipped == 0) {
            o->skip_from = o->next_ts;
            o->skip_to = b->first_ts;
        }
        o->skipped++;
    }
    size_t k = b->count;
    if (o->want != 0 && o->have + k > o->want)
        k = (size_t)(o->want - o->have);
    if (o->writer != NULL) {
        int rc = rill_file_writer_write(o->writer, b->first_ts, b->values, k, b->rel);
        if (rc != 0 && ctx->write_error == 0)
            ctx->write_error = rc;
    } else {
        print_values(b, k);
    }
    o->have += k;
    o->next_ts = b->first_ts + b->count;
    ctx->bytes += k * rill_type_size(b->type);
    if ((o->want != 0 && o->have >= o->want) || b->last)
        o->done = true;
    pthread_mutex_unlock(&ctx->lock);
}

int cmd_stream(int argc, char **argv) {
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},   {"token", required_argument, NULL, 't'},
        {"at", required_argument, NULL, 'a'},    {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL, *dir = NULL, *fmt_name = "csv";
    double n_values = 0, seconds = 0, at = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:d:o:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'o': dir = optarg; break;
        case 'f': fmt_name = optarg; break;
        case 'n': n_values = strtod(optarg, &end); break;
        case 'd': seconds = strtod(optarg, &end); break;
        case 'a': at = strtod(optarg, &end); break;
        case 'h': fputs(stream_usage, stdout); return EXIT_OK;
        default:
            fprintf(stderr, "Run 'rill stream --help' for the options.\n");
            return EXIT_USAGE;
        }
        if (end != NULL && (*end != '\0' || strtod(optarg, NULL) < 0)) {
            fprintf(stderr, "rill stream: -%c expects a non-negative number, got '%s'\n",
                    c == 'a' ? 'a' : c, optarg);
            return EXIT_USAGE;
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0 || (n_values > 0 && seconds > 0)) {
        fprintf(stderr, n == 0 ? "rill stream: name at least one variable\n"
                               : "rill stream: -n and -d exclude each other\n");
        return EXIT_USAGE;
    }
    rill_file_format fmt;
    if (rill_file_format_from_name(fmt_name, &fmt) != 0) {
        fprintf(stderr, "rill stream: unknown format '%s' (bin, csv, jsonl, wav, flac)\n",
                fmt_name);
        return EXIT_USAGE;
    }
    if (dir != NULL && mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0) {
        fprintf(stderr, "rill stream: cannot use directory %s\n", dir);
        return EXIT_FAILED;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    stream_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    pthread_mutex_init(&ctx.lock, NULL);
    ctx.start = UINT64_MAX; /* nothing is taken before the start is known */
    rill_client *cl = connect_with(url, token, on_stream_buffer, on_stream_error, &ctx);
    if (cl == NULL)
        return EXIT_FAILED;
    int status = EXIT_FAILED;
    rill_client_list *l = NULL;
    var_out *outs = calloc(n, sizeof *outs);
    if (outs == NULL || rill_client_list_vars(cl, &l) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *name = argv[optind + (int)i];
        for (size_t k = 0; k < l->n_vars; k++)
            if (strcmp(l->vars[k].name, name) == 0)
                outs[i].var = &l->vars[k];
        if (outs[i].var == NULL) {
            fprintf(stderr, "rill stream: the device has no variable '%s' (see rill ls)\n",
                    name);
            goto out;
        }
        const rill_client_var *v = outs[i].var;
        outs[i].want = n_values > 0 ? (uint64_t)n_values
                       : seconds > 0 && v->mode == RILL_TS_DENSE
                           ? (uint64_t)llround(seconds * l->sample_rate)
                           : 0;
        if (dir != NULL) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.%s", dir, v->name, fmt_name);
            rill_file_info info = {v->name, v->type, v->mode, l->sample_rate};
            int rc = rill_file_writer_create(path, fmt, &info, &outs[i].writer);
            if (rc != 0) {
                fprintf(stderr, "rill stream: cannot write %s: %s\n", path,
                        rill_strerror(rc));
                goto out;
            }
        }
    }
    /* Start a little after the device's latest tick (or at --at), so that
     * every variable starts on the same tick and nothing older is taken. */
    uint64_t start = at > 0 ? (uint64_t)at
                            : l->timestamp + (uint64_t)(l->sample_rate / 20) + 64;
    pthread_mutex_lock(&ctx.lock);
    ctx.vars = outs;
    ctx.n = n;
    ctx.start = start;
    pthread_mutex_unlock(&ctx.lock);
    const char **names = (const char **)(argv + optind);
    rill_client_stream_opts so = {start, 0, 0, 0};
    if (rill_client_stream_start(cl, names, n, &so) != 0)
        goto out;
    signal(SIGINT, on_sigint);
    bool tty = isatty(STDERR_FILENO);
    uint64_t t0 = rill_clock_now_ns();
    double limit_s = seconds > 0 ? seconds + 2.0 + (double)(start - l->timestamp) / l->sample_rate
                                 : 0;
    for (;;) {
        usleep(100000);
        pthread_mutex_lock(&ctx.lock);
        bool all = true;
        uint64_t values = 0;
        for (size_t i = 0; i < n; i++) {
            all &= outs[i].done;
            values += outs[i].have;
        }
        uint64_t bytes = ctx.bytes, drops = ctx.drops;
        pthread_mutex_unlock(&ctx.lock);
        double elapsed = (double)(rill_clock_now_ns() - t0) / 1e9;
        if (tty)
            fprintf(stderr, "\r%.1f s, %llu values, %.1f kB, %llu dropped ", elapsed,
                    (unsigned long long)values, (double)bytes / 1e3,
                    (unsigned long long)drops);
        bool timed = limit_s > 0 && elapsed > limit_s;
        if (all || interrupted || timed)
            break;
        if (atomic_load(&ctx.lost)) {
            fprintf(stderr, "%srill stream: the connection to %s was lost; the "
                            "files keep what arrived\n", tty ? "\n" : "", url);
            goto out;
        }
    }
    if (tty)
        fputc('\n', stderr);
    rill_client_stream_stop(cl, names, n);
    status = EXIT_OK;
    pthread_mutex_lock(&ctx.lock);
    for (size_t i = 0; i < n; i++) {
        if (outs[i].gap) {
            fprintf(stderr, "rill stream: %s: buffers were lost in transit (drops "
                            "are counted in the progress line)\n", outs[i].var->name);
            status = EXIT_FAILED;
        }
        if (outs[i].skipped != 0) {
            fprintf(stderr, "rill stream: %s: the device's clock jumped from tick %llu "
                            "to %llu%s (an audio xrun or a restarted source: those "
                            "values were never produced); the file has the gap\n",
                    outs[i].var->name, (unsigned long long)outs[i].skip_from,
                    (unsigned long long)outs[i].skip_to,
                    outs[i].skipped > 1 ? " and more" : "");
            status = EXIT_FAILED;
        }
        if (outs[i].want != 0 && outs[i].have < outs[i].want && !interrupted) {
            fprintf(stderr, "rill stream: %s: %llu of %llu values arrived\n",
                    outs[i].var->name, (unsigned long long)outs[i].have,
                    (unsigned long long)outs[i].want);
            status = EXIT_FAILED;
        }
    }
    if (ctx.write_error != 0) {
        fprintf(stderr, "rill stream: writing failed: %s\n", rill_strerror(ctx.write_error));
        status = EXIT_FAILED;
    }
    pthread_mutex_unlock(&ctx.lock);
out:
    rill_client_destroy(cl); /* no callback runs after this */
    for (size_t i = 0; outs != NULL && i < n; i++) {
        if (outs[i].writer != NULL && rill_file_writer_close(outs[i].writer) != 0)
            status = EXIT_FAILED;
        if (outs[i].writer != NULL && dir != NULL)
            fprintf(stderr, "rill stream: %s: %llu values -> %s/%s.%s\n",
                    outs[i].var->name, (unsigned long long)outs[i].have, dir,
                    outs[i].var->name, fmt_name);
    }
    free(outs);
    rill_client_list_free(l);
    pthread_mutex_destroy(&ctx.lock);
    return status;
}

/* ---- rill peek / rill set ---------------------------------------------------- */

static const char peek_usage[] =
    "usage: rill peek VAR [--url URL] [--token T]\n\n"
    "Print the variable's current value and the tick it was set at.\n\n"
    "example:\n  rill peek sine\n";

int cmd_peek(int argc, char **argv) {
    const char *url, *token;
    int rc = simple(argc, argv, 1, peek_usage, &url, &token);
    if (rc >= 0)
        return rc;
    rill_client *cl = connect_or_explain(url, token);
    if (cl == NULL)
        return EXIT_FAILED;
    double v;
    uint64_t tick;
    rc = rill_client_peek(cl, argv[optind], &v, &tick);
    if (rc == 0)
        printf("%s %llu %.17g\n", argv[optind], (unsigned long long)tick, v);
    else
        fprintf(stderr, "rill peek: %s: %s\n", argv[optind], rill_strerror(rc));
    rill_client_destroy(cl);
    return rc == 0 ? EXIT_OK : EXIT_FAILED;
}

static const char set_usage[] =
    "usage: rill set VAR VALUE [--mask MASK] [--url URL] [--token T]\n\n"
    "Take control of the variable and set the value the device program reads\n"
    "(rill_var_get). The variable stays controlled. With --mask, only the bits\n"
    "set in MASK change (Bela's setMask; integer variables; VALUE and MASK may\n"
    "be written in hex, 0x...).\n\n"
    "examples:\n  rill set gain 0.5\n  rill set flags 0x05 --mask 0x0f\n";

/* An unsigned 32-bit integer, decimal or 0x hex. */
static bool parse_u32(const char *s, uint32_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *s == '-' || *end != '\0' || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

int cmd_set(int argc, char **argv) {
    static const struct option opts[] = {{"mask", required_argument, NULL, 'm'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL, *mask_arg = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'm')
            mask_arg = optarg;
        else if (c == 'u')
            url = optarg;
        else if (c == 't')
            token = optarg;
        else if (c == 'h') {
            fputs(set_usage, stdout);
            return EXIT_OK;
        } else
            return EXIT_USAGE;
    }
    if (argc - optind != 2) {
        fputs(set_usage, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind], *text = argv[optind + 1];
    double value = 0;
    uint32_t bits = 0, mask = 0;
    if (mask_arg != NULL) {
        if (!parse_u32(mask_arg, &mask) || !parse_u32(text, &bits)) {
            fprintf(stderr, "rill set: with --mask, VALUE and MASK are unsigned "
                            "32-bit integers (e.g. 5 or 0x05), not '%s' and '%s'\n",
                    text, mask_arg);
            return EXIT_USAGE;
        }
    } else {
        char *end;
        value = strtod(text, &end);
        if (*text == '\0' || *end != '\0') {
            fprintf(stderr, "rill set: '%s' is not a number\n", text);
            return EXIT_USAGE;
        }
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    rill_client *cl = connect_or_explain(url, token);
    if (cl == NULL)
        return EXIT_FAILED;
    int rc = rill_client_control(cl, name, true);
    if (rc == 0)
        rc = mask_arg != NULL ? rill_client_set_mask(cl, name, bits, mask)
                              : rill_client_set(cl, name, value);
    if (rc != 0)
        fprintf(stderr, "rill set: %s: %s\n", name, rill_strerror(rc));
    rill_client_destroy(cl);
    return rc == 0 ? EXIT_OK : EXIT_FAILED;
}

/* ---- rill monitor ------------------------------------------------------------ */

static const char monitor_usage[] =
    "usage: rill monitor VAR... [--period TICKS] [-n COUNT] [--url URL] [--token T]\n\n"
    "Print 'var tick value' every TICKS ticks (default 1000) until Ctrl-C, or\n"
    "until COUNT values of each variable have been printed.\n\n"
    "examples:\n  rill monitor sine --period 4410\n  rill monitor frame gain -n 3\n";

typedef struct monitor_ctx {
    pthread_mutex_t lock;
    const char **names;
    size_t n;
    long *count;
    long limit;
    atomic_bool lost;
} monitor_ctx;

static void on_monitor_value(const char *name, uint64_t tick, double value,
                             void *user) {
    monitor_ctx *m = user;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->names[i], name) != 0 ||
            (m->limit > 0 && m->count[i] >= m->limit))
            continue;
        m->count[i]++;
        printf("%s %llu %.17g\n", name, (unsigned long long)tick, value);
        fflush(stdout);
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_monitor_error(int err, const char *msg, void *user) {
    (void)err;
    (void)msg;
    atomic_store(&((monitor_ctx *)user)->lost, true);
}

int cmd_monitor(int argc, char **argv) {
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"period", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL;
    long period = 1000, limit = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'p': period = strtol(optarg, &end, 10); break;
        case 'n': limit = strtol(optarg, &end, 10); break;
        case 'h': fputs(monitor_usage, stdout); return EXIT_OK;
        default: fputs(monitor_usage, stderr); return EXIT_USAGE;
        }
        if (end != NULL && *end != '\0') {
            fprintf(stderr, "rill monitor: '%s' is not a whole number\n", optarg);
            return EXIT_USAGE;
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0 || period < 1 || period > INT32_MAX || limit < 0) {
        fputs(monitor_usage, stderr);
        return EXIT_USAGE;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    monitor_ctx m = {.names = (const char **)(argv + optind), .n = n, .limit = limit};
    m.count = calloc(n, sizeof *m.count);
    pthread_mutex_init(&m.lock, NULL);
    atomic_init(&m.lost, false);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.token = token;
    cfg.on_monitor = on_monitor_value;
    cfg.on_error = on_monitor_error;
    cfg.user = &m;
    rill_client *cl = NULL;
    int rc = m.count == NULL ? RILL_ENOMEM : rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "rill: cannot connect to %s: %s%s\n", url, rill_strerror(rc),
                rc == RILL_EREFUSED ? " (is \"rill serve\" running?)" : "");
        free(m.count);
        return EXIT_FAILED;
    }
    int status = EXIT_OK;
    rc = rill_client_monitor(cl, m.names, n, (uint32_t)period);
    if (rc != 0) {
        fprintf(stderr, "rill monitor: %s\n", rill_strerror(rc));
        status = EXIT_FAILED;
    }
    signal(SIGINT, on_sigint);
    while (rc == 0 && !interrupted) {
        usleep(50000);
        if (atomic_load(&m.lost)) {
            fprintf(stderr, "rill monitor: the connection to %s was lost\n", url);
            status = EXIT_FAILED;
            break;
        }
        bool all = limit > 0;
        pthread_mutex_lock(&m.lock);
        for (size_t i = 0; i < n; i++)
            all &= m.count[i] >= limit;
        pthread_mutex_unlock(&m.lock);
        if (all)
            break;
    }
    if (status == EXIT_OK)
        rill_client_monitor(cl, m.names, n, 0);
    rill_client_destroy(cl);
    pthread_mutex_destroy(&m.lock);
    free(m.count);
    return status;
}

/* ---- rill log ---------------------------------------------------------------- */

static const char log_usage[] =
    "usage: rill log VAR... -d SECONDS [--at TICK] [-o DIR] [--url URL] [--token T]\n\n"
    "Log variables on the device for SECONDS seconds (dense variables: exactly\n"
    "SECONDS x rate values), starting at tick TICK or now, then download the\n"
    "finished files (Watcher .bin format) into DIR (default .). The device\n"
    "writes the files itself, so nothing is lost if this host is slow; a Bela\n"
    "board's files are copied with scp instead (the message says how).\n"
    "Progress shows on a terminal. Ctrl-C stops logging early and still\n"
    "downloads what was logged.\n\nexamples:\n"
    "  rill log sine noise -d 2 -o logs\n"
    "  rill info logs/sine.bin\n";

int cmd_log(int argc, char **argv) {
    static const struct option opts[] = {{"duration", required_argument, NULL, 'd'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL, *dir = ".";
    double seconds = 0;
    long long at = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:o:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'd':
            seconds = strtod(optarg, &end);
            if (*end != '\0' || !(seconds > 0) || seconds > 1e7) {
                fprintf(stderr, "rill log: -d wants a positive number of seconds, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            at = strtoll(optarg, &end, 10);
            if (*end != '\0' || at <= 0) {
                fprintf(stderr, "rill log: --at wants a tick > 0, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'o':
            dir = optarg;
            break;
        case 'u':
            url = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'h':
            fputs(log_usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind >= argc || seconds <= 0) {
        fputs(log_usage, stderr);
        return EXIT_USAGE;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "rill log: %s is not a directory (create it first)\n", dir);
        return EXIT_USAGE;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    rill_client *cl = connect_or_explain(url, token);
    if (cl == NULL)
        return EXIT_FAILED;
    const char **names = (const char **)(argv + optind);
    size_t n = (size_t)(argc - optind);
    int status = EXIT_FAILED;
    rill_client_log_file *files = calloc(n, sizeof *files);
    rill_client_list *l = NULL;
    int rc = files != NULL ? rill_client_list_vars(cl, &l) : RILL_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "rill log: no list from %s: %s\n", url, rill_strerror(rc));
        goto out;
    }
    double rate = l->sample_rate > 0 ? l->sample_rate : 1;
    uint64_t start = at > 0 ? (uint64_t)at : l->timestamp + (uint64_t)(rate / 20) + 64;
    uint64_t dur = (uint64_t)llround(seconds * rate);
    rill_client_stream_opts so = {start, dur ? dur : 1, 0, 0};
    if ((rc = rill_client_log_start(cl, names, n, &so, files)) != 0) {
        fprintf(stderr, "rill log: cannot start logging: %s\n", rill_strerror(rc));
        goto out;
    }
    signal(SIGINT, on_sigint);
    bool tty = isatty(STDERR_FILENO);
    uint64_t t0 = rill_clock_now_ns();
    /* Until the device's clock passes the end, plus slack for a device
     * that is slower than its rate says. */
    double wait_s = (double)(start + so.duration - l->timestamp) / rate;
    for (;;) {
        usleep(100000);
        double elapsed = (double)(rill_clock_now_ns() - t0) / 1e9;
        rill_client_list *now = NULL;
        if ((rc = rill_client_list_vars(cl, &now)) != 0) {
            fprintf(stderr, "%srill log: lost %s: %s; the device keeps what it "
                            "logged\n", tty ? "\n" : "", url, rill_strerror(rc));
            goto out;
        }
        bool logging = false;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < now->n_vars; k++)
                if (strcmp(now->vars[k].name, names[i]) == 0)
                    logging |= now->vars[k].logged;
        uint64_t tick = now->timestamp;
        rill_client_list_free(now);
        double done = tick > start ? (double)(tick - start) / rate : 0;
        if (tty)
            fprintf(stderr, "\r%.1f s, %.2f of %.2f s logged ", elapsed,
                    done < seconds ? done : seconds, seconds);
        if ((tick >= start + so.duration && !logging) || interrupted)
            break;
        if (elapsed > wait_s + 10) {
            fprintf(stderr, "%srill log: the device has not finished after %.0f s; "
                            "stopping it\n", tty ? "\n" : "", elapsed);
            break;
        }
    }
    if (tty)
        fputc('\n', stderr);
    if ((rc = rill_client_log_stop(cl, names, n)) != 0) {
        fprintf(stderr, "rill log: cannot stop logging: %s\n", rill_strerror(rc));
        goto out;
    }
    status = EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        rc = rill_client_fetch(cl, files[i].name, path, 10000);
        if (rc != 0) {
            fprintf(stderr, "rill log: %s: the device's file %s was not "
                            "downloaded: %s\n", names[i], files[i].name,
                    rill_strerror(rc));
            status = EXIT_FAILED;
            continue;
        }
        struct stat fs;
        stat(path, &fs);
        fprintf(stderr, "rill log: %s: %lld bytes -> %s\n", names[i],
                (long long)fs.st_size, path);
    }
out:
    rill_client_list_free(l);
    rill_client_destroy(cl);
    free(files);
    return status;
}

/* ---- rill send --------------------------------------------------------------- */

static const char send_usage[] =
    "usage: rill send [--channel N] [--type c|i|j|f|d] VALUE... [--url URL] [--token T]\n"
    "       rill send [--channel N] [--type T] - < values.txt\n\n"
    "Send one buffer of values to the device program's buffer callback, as\n"
    "pybela's send_buffer does: channel N (default 0), values of type T\n"
    "(default f, float; i int32, j uint32, c char, d double). With '-' the\n"
    "values are read from standard input, separated by spaces, commas or\n"
    "newlines. Integer types refuse fractions and values out of their range;\n"
    "float rounds to the nearest float and refuses only overflow.\n\nexamples:\n"
    "  rill send 1 2 3.5\n"
    "  rill send --channel 1 --type i 10 20 30\n"
    "  seq 1 1024 | rill send -\n";

/* Append the numbers of `text` to *vals; 0 or the bad token's index + 1. */
static int parse_values(const char *text, double **vals, size_t *n,
                        size_t *cap, const char **bad) {
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0')
            return 0;
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end != '\0' && strchr(" ,\n\t\r", *end) == NULL)) {
            *bad = p;
            return -1;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            double *nv = realloc(*vals, *cap * sizeof *nv);
            if (nv == NULL)
                return -2;
            *vals = nv;
        }
        (*vals)[(*n)++] = v;
        p = end;
    }
}

int cmd_send(int argc, char **argv) {
    static const struct option opts[] = {{"channel", required_argument, NULL, 'c'},
                                         {"type", required_argument, NULL, 'y'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL;
    unsigned long channel = 0;
    rill_type type = RILL_TYPE_FLOAT;
    /* Options may come anywhere, and "-0.5" is a value, not an option:
     * reorder argv as options first, then "--", then the values. */
    char **av = calloc((size_t)argc + 2, sizeof *av);
    if (av == NULL)
        return EXIT_FAILED;
    int na = 0, nv = 0;
    char **values = calloc((size_t)argc + 1, sizeof *values);
    if (values == NULL) {
        free(av);
        return EXIT_FAILED;
    }
    av[na++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        bool number = a[0] == '-' && a[1] != '\0' && (strtod(a, &end), *end == '\0');
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                values[nv++] = argv[i];
        } else if (a[0] == '-' && a[1] != '\0' && !number) {
            av[na++] = argv[i];
            bool takes = strcmp(a, "--channel") == 0 || strcmp(a, "--type") == 0 ||
                         strcmp(a, "--url") == 0 || strcmp(a, "--token") == 0;
            if (takes && i + 1 < argc)
                av[na++] = argv[++i];
        } else {
            values[nv++] = argv[i];
        }
    }
    av[na++] = "--";
    for (int i = 0; i < nv; i++)
        av[na++] = values[i];
    free(values);
    argc = na;
    argv = av;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'c':
            channel = strtoul(optarg, &end, 10);
            if (*end != '\0' || channel > UINT32_MAX) {
                fprintf(stderr, "rill send: --channel wants a number, not '%s'\n", optarg);
                free(av);
                return EXIT_USAGE;
            }
            break;
        case 'y':
            if (strlen(optarg) != 1 || rill_type_from_letter(optarg[0], &type) != 0) {
                fprintf(stderr, "rill send: --type wants c, i, j, f or d, not '%s'\n", optarg);
                free(av);
                return EXIT_USAGE;
            }
            break;
        case 'u':
            url = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'h':
            fputs(send_usage, stdout);
            free(av);
            return EXIT_OK;
        default:
            free(av);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(send_usage, stderr);
        free(av);
        return EXIT_USAGE;
    }
    double *vals = NULL;
    size_t n = 0, cap = 0;
    const char *bad = NULL;
    int status = EXIT_USAGE;
    for (int i = optind; i < argc; i++) {
        int prc;
        if (strcmp(argv[i], "-") == 0) {
            char line[4096];
            prc = 0;
            while (prc == 0 && fgets(line, sizeof line, stdin) != NULL)
                prc = parse_values(line, &vals, &n, &cap, &bad);
        } else {
            prc = parse_values(argv[i], &vals, &n, &cap, &bad);
        }
        if (prc == -1) {
            fprintf(stderr, "rill send: '%.*s' is not a number\n",
                    (int)strcspn(bad, " ,\n\t\r"), bad);
            goto out;
        }
        if (prc == -2) {
            fprintf(stderr, "rill send: out of memory\n");
            status = EXIT_FAILED;
            goto out;
        }
    }
    size_t size = rill_type_size(type);
    uint8_t *packed = malloc(n ? n * size : 1);
    if (packed == NULL) {
        status = EXIT_FAILED;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rill_value_from_double(type, vals[i], packed + i * size);
        double back = rill_value_to_double(type, packed + i * size);
        /* Floats round to the nearest float; integers must be exact. */
        bool ok = type == RILL_TYPE_FLOAT ? isfinite(back) || !isfinite(vals[i])
                  : type == RILL_TYPE_DOUBLE ? true
                                              : back == vals[i];
        if (!ok) {
            fprintf(stderr, "rill send: value %zu (%.17g) does not fit a %s%s\n",
                    i + 1, vals[i], rill_type_name(type),
                    type == RILL_TYPE_FLOAT ? "; use --type d" : "; use --type f or d");
            free(packed);
            goto out;
        }
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    status = EXIT_FAILED;
    rill_client *cl = connect_or_explain(url, token);
    if (cl != NULL) {
        int rc = rill_client_send_buffer(cl, (uint32_t)channel, type, packed, n);
        /* A list round trip: the buffer has reached the device (and any
         * refusal has been printed) when it returns. */
        rill_client_list *l = NULL;
        if (rc == 0)
            rc = rill_client_list_vars(cl, &l);
        rill_client_list_free(l);
        if (rc != 0)
            fprintf(stderr, "rill send: %s\n", rill_strerror(rc));
        else
            status = EXIT_OK;
        rill_client_destroy(cl);
    }
    free(packed);
out:
    free(vals);
    free(av);
    return status;
}

/* ---- rill audio ---------------------------------------------------------------- */

static const char audio_usage[] =
    "usage: rill audio [--rate HZ] [--channels N] [--buffer-frames N]\n"
    "                  [--volume 0-100] [--url URL] [--token T]\n\n"
    "Print the device's audio input configuration (rate, channels, frames per\n"
    "buffer, volume, and the variable of each channel); with options, ask the\n"
    "device to change it first (what it offers depends on its source: rill\n"
    "serve's demo and alsa and sine sources reopen at another rate, jack and\n"
    "alsa take another channel count, every source a volume and a buffer\n"
    "size), wait until it has, and print the new one. Every client and page\n"
    "sees the change.\n\n"
    "examples:\n  rill audio\n  rill audio --rate 48000 --volume 80\n"
    "  rill audio --buffer-frames 512\n";

int cmd_audio(int argc, char **argv) {
    static const struct option opts[] = {{"rate", required_argument, NULL, 'r'},
                                         {"channels", required_argument, NULL, 'c'},
                                         {"buffer-frames", required_argument, NULL, 'b'},
                                         {"volume", required_argument, NULL, 'v'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL;
    rill_audio_change ch = rill_audio_change_none();
    bool change = false;
    double x;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (!parse_option_number("audio", "--rate", optarg, 1, 1e7, false, &ch.rate))
                return EXIT_USAGE;
            change = true;
            break;
        case 'c':
            if (!parse_option_number("audio", "--channels", optarg, 1, 64, true, &x))
                return EXIT_USAGE;
            ch.channels = (size_t)x;
            change = true;
            break;
        case 'b':
            if (!parse_option_number("audio", "--buffer-frames", optarg, 1, 65536, true, &x))
                return EXIT_USAGE;
            ch.buffer_frames = (uint32_t)x;
            change = true;
            break;
        case 'v':
            if (!parse_option_number("audio", "--volume", optarg, 0, 100, false, &ch.volume))
                return EXIT_USAGE;
            change = true;
            break;
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'h': fputs(audio_usage, stdout); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "rill audio: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    rill_dash_config dc = rill_dash_config_default();
    dc.url = url;
    dc.token = token;
    rill_dash *dash = NULL;
    int rc = rill_dash_connect(&dc, &dash);
    if (rc != 0) {
        fprintf(stderr, "rill: cannot connect to %s: %s%s\n", url, rill_strerror(rc),
                rc == RILL_EREFUSED ? " (is \"rill serve\" running?)" : "");
        return EXIT_FAILED;
    }
    int status = EXIT_OK;
    if (change) {
        char why[512];
        rc = rill_client_change_audio(rill_dash_client(dash), &ch, why, sizeof why);
        if (rc != 0) {
            fprintf(stderr, "rill audio: not changed: %s\n", why);
            status = EXIT_FAILED;
        }
        /* Answered after the new description was announced on the same
         * socket: rill_dash_audio_get below returns it. */
    }
    rill_dash_audio a;
    rc = rill_dash_audio_get(dash, &a);
    if (rc == RILL_ENOTFOUND) {
        fprintf(stderr, "rill audio: %s has no audio input (its program declared "
                        "none)\n", url);
        status = EXIT_FAILED;
    } else if (rc == 0) {
        printf("rate           %g Hz\nchannels       %zu\nbuffer frames  %u\n",
               a.rate, a.channels, a.buffer_frames);
        if (a.volume >= 0)
            printf("volume         %g\n", a.volume);
        else
            printf("volume         (not reported)\n");
        printf("variables     ");
        for (size_t i = 0; i < a.channels; i++)
            printf(" %s", a.variables[i]);
        printf("\n");
    }
    rill_dash_destroy(dash);
    return status;
}
