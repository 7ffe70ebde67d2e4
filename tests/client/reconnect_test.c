/* A client that loses its connection and gets it back (client.h:
 * keepalive_ms, reconnect, on_event, rill_client_get_stats), against a real
 * rill_server in this process that the test takes down and brings back up
 * on the same port, with its ticks going on meanwhile (the same device) or
 * begun again (a restarted device), or whose network thread freezes (a
 * device that stops answering without closing anything).
 *
 * Every value is checked: the device's "frame" is its tick, and "events"
 * (sparse) is set on every 64th tick, so what arrived plus the gaps
 * reported must be every tick, exactly.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define RATE 64000 /* ticks per second: 64 every millisecond */

/* ---- A device that can go down and come back ---------------------------- */

typedef struct device {
    pthread_mutex_t mx; /* the producer ticks under it; down/up swap under it */
    rill_server *srv;
    rill_var *frame, *events;
    int port;
    _Atomic uint64_t tick;
    atomic_bool stop;
    atomic_int freeze_ms; /* the next client buffer blocks the network thread */
    bool compat_only;     /* speak only the Watcher protocol, as a Bela */
    pthread_t producer;
} device;

static void *produce(void *arg) {
    device *d = arg;
    uint64_t next = rill_clock_now_ns();
    while (!atomic_load(&d->stop)) {
        pthread_mutex_lock(&d->mx);
        uint64_t t = atomic_load(&d->tick);
        for (int i = 0; i < 64; i++, t++) {
            if (d->srv == NULL)
                continue; /* down: the device's clock goes on */
            rill_server_tick(d->srv, t);
            rill_var_set_int32(d->frame, (int32_t)t);
            if (t % 64 == 0)
                rill_var_set_int32(d->events, (int32_t)t);
        }
        atomic_store(&d->tick, t);
        pthread_mutex_unlock(&d->mx);
        next += 1000000;
        rill_clock_sleep_until_ns(next);
    }
    return NULL;
}

/* The network thread runs this for a client's buffer: a test makes it
 * stall, as a device that stops answering. */
static void on_buffer(rill_server *srv, uint32_t id, rill_type type,
                      const void *values, size_t count, void *user) {
    (void)srv, (void)id, (void)type, (void)values, (void)count;
    device *d = user;
    int ms = atomic_exchange(&d->freeze_ms, 0);
    if (ms > 0)
        usleep((useconds_t)ms * 1000);
}

/* Create the server (on d->port, 0 the first time). Lock held. */
static void up_locked(device *d) {
    rill_server_config cfg = rill_server_config_default();
    cfg.port = d->port;
    cfg.sample_rate = RATE;
    cfg.log_dir = "/tmp";
    cfg.out_ring_bytes = 1 << 20;
    cfg.log_ring_bytes = 1 << 16;
    cfg.on_buffer = on_buffer;
    cfg.user = d;
    cfg.compat_only = d->compat_only;
    int rc = RILL_EIO;
    /* The port was ours a moment ago: retry briefly if the kernel still
     * holds it. */
    for (int i = 0; i < 100 && rc == RILL_EIO; i++) {
        rc = rill_server_create(&cfg, &d->srv);
        if (rc == RILL_EIO)
            usleep(20000);
    }
    ASSERT_OK(rc);
    d->frame = rill_var_create(d->srv, "frame", RILL_TYPE_INT32, RILL_TS_DENSE);
    d->events =
        rill_var_create(d->srv, "events", RILL_TYPE_INT32, RILL_TS_SPARSE);
    ASSERT_NOT_NULL(d->frame);
    ASSERT_NOT_NULL(d->events);
    d->port = rill_server_port(d->srv);
}

static void device_start_as(device *d, bool compat_only) {
    memset(d, 0, sizeof *d);
    d->compat_only = compat_only;
    pthread_mutex_init(&d->mx, NULL);
    atomic_init(&d->tick, 1000);
    up_locked(d);
    ASSERT_EQ_INT(pthread_create(&d->producer, NULL, produce, d), 0);
}

static void device_start(device *d) { device_start_as(d, false); }

