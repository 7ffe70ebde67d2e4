/* HTTP on the server's port, and the checks every request and WebSocket
 * upgrade passes: the token, the browser's Origin. Serves finished log
 * files (GET /files/<name>) and the dashboard's files under the web root.
 * Network thread only. */
#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "server/internal.h"

/* Constant-time comparison, so a token cannot be guessed byte by byte. */
static bool token_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* With a token configured, a request must carry it as ?token=... or as
 * "Authorization: Bearer ...". */
static bool authorized(rill_server *srv, struct lws *wsi) {
    if (srv->token == NULL)
        return true;
    char buf[512];
    const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)sizeof buf);
    if (v != NULL && token_equal(v, srv->token))
        return true;
    char auth[512];
    if (lws_hdr_copy(wsi, auth, (int)sizeof auth,
                     WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
        strncmp(auth, "Bearer ", 7) == 0 && token_equal(auth + 7, srv->token))
        return true;
    /* The dashboard's own cookie (see token_cookie): a page opened with
     * ?token= loads its scripts and styles without the query. */
    char cookies[1024], name[32];
    if (lws_hdr_copy(wsi, cookies, (int)sizeof cookies,
                     WSI_TOKEN_HTTP_COOKIE) <= 0)
        return false;
    int nl = snprintf(name, sizeof name, "rill_token_%d=", srv->port);
    for (char *p = cookies; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == ';')
            p++;
        char *end = strchr(p, ';');
        if (end != NULL)
            *end = '\0';
        if (strncmp(p, name, (size_t)nl) == 0 &&
            token_equal(p + nl, srv->token))
            return true;
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* A token that may appear in a cookie as it is (RFC 6265 cookie-octets). */
static bool cookie_safe(const char *t) {
    for (; *t != '\0'; t++)
        if (*t <= 0x20 || *t >= 0x7f || *t == '"' || *t == ',' || *t == ';' ||
            *t == '\\')
            return false;
    return true;
}

/* Browsers send Origin; a page from another site must not drive the
 * device. Allowed: no Origin (non-browser clients), the server's own
 * origin (Origin's host:port equals Host), and --allow-origin. */
static bool origin_ok(rill_server *srv, struct lws *wsi) {
    char origin[256], host[256];
    if (lws_hdr_copy(wsi, origin, (int)sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
        return true;
    if (srv->allow_origin != NULL && strcmp(origin, srv->allow_origin) == 0)
        return true;
    if (lws_hdr_copy(wsi, host, (int)sizeof host, WSI_TOKEN_HOST) <= 0)
        return false;
    const char *o = strstr(origin, "://");
    return o != NULL && strcmp(o + 3, host) == 0;
}

/* Answer a WebSocket upgrade request with an error status. Written by hand
 * because lws words the status line of a refused upgrade as HTTP/1.0, which
 * WebSocket clients (Python's websockets among them) reject as invalid, so
 * the user would never see why. */
static int refuse_upgrade(struct lws *wsi, int status, const char *reason,
                          const char *message) {
    uint8_t buf[LWS_PRE + 512];
    char *p = (char *)buf + LWS_PRE;
    int n = snprintf(p, sizeof buf - LWS_PRE,
                     "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s\n",
                     status, reason, strlen(message) + 1, message);
    if (n > 0 && (size_t)n < sizeof buf - LWS_PRE)
        lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_HTTP_HEADERS);
    return 1;
}

int rill__uri_path(struct lws *wsi, char *buf, int cap) {
    int n = lws_hdr_copy(wsi, buf, cap, WSI_TOKEN_GET_URI);
    if (n <= 0)
        buf[0] = '\0';
    return n;
}

/* GET /files/<name>: a finished log file from the log directory. */
static int serve_file(rill_server *srv, struct lws *wsi, const char *uri) {
    const char *name = uri + strlen("/files/");
    if (*name == '\0' || strchr(name, '/') != NULL || name[0] == '.' ||
        strlen(name) > 200) {
        lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                               "bad file name: use /files/<name> with a name "
                               "from the list reply's logFileName");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    for (rill__stream *s = srv->streams; s != NULL; s = s->next) {
        if (s->sink == RILL__SINK_LOG && strcmp(s->log_name, name) == 0) {
            lws_return_http_status(wsi, 409,
                                   "this file is still being logged; "
                                   "unlog the variable, then fetch it");
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", srv->log_dir, name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "no such log file");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    int n = lws_serve_http_file(wsi, path, "application/octet-stream", NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

static const char *mime_type(const char *path) {
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

/* GET / and the dashboard's files under the web root. Paths are plain
 * (letters, digits, '-', '_', '.', '/'; no segment starting with '.'), so
 * nothing outside the root can be named. index.html is never cached (it
 * names the current build's assets); assets/ files carry a content hash in
 * their names and are cached for a day. When the page itself was opened
 * with the right ?token=, a cookie private to this port lets its scripts
 * and styles load without the query. */
static int serve_web(rill_server *srv, struct lws *wsi, const char *uri) {
    const char *rel = strcmp(uri, "/") == 0 ? "/index.html" : uri;
    bool ok = strlen(rel) < 256;
    for (const char *p = rel; ok && *p != '\0'; p++) {
        char ch = *p;
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '/' ||
             (ch == '.' && p[-1] != '/');
    }
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", srv->web_root, rel);
    if (!ok || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        bool page = strcmp(rel, "/index.html") == 0;
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                               page ? "rill serve: the dashboard is not "
                                      "built (make build writes web/dist; "
                                      "or pass --web-root DIR)"
                                    : "no such file");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    uint8_t hbuf[1024];
    unsigned char *h = hbuf, *end = hbuf + sizeof hbuf;
    bool asset = strncmp(rel, "/assets/", 8) == 0;
    const char *cache = asset ? "public, max-age=86400, immutable" : "no-cache";
    if (lws_add_http_header_by_name(
            wsi, (const unsigned char *)"cache-control:",
            (const unsigned char *)cache, (int)strlen(cache), &h, end) != 0 ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"x-content-type-options:",
            (const unsigned char *)"nosniff", 7, &h, end) != 0)
        return -1;
    char query[512];
    if (srv->token != NULL && !asset &&
        lws_get_urlarg_by_name(wsi, "token=", query, (int)sizeof query) !=
            NULL) {
        if (cookie_safe(srv->token)) {
            char cookie[700];
            int n =
                snprintf(cookie, sizeof cookie,
                         "rill_token_%d=%s; Path=/; HttpOnly; SameSite=Strict",
                         srv->port, srv->token);
            if (n < 0 || (size_t)n >= sizeof cookie ||
                lws_add_http_header_by_name(
                    wsi, (const unsigned char *)"set-cookie:",
                    (const unsigned char *)cookie, n, &h, end) != 0)
                return -1;
        } else {
            rill__log_warn("the token has characters a cookie cannot carry: "
                           "the dashboard's scripts will be refused");
        }
    }
    int n = lws_serve_http_file(wsi, path, mime_type(path), (const char *)hbuf,
                                (int)(h - hbuf));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

int rill__http(rill_server *srv, struct lws *wsi) {
    char uri[512];
    rill__uri_path(wsi, uri, (int)sizeof uri);
    if (!authorized(srv, wsi)) {
        lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED,
                               "this server needs a token: add ?token=...");
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    if (strncmp(uri, "/files/", 7) == 0)
        return serve_file(srv, wsi, uri);
    if (srv->web_root != NULL)
        return serve_web(srv, wsi, uri);
    lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                           "rill serve: WebSocket paths /gui_control and "
                           "/gui_data; log files at /files/<name>");
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Refused before the upgrade, with a status saying why (1 tells lws we
 * answered). */
int rill__http_confirm_upgrade(rill_server *srv, struct lws *wsi) {
    char uri[256];
    rill__uri_path(wsi, uri, (int)sizeof uri);
    if (strcmp(uri, "/gui_control") != 0 && strcmp(uri, "/gui_data") != 0) {
        rill__log_warn("refused a WebSocket to unknown path %s", uri);
        return refuse_upgrade(wsi, 404, "Not Found",
                              "WebSocket paths are /gui_control and "
                              "/gui_data");
    }
    if (!authorized(srv, wsi)) {
        rill__log_warn("refused a WebSocket without the token");
        return refuse_upgrade(wsi, 401, "Unauthorized",
                              "this server needs a token: add ?token=... "
                              "to the URL or send 'Authorization: Bearer "
                              "...'");
    }
    if (!origin_ok(srv, wsi)) {
        rill__log_warn("refused a WebSocket from a foreign "
                       "Origin (use --allow-origin to permit it)");
        return refuse_upgrade(wsi, 403, "Forbidden",
                              "pages from this Origin may not connect; "
                              "start the server with --allow-origin");
    }
    return 0;
}
