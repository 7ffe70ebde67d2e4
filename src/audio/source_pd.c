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
 */
#include <errno.h>
#include <fcntl.h>
#include <jack/jack.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    char *argv[] = {p->pd_path, "-nogui", "-jack", "-jackname", p->synth,
                    "-nojackconnect", "-noadc", "-nomidi", "-outchannels", ch,
                    "-r", rate, "-send", "pd dsp 1", p->patch, NULL};
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
    return 0;
fail:
    pd_stop(s);
    return rc;
}

static void pd_stop(rill_audio_source *s) {
    struct rill__pd *p = s->pd;
    if (p == NULL)
        return;
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
