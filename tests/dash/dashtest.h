/* What the dashboard tests (dash_test.c, audio_change_test.c) share: a
 * device (a real rill_server in this process with three float channels
 * and an audio description), a program's on_audio_change under the test's
 * control, raw WebSocket pages (src/client/ws.c) that speak what the browser
 * page speaks, and a rill_dash program's record of its callbacks. */
#ifndef RILL_DASHTEST_H
#define RILL_DASHTEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ws.h"
#include "rill/rill.h"

/* ---- The program's on_audio_change, under the test's control ------------- */

#define SEEN_MAX 32

typedef struct ctl {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    rill_server *srv;
    int calls;    /* entered */
    int done;     /* returned */
    rill_audio_change seen[SEEN_MAX];
    pthread_t thread; /* of the latest call */
    bool hold;    /* each call waits until released >= its number */
    int released;
    int rc;       /* what to answer: 0 applies the change */
    char why[300];
    bool set_rate; /* on a rate change, also rill_server_set_sample_rate */
    int set_rc;   /* the last rill_server_set_audio in the callback */
    /* The description in effect. */
    double rate;
    size_t channels;
    uint32_t bf;
    double volume;
    /* What is offered. */
    bool fixed;
} ctl;

/* The channels' names, a b c. */

/* Declare the description in c (channels of a, b, c; unless fixed, rates
 * 16000, 44100, 48000, 1 to 3 channels, buffer size and volume settable).
 * Caller holds c->lock (or no other thread runs yet). */
int ctl_describe(ctl *c);
/* Wait (5 s at most) until *field >= n, under the lock. */
void ctl_wait(ctl *c, const int *field, int n);
void ctl_release(ctl *c, int n);
int ctl_get(ctl *c, const int *field);

/* ---- A device with three float channels ----------------------------------- */

typedef struct device {
    ctl ctl; /* first: the server's `user` is the device and the ctl */
    rill_server *srv;
    rill_var *a, *b, *c;
    pthread_t producer;
    atomic_bool stop;
    /* on_buffer runs on the network thread: it tells us which that is. */
    pthread_mutex_t net_lock;
    pthread_t net_thread;
    int net_buffers;
} device;

/* WITH_CB: the program takes changes (ctl's on_audio_change); FIXED: the
 * description offers none; NO_AUDIO: no audio description at all. */
enum { WITH_CB = 1, FIXED = 2, NO_AUDIO = 4 };

typedef struct device_opts {
    int flags;
    const char *token;  /* NULL: none */
    bool allow_exec;
    size_t queue_bytes; /* per-client send queue; 0: the server's default */
} device_opts;

/* a = frame % 1000, b = -a, c = 2a at 48000 Hz, so that each sample says
 * which tick it is; audio: 48000 Hz, 2 channels (a, b), 256 frames,
 * volume 80. Fails the test on error. */
void device_start_opts(device *d, const device_opts *o);
void device_start(device *d, int flags);
void device_stop_producer(device *d);
/* What device_stop frees after the server is destroyed. */
void device_free(device *d);
void device_stop(device *d);
void url_of(const device *d, char *url, size_t cap);

/* ---- A page (or a raw program) --------------------------------------------- */

#define PAGE_MAX 1024

typedef struct page {
    rill__ws *ws;
    char *text[PAGE_MAX];
    size_t n_text;
    uint8_t *bin[PAGE_MAX];
    size_t bin_len[PAGE_MAX];
    size_t n_bin;
} page;

void page_pump(page *p, int ms);
/* The index of the first text message at or after *from containing
 * `needle`; waits up to 5 s. *from moves past it. */
size_t page_find(page *p, size_t *from, const char *needle);
/* The same message's text. */
const char *page_wait(page *p, size_t *from, const char *needle);
/* Binary message n (from 1); waits up to 5 s. */
const uint8_t *page_wait_bin(page *p, size_t n);
size_t page_count(const page *p, const char *needle);
void page_send(page *p, const char *text);
/* native: say hello; dash: subscribe to the relay. */
void page_open_token(page *p, const device *d, bool native, bool dash,
                     const char *token);
void page_open(page *p, const device *d, bool native, bool dash);
void page_close(page *p);
/* Send `body` (an audio-config message) and return the error reply for
 * it (the first message from now on with "error"). */
const char *page_ask_error(page *p, const char *body);
void expect_error(page *p, const char *body, const char *reply);
/* The list reply's text (native pages: with the audio description). */
const char *page_list(page *p, int id);

/* ---- A rill_dash program --------------------------------------------------- */

typedef struct got {
    int configs, buffers, bad;
    size_t frames, channels;
    rill_audio_desc last;
    bool has;
    int errors;
    char error[320];
} got;

void on_config(rill_dash *dash, const rill_audio_desc *a, void *user);
/* Every frame's channels are the device's a, b or c of one tick. */
void on_data(rill_dash *dash, const float *buf, size_t frames, size_t channels,
             uint64_t tick, uint32_t dropped, void *user);
void on_error(rill_dash *dash, int err, const char *msg, void *user);
/* Poll until *counter >= n; fails after 10 s. */
void poll_until(rill_dash *dash, const int *counter, int n);

#endif
