/*
 * test_batch_fixture: the batch integration tests' fixture (declared and described in
 * test_batch_fixture.h). Each call works on the test's bt_ctx; nothing is kept in this file.
 */
#include "test_batch_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bt_ctx *bt_alloc(void **state)
{
    bt_ctx *t = calloc(1, sizeof *t);
    assert_non_null(t);
    if (oth_env_init(&t->env) != 0) {
        free(t);
        fail_msg("test environment: oth_env_init failed");
    }
    *state = t;
    return t;
}

bt_ctx *bt_new(void **state, double time_scale)
{
    char scale[32];
    bt_ctx *t = bt_alloc(state);
    snprintf(scale, sizeof scale, "%g", time_scale);
    oth_env_set(&t->env, "OTA_TIME_SCALE", scale);
    bt_start(t);
    return t;
}

void bt_start(bt_ctx *t)
{
    if (oth_broker_start(&t->env) != 0 || oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("broker or otad did not start");
    }
    t->up = 1;
}

sdev *bt_keep(bt_ctx *t, sdev *d)
{
    assert_true(t->ndevs < BT_MAX_DEVS);
    t->devs[t->ndevs++] = d;
    return d;
}

static sdev *bt_sdev(bt_ctx *t, const char *id)
{
    sdev *d = sdev_new(t->env.mqtt_port, t->env.key, t->pk, id);
    assert_non_null(d);
    return bt_keep(t, d);
}

int bt_teardown(void **state)
{
    bt_ctx *t = *state;
    if (!t)
        return 0;
    for (int i = 0; i < t->ndevs; i++)
        sdev_free(t->devs[i]);
    oth_env_cleanup(&t->env);
    free(t);
    *state = NULL;
    return 0;
}

const char *bt_js(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* An id the API may give as a string or a number, as text. */
void bt_id_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, cap, "?");
}

long bt_post(bt_ctx *t, const char *path, const char *body, oth_resp *r)
{
    oth_http(&t->env, "POST", path, 1, "application/json", body, strlen(body), NULL, r);
    return r->status;
}

long bt_get(bt_ctx *t, oth_resp *r, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    oth_get(&t->env, path, r);
    return r->status;
}

void bt_product(bt_ctx *t, const char *name)
{
    oth_resp r;
    char body[256];
    snprintf(body, sizeof body, "{\"productName\":\"%s\",\"description\":\"batch tests\"}", name);
    if (bt_post(t, "/api/v1/products", body, &r) != 201)
        fail_msg("create product: %ld %s", r.status, r.body);
    snprintf(t->pk, sizeof t->pk, "%s", bt_js(r.json, "productKey"));
    snprintf(t->product_name, sizeof t->product_name, "%s", name);
    oth_resp_free(&r);
}

void bt_device(bt_ctx *t, const char *id)
{
    oth_resp r;
    char body[256], path[256];
    snprintf(body, sizeof body, "{\"identifier\":\"%s\",\"deviceName\":\"dev %s\"}", id, id);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", t->pk);
    if (bt_post(t, path, body, &r) != 201)
        fail_msg("create device %s: %ld %s", id, r.status, r.body);
    oth_resp_free(&r);
}

/* Firmware bytes of a test: deterministic, `len` bytes. Caller frees. */
unsigned char *bt_fw_bytes(size_t len, unsigned seed)
{
    unsigned char *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)((i * 31u + seed * 7u + (i >> 8)) & 0xff);
    return b;
}

/* Uploads a firmware of version `ver` for the product; firmware id into out. */
void bt_firmware_data(bt_ctx *t, const char *name, const char *ver, const unsigned char *data,
                      size_t len, char *out, size_t cap)
{
    oth_resp r;
    char file[96];
    const char *fields[] = {"firmwareName", name, "productKey", t->pk, "firmwareVersion", ver,
                            "firmwareDescription", "batch test", NULL};
    snprintf(file, sizeof file, "%s.bin", name);
    oth_upload(&t->env, "/api/v1/firmwares", fields, file, data, len, &r);
    if (r.status != 201)
        fail_msg("upload firmware %s %s: %ld %s", name, ver, r.status, r.body);
    bt_id_text(json_object_get(r.json, "firmwareId"), out, cap);
    oth_resp_free(&r);
}

