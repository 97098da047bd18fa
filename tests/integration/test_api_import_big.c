/* Integration: one NDJSON import of 1,000,000 devices (all or nothing), timed; then a
 * million-line import with one bad line at the end leaves nothing. */
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

#include "ota_time.h"

#define N 1000000

static char *make_body(size_t *len, int bad_last)
{
    size_t cap = (size_t)N * 64;
    char *b = malloc(cap);
    size_t o = 0;
    for (int i = 0; i < N; i++)
        o += (size_t)snprintf(b + o, cap - o,
                              "{\"identifier\":\"dev-%07d\",\"deviceName\":\"Device %d\"}\n",
                              (bad_last && i == N - 1) ? 0 : i, i);
    *len = o;
    return b;
}

static void test_million(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char key[16], path[200];
    size_t len;
    tapi_product(c, "million", key);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", key);

    /* the last line repeats the first identifier: nothing may be kept */
    char *body = make_body(&len, 1);
    int64_t t0 = ota_time_mono_ms();
    oth_http(&c->env, "POST", path, 1, "application/x-ndjson", body, len, NULL, &r);
    assert_int_equal(r.status, 409);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "error"), "line")),
                     N);
    oth_resp_free(&r);
    free(body);
    fprintf(stderr, "import of %d lines refused at the last line in %lld ms\n", N,
            (long long)(ota_time_mono_ms() - t0));

    body = make_body(&len, 0);
    t0 = ota_time_mono_ms();
    oth_http(&c->env, "POST", path, 1, "application/x-ndjson", body, len, NULL, &r);
    int64_t ms = ota_time_mono_ms() - t0;
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), N);
    oth_resp_free(&r);
    free(body);
    fprintf(stderr, "import of %d devices (%zu bytes) took %lld ms\n", N, len, (long long)ms);

    snprintf(path, sizeof path, "/api/v1/products/%s/devices?page=50000&pageSize=20", key);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), N);
    assert_string_equal(
        tapi_jstr(json_array_get(json_object_get(r.json, "items"), 19), "identifier"),
        "dev-0999999");
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_million)};
    return cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
}
