/* Saving streams to files and reading them back: every format round-trips
 * what was written, the bytes are the ones pybela and the Watcher log
 * reader expect, and files survive a killed writer and a full disk. */
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"
#include "file/backend.h"
#include "proto/logfile.h"

/* ---- Helpers ----------------------------------------------------------- */

typedef struct tmp {
    char dir[64];
    char path[128];
} tmp;

static void tmp_init(tmp *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/rill-file-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(t->dir));
}

static const char *tmp_path(tmp *t, const char *name) {
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    return t->path;
}

static void tmp_done(tmp *t) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len) {
    uint8_t *data = NULL;
    ASSERT_OK(rill__logfile_read(path, &data, len));
    char *s = malloc(*len + 1);
    memcpy(s, data, *len);
    s[*len] = '\0';
    rill__free(data);
    return s;
}

/* n test values of `type`: varied, including negatives and fractions
 * where the type has them. */
static void *make_values(rill_type type, size_t n, uint64_t seed) {
    size_t size = rill_type_size(type);
    uint8_t *v = malloc(n * size + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&seed);
        switch (type) {
        case RILL_TYPE_CHAR:
            v[i] = (uint8_t)r;
            break;
        case RILL_TYPE_INT32:
            ((int32_t *)(void *)v)[i] = (int32_t)(uint32_t)r;
            break;
        case RILL_TYPE_UINT32:
            ((uint32_t *)(void *)v)[i] = (uint32_t)(r >> 7);
            break;
        case RILL_TYPE_FLOAT:
            ((float *)(void *)v)[i] =
                (float)((double)(int64_t)r / 9.3e18);
            break;
        case RILL_TYPE_DOUBLE:
            ((double *)(void *)v)[i] = (double)(int64_t)r / 9.3e18;
            break;
        }
    }
    return v;
}

/* Write n values in buffers of the lengths in `chunks` (cycled), sparse
 * ticks advancing by 1 to 3 (first tick of each buffer = tick of its first
 * value, as a stream delivers them). Returns the absolute tick of each. */
static uint64_t *write_stream(rill_file_writer *w, rill_type type,
                              rill_ts_mode mode, const void *values, size_t n,
                              uint64_t first, const size_t *chunks,
                              size_t n_chunks) {
    uint64_t *ts = malloc((n + 1) * sizeof *ts);
    uint64_t t = first;
    for (size_t i = 0; i < n; i++) {
        ts[i] = t;
        t += mode == RILL_TS_SPARSE ? 1 + i % 3 : 1;
    }
    size_t size = rill_type_size(type);
    uint32_t *rel = malloc((n + 1) * sizeof *rel);
    for (size_t i = 0, c = 0; i < n; c++) {
        size_t k = RILL__MIN(chunks[c % n_chunks], n - i);
        for (size_t j = 0; j < k; j++)
            rel[j] = (uint32_t)(ts[i + j] - ts[i]);
        ASSERT_OK(rill_file_writer_write(
            w, ts[i], (const uint8_t *)values + i * size, k,
            mode == RILL_TS_SPARSE ? rel : NULL));
        i += k;
    }
    free(rel);
    return ts;
}

typedef struct readback {
    double *v;
    uint64_t *ts;
    size_t n;
    size_t n_bufs;
    rill_file_info info;
    char name[64];
} readback;

static void read_all(const char *path, rill_ts_mode mode, readback *rb) {
    rill_file_reader *r = NULL;
    ASSERT_OK(rill_file_reader_open(path, mode, &r));
    ASSERT_OK(rill_file_reader_get_info(r, &rb->info));
    snprintf(rb->name, sizeof rb->name, "%s", rb->info.var_name);
    rb->info.var_name = rb->name;
    rb->n = rb->n_bufs = 0;
    rb->v = NULL;
    rb->ts = NULL;
    rill_file_buffer b;
    int rc;
    while ((rc = rill_file_reader_next(r, &b)) == 0) {
        rb->v = realloc(rb->v, (rb->n + b.count + 1) * sizeof *rb->v);
        rb->ts = realloc(rb->ts, (rb->n + b.count + 1) * sizeof *rb->ts);
        if (b.count > 0) /* jsonl: ref_timestamp may precede the first */
            ASSERT_LE_UINT(b.first_ts, b.timestamps[0]);
        memcpy(rb->v + rb->n, b.values, b.count * sizeof *b.values);
        memcpy(rb->ts + rb->n, b.timestamps, b.count * sizeof *b.timestamps);
        rb->n += b.count;
        rb->n_bufs++;
    }
    ASSERT_ERR(rc, RILL_EEMPTY);
    rill_file_reader_close(r);
}

static void readback_free(readback *rb) {
    free(rb->v);
    free(rb->ts);
}

static const rill_type all_types[] = {RILL_TYPE_CHAR, RILL_TYPE_INT32,
                                      RILL_TYPE_UINT32, RILL_TYPE_FLOAT,
                                      RILL_TYPE_DOUBLE};
static const size_t odd_chunks[] = {1, 7, 1000, 3, 513, 2048, 2};

/* Write n values in odd buffers, read them back, compare exactly (dense
 * bin: the values come first, then the last body's zero padding; sparse
 * bin: the values only, the padding's ticks would not rise). */
