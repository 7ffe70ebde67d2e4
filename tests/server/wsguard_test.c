/* The unmasked-frame guard (src/server/wsguard.c) in servers the library
 * makes, however the library is linked: statically (as `rill serve` and
 * these tests are), and loaded with dlopen(RTLD_LOCAL) the way Python's
 * ctypes loads librill.so, where no symbol of rill's is visible to
 * libwebsockets. Each case: a masked list command is answered, then an
 * unmasked one closes the connection with 1002 and is not answered. The
 * frame-by-frame cases run against `rill serve` in tests/e2e/test_masking.py.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct server_api {
    rill_server_config (*config_default)(void);
    int (*create)(const rill_server_config *cfg, rill_server **out);
    int (*port)(const rill_server *srv);
    void (*destroy)(rill_server *srv);
} server_api;

static const char LIST[] = "{\"watcher\":[{\"cmd\":\"list\"}]}";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends what arrives on fd to buf until `done` holds or the peer closes;
 * returns 1 when closed, 0 when done, -1 after `timeout` seconds. */
static int read_more(int fd, uint8_t *buf, size_t cap, size_t *len,
                     bool (*done)(const uint8_t *, size_t), double timeout) {
    double end = now_s() + timeout;
    while (done == NULL || !done(buf, *len)) {
        double left = end - now_s();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        ssize_t n = recv(fd, buf + *len, cap - *len, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return -1;
        *len += (size_t)n;
        if (*len == cap)
            return -1;
    }
    return 0;
}

static bool has_end_of_head(const uint8_t *b, size_t n) {
    return memmem(b, n, "\r\n\r\n", 4) != NULL;
}

static bool has_list_answer(const uint8_t *b, size_t n) {
    return memmem(b, n, "\"watchers\"", 10) != NULL;
}

/* The status of the first close frame among the server's frames in b, or
 * -1. Server frames are not masked and short here. */
static int close_status(const uint8_t *b, size_t n) {
    size_t i = 0;
    while (i + 2 <= n) {
        uint8_t op = b[i] & 0x0f;
        size_t len = b[i + 1] & 0x7f, hdr = 2;
        if (len == 126 && i + 4 <= n) {
            len = (size_t)b[i + 2] << 8 | b[i + 3];
            hdr = 4;
        } else if (len == 127) {
            return -1;
        }
        if (op == 0x8 && len >= 2 && i + hdr + 2 <= n)
            return b[i + hdr] << 8 | b[i + hdr + 1];
        i += hdr + len;
    }
    return -1;
}

static void send_text(int fd, const char *text, bool masked) {
    uint8_t f[128];
    size_t n = strlen(text), k = 0;
    ASSERT_TRUE(n < 126);
    f[k++] = 0x81;
    f[k++] = (uint8_t)((masked ? 0x80 : 0) | n);
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (masked) {
        memcpy(f + k, key, 4);
        k += 4;
    }
    for (size_t i = 0; i < n; i++)
        f[k++] = (uint8_t)(text[i] ^ (masked ? key[i % 4] : 0));
    ASSERT_EQ_INT((int)send(fd, f, k, 0), (int)k);
}

static void masked_then_unmasked(const server_api *api) {
    rill_server_config cfg = api->config_default();
    cfg.port = 0;
    cfg.log_dir = "/tmp";
    cfg.out_ring_bytes = 1 << 16;
    cfg.log_ring_bytes = 1 << 16;
    rill_server *srv = NULL;
    ASSERT_OK(api->create(&cfg, &srv));

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)api->port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(connect(fd, (struct sockaddr *)&a, sizeof a));
    char req[256];
    int rn = snprintf(req, sizeof req,
                      "GET /gui_control HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n",
                      api->port(srv));
    ASSERT_EQ_INT((int)send(fd, req, (size_t)rn, 0), rn);
    static uint8_t buf[1 << 16];
    size_t len = 0;
    ASSERT_EQ_INT(read_more(fd, buf, sizeof buf, &len, has_end_of_head, 10), 0);
    ASSERT_TRUE(memcmp(buf, "HTTP/1.1 101", 12) == 0);
    size_t head =
        (size_t)((uint8_t *)memmem(buf, len, "\r\n\r\n", 4) - buf) + 4;
    memmove(buf, buf + head, len - head);
    len -= head;

    send_text(fd, LIST, true);
    ASSERT_EQ_INT(read_more(fd, buf, sizeof buf, &len, has_list_answer, 10), 0);
    len = 0;
    send_text(fd, LIST, false);
    int closed = read_more(fd, buf, sizeof buf, &len, NULL, 10);
    if (closed != 1)
        FAIL("the connection is still open 10 s after an unmasked frame");
    if (has_list_answer(buf, len))
        FAIL("an unmasked list command was answered");
    ASSERT_EQ_INT(close_status(buf, len), 1002);
    close(fd);
    api->destroy(srv);
}

TEST(an_unmasked_frame_closes_the_connection_of_a_statically_linked_server) {
    server_api api = {rill_server_config_default, rill_server_create,
                      rill_server_port, rill_server_destroy};
    masked_then_unmasked(&api);
}

TEST(an_unmasked_frame_closes_the_connection_of_a_library_loaded_like_ctypes) {
    void *lib = dlopen(RILL_TEST_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        FAIL("cannot load %s: %s", RILL_TEST_SHARED_LIB, dlerror());
    server_api api;
    *(void **)&api.config_default = dlsym(lib, "rill_server_config_default");
    *(void **)&api.create = dlsym(lib, "rill_server_create");
    *(void **)&api.port = dlsym(lib, "rill_server_port");
    *(void **)&api.destroy = dlsym(lib, "rill_server_destroy");
    ASSERT_TRUE(api.config_default != NULL && api.create != NULL &&
                api.port != NULL && api.destroy != NULL);
    /* Not this program's static copy: the loaded library's own. */
    ASSERT_TRUE((void *)api.create != (void *)rill_server_create);
    masked_then_unmasked(&api);
    /* The guard keeps the library loaded (lws's table points into it). */
    dlclose(lib);
    masked_then_unmasked(&api);
}
