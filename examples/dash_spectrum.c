/* Live spectrum of the device's first audio channel: a Hann-windowed FFT
 * (FFTW) of every input buffer, drawn as a scrolling spectrogram (binary
 * columns) and as the current spectrum in a line chart.
 *
 *   rill serve &                 # the demo source: mic0, mic1
 *   build/examples/dash_spectrum ws://127.0.0.1:5555 30
 *
 * then open http://127.0.0.1:5555/ and pick the "Spectrogram" tab. */
#include <math.h>
#include <string.h>

#include <fftw3.h>

#include "dash_common.h"

typedef struct app {
    rill_dash *dash;
    rill_dash_handler *spec, *now;
    size_t n;        /* FFT size = buffer frames */
    float *in, *window, *col, *xy;
    fftwf_complex *out;
    fftwf_plan plan;
    double rate;
    unsigned long columns;
} app;

static void teardown(app *a) {
    if (a->plan != NULL)
        fftwf_destroy_plan(a->plan);
    fftwf_free(a->in);
    fftwf_free(a->out);
    free(a->window);
    free(a->col);
    free(a->xy);
    a->plan = NULL;
    a->in = a->window = a->col = a->xy = NULL;
    a->out = NULL;
    rill_dash_remove_handler(a->spec);
    rill_dash_remove_handler(a->now);
    a->spec = a->now = NULL;
}

/* A new configuration: a plan for its buffer size, handlers for its rate. */
static void on_config(rill_dash *dash, const rill_audio_desc *audio,
                      void *user) {
    (void)dash;
    app *a = user;
    teardown(a);
    if (audio == NULL)
        return;
    size_t n = audio->buffer_frames, bins = n / 2 + 1;
    a->n = n;
    a->rate = audio->rate;
    a->in = fftwf_malloc(n * sizeof *a->in);
    a->out = fftwf_malloc(bins * sizeof *a->out);
    a->window = malloc(n * sizeof *a->window);
    a->col = malloc(bins * sizeof *a->col);
    a->xy = malloc(2 * bins * sizeof *a->xy);
    if (!a->in || !a->out || !a->window || !a->col || !a->xy) {
        fprintf(stderr, "dash_spectrum: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        a->window[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)n));
    a->plan = fftwf_plan_dft_r2c_1d((int)n, a->in, a->out, FFTW_ESTIMATE);
    char params[256];
    snprintf(params, sizeof params,
             "{\"width\":400,\"height\":%zu,\"min\":-100,\"max\":-20,"
             "\"delta_freq\":%.6g}",
             bins, audio->rate / (double)n);
    a->spec = rill_dash_add_handler(a->dash, "Spectrogram", "spectrogram", params);
    snprintf(params, sizeof params,
             "{\"series\":[{\"name\":\"%s\",\"color\":\"#1f77b4\"}],"
             "\"xName\":\"Hz\",\"min\":-100,\"max\":0}",
             audio->variables[0]);
    a->now = rill_dash_add_handler(a->dash, "Spectrum", "line", params);
}

static void handle_data(rill_dash *dash, const float *buf, size_t frames,
                        size_t channels, uint64_t tick, uint32_t dropped,
                        void *user) {
    (void)dash;
    app *a = user;
    (void)dropped;
    if (a->plan == NULL || frames != a->n)
        return;
    for (size_t i = 0; i < frames; i++)
        a->in[i] = buf[i * channels] * a->window[i];
    fftwf_execute(a->plan);
    size_t bins = a->n / 2 + 1;
    /* dB relative to a full-scale sine through the Hann window (gain n/4). */
    double ref = (double)a->n / 4;
    for (size_t k = 0; k < bins; k++) {
        double re = a->out[k][0], im = a->out[k][1];
        double mag = sqrt(re * re + im * im) / ref;
        a->col[k] = (float)(20 * log10(mag + 1e-9));
        a->xy[2 * k] = (float)((double)k * a->rate / (double)a->n);
        a->xy[2 * k + 1] = a->col[k];
    }
    rill_dash_send_values(a->spec, RILL_TYPE_FLOAT, a->col, bins, 0, 0, tick);
    if (a->columns++ % 4 == 0) /* the line chart ten times a second is plenty */
        rill_dash_send_values(a->now, RILL_TYPE_FLOAT, a->xy, 2 * bins, 0,
                              RILL_DASH_REPLACE, tick);
}

int main(int argc, char **argv) {
    const char *url = dash_url(argc, argv);
    int seconds = dash_seconds(argc, argv, 10);
    app a;
    memset(&a, 0, sizeof a);
    rill_dash_config cfg = rill_dash_config_default();
    cfg.on_data = handle_data;
    cfg.on_config = on_config;
    cfg.user = &a;
    a.dash = dash_connect_or_exit(&cfg, url, "dash_spectrum");
    int rc = rill_dash_run(a.dash, seconds * 1000);
    printf("dash_spectrum: %lu columns of %zu bins in %d s\n", a.columns,
           a.n / 2 + 1, seconds);
    teardown(&a);
    rill_dash_destroy(a.dash);
    fftwf_cleanup();
    return rc == 0 && a.columns > 0 ? 0 : 1;
}
