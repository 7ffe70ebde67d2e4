/* Running the user's callbacks: at once on the I/O thread, or, with
 * cfg.poll, later on the thread that calls rill_client_poll.
 *
 * Poll mode queues each event as one record in an SPSC byte ring (the I/O
 * thread writes, the polling thread reads): an 8-byte header {kind,
 * payload bytes} and the payload, every part padded to 8 bytes. A record
 * is never split by the end of the ring (where one would be, a PAD record
 * fills the rest and it starts at the beginning), so the consumer runs the
 * callbacks on the record where it lies, aligned, with no copy, and
 * releases it afterwards. A record is reserved, filled and committed
 * whole, so the consumer never sees half of one. When the ring is full a
 * buffer, block or monitor value is dropped whole and counted; errors and
 * completions are small and use the ring's last 4 KiB, which data never
 * takes, so they always get through.
 */
#include <stdio.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"

#define RILL__POLL_DEFAULT_BYTES (16u << 20)
#define RILL__POLL_RESERVE 4096u

enum { EV_BUFFER = 1, EV_BLOCK, EV_MONITOR, EV_ERROR, EV_DONE, EV_EVENT, EV_PAD };

typedef struct ev_header {
    uint32_t kind;
    uint32_t bytes; /* payload after this header, a multiple of 8 */
} ev_header;

typedef struct ev_buffer {
    uint64_t first_ts;
    uint32_t var_id;
    uint32_t count;
    uint32_t dropped;
    uint8_t last, has_rel, pad[2];
} ev_buffer; /* then the values and the relative ticks, each padded */

typedef struct ev_block {
    uint64_t first_ts, ticks;
    uint64_t n;
} ev_block; /* then n buffers as above */

typedef struct ev_monitor {
    uint64_t tick;
    double value;
    uint32_t var_id, pad;
} ev_monitor;

typedef struct ev_error {
    int32_t err, pad;
    char msg[200];
} ev_error;

typedef struct ev_done {
    rill_client_done_fn fn;
    void *user;
    int32_t err, pad;
} ev_done;

typedef struct ev_event {
    int32_t kind;
    uint32_t var_id;
    uint64_t first, ticks, resumed, buffers;
    uint32_t attempts;
    uint8_t restarted, pad[3];
    char name[64];
    char file[96];
    char msg[256];
} ev_event;

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t buffer_bytes(const rill_client_buffer *b) {
    return sizeof(ev_buffer) + pad8(b->count * rill_type_size(b->type)) +
           (b->rel != NULL ? pad8(b->count * 4) : 0);
}

int rill__deliver_init(rill_client *cl) {
    pthread_mutex_init(&cl->poll_mx, NULL);
    pthread_cond_init(&cl->poll_cv, NULL);
    if (!cl->cfg.poll)
        return 0;
    size_t bytes = cl->cfg.poll_bytes ? cl->cfg.poll_bytes : RILL__POLL_DEFAULT_BYTES;
    return rill_ring_create(RILL__MAX(bytes, (size_t)RILL__POLL_RESERVE * 4), &cl->pq);
}

void rill__deliver_free(rill_client *cl) {
    rill_ring_destroy(cl->pq);
    pthread_cond_destroy(&cl->poll_cv);
    pthread_mutex_destroy(&cl->poll_mx);
}

/* ---- Producer (I/O thread) ------------------------------------------------ */

typedef struct writer {
    rill_ring_span span;
    size_t off;
} writer;

static void put(writer *w, const void *src, size_t n) {
    const uint8_t *p = src;
    while (n > 0) {
        size_t in0 = w->span.len[0];
        uint8_t *dst;
        size_t room;
        if (w->off < in0) {
            dst = w->span.ptr[0] + w->off;
            room = in0 - w->off;
        } else {
            dst = w->span.ptr[1] + (w->off - in0);
            room = w->span.len[1] - (w->off - in0);
        }
        size_t k = RILL__MIN(room, n);
        memcpy(dst, p, k);
        w->off += k;
        p += k;
        n -= k;
    }
}

static void put_zeros(writer *w, size_t n) {
    static const uint8_t zeros[8];
    put(w, zeros, n);
}

static void put_padded(writer *w, const void *src, size_t n) {
    put(w, src, n);
    put_zeros(w, pad8(n) - n);
}

