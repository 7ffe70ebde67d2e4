/* Each variable's continuity, on the consumer's thread (consumer.c has
 * the rest). Before feeding a frame to the client:
 *  - the bridge's run (in the Rill header) changed: the bridge restarted or
 *    reconnected to the device; the ticks between the old run's last value
 *    and the new run's first are a gap. If the ticks went back, the device
 *    itself restarted: the session ends (RILL_ECLOSED, with why);
 *  - a frame whose sequence minus its `dropped` is the next expected one
 *    follows on; its `dropped` buffers were lost by the device (a gap);
 *  - a frame from further ahead waits: a retried publish may still come,
 *    out of order. The missing frame is a gap only once it cannot come any
 *    more: the bridge said it gave up on it (a Rill-Lost marker), a new run
 *    of the bridge began, or the bridge's retry horizon (its announcement's
 *    retryHorizonMs: how long after a later message was stored a retry can
 *    still be stored) has passed, by the stream's stored times (so a replay
 *    decides at once what a live consumer waited for) or by this host's
 *    clock when nothing newer arrives (a bridge that died). Waiting frames
 *    are bounded in bytes (RILL__HOLD_BYTES); past that the oldest hole is
 *    a gap at once;
 *  - a frame already delivered (older sequence) is ignored.
 * Each gap goes to on_gap and the log once, and the next frame delivered
 * carries the missing buffers in `dropped`, so the client's collectors,
 * on_buffer and rill stream see the loss as they see a device's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"
#include "nats/common.h"
#include "nats/consumer.h"
#include "proto/native.h"

static void report_gap(rill__ncons *c, rill__ncvar *v, uint64_t from,
                       uint64_t to, uint64_t buffers, const char *why) {
    c->stats.gaps++;
    rill__log_warn("%s.%s: ticks [%" PRIu64 ", %" PRIu64 ") are missing: %s",
                   c->device, v->name, from, to, why);
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    pthread_mutex_unlock(&c->mx);
    if (c->cfg.on_gap != NULL) {
        rill_nats_gap g = {c->device, v->name, from, to, buffers, why};
        c->cfg.on_gap(cl, &g, c->cfg.gap_user);
    }
}

static bool ensure_frame(rill__ncons *c, size_t need) {
    if (need <= c->frame_cap)
        return true;
    uint8_t *f = rill__malloc(need);
    if (f == NULL)
        return false;
    rill__free(c->frame);
    c->frame = f;
    c->frame_cap = need;
    return true;
}

/* Feed one in-order frame of `v` (trimmed to its watch), with `lost` more
 * buffers missing before it. */
