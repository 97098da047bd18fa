/*
 * test_batch_lag: a device that answers in time is never failed because its answer waited
 * on our side (the broker's queue for otad, the socket, the engine's input queue). otad is
 * frozen with SIGSTOP right after a push, while the device acks, reports progress and
 * finishes; once otad runs again past the ack and upgrade deadlines, the device must be
 * `succeeded`, not `failed` with push_timeout or upgrade_timeout. A device that really
 * stays silent still times out. Health reports how late device messages reach the engine.
 * A push that waits in otad before it reaches the broker gets its whole ack timeout from
 * when it left. Presence events are ordered by the broker's times, also when a connection
 * starts and ends within one millisecond (events forged through the server account).
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_time.h"

static void freeze(bt_ctx *t, int sig)
{
    assert_true(t->env.otad_pid > 0);
    assert_int_equal(kill(t->env.otad_pid, sig), 0);
}

/* Product pk with devices a and b online at 1.0.0 (they answer nothing by themselves),
 * and a firmware 2.0.0 for it in fw. */
static void two_devices(bt_ctx *t, const char *pk, const char *a, const char *b, sdev **da,
                        sdev **db, char fw[32])
{
    char name[32];
    bt_product(t, pk);
    bt_device(t, a);
    bt_device(t, b);
    *da = bt_dev_start(t, a, "1.0.0", SDEV_AUTO_NONE, 0);
    *db = bt_dev_start(t, b, "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, a, 1, "1.0.0", BT_SOON);
    bt_wait_device(t, b, 1, "1.0.0", BT_SOON);
    snprintf(name, sizeof name, "fw_%s", pk);
    bt_firmware(t, name, "2.0.0", fw, 32);
}

static void test_answers_delayed_on_our_side_count(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 60); /* ack timeout 10 s / 60 = 167 ms; upgrade timeout 1 min = 1 s */
    sdev *answers, *silent;
    two_devices(t, "lag", "answers", "silent", &answers, &silent, fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 1, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    bt_wait_push(t, answers, 1, BT_SOON);
    bt_wait_push(t, silent, 1, BT_SOON);
    /* registered after the batch was created: not in it; its messages change nothing */
    bt_device(t, "noisy");
    sdev *noisy = bt_dev_start(t, "noisy", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "noisy", 1, "1.0.0", BT_SOON);

    /* otad stops reading. A backlog builds up in front of it (what a busy fleet makes),
     * then the device does everything in time, as the broker sees it. */
    freeze(t, SIGSTOP);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(sdev_progress(noisy, 10), 0);
    sdev_msg push;
    assert_int_equal(sdev_msg_get(answers, SDEV_PUSH, 0, &push), 0);
    assert_int_equal(sdev_ack(answers, push.msg_id, 200), 0);
    assert_int_equal(sdev_progress(answers, 50), 0);
    assert_int_equal(sdev_progress(answers, 100), 0);
    assert_int_equal(sdev_version(answers, "2.0.0"), 0);
    int64_t answered = sdev_now_ms();
    /* well past both deadlines (167 ms and 1 s after the push) on the wall clock */
    while (sdev_now_ms() < answered + 2500)
        sdev_sleep_ms(50);
    freeze(t, SIGCONT);

    json_t *task = bt_wait_task(t, b, "answers", "succeeded", BT_SOON);
    json_decref(task);
    /* the silent one still fails: its deadline is judged, only later */
    task = bt_wait_task(t, b, "silent", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    json_decref(task);
    json_t *bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "succeeded"), 1);
    assert_int_equal(bt_int(bj, "failed"), 1);
    json_decref(bj);
    bt_check_counts(t, b);

    /* health tells how far behind device messages are: caught up now */
    oth_resp r;
    assert_int_equal(bt_get(t, &r, "/api/v1/health"), 200);
    json_t *eng = json_object_get(r.json, "engine");
    assert_non_null(eng);
    json_int_t lag = json_integer_value(json_object_get(eng, "inputLagMs"));
    if (lag < 0 || lag > 2000)
        fail_msg("inputLagMs %lld after catching up", (long long)lag);
    assert_true(json_is_boolean(json_object_get(eng, "pushesHeld")));
    oth_resp_free(&r);
}

/* The other side of it: a push that waits on our side before it reaches the broker. The
 * broker is stopped, the push is committed and queued in otad behind it; the broker runs
 * again after the ack deadline has passed. The device gets the push only then and acks
 * within the ack timeout: it must not be failed. A device that never acks still is. */
