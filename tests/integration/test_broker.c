/*
 * Integration tests of the broker as the project configures it: the real mosquitto with
 * scripts/broker-conf.sh's configuration and the ota_auth plugin, on a free port, with
 * scripted MQTT clients (broker_helpers). Covers authentication, the per-device ACL, the
 * internal topics, presence events (connect, disconnect, drop, takeover) and the sync
 * snapshot, with the part size lowered to 3 so a few devices make several parts.
 */
#include "broker_helpers.h"
#include "ota_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P "ota/internal/presence"

static oth_env env;

static int group_setup(void **state)
{
    (void)state;
    setenv("OTA_BROKER_PART_SIZE", "3", 1);
    if (oth_env_init(&env) != 0 || oth_broker_start(&env) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    oth_env_cleanup(&env);
    return 0;
}

/* An observer with the server account, subscribed to presence and device topics. */
static tclient *observer(const char *cid)
{
    tclient *s = tc_server(env.mqtt_port, env.key, cid);
    assert_non_null(s);
    assert_int_equal(tc_connack(s), 0);
    assert_int_equal(tc_subscribe(s, P), 1);
    assert_int_equal(tc_subscribe(s, "/sys/+/+/ota/#"), 1);
    return s;
}

static void test_wrong_secret_refused(void **state)
{
    (void)state;
    tclient *c =
        tc_connect(env.mqtt_port, "pk1.dev1", "pk1.dev1", "00000000000000000000000000000000", true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* the right secret of another device */
    char other[40];
    oth_device_secret(&env, "pk1", "dev2", other);
    c = tc_connect(env.mqtt_port, "pk1.dev1", "pk1.dev1", other, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* no password at all */
    c = tc_connect(env.mqtt_port, "pk1.dev1", "pk1.dev1", NULL, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* the server account with a wrong password */
    c = tc_connect(env.mqtt_port, "otad", "otad", "00000000000000000000000000000000", true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* the right secret works */
    c = tc_device(env.mqtt_port, env.key, "pk1", "dev1");
    assert_int_equal(tc_connack(c), 0);
    tc_close(c);
}

static void test_unknown_username_refused(void **state)
{
    (void)state;
    const char *names[] = {"nobody",
                           "pk1.",
                           ".dev1",
                           "pk1.dev/1",
                           "pk1.dev+1",
                           "a.b.c",
                           "0123456789012345678901234567890123.d",
                           ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tclient *c = tc_connect(env.mqtt_port, names[i][0] ? names[i] : "anon", names[i],
                                "00000000000000000000000000000000", true);
        assert_int_equal(tc_connack(c), 5);
        tc_close(c);
    }
    /* anonymous */
    tclient *c = tc_connect(env.mqtt_port, "anon1", NULL, NULL, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* a 64-char identifier is fine, 65 is not */
    char id[80];
    memset(id, 'x', 64);
    id[64] = '\0';
    c = tc_device(env.mqtt_port, env.key, "pk1", id);
    assert_int_equal(tc_connack(c), 0);
    tc_close(c);
}

static void test_username_must_equal_client_id(void **state)
{
    (void)state;
    char secret[40];
    oth_device_secret(&env, "pk1", "dev1", secret);
    tclient *c = tc_connect(env.mqtt_port, "pk1.dev2", "pk1.dev1", secret, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    c = tc_connect(env.mqtt_port, "somethingelse", "pk1.dev1", secret, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* the server may use "otad-<suffix>" (several instances), nothing else */
    c = tc_server(env.mqtt_port, env.key, "otad-2");
    assert_int_equal(tc_connack(c), 0);
    tc_close(c);
    c = tc_server(env.mqtt_port, env.key, "pk1.dev1");
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
}

static void test_own_topics_work(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    tclient *d = tc_device(env.mqtt_port, env.key, "pk1", "own1");
    assert_int_equal(tc_connack(d), 0);
    assert_int_equal(tc_subscribe(d, "/sys/pk1/own1/ota/firmware/upgrade"), 1);
    assert_int_equal(tc_subscribe(d, "/sys/pk1/own1/#"), 1);
    /* server -> device */
    assert_int_equal(tc_publish(s, "/sys/pk1/own1/ota/firmware/upgrade", "{\"msgId\":\"1\"}"), 0);
    assert_true(tc_wait_msg(d, 0, "/sys/pk1/own1/ota/firmware/upgrade", "\"1\"", 2000) >= 0);
    /* device -> server */
    assert_int_equal(tc_publish(d, "/sys/pk1/own1/ota/progress", "{\"step\":5}"), 0);
    assert_true(tc_wait_msg(s, 0, "/sys/pk1/own1/ota/progress", "\"step\":5", 2000) >= 0);
    assert_int_equal(tc_publish(d, "/sys/pk1/own1/ota/version", "{\"v\":1}"), 0);
    assert_true(tc_wait_msg(s, 0, "/sys/pk1/own1/ota/version", NULL, 2000) >= 0);
    tc_close(d);
    tc_close(s);
}

static void test_cross_device_subscribe_refused(void **state)
{
    (void)state;
    tclient *d = tc_device(env.mqtt_port, env.key, "pk1", "sub1");
    assert_int_equal(tc_connack(d), 0);
    const char *bad[] = {"/sys/pk1/sub2/#",
                         "/sys/pk1/+/ota/firmware/upgrade",
                         "/sys/+/+/#",
                         "#",
                         "/sys/pk1/sub1",
                         "/sys/pk2/sub1/#",
                         "$share/g//sys/pk1/sub1/#",
                         "/sys/pk1/sub10/#",
                         "$SYS/#"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int g = tc_subscribe(d, bad[i]);
        if (g != 0x80)
            fail_msg("subscription %s granted %d", bad[i], g);
    }
    /* the connection is still usable */
    assert_int_equal(tc_subscribe(d, "/sys/pk1/sub1/#"), 1);
    tc_close(d);
}

static void test_cross_device_publish_dropped(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    tclient *a = tc_device(env.mqtt_port, env.key, "pk1", "pa");
    tclient *b = tc_device(env.mqtt_port, env.key, "pk1", "pb");
    assert_int_equal(tc_subscribe(b, "/sys/pk1/pb/#"), 1);
    /* a writes into b's namespace and into the server's topics of b */
    assert_int_equal(tc_publish(a, "/sys/pk1/pb/ota/firmware/upgrade", "{\"forged\":1}"), 0);
    assert_int_equal(tc_publish(a, "/sys/pk1/pb/ota/version", "{\"forged\":2}"), 0);
    assert_int_equal(tc_publish(a, "/sys/pk1/pa/ota/version", "{\"marker\":3}"), 0);
    /* a's own message arrives at the server; by then the forged ones would have too */
    assert_true(tc_wait_msg(s, 0, "/sys/pk1/pa/ota/version", "marker", 2000) >= 0);
    tc_sleep_ms(300);
    assert_int_equal(tc_count_matching(b, 0, NULL, "forged"), 0);
    assert_int_equal(tc_count_matching(s, 0, NULL, "forged"), 0);
    tc_close(a);
    tc_close(b);
    tc_close(s);
}

static void test_internal_topics_protected(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    tclient *d = tc_device(env.mqtt_port, env.key, "pk1", "int1");
    assert_true(tc_wait_msg(s, 0, P, "pk1.int1", 2000) >= 0);
    assert_int_equal(tc_subscribe(d, "ota/internal/#"), 0x80);
    assert_int_equal(tc_subscribe(d, P), 0x80);
    int from = tc_count(s);
    assert_int_equal(tc_publish(d, P, "{\"e\":\"off\",\"c\":\"pk1.other\",\"t\":1}"), 0);
    assert_int_equal(tc_publish(d, "ota/internal/sync", "{\"nonce\":\"devicesync\"}"), 0);
    assert_int_equal(tc_publish(d, "/sys/pk1/int1/ota/version", "{\"marker\":1}"), 0);
    assert_true(tc_wait_msg(s, from, "/sys/pk1/int1/ota/version", "marker", 2000) >= 0);
    tc_sleep_ms(300);
    assert_int_equal(tc_count_matching(s, from, P, "pk1.other"), 0);
    assert_int_equal(tc_count_matching(s, from, P, "devicesync"), 0);
    tc_close(d);
    tc_close(s);
}

static void test_presence_on_off(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    int from = tc_count(s);
    tclient *d = tc_device(env.mqtt_port, env.key, "pk1", "pres1");
    assert_int_equal(tc_connack(d), 0);
    int i = tc_wait_msg(s, from, P, "\"c\":\"pk1.pres1\"", 1000);
    assert_true(i >= 0);
    assert_non_null(strstr(tc_get(s, i)->payload, "\"e\":\"on\""));
    json_t *j = json_loads(tc_get(s, i)->payload, 0, NULL);
    assert_non_null(j);
    assert_true(json_integer_value(json_object_get(j, "t")) > 1700000000000LL);
    json_decref(j);
    tc_close(d);
    assert_true(tc_wait_msg(s, i + 1, P, "{\"e\":\"off\",\"c\":\"pk1.pres1\"", 1000) >= 0);

    /* a device that vanishes without DISCONNECT */
    from = tc_count(s);
    d = tc_device(env.mqtt_port, env.key, "pk1", "pres2");
    assert_true(tc_wait_msg(s, from, P, "{\"e\":\"on\",\"c\":\"pk1.pres2\"", 1000) >= 0);
    tc_drop(d);
    assert_true(tc_wait_msg(s, from, P, "{\"e\":\"off\",\"c\":\"pk1.pres2\"", 1000) >= 0);

    /* refused logins make no presence event */
    from = tc_count(s);
    d = tc_connect(env.mqtt_port, "pk1.pres3", "pk1.pres3", "00000000000000000000000000000000",
                   true);
    tc_close(d);
    d = tc_device(env.mqtt_port, env.key, "pk1", "pres4"); /* a marker */
    assert_true(tc_wait_msg(s, from, P, "pk1.pres4", 3000) >= 0);
    assert_int_equal(tc_count_matching(s, from, P, "pk1.pres3"), 0);
    tc_close(d);
    tc_close(s);
}

static void test_presence_takeover(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    int from = tc_count(s);
    tclient *a = tc_device(env.mqtt_port, env.key, "pk1", "take1");
    assert_true(tc_wait_msg(s, from, P, "pk1.take1", 3000) >= 0);
    tclient *b = tc_device(env.mqtt_port, env.key, "pk1", "take1"); /* same client id */
    assert_int_equal(tc_connack(b), 0);
    tc_sleep_ms(500);
    /* on(a), off(a), on(b): exactly one off, and the last word is "on" */
    assert_int_equal(tc_count_matching(s, from, P, "{\"e\":\"on\",\"c\":\"pk1.take1\""), 2);
    assert_int_equal(tc_count_matching(s, from, P, "{\"e\":\"off\",\"c\":\"pk1.take1\""), 1);
    int last = -1;
    for (int i = from; i < tc_count(s); i++) {
        if (strcmp(tc_get(s, i)->topic, P) == 0 && strstr(tc_get(s, i)->payload, "pk1.take1"))
            last = i;
    }
    assert_non_null(strstr(tc_get(s, last)->payload, "\"e\":\"on\""));
    /* the snapshot agrees */
    int before = tc_count(s);
    assert_int_equal(tc_publish(s, "ota/internal/sync", "{\"nonce\":\"take\"}"), 0);
    int k = tc_wait_msg(s, before, P, "\"last\":true", 2000);
    assert_true(k >= 0);
    assert_int_equal(tc_count_matching(s, before, P, "\"pk1.take1\""), 1);
    /* the old client's library may reconnect; stop it first, then b leaves */
    tc_drop(a);
    tc_sleep_ms(200);
    from = tc_count(s);
    tc_close(b);
    assert_true(tc_wait_msg(s, from, P, "{\"e\":\"off\",\"c\":\"pk1.take1\"", 3000) >= 0);
    tc_close(s);
}

/* Sends a sync and gathers the parts: returns the number of parts, fills ids. */
static int collect_snapshot(tclient *s, const char *nonce, json_t *ids)
{
    char payload[128], match[128];
    int from = tc_count(s), parts = 0;
    snprintf(payload, sizeof payload, "{\"nonce\":\"%s\"}", nonce);
    snprintf(match, sizeof match, "\"nonce\":\"%s\"", nonce);
    assert_int_equal(tc_publish(s, "ota/internal/sync", payload), 0);
    assert_true(tc_wait_msg(s, from, P, "\"last\":true", 3000) >= 0);
    for (int i = from; i < tc_count(s); i++) {
        const tc_msg *m = tc_get(s, i);
        if (strcmp(m->topic, P) != 0 || !strstr(m->payload, match))
            continue;
        json_t *j = json_loads(m->payload, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "e")), "snapshot");
        assert_int_equal(json_integer_value(json_object_get(j, "part")), parts);
        json_t *c = json_object_get(j, "clients");
        assert_true(json_array_size(c) <= 3);
        size_t idx;
        json_t *v;
        json_array_foreach(c, idx, v) json_array_append(ids, v);
        parts++;
        int last = json_is_true(json_object_get(j, "last"));
        json_decref(j);
        if (last)
            break;
    }
    return parts;
}

static void test_sync_snapshot(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    json_t *ids = json_array();
    /* nobody online (earlier tests closed theirs): one empty part */
    tc_sleep_ms(200);
    assert_int_equal(collect_snapshot(s, "n0", ids), 1);
    assert_int_equal(json_array_size(ids), 0);

    tclient *d[10];
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "snap%d", i);
        d[i] = tc_device(env.mqtt_port, env.key, "pk9", id);
        assert_int_equal(tc_connack(d[i]), 0);
    }
    json_array_clear(ids);
    assert_int_equal(collect_snapshot(s, "n1", ids), 4); /* 3+3+3+1 */
    assert_int_equal(json_array_size(ids), 10);
    for (int i = 0; i < 10; i++) {
        char cid[32];
        int found = 0;
        size_t idx;
        json_t *v;
        snprintf(cid, sizeof cid, "pk9.snap%d", i);
        json_array_foreach(ids, idx, v) found += strcmp(json_string_value(v), cid) == 0;
        assert_int_equal(found, 1);
    }
    /* after two leave */
    tc_close(d[0]);
    tc_drop(d[1]);
    tc_sleep_ms(300);
    json_array_clear(ids);
    assert_int_equal(collect_snapshot(s, "n2", ids), 3);
    assert_int_equal(json_array_size(ids), 8);
    /* a malformed request is ignored, the broker lives on */
    assert_int_equal(tc_publish(s, "ota/internal/sync", "{\"nonce\":\"bad nonce\\\"\"}"), 0);
    assert_int_equal(tc_publish(s, "ota/internal/sync", "not json"), 0);
    json_array_clear(ids);
    assert_int_equal(collect_snapshot(s, "n3", ids), 3);
    for (int i = 2; i < 10; i++)
        tc_close(d[i]);
    json_decref(ids);
    tc_close(s);
}

/* SIGHUP makes Mosquitto re-run basic auth for every session: presence must not move. */
static void test_reload_keeps_presence(void **state)
{
    (void)state;
    tclient *s = observer("otad");
    tclient *a = tc_device(env.mqtt_port, env.key, "pk8", "r1");
    tclient *b = tc_device(env.mqtt_port, env.key, "pk8", "r2");
    assert_true(tc_wait_msg(s, 0, P, "pk8.r2", 3000) >= 0);
    tc_close(b); /* r2 leaves: its session is gone (clean), r1 stays */
    assert_true(tc_wait_msg(s, 0, P, "{\"e\":\"off\",\"c\":\"pk8.r2\"", 3000) >= 0);
    int from = tc_count(s);
    assert_int_equal(kill(env.broker_pid, SIGHUP), 0);
    tc_sleep_ms(500);
    assert_int_equal(tc_count_matching(s, from, P, "\"e\":\"o"), 0);
    json_t *ids = json_array();
    collect_snapshot(s, "afterhup", ids);
    assert_int_equal(json_array_size(ids), 1);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "pk8.r1");
    json_decref(ids);
    /* logins after the reload count again */
    b = tc_device(env.mqtt_port, env.key, "pk8", "r3");
    assert_int_equal(tc_connack(b), 0);
    assert_true(tc_wait_msg(s, from, P, "{\"e\":\"on\",\"c\":\"pk8.r3\"", 3000) >= 0);
    tc_close(b);
    tc_close(a);
    assert_true(tc_wait_msg(s, from, P, "{\"e\":\"off\",\"c\":\"pk8.r1\"", 3000) >= 0);
    tc_close(s);
}

/* The plugin must never crash the broker: oversize, odd and format-string inputs. */
static void test_hostile_logins(void **state)
{
    (void)state;
    static char big[60001];
    char secret[40];
    memset(big, 'a', sizeof big - 1);
    big[30] = '.';
    tclient *c = tc_connect(env.mqtt_port, big, big, "x", true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    c = tc_connect(env.mqtt_port, "pk1.h1", "pk1.h1", big, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    c = tc_connect(env.mqtt_port, "%s%n%x.%s", "%s%n%x.%s", "%s%n", true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* empty client id: the broker makes one up, which is not the username */
    oth_device_secret(&env, "pk1", "h2", secret);
    c = tc_connect(env.mqtt_port, NULL, "pk1.h2", secret, true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* empty username */
    c = tc_connect(env.mqtt_port, "pk1.h3", "", "", true);
    assert_int_equal(tc_connack(c), 5);
    tc_close(c);
    /* still alive and working */
    c = tc_device(env.mqtt_port, env.key, "pk1", "h4");
    assert_int_equal(tc_connack(c), 0);
    assert_int_equal(tc_subscribe(c, "/sys/pk1/h4/#"), 1);
    tc_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_secret_refused),
        cmocka_unit_test(test_unknown_username_refused),
        cmocka_unit_test(test_username_must_equal_client_id),
        cmocka_unit_test(test_own_topics_work),
        cmocka_unit_test(test_cross_device_subscribe_refused),
        cmocka_unit_test(test_cross_device_publish_dropped),
        cmocka_unit_test(test_internal_topics_protected),
        cmocka_unit_test(test_presence_on_off),
        cmocka_unit_test(test_presence_takeover),
        cmocka_unit_test(test_sync_snapshot),
        cmocka_unit_test(test_hostile_logins),
        cmocka_unit_test(test_reload_keeps_presence),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
