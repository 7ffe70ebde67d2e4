/* What the commands on saved streams (rill info, rill convert) share:
 * their --sparse option, the library's log on stderr, and opening a file
 * or saying why not. */
#ifndef RILL_TOOLS_SAVED_H
#define RILL_TOOLS_SAVED_H

#include "commands.h"
#include "rill/rill.h"

/* --sparse, --dense: bin files do not record the timestamp mode. */
#define SAVED_MODE_OPTIONS                                                        \
    {"sparse", no_argument, NULL, 's'}, { "dense", no_argument, NULL, 'e' }

/* The mode a file is read in: as --sparse or --dense said (`told`), else
 * the file's own, a bin file's told from its buffers (`guessed`). */
typedef struct saved_mode {
    rill_ts_mode mode;
    bool told;
    bool guessed;
} saved_mode;

/* Read the options (the command's own through `take`, which returns false
 * after saying what is wrong) and one FILE argument (up to `max_args`
 * arguments), then send the library's warnings and errors to stderr.
 * Returns -1 to go on (the FILE at argv[optind]), or the exit status to
 * return at once. */
int saved_parse(cli_opts *o, saved_mode *mode, int max_args,
                bool (*take)(int c, const char *arg, void *user), void *user);

/* A reader for `path` in mode->mode (found first, unless told: see
 * rill_file_mode), or NULL after saying why ("rill CMD: cannot read PATH:
 * ..."). */
rill_file_reader *saved_open(const char *cmd, const char *path, saved_mode *mode);

/* What the reader of `path` noticed and read past (a last buffer or line
 * cut short: a writer that stopped mid-write), without the path; NULL if
 * nothing. */
const char *saved_note(const char *path);

/* A writer of `info`'s stream to `path` as `format`, or NULL after saying
 * why in one line ("rill CMD: cannot write PATH: ..."), with *status the
 * exit status: 2 when the format cannot hold the variable, else 1. */
rill_file_writer *saved_create(const char *cmd, const char *path, rill_file_format format,
                               const rill_file_info *info, int *status);

#endif
