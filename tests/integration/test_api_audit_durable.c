/*
 * Integration: a change and its audit row commit together. For each kind of change made
 * through the API (product, device, import, firmware upload, batch create and terminate,
 * user, token create and revoke, firmware delete, webhook), otad runs with the test-only
 * OTA_TEST_KILL_AFTER_COMMIT=1, which makes it SIGKILL itself right after its first
 * committed write transaction, before the answer or anything else runs (store.c,
 * store__test_after_commit). The client gets no answer; otad is started again (armed
 * again: reads commit nothing), and the change must be there with exactly one "ok" row
 * naming it. A row written after
 * the change's COMMIT (as the HTTP side did before) is lost at that kill, and a change that
 * bypasses the audited transaction never fires it: either fails here. Runs on PostgreSQL
 * too when OTA_TEST_PG_URL is set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_accounts_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Group setup: the broker, and otad armed: it kills itself after its first committed
 * change. Reads commit no write transaction, so the checks run on an armed otad too. */
static int setup_armed(void **st)
{
    tapi_ctx *c = tapi_new(st);
    if (!c)
        return -1;
    oth_env_set(&c->env, "OTA_TEST_KILL_AFTER_COMMIT", "1");
    return tapi_start(c);
}

/* The armed otad must have killed itself (status is what the client saw: no answer); then
 * otad starts again, armed for the next change. */
static void expect_killed(tapi_ctx *c, long status)
{
    int st = 0;
    pid_t pid = c->env.otad_pid, got = 0;
    assert_int_equal(status, 0); /* no answer came */
    for (int i = 0; i < 400 && got == 0; i++) {
        got = waitpid(pid, &st, WNOHANG);
        if (got == 0)
            oth_sleep_ms(50);
    }
    if (got != pid || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        oth_dump_logs(&c->env);
        fail_msg("otad did not kill itself after the change's commit");
    }
    c->env.otad_pid = 0;
    if (oth_otad_start(&c->env) != 0) {
        oth_dump_logs(&c->env);
        fail_msg("otad did not start again");
    }
}

/* method path (body may be NULL) with the admin token, to an armed otad: expect_killed. */
static void killed_call(tapi_ctx *c, const char *method, const char *path, const char *body)
{
    oth_resp r;
    expect_killed(c, tacc_call(c, method, path, c->env.admin_token, body, &r));
    oth_resp_free(&r);
}

/* Exactly one row of action on object, "ok"; its detail (borrowed from *keep: decref it). */
static json_t *one_row(tapi_ctx *c, const char *action, const char *object, json_t **keep)
{
    char path[300];
    snprintf(path, sizeof path, "/api/v1/audit?action=%s&object=%s", action, object);
    json_t *j = tacc_get_json(c, path, 200);
    json_t *items = json_object_get(j, "items");
    if (json_array_size(items) != 1)
        fail_msg("%zu rows of %s on %s, want 1", json_array_size(items), action, object);
    json_t *row = json_array_get(items, 0);
    assert_string_equal(tapi_jstr(row, "result"), "ok");
    assert_string_equal(tapi_jstr(row, "actor"), "admin-token");
    *keep = j;
    return json_object_get(row, "detail");
}

static void expect_row(tapi_ctx *c, const char *action, const char *object)
{
    json_t *keep;
    one_row(c, action, object, &keep);
    json_decref(keep);
}

/* The first item's member k of GET path (a list) into out. */
static void first_item(tapi_ctx *c, const char *path, const char *k, char *out, size_t len)
{
    json_t *j = tacc_get_json(c, path, 200);
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    json_t *v = json_object_get(it, k);
    assert_non_null(v);
    if (json_is_integer(v))
        snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, len, "%s", json_string_value(v));
    json_decref(j);
}

