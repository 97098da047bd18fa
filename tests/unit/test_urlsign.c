/*
 * Unit tests of server/core/urlsign: key derivation (and the HMAC under it, RFC 4231), the exact link format, round trips
 * with awkward characters, every field tampered, expiry, and malformed targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/urlsign.h"
#include "ota_crypto.h"

#define BASE "http://127.0.0.1:8080"
#define EXP 1800000000LL
#define NOW (EXP - 3600)

static unsigned char server_key[32];
static unsigned char key[URLSIGN_KEY_BYTES];

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 32; i++)
        server_key[i] = (unsigned char)(i * 7 + 1);
    return urlsign_derive_key(server_key, key);
}

static const urlsign_fields F = {"fw-123", "app_v2.bin", "b-77", "pk1.dev_01", EXP};

/* The path+query part of a built link (after the base). */
static char *build_target(const urlsign_fields *f)
{
    char *url = NULL;
    assert_int_equal(urlsign_build(key, BASE, f, &url), OTA_OK);
    assert_non_null(url);
    assert_memory_equal(url, BASE, strlen(BASE));
    char *t = strdup(url + strlen(BASE));
    free(url);
    return t;
}

static void test_derive_key(void **state)
{
    (void)state;
    unsigned char want[32];
    assert_int_equal(ota_hmac_sha256(server_key, 32, "url:", 4, want), 0);
    assert_memory_equal(key, want, 32);
    assert_memory_not_equal(key, server_key, 32);
}

/* ota_hmac_sha256 (common/crypto.c, which signs these links) against RFC 4231's test cases
 * 1 (a short key), 2 (a key shorter than the hash) and 6 (a key longer than the block). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char k1[20], k6[131], mac[32];
    char hex[65];
    memset(k1, 0x0b, sizeof k1);
    memset(k6, 0xaa, sizeof k6);
    assert_int_equal(ota_hmac_sha256(k1, sizeof k1, "Hi There", 8, mac), 0);
    ota_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *m2 = "what do ya want for nothing?";
    assert_int_equal(ota_hmac_sha256((const unsigned char *)"Jefe", 4, m2, strlen(m2), mac), 0);
    ota_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(ota_hmac_sha256(k6, sizeof k6, m6, strlen(m6), mac), 0);
    ota_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_exact_format(void **state)
{
    (void)state;
    char sig[URLSIGN_SIG_HEX + 1];
    assert_int_equal(urlsign_sign(key, &F, sig), OTA_OK);
    assert_int_equal(strlen(sig), 64);
    /* recompute the documented message independently */
    const char *msg = "ota-dl-v1\n6:fw-123\n10:app_v2.bin\n4:b-77\n10:pk1.dev_01\n10:1800000000\n";
    unsigned char mac[32];
    char hex[65];
    assert_int_equal(ota_hmac_sha256(key, 32, msg, strlen(msg), mac), 0);
    ota_hex_encode(mac, 32, hex);
    assert_string_equal(sig, hex);
    char want[512];
    snprintf(want, sizeof want, BASE "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",
             hex);
    char *url = NULL;
    assert_int_equal(urlsign_build(key, BASE "//", &F, &url), OTA_OK); /* '/' trimmed */
    assert_string_equal(url, want);
    free(url);
}

static void test_round_trip(void **state)
{
    (void)state;
    char *t = build_target(&F);
    urlsign_request r;
    assert_int_equal(urlsign_check(key, t, NOW, &r), OTA_OK);
    assert_string_equal(r.firmware_id, "fw-123");
    assert_string_equal(r.file_name, "app_v2.bin");
    assert_string_equal(r.batch_id, "b-77");
    assert_string_equal(r.device, "pk1.dev_01");
    assert_true(r.expires_s == EXP);
    assert_int_equal(urlsign_check(key, t, NOW, NULL), OTA_OK);
    free(t);
}

