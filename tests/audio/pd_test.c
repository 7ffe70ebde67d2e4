/* The Pure Data source: a patch with [osc~ 440] played by Debian's `pd
 * -nogui -jack` on a private jackd and mixed by a rill output on the same
 * server. The frequency is measured on the output's mixed blocks. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

#ifndef RILL_TEST_DATA
#error RILL_TEST_DATA must name tests/audio/data
#endif

/* A callback source added after the Pd source: it sees the mixed block
 * on the audio thread and keeps its left channel, i.e. exactly what the
 * output plays. Entries below n are complete (release/acquire). */
typedef struct tap {
    float *v;
    size_t cap;
    atomic_size_t n;
    atomic_bool on;
} tap;

static void tap_fn(rill_audio_source *src, float *mix, size_t frames,
                   uint32_t channels, void *user) {
    (void)src;
    tap *t = user;
    if (!atomic_load_explicit(&t->on, memory_order_relaxed))
        return;
    size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    for (size_t i = 0; i < frames && n < t->cap; i++)
        t->v[n++] = mix[i * channels];
    atomic_store_explicit(&t->n, n, memory_order_release);
}

/* Pd is not a real-time process here, and on a loaded machine its
 * scheduler can miss a JACK cycle: Pd then outputs a block of zeros. Such
 * seams are found (a step larger than a wave of `freq` and amplitude 0.5
 * allows) and counted; the frequency is measured on every clean stretch of
 * at least 0.25 s and averaged by length. */
typedef struct measured {
    size_t first, seams, clean, stretches;
    double peak, f, fmin, fmax;
} measured;

static measured measure(const float *x, size_t total, double rate,
                        double freq) {
    measured m = {0};
    m.fmin = 1e9;
    size_t i = 0;
    while (i < total && x[i] == 0.0f)
        i++;
    m.first = i;
    for (size_t k = i; k < total; k++)
        m.peak = fmax(m.peak, fabs(x[k]));
    const double maxstep = 2 * M_PI * freq / rate * 0.5 * 1.01 + 1e-6;
    size_t start = i;
    double fsum = 0;
    for (size_t k = i + 1; k <= total; k++) {
        if (k == total || fabs(x[k] - x[k - 1]) > maxstep) {
            size_t len = k - start;
            if (len >= rate / 4) {
                double fk = au_measure_freq(x + start, len, 1, rate);
                fsum += fk * (double)len;
                m.clean += len;
                m.stretches++;
                m.fmin = m.fmin < fk ? m.fmin : fk;
                m.fmax = m.fmax > fk ? m.fmax : fk;
            }
            m.seams += k < total;
            start = k;
        }
    }
    m.f = m.clean ? fsum / (double)m.clean : 0;
    return m;
}

