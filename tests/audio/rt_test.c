/* Nothing rill runs on an audio thread allocates or takes a lock.
 *
 * The test installs its own allocator (rill_set_allocator) that counts
 * every malloc, realloc and free made while the calling thread is marked
 * as an audio thread (backends mark it around the engine's per-block work;
 * rill__audio_in_rt reads the mark), and -- except under ThreadSanitizer,
 * which needs its own interceptors -- wraps pthread_mutex_lock and
 * pthread_mutex_trylock the same way. It then runs every backend at once
 * (dummy, file, ALSA null, and JACK on a private jackd) with a sine, a
 * sample, a thread source and a callback source on each output, inputs on
 * dummy, ALSA null and JACK, while other threads write the dummy output's
 * sample, change every sine, and add eight more callback sources to the
 * dummy output and remove them again, in a loop (1 ms in the mixer).
 * Both counts must stay 0, and no source may be rendered after its remove
 * returned. The test first proves the hooks see a marked thread's calls,
 * so it can fail. */
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include "audio/backend.h"
#include "audio_util.h"
#include "rill/audio.h"

static atomic_long rt_allocs, rt_locks, live;

static void *h_malloc(size_t n, void *u) {
    (void)u;
    if (rill__audio_in_rt())
        atomic_fetch_add(&rt_allocs, 1);
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}
static void *h_realloc(void *p, size_t n, void *u) {
    (void)u;
    if (rill__audio_in_rt())
        atomic_fetch_add(&rt_allocs, 1);
    void *q = realloc(p, n);
    if (q && !p)
        atomic_fetch_add(&live, 1);
    return q;
}
static void h_free(void *p, void *u) {
    (void)u;
    if (rill__audio_in_rt())
        atomic_fetch_add(&rt_allocs, 1);
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}

