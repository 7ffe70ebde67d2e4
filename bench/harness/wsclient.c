/* A benchmark WebSocket client on libwebsockets (see wsclient.h).
 *
 * Each context has one protocol handler shared by its connections; a
 * connection finds its bench_ws through the wsi's opaque user data. Sends
 * from other threads go into a per-connection list under the context's
 * mutex, and lws_cancel_service makes the owner thread ask for a writable
 * callback, the only place libwebsockets allows a write.
 */
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsclient.h"

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

struct bench_ws {
    bench_wsctx *ctx;
    struct lws *wsi; /* NULL once closed (owner thread) */
    bench_ws_on_message on_message;
    void *user;
    atomic_bool established;
    atomic_bool closed;
    uint8_t *rx; /* the message being reassembled */
    size_t rx_len, rx_cap;
    bool rx_failed;
    out_msg *out_head, *out_tail; /* under ctx->lock */
    bench_ws *next;
};

struct bench_wsctx {
    struct lws_context *lws;
    pthread_mutex_t lock;
    bench_ws *conns;
    lws_sorted_usec_list_t tick_sul;
};

static bool has_output(bench_ws *ws) {
    pthread_mutex_lock(&ws->ctx->lock);
    bool pending = ws->out_head != NULL;
    pthread_mutex_unlock(&ws->ctx->lock);
    return pending;
}

static void on_rx(bench_ws *ws, struct lws *wsi, const void *in, size_t len) {
    if (!ws->rx_failed && ws->rx_len + len > ws->rx_cap) {
        size_t cap = ws->rx_cap ? ws->rx_cap * 2 : 8192;
        while (cap < ws->rx_len + len)
            cap *= 2;
        uint8_t *p = realloc(ws->rx, cap);
        if (p == NULL) {
            fprintf(stderr, "wsclient: out of memory reassembling a message\n");
            ws->rx_failed = true;
        } else {
            ws->rx = p;
            ws->rx_cap = cap;
        }
    }
    if (!ws->rx_failed) {
        memcpy(ws->rx + ws->rx_len, in, len);
        ws->rx_len += len;
    }
    /* The end of a message: its last frame, and no bytes left in it. The
     * next callback starts a new message, whatever its fragment flags say. */
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
        return;
    if (!ws->rx_failed && ws->on_message != NULL)
        ws->on_message(ws->user, ws, ws->rx, ws->rx_len,
                       lws_frame_is_binary(wsi) != 0);
    ws->rx_len = 0;
    ws->rx_failed = false;
}

static int on_writable(bench_ws *ws, struct lws *wsi) {
    pthread_mutex_lock(&ws->ctx->lock);
    out_msg *m = ws->out_head;
    if (m != NULL) {
        ws->out_head = m->next;
        if (ws->out_head == NULL)
            ws->out_tail = NULL;
    }
    bool more = ws->out_head != NULL;
    pthread_mutex_unlock(&ws->ctx->lock);
    if (m == NULL)
        return 0;
    int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    bool ok = n >= 0 && (size_t)n >= m->len;
    free(m);
    if (!ok) {
        fprintf(stderr, "wsclient: write failed\n");
        return -1;
    }
    if (more)
        lws_callback_on_writable(wsi);
    return 0;
}