static void device_down(device *d) {
    pthread_mutex_lock(&d->mx);
    rill_server_destroy(d->srv);
    d->srv = NULL;
    pthread_mutex_unlock(&d->mx);
}

/* Back on the same port; `restart`: as a new process, its clock from 0. */
static void device_up(device *d, bool restart) {
    pthread_mutex_lock(&d->mx);
    if (restart)
        atomic_store(&d->tick, 0);
    up_locked(d);
    pthread_mutex_unlock(&d->mx);
}

static void device_stop(device *d) {
    atomic_store(&d->stop, true);
    pthread_join(d->producer, NULL);
    rill_server_destroy(d->srv);
    pthread_mutex_destroy(&d->mx);
}

static uint64_t device_tick(device *d) {
    return atomic_load(&d->tick);
}

/* ---- A client that checks every value ------------------------------------ */

#define MAX_GAPS 16

typedef struct track {
    uint64_t next;   /* frame: the tick expected next (0: none yet) */
    uint64_t values; /* frame values, each equal to its tick */
    uint64_t jumps;  /* frame: places where the ticks did not follow */
    uint64_t jump_from, jump_to;
    uint64_t ev_values; /* events: values, each a multiple of 64 = its tick */
    uint64_t ev_next;   /* events: the tick expected next */
    uint64_t ev_jumps, ev_jump_from, ev_jump_to;
    uint64_t ev_missing; /* events: values missing at all the jumps */
    uint64_t bad;        /* a value that is not its tick */
} track;

typedef struct seen {
    pthread_mutex_t mx;
    track t;
    int lost, reconnected, errors;
    int gaps;
    rill_client_event gap[MAX_GAPS];
    char gap_name[MAX_GAPS][16];
    char error[256];
    int done_err, done_calls;
} seen;

static void seen_init(seen *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mx, NULL);
}

static void on_values(rill_client *cl, const rill_client_buffer *b,
                      void *user) {
    (void)cl;
    seen *s = user;
    pthread_mutex_lock(&s->mx);
    track *t = &s->t;
    const int32_t *v = b->values;
    for (size_t i = 0; i < b->count; i++) {
        uint64_t tick = b->first_ts + (b->rel != NULL ? b->rel[i] : i);
        if ((uint64_t)v[i] != tick)
            t->bad++;
        if (strcmp(b->name, "frame") == 0) {
            if (t->next != 0 && tick != t->next && t->jumps++ == 0) {
                t->jump_from = t->next;
                t->jump_to = tick;
            }
            t->next = tick + 1;
            t->values++;
        } else {
            if (tick % 64 != 0)
                t->bad++;
            if (t->ev_next != 0 && tick != t->ev_next) {
                if (getenv("DEBUG_GAPS"))
                    fprintf(stderr, "jump %llu -> %llu\n",
                            (unsigned long long)t->ev_next,
                            (unsigned long long)tick);
                t->ev_missing += (tick - t->ev_next) / 64;
                if (t->ev_jumps++ == 0) {
                    t->ev_jump_from = t->ev_next;
                    t->ev_jump_to = tick;
                }
            }
            t->ev_next = tick + 64;
            t->ev_values++;
        }
    }
    pthread_mutex_unlock(&s->mx);
}

static void on_event(rill_client *cl, const rill_client_event *ev, void *user) {
    (void)cl;
    seen *s = user;
    pthread_mutex_lock(&s->mx);
    if (ev->kind == RILL_CLIENT_EVENT_LOST)
        s->lost++;
    if (ev->kind == RILL_CLIENT_EVENT_RECONNECTED)
        s->reconnected++;
    if (getenv("DEBUG_GAPS"))
        fprintf(stderr, "event %d %s first %llu ticks %llu resumed %llu: %s\n",
                ev->kind, ev->name ? ev->name : "",
                (unsigned long long)ev->first, (unsigned long long)ev->ticks,
                (unsigned long long)ev->resumed, ev->msg);
    if (ev->kind == RILL_CLIENT_EVENT_GAP && s->gaps < MAX_GAPS) {
        s->gap[s->gaps] = *ev;
        snprintf(s->gap_name[s->gaps], sizeof s->gap_name[0], "%s", ev->name);
        s->gap[s->gaps].name = s->gap_name[s->gaps];
        s->gap[s->gaps].msg = NULL;
        s->gaps++;
    }
    pthread_mutex_unlock(&s->mx);
}

