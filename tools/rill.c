/* The rill command line: one binary, one subcommand per job.
 *
 * Exit codes scripts can rely on: 0 success, 1 the job failed (the message
 * says why and what to check), 2 the command line was wrong (the message or
 * the usage says how). "Wrong" includes what only the device can tell: a
 * --at tick in the past, a format that cannot hold a variable, --mask on a
 * float variable; retrying the same command cannot help.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "rill/rill.h"

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"serve", "serve live variables to clients (the device side)", cmd_serve},
    {"ls", "list a device's variables", cmd_ls},
    {"stream", "stream variables to files or standard output", cmd_stream},
    {"peek", "print variables' current values", cmd_peek},
    {"monitor", "print variables' values periodically", cmd_monitor},
    {"set", "control a variable and set its value", cmd_set},
    {"log", "log variables on the device and download the files", cmd_log},
    {"send", "send a buffer of values to the device program", cmd_send},
    {"audio", "show or change the device's audio configuration", cmd_audio},
    {"bridge", "publish devices into a NATS JetStream stream", cmd_bridge},
    {"info", "describe a saved stream", cmd_info},
    {"convert", "convert a saved stream to another format", cmd_convert},
    {"version", "print the version of rill and of librill", cmd_version},
    {"help", "show help for rill or for one command", cmd_help},
};

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *out) {
    fprintf(out, "usage: rill [--version] [--help] COMMAND [ARGS...]\n\n"
                 "rill streams live audio and sensor data.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'rill COMMAND --help' for the options of a command.\n"
                 "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int cmd_version(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, argc, argv, "usage: rill version\n\nPrints the version of the rill "
                  "tool and of the librill it runs on.\n\nexample:\n  rill version\n",
                  "", NULL);
    if (cli_next(&o) == CLI_STOP)
        return o.status;
    int status = cli_args(&o, 0, 0);
    if (status >= 0)
        return status;
    printf("rill %s (librill %s)\n", RILL_VERSION_STRING, rill_version_string());
    return EXIT_OK;
}

static int cmd_help(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, argc, argv, "usage: rill help [COMMAND]\n\nWithout COMMAND, list "
                  "the commands; with one, print its help\n(the same as 'rill COMMAND "
                  "--help').\n\nexamples:\n  rill help\n  rill help stream\n", "", NULL);
    if (cli_next(&o) == CLI_STOP)
        return o.status;
    int status = cli_args(&o, 0, 1);
    if (status >= 0)
        return status;
    if (optind == argc) {
        usage(stdout);
        return EXIT_OK;
    }
    const command *c = find_command(argv[optind]);
    if (c == NULL) {
        fprintf(stderr, "rill help: unknown command '%s'\n\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    char *help_argv[] = {argv[optind], "--help", NULL};
    return c->run(2, help_argv);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cmd_version(1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    const command *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "rill: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    /* getopt's own messages start with argv[0]: make it "rill <command>". */
    static char name[64];
    snprintf(name, sizeof name, "rill %s", c->name);
    argv[1] = name;
    return c->run(argc - 1, argv + 1);
}
