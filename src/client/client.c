/* rill_client: the host side's connection to a device. See client.h.
 *
 * One I/O thread owns the WebSocket(s) (ws.c) and decodes everything that
 * arrives (decode.c). Request functions run on the caller's thread, one at
 * a time (req_lock), send their command and, when they need an answer,
 * wait on `cond` for the I/O thread to post it, never longer than the
 * configured timeout (request.c, stream.c). This file: connecting, the I/O
 * thread, sending, and the waits they share.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "core/internal.h"
#include "proto/wire.h"

/* rill_client_send_buffer's queue, by default: as the server's for each
 * client. */
#define RILL__SEND_QUEUE_DEFAULT (8u << 20)

/* Which the device answers first, after {"rill":"hello"} and a list
 * request sent together: rill serve answers the hello first (it runs
 * messages in order), a Bela board ignores it and answers only the list.
 * Deciding by order, not by a time, keeps a rill serve behind a slow or
 * lossy link (whose answer can take a second) from being taken for a Bela
 * board. Returns 0 (*native set) or RILL_ETIMEOUT / RILL_ECLOSED. */
static int hello_or_list(rill_client *cl, bool *native) {
    pthread_mutex_lock(&cl->lock);
    int64_t id = cl->list_id = cl->next_id++;
    cl->list_ready = false;
    pthread_mutex_unlock(&cl->lock);
    char msg[160];
    snprintf(msg, sizeof msg,
             "{\"rill\":\"hello\",\"version\":1}");
    int rc = rill__ws_send(cl->ctl, false, msg, strlen(msg));
    snprintf(msg, sizeof msg, "{\"id\":%lld,\"watcher\":[{\"cmd\":\"list\"}]}",
             (long long)id);
    if (rc == 0)
        rc = rill__ws_send(cl->ctl, false, msg, strlen(msg));
    uint64_t end = rill__client_deadline(cl);
    pthread_mutex_lock(&cl->lock);
    while (rc == 0 && !cl->hello && !cl->list_ready) {
        uint64_t now = rill_clock_now_ns();
        if (atomic_load(&cl->closed))
            rc = RILL_ECLOSED;
        else if (now >= end)
            rc = RILL_ETIMEOUT;
        else
            rill__cond_wait_ns(&cl->cond, &cl->lock,
                               RILL__MIN(end - now, (uint64_t)50000000));
    }
    *native = cl->hello;
    /* The list reply, if it came (or comes later): nobody's. */
    cl->list_id = -1;
    cl->list_ready = false;
    rill_client_list_free(cl->list_reply);
    cl->list_reply = NULL;
    pthread_mutex_unlock(&cl->lock);
    return rc;
}

/* The device is gone: pending requests and schedules fail with
 * RILL_ECLOSED. `why` is the reason, or NULL when reconnect.c already said
 * it. On the I/O thread, or an attached transport's (attach.c). */
void rill__client_lost(rill_client *cl, const char *why) {
    /* Schedules fail (their done callbacks run or are queued) before
     * `closed` is seen: rill_client_wait returns at `closed`, and its
     * caller may count on the callbacks having been called. */
    rill__client_fail_schedules(cl, RILL_ECLOSED);
    pthread_mutex_lock(&cl->lock);
    if (why != NULL)
        snprintf(cl->close_reason, sizeof cl->close_reason, "%s", why);
    atomic_store(&cl->closed, true);
    atomic_store(&cl->connected, false);
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
    rill__log_error("connection to %s:%d lost: %s", cl->host, cl->port,
                    cl->close_reason);
    rill__deliver_error(cl, RILL_ECLOSED, cl->close_reason);
    rill__deliver_wake(cl);
}

/* The I/O thread. Between polls, the keepalive; when a socket is lost,
 * with cfg.reconnect, getting the connection back (reconnect.c), else
 * the end (rill__client_lost). */
static void *io_main(void *arg) {
    rill_client *cl = arg;
    rill__ws *list[2] = {cl->ctl, cl->data};
    size_t n = cl->data != NULL ? 2 : 1;
    while (!atomic_load(&cl->stop)) {
        if (rill__ws_poll(list, n, 100, (uint64_t)cl->cfg.busy_poll_us * 1000u,
                          rill__client_on_msg, cl) == 0) {
            rill__client_keepalive(cl);
            continue;
        }
        const rill__ws *dead = rill__ws_closed(cl->ctl) ? cl->ctl : cl->data;
        char why[sizeof cl->close_reason];
        snprintf(why, sizeof why, "%s", rill__ws_error(dead));
        /* Not while connecting: there is nothing to resume yet, and
         * rill_client_connect says what went wrong. */
        pthread_mutex_lock(&cl->lock);
        bool connected = cl->vars != NULL;
        pthread_mutex_unlock(&cl->lock);
        if (cl->cfg.reconnect && connected) {
            rill__relink r = rill__client_reconnect(cl, why);
            if (r == RILL__RELINK_BACK)
                continue;
            if (r == RILL__RELINK_STOPPED)
                break;
        }
        /* With reconnect, reconnect.c said why it gave up. */
        rill__client_lost(cl, !cl->cfg.reconnect || !connected ? why : NULL);
        break;
    }
    return NULL;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "rill's wire formats are little-endian and used in place");

