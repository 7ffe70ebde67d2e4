/* rill set: take control of a variable and set the value its program reads. */
#include <stdio.h>
#include <stdlib.h>

#include "host.h"

static const char usage[] =
    "usage: rill set VAR VALUE [--mask MASK] [--url URL] [--token T]\n"
    "                [--timeout S]\n\n"
    "Take control of the variable and set the value the device program reads\n"
    "(rill_var_get). The variable stays controlled. With --mask, only the bits\n"
    "set in MASK change (Bela's setMask; integer variables only, not float or\n"
    "double; VALUE and MASK may be written in hex, 0x...).\n"
    HOST_URL_HELP
    "\nexamples:\n  rill set gain 0.5\n  rill set flags 0x05 --mask 0x0f\n";

int cmd_set(int argc, char **argv) {
    static const struct option opts[] = {{"mask", required_argument, NULL, 'm'},
                                         {NULL, 0, NULL, 0}};
    host h;
    host_init(&h, argc, argv, usage, "", opts);
    const char *mask_arg = NULL;
    int c, status;
    while ((c = host_next(&h)) > 0)
        mask_arg = optarg; /* --mask, the only one */
    if (c == CLI_STOP)
        return h.opts.status;
    if ((status = cli_args(&h.opts, 2, 2)) >= 0)
        return status;
    const char *name = argv[optind], *text = argv[optind + 1];
    double value = 0;
    uint32_t bits = 0, mask = 0;
    if (mask_arg != NULL) {
        if (!parse_u32(mask_arg, &mask) || !parse_u32(text, &bits))
            return host_fail(&h, EXIT_USAGE, "with --mask, VALUE and MASK are unsigned "
                             "32-bit integers (e.g. 5 or 0x05), not '%s' and '%s'", text,
                             mask_arg);
    } else {
        char *end;
        value = strtod(text, &end);
        if (*text == '\0' || *end != '\0')
            return host_fail(&h, EXIT_USAGE, "'%s' is not a number", text);
    }
    rill_client *cl = host_connect(&h, rill_client_config_default(), &status);
    if (cl == NULL)
        return status;
    const rill_client_var *v = NULL;
    rill_client_list *l = host_list(&h, cl, &name, 1, &v, &status);
    if (l == NULL)
        goto out;
    if (mask_arg != NULL && (v->type == RILL_TYPE_FLOAT || v->type == RILL_TYPE_DOUBLE)) {
        status = host_fail(&h, EXIT_USAGE, "--mask is for integer variables, and %s is "
                           "%s: set its value without --mask", name, rill_type_name(v->type));
        goto out;
    }
    int rc = rill_client_control(cl, name, true);
    if (rc == 0)
        rc = mask_arg != NULL ? rill_client_set_mask(cl, name, bits, mask)
                              : rill_client_set(cl, name, value);
    status = rc == 0 ? EXIT_OK : host_fail(&h, EXIT_FAILED, "%s: %s", name, rill_strerror(rc));
out:
    rill_client_list_free(l);
    rill_client_destroy(cl);
    return status;
}
