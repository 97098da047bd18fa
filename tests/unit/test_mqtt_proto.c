/*
 * Unit tests of the server MQTT client's pure parts (server/mqtt/mqttc_proto.c): device
 * topic parsing with its bounds, presence payload parsing, the string set, and snapshot
 * assembly (parts in order, foreign nonces, missing parts, events during assembly).
 */
#include "mqttc_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_parse_topic(void **state)
{
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1], t[400];
    const char *sfx = NULL;
    (void)state;
    assert_int_equal(mqttc_parse_topic("/sys/pk1/dev-1/ota/progress", pk, id, &sfx), 0);
    assert_string_equal(pk, "pk1");
    assert_string_equal(id, "dev-1");
    assert_string_equal(sfx, "ota/progress");
    assert_int_equal(mqttc_parse_topic("/sys/pk1/d/ota/firmware/upgrade_reply", pk, id, &sfx), 0);
    assert_string_equal(sfx, "ota/firmware/upgrade_reply");
    const char *bad[] = {NULL,
                         "",
                         "/sys/",
                         "/sys/pk1",
                         "/sys/pk1/",
                         "/sys/pk1/d1",
                         "/sys/pk1/d1/",
                         "/sys//d1/x",
                         "/sys/pk1//x",
                         "sys/pk1/d1/x",
                         "/sys/p.k/d1/x",
                         "/sys/pk1/d+/x",
                         "/sys/pk1/d1/x/",
                         "/sys/pk1/d1/#",
                         "/sys/pk1/d1/a+b",
                         "/SYS/pk1/d1/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (mqttc_parse_topic(bad[i], pk, id, &sfx) != -1)
            fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
    }
    /* bounds: productKey 32, identifier 64, suffix 64 */
    char p32[33], i64[65], s64[65];
    memset(p32, 'p', 32), p32[32] = '\0';
    memset(i64, 'i', 64), i64[64] = '\0';
    memset(s64, 's', 64), s64[64] = '\0';
    snprintf(t, sizeof t, "/sys/%s/%s/%s", p32, i64, s64);
    assert_int_equal(mqttc_parse_topic(t, pk, id, &sfx), 0);
    assert_string_equal(pk, p32);
    assert_string_equal(id, i64);
    snprintf(t, sizeof t, "/sys/%sp/%s/x", p32, i64);
    assert_int_equal(mqttc_parse_topic(t, pk, id, &sfx), -1);
    snprintf(t, sizeof t, "/sys/%s/%si/x", p32, i64);
    assert_int_equal(mqttc_parse_topic(t, pk, id, &sfx), -1);
    snprintf(t, sizeof t, "/sys/%s/%s/%ss", p32, i64, s64);
    assert_int_equal(mqttc_parse_topic(t, pk, id, &sfx), -1);

    assert_int_equal(mqttc_split_cid("pk.id", pk, id), 0);
    assert_int_equal(mqttc_split_cid("pk.", pk, id), -1);
    assert_int_equal(mqttc_split_cid("pkid", pk, id), -1);
    assert_int_equal(mqttc_split_cid("pk.i.d", pk, id), -1);
}

static int parse(const char *s, mqttc_presence *p)
{
    return mqttc_presence_parse(s, strlen(s), p);
}