static void deliver(rill__ncons *c, rill__ncvar *v, natsMsg *m,
                    const rill__native_msg *f, uint64_t lost, const char *why) {
    uint64_t first = f->h.first_ts;
    size_t count = f->h.count;
    uint64_t end_tick = first + (count ? count : 0);
    if (f->rel != NULL && count > 0) {
        uint32_t r;
        memcpy(&r, f->rel + 4 * (count - 1), 4);
        end_tick = first + r + 1;
    }
    uint64_t next_tick = v->next_tick;
    bool had = v->have;
    v->next_tick = end_tick;
    uint64_t lt = atomic_load(&c->last_tick);
    if (end_tick > lt)
        atomic_store(&c->last_tick, end_tick);
    /* The line changes a few times a second: parsed only when it did. */
    const char *text = NULL;
    rill__nats_meta meta;
    const char *clock = natsMsgHeader_Get(m, RILL__H_META, &text) == NATS_OK &&
                                rill__nats_meta_parse(text, &meta)
                            ? meta.clock
                            : NULL;
    rill_clock_map map;
    if (clock != NULL &&
        strncmp(clock, c->clock_text, sizeof c->clock_text) != 0 &&
        rill__clock_parse(clock, &map)) {
        snprintf(c->clock_text, sizeof c->clock_text, "%s", clock);
        pthread_mutex_lock(&c->mx);
        c->clock = map;
        c->have_clock = true;
        pthread_mutex_unlock(&c->mx);
    }
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    bool watched = v->watched;
    uint64_t start = v->start, end = v->end;
    if (watched && end == 0 && v->duration != 0) /* "now" for D ticks */
        end = v->end = RILL__MAX(first, start) + v->duration;
    pthread_mutex_unlock(&c->mx);
    if (!watched || end_tick <= start || f->h.kind != RILL__NATIVE_STREAM ||
        cl == NULL)
        return;
    if (v->pending_lost != 0) { /* the bridge gave up on these */
        lost += v->pending_lost;
        why = v->pending_why;
        v->pending_lost = 0;
    }
    uint64_t dropped = f->h.dropped + lost;
    if (dropped != 0 && had)
        report_gap(c, v, next_tick, first, dropped, why);
    /* Keep the values in [start, end). */
    size_t size = rill_type_size(f->h.type), a = 0, b = count;
    if (f->rel == NULL) { /* dense: tick first + i, no walk over values */
        if (start > first)
            a = (size_t)RILL__MIN(start - first, (uint64_t)count);
        if (end != 0 && end < first + count)
            b = end > first ? (size_t)(end - first) : 0;
    }
    for (size_t i = 0; f->rel != NULL && i < count; i++) { /* sparse */
        uint32_t r;
        memcpy(&r, f->rel + 4 * i, 4);
        uint64_t t = first + r;
        if (t < start)
            a = i + 1;
        if (end != 0 && t >= end && b == count)
            b = i;
    }
    bool last = (f->h.flags & RILL__NATIVE_FLAG_LAST) != 0 ||
                (end != 0 && end_tick >= end);
    if (a >= b && !last)
        return;
    rill__native_header h = f->h;
    h.var_id = (uint32_t)(v - c->vars);
    h.count = (uint32_t)(b > a ? b - a : 0);
    h.dropped = (uint32_t)RILL__MIN(dropped, (uint64_t)UINT32_MAX);
    uint32_t r0 = (uint32_t)a;
    if (f->rel && a < count)
        memcpy(&r0, f->rel + 4 * a, 4);
    h.first_ts = first + r0;
    if (h.count == 0) {
        h.kind = RILL__NATIVE_END;
        h.flags = 0;
    } else if (last) {
        h.flags |= RILL__NATIVE_FLAG_LAST;
    }
    uint32_t *rel = NULL;
    if (f->rel && h.count) {
        rel = rill__malloc(h.count * 4u);
        if (rel == NULL)
            return;
        for (size_t i = 0; i < h.count; i++) {
            uint32_t r;
            memcpy(&r, f->rel + 4 * (a + i), 4);
            rel[i] = r - r0;
        }
    }
    size_t need = rill__native_size(&h), len = 0;
    /* The values straight from the message (the encoder copies them once,
     * behind the new header): no copy of our own. */
    const void *vals = h.count ? f->values + a * size : NULL;
    if (ensure_frame(c, need) &&
        rill__native_encode(&h, vals, rel, c->frame, c->frame_cap, &len) == 0) {
        c->stats.messages++;
        v->fed |= h.count > 0;
        rill__client_feed(cl, c->frame, len, true);
    }
    rill__free(rel);
    if (last) {
        pthread_mutex_lock(&c->mx);
        v->watched = false;
        pthread_mutex_unlock(&c->mx);
    }
}

static bool decode(rill__ncons *c, natsMsg *m, rill__native_msg *f) {
    char err[200];
    if (rill__native_decode((const uint8_t *)natsMsg_GetData(m),
                            (size_t)natsMsg_GetDataLength(m), f, err,
                            sizeof err) == 0)
        return true;
    c->stats.bad_messages++;
    char msg[600];
    snprintf(msg, sizeof msg,
             "%s: a message on %s that is not a rill frame (%s); "
             "skipped (is something else publishing under %s.%s?)",
             c->device, natsMsg_GetSubject(m), err, c->prefix, c->device);
    rill__log_warn("%s", msg);
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    pthread_mutex_unlock(&c->mx);
    if (cl != NULL)
        rill__deliver_error(cl, RILL_EPROTO, msg);
    return false;
}

/* The stream's stored time of `m` (ns since the epoch), or 0. */
static int64_t stored_ns(natsMsg *m) {
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK)
        return 0;
    int64_t t = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    return t;
}

static void held_pop(rill__ncons *c, rill__ncvar *v) {
    natsMsg_Destroy(v->held[0].m);
    c->held_bytes -= v->held[0].bytes;
    memmove(v->held, v->held + 1, --v->n_held * sizeof *v->held);
}

/* What waited behind a hole, delivered in order as far as nothing is
 * missing; with `force`, the head hole is given up as a gap first (it
 * cannot come any more). */