void bt_firmware(bt_ctx *t, const char *name, const char *ver, char *out, size_t cap)
{
    unsigned char *b = bt_fw_bytes(4096, 1);
    bt_firmware_data(t, name, ver, b, 4096, out, cap);
    free(b);
}

/* POST a batch; returns the status; batch id into out when 201. */
long bt_batch_try(bt_ctx *t, const char *fw, const char *body, char *out, size_t cap,
                  oth_resp *keep)
{
    oth_resp r;
    char path[256];
    snprintf(path, sizeof path, "/api/v1/firmwares/%s/batches", fw);
    long st = bt_post(t, path, body, &r);
    if (st == 201 && out)
        bt_id_text(json_object_get(r.json, "batchId"), out, cap);
    if (keep)
        *keep = r;
    else
        oth_resp_free(&r);
    return st;
}

void bt_batch(bt_ctx *t, const char *fw, const char *body, char *out, size_t cap)
{
    oth_resp r;
    long st = bt_batch_try(t, fw, body, out, cap, &r);
    if (st != 201)
        fail_msg("create batch: %ld %s (body %s)", st, r.body, body);
    oth_resp_free(&r);
}

/* A device connected, activated and reporting `ver`; auto mode set before it speaks. */
sdev *bt_dev_start(bt_ctx *t, const char *id, const char *ver, sdev_auto mode, int fail_step)
{
    sdev *d = bt_sdev(t, id);
    sdev_set_auto(d, mode, fail_step);
    if (sdev_start(d, ver) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("device %s could not start", id);
    }
    return d;
}

/* The device's row (borrowed reference into *r) from GET .../devices/{id}, or NULL. */
static json_t *bt_device_row(bt_ctx *t, const char *id, oth_resp *r)
{
    if (bt_get(t, r, "/api/v1/products/%s/devices/%s", t->pk, id) != 200 || !r->json)
        return NULL;
    return r->json;
}

/* Waits until the device's `online` is `online` (and, when ver is set, firmwareVersion==ver). */
void bt_wait_device(bt_ctx *t, const char *id, int online, const char *ver, int timeout_ms)
{
    int64_t end = sdev_now_ms() + timeout_ms;
    char last[512] = "";
    for (;;) {
        oth_resp r;
        json_t *row = bt_device_row(t, id, &r);
        if (row) {
            int on = json_is_true(json_object_get(row, "online"));
            const char *fv = bt_js(row, "firmwareVersion");
            snprintf(last, sizeof last, "%s", r.body);
            if (on == online && (!ver || strcmp(fv, ver) == 0)) {
                oth_resp_free(&r);
                return;
            }
        }
        oth_resp_free(&r);
        if (sdev_now_ms() > end)
            break;
        sdev_sleep_ms(BT_POLL_MS);
    }
    oth_dump_logs(&t->env);
    fail_msg("device %s: wanted online=%d version=%s within %d ms; last: %s", id, online,
             ver ? ver : "*", timeout_ms, last);
}

/* The task row of device `id` in batch `b` (new reference), or NULL. */
json_t *bt_task(bt_ctx *t, const char *b, const char *id)
{
    oth_resp r;
    json_t *found = NULL;
    if (bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=1000", b) == 200 && r.json) {
        json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        json_array_foreach(items, i, it)
        {
            if (strcmp(bt_js(it, "identifier"), id) == 0) {
                found = json_incref(it);
                break;
            }
        }
    }
    oth_resp_free(&r);
    return found;
}

static void bt_task_text(json_t *task, char *out, size_t cap)
{
    char *s = task ? json_dumps(task, JSON_COMPACT) : NULL;
    snprintf(out, cap, "%s", s ? s : "(no row)");
    free(s);
}

