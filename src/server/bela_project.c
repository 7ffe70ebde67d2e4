/* Log files where a Bela board writes them, /root/Bela/projects/<project>/,
 * which is where pybela's Logger fetches them over SFTP
 * (/root/Bela/projects/<projectName>/<logFileName>, docs/PROTOCOL.md §5).
 * The server only chooses the directory; serving it over SSH is the
 * machine's sshd (python/README.md says how, and what is safer). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "rill/server.h"
#include "server/internal.h"

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path) {
    struct stat st;
    if (mkdir(path, 0755) == 0)
        return 0;
    int err = errno;
    if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    rill__log_error("bela_project: cannot create the directory %s: %s", path,
                    err == EEXIST ? "a file of that name exists"
                                  : strerror(err));
    return RILL_EIO;
}

int rill__bela_project_dir(const char *project, char *dir, size_t cap) {
    size_t n = project ? strlen(project) : 0;
    bool ok = n != 0 && n <= 64 && strcmp(project, ".") != 0 &&
              strcmp(project, "..") != 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = project[i] != '/' && (unsigned char)project[i] >= 0x20 &&
             project[i] != 0x7f;
    if (!ok) {
        rill__log_error("bela_project \"%s\" is not a project name (1 to 64 "
                        "characters, no '/', not \".\" or \"..\")",
                        project ? project : "");
        return RILL_EINVAL;
    }
    /* The parents first: a fresh machine has no /root/Bela. */
    static const char *const parents[] = {"/root/Bela", RILL_BELA_PROJECTS_DIR};
    int rc;
    for (size_t i = 0; i < sizeof parents / sizeof parents[0]; i++)
        if ((rc = make_dir(parents[i])) != 0)
            return rc;
    int len = snprintf(dir, cap, "%s/%s", RILL_BELA_PROJECTS_DIR, project);
    if (len < 0 || (size_t)len >= cap)
        return RILL_EINVAL;
    return make_dir(dir);
}
