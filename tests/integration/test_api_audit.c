/*
 * Integration: the audit log as an admin reads it. Changes of every kind (product, device,
 * batch with its parameters, firmware delete, user and token changes, sign-in, failed
 * sign-in, sign-out, a refused attempt) each leave one row with actor, source, action,
 * object and result, newest first; reads leave none; filters and cursor pages; only an
 * admin reads it, and no route changes or deletes rows. Runs on PostgreSQL too when
 * OTA_TEST_PG_URL is set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_accounts_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PW "audit-Passw0rd"

/* The newest row of the log, as json (decref it). */
static json_t *newest(tapi_ctx *c)
{
    json_t *j = tacc_get_json(c, "/api/v1/audit?limit=1", 200);
    json_t *row = json_incref(json_array_get(json_object_get(j, "items"), 0));
    json_decref(j);
    assert_non_null(row);
    return row;
}

static void expect_row(json_t *row, const char *actor, const char *action, const char *object,
                       const char *result)
{
    assert_string_equal(tapi_jstr(row, "actor"), actor);
    assert_string_equal(tapi_jstr(row, "action"), action);
    if (object)
        assert_string_equal(tapi_jstr(row, "object"), object);
    assert_string_equal(tapi_jstr(row, "result"), result);
    assert_string_equal(tapi_jstr(row, "source"), "127.0.0.1");
    assert_true(strlen(tapi_jstr(row, "time")) >= 20);
}

