/* rill convert: a saved stream to another format, buffer by buffer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "saved.h"

static const char usage[] =
    "usage: rill convert FILE OUT [--to FORMAT] [--rate HZ] [--type T]\n"
    "                    [--sparse | --dense] [--force]\n"
    "       rill convert FILE --to bin|csv|jsonl|wav|flac [-o OUT] [--rate HZ]\n"
    "                    [--type T] [--sparse | --dense] [--force]\n\n"
    "Convert a saved stream to another format, buffer by buffer. The format is\n"
    "--to's, else OUT's extension (.bin .csv .jsonl .wav .flac); OUT defaults\n"
    "to FILE with the new extension. bin, csv and jsonl files record no sample\n"
    "rate: give it with --rate to convert them to wav or flac. csv and jsonl\n"
    "files record no type either (their values are read as int32 when all are\n"
    "whole, else double): --type float (or c, i, j, f, d; char, int32, uint32,\n"
    "double) writes the variable's own type; a value that type cannot hold\n"
    "stops the conversion. bin files do not record the timestamp mode: it is\n"
    "told from the buffers (a sparse variable's hold values and rising ticks;\n"
    "said on stderr), or given with --sparse or --dense. An OUT that is there\n"
    "already is kept: the command refuses, unless --force (write over it; it\n"
    "is replaced only once the conversion has succeeded). A conversion that\n"
    "fails leaves no OUT.\n\n"
    "examples:\n  rill convert data/sine.bin --to wav\n"
    "  rill convert data/frame.csv frame.jsonl\n"
    "  rill convert data/sine.csv take.wav --rate 44100\n"
    "  rill convert data/sine.csv sine.bin --type float\n";

typedef struct convert_opts {
    const char *to, *out;
    double rate;
    bool typed; /* --type given */
    bool force; /* --force: write over an OUT that is there */
    rill_type type;
} convert_opts;

static bool take(int c, const char *arg, void *user) {
    convert_opts *co = user;
    if (c == 't')
        co->to = arg;
    else if (c == 'o')
        co->out = arg;
    else if (c == 'F')
        co->force = true;
    else if (c == 'r')
        return parse_option_number("convert", "--rate", arg, 1, 1e7, false, &co->rate);
    else if (c == 'y') {
        if (!parse_type(arg, &co->type)) {
            fprintf(stderr, "rill convert: --type wants c, i, j, f or d (or char, int32, "
                    "uint32, float, double), not '%s'\n", arg);
            return false;
        }
        co->typed = true;
    }
    return true;
}

/* A reader's doubles back in the variable's type, for the writer; the
 * index of the first value the type cannot hold (as value_fits), or n. */
static size_t to_type(rill_type t, const double *in, size_t n, void *out) {
    uint8_t *p = out;
    for (size_t i = 0; i < n; i++, p += rill_type_size(t))
        if (!value_fits(t, in[i], p))
            return i;
    return n;
}

/* Every buffer of `r` into `w`: 0 at the end, or the first error; the
 * values written go to *total. A value the type cannot hold is
 * RILL_ERANGE, with it and its tick in *bad. */
typedef struct unfit {
    double value;
    uint64_t tick;
} unfit;

