/* Records to messages: the network thread drains what the tick thread
 * left in the `out` ring and turns each record into messages, copying its
 * payload once, from the ring straight into the message that the socket
 * is then written from (conn.c). For compatibility sinks one shared header
 * + body pair is queued on every /gui_data socket; for a native client one
 * message goes on that client's control socket. Each socket's queue is
 * bounded: a message that does not fit is dropped for that socket alone
 * (its bytes are skipped in the ring, never copied), counted, and
 * announced. Also here: the tick thread's events. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/native.h"
#include "proto/wire.h"
#include "server/internal.h"

/* Pass over `n` bytes of the ring without copying them. */
static void ring_skip(rill_ring *ring, size_t n) {
    rill_ring_span sp;
    rill_ring_read_peek(ring, n, &sp);
    rill_ring_read_release(ring, n);
}

static bool any_data_socket(const rill_server *srv) {
    for (const rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->path == PATH_DATA)
            return true;
    return false;
}

/* A compatibility record goes to every /gui_data socket: "<id>/<t>" then
 * the body, both shared. Ids of 100 and more cannot reach pybela. */
static void fan_out_compat(rill_server *srv, const rill__rec *r) {
    rill_ring *ring = srv->dev.out;
    rill_var *v = r->stream->var;
    char hdr[RILL__BELA_HEADER_MAX];
    size_t hlen;
    if (!any_data_socket(srv) || r->kind == RILL__REC_END ||
        r->bytes > RILL__BELA_BODY_BYTES ||
        rill__bela_header_encode(v->id, v->type, true, hdr, &hlen) != 0) {
        ring_skip(ring, r->bytes);
        return;
    }
    /* A monitor record holds the value; the frame is tick + value (§3.5). */
    bool monitor = r->kind == RILL__REC_MONITOR;
    uint8_t value[8], frame[RILL__BELA_MONITOR_MAX];
    size_t blen = r->bytes;
    if (monitor) {
        if (r->bytes > sizeof value) {
            ring_skip(ring, r->bytes);
            return;
        }
        rill_ring_read_all(ring, value, r->bytes);
        blen = rill__bela_monitor_encode(frame, r->ref, v->type, value);
    }
    rill__msg *h = rill__msg_new(hlen, true);
    rill__msg *b = rill__msg_new(blen, true);
    if (h == NULL || b == NULL) {
        /* Out of memory (a server at its memory limit): dropped for every
         * socket, counted and announced as when their queues are full. */
        if (!monitor)
            ring_skip(ring, r->bytes);
        rill__msg_unref(h);
        rill__msg_unref(b);
        h = b = NULL;
    } else {
        memcpy(rill__msg_payload(h), hdr, hlen);
        if (monitor)
            memcpy(rill__msg_payload(b), frame, blen);
        else /* the body, straight from the ring */
            rill_ring_read_all(ring, rill__msg_payload(b), r->bytes);
    }
    /* A buffer of a session that has ended (stopped, or restarted since it
     * was sent) is for the sockets that were there; one that connected
     * afterwards would take it for the start of its own session (issue
     * 15). Bela broadcasts it to everyone. */
    rill__stream *s = r->stream;
    bool ended = s->sink == RILL__SINK_COMPAT_WATCH &&
                 (r->run != s->net_runs || s->net_stopped);
    for (rill__conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->path != PATH_DATA || (ended && c->id > s->net_end_conns))
            continue;
        if (h == NULL || !rill__conn_send_data(c, h, b)) {
            c->drops++;
            c->unannounced++;
            atomic_fetch_add(&srv->client_drops, 1);
        }
    }
    rill__msg_unref(h);
    rill__msg_unref(b);
}

/* A native message that does not reach its client: counted, added to the
 * next one's `dropped`, announced just before it. */
static void native_dropped(rill_server *srv, rill__conn *c, rill__stream *s,
                           const rill__rec *r) {
    s->net_dropped += 1 + r->dropped;
    c->pending_drop_notice[s->var->id] += 1 + r->dropped;
    c->drops++;
    atomic_fetch_add(&srv->client_drops, 1);
}

