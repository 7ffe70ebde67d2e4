/* The alsa backend without a sound card.
 *
 * ALSA's "null" PCM (alsa-lib's standard configuration) opens, plays and
 * captures without error, on the monotonic clock, also when wrapped.
 *
 * ALSA's "jack" PCM (libasound2-plugins) on a private `jackd --no-realtime
 * -d dummy` is a device paced by a real clock, so a rill audio thread that
 * stalls longer than the device buffer makes a real xrun: snd_pcm_writei
 * and snd_pcm_readi return -EPIPE. A JACK client of the test's own (the
 * probe) stands on the other side of the PCM's ports and stamps every
 * frame with JACK's frame clock, which tells how many frames the device
 * really went through during the gap, to compare with the stream's stamps.
 * These cases skip (exit 77) if jackd or the plugin is missing, as this
 * machine's files say (PATH, ALSA's configuration), never as the backend
 * says: a backend that stopped finding the PCM must fail, not skip.
 */
#include <alsa/asoundlib.h>
#include <jack/jack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

typedef struct got {
    size_t frames;
    int calls, gaps;
    uint64_t next;
    bool all_zero;
} got;

static void on_block(rill_audio_input *in, const void *data, size_t frames,
                     uint64_t first, void *user) {
    (void)in;
    got *g = user;
    if (g->calls > 0 && first != g->next)
        g->gaps++;
    g->next = first + frames;
    const int16_t *s = data;
    for (size_t i = 0; i < frames * 2; i++)
        if (s[i] != 0)
            g->all_zero = false;
    g->frames += frames;
    g->calls++;
}

static char logged[512];
static void log_fn(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= RILL_LOG_WARN)
        snprintf(logged, sizeof logged, "%s", msg);
}

TEST(null_device_opens_plays_and_captures_without_error) {
    rill_set_log_callback(log_fn, RILL_LOG_WARN, NULL);
    rill_audio_config c = rill_audio_config_default();
    c.backend = "alsa";
    c.device = "null";
    c.rate = 48000;
    c.channels = 2;
    c.buffer_frames = 480;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&c, &o));
    rill_audio_info info;
    rill_audio_output_get_info(o, &info);
    ASSERT_EQ_STR(info.backend, "alsa");
    ASSERT_EQ_STR(info.device, "null");
    ASSERT_EQ_UINT(info.rate, 48000);
    ASSERT_EQ_UINT(info.channels, 2);
    ASSERT_EQ_INT(info.device_format, info.format); /* null takes any */
    printf("  null output: period %u frames, buffer %u frames\n",
           info.buffer_frames, info.latency_frames);
    rill_audio_source *sine;
    ASSERT_OK(rill_audio_sine_create(o, 440, 0.5, &sine));
    ASSERT_OK(rill_audio_output_add(o, sine));
    ASSERT_OK(rill_audio_source_play(sine));

    got g = {0, 0, 0, 0, true};
    rill_audio_input *in;
    ASSERT_OK(rill_audio_input_open(&c, on_block, &g, &in));
    rill_audio_input_get_info(in, &info);
    ASSERT_EQ_STR(info.backend, "alsa");

    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_input_start(in));
    rill__sleep_ns(300000000u);
    ASSERT_OK(rill_audio_input_stop(in));
    ASSERT_OK(rill_audio_output_stop(o));
    double secs = (double)(rill_clock_now_ns() - t0) / 1e9;

    rill_audio_stats ost, ist;
    rill_audio_output_get_stats(o, &ost);
    rill_audio_input_get_stats(in, &ist);
    printf("  %.3f s: played %llu frames, captured %llu frames in %d blocks; "
           "xruns %llu/%llu\n", secs, (unsigned long long)ost.frames,
           (unsigned long long)g.frames, g.calls, (unsigned long long)ost.xruns,
           (unsigned long long)ist.xruns);
    ASSERT_TRUE(!ost.failed && !ist.failed);
    /* Paced by the clock (null itself does not block): each stream ran
     * for at least the 0.3 s slept and at most `secs`, and may be one
     * device buffer ahead. */
    double lo = 0.3 * 48000 * 0.7, hi = secs * 48000 + 2 * 960 + 4800;
    ASSERT_TRUE((double)ost.frames > lo && (double)ost.frames < hi);
    ASSERT_TRUE((double)g.frames > lo && (double)g.frames < hi);
    ASSERT_EQ_UINT(g.frames, ist.frames);
    ASSERT_EQ_INT(g.gaps, 0);
    ASSERT_TRUE(g.all_zero); /* null captures silence */
    ASSERT_EQ_STR(logged, "");
    rill_audio_input_close(in);
    rill_audio_source_destroy(sine);
    rill_audio_output_close(o);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
}