static void round_trip(rill_file_format fmt, rill_type type,
                       rill_ts_mode mode, size_t n) {
    tmp t;
    tmp_init(&t);
    char name[32];
    snprintf(name, sizeof name, "sig.%s", rill_file_format_name(fmt));
    const char *path = tmp_path(&t, name);
    rill_file_info info = {"sig", type, mode, 48000};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, fmt, &info, &w));
    void *values = make_values(type, n, 42 + (uint64_t)type);
    uint64_t *ts = write_stream(w, type, mode, values, n, 1000, odd_chunks,
                                RILL__ARRAY_LEN(odd_chunks));
    ASSERT_OK(rill_file_writer_close(w));

    readback rb;
    read_all(path, mode, &rb);
    ASSERT_EQ_STR(rb.info.var_name, "sig");
    ASSERT_EQ_INT(rb.info.mode, mode);
    if (fmt == RILL_FILE_BIN || fmt == RILL_FILE_WAV || fmt == RILL_FILE_FLAC)
        ASSERT_EQ_INT(rb.info.type, type);
    if (fmt == RILL_FILE_BIN && mode == RILL_TS_DENSE) {
        size_t per = rill__bela_values_per_buffer(type, mode);
        ASSERT_EQ_UINT(rb.n, (n + per - 1) / per * per);
        for (size_t i = n; i < rb.n; i++)
            ASSERT_EQ_DOUBLE(rb.v[i], 0, 0);
    } else {
        ASSERT_EQ_UINT(rb.n, n);
    }
    for (size_t i = 0; i < n; i++) {
        double want = rill__file_value(type, values, i);
        if (fmt == RILL_FILE_FLAC && type == RILL_TYPE_FLOAT)
            ASSERT_EQ_DOUBLE(rb.v[i], want, 1.0 / 8388608);
        else if (fmt == RILL_FILE_FLAC && type == RILL_TYPE_DOUBLE)
            ASSERT_EQ_DOUBLE(rb.v[i], want, 1.0 / 8388608);
        else if (fmt == RILL_FILE_CSV && type == RILL_TYPE_FLOAT
                     ? (float)rb.v[i] != (float)want /* the decimal the float is */
                     : rb.v[i] != want)
            FAIL("%s %s value %zu: %.17g != %.17g", rill_file_format_name(fmt),
                 rill_type_name(type), i, rb.v[i], want);
        ASSERT_EQ_UINT(rb.ts[i], ts[i]);
    }
    readback_free(&rb);
    free(values);
    free(ts);
    tmp_done(&t);
}

/* ---- Names ------------------------------------------------------------- */

TEST(format_names_map_both_ways) {
    const char *names[] = {"bin", "wav", "flac", "csv", "jsonl"};
    for (int i = 0; i < 5; i++) {
        rill_file_format f;
        ASSERT_OK(rill_file_format_from_name(names[i], &f));
        ASSERT_EQ_INT(f, i);
        ASSERT_EQ_STR(rill_file_format_name(f), names[i]);
    }
    rill_file_format f;
    ASSERT_ERR(rill_file_format_from_name("WAV", &f), RILL_EINVAL);
    ASSERT_ERR(rill_file_format_from_name("mp3", &f), RILL_EINVAL);
    ASSERT_EQ_STR(rill_file_format_name((rill_file_format)9), "unknown");
}

/* ---- bin --------------------------------------------------------------- */

TEST(bin_rechunks_odd_buffers_into_bela_bodies_the_log_parser_reads) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "myvar.bin");
    rill_file_info info = {"myvar", RILL_TYPE_FLOAT, RILL_TS_DENSE, 44100};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_BIN, &info, &w));
    size_t n = 3000;
    float *v = make_values(RILL_TYPE_FLOAT, n, 7);
    uint64_t *ts = write_stream(w, RILL_TYPE_FLOAT, RILL_TS_DENSE, v, n, 5000,
                                odd_chunks, RILL__ARRAY_LEN(odd_chunks));
    ASSERT_OK(rill_file_writer_close(w));

    size_t len;
    uint8_t *data = NULL;
    ASSERT_OK(rill__logfile_read(path, &data, &len));
    rill__logfile lf;
    char err[160] = "";
    ASSERT_OK(rill__logfile_parse(data, len, &lf, err, sizeof err));
    ASSERT_EQ_STR(lf.name, "myvar");
    ASSERT_EQ_INT(lf.type, RILL_TYPE_FLOAT);
    ASSERT_EQ_UINT(lf.pid, (uint32_t)getpid());
    ASSERT_EQ_UINT(lf.n_buffers, 3); /* 1024 + 1024 + 952 and padding */
    ASSERT_EQ_UINT(lf.tail_bytes, 0);
    ASSERT_EQ_UINT(len, lf.header_bytes + 3 * RILL__BELA_BODY_BYTES);
    for (size_t b = 0; b < 3; b++) {
        rill__bela_body body;
        ASSERT_OK(rill__logfile_buffer(&lf, b, RILL_TS_DENSE, &body));
        ASSERT_EQ_UINT(body.ref, 5000 + 1024 * b);
        float got[1024];
        rill__wire_get_values(got, RILL_TYPE_FLOAT, body.values, 1024);
        for (size_t k = 0; k < 1024; k++) {
            size_t i = b * 1024 + k;
            float want = i < n ? v[i] : 0.0f;
            if (memcmp(&got[k], &want, 4) != 0)
                FAIL("body %zu value %zu: %g != %g", b, k, (double)got[k],
                     (double)want);
        }
    }
    rill__free(data);
    free(v);
    free(ts);
    tmp_done(&t);
}

