/* rill ls: the device's variables, one a line. */
#include <stdio.h>
#include <string.h>

#include "host.h"

static const char usage[] =
    "usage: rill ls [--url URL] [--token T] [--timeout S]\n\n"
    "List the device's variables: a header line, then one variable per line,\n"
    "name first: type, timestamp mode, values per Bela buffer, stream and log\n"
    "state, control, monitor period, and the value the program reads now.\n"
    HOST_URL_HELP
    "\nexamples:\n  rill ls\n  rill ls --url ws://bela.local:5555\n"
    "  RILL_URL=ws://192.168.7.2:5555 rill ls\n";

int cmd_ls(int argc, char **argv) {
    host h;
    host_init(&h, argc, argv, usage, "", NULL);
    int status = host_parse(&h, 0, 0);
    if (status >= 0)
        return status;
    rill_client *cl = host_connect(&h, rill_client_config_default(), &status);
    if (cl == NULL)
        return status;
    rill_client_list *l = host_list(&h, cl, NULL, 0, NULL, &status);
    if (l != NULL) {
        /* The name column as wide as the longest name (at least 16), so
         * the columns stay aligned. */
        int w = 16;
        for (size_t i = 0; i < l->n_vars; i++)
            if ((int)strlen(l->vars[i].name) > w)
                w = (int)strlen(l->vars[i].name);
        printf("%-*s %-7s %-7s %-7s %-8s %-7s %-10s %-8s %s\n", w, "name", "type", "mode",
               "length", "watched", "logged", "controlled", "monitor", "value");
        for (size_t i = 0; i < l->n_vars; i++) {
            const rill_client_var *v = &l->vars[i];
            char text[RILL_VALUE_TEXT_MAX];
            rill_value_format(v->type, v->value, text, sizeof text);
            printf("%-*s %-7s %-7s %-7u %-8s %-7s %-10s %-8u %s\n", w, v->name,
                   rill_type_name(v->type), v->mode == RILL_TS_DENSE ? "dense" : "sparse",
                   v->length, v->watched ? "yes" : "no", v->logged ? "yes" : "no",
                   v->controlled ? "yes" : "no", v->monitor, text);
        }
        status = EXIT_OK;
    }
    rill_client_list_free(l);
    rill_client_destroy(cl);
    return status;
}
