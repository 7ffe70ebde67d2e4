/* The monotonic clock every rill timestamp is measured against, and the
 * sleeps and timed waits every module shares. */
#include <errno.h>
#include <time.h>

#include "internal.h"

uint64_t rill_clock_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Absolute deadlines, so a loop that sleeps "until the next period" keeps
 * its rate however long each iteration took; EINTR just sleeps again. */
void rill_clock_sleep_until_ns(uint64_t deadline_ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts.tv_nsec = (long)(deadline_ns % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

void rill__sleep_ns(uint64_t ns) {
    rill_clock_sleep_until_ns(rill_clock_now_ns() + ns);
}

/* pthread condition variables time out against CLOCK_REALTIME unless made
 * otherwise; the waits are short and re-checked by their callers, so a
 * wall-clock step costs at most one early or late wakeup. */
void rill__cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mx, uint64_t ns) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec += (long)(ns % 1000000000u);
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_cond_timedwait(cv, mx, &ts);
}
