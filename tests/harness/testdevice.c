#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "test.h"
#include "testdevice.h"

static void *produce(void *arg) {
    test_device *d = arg;
    uint64_t frame = 0, next = rill_clock_now_ns();
    while (!atomic_load(&d->stop)) {
        for (int i = 0; i < 64; i++, frame++) {
            rill_server_tick(d->srv, frame);
            rill_var_set_int32(d->counter, (int32_t)frame);
            rill_var_set_float(d->level, 0.25f);
            rill_var_set_double(d->frame_d, (double)frame);
        }
        atomic_store(&d->watched, rill_server_watched(d->srv));
        atomic_store(&d->ticking, true);
        next += 1000000;
        rill_clock_sleep_until_ns(next);
    }
    return NULL;
}

static void on_buffer(rill_server *srv, uint32_t id, rill_type type,
                      const void *values, size_t count, void *user) {
    (void)srv;
    (void)id;
    test_device *d = user;
    double sum = 0;
    size_t size = rill_type_size(type);
    for (size_t i = 0; i < count; i++)
        sum += rill_value_to_double(type, (const uint8_t *)values + i * size);
    atomic_store(&d->received_sum, sum);
    atomic_fetch_add(&d->received, 1);
}

static void start(test_device *d, const char *token, bool compat_only) {
    memset(d, 0, sizeof *d);
    snprintf(d->log_dir, sizeof d->log_dir, "/tmp/rill-testdev-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(d->log_dir));
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = d->log_dir;
    cfg.token = token;
    cfg.sample_rate = 64000;
    cfg.out_ring_bytes = 1 << 20;
    cfg.log_ring_bytes = 1 << 20; /* ~1 s of two variables: a loaded
                                     machine stalls the writer that long */
    cfg.on_buffer = on_buffer;
    cfg.user = d;
    cfg.compat_only = compat_only;
    ASSERT_OK(rill_server_create(&cfg, &d->srv));
    d->counter = rill_var_create(d->srv, "counter", RILL_TYPE_INT32, RILL_TS_DENSE);
    d->level = rill_var_create(d->srv, "level", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    d->frame_d = rill_var_create(d->srv, "frame_d", RILL_TYPE_DOUBLE, RILL_TS_DENSE);
    ASSERT_NOT_NULL(d->counter);
    ASSERT_NOT_NULL(d->level);
    ASSERT_NOT_NULL(d->frame_d);
    atomic_init(&d->stop, false);
    atomic_init(&d->ticking, false);
    ASSERT_EQ_INT(pthread_create(&d->producer, NULL, produce, d), 0);
    for (int i = 0; i < 10000 && !atomic_load(&d->ticking); i++)
        usleep(1000);
    ASSERT_TRUE(atomic_load(&d->ticking));
}

void test_device_start(test_device *d, const char *token) {
    start(d, token, false);
}

void test_device_start_compat_only(test_device *d) { start(d, NULL, true); }

int test_device_port(const test_device *d) { return rill_server_port(d->srv); }

void test_device_stop(test_device *d) {
    atomic_store(&d->stop, true);
    pthread_join(d->producer, NULL);
    rill_server_destroy(d->srv);
    DIR *dir = opendir(d->log_dir);
    for (struct dirent *e; dir != NULL && (e = readdir(dir)) != NULL;) {
        char path[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", d->log_dir, e->d_name);
        unlink(path);
    }
    if (dir != NULL)
        closedir(dir);
    rmdir(d->log_dir);
}

pid_t test_device_in_child(int *port) {
    int fds[2];
    ASSERT_EQ_INT(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        /* Gone with the test, even stopped, even if the test fails. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        test_device d;
        test_device_start(&d, NULL);
        int p = test_device_port(&d);
        (void)!write(fds[1], &p, sizeof p);
        for (;;)
            pause();
    }
    close(fds[1]);
    ASSERT_EQ_INT(read(fds[0], port, sizeof *port), (int)sizeof *port);
    close(fds[0]);
    return pid;
}
