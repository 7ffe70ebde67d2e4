/* The WebSocket client transport against a real rill_server in the same
 * process, and against sockets that fail in each way a user meets. */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/ws.h"
#include "proto/native.h"
#include "proto/wire.h"
#include "test.h"
#include "testdevice.h"

typedef struct inbox {
    char text[4][1024];
    int n_text;
    uint64_t next_ts; /* the first tick the next native buffer must have */
    int n_native;
    const char *error; /* first problem seen, for the asserting thread */
} inbox;

static void on_msg(void *user, rill__ws *ws, const uint8_t *data, size_t len,
                   bool binary) {
    (void)ws;
    inbox *in = user;
    if (!binary) {
        if (in->n_text < 4)
            snprintf(in->text[in->n_text++], sizeof in->text[0], "%.*s",
                     (int)len, (const char *)data);
        return;
    }
    rill__native_msg m;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__native_decode(data, len, &m, err, sizeof err) != 0) {
        in->error = "a binary message did not decode";
        return;
    }
    if (m.h.kind != RILL__NATIVE_STREAM || m.h.count != 64 ||
        (in->n_native > 0 && m.h.first_ts != in->next_ts)) {
        in->error = "native buffers are not 64 adjacent values";
        return;
    }
    for (uint32_t i = 0; i < m.h.count; i++) {
        int32_t v;
        memcpy(&v, m.values + 4 * i, 4);
        if ((uint64_t)v != m.h.first_ts + i)
            in->error = "a value differs from its tick";
    }
    in->next_ts = m.h.first_ts + m.h.count;
    in->n_native++;
}

static void poll_until(rill__ws *ws, inbox *in, int want_text,
                       int want_native) {
    uint64_t deadline = rill_clock_now_ns() + 5000000000u;
    while ((in->n_text < want_text || in->n_native < want_native) &&
           rill_clock_now_ns() < deadline) {
        int rc = rill__ws_poll(&ws, 1, 100, 0, on_msg, in);
        if (rc != 0)
            FAIL("poll: %s: %s", rill_err_name(rc), rill__ws_error(ws));
    }
    if (in->error != NULL)
        FAIL("%s", in->error);
    if (in->n_text < want_text || in->n_native < want_native)
        FAIL("timed out: %d text, %d binary messages", in->n_text,
             in->n_native);
}

TEST(connects_and_gets_the_connection_event_then_a_list_reply) {
    test_device f;
    test_device_start(&f, NULL);
    rill__ws *ws = NULL;
    char err[256] = "";
    ASSERT_OK(rill__ws_connect("127.0.0.1", test_device_port(&f),
                               "/gui_control", 2000, &ws, err, sizeof err));
    inbox in = {0};
    poll_until(ws, &in, 1, 0);
    ASSERT_EQ_STR(in.text[0],
                  "{\"event\":\"connection\",\"projectName\":\"rill\"}");
    const char list[] = "{\"watcher\":[{\"cmd\":\"list\"}]}";
    ASSERT_OK(rill__ws_send(ws, false, list, sizeof list - 1));
    poll_until(ws, &in, 2, 0);
    ASSERT_TRUE(strstr(in.text[1], "\"name\":\"counter\"") != NULL);
    rill__ws_close(ws);
    test_device_stop(&f);
}

TEST(a_message_sent_in_odd_sized_parts_arrives_whole) {
    test_device f;
    test_device_start(&f, NULL);
    rill__ws *ws = NULL;
    char err[256] = "";
    ASSERT_OK(rill__ws_connect("127.0.0.1", test_device_port(&f),
                               "/gui_control", 2000, &ws, err, sizeof err));
    inbox in = {0};
    poll_until(ws, &in, 1, 0);
    /* The mask runs across the parts: every split point must keep its
     * phase, or the server reads garbage and sends no list. */
    const char list[] = "{\"watcher\":[{\"cmd\":\"list\"}],\"id\":12345678901}";
    size_t cut[] = {0, 1, 4, 9, 10, 23, sizeof list - 1};
    rill__ws_part parts[6];
    for (int k = 0; k < 6; k++)
        parts[k] = (rill__ws_part){list + cut[k], cut[k + 1] - cut[k]};
    ASSERT_OK(rill__ws_sendv(ws, false, parts, 6));
    poll_until(ws, &in, 2, 0);
    ASSERT_TRUE(strstr(in.text[1], "\"id\":12345678901") != NULL);
    ASSERT_TRUE(strstr(in.text[1], "\"name\":\"counter\"") != NULL);
    rill__ws_close(ws);
    test_device_stop(&f);
}

