/* rill_server: the device side. A program that owns a live signal creates a
 * server, declares variables (watch.h), calls rill_server_tick() once per
 * frame and sets the variables from its real-time loop; any number of
 * clients stream, monitor, log and control them over the network.
 *
 * Wire protocol: Bela's Watcher protocol (WebSocket paths /gui_control and
 * /gui_data on one port), so pybela 2.x works unchanged, plus rill's native
 * mode for clients that ask for it (docs/PROTOCOL.md). Finished log files
 * are served over HTTP at GET /files/<name>, and, with a web root, the
 * browser dashboard at GET / (docs/HANDLERS.md).
 *
 * Threads. Five kinds; each function below says which may call it.
 *  - the real-time (tick) thread: the program's audio loop, calling
 *    rill_server_tick() and the rill_var_set_*() functions. They never
 *    allocate, lock or print; full buffers leave through a lock-free
 *    ring, commands arrive through a lock-free queue and take effect at
 *    the next tick. Their one system call: when the network thread is
 *    asleep waiting for data, the set that completes a buffer wakes it
 *    with one write(2) to an eventfd, at most once per sleep (never while
 *    it is busy, so not at all under a steady flow). One thread at a
 *    time plays this role.
 *  - the network thread, owned by the server (started by
 *    rill_server_create): sockets, HTTP, JSON, per-client queues, the
 *    dashboard relay, programs run for pages. Calls on_buffer.
 *  - the log writer thread, owned by the server: creates, writes and
 *    closes every log file.
 *  - the device-request thread, owned by the server when on_audio_change
 *    is set: runs clients' audio configuration changes, one at a time.
 *  - user threads: create/destroy, rill_var_create and the other
 *    functions here.
 */
#ifndef RILL_SERVER_H
#define RILL_SERVER_H

#include <stdbool.h>

#include "rill/core.h"
#include "rill/watch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_server rill_server; /* also in watch.h (C11 allows the repeat) */

/* Called on the network thread when a client sends a buffer to the device
 * (pybela's send_buffer). `values` holds `count` values of `type` in host
 * order, valid only during the call. `id` is the client's channel number.
 * It should return quickly: every client waits while it runs. */
typedef void (*rill_server_buffer_fn)(rill_server *srv, uint32_t id,
                                      rill_type type, const void *values,
                                      size_t count, void *user);

/* Runs on the server's device-request thread (never the network thread or
 * the tick thread), one request at a time, so it may take its time: stop
 * the audio, reopen it, restart. On success, call rill_server_set_audio with
 * the new description (and rill_server_set_sample_rate if the rate
 * changed) before returning 0. Otherwise change nothing, write one
 * sentence in `why` (what cannot change, and what to do instead) and
 * return a rill error code (RILL_EINVAL, RILL_EIO ...); the requesting
 * client gets that sentence in its error reply. */
typedef int (*rill_server_audio_change_fn)(rill_server *srv,
                                           const rill_audio_change *change,
                                           char *why, size_t why_size,
                                           void *user);

typedef struct rill_server_config {
    const char *host;         /* address to bind; default "127.0.0.1" */
    int port;                 /* default 5555; 0 picks a free port */
    double sample_rate;       /* reported to clients; default 44100 */
    const char *project_name; /* default "rill" */
    const char *token;        /* if set, clients must present it */
    const char *log_dir;      /* where log files go; default "." */
    const char *allow_origin; /* extra browser Origin allowed, or NULL */
    const char *web_root;     /* directory served at / (the dashboard's
                                 built files, index.html first), or NULL:
                                 no pages; default NULL */
    size_t max_vars;          /* variable table size; default 256 */
    size_t client_queue_bytes; /* per-client send queue; default 8 MiB */
    size_t out_ring_bytes;    /* tick -> network ring; default 8 MiB */
    size_t log_ring_bytes;    /* tick -> log writer ring; default 8 MiB */
    size_t max_message_bytes; /* largest client message; default 64 KiB */
    unsigned drain_interval_us; /* unused: kept so that programs setting
                                   it still build. (It was the period of
                                   a waker thread; the tick thread now
                                   wakes the network thread itself.) */
    bool allow_exec;          /* let dashboard pages run programs on this
                                 machine (Execute/Stop; docs/PROTOCOL.md §7):
                                 remote code execution for the device's
                                 owner. Needs `token`. Default false */
    rill_server_buffer_fn on_buffer; /* client -> device buffers; may be
                                        NULL */
    void *user;               /* passed to on_buffer and on_audio_change */
    /* Clients may ask to change the audio configuration (the dashboard's
     * form, rill_dash_change_audio, `rill audio`); NULL refuses them all.
     * Default NULL. See rill_server_audio_change_fn. */
    rill_server_audio_change_fn on_audio_change;
    /* Speak only the Watcher protocol, as a Bela board does: the native
     * mode's hello is ignored, so clients fall back to the compatibility
     * mode (for testing them; the dashboard needs native mode). */
    bool compat_only;
    /* Directories shown to dashboard pages (docs/HANDLERS.md), or NULL:
     * custom handler types (JavaScript modules, *.js / *.mjs) at
     * /handlers/, and example scripts for the editor (*.py, list.json) at
     * /examples/. Only regular files directly inside are served (symlinks
     * leading out refused), under the token like every other request.
     * Default NULL. */
    const char *handlers_dir;
    const char *examples_dir;
    /* The program that runs the editor's scripts (with allow_exec): its
     * name (searched in PATH) or path. Default "python3". */
    const char *script_interpreter;
    /* Host names (comma-separated) that requests may carry in their Host
     * header besides this server's own: localhost, the address a client
     * connected to, the --host name, and, bound beyond loopback, this
     * machine's name (and NAME.local). Any port. "*" allows every Host.
     * A browser page reached through DNS rebinding carries its own domain
     * there, so it is refused (403) unless its name is listed.
     * docs/SECURITY.md. Default NULL. */
    const char *allow_hosts;
    /* Write log files as a Bela board does, so that pybela's Logger finds
     * them over SSH/SFTP: the project name sent to clients becomes this
     * name and log files go to RILL_BELA_PROJECTS_DIR/<name>/ (created
     * with its parents if missing), instead of project_name and log_dir.
     * A name, not a path: no '/', not "." or "..". NULL: not used.
     * Default NULL. */
    const char *bela_project;
    /* How many ticks the program makes at once: its audio block, or the
     * frames it ticks through on each wake-up. Native clients are told
     * (the hello reply's "blockTicks", docs/PROTOCOL.md) and start a
     * stream at a tick of their choice that many ticks ahead instead of a
     * guessed 64, which at a sensor rate is seconds (6.4 s at 10 Hz).
     * 0: not said. Default 0. */
    unsigned block_ticks;
} rill_server_config;

