/* rill peek: variables' current values. */
#include <stdio.h>
#include <stdlib.h>

#include "host.h"

static const char usage[] =
    "usage: rill peek VAR... [--url URL] [--token T] [--timeout S]\n\n"
    "Print each variable's name, the tick its current value was set at, and\n"
    "the value, one line per variable, in the order given.\n"
    HOST_URL_HELP
    "\nexamples:\n  rill peek sine\n  rill peek sine level gain\n"
    "  rill peek frame --url ws://bela.local:5555\n";

int cmd_peek(int argc, char **argv) {
    host h;
    host_init(&h, argc, argv, usage, "", NULL);
    int status = host_parse(&h, 1, SIZE_MAX);
    if (status >= 0)
        return status;
    const char *const *names = (const char *const *)argv + optind;
    size_t n = (size_t)(argc - optind);
    rill_client *cl = host_connect(&h, rill_client_config_default(), &status);
    if (cl == NULL)
        return status;
    const rill_client_var **vars = calloc(n, sizeof *vars);
    rill_client_list *l = vars != NULL ? host_list(&h, cl, names, n, vars, &status) : NULL;
    for (size_t i = 0; l != NULL && i < n; i++) {
        double v;
        uint64_t tick;
        int rc = rill_client_peek(cl, names[i], &v, &tick);
        char text[RILL_VALUE_TEXT_MAX];
        if (rc == 0 && rill_value_format(vars[i]->type, v, text, sizeof text) > 0)
            printf("%s %llu %s\n", names[i], (unsigned long long)tick, text);
        else if (rc == RILL_ETIMEOUT)
            status = host_fail(&h, EXIT_FAILED, "%s: the program set no value within %g s "
                               "(a sparse variable is set only when its program sets it; "
                               "wait longer with --timeout SECONDS)", names[i],
                               (h.timeout_ms > 0 ? h.timeout_ms
                                                 : rill_client_config_default().timeout_ms) /
                                   1000.0);
        else if (rc == RILL_EBUSY)
            status = host_fail(&h, EXIT_FAILED, "%s: the device refused to read it (its "
                               "reason is above)", names[i]);
        else
            status = host_fail(&h, EXIT_FAILED, "%s: %s", names[i], rill_strerror(rc));
    }
    rill_client_list_free(l);
    free(vars);
    rill_client_destroy(cl);
    return status;
}
