/* The dashboard: the server's audio description and handler relay, and
 * the rill_dash API, against a real rill_server in this process. Pages are
 * raw WebSocket connections (src/client/ws.c) that speak what the browser
 * page speaks: hello, {"rill":"dash"}, then read what is relayed. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ws.h"
#include "dashtest.h"
#include "test.h"

/* The device's audio (dashtest.h): 48000 Hz, a and b, 256 frames, volume
 * 80, nothing settable. */

static void device_start_exec(device *d, const char *token) {
    device_opts o = {.flags = FIXED, .token = token, .allow_exec = true};
    device_start_opts(d, &o);
}

/* ---- The audio description ------------------------------------------------------ */

TEST(audio_description_is_in_native_list_replies_only) {
    device d;
    device_start(&d, FIXED);
    page native, compat;
    page_open(&native, &d, true, false);
    page_open(&compat, &d, false, false);
    page_send(&native, "{\"id\":1,\"watcher\":[{\"cmd\":\"list\"}]}");
    page_send(&compat, "{\"watcher\":[{\"cmd\":\"list\"}]}");
    const char *n = page_wait(&native, NULL, "\"watcher\"");
    const char *c = page_wait(&compat, NULL, "\"watcher\"");
    ASSERT_TRUE(strstr(n, "{\"id\":1,\"watcher\":{\"audio\":{\"bufferFrames\":256,"
                          "\"channels\":2,\"rate\":48000,\"variables\":[\"a\","
                          "\"b\"],\"volume\":80},\"sampleRate\":48000,") == n);
    ASSERT_NULL(strstr(c, "audio"));
    page_close(&native);
    page_close(&compat);
    device_stop(&d);
}

TEST(audio_changes_are_announced_to_native_clients) {
    device d;
    device_start(&d, FIXED);
    page native, compat;
    page_open(&native, &d, true, false);
    page_open(&compat, &d, false, false);
    rill_audio_desc audio = {.rate = 44100,
                             .buffer_frames = 128,
                             .volume = -1,
                             .channels = 2,
                             .variables = {"c", "b"}};
    ASSERT_OK(rill_server_set_audio(d.srv, &audio));
    ASSERT_EQ_STR(page_wait(&native, NULL, "\"event\":\"audio\""),
                  "{\"audio\":{\"bufferFrames\":128,\"channels\":2,\"rate\":"
                  "44100,\"variables\":[\"c\",\"b\"]},\"event\":\"audio\","
                  "\"sampleRate\":48000}");
    ASSERT_OK(rill_server_set_audio(d.srv, NULL));
    ASSERT_EQ_STR(page_wait(&native, NULL, "\"audio\":null"),
                  "{\"audio\":null,\"event\":\"audio\",\"sampleRate\":48000}");
    page_pump(&compat, 100);
    ASSERT_EQ_UINT(page_count(&compat, "audio"), 0);
    page_close(&native);
    page_close(&compat);
    device_stop(&d);
}

TEST(set_audio_refuses_what_is_not_a_dense_float_channel) {
    device d;
    device_start(&d, FIXED);
    rill_var *i = rill_var_create(d.srv, "i", RILL_TYPE_INT32, RILL_TS_DENSE);
    rill_var *s = rill_var_create(d.srv, "s", RILL_TYPE_FLOAT, RILL_TS_SPARSE);
    ASSERT_TRUE(i != NULL && s != NULL);
    static const char *const bad[] = {"nope", "i", "s", ""};
    for (size_t k = 0; k < 4; k++) {
        rill_audio_desc a = {
            .rate = 48000, .buffer_frames = 256, .volume = 80, .channels = 1};
        snprintf(a.variables[0], sizeof a.variables[0], "%s", bad[k]);
        ASSERT_ERR(rill_server_set_audio(d.srv, &a), RILL_EINVAL);
    }
    rill_audio_desc zero_rate = {.rate = 0,
                                 .buffer_frames = 256,
                                 .volume = 80,
                                 .channels = 2,
                                 .variables = {"a", "b"}};
    rill_audio_desc no_frames = {.rate = 48000,
                                 .buffer_frames = 0,
                                 .volume = 80,
                                 .channels = 2,
                                 .variables = {"a", "b"}};
    rill_audio_desc loud = {.rate = 48000,
                            .buffer_frames = 256,
                            .volume = 101,
                            .channels = 2,
                            .variables = {"a", "b"}};
    rill_audio_desc none = {.rate = 48000,
                            .buffer_frames = 256,
                            .volume = 80,
                            .channels = 0,
                            .variables = {"a", "b"}};
    ASSERT_ERR(rill_server_set_audio(d.srv, &zero_rate), RILL_EINVAL);
    ASSERT_ERR(rill_server_set_audio(d.srv, &no_frames), RILL_EINVAL);
    ASSERT_ERR(rill_server_set_audio(d.srv, &loud), RILL_EINVAL);
    ASSERT_ERR(rill_server_set_audio(d.srv, &none), RILL_EINVAL);
    device_stop(&d);
}