int rill_client_send_buffer(rill_client *cl, uint32_t id, rill_type type,
                            const void *values, size_t count) {
    size_t size = rill_type_size(type);
    if (size == 0 || (count != 0 && values == NULL) || count > UINT32_MAX / 8)
        return RILL_EINVAL;
    uint8_t hdr[RILL__CLIENT_BUFFER_HEADER] = {0};
    rill__put_le32(hdr, id);
    hdr[4] = (uint8_t)rill_type_letter(type);
    rill__put_le32(hdr + 8, (uint32_t)count);
    /* Values go on the wire little-endian, as the host holds them: framed
     * straight from the caller's array, no copy in between. */
    if (cl->xport != NULL)
        return RILL_ENOTSUP; /* a bridged device's recording takes nothing */
    rill__ws_part parts[2] = {{hdr, sizeof hdr}, {values, count * size}};
    int rc = rill__client_sendv_bounded(cl, cl->native ? cl->ctl : cl->data,
                                        true, parts, count != 0 ? 2 : 1,
                                        cl->cfg.send_queue_bytes);
    if (rc == RILL_EFULL)
        atomic_fetch_add_explicit(&cl->send_dropped, 1, memory_order_relaxed);
    return rc;
}

uint64_t rill_client_send_dropped(const rill_client *cl) {
    return atomic_load_explicit(&cl->send_dropped, memory_order_relaxed);
}

int rill_client_send_message(rill_client *cl, bool binary, const void *head,
                             size_t head_len, const void *body,
                             size_t body_len) {
    if (cl == NULL || (head_len != 0 && head == NULL) ||
        (body_len != 0 && body == NULL))
        return RILL_EINVAL;
    if (!cl->native || cl->xport != NULL)
        return RILL_ENOTSUP;
    rill__ws_part parts[2] = {{head, head_len}, {body, body_len}};
    return rill__client_sendv(cl, cl->ctl, binary, parts,
                              body_len != 0 ? 2 : 1);
}

/* ---- Connecting ------------------------------------------------------------
 */

rill_client_config rill_client_config_default(void) {
    rill_client_config c;
    memset(&c, 0, sizeof c);
    c.url = "ws://127.0.0.1:5555";
    c.timeout_ms = 5000;
    c.mode = RILL_CLIENT_AUTO;
    c.keepalive_ms = 1000;
    c.send_queue_bytes = RILL__SEND_QUEUE_DEFAULT;
    return c;
}

static int parse_url(rill_client *cl, const char *url) {
    char why[200];
    int rc = rill_client_parse_url(url, cl->host, sizeof cl->host, &cl->port,
                                   why, sizeof why);
    if (rc != 0)
        rill__log_error("'%s' %s", url, why);
    return rc;
}

static int open_ws(rill_client *cl, const char *path, rill__ws **out) {
    char target[512], err[256];
    if (cl->cfg.token != NULL)
        snprintf(target, sizeof target, "%s?token=%s", path, cl->cfg.token);
    else
        snprintf(target, sizeof target, "%s", path);
    int rc = rill__ws_connect(cl->host, cl->port, target, cl->cfg.timeout_ms,
                              out, err, sizeof err);
    if (rc != 0)
        rill__log_error("%s", err);
    return rc;
}

static int wait_flag(rill_client *cl, bool *flag, int ms) {
    pthread_mutex_lock(&cl->lock);
    int rc = rill__client_wait_for(
        cl, flag, rill_clock_now_ns() + (uint64_t)ms * 1000000u);
    pthread_mutex_unlock(&cl->lock);
    return rc;
}

/* A client with nothing connected yet (connect, and attach.c). */
int rill__client_new(const rill_client_config *cfg, rill_client **out) {
    rill_client *cl = rill__calloc(1, sizeof *cl);
    if (cl == NULL)
        return RILL_ENOMEM;
    cl->cfg = *cfg;
    cl->list_id = -1;
    cl->audio_id = -1;
    cl->peek_var = -1;
    cl->hdr_id = -1;
    cl->next_id = 1;
    cl->relink_list_id = -1;
    cl->linked = true;
    pthread_mutex_init(&cl->link_mx, NULL);
    pthread_mutex_init(&cl->req_lock, NULL);
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->cond, NULL);
    int rc = rill__deliver_init(cl);
    if (rc == 0)
        rc = rill__align_create(rill__client_on_block, cl, &cl->align);
    if (rc != 0) {
        rill_client_destroy(cl);
        return rc;
    }
    *out = cl;
    return 0;
}

