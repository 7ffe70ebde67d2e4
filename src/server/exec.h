/* Programs run for the dashboard's "Execute" (rill serve --allow-exec):
 * one child process in its own process group, stdin from /dev/null,
 * stdout and stderr through non-blocking pipes that the network thread
 * reads when it drains. Network thread only. */
#ifndef RILL_SERVER_EXEC_H
#define RILL_SERVER_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct rill__job rill__job;

/* Start argv[0] (searched in PATH) with argv, in `cwd` (NULL: the
 * server's), signals at their defaults. Returns 0, or RILL_EIO with the
 * reason in err (cannot run it), RILL_ENOMEM. */
int rill__job_start(char *const *argv, const char *cwd, rill__job **out,
                    char *err, size_t err_cap);

/* Read what the program wrote, at most `max` bytes in all, passing each
 * piece to fn (stream 1 stdout, 2 stderr). Returns true once both pipes
 * are closed and the process has been reaped: *code is its exit status, or
 * -1 and *sig the signal that ended it. Escalates a stop to SIGKILL after
 * 2 s. */
typedef void (*rill__job_output_fn)(void *user, int stream, const char *data,
                                    size_t len);
bool rill__job_poll(rill__job *j, size_t max, rill__job_output_fn fn,
                    void *user, int *code, int *sig);

/* SIGTERM to the whole process group (SIGKILL 2 s later if still there). */
void rill__job_stop(rill__job *j);

pid_t rill__job_pid(const rill__job *j);

/* Kill the process group (SIGKILL), reap, close, free. NULL is a no-op. */
void rill__job_destroy(rill__job *j);

#endif /* RILL_SERVER_EXEC_H */
