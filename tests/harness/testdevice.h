/* A device for host-side tests: a real rill_server on a free port with one
 * int32 variable "counter" equal to the frame number, one float
 * "level" (0.25) and one double "frame_d" (the frame number), ticked by a producer thread at about 64 kHz in real time, and a
 * record of the buffers clients send to it. */
#ifndef RILL_TESTDEVICE_H
#define RILL_TESTDEVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "rill/rill.h"

typedef struct test_device {
    rill_server *srv;
    rill_var *counter;
    rill_var *level;
    rill_var *frame_d; /* double, the frame number */
    char log_dir[64];  /* a fresh directory, removed by test_device_stop */
    pthread_t producer;
    atomic_bool stop;
    atomic_bool ticking;        /* the first block has run */
    atomic_bool watched;        /* rill_server_watched at the last block */
    atomic_uint received;       /* client buffers received */
    _Atomic double received_sum; /* sum of the values of the last one */
} test_device;

/* Start it (token may be NULL) and return once its clock runs (its first
 * block has run: a list reports a tick > 0); fails the test on error. */
void test_device_start(test_device *d, const char *token);
/* The same, speaking only the Watcher protocol (as a Bela board). */
void test_device_start_compat_only(test_device *d);
int test_device_port(const test_device *d);
/* A device in a child process, so that it can be stopped (SIGSTOP) to
 * make a peer that reads nothing: returns its pid and sets *port; it runs
 * until killed (SIGKILL, then waitpid). */
pid_t test_device_in_child(int *port);
void test_device_stop(test_device *d);

#endif
