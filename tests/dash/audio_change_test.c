/* Audio configuration changes (docs/PROTOCOL.md §8): {"rill":"audio-config"}
 * checked by the server against the description's settable fields, then
 * run by the program's on_audio_change on the device-request thread, and
 * answered after the new description went to every native page. Against
 * a real rill_server in this process, with raw WebSocket pages
 * (src/client/ws.c), rill_client and rill_dash. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "client/ws.h"
#include "dashtest.h"
#include "test.h"

/* The device (dashtest.h): device_start's flags WITH_CB, FIXED and NO_AUDIO
 * say whether the program takes changes and what its description offers;
 * d.ctl is its on_audio_change. */

static rill_client *client_open(const device *d, rill_client_mode mode) {
    char url[64];
    url_of(d, url, sizeof url);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = mode;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    return cl;
}

#define DESC_AB_48000                                                          \
    "{\"bufferFrames\":256,\"channels\":2,\"rate\":48000,\"settable\":{"       \
    "\"bufferFrames\":[1,65536],\"channels\":[1,3],\"rates\":[16000,44100,"    \
    "48000],\"volume\":[0,100]},\"variables\":[\"a\",\"b\"],\"volume\":80}"

/* ---- Refusals by the server ---------------------------------------------- */

TEST(audio_config_is_refused_when_the_program_takes_no_changes) {
    device d;
    device_start(&d, 0);
    page p;
    page_open(&p, &d, true, false);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":3,\"volume\":50}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":3,\"message\":"
                 "\"audio-config: refused: this device's program does not take "
                 "audio configuration changes (rill serve takes them for its "
                 "audio sources)\"}}");
    /* Without on_audio_change the description offers nothing. */
    const char *list = page_list(&p, 4);
    ASSERT_NOT_NULL(strstr(list, "\"audio\":{\"bufferFrames\":256,\"channels\":2,"
                                 "\"rate\":48000,\"variables\":[\"a\",\"b\"],"
                                 "\"volume\":80}"));
    ASSERT_NULL(strstr(list, "settable"));
    /* rill_client_change_audio says the same. */
    rill_client *cl = client_open(&d, RILL_CLIENT_NATIVE);
    char why[512];
    rill_audio_change ch = {0, 0, 0, 50};
    ASSERT_ERR(rill_client_change_audio(cl, &ch, why, sizeof why), RILL_EINVAL);
    ASSERT_EQ_STR(why, "this device's program does not "
                       "take audio configuration changes (rill serve takes "
                       "them for its audio sources)");
    rill_client_destroy(cl);
    page_close(&p);
    device_stop(&d);
}

TEST(audio_config_is_refused_on_a_compat_socket) {
    device d;
    device_start(&d, WITH_CB);
    page p;
    page_open(&p, &d, false, false);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":1,\"volume\":50}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":1,\"message\":"
                 "\"audio-config: send {\\\"rill\\\":\\\"hello\\\",\\\"version"
                 "\\\":1} first; refused\"}}");
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    /* A compat rill_client does not even ask. */
    rill_client *cl = client_open(&d, RILL_CLIENT_COMPAT);
    char why[512];
    rill_audio_change ch = {0, 0, 0, 50};
    ASSERT_ERR(rill_client_change_audio(cl, &ch, why, sizeof why), RILL_ENOTSUP);
    ASSERT_TRUE(why[0] != '\0');
    rill_client_destroy(cl);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    page_close(&p);
    device_stop(&d);
}

TEST(audio_config_refuses_an_unknown_field) {
    device d;
    device_start(&d, WITH_CB);
    page p;
    page_open(&p, &d, true, false);
    expect_error(&p,
                 "{\"rill\":\"audio-config\",\"id\":2,\"volume\":50,"
                 "\"buffer_frames\":512}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":2,\"message\":"
                 "\"audio-config: unknown field \\\"buffer_frames\\\" (the "
                 "fields are rate, channels, bufferFrames and volume); "
                 "refused\"}}");
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    page_close(&p);
    device_stop(&d);
}

TEST(audio_config_refuses_wrong_types) {
    device d;
    device_start(&d, WITH_CB);
    page p;
    page_open(&p, &d, true, false);
    static const char *const bodies[] = {
        "{\"rill\":\"audio-config\",\"id\":1,\"rate\":\"16000\"}",
        "{\"rill\":\"audio-config\",\"id\":1,\"volume\":true}",
        "{\"rill\":\"audio-config\",\"id\":1,\"volume\":null}",
        "{\"rill\":\"audio-config\",\"id\":1,\"channels\":1.0}",
        "{\"rill\":\"audio-config\",\"id\":1,\"channels\":\"3\"}",
        "{\"rill\":\"audio-config\",\"id\":1,\"bufferFrames\":512.5}",
        "{\"rill\":\"audio-config\",\"id\":1,\"bufferFrames\":[512]}",
        /* a good field does not let a bad one through */
        "{\"rill\":\"audio-config\",\"id\":1,\"volume\":50,\"rate\":{}}",
    };
    for (size_t k = 0; k < sizeof bodies / sizeof bodies[0]; k++)
        expect_error(&p, bodies[k],
                     "{\"error\":{\"cmd\":\"audio-config\",\"id\":1,\"message\":"
                     "\"audio-config: rate and volume must be numbers, channels "
                     "and bufferFrames integers; refused\"}}");
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    /* The same socket still works. */
    size_t from = p.n_text;
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":9,\"volume\":50}");
    page_wait(&p, &from, "\"event\":\"audio-config\",\"id\":9}");
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 1);
    page_close(&p);
    device_stop(&d);
}

