/* The client library against a real rill_server in the same process, in
 * native mode and in the Watcher's compatibility mode (as with a Bela). */
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/stat.h>

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

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
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

static void on_monitor(rill_client *cl, const char *name, uint64_t tick,
                       double value, void *user) {
    (void)cl;
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

/* The same checks in both modes; `bela` makes the device speak only the
 * Watcher protocol. */
static void exercise(rill_client_mode mode, bool want_native, bool bela) {
    test_device d;
    if (bela)
        test_device_start_compat_only(&d);
    else
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
    /* Checked before the stop: in compatibility mode the stop's last
     * buffer is zero-padded (Bela's format, PROTOCOL.md §3.2), and it may
     * reach the callback before the stop's round trip returns. */
    ASSERT_EQ_INT(atomic_load(&s.bad), 0);
    ASSERT_TRUE(atomic_load(&s.adjacent));
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));

    /* Exactly N values of each, from the same tick: the counter equals its
     * tick, frame_d too (an int and a double with different buffer sizes). */
    const char *nv[] = {"counter", "frame_d"};
    double *vals[2] = {NULL, NULL};
    uint64_t *ts[2] = {NULL, NULL};
    ASSERT_OK(rill_client_stream_n_values(cl, nv, 2, 3000, vals, ts));
    ASSERT_EQ_UINT(ts[1][0], ts[0][0]);
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < 3000; i++) {
            ASSERT_EQ_DOUBLE(vals[k][i], (double)ts[k][i], 0);
            if (i > 0)
                ASSERT_EQ_UINT(ts[k][i], ts[k][i - 1] + 1);
        }
    }
    for (size_t k = 0; k < 2; k++) {
        rill_client_free(vals[k]);
        rill_client_free(ts[k]);
    }
    /* Bad requests are refused before anything is sent, and leave the
     * caller's arrays alone. */
    const char *unknown[] = {"counter", "nope"};
    ASSERT_ERR(rill_client_stream_n_values(cl, unknown, 2, 10, vals, ts),
               RILL_ENOTFOUND);
    const char *twice[] = {"counter", "counter"};
    ASSERT_ERR(rill_client_stream_n_values(cl, twice, 2, 10, vals, ts),
               RILL_EINVAL);
    ASSERT_ERR(rill_client_stream_n_values(cl, nv, 2, 0, vals, ts), RILL_EINVAL);

    /* Monitoring exactly N values: one every period, each equal to its
     * tick; then monitoring is off (the callback sees nothing after). */
    ASSERT_OK(rill_client_monitor_n_values(cl, nv, 2, 320, 5, vals, ts));
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < 5; i++) {
            ASSERT_EQ_DOUBLE(vals[k][i], (double)ts[k][i], 0);
            if (i > 0)
                ASSERT_EQ_UINT(ts[k][i], ts[k][i - 1] + 320);
        }
        rill_client_free(vals[k]);
        rill_client_free(ts[k]);
    }
    ASSERT_ERR(rill_client_monitor_n_values(cl, nv, 2, 1, 5, vals, ts),
               RILL_EINVAL);
    rill_client_list *after = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &after));
    for (size_t i = 0; i < after->n_vars; i++)
        ASSERT_EQ_UINT(after->vars[i].monitor, 0);
    rill_client_list_free(after);
    ASSERT_EQ_INT(atomic_load(&s.monitored), 0);

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
    /* JSON has no inf or nan: refused here, never sent as a command the
     * device would refuse without a value; the value stays. */
    ASSERT_ERR(rill_client_set(cl, "level", INFINITY), RILL_EINVAL);
    ASSERT_ERR(rill_client_set(cl, "level", NAN), RILL_EINVAL);
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
    exercise(RILL_CLIENT_AUTO, true, false);
}

TEST(compat_mode_does_the_same_over_the_watcher_protocol) {
    exercise(RILL_CLIENT_COMPAT, false, false);
}

/* A server that speaks only the Watcher protocol, as a Bela board: the
 * automatic mode finds no native mode and everything works in compat. */
TEST(auto_mode_against_a_watcher_only_device_falls_back_to_compat) {
    exercise(RILL_CLIENT_AUTO, false, true);
}

TEST(native_mode_against_a_watcher_only_device_is_a_protocol_error) {
    test_device d;
    test_device_start_compat_only(&d);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    cfg.timeout_ms = 1000; /* how long it waits for the hello answer */
    rill_client *cl = (rill_client *)1;
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_client_connect(&cfg, &cl), RILL_EPROTO);
    ASSERT_NULL(cl);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 2500000000u);
    test_device_stop(&d);
}

/* pybela's control_add and data_add: the paths are the caller's. rill
 * serve has only /gui_control and /gui_data, so another control path is
 * refused there (404, not a Watcher server), and the given ones work in
 * compat mode, where the data path is used too. */