TEST(osc_440_patch_plays_at_440_hz) {
    const double RATE = 48000;
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, (unsigned)RATE, 256, 0,
                                 false);
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillout";
    oc.connect = "";
    oc.format = RILL_AUDIO_F32;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&oc, &o));
    rill_audio_source *pd, *probe;
    ASSERT_ERR(rill_audio_pd_create(o, "/nonexistent.pd", server, NULL, &pd),
               RILL_ENOTFOUND);
    ASSERT_OK(rill_audio_pd_create(o, RILL_TEST_DATA "/osc440.pd", server,
                                   RILL_TEST_DATA "/pd-dies-with-parent.sh",
                                   &pd));
    static tap t;
    t.cap = (size_t)RATE * 3;
    t.v = calloc(t.cap, sizeof *t.v);
    atomic_store(&t.n, 0);
    atomic_store(&t.on, false);
    ASSERT_OK(rill_audio_callback_source_create(o, tap_fn, &t, &probe));
    ASSERT_OK(rill_audio_output_add(o, pd));
    ASSERT_OK(rill_audio_output_add(o, probe));
    ASSERT_OK(rill_audio_source_play(probe));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_source_play(pd));
    /* Let Pd settle before recording: its first cycles may be late. */
    rill__sleep_ns(500000000u);
    atomic_store(&t.on, true);
    for (int i = 0; i < 600 && atomic_load(&t.n) < t.cap; i++)
        rill__sleep_ns(10000000u);
    rill_audio_source_stats st;
    rill_audio_source_get_stats(pd, &st);
    rill_audio_stats ost;
    rill_audio_output_get_stats(o, &ost);
    rill_audio_output_close(o);
    uint64_t t0 = rill_clock_now_ns();
    rill_audio_source_destroy(pd); /* a source outlives its output's close */
    double stop_ms = (double)(rill_clock_now_ns() - t0) / 1e6;
    rill_audio_source_destroy(probe);
    au_jackd_stop(jackd);
    ASSERT_TRUE(stop_ms < 2500); /* Pd ends on SIGTERM */

    size_t total = atomic_load_explicit(&t.n, memory_order_acquire);
    /* Over at least 1 s of clean stretches; each alone is already within
     * 1e-4 Hz. */
    measured m = measure(t.v, total, RATE, 440);
    printf("  captured %zu frames, peak %.4f, %zu seams; %zu clean stretches "
           "(%.2f s): %.6f Hz (error %.2e; stretches %.6f..%.6f); pd ring: "
           "%llu frames, %llu underruns; output xruns %llu\n",
           total - m.first, m.peak, m.seams, m.stretches,
           (double)m.clean / RATE, m.f, m.f - 440.0, m.fmin, m.fmax,
           (unsigned long long)st.frames, (unsigned long long)st.underruns,
           (unsigned long long)ost.xruns);
    ASSERT_TRUE(m.clean > RATE);
    ASSERT_EQ_DOUBLE(m.peak, 0.5, 0.01);
    ASSERT_EQ_DOUBLE(m.f, 440.0, 0.01);
    ASSERT_EQ_DOUBLE(m.fmin, 440.0, 0.01);
    ASSERT_EQ_DOUBLE(m.fmax, 440.0, 0.01);
    free(t.v);
}

/* rill_audio_pd_send: a float to [r freq] retunes [osc~ 440] to 660 Hz,
 * measured in what the output plays; bad names and text are refused, and
 * nothing is sent before play. */
TEST(a_message_to_the_patchs_receiver_retunes_it) {
    const double RATE = 48000;
    char server[64];
    pid_t jackd = au_jackd_start(server, sizeof server, (unsigned)RATE, 256, 0,
                                 false);
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillout";
    oc.connect = "";
    oc.format = RILL_AUDIO_F32;
    rill_audio_output *o;
    ASSERT_OK(rill_audio_output_open(&oc, &o));
    rill_audio_source *pd, *probe;
    ASSERT_OK(rill_audio_pd_create(o, RILL_TEST_DATA "/osc_receive.pd", server,
                                   RILL_TEST_DATA "/pd-dies-with-parent.sh",
                                   &pd));
    static tap t;
    t.cap = (size_t)RATE * 2;
    t.v = calloc(t.cap, sizeof *t.v);
    atomic_store(&t.n, 0);
    atomic_store(&t.on, false);
    ASSERT_OK(rill_audio_callback_source_create(o, tap_fn, &t, &probe));
    ASSERT_ERR(rill_audio_pd_send(probe, "freq", "660"), RILL_EINVAL);
    ASSERT_ERR(rill_audio_pd_send(pd, "freq", "660"), RILL_ESTATE);
    ASSERT_OK(rill_audio_output_add(o, pd));
    ASSERT_OK(rill_audio_output_add(o, probe));
    ASSERT_OK(rill_audio_source_play(probe));
    ASSERT_OK(rill_audio_output_start(o));
    ASSERT_OK(rill_audio_source_play(pd));
    static const char *const bad_names[] = {"", "two words", "1.5", "a;b",
                                            "a,b", "a\\b", "$1", "a\nb"};
    for (size_t k = 0; k < sizeof bad_names / sizeof bad_names[0]; k++)
        ASSERT_ERR(rill_audio_pd_send(pd, bad_names[k], "1"), RILL_EINVAL);
    ASSERT_ERR(rill_audio_pd_send(pd, "freq", "1; pd quit"), RILL_EINVAL);
    ASSERT_OK(rill_audio_pd_send(pd, "freq", "660"));
    rill__sleep_ns(500000000u);
    atomic_store(&t.on, true);
    for (int i = 0; i < 600 && atomic_load(&t.n) < t.cap; i++)
        rill__sleep_ns(10000000u);
    rill_audio_output_close(o);
    rill_audio_source_destroy(pd);
    rill_audio_source_destroy(probe);
    au_jackd_stop(jackd);
    measured m = measure(t.v, atomic_load(&t.n), RATE, 660);
    printf("  %zu clean frames, %zu seams: %.6f Hz\n", m.clean, m.seams, m.f);
    ASSERT_TRUE(m.clean > RATE / 2);
    ASSERT_EQ_DOUBLE(m.f, 660.0, 0.01);
    free(t.v);
}