TEST(audio_config_is_refused_without_an_audio_description) {
    device d;
    device_start(&d, WITH_CB | NO_AUDIO);
    page p;
    page_open(&p, &d, true, false);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":\"x\",\"volume\":50}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":\"x\",\"message\":"
                 "\"audio-config: this device has no audio input to configure; "
                 "refused\"}}");
    /* Declared, then withdrawn: the same. */
    pthread_mutex_lock(&d.ctl.lock);
    ASSERT_OK(ctl_describe(&d.ctl));
    pthread_mutex_unlock(&d.ctl.lock);
    ASSERT_OK(rill_server_set_audio(d.srv, NULL));
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":4,\"rate\":16000}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":4,\"message\":"
                 "\"audio-config: this device has no audio input to configure; "
                 "refused\"}}");
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    page_close(&p);
    device_stop(&d);
}

TEST(fixed_fields_are_refused_naming_the_current_value) {
    device d;
    device_start(&d, WITH_CB | FIXED);
    page p;
    page_open(&p, &d, true, false);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":1,\"rate\":44100}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":1,\"message\":"
                 "\"audio-config: the rate is fixed at 48000 Hz on this device; "
                 "refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":2,\"channels\":3}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":2,\"message\":"
                 "\"audio-config: the channel count is fixed at 2 on this "
                 "device; refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":3,\"bufferFrames\":512}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":3,\"message\":"
                 "\"audio-config: the buffer size is fixed at 256 frames on "
                 "this device; refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":4,\"volume\":50}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":4,\"message\":"
                 "\"audio-config: the volume is fixed at 80 on this device; "
                 "refused\"}}");
    /* One fixed field among accepted ones refuses the whole message. */
    expect_error(&p,
                 "{\"rill\":\"audio-config\",\"id\":5,\"volume\":80,"
                 "\"channels\":1}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":5,\"message\":"
                 "\"audio-config: the channel count is fixed at 2 on this "
                 "device; refused\"}}");
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    /* Every field at its current value: no change, accepted. */
    size_t from = p.n_text;
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":6,\"rate\":48000,"
                  "\"channels\":2,\"bufferFrames\":256,\"volume\":80}");
    ASSERT_EQ_STR(page_wait(&p, &from, "\"audio-config\""),
                  "{\"audio\":{\"bufferFrames\":256,\"channels\":2,\"rate\":48000,"
                  "\"settable\":{},\"variables\":[\"a\",\"b\"],\"volume\":80},"
                  "\"event\":\"audio-config\",\"id\":6}");
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 1);
    pthread_mutex_lock(&d.ctl.lock);
    rill_audio_change s = d.ctl.seen[0];
    pthread_mutex_unlock(&d.ctl.lock);
    ASSERT_EQ_DOUBLE(s.rate, 0, 0);
    ASSERT_EQ_UINT(s.channels, 0);
    ASSERT_EQ_UINT(s.buffer_frames, 0);
    ASSERT_TRUE(s.volume < 0);
    page_close(&p);
    device_stop(&d);
}

TEST(a_volume_the_program_does_not_report_cannot_be_set) {
    device d;
    device_start(&d, WITH_CB | FIXED);
    pthread_mutex_lock(&d.ctl.lock);
    d.ctl.volume = -1;
    ASSERT_OK(ctl_describe(&d.ctl));
    pthread_mutex_unlock(&d.ctl.lock);
    page p;
    page_open(&p, &d, true, false);
    const char *e = page_ask_error(&p, "{\"rill\":\"audio-config\",\"id\":1,"
                                       "\"volume\":50}");
    ASSERT_NOT_NULL(strstr(e, "\"id\":1,"));
    ASSERT_NOT_NULL(strstr(e, "volume"));
    ASSERT_NOT_NULL(strstr(e, "refused"));
    ASSERT_NULL(strstr(e, "-1")); /* no made-up current value */
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    page_close(&p);
    device_stop(&d);
}

