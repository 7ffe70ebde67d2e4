/* The network thread's loop (net_main's turn: drain, send, sleep in
 * lws_service), what wakes it (the eventfd the tick thread and the other
 * threads write, the housekeeping timerfd), the drain of what the other
 * threads left, and libwebsockets' log lines, rate-limited at the fd
 * limit. server.c's callback calls in here; everything runs on the
 * network thread except rill__server_poke (any thread) and the lws log
 * hook (whichever thread lws logs from). */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/internal.h"

/* Housekeeping: programs' output, retried releases, compat drop notices,
 * and a backstop for everything else (the tick thread, the log writer,
 * the device-request thread and set_audio wake the network thread when
 * they have something): every 20 ms while programs run for pages, else
 * every 250 ms. A timerfd among the descriptors lws polls rather than an
 * lws timer: lws 4.1 turns the time left to its next timer into a poll()
 * timeout in whole milliseconds, rounded down, so it spun on poll(0) for
 * up to a millisecond before each expiry (30000 turns a second with a
 * stream running, seen with strace). */
#define RILL__HOUSEKEEPING_NS (20 * 1000 * 1000)
#define RILL__HOUSEKEEPING_IDLE_NS (250 * 1000 * 1000)

void rill__net_housekeeping(rill_server *srv, bool busy) {
    long ns = busy ? RILL__HOUSEKEEPING_NS : RILL__HOUSEKEEPING_IDLE_NS;
    if (srv->timer_wsi == NULL || srv->housekeeping_ns == ns)
        return;
    struct itimerspec its = {{0, ns}, {0, ns}};
    if (timerfd_settime(lws_get_socket_fd(srv->timer_wsi), 0, &its, NULL) == 0)
        srv->housekeeping_ns = ns;
}

/* What the tick thread left (its events, its records as messages), sent
 * at once. Runs whenever the network thread wakes with work in the ring:
 * see net_main. True when records are left (it takes a bounded number per
 * call). */
static bool drain_data(rill_server *srv) {
    bool more = rill__fanout(srv);
    rill__fanout_release(srv);
    rill__publish_rt(srv);
    rill__conns_flush(srv);
    return more;
}

/* Everything the other threads left for this one: the tick thread's
 * events and records, the log writer's events, the program's audio
 * changes, the programs run for pages. Runs on a slow timer (the tick
 * thread's data also wakes net_main at once). Connections whose waiting
 * message has run (control.c) read again here, their held messages first. */
void rill__net_drain(rill_server *srv) {
    rill__fanout(srv);
    rill__control_log_events(srv);
    rill__audio_announce(srv);
    rill__audio_answer(srv);
    rill__exec_poll(srv);
    rill__fanout_release(srv);
    for (rill__conn *c = srv->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->resume) {
            c->resume = false;
            rill__conn_resume(srv, c);
        }
    }
    for (rill__conn *c = srv->gone, *next; c != NULL; c = next) {
        next = c->next;
        if (c->resume)
            rill__conn_resume(srv, c); /* frees it */
    }
    rill__publish_rt(srv);
    rill__conns_flush(srv);
}

/* At the fd limit, libwebsockets fails to accept each waiting connection
 * again on every turn of its loop and logs a line each time ("accept:
 * errno 24"; "Too many fds", "Socket fd N is too high" at its own table's
 * limit): hundreds of thousands of lines a second, for as long as a
 * client waits, burying everything else. Those lines are reported once,
 * saying which limit was hit, then at most every 10 s with how many tries
 * failed meanwhile. lws's log hook is process-wide, so this state is too;
 * atomics, because the network threads of several servers may log. */
#define RILL__REFUSED_LOG_NS (10ull * 1000 * 1000 * 1000)
static _Atomic uint64_t refused_logged_ns; /* 0: never */
static atomic_ullong refused_since;

