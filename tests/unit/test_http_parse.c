/* Unit tests of the HTTP layer's parsers: route patterns and Range headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http_internal.h"

#include <stdlib.h>
#include <string.h>

static void free_req(http_req *r)
{
    for (int i = 0; i < r->n_params; i++) {
        free((char *)r->param_name[i]);
        free(r->param_value[i]);
    }
}

static void test_match(void **st)
{
    (void)st;
    http_req r;
    memset(&r, 0, sizeof r);
    assert_int_equal(http__match("/api/v1/products", "/api/v1/products", NULL), 1);
    assert_int_equal(http__match("/api/v1/products", "/api/v1/products/", NULL), 0);
    assert_int_equal(http__match("/api/v1/products", "/api/v1/product", NULL), 0);
    assert_int_equal(http__match("/api/v1/products/{productKey}/devices/{identifier}",
                                 "/api/v1/products/AbC/devices/d-1", &r),
                     1);
    assert_int_equal(r.n_params, 2);
    assert_string_equal(http_param(&r, "productKey"), "AbC");
    assert_string_equal(http_param(&r, "identifier"), "d-1");
    assert_null(http_param(&r, "nope"));
    free_req(&r);
    memset(&r, 0, sizeof r);
    /* a parameter never spans segments and is never empty */
    assert_int_equal(http__match("/api/v1/products/{productKey}", "/api/v1/products/a/b", NULL), 0);
    assert_int_equal(http__match("/api/v1/products/{productKey}", "/api/v1/products/", NULL), 0);
    /* literal suffix in the segment: devices:import is not devices */
    assert_int_equal(http__match("/api/v1/products/{k}/devices:import",
                                 "/api/v1/products/K/devices:import", NULL),
                     1);
    assert_int_equal(
        http__match("/api/v1/products/{k}/devices", "/api/v1/products/K/devices:import", NULL), 0);
    assert_int_equal(http__match("/x/{id}:go", "/x/42:go", &r), 1);
    assert_string_equal(http_param(&r, "id"), "42");
    free_req(&r);
    memset(&r, 0, sizeof r);
    assert_int_equal(http__match("/x/{id}:go", "/x/:go", NULL), 0);
    /* catch-all */
    assert_int_equal(http__match("/{path*}", "/js/app/main.js", &r), 1);
    assert_string_equal(http_param(&r, "path"), "js/app/main.js");
    free_req(&r);
    assert_int_equal(http__match("/{path*}", "/", NULL), 0);
}

static void test_range(void **st)
{
    (void)st;
    uint64_t a, b;
    assert_int_equal(http__parse_range(NULL, 100, &a, &b), 0);
    assert_int_equal(http__parse_range("bytes=0-9", 100, &a, &b), 1);
    assert_true(a == 0 && b == 9);
    assert_int_equal(http__parse_range("bytes=90-", 100, &a, &b), 1);
    assert_true(a == 90 && b == 99);
    assert_int_equal(http__parse_range("bytes=90-1000", 100, &a, &b), 1);
    assert_true(a == 90 && b == 99);
    assert_int_equal(http__parse_range("bytes=-10", 100, &a, &b), 1);
    assert_true(a == 90 && b == 99);
    assert_int_equal(http__parse_range("bytes=-1000", 100, &a, &b), 1);
    assert_true(a == 0 && b == 99);
    assert_int_equal(http__parse_range("bytes=100-", 100, &a, &b), -1);
    assert_int_equal(http__parse_range("bytes=-0", 100, &a, &b), -1);
    assert_int_equal(http__parse_range("bytes=0-", 0, &a, &b), -1);
    /* malformed or several ranges: the whole file */
    assert_int_equal(http__parse_range("bytes=5-1", 100, &a, &b), 0);
    assert_int_equal(http__parse_range("bytes=0-1,5-6", 100, &a, &b), 0);
    assert_int_equal(http__parse_range("items=0-1", 100, &a, &b), 0);
    assert_int_equal(http__parse_range("bytes=a-b", 100, &a, &b), 0);
    assert_int_equal(http__parse_range("bytes=-", 100, &a, &b), 0);
    assert_int_equal(http__parse_range("bytes=99999999999999999999999-", 100, &a, &b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_match), cmocka_unit_test(test_range)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
