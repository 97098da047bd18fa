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
 *
 * test_ddi_across_instances: hawkBit DDI devices (docs/ddi.md, "Several otad") whose
 * partitions b owns poll a, then b, then a again (5 s each, longer than the two poll
 * intervals after which a silent device is offline): each stays online all along, a batch
 * to them completes with every device succeeded (b pushes them as DDI devices: their ack
 * deadline is a poll interval longer than an MQTT device's, which they poll slower than),
 * and a failure reason that one device's "proceeding" feedback named on one instance
 * counts for its bare "closed"/"failure" sent to the other.
 *
 * test_phases_across_instances: a batch with phases and an abort rule whose devices are
 * split between the two instances' partitions (each device's partition computed here as
 * core/parts.c does), so that the event that crosses a phase's share or the rule's
 * threshold is applied by the instance that saw the fewer of the batch's other finishes:
 * the phase moves on and the rule fires at exactly that event, once, with the batch's
 * figures (docs/batches.md, "Several otad"); then a is killed mid-phase and b's gate for
 * the next phase still counts what a had applied. On PostgreSQL it runs with the
 * instances' periodic re-read a minute apart (OTA_RESYNC_MS), so each instance learns of
 * the other's batch changes through the notices alone (engine/notice.h).
 */
#include "test_batch_fixture.h"

#include <openssl/evp.h>
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

/* On PostgreSQL: b joins, a hands it its share (a lease tick a second each). Returns 1 when
 * the instances lease partitions (PostgreSQL), 0 when each works on every device (SQLite). */
static int wait_split(bt_ctx *t, const char *base_b)
{
    int leases = 0, held_a = -1, held_b = -1;
    for (int64_t until = sdev_now_ms() + 20000; sdev_now_ms() < until; sdev_sleep_ms(100)) {
        held_a = oth_partitions_held(base_b, t->env.admin_token, "a", &leases);
        held_b = oth_partitions_held(base_b, t->env.admin_token, "b", NULL);
        if (!leases || (held_a > 0 && held_b > 0 && held_a + held_b == 64))
            break;
    }
    if (leases && !(held_a > 0 && held_b > 0 && held_a + held_b == 64))
        fail_msg("the partitions are not split: a holds %d, b %d", held_a, held_b);
    return leases;
}

/* Starts the broker, otad a and otad b (OTA_INSTANCE a and b) with the environment set so
 * far; b's base URL into base_b. Returns wait_split's answer. */
static int start_two(bt_ctx *t, char *base_b, size_t cap)
{
    oth_env_set(&t->env, "OTA_INSTANCE", "a");
    if (oth_broker_start(&t->env) != 0 || oth_otad_start(&t->env) != 0)
        fail_msg("broker or otad a did not start");
    t->up = 1;
    start_b(t);
    snprintf(base_b, cap, "http://127.0.0.1:%d", port_b);
    return wait_split(t, base_b);
}

/* a killed with SIGKILL; on PostgreSQL b must hold all 64 partitions within 10 s. The test
 * talks to b from then on. */
static void kill_a(bt_ctx *t, int leases, const char *base_b)
{
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
    t->env.http_port = port_b;
    snprintf(t->env.base_url, sizeof t->env.base_url, "http://127.0.0.1:%d", port_b);
}

static void test_failover_mid_batch(void **state)
{
    char fw[32], b[32], body[512], base_b[64];
    sdev *d[N_DEV];
    bt_ctx *t = bt_alloc(state);
    /* scale 60: retryIntervalMinutes 1 = 1 s, the ack timeout 10 s = 167 ms */
    oth_env_set(&t->env, "OTA_TIME_SCALE", "60");
    int leases = start_two(t, base_b, sizeof base_b);

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
    kill_a(t, leases, base_b);
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

/* ---- DDI devices across the two instances ------------------------------------------------ */

#define N_DDI 6
#define DDI_POLL_MS 1000 /* the devices poll every second: the interval they are told is 2 s */

/* One simulated DDI device: the action it works on and how far it got. */
typedef struct {
    char id[16], auth[96];
    long long action;
    int step;      /* 0 poll, 1 fetched, 2 proceeding sent */
    int fail_once; /* its first action fails: proceeding names the cause, the close does not */
    int failed;    /* it has closed an action with failure */
} ddidev;

/* A DDI request of dev to the instance at base; the status, the answer in *r (freed by the
 * caller) when r is not NULL. */
static long ddi_req(bt_ctx *t, const char *base, const ddidev *dev, const char *method,
                    const char *rest, const char *body, oth_resp *r)
{
    char url[512];
    oth_resp tmp;
    const char *hdr[2] = {dev->auth, NULL};
    oth_resp *out = r ? r : &tmp;
    snprintf(url, sizeof url, "%s/%s/controller/v1/%s%s", base, t->pk, dev->id, rest);
    memset(out, 0, sizeof *out);
    oth_http_url(method, url, NULL, body ? "application/json" : NULL, body, body ? strlen(body) : 0,
                 hdr, out);
    long s = out->status;
    if (!r)
        oth_resp_free(&tmp);
    return s;
}

/* The partition of an identifier, as otad's core/parts.c computes it. */
static int part_of(const char *id)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(id, strlen(id), md, &n, EVP_md5(), NULL) != 1)
        fail_msg("MD5 failed");
    return md[0] % 64;
}

