/* The JetStream consumer's insides, shared by consumer.c (connecting,
 * the client's requests, the thread) and continuity.c (each variable's
 * order, waiting and gaps). See consumer.c. */
#ifndef RILL_NATS_CONSUMER_H
#define RILL_NATS_CONSUMER_H

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rill/nats.h"

/* Frames waiting behind a hole, all variables together (continuity.c). */
#define RILL__HOLD_BYTES ((size_t)256 << 20)
/* The retry horizon of a bridge whose announcement does not say it: its
 * default give-up (60 s) plus its ack wait (5 s) and a second. */
#define RILL__HORIZON_DEFAULT_MS 66000

/* A frame waiting for the ones before it, or the bridge's word that frame
 * `seq` was never stored (a Rill-Lost marker: `lost`). */
typedef struct rill__nhold {
    natsMsg *m;
    uint64_t seq, dropped; /* the frame's; for a marker, the lost frame's */
    bool lost;
    size_t bytes;
} rill__nhold;

typedef struct rill__ncvar {
    char name[64];
    char token[200];
    json_t *entry; /* the device's list entry */
    /* requests (under mx) */
    bool watched;
    uint64_t start, duration, end; /* end 0: none, or set at the first value */
    /* continuity (consumer thread) */
    bool have;
    char run[17];
    uint64_t next_seq, next_tick;
    rill__nhold *held; /* sorted by seq */
    size_t n_held, held_cap;
    uint64_t hole_local_ns; /* the head hole began waiting: this host's clock */
    int64_t
        hole_stored_ns;    /* ... the stored time of the first frame after it */
    uint64_t pending_lost; /* buffers given up before the next frame */
    bool fed;              /* values of it went to the client */
    const char *pending_why;
} rill__ncvar;

typedef struct rill__nreply {
    bool binary;
    json_t *list_id; /* a list reply, built when fed (see feed_replies) */
    bool list;
    size_t len;
    uint8_t data[];
} rill__nreply;

typedef struct rill__ncons {
    rill_client *cl;
    rill_nats_config cfg;
    char *url, *device, *stream, *prefix, *bucket;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    json_t *ann;
    double rate;
    rill__ncvar *vars;
    size_t n;
    pthread_t thr;
    bool thr_started;
    atomic_bool stop;
    pthread_mutex_t mx;
    rill__nreply **q;
    size_t nq, qcap;
    bool started;
    atomic_uint_fast64_t last_tick;
    uint8_t *frame;
    size_t frame_cap;
    /* the consumer thread's, read by rill_nats_client_clock (under mx) */
    rill_clock_map clock;
    bool have_clock;
    char clock_text[160]; /* the consumer thread's: the clock line parsed */
    rill_nats_stats stats;
    /* holding (the consumer thread) */
    size_t held_bytes;
    int64_t newest_stored_ns; /* of the latest message, while anything waits */
    uint64_t horizon_ns;
    bool ended; /* the session ended (the device restarted): nothing is fed */
    uint64_t connected_ns, list_hold_ns; /* list_ready */
    uint64_t setup_end_ns; /* rill_nats_connect's deadline (ask_again) */
    char ann_run[17]; /* the bridge's run for the device when we connected */
} rill__ncons;

/* continuity.c, on the consumer's thread: one message read from
 * JetStream (taken), and the holes that can no longer be filled. */
void rill__ncons_message(rill__ncons *c, natsMsg *m);
void rill__ncons_expire_holes(rill__ncons *c);

#endif /* RILL_NATS_CONSUMER_H */
