/* The host-side commands: rill ls, stream, peek, set, monitor, log, send,
 * audio. Each connects with rill_client to --url (default $RILL_URL, else
 * ws://127.0.0.1:5555).
 *
 * What they print: the command's output on stdout; on stderr errors
 * always, and progress and "-> file" summaries only when stderr is a
 * terminal, so that a script sees nothing on stderr when all went well. */
#include <getopt.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "nats_stream.h"
#include "rill/rill.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* While a command connects, the library's error sentences are kept here
 * instead of printed, so that the command can say once what went wrong
 * and what to do (explain_connect). Any thread may log. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_capture;
static char log_captured[512];

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    pthread_mutex_lock(&log_lock);
    if (log_capture && level <= RILL_LOG_ERROR) {
        if (log_captured[0] == '\0')
            snprintf(log_captured, sizeof log_captured, "%s", msg);
    } else if (level <= RILL_LOG_WARN) {
        fprintf(stderr, "rill: %s\n", msg);
    }
    pthread_mutex_unlock(&log_lock);
}

static void capture_log(bool on) {
    pthread_mutex_lock(&log_lock);
    log_capture = on;
    if (on)
        log_captured[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

static const char *default_url(void) {
    const char *u = getenv("RILL_URL");
    return u != NULL && *u ? u : "ws://127.0.0.1:5555";
}

/* Where the URL came from, for messages: the environment or the command line. */
static const char *url_origin(const char *url) {
    return url == getenv("RILL_URL") ? " (from $RILL_URL)" : "";
}

/* The options every host command takes, for its --help. */
#define URL_HELP                                                               \
    "--url URL is the device: a rill serve or a Bela board (default $RILL_URL,\n" \
    "else ws://127.0.0.1:5555); --token T, its access token if it wants one.\n"

/* The URL as rill_client reads it, ws://HOST[:PORT][/...], checked before
 * connecting so that a typo is a usage error (exit 2), not a failed job.
 * The host goes to `host` for explain_connect. */
static bool check_url(const char *cmd, const char *url, char *host, size_t cap) {
    const char *from = url_origin(url);
    if (strncmp(url, "ws://", 5) != 0) {
        fprintf(stderr, "%s: '%s'%s is not a ws:// URL: give --url ws://HOST[:PORT], "
                        "e.g. ws://127.0.0.1:5555 or ws://bela.local:5555%s\n",
                cmd, url, from,
                strncmp(url, "wss://", 6) == 0 ? " (rill speaks plain ws:// only)" : "");
        return false;
    }
    const char *h = url + 5;
    size_t hl = strcspn(h, ":/");
    if (hl == 0 || hl >= cap) {
        fprintf(stderr, "%s: '%s'%s has %s host name: give --url ws://HOST[:PORT], "
                        "e.g. ws://127.0.0.1:5555\n",
                cmd, url, from, hl == 0 ? "no" : "too long a");
        return false;
    }
    if (h[hl] == ':') {
        const char *p = h + hl + 1;
        size_t digits = strspn(p, "0123456789");
        long port = digits > 0 && digits <= 5 ? strtol(p, NULL, 10) : 0;
        if (port < 1 || port > 65535 || (p[digits] != '\0' && p[digits] != '/')) {
            fprintf(stderr, "%s: '%s'%s has a bad port: give a number from 1 to "
                            "65535 (rill serve and Bela use 5555)\n",
                    cmd, url, from);
            return false;
        }
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    return true;
}

/* Say why connecting failed and what to do about it, from the error code
 * and the library's first error sentence (captured while connecting).
 * Returns the exit status: 2 for a URL the library refused, else 1. */
static int explain_connect(const char *cmd, const char *url, const char *host,
                           int rc) {
    char why[512];
    pthread_mutex_lock(&log_lock);
    snprintf(why, sizeof why, "%s", log_captured[0] ? log_captured : rill_strerror(rc));
    pthread_mutex_unlock(&log_lock);
    const char *from = url_origin(url);
    switch (rc) {
    case RILL_EREFUSED:
        fprintf(stderr, "%s: cannot connect to %s%s: connection refused (is \"rill "
                        "serve\" running? start it, or check the port in --url)\n",
                cmd, url, from);
        return EXIT_FAILED;
    case RILL_EIO: {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        int gai = getaddrinfo(host, NULL, &hints, &res);
        if (res != NULL)
            freeaddrinfo(res);
        if (gai != 0 && gai != EAI_SYSTEM && gai != EAI_MEMORY) {
            fprintf(stderr, "%s: cannot resolve host '%s' (in %s%s): %s; check the "
                            "host name in --url or $RILL_URL, or give the device's "
                            "address (e.g. ws://192.168.7.2:5555 for a Bela on USB)\n",
                    cmd, host, url, from, gai_strerror(gai));
            return EXIT_FAILED;
        }
        fprintf(stderr, "%s: cannot connect to %s%s: %s (is the device on and "
                        "reachable?)\n", cmd, url, from, why);
        return EXIT_FAILED;
    }
    case RILL_ETIMEOUT:
    case RILL_EPROTO:
    case RILL_ENOTFOUND:
        fprintf(stderr, "%s: cannot connect to %s%s: %s; is that a rill serve or a "
                        "Bela board, and is the port right (both use 5555 unless "
                        "told otherwise)?\n",
                cmd, url, from, why);
        return EXIT_FAILED;
    case RILL_EAUTH:
        fprintf(stderr, "%s: cannot connect to %s%s: %s; give the device's token "
                        "with --token\n", cmd, url, from, why);
        return EXIT_FAILED;
    case RILL_EINVAL:
        fprintf(stderr, "%s: cannot connect to %s%s: %s\n", cmd, url, from, why);
        return EXIT_USAGE;
    default:
        fprintf(stderr, "%s: cannot connect to %s%s: %s\n", cmd, url, from, why);
        return EXIT_FAILED;
    }
}

/* Connect (the log callback is installed), or say why not and set *status. */
static rill_client *connect_with(const char *cmd, const char *url, const char *token,
                                 rill_client_config cfg, int *status) {
    if (nats_stream_active()) /* rill stream --nats: tools/nats_stream.c */
        return nats_stream_connect(cfg, status);
    char host[256];
    if (!check_url(cmd, url, host, sizeof host)) {
        *status = EXIT_USAGE;
        return NULL;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    cfg.url = url;
    cfg.token = token;
    rill_client *cl = NULL;
    capture_log(true);
    int rc = rill_client_connect(&cfg, &cl);
    capture_log(false);
    if (rc != 0) {
        *status = explain_connect(cmd, url, host, rc);
        return NULL;
    }
    return cl;
}

static rill_client *connect_or_explain(const char *cmd, const char *url,
                                       const char *token, int *status) {
    return connect_with(cmd, url, token, rill_client_config_default(), status);
}

/* Seconds above 0, as -d wants them. */
static bool parse_seconds(const char *cmd, const char *opt, const char *s, double *out) {
    if (!parse_option_number(cmd, opt, s, 0, 1e7, false, out))
        return false;
    if (*out > 0)
        return true;
    fprintf(stderr, "rill %s: %s wants a number of seconds above 0, not '%s'\n", cmd,
            opt, s);
    return false;
}

/* A tick, as --at wants it (whole, and exact in a double). */
static bool parse_tick(const char *cmd, const char *s, uint64_t *out) {
    double x;
    if (!parse_option_number(cmd, "--at", s, 1, 9007199254740992.0, true, &x))
        return false;
    *out = (uint64_t)x;
    return true;
}

/* --at must be ahead of the device's clock: a start in the past would be
 * taken as "now" by the device, and the values would not be those asked. */
static bool at_ahead(const char *cmd, uint64_t at, const rill_client_list *l) {
    if (at > l->timestamp)
        return true;
    fprintf(stderr, "%s: --at %llu is in the past: the device is at tick %llu now "
                    "(give a later tick, or leave --at out to start now)\n",
            cmd, (unsigned long long)at, (unsigned long long)l->timestamp);
    return false;
}

/* Commands whose only options are --url, --token and --help, with exactly
 * `want_args` arguments: returns an exit status to return now, or -1 to go
 * on (then the URL has been checked). */
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
        } else {
            fprintf(stderr, "Run '%s --help' for the options.\n", argv[0]);
            return EXIT_USAGE;
        }
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
    return -1;
}

/* ---- rill ls ----------------------------------------------------------------- */

static const char ls_usage[] =
    "usage: rill ls [--url URL] [--token T]\n\n"
    "List the device's variables: a header line, then one variable per line,\n"
    "name first: type, timestamp mode, values per Bela buffer, stream and log\n"
    "state, control, monitor period, and the value the program reads now.\n"
    URL_HELP
    "\nexamples:\n  rill ls\n  rill ls --url ws://bela.local:5555\n"
    "  RILL_URL=ws://192.168.7.2:5555 rill ls\n";

int cmd_ls(int argc, char **argv) {
    const char *url, *token;
    int status = simple(argc, argv, 0, ls_usage, &url, &token);
    if (status >= 0)
        return status;
    rill_client *cl = connect_or_explain(argv[0], url, token, &status);
    if (cl == NULL)
        return status;
    rill_client_list *l = NULL;
    int rc = rill_client_list_vars(cl, &l);
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

/* The named variable in the device's list, or NULL after saying so. */
static const rill_client_var *find_var(const char *cmd, const rill_client_list *l,
                                       const char *name) {
    for (size_t k = 0; k < l->n_vars; k++)
        if (strcmp(l->vars[k].name, name) == 0)
            return &l->vars[k];
    fprintf(stderr, "%s: the device has no variable '%s' (see rill ls)\n", cmd, name);
    return NULL;
}

/* Every name is one of the device's variables: EXIT_OK, or the status to
 * exit with after saying which is not (before the library refuses it). */
static int check_names(const char *cmd, rill_client *cl, const char *url,
                       const char *const *names, size_t n) {
    rill_client_list *l = NULL;
    int rc = rill_client_list_vars(cl, &l);
    if (rc != 0) {
        fprintf(stderr, "%s: no list from %s: %s\n", cmd, url, rill_strerror(rc));
        return EXIT_FAILED;
    }
    int status = EXIT_OK;
    for (size_t i = 0; i < n && status == EXIT_OK; i++)
        if (find_var(cmd, l, names[i]) == NULL)
            status = EXIT_FAILED;
    rill_client_list_free(l);
    return status;
}

/* ---- rill stream ------------------------------------------------------------- */

static const char stream_usage[] =
    "usage: rill stream VAR... [-n N | -d SECONDS] [--at TICK] [-o DIR]\n"
    "                   [--format bin|csv|jsonl|wav|flac] [--url URL] [--token T]\n\n"
    "Stream variables from the device. With -o, each goes to DIR/<var>.<format>\n"
    "(default format csv; DIR is created), written as it arrives; without,\n"
    "lines 'var,tick,value' go to standard output. -n takes exactly N values of\n"
    "each variable; -d the values of the ticks of SECONDS seconds (dense\n"
    "variables: exactly SECONDS x rate values; sparse ones: those set in that\n"
    "time); without either, streaming goes on until Ctrl-C. Every variable\n"
    "starts at the same tick: now, or TICK (ahead of the device's clock).\n"
    "wav and flac hold dense numeric variables only, jsonl no char variables:\n"
    "a format that cannot hold a variable is refused before anything is written.\n"
    "On a terminal, progress (elapsed time, values, bytes, drops) shows on\n"
    "standard error, and where each file went; otherwise nothing but errors.\n"
    URL_HELP
    "\nexamples:\n"
    "  rill stream frame -n 44100 -o data --format wav\n"
    "  rill stream sine noise -d 2 -o data\n"
    "  rill stream events -d 5 | head\n"
    "  rill stream --nats nats://hub:4222 rill.board1.sine -n 48000  # a bridged\n"
    "      device (--replay all|seq:N|time:UNIX_SECONDS; docs/SCALE.md)\n";

typedef struct var_out {
    const rill_client_var *var;
    rill_file_writer *writer;
    bool created; /* the file exists (this run created it) */
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
    uint64_t end; /* the first tick not wanted; 0: no end */
    uint64_t bytes, drops;
    int write_error;
    atomic_bool lost; /* the connection failed (I/O thread) */
} stream_ctx;

static void on_stream_error(int err, const char *msg, void *user) {
    (void)msg; /* the library has logged it */
    /* Only a lost connection ends the stream: an undecodable message (a
     * stray one on a NATS subject) is said, skipped, and any values it
     * cost show as a gap at the end. */
    if (err == RILL_ECLOSED)
        atomic_store(&((stream_ctx *)user)->lost, true);
}

static uint64_t tick_of(const rill_client_buffer *b, size_t i) {
    return b->first_ts + (b->rel ? b->rel[i] : i);
}

static void print_values(const rill_client_buffer *b, size_t k) {
    size_t size = rill_type_size(b->type);
    for (size_t i = 0; i < k; i++) {
        double v = rill_value_to_double(b->type, (const uint8_t *)b->values + i * size);
        printf("%s,%llu,%.17g\n", b->name, (unsigned long long)tick_of(b, i), v);
    }
}

/* I/O thread: take what the request asks for, in order, without gaps.
 * The device ends a stream of -d SECONDS itself (the buffer marked
 * `last`); a Bela board, which marks nothing, sends the value at the end
 * tick too and pads its last buffer with zeros (ticks going back), so the
 * values taken are those in [start, end) with rising ticks, and a tick at
 * or after the end also ends the variable. */
static void on_stream_buffer(const rill_client_buffer *b, void *user) {
    stream_ctx *ctx = user;
    pthread_mutex_lock(&ctx->lock);
    var_out *o = NULL;
    for (size_t i = 0; i < ctx->n; i++)
        if (ctx->vars[i].var->id == b->var_id)
            o = &ctx->vars[i];
    if (o == NULL || o->done || (b->first_ts < ctx->start && !b->last)) {
        pthread_mutex_unlock(&ctx->lock);
        return;
    }
    ctx->drops += b->dropped;
    bool ended = b->last;
    size_t k = 0;
    for (; k < b->count; k++) {
        uint64_t t = tick_of(b, k);
        if (ctx->end != 0 && t >= ctx->end) {
            ended = true;
            break;
        }
        if (t < ctx->start || (k > 0 && t < tick_of(b, k - 1)))
            break;
    }
    if (o->want != 0 && o->have + k > o->want)
        k = (size_t)(o->want - o->have);
    /* Both are reported at the end; the data stays. */
    if (b->dropped != 0) {
        o->gap = true;
    } else if (k != 0 && o->have != 0 && b->mode == RILL_TS_DENSE &&
               b->first_ts != o->next_ts) {
        /* Nothing was dropped on the way, yet the ticks jumped: the device's
         * clock skipped them (an audio xrun, or a source that restarted). */
        if (o->skipped == 0) {
            o->skip_from = o->next_ts;
            o->skip_to = b->first_ts;
        }
        o->skipped++;
    }
    if (k != 0) {
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
    }
    if ((o->want != 0 && o->have >= o->want) || ended)
        o->done = true;
    pthread_mutex_unlock(&ctx->lock);
}

/* Close every writer; with `discard`, remove the files this run created. */
static int close_outputs(var_out *outs, size_t n, const char *dir, const char *fmt_name,
                         bool discard, bool tty) {
    int status = EXIT_OK;
    for (size_t i = 0; outs != NULL && i < n; i++) {
        if (outs[i].writer != NULL && rill_file_writer_close(outs[i].writer) != 0)
            status = EXIT_FAILED;
        outs[i].writer = NULL;
        if (!outs[i].created)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.%s", dir, outs[i].var->name, fmt_name);
        if (discard) {
            unlink(path);
            outs[i].created = false;
        } else if (tty) {
            fprintf(stderr, "rill stream: %s: %llu values -> %s\n", outs[i].var->name,
                    (unsigned long long)outs[i].have, path);
        }
    }
    return status;
}

int cmd_stream(int argc, char **argv) {
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"at", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *url = default_url(), *token = NULL, *dir = NULL, *fmt_name = NULL;
    double n_values = 0, seconds = 0;
    uint64_t at = 0;
    int c = nats_stream_args(&argc, argv); /* --nats URL SUBJECT...: nats_stream.c */
    if (c > 0)
        return c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'o': dir = optarg; break;
        case 'f': fmt_name = optarg; break;
        case 'n':
            if (!parse_option_number("stream", "-n", optarg, 1, 1e15, true, &n_values))
                return EXIT_USAGE;
            break;
        case 'd':
            if (!parse_seconds("stream", "-d", optarg, &seconds))
                return EXIT_USAGE;
            break;
        case 'a':
            if (!parse_tick("stream", optarg, &at))
                return EXIT_USAGE;
            break;
        case 'h': fputs(stream_usage, stdout); return EXIT_OK;
        default:
            fprintf(stderr, "Run 'rill stream --help' for the options.\n");
            return EXIT_USAGE;
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0 || (n_values > 0 && seconds > 0)) {
        fprintf(stderr, n == 0 ? "rill stream: name at least one variable (see rill ls)\n"
                               : "rill stream: -n and -d exclude each other\n");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(argv[optind + (int)i], argv[optind + (int)k]) == 0) {
                fprintf(stderr, "rill stream: %s is named twice\n", argv[optind + (int)i]);
                return EXIT_USAGE;
            }
    rill_file_format fmt = RILL_FILE_CSV;
    if (fmt_name != NULL && dir == NULL) {
        fprintf(stderr, "rill stream: --format needs -o DIR (standard output gets "
                        "'var,tick,value' lines)\n");
        return EXIT_USAGE;
    }
    if (fmt_name == NULL)
        fmt_name = "csv";
    if (rill_file_format_from_name(fmt_name, &fmt) != 0) {
        fprintf(stderr, "rill stream: unknown format '%s' (bin, csv, jsonl, wav, flac)\n",
                fmt_name);
        return EXIT_USAGE;
    }
    struct stat st;
    if (dir != NULL && stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "rill stream: %s is not a directory\n", dir);
        return EXIT_USAGE;
    }
    stream_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    pthread_mutex_init(&ctx.lock, NULL);
    ctx.start = UINT64_MAX; /* nothing is taken before the start is known */
    rill_client_config cfg = rill_client_config_default();
    cfg.on_buffer = on_stream_buffer;
    cfg.on_error = on_stream_error;
    cfg.user = &ctx;
    int status;
    rill_client *cl = connect_with(argv[0], url, token, cfg, &status);
    if (cl == NULL) {
        pthread_mutex_destroy(&ctx.lock);
        return status;
    }
    status = EXIT_FAILED;
    bool tty = isatty(STDERR_FILENO);
    rill_client_list *l = NULL;
    var_out *outs = calloc(n, sizeof *outs);
    int rc = outs == NULL ? RILL_ENOMEM : rill_client_list_vars(cl, &l);
    if (rc != 0) {
        fprintf(stderr, "rill stream: no list from %s: %s\n", url, rill_strerror(rc));
        goto out;
    }
    /* Everything that can be refused is, before any file exists. */
    for (size_t i = 0; i < n; i++)
        if ((outs[i].var = find_var(argv[0], l, argv[optind + (int)i])) == NULL)
            goto out;
    double rate = l->sample_rate > 0 ? l->sample_rate : 1;
    uint64_t dur = seconds > 0 ? (uint64_t)llround(seconds * rate) : 0;
    if (seconds > 0 && dur == 0) {
        fprintf(stderr, "rill stream: -d %g is less than one tick at %g Hz\n", seconds,
                rate);
        status = EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; dir != NULL && i < n; i++) {
        rill_file_info fi = {outs[i].var->name, outs[i].var->type,
                             outs[i].var->mode, rate};
        char why[256];
        if (rill_file_format_check(fmt, &fi, why, sizeof why) != 0) {
            fprintf(stderr, "rill stream: %s; nothing was written\n", why);
            status = EXIT_USAGE;
            goto out;
        }
    }
    if (at != 0 && !at_ahead(argv[0], at, l)) {
        status = EXIT_USAGE;
        goto out;
    }
    if (dir != NULL && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "rill stream: cannot create directory %s: %s\n", dir,
                strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const rill_client_var *v = outs[i].var;
        outs[i].want = n_values > 0 ? (uint64_t)n_values
                       : v->mode == RILL_TS_DENSE ? dur
                                                  : 0;
        if (dir == NULL)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.%s", dir, v->name, fmt_name);
        rill_file_info info = {v->name, v->type, v->mode, l->sample_rate};
        rc = rill_file_writer_create(path, fmt, &info, &outs[i].writer);
        outs[i].created = rc == 0;
        if (rc != 0) {
            if (rc != RILL_EIO)
                unlink(path); /* created empty, then refused */
            fprintf(stderr, "rill stream: cannot write %s: %s; nothing was kept\n", path,
                    rill_strerror(rc));
            close_outputs(outs, n, dir, fmt_name, true, tty);
            goto out;
        }
    }
    /* Start a little after the device's latest tick (or at --at), so that
     * every variable starts on the same tick and nothing older is taken. */
    uint64_t start = at != 0 ? at : l->timestamp + (uint64_t)(rate / 20) + 64;
    pthread_mutex_lock(&ctx.lock);
    ctx.vars = outs;
    ctx.n = n;
    ctx.start = start;
    ctx.end = dur != 0 ? start + dur : 0;
    pthread_mutex_unlock(&ctx.lock);
    const char **names = (const char **)(argv + optind);
    rill_client_stream_opts so = {start, dur, 0, 0};
    if ((rc = rill_client_stream_start(cl, names, n, &so)) != 0) {
        fprintf(stderr, "rill stream: cannot start streaming: %s\n", rill_strerror(rc));
        goto out;
    }
    signal(SIGINT, on_sigint);
    uint64_t t0 = rill_clock_now_ns();
    /* The device ends a -d stream itself; this is only the safety net for
     * one that does not (its clock stopped, or a variable never ended). */
    double limit_s = dur != 0 ? (double)(start + dur - l->timestamp) / rate + 5.0 : 0;
    bool timed = false;
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
        timed = limit_s > 0 && elapsed > limit_s;
        if (all || interrupted || timed)
            break;
        if (atomic_load(&ctx.lost)) {
            fprintf(stderr, "%srill stream: the connection to %s was lost after %.1f "
                            "s; %s\n", tty ? "\n" : "", url, elapsed,
                    dir != NULL ? "the files keep what arrived" : "");
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
        if (interrupted)
            continue;
        if (outs[i].want != 0 && outs[i].have < outs[i].want) {
            fprintf(stderr, "rill stream: %s: %llu of %llu values arrived\n",
                    outs[i].var->name, (unsigned long long)outs[i].have,
                    (unsigned long long)outs[i].want);
            status = EXIT_FAILED;
        } else if (timed && !outs[i].done) {
            fprintf(stderr, "rill stream: %s: the device had not ended the stream "
                            "after %.0f s; %llu values arrived\n",
                    outs[i].var->name, limit_s, (unsigned long long)outs[i].have);
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
    if (close_outputs(outs, n, dir, fmt_name, false, tty) != EXIT_OK)
        status = EXIT_FAILED;
    free(outs);
    rill_client_list_free(l);
    pthread_mutex_destroy(&ctx.lock);
    return status;
}

/* ---- rill peek / rill set ---------------------------------------------------- */

static const char peek_usage[] =
    "usage: rill peek VAR [--url URL] [--token T]\n\n"
    "Print the variable's name, the tick its current value was set at, and the\n"
    "value, on one line.\n"
    URL_HELP
    "\nexamples:\n  rill peek sine\n  rill peek frame --url ws://bela.local:5555\n";

int cmd_peek(int argc, char **argv) {
    const char *url, *token;
    int status = simple(argc, argv, 1, peek_usage, &url, &token);
    if (status >= 0)
        return status;
    rill_client *cl = connect_or_explain(argv[0], url, token, &status);
    if (cl == NULL)
        return status;
    double v;
    uint64_t tick;
    int rc = RILL_ENOTFOUND;
    status = check_names(argv[0], cl, url, (const char *const *)argv + optind, 1);
    if (status == EXIT_OK && (rc = rill_client_peek(cl, argv[optind], &v, &tick)) == 0)
        printf("%s %llu %.17g\n", argv[optind], (unsigned long long)tick, v);
    else if (status == EXIT_OK)
        fprintf(stderr, "rill peek: %s: %s\n", argv[optind], rill_strerror(rc));
    rill_client_destroy(cl);
    return rc == 0 ? EXIT_OK : EXIT_FAILED;
}

static const char set_usage[] =
    "usage: rill set VAR VALUE [--mask MASK] [--url URL] [--token T]\n\n"
    "Take control of the variable and set the value the device program reads\n"
    "(rill_var_get). The variable stays controlled. With --mask, only the bits\n"
    "set in MASK change (Bela's setMask; integer variables only, not float or\n"
    "double; VALUE and MASK may be written in hex, 0x...).\n"
    URL_HELP
    "\nexamples:\n  rill set gain 0.5\n  rill set flags 0x05 --mask 0x0f\n";

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
        } else {
            fprintf(stderr, "Run 'rill set --help' for the options.\n");
            return EXIT_USAGE;
        }
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
    int status;
    rill_client *cl = connect_or_explain(argv[0], url, token, &status);
    if (cl == NULL)
        return status;
    status = EXIT_FAILED;
    rill_client_list *l = NULL;
    int rc = rill_client_list_vars(cl, &l);
    const rill_client_var *v = NULL;
    if (rc != 0) {
        fprintf(stderr, "rill set: no list from %s: %s\n", url, rill_strerror(rc));
        goto out;
    }
    if ((v = find_var(argv[0], l, name)) == NULL)
        goto out;
    if (mask_arg != NULL && (v->type == RILL_TYPE_FLOAT || v->type == RILL_TYPE_DOUBLE)) {
        fprintf(stderr, "rill set: --mask is for integer variables, and %s is %s: "
                        "set its value without --mask\n", name, rill_type_name(v->type));
        status = EXIT_USAGE;
        goto out;
    }
    rc = rill_client_control(cl, name, true);
    if (rc == 0)
        rc = mask_arg != NULL ? rill_client_set_mask(cl, name, bits, mask)
                              : rill_client_set(cl, name, value);
    if (rc != 0)
        fprintf(stderr, "rill set: %s: %s\n", name, rill_strerror(rc));
    else
        status = EXIT_OK;
out:
    rill_client_list_free(l);
    rill_client_destroy(cl);
    return status;
}

/* ---- rill monitor ------------------------------------------------------------ */

static const char monitor_usage[] =
    "usage: rill monitor VAR... [--period TICKS] [-n COUNT] [--url URL] [--token T]\n\n"
    "Print 'var tick value' every TICKS ticks (2 or more, default 1000) until\n"
    "Ctrl-C, or until COUNT values of each variable have been printed. For one\n"
    "value now, use rill peek.\n"
    URL_HELP
    "\nexamples:\n  rill monitor sine --period 4410\n  rill monitor frame gain -n 3\n";

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
    double period = 1000, limit = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'p':
            /* 1 is a one-shot on the device: one value, then nothing. */
            if (!parse_option_number("monitor", "--period", optarg, 2, INT32_MAX, true,
                                     &period))
                return EXIT_USAGE;
            break;
        case 'n':
            if (!parse_option_number("monitor", "-n", optarg, 1, 1e9, true, &limit))
                return EXIT_USAGE;
            break;
        case 'h': fputs(monitor_usage, stdout); return EXIT_OK;
        default:
            fprintf(stderr, "Run 'rill monitor --help' for the options.\n");
            return EXIT_USAGE;
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0) {
        fputs(monitor_usage, stderr);
        return EXIT_USAGE;
    }
    monitor_ctx m = {.names = (const char **)(argv + optind), .n = n,
                     .limit = (long)limit};
    m.count = calloc(n, sizeof *m.count);
    if (m.count == NULL)
        return EXIT_FAILED;
    pthread_mutex_init(&m.lock, NULL);
    atomic_init(&m.lost, false);
    rill_client_config cfg = rill_client_config_default();
    cfg.on_monitor = on_monitor_value;
    cfg.on_error = on_monitor_error;
    cfg.user = &m;
    int status;
    rill_client *cl = connect_with(argv[0], url, token, cfg, &status);
    if (cl == NULL) {
        pthread_mutex_destroy(&m.lock);
        free(m.count);
        return status;
    }
    int rc = RILL_ENOTFOUND;
    status = check_names(argv[0], cl, url, m.names, n);
    if (status == EXIT_OK &&
        (rc = rill_client_monitor(cl, m.names, n, (uint32_t)period)) != 0) {
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
        bool all = m.limit > 0;
        pthread_mutex_lock(&m.lock);
        for (size_t i = 0; i < n; i++)
            all &= m.count[i] >= m.limit;
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
    "SECONDS x rate values), starting at tick TICK (ahead of the device's\n"
    "clock) or now, then download the finished files (Watcher .bin format)\n"
    "into DIR (default .). The device writes the files itself, so nothing is\n"
    "lost if this host is slow; a Bela board's files are copied with scp\n"
    "instead (the message says how). The downloads are checked: values the\n"
    "device lost (a gap in a dense variable's ticks) are an error.\n"
    "On a terminal, progress (elapsed time, seconds logged, values and bytes of\n"
    "the dense variables) shows on standard error, then each file's values,\n"
    "bytes, drops and path; otherwise nothing but errors. Ctrl-C stops logging\n"
    "early and still downloads what was logged.\n"
    URL_HELP
    "\nexamples:\n"
    "  rill log sine noise -d 2 -o logs\n"
    "  rill info logs/sine.bin\n";

/* What a downloaded log holds in [start, end): values with rising ticks
 * (the Watcher pads the last body with zeros) and, for a dense variable,
 * the ticks missing between them (bodies the device lost). */
static int inspect_log(const char *path, rill_ts_mode mode, uint64_t start,
                       uint64_t end, uint64_t *values, uint64_t *missing) {
    rill_file_reader *r = NULL;
    int rc = rill_file_reader_open(path, mode, &r);
    *values = *missing = 0;
    if (rc != 0)
        return rc;
    rill_file_buffer b;
    uint64_t prev = 0;
    bool any = false;
    while ((rc = rill_file_reader_next(r, &b)) == 0) {
        for (size_t i = 0; i < b.count; i++) {
            uint64_t t = b.timestamps[i];
            if (t < start || t >= end || (any && t <= prev))
                continue;
            if (any && mode == RILL_TS_DENSE)
                *missing += t - prev - 1;
            prev = t;
            any = true;
            (*values)++;
        }
    }
    rill_file_reader_close(r);
    return rc == RILL_EEMPTY ? 0 : rc;
}

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
    uint64_t at = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (!parse_seconds("log", "-d", optarg, &seconds))
                return EXIT_USAGE;
            break;
        case 'a':
            if (!parse_tick("log", optarg, &at))
                return EXIT_USAGE;
            break;
        case 'o': dir = optarg; break;
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'h': fputs(log_usage, stdout); return EXIT_OK;
        default:
            fprintf(stderr, "Run 'rill log --help' for the options.\n");
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
    int status;
    rill_client *cl = connect_or_explain(argv[0], url, token, &status);
    if (cl == NULL)
        return status;
    const char **names = (const char **)(argv + optind);
    size_t n = (size_t)(argc - optind);
    status = EXIT_FAILED;
    bool tty = isatty(STDERR_FILENO);
    rill_client_log_file *files = calloc(n, sizeof *files);
    const rill_client_var **vars = calloc(n, sizeof *vars);
    rill_client_list *l = NULL;
    int rc = files != NULL && vars != NULL ? rill_client_list_vars(cl, &l) : RILL_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "rill log: no list from %s: %s\n", url, rill_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((vars[i] = find_var(argv[0], l, names[i])) == NULL)
            goto out;
    double rate = l->sample_rate > 0 ? l->sample_rate : 1;
    uint64_t dur = (uint64_t)llround(seconds * rate);
    if (dur == 0) {
        fprintf(stderr, "rill log: -d %g is less than one tick at %g Hz\n", seconds, rate);
        status = EXIT_USAGE;
        goto out;
    }
    if (at != 0 && !at_ahead(argv[0], at, l)) {
        status = EXIT_USAGE;
        goto out;
    }
    uint64_t start = at != 0 ? at : l->timestamp + (uint64_t)(rate / 20) + 64;
    rill_client_stream_opts so = {start, dur, 0, 0};
    if ((rc = rill_client_log_start(cl, names, n, &so, files)) != 0) {
        fprintf(stderr, "rill log: cannot start logging: %s\n", rill_strerror(rc));
        goto out;
    }
    signal(SIGINT, on_sigint);
    uint64_t t0 = rill_clock_now_ns();
    /* Until the device's clock passes the end, plus slack for a device
     * that is slower than its rate says. */
    double wait_s = (double)(start + dur - l->timestamp) / rate;
    bool sparse = false;
    for (size_t i = 0; i < n; i++)
        sparse |= vars[i]->mode == RILL_TS_SPARSE;
    for (;;) {
        usleep(100000);
        double elapsed = (double)(rill_clock_now_ns() - t0) / 1e9;
        rill_client_list *now = NULL;
        if ((rc = rill_client_list_vars(cl, &now)) != 0) {
            fprintf(stderr, "%srill log: lost %s after %.1f s: %s; the device keeps "
                            "what it logged\n", tty ? "\n" : "", url, elapsed,
                    rill_strerror(rc));
            goto out;
        }
        bool logging = false;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < now->n_vars; k++)
                if (strcmp(now->vars[k].name, names[i]) == 0)
                    logging |= now->vars[k].logged;
        uint64_t tick = now->timestamp;
        rill_client_list_free(now);
        uint64_t ticks = tick > start ? tick - start : 0;
        if (ticks > dur)
            ticks = dur;
        if (tty) {
            /* A dense variable logs one value per tick; sparse ones are
             * counted once downloaded. */
            uint64_t values = 0, bytes = 0;
            for (size_t i = 0; i < n; i++)
                if (vars[i]->mode == RILL_TS_DENSE) {
                    values += ticks;
                    bytes += ticks * rill_type_size(vars[i]->type);
                }
            fprintf(stderr, "\r%.1f s, %.2f of %.2f s logged, %llu values, %.1f kB%s ",
                    elapsed, (double)ticks / rate, seconds, (unsigned long long)values,
                    (double)bytes / 1e3, sparse ? " (+ sparse)" : "");
        }
        if ((tick >= start + dur && !logging) || interrupted)
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
        int shown = 0;
        if (tty)
            shown = fprintf(stderr, "rill log: downloading %s (%zu of %zu)", files[i].name,
                            i + 1, n);
        rc = rill_client_fetch(cl, files[i].name, path, 10000);
        if (shown > 0)
            fprintf(stderr, "\r%*s\r", shown, "");
        if (rc != 0) {
            fprintf(stderr, "rill log: %s: the device's file %s was not "
                            "downloaded: %s\n", names[i], files[i].name,
                    rill_strerror(rc));
            status = EXIT_FAILED;
            continue;
        }
        uint64_t values = 0, missing = 0;
        rc = inspect_log(path, vars[i]->mode, start, start + dur, &values, &missing);
        if (rc != 0) {
            fprintf(stderr, "rill log: %s: %s is damaged: %s\n", names[i], path,
                    rill_strerror(rc));
            status = EXIT_FAILED;
            continue;
        }
        if (missing != 0) {
            fprintf(stderr, "rill log: %s: %llu values were lost on the device (gaps "
                            "in %s)\n", names[i], (unsigned long long)missing, path);
            status = EXIT_FAILED;
        }
        struct stat fs;
        if (tty && stat(path, &fs) == 0)
            fprintf(stderr, "rill log: %s: %llu values, %lld bytes, %llu dropped -> "
                            "%s\n", names[i], (unsigned long long)values,
                    (long long)fs.st_size, (unsigned long long)missing, path);
    }
out:
    rill_client_list_free(l);
    rill_client_destroy(cl);
    free(files);
    free(vars);
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
    "float rounds to the nearest float and refuses only overflow.\n"
    URL_HELP
    "\nexamples:\n"
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
    double channel = 0;
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
        switch (c) {
        case 'c':
            if (!parse_option_number("send", "--channel", optarg, 0, UINT32_MAX, true,
                                     &channel)) {
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
    rill_client *cl = connect_or_explain(argv[0], url, token, &status);
    if (cl != NULL) {
        status = EXIT_FAILED;
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
    "sees the change.\n"
    URL_HELP
    "\nexamples:\n  rill audio\n  rill audio --rate 48000 --volume 80\n"
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
    char host[256];
    if (!check_url(argv[0], url, host, sizeof host))
        return EXIT_USAGE;
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    rill_dash_config dc = rill_dash_config_default();
    dc.url = url;
    dc.token = token;
    rill_dash *dash = NULL;
    capture_log(true);
    int rc = rill_dash_connect(&dc, &dash);
    capture_log(false);
    if (rc != 0)
        return explain_connect(argv[0], url, host, rc);
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
