/* The jack backend against a real JACK server: `jackd --no-realtime -S
 * -L 2 -d dummy` started here, and stopped at the end.
 *
 * A rill output plays a sample of distinct values; three rill inputs
 * capture it:
 *
 *   direct    rillout:out_1 -> rillin_direct:in_1
 *   loopback  rillout:out_1 -> loopback:playback_1, loopback:capture_1
 *             -> rillin_loop:in_1 (jackd2's loopback driver, -L)
 *   relayed   rillout:out_1 -> relay:in, relay:out -> loopback:playback_2,
 *             loopback:capture_2 -> rillin_relay:in_1
 *
 * Every block is stamped with JACK's frame clock, which all clients of a
 * server share, so each captured frame can be traced to the frame of the
 * sample it came from: the values must be identical, and the difference of
 * the stamps is the latency.
 *
 * The period math. JACK runs a client after every client it is connected
 * from, in the same cycle, so a direct connection delays nothing: 0 frames.
 * The loopback driver copies what its playback ports hold to its capture
 * ports once per cycle, so what reaches playback in cycle k comes out in
 * cycle k + 1: one period. But jackd2 (1.9.21, JackLoopbackDriver and
 * JackAudioDriver::ProcessGraphSyncMaster) makes that copy right after it
 * has woken the clients, not ordered with them: when rillout happens to run
 * before the copy, its block goes through in the same cycle (0 frames), so
 * the plain loopback path is 0 or one period, varying from cycle to cycle
 * (and within one, when the copy overlaps rillout writing its block).
 * The relayed path fixes the order with a plain JACK client that only
 * copies its input to its output: its extra input port `sync` is fed from
 * loopback:capture_1, so JACK runs it only after the loopback's copy in
 * every cycle (its output into loopback:playback_2 closes a loop, which
 * jackd2 keeps as a feedback connection that orders nothing). What it
 * passes in cycle k is therefore always copied in cycle k + 1: exactly one
 * period, in every cycle. JACK's own figures for the loopback's ports
 * (playback latency one period in sync mode) are checked against that.
 *
 * A loaded machine makes the non-real-time server skip whole cycles: the
 * frames next to a jump of any client's clock are left out (there the
 * period math cannot hold), and most must be clean. The xruns JACK reports
 * are counted; as long as no cycle was skipped they change nothing. */
#include <pthread.h>
#include <jack/jack.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

enum { RATE = 48000, PERIOD = 256, L = 48000, MODP = 65521 };
/* Frames this close to a skipped cycle are not clean. */
enum { MARGIN = 4 * PERIOD };

/* Distinct, non-zero, exactly representable: ((j * 7919) mod 65521 + 1)
 * / 2^17. 7919 is invertible mod the prime 65521. */
static float seq_value(size_t j) {
    return (float)((j * 7919u) % MODP + 1) / 131072.0f;
}

/* JACK times near which the period math need not hold: where a client saw
 * its clock jump (skipped cycles). Filled after the run, from the logs the
 * threads wrote. */
typedef struct suspects {
    uint64_t t[512];
    size_t n;
} suspects;

static void suspect(suspects *s, uint64_t t) {
    if (s->n < RILL__ARRAY_LEN(s->t))
        s->t[s->n++] = t;
}

static bool near_suspect(const suspects *s, uint64_t t) {
    if (s->n == RILL__ARRAY_LEN(s->t))
        return true; /* too many to list: nothing is clean */
    for (size_t k = 0; k < s->n; k++)
        if (t + MARGIN >= s->t[k] && t <= s->t[k] + MARGIN)
            return true;
    return false;
}

/* One input's frames with their JACK times; its delivery thread writes,
 * the test reads after stop (which joins that thread). */
typedef struct capture {
    float *v;
    uint64_t *t;
    size_t n, cap;
    uint64_t gap_at[64];
    int gaps;
    uint64_t next;
} capture;

static void capture_fn(rill_audio_input *in, const void *data, size_t frames,
                       uint64_t first, void *user) {
    (void)in;
    capture *c = user;
    if (c->n > 0 && first != c->next) {
        if (c->gaps < 64)
            c->gap_at[c->gaps] = first;
        c->gaps++;
    }
    c->next = first + frames;
    const float *f = data;
    for (size_t i = 0; i < frames && c->n < c->cap; i++, c->n++) {
        c->v[c->n] = f[i];
        c->t[c->n] = first + i;
    }
}

