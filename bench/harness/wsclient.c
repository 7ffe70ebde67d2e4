/* The benchmark WebSocket client: a thin layer over rill's own client
 * transport (src/client/ws.c), so that the benchmark measures the client code
 * users get, and several connections share one servicing thread. */
#include <stdio.h>
#include <stdlib.h>

#include "client/ws.h"
#include "rill/core.h"
#include "wsclient.h"

#define MAX_CONNS 16

struct bench_ws {
    rill__ws *ws;
    bench_ws_on_message on_message;
    void *user;
};

struct bench_wsctx {
    bench_ws conns[MAX_CONNS];
    rill__ws *list[MAX_CONNS];
    int n_conns;
};

bench_wsctx *bench_wsctx_create(void) {
    return calloc(1, sizeof(bench_wsctx));
}

void bench_wsctx_destroy(bench_wsctx *ctx) {
    if (ctx == NULL)
        return;
    for (int i = 0; i < ctx->n_conns; i++)
        rill__ws_close(ctx->conns[i].ws);
    free(ctx);
}

void bench_wsctx_wake(bench_wsctx *ctx) {
    if (ctx->n_conns > 0)
        rill__ws_wake(ctx->conns[0].ws);
}

static void dispatch(void *user, rill__ws *ws, const uint8_t *data,
                     size_t len, bool binary) {
    bench_wsctx *ctx = user;
    for (int i = 0; i < ctx->n_conns; i++)
        if (ctx->conns[i].ws == ws)
            ctx->conns[i].on_message(ctx->conns[i].user, &ctx->conns[i], data,
                                     len, binary);
}

void bench_wsctx_service(bench_wsctx *ctx, int max_ms) {
    if (ctx->n_conns == 0)
        return;
    rill__ws_poll(ctx->list, (size_t)ctx->n_conns, max_ms, 0, dispatch, ctx);
}

bench_ws *bench_ws_connect(bench_wsctx *ctx, const char *host, int port,
                           const char *path, bench_ws_on_message on_message,
                           void *user, int timeout_ms) {
    if (ctx->n_conns == MAX_CONNS)
        return NULL;
    char err[256];
    rill__ws *ws = NULL;
    int rc = rill__ws_connect(host, port, path, timeout_ms, &ws, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench ws: %s\n", err);
        return NULL;
    }
    bench_ws *b = &ctx->conns[ctx->n_conns];
    b->ws = ws;
    b->on_message = on_message;
    b->user = user;
    ctx->list[ctx->n_conns++] = ws;
    return b;
}

int bench_ws_send_text(bench_ws *ws, const char *text, size_t len) {
    return rill__ws_send(ws->ws, false, text, len) == 0 ? 0 : -1;
}

bool bench_ws_closed(const bench_ws *ws) { return rill__ws_closed(ws->ws); }
