/*
 * test_batch_durable: nothing lost or repeated across kill -9 (docs/operations.md,
 * "Durability"). otad is killed with SIGKILL in the middle
 * of a batch (a push just sent and not acked, devices acked or upgrading, a device about
 * to be pushed) while the broker and the devices keep running; then started again. The
 * batch must continue and complete, the counts must equal the devices' real states, no
 * push may reach a device twice with one msgId, deadlines that passed while otad was down
 * must fire at start, and presence must be rebuilt from the broker.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void restart(bt_ctx *t)
{
    if (oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("otad did not start again");
    }
}

static void kill9(bt_ctx *t)
{
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
}

static void test_rule8_kill9_mid_batch(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 10); /* ack timeout 1 s; retry interval 1 min = 6 s */
    bt_product(t, "rule8");
    const char *ids[] = {"up", "mute", "stay", "gone", "late"};
    for (size_t i = 0; i < 5; i++)
        bt_device(t, ids[i]);
    sdev *up = bt_dev_start(t, "up", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    sdev *stay = bt_dev_start(t, "stay", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *gone = bt_dev_start(t, "gone", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev *mute = bt_dev_activated_offline(t, "mute", "1.0.0", SDEV_AUTO_NONE, 0);
    sdev *late = bt_dev_activated_offline(t, "late", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "up", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "stay", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "gone", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule8", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":1,\"retryIntervalMinutes\":1}",
             b, sizeof b);
    json_decref(bt_wait_task(t, b, "up", "succeeded", BT_SOON));
    json_decref(bt_wait_task(t, b, "stay", "to_upgrade", BT_SOON));
    json_decref(bt_wait_task(t, b, "gone", "to_upgrade", BT_SOON));
    bt_expect_task(t, b, "mute", "to_push");
    bt_expect_task(t, b, "late", "to_push");

    /* mute comes online and is pushed; otad dies before its ack deadline (1 s) */
    assert_int_equal(sdev_start(mute, "1.0.0"), 0);
    bt_wait_push(t, mute, 1, BT_SOON);
    kill9(t);
    int64_t killed_at = sdev_now_ms();
    sdev_msg first;
    assert_int_equal(sdev_msg_get(mute, SDEV_PUSH, 0, &first), 0);
    assert_true(killed_at - first.at_ms < 1000); /* it died with the task still pushed */

    /* while otad is down: stay reports progress (queued for otad by the broker), gone
     * disconnects, late connects and reports its version */
    assert_int_equal(sdev_progress(stay, 40), 0);
    sdev_disconnect(gone);
    assert_int_equal(sdev_start(late, "1.0.0"), 0);
    /* the ack deadline passes while otad is down */
    while (sdev_now_ms() < first.at_ms + 1500)
        sdev_sleep_ms(50);
    restart(t);

    /* the passed ack deadline fired at start: push_timeout with a retry left */
    json_t *task = bt_wait_task(t, b, "mute", "to_retry", BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    assert_int_equal(bt_int(task, "retried"), 0);
    json_decref(task);
    /* presence rebuilt from the broker */
    bt_wait_device(t, "gone", 0, NULL, BT_SOON);
    bt_wait_device(t, "stay", 1, NULL, BT_SOON);
    task = bt_task(t, b, "gone");
    assert_false(json_is_true(json_object_get(task, "online")));
    json_decref(task);
    /* the progress sent while otad was down was not lost */
    task = bt_wait_task(t, b, "stay", "upgrading", BT_SOON);
    assert_int_equal(bt_int(task, "progress"), 40);
    json_decref(task);
    /* late connected and reported while otad was down: pushed now, and upgrades */
    bt_wait_push(t, late, 1, BT_SOON);
    json_decref(bt_wait_task(t, b, "late", "succeeded", BT_SOON));
    bt_check_counts(t, b);

    /* second kill while mute waits for its retry; the retry falls due while otad is down */
    int64_t retry_seen = sdev_now_ms();
    kill9(t);
    sdev_set_auto(mute, SDEV_AUTO_UPGRADE, 0);
    while (sdev_now_ms() < retry_seen + 6500)
        sdev_sleep_ms(50);
    assert_int_equal(sdev_count(mute, SDEV_PUSH), 1);
    restart(t);
    bt_wait_push(t, mute, 2, BT_SOON);
    sdev_msg second;
    assert_int_equal(sdev_msg_get(mute, SDEV_PUSH, 1, &second), 0);
    assert_string_not_equal(first.msg_id, second.msg_id);
    task = bt_wait_task(t, b, "mute", "succeeded", BT_SOON);
    assert_int_equal(bt_int(task, "retried"), 1);
    json_decref(task);

    /* the others finish */
    assert_int_equal(sdev_version(stay, "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, "stay", "succeeded", BT_SOON));
    assert_int_equal(sdev_start(gone, "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, "gone", "succeeded", BT_SOON));
    json_t *bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "total"), 5);
    assert_int_equal(bt_int(bj, "succeeded"), 5);
    assert_int_equal(bt_int(bj, "failed"), 0);
    assert_false(json_is_null(json_object_get(bj, "endTime")));
    json_decref(bj);
    bt_check_counts(t, b);

    /* every push attempt reached its device once */
    sdev *all[] = {up, mute, stay, gone, late};
    const int want[] = {1, 2, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sdev_duplicate_push_ids(all[i]), 0);
        if (sdev_count(all[i], SDEV_PUSH) != want[i])
            fail_msg("device %s got %d pushes, want %d", ids[i], sdev_count(all[i], SDEV_PUSH),
                     want[i]);
    }
}

/* A kill -9 right after batch creation: the batch and its pushes survive. */
static void test_rule8_kill9_after_create(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "rule8b");
    enum { N = 20 };
    char ids[N][16];
    sdev *d[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "k%d", i);
        bt_device(t, ids[i]);
        d[i] = bt_dev_start(t, ids[i], "1.0.0", SDEV_AUTO_UPGRADE, 0);
    }
    for (int i = 0; i < N; i++)
        bt_wait_device(t, ids[i], 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule8b", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":1,\"retryIntervalMinutes\":1}",
             b, sizeof b);
    kill9(t);
    restart(t);
    json_t *bj = bt_wait_batch(t, b, "completed", 6000 + BT_SOON);
    assert_int_equal(bt_int(bj, "total"), N);
    assert_int_equal(bt_int(bj, "succeeded"), N);
    json_decref(bj);
    bt_check_counts(t, b);
    for (int i = 0; i < N; i++) {
        assert_int_equal(sdev_duplicate_push_ids(d[i]), 0);
        bt_wait_device(t, ids[i], 1, "2.0.0", BT_SOON);
    }
}

/* The validity end passes while otad is down: the batch is terminated at start. */
static void test_rule8_validity_end_while_down(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 43200); /* one day = 2 s */
    bt_product(t, "rule8v");
    bt_device(t, "w1");
    sdev *w1 = bt_dev_activated_offline(t, "w1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_firmware(t, "fw_rule8v", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":0}",
             b, sizeof b);
    json_t *bj = bt_batch_get(t, b);
    int64_t exp = bt_rfc3339_ms(bt_js(bj, "expiresTime"));
    assert_string_equal(bt_js(bj, "state"), "in_progress");
    json_decref(bj);
    kill9(t);
    /* the device comes online while otad is down */
    assert_int_equal(sdev_start(w1, "1.0.0"), 0);
    sdev_sleep_ms(2600);
    restart(t);
    bj = bt_wait_batch(t, b, "terminated", BT_SOON);
    assert_true(bt_rfc3339_ms(bt_js(bj, "endTime")) >= exp);
    json_decref(bj);
    json_t *task = bt_wait_task(t, b, "w1", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "terminated");
    json_decref(task);
    bt_no_push_for(t, w1, 0, 500);
}

