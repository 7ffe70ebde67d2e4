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
