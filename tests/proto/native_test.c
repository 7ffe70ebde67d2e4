/* rill's native data format: exact bytes, round trips, and every way a
 * decoder must refuse a message. */
#include "test.h"
#include "proto/native.h"
#include "proto/wire.h"

static void le(uint8_t *exp, size_t off, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++)
        exp[off + i] = (uint8_t)(v >> (8 * i));
}

/* The 32-byte header written out by hand from the layout in native.h. */
static void header_bytes(uint8_t *exp, uint8_t kind, char letter,
                         uint8_t flags, uint32_t id, uint64_t seq,
                         uint64_t first, uint32_t count, uint32_t dropped) {
    exp[0] = 1;
    exp[1] = kind;
    exp[2] = (uint8_t)letter;
    exp[3] = flags;
    le(exp, 4, id, 4);
    le(exp, 8, seq, 8);
    le(exp, 16, first, 8);
    le(exp, 24, count, 4);
    le(exp, 28, dropped, 4);
}

TEST(dense_float_buffer_is_byte_exact_and_round_trips) {
    float v[3] = {1.0f, -2.0f, 0.5f}; /* 0x3f800000 0xc0000000 0x3f000000 */
    rill__native_header h = {RILL__NATIVE_STREAM, RILL_TYPE_FLOAT, 0, 0x0a0b0c0d,
                             0x1122334455667788ull, 1000, 3, 2};
    uint8_t out[64], exp[44];
    size_t len = 0;
    ASSERT_EQ_UINT(rill__native_size(&h), 44);
    ASSERT_OK(rill__native_encode(&h, v, NULL, out, sizeof out, &len));
    ASSERT_EQ_UINT(len, 44);
    header_bytes(exp, 0, 'f', 0, 0x0a0b0c0d, 0x1122334455667788ull, 1000, 3, 2);
    le(exp, 32, 0x3f800000, 4);
    le(exp, 36, 0xc0000000, 4);
    le(exp, 40, 0x3f000000, 4);
    ASSERT_EQ_MEM(out, exp, 44);

    rill__native_msg m;
    ASSERT_OK(rill__native_decode(out, len, &m, NULL, 0));
    ASSERT_EQ_INT(m.h.kind, RILL__NATIVE_STREAM);
    ASSERT_EQ_INT(m.h.type, RILL_TYPE_FLOAT);
    ASSERT_EQ_UINT(m.h.flags, 0);
    ASSERT_EQ_UINT(m.h.var_id, 0x0a0b0c0d);
    ASSERT_EQ_UINT(m.h.seq, 0x1122334455667788ull);
    ASSERT_EQ_UINT(m.h.first_ts, 1000);
    ASSERT_EQ_UINT(m.h.count, 3);
    ASSERT_EQ_UINT(m.h.dropped, 2);
    ASSERT_NULL(m.rel);
    float back[3];
    rill__wire_get_values(back, RILL_TYPE_FLOAT, m.values, 3);
    ASSERT_EQ_DOUBLE(back[1], -2.0, 0);
}

TEST(sparse_char_buffer_pads_values_to_four_before_timestamps) {
    /* 32 header + 3 chars = 35, one zero pad byte, rel ticks at 36. */
    unsigned char v[3] = {0x61, 0x62, 0x63};
    uint32_t rel[3] = {0, 5, 0x01020304};
    rill__native_header h = {RILL__NATIVE_STREAM, RILL_TYPE_CHAR,
                             RILL__NATIVE_FLAG_SPARSE | RILL__NATIVE_FLAG_LAST,
                             4, 9, 123456789, 3, 0};
    uint8_t out[64], exp[48];
    memset(out, 0xff, sizeof out);
    size_t len = 0;
    ASSERT_OK(rill__native_encode(&h, v, rel, out, sizeof out, &len));
    ASSERT_EQ_UINT(len, 48);
    memset(exp, 0, sizeof exp);
    header_bytes(exp, 0, 'c', 3, 4, 9, 123456789, 3, 0);
    exp[32] = 0x61;
    exp[33] = 0x62;
    exp[34] = 0x63;
    le(exp, 36, 0, 4);
    le(exp, 40, 5, 4);
    le(exp, 44, 0x01020304, 4);
    ASSERT_EQ_MEM(out, exp, 48);

    rill__native_msg m;
    ASSERT_OK(rill__native_decode(out, len, &m, NULL, 0));
    ASSERT_TRUE(m.rel == out + 36);
    ASSERT_EQ_UINT(rill__get_le32(m.rel + 8), 0x01020304);
    ASSERT_EQ_UINT(m.h.flags, 3);
}