/* 1 when b holds partition p (every partition counts without leases). */
static int b_holds(bt_ctx *t, const char *base_b, int p)
{
    char url[128];
    oth_resp r;
    int yes = 0;
    snprintf(url, sizeof url, "%s/api/v1/cluster", base_b);
    if (oth_http_url("GET", url, t->env.admin_token, NULL, NULL, 0, NULL, &r) == 0 &&
        r.status == 200) {
        json_t *row = json_array_get(json_object_get(r.json, "leaseTable"), (size_t)p);
        yes = !json_is_true(json_object_get(r.json, "leases")) ||
              (strcmp(bt_js(row, "owner"), "b") == 0 &&
               json_is_true(json_object_get(row, "valid")));
    }
    oth_resp_free(&r);
    return yes;
}

/* One turn of dev against the instance at base: a poll, or the next step of its action
 * (fetch, proceeding, close). other: where the failing device sends its close. */
static void ddi_turn(bt_ctx *t, const char *base, const char *other, ddidev *dev)
{
    oth_resp r;
    char rest[160], fb[400];
    if (dev->step == 0) {
        if (ddi_req(t, base, dev, "GET", "", NULL, &r) != 200)
            fail_msg("poll of %s at %s: %ld %s", dev->id, base, r.status, r.body ? r.body : "");
        const char *href = bt_js(json_object_get(json_object_get(r.json, "_links"),
                                                 "deploymentBase"), "href");
        const char *a = strstr(href, "/deploymentBase/");
        if (a && strtoll(a + 16, NULL, 10) != dev->action) {
            dev->action = strtoll(a + 16, NULL, 10);
            dev->step = 1;
        }
        oth_resp_free(&r);
        if (dev->step == 0)
            return;
    }
    if (dev->step == 1) { /* fetching the deployment is the ack */
        snprintf(rest, sizeof rest, "/deploymentBase/%lld", dev->action);
        if (ddi_req(t, base, dev, "GET", rest, NULL, NULL) != 200)
            fail_msg("fetch of %s's action %lld at %s failed", dev->id, dev->action, base);
        dev->step = 2;
        return;
    }
    snprintf(rest, sizeof rest, "/deploymentBase/%lld/feedback", dev->action);
    if (dev->step == 2) {
        /* as SWUpdate reports its installer's error before it closes with a bare failure */
        snprintf(fb, sizeof fb,
                 "{\"id\":\"%lld\",\"status\":{\"execution\":\"proceeding\",\"result\":{"
                 "\"finished\":\"none\",\"progress\":{\"cnt\":1,\"of\":2}},\"details\":[%s]}}",
                 dev->action,
                 dev->fail_once && !dev->failed ? "\"ERROR : HASH mismatch : a1b2 <--> c3d4\""
                                                : "\"Installing\"");
        if (ddi_req(t, base, dev, "POST", rest, fb, NULL) != 200)
            fail_msg("proceeding of %s at %s failed", dev->id, base);
        dev->step = 3;
        return;
    }
    if (dev->fail_once && !dev->failed) {
        snprintf(fb, sizeof fb,
                 "{\"id\":\"%lld\",\"status\":{\"execution\":\"closed\",\"result\":{"
                 "\"finished\":\"failure\"},\"details\":[\"Update failed\"]}}",
                 dev->action);
        if (ddi_req(t, other, dev, "POST", rest, fb, NULL) != 200)
            fail_msg("the failure of %s at %s was refused", dev->id, other);
        dev->failed = 1;
    } else {
        snprintf(fb, sizeof fb,
                 "{\"id\":\"%lld\",\"status\":{\"execution\":\"closed\",\"result\":{"
                 "\"finished\":\"success\"}}}",
                 dev->action);
        if (ddi_req(t, base, dev, "POST", rest, fb, NULL) != 200)
            fail_msg("the success of %s at %s was refused", dev->id, base);
    }
    dev->step = 0;
}