TEST(native_client_receives_continuous_binary_buffers) {
    test_device f;
    test_device_start(&f, NULL);
    rill__ws *ws = NULL;
    char err[256] = "";
    ASSERT_OK(rill__ws_connect("127.0.0.1", test_device_port(&f),
                               "/gui_control", 2000, &ws, err, sizeof err));
    const char hello[] = "{\"rill\":\"hello\",\"version\":1}";
    const char watch[] = "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":"
                         "[\"counter\"],\"lengths\":[64]}]}";
    ASSERT_OK(rill__ws_send(ws, false, hello, sizeof hello - 1));
    ASSERT_OK(rill__ws_send(ws, false, watch, sizeof watch - 1));
    inbox in = {0};
    poll_until(ws, &in, 2, 50); /* connection event, hello; 50 buffers */
    ASSERT_TRUE(strncmp(in.text[1], "{\"rill\":\"hello\"", 15) == 0);
    rill__ws_close(ws);
    test_device_stop(&f);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

TEST(refused_connection_says_no_server_listens) {
    rill__ws *ws = NULL;
    char err[256] = "";
    int port = free_port();
    ASSERT_ERR(rill__ws_connect("127.0.0.1", port, "/gui_control", 1000, &ws,
                                err, sizeof err),
               RILL_EREFUSED);
    ASSERT_NULL(ws);
    ASSERT_TRUE(strstr(err, "refused: no server listens there") != NULL);
}

TEST(wrong_path_and_missing_token_are_refused_with_the_servers_reason) {
    test_device f;
    test_device_start(&f, "s3cret");
    int port = test_device_port(&f);
    rill__ws *ws = NULL;
    char err[256] = "";
    ASSERT_ERR(rill__ws_connect("127.0.0.1", port, "/gui_control", 2000, &ws,
                                err, sizeof err),
               RILL_EAUTH);
    ASSERT_TRUE(strstr(err, "HTTP 401: this server needs a token") != NULL);
    ASSERT_ERR(rill__ws_connect("127.0.0.1", port, "/elsewhere?token=s3cret",
                                2000, &ws, err, sizeof err),
               RILL_ENOTFOUND);
    ASSERT_TRUE(strstr(err, "HTTP 404") != NULL);
    ASSERT_OK(rill__ws_connect("127.0.0.1", port, "/gui_control?token=s3cret",
                               2000, &ws, err, sizeof err));
    rill__ws_close(ws);
    test_device_stop(&f);
}

TEST(a_listener_that_never_answers_times_out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ_INT(listen(fd, 4), 0); /* accepted by the kernel, never read */
    getsockname(fd, (struct sockaddr *)&a, &len);
    rill__ws *ws = NULL;
    char err[256] = "";
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill__ws_connect("127.0.0.1", ntohs(a.sin_port), "/gui_control",
                                300, &ws, err, sizeof err),
               RILL_ETIMEOUT);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 2000000000u);
    ASSERT_TRUE(strstr(err, "did not answer the WebSocket handshake") != NULL);
    close(fd);
}

TEST(server_shutdown_is_reported_as_closed) {
    test_device f;
    test_device_start(&f, NULL);
    rill__ws *ws = NULL;
    char err[256] = "";
    ASSERT_OK(rill__ws_connect("127.0.0.1", test_device_port(&f),
                               "/gui_control", 2000, &ws, err, sizeof err));
    inbox in = {0};
    poll_until(ws, &in, 1, 0);
    test_device_stop(&f);
    int rc = 0;
    for (int i = 0; i < 50 && rc == 0; i++)
        rc = rill__ws_poll(&ws, 1, 100, 0, on_msg, &in);
    ASSERT_ERR(rc, RILL_ECLOSED);
    ASSERT_TRUE(rill__ws_closed(ws));
    ASSERT_TRUE(strstr(rill__ws_error(ws), "the server") != NULL);
    ASSERT_ERR(rill__ws_send(ws, false, "x", 1), RILL_ECLOSED);
    rill__ws_close(ws);
}

TEST(a_bounded_send_refuses_what_would_pass_the_limit_but_an_empty_queue_takes_any) {
    int port = 0;
    pid_t pid = test_device_in_child(&port);
    rill__ws *ws = NULL;
    char err[256] = "";
    ASSERT_OK(rill__ws_connect("127.0.0.1", port, "/gui_control", 2000, &ws,
                               err, sizeof err));
    /* The device stops reading. A frame that finds the queue empty goes
     * straight to the socket (write-through) until the kernel's buffers
     * are full, and then into the queue: an empty queue takes a message of
     * any size, even one larger than the limit; one holding it refuses the
     * next bounded message. */
    kill(pid, SIGSTOP);
    static uint8_t big[100000];
    rill__ws_part part = {big, sizeof big};
    int rc = 0, taken = 0;
    while (taken < 10000 && (rc = rill__ws_sendv_bounded(ws, true, &part, 1, 65536)) == 0)
        taken++;
    ASSERT_ERR(rc, RILL_EFULL);
    ASSERT_LE_UINT(1, taken);
    /* Refused again: whatever of the last one the socket did not take is
     * queued, and 100 kB more would pass the limit. */
    ASSERT_ERR(rill__ws_sendv_bounded(ws, true, &part, 1, 65536), RILL_EFULL);
    /* Unbounded sends (control messages) are never refused; now the queue
     * holds more than the limit, and refuses even a small bounded one. */
    ASSERT_OK(rill__ws_sendv(ws, true, &part, 1));
    part.len = 1000;
    ASSERT_ERR(rill__ws_sendv_bounded(ws, true, &part, 1, 65536), RILL_EFULL);
    /* Once it is sent, the queue takes bounded messages again: the device
     * reads again, the owner's polls send the queue. */
    kill(pid, SIGCONT);
    inbox in = {0};
    poll_until(ws, &in, 1, 0); /* the connection event, behind the queue */
    uint64_t end = rill_clock_now_ns() + 2000000000u;
    while ((rc = rill__ws_sendv_bounded(ws, true, &part, 1, 65536)) != 0 &&
           rill_clock_now_ns() < end)
        ASSERT_OK(rill__ws_poll(&ws, 1, 10, 0, on_msg, &in));
    ASSERT_OK(rc);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rill__ws_close(ws);
}
