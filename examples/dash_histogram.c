/* A histogram of the input's sample values (every channel), as a bar
 * chart: counts in 41 bins over [-1, 1], fading (each update keeps 80% of
 * the previous counts), sent as small JSON four times a second.
 *
 *   build/examples/dash_histogram [URL] [SECONDS] */
#include <math.h>
#include <string.h>

#include "dash_common.h"

#define BINS 41

typedef struct app {
    rill_dash *dash;
    rill_dash_handler *bars;
    double counts[BINS];
    uint64_t last_sent;
    double rate;
    unsigned long updates;
} app;

static void on_config(rill_dash *dash, const rill_audio_desc *audio,
                      void *user) {
    (void)dash;
    app *a = user;
    if (audio != NULL)
        a->rate = audio->rate;
}

static void send_histogram(app *a, uint64_t tick) {
    /* {"replace":[{"x":[...],"y":[...]}]} */
    char text[4096];
    size_t len = (size_t)snprintf(text, sizeof text, "{\"replace\":[{\"x\":[");
    for (int i = 0; i < BINS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%.3g",
                                i ? "," : "", -1.0 + 2.0 * i / (BINS - 1));
    len += (size_t)snprintf(text + len, sizeof text - len, "],\"y\":[");
    for (int i = 0; i < BINS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%.0f",
                                i ? "," : "", a->counts[i]);
    snprintf(text + len, sizeof text - len, "]}]}");
    rill_dash_send_json(a->bars, text, tick);
    for (int i = 0; i < BINS; i++)
        a->counts[i] *= 0.8;
    a->updates++;
}

static void handle_data(rill_dash *dash, const float *buf, size_t frames,
                        size_t channels, uint64_t tick, uint32_t dropped,
                        void *user) {
    (void)dash;
    app *a = user;
    (void)dropped;
    for (size_t i = 0; i < frames * channels; i++) {
        double v = buf[i];
        int bin = (int)lround((v + 1.0) * (BINS - 1) / 2.0);
        if (bin < 0)
            bin = 0;
        if (bin >= BINS)
            bin = BINS - 1;
        a->counts[bin] += 1;
    }
    if (tick - a->last_sent >= (uint64_t)(a->rate / 4)) {
        send_histogram(a, tick);
        a->last_sent = tick;
    }
}

int main(int argc, char **argv) {
    const char *url = dash_url(argc, argv);
    int seconds = dash_seconds(argc, argv, 10);
    app a;
    memset(&a, 0, sizeof a);
    a.rate = 48000;
    rill_dash_config cfg = rill_dash_config_default();
    cfg.on_data = handle_data;
    cfg.on_config = on_config;
    cfg.user = &a;
    a.dash = dash_connect_or_exit(&cfg, url, "dash_histogram");
    a.bars = rill_dash_add_handler(a.dash, "Sample values", "bar",
                                   "{\"series\":[{\"name\":\"count\",\"color\":"
                                   "\"#2ca02c\"}],\"xName\":\"value\",\"min\":0}");
    int rc = rill_dash_run(a.dash, seconds * 1000);
    printf("dash_histogram: %lu updates\n", a.updates);
    rill_dash_destroy(a.dash);
    return rc == 0 && a.updates > 0 ? 0 : 1;
}
