/* The parts of src/nats/ that need no server: subjects, the Rill header,
 * and the tick -> clock fit (timefit.c) against lines with known answers. */
#include <math.h>
#include <string.h>

#include "nats/common.h"
#include "nats/timefit.h"
#include "test.h"

TEST(subjects_escape_what_is_not_a_token_and_read_back) {
    char s[128], back[64];
    ASSERT_EQ_INT(rill__nats_subject("rill", "board1", "mic 1.x", s, sizeof s), 0);
    ASSERT_EQ_STR(s, "rill.board1.mic%201%2Ex");
    ASSERT_EQ_INT(rill__nats_unescape("mic%201%2Ex", back, sizeof back), 0);
    ASSERT_EQ_STR(back, "mic 1.x");
    ASSERT_EQ_INT(rill__nats_unescape("bad%2", back, sizeof back), RILL_EINVAL);
    ASSERT_TRUE(rill__nats_name_ok("board-1_a"));
    ASSERT_TRUE(!rill__nats_name_ok("a.b"));
    ASSERT_TRUE(!rill__nats_name_ok(""));
}

TEST(clock_header_round_trips) {
    rill_clock_map m = {123456789, 1733450000123456789LL, 22675.73696, 812, 40}, r;
    char text[160];
    rill__clock_format(&m, text, sizeof text);
    ASSERT_TRUE(rill__clock_parse(text, &r));
    ASSERT_EQ_UINT(r.tick0, m.tick0);
    ASSERT_TRUE(r.ns0 == m.ns0);
    ASSERT_EQ_DOUBLE(r.ns_per_tick, m.ns_per_tick, 1e-6);
    ASSERT_EQ_INT(rill_clock_map_ns(&r, m.tick0 + 44100) - m.ns0, 1000000000);
    ASSERT_TRUE(!rill__clock_parse("1 2 x", &r));
}

TEST(rill_header_carries_run_type_mode_rate_and_clock_and_reads_back) {
    rill_clock_map m = {123456789, 1733450000123456789LL, 22675.73696, 812, 40}, r;
    char clock[160], text[RILL__NATS_META_MAX];
    rill__clock_format(&m, clock, sizeof clock);
    size_t n = rill__nats_meta_write(text, "0123456789abcdef", 'f', true,
                                     "44100", clock);
    ASSERT_EQ_UINT(n, strlen(text));
    rill__nats_meta got;
    ASSERT_TRUE(rill__nats_meta_parse(text, &got));
    ASSERT_EQ_STR(got.run, "0123456789abcdef");
    ASSERT_TRUE(got.type == 'f');
    ASSERT_TRUE(got.sparse);
    ASSERT_EQ_DOUBLE(got.rate, 44100, 0);
    ASSERT_EQ_STR(got.clock, clock);
    ASSERT_TRUE(rill__clock_parse(got.clock, &r));
    ASSERT_EQ_UINT(r.tick0, m.tick0);
    rill__nats_meta_write(text, "0123456789abcdef", 'i', false, "48000", clock);
    ASSERT_TRUE(rill__nats_meta_parse(text, &got) && !got.sparse && got.type == 'i');
    /* Not a Rill header: each a clear false, nothing read past the text. */
    ASSERT_TRUE(!rill__nats_meta_parse("0123456789abcde f dense 1 x", &got));
    ASSERT_TRUE(!rill__nats_meta_parse("0123456789abcdef f loud 1 x", &got));
    ASSERT_TRUE(!rill__nats_meta_parse("0123456789abcdef f dense -1 x", &got));
    ASSERT_TRUE(!rill__nats_meta_parse("0123456789abcdef", &got));
    ASSERT_TRUE(!rill__nats_meta_parse("", &got));
}

/* A device at 48 kHz whose clock runs 50 ppm fast, probed every 250 ms
 * with round trips of 100-400 us (the asymmetric part is the error each
 * probe has), its ticks sometimes late by up to 2 ms: the fit finds the
 * line within a few microseconds. */