/* Devices online and ready but still to_push (held back by the push pace) when otad is
 * killed, and silent since: the presence snapshot at start must still get them pushed. */
static void test_rule8_paced_devices_pushed_after_restart(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "rule8p");
    const char *ids[] = {"p1", "p2", "p3"};
    sdev *d[3];
    for (int i = 0; i < 3; i++) {
        bt_device(t, ids[i]);
        d[i] = bt_dev_start(t, ids[i], "1.0.0", SDEV_AUTO_UPGRADE, 0);
    }
    for (int i = 0; i < 3; i++)
        bt_wait_device(t, ids[i], 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_rule8p", "2.0.0", fw, sizeof fw);
    /* 20 pushes a minute (not scaled): one every 3 s */
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":0,\"maxPushPerMinute\":20}",
             b, sizeof b);
    /* wait for the first push, whichever device gets it */
    int64_t end = sdev_now_ms() + BT_SOON;
    int first = -1;
    while (first < 0 && sdev_now_ms() < end) {
        for (int i = 0; i < 3 && first < 0; i++)
            if (sdev_count(d[i], SDEV_PUSH) > 0)
                first = i;
        sdev_sleep_ms(5);
    }
    if (first < 0) {
        oth_dump_logs(&t->env);
        fail_msg("no push within %d ms", BT_SOON);
    }
    kill9(t);
    int pushed_before = 0;
    for (int i = 0; i < 3; i++)
        pushed_before += sdev_count(d[i], SDEV_PUSH);
    assert_int_equal(pushed_before, 1);
    restart(t);
    /* the two others are pushed (paced) without saying anything more */
    json_t *bj = bt_wait_batch(t, b, "completed", 6000 + 2 * BT_SOON);
    assert_int_equal(bt_int(bj, "succeeded"), 3);
    json_decref(bj);
    bt_check_counts(t, b);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sdev_count(d[i], SDEV_PUSH), 1);
        assert_int_equal(sdev_duplicate_push_ids(d[i]), 0);
    }
}

