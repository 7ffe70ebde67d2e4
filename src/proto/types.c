/* The five value types of watched variables: sizes, wire letters, names. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/watch.h"

/* Switches with no default, so that -Wswitch flags a type added to the
 * enum and forgotten here; out-of-range values fall through to the end. */
size_t rill_type_size(rill_type type) {
    switch (type) {
    case RILL_TYPE_CHAR:
        return 1;
    case RILL_TYPE_INT32:
    case RILL_TYPE_UINT32:
    case RILL_TYPE_FLOAT:
        return 4;
    case RILL_TYPE_DOUBLE:
        return 8;
    }
    return 0;
}

char rill_type_letter(rill_type type) {
    switch (type) {
    case RILL_TYPE_CHAR:
        return 'c';
    case RILL_TYPE_INT32:
        return 'i';
    case RILL_TYPE_UINT32:
        return 'j';
    case RILL_TYPE_FLOAT:
        return 'f';
    case RILL_TYPE_DOUBLE:
        return 'd';
    }
    return '\0';
}

int rill_type_from_letter(char letter, rill_type *out) {
    rill_type type;
    switch (letter) {
    case 'c':
        type = RILL_TYPE_CHAR;
        break;
    case 'i':
        type = RILL_TYPE_INT32;
        break;
    case 'j':
        type = RILL_TYPE_UINT32;
        break;
    case 'f':
        type = RILL_TYPE_FLOAT;
        break;
    case 'd':
        type = RILL_TYPE_DOUBLE;
        break;
    default:
        return RILL_EINVAL;
    }
    if (out == NULL)
        return RILL_EINVAL;
    *out = type;
    return 0;
}

const char *rill_type_name(rill_type type) {
    switch (type) {
    case RILL_TYPE_CHAR:
        return "char";
    case RILL_TYPE_INT32:
        return "int32";
    case RILL_TYPE_UINT32:
        return "uint32";
    case RILL_TYPE_FLOAT:
        return "float";
    case RILL_TYPE_DOUBLE:
        return "double";
    }
    return "unknown";
}

/* Reads through memcpy, so `p` needs no alignment. */
double rill_value_to_double(rill_type type, const void *p) {
    switch (type) {
    case RILL_TYPE_CHAR: {
        unsigned char c;
        memcpy(&c, p, 1);
        return c;
    }
    case RILL_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case RILL_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case RILL_TYPE_FLOAT: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    case RILL_TYPE_DOUBLE: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    }
    return 0;
}

/* v in the fewest significant digits from lo to hi that read back as v
 * (as a float when `single`), tried in turn from lo; hi always does
 * (FLT_DECIMAL_DIG 9, DBL_DECIMAL_DIG 17), so it is not checked. %g drops
 * trailing zeros, so a value that fewer digits give exactly (0.1, 3) comes
 * out short at lo: lo is the most digits for which that holds (7 for a
 * float, 15 for a double; past them the decimal steps can be finer than a
 * binade's ulp at its top). Checked against trying every count from 1 on
 * 3 million random floats: never longer, but for subnormals. A random
 * audio sample takes two or three tries, each a snprintf and a strtod. */
static int format_shortest(char *out, size_t size, double v, int lo, int hi,
                           bool single) {
    char tmp[RILL_VALUE_TEXT_MAX];
    int n = 0;
    for (int p = lo; p <= hi; p++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (p == hi)
            break;
        double r = strtod(tmp, NULL);
        if (single ? (float)r == (float)v : r == v)
            break;
    }
    if (size != 0) {
        size_t k = (size_t)n < size ? (size_t)n : size - 1;
        memcpy(out, tmp, k);
        out[k] = '\0';
    }
    return n;
}

int rill_value_format(rill_type type, double v, char *out, size_t size) {
    switch (type) {
    case RILL_TYPE_CHAR:
    case RILL_TYPE_UINT32:
        if (v >= 0 && v <= 4294967295.0)
            return snprintf(out, size, "%" PRIu32, (uint32_t)v);
        break;
    case RILL_TYPE_INT32:
        if (v >= -2147483648.0 && v <= 2147483647.0)
            return snprintf(out, size, "%" PRId32, (int32_t)v);
        break;
    case RILL_TYPE_FLOAT:
        if (isfinite(v))
            return format_shortest(out, size, v, 7, 9, true);
        break;
    case RILL_TYPE_DOUBLE:
        if (isfinite(v))
            return format_shortest(out, size, v, 15, 17, false);
        break;
    }
    if (isnan(v)) /* whatever its sign bit ("-nan" from 0.0 / 0.0) */
        return snprintf(out, size, "nan");
    return snprintf(out, size, "%.17g", v);
}

/* C leaves a float -> integer conversion undefined out of range, and a
 * client's value or a file's may be anything: integers saturate and NaN
 * becomes 0, so no input can reach undefined behaviour. */
size_t rill_value_from_double(rill_type type, double d, void *out) {
    bool nan = !(d == d);
    switch (type) {
    case RILL_TYPE_CHAR: {
        unsigned char c = nan || d <= 0 ? 0 : d >= 255 ? 255 : (unsigned char)d;
        memcpy(out, &c, 1);
        return 1;
    }
    case RILL_TYPE_INT32: {
        int32_t i = nan ? 0
                    : d <= -2147483648.0 ? INT32_MIN
                    : d >= 2147483647.0  ? INT32_MAX
                                         : (int32_t)d;
        memcpy(out, &i, 4);
        return 4;
    }
    case RILL_TYPE_UINT32: {
        uint32_t u = nan || d <= 0 ? 0 : d >= 4294967295.0 ? UINT32_MAX : (uint32_t)d;
        memcpy(out, &u, 4);
        return 4;
    }
    case RILL_TYPE_FLOAT: {
        float f = (float)d;
        memcpy(out, &f, 4);
        return 4;
    }
    case RILL_TYPE_DOUBLE:
        memcpy(out, &d, 8);
        return 8;
    }
    return 0;
}

rill_audio_change rill_audio_change_none(void) {
    rill_audio_change c = {0, 0, 0, -1.0};
    return c;
}
