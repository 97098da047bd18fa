/*
 * test_batch_api: the batch API of docs/api.md (parameter rules, lists and
 * filters, detail fields, device rows, firmware in use), the devices' signed firmware
 * downloads (section 4: bytes, Range, tampering, end of batch), and the engine's
 * robustness against malformed device messages. Real broker, real otad, scripted devices.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sys/wait.h>

static void md5_hex(const unsigned char *data, size_t len, char out[33])
{
    unsigned char d[16];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A batch request that breaks a rule: 400 or 422 naming `field`. */
static void expect_refused(bt_ctx *t, const char *fw, const char *body, const char *field,
                           long want_status)
{
    oth_resp r;
    long st = bt_batch_try(t, fw, body, NULL, 0, &r);
    int ok = want_status ? st == want_status : (st == 400 || st == 422);
    if (!ok || (field && strcmp(oth_err_field(&r), field) != 0))
        fail_msg("batch %s: want %ld%s naming %s, got %ld %s", body, want_status,
                 want_status ? "" : "(400/422)", field ? field : "-", st, r.body);
    oth_resp_free(&r);
}

static void terminate(bt_ctx *t, const char *b, long want)
{
    oth_resp r;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b);
    if (bt_post(t, path, "", &r) != want)
        fail_msg("terminate %s: want %ld, got %ld %s", b, want, r.status, r.body);
    oth_resp_free(&r);
}

/* The batch ids of GET /api/v1/batches?<query>, as a space-separated list " id id ". */
static void list_ids(bt_ctx *t, const char *query, char *out, size_t cap, long *status)
{
    oth_resp r;
    size_t used = 0;
    *status = bt_get(t, &r, "/api/v1/batches?pageSize=1000%s%s", query[0] ? "&" : "", query);
    out[0] = '\0';
    if (*status == 200) {
        json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        used = (size_t)snprintf(out, cap, " ");
        json_array_foreach(items, i, it)
        {
            char id[32];
            bt_id_text(json_object_get(it, "batchId"), id, sizeof id);
            if (used < cap)
                used += (size_t)snprintf(out + used, cap - used, "%s ", id);
        }
    }
    oth_resp_free(&r);
}

static int has_id(const char *list, const char *id)
{
    char k[40];
    snprintf(k, sizeof k, " %s ", id);
    return strstr(list, k) != NULL;
}

