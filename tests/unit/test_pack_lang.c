/* Language tags for DASH @lang and HLS LANGUAGE (pack/lang.c). */
#include "test.h"

#include "../../pack/lang.c"

static void test_table_sorted(void **state)
{
    (void)state;
    /* the lookup is a binary search */
    for (size_t i = 1; i < sizeof lang_table / sizeof lang_table[0]; i++)
        CHECK(strncmp(lang_table[i - 1], lang_table[i], 3) < 0);
}

static void test_tags(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } ok[] = {
        { "eng", "en" }, { "FRE", "fr" }, { "fra", "fr" }, { "ger", "de" }, { "deu", "de" },
        { "chi", "zh" }, { "CZE", "cs" }, { "zul", "zu" }, { "aar", "aa" },
        { "qaa", "qaa" },       /* no 2-letter form: kept */
        { "en-US", "en-US" }, { "en", "en" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_string_equal(pk_lang_tag(ok[i].in), ok[i].out);
    static const char *const none[] = {
        NULL, "", "und", "UND", "en US", "e\"n", "-en", "en-", "1en", "englishlanguage",
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        CHECK(pk_lang_tag(none[i]) == NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sorted),
        cmocka_unit_test(test_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
