/* The device's setup, off the tick path: its rings and queues, streams'
 * memory, and declaring variables (user threads, before or while the tick
 * thread runs: rill_var_create publishes a variable to the tick and
 * network threads only once it is whole). var.c is the tick thread's side
 * of the same structures (device.h). */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "proto/wire.h"
#include "server/device.h"
#include "server/internal.h"

/* ---- Setup (not real-time) ------------------------------------------------ */

int rill__device_init(rill__device *dev, size_t max_vars, size_t max_streams,
                      size_t out_bytes, size_t log_bytes) {
    memset(dev, 0, sizeof *dev);
    dev->rt_active = true;
    dev->wake_fd = -1;
    dev->max_vars = max_vars;
    dev->max_scheduled = max_streams;
    int rc = RILL_ENOMEM;
    dev->vars = rill__calloc(max_vars, sizeof *dev->vars);
    dev->scheduled = rill__calloc(max_streams, sizeof *dev->scheduled);
    size_t slots = 16;
    while (slots < 2 * max_vars)
        slots *= 2;
    dev->by_name = rill__calloc(slots, sizeof *dev->by_name);
    dev->by_name_mask = slots - 1;
    if (dev->vars == NULL || dev->scheduled == NULL || dev->by_name == NULL)
        goto fail;
    /* Every stream can have one command and one event outstanding at the
     * worst moment, plus room for bursts. */
    if ((rc = rill_queue_create(sizeof(rill__rtcmd), max_streams * 2 + 256,
                                &dev->cmds)) != 0 ||
        (rc = rill_queue_create(sizeof(rill__ev), max_streams * 2 + 256,
                                &dev->events)) != 0 ||
        (rc = rill_ring_create(out_bytes, &dev->out)) != 0 ||
        (rc = rill_ring_create(log_bytes, &dev->log)) != 0)
        goto fail;
    return 0;
fail:
    rill__device_deinit(dev);
    return rc;
}

void rill__device_deinit(rill__device *dev) {
    rill_ring_destroy(dev->log);
    rill_ring_destroy(dev->out);
    rill_queue_destroy(dev->events);
    rill_queue_destroy(dev->cmds);
    rill__free(dev->scheduled);
    rill__free(dev->vars);
    rill__free((void *)dev->by_name);
    memset(dev, 0, sizeof *dev);
}

/* Layout of a stream's buffer. Compatibility: the 4104-byte Bela body
 * (ref, values, and for sparse variables the timestamps at offset R).
 * Native: `capacity` values then `capacity` timestamps. */
rill__stream *rill__stream_create(rill_var *var, rill__stream_kind kind,
                                  rill__sink sink, bool compat,
                                  uint32_t capacity) {
    rill__stream *s = rill__malloc_aligned(sizeof *s, RILL__STREAM_ALIGN);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    s->var = var;
    s->kind = kind;
    s->sink = sink;
    s->compat = compat;
    s->gated = sink == RILL__SINK_COMPAT_WATCH;
    s->log_fd = -1;
    atomic_init(&s->pub_state, RILL__ST_NO);
    atomic_init(&s->pub_started, false);
    atomic_init(&s->pub_start, 0);
    atomic_init(&s->pub_period, 0);
    if (kind == RILL__STREAM_MONITOR)
        return s;
    bool sparse = var->mode == RILL_TS_SPARSE;
    if (compat) {
        s->capacity = (uint32_t)rill__bela_values_per_buffer(var->type, var->mode);
        s->values_off = RILL__BELA_VALUES_OFFSET;
        s->rel_off = sparse ? (uint32_t)rill__bela_rel_offset(var->type) : 0;
        s->buf_bytes = RILL__BELA_BODY_BYTES;
    } else {
        s->capacity = capacity;
        s->values_off = 0;
        s->rel_off = (uint32_t)(((size_t)capacity * var->size + 3) & ~(size_t)3);
        s->buf_bytes = s->rel_off + (sparse ? capacity * 4u : 0);
    }
    s->buf = rill__calloc(1, s->buf_bytes);
    if (s->buf == NULL) {
        rill__free_aligned(s);
        return NULL;
    }
    s->values = s->buf + s->values_off;
    return s;
}

void rill__stream_destroy(rill__stream *s) {
    if (s == NULL)
        return;
    rill__free(s->buf);
    rill__free_aligned(s);
}