TEST(timefit_finds_rate_and_offset_through_late_ticks_and_slow_probes) {
    rill__timefit f;
    rill__timefit_init(&f, 48000);
    double ns_per_tick = 1e9 / 48000 * (1 + 50e-6);
    int64_t base = 5000000000LL;
    uint64_t rng = 88172645463325252ULL;
    for (int burst = 0; burst < 120; burst++) {
        for (int k = 0; k < 4; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            uint64_t tick = 1000 + (uint64_t)burst * 12000 + (uint64_t)k * 64;
            int64_t late = (rng % 4 == 0) ? (int64_t)(rng % 2000000) : 0;
            int64_t tick_ns = base + (int64_t)llround((double)tick * ns_per_tick) + late;
            int64_t rtt = 100000 + (int64_t)((rng >> 8) % 300000);
            int64_t t0 = tick_ns - 1000000;          /* device clock = host clock */
            int64_t t1 = t0 + rtt / 2, t2 = t1 + 10000, t3 = t2 + rtt / 2;
            rill__timefit_probe(&f, tick, tick_ns, t0, t1, t2, t3);
        }
        rill__timefit_burst_end(&f);
    }
    uint64_t t = 1000 + 119 * 12000;
    double truth = (double)base + (double)t * ns_per_tick;
    double got = (double)rill_clock_map_ns(&f.map, t);
    ASSERT_TRUE(f.map.points >= 10);
    ASSERT_EQ_DOUBLE(f.map.ns_per_tick, ns_per_tick, ns_per_tick * 2e-6);
    ASSERT_EQ_DOUBLE(got, truth, 20000.0);
}

/* Another host whose clock is 3 s behind the device's and drifts 20 ppm,
 * reached through a link of 20 ms +- 10 ms each way (the two directions
 * independent, so one exchange's offset is off by up to 10 ms), the
 * device's ticks late by up to 2 ms a quarter of the time: after 30 s the
 * line is within 1 ms of the truth, where the latest exchange alone is
 * off by ms. */
TEST(timefit_keeps_offset_jitter_and_tick_lateness_apart) {
    rill__timefit f;
    rill__timefit_init(&f, 44100);
    double ns_per_tick = 1e9 / 44100 * (1 - 30e-6); /* device clock per tick */
    int64_t dev_base = 7000000000LL;
    double drift = 20e-6, off0 = 3e9; /* device - host, ns */
    uint64_t rng = 2463534242ULL;
#define NEXT() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    uint64_t tick = 0;
    for (int burst = 0; burst < 120; burst++) {
        for (int k = 0; k < 4; k++) {
            tick = (uint64_t)burst * 11025 + (uint64_t)k * 128 + 64;
            int64_t late = NEXT() % 4 == 0 ? (int64_t)(NEXT() % 2000000) : 0;
            int64_t tick_ns = dev_base + (int64_t)llround((double)tick * ns_per_tick) + late;
            /* The exchange around that moment, on both clocks. */
            double host_now = (double)tick_ns - off0;
            double off = off0 + drift * (host_now - 7e9);
            int64_t up = 10000000 + (int64_t)(NEXT() % 20000000);
            int64_t down = 10000000 + (int64_t)(NEXT() % 20000000);
            int64_t t0 = (int64_t)host_now;
            int64_t t1 = (int64_t)((double)(t0 + up) + off);
            int64_t t2 = t1 + 20000;
            int64_t t3 = (int64_t)((double)t2 - off) + down;
            rill__timefit_probe(&f, tick, tick_ns, t0, t1, t2, t3);
        }
        rill__timefit_burst_end(&f);
    }
    /* The truth for the last tick: its device time (on time), on the host. */
    double dev_t = (double)dev_base + (double)tick * ns_per_tick;
    double host_t = dev_t - (off0 + drift * (dev_t - off0 - 7e9));
    double got = (double)rill_clock_map_ns(&f.map, tick);
    ASSERT_TRUE(f.map.points >= 10);
    ASSERT_EQ_DOUBLE(got, host_t, 1e6);
}