/* ---- rill_dash: audio in ------------------------------------------------------- */

static rill_dash *dash_open(const device *d, got *g, bool audio) {
    char url[64];
    url_of(d, url, sizeof url);
    rill_dash_config cfg = rill_dash_config_default();
    cfg.url = url;
    cfg.on_data = audio ? on_data : NULL;
    cfg.on_config = on_config;
    cfg.on_error = on_error;
    cfg.user = g;
    rill_dash *dash = NULL;
    ASSERT_OK(rill_dash_connect(&cfg, &dash));
    return dash;
}

TEST(dash_hands_the_audio_over_as_interleaved_frames) {
    device d;
    device_start(&d, FIXED);
    got g = {0};
    rill_dash *dash = dash_open(&d, &g, true);
    rill_audio_desc a;
    ASSERT_OK(rill_dash_get_audio(dash, &a));
    ASSERT_EQ_UINT(a.channels, 2);
    poll_until(dash, &g.buffers, 4);
    ASSERT_EQ_INT(g.configs, 1);
    ASSERT_TRUE(g.has);
    ASSERT_EQ_DOUBLE(g.last.rate, 48000, 0);
    ASSERT_EQ_DOUBLE(g.last.volume, 80, 0);
    ASSERT_EQ_STR(g.last.variables[1], "b");
    /* A program that takes no changes offers none. */
    ASSERT_EQ_UINT(g.last.n_rates, 0);
    ASSERT_EQ_UINT(g.last.max_channels, 0);
    ASSERT_TRUE(!g.last.buffer_frames_settable && !g.last.volume_settable);
    ASSERT_EQ_UINT(g.frames, 256);
    ASSERT_EQ_UINT(g.channels, 2);
    ASSERT_EQ_INT(g.bad, 0);
    rill_dash_destroy(dash);
    device_stop(&d);
}

TEST(dash_follows_a_configuration_change) {
    device d;
    device_start(&d, FIXED);
    got g = {0};
    rill_dash *dash = dash_open(&d, &g, true);
    poll_until(dash, &g.buffers, 2);
    rill_audio_desc audio = {.rate = 48000,
                             .buffer_frames = 128,
                             .volume = 50,
                             .channels = 3,
                             .variables = {"c", "b", "a"}};
    ASSERT_OK(rill_server_set_audio(d.srv, &audio));
    poll_until(dash, &g.configs, 2);
    ASSERT_EQ_UINT(g.last.channels, 3);
    ASSERT_EQ_UINT(g.last.buffer_frames, 128);
    poll_until(dash, &g.buffers, 3);
    ASSERT_EQ_UINT(g.frames, 128);
    ASSERT_EQ_UINT(g.channels, 3);
    ASSERT_EQ_INT(g.bad, 0);
    ASSERT_OK(rill_server_set_audio(d.srv, NULL));
    poll_until(dash, &g.configs, 3);
    ASSERT_TRUE(!g.has);
    rill_audio_desc a;
    ASSERT_ERR(rill_dash_get_audio(dash, &a), RILL_ENOTFOUND);
    rill_dash_destroy(dash);
    device_stop(&d);
}

/* rill_dash_run polls for its duration, running the callbacks as they come,
 * and returns 0 at the end of it; once the device is gone it returns
 * RILL_ECLOSED at once, long before its duration. */
TEST(run_delivers_for_its_duration_and_returns_when_the_device_goes) {
    device d;
    device_start(&d, FIXED);
    got g = {0};
    rill_dash *dash = dash_open(&d, &g, true);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_EQ_INT(rill_dash_run(dash, 300), 0);
    ASSERT_TRUE(rill_clock_now_ns() - t0 >= 300000000u);
    ASSERT_TRUE(g.buffers > 0); /* 256-frame buffers at 48 kHz: ~56 */
    ASSERT_EQ_INT(g.configs, 1);
    ASSERT_EQ_INT(g.bad, 0);
    device_stop(&d);
    t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_dash_run(dash, 60000), RILL_ECLOSED);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 30000000000u); /* not its 60 s */
    ASSERT_ERR(rill_dash_run(dash, -1), RILL_ECLOSED);
    rill_dash_destroy(dash);
}

