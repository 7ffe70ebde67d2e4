/* rill stream: variables to files or standard output as they arrive.
 *
 * Three threads. The client's I/O thread takes what the request asks for
 * from each buffer (on_buffer) and hands it to the writer thread
 * (stream_writer.c) through a bounded ring, never waiting for a disk; the
 * writer thread writes files or standard output; this thread starts the
 * stream, shows progress, and stops at the end, at Ctrl-C, when the
 * connection is lost or at the first failed write. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "stream_nats.h"
#include "stream_writer.h"

static const char usage[] =
    "usage: rill stream VAR... [-n N | -d SECONDS] [--at TICK] [-o DIR [--force]]\n"
    "                   [--format bin|csv|jsonl|wav|flac] [--reconnect]\n"
    "                   [--url URL] [--token T] [--timeout S]\n"
    "       rill stream --nats URL [--replay live|all|seq:N|time:T] [--stream S]\n"
    "                   PREFIX.DEVICE.VAR... [-n N | -d SECONDS] [-o DIR] ...\n\n"
    "Stream variables from the device. With -o, each goes to DIR/<var>.<format>\n"
    "(default format csv; DIR is created), written as it arrives; without (or\n"
    "-o -), lines 'var,tick,value' go to standard output. A file that is there\n"
    "already is kept: the command refuses before connecting (or, if one\n"
    "appears meanwhile, before writing), unless --force (write over it). -n\n"
    "takes exactly N values of each variable; -d the values of the ticks of\n"
    "SECONDS seconds (dense variables: exactly SECONDS x rate values; sparse\n"
    "ones: those set in that time); without either, streaming goes on until\n"
    "Ctrl-C. Every variable starts at the same tick: now, or TICK\n"
    "(ahead of the device's clock). Values come within a fraction of a second\n"
    "at any rate: below audio rates in shorter buffers than a Bela's (a rill\n"
    "device; a Bela board sends its own: 1024 values at 100 Hz take 10 s).\n"
    "wav and flac hold dense numeric variables only, jsonl no char variables:\n"
    "a format that cannot hold a variable is refused before anything is written.\n"
    "bin is the Bela log format (pybela reads it): whole Bela buffers, so the\n"
    "last is zero-padded and padding reads back as zeros (-n 100 of an int32\n"
    "gives 1024 values); the other formats hold exactly what arrived.\n"
    "A disk (or reader of standard output) may stall for 2 to 4 seconds before\n"
    "buffers are dropped; drops are reported, and the first failed write (a\n"
    "full disk) stops the command with whole rows and records in every file.\n"
    "On a terminal, progress (elapsed time, values, bytes, drops) shows on\n"
    "standard error, and where each file went; otherwise nothing but errors.\n"
    "A connection that breaks (or a link silent for 1 s plus --timeout, 6 s by\n"
    "default) ends the command with an error, unless --reconnect: then it\n"
    "connects again (as long as it takes; Ctrl-C stops it), streams on, and\n"
    "says which ticks of each variable are missing (exit 1 at the end: the\n"
    "files have those gaps).\n"
    HOST_URL_HELP
    "--nats URL reads a device bridged by rill bridge from NATS JetStream\n"
    "instead (several servers of a cluster comma-separated): live, or replayed\n"
    "from the start of retention, a stream sequence or a Unix time; missing\n"
    "spans are said on stderr and exit 1 (docs/SCALE.md).\n"
    "\nexamples:\n"
    "  rill stream frame -n 44100 -o data --format wav\n"
    "  rill stream sine noise -d 2 -o data\n"
    "  rill stream events -d 5 | head\n"
    "  rill stream --nats nats://hub:4222 rill.board1.sine -n 48000\n";

typedef struct args {
    const char *const *names;
    size_t n;
    const char *dir, *fmt_name;
    rill_file_format fmt;
    double n_values, seconds;
    uint64_t at;
    stream_nats nats; /* --nats: stream_nats.h */
    bool reconnect, force;
} args;

