/* libFuzzer target: the dashboard's handler messages, which a program
 * sends and the server relays to every page (src/proto/handler.c).
 *
 * The first byte picks what the rest is:
 *  - even: a binary handler frame. One that decodes must have exactly the
 *    length its count says, and its header must encode back to the very
 *    same 32 bytes; one that does not must say why.
 *  - odd: a handler event's JSON as a program sends it. Whatever jansson
 *    reads is written back by the one JSON writer (handler-create and
 *    handler-data messages), which must read back as the same value:
 *    same numbers, same strings (NUL bytes included), same members. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "proto/handler.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void fuzz_frame(const uint8_t *data, size_t size) {
    rill__handler_frame f;
    char err[RILL__WIRE_ERR_CAP];
    err[0] = '\0';
    if (rill__handler_frame_decode(data, size, &f, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        if (size >= RILL__HANDLER_FRAME_HEADER)
            CHECK(f.handler == rill__get_le32(data + 4));
        return;
    }
    size_t vsize = rill__handler_value_size(f.type);
    CHECK(vsize != 0);
    CHECK(RILL__HANDLER_FRAME_HEADER + (size_t)f.count * vsize == size);
    CHECK(f.values == data + RILL__HANDLER_FRAME_HEADER);
    CHECK(rill__handler_frame_is(data, size));
    uint8_t hdr[RILL__HANDLER_FRAME_HEADER];
    CHECK(rill__handler_frame_header_encode(&f, hdr) == 0);
    CHECK(memcmp(hdr, data, sizeof hdr) == 0);
    /* The relay's rewrite touches the id and nothing else. */
    uint8_t *copy = malloc(size);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    rill__handler_frame_set_id(copy, f.handler ^ 0x5a5a5a5au);
    rill__handler_frame g;
    CHECK(rill__handler_frame_decode(copy, size, &g, err, sizeof err) == 0);
    CHECK(g.handler == (f.handler ^ 0x5a5a5a5au));
    CHECK(memcmp(copy + 8, data + 8, size - 8) == 0);
    free(copy);
}

/* Equal as JSON values: numbers by value (the writer prints an integral
 * real as an integer), everything else exactly. */
static bool same(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        /* NaN and infinities cannot come from jansson's parser. */
        return x == y;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)a, key, v) {
            json_t *w = json_object_get(b, key);
            if (w == NULL || !same(v, w))
                return false;
        }
        return true;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b),
                      json_string_length(a)) == 0;
    default:
        return true; /* true, false, null */
    }
}

static void fuzz_json(const uint8_t *data, size_t size) {
    json_error_t jerr;
    json_t *in = json_loadb((const char *)data, size,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (in == NULL)
        return;
    json_t *type = json_string("line");
    char *text = NULL;
    size_t len = 0;
    /* As data: any value. */
    CHECK(rill__handler_data_msg(7, in, true, INT64_MAX, &text, &len) == 0);
    json_t *out = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    CHECK(out != NULL);
    CHECK(same(json_object_get(out, "data"), in));
    CHECK(json_integer_value(json_object_get(out, "id")) == 7);
    json_decref(out);
    rill__free(text);
    /* As parameters and name, when they have the right types. */
    json_t *name = json_is_string(in) ? in : NULL;
    json_t *params = json_is_object(in) ? in : NULL;
    CHECK(rill__handler_create_msg(1, type, name, params, &text, &len) == 0);
    out = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    CHECK(out != NULL);
    if (params != NULL)
        CHECK(same(json_object_get(out, "parameters"), params));
    if (name != NULL)
        CHECK(same(json_object_get(out, "name"), name));
    json_decref(out);
    rill__free(text);
    json_decref(type);
    json_decref(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0)
        fuzz_frame(data + 1, size - 1);
    else
        fuzz_json(data + 1, size - 1);
    return 0;
}