/* ---- The relay ----------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

TEST(every_page_gets_every_handler_with_server_wide_ids) {
    device d;
    device_start(&d, FIXED);
    page p1, p2;
    page_open(&p1, &d, true, true);
    page_open(&p2, &d, true, true);
    got g1 = {0}, g2 = {0};
    rill_dash *one = dash_open(&d, &g1, false);
    rill_dash *two = dash_open(&d, &g2, false);
    rill_dash_handler *h1 = rill_dash_add_handler(one, "Levels", "meter",
                                                  "{\"channels\":2}");
    ASSERT_NOT_NULL(h1);
    ASSERT_EQ_UINT(rill_dash_handler_id(h1), 1);
    /* The other program's handler 1 is another handler. */
    ASSERT_NOT_NULL(page_wait(&p1, NULL, "\"name\":\"Levels\""));
    rill_dash_handler *h2 = rill_dash_add_handler(two, "Spec", "spectrogram",
                                                  "{\"height\":4}");
    ASSERT_EQ_UINT(rill_dash_handler_id(h2), 1);
    page *pages[2] = {&p1, &p2};
    for (int k = 0; k < 2; k++) {
        ASSERT_EQ_STR(page_wait(pages[k], NULL, "\"name\":\"Levels\""),
                      "{\"event\":\"handler\",\"id\":1,\"name\":\"Levels\","
                      "\"parameters\":{\"channels\":2},\"type\":\"meter\"}");
        ASSERT_EQ_STR(page_wait(pages[k], NULL, "\"name\":\"Spec\""),
                      "{\"event\":\"handler\",\"id\":2,\"name\":\"Spec\","
                      "\"parameters\":{\"height\":4},\"type\":\"spectrogram\"}");
    }
    ASSERT_OK(rill_dash_send_json(h1, "[-12.5,-18]", 1234));
    float col[4] = {1, 2, 3, 4};
    ASSERT_OK(rill_dash_send_values(h2, RILL_TYPE_FLOAT, col, 4, 0, 0, 99));
    for (int k = 0; k < 2; k++) {
        ASSERT_EQ_STR(page_wait(pages[k], NULL, "handler-data"),
                      "{\"data\":[-12.5,-18],\"event\":\"handler-data\","
                      "\"id\":1,\"tick\":1234}");
        const uint8_t *b = page_wait_bin(pages[k], 1);
        ASSERT_EQ_UINT(pages[k]->bin_len[0], 32 + 16);
        ASSERT_EQ_UINT(b[0], 1);
        ASSERT_EQ_UINT(b[1], 16);
        ASSERT_EQ_UINT(b[2], 'f');
        ASSERT_EQ_UINT(le32(b + 4), 2); /* rewritten: the server's id */
        ASSERT_EQ_UINT(le32(b + 16), 99);
        ASSERT_EQ_UINT(le32(b + 24), 4);
        ASSERT_EQ_MEM(b + 32, col, sizeof col);
    }
    ASSERT_EQ_INT(g1.errors + g2.errors, 0);
    rill_dash_destroy(one);
    rill_dash_destroy(two);
    page_close(&p1);
    page_close(&p2);
    device_stop(&d);
}

TEST(a_page_opened_later_gets_the_latest_of_each_handler) {
    device d;
    device_start(&d, FIXED);
    got g = {0};
    rill_dash *dash = dash_open(&d, &g, false);
    rill_dash_handler *a = rill_dash_add_handler(dash, "A", "line", NULL);
    rill_dash_handler *b = rill_dash_add_handler(dash, "B", "bar", NULL);
    rill_dash_handler *c = rill_dash_add_handler(dash, "C", "heatmap", NULL);
    ASSERT_TRUE(a && b && c);
    ASSERT_OK(rill_dash_remove_handler(b));
    /* The program's socket is ordered: a page subscribing after this
     * reply sees the state after every message above. */
    page late;
    page_open(&late, &d, true, false);
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    for (;;) { /* wait until the server has the three messages */
        page probe;
        page_open(&probe, &d, true, true);
        page_pump(&probe, 100);
        bool done = page_count(&probe, "\"name\":\"C\"") == 1;
        page_close(&probe);
        if (done)
            break;
        if (rill_clock_now_ns() > end)
            FAIL("the handlers never reached the server");
    }
    page_send(&late, "{\"rill\":\"dash\",\"version\":1}");
    size_t at = 0;
    ASSERT_EQ_STR(page_wait(&late, &at, "\"event\":\"handler\""),
                  "{\"event\":\"handler\",\"id\":1,\"name\":\"A\","
                  "\"parameters\":{},\"type\":\"line\"}");
    ASSERT_EQ_STR(page_wait(&late, &at, "\"event\":\"handler\""),
                  "{\"event\":\"handler\",\"id\":3,\"name\":\"C\","
                  "\"parameters\":{},\"type\":\"heatmap\"}");
    page_pump(&late, 100);
    ASSERT_EQ_UINT(page_count(&late, "\"name\":\"B\""), 0);
    rill_dash_destroy(dash);
    page_close(&late);
    device_stop(&d);
}

