/* Unit tests of core/validate: every field rule of products, devices and firmware. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/validate.h"

#include <stdio.h>
#include <string.h>

/* buf = unit repeated n times (buf holds 512 bytes). */
static char *rep(char *buf, const char *unit, int n)
{
    size_t ul = strlen(unit), o = 0;
    for (int i = 0; i < n && o + ul < 500; i++, o += ul)
        memcpy(buf + o, unit, ul);
    buf[o] = '\0';
    return buf;
}

static void append(char *buf, const char *s)
{
    size_t l = strlen(buf);
    snprintf(buf + l, 512 - l, "%s", s);
}

static void test_utf8(void **st)
{
    (void)st;
    uint32_t cp;
    assert_int_equal(valid_utf8_next("\xe4\xb8\xad", 3, &cp), 3);
    assert_int_equal(cp, 0x4E2D);
    assert_int_equal(valid_utf8_next("\xc0\x80", 2, &cp), -1);         /* overlong */
    assert_int_equal(valid_utf8_next("\xed\xa0\x80", 3, &cp), -1);     /* surrogate */
    assert_int_equal(valid_utf8_next("\xf4\x90\x80\x80", 4, &cp), -1); /* > U+10FFFF */
    assert_int_equal(valid_utf8_next("\xe4\xb8", 2, &cp), -1);         /* truncated */
    assert_int_equal(valid_utf8_next("\x80", 1, &cp), -1);
    assert_int_equal(valid_utf8_len("a中b"), 3);
    assert_int_equal(valid_utf8_len("a\xff"), -1);
}

