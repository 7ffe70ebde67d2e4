/* Log sessions on the device: the log writer thread creates each file, and
 * a control message that asks for one runs once it exists, so what the
 * client sees is as if the network thread had created it: the list reply
 * after a log command names the file, and messages keep their order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ws.h"
#include "core/internal.h"
#include "test.h"
#include "testdevice.h"

typedef struct inbox {
    char *text[64];
    size_t n;
} inbox;

static void on_msg(void *user, rill__ws *ws, const uint8_t *data, size_t len,
                   bool binary) {
    (void)ws;
    inbox *in = user;
    if (binary || in->n == 64)
        return;
    char *t = malloc(len + 1);
    memcpy(t, data, len);
    t[len] = '\0';
    in->text[in->n++] = t;
}

static rill__ws *open_control(test_device *d) {
    rill__ws *ws = NULL;
    char err[256];
    ASSERT_OK(rill__ws_connect("127.0.0.1", test_device_port(d), "/gui_control",
                               2000, &ws, err, sizeof err));
    return ws;
}

/* The next message holding `needle`, waiting up to 5 s; the messages
 * before it are passed over, in order. */
static const char *next_with(rill__ws *ws, inbox *in, size_t *at,
                             const char *needle) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    for (;;) {
        for (; *at < in->n; (*at)++)
            if (strstr(in->text[*at], needle) != NULL)
                return in->text[(*at)++];
        if (rill_clock_now_ns() > end)
            FAIL("no message with %s in 5 s (%zu received)", needle, in->n);
        rill__ws *list[1] = {ws};
        rill__ws_poll(list, 1, 20, 0, on_msg, in);
    }
}

static void inbox_free(inbox *in) {
    for (size_t i = 0; i < in->n; i++)
        free(in->text[i]);
}

static void send_text(rill__ws *ws, const char *text) {
    ASSERT_OK(rill__ws_send(ws, false, text, strlen(text)));
}

TEST(a_list_in_the_same_message_as_a_log_names_the_new_files) {
    test_device d;
    test_device_start(&d, NULL);
    rill__ws *ws = open_control(&d);
    inbox in = {{0}, 0};
    size_t at = 0;
    send_text(ws, "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"counter\","
                  "\"frame_d\"]},{\"cmd\":\"list\"}]}");
    /* A message right behind it waits for it: its reply comes second. */
    send_text(ws, "{\"id\":2,\"watcher\":[{\"cmd\":\"list\"}]}");
    const char *first = next_with(ws, &in, &at, "\"watchers\":[");
    ASSERT_TRUE(strstr(first, "\"id\":2") == NULL);
    ASSERT_TRUE(strstr(first, "\"logFileName\":\"counter.bin\"") != NULL);
    ASSERT_TRUE(strstr(first, "\"logFileName\":\"frame_d.bin\"") != NULL);
    const char *second = next_with(ws, &in, &at, "\"watchers\":[");
    ASSERT_TRUE(strstr(second, "\"id\":2") != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/counter.bin", d.log_dir);
    struct stat st;
    ASSERT_EQ_INT(stat(path, &st), 0);
    ASSERT_TRUE(st.st_size >= 8); /* at least the header's "watcher\0" */
    rill__ws_close(ws);
    inbox_free(&in);
    test_device_stop(&d);
}

TEST(a_log_sent_just_before_its_client_leaves_still_runs) {
    test_device d;
    test_device_start(&d, NULL);
    rill__ws *quick = open_control(&d);
    send_text(quick,
              "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"counter\"]},"
              "{\"cmd\":\"list\"}]}");
    rill__ws_close(quick);
    rill__ws *ws = open_control(&d);
    inbox in = {{0}, 0};
    size_t at = 0;
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    for (;;) {
        send_text(ws, "{\"watcher\":[{\"cmd\":\"list\"}]}");
        const char *list = next_with(ws, &in, &at, "\"watchers\":[");
        const char *counter = strstr(list, "\"name\":\"counter\"");
        const char *logged = strstr(list, "\"logged\":true");
        if (logged != NULL && counter != NULL && logged < counter)
            break; /* "logged" comes before "name" in counter's object */
        if (rill_clock_now_ns() > end)
            FAIL("counter never logged: %s", list);
        if (in.n > 48) {
            inbox_free(&in);
            in.n = at = 0;
        }
    }
    send_text(ws,
              "{\"watcher\":[{\"cmd\":\"unlog\",\"watchers\":[\"counter\"]}]}");
    next_with(ws, &in, &at, "\"event\":\"log-ended\"");
    rill__ws_close(ws);
    inbox_free(&in);
    test_device_stop(&d);
}

TEST(a_log_file_that_cannot_be_made_is_refused_with_the_reason) {
    test_device d;
    test_device_start(&d, NULL);
    ASSERT_EQ_INT(rmdir(d.log_dir), 0); /* empty: nothing was logged yet */
    rill__ws *ws = open_control(&d);
    inbox in = {{0}, 0};
    size_t at = 0;
    send_text(ws, "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"counter\"]},"
                  "{\"cmd\":\"list\"}]}");
    const char *err = next_with(ws, &in, &at, "\"error\"");
    ASSERT_TRUE(
        strstr(err, "log: cannot choose a file name for \\\"counter\\\"") !=
        NULL);
    ASSERT_TRUE(strstr(err, "\"variable\":\"counter\"") != NULL);
    const char *list = next_with(ws, &in, &at, "\"watchers\":[");
    ASSERT_TRUE(strstr(list, "\"logged\":true") == NULL);
    /* The variable is free to log again once the directory is back. */
    ASSERT_EQ_INT(mkdir(d.log_dir, 0700), 0);
    send_text(ws, "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"counter\"]},"
                  "{\"cmd\":\"list\"}]}");
    list = next_with(ws, &in, &at, "\"watchers\":[");
    ASSERT_TRUE(strstr(list, "\"logFileName\":\"counter.bin\"") != NULL);
    rill__ws_close(ws);
    inbox_free(&in);
    test_device_stop(&d);
}