TEST(a_program_that_disconnects_removes_its_handlers_from_every_page) {
    device d;
    device_start(&d, FIXED);
    page p;
    page_open(&p, &d, true, true);
    got g1 = {0}, g2 = {0};
    rill_dash *stays = dash_open(&d, &g1, false);
    rill_dash *goes = dash_open(&d, &g2, false);
    ASSERT_NOT_NULL(rill_dash_add_handler(stays, "stays", "line", NULL));
    ASSERT_NOT_NULL(rill_dash_add_handler(goes, "goes1", "line", NULL));
    ASSERT_NOT_NULL(rill_dash_add_handler(goes, "goes2", "meter", NULL));
    page_wait(&p, NULL, "\"name\":\"stays\"");
    int id1 = atoi(strstr(page_wait(&p, NULL, "\"name\":\"goes1\""), "\"id\":") + 5);
    int id2 = atoi(strstr(page_wait(&p, NULL, "\"name\":\"goes2\""), "\"id\":") + 5);
    rill_dash_destroy(goes);
    size_t at = 0;
    int r1 = atoi(strstr(page_wait(&p, &at, "handler-remove"), "\"id\":") + 5);
    int r2 = atoi(strstr(page_wait(&p, &at, "handler-remove"), "\"id\":") + 5);
    ASSERT_TRUE((r1 == id1 && r2 == id2) || (r1 == id2 && r2 == id1));
    page late;
    page_open(&late, &d, true, true);
    page_pump(&late, 100);
    ASSERT_EQ_UINT(page_count(&late, "\"event\":\"handler\""), 1);
    ASSERT_EQ_UINT(page_count(&late, "\"name\":\"stays\""), 1);
    rill_dash_destroy(stays);
    page_close(&p);
    page_close(&late);
    device_stop(&d);
}

/* Deterministic however loaded the machine: `fast` reads each frame before
 * the program sends the next, so it must get all of them, in order (it
 * once failed `fast_bins > slow.n_bin` under load, when fast was only
 * polled now and then and lost frames too). `slow` reads nothing until
 * the end: its losses are exactly what the drop notices announce. */
TEST(a_page_that_does_not_read_loses_data_counted_and_announced) {
    enum { FRAMES = 400 };
    device d;
    device_opts small_queue = {.flags = FIXED, .queue_bytes = 64 * 1024};
    device_start_opts(&d, &small_queue);
    page slow, fast;
    page_open(&slow, &d, true, true);
    page_open(&fast, &d, true, true);
    got g = {0};
    rill_dash *dash = dash_open(&d, &g, false);
    rill_dash_handler *h = rill_dash_add_handler(dash, "Big", "line", NULL);
    page_wait(&slow, NULL, "\"name\":\"Big\"");
    page_wait(&fast, NULL, "\"name\":\"Big\"");
    size_t fast0 = fast.n_bin, slow0 = slow.n_bin;
    /* 400 frames of 64000 bytes (25 MB) while `slow` reads nothing: far
     * more than its queue, the kernel's buffers and the socket's. The
     * program is never held up: every send returns at once. */
    static float values[16000];
    for (int k = 0; k < FRAMES; k++) {
        values[0] = (float)k;
        ASSERT_OK(rill_dash_send_values(h, RILL_TYPE_FLOAT, values, 16000, 0, 0, 0));
        rill_dash_poll(dash, 0);
        const uint8_t *f = page_wait_bin(&fast, fast0 + (size_t)k + 1);
        float first;
        memcpy(&first, f + 32, sizeof first);
        if (first != (float)k)
            FAIL("fast page: frame %d holds %g", k, (double)first);
    }
    /* slow reads its backlog now (until nothing comes for 300 ms); then a
     * marker frame, which both pages wait for, and before which slow is
     * told what it lost. */
    for (size_t before = (size_t)-1; before != slow.n_bin + slow.n_text;) {
        before = slow.n_bin + slow.n_text;
        page_pump(&slow, 300);
    }
    values[0] = -1;
    ASSERT_OK(rill_dash_send_values(h, RILL_TYPE_FLOAT, values, 16, 0, 0, 0));
    uint64_t end = rill_clock_now_ns() + 20000000000u;
    for (page *p = &fast; p != NULL; p = p == &fast ? &slow : NULL) {
        for (;;) {
            if (p->n_bin > 0 && p->bin_len[p->n_bin - 1] == 32 + 64)
                break;
            if (rill_clock_now_ns() > end)
                FAIL("the marker frame never arrived (%zu frames)", p->n_bin);
            page_pump(p, 50);
        }
    }
    ASSERT_EQ_UINT(fast.n_bin - fast0, FRAMES + 1);
    ASSERT_EQ_INT(page_count(&fast, "\"event\":\"dropped\""), 0);
    size_t got_slow = slow.n_bin - slow0 - 1;
    ASSERT_TRUE(got_slow < FRAMES);
    /* The frames slow got are in order, and the notices count the rest:
     * their "buffers" add up to the last one's "total". */
    float last = -1;
    for (size_t i = slow0; i < slow0 + got_slow; i++) {
        float first;
        memcpy(&first, slow.bin[i] + 32, sizeof first);
        ASSERT_TRUE(first > last);
        last = first;
    }
    unsigned long buffers = 0, total = 0;
    for (size_t i = 0; i < slow.n_text; i++) {
        const char *t =
            strstr(slow.text[i], "{\"event\":\"dropped\",\"buffers\":");
        if (t == NULL)
            continue;
        unsigned long b, tot;
        ASSERT_EQ_INT(sscanf(t,
                             "{\"event\":\"dropped\",\"buffers\":%lu,"
                             "\"path\":\"dash\",\"total\":%lu}",
                             &b, &tot),
                      2);
        buffers += b;
        total = tot;
    }
    ASSERT_EQ_UINT(buffers, total);
    ASSERT_EQ_UINT(got_slow + buffers, FRAMES);
    rill_server_stats st;
    rill_server_get_stats(d.srv, &st);
    ASSERT_EQ_UINT(st.client_drops, buffers);
    ASSERT_EQ_INT(g.errors, 0);
    rill_dash_destroy(dash);
    page_close(&slow);
    page_close(&fast);
    device_stop(&d);
}