/* One variable. The I/O thread owns the counts; `done` is read by the
 * main thread while it runs, the rest once the client is destroyed. */
typedef struct var_out {
    const rill_client_var *var;
    rill_file_writer *file;
    bool created;        /* the file exists (this run created it) */
    uint64_t have, want; /* values taken; want 0: no limit */
    uint64_t next_ts;
    uint64_t skipped, skip_from, skip_to; /* ticks the device never produced */
    bool gap;
    uint64_t lost_ticks, lost_gaps; /* --reconnect: ticks never delivered */
    bool restarted;                  /* --reconnect: the device restarted */
    atomic_bool done;
} var_out;

typedef struct stream_ctx {
    var_out *_Atomic outs; /* NULL until streaming is set up */
    size_t n;
    uint64_t start;   /* the start tick: earlier buffers are not this run's */
    bool scheduled;   /* -d: the library keeps exactly the ticks asked */
    stream_writer *writer;
    atomic_uint_fast64_t drops; /* buffers lost in transit */
    atomic_bool lost;           /* the connection failed */
    atomic_bool refused;        /* the device refused a command */
    const host *h;              /* for --reconnect's messages */
} stream_ctx;

/* I/O thread: the library has logged why. A lost connection ends the
 * stream, and so does a refused command (the device has no room for the
 * stream: nothing would come); an undecodable message (a stray one on a
 * NATS subject) is said, skipped, and any values it cost show as a gap at
 * the end. */
static void on_error(rill_client *cl, int err, const char *msg, void *user) {
    (void)cl;
    (void)msg;
    if (err == RILL_ECLOSED)
        atomic_store(&((stream_ctx *)user)->lost, true);
    else if (err == RILL_EINVAL)
        atomic_store(&((stream_ctx *)user)->refused, true);
}

/* I/O thread, --reconnect: the connection was lost and restored; each
 * streamed variable's gap is said now and counted for the end. */
static void on_event(rill_client *cl, const rill_client_event *ev, void *user) {
    (void)cl;
    stream_ctx *ctx = user;
    host_fail(ctx->h, EXIT_FAILED, "%s", ev->msg);
    var_out *outs = atomic_load(&ctx->outs);
    if (ev->kind != RILL_CLIENT_EVENT_GAP || outs == NULL)
        return;
    for (size_t i = 0; i < ctx->n; i++) {
        var_out *o = &outs[i];
        if (o->var->id != ev->var_id)
            continue;
        o->lost_ticks += ev->ticks;
        o->lost_gaps++;
        o->restarted |= ev->restarted;
        /* The values go on from `resumed`: no clock jump. */
        if (o->have != 0)
            o->next_ts = ev->resumed;
    }
}

/* I/O thread: take what the request asks for, in order, and hand it to
 * the writer. A -d stream is a schedule: the library delivers exactly its
 * ticks and marks the end `last`. -n takes N values of each variable from
 * the start tick on. Buffers from before the start are another run's: an
 * earlier one of this client, or, on a Bela, whose watch streams every
 * client shares, another client's. */
static void on_buffer(rill_client *cl, const rill_client_buffer *b, void *user) {
    (void)cl;
    stream_ctx *ctx = user;
    var_out *outs = atomic_load(&ctx->outs);
    size_t i = 0;
    while (outs != NULL && i < ctx->n && outs[i].var->id != b->var_id)
        i++;
    if (outs == NULL || i == ctx->n || atomic_load(&outs[i].done) ||
        (b->first_ts < ctx->start && !b->last))
        return;
    var_out *o = &outs[i];
    atomic_fetch_add(&ctx->drops, b->dropped);
    size_t k = b->count;
    if (o->want != 0 && o->have + k > o->want)
        k = (size_t)(o->want - o->have);
    /* Both are reported at the end; the data stays. */
    if (b->dropped != 0) {
        o->gap = true;
    } else if (k != 0 && o->have != 0 && b->mode == RILL_TS_DENSE &&
               b->first_ts != o->next_ts) {
        /* Nothing was dropped on the way, yet the ticks jumped: the device's
         * clock skipped them (an audio xrun, or a source that restarted). */
        if (o->skipped == 0) {
            o->skip_from = o->next_ts;
            o->skip_to = b->first_ts;
        }
        o->skipped++;
    }
    if (k != 0) {
        stream_writer_push(ctx->writer, i, b->first_ts, b->values, k, b->rel);
        o->have += k;
        o->next_ts = b->first_ts + b->count;
    }
    if ((o->want != 0 && o->have >= o->want) || b->last)
        atomic_store(&o->done, true);
}