TEST(sparse_double_buffer_needs_no_padding) {
    double v[2] = {1.25, -7.5};
    uint32_t rel[2] = {0, 3};
    rill__native_header h = {RILL__NATIVE_STREAM, RILL_TYPE_DOUBLE,
                             RILL__NATIVE_FLAG_SPARSE, 1, 0, 0, 2, 0};
    uint8_t out[64];
    size_t len = 0;
    ASSERT_OK(rill__native_encode(&h, v, rel, out, sizeof out, &len));
    ASSERT_EQ_UINT(len, 32 + 16 + 8);
    rill__native_msg m;
    ASSERT_OK(rill__native_decode(out, len, &m, NULL, 0));
    ASSERT_TRUE(m.rel == out + 48);
    double back[2];
    rill__wire_get_values(back, RILL_TYPE_DOUBLE, m.values, 2);
    ASSERT_EQ_DOUBLE(back[1], -7.5, 0);
}

TEST(monitor_value_and_end_of_stream_round_trip) {
    int32_t v = -42;
    rill__native_header mon = {RILL__NATIVE_MONITOR, RILL_TYPE_INT32, 0, 2, 17,
                               5000, 1, 0};
    uint8_t out[64], exp[36];
    size_t len;
    ASSERT_OK(rill__native_encode(&mon, &v, NULL, out, sizeof out, &len));
    ASSERT_EQ_UINT(len, 36);
    header_bytes(exp, 1, 'i', 0, 2, 17, 5000, 1, 0);
    le(exp, 32, (uint32_t)-42, 4);
    ASSERT_EQ_MEM(out, exp, 36);
    rill__native_msg m;
    ASSERT_OK(rill__native_decode(out, len, &m, NULL, 0));
    ASSERT_EQ_INT(m.h.kind, RILL__NATIVE_MONITOR);

    rill__native_header end = {RILL__NATIVE_END, RILL_TYPE_UINT32, 0, 2, 18,
                               6000, 0, 7};
    ASSERT_OK(rill__native_encode(&end, NULL, NULL, out, sizeof out, &len));
    ASSERT_EQ_UINT(len, 32);
    header_bytes(exp, 2, 'j', 0, 2, 18, 6000, 0, 7);
    ASSERT_EQ_MEM(out, exp, 32);
    ASSERT_OK(rill__native_decode(out, len, &m, NULL, 0));
    ASSERT_EQ_INT(m.h.kind, RILL__NATIVE_END);
    ASSERT_EQ_UINT(m.h.dropped, 7);
}

TEST(encode_refuses_broken_kind_rules_and_small_buffers) {
    float v[2] = {0};
    uint8_t out[40];
    size_t len;
    rill__native_header h = {RILL__NATIVE_STREAM, RILL_TYPE_FLOAT, 0, 0, 0, 0,
                             0, 0};
    ASSERT_ERR(rill__native_encode(&h, v, NULL, out, sizeof out, &len),
               RILL_EINVAL); /* stream with no values */
    h.count = 2;
    ASSERT_ERR(rill__native_encode(&h, v, NULL, out, 39, &len), RILL_ETOOBIG);
    ASSERT_ERR(rill__native_encode(&h, NULL, NULL, out, sizeof out, &len),
               RILL_EINVAL);
    h.flags = RILL__NATIVE_FLAG_SPARSE;
    ASSERT_ERR(rill__native_encode(&h, v, NULL, out, sizeof out, &len),
               RILL_EINVAL); /* sparse without rel */
    h.flags = 0x80;
    ASSERT_ERR(rill__native_encode(&h, v, NULL, out, sizeof out, &len),
               RILL_EINVAL);
    h.flags = 0;
    h.kind = RILL__NATIVE_MONITOR;
    ASSERT_ERR(rill__native_encode(&h, v, NULL, out, sizeof out, &len),
               RILL_EINVAL); /* monitor with 2 values */
    h.kind = (rill__native_kind)3;
    ASSERT_EQ_UINT(rill__native_size(&h), 0);
    h.kind = RILL__NATIVE_STREAM;
    h.type = (rill_type)11;
    ASSERT_ERR(rill__native_encode(&h, v, NULL, out, sizeof out, &len),
               RILL_EINVAL);
}