/* Reserve a whole record, in one piece, or nothing. Data events leave the
 * last RILL__POLL_RESERVE bytes to errors and completions. Where the
 * record would wrap around the end of the ring, a PAD record takes the
 * space up to the end (positions and sizes are multiples of 8, so it has
 * room for its header) and the record starts at the beginning. */
static bool begin(rill_client *cl, writer *w, uint32_t kind, size_t bytes,
                  bool data) {
    size_t total = sizeof(ev_header) + bytes;
    size_t keep = data ? RILL__POLL_RESERVE : 0;
    size_t room = rill_ring_writable(cl->pq);
    if (room < total + keep ||
        rill_ring_write_reserve(cl->pq, total, &w->span) < total)
        return false;
    if (w->span.len[1] != 0) {
        size_t tail = w->span.len[0];
        if (room < tail + total + keep)
            return false;
        ev_header pad = {EV_PAD, (uint32_t)(tail - sizeof pad)};
        memcpy(w->span.ptr[0], &pad, sizeof pad);
        rill_ring_write_commit(cl->pq, tail);
        if (rill_ring_write_reserve(cl->pq, total, &w->span) < total)
            return false; /* cannot happen: room was checked */
    }
    w->off = 0;
    ev_header h = {kind, (uint32_t)bytes};
    put(w, &h, sizeof h);
    return true;
}

static void commit(rill_client *cl, writer *w) {
    rill_ring_write_commit(cl->pq, w->off);
    pthread_mutex_lock(&cl->poll_mx);
    pthread_cond_broadcast(&cl->poll_cv);
    pthread_mutex_unlock(&cl->poll_mx);
}

static void lost(rill_client *cl, uint32_t buffers) {
    cl->pending_drops += buffers;
    atomic_fetch_add(&cl->dropped, buffers);
}

static void put_buffer(writer *w, const rill_client_buffer *b, uint32_t extra) {
    ev_buffer e;
    memset(&e, 0, sizeof e);
    e.first_ts = b->first_ts;
    e.var_id = b->var_id;
    e.count = (uint32_t)b->count;
    e.dropped = b->dropped + extra;
    e.last = b->last;
    e.has_rel = b->rel != NULL;
    put(w, &e, sizeof e);
    put_padded(w, b->values, b->count * rill_type_size(b->type));
    if (b->rel != NULL)
        put_padded(w, b->rel, b->count * 4);
}

void rill__deliver_buffer(rill_client *cl, const rill_client_buffer *b) {
    if (cl->cfg.on_buffer == NULL)
        return;
    if (cl->pq == NULL) {
        cl->cfg.on_buffer(cl, b, cl->cfg.user);
        return;
    }
    writer w;
    if (!begin(cl, &w, EV_BUFFER, buffer_bytes(b), true)) {
        lost(cl, 1);
        return;
    }
    put_buffer(&w, b, cl->pending_drops);
    cl->pending_drops = 0;
    commit(cl, &w);
}

void rill__deliver_block(rill_client *cl, const rill_client_block *blk) {
    if (cl->cfg.on_block == NULL)
        return;
    if (cl->pq == NULL) {
        cl->cfg.on_block(cl, blk, cl->cfg.user);
        return;
    }
    size_t bytes = sizeof(ev_block);
    for (size_t i = 0; i < blk->n; i++)
        bytes += buffer_bytes(&blk->buffers[i]);
    writer w;
    if (bytes > UINT32_MAX || !begin(cl, &w, EV_BLOCK, bytes, true)) {
        lost(cl, 1);
        return;
    }
    ev_block e = {blk->first_ts, blk->ticks, blk->n};
    put(&w, &e, sizeof e);
    for (size_t i = 0; i < blk->n; i++)
        put_buffer(&w, &blk->buffers[i], i == 0 ? cl->pending_drops : 0);
    cl->pending_drops = 0;
    commit(cl, &w);
}

void rill__deliver_monitor(rill_client *cl, const char *name, uint64_t tick,
                           double value) {
    if (cl->cfg.on_monitor == NULL)
        return;
    if (cl->pq == NULL) {
        cl->cfg.on_monitor(cl, name, tick, value, cl->cfg.user);
        return;
    }
    uint32_t id = 0;
    while (id < cl->vars->n_vars && cl->vars->vars[id].name != name)
        id++;
    writer w;
    if (!begin(cl, &w, EV_MONITOR, sizeof(ev_monitor), true)) {
        lost(cl, 1);
        return;
    }
    ev_monitor e = {tick, value, id, 0};
    put(&w, &e, sizeof e);
    commit(cl, &w);
}

