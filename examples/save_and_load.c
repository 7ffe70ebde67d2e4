/* Save streamed variables to files as they arrive, then load them back
 * (pybela's saving_enabled=True and load_data_from_file), in C.
 *
 *   ./save_and_load [URL] [DIR] [FORMAT]   # default: ., jsonl
 *
 * Each variable goes to DIR/<variable>.<format>, written from the buffer
 * callback: bin (the Watcher's log format), csv, jsonl (pybela's streamer
 * files, which pybela's load_data_from_file opens), wav or flac. The files
 * are valid up to the last buffer even if the program is killed. Then a
 * reader opens them and the values are compared with what was streamed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/rill.h"

#define N_VARS 2
#define MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct saver {
    rill_file_writer *w[N_VARS];
    rill_ts_mode mode[N_VARS];
    rill_type type[N_VARS];
    double *streamed[N_VARS]; /* every value, to compare with the file */
    size_t count[N_VARS], cap[N_VARS];
    int err;
} saver;

/* A dense and a sparse variable; wav and flac hold dense ones only. */
static const char *vars[N_VARS] = {"sine", "events"};

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    saver *s = user;
    int i = strcmp(b->name, vars[0]) == 0 ? 0 : 1;
    int rc = rill_file_writer_write(s->w[i], b->first_ts, b->values, b->count, b->rel);
    if (rc != 0 && s->err == 0)
        s->err = rc;
    if (s->count[i] + b->count > s->cap[i]) {
        size_t cap = (s->count[i] + b->count) * 2;
        double *p = realloc(s->streamed[i], cap * sizeof *p);
        if (p == NULL) {
            s->err = RILL_ENOMEM;
            return;
        }
        s->streamed[i] = p;
        s->cap[i] = cap;
    }
    size_t size = rill_type_size(b->type);
    for (size_t k = 0; k < b->count; k++)
        s->streamed[i][s->count[i]++] =
            rill_value_to_double(b->type, (const char *)b->values + k * size);
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("RILL_URL");
    const char *dir = argc > 2 ? argv[2] : ".";
    const char *fmt_name = argc > 3 ? argv[3] : "jsonl";
    rill_file_format fmt;
    if (rill_file_format_from_name(fmt_name, &fmt) != 0) {
        fprintf(stderr, "unknown format %s\n", fmt_name);
        return 2;
    }
    if (fmt == RILL_FILE_WAV || fmt == RILL_FILE_FLAC)
        vars[1] = "chirp";
    rill_client_config cfg = rill_client_config_default();
    if (url != NULL)
        cfg.url = url;
    saver s;
    memset(&s, 0, sizeof s);
    cfg.on_buffer = on_buffer;
    cfg.user = &s;
    cfg.poll = true; /* callbacks on this thread: s needs no lock */
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    if (rc != 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", cfg.url, rill_strerror(rc));
        return 1;
    }
    rill_client_list *l = NULL;
    rc = rill_client_list_vars(cl, &l);
    char paths[N_VARS][512];
    for (int i = 0; rc == 0 && i < N_VARS; i++) {
        rill_file_info info = {vars[i], RILL_TYPE_FLOAT, RILL_TS_DENSE, l->sample_rate};
        for (size_t k = 0; k < l->n_vars; k++)
            if (strcmp(l->vars[k].name, vars[i]) == 0) {
                info.type = s.type[i] = l->vars[k].type;
                info.mode = s.mode[i] = l->vars[k].mode;
            }
        snprintf(paths[i], sizeof paths[i], "%s/%s.%s", dir, vars[i], fmt_name);
        rc = rill_file_writer_create(paths[i], fmt, &info, &s.w[i]);
    }
    rill_client_list_free(l);
    /* One second, scheduled so both start together and end exactly. */
    if (rc == 0)
        rc = rill_client_schedule(cl, vars, N_VARS, 0, 44100, NULL, NULL);
    while (rc == 0 && rill_client_wait(cl, 0) == RILL_ETIMEOUT)
        rc = rill_client_poll(cl, 100) < 0 ? RILL_ECLOSED : 0;
    rill_client_poll(cl, 0);
    rill_client_destroy(cl);
    for (int i = 0; i < N_VARS; i++)
        if (rill_file_writer_close(s.w[i]) != 0 && rc == 0)
            rc = RILL_EIO;
    if (rc != 0 || s.err != 0) {
        fprintf(stderr, "saving failed: %s\n", rill_strerror(rc ? rc : s.err));
        return 1;
    }
    /* Load them back. flac stores 24-bit samples: float values come back
     * within 2^-23 of full scale; every other format gives them exactly. */
    double tolerance = fmt == RILL_FILE_FLAC ? 1.0 / (1 << 23) : 0;
    int status = 0;
    for (int i = 0; i < N_VARS; i++) {
        rill_file_reader *r = NULL;
        if ((rc = rill_file_reader_open(paths[i], s.mode[i], &r)) != 0) {
            fprintf(stderr, "%s: %s\n", paths[i], rill_strerror(rc));
            return 1;
        }
        /* A bin file holds whole Watcher buffers: after the values comes
         * the last buffer's zero padding, which the reader returns too. */
        /* A csv file holds each value as the fewest digits that read back
         * as the variable's type (0.1 for a float's 0.1f): stored as that
         * type, as here, it is the same value. */
        rill_file_buffer b;
        size_t n = 0;
        double worst = 0;
        while (rill_file_reader_next(r, &b) == 0)
            for (size_t k = 0; k < b.count; k++, n++) {
                char as_type[8];
                rill_value_from_double(s.type[i], b.values[k], as_type);
                double v = rill_value_to_double(s.type[i], as_type);
                if (n < s.count[i] && fabs(v - s.streamed[i][n]) > worst)
                    worst = fabs(v - s.streamed[i][n]);
            }
        rill_file_reader_close(r);
        bool same = n >= s.count[i] && worst <= tolerance &&
                    (fmt == RILL_FILE_BIN || n == s.count[i]);
        printf("%s: streamed %zu values, loaded %zu, %s (largest difference %g)\n",
               paths[i], s.count[i], MIN(n, s.count[i]),
               same ? "the same" : "DIFFERENT", worst);
        free(s.streamed[i]);
        status |= !same;
    }
    return status;
}
