/* HTTP on the server's port, and the checks every request and WebSocket
 * upgrade passes: the Host (DNS rebinding), the token, the browser's
 * Origin. Serves finished log files (GET /files/<name>; the listing and
 * deletions are logfiles_http.c's, behind the same checks), the user's
 * handler types and example scripts (/handlers/, /examples/: webdir.c) and the
 * dashboard's files under the web root, opening them only through
 * rill__open_beneath (no symbolic link, nothing but a regular file inside
 * the served directory). Network thread only, but for the file operations
 * given to libwebsockets at create (rill__server_fops), which it calls on
 * that thread too. docs/SECURITY.md says what each check is for. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/internal.h"
#include "server/webdir.h"

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

/* ---- The Host header: DNS rebinding ------------------------------------
 *
 * A page from evil.example can have its name re-resolved to 127.0.0.1 and
 * then talk to this server as a page of its own origin: the Origin check
 * passes (Origin and Host name the same evil.example:port) and no token is
 * needed by default. What gives it away is the Host header, which names
 * the attacker's domain. So, as Jupyter does, a request (HTTP or a
 * WebSocket upgrade, with a token or not) is served only when its Host is
 * one of this server's own names, on its own port:
 *   - localhost, or a name under .localhost (never resolved by DNS);
 *   - an IP literal that is the address the client connected to (an IP
 *     cannot be rebound), or the address the server was told to bind;
 *   - the host name it was told to bind (--host bela.local);
 *   - bound beyond loopback: this machine's host name, and that name under
 *     .local (mDNS), which is how boards are reached on a LAN;
 * or when the name (any port: a proxy's) is in allow_hosts (--allow-host),
 * where "*" turns the check off. A request without Host (HTTP/1.0, raw
 * sockets) is served: browsers always send one. */

/* Whether `name` (NUL-terminated, lower case) equals an entry of the
 * comma-separated list `list`, case-insensitively; "*" matches all. */
static bool in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[0] == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if ((len == 1 && p[0] == '*') ||
            (len == n && strncasecmp(p, name, n) == 0))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* An IP literal's bytes (4 or 16, IPv4-mapped IPv6 as IPv4), or 0. */
static size_t ip_bytes(const char *s, uint8_t out[16]) {
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, &a6) != 1)
        return 0;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        memcpy(out, a6.s6_addr + 12, 4);
        return 4;
    }
    memcpy(out, a6.s6_addr, 16);
    return 16;
}

static size_t sockaddr_bytes(const struct sockaddr_storage *ss,
                             uint8_t out[16]) {
    if (ss->ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return 4;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(out, a->s6_addr + 12, 4);
            return 4;
        }
        memcpy(out, a->s6_addr, 16);
        return 16;
    }
    return 0;
}

static bool same_ip(const char *a, const uint8_t *b, size_t bn) {
    uint8_t ab[16];
    size_t an = ip_bytes(a, ab);
    return an != 0 && an == bn && memcmp(ab, b, an) == 0;
}

/* Whether the server listens only on loopback (127.0.0.0/8, ::1). */
bool rill__server_bound_to_loopback(const rill_server *srv) {
    uint8_t b[16];
    size_t n = ip_bytes(srv->host, b);
    static const uint8_t v6_loop[16] = {[15] = 1};
    return (n == 4 && b[0] == 127) ||
           (n == 16 && memcmp(b, v6_loop, 16) == 0) ||
           strcasecmp(srv->host, "localhost") == 0;
}

/* Splits "name:port", "[v6]:port", "name" into the name (lower case, a
 * trailing dot dropped) and the port (80 when absent). False: malformed. */
static bool parse_host(const char *host, char *name, size_t cap, int *port) {
    const char *end, *colon;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (end == NULL)
            return false;
        host++;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return false;
    } else {
        colon = strrchr(host, ':');
        end = colon ? colon : host + strlen(host);
    }
    size_t n = (size_t)(end - host);
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        name[i] =
            (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    if (n > 1 && name[n - 1] == '.')
        n--;
    name[n] = '\0';
    *port = 80;
    if (colon != NULL) {
        const char *p = colon + 1;
        long v = 0;
        if (*p == '\0' || strlen(p) > 5)
            return false;
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return false;
            v = v * 10 + (*p - '0');
        }
        *port = (int)v;
    }
    return true;
}