static rill_audio_input *open_input(const char *server, const char *name,
                                    const char *connect, capture *c) {
    c->cap = 4 * RATE;
    c->v = calloc(c->cap, sizeof *c->v);
    c->t = calloc(c->cap, sizeof *c->t);
    rill_audio_config ic = rill_audio_config_default();
    ic.backend = "jack";
    ic.device = server;
    ic.name = name;
    ic.connect = connect;
    ic.channels = 1;
    ic.format = RILL_AUDIO_F32;
    rill_audio_input *in;
    ASSERT_OK(rill_audio_input_open(&ic, capture_fn, c, &in));
    return in;
}

static void capture_free(capture *c) {
    free(c->v);
    free(c->t);
}

/* When each sample frame was played: a callback source, added after the
 * sample and so run after it by the mixer on the audio thread in every
 * block, reads the block's clock stamp (origin + frames so far: both
 * refreshed before sources render) and logs it, and notes the stream frame
 * at which the sample began (the first block it took frames in; it plays
 * from there without a gap, its ring holding all of it). This keeps the
 * mapping exact across skipped cycles. */
typedef struct block_log {
    rill_audio_output *o;
    rill_audio_source *sample;
    uint64_t time[8000], first[8000];
    atomic_size_t n; /* entries below n are complete (release/acquire) */
    atomic_llong start;    /* -1 until the sample began (release/acquire) */
    uint64_t start_frames; /* written before start */
} block_log;

static void log_block(rill_audio_source *src, float *mix, size_t frames,
                      uint32_t channels, void *user) {
    (void)src;
    (void)mix;
    (void)frames;
    (void)channels;
    block_log *b = user;
    rill_audio_stats st;
    rill_audio_output_get_stats(b->o, &st);
    size_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    if (n < RILL__ARRAY_LEN(b->time)) {
        b->time[n] = st.origin + st.frames;
        b->first[n] = st.frames;
        atomic_store_explicit(&b->n, n + 1, memory_order_release);
    }
    if (atomic_load_explicit(&b->start, memory_order_relaxed) < 0) {
        rill_audio_source_stats sst;
        rill_audio_source_get_stats(b->sample, &sst);
        if (sst.frames > 0) {
            b->start_frames = sst.frames;
            atomic_store_explicit(&b->start, (long long)st.frames,
                                  memory_order_release);
        }
    }
}

/* The JACK time at which sample frame j was played. */
static long long played_at(block_log *b, long j) {
    size_t n = atomic_load_explicit(&b->n, memory_order_acquire);
    j += (long)atomic_load_explicit(&b->start, memory_order_acquire);
    size_t lo = 0, hi = n; /* first[] increases: the last entry <= j */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (b->first[mid] <= (uint64_t)j)
            lo = mid;
        else
            hi = mid;
    }
    if (n == 0 || (uint64_t)j < b->first[lo])
        FAIL("frame %ld was not played", j);
    return (long long)(b->time[lo] + ((uint64_t)j - b->first[lo]));
}

/* The relay: a plain JACK client (libjack, no rill) that copies `in` to
 * `out`, logs the JACK time of each of its cycles and counts the xruns the
 * server reports. */
typedef struct relay {
    jack_client_t *c;
    jack_port_t *in, *sync, *out;
    uint64_t cycle[8000];
    atomic_size_t n_cycles;
    atomic_size_t n_xruns;
} relay;

static int relay_process(jack_nframes_t n, void *arg) {
    relay *r = arg;
    RILL__JACK_CALLBACK_ENTER();
    memcpy(jack_port_get_buffer(r->out, n), jack_port_get_buffer(r->in, n),
           n * sizeof(float));
    size_t k = atomic_load_explicit(&r->n_cycles, memory_order_relaxed);
    if (k < RILL__ARRAY_LEN(r->cycle)) {
        r->cycle[k] = jack_last_frame_time(r->c);
        atomic_store_explicit(&r->n_cycles, k + 1, memory_order_release);
    }
    RILL__JACK_CALLBACK_LEAVE();
    return 0;
}

/* Server-wide: JACK tells every client about every xrun. */
static int relay_xrun(void *arg) {
    relay *r = arg;
    atomic_fetch_add(&r->n_xruns, 1);
    return 0;
}

static void relay_connect(relay *r, const char *from, const char *to) {
    int e = jack_connect(r->c, from, to);
    if (e != 0)
        FAIL("relay: cannot connect %s to %s (%d)", from, to, e);
}

