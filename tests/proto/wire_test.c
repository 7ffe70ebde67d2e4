/* The Bela compatibility data format: buffer sizes, bodies byte for byte
 * (padding included), headers, monitor frames and client buffers.
 *
 * Expected bytes are built by hand from the spec's tables (offsets written
 * out as numbers, little-endian bytes shifted out one by one), never with
 * the functions under test. */
#include "test.h"
#include "proto/wire.h"

static const rill_type all_types[] = {RILL_TYPE_CHAR, RILL_TYPE_INT32,
                                      RILL_TYPE_UINT32, RILL_TYPE_FLOAT,
                                      RILL_TYPE_DOUBLE};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* Write v as n little-endian bytes at exp + off. */
static void le(uint8_t *exp, size_t off, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++)
        exp[off + i] = (uint8_t)(v >> (8 * i));
}

/* Value i of a test pattern, as host-order bits of the type's size, and
 * stored into a host array of that type. The pattern has no zero bytes in
 * any position, so a value misplaced into the padding shows up. */
static uint64_t pattern_bits(rill_type t, size_t i) {
    switch (t) {
    case RILL_TYPE_CHAR:
        return 0x41 + i % 26;
    case RILL_TYPE_INT32:
        return (uint32_t)(-1000 - (int32_t)i * 7);
    case RILL_TYPE_UINT32:
        return 0x81818181u + (uint32_t)i * 0x01010101u;
    case RILL_TYPE_FLOAT: {
        float f = 1.5f + (float)i * 0.25f;
        uint32_t b;
        memcpy(&b, &f, 4);
        return b;
    }
    case RILL_TYPE_DOUBLE: {
        double d = -3.25 - (double)i * 1.125;
        uint64_t b;
        memcpy(&b, &d, 8);
        return b;
    }
    }
    return 0;
}

static void fill_values(void *dst, rill_type t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t b = pattern_bits(t, i);
        if (t == RILL_TYPE_CHAR) {
            ((uint8_t *)dst)[i] = (uint8_t)b;
        } else if (t == RILL_TYPE_DOUBLE) {
            memcpy((uint8_t *)dst + 8 * i, &b, 8);
        } else {
            uint32_t w = (uint32_t)b;
            memcpy((uint8_t *)dst + 4 * i, &w, 4);
        }
    }
}

/* ---- Sizes ------------------------------------------------------------- */

TEST(values_per_buffer_match_the_spec_table) {
    /* §3.3: dense c 4096, i/j/f 1024, d 512; sparse c 816, i/j/f 512, d 341 */
    static const size_t dense[] = {4096, 1024, 1024, 1024, 512};
    static const size_t sparse[] = {816, 512, 512, 512, 341};
    for (size_t k = 0; k < N_TYPES; k++) {
        ASSERT_EQ_UINT(rill__bela_values_per_buffer(all_types[k], RILL_TS_DENSE),
                       dense[k]);
        ASSERT_EQ_UINT(rill__bela_values_per_buffer(all_types[k], RILL_TS_SPARSE),
                       sparse[k]);
    }
}

TEST(sparse_timestamp_offsets_match_the_spec_table) {
    static const size_t rel[] = {824, 2056, 2056, 2056, 2736};
    for (size_t k = 0; k < N_TYPES; k++)
        ASSERT_EQ_UINT(rill__bela_rel_offset(all_types[k]), rel[k]);
}

TEST(sizes_of_invalid_type_or_mode_are_zero) {
    ASSERT_EQ_UINT(rill__bela_values_per_buffer((rill_type)9, RILL_TS_DENSE), 0);
    ASSERT_EQ_UINT(rill__bela_values_per_buffer(RILL_TYPE_FLOAT, (rill_ts_mode)2),
                   0);
    ASSERT_EQ_UINT(rill__bela_rel_offset((rill_type)9), 0);
}

/* ---- Bodies ------------------------------------------------------------ */

/* Build the expected body for `count` pattern values by hand: values at
 * 8 + size*i, rel ticks (3*i) at R + 4*i with R from the spec's table,
 * zeros everywhere else. */
