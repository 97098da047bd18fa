/*
 * Unit tests of server/core/devmsg: every accept and reject case of the four device
 * topics, the limits (payload, field lengths), the one-line reasons, and the exact
 * platform -> device payloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/devmsg.h"

#define PFX "/sys/pk_1/dev-01/"

static char reason[256];

static int parse(const char *topic, const char *payload, devmsg_msg *m)
{
    memset(reason, 'Z', sizeof reason);
    reason[sizeof reason - 1] = '\0';
    int rc = devmsg_parse(topic, payload, payload ? strlen(payload) : 0, m, reason, sizeof reason);
    if (rc == OTA_OK) {
        assert_string_equal(reason, "");
    } else {
        /* one printable line */
        assert_true(strlen(reason) > 0);
        for (const char *p = reason; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
    return rc;
}

/* Expects rc and prints the reason on mismatch. */
static void expect(const char *topic, const char *payload, int want)
{
    devmsg_msg m;
    int rc = parse(topic, payload, &m);
    if (rc != want)
        print_error("%s %s: got %s (%s), want %s\n", topic, payload, ota_err_name(rc), reason,
                    ota_err_name(want));
    assert_int_equal(rc, want);
}

static void test_topics(void **state)
{
    (void)state;
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    devmsg_kind k;
    assert_int_equal(devmsg_parse_topic(PFX "ota/progress", pk, id, &k), OTA_OK);
    assert_string_equal(pk, "pk_1");
    assert_string_equal(id, "dev-01");
    assert_int_equal(k, DEVMSG_PROGRESS);
    assert_int_equal(devmsg_parse_topic(PFX "ota/firmware/upgrade_reply", NULL, NULL, &k), 0);
    assert_int_equal(k, DEVMSG_UPGRADE_REPLY);
    assert_int_equal(devmsg_parse_topic(PFX "ota/version", NULL, NULL, &k), 0);
    assert_int_equal(k, DEVMSG_VERSION);
    assert_int_equal(devmsg_parse_topic(PFX "ota/firmware/get", NULL, NULL, &k), 0);
    assert_int_equal(k, DEVMSG_GET);
    char id64[80];
    memset(id64, 'x', 64);
    id64[64] = '\0';
    char t[256];
    snprintf(t, sizeof t, "/sys/%s/%s/ota/version", id64 + 32, id64); /* 32, 64 */
    assert_int_equal(devmsg_parse_topic(t, pk, id, NULL), OTA_OK);
    assert_string_equal(pk, id64 + 32);
    assert_string_equal(id, id64);

    const char *bad[] = {
        PFX "ota/firmware/upgrade",   /* platform -> device topic */
        PFX "ota/firmware/get_reply", /* platform -> device topic */
        PFX "ota/progress/",          /* trailing slash */
        PFX "ota/progres",
        PFX "OTA/progress",
        PFX "ota/progress/x",
        PFX,
        "sys/pk_1/dev-01/ota/progress",
        "/sys/pk_1/ota/progress", /* identifier missing: "ota" then "progress" */
        "/sys//dev-01/ota/progress",
        "/sys/pk_1//ota/progress",
        "/sys/pk.1/dev-01/ota/progress",
        "/sys/pk_1/dev 01/ota/progress",
        "/sys/pk_1/dév/ota/progress",
        "/sys/pk_1/dev+/ota/progress",
        "/sys/pk_1/#/ota/progress",
        "/sys/pk_1/dev-01",
        "/sys/",
        "",
        "/other/pk_1/dev-01/ota/progress",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (devmsg_parse_topic(bad[i], pk, id, &k) != OTA_ETOPIC)
            print_error("accepted %s\n", bad[i]);
        assert_int_equal(devmsg_parse_topic(bad[i], pk, id, &k), OTA_ETOPIC);
        expect(bad[i], "{\"msgId\":\"1\",\"version\":\"1.0\",\"code\":200}", OTA_ETOPIC);
    }
    assert_int_equal(devmsg_parse_topic(NULL, pk, id, &k), OTA_ETOPIC);
    snprintf(t, sizeof t, "/sys/%sx/a/ota/version", id64 + 32); /* 33 */
    assert_int_equal(devmsg_parse_topic(t, pk, id, &k), OTA_ETOPIC);
    snprintf(t, sizeof t, "/sys/a/%sx/ota/version", id64);
    assert_int_equal(devmsg_parse_topic(t, pk, id, &k), OTA_ETOPIC);
    char *longt = malloc(OTA_TOPIC_MAX + 50);
    memset(longt, 'a', OTA_TOPIC_MAX + 49);
    memcpy(longt, "/sys/a/b/", 9);
    longt[OTA_TOPIC_MAX + 49] = '\0';
    assert_int_equal(devmsg_parse_topic(longt, pk, id, &k), OTA_ETOPIC);
    free(longt);
}