static void on_error(rill_client *cl, int err, const char *msg, void *user) {
    (void)cl;
    seen *s = user;
    pthread_mutex_lock(&s->mx);
    if (s->errors++ == 0)
        snprintf(s->error, sizeof s->error, "%s: %s", rill_err_name(err), msg);
    pthread_mutex_unlock(&s->mx);
}

static void on_done(rill_client *cl, int err, void *user) {
    (void)cl;
    seen *s = user;
    pthread_mutex_lock(&s->mx);
    s->done_err = err;
    s->done_calls++;
    pthread_mutex_unlock(&s->mx);
}

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "[%s] %s\n", rill_log_level_name(level), msg);
}

static rill_client *connect_to(device *d, seen *s, bool reconnect, bool poll) {
    if (getenv("DEBUG_GAPS"))
        rill_set_log_callback(print_log, RILL_LOG_INFO, NULL);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", d->port);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.timeout_ms = 1000;
    cfg.keepalive_ms = 200;
    cfg.reconnect = reconnect;
    cfg.on_buffer = on_values;
    cfg.on_event = on_event;
    cfg.on_error = on_error;
    cfg.poll = poll;
    cfg.user = s;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    return cl;
}

/* Wait up to ms for `cond` (read under s->mx), running poll() if asked. */
#define WAIT_FOR(s, cl, poll, ms, cond)                                        \
    do {                                                                       \
        uint64_t end_ = rill_clock_now_ns() + (uint64_t)(ms)*1000000u;         \
        for (;;) {                                                             \
            if (poll)                                                          \
                rill_client_poll((cl), 20);                                    \
            else                                                               \
                usleep(10000);                                                 \
            pthread_mutex_lock(&(s)->mx);                                      \
            bool ok_ = (cond);                                                 \
            pthread_mutex_unlock(&(s)->mx);                                    \
            if (ok_)                                                           \
                break;                                                         \
            if (rill_clock_now_ns() > end_)                                    \
                FAIL("waited %d ms for %s (errors %d: %s)", (int)(ms), #cond,  \
                     (s)->errors, (s)->error);                                 \
        }                                                                      \
    } while (0)

static uint64_t values_now(seen *s) {
    pthread_mutex_lock(&s->mx);
    uint64_t v = s->t.values;
    pthread_mutex_unlock(&s->mx);
    return v;
}

static const rill_client_event *gap_of(seen *s, const char *name) {
    for (int i = 0; i < s->gaps; i++)
        if (strcmp(s->gap[i].name, name) == 0)
            return &s->gap[i];
    FAIL("no gap was reported for %s (%d gaps)", name, s->gaps);
    return NULL;
}

/* The device goes down and comes back on the same port with its clock
 * going on: the stream resumes by itself, and the gaps reported are
 * exactly the ticks that never arrived, for a dense and a sparse
 * variable. */