/* Waits until the task's upgradeState is `state`; returns the row (new reference). */
json_t *bt_wait_task(bt_ctx *t, const char *b, const char *id, const char *state, int timeout_ms)
{
    int64_t end = sdev_now_ms() + timeout_ms;
    char last[1024];
    json_t *task = NULL;
    for (;;) {
        task = bt_task(t, b, id);
        if (task && strcmp(bt_js(task, "upgradeState"), state) == 0)
            return task;
        if (sdev_now_ms() > end)
            break;
        json_decref(task);
        task = NULL;
        sdev_sleep_ms(BT_POLL_MS);
    }
    bt_task_text(task, last, sizeof last);
    json_decref(task);
    oth_dump_logs(&t->env);
    fail_msg("batch %s device %s: wanted %s within %d ms; last row: %s", b, id, state, timeout_ms,
             last);
    return NULL;
}

/* The current state of a task ("" when no row). */
void bt_task_state(bt_ctx *t, const char *b, const char *id, char *out, size_t cap)
{
    json_t *task = bt_task(t, b, id);
    snprintf(out, cap, "%s", task ? bt_js(task, "upgradeState") : "");
    json_decref(task);
}

void bt_expect_task(bt_ctx *t, const char *b, const char *id, const char *state)
{
    char st[32];
    bt_task_state(t, b, id, st, sizeof st);
    if (strcmp(st, state) != 0) {
        json_t *task = bt_task(t, b, id);
        char last[1024];
        bt_task_text(task, last, sizeof last);
        json_decref(task);
        oth_dump_logs(&t->env);
        fail_msg("batch %s device %s: expected %s, is %s", b, id, state, last);
    }
}

const char *bt_reason(json_t *task)
{
    json_t *v = json_object_get(task, "failReason");
    return json_is_string(v) ? json_string_value(v) : "null";
}

int bt_int(json_t *o, const char *k)
{
    return (int)json_integer_value(json_object_get(o, k));
}

/* The batch detail (new reference). */
json_t *bt_batch_get(bt_ctx *t, const char *b)
{
    oth_resp r;
    json_t *j = NULL;
    if (bt_get(t, &r, "/api/v1/batches/%s", b) == 200 && r.json)
        j = json_incref(r.json);
    oth_resp_free(&r);
    return j;
}

json_t *bt_wait_batch(bt_ctx *t, const char *b, const char *state, int timeout_ms)
{
    int64_t end = sdev_now_ms() + timeout_ms;
    json_t *j = NULL;
    for (;;) {
        j = bt_batch_get(t, b);
        if (j && strcmp(bt_js(j, "state"), state) == 0)
            return j;
        if (sdev_now_ms() > end)
            break;
        json_decref(j);
        sdev_sleep_ms(BT_POLL_MS);
    }
    char last[2048];
    bt_task_text(j, last, sizeof last);
    json_decref(j);
    oth_dump_logs(&t->env);
    fail_msg("batch %s: wanted %s within %d ms; last: %s", b, state, timeout_ms, last);
    return NULL;
}

/* Waits for the n-th push of a device, failing with the logs when it does not come. */
void bt_wait_push(bt_ctx *t, sdev *d, int n, int timeout_ms)
{
    int got = sdev_wait(d, SDEV_PUSH, n, timeout_ms);
    if (got < n) {
        oth_dump_logs(&t->env);
        fail_msg("device %s: wanted %d pushes within %d ms, got %d", sdev_identifier(d), n,
                 timeout_ms, got);
    }
}

/* A standard batch body with the given retry settings (0 interval: omitted). */
void bt_body(char *out, size_t cap, const char *scope_extra, int timeout_min, int retry_times,
             int retry_interval)
{
    if (retry_times > 0)
        snprintf(out, cap,
                 "{%s,\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":%d,"
                 "\"retryTimes\":%d,\"retryIntervalMinutes\":%d}",
                 scope_extra, timeout_min, retry_times, retry_interval);
    else
        snprintf(out, cap,
                 "{%s,\"validityDays\":7,\"policy\":\"standard\",\"timeoutMinutes\":%d,"
                 "\"retryTimes\":0}",
                 scope_extra, timeout_min);
}

