/* The public value types: sizes, wire letters, names. */
#include <math.h>

#include "test.h"

TEST(every_type_has_its_size_letter_and_name) {
    static const struct {
        rill_type type;
        size_t size;
        char letter;
        const char *name;
    } want[] = {
        {RILL_TYPE_CHAR, 1, 'c', "char"},
        {RILL_TYPE_INT32, 4, 'i', "int32"},
        {RILL_TYPE_UINT32, 4, 'j', "uint32"},
        {RILL_TYPE_FLOAT, 4, 'f', "float"},
        {RILL_TYPE_DOUBLE, 8, 'd', "double"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ASSERT_EQ_UINT(rill_type_size(want[i].type), want[i].size);
        ASSERT_EQ_INT(rill_type_letter(want[i].type), want[i].letter);
        ASSERT_EQ_STR(rill_type_name(want[i].type), want[i].name);
        rill_type back = (rill_type)99;
        ASSERT_OK(rill_type_from_letter(want[i].letter, &back));
        ASSERT_EQ_INT(back, want[i].type);
    }
}

TEST(timestamp_modes_match_bela_timestamp_mode_numbers) {
    ASSERT_EQ_INT(RILL_TS_DENSE, 0);
    ASSERT_EQ_INT(RILL_TS_SPARSE, 1);
}

TEST(invalid_type_gives_zero_size_nul_letter_and_unknown_name) {
    rill_type bad = (rill_type)5;
    ASSERT_EQ_UINT(rill_type_size(bad), 0);
    ASSERT_EQ_INT(rill_type_letter(bad), '\0');
    ASSERT_EQ_STR(rill_type_name(bad), "unknown");
}

TEST(unknown_letter_is_refused_and_leaves_output_alone) {
    rill_type t = RILL_TYPE_FLOAT;
    const char bad[] = {'x', 'C', 'F', 'u', 's', '\0', '/'};
    for (size_t i = 0; i < sizeof bad; i++) {
        ASSERT_ERR(rill_type_from_letter(bad[i], &t), RILL_EINVAL);
        ASSERT_EQ_INT(t, RILL_TYPE_FLOAT);
    }
    ASSERT_ERR(rill_type_from_letter('f', NULL), RILL_EINVAL);
}

TEST(values_round_trip_exactly_through_double_at_any_alignment) {
    uint8_t buf[16];
    const struct {
        rill_type t;
        double d;
    } cases[] = {{RILL_TYPE_CHAR, 200},         {RILL_TYPE_INT32, -2147483648.0},
                 {RILL_TYPE_UINT32, 4294967295.0}, {RILL_TYPE_FLOAT, 0.1f},
                 {RILL_TYPE_DOUBLE, 0.1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t off = 0; off < 4; off++) {
            size_t n = rill_value_from_double(cases[i].t, cases[i].d, buf + off);
            ASSERT_EQ_UINT(n, rill_type_size(cases[i].t));
            ASSERT_EQ_DOUBLE(rill_value_to_double(cases[i].t, buf + off), cases[i].d, 0);
        }
    }
    ASSERT_EQ_UINT(rill_value_from_double((rill_type)42, 1.0, buf), 0);
    ASSERT_EQ_DOUBLE(rill_value_to_double((rill_type)42, buf), 0, 0);
}

TEST(integers_saturate_truncate_toward_zero_and_nan_becomes_zero) {
    const double nan = 0.0 / 0.0;
    const struct {
        rill_type t;
        double in, out;
    } cases[] = {
        {RILL_TYPE_INT32, -3.7, -3},         {RILL_TYPE_INT32, 3.7, 3},
        {RILL_TYPE_INT32, 1e12, 2147483647}, {RILL_TYPE_INT32, -1e12, -2147483648.0},
        {RILL_TYPE_INT32, nan, 0},           {RILL_TYPE_UINT32, -5, 0},
        {RILL_TYPE_UINT32, 1e12, 4294967295.0}, {RILL_TYPE_UINT32, nan, 0},
        {RILL_TYPE_CHAR, 300, 255},          {RILL_TYPE_CHAR, -1, 0},
        {RILL_TYPE_CHAR, 65.9, 65},          {RILL_TYPE_CHAR, nan, 0},
    };
    uint8_t buf[8];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rill_value_from_double(cases[i].t, cases[i].in, buf);
        ASSERT_EQ_DOUBLE(rill_value_to_double(cases[i].t, buf), cases[i].out, 0);
    }
}

