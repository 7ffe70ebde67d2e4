/* The Pure Data source: a .pd patch played by Debian's `pd`, without GUI,
 * as a JACK client; the engine takes its outputs in.
 *
 * play starts, on the JACK server named at create:
 *   1. a JACK client of ours, "rill-pd-<pid>-<n>", with inputs in_1..in_N
 *      (N = the output's channels), whose process callback writes the
 *      frames, interleaved float, into the source's ring;
 *   2. `pd -nogui -jack -jackname rill-pdsynth-<pid>-<n> -nojackconnect
 *      -noadc -outchannels N -r RATE -send "pd dsp 1" PATCH`, with
 *      JACK_DEFAULT_SERVER set to that server;
 *   3. once Pd's ports output_1..output_N exist (at most 10 s), the
 *      connections output_i -> in_i.
 * The mixer then plays the ring like any sample. With the output on the
 * jack backend of the same server, Pd, our capture client and the output
 * run in the same JACK cycle on one clock, so the ring neither fills nor
 * drains over time; a prebuffer of two periods absorbs the order in which
 * JACK runs the clients. stop ends Pd (SIGTERM, then SIGKILL after 2 s)
 * and closes the client.
 *
 * Messages to the patch (rill_audio_pd_send, what libpd's libpd_float and
 * friends do in-process). Debian has no libpd, so they travel over Pd's
 * own network objects: more -send messages build a hidden canvas holding
 * a [netsend] that connects back to a TCP socket we listen on (127.0.0.1,
 * a port the system picks, so Pd listens on nothing) and says
 * "rill-hello <token>" with a random token, so that no other local program
 * can take its place. What we write on that connection comes out of
 * netsend's right outlet, and the canvas forwards "NAME ATOMS..." as
 * ATOMS to [receive NAME]: [list] -> [t a a] -> [list split 1] sets the
 * target of a [send] (right inlet), then the rest, [list trim]med so that
 * "bang", "set 1 2", "symbol x" or a number arrive as those messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jack/jack.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio/internal.h"

extern char **environ;

struct rill__pd {
    char *patch, *server, *pd_path;
    jack_client_t *client;
    jack_port_t **ports;
    float *inter;
    size_t inter_frames;
    pid_t pid;
    char synth[64];
    /* The message connection: the socket Pd connects to while it starts,
     * then the connection (under the source's lock). */
    int listen_fd, ctl_fd;
    char token[40];
    char ctl_send[1536]; /* the -send messages that build the canvas */
};

static atomic_uint pd_serial;

static void pd_stop(rill_audio_source *s);

static void pd_quiet(const char *msg) { rill__log_debug("jack: %s", msg); }

/* JACK's process thread: Pd's frames into the ring, whole frames only;
 * what does not fit is dropped (the mixer is not keeping up). */
static int pd_process(jack_nframes_t nframes, void *arg) {
    rill_audio_source *s = arg;
    struct rill__pd *p = s->pd;
    RILL__JACK_CALLBACK_ENTER();
    rill__audio_rt_enter();
    uint32_t ch = s->channels;
    size_t done = 0;
    while (done < nframes) {
        size_t n = RILL__MIN((size_t)nframes - done, p->inter_frames);
        for (uint32_t c = 0; c < ch; c++) {
            const float *b = jack_port_get_buffer(p->ports[c], nframes);
            for (size_t i = 0; i < n; i++)
                p->inter[i * ch + c] = b[done + i];
        }
        size_t room = rill_ring_writable(s->ring) / s->frame_bytes;
        rill_ring_write(s->ring, p->inter, RILL__MIN(room, n) * s->frame_bytes);
        done += n;
    }
    rill__audio_rt_leave();
    RILL__JACK_CALLBACK_LEAVE();
    return 0;
}