static void path_of(char *path, size_t cap, const args *a, const char *name) {
    snprintf(path, cap, "%s/%s.%s", a->dir, name, a->fmt_name);
}

/* Everything that can be refused is, before any file exists: EXIT_OK, or
 * the status after saying why. */
static int check(const host *h, const args *a, const rill_client_list *l, var_out *outs,
                 uint64_t dur) {
    if (a->seconds > 0 && dur == 0)
        return host_fail(h, EXIT_USAGE, "-d %g is less than one tick at %g Hz", a->seconds,
                         l->sample_rate);
    for (size_t i = 0; a->dir != NULL && i < a->n; i++) {
        rill_file_info fi = {outs[i].var->name, outs[i].var->type, outs[i].var->mode,
                             l->sample_rate > 0 ? l->sample_rate : 1};
        char why[256];
        if (rill_file_format_check(a->fmt, &fi, why, sizeof why) != 0)
            return host_fail(h, EXIT_USAGE, "%s; nothing was written", why);
    }
    if (a->at != 0 && !host_at_ahead(h, a->at, l))
        return EXIT_USAGE;
    return EXIT_OK;
}

/* Close every file; with `discard`, remove those this run created, else
 * say on a terminal where each went. EXIT_FAILED if one did not close. */
static int close_outputs(const args *a, var_out *outs, const stream_writer *w,
                         bool discard) {
    int status = EXIT_OK;
    for (size_t i = 0; outs != NULL && i < a->n; i++) {
        if (outs[i].file != NULL && rill_file_writer_close(outs[i].file) != 0)
            status = EXIT_FAILED;
        outs[i].file = NULL;
        if (!outs[i].created)
            continue;
        char path[4096];
        path_of(path, sizeof path, a, outs[i].var->name);
        if (discard)
            unlink(path);
        else if (host_tty())
            fprintf(stderr, "rill stream: %s: %llu values -> %s\n", outs[i].var->name,
                    (unsigned long long)(w != NULL ? stream_writer_values(w, i) : 0), path);
    }
    return status;
}

/* DIR and a file per variable: EXIT_OK, or the status after saying why
 * (and removing what this run created). */
