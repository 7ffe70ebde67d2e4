/* The control channel (/gui_control): parsing what clients send and
 * building what the server sends back. Spec §1.4 and §2; docs/PROTOCOL.md.
 *
 * Threads. Nothing here is for the tick thread: parsing and building
 * allocate. Any other thread may call these functions; they share no state.
 *
 * Memory. The parse result and everything it points to come from rill's
 * allocator (rill__malloc) and go with rill__cmd_msg_destroy. jansson, which
 * does the parsing, allocates its temporary tree with plain malloc: its
 * allocator hook (json_set_alloc_funcs) is process-wide and would also
 * capture any other jansson user in the program, so rill leaves it alone.
 * That tree never outlives rill__cmd_parse. Built messages come from
 * rill__malloc and are freed with rill__free.
 */
#ifndef RILL_PROTO_COMMAND_H
#define RILL_PROTO_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json_out.h"
#include "rill/watch.h"

/* ---- Limits ------------------------------------------------------------ */

/* Larger messages are refused before parsing (status RILL_ETOOBIG). Old
 * Bela boards drop a connection at 16 KiB, so no real client comes close. */
#define RILL__CMD_MAX_BYTES (64 * 1024)
/* Commands in one "watcher" array; the rest are skipped with an error. */
#define RILL__CMD_MAX_COMMANDS 64
/* Names in one command's "watchers"; a longer command is skipped. */
#define RILL__CMD_MAX_ENTRIES 1024
/* Largest "lengths" entry: values per buffer a native client may ask for. */
#define RILL__CMD_MAX_LENGTH 65536
/* Errors kept per message; any more are summed up in one last error. */
#define RILL__CMD_MAX_ERRORS 32

/* "No index" in rill__cmd_error. */
#define RILL__CMD_NONE SIZE_MAX

/* ---- Parsed client messages -------------------------------------------- */

typedef enum rill__cmd_kind {
    RILL__CMD_LIST = 0,
    RILL__CMD_WATCH,
    RILL__CMD_UNWATCH,
    RILL__CMD_LOG,
    RILL__CMD_UNLOG,
    RILL__CMD_MONITOR,
    RILL__CMD_CONTROL,
    RILL__CMD_UNCONTROL,
    RILL__CMD_SET,
    RILL__CMD_SET_MASK,
    /* A "cmd" string the parser does not know. It is kept (with no entries)
     * so the server can log it; the parser has already recorded an error. */
    RILL__CMD_UNKNOWN
} rill__cmd_kind;

/* The "cmd" string of a kind ("list", ..., "setMask"; "unknown"). */
const char *rill__cmd_kind_name(rill__cmd_kind kind);

typedef enum rill__cmd_event {
    RILL__EVENT_NONE = 0,         /* no "event" key */
    RILL__EVENT_CONNECTION_REPLY, /* joins connections and active ones */
    RILL__EVENT_ACTIVE,           /* joins the active connections */
    RILL__EVENT_INACTIVE,         /* leaves the active connections */
    RILL__EVENT_UNKNOWN           /* another string; see event_name */
} rill__cmd_event;

/* A request id to echo in replies (spec §8 fix 2): a string or an
 * integer, or none. */
typedef enum rill__cmd_id_kind {
    RILL__ID_NONE = 0,
    RILL__ID_INT,
    RILL__ID_STRING
} rill__cmd_id_kind;

typedef struct rill__cmd_id {
    rill__cmd_id_kind kind;
    int64_t i;     /* RILL__ID_INT */
    const char *s; /* RILL__ID_STRING */
} rill__cmd_id;

/* One variable of a command: watchers[index] and the entries at the same
 * position in the per-variable arrays that this kind of command uses.
 * A has_ flag is false when the array is missing or too short, which for
 * watch/unwatch/log/unlog means the spec's default (0). Fields a kind does
 * not use are never read from the message (pybela sends "periods" with
 * watch; it is ignored, as on Bela).
 *
 *   watch, log        timestamp (start tick), duration (ticks, 0 = no end);
 *                     watch also length (values per buffer, 1 to
 *                     RILL__CMD_MAX_LENGTH, from "lengths"; only native
 *                     clients' watches use it)
 *   unwatch, unlog    timestamp (stop tick)
 *   monitor           period (always present: 0 off, 1 one shot)
 *   set               value (always present)
 *   setMask           value and mask (both present; value holds an integer
 *                     from 0 to 2^32 - 1, so (uint32_t)value is exact)
 *   list, control, uncontrol, unknown: name only
 */
