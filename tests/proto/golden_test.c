/* Golden binary messages: a few canonical messages of each format, kept as
 * files in tests/golden/ and shared with the dashboard's tests
 * (web/test/golden.test.ts) and the end-to-end suite's decoders
 * (tests/e2e/test_golden.py).
 *
 * This test builds every message with src/proto's encoders from the inputs
 * below and fails if a file holds other bytes; it also writes what each
 * message means (tests/golden/golden.json, the other decoders' expected
 * values) and fails if that differs. So an encoder that changes its bytes
 * fails here, and a decoder elsewhere that reads them differently fails
 * there. After a deliberate format change, regenerate the files with
 *   RILL_GOLDEN_WRITE=1 build/tests/proto/test_proto_golden
 * and review the diff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "proto/handler.h"
#include "proto/json_out.h"
#include "proto/native.h"
#include "proto/wire.h"
#include "test.h"

#ifndef RILL_GOLDEN_DIR
#error "RILL_GOLDEN_DIR must name tests/golden"
#endif

/* One golden message: its file, its bytes, and its meaning as JSON. */
typedef struct golden {
    const char *file;
    uint8_t *bytes;
    size_t len;
    char *meaning; /* a JSON object, rill__malloc'd; NULL: the file is part
                      of another entry (the compat header) */
} golden;

#define MAX_GOLDEN 16
static golden g_all[MAX_GOLDEN];
static size_t g_n;

static bool writing(void) {
    const char *w = getenv("RILL_GOLDEN_WRITE");
    return w != NULL && strcmp(w, "1") == 0;
}

static void path_of(const char *file, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", RILL_GOLDEN_DIR, file);
}

