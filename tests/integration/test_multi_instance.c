/*
 * Two otad on one store and one broker (OTA_INSTANCE a and b: client ids otad-a/otad-b,
 * each with its own persistent session that receives every device message; no $share, see
 * docs/postgresql.md). On PostgreSQL the devices' 64 partitions are split between them by
 * leases (docs/postgresql.md, "Partitions"): the test checks through GET /api/v1/cluster
 * that each holds some and together all before the kill, and that b holds all 64 within
 * 10 s after it. On SQLite both work on every device (row locks make each transition
 * happen once). A paced batch is created on a; a is killed with SIGKILL mid-batch;
 * b must finish it: every device succeeded, and no device got two pushes with one msgId
 * (an attempt is pushed at most once). Runs on SQLite (two processes on one database file)
 * and, under scripts/pg-test.sh, on PostgreSQL. test_failover_fleet.c does the same with
 * 1,000 simulated devices.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>

#define N_DEV 8

static pid_t otad_b;
static int port_b;

static int teardown_all(void **state)
{
    if (otad_b > 0)
        oth_stop_pid(otad_b, SIGTERM, 10000);
    otad_b = 0;
    return bt_teardown(state);
}

/* Starts the second otad with the first one's environment but its own name and port. */
static void start_b(bt_ctx *t)
{
    char url[128];
    otad_b = oth_otad_start_instance(&t->env, "b", url, sizeof url);
    if (otad_b <= 0)
        fail_msg("the second otad did not become healthy (log %s/otad-b.log)", t->env.dir);
    const char *colon = strrchr(url, ':');
    assert_non_null(colon);
    port_b = atoi(colon + 1);
}

static void test_failover_mid_batch(void **state)
{
    char fw[32], b[32], body[512];
    sdev *d[N_DEV];
    bt_ctx *t = bt_alloc(state);
    /* scale 60: retryIntervalMinutes 1 = 1 s, the ack timeout 10 s = 167 ms */
    oth_env_set(&t->env, "OTA_TIME_SCALE", "60");
    oth_env_set(&t->env, "OTA_INSTANCE", "a");
    if (oth_broker_start(&t->env) != 0 || oth_otad_start(&t->env) != 0)
        fail_msg("broker or otad a did not start");
    t->up = 1;
    start_b(t);
    char base_b[64];
    snprintf(base_b, sizeof base_b, "http://127.0.0.1:%d", port_b);
    /* on PostgreSQL: b joins, a hands it its share (a lease tick a second each) */
    int leases = 0, held_a = -1, held_b = -1;
    for (int64_t until = sdev_now_ms() + 20000; sdev_now_ms() < until; sdev_sleep_ms(100)) {
        held_a = oth_partitions_held(base_b, t->env.admin_token, "a", &leases);
        held_b = oth_partitions_held(base_b, t->env.admin_token, "b", NULL);
        if (!leases || (held_a > 0 && held_b > 0 && held_a + held_b == 64))
            break;
    }
    if (leases && !(held_a > 0 && held_b > 0 && held_a + held_b == 64))
        fail_msg("the partitions are not split: a holds %d, b %d", held_a, held_b);

    bt_product(t, "failover");
    for (int i = 0; i < N_DEV; i++) {
        char id[16];
        snprintf(id, sizeof id, "f%d", i);
        bt_device(t, id);
        d[i] = bt_dev_start(t, id, "1.0.0", SDEV_AUTO_UPGRADE, 0);
        sdev_set_auto_delay(d[i], 40);
    }
    /* a batch for "all" takes the devices activated when it is created: wait until each
     * one's connection and version report are applied (the device's own instance applies them) */
    for (int i = 0; i < N_DEV; i++) {
        char id[16];
        snprintf(id, sizeof id, "f%d", i);
        bt_wait_device(t, id, 1, "1.0.0", 20000);
    }
    bt_firmware(t, "failover-fw", "2.0.0", fw, sizeof fw);
    /* paced: 2 pushes a second, so a dies with devices still waiting in its push queue;
     * retries cover an ack that went to the dying instance */
    snprintf(body, sizeof body,
             "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\",\"timeoutMinutes\":1,"
             "\"retryTimes\":3,\"retryIntervalMinutes\":1,\"maxPushPerMinute\":120}");
    bt_batch(t, fw, body, b, sizeof b);

    /* at least two succeeded through the cluster, then a dies */
    int64_t end = sdev_now_ms() + 30000;
    for (;;) {
        json_t *bj = bt_batch_get(t, b);
        int ok = bj && bt_int(bj, "succeeded") >= 2;
        json_decref(bj);
        if (ok)
            break;
        if (sdev_now_ms() > end)
            fail_msg("no progress before the kill");
        sdev_sleep_ms(BT_POLL_MS);
    }
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
    int64_t killed_ms = sdev_now_ms();
    if (leases) {
        int got = 0;
        while (sdev_now_ms() - killed_ms < 10000 &&
               (got = oth_partitions_held(base_b, t->env.admin_token, "b", NULL)) != 64)
            sdev_sleep_ms(100);
        if (got != 64)
            fail_msg("b holds %d of 64 partitions 10 s after a was killed", got);
    }

    /* from now on talk to b */
    t->env.http_port = port_b;
    snprintf(t->env.base_url, sizeof t->env.base_url, "http://127.0.0.1:%d", port_b);
    json_t *bj = bt_wait_batch(t, b, "completed", 60000);
    assert_int_equal(bt_int(bj, "total"), N_DEV);
    assert_int_equal(bt_int(bj, "succeeded"), N_DEV);
    assert_int_equal(bt_int(bj, "failed"), 0);
    json_decref(bj);
    for (int i = 0; i < N_DEV; i++) {
        if (sdev_duplicate_push_ids(d[i]) != 0)
            fail_msg("device f%d got one attempt pushed twice", i);
        assert_true(sdev_count(d[i], SDEV_PUSH) >= 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover_mid_batch, teardown_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
