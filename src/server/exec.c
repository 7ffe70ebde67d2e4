/* Child processes for the dashboard's Execute / Stop (exec.h).
 *
 * posix_spawnp rather than fork: the server is multi-threaded and large,
 * and glibc's posix_spawn reports a failed exec (no such program) as an
 * error code instead of a child that exits 127. The child gets its own
 * process group, so Stop reaches what it started too (sh -c pipelines),
 * an empty signal mask and default dispositions (rill serve blocks
 * SIGINT/SIGTERM in its threads, which children would otherwise inherit). */
#include "server/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"

extern char **environ;

struct rill__job {
    pid_t pid;
    int fd[2]; /* stdout, stderr read ends; -1 once closed */
    bool reaped;
    int status;
    uint64_t kill_at; /* SIGKILL after a stop, 0: not stopping */
};

int rill__job_start(char *const *argv, const char *cwd, rill__job **out,
                    char *err, size_t err_cap) {
    *out = NULL;
    rill__job *j = rill__calloc(1, sizeof *j);
    if (j == NULL)
        return RILL_ENOMEM;
    int out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(err_p, O_CLOEXEC) != 0) {
        snprintf(err, err_cap, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_p[1], 2);
    if (cwd != NULL)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defaults);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(&j->pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        snprintf(err, err_cap, "cannot run \"%s\"%s%s: %s", argv[0],
                 cwd ? " in " : "", cwd ? cwd : "", strerror(rc));
        goto fail;
    }
    close(out_p[1]);
    close(err_p[1]);
    j->fd[0] = out_p[0];
    j->fd[1] = err_p[0];
    fcntl(j->fd[0], F_SETFL, O_NONBLOCK);
    fcntl(j->fd[1], F_SETFL, O_NONBLOCK);
    *out = j;
    return 0;
fail:
    for (int k = 0; k < 2; k++) {
        if (out_p[k] >= 0)
            close(out_p[k]);
        if (err_p[k] >= 0)
            close(err_p[k]);
    }
    rill__free(j);
    return RILL_EIO;
}

bool rill__job_poll(rill__job *j, size_t max, rill__job_output_fn fn,
                    void *user, int *code, int *sig) {
    char buf[4096];
    for (int s = 0; s < 2; s++) {
        while (j->fd[s] >= 0 && max > 0) {
            ssize_t n = read(j->fd[s], buf, RILL__MIN(sizeof buf, max));
            if (n > 0) {
                fn(user, s + 1, buf, (size_t)n);
                max -= (size_t)n;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(j->fd[s]);
                j->fd[s] = -1;
            } else if (errno == EAGAIN) {
                break;
            }
        }
    }
    if (!j->reaped && waitpid(j->pid, &j->status, WNOHANG) == j->pid)
        j->reaped = true;
    if (!j->reaped && j->kill_at != 0 && rill_clock_now_ns() >= j->kill_at) {
        kill(-j->pid, SIGKILL);
        j->kill_at = 0;
    }
    /* A program that exited may leave children holding the pipes: once it
     * is gone and stopping, they are not waited for. */
    if (j->reaped && (j->fd[0] >= 0 || j->fd[1] >= 0))
        return false;
    if (!j->reaped)
        return false;
    *code = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : -1;
    *sig = WIFSIGNALED(j->status) ? WTERMSIG(j->status) : 0;
    return true;
}

void rill__job_stop(rill__job *j) {
    if (j->reaped)
        return;
    kill(-j->pid, SIGTERM);
    j->kill_at = rill_clock_now_ns() + 2000000000u;
}

pid_t rill__job_pid(const rill__job *j) { return j->pid; }

void rill__job_destroy(rill__job *j) {
    if (j == NULL)
        return;
    kill(-j->pid, SIGKILL);
    if (!j->reaped)
        waitpid(j->pid, &j->status, 0);
    for (int s = 0; s < 2; s++)
        if (j->fd[s] >= 0)
            close(j->fd[s]);
    rill__free(j);
}