static void test_reply(void **state)
{
    (void)state;
    devmsg_msg m;
    const char *t = PFX "ota/firmware/upgrade_reply";
    assert_int_equal(parse(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":200}", &m), OTA_OK);
    assert_int_equal(m.kind, DEVMSG_UPGRADE_REPLY);
    assert_string_equal(m.product_key, "pk_1");
    assert_string_equal(m.identifier, "dev-01");
    assert_string_equal(m.msg_id, "42");
    assert_int_equal(m.code, 200);
    assert_int_equal(parse(t,
                           "{\"code\":500,\"version\":\"1.0\",\"msgId\":\"a\",\"data\":[1],"
                           "\"extra\":{\"x\":1}}",
                           &m),
                     OTA_OK);
    assert_int_equal(m.code, 500);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":-2147483647}", OTA_OK);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\"}", OTA_EMISSING);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":\"200\"}", OTA_ETYPE);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":200.0}", OTA_ETYPE);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":null}", OTA_ETYPE);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":true}", OTA_ETYPE);
    expect(t, "{\"msgId\":\"42\",\"version\":\"1.0\",\"code\":99999999999}", OTA_EVALUE);
}

static void test_common_fields(void **state)
{
    (void)state;
    const char *t = PFX "ota/firmware/upgrade_reply";
    expect(t, "{\"version\":\"1.0\",\"code\":200}", OTA_EMISSING);
    expect(t, "{\"msgId\":42,\"version\":\"1.0\",\"code\":200}", OTA_ETYPE);
    expect(t, "{\"msgId\":null,\"version\":\"1.0\",\"code\":200}", OTA_ETYPE);
    expect(t, "{\"msgId\":\"\",\"version\":\"1.0\",\"code\":200}", OTA_EVALUE);
    expect(t, "{\"msgId\":\"a\\nb\",\"version\":\"1.0\",\"code\":200}", OTA_EVALUE);
    expect(t, "{\"msgId\":\"a\\u007fb\",\"version\":\"1.0\",\"code\":200}", OTA_EVALUE);
    expect(t, "{\"msgId\":\"a\\u0000b\",\"version\":\"1.0\",\"code\":200}", OTA_EJSON);
    expect(t, "{\"msgId\":\"名字\",\"version\":\"1.0\",\"code\":200}", OTA_OK);
    char buf[256];
    char id[80];
    memset(id, '7', 64);
    id[64] = '\0';
    snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":200}", id);
    devmsg_msg m;
    assert_int_equal(parse(t, buf, &m), OTA_OK);
    assert_string_equal(m.msg_id, id);
    snprintf(buf, sizeof buf, "{\"msgId\":\"%s8\",\"version\":\"1.0\",\"code\":200}", id);
    expect(t, buf, OTA_EVALUE);
    expect(t, "{\"msgId\":\"1\",\"code\":200}", OTA_EMISSING);
    expect(t, "{\"msgId\":\"1\",\"version\":1.0,\"code\":200}", OTA_ETYPE);
    expect(t, "{\"msgId\":\"1\",\"version\":\"2.0\",\"code\":200}", OTA_EVALUE);
    expect(t, "{\"msgId\":\"1\",\"version\":\"1.0 \",\"code\":200}", OTA_EVALUE);
    expect(t, "{\"msgId\":\"1\",\"version\":\"1\",\"code\":200}", OTA_EVALUE);
}