TEST(values_not_offered_are_refused_naming_what_is) {
    device d;
    device_start(&d, WITH_CB);
    page p;
    page_open(&p, &d, true, false);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":1,\"rate\":12345}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":1,\"message\":"
                 "\"audio-config: rate 12345 is not offered by this device (it "
                 "offers 16000, 44100, 48000); refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":1,\"rate\":44100.5}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":1,\"message\":"
                 "\"audio-config: rate 44100.5 is not offered by this device (it "
                 "offers 16000, 44100, 48000); refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":2,\"channels\":4}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":2,\"message\":"
                 "\"audio-config: channels 4 is not offered by this device (1 "
                 "to 3); refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":2,\"channels\":0}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":2,\"message\":"
                 "\"audio-config: channels 0 is not offered by this device (1 "
                 "to 3); refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":2,\"channels\":-1}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":2,\"message\":"
                 "\"audio-config: channels -1 is not offered by this device (1 "
                 "to 3); refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":3,\"bufferFrames\":0}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":3,\"message\":"
                 "\"audio-config: bufferFrames 0 is out of range (1 to 65536); "
                 "refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":3,\"bufferFrames\":65537}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":3,\"message\":"
                 "\"audio-config: bufferFrames 65537 is out of range (1 to "
                 "65536); refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":4,\"volume\":120}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":4,\"message\":"
                 "\"audio-config: volume 120 is out of range (0 to 100); "
                 "refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":4,\"volume\":-0.5}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":4,\"message\":"
                 "\"audio-config: volume -0.5 is out of range (0 to 100); "
                 "refused\"}}");
    page_pump(&p, 100);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 0);
    /* The edges are offered. */
    size_t from = p.n_text;
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":5,\"bufferFrames\":65536,"
                  "\"volume\":100,\"channels\":3}");
    const char *ok = page_wait(&p, &from, "\"audio-config\"");
    ASSERT_TRUE(strstr(ok, "{\"audio\":{\"bufferFrames\":65536,\"channels\":3,") == ok);
    ASSERT_NOT_NULL(strstr(ok, "\"variables\":[\"a\",\"b\",\"c\"],\"volume\":100},"
                               "\"event\":\"audio-config\",\"id\":5}"));
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":6,\"bufferFrames\":1,"
                  "\"volume\":0,\"channels\":1}");
    ok = page_wait(&p, &from, "\"audio-config\"");
    ASSERT_TRUE(strstr(ok, "{\"audio\":{\"bufferFrames\":1,\"channels\":1,") == ok);
    ASSERT_NOT_NULL(strstr(ok, "\"variables\":[\"a\"],\"volume\":0},"));
    pthread_mutex_lock(&d.ctl.lock);
    rill_audio_change s = d.ctl.seen[1];
    pthread_mutex_unlock(&d.ctl.lock);
    ASSERT_EQ_DOUBLE(s.volume, 0, 0); /* 0 is a volume, not "unchanged" */
    ASSERT_EQ_UINT(s.buffer_frames, 1);
    ASSERT_EQ_UINT(s.channels, 1);
    page_close(&p);
    device_stop(&d);
}

/* ---- The program's call -------------------------------------------------- */

TEST(the_program_gets_exactly_the_changed_fields_on_a_thread_of_its_own) {
    device d;
    device_start(&d, WITH_CB);
    /* Which thread is the network thread: on_buffer runs there. */
    rill_client *cl = client_open(&d, RILL_CLIENT_NATIVE);
    float one = 1;
    ASSERT_OK(rill_client_send_buffer(cl, 0, RILL_TYPE_FLOAT, &one, 1));
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    for (;;) {
        pthread_mutex_lock(&d.net_lock);
        int n = d.net_buffers;
        pthread_mutex_unlock(&d.net_lock);
        if (n > 0)
            break;
        if (rill_clock_now_ns() > end)
            FAIL("on_buffer never ran");
        usleep(2000);
    }
    page p;
    page_open(&p, &d, true, false);
    size_t from = p.n_text;
    /* channels and bufferFrames as they are: not changes. */
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":1,\"rate\":16000,"
                  "\"channels\":2,\"bufferFrames\":256,\"volume\":50}");
    page_wait(&p, &from, "\"event\":\"audio-config\",\"id\":1}");
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":2,\"channels\":3,"
                  "\"bufferFrames\":512}");
    page_wait(&p, &from, "\"event\":\"audio-config\",\"id\":2}");
    /* From rill_client_change_audio: only the fields set are sent. */
    rill_audio_change ch = {.rate = 44100, .channels = 0, .buffer_frames = 0,
                            .volume = -1};
    char why[512];
    ASSERT_OK(rill_client_change_audio(cl, &ch, why, sizeof why));
    ASSERT_EQ_STR(why, "");
    ch = (rill_audio_change){.rate = 0, .channels = 1, .buffer_frames = 64,
                             .volume = 0};
    ASSERT_OK(rill_client_change_audio(cl, &ch, why, sizeof why));

    pthread_mutex_lock(&d.ctl.lock);
    ASSERT_EQ_INT(d.ctl.calls, 4);
    rill_audio_change *s = d.ctl.seen;
    ASSERT_EQ_DOUBLE(s[0].rate, 16000, 0);
    ASSERT_EQ_UINT(s[0].channels, 0);
    ASSERT_EQ_UINT(s[0].buffer_frames, 0);
    ASSERT_EQ_DOUBLE(s[0].volume, 50, 0);
    ASSERT_EQ_DOUBLE(s[1].rate, 0, 0);
    ASSERT_EQ_UINT(s[1].channels, 3);
    ASSERT_EQ_UINT(s[1].buffer_frames, 512);
    ASSERT_TRUE(s[1].volume < 0);
    ASSERT_EQ_DOUBLE(s[2].rate, 44100, 0);
    ASSERT_EQ_UINT(s[2].channels, 0);
    ASSERT_EQ_UINT(s[2].buffer_frames, 0);
    ASSERT_TRUE(s[2].volume < 0);
    ASSERT_EQ_DOUBLE(s[3].rate, 0, 0);
    ASSERT_EQ_UINT(s[3].channels, 1);
    ASSERT_EQ_UINT(s[3].buffer_frames, 64);
    ASSERT_EQ_DOUBLE(s[3].volume, 0, 0);
    pthread_t cb_thread = d.ctl.thread;
    ASSERT_EQ_INT(d.ctl.set_rc, 0);
    pthread_mutex_unlock(&d.ctl.lock);
    pthread_mutex_lock(&d.net_lock);
    pthread_t net = d.net_thread;
    pthread_mutex_unlock(&d.net_lock);
    ASSERT_TRUE(!pthread_equal(cb_thread, pthread_self()));
    ASSERT_TRUE(!pthread_equal(cb_thread, net));
    ASSERT_TRUE(!pthread_equal(net, pthread_self()));

    /* The client's list has what the program made of it. */
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    ASSERT_EQ_DOUBLE(l->sample_rate, 44100, 0);
    rill_client_list_free(l);
    rill_client_destroy(cl);
    page_close(&p);
    device_stop(&d);
}