/* A raw program: what the server says to each bad message. */
static const char *refused(page *prog, size_t *at, const void *msg, size_t len,
                           bool binary) {
    ASSERT_OK(rill__ws_send(prog->ws, binary, msg, len));
    return page_wait(prog, at, "\"error\"");
}

TEST(the_relay_refuses_bad_messages_precisely_and_stays_up) {
    device d;
    device_start(&d, FIXED);
    page prog, pg;
    page_open(&pg, &d, true, true);
    page_open(&prog, &d, true, false);
    size_t at = 0;
    struct {
        const char *msg, *expect;
    } cases[] = {
        {"{\"event\":\"handler\",\"id\":\"x\",\"type\":\"line\"}",
         "must be an integer from 1 to 4294967295"},
        {"{\"event\":\"handler\",\"id\":0,\"type\":\"line\"}",
         "must be an integer from 1 to 4294967295"},
        {"{\"event\":\"handler\",\"id\":1}", "must be a string of 1 to 64"},
        {"{\"event\":\"handler\",\"id\":1,\"type\":\"line\",\"parameters\":[1]}",
         "parameters\\\" must be an object"},
        {"{\"event\":\"handler\",\"id\":1,\"type\":\"line\",\"name\":5}",
         "name\\\" must be a string of at most 256"},
        {"{\"event\":\"handler-data\",\"id\":7,\"data\":1}",
         "unknown handler 7"},
        {"{\"event\":\"handler-remove\",\"id\":7}", "unknown handler 7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *e = refused(&prog, &at, cases[i].msg, strlen(cases[i].msg),
                                false);
        if (strstr(e, cases[i].expect) == NULL)
            FAIL("case %zu: %s does not say %s", i, e, cases[i].expect);
    }
    const char create[] = "{\"event\":\"handler\",\"id\":5,\"type\":\"line\"}";
    ASSERT_OK(rill__ws_send(prog.ws, false, create, sizeof create - 1));
    static const char nodata[] = "{\"event\":\"handler-data\",\"id\":5}";
    const char *e = refused(&prog, &at, nodata, sizeof nodata - 1, false);
    ASSERT_TRUE(strstr(e, "handler-data 5: no \\\"data\\\"") != NULL);
    static const char badtick[] =
        "{\"event\":\"handler-data\",\"id\":5,\"data\":1,\"tick\":-1}";
    e = refused(&prog, &at, badtick, sizeof badtick - 1, false);
    ASSERT_TRUE(strstr(e, "\\\"tick\\\" must be a non-negative integer") != NULL);

    uint8_t f[48] = {1, 16, 'f', 0, 5, 0, 0, 0};
    f[24] = 4; /* 4 floats: 16 bytes */
    e = refused(&prog, &at, f, 40, true);
    ASSERT_TRUE(strstr(e, "count 4 of 'f' needs 16 bytes after the header, "
                          "the message has 8") != NULL);
    e = refused(&prog, &at, f, 20, true);
    ASSERT_TRUE(strstr(e, "20 bytes, shorter than its 32-byte header") != NULL);
    f[2] = 'q';
    e = refused(&prog, &at, f, 48, true);
    ASSERT_TRUE(strstr(e, "unknown value type 0x71") != NULL);
    f[2] = 'f';
    f[3] = 2;
    e = refused(&prog, &at, f, 48, true);
    ASSERT_TRUE(strstr(e, "unknown flag bits 0x02") != NULL);
    f[3] = 0;
    f[4] = 6;
    e = refused(&prog, &at, f, 48, true);
    ASSERT_TRUE(strstr(e, "unknown handler 6") != NULL);
    /* Over the server's message limit. */
    size_t big = 70000;
    uint8_t *huge = calloc(1, big);
    huge[0] = 1;
    huge[1] = 16;
    e = refused(&prog, &at, huge, big, true);
    free(huge);
    ASSERT_TRUE(strstr(e, "message over 65536 bytes") != NULL);
    /* A page never saw any of it, only the good handler; the server is up. */
    f[4] = 5;
    ASSERT_OK(rill__ws_send(prog.ws, true, f, 48));
    page_pump(&prog, 50); /* this thread sends what the socket queued */
    page_wait_bin(&pg, 1);
    ASSERT_EQ_UINT(le32(pg.bin[0] + 4), 1);
    ASSERT_EQ_UINT(page_count(&pg, "\"event\":\"handler\""), 1);
    ASSERT_EQ_UINT(page_count(&pg, "error"), 0);
    /* Subscribing without native mode is refused with the page's id. */
    page compat;
    page_open(&compat, &d, false, false);
    page_send(&compat, "{\"rill\":\"dash\",\"version\":1,\"id\":\"dash\"}");
    e = page_wait(&compat, NULL, "\"error\"");
    ASSERT_TRUE(strstr(e, "\"id\":\"dash\"") != NULL);
    page_send(&compat, "{\"event\":\"handler\",\"id\":1,\"type\":\"line\"}");
    e = page_wait(&compat, NULL, "need a native connection");
    page_close(&compat);
    page_close(&prog);
    page_close(&pg);
    device_stop(&d);
}