/* A native record goes to its one client as one message: the 32-byte
 * header, then the record's payload, which var.c lays out as the message's
 * body (values; for sparse variables zero padding to 4 bytes and the
 * relative timestamps). Sequence numbers come from the tick thread (a
 * record it dropped left a gap); drops here add to `dropped` of the next
 * message that gets through, preceded by a text notice. */
static void send_native(rill_server *srv, const rill__rec *r) {
    rill_ring *ring = srv->dev.out;
    rill__stream *s = r->stream;
    rill__conn *c = s->conn;
    if (c == NULL) {
        ring_skip(ring, r->bytes);
        return;
    }
    rill_var *v = s->var;
    bool monitor = r->kind == RILL__REC_MONITOR;
    bool sparse = !monitor && v->mode == RILL_TS_SPARSE;
    rill__native_header h = {
        .kind = r->kind == RILL__REC_END ? RILL__NATIVE_END
                : monitor                ? RILL__NATIVE_MONITOR
                                         : RILL__NATIVE_STREAM,
        .type = v->type,
        .flags =
            (uint8_t)((sparse && r->kind == RILL__REC_BUFFER
                           ? RILL__NATIVE_FLAG_SPARSE
                           : 0) |
                      (r->flags & RILL__REC_FLAG_LAST ? RILL__NATIVE_FLAG_LAST
                                                      : 0)),
        .var_id = v->id,
        .seq = r->seq,
        .first_ts = r->ref,
        .count = r->count,
        .dropped = r->dropped + s->net_dropped,
    };
    size_t size = rill__native_size(&h);
    if (size != RILL__NATIVE_HEADER_BYTES + (size_t)r->bytes) {
        ring_skip(ring, r->bytes); /* cannot happen: var.c's layout */
        return;
    }
    uint32_t *pending = &c->pending_drop_notice[v->id];
    /* The end of a stream always gets through, its last buffer included
     * (at most one buffer per stream over the limit), or a stalled client
     * would wait for an end that never comes. */
    bool ending = r->kind == RILL__REC_END || (r->flags & RILL__REC_FLAG_LAST);
    /* Out of memory (a server at its memory limit) is a drop like any
     * other, never a silent hole. */
    rill__msg *m = NULL;
    if (rill__conn_has_room(c, size) || (ending && !c->closing))
        m = rill__msg_new(size, true);
    if (m == NULL) {
        ring_skip(ring, r->bytes);
        native_dropped(srv, c, s, r);
        return;
    }
    rill__native_head_put(&h, rill__msg_payload(m));
    rill_ring_read_all(ring, rill__msg_payload(m) + RILL__NATIVE_HEADER_BYTES,
                       r->bytes);
    if (*pending != 0) /* the notice goes just before the message */
        rill__send_dropped(c, *pending, c->drops, NULL, v->name);
    *pending = 0;
    if (rill__conn_push_data(c, m) == 0)
        s->net_dropped = 0;
    else
        native_dropped(srv, c, s, r);
    rill__msg_unref(m);
}

/* A native stream that ended lets go of its client's subscription slot. */
static void native_stream_ended(rill_server *srv, rill__stream *s) {
    if (s->conn != NULL && s->conn->sub_buf[s->var->id] == s)
        s->conn->sub_buf[s->var->id] = NULL;
    rill__release_stream(srv, s);
}

/* Messages made by a drain are sent every RILL__DRAIN_FLUSH_BYTES, not
 * only at its end: a block that completes a buffer of each of 100
 * variables is 400 KiB of messages, and the client starts on the first
 * while the rest are made. Measured (medians of 5, 3 sets, alternated):
 * bench_peers' paced 100 channels p50 234-268 -> 146-175 us, p99 509-543
 * -> 314-527 us; pybela's round trip at 100 variables, its first callback
 * 50-100 us sooner; floods: the same MB/s, 0 drops in 36 runs. */
#define RILL__DRAIN_FLUSH_BYTES (64u << 10)

/* Turn records into messages: at least `min_bytes` of them (everything a
 * released stream may still have in the ring), otherwise a bounded number
 * so that sockets get serviced even under a flood. True when it stopped
 * with records left. */