static void drain_held(rill__ncons *c, rill__ncvar *v, bool force,
                       const char *why) {
    bool moved = false;
    while (v->n_held > 0) {
        rill__nhold *h = &v->held[0];
        uint64_t base = h->seq - h->dropped;
        if (base > v->next_seq && !force)
            break;
        uint64_t lost = base > v->next_seq ? base - v->next_seq : 0;
        v->next_seq = h->seq + 1;
        force = false;
        moved = true;
        if (h->lost) {
            /* The marker's frame and the device's drops before it: said
             * with the next frame delivered. */
            v->pending_lost += lost + h->dropped + 1;
            v->pending_why =
                "the bridge could not store these buffers (it gave up "
                "after retrying)";
            held_pop(c, v);
            continue;
        }
        rill__native_msg f;
        if (decode(c, h->m, &f))
            deliver(c, v, h->m, &f, lost,
                    lost ? why
                         : "the device dropped them for the bridge (its queue "
                           "was full)");
        held_pop(c, v);
    }
    if (moved && v->n_held > 0) { /* a new head hole: its wait starts now */
        v->hole_local_ns = rill_clock_now_ns();
        v->hole_stored_ns = c->newest_stored_ns;
    }
}

/* Keep `m` (frame or marker `seq`) until the frames before it came or
 * cannot come. Sorted by seq; a second copy is dropped. */
static void hold_msg(rill__ncons *c, rill__ncvar *v, natsMsg *m, uint64_t seq,
                     uint64_t dropped, bool lost) {
    if (v->n_held == v->held_cap) {
        size_t cap = v->held_cap ? v->held_cap * 2 : 64;
        rill__nhold *n = rill__malloc(cap * sizeof *n);
        if (n == NULL) { /* no room to wait: the hole is a gap now */
            drain_held(c, v, true,
                       "the consumer ran out of memory while waiting");
            natsMsg_Destroy(m);
            return;
        }
        if (v->n_held)
            memcpy(n, v->held, v->n_held * sizeof *n);
        rill__free(v->held);
        v->held = n;
        v->held_cap = cap;
    }
    size_t k = v->n_held;
    while (k > 0 && v->held[k - 1].seq >= seq) {
        if (v->held[k - 1].seq == seq) {
            natsMsg_Destroy(m);
            return;
        }
        k--;
    }
    c->stats.reordered++;
    memmove(v->held + k + 1, v->held + k, (v->n_held - k) * sizeof *v->held);
    size_t bytes = (size_t)natsMsg_GetDataLength(m) + 256;
    v->held[k] = (rill__nhold){m, seq, dropped, lost, bytes};
    c->held_bytes += bytes;
    if (v->n_held++ == 0) {
        v->hole_local_ns = rill_clock_now_ns();
        v->hole_stored_ns = c->newest_stored_ns;
    }
    drain_held(c, v, false, NULL);
    while (c->held_bytes > RILL__HOLD_BYTES && v->n_held > 0)
        drain_held(c, v, true,
                   "the consumer could not hold more frames while waiting "
                   "for them (RILL__HOLD_BYTES)");
}

/* Holes that can no longer be filled: past the bridge's retry horizon by
 * stored time, or by this host's clock when nothing newer came. */
void rill__ncons_expire_holes(rill__ncons *c) {
    uint64_t now = rill_clock_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        rill__ncvar *v = &c->vars[i];
        if (v->n_held == 0)
            continue;
        bool stored_past =
            v->hole_stored_ns != 0 && c->newest_stored_ns != 0 &&
            c->newest_stored_ns - v->hole_stored_ns > (int64_t)c->horizon_ns;
        if (stored_past || now - v->hole_local_ns > c->horizon_ns)
            drain_held(c, v, true,
                       "the bridge did not store these buffers within its "
                       "retry horizon "
                       "(it gave up, or retention removed them)");
    }
}

/* "Rill-Lost: <seq> <dropped>": the bridge gave up on frame seq. */
static bool lost_marker(natsMsg *m, uint64_t *seq, uint64_t *dropped) {
    const char *h = NULL;
    unsigned long long s = 0, d = 0;
    if (natsMsgHeader_Get(m, RILL__H_LOST, &h) != NATS_OK)
        return false;
    if (sscanf(h, "%llu %llu", &s, &d) != 2 || d > s)
        return false;
    *seq = s;
    *dropped = d;
    return true;
}

/* Nothing more is fed: the client sees its device gone, with `why`. */
static void end_session(rill__ncons *c, const char *why) {
    pthread_mutex_lock(&c->mx);
    rill_client *cl = c->cl;
    pthread_mutex_unlock(&c->mx);
    c->ended = true;
    rill__log_error("%s", why);
    if (cl != NULL)
        rill__client_feed_closed(cl, why);
}

