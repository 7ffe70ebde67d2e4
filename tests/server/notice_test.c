/* Every message the server sends is JSON from one writer (proto/json_out),
 * whatever the names in it hold. A device variable named a"b\c (a quote
 * and a backslash, which a name may hold) must come out escaped in the
 * list reply, in error replies, in the drop notice a native client gets,
 * in log-ended, and in the notice of a log file that could not be written,
 * so that each message parses and names the variable exactly. (issue 13:
 * the notices were written with snprintf and "%s", so such a name made
 * them unparseable.) */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/ws.h"
#include "core/internal.h"
#include "test.h"

#define NAME "a\"b\\c"          /* the variable: a"b\c */
#define NAME_JSON "a\\\"b\\\\c" /* how a client writes it in JSON */
#define RATE 64000

typedef struct device {
    rill_server *srv;
    rill_var *v;
    char log_dir[64];
    pthread_t producer;
    atomic_bool stop;
} device;

static void *produce(void *arg) {
    device *d = arg;
    uint64_t frame = 0, next = rill_clock_now_ns();
    while (!atomic_load(&d->stop)) {
        for (int i = 0; i < 64; i++, frame++) {
            rill_server_tick(d->srv, frame);
            rill_var_set_int32(d->v, (int32_t)frame);
        }
        next += 1000000;
        rill_clock_sleep_until_ns(next);
    }
    return NULL;
}

static void device_start(device *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->log_dir, sizeof d->log_dir, "/tmp/rill-notice-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(d->log_dir));
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = d->log_dir;
    cfg.sample_rate = RATE;
    cfg.client_queue_bytes = 4096; /* a client that stops reading loses */
    cfg.out_ring_bytes = 1 << 20;
    cfg.log_ring_bytes = 1 << 16;
    ASSERT_OK(rill_server_create(&cfg, &d->srv));
    d->v = rill_var_create(d->srv, NAME, RILL_TYPE_INT32, RILL_TS_DENSE);
    ASSERT_NOT_NULL(d->v);
    atomic_init(&d->stop, false);
    ASSERT_EQ_INT(pthread_create(&d->producer, NULL, produce, d), 0);
}

