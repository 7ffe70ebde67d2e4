/* What the host commands share (host.h). */
#include <ctype.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "rill/nats.h"

enum { OPT_URL = 256, OPT_TOKEN, OPT_TIMEOUT };

/* While a command connects, the library's error sentences are kept here
 * instead of printed, so that the command can say once what went wrong
 * and what to do (explain). Any thread may log. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_capture, log_capture_own; /* own: one thread's only */
static pthread_t log_capture_thread;
static char log_captured[512];

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    pthread_mutex_lock(&log_lock);
    if (log_capture && level <= RILL_LOG_ERROR &&
        (!log_capture_own || pthread_equal(pthread_self(), log_capture_thread))) {
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
    log_capture_own = false;
    if (on)
        log_captured[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

void host_capture_begin(void) {
    pthread_mutex_lock(&log_lock);
    log_capture = log_capture_own = true;
    log_capture_thread = pthread_self();
    log_captured[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

void host_capture_end(char *out, size_t cap) {
    pthread_mutex_lock(&log_lock);
    log_capture = log_capture_own = false;
    snprintf(out, cap, "%s", log_captured);
    pthread_mutex_unlock(&log_lock);
}

void host_init(host *h, int argc, char **argv, const char *usage,
               const char *shortopts, const struct option *own) {
    static const struct option common[] = {{"url", required_argument, NULL, OPT_URL},
                                           {"token", required_argument, NULL, OPT_TOKEN},
                                           {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                           {NULL, 0, NULL, 0}};
    memset(h, 0, sizeof *h);
    cli_opts_init(&h->opts, argc, argv, usage, shortopts, own);
    cli_opts_add(&h->opts, common);
    h->cmd = argv[0];
    const char *env = getenv("RILL_URL");
    h->url = env != NULL && *env ? env : "ws://127.0.0.1:5555";
}

int host_next(host *h) {
    for (;;) {
        int c = cli_next(&h->opts);
        if (c == OPT_URL)
            h->url = optarg;
        else if (c == OPT_TOKEN)
            h->token = optarg;
        else if (c == OPT_TIMEOUT) {
            /* A whole millisecond at least; an hour at most (a wait longer
             * than that is a hang, not patience). */
            const char *name = strncmp(h->cmd, "rill ", 5) == 0 ? h->cmd + 5 : h->cmd;
            double s;
            if (!parse_option_number(name, "--timeout", optarg, 0.001, 3600, false, &s)) {
                h->opts.status = EXIT_USAGE;
                return CLI_STOP;
            }
            h->timeout_ms = (int)(s * 1000 + 0.5);
        } else
            return c;
    }
}

int host_parse(host *h, size_t min, size_t max) {
    /* No options of its own: the first is the end, or a reason to stop. */
    if (host_next(h) == CLI_STOP)
        return h->opts.status;
    return cli_args(&h->opts, min, max);
}

/* Where the URL came from, for messages: the environment or the command line. */
static const char *url_origin(const host *h) {
    return h->url == getenv("RILL_URL") ? " (from $RILL_URL)" : "";
}

int host_fail(const host *h, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", h->cmd, msg);
    return status;
}

/* The URL as the library reads it, checked before connecting so that a
 * typo is a usage error (exit 2), not a failed job. */
static bool check_url(host *h) {
    char why[256];
    if (rill_client_parse_url(h->url, h->host, sizeof h->host, NULL, why, sizeof why) == 0)
        return true;
    host_fail(h, EXIT_USAGE, "'%s'%s %s", h->url, url_origin(h), why);
    return false;
}

/* Say why connecting failed and what to do about it, from the error code
 * and the library's first error sentence (captured while connecting).
 * Returns the exit status: 2 for a URL the library refused, else 1. */
static int explain(const host *h, int rc) {
    char why[512];
    pthread_mutex_lock(&log_lock);
    snprintf(why, sizeof why, "%s", log_captured[0] ? log_captured : rill_strerror(rc));
    pthread_mutex_unlock(&log_lock);
    const char *url = h->url, *from = url_origin(h);
    switch (rc) {
    case RILL_EREFUSED:
        return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: connection refused (is "
                         "\"rill serve\" running? start it, or check the port in --url)",
                         url, from);
    case RILL_EIO: {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        int gai = getaddrinfo(h->host, NULL, &hints, &res);
        if (res != NULL)
            freeaddrinfo(res);
        if (gai != 0 && gai != EAI_SYSTEM && gai != EAI_MEMORY)
            return host_fail(h, EXIT_FAILED, "cannot resolve host '%s' (in %s%s): %s; "
                             "check the host name in --url or $RILL_URL, or give the "
                             "device's address (e.g. ws://192.168.7.2:5555 for a Bela "
                             "on USB)", h->host, url, from, gai_strerror(gai));
        return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: %s (is the device on "
                         "and reachable?)", url, from, why);
    }
    case RILL_ETIMEOUT:
        return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: %s; is that a rill "
                         "serve or a Bela board, and is the port right (both use 5555 "
                         "unless told otherwise)? Over a slow or lossy link, give it "
                         "longer with --timeout SECONDS", url, from, why);
    case RILL_EPROTO:
    case RILL_ENOTFOUND:
        /* A rill serve that says why it refused (at its connection limit):
         * the port was right; its reason is the advice. */
        if (strstr(why, " with HTTP 503: ") != NULL)
            return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: %s", url, from, why);
        return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: %s; is that a rill "
                         "serve or a Bela board, and is the port right (both use 5555 "
                         "unless told otherwise)?", url, from, why);
    case RILL_EAUTH:
        return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: %s; give the device's "
                         "token with --token", url, from, why);
    case RILL_EINVAL:
        return host_fail(h, EXIT_USAGE, "cannot connect to %s%s: %s", url, from, why);
    default:
        return host_fail(h, EXIT_FAILED, "cannot connect to %s%s: %s", url, from, why);
    }
}

/* Before connecting: the URL checked, the log on stderr, its errors kept. */
static bool begin_connect(host *h, int *status) {
    if (!check_url(h)) {
        *status = EXIT_USAGE;
        return false;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    capture_log(true);
    return true;
}

/* After: 0 to go on, or the status after explaining `rc`. */
static int end_connect(const host *h, int rc) {
    capture_log(false);
    return rc == 0 ? 0 : explain(h, rc);
}

rill_client *host_connect(host *h, rill_client_config cfg, int *status) {
    if (!begin_connect(h, status))
        return NULL;
    cfg.url = h->url;
    cfg.token = h->token;
    if (h->timeout_ms > 0)
        cfg.timeout_ms = h->timeout_ms;
    rill_client *cl = NULL;
    *status = end_connect(h, rill_client_connect(&cfg, &cl));
    return cl;
}

rill_client *host_connect_nats(host *h, rill_client_config cfg,
                               const rill_nats_config *ncfg, int *status) {
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    capture_log(true);
    if (h->timeout_ms > 0)
        cfg.timeout_ms = h->timeout_ms;
    rill_client *cl = NULL;
    int rc = rill_nats_connect(&cfg, ncfg, &cl);
    capture_log(false);
    *status = EXIT_OK;
    if (rc != 0) {
        char why[512];
        pthread_mutex_lock(&log_lock);
        snprintf(why, sizeof why, "%s", log_captured[0] ? log_captured : rill_strerror(rc));
        pthread_mutex_unlock(&log_lock);
        /* The library's sentence says what and where: no server, no such
         * device (and those there are), no stream. */
        *status = host_fail(h, rc == RILL_EINVAL ? EXIT_USAGE : EXIT_FAILED,
                            "cannot read %s from NATS: %s", ncfg->device, why);
    }
    return cl;
}

rill_dash *host_connect_dash(host *h, int *status) {
    if (!begin_connect(h, status))
        return NULL;
    rill_dash_config dc = rill_dash_config_default();
    dc.url = h->url;
    dc.token = h->token;
    if (h->timeout_ms > 0)
        dc.timeout_ms = h->timeout_ms;
    rill_dash *dash = NULL;
    *status = end_connect(h, rill_dash_connect(&dc, &dash));
    return dash;
}

/* Edits (insert, delete, replace, swap of neighbours, each 1; case
 * differences 0) from a to b, up to 3 (more counts as 3): enough to tell a
 * typo from another name. */
static int edits(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63 || (la > lb ? la - lb : lb - la) > 2)
        return 3;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            int m = d[i - 1][j - 1] + !same;
            if (d[i - 1][j] + 1 < m)
                m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m)
                m = d[i][j - 1] + 1;
            if (i > 1 && j > 1 &&
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    return d[la][lb] < 3 ? d[la][lb] : 3;
}

static void count_refusal(rill_client *cl, int err, const char *msg, void *user) {
    (void)cl;
    (void)msg;
    if (err == RILL_EINVAL)
        atomic_fetch_add((atomic_int *)user, 1);
}

rill_client_config host_refusals_config(atomic_int *refused) {
    rill_client_config cfg = rill_client_config_default();
    cfg.on_error = count_refusal;
    cfg.user = refused;
    return cfg;
}

void host_suggest(const rill_client_list *l, const char *name, char *out, size_t cap) {
    const char *best = NULL;
    int best_d = strlen(name) <= 4 ? 2 : 3; /* what must be beaten */
    for (size_t k = 0; k < l->n_vars; k++) {
        int e = edits(name, l->vars[k].name);
        if (e < best_d) {
            best_d = e;
            best = l->vars[k].name;
        }
    }
    if (best != NULL)
        snprintf(out, cap, "; did you mean '%s'?", best);
    else
        out[0] = '\0';
}

rill_client_list *host_list(const host *h, rill_client *cl, const char *const *names,
                            size_t n, const rill_client_var **vars, int *status) {
    rill_client_list *l = NULL;
    int rc = rill_client_list_vars(cl, &l);
    if (rc != 0) {
        *status = host_fail(h, EXIT_FAILED, "no list from %s: %s", h->url,
                            rill_strerror(rc));
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const rill_client_var *v = NULL;
        for (size_t k = 0; k < l->n_vars && v == NULL; k++)
            if (strcmp(l->vars[k].name, names[i]) == 0)
                v = &l->vars[k];
        if (v == NULL) {
            char hint[128];
            host_suggest(l, names[i], hint, sizeof hint);
            *status = host_fail(h, EXIT_FAILED, "the device has no variable '%s' (see "
                                "rill ls)%s", names[i], hint);
            rill_client_list_free(l);
            return NULL;
        }
        if (vars != NULL)
            vars[i] = v;
    }
    return l;
}

bool host_at_ahead(const host *h, uint64_t at, const rill_client_list *l) {
    if (at > l->timestamp)
        return true;
    host_fail(h, EXIT_USAGE, "--at %llu is in the past: the device is at tick %llu now "
              "(give a later tick, or leave --at out to start now)",
              (unsigned long long)at, (unsigned long long)l->timestamp);
    return false;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

void host_catch_interrupt(void) { signal(SIGINT, on_sigint); }

bool host_interrupted(void) { return interrupted != 0; }

bool host_tty(void) { return isatty(STDERR_FILENO) != 0; }
