/* Programs run for the dashboard's Execute / Stop (rill serve
 * --allow-exec). EasyDSP's editor ran what the user wrote; here a page asks
 * the server to run a program (argv, no shell unless the user writes "sh",
 * "-c") or the editor's script (written to a private file by script.c,
 * run by the script interpreter), and gets its stdout and stderr as text
 * events and its exit. Only
 * with allow_exec, which needs a token: it is remote code execution for
 * whoever holds the token. Output is read when there is room in the page's
 * queue, so a program that writes faster than the page reads is slowed
 * down by its pipe, not buffered without bound. Each program dies with its
 * page. Network thread only.
 *
 * posix_spawnp rather than fork: the server is multi-threaded and large,
 * and glibc's posix_spawn reports a failed exec (no such program) as an
 * error code instead of a child that exits 127. The child gets its own
 * process group, so Stop reaches what it started too (sh -c pipelines),
 * stdin from /dev/null, stdout and stderr through non-blocking pipes, an
 * empty signal mask and default dispositions (rill serve blocks
 * SIGINT/SIGTERM in its threads, which children would otherwise inherit).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/internal.h"
#include "server/script.h"

extern char **environ;

/* A piece of what the program wrote (stream 1 stdout, 2 stderr). */
typedef void (*job_output_fn)(void *user, int stream, const char *data,
                              size_t len);


typedef struct rill__job {
    pid_t pid;
    int fd[2]; /* stdout, stderr read ends; -1 once closed */
    bool reaped;
    int status;
    uint64_t kill_at; /* SIGKILL after a stop, 0: not stopping */
} rill__job;

/* Start argv[0] (searched in PATH) with argv and the environment `envp`
 * (NULL: this process's), in `cwd` (NULL: the server's). Returns 0, or
 * RILL_EIO with the reason in err, RILL_ENOMEM. */
