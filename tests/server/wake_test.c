/* The tick thread wakes the network thread itself (var.c's wake_network):
 * against a real server and client, it makes no wake-up while nothing
 * streams, and while a stream runs at most one per sleep of the network
 * thread, every buffer arriving in order; under a flood the network
 * thread naps between drains instead (netloop.c), and waits for the tick
 * thread again once the flood is over. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "server/internal.h"
#include "test.h"
#include "testdevice.h"

typedef struct got {
    atomic_uint buffers;
    atomic_uint bad;
    uint64_t next; /* I/O thread */
} got;

static void on_buffer(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    got *g = user;
    const int32_t *v = b->values;
    /* Whole buffers of 64, in order; the stop's last one may be shorter. */
    bool ok = (b->count == 64 || (b->last && b->count < 64)) &&
              (g->next == 0 || b->count == 0 || b->first_ts == g->next);
    for (size_t i = 0; ok && i < b->count; i++)
        ok = v[i] == (int32_t)(b->first_ts + i);
    if (!ok)
        atomic_fetch_add(&g->bad, 1);
    g->next = b->first_ts + b->count;
    atomic_fetch_add(&g->buffers, 1);
}

TEST(streams_wake_the_network_thread_at_most_once_per_sleep_and_idle_never) {
    test_device d;
    test_device_start(&d, NULL);
    rill__device *dev = &d.srv->dev;
    got g;
    memset(&g, 0, sizeof g);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    cfg.on_buffer = on_buffer;
    cfg.user = &g;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    /* Connected, ticking, nothing streamed: nothing to wake anyone for. */
    usleep(200000);
    ASSERT_EQ_UINT(atomic_load(&dev->wakeups), 0);
    const char *names[] = {"counter"};
    rill_client_stream_opts opts = {0, 0, 64, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &opts));
    uint64_t end = rill_clock_now_ns() + 10000000000u;
    while (atomic_load(&g.buffers) < 300 && rill_clock_now_ns() < end)
        usleep(2000);
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    rill_client_destroy(cl);
    uint64_t wakeups = atomic_load(&dev->wakeups);
    uint64_t sleeps = atomic_load(&dev->net_sleeps);
    rill_server_stats st;
    rill_server_get_stats(d.srv, &st);
    test_device_stop(&d);
    ASSERT_LE_UINT(300, atomic_load(&g.buffers));
    ASSERT_EQ_UINT(atomic_load(&g.bad), 0);
    ASSERT_EQ_UINT(st.tick_drops + st.client_drops, 0);
    /* One buffer a millisecond: the network thread sleeps between them,
     * so buffers reach it through the wake-ups. */
    ASSERT_LE_UINT(1, wakeups);
    ASSERT_LE_UINT(wakeups, sleeps);
}

/* rill_server_watched, as the tick thread sees it at each block. */
static bool watched_becomes(test_device *d, bool want) {
    uint64_t end = rill_clock_now_ns() + 3000000000u;
    while (atomic_load(&d->watched) != want && rill_clock_now_ns() < end)
        usleep(1000);
    return atomic_load(&d->watched) == want;
}

TEST(watched_while_anything_streams_monitors_logs_or_is_scheduled) {
    test_device d;
    test_device_start(&d, NULL);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", test_device_port(&d));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    /* A client that only looks (a list) watches nothing. */
    rill_client_list *l = NULL;
    ASSERT_OK(rill_client_list_vars(cl, &l));
    rill_client_list_free(l);
    usleep(50000);
    ASSERT_TRUE(!atomic_load(&d.watched));
    const char *names[] = {"counter"};
    rill_client_stream_opts opts = {0, 0, 64, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &opts));
    ASSERT_TRUE(watched_becomes(&d, true));
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    ASSERT_TRUE(watched_becomes(&d, false));
    ASSERT_OK(rill_client_monitor(cl, names, 1, 640));
    ASSERT_TRUE(watched_becomes(&d, true));
    ASSERT_OK(rill_client_monitor(cl, names, 1, 0));
    ASSERT_TRUE(watched_becomes(&d, false));
    ASSERT_OK(rill_client_log_start(cl, names, 1, NULL, NULL));
    ASSERT_TRUE(watched_becomes(&d, true));
    ASSERT_OK(rill_client_log_stop(cl, names, 1));
    ASSERT_TRUE(watched_becomes(&d, false));
    /* A stream scheduled 10 s ahead: watched before its first value. */
    uint64_t now = 0;
    ASSERT_OK(rill_client_start_tick(cl, &now));
    ASSERT_OK(rill_client_schedule(cl, names, 1, now + 640000, 64, NULL, NULL));
    ASSERT_TRUE(watched_becomes(&d, true));
    rill_client_destroy(cl); /* its streams go with it */
    ASSERT_TRUE(watched_becomes(&d, false));
    test_device_stop(&d);
}

/* A producer driven by the test: 64-frame blocks of an int32 variable
 * equal to the frame, one block per `period_ns`, spinning on absolute
 * deadlines (a flood of small buffers: a record every few microseconds,
 * far faster than the network thread sleeps and wakes). */