static void expected_body(uint8_t exp[RILL__BELA_BODY_BYTES], uint64_t ref,
                          rill_type t, rill_ts_mode mode, size_t count) {
    static const size_t sizes[] = {1, 4, 4, 4, 8};
    static const size_t rel_at[] = {824, 2056, 2056, 2056, 2736};
    size_t size = sizes[t];
    memset(exp, 0, RILL__BELA_BODY_BYTES);
    le(exp, 0, ref, 8);
    for (size_t i = 0; i < count; i++)
        le(exp, 8 + size * i, pattern_bits(t, i), size);
    if (mode == RILL_TS_SPARSE)
        for (size_t i = 0; i < count; i++)
            le(exp, rel_at[t] + 4 * i, 3 * i, 4);
}

static void check_body(rill_type t, rill_ts_mode mode, size_t count) {
    static uint8_t values[8 * 4096], out[RILL__BELA_BODY_BYTES],
        exp[RILL__BELA_BODY_BYTES];
    static uint32_t rel[4096];
    fill_values(values, t, count);
    for (size_t i = 0; i < count; i++)
        rel[i] = (uint32_t)(3 * i);
    memset(out, 0xaa, sizeof out); /* padding must be written, not assumed */
    uint64_t ref = 0x0102030405060708ull + count;
    ASSERT_OK(rill__bela_body_encode(out, ref, t, mode, values, count,
                                     mode == RILL_TS_SPARSE ? rel : NULL));
    expected_body(exp, ref, t, mode, count);
    ASSERT_EQ_MEM(out, exp, RILL__BELA_BODY_BYTES);
}

TEST(full_dense_body_is_byte_exact_for_every_type) {
    static const size_t n[] = {4096, 1024, 1024, 1024, 512};
    for (size_t k = 0; k < N_TYPES; k++)
        check_body(all_types[k], RILL_TS_DENSE, n[k]);
}

TEST(full_sparse_body_is_byte_exact_with_zero_tail_for_every_type) {
    static const size_t n[] = {816, 512, 512, 512, 341};
    for (size_t k = 0; k < N_TYPES; k++)
        check_body(all_types[k], RILL_TS_SPARSE, n[k]);
}

TEST(short_dense_body_is_zero_padded_after_the_last_value) {
    for (size_t k = 0; k < N_TYPES; k++) {
        check_body(all_types[k], RILL_TS_DENSE, 1);
        check_body(all_types[k], RILL_TS_DENSE, 3);
    }
}

TEST(short_sparse_body_pads_both_value_and_timestamp_arrays) {
    for (size_t k = 0; k < N_TYPES; k++) {
        check_body(all_types[k], RILL_TS_SPARSE, 1);
        check_body(all_types[k], RILL_TS_SPARSE, 5);
    }
}

TEST(sparse_double_body_places_last_value_and_tick_at_spec_offsets) {
    /* §3.3: d values at 8..2735, timestamps at 2736..4099, 4100..4103 zero */
    double v[341];
    uint32_t rel[341];
    for (size_t i = 0; i < 341; i++) {
        v[i] = 0.5 + (double)i;
        rel[i] = (uint32_t)i;
    }
    uint8_t out[RILL__BELA_BODY_BYTES];
    memset(out, 0xee, sizeof out);
    ASSERT_OK(rill__bela_body_encode(out, 7, RILL_TYPE_DOUBLE, RILL_TS_SPARSE,
                                     v, 341, rel));
    double last;
    memcpy(&last, out + 2728, 8);
    ASSERT_EQ_DOUBLE(last, 340.5, 0);
    ASSERT_EQ_UINT(out[4096], 340 & 0xff);
    ASSERT_EQ_UINT(out[4097], 340 >> 8);
    for (int i = 4100; i < 4104; i++)
        ASSERT_EQ_UINT(out[i], 0);
}

