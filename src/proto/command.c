/* The control channel: client messages in, server messages out. See
 * command.h for the contracts and the validation rules. */
#include "proto/command.h"

#include <jansson.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "proto/json_out.h"

/* ---- Arena ------------------------------------------------------------- */

/* Everything a parse result points to lives in a chain of chunks owned by
 * the result, so the server gets plain structs and one destroy call, and a
 * failed allocation anywhere needs only one cleanup path. */
struct rill__cmd_arena {
    struct rill__cmd_arena *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_CHUNK 4096

typedef struct err_node {
    struct err_node *next;
    rill__cmd_error e;
} err_node;

typedef struct parser {
    rill__cmd_msg *msg;
    bool nomem;
    err_node *err_head, **err_tail;
    size_t n_errors;
    size_t errors_dropped;
} parser;

/* Zeroed memory from the arena, or NULL with p->nomem set. */
static void *arena_alloc(parser *p, size_t size) {
    const size_t align = alignof(max_align_t);
    if (p->nomem || size > SIZE_MAX / 2)
        goto fail;
    size = (size + align - 1) & ~(align - 1);
    struct rill__cmd_arena *a = p->msg->arena;
    if (a == NULL || a->cap - a->used < size) {
        size_t cap = RILL__MAX(size, (size_t)ARENA_CHUNK);
        struct rill__cmd_arena *c = rill__malloc(sizeof *c + cap);
        if (c == NULL)
            goto fail;
        c->next = a;
        c->used = 0;
        c->cap = cap;
        p->msg->arena = a = c;
    }
    void *mem = (char *)a->data + a->used;
    a->used += size;
    memset(mem, 0, size);
    return mem;
fail:
    p->nomem = true;
    return NULL;
}

static char *arena_strndup(parser *p, const char *s, size_t n) {
    char *d = arena_alloc(p, n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *arena_vprintf(parser *p, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *s = arena_alloc(p, (size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* ---- Errors ------------------------------------------------------------ */

static void add_error(parser *p, size_t cmd_index, const char *cmd,
                      size_t var_index, const char *var,
                      const rill__cmd_id *id, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void add_error(parser *p, size_t cmd_index, const char *cmd,
                      size_t var_index, const char *var,
                      const rill__cmd_id *id, const char *fmt, ...) {
    if (p->n_errors == RILL__CMD_MAX_ERRORS) {
        p->errors_dropped++;
        return;
    }
    err_node *n = arena_alloc(p, sizeof *n);
    if (n == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    n->e.message = arena_vprintf(p, fmt, ap);
    va_end(ap);
    if (n->e.message == NULL)
        return;
    n->e.cmd_index = cmd_index;
    n->e.cmd = cmd;
    n->e.var_index = var_index;
    n->e.var = var;
    if (id != NULL)
        n->e.id = *id;
    *p->err_tail = n;
    p->err_tail = &n->next;
    p->n_errors++;
}

/* "a string", "an array", ... for messages about the wrong JSON type. */
static const char *type_desc(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON value";
}

static const char *plural(size_t n, const char *one, const char *many) {
    return n == 1 ? one : many;
}

/* Bytes of s to print so that at most `max` are shown and no UTF-8
 * character is cut in two: error messages quote client strings, and a
 * message must stay valid UTF-8 to survive being sent back as JSON. */
static int utf8_cut(const char *s, size_t max) {
    size_t n = strnlen(s, max);
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return (int)n;
}

/* ---- Numbers ----------------------------------------------------------- */

/* The per-variable numbers arrive as JSON numbers: jansson keeps integers
 * (up to 2^63 - 1) exact and gives everything else as a double. Bela reads
 * all of them as doubles and converts without checking, so negative or
 * fractional ticks are undefined behaviour there; here each conversion
 * checks sign, integrality and range, and says which rule broke in `why`
 * ("is -5, below 0"). Integral reals such as 1000.0 are accepted, because
 * JavaScript clients cannot tell 1000 from 1000.0. */
#define WHY_CAP 96

static bool read_uint(const json_t *v, uint64_t max, uint64_t *out, char *why) {
    char num[RILL__JSON_DOUBLE_MAX];
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) {
            snprintf(why, WHY_CAP, "is %lld, below 0", (long long)i);
            return false;
        }
        if ((uint64_t)i > max) {
            snprintf(why, WHY_CAP, "is %lld, above %llu", (long long)i,
                     (unsigned long long)max);
            return false;
        }
        *out = (uint64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        rill__json_format_double(num, d);
        if (d != floor(d)) {
            snprintf(why, WHY_CAP, "is %s, not an integer", num);
            return false;
        }
        if (d < 0) {
            snprintf(why, WHY_CAP, "is %s, below 0", num);
            return false;
        }
        /* (double)max may round up (2^64 - 1 becomes 2^64), so compare
         * against the bound the conversion can actually reach. */
        if (d >= 18446744073709551616.0 || (uint64_t)d > max) {
            snprintf(why, WHY_CAP, "is %s, above %llu", num,
                     (unsigned long long)max);
            return false;
        }
        *out = (uint64_t)d;
        return true;
    }
    snprintf(why, WHY_CAP, "is %s, not a number", type_desc(v));
    return false;
}

static bool read_value(const json_t *v, double *out, char *why) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? 1.0 : 0.0;
        return true;
    }
    snprintf(why, WHY_CAP, "is %s, not a number", type_desc(v));
    return false;
}

/* ---- Commands ---------------------------------------------------------- */

static const struct {
    const char *name;
    rill__cmd_kind kind;
} cmd_names[] = {
    {"list", RILL__CMD_LIST},           {"watch", RILL__CMD_WATCH},
    {"unwatch", RILL__CMD_UNWATCH},     {"log", RILL__CMD_LOG},
    {"unlog", RILL__CMD_UNLOG},         {"monitor", RILL__CMD_MONITOR},
    {"control", RILL__CMD_CONTROL},     {"uncontrol", RILL__CMD_UNCONTROL},
    {"set", RILL__CMD_SET},             {"setMask", RILL__CMD_SET_MASK},
};

const char *rill__cmd_kind_name(rill__cmd_kind kind) {
    for (size_t i = 0; i < RILL__ARRAY_LEN(cmd_names); i++)
        if (cmd_names[i].kind == kind)
            return cmd_names[i].name;
    return "unknown";
}

/* The per-variable arrays, and which of them each kind reads. */
enum field {
    F_TIMESTAMPS,
    F_DURATIONS,
    F_PERIODS,
    F_VALUES,
    F_MASKS,
    F_LENGTHS,
    F_N
};
static const char *const field_names[F_N] = {
    "timestamps", "durations", "periods", "values", "masks", "lengths"};

typedef struct field_use {
    bool used[F_N];
    bool required[F_N]; /* every name needs an entry (else optional) */
} field_use;

static field_use fields_of(rill__cmd_kind kind) {
    field_use u;
    memset(&u, 0, sizeof u);
    switch (kind) {
    case RILL__CMD_WATCH:
        u.used[F_LENGTHS] = true; /* native clients only; see command.h */
        u.used[F_TIMESTAMPS] = u.used[F_DURATIONS] = true;
        break;
    case RILL__CMD_LOG:
        u.used[F_TIMESTAMPS] = u.used[F_DURATIONS] = true;
        break;
    case RILL__CMD_UNWATCH:
    case RILL__CMD_UNLOG:
        u.used[F_TIMESTAMPS] = true;
        break;
    case RILL__CMD_MONITOR:
        u.used[F_PERIODS] = u.required[F_PERIODS] = true;
        break;
    case RILL__CMD_SET:
        u.used[F_VALUES] = u.required[F_VALUES] = true;
        break;
    case RILL__CMD_SET_MASK:
        u.used[F_VALUES] = u.required[F_VALUES] = true;
        u.used[F_MASKS] = u.required[F_MASKS] = true;
        break;
    case RILL__CMD_LIST:
    case RILL__CMD_CONTROL:
    case RILL__CMD_UNCONTROL:
    case RILL__CMD_UNKNOWN:
        break;
    }
    return u;
}

/* Read an "id" member: a string or an integer, else an error and none.
 * `where` prefixes the message ("set: ", "command 2: " or ""). */
static void read_id(parser *p, const json_t *v, size_t cmd_index,
                    const char *cmd, const char *where,
                    const rill__cmd_id *fallback, rill__cmd_id *out) {
    if (json_is_string(v)) {
        out->kind = RILL__ID_STRING;
        out->s = arena_strndup(p, json_string_value(v), json_string_length(v));
        return;
    }
    if (json_is_integer(v)) {
        out->kind = RILL__ID_INT;
        out->i = (int64_t)json_integer_value(v);
        return;
    }
    add_error(p, cmd_index, cmd, RILL__CMD_NONE, NULL, fallback,
              "%s\"id\" is %s; it must be a string or an integer, ignored",
              where, type_desc(v));
}

/* Read watchers[j]'s entries of the arrays this command uses into e.
 * Returns false, having recorded why, if the name must be skipped. */
static bool read_entry(parser *p, const rill__cmd *c, const field_use *u,
                       json_t *const arrays[F_N], size_t n_names,
                       rill__cmd_entry *e) {
    const size_t j = e->index;
    char why[WHY_CAP];
    for (int f = 0; f < F_N; f++) {
        if (!u->used[f])
            continue;
        size_t n = arrays[f] ? json_array_size(arrays[f]) : 0;
        if (j >= n) {
            if (!u->required[f])
                continue;
            add_error(p, c->index, c->name, j, e->name, &c->id,
                      "%s: \"%s\" has %zu %s but \"watchers\" has %zu; "
                      "\"%s\" skipped",
                      c->name, field_names[f], n,
                      plural(n, "entry", "entries"), n_names, e->name);
            return false;
        }
        const json_t *v = json_array_get(arrays[f], j);
        uint64_t u64 = 0;
        bool ok;
        switch ((enum field)f) {
        case F_TIMESTAMPS:
            ok = read_uint(v, UINT64_MAX, &e->timestamp, why);
            e->has_timestamp = ok;
            break;
        case F_DURATIONS:
            ok = read_uint(v, UINT64_MAX, &e->duration, why);
            e->has_duration = ok;
            break;
        case F_PERIODS:
            /* Bela keeps a "changed" flag in the period's top bit. */
            ok = read_uint(v, INT32_MAX, &u64, why);
            e->period = (uint32_t)u64;
            e->has_period = ok;
            break;
        case F_VALUES:
            if (c->kind == RILL__CMD_SET_MASK) {
                ok = read_uint(v, UINT32_MAX, &u64, why);
                e->value = (double)u64;
            } else {
                ok = read_value(v, &e->value, why);
            }
            e->has_value = ok;
            break;
        case F_MASKS:
            ok = read_uint(v, UINT32_MAX, &u64, why);
            e->mask = (uint32_t)u64;
            e->has_mask = ok;
            break;
        case F_LENGTHS:
            ok = read_uint(v, RILL__CMD_MAX_LENGTH, &u64, why);
            if (ok && u64 == 0) {
                snprintf(why, sizeof why, "is 0; a buffer holds at least 1 value");
                ok = false;
            }
            e->length = (uint32_t)u64;
            e->has_length = ok;
            break;
        case F_N:
        default:
            ok = false;
            break;
        }
        if (!ok) {
            add_error(p, c->index, c->name, j, e->name, &c->id,
                      "%s: \"%s\"[%zu] %s; \"%s\" skipped", c->name,
                      field_names[f], j, why, e->name);
            return false;
        }
    }
    return true;
}

/* Parse the command object `obj` at `index` into *c. Returns false if the
 * command is skipped as a whole (the reason is recorded). */
static bool parse_command(parser *p, json_t *obj, size_t index, rill__cmd *c) {
    const rill__cmd_id *msg_id = &p->msg->id;
    if (!json_is_object(obj)) {
        add_error(p, index, NULL, RILL__CMD_NONE, NULL, msg_id,
                  "command %zu is %s, not an object; skipped", index,
                  type_desc(obj));
        return false;
    }
    /* The id first, so that even a command refused for its "cmd" gets its
     * own id echoed and the client can match the error to its request. */
    c->index = index;
    c->id = *msg_id;
    json_t *cmd = json_object_get(obj, "cmd");
    const char *cmd_str = json_is_string(cmd) ? json_string_value(cmd) : NULL;
    if (cmd_str != NULL) {
        c->name = arena_strndup(p, cmd_str, json_string_length(cmd));
        if (c->name == NULL)
            return false;
    }
    json_t *id = json_object_get(obj, "id");
    if (id != NULL) {
        char where[48];
        if (c->name != NULL)
            snprintf(where, sizeof where, "%.*s: ", utf8_cut(c->name, 40),
                     c->name);
        else
            snprintf(where, sizeof where, "command %zu: ", index);
        read_id(p, id, index, c->name, where, msg_id, &c->id);
    }
    if (cmd == NULL) {
        add_error(p, index, NULL, RILL__CMD_NONE, NULL, &c->id,
                  "command %zu has no \"cmd\"; skipped", index);
        return false;
    }
    if (c->name == NULL) {
        add_error(p, index, NULL, RILL__CMD_NONE, NULL, &c->id,
                  "command %zu: \"cmd\" is %s, not a string; skipped", index,
                  type_desc(cmd));
        return false;
    }
    c->kind = RILL__CMD_UNKNOWN;
    for (size_t i = 0; i < RILL__ARRAY_LEN(cmd_names); i++)
        if (strcmp(c->name, cmd_names[i].name) == 0)
            c->kind = cmd_names[i].kind;

    if (c->kind == RILL__CMD_UNKNOWN) {
        add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                  "unknown cmd \"%.*s\"; skipped", utf8_cut(c->name, 64),
                  c->name);
        return true;
    }
    if (c->kind == RILL__CMD_LIST)
        return true;

    json_t *names = json_object_get(obj, "watchers");
    if (names == NULL) {
        add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                  "%s: no \"watchers\" array; command skipped", c->name);
        return false;
    }
    if (!json_is_array(names)) {
        add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                  "%s: \"watchers\" is %s, not an array; command skipped",
                  c->name, type_desc(names));
        return false;
    }
    size_t n_names = json_array_size(names);
    if (n_names > RILL__CMD_MAX_ENTRIES) {
        add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                  "%s: \"watchers\" has %zu entries; the limit is %d, "
                  "command skipped",
                  c->name, n_names, RILL__CMD_MAX_ENTRIES);
        return false;
    }

    field_use use = fields_of(c->kind);
    json_t *arrays[F_N] = {NULL};
    for (int f = 0; f < F_N; f++) {
        if (!use.used[f])
            continue;
        arrays[f] = json_object_get(obj, field_names[f]);
        if (arrays[f] == NULL) {
            if (use.required[f] && n_names > 0) {
                add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                          "%s: no \"%s\" array; command skipped", c->name,
                          field_names[f]);
                return false;
            }
        } else if (!json_is_array(arrays[f])) {
            add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                      "%s: \"%s\" is %s, not an array; command skipped",
                      c->name, field_names[f], type_desc(arrays[f]));
            return false;
        } else if (use.required[f] && json_array_size(arrays[f]) > n_names) {
            /* Every name still has its entry, so nothing is skipped; the
             * client is told its arrays disagree. */
            size_t n = json_array_size(arrays[f]);
            add_error(p, index, c->name, RILL__CMD_NONE, NULL, &c->id,
                      "%s: \"%s\" has %zu entries but \"watchers\" has %zu; "
                      "the extra entries are ignored",
                      c->name, field_names[f], n, n_names);
        }
    }

    c->entries = arena_alloc(p, n_names * sizeof *c->entries);
    if (c->entries == NULL)
        return false;
    for (size_t j = 0; j < n_names; j++) {
        json_t *name = json_array_get(names, j);
        if (!json_is_string(name)) {
            add_error(p, index, c->name, j, NULL, &c->id,
                      "%s: \"watchers\"[%zu] is %s, not a string; skipped",
                      c->name, j, type_desc(name));
            continue;
        }
        rill__cmd_entry *e = &c->entries[c->n_entries];
        e->index = j;
        e->name =
            arena_strndup(p, json_string_value(name), json_string_length(name));
        if (e->name == NULL)
            return false;
        if (read_entry(p, c, &use, arrays, n_names, e))
            c->n_entries++;
        else
            memset(e, 0, sizeof *e);
    }
    return true;
}

