#include "audio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jack/jack.h>
#include <sched.h>
#include <signal.h>
#include <sndfile.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

float *au_read_wav(const char *path, size_t *frames, int *channels, int *rate) {
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    if (sf == NULL)
        FAIL("cannot open %s: %s", path, sf_strerror(NULL));
    float *x = malloc((size_t)si.frames * (size_t)si.channels * sizeof *x + 4);
    sf_count_t got = sf_readf_float(sf, x, si.frames);
    sf_close(sf);
    *frames = (size_t)got;
    if (channels)
        *channels = si.channels;
    if (rate)
        *rate = si.samplerate;
    return x;
}

short *au_read_wav_s16(const char *path, size_t *frames, int *channels) {
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    if (sf == NULL)
        FAIL("cannot open %s: %s", path, sf_strerror(NULL));
    short *x = malloc((size_t)si.frames * (size_t)si.channels * sizeof *x + 4);
    sf_count_t got = sf_readf_short(sf, x, si.frames);
    sf_close(sf);
    *frames = (size_t)got;
    if (channels)
        *channels = si.channels;
    return x;
}

double au_measure_freq(const float *x, size_t n, size_t stride, double rate) {
    double first = -1, last = -1;
    long count = 0;
    for (size_t i = 1; i < n; i++) {
        double a = x[(i - 1) * stride], b = x[i * stride];
        if (a < 0 && b >= 0) {
            double t = (double)(i - 1) + a / (a - b);
            if (first < 0)
                first = t;
            last = t;
            count++;
        }
    }
    if (count < 2)
        return 0;
    return (double)(count - 1) * rate / (last - first);
}

void au_tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/rill-audio-%d-%s", (int)getpid(), tag);
}

static void quiet(const char *m) { (void)m; }

/* Servers still running when the test exits (a failed assertion calls
 * exit): stopped cleanly by an atexit handler. */
static pid_t running[8];
static char running_name[8][64];

static void stop_all(void) {
    for (int i = 0; i < 8; i++)
        if (running[i] > 0)
            au_jackd_stop(running[i]);
}

/* jackd2 keeps its servers in /dev/shm/jack-shm-registry: a 24-byte header
 * whose hdr_len (int32 at byte 16) ends after 8 equal server entries, each
 * starting with the server's pid. It reclaims a dead server's entry
 * only when a server of the same name starts, so every server that died
 * without cleaning up (killed, or its test aborted) keeps an entry for
 * good, and after eight no server starts at all ("Too many servers already
 * active"). Before starting one, clear the entries whose process no longer
 * exists, as jackd itself does for a same-name one. */
static void reclaim_dead_servers(void) {
    int fd = open("/dev/shm/jack-shm-registry", O_RDWR);
    if (fd < 0)
        return;
    /* Under JACK's own registry lock (libjack's shm.c: a SysV semaphore,
     * key 0x282929, taken with SEM_UNDO), so a server registering or a
     * second test reclaiming at the same moment never sees a half-cleared
     * entry, nor has its new one cleared. */
    int sem = semget(0x282929, 0, 0);
    struct sembuf take = {0, -1, SEM_UNDO}, give = {0, 1, SEM_UNDO};
    bool locked = sem >= 0 && semop(sem, &take, 1) == 0;
    int32_t hdr[6];
    if (pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
        hdr[0] == 0x4a41434b /* "JACK" */ && hdr[4] > 24 &&
        (hdr[4] - 24) % 8 == 0 && (hdr[4] - 24) / 8 <= 1024) {
        int32_t stride = (hdr[4] - 24) / 8; /* the header ends with the 8 */
        for (int i = 0; i < 8; i++) {
            off_t off = 24 + (off_t)i * stride;
            int32_t pid;
            if (pread(fd, &pid, sizeof pid, off) != (ssize_t)sizeof pid)
                break;
            if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
                char zero[1024] = {0};
                if (pwrite(fd, zero, (size_t)stride, off) != stride)
                    break;
            }
        }
    }
    if (locked)
        semop(sem, &give, 1);
    close(fd);
}

/* Whether this process may schedule a thread SCHED_FIFO (root, or an
 * rtprio limit): asked once, of a child, so nothing here changes. */
