/*
 * test_batch_phases: pause and resume, phases and brakes of a batch (docs/batches.md,
 * "Phases, brakes and time"), through the API and scripted MQTT devices against the real
 * broker and otad. Each case plays devices whose outcome it decides, and checks what the
 * devices received (pushes) as well as what the API says.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Devices n[0..count) named prefix1.., started with mode; the handles into out. */
static void start_devices(bt_ctx *t, const char *prefix, int count, sdev_auto mode, int step,
                          sdev **out)
{
    char id[32];
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i + 1);
        bt_device(t, id);
        out[i] = bt_dev_start(t, id, "1.0.0", mode, step);
    }
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i + 1);
        bt_wait_device(t, id, 1, "1.0.0", BT_SOON);
    }
}

static json_t *phase_row(json_t *bj, int k)
{
    return json_array_get(json_object_get(bj, "phases"), (size_t)k);
}

/* A canary that fails pauses the batch at the end of its phase: the second phase's devices
 * never get a push; the operator's resume starts the next phase. */
static void test_canary_pauses_before_phase2(void **state)
{
    char fw[32], b[32];
    sdev *c1, *p[3];
    bt_ctx *t = bt_new(state, 30);
    bt_product(t, "canary");
    bt_device(t, "c1");
    c1 = bt_dev_start(t, "c1", "1.0.0", SDEV_AUTO_FAIL, -4);
    bt_wait_device(t, "c1", 1, "1.0.0", BT_SOON);
    start_devices(t, "p", 3, SDEV_AUTO_UPGRADE, 0, p);
    bt_firmware(t, "fw_canary", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\","
             "\"timeoutMinutes\":1440,\"retryTimes\":0,\"rollout\":{\"phases\":["
             "{\"identifiers\":[\"c1\"],\"minSuccessPercent\":100},{\"percent\":100}]}}",
             b, sizeof b);
    json_t *bj = bt_wait_batch(t, b, "paused", BT_SOON);
    json_t *why = json_object_get(bj, "pauseReason");
    assert_string_equal(bt_js(why, "by"), "phase");
    assert_int_equal(bt_int(why, "phase"), 1);
    assert_int_equal(bt_int(why, "failed"), 1);
    assert_int_equal(bt_int(why, "devices"), 1);
    assert_int_equal(bt_int(bj, "currentPhase"), 1);
    assert_int_equal(bt_int(phase_row(bj, 0), "devices"), 1);
    assert_int_equal(bt_int(phase_row(bj, 0), "failed"), 1);
    assert_int_equal(bt_int(phase_row(bj, 1), "devices"), 3);
    assert_string_equal(bt_js(phase_row(bj, 1), "state"), "waiting");
    assert_int_equal(json_array_size(json_object_get(json_object_get(bj, "rollout"), "phases")), 2);
    json_decref(bj);
    assert_int_equal(sdev_count(c1, SDEV_PUSH), 1);
    for (int i = 0; i < 3; i++)
        bt_no_push_for(t, p[i], 0, i == 0 ? 1500 : 10);
    /* a phase-2 device asking for its upgrade hears 404 */
    assert_int_equal(sdev_get(p[0], NULL), 0);
    bt_no_push_for(t, p[0], 0, 500);

    json_decref(act(t, b, "resume", 200));
    for (int i = 0; i < 3; i++)
        bt_wait_push(t, p[i], 1, BT_SOON);
    bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "succeeded"), 3);
    assert_int_equal(bt_int(bj, "failed"), 1);
    assert_int_equal(bt_int(bj, "currentPhase"), 2);
    assert_int_equal(bt_int(phase_row(bj, 1), "succeeded"), 3);
    json_decref(bj);
    bt_check_counts(t, b);
}

/* A batch of every device with this rollout (JSON text) on a new firmware of `name`, its id
 * into b; then waits until the devices prefix1..prefixN have acked (to_upgrade), when
 * `acked` is given. */
static void rollout_batch(bt_ctx *t, const char *name, const char *rollout_json,
                          const char *prefix, int acked, char *b, size_t cap)
{
    char fw[32], body[1024], id[32];
    bt_firmware(t, name, "2.0.0", fw, sizeof fw);
    snprintf(body, sizeof body,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\","
             "\"timeoutMinutes\":1440,\"retryTimes\":0,\"rollout\":%s}",
             rollout_json);
    bt_batch(t, fw, body, b, cap);
    for (int i = 0; i < acked; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i + 1);
        json_decref(bt_wait_task(t, b, id, "to_upgrade", BT_SOON));
    }
}

