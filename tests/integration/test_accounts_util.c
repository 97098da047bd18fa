/*
 * test_accounts_util: the accounts integration tests' helpers (declared and described in
 * test_accounts_util.h). Nothing is kept in this file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_accounts_util.h"

#include <stdio.h>
#include <string.h>

long tacc_call(tapi_ctx *c, const char *method, const char *path, const char *token,
               const char *json, oth_resp *r)
{
    char url[1200];
    snprintf(url, sizeof url, "%s%s", c->env.base_url, path);
    memset(r, 0, sizeof *r);
    oth_http_url(method, url, token, json ? "application/json" : NULL, json,
                 json ? strlen(json) : 0, NULL, r);
    return r->status;
}

json_t *tacc_get_json(tapi_ctx *c, const char *path, long want)
{
    oth_resp r;
    assert_int_equal(tacc_call(c, "GET", path, c->env.admin_token, NULL, &r), want);
    json_t *j = json_incref(r.json);
    oth_resp_free(&r);
    return j;
}

void tacc_user(tapi_ctx *c, const char *name, const char *password, const char *role)
{
    char body[300];
    oth_resp r;
    if (password)
        snprintf(body, sizeof body, "{\"userName\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}",
                 name, password, role);
    else
        snprintf(body, sizeof body, "{\"userName\":\"%s\",\"role\":\"%s\"}", name, role);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/users", c->env.admin_token, body, &r), 201);
    oth_resp_free(&r);
}

void tacc_token(tapi_ctx *c, const char *user, const char *role, char *out, char *id)
{
    char body[300];
    oth_resp r;
    snprintf(body, sizeof body, "{\"name\":\"t-%s\",\"role\":\"%s\",\"userName\":\"%s\"}", user,
             role, user);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/tokens", c->env.admin_token, body, &r), 201);
    snprintf(out, 80, "%s", tapi_jstr(r.json, "token"));
    if (id)
        snprintf(id, 24, "%s", tapi_jstr(r.json, "id"));
    assert_int_equal(strlen(out), 68);
    oth_resp_free(&r);
}
