/*
 * Unit tests of server/core/rules: the catalog's business rules as the store applies them
 * for every database: the firmware create checks and their order (product, name,
 * version, the 50-firmware limit, signatures) with the field each names, the delete guard,
 * the signing-key limit, and a
 * device's eligibility for a directed batch with its API codes and their order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/rules.h"

static void test_firmware_create(void **state)
{
    (void)state;
    rules_firmware_facts f = {1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(rules_firmware_create(&f), RULES_FW_OK);
    assert_null(rules_firmware_field(RULES_FW_OK));
    f.firmware_count = RULES_FIRMWARES_PER_PRODUCT - 1;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_OK);
    f.firmware_count = RULES_FIRMWARES_PER_PRODUCT;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_PRODUCT_FULL);
    assert_string_equal(rules_firmware_field(RULES_FW_PRODUCT_FULL), "productKey");
    /* a taken version is named before the limit, a taken name before the version */
    f.version_taken = 1;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_VERSION_TAKEN);
    assert_string_equal(rules_firmware_field(RULES_FW_VERSION_TAKEN), "firmwareVersion");
    f.name_taken = 1;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_NAME_TAKEN);
    assert_string_equal(rules_firmware_field(RULES_FW_NAME_TAKEN), "firmwareName");
    f.product_found = 0;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_NO_PRODUCT);
    assert_string_equal(rules_firmware_field(RULES_FW_NO_PRODUCT), "productKey");
}

/* A product requiring signatures refuses an unsigned firmware; a signed one counts only
 * with an active key; both name "signature" and come right after the product. */
static void test_firmware_signature(void **state)
{
    (void)state;
    rules_firmware_facts f = {1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(rules_firmware_create(&f), RULES_FW_OK); /* unsigned, not required */
    f.require_signature = 1;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_UNSIGNED);
    assert_string_equal(rules_firmware_field(RULES_FW_UNSIGNED), "signature");
    f.is_signed = 1;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_KEY_RETIRED);
    assert_string_equal(rules_firmware_field(RULES_FW_KEY_RETIRED), "signature");
    f.key_active = 1;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_OK);
    f.require_signature = 0;
    f.key_active = 0; /* signed with a retired key: refused even when not required */
    assert_int_equal(rules_firmware_create(&f), RULES_FW_KEY_RETIRED);
    f.name_taken = 1; /* the signature is named before the name */
    assert_int_equal(rules_firmware_create(&f), RULES_FW_KEY_RETIRED);
    f.product_found = 0;
    assert_int_equal(rules_firmware_create(&f), RULES_FW_NO_PRODUCT);
    assert_true(rules_signkey_addable(0));
    assert_true(rules_signkey_addable(RULES_SIGNING_KEYS_PER_PRODUCT - 1));
    assert_false(rules_signkey_addable(RULES_SIGNING_KEYS_PER_PRODUCT));
}

static void test_firmware_delete(void **state)
{
    (void)state;
    assert_true(rules_firmware_deletable(0));
    assert_false(rules_firmware_deletable(1));
    assert_false(rules_firmware_deletable(3));
}

static void test_device_for_batch(void **state)
{
    (void)state;
    rules_device_facts d = {1, 1, 1, "1.0.0", 0};
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_ELIGIBLE);
    assert_null(rules_device_code(RULES_DEVICE_ELIGIBLE));
    d.has_version = 0; /* never reported a version: counts as another one */
    d.version = NULL;
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_ELIGIBLE);
    d.has_version = 1;
    d.version = "2.0.0";
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_SAME_VERSION);
    assert_string_equal(rules_device_code(RULES_DEVICE_SAME_VERSION), "device_same_version");
    d.version = "1.0.0";
    d.busy = 1;
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_BUSY);
    assert_string_equal(rules_device_code(RULES_DEVICE_BUSY), "device_busy");
    /* order: not found, not activated, same version, busy */
    d.version = "2.0.0";
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_SAME_VERSION);
    d.activated = 0;
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_NOT_ACTIVATED);
    assert_string_equal(rules_device_code(RULES_DEVICE_NOT_ACTIVATED), "device_not_activated");
    d.found = 0;
    assert_int_equal(rules_device_for_batch(&d, "2.0.0"), RULES_DEVICE_NOT_FOUND);
    assert_string_equal(rules_device_code(RULES_DEVICE_NOT_FOUND), "device_not_found");
}

static void test_device_again(void **state)
{
    (void)state;
    /* an identifier repeated in one request: its first task is unfinished by then */
    assert_int_equal(rules_device_again(RULES_DEVICE_ELIGIBLE), RULES_DEVICE_BUSY);
    assert_int_equal(rules_device_again(RULES_DEVICE_NOT_ACTIVATED), RULES_DEVICE_NOT_ACTIVATED);
    assert_int_equal(rules_device_again(RULES_DEVICE_BUSY), RULES_DEVICE_BUSY);
    assert_string_equal(RULES_NO_DEVICES, "no_devices");
    assert_string_equal(rules_no_devices_field(1), "identifiers");
    assert_string_equal(rules_no_devices_field(0), "scope");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_firmware_create),
        cmocka_unit_test(test_firmware_signature),
        cmocka_unit_test(test_firmware_delete),
        cmocka_unit_test(test_device_for_batch),
        cmocka_unit_test(test_device_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
