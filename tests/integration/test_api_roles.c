/*
 * Integration: every route otad answers (otad --list-routes, with the access each route
 * declares) called without a credential and with a viewer's, an operator's and an admin's
 * token. A route that needs a role answers 401 without one, 403 `forbidden` to a role below
 * it and never 401/403 to one at or above it; public routes never ask for a credential;
 * broker routes take only the broker token, device routes (hawkBit DDI) only a device's;
 * every call of a change route leaves its audit row. A new route is in this test by
 * construction.
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

#define MAXR 256

typedef struct {
    char method[16], path[512], access[16];
} route;

static int read_routes(route *out)
{
    char cmd[600], line[1024];
    int n = 0;
    snprintf(cmd, sizeof cmd, "%s/server/otad --list-routes", OTA_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof line, p) && n < MAXR) {
        char m[16], pat[512], acc[16], *o = out[n].path;
        if (sscanf(line, "%15s %511s %15s", m, pat, acc) != 3)
            continue;
        /* every {param} or {param*} becomes "x" */
        for (const char *s = pat; *s && o < out[n].path + sizeof out[n].path - 2; s++) {
            if (*s == '{') {
                *o++ = 'x';
                while (*s && *s != '}')
                    s++;
            } else
                *o++ = *s;
        }
        *o = '\0';
        snprintf(out[n].method, sizeof out[n].method, "%s", m);
        snprintf(out[n].access, sizeof out[n].access, "%s", acc);
        n++;
    }
    assert_int_equal(pclose(p), 0);
    return n;
}

static int level(const char *access)
{
    static const char *const names[] = {"viewer", "operator", "admin"};
    for (int i = 0; i < 3; i++)
        if (strcmp(access, names[i]) == 0)
            return i + 1;
    return 0;
}

static void test_every_route_every_role(void **st)
{
    tapi_ctx *c = *st;
    static route routes[MAXR];
    const char *names[3] = {"role-viewer", "role-operator", "role-admin"};
    const char *roles[3] = {"viewer", "operator", "admin"};
    char tokens[3][80];
    int n = read_routes(routes), checked = 0, bad = 0, changes = 0;
    long long last_row = 0;
    oth_resp r;
    assert_true(n >= 30);
    for (int i = 0; i < 3; i++) {
        tacc_user(c, names[i], NULL, roles[i]);
        tacc_token(c, names[i], roles[i], tokens[i], NULL);
    }
    for (int i = 0; i < n; i++) {
        route *rt = &routes[i];
        int need = level(rt->access);
        long s = tacc_call(c, rt->method, rt->path, NULL, NULL, &r);
        oth_resp_free(&r);
        if (strcmp(rt->access, "public") == 0) {
            if (s == 401 || s == 403 || s == 0) {
                fprintf(stderr, "%s %s (public) answered %ld without a token\n", rt->method,
                        rt->path, s);
                bad++;
            }
            checked++;
            continue;
        }
        if (s != 401) {
            fprintf(stderr, "%s %s (%s) answered %ld without a token\n", rt->method, rt->path,
                    rt->access, s);
            bad++;
        }
        if (strcmp(rt->access, "device") == 0) {
            /* a DDI device's TargetToken only (test_ddi_protocol): not the admin's */
            s = tacc_call(c, rt->method, rt->path, c->env.admin_token, NULL, &r);
            oth_resp_free(&r);
            if (s != 401) {
                fprintf(stderr, "%s %s (device) answered %ld to the admin token\n", rt->method,
                        rt->path, s);
                bad++;
            }
            checked++;
            continue;
        }
        if (strcmp(rt->access, "broker") == 0) {
            /* the broker token only: not even the admin's */
            s = tacc_call(c, rt->method, rt->path, c->env.admin_token, NULL, &r);
            oth_resp_free(&r);
            if (s != 401) {
                fprintf(stderr, "%s %s (broker) answered %ld to the admin token\n", rt->method,
                        rt->path, s);
                bad++;
            }
            checked++;
            continue;
        }
        assert_true(need > 0);
        for (int k = 0; k < 3; k++) {
            s = tacc_call(c, rt->method, rt->path, tokens[k], NULL, &r);
            int want_forbidden = k + 1 < need;
            int ok = want_forbidden ? s == 403 && strcmp(oth_err_code(&r), "forbidden") == 0
                                    : s != 401 && s != 403 && s != 0;
            if (!ok) {
                fprintf(stderr, "%s %s (%s) answered %ld (%s) to a %s\n", rt->method, rt->path,
                        rt->access, s, oth_err_code(&r), roles[k]);
                bad++;
            }
            oth_resp_free(&r);
        }
        /* a change (any answer) leaves its row, the admin's call being the newest, with a
         * named action (audit.c's table; test_http_routes checks the table itself) */
        if (strcmp(rt->method, "GET") != 0 && strcmp(rt->method, "HEAD") != 0) {
            json_t *j = tacc_get_json(c, "/api/v1/audit?limit=1", 200);
            json_t *row = json_array_get(json_object_get(j, "items"), 0);
            const char *action = row ? tapi_jstr(row, "action") : "";
            long long id = row ? atoll(tapi_jstr(row, "id")) : 0;
            if (!row || id <= last_row ||
                strcmp(tapi_jstr(row, "actor"), "role-admin/t-role-admin") ||
                !strchr(action, '.') || strchr(action, ' ')) {
                fprintf(stderr, "%s %s: no audit row of its own (newest: %s %s)\n", rt->method,
                        rt->path, row ? tapi_jstr(row, "actor") : "-", action);
                bad++;
            }
            last_row = id > last_row ? id : last_row;
            changes++;
            json_decref(j);
        }
        checked++;
    }
    assert_true(changes >= 25);
    assert_int_equal(checked, n);
    assert_int_equal(bad, 0);
    /* an unknown /api path asks for a credential first, then is not found */
    assert_int_equal(tacc_call(c, "GET", "/api/v1/no-such-thing", NULL, NULL, &r), 401);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/no-such-thing", tokens[0], NULL, &r), 404);
    oth_resp_free(&r);
    /* the bootstrap admin token is an admin */
    assert_int_equal(tacc_call(c, "GET", "/api/v1/users", c->env.admin_token, NULL, &r), 200);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_route_every_role)};
    return cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
}
