/*
 * Unit tests of core/webhook.c: the event list, URL and secret rules, the stored event
 * list, bodies (same bytes for the same inputs; grouped form), the event header, the
 * signature (RFC 4231 test case 2) and the retry schedule (doubling from 5 s, capped at
 * 1 h, jitter within 20 %, dead past 24 h after the event, divided by the time scale).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/webhook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void test_events(void **st)
{
    (void)st;
    assert_int_equal(hook_event_parse("batch.created"), HOOK_EV_BATCH_CREATED);
    assert_int_equal(hook_event_parse("device.upgrade.failed"), HOOK_EV_DEVICE_UPGRADE_FAILED);
    assert_int_equal(hook_event_parse("ping"), -1); /* not a subscription */
    assert_int_equal(hook_event_parse("batch"), -1);
    assert_true(hook_event_grouped(HOOK_EV_DEVICE_UPGRADE_SUCCEEDED));
    assert_false(hook_event_grouped(HOOK_EV_BATCH_COMPLETED));
    for (int i = 0; i < HOOK_EV_COUNT; i++)
        assert_true(strlen(hook_event_name((hook_event)i)) < HOOK_EVENT_NAME_MAX);

    const char *names[] = {"firmware.deleted", "batch.created", "batch.created"}, *bad;
    char out[HOOK_EVENTS_TEXT_MAX];
    assert_int_equal(hook_events_join(names, 3, out, sizeof out, &bad), 0);
    assert_string_equal(out, "batch.created,firmware.deleted"); /* list order, once each */
    const char *star[] = {"*"};
    assert_int_equal(hook_events_join(star, 1, out, sizeof out, &bad), 0);
    assert_string_equal(out, "*");
    const char *unknown[] = {"batch.created", "nope"};
    assert_int_equal(hook_events_join(unknown, 2, out, sizeof out, &bad), -1);
    assert_string_equal(bad, "nope");
    assert_int_equal(hook_events_join(names, 0, out, sizeof out, &bad), -1);
}

static void test_url_secret(void **st)
{
    char why[160];
    (void)st;
    assert_int_equal(hook_url_check("http://127.0.0.1:8080/hook", why, sizeof why), 0);
    assert_int_equal(hook_url_check("HTTPS://example.com", why, sizeof why), 0);
    assert_int_equal(hook_url_check("ftp://example.com/", why, sizeof why), -1);
    assert_int_equal(hook_url_check("http://", why, sizeof why), -1);
    assert_int_equal(hook_url_check("http:///x", why, sizeof why), -1);
    assert_int_equal(hook_url_check("http://:80/", why, sizeof why), -1);
    assert_int_equal(hook_url_check("http://u:p@h/", why, sizeof why), -1);
    assert_int_equal(hook_url_check("http://h/a b", why, sizeof why), -1);
    assert_int_equal(hook_url_check("http://h/\x7f", why, sizeof why), -1);
    assert_int_equal(hook_secret_check("0123456789abcdef"), 0);
    assert_int_equal(hook_secret_check("0123456789abcde"), -1);
    assert_int_equal(hook_secret_check("0123456789abcdef\t"), -1);
}

static void test_bodies(void **st)
{
    (void)st;
    char *d1 = hook_data_device(7, "pk1", "dev-1", "2.0.0", NULL, 0);
    char *d2 = hook_data_device(7, "pk1", "dev-2", "2.0.0", "download_failed", 1);
    hook_item items[2] = {{"device.upgrade.succeeded", 1000, d1},
                          {"device.upgrade.failed", 2000, d2}};
    char *one = hook_body(42, 0, items, 1), *again = hook_body(42, 0, items, 1);
    assert_non_null(one);
    assert_string_equal(one, again); /* every attempt sends the same bytes */
    assert_string_equal(one, "{\"id\":\"42\",\"event\":\"device.upgrade.succeeded\","
                             "\"time\":\"1970-01-01T00:00:01.000Z\",\"data\":{\"batchId\":\"7\","
                             "\"productKey\":\"pk1\",\"identifier\":\"dev-1\","
                             "\"firmwareVersion\":\"2.0.0\",\"retried\":0}}");
    char *group = hook_body(43, 1, items, 2);
    json_t *g = json_loads(group, 0, NULL);
    assert_non_null(g);
    assert_string_equal(json_string_value(json_object_get(g, "id")), "43");
    assert_int_equal(json_array_size(json_object_get(g, "events")), 2);
    json_t *second = json_array_get(json_object_get(g, "events"), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(second, "data"), "failReason")),
        "download_failed");
    json_decref(g);
    assert_null(hook_body(44, 0, items, 2)); /* alone means one event */
    hook_item broken = {"ping", 1, "[1]"};
    assert_null(hook_body(45, 0, &broken, 1));

    char h[256];
    hook_item three[3] = {items[0], items[1], items[0]};
    hook_event_header(three, 3, h, sizeof h);
    assert_string_equal(h, "device.upgrade.succeeded,device.upgrade.failed");
    free(one);
    free(again);
    free(group);
    free(d1);
    free(d2);
}