static void add_name(const char *name, void *user) {
    if (strcmp(name, "null") == 0)
        *(bool *)user = true;
}

TEST(input_sources_include_the_null_pcm) {
    bool found = false;
    ASSERT_OK(rill_audio_list_inputs("alsa", NULL, add_name, &found));
    ASSERT_TRUE(found);
    ASSERT_ERR(rill_audio_list_inputs("nope", NULL, add_name, &found),
               RILL_ENOTFOUND);
}

/* Pacing by the clock is decided from the PCM chain, not the name: null
 * under a plug or file plugin does not block either, and without the
 * clock it would run as fast as the CPU allows. */
TEST(wrapped_null_pcm_is_paced_by_the_clock) {
    const char *names[] = {"plug:null", "file:'/dev/null',raw"};
    for (size_t k = 0; k < RILL__ARRAY_LEN(names); k++) {
        rill_audio_config c = rill_audio_config_default();
        c.backend = "alsa";
        c.device = names[k];
        c.rate = 48000;
        c.buffer_frames = 480;
        rill_audio_output *o;
        ASSERT_OK(rill_audio_output_open(&c, &o));
        rill_audio_info info;
        rill_audio_output_get_info(o, &info);
        uint64_t t0 = rill_clock_now_ns();
        ASSERT_OK(rill_audio_output_start(o));
        rill__sleep_ns(200000000u);
        rill_audio_stats st;
        for (int i = 0; i < 500; i++) { /* a loaded machine starts late */
            rill_audio_output_get_stats(o, &st);
            if (st.frames >= 0.1 * 48000)
                break;
            rill__sleep_ns(10000000u);
        }
        ASSERT_OK(rill_audio_output_stop(o));
        double secs = (double)(rill_clock_now_ns() - t0) / 1e9;
        rill_audio_output_get_stats(o, &st);
        printf("  %s: %.3f s, %llu frames (the clock allows %.0f + a buffer of "
               "%u)\n",
               names[k], secs, (unsigned long long)st.frames, secs * 48000,
               info.latency_frames);
        ASSERT_TRUE(!st.failed);
        ASSERT_TRUE(st.frames >= 0.1 * 48000);
        ASSERT_TRUE((double)st.frames < secs * 48000 +
                                            2.0 * info.latency_frames +
                                            info.buffer_frames);
        rill_audio_output_close(o);
    }
}

/* ---- Real xruns on the "jack" PCM ---------------------------------------- */

/* The jack PCM and the probe are JACK clients in this process: the
 * sanitizer defaults for them are in sanitize_jack.c. */

enum { RATE = 48000, PERIOD = 256, STALL_MS = 100 };
/* Stamps travel as floats k / 2^24, exact for k < 2^24 (349 s at 48 kHz);
 * 0 is silence, so frame k carries k + 1. */
#define STAMP_ONE (1.0f / 16777216.0f)
/* How far the stream's stamps may be from the device's frames across one
 * xrun. The estimate is made on the monotonic clock while JACK moves in
 * whole periods: the restart lands in the next cycle, up to a period
 * late, and the device's position before the stall is known to within a
 * cycle. Two periods for that plus one for scheduling. Without the
 * estimate the error would be the whole gap, ~STALL_MS * 48 frames. */
enum { TOLERANCE = 3 * PERIOD };
/* A loaded machine (or ThreadSanitizer) can add an xrun of its own near
 * the stall, with its own error, or make JACK itself late, which takes
 * away the reference: the stall is made again, up to this many times,
 * until it is the only xrun in its window, JACK's included. */
enum { ATTEMPTS = 5 };

/* Exits with 77, which ctest counts as a skip (SKIP_RETURN_CODE). */
#define SKIP(...)                                                              \
    do {                                                                       \
        printf("SKIP: ");                                                      \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
        fflush(stdout);                                                        \
        exit(77);                                                              \
    } while (0)

