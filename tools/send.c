/* rill send: one buffer of values to the device program, as pybela's
 * send_buffer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

static const char usage[] =
    "usage: rill send [--channel N] [--type c|i|j|f|d] VALUE... [--url URL]\n"
    "                 [--token T] [--timeout S]\n"
    "       rill send [--channel N] [--type T] - < values.txt\n\n"
    "Send one buffer of values to the device program's buffer callback, as\n"
    "pybela's send_buffer does: channel N (default 0), values of type T\n"
    "(default f, float; i int32, j uint32, c char, d double; or the names).\n"
    "With '-' the values are read from standard input, separated by spaces,\n"
    "commas or newlines. Integer types refuse fractions and values out of\n"
    "their range; float rounds to the nearest float and refuses only\n"
    "overflow. A buffer the device refuses (rill serve's limit is 64 KiB a\n"
    "message: 16380 floats) is said with its reason, exit 1.\n"
    HOST_URL_HELP
    "\nexamples:\n"
    "  rill send 1 2 3.5\n"
    "  rill send --channel 1 --type i 10 20 30\n"
    "  seq 1 1024 | rill send -\n";

/* Append the numbers of `text` to *vals; 0, -1 (*bad is the token that is
 * not a number), -3 (*bad is one beyond a double's range) or -2 (out of
 * memory). */
static int parse_values(const char *text, double **vals, size_t *n, size_t *cap,
                        const char **bad) {
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0')
            return 0;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || (*end != '\0' && strchr(" ,\n\t\r", *end) == NULL)) {
            *bad = p;
            return -1;
        }
        if (errno == ERANGE && isinf(v)) { /* 1e400: no type holds it */
            *bad = p;
            return -3;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            double *nv = realloc(*vals, *cap * sizeof *nv);
            if (nv == NULL)
                return -2;
            *vals = nv;
        }
        (*vals)[(*n)++] = v;
        p = end;
    }
}

/* The values as `type`, packed for the wire; NULL after saying which
 * does not fit (integers must be exact, floats only finite). */
static uint8_t *pack(const host *h, rill_type type, const double *vals, size_t n) {
    size_t size = rill_type_size(type);
    uint8_t *packed = malloc(n ? n * size : 1);
    for (size_t i = 0; packed != NULL && i < n; i++) {
        if (!value_fits(type, vals[i], packed + i * size)) {
            host_fail(h, EXIT_USAGE, "value %zu (%.17g) does not fit %s %s%s", i + 1,
                      vals[i], type_article(type), rill_type_name(type),
                      type == RILL_TYPE_FLOAT ? "; use --type d" : "; use --type f or d");
            free(packed);
            return NULL;
        }
    }
    return packed;
}

static int send_values(host *h, double channel, rill_type type, const double *vals, size_t n) {
    uint8_t *packed = pack(h, type, vals, n);
    if (packed == NULL)
        return EXIT_USAGE;
    int status;
    atomic_int refused = 0;
    rill_client *cl = host_connect(h, host_refusals_config(&refused), &status);
    if (cl != NULL) {
        int rc = rill_client_send_buffer(cl, (uint32_t)channel, type, packed, n);
        /* A list round trip: the buffer has reached the device (and any
         * refusal has been printed and counted) when it returns. */
        rill_client_list *l = NULL;
        if (rc == 0)
            rc = rill_client_list_vars(cl, &l);
        rill_client_list_free(l);
        status = rc == 0 ? EXIT_OK : host_fail(h, EXIT_FAILED, "%s", rill_strerror(rc));
        if (rc == 0 && atomic_load(&refused) != 0)
            status = host_fail(h, EXIT_FAILED, "the device refused the buffer (its reason "
                               "is above)");
        rill_client_destroy(cl);
    }
    free(packed);
    return status;
}

int cmd_send(int argc, char **argv) {
    static const struct option opts[] = {{"channel", required_argument, NULL, 'c'},
                                         {"type", required_argument, NULL, 'y'},
                                         {NULL, 0, NULL, 0}};
    host h;
    host_init(&h, argc, argv, usage, "", opts);
    char **av = cli_values_last(&h.opts);
    if (av == NULL)
        return EXIT_FAILED;
    int ac = h.opts.argc;
    double channel = 0, *vals = NULL;
    rill_type type = RILL_TYPE_FLOAT;
    int c, status = EXIT_USAGE;
    while ((c = host_next(&h)) > 0) {
        if (c == 'c' && !parse_option_number("send", "--channel", optarg, 0, UINT32_MAX,
                                             true, &channel))
            goto out;
        if (c == 'y' && !parse_type(optarg, &type)) {
            host_fail(&h, EXIT_USAGE, "--type wants c, i, j, f or d (or char, int32, uint32, "
                      "float, double), not '%s'", optarg);
            goto out;
        }
    }
    if (c == CLI_STOP) {
        status = h.opts.status;
        goto out;
    }
    if ((status = cli_args(&h.opts, 1, SIZE_MAX)) >= 0)
        goto out;
    size_t n = 0, cap = 0;
    const char *bad = NULL;
    for (int i = optind; i < ac; i++) {
        int prc = 0;
        unsigned long lineno = 0;
        bool from_stdin = strcmp(av[i], "-") == 0;
        char *line = NULL;
        if (from_stdin) {
            /* Whole lines, however long: a number is never cut in two. */
            size_t line_cap = 0;
            while (prc == 0 && getline(&line, &line_cap, stdin) != -1) {
                lineno++;
                prc = parse_values(line, &vals, &n, &cap, &bad);
            }
            if (prc == 0 && ferror(stdin)) {
                status = host_fail(&h, EXIT_FAILED, "cannot read standard input: %s",
                                   strerror(errno));
                free(line);
                goto out;
            }
        } else {
            prc = parse_values(av[i], &vals, &n, &cap, &bad);
        }
        if (prc == -3) {
            int len = (int)strcspn(bad, " ,\n\t\r");
            char where[64] = "";
            if (from_stdin)
                snprintf(where, sizeof where, " (line %lu of standard input)", lineno);
            status = host_fail(&h, EXIT_USAGE, "value %zu, '%.*s'%s, is beyond every type's "
                               "range (a double's largest is 1.8e308)", n + 1, len, bad, where);
            free(line);
            goto out;
        }
        if (prc == -1) {
            /* Which value, and where: a channel or a variable's name given
             * as the first value is the likely slip. */
            int len = (int)strcspn(bad, " ,\n\t\r");
            if (from_stdin)
                status = host_fail(&h, EXIT_USAGE, "value %zu, '%.*s' (line %lu of "
                                   "standard input), is not a number", n + 1, len, bad,
                                   lineno);
            else
                status = host_fail(&h, EXIT_USAGE, "value %zu, '%.*s', is not a number "
                                   "(rill send takes values only: the channel is "
                                   "--channel N, the type --type T)", n + 1, len, bad);
            free(line);
            goto out;
        }
        free(line);
        if (prc == -2) {
            status = host_fail(&h, EXIT_FAILED, "out of memory");
            goto out;
        }
    }
    status = send_values(&h, channel, type, vals, n);
out:
    free(vals);
    free(av);
    return status;
}