int rill_audio_pd_create(rill_audio_output *o, const char *patch,
                         const char *jack_server, const char *pd_path,
                         rill_audio_source **out) {
    if (patch == NULL)
        return RILL_EINVAL;
    struct stat st;
    if (stat(patch, &st) != 0) {
        rill__log_error("audio: pd: patch '%s': %s", patch, strerror(errno));
        return RILL_ENOTFOUND;
    }
    rill_audio_source *s;
    int rc = rill__source_new(o, &rill__source_pd, &s);
    if (rc != 0)
        return rc;
    struct rill__pd *p = rill__calloc(1, sizeof *p);
    s->pd = p;
    if (p == NULL) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    p->pid = -1;
    p->listen_fd = p->ctl_fd = -1;
    p->patch = rill__strdup(patch);
    p->server = jack_server ? rill__strdup(jack_server) : NULL;
    p->pd_path = rill__strdup(pd_path ? pd_path : "pd");
    p->inter_frames = RILL__MAX(o->dev.buffer_frames, 1024u);
    p->inter = rill__calloc(p->inter_frames * o->dev.channels, sizeof(float));
    p->ports = rill__calloc(o->dev.channels, sizeof *p->ports);
    if (!p->patch || (jack_server && !p->server) || !p->pd_path || !p->inter ||
        !p->ports) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    s->prebuffer = 2 * o->dev.buffer_frames;
    rc = rill__source_ring(s, RILL_AUDIO_F32, 0,
                           RILL__MAX(16 * (size_t)o->dev.buffer_frames, 8192));
    if (rc != 0)
        goto fail;
    rill__source_link(s);
    *out = s;
    return 0;
fail:
    rill_audio_source_destroy(s);
    return rc;
}

static int spawn_pd(rill_audio_source *s, struct rill__pd *p) {
    char ch[16], rate[16], env_server[256];
    snprintf(ch, sizeof ch, "%u", s->channels);
    snprintf(rate, sizeof rate, "%u", s->out->dev.rate);
    /* Options before the patch: Pd takes what follows a file as files. */
    char *argv[] = {p->pd_path, "-nogui", "-jack", "-jackname", p->synth,
                    "-nojackconnect", "-noadc", "-nomidi", "-outchannels", ch,
                    "-r", rate, "-send", "pd dsp 1", "-send", p->ctl_send,
                    p->patch, NULL};
    if (p->listen_fd < 0) { /* no message connection: no canvas for it */
        argv[14] = p->patch;
        argv[15] = NULL;
    }
    /* The environment with JACK_DEFAULT_SERVER pointing at our server. */
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = rill__calloc(n + 2, sizeof *envp);
    if (envp == NULL)
        return RILL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "JACK_DEFAULT_SERVER=", 20) != 0)
            envp[k++] = environ[i];
    if (p->server) {
        snprintf(env_server, sizeof env_server, "JACK_DEFAULT_SERVER=%s",
                 p->server);
        envp[k++] = env_server;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int e = posix_spawnp(&p->pid, p->pd_path, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    rill__free(envp);
    if (e != 0) {
        p->pid = -1;
        rill__log_error("audio: pd: cannot run '%s': %s", p->pd_path, strerror(e));
        return RILL_ENOTFOUND;
    }
    return 0;
}

static void kill_pd(struct rill__pd *p) {
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = -1;
            return;
        }
        rill__sleep_ns(10000000u);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = -1;
}

/* The socket Pd's [netsend] connects to, and the -send messages that
 * build the canvas around it (see the top of this file). */
static int ctl_listen(struct rill__pd *p) {
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return RILL_ESYS;
    p->token[0] = 't'; /* a letter first: Pd must not read it as a number */
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(p->token + 1 + 2 * i, 3, "%02x", rnd[i]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        rill__log_error("audio: pd: cannot listen for the patch's messages: %s",
                        strerror(errno));
        if (fd >= 0)
            close(fd);
        return RILL_ESYS;
    }
    p->listen_fd = fd;
    static const char *const canvas[] = {
        "obj 10 10 r rill-ctl", "obj 10 40 netsend", "obj 10 70 list",
        "obj 10 100 t a a", "obj 10 130 list split 1",
        "obj 100 130 list split 1", "obj 100 160 list trim", "obj 10 190 send",
        "connect 0 0 1 0", "connect 1 1 2 0", "connect 2 0 3 0",
        "connect 3 1 4 0", "connect 3 0 5 0", "connect 4 0 7 1",
        "connect 5 1 6 0", "connect 6 0 7 0"};
    size_t n = (size_t)snprintf(p->ctl_send, sizeof p->ctl_send,
                                "pd menunew rill-ctl .;");
    for (size_t i = 0; i < sizeof canvas / sizeof canvas[0]; i++)
        n += (size_t)snprintf(p->ctl_send + n, sizeof p->ctl_send - n,
                              " pd-rill-ctl %s;", canvas[i]);
    snprintf(p->ctl_send + n, sizeof p->ctl_send - n,
             " rill-ctl connect 127.0.0.1 %u; rill-ctl send rill-hello %s;",
             (unsigned)ntohs(a.sin_port), p->token);
    return 0;
}