static void relay_start(relay *r, const char *server) {
    jack_status_t st;
    r->c = jack_client_open("relay",
                            (jack_options_t)(JackNoStartServer | JackServerName),
                            &st, server);
    if (r->c == NULL)
        FAIL("relay: cannot open a JACK client (status 0x%x)", (unsigned)st);
    r->in = jack_port_register(r->c, "in", JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    r->sync = jack_port_register(r->c, "sync", JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    r->out = jack_port_register(r->c, "out", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    ASSERT_TRUE(r->in != NULL && r->sync != NULL && r->out != NULL);
    jack_set_process_callback(r->c, relay_process, r);
    jack_set_xrun_callback(r->c, relay_xrun, r);
    ASSERT_EQ_INT(jack_activate(r->c), 0);
    /* In this order: the loop relay -> loopback -> relay is closed by the
     * last connection, which jackd2 makes the feedback one. */
    relay_connect(r, "loopback:capture_1", "relay:sync");
    relay_connect(r, "rillout:out_1", "relay:in");
    relay_connect(r, "relay:out", "loopback:playback_2");
}

static jack_latency_range_t port_latency(relay *r, const char *port,
                                        jack_latency_callback_mode_t mode) {
    jack_port_t *p = jack_port_by_name(r->c, port);
    if (p == NULL)
        FAIL("no JACK port %s", port);
    jack_latency_range_t range;
    jack_port_get_latency_range(p, mode, &range);
    return range;
}

typedef enum { EXACTLY, ZERO_OR_ONE_PERIOD } expect;

/* Traces every captured frame back to the sample frame it came from (by
 * its value) and checks it is identical to it. In clean frames (far from
 * every suspect time, captured and played) the latency (input stamp -
 * output stamp) must be `want` (EXACTLY) or 0 or one period, the same
 * for every frame of a period when EXACTLY. Counts clean periods and, of
 * those, the ones one period late. */
static void trace(const char *what, const capture *c, block_log *bl,
                  const int32_t *inv, const suspects *sus, expect mode,
                  long want, size_t *periods, size_t *late) {
    size_t matched = 0, clean = 0, n_per = 0, n_late = 0, n_mixed = 0;
    long period_lat = LONG_MIN; /* of the period being read, if clean */
    for (size_t i = 0; i < c->n; i++) {
        if ((c->t[i] - c->t[0]) % PERIOD == 0)
            period_lat = LONG_MIN;
        if (c->v[i] == 0.0f)
            continue; /* before the output's first frame or after its last */
        long num = lrintf(c->v[i] * 131072.0f) - 1;
        if (num < 0 || num >= MODP || inv[num] < 0)
            FAIL("%s: captured value %.9g at JACK time %llu is not one of the "
                 "sample's", what, (double)c->v[i], (unsigned long long)c->t[i]);
        long j = inv[num];
        long long at = played_at(bl, j);
        long d = (long)((long long)c->t[i] - at);
        matched++;
        if (near_suspect(sus, c->t[i]) || near_suspect(sus, (uint64_t)at))
            continue;
        clean++;
        bool ok = mode == EXACTLY ? d == want : d == 0 || d == PERIOD;
        if (!ok)
            FAIL("%s: frame at JACK time %llu is sample frame %ld, played at "
                 "%lld: latency %ld frames, the period math says %s%ld (period "
                 "%d)", what, (unsigned long long)c->t[i], j, at, d,
                 mode == EXACTLY ? "" : "0 or ", mode == EXACTLY ? want : PERIOD,
                 PERIOD);
        if (period_lat == LONG_MIN) {
            period_lat = d;
            n_per++;
            n_late += d == PERIOD;
        } else if (d != period_lat) {
            /* The plain loopback's copy may even overlap rillout's writing
             * of the block: part of the period is 0, the rest one late. */
            if (mode == EXACTLY)
                FAIL("%s: latency changed inside a period at JACK time %llu "
                     "(%ld -> %ld)", what, (unsigned long long)c->t[i],
                     period_lat, d);
            n_mixed++;
            period_lat = d;
        }
    }
    printf("  %s: %zu frames traced, all identical to the sample's; %zu clean "
           "frames in %zu periods, %zu of them one period (%d frames) late, "
           "the rest 0%s; %d skipped cycles seen\n", what, matched, clean,
           n_per, n_late, PERIOD, n_mixed ? " (some changed inside a period)" : "",
           c->gaps);
    if (matched < L / 5)
        FAIL("%s: only %zu frames traced", what, matched);
    if (clean * 2 < matched)
        FAIL("%s: only %zu of %zu frames clean (far from skipped cycles)",
             what, clean, matched);
    *periods = n_per;
    *late = n_late;
}

TEST(output_comes_back_sample_exact_with_latency_equal_to_the_period_math) {
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, RATE, PERIOD, 2, true);

    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillout";
    oc.connect = "loopback:playback_1";
    oc.channels = 1;
    oc.format = RILL_AUDIO_F32;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&oc, &o));
    rill_audio_info info;
    rill_audio_output_get_info(o, &info);
    ASSERT_EQ_UINT(info.rate, RATE);
    ASSERT_EQ_UINT(info.buffer_frames, PERIOD);
    ASSERT_EQ_STR(info.backend, "jack");
    ASSERT_EQ_INT(info.device_format, RILL_AUDIO_F32);

    rill_audio_source *s;
    rill_audio_sample_config sc = rill_audio_sample_config_default();
    sc.ring_frames = L;
    ASSERT_OK(rill_audio_sample_create(o, &sc, &s));
    float *seq = malloc(L * sizeof *seq);
    int32_t *inv = malloc(MODP * sizeof *inv);
    for (size_t k = 0; k < MODP; k++)
        inv[k] = -1;
    for (size_t j = 0; j < L; j++) {
        seq[j] = seq_value(j);
        inv[(j * 7919u) % MODP] = (int32_t)j;
    }
    ASSERT_OK(rill_audio_sample_write(s, seq, L * sizeof *seq, 0, NULL));
    ASSERT_OK(rill_audio_output_add(o, s));
    static block_log bl;
    bl.o = o;
    bl.sample = s;
    atomic_store(&bl.start, -1);
    atomic_store(&bl.n, 0);
    rill_audio_source *logger;
    ASSERT_OK(rill_audio_callback_source_create(o, log_block, &bl, &logger));
    ASSERT_OK(rill_audio_output_add(o, logger));
    ASSERT_OK(rill_audio_source_play(logger));
    ASSERT_OK(rill_audio_output_start(o));

    static relay r;
    atomic_store(&r.n_cycles, 0);
    atomic_store(&r.n_xruns, 0);
    relay_start(&r, server);
    capture direct = {0}, loop = {0}, relayed = {0};
    rill_audio_input *in_direct =
        open_input(server, "rillin_direct", "rillout:out_1", &direct);
    rill_audio_input *in_loop =
        open_input(server, "rillin_loop", "loopback:capture_1", &loop);
    rill_audio_input *in_relay =
        open_input(server, "rillin_relay", "loopback:capture_2", &relayed);
    ASSERT_OK(rill_audio_input_start(in_direct));
    ASSERT_OK(rill_audio_input_start(in_loop));
    ASSERT_OK(rill_audio_input_start(in_relay));
    /* Everything is connected: the sample starts. It lasts 1 s: wait until
     * it has all been played (at most 10 s on a loaded machine), then a
     * little more. */
    ASSERT_OK(rill_audio_source_play(s));
    for (int i = 0; i < 1000; i++) {
        rill_audio_source_stats sst;
        rill_audio_source_get_stats(s, &sst);
        if (sst.frames >= L)
            break;
        rill__sleep_ns(10000000u);
    }
    rill__sleep_ns(100000000u);
    ASSERT_OK(rill_audio_input_stop(in_direct));
    ASSERT_OK(rill_audio_input_stop(in_loop));
    ASSERT_OK(rill_audio_input_stop(in_relay));
    /* JACK's figures, now that it has had time to work them out. */
    jack_latency_range_t lb_play =
        port_latency(&r, "loopback:playback_1", JackPlaybackLatency);
    jack_latency_range_t lb_cap =
        port_latency(&r, "loopback:capture_1", JackCaptureLatency);
    jack_latency_range_t out_play =
        port_latency(&r, "rillout:out_1", JackPlaybackLatency);
    ASSERT_EQ_INT(jack_deactivate(r.c), 0);
    ASSERT_OK(rill_audio_output_stop(o));
    rill_audio_stats ost, ist;
    rill_audio_output_get_stats(o, &ost);
    rill_audio_input_get_stats(in_loop, &ist);
    ASSERT_TRUE(ost.started);
    ASSERT_EQ_UINT(ist.dropped, 0);

    /* Where the period math may not hold. */
    suspects sus = {{0}, 0};
    const capture *caps[3] = {&direct, &loop, &relayed};
    for (int k = 0; k < 3; k++)
        for (int g = 0; g < caps[k]->gaps && g < 64; g++)
            suspect(&sus, caps[k]->gap_at[g]);
    size_t nb = atomic_load_explicit(&bl.n, memory_order_acquire);
    for (size_t k = 1; k < nb; k++)
        if (bl.time[k] - bl.time[k - 1] != bl.first[k] - bl.first[k - 1])
            suspect(&sus, bl.time[k]);
    size_t nc = atomic_load_explicit(&r.n_cycles, memory_order_acquire);
    for (size_t k = 1; k < nc; k++)
        if (r.cycle[k] != r.cycle[k - 1] + PERIOD)
            suspect(&sus, r.cycle[k]);
    size_t nx = atomic_load(&r.n_xruns);
    /* The sample began at a block's first frame (the logger ran after it
     * in that block). */
    ASSERT_TRUE(atomic_load(&bl.start) >= 0);
    ASSERT_TRUE(bl.start_frames <= PERIOD);

    size_t periods, late;
    trace("direct", &direct, &bl, inv, &sus, EXACTLY, 0, &periods, &late);
    trace("relayed loopback", &relayed, &bl, inv, &sus, EXACTLY, PERIOD,
          &periods, &late);
    trace("plain loopback", &loop, &bl, inv, &sus, ZERO_OR_ONE_PERIOD, 0,
          &periods, &late);
    printf("  JACK's figures: loopback:playback_1 playback latency %u..%u, "
           "loopback:capture_1 capture latency %u..%u, rillout:out_1 playback "
           "latency %u..%u (rill_audio_info: output %u); %zu xruns reported, "
           "%zu suspect times\n", lb_play.min, lb_play.max, lb_cap.min,
           lb_cap.max, out_play.min, out_play.max, info.latency_frames, nx,
           sus.n);
    /* JACK agrees. In sync mode (-S) a playback port of the loopback has one
     * period of latency, and rillout:out_1's range spans its two paths: 0
     * to a client of the same cycle (direct), one period to the loopback,
     * as measured. The loopback's capture ports claim a period too, as a
     * sound card's input would; its copy adds nothing there (the relayed
     * path measured one period in all), so the sum of the two figures would
     * overstate this round trip by a period. */
    ASSERT_TRUE(lb_play.min == PERIOD && lb_play.max == PERIOD);
    ASSERT_TRUE(out_play.min == 0 && out_play.max == PERIOD);
    ASSERT_TRUE(lb_cap.min == PERIOD && lb_cap.max == PERIOD);

    rill_audio_input_close(in_direct);
    rill_audio_input_close(in_loop);
    rill_audio_input_close(in_relay);
    jack_client_close(r.c);
    rill_audio_source_destroy(s);
    rill_audio_source_destroy(logger);
    rill_audio_output_close(o);
    au_jackd_stop(jackd);
    capture_free(&direct);
    capture_free(&loop);
    capture_free(&relayed);
    free(seq);
    free(inv);
}

