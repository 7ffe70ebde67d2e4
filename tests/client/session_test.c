/* The session helpers of include/rill/client.h against a real rill_server
 * in the same process: device URLs, the start tick, streaming for a
 * duration (one path with schedules), and waiting for the device to
 * finish its log files, in native mode and in the Watcher's compatibility
 * mode (as with a Bela board). */
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "test.h"
#include "testdevice.h"

#define RATE 64000 /* the test device's ticks per second */

/* ---- URLs ------------------------------------------------------------------- */

TEST(parse_url_gives_host_and_port_or_says_what_is_wrong) {
    char host[256], why[200];
    int port = 0;
    ASSERT_OK(rill_client_parse_url("ws://bela.local:6000", host, sizeof host, &port,
                                    why, sizeof why));
    ASSERT_EQ_STR(host, "bela.local");
    ASSERT_EQ_INT(port, 6000);
    ASSERT_EQ_STR(why, "");
    ASSERT_OK(rill_client_parse_url("ws://192.168.7.2/gui", host, sizeof host, &port,
                                    NULL, 0));
    ASSERT_EQ_STR(host, "192.168.7.2");
    ASSERT_EQ_INT(port, 5555); /* the default, as Bela's */
    ASSERT_OK(rill_client_parse_url("ws://h:65535/x", NULL, 0, NULL, NULL, 0));
    /* IPv6 addresses in brackets; the host is the address itself. */
    ASSERT_OK(rill_client_parse_url("ws://[::1]:6001", host, sizeof host, &port, NULL, 0));
    ASSERT_EQ_STR(host, "::1");
    ASSERT_EQ_INT(port, 6001);
    ASSERT_OK(rill_client_parse_url("ws://[fe80::1%eth0]/gui", host, sizeof host, &port,
                                    NULL, 0));
    ASSERT_EQ_STR(host, "fe80::1%eth0");
    ASSERT_EQ_INT(port, 5555);
    static const struct {
        const char *url, *words;
    } bad[] = {
        {"127.0.0.1:5555", "is not a ws:// URL: write ws://HOST[:PORT]"},
        {"http://127.0.0.1:5555", "is not a ws:// URL"},
        {"wss://bela.local", "rill speaks plain ws:// only"},
        {"ws://", "has no host name"},
        {"ws://:5555", "has no host name"},
        {"ws://bela.local:99999", "has a bad port: give a number from 1 to 65535"},
        {"ws://bela.local:0", "has a bad port"},
        {"ws://bela.local:55x", "has a bad port"},
        {"ws://bela.local:", "has a bad port"},
        {"ws://bela.local: 55", "has a bad port"},
        {"ws://bela.local:+55", "has a bad port"},
        {"ws://[::1", "has a bad IPv6 address: write ws://[ADDRESS]:PORT"},
        {"ws://[]:5555", "has a bad IPv6 address"},
        {"ws://[::1]x", "has a bad IPv6 address"},
        {"ws://[::1]:0", "has a bad port"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(host, "untouched");
        port = -1;
        ASSERT_ERR(rill_client_parse_url(bad[i].url, host, sizeof host, &port, why,
                                         sizeof why),
                   RILL_EINVAL);
        if (strstr(why, bad[i].words) == NULL)
            FAIL("%s: \"%s\" does not say \"%s\"", bad[i].url, why, bad[i].words);
        ASSERT_EQ_STR(host, "untouched");
        ASSERT_EQ_INT(port, -1);
    }
    char longer[400] = "ws://";
    memset(longer + 5, 'a', 300);
    ASSERT_ERR(rill_client_parse_url(longer, host, sizeof host, &port, why, sizeof why),
               RILL_EINVAL);
    ASSERT_TRUE(strstr(why, "too long a host name (at most 255 bytes)") != NULL);
    /* The client reads URLs with the same function. */
    rill_client_config cfg = rill_client_config_default();
    rill_client *cl = (rill_client *)1;
    cfg.url = "ws://bela.local:55x";
    ASSERT_ERR(rill_client_connect(&cfg, &cl), RILL_EINVAL);
    ASSERT_NULL(cl);
}

/* ---- A client that records what its callbacks get ------------------------------- */

typedef struct got {
    atomic_int buffers, last_flags, values;
    _Atomic uint64_t min_tick, max_tick;
    atomic_bool slow;          /* until armed, take 50 ms per buffer */
    atomic_bool armed;         /* from now on, count buffers before `start` */
    atomic_int before_start;   /* buffers with values before `start` */
    _Atomic uint64_t start;
    atomic_int errors;
    char error[256];
} got;

static void got_buffer(rill_client *cl, const rill_client_buffer *b,
                       void *user) {
    (void)cl;
    got *g = user;
    if (strcmp(b->name, "counter") != 0)
        return;
    if (b->last)
        atomic_fetch_add(&g->last_flags, 1);
    if (b->count == 0)
        return;
    atomic_fetch_add(&g->buffers, 1);
    /* A slow client counts values only once armed. */
    bool armed = atomic_load(&g->armed), slow = atomic_load(&g->slow);
    if (slow && !armed) {
        usleep(50000);
        return;
    }
    if (armed && b->first_ts < atomic_load(&g->start))
        atomic_fetch_add(&g->before_start, 1);
    atomic_fetch_add(&g->values, (int)b->count);
    uint64_t lo = b->first_ts, hi = b->first_ts + b->count - 1;
    if (atomic_load(&g->min_tick) == 0 || lo < atomic_load(&g->min_tick))
        atomic_store(&g->min_tick, lo);
    if (hi > atomic_load(&g->max_tick))
        atomic_store(&g->max_tick, hi);
}

static void got_error(rill_client *cl, int err, const char *msg,
                      void *user) {
    (void)cl;
    (void)err;
    got *g = user;
    if (atomic_fetch_add(&g->errors, 1) == 0)
        snprintf(g->error, sizeof g->error, "%s", msg);
}

static void got_reset(got *g) { memset(g, 0, sizeof *g); }

static rill_client *connect_got(test_device *d, rill_client_mode mode, got *g) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = mode;
    cfg.on_buffer = got_buffer;
    cfg.on_error = got_error;
    cfg.user = g;
    cfg.timeout_ms = 3000;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    return cl;
}

