/* What the host commands (ls, stream, peek, set, monitor, log, send,
 * audio) share: the --url and --token options, connecting and saying why
 * not, finding variables in the device's list, a --at tick that must be
 * ahead of the device's clock, Ctrl-C, and whether stderr is a terminal.
 *
 * What they print: the command's output on stdout; on stderr errors
 * always, and progress and "-> file" summaries only when stderr is a
 * terminal, so that a script sees nothing on stderr when all went well.
 * Messages start with the command's name, argv[0] ("rill stream: ..."). */
#ifndef RILL_TOOLS_HOST_H
#define RILL_TOOLS_HOST_H

#include <stdatomic.h>
#include <stdbool.h>

#include "commands.h"
#include "rill/rill.h"

/* For each host command's --help. */
#define HOST_URL_HELP                                                          \
    "--url URL is the device: a rill serve or a Bela board (default $RILL_URL,\n" \
    "else ws://127.0.0.1:5555); --token T, its access token if it wants one;\n" \
    "--timeout SECONDS, how long to wait for it to answer (connecting, each\n" \
    "request, a ping on a silent link; default 5: give more over a slow or\n" \
    "lossy link, where a lost packet costs seconds of TCP retransmission).\n"

typedef struct host {
    cli_opts opts;
    const char *cmd;   /* argv[0] */
    const char *url;   /* --url, else $RILL_URL, else ws://127.0.0.1:5555 */
    const char *token; /* --token, or NULL */
    int timeout_ms;    /* --timeout, or 0: the library's default (5 s) */
    char host[256];    /* the URL's host, once host_connect has read it */
} host;

/* Start reading a host command's options: its own (as cli_opts_init) and
 * --url, --token, --timeout, --help. */
void host_init(host *h, int argc, char **argv, const char *usage,
               const char *shortopts, const struct option *own);

/* As cli_next; --url, --token and --timeout are taken here. */
int host_next(host *h);

/* For a command with no options of its own: read them all, then expect
 * from `min` to `max` arguments. -1 to go on, or the exit status to
 * return at once (as cli_next and cli_args). */
int host_parse(host *h, size_t min, size_t max);

/* Connect a client with `cfg` (its url, token and timeout are set here) and the
 * library's log on stderr; or say why not, what to do, and set *status
 * (EXIT_USAGE for a malformed URL, checked before anything is sent,
 * else EXIT_FAILED) and return NULL. */
rill_client *host_connect(host *h, rill_client_config cfg, int *status);

/* The same for a bridged device read from NATS JetStream (rill stream
 * --nats; rill/nats.h): the client, or NULL after saying why. */
struct rill_nats_config;
rill_client *host_connect_nats(host *h, rill_client_config cfg,
                               const struct rill_nats_config *ncfg, int *status);

/* The same for the dashboard API (rill audio). */
rill_dash *host_connect_dash(host *h, int *status);

/* The device's list, with vars[i] (if vars is not NULL) the entry of
 * names[i]; or NULL after saying why (no list, or which name the device
 * does not have), with *status set to EXIT_FAILED. */
rill_client_list *host_list(const host *h, rill_client *cl,
                            const char *const *names, size_t n,
                            const rill_client_var **vars, int *status);

/* --at must be ahead of the device's clock (a start in the past would be
 * taken as "now" by the device, and the values would not be those asked):
 * true, or false after saying so. */
bool host_at_ahead(const host *h, uint64_t at, const rill_client_list *l);

/* A client config whose on_error counts the commands the device refused
 * (RILL_EINVAL: the library has said why) in *refused: a command that
 * ends in a list round trip (rill_client_set, ...) has its refusal counted
 * when it returns. */
rill_client_config host_refusals_config(atomic_int *refused);

/* "; did you mean 'sine'?" for the listed name nearest to `name`, when one
 * is a typo away (2 edits, 1 for names of 4 letters or fewer), else "". */
void host_suggest(const rill_client_list *l, const char *name, char *out, size_t cap);

/* Print "<cmd>: <message>" on stderr and return `status`. */
int host_fail(const host *h, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* From begin to end, the library's errors logged by this thread are kept
 * rather than printed (other threads' print as usual), so that the
 * command's own message can carry the reason: end writes the first one,
 * or "", to out. */
void host_capture_begin(void);
void host_capture_end(char *out, size_t cap);

/* Ctrl-C sets a flag instead of killing the command, which then stops
 * what it does and reports as usual. */
void host_catch_interrupt(void);
bool host_interrupted(void);

/* Whether standard error is a terminal (progress and summaries). */
bool host_tty(void);

#endif