static int open_outputs(const host *h, const args *a, const rill_client_list *l,
                        var_out *outs) {
    if (a->dir == NULL)
        return EXIT_OK;
    if (mkdir(a->dir, 0755) != 0 && errno != EEXIST)
        return host_fail(h, EXIT_FAILED, "cannot create directory %s: %s", a->dir,
                         strerror(errno));
    /* --force replaces files, never a directory: refused before any file
     * is touched. */
    for (size_t i = 0; i < a->n && a->force; i++) {
        char path[4096];
        struct stat st;
        path_of(path, sizeof path, a, outs[i].var->name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return host_fail(h, EXIT_FAILED, "cannot replace %s: it is a directory; nothing "
                             "was written", path);
    }
    for (size_t i = 0; i < a->n; i++) {
        const rill_client_var *v = outs[i].var;
        char path[4096];
        path_of(path, sizeof path, a, outs[i].var->name);
        /* Claim the name first: the check before connecting cannot see
         * another command that starts writing into DIR meanwhile (two rill
         * stream -o DIR at once), and the writer truncates. --force
         * replaces what is there: a link is replaced, not written through. */
        int err = claim_path(path, a->force);
        if (err == EEXIST && !a->force) {
            close_outputs(a, outs, NULL, true);
            return host_fail(h, EXIT_FAILED, "%s appeared while this command started "
                             "(another one writing into %s?); it was kept and nothing "
                             "was written: give another -o DIR", path, a->dir);
        }
        if (err != 0 && a->force) {
            close_outputs(a, outs, NULL, true);
            return host_fail(h, EXIT_FAILED, "cannot replace %s: %s; nothing was kept", path,
                             strerror(err));
        }
        bool claimed = err == 0;
        rill_file_info info = {v->name, v->type, v->mode, l->sample_rate};
        int rc = rill_file_writer_create(path, a->fmt, &info, &outs[i].file);
        outs[i].created = rc == 0;
        if (rc != 0) {
            if (rc != RILL_EIO || claimed)
                unlink(path); /* created empty, then refused */
            close_outputs(a, outs, NULL, true);
            return host_fail(h, EXIT_FAILED, "cannot write %s: %s; nothing was kept", path,
                             rill_strerror(rc));
        }
    }
    return EXIT_OK;
}

/* The writer's ring: 2 to 4 s of the variables' values (sparse ones
 * counted as if set at every tick, their most) and record headers: the
 * largest power of two (a ring's size) within 4 s, at least 1 MiB, at
 * most 256 MiB. */
static size_t ring_bytes(const var_out *outs, size_t n, double rate) {
    double per_tick = 0;
    for (size_t i = 0; i < n; i++)
        per_tick += (double)rill_type_size(outs[i].var->type) +
                    (outs[i].var->mode == RILL_TS_SPARSE ? 4 : 0) + 0.1;
    size_t bytes = 1 << 20;
    while (bytes < ((size_t)256 << 20) && 2.0 * (double)bytes <= 4 * rate * per_tick)
        bytes *= 2;
    return bytes;
}

/* Progress on a terminal: elapsed time, values written, kB, drops. */
static void progress(const stream_ctx *ctx, double elapsed) {
    uint64_t values = 0, drops = atomic_load(&ctx->drops);
    for (size_t i = 0; i < ctx->n; i++) {
        values += stream_writer_values(ctx->writer, i);
        drops += stream_writer_dropped(ctx->writer, i);
    }
    fprintf(stderr, "\r%.1f s, %llu values, %.1f kB, %llu dropped ", elapsed,
            (unsigned long long)values, (double)stream_writer_bytes(ctx->writer) / 1e3,
            (unsigned long long)drops);
}

/* When a schedule's wait gives up: seconds after the start, the tick the
 * device must reach, the last tick seen, the rate. */
typedef struct {
    double limit_s;
    uint64_t end, seen;
    double rate;
} deadline;

/* The safety net of a schedule: past dl->limit_s, give the device more
 * time as long as its clock moves toward the end (a slow rate, a long
 * block: ticks come in bursts seconds apart). False when it has stopped,
 * or has passed the end without ending the stream, after saying which. */
static bool extend(const host *h, rill_client *cl, deadline *dl, double elapsed) {
    rill_client_list *l = NULL;
    if (rill_client_list_vars(cl, &l) != 0)
        return false;
    uint64_t now = l->timestamp;
    rill_client_list_free(l);
    if (now > dl->seen && now < dl->end) {
        dl->seen = now;
        dl->limit_s = elapsed + (double)(dl->end - now) / dl->rate + 5.0;
        return true;
    }
    dl->limit_s = elapsed;
    if (now < dl->end)
        host_fail(h, EXIT_FAILED, "%sthe device's clock stopped at tick %llu, short of "
                  "the stream's end at tick %llu", host_tty() ? "\n" : "",
                  (unsigned long long)now, (unsigned long long)dl->end);
    return false;
}

/* Until the stream is complete, Ctrl-C, a lost connection or a failed
 * write. A -d stream is a schedule the device ends itself; `limit_s` is
 * the safety net for one that does not (its clock stopped). Returns
 * EXIT_OK to report, or EXIT_FAILED after saying why. */
static int run(const host *h, const args *a, rill_client *cl, stream_ctx *ctx,
               var_out *outs, uint64_t t0, deadline *dl, bool *timed) {
    bool tty = host_tty();
    for (;;) {
        bool finished = false;
        if (ctx->scheduled) {
            int rc = rill_client_wait(cl, 100);
            finished = rc == 0 || rc == RILL_EIO; /* EIO: gaps, said per variable */
            if (rc == RILL_ECLOSED)
                atomic_store(&ctx->lost, true);
        } else {
            usleep(100000);
            finished = true;
            for (size_t i = 0; i < ctx->n; i++)
                finished &= outs[i].want != 0 && atomic_load(&outs[i].done);
        }
        double elapsed = (double)(rill_clock_now_ns() - t0) / 1e9;
        if (tty)
            progress(ctx, elapsed);
        *timed = dl->limit_s > 0 && elapsed > dl->limit_s && !extend(h, cl, dl, elapsed);
        if (atomic_load(&ctx->lost))
            return host_fail(h, EXIT_FAILED, "%sthe connection to %s was lost after %.1f s%s",
                             tty ? "\n" : "", h->url, elapsed,
                             a->dir != NULL ? "; the files keep what arrived" : "");
        if (atomic_load(&ctx->refused))
            return EXIT_FAILED; /* said once the writer has written what came */
        if (stream_writer_failed(ctx->writer, NULL) != 0)
            return EXIT_FAILED; /* said once the writer has finished */
        if (finished || host_interrupted() || *timed)
            return EXIT_OK;
    }
}

/* What went wrong with each variable, and with the writing. */
static int report(const host *h, const args *a, const stream_ctx *ctx, const var_out *outs,
                  bool timed, double limit_s) {
    int status = EXIT_OK;
    size_t which = 0;
    int werr = stream_writer_failed(ctx->writer, &which);
    if (werr != 0 && a->dir == NULL)
        return host_fail(h, EXIT_FAILED, "writing standard output failed: %s; stopped "
                         "there", rill_strerror(werr));
    if (werr != 0) {
        char path[4096];
        path_of(path, sizeof path, a, outs[which].var->name);
        return host_fail(h, EXIT_FAILED, "writing %s failed: %s; stopped there (every file "
                         "ends with a whole row or record)", path, rill_strerror(werr));
    }
    for (size_t i = 0; i < a->n; i++) {
        const var_out *o = &outs[i];
        const char *name = o->var->name;
        if (o->gap)
            status = host_fail(h, EXIT_FAILED, "%s: buffers were lost in transit (drops "
                               "are counted in the progress line)", name);
        uint64_t dropped = stream_writer_dropped(ctx->writer, i);
        if (dropped != 0)
            status = host_fail(h, EXIT_FAILED, "%s: %llu buffers were dropped: %s could not "
                               "keep up", name, (unsigned long long)dropped,
                               a->dir != NULL ? "the disk" : "standard output");
        if (o->lost_gaps != 0)
            status = host_fail(h, EXIT_FAILED, "%s: %llu ticks are missing in %llu gap%s%s "
                               "(the connection was lost: see above); the %s has the gap%s",
                               name, (unsigned long long)o->lost_ticks,
                               (unsigned long long)o->lost_gaps, o->lost_gaps > 1 ? "s" : "",
                               o->restarted ? ", and the device restarted meanwhile" : "",
                               a->dir != NULL ? "file" : "output",
                               o->lost_gaps > 1 ? "s" : "");
        if (o->skipped != 0)
            status = host_fail(h, EXIT_FAILED, "%s: the device's clock jumped from tick "
                               "%llu to %llu%s (an audio xrun or a restarted source: those "
                               "values were never produced); the file has the gap", name,
                               (unsigned long long)o->skip_from,
                               (unsigned long long)o->skip_to,
                               o->skipped > 1 ? " and more" : "");
        if (host_interrupted())
            continue;
        if (o->want != 0 && o->have < o->want)
            status = host_fail(h, EXIT_FAILED, "%s: %llu of %llu values arrived", name,
                               (unsigned long long)o->have, (unsigned long long)o->want);
        else if (timed && !atomic_load(&o->done))
            status = host_fail(h, EXIT_FAILED, "%s: the device had not ended the stream "
                               "after %.0f s; %llu values arrived", name, limit_s,
                               (unsigned long long)o->have);
    }
    return status;
}

/* Start streaming at ctx->start: -d (and -n of dense variables) as a
 * schedule of exactly its ticks (the device ends it), otherwise until
 * stopped. Each variable's buffers are sized for a live view at the
 * device's rate (RILL_CLIENT_LENGTH_LIVE): at 100 Hz the Bela size would
 * hold values back for 10 s. */
static int start(const host *h, rill_client *cl, const args *a, stream_ctx *ctx,
                 uint64_t dur) {
    rill_client_stream_opts so = {ctx->start, ctx->scheduled ? dur : 0,
                                  RILL_CLIENT_LENGTH_LIVE, 0};
    int rc = rill_client_stream_start(cl, a->names, a->n, &so);
    if (rc != 0)
        return host_fail(h, EXIT_FAILED, "cannot start streaming: %s", rill_strerror(rc));
    return EXIT_OK;
}

/* A recording already in DIR is kept: -1, or EXIT_USAGE after naming
 * what is there (before connecting, so nothing is written or truncated). */
static int refuse_existing(const host *h, const args *a) {
    char held[1024] = "";
    size_t found = 0, len = 0;
    for (size_t i = 0; i < a->n; i++) {
        char path[4096];
        struct stat st;
        path_of(path, sizeof path, a, a->names[i]);
        if (lstat(path, &st) != 0)
            continue;
        int k = snprintf(held + len, sizeof held - len, "%s%s.%s", found++ ? ", " : "",
                         a->names[i], a->fmt_name);
        len = k < 0 || (size_t)k >= sizeof held - len ? sizeof held - 1 : len + (size_t)k;
    }
    if (found == 0)
        return -1;
    const char *it = found > 1 ? "them" : "it";
    return host_fail(h, EXIT_USAGE, "%s already holds %s; nothing was written: give another "
                     "-o DIR, move %s away, or --force to write over %s", a->dir, held, it,
                     it);
}

static int parse(host *h, int argc, char **argv, args *a) {
    static const struct option opts[] = {{"at", required_argument, NULL, 'a'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"nats", required_argument, NULL, 'N'},
                                         {"replay", required_argument, NULL, 'P'},
                                         {"stream", required_argument, NULL, 'S'},
                                         {"reconnect", no_argument, NULL, 'R'},
                                         {"force", no_argument, NULL, 'F'},
                                         {NULL, 0, NULL, 0}};
    bool nats_opts = false;
    stream_nats_init(&a->nats);
    host_init(h, argc, argv, usage, "n:d:o:", opts);
    int c;
    while ((c = host_next(h)) > 0) {
        if (c == 'o')
            a->dir = strcmp(optarg, "-") == 0 ? NULL : optarg; /* -: standard output */
        else if (c == 'f')
            a->fmt_name = optarg;
        else if (c == 'n' &&
                 !parse_option_number("stream", "-n", optarg, 1, 1e15, true, &a->n_values))
            return EXIT_USAGE;
        else if (c == 'd' && !parse_seconds("stream", "-d", optarg, &a->seconds))
            return EXIT_USAGE;
        else if (c == 'a' && !parse_tick("stream", optarg, &a->at))
            return EXIT_USAGE;
        else if (c == 'N' || c == 'P' || c == 'S') {
            /* The URL in messages is the NATS one from here on. */
            if (c == 'N')
                a->nats.cfg.nats_url = h->url = optarg;
            else if (c == 'S')
                a->nats.cfg.stream = optarg;
            else if (!stream_nats_replay(h, &a->nats, optarg))
                return EXIT_USAGE;
            a->nats.on |= c == 'N';
            nats_opts |= c != 'N';
        }
        else if (c == 'R')
            a->reconnect = true;
        else if (c == 'F')
            a->force = true;
    }
    if (c == CLI_STOP)
        return h->opts.status;
    int status = cli_args(&h->opts, 0, SIZE_MAX);
    if (status >= 0)
        return status;
    a->names = (const char *const *)(argv + optind);
    a->n = (size_t)(argc - optind);
    if (a->n == 0)
        return host_fail(h, EXIT_USAGE, "name at least one variable (see rill ls)");
    if (nats_opts && !a->nats.on)
        return host_fail(h, EXIT_USAGE, "--replay and --stream go with --nats URL");
    if (a->reconnect && a->nats.on)
        return host_fail(h, EXIT_USAGE, "--reconnect is for a device's own connection: "
                         "with --nats, the consumer reconnects to NATS by itself");
    if (a->nats.on &&
        (status = stream_nats_subjects(h, &a->nats, argv + optind, a->n)) >= 0)
        return status;
    if (a->n_values > 0 && a->seconds > 0)
        return host_fail(h, EXIT_USAGE, "-n and -d exclude each other");
    for (size_t i = 0; i < a->n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(a->names[i], a->names[k]) == 0)
                return host_fail(h, EXIT_USAGE, "%s is named twice", a->names[i]);
    if (a->fmt_name != NULL && a->dir == NULL)
        return host_fail(h, EXIT_USAGE, "--format needs -o DIR (standard output gets "
                         "'var,tick,value' lines)");
    struct stat st;
    bool dir_exists = a->dir != NULL && stat(a->dir, &st) == 0;
    if (a->fmt_name == NULL && a->dir != NULL && !dir_exists) {
        /* `-o take.wav`: a file name where a directory belongs would make a
         * directory of that name holding CSV files. */
        const char *base = strrchr(a->dir, '/'), *dot;
        dot = strrchr(base != NULL ? base + 1 : a->dir, '.');
        rill_file_format f;
        if (dot != NULL && rill_file_format_from_name(dot + 1, &f) == 0)
            return host_fail(h, EXIT_USAGE,
                             "-o %s: -o names a directory, each variable going to "
                             "DIR/<var>.<format>; for %s files give -o DIR --format %s",
                             a->dir, dot + 1, dot + 1);
    }
    if (a->fmt_name == NULL)
        a->fmt_name = "csv";
    if (rill_file_format_from_name(a->fmt_name, &a->fmt) != 0)
        return host_fail(h, EXIT_USAGE, "unknown format '%s' (bin, csv, jsonl, wav, flac)",
                         a->fmt_name);
    if (dir_exists && !S_ISDIR(st.st_mode))
        return host_fail(h, EXIT_USAGE, "%s is not a directory", a->dir);
    if (a->force && a->dir == NULL)
        return host_fail(h, EXIT_USAGE, "--force goes with -o DIR (it lets the files there "
                         "be written over)");
    return dir_exists && !a->force ? refuse_existing(h, a) : -1;
}

int cmd_stream(int argc, char **argv) {
    host h;
    args a;
    memset(&a, 0, sizeof a);
    int status = parse(&h, argc, argv, &a);
    if (status >= 0)
        return status;
    stream_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    bool discard = false; /* the files at the end (a refusal before any value) */
    ctx.n = a.n;
    ctx.scheduled = a.seconds > 0;
    rill_client_config cfg = rill_client_config_default();
    cfg.on_buffer = on_buffer;
    cfg.on_error = on_error;
    cfg.user = &ctx;
    ctx.h = &h;
    if (a.reconnect) {
        cfg.reconnect = true;
        cfg.on_event = on_event;
    }
    rill_client *cl = a.nats.on ? host_connect_nats(&h, cfg, &a.nats.cfg, &status)
                                : host_connect(&h, cfg, &status);
    if (cl == NULL)
        return status;
    var_out *outs = calloc(a.n, sizeof *outs);
    const rill_client_var **vars = calloc(a.n, sizeof *vars);
    rill_client_list *l = NULL;
    status = EXIT_FAILED;
    if (outs == NULL || vars == NULL || (l = host_list(&h, cl, a.names, a.n, vars,
                                                        &status)) == NULL)
        goto out;
    double rate = l->sample_rate > 0 ? l->sample_rate : 1;
    uint64_t dur = a.seconds > 0 ? (uint64_t)llround(a.seconds * rate) : 0;
    /* -n of dense variables is the schedule of N ticks: the device ends it
     * and sends the last, partial buffer at once. Counted here instead, the
     * values would wait for a whole buffer (1024 values: 10 s at 100 Hz). */
    bool dense = a.n_values > 0 && !a.nats.on;
    for (size_t i = 0; dense && i < a.n; i++)
        dense = vars[i]->mode == RILL_TS_DENSE;
    if (dense) {
        ctx.scheduled = true;
        dur = (uint64_t)a.n_values;
    }
    for (size_t i = 0; i < a.n; i++) {
        outs[i].var = vars[i];
        outs[i].want = a.n_values > 0 ? (uint64_t)a.n_values
                       : vars[i]->mode == RILL_TS_DENSE ? dur
                                                        : 0;
    }
    if ((status = check(&h, &a, l, outs, dur)) != EXIT_OK ||
        (status = open_outputs(&h, &a, l, outs)) != EXIT_OK)
        goto out;
    status = EXIT_FAILED;
    if (stream_writer_create(a.n, ring_bytes(outs, a.n, rate), &ctx.writer) != 0)
        goto out;
    for (size_t i = 0; i < a.n; i++)
        stream_writer_set(ctx.writer, i, outs[i].var->name, outs[i].var->type,
                          outs[i].file);
    ctx.start = a.at;
    int rc = a.at != 0 ? 0 : rill_client_start_tick(cl, &ctx.start);
    if (rc != 0) {
        host_fail(&h, EXIT_FAILED, "cannot start streaming: %s", rill_strerror(rc));
        goto out;
    }
    if (stream_writer_start(ctx.writer) != 0)
        goto out;
    atomic_store(&ctx.outs, outs); /* ctx.start first: the I/O thread reads it */
    if (start(&h, cl, &a, &ctx, dur) != EXIT_OK)
        goto out;
    host_catch_interrupt();
    uint64_t t0 = rill_clock_now_ns();
    deadline dl = {dur != 0 ? (double)(ctx.start + dur - l->timestamp) / rate + 5.0 : 0,
                   ctx.start + dur, l->timestamp, rate};
    bool timed = false;
    status = run(&h, &a, cl, &ctx, outs, t0, &dl, &timed);
    bool lost = atomic_load(&ctx.lost), refused = atomic_load(&ctx.refused);
    if (!lost)
        rill_client_stream_stop(cl, a.names, a.n);
    /* A refusal is said in full here: no per-variable shortfall after it. */
    bool said = lost || refused;
    rill_client_destroy(cl); /* no callback runs after this */
    cl = NULL;
    stream_writer_finish(ctx.writer);
    if (refused && !lost) {
        /* Files of headers alone would pass for a recording of nothing. */
        uint64_t got = 0;
        for (size_t i = 0; i < a.n; i++)
            got += stream_writer_values(ctx.writer, i);
        discard = a.dir != NULL && got == 0;
        host_fail(&h, EXIT_FAILED, "%sthe device refused to stream (its reason is above)%s",
                  host_tty() ? "\n" : "",
                  a.dir == NULL ? ""
                  : discard     ? "; nothing arrived, so no file was kept"
                                : "; the files keep what arrived");
    }
    if (host_tty() && !said) { /* the last line: everything written */
        progress(&ctx, (double)(rill_clock_now_ns() - t0) / 1e9);
        fputc('\n', stderr);
    }
    if (!said && report(&h, &a, &ctx, outs, timed, dl.limit_s) != EXIT_OK)
        status = EXIT_FAILED;
out:
    rill_client_destroy(cl);
    stream_writer_finish(ctx.writer);
    if (close_outputs(&a, outs, ctx.writer, discard) != EXIT_OK)
        status = EXIT_FAILED;
    stream_writer_destroy(ctx.writer);
    free(outs);
    free(vars);
    rill_client_list_free(l);
    return status;
}
