/* rill's benchmark harness.
 *
 * Machines here are shared and noisy, so a benchmark repeats each
 * measurement, reports the median, and compares it with a baseline measured
 * in the same process a moment before (memcpy, a raw socket, ...). Targets
 * are stated as ratios to that baseline or as absolute medians.
 */
#ifndef RILL_BENCH_H
#define RILL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/rill.h"

/* Median of n samples (sorts them in place). */
double bench_median(double *samples, size_t n);

/* Percentile p (0..100) of n samples (sorts them in place). */
double bench_percentile(double *samples, size_t n, double p);

/* Keeps the optimiser from deleting work whose result is otherwise unused. */
void bench_sink(const void *p);

/* One row of the results table (printed, and appended to $RILL_BENCH_JSON).
 * baseline_name may be NULL for rows without a baseline. `target` is free
 * text ("<= 20 ns", ">= 0.5x memcpy"); `met` is < 0 when there is no target,
 * else 0 or 1. */
typedef struct bench_row {
    const char *suite;
    const char *name;
    double median;
    const char *unit;
    const char *baseline_name;
    double baseline_median;
    double ratio;
    const char *target;
    int met;
} bench_row;

void bench_report(const bench_row *row);

/* Prints the table header once per process. */
void bench_header(const char *title);

/* The program's name in the messages below (default "bench"). */
void bench_set_name(const char *name);

/* A row whose setup or data was wrong: said loudly on stderr, never
 * reported; bench_failed() is true from then on (the exit status). */
void bench_row_failed(const char *row, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool bench_failed(void);

/* A rill log callback: the library's messages on stderr, with the
 * program's name and pid. */
void bench_log(rill_log_level level, const char *msg, void *user);

#endif /* RILL_BENCH_H */
