/* rill__timefit: a device's tick -> host clock line from clock-exchange
 * probes (docs/PROTOCOL.md §9), filtered the way LSL's time correction is:
 *
 *  - probes come in bursts; of each burst only the probe with the smallest
 *    round trip counts (queueing only ever adds delay, so the fastest
 *    exchange is the least biased one);
 *  - a window of the latest points (RILL__TIMEFIT_WINDOW, ~30 s at 4 bursts a
 *    second) is fitted by least squares, host_ns = a + b * tick; points
 *    whose round trip exceeds twice the window's smallest (a congested
 *    moment) and points more than 3 robust standard deviations (1.4826 x the
 *    median absolute residual, at least 20 us) off a first fit are dropped,
 *    then the line is fitted again, and once more through the earliest half
 *    of what is left (the lower envelope: a device's tick thread runs late,
 *    never early, so lateness must not pull the line);
 *  - until the window spans a second, the slope is the nominal 1e9 / rate.
 *
 * Single-threaded (the caller locks). No allocation.
 */
#ifndef RILL_NATS_TIMEFIT_H
#define RILL_NATS_TIMEFIT_H

#include <stdbool.h>
#include <stdint.h>

#include "rill/nats.h"

#define RILL__TIMEFIT_WINDOW 128

typedef struct rill__timefit {
    double nominal_ns_per_tick;
    uint64_t tick[RILL__TIMEFIT_WINDOW];
    int64_t ns[RILL__TIMEFIT_WINDOW]; /* host clock of that tick */
    int64_t rtt[RILL__TIMEFIT_WINDOW];
    uint32_t n, next;
    /* the burst being gathered: its best probe */
    bool burst_have;
    uint64_t burst_tick;
    int64_t burst_ns, burst_rtt;
    /* the latest fit */
    rill_clock_map map; /* ns0 on the host's clock given to add() */
} rill__timefit;

void rill__timefit_init(rill__timefit *f, double rate);

/* One probe of the current burst: the device's (tick, tick_ns) pair, the
 * exchange's times t0..t3 (host, device, device, host). */
void rill__timefit_probe(rill__timefit *f, uint64_t tick, int64_t tick_ns,
                         int64_t t0, int64_t t1, int64_t t2, int64_t t3);

/* The burst is over: its best probe joins the window and the line is
 * fitted again. False if the burst had no usable probe. */
bool rill__timefit_burst_end(rill__timefit *f);

/* Add a point directly (tests): host_ns of tick, with round trip rtt. */
void rill__timefit_add(rill__timefit *f, uint64_t tick, int64_t host_ns,
                       int64_t rtt);

#endif /* RILL_NATS_TIMEFIT_H */
