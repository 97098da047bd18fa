/*
 * Integration tests of the broker as the project configures it: the real mosquitto with
 * scripts/broker-conf.sh's configuration and the ota_auth plugin, on a free port, with
 * scripted MQTT clients (scripted_device). Covers authentication, the per-device ACL, the
 * internal topics, presence events (connect, disconnect, drop, takeover) and the sync
 * snapshot, with the part size lowered to 3 so a few devices make several parts.
 */
#include "scripted_device.h"
#include "ota_crypto.h"
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

/* A login with these credentials (each may be NULL) is refused: CONNACK 5. */
static void assert_refused(const char *client_id, const char *user, const char *pass)
{
    sdev *c = sdev_new_client(env.mqtt_port, client_id, user, pass);
    int rc = sdev_login(c);
    sdev_free(c);
    if (rc != 5)
        fail_msg("login as client %.40s, user %.40s: CONNACK %d, expected 5 (refused)",
                 client_id ? client_id : "(none)", user ? user : "(none)", rc);
}

/* An observer with the server account, subscribed to presence and device topics. */
static sdev *observer(const char *cid)
{
    sdev *s = sdev_new_server(env.mqtt_port, env.key, cid);
    assert_int_equal(sdev_login(s), 0);
    assert_int_equal(sdev_subscribe(s, P), 1);
    assert_int_equal(sdev_subscribe(s, "/sys/+/+/ota/#"), 1);
    /* where the plugin moves device messages (docs/broker.md, "Partition topics") */
    assert_int_equal(sdev_subscribe(s, OTA_TOPIC_PART_PREFIX "+/sys/+/+/ota/#"), 1);
    return s;
}

static void test_wrong_secret_refused(void **state)
{
    (void)state;
    assert_refused("pk1.dev1", "pk1.dev1", "00000000000000000000000000000000");
    /* the right secret of another device */
    char other[40];
    oth_device_secret(&env, "pk1", "dev2", other);
    assert_refused("pk1.dev1", "pk1.dev1", other);
    /* no password at all */
    assert_refused("pk1.dev1", "pk1.dev1", NULL);
    /* the server account with a wrong password */
    assert_refused("otad", "otad", "00000000000000000000000000000000");
    /* the right secret works */
    sdev *c = sdev_open(env.mqtt_port, env.key, "pk1", "dev1");
    assert_non_null(c);
    sdev_free(c);
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
        assert_refused(names[i][0] ? names[i] : "anon", names[i],
                       "00000000000000000000000000000000");
    }
    /* anonymous */
    assert_refused("anon1", NULL, NULL);
    /* a 64-char identifier is fine, 65 is not */
    char id[80];
    memset(id, 'x', 64);
    id[64] = '\0';
    sdev *c = sdev_open(env.mqtt_port, env.key, "pk1", id);
    assert_non_null(c);
    sdev_free(c);
}

static void test_username_must_equal_client_id(void **state)
{
    (void)state;
    char secret[40];
    oth_device_secret(&env, "pk1", "dev1", secret);
    assert_refused("pk1.dev2", "pk1.dev1", secret);
    assert_refused("somethingelse", "pk1.dev1", secret);
    /* the server may use "otad-<suffix>" (several instances), nothing else */
    sdev *c = sdev_new_server(env.mqtt_port, env.key, "otad-2");
    assert_int_equal(sdev_login(c), 0);
    sdev_free(c);
    c = sdev_new_server(env.mqtt_port, env.key, "pk1.dev1");
    assert_int_equal(sdev_login(c), 5);
    sdev_free(c);
}