static bool refused_accept(const char *line, size_t n) {
    int err = 0;
    if (sscanf(line, "accept: errno %d", &err) != 1 &&
        strncmp(line, "Too many fds", 12) != 0 &&
        strncmp(line, "Socket fd ", 10) != 0)
        return false;
    uint64_t now = rill_clock_now_ns(), last = atomic_load(&refused_logged_ns);
    unsigned long long missed = atomic_fetch_add(&refused_since, 1) + 1;
    if ((last != 0 && now - last < RILL__REFUSED_LOG_NS) ||
        !atomic_compare_exchange_strong(&refused_logged_ns, &last, now))
        return true;
    atomic_fetch_sub(&refused_since, missed);
    struct rlimit rl;
    char limit[160];
    if (err == ENFILE) {
        snprintf(limit, sizeof limit,
                 "the system's open-file limit "
                 "(ENFILE: fs.file-max)");
    } else if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        snprintf(limit, sizeof limit,
                 "the process's open-file limit (RLIMIT_NOFILE, %llu "
                 "descriptors; raise it with ulimit -n)",
                 (unsigned long long)rl.rlim_cur);
    } else {
        snprintf(limit, sizeof limit, "the open-file limit");
    }
    if (last == 0)
        rill__log(RILL_LOG_ERROR,
                  "cannot accept connections: %s is reached (libwebsockets: "
                  "%.*s); said again at most every 10 s",
                  limit, (int)n, line);
    else
        rill__log(RILL_LOG_ERROR,
                  "still cannot accept connections at times: %s is reached; "
                  "%llu tries failed since the last report",
                  limit, missed);
    return true;
}

void rill__net_lws_log(int level, const char *line) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (refused_accept(line, n))
        return;
    rill__log(level == LLL_ERR ? RILL_LOG_ERROR : RILL_LOG_WARN,
              "libwebsockets: %.*s", (int)n, line);
}

/* A flood: the tick thread publishes records one or two at a time,
 * faster than the network thread sleeps. Waiting for each of them costs a
 * round trip per record or two (the tick thread's write(2) to the eventfd
 * and the wake-up it causes, the network thread's poll() and context
 * switch) and sends a record or two per system call: measured in
 * bench_server's floods, over twice the network thread's CPU per buffer
 * of napping. So after RILL__FLOOD_WAITS waits in a row that each ended,
 * within RILL__SHORT_WAIT_NS, with work from the tick thread, after less
 * than RILL__SMALL_DRAIN_BYTES of records since the wait before, the
 * network thread stops announcing its waits and naps instead
 * (RILL__NAP_NS, a plain sleep the tick thread never has to end), then
 * drains and sends everything the nap gathered in large batches, services
 * its sockets without waiting, and naps again; the first nap that gathers
 * nothing ends the flood and the waits are announced again. A stream paced
 * by a device (a block every 1.3 ms at 64 frames) waits far longer than
 * RILL__SHORT_WAIT_NS each time, and a flood that arrives in large bursts
 * (a block completing a buffer of each of 64 channels) already sends in
 * large batches, so neither naps: their buffers leave as soon as they
 * are complete. A napping flood's buffers wait at most a nap. */
#define RILL__SHORT_WAIT_NS (100u * 1000)
#define RILL__SMALL_DRAIN_BYTES (64u * 1024)
#define RILL__FLOOD_WAITS 8u
#define RILL__NAP_NS (100u * 1000)

static void nap(rill_server *srv) {
    atomic_fetch_add_explicit(&srv->dev.net_naps, 1, memory_order_relaxed);
    struct timespec ts = {0, RILL__NAP_NS};
    nanosleep(&ts, NULL);
}

/* The network thread. Each turn drains what the tick thread left and
 * sends it, then services the sockets: without waiting while records are
 * left, else after announcing the wait (rill__device_will_sleep), in poll()
 * on the sockets, lws's timers and the tick thread's eventfd, which the
 * tick thread writes at most once per such wait when it publishes
 * (var.c's wake_network). So a buffer leaves as soon as it is complete,
 * with no polling period, and an idle server sleeps until a socket, a
 * timer (housekeeping) or another thread has something. Under a flood it
 * naps between drains instead (see RILL__NAP_NS). */
/* Stopping: every WebSocket client gets a close frame that says so (1001,
 * going away), after what was queued for it, rather than a socket that
 * just ends; a client that does not take it within 250 ms is cut off by
 * the context's destruction as before. */