/* See above. `host` is the Host header (NULL: none). */
static bool host_ok(rill_server *srv, struct lws *wsi, const char *host) {
    if (host == NULL)
        return true;
    char name[256];
    int port;
    if (!parse_host(host, name, sizeof name, &port))
        return false;
    if (srv->allow_hosts != NULL && in_list(srv->allow_hosts, name))
        return true;
    if (port != srv->port)
        return false;
    size_t n = strlen(name);
    if (strcmp(name, "localhost") == 0 ||
        (n > 10 && strcmp(name + n - 10, ".localhost") == 0) ||
        strcasecmp(name, srv->host) == 0)
        return true;
    uint8_t ip[16];
    if (ip_bytes(name, ip) != 0) {
        uint8_t a[16];
        size_t an = ip_bytes(srv->host, a);
        if (an != 0 && same_ip(name, a, an))
            return true; /* the bound address, written another way */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = lws_get_socket_fd(wsi);
        return fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
               (an = sockaddr_bytes(&ss, a)) != 0 && same_ip(name, a, an);
    }
    if (rill__server_bound_to_loopback(srv))
        return false;
    char self[256 + 8];
    if (gethostname(self, 256) != 0)
        return false;
    self[255] = '\0';
    if (strcasecmp(name, self) == 0)
        return true;
    strcat(self, ".local");
    return strcasecmp(name, self) == 0;
}

/* The Host check, answered: 0 to go on, or nonzero after a 403 saying
 * what to do (an upgrade is refused by hand, see refuse_upgrade). */
static int refuse_upgrade(struct lws *wsi, int status, const char *reason,
                          const char *message);

static int check_host(rill_server *srv, struct lws *wsi, bool upgrade) {
    char host[256];
    int n = lws_hdr_copy(wsi, host, (int)sizeof host, WSI_TOKEN_HOST);
    if (host_ok(srv, wsi, n > 0 ? host : NULL))
        return 0;
    /* Echoed only when it is made of what a host name may hold: the
     * message goes into lws's HTML status page. */
    bool plain = n > 0;
    for (int i = 0; plain && i < n; i++) {
        char ch = host[i];
        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
                ch == ':' || ch == '[' || ch == ']' || ch == '_';
    }
    char message[512];
    snprintf(message, sizeof message,
             "Host %s%s%s is not an address of this server: refused, as a "
             "page reached through DNS rebinding would be. Use "
             "http://127.0.0.1:%d/ (or the address the server listens on), "
             "or start it with --allow-host NAME for a name of yours",
             plain ? "'" : "", plain ? host : "(unprintable)", plain ? "'" : "",
             srv->port);
    rill__log_warn("refused %s with Host %s (not this server's; "
                   "--allow-host allows a name)",
                   upgrade ? "a WebSocket" : "an HTTP request",
                   plain ? host : "(unprintable)");
    if (upgrade)
        return refuse_upgrade(wsi, 403, "Forbidden", message);
    return rill__http_text(wsi, HTTP_STATUS_FORBIDDEN, message) < 0 ? -1 : 1;
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
        n = lws_hdr_copy(wsi, buf, cap, WSI_TOKEN_HEAD_URI);
    if (n <= 0)
        buf[0] = '\0';
    return n;
}

/* ---- Whole responses ------------------------------------------------------
 *
 * Every answer that is not a file goes out here, written at once (small: a
 * listing, a message), with its length, not cached, not sniffed; a HEAD
 * request gets the same headers and no body (lws_serve_http_file does the
 * same for files). Returns what an LWS_CALLBACK_HTTP handler returns. */

