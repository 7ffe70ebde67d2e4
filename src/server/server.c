/* rill_server: the device side's object and its libwebsockets callback.
 *
 * One libwebsockets context on one port serves the Watcher's two WebSocket
 * paths (/gui_control: JSON text, /gui_data: binary) and plain HTTP
 * (http.c). This file holds the libwebsockets callback, which routes what
 * arrives to the module that serves it, and the server's life: create,
 * destroy, the getters; the loop around lws_service is netloop.c.
 * Everything runs on the network thread except
 * create/destroy and the getters (user threads), which touch only what they
 * say. internal.h lists the other files and what each does.
 */
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "proto/handler.h"
#include "proto/wire.h"
#include "server/internal.h"
#include "server/wsguard.h"


/* The message router. Messages of rill's own ({"rill":...} requests and
 * a program's handler events) are told apart by their keys and handed to
 * the module that serves them; everything else is a Watcher control
 * message (control.c), whose parser reports what is wrong with it. A
 * message without either key is not parsed here at all. */
static void on_control_text(rill_server *srv, rill__conn *c, const char *text,
                            size_t len) {
    json_t *root = NULL;
    if (memmem(text, len, "\"rill\"", 6) != NULL ||
        memmem(text, len, "\"handler", 8) != NULL) {
        json_error_t jerr;
        root = json_loadb(text, len, 0, &jerr);
    }
    json_t *r = json_object_get(root, "rill");
    json_t *ev = json_object_get(root, "event");
    const char *rill = json_is_string(r) ? json_string_value(r) : "";
    const char *event = json_is_string(ev) ? json_string_value(ev) : "";
    if (!json_is_object(root)) {
        rill__control_message(srv, c, text, len);
    } else if (strcmp(rill, "hello") == 0) {
        if (!srv->cfg.compat_only) /* a Bela ignores it */
            rill__control_hello(srv, c);
    } else if (strcmp(rill, "dash") == 0) {
        rill__relay_subscribe(srv, c, root);
    } else if (strcmp(rill, "exec") == 0) {
        rill__exec_request(srv, c, root);
        if (srv->n_jobs != 0) /* its output is read every 20 ms */
            rill__net_housekeeping(srv, true);
    } else if (strcmp(rill, "exec-stop") == 0) {
        rill__exec_stop_request(srv, c, root);
    } else if (strcmp(rill, "audio-config") == 0) {
        rill__audio_change_request(srv, c, root);
    } else if (strcmp(rill, "time") == 0) {
        rill__time_request(srv, c, root); /* the clock exchange, stamp.c */
    } else if (strcmp(event, "handler") == 0 ||
               strcmp(event, "handler-data") == 0 ||
               strcmp(event, "handler-remove") == 0) {
        rill__relay_event(srv, c, event, root);
    } else {
        rill__control_message(srv, c, text, len);
    }
    json_decref(root);
}

/* Errors about what a client sent on a data path go to its control
 * socket: itself in native mode, otherwise the control sockets of the same
 * peer. Never as text on /gui_data: pybela's data task dies on a text
 * frame (spec §7). */
static void report_data_error(rill_server *srv, rill__conn *c,
                              const char *err) {
    rill__log_warn("%s: %s", c->peer, err);
    for (rill__conn *k = srv->conns; k != NULL; k = k->next) {
        if (k->path != PATH_CONTROL)
            continue;
        if (k == c || (c->path == PATH_DATA && strcmp(k->peer, c->peer) == 0))
            rill__send_error_text(k, NULL, NULL, "%s; buffer ignored", err);
    }
}

/* A client's buffer for the device (spec §4), fully validated first. */
static void on_client_buffer(rill_server *srv, rill__conn *c,
                             const uint8_t *data, size_t len) {
    static const uint8_t empty[1];
    rill__client_buffer b;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__client_buffer_parse(data ? data : empty, len, &b, err,
                                  sizeof err) != 0) {
        report_data_error(srv, c, err);
        return;
    }
    if (srv->cfg.on_buffer == NULL)
        return;
    rill__wire_get_values(srv->values_scratch, b.type, b.values, b.count);
    srv->cfg.on_buffer(srv, b.id, b.type, srv->values_scratch, b.count,
                       srv->cfg.user);
}

