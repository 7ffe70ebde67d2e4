/* Bela's project layout for log files (rill_server_config.bela_project). */
#ifndef RILL_WATCH_BELA_PROJECT_H
#define RILL_WATCH_BELA_PROJECT_H

#include <stddef.h>

/* The log directory of Bela project `project`,
 * RILL_BELA_PROJECTS_DIR/<project>, written to `dir` (cap bytes) and
 * created with its parents when missing. User thread (rill_server_create).
 * Returns 0, RILL_EINVAL (not a plain name: empty, over 64 bytes, a '/',
 * "." or "..", or a control character) or RILL_EIO (a directory cannot be
 * created); the log says which and why. */
int rill__bela_project_dir(const char *project, char *dir, size_t cap);

#endif
