/* The rill tool's subcommands and what every one of them shares: exit
 * statuses, reading options (options.c) and their values. Each command is
 * `int cmd_<name>(argc, argv)` in its own file, with argv[0] its name as
 * messages show it ("rill stream"); it returns a process exit status. The
 * host commands (those that connect to a device) also share host.h. */
#ifndef RILL_TOOLS_COMMANDS_H
#define RILL_TOOLS_COMMANDS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/rill.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* ---- Reading options (options.c) ------------------------------------------ */

#define CLI_MAX_OPTIONS 24

/* A command's options: its own, and --help (-h) which every command has. */
typedef struct cli_opts {
    int argc;
    char **argv;
    const char *usage; /* for --help, and for too few arguments */
    char shortopts[32];
    struct option longopts[CLI_MAX_OPTIONS];
    size_t n_longopts;
    int status; /* the exit status when cli_next returns CLI_STOP */
} cli_opts;

enum { CLI_END = 0, CLI_STOP = -1 };

/* Start reading argv: `own` are the command's long options (ended by an
 * entry with a NULL name, or NULL for none), `shortopts` its short ones. */
void cli_opts_init(cli_opts *o, int argc, char **argv, const char *usage,
                   const char *shortopts, const struct option *own);

/* Add more long options (ended by a NULL name), before the first cli_next. */
void cli_opts_add(cli_opts *o, const struct option *more);

/* The next of the command's options as getopt_long gives it (optarg holds
 * its value); CLI_END after the last; CLI_STOP when the command must
 * return o->status at once: --help printed the usage (EXIT_OK), or an
 * unknown option or a missing value was said (EXIT_USAGE). The arguments
 * start at optind after CLI_END. */
int cli_next(cli_opts *o);

/* For commands whose arguments are numbers: "-0.5" is an argument, not an
 * option, and options may come anywhere. Reorders o's argv as the options
 * (with the values of those that take one, from o's table), then "--",
 * then the arguments. Once, after every option is known and before the
 * first cli_next. Returns the new argv, for the caller to free when done
 * (NULL: no memory, argv unchanged). */
char **cli_values_last(cli_opts *o);

/* After the options: from `min` to `max` arguments give -1 (go on); too
 * few print the usage, too many name the first extra; both return
 * EXIT_USAGE. */
int cli_args(const cli_opts *o, size_t min, size_t max);

/* ---- Option values (options.c) --------------------------------------------- */

/* An option's number from min to max (a whole one if `whole`) into *out;
 * otherwise says on stderr "rill CMD: OPT wants a number from MIN to MAX,
 * not 'S'" and returns false. */
bool parse_option_number(const char *cmd, const char *opt, const char *s,
                         double min, double max, bool whole, double *out);

/* Seconds above 0, as -d wants them. */
bool parse_seconds(const char *cmd, const char *opt, const char *s, double *out);

/* A tick, as --at wants it: whole, from 1, exact in a double. */
bool parse_tick(const char *cmd, const char *s, uint64_t *out);

/* A directory that exists; otherwise says on stderr "rill CMD: OPT S is
 * not a directory" and returns false. */
bool parse_option_dir(const char *cmd, const char *opt, const char *s);

/* An unsigned 32-bit integer, decimal or 0x hex (no message). */
bool parse_u32(const char *s, uint32_t *out);

/* `v` as a value of `type` into out (rill_type_size bytes): true when the
 * program would read v itself, false when the type cuts it (a fraction or
 * an out-of-range integer, a float beyond float's range). */
bool value_fits(rill_type type, double v, void *out);

/* A type by its letter (c i j f d, as pybela's list names it) or its name
 * (char int32 uint32 float double, as rill ls and rill info print it). */
bool parse_type(const char *s, rill_type *out);

/* "a" or "an" before the type's name: a float, an int32. */
const char *type_article(rill_type type);

/* ---- The commands ---------------------------------------------------------------- */

/* A path to write that keeps what is there: `path` itself when nothing
 * is, else the first free "<base>_<k><ext>" (k = 1, 2, ...; base and ext
 * of its last component), as pybela names its copies. True when it had
 * to pick another name. */
bool free_path(const char *path, char *out, size_t cap);

/* Make `path` an empty file of this command's, atomically: 0, or errno
 * (EEXIST: something is there, and was left alone). With `replace`,
 * what is there (a file, a link: never what a link points to) is removed
 * first; a directory is not (EISDIR). A writer that opens the path with
 * O_TRUNC after this writes into the file made here, not through a link
 * planted before, nor over one that appeared since a check. */
int claim_path(const char *path, bool replace);

int cmd_serve(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_peek(int argc, char **argv);
int cmd_audio(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bridge(int argc, char **argv);

#endif
