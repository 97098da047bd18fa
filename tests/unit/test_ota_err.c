/*
 * common/ota_err.c: the error table of otad. OTA_OK is 0, every error is negative and
 * distinct, every code has a distinct snake_case name and a message, and a value outside
 * the table is named "unknown".
 */
#include "ota_err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static const struct {
    int value;
    const char *code;
} table[] = {
#define ROW(code, value, name, message) {code, #code},
    OTA_ERRORS(ROW)
#undef ROW
};
#define N (sizeof table / sizeof table[0])

static void test_ok_is_zero(void **state)
{
    (void)state;
    assert_int_equal(OTA_OK, 0);
    assert_int_equal(table[0].value, 0);
    assert_string_equal(ota_err_name(OTA_OK), "ok");
    for (size_t i = 1; i < N; i++)
        assert_true(table[i].value < 0);
}

static void test_values_and_names_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++) {
            assert_int_not_equal(table[i].value, table[j].value);
            if (strcmp(ota_err_name(table[i].value), ota_err_name(table[j].value)) == 0)
                fail_msg("%s and %s share the name %s", table[i].code, table[j].code,
                         ota_err_name(table[i].value));
        }
}

static void test_names_are_tokens_and_messages_present(void **state)
{
    (void)state;
    for (size_t i = 0; i < N; i++) {
        const char *name = ota_err_name(table[i].value);
        assert_true(name[0] != '\0');
        assert_true(strspn(name, "abcdefghijklmnopqrstuvwxyz_") == strlen(name));
        assert_string_not_equal(name, "unknown");
        const char *msg = ota_strerror(table[i].value);
        assert_true(strlen(msg) > 3);
        assert_string_not_equal(msg, "unknown error");
    }
}

static void test_outside_the_table(void **state)
{
    (void)state;
    assert_string_equal(ota_err_name(1), "unknown");
    assert_string_equal(ota_err_name(-9999), "unknown");
    assert_string_equal(ota_strerror(42), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_is_zero),
        cmocka_unit_test(test_values_and_names_unique),
        cmocka_unit_test(test_names_are_tokens_and_messages_present),
        cmocka_unit_test(test_outside_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
