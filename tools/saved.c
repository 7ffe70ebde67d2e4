/* What rill info and rill convert share (saved.h). */
#include <stdio.h>

#include "saved.h"

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN)
        fprintf(stderr, "rill: %s\n", msg);
}

int saved_parse(cli_opts *o, rill_ts_mode *mode,
                bool (*take)(int c, const char *arg, void *user), void *user) {
    *mode = RILL_TS_DENSE;
    int c;
    while ((c = cli_next(o)) > 0) {
        if (c == 's')
            *mode = RILL_TS_SPARSE;
        else if (take == NULL || !take(c, optarg, user))
            return EXIT_USAGE;
    }
    if (c == CLI_STOP)
        return o->status;
    int status = cli_args(o, 1, 1);
    if (status < 0)
        rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    return status;
}

rill_file_reader *saved_open(const char *cmd, const char *path, rill_ts_mode mode) {
    rill_file_reader *r = NULL;
    int rc = rill_file_reader_open(path, mode, &r);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot read %s: %s%s\n", cmd, path, rill_strerror(rc),
                rc == RILL_ENOTSUP ? " (known: .bin .csv .jsonl .txt .wav .flac)" : "");
        return NULL;
    }
    return r;
}
