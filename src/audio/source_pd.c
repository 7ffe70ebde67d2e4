/* The Pure Data source: a .pd patch played by Debian's `pd`, without GUI,
 * as a JACK client; the engine takes its outputs in.
 *
 * play starts, on the JACK server named at create:
 *   1. a JACK client of ours, "rill-pd-<pid>-<n>", with inputs in_1..in_N
 *      (N = the output's channels), whose process callback writes the
 *      frames, interleaved float, into the source's ring;
 *   2. `pd -nogui -jack -jackname rill-pdsynth-<pid>-<n> -nojackconnect
 *      -noadc -outchannels N -r RATE -send "pd dsp 1" PATCH rill-ctl.pd`,
 *      with JACK_DEFAULT_SERVER set to that server (rill-ctl.pd: below);
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
 * own network objects. Before Pd starts, we listen on a TCP socket
 * (127.0.0.1, a port the system picks, so Pd listens on nothing) and write
 * a second patch, rill-ctl.pd, that Pd opens with the user's: its
 * [loadbang] makes a [netsend] connect to that socket and say
 * "rill-hello <token>" with a random token, so that no other local program
 * can take Pd's place. The token is only in that file, of mode 0600 in a
 * directory of mode 0700 made for it, never in Pd's command line (which
 * every local user can read in /proc); both are removed once Pd has
 * connected. What we write on the connection comes out of netsend's right
 * outlet, and the patch forwards "NAME ATOMS..." as ATOMS to
 * [receive NAME]: [list] -> [t a a] -> [list split 1] sets the target of
 * a [send] (right inlet), then the rest, [list trim]med so that "bang",
 * "set 1 2", "symbol x" or a number arrive as those messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jack/jack.h>
#include <limits.h>
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
     * then the connection (under the source's lock). ctl_dir/ctl_patch:
     * the private directory and rill-ctl.pd while they exist, else "". */
    int listen_fd, ctl_fd;
    char token[40];
    char ctl_dir[PATH_MAX], ctl_patch[PATH_MAX];
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
    /* Options before the patches: Pd takes what follows a file as files.
     * Of rill-ctl.pd, the command line shows only the path, no token. */
    char *argv[] = {p->pd_path, "-nogui", "-jack", "-jackname", p->synth,
                    "-nojackconnect", "-noadc", "-nomidi", "-outchannels", ch,
                    "-r", rate, "-send", "pd dsp 1", p->patch,
                    p->ctl_patch[0] ? p->ctl_patch : NULL, NULL};
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

/* rill-ctl.pd (see the top of this file), with the port and the token.
 * Objects: 0 loadbang, 1 the connect-and-hello message, 2 netsend,
 * 3 list, 4 t a a, 5 list split 1 (the name), 6 list split 1 (the rest),
 * 7 list trim, 8 send. */
static const char ctl_patch_text[] =
    "#N canvas 0 0 320 260 10;\n"
    "#X obj 10 10 loadbang;\n"
    "#X msg 10 40 connect 127.0.0.1 %u \\, send rill-hello %s;\n"
    "#X obj 10 70 netsend;\n"
    "#X obj 10 100 list;\n"
    "#X obj 10 130 t a a;\n"
    "#X obj 10 160 list split 1;\n"
    "#X obj 100 160 list split 1;\n"
    "#X obj 100 190 list trim;\n"
    "#X obj 10 220 send;\n"
    "#X connect 0 0 1 0;\n"
    "#X connect 1 0 2 0;\n"
    "#X connect 2 1 3 0;\n"
    "#X connect 3 0 4 0;\n"
    "#X connect 4 1 5 0;\n"
    "#X connect 4 0 6 0;\n"
    "#X connect 5 0 8 1;\n"
    "#X connect 6 1 7 0;\n"
    "#X connect 7 0 8 0;\n";

/* Remove rill-ctl.pd and its directory: once Pd has read it (it has when
 * it says the hello), or when it will not be used. */
static void ctl_remove_files(struct rill__pd *p) {
    if (p->ctl_patch[0] != '\0' && unlink(p->ctl_patch) != 0 && errno != ENOENT)
        rill__log_warn("audio: pd: cannot remove '%s': %s", p->ctl_patch,
                       strerror(errno));
    if (p->ctl_dir[0] != '\0' && rmdir(p->ctl_dir) != 0 && errno != ENOENT)
        rill__log_warn("audio: pd: cannot remove '%s': %s", p->ctl_dir,
                       strerror(errno));
    p->ctl_patch[0] = p->ctl_dir[0] = '\0';
}

/* Write rill-ctl.pd into a new directory only we may enter ($TMPDIR or
 * /tmp), the file only we may read: the token stays ours and Pd's. */