static uint64_t device_tick(rill_client *cl) {
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    uint64_t t = l->timestamp;
    rill_client_list_free(l);
    return t;
}

/* ---- The start tick ---------------------------------------------------------------- */

/* A little ahead of the device's clock: 50 ms, twice its own list round
 * trip (at most the call's time) and a block past the tick of that list
 * (between two others), and a schedule at it starts exactly there. */
static void start_tick(rill_client_mode mode) {
    test_device d;
    test_device_start(&d, NULL);
    got g;
    got_reset(&g);
    rill_client *cl = connect_got(&d, mode, &g);
    uint64_t before = device_tick(cl), t = 0;
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_client_start_tick(cl, &t));
    double took = (double)(rill_clock_now_ns() - t0) / 1e9;
    uint64_t after = device_tick(cl);
    ASSERT_TRUE(t >= before + RATE / 20 + 64);
    ASSERT_TRUE(t <= after + RATE / 20 + 64 + (uint64_t)(2 * took * RATE) + 1);
    const char *names[] = {"counter"};
    ASSERT_OK(rill_client_schedule(cl, names, 1, t, 1000, NULL, NULL));
    ASSERT_OK(rill_client_wait(cl, 5000));
    ASSERT_EQ_UINT(atomic_load(&g.min_tick), t);
    ASSERT_EQ_UINT(atomic_load(&g.max_tick), t + 999);
    ASSERT_ERR(rill_client_start_tick(cl, NULL), RILL_EINVAL);
    ASSERT_ERR(rill_client_start_tick(NULL, &t), RILL_EINVAL);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(native_start_tick_is_a_little_ahead_and_a_schedule_starts_on_it) {
    start_tick(RILL_CLIENT_NATIVE);
}

TEST(compat_start_tick_is_a_little_ahead_and_a_schedule_starts_on_it) {
    start_tick(RILL_CLIENT_COMPAT);
}

/* ---- Streaming for a duration --------------------------------------------------------- */