/* A whole message, to the module that serves it. */
static void dispatch(rill_server *srv, rill__conn *c, const uint8_t *data,
                     size_t len, bool binary) {
    if (binary && c->native && rill__handler_frame_is(data, len)) {
        rill__relay_frame(srv, c, data, len);
    } else if (c->path == PATH_DATA || (binary && c->native)) {
        on_client_buffer(srv, c, data, len);
    } else if (binary) {
        rill__send_error_text(
            c, NULL, NULL,
            "binary message on /gui_control ignored: control "
            "messages are JSON text (send {\"rill\":\"hello\"} "
            "first to send buffers here)");
    } else {
        on_control_text(srv, c, (const char *)data, len);
    }
    /* A message now waits for its log files: read nothing more from this
     * connection until it has run (rill__conn_resume). */
    if (c->deferred != NULL && c->wsi != NULL)
        lws_rx_flow_control(c->wsi, 0);
}

/* A message that arrived while an earlier one of its connection waits
 * (libwebsockets may hand over what it had read before reading stopped). */
typedef struct rill__held {
    struct rill__held *next;
    bool binary;
    size_t len;
    uint8_t data[];
} rill__held;

static void hold(rill__conn *c, const uint8_t *data, size_t len, bool binary) {
    rill__held *h = rill__malloc(sizeof *h + len + 1);
    if (h == NULL) {
        rill__send_error_text(c, NULL, NULL,
                              "out of memory keeping a message behind one that "
                              "waits for its log files; ignored");
        return;
    }
    h->next = NULL;
    h->binary = binary;
    h->len = len;
    if (len != 0)
        memcpy(h->data, data, len);
    if (c->held_tail != NULL)
        c->held_tail->next = h;
    else
        c->held = h;
    c->held_tail = h;
}

static void free_held(rill__conn *c) {
    while (c->held != NULL) {
        rill__held *h = c->held;
        c->held = h->next;
        rill__free(h);
    }
    c->held_tail = NULL;
}

static void unlink_conn(rill__conn **list, rill__conn *c) {
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        *list = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* A connection whose waiting message has run (c->resume): what it held
 * runs now, in order, and it reads again (or, gone, it is freed). */
void rill__conn_resume(rill_server *srv, rill__conn *c) {
    if (c->gone) {
        unlink_conn(&srv->gone, c);
        free_held(c);
        rill__conn_free(c);
        return;
    }
    while (c->held != NULL && c->deferred == NULL) {
        rill__held *h = c->held;
        c->held = h->next;
        if (c->held == NULL)
            c->held_tail = NULL;
        dispatch(srv, c, h->data, h->len, h->binary);
        rill__free(h);
    }
    if (c->deferred == NULL)
        lws_rx_flow_control(c->wsi, 1);
}

/* A message over max_message_bytes is skipped with an error reply and the
 * connection kept (bad input loses nothing else). Skipping it means reading
 * it to its end, though, and a frame header may announce up to 2^63 - 1
 * bytes: a frame that announces more than this many times the limit is not
 * read at all, and its connection is closed (1009, message too big) once
 * the error reply is out. */
#define RILL__SKIP_FACTOR 16

static void refuse_huge_frame(rill_server *srv, rill__conn *c, struct lws *wsi,
                              size_t announced) {
    size_t max = srv->cfg.max_message_bytes;
    char err[256];
    snprintf(err, sizeof err,
             "a frame of %zu bytes announced, over %d times the server's "
             "max_message_bytes (%zu); the connection is closed",
             announced, RILL__SKIP_FACTOR, max);
    rill__log_warn("%s: %s", c->peer, err);
    if (c->path == PATH_DATA)
        report_data_error(srv, c, err);
    else
        rill__send_error_text(c, NULL, NULL, "%s", err);
    static const char reason[] = "message too big";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     (unsigned char *)reason, sizeof reason - 1);
    lws_rx_flow_control(wsi, 0);
    c->closing = true;
    lws_callback_on_writable(wsi);
}