static void goodbye(rill_server *srv) {
    static const char why[] = "the server is stopping";
    for (rill__conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->wsi == NULL || c->closing)
            continue;
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)why,
                         sizeof why - 1);
        c->closing = true;
        lws_callback_on_writable(c->wsi);
    }
    uint64_t end = rill_clock_now_ns() + 250000000u;
    while (srv->conns != NULL && rill_clock_now_ns() < end) {
        if (lws_service(srv->ctx, -1) < 0)
            break;
        if (srv->conns != NULL)
            rill__sleep_ns(1000000u);
    }
}

void *rill__net_main(void *arg) {
    rill_server *srv = arg;
    unsigned short_waits = 0;
    bool napping = false;
    uint64_t drained_at_wait = 0;
    rill__net_drain(srv);
    while (!atomic_load(&srv->stop)) {
        bool work = rill__device_has_work(&srv->dev);
        bool more = work && drain_data(srv);
        if (napping && !work)
            napping = false; /* the last nap gathered nothing */
        bool wait = !more && !napping && rill__device_will_sleep(&srv->dev);
        uint64_t t0 = wait ? rill_clock_now_ns() : 0;
        int rc = lws_service(srv->ctx, wait ? 0 : -1);
        rill__device_awake(&srv->dev);
        if (rc < 0)
            break;
        if (atomic_exchange(&srv->poked, false))
            rill__net_drain(srv);
        if (more)
            continue;
        if (napping) {
            nap(srv);
            continue;
        }
        /* A wait that ended at once with the tick thread's work, or one
         * not even begun because work came first, after a small drain. */
        bool short_wait = rill__device_has_work(&srv->dev) &&
                          srv->drained_bytes - drained_at_wait <
                              RILL__SMALL_DRAIN_BYTES &&
                          (!wait || rill_clock_now_ns() - t0 <
                                        RILL__SHORT_WAIT_NS);
        drained_at_wait = srv->drained_bytes;
        short_waits = short_wait ? short_waits + 1 : 0;
        if (short_waits >= RILL__FLOOD_WAITS) {
            short_waits = 0;
            napping = true;
            nap(srv);
        }
    }
    goodbye(srv);
    return NULL;
}

void rill__server_poke_from(void *srv) {
    rill__server_poke(srv);
}

void rill__server_poke(rill_server *srv) {
    atomic_store(&srv->poked, true);
    if (srv->dev.wake_fd >= 0) {
        uint64_t one = 1;
        (void)!write(srv->dev.wake_fd, &one, sizeof one);
    }
}

/* The housekeeping timer, a timerfd that lws owns once adopted. */
static int adopt_timer_fd(rill_server *srv) {
    lws_sock_file_fd_type fd;
    fd.filefd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd.filefd < 0)
        return RILL_ESYS;
    struct itimerspec its = {{0, RILL__HOUSEKEEPING_NS},
                             {0, RILL__HOUSEKEEPING_NS}};
    srv->housekeeping_ns = RILL__HOUSEKEEPING_NS;
    if (timerfd_settime(fd.filefd, 0, &its, NULL) != 0) {
        close(fd.filefd);
        return RILL_ESYS;
    }
    srv->timer_wsi = lws_adopt_descriptor_vhost(
        srv->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "rill", NULL);
    if (srv->timer_wsi == NULL) {
        close(fd.filefd);
        return RILL_ESYS;
    }
    return 0;
}

/* The tick thread's eventfd joins the sockets lws polls. lws gets its own
 * descriptor of it (it closes what it adopted); the tick thread writes the
 * server's. */
static int adopt_wake_fd(rill_server *srv) {
    srv->dev.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->dev.wake_fd < 0)
        return RILL_ESYS;
    lws_sock_file_fd_type fd;
    fd.filefd = fcntl(srv->dev.wake_fd, F_DUPFD_CLOEXEC, 0);
    if (fd.filefd < 0)
        return RILL_ESYS;
    srv->wake_wsi = lws_adopt_descriptor_vhost(
        srv->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "rill", NULL);
    if (srv->wake_wsi == NULL) {
        close(fd.filefd);
        return RILL_ESYS;
    }
    return 0;
}

int rill__net_adopt_fds(rill_server *srv) {
    int rc = adopt_wake_fd(srv);
    return rc != 0 ? rc : adopt_timer_fd(srv);
}