static void test_own_topics_work(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "own1");
    assert_non_null(d);
    assert_int_equal(sdev_subscribe(d, "/sys/pk1/own1/ota/firmware/upgrade"), 1);
    assert_int_equal(sdev_subscribe(d, "/sys/pk1/own1/#"), 1);
    /* server -> device */
    assert_int_equal(sdev_publish(s, "/sys/pk1/own1/ota/firmware/upgrade", "{\"msgId\":\"1\"}"), 0);
    assert_true(sdev_wait_msg(d, 0, "/sys/pk1/own1/ota/firmware/upgrade", "\"1\"", 2000) >= 0);
    /* device -> server */
    assert_int_equal(sdev_publish(d, "/sys/pk1/own1/ota/progress", "{\"step\":5}"), 0);
    int at = sdev_wait_msg(s, 0, "/sys/pk1/own1/ota/progress", "\"step\":5", 2000);
    assert_true(at >= 0);
    /* it reached the server on its partition's topic only, the partition otad computes */
    assert_int_equal(sdev_msg_at(s, at)->part, ota_part_of("own1"));
    assert_int_equal(sdev_count_matching(s, 0, "/sys/pk1/own1/ota/progress", NULL), 1);
    assert_int_equal(sdev_publish(d, "/sys/pk1/own1/ota/version", "{\"v\":1}"), 0);
    assert_true(sdev_wait_msg(s, 0, "/sys/pk1/own1/ota/version", NULL, 2000) >= 0);
    sdev_free(d);
    sdev_free(s);
}

/* A device may not keep a retained message in the broker: the publish is dropped, it
 * reaches nobody and a later subscriber finds nothing stored. */
static void test_device_retain_refused(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "ret1");
    assert_non_null(d);
    for (int i = 0; i < 20; i++)
        assert_int_equal(sdev_publish_retained(d, "/sys/pk1/ret1/ota/version", "{\"kept\":1}"), 0);
    assert_int_equal(sdev_publish(d, "/sys/pk1/ret1/ota/version", "{\"marker\":1}"), 0);
    assert_true(sdev_wait_msg(s, 0, "/sys/pk1/ret1/ota/version", "marker", 2000) >= 0);
    assert_int_equal(sdev_count_matching(s, 0, NULL, "kept"), 0);
    /* a fresh subscriber gets no retained message; one the server retains shows the
     * check would see it */
    assert_int_equal(sdev_publish_retained(s, "/sys/pk1/ret2/ota/firmware/upgrade", "{\"srv\":1}"), 0);
    sdev *late = observer("otad-late");
    assert_int_equal(sdev_subscribe(late, "/sys/pk1/+/ota/#"), 1);
    assert_true(sdev_wait_msg(late, 0, "/sys/pk1/ret2/ota/firmware/upgrade", "srv", 2000) >= 0);
    sdev_sleep_ms(300);
    assert_int_equal(sdev_count_matching(late, 0, NULL, "kept"), 0);
    /* clean up the server's retained message for the other tests */
    assert_int_equal(sdev_publish_retained(s, "/sys/pk1/ret2/ota/firmware/upgrade", ""), 0);
    sdev_free(late);
    sdev_free(d);
    sdev_free(s);
}

/* A device receives only the platform's topics: what it publishes under its own prefix
 * never comes back to it (so it cannot fill its own session queue). */
static void test_device_receives_only_downstream(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "loop1");
    assert_non_null(d);
    assert_int_equal(sdev_subscribe(d, "/sys/pk1/loop1/#"), 1);
    for (int i = 0; i < 20; i++)
        assert_int_equal(sdev_publish(d, "/sys/pk1/loop1/ota/progress", "{\"self\":1}"), 0);
    assert_int_equal(sdev_publish(d, "/sys/pk1/loop1/ota/firmware/upgrade", "{\"self\":2}"), 0);
    assert_int_equal(sdev_publish(s, "/sys/pk1/loop1/ota/firmware/get_reply", "{\"from\":\"srv\"}"), 0);
    assert_true(sdev_wait_msg(d, 0, "/sys/pk1/loop1/ota/firmware/get_reply", "srv", 2000) >= 0);
    assert_true(sdev_wait_msg(s, 0, "/sys/pk1/loop1/ota/progress", "self", 2000) >= 0);
    sdev_sleep_ms(300);
    assert_int_equal(sdev_count_matching(d, 0, NULL, "self"), 0);
    sdev_free(d);
    sdev_free(s);
}

static void test_cross_device_subscribe_refused(void **state)
{
    (void)state;
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "sub1");
    assert_non_null(d);
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
        int g = sdev_subscribe(d, bad[i]);
        if (g != 0x80)
            fail_msg("subscription %s granted %d", bad[i], g);
    }
    /* the connection is still usable */
    assert_int_equal(sdev_subscribe(d, "/sys/pk1/sub1/#"), 1);
    sdev_free(d);
}

