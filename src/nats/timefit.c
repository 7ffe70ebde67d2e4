/* The tick -> clock line. See timefit.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nats/timefit.h"

#define W RILL__TIMEFIT_WINDOW

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
    if (!f->burst_exchange || rtt < f->burst_rtt) {
        f->burst_exchange = true;
        f->burst_rtt = rtt;
        f->burst_off = ((t1 - t0) + (t2 - t3)) / 2; /* NTP: within rtt / 2 */
        f->burst_at = t0 + (t3 - t0) / 2;
    }
    if (!f->burst_pair || tick > f->burst_tick) { /* the freshest pair */
        f->burst_pair = true;
        f->burst_tick = tick;
        f->burst_dev_ns = tick_ns;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* y = a + b x by (weighted: `w`, or NULL for all 1) least squares over
 * the points `use` marks (x, y already centred so that doubles hold them
 * exactly); b fixed to `slope` unless `free_slope`. The slope's standard
 * error in *se (infinite if unknown). */
static bool line(const double *x, const double *y, const double *w,
                 const bool *use, uint32_t n, bool free_slope, double slope,
                 double *a, double *b, double *se) {
    double k = 0, sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!use[i])
            continue;
        double wi = w != NULL ? w[i] : 1;
        k++, sw += wi, sx += wi * x[i], sy += wi * y[i];
        sxx += wi * x[i] * x[i], sxy += wi * x[i] * y[i];
    }
    if (k == 0 || !(sw > 0))
        return false;
    double den = sw * sxx - sx * sx;
    *se = INFINITY;
    if (free_slope && k >= 3 && den > 0) {
        *b = (sw * sxy - sx * sy) / den;
        *a = (sy - *b * sx) / sw;
        double ss = 0;
        for (uint32_t i = 0; i < n; i++)
            if (use[i]) {
                double r = y[i] - (*a + *b * x[i]);
                ss += (w != NULL ? w[i] : 1) * r * r;
            }
        if (k > 2)
            *se = sqrt(ss / sw * k / (k - 2) * sw / den);
    } else {
        *b = slope;
        *a = (sy - *b * sx) / sw;
    }
    return true;
}

/* Residuals of the used points; returns how many. */
static uint32_t residuals(const double *x, const double *y, const bool *use,
                          uint32_t n, double a, double b, double *res) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        res[i] = use[i] ? (k++, y[i] - (a + b * x[i])) : 0;
    return k;
}

/* Drop the used points more than 3 robust standard deviations off. */
static void drop_outliers(const bool *in, bool *use, const double *res,
                          uint32_t n) {
    double abs_res[W];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (in[i])
            abs_res[k++] = fabs(res[i]);
    if (k == 0)
        return;
    qsort(abs_res, k, sizeof *abs_res, cmp_double);
    double limit = fmax(3 * 1.4826 * abs_res[k / 2], 20000.0);
    for (uint32_t i = 0; i < n; i++)
        use[i] = in[i] && fabs(res[i]) <= limit;
}

static double rms(const double *res, const bool *use, uint32_t n,
                  uint32_t *used) {
    double ss = 0;
    *used = 0;
    for (uint32_t i = 0; i < n; i++)
        if (use[i]) {
            ss += res[i] * res[i];
            (*used)++;
        }
    return *used > 1 ? sqrt(ss / *used) : 0;
}