static void on_receive(rill_server *srv, rill__conn *c, struct lws *wsi,
                       const void *in, size_t len) {
    if (c->closing)
        return; /* what lws had read before reading stopped */
    if (lws_is_final_fragment(wsi))
        rill__conn_quickack(wsi);
    size_t max = srv->cfg.max_message_bytes;
    size_t rest = lws_remaining_packet_payload(wsi);
    if (len + rest > max * RILL__SKIP_FACTOR ||
        rest > SIZE_MAX / 2) { /* the sum may wrap */
        refuse_huge_frame(srv, c, wsi,
                          rest > SIZE_MAX - len ? SIZE_MAX : len + rest);
        return;
    }
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_too_big = false;
    }
    if (!c->rx_too_big) {
        if (c->rx_len + len > max) {
            c->rx_too_big = true;
        } else {
            if (c->rx_len + len > c->rx_cap) {
                size_t cap = RILL__MAX(c->rx_cap * 2, c->rx_len + len);
                uint8_t *p = rill__realloc(c->rx, cap + 1);
                if (p == NULL) {
                    c->rx_too_big = true;
                } else {
                    c->rx = p;
                    c->rx_cap = cap;
                }
            }
            if (!c->rx_too_big && len != 0) { /* an empty message has no data */
                memcpy(c->rx + c->rx_len, in, len);
                c->rx_len += len;
            }
        }
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
        return;
    bool binary = lws_frame_is_binary(wsi) != 0;
    if (c->rx_too_big) {
        rill__log_warn("%s sent a message over %zu bytes", c->peer, max);
        char err[128];
        snprintf(err, sizeof err,
                 "message over %zu bytes (the server's max_message_bytes); "
                 "send smaller messages",
                 max);
        if (c->path == PATH_DATA)
            report_data_error(srv, c, err);
        else
            rill__send_error_text(c, NULL, NULL, "%s; ignored", err);
        return;
    }
    if (c->deferred != NULL) {
        hold(c, c->rx, c->rx_len, binary);
        return;
    }
    dispatch(srv, c, c->rx, c->rx_len, binary);
}

static void on_close(rill_server *srv, rill__conn *c) {
    rill__conn_set_active(srv, c, false);
    rill__relay_conn_closed(srv, c);
    rill__exec_conn_closed(srv, c);
    if (c->native) {
        for (size_t i = 0; i < srv->dev.max_vars; i++) {
            rill__stream *s[2] = {c->sub_buf[i], c->sub_mon[i]};
            for (int k = 0; k < 2; k++) {
                if (s[k] != NULL) {
                    s[k]->conn = NULL;
                    rill__release_stream(srv, s[k]);
                }
            }
        }
    }
    rill__publish_rt(srv);
    unlink_conn(&srv->conns, c);
    atomic_fetch_sub(&srv->n_clients, 1);
    free_held(c);
    if (c->deferred != NULL) {
        /* Its message still runs once its log files exist, for what
         * outlives the connection (control.c); then it is freed. */
        c->gone = true;
        c->closing = true;
        c->wsi = NULL;
        c->next = srv->gone;
        if (srv->gone != NULL)
            srv->gone->prev = c;
        srv->gone = c;
        return;
    }
    rill__conn_free(c);
}


/* File descriptors kept free for what is not a connection: log files,
 * files served over HTTP, programs' pipes. */
#define RILL__FD_RESERVE 16

/* A connection just accepted as `fd`, at the process's open-file limit
 * (RLIMIT_NOFILE) less the reserve: refused at once, with a 503 that says
 * why, rather than let the limit be met. Met, it would leave connections
 * waiting unanswered in the listen backlog while the network thread spins
 * on accept's EMFILE. fd is the lowest free descriptor, so fd >= limit -
 * reserve means fewer than the reserve are left. True: refuse it. */