static void test_cross_device_publish_dropped(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    sdev *a = sdev_open(env.mqtt_port, env.key, "pk1", "pa");
    assert_non_null(a);
    sdev *b = sdev_open(env.mqtt_port, env.key, "pk1", "pb");
    assert_non_null(b);
    assert_int_equal(sdev_subscribe(b, "/sys/pk1/pb/#"), 1);
    /* a writes into b's namespace and into the server's topics of b */
    assert_int_equal(sdev_publish(a, "/sys/pk1/pb/ota/firmware/upgrade", "{\"forged\":1}"), 0);
    assert_int_equal(sdev_publish(a, "/sys/pk1/pb/ota/version", "{\"forged\":2}"), 0);
    assert_int_equal(sdev_publish(a, "/sys/pk1/pa/ota/version", "{\"marker\":3}"), 0);
    /* a's own message arrives at the server; by then the forged ones would have too */
    assert_true(sdev_wait_msg(s, 0, "/sys/pk1/pa/ota/version", "marker", 2000) >= 0);
    sdev_sleep_ms(300);
    assert_int_equal(sdev_count_matching(b, 0, NULL, "forged"), 0);
    assert_int_equal(sdev_count_matching(s, 0, NULL, "forged"), 0);
    sdev_free(a);
    sdev_free(b);
    sdev_free(s);
}

static void test_internal_topics_protected(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "int1");
    assert_non_null(d);
    assert_true(sdev_wait_msg(s, 0, P, "pk1.int1", 2000) >= 0);
    assert_int_equal(sdev_subscribe(d, "ota/internal/#"), 0x80);
    assert_int_equal(sdev_subscribe(d, P), 0x80);
    int from = sdev_count(s, SDEV_ANY);
    assert_int_equal(sdev_publish(d, P, "{\"e\":\"off\",\"c\":\"pk1.other\",\"t\":1}"), 0);
    assert_int_equal(sdev_publish(d, "ota/internal/sync", "{\"nonce\":\"devicesync\"}"), 0);
    assert_int_equal(sdev_publish(d, "/sys/pk1/int1/ota/version", "{\"marker\":1}"), 0);
    assert_true(sdev_wait_msg(s, from, "/sys/pk1/int1/ota/version", "marker", 2000) >= 0);
    sdev_sleep_ms(300);
    assert_int_equal(sdev_count_matching(s, from, P, "pk1.other"), 0);
    assert_int_equal(sdev_count_matching(s, from, P, "devicesync"), 0);
    sdev_free(d);
    sdev_free(s);
}

static void test_presence_on_off(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    int from = sdev_count(s, SDEV_ANY);
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "pres1");
    assert_non_null(d);
    int i = sdev_wait_msg(s, from, P, "\"c\":\"pk1.pres1\"", 1000);
    assert_true(i >= 0);
    assert_non_null(strstr(sdev_msg_at(s, i)->payload, "\"e\":\"on\""));
    json_t *j = json_loads(sdev_msg_at(s, i)->payload, 0, NULL);
    assert_non_null(j);
    assert_true(json_integer_value(json_object_get(j, "t")) > 1700000000000LL);
    json_decref(j);
    sdev_free(d);
    assert_true(sdev_wait_msg(s, i + 1, P, "{\"e\":\"off\",\"c\":\"pk1.pres1\"", 1000) >= 0);

    /* a device that vanishes without DISCONNECT */
    from = sdev_count(s, SDEV_ANY);
    d = sdev_open(env.mqtt_port, env.key, "pk1", "pres2");
    assert_non_null(d);
    assert_true(sdev_wait_msg(s, from, P, "{\"e\":\"on\",\"c\":\"pk1.pres2\"", 1000) >= 0);
    sdev_drop(d);
    sdev_free(d);
    assert_true(sdev_wait_msg(s, from, P, "{\"e\":\"off\",\"c\":\"pk1.pres2\"", 1000) >= 0);

    /* refused logins make no presence event */
    from = sdev_count(s, SDEV_ANY);
    assert_refused("pk1.pres3", "pk1.pres3", "00000000000000000000000000000000");
    d = sdev_open(env.mqtt_port, env.key, "pk1", "pres4"); /* a marker */
    assert_non_null(d);
    assert_true(sdev_wait_msg(s, from, P, "pk1.pres4", 3000) >= 0);
    assert_int_equal(sdev_count_matching(s, from, P, "pk1.pres3"), 0);
    sdev_free(d);
    sdev_free(s);
}