static void survives_a_server_restart(bool poll) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, poll);
    /* 32 values a buffer: an "events" buffer every 32 ms. */
    const char *names[] = {"frame", "events"};
    rill_client_stream_opts o = {0, 0, 32, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 2, &o));
    WAIT_FOR(&s, cl, poll, 5000, s.t.values > 20000);
    device_down(&d);
    uint64_t down_at = device_tick(&d);
    usleep(300000);
    device_up(&d, false);
    WAIT_FOR(&s, cl, poll, 10000, s.reconnected == 1 && s.gaps == 2);
    uint64_t values_at_reconnect = values_now(&s);
    WAIT_FOR(&s, cl, poll, 5000, s.t.values > values_at_reconnect + 20000);
    ASSERT_OK(rill_client_stream_stop(cl, NULL, 0));
    rill_client_stats st;
    rill_client_get_stats(cl, &st);
    rill_client_var_stats fs;
    ASSERT_OK(rill_client_get_var_stats(cl, "frame", &fs));
    rill_client_destroy(cl);
    device_stop(&d);

    ASSERT_EQ_INT(s.lost, 1);
    ASSERT_EQ_INT(s.errors, 0);
    ASSERT_EQ_UINT(s.t.bad, 0);
    /* frame: one jump in its ticks, and it is exactly the gap reported. */
    const rill_client_event *g = gap_of(&s, "frame");
    ASSERT_EQ_UINT(s.t.jumps, 1);
    ASSERT_EQ_UINT(g->first, s.t.jump_from);
    ASSERT_EQ_UINT(g->resumed, s.t.jump_to);
    ASSERT_EQ_UINT(g->ticks, s.t.jump_to - s.t.jump_from);
    ASSERT_TRUE(!g->restarted);
    /* The gap covers the 300 ms the device was down (19200 ticks). */
    ASSERT_TRUE(g->first <= down_at);
    ASSERT_TRUE(g->ticks >= 300 * RATE / 1000);
    /* events: one jump of whole 64-tick steps, inside the gap reported:
     * nothing set outside it is missing. */
    const rill_client_event *e = gap_of(&s, "events");
    ASSERT_EQ_UINT(s.t.ev_jumps, 1);
    ASSERT_TRUE(e->first <= s.t.ev_jump_from);
    ASSERT_TRUE(e->resumed >= s.t.ev_jump_to - 63);
    ASSERT_TRUE(e->resumed <= s.t.ev_jump_to);
    ASSERT_EQ_UINT(e->ticks, e->resumed - e->first);
    ASSERT_TRUE(e->first + 64 > s.t.ev_jump_from);
    /* The counters say the same. */
    ASSERT_EQ_UINT(st.reconnects, 1);
    ASSERT_EQ_UINT(st.gaps, 2);
    ASSERT_EQ_UINT(st.gap_ticks, g->ticks + e->ticks);
    ASSERT_TRUE(st.connected);
    ASSERT_EQ_UINT(fs.gaps, 1);
    ASSERT_EQ_UINT(fs.gap_ticks, g->ticks);
}

TEST(a_stream_resumes_after_the_server_restarts_with_its_exact_gap) {
    survives_a_server_restart(false);
}

TEST(a_stream_resumes_after_the_server_restarts_in_poll_mode) {
    survives_a_server_restart(true);
}

/* The same with a device that speaks only the Watcher protocol (a Bela
 * board: its /gui_data socket reopened too, no "run" in any hello, Bela's
 * fixed 1024-value buffers): the gap is exact all the same. */
TEST(compat_a_stream_resumes_after_the_server_restarts_with_its_exact_gap) {
    device d;
    device_start_as(&d, true);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, false);
    ASSERT_TRUE(!rill_client_native(cl));
    const char *names[] = {"frame"};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, NULL));
    WAIT_FOR(&s, cl, false, 5000, s.t.values > 20000);
    device_down(&d);
    usleep(300000);
    device_up(&d, false);
    WAIT_FOR(&s, cl, false, 10000, s.reconnected == 1 && s.gaps == 1);
    uint64_t at = values_now(&s);
    WAIT_FOR(&s, cl, false, 5000, s.t.values > at + 20000);
    rill_client_destroy(cl);
    device_stop(&d);
    const rill_client_event *g = gap_of(&s, "frame");
    ASSERT_EQ_UINT(s.t.jumps, 1);
    ASSERT_TRUE(!g->restarted);
    ASSERT_EQ_UINT(g->first, s.t.jump_from);
    ASSERT_EQ_UINT(g->resumed, s.t.jump_to);
    ASSERT_EQ_UINT(g->ticks, s.t.jump_to - s.t.jump_from);
    ASSERT_EQ_UINT(s.t.bad, 0);
    ASSERT_EQ_INT(s.errors, 0);
}

/* A restarted device begins its ticks again: the gap says so, from the
 * tick after the last value of the earlier run, and the stream goes on
 * from the new run's ticks. */