static void test_ddi_across_instances(void **state)
{
    char fw[32], b[32], body[512], base_a[64], base_b[64];
    ddidev dev[N_DDI];
    bt_ctx *t = bt_alloc(state);
    /* scale 30: the poll interval 60 s = 2 s (offline after 4 s of silence), the ack
     * timeout 10 s = 333 ms (an MQTT device's: the devices poll slower), retries 2 s apart */
    oth_env_set(&t->env, "OTA_TIME_SCALE", "30");
    oth_env_set(&t->env, "OTA_DDI_POLL_SECONDS", "60");
    int leases = start_two(t, base_b, sizeof base_b);
    snprintf(base_a, sizeof base_a, "%s", t->env.base_url);
    bt_product(t, "ddi-multi");
    /* devices of partitions b owns (all of them on SQLite, where each works on every one) */
    memset(dev, 0, sizeof dev);
    for (int k = 0, n = 0; n < N_DDI; k++) {
        char secret[40], id[16];
        snprintf(id, sizeof id, "m%d", k);
        if (k > 2000)
            fail_msg("no identifier of b's partitions");
        if (leases && !b_holds(t, base_b, part_of(id)))
            continue;
        snprintf(dev[n].id, sizeof dev[n].id, "%s", id);
        bt_device(t, id);
        assert_int_equal(oth_device_secret(&t->env, t->pk, id, secret), 0);
        snprintf(dev[n].auth, sizeof dev[n].auth, "Authorization: TargetToken %s", secret);
        n++;
    }
    dev[0].fail_once = 1;
    for (int i = 0; i < N_DDI; i++) {
        ddi_turn(t, base_a, base_b, &dev[i]);
        bt_wait_device(t, dev[i].id, 1, NULL, BT_SOON);
    }
    bt_firmware(t, "ddi-multi-fw", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 5, 1, 1);
    bt_batch(t, fw, body, b, sizeof b);

    /* a for 5 s, b for 5 s, a again (at least 12 s: each instance has been left by the
     * devices for longer than two intervals): each device a turn a second */
    int64_t t0 = sdev_now_ms(), last = t0;
    int seen_reason = 0;
    json_t *bj = NULL;
    for (int turn = 0;; turn++) {
        int64_t now = sdev_now_ms();
        int on_b = (now - t0) / 5000 % 2 == 1;
        const char *here = on_b ? base_b : base_a, *other = on_b ? base_a : base_b;
        /* online all along while they poll one instance or the other, seen before a turn's
         * polls (a poll would bring an offline device back; a turn that came late, a
         * stalled machine, proves nothing) */
        if (turn > 0 && now - last < 2000 && now - t0 > 6000)
            for (int i = 0; i < N_DDI; i++) {
                oth_resp r;
                assert_int_equal(bt_get(t, &r, "/api/v1/products/%s/devices/%s", t->pk,
                                        dev[i].id),
                                 200);
                if (!json_is_true(json_object_get(r.json, "online")))
                    fail_msg("%s is offline %lld ms after its last poll", dev[i].id,
                             (long long)(sdev_now_ms() - last));
                oth_resp_free(&r);
            }
        for (int i = 0; i < N_DDI; i++)
            ddi_turn(t, here, other, &dev[i]);
        last = now;
        if (dev[0].failed && !seen_reason) {
            /* the close named no cause; the proceeding sent to the other instance did */
            json_t *task = bt_wait_task(t, b, dev[0].id, "to_retry", BT_SOON);
            assert_string_equal(bt_reason(task), "verify_failed");
            json_decref(task);
            seen_reason = 1;
        }
        bj = bt_batch_get(t, b);
        if (bj && strcmp(bt_js(bj, "state"), "completed") == 0 && now - t0 > 12000)
            break;
        json_decref(bj);
        bj = NULL;
        if (now - t0 > 60000) {
            oth_dump_logs(&t->env);
            fail_msg("the batch did not complete in 60 s");
        }
        sdev_sleep_ms(DDI_POLL_MS - (sdev_now_ms() - now) % DDI_POLL_MS);
    }
    assert_int_equal(bt_int(bj, "total"), N_DDI);
    assert_int_equal(bt_int(bj, "succeeded"), N_DDI);
    assert_int_equal(bt_int(bj, "failed"), 0);
    json_decref(bj);
    assert_true(seen_reason);
    json_t *task = bt_task(t, b, dev[0].id);
    assert_int_equal(bt_int(task, "retried"), 1);
    json_decref(task);
    bt_check_counts(t, b);
}