TEST(body_encode_refuses_too_many_values_and_missing_arrays) {
    uint8_t out[RILL__BELA_BODY_BYTES];
    float v[1025] = {0};
    uint32_t rel[513] = {0};
    memset(out, 0x55, sizeof out);
    ASSERT_ERR(rill__bela_body_encode(out, 0, RILL_TYPE_FLOAT, RILL_TS_DENSE, v,
                                      1025, NULL),
               RILL_EINVAL);
    ASSERT_ERR(rill__bela_body_encode(out, 0, RILL_TYPE_FLOAT, RILL_TS_SPARSE,
                                      v, 513, rel),
               RILL_EINVAL);
    ASSERT_ERR(rill__bela_body_encode(out, 0, RILL_TYPE_FLOAT, RILL_TS_SPARSE,
                                      v, 2, NULL),
               RILL_EINVAL);
    ASSERT_ERR(rill__bela_body_encode(out, 0, RILL_TYPE_FLOAT, RILL_TS_DENSE,
                                      NULL, 2, NULL),
               RILL_EINVAL);
    ASSERT_ERR(rill__bela_body_encode(out, 0, (rill_type)7, RILL_TS_DENSE, v, 1,
                                      NULL),
               RILL_EINVAL);
    ASSERT_EQ_UINT(out[0], 0x55); /* untouched on error */
}

TEST(body_decode_reads_back_what_encode_wrote) {
    int32_t v[4] = {-1, 2, -3, 4};
    uint32_t rel[4] = {0, 1, 1, 9};
    uint8_t body[RILL__BELA_BODY_BYTES];
    ASSERT_OK(rill__bela_body_encode(body, 99, RILL_TYPE_INT32, RILL_TS_SPARSE,
                                     v, 4, rel));
    rill__bela_body b;
    ASSERT_OK(rill__bela_body_decode(body, sizeof body, RILL_TYPE_INT32,
                                     RILL_TS_SPARSE, &b, NULL, 0));
    ASSERT_EQ_UINT(b.ref, 99);
    ASSERT_EQ_UINT(b.n, 512);
    int32_t got[5];
    rill__wire_get_values(got, RILL_TYPE_INT32, b.values, 5);
    ASSERT_EQ_INT(got[0], -1);
    ASSERT_EQ_INT(got[3], 4);
    ASSERT_EQ_INT(got[4], 0); /* padding */
    ASSERT_EQ_UINT(rill__get_le32(b.rel + 12), 9);
}

TEST(body_decode_refuses_wrong_length_with_message) {
    uint8_t body[RILL__BELA_BODY_BYTES + 1] = {0};
    rill__bela_body b;
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_ERR(rill__bela_body_decode(body, 4103, RILL_TYPE_FLOAT,
                                      RILL_TS_DENSE, &b, err, sizeof err),
               RILL_EPROTO);
    ASSERT_EQ_STR(err, "stream buffer: message has 4103 bytes, a buffer has 4104");
}

/* ---- Headers ----------------------------------------------------------- */

TEST(header_is_id_slash_letter_without_nul) {
    char h[RILL__BELA_HEADER_MAX];
    size_t n = 0;
    ASSERT_OK(rill__bela_header_encode(0, RILL_TYPE_FLOAT, true, h, &n));
    ASSERT_EQ_UINT(n, 3);
    ASSERT_EQ_MEM(h, "\x30\x2f\x66", 3);
    ASSERT_OK(rill__bela_header_encode(12, RILL_TYPE_DOUBLE, true, h, &n));
    ASSERT_EQ_UINT(n, 4);
    ASSERT_EQ_MEM(h, "12/d", 4);
    ASSERT_OK(rill__bela_header_encode(99, RILL_TYPE_CHAR, true, h, &n));
    ASSERT_EQ_MEM(h, "99/c", 4);
    ASSERT_OK(rill__bela_header_encode(7, RILL_TYPE_UINT32, true, h, &n));
    ASSERT_EQ_MEM(h, "7/j", 3);
    ASSERT_OK(rill__bela_header_encode(5, RILL_TYPE_INT32, false, h, &n));
    ASSERT_EQ_MEM(h, "5/i", 3);
}

