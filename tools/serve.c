/* rill serve: the device side as a program. */
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "demo.h"
#include "rill/rill.h"
#include "source.h"
#include "source_nats.h"

/* The source that runs, for the server's callbacks. Clients' audio
 * configuration changes run under `lock` on the device-request thread: the
 * demo is published once it has started, and both are withdrawn before
 * they stop, so a change never meets a source that is going away. */
typedef struct serve_sources {
    pthread_mutex_t lock;
    audio_source *as;
    demo *d;
    nats_source *ns; /* --source nats://: a bridged device served again */
    bool running;
} serve_sources;

/* Device-request thread. */
static int on_audio_change(rill_server *srv, const rill_audio_change *ch,
                           char *why, size_t why_size, void *user) {
    serve_sources *s = user;
    pthread_mutex_lock(&s->lock);
    int rc;
    if (!s->running) {
        snprintf(why, why_size, "the source is not running (starting or "
                                "stopping); try again");
        rc = RILL_ESTATE;
    } else if (s->ns != NULL) {
        snprintf(why, why_size, "this server relays a device bridged into NATS: "
                                "change its audio on the device itself");
        rc = RILL_ENOTSUP;
    } else if (s->as != NULL) {
        rc = audio_source_change(srv, ch, why, why_size, s->as);
    } else {
        rc = demo_change(srv, ch, why, why_size, s->d);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void set_running(serve_sources *s, bool running) {
    pthread_mutex_lock(&s->lock);
    s->running = running;
    pthread_mutex_unlock(&s->lock);
}

/* Network thread: client buffers to the audio source's output. */
static void on_source_buffer(rill_server *srv, uint32_t id, rill_type type,
                             const void *values, size_t count, void *user) {
    serve_sources *s = user;
    audio_source_on_buffer(srv, id, type, values, count, s->as);
}

static const char serve_usage[] =
    "usage: rill serve [options]\n"
    "\n"
    "Serve live variables over Bela's Watcher protocol (pybela works against\n"
    "it unchanged) and rill's native protocol, on one port: WebSocket paths\n"
    "/gui_control and /gui_data, finished log files at GET /files/<name>,\n"
    "and the browser dashboard at http://HOST:PORT/.\n"
    "\n"
    "options:\n"
    "  --source SRC       what produces the data (default demo):\n"
    "                       demo          built-in variables of every kind\n"
    "                       jack[:SERVER] a JACK client's inputs in_1..in_N\n"
    "                       alsa[:PCM]    an ALSA capture device (default\n"
    "                                     'default'; 'null' for none)\n"
    "                       file:PATH     a WAV/FLAC file, in real time, looped\n"
    "                       sine:FREQ     a sine of FREQ Hz, 0.5 full scale\n"
    "                       nats://HOST:PORT[,...]/DEVICE  a device rill bridge\n"
    "                                     publishes, served again with its\n"
    "                                     variables and ticks (docs/SCALE.md)\n"
    "                     an audio source exposes each input channel as a\n"
    "                     dense float variable in1..inN, ticked per frame;\n"
    "                     when it fails (the JACK server shuts down, the\n"
    "                     card goes away) rill serve says so and exits 1\n"
    "  --play OUT         where buffers that clients send go, as sound: none,\n"
    "                     jack[:SERVER], alsa[:PCM] or file:PATH.wav (default:\n"
    "                     the source's device for jack and alsa, else none);\n"
    "                     a file there is kept: PATH_1.wav, PATH_2.wav ...\n"
    "  --host ADDR        address to bind (default 127.0.0.1; 0.0.0.0, or ::\n"
    "                     for IPv6 too, opens it to the network: use --token\n"
    "                     then; clients write an IPv6 address ws://[::1]:5555)\n"
    "  --port N           TCP port (default 5555; 0 picks a free one)\n"
    "  --rate HZ          frames per second (default 44100; a file has its\n"
    "                     own, JACK the server's)\n"
    "  --block N          frames per block of the source (default 64; the\n"
    "                     demo below 6400 Hz: 10 ms of frames, at least 1,\n"
    "                     so that streams start without waiting out a block)\n"
    "  --token T          clients must present T (?token=T or\n"
    "                     'Authorization: Bearer T'); pybela cannot, so use\n"
    "                     it with rill clients\n"
    "  --log-dir DIR      where 'log' writes files (default .)\n"
    "  --project NAME     project name sent to clients (default rill-demo)\n"
    "  --bela-project NAME  lay log files out as a Bela board does: project\n"
    "                     NAME, logs in /root/Bela/projects/NAME/ (created),\n"
    "                     where pybela's Logger fetches them over SSH/SFTP\n"
    "                     from this machine's sshd (python/README.md: 'pybela's\n"
    "                     Logger over SSH'); replaces --project and --log-dir\n"
    "  --queue-bytes N    per-client send queue; a client that falls this far\n"
    "                     behind loses whole buffers, counted and announced\n"
    "                     (default 8388608)\n"
    "  --allow-origin O   also accept browser pages from origin O\n"
    "  --allow-host NAME  also accept requests whose Host is NAME (any port;\n"
    "                     repeat for more; '*' for any): by default only\n"
    "                     localhost, the address connected to, --host, and\n"
    "                     bound beyond loopback this machine's name (and\n"
    "                     NAME.local) are, so a page reached through DNS\n"
    "                     rebinding is refused\n"
    "  --web-root DIR     serve the dashboard from DIR (default: the one\n"
    "                     next to this program, ../share/rill/web from its\n"
    "                     directory, as built or installed); '' for none\n"
    "  --allow-exec       let dashboard pages run programs on this machine\n"
    "                     (Execute/Stop, the editor's scripts): remote code\n"
    "                     execution for whoever holds the token, so --token\n"
    "                     is required\n"
    "  --handlers DIR     custom handler types for the dashboard: the *.js\n"
    "                     modules in DIR (docs/HANDLERS.md)\n"
    "  --examples DIR     the editor's example scripts (*.py in DIR; default\n"
    "                     ../share/rill/examples from this program's\n"
    "                     directory, python/examples as built); '' for none\n"
    "  --python CMD       what runs the editor's scripts (default python3)\n"
    "  --compat-only      speak only the Watcher protocol, as a Bela board\n"
    "                     does (to test clients' compatibility mode; the\n"
    "                     dashboard needs rill's native mode)\n"
    "  -v, --verbose      print informational messages too\n"
    "  -h, --help         this help\n"
    "\n"
    "examples:\n"
    "  rill serve                          # demo on ws://127.0.0.1:5555\n"
    "  rill serve --port 0 --log-dir /tmp  # any free port, logs in /tmp\n"
    "  rill serve --bela-project myproj    # pybela's Logger finds the logs\n"
    "  rill serve --host 0.0.0.0 --token s3cret\n"
    "  rill serve --source alsa:hw:0 --rate 48000 --block 128\n"
    "  rill serve --source file:take1.wav --play file:back.wav\n"
    "  rill serve --source nats://hub:4222/board1 --port 5556\n"
    "\n"
    "Stops cleanly on Ctrl-C (SIGINT) or SIGTERM; log files are finished.\n";

static rill_log_level verbosity = RILL_LOG_WARN;

/* While the source is opened and rill_server_create runs, on this thread,
 * the library's first error is kept: if they fail, it is the one line
 * saying why (not that line and then "not started"). */
static pthread_t creator;
static bool creating;
static char create_error[512];

static void capture_begin(void) {
    creator = pthread_self();
    create_error[0] = '\0';
    creating = true;
}

static void capture_end(void) { creating = false; }

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (creating && level == RILL_LOG_ERROR && create_error[0] == '\0' &&
        pthread_equal(pthread_self(), creator)) {
        snprintf(create_error, sizeof create_error, "%s", msg);
        return;
    }
    fprintf(stderr, "rill serve: %s: %s\n", rill_log_level_name(level), msg);
}

/* A directory next to this program, <bindir>/../share/rill/<name> (where
 * `make install` puts the dashboard and the examples, and where the build
 * links web/dist and python/examples), written to out if it holds `must`
 * (a file, or "." for the directory itself); NULL otherwise. */
static char *share_dir(const char *name, const char *must, char *out, size_t cap) {
    char dir[4096];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 64);
    if (n <= 0)
        return NULL;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return NULL;
    snprintf(slash, sizeof dir - (size_t)(slash - dir), "/../share/rill/%s", name);
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL || strlen(real) >= cap)
        return NULL;
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/%s", real, must);
    struct stat st;
    if (stat(probe, &st) != 0)
        return NULL;
    strcpy(out, real);
    return out;
}

