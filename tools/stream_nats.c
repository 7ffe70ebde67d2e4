/* rill stream --nats. See stream_nats.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_nats.h"

void stream_nats_init(stream_nats *n) {
    memset(n, 0, sizeof *n);
    n->cfg = rill_nats_config_default();
}

bool stream_nats_replay(const host *h, stream_nats *n, const char *s) {
    char *end = NULL;
    bool ok = true;
    if (strcmp(s, "live") == 0) {
        n->cfg.start = RILL_NATS_LIVE;
    } else if (strcmp(s, "all") == 0) {
        n->cfg.start = RILL_NATS_ALL;
    } else if (strncmp(s, "seq:", 4) == 0) {
        n->cfg.start = RILL_NATS_SEQ;
        n->cfg.start_seq = strtoull(s + 4, &end, 10);
        ok = end != s + 4 && *end == '\0' && n->cfg.start_seq > 0 && s[4] != '-';
    } else if (strncmp(s, "time:", 5) == 0) {
        double t = strtod(s + 5, &end);
        n->cfg.start = RILL_NATS_TIME;
        n->cfg.start_time_ns = (int64_t)(t * 1e9);
        ok = end != s + 5 && *end == '\0' && t > 0;
    } else {
        ok = false;
    }
    if (!ok)
        host_fail(h, EXIT_USAGE, "--replay takes live, all, seq:N (a stream sequence, "
                  "from 1) or time:SECONDS (Unix time), not '%s'", s);
    return ok;
}

int stream_nats_subjects(const host *h, stream_nats *n, char **names, size_t count) {
    for (size_t i = 0; i < count; i++) {
        char *s = names[i];
        char *dot = strrchr(s, '.');
        if (dot == NULL || dot == s || dot[1] == '\0')
            return host_fail(h, EXIT_USAGE, "'%s' is not a subject: with --nats name "
                             "[<prefix>.]<device>.<variable> (e.g. rill.board1.sine)", s);
        char *dev = dot;
        while (dev > s && dev[-1] != '.')
            dev--;
        char d[80];
        snprintf(d, sizeof d, "%.*s", (int)(dot - dev), dev);
        if (dev > s)
            snprintf(n->prefix, sizeof n->prefix, "%.*s", (int)(dev - 1 - s), s);
        if (n->device[0] != '\0' && strcmp(n->device, d) != 0)
            return host_fail(h, EXIT_USAGE, "with --nats every subject names one device "
                             "(%s and %s); run one rill stream per device", n->device, d);
        snprintf(n->device, sizeof n->device, "%s", d);
        memmove(s, dot + 1, strlen(dot + 1) + 1);
    }
    n->cfg.device = n->device;
    if (n->prefix[0] != '\0')
        n->cfg.subject_prefix = n->prefix;
    return -1;
}