static void device_stop(device *d) {
    atomic_store(&d->stop, true);
    pthread_join(d->producer, NULL);
    rill_server_destroy(d->srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->log_dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

/* Every text message received, parsed: a message that is not JSON fails
 * the test on arrival, with its text. */
typedef struct inbox {
    json_t *msg[256];
    size_t n;
    size_t n_binary;
} inbox;

static void on_msg(void *user, rill__ws *ws, const uint8_t *data, size_t len,
                   bool binary) {
    (void)ws;
    inbox *in = user;
    if (binary)
        in->n_binary++;
    if (binary || in->n == 256)
        return;
    json_error_t e;
    /* Ticks go up to 2^64 - 1, past jansson's integers. */
    json_t *m =
        json_loadb((const char *)data, len, JSON_DECODE_INT_AS_REAL, &e);
    if (m == NULL)
        FAIL("the server sent text that is not JSON (%s): %.*s", e.text,
             (int)(len > 400 ? 400 : len), (const char *)data);
    in->msg[in->n++] = m;
}

static void inbox_free(inbox *in) {
    for (size_t i = 0; i < in->n; i++)
        json_decref(in->msg[i]);
    in->n = 0;
}

static const char *str_at(json_t *m, const char *a, const char *b) {
    json_t *v = json_object_get(m, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The first message received so far, or within 5 s, whose member a (and
 * a.b) is the string `want` (NULL: any string). */
static json_t *wait_for(rill__ws *ws, inbox *in, const char *a, const char *b,
                        const char *want) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    for (;;) {
        for (size_t i = 0; i < in->n; i++) {
            const char *s = str_at(in->msg[i], a, b);
            if (s != NULL && (want == NULL || strcmp(s, want) == 0))
                return in->msg[i];
        }
        if (rill_clock_now_ns() > end)
            FAIL("no message with %s%s%s = %s in 5 s (%zu text and %zu "
                 "binary received)",
                 a, b ? "." : "", b ? b : "", want ? want : "(any)", in->n,
                 in->n_binary);
        rill__ws *list[1] = {ws};
        rill__ws_poll(list, 1, 20, 0, on_msg, in);
    }
}

static rill__ws *open_control(device *d) {
    rill__ws *ws = NULL;
    char err[256];
    ASSERT_OK(rill__ws_connect("127.0.0.1", rill_server_port(d->srv),
                               "/gui_control", 2000, &ws, err, sizeof err));
    return ws;
}

static void send_text(rill__ws *ws, const char *text) {
    ASSERT_OK(rill__ws_send(ws, false, text, strlen(text)));
}

static void assert_starts(const char *s, const char *prefix) {
    if (s == NULL || strncmp(s, prefix, strlen(prefix)) != 0)
        FAIL("\"%s\" does not start with \"%s\"", s ? s : "(null)", prefix);
}

TEST(every_message_naming_a_variable_with_a_quote_and_backslash_is_valid_json) {
    device d;
    device_start(&d);
    rill__ws *ws = open_control(&d);
    inbox in = {{0}, 0, 0};

    /* The list reply. */
    json_t *m = wait_for(ws, &in, "event", NULL, "connection");
    inbox_free(&in);
    send_text(ws, "{\"watcher\":[{\"cmd\":\"list\"}]}");
    for (uint64_t end = rill_clock_now_ns() + 5000000000u;;) {
        json_t *w = NULL;
        for (size_t i = 0; i < in.n && w == NULL; i++)
            w = json_object_get(json_object_get(in.msg[i], "watcher"),
                                "watchers");
        if (w != NULL) {
            ASSERT_EQ_STR(str_at(json_array_get(w, 0), "name", NULL), NAME);
            break;
        }
        if (rill_clock_now_ns() > end)
            FAIL("no list reply in 5 s");
        rill__ws *list[1] = {ws};
        rill__ws_poll(list, 1, 20, 0, on_msg, &in);
    }
    inbox_free(&in);

    /* log, scheduled; the same log again in one message: an error reply
     * naming the variable; then unlog: log-ended. */
    send_text(ws, "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"" NAME_JSON
                  "\"]},{\"cmd\":\"log\",\"watchers\":[\"" NAME_JSON "\"]}]}");
    m = wait_for(ws, &in, "watcher", "logFileName", NAME ".bin");
    ASSERT_EQ_STR(str_at(m, "watcher", "watcher"), NAME);
    m = wait_for(ws, &in, "error", "variable", NAME);
    assert_starts(str_at(m, "error", "message"), "log: \"" NAME "\"");
    send_text(ws, "{\"watcher\":[{\"cmd\":\"unlog\",\"watchers\":[\"" NAME_JSON
                  "\"]}]}");
    m = wait_for(ws, &in, "event", NULL, "log-ended");
    ASSERT_EQ_STR(str_at(m, "logFileName", NULL), NAME ".bin");
    ASSERT_EQ_STR(str_at(m, "variable", NULL), NAME);
    inbox_free(&in);

    /* A log file that cannot be written (a file size limit on this
     * process, which runs the server): every control client is told, with
     * the variable named. */
    struct rlimit old, small = {3 * 4104, 3 * 4104};
    ASSERT_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
    send_text(ws, "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"" NAME_JSON
                  "\"]}]}");
    m = wait_for(ws, &in, "error", "variable", NAME);
    ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    const char *why = str_at(m, "error", "message");
    assert_starts(why, "logging " NAME " to ");
    ASSERT_TRUE(strstr(why, " failed: ") != NULL);
    send_text(ws, "{\"watcher\":[{\"cmd\":\"unlog\",\"watchers\":[\"" NAME_JSON
                  "\"]}]}");
    wait_for(ws, &in, "event", NULL, "log-ended");
    inbox_free(&in);

    /* A native client that stops reading: the drop notice before its next
     * buffer names the variable. */
    send_text(ws, "{\"rill\":\"hello\",\"version\":1}");
    wait_for(ws, &in, "rill", NULL, "hello");
    send_text(ws, "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"" NAME_JSON
                  "\"]}]}");
    /* (rill__ws_send only queues: the poll sends.) The first buffer, then
     * nothing read until the server has dropped some. */
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (in.n_binary == 0) {
        rill__ws *list[1] = {ws};
        rill__ws_poll(list, 1, 20, 0, on_msg, &in);
        if (rill_clock_now_ns() > end)
            FAIL("no buffer of \"%s\" in 5 s", NAME);
    }
    rill_server_stats st;
    end = rill_clock_now_ns() + 20000000000u;
    do {
        rill__sleep_ns(50000000u);
        rill_server_get_stats(d.srv, &st);
        if (rill_clock_now_ns() > end)
            FAIL("the server dropped nothing for a client that did not read "
                 "for 20 s");
    } while (st.client_drops == 0);
    m = wait_for(ws, &in, "event", NULL, "dropped");
    ASSERT_EQ_STR(str_at(m, "variable", NULL), NAME);

    inbox_free(&in);
    rill__ws_close(ws);
    device_stop(&d);
}