TEST(the_programs_refusal_reaches_the_client_verbatim) {
    device d;
    device_start(&d, WITH_CB);
    pthread_mutex_lock(&d.ctl.lock);
    d.ctl.rc = RILL_EINVAL;
    snprintf(d.ctl.why, sizeof d.ctl.why,
             "the converter cannot run at 16000 Hz with \"b\"; try 48000");
    pthread_mutex_unlock(&d.ctl.lock);
    rill_client *cl = client_open(&d, RILL_CLIENT_NATIVE);
    char why[512];
    rill_audio_change ch = rill_audio_change_none();
    ch.rate = 16000;
    ASSERT_ERR(rill_client_change_audio(cl, &ch, why, sizeof why), RILL_EINVAL);
    ASSERT_EQ_STR(why, "the converter cannot run at 16000 Hz "
                       "with \"b\"; try 48000");
    /* A short buffer gets a truncated, terminated sentence. */
    char small[12];
    ASSERT_ERR(rill_client_change_audio(cl, &ch, small, sizeof small), RILL_EINVAL);
    ASSERT_EQ_STR(small, "the convert");
    page p;
    page_open(&p, &d, true, false);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":\"r\",\"rate\":16000}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":\"r\",\"message\":"
                 "\"audio-config: the converter cannot run at 16000 Hz with "
                 "\\\"b\\\"; try 48000\"}}");
    /* A refusal without a sentence still says something. */
    pthread_mutex_lock(&d.ctl.lock);
    d.ctl.rc = RILL_EIO;
    d.ctl.why[0] = '\0';
    pthread_mutex_unlock(&d.ctl.lock);
    /* rill_strerror's text as JSON: the server escapes '/'. */
    char esc[200] = "", want[300];
    for (const char *q = rill_strerror(RILL_EIO); *q; q++)
        snprintf(esc + strlen(esc), sizeof esc - strlen(esc), "%s%c",
                 *q == '/' ? "\\" : "", *q);
    snprintf(want, sizeof want,
             "{\"error\":{\"cmd\":\"audio-config\",\"id\":7,\"message\":"
             "\"audio-config: the device refused (%s)\"}}",
             esc);
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":7,\"volume\":10}", want);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 4);
    /* Nothing changed, nothing was announced. */
    ASSERT_NOT_NULL(strstr(page_list(&p, 8), DESC_AB_48000 ",\"sampleRate\":48000,"));
    ASSERT_EQ_UINT(page_count(&p, "\"event\":\"audio\""), 0);
    rill_client_destroy(cl);
    page_close(&p);
    device_stop(&d);
}

/* ---- The answer and the announcement ------------------------------------- */

#define DESC_ABC_16000                                                         \
    "{\"bufferFrames\":512,\"channels\":3,\"rate\":16000,\"settable\":{"       \
    "\"bufferFrames\":[1,65536],\"channels\":[1,3],\"rates\":[16000,44100,"    \
    "48000],\"volume\":[0,100]},\"variables\":[\"a\",\"b\",\"c\"],"           \
    "\"volume\":50}"

TEST(a_change_is_announced_to_native_pages_before_it_is_answered) {
    device d;
    device_start(&d, WITH_CB);
    page req, other, compat;
    page_open(&req, &d, true, false);
    page_open(&other, &d, true, false);
    page_open(&compat, &d, false, false);
    size_t from = req.n_text;
    page_send(&req, "{\"rill\":\"audio-config\",\"id\":5,\"rate\":16000,"
                    "\"channels\":3,\"bufferFrames\":512,\"volume\":50}");
    size_t answer = page_find(&req, &from, "\"event\":\"audio-config\"");
    ASSERT_EQ_STR(req.text[answer],
                  "{\"audio\":" DESC_ABC_16000 ",\"event\":\"audio-config\",\"id\":5}");
    /* On the requester's own socket, the announcement came first (the
     * final one: the program's two calls may make two). */
    size_t ev = page_find(&req, NULL, "{\"audio\":" DESC_ABC_16000
                                      ",\"event\":\"audio\",\"sampleRate\":16000}");
    ASSERT_TRUE(ev < answer);
    /* The other native page gets it, in its final form. */
    size_t ofrom = 0;
    const char *oev = page_wait(&other, &ofrom, "\"sampleRate\":16000}");
    ASSERT_EQ_STR(oev, "{\"audio\":" DESC_ABC_16000
                       ",\"event\":\"audio\",\"sampleRate\":16000}");
    ASSERT_EQ_UINT(page_count(&other, "\"audio-config\""), 0);
    /* List replies, native and compat, and a new page's hello. */
    const char *list = page_list(&req, 6);
    ASSERT_TRUE(strstr(list, "{\"id\":6,\"watcher\":{\"audio\":" DESC_ABC_16000
                             ",\"sampleRate\":16000,") == list);
    list = page_list(&compat, 7);
    ASSERT_TRUE(strstr(list, "{\"id\":7,\"watcher\":{\"sampleRate\":16000,") == list);
    page late;
    page_open(&late, &d, true, false);
    ASSERT_NOT_NULL(strstr(page_wait(&late, NULL, "\"maxValues\""),
                           "\"sampleRate\":16000,\"run\":"));
    page_close(&late);
    /* A compatibility socket never sees audio events nor answers. */
    page_pump(&compat, 100);
    ASSERT_EQ_UINT(page_count(&compat, "\"event\":\"audio"), 0);

    /* Again and again: every answer after its announcement. */
    for (int k = 0; k < 30; k++) {
        char msg[128], needle[64];
        int vol = k % 2 ? 50 : 51;
        snprintf(msg, sizeof msg,
                 "{\"rill\":\"audio-config\",\"id\":%d,\"volume\":%d}", 100 + k, vol);
        snprintf(needle, sizeof needle, "\"event\":\"audio-config\",\"id\":%d}",
                 100 + k);
        size_t before = req.n_text;
        page_send(&req, msg);
        size_t f = before;
        size_t a = page_find(&req, &f, needle);
        char vneedle[64];
        snprintf(vneedle, sizeof vneedle, "\"volume\":%d},\"event\":\"audio\"", vol);
        f = before;
        size_t e = page_find(&req, &f, vneedle);
        if (!(e < a))
            FAIL("change %d: the answer (message %zu) came before the "
                 "announcement (message %zu)", k, a, e);
    }
    page_close(&req);
    page_close(&other);
    page_close(&compat);
    device_stop(&d);
}

