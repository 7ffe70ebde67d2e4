/* The tick -> clock line. See timefit.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nats/timefit.h"

void rill__timefit_init(rill__timefit *f, double rate) {
    memset(f, 0, sizeof *f);
    f->nominal_ns_per_tick = rate > 0 ? 1e9 / rate : 1e6;
    f->map.ns_per_tick = f->nominal_ns_per_tick;
}

void rill__timefit_probe(rill__timefit *f, uint64_t tick, int64_t tick_ns,
                         int64_t t0, int64_t t1, int64_t t2, int64_t t3) {
    int64_t rtt = (t3 - t0) - (t2 - t1);
    if (rtt < 0)
        rtt = 0;
    /* NTP: the device's clock minus the host's, to within rtt / 2. */
    int64_t offset = ((t1 - t0) + (t2 - t3)) / 2;
    if (!f->burst_have || rtt < f->burst_rtt) {
        f->burst_have = true;
        f->burst_tick = tick;
        f->burst_ns = tick_ns - offset;
        f->burst_rtt = rtt;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Least squares over the points `use` marks, centred on the first point
 * (ticks and nanoseconds are large; differences are exact in doubles). */
static bool fit(const rill__timefit *f, const bool *use, uint64_t tref,
                int64_t nref, bool free_slope, double *a, double *b) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        if (!use[i])
            continue;
        double x = (double)(int64_t)(f->tick[i] - tref);
        double y = (double)(f->ns[i] - nref);
        n++, sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    if (n == 0)
        return false;
    double den = n * sxx - sx * sx;
    if (free_slope && n >= 3 && den > 0) {
        *b = (n * sxy - sx * sy) / den;
        *a = (sy - *b * sx) / n;
    } else {
        *b = f->nominal_ns_per_tick;
        *a = (sy - *b * sx) / n;
    }
    return true;
}

static void refit(rill__timefit *f) {
    bool use[RILL__TIMEFIT_WINDOW] = {false};
    double res[RILL__TIMEFIT_WINDOW] = {0};
    int64_t min_rtt = INT64_MAX;
    uint64_t tmin = UINT64_MAX, tmax = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        min_rtt = f->rtt[i] < min_rtt ? f->rtt[i] : min_rtt;
        tmin = f->tick[i] < tmin ? f->tick[i] : tmin;
        tmax = f->tick[i] > tmax ? f->tick[i] : tmax;
    }
    /* A slope needs a second of ticks; before that the nominal rate. */
    bool free_slope =
        (double)(tmax - tmin) * f->nominal_ns_per_tick >= 1e9;
    for (uint32_t i = 0; i < f->n; i++)
        use[i] = f->rtt[i] <= 2 * min_rtt + 20000;
    uint64_t tref = f->tick[(f->next + RILL__TIMEFIT_WINDOW - 1) % RILL__TIMEFIT_WINDOW];
    int64_t nref = f->ns[(f->next + RILL__TIMEFIT_WINDOW - 1) % RILL__TIMEFIT_WINDOW];
    double a, b;
    if (!fit(f, use, tref, nref, free_slope, &a, &b))
        return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < f->n; i++)
        if (use[i])
            res[k++] = fabs((double)(f->ns[i] - nref) -
                            (a + b * (double)(int64_t)(f->tick[i] - tref)));
    double sorted[RILL__TIMEFIT_WINDOW];
    memcpy(sorted, res, k * sizeof *res);
    qsort(sorted, k, sizeof *sorted, cmp_double);
    double mad = k > 0 ? sorted[k / 2] : 0;
    double limit = fmax(3 * 1.4826 * mad, 20000.0);
    k = 0;
    for (uint32_t i = 0; i < f->n; i++)
        if (use[i] && res[k++] > limit)
            use[i] = false;
    if (!fit(f, use, tref, nref, free_slope, &a, &b))
        return;
    /* The lower envelope: a device's tick thread can only run late (a block
     * whose thread woke late, or ran behind), never early, so the line goes
     * through the earliest half of the points, not the middle of all. */
    double signed_res[RILL__TIMEFIT_WINDOW];
    k = 0;
    for (uint32_t i = 0; i < f->n; i++)
        if (use[i])
            signed_res[k++] = (double)(f->ns[i] - nref) -
                              (a + b * (double)(int64_t)(f->tick[i] - tref));
    if (k >= 6) {
        memcpy(sorted, signed_res, k * sizeof *signed_res);
        qsort(sorted, k, sizeof *sorted, cmp_double);
        double median = sorted[k / 2];
        k = 0;
        for (uint32_t i = 0; i < f->n; i++)
            if (use[i] && signed_res[k++] > median)
                use[i] = false;
        if (!fit(f, use, tref, nref, free_slope, &a, &b))
            return;
    }
    double ss = 0;
    uint32_t used = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        if (!use[i])
            continue;
        double r = (double)(f->ns[i] - nref) -
                   (a + b * (double)(int64_t)(f->tick[i] - tref));
        ss += r * r;
        used++;
    }
    f->map.tick0 = tref;
    f->map.ns0 = nref + (int64_t)llround(a);
    f->map.ns_per_tick = b;
    f->map.err_ns = used > 1 ? sqrt(ss / used) : 0;
    f->map.points = used;
}

void rill__timefit_add(rill__timefit *f, uint64_t tick, int64_t host_ns,
                       int64_t rtt) {
    f->tick[f->next] = tick;
    f->ns[f->next] = host_ns;
    f->rtt[f->next] = rtt;
    f->next = (f->next + 1) % RILL__TIMEFIT_WINDOW;
    if (f->n < RILL__TIMEFIT_WINDOW)
        f->n++;
    refit(f);
}

bool rill__timefit_burst_end(rill__timefit *f) {
    if (!f->burst_have)
        return false;
    f->burst_have = false;
    rill__timefit_add(f, f->burst_tick, f->burst_ns, f->burst_rtt);
    return true;
}