/* An abort rule fires at the very event that crosses it, with the figures of that moment:
 * not at the earlier event that reached the share before minFinished, not a scan later. */
static void test_threshold_fires_at_crossing(void **state)
{
    char b[32], id[8];
    sdev *m[6];
    bt_ctx *t = bt_new(state, 30);
    bt_product(t, "brake");
    start_devices(t, "m", 6, SDEV_AUTO_ACK, 0, m);
    rollout_batch(t, "fw_brake",
                  "{\"abort\":[{\"reason\":\"flash_failed\",\"thresholdPercent\":50,"
                  "\"minFinished\":4,\"action\":\"abort\"}]}",
                  "m", 6, b, sizeof b);
    /* 1 finished (succeeded); 2 finished, 1 flash_failed = 50 % but below minFinished */
    assert_int_equal(sdev_version(m[0], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, "m1", "succeeded", BT_SOON));
    assert_int_equal(sdev_progress(m[1], -4), 0);
    json_decref(bt_wait_task(t, b, "m2", "failed", BT_SOON));
    /* 3 finished, 1 failed (33 %); another reason does not count for this rule */
    assert_int_equal(sdev_progress(m[2], -2), 0);
    json_decref(bt_wait_task(t, b, "m3", "failed", BT_SOON));
    json_t *bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "state"), "in_progress");
    json_decref(bj);
    /* 4 finished, 2 flash_failed = 50 %: this event aborts the batch */
    assert_int_equal(sdev_progress(m[3], -4), 0);
    bj = bt_wait_batch(t, b, "aborted", BT_SOON);
    json_t *why = json_object_get(bj, "pauseReason");
    assert_string_equal(bt_js(why, "by"), "rule");
    assert_string_equal(bt_js(why, "reason"), "flash_failed");
    assert_string_equal(bt_js(why, "action"), "abort");
    assert_int_equal(bt_int(why, "finished"), 4);
    assert_int_equal(bt_int(why, "failed"), 2);
    assert_false(json_is_null(json_object_get(bj, "endTime")));
    assert_int_equal(bt_int(bj, "failed"), 5);
    json_decref(bj);
    for (int i = 4; i < 6; i++) {
        snprintf(id, sizeof id, "m%d", i + 1);
        json_t *task = bt_wait_task(t, b, id, "failed", BT_SOON);
        assert_string_equal(bt_reason(task), "terminated");
        json_decref(task);
    }
    act(t, b, "resume", 409);
    act(t, b, "terminate", 409);
    bt_check_counts(t, b);
}

/* A rule with action pause: devices already upgrading finish and count; resume goes on, and
 * the rule that fired does not fire again. */
static void test_pause_rule_and_resume(void **state)
{
    char b[32];
    sdev *a[4];
    bt_ctx *t = bt_new(state, 30);
    bt_product(t, "brakep");
    start_devices(t, "a", 4, SDEV_AUTO_ACK, 0, a);
    rollout_batch(t, "fw_brakep",
                  "{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":30,\"minFinished\":2}]}",
                  "a", 4, b, sizeof b);
    assert_int_equal(sdev_progress(a[2], 20), 0);
    json_decref(bt_wait_task(t, b, "a3", "upgrading", BT_SOON));
    assert_int_equal(sdev_progress(a[0], -2), 0);
    json_decref(bt_wait_task(t, b, "a1", "failed", BT_SOON));
    assert_int_equal(sdev_progress(a[1], -3), 0);
    json_t *bj = bt_wait_batch(t, b, "paused", BT_SOON);
    json_t *why = json_object_get(bj, "pauseReason");
    assert_string_equal(bt_js(why, "by"), "rule");
    assert_string_equal(bt_js(why, "action"), "pause");
    assert_int_equal(bt_int(why, "finished"), 2);
    assert_int_equal(bt_int(why, "failed"), 2);
    json_decref(bj);
    /* in flight: a3 finishes while paused and is counted */
    assert_int_equal(sdev_version(a[2], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, "a3", "succeeded", BT_SOON));
    bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "state"), "paused");
    assert_int_equal(bt_int(bj, "succeeded"), 1);
    json_decref(bj);
    json_decref(act(t, b, "resume", 200));
    assert_int_equal(sdev_progress(a[3], -1), 0);
    bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "failed"), 3);
    json_decref(bj);
    bt_check_counts(t, b);
}