static void test_escaping_round_trip(void **state)
{
    (void)state;
    const urlsign_fields f = {"id/with?odd&chars=%+ #", "固件_v1-2.tar.gz", "b a+c&d=e", "pk.id~x",
                              5};
    char *t = build_target(&f);
    assert_null(strchr(t, ' '));
    assert_null(strchr(t, '#'));
    assert_non_null(strstr(t, "/dl/id%2Fwith%3Fodd%26chars%3D%25%2B%20%23/"));
    assert_non_null(strstr(t, "%E5%9B%BA%E4%BB%B6_v1-2.tar.gz?"));
    assert_non_null(strstr(t, "?b=b%20a%2Bc%26d%3De&d=pk.id~x&e=5&s="));
    urlsign_request r;
    assert_int_equal(urlsign_check(key, t, 4, &r), OTA_OK);
    assert_string_equal(r.firmware_id, f.firmware_id);
    assert_string_equal(r.file_name, f.file_name);
    assert_string_equal(r.batch_id, f.batch_id);
    assert_string_equal(r.device, f.device);
    free(t);
}

static void test_default_file_name(void **state)
{
    (void)state;
    urlsign_fields f = F;
    f.file_name = NULL;
    char *t = build_target(&f);
    assert_non_null(strstr(t, "/dl/fw-123/firmware.bin?"));
    assert_int_equal(urlsign_check(key, t, NOW, NULL), OTA_OK);
    free(t);
    f.file_name = "";
    t = build_target(&f);
    assert_non_null(strstr(t, "/firmware.bin?"));
    free(t);
}

/* Replaces the first occurrence of from with to in s (returns a new string). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return o;
}

static void test_every_field_tampered(void **state)
{
    (void)state;
    char *t = build_target(&F);
    const char *swaps[][2] = {
        {"/dl/fw-123/", "/dl/fw-124/"},
        {"/app_v2.bin", "/app_v3.bin"},
        {"b=b-77", "b=b-78"},
        {"d=pk1.dev_01", "d=pk1.dev_02"},
        {"d=pk1.dev_01", "d=pk2.dev_01"},
        {"e=1800000000", "e=1800000001"},
        {"e=1800000000", "e=2800000000"},
        {"e=1800000000", "e=180000000"},
        {"/dl/fw-123/", "/dl/fw%2D123x/"},
    };
    for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
        char *x = replace(t, swaps[i][0], swaps[i][1]);
        int rc = urlsign_check(key, x, NOW, NULL);
        if (rc != OTA_EBADSIG)
            print_error("%s -> %s\n", x, ota_err_name(rc));
        assert_int_equal(rc, OTA_EBADSIG);
        free(x);
    }
    /* an escaped form of the same value is the same value */
    char *same = replace(t, "/dl/fw-123/", "/dl/fw%2D123/");
    assert_int_equal(urlsign_check(key, same, NOW, NULL), OTA_OK);
    free(same);
    /* the signature itself: one char changed, truncated, extended, upper case, empty-ish */
    char *s = strstr(t, "&s=") + 3;
    char orig = s[10];
    s[10] = orig == 'a' ? 'b' : 'a';
    assert_int_equal(urlsign_check(key, t, NOW, NULL), OTA_EBADSIG);
    s[10] = orig;
    assert_int_equal(urlsign_check(key, t, NOW, NULL), OTA_OK);
    char *ext = malloc(strlen(t) + 3);
    snprintf(ext, strlen(t) + 3, "%s00", t);
    assert_int_equal(urlsign_check(key, ext, NOW, NULL), OTA_EBADSIG);
    ext[strlen(t) - 1] = '\0';
    assert_int_equal(urlsign_check(key, ext, NOW, NULL), OTA_EBADSIG);
    free(ext);
    for (char *p = s; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(urlsign_check(key, t, NOW, NULL), OTA_EBADSIG);
    free(t);
    /* another key */
    t = build_target(&F);
    unsigned char other[32];
    memcpy(other, key, 32);
    other[0] ^= 1;
    assert_int_equal(urlsign_check(other, t, NOW, NULL), OTA_EBADSIG);
    free(t);
}

static void test_expiry(void **state)
{
    (void)state;
    char *t = build_target(&F);
    assert_int_equal(urlsign_check(key, t, EXP - 1, NULL), OTA_OK);
    assert_int_equal(urlsign_check(key, t, EXP, NULL), OTA_EEXPIRED);
    assert_int_equal(urlsign_check(key, t, EXP + 86400, NULL), OTA_EEXPIRED);
    /* a forged later expiry is a bad signature, not a valid link */
    char *x = replace(t, "e=1800000000", "e=1900000000");
    assert_int_equal(urlsign_check(key, x, EXP + 1, NULL), OTA_EBADSIG);
    free(x);
    /* expired and tampered: bad signature */
    x = replace(t, "b=b-77", "b=b-7");
    assert_int_equal(urlsign_check(key, x, EXP + 1, NULL), OTA_EBADSIG);
    free(x);
    free(t);
    urlsign_fields f = F;
    f.expires_s = 0;
    t = build_target(&f);
    assert_int_equal(urlsign_check(key, t, 0, NULL), OTA_EEXPIRED);
    free(t);
}