TEST(a_device_that_restarted_with_a_new_clock_is_reported_as_restarted) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, false);
    const char *names[] = {"frame"};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, NULL));
    WAIT_FOR(&s, cl, false, 5000, s.t.values > 10000);
    device_down(&d);
    usleep(100000);
    device_up(&d, true);
    WAIT_FOR(&s, cl, false, 10000, s.gaps == 1);
    WAIT_FOR(&s, cl, false, 5000,
             s.t.jumps == 1 && s.t.next > s.t.jump_to + 10000);
    rill_client_destroy(cl);
    device_stop(&d);
    const rill_client_event *g = gap_of(&s, "frame");
    ASSERT_TRUE(g->restarted);
    ASSERT_EQ_UINT(g->ticks, 0);
    ASSERT_EQ_UINT(g->first, s.t.jump_from);
    ASSERT_EQ_UINT(g->resumed, s.t.jump_to);
    ASSERT_EQ_UINT(s.t.bad, 0);
}

/* A schedule that straddles a reconnection gets the rest of its ticks,
 * ends at its end, and completes with RILL_EIO: the values it delivered
 * plus the gap are exactly its ticks. */
TEST(a_schedule_across_a_reconnection_completes_with_eio_and_its_exact_gap) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, false);
    const char *names[] = {"frame"};
    uint64_t start;
    ASSERT_OK(rill_client_start_tick(cl, &start));
    uint64_t dur = 2 * RATE;
    ASSERT_OK(rill_client_schedule(cl, names, 1, start, dur, on_done, &s));
    WAIT_FOR(&s, cl, false, 5000, s.t.values > RATE / 2);
    device_down(&d);
    usleep(200000);
    device_up(&d, false);
    ASSERT_ERR(rill_client_wait(cl, 10000), RILL_EIO);
    rill_client_destroy(cl);
    device_stop(&d);
    ASSERT_EQ_INT(s.done_calls, 1);
    ASSERT_EQ_INT(s.done_err, RILL_EIO);
    const rill_client_event *g = gap_of(&s, "frame");
    ASSERT_EQ_UINT(s.t.values + g->ticks, dur);
    ASSERT_EQ_UINT(s.t.next, start + dur);
    ASSERT_EQ_UINT(g->first, s.t.jump_from);
    ASSERT_EQ_UINT(g->first + g->ticks, s.t.jump_to);
}

/* While the connection is being restored requests return RILL_EAGAIN at
 * once; afterwards they work again. Without reconnect a lost connection
 * is RILL_ECLOSED, as always. */
TEST(requests_while_reconnecting_return_eagain_then_work_again) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, false);
    device_down(&d);
    WAIT_FOR(&s, cl, false, 5000, s.lost == 1);
    rill_client_list *l = NULL;
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_ERR(rill_client_list_vars(cl, &l), RILL_EAGAIN);
    const char *names[] = {"frame"};
    ASSERT_ERR(rill_client_stream_start(cl, names, 1, NULL), RILL_EAGAIN);
    ASSERT_ERR(rill_client_set(cl, "frame", 3), RILL_EAGAIN);
    ASSERT_TRUE(rill_clock_now_ns() - t0 < 500000000u);
    rill_client_stats st;
    rill_client_get_stats(cl, &st);
    ASSERT_TRUE(!st.connected);
    device_up(&d, false);
    WAIT_FOR(&s, cl, false, 10000, s.reconnected == 1);
    ASSERT_OK(rill_client_list_vars(cl, &l));
    ASSERT_EQ_UINT(l->n_vars, 2);
    rill_client_list_free(l);
    double v;
    ASSERT_OK(rill_client_peek(cl, "frame", &v, NULL));
    ASSERT_TRUE(v > 0);
    rill_client_destroy(cl);

    seen s2;
    seen_init(&s2);
    cl = connect_to(&d, &s2, false, false);
    device_down(&d);
    WAIT_FOR(&s2, cl, false, 5000, s2.errors == 1);
    ASSERT_EQ_INT(s2.lost, 0); /* LOST is for reconnecting clients */
    ASSERT_ERR(rill_client_list_vars(cl, &l), RILL_ECLOSED);
    rill_client_destroy(cl);
    device_up(&d, false);
    device_stop(&d);
}