/* Repeated kill -9 at random moments while 12 devices upgrade (2 of them connect during
 * the storm, one while otad is down): the batch still completes, every device that
 * upgraded is succeeded, the counts equal the rows, and no push was repeated. */
static void test_rule8_kill9_storm(void **state)
{
    enum { N = 12, KILLS = 4 };
    char fw[32], b[32], ids[N][16];
    sdev *d[N];
    unsigned seed = (unsigned)sdev_now_ms();
    if (getenv("BT_SEED"))
        seed = (unsigned)strtoul(getenv("BT_SEED"), NULL, 10);
    fprintf(stderr, "kill9 storm: BT_SEED=%u\n", seed);
    bt_ctx *t = bt_new(state, 30); /* ack timeout 333 ms, retry interval 2 s */
    bt_product(t, "storm");
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "s%02d", i);
        bt_device(t, ids[i]);
        if (i < N - 2)
            d[i] = bt_dev_start(t, ids[i], "1.0.0", SDEV_AUTO_UPGRADE, 0);
        else
            d[i] = bt_dev_activated_offline(t, ids[i], "1.0.0", SDEV_AUTO_UPGRADE, 0);
    }
    for (int i = 0; i < N - 2; i++)
        bt_wait_device(t, ids[i], 1, "1.0.0", BT_SOON);
    /* answers spread over 320 ms (ack at 80 ms, inside the 333 ms ack timeout) so kills
     * fall between push, ack, progress and version report */
    for (int i = 0; i < N; i++)
        sdev_set_auto_delay(d[i], 80);
    bt_firmware(t, "fw_storm", "2.0.0", fw, sizeof fw);
    /* paced (300 a minute: one every 200 ms) so pushes straddle the kills */
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":5,\"retryIntervalMinutes\":1,\"maxPushPerMinute\":300}",
             b, sizeof b);
    for (int k = 0; k < KILLS; k++) {
        sdev_sleep_ms(50 + (int)(rand_r(&seed) % 550));
        kill9(t);
        if (k == 1)
            assert_int_equal(sdev_start(d[N - 2], "1.0.0"), 0); /* comes while otad is down */
        sdev_sleep_ms(100 + (int)(rand_r(&seed) % 800)); /* often past the ack timeout */
        restart(t);
        if (k == 2)
            assert_int_equal(sdev_start(d[N - 1], "1.0.0"), 0);
    }
    json_t *bj = bt_wait_batch(t, b, "completed", 4 * 2000 + 2 * BT_SOON);
    assert_int_equal(bt_int(bj, "total"), N);
    assert_int_equal(bt_int(bj, "succeeded"), N);
    json_decref(bj);
    bt_check_counts(t, b);
    int all_pushes = 0, all_retried = 0;
    for (int i = 0; i < N; i++) {
        json_t *task = bt_task(t, b, ids[i]);
        assert_non_null(task);
        int got = sdev_count(d[i], SDEV_PUSH);
        all_pushes += got;
        all_retried += bt_int(task, "retried");
        if (sdev_duplicate_push_ids(d[i]) != 0 || got < 1 || got > bt_int(task, "retried") + 1)
            fail_msg("device %s: %d pushes received (%d with a repeated msgId), task retried %d",
                     ids[i], got, sdev_duplicate_push_ids(d[i]), bt_int(task, "retried"));
        assert_string_equal(bt_js(task, "currentVersion"), "2.0.0");
        json_decref(task);
    }
    fprintf(stderr, "kill9 storm: %d pushes received, %d retries counted\n", all_pushes, all_retried);
}