TEST(bin_sparse_bodies_carry_ticks_relative_to_their_first_value) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "sp.bin");
    rill_file_info info = {"sp", RILL_TYPE_INT32, RILL_TS_SPARSE, 0};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_BIN, &info, &w));
    size_t n = 600; /* sparse int32: N = 512 */
    int32_t *v = make_values(RILL_TYPE_INT32, n, 3);
    uint64_t *ts = write_stream(w, RILL_TYPE_INT32, RILL_TS_SPARSE, v, n, 77,
                                odd_chunks, RILL__ARRAY_LEN(odd_chunks));
    ASSERT_OK(rill_file_writer_close(w));

    size_t len;
    uint8_t *data = NULL;
    ASSERT_OK(rill__logfile_read(path, &data, &len));
    rill__logfile lf;
    ASSERT_OK(rill__logfile_parse(data, len, &lf, NULL, 0));
    ASSERT_EQ_UINT(lf.n_buffers, 2);
    rill__bela_body body;
    ASSERT_OK(rill__logfile_buffer(&lf, 1, RILL_TS_SPARSE, &body));
    ASSERT_EQ_UINT(body.ref, ts[512]);
    for (size_t k = 0; k < 88; k++)
        ASSERT_EQ_UINT(rill__get_le32(body.rel + 4 * k), ts[512 + k] - ts[512]);
    ASSERT_EQ_UINT(rill__get_le32(body.rel + 4 * 88), 0); /* padding */
    rill__free(data);
    free(v);
    free(ts);
    tmp_done(&t);
}

TEST(bin_dense_buffer_after_a_gap_starts_a_new_padded_body) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "gap.bin");
    rill_file_info info = {"gap", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 0};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_BIN, &info, &w));
    double a[3] = {1, 2, 3}, b[2] = {4, 5};
    ASSERT_OK(rill_file_writer_write(w, 10, a, 3, NULL));
    ASSERT_OK(rill_file_writer_write(w, 100, b, 2, NULL)); /* 13..99 lost */
    ASSERT_OK(rill_file_writer_close(w));
    readback rb;
    read_all(path, RILL_TS_DENSE, &rb);
    ASSERT_EQ_UINT(rb.n_bufs, 2);
    ASSERT_EQ_UINT(rb.n, 1024);
    ASSERT_EQ_DOUBLE(rb.v[2], 3, 0);
    ASSERT_EQ_DOUBLE(rb.v[3], 0, 0);
    ASSERT_EQ_UINT(rb.ts[0], 10);
    ASSERT_EQ_UINT(rb.ts[512], 100);
    ASSERT_EQ_DOUBLE(rb.v[513], 5, 0);
    readback_free(&rb);
    tmp_done(&t);
}

TEST(bin_round_trips_every_type_dense_and_sparse) {
    for (size_t i = 0; i < 5; i++) {
        round_trip(RILL_FILE_BIN, all_types[i], RILL_TS_DENSE, 5000);
        round_trip(RILL_FILE_BIN, all_types[i], RILL_TS_SPARSE, 2000);
    }
}

/* A file of n values of `type` in `mode` (random, or zeros, or the ticks
 * themselves: a dense counter), through the writer. */
enum { RANDOM, ZEROS, COUNTER };
static void write_file(const char *path, rill_file_format fmt, rill_type type,
                       rill_ts_mode mode, size_t n, int what) {
    rill_file_info info = {"v", type, mode, 1000};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, fmt, &info, &w));
    void *values = make_values(type, n, 7);
    if (what == ZEROS)
        memset(values, 0, n * rill_type_size(type));
    for (size_t i = 0; what == COUNTER && i < n; i++)
        rill_value_from_double(type, (double)(5000 + i),
                               (uint8_t *)values + i * rill_type_size(type));
    free(write_stream(w, type, mode, values, n, 5000, odd_chunks,
                      RILL__ARRAY_LEN(odd_chunks)));
    ASSERT_OK(rill_file_writer_close(w));
    free(values);
}