static void refit(rill__timefit *f) {
    uint32_t n = f->n;
    uint32_t last = (f->next + W - 1) % W;
    uint64_t tref = f->tick[last];
    int64_t dref = f->dev_ns[last], aref = f->at[last];
    double x[W] = {0}, y[W] = {0}, res[W] = {0};
    bool all[W] = {false}, use[W] = {false};
    uint64_t tmin = UINT64_MAX, tmax = 0;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (double)(int64_t)(f->tick[i] - tref);
        y[i] = (double)(f->dev_ns[i] - dref);
        all[i] = true;
        tmin = f->tick[i] < tmin ? f->tick[i] : tmin;
        tmax = f->tick[i] > tmax ? f->tick[i] : tmax;
    }
    /* The device's line: tick -> device clock. */
    bool free_slope = (double)(tmax - tmin) * f->nominal_ns_per_tick >= 1e9;
    double a, b, se;
    if (!line(x, y, NULL, all, n, free_slope, f->nominal_ns_per_tick, &a, &b,
              &se))
        return;
    residuals(x, y, all, n, a, b, res);
    drop_outliers(all, use, res, n);
    line(x, y, NULL, use, n, free_slope, f->nominal_ns_per_tick, &a, &b, &se);
    uint32_t k = residuals(x, y, use, n, a, b, res);
    if (k >= 6) { /* the lower envelope: lateness must not pull the line */
        double sorted[W];
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if (use[i])
                sorted[m++] = res[i];
        qsort(sorted, m, sizeof *sorted, cmp_double);
        double median = sorted[m / 2];
        for (uint32_t i = 0; i < n; i++)
            use[i] = use[i] && res[i] <= median;
        line(x, y, NULL, use, n, free_slope, f->nominal_ns_per_tick, &a, &b,
             &se);
    }
    residuals(x, y, use, n, a, b, res);
    uint32_t dev_used;
    double dev_rms = rms(res, use, n, &dev_used);

    /* The offset. An exchange's error is at most half its round trip's
     * excess over the true minimum: weighted by 1 / (excess / 2 + s0)^2,
     * s0 a tenth of the window's median excess (at least 20 us), the
     * fastest exchanges count most and the slow ones hardly at all. */
    double rs[W] = {0}, w[W] = {0};
    double rmin = INFINITY;
    for (uint32_t i = 0; i < n; i++)
        rmin = fmin(rmin, (double)f->rtt[i]);
    for (uint32_t i = 0; i < n; i++)
        rs[i] = (double)f->rtt[i] - rmin;
    qsort(rs, n, sizeof *rs, cmp_double);
    double s0 = fmax(20000.0, 0.1 * rs[n / 2]);
    int64_t amin = INT64_MAX, amax = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (double)(f->at[i] - aref);
        y[i] = (double)f->off[i];
        double h = ((double)f->rtt[i] - rmin) / 2 + s0;
        w[i] = 1 / (h * h);
        use[i] = true;
        amin = f->at[i] < amin ? f->at[i] : amin;
        amax = f->at[i] > amax ? f->at[i] : amax;
    }
    double c, d, dse;
    bool drift = (double)(amax - amin) >= 10e9;
    if (!line(x, y, w, use, n, drift, 0, &c, &d, &dse))
        return;
    if (drift && fabs(d) < 3 * dse) /* not out of the noise: no drift */
        line(x, y, w, use, n, false, 0, &c, &d, &dse);
    double ssw = 0, sw = 0;
    for (uint32_t i = 0; i < n; i++) {
        double r = y[i] - (c + d * x[i]);
        ssw += w[i] * r * r;
        sw += w[i];
    }
    double off_rms = sw > 0 ? sqrt(ssw / sw) : 0;
    uint32_t off_used = n;

    /* host = device - offset, the offset taken when the host's clock read
     * the device's time of tref (its drift: d per host ns). */
    double dev_at_tref = (double)dref + a;
    double host_at_tref =
        dev_at_tref - (c + d * (dev_at_tref - c - (double)aref));
    f->map.tick0 = tref;
    f->map.ns0 = (int64_t)llround(host_at_tref);
    f->map.ns_per_tick = b / (1 + d);
    f->map.err_ns = sqrt(dev_rms * dev_rms + off_rms * off_rms);
    f->map.points = dev_used < off_used ? dev_used : off_used;
}

bool rill__timefit_burst_end(rill__timefit *f) {
    bool ok = f->burst_pair && f->burst_exchange;
    if (ok) {
        f->tick[f->next] = f->burst_tick;
        f->dev_ns[f->next] = f->burst_dev_ns;
        f->at[f->next] = f->burst_at;
        f->off[f->next] = f->burst_off;
        f->rtt[f->next] = f->burst_rtt;
        f->next = (f->next + 1) % W;
        if (f->n < W)
            f->n++;
        refit(f);
    }
    f->burst_pair = f->burst_exchange = false;
    return ok;
}
