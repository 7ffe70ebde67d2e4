/* The five value types of watched variables: sizes, wire letters, names. */
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