TEST(control_and_data_paths_are_the_configured_ones) {
    test_device d;
    test_device_start(&d, NULL);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.timeout_ms = 2000;
    cfg.control_path = "/gui2_control";
    rill_client *cl = NULL;
    int rc = rill_client_connect(&cfg, &cl);
    ASSERT_TRUE(rc < 0);
    ASSERT_NULL(cl);
    cfg.mode = RILL_CLIENT_COMPAT;
    cfg.control_path = "/gui_control";
    cfg.data_path = "/gui2_data";
    ASSERT_TRUE(rill_client_connect(&cfg, &cl) < 0);
    ASSERT_NULL(cl);
    cfg.data_path = "/gui_data";
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    ASSERT_TRUE(!rill_client_native(cl));
    rill_client_destroy(cl);
    test_device_stop(&d);
}

typedef struct errors {
    atomic_int n;
    atomic_int last;
    char msg[256];
} errors;

static void on_error(rill_client *cl, int err, const char *msg, void *user) {
    (void)cl;
    errors *e = user;
    if (atomic_load(&e->n) == 0)
        snprintf(e->msg, sizeof e->msg, "%s", msg);
    atomic_store(&e->last, err);
    atomic_fetch_add(&e->n, 1);
}

/* What the device refuses without a request waiting for it (a second log
 * of a variable being logged) reaches on_error with its reason. The
 * log-scheduled notice (2^64 - 1 for "no end") is not an error. */
TEST(a_command_the_device_refuses_reaches_on_error_with_the_reason) {
    test_device d;
    test_device_start(&d, NULL);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    errors e;
    memset(&e, 0, sizeof e);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.on_error = on_error;
    cfg.user = &e;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    const char *names[] = {"counter"};
    rill_client_log_file f;
    ASSERT_OK(rill_client_log_start(cl, names, 1, NULL, &f));
    /* A second log is refused, even before the device started the first
     * (two would run, and unlog stop only one). */
    ASSERT_EQ_INT(atomic_load(&e.n), 0);
    rill_client_log_start(cl, names, 1, NULL, &f);
    uint64_t end = rill_clock_now_ns() + 3000000000u;
    while (atomic_load(&e.n) == 0 && rill_clock_now_ns() < end)
        usleep(1000);
    ASSERT_EQ_INT(atomic_load(&e.n), 1);
    ASSERT_EQ_INT(atomic_load(&e.last), RILL_EINVAL);
    ASSERT_TRUE(strstr(e.msg, "the device refused a command") != NULL);
    ASSERT_TRUE(strstr(e.msg, "already being logged") != NULL);
    ASSERT_OK(rill_client_log_stop(cl, names, 1));
    rill_client_destroy(cl);
    test_device_stop(&d);
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

/* ---- Aligned blocks, scheduling, poll mode, logging ------------------------ */

typedef struct blocks {
    pthread_t thread;      /* where the callbacks must run (poll mode) */
    bool check_thread;
    atomic_int wrong_thread;
    atomic_int n_blocks;
    atomic_int bad;        /* a block whose buffers are not cut at its ticks */
    _Atomic uint64_t next_first; /* blocks follow without gaps */
    atomic_int not_adjacent;
    _Atomic uint64_t first_block, total_ticks;
    atomic_int done_calls;
    atomic_int done_err;
    /* scheduled: every value of counter and frame_d, by tick */
    atomic_int values[2];
    _Atomic uint64_t min_tick[2], max_tick[2];
    atomic_int buffers;
} blocks;

static void blocks_on_block(rill_client *cl, const rill_client_block *blk,
                            void *user) {
    (void)cl;
    blocks *s = user;
    if (s->check_thread && !pthread_equal(pthread_self(), s->thread))
        atomic_fetch_add(&s->wrong_thread, 1);
    if (blk->n == 1 && atomic_load(&s->n_blocks) == 0)
        return; /* frame_d alone, before counter joined */
    if (blk->n != 2) {
        atomic_fetch_add(&s->bad, 1);
        return;
    }
    for (size_t i = 0; i < blk->n; i++) {
        const rill_client_buffer *b = &blk->buffers[i];
        /* counter (int32, 1024 per Bela buffer) and frame_d (double, 512):
         * both equal their tick, both cover the block's ticks exactly. */
        if (b->count != blk->ticks || b->first_ts != blk->first_ts || b->rel != NULL)
            atomic_fetch_add(&s->bad, 1);
        for (size_t k = 0; k < b->count; k++) {
            double v = b->type == RILL_TYPE_INT32 ? (double)((const int32_t *)b->values)[k]
                                                  : ((const double *)b->values)[k];
            if (v != (double)(blk->first_ts + k))
                atomic_fetch_add(&s->bad, 1);
        }
    }
    if (strcmp(blk->buffers[0].name, "frame_d") != 0) /* started first */
        atomic_fetch_add(&s->bad, 1);
    if (atomic_load(&s->n_blocks) == 0)
        atomic_store(&s->first_block, blk->first_ts);
    else if (blk->first_ts != atomic_load(&s->next_first))
        atomic_fetch_add(&s->not_adjacent, 1);
    atomic_store(&s->next_first, blk->first_ts + blk->ticks);
    atomic_fetch_add(&s->total_ticks, blk->ticks);
    atomic_fetch_add(&s->n_blocks, 1);
}

static void blocks_on_buffer(rill_client *cl, const rill_client_buffer *b,
                             void *user) {
    (void)cl;
    blocks *s = user;
    if (s->check_thread && !pthread_equal(pthread_self(), s->thread))
        atomic_fetch_add(&s->wrong_thread, 1);
    int i = strcmp(b->name, "counter") == 0 ? 0 : strcmp(b->name, "frame_d") == 0 ? 1 : -1;
    if (i < 0 || b->count == 0)
        return;
    atomic_fetch_add(&s->buffers, 1);
    atomic_fetch_add(&s->values[i], (int)b->count);
    uint64_t lo = b->first_ts, hi = b->first_ts + b->count - 1;
    if (atomic_load(&s->min_tick[i]) == 0 || lo < atomic_load(&s->min_tick[i]))
        atomic_store(&s->min_tick[i], lo);
    if (hi > atomic_load(&s->max_tick[i]))
        atomic_store(&s->max_tick[i], hi);
}

static void blocks_on_done(rill_client *cl, int err, void *user) {
    (void)cl;
    blocks *s = user;
    if (s->check_thread && !pthread_equal(pthread_self(), s->thread))
        atomic_fetch_add(&s->wrong_thread, 1);
    atomic_store(&s->done_err, err);
    atomic_fetch_add(&s->done_calls, 1);
}

static rill_client *connect_blocks(test_device *d, rill_client_mode mode,
                                   blocks *s, bool poll) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = mode;
    cfg.on_block = blocks_on_block;
    cfg.on_buffer = blocks_on_buffer;
    cfg.user = s;
    cfg.timeout_ms = 3000;
    cfg.poll = poll;
    s->thread = pthread_self();
    s->check_thread = poll;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    return cl;
}