void rill__deliver_error(rill_client *cl, int err, const char *msg) {
    if (cl->cfg.on_error == NULL)
        return;
    if (cl->pq == NULL) {
        cl->cfg.on_error(cl, err, msg, cl->cfg.user);
        return;
    }
    ev_error e;
    memset(&e, 0, sizeof e);
    e.err = err;
    snprintf(e.msg, sizeof e.msg, "%s", msg);
    writer w;
    if (begin(cl, &w, EV_ERROR, sizeof e, false)) {
        put(&w, &e, sizeof e);
        commit(cl, &w);
    }
}

void rill__deliver_done(rill_client *cl, rill_client_done_fn fn, void *user,
                        int err) {
    if (fn == NULL)
        return;
    if (cl->pq == NULL) {
        fn(cl, err, user);
        return;
    }
    ev_done e = {fn, user, err, 0};
    writer w;
    if (begin(cl, &w, EV_DONE, sizeof e, false)) {
        put(&w, &e, sizeof e);
        commit(cl, &w);
    }
}

/* The event with its strings pointing at `e`'s (NULL when empty). */
static rill_client_event event_of(const rill_client_event *ev, const char *name,
                                  const char *file, const char *msg) {
    rill_client_event out = *ev;
    out.name = name[0] != '\0' ? name : NULL;
    out.file = file[0] != '\0' ? file : NULL;
    out.msg = msg;
    return out;
}

void rill__deliver_event(rill_client *cl, const rill__event *e) {
    if (cl->cfg.on_event == NULL || e->ev.kind == 0)
        return;
    if (cl->pq == NULL) {
        rill_client_event ev = event_of(&e->ev, e->name, e->file, e->msg);
        cl->cfg.on_event(cl, &ev, cl->cfg.user);
        return;
    }
    ev_event r;
    memset(&r, 0, sizeof r);
    r.kind = (int32_t)e->ev.kind;
    r.var_id = e->ev.var_id;
    r.first = e->ev.first;
    r.ticks = e->ev.ticks;
    r.resumed = e->ev.resumed;
    r.buffers = e->ev.buffers;
    r.attempts = e->ev.attempts;
    r.restarted = e->ev.restarted;
    snprintf(r.name, sizeof r.name, "%s", e->name);
    snprintf(r.file, sizeof r.file, "%s", e->file);
    snprintf(r.msg, sizeof r.msg, "%s", e->msg);
    writer w;
    if (begin(cl, &w, EV_EVENT, sizeof r, false)) {
        put(&w, &r, sizeof r);
        commit(cl, &w);
    }
}

void rill__deliver_wake(rill_client *cl) {
    pthread_mutex_lock(&cl->poll_mx);
    pthread_cond_broadcast(&cl->poll_cv);
    pthread_mutex_unlock(&cl->poll_mx);
}

uint64_t rill_client_dropped(const rill_client *cl) {
    return atomic_load(&cl->dropped);
}

/* ---- Consumer (rill_client_poll) ------------------------------------------ */

/* Rebuild a buffer from its record at *p; advances *p. */
static void get_buffer(rill_client *cl, const uint8_t **p,
                       rill_client_buffer *b) {
    ev_buffer e;
    memcpy(&e, *p, sizeof e);
    *p += sizeof e;
    const rill_client_var *v = &cl->vars->vars[e.var_id];
    memset(b, 0, sizeof *b);
    b->name = v->name;
    b->var_id = e.var_id;
    b->type = v->type;
    b->mode = v->mode;
    b->first_ts = e.first_ts;
    b->count = e.count;
    b->dropped = e.dropped;
    b->last = e.last;
    b->values = *p;
    *p += pad8(e.count * rill_type_size(v->type));
    if (e.has_rel) {
        b->rel = (const uint32_t *)(const void *)*p;
        *p += pad8(e.count * 4);
    }
}

