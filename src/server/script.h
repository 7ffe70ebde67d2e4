/* Scripts from the dashboard's editor (rill serve --allow-exec): the text
 * a page sends is written to a private directory (mkdtemp, mode 0700; the
 * file 0600) and run by the interpreter (python3 by default) with the
 * server's address and token in its environment, RILL_URL and RILL_TOKEN,
 * so that rill.browserinterface in the script connects back to this
 * server. The files are removed when the script is destroyed. Network
 * thread only. */
#ifndef RILL_SERVER_SCRIPT_H
#define RILL_SERVER_SCRIPT_H

#include <stddef.h>

typedef struct rill__script rill__script;

/* Write `code` (len bytes) to <private dir>/<name> (name: a plain file
 * name such as "spectrum.py"; anything else, or NULL, gives "script.py")
 * and prepare argv {interpreter, "-u", path} and the environment (this
 * process's, with RILL_URL=url, RILL_TOKEN=token when not NULL, and
 * PYTHONUNBUFFERED=1). Returns 0, RILL_ENOMEM, or RILL_EIO with the reason
 * in err. */
int rill__script_create(const char *code, size_t len, const char *name,
                        const char *interpreter, const char *url,
                        const char *token, rill__script **out, char *err,
                        size_t err_cap);

char *const *rill__script_argv(const rill__script *s);
char *const *rill__script_envp(const rill__script *s);
/* The directory the script runs in (its own). */
const char *rill__script_dir(const rill__script *s);

/* Remove the file and its directory, free. NULL is a no-op. */
void rill__script_destroy(rill__script *s);

#endif /* RILL_SERVER_SCRIPT_H */