/* ---- The message connection's token -------------------------------------
 * A watcher thread looks, every millisecond while the source starts, for
 * the rill-pd-XXXXXX/rill-ctl.pd that play writes in $TMPDIR (a directory
 * of the test's own), as another program of the same user could: it keeps
 * the file's text, path and modes, and may then connect to the port the
 * file names as other local programs could. */
typedef struct ctl_watch {
    char tmpdir[64];
    atomic_bool stop, found;
    bool intrude; /* connect as strangers once the file is there */
    char dir[512], path[600], text[4096];
    struct stat dir_st, file_st;
    int strangers[3]; /* silent, a wrong token, a wrong first byte */
} ctl_watch;

static int connect_local(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool read_whole(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n > 0;
}

static void *watch_ctl(void *arg) {
    ctl_watch *w = arg;
    while (!atomic_load(&w->stop) && !atomic_load(&w->found)) {
        DIR *d = opendir(w->tmpdir);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, "rill-pd-", 8) != 0)
                continue;
            snprintf(w->dir, sizeof w->dir, "%s/%s", w->tmpdir, e->d_name);
            snprintf(w->path, sizeof w->path, "%s/rill-ctl.pd", w->dir);
            /* Whole once its last line is there. */
            if (stat(w->dir, &w->dir_st) != 0 ||
                stat(w->path, &w->file_st) != 0 ||
                !read_whole(w->path, w->text, sizeof w->text) ||
                strstr(w->text, "#X connect 7 0 8 0;\n") == NULL)
                continue;
            unsigned port = 0;
            const char *c = strstr(w->text, "connect 127.0.0.1 ");
            if (w->intrude && c != NULL &&
                sscanf(c, "connect 127.0.0.1 %u", &port) == 1) {
                for (int k = 0; k < 3; k++)
                    w->strangers[k] = connect_local(port);
                static const char wrong_token[] =
                    "rill-hello t00000000000000000000000000000000;\n";
                if (w->strangers[1] >= 0)
                    (void)!write(w->strangers[1], wrong_token,
                                 sizeof wrong_token - 1);
                if (w->strangers[2] >= 0)
                    (void)!write(w->strangers[2], "x", 1);
            }
            atomic_store(&w->found, true);
            break;
        }
        if (d != NULL)
            closedir(d);
        rill__sleep_ns(1000000u);
    }
    return NULL;
}

/* The process the source started for `patch`: a child of ours whose
 * command line names it. Its command line, NULs as spaces, into `cmd`. */
static pid_t find_pd(const char *patch, char *cmd, size_t cap) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = -1;
    while (d != NULL && found < 0 && (e = readdir(d)) != NULL) {
        char path[300], stat_text[512];
        int ppid = 0;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        const char *paren;
        if (!read_whole(path, stat_text, sizeof stat_text) ||
            (paren = strrchr(stat_text, ')')) == NULL ||
            sscanf(paren, ") %*c %d", &ppid) != 1 || ppid != getpid())
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, cmd, cap - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n <= 0)
            continue;
        for (ssize_t i = 0; i < n; i++)
            cmd[i] = cmd[i] ? cmd[i] : ' ';
        cmd[n] = '\0';
        if (strstr(cmd, patch) != NULL)
            found = atoi(e->d_name);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* An output on a private jackd, osc_receive.pd on it, a tap after it. */
typedef struct pd_rig {
    pid_t jackd;
    rill_audio_output *o;
    rill_audio_source *pd, *probe;
    tap t;
} pd_rig;