TEST(a_bin_files_mode_is_told_from_its_bodies) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "v.bin");
    rill_ts_mode mode;
    bool guessed;
    for (size_t i = 0; i < 5; i++) {
        rill_type type = all_types[i];
        write_file(path, RILL_FILE_BIN, type, RILL_TS_SPARSE, 2000, RANDOM);
        ASSERT_OK(rill_file_mode(path, &mode, &guessed));
        ASSERT_EQ_INT(mode, RILL_TS_SPARSE);
        ASSERT_TRUE(guessed);
        /* A sparse variable's zeros: its ticks rise all the same. */
        write_file(path, RILL_FILE_BIN, type, RILL_TS_SPARSE, 2000, ZEROS);
        ASSERT_OK(rill_file_mode(path, &mode, &guessed));
        ASSERT_EQ_INT(mode, RILL_TS_SPARSE);
        for (int what = RANDOM; what <= COUNTER; what++) {
            write_file(path, RILL_FILE_BIN, type, RILL_TS_DENSE, 5000, what);
            ASSERT_OK(rill_file_mode(path, &mode, &guessed));
            if (mode != RILL_TS_DENSE)
                FAIL("%s dense (%d) taken for sparse", rill_type_name(type), what);
        }
        /* One value is no evidence: as dense zeros it would be the same. */
        write_file(path, RILL_FILE_BIN, type, RILL_TS_SPARSE, 1, RANDOM);
        ASSERT_OK(rill_file_mode(path, &mode, &guessed));
        ASSERT_EQ_INT(mode, RILL_TS_DENSE);
    }
    /* A header and no body: dense, nothing to go on. */
    write_file(path, RILL_FILE_BIN, RILL_TYPE_FLOAT, RILL_TS_SPARSE, 0, RANDOM);
    ASSERT_OK(rill_file_mode(path, &mode, &guessed));
    ASSERT_EQ_INT(mode, RILL_TS_DENSE);
    /* The other formats say theirs; not guessed. */
    const char *csv = tmp_path(&t, "v.csv");
    write_file(csv, RILL_FILE_CSV, RILL_TYPE_INT32, RILL_TS_SPARSE, 100, RANDOM);
    ASSERT_OK(rill_file_mode(csv, &mode, &guessed));
    ASSERT_EQ_INT(mode, RILL_TS_SPARSE);
    ASSERT_TRUE(!guessed);
    ASSERT_ERR(rill_file_mode(tmp_path(&t, "none.bin"), &mode, &guessed), RILL_ENOTFOUND);
    ASSERT_ERR(rill_file_mode(path, NULL, &guessed), RILL_EINVAL);
    tmp_done(&t);
}

/* ---- jsonl and csv ----------------------------------------------------- */

TEST(jsonl_lines_are_what_pybela_json_dumps_writes) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "f.jsonl");
    rill_file_info info = {"f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_JSONL, &info, &w));
    float f[] = {1.0f, 0.5f, 0.1f, -2.0f, 1e-5f, 1e16f, 123456.0f, 0.0f};
    ASSERT_OK(rill_file_writer_write(w, 1024, f, 8, NULL));
    ASSERT_OK(rill_file_writer_write(w, 1032, f, 1, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    size_t len;
    char *s = slurp(path, &len);
    ASSERT_EQ_STR(s, "{\"ref_timestamp\": 1024, \"data\": [1.0, 0.5, "
                     "0.10000000149011612, -2.0, 9.999999747378752e-06, "
                     "1.0000000272564224e+16, 123456.0, 0.0]}\n"
                     "{\"ref_timestamp\": 1032, \"data\": [1.0]}\n");
    free(s);

    path = tmp_path(&t, "d.jsonl");
    rill_file_info dinfo = {"d", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 0};
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_JSONL, &dinfo, &w));
    double d[] = {0.1, 1e-5, 0.0001, 1e15, 1e16, -0.0, NAN, INFINITY,
                  -INFINITY, 1.5e300, 2.5e-300, 1234.5678};
    ASSERT_OK(rill_file_writer_write(w, 0, d, 12, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    s = slurp(path, &len);
    ASSERT_EQ_STR(s, "{\"ref_timestamp\": 0, \"data\": [0.1, 1e-05, 0.0001, "
                     "1000000000000000.0, 1e+16, -0.0, NaN, Infinity, "
                     "-Infinity, 1.5e+300, 2.5e-300, 1234.5678]}\n");
    free(s);

    path = tmp_path(&t, "i.jsonl");
    rill_file_info iinfo = {"i", RILL_TYPE_INT32, RILL_TS_SPARSE, 0};
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_JSONL, &iinfo, &w));
    int32_t iv[] = {3, -4, 2147483647};
    uint32_t rel[] = {0, 5, 4000000000u};
    ASSERT_OK(rill_file_writer_write(w, 18446744073709551615ull - 4000000000u,
                                     iv, 3, rel));
    ASSERT_OK(rill_file_writer_close(w));
    s = slurp(path, &len);
    ASSERT_EQ_STR(s, "{\"ref_timestamp\": 18446744069709551615, \"data\": "
                     "[3, -4, 2147483647], \"rel_timestamps\": "
                     "[0, 5, 4000000000]}\n");
    free(s);

    path = tmp_path(&t, "u.jsonl");
    rill_file_info uinfo = {"u", RILL_TYPE_UINT32, RILL_TS_DENSE, 0};
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_JSONL, &uinfo, &w));
    uint32_t uv[] = {4294967295u, 0};
    ASSERT_OK(rill_file_writer_write(w, 9, uv, 2, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    s = slurp(path, &len);
    ASSERT_EQ_STR(s, "{\"ref_timestamp\": 9, \"data\": [4294967295, 0]}\n");
    free(s);
    tmp_done(&t);
}

TEST(jsonl_reader_takes_pybela_lines_and_its_special_floats) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "gain_var_stream.txt");
    FILE *f = fopen(path, "w");
    fputs("{\"ref_timestamp\": 7, \"data\": [1.5, NaN, -Infinity], "
          "\"rel_timestamps\": [0, 2, 9]}\n"
          "{\"data\":[2],\"ref_timestamp\":20,\"rel_timestamps\":[1]}\n",
          f);
    fclose(f);
    readback rb;
    read_all(path, RILL_TS_DENSE, &rb);
    ASSERT_EQ_STR(rb.info.var_name, "gain_var_stream");
    ASSERT_EQ_INT(rb.info.mode, RILL_TS_SPARSE);
    ASSERT_EQ_INT(rb.info.type, RILL_TYPE_DOUBLE);
    ASSERT_EQ_UINT(rb.n_bufs, 2);
    ASSERT_EQ_UINT(rb.n, 4);
    ASSERT_EQ_DOUBLE(rb.v[0], 1.5, 0);
    ASSERT_TRUE(isnan(rb.v[1]));
    ASSERT_TRUE(isinf(rb.v[2]) && rb.v[2] < 0);
    ASSERT_EQ_UINT(rb.ts[2], 16);
    ASSERT_EQ_UINT(rb.ts[3], 21);
    readback_free(&rb);

    path = tmp_path(&t, "bad.jsonl");
    f = fopen(path, "w");
    fputs("{\"ref_timestamp\": 7, \"data\": [1]}\n{\"oops\": 1}\n", f);
    fclose(f);
    rill_file_reader *r = NULL;
    ASSERT_ERR(rill_file_reader_open(path, RILL_TS_DENSE, &r), RILL_EPROTO);
    tmp_done(&t);
}