/* rill_client_stream_start with a duration is a schedule: exactly the
 * values of [start, start + duration), the end marked `last`, and
 * rill_client_wait waits for it; in compat mode too, where a Bela sends
 * one value more and pads. */
static void stream_for_a_duration(rill_client_mode mode) {
    test_device d;
    test_device_start(&d, NULL);
    got g;
    got_reset(&g);
    rill_client *cl = connect_got(&d, mode, &g);
    uint64_t start = 0;
    ASSERT_OK(rill_client_start_tick(cl, &start));
    const char *names[] = {"counter"};
    rill_client_stream_opts o = {start, 3 * 1024 + 77, 0, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &o));
    ASSERT_OK(rill_client_wait(cl, 5000));
    ASSERT_EQ_UINT(atomic_load(&g.values), o.duration);
    ASSERT_EQ_UINT(atomic_load(&g.min_tick), start);
    ASSERT_EQ_UINT(atomic_load(&g.max_tick), start + o.duration - 1);
    ASSERT_EQ_INT(atomic_load(&g.last_flags), 1);
    /* "Now": the client picks the start tick, and it is the same path. */
    got_reset(&g);
    uint64_t now = device_tick(cl);
    o.start = 0;
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &o));
    ASSERT_OK(rill_client_wait(cl, 5000));
    ASSERT_EQ_UINT(atomic_load(&g.values), o.duration);
    ASSERT_TRUE(atomic_load(&g.min_tick) > now);
    ASSERT_EQ_UINT(atomic_load(&g.max_tick), atomic_load(&g.min_tick) + o.duration - 1);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(native_stream_start_with_a_duration_gives_exactly_its_ticks) {
    stream_for_a_duration(RILL_CLIENT_NATIVE);
}

TEST(compat_stream_start_with_a_duration_is_trimmed_like_a_schedule) {
    stream_for_a_duration(RILL_CLIENT_COMPAT);
}

/* A Bela's watch stream is shared by its clients: while one client streams
 * a variable, another's schedule of it must not take the buffers from
 * before its start that are still on their way. Here they are many: the
 * second client's callback is slow until it has scheduled, so a backlog
 * of the first client's stream waits in its socket. */
TEST(compat_schedule_takes_nothing_of_another_clients_stream_before_its_start) {
    test_device d;
    test_device_start_compat_only(&d);
    got a, b;
    got_reset(&a);
    got_reset(&b);
    rill_client *ca = connect_got(&d, RILL_CLIENT_AUTO, &a);
    rill_client *cb = connect_got(&d, RILL_CLIENT_AUTO, &b);
    const char *names[] = {"counter"};
    atomic_store(&b.slow, true);
    ASSERT_OK(rill_client_stream_start(ca, names, 1, NULL));
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (atomic_load(&b.buffers) < 8 && rill_clock_now_ns() < end)
        usleep(1000); /* the shared stream reaches b too, slowly */
    ASSERT_TRUE(atomic_load(&b.buffers) >= 8);
    /* Half a second ahead of the device now, not of a list made before
     * the wait above, which takes longer than that on a loaded machine
     * (ASan): the schedule would start in the past. */
    uint64_t start = rill_server_now(d.srv) + RATE / 2;
    atomic_store(&b.start, start);
    ASSERT_OK(rill_client_schedule(cb, names, 1, start, 2048, NULL, NULL));
    atomic_store(&b.armed, true);
    ASSERT_OK(rill_client_wait(cb, 5000));
    ASSERT_EQ_INT(atomic_load(&b.before_start), 0);
    ASSERT_EQ_UINT(atomic_load(&b.min_tick), start);
    ASSERT_EQ_UINT(atomic_load(&b.max_tick), start + 2047);
    ASSERT_EQ_UINT(atomic_load(&b.values), 2048);
    rill_client_destroy(cb);
    rill_client_destroy(ca);
    test_device_stop(&d);
}

/* ---- Log completion ---------------------------------------------------------------- */

/* The values of a finished log file, each equal to its tick from `start`
 * (then the last body's padding). */