static void test_json_shape(void **state)
{
    (void)state;
    const char *t = PFX "ota/version";
    expect(t, "", OTA_EJSON);
    expect(t, NULL, OTA_EJSON);
    expect(t, "not json", OTA_EJSON);
    expect(t, "[1,2]", OTA_EJSON);
    expect(t, "\"str\"", OTA_EJSON);
    expect(t, "42", OTA_EJSON);
    expect(t, "null", OTA_EJSON);
    expect(t, "{\"msgId\":\"1\"", OTA_EJSON);
    expect(t, "{\"msgId\":\"1\",\"msgId\":\"2\",\"version\":\"1.0\",\"data\":{}}", OTA_EJSON);
    expect(t, "{\"msgId\":\"1\"} {}", OTA_EJSON);
    expect(t, "{\"msgId\":\"\xff\xfe\",\"version\":\"1.0\"}", OTA_EJSON); /* bad UTF-8 */
    /* payload bytes are taken by length: an embedded NUL is not JSON */
    devmsg_msg m;
    const char nul[] = "{\"msgId\":\"1\",\"version\":\"1.0\",\"code\":200}\0garbage";
    assert_int_equal(devmsg_parse(PFX "ota/firmware/upgrade_reply", nul, sizeof nul - 1, &m, reason,
                                  sizeof reason),
                     OTA_EJSON);
    /* only the first len bytes count */
    assert_int_equal(devmsg_parse(PFX "ota/firmware/upgrade_reply", nul, strlen(nul), &m, NULL, 0),
                     OTA_OK);
}

static void test_size_limit(void **state)
{
    (void)state;
    const char *body = "{\"msgId\":\"1\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":\"1\"}";
    char *p = malloc(OTA_PAYLOAD_MAX + 2);
    size_t n = strlen(body);
    memcpy(p, body, n);
    memset(p + n, ' ', OTA_PAYLOAD_MAX - n - 1);
    p[OTA_PAYLOAD_MAX - 1] = '}';
    p[OTA_PAYLOAD_MAX] = '\0';
    devmsg_msg m;
    assert_int_equal(
        devmsg_parse(PFX "ota/version", p, OTA_PAYLOAD_MAX, &m, reason, sizeof reason), OTA_OK);
    p[OTA_PAYLOAD_MAX - 1] = ' ';
    p[OTA_PAYLOAD_MAX] = '}';
    assert_int_equal(
        devmsg_parse(PFX "ota/version", p, OTA_PAYLOAD_MAX + 1, &m, reason, sizeof reason),
        OTA_ETOOBIG);
    assert_non_null(strstr(reason, "8193"));
    /* the topic is known before the size check, so the caller can log the device */
    assert_string_equal(m.identifier, "dev-01");
    free(p);
}

#define PROG(data) "{\"msgId\":\"9\",\"version\":\"1.0\",\"data\":" data "}"

