/* The client library against a real rill_server in the same process, in
 * native mode and in the Watcher's compatibility mode (as with a Bela). */
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "testdevice.h"

typedef struct seen {
    atomic_int monitored;
    _Atomic uint64_t mon_ticks[8];
    atomic_int mon_bad;
    atomic_int buffers;
    atomic_int bad; /* buffers whose values are not their ticks */
    _Atomic uint64_t next_ts;
    atomic_bool adjacent; /* every buffer followed the previous one */
} seen;

static void on_buffer(const rill_client_buffer *b, void *user) {
    seen *s = user;
    if (strcmp(b->name, "counter") != 0)
        return;
    const int32_t *v = b->values; /* aligned, host order */
    for (size_t i = 0; i < b->count; i++)
        if ((uint64_t)v[i] != b->first_ts + i)
            atomic_fetch_add(&s->bad, 1);
    uint64_t expect = atomic_load(&s->next_ts);
    if (atomic_load(&s->buffers) > 0 && b->first_ts != expect)
        atomic_store(&s->adjacent, false);
    atomic_store(&s->next_ts, b->first_ts + b->count);
    atomic_fetch_add(&s->buffers, 1);
}

static void on_monitor(const char *name, uint64_t tick, double value,
                       void *user) {
    seen *s = user;
    if (strcmp(name, "counter") != 0)
        return;
    if (value != (double)tick)
        atomic_fetch_add(&s->mon_bad, 1);
    int k = atomic_fetch_add(&s->monitored, 1);
    if (k < 8)
        atomic_store(&s->mon_ticks[k], tick);
}

static rill_client *connect_to(test_device *d, rill_client_mode mode, seen *s) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = mode;
    cfg.on_buffer = on_buffer;
    cfg.on_monitor = on_monitor;
    cfg.user = s;
    cfg.timeout_ms = 3000;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    return cl;
}

static void wait_buffers(seen *s, int n) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (atomic_load(&s->buffers) < n && rill_clock_now_ns() < end)
        usleep(1000);
    ASSERT_TRUE(atomic_load(&s->buffers) >= n);
}