TEST(the_dash_api_checks_its_arguments) {
    device d;
    device_start(&d, FIXED);
    got g = {0};
    rill_dash *dash = dash_open(&d, &g, false);
    ASSERT_NULL(rill_dash_add_handler(dash, "x", "line", "[1]"));
    ASSERT_NULL(rill_dash_add_handler(dash, "x", "line", "{nope"));
    ASSERT_NULL(rill_dash_add_handler(dash, "x", "", NULL));
    /* The server's limits, refused at once (not later through on_error). */
    char longest[RILL_DASH_NAME_MAX + 2];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ASSERT_NULL(rill_dash_add_handler(dash, longest, "line", NULL));
    ASSERT_NULL(rill_dash_add_handler(dash, "x", longest + RILL_DASH_NAME_MAX -
                                                     RILL_DASH_TYPE_MAX, NULL));
    ASSERT_NULL(rill_dash_add_handler(dash, "\xff\xfe", "line", NULL));
    longest[RILL_DASH_NAME_MAX] = '\0'; /* the longest name there may be */
    rill_dash_handler *named = rill_dash_add_handler(dash, longest, "line", NULL);
    ASSERT_NOT_NULL(named);
    ASSERT_OK(rill_dash_remove_handler(named));
    rill_dash_handler *h = rill_dash_add_handler(dash, "x", "line", NULL);
    ASSERT_NOT_NULL(h);
    ASSERT_ERR(rill_dash_send_json(h, "{nope", 0), RILL_EINVAL);
    static float big[20000];
    ASSERT_ERR(rill_dash_send_values(h, RILL_TYPE_FLOAT, big, 20000, 0, 0, 0),
               RILL_ERANGE);
    ASSERT_ERR(rill_dash_send_values(h, RILL_TYPE_CHAR, big, 4, 0, 0, 0),
               RILL_EINVAL);
    ASSERT_ERR(rill_dash_send_values(h, RILL_TYPE_FLOAT, big, 4, 0, 2, 0),
               RILL_EINVAL);
    ASSERT_OK(rill_dash_send_values(h, RILL_TYPE_FLOAT, big, 16000, 0, 0, 0));
    /* A server-side refusal reaches on_error in poll. */
    int16_t pcm[4] = {0};
    ASSERT_OK(rill_dash_send_pcm16(h, pcm, 2, 2, 0));
    ASSERT_OK(rill_dash_remove_handler(h));
    static const char again[] = "{\"event\":\"handler-remove\",\"id\":1}";
    ASSERT_OK(rill_client_send_message(rill_dash_client(dash), false, again,
                                       sizeof again - 1, NULL, 0));
    poll_until(dash, &g.errors, 1);
    ASSERT_TRUE(strstr(g.error, "handler-remove: unknown handler 1") != NULL);
    rill_dash_destroy(dash);
    device_stop(&d);
}

