/* rill core: version, error codes, allocator hooks, logging and the clock.
 *
 * Every other rill header builds on this one. Nothing here allocates on its
 * own behalf, prints, or keeps hidden state beyond the three process-wide
 * hooks (allocator, log callback) that the user installs explicitly.
 */
#ifndef RILL_CORE_H
#define RILL_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "rill/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RILL_STATIC)
#define RILL_API
#elif defined(RILL_BUILDING)
#define RILL_API __attribute__((visibility("default")))
#else
#define RILL_API
#endif

/* ---- Version ----------------------------------------------------------- */

/* The version of the library actually linked, as "MAJOR.MINOR.PATCH"
 * (static, never NULL). Compare with RILL_VERSION_STRING to detect a
 * header/library mismatch. Any thread. */
RILL_API const char *rill_version_string(void);

/* ---- Errors ------------------------------------------------------------ */

/* One list generates the enum and the strings. Codes are negative, stable
 * across releases (new codes are appended), and 0 means success. */
#define RILL_ERRNO_MAP(X)                                                     \
    X(NOMEM, -1, "out of memory")                                             \
    X(INVAL, -2, "invalid argument")                                          \
    X(RANGE, -3, "value out of range")                                        \
    X(FULL, -4, "queue or buffer is full")                                    \
    X(EMPTY, -5, "queue or buffer is empty")                                  \
    X(AGAIN, -6, "resource temporarily unavailable, try again")              \
    X(TIMEOUT, -7, "operation timed out")                                     \
    X(IO, -8, "input/output error")                                           \
    X(NOTFOUND, -9, "not found")                                              \
    X(EXISTS, -10, "already exists")                                          \
    X(BUSY, -11, "resource busy")                                             \
    X(CLOSED, -12, "connection closed")                                       \
    X(PROTO, -13, "protocol error")                                           \
    X(TOOBIG, -14, "message or buffer too large")                             \
    X(TYPE, -15, "wrong type")                                                \
    X(REFUSED, -16, "connection refused")                                     \
    X(NOTSUP, -17, "operation not supported")                                 \
    X(AUTH, -18, "authentication failed")                                     \
    X(STATE, -19, "operation not valid in the current state")                \
    X(SYS, -20, "system call failed")                                         \
    X(CANCELED, -21, "operation canceled")

enum rill_error {
    RILL_OK = 0,
#define RILL__ERRNO_ENUM(name, code, text) RILL_E##name = (code),
    RILL_ERRNO_MAP(RILL__ERRNO_ENUM)
#undef RILL__ERRNO_ENUM
};

/* A static, human-readable description of an error code. Never NULL; an
 * unknown code gives "unknown error". Thread-safe. */
RILL_API const char *rill_strerror(int err);

/* The symbolic name of an error code ("RILL_ENOMEM"), or "RILL_UNKNOWN".
 * Static, never NULL. Any thread. */
RILL_API const char *rill_err_name(int err);

/* ---- Allocator --------------------------------------------------------- */

/* Every allocation librill makes goes through these hooks. realloc may be
 * NULL, in which case rill emulates it with malloc + free. The hooks may be
 * called from any non-real-time thread, concurrently, so they must be
 * thread-safe. They are never called from a real-time path. */
typedef struct rill_allocator {
    void *(*malloc)(size_t size, void *user);
    void *(*realloc)(void *ptr, size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} rill_allocator;

/* Install allocator hooks, or restore the C library's with NULL. Call before
 * creating any rill object: memory must be freed by the allocator that made
 * it. Not thread-safe with respect to concurrent rill calls: call it while
 * no other thread uses rill. Never fails. */
RILL_API void rill_set_allocator(const rill_allocator *allocator);

/* ---- Logging ----------------------------------------------------------- */

typedef enum rill_log_level {
    RILL_LOG_ERROR = 0,
    RILL_LOG_WARN = 1,
    RILL_LOG_INFO = 2,
    RILL_LOG_DEBUG = 3
} rill_log_level;

/* The library never prints. Diagnostics go to this callback, which is
 * called from rill's non-real-time threads (network, worker, the caller's);
 * it must be thread-safe. `msg` is valid only during the call. Messages more
 * verbose than `max_level` are not formatted at all. */
typedef void (*rill_log_fn)(rill_log_level level, const char *msg, void *user);

/* Install (or with NULL remove) the log callback. Default: none. Any
 * thread; messages being logged meanwhile go to the old or the new one.
 * Never fails. */
RILL_API void rill_set_log_callback(rill_log_fn fn, rill_log_level max_level,
                                    void *user);

/* "error", "warning", "info", "debug" or "unknown" (static, never NULL). Any
 * thread. */
RILL_API const char *rill_log_level_name(rill_log_level level);

/* ---- Clock ------------------------------------------------------------- */

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC; unaffected by wall-clock
 * changes). Safe on real-time threads: a vDSO call, no locks, no syscalls
 * on Linux x86_64/arm64. Never fails. */
RILL_API uint64_t rill_clock_now_ns(void);

/* Sleep until the monotonic clock reaches `deadline_ns` (absolute, so a
 * periodic loop does not drift). Returns at once if the deadline has passed.
 * Not for real-time threads. Never fails (signals do not cut it short). */
RILL_API void rill_clock_sleep_until_ns(uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* RILL_CORE_H */
