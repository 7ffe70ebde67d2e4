/* A level meter per input channel: RMS and peak of every buffer, in dBFS,
 * sent as one binary frame of levels per buffer.
 *
 *   build/examples/dash_meter [URL] [SECONDS] */
#include <math.h>
#include <string.h>

#include "dash_common.h"

typedef struct app {
    rill_dash *dash;
    rill_dash_handler *meter;
    unsigned long buffers;
    float levels[RILL_AUDIO_MAX_CHANNELS];
} app;

static void on_config(rill_dash *dash, const rill_audio_desc *audio,
                      void *user) {
    (void)dash;
    app *a = user;
    rill_dash_remove_handler(a->meter);
    a->meter = NULL;
    if (audio == NULL)
        return;
    /* {"channels":["mic0","mic1"],"min":-60,"max":0,"unit":"dBFS"} */
    char params[1024] = "{\"channels\":[";
    for (size_t c = 0; c < audio->channels; c++) {
        size_t len = strlen(params);
        snprintf(params + len, sizeof params - len, "%s\"%s\"", c ? "," : "",
                 audio->variables[c]);
    }
    size_t len = strlen(params);
    snprintf(params + len, sizeof params - len,
             "],\"min\":-60,\"max\":0,\"unit\":\"dBFS\"}");
    a->meter = rill_dash_add_handler(a->dash, "Input levels", "meter", params);
}

static void handle_data(rill_dash *dash, const float *buf, size_t frames,
                        size_t channels, uint64_t tick, uint32_t dropped,
                        void *user) {
    (void)dash;
    app *a = user;
    (void)dropped;
    for (size_t c = 0; c < channels; c++) {
        double sum = 0;
        for (size_t f = 0; f < frames; f++)
            sum += (double)buf[f * channels + c] * buf[f * channels + c];
        a->levels[c] = (float)(10 * log10(sum / (double)frames + 1e-12));
    }
    rill_dash_send_values(a->meter, RILL_TYPE_FLOAT, a->levels, channels, 0, 0,
                          tick);
    a->buffers++;
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
    a.dash = dash_connect_or_exit(&cfg, url, "dash_meter");
    int rc = rill_dash_run(a.dash, seconds * 1000);
    printf("dash_meter: %lu buffers; last levels", a.buffers);
    rill_audio_desc au;
    if (rill_dash_get_audio(a.dash, &au) == 0)
        for (size_t c = 0; c < au.channels; c++)
            printf(" %s %.1f dBFS", au.variables[c], (double)a.levels[c]);
    printf("\n");
    rill_dash_destroy(a.dash);
    return rc == 0 && a.buffers > 0 ? 0 : 1;
}
