/* Error strings and the library version. */
#include "rill/core.h"

const char *rill_version_string(void) { return RILL_VERSION_STRING; }

/* A switch with no default: the compiler warns (-Wswitch) when an enum value
 * has no case, and the list in core.h is the only place a code is defined. */
const char *rill_strerror(int err) {
    switch ((enum rill_error)err) {
    case RILL_OK:
        return "success";
#define RILL__ERRNO_STR(name, code, text)                                      \
    case RILL_E##name:                                                         \
        return text;
        RILL_ERRNO_MAP(RILL__ERRNO_STR)
#undef RILL__ERRNO_STR
    }
    return "unknown error";
}

const char *rill_err_name(int err) {
    switch ((enum rill_error)err) {
    case RILL_OK:
        return "RILL_OK";
#define RILL__ERRNO_NAME(name, code, text)                                     \
    case RILL_E##name:                                                         \
        return "RILL_E" #name;
        RILL_ERRNO_MAP(RILL__ERRNO_NAME)
#undef RILL__ERRNO_NAME
    }
    return "RILL_UNKNOWN";
}
