/* The WebSocket client transport. See ws.h for why it is not
 * libwebsockets' client; the SHA-1 and base64 of the handshake are
 * libwebsockets' exported helpers. */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "client/ws.h"

/* The largest message accepted; rill's own are far smaller. */
#define RILL__WS_MAX_MESSAGE (64u << 20)
#define RILL__WS_READ_CHUNK (256u << 10)

struct rill__ws {
    int fd;
    int wake_fd;
    atomic_bool closed;
    char error[160];
    uint8_t *rx; /* bytes received and not yet parsed */
    size_t rx_len, rx_cap;
    bool unparsed; /* frames came with the handshake answer */
    uint8_t *frag; /* a fragmented message being reassembled */
    size_t frag_len, frag_cap;
    bool frag_binary, in_fragment;
    pthread_mutex_t tx_lock;
    uint8_t *tx; /* framed bytes; [tx_off, tx_len) not yet sent */
    size_t tx_off, tx_len, tx_cap;
    uint64_t mask_state;
    uint64_t rx_ns; /* owner: when bytes last arrived (liveness) */
    bool opening;   /* tx_lock: rill__ws_reopen's handshake runs; sends
                       are refused */
};

static void fail(rill__ws *ws, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(rill__ws *ws, const char *fmt, ...) {
    if (atomic_exchange(&ws->closed, true))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ws->error, sizeof ws->error, fmt, ap);
    va_end(ap);
}

bool rill__ws_closed(const rill__ws *ws) { return atomic_load(&ws->closed); }

const char *rill__ws_error(const rill__ws *ws) { return ws->error; }

static int reserve(uint8_t **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    size_t n = RILL__MAX(*cap * 2, need);
    uint8_t *p = rill__realloc(*buf, n);
    if (p == NULL)
        return RILL_ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

/* RFC 6455 asks for unpredictable masking keys: xorshift seeded from the
 * kernel's random source. */
static uint32_t next_mask(rill__ws *ws) {
    uint64_t x = ws->mask_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ws->mask_state = x;
    return (uint32_t)(x >> 16);
}

/* XOR `n` bytes of `src` into `dst` with the 4-byte mask, starting at mask
 * phase 0: eight bytes at a time, then the rest. */
static void mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
                      const uint8_t mask[4]) {
    uint64_t m8;
    uint8_t m[8] = {mask[0], mask[1], mask[2], mask[3],
                    mask[0], mask[1], mask[2], mask[3]};
    memcpy(&m8, m, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= m8;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[i & 3];
}

/* Append one masked frame whose payload is the `n` parts concatenated;
 * tx_lock held. */
static int frame(rill__ws *ws, int opcode, const rill__ws_part *parts,
                 size_t n) {
    size_t len = 0;
    for (size_t k = 0; k < n; k++)
        len += parts[k].len;
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
    uint32_t m = next_mask(ws);
    uint8_t mask[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16),
                       (uint8_t)(m >> 24)};
    memcpy(hdr + h, mask, 4);
    h += 4;
    if (ws->tx_off != 0 && ws->tx_len + h + len > ws->tx_cap) {
        /* What was sent makes room: the unsent rest moves to the front. */
        memmove(ws->tx, ws->tx + ws->tx_off, ws->tx_len - ws->tx_off);
        ws->tx_len -= ws->tx_off;
        ws->tx_off = 0;
    }
    if (reserve(&ws->tx, &ws->tx_cap, ws->tx_len + h + len) != 0)
        return RILL_ENOMEM;
    uint8_t *p = ws->tx + ws->tx_len;
    memcpy(p, hdr, h);
    p += h;
    size_t phase = 0;
    for (size_t k = 0; k < n; k++) {
        const uint8_t *src = parts[k].data;
        size_t l = parts[k].len, j = 0;
        /* Bring the part to mask phase 0, then whole words. */
        for (; j < l && ((phase + j) & 3) != 0; j++)
            p[j] = src[j] ^ mask[(phase + j) & 3];
        mask_copy(p + j, src + j, l - j, mask);
        p += l;
        phase += l;
    }
    ws->tx_len += h + len;
    return 0;
}

/* The connection whose messages this thread is delivering now (in
 * rill__ws_poll): sending on it needs no wake-up, the poll flushes it. */
static _Thread_local const rill__ws *tl_delivering;

void rill__ws_wake(rill__ws *ws) {
    uint64_t one = 1;
    if (write(ws->wake_fd, &one, sizeof one) < 0) {
        /* the counter is non-zero already: the owner wakes anyway */
    }
}