/* A valid 2-float dense message to break in the tests below. */
static size_t good_msg(uint8_t *out) {
    float v[2] = {1, 2};
    rill__native_header h = {RILL__NATIVE_STREAM, RILL_TYPE_FLOAT, 0, 3, 4, 5,
                             2, 0};
    size_t len = 0;
    ASSERT_OK(rill__native_encode(&h, v, NULL, out, 64, &len));
    return len;
}

static void expect_decode_error(const uint8_t *msg, size_t len,
                                const char *want) {
    rill__native_msg m;
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_ERR(rill__native_decode(msg, len, &m, err, sizeof err), RILL_EPROTO);
    ASSERT_EQ_STR(err, want);
}

TEST(decode_refuses_message_shorter_than_header) {
    uint8_t m[64];
    good_msg(m);
    expect_decode_error(m, 31,
                        "native: message has 31 bytes, shorter than the "
                        "32-byte header");
}

TEST(decode_refuses_unknown_version) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[0] = 2;
    expect_decode_error(m, len, "native: version 2; this reader knows 1 only");
}

TEST(decode_refuses_unknown_kind) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[1] = 3;
    expect_decode_error(m, len, "native: unknown kind 3");
}

TEST(decode_refuses_unknown_type_letter) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[2] = 'x';
    expect_decode_error(m, len, "native: unknown type letter 0x78");
}

TEST(decode_refuses_unknown_flag_bits) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[3] = 0x06;
    expect_decode_error(m, len, "native: unknown flag bits 0x04");
}

TEST(decode_refuses_stream_buffer_without_values) {
    uint8_t m[64];
    good_msg(m);
    le(m, 24, 0, 4);
    expect_decode_error(m, 32,
                        "native: a stream buffer has count 0; it needs at "
                        "least one value");
}

TEST(decode_refuses_monitor_with_other_than_one_value) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[1] = RILL__NATIVE_MONITOR;
    expect_decode_error(m, len,
                        "native: a monitor value has count 2; it must be 1");
}

TEST(decode_refuses_flags_on_monitor_and_end) {
    uint8_t m[64];
    good_msg(m);
    m[1] = RILL__NATIVE_END;
    m[3] = RILL__NATIVE_FLAG_LAST;
    le(m, 24, 0, 4);
    expect_decode_error(m, 32,
                        "native: an end-of-stream message has flags 0x02; "
                        "it takes none");
}

TEST(decode_refuses_end_of_stream_with_values) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[1] = RILL__NATIVE_END;
    expect_decode_error(m, len,
                        "native: an end-of-stream message has count 2; it "
                        "must be 0");
}

TEST(decode_refuses_length_that_does_not_match_count) {
    uint8_t m[64];
    size_t len = good_msg(m);
    expect_decode_error(m, len - 1,
                        "native: count 2 of float needs 40 bytes, message "
                        "has 39");
    m[len] = 0;
    expect_decode_error(m, len + 1,
                        "native: count 2 of float needs 40 bytes, message "
                        "has 41");
    le(m, 24, UINT32_MAX, 4);
    expect_decode_error(m, len,
                        "native: count 4294967295 of float needs 17179869212 "
                        "bytes, message has 40");
}

TEST(decode_refuses_sparse_message_missing_its_timestamps) {
    uint8_t m[64];
    size_t len = good_msg(m);
    m[3] = RILL__NATIVE_FLAG_SPARSE;
    expect_decode_error(m, len,
                        "native: count 2 of float with timestamps needs 48 "
                        "bytes, message has 40");
}

TEST(decode_refuses_nonzero_padding_before_timestamps) {
    unsigned char v[1] = {7};
    uint32_t rel[1] = {0};
    rill__native_header h = {RILL__NATIVE_STREAM, RILL_TYPE_CHAR,
                             RILL__NATIVE_FLAG_SPARSE, 0, 0, 0, 1, 0};
    uint8_t m[64];
    size_t len;
    ASSERT_OK(rill__native_encode(&h, v, rel, m, sizeof m, &len));
    ASSERT_EQ_UINT(len, 40);
    m[34] = 0x01;
    expect_decode_error(m, len,
                        "native: padding byte at offset 34 is 0x01, not 0");
}

TEST(decode_with_null_arguments_is_invalid) {
    uint8_t m[64];
    size_t len = good_msg(m);
    rill__native_msg out;
    ASSERT_ERR(rill__native_decode(NULL, len, &out, NULL, 0), RILL_EINVAL);
    ASSERT_ERR(rill__native_decode(m, len, NULL, NULL, 0), RILL_EINVAL);
}