static void rig_open(pd_rig *r, double rate) {
    char server[64];
    r->jackd = au_jackd_start(server, sizeof server, (unsigned)rate, 256, 0,
                              false);
    rill_audio_config oc = rill_audio_config_default();
    oc.backend = "jack";
    oc.device = server;
    oc.name = "rillout";
    oc.connect = "";
    oc.format = RILL_AUDIO_F32;
    /* Twice in CI (ASan pass, `ctest -j2`), two of these tests starting
     * their servers at once both got RILL_EIO here (JACK status 0x21,
     * "communication error", just after the rig's probe client had
     * connected), never reproduced since. What Pd does is these tests'
     * subject, not JACK's client handshake: the open is tried again, and
     * every failure is written out with JACK's message and the server's
     * log, so the cause can be read in the test's output. */
    char why[256] = "";
    oc.err = why;
    oc.err_size = sizeof why;
    int orc = RILL_EIO;
    for (int attempt = 1; attempt <= 3; attempt++) {
        why[0] = '\0';
        if ((orc = rill_audio_output_open(&oc, &r->o)) == 0)
            break;
        char tail[1024];
        au_jackd_log_tail(server, tail, sizeof tail);
        fprintf(stderr, "pd_test: output on jackd %s, attempt %d: %s: %s\n"
                "pd_test: jackd's log ends:\n%s\n", server, attempt, rill_strerror(orc),
                why, tail);
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
    if (orc != 0)
        FAIL("output on jackd %s: %s: %s", server, rill_strerror(orc), why);
    ASSERT_OK(rill_audio_pd_create(r->o, RILL_TEST_DATA "/osc_receive.pd",
                                   server,
                                   RILL_TEST_DATA "/pd-dies-with-parent.sh",
                                   &r->pd));
    r->t.cap = (size_t)rate * 2;
    r->t.v = calloc(r->t.cap, sizeof *r->t.v);
    atomic_store(&r->t.n, 0);
    atomic_store(&r->t.on, false);
    ASSERT_OK(rill_audio_callback_source_create(r->o, tap_fn, &r->t,
                                                &r->probe));
    ASSERT_OK(rill_audio_output_add(r->o, r->pd));
    ASSERT_OK(rill_audio_output_add(r->o, r->probe));
    ASSERT_OK(rill_audio_source_play(r->probe));
    ASSERT_OK(rill_audio_output_start(r->o));
}

/* Record two seconds of what the output plays, close everything, and
 * measure the last one. */
static measured rig_close(pd_rig *r, double rate, double freq) {
    rill__sleep_ns(500000000u);
    atomic_store(&r->t.on, true);
    for (int i = 0; i < 400 && atomic_load(&r->t.n) < r->t.cap; i++)
        rill__sleep_ns(10000000u);
    rill_audio_output_close(r->o);
    rill_audio_source_destroy(r->pd);
    rill_audio_source_destroy(r->probe);
    au_jackd_stop(r->jackd);
    /* The last second only: a loaded machine may take a while to carry a
     * message sent just before to Pd, and what is asserted is where the
     * patch ends up. */
    size_t n = atomic_load(&r->t.n), skip = n / 2;
    measured m = measure(r->t.v + skip, n - skip, rate, freq);
    free(r->t.v);
    return m;
}

static void watch_start(ctl_watch *w, pthread_t *th, bool intrude) {
    snprintf(w->tmpdir, sizeof w->tmpdir, "/tmp/rill-pd-test-XXXXXX");
    ASSERT_TRUE(mkdtemp(w->tmpdir) != NULL);
    ASSERT_OK(setenv("TMPDIR", w->tmpdir, 1));
    w->intrude = intrude;
    for (int k = 0; k < 3; k++)
        w->strangers[k] = -1;
    ASSERT_EQ_INT(pthread_create(th, NULL, watch_ctl, w), 0);
}

static void watch_stop(ctl_watch *w, pthread_t th) {
    atomic_store(&w->stop, true);
    pthread_join(th, NULL);
    unsetenv("TMPDIR");
    rmdir(w->tmpdir); /* empty: play removed what it wrote there */
    for (int k = 0; k < 3; k++)
        if (w->strangers[k] >= 0)
            close(w->strangers[k]);
}

/* The token that lets Pd's connection in is in rill-ctl.pd only: a file of
 * mode 0600 in a directory of mode 0700, both removed once Pd connected;
 * Pd's command line, which every local user may read, names the file but
 * holds no token. */
TEST(the_message_token_is_in_a_private_file_never_in_pds_command_line) {
    const double RATE = 48000;
    static ctl_watch w;
    pthread_t th;
    watch_start(&w, &th, false);
    static pd_rig r;
    rig_open(&r, RATE);
    ASSERT_OK(rill_audio_source_play(r.pd));
    char cmd[4096];
    pid_t pid = find_pd(RILL_TEST_DATA "/osc_receive.pd", cmd, sizeof cmd);
    watch_stop(&w, th);
    struct stat st;
    bool file_gone = stat(w.path, &st) != 0 && errno == ENOENT;
    bool dir_gone = stat(w.dir, &st) != 0 && errno == ENOENT;
    int sent = rill_audio_pd_send(r.pd, "freq", "660");
    measured m = rig_close(&r, RATE, 660);

    ASSERT_TRUE(atomic_load(&w.found));
    printf("  pd %d: %s\n  %s: dir %o, file %o\n", (int)pid, cmd, w.path,
           (unsigned)(w.dir_st.st_mode & 07777),
           (unsigned)(w.file_st.st_mode & 07777));
    ASSERT_EQ_UINT(w.dir_st.st_mode & 07777, 0700);
    ASSERT_EQ_UINT(w.file_st.st_mode & 07777, 0600);
    ASSERT_EQ_UINT(w.file_st.st_uid, getuid());
    const char *hello = strstr(w.text, "rill-hello ");
    ASSERT_TRUE(hello != NULL);
    char token[64] = {0};
    ASSERT_EQ_INT(sscanf(hello, "rill-hello %63[0-9a-z]", token), 1);
    ASSERT_EQ_UINT(strlen(token), 33);
    ASSERT_TRUE(pid > 0);
    ASSERT_TRUE(strstr(cmd, w.path) != NULL);
    ASSERT_TRUE(strstr(cmd, token) == NULL);
    ASSERT_TRUE(strstr(cmd, "rill-hello") == NULL);
    ASSERT_TRUE(file_gone);
    ASSERT_TRUE(dir_gone);
    /* And the connection the file makes is the one messages take. */
    ASSERT_OK(sent);
    ASSERT_TRUE(m.clean > RATE / 4);
    ASSERT_EQ_DOUBLE(m.f, 660.0, 0.01);
}

/* Other local programs may connect to the port too (it is in
 * /proc/net/tcp): one that stays silent, one with a wrong token and one
 * with a wrong first byte connect before Pd does. Pd's connection is still
 * the one taken, and the strangers' are closed. */
TEST(strangers_on_the_message_port_do_not_keep_pds_connection_out) {
    const double RATE = 48000;
    static ctl_watch w;
    pthread_t th;
    watch_start(&w, &th, true);
    static pd_rig r;
    rig_open(&r, RATE);
    uint64_t t0 = rill_clock_now_ns();
    ASSERT_OK(rill_audio_source_play(r.pd));
    double play_s = (double)(rill_clock_now_ns() - t0) / 1e9;
    int sent = rill_audio_pd_send(r.pd, "freq", "660");
    bool closed[3];
    for (int k = 0; k < 3; k++) {
        char c;
        closed[k] = w.strangers[k] >= 0 && read(w.strangers[k], &c, 1) == 0;
    }
    watch_stop(&w, th);
    measured m = rig_close(&r, RATE, 660);

    printf("  play took %.2f s; strangers closed: %d %d %d; %.6f Hz\n", play_s,
           closed[0], closed[1], closed[2], m.f);
    ASSERT_TRUE(atomic_load(&w.found));
    ASSERT_TRUE(closed[0] && closed[1] && closed[2]);
    ASSERT_OK(sent);
    ASSERT_TRUE(m.clean > RATE / 4);
    ASSERT_EQ_DOUBLE(m.f, 660.0, 0.01);
    ASSERT_TRUE(play_s < 5); /* the 5 s wait for Pd's hello never ran out */
}
