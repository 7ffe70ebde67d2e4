/* The log directory over HTTP, beside GET /files/<name> (server.c): a
 * listing and deletion of log files, so that a client can do what pybela's
 * Logger does over SFTP (copy_all_bin_files_in_project,
 * delete_file_from_bela, delete_all_bin_files_in_project). Network thread.
 * docs/PROTOCOL.md §5.1. */
#ifndef RILL_WATCH_LOGFILES_HTTP_H
#define RILL_WATCH_LOGFILES_HTTP_H

#include <libwebsockets.h>
#include <stdbool.h>

/* Whether the log file `name` is still being written (the server's log
 * streams). */
typedef bool (*rill__logfile_busy_fn)(const char *name, void *ctx);

/* Answer GET /files/ (name NULL: the listing) or DELETE /files/<name>
 * (name: the part after /files/) for the log files of `log_dir`. The
 * caller has checked the token. Returns what the libwebsockets HTTP
 * callback returns (0, or -1 to close). */
int rill__logfiles_http(struct lws *wsi, const char *log_dir,
                        const char *name, rill__logfile_busy_fn busy,
                        void *ctx);

#endif