static void test_progress(void **state)
{
    (void)state;
    const char *t = PFX "ota/progress";
    devmsg_msg m;
    assert_int_equal(parse(t, PROG("{\"step\":55,\"desc\":\"downloading\"}"), &m), OTA_OK);
    assert_int_equal(m.kind, DEVMSG_PROGRESS);
    assert_int_equal(m.step, 55);
    assert_int_equal(m.has_desc, 1);
    assert_string_equal(m.desc, "downloading");
    assert_int_equal(parse(t, PROG("{\"step\":-3}"), &m), OTA_OK);
    assert_int_equal(m.step, -3);
    assert_int_equal(m.has_desc, 0);
    assert_int_equal(parse(t, PROG("{\"step\":1,\"desc\":null}"), &m), OTA_OK);
    assert_int_equal(m.has_desc, 0);
    const int ok_steps[] = {1, 2, 99, 100, -1, -2, -3, -4};
    const int bad_steps[] = {0, 101, -5, -100, 1000, 2147483647};
    char buf[128];
    for (size_t i = 0; i < sizeof ok_steps / sizeof ok_steps[0]; i++) {
        snprintf(buf, sizeof buf, PROG("{\"step\":%d}"), ok_steps[i]);
        assert_int_equal(parse(t, buf, &m), OTA_OK);
        assert_int_equal(m.step, ok_steps[i]);
    }
    for (size_t i = 0; i < sizeof bad_steps / sizeof bad_steps[0]; i++) {
        snprintf(buf, sizeof buf, PROG("{\"step\":%d}"), bad_steps[i]);
        expect(t, buf, OTA_EVALUE);
    }
    expect(t, PROG("{\"step\":99999999999999999999}"), OTA_EJSON); /* jansson: too big */
    expect(t, PROG("{\"step\":50.0}"), OTA_ETYPE);
    expect(t, PROG("{\"step\":\"50\"}"), OTA_ETYPE);
    expect(t, PROG("{\"step\":null}"), OTA_ETYPE);
    expect(t, PROG("{\"desc\":\"x\"}"), OTA_EMISSING);
    expect(t, PROG("{}"), OTA_EMISSING);
    expect(t, PROG("[]"), OTA_ETYPE);
    expect(t, PROG("\"x\""), OTA_ETYPE);
    expect(t, PROG("null"), OTA_ETYPE);
    expect(t, "{\"msgId\":\"9\",\"version\":\"1.0\"}", OTA_EMISSING);
    expect(t, "{\"msgId\":\"9\",\"version\":\"1.0\",\"step\":5}", OTA_EMISSING);
    expect(t, PROG("{\"step\":5,\"desc\":5}"), OTA_ETYPE);
    expect(t, PROG("{\"step\":5,\"desc\":[\"a\"]}"), OTA_ETYPE);
    expect(t, PROG("{\"step\":5,\"desc\":\"\",\"extra\":1}"), OTA_OK);
    /* desc: 256 characters, counted as code points */
    char big[2048];
    char desc[1200];
    size_t w = 0;
    for (int i = 0; i < 256; i++) {
        memcpy(desc + w, "升", 3);
        w += 3;
    }
    desc[w] = '\0';
    snprintf(big, sizeof big, PROG("{\"step\":5,\"desc\":\"%s\"}"), desc);
    assert_int_equal(parse(t, big, &m), OTA_OK);
    assert_string_equal(m.desc, desc);
    memcpy(desc + w, "a", 2);
    snprintf(big, sizeof big, PROG("{\"step\":5,\"desc\":\"%s\"}"), desc);
    expect(t, big, OTA_EVALUE);
    memset(desc, 'a', 256);
    desc[256] = '\0';
    snprintf(big, sizeof big, PROG("{\"step\":5,\"desc\":\"%s\"}"), desc);
    expect(t, big, OTA_OK);
    memset(desc, 'a', 257);
    desc[257] = '\0';
    snprintf(big, sizeof big, PROG("{\"step\":5,\"desc\":\"%s\"}"), desc);
    expect(t, big, OTA_EVALUE);
    /* 4-byte characters fit the byte buffer too */
    w = 0;
    for (int i = 0; i < 256; i++) {
        memcpy(desc + w, "\xF0\x9F\x98\x80", 4);
        w += 4;
    }
    desc[w] = '\0';
    snprintf(big, sizeof big, PROG("{\"step\":5,\"desc\":\"%s\"}"), desc);
    assert_int_equal(parse(t, big, &m), OTA_OK);
    assert_int_equal(strlen(m.desc), 1024);
}

#define VER(data) "{\"msgId\":\"v1\",\"version\":\"1.0\",\"data\":" data "}"