/* A device that has connected once (activated, reporting `ver`) and is now offline. */
sdev *bt_dev_activated_offline(bt_ctx *t, const char *id, const char *ver, sdev_auto mode,
                               int fail_step)
{
    sdev *d = bt_dev_start(t, id, ver, mode, fail_step);
    bt_wait_device(t, id, 1, ver, BT_SOON);
    sdev_disconnect(d);
    bt_wait_device(t, id, 0, ver, BT_SOON);
    return d;
}

/* Fails unless the device gets no push for `ms` (a window for a negative check). */
void bt_no_push_for(bt_ctx *t, sdev *d, int have, int ms)
{
    int got = sdev_wait(d, SDEV_PUSH, have + 1, ms);
    if (got > have) {
        oth_dump_logs(&t->env);
        fail_msg("device %s: got push #%d, expected none", sdev_identifier(d), got);
    }
}

/* RFC 3339 UTC ("2026-01-02T03:04:05.678Z") to epoch ms; -1 when not parsable. */
int64_t bt_rfc3339_ms(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return -1;
    int64_t ms = 0;
    if (*rest == '.') {
        int digits = 0;
        rest++;
        while (*rest >= '0' && *rest <= '9') {
            if (digits < 3) {
                ms = ms * 10 + (*rest - '0');
                digits++;
            }
            rest++;
        }
        while (digits++ < 3)
            ms *= 10;
    }
    if (*rest != 'Z')
        return -1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Waits until the task shows state `state` with progress `progress`; returns the row. */
json_t *bt_wait_progress(bt_ctx *t, const char *b, const char *id, const char *state, int progress,
                         int timeout_ms)
{
    int64_t end = sdev_now_ms() + timeout_ms;
    json_t *task = NULL;
    for (;;) {
        task = bt_task(t, b, id);
        if (task && strcmp(bt_js(task, "upgradeState"), state) == 0 &&
            bt_int(task, "progress") == progress)
            return task;
        if (sdev_now_ms() > end)
            break;
        json_decref(task);
        sdev_sleep_ms(BT_POLL_MS);
    }
    char last[1024];
    bt_task_text(task, last, sizeof last);
    json_decref(task);
    oth_dump_logs(&t->env);
    fail_msg("batch %s device %s: wanted %s at %d%% within %d ms; last row: %s", b, id, state,
             progress, timeout_ms, last);
    return NULL;
}

/* Counts by upgradeState of the device rows equal the batch's counts and counters. */
void bt_check_counts(bt_ctx *t, const char *b)
{
    oth_resp r;
    int by_state[7] = {0};
    static const char *names[7] = {"to_push", "pushed",    "to_upgrade", "upgrading",
                                   "to_retry", "succeeded", "failed"};
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=1000", b), 200);
    json_t *items = json_object_get(r.json, "items"), *it;
    size_t i;
    json_array_foreach(items, i, it)
    {
        for (int k = 0; k < 7; k++)
            if (strcmp(bt_js(it, "upgradeState"), names[k]) == 0)
                by_state[k]++;
    }
    int rows = (int)json_array_size(items);
    oth_resp_free(&r);
    json_t *bj = bt_batch_get(t, b);
    assert_non_null(bj);
    json_t *counts = json_object_get(bj, "counts");
    for (int k = 0; k < 7; k++) {
        if (bt_int(counts, names[k]) != by_state[k])
            fail_msg("batch %s: counts.%s = %d but %d device rows are %s", b, names[k],
                     bt_int(counts, names[k]), by_state[k], names[k]);
    }
    assert_int_equal(bt_int(bj, "total"), rows);
    assert_int_equal(bt_int(bj, "succeeded"), by_state[5]);
    assert_int_equal(bt_int(bj, "failed"), by_state[6]);
    json_decref(bj);
}

void bt_expect_all_succeeded(json_t *bj, sdev *const *d, int n, const char *prefix)
{
    assert_int_equal(bt_int(bj, "total"), n);
    assert_int_equal(bt_int(bj, "succeeded"), n);
    assert_int_equal(bt_int(bj, "failed"), 0);
    for (int i = 0; i < n; i++)
        if (sdev_duplicate_push_ids(d[i]) != 0)
            fail_msg("device %s%d got one attempt pushed twice", prefix, i);
}
