/* Direction of arrival from two microphones: the delay between the first
 * two input channels, from their cross-correlation (peak over the lags a
 * 0.2 m pair allows, refined by a parabola through the peak), gives the
 * angle between the source and the pair's axis: theta = acos(delay / max).
 * Shown as a beam on a polar plot and as an angle history.
 *
 * rill serve's demo source (mic0, mic1) is a noise source circling such a
 * pair once every 20 s, so the estimate sweeps 0 -> 180 -> 0 degrees (a
 * pair cannot tell the front from the back).
 *
 *   build/examples/dash_doa [URL] [SECONDS] */
#include <math.h>
#include <string.h>

#include "dash_common.h"

#define SPACING_M 0.2 /* the demo's pair */
#define SOUND_SPEED 343.0
#define POINTS 72     /* polar resolution: 5 degrees */

typedef struct app {
    rill_dash *dash;
    rill_dash_handler *polar, *history;
    double rate;
    unsigned long estimates;
    double last_deg;
    uint64_t last_tick;
} app;

/* Cross-correlation r(k) = sum mic1[n] mic0[n - k] for |k| <= max_lag; the
 * lag of its peak, refined by a parabola, is mic1's delay in frames. */
static double estimate_delay(const float *buf, size_t frames, size_t channels,
                             int max_lag) {
    double best = -INFINITY, r[2 * 64 + 1];
    int best_k = 0;
    for (int k = -max_lag; k <= max_lag; k++) {
        double sum = 0;
        for (size_t n = (size_t)max_lag; n + (size_t)max_lag < frames; n++)
            sum += (double)buf[n * channels + 1] *
                   buf[((size_t)((long)n - k)) * channels];
        r[k + max_lag] = sum;
        if (sum > best) {
            best = sum;
            best_k = k;
        }
    }
    double delay = best_k;
    if (best_k > -max_lag && best_k < max_lag) {
        double l = r[best_k + max_lag - 1], c = r[best_k + max_lag],
               h = r[best_k + max_lag + 1];
        double den = l - 2 * c + h;
        if (den < 0)
            delay += 0.5 * (l - h) / den;
    }
    return delay;
}

static void handle_data(rill_dash *dash, const float *buf, size_t frames,
                        size_t channels, uint64_t tick, uint32_t dropped,
                        void *user) {
    (void)dash;
    app *a = user;
    (void)dropped;
    if (channels < 2)
        return;
    double max_delay = SPACING_M / SOUND_SPEED * a->rate;
    int max_lag = (int)ceil(max_delay) + 2;
    if (max_lag > 64 || frames < (size_t)(4 * max_lag))
        return;
    double delay = estimate_delay(buf, frames, channels, max_lag);
    double x = delay / max_delay;
    x = x > 1 ? 1 : x < -1 ? -1 : x;
    double theta = acos(x) * 180 / M_PI;
    /* A beam around theta: POINTS + 1 radii, 0 to 360 degrees. */
    float radii[POINTS + 1];
    for (int i = 0; i <= POINTS; i++) {
        double phi = 360.0 * i / POINTS, d = fabs(phi - theta);
        d = d > 180 ? 360 - d : d;
        radii[i] = (float)exp(-(d * d) / (2 * 12.0 * 12.0));
    }
    rill_dash_send_values(a->polar, RILL_TYPE_FLOAT, radii, POINTS + 1, 0,
                          RILL_DASH_REPLACE, tick);
    float xy[2] = {(float)((double)tick / a->rate), (float)theta};
    rill_dash_send_values(a->history, RILL_TYPE_FLOAT, xy, 2, 0, 0, tick);
    a->estimates++;
    a->last_deg = theta;
    a->last_tick = tick;
}

static void on_config(rill_dash *dash, const rill_audio_desc *audio,
                      void *user) {
    (void)dash;
    app *a = user;
    if (audio == NULL)
        return;
    a->rate = audio->rate;
    if (audio->channels < 2)
        fprintf(stderr, "dash_doa: the device has %zu channel(s); two are "
                        "needed\n", audio->channels);
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
    a.dash = dash_connect_or_exit(&cfg, url, "dash_doa");
    char params[200];
    snprintf(params, sizeof params,
             "{\"series\":[\"estimate\"],\"numPoints\":%d,\"rmax\":1,"
             "\"title\":\"Direction of arrival\"}", POINTS);
    a.polar = rill_dash_add_handler(a.dash, "Direction", "polar-area", params);
    a.history = rill_dash_add_handler(
        a.dash, "Angle", "line",
        "{\"series\":[{\"name\":\"degrees\"}],\"xName\":\"s\",\"min\":0,"
        "\"max\":180,\"xLimitNb\":400}");
    int rc = rill_dash_run(a.dash, seconds * 1000);
    printf("dash_doa: %lu estimates; last %.1f degrees at tick %llu\n",
           a.estimates, a.last_deg, (unsigned long long)a.last_tick);
    rill_dash_destroy(a.dash);
    return rc == 0 && a.estimates > 0 ? 0 : 1;
}