int rill__http_respond(struct lws *wsi, unsigned status, const char *type,
                       const char *body, size_t len) {
    uint8_t hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr;
    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p,
                                    end) != 0 ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"cache-control:",
            (const unsigned char *)"no-cache", 8, &p, end) != 0 ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"x-content-type-options:",
            (const unsigned char *)"nosniff", 7, &p, end) != 0 ||
        (status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                     (const unsigned char *)"GET, HEAD, DELETE",
                                     17, &p, end) != 0) ||
        lws_finalize_write_http_header(wsi, start, &p, end) != 0)
        return -1;
    if (len > 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) <= 0) {
        uint8_t *b = rill__malloc(LWS_PRE + len);
        if (b == NULL)
            return -1;
        memcpy(b + LWS_PRE, body, len);
        int n = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
        rill__free(b);
        if (n < 0)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int rill__http_text(struct lws *wsi, unsigned status, const char *message) {
    char body[1024];
    int n = snprintf(body, sizeof body, "%s\n", message);
    size_t len = n < 0 ? 0 : RILL__MIN((size_t)n, sizeof body - 1);
    return rill__http_respond(wsi, status, "text/plain; charset=utf-8", body,
                              len);
}

/* ---- Files: only regular files inside the served directory -------------
 *
 * A symbolic link in the log directory (ln -s /etc/passwd LOGDIR/x) must
 * not serve what it points to, nor a link in the web root, nor a FIFO
 * (whose open would block the network thread), nor anything renamed in
 * between a check and the open. So a file is opened one path component at
 * a time from the served directory's descriptor, each with O_NOFOLLOW,
 * and served only if fstat says it is a regular file: what is checked is
 * what is read. The served directory itself may be a link (the user chose
 * it). libwebsockets opens the files it serves through rill__server_fops,
 * whose open does the same, so no file is opened any other way. */

int rill__open_beneath(const char *root, const char *rel, struct stat *st) {
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    const char *p = rel;
    while (*p == '/')
        p++;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char name[256];
        if (n == 0 || n >= sizeof name || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(dir);
            errno = ENOENT;
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        /* O_NONBLOCK: a FIFO opens at once (and is refused below); it
         * changes nothing for a regular file. */
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
                    (slash ? O_DIRECTORY : O_NONBLOCK | O_NOCTTY);
        int fd = openat(dir, name, flags);
        int err = errno;
        close(dir);
        if (fd < 0) {
            errno = err;
            return -1;
        }
        if (slash == NULL) {
            if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
                close(fd);
                errno = ENOENT;
                return -1;
            }
            return fd;
        }
        dir = fd;
        p = slash + 1;
    }
}

/* libwebsockets' file operations for this server (internal.h): `fops` is
 * the one in rill_server, set as the context's with lws_set_fops, so the
 * server is found from it. A path it is asked to open must lie under the
 * log directory, the web root or a user directory of webdir.c, and is
 * opened beneath it. */
static lws_fop_fd_t fop_open(const struct lws_plat_file_ops *fops,
                             const char *filename, const char *vpath,
                             lws_fop_flags_t *flags) {
    (void)vpath;
    rill_server *srv = (rill_server *)(void *)((char *)(uintptr_t)fops -
                                               offsetof(rill_server, fops));
    const char *roots[4] = {srv->log_dir, srv->web_root, srv->handlers_dir,
                            srv->examples_dir};
    for (int k = 0; k < 4; k++) {
        size_t n = roots[k] ? strlen(roots[k]) : 0;
        if (n == 0 || strncmp(filename, roots[k], n) != 0 || filename[n] != '/')
            continue;
        struct stat st;
        int fd = rill__open_beneath(roots[k], filename + n + 1, &st);
        if (fd < 0)
            return NULL;
        lws_fop_fd_t f = rill__calloc(1, sizeof *f);
        if (f == NULL) {
            close(fd);
            return NULL;
        }
        f->fd = fd;
        f->fops = fops;
        f->flags = *flags & ~(lws_fop_flags_t)LWS_FOP_FLAG_COMPR_IS_GZIP;
        f->len = (lws_filepos_t)st.st_size;
        *flags = f->flags;
        return f;
    }
    rill__log_warn("refused to open %s: not under the log directory, the "
                   "web root, --handlers or --examples",
                   filename);
    return NULL;
}

static int fop_close(lws_fop_fd_t *f) {
    int fd = (int)(*f)->fd;
    rill__free(*f);
    *f = NULL;
    return close(fd);
}

static lws_fileofs_t fop_seek_cur(lws_fop_fd_t f, lws_fileofs_t off) {
    lws_fileofs_t pos = (lws_fileofs_t)f->pos;
    if (off > 0 && off > (lws_fileofs_t)f->len - pos)
        off = (lws_fileofs_t)f->len - pos;
    if (pos + off < 0)
        off = -pos;
    off_t r = lseek((int)f->fd, (off_t)off, SEEK_CUR);
    if (r >= 0)
        f->pos = (lws_filepos_t)r;
    return (lws_fileofs_t)r;
}

static int fop_read(lws_fop_fd_t f, lws_filepos_t *amount, uint8_t *buf,
                    lws_filepos_t len) {
    ssize_t n = read((int)f->fd, buf, (size_t)len);
    if (n < 0) {
        *amount = 0;
        return -1;
    }
    f->pos += (lws_filepos_t)n;
    *amount = (lws_filepos_t)n;
    return 0;
}

static int fop_write(lws_fop_fd_t f, lws_filepos_t *amount, uint8_t *buf,
                     lws_filepos_t len) {
    (void)f, (void)buf, (void)len;
    *amount = 0;
    return -1; /* nothing is written through HTTP */
}

