/* Reading the subcommands' options and their values (commands.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"

void cli_opts_init(cli_opts *o, int argc, char **argv, const char *usage,
                   const char *shortopts, const struct option *own) {
    static const struct option help[] = {{"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->argc = argc;
    o->argv = argv;
    o->usage = usage;
    snprintf(o->shortopts, sizeof o->shortopts, "%sh", shortopts);
    if (own != NULL)
        cli_opts_add(o, own);
    cli_opts_add(o, help);
    optind = 1;
}

void cli_opts_add(cli_opts *o, const struct option *more) {
    for (; more->name != NULL && o->n_longopts + 1 < CLI_MAX_OPTIONS; more++)
        o->longopts[o->n_longopts++] = *more;
    o->longopts[o->n_longopts] = (struct option){NULL, 0, NULL, 0};
}

int cli_next(cli_opts *o) {
    int c = getopt_long(o->argc, o->argv, o->shortopts, o->longopts, NULL);
    if (c == -1)
        return CLI_END;
    if (c == 'h') {
        fputs(o->usage, stdout);
        o->status = EXIT_OK;
        return CLI_STOP;
    }
    if (c == '?' || c == ':') {
        /* getopt_long has said which option and what is wrong with it. */
        fprintf(stderr, "Run '%s --help' for the options.\n", o->argv[0]);
        o->status = EXIT_USAGE;
        return CLI_STOP;
    }
    return c;
}

/* Does the option `a` (as written: "--name", "--name=V", "-x") take the
 * next argument as its value? Long names may be abbreviated, as
 * getopt_long allows. */
static bool takes_next(const cli_opts *o, const char *a) {
    if (a[1] != '-')
        return a[2] == '\0' && a[1] != ':' &&
               strstr(o->shortopts, (char[]){a[1], ':', '\0'}) != NULL;
    const char *name = a + 2;
    if (strchr(name, '=') != NULL)
        return false;
    size_t len = strlen(name);
    const struct option *hit = NULL;
    for (size_t k = 0; k < o->n_longopts; k++) {
        if (strncmp(o->longopts[k].name, name, len) != 0)
            continue;
        if (o->longopts[k].name[len] == '\0') {
            hit = &o->longopts[k];
            break;
        }
        hit = hit == NULL ? &o->longopts[k] : hit;
    }
    return hit != NULL && hit->has_arg == required_argument;
}

char **cli_values_last(cli_opts *o) {
    int argc = o->argc;
    char **argv = o->argv;
    char **av = calloc((size_t)argc + 2, sizeof *av);
    char **values = calloc((size_t)argc + 1, sizeof *values);
    if (av == NULL || values == NULL) {
        free(av);
        free(values);
        return NULL;
    }
    int na = 0, nv = 0;
    av[na++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        bool number = a[0] == '-' && a[1] != '\0' && (strtod(a, &end), *end == '\0');
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                values[nv++] = argv[i];
        } else if (a[0] == '-' && a[1] != '\0' && !number) {
            av[na++] = argv[i];
            if (takes_next(o, a) && i + 1 < argc)
                av[na++] = argv[++i];
        } else {
            values[nv++] = argv[i];
        }
    }
    av[na++] = "--";
    for (int i = 0; i < nv; i++)
        av[na++] = values[i];
    free(values);
    o->argc = na;
    o->argv = av;
    return av;
}

static bool has_option(const cli_opts *o, const char *name) {
    for (size_t k = 0; k < o->n_longopts; k++)
        if (strcmp(o->longopts[k].name, name) == 0)
            return true;
    return false;
}

int cli_args(const cli_opts *o, size_t min, size_t max) {
    size_t n = (size_t)(o->argc - optind);
    /* A device address where a variable or a value belongs (as in
     * `rill ls ws://bela.local:5555`) is the likeliest slip of all: say so
     * rather than take it for a variable's name or count it as one too many. */
    for (int k = optind; k < o->argc && has_option(o, "url"); k++) {
        const char *a = o->argv[k];
        if (strncmp(a, "ws://", 5) == 0 || strncmp(a, "wss://", 6) == 0) {
            fprintf(stderr,
                    "%s: '%s' looks like a device address: give it as --url %s "
                    "(or set RILL_URL)\n",
                    o->argv[0], a, a);
            return EXIT_USAGE;
        }
    }
    if (n < min) {
        fputs(o->usage, stderr);
        return EXIT_USAGE;
    }
    if (n > max) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", o->argv[0],
                o->argv[optind + (int)max]);
        return EXIT_USAGE;
    }
    return -1;
}

bool parse_option_number(const char *cmd, const char *opt, const char *s,
                         double min, double max, bool whole, double *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= min && v <= max) ||
        (whole && v != floor(v))) {
        fprintf(stderr, "rill %s: %s wants a %snumber from %.16g to %.16g, not '%s'\n",
                cmd, opt, whole ? "whole " : "", min, max, s);
        return false;
    }
    *out = v;
    return true;
}

bool parse_seconds(const char *cmd, const char *opt, const char *s, double *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0 && v <= 1e7)) {
        fprintf(stderr, "rill %s: %s wants a number of seconds above 0, up to 10000000, "
                "not '%s'\n", cmd, opt, s);
        return false;
    }
    *out = v;
    return true;
}

bool parse_tick(const char *cmd, const char *s, uint64_t *out) {
    double x;
    if (!parse_option_number(cmd, "--at", s, 1, 9007199254740992.0, true, &x))
        return false;
    *out = (uint64_t)x;
    return true;
}

bool parse_option_dir(const char *cmd, const char *opt, const char *s) {
    struct stat st;
    if (stat(s, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
    fprintf(stderr, "rill %s: %s %s is not a directory\n", cmd, opt, s);
    return false;
}

bool parse_u32(const char *s, uint32_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *s == '-' || *end != '\0' || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

const char *type_article(rill_type type) {
    return type == RILL_TYPE_INT32 ? "an" : "a"; /* a uint32: "you-int" */
}

bool parse_type(const char *s, rill_type *out) {
    if (strlen(s) == 1)
        return rill_type_from_letter(s[0], out) == 0;
    static const rill_type all[] = {RILL_TYPE_CHAR, RILL_TYPE_INT32, RILL_TYPE_UINT32,
                                    RILL_TYPE_FLOAT, RILL_TYPE_DOUBLE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, rill_type_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

bool value_fits(rill_type type, double v, void *out) {
    rill_value_from_double(type, v, out);
    double back = rill_value_to_double(type, out);
    return type == RILL_TYPE_FLOAT    ? isfinite(back) || !isfinite(v)
           : type == RILL_TYPE_DOUBLE ? true
                                      : back == v;
}

bool free_path(const char *path, char *out, size_t cap) {
    struct stat st;
    snprintf(out, cap, "%s", path);
    if (lstat(path, &st) != 0)
        return false;
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    const char *dot = strrchr(name, '.');
    int base = (int)(dot != NULL && dot != name ? dot - path : (ptrdiff_t)strlen(path));
    for (unsigned k = 1; k != 0; k++) {
        snprintf(out, cap, "%.*s_%u%s", base, path, k, path + base);
        if (lstat(out, &st) != 0)
            break;
    }
    return true;
}

int claim_path(const char *path, bool replace) {
    if (replace && unlink(path) != 0 && errno != ENOENT)
        return errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}