/* Significant digits of a number's text (a leading "0." not counted). */
static size_t digits(const char *s) {
    size_t n = 0;
    bool lead = true;
    for (; *s != '\0' && *s != 'e'; s++) {
        if (*s == '0' && lead)
            continue;
        if (*s >= '0' && *s <= '9')
            n++, lead = false;
    }
    return n;
}

TEST(values_print_in_the_fewest_digits_that_read_back_as_their_type) {
    const struct {
        rill_type t;
        double v;
        const char *text;
    } cases[] = {
        {RILL_TYPE_FLOAT, (float)0.1, "0.1"},
        {RILL_TYPE_FLOAT, (float)-0.45186606, "-0.45186606"},
        {RILL_TYPE_FLOAT, (float)1e-30, "1e-30"},
        {RILL_TYPE_FLOAT, 3, "3"},
        {RILL_TYPE_FLOAT, (float)16777217.0, "16777216"},
        {RILL_TYPE_FLOAT, 3.4028234663852886e38, "3.4028235e+38"},
        {RILL_TYPE_FLOAT, -0.0, "-0"},
        {RILL_TYPE_DOUBLE, 0.1, "0.1"},
        {RILL_TYPE_DOUBLE, (float)0.1, "0.10000000149011612"},
        {RILL_TYPE_DOUBLE, 1.0 / 3, "0.3333333333333333"},
        {RILL_TYPE_DOUBLE, 4.35, "4.35"},
        {RILL_TYPE_DOUBLE, 1.0 / 0.0, "inf"},
        {RILL_TYPE_DOUBLE, -1.0 / 0.0, "-inf"},
        {RILL_TYPE_FLOAT, 0.0 / 0.0, "nan"},
        {RILL_TYPE_INT32, -2147483648.0, "-2147483648"},
        {RILL_TYPE_UINT32, 4294967295.0, "4294967295"},
        {RILL_TYPE_CHAR, 255, "255"},
    };
    char text[RILL_VALUE_TEXT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = rill_value_format(cases[i].t, cases[i].v, text, sizeof text);
        ASSERT_EQ_STR(text, cases[i].text);
        ASSERT_EQ_UINT((size_t)n, strlen(cases[i].text));
    }
    /* Every float and double reads back exactly (as its type), in no more
     * significant digits than %.9g / %.17g give. */
    uint32_t x = 2463534242u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        float f;
        memcpy(&f, &x, 4);
        if (!isfinite(f))
            continue;
        rill_value_format(RILL_TYPE_FLOAT, f, text, sizeof text);
        ASSERT_TRUE((float)strtod(text, NULL) == f);
        char longest[40];
        snprintf(longest, sizeof longest, "%.9g", f);
        ASSERT_LE_UINT(digits(text), digits(longest));
        double d = (double)f * (1.0 + x / 4294967296.0);
        rill_value_format(RILL_TYPE_DOUBLE, d, text, sizeof text);
        ASSERT_TRUE(strtod(text, NULL) == d);
        snprintf(longest, sizeof longest, "%.17g", d);
        ASSERT_LE_UINT(digits(text), digits(longest));
    }
    /* Cut short as snprintf: the length it would have had. */
    ASSERT_EQ_INT(rill_value_format(RILL_TYPE_DOUBLE, 0.1, text, 2), 3);
    ASSERT_EQ_STR(text, "0");
}