/* Send what is queued, without waiting, from any thread holding tx_lock;
 * stops at a full socket or an error, leaving both to the owner (its
 * flush reports the error). */
static void send_now(rill__ws *ws) {
    while (ws->tx_off != ws->tx_len) {
        ssize_t n = send(ws->fd, ws->tx + ws->tx_off, ws->tx_len - ws->tx_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        ws->tx_off += (size_t)n;
    }
    ws->tx_off = ws->tx_len = 0;
}

int rill__ws_sendv_bounded(rill__ws *ws, bool binary,
                           const rill__ws_part *parts, size_t n,
                           size_t limit) {
    size_t len = 14;
    for (size_t k = 0; k < n; k++)
        len += parts[k].len;
    /* `closed` is checked under tx_lock: rill__ws_reopen empties the queue
     * under it, and nothing framed for the old connection may follow. */
    pthread_mutex_lock(&ws->tx_lock);
    size_t queued = ws->tx_len - ws->tx_off;
    /* Only the frame that finds the queue empty is sent now or wakes the
     * owner: frames queued behind it are sent by the same flush (it sends
     * until the queue is empty, or the socket is full and it polls for
     * POLLOUT). A wake per frame cost a system call and a context switch
     * each (pybela's round trip sends 100 buffers at once). */
    bool was_empty = queued == 0;
    /* An empty queue takes any message, so a small limit cannot make a
     * large one impossible to send. */
    int rc = atomic_load(&ws->closed) || ws->opening ? RILL_ECLOSED
             : limit != 0 && queued != 0 && queued + len > limit
                 ? RILL_EFULL
                 : frame(ws, binary ? 0x2 : 0x1, parts, n);
    /* Write-through: a frame that finds the queue empty goes out from this
     * thread at once, when the socket takes it whole, instead of waking
     * the owner to send it (a thread woken on another core runs tens to
     * hundreds of microseconds later: pybela's round trip, whose poll
     * thread answers each buffer, paid that twice per buffer). Only what
     * is left (a full socket, an error, which the owner then reports)
     * wakes the owner. */
    bool wake = false;
    if (rc == 0 && was_empty && tl_delivering != ws) {
        send_now(ws);
        wake = ws->tx_off != ws->tx_len;
    }
    pthread_mutex_unlock(&ws->tx_lock);
    if (wake)
        rill__ws_wake(ws);
    return rc;
}

int rill__ws_sendv(rill__ws *ws, bool binary, const rill__ws_part *parts,
                   size_t n) {
    return rill__ws_sendv_bounded(ws, binary, parts, n, 0);
}

int rill__ws_send(rill__ws *ws, bool binary, const void *data, size_t len) {
    rill__ws_part part = {data, len};
    return rill__ws_sendv(ws, binary, &part, 1);
}

static void flush(rill__ws *ws) {
    pthread_mutex_lock(&ws->tx_lock);
    while (ws->tx_off != ws->tx_len) {
        ssize_t n = send(ws->fd, ws->tx + ws->tx_off, ws->tx_len - ws->tx_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                fail(ws, "sending failed: %s", strerror(errno));
            break;
        }
        ws->tx_off += (size_t)n;
    }
    if (ws->tx_off == ws->tx_len)
        ws->tx_off = ws->tx_len = 0;
    pthread_mutex_unlock(&ws->tx_lock);
}

static void deliver(rill__ws *ws, int opcode, bool fin, const uint8_t *payload,
                    size_t len, rill__ws_msg_fn fn, void *user) {
    if (opcode == 0x8) {
        unsigned code = len >= 2 ? (unsigned)payload[0] << 8 | payload[1] : 1005;
        fail(ws, "the server closed the connection (code %u%s%.*s)", code,
             len > 2 ? ": " : "", len > 2 ? (int)RILL__MIN(len - 2, 100) : 0,
             len > 2 ? (const char *)payload + 2 : "");
        return;
    }
    if (opcode == 0x9) { /* ping: pong with the same payload */
        rill__ws_part pong = {payload, len};
        pthread_mutex_lock(&ws->tx_lock);
        frame(ws, 0xA, &pong, 1);
        pthread_mutex_unlock(&ws->tx_lock);
        return;
    }
    if (opcode == 0xA)
        return;
    if (opcode == 0x0 && !ws->in_fragment) {
        fail(ws, "protocol error: a continuation frame with no message");
        return;
    }
    if (opcode != 0x0 && ws->in_fragment) {
        fail(ws, "protocol error: a new message inside a fragmented one");
        return;
    }
    if (opcode != 0x0 && fin) { /* the common case: one frame, one message */
        fn(user, ws, payload, len, opcode == 0x2);
        return;
    }
    if (opcode != 0x0) {
        ws->in_fragment = true;
        ws->frag_len = 0;
        ws->frag_binary = opcode == 0x2;
    }
    if (ws->frag_len + len > RILL__WS_MAX_MESSAGE ||
        reserve(&ws->frag, &ws->frag_cap, ws->frag_len + len) != 0) {
        fail(ws, "a message over %u bytes (or out of memory)",
             RILL__WS_MAX_MESSAGE);
        return;
    }
    memcpy(ws->frag + ws->frag_len, payload, len);
    ws->frag_len += len;
    if (fin) {
        ws->in_fragment = false;
        fn(user, ws, ws->frag, ws->frag_len, ws->frag_binary);
    }
}

/* Parse every complete frame received so far. */
static void parse(rill__ws *ws, rill__ws_msg_fn fn, void *user) {
    size_t off = 0;
    while (!atomic_load(&ws->closed)) {
        const uint8_t *p = ws->rx + off;
        size_t avail = ws->rx_len - off;
        if (avail < 2)
            break;
        if (p[0] & 0x70) {
            fail(ws, "protocol error: reserved bits set (no extension was "
                     "negotiated)");
            return;
        }
        if (p[1] & 0x80) {
            fail(ws, "protocol error: the server masked a frame");
            return;
        }
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
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
        if (len > RILL__WS_MAX_MESSAGE) {
            fail(ws, "a frame of %llu bytes, over the limit of %u",
                 (unsigned long long)len, RILL__WS_MAX_MESSAGE);
            return;
        }
        if (avail < h + len) {
            if (reserve(&ws->rx, &ws->rx_cap, off + h + (size_t)len) != 0)
                fail(ws, "out of memory for a %llu-byte frame",
                     (unsigned long long)len);
            break;
        }
        off += h + (size_t)len;
        deliver(ws, p[0] & 0x0f, (p[0] & 0x80) != 0, p + h, (size_t)len, fn,
                user);
    }
    memmove(ws->rx, ws->rx + off, ws->rx_len - off);
    ws->rx_len -= off;
}

static void on_readable(rill__ws *ws, rill__ws_msg_fn fn, void *user) {
    for (;;) {
        if (reserve(&ws->rx, &ws->rx_cap, ws->rx_len + RILL__WS_READ_CHUNK) != 0) {
            fail(ws, "out of memory receiving");
            return;
        }
        ssize_t n = recv(ws->fd, ws->rx + ws->rx_len, ws->rx_cap - ws->rx_len, 0);
        if (n == 0) {
            fail(ws, "the server hung up without a close frame");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                fail(ws, "receiving failed: %s", strerror(errno));
            return;
        }
        ws->rx_len += (size_t)n;
        ws->rx_ns = rill_clock_now_ns();
        parse(ws, fn, user);
        if ((size_t)n < RILL__WS_READ_CHUNK || atomic_load(&ws->closed))
            return;
        /* More is waiting: what the callbacks or other threads queued
         * meanwhile (a command, a buffer sent back) goes out first rather
         * than behind the whole backlog. */
        flush(ws);
    }
}

/* Wait for the descriptors as poll(2) does, but first, while bytes came
 * within the last busy_ns (at `last`), look without sleeping: a thread
 * that sleeps is woken when bytes arrive up to hundreds of microseconds
 * late on a virtual machine (its vCPU must be woken first), one that keeps
 * looking takes them at once. No yielding between looks: a yield lets the
 * core go to other threads, and the wake-up it costs is what is avoided. */
static int wait_fds(struct pollfd *fds, nfds_t nfds, int timeout_ms,
                    uint64_t busy_ns, uint64_t last) {
    if (busy_ns != 0) {
        while (rill_clock_now_ns() - last < busy_ns) {
            int rc = poll(fds, nfds, 0);
            if (rc != 0)
                return rc;
        }
    }
    return poll(fds, nfds, timeout_ms);
}

int rill__ws_poll(rill__ws *const *ws, size_t n, int timeout_ms,
                  uint64_t busy_ns, rill__ws_msg_fn fn, void *user) {
    struct pollfd fds[32];
    if (n == 0 || n > 16)
        return RILL_EINVAL;
    /* Frames that arrived with the handshake answer, before any waiting. */
    for (size_t i = 0; i < n; i++) {
        if (ws[i]->unparsed) {
            ws[i]->unparsed = false;
            parse(ws[i], fn, user);
            timeout_ms = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&ws[i]->tx_lock);
        bool out = ws[i]->tx_len != ws[i]->tx_off;
        pthread_mutex_unlock(&ws[i]->tx_lock);
        fds[2 * i].fd = atomic_load(&ws[i]->closed) ? -1 : ws[i]->fd;
        fds[2 * i].events = (short)(POLLIN | (out ? POLLOUT : 0));
        fds[2 * i + 1].fd = ws[i]->wake_fd;
        fds[2 * i + 1].events = POLLIN;
        fds[2 * i].revents = fds[2 * i + 1].revents = 0;
    }
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++)
        last = RILL__MAX(last, ws[i]->rx_ns);
    int rc = wait_fds(fds, (nfds_t)(2 * n), timeout_ms, busy_ns, last);
    if (rc < 0 && errno != EINTR)
        return RILL_ESYS;
    int result = 0;
    for (size_t i = 0; i < n; i++) {
        if (fds[2 * i + 1].revents & POLLIN) {
            uint64_t v;
            if (read(ws[i]->wake_fd, &v, sizeof v) < 0) {
                /* nothing to drain */
            }
        }
        if (!atomic_load(&ws[i]->closed) &&
            (fds[2 * i].revents & (POLLIN | POLLHUP | POLLERR))) {
            tl_delivering = ws[i];
            on_readable(ws[i], fn, user);
            tl_delivering = NULL;
        }
        if (!atomic_load(&ws[i]->closed))
            flush(ws[i]);
        if (atomic_load(&ws[i]->closed) && result == 0)
            result = strstr(ws[i]->error, "protocol error") ? RILL_EPROTO
                                                            : RILL_ECLOSED;
    }
    return result;
}