/* --allow-host NAME, once per name: joined with commas for the server. */
static bool add_allowed_host(char *list, size_t cap, const char *name) {
    size_t n = strlen(name), have = strlen(list);
    struct in6_addr v6;
    bool ok = n > 0 && n < 254 && strchr(name, ',') == NULL &&
              strchr(name, ' ') == NULL &&
              (strchr(name, ':') == NULL ||
               inet_pton(AF_INET6, name, &v6) == 1);
    if (!ok) {
        fprintf(stderr, "rill serve: --allow-host '%s': give one host name "
                        "or address, without a port (repeat the option for "
                        "more)\n",
                name);
        return false;
    }
    if (have + n + 2 > cap) {
        fprintf(stderr, "rill serve: too many --allow-host names (%zu bytes "
                        "at most)\n",
                cap - 1);
        return false;
    }
    if (have != 0)
        list[have++] = ',';
    memcpy(list + have, name, n + 1);
    return true;
}

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"source", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"block", required_argument, NULL, 'b'},
        {"token", required_argument, NULL, 't'},
        {"log-dir", required_argument, NULL, 'l'},
        {"project", required_argument, NULL, 'P'},
        {"bela-project", required_argument, NULL, 'B'},
        {"queue-bytes", required_argument, NULL, 'q'},
        {"allow-origin", required_argument, NULL, 'o'},
        {"allow-host", required_argument, NULL, 'A'},
        {"web-root", required_argument, NULL, 'w'},
        {"play", required_argument, NULL, 'Y'},
        {"allow-exec", no_argument, NULL, 'X'},
        {"handlers", required_argument, NULL, 'D'},
        {"examples", required_argument, NULL, 'E'},
        {"python", required_argument, NULL, 'Q'},
        {"compat-only", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    rill_server_config cfg = rill_server_config_default();
    cfg.project_name = "rill-demo";
    const char *source = "demo", *play = NULL;
    const char *web_root = NULL, *examples = NULL;
    bool web_root_set = false, examples_set = false, project_set = false,
         log_dir_set = false;
    char allow_hosts[1024] = "";
    double port = cfg.port, rate = 44100, block = 64, queue = (double)cfg.client_queue_bytes;
    bool rate_given = false, block_given = false;
    cli_opts o;
    cli_opts_init(&o, argc, argv, serve_usage, "v", opts);
    int c;
    while ((c = cli_next(&o)) > 0) {
        switch (c) {
        case 's': source = optarg; break;
        case 'H': cfg.host = optarg; break;
        case 'p': if (!parse_option_number("serve", "--port", optarg, 0, 65535, false, &port)) return EXIT_USAGE; break;
        case 'r': if (!parse_option_number("serve", "--rate", optarg, 1, 1e7, false, &rate)) return EXIT_USAGE; rate_given = true; break;
        case 'b': if (!parse_option_number("serve", "--block", optarg, 1, 65536, false, &block)) return EXIT_USAGE; block_given = true; break;
        case 't': cfg.token = optarg; break;
        case 'l': cfg.log_dir = optarg; log_dir_set = true; break;
        case 'P': cfg.project_name = optarg; project_set = true; break;
        case 'B': cfg.bela_project = optarg; break;
        case 'q': if (!parse_option_number("serve", "--queue-bytes", optarg, 1, 1e12, false, &queue)) return EXIT_USAGE; break;
        case 'o': cfg.allow_origin = optarg; break;
        case 'A':
            if (!add_allowed_host(allow_hosts, sizeof allow_hosts, optarg))
                return EXIT_USAGE;
            break;
        case 'w': web_root = optarg; web_root_set = true; break;
        case 'Y': play = optarg; break;
        case 'X': cfg.allow_exec = true; break;
        case 'D': cfg.handlers_dir = optarg; break;
        case 'E': examples = optarg; examples_set = true; break;
        case 'Q': cfg.script_interpreter = optarg; break;
        case 'C': cfg.compat_only = true; break;
        case 'v': verbosity = RILL_LOG_DEBUG; break;
        }
    }
    if (c == CLI_STOP)
        return o.status;
    int status = cli_args(&o, 0, 0);
    if (status >= 0)
        return status;
    if (cfg.bela_project != NULL && (project_set || log_dir_set)) {
        fprintf(stderr, "rill serve: --bela-project sets the project and the "
                        "log directory (/root/Bela/projects/NAME); leave out "
                        "--project and --log-dir\n");
        return EXIT_USAGE;
    }
    if (cfg.bela_project != NULL) {
        /* What the server uses, for the lines printed below. */
        static char bela_dir[512];
        snprintf(bela_dir, sizeof bela_dir, "%s/%s", RILL_BELA_PROJECTS_DIR,
                 cfg.bela_project);
        cfg.project_name = cfg.bela_project;
        cfg.log_dir = bela_dir;
    }
    if (cfg.token != NULL && *cfg.token == '\0') {
        /* `--token "$T"` with T unset: announced as "token required", the
         * server would take anyone. */
        fprintf(stderr, "rill serve: --token is empty (an unset variable?): give the "
                        "token, or leave --token out\n");
        return EXIT_USAGE;
    }
    if (cfg.allow_exec && cfg.token == NULL) {
        fprintf(stderr, "rill serve: --allow-exec needs --token: it lets "
                        "whoever connects run programs here\n");
        return EXIT_USAGE;
    }
    bool audio = audio_source_is_audio(source), nats = nats_source_is(source);
    if (!audio && !nats && strcmp(source, "demo") != 0) {
        fprintf(stderr, "rill serve: unknown source '%s' (available: demo, "
                        "jack[:SERVER], alsa[:PCM], file:PATH, sine:FREQ, "
                        "nats://HOST:PORT/DEVICE)\n",
                source);
        return EXIT_USAGE;
    }
    if (!audio && play != NULL) {
        fprintf(stderr, "rill serve: --play needs an audio --source\n");
        return EXIT_USAGE;
    }
    if ((web_root_set && *web_root != '\0' && !parse_option_dir("serve", "--web-root", web_root)) ||
        (cfg.handlers_dir != NULL && !parse_option_dir("serve", "--handlers", cfg.handlers_dir)) ||
        (examples_set && *examples != '\0' && !parse_option_dir("serve", "--examples", examples)))
        return EXIT_USAGE;
    char web_buf[PATH_MAX], examples_buf[PATH_MAX];
    cfg.web_root = web_root_set ? web_root : share_dir("web", "index.html", web_buf, sizeof web_buf);
    cfg.examples_dir = examples_set ? examples : share_dir("examples", ".", examples_buf, sizeof examples_buf);
    /* The editor's scripts import rill: the package next to this program
     * (the source tree's python/, linked by the build) when there is one. */
    char py_buf[PATH_MAX];
    if (cfg.allow_exec && share_dir("python", "rill/__init__.py", py_buf, sizeof py_buf) != NULL) {
        const char *old = getenv("PYTHONPATH");
        char path[2 * PATH_MAX + 2];
        snprintf(path, sizeof path, "%s%s%s", py_buf, old && *old ? ":" : "", old && *old ? old : "");
        setenv("PYTHONPATH", path, 1);
    }
    cfg.allow_hosts = allow_hosts;
    cfg.port = (int)port;
    cfg.client_queue_bytes = (size_t)queue;
    cfg.on_buffer = demo_on_buffer;
    serve_sources sources = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL, false};
    cfg.on_audio_change = on_audio_change;
    cfg.user = &sources;
    rill_set_log_callback(print_log, verbosity, NULL);

    /* An audio source is opened first: its rate is the server's. */
    audio_source *as = NULL;
    if (audio) {
        char err[512] = "";
        capture_begin();
        int arc = audio_source_open(source, rate, (unsigned)block, play, &as,
                                    err, sizeof err);
        capture_end();
        if (arc != 0 && strncmp(err, "--play ", 7) == 0) {
            fprintf(stderr, "rill serve: %s\n", err); /* the source was fine */
            return arc == RILL_EINVAL ? EXIT_USAGE : EXIT_FAILED;
        }
        if (arc != 0) {
            fprintf(stderr, "rill serve: cannot open --source %s: %s\n", source,
                    err[0] ? err : create_error[0] ? create_error : rill_strerror(arc));
            return arc == RILL_EINVAL ? EXIT_USAGE : EXIT_FAILED;
        }
        if (rate_given && audio_source_rate(as) != rate)
            fprintf(stderr, "rill serve: warning: --rate %g not used: --source %s "
                            "runs at its own rate, %g Hz\n",
                    rate, source, audio_source_rate(as));
        rate = audio_source_rate(as);
        if (block_given && audio_source_block(as) != block)
            fprintf(stderr, "rill serve: warning: --block %g not used: --source %s "
                            "delivers %u-frame blocks\n",
                    block, source, audio_source_block(as));
        block = audio_source_block(as);
        cfg.on_buffer = on_source_buffer;
        sources.as = as;
    }
    /* A bridged device: its rate, its variables; what clients send stays. */
    nats_source *ns = NULL;
    if (nats) {
        char err[512] = "";
        capture_begin();
        int nrc = nats_source_open(source, &ns, err, sizeof err);
        capture_end();
        if (nrc != 0) {
            fprintf(stderr, "rill serve: cannot read --source %s: %s\n", source,
                    create_error[0] ? create_error : err);
            return nrc == RILL_EINVAL ? EXIT_USAGE : EXIT_FAILED;
        }
        if (rate_given && nats_source_rate(ns) != rate)
            fprintf(stderr, "rill serve: warning: --rate %g not used: --source %s "
                            "has the bridged device's rate, %g Hz\n",
                    rate, source, nats_source_rate(ns));
        rate = nats_source_rate(ns);
        cfg.on_buffer = NULL;
        sources.ns = ns;
    }
    cfg.sample_rate = rate;
    /* The demo's 64-frame blocks last 6.4 s at 10 Hz, and a client starts
     * a stream a block ahead (rill_server_config.block_ticks): below
     * 6400 Hz its blocks are 10 ms unless --block says. */
    if (!audio && !nats && !block_given && rate < 6400)
        block = rate >= 200 ? (double)(unsigned)(rate / 100) : 1;
    /* A bridged device's ticks come in its messages, of any length. */
    cfg.block_ticks = nats ? 0 : (unsigned)block;

    /* Signals are taken synchronously by this thread with sigwait; every
     * thread the server starts inherits the blocked mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    rill_server *srv = NULL;
    capture_begin();
    int rc = rill_server_create(&cfg, &srv);
    capture_end();
    if (rc == 0 && create_error[0] != '\0')
        print_log(RILL_LOG_ERROR, create_error, NULL); /* it started anyway */
    if (rc != 0) {
        if (create_error[0] != '\0')
            fprintf(stderr, "rill serve: not started: %s\n", create_error);
        else
            fprintf(stderr, "rill serve: not started: %s\n", rill_strerror(rc));
        audio_source_free(as);
        nats_source_free(ns);
        return EXIT_FAILED;
    }
    demo *d = NULL;
    rc = as != NULL   ? audio_source_start(as, srv)
         : ns != NULL ? nats_source_start(ns, srv)
                      : demo_start(srv, rate, (unsigned)block, &d);
    sources.d = d; /* before any change can run: running is still false */
    if (rc != 0) {
        fprintf(stderr, "rill serve: cannot start the %s source: %s%s\n",
                source, rill_strerror(rc),
                rc == RILL_ESYS || rc == RILL_ENOMEM
                    ? " (its thread or buffers: a memory or thread limit, "
                      "ulimit -v or -u?)"
                    : "");
        audio_source_stop(as);
        nats_source_free(ns);
        rill_server_destroy(srv);
        audio_source_free(as);
        return EXIT_FAILED;
    }
    /* An IPv6 address goes in brackets in a URL. */
    char bound[300];
    snprintf(bound, sizeof bound, strchr(cfg.host, ':') ? "[%s]" : "%s", cfg.host);
    printf("rill serve: listening on ws://%s:%d (project %s, source %s, "
           "%g Hz, %u-frame blocks%s)\n",
           bound, rill_server_port(srv), cfg.project_name, source, rate,
           (unsigned)block, cfg.token ? ", token required" : "");
    /* Bound to every address: the URLs others can open name this machine
     * (which the Host check admits), not 0.0.0.0. */
    const char *shown = bound;
    char name[256];
    bool every = strcmp(cfg.host, "0.0.0.0") == 0 || strcmp(cfg.host, "::") == 0;
    if (every && gethostname(name, sizeof name) == 0 && name[0] != '\0') {
        name[sizeof name - 1] = '\0';
        shown = name;
    }
    printf("rill serve: control ws://%s:%d/gui_control, data "
           "ws://%s:%d/gui_data, log files http://%s:%d/files/<name> (from %s)\n",
           shown, rill_server_port(srv), shown, rill_server_port(srv),
           shown, rill_server_port(srv), cfg.log_dir);
    if (cfg.web_root != NULL && *cfg.web_root != '\0') {
        printf("rill serve: dashboard http://%s:%d/%s%s (from %s)\n", shown,
               rill_server_port(srv), cfg.token ? "?token=" : "",
               cfg.token ? cfg.token : "", cfg.web_root);
        if (shown != bound)
            printf("rill serve: on this machine also http://127.0.0.1:%d/%s%s\n",
                   rill_server_port(srv), cfg.token ? "?token=" : "",
                   cfg.token ? cfg.token : "");
    }
    else
        printf("rill serve: no dashboard (%s)\n",
               web_root_set ? "--web-root ''" : "not built: make build writes web/dist");
    if (cfg.handlers_dir != NULL)
        printf("rill serve: custom handler types from %s\n", cfg.handlers_dir);
    if (cfg.allow_exec && cfg.examples_dir != NULL && *cfg.examples_dir != '\0')
        printf("rill serve: the editor's examples from %s\n", cfg.examples_dir);
    if (as != NULL)
        audio_source_describe(as, stdout);
    else if (ns != NULL)
        nats_source_describe(ns, stdout);
    else
        demo_describe(d, stdout);
    printf("rill serve: press Ctrl-C to stop\n");
    fflush(stdout);
    set_running(&sources, true);

    /* Once a second, the input's xruns, if any new. Under the lock: a
     * client's change may be closing and reopening the input. */
    int sig;
    bool failed = false;
    const struct timespec second = {1, 0};
    while (!failed && (sig = sigtimedwait(&stop_signals, NULL, &second)) < 0) {
        pthread_mutex_lock(&sources.lock);
        audio_source_report(as, stdout);
        fflush(stdout);
        failed = audio_source_failed(as, stderr);
        pthread_mutex_unlock(&sources.lock);
    }
    if (!failed)
        printf("rill serve: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    set_running(&sources, false);
    if (as != NULL)
        audio_source_stop(as);
    else if (ns != NULL)
        nats_source_free(ns); /* its thread ticked the server */
    else
        demo_stop(d);
    rill_server_stats st;
    rill_server_get_stats(srv, &st);
    rill_server_destroy(srv);
    audio_source_free(as);
    printf("rill serve: stopped; %llu buffers produced, %llu dropped on the "
           "tick thread, %llu dropped for slow clients\n",
           (unsigned long long)st.buffers_produced,
           (unsigned long long)st.tick_drops,
           (unsigned long long)st.client_drops);
    return failed ? EXIT_FAILED : EXIT_OK;
}