static void test_changes_leave_rows(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char pk[16], path[200], obj[64], tok[80], id[24];
    json_t *row;
    const char *admin = c->env.admin_token;

    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/products", admin, "{\"productName\":\"audited\"}", &r), 201);
    snprintf(pk, sizeof pk, "%s", tapi_jstr(r.json, "productKey"));
    oth_resp_free(&r);
    row = newest(c);
    snprintf(obj, sizeof obj, "product:%s", pk);
    expect_row(row, "admin-token", "product.create", obj, "ok");
    json_decref(row);

    /* a read adds nothing */
    json_t *before = tacc_get_json(c, "/api/v1/audit?limit=1000", 200);
    size_t n_before = json_array_size(json_object_get(before, "items"));
    json_decref(before);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/products", admin, NULL, &r), 200);
    oth_resp_free(&r);
    json_t *after = tacc_get_json(c, "/api/v1/audit?limit=1000", 200);
    assert_int_equal(json_array_size(json_object_get(after, "items")), n_before);
    json_decref(after);

    snprintf(path, sizeof path, "/api/v1/products/%s/devices", pk);
    assert_int_equal(
        tacc_call(c, "POST", path, admin, "{\"identifier\":\"dev-1\",\"deviceName\":\"d\"}", &r),
        201);
    oth_resp_free(&r);
    row = newest(c);
    snprintf(obj, sizeof obj, "device:%s.dev-1", pk);
    expect_row(row, "admin-token", "device.create", obj, "ok");
    json_decref(row);

    /* a batch: its parameters are kept, also when it is refused */
    const char *batch = "{\"scope\":\"all\",\"validityDays\":2,\"policy\":\"standard\","
                        "\"timeoutMinutes\":30,\"retryTimes\":1,\"retryIntervalMinutes\":5}";
    assert_int_equal(tacc_call(c, "POST", "/api/v1/firmwares/999/batches", admin, batch, &r), 404);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "admin-token", "batch.create", "firmware:999", "404 not_found");
    json_t *detail = json_object_get(row, "detail");
    assert_int_equal(json_integer_value(json_object_get(detail, "validityDays")), 2);
    assert_string_equal(tapi_jstr(detail, "policy"), "standard");
    json_decref(row);

    /* a directed batch of 1,000 devices (12 KB): its parameters kept, the list cut short */
    size_t cap = 16000, len;
    char *big = malloc(cap);
    assert_non_null(big);
    len =
        (size_t)snprintf(big, cap, "{\"scope\":\"directed\",\"validityDays\":3,\"identifiers\":[");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s\"dev-%05d\"", i ? "," : "", i);
    snprintf(big + len, cap - len, "]}");
    assert_int_equal(tacc_call(c, "POST", "/api/v1/firmwares/998/batches", admin, big, &r), 404);
    oth_resp_free(&r);
    free(big);
    row = newest(c);
    expect_row(row, "admin-token", "batch.create", "firmware:998", "404 not_found");
    detail = json_object_get(row, "detail");
    assert_int_equal(json_integer_value(json_object_get(detail, "validityDays")), 3);
    assert_string_equal(tapi_jstr(detail, "scope"), "directed");
    assert_int_equal(json_array_size(json_object_get(detail, "identifiers")), 20);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(detail, "identifiers"), 0)), "dev-00000");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(detail, "truncated"), "identifiers")),
        1000);
    json_decref(row);

    assert_int_equal(tacc_call(c, "POST", "/api/v1/batches/77/terminate", admin, NULL, &r), 404);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "admin-token", "batch.terminate", "batch:77", "404 not_found");
    json_decref(row);

    assert_int_equal(tacc_call(c, "DELETE", "/api/v1/firmwares/55", admin, NULL, &r), 404);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "admin-token", "firmware.delete", "firmware:55", "404 not_found");
    json_decref(row);

    /* users, tokens, sign-in, failed sign-in, sign-out; passwords are never in a row */
    tacc_user(c, "auditor", PW, "viewer");
    row = newest(c);
    expect_row(row, "admin-token", "user.create", "user:auditor", "ok");
    assert_true(json_is_null(json_object_get(row, "detail")));
    json_decref(row);
    tacc_token(c, "auditor", "viewer", tok, id);
    row = newest(c);
    snprintf(obj, sizeof obj, "token:%s", id);
    expect_row(row, "admin-token", "token.create", obj, "ok");
    json_decref(row);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/auth/login", NULL,
                               "{\"userName\":\"auditor\",\"password\":\"nope-nope\"}", &r),
                     401);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "auditor", "auth.login", "user:auditor", "401 invalid_credentials");
    json_decref(row);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/auth/login", NULL,
                               "{\"userName\":\"auditor\",\"password\":\"" PW "\"}", &r),
                     200);
    char *sess = strdup(tapi_jstr(r.json, "token"));
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "auditor", "auth.login", "user:auditor", "ok");
    json_decref(row);
    /* a viewer's refused change is recorded with its actor */
    assert_int_equal(tacc_call(c, "POST", "/api/v1/products", sess, "{\"productName\":\"no\"}", &r),
                     403);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "auditor", "product.create", NULL, "403 forbidden");
    json_decref(row);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/auth/logout", sess, NULL, &r), 204);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "auditor", "auth.logout", "user:auditor", "ok");
    json_decref(row);
    snprintf(path, sizeof path, "/api/v1/tokens/%s", id);
    assert_int_equal(tacc_call(c, "DELETE", path, admin, NULL, &r), 204);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "admin-token", "token.revoke", obj, "ok");
    json_decref(row);
    assert_int_equal(
        tacc_call(c, "PATCH", "/api/v1/users/auditor", admin, "{\"disabled\":true}", &r), 200);
    oth_resp_free(&r);
    row = newest(c);
    expect_row(row, "admin-token", "user.update", "user:auditor", "ok");
    json_decref(row);

    /* nothing anywhere holds the password */
    json_t *all = tacc_get_json(c, "/api/v1/audit?limit=1000", 200);
    char *text = json_dumps(all, 0);
    assert_null(strstr(text, PW));
    free(text);
    json_decref(all);
    free(sess);
}