/* ---- Declaring variables (user threads) ---------------------------------- */

size_t rill__n_vars(const rill_server *srv) {
    return atomic_load_explicit(&srv->dev.n_vars, memory_order_acquire);
}

/* FNV-1a: names of one device often share long prefixes (mic_0 ..
 * mic_1023), which a linear search compared byte by byte for every name
 * of every command: a watch of 1500 names was millions of strcmp. */
static size_t name_hash(const char *name) {
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)h;
}

/* The slot holding `name`, or the empty slot where it would go. */
static _Atomic(rill_var *) *name_slot(const rill__device *dev,
                                      const char *name) {
    for (size_t i = name_hash(name);; i++) {
        _Atomic(rill_var *) *slot = &dev->by_name[i & dev->by_name_mask];
        rill_var *v = atomic_load_explicit(slot, memory_order_acquire);
        if (v == NULL || strcmp(v->name, name) == 0)
            return slot; /* never full: twice max_vars slots */
    }
}

rill_var *rill_var_create(rill_server *srv, const char *name, rill_type type,
                          rill_ts_mode mode) {
    if (srv == NULL || name == NULL || rill_type_size(type) == 0 ||
        (mode != RILL_TS_DENSE && mode != RILL_TS_SPARSE)) {
        rill__log_error("rill_var_create: invalid argument");
        return NULL;
    }
    size_t len = strlen(name);
    if (len == 0 || len >= RILL__VAR_NAME_MAX) {
        rill__log_error("rill_var_create: name '%s' must be 1 to %d bytes",
                        name, RILL__VAR_NAME_MAX - 1);
        return NULL;
    }
    pthread_mutex_lock(&srv->vars_lock);
    rill_var *v = NULL;
    size_t n = rill__n_vars(srv);
    _Atomic(rill_var *) *slot = name_slot(&srv->dev, name);
    if (atomic_load_explicit(slot, memory_order_relaxed) != NULL) {
        rill__log_error("rill_var_create: a variable named '%s' exists", name);
        goto out;
    }
    if (n == srv->dev.max_vars) {
        rill__log_error("rill_var_create: '%s': the server holds at most %zu "
                        "variables (rill_server_config.max_vars)",
                        name, srv->dev.max_vars);
        goto out;
    }
    v = rill__malloc_aligned(sizeof *v, RILL__STREAM_ALIGN);
    if (v == NULL)
        goto out;
    memset(v, 0, sizeof *v);
    v->srv = srv;
    v->dev = &srv->dev;
    v->id = (uint32_t)n;
    v->type = type;
    v->mode = mode;
    v->size = rill_type_size(type);
    memcpy(v->name, name, len + 1);
    v->compat_watch = rill__stream_create(v, RILL__STREAM_BUFFER,
                                          RILL__SINK_COMPAT_WATCH, true, 0);
    v->compat_monitor = rill__stream_create(v, RILL__STREAM_MONITOR,
                                            RILL__SINK_COMPAT_MONITOR, true, 0);
    if (v->compat_watch == NULL || v->compat_monitor == NULL) {
        rill__stream_destroy(v->compat_watch);
        rill__stream_destroy(v->compat_monitor);
        rill__free_aligned(v);
        v = NULL;
        rill__log_error("rill_var_create: '%s': out of memory", name);
        goto out;
    }
    v->net_n_streams = 2;
    srv->dev.vars[n] = v;
    /* Publish: readers that see the new count, or find the name, see the
     * whole variable. */
    atomic_store_explicit(slot, v, memory_order_release);
    atomic_store_explicit(&srv->dev.n_vars, n + 1, memory_order_release);
out:
    pthread_mutex_unlock(&srv->vars_lock);
    return v;
}

rill_var *rill__var_find(rill_server *srv, const char *name) {
    return atomic_load_explicit(name_slot(&srv->dev, name),
                                memory_order_acquire);
}

bool rill_server_watched(const rill_server *srv) {
    /* A command waiting is a client about to start something: it takes
     * effect at the next tick, which a sleeping program should not delay. */
    return srv->dev.rt_attached != 0 || srv->dev.n_scheduled != 0 ||
           rill_queue_count(srv->dev.cmds) != 0;
}

uint64_t rill_server_now(const rill_server *srv) {
    return atomic_load_explicit(&((rill_server *)srv)->dev.pub_now,
                                memory_order_acquire);
}
