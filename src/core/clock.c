/* The monotonic clock every rill timestamp is measured against. */
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