static void test_signature(void **st)
{
    (void)st;
    char sig[80];
    const char *msg = "what do ya want for nothing?";
    assert_int_equal(hook_signature("Jefe", msg, strlen(msg), sig, sizeof sig), 0);
    assert_string_equal(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(hook_signature("Jefe", msg, strlen(msg), sig, 40), -1);
}

static void test_retry_schedule(void **st)
{
    (void)st;
    const int64_t t0 = 1000000, day = 24 * 3600 * 1000ll;
    /* the middle of the jitter: 5 s, 10 s, 20 s, ... */
    assert_int_equal(hook_retry_at(1, t0, t0, 1, 0.5), t0 + 5000);
    assert_int_equal(hook_retry_at(2, t0, t0, 1, 0.5), t0 + 10000);
    assert_int_equal(hook_retry_at(3, t0, t0, 1, 0.5), t0 + 20000);
    /* jitter within [-20 %, +20 %) */
    assert_int_equal(hook_retry_at(1, t0, t0, 1, 0.0), t0 + 4000);
    assert_true(hook_retry_at(1, t0, t0, 1, 0.999999) <= t0 + 6000);
    /* capped at an hour */
    assert_int_equal(hook_retry_at(30, t0, t0, 1, 0.5), t0 + 3600000);
    assert_int_equal(hook_retry_at(1000, t0, t0, 1, 0.5), t0 + 3600000);
    /* past 24 h after the event: dead */
    assert_int_equal(hook_retry_at(30, t0 + day - 1000, t0, 1, 0.5), 0);
    assert_true(hook_retry_at(30, t0 + day - 3700000, t0, 1, 0.5) > 0);
    /* divided by the time scale */
    assert_int_equal(hook_retry_at(1, t0, t0, 10, 0.5), t0 + 500);
    assert_int_equal(hook_retry_at(1, t0 + day / 10, t0, 10, 0.5), 0);
}

static void test_fields(void **st)
{
    (void)st;
    hook_fields f;
    rq_error e = {0};
    const char *ok = "{\"url\":\"http://h/x\",\"secret\":\"0123456789abcdef\","
                     "\"events\":[\"batch.completed\"],\"groupSeconds\":0}";
    assert_int_equal(hook_fields_parse(ok, strlen(ok), 1, &f, &e), 0);
    assert_string_equal(f.events, "batch.completed");
    assert_int_equal(f.group_max, HOOK_GROUP_DEFAULT_EVENTS);
    assert_int_equal(f.group_seconds, 0);
    assert_true(f.enabled);
    const char *patch = "{\"enabled\":false}";
    assert_int_equal(hook_fields_parse(patch, strlen(patch), 0, &f, &e), 0);
    assert_true(f.has_enabled && !f.enabled && !f.has_url && !f.has_events);
    memset(&e, 0, sizeof e);
    assert_int_equal(hook_fields_parse(patch, strlen(patch), 1, &f, &e), -1);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.field, "url");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),    cmocka_unit_test(test_url_secret),
        cmocka_unit_test(test_bodies),    cmocka_unit_test(test_signature),
        cmocka_unit_test(test_retry_schedule), cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
