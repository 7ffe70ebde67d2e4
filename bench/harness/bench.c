#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *samples, size_t n, double p) {
    if (n == 0)
        return 0.0;
    qsort(samples, n, sizeof *samples, cmp_double);
    double idx = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)idx;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double frac = idx - (double)lo;
    return samples[lo] * (1.0 - frac) + samples[hi] * frac;
}

double bench_median(double *samples, size_t n) {
    return bench_percentile(samples, n, 50.0);
}

void bench_sink(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

void bench_header(const char *title) {
    printf("\n== %s ==\n", title);
    printf("%-44s %12s %-6s  %-30s %8s  %-16s %s\n", "benchmark", "median",
           "unit", "baseline (same run)", "ratio", "target", "met");
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; s != NULL && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void bench_report(const bench_row *r) {
    char base[64] = "-";
    char ratio[16] = "-";
    if (r->baseline_name != NULL) {
        snprintf(base, sizeof base, "%s %.3g", r->baseline_name,
                 r->baseline_median);
        snprintf(ratio, sizeof ratio, "%.2fx", r->ratio);
    }
    printf("%-44s %12.4g %-6s  %-30s %8s  %-16s %s\n", r->name, r->median,
           r->unit, base, ratio, r->target ? r->target : "-",
           r->met < 0 ? "-" : (r->met ? "yes" : "NO"));
    fflush(stdout);

    const char *path = getenv("RILL_BENCH_JSON");
    if (path == NULL || *path == '\0')
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        fprintf(stderr, "bench: cannot append to %s\n", path);
        return;
    }
    fputs("{\"suite\":", f);
    json_string(f, r->suite);
    fputs(",\"name\":", f);
    json_string(f, r->name);
    fprintf(f, ",\"median\":%.6g,\"unit\":", r->median);
    json_string(f, r->unit);
    if (r->baseline_name != NULL) {
        fputs(",\"baseline\":", f);
        json_string(f, r->baseline_name);
        fprintf(f, ",\"baseline_median\":%.6g,\"ratio\":%.4f",
                r->baseline_median, r->ratio);
    }
    if (r->target != NULL) {
        fputs(",\"target\":", f);
        json_string(f, r->target);
        fprintf(f, ",\"met\":%s", r->met ? "true" : "false");
    }
    fputs("}\n", f);
    fclose(f);
}

static const char *bench_name = "bench";
static int bench_failures;

void bench_set_name(const char *name) { bench_name = name; }

void bench_row_failed(const char *row, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: *** %s: FAILED: ", bench_name, row);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (row not reported)\n");
    va_end(ap);
    bench_failures++;
}

bool bench_failed(void) { return bench_failures != 0; }

void bench_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "%s[%d]: rill %s: %s\n", bench_name, (int)getpid(),
            rill_log_level_name(level), msg);
}
