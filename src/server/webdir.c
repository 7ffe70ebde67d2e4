/* Serving a directory of user files to the dashboard (webdir.h).
 *
 * The rules are strict because these files are the user's, not the build's:
 * one path segment of plain characters, a listed extension, and a regular
 * file directly inside the directory, opened through rill__open_beneath
 * (http.c) like every file the server serves: no symbolic link is followed,
 * not even to another file inside (docs/SECURITY.md), so nothing outside
 * can be reached, whatever is renamed meanwhile. The index is built on each
 * request (directories of a few files; the page asks once). */
#include "server/webdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <libwebsockets.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "proto/json_out.h"
#include "server/internal.h"

#define WEBDIR_MAX_FILES 1000
#define WEBDIR_MAX_NAME 200

int rill__webdir_name_ok(const char *name, const char *const *exts) {
    size_t n = strlen(name);
    if (n == 0 || n > WEBDIR_MAX_NAME || name[0] == '.')
        return 0;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    for (const char *const *e = exts; *e != NULL; e++) {
        size_t el = strlen(*e);
        if (n > el && strcmp(name + n - el, *e) == 0)
            return 1;
    }
    return 0;
}

/* Whether dir/name is a regular file directly inside dir (no link
 * followed), and its status. */
static bool inside(const char *dir, const char *name, struct stat *st) {
    int fd = rill__open_beneath(dir, name, st);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static const char *content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    /* Scripts and text are shown, never run, by the browser. */
    return "text/plain; charset=utf-8";
}

static int not_found(struct lws *wsi, const char *why) {
    return rill__http_text(wsi, HTTP_STATUS_NOT_FOUND, why);
}

typedef struct index_ctx {
    char (*names)[WEBDIR_MAX_NAME + 1];
    long long *sizes;
    size_t n;
} index_ctx;

static void build_index(rill__jw *w, const void *ctx) {
    const index_ctx *x = ctx;
    rill__jw_lit(w, "{\"files\":[");
    for (size_t i = 0; i < x->n; i++) {
        rill__jw_lit(w, i ? ",{\"name\":" : "{\"name\":");
        rill__jw_string(w, x->names[i]);
        rill__jw_lit(w, ",\"size\":");
        rill__jw_i64(w, x->sizes[i]);
        rill__jw_lit(w, "}");
    }
    rill__jw_lit(w, "]}");
}

static int cmp_names(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

static int serve_index(struct lws *wsi, const char *dir,
                       const char *const *exts) {
    index_ctx x = {NULL, NULL, 0};
    int rc = -1;
    DIR *d = dir != NULL ? opendir(dir) : NULL;
    if (dir != NULL && d == NULL)
        return not_found(wsi, "the directory cannot be read");
    x.names = rill__calloc(WEBDIR_MAX_FILES, sizeof *x.names);
    x.sizes = rill__calloc(WEBDIR_MAX_FILES, sizeof *x.sizes);
    if (x.names == NULL || x.sizes == NULL)
        goto done;
    for (struct dirent *e;
         d != NULL && x.n < WEBDIR_MAX_FILES && (e = readdir(d)) != NULL;) {
        struct stat st;
        if (!rill__webdir_name_ok(e->d_name, exts) ||
            !inside(dir, e->d_name, &st))
            continue;
        memcpy(x.names[x.n], e->d_name, strlen(e->d_name) + 1);
        x.n++;
    }
    /* Sorted by name, then each size (the sort moved the names). */
    qsort(x.names, x.n, sizeof *x.names, cmp_names);
    for (size_t i = 0; i < x.n; i++) {
        struct stat st;
        x.sizes[i] = inside(dir, x.names[i], &st)
                         ? (long long)st.st_size
                         : 0;
    }
    char *text = NULL;
    size_t len = 0;
    if (rill__json_render(build_index, &x, &text, &len) == 0) {
        rc = rill__http_respond(wsi, HTTP_STATUS_OK, "application/json", text,
                             len);
        rill__free(text);
    }
done:
    if (d != NULL)
        closedir(d);
    rill__free(x.names);
    rill__free(x.sizes);
    return rc;
}

int rill__webdir_serve(struct lws *wsi, const char *dir, const char *rel,
                       const char *const *exts) {
    if (*rel == '\0')
        return serve_index(wsi, dir, exts);
    char path[PATH_MAX];
    struct stat st;
    int k = dir != NULL ? snprintf(path, sizeof path, "%s/%s", dir, rel) : -1;
    if (k < 0 || (size_t)k >= sizeof path ||
        !rill__webdir_name_ok(rel, exts) || !inside(dir, rel, &st))
        return not_found(wsi, "no such file");
    uint8_t hbuf[256];
    unsigned char *h = hbuf, *end = hbuf + sizeof hbuf;
    if (lws_add_http_header_by_name(
            wsi, (const unsigned char *)"cache-control:",
            (const unsigned char *)"no-cache", 8, &h, end) != 0 ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"x-content-type-options:",
            (const unsigned char *)"nosniff", 7, &h, end) != 0)
        return -1;
    /* Opened again, the same way, by lws (http.c's fop_open: dir is one of
     * its roots). */
    int n = lws_serve_http_file(wsi, path, content_type(rel),
                                (const char *)hbuf, (int)(h - hbuf));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}