/* Take Pd's connection: the first one that says our hello within the
 * deadline. Others are closed. */
static int ctl_accept(struct rill__pd *p, uint64_t deadline_ns) {
    char want[64];
    int wn = snprintf(want, sizeof want, "rill-hello %s;\n", p->token);
    while (rill_clock_now_ns() < deadline_ns) {
        int left = (int)((deadline_ns - rill_clock_now_ns()) / 1000000u) + 1;
        struct pollfd pf = {p->listen_fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0)
            continue;
        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        char got[64];
        int n = 0;
        while (n < wn && rill_clock_now_ns() < deadline_ns) {
            struct pollfd q = {fd, POLLIN, 0};
            if (poll(&q, 1, 100) <= 0)
                continue;
            ssize_t r = read(fd, got + n, (size_t)(wn - n));
            if (r <= 0)
                break;
            n += (int)r;
        }
        if (n == wn && memcmp(got, want, (size_t)wn) == 0) {
            p->ctl_fd = fd;
            return 0;
        }
        close(fd);
    }
    return RILL_ETIMEOUT;
}

static void ctl_close(struct rill__pd *p) {
    if (p->ctl_fd >= 0)
        close(p->ctl_fd);
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    p->ctl_fd = p->listen_fd = -1;
}

static int pd_start(rill_audio_source *s) {
    struct rill__pd *p = s->pd;
    if (p->client != NULL)
        return 0;
    unsigned serial = atomic_fetch_add(&pd_serial, 1);
    char mine[64];
    snprintf(mine, sizeof mine, "rill-pd-%d-%u", (int)getpid(), serial);
    snprintf(p->synth, sizeof p->synth, "rill-pdsynth-%d-%u", (int)getpid(),
             serial);
    jack_set_error_function(pd_quiet);
    jack_set_info_function(pd_quiet);
    jack_status_t st = 0;
    int opts = JackNoStartServer | (p->server ? JackServerName : 0);
    p->client = jack_client_open(mine, (jack_options_t)opts, &st, p->server);
    if (p->client == NULL) {
        rill__log_error("audio: pd: patch '%s': no JACK server running%s%s "
                        "(status 0x%x)", p->patch, p->server ? " named " : "",
                        p->server ? p->server : "", (unsigned)st);
        return RILL_EREFUSED;
    }
    int rc = RILL_EIO;
    if (jack_get_sample_rate(p->client) != s->out->dev.rate) {
        rill__log_error("audio: pd: patch '%s': the JACK server runs at %u Hz, "
                        "the output at %u Hz", p->patch,
                        jack_get_sample_rate(p->client), s->out->dev.rate);
        rc = RILL_ENOTSUP;
        goto fail;
    }
    for (uint32_t c = 0; c < s->channels; c++) {
        char pn[32];
        snprintf(pn, sizeof pn, "in_%u", c + 1);
        p->ports[c] = jack_port_register(p->client, pn, JACK_DEFAULT_AUDIO_TYPE,
                                         JackPortIsInput, 0);
        if (p->ports[c] == NULL)
            goto fail;
    }
    jack_set_process_callback(p->client, pd_process, s);
    rill_ring_reset(s->ring);
    if (jack_activate(p->client) != 0)
        goto fail;
    /* Without the message connection the patch still plays; sends fail. */
    if (ctl_listen(p) != 0)
        ctl_close(p);
    rc = spawn_pd(s, p);
    if (rc != 0)
        goto fail;
    /* Wait for Pd's ports, then connect them. */
    rc = RILL_ETIMEOUT;
    int status = 0;
    for (int i = 0; i < 1000; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s:output_%u", p->synth, s->channels);
        if (jack_port_by_name(p->client, name) != NULL) {
            rc = 0;
            break;
        }
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = -1;
            rc = RILL_EIO;
            break;
        }
        rill__sleep_ns(10000000u);
    }
    if (rc != 0) {
        if (rc == RILL_EIO)
            rill__log_error("audio: pd: patch '%s': Pd exited (%s %d) before "
                            "opening its JACK ports", p->patch,
                            WIFEXITED(status) ? "status" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status)
                                              : WTERMSIG(status));
        else
            rill__log_error("audio: pd: patch '%s': Pd did not open its JACK "
                            "ports in 10 s", p->patch);
        goto fail;
    }
    /* Pd registers its ports before it activates its client, and JACK
     * refuses connections to an inactive client: retry for a while. */
    for (uint32_t c = 0; c < s->channels; c++) {
        char from[96];
        snprintf(from, sizeof from, "%s:output_%u", p->synth, c + 1);
        int e = -1;
        for (int i = 0; i < 500 && e != 0 && e != EEXIST; i++) {
            e = jack_connect(p->client, from, jack_port_name(p->ports[c]));
            if (e != 0 && e != EEXIST)
                rill__sleep_ns(10000000u);
        }
        if (e != 0 && e != EEXIST) {
            rill__log_error("audio: pd: patch '%s': cannot connect %s to %s",
                            p->patch, from, jack_port_name(p->ports[c]));
            rc = RILL_EIO;
            goto fail;
        }
    }
    /* Pd sends its -send messages once the patch is open; by now it has,
     * or does within moments. */
    if (p->listen_fd >= 0 &&
        ctl_accept(p, rill_clock_now_ns() + 5000000000u) != 0)
        rill__log_warn("audio: pd: patch '%s': Pd did not open the message "
                       "connection in 5 s; rill_audio_pd_send will fail",
                       p->patch);
    if (p->listen_fd >= 0) {
        close(p->listen_fd);
        p->listen_fd = -1;
    }
    return 0;