/* The same checks in both modes. */
static void exercise(rill_client_mode mode, bool want_native) {
    test_device d;
    test_device_start(&d, NULL);
    seen s;
    memset(&s, 0, sizeof s);
    atomic_store(&s.adjacent, true);
    rill_client *cl = connect_to(&d, mode, &s);
    ASSERT_EQ_INT(rill_client_native(cl), want_native);

    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    ASSERT_EQ_UINT(l->n_vars, 3);
    ASSERT_EQ_STR(l->vars[0].name, "counter");
    ASSERT_EQ_INT(l->vars[0].type, RILL_TYPE_INT32);
    ASSERT_EQ_STR(l->vars[1].name, "level");
    ASSERT_EQ_DOUBLE(l->sample_rate, 64000, 0);
    ASSERT_TRUE(l->timestamp > 0);
    rill_client_list_free(l);

    /* Streaming to the callback: continuous frame numbers. */
    const char *names[] = {"counter"};
    rill_client_stream_opts opts = {0, 0, 256, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &opts));
    wait_buffers(&s, 20);
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    ASSERT_EQ_INT(atomic_load(&s.bad), 0);
    ASSERT_TRUE(atomic_load(&s.adjacent));

    /* Exactly N values, each equal to its tick, ticks adjacent. */
    double *vals = NULL;
    uint64_t *ts = NULL;
    ASSERT_OK(rill_client_stream_n_values(cl, "counter", 3000, &vals, &ts));
    for (size_t i = 0; i < 3000; i++) {
        ASSERT_EQ_DOUBLE(vals[i], (double)ts[i], 0);
        if (i > 0)
            ASSERT_EQ_UINT(ts[i], ts[i - 1] + 1);
    }
    rill_client_free(vals);
    rill_client_free(ts);

    /* Peek: one value, equal to its tick. */
    double v = 0;
    uint64_t tick = 0;
    ASSERT_OK(rill_client_peek(cl, "counter", &v, &tick));
    ASSERT_EQ_DOUBLE(v, (double)tick, 0);
    ASSERT_OK(rill_client_peek(cl, "level", &v, &tick));
    ASSERT_EQ_DOUBLE(v, 0.25, 0);

    /* Monitoring: values exactly one period apart, each equal to its tick. */
    const char *mon[] = {"counter"};
    ASSERT_OK(rill_client_monitor(cl, mon, 1, 640));
    uint64_t mend = rill_clock_now_ns() + 5000000000u;
    while (atomic_load(&s.monitored) < 8 && rill_clock_now_ns() < mend)
        usleep(1000);
    ASSERT_OK(rill_client_monitor(cl, mon, 1, 0));
    ASSERT_TRUE(atomic_load(&s.monitored) >= 8);
    ASSERT_EQ_INT(atomic_load(&s.mon_bad), 0);
    for (int k = 1; k < 8; k++)
        ASSERT_EQ_UINT(atomic_load(&s.mon_ticks[k]) - atomic_load(&s.mon_ticks[k - 1]), 640);

    /* Control and set: what the program reads. */
    ASSERT_OK(rill_client_control(cl, "level", true));
    ASSERT_OK(rill_client_set(cl, "level", 0.75));
    ASSERT_EQ_DOUBLE(rill_var_get(d.level), 0.75, 0);
    ASSERT_OK(rill_client_control(cl, "level", false));
    ASSERT_TRUE(!rill_var_controlled(d.level));

    /* A buffer to the device. */
    const float buf[4] = {1.5f, 2.0f, -0.5f, 4.0f};
    ASSERT_OK(rill_client_send_buffer(cl, 3, RILL_TYPE_FLOAT, buf, 4));
    uint64_t end = rill_clock_now_ns() + 3000000000u;
    while (atomic_load(&d.received) == 0 && rill_clock_now_ns() < end)
        usleep(1000);
    ASSERT_EQ_UINT(atomic_load(&d.received), 1);
    ASSERT_EQ_DOUBLE(atomic_load(&d.received_sum), 7.0, 0);

    ASSERT_ERR(rill_client_peek(cl, "nonexistent", &v, &tick), RILL_ENOTFOUND);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(native_mode_lists_streams_counts_peeks_controls_and_sends) {
    exercise(RILL_CLIENT_AUTO, true);
}

TEST(compat_mode_does_the_same_over_the_watcher_protocol) {
    exercise(RILL_CLIENT_COMPAT, false);
}

TEST(connection_errors_are_codes_with_reasons_and_never_hang) {
    rill_client_config cfg = rill_client_config_default();
    rill_client *cl = (rill_client *)1;
    cfg.url = "http://127.0.0.1:1";
    ASSERT_ERR(rill_client_connect(&cfg, &cl), RILL_EINVAL);
    ASSERT_NULL(cl);
    cfg.url = "ws://127.0.0.1:notaport";
    ASSERT_ERR(rill_client_connect(&cfg, &cl), RILL_EINVAL);
    test_device d;
    test_device_start(&d, "tok");
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    cfg.url = url;
    ASSERT_ERR(rill_client_connect(&cfg, &cl), RILL_EAUTH);
    cfg.token = "tok";
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    /* The server goes away: requests fail promptly, they do not hang. */
    test_device_stop(&d);
    rill_client_list *l = NULL;
    uint64_t t0 = rill_clock_now_ns();
    int rc = rill_client_list_vars(cl, &l);
    ASSERT_TRUE(rc == RILL_ECLOSED || rc == RILL_ETIMEOUT);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 6000000000u);
    rill_client_destroy(cl);
    cfg.token = NULL;
    ASSERT_ERR(rill_client_connect(&cfg, &cl), RILL_EREFUSED);
}