static void test_filters_and_pages(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char path[300];
    /* by action and by actor */
    json_t *j = tacc_get_json(c, "/api/v1/audit?action=auth.login", 200);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    for (size_t i = 0; i < json_array_size(items); i++)
        assert_string_equal(tapi_jstr(json_array_get(items, i), "action"), "auth.login");
    json_decref(j);
    j = tacc_get_json(c, "/api/v1/audit?actor=auditor&object=user:auditor", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 3); /* 2 sign-ins, sign-out */
    json_decref(j);
    j = tacc_get_json(c, "/api/v1/audit?from=2100-01-01T00:00:00Z", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    j = tacc_get_json(c, "/api/v1/audit?to=2001-01-01T00:00:00Z", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    /* pages of 3 by cursor: newest first, strictly descending, every row once */
    json_t *whole = tacc_get_json(c, "/api/v1/audit?limit=1000", 200);
    size_t total = json_array_size(json_object_get(whole, "items"));
    assert_true(total >= 13);
    /* a time range that cuts the log: from a middle row's time on, and before it (the
     * times are one fixed-width RFC 3339 form, so they compare as text) */
    const char *mid = tapi_jstr(json_array_get(json_object_get(whole, "items"), total / 2), "time");
    size_t later = 0, earlier = 0;
    for (size_t i = 0; i < total; i++) {
        const char *tm = tapi_jstr(json_array_get(json_object_get(whole, "items"), i), "time");
        assert_int_equal(strlen(tm), strlen(mid));
        if (strcmp(tm, mid) >= 0)
            later++;
        else
            earlier++;
    }
    assert_true(later >= 1 && earlier + later == total);
    snprintf(path, sizeof path, "/api/v1/audit?limit=1000&from=%s", mid);
    j = tacc_get_json(c, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), later);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/audit?limit=1000&to=%s", mid);
    j = tacc_get_json(c, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), earlier);
    json_decref(j);
    size_t seen = 0;
    long long last = -1;
    char cursor[32] = "";
    do {
        snprintf(path, sizeof path, "/api/v1/audit?limit=3%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        j = tacc_get_json(c, path, 200);
        items = json_object_get(j, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *row = json_array_get(items, i);
            long long id = atoll(tapi_jstr(row, "id"));
            assert_true(last < 0 || id < last);
            assert_string_equal(
                tapi_jstr(row, "id"),
                tapi_jstr(json_array_get(json_object_get(whole, "items"), seen), "id"));
            last = id;
            seen++;
        }
        json_t *next = json_object_get(j, "nextCursor");
        cursor[0] = '\0';
        if (json_is_string(next))
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(j);
    } while (cursor[0]);
    assert_int_equal(seen, total);
    json_decref(whole);
    /* bad parameters name themselves */
    assert_int_equal(tacc_call(c, "GET", "/api/v1/audit?limit=0", c->env.admin_token, NULL, &r),
                     400);
    assert_string_equal(oth_err_field(&r), "limit");
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/audit?cursor=abc", c->env.admin_token, NULL, &r),
                     400);
    assert_string_equal(oth_err_field(&r), "cursor");
    oth_resp_free(&r);
    assert_int_equal(
        tacc_call(c, "GET", "/api/v1/audit?from=yesterday", c->env.admin_token, NULL, &r), 400);
    assert_string_equal(oth_err_field(&r), "from");
    oth_resp_free(&r);
}

static void test_admin_only_append_only(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char tok[80];
    tacc_user(c, "ops", NULL, "operator");
    tacc_token(c, "ops", "operator", tok, NULL);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/audit", tok, NULL, &r), 403);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/audit", NULL, NULL, &r), 401);
    oth_resp_free(&r);
    /* no route deletes or changes rows */
    static const char *const methods[] = {"DELETE", "PATCH", "PUT", "POST"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tacc_call(c, methods[i], "/api/v1/audit", c->env.admin_token, "{}", &r),
                         405);
        oth_resp_free(&r);
        assert_int_equal(tacc_call(c, methods[i], "/api/v1/audit/1", c->env.admin_token, "{}", &r),
                         404);
        oth_resp_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_leave_rows),
        cmocka_unit_test(test_filters_and_pages),
        cmocka_unit_test(test_admin_only_append_only),
    };
    return cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
}
