/* Every handler type at once, with small fixed data: a tour of the
 * dashboard's tabs (docs/HANDLERS.md) and what the browser tests check
 * through the real relay. Every 300 ms it sends each handler's whole
 * state again (replace semantics), so a page opened later shows the same.
 *
 *   build/examples/dash_tour [URL] [SECONDS] */
#include <math.h>
#include <string.h>

#include "dash_common.h"

enum { LINE, AREA, BAR, SCATTER, POLAR_LINE, POLAR_AREA, HEATMAP, SPECTRUM,
       AUDIO, METER, N };

static const struct {
    const char *name, *type, *params;
} specs[N] = {
    {"Line", "line",
     "{\"series\":[{\"name\":\"left\",\"color\":\"#ff0000\"},{\"name\":"
     "\"right\",\"color\":\"#0000ff\"}],\"xName\":\"time\",\"min\":-1,\"max\":1}"},
    {"Area", "area",
     "{\"series\":[{\"name\":\"left\",\"color\":\"#ff0000\"},{\"name\":"
     "\"right\",\"color\":\"#0000ff\"}]}"},
    {"Histogram", "bar", "{\"series\":[{\"name\":\"count\",\"color\":\"#00aa00\"}]}"},
    {"Scatter", "scatter",
     "{\"series\":[{\"name\":\"left\",\"color\":\"#ff0000\"},{\"name\":"
     "\"right\",\"color\":\"#0000ff\"}]}"},
    {"Direction", "polar-line",
     "{\"series\":[\"doa\"],\"numPoints\":4,\"rmax\":1,\"title\":\"DOA\"}"},
    {"Pattern", "polar-area", "{\"series\":[\"gain\"],\"numPoints\":4,\"rmax\":2}"},
    {"Heat", "heatmap", "{\"range\":true,\"min\":0,\"max\":1}"},
    {"Spectrum", "spectrogram",
     "{\"width\":8,\"height\":4,\"min\":0,\"max\":1,\"delta_freq\":1000}"},
    {"Output", "audio", "{\"rate\":16000,\"channels\":1}"},
    {"Levels", "meter", "{\"channels\":[\"L\",\"R\"],\"min\":-60,\"max\":0}"},
};

/* One round: each handler's whole state. */
static void send_all(rill_dash_handler *const *h, uint32_t round) {
    rill_dash_send_json(h[LINE],
                        "{\"replace\":[{\"x\":[0,1,2,3],\"y\":[0.5,-0.5,0.25,0]},"
                        "{\"x\":[1,2],\"y\":[0.1,0.2]}]}", 0);
    rill_dash_send_json(h[AREA], "{\"replace\":[{\"x\":[5,6],\"y\":[3,4]}]}", 0);
    rill_dash_send_json(h[BAR], "{\"replace\":[{\"x\":[0,1,2,3],\"y\":[4,8,2,1]}]}",
                        0);
    static const float pairs[] = {0, 0, 1, 1, 2, 4}; /* x, y of series 1 */
    rill_dash_send_values(h[SCATTER], RILL_TYPE_FLOAT, pairs, 6, 1,
                          RILL_DASH_REPLACE, 0);
    rill_dash_send_json(h[POLAR_LINE], "[{\"replace\":[1,1,1,1,1]}]", 0);
    static const float radii[] = {2, 2, 2, 2, 2};
    rill_dash_send_values(h[POLAR_AREA], RILL_TYPE_FLOAT, radii, 5, 0,
                          RILL_DASH_REPLACE, 0);
    rill_dash_send_json(h[HEATMAP], "[[0,0,1],[1,0.5,0]]", 0);
    /* Three columns: the top bin hot, then twice the lowest. */
    static const float cols[] = {0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0};
    rill_dash_send_values(h[SPECTRUM], RILL_TYPE_FLOAT, cols, 12, 0,
                          RILL_DASH_REPLACE, 0);
    /* 800 frames of a 440 Hz sine at 16 kHz, amplitude 16000 / 32768. */
    int16_t pcm[800];
    for (int k = 0; k < 800; k++)
        pcm[k] = (int16_t)lround(16000 * sin(2 * M_PI * 440 *
                                             (double)(round * 800u + (uint32_t)k) /
                                             16000));
    rill_dash_send_pcm16(h[AUDIO], pcm, 800, 1, 0);
    rill_dash_send_json(h[METER], "[-6,-60]", 0);
}

int main(int argc, char **argv) {
    const char *url = dash_url(argc, argv);
    int seconds = dash_seconds(argc, argv, 10);
    rill_dash_config cfg = rill_dash_config_default();
    rill_set_log_callback(dash_log, RILL_LOG_WARN, NULL);
    cfg.url = url;
    rill_dash *dash = NULL;
    int rc = rill_dash_connect(&cfg, &dash);
    if (rc != 0) {
        fprintf(stderr, "dash_tour: cannot connect to %s: %s\n", url,
                rill_strerror(rc));
        return 1;
    }
    rill_dash_handler *h[N];
    for (int i = 0; i < N; i++) {
        h[i] = rill_dash_add_handler(dash, specs[i].name, specs[i].type,
                                     specs[i].params);
        if (h[i] == NULL) {
            fprintf(stderr, "dash_tour: cannot create %s\n", specs[i].name);
            return 1;
        }
    }
    printf("dash_tour: %d handlers on %s\n", N, url);
    fflush(stdout);
    uint32_t round = 0;
    uint64_t end = rill_clock_now_ns() + (uint64_t)seconds * 1000000000u;
    while (rill_clock_now_ns() < end) {
        send_all(h, round++);
        if (rill_dash_run(dash, 300) == RILL_ECLOSED) {
            fprintf(stderr, "dash_tour: the server closed the connection\n");
            rill_dash_destroy(dash);
            return 1;
        }
    }
    printf("dash_tour: %u rounds\n", round);
    rill_dash_destroy(dash);
    return 0;
}