/* ---- The envelope ------------------------------------------------------ */

static void parse_event(parser *p, const json_t *ev) {
    rill__cmd_msg *m = p->msg;
    if (!json_is_string(ev)) {
        add_error(p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, &m->id,
                  "\"event\" is %s, not a string; ignored", type_desc(ev));
        return;
    }
    const char *s = json_string_value(ev);
    m->event_name = arena_strndup(p, s, json_string_length(ev));
    if (strcmp(s, "connection-reply") == 0)
        m->event = RILL__EVENT_CONNECTION_REPLY;
    else if (strcmp(s, "active") == 0)
        m->event = RILL__EVENT_ACTIVE;
    else if (strcmp(s, "inactive") == 0)
        m->event = RILL__EVENT_INACTIVE;
    else
        m->event = RILL__EVENT_UNKNOWN;
}

static void parse_watcher(parser *p, json_t *arr) {
    rill__cmd_msg *m = p->msg;
    if (!json_is_array(arr)) {
        add_error(p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, &m->id,
                  "\"watcher\" is %s, not an array; no command run",
                  type_desc(arr));
        return;
    }
    size_t n = json_array_size(arr);
    if (n > RILL__CMD_MAX_COMMANDS) {
        if (n == RILL__CMD_MAX_COMMANDS + 1)
            add_error(p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, &m->id,
                      "\"watcher\" has %zu commands; the limit is %d, "
                      "command %d skipped",
                      n, RILL__CMD_MAX_COMMANDS, RILL__CMD_MAX_COMMANDS);
        else
            add_error(p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, &m->id,
                      "\"watcher\" has %zu commands; the limit is %d, "
                      "commands %d to %zu skipped",
                      n, RILL__CMD_MAX_COMMANDS, RILL__CMD_MAX_COMMANDS, n - 1);
        n = RILL__CMD_MAX_COMMANDS;
    }
    if (n == 0)
        return;
    m->cmds = arena_alloc(p, n * sizeof *m->cmds);
    if (m->cmds == NULL)
        return;
    for (size_t i = 0; i < n && !p->nomem; i++) {
        rill__cmd *c = &m->cmds[m->n_cmds];
        if (parse_command(p, json_array_get(arr, i), i, c))
            m->n_cmds++;
        else
            memset(c, 0, sizeof *c);
    }
}

