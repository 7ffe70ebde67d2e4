/* The JACK backend: a real JACK client named after the stream, with ports
 * out_1..out_N (output) or in_1..in_N (input), running the engine inside
 * JACK's process callback.
 *
 * JACK decides rate and period: they are what the stream reports as
 * obtained. Samples are float in JACK; the user's format is converted on
 * the engine side. Each block is stamped with jack_last_frame_time(), the
 * server's frame clock, which every client of a server shares: that is
 * what lets a test compare an output's and an input's timelines exactly.
 *
 * The device is the JACK server's name (NULL: $JACK_DEFAULT_SERVER, else
 * "default"); rill never starts a server (JackNoStartServer). Ports are
 * connected after activation to config.connect's matches, or to the
 * physical ports when it is NULL.
 */
#include <errno.h>
#include <jack/jack.h>
#include <stdio.h>
#include <string.h>

#include "audio/backend.h"

typedef struct jackdev {
    jack_client_t *client;
    jack_port_t **ports;
    float *inter; /* input: interleaved block */
} jackdev;

#if defined(__SANITIZE_THREAD__)
char rill__jack_tsan_sync;
#endif

static void jack_quiet(const char *msg) { rill__log_debug("jack: %s", msg); }

/* JACK's first complaint while this thread opens a client: its status
 * bits alone say little ("communication error" covers every step), its
 * message says which step failed. */
static _Thread_local bool open_capture;
static _Thread_local char open_why[400];

static void jack_on_error(const char *msg) {
    rill__log_debug("jack: %s", msg);
    if (!open_capture || open_why[0] != '\0')
        return;
    snprintf(open_why, sizeof open_why, "%s", msg);
    for (char *p = open_why; *p != '\0'; p++) /* one line */
        if (*p == '\n')
            *p = ' ';
}

static int process(jack_nframes_t nframes, void *arg) {
    rill__audio_dev *d = arg;
    jackdev *u = d->impl;
    RILL__JACK_CALLBACK_ENTER();
    rill__audio_rt_enter();
    uint64_t time = jack_last_frame_time(u->client);
    uint32_t ch = d->channels;
    size_t done = 0;
    while (done < nframes) {
        size_t n = RILL__MIN((size_t)nframes - done, d->max_block);
        if (d->is_input) {
            for (uint32_t c = 0; c < ch; c++) {
                const float *p = jack_port_get_buffer(u->ports[c], nframes);
                for (size_t i = 0; i < n; i++)
                    u->inter[i * ch + c] = p[done + i];
            }
            rill__audio_capture(d, u->inter, RILL_AUDIO_F32, n, time + done);
        } else {
            const float *mix = rill__audio_render(d, n, time + done);
            for (uint32_t c = 0; c < ch; c++) {
                float *p = jack_port_get_buffer(u->ports[c], nframes);
                for (size_t i = 0; i < n; i++)
                    p[done + i] = mix[i * ch + c];
            }
        }
        done += n;
    }
    rill__audio_rt_leave();
    RILL__JACK_CALLBACK_LEAVE();
    return 0;
}

static int on_xrun(void *arg) {
    rill__audio_dev *d = arg;
    atomic_fetch_add(&d->xruns, 1);
    return 0;
}

static void on_shutdown(void *arg) {
    rill__audio_dev *d = arg;
    atomic_store(&d->failed, true);
}

static jack_client_t *client_open(const char *name, const char *server,
                                  char *err, size_t err_size, int *rc) {
    jack_set_error_function(jack_on_error);
    jack_set_info_function(jack_quiet);
    jack_status_t st = 0;
    int opts = JackNoStartServer | (server ? JackServerName : 0);
    open_why[0] = '\0';
    open_capture = true;
    jack_client_t *c = jack_client_open(name, (jack_options_t)opts, &st, server);
    open_capture = false;
    if (c == NULL) {
        if (st & JackServerFailed) {
            rill__set_err(err, err_size, "no JACK server running%s%s",
                          server ? " named " : "", server ? server : "");
            *rc = RILL_EREFUSED;
        } else if (st & JackNameNotUnique) {
            rill__set_err(err, err_size, "client name '%s' is taken", name);
            *rc = RILL_EEXISTS;
        } else {
            rill__set_err(err, err_size, "cannot open a client (status 0x%x%s%s)",
                          (unsigned)st, open_why[0] != '\0' ? ": " : "", open_why);
            *rc = RILL_EIO;
        }
    }
    return c;
}

