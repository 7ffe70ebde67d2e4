#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dashtest.h"
#include "test.h"

/* ---- The program's on_audio_change, under the test's control ------------- */

static const double offered[] = {16000, 44100, 48000};

int ctl_describe(ctl *c) {
    rill_audio_desc a = {.rate = c->rate,
                         .buffer_frames = c->bf,
                         .volume = c->volume,
                         .channels = c->channels,
                         .variables = {"a", "b", "c"}};
    if (!c->fixed) {
        memcpy(a.rates, offered, sizeof offered);
        a.n_rates = 3;
        a.min_channels = 1;
        a.max_channels = 3;
        a.buffer_frames_settable = true;
        a.volume_settable = true;
    }
    return rill_server_set_audio(c->srv, &a);
}

static int on_change(rill_server *srv, const rill_audio_change *ch, char *why,
                     size_t why_size, void *user) {
    ctl *c = user; /* the device's first member */
    pthread_mutex_lock(&c->lock);
    int me = ++c->calls;
    if (me <= SEEN_MAX)
        c->seen[me - 1] = *ch;
    c->thread = pthread_self();
    pthread_cond_broadcast(&c->cond);
    while (c->hold && c->released < me)
        pthread_cond_wait(&c->cond, &c->lock);
    int rc = c->rc;
    if (rc != 0) {
        snprintf(why, why_size, "%s", c->why);
    } else {
        if (ch->rate > 0)
            c->rate = ch->rate;
        if (ch->channels > 0)
            c->channels = ch->channels;
        if (ch->buffer_frames > 0)
            c->bf = ch->buffer_frames;
        if (ch->volume >= 0)
            c->volume = ch->volume;
        if (ch->rate > 0 && c->set_rate)
            rill_server_set_sample_rate(srv, ch->rate);
        c->set_rc = ctl_describe(c);
    }
    c->done++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void ctl_wait(ctl *c, const int *field, int n) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    pthread_mutex_lock(&c->lock);
    while (*field < n) {
        if (rill_clock_now_ns() > end) {
            int have = *field;
            pthread_mutex_unlock(&c->lock);
            FAIL("waited 5 s for %d callbacks, have %d", n, have);
        }
        pthread_mutex_unlock(&c->lock);
        usleep(2000);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
}

void ctl_release(ctl *c, int n) {
    pthread_mutex_lock(&c->lock);
    c->released = n;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int ctl_get(ctl *c, const int *field) {
    pthread_mutex_lock(&c->lock);
    int v = *field;
    pthread_mutex_unlock(&c->lock);
    return v;
}

/* ---- A device with three float channels ----------------------------------- */

static void *produce(void *arg) {
    device *d = arg;
    uint64_t frame = 0;
    uint64_t next = rill_clock_now_ns();
    while (!atomic_load(&d->stop)) {
        for (int i = 0; i < 64; i++, frame++) {
            rill_server_tick(d->srv, frame);
            float v = (float)(frame % 1000);
            rill_var_set_float(d->a, v);
            rill_var_set_float(d->b, -v);
            rill_var_set_float(d->c, 2 * v);
        }
        next += 64u * 1000000000u / 48000u;
        rill_clock_sleep_until_ns(next);
    }
    return NULL;
}

static void on_buffer(rill_server *srv, uint32_t id, rill_type type,
                      const void *values, size_t count, void *user) {
    (void)srv;
    (void)id;
    (void)type;
    (void)values;
    (void)count;
    device *d = user;
    pthread_mutex_lock(&d->net_lock);
    d->net_thread = pthread_self();
    d->net_buffers++;
    pthread_mutex_unlock(&d->net_lock);
}

void device_start_opts(device *d, const device_opts *o) {
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->ctl.lock, NULL);
    pthread_cond_init(&d->ctl.cond, NULL);
    pthread_mutex_init(&d->net_lock, NULL);
    d->ctl.rate = 48000;
    d->ctl.channels = 2;
    d->ctl.bf = 256;
    d->ctl.volume = 80;
    d->ctl.fixed = (o->flags & FIXED) != 0;
    d->ctl.set_rate = true;
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    if (o->queue_bytes != 0)
        cfg.client_queue_bytes = o->queue_bytes;
    cfg.token = o->token;
    cfg.allow_exec = o->allow_exec;
    if (o->script_interpreter != NULL)
        cfg.script_interpreter = o->script_interpreter;
    cfg.sample_rate = 48000;
    cfg.on_buffer = on_buffer;
    cfg.user = d;
    if (o->flags & WITH_CB)
        cfg.on_audio_change = on_change;
    ASSERT_OK(rill_server_create(&cfg, &d->srv));
    d->ctl.srv = d->srv;
    d->a = rill_var_create(d->srv, "a", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    d->b = rill_var_create(d->srv, "b", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    d->c = rill_var_create(d->srv, "c", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    ASSERT_NOT_NULL(d->c);
    if (!(o->flags & NO_AUDIO))
        ASSERT_OK(ctl_describe(&d->ctl));
    atomic_init(&d->stop, false);
    ASSERT_TRUE(pthread_create(&d->producer, NULL, produce, d) == 0);
}

void device_start(device *d, int flags) {
    device_opts o = {.flags = flags};
    device_start_opts(d, &o);
}

void device_stop_producer(device *d) {
    atomic_store(&d->stop, true);
    pthread_join(d->producer, NULL);
}

void device_free(device *d) {
    pthread_mutex_destroy(&d->ctl.lock);
    pthread_cond_destroy(&d->ctl.cond);
    pthread_mutex_destroy(&d->net_lock);
}

void device_stop(device *d) {
    device_stop_producer(d);
    rill_server_destroy(d->srv);
    device_free(d);
}

void url_of(const device *d, char *url, size_t cap) {
    snprintf(url, cap, "ws://127.0.0.1:%d", rill_server_port(d->srv));
}

/* ---- A page (or a raw program) --------------------------------------------- */

static void page_msg(void *user, rill__ws *ws, const uint8_t *data, size_t len,
                     bool binary) {
    (void)ws;
    page *p = user;
    if (binary) {
        if (p->n_bin < PAGE_MAX) {
            p->bin[p->n_bin] = malloc(len ? len : 1);
            memcpy(p->bin[p->n_bin], data, len);
            p->bin_len[p->n_bin++] = len;
        }
    } else if (p->n_text < PAGE_MAX) {
        char *t = malloc(len + 1);
        memcpy(t, data, len);
        t[len] = '\0';
        p->text[p->n_text++] = t;
    }
}

void page_pump(page *p, int ms) {
    rill__ws *list[1] = {p->ws};
    rill__ws_poll(list, 1, ms, 0, page_msg, p);
}

size_t page_find(page *p, size_t *from, const char *needle) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    size_t i = from ? *from : 0;
    for (;;) {
        for (; i < p->n_text; i++) {
            if (strstr(p->text[i], needle) != NULL) {
                if (from)
                    *from = i + 1;
                return i;
            }
        }
        if (rill_clock_now_ns() > end)
            FAIL("no message with %s in 5 s (%zu received, last: %s)", needle,
                 p->n_text, p->n_text ? p->text[p->n_text - 1] : "none");
        page_pump(p, 20);
    }
}

const char *page_wait(page *p, size_t *from, const char *needle) {
    return p->text[page_find(p, from, needle)];
}

const uint8_t *page_wait_bin(page *p, size_t n) {
    uint64_t end = rill_clock_now_ns() + 5000000000u;
    while (p->n_bin < n) {
        if (rill_clock_now_ns() > end)
            FAIL("waited 5 s for binary message %zu, have %zu", n, p->n_bin);
        page_pump(p, 50);
    }
    return p->bin[n - 1];
}

size_t page_count(const page *p, const char *needle) {
    size_t n = 0;
    for (size_t i = 0; i < p->n_text; i++)
        n += strstr(p->text[i], needle) != NULL;
    return n;
}

void page_send(page *p, const char *text) {
    ASSERT_OK(rill__ws_send(p->ws, false, text, strlen(text)));
    page_pump(p, 0);
}

void page_open_token(page *p, const device *d, bool native, bool dash,
                     const char *token) {
    memset(p, 0, sizeof *p);
    char err[200], target[128];
    snprintf(target, sizeof target, "/gui_control%s%s", token ? "?token=" : "",
             token ? token : "");
    ASSERT_OK(rill__ws_connect("127.0.0.1", rill_server_port(d->srv), target,
                               3000, &p->ws, err, sizeof err));
    page_wait(p, NULL, "\"connection\"");
    if (native) {
        page_send(p, "{\"rill\":\"hello\",\"version\":1}");
        page_wait(p, NULL, "\"maxValues\"");
    }
    if (dash) {
        page_send(p, "{\"rill\":\"dash\",\"version\":1,\"id\":\"dash\"}");
        page_wait(p, NULL, "{\"rill\":\"dash\",\"version\":1}");
    }
}

void page_open(page *p, const device *d, bool native, bool dash) {
    page_open_token(p, d, native, dash, NULL);
}

void page_close(page *p) {
    rill__ws_close(p->ws);
    for (size_t i = 0; i < p->n_text; i++)
        free(p->text[i]);
    for (size_t i = 0; i < p->n_bin; i++)
        free(p->bin[i]);
    p->n_text = 0;
    p->n_bin = 0;
}

const char *page_ask_error(page *p, const char *body) {
    size_t from = p->n_text;
    page_send(p, body);
    return page_wait(p, &from, "\"error\"");
}

void expect_error(page *p, const char *body, const char *reply) {
    ASSERT_EQ_STR(page_ask_error(p, body), reply);
}

const char *page_list(page *p, int id) {
    char cmd[80], needle[32];
    snprintf(cmd, sizeof cmd, "{\"id\":%d,\"watcher\":[{\"cmd\":\"list\"}]}", id);
    snprintf(needle, sizeof needle, "{\"id\":%d,\"watcher\"", id);
    size_t from = p->n_text;
    page_send(p, cmd);
    return page_wait(p, &from, needle);
}

/* ---- A rill_dash program --------------------------------------------------- */

void on_config(rill_dash *dash, const rill_audio_desc *a, void *user) {
    (void)dash;
    got *g = user;
    g->configs++;
    g->has = a != NULL;
    if (a)
        g->last = *a;
    g->buffers = 0;
}

void on_data(rill_dash *dash, const float *buf, size_t frames, size_t channels,
             uint64_t tick, uint32_t dropped, void *user) {
    (void)dash;
    got *g = user;
    (void)dropped;
    g->buffers++;
    g->frames = frames;
    g->channels = channels;
    for (size_t f = 0; f < frames; f++) {
        float v = (float)((tick + f) % 1000);
        for (size_t c = 0; c < channels; c++) {
            const char *name = g->last.variables[c];
            float want = name[0] == 'a' ? v : name[0] == 'b' ? -v : 2 * v;
            if (buf[f * channels + c] != want && g->bad++ == 0)
                fprintf(stderr, "tick %llu frame %zu channel %zu (%s): %g, "
                        "expected %g\n", (unsigned long long)tick, f, c, name,
                        (double)buf[f * channels + c], (double)want);
        }
    }
}

void on_error(rill_dash *dash, int err, const char *msg, void *user) {
    (void)dash;
    got *g = user;
    (void)err;
    g->errors++;
    snprintf(g->error, sizeof g->error, "%s", msg);
}

void poll_until(rill_dash *dash, const int *counter, int n) {
    uint64_t end = rill_clock_now_ns() + 10000000000u;
    while (*counter < n) {
        if (rill_clock_now_ns() > end)
            FAIL("waited 10 s for %d callbacks, got %d", n, *counter);
        rill_dash_poll(dash, 100);
    }
}