static void dispatch(rill_client *cl, uint32_t kind, const uint8_t *p) {
    switch (kind) {
    case EV_BUFFER: {
        rill_client_buffer b;
        get_buffer(cl, &p, &b);
        cl->cfg.on_buffer(cl, &b, cl->cfg.user);
        break;
    }
    case EV_BLOCK: {
        ev_block e;
        memcpy(&e, p, sizeof e);
        p += sizeof e;
        rill_client_buffer bufs[16];
        rill_client_buffer *b = e.n <= 16 ? bufs : rill__calloc(e.n, sizeof *b);
        if (b == NULL) {
            rill__log_error("out of memory: an aligned block lost");
            atomic_fetch_add(&cl->dropped, 1);
            break;
        }
        for (size_t i = 0; i < e.n; i++)
            get_buffer(cl, &p, &b[i]);
        rill_client_block blk = {e.first_ts, e.ticks, e.n, b};
        cl->cfg.on_block(cl, &blk, cl->cfg.user);
        if (b != bufs)
            rill__free(b);
        break;
    }
    case EV_MONITOR: {
        ev_monitor e;
        memcpy(&e, p, sizeof e);
        cl->cfg.on_monitor(cl, cl->vars->vars[e.var_id].name, e.tick, e.value,
                           cl->cfg.user);
        break;
    }
    case EV_ERROR: {
        ev_error e;
        memcpy(&e, p, sizeof e);
        cl->cfg.on_error(cl, e.err, e.msg, cl->cfg.user);
        break;
    }
    case EV_DONE: {
        ev_done e;
        memcpy(&e, p, sizeof e);
        e.fn(cl, e.err, e.user);
        break;
    }
    case EV_EVENT: {
        ev_event r;
        memcpy(&r, p, sizeof r);
        rill_client_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = (rill_client_event_kind)r.kind;
        ev.var_id = r.var_id;
        ev.first = r.first;
        ev.ticks = r.ticks;
        ev.resumed = r.resumed;
        ev.buffers = r.buffers;
        ev.attempts = r.attempts;
        ev.restarted = r.restarted != 0;
        ev = event_of(&ev, r.name, r.file, r.msg);
        cl->cfg.on_event(cl, &ev, cl->cfg.user);
        break;
    }
    default:
        break;
    }
}

/* The oldest record, where it lies in the ring (in one piece: see
 * begin); false if none is there. The caller releases its
 * sizeof(ev_header) + *bytes when done with it. */
static bool peek(rill_client *cl, uint32_t *kind, uint32_t *bytes,
                 const uint8_t **payload) {
    ev_header h;
    rill_ring_span s;
    if (rill_ring_read_peek(cl->pq, sizeof h, &s) < sizeof h)
        return false;
    memcpy(&h, s.ptr[0], sizeof h);
    size_t total = sizeof h + h.bytes;
    if (rill_ring_read_peek(cl->pq, total, &s) < total)
        return false; /* cannot happen: records are committed whole */
    *kind = h.kind;
    *bytes = h.bytes;
    *payload = s.ptr[0] + sizeof h;
    return true;
}

int rill_client_poll(rill_client *cl, int timeout_ms) {
    if (cl->pq == NULL)
        return RILL_EINVAL;
    pthread_mutex_lock(&cl->poll_mx);
    uint64_t end = rill_clock_now_ns() + (uint64_t)RILL__MAX(timeout_ms, 0) * 1000000u;
    while (rill_ring_readable(cl->pq) == 0) {
        if (atomic_load(&cl->closed) || timeout_ms == 0)
            break;
        uint64_t now = rill_clock_now_ns();
        if (timeout_ms > 0 && now >= end)
            break;
        rill__cond_wait_ns(&cl->poll_cv, &cl->poll_mx,
                           timeout_ms > 0 ? RILL__MIN(end - now, (uint64_t)100000000)
                                          : (uint64_t)100000000);
    }
    pthread_mutex_unlock(&cl->poll_mx);
    /* Only what is queued now: an I/O thread that keeps queueing cannot
     * keep this call from returning. */
    size_t budget = rill_ring_readable(cl->pq), used = 0;
    int ran = 0;
    uint32_t kind, bytes;
    const uint8_t *payload;
    while (used < budget && peek(cl, &kind, &bytes, &payload)) {
        if (kind != EV_PAD) {
            dispatch(cl, kind, payload);
            ran++;
        }
        rill_ring_read_release(cl->pq, sizeof(ev_header) + bytes);
        used += sizeof(ev_header) + bytes;
    }
    if (ran == 0 && atomic_load(&cl->closed) && rill_ring_readable(cl->pq) == 0)
        return RILL_ECLOSED;
    return ran;
}