/* A fresh identifier "<prefix><n>" whose partition a (owner 0) or b (owner 1) leases. */
static void pick_id(const char *prefix, int owner, int *n, char *out, size_t cap)
{
    do
        snprintf(out, cap, "%s%d", prefix, (*n)++);
    while (part_of(out) % 2 != owner);
}

static json_t *phase_row(json_t *bj, int k)
{
    return json_array_get(json_object_get(bj, "phases"), (size_t)k);
}

/* The batch as the API shows it, with its current phase checked. */
static json_t *batch_in_phase(bt_ctx *t, const char *b, const char *state, int phase)
{
    json_t *bj = bt_batch_get(t, b);
    assert_non_null(bj);
    if (strcmp(bt_js(bj, "state"), state) != 0 || bt_int(bj, "currentPhase") != phase)
        fail_msg("batch %s is %s in phase %d, want %s in phase %d", b, bt_js(bj, "state"),
                 bt_int(bj, "currentPhase"), state, phase);
    return bj;
}

#define PH_DEV 10

static void test_phases_across_instances(void **state)
{
    /* devices in creation order (= phase order): phase 1 a a b b, phase 2 a a b b,
     * phase 3 a b; 'a'/'b' is the instance whose partition holds the device */
    static const int owner[PH_DEV] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 1};
    char fw[32], b[32], body[1024], id[PH_DEV][16], path[96];
    sdev *d[PH_DEV];
    char base_b[64];
    int n = 0;
    bt_ctx *t = bt_alloc(state);
    oth_env_set(&t->env, "OTA_TIME_SCALE", "30");
    /* on PostgreSQL each instance hears of the other's batch changes by notices: with the
     * re-read that would make up for them a minute away, every step below that waits
     * BT_SOON for the other instance proves a notice (the batch created on a reaching b,
     * each phase moved on by one reaching the other, the rule's pause, the resume) */
    if (getenv("OTA_TEST_PG_URL"))
        oth_env_set(&t->env, "OTA_RESYNC_MS", "60000");
    int leases = start_two(t, base_b, sizeof base_b);
    /* a leases the even partitions, b the odd ones (parts_plan: position p mod 2) */
    for (int64_t until = sdev_now_ms() + 10000;
         leases && oth_partitions_held(base_b, t->env.admin_token, "a", NULL) != 32;
         sdev_sleep_ms(100))
        if (sdev_now_ms() > until)
            fail_msg("a does not hold its 32 partitions");

    bt_product(t, "phased");
    for (int i = 0; i < PH_DEV; i++) {
        pick_id("ph", owner[i], &n, id[i], sizeof id[i]);
        bt_device(t, id[i]);
        d[i] = bt_dev_start(t, id[i], "1.0.0", SDEV_AUTO_ACK, 0);
    }
    for (int i = 0; i < PH_DEV; i++)
        bt_wait_device(t, id[i], 1, "1.0.0", 20000);
    bt_firmware(t, "phased-fw", "2.0.0", fw, sizeof fw);
    snprintf(body, sizeof body,
             "{\"scope\":\"all\",\"validityDays\":7,\"policy\":\"standard\","
             "\"timeoutMinutes\":1440,\"retryTimes\":0,\"rollout\":{\"phases\":["
             "{\"count\":4,\"minSuccessPercent\":50},{\"count\":4,\"minSuccessPercent\":75},"
             "{\"percent\":100}],\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":50,"
             "\"minFinished\":4}]}}");
    bt_batch(t, fw, body, b, sizeof b);
    for (int i = 0; i < 4; i++)
        json_decref(bt_wait_task(t, b, id[i], "to_upgrade", BT_SOON));

    /* phase 1's share is 2 of 4: a's device succeeds (1 of 4), then b's (2 of 4), which b
     * applies having seen none of the others: the phase moves on at that event */
    assert_int_equal(sdev_version(d[0], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, id[0], "succeeded", BT_SOON));
    json_decref(batch_in_phase(t, b, "in_progress", 1));
    for (int i = 4; i < PH_DEV; i++)
        assert_int_equal(sdev_count(d[i], SDEV_PUSH), 0);
    assert_int_equal(sdev_version(d[2], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, id[2], "succeeded", BT_SOON));
    json_decref(batch_in_phase(t, b, "in_progress", 2));
    for (int i = 4; i < 8; i++)
        json_decref(bt_wait_task(t, b, id[i], "to_upgrade", BT_SOON));
    assert_int_equal(sdev_count(d[8], SDEV_PUSH), 0);
    assert_int_equal(sdev_count(d[9], SDEV_PUSH), 0);

    /* the rule (any failure, 50 %, at least 4 finished): a's device fails (3 finished, 1
     * failed), then b's (4 finished, 2 failed): that event pauses the batch, with the
     * batch's figures, though b applied only 2 of the 4 */
    assert_int_equal(sdev_progress(d[1], -4), 0);
    json_decref(bt_wait_task(t, b, id[1], "failed", BT_SOON));
    json_decref(batch_in_phase(t, b, "in_progress", 2));
    assert_int_equal(sdev_progress(d[3], -4), 0);
    json_t *bj = bt_wait_batch(t, b, "paused", BT_SOON);
    json_t *why = json_object_get(bj, "pauseReason");
    assert_string_equal(bt_js(why, "by"), "rule");
    assert_int_equal(bt_int(why, "rule"), 1);
    assert_int_equal(bt_int(why, "finished"), 4);
    assert_int_equal(bt_int(why, "failed"), 2);
    assert_true(json_real_value(json_object_get(why, "failedPercent")) == 50.0);
    assert_int_equal(bt_int(why, "phase"), 2);
    json_decref(bj);

    /* resumed, the rule does not fire again on a: 5 finished, 3 failed (60 %) */
    oth_resp r;
    snprintf(path, sizeof path, "/api/v1/batches/%s/resume", b);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);
    assert_int_equal(sdev_progress(d[4], -2), 0);
    json_decref(bt_wait_task(t, b, id[4], "failed", BT_SOON));
    json_decref(batch_in_phase(t, b, "in_progress", 2));

    /* a dies mid-phase; b takes its partitions and judges phase 2's share (3 of 4) on
     * what a had applied too */
    kill_a(t, leases, base_b);
    assert_int_equal(sdev_version(d[5], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, id[5], "succeeded", BT_SOON));
    assert_int_equal(sdev_version(d[6], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, id[6], "succeeded", BT_SOON));
    json_decref(batch_in_phase(t, b, "in_progress", 2));
    assert_int_equal(sdev_count(d[8], SDEV_PUSH), 0);
    assert_int_equal(sdev_version(d[7], "2.0.0"), 0);
    json_decref(bt_wait_task(t, b, id[7], "succeeded", BT_SOON));
    json_decref(batch_in_phase(t, b, "in_progress", 3));
    for (int i = 8; i < PH_DEV; i++) {
        json_decref(bt_wait_task(t, b, id[i], "to_upgrade", BT_SOON));
        assert_int_equal(sdev_version(d[i], "2.0.0"), 0);
    }
    bj = bt_wait_batch(t, b, "completed", BT_SOON);
    assert_int_equal(bt_int(bj, "succeeded"), 7);
    assert_int_equal(bt_int(bj, "failed"), 3);
    static const int want[3][3] = {{4, 2, 2}, {4, 3, 1}, {2, 2, 0}};
    for (int k = 0; k < 3; k++) {
        json_t *ph = phase_row(bj, k);
        assert_int_equal(bt_int(ph, "devices"), want[k][0]);
        assert_int_equal(bt_int(ph, "succeeded"), want[k][1]);
        assert_int_equal(bt_int(ph, "failed"), want[k][2]);
    }
    json_decref(bj);
    bt_check_counts(t, b);
    for (int i = 0; i < PH_DEV; i++)
        assert_int_equal(sdev_count(d[i], SDEV_PUSH), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover_mid_batch, teardown_all),
        cmocka_unit_test_teardown(test_ddi_across_instances, teardown_all),
        cmocka_unit_test_teardown(test_phases_across_instances, teardown_all),
    };
    if (getenv("BT_FILTER"))
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