/* A phase's soak end is a durable deadline: kill -9 during the soak, the next phase starts
 * after the restart. Pacing holds inside a phase. */
static void test_soak_across_kill9(void **state)
{
    char b[32];
    sdev *s[4];
    bt_ctx *t = bt_new(state, 60); /* soak 1 min = 1 s */
    bt_product(t, "soak");
    start_devices(t, "s", 4, SDEV_AUTO_UPGRADE, 0, s);
    rollout_batch(t, "fw_soak", "{\"phases\":[{\"count\":1,\"soakMinutes\":3},{\"percent\":50}]}",
                  "s", 0, b, sizeof b);
    json_decref(bt_wait_task(t, b, "s1", "succeeded", BT_SOON));
    json_t *bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(phase_row(bj, 0), "state"), "soaking");
    json_decref(bj);
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
    for (int i = 1; i < 4; i++)
        assert_int_equal(sdev_count(s[i], SDEV_PUSH), 0);
    sdev_sleep_ms(3500);
    if (oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("otad did not start again");
    }
    bj = bt_wait_batch(t, b, "completed", BT_SOON * 2);
    assert_int_equal(bt_int(bj, "succeeded"), 4);
    assert_int_equal(bt_int(bj, "currentPhase"), 2);
    json_decref(bj);
    for (int i = 0; i < 4; i++)
        assert_int_equal(sdev_count(s[i], SDEV_PUSH), 1);
}

/* The wall clock, epoch ms. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HH:MM" in UTC at now + delta minutes. */
static void utc_hhmm(int delta_min, char *out, size_t cap)
{
    time_t t = (time_t)(wall_ms() / 1000) + delta_min * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%02d:%02d", tm.tm_hour, tm.tm_min);
}

/* RFC 3339 UTC at now + delta_ms. */
static void rfc3339_in(int64_t delta_ms, char *out, size_t cap)
{
    time_t t = (time_t)((wall_ms() + delta_ms) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A scheduled batch pushes nothing before startAt, even across kill -9 of otad; it starts
 * at startAt (a durable timer: the start that passed while otad was down fires at start). */
static void test_scheduled_start(void **state)
{
    char fw[32], b[32], body[512], at[40];
    sdev *d[1];
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "sched");
    start_devices(t, "d", 1, SDEV_AUTO_UPGRADE, 0, d);
    bt_firmware(t, "fw_sched", "2.0.0", fw, sizeof fw);
    rfc3339_in(4000, at, sizeof at);
    snprintf(body, sizeof body,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\","
             "\"timeoutMinutes\":10,\"retryTimes\":0,\"startAt\":\"%s\"}",
             at);
    bt_batch(t, fw, body, b, sizeof b);
    json_t *bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "state"), "scheduled");
    assert_true(bt_rfc3339_ms(bt_js(bj, "startAt")) == bt_rfc3339_ms(at));
    json_decref(bj);
    act(t, b, "pause", 409);
    /* the device asks: nothing yet */
    assert_int_equal(sdev_get(d[0], NULL), 0);
    bt_no_push_for(t, d[0], 0, 1000);
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
    while (wall_ms() < bt_rfc3339_ms(at) + 500)
        sdev_sleep_ms(100);
    if (oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("otad did not start again");
    }
    bt_wait_push(t, d[0], 1, BT_SOON * 2);
    bj = bt_wait_batch(t, b, "completed", BT_SOON);
    json_decref(bj);
}

/* Maintenance windows: closed, nothing is pushed (nor answered to the device's own get);
 * open (another zone), the batch pushes. */
