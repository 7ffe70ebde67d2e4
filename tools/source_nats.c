/* rill serve --source nats://... See source_nats.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rill/nats.h"
#include "source_nats.h"

#define MAX_VARS 256

struct nats_source {
    char urls[1024], device[80], stream[80], prefix[80], bucket[80];
    rill_client *cl;
    rill_client_list *list;
    rill_server *srv;
    rill_var *vars[MAX_VARS]; /* in the order streamed: the blocks' order */
    size_t n;
    uint64_t ticks; /* consumer thread: ticks served */
};

bool nats_source_is(const char *spec) {
    return strncmp(spec, "nats://", 7) == 0;
}

/* "key=value" of the query into out (unchanged when absent). */
static void query_value(const char *query, const char *key, char *out, size_t cap) {
    size_t k = strlen(key);
    for (const char *p = query; p != NULL && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, k) == 0 && p[k] == '=') {
            size_t len = strcspn(p + k + 1, "&");
            snprintf(out, cap, "%.*s", (int)len, p + k + 1);
        }
}

/* nats://URLS/DEVICE[?query]: the URLs (comma-separated servers) end at
 * the last '/' that is not part of a "//". */
static bool parse_spec(nats_source *s, const char *spec, char *err, size_t err_size) {
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", spec);
    char *query = strchr(copy, '?');
    if (query != NULL)
        *query++ = '\0';
    char *slash = strrchr(copy, '/');
    if (slash == NULL || slash == copy || slash[-1] == '/' || slash[1] == '\0') {
        snprintf(err, err_size, "write nats://HOST:PORT/DEVICE (several servers: "
                                "nats://A:4222,nats://B:4222/DEVICE), the device as rill "
                                "bridge names it");
        return false;
    }
    *slash = '\0';
    snprintf(s->urls, sizeof s->urls, "%s", copy);
    snprintf(s->device, sizeof s->device, "%s", slash + 1);
    rill_nats_config d = rill_nats_config_default();
    snprintf(s->stream, sizeof s->stream, "%s", d.stream);
    snprintf(s->prefix, sizeof s->prefix, "%s", d.subject_prefix);
    snprintf(s->bucket, sizeof s->bucket, "%s", d.kv_bucket);
    query_value(query, "stream", s->stream, sizeof s->stream);
    query_value(query, "prefix", s->prefix, sizeof s->prefix);
    query_value(query, "bucket", s->bucket, sizeof s->bucket);
    return true;
}

static void on_error(rill_client *cl, int err, const char *msg, void *user) {
    (void)cl;
    (void)user;
    if (err == RILL_ECLOSED)
        fprintf(stderr, "rill serve: the NATS source ended: %s\n", msg);
}

/* The consumer's thread: one block, tick by tick. */
static void on_block(rill_client *cl, const rill_client_block *blk, void *user) {
    (void)cl;
    nats_source *s = user;
    size_t cursor[MAX_VARS] = {0};
    size_t n = blk->n < s->n ? blk->n : s->n;
    for (uint64_t t = blk->first_ts; t < blk->first_ts + blk->ticks; t++) {
        rill_server_tick(s->srv, t);
        for (size_t i = 0; i < n; i++) {
            const rill_client_buffer *b = &blk->buffers[i];
            size_t k = cursor[i];
            if (k >= b->count)
                continue;
            uint64_t at = b->first_ts + (b->rel != NULL ? b->rel[k] : k);
            if (at != t)
                continue;
            const uint8_t *v = (const uint8_t *)b->values + k * rill_type_size(b->type);
            switch (b->type) {
            case RILL_TYPE_CHAR: rill_var_set_char(s->vars[i], (char)v[0]); break;
            case RILL_TYPE_INT32: {
                int32_t x;
                memcpy(&x, v, sizeof x);
                rill_var_set_int32(s->vars[i], x);
                break;
            }
            case RILL_TYPE_UINT32: {
                uint32_t x;
                memcpy(&x, v, sizeof x);
                rill_var_set_uint32(s->vars[i], x);
                break;
            }
            case RILL_TYPE_FLOAT: {
                float x;
                memcpy(&x, v, sizeof x);
                rill_var_set_float(s->vars[i], x);
                break;
            }
            case RILL_TYPE_DOUBLE: {
                double x;
                memcpy(&x, v, sizeof x);
                rill_var_set_double(s->vars[i], x);
                break;
            }
            }
            cursor[i] = k + 1;
        }
        s->ticks++;
    }
}

int nats_source_open(const char *spec, nats_source **out, char *err, size_t err_size) {
    *out = NULL;
    nats_source *s = calloc(1, sizeof *s);
    if (s == NULL)
        return RILL_ENOMEM;
    if (!parse_spec(s, spec, err, err_size)) {
        free(s);
        return RILL_EINVAL;
    }
    rill_client_config cc = rill_client_config_default();
    cc.on_block = on_block;
    cc.on_error = on_error;
    cc.user = s;
    rill_nats_config nc = rill_nats_config_default();
    nc.nats_url = s->urls;
    nc.device = s->device;
    nc.stream = s->stream;
    nc.subject_prefix = s->prefix;
    nc.kv_bucket = s->bucket;
    int rc = rill_nats_connect(&cc, &nc, &s->cl);
    if (rc == 0)
        rc = rill_client_list_vars(s->cl, &s->list);
    if (rc != 0) {
        /* The library has logged the reason; the caller says it. */
        snprintf(err, err_size, "%s", rill_strerror(rc));
        nats_source_free(s);
        return rc;
    }
    if (s->list->n_vars > MAX_VARS) {
        snprintf(err, err_size, "%s has %zu variables; at most %d are served again",
                 s->device, s->list->n_vars, MAX_VARS);
        nats_source_free(s);
        return RILL_ETOOBIG;
    }
    *out = s;
    return 0;
}

double nats_source_rate(const nats_source *s) {
    return s->list->sample_rate > 0 ? s->list->sample_rate : 1000;
}

int nats_source_start(nats_source *s, rill_server *srv) {
    s->srv = srv;
    const char *names[MAX_VARS];
    for (size_t i = 0; i < s->list->n_vars; i++) {
        const rill_client_var *v = &s->list->vars[i];
        s->vars[i] = rill_var_create(srv, v->name, v->type, v->mode);
        if (s->vars[i] == NULL)
            return RILL_ENOMEM;
        names[i] = v->name;
    }
    s->n = s->list->n_vars;
    rill_audio_desc audio;
    if (rill_client_get_audio(s->cl, &audio) == 0)
        rill_server_set_audio(srv, &audio); /* the dashboard's audio view */
    rill_client_stream_opts so = {0, 0, 0, 0};
    return rill_client_stream_start(s->cl, names, s->n, &so);
}

void nats_source_free(nats_source *s) {
    if (s == NULL)
        return;
    rill_client_destroy(s->cl); /* joins the consumer's thread: no more ticks */
    rill_client_list_free(s->list);
    free(s);
}

void nats_source_describe(const nats_source *s, FILE *out) {
    fprintf(out, "rill serve: %s from NATS %s (stream %s, subjects %s.%s.*), "
                 "served with its own ticks:\n",
            s->device, s->urls, s->stream, s->prefix, s->device);
    for (size_t i = 0; i < s->list->n_vars; i++) {
        const rill_client_var *v = &s->list->vars[i];
        fprintf(out, "  %-16s %-7s %s\n", v->name, rill_type_name(v->type),
                v->mode == RILL_TS_DENSE ? "dense" : "sparse");
    }
}
