/* The benchmark WebSocket client, on plain sockets and poll(2).
 *
 * Why not libwebsockets' client: its client parser handles payload one byte
 * at a time (about 20 us of CPU per 4 KiB message here), so a benchmark
 * using it measures the client, not the server. This one receives in bulk
 * and parses frames in place. It implements only what a benchmark needs of
 * RFC 6455: ws:// (no TLS), no extensions, whole-message delivery with
 * fragment reassembly, pings answered, masked text messages out. The
 * handshake uses the RFC's own example key, whose accept value is a
 * published constant, which is fine for a loopback benchmark and would not
 * be for a real client (those must send a random key per connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rill/core.h"
#include "wsclient.h"

#define RX_CAP (4u << 20) /* larger than any message a benchmark receives */
#define MAX_CONNS 16

/* RFC 6455 section 1.3's example. */
static const char example_key[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char example_accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct bench_ws {
    bench_wsctx *ctx;
    int fd;
    atomic_bool closed;
    bench_ws_on_message on_message;
    void *user;
    uint8_t *rx;      /* received bytes not yet parsed: rx[0..rx_len) */
    size_t rx_len;
    uint8_t *frag;    /* a fragmented message being reassembled */
    size_t frag_len, frag_cap;
    bool frag_binary;
    pthread_mutex_t tx_lock; /* any thread appends, the owner sends */
    uint8_t *tx;
    size_t tx_len, tx_cap;
};

struct bench_wsctx {
    int wake_fd;
    bench_ws *conns[MAX_CONNS];
    int n_conns;
};

bench_wsctx *bench_wsctx_create(void) {
    bench_wsctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    ctx->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ctx->wake_fd < 0) {
        free(ctx);
        return NULL;
    }
    return ctx;
}

static void ws_free(bench_ws *ws) {
    if (ws->fd >= 0)
        close(ws->fd);
    pthread_mutex_destroy(&ws->tx_lock);
    free(ws->rx);
    free(ws->frag);
    free(ws->tx);
    free(ws);
}

void bench_wsctx_destroy(bench_wsctx *ctx) {
    if (ctx == NULL)
        return;
    for (int i = 0; i < ctx->n_conns; i++)
        ws_free(ctx->conns[i]);
    close(ctx->wake_fd);
    free(ctx);
}

void bench_wsctx_wake(bench_wsctx *ctx) {
    uint64_t one = 1;
    if (write(ctx->wake_fd, &one, sizeof one) < 0) {
        /* the counter is already non-zero: the owner will wake anyway */
    }
}

static void mark_closed(bench_ws *ws) {
    if (!atomic_exchange(&ws->closed, true) && ws->fd >= 0)
        shutdown(ws->fd, SHUT_RDWR);
}

/* Append one frame (masked, as a client must) to the send buffer. */
static int queue_frame(bench_ws *ws, int opcode, const uint8_t *data,
                       size_t len) {
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int k = 7; k >= 0; k--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * k));
    }
    uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(hdr + h, mask, 4);
    h += 4;
    pthread_mutex_lock(&ws->tx_lock);
    if (ws->tx_len + h + len > ws->tx_cap) {
        size_t cap = (ws->tx_len + h + len) * 2;
        uint8_t *p = realloc(ws->tx, cap);
        if (p == NULL) {
            pthread_mutex_unlock(&ws->tx_lock);
            return -1;
        }
        ws->tx = p;
        ws->tx_cap = cap;
    }
    memcpy(ws->tx + ws->tx_len, hdr, h);
    for (size_t i = 0; i < len; i++)
        ws->tx[ws->tx_len + h + i] = data[i] ^ mask[i & 3];
    ws->tx_len += h + len;
    pthread_mutex_unlock(&ws->tx_lock);
    return 0;
}

int bench_ws_send_text(bench_ws *ws, const char *text, size_t len) {
    if (atomic_load(&ws->closed))
        return -1;
    if (queue_frame(ws, 0x1, (const uint8_t *)text, len) != 0)
        return -1;
    bench_wsctx_wake(ws->ctx);
    return 0;
}

bool bench_ws_closed(const bench_ws *ws) { return atomic_load(&ws->closed); }

/* Parse every complete frame in rx and deliver whole messages. */
static void parse_frames(bench_ws *ws) {
    size_t off = 0;
    for (;;) {
        const uint8_t *p = ws->rx + off;
        size_t avail = ws->rx_len - off;
        if (avail < 2)
            break;
        bool fin = (p[0] & 0x80) != 0;
        int opcode = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (p[1] & 0x80) { /* servers never mask */
            fprintf(stderr, "bench ws: masked frame from the server\n");
            mark_closed(ws);
            return;
        }
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int k = 0; k < 8; k++)
                len = len << 8 | p[2 + k];
            h = 10;
        }
        if (len > RX_CAP - 16) {
            fprintf(stderr, "bench ws: frame of %llu bytes is too large\n",
                    (unsigned long long)len);
            mark_closed(ws);
            return;
        }
        if (avail < h + len)
            break;
        const uint8_t *payload = p + h;
        off += h + (size_t)len;
        if (opcode == 0x8) { /* close */
            mark_closed(ws);
            return;
        }
        if (opcode == 0x9) { /* ping: answer with the same payload */
            queue_frame(ws, 0xA, payload, (size_t)len);
            continue;
        }
        if (opcode == 0xA)
            continue;
        if (opcode != 0x0 && fin) { /* the common case: a whole message */
            ws->on_message(ws->user, ws, payload, (size_t)len, opcode == 0x2);
            continue;
        }
        if (opcode != 0x0) {
            ws->frag_len = 0;
            ws->frag_binary = opcode == 0x2;
        }
        if (ws->frag_len + len > ws->frag_cap) {
            size_t cap = (ws->frag_len + (size_t)len) * 2;
            uint8_t *q = realloc(ws->frag, cap);
            if (q == NULL) {
                mark_closed(ws);
                return;
            }
            ws->frag = q;
            ws->frag_cap = cap;
        }
        memcpy(ws->frag + ws->frag_len, payload, (size_t)len);
        ws->frag_len += (size_t)len;
        if (fin)
            ws->on_message(ws->user, ws, ws->frag, ws->frag_len,
                           ws->frag_binary);
    }
    memmove(ws->rx, ws->rx + off, ws->rx_len - off);
    ws->rx_len -= off;
}