static void test_pushes_delayed_on_our_side_count(void **state)
{
    char fw[32], b[32], body[512];
    bt_ctx *t = bt_new(state, 5); /* ack timeout 10 s / 5 = 2 s */
    sdev *acks, *mute;
    two_devices(t, "late", "acks", "mute", &acks, &mute, fw);

    assert_true(t->env.broker_pid > 0);
    assert_int_equal(kill(t->env.broker_pid, SIGSTOP), 0);
    int64_t stopped = sdev_now_ms();
    bt_body(body, sizeof body, "\"scope\":\"all\"", 10, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    json_decref(bt_wait_task(t, b, "acks", "pushed", BT_SOON)); /* committed, not out */
    json_decref(bt_wait_task(t, b, "mute", "pushed", BT_SOON));
    while (sdev_now_ms() < stopped + 5000) /* well past the 2 s ack deadline */
        sdev_sleep_ms(50);
    assert_int_equal(sdev_count(acks, SDEV_PUSH), 0);
    assert_int_equal(sdev_count(mute, SDEV_PUSH), 0);
    assert_int_equal(kill(t->env.broker_pid, SIGCONT), 0);

    /* the push arrives now; the device takes half its ack timeout to answer */
    bt_wait_push(t, acks, 1, BT_SOON);
    sdev_msg push;
    assert_int_equal(sdev_msg_get(acks, SDEV_PUSH, 0, &push), 0);
    while (sdev_now_ms() < push.at_ms + 1000)
        sdev_sleep_ms(20);
    assert_int_equal(sdev_ack(acks, push.msg_id, 200), 0);
    json_decref(bt_wait_task(t, b, "acks", "to_upgrade", BT_SOON));
    json_t *task = bt_wait_task(t, b, "mute", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    json_decref(task);
    bt_expect_task(t, b, "acks", "to_upgrade");
    bt_check_counts(t, b);

    /* /metrics counts the deadlines moved: both pushes left late */
    oth_resp r;
    assert_int_equal(bt_get(t, &r, "/metrics"), 200);
    const char *line = strstr(r.body, "\nota_engine_ack_deadlines_moved_total ");
    assert_non_null(line);
    long long moved = -1;
    assert_int_equal(sscanf(line, " ota_engine_ack_deadlines_moved_total %lld", &moved), 1);
    if (moved < 2)
        fail_msg("ota_engine_ack_deadlines_moved_total %lld, want >= 2", moved);
    oth_resp_free(&r);
}

/* Publishes a presence event as the broker plugin would ({"e","c","t"}). */
static void presence(sdev *srv, const char *pk, const char *id, int on, int64_t t_ms)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"e\":\"%s\",\"c\":\"%s.%s\",\"t\":%lld}",
             on ? "on" : "off", pk, id, (long long)t_ms);
    assert_int_equal(sdev_publish(srv, "ota/internal/presence", payload), 0);
}

static void test_presence_in_broker_order(void **state)
{
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "order");
    bt_device(t, "blink");
    bt_device(t, "mark");
    sdev *blink = bt_dev_start(t, "blink", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "blink", 1, "1.0.0", BT_SOON);
    sdev_disconnect(blink);
    bt_wait_device(t, "blink", 0, NULL, BT_SOON);
    sdev *srv = bt_keep(t, sdev_new_server(t->env.mqtt_port, t->env.key, "otad-forger"));
    assert_int_equal(sdev_login(srv), 0);
    int64_t t0 = ota_time_now_ms() + 1000; /* newer than anything the broker sent */

    /* a connection that ends within the millisecond it started: offline afterwards */
    presence(srv, t->pk, "blink", 1, t0);
    presence(srv, t->pk, "blink", 0, t0);
    presence(srv, t->pk, "mark", 1, t0); /* in line behind them: once it shows, they applied */
    bt_wait_device(t, "mark", 1, NULL, BT_SOON);
    bt_wait_device(t, "blink", 0, NULL, 0);

    /* an older connection's "off" arriving late does not hide a newer connection, and the
     * same connection's "on" again changes nothing */
    presence(srv, t->pk, "blink", 1, t0 + 20);
    presence(srv, t->pk, "blink", 0, t0 + 10);
    presence(srv, t->pk, "blink", 1, t0 + 20);
    presence(srv, t->pk, "mark", 0, t0 + 20);
    bt_wait_device(t, "mark", 0, NULL, BT_SOON);
    bt_wait_device(t, "blink", 1, NULL, 0);
    /* its own "off" ends it */
    presence(srv, t->pk, "blink", 0, t0 + 30);
    bt_wait_device(t, "blink", 0, NULL, BT_SOON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_answers_delayed_on_our_side_count, bt_teardown),
        cmocka_unit_test_teardown(test_pushes_delayed_on_our_side_count, bt_teardown),
        cmocka_unit_test_teardown(test_presence_in_broker_order, bt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
