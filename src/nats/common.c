/* Subjects, headers, connecting. See common.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "nats/common.h"

static bool token_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool rill__nats_name_ok(const char *name) {
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!token_char((unsigned char)name[i]))
            return false;
    return true;
}

int rill__nats_subject(const char *prefix, const char *device, const char *var,
                       char *out, size_t cap) {
    int n = snprintf(out, cap, "%s.%s.", prefix, device);
    if (n < 0 || (size_t)n >= cap)
        return RILL_ETOOBIG;
    size_t k = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)var; *p; p++) {
        if (k + 4 > cap)
            return RILL_ETOOBIG;
        if (token_char(*p))
            out[k++] = (char)*p;
        else
            k += (size_t)snprintf(out + k, 4, "%%%02X", *p);
    }
    if (k == (size_t)n || k >= cap)
        return RILL_ETOOBIG;
    out[k] = '\0';
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int rill__nats_unescape(const char *token, char *out, size_t cap) {
    size_t k = 0;
    for (const char *p = token; *p; p++) {
        if (k + 1 >= cap)
            return RILL_EINVAL;
        if (*p == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (l < 0)
                return RILL_EINVAL;
            out[k++] = (char)(h * 16 + l);
            p += 2;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return 0;
}

void rill__clock_format(const rill_clock_map *m, char *out, size_t cap) {
    snprintf(out, cap, "%" PRIu64 " %" PRId64 " %.12g %.0f %" PRIu32, m->tick0,
             m->ns0, m->ns_per_tick, m->err_ns, m->points);
}

bool rill__clock_parse(const char *s, rill_clock_map *m) {
    rill_clock_map c;
    if (s == NULL ||
        sscanf(s, "%" SCNu64 " %" SCNd64 " %lf %lf %" SCNu32, &c.tick0, &c.ns0,
               &c.ns_per_tick, &c.err_ns, &c.points) != 5 ||
        !(c.ns_per_tick > 0) || !isfinite(c.ns_per_tick))
        return false;
    *m = c;
    return true;
}

bool rill__nats_meta_parse(const char *s, rill__nats_meta *out) {
    rill__nats_meta m;
    memset(&m, 0, sizeof m);
    const char *p = s;
    size_t n = 0;
    if (p == NULL)
        return false;
    while (n < 16 && ((p[n] >= '0' && p[n] <= '9') ||
                      (p[n] >= 'a' && p[n] <= 'f')))
        n++;
    if (n != 16 || p[16] != ' ')
        return false;
    memcpy(m.run, p, 16);
    p += 17;
    m.type = p[0];
    if (m.type == '\0' || p[1] != ' ')
        return false;
    p += 2;
    if (strncmp(p, "dense ", 6) == 0) {
        p += 6;
    } else if (strncmp(p, "sparse ", 7) == 0) {
        m.sparse = true;
        p += 7;
    } else {
        return false;
    }
    char *end = NULL;
    m.rate = strtod(p, &end);
    if (end == p || *end != ' ' || !(m.rate > 0))
        return false;
    m.clock = end + 1;
    *out = m;
    return true;
}

static char *put(char *o, const char *s) {
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

size_t rill__nats_meta_write(char *out, const char *run, char type,
                             bool sparse, const char *rate_text,
                             const char *clock) {
    /* run 16 + type 2 + mode 7 + rate (%.17g: 24) + clock (< 200). */
    char *o = out;
    o = put(o, run);
    *o++ = ' ';
    *o++ = type;
    *o++ = ' ';
    o = put(o, sparse ? "sparse " : "dense ");
    o = put(o, rate_text);
    *o++ = ' ';
    size_t room = RILL__NATS_META_MAX - 1 - (size_t)(o - out);
    size_t n = strnlen(clock, room);
    memcpy(o, clock, n);
    o += n;
    *o = '\0';
    return (size_t)(o - out);
}

int64_t rill_clock_map_ns(const rill_clock_map *m, uint64_t tick) {
    double d = (double)(int64_t)(tick - m->tick0) * m->ns_per_tick;
    return m->ns0 + (int64_t)llround(d);
}

int64_t rill__realtime_minus_monotonic(void) {
    struct timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    return ((int64_t)r.tv_sec - (int64_t)m.tv_sec) * 1000000000 +
           ((int64_t)r.tv_nsec - (int64_t)m.tv_nsec);
}

int rill__nats_error(natsStatus s, jsErrCode jerr, const char *what) {
    const char *detail = nats_GetLastError(NULL);
    if (detail == NULL || detail[0] == '\0')
        detail = natsStatus_GetText(s);
    /* The NATS client puts where in its source it failed first, as
     * "(conn.c:2088): ": of no use to whoever reads the line. */
    const char *close = detail[0] == '(' ? strstr(detail, "): ") : NULL;
    if (close != NULL && close - detail < 40 && memchr(detail, ':', (size_t)(close - detail)))
        detail = close + 3;
    rill__log_error("%s: %s%s", what, detail,
                    jerr != 0 ? " (JetStream refused it)" : "");
    switch (s) {
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
        return RILL_EREFUSED;
    case NATS_TIMEOUT:
        return RILL_ETIMEOUT;
    case NATS_NO_MEMORY:
        return RILL_ENOMEM;
    case NATS_NOT_FOUND:
        return RILL_ENOTFOUND;
    case NATS_INVALID_ARG:
        return RILL_EINVAL;
    default:
        return RILL_EIO;
    }
}

int rill__nats_connect(const char *urls, int timeout_ms, const char *who,
                       natsConnectionHandler reconnected, void *closure,
                       natsConnection **out) {
    natsOptions *o = NULL;
    char *copy = rill__strdup(urls);
    const char *servers[16];
    int n = 0;
    if (copy == NULL)
        return RILL_ENOMEM;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 16;
         t = strtok_r(NULL, ",", &save))
        servers[n++] = t;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, servers, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, who);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, timeout_ms);
    /* A cluster node may go away for good: keep trying the others. */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 100);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
    if (s == NATS_OK && reconnected != NULL)
        s = natsOptions_SetReconnectedCB(o, reconnected, closure);
    /* Every publish goes to the socket at once. By default libnats's
     * flusher thread waits 1 ms for more to send before each write: a
     * paced device's message waited that long before it left, and a
     * consumer's flow-control replies too (bench_nats: R1 p50 1.2 -> 0.4
     * ms, and more MB/s, not fewer, in a flood). */
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(out, o);
    int rc = 0;
    if (s != NATS_OK) {
        char what[512];
        snprintf(what, sizeof what,
                 "cannot connect to NATS at %s (is nats-server running "
                 "there, with JetStream? docs/SCALE.md)",
                 urls);
        rc = rill__nats_error(s, 0, what);
        if (rc == RILL_EIO || rc == RILL_ETIMEOUT)
            rc = s == NATS_TIMEOUT ? RILL_ETIMEOUT : RILL_EREFUSED;
    }
    natsOptions_Destroy(o);
    rill__free(copy);
    return rc;
}
