/* The jack backend against a real JACK server: `jackd --no-realtime -d
 * dummy` started here under a unique name (-n), with one loopback port
 * pair (-L 1), and killed at the end.
 *
 * A rill output plays a sample of distinct values; two rill inputs capture
 * it, one connected straight to the output's port and one through JACK's
 * loopback driver. Every block is stamped with JACK's frame clock, which
 * all clients of a server share, so each captured frame can be traced to
 * the frame of the sample it came from: the values must be identical, and
 * the difference of the stamps is the latency. */
#include <pthread.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

enum { RATE = 48000, PERIOD = 256, L = 48000, MODP = 65521 };

/* Distinct, non-zero, exactly representable: ((j * 7919) mod 65521 + 1)
 * / 2^17. 7919 is invertible mod the prime 65521. */
static float seq_value(size_t j) {
    return (float)((j * 7919u) % MODP + 1) / 131072.0f;
}

typedef struct capture {
    float *v;
    uint64_t *t;
    uint8_t *near_gap; /* in a block at or just after a skipped cycle */
    int since_gap;
    size_t n, cap;
    int gaps;
    uint64_t next;
} capture;

static void capture_fn(rill_audio_input *in, const void *data, size_t frames,
                       uint64_t first, void *user) {
    (void)in;
    capture *c = user;
    if (c->n > 0 && first != c->next) {
        c->gaps++;
        c->since_gap = 0;
    }
    c->next = first + frames;
    const float *f = data;
    for (size_t i = 0; i < frames && c->n < c->cap; i++, c->n++) {
        c->v[c->n] = f[i];
        c->t[c->n] = first + i;
        c->near_gap[c->n] = c->gaps > 0 && c->since_gap < 3;
    }
    c->since_gap++;
}

static rill_audio_input *open_input(const char *server, const char *name,
                                    const char *connect, capture *c) {
    c->cap = 4 * RATE;
    c->v = calloc(c->cap, sizeof *c->v);
    c->t = calloc(c->cap, sizeof *c->t);
    c->near_gap = calloc(c->cap, 1);
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

/* When each output frame was played: a callback source, run by the mixer
 * on the audio thread in every block, reads the block's clock stamp
 * (origin + frames so far: both refreshed before sources render) and logs
 * it. JACK may skip whole cycles on a loaded machine (the server is not
 * real-time here); this table keeps the mapping exact across them. */
typedef struct block_log {
    rill_audio_output *o;
    uint64_t time[2000], first[2000];
    atomic_size_t n; /* entries below n are complete (release/acquire) */
} block_log;

static void log_block(float *mix, size_t frames, uint32_t channels, void *user) {
    (void)mix;
    (void)frames;
    (void)channels;
    block_log *b = user;
    rill_audio_stats st;
    rill_audio_output_stats(b->o, &st);
    size_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    if (n < 2000) {
        b->time[n] = st.origin + st.frames;
        b->first[n] = st.frames;
        atomic_store_explicit(&b->n, n + 1, memory_order_release);
    }
}

/* The JACK time at which output frame j was played. */
static long long played_at(block_log *b, long j) {
    size_t n = atomic_load_explicit(&b->n, memory_order_acquire);
    for (size_t k = 0; k < n; k++)
        if ((uint64_t)j >= b->first[k] &&
            (k + 1 == n || (uint64_t)j < b->first[k + 1]))
            return (long long)(b->time[k] + ((uint64_t)j - b->first[k]));
    FAIL("frame %ld was not played", j);
}

/* Traces every captured frame back to the sample frame it came from (by
 * its value) and checks it is identical to it. Returns the latency (input
 * stamp - output stamp) in frames when it is the same for every frame,
 * else -1; `blocks_late` counts the periods whose latency was one period. */
static long trace(const char *what, const capture *c, block_log *bl,
                  const int32_t *inv, bool strict, size_t *blocks_late,
                  size_t *blocks) {
    long lat = LONG_MIN;
    bool same = true;
    size_t matched = 0, near = 0;
    *blocks_late = *blocks = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i] == 0.0f)
            continue; /* before the output's first frame or after its last */
        long num = lrintf(c->v[i] * 131072.0f) - 1;
        if (num < 0 || num >= MODP || inv[num] < 0)
            FAIL("%s: captured value %.9g at JACK time %llu is not one of the "
                 "sample's", what, (double)c->v[i], (unsigned long long)c->t[i]);
        long j = inv[num];
        long d = (long)((long long)c->t[i] - played_at(bl, j));
        matched++;
        if (c->near_gap[i] || (!strict && (d < 0 || d % PERIOD != 0))) {
            near++;
            continue; /* the server skipped cycles here: order not defined */
        }
        if (d < 0 || d % PERIOD != 0)
            FAIL("%s: frame at JACK time %llu is sample frame %ld: latency "
                 "%ld frames, not a whole number of periods", what,
                 (unsigned long long)c->t[i], j, d);
        if (i % PERIOD == 0 || lat == LONG_MIN) {
            (*blocks)++;
            *blocks_late += d == PERIOD;
        }
        if (lat == LONG_MIN)
            lat = d;
        else if (d != lat)
            same = false;
        /* Within a period the latency cannot change. */
        if (i % PERIOD != 0 && i > 0 && c->v[i - 1] != 0.0f) {
            long pn = lrintf(c->v[i - 1] * 131072.0f) - 1;
            long pd = (long)((long long)c->t[i - 1] - played_at(bl, inv[pn]));
            if (pd != d && strict)
                FAIL("%s: latency changed inside a period at JACK time %llu "
                     "(%ld -> %ld)", what, (unsigned long long)c->t[i], pd, d);
        }
    }
    printf("  %s: %zu frames traced, all identical; latency %s%ld frames "
           "(%zu of %zu periods one period late); %d skipped cycles, %zu frames "
           "left out next to them or at other latencies\n", what, matched, same ? "" : "varies, first ", lat,
           *blocks_late, *blocks, c->gaps, near);
    if (matched < L / 5) /* a loaded machine skips cycles */
        FAIL("%s: only %zu frames traced", what, matched);
    return same ? lat : -1;
}

