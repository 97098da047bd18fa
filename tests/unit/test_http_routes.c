/*
 * Unit test of the route table (server/http): every route declares who may call it
 * (http_access), so a route added without one fails here; routes under /api/v1 need a
 * role except the few meant for everyone (health, sign-in) and the broker's own; the
 * hawkBit DDI paths take a device credential and nothing else; the
 * account routes need the roles docs/api.md gives them; every change route names its audit
 * action. test_api_roles calls each route with each role against a running otad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_internal.h"

static const http_route *find(const char *method, const char *pattern)
{
    const http_route *rt;
    for (size_t i = 0; (rt = http__route_at(i)) != NULL; i++)
        if (strcmp(rt->method, method) == 0 && strcmp(rt->pattern, pattern) == 0)
            return rt;
    return NULL;
}

static void test_every_route_declares_access(void **st)
{
    (void)st;
    const http_route *rt;
    size_t n = 0, bad = 0;
    for (size_t i = 0; (rt = http__route_at(i)) != NULL; i++, n++) {
        int ok = rt->access > HTTP_ACCESS_UNSET && rt->access <= HTTP_ADMIN;
        if (ok && strncmp(rt->pattern, "/api/", 5) == 0 && rt->access == HTTP_PUBLIC)
            ok = strcmp(rt->pattern, "/api/v1/health") == 0 ||
                 strcmp(rt->pattern, "/api/v1/auth/login") == 0;
        if (ok && rt->access == HTTP_BROKER)
            ok = strncmp(rt->pattern, "/api/v1/broker/", 15) == 0;
        /* the device credential is for the hawkBit DDI paths only, and they take no other */
        if (ok && (rt->access == HTTP_DEVICE) !=
                      (strstr(rt->pattern, "/controller/v1/") != NULL))
            ok = 0;
        if (ok && strcmp(rt->method, "GET") != 0 && rt->access == HTTP_VIEWER)
            ok = strncmp(rt->pattern, "/api/v1/tokens", 14) == 0 ||
                 strcmp(rt->pattern, "/api/v1/auth/logout") == 0;
        if (!ok) {
            fprintf(stderr, "route %s %s: access %s is missing or not allowed here\n", rt->method,
                    rt->pattern, http_access_name(rt->access));
            bad++;
        }
    }
    assert_true(n >= 30);
    assert_int_equal(bad, 0);
}

/* Every route that writes audit rows (a change, a sign-in) names its action in audit.c's
 * table, so a new change route cannot land with the "METHOD pattern" stand-in; reads and
 * device/broker routes write none. */
static void test_every_change_has_an_audit_action(void **st)
{
    (void)st;
    const http_route *rt;
    size_t changes = 0, bad = 0;
    for (size_t i = 0; (rt = http__route_at(i)) != NULL; i++) {
        int audited = 0;
        const char *action = http__audit_action(rt, &audited);
        int change = strcmp(rt->method, "GET") != 0 && strcmp(rt->method, "HEAD") != 0 &&
                     http_access_role(rt->access) != ACCT_ROLE_NONE;
        if (change)
            changes++;
        if (audited != (change || strcmp(rt->pattern, "/api/v1/auth/login") == 0) ||
            (audited && (!action || !strchr(action, '.') || strchr(action, ' ')))) {
            fprintf(stderr, "route %s %s: audited %d, action %s\n", rt->method, rt->pattern,
                    audited, action ? action : "(none: add it to audit.c's actions[])");
            bad++;
        }
    }
    assert_true(changes >= 25);
    assert_int_equal(bad, 0);
}

static void test_account_routes(void **st)
{
    (void)st;
    assert_int_equal(find("POST", "/api/v1/users")->access, HTTP_ADMIN);
    assert_int_equal(find("GET", "/api/v1/users")->access, HTTP_ADMIN);
    assert_int_equal(find("PATCH", "/api/v1/users/{userName}")->access, HTTP_ADMIN);
    assert_int_equal(find("POST", "/api/v1/tokens")->access, HTTP_VIEWER);
    assert_int_equal(find("DELETE", "/api/v1/tokens/{id}")->access, HTTP_VIEWER);
    assert_int_equal(find("POST", "/api/v1/auth/login")->access, HTTP_PUBLIC);
    assert_int_equal(find("POST", "/api/v1/products")->access, HTTP_OPERATOR);
    assert_int_equal(find("GET", "/api/v1/products")->access, HTTP_VIEWER);
    assert_int_equal(find("POST", "/api/v1/batches/{batchId}/terminate")->access, HTTP_OPERATOR);
    assert_string_equal(http_access_name(HTTP_ACCESS_UNSET), "?");
    assert_int_equal(http_access_role(HTTP_OPERATOR), ACCT_OPERATOR);
    assert_int_equal(http_access_role(HTTP_PUBLIC), ACCT_ROLE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_route_declares_access),
                                       cmocka_unit_test(test_every_change_has_an_audit_action),
                                       cmocka_unit_test(test_account_routes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