static void aligned_blocks(rill_client_mode mode) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_blocks(&d, mode, &s, false);
    /* Started one after the other: the double first, then the int. */
    const char *a[] = {"frame_d"}, *b[] = {"counter"};
    ASSERT_OK(rill_client_stream_start(cl, a, 1, NULL));
    usleep(20000);
    ASSERT_OK(rill_client_stream_start(cl, b, 1, NULL));
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (atomic_load(&s.n_blocks) < 40 && rill_clock_now_ns() < end)
        usleep(1000);
    ASSERT_OK(rill_client_stream_stop(cl, NULL, 0));
    ASSERT_TRUE(atomic_load(&s.n_blocks) >= 40);
    ASSERT_EQ_INT(atomic_load(&s.bad), 0);
    ASSERT_EQ_INT(atomic_load(&s.not_adjacent), 0);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(native_blocks_align_an_int_and_a_double_of_different_buffer_lengths) {
    aligned_blocks(RILL_CLIENT_NATIVE);
}

TEST(compat_blocks_align_an_int_and_a_double_of_different_buffer_lengths) {
    aligned_blocks(RILL_CLIENT_COMPAT);
}

/* A scheduled stream delivers the values of ticks [start, start + D) of
 * each variable, no more and no fewer, then runs the completion. */
static void scheduled_exact(rill_client_mode mode, bool poll) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_blocks(&d, mode, &s, poll);
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    uint64_t start = l->timestamp + 12800, dur = 6400 * 3 + 77; /* 0.2 s on */
    rill_client_list_free(l);
    const char *names[] = {"frame_d", "counter"};
    ASSERT_OK(rill_client_schedule(cl, names, 2, start, dur, blocks_on_done, &s));
    /* It did not wait for the data: the device has not reached the end of
     * the schedule (a bound of 1 s of wall clock could not tell, the whole
     * schedule taking 0.5 s). */
    ASSERT_TRUE(rill_server_now(d.srv) < start + dur);
    if (poll) {
        uint64_t end = rill_clock_now_ns() + 5000000000u;
        while (atomic_load(&s.done_calls) == 0 && rill_clock_now_ns() < end)
            ASSERT_TRUE(rill_client_poll(cl, 100) >= 0);
    }
    ASSERT_OK(rill_client_wait(cl, 5000));
    if (poll)
        rill_client_poll(cl, 0);
    ASSERT_EQ_INT(atomic_load(&s.done_calls), 1);
    ASSERT_EQ_INT(atomic_load(&s.done_err), 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ_UINT(atomic_load(&s.values[i]), dur);
        ASSERT_EQ_UINT(atomic_load(&s.min_tick[i]), start);
        ASSERT_EQ_UINT(atomic_load(&s.max_tick[i]), start + dur - 1);
    }
    /* The blocks cover the same ticks, the last one shorter. */
    ASSERT_EQ_UINT(atomic_load(&s.first_block), start);
    ASSERT_EQ_UINT(atomic_load(&s.total_ticks), dur);
    ASSERT_EQ_INT(atomic_load(&s.bad), 0);
    ASSERT_EQ_INT(atomic_load(&s.not_adjacent), 0);
    ASSERT_EQ_INT(atomic_load(&s.wrong_thread), 0);
    ASSERT_EQ_UINT(rill_client_dropped(cl), 0);
    /* Nothing is pending: waiting again returns at once. */
    ASSERT_OK(rill_client_wait(cl, 0));
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(native_schedule_delivers_exactly_the_requested_ticks_then_completes) {
    scheduled_exact(RILL_CLIENT_NATIVE, false);
}