/* Where a Bela board keeps its projects, and pybela looks for log files:
 * /root/Bela/projects/<projectName>/<logFileName>. */
#define RILL_BELA_PROJECTS_DIR "/root/Bela/projects"

/* Defaults for every field. Always start from this. Any thread. */
RILL_API rill_server_config rill_server_config_default(void);

/* Create a server and start serving (its threads run once this returns).
 * The strings are copied. User thread. Returns 0 and sets *out, or
 *   RILL_EINVAL    a field out of range, NULL pointers, an empty token,
 *                  allow_exec without a token, a bela_project that is not a plain name (the
 *                  log says which);
 *   RILL_ENOTFOUND log_dir does not exist;
 *   RILL_EIO       cannot listen on host:port (taken, not an address of
 *                  this machine, a privileged port; the log says which),
 *                  or cannot create the bela_project directory;
 *   RILL_ESYS      cannot start a thread;
 *   RILL_ENOMEM. */
RILL_API int rill_server_create(const rill_server_config *cfg,
                                rill_server **out);

/* Stop serving, finish and close log files, free everything, including the
 * variables. Stop calling tick and set first. User thread (never the
 * network, device-request or real-time thread: it joins them). NULL is a
 * no-op. */
RILL_API void rill_server_destroy(rill_server *srv);

/* The port actually bound (useful with port 0). Any thread; never fails. */
RILL_API int rill_server_port(const rill_server *srv);

/* Real-time thread, once per frame, before setting the variables of that
 * frame: `frame` is the current tick (any increasing integer, normally the
 * frame counter). A program that sets whole blocks (rill_var_set_block)
 * ticks once per block instead, with the block's first frame. Applies
 * queued client commands and scheduled starts and stops. Wait-free; an end
 * of stream it publishes may wake the network thread as rill_var_set_*
 * does (watch.h). Never fails. */
RILL_API void rill_server_tick(rill_server *srv, uint64_t frame);

/* Real-time thread: true while anything takes the variables' values: a
 * stream, a monitor or a log of any variable, running or scheduled, or
 * while a client's command waits for the next tick. While
 * it is false nobody sees when the program sets its values, only what
 * they are: a program that simulates its source (rill serve's demo) may
 * then wake less often and catch up. Wait-free; never fails. */
RILL_API bool rill_server_watched(const rill_server *srv);

/* The last tick passed to rill_server_tick (0 before the first). Any
 * thread; never fails. */
RILL_API uint64_t rill_server_now(const rill_server *srv);

/* ---- Audio description ----------------------------------------------------- */

/* Describe the device's audio input (watch.h: rill_audio_desc), or with
 * NULL say it has none. The server copies it. Native clients see it in
 * every list reply ("audio") and are told of each change
 * ({"event":"audio",...}, docs/PROTOCOL.md) at once; what may
 * change is offered only with on_audio_change set. Any user thread (and
 * on_audio_change), before or after clients connect. Returns 0,
 * RILL_EINVAL (a field out of range, or a channel that is not a dense
 * float variable of this server; the log says which) or RILL_ENOMEM. */
RILL_API int rill_server_set_audio(rill_server *srv, const rill_audio_desc *audio);

/* Change the sample rate reported to clients (list replies, the hello
 * reply, and the audio event that follows, docs/PROTOCOL.md §8), e.g. after
 * reopening the audio input at another rate. Any user thread (and
 * on_audio_change). Returns 0, or RILL_EINVAL unless 0 < rate < 1e7. */
RILL_API int rill_server_set_sample_rate(rill_server *srv, double rate);

/* Counters, for tests, benchmarks and the CLI. */
typedef struct rill_server_stats {
    uint64_t buffers_produced;   /* stream buffers completed on the tick thread */
    uint64_t tick_drops;         /* buffers dropped because a ring was full */
    uint64_t client_drops;       /* buffers dropped for slow clients (all) */
    uint64_t clients;            /* WebSocket connections open now */
    uint64_t commands_rejected;  /* command queue full */
} rill_server_stats;

/* Read the counters (atomic loads). Any thread; never fails. */
RILL_API void rill_server_get_stats(const rill_server *srv,
                                    rill_server_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* RILL_SERVER_H */