TEST(set_sample_rate_is_checked_listed_and_announced) {
    device d;
    device_start(&d, WITH_CB);
    page p, compat;
    page_open(&p, &d, true, false);
    page_open(&compat, &d, false, false);
    ASSERT_ERR(rill_server_set_sample_rate(d.srv, 0), RILL_EINVAL);
    ASSERT_ERR(rill_server_set_sample_rate(d.srv, -44100), RILL_EINVAL);
    ASSERT_ERR(rill_server_set_sample_rate(d.srv, 1e7), RILL_EINVAL);
    ASSERT_ERR(rill_server_set_sample_rate(NULL, 44100), RILL_EINVAL);
    ASSERT_OK(rill_server_set_sample_rate(d.srv, 22050.5));
    ASSERT_EQ_STR(page_wait(&p, NULL, "\"event\":\"audio\""),
                  "{\"audio\":" DESC_AB_48000
                  ",\"event\":\"audio\",\"sampleRate\":22050.5}");
    ASSERT_NOT_NULL(strstr(page_list(&p, 1), ",\"sampleRate\":22050.5,"));
    ASSERT_NOT_NULL(strstr(page_list(&compat, 2), "{\"sampleRate\":22050.5,"));
    ASSERT_EQ_UINT(page_count(&compat, "\"event\":\"audio\""), 0);
    page_close(&p);
    page_close(&compat);
    device_stop(&d);
}

/* ---- rill_dash ------------------------------------------------------------ */

TEST(a_dash_program_that_asks_for_a_change_gets_the_new_configuration) {
    device d;
    device_start(&d, WITH_CB);
    char url[64];
    url_of(&d, url, sizeof url);
    got g = {0};
    rill_dash_config cfg = rill_dash_config_default();
    cfg.url = url;
    cfg.on_data = on_data;
    cfg.on_config = on_config;
    cfg.user = &g;
    rill_dash *dash = NULL;
    ASSERT_OK(rill_dash_connect(&cfg, &dash));
    poll_until(dash, &g.buffers, 2);
    ASSERT_EQ_INT(g.configs, 1);
    ASSERT_EQ_UINT(g.frames, 256);
    /* What may change, from the description's "settable" (DESC_AB_48000). */
    ASSERT_EQ_UINT(g.last.n_rates, 3);
    ASSERT_EQ_DOUBLE(g.last.rates[0], 16000, 0);
    ASSERT_EQ_DOUBLE(g.last.rates[1], 44100, 0);
    ASSERT_EQ_DOUBLE(g.last.rates[2], 48000, 0);
    ASSERT_EQ_UINT(g.last.min_channels, 1);
    ASSERT_EQ_UINT(g.last.max_channels, 3);
    ASSERT_TRUE(g.last.buffer_frames_settable);
    ASSERT_TRUE(g.last.volume_settable);
    rill_audio_change ch = {44100, 3, 128, 25};
    char why[512];
    ASSERT_OK(rill_client_change_audio(rill_dash_client(dash), &ch, why, sizeof why));
    /* The announcement came before the answer: one poll hands it over. */
    rill_dash_poll(dash, 0);
    ASSERT_TRUE(g.configs >= 2);
    ASSERT_TRUE(g.has);
    ASSERT_EQ_DOUBLE(g.last.rate, 44100, 0);
    ASSERT_EQ_UINT(g.last.channels, 3);
    ASSERT_EQ_UINT(g.last.buffer_frames, 128);
    ASSERT_EQ_DOUBLE(g.last.volume, 25, 0);
    ASSERT_EQ_STR(g.last.variables[2], "c");
    rill_audio_desc a;
    ASSERT_OK(rill_dash_get_audio(dash, &a));
    ASSERT_EQ_UINT(a.channels, 3);
    ASSERT_EQ_UINT(a.buffer_frames, 128);
    poll_until(dash, &g.buffers, 3);
    ASSERT_EQ_UINT(g.frames, 128);
    ASSERT_EQ_UINT(g.channels, 3);
    ASSERT_EQ_INT(g.bad, 0);
    /* A refused change changes nothing. */
    ch = (rill_audio_change){12345, 0, 0, -1};
    ASSERT_ERR(rill_client_change_audio(rill_dash_client(dash), &ch, why, sizeof why),
               RILL_EINVAL);
    ASSERT_NOT_NULL(strstr(why, "rate 12345 is not offered"));
    int configs = g.configs;
    rill_dash_poll(dash, 100);
    ASSERT_EQ_INT(g.configs, configs);
    rill_dash_destroy(dash);
    device_stop(&d);
}