fail:
    pd_stop(s);
    return rc;
}

/* A receiver name or message text that Pd's parser (FUDI) takes as it is:
 * no separators or escapes, no dollar signs, no control characters. */
static bool fudi_clean(const char *text) {
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == ';' || *c == ',' || *c == '\\' ||
            *c == '$')
            return false;
    return true;
}

int rill_audio_pd_send(rill_audio_source *s, const char *receiver,
                       const char *message) {
    if (s == NULL || s->kind != &rill__source_pd || receiver == NULL)
        return RILL_EINVAL;
    if (message == NULL)
        message = "";
    size_t rl = strlen(receiver), ml = strlen(message);
    char *end = NULL;
    if (rl == 0 || rl > 256 || strchr(receiver, ' ') != NULL ||
        !fudi_clean(receiver) ||
        (strtod(receiver, &end), end != NULL && *end == '\0')) {
        rill__log_error("audio: pd: receiver name '%s' cannot be sent to: it "
                        "must be 1 to 256 characters without spaces, ';', "
                        "',', '\\', '$' or control characters, and not a "
                        "number", receiver);
        return RILL_EINVAL;
    }
    if (ml > 4096 || !fudi_clean(message)) {
        rill__log_error("audio: pd: message to '%s' refused: at most 4096 "
                        "characters, without ';', ',', '\\', '$' or control "
                        "characters", receiver);
        return RILL_EINVAL;
    }
    char buf[4096 + 256 + 8];
    int n = snprintf(buf, sizeof buf, "%s %s;\n", receiver, message);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    struct rill__pd *p = s->pd;
    if (p->ctl_fd < 0) {
        rill__log_error("audio: pd: patch '%s' is not playing (or Pd opened "
                        "no message connection): play it first", p->patch);
        rc = RILL_ESTATE;
    }
    for (int off = 0; rc == 0 && off < n;) {
        ssize_t w = send(p->ctl_fd, buf + off, (size_t)(n - off),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (int)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rill__log_error("audio: pd: patch '%s' is not taking its messages "
                            "(Pd is stuck?)", p->patch);
            rc = RILL_EFULL;
        } else {
            rill__log_error("audio: pd: patch '%s': the message connection "
                            "closed (Pd exited?)", p->patch);
            rc = RILL_EIO;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void pd_stop(rill_audio_source *s) {
    struct rill__pd *p = s->pd;
    if (p == NULL)
        return;
    ctl_close(p);
    /* Our client first: once it is gone, nothing in the server waits on
     * Pd's, whatever Pd does with the signal. */
    if (p->client != NULL) {
        jack_deactivate(p->client);
        jack_client_close(p->client);
        p->client = NULL;
    }
    kill_pd(p);
}

static void pd_free(rill_audio_source *s) {
    struct rill__pd *p = s->pd;
    if (p == NULL)
        return;
    pd_stop(s);
    rill__free(p->patch);
    rill__free(p->server);
    rill__free(p->pd_path);
    rill__free(p->inter);
    rill__free(p->ports);
    rill__free(p);
    s->pd = NULL;
}

const rill__source_kind rill__source_pd = {
    .name = "pd",
    .render = rill__source_render_ring,
    .start = pd_start,
    .stop = pd_stop,
    .free = pd_free,
};