static void test_query_variants(void **state)
{
    (void)state;
    char *t = build_target(&F);
    char *q = strchr(t, '?');
    char sig[80];
    snprintf(sig, sizeof sig, "%s", strstr(q, "&s=") + 3);
    char buf[512];
    /* reordered, extra parameters and empty pairs are fine */
    snprintf(buf, sizeof buf, "/dl/fw-123/app_v2.bin?s=%s&x=1&&e=1800000000&d=pk1.dev_01&b=b-77&",
             sig);
    assert_int_equal(urlsign_check(key, buf, NOW, NULL), OTA_OK);
    snprintf(buf, sizeof buf, "/dl/fw-123/app_v2.bin?utm=&s=%s&e=1800000000&d=pk1.dev_01&b=b-77",
             sig);
    assert_int_equal(urlsign_check(key, buf, NOW, NULL), OTA_OK);
    free(t);
}

static void test_malformed(void **state)
{
    (void)state;
    char *t = build_target(&F);
    char sig[80];
    snprintf(sig, sizeof sig, "%s", strstr(t, "&s=") + 3);
    const char *bad_fmt[] = {
        "/dl/fw-123?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",                   /* no file segment */
        "/dl/fw-123/?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",                  /* empty file */
        "/dl//app.bin?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",                 /* empty id */
        "/dl/a/b/c?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",                    /* extra segment */
        "/download/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1&s=%s",           /* wrong prefix */
        "dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",         /* no leading / */
        "/dl/fw-123/app_v2.bin?d=pk1.dev_01&e=1800000000&s=%s",               /* no b */
        "/dl/fw-123/app_v2.bin?b=b-77&e=1800000000&s=%s",                     /* no d */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&s=%s",                     /* no e */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000%.0s",         /* no s */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000&s=%.0s",      /* empty s */
        "/dl/fw-123/app_v2.bin?b=&d=pk1.dev_01&e=1800000000&s=%s",            /* empty b */
        "/dl/fw-123/app_v2.bin?b=b-77&d=&e=1800000000&s=%s",                  /* empty d */
        "/dl/fw-123/app_v2.bin?b=b-77&b=b-77&d=pk1.dev_01&e=1800000000&s=%s", /* repeated */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=-5&s=%s",                /* negative e */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=18e8&s=%s",              /* not decimal */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=&s=%s",                  /* empty e */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=01800000000&s=%s",       /* leading zero */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1234567890123456789&s=%s", /* 19 digits */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000&s",             /* no '=' */
        "/dl/fw-123/app_v2.bin?b=b%%G7&d=pk1.dev_01&e=1800000000&s=%s",         /* bad escape */
        "/dl/fw-123/app_v2.bin?b=b%%7&d=pk1.dev_01&e=1800000000&s=%s",          /* short escape */
        "/dl/fw-123/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000&s=%s%%",        /* escape at end */
        "/dl/fw%%00x/app_v2.bin?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",         /* NUL */
        "/dl/fw-123/app_v2.bin#x?b=b-77&d=pk1.dev_01&e=1800000000&s=%s",        /* fragment */
        "/dl/fw-123/app_v2.bin",                                                /* no query */
        "/dl/",
        "",
    };
    char buf[600];
    for (size_t i = 0; i < sizeof bad_fmt / sizeof bad_fmt[0]; i++) {
        snprintf(buf, sizeof buf, bad_fmt[i], sig);
        int rc = urlsign_check(key, buf, NOW, NULL);
        if (rc != OTA_EMALFORMED)
            print_error("case %zu %s -> %s\n", i, buf, ota_err_name(rc));
        assert_int_equal(rc, OTA_EMALFORMED);
    }
    urlsign_request r;
    assert_int_equal(urlsign_parse(NULL, &r), OTA_EMALFORMED);
    /* over-long target and over-long field */
    char *big = malloc(URLSIGN_TARGET_MAX + 100);
    memset(big, 'a', URLSIGN_TARGET_MAX + 99);
    memcpy(big, "/dl/x/y?b=", 10);
    big[URLSIGN_TARGET_MAX + 99] = '\0';
    assert_int_equal(urlsign_check(key, big, NOW, NULL), OTA_EMALFORMED);
    snprintf(big, URLSIGN_TARGET_MAX, "/dl/x/y?d=a&e=1&s=%s&b=", sig);
    size_t n = strlen(big);
    memset(big + n, 'q', 300);
    big[n + 300] = '\0';
    assert_int_equal(urlsign_check(key, big, NOW, NULL), OTA_EMALFORMED);
    free(big);
    free(t);
}