#if defined(__SANITIZE_THREAD__)
#define LOCK_HOOK 0
#else
#define LOCK_HOOK 1
/* The C library's functions, found once before any test runs. */
static int (*real_lock)(pthread_mutex_t *);
static int (*real_trylock)(pthread_mutex_t *);
static void find_real(void);
__attribute__((constructor)) static void find_real(void) {
    real_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_trylock =
        (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
}
int pthread_mutex_lock(pthread_mutex_t *m) {
    if (rill__audio_in_rt())
        atomic_fetch_add(&rt_locks, 1);
    if (real_lock == NULL) /* called before our constructor ran */
        find_real();
    return real_lock(m);
}
int pthread_mutex_trylock(pthread_mutex_t *m) {
    if (rill__audio_in_rt())
        atomic_fetch_add(&rt_locks, 1);
    if (real_trylock == NULL)
        find_real();
    return real_trylock(m);
}
#endif

typedef struct probe {
    atomic_long calls, in_rt, after_remove;
    atomic_bool gone;
} probe;

/* A callback source: counts its calls, whether they were on a marked
 * thread, and any call after its removal returned. */
static void probe_fn(rill_audio_source *src, float *mix, size_t frames,
                     uint32_t channels, void *user) {
    (void)src;
    probe *p = user;
    (void)mix;
    (void)frames;
    (void)channels;
    atomic_fetch_add(&p->calls, 1);
    if (rill__audio_in_rt())
        atomic_fetch_add(&p->in_rt, 1);
    if (atomic_load(&p->gone))
        atomic_fetch_add(&p->after_remove, 1);
}

static long gen_fn(rill_audio_source *src, void *buf, size_t frames,
                   void *user) {
    (void)src;
    (void)user;
    memset(buf, 0, frames * 4);
    return (long)frames;
}

typedef struct churn {
    rill_audio_output *o;
    rill_audio_source *src[8];
    probe pr[8];
    atomic_bool stop;
    long cycles;
} churn;

static void *churn_main(void *arg) {
    churn *c = arg;
    while (!atomic_load(&c->stop)) {
        for (int k = 0; k < 8; k++) {
            atomic_store(&c->pr[k].gone, false);
            if (rill_audio_output_add(c->o, c->src[k]) != 0)
                abort();
        }
        rill__sleep_ns(1000000u);
        for (int k = 0; k < 8; k++) {
            if (rill_audio_output_remove(c->o, c->src[k]) != 0)
                abort();
            atomic_store(&c->pr[k].gone, true);
        }
        c->cycles++;
    }
    return NULL;
}

typedef struct writer {
    rill_audio_source *s;
    atomic_bool stop;
    long writes;
} writer;

static void *writer_main(void *arg) {
    writer *w = arg;
    static int16_t buf[2 * 512];
    while (!atomic_load(&w->stop)) {
        rill_audio_sample_write(w->s, buf, sizeof buf, 20, NULL);
        w->writes++;
    }
    return NULL;
}

static void on_in(rill_audio_input *in, const void *d, size_t n, uint64_t t,
                  void *u) {
    (void)in;
    (void)d;
    (void)t;
    atomic_fetch_add((atomic_long *)u, (long)n);
}

/* Everything a stream can have, on one output. */
static void populate(rill_audio_output *o, rill_audio_source **s, probe *pr) {
    ASSERT_OK(rill_audio_sine_create(o, 440, 0.2, &s[0]));
    ASSERT_OK(rill_audio_sample_create(o, NULL, &s[1]));
    rill_audio_thread_config tc = rill_audio_thread_config_default();
    tc.fn = gen_fn;
    tc.format = RILL_AUDIO_F32;
    tc.channels = 1;
    ASSERT_OK(rill_audio_thread_source_create(o, &tc, &s[2]));
    ASSERT_OK(rill_audio_callback_source_create(o, probe_fn, pr, &s[3]));
    for (int k = 0; k < 4; k++) {
        ASSERT_OK(rill_audio_output_add(o, s[k]));
        ASSERT_OK(rill_audio_source_play(s[k]));
    }
}

TEST(no_allocation_or_lock_on_the_audio_thread) {
    static const rill_allocator hook = {h_malloc, h_realloc, h_free, NULL};
    rill_set_allocator(&hook);

    /* The hooks see what a marked thread does. */
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    rill__audio_rt_enter();
    void *p = rill__malloc(16);
    rill__free(p);
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    rill__audio_rt_leave();
    ASSERT_EQ_INT(atomic_load(&rt_allocs), 2);
    ASSERT_EQ_INT(atomic_load(&rt_locks), LOCK_HOOK ? 1 : 0);
    atomic_store(&rt_allocs, 0);
    atomic_store(&rt_locks, 0);

    char server[64], path[128];
    pid_t jackd = au_jackd_start(server, sizeof server, 48000, 64, 0, true);
    au_tmp_path(path, sizeof path, "rt.wav");
    const char *backends[] = {"dummy", "file", "alsa", "jack"};
    rill_audio_output *out[4];
    rill_audio_source *src[4][4];
    probe pr[4];
    memset(pr, 0, sizeof pr);
    for (int b = 0; b < 4; b++) {
        rill_audio_config c = rill_audio_config_default();
        c.backend = backends[b];
        c.device = b == 1 ? path : b == 2 ? "null" : b == 3 ? server : NULL;
        c.connect = "";
        c.buffer_frames = 64;
        ASSERT_OK(rill_audio_output_open(&c, &out[b]));
        populate(out[b], src[b], &pr[b]);
    }
    churn ch;
    memset(&ch, 0, sizeof ch);
    ch.o = out[0];
    for (int k = 0; k < 8; k++)
        ASSERT_OK(rill_audio_callback_source_create(out[0], probe_fn, &ch.pr[k],
                                                    &ch.src[k]));
    for (int k = 0; k < 8; k++)
        ASSERT_OK(rill_audio_source_play(ch.src[k]));

    atomic_long in_frames[3] = {0, 0, 0};
    rill_audio_input *in[3];
    const char *ibackends[] = {"dummy", "alsa", "jack"};
    for (int b = 0; b < 3; b++) {
        rill_audio_config c = rill_audio_config_default();
        c.backend = ibackends[b];
        c.device = b == 1 ? "null" : b == 2 ? server : NULL;
        c.connect = b == 2 ? "rill:out_" : NULL; /* jack: from the output */
        c.name = "rill_in";
        c.buffer_frames = 64;
        c.delivery = b == 0 ? RILL_AUDIO_DELIVER_THREAD : RILL_AUDIO_DELIVER_POLL;
        ASSERT_OK(rill_audio_input_open(&c, on_in, &in_frames[b], &in[b]));
    }
    for (int b = 0; b < 4; b++)
        ASSERT_OK(rill_audio_output_start(out[b]));
    for (int b = 0; b < 3; b++)
        ASSERT_OK(rill_audio_input_start(in[b]));

    pthread_t tc, tw;
    writer w = {src[0][1], false, 0};
    ASSERT_TRUE(pthread_create(&tc, NULL, churn_main, &ch) == 0);
    ASSERT_TRUE(pthread_create(&tw, NULL, writer_main, &w) == 0);
    uint64_t end = rill_clock_now_ns() + 600000000u;
    long sets = 0;
    while (rill_clock_now_ns() < end) {
        for (int b = 0; b < 4; b++)
            ASSERT_OK(rill_audio_sine_set(src[b][0], 300 + (double)(sets % 500),
                                          0.1 + 0.001 * (double)(sets % 100)));
        sets++;
        rill_audio_input_poll(in[1], 0);
        rill_audio_input_poll(in[2], 0);
        rill__sleep_ns(500000u);
    }
    atomic_store(&ch.stop, true);
    atomic_store(&w.stop, true);
    pthread_join(tc, NULL);
    pthread_join(tw, NULL);
    for (int b = 0; b < 3; b++) {
        ASSERT_OK(rill_audio_input_stop(in[b]));
        rill_audio_input_poll(in[b], 0);
    }
    for (int b = 0; b < 4; b++)
        ASSERT_OK(rill_audio_output_stop(out[b]));

    long after = 0;
    for (int k = 0; k < 8; k++)
        after += atomic_load(&ch.pr[k].after_remove);
    printf("  %ld add/remove cycles of 8 sources, %ld sine changes, %ld "
           "sample writes; input frames %ld/%ld/%ld\n", ch.cycles, sets,
           w.writes, (long)in_frames[0], (long)in_frames[1], (long)in_frames[2]);
    for (int b = 0; b < 4; b++) {
        printf("  %s: %ld blocks, %ld on a marked thread\n", backends[b],
               (long)pr[b].calls, (long)pr[b].in_rt);
        ASSERT_TRUE(atomic_load(&pr[b].calls) > 10);
        ASSERT_EQ_INT(atomic_load(&pr[b].in_rt), atomic_load(&pr[b].calls));
    }
    for (int b = 0; b < 3; b++)
        ASSERT_TRUE(atomic_load(&in_frames[b]) > 0);
    ASSERT_TRUE(ch.cycles > 20);
    ASSERT_EQ_INT(after, 0);
    ASSERT_EQ_INT(atomic_load(&rt_allocs), 0);
    ASSERT_EQ_INT(atomic_load(&rt_locks), 0);

    for (int b = 0; b < 3; b++)
        rill_audio_input_close(in[b]);
    for (int k = 0; k < 8; k++)
        rill_audio_source_destroy(ch.src[k]);
    for (int b = 0; b < 4; b++) {
        for (int k = 0; k < 4; k++)
            rill_audio_source_destroy(src[b][k]);
        rill_audio_output_close(out[b]);
    }
    au_jackd_stop(jackd);
    unlink(path);
    rill_set_allocator(NULL);
    ASSERT_EQ_INT(atomic_load(&live), 0);
}