static bool at_fd_limit(rill_server *srv, int fd) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        (rlim_t)fd + RILL__FD_RESERVE < rl.rlim_cur)
        return false;
    static const char answer[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Connection: close\r\nContent-Length: 86\r\n\r\n"
        "rill serve: too many connections (at its open-file limit, ulimit -n); "
        "try again later\n";
    if (send(fd, answer, sizeof answer - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* the client hears a closed connection instead */
    }
    uint64_t now = rill_clock_now_ns();
    srv->fd_refused++;
    if (srv->fd_refused_said == 0 ||
        now - srv->fd_refused_said >= 10ull * 1000 * 1000 * 1000) {
        rill__log_warn(
            "refusing connections: the process has used its open-file "
            "limit (RLIMIT_NOFILE %llu, less %d kept for files); "
            "%llu refused so far; raise it with ulimit -n",
            (unsigned long long)rl.rlim_cur, RILL__FD_RESERVE,
            (unsigned long long)srv->fd_refused);
        srv->fd_refused_said = now;
    }
    return true;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len) {
    rill_server *srv = lws_context_user(lws_get_context(wsi));
    rill__conn **pc = user;
    rill__conn *c = pc != NULL ? *pc : NULL;
    char uri[256];

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (at_fd_limit(srv, (int)(intptr_t)in))
            return -1;
        return rill__wsguard_accept((int)(intptr_t)in) ? 0 : -1;

    case LWS_CALLBACK_HTTP:
        return rill__http(srv, wsi);

    /* A file sent by lws_serve_http_file is done: end the transaction, so a
     * kept-alive connection (a browser loading a page's scripts) can carry
     * the next request. */
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;

    /* Refused before the upgrade, with a status saying why (>0 tells lws
     * we answered). */
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return rill__http_confirm_upgrade(srv, wsi);

    case LWS_CALLBACK_ESTABLISHED: {
        if (!rill__wsguard_established(wsi))
            return -1;
        rill__uri_path(wsi, uri, (int)sizeof uri);
        c = rill__calloc(1, sizeof *c);
        if (c == NULL)
            return -1;
        c->srv = srv;
        c->wsi = wsi;
        c->path = strcmp(uri, "/gui_data") == 0 ? PATH_DATA : PATH_CONTROL;
        c->id = ++srv->next_conn_id;
        lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
        rill__conn_bound_sndbuf(srv, wsi);
        c->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = c;
        srv->conns = c;
        *pc = c;
        atomic_fetch_add(&srv->n_clients, 1);
        if (c->path == PATH_CONTROL) {
            /* The first message on a control socket, to it alone (the
             * spec's fix of Bela's broadcast). */
            char *text = NULL;
            size_t tlen = 0;
            if (rill__cmd_connection_event(srv->project, &text, &tlen) == 0)
                rill__conn_send_owned(c, text, tlen);
        }
        return 0;
    }

    case LWS_CALLBACK_RECEIVE:
        if (c != NULL)
            on_receive(srv, c, wsi, in, len);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (c == NULL)
            return 0;
        if (rill__conn_write(c) != 0)
            return -1;
        if (c->q_len == 0 && (c->closing || rill__wsguard_refused(wsi)))
            return -1;
        if (c->q_len != 0)
            lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLOSED:
        if (c != NULL) {
            on_close(srv, c);
            *pc = NULL;
        }
        return 0;

    case LWS_CALLBACK_RAW_RX_FILE: {
        /* The tick thread's eventfd: reset it; the records are drained
         * when lws_service returns (net_main). The housekeeping timerfd:
         * the whole drain. */
        uint64_t v;
        if (wsi == srv->wake_wsi || wsi == srv->timer_wsi)
            (void)!read(lws_get_socket_fd(wsi), &v, sizeof v);
        if (wsi == srv->timer_wsi) {
            rill__net_drain(srv);
            rill__net_housekeeping(srv, srv->n_jobs != 0);
        }
        return 0;
    }

    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (wsi == srv->wake_wsi)
            srv->wake_wsi = NULL;
        if (wsi == srv->timer_wsi)
            srv->timer_wsi = NULL;
        return 0;

    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"rill", callback, sizeof(rill__conn *), 64 * 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


/* ---- Create / destroy
 * ---------------------------------------------------------- */

rill_server_config rill_server_config_default(void) {
    rill_server_config cfg = {
        .host = "127.0.0.1",
        .port = 5555,
        .sample_rate = 44100.0,
        .project_name = "rill",
        .token = NULL,
        .log_dir = ".",
        .allow_origin = NULL,
        .web_root = NULL,
        .max_vars = 256,
        .client_queue_bytes = 8u << 20,
        .out_ring_bytes = 8u << 20,
        .log_ring_bytes = 8u << 20,
        .max_message_bytes = 64u << 10,
        .drain_interval_us = 250, /* unused; see server.h */
        .allow_exec = false,
        .on_buffer = NULL,
        .user = NULL,
        .on_audio_change = NULL,
        .handlers_dir = NULL,
        .examples_dir = NULL,
        .script_interpreter = "python3",
        .compat_only = false,
        .allow_hosts = NULL,
        .bela_project = NULL,
        .block_ticks = 0,
    };
    return cfg;
}

/* Try the address before handing it to libwebsockets: lws reports a failed
 * bind only as a failed context (and leaks a little doing so), while the
 * user needs to know whether the port is taken, the address is not one of
 * this machine's, or a privileged port needs root. */
static int probe_bind(const char *host, int port) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        rill__log_error("cannot listen on %s:%d: %s", host, port,
                        gai_strerror(gai));
        return RILL_EIO;
    }
    int rc = 0;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int err = errno;
        rill__log_error("cannot listen on %s:%d: %s%s", host, port,
                        strerror(err),
                        err == EADDRINUSE      ? " (another program uses the "
                                                 "port: pick another with --port)"
                        : err == EADDRNOTAVAIL ? " (not an address of this "
                                                 "machine)"
                        : err == EACCES        ? " (ports below 1024 need root)"
                                               : "");
        rc = RILL_EIO;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return rc;
}

