/* rill log: log variables on the device, wait until it has finished the
 * files, download and check them. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

static const char usage[] =
    "usage: rill log VAR... -d SECONDS [--at TICK] [-o DIR] [--url URL] [--token T]\n"
    "                [--timeout S]\n\n"
    "Log variables on the device for SECONDS seconds (dense variables: exactly\n"
    "SECONDS x rate values), starting at tick TICK (ahead of the device's\n"
    "clock) or now, then download the finished files (Watcher .bin format)\n"
    "into DIR (default .; made if missing) as DIR/VAR.bin, whatever the\n"
    "device named its file (frame+3.bin when it kept earlier logs). The\n"
    "device writes the files itself, so nothing is lost if this host is\n"
    "slow; a Bela board's files are copied with scp instead (the message\n"
    "says how). A file of the same name in DIR is kept: the download goes to\n"
    "VAR_<k>.bin, as pybela's copies do, and says so. The downloads are checked: values the device lost\n"
    "(a gap in a dense variable's ticks) are an error.\n"
    "On a terminal, progress (elapsed time, seconds logged, values and bytes of\n"
    "the dense variables) shows on standard error, then each file's values,\n"
    "bytes, drops and path; otherwise nothing but errors and the renamed\n"
    "downloads. Ctrl-C stops logging early and still downloads what was\n"
    "logged. A device whose disk cannot keep up drops buffers of the files: it\n"
    "says so, and so does this (exit 1).\n"
    HOST_URL_HELP
    "\nexamples:\n"
    "  rill log sine noise -d 2 -o logs\n"
    "  rill info logs/sine.bin\n";

/* What a downloaded log holds in [start, end): values with rising ticks
 * (the Watcher pads the last body with zeros) and, for a dense variable,
 * the ticks missing between them (bodies the device lost). */
static int inspect(const char *path, rill_ts_mode mode, uint64_t start, uint64_t end,
                   uint64_t *values, uint64_t *missing) {
    rill_file_reader *r = NULL;
    int rc = rill_file_reader_open(path, mode, &r);
    *values = *missing = 0;
    if (rc != 0)
        return rc;
    rill_file_buffer b;
    uint64_t prev = 0;
    bool any = false;
    while ((rc = rill_file_reader_next(r, &b)) == 0) {
        for (size_t i = 0; i < b.count; i++) {
            uint64_t t = b.timestamps[i];
            if (t < start || t >= end || (any && t <= prev))
                continue;
            if (any && mode == RILL_TS_DENSE)
                *missing += t - prev - 1;
            prev = t;
            any = true;
            (*values)++;
        }
    }
    rill_file_reader_close(r);
    return rc == RILL_EEMPTY ? 0 : rc;
}

/* The log's progress on a terminal: `ticks` of `dur` logged; a dense
 * variable logs one value per tick, sparse ones are counted once
 * downloaded. */
static void progress(double elapsed, uint64_t ticks, uint64_t dur, double rate,
                     const rill_client_var *const *vars, size_t n) {
    uint64_t values = 0, bytes = 0;
    bool sparse = false;
    for (size_t i = 0; i < n; i++) {
        sparse |= vars[i]->mode == RILL_TS_SPARSE;
        if (vars[i]->mode == RILL_TS_DENSE) {
            values += ticks;
            bytes += ticks * rill_type_size(vars[i]->type);
        }
    }
    fprintf(stderr, "\r%.1f s, %.2f of %.2f s logged, %llu values, %.1f kB%s ", elapsed,
            (double)ticks / rate, (double)dur / rate, (unsigned long long)values,
            (double)bytes / 1e3, sparse ? " (+ sparse)" : "");
}

/* Wait for the device to finish the files (its log-ended notices), with
 * progress on a terminal. The ticks logged so far are estimated from the
 * device's clock at `listed` (its tick then) and its rate, since nothing
 * but the end is announced. Returns the status to download with, or -1
 * when the connection is gone (nothing more to do). */