static bool drain_records(rill_server *srv, size_t min_bytes) {
    rill__rec r;
    size_t done = 0, flushed = 0;
    for (int i = 0; i < 4096 || done < min_bytes; i++) {
        if (done - flushed >= RILL__DRAIN_FLUSH_BYTES) {
            rill__conns_flush(srv);
            flushed = done;
        }
        if (rill_ring_read_all(srv->dev.out, &r, sizeof r) != 0)
            return false;
        done += sizeof r + r.bytes;
        srv->drained_bytes += sizeof r + r.bytes;
        rill__stream *s = r.stream;
        if (s->sink == RILL__SINK_CLIENT) {
            send_native(srv, &r);
            /* The end of a run that a later watch has restarted ends only
             * that run: the stream lives on. */
            if ((r.kind == RILL__REC_END || (r.flags & RILL__REC_FLAG_LAST)) &&
                r.run == s->net_runs)
                native_stream_ended(srv, s);
        } else {
            fan_out_compat(srv, &r);
        }
    }
    return rill_ring_readable(srv->dev.out) != 0;
}

static void handle_events(rill_server *srv) {
    rill__ev ev;
    while (rill_queue_pop(srv->dev.events, &ev, sizeof ev, NULL) == 0) {
        if (ev.kind == RILL__EV_RELEASED) {
            if (srv->n_released < srv->max_streams)
                srv->released[srv->n_released++] = ev.stream;
        } else if (ev.kind == RILL__EV_LOG_STARTED) {
            char *text = NULL;
            size_t len = 0;
            if (rill__cmd_log_scheduled(ev.stream->var->name,
                                        ev.stream->log_name, ev.start, ev.end,
                                        &text, &len) == 0) {
                rill__broadcast_control(srv, text, len);
                rill__free(text);
            }
        }
    }
}

/* A pybela data socket cannot take text (its data task dies on it), so its
 * drops are announced on the control sockets of the same peer, at most
 * every 100 ms per data socket:
 * {"event":"dropped","buffers":N,"path":"/gui_data","total":T}. */
#define RILL__NOTICE_INTERVAL_NS (100u * 1000 * 1000)

static void announce_compat_drops(rill_server *srv) {
    uint64_t now = rill_clock_now_ns();
    for (rill__conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->path != PATH_DATA || c->unannounced == 0 ||
            now - c->last_notice_ns < RILL__NOTICE_INTERVAL_NS)
            continue;
        for (rill__conn *k = srv->conns; k != NULL; k = k->next)
            if (k->path == PATH_CONTROL && strcmp(k->peer, c->peer) == 0)
                rill__send_dropped(k, c->unannounced, c->drops, "/gui_data",
                                   NULL);
        c->unannounced = 0;
        c->last_notice_ns = now;
    }
}

/* What the tick thread left: its events, then its records as messages
 * (at least everything a released stream may still have in the ring),
 * then the drop notices for compatibility data sockets. */
bool rill__fanout(rill_server *srv) {
    handle_events(srv);
    /* Records committed before a release was acknowledged are all readable
     * now; draining them first makes freeing the stream safe. */
    bool more = drain_records(
        srv, srv->n_released ? rill_ring_readable(srv->dev.out) : 0);
    announce_compat_drops(srv);
    return more;
}

/* Streams the tick thread let go of are freed: records they emitted before
 * the release was acknowledged were in the ring ahead of it, drained by
 * rill__fanout. Releases that could not be posted earlier are retried. */
void rill__fanout_release(rill_server *srv) {
    for (size_t i = 0; i < srv->n_released; i++) {
        rill__stream *s = srv->released[i];
        rill__unlink_stream(srv, s);
        rill__stream_destroy(s);
    }
    srv->n_released = 0;
    /* Every stream is looked at only after a release could not be posted
     * (the drain runs after every wake-up, with thousands of streams). */
    if (!srv->release_retry)
        return;
    srv->release_retry = false;
    for (rill__stream *s = srv->streams; s != NULL; s = s->next)
        if (s->conn == NULL && s->sink == RILL__SINK_CLIENT && !s->releasing)
            rill__release_stream(srv, s);
}
