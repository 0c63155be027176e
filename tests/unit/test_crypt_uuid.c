/* UUID text and GUID byte order (crypt/uuid.c). */
#include "test.h"

#include "../../crypt/uuid.c"

static void test_parse_format(void **state)
{
    (void)state;
    uint8_t id[16], back[16];
    char s[CR_UUID_STR_SIZE];
    CHECK(cr_uuid_parse("6E5A1D26-2757-47d7-8046-eaa5d1d34b5a", id) == 0);
    CHECK(id[0] == 0x6e && id[15] == 0x5a);
    assert_string_equal(cr_uuid_format(id, s), "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a");
    CHECK(cr_uuid_parse(s, back) == 0 && memcmp(id, back, 16) == 0);
    static const char *const bad[] = {
        "", "6e5a1d26-2757-47d7-8046-eaa5d1d34b5", "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a0",
        "{6e5a1d26-2757-47d7-8046-eaa5d1d34b5a}", "6e5a1d26275747d78046eaa5d1d34b5a",
        "6e5a1d26-2757-47d7-8046-eaa5d1d34b5g", "6e5a1d26 2757-47d7-8046-eaa5d1d34b5a",
    };
    memset(back, 0x77, sizeof back);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(cr_uuid_parse(bad[i], back) == -EINVAL);
    CHECK(back[0] == 0x77);     /* untouched on failure */
}

static void test_guid_order(void **state)
{
    (void)state;
    /* PlayReady KID VALUE: Data1, Data2, Data3 little-endian */
    uint8_t id[16], g[16];
    static const uint8_t want[16] = { 0x00, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00, 0x10,
                                      0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01 };
    CHECK(cr_uuid_parse("10000000-1000-1000-1000-100000000001", id) == 0);
    cr_guid_swap(id, g);
    CHECK(memcmp(g, want, 16) == 0);
    cr_guid_swap(g, g);
    CHECK(memcmp(g, id, 16) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_guid_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
