/* Logging on the device, and downloading the finished files.
 *
 * rill serve offers finished log files at GET /files/<name> on its own port
 * (409 while one is still being written). The download uses libcurl: HTTP
 * is all it needs today, and libcurl's timeouts, redirects and error texts
 * are better than anything written here. The file is written to
 * "<path>.part" and renamed when complete, so `path` never holds half a
 * file.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/internal.h"
#include "core/internal.h"

static int log_names(rill_client *cl, const char *const *names, size_t n,
                     const rill_client_list *l, rill_client_log_file *files) {
    for (size_t i = 0; i < n; i++) {
        const rill_client_var *v = rill__client_find(cl, names[i]);
        if (v == NULL || v->id >= l->n_vars)
            return RILL_ENOTFOUND;
        snprintf(files[i].name, sizeof files[i].name, "%s",
                 l->vars[v->id].log_file_name);
    }
    return 0;
}

int rill_client_log_start(rill_client *cl, const char *const *names, size_t n,
                          const rill_client_stream_opts *opts,
                          rill_client_log_file *files) {
    json_t *ts = json_array(), *du = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(ts, json_integer(opts ? (json_int_t)opts->start : 0));
        json_array_append_new(du, json_integer(opts ? (json_int_t)opts->duration : 0));
    }
    rill_client_list *after = NULL;
    int rc = rill__client_cmd_sync(
        cl, "log", names, n,
        json_pack("{s:o,s:o}", "timestamps", ts, "durations", du), &after);
    if (rc == 0 && files != NULL)
        rc = log_names(cl, names, n, after, files);
    rill_client_list_free(after);
    return rc;
}

int rill_client_log_stop(rill_client *cl, const char *const *names, size_t n) {
    return rill__client_cmd_sync(cl, "unlog", names, n, NULL, NULL);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    return fwrite(data, size, nmemb, user);
}

/* One GET into `f`: 0 with the HTTP status in *status, or an error. */
static int get_once(rill_client *cl, const char *url, FILE *f, long *status,
                    int timeout_ms) {
    CURL *c = curl_easy_init();
    if (c == NULL)
        return RILL_ENOMEM;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    /* A big file may take longer than the timeout; a stalled one not. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(timeout_ms + 999) / 1000);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc == CURLE_WRITE_ERROR) {
        rc = RILL_EIO;
        rill__log_error("cannot write the download: %s", strerror(errno));
    } else if (cc != CURLE_OK) {
        rc = cc == CURLE_COULDNT_CONNECT ? RILL_EREFUSED
             : cc == CURLE_OPERATION_TIMEDOUT ? RILL_ETIMEOUT
                                             : RILL_EIO;
        rill__log_error("cannot fetch %s: %s", url,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
    curl_easy_cleanup(c);
    (void)cl;
    return rc;
}

/* "<path>.part", created afresh: a stale one (a download killed midway) is
 * removed first, and O_EXCL refuses whatever appears in between, so the
 * download never writes through a symbolic link planted at that name. */
static FILE *open_part(const char *part) {
    if (unlink(part) != 0 && errno != ENOENT)
        return NULL;
    int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "wb");
    if (f == NULL)
        close(fd);
    return f;
}

int rill_client_fetch(rill_client *cl, const char *file_name, const char *path,
                      int timeout_ms) {
    if (file_name == NULL || path == NULL || file_name[0] == '\0' ||
        strchr(file_name, '/') != NULL)
        return RILL_EINVAL;
    if (!rill_client_native(cl)) {
        rill__log_error("a Bela board serves its log files over SFTP only: "
                        "copy it with 'scp root@%s%s%s:Bela/projects/<project>/%s .'",
                        strchr(cl->host, ':') ? "[" : "", cl->host,
                        strchr(cl->host, ':') ? "]" : "", file_name);
        return RILL_ENOTSUP;
    }
    char url[1024], part[4096];
    char *esc = curl_easy_escape(NULL, file_name, 0);
    if (esc == NULL)
        return RILL_ENOMEM;
    bool v6 = strchr(cl->host, ':') != NULL; /* an IPv6 address: in brackets */
    snprintf(url, sizeof url, "http://%s%s%s:%d/files/%s%s%s", v6 ? "[" : "", cl->host,
             v6 ? "]" : "", cl->port, esc, cl->cfg.token ? "?token=" : "",
             cl->cfg.token ? cl->cfg.token : "");
    curl_free(esc);
    if (snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part)
        return RILL_EINVAL;
    uint64_t end = rill_clock_now_ns() + (uint64_t)RILL__MAX(timeout_ms, 0) * 1000000u;
    for (;;) {
        FILE *f = open_part(part);
        if (f == NULL) {
            rill__log_error("cannot create %s: %s", part, strerror(errno));
            return RILL_EIO;
        }
        long status = 0;
        int rc = get_once(cl, url, f, &status, cl->cfg.timeout_ms);
        if (fclose(f) != 0 && rc == 0) {
            rill__log_error("cannot write %s: %s", part, strerror(errno));
            rc = RILL_EIO;
        }
        if (rc == 0 && status == 200) {
            if (rename(part, path) != 0) {
                rill__log_error("cannot rename %s to %s: %s", part, path,
                                strerror(errno));
                unlink(part);
                return RILL_EIO;
            }
            return 0;
        }
        unlink(part);
        if (rc != 0)
            return rc;
        if (status == 409 && rill_clock_now_ns() < end) {
            usleep(50000); /* the device is still writing it */
            continue;
        }
        switch (status) {
        case 409:
            rill__log_error("%s is still being logged after %d ms: stop "
                            "logging it first (rill_client_log_stop)",
                            file_name, timeout_ms);
            return RILL_ETIMEOUT;
        case 400:
            rill__log_error("the device serves no file named %s: only its "
                            "log files (names ending in .bin, as the list "
                            "reply's logFileName)", file_name);
            return RILL_EINVAL;
        case 404:
            rill__log_error("the device has no log file %s", file_name);
            return RILL_ENOTFOUND;
        case 401:
        case 403:
            rill__log_error("the device refused the download of %s (HTTP "
                            "%ld): check the token", file_name, status);
            return RILL_EAUTH;
        default:
            rill__log_error("fetching %s: the device answered HTTP %ld",
                            file_name, status);
            return RILL_EPROTO;
        }
    }
}