static void test_firmware_name(void **st)
{
    (void)st;
    char why[200], buf[512];
    assert_int_equal(valid_firmware_name("fw-1.0_(beta)2", why, sizeof why), 0);
    assert_int_equal(valid_firmware_name("固件升级包", why, sizeof why), 0);
    assert_int_equal(valid_firmware_name("a", why, sizeof why), 0);
    assert_int_equal(valid_firmware_name(rep(buf, "a", 50), why, sizeof why), 0);
    assert_int_equal(valid_firmware_name(rep(buf, "中", 50), why, sizeof why), 0);
    assert_int_equal(valid_firmware_name(rep(buf, "a", 51), why, sizeof why), -1);
    assert_int_equal(valid_firmware_name(rep(buf, "中", 51), why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name(NULL, why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("fw 1", why, sizeof why), -1);
    assert_non_null(strstr(why, "spaces"));
    assert_int_equal(valid_firmware_name("_fw", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("fw-", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("(fw)", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("fw/1", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("fw@1", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("fwこ", why, sizeof why), -1); /* kana: not CJK block */
    assert_int_equal(valid_firmware_name("fw\xff", why, sizeof why), -1);
    assert_int_equal(valid_firmware_name("fw\n1", why, sizeof why), -1);
    assert_int_equal(valid_product_name("智能灯-v2", why, sizeof why), 0);
    assert_int_equal(valid_product_name("lamp one", why, sizeof why), -1);
}

static void test_version(void **st)
{
    (void)st;
    char why[200], buf[512];
    assert_int_equal(valid_firmware_version("1.0.0-rc_1", why, sizeof why), 0);
    assert_int_equal(valid_firmware_version(rep(buf, "1", 100), why, sizeof why), 0);
    assert_int_equal(valid_firmware_version(rep(buf, "1", 101), why, sizeof why), -1);
    assert_int_equal(valid_firmware_version("", why, sizeof why), -1);
    assert_int_equal(valid_firmware_version("1.0 beta", why, sizeof why), -1);
    assert_int_equal(valid_firmware_version("v(1)", why, sizeof why), -1);
    assert_int_equal(valid_firmware_version("版本1", why, sizeof why), -1);
}

static void test_description(void **st)
{
    (void)st;
    char why[200], buf[512];
    assert_int_equal(valid_description("", why, sizeof why), 0);
    assert_int_equal(valid_description("Fixes: Wi-Fi & BLE.\nSecond line", why, sizeof why), 0);
    assert_int_equal(valid_description(rep(buf, "描", 100), why, sizeof why), 0);
    assert_int_equal(valid_description(rep(buf, "描", 101), why, sizeof why), -1);
    assert_int_equal(valid_description("bell\a", why, sizeof why), -1);
}

static void test_file_name(void **st)
{
    (void)st;
    char why[200], buf[512];
    const char *ext;
    static const char *ok[] = {"a.bin", "fw_1-2.rom",  "x.zip", "x.gz",
                               "x.tar", "固件.tar.gz", "X.BIN"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(valid_file_name(ok[i], &ext, why, sizeof why), 0);
    assert_int_equal(valid_file_name("pkg.tar.gz", &ext, why, sizeof why), 0);
    assert_string_equal(ext, "tar.gz");
    assert_int_equal(valid_file_name("a.exe", &ext, why, sizeof why), -1);
    assert_non_null(strstr(why, "format"));
    assert_int_equal(valid_file_name("bin", &ext, why, sizeof why), -1);
    assert_int_equal(valid_file_name(".bin", &ext, why, sizeof why), -1);
    assert_int_equal(valid_file_name("a.b.bin", &ext, why, sizeof why), -1);
    assert_int_equal(valid_file_name("a b.bin", &ext, why, sizeof why), -1);
    assert_int_equal(valid_file_name("../x.bin", &ext, why, sizeof why), -1);
    assert_int_equal(valid_file_name("a/b.bin", &ext, why, sizeof why), -1);
    assert_int_equal(valid_file_name("", &ext, why, sizeof why), -1);
    rep(buf, "a", 64);
    append(buf, ".bin");
    assert_int_equal(valid_file_name(buf, &ext, why, sizeof why), 0);
    rep(buf, "中", 65);
    append(buf, ".bin");
    assert_int_equal(valid_file_name(buf, &ext, why, sizeof why), -1);
}

static void test_device_fields(void **st)
{
    (void)st;
    char why[200], buf[512];
    assert_int_equal(valid_identifier("dev_01-A", why, sizeof why), 0);
    assert_int_equal(valid_identifier(rep(buf, "a", 64), why, sizeof why), 0);
    assert_int_equal(valid_identifier(rep(buf, "a", 65), why, sizeof why), -1);
    assert_int_equal(valid_identifier("", why, sizeof why), -1);
    assert_int_equal(valid_identifier("a.b", why, sizeof why), -1);
    assert_int_equal(valid_identifier("a/b", why, sizeof why), -1);
    assert_int_equal(valid_identifier("中", why, sizeof why), -1);
    assert_int_equal(valid_device_name("Kitchen lamp #2 (厨房)", why, sizeof why), 0);
    assert_int_equal(valid_device_name(rep(buf, "灯", 64), why, sizeof why), 0);
    assert_int_equal(valid_device_name(rep(buf, "灯", 65), why, sizeof why), -1);
    assert_int_equal(valid_device_name("", why, sizeof why), -1);
    assert_int_equal(valid_device_name("a\tb", why, sizeof why), -1);
    assert_int_equal(valid_device_name("a\xc2\x85", why, sizeof why), -1); /* C1 NEL */
    assert_int_equal(valid_product_key("Ab3dEfGh1jK"), 0);
    assert_int_equal(valid_product_key("Ab3dEfGh1j"), -1);
    assert_int_equal(valid_product_key("Ab3dEfGh1j/"), -1);
}

static void test_ids_and_paging(void **st)
{
    (void)st;
    int64_t id;
    int p, s;
    const char *field = NULL;
    char why[200];
    assert_int_equal(valid_id("17", &id), 0);
    assert_int_equal(id, 17);
    assert_int_equal(valid_id("0", &id), -1);
    assert_int_equal(valid_id("017", &id), -1);
    assert_int_equal(valid_id("-1", &id), -1);
    assert_int_equal(valid_id("1e3", &id), -1);
    assert_int_equal(valid_id("99999999999999999", &id), -1);
    assert_int_equal(valid_paging(NULL, NULL, &p, &s, &field, why, sizeof why), 0);
    assert_int_equal(p, 1);
    assert_int_equal(s, 20);
    assert_int_equal(valid_paging("3", "1000", &p, &s, &field, why, sizeof why), 0);
    assert_int_equal(s, 1000);
    assert_int_equal(valid_paging("0", NULL, &p, &s, &field, why, sizeof why), -1);
    assert_string_equal(field, "page");
    assert_int_equal(valid_paging("1", "1001", &p, &s, &field, why, sizeof why), -1);
    assert_string_equal(field, "pageSize");
    assert_int_equal(valid_paging("1", "0", &p, &s, &field, why, sizeof why), -1);
    assert_int_equal(valid_paging("x", NULL, &p, &s, &field, why, sizeof why), -1);
    assert_int_equal(valid_paging("", NULL, &p, &s, &field, why, sizeof why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),           cmocka_unit_test(test_firmware_name),
        cmocka_unit_test(test_version),        cmocka_unit_test(test_description),
        cmocka_unit_test(test_file_name),      cmocka_unit_test(test_device_fields),
        cmocka_unit_test(test_ids_and_paging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
