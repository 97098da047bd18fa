/* Integration: health, auth, products, devices (one by one and NDJSON import), bad input
 * and the console's file serving, against the real otad over HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_api_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

static void test_health_and_auth(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    assert_int_equal(oth_http(&c->env, "GET", "/api/v1/health", 0, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(tapi_jstr(r.json, "status"), "ok");
    assert_string_equal(tapi_jstr(r.json, "store"), "ok");
    assert_true(strcmp(tapi_jstr(r.json, "broker"), "not_configured") == 0 ||
                strcmp(tapi_jstr(r.json, "broker"), "connected") == 0);
    oth_resp_free(&r);

    /* no token, wrong token, prefix of the token, other scheme */
    oth_http(&c->env, "GET", "/api/v1/products", 0, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(oth_err_code(&r), "unauthorized");
    oth_resp_free(&r);
    char bad[200];
    const char *hdr[] = {bad, NULL};
    snprintf(bad, sizeof bad, "Authorization: Bearer %s", "wrong-token-123");
    oth_http(&c->env, "GET", "/api/v1/products", 0, NULL, NULL, 0, hdr, &r);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);
    snprintf(bad, sizeof bad, "Authorization: Bearer %.10s", c->env.admin_token);
    oth_http(&c->env, "GET", "/api/v1/products", 0, NULL, NULL, 0, hdr, &r);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);
    snprintf(bad, sizeof bad, "Authorization: Basic %s", c->env.admin_token);
    oth_http(&c->env, "GET", "/api/v1/products", 0, NULL, NULL, 0, hdr, &r);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);
    /* 401 comes before any body is looked at */
    oth_http(&c->env, "POST", "/api/v1/products", 0, "application/json", "{}", 2, NULL, &r);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);
    /* unknown API path: 401 without the token, JSON 404 with it; wrong method: 405 */
    oth_http(&c->env, "GET", "/api/v1/nothing", 0, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);
    oth_get(&c->env, "/api/v1/nothing", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(oth_err_code(&r), "not_found");
    oth_resp_free(&r);
    oth_http(&c->env, "DELETE", "/api/v1/products", 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 405);
    oth_resp_free(&r);
}

static void test_products(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char key[16], path[128];
    assert_int_equal(tapi_post(c, "/api/v1/products",
                               "{\"productName\":\"智能灯-v2\",\"description\":\"客厅\"}", &r),
                     201);
    snprintf(key, sizeof key, "%s", tapi_jstr(r.json, "productKey"));
    assert_int_equal(strlen(key), 11);
    assert_string_equal(tapi_jstr(r.json, "productName"), "智能灯-v2");
    assert_string_equal(tapi_jstr(r.json, "description"), "客厅");
    assert_true(strlen(tapi_jstr(r.json, "createdTime")) == 24);
    oth_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/products/%s", key);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(tapi_jstr(r.json, "productKey"), key);
    oth_resp_free(&r);
    oth_get(&c->env, "/api/v1/products/AAAAAAAAAAA", &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);
    oth_get(&c->env, "/api/v1/products/..%2F..%2Fetc", &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);

    oth_get(&c->env, "/api/v1/products?pageSize=1000", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_integer_value(json_object_get(r.json, "total")) >= 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "pageSize")), 1000);
    assert_int_equal(json_integer_value(json_object_get(r.json, "page")), 1);
    oth_resp_free(&r);

    /* the rules, each answering the field at fault */
    static const struct {
        const char *body;
        long status;
        const char *code, *field;
    } bad[] = {
        {"{\"productName\":\"lamp one\"}", 422, "invalid_field", "productName"},
        {"{\"productName\":\"-lamp\"}", 422, "invalid_field", "productName"},
        {"{\"productName\":\"\"}", 422, "invalid_field", "productName"},
        {"{\"productName\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 422,
         "invalid_field", "productName"},
        {"{\"description\":\"x\"}", 422, "missing_field", "productName"},
        {"{\"productName\":5}", 400, "invalid_type", "productName"},
        {"{\"productName\":\"lamp\",\"description\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
         422, "invalid_field", "description"},
        {"{\"productName\":\"lamp\",\"color\":\"red\"}", 400, "unknown_field", "color"},
        {"{\"productName\":\"lamp\"", 400, "invalid_json", NULL},
        {"[1,2]", 400, "invalid_json", NULL},
        {"", 400, "invalid_json", NULL},
        {"{\"productName\":\"a\",\"productName\":\"b\"}", 400, "invalid_json", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tapi_post(c, "/api/v1/products", bad[i].body, &r);
        if (r.status != bad[i].status)
            fprintf(stderr, "case %zu: %ld %s\n", i, r.status, r.body);
        assert_int_equal(r.status, bad[i].status);
        assert_string_equal(oth_err_code(&r), bad[i].code);
        if (bad[i].field)
            assert_string_equal(oth_err_field(&r), bad[i].field);
        assert_true(strlen(json_string_value(
                        json_object_get(json_object_get(r.json, "error"), "message"))) > 5);
        oth_resp_free(&r);
    }
    /* wrong content type, over-long body */
    tapi_post_raw(c, "/api/v1/products", "text/plain", "{\"productName\":\"lamp\"}", &r);
    assert_int_equal(r.status, 415);
    oth_resp_free(&r);
    size_t big = 70000;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    tapi_post_raw(c, "/api/v1/products", "application/json", body, &r);
    assert_int_equal(r.status, 413);
    oth_resp_free(&r);
    free(body);
}

