/* Audio sources of `rill serve`. See source.h.
 *
 * The input delivers its blocks on the audio thread itself
 * (RILL_AUDIO_DELIVER_REALTIME): rill_server_tick and rill_var_set_float
 * are wait-free, so the capture clock is the server's tick with nothing in
 * between, and nothing here allocates, locks or prints on that thread. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "source.h"

#define MAX_CHANNELS 64

struct audio_source {
    char kind[8];            /* jack, alsa, file, sine */
    char device[512];
    rill_audio_input *in;
    rill_audio_info info;
    rill_server *srv;
    rill_var *vars[MAX_CHANNELS];
    char names[MAX_CHANNELS][16];
    uint32_t channels;
    /* sine: a double-precision phase accumulator, exact at any rate */
    double freq, phase, step;
    /* --play */
    rill_audio_output *out;
    rill_audio_source *sample;
    rill_audio_info out_info;
    char play[512];
    bool play_given;
    pthread_mutex_t play_lock; /* a->sample: network thread vs. a reopen */
    unsigned block;
    atomic_uint_fast64_t played, dropped;
    uint64_t xruns_reported; /* main thread */
    bool out_failed_said;    /* main thread */
    uint64_t xruns_closed; /* of the inputs closed by a reopen */
    /* Changes from clients (audio_source_change, the device-request
     * thread): the gain (volume / 100) the audio thread applies, the
     * frames per buffer the description announces, and the next tick, so
     * that a reopened input goes on from where the last one stopped. */
    _Atomic float gain;
    double volume;
    uint32_t buffer_frames;
    uint32_t n_declared; /* in1..inN created on the server */
    uint64_t tick_base;
    _Atomic uint64_t next_tick;
};

/* The rates a reopenable input offers to clients (EasyDSP's list, within
 * what the engine takes). */
static const double offered_rates[] = {8000,  11025, 16000, 22050, 32000,
                                       44100, 48000, 88200, 96000};

bool audio_source_is_audio(const char *spec) {
    static const char *const kinds[] = {"jack", "alsa", "file:", "sine:"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(kinds[i]);
        if (strncmp(spec, kinds[i], n) == 0 &&
            (kinds[i][n - 1] == ':' || spec[n] == '\0' || spec[n] == ':'))
            return true;
    }
    return false;
}

/* Audio thread. */
static void on_input(rill_audio_input *in, const void *data, size_t frames,
                     uint64_t first_frame, void *user) {
    (void)in;
    audio_source *a = user;
    const float *x = data;
    uint32_t ch = a->channels;
    /* Written by the device-request thread while this input is stopped, or
     * only the gain, which may change at any block: relaxed is enough. */
    float g = atomic_load_explicit(&a->gain, memory_order_relaxed);
    uint64_t base = a->tick_base;
    for (size_t i = 0; i < frames; i++) {
        rill_server_tick(a->srv, base + first_frame + i);
        if (a->freq > 0) {
            rill_var_set_float(a->vars[0], g * (float)(0.5 * sin(a->phase)));
            a->phase += a->step;
            if (a->phase >= 2 * M_PI)
                a->phase -= 2 * M_PI;
            continue;
        }
        for (uint32_t c = 0; c < ch; c++)
            rill_var_set_float(a->vars[c], g * x[i * ch + c]);
    }
    atomic_store_explicit(&a->next_tick, base + first_frame + frames,
                          memory_order_relaxed);
}

/* "kind[:device]" into a->kind and a->device. */
static void split(audio_source *a, const char *spec) {
    size_t k = strcspn(spec, ":");
    snprintf(a->kind, sizeof a->kind, "%.*s", (int)(k < 7 ? k : 7), spec);
    snprintf(a->device, sizeof a->device, "%s", spec[k] == ':' ? spec + k + 1 : "");
}

