/* GET /files/ and DELETE /files/<name>: the log files of the log directory.
 *
 *   GET /files/          200 {"files":[{"logging":false,"name":"frame.bin",
 *                             "size":4132},...]}  (sorted by name)
 *   DELETE /files/NAME   200 {"deleted":"NAME"}; 400 not a log file's
 *                        name; 404 no such file; 409 still being logged
 *
 * Only log files are served, listed or deleted: names ending in ".bin"
 * (what the server names them), without '/', not starting with '.'
 * (rill__is_log_name, which GET /files/<name> in http.c applies too), and
 * only a regular file opened through
 * rill__open_beneath (http.c), so a symbolic link or a FIFO in the log
 * directory is neither listed nor deleted. The log directory may be a
 * program's working directory, so nothing else in it is shown or touched.
 * rill__http has made the Host and token checks of every request before
 * calling here, so a server that needs a token lets nobody else list or
 * delete. Errors are JSON too: {"error":"<what, and what to do>"}.
 * Network thread. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/internal.h"

bool rill__is_log_name(const char *name) {
    size_t n = strlen(name);
    return n > 4 && n <= 200 && name[0] != '.' && strchr(name, '/') == NULL &&
           strcmp(name + n - 4, ".bin") == 0;
}

typedef struct entry {
    char *name;
    uint64_t size;
    bool logging;
} entry;

typedef struct listing {
    entry *e;
    size_t n;
} listing;

static void build_listing(rill__jw *w, const void *ctx) {
    const listing *l = ctx;
    rill__jw_lit(w, "{\"files\":[");
    for (size_t i = 0; i < l->n; i++) {
        rill__jw_lit(w, i ? ",{\"logging\":" : "{\"logging\":");
        rill__jw_bool(w, l->e[i].logging);
        rill__jw_lit(w, ",\"name\":");
        rill__jw_string(w, l->e[i].name);
        rill__jw_lit(w, ",\"size\":");
        rill__jw_u64(w, l->e[i].size);
        rill__jw_lit(w, "}");
    }
    rill__jw_lit(w, "]}");
}

typedef struct message {
    const char *key, *value;
} message;

static void build_message(rill__jw *w, const void *ctx) {
    const message *m = ctx;
    rill__jw_lit(w, "{\"");
    rill__jw_lit(w, m->key);
    rill__jw_lit(w, "\":");
    rill__jw_string(w, m->value);
    rill__jw_lit(w, "}");
}

static int respond_message(struct lws *wsi, unsigned status, const char *key,
                           const char *value) {
    message m = {key, value};
    char *text = NULL;
    size_t len = 0;
    if (rill__json_render(build_message, &m, &text, &len) != 0)
        return -1;
    int rc = rill__http_respond(wsi, status, "application/json", text, len);
    rill__free(text);
    return rc;
}

/* A log file of the directory as GET /files/<name> would serve it: the
 * size of a regular file reached without following a link, or false. */
static bool log_file_size(rill_server *srv, const char *name, uint64_t *size) {
    struct stat st;
    int fd = rill__open_beneath(srv->log_dir, name, &st);
    if (fd < 0)
        return false;
    close(fd);
    *size = (uint64_t)st.st_size;
    return true;
}

static int list_files(rill_server *srv, struct lws *wsi) {
    const char *log_dir = srv->log_dir;
    struct dirent **names = NULL;
    int n = scandir(log_dir, &names, NULL, alphasort);
    if (n < 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot read the log directory: %s",
                 strerror(errno));
        return respond_message(wsi, 500, "error", why);
    }
    listing l = {rill__calloc((size_t)n + 1, sizeof *l.e), 0};
    int rc = -1;
    if (l.e == NULL)
        goto done;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        uint64_t size;
        if (!rill__is_log_name(name) || !log_file_size(srv, name, &size))
            continue;
        l.e[l.n++] = (entry){names[i]->d_name, size, rill__log_busy(srv, name)};
    }
    char *text = NULL;
    size_t len = 0;
    if (rill__json_render(build_listing, &l, &text, &len) == 0) {
        rc = rill__http_respond(wsi, 200, "application/json", text, len);
        rill__free(text);
    }
done:
    rill__free(l.e);
    for (int i = 0; i < n; i++)
        free(names[i]); /* scandir's, from malloc */
    free(names);
    return rc;
}

void rill__log_file_resolve(rill_server *srv, const char *asked, char *out,
                            size_t cap) {
    snprintf(out, cap, "%s", asked);
    uint64_t size;
    if (strchr(asked, ' ') == NULL || !rill__is_log_name(asked) ||
        log_file_size(srv, asked, &size))
        return;
    for (char *c = out; *c != '\0'; c++)
        if (*c == ' ')
            *c = '+';
    if (!log_file_size(srv, out, &size))
        snprintf(out, cap, "%s", asked);
}

static int delete_file(rill_server *srv, struct lws *wsi, const char *asked) {
    char name[512];
    rill__log_file_resolve(srv, asked, name, sizeof name);
    if (!rill__is_log_name(name))
        return respond_message(
            wsi, 400, "error",
            "not a log file's name: DELETE /files/<name> "
            "takes a name from GET /files/ (ending in .bin)");
    if (rill__log_busy(srv, name))
        return respond_message(wsi, 409, "error",
                               "this file is still being logged; unlog the "
                               "variable, then delete it");
    uint64_t size;
    if (!log_file_size(srv, name, &size))
        return respond_message(wsi, 404, "error",
                               "no such log file (only regular files in the "
                               "log directory are deleted; links are not)");
    /* Should the name be swapped for a link between the check and here,
     * unlink removes the link, never what it points to. */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", srv->log_dir, name);
    if (unlink(path) != 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot delete %.200s: %s", name, /* a log name */
                 strerror(errno));
        return respond_message(wsi, 500, "error", why);
    }
    return respond_message(wsi, 200, "deleted", name);
}

int rill__logfiles_http(rill_server *srv, struct lws *wsi, const char *name) {
    return name == NULL ? list_files(srv, wsi) : delete_file(srv, wsi, name);
}
