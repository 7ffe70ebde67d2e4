/* What rill info and rill convert share (saved.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "saved.h"

/* While saved_open runs, the library's first error is kept for its one
 * message instead of printed on a line of its own. */
static bool opening;
static char open_error[512];
static char note[512]; /* the reader's first notice: a cut-short tail */

static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == RILL_LOG_INFO) {
        if (note[0] == '\0')
            snprintf(note, sizeof note, "%s", msg);
        return;
    }
    if (opening && level == RILL_LOG_ERROR) {
        if (open_error[0] == '\0')
            snprintf(open_error, sizeof open_error, "%s", msg);
        return;
    }
    if (level <= RILL_LOG_WARN)
        fprintf(stderr, "rill: %s\n", msg);
}

int saved_parse(cli_opts *o, saved_mode *mode, int max_args,
                bool (*take)(int c, const char *arg, void *user), void *user) {
    *mode = (saved_mode){RILL_TS_DENSE, false, false};
    int c;
    bool sparse = false, dense = false;
    while ((c = cli_next(o)) > 0) {
        if (c == 's' || c == 'e') {
            sparse |= c == 's';
            dense |= c == 'e';
            *mode = (saved_mode){c == 's' ? RILL_TS_SPARSE : RILL_TS_DENSE, true, false};
        } else if (take == NULL || !take(c, optarg, user)) {
            return EXIT_USAGE;
        }
    }
    if (c == CLI_STOP)
        return o->status;
    if (sparse && dense) {
        fprintf(stderr, "%s: --sparse and --dense: give one (the variable's timestamp "
                "mode)\n", o->argv[0]);
        return EXIT_USAGE;
    }
    int status = cli_args(o, 1, (size_t)max_args);
    if (status < 0)
        rill_set_log_callback(print_log, RILL_LOG_INFO, NULL);
    return status;
}

const char *saved_note(const char *path) {
    size_t n = strlen(path);
    if (note[0] == '\0')
        return NULL;
    return strncmp(note, path, n) == 0 && strncmp(note + n, ": ", 2) == 0 ? note + n + 2 : note;
}

/* The library's first error while `opening`, without the path it starts
 * with (the command's message says it already). */
static const char *opened_why(const char *path) {
    const char *why = open_error;
    size_t n = strlen(path);
    if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
        why += n + 2;
    return why;
}

rill_file_writer *saved_create(const char *cmd, const char *path, rill_file_format format,
                               const rill_file_info *info, int *status) {
    rill_file_writer *w = NULL;
    open_error[0] = '\0';
    opening = true;
    int rc = rill_file_writer_create(path, format, info, &w);
    opening = false;
    if (rc == 0)
        return w;
    const char *why = opened_why(path);
    fprintf(stderr, "%s: cannot write %s: %s\n", cmd, path, *why ? why : rill_strerror(rc));
    *status = rc == RILL_ENOTSUP ? EXIT_USAGE : EXIT_FAILED;
    return NULL;
}

rill_file_reader *saved_open(const char *cmd, const char *path, saved_mode *mode) {
    struct stat st;
    if (stat(path, &st) != 0) {
        /* Said the same for every format (libsndfile has its own words). */
        fprintf(stderr, "%s: cannot read %s: %s\n", cmd, path,
                errno == ENOENT ? "not found" : strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: cannot read %s: it is a directory (name a file in it)\n",
                cmd, path);
        return NULL;
    }
    rill_file_reader *r = NULL;
    open_error[0] = '\0';
    opening = true;
    /* Only a bin file needs it (the others record their mode and are read
     * once); what cannot be read here is said by the open below. */
    const char *dot = strrchr(path, '.');
    if (!mode->told && dot != NULL && strcmp(dot, ".bin") == 0 &&
        rill_file_mode(path, &mode->mode, &mode->guessed) != 0)
        mode->mode = RILL_TS_DENSE;
    open_error[0] = '\0';
    int rc = rill_file_reader_open(path, mode->mode, &r);
    opening = false;
    if (rc != 0) {
        /* The library's own words say what is wrong and where ("line 3 is
         * not ..."); its messages start with the path, said here already. */
        const char *why = st.st_size == 0 ? "it is empty (0 bytes: its writer never wrote?)"
                                          : opened_why(path);
        for (size_t k = 0; k < 2; k++) {
            const char *said = k == 0 ? "cannot read: " : "cannot open: ";
            if (strncmp(why, said, strlen(said)) == 0)
                why += strlen(said);
        }
        bool own = *why != '\0';
        fprintf(stderr, "%s: cannot read %s: %s%s\n", cmd, path,
                own ? why : rill_strerror(rc),
                !own && rc == RILL_ENOTSUP ? " (known: .bin .csv .jsonl .txt .wav .flac)"
                                           : "");
        return NULL;
    }
    return r;
}