static int wait_logged(const host *h, rill_client *cl, const rill_client_log_file *files,
                       const rill_client_var *const *vars, size_t n,
                       const rill_client_list *listed, uint64_t listed_ns,
                       uint64_t start, uint64_t dur) {
    bool tty = host_tty();
    double rate = listed->sample_rate > 0 ? listed->sample_rate : 1;
    /* Until the device's clock passes the end, plus slack for a device
     * that is slower than its rate says. */
    double wait_s = (double)(start + dur - listed->timestamp) / rate + 10;
    uint64_t t0 = rill_clock_now_ns();
    int status = EXIT_OK;
    for (;;) {
        int rc = rill_client_log_wait(cl, files, n, 100);
        double elapsed = (double)(rill_clock_now_ns() - t0) / 1e9;
        double now = (double)listed->timestamp +
                     (double)(rill_clock_now_ns() - listed_ns) / 1e9 * rate;
        uint64_t ticks = rc == 0 || rc == RILL_EIO ? dur
                         : now > (double)start   ? (uint64_t)fmin(now - (double)start, (double)dur)
                                                 : 0;
        if (tty)
            progress(elapsed, ticks, dur, rate, vars, n);
        if (rc == 0)
            break;
        if (rc == RILL_EIO) {
            /* on_error said which file; what it holds is still downloaded. */
            status = host_fail(h, EXIT_FAILED, "%sthe device could not write all of a "
                               "log file (see above); downloading what it holds",
                               tty ? "\n" : "");
            break;
        }
        if (rc != RILL_ETIMEOUT) {
            host_fail(h, EXIT_FAILED, "%slost %s after %.1f s: %s; the device keeps what "
                      "it logged", tty ? "\n" : "", h->url, elapsed, rill_strerror(rc));
            return -1;
        }
        if (host_interrupted())
            break;
        if (elapsed > wait_s) {
            host_fail(h, EXIT_FAILED, "%sthe device has not finished after %.0f s; "
                      "stopping it", tty ? "\n" : "", elapsed);
            break;
        }
    }
    if (tty)
        fputc('\n', stderr);
    return status;
}

/* The device's log writer fell behind (I/O thread): say it now; the
 * command fails at the end. */
static atomic_bool device_dropped;

static void on_event(rill_client *cl, const rill_client_event *ev, void *user) {
    (void)cl;
    if (ev->kind != RILL_CLIENT_EVENT_LOG_DROPPED)
        return;
    atomic_store(&device_dropped, true);
    host_fail(user, EXIT_FAILED, "%s", ev->msg);
}

/* `name` for a URL's path: every byte but letters, digits and "-._~" as
 * %XX (a '+' would reach the server as a space). */
static const char *url_escape(const char *name, char *out, size_t cap) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 <= cap; p++) {
        if (isalnum(*p) || strchr("-._~", *p) != NULL)
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
    }
    out[o] = '\0';
    return out;
}

/* Where a download goes: DIR/VAR.bin, whatever the device's file is
 * called (VAR+3.bin on a device that kept earlier logs: its directory's
 * history, not this run's), or, as pybela names its copies, the first free
 * DIR/VAR_<k>.bin when that holds an earlier run's file (said on stderr: a
 * script looking for DIR/VAR.bin must hear of it). */
static void download_path(const host *h, const char *dir, const char *var, char *path,
                          size_t cap) {
    char want[4096];
    snprintf(want, sizeof want, "%s/%s.bin", dir, var);
    if (free_path(want, path, cap))
        fprintf(stderr, "%s: %s exists (kept); the download goes to %s\n", h->cmd, want,
                path);
}