TEST(header_refuses_id_100_for_pybela_clients_only) {
    char h[RILL__BELA_HEADER_MAX];
    size_t n = 0;
    ASSERT_ERR(rill__bela_header_encode(100, RILL_TYPE_FLOAT, true, h, &n),
               RILL_ERANGE);
    ASSERT_OK(rill__bela_header_encode(100, RILL_TYPE_FLOAT, false, h, &n));
    ASSERT_EQ_UINT(n, 5);
    ASSERT_EQ_MEM(h, "100/f", 5);
    ASSERT_OK(rill__bela_header_encode(UINT32_MAX, RILL_TYPE_DOUBLE, false, h,
                                       &n));
    ASSERT_EQ_UINT(n, 12);
    ASSERT_EQ_MEM(h, "4294967295/d", 12);
    ASSERT_ERR(rill__bela_header_encode(1, (rill_type)9, false, h, &n),
               RILL_EINVAL);
}

TEST(header_decode_accepts_what_encode_writes) {
    static const uint32_t ids[] = {0, 9, 10, 99, 100, 123456, UINT32_MAX};
    for (size_t k = 0; k < N_TYPES; k++)
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            char h[RILL__BELA_HEADER_MAX];
            size_t n;
            ASSERT_OK(rill__bela_header_encode(ids[i], all_types[k], false, h,
                                               &n));
            uint32_t id;
            rill_type t;
            ASSERT_OK(rill__bela_header_decode((const uint8_t *)h, n, &id, &t,
                                               NULL, 0));
            ASSERT_EQ_UINT(id, ids[i]);
            ASSERT_EQ_INT(t, all_types[k]);
        }
}

