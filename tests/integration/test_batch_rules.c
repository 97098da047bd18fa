/*
 * test_batch_rules: the batch rules of docs/batches.md, each through the public API and MQTT
 * only: the real broker (with ota_auth) and otad, devices played by scripted_device, the
 * state read back from GET /api/v1/batches/... . OTA_TIME_SCALE is chosen per test so the
 * timers fire in seconds while a scripted device still answers well inside them.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

/* Rule 1: to_push devices are pushed only while online and ready. */
static void test_rule1_push_only_online_and_ready(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 30); /* ack timeout 333 ms: every device here acks by itself */
    bt_product(t, "rule1");
    bt_device(t, "on1");
    bt_device(t, "off1");
    bt_device(t, "quiet");
    sdev *on1 = bt_dev_start(t, "on1", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *off1 = bt_dev_activated_offline(t, "off1", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *quiet = bt_dev_activated_offline(t, "quiet", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "on1", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule1", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 1440, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);

    /* the online, ready device is pushed at once; the offline ones wait */
    bt_wait_push(t, on1, 1, BT_SOON);
    json_decref(bt_wait_task(t, b, "on1", "to_upgrade", BT_SOON));
    bt_expect_task(t, b, "off1", "to_push");
    bt_expect_task(t, b, "quiet", "to_push");

    /* connected but silent: not ready, so not pushed */
    assert_int_equal(sdev_connect(quiet), 0);
    bt_wait_device(t, "quiet", 1, NULL, BT_SOON);
    bt_no_push_for(t, quiet, 0, 1500);
    bt_expect_task(t, b, "quiet", "to_push");

    /* its ota/firmware/get says it has subscribed: pushed, and the get answered with the offer */
    assert_int_equal(sdev_get(quiet, NULL), 0);
    bt_wait_push(t, quiet, 1, BT_SOON);
    assert_int_equal(sdev_wait(quiet, SDEV_GET_REPLY, 1, BT_SOON), 1);
    sdev_msg m;
    assert_int_equal(sdev_msg_get(quiet, SDEV_GET_REPLY, 0, &m), 0);
    assert_int_equal(m.code, 200);
    assert_string_equal(m.firmware_version, "2.0.0");
    assert_string_equal(m.batch_id, b);
    json_decref(bt_wait_task(t, b, "quiet", "to_upgrade", BT_SOON));

    /* the offline device is still waiting, unpushed */
    assert_int_equal(sdev_count(off1, SDEV_PUSH), 0);
    bt_expect_task(t, b, "off1", "to_push");
    /* it connects and reports its version: pushed */
    assert_int_equal(sdev_start(off1, "1.0.0"), 0);
    bt_wait_push(t, off1, 1, BT_SOON);
    sdev_msg p;
    assert_int_equal(sdev_msg_get(off1, SDEV_PUSH, 0, &p), 0);
    assert_string_equal(p.firmware_version, "2.0.0");
    assert_string_equal(p.batch_id, b);
    assert_string_equal(p.policy, "standard");
    assert_true(p.url[0] != '\0');
    json_decref(bt_wait_task(t, b, "off1", "to_upgrade", BT_SOON));
    /* one push each */
    assert_int_equal(sdev_count(on1, SDEV_PUSH), 1);
    assert_int_equal(sdev_count(quiet, SDEV_PUSH), 1);
    assert_int_equal(sdev_count(off1, SDEV_PUSH), 1);
}

/* Rule 1 for retries: a retry that falls due while the device is offline waits for it. */
static void test_rule1_retry_waits_for_online(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 30); /* ack timeout 333 ms, retry interval 2 s */
    bt_product(t, "rule1r");
    bt_device(t, "flaky");
    sdev *d = bt_dev_start(t, "flaky", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "flaky", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule1r", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 1440, 1, 1);
    bt_batch(t, fw, body, b, sizeof b);
    bt_wait_push(t, d, 1, BT_SOON);
    /* it drops off without acking: push_timeout, then the retry falls due while offline */
    sdev_drop(d);
    bt_wait_device(t, "flaky", 0, NULL, BT_SOON);
    json_t *task = bt_wait_task(t, b, "flaky", "to_retry", BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    json_decref(task);
    task = bt_wait_task(t, b, "flaky", "to_push", 2000 + BT_SOON);
    assert_int_equal(bt_int(task, "retried"), 0);
    assert_string_equal(bt_reason(task), "push_timeout");
    json_decref(task);
    sdev_sleep_ms(700);
    bt_expect_task(t, b, "flaky", "to_push");
    /* back, ready: the retry push goes out, acked this time */
    sdev_set_auto(d, SDEV_AUTO_ACK, 0);
    assert_int_equal(sdev_start(d, "1.0.0"), 0);
    bt_wait_push(t, d, 2, BT_SOON);
    task = bt_wait_task(t, b, "flaky", "to_upgrade", BT_SOON);
    assert_int_equal(bt_int(task, "retried"), 1);
    json_decref(task);
    assert_int_equal(sdev_duplicate_push_ids(d), 0);
}

/* Rule 2: push -> pushed; ack within the ack timeout -> to_upgrade; else push_timeout. */
static void test_rule2_ack_or_push_timeout(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 10); /* ack timeout 1 s */
    bt_product(t, "rule2");
    bt_device(t, "acker");
    bt_device(t, "mute");
    bt_device(t, "refuser");
    sdev *acker = bt_dev_start(t, "acker", "1.0.0", SDEV_AUTO_NONE, 0);
    sdev *mute = bt_dev_start(t, "mute", "1.0.0", SDEV_AUTO_NONE, 0);
    sdev *refuser = bt_dev_start(t, "refuser", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "acker", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "mute", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "refuser", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule2", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 1440, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);

    bt_wait_push(t, acker, 1, BT_SOON);
    bt_wait_push(t, mute, 1, BT_SOON);
    bt_wait_push(t, refuser, 1, BT_SOON);
    sdev_msg pa, pm, pr;
    sdev_msg_get(acker, SDEV_PUSH, 0, &pa);
    sdev_msg_get(mute, SDEV_PUSH, 0, &pm);
    sdev_msg_get(refuser, SDEV_PUSH, 0, &pr);
    /* pushed, waiting for the ack */
    json_t *task = bt_task(t, b, "mute");
    assert_non_null(task);
    assert_string_equal(bt_js(task, "upgradeState"), "pushed");
    json_decref(task);
    assert_int_equal(sdev_ack(acker, pa.msg_id, 200), 0);
    /* an ack with code != 200 is not an ack */
    assert_int_equal(sdev_ack(refuser, pr.msg_id, 500), 0);
    task = bt_wait_task(t, b, "acker", "to_upgrade", BT_SOON);
    assert_string_equal(bt_reason(task), "null");
    json_decref(task);

    task = bt_wait_task(t, b, "mute", "failed", BT_SOON);
    int64_t failed_at = sdev_now_ms();
    assert_string_equal(bt_reason(task), "push_timeout");
    assert_int_equal(bt_int(task, "retried"), 0);
    assert_int_equal(bt_int(task, "retryTimes"), 0);
    assert_false(json_is_null(json_object_get(task, "finishTime")));
    json_decref(task);
    /* not before the (scaled) 10 s ack timeout: 1000 ms after the push left (margin 100 ms) */
    assert_true(failed_at - pm.at_ms >= 900);
    task = bt_wait_task(t, b, "refuser", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    json_decref(task);
    /* a late ack of a failed push changes nothing */
    assert_int_equal(sdev_ack(mute, pm.msg_id, 200), 0);
    sdev_sleep_ms(300);
    bt_expect_task(t, b, "mute", "failed");
    bt_expect_task(t, b, "acker", "to_upgrade");
    json_t *bj = bt_batch_get(t, b);
    assert_int_equal(bt_int(bj, "failed"), 2);
    assert_int_equal(bt_int(json_object_get(bj, "counts"), "to_upgrade"), 1);
    assert_string_equal(bt_js(bj, "state"), "in_progress");
    json_decref(bj);
}

/* Rule 3: first progress -> upgrading; the upgrade timeout counts from the first progress. */
static void test_rule3_upgrade_timeout_from_first_progress(void **state)
{
    char fw[32], b[32], b2[32], body[512];
    bt_ctx *t = bt_new(state, 20); /* timeoutMinutes 1 = 3 s; ack timeout 500 ms (auto ack) */
    bt_product(t, "rule3");
    bt_device(t, "slow");
    bt_device(t, "slow2");
    bt_device(t, "quick");
    sdev *quick = bt_dev_start(t, "quick", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "quick", 1, "1.0.0", BT_SOON);
    sdev *slow = bt_dev_start(t, "slow", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *slow2 = bt_dev_start(t, "slow2", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "slow", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "slow2", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule3", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"slow\",\"quick\"]", 1, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    /* slow2: the upgrade timeout is a failure like the others: retried (rule 5) */
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"slow2\"]", 1, 1, 1);
    bt_batch(t, fw, body, b2, sizeof b2);
    bt_wait_push(t, slow, 1, BT_SOON);
    bt_wait_push(t, slow2, 1, BT_SOON);
    json_decref(bt_wait_task(t, b, "slow", "to_upgrade", BT_SOON));
    int64_t idle_from = sdev_now_ms();
    /* quick upgrades inside its timeout: its armed upgrade deadline must not fire later */
    json_decref(bt_wait_task(t, b, "quick", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(quick, 60), 0);
    json_decref(bt_wait_progress(t, b, "quick", "upgrading", 60, BT_SOON));
    assert_int_equal(sdev_version(quick, "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, "quick", "succeeded", BT_SOON));
    json_decref(bt_wait_task(t, b2, "slow2", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(slow2, 5), 0);

    /* acked, no progress: longer than the upgrade timeout and still to_upgrade (meanwhile
     * slow2, which did report progress, times out into to_retry) */
    json_t *t2 = bt_wait_task(t, b2, "slow2", "to_retry", 3000 + BT_SOON);
    assert_string_equal(bt_reason(t2), "upgrade_timeout");
    assert_int_equal(bt_int(t2, "retried"), 0);
    json_decref(t2);
    while (sdev_now_ms() < idle_from + 4500)
        sdev_sleep_ms(50);
    bt_expect_task(t, b, "slow", "to_upgrade");

    int64_t t0 = sdev_now_ms();
    assert_int_equal(sdev_progress(slow, 10), 0);
    json_decref(bt_wait_progress(t, b, "slow", "upgrading", 10, BT_SOON));
    /* a later progress does not restart the timeout */
    sdev_sleep_ms(1500);
    assert_int_equal(sdev_progress(slow, 50), 0);
    json_decref(bt_wait_progress(t, b, "slow", "upgrading", 50, 1000));

    json_t *task = bt_wait_task(t, b, "slow", "failed", 10000);
    int64_t t_fail = sdev_now_ms();
    assert_string_equal(bt_reason(task), "upgrade_timeout");
    json_decref(task);
    /* 3 s after the first progress, not after the last one (which would be >= 4.5 s) */
    assert_true(t_fail - t0 >= 2900);
    if (t_fail - t0 >= 4500)
        fail_msg("upgrade timeout fired %lld ms after the first progress: counted from a later one?",
                 (long long)(t_fail - t0));
    json_t *bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "failed"), 1);
    assert_int_equal(bt_int(bj, "succeeded"), 1);
    json_decref(bj);
    bt_expect_task(t, b, "quick", "succeeded");
    bt_check_counts(t, b);

    /* slow2 was pushed again (3 s timeout + 3 s interval after its first push) */
    bt_wait_push(t, slow2, 2, BT_SOON);
    sdev_msg p1, p2;
    sdev_msg_get(slow2, SDEV_PUSH, 0, &p1);
    sdev_msg_get(slow2, SDEV_PUSH, 1, &p2);
    assert_string_not_equal(p1.msg_id, p2.msg_id);
    if (p2.at_ms - p1.at_ms < 5500)
        fail_msg("slow2 retry push %lld ms after the first (timeout 3 s + interval 3 s)",
                 (long long)(p2.at_ms - p1.at_ms));
    t2 = bt_wait_task(t, b2, "slow2", "to_upgrade", BT_SOON);
    assert_int_equal(bt_int(t2, "retried"), 1);
    assert_string_equal(bt_reason(t2), "upgrade_timeout");
    json_decref(t2);
}

/* Rule 4: a version report equal to the batch's version succeeds; progress 100 does not. */
static void test_rule4_version_report_succeeds(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "rule4");
    bt_device(t, "d4");
    sdev *d = bt_dev_start(t, "d4", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "d4", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule4", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 1440, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    bt_wait_push(t, d, 1, BT_SOON);
    json_decref(bt_wait_task(t, b, "d4", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(d, 50), 0);
    assert_int_equal(sdev_progress(d, 100), 0);
    json_decref(bt_wait_progress(t, b, "d4", "upgrading", 100, BT_SOON));
    /* progress never goes down */
    assert_int_equal(sdev_progress(d, 30), 0);
    json_t *task;
    sdev_sleep_ms(800);
    json_decref(bt_wait_progress(t, b, "d4", "upgrading", 100, 10));
    /* another version is not success */
    assert_int_equal(sdev_version(d, "1.5.0"), 0);
    sdev_sleep_ms(500);
    bt_expect_task(t, b, "d4", "upgrading");
    bt_wait_device(t, "d4", 1, "1.5.0", BT_SOON);

    assert_int_equal(sdev_version(d, "2.0.0"), 0);
    task = bt_wait_task(t, b, "d4", "succeeded", BT_SOON);
    assert_string_equal(bt_reason(task), "null");
    assert_string_equal(bt_js(task, "currentVersion"), "2.0.0");
    assert_false(json_is_null(json_object_get(task, "finishTime")));
    json_decref(task);
    json_t *bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "succeeded"), 1);
    assert_int_equal(bt_int(bj, "failed"), 0);
    assert_false(json_is_null(json_object_get(bj, "endTime")));
    json_decref(bj);
    bt_wait_device(t, "d4", 1, "2.0.0", BT_SOON);
    assert_int_equal(sdev_count(d, SDEV_PUSH), 1);

    /* a device still to_push (offline) that comes back already on the batch's version
     * succeeds without being pushed */
    bt_device(t, "e4");
    sdev *e4 = bt_dev_activated_offline(t, "e4", "1.0.0", SDEV_AUTO_ACK, 0);
    char fw3[32], b3[32];
    bt_firmware(t, "fw_rule4b", "3.0.0", fw3, sizeof fw3);
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"e4\"]", 1440, 0, 0);
    bt_batch(t, fw3, body, b3, sizeof b3);
    bt_expect_task(t, b3, "e4", "to_push");
    assert_int_equal(sdev_start(e4, "3.0.0"), 0);
    task = bt_wait_task(t, b3, "e4", "succeeded", BT_SOON);
    assert_string_equal(bt_js(task, "currentVersion"), "3.0.0");
    json_decref(task);
    bt_no_push_for(t, e4, 0, 500);
    json_decref(bt_wait_batch(t, b3, "completed", BT_SOON));
}

/* Waits for the task in to_retry with reason `why` and `retried` retries used. */
static void expect_to_retry(bt_ctx *t, const char *b, sdev *d, const char *why, int retried)
{
    json_t *task = bt_wait_task(t, b, sdev_identifier(d), "to_retry", BT_SOON);
    assert_string_equal(bt_reason(task), why);
    assert_int_equal(bt_int(task, "retried"), retried);
    json_decref(task);
}

/* Waits for push number n (1-based, n >= 2) and checks it is a new msgId that came at least
 * min_gap_ms after the previous push. */
static void expect_retry_push(bt_ctx *t, sdev *d, int n, int min_gap_ms, int interval_ms)
{
    bt_wait_push(t, d, n, interval_ms + BT_SOON);
    sdev_msg prev, next;
    assert_int_equal(sdev_msg_get(d, SDEV_PUSH, n - 2, &prev), 0);
    assert_int_equal(sdev_msg_get(d, SDEV_PUSH, n - 1, &next), 0);
    assert_string_not_equal(prev.msg_id, next.msg_id);
    if (next.at_ms - prev.at_ms < min_gap_ms)
        fail_msg("%s: retry push %lld ms after the previous push, want >= %d ms", sdev_identifier(d),
                 (long long)(next.at_ms - prev.at_ms), min_gap_ms);
}

/* Rule 5: failures -1..-4 and push timeout go to to_retry while retries remain, then failed. */
static void test_rule5_failures_and_retries(void **state)
{
    char fw[32], b[32], b0[32];
    const int interval = 2000; /* retryIntervalMinutes 1 at scale 30 */
    const int ack_ms = 333;    /* the 10 s ack timeout at scale 30 */
    bt_ctx *t = bt_new(state, 30);
    bt_product(t, "rule5");
    const char *ids[] = {"r1", "u1", "pt", "z1", "z2", "z3", "z4", "v1"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        bt_device(t, ids[i]);
    sdev *r1 = bt_dev_start(t, "r1", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *u1 = bt_dev_start(t, "u1", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *pt = bt_dev_start(t, "pt", "1.0.0", SDEV_AUTO_NONE, 0);
    sdev *v1 = bt_dev_start(t, "v1", "1.0.0", SDEV_AUTO_FAIL, -3);
    for (int i = 0; i < 4; i++)
        bt_dev_start(t, ids[3 + i], "1.0.0", SDEV_AUTO_FAIL, -(i + 1));
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        bt_wait_device(t, ids[i], 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule5", "2.0.0", fw, sizeof fw);

    /* without retries: each negative step fails at once with its reason */
    bt_batch(t, fw,
             "{\"scope\":\"directed\",\"identifiers\":[\"z1\",\"z2\",\"z3\",\"z4\"],\"validityDays\":7,"
             "\"policy\":\"standard\",\"timeoutMinutes\":1440,\"retryTimes\":0}",
             b0, sizeof b0);
    const char *why[] = {"unknown", "download_failed", "verify_failed", "flash_failed"};
    for (int i = 0; i < 4; i++) {
        json_t *task = bt_wait_task(t, b0, ids[3 + i], "failed", BT_SOON);
        assert_string_equal(bt_reason(task), why[i]);
        assert_int_equal(bt_int(task, "retried"), 0);
        json_decref(task);
    }
    json_decref(bt_wait_batch(t, b0, "completed", BT_SOON));

    /* with 2 retries */
    bt_batch(t, fw,
             "{\"scope\":\"directed\",\"identifiers\":[\"r1\",\"u1\",\"pt\",\"v1\"],\"validityDays\":7,"
             "\"policy\":\"standard\",\"timeoutMinutes\":1440,\"retryTimes\":2,"
             "\"retryIntervalMinutes\":1}",
             b, sizeof b);
    bt_wait_push(t, r1, 1, BT_SOON);
    bt_wait_push(t, u1, 1, BT_SOON);
    bt_wait_push(t, pt, 1, BT_SOON);
    /* v1 fails, then reports the target version while waiting for its retry: succeeded,
     * and the armed retry must not push it again */
    expect_to_retry(t, b, v1, "verify_failed", 0);
    assert_int_equal(sdev_version(v1, "2.0.0"), 0);
    json_t *vt = bt_wait_task(t, b, "v1", "succeeded", BT_SOON);
    assert_true(json_is_null(json_object_get(vt, "failReason")));
    assert_int_equal(bt_int(vt, "retried"), 0);
    json_decref(vt);
    /* pt never acks: push_timeout, with a retry left */
    expect_to_retry(t, b, pt, "push_timeout", 0);
    json_decref(bt_wait_task(t, b, "r1", "to_upgrade", BT_SOON));
    json_decref(bt_wait_task(t, b, "u1", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(r1, -2), 0);
    assert_int_equal(sdev_progress(u1, 5), 0);
    json_decref(bt_wait_task(t, b, "u1", "upgrading", BT_SOON));
    assert_int_equal(sdev_progress(u1, -1), 0);
    expect_to_retry(t, b, r1, "download_failed", 0);
    expect_to_retry(t, b, u1, "unknown", 0);

    /* r1: retried; the reason is kept after the retry push until the next failure */
    expect_retry_push(t, r1, 2, interval - 300, interval);
    json_t *task = bt_wait_task(t, b, "r1", "to_upgrade", BT_SOON);
    assert_int_equal(bt_int(task, "retried"), 1);
    assert_int_equal(bt_int(task, "retryTimes"), 2);
    assert_string_equal(bt_reason(task), "download_failed");
    json_decref(task);
    assert_int_equal(sdev_progress(r1, -3), 0);
    expect_to_retry(t, b, r1, "verify_failed", 1);
    expect_retry_push(t, r1, 3, interval - 300, interval);
    json_decref(bt_wait_task(t, b, "r1", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(r1, -4), 0);
    task = bt_wait_task(t, b, "r1", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "flash_failed");
    assert_int_equal(bt_int(task, "retried"), 2);
    json_decref(task);

    /* u1: the retry upgrades it */
    expect_retry_push(t, u1, 2, interval - 300, interval);
    json_decref(bt_wait_task(t, b, "u1", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_version(u1, "2.0.0"), 0);
    task = bt_wait_task(t, b, "u1", "succeeded", BT_SOON);
    assert_int_equal(bt_int(task, "retried"), 1);
    json_decref(task);

    /* pt: push, timeout, interval, push, timeout, interval, push, timeout -> failed */
    expect_retry_push(t, pt, 2, ack_ms + interval - 300, interval);
    expect_retry_push(t, pt, 3, ack_ms + interval - 300, interval);
    task = bt_wait_task(t, b, "pt", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    assert_int_equal(bt_int(task, "retried"), 2);
    json_decref(task);

    json_t *bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "succeeded"), 2);
    assert_int_equal(bt_int(bj, "failed"), 2);
    json_decref(bj);
    bt_check_counts(t, b);
    assert_int_equal(sdev_count(v1, SDEV_PUSH), 1);
    /* no push after the last retry */
    bt_no_push_for(t, r1, 3, interval + 500);
    assert_int_equal(sdev_count(pt, SDEV_PUSH), 3);
    assert_int_equal(sdev_count(u1, SDEV_PUSH), 2);
    assert_int_equal(sdev_duplicate_push_ids(r1), 0);
    assert_int_equal(sdev_duplicate_push_ids(pt), 0);
}

/* Rule 6a: completed when every device is final; terminate ends the rest; 409 after. */
static void test_rule6_completed_and_terminate(void **state)
{
    char fw[32], b1[32], b2[32];
    bt_ctx *t = bt_new(state, 30); /* retry interval 2 s, ack timeout 333 ms */
    bt_product(t, "rule6");
    const char *ids[] = {"s1", "f1", "tA", "tR", "tO", "tU"};
    for (size_t i = 0; i < 6; i++)
        bt_device(t, ids[i]);
    sdev *s1 = bt_dev_start(t, "s1", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    sdev *f1 = bt_dev_start(t, "f1", "1.0.0", SDEV_AUTO_FAIL, -4);
    sdev *tA = bt_dev_start(t, "tA", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *tR = bt_dev_start(t, "tR", "1.0.0", SDEV_AUTO_FAIL, -2);
    sdev *tU = bt_dev_start(t, "tU", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *tO = bt_dev_activated_offline(t, "tO", "1.0.0", SDEV_AUTO_ACK, 0);
    for (size_t i = 0; i < 5; i++)
        if (strcmp(ids[i], "tO") != 0)
            bt_wait_device(t, ids[i], 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule6", "2.0.0", fw, sizeof fw);

    bt_batch(t, fw,
             "{\"scope\":\"directed\",\"identifiers\":[\"s1\",\"f1\"],\"validityDays\":7,"
             "\"policy\":\"standard\",\"timeoutMinutes\":1440,\"retryTimes\":0}",
             b1, sizeof b1);
    json_t *bj = bt_wait_batch(t, b1, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "total"), 2);
    assert_int_equal(bt_int(bj, "succeeded"), 1);
    assert_int_equal(bt_int(bj, "failed"), 1);
    assert_false(json_is_null(json_object_get(bj, "endTime")));
    assert_true(bt_rfc3339_ms(bt_js(bj, "endTime")) >= bt_rfc3339_ms(bt_js(bj, "startTime")));
    json_decref(bj);
    json_t *task = bt_task(t, b1, "f1");
    assert_string_equal(bt_reason(task), "flash_failed");
    json_decref(task);
    oth_resp r;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b1);
    assert_int_equal(bt_post(t, path, "", &r), 409);
    oth_resp_free(&r);
    assert_int_equal(sdev_count(s1, SDEV_PUSH), 1);
    assert_int_equal(sdev_count(f1, SDEV_PUSH), 1);

    /* a batch with devices in to_upgrade, upgrading, to_retry and to_push, terminated */
    bt_batch(t, fw,
             "{\"scope\":\"directed\",\"identifiers\":[\"tA\",\"tR\",\"tO\",\"tU\"],"
             "\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":3,\"retryIntervalMinutes\":1}",
             b2, sizeof b2);
    json_decref(bt_wait_task(t, b2, "tA", "to_upgrade", BT_SOON));
    json_decref(bt_wait_task(t, b2, "tU", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(tU, 30), 0);
    json_decref(bt_wait_task(t, b2, "tU", "upgrading", BT_SOON));
    json_decref(bt_wait_task(t, b2, "tR", "to_retry", BT_SOON));
    bt_expect_task(t, b2, "tO", "to_push");
    int tr_pushes = sdev_count(tR, SDEV_PUSH);
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b2);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);
    bj = bt_wait_batch(t, b2, "terminated", BT_SOON);
    assert_false(json_is_null(json_object_get(bj, "endTime")));
    assert_int_equal(bt_int(bj, "failed"), 4);
    assert_int_equal(bt_int(bj, "succeeded"), 0);
    assert_int_equal(bt_int(json_object_get(bj, "counts"), "failed"), 4);
    json_decref(bj);
    for (size_t i = 2; i < 6; i++) {
        task = bt_wait_task(t, b2, ids[i], "failed", BT_SOON);
        assert_string_equal(bt_reason(task), "terminated");
        json_decref(task);
    }
    /* nothing pushed after: not the retry that was due, not the offline device coming back */
    assert_int_equal(sdev_start(tO, "1.0.0"), 0);
    bt_no_push_for(t, tR, tr_pushes, 2000 + 1000);
    bt_no_push_for(t, tO, 0, 300);
    assert_int_equal(sdev_count(tA, SDEV_PUSH), 1);
    /* a late success report does not change a terminated task */
    assert_int_equal(sdev_version(tU, "2.0.0"), 0);
    sdev_sleep_ms(300);
    bt_expect_task(t, b2, "tU", "failed");
    assert_int_equal(bt_post(t, path, "", &r), 409);
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/batches/%s", b2);
    bj = bt_batch_get(t, b2);
    assert_string_equal(bt_js(bj, "state"), "terminated");
    json_decref(bj);
}

/* Rule 6b: at validity end the batch is terminated and nothing is pushed. */
static void test_rule6_validity_end(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 86400); /* one day = 1 s */
    bt_product(t, "rule6v");
    bt_device(t, "v1");
    sdev *v1 = bt_dev_activated_offline(t, "v1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_firmware(t, "fw_rule6v", "2.0.0", fw, sizeof fw);
    int64_t t0 = sdev_now_ms();
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"silent\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":0}",
             b, sizeof b);
    json_t *bj = bt_wait_batch(t, b, "terminated", 1000 + BT_SOON);
    int64_t waited = sdev_now_ms() - t0;
    assert_false(json_is_null(json_object_get(bj, "endTime")));
    assert_int_equal(bt_int(bj, "failed"), 1);
    int64_t end = bt_rfc3339_ms(bt_js(bj, "endTime")),
            exp = bt_rfc3339_ms(bt_js(bj, "expiresTime"));
    assert_true(end >= exp - 50);
    json_decref(bj);
    assert_true(waited >= 900);
    json_t *task = bt_wait_task(t, b, "v1", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "terminated");
    json_decref(task);
    assert_int_equal(sdev_start(v1, "1.0.0"), 0);
    assert_int_equal(sdev_get(v1, NULL), 0);
    bt_no_push_for(t, v1, 0, 1000);
    /* its get is answered: nothing pending */
    assert_int_equal(sdev_wait(v1, SDEV_GET_REPLY, 1, BT_SOON), 1);
    sdev_msg m;
    sdev_msg_get(v1, SDEV_GET_REPLY, 0, &m);
    assert_int_equal(m.code, 404);
}

static int eligible_has(bt_ctx *t, const char *fw, const char *id, int *total)
{
    oth_resp r;
    int found = 0;
    assert_int_equal(bt_get(t, &r, "/api/v1/firmwares/%s/eligible-devices?pageSize=1000", fw), 200);
    json_t *items = json_object_get(r.json, "items"), *it;
    size_t i;
    json_array_foreach(items, i, it) if (strcmp(bt_js(it, "identifier"), id) == 0) found = 1;
    if (total)
        *total = (int)json_array_size(items);
    oth_resp_free(&r);
    return found;
}

/* Rule 7: a device is in at most one unfinished task of the running batches. */
static void test_rule7_one_unfinished_task_per_device(void **state)
{
    char fw2[32], fw3[32], b1[32], b2[32], body[512];
    oth_resp r;
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "rule7");
    const char *ids[] = {"busy", "free1", "inact", "same"};
    for (size_t i = 0; i < 4; i++)
        bt_device(t, ids[i]);
    sdev *busy = bt_dev_start(t, "busy", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *free1 = bt_dev_start(t, "free1", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_dev_start(t, "same", "3.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "busy", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "free1", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "same", 1, "3.0.0", BT_SOON);
    bt_firmware(t, "fw_rule7a", "2.0.0", fw2, sizeof fw2);
    bt_firmware(t, "fw_rule7b", "3.0.0", fw3, sizeof fw3);
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"busy\"]", 1440, 0, 0);
    bt_batch(t, fw2, body, b1, sizeof b1);
    json_decref(bt_wait_task(t, b1, "busy", "to_upgrade", BT_SOON));

    int n = 0;
    assert_true(eligible_has(t, fw3, "free1", &n));
    assert_false(eligible_has(t, fw3, "busy", NULL));
    assert_false(eligible_has(t, fw3, "inact", NULL));
    assert_false(eligible_has(t, fw3, "same", NULL));
    assert_int_equal(n, 1);

    const char *bad[] = {"busy", "inact", "same", "nosuch"};
    for (size_t i = 0; i < 4; i++) {
        char b3[600];
        snprintf(b3, sizeof b3,
                 "{\"scope\":\"directed\",\"identifiers\":[\"free1\",\"%s\"],\"validityDays\":7,"
                 "\"policy\":\"standard\",\"timeoutMinutes\":1440,\"retryTimes\":0}",
                 bad[i]);
        long st = bt_batch_try(t, fw3, b3, NULL, 0, &r);
        if (st != 422 || !strstr(r.body, bad[i]))
            fail_msg("directed batch with %s: want 422 naming it, got %ld %s", bad[i], st, r.body);
        oth_resp_free(&r);
    }
    /* nothing was created by the refused requests: free1 is still free */
    assert_true(eligible_has(t, fw3, "free1", NULL));

    bt_body(body, sizeof body, "\"scope\":\"all\"", 1440, 0, 0);
    assert_int_equal(bt_batch_try(t, fw3, body, b2, sizeof b2, &r), 201);
    assert_int_equal(bt_int(r.json, "total"), 1);
    oth_resp_free(&r);
    json_t *task = bt_task(t, b2, "busy");
    assert_null(task);
    json_decref(bt_wait_task(t, b2, "free1", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_count(busy, SDEV_PUSH), 1);
    /* busy is still in batch 1 */
    bt_expect_task(t, b1, "busy", "to_upgrade");
    /* now everything of the product is busy or ineligible */
    assert_int_equal(bt_batch_try(t, fw3, body, NULL, 0, &r), 422);
    oth_resp_free(&r);

    /* batch 1 ends: busy is free for firmware 3.0.0 again, free1 is now busy */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b1);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);
    assert_true(eligible_has(t, fw3, "busy", NULL));
    assert_false(eligible_has(t, fw3, "free1", NULL));
    (void)free1;
}

/* The project's addition maxPushPerMinute (docs/batches.md): pushes are paced, not scaled
 * by OTA_TIME_SCALE; the devices held back wait in to_push. */
static void test_push_pacing(void **state)
{
    char fw[32], b[32];
    oth_resp r;
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "pace");
    const char *ids[] = {"g1", "g2", "g3", "g4"};
    sdev *d[4];
    for (int i = 0; i < 4; i++) {
        bt_device(t, ids[i]);
        d[i] = bt_dev_start(t, ids[i], "1.0.0", SDEV_AUTO_ACK, 0);
    }
    for (int i = 0; i < 4; i++)
        bt_wait_device(t, ids[i], 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_pace", "2.0.0", fw, sizeof fw);
    const char *bad[] = {"0", "1000001", "\"60\""};
    for (int i = 0; i < 3; i++) {
        char body[300];
        snprintf(body, sizeof body,
                 "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\",\"timeoutMinutes\":10,"
                 "\"retryTimes\":0,\"maxPushPerMinute\":%s}",
                 bad[i]);
        long st = bt_batch_try(t, fw, body, NULL, 0, &r);
        if ((st != 400 && st != 422) || strcmp(oth_err_field(&r), "maxPushPerMinute") != 0)
            fail_msg("maxPushPerMinute %s: want 400/422 naming it, got %ld %s", bad[i], st, r.body);
        oth_resp_free(&r);
    }
    /* 120 a minute: one every 500 ms */
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\",\"timeoutMinutes\":10,"
             "\"retryTimes\":0,\"maxPushPerMinute\":120}",
             b, sizeof b);
    json_t *bj = bt_batch_get(t, b);
    assert_int_equal(bt_int(bj, "maxPushPerMinute"), 120);
    json_decref(bj);
    int64_t at[4];
    for (int i = 0; i < 4; i++) {
        bt_wait_push(t, d[i], 1, BT_SOON);
        sdev_msg m;
        sdev_msg_get(d[i], SDEV_PUSH, 0, &m);
        at[i] = m.at_ms;
    }
    /* sorted push times: 3 gaps of ~500 ms, so the span is >= ~1.5 s */
    int64_t lo = at[0], hi = at[0];
    for (int i = 1; i < 4; i++) {
        lo = at[i] < lo ? at[i] : lo;
        hi = at[i] > hi ? at[i] : hi;
    }
    if (hi - lo < 1300)
        fail_msg("4 pushes at 120/min spread over %lld ms only", (long long)(hi - lo));
    for (int i = 0; i < 4; i++)
        json_decref(bt_wait_task(t, b, ids[i], "to_upgrade", BT_SOON));

    /* terminate while paced devices wait: the ones not pushed yet never are (rule 6) */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);
    char fw3[32], b3[32];
    bt_firmware(t, "fw_pace3", "3.0.0", fw3, sizeof fw3);
    bt_batch(t, fw3,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\",\"timeoutMinutes\":10,"
             "\"retryTimes\":0,\"maxPushPerMinute\":20}",
             b3, sizeof b3);
    int64_t end = sdev_now_ms() + BT_SOON;
    int total = 0;
    while (total < 5 && sdev_now_ms() < end) {
        total = 0;
        for (int i = 0; i < 4; i++)
            total += sdev_count(d[i], SDEV_PUSH);
        sdev_sleep_ms(5);
    }
    assert_int_equal(total, 5); /* 4 of the first batch, 1 of this one */
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b3);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);
    sdev_sleep_ms(4000); /* longer than the 3 s pace */
    total = 0;
    for (int i = 0; i < 4; i++)
        total += sdev_count(d[i], SDEV_PUSH);
    if (total != 5)
        fail_msg("%d pushes after terminating a paced batch", total - 5);
    json_t *b3j = bt_wait_batch(t, b3, "terminated", BT_SOON);
    assert_int_equal(bt_int(b3j, "failed"), 4);
    json_decref(b3j);
}

typedef struct {
    bt_ctx *t;
    const char *fw;
    const char *body;
    long status;
    char batch[32];
} create_job;

static void *create_thread(void *arg)
{
    create_job *j = arg;
    j->status = bt_batch_try(j->t, j->fw, j->body, j->batch, sizeof j->batch, NULL);
    return NULL;
}

/* Rule 7 under concurrency: batches for the same device created at the same moment (on
 * different firmware of its product): exactly one gets it. */
static void test_rule7_concurrent_creates(void **state)
{
    enum { N = 6 };
    char fw[N][32], name[32], ver[16];
    pthread_t th[N];
    create_job jobs[N];
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "rule7c");
    bt_device(t, "c1");
    bt_dev_activated_offline(t, "c1", "1.0.0", SDEV_AUTO_NONE, 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "fw_rule7c_%d", i);
        snprintf(ver, sizeof ver, "2.0.%d", i);
        bt_firmware(t, name, ver, fw[i], sizeof fw[i]);
    }
    for (int round = 0; round < 2; round++) {
        /* round 0: directed; round 1: scope all */
        const char *body = round == 0
                               ? "{\"scope\":\"directed\",\"identifiers\":[\"c1\"],\"validityDays\":1,"
                                 "\"policy\":\"standard\",\"timeoutMinutes\":10,\"retryTimes\":0}"
                               : "{\"scope\":\"all\",\"validityDays\":1,"
                                 "\"policy\":\"standard\",\"timeoutMinutes\":10,\"retryTimes\":0}";
        for (int i = 0; i < N; i++) {
            jobs[i] = (create_job){.t = t, .fw = fw[i], .body = body};
            assert_int_equal(pthread_create(&th[i], NULL, create_thread, &jobs[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(th[i], NULL);
        int created = 0, refused = 0, winner = -1;
        for (int i = 0; i < N; i++) {
            if (jobs[i].status == 201) {
                created++;
                winner = i;
            } else if (jobs[i].status == 422) {
                refused++;
            }
        }
        if (created != 1 || refused != N - 1) {
            oth_dump_logs(&t->env);
            fail_msg("round %d: %d concurrent creates for one device: %d created, %d refused (422)",
                     round, N, created, refused);
        }
        /* the device is in exactly one unfinished task */
        int tasks = 0;
        for (int i = 0; i < N; i++) {
            if (jobs[i].status != 201)
                continue;
            json_t *task = bt_task(t, jobs[i].batch, "c1");
            tasks += task != NULL;
            json_decref(task);
        }
        assert_int_equal(tasks, 1);
        oth_resp r;
        char path[128];
        snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", jobs[winner].batch);
        assert_int_equal(bt_post(t, path, "", &r), 200);
        oth_resp_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rule1_push_only_online_and_ready, bt_teardown),
        cmocka_unit_test_teardown(test_rule1_retry_waits_for_online, bt_teardown),
        cmocka_unit_test_teardown(test_rule2_ack_or_push_timeout, bt_teardown),
        cmocka_unit_test_teardown(test_rule3_upgrade_timeout_from_first_progress, bt_teardown),
        cmocka_unit_test_teardown(test_rule4_version_report_succeeds, bt_teardown),
        cmocka_unit_test_teardown(test_rule5_failures_and_retries, bt_teardown),
        cmocka_unit_test_teardown(test_rule6_completed_and_terminate, bt_teardown),
        cmocka_unit_test_teardown(test_rule6_validity_end, bt_teardown),
        cmocka_unit_test_teardown(test_rule7_one_unfinished_task_per_device, bt_teardown),
        cmocka_unit_test_teardown(test_rule7_concurrent_creates, bt_teardown),
        cmocka_unit_test_teardown(test_push_pacing, bt_teardown),
    };
    if (getenv("BT_FILTER")) /* e.g. BT_FILTER=test_rule5* */
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests_name("batch_rules", tests, NULL, NULL);
}