typedef struct flood {
    rill_server *srv;
    rill_var *var;
    atomic_ullong period_ns; /* 0: stop */
    atomic_ullong blocks;    /* run so far */
} flood;

static void *flood_main(void *arg) {
    flood *f = arg;
    uint64_t frame = 1, next = rill_clock_now_ns();
    for (;;) {
        uint64_t period = atomic_load(&f->period_ns);
        if (period == 0)
            break;
        next += period;
        uint64_t now = rill_clock_now_ns();
        if (next < now)
            next = now; /* late: do not make up for it in a burst */
        if (period >= 1000000)
            rill_clock_sleep_until_ns(next);
        else
            while (rill_clock_now_ns() < next) {
            }
        for (int i = 0; i < 64; i++, frame++) {
            rill_server_tick(f->srv, frame);
            rill_var_set_int32(f->var, (int32_t)frame);
        }
        atomic_fetch_add(&f->blocks, 1);
    }
    return NULL;
}

static void run_blocks(flood *f, uint64_t period_ns, uint64_t n) {
    uint64_t b0 = atomic_load(&f->blocks);
    atomic_store(&f->period_ns, period_ns);
    while (atomic_load(&f->blocks) - b0 < n)
        usleep(1000);
}

static bool arrived(got *g, unsigned n) {
    uint64_t end = rill_clock_now_ns() + 10000000000u;
    while (atomic_load(&g->buffers) < n && rill_clock_now_ns() < end)
        usleep(1000);
    return atomic_load(&g->buffers) >= n;
}

TEST(a_flood_of_small_buffers_naps_between_drains_and_paced_ones_wake_it) {
    rill_server_config scfg = rill_server_config_default();
    scfg.port = 0;
    scfg.log_dir = "/tmp";
    scfg.client_queue_bytes = 64u << 20; /* no drops however late the client */
    flood f;
    memset(&f, 0, sizeof f);
    ASSERT_OK(rill_server_create(&scfg, &f.srv));
    f.var = rill_var_create(f.srv, "frame", RILL_TYPE_INT32, RILL_TS_DENSE);
    ASSERT_NOT_NULL(f.var);
    rill__device *dev = &f.srv->dev;
    atomic_store(&f.period_ns, 2000000);
    pthread_t producer;
    ASSERT_EQ_INT(pthread_create(&producer, NULL, flood_main, &f), 0);
    got g;
    memset(&g, 0, sizeof g);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", rill_server_port(f.srv));
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.mode = RILL_CLIENT_NATIVE;
    cfg.on_buffer = on_buffer;
    cfg.user = &g;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    const char *names[] = {"frame"};
    rill_client_stream_opts opts = {0, 0, 64, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &opts));
    ASSERT_TRUE(arrived(&g, 5));
    /* The flood: a 64-value buffer every 20 us, 20000 of them. Waiting
     * for each would take about one wake-up (a write(2) on the tick
     * thread) per buffer; napping takes a few to notice the flood. */
    uint64_t w0 = atomic_load(&dev->wakeups);
    uint64_t naps0 = atomic_load(&dev->net_naps);
    unsigned n0 = atomic_load(&g.buffers);
    run_blocks(&f, 20000, 20000);
    atomic_store(&f.period_ns, 2000000);
    ASSERT_TRUE(arrived(&g, n0 + 20000));
    uint64_t w1 = atomic_load(&dev->wakeups);
    uint64_t naps = atomic_load(&dev->net_naps) - naps0;
    /* Paced again, a buffer every 3 ms: the flood is over, the network
     * thread waits for each buffer and the tick thread wakes it. */
    run_blocks(&f, 3000000, 40);
    uint64_t w2 = atomic_load(&dev->wakeups);
    ASSERT_OK(rill_client_stream_stop(cl, names, 1));
    rill_client_destroy(cl);
    atomic_store(&f.period_ns, 0);
    pthread_join(producer, NULL);
    rill_server_stats st;
    rill_server_get_stats(f.srv, &st);
    rill_server_destroy(f.srv);
    ASSERT_EQ_UINT(atomic_load(&g.bad), 0);
    ASSERT_EQ_UINT(st.tick_drops + st.client_drops, 0);
    /* The flood made the network thread nap: 2400 naps of 100 us on a
     * quiet machine, 1200-1500 with both cores busy elsewhere, 2800-7500
     * under TSan; none without napping. How many wake-ups that saves
     * depends on the machine: on a quiet one under 100 of 20000
     * (18000-19000 without napping); with both cores busy elsewhere
     * 200-1800 (5500-10000 without: a thread that gets the CPU late finds
     * more to do per wake-up), under TSan 1800-6600. So the count is
     * bounded loosely; the naps are the proof. */
    ASSERT_LE_UINT(100, naps);
    ASSERT_LE_UINT(w1 - w0, 10000); /* at most one per 2 buffers */
    ASSERT_LE_UINT(20, w2 - w1);    /* of 40 paced buffers */
}