TEST(csv_text_is_exact_for_every_type) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "x.csv");
    rill_file_info info = {"x", RILL_TYPE_DOUBLE, RILL_TS_SPARSE, 0};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_CSV, &info, &w));
    double d[] = {0.1, -3, 1e300};
    uint32_t rel[] = {0, 4, 10};
    ASSERT_OK(rill_file_writer_write(w, 100, d, 3, rel));
    ASSERT_OK(rill_file_writer_close(w));
    size_t len;
    char *s = slurp(path, &len);
    ASSERT_EQ_STR(s, "timestamp,x\n100,0.1\n104,-3\n110,1e+300\n");
    free(s);

    rill_file_info cinfo = {"c", RILL_TYPE_CHAR, RILL_TS_DENSE, 0};
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_CSV, &cinfo, &w));
    unsigned char c[] = {0, 255, 'A'};
    ASSERT_OK(rill_file_writer_write(w, 5, c, 3, NULL));
    rill_file_info iinfo = {"c", RILL_TYPE_INT32, RILL_TS_DENSE, 0};
    ASSERT_OK(rill_file_writer_close(w));
    s = slurp(path, &len);
    ASSERT_EQ_STR(s, "timestamp,c\n5,0\n6,255\n7,65\n");
    free(s);

    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_CSV, &iinfo, &w));
    int32_t iv[] = {-2147483647 - 1, 2147483647};
    ASSERT_OK(rill_file_writer_write(w, 0, iv, 2, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    s = slurp(path, &len);
    ASSERT_EQ_STR(s, "timestamp,c\n0,-2147483648\n1,2147483647\n");
    free(s);

    rill_file_info finfo = {"f", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0};
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_CSV, &finfo, &w));
    float fv[] = {0.1f, 1.0f / 3, -0.0f};
    ASSERT_OK(rill_file_writer_write(w, 0, fv, 3, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    s = slurp(path, &len);
    /* the fewest digits that read back as the same float */
    ASSERT_EQ_STR(s, "timestamp,f\n0,0.1\n1,0.33333334\n2,-0\n");
    free(s);
    tmp_done(&t);
}

TEST(csv_and_jsonl_round_trip_every_type_with_odd_buffers) {
    for (size_t i = 0; i < 5; i++) {
        round_trip(RILL_FILE_CSV, all_types[i], RILL_TS_DENSE, 5000);
        round_trip(RILL_FILE_CSV, all_types[i], RILL_TS_SPARSE, 3000);
        if (all_types[i] == RILL_TYPE_CHAR)
            continue;
        round_trip(RILL_FILE_JSONL, all_types[i], RILL_TS_DENSE, 5000);
        round_trip(RILL_FILE_JSONL, all_types[i], RILL_TS_SPARSE, 3000);
    }
}

TEST(text_readers_infer_the_type_from_the_numbers) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "n.csv");
    rill_file_info info = {"n", RILL_TYPE_UINT32, RILL_TS_DENSE, 0};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_CSV, &info, &w));
    uint32_t v[] = {1, 4000000000u};
    ASSERT_OK(rill_file_writer_write(w, 0, v, 2, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    readback rb;
    read_all(path, RILL_TS_DENSE, &rb);
    ASSERT_EQ_INT(rb.info.type, RILL_TYPE_UINT32);
    ASSERT_EQ_STR(rb.info.var_name, "n");
    readback_free(&rb);
    tmp_done(&t);
}

/* ---- wav and flac ------------------------------------------------------ */

TEST(wav_round_trips_float_double_int32_uint32_exactly) {
    round_trip(RILL_FILE_WAV, RILL_TYPE_FLOAT, RILL_TS_DENSE, 10000);
    round_trip(RILL_FILE_WAV, RILL_TYPE_DOUBLE, RILL_TS_DENSE, 10000);
    round_trip(RILL_FILE_WAV, RILL_TYPE_INT32, RILL_TS_DENSE, 10000);
    round_trip(RILL_FILE_WAV, RILL_TYPE_UINT32, RILL_TS_DENSE, 10000);
}

TEST(wav_records_sample_rate_first_timestamp_and_name) {
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "a.wav");
    rill_file_info info = {"audio in", RILL_TYPE_FLOAT, RILL_TS_DENSE,
                           44100};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_WAV, &info, &w));
    float v[3] = {0.25f, -0.5f, 1.0f};
    ASSERT_OK(rill_file_writer_write(w, 123456789012ull, v, 3, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    readback rb;
    read_all(path, RILL_TS_SPARSE, &rb);
    ASSERT_EQ_STR(rb.info.var_name, "audio in");
    ASSERT_EQ_INT(rb.info.type, RILL_TYPE_FLOAT);
    ASSERT_EQ_INT(rb.info.mode, RILL_TS_DENSE);
    ASSERT_EQ_DOUBLE(rb.info.sample_rate, 44100, 0);
    ASSERT_EQ_UINT(rb.n, 3);
    ASSERT_EQ_UINT(rb.ts[0], 123456789012ull);
    ASSERT_EQ_UINT(rb.ts[2], 123456789014ull);
    ASSERT_EQ_DOUBLE(rb.v[1], -0.5, 0);
    readback_free(&rb);
    tmp_done(&t);
}

TEST(flac_round_trips_within_one_24_bit_step_and_integers_exactly) {
    round_trip(RILL_FILE_FLAC, RILL_TYPE_FLOAT, RILL_TS_DENSE, 10000);
    round_trip(RILL_FILE_FLAC, RILL_TYPE_DOUBLE, RILL_TS_DENSE, 10000);
    tmp t;
    tmp_init(&t);
    const char *path = tmp_path(&t, "i.flac");
    rill_file_info info = {"i", RILL_TYPE_INT32, RILL_TS_DENSE, 1000};
    rill_file_writer *w = NULL;
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_FLAC, &info, &w));
    int32_t v[] = {0, 1, -1, 8388607, -8388608, 9000000, -2000000000};
    ASSERT_OK(rill_file_writer_write(w, 50, v, 7, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    readback rb;
    read_all(path, RILL_TS_DENSE, &rb);
    ASSERT_EQ_INT(rb.info.type, RILL_TYPE_INT32);
    ASSERT_EQ_DOUBLE(rb.info.sample_rate, 1000, 0);
    ASSERT_EQ_UINT(rb.n, 7);
    double want[] = {0, 1, -1, 8388607, -8388608, 8388607, -8388608};
    for (size_t i = 0; i < 7; i++)
        ASSERT_EQ_DOUBLE(rb.v[i], want[i], 0);
    ASSERT_EQ_UINT(rb.ts[6], 56);
    readback_free(&rb);

    /* Audio beyond full scale clips. */
    path = tmp_path(&t, "d.flac");
    rill_file_info dinfo = {"d", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 8000};
    ASSERT_OK(rill_file_writer_create(path, RILL_FILE_FLAC, &dinfo, &w));
    double d[] = {2.0, -3.0, 0.5};
    ASSERT_OK(rill_file_writer_write(w, 0, d, 3, NULL));
    ASSERT_OK(rill_file_writer_close(w));
    read_all(path, RILL_TS_DENSE, &rb);
    ASSERT_EQ_DOUBLE(rb.v[0], 8388607.0 / 8388608.0, 0);
    ASSERT_EQ_DOUBLE(rb.v[1], -1.0, 0);
    ASSERT_EQ_DOUBLE(rb.v[2], 0.5, 0);
    readback_free(&rb);
    tmp_done(&t);
}

/* ---- Refusals ---------------------------------------------------------- */

TEST(formats_refuse_variables_they_cannot_hold) {
    tmp t;
    tmp_init(&t);
    rill_file_writer *w = NULL;
    rill_file_info sparse = {"s", RILL_TYPE_FLOAT, RILL_TS_SPARSE, 44100};
    rill_file_info chr = {"c", RILL_TYPE_CHAR, RILL_TS_DENSE, 44100};
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "s.wav"), RILL_FILE_WAV,
                                       &sparse, &w),
               RILL_ENOTSUP);
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "s.flac"), RILL_FILE_FLAC,
                                       &sparse, &w),
               RILL_ENOTSUP);
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "c.wav"), RILL_FILE_WAV,
                                       &chr, &w),
               RILL_ENOTSUP);
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "c.flac"), RILL_FILE_FLAC,
                                       &chr, &w),
               RILL_ENOTSUP);
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "c.jsonl"),
                                       RILL_FILE_JSONL, &chr, &w),
               RILL_ENOTSUP);
    rill_file_info norate = {"r", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0};
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "r.wav"), RILL_FILE_WAV,
                                       &norate, &w),
               RILL_EINVAL);
    rill_file_info comma = {"a,b", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0};
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "a.csv"), RILL_FILE_CSV,
                                       &comma, &w),
               RILL_EINVAL);
    rill_file_info noname = {"", RILL_TYPE_FLOAT, RILL_TS_DENSE, 0};
    ASSERT_ERR(rill_file_writer_create(tmp_path(&t, "n.bin"), RILL_FILE_BIN,
                                       &noname, &w),
               RILL_EINVAL);
    ASSERT_NULL(w);
    /* Refused before the file is touched. */
    static const char *const refused[] = {"s.wav", "s.flac", "c.wav", "c.flac",
                                          "c.jsonl", "r.wav", "a.csv", "n.bin"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        ASSERT_TRUE(access(tmp_path(&t, refused[i]), F_OK) != 0);
    /* The same rules without a file, with the reason. */
    char why[256] = "";
    ASSERT_ERR(rill_file_format_check(RILL_FILE_WAV, &sparse, why, sizeof why),
               RILL_ENOTSUP);
    ASSERT_EQ_STR(why, "wav holds dense numeric variables only; \"s\" is sparse "
                       "float (use bin, csv or jsonl)");
    ASSERT_ERR(rill_file_format_check(RILL_FILE_CSV, &comma, NULL, 0), RILL_EINVAL);
    ASSERT_OK(rill_file_format_check(RILL_FILE_BIN, &sparse, why, sizeof why));
    ASSERT_OK(rill_file_format_check(RILL_FILE_CSV, &chr, why, sizeof why));
    rill_file_reader *r = NULL;
    ASSERT_ERR(rill_file_reader_open(tmp_path(&t, "x.mp3"), RILL_TS_DENSE, &r),
               RILL_ENOTSUP);
    ASSERT_ERR(rill_file_reader_open(tmp_path(&t, "none.bin"), RILL_TS_DENSE,
                                     &r),
               RILL_ENOTFOUND);
    /* A sparse variable needs its ticks. */
    rill_file_info sp = {"s", RILL_TYPE_FLOAT, RILL_TS_SPARSE, 0};
    ASSERT_OK(rill_file_writer_create(tmp_path(&t, "s.csv"), RILL_FILE_CSV,
                                      &sp, &w));
    float v = 1;
    ASSERT_ERR(rill_file_writer_write(w, 0, &v, 1, NULL), RILL_EINVAL);
    ASSERT_OK(rill_file_writer_close(w));
    ASSERT_OK(rill_file_writer_close(NULL));
    rill_file_reader_close(NULL);
    tmp_done(&t);
}

