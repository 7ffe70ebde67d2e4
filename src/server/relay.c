/* The dashboard relay. Network thread only.
 *
 * Pages subscribe with {"rill":"dash"}; programs (native clients) create
 * handlers and send them data (docs/HANDLERS.md). A program's handler ids
 * are its own; the server gives each handler a server-wide id, rewrites
 * every message with it and relays it to every subscribed page. Creation
 * and removal always reach a page (like a stream's end); data goes through
 * the page's bounded queue and is dropped, counted and announced when it is
 * full, so a slow page never holds up a program or the other pages. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/handler.h"
#include "proto/json_out.h"
#include "proto/wire.h"
#include "server/internal.h"
#include "rill/dash.h" /* RILL_DASH_TYPE_MAX, RILL_DASH_NAME_MAX */

#define RILL__DASH_MAX_HANDLERS 1024

static rill__relay_handler *dash_find(rill_server *srv, const rill__conn *owner,
                                      uint32_t local) {
    for (size_t i = 0; i < srv->n_dash; i++)
        if (srv->dash[i].owner == owner && srv->dash[i].local == local)
            return &srv->dash[i];
    return NULL;
}

static void dash_forget(rill_server *srv, rill__relay_handler *h) {
    rill__msg_unref(h->create);
    h->owner->dash_handlers--;
    size_t i = (size_t)(h - srv->dash);
    memmove(&srv->dash[i], &srv->dash[i + 1],
            (srv->n_dash - i - 1) * sizeof *srv->dash);
    srv->n_dash--;
}