static int ctl_write_patch(struct rill__pd *p, unsigned port) {
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/')
        tmp = "/tmp";
    size_t dl = (size_t)snprintf(p->ctl_dir, sizeof p->ctl_dir,
                                 "%s/rill-pd-XXXXXX", tmp);
    if (dl + sizeof "/rill-ctl.pd" > sizeof p->ctl_dir ||
        mkdtemp(p->ctl_dir) == NULL) {
        rill__log_error("audio: pd: cannot make a private directory in '%s' "
                        "for the patch's messages (%s); set TMPDIR to a "
                        "writable directory", tmp,
                        dl + sizeof "/rill-ctl.pd" > sizeof p->ctl_dir
                            ? "the path is too long"
                            : strerror(errno));
        p->ctl_dir[0] = '\0';
        return RILL_ESYS;
    }
    /* Fits: checked above. */
    memcpy(p->ctl_patch, p->ctl_dir, dl);
    memcpy(p->ctl_patch + dl, "/rill-ctl.pd", sizeof "/rill-ctl.pd");
    char text[sizeof ctl_patch_text + 64];
    size_t n = (size_t)snprintf(text, sizeof text, ctl_patch_text, port,
                                p->token);
    int fd = open(p->ctl_patch,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    for (size_t off = 0; ok && off < n;) {
        ssize_t w = write(fd, text + off, n - off);
        if (w > 0)
            off += (size_t)w;
        else if (!(w < 0 && errno == EINTR))
            ok = false;
    }
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (!ok) {
        rill__log_error("audio: pd: cannot write '%s': %s", p->ctl_patch,
                        strerror(errno));
        ctl_remove_files(p);
        return RILL_ESYS;
    }
    return 0;
}

/* Listen for Pd's message connection and write the patch that makes it. */
static int ctl_listen(struct rill__pd *p) {
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        rill__log_error("audio: pd: no random token for the patch's "
                        "messages: %s", strerror(errno));
        return RILL_ESYS;
    }
    p->token[0] = 't'; /* a letter first: Pd must not read it as a number */
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(p->token + 1 + 2 * i, 3, "%02x", rnd[i]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        rill__log_error("audio: pd: cannot listen for the patch's messages: %s",
                        strerror(errno));
        if (fd >= 0)
            close(fd);
        return RILL_ESYS;
    }
    p->listen_fd = fd;
    return ctl_write_patch(p, ntohs(a.sin_port));
}

/* Connections ctl_accept reads side by side. */
#define CTL_PENDING 8

static void ctl_drop(struct pollfd *pf, size_t *got, nfds_t *n, nfds_t i) {
    close(pf[i].fd);
    memmove(pf + i, pf + i + 1, (*n - i - 1) * sizeof *pf);
    memmove(got + i, got + i + 1, (*n - i - 1) * sizeof *got);
    (*n)--;
}

/* Take Pd's connection: the first to say our hello before the deadline.
 * Another local program may connect too (the port is visible in /proc):
 * connections are read side by side, one is closed at its first wrong
 * byte, and the oldest goes when CTL_PENDING wait, so one that connects
 * and stays silent cannot keep Pd's out. */
static int ctl_accept(struct rill__pd *p, uint64_t deadline_ns) {
    char want[64];
    size_t wn = (size_t)snprintf(want, sizeof want, "rill-hello %s;\n",
                                 p->token);
    struct pollfd pf[1 + CTL_PENDING];
    size_t got[1 + CTL_PENDING];
    nfds_t n = 1;
    pf[0] = (struct pollfd){p->listen_fd, POLLIN, 0};
    uint64_t now;
    while (p->ctl_fd < 0 && (now = rill_clock_now_ns()) < deadline_ns) {
        int ms = (int)((deadline_ns - now) / 1000000u) + 1;
        if (poll(pf, n, ms) <= 0)
            continue;
        for (nfds_t i = n - 1; i >= 1 && p->ctl_fd < 0; i--) {
            if (pf[i].revents == 0)
                continue;
            char c[64];
            ssize_t r = read(pf[i].fd, c, wn - got[i]);
            if (r < 0 && errno == EINTR)
                continue;
            if (r > 0 && memcmp(c, want + got[i], (size_t)r) == 0) {
                got[i] += (size_t)r;
                if (got[i] == wn) {
                    p->ctl_fd = pf[i].fd;
                    pf[i].fd = -1; /* kept: ctl_drop closes only the rest */
                    memmove(pf + i, pf + i + 1, (n - i - 1) * sizeof *pf);
                    memmove(got + i, got + i + 1, (n - i - 1) * sizeof *got);
                    n--;
                }
                continue;
            }
            ctl_drop(pf, got, &n, i);
        }
        if (p->ctl_fd < 0 && (pf[0].revents & POLLIN)) {
            int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                if (n == 1 + CTL_PENDING)
                    ctl_drop(pf, got, &n, 1);
                pf[n] = (struct pollfd){fd, POLLIN, 0};
                got[n++] = 0;
            }
        }
    }
    while (n > 1)
        ctl_drop(pf, got, &n, n - 1);
    return p->ctl_fd >= 0 ? 0 : RILL_ETIMEOUT;
}

/* Starting is over: no more connections, and the token's file goes. */
static void ctl_started(struct rill__pd *p) {
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    p->listen_fd = -1;
    ctl_remove_files(p);
}

static void ctl_close(struct rill__pd *p) {
    if (p->ctl_fd >= 0)
        close(p->ctl_fd);
    p->ctl_fd = -1;
    ctl_started(p);
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
    /* Pd opened rill-ctl.pd with the user's patch, before its audio: it
     * has connected by now, or does within moments. */
    if (p->listen_fd >= 0 &&
        ctl_accept(p, rill_clock_now_ns() + 5000000000u) != 0)
        rill__log_warn("audio: pd: patch '%s': Pd did not open the message "
                       "connection in 5 s; rill_audio_pd_send will fail",
                       p->patch);
    ctl_started(p);
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
