/* rill__timefit: a device's tick -> host clock line from clock-exchange
 * probes (docs/PROTOCOL.md §10), filtered as LSL's time correction is, in
 * two parts with two kinds of error:
 *
 *  - the device's line, tick -> device clock, from its own (tick, tickNs)
 *    pairs. They carry no network error, only the tick thread's lateness
 *    (a block whose thread woke late runs its ticks late, never early), so
 *    the line goes through the earliest half of the pairs (the lower
 *    envelope), after dropping those more than 3 robust standard
 *    deviations (1.4826 x the median absolute residual, at least 20 us)
 *    off a first fit. Its slope is the nominal 1e9 / rate until the window
 *    spans a second.
 *  - the offset, device clock minus host clock, from the exchange's four
 *    times (NTP: within half the round trip). Its error is the asymmetry
 *    of the two directions' delays, at most half the round trip's excess
 *    over the fastest: of each burst of probes the fastest counts, and the
 *    window's are fitted by least squares weighted by 1 / (excess / 2 +
 *    s0)^2 (s0: a tenth of the median excess, at least 20 us; symmetric,
 *    no envelope), so the fastest exchanges count most. The offset's drift
 *    (the two crystals') is fitted only where it stands out of the noise
 *    (3 standard errors) over at least 10 s.
 *
 * The window is the latest RILL__TIMEFIT_WINDOW bursts (~30 s at 4 a
 * second). Single-threaded (the caller locks). No allocation.
 */
#ifndef RILL_NATS_TIMEFIT_H
#define RILL_NATS_TIMEFIT_H

#include <stdbool.h>
#include <stdint.h>

#include "rill/nats.h"

#define RILL__TIMEFIT_WINDOW 128

typedef struct rill__timefit {
    double nominal_ns_per_tick;
    /* per burst: the device's pair, and the exchange's offset */
    uint64_t tick[RILL__TIMEFIT_WINDOW];
    int64_t dev_ns[RILL__TIMEFIT_WINDOW]; /* the device's clock at tick */
    int64_t at[RILL__TIMEFIT_WINDOW];     /* host clock of the exchange */
    int64_t off[RILL__TIMEFIT_WINDOW];    /* device clock - host clock */
    int64_t rtt[RILL__TIMEFIT_WINDOW];
    uint32_t n, next;
    /* the burst being gathered */
    bool burst_pair, burst_exchange;
    uint64_t burst_tick;
    int64_t burst_dev_ns, burst_at, burst_off, burst_rtt;
    /* the latest fit */
    rill_clock_map map; /* ns0 on the host's clock of t0 and t3 */
} rill__timefit;

void rill__timefit_init(rill__timefit *f, double rate);

/* One probe of the current burst: the device's (tick, tick_ns) pair, the
 * exchange's times t0..t3 (host, device, device, host). */
void rill__timefit_probe(rill__timefit *f, uint64_t tick, int64_t tick_ns,
                         int64_t t0, int64_t t1, int64_t t2, int64_t t3);

/* The burst is over: its freshest pair and its fastest exchange join the
 * window and the line is fitted again. False if the burst had no usable
 * probe. */
bool rill__timefit_burst_end(rill__timefit *f);

#endif /* RILL_NATS_TIMEFIT_H */