TEST(output_comes_back_sample_exact_with_latency_in_whole_periods) {
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, RATE, PERIOD, 1, true);

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
    rill_audio_output_info(o, &info);
    ASSERT_EQ_UINT(info.rate, RATE);
    ASSERT_EQ_UINT(info.buffer_frames, PERIOD);
    ASSERT_EQ_STR(info.backend, "jack");

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
    ASSERT_OK(rill_audio_source_play(s));
    static block_log bl;
    bl.o = o;
    atomic_store(&bl.n, 0);
    rill_audio_source *logger;
    ASSERT_OK(rill_audio_callback_source_create(o, log_block, &bl, &logger));
    ASSERT_OK(rill_audio_output_add(o, logger));
    ASSERT_OK(rill_audio_source_play(logger));
    ASSERT_OK(rill_audio_output_start(o));

    capture direct = {0}, loop = {0};
    rill_audio_input *in_direct =
        open_input(server, "rillin_direct", "rillout:out_1", &direct);
    rill_audio_input *in_loop =
        open_input(server, "rillin_loop", "loopback:capture_1", &loop);
    ASSERT_OK(rill_audio_input_start(in_direct));
    ASSERT_OK(rill_audio_input_start(in_loop));
    /* The sample lasts 1 s: wait until it has all been played (at most
     * 10 s on a loaded machine), then one more period. */
    for (int i = 0; i < 1000; i++) {
        rill_audio_sample_stats sst;
        rill_audio_source_stats(s, &sst);
        if (sst.frames >= L)
            break;
        rill__audio_sleep_ns(10000000u);
    }
    rill__audio_sleep_ns(100000000u);
    ASSERT_OK(rill_audio_input_stop(in_direct));
    ASSERT_OK(rill_audio_input_stop(in_loop));
    rill_audio_stats ost, ist;
    rill_audio_output_stats(o, &ost);
    rill_audio_input_stats(in_loop, &ist);
    ASSERT_TRUE(ost.started);
    ASSERT_EQ_UINT(ist.dropped, 0);

    /* Played in JACK cycle k, a direct connection delivers in the same
     * cycle: JACK orders the graph by its connections, so the output's
     * client runs before the input's, and the latency is 0 frames in every
     * period (strict: any other value fails). Through jackd2's loopback
     * driver what the output gave in cycle k comes out in cycle k + 1, the
     * period math -- or in cycle k when jackd2 happens to run the loopback
     * copy between our two clients (it is not ordered with them); when the
     * non-real-time server skips or shifts cycles under load it can be
     * anything. So there every captured frame must still be one of the
     * sample's, and at least some periods must show exactly one period. */
    size_t late, nb;
    long lat_direct = trace("direct", &direct, &bl, inv, true, &late, &nb);
    ASSERT_EQ_INT(lat_direct, 0);
    ASSERT_EQ_UINT(late, 0);
    trace("loopback", &loop, &bl, inv, false, &late, &nb);
    ASSERT_TRUE(late > 0);
    rill_audio_info linfo;
    rill_audio_input_info(in_loop, &linfo);
    printf("  JACK period %u frames; JACK's reported latency: output port "
           "%u, loopback input port %u; output xruns %llu\n", PERIOD,
           info.latency_frames, linfo.latency_frames,
           (unsigned long long)ost.xruns);

    rill_audio_input_close(in_direct);
    rill_audio_input_close(in_loop);
    rill_audio_source_destroy(s);
    rill_audio_source_destroy(logger);
    rill_audio_output_close(o);
    au_jackd_stop(jackd);
    free(direct.v);
    free(direct.t);
    free(direct.near_gap);
    free(loop.near_gap);
    free(loop.v);
    free(loop.t);
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
