/* The log callback. The library formats into a stack buffer and hands the
 * text to the user; it never writes to stdout/stderr itself. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "internal.h"

/* The hook is read on every rill__log call from any thread while the user
 * may (rarely) change it, so each field is atomic. A reader can see a new
 * function with the old user pointer for one call during the swap; the
 * header says to install the callback before starting rill objects. */
static _Atomic(rill_log_fn) log_fn; /* zero: no callback */
static _Atomic(void *) log_user;
static atomic_int log_max = RILL_LOG_INFO;

void rill_set_log_callback(rill_log_fn fn, rill_log_level max_level,
                           void *user) {
    atomic_store(&log_user, user);
    atomic_store(&log_max, (int)max_level);
    atomic_store(&log_fn, fn);
}

const char *rill_log_level_name(rill_log_level level) {
    switch (level) {
    case RILL_LOG_ERROR:
        return "error";
    case RILL_LOG_WARN:
        return "warning";
    case RILL_LOG_INFO:
        return "info";
    case RILL_LOG_DEBUG:
        return "debug";
    }
    return "unknown";
}

void rill__vlog(rill_log_level level, const char *fmt, va_list ap) {
    rill_log_fn fn = atomic_load(&log_fn);
    if (fn == NULL || (int)level > atomic_load(&log_max))
        return;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fn(level, buf, atomic_load(&log_user));
}

void rill__log(rill_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rill__vlog(level, fmt, ap);
    va_end(ap);
}

void rill__set_err(char *err, size_t cap, const char *fmt, ...) {
    if (err == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}