/* 9. Parameter rules, lists, detail, device rows, firmware in use. */
static void test_api_batch_parameters_lists_detail(void **state)
{
    char fw2[32], fw3[32], fwq[32], b1[32], b2[32], bq[32];
    oth_resp r;
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "apiP");
    const char *ids[] = {"a1", "a2", "a3", "a4", "a5"};
    for (int i = 0; i < 5; i++)
        bt_device(t, ids[i]);
    bt_device(t, "never");
    sdev *a1 = bt_dev_start(t, "a1", "1.0.0", SDEV_AUTO_ACK, 0);
    for (int i = 1; i < 5; i++)
        bt_dev_activated_offline(t, ids[i], "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "a1", 1, "1.0.0", BT_SOON);
    unsigned char *bytes = bt_fw_bytes(3000, 2);
    char md5[33];
    md5_hex(bytes, 3000, md5);
    bt_firmware_data(t, "fw_api_2", "2.0.0", bytes, 3000, fw2, sizeof fw2);
    free(bytes);
    bt_firmware(t, "fw_api_3", "3.0.0", fw3, sizeof fw3);

    /* a second product with one device and its firmware */
    char pk_p[64];
    snprintf(pk_p, sizeof pk_p, "%s", t->pk);
    bt_product(t, "apiQ");
    char pk_q[64];
    snprintf(pk_q, sizeof pk_q, "%s", t->pk);
    bt_device(t, "q1");
    bt_dev_activated_offline(t, "q1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_firmware(t, "fw_api_q", "2.0.0", fwq, sizeof fwq);
    snprintf(t->pk, sizeof t->pk, "%s", pk_p);

    /* parameter rules */
#define BASE "\"scope\":\"all\",\"policy\":\"standard\""
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":0,\"timeoutMinutes\":10,\"retryTimes\":0}", "validityDays", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":8,\"timeoutMinutes\":10,\"retryTimes\":0}", "validityDays", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":\"3\",\"timeoutMinutes\":10,\"retryTimes\":0}", "validityDays", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1.5,\"timeoutMinutes\":10,\"retryTimes\":0}", "validityDays", 0);
    expect_refused(t, fw2, "{\"scope\":\"all\",\"policy\":\"fast\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", "policy", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":0,\"retryTimes\":0}", "timeoutMinutes", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":1441,\"retryTimes\":0}", "timeoutMinutes", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":-1}", "retryTimes", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":6,\"retryIntervalMinutes\":5}", "retryTimes", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":1}", "retryIntervalMinutes", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":1,\"retryIntervalMinutes\":0}", "retryIntervalMinutes", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":1,\"retryIntervalMinutes\":4321}", "retryIntervalMinutes", 0);
    expect_refused(t, fw2, "{\"scope\":\"some\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", "scope", 0);
    expect_refused(t, fw2, "{" BASE ",\"identifiers\":[\"a1\"],\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", "identifiers", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0,\"colour\":\"red\"}", NULL, 400);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,", NULL, 400);
    expect_refused(t, fw2, "[1,2]", NULL, 400);
    expect_refused(t, fw2, "", NULL, 400);
    expect_refused(t, fw2, "{\"scope\":\"directed\",\"identifiers\":[\"a1\",\"a1\"],\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", NULL, 0);
    expect_refused(t, fw2, "{\"scope\":\"directed\",\"identifiers\":\"a1\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", "identifiers", 0);
    expect_refused(t, fw2, "{\"scope\":\"directed\",\"identifiers\":[7],\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", "identifiers", 0);
    expect_refused(t, fw2, "{\"scope\":\"directed\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", NULL, 0);
    expect_refused(t, fw2, "{\"scope\":\"directed\",\"identifiers\":[\"never\"],\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", NULL, 422);
    expect_refused(t, fw2, "{\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", "scope", 0);
    expect_refused(t, fw2, "{" BASE ",\"timeoutMinutes\":10,\"retryTimes\":0}", "validityDays", 0);
    expect_refused(t, fw2, "{" BASE ",\"validityDays\":1,\"retryTimes\":0}", "timeoutMinutes", 0);
    /* without the token: 401 */
    {
        char p401[128];
        const char *b401 = "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}";
        snprintf(p401, sizeof p401, "/api/v1/firmwares/%s/batches", fw2);
        oth_http(&t->env, "POST", p401, 0, "application/json", b401, strlen(b401), NULL, &r);
        assert_int_equal(r.status, 401);
        oth_resp_free(&r);
        oth_http(&t->env, "GET", "/api/v1/batches", 0, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 401);
        oth_resp_free(&r);
    }
    /* nothing was created by the refusals */
    long st;
    char list[4096];
    list_ids(t, "", list, sizeof list, &st);
    assert_int_equal(st, 200);
    assert_string_equal(list, " ");
    /* unknown firmware */
    assert_int_equal(bt_batch_try(t, "999999", "{" BASE ",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}", NULL, 0, NULL), 404);

    /* boundaries accepted: each batch terminated at once so the devices are free again */
    const char *ok_bodies[] = {
        "{\"scope\":\"directed\",\"identifiers\":[\"a2\"],\"policy\":\"silent\",\"validityDays\":1,\"timeoutMinutes\":1,\"retryTimes\":0}",
        "{\"scope\":\"directed\",\"identifiers\":[\"a2\"],\"policy\":\"standard\",\"validityDays\":7,\"timeoutMinutes\":1440,\"retryTimes\":5,\"retryIntervalMinutes\":4320}",
        "{\"scope\":\"directed\",\"identifiers\":[\"a2\"],\"policy\":\"standard\",\"validityDays\":3,\"timeoutMinutes\":60,\"retryTimes\":1,\"retryIntervalMinutes\":1}",
    };
    for (int i = 0; i < 3; i++) {
        char bid[32];
        st = bt_batch_try(t, fw2, ok_bodies[i], bid, sizeof bid, &r);
        if (st != 201)
            fail_msg("valid batch %s refused: %ld %s", ok_bodies[i], st, r.body);
        oth_resp_free(&r);
        terminate(t, bid, 200);
    }

    /* b1 on firmware 2.0.0 (then terminated), b2 on 3.0.0 running, bq on product Q running */
    bt_batch(t, fw2,
             "{\"scope\":\"directed\",\"identifiers\":[\"a3\"],\"policy\":\"standard\",\"validityDays\":2,"
             "\"timeoutMinutes\":30,\"retryTimes\":0}",
             b1, sizeof b1);
    terminate(t, b1, 200);
    int64_t before = sdev_now_ms();
    (void)before;
    assert_int_equal(bt_batch_try(t, fw3,
                                  "{\"scope\":\"all\",\"policy\":\"silent\",\"validityDays\":3,"
                                  "\"timeoutMinutes\":45,\"retryTimes\":2,\"retryIntervalMinutes\":7}",
                                  b2, sizeof b2, &r),
                     201);
    assert_int_equal(bt_int(r.json, "total"), 5); /* a1..a5, not "never" */
    oth_resp_free(&r);
    bt_batch(t, fwq,
             "{\"scope\":\"all\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}",
             bq, sizeof bq);
    /* a product with nothing eligible left: 422 */
    assert_int_equal(bt_batch_try(t, fwq,
                                  "{\"scope\":\"all\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}",
                                  NULL, 0, &r),
                     422);
    oth_resp_free(&r);
    assert_int_equal(bt_batch_try(t, fw2,
                                  "{\"scope\":\"directed\",\"identifiers\":[],\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}",
                                  NULL, 0, &r) / 100,
                     4);
    oth_resp_free(&r);

    /* list filters */
    char q[160];
    snprintf(q, sizeof q, "firmwareId=%s", fw2);
    list_ids(t, q, list, sizeof list, &st);
    assert_int_equal(st, 200);
    assert_true(has_id(list, b1));
    assert_false(has_id(list, b2));
    assert_false(has_id(list, bq));
    snprintf(q, sizeof q, "productKey=%s", pk_q);
    list_ids(t, q, list, sizeof list, &st);
    char want[64];
    snprintf(want, sizeof want, " %s ", bq);
    assert_string_equal(list, want);
    list_ids(t, "state=in_progress", list, sizeof list, &st);
    assert_true(has_id(list, b2) && has_id(list, bq) && !has_id(list, b1));
    list_ids(t, "state=terminated", list, sizeof list, &st);
    assert_true(has_id(list, b1) && !has_id(list, b2) && !has_id(list, bq));
    snprintf(q, sizeof q, "state=in_progress&productKey=%s", pk_p);
    list_ids(t, q, list, sizeof list, &st);
    snprintf(want, sizeof want, " %s ", b2);
    assert_string_equal(list, want);
    list_ids(t, "state=done", list, sizeof list, &st);
    assert_int_equal(st, 400);
    /* list rows */
    assert_int_equal(bt_get(t, &r, "/api/v1/batches?firmwareId=%s", fw3), 200);
    json_t *row = json_array_get(json_object_get(r.json, "items"), 0);
    assert_non_null(row);
    assert_int_equal(bt_int(r.json, "total"), 1);
    assert_int_equal(bt_int(r.json, "page"), 1);
    assert_int_equal(bt_int(r.json, "pageSize"), 20);
    const char *row_keys[] = {"batchId", "firmwareId", "startTime", "endTime", "total", "succeeded", "failed", "state"};
    for (int i = 0; i < 8; i++)
        if (!json_object_get(row, row_keys[i]))
            fail_msg("batch row without %s: %s", row_keys[i], r.body);
    assert_true(json_is_null(json_object_get(row, "endTime")));
    oth_resp_free(&r);

    /* detail of b1 (firmware 2.0.0) */
    json_t *bj = bt_batch_get(t, b1);
    assert_non_null(bj);
    assert_string_equal(bt_js(bj, "firmwareName"), "fw_api_2");
    assert_string_equal(bt_js(bj, "firmwareVersion"), "2.0.0");
    assert_string_equal(bt_js(bj, "md5"), md5);
    assert_string_equal(bt_js(bj, "productKey"), pk_p);
    assert_string_equal(bt_js(bj, "productName"), "apiP");
    assert_int_equal(bt_int(bj, "validityDays"), 2);
    assert_string_equal(bt_js(bj, "policy"), "standard");
    assert_int_equal(bt_int(bj, "timeoutMinutes"), 30);
    assert_int_equal(bt_int(bj, "retryTimes"), 0);
    assert_string_equal(bt_js(bj, "state"), "terminated");
    int64_t start = bt_rfc3339_ms(bt_js(bj, "startTime")),
            exp = bt_rfc3339_ms(bt_js(bj, "expiresTime"));
    assert_true(start > 0);
    if (exp - start < 2 * 86400000LL - 1000 || exp - start > 2 * 86400000LL + 1000)
        fail_msg("expiresTime %s is not startTime %s + 2 days", bt_js(bj, "expiresTime"),
                 bt_js(bj, "startTime"));
    assert_true(bt_rfc3339_ms(bt_js(bj, "endTime")) >= start);
    json_decref(bj);
    /* detail of b2: every count, and the retry interval */
    bj = bt_batch_get(t, b2);
    assert_string_equal(bt_js(bj, "firmwareVersion"), "3.0.0");
    assert_string_equal(bt_js(bj, "policy"), "silent");
    assert_int_equal(bt_int(bj, "validityDays"), 3);
    assert_int_equal(bt_int(bj, "timeoutMinutes"), 45);
    assert_int_equal(bt_int(bj, "retryTimes"), 2);
    assert_int_equal(bt_int(bj, "retryIntervalMinutes"), 7);
    assert_int_equal(bt_int(bj, "total"), 5);
    assert_true(json_is_null(json_object_get(bj, "endTime")));
    json_t *counts = json_object_get(bj, "counts");
    const char *states[] = {"to_push", "pushed", "to_upgrade", "upgrading", "to_retry", "succeeded", "failed"};
    int sum = 0;
    for (int i = 0; i < 7; i++) {
        if (!json_is_integer(json_object_get(counts, states[i])))
            fail_msg("counts without %s", states[i]);
        sum += bt_int(counts, states[i]);
    }
    assert_int_equal(sum, 5);
    json_decref(bj);

    /* device rows: a1 (online, acks) to_upgrade, the 4 others to_push */
    json_decref(bt_wait_task(t, b2, "a1", "to_upgrade", BT_SOON));
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?upgradeState=to_push", b2), 200);
    assert_int_equal(bt_int(r.json, "total"), 4);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?upgradeState=to_upgrade", b2), 200);
    assert_int_equal(bt_int(r.json, "total"), 1);
    row = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(bt_js(row, "identifier"), "a1");
    assert_string_equal(bt_js(row, "deviceName"), "dev a1");
    assert_true(json_is_true(json_object_get(row, "online")));
    assert_true(json_is_null(json_object_get(row, "finishTime")));
    assert_int_equal(bt_int(row, "retried"), 0);
    assert_int_equal(bt_int(row, "retryTimes"), 2);
    assert_true(json_is_null(json_object_get(row, "failReason")));
    const char *dev_keys[] = {"identifier", "deviceName", "online", "finishTime", "currentVersion", "upgradeState", "progress", "retried", "retryTimes", "failReason"};
    for (int i = 0; i < 10; i++)
        if (!json_object_get(row, dev_keys[i]))
            fail_msg("device row without %s: %s", dev_keys[i], r.body);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?upgradeState=succeeded", b2), 200);
    assert_int_equal(bt_int(r.json, "total"), 0);
    assert_int_equal((int)json_array_size(json_object_get(r.json, "items")), 0);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?upgradeState=sleeping", b2), 400);
    oth_resp_free(&r);
    /* paging: 2 + 2 + 1, every device once */
    char seen[256] = " ";
    for (int page = 1; page <= 3; page++) {
        assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=2&page=%d", b2, page), 200);
        assert_int_equal(bt_int(r.json, "total"), 5);
        assert_int_equal(bt_int(r.json, "page"), page);
        assert_int_equal(bt_int(r.json, "pageSize"), 2);
        json_t *items = json_object_get(r.json, "items"), *it;
        assert_int_equal((int)json_array_size(items), page < 3 ? 2 : 1);
        size_t i;
        json_array_foreach(items, i, it)
        {
            char k[40];
            snprintf(k, sizeof k, " %s ", bt_js(it, "identifier"));
            if (strstr(seen, k))
                fail_msg("device %s on two pages", k);
            size_t used = strlen(seen);
            snprintf(seen + used, sizeof seen - used, "%s ", bt_js(it, "identifier"));
        }
        oth_resp_free(&r);
    }
    for (int i = 0; i < 5; i++) {
        char k[40];
        snprintf(k, sizeof k, " %s ", ids[i]);
        assert_non_null(strstr(seen, k));
    }
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=2&page=4", b2), 200);
    assert_int_equal(bt_int(r.json, "total"), 5);
    assert_int_equal((int)json_array_size(json_object_get(r.json, "items")), 0);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=0", b2), 400);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=1001", b2), 400);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/abc"), 404);
    oth_resp_free(&r);
    terminate(t, "999999", 404);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices", "999999"), 404);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/999999"), 404);
    oth_resp_free(&r);

    /* firmware in use while b2 runs; deletable once it ended */
    oth_http(&t->env, "DELETE", "/api/v1/firmwares/x", 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status / 100, 4);
    oth_resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", fw3);
    oth_http(&t->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    if (r.status != 409 || strcmp(oth_err_code(&r), "firmware_in_use") != 0)
        fail_msg("delete firmware of a running batch: %ld %s", r.status, r.body);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/firmwares/%s", fw3), 200);
    oth_resp_free(&r);
    terminate(t, b2, 200);
    oth_http(&t->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    if (r.status != 204)
        fail_msg("delete firmware after its batch ended: %ld %s", r.status, r.body);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/firmwares/%s", fw3), 404);
    oth_resp_free(&r);
    /* firmware 2.0.0's batches all ended: deletable too */
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", fw2);
    oth_http(&t->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 204);
    oth_resp_free(&r);
    (void)a1;
#undef BASE
}

/* 10. The push's url: bytes, Range, tampering, end of batch. */
static void test_api_device_download(void **state)
{
    char fw[32], b[32];
    oth_resp r;
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "dl");
    bt_device(t, "d1");
    sdev *d1 = bt_dev_start(t, "d1", "1.0.0", SDEV_AUTO_ACK, 0);
    bt_wait_device(t, "d1", 1, "1.0.0", BT_SOON);
    const size_t len = 70000;
    unsigned char *bytes = bt_fw_bytes(len, 9);
    char md5[33];
    md5_hex(bytes, len, md5);
    bt_firmware_data(t, "fw_dl", "2.0.0", bytes, len, fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}",
             b, sizeof b);
    bt_wait_push(t, d1, 1, BT_SOON);
    sdev_msg p;
    assert_int_equal(sdev_msg_get(d1, SDEV_PUSH, 0, &p), 0);
    assert_int_equal(p.size, (long long)len);
    assert_string_equal(p.md5, md5);
    assert_int_equal((int)strlen(p.sha256), 64);
    assert_int_equal(strncmp(p.url, t->env.base_url, strlen(t->env.base_url)), 0);

    /* plain GET, no token */
    assert_int_equal(oth_http_url("GET", p.url, NULL, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, bytes, len);
    oth_resp_free(&r);
    /* Range */
    const char *range[] = {"Range: bytes=1000-1999", NULL};
    assert_int_equal(oth_http_url("GET", p.url, NULL, NULL, NULL, 0, range, &r), 0);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 1000);
    assert_memory_equal(r.body, bytes + 1000, 1000);
    oth_resp_free(&r);
    const char *tail[] = {"Range: bytes=69990-", NULL};
    assert_int_equal(oth_http_url("GET", p.url, NULL, NULL, NULL, 0, tail, &r), 0);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 10);
    assert_memory_equal(r.body, bytes + 69990, 10);
    oth_resp_free(&r);

    /* tampered: a changed signature, and a changed batch */
    char bad[1100];
    snprintf(bad, sizeof bad, "%s", p.url);
    char *s = strstr(bad, "s=");
    assert_non_null(s);
    s[2] = s[2] == 'a' ? 'b' : 'a';
    assert_int_equal(oth_http_url("GET", bad, NULL, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 403);
    assert_true(r.len < 1000);
    oth_resp_free(&r);
    snprintf(bad, sizeof bad, "%s", p.url);
    char *bq = strstr(bad, "b=");
    assert_non_null(bq);
    bq[2] = bq[2] == '9' ? '8' : (char)(bq[2] + 1);
    assert_int_equal(oth_http_url("GET", bad, NULL, NULL, NULL, 0, NULL, &r), 0);
    assert_true(r.status == 403 || r.status == 404);
    oth_resp_free(&r);

    /* the batch ends: the link stops working */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b);
    assert_int_equal(bt_post(t, path, "", &r), 200);
    oth_resp_free(&r);
    assert_int_equal(oth_http_url("GET", p.url, NULL, NULL, NULL, 0, NULL, &r), 0);
    if (r.status / 100 != 4)
        fail_msg("download after the batch ended: %ld", r.status);
    if (r.status != 410)
        fprintf(stderr, "note: download after the batch ended answers %ld (410 expected)\n", r.status);
    oth_resp_free(&r);
    free(bytes);
}