TEST(compat_schedule_trims_the_bela_extra_value_and_padding) {
    scheduled_exact(RILL_CLIENT_COMPAT, false);
}

TEST(poll_mode_runs_every_callback_on_the_polling_thread) {
    scheduled_exact(RILL_CLIENT_NATIVE, true);
}

static char last_error[512];
static void capture_error(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == RILL_LOG_ERROR)
        snprintf(last_error, sizeof last_error, "%s", msg);
}

/* What the caller got wrong is said, not only RILL_EINVAL. */
TEST(a_bad_schedule_or_monitor_period_is_refused_with_the_reason) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_blocks(&d, RILL_CLIENT_NATIVE, &s, false);
    const char *names[] = {"counter"};
    rill_set_log_callback(capture_error, RILL_LOG_ERROR, NULL);
    static const struct {
        size_t n;
        uint64_t start, duration;
        const char *says;
    } bad[] = {
        {0, 100, 100, "schedule: no variables named"},
        {1, 100, 0, "schedule: a duration of 0 ticks"},
        {1, (uint64_t)-1000, 4410, "schedule: start tick 18446744073709550616 + duration "
                                   "4410 passes the last tick (2^64 - 1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        last_error[0] = '\0';
        ASSERT_ERR(rill_client_schedule(cl, names, bad[i].n, bad[i].start,
                                        bad[i].duration, blocks_on_done, &s),
                   RILL_EINVAL);
        ASSERT_TRUE(strstr(last_error, bad[i].says) == last_error);
    }
    last_error[0] = '\0';
    ASSERT_ERR(rill_client_monitor(cl, names, 1, 0x80000000u), RILL_EINVAL);
    ASSERT_TRUE(strcmp(last_error, "monitor: period 2147483648 is too long: a period is "
                                   "at most 2147483647 ticks (0 stops monitoring)") == 0);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
    ASSERT_EQ_INT(atomic_load(&s.done_calls), 0);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(a_schedule_fails_with_closed_when_the_device_goes_away) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_blocks(&d, RILL_CLIENT_NATIVE, &s, false);
    const char *names[] = {"counter"};
    ASSERT_OK(rill_client_schedule(cl, names, 1, 0, 64000 * 60, blocks_on_done, &s));
    ASSERT_ERR(rill_client_wait(cl, 100), RILL_ETIMEOUT);
    test_device_stop(&d);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_client_wait(cl, 10000), RILL_ECLOSED);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 2000000000u);
    ASSERT_EQ_INT(atomic_load(&s.done_calls), 1);
    ASSERT_EQ_INT(atomic_load(&s.done_err), RILL_ECLOSED);
    rill_client_destroy(cl);
}

TEST(poll_without_poll_mode_is_invalid_and_a_full_queue_counts_drops) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_blocks(&d, RILL_CLIENT_NATIVE, &s, false);
    ASSERT_ERR(rill_client_poll(cl, 0), RILL_EINVAL);
    rill_client_destroy(cl);
    /* A poll queue of 64 KiB nobody polls: whole buffers are dropped and
     * counted, the next delivered one says how many. */
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.on_buffer = blocks_on_buffer;
    cfg.user = &s;
    cfg.poll = true;
    cfg.poll_bytes = 64 << 10;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    const char *names[] = {"counter"};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, NULL));
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (rill_client_dropped(cl) < 5 && rill_clock_now_ns() < end)
        usleep(2000);
    ASSERT_TRUE(rill_client_dropped(cl) >= 5);
    int ran = rill_client_poll(cl, 0);
    ASSERT_TRUE(ran >= 10); /* what fitted in 64 KiB */
    ASSERT_TRUE(ran <= 16);
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    rill_client_destroy(cl);
    test_device_stop(&d);
}

/* rill_client_poll_batch lends the queued events out in place: every
 * buffer, in order, its values valid until the next call, across the poll
 * queue's end (a 256 KiB queue of 4136-byte records wraps every 63, a PAD
 * record filling the end each time), and a
 * schedule's completion as a DONE event; with copy_to the values are
 * copied there and outlive the next call, and a buffer that does not fit
 * is refused with nothing taken. */