static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    char dir[512], file[600];
    while (path != NULL && *path != '\0') {
        size_t len = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)len, path);
        snprintf(file, sizeof file, "%s/%s", len ? dir : ".", prog);
        if (access(file, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

static pid_t jackd_pid;

/* Stops the server, as the server-dies case does mid-run (au_jackd_stop
 * also removes what its clients leave in /dev/shm: the jack PCM's client
 * has this process's pid in its name, so they would pile up). */
static void stop_jackd(void) {
    au_jackd_stop(jackd_pid);
    jackd_pid = 0;
}

/* `jackd --no-realtime -n <name> -d dummy -r 48000 -p 256` under a fixed
 * name: jackd2 reclaims a dead server's registry entry only when a server
 * of the same name starts, so a test killed mid-run leaves nothing that
 * piles up. Each case has its own name, so `ctest -j` can run them side
 * by side. Not -S: on a loaded machine a synchronous server was seen to
 * stop running the PCM's client for good, which left the stream waiting
 * (it now fails after 2 s; see the server-dies case). The server dies
 * with this process and is stopped at exit; $JACK_DEFAULT_SERVER points
 * the jack PCM at it. */
static void start_jackd(const char *name) {
    jackd_pid = au_jackd_start_named(name, 48000, 256, 0, false);
    setenv("JACK_DEFAULT_SERVER", name, 1);
}

/* The test's own JACK client on the far side of the jack PCM's first
 * channel. Playback: it reads what the PCM played and cuts it into
 * segments of frames whose stamp differs from JACK's frame time by the
 * same offset (a segment ends at silence or a jump). Capture: it writes
 * JACK's frame time as the stamp of every frame. Fields shared with the
 * test thread are atomics: libjack orders its threads with futexes that
 * ThreadSanitizer cannot see. */
typedef struct segment {
    atomic_int_least64_t
        start;                /* JACK frame (from `base`) of its first frame */
    atomic_int_least64_t off; /* JACK frame - stamp, for all its frames */
    atomic_int_least64_t len;
} segment;

typedef struct probe {
    jack_client_t *client;
    jack_port_t *port;
    bool writes;
    jack_nframes_t base;
    segment seg[2048];
    atomic_size_t n_seg;
    atomic_bool seen; /* a stamp came through */
    atomic_uint jack_xruns; /* late cycles: JACK's clock lost time */
    /* The process thread's own. */
    bool open;
    int64_t off;
} probe;

static int probe_process(jack_nframes_t n, void *arg) {
    probe *p = arg;
    int64_t t = (int64_t)(uint32_t)(jack_last_frame_time(p->client) - p->base);
    float *buf = jack_port_get_buffer(p->port, n);
    if (p->writes) {
        for (jack_nframes_t i = 0; i < n; i++)
            buf[i] = (float)(t + i + 1) * STAMP_ONE;
        return 0;
    }
    for (jack_nframes_t i = 0; i < n; i++) {
        if (buf[i] == 0.0f) {
            p->open = false;
            continue;
        }
        int64_t off = t + i - ((int64_t)(buf[i] * 16777216.0f) - 1);
        size_t k = atomic_load_explicit(&p->n_seg, memory_order_relaxed);
        if (p->open && off == p->off) {
            atomic_fetch_add_explicit(&p->seg[k - 1].len, 1,
                                      memory_order_relaxed);
        } else if (k < RILL__ARRAY_LEN(p->seg)) {
            atomic_store_explicit(&p->seg[k].start, t + i,
                                  memory_order_relaxed);
            atomic_store_explicit(&p->seg[k].off, off, memory_order_relaxed);
            atomic_store_explicit(&p->seg[k].len, 1, memory_order_relaxed);
            atomic_store_explicit(&p->n_seg, k + 1, memory_order_release);
            p->open = true;
            p->off = off;
        } else {
            p->open = false; /* full: the rest is not recorded */
        }
        atomic_store_explicit(&p->seen, true, memory_order_relaxed);
    }
    return 0;
}

/* JACK's dummy driver, woken late, drops the cycles it missed from its
 * frame clock (JackTimedDriver re-anchors), and a late client loses its
 * cycle: either way JACK's clock no longer tells device time, and the
 * server reports an xrun to every client. */
static int probe_xrun(void *arg) {
    probe *p = arg;
    atomic_fetch_add(&p->jack_xruns, 1);
    return 0;
}

static void probe_open(probe *p, bool writes) {
    memset(p, 0, sizeof *p);
    p->writes = writes;
    jack_status_t st;
    p->client = jack_client_open("rill-alsa-probe", JackNoStartServer, &st);
    if (p->client == NULL)
        FAIL("cannot open the probe's JACK client (status 0x%x)", (unsigned)st);
    p->port = jack_port_register(
        p->client, writes ? "out" : "in", JACK_DEFAULT_AUDIO_TYPE,
        writes ? JackPortIsOutput : JackPortIsInput, 0);
    ASSERT_NOT_NULL(p->port);
    p->base = jack_frame_time(p->client);
    jack_set_process_callback(p->client, probe_process, p);
    jack_set_xrun_callback(p->client, probe_xrun, p);
    ASSERT_EQ_INT(jack_activate(p->client), 0);
}

/* The jack PCM connects its first channel to system_port when it starts:
 * puts the probe in that connection's place (playback: beside it, since
 * system:playback_1 just discards; capture: instead of the silence of
 * system:capture_1). Waits up to 5 s for the PCM's port. */
static void probe_attach(probe *p, const char *system_port) {
    char peer[256] = "";
    for (int i = 0; i < 500 && peer[0] == '\0'; i++) {
        const char **con = jack_port_get_all_connections(
            p->client, jack_port_by_name(p->client, system_port));
        for (size_t k = 0; con != NULL && con[k] != NULL; k++)
            if (strncmp(con[k], "rill-alsa-probe:", 16) != 0)
                snprintf(peer, sizeof peer, "%s", con[k]);
        jack_free(con);
        if (peer[0] == '\0')
            rill__sleep_ns(10000000u);
    }
    if (peer[0] == '\0')
        FAIL("the jack PCM never connected to %s", system_port);
    const char *mine = jack_port_name(p->port);
    if (p->writes) {
        ASSERT_EQ_INT(jack_disconnect(p->client, system_port, peer), 0);
        ASSERT_EQ_INT(jack_connect(p->client, mine, peer), 0);
    } else {
        ASSERT_EQ_INT(jack_connect(p->client, peer, mine), 0);
    }
    printf("  probe %s %s (in place of %s)\n", mine, p->writes ? "->" : "<-",
           peer);
}

static void probe_close(probe *p) {
    jack_deactivate(p->client);
    jack_client_close(p->client);
}

/* Whether ALSA's configuration on this machine defines a "jack" PCM
 * (Debian's libasound2-plugins installs it, with its plugin). */
static bool alsa_config_has_jack_pcm(void) {
    snd_config_t *top = NULL, *node = NULL;
    if (snd_config_update_ref(&top) < 0)
        return false;
    bool found = snd_config_search(top, "pcm.jack", &node) == 0;
    snd_config_unref(top);
    return found;
}

/* Opens the jack PCM; skips if this machine's ALSA has none, and fails if
 * it has one that the backend cannot open. */
static void open_jack_pcm(rill_audio_config *c, bool input,
                          rill_audio_input_fn fn, void *user,
                          rill_audio_output **o, rill_audio_input **in) {
    if (!alsa_config_has_jack_pcm())
        SKIP("ALSA's configuration defines no \"jack\" PCM here (Debian: "
             "libasound2-plugins)");
    char err[256] = "";
    c->err = err;
    c->err_size = sizeof err;
    int rc = input ? rill_audio_input_open(c, fn, user, in)
                   : rill_audio_output_open(c, o);
    if (rc != 0)
        FAIL("cannot open the jack PCM, which ALSA's configuration defines: "
             "%s (%s)",
             err, rill_err_name(rc));
}

static void wait_until_true(atomic_bool *flag, const char *what) {
    for (int i = 0; i < 500 && !atomic_load(flag); i++)
        rill__sleep_ns(10000000u);
    if (!atomic_load(flag))
        FAIL("%s: nothing within 5 s", what);
}

/* The playback side: a callback source writes the stream's own stamp of
 * each frame (the block's `time`: origin + frames before it), and sleeps
 * once on the audio thread when asked. */
typedef struct stamper {
    rill_audio_output *out;
    atomic_uint_least64_t stall_ns;   /* set by the test */
    atomic_uint_least64_t stalled_at; /* the stalled block's stamp + 1 */
    atomic_uint_least64_t slept_ns, blocks_after;
} stamper;

static void stamper_render(rill_audio_source *src, float *mix, size_t frames,
                           uint32_t channels, void *user) {
    (void)src;
    stamper *s = user;
    rill_audio_stats st;
    rill_audio_output_get_stats(s->out, &st);
    uint64_t t = st.origin + st.frames;
    for (size_t i = 0; i < frames; i++)
        for (uint32_t c = 0; c < channels; c++)
            mix[i * channels + c] += (float)(t + i + 1) * STAMP_ONE;
    if (atomic_load(&s->stalled_at) != 0)
        atomic_fetch_add(&s->blocks_after, 1);
    uint64_t stall = atomic_exchange(&s->stall_ns, 0);
    if (stall != 0) {
        atomic_store(&s->stalled_at, t + 1);
        uint64_t t0 = rill_clock_now_ns();
        struct timespec ts = {0, (long)stall};
        nanosleep(&ts, NULL);
        atomic_store(&s->slept_ns, rill_clock_now_ns() - t0);
    }
}

/* A stall of the audio thread (100 ms, the device buffer is 512 frames =
 * 10.7 ms) makes snd_pcm_writei fail with -EPIPE; the output recovers,
 * counts it, goes on playing, and the stamps after the gap keep counting
 * device time: every frame plays at JACK frame stamp + the same offset as
 * before the gap (within TOLERANCE), as on the jack backend, whose stamps
 * are JACK's frame time. */
TEST(jack_pcm_playback_underrun_is_recovered_and_stamps_keep_device_time) {
    if (!on_path("jackd"))
        SKIP("jackd is not installed (Debian: jackd2)");
    start_jackd("rill-alsa-xrun-out");
    probe *p = calloc(1, sizeof *p);
    ASSERT_NOT_NULL(p);
    probe_open(p, false);

    rill_audio_config c = rill_audio_config_default();
    c.backend = "alsa";
    c.device = "jack";
    c.rate = RATE;
    c.channels = 2;
    c.format = RILL_AUDIO_F32; /* stamps pass unchanged */
    c.buffer_frames = PERIOD;
    c.periods = 2;
    rill_audio_output *o = NULL;
    open_jack_pcm(&c, false, NULL, NULL, &o, NULL);
    rill_audio_info info;
    rill_audio_output_get_info(o, &info);
    printf("  jack PCM output: %u Hz, period %u, buffer %u frames\n", info.rate,
           info.buffer_frames, info.latency_frames);
    ASSERT_EQ_UINT(info.rate, RATE);
    stamper s = {.out = o};
    rill_audio_source *src;
    ASSERT_OK(rill_audio_callback_source_create(o, stamper_render, &s, &src));
    ASSERT_OK(rill_audio_output_add(o, src));
    ASSERT_OK(rill_audio_source_play(src));
    ASSERT_OK(rill_audio_output_start(o));
    probe_attach(p, "system:playback_1");
    wait_until_true(&p->seen, "stamps at the probe");
    rill__sleep_ns(300000000u);

    rill_audio_stats before, after;
    for (int attempt = 1;; attempt++) {
        atomic_store(&s.stalled_at, 0);
        atomic_store(&s.blocks_after, 0);
        rill_audio_output_get_stats(o, &before);
        unsigned jx = atomic_load(&p->jack_xruns);
        atomic_store(&s.stall_ns, (uint64_t)STALL_MS * 1000000u);
        rill__sleep_ns(700000000u);
        rill_audio_output_get_stats(o, &after);
        jx = atomic_load(&p->jack_xruns) - jx;
        if (after.xruns - before.xruns == 1 && jx == 0)
            break;
        printf("  attempt %d: %llu xruns around the stall, JACK's %u (a "
               "loaded machine)\n", attempt,
               (unsigned long long)(after.xruns - before.xruns), jx);
        if (attempt == ATTEMPTS)
            FAIL("no clean stall in %d attempts: the machine is too loaded "
                 "for JACK to serve as the reference", ATTEMPTS);
    }
    ASSERT_OK(rill_audio_output_stop(o));
    probe_close(p);

    uint64_t t_s = atomic_load(&s.stalled_at);
    ASSERT_TRUE(t_s != 0);
    t_s -= 1;
    uint64_t slept = atomic_load(&s.slept_ns);
    printf("  stalled %.1f ms at stamp %llu; xruns %llu -> %llu; %llu blocks "
           "after the stall\n",
           (double)slept / 1e6, (unsigned long long)t_s,
           (unsigned long long)before.xruns, (unsigned long long)after.xruns,
           (unsigned long long)atomic_load(&s.blocks_after));
    ASSERT_TRUE(after.xruns >= 1 && after.xruns > before.xruns);
    ASSERT_TRUE(!after.failed);
    /* It kept playing: 0.6 s after the stall is ~112 blocks. */
    ASSERT_TRUE(atomic_load(&s.blocks_after) >= 40);

    /* The stalled block plays alone after the gap (it was stamped before
     * the underrun was known); compare the long segments either side of
     * it: before the gap, and from the block after it on. */
    size_t n = atomic_load_explicit(&p->n_seg, memory_order_acquire);
    size_t st = n, b = n, a = n;
    for (size_t k = 0; k < n && st == n; k++)
        if (atomic_load(&p->seg[k].start) - atomic_load(&p->seg[k].off) ==
            (int64_t)t_s)
            st = k;
    for (size_t k = st; k-- > 0 && b == n;)
        if (atomic_load(&p->seg[k].len) >= 2 * PERIOD)
            b = k;
    for (size_t k = st + 1; k < n && a == n; k++)
        if (atomic_load(&p->seg[k].len) >= 2 * PERIOD)
            a = k;
    for (size_t k = b < n ? b : 0; k < n && k <= a && k < b + 8; k++)
        printf("  segment %zu: JACK frames %lld..%lld play stamps - %lld\n", k,
               (long long)atomic_load(&p->seg[k].start),
               (long long)(atomic_load(&p->seg[k].start) +
                           atomic_load(&p->seg[k].len) - 1),
               (long long)atomic_load(&p->seg[k].off));
    if (st == n || b == n || a == n)
        FAIL("the probe did not see the stalled block (stamp %llu) between "
             "two stretches of playing (%zu segments)",
             (unsigned long long)t_s, n);
    int64_t off_b = atomic_load(&p->seg[b].off),
            off_a = atomic_load(&p->seg[a].off);
    int64_t silent =
        atomic_load(&p->seg[st].start) -
        (atomic_load(&p->seg[b].start) + atomic_load(&p->seg[b].len));
    printf("  device time between: %lld frames (the stall: %.0f); stamps vs "
           "device frames after - before: %lld frames\n",
           (long long)silent, (double)slept * RATE / 1e9,
           (long long)(off_a - off_b));
    ASSERT_TRUE(silent >= (int64_t)((double)slept * RATE / 1e9) / 2);
    ASSERT_LE_UINT(off_a > off_b ? off_a - off_b : off_b - off_a, TOLERANCE);

    rill_audio_output_close(o);
    rill_audio_source_destroy(src);
    free(p);
    stop_jackd();
}

/* The capture side: every block's first_frame and the stamp its first
 * frame carries; the callback (on the audio thread) sleeps once when
 * asked. */
typedef struct capblock {
    uint64_t first;
    int64_t stamp; /* -1: silence (before the probe was connected) */
    size_t frames;
    bool ramp; /* stamps within the block go up by one per frame */
} capblock;

typedef struct capture {
    capblock b[4096];
    size_t n;
    size_t stalled; /* index of the block whose callback slept, + 1 */
    atomic_uint_least64_t stall_ns;
    uint64_t slept_ns;
    atomic_bool seen;
} capture;

static void on_capture(rill_audio_input *in, const void *data, size_t frames,
                       uint64_t first, void *user) {
    (void)in;
    capture *c = user;
    const int32_t *x = data; /* s32: stamp k + 1 arrives as (k + 1) * 128 */
    if (c->n == RILL__ARRAY_LEN(c->b))
        return;
    capblock *b = &c->b[c->n++];
    b->first = first;
    b->frames = frames;
    b->stamp = x[0] / 128 - 1;
    b->ramp = true;
    for (size_t i = 1; i < frames; i++)
        if (x[2 * i] / 128 - 1 != b->stamp + (int64_t)i)
            b->ramp = false;
    if (b->stamp >= 0 && b->ramp)
        atomic_store(&c->seen, true);
    uint64_t stall = atomic_exchange(&c->stall_ns, 0);
    if (stall != 0) {
        c->stalled = c->n;
        uint64_t t0 = rill_clock_now_ns();
        struct timespec ts = {0, (long)stall};
        nanosleep(&ts, NULL);
        c->slept_ns = rill_clock_now_ns() - t0;
    }
}

/* A stall of the capture callback on the audio thread makes snd_pcm_readi
 * fail with -EPIPE; the input recovers, counts it, goes on capturing, and
 * first_frame jumps by the frames lost: stamp - first_frame (JACK's frame
 * time against the stream's) is the same after the gap as before, within
 * TOLERANCE. The user asks for s32 and the PCM takes float only, so the
 * backend converts (k / 2^24 in float is k * 128 in s32, exact). */
TEST(jack_pcm_capture_overrun_is_recovered_and_first_frame_jumps_by_the_loss) {
    if (!on_path("jackd"))
        SKIP("jackd is not installed (Debian: jackd2)");
    start_jackd("rill-alsa-xrun-in");
    probe *p = calloc(1, sizeof *p);
    capture *cap = calloc(1, sizeof *cap);
    ASSERT_TRUE(p != NULL && cap != NULL);
    probe_open(p, true);

    rill_audio_config c = rill_audio_config_default();
    c.backend = "alsa";
    c.device = "jack";
    c.rate = RATE;
    c.channels = 2;
    c.format = RILL_AUDIO_S32; /* converted from the PCM's float */
    c.buffer_frames = PERIOD;
    c.periods = 2;
    c.delivery =
        RILL_AUDIO_DELIVER_REALTIME; /* the callback is the audio thread */
    rill_audio_input *in = NULL;
    open_jack_pcm(&c, true, on_capture, cap, NULL, &in);
    ASSERT_OK(rill_audio_input_start(in));
    probe_attach(p, "system:capture_1");
    wait_until_true(&cap->seen, "stamps through the jack PCM");
    rill__sleep_ns(300000000u);
    rill_audio_stats before;
    for (int attempt = 1;; attempt++) {
        rill_audio_input_get_stats(in, &before);
        unsigned jx = atomic_load(&p->jack_xruns);
        atomic_store(&cap->stall_ns, (uint64_t)STALL_MS * 1000000u);
        rill__sleep_ns(700000000u);
        rill_audio_stats now;
        rill_audio_input_get_stats(in, &now);
        jx = atomic_load(&p->jack_xruns) - jx;
        if (now.xruns - before.xruns == 1 && jx == 0)
            break;
        printf("  attempt %d: %llu xruns around the stall, JACK's %u (a "
               "loaded machine)\n", attempt,
               (unsigned long long)(now.xruns - before.xruns), jx);
        if (attempt == ATTEMPTS)
            FAIL("no clean stall in %d attempts: the machine is too loaded "
                 "for JACK to serve as the reference", ATTEMPTS);
    }
    ASSERT_OK(rill_audio_input_stop(in)); /* joins the audio thread */
    rill_audio_stats after;
    rill_audio_input_get_stats(in, &after);
    probe_close(p);

    printf("  stalled %.1f ms in block %zu of %zu; xruns %llu -> %llu\n",
           (double)cap->slept_ns / 1e6, cap->stalled, cap->n,
           (unsigned long long)before.xruns, (unsigned long long)after.xruns);
    ASSERT_TRUE(cap->stalled != 0);
    ASSERT_TRUE(after.xruns >= 1 && after.xruns > before.xruns);
    ASSERT_TRUE(!after.failed);
    ASSERT_TRUE(cap->n - cap->stalled >= 40); /* ~112 blocks in 0.6 s */
    const capblock *b = &cap->b[cap->stalled - 1], *a = &cap->b[cap->stalled];
    ASSERT_TRUE(b->ramp && b->stamp >= 0 && a->ramp && a->stamp >= 0);
    int64_t lost = a->stamp - (b->stamp + (int64_t)b->frames);
    int64_t jump = (int64_t)(a->first - (b->first + b->frames));
    printf("  frames lost (JACK's clock): %lld; first_frame jumped by %lld "
           "(the stall: %.0f)\n",
           (long long)lost, (long long)jump,
           (double)cap->slept_ns * RATE / 1e9);
    ASSERT_TRUE(lost >=
                (int64_t)((double)cap->slept_ns * RATE / 1e9) - TOLERANCE);
    ASSERT_LE_UINT(jump > lost ? jump - lost : lost - jump, TOLERANCE);
    /* After the gap the stream is whole again: every block holds
     * consecutive frames and, if that was the only xrun, first_frame
     * follows on. (The stamps may still jump where the non-real-time
     * server skipped a cycle of the PCM's client on a loaded machine:
     * JACK loses those frames without telling the PCM, so no backend
     * could count them; they are only reported.) */
    int skips = 0;
    for (size_t k = cap->stalled + 1; k < cap->n; k++) {
        const capblock *x = &cap->b[k], *prev = &cap->b[k - 1];
        if (!x->ramp)
            FAIL("block %zu after the xrun holds no run of consecutive frames",
                 k);
        if (after.xruns - before.xruns == 1 &&
            x->first != prev->first + prev->frames)
            FAIL("block %zu after the only xrun: first_frame %llu, previous "
                 "%llu + %zu",
                 k, (unsigned long long)x->first,
                 (unsigned long long)prev->first, prev->frames);
        if (x->stamp != prev->stamp + (int64_t)prev->frames)
            skips++;
    }
    printf("  %zu blocks after the stall; %d cycles JACK skipped meanwhile\n",
           cap->n - cap->stalled, skips);
    rill_audio_input_close(in);
    free(cap);
    free(p);
    stop_jackd();
}

static char fail_log[512];
static pthread_mutex_t fail_log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Called from both streams' audio threads. */
static void fail_log_fn(rill_log_level level, const char *msg, void *user) {
    (void)user;
    pthread_mutex_lock(&fail_log_lock);
    if (level <= RILL_LOG_ERROR)
        snprintf(fail_log, sizeof fail_log, "%s", msg);
    pthread_mutex_unlock(&fail_log_lock);
}

static void fail_log_copy(char dst[sizeof fail_log]) {
    pthread_mutex_lock(&fail_log_lock);
    memcpy(dst, fail_log, sizeof fail_log);
    pthread_mutex_unlock(&fail_log_lock);
}

static void ignore_block(rill_audio_input *in, const void *data, size_t frames,
                         uint64_t first, void *user) {
    (void)in;
    (void)data;
    (void)frames;
    (void)first;
    (void)user;
}

/* A JACK server that dies under the jack PCM leaves a blocking read or
 * write waiting forever; the backend waits in slices and gives up after
 * 2 s without a frame: both streams are marked failed, the error logged,
 * and stop returns at once. */
/* Also: a format the PCM does not take (s16 on the jack PCM) opens in one
 * it takes, reported as the device's. */
TEST(jack_pcm_whose_server_dies_fails_the_stream_and_stop_returns) {
    if (!on_path("jackd"))
        SKIP("jackd is not installed (Debian: jackd2)");
    start_jackd("rill-alsa-xrun-dies");
    rill_set_log_callback(fail_log_fn, RILL_LOG_ERROR, NULL);
    rill_audio_config c = rill_audio_config_default();
    c.backend = "alsa";
    c.device = "jack";
    c.format = RILL_AUDIO_S16; /* the jack PCM takes float only */
    c.buffer_frames = PERIOD;
    rill_audio_output *o = NULL;
    rill_audio_input *in = NULL;
    open_jack_pcm(&c, false, NULL, NULL, &o, NULL);
    open_jack_pcm(&c, true, ignore_block, NULL, NULL, &in);
    /* Opened in the PCM's float, converted from and to the user's s16. */
    rill_audio_info oi, ii;
    rill_audio_output_get_info(o, &oi);
    rill_audio_input_get_info(in, &ii);
    ASSERT_EQ_INT(oi.format, RILL_AUDIO_S16);
    ASSERT_EQ_INT(oi.device_format, RILL_AUDIO_F32);
    ASSERT_EQ_INT(ii.format, RILL_AUDIO_S16);
    ASSERT_EQ_INT(ii.device_format, RILL_AUDIO_F32);
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_input_start(in));
    rill_audio_stats ost, ist;
    for (int i = 0; i < 500; i++) {
        rill_audio_output_get_stats(o, &ost);
        rill_audio_input_get_stats(in, &ist);
        if (ost.frames >= 10 * PERIOD && ist.frames >= 10 * PERIOD)
            break;
        rill__sleep_ns(10000000u);
    }
    ASSERT_TRUE(ost.frames >= 10 * PERIOD && ist.frames >= 10 * PERIOD);
    uint64_t t0 = rill_clock_now_ns();
    stop_jackd();
    for (int i = 0; i < 1000 && !(ost.failed && ist.failed); i++) {
        rill__sleep_ns(10000000u);
        rill_audio_output_get_stats(o, &ost);
        rill_audio_input_get_stats(in, &ist);
    }
    double secs = (double)(rill_clock_now_ns() - t0) / 1e9;
    /* A wait for the end returns at once with the failure, never hangs. */
    char first_log[sizeof fail_log], out_log[sizeof fail_log];
    fail_log_copy(first_log);
    uint64_t tw = rill_clock_now_ns();
    ASSERT_ERR(rill_audio_output_wait(o, -1), RILL_EIO);
    fail_log_copy(out_log);
    ASSERT_TRUE(strstr(out_log, "alsa: output 'jack': the device failed") != NULL);
    ASSERT_ERR(rill_audio_input_wait(in, -1), RILL_EIO);
    fail_log_copy(out_log);
    ASSERT_TRUE(strstr(out_log, "alsa: input 'jack': the device failed") != NULL);
    ASSERT_TRUE(rill_clock_now_ns() - tw < 1000000000u);
    uint64_t t1 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_output_stop(o));
    ASSERT_OK(rill_audio_input_stop(in));
    double stop_secs = (double)(rill_clock_now_ns() - t1) / 1e9;
    rill_audio_output_close(o);
    rill_audio_input_close(in);
    printf("  both failed after %.2f s (last error: \"%s\"); both stopped in "
           "%.3f s\n", secs, first_log, stop_secs);
    ASSERT_TRUE(ost.failed && ist.failed);
    ASSERT_TRUE(secs < 5);
    ASSERT_TRUE(stop_secs < 0.5);
    ASSERT_TRUE(strstr(first_log, "audio: alsa: ") == first_log &&
                strstr(first_log, "'jack': the device stopped") != NULL);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
}