static int otad_alive(bt_ctx *t)
{
    int status;
    if (t->env.otad_pid <= 0)
        return 0;
    if (waitpid(t->env.otad_pid, &status, WNOHANG) == 0)
        return 1;
    t->env.otad_pid = 0; /* reaped: nothing left to stop */
    return 0;
}

/* 11. Malformed device messages change nothing; wrong msgId acks are ignored; a version
 * report outside any batch only updates the device's firmwareVersion. */
static void test_api_malformed_device_messages(void **state)
{
    char fw[32], b[32];
    oth_resp r;
    bt_ctx *t = bt_new(state, 1); /* ack timeout 10 s: this test acks well before */
    bt_product(t, "bad");
    bt_device(t, "m1");
    bt_device(t, "n1");
    sdev *m1 = bt_dev_start(t, "m1", "1.0.0", SDEV_AUTO_NONE, 0);
    sdev *n1 = bt_dev_start(t, "n1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "m1", 1, "1.0.0", BT_SOON);
    bt_wait_device(t, "n1", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_bad", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"directed\",\"identifiers\":[\"m1\"],\"policy\":\"standard\",\"validityDays\":1,"
             "\"timeoutMinutes\":1440,\"retryTimes\":0}",
             b, sizeof b);
    bt_wait_push(t, m1, 1, BT_SOON);
    sdev_msg p;
    sdev_msg_get(m1, SDEV_PUSH, 0, &p);

    /* an ack of another msgId is ignored: still pushed */
    assert_int_equal(sdev_ack(m1, "not-the-push", 200), 0);
    char bad_ack[256];
    int n = snprintf(bad_ack, sizeof bad_ack, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":\"200\"}", p.msg_id);
    assert_int_equal(sdev_publish_raw(m1, "ota/firmware/upgrade_reply", bad_ack, (size_t)n), 0);
    n = snprintf(bad_ack, sizeof bad_ack, "{\"msgId\":\"%s\",\"version\":\"2.0\",\"code\":200}", p.msg_id);
    assert_int_equal(sdev_publish_raw(m1, "ota/firmware/upgrade_reply", bad_ack, (size_t)n), 0);
    sdev_sleep_ms(400);
    bt_expect_task(t, b, "m1", "pushed");
    assert_int_equal(sdev_ack(m1, p.msg_id, 200), 0);
    json_decref(bt_wait_task(t, b, "m1", "to_upgrade", BT_SOON));

    /* malformed messages: none may change the task */
    static const struct {
        const char *suffix, *payload;
    } bad[] = {
        {"ota/progress", "{not json"},
        {"ota/progress", "[1,2,3]"},
        {"ota/progress", "\"step\""},
        {"ota/progress", "{\"msgId\":1,\"version\":\"1.0\",\"data\":{\"step\":50}}"},
        {"ota/progress", "{\"msgId\":\"x1\",\"version\":\"1.0\",\"data\":{\"step\":\"50\"}}"},
        {"ota/progress", "{\"msgId\":\"x2\",\"version\":\"1.0\",\"data\":{\"step\":50.5}}"},
        {"ota/progress", "{\"msgId\":\"x3\",\"version\":\"1.0\",\"data\":{\"step\":0}}"},
        {"ota/progress", "{\"msgId\":\"x4\",\"version\":\"1.0\",\"data\":{\"step\":101}}"},
        {"ota/progress", "{\"msgId\":\"x5\",\"version\":\"1.0\",\"data\":{\"step\":-5}}"},
        {"ota/progress", "{\"msgId\":\"x6\",\"version\":\"1.0\",\"data\":{\"step\":9999999999999999999999}}"},
        {"ota/progress", "{\"msgId\":\"x7\",\"version\":\"1.0\",\"data\":[50]}"},
        {"ota/progress", "{\"msgId\":\"x8\",\"version\":\"1.0\"}"},
        {"ota/progress", "{\"msgId\":\"x9\",\"data\":{\"step\":50}}"},
        {"ota/progress", "{\"msgId\":\"\",\"version\":\"1.0\",\"data\":{\"step\":50}}"},
        {"ota/progress", "{\"msgId\":\"x10\",\"msgId\":\"x11\",\"version\":\"1.0\",\"data\":{\"step\":50}}"},
        {"ota/progress", "{\"msgId\":\"x12\",\"version\":\"1.0\",\"data\":{\"step\":-2}} trailing"},
        {"ota/progress/extra", "{\"msgId\":\"x13\",\"version\":\"1.0\",\"data\":{\"step\":-2}}"},
        {"ota/unknown", "{\"msgId\":\"x14\",\"version\":\"1.0\",\"data\":{\"step\":-2}}"},
        {"ota/Progress", "{\"msgId\":\"x15\",\"version\":\"1.0\",\"data\":{\"step\":-2}}"},
        {"ota/version", "{\"msgId\":\"x16\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":2}}"},
        {"ota/version", "{\"msgId\":\"x17\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":\"2.0.0 \"}}"},
        {"ota/version", "{\"msgId\":\"x18\",\"version\":\"1.0\",\"data\":{}}"},
        {"ota/firmware/upgrade_reply", "{\"msgId\":\"x19\",\"version\":\"1.0\",\"code\":200}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sdev_publish_raw(m1, bad[i].suffix, bad[i].payload, strlen(bad[i].payload)), 0);
    /* oversize (under the broker's 16 KiB packet limit, over the protocol's 8 KiB): a
     * failure report and a success report, padded */
    size_t big = 12 * 1024;
    char *huge = malloc(big + 256);
    assert_non_null(huge);
    n = snprintf(huge, 256, "{\"msgId\":\"x20\",\"version\":\"1.0\",\"data\":{\"step\":-3},\"pad\":\"");
    memset(huge + n, 'a', big);
    snprintf(huge + n + big, 64, "\"}");
    assert_int_equal(sdev_publish_raw(m1, "ota/progress", huge, strlen(huge)), 0);
    n = snprintf(huge, 256, "{\"msgId\":\"x21\",\"version\":\"1.0\",\"pad\":\"");
    memset(huge + n, 'b', big);
    snprintf(huge + n + big, 96, "\",\"data\":{\"firmwareVersion\":\"2.0.0\"}}");
    assert_int_equal(sdev_publish_raw(m1, "ota/version", huge, strlen(huge)), 0);
    n = snprintf(huge, 256, "{\"msgId\":\"x22\",\"version\":\"1.0\",\"data\":{\"step\":-4},\"pad\":\"");
    memset(huge + n, 'c', 9000);
    snprintf(huge + n + 9000, 64, "\"}");
    assert_int_equal(sdev_publish_raw(m1, "ota/progress", huge, strlen(huge)), 0);
    free(huge);
    /* binary garbage */
    unsigned char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 151u + 7u);
    assert_int_equal(sdev_publish_raw(m1, "ota/progress", junk, sizeof junk), 0);

    /* a valid message after them is applied: the server processed the bad ones and lived */
    assert_int_equal(sdev_progress(m1, 10), 0);
    json_t *task = bt_wait_task(t, b, "m1", "upgrading", BT_SOON);
    assert_int_equal(bt_int(task, "progress"), 10);
    assert_true(json_is_null(json_object_get(task, "failReason")));
    json_decref(task);
    assert_true(otad_alive(t));

    /* zero-length payloads (libmosquitto hands these over as a NULL pointer). Known server
     * bug found by this test: engine_device_message() calls memcpy(dst, NULL, 0), undefined
     * behaviour that aborts otad under UBSan (-fno-sanitize-recover). */
    assert_int_equal(sdev_publish_raw(m1, "ota/progress", "", 0), 0);
    assert_int_equal(sdev_publish_raw(m1, "ota/version", "", 0), 0);
    assert_int_equal(sdev_publish_raw(m1, "ota/firmware/upgrade_reply", "", 0), 0);
    assert_int_equal(sdev_publish_raw(m1, "ota/firmware/get", "", 0), 0);
    assert_int_equal(sdev_progress(m1, 20), 0);
    for (int64_t end = sdev_now_ms() + BT_SOON;; sdev_sleep_ms(BT_POLL_MS)) {
        if (!otad_alive(t)) {
            oth_dump_logs(&t->env);
            fail_msg("SERVER BUG: otad died after zero-length device messages");
        }
        task = bt_task(t, b, "m1");
        int progress = task ? bt_int(task, "progress") : -1;
        json_decref(task);
        if (progress == 20)
            break;
        if (sdev_now_ms() > end) {
            oth_dump_logs(&t->env);
            fail_msg("progress 20 after zero-length messages not applied (last %d)", progress);
        }
    }
    assert_int_equal(oth_http(&t->env, "GET", "/api/v1/health", 0, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    oth_resp_free(&r);
    bt_wait_device(t, "m1", 1, "1.0.0", BT_SOON);

    /* ota/firmware/get of the pending upgrade, by version: the offer; another version: 404 */
    int g0 = sdev_count(m1, SDEV_GET_REPLY); /* none expected for the malformed gets */
    assert_int_equal(sdev_get(m1, "2.0.0"), 0);
    assert_int_equal(sdev_wait(m1, SDEV_GET_REPLY, g0 + 1, BT_SOON), g0 + 1);
    sdev_msg g;
    sdev_msg_get(m1, SDEV_GET_REPLY, g0, &g);
    assert_int_equal(g.code, 200);
    assert_string_equal(g.url, p.url);
    assert_string_equal(g.batch_id, b);
    assert_int_equal(sdev_get(m1, "7.7.7"), 0);
    assert_int_equal(sdev_wait(m1, SDEV_GET_REPLY, g0 + 2, BT_SOON), g0 + 2);
    sdev_msg_get(m1, SDEV_GET_REPLY, g0 + 1, &g);
    assert_int_equal(g.code, 404);
    bt_expect_task(t, b, "m1", "upgrading");

    /* a version report from a device in no batch: only its firmwareVersion changes */
    assert_int_equal(sdev_version(n1, "9.9.9"), 0);
    bt_wait_device(t, "n1", 1, "9.9.9", BT_SOON);
    assert_int_equal(sdev_get(n1, NULL), 0);
    assert_int_equal(sdev_wait(n1, SDEV_GET_REPLY, 1, BT_SOON), 1);
    sdev_msg m;
    sdev_msg_get(n1, SDEV_GET_REPLY, 0, &m);
    assert_int_equal(m.code, 404);
    assert_int_equal(sdev_count(n1, SDEV_PUSH), 0);
    json_t *bj = bt_batch_get(t, b);
    assert_int_equal(bt_int(bj, "total"), 1);
    assert_int_equal(bt_int(json_object_get(bj, "counts"), "upgrading"), 1);
    json_decref(bj);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches"), 200);
    assert_int_equal(bt_int(r.json, "total"), 1);
    oth_resp_free(&r);
    bt_expect_task(t, b, "m1", "upgrading");
    assert_int_equal(sdev_count(m1, SDEV_PUSH), 1);
    assert_true(otad_alive(t));
}

/* Presence: a second connection with the same client id takes over; the device stays
 * online (the first connection's end must not count), and pushes reach the new one. */
static void test_api_presence_takeover(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "take");
    bt_device(t, "t1");
    sdev *old = bt_dev_start(t, "t1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "t1", 1, "1.0.0", BT_SOON);
    sdev *cur = bt_dev_start(t, "t1", "1.0.0", SDEV_AUTO_ACK, 0);
    sdev_sleep_ms(500); /* the broker closes the old connection; give presence time to move */
    bt_wait_device(t, "t1", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_take", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}",
             b, sizeof b);
    bt_wait_push(t, cur, 1, BT_SOON);
    json_t *task = bt_wait_task(t, b, "t1", "to_upgrade", BT_SOON);
    assert_true(json_is_true(json_object_get(task, "online")));
    json_decref(task);
    assert_int_equal(sdev_count(old, SDEV_PUSH), 0);
    /* the current connection ends: offline */
    sdev_disconnect(cur);
    bt_wait_device(t, "t1", 0, NULL, BT_SOON);
}

/* Rule 2 at the real clock (OTA_TIME_SCALE 1): the ack timeout is 10 s, not less. */
static void test_api_ack_timeout_real_clock(void **state)
{
    char fw[32], b[32];
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "clock");
    bt_device(t, "c1");
    sdev *c1 = bt_dev_start(t, "c1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_wait_device(t, "c1", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_clock", "2.0.0", fw, sizeof fw);
    bt_batch(t, fw,
             "{\"scope\":\"all\",\"policy\":\"standard\",\"validityDays\":1,\"timeoutMinutes\":10,\"retryTimes\":0}",
             b, sizeof b);
    bt_wait_push(t, c1, 1, BT_SOON);
    sdev_msg p;
    sdev_msg_get(c1, SDEV_PUSH, 0, &p);
    while (sdev_now_ms() < p.at_ms + 9500)
        sdev_sleep_ms(50);
    bt_expect_task(t, b, "c1", "pushed");
    json_t *task = bt_wait_task(t, b, "c1", "failed", 500 + BT_SOON);
    assert_string_equal(bt_reason(task), "push_timeout");
    json_decref(task);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_api_batch_parameters_lists_detail, bt_teardown),
        cmocka_unit_test_teardown(test_api_device_download, bt_teardown),
        cmocka_unit_test_teardown(test_api_malformed_device_messages, bt_teardown),
        cmocka_unit_test_teardown(test_api_presence_takeover, bt_teardown),
        cmocka_unit_test_teardown(test_api_ack_timeout_real_clock, bt_teardown),
    };
    if (getenv("BT_FILTER")) /* e.g. BT_FILTER=test_rule5* */
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests_name("batch_api", tests, NULL, NULL);
}
