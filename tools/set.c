/* rill set: take control of a variable and set the value its program
 * reads, or give control back. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

static const char usage[] =
    "usage: rill set VAR VALUE [--mask MASK] [--url URL] [--token T]\n"
    "                [--timeout S]\n"
    "       rill set VAR --release [--url URL] ...\n\n"
    "Take control of the variable and set the value the device program reads\n"
    "(rill_var_get). The variable stays controlled until --release gives it\n"
    "back (the program reads its own value again). VALUE must fit the\n"
    "variable's type: integer variables take whole numbers in their range.\n"
    "With --mask, only the bits set in MASK change (Bela's setMask; integer\n"
    "variables only, not float or double; VALUE and MASK may be written in\n"
    "hex, 0x...).\n"
    HOST_URL_HELP
    "\nexamples:\n  rill set gain 0.5\n  rill set flags 0x05 --mask 0x0f\n"
    "  rill set gain --release\n";

static int set(host *h, char **argv) {
    const char *mask_arg = NULL;
    bool release = false;
    int c, status;
    while ((c = host_next(h)) > 0) {
        if (c == 'm')
            mask_arg = optarg;
        else
            release = true;
    }
    if (c == CLI_STOP)
        return h->opts.status;
    if (release && mask_arg != NULL)
        return host_fail(h, EXIT_USAGE, "--release takes no --mask: it gives the "
                         "variable back to the device program");
    if (!release && h->opts.argc - optind == 1 && strncmp(argv[optind], "ws://", 5) != 0)
        return host_fail(h, EXIT_USAGE, "give %s a VALUE to set, or --release to give it "
                         "back to the device program (rill set --help)", argv[optind]);
    if ((status = cli_args(&h->opts, release ? 1 : 2, release ? 1 : 2)) >= 0)
        return status;
    const char *name = argv[optind], *text = release ? NULL : argv[optind + 1];
    double value = 0;
    uint32_t bits = 0, mask = 0;
    if (release) {
        /* nothing to read */
    } else if (mask_arg != NULL) {
        if (!parse_u32(mask_arg, &mask) || !parse_u32(text, &bits))
            return host_fail(h, EXIT_USAGE, "with --mask, VALUE and MASK are unsigned "
                             "32-bit integers (e.g. 5 or 0x05), not '%s' and '%s'", text,
                             mask_arg);
    } else {
        char *end;
        errno = 0;
        value = strtod(text, &end);
        if (*text == '\0' || *end != '\0')
            return host_fail(h, EXIT_USAGE, "the value for %s, '%s', is not a number", name,
                             text);
        if (!isfinite(value))
            return host_fail(h, EXIT_USAGE, "the value for %s, '%s', cannot be set: %s", name,
                             text, errno == ERANGE ? "it is beyond every type's range"
                                                   : "the control messages are JSON, which "
                                                     "has no inf or nan");
    }
    atomic_int refused = 0;
    rill_client *cl = host_connect(h, host_refusals_config(&refused), &status);
    if (cl == NULL)
        return status;
    const rill_client_var *v = NULL;
    rill_client_list *l = host_list(h, cl, &name, 1, &v, &status);
    if (l == NULL)
        goto out;
    if (mask_arg != NULL && (v->type == RILL_TYPE_FLOAT || v->type == RILL_TYPE_DOUBLE)) {
        status = host_fail(h, EXIT_USAGE, "--mask is for integer variables, and %s is "
                           "%s: set its value without --mask", name, rill_type_name(v->type));
        goto out;
    }
    if (release) {
        int rc = rill_client_control(cl, name, false);
        status = rc == 0 ? EXIT_OK
                         : host_fail(h, EXIT_FAILED, "%s: %s", name, rill_strerror(rc));
        if (rc == 0 && atomic_load(&refused) != 0)
            status = host_fail(h, EXIT_FAILED, "%s was not released: the device refused "
                               "the command (its reason is above)", name);
        goto out;
    }
    if (mask_arg == NULL) {
        /* What the program would read must be VALUE itself, not VALUE cut
         * to the type (1.5 to an int32 would be 1; 300 to a char, 44). */
        uint8_t as[8];
        if (!value_fits(v->type, value, as)) {
            status = host_fail(h, EXIT_USAGE, "%s does not fit %s, %s %s%s", text, name,
                               type_article(v->type), rill_type_name(v->type),
                               v->type == RILL_TYPE_FLOAT
                                   ? " (too large)"
                                   : ": give a whole number in its range");
            goto out;
        }
    }
    int rc = rill_client_control(cl, name, true);
    if (rc == 0)
        rc = mask_arg != NULL ? rill_client_set_mask(cl, name, bits, mask)
                              : rill_client_set(cl, name, value);
    status = rc == 0 ? EXIT_OK : host_fail(h, EXIT_FAILED, "%s: %s", name, rill_strerror(rc));
    if (rc == 0 && atomic_load(&refused) != 0)
        status = host_fail(h, EXIT_FAILED, "%s was not set: the device refused the command "
                           "(its reason is above)", name);
out:
    rill_client_list_free(l);
    rill_client_destroy(cl);
    return status;
}

int cmd_set(int argc, char **argv) {
    static const struct option opts[] = {{"mask", required_argument, NULL, 'm'},
                                         {"release", no_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    host h;
    host_init(&h, argc, argv, usage, "", opts);
    /* `rill set gain -0.5`: a negative VALUE is not an option. */
    char **av = cli_values_last(&h.opts);
    if (av == NULL)
        return EXIT_FAILED;
    int status = set(&h, av);
    free(av);
    return status;
}