static int open_output(audio_source *a, const char *play, unsigned block,
                       char *err, size_t err_size) {
    char kind[8] = "", device[512] = "";
    if (play == NULL) {
        if (strcmp(a->kind, "jack") != 0 && strcmp(a->kind, "alsa") != 0)
            return 0;
        snprintf(kind, sizeof kind, "%s", a->kind);
        snprintf(device, sizeof device, "%s", a->device);
    } else {
        if (strcmp(play, "none") == 0)
            return 0;
        size_t k = strcspn(play, ":");
        snprintf(kind, sizeof kind, "%.*s", (int)(k < 7 ? k : 7), play);
        snprintf(device, sizeof device, "%s", play[k] == ':' ? play + k + 1 : "");
        if (strcmp(kind, "jack") != 0 && strcmp(kind, "alsa") != 0 &&
            strcmp(kind, "file") != 0) {
            snprintf(err, err_size, "--play %s: use none, jack[:SERVER], "
                                    "alsa[:PCM] or file:PATH.wav", play);
            return RILL_EINVAL;
        }
    }
    /* --source file:x.wav --play file:x.wav (or a link to it) would
     * truncate the file being played from. */
    struct stat in_st, out_st;
    if (strcmp(kind, "file") == 0 && strcmp(a->kind, "file") == 0 &&
        stat(a->device, &in_st) == 0 && stat(device, &out_st) == 0 &&
        in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino) {
        snprintf(err, err_size, "--play file:%s is the source's own file: writing it would "
                                "destroy it; give another path", device);
        return RILL_EINVAL;
    }
    /* A recording is never written over: an earlier run's, or this run's
     * before a client changed the rate (which reopens the output). */
    char path[sizeof device];
    if (strcmp(kind, "file") == 0 && *device &&
        free_path(device, path, sizeof path)) {
        printf("rill serve: %s exists (kept); client buffers play into %s\n", device, path);
        fflush(stdout);
        snprintf(device, sizeof device, "%s", path);
    }
    rill_audio_config c = rill_audio_config_default();
    c.backend = kind;
    c.device = *device ? device : (strcmp(kind, "alsa") == 0 ? "default" : NULL);
    c.name = "rill-serve";
    c.rate = a->info.rate;
    c.channels = a->channels;
    c.format = RILL_AUDIO_F32;
    c.buffer_frames = block;
    c.err = err;
    c.err_size = err_size;
    int rc = rill_audio_output_open(&c, &a->out);
    if (rc != 0 && play != NULL) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, err_size, "--play %s: %s", play, why[0] ? why : rill_strerror(rc));
    }
    if (rc != 0)
        return rc;
    rill_audio_output_get_info(a->out, &a->out_info);
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    sc.format = RILL_AUDIO_F32;
    sc.channels = 1; /* a client's buffer plays on every channel */
    sc.ring_frames = a->info.rate; /* a second of room */
    if ((rc = rill_audio_sample_create(a->out, &sc, &a->sample)) != 0 ||
        (rc = rill_audio_output_add(a->out, a->sample)) != 0 ||
        (rc = rill_audio_source_play(a->sample)) != 0) {
        snprintf(err, err_size, "the output's sample: %s", rill_strerror(rc));
        return rc;
    }
    return 0;
}

/* Open a->in at `rate` with `channels` (0: the backend's default). */
static int open_input(audio_source *a, double rate, uint32_t channels,
                      char *err, size_t err_size) {
    rill_audio_config c = rill_audio_config_default();
    c.name = "rill-serve";
    c.rate = (uint32_t)rate;
    c.format = RILL_AUDIO_F32;
    c.buffer_frames = a->block;
    c.delivery = RILL_AUDIO_DELIVER_REALTIME;
    c.err = err;
    c.err_size = err_size;
    if (channels != 0)
        c.channels = channels;
    if (strcmp(a->kind, "sine") == 0) {
        c.backend = "dummy";
        c.channels = 1;
    } else if (strcmp(a->kind, "file") == 0) {
        c.backend = "file";
        c.device = a->device;
        c.loop = true; /* a file stands for a device: it keeps playing */
    } else {
        c.backend = a->kind;
        c.device = *a->device ? a->device : (strcmp(a->kind, "alsa") == 0 ? "default" : NULL);
    }
    int rc = rill_audio_input_open(&c, on_input, a, &a->in);
    if (rc != 0)
        return rc;
    rill_audio_input_get_info(a->in, &a->info);
    if (a->info.channels > MAX_CHANNELS) {
        snprintf(err, err_size, "%s has %u channels; rill serve takes at most %d",
                 a->kind, a->info.channels, MAX_CHANNELS);
        rill_audio_input_close(a->in);
        a->in = NULL;
        return RILL_ENOTSUP;
    }
    a->channels = a->info.channels;
    a->step = 2 * M_PI * a->freq / a->info.rate;
    return 0;
}