static void test_from_parts(void **state)
{
    (void)state;
    char sig[URLSIGN_SIG_HEX + 1];
    assert_int_equal(urlsign_sign(key, &F, sig), OTA_OK);
    urlsign_request r;
    assert_int_equal(urlsign_request_from_parts("fw-123", "app_v2.bin", "b-77", "pk1.dev_01",
                                                "1800000000", sig, &r),
                     OTA_OK);
    assert_int_equal(urlsign_verify(key, &r, NOW), OTA_OK);
    assert_int_equal(urlsign_verify(key, &r, EXP), OTA_EEXPIRED);
    assert_int_equal(urlsign_request_from_parts("fw-123", "app_v2.bin", "b-77", "pk1.dev_02",
                                                "1800000000", sig, &r),
                     OTA_OK);
    assert_int_equal(urlsign_verify(key, &r, NOW), OTA_EBADSIG);
    assert_int_equal(urlsign_request_from_parts("fw-123", "app_v2.bin", "b-77", "pk1.dev_01",
                                                "1800000000", "abc", &r),
                     OTA_OK);
    assert_int_equal(urlsign_verify(key, &r, NOW), OTA_EBADSIG);
    assert_int_equal(urlsign_request_from_parts(NULL, "a", "b", "d", "1", sig, &r), OTA_EMALFORMED);
    assert_int_equal(urlsign_request_from_parts("f", "", "b", "d", "1", sig, &r), OTA_EMALFORMED);
    assert_int_equal(urlsign_request_from_parts("f", "a", "b", "d", "x1", sig, &r), OTA_EMALFORMED);
    assert_int_equal(urlsign_request_from_parts("f", "a", "b", "d", "1", "", &r), OTA_EMALFORMED);
    assert_int_equal(urlsign_request_from_parts("f", "a", "b", "d", NULL, sig, &r), OTA_EMALFORMED);
}

static void test_build_errors(void **state)
{
    (void)state;
    char *url = (char *)1;
    urlsign_fields f = F;
    f.firmware_id = "";
    assert_int_equal(urlsign_build(key, BASE, &f, &url), OTA_EINVAL);
    assert_null(url);
    f = F;
    f.batch_id = NULL;
    assert_int_equal(urlsign_build(key, BASE, &f, &url), OTA_EINVAL);
    f = F;
    f.expires_s = -1;
    assert_int_equal(urlsign_build(key, BASE, &f, &url), OTA_EINVAL);
    char longdev[URLSIGN_FIELD_MAX + 2];
    memset(longdev, 'd', sizeof longdev - 1);
    longdev[sizeof longdev - 1] = '\0';
    f = F;
    f.device = longdev;
    assert_int_equal(urlsign_build(key, BASE, &f, &url), OTA_EINVAL);
    longdev[URLSIGN_FIELD_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(urlsign_build(key, BASE, &f, &url), OTA_OK);
    char *t = strdup(url + strlen(BASE));
    free(url);
    assert_int_equal(urlsign_check(key, t, NOW, NULL), OTA_OK);
    free(t);
    assert_int_equal(urlsign_build(key, "", &F, &url), OTA_EINVAL);
    assert_int_equal(urlsign_build(key, "///", &F, &url), OTA_EINVAL);
    assert_int_equal(urlsign_build(key, NULL, &F, &url), OTA_EINVAL);
    char sig[URLSIGN_SIG_HEX + 1];
    f = F;
    f.device = "";
    assert_int_equal(urlsign_sign(key, &f, sig), OTA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_key),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_exact_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_escaping_round_trip),
        cmocka_unit_test(test_default_file_name),
        cmocka_unit_test(test_every_field_tampered),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_query_variants),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_from_parts),
        cmocka_unit_test(test_build_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