/* Download each file into `dir` and check it. */
static int download(const host *h, rill_client *cl, const char *dir,
                    const rill_client_log_file *files, const char *const *names,
                    const rill_client_var *const *vars, size_t n, uint64_t start,
                    uint64_t end, uint64_t asked) {
    bool tty = host_tty();
    int status = EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        download_path(h, dir, names[i], path, sizeof path);
        int shown = 0;
        if (tty)
            shown = fprintf(stderr, "%s: downloading %s (%zu of %zu)", h->cmd,
                            files[i].name, i + 1, n);
        /* A finished file is served at once; the retries cover a device
         * that has not closed it yet: 10 s, or --timeout if longer. */
        int retry_ms = h->timeout_ms > 10000 ? h->timeout_ms : 10000;
        char why[512];
        host_capture_begin();
        int rc = rill_client_fetch(cl, files[i].name, path, retry_ms);
        host_capture_end(why, sizeof why);
        if (shown > 0)
            fprintf(stderr, "\r%*s\r", shown, "");
        if (rc != 0) {
            /* Nothing is lost: the file stays on the device (for a Bela
             * board, the library's reason says how to copy it). */
            char hostname[256], where[1200] = "", esc[3 * sizeof files[i].name];
            int port = 0;
            if (rc != RILL_ENOTSUP &&
                rill_client_parse_url(h->url, hostname, sizeof hostname, &port, NULL,
                                      0) == 0)
                snprintf(where, sizeof where,
                         "; it stays on the device: curl -fo %s 'http://%s%s%s:%d/files/%s%s'",
                         files[i].name, strchr(hostname, ':') ? "[" : "", hostname,
                         strchr(hostname, ':') ? "]" : "", port,
                         url_escape(files[i].name, esc, sizeof esc),
                         h->token != NULL ? "?token=YOUR_TOKEN" : "");
            status = host_fail(h, EXIT_FAILED, "%s: the device's file %s was not "
                               "downloaded: %s%s", names[i], files[i].name,
                               why[0] != '\0' ? why : rill_strerror(rc), where);
            continue;
        }
        /* The span the device announced: a start tick that had passed
         * when it took the command (a loaded device) began "now", with the
         * whole duration after it; those ticks were never asked of the
         * program, so they are not lost. It announces the duration asked
         * (one tick less than the values: see cmd_log). */
        uint64_t from = start, to = end;
        if (rill_client_log_span(cl, files[i].name, &from, &to) != 0 || to < from ||
            to - from != asked)
            from = start;
        to = from + (end - start);
        if (tty && from != start)
            fprintf(stderr, "%s: %s: the device began %llu ticks after the tick asked\n",
                    h->cmd, names[i], (unsigned long long)(from - start));
        uint64_t values = 0, missing = 0;
        rc = inspect(path, vars[i]->mode, from, to, &values, &missing);
        if (rc != 0) {
            status = host_fail(h, EXIT_FAILED, "%s: %s is damaged: %s", names[i], path,
                               rill_strerror(rc));
            continue;
        }
        /* A dense log that was not stopped early has a value for every tick
         * [start, end): one that ends short lost its last buffers (they
         * were dropped on the device), which no gap between values shows. */
        if (vars[i]->mode == RILL_TS_DENSE && !host_interrupted() &&
            values + missing < to - from)
            missing = to - from - values;
        if (missing != 0)
            status = host_fail(h, EXIT_FAILED, "%s: %llu values were lost on the device "
                               "(missing from %s)", names[i], (unsigned long long)missing,
                               path);
        struct stat fs;
        if (tty && stat(path, &fs) == 0)
            fprintf(stderr, "%s: %s: %llu values, %lld bytes, %llu dropped -> %s\n", h->cmd,
                    names[i], (unsigned long long)values, (long long)fs.st_size,
                    (unsigned long long)missing, path);
    }
    return status;
}