static void check_counter(const rill_client_buffer *b, uint64_t *next, int *bad,
                          int *gaps) {
    const int32_t *v = b->values;
    for (size_t i = 0; i < b->count; i++)
        if ((uint64_t)v[i] != b->first_ts + i)
            (*bad)++;
    if (*next != 0 && b->first_ts != *next)
        (*gaps)++;
    *next = b->first_ts + b->count;
}

TEST(poll_batch_lends_every_buffer_in_order_in_place_or_copied_out) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.on_buffer = blocks_on_buffer; /* never called: events are taken */
    cfg.user = &s;
    cfg.poll = true;
    cfg.poll_bytes = 256 << 10;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    rill_client_polled ev[8];
    ASSERT_ERR(rill_client_poll_batch(cl, 0, NULL, 8, NULL, 0), RILL_EINVAL);
    ASSERT_ERR(rill_client_poll_batch(cl, 0, ev, 0, NULL, 0), RILL_EINVAL);

    /* In place: 3 s of counter at 64 kHz, 180 buffers of 1024 values,
     * the queue wrapping twice. */
    const char *names[] = {"counter"};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, NULL));
    uint64_t next = 0;
    int bad = 0, gaps = 0, taken = 0;
    uint64_t end = rill_clock_now_ns() + 10000000000u;
    while (taken < 180 && rill_clock_now_ns() < end) {
        int n = rill_client_poll_batch(cl, 100, ev, 8, NULL, 0);
        ASSERT_TRUE(n >= 0);
        for (int i = 0; i < n; i++) {
            ASSERT_EQ_INT(ev[i].kind, RILL_CLIENT_POLLED_BUFFER);
            ASSERT_EQ_STR(ev[i].buffer.name, "counter");
            ASSERT_EQ_INT(ev[i].buffer.type, RILL_TYPE_INT32);
            check_counter(&ev[i].buffer, &next, &bad, &gaps);
            taken++;
        }
    }
    ASSERT_TRUE(taken >= 180);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(gaps, 0);
    ASSERT_EQ_UINT(rill_client_dropped(cl), 0);
    ASSERT_EQ_INT(atomic_load(&s.buffers), 0); /* no callback ran */

    /* copy_to: 16 bytes hold no buffer (nothing is taken), 64 KiB hold
     * what is queued, whose values stay there after the next call. */
    usleep(100000); /* a few buffers queue up */
    ASSERT_ERR(rill_client_poll_batch(cl, 1000, ev, 8, (uint64_t[2]){0}, 16),
               RILL_ETOOBIG);
    static uint64_t arena[8192];
    int n = rill_client_poll_batch(cl, 1000, ev, 8, arena, sizeof arena);
    ASSERT_TRUE(n >= 1);
    const uint8_t *lo = (const uint8_t *)arena, *hi = lo + sizeof arena;
    rill_client_buffer kept[8];
    for (int i = 0; i < n; i++) {
        ASSERT_EQ_INT(ev[i].kind, RILL_CLIENT_POLLED_BUFFER);
        const uint8_t *p = ev[i].buffer.values;
        ASSERT_TRUE(p >= lo && p + ev[i].buffer.count * 4 <= hi);
        kept[i] = ev[i].buffer;
    }
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    while (rill_client_poll_batch(cl, 200, ev, 8, NULL, 0) > 0)
        ;
    for (int i = 0; i < n; i++) /* the first continues the in-place ones */
        check_counter(&kept[i], &next, &bad, &gaps);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(gaps, 0);

    /* A schedule's completion arrives as a DONE event, after its buffers. */
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    uint64_t start = l->timestamp + 6400;
    rill_client_list_free(l);
    ASSERT_OK(
        rill_client_schedule(cl, names, 1, start, 3000, blocks_on_done, &s));
    int done = 0, values = 0;
    end = rill_clock_now_ns() + 5000000000u;
    while (done == 0 && rill_clock_now_ns() < end) {
        n = rill_client_poll_batch(cl, 100, ev, 8, NULL, 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].kind == RILL_CLIENT_POLLED_BUFFER) {
                ASSERT_EQ_INT(done, 0);
                values += (int)ev[i].buffer.count;
            } else {
                ASSERT_EQ_INT(ev[i].kind, RILL_CLIENT_POLLED_DONE);
                ASSERT_TRUE(ev[i].done == blocks_on_done);
                ASSERT_TRUE(ev[i].done_user == &s);
                ASSERT_EQ_INT(ev[i].err, 0);
                done++;
            }
        }
    }
    ASSERT_EQ_INT(done, 1);
    ASSERT_EQ_INT(values, 3000);
    ASSERT_EQ_INT(atomic_load(&s.done_calls), 0); /* handed over, not run */
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(set_mask_replaces_only_the_masked_bits) {
    test_device d;
    test_device_start(&d, NULL);
    seen s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_to(&d, RILL_CLIENT_NATIVE, &s);
    ASSERT_OK(rill_client_control(cl, "counter", true));
    ASSERT_OK(rill_client_set(cl, "counter", 0xF0));
    ASSERT_OK(rill_client_set_mask(cl, "counter", 0x0F, 0x0F));
    ASSERT_EQ_DOUBLE(rill_var_get(d.counter), (double)0xFF, 0);
    ASSERT_OK(rill_client_set_mask(cl, "counter", 0x00, 0x30));
    ASSERT_EQ_DOUBLE(rill_var_get(d.counter), (double)0xCF, 0);
    ASSERT_ERR(rill_client_set_mask(cl, "nonexistent", 1, 1), RILL_ENOTFOUND);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(logging_on_the_device_then_fetching_gives_the_logged_values) {
    test_device d;
    test_device_start(&d, NULL);
    seen s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_to(&d, RILL_CLIENT_NATIVE, &s);
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    rill_client_stream_opts o = {l->timestamp + 6400, 6400, 0, 0};
    rill_client_list_free(l);
    const char *names[] = {"counter"};
    rill_client_log_file f;
    ASSERT_OK(rill_client_log_start(cl, names, 1, &o, &f));
    ASSERT_TRUE(strlen(f.name) > 0);
    char path[128];
    snprintf(path, sizeof path, "%s/fetched.bin", d.log_dir);
    /* Still being written: fetch waits until the device has finished. */
    ASSERT_OK(rill_client_fetch(cl, f.name, path, 5000));
    rill_file_reader *rf = NULL;
    ASSERT_OK(rill_file_reader_open(path, RILL_TS_DENSE, &rf));
    rill_file_info info;
    ASSERT_OK(rill_file_reader_get_info(rf, &info));
    ASSERT_TRUE(info.type == RILL_TYPE_INT32);
    size_t n = 0;
    rill_file_buffer fb;
    while (n < 6400 && rill_file_reader_next(rf, &fb) == 0) {
        for (size_t i = 0; i < fb.count && n < 6400; i++, n++) {
            ASSERT_EQ_UINT(fb.timestamps[i], o.start + n);
            ASSERT_EQ_DOUBLE(fb.values[i], (double)(o.start + n), 0);
        }
    }
    ASSERT_EQ_UINT(n, 6400); /* then the last body's padding, FILES.md */
    rill_file_reader_close(rf);
    /* A link planted at the temporary name is replaced, never written
     * through. */
    char part[160], victim[160];
    snprintf(part, sizeof part, "%s.part", path);
    snprintf(victim, sizeof victim, "%s/victim", d.log_dir);
    FILE *vf = fopen(victim, "w");
    ASSERT_TRUE(vf != NULL);
    fputs("keep", vf);
    fclose(vf);
    ASSERT_OK(symlink(victim, part));
    ASSERT_OK(rill_client_fetch(cl, f.name, path, 5000));
    struct stat st;
    ASSERT_OK(stat(victim, &st));
    ASSERT_EQ_UINT(st.st_size, 4);
    ASSERT_TRUE(lstat(part, &st) != 0);
    ASSERT_OK(stat(path, &st));
    ASSERT_TRUE(st.st_size > 6400 * 4);
    ASSERT_ERR(rill_client_fetch(cl, "nope.bin", path, 100), RILL_ENOTFOUND);
    ASSERT_ERR(rill_client_fetch(cl, "../etc/passwd", path, 100), RILL_EINVAL);
    ASSERT_OK(rill_client_log_stop(cl, names, 1));
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(a_quick_stop_and_restart_keeps_both_variables_in_the_blocks) {
    test_device d;
    test_device_start(&d, NULL);
    blocks s;
    memset(&s, 0, sizeof s);
    rill_client *cl = connect_blocks(&d, RILL_CLIENT_NATIVE, &s, false);
    const char *names[] = {"frame_d", "counter"};
    for (int round = 0; round < 3; round++) {
        ASSERT_OK(rill_client_stream_start(cl, names, 2, NULL));
        usleep(50000);
        /* Stopped and started again at once: the old run's last buffer
         * comes after the new start; the device must keep streaming the
         * new run (it used to free the stream), and the client must keep
         * both variables in the blocks. */
        ASSERT_OK(rill_client_stream_stop(cl, names, 2));
    }
    int before = atomic_load(&s.n_blocks);
    atomic_store(&s.not_adjacent, 0);
    ASSERT_OK(rill_client_stream_start(cl, names, 2, NULL));
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (atomic_load(&s.n_blocks) < before + 20 && rill_clock_now_ns() < end)
        usleep(1000);
    ASSERT_TRUE(atomic_load(&s.n_blocks) >= before + 20);
    ASSERT_EQ_INT(atomic_load(&s.bad), 0); /* every block had both */
    ASSERT_OK(rill_client_stream_stop(cl, names, 2));
    rill_client_destroy(cl);
    test_device_stop(&d);
}

/* ---- Poll mode in place; the bounded send queue ---------------------------- */

#include <signal.h>
#include <sys/wait.h>

typedef struct in_place {
    atomic_int buffers, bad, misaligned;
    uint64_t next; /* polling thread */
} in_place;

static void in_place_on_buffer(rill_client *cl, const rill_client_buffer *b,
                               void *user) {
    (void)cl;
    in_place *p = user;
    const double *v = b->values;
    if (((uintptr_t)v & 7) != 0)
        atomic_fetch_add(&p->misaligned, 1);
    uint64_t want = p->next + (uint64_t)b->dropped * 37;
    bool ok = b->count == 37 && (p->next == 0 || b->first_ts == want);
    for (size_t i = 0; ok && i < b->count; i++)
        ok = v[i] == (double)(b->first_ts + i);
    if (!ok)
        atomic_fetch_add(&p->bad, 1);
    p->next = b->first_ts + b->count;
    atomic_fetch_add(&p->buffers, 1);
}

TEST(poll_mode_hands_out_aligned_records_where_they_lie_across_the_ring_end) {
    test_device d;
    test_device_start(&d, NULL);
    in_place p;
    memset(&p, 0, sizeof p);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    cfg.on_buffer = in_place_on_buffer;
    cfg.user = &p;
    cfg.poll = true;
    cfg.poll_bytes = 16 << 10; /* the smallest: 50 records go round it */
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    /* 37 doubles: 328-byte records, which the 16 KiB ring does not hold a
     * whole number of, so records keep meeting its end. */
    const char *names[] = {"frame_d"};
    rill_client_stream_opts opts = {0, 0, 37, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &opts));
    uint64_t end = rill_clock_now_ns() + 10000000000u;
    while (atomic_load(&p.buffers) < 2000 && rill_clock_now_ns() < end)
        ASSERT_TRUE(rill_client_poll(cl, 100) >= 0);
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    rill_client_destroy(cl);
    test_device_stop(&d);
    ASSERT_LE_UINT(2000, atomic_load(&p.buffers));
    ASSERT_EQ_INT(atomic_load(&p.bad), 0);
    ASSERT_EQ_INT(atomic_load(&p.misaligned), 0);
}

TEST(send_buffer_to_a_device_that_stops_reading_returns_full_and_counts) {
    int port = 0;
    pid_t pid = test_device_in_child(&port);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    cfg.send_queue_bytes = 256 << 10;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    ASSERT_EQ_UINT(rill_client_send_dropped(cl), 0);
    kill(pid, SIGSTOP);
    /* The kernel's buffers fill first (megabytes), then the queue. */
    static float values[1024];
    int full = 0, sent = 0;
    for (int i = 0; i < 100000 && full < 10; i++) {
        int rc = rill_client_send_buffer(cl, 1, RILL_TYPE_FLOAT, values, 1024);
        if (rc == RILL_EFULL) {
            full++;
            usleep(1000);
        } else {
            ASSERT_OK(rc);
            sent++;
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    uint64_t dropped = rill_client_send_dropped(cl);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL); /* the lost connection */
    rill_client_destroy(cl);
    ASSERT_EQ_INT(full, 10);
    ASSERT_EQ_UINT(dropped, 10);
    ASSERT_LE_UINT(64, sent);
}

/* This process's CPU over 0.6 s, in cores (the device's threads and the
 * client's I/O thread are all this process's). */
static double cpu_rate(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    uint64_t t0 = rill_clock_now_ns();
    usleep(600000);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double cpu = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    return cpu / ((double)(rill_clock_now_ns() - t0) * 1e-9);
}

TEST(busy_polling_looks_without_sleeping_while_data_flows_then_sleeps) {
    rill_client_config bad = rill_client_config_default();
    rill_client *none = NULL;
    bad.busy_poll_us = -1;
    ASSERT_ERR(rill_client_connect(&bad, &none), RILL_EINVAL);
    bad.busy_poll_us = RILL_CLIENT_BUSY_POLL_MAX_US + 1;
    ASSERT_ERR(rill_client_connect(&bad, &none), RILL_EINVAL);

    test_device d;
    test_device_start(&d, NULL);
    double device_alone = cpu_rate();
    seen s;
    memset(&s, 0, sizeof s);
    atomic_store(&s.adjacent, true);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.on_buffer = on_buffer;
    cfg.user = &s;
    cfg.keepalive_ms = 0; /* no pings: nothing arrives once the stream stops */
    cfg.busy_poll_us = 300000;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    /* A buffer every 4 ms (256 values at 64 kHz): the I/O thread never
     * sleeps while they come, and gets every one of them, in order. */
    const char *names[] = {"counter"};
    rill_client_stream_opts opts = {0, 0, 256, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &opts));
    wait_buffers(&s, 5);
    double busy = cpu_rate();
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    ASSERT_TRUE(atomic_load(&s.buffers) >= 100);
    ASSERT_EQ_INT(atomic_load(&s.bad), 0);
    ASSERT_TRUE(atomic_load(&s.adjacent));
    /* Sleeping, the I/O thread takes next to no CPU; looking, a core, or
     * what the machine's load leaves it (a quarter is far above). */
    ASSERT_LE_DOUBLE(device_alone + 0.25, busy);
    /* Once nothing has come for busy_poll_us, it sleeps again. */
    usleep(500000);
    double idle = cpu_rate();
    ASSERT_LE_DOUBLE(idle, device_alone + 0.05);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

/* A device with more variables than one command may name (1024, and 64
 * KiB a message): 1500 of the longest names. */
#define MANY_VARS 1500

typedef struct many_device {
    rill_server *srv;
    rill_var *v[MANY_VARS];
    char names[MANY_VARS][RILL_VAR_NAME_MAX];
    atomic_bool stop;
    pthread_t producer;
} many_device;

static void *many_produce(void *p) {
    many_device *d = p;
    for (uint64_t f = 1; !atomic_load(&d->stop); f++) {
        rill_server_tick(d->srv, f);
        for (size_t k = 0; k < MANY_VARS; k++)
            rill_var_set_int32(d->v[k], (int32_t)f);
        if (f % 8 == 0)
            usleep(1000); /* about 8 kHz */
    }
    return NULL;
}

/* How many variables the device lists as watched, once that is `want`
 * (a start or stop applies at the device's next tick) or after 5 s. */
static size_t wait_watched(rill_client *cl, size_t want) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    for (;;) {
        rill_client_list *l = NULL;
        ASSERT_OK(rill_client_list_vars(cl, &l));
        size_t watched = 0;
        for (size_t k = 0; k < l->n_vars; k++)
            watched += l->vars[k].watched;
        rill_client_list_free(l);
        if (watched == want || rill_clock_now_ns() > end)
            return watched;
    }
}

TEST(streams_of_more_variables_than_a_command_takes_start_stop_and_count) {
    static many_device d;
    memset(&d, 0, sizeof d);
    rill_server_config sc = rill_server_config_default();
    sc.port = 0;
    sc.max_vars = MANY_VARS;
    sc.sample_rate = 8000;
    ASSERT_OK(rill_server_create(&sc, &d.srv));
    const char *names[MANY_VARS];
    for (size_t k = 0; k < MANY_VARS; k++) {
        snprintf(d.names[k], sizeof d.names[k], "%055zu_sensor", k);
        ASSERT_EQ_UINT(strlen(d.names[k]), RILL_VAR_NAME_MAX - 2);
        d.v[k] = rill_var_create(d.srv, d.names[k], RILL_TYPE_INT32, RILL_TS_DENSE);
        ASSERT_NOT_NULL(d.v[k]);
        names[k] = d.names[k];
    }
    atomic_init(&d.stop, false);
    ASSERT_EQ_INT(pthread_create(&d.producer, NULL, many_produce, &d), 0);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", rill_server_port(d.srv));
    errors e;
    memset(&e, 0, sizeof e);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.on_error = on_error;
    cfg.user = &e;
    cfg.timeout_ms = 5000;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    /* Exactly N values of each, all from one tick: the watch went as
     * several commands (the device refused the one of 1500 names). */
    static double *values[MANY_VARS];
    static uint64_t *ticks[MANY_VARS];
    ASSERT_OK(rill_client_stream_n_values(cl, names, MANY_VARS, 20, values, ticks));
    uint64_t first = ticks[0][0];
    for (size_t k = 0; k < MANY_VARS; k++) {
        for (size_t i = 0; i < 20; i++) {
            ASSERT_EQ_UINT(ticks[k][i], first + i);
            ASSERT_EQ_DOUBLE(values[k][i], (double)(first + i), 0);
        }
        rill_client_free(values[k]);
        rill_client_free(ticks[k]);
    }
    /* Started and stopped whole (stop with NULL names: every variable). */
    ASSERT_OK(rill_client_stream_start(cl, names, MANY_VARS, NULL));
    ASSERT_EQ_UINT(wait_watched(cl, MANY_VARS), MANY_VARS);
    ASSERT_OK(rill_client_stream_stop(cl, NULL, 0));
    ASSERT_EQ_UINT(wait_watched(cl, 0), 0);
    ASSERT_EQ_INT(atomic_load(&e.n), 0);
    rill_client_destroy(cl);
    atomic_store(&d.stop, true);
    pthread_join(d.producer, NULL);
    rill_server_destroy(d.srv);
}