/* {"error":{"event":E,"handler":ID,"message":M}} to the program. */
static void dash_error(rill__conn *c, const char *event, int64_t local,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void dash_error(rill__conn *c, const char *event, int64_t local,
                       const char *fmt, ...) {
    char message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rill__log_warn("%s: %s", c->peer, message);
    rill__jv e[] = {
        RILL__JV_S("event", event),
        local >= 0 ? (rill__jv)RILL__JV_I("handler", local)
                   : (rill__jv)RILL__JV_NONE,
        RILL__JV_S("message", message),
    };
    rill__jv m[] = {RILL__JV_O("error", e, RILL__JV_COUNT(e))};
    char *text = NULL;
    size_t len = 0;
    if (rill__json_object(m, RILL__JV_COUNT(m), &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
}

/* One message to one page. Data (`droppable`) needs room in the page's
 * queue, and a notice of earlier drops goes just before it; creation and
 * removal always go, up to the limit past which a page that reads nothing
 * is disconnected (as for control replies). */
static void page_send(rill_server *srv, rill__conn *c, rill__msg *m,
                      bool droppable) {
    if (c->closing)
        return;
    if (droppable) {
        if (!rill__conn_has_room(c, m->len)) {
            c->drops++;
            c->dash_unannounced++;
            atomic_fetch_add(&srv->client_drops, 1);
            return;
        }
        if (c->dash_unannounced != 0) {
            rill__send_dropped(c, c->dash_unannounced, c->drops, "dash", NULL);
            c->dash_unannounced = 0;
        }
    } else if (rill__conn_owes_too_much(c, m->len, "messages")) {
        return;
    }
    rill__conn_push(c, m);
}

static void dash_broadcast(rill_server *srv, rill__msg *m, bool droppable) {
    for (rill__conn *c = srv->conns; c != NULL; c = c->next)
        if (c->dash_page)
            page_send(srv, c, m, droppable);
}

/* A built text (from rill__malloc, or NULL) as a rill__msg. */
static rill__msg *owned_msg(char *text, size_t len) {
    rill__msg *m = text != NULL ? rill__msg_text(text, len) : NULL;
    rill__free(text);
    return m;
}

static void dash_broadcast_remove(rill_server *srv, uint32_t id) {
    char *text = NULL;
    size_t len = 0;
    rill__handler_remove_msg(id, &text, &len);
    rill__msg *m = owned_msg(text, len);
    if (m == NULL)
        return;
    dash_broadcast(srv, m, false);
    rill__msg_unref(m);
}

/* {"rill":"dash","version":1} from a page. */
void rill__relay_subscribe(rill_server *srv, rill__conn *c, json_t *root) {
    rill__cmd_id id = rill__request_id(root);
    json_t *ver = json_object_get(root, "version");
    const char *why = NULL;
    if (!c->native)
        why = "dash: send {\"rill\":\"hello\",\"version\":1} first; the "
              "dashboard relay is for native connections";
    else if (ver != NULL &&
             !(json_is_integer(ver) && json_integer_value(ver) == 1))
        why = "dash: this server speaks dashboard version 1 only";
    if (why != NULL) {
        rill__cmd_error e = {.cmd_index = RILL__CMD_NONE,
                             .var_index = RILL__CMD_NONE,
                             .message = why,
                             .id = id};
        rill__send_error(c, &e);
        return;
    }
    rill__jv reply[] = {RILL__JV_S("rill", "dash"), RILL__JV_U("version", 1)};
    char *text = NULL;
    size_t len = 0;
    if (rill__json_object(reply, RILL__JV_COUNT(reply), &text, &len) == 0)
        rill__conn_send_owned(c, text, len);
    if (c->dash_page)
        return; /* subscribed already: it has every handler */
    c->dash_page = true;
    for (size_t i = 0; i < srv->n_dash; i++)
        page_send(srv, c, srv->dash[i].create, false);
}

/* The handler's id as the program sent it: an integer 1 ... 2^32 - 1. */
static int64_t dash_local_id(rill__conn *c, const char *event, json_t *root) {
    json_t *jid = json_object_get(root, "id");
    if (!json_is_integer(jid) || json_integer_value(jid) < 1 ||
        json_integer_value(jid) > (json_int_t)UINT32_MAX) {
        dash_error(c, event, -1,
                   "%s: \"id\" must be an integer from 1 to 4294967295 (the "
                   "program's own number for the handler); ignored",
                   event);
        return -1;
    }
    return (int64_t)json_integer_value(jid);
}

static void dash_create(rill_server *srv, rill__conn *c, json_t *root,
                        int64_t local) {
    static const char ev[] = "handler";
    json_t *type = json_object_get(root, "type");
    json_t *name = json_object_get(root, "name");
    json_t *params = json_object_get(root, "parameters");
    if (!json_is_string(type) || json_string_length(type) == 0 ||
        json_string_length(type) > RILL_DASH_TYPE_MAX) {
        dash_error(c, ev, local,
                   "handler %lld: \"type\" must be a string of 1 to %d "
                   "bytes (line, area, bar, scatter, polar-line, "
                   "polar-area, heatmap, spectrogram, audio, meter); ignored",
                   (long long)local, RILL_DASH_TYPE_MAX);
        return;
    }
    if (name != NULL && (!json_is_string(name) ||
                         json_string_length(name) > RILL_DASH_NAME_MAX)) {
        dash_error(c, ev, local,
                   "handler %lld: \"name\" must be a string of at most %d "
                   "bytes; ignored",
                   (long long)local, RILL_DASH_NAME_MAX);
        return;
    }
    if (params != NULL && !json_is_object(params)) {
        dash_error(c, ev, local,
                   "handler %lld: \"parameters\" must be an object; ignored",
                   (long long)local);
        return;
    }
    rill__relay_handler *h = dash_find(srv, c, (uint32_t)local);
    if (h == NULL) {
        if (srv->n_dash >= RILL__DASH_MAX_HANDLERS) {
            dash_error(c, ev, local,
                       "handler %lld: the server already relays %d "
                       "handlers, its limit; remove some first; ignored",
                       (long long)local, RILL__DASH_MAX_HANDLERS);
            return;
        }
        if (srv->n_dash == srv->dash_cap) {
            size_t cap = srv->dash_cap ? srv->dash_cap * 2 : 16;
            rill__relay_handler *p = rill__realloc(srv->dash, cap * sizeof *p);
            if (p == NULL) {
                dash_error(c, ev, local, "handler %lld: out of memory",
                           (long long)local);
                return;
            }
            srv->dash = p;
            srv->dash_cap = cap;
        }
    }
    uint32_t id = h != NULL ? h->id : ++srv->next_dash_id;
    if (id == 0) /* after 2^32 - 1 handlers: wrap, skipping 0 */
        id = srv->next_dash_id = 1;
    char *text = NULL;
    size_t len = 0;
    rill__handler_create_msg(id, type, name, params, &text, &len);
    rill__msg *m = owned_msg(text, len);
    if (m == NULL) {
        dash_error(c, ev, local, "handler %lld: out of memory",
                   (long long)local);
        return;
    }
    if (h == NULL) {
        h = &srv->dash[srv->n_dash++];
        *h = (rill__relay_handler){id, (uint32_t)local, c, NULL};
        c->dash_handlers++;
    }
    rill__msg_unref(h->create);
    h->create = m;
    dash_broadcast(srv, m, false);
}

static void dash_data(rill_server *srv, rill__conn *c, json_t *root,
                      int64_t local) {
    static const char ev[] = "handler-data";
    rill__relay_handler *h = dash_find(srv, c, (uint32_t)local);
    if (h == NULL) {
        dash_error(c, ev, local,
                   "handler-data: unknown handler %lld (create it first with "
                   "a handler event on this connection); ignored",
                   (long long)local);
        return;
    }
    json_t *data = json_object_get(root, "data");
    json_t *tick = json_object_get(root, "tick");
    if (data == NULL) {
        dash_error(c, ev, local, "handler-data %lld: no \"data\"; ignored",
                   (long long)local);
        return;
    }
    if (tick != NULL &&
        !(json_is_integer(tick) && json_integer_value(tick) >= 0)) {
        dash_error(c, ev, local,
                   "handler-data %lld: \"tick\" must be a non-negative "
                   "integer; ignored",
                   (long long)local);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    rill__handler_data_msg(h->id, data, tick != NULL,
                           tick ? (uint64_t)json_integer_value(tick) : 0, &text,
                           &len);
    rill__msg *m = owned_msg(text, len);
    if (m == NULL) {
        dash_error(c, ev, local, "handler-data %lld: out of memory",
                   (long long)local);
        return;
    }
    dash_broadcast(srv, m, true);
    rill__msg_unref(m);
}

static void dash_remove(rill_server *srv, rill__conn *c, int64_t local) {
    rill__relay_handler *h = dash_find(srv, c, (uint32_t)local);
    if (h == NULL) {
        dash_error(c, "handler-remove", local,
                   "handler-remove: unknown handler %lld; ignored",
                   (long long)local);
        return;
    }
    uint32_t id = h->id;
    dash_forget(srv, h);
    dash_broadcast_remove(srv, id);
}

/* A program's connection closed: its handlers go, and every page is told. */
void rill__relay_conn_closed(rill_server *srv, rill__conn *c) {
    c->dash_page = false;
    /* While the server is being destroyed the other sockets are closing
     * too: nobody to tell. */
    bool tell = !atomic_load(&srv->stop);
    for (size_t i = srv->n_dash; i-- > 0;) {
        if (srv->dash[i].owner != c)
            continue;
        uint32_t id = srv->dash[i].id;
        dash_forget(srv, &srv->dash[i]);
        if (tell)
            dash_broadcast_remove(srv, id);
    }
}

/* A binary handler frame from a program (HANDLERS.md): checked whole, its
 * handler id rewritten, relayed to every page. */
void rill__relay_frame(rill_server *srv, rill__conn *c, const uint8_t *data,
                       size_t len) {
    static const char ev[] = "handler-frame";
    rill__handler_frame f;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__handler_frame_decode(data, len, &f, err, sizeof err) != 0) {
        dash_error(c, ev,
                   len < RILL__HANDLER_FRAME_HEADER ? -1 : (int64_t)f.handler,
                   "%s; ignored", err);
        return;
    }
    uint32_t local = f.handler;
    rill__relay_handler *h = dash_find(srv, c, local);
    if (h == NULL) {
        dash_error(c, ev, local,
                   "handler frame: unknown handler %u (create it first with "
                   "a handler event on this connection); ignored",
                   local);
        return;
    }
    rill__msg *m = rill__msg_new(len, true);
    if (m == NULL)
        return;
    memcpy(rill__msg_payload(m), data, len);
    rill__handler_frame_set_id(rill__msg_payload(m), h->id);
    dash_broadcast(srv, m, true);
    rill__msg_unref(m);
}

/* A handler event from a program: create (or replace), data, remove. */
void rill__relay_event(rill_server *srv, rill__conn *c, const char *event,
                       json_t *root) {
    int64_t local;
    if (!c->native)
        dash_error(c, event, -1,
                   "%s: handler messages need a native connection (send "
                   "{\"rill\":\"hello\",\"version\":1} first); ignored",
                   event);
    else if ((local = dash_local_id(c, event, root)) < 0)
        ;
    else if (event[7] == '\0')
        dash_create(srv, c, root, local);
    else if (event[8] == 'd')
        dash_data(srv, c, root, local);
    else
        dash_remove(srv, c, local);
}

void rill__relay_free(rill_server *srv) {
    for (size_t i = 0; i < srv->n_dash; i++)
        rill__msg_unref(srv->dash[i].create);
    rill__free(srv->dash);
    srv->dash = NULL;
    srv->n_dash = 0;
}
