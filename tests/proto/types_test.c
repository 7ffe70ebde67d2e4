/* The public value types: sizes, wire letters, names. */
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