static void test_devices(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char key[16], path[200], secret[40];
    tapi_product(c, "devices-lamp", key);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", key);
    assert_int_equal(
        tapi_post(c, path, "{\"identifier\":\"lamp-01\",\"deviceName\":\"厨房 #1\"}", &r), 201);
    oth_device_secret(&c->env, key, "lamp-01", secret);
    assert_string_equal(tapi_jstr(r.json, "deviceSecret"), secret);
    assert_string_equal(tapi_jstr(r.json, "identifier"), "lamp-01");
    assert_string_equal(tapi_jstr(r.json, "deviceName"), "厨房 #1");
    assert_true(json_is_false(json_object_get(r.json, "activated")));
    assert_true(json_is_false(json_object_get(r.json, "online")));
    assert_true(json_is_null(json_object_get(r.json, "firmwareVersion")));
    oth_resp_free(&r);

    assert_int_equal(
        tapi_post(c, path, "{\"identifier\":\"lamp-01\",\"deviceName\":\"again\"}", &r), 409);
    assert_string_equal(oth_err_field(&r), "identifier");
    oth_resp_free(&r);
    static const struct {
        const char *body, *field;
        long status;
    } bad[] = {
        {"{\"identifier\":\"lamp.01\",\"deviceName\":\"x\"}", "identifier", 422},
        {"{\"identifier\":\"\",\"deviceName\":\"x\"}", "identifier", 422},
        {"{\"identifier\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
         "\"deviceName\":\"x\"}",
         "identifier", 422},
        {"{\"identifier\":\"lamp-02\",\"deviceName\":\"tab\\there\"}", "deviceName", 422},
        {"{\"identifier\":\"lamp-02\",\"deviceName\":\"\"}", "deviceName", 422},
        {"{\"identifier\":\"lamp-02\"}", "deviceName", 422},
        {"{\"identifier\":\"lamp-02\",\"deviceName\":\"x\",\"secret\":\"s\"}", "secret", 400},
        {"{\"identifier\":2,\"deviceName\":\"x\"}", "identifier", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tapi_post(c, path, bad[i].body, &r);
        if (r.status != bad[i].status)
            fprintf(stderr, "device case %zu: %ld %s\n", i, r.status, r.body);
        assert_int_equal(r.status, bad[i].status);
        assert_string_equal(oth_err_field(&r), bad[i].field);
        oth_resp_free(&r);
    }
    assert_int_equal(tapi_post(c, "/api/v1/products/AAAAAAAAAAA/devices",
                               "{\"identifier\":\"x\",\"deviceName\":\"x\"}", &r),
                     404);
    oth_resp_free(&r);

    /* GET hides the secret */
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/lamp-01", key);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "deviceSecret"));
    assert_string_equal(tapi_jstr(r.json, "deviceName"), "厨房 #1");
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/nope", key);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);

    /* paging and the online filter */
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", key);
    for (int i = 2; i <= 5; i++) {
        char b[128];
        snprintf(b, sizeof b, "{\"identifier\":\"lamp-0%d\",\"deviceName\":\"L%d\"}", i, i);
        assert_int_equal(tapi_post(c, path, b, &r), 201);
        oth_resp_free(&r);
    }
    char q[256];
    snprintf(q, sizeof q, "UPDATE devices SET online=1, activated=1 WHERE identifier='lamp-03'");
    assert_int_equal(tapi_sql(c, q), 0);
    snprintf(q, sizeof q, "%s?page=2&pageSize=2", path);
    oth_get(&c->env, q, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 5);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    assert_string_equal(
        tapi_jstr(json_array_get(json_object_get(r.json, "items"), 0), "identifier"), "lamp-03");
    oth_resp_free(&r);
    snprintf(q, sizeof q, "%s?online=true", path);
    oth_get(&c->env, q, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
    oth_resp_free(&r);
    snprintf(q, sizeof q, "%s?online=false", path);
    oth_get(&c->env, q, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 4);
    oth_resp_free(&r);
    static const char *badq[] = {"?online=yes", "?page=0", "?pageSize=0", "?pageSize=1001",
                                 "?page=abc"};
    for (size_t i = 0; i < sizeof badq / sizeof badq[0]; i++) {
        snprintf(q, sizeof q, "%s%s", path, badq[i]);
        oth_get(&c->env, q, &r);
        assert_int_equal(r.status, 400);
        oth_resp_free(&r);
    }
}

static long import(tapi_ctx *c, const char *key, const char *ctype, const char *body, oth_resp *r)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", key);
    oth_http(&c->env, "POST", path, 1, ctype, body, strlen(body), NULL, r);
    return r->status;
}

static json_int_t device_total(tapi_ctx *c, const char *key)
{
    char path[200];
    oth_resp r;
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", key);
    oth_get(&c->env, path, &r);
    json_int_t n = json_integer_value(json_object_get(r.json, "total"));
    oth_resp_free(&r);
    return n;
}

static void test_import(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char key[16];
    tapi_product(c, "import-lamp", key);
    const char *nd = "{\"identifier\":\"a1\",\"deviceName\":\"A 1\"}\n"
                     "{\"identifier\":\"a2\",\"deviceName\":\"灯 2\"}\r\n"
                     "\n"
                     "{\"deviceName\":\"A 3\",\"identifier\":\"a3\"}";
    assert_int_equal(import(c, key, "application/x-ndjson", nd, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), 3);
    oth_resp_free(&r);
    assert_int_equal(device_total(c, key), 3);

    /* all or nothing: a bad line anywhere leaves no device, and says which line */
    static const struct {
        const char *body;
        long status;
        int line;
        const char *field;
    } bad[] = {
        {"{\"identifier\":\"b1\",\"deviceName\":\"B\"}\n{\"identifier\":\"a1\",\"deviceName\":"
         "\"dup\"}\n",
         409, 2, "identifier"},
        {"{\"identifier\":\"b1\",\"deviceName\":\"B\"}\n{\"identifier\":\"b1\",\"deviceName\":"
         "\"B\"}\n",
         409, 2, "identifier"},
        {"{\"identifier\":\"b1\",\"deviceName\":\"B\"}\n\n{\"identifier\":\"b "
         "2\",\"deviceName\":\"B\"}\n",
         422, 3, "identifier"},
        {"{\"identifier\":\"b1\",\"deviceName\":\"B\"}\nnot json\n", 400, 2, NULL},
        {"{\"identifier\":\"b1\"}\n", 422, 1, "deviceName"},
        {"{\"identifier\":\"b1\",\"deviceName\":\"B\",\"x\":1}\n", 400, 1, "x"},
        {"[\"b1\"]\n", 400, 1, NULL},
        {"\n\n", 422, 0, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        import(c, key, "application/x-ndjson", bad[i].body, &r);
        if (r.status != bad[i].status)
            fprintf(stderr, "import case %zu: %ld %s\n", i, r.status, r.body);
        assert_int_equal(r.status, bad[i].status);
        json_t *line = json_object_get(json_object_get(r.json, "error"), "line");
        if (bad[i].line)
            assert_int_equal(json_integer_value(line), bad[i].line);
        if (bad[i].field)
            assert_string_equal(oth_err_field(&r), bad[i].field);
        oth_resp_free(&r);
        assert_int_equal(device_total(c, key), 3);
    }
    /* a line longer than 4 KiB */
    char *longline = malloc(6000);
    memset(longline, 'x', 5999);
    longline[5999] = '\0';
    assert_int_equal(import(c, key, "application/x-ndjson", longline, &r), 413);
    oth_resp_free(&r);
    free(longline);
    assert_int_equal(import(c, key, "application/json", "{}", &r), 415);
    oth_resp_free(&r);
    assert_int_equal(import(c, "AAAAAAAAAAA", "application/x-ndjson",
                            "{\"identifier\":\"b1\",\"deviceName\":\"B\"}", &r),
                     404);
    oth_resp_free(&r);
    assert_int_equal(device_total(c, key), 3);
}

static void test_console_files(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    /* OTA_CONSOLE_DIR is not set for this otad: the source tree's console folder is served
     * if it has an index.html; traversal never leaves it either way. */
    static const char *bad[] = {
        "/../../etc/passwd",   "/%2e%2e/%2e%2e/etc/passwd",       "/.git/config",
        "/x/../../etc/passwd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/nothing-here.js"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oth_http(&c->env, "GET", bad[i], 0, NULL, NULL, 0, NULL, &r);
        if (r.status != 404 && r.status != 400)
            fprintf(stderr, "console %s: %ld\n", bad[i], r.status);
        assert_true(r.status == 404 || r.status == 400);
        assert_null(strstr(r.body, "root:"));
        oth_resp_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_auth), cmocka_unit_test(test_products),
        cmocka_unit_test(test_devices),         cmocka_unit_test(test_import),
        cmocka_unit_test(test_console_files),
    };
    return cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
}