/* ---- Opening handshake ------------------------------------------------------ */

static int dial(const char *host, int port, int timeout_ms, int *out,
                char *err, size_t cap) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        rill__set_err(err, cap, "cannot resolve %s: %s", host, gai_strerror(gai));
        return RILL_EIO;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = 0;
    if (fd < 0) {
        rill__set_err(err, cap, "socket: %s", strerror(errno));
        rc = RILL_EIO;
    } else if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 &&
               errno != EINPROGRESS) {
        rc = errno == ECONNREFUSED ? RILL_EREFUSED : RILL_EIO;
    } else {
        struct pollfd p = {fd, POLLOUT, 0};
        int so = 0;
        socklen_t len = sizeof so;
        if (poll(&p, 1, timeout_ms) == 0) {
            rill__set_err(err, cap,
                          "no answer from %s:%d within %d ms (is the address "
                          "right and the server up?)",
                          host, port, timeout_ms);
            rc = RILL_ETIMEOUT;
        } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) != 0 ||
                   so != 0) {
            errno = so;
            rc = so == ECONNREFUSED ? RILL_EREFUSED : RILL_EIO;
        }
    }
    if (rc == RILL_EREFUSED)
        rill__set_err(err, cap,
                      "connection to %s:%d refused: no server listens there "
                      "(start the device program or 'rill serve', or check the "
                      "address and port)",
                      host, port);
    else if (rc == RILL_EIO && fd >= 0)
        rill__set_err(err, cap, "cannot connect to %s:%d: %s", host, port,
                      strerror(errno));
    freeaddrinfo(res);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return 0;
}