/* ---- Durability -------------------------------------------------------- */

/* A child process writes 5 buffers of 2000 values to each format and dies
 * without closing; every complete buffer must read back: all of them, but
 * for bin the complete 1024-value bodies and for flac the complete
 * 4096-value FLAC blocks. */
TEST(killed_writer_leaves_files_with_every_complete_buffer) {
    tmp t;
    tmp_init(&t);
    static const rill_file_format fmts[] = {RILL_FILE_BIN, RILL_FILE_WAV,
                                            RILL_FILE_FLAC, RILL_FILE_CSV,
                                            RILL_FILE_JSONL};
    float *v = make_values(RILL_TYPE_FLOAT, 10000, 9);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        for (size_t f = 0; f < 5; f++) {
            char name[32];
            snprintf(name, sizeof name, "k.%s", rill_file_format_name(fmts[f]));
            rill_file_info info = {"k", RILL_TYPE_FLOAT, RILL_TS_DENSE, 1000};
            rill_file_writer *w = NULL;
            if (rill_file_writer_create(tmp_path(&t, name), fmts[f], &info,
                                        &w) != 0)
                _exit(1);
            for (size_t b = 0; b < 5; b++)
                if (rill_file_writer_write(w, 100 + 2000 * b, v + 2000 * b,
                                           2000, NULL) != 0)
                    _exit(2);
        }
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 0);
    for (size_t f = 0; f < 5; f++) {
        char name[32];
        snprintf(name, sizeof name, "k.%s", rill_file_format_name(fmts[f]));
        readback rb;
        read_all(tmp_path(&t, name), RILL_TS_DENSE, &rb);
        size_t want = fmts[f] == RILL_FILE_BIN    ? 9 * 1024
                      : fmts[f] == RILL_FILE_FLAC ? 2 * 4096
                                                  : 10000;
        if (rb.n != want)
            FAIL("%s: %zu values, expected %zu", name, rb.n, want);
        double tol = fmts[f] == RILL_FILE_FLAC ? 1.0 / 8388608 : 0;
        for (size_t i = 0; i < want; i++) {
            /* csv has the decimal each float stands for */
            ASSERT_EQ_DOUBLE(fmts[f] == RILL_FILE_CSV ? (float)rb.v[i] : rb.v[i],
                             (double)v[i], tol);
            ASSERT_EQ_UINT(rb.ts[i], 100 + i);
        }
        readback_free(&rb);
    }
    free(v);
    tmp_done(&t);
}

