/* Stream exactly N values of some variables (pybela tutorial 2, "Streaming
 * a fixed number of values"), in C.
 *
 *   ./stream_n_values [URL] [N] [VAR...]      # default: 1000 of frame, sine
 *
 * pybela returns "a few more" values than asked, since buffers have a fixed
 * size; rill_client_stream_n_values returns exactly N, with the tick of
 * each, and fails rather than return values with a hole in them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rill/rill.h"

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("RILL_URL");
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 1000;
    const char *def[] = {"frame", "sine"};
    const char *const *vars = argc > 3 ? (const char *const *)argv + 3 : def;
    size_t n_vars = argc > 3 ? (size_t)(argc - 3) : 2;

    rill_client_config cfg = rill_client_config_default();
    if (url != NULL)
        cfg.url = url;
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", cfg.url, rill_strerror(rc));
        return 1;
    }
    /* Every variable from the same tick: values[i] and ticks[i] are the
     * N values of vars[i]. */
    double **values = calloc(n_vars, sizeof *values);
    uint64_t **ticks = calloc(n_vars, sizeof *ticks);
    if (values == NULL || ticks == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    rc = rill_client_stream_n_values(cl, vars, n_vars, n, values, ticks);
    if (rc != 0) {
        fprintf(stderr, "stream_n_values: %s\n", rill_strerror(rc));
        rill_client_destroy(cl);
        return 1;
    }
    for (size_t i = 0; i < n_vars; i++) {
        bool contiguous = true;
        for (size_t k = 1; k < n; k++)
            contiguous &= ticks[i][k] == ticks[i][k - 1] + 1;
        printf("%s: %zu values, ticks %llu..%llu%s, first %g last %g\n", vars[i],
               n, (unsigned long long)ticks[i][0],
               (unsigned long long)ticks[i][n - 1],
               contiguous ? " contiguous" : " with gaps", values[i][0],
               values[i][n - 1]);
        rill_client_free(values[i]);
        rill_client_free(ticks[i]);
    }
    free(values);
    free(ticks);
    rill_client_destroy(cl);
    return 0;
}