static size_t logged_values(const test_device *d, const char *file, uint64_t start) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", d->log_dir, file);
    rill_file_reader *r = NULL;
    ASSERT_OK(rill_file_reader_open(path, RILL_TS_DENSE, &r));
    size_t n = 0;
    bool counting = true;
    rill_file_buffer fb;
    while (rill_file_reader_next(r, &fb) == 0) {
        for (size_t i = 0; i < fb.count && counting; i++) {
            if (fb.timestamps[i] != start + n || fb.values[i] != (double)(start + n))
                counting = false;
            else
                n++;
        }
    }
    rill_file_reader_close(r);
    return n;
}

/* Log two variables for 0.1 s from the start tick: the wait returns once
 * the device has finished both files, which then hold every value (the
 * Watcher's D + 1), and not before the device's clock passed their end. */
static void log_wait_finishes(rill_client_mode mode, bool bela) {
    test_device d;
    if (bela)
        test_device_start_compat_only(&d);
    else
        test_device_start(&d, NULL);
    got g;
    got_reset(&g);
    rill_client *cl = connect_got(&d, mode, &g);
    const char *names[] = {"counter", "frame_d"};
    rill_client_log_file f[2];
    rill_client_stream_opts o = {0, RATE / 10, 0, 0};
    ASSERT_OK(rill_client_start_tick(cl, &o.start));
    ASSERT_OK(rill_client_log_start(cl, names, 2, &o, f));
    ASSERT_OK(rill_client_log_wait(cl, f, 2, 5000));
    ASSERT_TRUE(device_tick(cl) >= o.start + o.duration);
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    ASSERT_EQ_STR(l->vars[0].name, "counter");
    ASSERT_EQ_STR(l->vars[2].name, "frame_d");
    ASSERT_TRUE(!l->vars[0].logged && !l->vars[2].logged);
    rill_client_list_free(l);
    for (size_t i = 0; i < 2; i++) {
        /* From the tick the device began at (a loaded one may take the
         * command after the tick asked, and then begins "now"). */
        uint64_t from = 0, to = 0;
        ASSERT_OK(rill_client_log_span(cl, f[i].name, &from, &to));
        ASSERT_TRUE(from >= o.start);
        ASSERT_EQ_UINT(to - from, o.duration);
        ASSERT_EQ_UINT(logged_values(&d, f[i].name, from), o.duration + 1);
    }
    /* Finished files stay finished: waiting again returns at once. */
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_client_log_wait(cl, f, 2, 5000));
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 1000000000u);
    ASSERT_EQ_INT(atomic_load(&g.errors), 0);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

TEST(native_log_wait_returns_when_the_device_finished_every_file) {
    log_wait_finishes(RILL_CLIENT_NATIVE, false);
}

/* A start tick already past when the device takes the log begins "now"
 * with the whole duration after it: log_span says which ticks the file
 * holds (what rill log checks the download against), and it holds every
 * one of them. */
TEST(log_span_gives_the_ticks_the_device_logged_when_the_start_had_passed) {
    test_device d;
    test_device_start(&d, NULL);
    got g;
    got_reset(&g);
    rill_client *cl = connect_got(&d, RILL_CLIENT_NATIVE, &g);
    uint64_t from = 0, to = 0;
    ASSERT_ERR(rill_client_log_span(cl, "counter.bin", &from, &to),
               RILL_ENOTFOUND);
    ASSERT_ERR(rill_client_log_span(cl, NULL, &from, &to), RILL_EINVAL);
    const char *names[] = {"counter"};
    rill_client_log_file f;
    uint64_t asked_at;
    for (int i = 0; (asked_at = device_tick(cl)) < 1000 && i < 500; i++)
        usleep(10000);
    ASSERT_TRUE(asked_at >= 1000); /* so that tick 1 is past */
    rill_client_stream_opts o = {1, RATE / 10, 0, 0}; /* tick 1: long past */
    ASSERT_OK(rill_client_log_start(cl, names, 1, &o, &f));
    ASSERT_OK(rill_client_log_wait(cl, &f, 1, 5000));
    ASSERT_OK(rill_client_log_span(cl, f.name, &from, &to));
    ASSERT_TRUE(from >= asked_at);
    ASSERT_EQ_UINT(to - from, o.duration);
    ASSERT_TRUE(logged_values(&d, f.name, from) >= o.duration);
    ASSERT_EQ_INT(atomic_load(&g.errors), 0);
    rill_client_destroy(cl);
    test_device_stop(&d);
}

