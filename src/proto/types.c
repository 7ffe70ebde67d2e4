/* The five value types of watched variables: sizes, wire letters, names. */
#include <stdbool.h>
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