static void test_presence_takeover(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    int from = sdev_count(s, SDEV_ANY);
    sdev *a = sdev_open(env.mqtt_port, env.key, "pk1", "take1");
    assert_non_null(a);
    assert_true(sdev_wait_msg(s, from, P, "pk1.take1", 3000) >= 0);
    sdev *b = sdev_open(env.mqtt_port, env.key, "pk1", "take1"); /* same client id */
    assert_non_null(b);
    sdev_sleep_ms(500);
    /* on(a), off(a), on(b): exactly one off, and the last word is "on" */
    assert_int_equal(sdev_count_matching(s, from, P, "{\"e\":\"on\",\"c\":\"pk1.take1\""), 2);
    assert_int_equal(sdev_count_matching(s, from, P, "{\"e\":\"off\",\"c\":\"pk1.take1\""), 1);
    int last = -1;
    for (int i = from; i < sdev_count(s, SDEV_ANY); i++) {
        if (strcmp(sdev_msg_at(s, i)->topic, P) == 0 &&
            strstr(sdev_msg_at(s, i)->payload, "pk1.take1"))
            last = i;
    }
    assert_non_null(strstr(sdev_msg_at(s, last)->payload, "\"e\":\"on\""));
    /* the snapshot agrees */
    int before = sdev_count(s, SDEV_ANY);
    assert_int_equal(sdev_publish(s, "ota/internal/sync", "{\"nonce\":\"take\"}"), 0);
    int k = sdev_wait_msg(s, before, P, "\"last\":true", 2000);
    assert_true(k >= 0);
    assert_int_equal(sdev_count_matching(s, before, P, "\"pk1.take1\""), 1);
    /* a was taken over (the helper never reconnects it); drop it, then b leaves */
    sdev_drop(a);
    sdev_free(a);
    sdev_sleep_ms(200);
    from = sdev_count(s, SDEV_ANY);
    sdev_free(b);
    assert_true(sdev_wait_msg(s, from, P, "{\"e\":\"off\",\"c\":\"pk1.take1\"", 3000) >= 0);
    sdev_free(s);
}

/* Sends a sync and gathers the parts: returns the number of parts, fills ids. */
static int collect_snapshot(sdev *s, const char *nonce, json_t *ids)
{
    char payload[128], match[128];
    int from = sdev_count(s, SDEV_ANY), parts = 0;
    snprintf(payload, sizeof payload, "{\"nonce\":\"%s\"}", nonce);
    snprintf(match, sizeof match, "\"nonce\":\"%s\"", nonce);
    assert_int_equal(sdev_publish(s, "ota/internal/sync", payload), 0);
    assert_true(sdev_wait_msg(s, from, P, "\"last\":true", 3000) >= 0);
    for (int i = from; i < sdev_count(s, SDEV_ANY); i++) {
        const sdev_msg *m = sdev_msg_at(s, i);
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
    sdev *s = observer("otad");
    json_t *ids = json_array();
    /* nobody online (earlier tests closed theirs): one empty part */
    sdev_sleep_ms(200);
    assert_int_equal(collect_snapshot(s, "n0", ids), 1);
    assert_int_equal(json_array_size(ids), 0);

    sdev *d[10];
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "snap%d", i);
        d[i] = sdev_open(env.mqtt_port, env.key, "pk9", id);
        assert_non_null(d[i]);
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
    sdev_free(d[0]);
    sdev_drop(d[1]);
    sdev_free(d[1]);
    sdev_sleep_ms(300);
    json_array_clear(ids);
    assert_int_equal(collect_snapshot(s, "n2", ids), 3);
    assert_int_equal(json_array_size(ids), 8);
    /* a malformed request is ignored, the broker lives on */
    assert_int_equal(sdev_publish(s, "ota/internal/sync", "{\"nonce\":\"bad nonce\\\"\"}"), 0);
    assert_int_equal(sdev_publish(s, "ota/internal/sync", "not json"), 0);
    json_array_clear(ids);
    assert_int_equal(collect_snapshot(s, "n3", ids), 3);
    for (int i = 2; i < 10; i++)
        sdev_free(d[i]);
    json_decref(ids);
    sdev_free(s);
}