/* A Bela board sends no log-ended notice: compatibility mode reads the
 * list (the device only speaks the Watcher protocol here). */
TEST(compat_log_wait_returns_when_the_list_shows_every_file_finished) {
    log_wait_finishes(RILL_CLIENT_AUTO, true);
}

/* A log without a duration is not finished until it is stopped; a wait
 * says so in its time, and the connection's end ends any wait. */
static void log_wait_open(rill_client_mode mode) {
    test_device d;
    test_device_start(&d, NULL);
    got g;
    got_reset(&g);
    rill_client *cl = connect_got(&d, mode, &g);
    const char *names[] = {"counter"};
    rill_client_log_file f;
    ASSERT_OK(rill_client_log_start(cl, names, 1, NULL, &f));
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_client_log_wait(cl, &f, 1, 300), RILL_ETIMEOUT);
    ASSERT_TRUE(rill_clock_now_ns() - t0 >= 300000000u);
    ASSERT_OK(rill_client_log_stop(cl, names, 1));
    ASSERT_OK(rill_client_log_wait(cl, &f, 1, 5000));
    /* Relogging names a new file; the device going away ends the wait. */
    rill_client_log_file f2;
    ASSERT_OK(rill_client_log_start(cl, names, 1, NULL, &f2));
    ASSERT_TRUE(strcmp(f.name, f2.name) != 0);
    rill_client_log_file bad = {""};
    ASSERT_ERR(rill_client_log_wait(cl, &bad, 1, 100), RILL_EINVAL);
    ASSERT_ERR(rill_client_log_wait(cl, NULL, 1, 100), RILL_EINVAL);
    ASSERT_OK(rill_client_log_wait(cl, NULL, 0, 100));
    test_device_stop(&d);
    t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_client_log_wait(cl, &f2, 1, 10000), RILL_ECLOSED);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 2000000000u);
    rill_client_destroy(cl);
}

TEST(native_log_wait_times_out_on_an_open_log_and_ends_with_the_connection) {
    log_wait_open(RILL_CLIENT_NATIVE);
}

TEST(compat_log_wait_times_out_on_an_open_log_and_ends_with_the_connection) {
    log_wait_open(RILL_CLIENT_COMPAT);
}

/* The device's log writer meets a file size limit (RLIMIT_FSIZE on this
 * process, which runs the server): it reports the failed write, finishes
 * the file with what it holds, and the wait says RILL_EIO. */
TEST(log_wait_reports_a_write_the_device_could_not_make_as_eio) {
    test_device d;
    test_device_start(&d, NULL);
    got g;
    got_reset(&g);
    rill_client *cl = connect_got(&d, RILL_CLIENT_NATIVE, &g);
    struct rlimit old, small = {5 * 4104, 5 * 4104};
    ASSERT_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
    const char *names[] = {"counter"};
    rill_client_log_file f;
    rill_client_stream_opts o = {0, RATE / 5, 0, 0}; /* 12800 values: 13 bodies */
    ASSERT_OK(rill_client_start_tick(cl, &o.start));
    ASSERT_OK(rill_client_log_start(cl, names, 1, &o, &f));
    int rc = rill_client_log_wait(cl, &f, 1, 5000);
    ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    ASSERT_ERR(rc, RILL_EIO);
    ASSERT_EQ_INT(atomic_load(&g.errors), 1);
    if (strstr(g.error, "failed") == NULL || strstr(g.error, f.name) == NULL)
        FAIL("on_error said \"%s\"", g.error);
    /* The file holds what was written before the failure, all of it valid
     * (from the tick the device began at: a loaded one takes "soon" late). */
    uint64_t from = 0, to = 0;
    ASSERT_OK(rill_client_log_span(cl, f.name, &from, &to));
    size_t n = logged_values(&d, f.name, from);
    ASSERT_TRUE(n >= 1024 && n < o.duration);
    rill_client_destroy(cl);
    test_device_stop(&d);
}
