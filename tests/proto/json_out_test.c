/* The JSON writer: number and string formatting, and the two-pass render. */
#include <math.h>

#include "core/internal.h"
#include "test.h"
#include "proto/json_out.h"

static void expect_double(double v, const char *want) {
    char b[RILL__JSON_DOUBLE_MAX];
    size_t n = rill__json_format_double(b, v);
    ASSERT_EQ_STR(b, want);
    ASSERT_EQ_UINT(n, strlen(want));
}

TEST(integral_doubles_up_to_2_pow_53_print_as_integers) {
    expect_double(0.0, "0");
    expect_double(-0.0, "0");
    expect_double(44100.0, "44100");
    expect_double(1234567.0, "1234567");
    expect_double(-1234560.0, "-1234560");
    expect_double(4294967295.0, "4294967295");
    expect_double(1e15, "1000000000000000"); /* Bela: 1e+15 */
    expect_double(9007199254740992.0, "9007199254740992");   /* 2^53 */
    expect_double(-9007199254740992.0, "-9007199254740992");
}

TEST(integral_doubles_beyond_2_pow_53_print_in_exponent_form) {
    /* Found by fuzz_command: -1e19 printed as a 20-digit integer, which
     * int64-based JSON parsers refuse. */
    expect_double(-1e19, "-1e+19");
    expect_double(9007199254740994.0, "9007199254740994"); /* %g, 16 digits */
    expect_double(9223372036854775808.0, "9.223372036854776e+18"); /* 2^63 */
    expect_double(18446744073709551616.0, "1.8446744073709552e+19"); /* 2^64 */
}

TEST(other_doubles_print_in_shortest_round_trip_form) {
    expect_double(4.6, "4.6");
    expect_double(0.1, "0.1");
    expect_double(-2.5, "-2.5");
    expect_double(1.0 / 3.0, "0.3333333333333333");
    expect_double(0.1 + 0.2, "0.30000000000000004"); /* needs all 17 */
    expect_double(1e-7, "1e-07");
    expect_double(1e300, "1e+300");
}

TEST(nan_and_infinities_print_as_null) {
    expect_double(NAN, "null");
    expect_double(INFINITY, "null");
    expect_double(-INFINITY, "null");
}

static void build_string(rill__jw *w, const void *ctx) {
    rill__jw_string(w, ctx);
}

static void expect_string(const char *in, const char *want) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__json_render(build_string, in, &out, &len));
    int same = strcmp(out, want) == 0 && len == strlen(want);
    if (!same) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", out);
        rill__free(out);
        FAIL("string %s: got %s, want %s", in, copy, want);
    }
    rill__free(out);
}

TEST(strings_escape_quotes_backslashes_and_slashes_as_bela_does) {
    expect_string("myvar", "\"myvar\"");
    expect_string("", "\"\"");
    expect_string("a\"b\\c/d", "\"a\\\"b\\\\c\\/d\"");
    expect_string("t\tn\nr\rb\bf\f", "\"t\\tn\\nr\\rb\\bf\\f\"");
}

TEST(strings_escape_control_bytes_and_del_as_u_escapes) {
    expect_string("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
}

TEST(strings_escape_non_ascii_code_points_and_surrogate_pairs) {
    expect_string("caf\xc3\xa9", "\"caf\\u00e9\"");
    expect_string("\xe2\x82\xac", "\"\\u20ac\"");             /* euro sign */
    expect_string("\xf0\x9f\x98\x80", "\"\\ud83d\\ude00\""); /* U+1F600 */
}

TEST(strings_replace_each_invalid_utf8_byte) {
    expect_string("a\xff" "b", "\"a\\ufffdb\"");
    expect_string("\xc0\x80", "\"\\ufffd\\ufffd\""); /* overlong NUL */
    expect_string("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    expect_string("\xe2\x82", "\"\\ufffd\\ufffd\""); /* cut short */
}

static void build_mixed(rill__jw *w, const void *ctx) {
    (void)ctx;
    rill__jw_lit(w, "[");
    rill__jw_u64(w, UINT64_MAX);
    rill__jw_lit(w, ",");
    rill__jw_i64(w, INT64_MIN);
    rill__jw_lit(w, ",");
    rill__jw_bool(w, true);
    rill__jw_lit(w, ",");
    rill__jw_bool(w, false);
    rill__jw_lit(w, ",");
    rill__jw_string(w, NULL);
    rill__jw_lit(w, "]");
}

TEST(render_measures_then_writes_exactly_once) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__json_render(build_mixed, NULL, &out, &len));
    ASSERT_EQ_STR(out, "[18446744073709551615,-9223372036854775808,true,false,"
                       "\"\"]");
    ASSERT_EQ_UINT(len, strlen(out));
    ASSERT_EQ_INT(test_alloc_count(), 1);
    rill__free(out);
}
