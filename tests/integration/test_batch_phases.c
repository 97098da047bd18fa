/*
 * test_batch_phases: pause and resume, phases and brakes of a batch (docs/batches.md,
 * "Phases, brakes and time"), through the API and scripted MQTT devices against the real
 * broker and otad. Each case plays devices whose outcome it decides, and checks what the
 * devices received (pushes) as well as what the API says.
 */
#include "test_batch_fixture.h"

#include <stdio.h>
#include <string.h>

static long post_action(bt_ctx *t, const char *b, const char *action, oth_resp *r)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/batches/%s/%s", b, action);
    return bt_post(t, path, "", r);
}

/* An action that must answer `want`; the answer's body when 200 (new reference). */
static json_t *act(bt_ctx *t, const char *b, const char *action, long want)
{
    oth_resp r;
    long got = post_action(t, b, action, &r);
    if (got != want)
        fail_msg("%s %s: want %ld, got %ld %s", action, b, want, got, r.body ? r.body : "");
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    oth_resp_free(&r);
    if (want != 200) {
        assert_non_null(j);
        json_t *err = json_object_get(j, "error");
        assert_string_equal(bt_js(err, "field"), "batchId");
        json_decref(j);
        return NULL;
    }
    assert_non_null(j);
    return j;
}

/* Manual pause: no new push (first push of a device that comes online, retry that falls
 * due, its own firmware/get), devices in flight go on; resume pushes what waited. */
static void test_pause_resume(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 30); /* retry interval 1 min = 2 s, ack timeout 333 ms */
    bt_product(t, "pause");
    bt_device(t, "a");
    bt_device(t, "r");
    bt_device(t, "o");
    sdev *a = bt_dev_start(t, "a", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *r = bt_dev_start(t, "r", "1.0.0", SDEV_AUTO_FAIL, -2);
    sdev *o = bt_dev_activated_offline(t, "o", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "a", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "r", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_pause", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"a\",\"r\",\"o\"]", 1440,
            2, 1);
    bt_batch(t, fw, body, b, sizeof b);
    json_decref(bt_wait_task(t, b, "a", "to_upgrade", BT_SOON));
    json_decref(bt_wait_task(t, b, "r", "to_retry", BT_SOON));

    json_t *bj = act(t, b, "pause", 200);
    assert_string_equal(bt_js(bj, "state"), "paused");
    json_t *why = json_object_get(bj, "pauseReason");
    assert_true(json_is_object(why));
    assert_string_equal(bt_js(why, "by"), "operator");
    json_decref(bj);
    act(t, b, "pause", 409);
    act(t, "999999", "pause", 404);

    /* paused: the retry falls due (2 s) and the offline device comes and asks; no push */
    int r_pushes = sdev_count(r, SDEV_PUSH);
    assert_int_equal(sdev_start(o, "1.0.0"), 0);
    assert_int_equal(sdev_get(o, NULL), 0);
    bt_no_push_for(t, r, r_pushes, 4000);
    bt_no_push_for(t, o, 0, 300);
    char topic[160];
    snprintf(topic, sizeof topic, "/sys/%s/o/ota/firmware/get_reply", t->pk);
    assert_true(sdev_wait_msg(o, 0, topic, "404", BT_SOON) >= 0);
    json_decref(bt_wait_task(t, b, "r", "to_push", BT_SOON));
    /* in flight goes on: a's progress applies while paused */
    assert_int_equal(sdev_progress(a, 30), 0);
    json_decref(bt_wait_task(t, b, "a", "upgrading", BT_SOON));
    bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "state"), "paused");
    json_decref(bj);

    bj = act(t, b, "resume", 200);
    assert_string_equal(bt_js(bj, "state"), "in_progress");
    assert_true(json_is_null(json_object_get(bj, "pauseReason")));
    json_decref(bj);
    act(t, b, "resume", 409);
    bt_wait_push(t, o, 1, BT_SOON);
    bt_wait_push(t, r, r_pushes + 1, BT_SOON);
    json_decref(bt_wait_task(t, b, "o", "succeeded", BT_SOON));

    /* a paused batch can be terminated; the list filters by the new states */
    json_decref(act(t, b, "pause", 200));
    oth_resp lr;
    assert_int_equal(bt_get(t, &lr, "/api/v1/batches?state=paused"), 200);
    assert_non_null(strstr(lr.body, "\"paused\""));
    oth_resp_free(&lr);
    bj = act(t, b, "terminate", 200);
    assert_string_equal(bt_js(bj, "state"), "terminated");
    json_decref(bj);
    act(t, b, "resume", 409);
    bt_check_counts(t, b);
    /* each change has its audit row */
    assert_int_equal(bt_get(t, &lr, "/api/v1/audit?action=batch.pause"), 200);
    json_t *al = json_loads(lr.body, 0, NULL);
    oth_resp_free(&lr);
    assert_true(json_array_size(json_object_get(al, "items")) >= 2);
    assert_string_equal(bt_js(json_array_get(json_object_get(al, "items"), 0), "result"), "ok");
    json_decref(al);
    assert_int_equal(sdev_duplicate_push_ids(r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pause_resume, bt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