TEST(full_disk_gives_eio_and_keeps_the_error) {
    rill_file_writer *w = NULL;
    rill_file_info info = {"v", RILL_TYPE_FLOAT, RILL_TS_DENSE, 1000};
    /* bin and csv write a header at once. */
    ASSERT_ERR(rill_file_writer_create("/dev/full", RILL_FILE_BIN, &info, &w),
               RILL_EIO);
    ASSERT_ERR(rill_file_writer_create("/dev/full", RILL_FILE_CSV, &info, &w),
               RILL_EIO);
    float v[1024] = {0};
    ASSERT_OK(rill_file_writer_create("/dev/full", RILL_FILE_JSONL, &info, &w));
    ASSERT_ERR(rill_file_writer_write(w, 0, v, 3, NULL), RILL_EIO);
    ASSERT_ERR(rill_file_writer_write(w, 3, v, 3, NULL), RILL_EIO);
    ASSERT_ERR(rill_file_writer_close(w), RILL_EIO);
    ASSERT_OK(rill_file_writer_create("/dev/full", RILL_FILE_WAV, &info, &w));
    ASSERT_ERR(rill_file_writer_write(w, 0, v, 1024, NULL), RILL_EIO);
    ASSERT_ERR(rill_file_writer_close(w), RILL_EIO);
}

