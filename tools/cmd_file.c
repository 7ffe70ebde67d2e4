/* Commands on saved streams: rill info, rill convert. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "rill/rill.h"

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN)
        fprintf(stderr, "rill: %s\n", msg);
}

/* Options shared by both: [--sparse] for bin files (which do not record the
 * timestamp mode). Returns the index of the first operand, or -1 (usage)
 * or -2 (help printed). */
static int parse(int argc, char **argv, const char *usage, const char **to,
                 const char **out, rill_ts_mode *mode, double *rate) {
    static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"sparse", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *mode = RILL_TS_DENSE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 't' && to != NULL)
            *to = optarg;
        else if (c == 'o' && out != NULL)
            *out = optarg;
        else if (c == 'r' && rate != NULL) {
            if (!parse_option_number("convert", "--rate", optarg, 1, 1e7, false, rate))
                return -1;
        }
        else if (c == 's')
            *mode = RILL_TS_SPARSE;
        else if (c == 'h') {
            fputs(usage, stdout);
            return -2;
        } else {
            fputs(usage, stderr);
            return -1;
        }
    }
    if (argc - optind != 1) {
        fputs(usage, stderr);
        return -1;
    }
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    return optind;
}

static rill_file_reader *open_or_explain(const char *cmd, const char *path,
                                         rill_ts_mode mode) {
    rill_file_reader *r = NULL;
    int rc = rill_file_reader_open(path, mode, &r);
    if (rc != 0) {
        fprintf(stderr, "rill %s: cannot read %s: %s%s\n", cmd, path,
                rill_strerror(rc),
                rc == RILL_ENOTSUP ? " (known: .bin .csv .jsonl .txt .wav .flac)"
                                   : "");
        return NULL;
    }
    return r;
}

static const char info_usage[] =
    "usage: rill info FILE [--sparse]\n\n"
    "Describe a saved stream: format, variable, type, timestamp mode, rate,\n"
    "buffers, values, first and last tick. bin files do not record the mode:\n"
    "add --sparse for a sparse variable's log.\n\n"
    "example:\n  rill info data/frame.wav\n";