/* ---- Requests in flight -------------------------------------------------- */

TEST(a_requester_that_leaves_before_the_answer_hurts_nothing) {
    device d;
    device_start(&d, WITH_CB);
    d.ctl.hold = true; /* no callback has run yet */
    page gone, p;
    page_open(&gone, &d, true, false);
    page_send(&gone, "{\"rill\":\"audio-config\",\"id\":\"bye\",\"volume\":30}");
    ctl_wait(&d.ctl, &d.ctl.calls, 1);
    page_close(&gone);
    page_open(&p, &d, true, false);
    ctl_release(&d.ctl, 1);
    ctl_wait(&d.ctl, &d.ctl.done, 1);
    /* It was applied all the same, and announced. */
    size_t from = 0;
    page_wait(&p, &from, "\"volume\":30},\"event\":\"audio\"");
    ctl_release(&d.ctl, 100);
    from = p.n_text;
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":2,\"volume\":40}");
    ASSERT_NOT_NULL(strstr(page_wait(&p, &from, "\"event\":\"audio-config\""),
                           "\"volume\":40},\"event\":\"audio-config\",\"id\":2}"));
    page_pump(&p, 100);
    ASSERT_EQ_UINT(page_count(&p, "bye"), 0);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 2);
    page_close(&p);
    device_stop(&d);
}

TEST(eight_changes_wait_at_most_the_ninth_is_refused) {
    device d;
    device_start(&d, WITH_CB);
    d.ctl.hold = true;
    page p, other;
    page_open(&p, &d, true, false);
    page_open(&other, &d, true, false);
    for (int k = 1; k <= 9; k++) {
        char msg[96];
        snprintf(msg, sizeof msg, "{\"rill\":\"audio-config\",\"id\":%d,\"volume\":%d}",
                 k, 10 + k);
        page_send(&p, msg);
    }
    ASSERT_EQ_STR(page_wait(&p, NULL, "\"error\""),
                  "{\"error\":{\"cmd\":\"audio-config\",\"id\":9,\"message\":"
                  "\"audio-config: 8 changes are waiting already; try again "
                  "once they are done\"}}");
    /* From another socket too: the limit is the server's. */
    expect_error(&other, "{\"rill\":\"audio-config\",\"id\":\"o\",\"volume\":5}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":\"o\",\"message\":"
                 "\"audio-config: 8 changes are waiting already; try again "
                 "once they are done\"}}");
    /* The first is being run (its thread may not have picked it up yet
     * when the ninth was refused: it was waiting then), the others wait. */
    for (int i = 0; i < 500 && ctl_get(&d.ctl, &d.ctl.calls) == 0; i++)
        usleep(10000);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 1);
    ctl_release(&d.ctl, 100);
    /* The eight are answered in order, one at a time. */
    size_t from = 0;
    for (int k = 1; k <= 8; k++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\"event\":\"audio-config\",\"id\":%d}", k);
        page_find(&p, &from, needle);
    }
    ASSERT_EQ_UINT(page_count(&p, "\"error\""), 1);
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.calls), 8);
    pthread_mutex_lock(&d.ctl.lock);
    for (int k = 0; k < 8; k++)
        ASSERT_EQ_DOUBLE(d.ctl.seen[k].volume, 11 + k, 0);
    ASSERT_EQ_DOUBLE(d.ctl.volume, 18, 0);
    pthread_mutex_unlock(&d.ctl.lock);
    /* Room again. */
    from = p.n_text;
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":10,\"volume\":1}");
    ASSERT_NOT_NULL(strstr(page_wait(&p, &from, "\"id\":10}"),
                           "\"volume\":1},\"event\":\"audio-config\""));
    page_close(&p);
    page_close(&other);
    device_stop(&d);
}

typedef struct destroyer {
    device *d;
    atomic_bool returned;
} destroyer;

static void *destroy_main(void *arg) {
    destroyer *x = arg;
    rill_server_destroy(x->d->srv);
    atomic_store(&x->returned, true);
    return NULL;
}

TEST(server_destroy_waits_for_a_running_change) {
    device d;
    device_start(&d, WITH_CB);
    d.ctl.hold = true;
    page p;
    page_open(&p, &d, true, false);
    /* One runs, three wait (string ids: their copies must be freed). */
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":\"run\",\"volume\":1}");
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":\"w1\",\"volume\":2}");
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":\"w2\",\"volume\":3}");
    page_send(&p, "{\"rill\":\"audio-config\",\"id\":\"w3\",\"volume\":4}");
    ctl_wait(&d.ctl, &d.ctl.calls, 1);
    page_pump(&p, 100); /* the server has read them all */
    device_stop_producer(&d);
    destroyer x = {.d = &d};
    atomic_init(&x.returned, false);
    pthread_t t;
    ASSERT_TRUE(pthread_create(&t, NULL, destroy_main, &x) == 0);
    usleep(300000);
    ASSERT_TRUE(!atomic_load(&x.returned));
    ASSERT_EQ_INT(ctl_get(&d.ctl, &d.ctl.done), 0);
    /* Keep the network thread busy while it goes. */
    for (int k = 0; k < 5; k++)
        page_pump(&p, 10);
    ctl_release(&d.ctl, 1);
    pthread_join(t, NULL);
    ASSERT_TRUE(atomic_load(&x.returned));
    pthread_mutex_lock(&d.ctl.lock);
    ASSERT_EQ_INT(d.ctl.done, 1);
    ASSERT_EQ_INT(d.ctl.calls, 1); /* the waiting ones were dropped */
    ASSERT_EQ_INT(d.ctl.set_rc, 0); /* the server was whole during the call */
    pthread_mutex_unlock(&d.ctl.lock);
    page_close(&p);
    device_free(&d);
}