static void on_readable(bench_ws *ws) {
    ssize_t n = recv(ws->fd, ws->rx + ws->rx_len, RX_CAP - ws->rx_len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        mark_closed(ws);
        return;
    }
    ws->rx_len += (size_t)n;
    parse_frames(ws);
}

static void on_writable(bench_ws *ws) {
    pthread_mutex_lock(&ws->tx_lock);
    if (ws->tx_len != 0) {
        ssize_t n = send(ws->fd, ws->tx, ws->tx_len, MSG_NOSIGNAL);
        if (n > 0) {
            memmove(ws->tx, ws->tx + n, ws->tx_len - (size_t)n);
            ws->tx_len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            pthread_mutex_unlock(&ws->tx_lock);
            mark_closed(ws);
            return;
        }
    }
    pthread_mutex_unlock(&ws->tx_lock);
}

void bench_wsctx_service(bench_wsctx *ctx, int max_ms) {
    struct pollfd fds[MAX_CONNS + 1];
    int n = 0;
    for (int i = 0; i < ctx->n_conns; i++) {
        bench_ws *ws = ctx->conns[i];
        pthread_mutex_lock(&ws->tx_lock);
        bool out = ws->tx_len != 0;
        pthread_mutex_unlock(&ws->tx_lock);
        fds[n].fd = atomic_load(&ws->closed) ? -1 : ws->fd;
        fds[n].events = (short)(POLLIN | (out ? POLLOUT : 0));
        fds[n].revents = 0;
        n++;
    }
    fds[n].fd = ctx->wake_fd;
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    if (poll(fds, (nfds_t)n + 1, max_ms) <= 0)
        return;
    if (fds[n].revents & POLLIN) {
        uint64_t v;
        if (read(ctx->wake_fd, &v, sizeof v) < 0) {
            /* nothing to drain */
        }
    }
    for (int i = 0; i < n; i++) {
        bench_ws *ws = ctx->conns[i];
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            on_readable(ws);
        if (!atomic_load(&ws->closed))
            on_writable(ws); /* also sends what send_text queued */
    }
}

/* Blocking connect with a deadline, then the HTTP upgrade. */
static int open_socket(const char *host, int port, int timeout_ms) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

bench_ws *bench_ws_connect(bench_wsctx *ctx, const char *host, int port,
                           const char *path, bench_ws_on_message on_message,
                           void *user, int timeout_ms) {
    if (ctx->n_conns == MAX_CONNS)
        return NULL;
    int fd = open_socket(host, port, timeout_ms);
    if (fd < 0) {
        fprintf(stderr, "bench ws: cannot connect to %s:%d\n", host, port);
        return NULL;
    }
    char req[512];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       path, host, port, example_key);
    bench_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL || send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        free(ws);
        close(fd);
        return NULL;
    }
    ws->ctx = ctx;
    ws->fd = fd;
    ws->on_message = on_message;
    ws->user = user;
    pthread_mutex_init(&ws->tx_lock, NULL);
    ws->rx = malloc(RX_CAP);
    if (ws->rx == NULL) {
        ws_free(ws);
        return NULL;
    }
    /* Read the response headers; anything after them is frames. */
    char *end = NULL;
    while (end == NULL) {
        ssize_t n = recv(fd, ws->rx + ws->rx_len, RX_CAP - 1 - ws->rx_len, 0);
        if (n <= 0) {
            fprintf(stderr, "bench ws: no handshake answer from %s:%d%s\n",
                    host, port, path);
            ws_free(ws);
            return NULL;
        }
        ws->rx_len += (size_t)n;
        ws->rx[ws->rx_len] = 0;
        end = strstr((char *)ws->rx, "\r\n\r\n");
    }
    size_t head = (size_t)(end + 4 - (char *)ws->rx);
    if (strncmp((char *)ws->rx, "HTTP/1.1 101", 12) != 0 ||
        strstr((char *)ws->rx, example_accept) == NULL) {
        fprintf(stderr, "bench ws: upgrade refused: %.*s\n", (int)head,
                (char *)ws->rx);
        ws_free(ws);
        return NULL;
    }
    memmove(ws->rx, ws->rx + head, ws->rx_len - head);
    ws->rx_len -= head;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ctx->conns[ctx->n_conns++] = ws;
    parse_frames(ws); /* frames that came with the response */
    return ws;
}