static void add_name(const char *name, void *user) {
    char *buf = user;
    strncat(buf, name, 4000 - strlen(buf));
    strncat(buf, "\n", 4000 - strlen(buf));
}

TEST(input_sources_are_the_servers_output_ports) {
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, RATE, PERIOD, 1, true);
    static char names[4096];
    names[0] = '\0';
    ASSERT_OK(rill_audio_list_inputs("jack", server, add_name, names));
    au_jackd_stop(jackd);
    ASSERT_TRUE(strstr(names, "system:capture_1\n") != NULL);
    ASSERT_TRUE(strstr(names, "loopback:capture_1\n") != NULL);
    ASSERT_TRUE(strstr(names, "playback") == NULL);
    names[0] = '\0';
    ASSERT_ERR(rill_audio_list_inputs("jack", server, add_name, names),
               RILL_EREFUSED);
}

/* A client JACK refuses: the error carries JACK's own reason. */
TEST(a_client_jack_refuses_is_refused_with_jacks_own_reason) {
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, RATE, PERIOD, 0, false);
    char name[100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = name; /* longer than jack_client_name_size(), 64 */
    oc.connect = "";
    char why[512] = "";
    oc.err = why;
    oc.err_size = sizeof why;
    rill_audio_output *o = NULL;
    int rc = rill_audio_output_open(&oc, &o);
    au_jackd_stop(jackd);
    ASSERT_ERR(rc, RILL_EIO);
    /* JACK's status bits (0x21, "communication error") alone would not
     * say what to change; its own sentence does, on one line. */
    ASSERT_TRUE(strstr(why, "cannot open a client (status 0x") != NULL);
    ASSERT_TRUE(strstr(why, "is too long to be used as a JACK client name. Please use") !=
                NULL);
    ASSERT_TRUE(strchr(why, '\n') == NULL);
}