static void test_version(void **state)
{
    (void)state;
    const char *t = PFX "ota/version";
    devmsg_msg m;
    assert_int_equal(parse(t, VER("{\"firmwareVersion\":\"V1.2.3-rc_1\"}"), &m), OTA_OK);
    assert_int_equal(m.kind, DEVMSG_VERSION);
    assert_int_equal(m.has_version, 1);
    assert_string_equal(m.firmware_version, "V1.2.3-rc_1");
    expect(t, VER("{}"), OTA_EMISSING);
    expect(t, "{\"msgId\":\"v1\",\"version\":\"1.0\"}", OTA_EMISSING);
    expect(t, VER("[]"), OTA_ETYPE);
    expect(t, VER("{\"firmwareVersion\":1.2}"), OTA_ETYPE);
    expect(t, VER("{\"firmwareVersion\":null}"), OTA_ETYPE);
    expect(t, VER("{\"firmwareVersion\":\"\"}"), OTA_EVALUE);
    expect(t, VER("{\"firmwareVersion\":\"1 2\"}"), OTA_EVALUE);
    expect(t, VER("{\"firmwareVersion\":\"1/2\"}"), OTA_EVALUE);
    expect(t, VER("{\"firmwareVersion\":\"版本1\"}"), OTA_EVALUE);
    expect(t, VER("{\"firmwareVersion\":\"1+2\"}"), OTA_EVALUE);
    char v[128], buf[256];
    memset(v, '9', 100);
    v[100] = '\0';
    snprintf(buf, sizeof buf, VER("{\"firmwareVersion\":\"%s\"}"), v);
    assert_int_equal(parse(t, buf, &m), OTA_OK);
    assert_string_equal(m.firmware_version, v);
    snprintf(buf, sizeof buf, VER("{\"firmwareVersion\":\"%s9\"}"), v);
    expect(t, buf, OTA_EVALUE);
}

static void test_get(void **state)
{
    (void)state;
    const char *t = PFX "ota/firmware/get";
    devmsg_msg m;
    assert_int_equal(parse(t, VER("{}"), &m), OTA_OK);
    assert_int_equal(m.kind, DEVMSG_GET);
    assert_int_equal(m.has_version, 0);
    assert_int_equal(parse(t, "{\"msgId\":\"v1\",\"version\":\"1.0\"}", &m), OTA_OK);
    assert_int_equal(m.has_version, 0);
    assert_int_equal(parse(t, VER("null"), &m), OTA_OK);
    assert_int_equal(parse(t, VER("{\"firmwareVersion\":null}"), &m), OTA_OK);
    assert_int_equal(m.has_version, 0);
    assert_int_equal(parse(t, VER("{\"firmwareVersion\":\"2.0\"}"), &m), OTA_OK);
    assert_int_equal(m.has_version, 1);
    assert_string_equal(m.firmware_version, "2.0");
    expect(t, VER("[]"), OTA_ETYPE);
    expect(t, VER("\"2.0\""), OTA_ETYPE);
    expect(t, VER("{\"firmwareVersion\":2}"), OTA_ETYPE);
    expect(t, VER("{\"firmwareVersion\":\"\"}"), OTA_EVALUE);
    expect(t, VER("{\"firmwareVersion\":\"a b\"}"), OTA_EVALUE);
    expect(t, "{\"version\":\"1.0\",\"data\":{}}", OTA_EMISSING);
}

static void test_reason_buffer(void **state)
{
    (void)state;
    devmsg_msg m;
    char small[8];
    const char *p = PROG("{\"step\":0}");
    assert_int_equal(devmsg_parse(PFX "ota/progress", p, strlen(p), &m, small, sizeof small),
                     OTA_EVALUE);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(devmsg_parse(PFX "ota/progress", p, strlen(p), &m, NULL, 0), OTA_EVALUE);
    /* jansson's error text quoting payload bytes is made printable */
    const char *junk = "{\"a\":\x01\x02\xff}";
    assert_int_equal(
        devmsg_parse(PFX "ota/progress", junk, strlen(junk), &m, reason, sizeof reason), OTA_EJSON);
    for (const char *q = reason; *q; q++)
        assert_true(*q >= 0x20 && *q < 0x7f);
    /* the reason names the topic and the field */
    assert_int_equal(parse(PFX "ota/progress", PROG("{\"step\":0}"), &m), OTA_EVALUE);
    assert_non_null(strstr(reason, "ota/progress"));
    assert_non_null(strstr(reason, "data.step"));
}