typedef struct rill__cmd_entry {
    const char *name;
    size_t index; /* position in "watchers" */
    bool has_timestamp, has_duration, has_period, has_value, has_mask,
        has_length;
    uint64_t timestamp;
    uint64_t duration;
    uint32_t period; /* < 2^31 */
    double value;    /* JSON booleans count as 0 and 1 */
    uint32_t mask;
    uint32_t length; /* values per buffer */
} rill__cmd_entry;

typedef struct rill__cmd {
    rill__cmd_kind kind;
    const char *name; /* the "cmd" string as sent */
    size_t index;     /* position in the "watcher" array */
    rill__cmd_id id;  /* the command's own "id", else the message's */
    rill__cmd_entry *entries; /* valid entries only, in "watchers" order */
    size_t n_entries;
} rill__cmd;

/* Something the client got wrong, ready for rill__cmd_error_reply. The
 * server builds these too, for errors only it can see (an unknown
 * variable name), with the fields it knows and the others NULL / NONE. */
typedef struct rill__cmd_error {
    size_t cmd_index; /* position in "watcher", or RILL__CMD_NONE */
    const char *cmd;  /* the "cmd" string, or NULL */
    size_t var_index; /* position in "watchers", or RILL__CMD_NONE */
    const char *var;  /* the variable's name, or NULL */
    const char *message; /* one sentence saying what was wrong and what was
                            skipped; never NULL */
    rill__cmd_id id;  /* id to echo */
} rill__cmd_error;

typedef struct rill__cmd_msg {
    /* 0, or why the whole message was refused: RILL_ETOOBIG (over
     * RILL__CMD_MAX_BYTES) or RILL_EPROTO (not JSON, or not an object).
     * A refused message has exactly one error and nothing else. */
    int status;
    rill__cmd_event event;
    const char *event_name; /* the "event" string, or NULL */
    rill__cmd_id id;        /* the message's top-level "id" */
    rill__cmd *cmds;        /* in array order, to be run in that order */
    size_t n_cmds;
    rill__cmd_error *errors;
    size_t n_errors;
    struct rill__cmd_arena *arena; /* private: owns every pointer above */
} rill__cmd_msg;

/* Parse one control message of `len` bytes (it need not be NUL-terminated;
 * an embedded NUL makes it "not JSON", which is what Bela's C-string
 * handling amounts to). On success *out is a message the server can act on
 * without jansson:
 *
 *  - status != 0: refused; send errors[0] back and do nothing else;
 *  - else act on `event`, then run cmds in order, and send back each of
 *    errors (bad entries were skipped, the rest of the message stands:
 *    spec §8 fixes 2 and 3).
 *
 * Validation (each item skips only what it says):
 *  - message: size limit, JSON syntax (with jansson's line and column),
 *    top level an object; "id" a string or integer; "event" a string;
 *    "watcher", if present, an array;
 *  - command: an object with a string "cmd" it knows; at most
 *    RILL__CMD_MAX_COMMANDS; a command with a bad "watchers" (missing, not
 *    an array, longer than RILL__CMD_MAX_ENTRIES) or a per-variable array
 *    it uses that is not an array is skipped whole;
 *  - entry: a string name; timestamps and durations non-negative integers
 *    below 2^64 (as JSON integers or integral reals); periods integers
 *    below 2^31; values numbers or booleans; masks (and setMask values)
 *    integers from 0 to 2^32 - 1; set needs a value, setMask a value and a
 *    mask, monitor a period, for every name. A bad entry skips its name.
 *
 * Returns 0 (then *out is set, even for a refused message), RILL_EINVAL
 * (NULL text or out) or RILL_ENOMEM (then *out is NULL). */