int audio_source_open(const char *spec, double rate, unsigned block,
                      const char *play, audio_source **out, char *err,
                      size_t err_size) {
    audio_source *a = calloc(1, sizeof *a);
    if (a == NULL)
        return RILL_ENOMEM;
    split(a, spec);
    a->block = block;
    pthread_mutex_init(&a->play_lock, NULL);
    a->play_given = play != NULL;
    snprintf(a->play, sizeof a->play, "%s", play ? play : "");
    atomic_init(&a->gain, 1.0f);
    a->volume = 100;
    atomic_init(&a->next_tick, 0);
    if (strcmp(a->kind, "sine") == 0) {
        char *end;
        a->freq = strtod(a->device, &end);
        if (*a->device == '\0' || *end != '\0' || !(a->freq > 0) ||
            a->freq >= rate / 2) {
            snprintf(err, err_size, "--source sine:FREQ wants a frequency "
                                    "between 0 and half the rate (%g Hz), "
                                    "not '%s'", rate / 2, a->device);
            free(a);
            return RILL_EINVAL;
        }
    } else if (strcmp(a->kind, "file") == 0 && *a->device == '\0') {
        snprintf(err, err_size, "--source file:PATH needs a path");
        free(a);
        return RILL_EINVAL;
    }
    int rc = open_input(a, rate, 0, err, err_size);
    a->buffer_frames = a->info.buffer_frames;
    if (rc == 0)
        rc = open_output(a, a->play_given ? a->play : NULL, block, err, err_size);
    if (rc != 0) {
        audio_source_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

double audio_source_rate(const audio_source *a) { return a->info.rate; }

unsigned audio_source_block(const audio_source *a) { return a->info.buffer_frames; }

/* in1..inN for the current channel count (never removed: a client may be
 * streaming them). */
static int declare(audio_source *a) {
    for (uint32_t c = a->n_declared; c < a->channels; c++) {
        snprintf(a->names[c], sizeof a->names[c], "in%u", c + 1);
        a->vars[c] = rill_var_create(a->srv, a->names[c], RILL_TYPE_FLOAT, RILL_TS_DENSE);
        if (a->vars[c] == NULL)
            return RILL_ENOMEM;
        a->n_declared = c + 1;
    }
    return 0;
}

/* What this kind of input lets clients change. JACK's rate is its
 * server's and a file's is its own; JACK ports and ALSA channels can be
 * reopened in other numbers; every input takes a volume (a gain here) and
 * a buffer size (the frames per buffer clients stream: the description's,
 * not the device's period). */
static int describe_to_server(audio_source *a) {
    bool alsa = strcmp(a->kind, "alsa") == 0, jack = strcmp(a->kind, "jack") == 0;
    bool reopens_rate = alsa || strcmp(a->kind, "sine") == 0;
    rill_audio_desc d = rill_audio_desc_default();
    d.rate = a->info.rate;
    d.buffer_frames = a->buffer_frames;
    d.volume = a->volume;
    d.channels = a->channels;
    for (uint32_t c = 0; c < a->channels && c < RILL_AUDIO_MAX_CHANNELS; c++)
        snprintf(d.variables[c], sizeof d.variables[c], "%s", a->names[c]);
    if (reopens_rate) {
        memcpy(d.rates, offered_rates, sizeof offered_rates);
        d.n_rates = sizeof offered_rates / sizeof offered_rates[0];
    }
    d.min_channels = alsa || jack ? 1 : 0;
    d.max_channels = alsa || jack ? MAX_CHANNELS / 4 : 0;
    d.buffer_frames_settable = true;
    d.volume_settable = true;
    return rill_server_set_audio(a->srv, &d);
}

int audio_source_start(audio_source *a, rill_server *srv) {
    a->srv = srv;
    int rc;
    if ((rc = declare(a)) != 0 || (rc = describe_to_server(a)) != 0)
        return rc;
    if (a->out != NULL && (rc = rill_audio_output_start(a->out)) != 0)
        return rc;
    return rill_audio_input_start(a->in);
}

/* Stop the input, reopen it at `rate` with `channels`, and start it again;
 * the ticks go on from the last one. If the device refuses, the old
 * configuration is reopened and the reason kept in `why`. The output of
 * --play follows a new rate. */
static int reopen(audio_source *a, double rate, uint32_t channels, char *why,
                  size_t why_size) {
    double old_rate = a->info.rate;
    uint32_t old_channels = a->channels;
    rill_audio_input_stop(a->in);
    if (a->in != NULL) { /* NULL: the last reopen failed altogether */
        rill_audio_stats st;
        rill_audio_input_get_stats(a->in, &st);
        a->xruns_closed += st.xruns; /* the next input counts from 0 */
    }
    rill_audio_input_close(a->in);
    a->in = NULL;
    /* Stopped: the audio thread is gone, its last store is visible. */
    a->tick_base = atomic_load_explicit(&a->next_tick, memory_order_relaxed);
    char err[300] = "";
    int rc = open_input(a, rate, channels, err, sizeof err);
    if (rc != 0) {
        snprintf(why, why_size, "%s", err[0] ? err : rill_strerror(rc));
        char err2[300] = "";
        if (open_input(a, old_rate, old_channels, err2, sizeof err2) != 0) {
            snprintf(why + strlen(why), why_size - strlen(why),
                     "; and reopening the old configuration failed too: %s "
                     "(restart rill serve)", err2);
            return rc;
        }
    } else if (a->info.rate != old_rate && a->out != NULL) {
        pthread_mutex_lock(&a->play_lock);
        rill_audio_output_stop(a->out);
        rill_audio_output_close(a->out);
        rill_audio_source_destroy(a->sample);
        a->out = NULL;
        a->sample = NULL;
        char perr[300] = "";
        if (open_output(a, a->play_given ? a->play : NULL, a->block, perr,
                        sizeof perr) != 0 ||
            rill_audio_output_start(a->out) != 0)
            fprintf(stderr, "rill serve: --play output not reopened at %u Hz: %s\n",
                    a->info.rate, perr);
        pthread_mutex_unlock(&a->play_lock);
    }
    int rc2 = declare(a);
    if (rc2 == 0)
        rc2 = rill_audio_input_start(a->in);
    if (rc2 != 0 && rc == 0) {
        rc = rc2;
        snprintf(why, why_size, "the input did not start again: %s", rill_strerror(rc2));
    }
    return rc;
}

int audio_source_change(rill_server *srv, const rill_audio_change *ch,
                        char *why, size_t why_size, audio_source *a) {
    (void)srv;
    int rc = 0;
    if (a->freq > 0 && ch->rate > 0 && a->freq >= ch->rate / 2) {
        snprintf(why, why_size, "the sine's %g Hz needs a rate above %g Hz",
                 a->freq, 2 * a->freq);
        return RILL_EINVAL;
    }
    if (ch->rate > 0 || ch->channels > 0) {
        rc = reopen(a, ch->rate > 0 ? ch->rate : a->info.rate,
                    ch->channels > 0 ? (uint32_t)ch->channels : a->channels, why,
                    why_size);
        if (rc == 0 && ch->rate > 0)
            rill_server_set_sample_rate(a->srv, a->info.rate);
    }
    if (rc == 0 && ch->volume >= 0) {
        a->volume = ch->volume;
        atomic_store_explicit(&a->gain, (float)(ch->volume / 100.0),
                              memory_order_relaxed);
    }
    if (rc == 0 && ch->buffer_frames > 0)
        a->buffer_frames = ch->buffer_frames;
    /* Also after a failure: the old configuration may have come back with
     * other values than asked. */
    int rc2 = describe_to_server(a);
    return rc != 0 ? rc : rc2;
}

void audio_source_on_buffer(rill_server *srv, uint32_t id, rill_type type,
                            const void *values, size_t count, void *user) {
    (void)srv;
    (void)id;
    audio_source *a = user;
    pthread_mutex_lock(&a->play_lock);
    if (a->sample == NULL) {
        pthread_mutex_unlock(&a->play_lock);
        atomic_fetch_add(&a->dropped, count);
        return;
    }
    float tmp[1024];
    size_t size = rill_type_size(type);
    for (size_t off = 0; off < count;) {
        size_t n = count - off < 1024 ? count - off : 1024;
        for (size_t i = 0; i < n; i++)
            tmp[i] = (float)rill_value_to_double(
                type, (const uint8_t *)values + (off + i) * size);
        size_t written = 0;
        rill_audio_sample_write(a->sample, tmp, n * sizeof *tmp, 0, &written);
        atomic_fetch_add(&a->played, written / sizeof *tmp);
        atomic_fetch_add(&a->dropped, n - written / sizeof *tmp);
        off += n;
    }
    pthread_mutex_unlock(&a->play_lock);
}

void audio_source_stop(audio_source *a) {
    if (a == NULL)
        return;
    if (a->in != NULL)
        rill_audio_input_stop(a->in);
    if (a->out != NULL)
        rill_audio_output_stop(a->out);
}

void audio_source_free(audio_source *a) {
    if (a == NULL)
        return;
    audio_source_stop(a);
    rill_audio_input_close(a->in);
    rill_audio_output_close(a->out);
    rill_audio_source_destroy(a->sample);
    uint64_t dropped = atomic_load(&a->dropped);
    if (a->srv != NULL && (atomic_load(&a->played) > 0 || dropped > 0))
        printf("rill serve: %llu client samples played, %llu dropped%s\n",
               (unsigned long long)atomic_load(&a->played),
               (unsigned long long)dropped,
               a->sample == NULL ? " (no --play output)" : dropped > 0 ? " (the output's ring was full)" : "");
    pthread_mutex_destroy(&a->play_lock);
    free(a);
}

void audio_source_report(audio_source *a, FILE *out) {
    if (a == NULL || a->in == NULL)
        return;
    rill_audio_stats st;
    rill_audio_input_get_stats(a->in, &st);
    uint64_t xruns = a->xruns_closed + st.xruns;
    if (xruns == a->xruns_reported)
        return;
    fprintf(out, "rill serve: input %s: %llu xrun%s so far (the device ran late and "
                 "skipped frames; the ticks jump over them)\n",
            a->info.backend, (unsigned long long)xruns, xruns == 1 ? "" : "s");
    fflush(out);
    a->xruns_reported = xruns;
}

/* "rill serve: <head> <backend> <device> failed<why><tail>" */
static void say_failed(FILE *err, const char *head, const rill_audio_info *info,
                       const char *tail) {
    fprintf(err, "rill serve: %s %s%s%s failed%s%s\n", head, info->backend,
            info->device ? " " : "", info->device ? info->device : "",
            strcmp(info->backend, "jack") == 0
                ? " (the JACK server shut down or dropped this client)"
                : "",
            tail);
}

bool audio_source_failed(audio_source *a, FILE *err) {
    if (a == NULL)
        return false;
    rill_audio_stats st;
    if (a->in != NULL) {
        rill_audio_input_get_stats(a->in, &st);
        if (st.failed) {
            say_failed(err, "input", &a->info,
                       ": its clock stopped, so nothing more can stream; stopping "
                       "(the log files keep what was logged)");
            return true;
        }
    }
    if (a->out != NULL && !a->out_failed_said) {
        rill_audio_output_get_stats(a->out, &st);
        if (st.failed) {
            say_failed(err, "client buffers no longer play: output", &a->out_info,
                       "; the variables stream on");
            a->out_failed_said = true;
        }
    }
    return false;
}

void audio_source_describe(const audio_source *a, FILE *out) {
    fprintf(out, "rill serve: input %s%s%s: %u Hz, %u channel%s, %u-frame blocks\n",
            a->info.backend, a->info.device && *a->info.device ? " " : "",
            a->info.device ? a->info.device : "", a->info.rate, a->channels,
            a->channels == 1 ? "" : "s", a->info.buffer_frames);
    if (a->out != NULL)
        fprintf(out, "rill serve: client buffers play on %s%s%s (%u channel%s)\n",
                a->out_info.backend,
                a->out_info.device && *a->out_info.device ? " " : "",
                a->out_info.device ? a->out_info.device : "", a->out_info.channels,
                a->out_info.channels == 1 ? "" : "s");
    fprintf(out, "%-4s %-8s %-7s %-7s %s\n", "id", "name", "type", "mode", "value");
    for (uint32_t c = 0; c < a->channels; c++)
        fprintf(out, "%-4u %-8s %-7s %-7s %s\n", rill_var_id(a->vars[c]),
                a->names[c], "float", "dense",
                a->freq > 0 ? "0.5 sin(2 pi f t)" : "input channel");
}