void rill__ncons_message(rill__ncons *c, natsMsg *m) {
    if (c->ended) {
        natsMsg_Destroy(m);
        return;
    }
    const char *subj = natsMsg_GetSubject(m);
    size_t pl = strlen(c->prefix) + strlen(c->device) + 2;
    rill__ncvar *v = NULL;
    if (strlen(subj) > pl)
        for (size_t i = 0; i < c->n && v == NULL; i++)
            if (strcmp(subj + pl, c->vars[i].token) == 0)
                v = &c->vars[i];
    bool holding = false;
    for (size_t i = 0; i < c->n && !holding; i++)
        holding = c->vars[i].n_held > 0;
    if (holding) { /* the stream's clock, for expire_holes */
        int64_t t = stored_ns(m);
        if (t > c->newest_stored_ns)
            c->newest_stored_ns = t;
    }
    const char *text = NULL;
    rill__nats_meta meta;
    const char *run = natsMsgHeader_Get(m, RILL__H_META, &text) == NATS_OK &&
                              rill__nats_meta_parse(text, &meta)
                          ? meta.run
                          : "";
    uint64_t lseq = 0, ldropped = 0;
    if (v != NULL && lost_marker(m, &lseq, &ldropped)) {
        /* Frames at or before next_seq are accounted for already; a
         * marker of another run is moot (its run change says the gap). */
        if (v->have && strcmp(run, v->run) == 0 && lseq >= v->next_seq) {
            if (v->n_held == 0)
                c->newest_stored_ns = stored_ns(m);
            hold_msg(c, v, m, lseq, ldropped, true);
        } else {
            natsMsg_Destroy(m);
        }
        return;
    }
    rill__native_msg f;
    if (v == NULL || !decode(c, m, &f)) {
        natsMsg_Destroy(m);
        return;
    }
    if (!v->have && c->cfg.start == RILL_NATS_LIVE && c->ann_run[0] != '\0' &&
        strcmp(run, c->ann_run) != 0) {
        /* Live starts on the last stored message: one of an older run (a
         * device since restarted or reconnected) is not live. */
        natsMsg_Destroy(m);
        return;
    }
    if (v->have && strcmp(run, v->run) != 0) {
        /* A new bridge session: what waited from the old one goes first;
         * whatever it still missed will never come. */
        drain_held(c, v, true,
                   "the bridge stopped before storing these buffers");
        while (v->n_held > 0)
            drain_held(c, v, true,
                       "the bridge stopped before storing these buffers");
        uint64_t from = v->next_tick;
        if (f.h.first_ts < from && !v->fed) {
            /* Nothing of the old boot went to the client (a live start met
             * the last message of a device that restarted since): start
             * over on the new boot, its ticks the device's latest. */
            v->have = false;
            atomic_store(&c->last_tick, 0);
        } else if (f.h.first_ts < from) {
            /* The device itself restarted (the bridge reconnected to a new
             * boot): its ticks began again, and everything asked of this
             * consumer names the old ones. The session ends, as a
             * connection to the device would have. */
            char why[300];
            snprintf(why, sizeof why,
                     "%s restarted: its ticks began again at %" PRIu64
                     " after %" PRIu64 " (connect again to read its new run)",
                     c->device, f.h.first_ts, from);
            end_session(c, why);
            natsMsg_Destroy(m);
            return;
        } else {
            snprintf(v->run, sizeof v->run, "%s", run);
            v->next_seq = f.h.seq - f.h.dropped;
            v->pending_lost = 0;
            /* deliver reports [from, first) with this frame. */
            deliver(
                c, v, m, &f, f.h.first_ts > from ? 1 : 0,
                "the bridge restarted, or reconnected to the device: nothing "
                "was published between its runs");
            v->next_seq = f.h.seq + 1;
            natsMsg_Destroy(m);
            return;
        }
    }
    if (!v->have) {
        v->have = true;
        snprintf(v->run, sizeof v->run, "%s", run);
        v->next_seq = f.h.seq - f.h.dropped;
        v->next_tick = f.h.first_ts;
    }
    uint64_t base = f.h.seq - f.h.dropped;
    if (f.h.seq < v->next_seq) { /* delivered already */
        natsMsg_Destroy(m);
        return;
    }
    if (base == v->next_seq && v->n_held == 0) {
        v->next_seq = f.h.seq + 1;
        deliver(c, v, m, &f, 0,
                "the device dropped them for the bridge (its queue was full)");
        natsMsg_Destroy(m);
        return;
    }
    /* Out of order: wait for the missing ones. */
    if (v->n_held == 0)
        c->newest_stored_ns = stored_ns(m);
    hold_msg(c, v, m, f.h.seq, f.h.dropped, false);
}