/* SIGHUP makes Mosquitto re-run basic auth for every session: presence must not move. */
static void test_reload_keeps_presence(void **state)
{
    (void)state;
    sdev *s = observer("otad");
    sdev *a = sdev_open(env.mqtt_port, env.key, "pk8", "r1");
    assert_non_null(a);
    sdev *b = sdev_open(env.mqtt_port, env.key, "pk8", "r2");
    assert_non_null(b);
    assert_true(sdev_wait_msg(s, 0, P, "pk8.r2", 3000) >= 0);
    sdev_free(b); /* r2 leaves: its session is gone (clean), r1 stays */
    assert_true(sdev_wait_msg(s, 0, P, "{\"e\":\"off\",\"c\":\"pk8.r2\"", 3000) >= 0);
    int from = sdev_count(s, SDEV_ANY);
    assert_int_equal(kill(env.broker_pid, SIGHUP), 0);
    sdev_sleep_ms(500);
    assert_int_equal(sdev_count_matching(s, from, P, "\"e\":\"o"), 0);
    json_t *ids = json_array();
    collect_snapshot(s, "afterhup", ids);
    assert_int_equal(json_array_size(ids), 1);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "pk8.r1");
    json_decref(ids);
    /* logins after the reload count again */
    b = sdev_open(env.mqtt_port, env.key, "pk8", "r3");
    assert_non_null(b);
    assert_true(sdev_wait_msg(s, from, P, "{\"e\":\"on\",\"c\":\"pk8.r3\"", 3000) >= 0);
    sdev_free(b);
    sdev_free(a);
    assert_true(sdev_wait_msg(s, from, P, "{\"e\":\"off\",\"c\":\"pk8.r1\"", 3000) >= 0);
    sdev_free(s);
}

/* The plugin must never crash the broker: oversize, odd and format-string inputs. */
static void test_hostile_logins(void **state)
{
    (void)state;
    static char big[60001], mid[2001];
    char secret[40];
    memset(big, 'a', sizeof big - 1);
    big[30] = '.';
    /* a CONNECT over max_packet_size (16 KiB) is cut by the broker before the plugin sees
     * it: the connection closes without a CONNACK */
    sdev *cut = sdev_new_client(env.mqtt_port, big, big, "x");
    assert_int_equal(sdev_login(cut), -1);
    sdev_free(cut);
    cut = sdev_new_client(env.mqtt_port, "pk1.h1", "pk1.h1", big);
    assert_int_equal(sdev_login(cut), -1);
    sdev_free(cut);
    /* under that size, the plugin refuses long names and passwords itself */
    memset(mid, 'a', sizeof mid - 1);
    mid[30] = '.';
    assert_refused(mid, mid, "x");
    assert_refused("pk1.h1", "pk1.h1", mid);
    assert_refused("%s%n%x.%s", "%s%n%x.%s", "%s%n");
    /* empty client id: the broker makes one up, which is not the username */
    oth_device_secret(&env, "pk1", "h2", secret);
    assert_refused(NULL, "pk1.h2", secret);
    /* empty username */
    assert_refused("pk1.h3", "", "");
    /* still alive and working */
    sdev *c = sdev_open(env.mqtt_port, env.key, "pk1", "h4");
    assert_non_null(c);
    assert_int_equal(sdev_subscribe(c, "/sys/pk1/h4/#"), 1);
    sdev_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_secret_refused),
        cmocka_unit_test(test_unknown_username_refused),
        cmocka_unit_test(test_username_must_equal_client_id),
        cmocka_unit_test(test_own_topics_work),
        cmocka_unit_test(test_device_retain_refused),
        cmocka_unit_test(test_device_receives_only_downstream),
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