static void parse_json(parser *p, const char *text, size_t len) {
    rill__cmd_msg *m = p->msg;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /* jansson quotes the input near the error, raw: keep the message
         * printable ASCII whatever the client sent. */
        for (char *c = jerr.text; *c != '\0'; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        m->status = RILL_EPROTO;
        add_error(p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, NULL,
                  "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                  jerr.column);
        return;
    }
    if (!json_is_object(root)) {
        m->status = RILL_EPROTO;
        add_error(p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, NULL,
                  "top level is %s, not an object", type_desc(root));
        json_decref(root);
        return;
    }
    json_t *v = json_object_get(root, "id");
    if (v != NULL)
        read_id(p, v, RILL__CMD_NONE, NULL, "", NULL, &m->id);
    if ((v = json_object_get(root, "event")) != NULL)
        parse_event(p, v);
    if ((v = json_object_get(root, "watcher")) != NULL)
        parse_watcher(p, v);
    json_decref(root);
}

int rill__cmd_parse(const char *text, size_t len, rill__cmd_msg **out) {
    if (out == NULL)
        return RILL_EINVAL;
    *out = NULL;
    if (text == NULL)
        return RILL_EINVAL;
    rill__cmd_msg *m = rill__calloc(1, sizeof *m);
    if (m == NULL)
        return RILL_ENOMEM;
    parser p = {.msg = m, .err_tail = &p.err_head};

    if (len > RILL__CMD_MAX_BYTES) {
        m->status = RILL_ETOOBIG;
        add_error(&p, RILL__CMD_NONE, NULL, RILL__CMD_NONE, NULL, NULL,
                  "message has %zu bytes; the limit is %d", len,
                  RILL__CMD_MAX_BYTES);
    } else {
        parse_json(&p, text, len);
    }
    /* Errors were collected in a list because their number is not known
     * up front; the server gets them as an array. */
    size_t n_err = p.n_errors + (p.errors_dropped > 0 ? 1 : 0);
    if (n_err > 0)
        m->errors = arena_alloc(&p, n_err * sizeof *m->errors);
    if (p.errors_dropped > 0 && m->errors != NULL) {
        rill__cmd_error *last = &m->errors[p.n_errors];
        last->cmd_index = last->var_index = RILL__CMD_NONE;
        last->id = m->id;
        char buf[64];
        snprintf(buf, sizeof buf, "%zu more errors not reported",
                 p.errors_dropped);
        last->message = arena_strndup(&p, buf, strlen(buf));
    }
    if (p.nomem)
        goto fail;
    size_t i = 0;
    for (err_node *n = p.err_head; n != NULL; n = n->next)
        m->errors[i++] = n->e;
    i += p.errors_dropped > 0 ? 1 : 0;
    m->n_errors = i;
    *out = m;
    return 0;
fail:
    rill__cmd_msg_destroy(m);
    return RILL_ENOMEM;
}

void rill__cmd_msg_destroy(rill__cmd_msg *msg) {
    if (msg == NULL)
        return;
    struct rill__cmd_arena *a = msg->arena;
    while (a != NULL) {
        struct rill__cmd_arena *next = a->next;
        rill__free(a);
        a = next;
    }
    rill__free(msg);
}

/* ---- Server messages --------------------------------------------------- */

rill__jv rill__cmd_id_member(const rill__cmd_id *id) {
    if (id == NULL || id->kind == RILL__ID_NONE)
        return (rill__jv)RILL__JV_NONE;
    if (id->kind == RILL__ID_INT)
        return (rill__jv)RILL__JV_I("id", id->i);
    return (rill__jv)RILL__JV_S("id", id->s);
}

static void put_id(rill__jw *w, const rill__cmd_id *id) {
    if (id->kind == RILL__ID_INT)
        rill__jw_i64(w, id->i);
    else
        rill__jw_string(w, id->s);
}

static void build_connection(rill__jw *w, const void *ctx) {
    const char *project = ctx;
    rill__jw_lit(w, "{\"event\":\"connection\"");
    if (project != NULL) {
        rill__jw_lit(w, ",\"projectName\":");
        rill__jw_string(w, project);
    }
    rill__jw_lit(w, "}");
}

int rill__cmd_connection_event(const char *project_name, char **out,
                               size_t *out_len) {
    if (out == NULL)
        return RILL_EINVAL;
    return rill__json_render(build_connection, project_name, out, out_len);
}

typedef struct list_ctx {
    double sample_rate;
    uint64_t timestamp;
    const rill__var_snapshot *vars;
    size_t n_vars;
    const rill__cmd_id *id;
    const char *audio; /* the audio description's JSON, or NULL */
} list_ctx;

static void build_var(rill__jw *w, const rill__var_snapshot *v) {
    char letter[2] = {rill_type_letter(v->type), '\0'};
    rill__jw_lit(w, "{\"controlled\":");
    rill__jw_bool(w, v->controlled);
    rill__jw_lit(w, ",\"logFileName\":");
    rill__jw_string(w, v->log_file_name);
    rill__jw_lit(w, ",\"logged\":");
    rill__jw_bool(w, v->logged);
    rill__jw_lit(w, ",\"monitor\":");
    rill__jw_u64(w, v->monitor);
    rill__jw_lit(w, ",\"name\":");
    rill__jw_string(w, v->name);
    rill__jw_lit(w, ",\"timestampMode\":");
    rill__jw_u64(w, (uint64_t)v->ts_mode);
    rill__jw_lit(w, ",\"type\":");
    rill__jw_string(w, letter);
    rill__jw_lit(w, ",\"value\":");
    rill__jw_double(w, v->value);
    rill__jw_lit(w, ",\"valueInput\":");
    rill__jw_double(w, v->value_input);
    rill__jw_lit(w, ",\"watched\":");
    rill__jw_bool(w, v->watched);
    rill__jw_lit(w, "}");
}

static void build_list(rill__jw *w, const void *ctx) {
    const list_ctx *l = ctx;
    rill__jw_lit(w, "{");
    if (l->id != NULL && l->id->kind != RILL__ID_NONE) {
        rill__jw_lit(w, "\"id\":");
        put_id(w, l->id);
        rill__jw_lit(w, ",");
    }
    rill__jw_lit(w, "\"watcher\":{");
    if (l->audio != NULL) {
        rill__jw_lit(w, "\"audio\":");
        rill__jw_lit(w, l->audio);
        rill__jw_lit(w, ",");
    }
    rill__jw_lit(w, "\"sampleRate\":");
    rill__jw_double(w, l->sample_rate);
    rill__jw_lit(w, ",\"timestamp\":");
    rill__jw_u64(w, l->timestamp);
    rill__jw_lit(w, ",\"watchers\":[");
    for (size_t i = 0; i < l->n_vars; i++) {
        if (i > 0)
            rill__jw_lit(w, ",");
        build_var(w, &l->vars[i]);
    }
    rill__jw_lit(w, "]}}");
}

int rill__cmd_list_reply(double sample_rate, uint64_t timestamp,
                         const rill__var_snapshot *vars, size_t n_vars,
                         const rill__cmd_id *id, char **out,
                         size_t *out_len) {
    return rill__cmd_list_reply_audio(sample_rate, timestamp, vars, n_vars, id,
                                      NULL, out, out_len);
}

int rill__cmd_list_reply_audio(double sample_rate, uint64_t timestamp,
                               const rill__var_snapshot *vars, size_t n_vars,
                               const rill__cmd_id *id, const char *audio_json,
                               char **out, size_t *out_len) {
    if (out == NULL || (vars == NULL && n_vars > 0))
        return RILL_EINVAL;
    for (size_t i = 0; i < n_vars; i++)
        if (vars[i].name == NULL || rill_type_letter(vars[i].type) == '\0')
            return RILL_EINVAL;
    list_ctx l = {sample_rate, timestamp, vars, n_vars, id, audio_json};
    return rill__json_render(build_list, &l, out, out_len);
}

typedef struct log_ctx {
    const char *var, *file;
    uint64_t start, end;
} log_ctx;

static void build_log(rill__jw *w, const void *ctx) {
    const log_ctx *l = ctx;
    rill__jw_lit(w, "{\"watcher\":{\"logFileName\":");
    rill__jw_string(w, l->file);
    rill__jw_lit(w, ",\"timestamp\":");
    rill__jw_u64(w, l->start);
    rill__jw_lit(w, ",\"timestampEnd\":");
    rill__jw_u64(w, l->end);
    rill__jw_lit(w, ",\"watcher\":");
    rill__jw_string(w, l->var);
    rill__jw_lit(w, "}}");
}

int rill__cmd_log_scheduled(const char *var, const char *log_file_name,
                            uint64_t start, uint64_t end, char **out,
                            size_t *out_len) {
    if (out == NULL || var == NULL || log_file_name == NULL)
        return RILL_EINVAL;
    log_ctx l = {var, log_file_name, start, end};
    return rill__json_render(build_log, &l, out, out_len);
}

static void build_error(rill__jw *w, const void *ctx) {
    const rill__cmd_error *e = ctx;
    rill__jw_lit(w, "{\"error\":{");
    if (e->cmd != NULL) {
        rill__jw_lit(w, "\"cmd\":");
        rill__jw_string(w, e->cmd);
        rill__jw_lit(w, ",");
    }
    if (e->cmd_index != RILL__CMD_NONE) {
        rill__jw_lit(w, "\"cmdIndex\":");
        rill__jw_u64(w, e->cmd_index);
        rill__jw_lit(w, ",");
    }
    if (e->id.kind != RILL__ID_NONE) {
        rill__jw_lit(w, "\"id\":");
        put_id(w, &e->id);
        rill__jw_lit(w, ",");
    }
    rill__jw_lit(w, "\"message\":");
    rill__jw_string(w, e->message);
    if (e->var != NULL) {
        rill__jw_lit(w, ",\"variable\":");
        rill__jw_string(w, e->var);
    }
    if (e->var_index != RILL__CMD_NONE) {
        rill__jw_lit(w, ",\"variableIndex\":");
        rill__jw_u64(w, e->var_index);
    }
    rill__jw_lit(w, "}}");
}

int rill__cmd_error_reply(const rill__cmd_error *e, char **out,
                          size_t *out_len) {
    if (out == NULL || e == NULL || e->message == NULL)
        return RILL_EINVAL;
    return rill__json_render(build_error, e, out, out_len);
}