/* With the partition sessions (PostgreSQL; docs/broker.md, "Partition topics") a device
 * message is acknowledged to the broker only once the engine has committed it. A device's
 * version report is read while a transaction from outside holds the tasks table, so the
 * engine's round waits on it; otad is killed then. Started again, it must get the report
 * once more from its partition's session and the device must succeed. When the PUBACK left
 * as the report was read, the broker had dropped it and the task stayed upgrading. */
static void test_rule8_kill9_before_commit(void **state)
{
    if (!getenv("OTA_TEST_PG_URL"))
        skip(); /* SQLite: one session, no partitions */
    char fw[32], b[32], cmd[1400];
    bt_ctx *t = bt_alloc(state);
    oth_env_set(&t->env, "OTA_TIME_SCALE", "10");
    oth_env_set(&t->env, "OTA_PARTITION_SESSIONS", "1");
    bt_start(t);
    bt_product(t, "commit");
    bt_device(t, "v");
    sdev *d = bt_dev_start(t, "v", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "v", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_commit", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":1440,"
             "\"retryTimes\":0}",
             b, sizeof b);
    json_decref(bt_wait_task(t, b, "v", "to_upgrade", BT_SOON));
    assert_int_equal(sdev_progress(d, 100), 0);
    json_decref(bt_wait_task(t, b, "v", "upgrading", BT_SOON));

    /* the lock for 2 s, from a psql of its own; taken before the report is sent */
    snprintf(cmd, sizeof cmd,
             "psql -X -q -d '%s' -c 'BEGIN' -c 'LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE'"
             " -c 'SELECT pg_sleep(2)' -c 'COMMIT' > /dev/null 2>&1 &",
             t->env.pg_url);
    assert_int_equal(system(cmd), 0);
    sdev_sleep_ms(400);
    /* the lock must be held, or the test would pass with the PUBACK leaving early */
    snprintf(cmd, sizeof cmd,
             "psql -X -Atq -d '%s' -c \"SELECT count(*) FROM pg_locks WHERE granted AND"
             " mode = 'AccessExclusiveLock' AND relation = 'tasks'::regclass\"",
             t->env.pg_url);
    char held[16] = "";
    FILE *q = popen(cmd, "r");
    assert_non_null(q);
    if (!fgets(held, sizeof held, q))
        held[0] = '\0';
    pclose(q);
    assert_int_equal(atoi(held), 1);
    assert_int_equal(sdev_version(d, "2.0.0"), 0);
    /* read by the partition's session, the engine's round waits on the lock (and so would
     * any API call that reads the tasks: none is made until it is gone) */
    sdev_sleep_ms(600);
    kill9(t);
    sdev_sleep_ms(1500); /* the lock is gone, and with it the dead otad's round */
    restart(t);
    json_decref(bt_wait_task(t, b, "v", "succeeded", BT_SOON));
    bt_check_counts(t, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rule8_kill9_mid_batch, bt_teardown),
        cmocka_unit_test_teardown(test_rule8_kill9_after_create, bt_teardown),
        cmocka_unit_test_teardown(test_rule8_validity_end_while_down, bt_teardown),
        cmocka_unit_test_teardown(test_rule8_paced_devices_pushed_after_restart, bt_teardown),
        cmocka_unit_test_teardown(test_rule8_kill9_storm, bt_teardown),
        cmocka_unit_test_teardown(test_rule8_kill9_before_commit, bt_teardown),
    };
    if (getenv("BT_FILTER")) /* e.g. BT_FILTER=test_rule5* */
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests_name("batch_durable", tests, NULL, NULL);
}
