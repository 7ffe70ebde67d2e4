/* rill info: describe a saved stream. */
#include <stdio.h>
#include <string.h>

#include "saved.h"

static const char usage[] =
    "usage: rill info FILE [--sparse | --dense]\n\n"
    "Describe a saved stream: format, variable, type, timestamp mode, rate,\n"
    "buffers, values, first and last tick. bin files do not record the mode:\n"
    "it is told from the buffers (a sparse variable's hold values and rising\n"
    "ticks), or given with --sparse or --dense. A file whose writer stopped\n"
    "mid-write ends in part of a buffer or line: a note says so, and that part\n"
    "is not counted.\n\n"
    "example:\n  rill info data/frame.wav\n";

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {SAVED_MODE_OPTIONS, {NULL, 0, NULL, 0}};
    cli_opts o;
    cli_opts_init(&o, argc, argv, usage, "", opts);
    saved_mode mode;
    int status = saved_parse(&o, &mode, 1, NULL, NULL);
    if (status >= 0)
        return status;
    const char *path = argv[optind];
    rill_file_reader *r = saved_open(argv[0], path, &mode);
    if (r == NULL)
        return EXIT_FAILED;
    rill_file_info info;
    rill_file_reader_get_info(r, &info);
    size_t buffers = 0, values = 0, zeros = 0; /* zeros ending the last buffer */
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
        for (zeros = 0; zeros < b.count && b.values[b.count - 1 - zeros] == 0; zeros++)
            ;
    }
    const char *dot = strrchr(path, '.');
    const char *format = dot ? dot + 1 : "?";
    /* bin, csv and jsonl keep no sample rate: say so rather than "0". */
    char rate[64];
    if (info.sample_rate > 0)
        snprintf(rate, sizeof rate, "%g", info.sample_rate);
    else
        snprintf(rate, sizeof rate, "not recorded in a %.16s file", format);
    /* A bin file does not record its mode: the line says where the one
     * shown comes from. */
    bool bin = strcmp(format, "bin") == 0, sparse = info.mode == RILL_TS_SPARSE;
    const char *mode_text =
        !bin ? (sparse ? "sparse" : "dense")
        : mode.told ? (sparse ? "sparse (as --sparse says: a bin file does not record the mode)"
                              : "dense (as --dense says: a bin file does not record the mode)")
        : sparse ? "sparse (told from its buffers, values and rising ticks: a bin file does "
                   "not record the mode; --dense reads it as dense)"
                 : "dense (a bin file does not record the mode: add --sparse for a "
                   "sparse variable's log)";
    /* csv and jsonl keep numbers as text: the type shown is the narrowest
     * that holds every value (a float variable's read as double), and csv
     * keeps no buffers (the reader's blocks are not the stream's). */
    bool csv = strcmp(format, "csv") == 0;
    bool text = csv || strcmp(format, "jsonl") == 0;
    char type_text[128], buffers_text[64];
    snprintf(type_text, sizeof type_text, "%s%s%s%s", rill_type_name(info.type),
             text ? " (read from the values: a " : "", text ? format : "",
             text ? " file does not record the type)" : "");
    if (csv)
        snprintf(buffers_text, sizeof buffers_text, "not recorded in a csv file");
    else
        snprintf(buffers_text, sizeof buffers_text, "%zu", buffers);
    /* No values, no ticks: "none", not a tick 0 that no value has. */
    char first_text[32] = "none", last_text[32] = "none";
    if (values != 0) {
        snprintf(first_text, sizeof first_text, "%llu", (unsigned long long)first);
        snprintf(last_text, sizeof last_text, "%llu", (unsigned long long)last);
    }
    printf("file       %s\nformat     %s\nvariable   %s\ntype       %s\n"
           "mode       %s\nrate       %s\nbuffers    %s\nvalues     %zu\n"
           "first tick %s\nlast tick  %s\n",
           path, format, info.var_name, type_text, mode_text, rate, buffers_text,
           values, first_text, last_text);
    const char *noted = saved_note(path); /* a tail cut short, not counted */
    if (noted != NULL)
        printf("note       %s\n", noted);
    /* A dense bin file's last buffer is padded with zeros to a whole body,
     * and the file does not say where its values end: counted above, and
     * said here when the last buffer ends in zeros. */
    if (bin && !sparse && zeros != 0)
        printf("padding    the last buffer ends in %zu zeros: the stream's padding if it "
               "ended there (a bin file does not record where its values end)\n", zeros);
    rill_file_reader_close(r);
    if (rc != RILL_EEMPTY) {
        fprintf(stderr, "%s: %s is damaged after %zu buffers: %s\n", argv[0], path,
                buffers, rill_strerror(rc));
        return EXIT_FAILED;
    }
    return EXIT_OK;
}