static bool realtime_allowed(void) {
    static int allowed = -1;
    if (allowed < 0) {
        pid_t pid = fork();
        if (pid == 0) {
            struct sched_param sp = {.sched_priority = 1};
            _exit(sched_setscheduler(0, SCHED_FIFO, &sp) == 0 ? 0 : 1);
        }
        int status = 0;
        allowed = pid > 0 && waitpid(pid, &status, 0) == pid &&
                  WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return allowed == 1;
}

pid_t au_jackd_start(char *name, size_t cap, unsigned rate, unsigned period,
                     unsigned loopback, bool sync) {
    static int serial;
    snprintf(name, cap, "rilltest-%d-%d", (int)getpid(), serial++);
    return au_jackd_start_named(name, rate, period, loopback, sync);
}

pid_t au_jackd_start_named(const char *name, unsigned rate, unsigned period,
                           unsigned loopback, bool sync) {
    static bool registered;
    if (!registered) {
        atexit(stop_all);
        registered = true;
    }
    reclaim_dead_servers();
    char r[16], p[16], l[16], logpath[128];
    snprintf(r, sizeof r, "%u", rate);
    snprintf(p, sizeof p, "%u", period);
    snprintf(l, sizeof l, "%u", loopback);
    snprintf(logpath, sizeof logpath, "/tmp/%s.log", name);
    /* Real-time scheduling where allowed: JACK is the tests' reference
     * clock, and on a loaded machine a jackd without it misses its own
     * cycles (its xruns), which no assertion about rill can tell apart. */
    char *argv[] = {"jackd", realtime_allowed() ? "-R" : "--no-realtime", "-n",
                    (char *)name, "-L", l, "-d", "dummy", "-r", r, "-p", p,
                    NULL, NULL};
    if (sync) { /* insert -S after the scheduling option */
        memmove(&argv[3], &argv[2], 11 * sizeof argv[0]);
        argv[2] = "-S";
    }
    /* fork + exec rather than posix_spawn, so the child can ask to be
     * killed when this process dies, however it dies (a failed assertion
     * exits, ctest may kill a timed-out test): no server outlives its
     * test. */
    pid_t pid = fork();
    if (pid < 0)
        FAIL("cannot fork for jackd: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* jackd cleans up on TERM */
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp("jackd", argv);
        _exit(127);
    }
    jack_set_error_function(quiet);
    jack_set_info_function(quiet);
    for (int i = 0; i < 500; i++) {
        jack_status_t st;
        jack_client_t *c = jack_client_open(
            "rilltest-probe", (jack_options_t)(JackNoStartServer | JackServerName),
            &st, name);
        if (c != NULL) {
            jack_client_close(c);
            /* The log stays until au_jackd_stop: a test whose client
             * cannot open reads the server's side of it there. */
            for (int k = 0; k < 8; k++)
                if (running[k] == 0) {
                    running[k] = pid;
                    snprintf(running_name[k], sizeof running_name[k], "%s", name);
                    break;
                }
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            FAIL("jackd -n %s exited at start (already running?); see %s",
                 name, logpath);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    au_jackd_stop(pid);
    FAIL("jackd %s did not accept clients within 5 s", name);
}

/* Stops a server and removes what a killed one would leave in /dev/shm
 * (its socket and semaphores), so stale entries never pile up. */
void au_jackd_stop(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            gone = true;
        else {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!gone) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    for (int k = 0; k < 8; k++)
        if (running[k] == pid) {
            char pat[600];
            glob_t g;
            snprintf(pat, sizeof pat, "/dev/shm/jack*_%s_*", running_name[k]);
            if (glob(pat, 0, NULL, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; i++)
                    unlink(g.gl_pathv[i]);
                globfree(&g);
            }
            snprintf(pat, sizeof pat, "/tmp/%s.log", running_name[k]);
            unlink(pat);
            running[k] = 0;
        }
}

void au_jackd_log_tail(const char *name, char *buf, size_t cap) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/%s.log", name);
    snprintf(buf, cap, "(no log at %s)", path);
    FILE *f = fopen(path, "r");
    if (f == NULL || cap < 2)
        goto out;
    long want = (long)cap - 1;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > want)
        fseek(f, -want, SEEK_END);
    else
        rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
out:
    if (f != NULL)
        fclose(f);
}