static char *dup_or_null(const char *s, int *rc) {
    if (s == NULL)
        return NULL;
    char *d = rill__strdup(s);
    if (d == NULL)
        *rc = RILL_ENOMEM;
    return d;
}

int rill_server_create(const rill_server_config *cfg, rill_server **out) {
    if (cfg == NULL || out == NULL || cfg->host == NULL || cfg->port < 0 ||
        cfg->port > 65535 || cfg->max_vars == 0 || cfg->max_vars > 100000 ||
        cfg->client_queue_bytes == 0 || cfg->max_message_bytes < 64 ||
        !(cfg->sample_rate >= 0))
        return RILL_EINVAL;
    *out = NULL;
    if (cfg->token != NULL && *cfg->token == '\0') {
        rill__log_error("token is empty: give the token clients must present, or "
                        "none (NULL) to let anyone who reaches the port in");
        return RILL_EINVAL;
    }
    if (cfg->allow_exec && cfg->token == NULL) {
        rill__log_error("allow_exec needs a token: running programs for "
                        "anyone who can reach the port is not offered");
        return RILL_EINVAL;
    }
    int rc = 0;
    /* A Bela project names both the project and where its logs go. */
    const char *project = cfg->project_name ? cfg->project_name : "rill";
    const char *log_dir = cfg->log_dir ? cfg->log_dir : ".";
    char bela_dir[512];
    if (cfg->bela_project != NULL) {
        if ((rc = rill__bela_project_dir(cfg->bela_project, bela_dir,
                                         sizeof bela_dir)) != 0)
            return rc;
        project = cfg->bela_project;
        log_dir = bela_dir;
    }
    rill_server *srv = rill__malloc_aligned(sizeof *srv, RILL__STREAM_ALIGN);
    if (srv == NULL)
        return RILL_ENOMEM;
    memset(srv, 0, sizeof *srv);
    srv->dev.wake_fd = -1;
    srv->cfg = *cfg;
    srv->host = dup_or_null(cfg->host, &rc);
    srv->project = dup_or_null(project, &rc);
    srv->token =
        cfg->token && *cfg->token ? dup_or_null(cfg->token, &rc) : NULL;
    srv->log_dir = dup_or_null(log_dir, &rc);
    srv->allow_origin = dup_or_null(cfg->allow_origin, &rc);
    srv->allow_hosts = cfg->allow_hosts && *cfg->allow_hosts
                           ? dup_or_null(cfg->allow_hosts, &rc)
                           : NULL;
    srv->web_root = cfg->web_root && *cfg->web_root
                        ? dup_or_null(cfg->web_root, &rc)
                        : NULL;
    srv->handlers_dir = cfg->handlers_dir && *cfg->handlers_dir
                            ? dup_or_null(cfg->handlers_dir, &rc)
                            : NULL;
    srv->examples_dir = cfg->examples_dir && *cfg->examples_dir
                            ? dup_or_null(cfg->examples_dir, &rc)
                            : NULL;
    srv->script_interpreter = dup_or_null(
        cfg->script_interpreter ? cfg->script_interpreter : "python3", &rc);
    pthread_mutex_init(&srv->vars_lock, NULL);
    pthread_mutex_init(&srv->audio_lock, NULL);
    srv->sample_rate = cfg->sample_rate;
    if (getrandom(&srv->run_id, sizeof srv->run_id, GRND_NONBLOCK) !=
        (ssize_t)sizeof srv->run_id)
        srv->run_id = rill_clock_now_ns() ^ (uint64_t)getpid() << 32;
    srv->run_id &= (UINT64_C(1) << 53) - 1;
    atomic_init(&srv->stop, false);
    if (rc != 0)
        goto fail;
    srv->max_streams = cfg->max_vars * 4 + 4096;
    if ((rc = rill__device_init(&srv->dev, cfg->max_vars, srv->max_streams,
                                cfg->out_ring_bytes, cfg->log_ring_bytes)) !=
        0) {
        rill__log_error("cannot create the server's rings (%zu + %zu bytes) "
                        "and tables: %s (a memory limit, ulimit -v?)",
                        cfg->out_ring_bytes, cfg->log_ring_bytes,
                        rill_strerror(rc));
        goto fail;
    }
    srv->released = rill__calloc(srv->max_streams, sizeof *srv->released);
    srv->values_scratch = rill__malloc(cfg->max_message_bytes * 2);
    if (srv->released == NULL || srv->values_scratch == NULL) {
        rill__log_error("out of memory creating the server (a memory limit, "
                        "ulimit -v?)");
        rc = RILL_ENOMEM;
        goto fail;
    }
    struct stat st;
    int st_rc = stat(srv->log_dir, &st), st_err = errno;
    if (st_rc != 0 || !S_ISDIR(st.st_mode)) {
        bool missing = st_rc != 0 && (st_err == ENOENT || st_err == ENOTDIR);
        rill__log_error("log directory %s %s (%s, or choose another with "
                        "log_dir / --log-dir)",
                        srv->log_dir,
                        missing ? "does not exist"
                        : st_rc == 0 ? "is not a directory"
                                     : strerror(st_err),
                        missing ? "create it" : "check the path");
        rc = RILL_ENOTFOUND;
        goto fail;
    }
    /* Port 0 too: the address must be one of this machine's. */
    if ((rc = probe_bind(srv->host, cfg->port)) != 0)
        goto fail;
    if ((rc = rill__logwriter_start(srv->dev.log, srv->log_dir,
                                    (uint32_t)(uintptr_t)srv, rill__server_poke_from,
                                    srv,
                                    &srv->logwriter)) != 0) {
        rill__log_error("cannot start the log writer thread: %s (a memory or "
                        "thread limit, ulimit -v or -u?)",
                        rill_strerror(rc));
        goto fail;
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, rill__net_lws_log);
    if (rill__wsguard_install() != 0)
        rill__log_warn("this libwebsockets cannot be watched for unmasked "
                       "client frames: they will not be refused (RFC 6455 "
                       "5.1); see docs/SECURITY.md");
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = srv->host;
    info.protocols = protocols;
    info.user = srv;
    info.options =
        LWS_SERVER_OPTION_VALIDATE_UTF8 |
        LWS_SERVER_OPTION_DISABLE_IPV6 * (strchr(srv->host, ':') == NULL);
    info.pt_serv_buf_size = 64 * 1024;
    info.count_threads = 1;
    srv->ctx = lws_create_context(&info);
    if (srv->ctx == NULL) {
        /* probe_bind has shown a given port free: then it was memory. */
        rill__log_error("cannot listen on %s:%d (%s)", srv->host, cfg->port,
                        cfg->port != 0 ? "libwebsockets could not start: out "
                                         "of memory? a memory limit, ulimit -v?"
                                       : "in use, or not an address of this "
                                         "machine");
        rc = RILL_EIO;
        goto fail;
    }
    rill__server_fops(srv);
    srv->vhost = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vhost ? lws_get_vhost_listen_port(srv->vhost) : cfg->port;
    if (srv->port <= 0) { /* libwebsockets has said why; it listens nowhere */
        rill__log_error("cannot listen on %s:%d: libwebsockets opened no listening "
                        "socket (not an address of this machine?)", srv->host, cfg->port);
        rc = RILL_EIO;
        goto fail;
    }
    if ((rc = rill__net_adopt_fds(srv)) != 0) {
        rill__log_error("cannot make the network thread's eventfd or "
                        "timerfd: %s",
                        strerror(errno));
        goto fail;
    }
    /* Before the network thread, which reads srv->devreq. */
    if (cfg->on_audio_change != NULL &&
        (rc = rill__devreq_create(srv, cfg->on_audio_change, cfg->user,
                                  rill__server_poke,
                                  &srv->devreq)) != 0) {
        rill__log_error("cannot start the device-request thread: %s (a memory "
                        "or thread limit, ulimit -v or -u?)",
                        rill_strerror(rc));
        goto fail;
    }
    int err = pthread_create(&srv->net_thread, NULL, rill__net_main, srv);
    if (err != 0) {
        rill__log_error("cannot start the network thread: %s (a memory or "
                        "thread limit, ulimit -v or -u?)",
                        strerror(err));
        rc = RILL_ESYS;
        goto fail;
    }
    srv->net_started = true;
    if (srv->token == NULL && !rill__server_bound_to_loopback(srv))
        rill__log_warn("listening on %s%s%s:%d without a token: anyone who "
                       "reaches this port can stream, set variables, send "
                       "buffers, change the audio and delete log files (rill "
                       "clients: give a token, rill serve --token T; pybela "
                       "cannot send one: keep it to a network you trust; "
                       "docs/SECURITY.md)",
                       strchr(srv->host, ':') ? "[" : "", srv->host,
                       strchr(srv->host, ':') ? "]" : "", srv->port);
    *out = srv;
    return 0;
fail:
    rill_server_destroy(srv);
    return rc;
}