static void test_windows(void **state)
{
    char fw[32], b1[32], b2[32], body[768], hhmm[8];
    sdev *d[2];
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "win");
    start_devices(t, "w", 2, SDEV_AUTO_UPGRADE, 0, d);
    bt_firmware(t, "fw_win", "2.0.0", fw, sizeof fw);
    /* closed: opens in two hours, for one hour */
    utc_hhmm(120, hhmm, sizeof hhmm);
    snprintf(body, sizeof body,
             "{\"scope\":\"directed\",\"identifiers\":[\"w1\"],\"validityDays\":1,"
             "\"policy\":\"standard\",\"timeoutMinutes\":10,\"retryTimes\":0,"
             "\"windows\":[{\"start\":\"%s\",\"durationMinutes\":60,\"timeZone\":\"UTC\"}]}",
             hhmm);
    bt_batch(t, fw, body, b1, sizeof b1);
    json_t *bj = bt_batch_get(t, b1);
    assert_string_equal(bt_js(json_array_get(json_object_get(bj, "windows"), 0), "start"), hhmm);
    json_decref(bj);
    assert_int_equal(sdev_get(d[0], NULL), 0);
    bt_no_push_for(t, d[0], 0, 2000);
    bt_expect_task(t, b1, "w1", "to_push");
    /* open now in Asia/Shanghai (UTC+8, no daylight saving): from a minute ago, 10 minutes */
    utc_hhmm(8 * 60 - 1, hhmm, sizeof hhmm);
    snprintf(body, sizeof body,
             "{\"scope\":\"directed\",\"identifiers\":[\"w2\"],\"validityDays\":1,"
             "\"policy\":\"standard\",\"timeoutMinutes\":10,\"retryTimes\":0,"
             "\"windows\":[{\"start\":\"%s\",\"durationMinutes\":10,"
             "\"timeZone\":\"Asia/Shanghai\"}]}",
             hhmm);
    bt_batch(t, fw, body, b2, sizeof b2);
    bt_wait_push(t, d[1], 1, BT_SOON);
    json_decref(bt_wait_batch(t, b2, "completed", BT_SOON));
    bt_no_push_for(t, d[0], 0, 10);
}

/* confirmMinutes: a device that succeeded and falls back to another version within the
 * confirmation is failed with rolled_back and counted by the brakes; the batch completes
 * only once the other successes are confirmed. */
static void test_rolled_back(void **state)
{
    char fw[32], b[32];
    sdev *r[2];
    bt_ctx *t = bt_new(state, 60); /* confirmMinutes 10 = 10 s: room for a loaded machine */
    bt_product(t, "rollback");
    start_devices(t, "r", 2, SDEV_AUTO_UPGRADE, 0, r);
    bt_firmware(t, "fw_rollback", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\","
             "\"timeoutMinutes\":1440,\"retryTimes\":0,\"confirmMinutes\":10,\"rollout\":"
             "{\"abort\":[{\"reason\":\"rolled_back\",\"thresholdPercent\":50,"
             "\"minFinished\":2}]}}",
             b, sizeof b);
    json_decref(bt_wait_task(t, b, "r1", "succeeded", BT_SOON));
    json_decref(bt_wait_task(t, b, "r2", "succeeded", BT_SOON));
    json_t *bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "state"), "in_progress"); /* confirmations pending */
    assert_int_equal(bt_int(bj, "confirmMinutes"), 10);
    json_decref(bj);
    /* r1 boots back into its old image */
    assert_int_equal(sdev_version(r[0], "1.0.0"), 0);
    json_t *task = bt_wait_task(t, b, "r1", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "rolled_back");
    json_decref(task);
    bj = bt_wait_batch(t, b, "paused", BT_SOON);
    json_t *why = json_object_get(bj, "pauseReason");
    assert_string_equal(bt_js(why, "reason"), "rolled_back");
    assert_int_equal(bt_int(why, "finished"), 2);
    assert_int_equal(bt_int(why, "failed"), 1);
    assert_int_equal(bt_int(bj, "succeeded"), 1);
    assert_int_equal(bt_int(bj, "failed"), 1);
    json_decref(bj);
    /* r2's confirmation ends: every device final, the batch completes */
    bj = bt_wait_batch(t, b, "completed", BT_SOON * 2);
    json_decref(bj);
    /* confirmed: a later version report changes nothing */
    assert_int_equal(sdev_version(r[1], "1.0.0"), 0);
    sdev_sleep_ms(300);
    bt_expect_task(t, b, "r2", "succeeded");
    bt_check_counts(t, b);
}