/* A device that stops answering without closing anything (its network
 * thread stuck) is noticed by the keepalive within keepalive_ms +
 * timeout_ms, with a reason; with reconnect the client gets it back once
 * it answers again. */
TEST(a_device_that_stops_answering_is_lost_within_keepalive_and_timeout) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, false, false);
    int32_t one = 1;
    atomic_store(&d.freeze_ms, 3000);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_client_send_buffer(cl, 0, RILL_TYPE_INT32, &one, 1));
    WAIT_FOR(&s, cl, false, 2900, s.errors == 1);
    double took = (double)(rill_clock_now_ns() - t0) / 1e9;
    /* keepalive 200 ms + timeout 1000 ms, polled every 100 ms. */
    if (took < 1.1 || took > 1.8)
        FAIL("the silent device was noticed after %.2f s, not 1.2 to 1.5 s",
             took);
    if (strstr(s.error, "RILL_ECLOSED: nothing came from the device") == NULL)
        FAIL("the error says \"%s\"", s.error);
    rill_client_destroy(cl);

    seen s2;
    seen_init(&s2);
    usleep(2000000); /* the device answers again */
    cl = connect_to(&d, &s2, true, false);
    const char *names[] = {"frame"};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, NULL));
    WAIT_FOR(&s2, cl, false, 5000, s2.t.values > 10000);
    atomic_store(&d.freeze_ms, 1500);
    ASSERT_OK(rill_client_send_buffer(cl, 0, RILL_TYPE_INT32, &one, 1));
    WAIT_FOR(&s2, cl, false, 10000, s2.reconnected == 1 && s2.gaps == 1);
    uint64_t at = values_now(&s2);
    WAIT_FOR(&s2, cl, false, 5000, s2.t.values > at + 10000);
    rill_client_destroy(cl);
    device_stop(&d);
    const rill_client_event *g = gap_of(&s2, "frame");
    ASSERT_EQ_UINT(s2.t.jumps, 1);
    ASSERT_EQ_UINT(g->first, s2.t.jump_from);
    ASSERT_EQ_UINT(g->first + g->ticks, s2.t.jump_to);
    ASSERT_EQ_UINT(s2.t.bad, 0);
    ASSERT_EQ_INT(s2.errors, 0);
}

/* A device whose variables changed is not resumed: the client gives up
 * with a reason that says so. */
TEST(a_device_with_other_variables_is_not_resumed) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, false);
    device_down(&d);
    pthread_mutex_lock(&d.mx);
    up_locked(&d);
    ASSERT_NOT_NULL(
        rill_var_create(d.srv, "extra", RILL_TYPE_FLOAT, RILL_TS_DENSE));
    pthread_mutex_unlock(&d.mx);
    WAIT_FOR(&s, cl, false, 10000, s.errors == 1);
    if (strstr(s.error, "has 3 variables now and had 2") == NULL)
        FAIL("the error says \"%s\"", s.error);
    rill_client_list *l = NULL;
    ASSERT_ERR(rill_client_list_vars(cl, &l), RILL_ECLOSED);
    rill_client_destroy(cl);
    device_stop(&d);
}

/* With reconnect_ms, a device that does not come back is given up on
 * after that long, as a lost connection without reconnect. */
TEST(reconnect_gives_up_after_reconnect_ms) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", d.port);
    rill_client_config cfg = rill_client_config_default();
    cfg.url = url;
    cfg.timeout_ms = 500;
    cfg.reconnect = true;
    cfg.reconnect_ms = 800;
    cfg.on_event = on_event;
    cfg.on_error = on_error;
    cfg.user = &s;
    rill_client *cl = NULL;
    ASSERT_OK(rill_client_connect(&cfg, &cl));
    uint64_t t0 = rill_clock_now_ns();
    device_down(&d);
    WAIT_FOR(&s, cl, false, 5000, s.errors == 1);
    double took = (double)(rill_clock_now_ns() - t0) / 1e9;
    ASSERT_TRUE(took >= 0.8 && took < 2.5);
    if (strstr(s.error, "not reconnected within 800 ms") == NULL)
        FAIL("the error says \"%s\"", s.error);
    ASSERT_EQ_INT(s.lost, 1);
    rill_client_destroy(cl);
    device_up(&d, false);
    device_stop(&d);
}