TEST(server_destroy_while_pages_keep_asking_is_safe) {
    /* Requests keep arriving and answers keep being collected on the
     * network thread until it stops: none of it may touch the request
     * thread's state once that is gone. */
    for (int round = 0; round < 6; round++) {
        device d;
        device_start(&d, WITH_CB);
        page p;
        page_open(&p, &d, true, false);
        device_stop_producer(&d);
        destroyer x = {.d = &d};
        atomic_init(&x.returned, false);
        pthread_t t;
        ASSERT_TRUE(pthread_create(&t, NULL, destroy_main, &x) == 0);
        for (int k = 0; k < 200 && !atomic_load(&x.returned); k++) {
            char msg[96];
            snprintf(msg, sizeof msg,
                     "{\"rill\":\"audio-config\",\"id\":\"s%d\",\"volume\":%d}", k,
                     k % 100);
            if (rill__ws_send(p.ws, false, msg, strlen(msg)) != 0)
                break;
            page_pump(&p, 1);
        }
        pthread_join(t, NULL);
        page_close(&p);
        device_free(&d);
    }
}

/* ---- What the description offers ---------------------------------------- */

TEST(settable_in_the_description_is_what_was_declared) {
    device d;
    device_start(&d, WITH_CB);
    page p;
    page_open(&p, &d, true, false);
    ASSERT_NOT_NULL(strstr(page_list(&p, 1), "\"audio\":" DESC_AB_48000 ","));
    /* Some fields only, a rate that is not an integer. */
    static const double odd[] = {22050.5, 96000};
    rill_audio_desc a = {.rate = 96000,
                         .buffer_frames = 64,
                         .volume = -1,
                         .channels = 1,
                         .variables = {"a", "b", "c"},
                         .rates = {odd[0], odd[1]},
                         .n_rates = 2};
    ASSERT_OK(rill_server_set_audio(d.srv, &a));
    ASSERT_NOT_NULL(strstr(page_list(&p, 2),
                           "\"audio\":{\"bufferFrames\":64,\"channels\":1,"
                           "\"rate\":96000,\"settable\":{\"rates\":[22050.5,"
                           "96000]},\"variables\":[\"a\"]},"));
    a = (rill_audio_desc){.rate = 96000,
                          .buffer_frames = 64,
                          .volume = 10,
                          .channels = 2,
                          .variables = {"a", "b", "c"},
                          .min_channels = 2,
                          .max_channels = 2,
                          .volume_settable = true};
    ASSERT_OK(rill_server_set_audio(d.srv, &a));
    ASSERT_NOT_NULL(strstr(page_list(&p, 3),
                           "\"settable\":{\"channels\":[2,2],\"volume\":[0,100]},"));
    /* What the server checks follows: the rate may now be 22050.5 only. */
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":4,\"rate\":16000}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":4,\"message\":"
                 "\"audio-config: the rate is fixed at 96000 Hz on this device; "
                 "refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":5,\"bufferFrames\":32}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":5,\"message\":"
                 "\"audio-config: the buffer size is fixed at 64 frames on this "
                 "device; refused\"}}");
    expect_error(&p, "{\"rill\":\"audio-config\",\"id\":6,\"channels\":1}",
                 "{\"error\":{\"cmd\":\"audio-config\",\"id\":6,\"message\":"
                 "\"audio-config: channels 1 is not offered by this device (2 "
                 "to 2); refused\"}}");
    page_close(&p);
    device_stop(&d);

    /* Nothing offered, with a program that takes changes: {}. */
    device_start(&d, WITH_CB | FIXED);
    page_open(&p, &d, true, false);
    ASSERT_NOT_NULL(strstr(page_list(&p, 1), "\"rate\":48000,\"settable\":{},"
                                             "\"variables\""));
    page_close(&p);
    device_stop(&d);
}

static void set_rates(rill_audio_desc *a, const double *rates, size_t n) {
    memcpy(a->rates, rates, n * sizeof rates[0]);
    a->n_rates = n;
}

