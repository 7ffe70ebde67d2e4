/* The rill tool's subcommands. Each is `int cmd_<name>(argc, argv)` with
 * argv[0] the command's name; it returns a process exit status. */
#ifndef RILL_TOOLS_COMMANDS_H
#define RILL_TOOLS_COMMANDS_H

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* An option's number from min to max (a whole one if `whole`) into *out;
 * otherwise says on stderr "rill CMD: OPT wants a number from MIN to MAX,
 * not 'S'" and returns false. */
bool parse_option_number(const char *cmd, const char *opt, const char *s,
                         double min, double max, bool whole, double *out);

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