static int job_start(char *const *argv, char *const *envp, const char *cwd,
                     rill__job **out, char *err, size_t err_cap) {
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
    int rc = posix_spawnp(&j->pid, argv[0], &fa, &at, argv,
                          envp != NULL ? envp : environ);
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

/* Read what the program wrote, at most `max` bytes in all, passing each
 * piece to fn. True once both pipes are closed and the process has been
 * reaped: *code is its exit status, or -1 and *sig the signal that ended
 * it. Escalates a stop to SIGKILL after 2 s. */
static bool job_poll(rill__job *j, size_t max, job_output_fn fn,
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

/* SIGTERM to the whole process group (SIGKILL 2 s later if still there). */
static void job_stop(rill__job *j) {
    if (j->reaped)
        return;
    kill(-j->pid, SIGTERM);
    j->kill_at = rill_clock_now_ns() + 2000000000u;
}

static pid_t job_pid(const rill__job *j) { return j->pid; }

/* Kill the process group (SIGKILL), reap, close, free. NULL: no-op. */
static void job_destroy(rill__job *j) {
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

#define RILL__EXEC_MAX_JOBS 8
#define RILL__EXEC_MAX_ARGS 256

typedef struct rill__exec_job {
    rill__job *job;
    rill__conn *owner;
    uint32_t id;
    rill__script *script; /* an editor script's files, or NULL */
} rill__exec_job;

typedef struct exec_ev_ctx {
    const char *event, *stream;
    uint32_t job;
    const char *text;
    size_t len;
    int64_t pid, code, sig;
    const rill__cmd_id *id;
} exec_ev_ctx;

/* {["code":C,]"event":E[,"id":I],"job":J[,"pid":P][,"signal":S]
 * [,"stream":"stdout","text":T]}; INT64_MIN leaves a number out. The
 * output's bytes go as they came (invalid UTF-8 becomes U+FFFD). */
static void exec_send(rill__conn *c, const exec_ev_ctx *e) {
    rill__jv none = RILL__JV_NONE;
    rill__jv m[] = {
        e->code != INT64_MIN ? (rill__jv)RILL__JV_I("code", e->code) : none,
        RILL__JV_S("event", e->event),
        rill__cmd_id_member(e->id),
        RILL__JV_U("job", e->job),
        e->pid != INT64_MIN ? (rill__jv)RILL__JV_I("pid", e->pid) : none,
        e->sig != INT64_MIN ? (rill__jv)RILL__JV_I("signal", e->sig) : none,
        e->stream ? (rill__jv)RILL__JV_S("stream", e->stream) : none,
        e->stream ? (rill__jv)RILL__JV_SN("text", e->text, e->len) : none,
    };
    rill__conn_send_object(c, m, RILL__JV_COUNT(m));
}

/* Room for one more program (at most RILL__EXEC_MAX_JOBS at once); the
 * refusal is sent when there is none. */
static bool job_slot(rill_server *srv, rill__conn *c, json_t *root) {
    if (srv->n_jobs >= RILL__EXEC_MAX_JOBS) {
        rill__request_error(c, "exec", root,
                            "exec: %d programs are running, the limit; stop "
                            "one first; refused",
                            RILL__EXEC_MAX_JOBS);
        return false;
    }
    if (srv->jobs == NULL &&
        (srv->jobs = rill__calloc(RILL__EXEC_MAX_JOBS, sizeof *srv->jobs)) ==
            NULL) {
        rill__request_error(c, "exec", root, "exec: out of memory; refused");
        return false;
    }
    return true;
}

/* {"rill":"exec","id":X,"script":"code","name":"file.py"}: the editor's
 * Execute. The code is written to a private file (script.c) and run by
 * the script interpreter with this server's URL and token in RILL_URL and
 * RILL_TOKEN. The file has the name the page gave (a plain file name),
 * so the page finds its lines in a traceback. The checks of
 * rill__exec_request (allow_exec, native mode) have passed. */
static void exec_script(rill_server *srv, rill__conn *c, json_t *root) {
    json_t *code = json_object_get(root, "script");
    json_t *name = json_object_get(root, "name");
    if (!json_is_string(code) || (name != NULL && !json_is_string(name))) {
        rill__request_error(c, "exec", root,
                            "exec: \"script\" must be a string (the code) "
                            "and \"name\" a file name; refused");
        return;
    }
    if (!job_slot(srv, c, root))
        return;
    /* The script connects back to us: the address it can reach. */
    char url[300];
    const char *h = srv->host;
    bool any = strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || *h == '\0';
    bool v6 = !any && strchr(h, ':') != NULL;
    snprintf(url, sizeof url, "ws://%s%s%s:%d", v6 ? "[" : "",
             any ? "127.0.0.1" : h, v6 ? "]" : "", srv->port);
    char err[512];
    rill__script *script = NULL;
    int rc = rill__script_create(json_string_value(code),
                                 json_string_length(code),
                                 name ? json_string_value(name) : NULL,
                                 srv->script_interpreter, url, srv->token,
                                 &script, err, sizeof err);
    rill__job *job = NULL;
    if (rc == 0)
        rc = job_start(rill__script_argv(script), rill__script_envp(script),
                       rill__script_dir(script), &job, err, sizeof err);
    if (rc != 0) {
        rill__script_destroy(script);
        rill__request_error(c, "exec", root, "exec: %s",
                            rc == RILL_ENOMEM ? "out of memory" : err);
        return;
    }
    uint32_t id = ++srv->next_job_id;
    srv->jobs[srv->n_jobs++] = (rill__exec_job){job, c, id, script};
    rill__log_info("%s: running a script with %s (pid %d, job %u)", c->peer,
                   rill__script_argv(script)[0], (int)job_pid(job), id);
    rill__cmd_id rid = rill__request_id(root);
    exec_ev_ctx e = {"exec-started", NULL, id, NULL, 0,
                     job_pid(job), INT64_MIN, INT64_MIN, &rid};
    exec_send(c, &e);
}

/* {"rill":"exec","id":X,"argv":["prog","arg",...],"cwd":"dir"}, or an
 * editor script (exec_script). */
void rill__exec_request(rill_server *srv, rill__conn *c, json_t *root) {
    if (!srv->cfg.allow_exec) {
        rill__request_error(c, "exec", root,
                   "exec: refused: this server does not run programs (start "
                   "it with rill serve --allow-exec --token SECRET; that is "
                   "remote code execution, for the device's owner only)");
        return;
    }
    if (!c->native) {
        rill__request_error(c, "exec", root, "exec: send {\"rill\":\"hello\",\"version\":1} "
                            "first; refused");
        return;
    }
    json_t *argv = json_object_get(root, "argv");
    json_t *cwd = json_object_get(root, "cwd");
    if (json_object_get(root, "script") != NULL) {
        exec_script(srv, c, root);
        return;
    }
    size_t n = json_array_size(argv);
    if (!json_is_array(argv) || n == 0 || n > RILL__EXEC_MAX_ARGS) {
        rill__request_error(c, "exec", root,
                   "exec: \"argv\" must be an array of 1 to %d strings, the "
                   "program then its arguments (no shell: write \"sh\", "
                   "\"-c\", \"...\" for one); refused",
                   RILL__EXEC_MAX_ARGS);
        return;
    }
    char *args[RILL__EXEC_MAX_ARGS + 1];
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(argv, i);
        if (!json_is_string(a) || (i == 0 && json_string_length(a) == 0) ||
            strlen(json_string_value(a)) != json_string_length(a)) {
            rill__request_error(c, "exec", root,
                       "exec: argv[%zu] must be a string without NUL bytes%s; "
                       "refused",
                       i, i == 0 ? ", not empty" : "");
            return;
        }
        args[i] = (char *)json_string_value(a);
    }
    args[n] = NULL;
    if (cwd != NULL && !json_is_string(cwd)) {
        rill__request_error(c, "exec", root, "exec: \"cwd\" must be a string; refused");
        return;
    }
    if (!job_slot(srv, c, root))
        return;
    char err[512];
    rill__job *job = NULL;
    int rc = job_start(args, NULL, cwd ? json_string_value(cwd) : NULL, &job,
                             err, sizeof err);
    if (rc != 0) {
        rill__request_error(c, "exec", root, "exec: %s",
                   rc == RILL_ENOMEM ? "out of memory" : err);
        return;
    }
    uint32_t id = ++srv->next_job_id;
    srv->jobs[srv->n_jobs++] = (rill__exec_job){job, c, id, NULL};
    rill__log_info("%s: running %s (pid %d, job %u)", c->peer, args[0],
                   (int)job_pid(job), id);
    rill__cmd_id rid = rill__request_id(root);
    exec_ev_ctx e = {"exec-started", NULL, id, NULL, 0,
                     job_pid(job), INT64_MIN, INT64_MIN, &rid};
    exec_send(c, &e);
}

/* {"rill":"exec-stop","job":J}: SIGTERM to its process group (SIGKILL
 * 2 s later); without "job", every program this connection started. */
void rill__exec_stop_request(rill_server *srv, rill__conn *c, json_t *root) {
    json_t *jj = json_object_get(root, "job");
    if (jj != NULL && !json_is_integer(jj)) {
        rill__request_error(c, "exec", root, "exec-stop: \"job\" must be an integer");
        return;
    }
    size_t stopped = 0;
    for (size_t i = 0; i < srv->n_jobs; i++) {
        rill__exec_job *j = &srv->jobs[i];
        if (j->owner == c &&
            (jj == NULL || (json_int_t)j->id == json_integer_value(jj))) {
            job_stop(j->job);
            stopped++;
        }
    }
    if (jj != NULL && stopped == 0)
        rill__request_error(c, "exec", root,
                   "exec-stop: no running job %lld of this connection",
                   (long long)json_integer_value(jj));
}

typedef struct exec_out_ctx {
    rill__conn *c;
    uint32_t job;
} exec_out_ctx;

static void exec_output(void *user, int stream, const char *data, size_t len) {
    exec_out_ctx *o = user;
    exec_ev_ctx e = {"exec-output", stream == 1 ? "stdout" : "stderr", o->job,
                     data, len, INT64_MIN, INT64_MIN, INT64_MIN, NULL};
    exec_send(o->c, &e);
}

void rill__exec_poll(rill_server *srv) {
    for (size_t i = 0; i < srv->n_jobs;) {
        rill__exec_job *j = &srv->jobs[i];
        size_t used = j->owner->q_bytes, limit = rill__conn_limit(j->owner);
        size_t room = used < limit ? RILL__MIN(limit - used, (size_t)65536) : 0;
        exec_out_ctx o = {j->owner, j->id};
        int code = 0, sig = 0;
        if (!job_poll(j->job, room, exec_output, &o, &code, &sig)) {
            i++;
            continue;
        }
        exec_ev_ctx e = {"exec-exit", NULL, j->id, NULL, 0, INT64_MIN, code,
                         sig, NULL};
        exec_send(j->owner, &e);
        job_destroy(j->job);
        rill__script_destroy(j->script);
        srv->jobs[i] = srv->jobs[--srv->n_jobs];
    }
}

/* The page that started them went away: so do its programs. */
void rill__exec_conn_closed(rill_server *srv, rill__conn *c) {
    for (size_t i = 0; i < srv->n_jobs;) {
        if (srv->jobs[i].owner != c) {
            i++;
            continue;
        }
        job_destroy(srv->jobs[i].job);
        rill__script_destroy(srv->jobs[i].script);
        srv->jobs[i] = srv->jobs[--srv->n_jobs];
    }
}

void rill__exec_free(rill_server *srv) {
    for (size_t i = 0; i < srv->n_jobs; i++) {
        job_destroy(srv->jobs[i].job);
        rill__script_destroy(srv->jobs[i].script);
    }
    rill__free(srv->jobs);
    srv->jobs = NULL;
    srv->n_jobs = 0;
}
