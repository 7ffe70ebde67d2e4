/* What the dash_* examples share: where the server is and for how long to
 * run. Usage: dash_<name> [URL] [SECONDS]; URL defaults to $RILL_URL, then
 * ws://127.0.0.1:5555 (`rill serve` with its demo source). */
#ifndef RILL_EXAMPLES_DASH_COMMON_H
#define RILL_EXAMPLES_DASH_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <rill/rill.h>

static inline const char *dash_url(int argc, char **argv) {
    if (argc > 1 && argv[1][0] != '\0')
        return argv[1];
    const char *env = getenv("RILL_URL");
    return env != NULL && *env != '\0' ? env : "ws://127.0.0.1:5555";
}

static inline int dash_seconds(int argc, char **argv, int dflt) {
    if (argc > 2) {
        int s = atoi(argv[2]);
        if (s > 0)
            return s;
    }
    return dflt;
}

static inline void dash_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    (void)level;
        fprintf(stderr, "rill: %s\n", msg);
}

/* Connect with cfg (its url filled in); on failure say why and exit 1. */
static inline rill_dash *dash_connect_or_exit(rill_dash_config *cfg, const char *url,
                                       const char *prog) {
    rill_set_log_callback(dash_log, RILL_LOG_WARN, NULL);
    cfg->url = url;
    rill_dash *dash = NULL;
    int rc = rill_dash_connect(cfg, &dash);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, url,
                rill_strerror(rc));
        exit(1);
    }
    rill_audio_desc a;
    if (rill_dash_get_audio(dash, &a) != 0) {
        fprintf(stderr, "%s: %s declares no audio input (rill serve's demo "
                        "source does: mic0, mic1)\n", prog, url);
        rill_dash_destroy(dash);
        exit(1);
    }
    return dash;
}

#endif