int cmd_log(int argc, char **argv) {
    static const struct option opts[] = {{"duration", required_argument, NULL, 'd'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"output", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    host h;
    host_init(&h, argc, argv, usage, "d:o:", opts);
    const char *dir = ".";
    double seconds = 0;
    uint64_t at = 0;
    int c, status;
    while ((c = host_next(&h)) > 0) {
        if (c == 'd' && !parse_seconds("log", "-d", optarg, &seconds))
            return EXIT_USAGE;
        if (c == 'a' && !parse_tick("log", optarg, &at))
            return EXIT_USAGE;
        if (c == 'o' && strcmp(optarg, "-") == 0) {
            fprintf(stderr, "rill log: -o - : the device's files are downloaded into a "
                            "directory, -o DIR (rill stream writes standard output)\n");
            return EXIT_USAGE;
        }
        if (c == 'o')
            dir = optarg;
    }
    if (c == CLI_STOP)
        return h.opts.status;
    if ((status = cli_args(&h.opts, 1, SIZE_MAX)) >= 0)
        return status;
    if (seconds <= 0) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    struct stat st;
    bool dir_exists = stat(dir, &st) == 0, made_dir = false;
    if (dir_exists && !S_ISDIR(st.st_mode))
        return host_fail(&h, EXIT_USAGE, "-o %s is not a directory", dir);
    const char *const *names = (const char *const *)(argv + optind);
    size_t n = (size_t)(argc - optind);
    rill_client_config cfg = rill_client_config_default();
    cfg.on_event = on_event;
    cfg.user = &h;
    rill_client *cl = host_connect(&h, cfg, &status);
    if (cl == NULL)
        return status;
    rill_client_log_file *files = calloc(n, sizeof *files);
    const rill_client_var **vars = calloc(n, sizeof *vars);
    rill_client_list *l = NULL;
    if (files == NULL || vars == NULL) {
        status = host_fail(&h, EXIT_FAILED, "out of memory");
        goto out;
    }
    if ((l = host_list(&h, cl, names, n, vars, &status)) == NULL)
        goto out;
    /* Made before logging starts (as rill stream makes its -o DIR), so a
     * directory that cannot be made is said before the device logs. */
    if (!dir_exists) {
        if (mkdir(dir, 0755) != 0) {
            status = host_fail(&h, EXIT_FAILED, "cannot create directory %s: %s", dir,
                               strerror(errno));
            goto out;
        }
        made_dir = true;
    }
    uint64_t listed_ns = rill_clock_now_ns();
    double rate = l->sample_rate > 0 ? l->sample_rate : 1;
    uint64_t dur = (uint64_t)llround(seconds * rate), start = at;
    if (dur == 0) {
        status = host_fail(&h, EXIT_USAGE, "-d %g is less than one tick at %g Hz", seconds,
                           rate);
        goto out;
    }
    if (at != 0 && !host_at_ahead(&h, at, l)) {
        status = EXIT_USAGE;
        goto out;
    }
    /* A device logs the value of the end tick too (the Watcher's D + 1
     * values, which pybela's Logger keeps): asked for one tick less, the
     * file holds exactly the ticks [start, start + dur). One tick cannot
     * be asked so (a duration of 0 has no end): it logs two. */
    rill_client_stream_opts so = {0, dur > 1 ? dur - 1 : 1, 0, 0};
    int rc = at != 0 ? 0 : rill_client_start_tick(cl, &start);
    so.start = start;
    if (rc == 0)
        rc = rill_client_log_start(cl, names, n, &so, files);
    if (rc != 0) {
        status = host_fail(&h, EXIT_FAILED, "cannot start logging: %s", rill_strerror(rc));
        goto out;
    }
    /* A variable the device refused (no room for its stream) has no file:
     * the library has said why; the others are stopped, so the command
     * does all it was asked or nothing. */
    for (size_t i = 0; i < n; i++)
        if (files[i].name[0] == '\0') {
            rill_client_log_stop(cl, names, n);
            status = host_fail(&h, EXIT_FAILED, "the device refused to log %s (its reason is "
                               "above)%s", names[i],
                               n > 1 ? "; the others were stopped, nothing downloaded" : "");
            goto out;
        }
    host_catch_interrupt();
    if ((status = wait_logged(&h, cl, files, vars, n, l, listed_ns, start, dur)) < 0) {
        status = EXIT_FAILED;
        goto out;
    }
    if ((rc = rill_client_log_stop(cl, names, n)) != 0) {
        status = host_fail(&h, EXIT_FAILED, "cannot stop logging: %s", rill_strerror(rc));
        goto out;
    }
    if (download(&h, cl, dir, files, names, vars, n, start, start + dur, so.duration) !=
            EXIT_OK ||
        atomic_load(&device_dropped))
        status = EXIT_FAILED;
out:
    if (made_dir)
        rmdir(dir); /* only if this run put nothing in it */
    rill_client_list_free(l);
    rill_client_destroy(cl);
    free(files);
    free(vars);
    return status;
}