static void test_unroute(void **state)
{
    int part = 99;
    (void)state;
    const char *t = "/sys/pk/d/ota/progress";
    assert_ptr_equal(mqttc_unroute(t, &part), t);
    assert_int_equal(part, -1);
    assert_string_equal(mqttc_unroute("$ota/p/0/sys/pk/d/ota/progress", &part), t);
    assert_int_equal(part, 0);
    assert_string_equal(mqttc_unroute("$ota/p/63/clock/otad-a", &part), "/clock/otad-a");
    assert_int_equal(part, 63);
    static const char *const bad[] = {"$ota/p/64/sys/x", "$ota/p/07/sys/x", "$ota/p//sys/x",
                                      "$ota/p/1", "$ota/p/123/sys/x", "$ota/p/1x/sys"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(mqttc_unroute(bad[i], &part));
}

static void test_clock_parse(void **state)
{
    (void)state;
    assert_int_equal(mqttc_clock_parse("1764300000123", 13), 1764300000123LL);
    assert_int_equal(mqttc_clock_parse("0", 1), 0);
    assert_int_equal(mqttc_clock_parse("123", 2), 12); /* the length rules, not a NUL */
    assert_int_equal(mqttc_clock_parse("", 0), -1);
    assert_int_equal(mqttc_clock_parse(NULL, 3), -1);
    assert_int_equal(mqttc_clock_parse("-5", 2), -1);
    assert_int_equal(mqttc_clock_parse("12a", 3), -1);
    assert_int_equal(mqttc_clock_parse(" 12", 3), -1);
    assert_int_equal(mqttc_clock_parse("999999999999999999", 18), 999999999999999999LL);
    assert_int_equal(mqttc_clock_parse("9999999999999999999", 19), -1); /* would overflow */
}

static void test_presence_parse(void **state)
{
    mqttc_presence p;
    (void)state;
    assert_int_equal(parse("{\"e\":\"on\",\"c\":\"pk.d1\",\"t\":1795000000000}", &p), 0);
    assert_int_equal(p.kind, MQTTC_PRES_ON);
    assert_string_equal(p.pk, "pk");
    assert_string_equal(p.id, "d1");
    assert_true(p.t_ms == 1795000000000LL);
    mqttc_presence_clear(&p);
    assert_int_equal(parse("{\"e\":\"off\",\"c\":\"pk.d1\"}", &p), 0);
    assert_int_equal(p.kind, MQTTC_PRES_OFF);
    mqttc_presence_clear(&p);
    assert_int_equal(
        parse("{\"e\":\"snapshot\",\"nonce\":\"n\",\"part\":2,\"last\":true,\"clients\":[\"a.b\"]}",
              &p),
        0);
    assert_int_equal(p.kind, MQTTC_PRES_SNAPSHOT);
    assert_int_equal(p.part, 2);
    assert_true(p.last);
    assert_int_equal(json_array_size(p.clients), 1);
    mqttc_presence_clear(&p);
    const char *bad[] = {"",
                         "x",
                         "[]",
                         "{}",
                         "{\"e\":\"on\"}",
                         "{\"e\":\"on\",\"c\":\"nodot\"}",
                         "{\"e\":\"on\",\"c\":5}",
                         "{\"e\":\"maybe\",\"c\":\"a.b\"}",
                         "{\"e\":\"snapshot\",\"nonce\":\"n\",\"part\":-1,\"clients\":[]}",
                         "{\"e\":\"snapshot\",\"nonce\":\"n\",\"part\":0}",
                         "{\"e\":\"snapshot\",\"part\":0,\"clients\":[]}",
                         "{\"e\":\"on\",\"e\":\"off\",\"c\":\"a.b\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &p) != -1)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(mqttc_presence_parse(NULL, 0, &p), -1);
    mqttc_presence_clear(&p); /* clearing a failed parse is harmless */
}

static void test_set(void **state)
{
    mqttc_set s;
    char k[32];
    (void)state;
    mqttc_set_init(&s);
    assert_int_equal(mqttc_set_remove(&s, "x"), 0);
    assert_false(mqttc_set_has(&s, "x"));
    for (int i = 0; i < 10000; i++) {
        snprintf(k, sizeof k, "pk.d%d", i);
        assert_int_equal(mqttc_set_add(&s, k), 1);
    }
    assert_int_equal(mqttc_set_add(&s, "pk.d5"), 0);
    assert_int_equal(s.count, 10000);
    assert_int_equal(mqttc_set_remove(&s, "pk.d5"), 1);
    assert_false(mqttc_set_has(&s, "pk.d5"));
    assert_true(mqttc_set_has(&s, "pk.d6"));
    const char **list = malloc(s.count * sizeof *list);
    mqttc_set_list(&s, list);
    for (size_t i = 0; i < s.count; i++)
        assert_true(mqttc_set_has(&s, list[i]));
    free(list);
    mqttc_set_clear(&s);
    assert_int_equal(s.count, 0);
}

static mqttc_snap_result feed(mqttc_snap *s, const char *json)
{
    mqttc_presence p;
    assert_int_equal(parse(json, &p), 0);
    mqttc_snap_result r = mqttc_snap_part(s, &p);
    mqttc_presence_clear(&p);
    return r;
}

static void test_snapshot_assembly(void **state)
{
    mqttc_snap s;
    (void)state;
    mqttc_snap_init(&s);
    /* nothing pending: ignored */
    assert_int_equal(
        feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n1\",\"part\":0,\"last\":true,\"clients\":[]}"),
        MQTTC_SNAP_IGNORED);
    mqttc_snap_begin(&s, "n1", 0);
    /* an event before part 0 is already in the snapshot: not applied */
    mqttc_snap_event(&s, "pk.early", true);
    /* another client's snapshot */
    assert_int_equal(feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"other\",\"part\":0,\"last\":true,"
                              "\"clients\":[\"pk.x\"]}"),
                     MQTTC_SNAP_IGNORED);
    assert_int_equal(feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n1\",\"part\":0,\"last\":false,"
                              "\"clients\":[\"pk.a\",\"pk.b\",\"junk\",5]}"),
                     MQTTC_SNAP_PARTIAL);
    /* events during assembly update the set */
    mqttc_snap_event(&s, "pk.c", true);
    mqttc_snap_event(&s, "pk.a", false);
    assert_int_equal(feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n1\",\"part\":1,\"last\":true,"
                              "\"clients\":[\"pk.d\"]}"),
                     MQTTC_SNAP_COMPLETE);
    assert_int_equal(s.set.count, 3);
    assert_true(mqttc_set_has(&s.set, "pk.b"));
    assert_true(mqttc_set_has(&s.set, "pk.c"));
    assert_true(mqttc_set_has(&s.set, "pk.d"));
    assert_false(mqttc_set_has(&s.set, "pk.a"));
    assert_false(mqttc_set_has(&s.set, "pk.early"));
    mqttc_snap_end(&s);
    /* a duplicate of a finished snapshot is ignored */
    assert_int_equal(
        feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n1\",\"part\":1,\"last\":true,\"clients\":[]}"),
        MQTTC_SNAP_IGNORED);
    /* a missing part breaks it */
    mqttc_snap_begin(&s, "n2", 0);
    assert_int_equal(
        feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n2\",\"part\":1,\"last\":true,\"clients\":[]}"),
        MQTTC_SNAP_BROKEN);
    assert_int_equal(
        feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n2\",\"part\":0,\"last\":false,\"clients\":[]}"),
        MQTTC_SNAP_PARTIAL);
    assert_int_equal(
        feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n2\",\"part\":2,\"last\":true,\"clients\":[]}"),
        MQTTC_SNAP_BROKEN);
    /* part 0 again restarts cleanly */
    assert_int_equal(feed(&s, "{\"e\":\"snapshot\",\"nonce\":\"n2\",\"part\":0,\"last\":true,"
                              "\"clients\":[\"pk.z\"]}"),
                     MQTTC_SNAP_COMPLETE);
    assert_int_equal(s.set.count, 1);
    mqttc_snap_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_topic),
        cmocka_unit_test(test_presence_parse),
        cmocka_unit_test(test_unroute),
        cmocka_unit_test(test_clock_parse),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_snapshot_assembly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
