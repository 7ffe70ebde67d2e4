/* Option values shared by the subcommands (commands.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"

bool parse_option_number(const char *cmd, const char *opt, const char *s,
                         double min, double max, bool whole, double *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= min && v <= max) ||
        (whole && v != floor(v))) {
        fprintf(stderr, "rill %s: %s wants a %snumber from %g to %g, not '%s'\n",
                cmd, opt, whole ? "whole " : "", min, max, s);
        return false;
    }
    *out = v;
    return true;
}
