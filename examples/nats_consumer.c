/* Read devices that `rill bridge` publishes into NATS JetStream, with the C
 * API (rill/nats.h), and put their ticks on one clock (docs/SCALE.md).
 *
 *   rill bridge board1=ws://10.0.0.5:5555 board2=ws://10.0.0.6:5555 \
 *       --nats nats://hub:4222 &
 *   ./nats_consumer nats://hub:4222 frame 44100 board1 board2
 *
 * For each device: rill_nats_connect gives a rill_client, on which exactly
 * N values of VAR come as from a direct connection (here with
 * rill_client_stream_n_values); rill_nats_client_clock gives the bridge's
 * tick -> Unix-time line carried with the data, so the devices' first
 * values can be compared in time. Missing values (a gap the bridge or the
 * device reported) make stream_n_values fail with RILL_EIO: exit 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "rill/bridge.h"
#include "rill/nats.h"
#include "rill/rill.h"

static void on_gap(rill_client *cl, const rill_nats_gap *g, void *user) {
    (void)cl;
    (void)user;
    fprintf(stderr, "%s.%s: ticks [%" PRIu64 ", %" PRIu64 ") are missing: %s\n",
            g->device, g->variable, g->from_tick, g->to_tick, g->why);
}

/* Exactly n values of `var` of one bridged device. 0, or 1 after saying why. */
static int read_device(const char *url, const char *device, const char *var, size_t n) {
    rill_client_config cfg = rill_client_config_default();
    cfg.timeout_ms = 20000;
    rill_nats_config ncfg = rill_nats_config_default();
    ncfg.nats_url = url;
    ncfg.device = device;
    ncfg.on_gap = on_gap;
    rill_client *cl = NULL;
    int rc = rill_nats_connect(&cfg, &ncfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot read it from %s: %s\n", device, url, rill_strerror(rc));
        return 1;
    }
    double *vals[1] = {NULL};
    uint64_t *tks[1] = {NULL};
    const char *names[1] = {var};
    rc = rill_client_stream_n_values(cl, names, 1, n, vals, tks);
    const double *values = vals[0];
    const uint64_t *ticks = tks[0];
    rill_clock_map clock;
    int crc = rc == 0 ? rill_nats_client_clock(cl, &clock) : rc;
    if (rc != 0 || crc != 0) {
        fprintf(stderr, "%s: %s\n", device, rill_strerror(rc != 0 ? rc : crc));
        rill_client_destroy(cl);
        return 1;
    }
    size_t in_order = 1, are_ticks = values[0] == (double)ticks[0];
    for (size_t i = 1; i < n; i++) {
        in_order += ticks[i] == ticks[i - 1] + 1;
        are_ticks += values[i] == (double)ticks[i];
    }
    int64_t t0 = rill_clock_map_ns(&clock, ticks[0]);
    printf("%s: %zu values of %s from tick %" PRIu64 "; %s; %s; tick %" PRIu64
           " at Unix %" PRId64 ".%09" PRId64 " s (fit residual %.0f ns over %" PRIu32
           " probes)\n",
           device, n, var, ticks[0], in_order == n ? "in order" : "NOT in order",
           are_ticks == n ? "values are ticks" : "values are not ticks", ticks[0],
           t0 / 1000000000, t0 % 1000000000, clock.err_ns, clock.points);
    rill_client_free(vals[0]);
    rill_client_free(tks[0]);
    rill_client_destroy(cl);
    return in_order == n ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s NATS_URL VAR N DEVICE...\n", argv[0]);
        return 2;
    }
    size_t n = strtoul(argv[3], NULL, 10);
    if (n == 0) {
        fprintf(stderr, "%s: N must be a number of values above 0\n", argv[0]);
        return 2;
    }
    int status = 0;
    for (int i = 4; i < argc; i++)
        status |= read_device(argv[1], argv[i], argv[2], n);
    return status;
}