static void mark_closed(bench_ws *ws) {
    if (ws == NULL)
        return;
    ws->wsi = NULL;
    atomic_store(&ws->closed, true);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len) {
    (void)user;
    bench_ws *ws = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "wsclient: connection failed: %s\n",
                in != NULL ? (const char *)in : "(no reason given)");
        mark_closed(ws);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (ws != NULL) {
            atomic_store(&ws->established, true);
            if (has_output(ws))
                lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (ws != NULL)
            on_rx(ws, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return ws != NULL ? on_writable(ws, wsi) : 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        mark_closed(ws);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        /* Woken by bench_ws_send_text (or bench_wsctx_wake): ask for a
         * writable callback wherever something is queued. */
        bench_wsctx *ctx = lws_context_user(lws_get_context(wsi));
        for (bench_ws *c = ctx->conns; c != NULL; c = c->next)
            if (c->wsi != NULL && atomic_load(&c->established) && has_output(c))
                lws_callback_on_writable(c->wsi);
        return 0;
    }
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"bench-ws", callback, 0, 64 * 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

bench_wsctx *bench_wsctx_create(void) {
    bench_wsctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    pthread_mutex_init(&ctx->lock, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = ctx;
    info.pt_serv_buf_size = 64 * 1024;
    info.fd_limit_per_thread = 64; /* not one slot per possible descriptor */
    info.gid = -1;
    info.uid = -1;
    ctx->lws = lws_create_context(&info);
    if (ctx->lws == NULL) {
        fprintf(stderr, "wsclient: cannot create a libwebsockets context\n");
        pthread_mutex_destroy(&ctx->lock);
        free(ctx);
        return NULL;
    }
    return ctx;
}

void bench_wsctx_destroy(bench_wsctx *ctx) {
    if (ctx == NULL)
        return;
    lws_context_destroy(ctx->lws); /* closes the sockets; callbacks run */
    while (ctx->conns != NULL) {
        bench_ws *ws = ctx->conns;
        ctx->conns = ws->next;
        while (ws->out_head != NULL) {
            out_msg *m = ws->out_head;
            ws->out_head = m->next;
            free(m);
        }
        free(ws->rx);
        free(ws);
    }
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

static void tick_cb(lws_sorted_usec_list_t *sul) {
    (void)sul;
}

void bench_wsctx_service(bench_wsctx *ctx, int max_ms) {
    /* lws_service waits for sockets or the next timer; this timer bounds
     * the wait. */
    lws_sul_schedule(ctx->lws, 0, &ctx->tick_sul, tick_cb,
                     (lws_usec_t)(max_ms > 0 ? max_ms : 1) * LWS_US_PER_MS);
    lws_service(ctx->lws, 0);
}

void bench_wsctx_wake(bench_wsctx *ctx) {
    lws_cancel_service(ctx->lws);
}

bench_ws *bench_ws_connect(bench_wsctx *ctx, const char *host, int port,
                           const char *path, bench_ws_on_message on_message,
                           void *user, int timeout_ms) {
    bench_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return NULL;
    ws->ctx = ctx;
    ws->on_message = on_message;
    ws->user = user;
    atomic_init(&ws->established, false);
    atomic_init(&ws->closed, false);
    ws->next = ctx->conns;
    ctx->conns = ws; /* freed with the context, whatever happens */

    char hostport[128];
    snprintf(hostport, sizeof hostport, "%s:%d", host, port);
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = ctx->lws;
    i.address = host;
    i.port = port;
    i.path = path;
    i.host = hostport;
    i.origin = NULL; /* not a browser: no Origin header */
    i.protocol = NULL;
    i.ietf_version_or_minus_one = -1;
    i.opaque_user_data = ws;
    i.pwsi = &ws->wsi;
    if (lws_client_connect_via_info(&i) == NULL) {
        fprintf(stderr, "wsclient: cannot start connecting to ws://%s%s\n",
                hostport, path);
        mark_closed(ws);
        return NULL;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (atomic_load(&ws->established))
            return ws;
        if (atomic_load(&ws->closed))
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms =
            (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > timeout_ms) {
            fprintf(stderr, "wsclient: ws://%s%s: no connection after %d ms\n",
                    hostport, path, timeout_ms);
            break;
        }
        bench_wsctx_service(ctx, 10);
    }
    return NULL;
}

int bench_ws_send_text(bench_ws *ws, const char *text, size_t len) {
    out_msg *m = malloc(sizeof *m + LWS_PRE + len);
    if (m == NULL)
        return -1;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    pthread_mutex_lock(&ws->ctx->lock);
    bool closed = atomic_load(&ws->closed);
    if (!closed) {
        if (ws->out_tail != NULL)
            ws->out_tail->next = m;
        else
            ws->out_head = m;
        ws->out_tail = m;
    }
    pthread_mutex_unlock(&ws->ctx->lock);
    if (closed) {
        free(m);
        return -1;
    }
    lws_cancel_service(ws->ctx->lws);
    return 0;
}

bool bench_ws_closed(const bench_ws *ws) {
    return atomic_load(&ws->closed);
}