/* ---- Running programs for pages (allow_exec) ------------------------------------ */

TEST(exec_is_refused_without_allow_exec) {
    device d;
    device_start(&d, FIXED);
    page p;
    page_open(&p, &d, true, false);
    page_send(&p, "{\"rill\":\"exec\",\"id\":\"run\",\"argv\":[\"echo\",\"hi\"]}");
    const char *e = page_wait(&p, NULL, "\"error\"");
    ASSERT_TRUE(strstr(e, "exec: refused: this server does not run programs "
                          "(start it with rill serve --allow-exec --token") != NULL);
    ASSERT_TRUE(strstr(e, "\"id\":\"run\"") != NULL);
    page_pump(&p, 100);
    ASSERT_EQ_UINT(page_count(&p, "exec-started"), 0);
    page_close(&p);
    device_stop(&d);
}

TEST(allow_exec_needs_a_token) {
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.allow_exec = true;
    rill_server *srv = NULL;
    ASSERT_ERR(rill_server_create(&cfg, &srv), RILL_EINVAL);
    cfg.token = "";
    ASSERT_ERR(rill_server_create(&cfg, &srv), RILL_EINVAL);
    ASSERT_NULL(srv);
}

TEST(exec_runs_a_program_and_streams_its_output_and_exit) {
    device d;
    device_start_exec(&d, "s3cret");
    page p;
    page_open_token(&p, &d, true, false, "s3cret");
    page_send(&p, "{\"rill\":\"exec\",\"id\":7,\"argv\":[\"sh\",\"-c\",\"echo "
                  "out; echo err >&2; exit 3\"]}");
    const char *st = page_wait(&p, NULL, "exec-started");
    ASSERT_TRUE(strstr(st, "{\"event\":\"exec-started\",\"id\":7,\"job\":1,"
                           "\"pid\":") == st);
    ASSERT_EQ_STR(page_wait(&p, NULL, "\"stream\":\"stdout\""),
                  "{\"event\":\"exec-output\",\"job\":1,\"stream\":\"stdout\","
                  "\"text\":\"out\\n\"}");
    ASSERT_EQ_STR(page_wait(&p, NULL, "\"stream\":\"stderr\""),
                  "{\"event\":\"exec-output\",\"job\":1,\"stream\":\"stderr\","
                  "\"text\":\"err\\n\"}");
    ASSERT_EQ_STR(page_wait(&p, NULL, "exec-exit"),
                  "{\"code\":3,\"event\":\"exec-exit\",\"job\":1,\"signal\":0}");
    /* argv is argv: no shell unless asked for. */
    page_send(&p, "{\"rill\":\"exec\",\"argv\":[\"echo\",\"$HOME; ls\"]}");
    ASSERT_TRUE(strstr(page_wait(&p, NULL, "\"text\":\"$HOME; ls\\n\""),
                       "\"job\":2") != NULL);
    page_close(&p);
    device_stop(&d);
}

/* The editor's Execute: the code goes to a private file, run by the
 * script interpreter ("sh" here, which takes the "-u" python gets) with
 * this server's URL and token in its environment; the files are gone once
 * it has ended. */
