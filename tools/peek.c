/* rill peek: a variable's current value. */
#include <stdio.h>

#include "host.h"

static const char usage[] =
    "usage: rill peek VAR [--url URL] [--token T] [--timeout S]\n\n"
    "Print the variable's name, the tick its current value was set at, and the\n"
    "value, on one line.\n"
    HOST_URL_HELP
    "\nexamples:\n  rill peek sine\n  rill peek frame --url ws://bela.local:5555\n";

int cmd_peek(int argc, char **argv) {
    host h;
    host_init(&h, argc, argv, usage, "", NULL);
    int status = host_parse(&h, 1, 1);
    if (status >= 0)
        return status;
    const char *name = argv[optind];
    rill_client *cl = host_connect(&h, rill_client_config_default(), &status);
    if (cl == NULL)
        return status;
    rill_client_list *l = host_list(&h, cl, &name, 1, NULL, &status);
    if (l != NULL) {
        double v;
        uint64_t tick;
        int rc = rill_client_peek(cl, name, &v, &tick);
        if (rc == 0)
            printf("%s %llu %.17g\n", name, (unsigned long long)tick, v);
        status = rc == 0 ? EXIT_OK : host_fail(&h, EXIT_FAILED, "%s: %s", name,
                                              rill_strerror(rc));
    }
    rill_client_list_free(l);
    rill_client_destroy(cl);
    return status;
}
