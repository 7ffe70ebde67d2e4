/* libFuzzer target: every binary parser a peer can reach. The client
 * buffer parser and the native decoder above all, plus the Bela header,
 * monitor frame, stream body and log file readers.
 *
 * A native message that decodes must encode back to the very same bytes:
 * the decoder accepts only the canonical form the encoder writes. */
#include <stdlib.h>
#include <string.h>

#include "proto/logfile.h"
#include "proto/native.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void fuzz_native(const uint8_t *data, size_t size) {
    rill__native_msg m;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__native_decode(data, size, &m, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    size_t vsize = rill_type_size(m.h.type);
    CHECK(rill__native_size(&m.h) == size);
    /* Back to host order, then encode again. */
    void *values = malloc((size_t)m.h.count * vsize + 1);
    uint32_t *rel = malloc((size_t)m.h.count * 4 + 4);
    uint8_t *again = malloc(size);
    CHECK(values && rel && again);
    rill__wire_get_values(values, m.h.type, m.values, m.h.count);
    for (uint32_t i = 0; m.rel != NULL && i < m.h.count; i++)
        rel[i] = rill__get_le32(m.rel + 4 * (size_t)i);
    size_t len = 0;
    CHECK(rill__native_encode(&m.h, values, m.rel ? rel : NULL, again, size,
                              &len) == 0);
    CHECK(len == size && memcmp(again, data, size) == 0);
    free(values);
    free(rel);
    free(again);
}

static void fuzz_client_buffer(const uint8_t *data, size_t size) {
    rill__client_buffer b;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__client_buffer_parse(data, size, &b, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(b.values == data + RILL__CLIENT_BUFFER_HEADER);
    CHECK(b.values_len == (size_t)b.count * rill_type_size(b.type));
    CHECK(b.values + b.values_len == data + size);
}

static void fuzz_bela(const uint8_t *data, size_t size) {
    uint32_t id;
    rill_type type;
    if (rill__bela_header_decode(data, size, &id, &type, NULL, 0) == 0) {
        char h[RILL__BELA_HEADER_MAX];
        size_t n;
        CHECK(rill__bela_header_encode(id, type, false, h, &n) == 0);
        CHECK(n == size && memcmp(h, data, n) == 0);
    }
    for (int t = 0; t <= RILL_TYPE_DOUBLE; t++) {
        uint64_t tick;
        const uint8_t *value;
        if (rill__bela_monitor_decode(data, size, (rill_type)t, &tick, &value,
                                      NULL, 0) == 0)
            CHECK(value == data + 8);
        rill__bela_body body;
        if (rill__bela_body_decode(data, size, (rill_type)t,
                                   (rill_ts_mode)(size & 1), &body, NULL,
                                   0) == 0)
            CHECK(body.n > 0);
    }
    rill__logfile lf;
    char err[RILL__WIRE_ERR_CAP];
    if (rill__logfile_parse(data, size, &lf, err, sizeof err) == 0) {
        CHECK(lf.header_bytes % 4 == 0 && lf.header_bytes <= size);
        CHECK(lf.header_bytes + lf.n_buffers * RILL__BELA_BODY_BYTES +
                  lf.tail_bytes == size);
        for (size_t i = 0; i < lf.n_buffers; i++) {
            rill__bela_body body;
            CHECK(rill__logfile_buffer(&lf, i, RILL_TS_SPARSE, &body) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_client_buffer(data, size);
    fuzz_native(data, size);
    fuzz_bela(data, size);
    return 0;
}
