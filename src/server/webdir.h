/* Directories the server shows the dashboard besides its own files: the
 * custom handler types of `rill serve --handlers DIR` at /handlers/ and the
 * scripts of `--examples DIR` at /examples/ (the editor's list). Network
 * thread only (the libwebsockets HTTP callback). */
#ifndef RILL_SERVER_WEBDIR_H
#define RILL_SERVER_WEBDIR_H

#include <stddef.h>

struct lws;

/* Answer GET <prefix><rel> from `dir`, after the request was authorized:
 *  - rel "" (the prefix itself): a JSON index of the regular files directly
 *    in dir whose names end in one of `exts` (a NULL-terminated list),
 *    {"files":[{"name":"a.js","size":123},...]} sorted by name; dir NULL
 *    gives an empty index, so a page may always ask;
 *  - otherwise rel names one file: served if it is a plain name (letters,
 *    digits, '-', '_', '.', not starting with '.'), ends in one of exts,
 *    and is a regular file directly inside dir, not a symbolic link
 *    (rill__open_beneath); else 404. Nothing outside dir can be named or
 *    reached through a link.
 * Returns what the lws HTTP callback must return. */
int rill__webdir_serve(struct lws *wsi, const char *dir, const char *rel,
                       const char *const *exts);

/* Whether `name` may be served from a directory (the rules above, without
 * the file system); exposed for the unit test. */
int rill__webdir_name_ok(const char *name, const char *const *exts);

#endif /* RILL_SERVER_WEBDIR_H */