TEST(header_decode_refuses_malformed_headers) {
    static const struct {
        const char *msg;
        const char *err;
    } bad[] = {
        {"0f", "header: 2 bytes, a header has 3 to 12"},
        {"0/x", "header: unknown type letter 0x78"},
        {"01/f", "header: id has a leading zero"},
        {"a/f", "header: byte 0 (0x61) is not a digit"},
        {"12-f", "header: no '/' before the type letter"},
        {"4294967296/f", "header: id 4294967296 does not fit in 32 bits"},
        {"12345678901/f", "header: 13 bytes, a header has 3 to 12"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t id;
        rill_type t;
        char err[RILL__WIRE_ERR_CAP];
        ASSERT_ERR(rill__bela_header_decode((const uint8_t *)bad[i].msg,
                                            strlen(bad[i].msg), &id, &t, err,
                                            sizeof err),
                   RILL_EPROTO);
        ASSERT_EQ_STR(err, bad[i].err);
    }
}

/* ---- Monitor frames ---------------------------------------------------- */

TEST(monitor_frames_are_9_12_and_16_bytes_byte_exact) {
    uint8_t out[RILL__BELA_MONITOR_MAX], exp[16];
    const uint64_t tick = 0x1122334455667788ull;

    unsigned char c = 0xc3;
    ASSERT_EQ_UINT(rill__bela_monitor_encode(out, tick, RILL_TYPE_CHAR, &c), 9);
    le(exp, 0, tick, 8);
    exp[8] = 0xc3;
    ASSERT_EQ_MEM(out, exp, 9);

    int32_t i = -2;
    ASSERT_EQ_UINT(rill__bela_monitor_encode(out, tick, RILL_TYPE_INT32, &i),
                   12);
    le(exp, 8, 0xfffffffeu, 4);
    ASSERT_EQ_MEM(out, exp, 12);

    uint32_t j = 0x80000001u;
    ASSERT_EQ_UINT(rill__bela_monitor_encode(out, tick, RILL_TYPE_UINT32, &j),
                   12);
    le(exp, 8, 0x80000001u, 4);
    ASSERT_EQ_MEM(out, exp, 12);

    float f = 1.0f; /* 0x3f800000 */
    ASSERT_EQ_UINT(rill__bela_monitor_encode(out, tick, RILL_TYPE_FLOAT, &f),
                   12);
    le(exp, 8, 0x3f800000u, 4);
    ASSERT_EQ_MEM(out, exp, 12);

    double d = -2.0; /* 0xc000000000000000 */
    ASSERT_EQ_UINT(rill__bela_monitor_encode(out, tick, RILL_TYPE_DOUBLE, &d),
                   16);
    le(exp, 8, 0xc000000000000000ull, 8);
    ASSERT_EQ_MEM(out, exp, 16);

    ASSERT_EQ_UINT(rill__bela_monitor_encode(out, tick, (rill_type)8, &d), 0);
}

TEST(monitor_decode_checks_length_against_type) {
    uint8_t frame[16];
    double d = 4.6;
    size_t n = rill__bela_monitor_encode(frame, 1278667, RILL_TYPE_DOUBLE, &d);
    uint64_t tick;
    const uint8_t *value;
    ASSERT_OK(rill__bela_monitor_decode(frame, n, RILL_TYPE_DOUBLE, &tick,
                                        &value, NULL, 0));
    ASSERT_EQ_UINT(tick, 1278667);
    double back;
    rill__wire_get_values(&back, RILL_TYPE_DOUBLE, value, 1);
    ASSERT_EQ_DOUBLE(back, 4.6, 0);
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_ERR(rill__bela_monitor_decode(frame, 12, RILL_TYPE_DOUBLE, &tick,
                                         &value, err, sizeof err),
               RILL_EPROTO);
    ASSERT_EQ_STR(err, "monitor frame: 12 bytes, a double frame has 16");
}

/* ---- Client buffers ---------------------------------------------------- */

/* A client message as pybela's send_buffer packs it: id, letter + 3 NULs,
 * count, 4 pad bytes, then `value_bytes` bytes of values. */
static size_t client_msg(uint8_t *m, uint32_t id, char letter, uint32_t count,
                         size_t value_bytes) {
    memset(m, 0, 16 + value_bytes);
    le(m, 0, id, 4);
    m[4] = (uint8_t)letter;
    le(m, 8, count, 4);
    for (size_t i = 0; i < value_bytes; i++)
        m[16 + i] = (uint8_t)(i + 1);
    return 16 + value_bytes;
}

static void expect_client_error(const uint8_t *m, size_t len, const char *want) {
    rill__client_buffer b;
    memset(&b, 0x5a, sizeof b);
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_ERR(rill__client_buffer_parse(m, len, &b, err, sizeof err),
               RILL_EPROTO);
    ASSERT_EQ_STR(err, want);
}

TEST(client_buffer_of_floats_parses_id_type_count_and_values) {
    uint8_t m[16 + 12];
    float v[3] = {1.5f, -2.0f, 3.25f};
    size_t len = client_msg(m, 7, 'f', 3, 12);
    memcpy(m + 16, v, 12);
    rill__client_buffer b;
    ASSERT_OK(rill__client_buffer_parse(m, len, &b, NULL, 0));
    ASSERT_EQ_UINT(b.id, 7);
    ASSERT_EQ_INT(b.type, RILL_TYPE_FLOAT);
    ASSERT_EQ_UINT(b.count, 3);
    ASSERT_EQ_UINT(b.values_len, 12);
    ASSERT_TRUE(b.values == m + 16);
    float got[3];
    rill__wire_get_values(got, RILL_TYPE_FLOAT, b.values, 3);
    ASSERT_EQ_DOUBLE(got[2], 3.25, 0);
}

TEST(client_buffer_of_doubles_is_sized_8_bytes_per_value) {
    /* Bela sizes 'd' as 4 bytes (defect 14): 4 doubles would be 16 bytes. */
    uint8_t m[16 + 32];
    rill__client_buffer b;
    ASSERT_OK(rill__client_buffer_parse(m, client_msg(m, 1, 'd', 4, 32), &b,
                                        NULL, 0));
    ASSERT_EQ_UINT(b.values_len, 32);
    expect_client_error(m, client_msg(m, 1, 'd', 4, 16),
                        "client buffer: count 4 needs 32 bytes of double "
                        "values, message has 16");
}

TEST(client_buffer_of_chars_uint32_and_empty_count_are_accepted) {
    uint8_t m[16 + 5];
    rill__client_buffer b;
    ASSERT_OK(rill__client_buffer_parse(m, client_msg(m, 2, 'c', 5, 5), &b,
                                        NULL, 0));
    ASSERT_EQ_INT(b.type, RILL_TYPE_CHAR);
    ASSERT_EQ_UINT(b.values_len, 5);
    ASSERT_OK(rill__client_buffer_parse(m, client_msg(m, 2, 'j', 1, 4), &b,
                                        NULL, 0));
    ASSERT_EQ_INT(b.type, RILL_TYPE_UINT32);
    ASSERT_OK(rill__client_buffer_parse(m, client_msg(m, 3, 'i', 0, 0), &b,
                                        NULL, 0));
    ASSERT_EQ_UINT(b.count, 0);
    ASSERT_EQ_UINT(b.values_len, 0);
}

TEST(client_buffer_shorter_than_header_is_refused) {
    uint8_t m[16];
    client_msg(m, 0, 'f', 0, 0);
    expect_client_error(m, 10,
                        "client buffer: message has 10 bytes, shorter than "
                        "the 16-byte header");
    expect_client_error(m, 0,
                        "client buffer: message has 0 bytes, shorter than "
                        "the 16-byte header");
}

TEST(client_buffer_with_unknown_type_letter_is_refused) {
    uint8_t m[20];
    expect_client_error(m, client_msg(m, 0, 'x', 1, 4),
                        "client buffer: unknown type letter 'x'; expected one "
                        "of c, i, j, f, d");
}

TEST(client_buffer_with_unprintable_type_byte_is_refused) {
    uint8_t m[20];
    expect_client_error(m, client_msg(m, 0, '\0', 1, 4),
                        "client buffer: unknown type byte 0x00; expected one "
                        "of c, i, j, f, d");
}

TEST(client_buffer_with_count_beyond_message_is_refused) {
    uint8_t m[16 + 400];
    expect_client_error(m, client_msg(m, 0, 'f', 300, 400),
                        "client buffer: count 300 needs 1200 bytes of float "
                        "values, message has 400");
}

TEST(client_buffer_with_bytes_beyond_count_is_refused) {
    uint8_t m[16 + 12];
    expect_client_error(m, client_msg(m, 0, 'i', 2, 12),
                        "client buffer: count 2 needs 8 bytes of int32 "
                        "values, message has 12");
}

TEST(client_buffer_with_huge_count_does_not_overflow) {
    uint8_t m[16 + 8];
    expect_client_error(m, client_msg(m, 0, 'd', UINT32_MAX, 8),
                        "client buffer: count 4294967295 needs 34359738360 "
                        "bytes of double values, message has 8");
}

TEST(client_buffer_with_null_arguments_is_invalid) {
    uint8_t m[16] = {0};
    rill__client_buffer b;
    ASSERT_ERR(rill__client_buffer_parse(NULL, 16, &b, NULL, 0), RILL_EINVAL);
    ASSERT_ERR(rill__client_buffer_parse(m, 16, NULL, NULL, 0), RILL_EINVAL);
}

TEST(wire_value_copies_are_little_endian) {
    uint8_t out[8];
    uint32_t j = 0x11223344u;
    rill__wire_put_values(out, RILL_TYPE_UINT32, &j, 1);
    ASSERT_EQ_MEM(out, "\x44\x33\x22\x11", 4);
    uint64_t bits = 0x0102030405060708ull;
    double d;
    memcpy(&d, &bits, 8);
    rill__wire_put_values(out, RILL_TYPE_DOUBLE, &d, 1);
    ASSERT_EQ_MEM(out, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    double back;
    rill__wire_get_values(&back, RILL_TYPE_DOUBLE, out, 1);
    ASSERT_TRUE(memcmp(&back, &d, 8) == 0);
}