/* The value of header `name` in `head` (case-insensitive), copied to out. */
static bool header(const char *head, const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            snprintf(out, cap, "%.*s", (int)RILL__MIN(len, cap - 1), v);
            return true;
        }
    }
    return false;
}

static int handshake(rill__ws *ws, const char *host, int port,
                     const char *target, int timeout_ms, char *err,
                     size_t cap) {
    uint8_t nonce[16];
    if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce ||
        getrandom(&ws->mask_state, sizeof ws->mask_state, 0) !=
            (ssize_t)sizeof ws->mask_state) {
        rill__set_err(err, cap, "no random bytes for the handshake: %s",
                      strerror(errno));
        return RILL_ESYS;
    }
    ws->mask_state |= 1;
    char key[32], accept[64], expect[64];
    lws_b64_encode_string((const char *)nonce, (int)sizeof nonce, key,
                          (int)sizeof key);
    char req[1024];
    bool v6 = strchr(host, ':') != NULL; /* an IPv6 address: in brackets */
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       target, v6 ? "[" : "", host, v6 ? "]" : "", port, key);
    if (len < 0 || (size_t)len >= sizeof req) {
        rill__set_err(err, cap, "the request target is too long");
        return RILL_EINVAL;
    }
    pthread_mutex_lock(&ws->tx_lock);
    int rc = reserve(&ws->tx, &ws->tx_cap, (size_t)len);
    if (rc == 0) {
        memcpy(ws->tx, req, (size_t)len);
        ws->tx_off = 0;
        ws->tx_len = (size_t)len;
    }
    pthread_mutex_unlock(&ws->tx_lock);
    if (rc != 0)
        return rc;
    /* Send the request and read the answer's head, within the deadline. */
    uint64_t deadline = rill_clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    char *end = NULL;
    while (end == NULL) {
        flush(ws);
        uint64_t now = rill_clock_now_ns();
        if (now >= deadline || atomic_load(&ws->closed)) {
            rill__set_err(err, cap,
                          "%s:%d accepted the connection but did not answer "
                          "the WebSocket handshake within %d ms",
                          host, port, timeout_ms);
            return RILL_ETIMEOUT;
        }
        struct pollfd p = {ws->fd, POLLIN, 0};
        if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
            continue;
        if (reserve(&ws->rx, &ws->rx_cap, ws->rx_len + 4097) != 0)
            return RILL_ENOMEM;
        ssize_t n = recv(ws->fd, ws->rx + ws->rx_len, 4096, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            rill__set_err(err, cap,
                          "%s:%d closed the connection during the handshake "
                          "(is it a WebSocket server?)",
                          host, port);
            return RILL_EPROTO;
        }
        ws->rx_len += (size_t)n;
        ws->rx[ws->rx_len] = 0;
        end = strstr((char *)ws->rx, "\r\n\r\n");
        if (end == NULL && ws->rx_len > 16384) {
            rill__set_err(err, cap, "%s:%d sent an over-long answer", host, port);
            return RILL_EPROTO;
        }
    }
    *end = 0;
    const char *head = (const char *)ws->rx;
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        rill__set_err(err, cap, "%s:%d is not an HTTP server", host, port);
        return RILL_EPROTO;
    }
    if (status != 101) {
        /* The body's first line when it is a reason in words (rill serve's
         * 503 and 401 say what to do); not an HTML page's first tag. */
        const char *body = end + 4;
        size_t body_len = ws->rx_len - (size_t)(body - head);
        if (body_len != 0 && body[0] == '<')
            body_len = 0;
        rill__set_err(err, cap, "%s:%d refused %s with HTTP %d%s%.*s", host,
                      port, target, status, body_len ? ": " : "",
                      body_len ? (int)RILL__MIN(strcspn(body, "\r\n"), 200) : 0, body);
        return status == 401 || status == 403 ? RILL_EAUTH
               : status == 404               ? RILL_ENOTFOUND
                                             : RILL_EPROTO;
    }
    /* The accept value proves the server read our key (RFC 6455 4.1). */
    char both[96];
    unsigned char sha[20];
    snprintf(both, sizeof both, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    lws_SHA1((const unsigned char *)both, strlen(both), sha);
    lws_b64_encode_string((const char *)sha, 20, expect, (int)sizeof expect);
    if (!header(head, "Sec-WebSocket-Accept", accept, sizeof accept) ||
        strcmp(accept, expect) != 0) {
        rill__set_err(err, cap,
                      "%s:%d answered the handshake with a wrong "
                      "Sec-WebSocket-Accept (a proxy in the way?)",
                      host, port);
        return RILL_EPROTO;
    }
    size_t used = (size_t)(end + 4 - head);
    memmove(ws->rx, ws->rx + used, ws->rx_len - used);
    ws->rx_len -= used;
    ws->unparsed = ws->rx_len != 0;
    ws->rx_ns = rill_clock_now_ns();
    return 0;
}