void rill__server_fops(rill_server *srv) {
    memset(&srv->fops, 0, sizeof srv->fops);
    srv->fops.LWS_FOP_OPEN = fop_open;
    srv->fops.LWS_FOP_CLOSE = fop_close;
    srv->fops.LWS_FOP_SEEK_CUR = fop_seek_cur;
    srv->fops.LWS_FOP_READ = fop_read;
    srv->fops.LWS_FOP_WRITE = fop_write;
    lws_set_fops(srv->ctx, &srv->fops);
}

bool rill__log_busy(rill_server *srv, const char *name) {
    /* log_name is read only once the writer said OPENED (it writes it
     * until then). */
    for (rill__stream *s = srv->streams; s != NULL; s = s->next)
        if (s->sink == RILL__SINK_LOG && s->log_named &&
            strcmp(s->log_name, name) == 0)
            return true;
    return false;
}

/* GET /files/<name>: a finished log file from the log directory. */
static int serve_file(rill_server *srv, struct lws *wsi, const char *uri) {
    char name[512];
    rill__log_file_resolve(srv, uri + strlen("/files/"), name, sizeof name);
    if (!rill__is_log_name(name)) {
        return rill__http_text(wsi, HTTP_STATUS_BAD_REQUEST,
                               "not a log file's name: use /files/<name> with "
                               "a name from the list reply's logFileName or "
                               "GET /files/ (log files end in .bin)");
    }
    if (rill__log_busy(srv, name)) {
        return rill__http_text(wsi, 409,
                               "this file is still being logged; "
                               "unlog the variable, then fetch it");
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", srv->log_dir, name);
    struct stat st;
    int fd = rill__open_beneath(srv->log_dir, name, &st);
    if (fd < 0) {
        return rill__http_text(wsi, HTTP_STATUS_NOT_FOUND,
                               "no such log file (only regular files in the "
                               "log directory are served; links are not)");
    }
    close(fd); /* opened again, the same way, by lws (fop_open) */
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
    int fd = ok ? rill__open_beneath(srv->web_root, rel, &st) : -1;
    if (fd >= 0)
        close(fd); /* opened again, the same way, by lws (fop_open) */
    if (fd < 0) {
        bool page = strcmp(rel, "/index.html") == 0;
        return rill__http_text(wsi, HTTP_STATUS_NOT_FOUND,
                               page ? "rill serve: the dashboard is not "
                                      "built (make build writes web/dist; "
                                      "or pass --web-root DIR)"
                                    : "no such file");
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
    rill__uri_path(wsi, uri, (int)sizeof uri); /* a GET's or a HEAD's */
    int refused = check_host(srv, wsi, false);
    if (refused != 0)
        return refused < 0 ? -1 : 0;
    if (!authorized(srv, wsi)) {
        return rill__http_text(wsi, HTTP_STATUS_UNAUTHORIZED,
                               "this server needs a token: add ?token=...");
    }
    /* The log directory's listing and deletions (logfiles_http.c). */
    char del[512];
    if (lws_hdr_copy(wsi, del, (int)sizeof del, WSI_TOKEN_DELETE_URI) > 0)
        return rill__logfiles_http(
            srv, wsi, strncmp(del, "/files/", 7) == 0 ? del + 7 : del);
    if (uri[0] == '\0') /* POST, PUT, OPTIONS ...: nothing here takes them */
        return rill__http_text(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
                               "rill serve answers GET and HEAD, and DELETE "
                               "/files/<name>");
    if (strcmp(uri, "/files/") == 0)
        return rill__logfiles_http(srv, wsi, NULL);
    if (strncmp(uri, "/files/", 7) == 0)
        return serve_file(srv, wsi, uri);
    /* Custom handler types and the editor's examples (webdir.c). */
    static const char *const js[] = {".js", ".mjs", NULL};
    static const char *const py[] = {".py", ".json", NULL};
    if (strncmp(uri, "/handlers/", 10) == 0)
        return rill__webdir_serve(wsi, srv->handlers_dir, uri + 10, js);
    if (strncmp(uri, "/examples/", 10) == 0)
        return rill__webdir_serve(wsi, srv->examples_dir, uri + 10, py);
    if (srv->web_root != NULL)
        return serve_web(srv, wsi, uri);
    return rill__http_text(wsi, HTTP_STATUS_NOT_FOUND,
                           "rill serve: WebSocket paths /gui_control and "
                           "/gui_data; log files at /files/ and "
                           "/files/<name>");
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
    if (check_host(srv, wsi, true) != 0)
        return 1;
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