/* Refusals name the field. */
static void test_rollout_refusals(void **state)
{
    char fw[32];
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "refuse");
    bt_device(t, "r1");
    bt_dev_start(t, "r1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "r1", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_refuse", "2.0.0", fw, sizeof fw);
    static const struct {
        const char *rollout, *field;
        long status;
    } cases[] = {
        {"{\"phases\":[{\"percent\":60},{\"percent\":50}]}", "rollout.phases", 422},
        {"{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":101}]}",
         "rollout.abort[0].thresholdPercent", 422},
        {"{\"abort\":[{\"reason\":\"bad\",\"thresholdPercent\":10}]}",
         "rollout.abort[0].reason", 422},
        {"{\"phases\":[{\"percent\":10,\"count\":2}]}", "rollout.phases[0]", 422},
        {"{\"phases\":[{\"percent\":10},{\"identifiers\":[\"r1\"]}]}",
         "rollout.phases[1].identifiers", 422},
        {"{\"phases\":[{\"identifiers\":[\"zz\"]},{\"percent\":100}]}",
         "rollout.phases[0].identifiers", 422},
        {"{\"phases\":[{\"percent\":10,\"soakMinutes\":-1}]}",
         "rollout.phases[0].soakMinutes", 422},
        {"{\"phase\":[]}", "rollout", 400},
    };
    static const struct {
        const char *extra, *field;
    } time_cases[] = {
        {"\"startAt\":\"2020-01-01T00:00:00Z\"", "startAt"},
        {"\"startAt\":\"2099-01-01T00:00:00Z\"", "startAt"},
        {"\"startAt\":\"tomorrow\"", "startAt"},
        {"\"windows\":[{\"start\":\"02:00\",\"durationMinutes\":0,\"timeZone\":\"UTC\"}]",
         "windows[0].durationMinutes"},
        {"\"windows\":[{\"start\":\"24:00\",\"durationMinutes\":5,\"timeZone\":\"UTC\"}]",
         "windows[0].start"},
        {"\"windows\":[{\"start\":\"02:00\",\"durationMinutes\":5,\"timeZone\":\"Mars/Base\"}]",
         "windows[0].timeZone"},
        {"\"windows\":[]", "windows"},
    };
    for (size_t i = 0; i < sizeof time_cases / sizeof time_cases[0]; i++) {
        char body[512];
        oth_resp r;
        snprintf(body, sizeof body,
                 "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\","
                 "\"timeoutMinutes\":1440,\"retryTimes\":0,%s}",
                 time_cases[i].extra);
        long st = bt_batch_try(t, fw, body, NULL, 0, &r);
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        if (st != 422 || strcmp(bt_js(json_object_get(j, "error"), "field"), time_cases[i].field))
            fail_msg("time case %zu: want 422 %s, got %ld %s", i, time_cases[i].field, st,
                     r.body ? r.body : "");
        json_decref(j);
        oth_resp_free(&r);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        oth_resp r;
        snprintf(body, sizeof body,
                 "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\","
                 "\"timeoutMinutes\":1440,\"retryTimes\":0,\"rollout\":%s}",
                 cases[i].rollout);
        long st = bt_batch_try(t, fw, body, NULL, 0, &r);
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        if (st != cases[i].status ||
            strcmp(bt_js(json_object_get(j, "error"), "field"), cases[i].field) != 0)
            fail_msg("case %zu: want %ld %s, got %ld %s", i, cases[i].status, cases[i].field, st,
                     r.body ? r.body : "");
        json_decref(j);
        oth_resp_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pause_resume, bt_teardown),
        cmocka_unit_test_teardown(test_canary_pauses_before_phase2, bt_teardown),
        cmocka_unit_test_teardown(test_threshold_fires_at_crossing, bt_teardown),
        cmocka_unit_test_teardown(test_pause_rule_and_resume, bt_teardown),
        cmocka_unit_test_teardown(test_soak_across_kill9, bt_teardown),
        cmocka_unit_test_teardown(test_rollout_refusals, bt_teardown),
        cmocka_unit_test_teardown(test_scheduled_start, bt_teardown),
        cmocka_unit_test_teardown(test_windows, bt_teardown),
        cmocka_unit_test_teardown(test_rolled_back, bt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
