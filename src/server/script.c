/* Editor scripts written to private files and run (script.h).
 *
 * Why a file and not `python3 -c CODE`: tracebacks then name a file and a
 * line ("File \".../spectrum.py\", line 12"), which the editor marks, and
 * the code is not visible to other users in the process list. Why the
 * environment for the token and not argv: /proc/PID/environ is readable
 * only by the same user, /proc/PID/cmdline by everyone. */
#include "server/script.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"

extern char **environ;

#define SCRIPT_NAME_MAX 100

struct rill__script {
    char dir[64];
    char *path;
    char *argv[4];
    char **envp;
    size_t n_env;
};

/* A plain file name (letters, digits, '-', '_', '.'; not starting with '.'),
 * or the default. */
static const char *script_name(const char *name) {
    if (name == NULL || *name == '\0' || name[0] == '.' ||
        strlen(name) > SCRIPT_NAME_MAX)
        return "script.py";
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return "script.py";
    }
    return name;
}

static char *joined(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = rill__malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* environ without our variables, then ours. */
static int build_env(rill__script *s, const char *url, const char *token) {
    static const char *const ours[] = {
        "RILL_URL=", "RILL_TOKEN=", "PYTHONUNBUFFERED="};
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    s->envp = rill__calloc(n + 4, sizeof *s->envp);
    if (s->envp == NULL)
        return RILL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++)
            skip = skip || strncmp(environ[i], ours[k], strlen(ours[k])) == 0;
        if (!skip && (s->envp[s->n_env++] = rill__strdup(environ[i])) == NULL)
            return RILL_ENOMEM;
    }
    const char *add[3][2] = {
        {"RILL_URL=", url}, {"RILL_TOKEN=", token}, {"PYTHONUNBUFFERED=", "1"}};
    for (size_t k = 0; k < 3; k++) {
        if (add[k][1] == NULL)
            continue;
        if ((s->envp[s->n_env++] = joined(add[k][0], add[k][1])) == NULL)
            return RILL_ENOMEM;
    }
    return 0;
}

int rill__script_create(const char *code, size_t len, const char *name,
                        const char *interpreter, const char *url,
                        const char *token, rill__script **out, char *err,
                        size_t err_cap) {
    *out = NULL;
    rill__script *s = rill__calloc(1, sizeof *s);
    if (s == NULL)
        return RILL_ENOMEM;
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(s->dir, sizeof s->dir, "%s/rill-script-XXXXXX", tmp);
    int rc = RILL_EIO;
    if (mkdtemp(s->dir) == NULL) {
        snprintf(err, err_cap,
                 "cannot make a directory for the script in %s: %s", tmp,
                 strerror(errno));
        s->dir[0] = '\0';
        goto fail;
    }
    size_t cap = strlen(s->dir) + SCRIPT_NAME_MAX + 2;
    s->path = rill__malloc(cap);
    if (s->path == NULL) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    snprintf(s->path, cap, "%s/%s", s->dir, script_name(name));
    int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot write the script: %s", strerror(errno));
        goto fail;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, code + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, err_cap, "cannot write the script: %s",
                     strerror(errno));
            close(fd);
            goto fail;
        }
        done += (size_t)n;
    }
    close(fd);
    if ((rc = build_env(s, url, token)) != 0)
        goto fail;
    s->argv[0] = rill__strdup(interpreter != NULL && *interpreter ? interpreter
                                                                  : "python3");
    s->argv[1] = rill__strdup("-u");
    s->argv[2] = s->path;
    if (s->argv[0] == NULL || s->argv[1] == NULL) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    *out = s;
    return 0;
fail:
    rill__script_destroy(s);
    return rc;
}

char *const *rill__script_argv(const rill__script *s) {
    return s->argv;
}
char *const *rill__script_envp(const rill__script *s) {
    return s->envp;
}
const char *rill__script_dir(const rill__script *s) {
    return s->dir;
}

/* nftw's callback: remove what the script left in its directory too
 * (files, directories, links themselves; nothing is followed). */
static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void rill__script_destroy(rill__script *s) {
    if (s == NULL)
        return;
    if (s->dir[0] != '\0')
        nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    rill__free(s->path);
    rill__free(s->argv[0]);
    rill__free(s->argv[1]);
    for (size_t i = 0; i < s->n_env; i++)
        rill__free(s->envp[i]);
    rill__free(s->envp);
    rill__free(s);
}