/* A disk that fills in the middle of a write (here a file size limit,
 * which lets a write(2) take what fits, as a full disk does): the write
 * fails, and the file ends after its last whole csv row, jsonl line or bin
 * body, all of which read back. */
TEST(a_write_cut_short_leaves_only_whole_rows_lines_and_bodies) {
    tmp t;
    tmp_init(&t);
    static const rill_file_format fmts[] = {RILL_FILE_CSV, RILL_FILE_JSONL,
                                            RILL_FILE_BIN};
    double *v = make_values(RILL_TYPE_DOUBLE, 300, 5);
    struct rlimit old, small;
    ASSERT_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 10001; /* inside a row, a line and a body */
    signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    for (size_t f = 0; f < 3; f++) {
        char name[32];
        snprintf(name, sizeof name, "cut.%s", rill_file_format_name(fmts[f]));
        rill_file_info info = {"cut", RILL_TYPE_DOUBLE, RILL_TS_DENSE, 1000};
        rill_file_writer *w = NULL;
        ASSERT_OK(rill_file_writer_create(tmp_path(&t, name), fmts[f], &info, &w));
        ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
        int rc = 0;
        size_t written = 0;
        for (size_t b = 0; b < 100 && rc == 0; b++) {
            rc = rill_file_writer_write(w, 300 * b, v, 300, NULL);
            written += rc == 0 ? 300 : 0;
        }
        ASSERT_ERR(rc, RILL_EIO);
        ASSERT_ERR(rill_file_writer_close(w), RILL_EIO);
        ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
        size_t len = 0;
        char *text = slurp(tmp_path(&t, name), &len);
        ASSERT_TRUE(len > 0 && len < 10001);
        if (fmts[f] == RILL_FILE_BIN)
            ASSERT_EQ_UINT((len - rill__logfile_header_size("cut")) %
                               RILL__BELA_BODY_BYTES, 0);
        else if (text[len - 1] != '\n')
            FAIL("%s ends inside a row: ...%s", name, text + (len > 30 ? len - 30 : 0));
        free(text);
        readback rb;
        read_all(tmp_path(&t, name), RILL_TS_DENSE, &rb);
        /* Every value before the failure, bin's whole 512-value bodies. */
        size_t want = fmts[f] == RILL_FILE_BIN ? rb.n - rb.n % 512 : written;
        ASSERT_TRUE(rb.n >= want && rb.n > 0);
        for (size_t i = 0; i < want; i++) {
            ASSERT_EQ_DOUBLE(rb.v[i], v[i % 300], 0);
            ASSERT_EQ_UINT(rb.ts[i], i);
        }
        readback_free(&rb);
    }
    free(v);
    tmp_done(&t);
}

/* ---- Allocation failures ----------------------------------------------- */

typedef struct oom_ctx {
    const char *path;
    rill_file_format fmt;
    rill_file_info info;
    rill_file_writer *w;
    rill_file_reader *r;
} oom_ctx;

static int oom_create_write_close(void *p) {
    oom_ctx *c = p;
    int rc = rill_file_writer_create(c->path, c->fmt, &c->info, &c->w);
    if (rc != 0)
        return rc;
    float v[5] = {1, 2, 3, 4, 5};
    uint32_t rel[5] = {0, 1, 2, 3, 4};
    rc = rill_file_writer_write(c->w, 0, v, 5, rel);
    int rc2 = rill_file_writer_close(c->w);
    c->w = NULL;
    return rc != 0 ? rc : rc2;
}

static int oom_open(void *p) {
    oom_ctx *c = p;
    return rill_file_reader_open(c->path, c->info.mode, &c->r);
}

static void oom_nothing(void *p) { RILL__UNUSED(p); }

static void oom_close_reader(void *p) {
    oom_ctx *c = p;
    rill_file_reader_close(c->r);
    c->r = NULL;
}

TEST(writers_and_readers_survive_every_allocation_failure) {
    tmp t;
    tmp_init(&t);
    static const rill_file_format fmts[] = {RILL_FILE_BIN, RILL_FILE_WAV,
                                            RILL_FILE_FLAC, RILL_FILE_CSV,
                                            RILL_FILE_JSONL};
    for (size_t f = 0; f < 5; f++) {
        for (int m = 0; m < 2; m++) {
            if (m == 1 && (fmts[f] == RILL_FILE_WAV || fmts[f] == RILL_FILE_FLAC))
                continue;
            char name[32];
            snprintf(name, sizeof name, "o%d.%s", m,
                     rill_file_format_name(fmts[f]));
            oom_ctx c = {tmp_path(&t, name), fmts[f],
                         {"o", RILL_TYPE_FLOAT, (rill_ts_mode)m, 100}, NULL,
                         NULL};
            test_check_oom("rill_file_writer_create/write/close",
                           oom_create_write_close, oom_nothing, &c);
            test_check_oom("rill_file_reader_open", oom_open,
                           oom_close_reader, &c);
        }
    }
    tmp_done(&t);
}