static uint8_t *read_file(const char *file, size_t *len) {
    char path[512];
    path_of(file, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        FAIL("%s is missing (regenerate with RILL_GOLDEN_WRITE=1)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ_UINT(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *file, const void *data, size_t len) {
    char path[512];
    path_of(file, path, sizeof path);
    FILE *f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ_UINT(fwrite(data, 1, len, f), len);
    ASSERT_EQ_INT(fclose(f), 0);
}

/* The file must hold exactly `bytes` (or, when writing, it is made so). */
static void check_bytes(const char *file, const uint8_t *bytes, size_t len) {
    if (writing()) {
        write_file(file, bytes, len);
        return;
    }
    size_t have = 0;
    uint8_t *on_disk = read_file(file, &have);
    if (have != len)
        FAIL("%s: the encoder writes %zu bytes, the golden file has %zu", file,
             len, have);
    for (size_t i = 0; i < len; i++)
        if (on_disk[i] != bytes[i])
            FAIL("%s: byte %zu is 0x%02x from the encoder, 0x%02x in the "
                 "golden file",
                 file, i, bytes[i], on_disk[i]);
    free(on_disk);
}

static void add(const char *file, const uint8_t *bytes, size_t len,
                char *meaning) {
    ASSERT_TRUE(g_n < MAX_GOLDEN);
    uint8_t *copy = malloc(len);
    ASSERT_NOT_NULL(copy);
    memcpy(copy, bytes, len);
    g_all[g_n++] = (golden){file, copy, len, meaning};
}

/* ---- Meanings ----------------------------------------------------------- */

static void jw_values(rill__jw *w, rill_type type, const void *values,
                      size_t count) {
    rill__jw_lit(w, "[");
    for (size_t i = 0; i < count; i++) {
        if (i != 0)
            rill__jw_lit(w, ",");
        rill__jw_double(
            w, rill_value_to_double(type, (const uint8_t *)values +
                                              i * rill_type_size(type)));
    }
    rill__jw_lit(w, "]");
}

typedef struct native_ctx {
    const rill__native_header *h;
    const void *values;
    const uint32_t *rel;
} native_ctx;

static void build_native(rill__jw *w, const void *ctx) {
    const native_ctx *n = ctx;
    const rill__native_header *h = n->h;
    char type[2] = {rill_type_letter(h->type), 0};
    rill__jw_lit(w, "{\"decoder\":\"native\",\"kind\":");
    rill__jw_u64(w, h->kind);
    rill__jw_lit(w, ",\"type\":");
    rill__jw_string(w, type);
    rill__jw_lit(w, ",\"sparse\":");
    rill__jw_bool(w, (h->flags & RILL__NATIVE_FLAG_SPARSE) != 0);
    rill__jw_lit(w, ",\"last\":");
    rill__jw_bool(w, (h->flags & RILL__NATIVE_FLAG_LAST) != 0);
    rill__jw_lit(w, ",\"varId\":");
    rill__jw_u64(w, h->var_id);
    rill__jw_lit(w, ",\"seq\":");
    rill__jw_u64(w, h->seq);
    rill__jw_lit(w, ",\"ts\":");
    rill__jw_u64(w, h->first_ts);
    rill__jw_lit(w, ",\"count\":");
    rill__jw_u64(w, h->count);
    rill__jw_lit(w, ",\"dropped\":");
    rill__jw_u64(w, h->dropped);
    rill__jw_lit(w, ",\"values\":");
    jw_values(w, h->type, n->values, h->count);
    rill__jw_lit(w, ",\"rel\":");
    if (n->rel == NULL) {
        rill__jw_lit(w, "null");
    } else {
        rill__jw_lit(w, "[");
        for (uint32_t i = 0; i < h->count; i++) {
            if (i != 0)
                rill__jw_lit(w, ",");
            rill__jw_u64(w, n->rel[i]);
        }
        rill__jw_lit(w, "]");
    }
    rill__jw_lit(w, "}");
}

/* A native message: encoded, checked against its file, decoded back. */
static void native_golden(const char *file, rill__native_header h,
                          const void *values, const uint32_t *rel) {
    uint8_t buf[256];
    size_t len = 0;
    ASSERT_OK(rill__native_encode(&h, values, rel, buf, sizeof buf, &len));
    check_bytes(file, buf, len);
    rill__native_msg m;
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_OK(rill__native_decode(buf, len, &m, err, sizeof err));
    ASSERT_EQ_UINT(m.h.count, h.count);
    ASSERT_EQ_UINT(m.h.seq, h.seq);
    native_ctx ctx = {&h, values, rel};
    char *meaning = NULL;
    ASSERT_OK(rill__json_render(build_native, &ctx, &meaning, NULL));
    add(file, buf, len, meaning);
}

/* ---- The messages -------------------------------------------------------- */

static void native_messages(void) {
    static const uint8_t c[] = {0, 200, 255};
    static const int32_t i[] = {-5, 2147483647, -2147483647 - 1};
    static const uint32_t j[] = {4294967295u, 1, 0};
    static const float f[] = {0.5f, -0.25f, 1024.75f, 3.0f};
    static const double d[] = {3.141592653589793, -1e300};
    rill__native_header h = {
        .kind = RILL__NATIVE_STREAM, .var_id = 3, .seq = 7, .first_ts = 44100};
    h.type = RILL_TYPE_CHAR, h.count = 3;
    native_golden("native_c.bin", h, c, NULL);
    h.type = RILL_TYPE_INT32, h.count = 3;
    native_golden("native_i.bin", h, i, NULL);
    h.type = RILL_TYPE_UINT32, h.count = 3;
    native_golden("native_j.bin", h, j, NULL);
    h.type = RILL_TYPE_FLOAT, h.count = 4;
    native_golden("native_f.bin", h, f, NULL);
    h.type = RILL_TYPE_DOUBLE, h.count = 2;
    native_golden("native_d.bin", h, d, NULL);
    /* Buffers lost just before this one: seq jumps by 1 + dropped. */
    rill__native_header dr = h;
    dr.type = RILL_TYPE_FLOAT, dr.count = 4, dr.seq = 13, dr.dropped = 5,
    dr.first_ts = 44100 + 6 * 4;
    native_golden("native_dropped.bin", dr, f, NULL);
    /* A sparse last buffer: values, padding to 4, relative ticks. */
    static const uint8_t sc[] = {7, 8, 9};
    static const uint32_t rel[] = {0, 7, 100};
    rill__native_header sp = {.kind = RILL__NATIVE_STREAM,
                              .type = RILL_TYPE_CHAR,
                              .flags = RILL__NATIVE_FLAG_SPARSE |
                                       RILL__NATIVE_FLAG_LAST,
                              .var_id = 9,
                              .seq = 2,
                              .first_ts = 1000,
                              .count = 3};
    native_golden("native_sparse_last.bin", sp, sc, rel);
    static const double mon[] = {-1.5};
    rill__native_header mh = {.kind = RILL__NATIVE_MONITOR,
                              .type = RILL_TYPE_DOUBLE,
                              .var_id = 1,
                              .seq = 4,
                              .first_ts = 96000,
                              .count = 1};
    native_golden("native_monitor.bin", mh, mon, NULL);
    rill__native_header end = {.kind = RILL__NATIVE_END,
                               .type = RILL_TYPE_FLOAT,
                               .var_id = 3,
                               .seq = 14,
                               .first_ts = 44228};
    native_golden("native_end.bin", end, NULL, NULL);
}

typedef struct compat_ctx {
    uint32_t id;
    uint64_t ref;
    const float *values;
    size_t n, count;
} compat_ctx;

static void build_compat(rill__jw *w, const void *ctx) {
    const compat_ctx *c = ctx;
    rill__jw_lit(
        w, "{\"decoder\":\"compat\",\"header\":\"compat_header.bin\",\"id\":");
    rill__jw_u64(w, c->id);
    rill__jw_lit(w, ",\"type\":\"f\",\"mode\":\"dense\",\"ref\":");
    rill__jw_u64(w, c->ref);
    rill__jw_lit(w, ",\"n\":");
    rill__jw_u64(w, c->n);
    rill__jw_lit(w, ",\"values\":");
    jw_values(w, RILL_TYPE_FLOAT, c->values, c->count);
    rill__jw_lit(w, "}");
}

/* Bela's pair: the header "<id>/<type>" then the 4104-byte body; this one
 * is a stream's last, zero-padded buffer (§3.3). */
static void compat_messages(void) {
    char hdr[RILL__BELA_HEADER_MAX];
    size_t hlen = 0;
    ASSERT_OK(rill__bela_header_encode(3, RILL_TYPE_FLOAT, true, hdr, &hlen));
    check_bytes("compat_header.bin", (const uint8_t *)hdr, hlen);
    static const float vals[] = {0.5f, -0.25f, 1024.75f, 3.0f, -8.0f};
    uint8_t body[RILL__BELA_BODY_BYTES];
    ASSERT_OK(rill__bela_body_encode(body, 88200, RILL_TYPE_FLOAT,
                                     RILL_TS_DENSE, vals, 5, NULL));
    check_bytes("compat_body.bin", body, sizeof body);
    rill__bela_body b;
    ASSERT_OK(rill__bela_body_decode(body, sizeof body, RILL_TYPE_FLOAT,
                                     RILL_TS_DENSE, &b, NULL, 0));
    ASSERT_EQ_UINT(b.ref, 88200);
    compat_ctx ctx = {3, 88200, vals, b.n, 5};
    char *meaning = NULL;
    ASSERT_OK(rill__json_render(build_compat, &ctx, &meaning, NULL));
    add("compat_header.bin", (const uint8_t *)hdr, hlen, NULL);
    add("compat_body.bin", body, sizeof body, meaning);
}

typedef struct frame_ctx {
    const rill__handler_frame *f;
    const double *expect; /* the values as the page reads them */
} frame_ctx;

static void build_frame(rill__jw *w, const void *ctx) {
    const frame_ctx *c = ctx;
    const rill__handler_frame *f = c->f;
    char type[2] = {f->type, 0};
    rill__jw_lit(w, "{\"decoder\":\"handler\",\"type\":");
    rill__jw_string(w, type);
    rill__jw_lit(w, ",\"handler\":");
    rill__jw_u64(w, f->handler);
    rill__jw_lit(w, ",\"seq\":");
    rill__jw_u64(w, f->seq);
    rill__jw_lit(w, ",\"tick\":");
    rill__jw_u64(w, f->tick);
    rill__jw_lit(w, ",\"replace\":");
    rill__jw_bool(w, (f->flags & RILL__HANDLER_FLAG_REPLACE) != 0);
    rill__jw_lit(w, ",\"arg\":");
    rill__jw_u64(w, f->arg);
    rill__jw_lit(w, ",\"count\":");
    rill__jw_u64(w, f->count);
    rill__jw_lit(w, ",\"values\":");
    jw_values(w, RILL_TYPE_DOUBLE, c->expect, f->count);
    rill__jw_lit(w, "}");
}

static void frame_golden(const char *file, rill__handler_frame f,
                         const void *values, size_t size,
                         const double *expect) {
    uint8_t buf[256];
    ASSERT_OK(rill__handler_frame_header_encode(&f, buf));
    memcpy(buf + RILL__HANDLER_FRAME_HEADER, values, f.count * size);
    size_t len = RILL__HANDLER_FRAME_HEADER + f.count * size;
    check_bytes(file, buf, len);
    rill__handler_frame back;
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_OK(rill__handler_frame_decode(buf, len, &back, err, sizeof err));
    ASSERT_EQ_UINT(back.arg, f.arg);
    frame_ctx ctx = {&f, expect};
    char *meaning = NULL;
    ASSERT_OK(rill__json_render(build_frame, &ctx, &meaning, NULL));
    add(file, buf, len, meaning);
}

/* Handler frames as a program sends them (and the relay forwards them,
 * id rewritten): a spectrogram column of floats replacing the last, and
 * int16 audio for an audio handler (the page scales by 1/32768). */
static void handler_messages(void) {
    static const float col[] = {0.5f, -0.25f, 1024.75f};
    static const double col_d[] = {0.5, -0.25, 1024.75};
    rill__handler_frame f = {.type = 'f',
                             .flags = RILL__HANDLER_FLAG_REPLACE,
                             .handler = 2,
                             .seq = 41,
                             .tick = 123456,
                             .count = 3,
                             .arg = 0};
    frame_golden("handler_f.bin", f, col, 4, col_d);
    static const int16_t pcm[] = {16384, -32768, 0, 32767};
    static const double pcm_d[] = {0.5, -1, 0, 32767.0 / 32768};
    rill__handler_frame h = {
        .type = 'h', .handler = 5, .seq = 0, .tick = 0, .count = 4, .arg = 2};
    frame_golden("handler_h.bin", h, pcm, 2, pcm_d);
}

static void build_manifest(rill__jw *w, const void *ctx) {
    (void)ctx;
    rill__jw_lit(w, "{\n");
    const char *sep = "";
    for (size_t i = 0; i < g_n; i++) {
        if (g_all[i].meaning == NULL)
            continue;
        rill__jw_lit(w, sep);
        rill__jw_lit(w, "  ");
        rill__jw_string(w, g_all[i].file);
        rill__jw_lit(w, ": ");
        rill__jw_lit(w, g_all[i].meaning);
        sep = ",\n";
    }
    rill__jw_lit(w, "\n}\n");
}

TEST(golden_messages_are_what_the_encoders_write) {
    g_n = 0;
    native_messages();
    compat_messages();
    handler_messages();
    char *manifest = NULL;
    size_t len = 0;
    ASSERT_OK(rill__json_render(build_manifest, NULL, &manifest, &len));
    if (writing()) {
        write_file("golden.json", manifest, len);
    } else {
        size_t have = 0;
        uint8_t *on_disk = read_file("golden.json", &have);
        on_disk[have] = '\0';
        if (have != len || memcmp(on_disk, manifest, len) != 0)
            FAIL("golden.json differs from what the messages mean now:\n%s",
                 manifest);
        free(on_disk);
    }
    for (size_t i = 0; i < g_n; i++) {
        free(g_all[i].bytes);
        rill__free(g_all[i].meaning);
    }
    rill__free(manifest);
}