static const devmsg_upgrade U = {
    "standard",
    1048576,
    "2.0.1",
    "http://127.0.0.1:8080/dl/f1/app.bin?b=b1&d=pk.id&e=1&s=ab",
    "0123456789abcdef0123456789abcdef",
    "aa00000000000000000000000000000000000000000000000000000000000000",
    "b1",
    NULL,
    NULL,
    NULL,
};

static void test_build_upgrade(void **state)
{
    (void)state;
    char *s = devmsg_build_upgrade("100", &U);
    assert_non_null(s);
    assert_string_equal(
        s, "{\"msgId\":\"100\",\"version\":\"1.0\",\"data\":{\"policy\":\"standard\",\"size\":"
           "1048576,\"firmwareVersion\":\"2.0.1\",\"url\":\"http://127.0.0.1:8080/dl/f1/"
           "app.bin?b=b1&d=pk.id&e=1&s=ab\",\"sign\":\"0123456789abcdef0123456789abcdef\","
           "\"signMethod\":\"Md5\",\"sha256\":"
           "\"aa00000000000000000000000000000000000000000000000000000000000000\",\"batchId\":"
           "\"b1\"}}");
    free(s);
    devmsg_upgrade u = U;
    u.policy = "silent";
    u.size = 0;
    s = devmsg_build_upgrade("m", &u);
    assert_non_null(strstr(s, "\"policy\":\"silent\",\"size\":0,"));
    free(s);
    u.size = 104857600;
    s = devmsg_build_upgrade("m", &u);
    assert_non_null(strstr(s, "\"size\":104857600,"));
    free(s);
    /* refused inputs */
    assert_null(devmsg_build_upgrade(NULL, &U));
    assert_null(devmsg_build_upgrade("", &U));
    assert_null(devmsg_build_upgrade("m", NULL));
    const size_t fields[] = {
        offsetof(devmsg_upgrade, policy), offsetof(devmsg_upgrade, firmware_version),
        offsetof(devmsg_upgrade, url),    offsetof(devmsg_upgrade, md5),
        offsetof(devmsg_upgrade, sha256), offsetof(devmsg_upgrade, batch_id)};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        u = U;
        *(const char **)((char *)&u + fields[i]) = "";
        assert_null(devmsg_build_upgrade("m", &u));
        u = U;
        *(const char **)((char *)&u + fields[i]) = NULL;
        assert_null(devmsg_build_upgrade("m", &u));
    }
    u = U;
    u.size = -1;
    assert_null(devmsg_build_upgrade("m", &u));
    u = U;
    u.url = "http://x/\xff"; /* not UTF-8 */
    assert_null(devmsg_build_upgrade("m", &u));
    /* a string that needs escaping */
    u = U;
    u.batch_id = "a\"b\\c";
    s = devmsg_build_upgrade("m", &u);
    assert_non_null(strstr(s, "\"batchId\":\"a\\\"b\\\\c\""));
    free(s);
}

/* A signed firmware's offer adds manifest, signature, keyId and signAlgorithm after the
 * unsigned fields; a half-signed offer is refused. */