/* The device's variables, from the first list (connect, and attach.c). */
int rill__client_take_vars(rill_client *cl) {
    rill_client_list *vars = NULL;
    int rc = rill_client_list_vars(cl, &vars);
    if (rc != 0) {
        rill__log_error("no list reply from %s:%d (%s)", cl->host, cl->port,
                        rill_strerror(rc));
        return rc;
    }
    rill__var_state *vs =
        rill__calloc(vars->n_vars ? vars->n_vars : 1, sizeof *vs);
    if (vs == NULL) {
        rill_client_list_free(vars);
        return RILL_ENOMEM;
    }
    for (size_t i = 0; i < vars->n_vars; i++)
        vs[i].sched = -1;
    pthread_mutex_lock(&cl->lock);
    cl->vars = vars;
    cl->vs = vs;
    cl->max_tick = vars->timestamp;
    pthread_mutex_unlock(&cl->lock);
    atomic_store(&cl->connected, true);
    return 0;
}

int rill_client_connect(const rill_client_config *cfg, rill_client **out) {
    if (cfg == NULL || out == NULL || cfg->url == NULL ||
        cfg->timeout_ms <= 0 || cfg->keepalive_ms < 0 || cfg->reconnect_ms < 0 ||
        cfg->busy_poll_us < 0 || cfg->busy_poll_us > RILL_CLIENT_BUSY_POLL_MAX_US)
        return RILL_EINVAL;
    *out = NULL;
    rill_client *cl = NULL;
    int rc = rill__client_new(cfg, &cl);
    if (rc != 0)
        return rc;
    rc = parse_url(cl, cfg->url);
    if (rc == 0)
        rc = open_ws(cl, cfg->control_path ? cfg->control_path : "/gui_control",
                     &cl->ctl);
    if (rc == 0 && pthread_create(&cl->io, NULL, io_main, cl) != 0)
        rc = RILL_ESYS;
    if (rc != 0)
        goto fail;
    cl->io_started = true;
    if ((rc = wait_flag(cl, &cl->got_connection, cfg->timeout_ms)) != 0) {
        rill__log_error("%s:%d sent no connection event: not a "
                        "Watcher server?",
                        cl->host, cl->port);
        rc = rc == RILL_ETIMEOUT ? RILL_EPROTO : rc;
        goto fail;
    }
    if (cfg->mode != RILL_CLIENT_COMPAT) {
        if (cfg->mode == RILL_CLIENT_AUTO) {
            if ((rc = hello_or_list(cl, &cl->native)) != 0) {
                rill__log_error("%s:%d answered neither hello nor list "
                                "within %d ms",
                                cl->host, cl->port, cfg->timeout_ms);
                goto fail;
            }
        } else {
            const char hello[] = "{\"rill\":\"hello\",\"version\":1}";
            rill__ws_send(cl->ctl, false, hello, sizeof hello - 1);
            cl->native = wait_flag(cl, &cl->hello, cfg->timeout_ms) == 0;
        }
        if (!cl->native && cfg->mode == RILL_CLIENT_NATIVE) {
            rill__log_error("%s:%d does not speak rill's native "
                            "mode (a Bela board?); connect in compat mode",
                            cl->host, cl->port);
            rc = RILL_EPROTO;
            goto fail;
        }
    }
    if (!cl->native) {
        /* A Bela board sends no data until a client says it is active. */
        const char reply[] = "{\"event\":\"connection-reply\"}";
        rill__ws_send(cl->ctl, false, reply, sizeof reply - 1);
        /* The I/O thread polls the sockets it was started with: restart it
         * with the data socket added. */
        atomic_store(&cl->stop, true);
        pthread_join(cl->io, NULL);
        cl->io_started = false;
        atomic_store(&cl->stop, false);
        if ((rc = open_ws(cl, cfg->data_path ? cfg->data_path : "/gui_data",
                          &cl->data)) != 0)
            goto fail;
        if (pthread_create(&cl->io, NULL, io_main, cl) != 0) {
            rc = RILL_ESYS;
            goto fail;
        }
        cl->io_started = true;
    }
    if ((rc = rill__client_take_vars(cl)) != 0)
        goto fail;
    *out = cl;
    return 0;
fail:
    rill_client_destroy(cl);
    return rc;
}

bool rill_client_native(const rill_client *cl) {
    return cl->native;
}

void rill_client_destroy(rill_client *cl) {
    if (cl == NULL)
        return;
    atomic_store(&cl->stop, true);
    if (cl->io_started)
        pthread_join(cl->io, NULL);
    if (cl->xport != NULL)
        cl->xport->detach(cl->xport_user); /* its thread feeds no more */
    rill__ws_close(cl->data);
    rill__ws_close(cl->ctl);
    rill_client_list_free(cl->list_reply);
    rill_client_list_free(cl->vars);
    rill__free(cl->vs);
    rill__free(cl->sched);
    rill__align_destroy(cl->align);
    rill__free(cl->scratch_values);
    rill__free(cl->scratch_rel);
    rill__deliver_free(cl);
    pthread_cond_destroy(&cl->cond);
    pthread_mutex_destroy(&cl->lock);
    pthread_mutex_destroy(&cl->req_lock);
    pthread_mutex_destroy(&cl->link_mx);
    rill__free(cl);
}