TEST(set_audio_refuses_bad_settable_fields) {
    device d;
    device_start(&d, WITH_CB);
    page p;
    page_open(&p, &d, true, false);
    static const double zero[] = {48000, 0};
    static const double negative[] = {-8000};
    static const double huge[] = {1e7};
    double many[RILL_AUDIO_MAX_RATES + 1];
    for (size_t i = 0; i < RILL_AUDIO_MAX_RATES + 1; i++)
        many[i] = 8000 + 1000.0 * (double)i;
    rill_audio_desc base = {.rate = 48000,
                            .buffer_frames = 256,
                            .volume = 80,
                            .channels = 2,
                            .variables = {"a", "b", "c"}};
    rill_audio_desc bad[9];
    for (size_t k = 0; k < 9; k++)
        bad[k] = base;
    bad[0].min_channels = 3, bad[0].max_channels = 2;   /* min > max */
    bad[1].min_channels = 0, bad[1].max_channels = 2;   /* min 0 */
    bad[2].min_channels = 1, bad[2].max_channels = RILL_AUDIO_MAX_CHANNELS + 1;
    bad[3].n_rates = 1;          /* no rates given */
    set_rates(&bad[4], zero, 2); /* a rate of 0 */
    set_rates(&bad[5], negative, 1);
    set_rates(&bad[6], huge, 1);
    set_rates(&bad[7], many, RILL_AUDIO_MAX_RATES);
    bad[7].n_rates = RILL_AUDIO_MAX_RATES + 1;          /* one too many */
    bad[8].volume = -1, bad[8].volume_settable = true;  /* nothing to set */
    for (size_t k = 0; k < 9; k++)
        if (rill_server_set_audio(d.srv, &bad[k]) != RILL_EINVAL)
            FAIL("bad settable case %zu was accepted", k);
    bad[0] = base;
    bad[0].min_channels = 2, bad[0].max_channels = 1;
    ASSERT_ERR(rill_server_set_audio(d.srv, &bad[0]), RILL_EINVAL);
    /* None of them replaced the description, nor was announced. */
    ASSERT_NOT_NULL(strstr(page_list(&p, 1), "\"audio\":" DESC_AB_48000 ","));
    ASSERT_EQ_UINT(page_count(&p, "\"event\":\"audio\""), 0);
    /* The limits themselves are fine. */
    rill_audio_desc ok = base;
    set_rates(&ok, many, RILL_AUDIO_MAX_RATES);
    ok.min_channels = 1, ok.max_channels = RILL_AUDIO_MAX_CHANNELS;
    ASSERT_OK(rill_server_set_audio(d.srv, &ok));
    const char *l = page_list(&p, 2);
    ASSERT_NOT_NULL(strstr(l, "\"channels\":[1,64],\"rates\":[8000,9000,"));
    ASSERT_NOT_NULL(strstr(l, ",39000]}"));
    ASSERT_NULL(strstr(l, "40000"));
    page_close(&p);
    device_stop(&d);
}

/* {0} would ask for volume 0: the "nothing" value every caller starts from. */
TEST(audio_change_none_changes_nothing) {
    rill_audio_change ch = rill_audio_change_none();
    ASSERT_TRUE(ch.rate == 0);
    ASSERT_EQ_UINT(ch.channels, 0);
    ASSERT_EQ_UINT(ch.buffer_frames, 0);
    ASSERT_TRUE(ch.volume < 0);
}

/* ---- A client reads the description ----------------------------------------
 */

static rill_client *client_of(device *d, rill_client_mode mode) {
    char url[64];
    url_of(d, url, sizeof url);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = mode;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    return cl;
}

TEST(a_client_reads_the_description_with_what_it_may_change) {
    device d;
    device_start(&d, WITH_CB);
    rill_client *cl = client_of(&d, RILL_CLIENT_NATIVE);
    rill_audio_desc a;
    ASSERT_OK(rill_client_get_audio(cl, &a));
    ASSERT_EQ_DOUBLE(a.rate, 48000, 0);
    ASSERT_EQ_UINT(a.buffer_frames, 256);
    ASSERT_EQ_DOUBLE(a.volume, 80, 0);
    ASSERT_EQ_UINT(a.channels, 2);
    ASSERT_EQ_STR(a.variables[0], "a");
    ASSERT_EQ_STR(a.variables[1], "b");
    ASSERT_EQ_UINT(a.n_rates, 3);
    ASSERT_EQ_DOUBLE(a.rates[0], 16000, 0);
    ASSERT_EQ_DOUBLE(a.rates[2], 48000, 0);
    ASSERT_EQ_UINT(a.min_channels, 1);
    ASSERT_EQ_UINT(a.max_channels, 3);
    ASSERT_TRUE(a.buffer_frames_settable && a.volume_settable);
    /* A change is read back as it now is. */
    rill_audio_change ch = rill_audio_change_none();
    ch.channels = 3;
    ch.buffer_frames = 128;
    char why[300];
    ASSERT_OK(rill_client_change_audio(cl, &ch, why, sizeof why));
    ASSERT_OK(rill_client_get_audio(cl, &a));
    ASSERT_EQ_UINT(a.channels, 3);
    ASSERT_EQ_STR(a.variables[2], "c");
    ASSERT_EQ_UINT(a.buffer_frames, 128);
    rill_client_destroy(cl);
    device_stop(&d);
}

TEST(a_client_is_told_when_there_is_no_description_to_read) {
    device d;
    device_start(&d, NO_AUDIO);
    rill_client *cl = client_of(&d, RILL_CLIENT_NATIVE);
    rill_audio_desc a;
    ASSERT_ERR(rill_client_get_audio(cl, &a), RILL_ENOTFOUND);
    rill_client_destroy(cl);
    /* A compatibility connection (a Bela board) has none to give. */
    cl = client_of(&d, RILL_CLIENT_COMPAT);
    ASSERT_ERR(rill_client_get_audio(cl, &a), RILL_ENOTSUP);
    rill_client_destroy(cl);
    device_stop(&d);
}