int rill__ws_connect(const char *host, int port, const char *target,
                     int timeout_ms, rill__ws **out, char *err, size_t cap) {
    if (host == NULL || target == NULL || out == NULL || target[0] != '/' ||
        port <= 0 || port > 65535 || timeout_ms <= 0) {
        rill__set_err(err, cap, "invalid arguments");
        return RILL_EINVAL;
    }
    *out = NULL;
    rill__ws *ws = rill__calloc(1, sizeof *ws);
    if (ws == NULL)
        return RILL_ENOMEM;
    ws->fd = -1;
    ws->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&ws->tx_lock, NULL);
    atomic_init(&ws->closed, false);
    int rc = ws->wake_fd < 0 ? RILL_ESYS : 0;
    if (rc == 0)
        rc = dial(host, port, timeout_ms, &ws->fd, err, cap);
    if (rc == 0)
        rc = handshake(ws, host, port, target, timeout_ms, err, cap);
    if (rc != 0) {
        if (rc == RILL_ENOMEM)
            rill__set_err(err, cap, "out of memory");
        rill__ws_close(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

void rill__ws_close(rill__ws *ws) {
    if (ws == NULL)
        return;
    if (ws->fd >= 0 && !atomic_load(&ws->closed)) {
        static const uint8_t going_away[2] = {0x03, 0xE9}; /* 1001 */
        rill__ws_part close_frame = {going_away, sizeof going_away};
        pthread_mutex_lock(&ws->tx_lock);
        frame(ws, 0x8, &close_frame, 1);
        pthread_mutex_unlock(&ws->tx_lock);
        flush(ws);
    }
    if (ws->fd >= 0)
        close(ws->fd);
    if (ws->wake_fd >= 0)
        close(ws->wake_fd);
    pthread_mutex_destroy(&ws->tx_lock);
    rill__free(ws->rx);
    rill__free(ws->frag);
    rill__free(ws->tx);
    rill__free(ws);
}

/* ---- Liveness and reconnecting (the client's reconnect.c) ------------ */

uint64_t rill__ws_rx_ns(const rill__ws *ws) {
    return ws->rx_ns;
}

int rill__ws_ping(rill__ws *ws) {
    static const uint8_t payload[4] = {'r', 'i', 'l', 'l'};
    rill__ws_part part = {payload, sizeof payload};
    pthread_mutex_lock(&ws->tx_lock);
    int rc = atomic_load(&ws->closed) ? RILL_ECLOSED : frame(ws, 0x9, &part, 1);
    pthread_mutex_unlock(&ws->tx_lock);
    return rc;
}

void rill__ws_abort(rill__ws *ws, const char *why) {
    fail(ws, "%s", why);
}

/* The same object on a new socket: other threads may hold the pointer, and
 * their sends fail with RILL_ECLOSED until the handshake is done. Nothing
 * queued for the old connection is sent on the new one. */
int rill__ws_reopen(rill__ws *ws, const char *host, int port,
                    const char *target, int timeout_ms, char *err, size_t cap) {
    if (host == NULL || target == NULL || target[0] != '/' || port <= 0 ||
        port > 65535 || timeout_ms <= 0) {
        rill__set_err(err, cap, "invalid arguments");
        return RILL_EINVAL;
    }
    pthread_mutex_lock(&ws->tx_lock);
    atomic_store(&ws->closed, true);
    ws->tx_off = ws->tx_len = 0;
    pthread_mutex_unlock(&ws->tx_lock);
    if (ws->fd >= 0)
        close(ws->fd);
    ws->fd = -1;
    ws->rx_len = 0;
    ws->unparsed = false;
    ws->in_fragment = false;
    ws->frag_len = 0;
    int rc = dial(host, port, timeout_ms, &ws->fd, err, cap);
    if (rc == 0) {
        /* Open for the handshake's own bytes (flush and its failures),
         * still closed to other threads' sends. */
        pthread_mutex_lock(&ws->tx_lock);
        ws->opening = true;
        ws->error[0] = '\0';
        atomic_store(&ws->closed, false);
        pthread_mutex_unlock(&ws->tx_lock);
        rc = handshake(ws, host, port, target, timeout_ms, err, cap);
    }
    pthread_mutex_lock(&ws->tx_lock);
    ws->opening = false;
    if (rc != 0) {
        atomic_store(&ws->closed, true);
        ws->tx_off = ws->tx_len = 0;
    }
    pthread_mutex_unlock(&ws->tx_lock);
    if (rc != 0) {
        if (rc == RILL_ENOMEM)
            rill__set_err(err, cap, "out of memory");
        if (ws->fd >= 0)
            close(ws->fd);
        ws->fd = -1;
        snprintf(ws->error, sizeof ws->error, "%s",
                 err != NULL && cap != 0 ? err : "cannot connect");
    }
    return rc;
}