TEST(exec_runs_an_editor_script_from_a_private_file_with_the_servers_url_and_token) {
    device d;
    device_opts o = {.flags = FIXED, .token = "s3cret", .allow_exec = true,
                     .script_interpreter = "sh"};
    device_start_opts(&d, &o);
    page p;
    page_open_token(&p, &d, true, false, "s3cret");
    size_t at = 0;
    page_send(&p, "{\"rill\":\"exec\",\"id\":\"ed\",\"name\":\"demo.py\","
                  "\"script\":\"echo url=$RILL_URL tok=$RILL_TOKEN\\n"
                  "echo dir=$(pwd) file=$(basename $0)\\n"
                  "ls -l $0 | cut -c1-10\\nexit 5\\n\"}");
    const char *st = page_wait(&p, &at, "exec-started");
    ASSERT_TRUE(strstr(st, "\"id\":\"ed\"") != NULL);
    /* The JSON text escapes '/' as "\\/". */
    char want[128];
    snprintf(want, sizeof want, "url=ws:\\/\\/127.0.0.1:%d tok=s3cret\\n",
             rill_server_port(d.srv));
    page_wait(&p, NULL, want);
    const char *dir = strstr(page_wait(&p, NULL, "dir="), "dir=") + 4;
    char path[128];
    size_t n = 0;
    for (const char *q = dir; *q != ' ' && *q != '\0' && n + 1 < sizeof path; q++)
        if (*q != '\\')
            path[n++] = *q;
    path[n] = '\0';
    ASSERT_TRUE(strncmp(path, "/tmp/rill-script-", 17) == 0);
    ASSERT_TRUE(strstr(dir, " file=demo.py\\n") != NULL);
    page_wait(&p, NULL, "-rw-------");
    ASSERT_TRUE(strstr(page_wait(&p, NULL, "exec-exit"), "\"code\":5") != NULL);
    struct stat sb;
    ASSERT_TRUE(stat(path, &sb) != 0 && errno == ENOENT);
    /* A name that is not a plain file name becomes script.py; a script
     * that is not a string is refused. */
    page_send(&p, "{\"rill\":\"exec\",\"name\":\"../x.py\",\"script\":"
                  "\"echo name=$(basename $0)\"}");
    page_wait(&p, NULL, "name=script.py");
    page_send(&p, "{\"rill\":\"exec\",\"id\":9,\"script\":42}");
    ASSERT_TRUE(strstr(page_wait(&p, &at, "\"error\""),
                       "exec: \\\"script\\\" must be a string (the code)") != NULL);
    page_close(&p);
    device_stop(&d);
}

TEST(exec_stop_kills_the_programs_process_group) {
    device d;
    device_start_exec(&d, "s3cret");
    page p;
    page_open_token(&p, &d, true, false, "s3cret");
    page_send(&p, "{\"rill\":\"exec\",\"argv\":[\"sh\",\"-c\",\"sleep 60 & "
                  "echo started; sleep 60; echo never\"]}");
    const char *st = page_wait(&p, NULL, "exec-started");
    int pid = atoi(strstr(st, "\"pid\":") + 6);
    ASSERT_TRUE(pid > 0);
    page_wait(&p, NULL, "\"text\":\"started\\n\"");
    page_send(&p, "{\"rill\":\"exec-stop\",\"job\":1}");
    ASSERT_EQ_STR(page_wait(&p, NULL, "exec-exit"),
                  "{\"code\":-1,\"event\":\"exec-exit\",\"job\":1,\"signal\":15}");
    /* The background sleep was in the group too. */
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (kill(-pid, 0) == 0) {
        if (rill_clock_now_ns() > end)
            FAIL("process group %d still alive 5 s after the stop", pid);
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 20000000);
    }
    ASSERT_EQ_INT(errno, ESRCH);
    ASSERT_EQ_UINT(page_count(&p, "never"), 0);
    page_close(&p);
    device_stop(&d);
}

TEST(exec_refuses_bad_requests_and_a_closed_page_ends_its_program) {
    device d;
    device_start_exec(&d, "s3cret");
    page p;
    page_open_token(&p, &d, true, false, "s3cret");
    size_t at = 0;
    page_send(&p, "{\"rill\":\"exec\",\"argv\":\"ls\"}");
    ASSERT_TRUE(strstr(page_wait(&p, &at, "\"error\""),
                       "\\\"argv\\\" must be an array of 1 to 256 strings") != NULL);
    page_send(&p, "{\"rill\":\"exec\",\"argv\":[\"rill-no-such-program\"]}");
    ASSERT_TRUE(strstr(page_wait(&p, &at, "\"error\""),
                       "cannot run \\\"rill-no-such-program\\\": No such file "
                       "or directory") != NULL);
    page_send(&p, "{\"rill\":\"exec-stop\",\"job\":42}");
    ASSERT_TRUE(strstr(page_wait(&p, &at, "\"error\""),
                       "no running job 42 of this connection") != NULL);
    page_send(&p, "{\"rill\":\"exec\",\"argv\":[\"sleep\",\"60\"]}");
    int pid = atoi(strstr(page_wait(&p, NULL, "exec-started"), "\"pid\":") + 6);
    page_close(&p);
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (kill(pid, 0) == 0) {
        if (rill_clock_now_ns() > end)
            FAIL("the program of a closed page still runs after 5 s");
        rill_clock_sleep_until_ns(rill_clock_now_ns() + 20000000);
    }
    device_stop(&d);
}
