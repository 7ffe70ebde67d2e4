/* Internal helpers shared by every rill module. Not installed. */
#ifndef RILL_CORE_INTERNAL_H
#define RILL_CORE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#include "rill/core.h"

/* Allocation through the user's hooks (see rill_set_allocator). Never call
 * these from a real-time path. rill__calloc checks n * size for overflow. */
void *rill__malloc(size_t size);
void *rill__calloc(size_t n, size_t size);
void *rill__realloc(void *ptr, size_t size);
void rill__free(void *ptr);
char *rill__strdup(const char *s);

/* Memory aligned to `align` (a power of two >= sizeof(void *)); free it
 * with rill__free_aligned only. */
void *rill__malloc_aligned(size_t size, size_t align);
void rill__free_aligned(void *ptr);

/* Formats and forwards to the user's log callback, if any and if `level` is
 * enabled. Never from a real-time path. */
void rill__log(rill_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rill__vlog(rill_log_level level, const char *fmt, va_list ap);

/* Format a one-sentence error message into a caller's buffer of `cap`
 * bytes, cut to fit; does nothing when `err` is NULL or `cap` is 0. For
 * parsers that explain what was wrong with their input. */
void rill__set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define rill__log_error(...) rill__log(RILL_LOG_ERROR, __VA_ARGS__)
#define rill__log_warn(...) rill__log(RILL_LOG_WARN, __VA_ARGS__)
#define rill__log_info(...) rill__log(RILL_LOG_INFO, __VA_ARGS__)
#define rill__log_debug(...) rill__log(RILL_LOG_DEBUG, __VA_ARGS__)

/* Sleep `ns` nanoseconds (however many signals interrupt it). Not for
 * real-time threads. */
void rill__sleep_ns(uint64_t ns);

/* Wait on `cv` (its mutex `mx` held) for at most `ns` nanoseconds; callers
 * loop on their own condition and deadline, since wakeups may be spurious
 * or early. Not for real-time threads. */
void rill__cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mx, uint64_t ns);

/* Smallest power of two >= n, or 0 if it does not fit in size_t. */
size_t rill__next_pow2(size_t n);

/* Size of a cache line, for keeping the two sides of a lock-free queue from
 * sharing one (false sharing costs more than the queue itself). */
#define RILL__CACHE_LINE 64

#define RILL__UNUSED(x) ((void)(x))
#define RILL__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RILL__MIN(a, b) ((a) < (b) ? (a) : (b))
#define RILL__MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* RILL_CORE_INTERNAL_H */