static int jack_open(rill__audio_dev *d, char *err, size_t err_size) {
    int rc = 0;
    jackdev *u = rill__calloc(1, sizeof *u);
    if (u == NULL)
        return RILL_ENOMEM;
    u->client = client_open(d->name, d->device, err, err_size, &rc);
    if (u->client == NULL) {
        rill__free(u);
        return rc;
    }
    d->rate = jack_get_sample_rate(u->client);
    d->buffer_frames = jack_get_buffer_size(u->client);
    d->device_format = RILL_AUDIO_F32; /* JACK's ports are float */
    u->ports = rill__calloc(d->channels, sizeof *u->ports);
    u->inter = rill__calloc((size_t)RILL__MAX(d->buffer_frames, 4096u) * d->channels,
                            sizeof(float));
    if (u->ports == NULL || u->inter == NULL) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    for (uint32_t c = 0; c < d->channels; c++) {
        char pn[32];
        snprintf(pn, sizeof pn, "%s_%u", d->is_input ? "in" : "out", c + 1);
        u->ports[c] = jack_port_register(
            u->client, pn, JACK_DEFAULT_AUDIO_TYPE,
            d->is_input ? JackPortIsInput : JackPortIsOutput, 0);
        if (u->ports[c] == NULL) {
            rill__set_err(err, err_size, "cannot register port %s", pn);
            rc = RILL_EIO;
            goto fail;
        }
    }
    jack_set_process_callback(u->client, process, d);
    jack_set_xrun_callback(u->client, on_xrun, d);
    jack_on_shutdown(u->client, on_shutdown, d);
    d->latency_frames = d->buffer_frames;
    d->impl = u;
    return 0;
fail:
    jack_client_close(u->client);
    rill__free(u->ports);
    rill__free(u->inter);
    rill__free(u);
    return rc;
}

static int jack_start(rill__audio_dev *d) {
    jackdev *u = d->impl;
    if (jack_activate(u->client) != 0)
        return RILL_EIO;
    if (d->connect != NULL && d->connect[0] == '\0')
        return 0;
    unsigned long flags = d->is_input ? JackPortIsOutput : JackPortIsInput;
    if (d->connect == NULL)
        flags |= JackPortIsPhysical;
    const char **names = jack_get_ports(u->client, d->connect,
                                        JACK_DEFAULT_AUDIO_TYPE, flags);
    for (uint32_t c = 0; names != NULL && c < d->channels && names[c]; c++) {
        const char *mine = jack_port_name(u->ports[c]);
        int e = d->is_input ? jack_connect(u->client, names[c], mine)
                            : jack_connect(u->client, mine, names[c]);
        if (e != 0 && e != EEXIST)
            rill__log_warn("audio: jack: '%s': cannot connect %s and %s",
                           d->name, mine, names[c]);
    }
    jack_free(names);
    jack_latency_range_t r;
    jack_port_get_latency_range(u->ports[0],
                                d->is_input ? JackCaptureLatency
                                            : JackPlaybackLatency, &r);
    d->latency_frames = r.max;
    return 0;
}

static void jack_stop(rill__audio_dev *d) {
    jackdev *u = d->impl;
    jack_deactivate(u->client);
}

static void jack_close_dev(rill__audio_dev *d) {
    jackdev *u = d->impl;
    if (u == NULL)
        return;
    jack_client_close(u->client);
    rill__free(u->ports);
    rill__free(u->inter);
    rill__free(u);
    d->impl = NULL;
}

static int jack_list_inputs(const char *device,
                            void (*fn)(const char *name, void *user),
                            void *user) {
    char err[128];
    int rc = 0;
    jack_client_t *c = client_open("rill-list", device, err, sizeof err, &rc);
    if (c == NULL)
        return rc;
    const char **names = jack_get_ports(c, NULL, JACK_DEFAULT_AUDIO_TYPE,
                                        JackPortIsOutput);
    for (size_t i = 0; names != NULL && names[i]; i++)
        fn(names[i], user);
    jack_free(names);
    jack_client_close(c);
    return 0;
}

const rill__audio_backend rill__audio_backend_jack = {
    "jack", jack_open, jack_start, jack_stop, jack_close_dev, jack_list_inputs,
};