int cmd_info(int argc, char **argv) {
    rill_ts_mode mode;
    int i = parse(argc, argv, info_usage, NULL, NULL, &mode, NULL);
    if (i < 0)
        return i == -2 ? EXIT_OK : EXIT_USAGE;
    const char *path = argv[i];
    rill_file_reader *r = open_or_explain("info", path, mode);
    if (r == NULL)
        return EXIT_FAILED;
    rill_file_info info;
    rill_file_reader_get_info(r, &info);
    size_t buffers = 0, values = 0;
    uint64_t first = 0, last = 0;
    rill_file_buffer b;
    int rc;
    while ((rc = rill_file_reader_next(r, &b)) == 0) {
        if (b.count == 0)
            continue;
        if (values == 0)
            first = b.timestamps[0];
        last = b.timestamps[b.count - 1];
        buffers++;
        values += b.count;
    }
    const char *dot = strrchr(path, '.');
    printf("file       %s\nformat     %s\nvariable   %s\ntype       %s\n"
           "mode       %s\nrate       %g\nbuffers    %zu\nvalues     %zu\n"
           "first tick %llu\nlast tick  %llu\n",
           path, dot ? dot + 1 : "?", info.var_name, rill_type_name(info.type),
           info.mode == RILL_TS_DENSE ? "dense" : "sparse", info.sample_rate,
           buffers, values, (unsigned long long)first, (unsigned long long)last);
    rill_file_reader_close(r);
    if (rc != RILL_EEMPTY) {
        fprintf(stderr, "rill info: %s is damaged after %zu buffers: %s\n", path,
                buffers, rill_strerror(rc));
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

static const char convert_usage[] =
    "usage: rill convert FILE --to bin|csv|jsonl|wav|flac [-o OUT] [--rate HZ]\n"
    "                    [--sparse]\n\n"
    "Convert a saved stream to another format, buffer by buffer. OUT defaults\n"
    "to FILE with the new extension. bin, csv and jsonl files record no sample\n"
    "rate: give it with --rate to convert them to wav or flac.\n\n"
    "examples:\n  rill convert data/sine.bin --to wav\n"
    "  rill convert data/frame.csv --to jsonl -o frame.jsonl\n";

/* A reader's doubles back in the variable's type, for the writer. */
static void to_type(rill_type t, const double *in, size_t n, void *out) {
    uint8_t *p = out;
    for (size_t i = 0; i < n; i++)
        p += rill_value_from_double(t, in[i], p);
}

int cmd_convert(int argc, char **argv) {
    const char *to = NULL, *out = NULL;
    rill_ts_mode mode;
    double rate = 0;
    int i = parse(argc, argv, convert_usage, &to, &out, &mode, &rate);
    if (i < 0)
        return i == -2 ? EXIT_OK : EXIT_USAGE;
    rill_file_format fmt;
    if (to == NULL || rill_file_format_from_name(to, &fmt) != 0) {
        fprintf(stderr, "rill convert: --to needs one of bin, csv, jsonl, wav, flac\n");
        return EXIT_USAGE;
    }
    const char *path = argv[i];
    char target[4096];
    if (out == NULL) {
        const char *dot = strrchr(path, '.');
        int stem = dot != NULL ? (int)(dot - path) : (int)strlen(path);
        snprintf(target, sizeof target, "%.*s.%s", stem, path, to);
        out = target;
    }
    if (strcmp(out, path) == 0) {
        fprintf(stderr, "rill convert: %s is already a .%s file\n", path, to);
        return EXIT_USAGE;
    }
    rill_file_reader *r = open_or_explain("convert", path, mode);
    if (r == NULL)
        return EXIT_FAILED;
    rill_file_info info;
    rill_file_reader_get_info(r, &info);
    char var[128];
    snprintf(var, sizeof var, "%s", info.var_name); /* owned by the reader */
    if (rate > 0)
        info.sample_rate = rate;
    if ((fmt == RILL_FILE_WAV || fmt == RILL_FILE_FLAC) && !(info.sample_rate >= 1)) {
        fprintf(stderr, "rill convert: %s records no sample rate; give it with "
                        "--rate HZ\n", path);
        rill_file_reader_close(r);
        return EXIT_USAGE;
    }
    rill_file_writer *w = NULL;
    int rc = rill_file_writer_create(out, fmt, &info, &w);
    if (rc != 0) {
        fprintf(stderr, "rill convert: cannot write %s: %s\n", out, rill_strerror(rc));
        rill_file_reader_close(r);
        unlink(out);
        return EXIT_FAILED;
    }
    void *vals = NULL;
    uint32_t *rel = NULL;
    size_t cap = 0, total = 0;
    rill_file_buffer b;
    while (rc == 0 && (rc = rill_file_reader_next(r, &b)) == 0) {
        if (b.count > cap) {
            free(vals);
            free(rel);
            cap = b.count;
            vals = malloc(cap * 8);
            rel = malloc(cap * 4);
            if (vals == NULL || rel == NULL) {
                rc = RILL_ENOMEM;
                break;
            }
        }
        to_type(info.type, b.values, b.count, vals);
        for (size_t k = 0; k < b.count; k++)
            rel[k] = (uint32_t)(b.timestamps[k] - b.first_ts);
        rc = rill_file_writer_write(w, b.first_ts, vals, b.count,
                                    info.mode == RILL_TS_SPARSE ? rel : NULL);
        total += b.count;
    }
    int crc = rill_file_writer_close(w);
    rill_file_reader_close(r);
    free(vals);
    free(rel);
    if ((rc != 0 && rc != RILL_EEMPTY) || crc != 0) {
        fprintf(stderr, "rill convert: %s -> %s failed after %zu values: %s; "
                        "%s removed\n", path, out, total,
                rill_strerror(rc != RILL_EEMPTY && rc != 0 ? rc : crc), out);
        unlink(out); /* a half conversion is worse than none */
        return EXIT_FAILED;
    }
    /* Quiet unless someone is watching: a script sees nothing on success. */
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "rill convert: %zu values of %s -> %s\n", total, var, out);
    return EXIT_OK;
}