static void test_change_never_without_row(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char pk[16], path[300], obj[80], fw[24], batch[24], tok[24];

    /* product: its key is drawn inside the transaction */
    killed_call(c, "POST", "/api/v1/products", "{\"productName\":\"durable\"}");
    first_item(c, "/api/v1/products", "productKey", pk, sizeof pk);
    snprintf(obj, sizeof obj, "product:%s", pk);
    expect_row(c, "product.create", obj);

    snprintf(path, sizeof path, "/api/v1/products/%s/devices", pk);
    killed_call(c, "POST", path, "{\"identifier\":\"d1\",\"deviceName\":\"one\"}");
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/d1", pk);
    json_decref(tacc_get_json(c, path, 200));
    snprintf(obj, sizeof obj, "device:%s.d1", pk);
    expect_row(c, "device.create", obj);

    /* the bulk import has a transaction of its own */
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", pk);
    oth_http(&c->env, "POST", path, 1, "application/x-ndjson",
             "{\"identifier\":\"d2\",\"deviceName\":\"two\"}\n"
             "{\"identifier\":\"d3\",\"deviceName\":\"three\"}\n",
             strlen("{\"identifier\":\"d2\",\"deviceName\":\"two\"}\n"
                    "{\"identifier\":\"d3\",\"deviceName\":\"three\"}\n"),
             NULL, &r);
    expect_killed(c, r.status);
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/d3", pk);
    json_decref(tacc_get_json(c, path, 200));
    snprintf(obj, sizeof obj, "product:%s", pk);
    expect_row(c, "device.import", obj);

    const char *fields[] = {"firmwareName",    "durable-fw", "productKey", pk,
                            "firmwareVersion", "2.0.0",      NULL};
    oth_upload(&c->env, "/api/v1/firmwares", fields, "fw.bin", "firmware bytes", 14, &r);
    expect_killed(c, r.status);
    oth_resp_free(&r);
    first_item(c, "/api/v1/firmwares", "firmwareId", fw, sizeof fw);
    snprintf(obj, sizeof obj, "firmware:%s", fw);
    expect_row(c, "firmware.create", obj);

    /* devices that have connected, as presence would have marked them */
    assert_int_equal(tapi_sql(c, "UPDATE devices SET activated = 1"), 0);
    snprintf(path, sizeof path, "/api/v1/firmwares/%s/batches", fw);
    killed_call(c, "POST", path,
                "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"silent\","
                "\"timeoutMinutes\":10,\"retryTimes\":0}");
    first_item(c, "/api/v1/batches", "batchId", batch, sizeof batch);
    snprintf(obj, sizeof obj, "batch:%s", batch);
    json_t *keep;
    json_t *detail = one_row(c, "batch.create", obj, &keep);
    assert_string_equal(tapi_jstr(detail, "policy"), "silent"); /* its parameters */
    json_decref(keep);

    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", batch);
    killed_call(c, "POST", path, NULL);
    snprintf(path, sizeof path, "/api/v1/batches/%s", batch);
    json_t *b = tacc_get_json(c, path, 200);
    assert_string_equal(tapi_jstr(b, "state"), "terminated");
    json_decref(b);
    expect_row(c, "batch.terminate", obj);

    snprintf(path, sizeof path, "/api/v1/firmwares/%s", fw);
    killed_call(c, "DELETE", path, NULL);
    json_decref(tacc_get_json(c, path, 404));
    snprintf(obj, sizeof obj, "firmware:%s", fw);
    expect_row(c, "firmware.delete", obj);

    killed_call(c, "POST", "/api/v1/users", "{\"userName\":\"kept\",\"role\":\"viewer\"}");
    first_item(c, "/api/v1/users", "userName", obj, sizeof obj);
    assert_string_equal(obj, "kept");
    expect_row(c, "user.create", "user:kept");

    killed_call(c, "POST", "/api/v1/tokens",
                "{\"name\":\"ci\",\"role\":\"viewer\",\"userName\":\"kept\"}");
    first_item(c, "/api/v1/tokens", "id", tok, sizeof tok);
    snprintf(obj, sizeof obj, "token:%s", tok);
    expect_row(c, "token.create", obj);

    snprintf(path, sizeof path, "/api/v1/tokens/%s", tok);
    killed_call(c, "DELETE", path, NULL);
    json_t *t = tacc_get_json(c, "/api/v1/tokens", 200);
    assert_int_equal(json_array_size(json_object_get(t, "items")), 0); /* revoked */
    json_decref(t);
    expect_row(c, "token.revoke", obj);

    killed_call(c, "POST", "/api/v1/webhooks",
                "{\"url\":\"http://127.0.0.1:9/hook\",\"secret\":\"0123456789abcdef\","
                "\"events\":[\"batch.created\"]}");
    char hook[24];
    first_item(c, "/api/v1/webhooks", "id", hook, sizeof hook);
    snprintf(obj, sizeof obj, "webhook:%s", hook);
    expect_row(c, "webhook.create", obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_never_without_row),
    };
    return cmocka_run_group_tests(tests, setup_armed, tapi_teardown);
}