/* ---- Stress, for ThreadSanitizer ----------------------------------------- */

typedef struct hammer {
    rill_client *cl;
    atomic_bool stop;
    atomic_int ok, again, other;
    int other_rc;
} hammer;

static void count(hammer *h, int rc) {
    if (rc == 0)
        atomic_fetch_add(&h->ok, 1);
    else if (rc == RILL_EAGAIN || rc == RILL_ETIMEOUT || rc == RILL_EIO)
        atomic_fetch_add(&h->again, 1);
    else if (atomic_fetch_add(&h->other, 1) == 0)
        h->other_rc = rc;
}

static void *requests(void *arg) {
    hammer *h = arg;
    const char *names[] = {"frame"};
    for (unsigned i = 0; !atomic_load(&h->stop); i++) {
        rill_client_list *l = NULL;
        switch (i % 5) {
        case 0:
            count(h, rill_client_list_vars(h->cl, &l));
            rill_client_list_free(l);
            break;
        case 1:
            count(h, rill_client_peek(h->cl, "events", NULL, NULL));
            break;
        case 2: {
            double *v = NULL;
            uint64_t *t = NULL;
            count(h, rill_client_stream_n_values(h->cl, names, 1, 64, &v, &t));
            rill_client_free(v);
            rill_client_free(t);
            break;
        }
        case 3:
            count(h, rill_client_monitor(h->cl, names, 1, i % 2 ? 640 : 0));
            break;
        default: {
            int32_t x = (int32_t)i;
            count(h, rill_client_send_buffer(h->cl, 1, RILL_TYPE_INT32, &x, 1));
            break;
        }
        }
    }
    return NULL;
}

/* Requests from two threads, a stream and monitors running, while the
 * device goes down and up again and again: no race (TSan), no request
 * that hangs or fails other than "try again", and every value of the
 * stream either arrives or is inside a reported gap. */
TEST(stress_requests_while_the_device_restarts_again_and_again) {
    device d;
    device_start(&d);
    seen s;
    seen_init(&s);
    rill_client *cl = connect_to(&d, &s, true, false);
    const char *names[] = {"events"};
    rill_client_stream_opts o = {0, 0, 16, 0};
    ASSERT_OK(rill_client_stream_start(cl, names, 1, &o));
    hammer h;
    memset(&h, 0, sizeof h);
    h.cl = cl;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, requests, &h), 0);
    for (int round = 0; round < 6; round++) {
        usleep(300000);
        device_down(&d);
        usleep(50000 + 40000 * (unsigned)round);
        device_up(&d, false);
        WAIT_FOR(&s, cl, false, 10000, s.reconnected == round + 1);
    }
    usleep(300000);
    atomic_store(&h.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    rill_client_stats st;
    rill_client_get_stats(cl, &st);
    rill_client_destroy(cl);
    device_stop(&d);
    if (atomic_load(&h.other) != 0)
        FAIL("%d requests failed otherwise, the first with %s",
             atomic_load(&h.other), rill_err_name(h.other_rc));
    ASSERT_TRUE(atomic_load(&h.ok) > 20);
    ASSERT_EQ_UINT(st.reconnects, 6);
    ASSERT_EQ_INT(s.lost, 6);
    ASSERT_EQ_INT(s.errors, 0);
    ASSERT_EQ_UINT(s.t.bad, 0);
    /* Each restart left one gap in "events", its values jumped once per
     * restart, and the events missing are exactly those the gaps hold
     * (the multiples of 64 in each [first, resumed)). */
    ASSERT_EQ_INT(s.gaps, 6);
    ASSERT_EQ_UINT(st.gaps, 6);
    ASSERT_EQ_UINT(s.t.ev_jumps, 6);
    uint64_t in_gaps = 0;
    for (int i = 0; i < s.gaps; i++)
        in_gaps += (s.gap[i].resumed + 63) / 64 - (s.gap[i].first + 63) / 64;
    ASSERT_EQ_UINT(in_gaps, s.t.ev_missing);
}