static int copy(rill_file_reader *r, rill_file_writer *w, const rill_file_info *info,
                size_t *total, unfit *bad) {
    void *vals = NULL;
    uint32_t *rel = NULL;
    size_t cap = 0;
    rill_file_buffer b;
    int rc;
    while ((rc = rill_file_reader_next(r, &b)) == 0) {
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
        size_t fit = to_type(info->type, b.values, b.count, vals);
        if (fit < b.count) {
            *total += fit;
            bad->value = b.values[fit];
            bad->tick = b.timestamps[fit];
            rc = RILL_ERANGE;
            break;
        }
        for (size_t k = 0; k < b.count; k++)
            rel[k] = (uint32_t)(b.timestamps[k] - b.first_ts);
        rc = rill_file_writer_write(w, b.first_ts, vals, b.count,
                                    info->mode == RILL_TS_SPARSE ? rel : NULL);
        if (rc != 0)
            break;
        *total += b.count;
    }
    free(vals);
    free(rel);
    return rc == RILL_EEMPTY ? 0 : rc;
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"type", required_argument, NULL, 'y'},
                                         {"force", no_argument, NULL, 'F'},
                                         SAVED_MODE_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    cli_opts o;
    cli_opts_init(&o, argc, argv, usage, "o:", opts);
    convert_opts co = {NULL, NULL, 0, false, false, RILL_TYPE_DOUBLE};
    saved_mode mode;
    int status = saved_parse(&o, &mode, 2, take, &co);
    if (status >= 0)
        return status;
    if (optind + 1 < argc) {
        if (co.out != NULL) {
            fprintf(stderr, "%s: two outputs, %s and -o %s: give one\n", argv[0],
                    argv[optind + 1], co.out);
            return EXIT_USAGE;
        }
        co.out = argv[optind + 1];
    }
    if (co.out != NULL && strcmp(co.out, "-") == 0) {
        fprintf(stderr, "%s: - : the output is a file (standard output is not offered): "
                "give its name\n", argv[0]);
        return EXIT_USAGE;
    }
    rill_file_format fmt;
    if (co.to == NULL && co.out != NULL) {
        /* The output's name says the format, as it does for sox. */
        const char *dot = strrchr(co.out, '.');
        if (dot == NULL || strchr(dot, '/') != NULL ||
            rill_file_format_from_name(dot + 1, &fmt) != 0) {
            fprintf(stderr, "%s: cannot tell the format from the name %s: end it in .bin, "
                    ".csv, .jsonl, .wav or .flac, or give --to\n", argv[0], co.out);
            return EXIT_USAGE;
        }
        co.to = rill_file_format_name(fmt);
    }
    if (co.to == NULL || rill_file_format_from_name(co.to, &fmt) != 0) {
        fprintf(stderr, "%s: --to needs one of bin, csv, jsonl, wav, flac\n", argv[0]);
        return EXIT_USAGE;
    }
    if (co.out != NULL) {
        /* A name that says another format is a slip: a .wav of csv text. */
        const char *dot = strrchr(co.out, '.');
        rill_file_format named;
        if (dot != NULL && strchr(dot, '/') == NULL &&
            rill_file_format_from_name(dot + 1, &named) == 0 && named != fmt) {
            fprintf(stderr, "%s: %s names a .%s file, but --to is %s: give one format\n",
                    argv[0], co.out, dot + 1, co.to);
            return EXIT_USAGE;
        }
    }
    const char *path = argv[optind], *out = co.out;
    char target[4096];
    if (out == NULL) {
        const char *dot = strrchr(path, '.');
        int stem = dot != NULL ? (int)(dot - path) : (int)strlen(path);
        snprintf(target, sizeof target, "%.*s.%s", stem, path, co.to);
        out = target;
    }
    if (strcmp(out, path) == 0) {
        fprintf(stderr, "%s: %s is already a .%s file\n", argv[0], path, co.to);
        return EXIT_USAGE;
    }
    /* Another name for the same file (a link, ./x): writing would
     * truncate what is being read. */
    struct stat in_st, out_st;
    if (stat(path, &in_st) == 0 && stat(out, &out_st) == 0 && in_st.st_dev == out_st.st_dev &&
        in_st.st_ino == out_st.st_ino) {
        fprintf(stderr, "%s: %s is %s itself (another name for it): writing it would destroy "
                "what is read; give another OUT\n", argv[0], out, path);
        return EXIT_USAGE;
    }
    /* A file that is there is kept, or with --force replaced once the
     * conversion has succeeded: written beside it, then renamed over it. */
    struct stat st;
    char partial[4096 + 16];
    const char *dest = out;
    if (lstat(out, &st) == 0) {
        if (!co.force) {
            fprintf(stderr, "%s: %s is there already (kept): give another OUT, or --force to "
                    "write over it\n", argv[0], out);
            return EXIT_USAGE;
        }
        snprintf(partial, sizeof partial, "%s.partial", out);
        out = partial;
    }
    rill_file_reader *r = saved_open(argv[0], path, &mode);
    if (r == NULL)
        return EXIT_FAILED;
    if (mode.guessed && mode.mode == RILL_TS_SPARSE)
        fprintf(stderr, "%s: %s: read as a sparse variable's log, told from its buffers "
                "(values and rising ticks): a bin file does not record the mode; --dense "
                "reads it as dense\n", argv[0], path);
    rill_file_info info;
    rill_file_reader_get_info(r, &info);
    char var[128];
    snprintf(var, sizeof var, "%s", info.var_name); /* owned by the reader */
    if (co.rate > 0)
        info.sample_rate = co.rate;
    if (co.typed)
        info.type = co.type;
    if ((fmt == RILL_FILE_WAV || fmt == RILL_FILE_FLAC) && !(info.sample_rate >= 1)) {
        fprintf(stderr, "%s: %s records no sample rate; give it with --rate HZ\n",
                argv[0], path);
        rill_file_reader_close(r);
        return EXIT_USAGE;
    }
    char why[256];
    if (rill_file_format_check(fmt, &info, why, sizeof why) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", argv[0], dest, why);
        rill_file_reader_close(r);
        return EXIT_USAGE;
    }
    /* Made here first (claim_path): an OUT that appeared since the check
     * above is kept, and a link at OUT.partial is replaced, not written
     * through. */
    if (claim_path(out, out != dest) == EEXIST) {
        fprintf(stderr, "%s: %s is there already (kept): give another OUT, or --force to "
                "write over it\n", argv[0], out);
        rill_file_reader_close(r);
        return EXIT_USAGE;
    }
    status = EXIT_FAILED;
    rill_file_writer *w = saved_create(argv[0], out, fmt, &info, &status);
    if (w == NULL) {
        rill_file_reader_close(r);
        unlink(out);
        return status;
    }
    size_t total = 0;
    unfit bad = {0, 0};
    int rc = copy(r, w, &info, &total, &bad);
    int crc = rill_file_writer_close(w);
    rill_file_reader_close(r);
    /* A half conversion is worse than none: removed; a file it was to
     * replace stays as it was. */
    char left[4096 + 64];
    snprintf(left, sizeof left, out != dest ? "%s kept as it was" : "%s removed", dest);
    if (rc == RILL_ERANGE) {
        /* Only --type can ask for a type the values do not fit. */
        fprintf(stderr, "%s: %s: value %zu (%.17g, tick %llu) cannot be stored as %s: give "
                "--type a type that holds it; %s\n", argv[0], path, total + 1,
                bad.value, (unsigned long long)bad.tick, rill_type_name(info.type), left);
        unlink(out);
        return EXIT_USAGE;
    }
    if (rc != 0 || crc != 0) {
        fprintf(stderr, "%s: %s -> %s failed after %zu values: %s; %s\n", argv[0],
                path, dest, total, rill_strerror(rc != 0 ? rc : crc), left);
        unlink(out);
        return EXIT_FAILED;
    }
    if (out != dest && rename(out, dest) != 0) {
        fprintf(stderr, "%s: cannot replace %s with the conversion: %s; it is in %s\n",
                argv[0], dest, strerror(errno), out);
        return EXIT_FAILED;
    }
    out = dest;
    /* A tail cut short (a writer stopped mid-write) was not converted:
     * said even to a script. Otherwise quiet unless someone is watching. */
    const char *noted = saved_note(path);
    if (noted != NULL)
        fprintf(stderr, "%s: %s: %s\n", argv[0], path, noted);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "%s: %zu values of %s -> %s\n", argv[0], total, var, out);
    return EXIT_OK;
}