int rill__cmd_parse(const char *text, size_t len, rill__cmd_msg **out);

/* Free a parse result and everything it points to. NULL is a no-op. */
void rill__cmd_msg_destroy(rill__cmd_msg *msg);

/* ---- Messages the server sends ------------------------------------------
 *
 * Each builder returns 0 and a NUL-terminated JSON text in *out (from
 * rill__malloc; free with rill__free) with its length in *out_len (may be
 * NULL), or RILL_EINVAL (NULL out or a required argument) or RILL_ENOMEM.
 * Keys come out sorted and without whitespace, as Bela writes them, so the
 * list reply is byte-identical to a board's for the same state. Integers
 * are exact (spec §8 fix 10). */

/* {"event":"connection","projectName":"<name>"}; projectName is left out
 * for a NULL name. pybela needs it, so a server should always pass one. */
int rill__cmd_connection_event(const char *project_name, char **out,
                               size_t *out_len);

/* What the list reply says about one variable (spec §2.4). */
typedef struct rill__var_snapshot {
    const char *name;
    rill_type type;
    rill_ts_mode ts_mode;
    bool watched;    /* watch stream running (started, stopping, last) */
    bool logged;     /* the same for the log stream */
    bool controlled; /* the program reads the remote value */
    uint32_t monitor;          /* monitor period, 0 = off */
    const char *log_file_name; /* NULL or "" if never logged */
    double value;       /* what the program reads now; NaN/inf -> null */
    double value_input; /* the last value the program assigned */
} rill__var_snapshot;

/* {"watcher":{"sampleRate":S,"timestamp":T,"watchers":[...]}} with one
 * object per variable, in array order (the order is the data-path id).
 * With an id other than RILL__ID_NONE a top-level "id" is added first
 * (pybela reads only "watcher"). `vars` may be NULL when n_vars is 0. */
int rill__cmd_list_reply(double sample_rate, uint64_t timestamp,
                         const rill__var_snapshot *vars, size_t n_vars,
                         const rill__cmd_id *id, char **out,
                         size_t *out_len);

/* The same with the device's audio description (its JSON, rendered by
 * json_out.h) as the first member of "watcher": what native clients get.
 * NULL: none, as rill__cmd_list_reply. */
int rill__cmd_list_reply_audio(double sample_rate, uint64_t timestamp,
                               const rill__var_snapshot *vars, size_t n_vars,
                               const rill__cmd_id *id, const char *audio_json,
                               char **out, size_t *out_len);

/* The member "id":ID for json_out's object writer, or a member left out
 * for RILL__ID_NONE (or NULL): a request's id echoed in its reply. */
rill__jv rill__cmd_id_member(const rill__cmd_id *id);

/* "No end" in a log-scheduled notification: 2^64 - 1, written as the
 * integer 18446744073709551615. A board writes the same value as the lossy
 * double 1.84467440737096e+19; both read back as "no end" to any client
 * that compares against 2^64 - 1 after converting to an unsigned 64-bit
 * tick, and pybela ignores the message. */
#define RILL__LOG_NO_END UINT64_MAX

/* {"watcher":{"logFileName":F,"timestamp":START,"timestampEnd":END,
 * "watcher":NAME}}: sent when a log command is accepted (spec §2.5).
 * `start` is the effective start tick, `end` the effective end tick or
 * RILL__LOG_NO_END. */
int rill__cmd_log_scheduled(const char *var, const char *log_file_name,
                            uint64_t start, uint64_t end, char **out,
                            size_t *out_len);

/* {"error":{"cmd":C,"cmdIndex":I,"id":ID,"message":M,"variable":V,
 * "variableIndex":J}}, leaving out the fields `e` does not have (NULL or
 * RILL__CMD_NONE or no id). pybela ignores top-level keys other than
 * "watcher", so this is safe to send to it. */
int rill__cmd_error_reply(const rill__cmd_error *e, char **out,
                          size_t *out_len);

#endif /* RILL_PROTO_COMMAND_H */