void rill_server_destroy(rill_server *srv) {
    if (srv == NULL)
        return;
    /* First: the program's on_audio_change may still be running, and may
     * call into the server. Freed only once the network thread, which
     * posts requests and takes answers, is gone (below). */
    rill__devreq_stop(srv->devreq);
    atomic_store(&srv->stop, true);
    if (srv->net_started) {
        lws_cancel_service(srv->ctx);
        pthread_join(srv->net_thread, NULL);
    }
    /* After the join, as libwebsockets' threaded examples do: nothing
     * services the context any more, and lws_cancel_service above could
     * not race with its teardown. Closing the sockets runs on_close. */
    if (srv->ctx != NULL)
        lws_context_destroy(srv->ctx);
    rill__devreq_destroy(srv->devreq);
    srv->devreq = NULL;
    /* Writes what the ring holds and finishes the files still open. */
    rill__logwriter_stop(srv->logwriter);
    /* Only now: the log writer pokes through it until it stops. */
    if (srv->dev.wake_fd >= 0)
        close(srv->dev.wake_fd);
    srv->dev.wake_fd = -1;
    while (srv->gone != NULL) { /* closed while a message waited */
        rill__conn *c = srv->gone;
        srv->gone = c->next;
        rill__control_forget(srv, c);
        rill__conn_free(c);
    }
    while (srv->streams != NULL) {
        rill__stream *s = srv->streams;
        srv->streams = s->next;
        rill__stream_destroy(s);
    }
    size_t n = rill__n_vars(srv);
    for (size_t i = 0; i < n; i++) {
        rill_var *v = srv->dev.vars[i];
        rill__stream_destroy(v->compat_watch);
        rill__stream_destroy(v->compat_monitor);
        rill__free_aligned(v);
    }
    rill__device_deinit(&srv->dev);
    pthread_mutex_destroy(&srv->vars_lock);
    pthread_mutex_destroy(&srv->audio_lock);
    rill__free(srv->audio_json);
    rill__exec_free(srv);
    rill__relay_free(srv);
    rill__free(srv->values_scratch);
    rill__free(srv->released);
    rill__free(srv->host);
    rill__free(srv->project);
    rill__free(srv->token);
    rill__free(srv->log_dir);
    rill__free(srv->allow_origin);
    rill__free(srv->allow_hosts);
    rill__free(srv->web_root);
    rill__free(srv->handlers_dir);
    rill__free(srv->examples_dir);
    rill__free(srv->script_interpreter);
    rill__free_aligned(srv);
}

int rill_server_port(const rill_server *srv) {
    return srv->port;
}

void rill_server_tick(rill_server *srv, uint64_t frame) {
    rill__device_tick(&srv->dev, frame);
}

void rill_server_get_stats(const rill_server *srv, rill_server_stats *out) {
    rill_server *s = (rill_server *)srv;
    out->buffers_produced = atomic_load(&s->dev.buffers_produced);
    out->tick_drops = atomic_load(&s->dev.tick_drops);
    out->client_drops = atomic_load(&s->client_drops);
    out->clients = atomic_load(&s->n_clients);
    out->commands_rejected = atomic_load(&s->commands_rejected);
}