static void test_build_upgrade_signed(void **state)
{
    (void)state;
    devmsg_upgrade u = U;
    u.manifest = "{\"productKey\":\"pk\"}";
    u.signature = "c2ln";
    u.key_id = "0123456789abcdef";
    char *s = devmsg_build_upgrade("7", &u);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"batchId\":\"b1\",\"manifest\":\"{\\\"productKey\\\":\\\"pk\\\"}\","
                              "\"signature\":\"c2ln\",\"keyId\":\"0123456789abcdef\","
                              "\"signAlgorithm\":\"Ed25519\"}"));
    free(s);
    s = devmsg_build_get_reply("8", &u);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"signAlgorithm\":\"Ed25519\""));
    free(s);
    u.key_id = "";
    assert_null(devmsg_build_upgrade("7", &u));
    u.key_id = "0123456789abcdef";
    u.manifest = NULL;
    assert_null(devmsg_build_upgrade("7", &u));
    /* unsigned: none of the four */
    s = devmsg_build_upgrade("7", &U);
    assert_null(strstr(s, "manifest"));
    assert_null(strstr(s, "signAlgorithm"));
    free(s);
}

static void test_build_get_reply(void **state)
{
    (void)state;
    char *s = devmsg_build_get_reply("g1", &U);
    assert_non_null(s);
    assert_memory_equal(
        s, "{\"msgId\":\"g1\",\"version\":\"1.0\",\"code\":200,\"data\":{\"policy\":",
        strlen("{\"msgId\":\"g1\",\"version\":\"1.0\",\"code\":200,\"data\":{\"policy\":"));
    assert_non_null(strstr(s, "\"signMethod\":\"Md5\""));
    /* the data object is the same as the push's */
    char *p = devmsg_build_upgrade("g1", &U);
    assert_string_equal(strstr(s, "\"data\":"), strstr(p, "\"data\":"));
    free(p);
    free(s);
    assert_null(devmsg_build_get_reply("", &U));
    assert_null(devmsg_build_get_reply("g", NULL));

    s = devmsg_build_get_reply_404("g2", "3.1");
    assert_string_equal(s, "{\"msgId\":\"g2\",\"version\":\"1.0\",\"code\":404,\"message\":"
                           "\"FirmwareVersion 3.1 not existed\"}");
    free(s);
    s = devmsg_build_get_reply_404("g3", NULL);
    assert_string_equal(s, "{\"msgId\":\"g3\",\"version\":\"1.0\",\"code\":404,\"message\":"
                           "\"No pending upgrade\"}");
    free(s);
    s = devmsg_build_get_reply_404("g3", "");
    assert_non_null(strstr(s, "No pending upgrade"));
    free(s);
    assert_null(devmsg_build_get_reply_404(NULL, "1"));
}

static void test_topic_and_names(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(devmsg_topic(buf, sizeof buf, "pk", "id", OTA_TOPIC_UPGRADE), 0);
    assert_string_equal(buf, "/sys/pk/id/ota/firmware/upgrade");
    assert_int_equal(devmsg_topic(buf, 10, "pk", "id", OTA_TOPIC_UPGRADE), -1);
    assert_int_equal(devmsg_topic(buf, sizeof buf, "pk", "id", OTA_TOPIC_GET_REPLY), 0);
    assert_string_equal(buf, "/sys/pk/id/ota/firmware/get_reply");
    assert_string_equal(devmsg_kind_name(DEVMSG_PROGRESS), "ota/progress");
    assert_string_equal(devmsg_kind_name(DEVMSG_UPGRADE_REPLY), "ota/firmware/upgrade_reply");
    assert_string_equal(devmsg_kind_name(DEVMSG_VERSION), "ota/version");
    assert_string_equal(devmsg_kind_name(DEVMSG_GET), "ota/firmware/get");
    assert_string_equal(devmsg_kind_name((devmsg_kind)0), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics),          cmocka_unit_test(test_reply),
        cmocka_unit_test(test_common_fields),   cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_size_limit),      cmocka_unit_test(test_progress),
        cmocka_unit_test(test_version),         cmocka_unit_test(test_get),
        cmocka_unit_test(test_reason_buffer),   cmocka_unit_test(test_build_upgrade),
        cmocka_unit_test(test_build_upgrade_signed),
        cmocka_unit_test(test_build_get_reply), cmocka_unit_test(test_topic_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
