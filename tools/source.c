/* Audio sources of `rill serve`. See source.h.
 *
 * The input delivers its blocks on the audio thread itself
 * (RILL_AUDIO_DELIVER_REALTIME): rill_server_tick and rill_var_set_float
 * are wait-free, so the capture clock is the server's tick with nothing in
 * between, and nothing here allocates, locks or prints on that thread. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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
    atomic_uint_fast64_t played, dropped;
    uint64_t xruns_reported; /* main thread */
};

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
    for (size_t i = 0; i < frames; i++) {
        rill_server_tick(a->srv, first_frame + i);
        if (a->freq > 0) {
            rill_var_set_float(a->vars[0], (float)(0.5 * sin(a->phase)));
            a->phase += a->step;
            if (a->phase >= 2 * M_PI)
                a->phase -= 2 * M_PI;
            continue;
        }
        for (uint32_t c = 0; c < ch; c++)
            rill_var_set_float(a->vars[c], x[i * ch + c]);
    }
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
    if (rc != 0)
        return rc;
    rill_audio_output_info(a->out, &a->out_info);
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

int audio_source_open(const char *spec, double rate, unsigned block,
                      const char *play, audio_source **out, char *err,
                      size_t err_size) {
    audio_source *a = calloc(1, sizeof *a);
    if (a == NULL)
        return RILL_ENOMEM;
    split(a, spec);
    rill_audio_config c = rill_audio_config_default();
    c.name = "rill-serve";
    c.rate = (uint32_t)rate;
    c.format = RILL_AUDIO_F32;
    c.buffer_frames = block;
    c.delivery = RILL_AUDIO_DELIVER_REALTIME;
    c.err = err;
    c.err_size = err_size;
    int rc = 0;
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
        c.backend = "dummy";
        c.channels = 1;
    } else if (strcmp(a->kind, "file") == 0) {
        if (*a->device == '\0') {
            snprintf(err, err_size, "--source file:PATH needs a path");
            free(a);
            return RILL_EINVAL;
        }
        c.backend = "file";
        c.device = a->device;
        c.loop = true; /* a file stands for a device: it keeps playing */
    } else {
        c.backend = a->kind;
        c.device = *a->device ? a->device : (strcmp(a->kind, "alsa") == 0 ? "default" : NULL);
    }
    rc = rill_audio_input_open(&c, on_input, a, &a->in);
    if (rc == 0) {
        rill_audio_input_info(a->in, &a->info);
        a->channels = a->info.channels;
        if (a->channels > MAX_CHANNELS) {
            snprintf(err, err_size, "%s has %u channels; rill serve takes at "
                                    "most %d", spec, a->channels, MAX_CHANNELS);
            rc = RILL_ENOTSUP;
        }
        a->step = 2 * M_PI * a->freq / a->info.rate;
    }
    if (rc == 0)
        rc = open_output(a, play, block, err, err_size);
    if (rc != 0) {
        audio_source_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

double audio_source_rate(const audio_source *a) { return a->info.rate; }

int audio_source_start(audio_source *a, rill_server *srv) {
    a->srv = srv;
    for (uint32_t c = 0; c < a->channels; c++) {
        snprintf(a->names[c], sizeof a->names[c], "in%u", c + 1);
        a->vars[c] = rill_var_create(srv, a->names[c], RILL_TYPE_FLOAT, RILL_TS_DENSE);
        if (a->vars[c] == NULL)
            return RILL_ENOMEM;
    }
    int rc = 0;
    if (a->out != NULL && (rc = rill_audio_output_start(a->out)) != 0)
        return rc;
    return rill_audio_input_start(a->in);
}

void audio_source_on_buffer(rill_server *srv, uint32_t id, rill_type type,
                            const void *values, size_t count, void *user) {
    (void)srv;
    (void)id;
    audio_source *a = user;
    if (a->sample == NULL) {
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
    free(a);
}

void audio_source_report(audio_source *a, FILE *out) {
    if (a == NULL || a->in == NULL)
        return;
    rill_audio_stats st;
    rill_audio_input_stats(a->in, &st);
    if (st.xruns == a->xruns_reported)
        return;
    fprintf(out, "rill serve: input %s: %llu xrun%s so far (the device ran late and "
                 "skipped frames; the ticks jump over them)\n",
            a->info.backend, (unsigned long long)st.xruns, st.xruns == 1 ? "" : "s");
    fflush(out);
    a->xruns_reported = st.xruns;
}

void audio_source_describe(const audio_source *a, FILE *out) {
    fprintf(out, "rill serve: input %s%s%s: %u Hz, %u channel%s, %u-frame blocks\n",
            a->info.backend, a->info.device && *a->info.device ? " " : "",
            a->info.device ? a->info.device : "", a->info.rate, a->channels,
            a->channels == 1 ? "" : "s", a->info.buffer_frames);
    if (a->out != NULL)
        fprintf(out, "rill serve: client buffers play on %s%s%s (%u channels)\n",
                a->out_info.backend,
                a->out_info.device && *a->out_info.device ? " " : "",
                a->out_info.device ? a->out_info.device : "", a->out_info.channels);
    fprintf(out, "%-4s %-8s %-7s %-7s %s\n", "id", "name", "type", "mode", "value");
    for (uint32_t c = 0; c < a->channels; c++)
        fprintf(out, "%-4u %-8s %-7s %-7s %s\n", rill_var_id(a->vars[c]),
                a->names[c], "float", "dense",
                a->freq > 0 ? "0.5 sin(2 pi f t)" : "input channel");
}
