/*
 * Helpers of the accounts integration tests (test_api_accounts.c, test_api_roles.c):
 * requests with any bearer token, and users and tokens made through the API.
 */
#ifndef TEST_ACCOUNTS_UTIL_H
#define TEST_ACCOUNTS_UTIL_H

#include "test_api_util.h"

/* method path with "Authorization: Bearer token" (NULL = none) and a JSON body (NULL =
 * none). Returns the status. */
static long call(const char *method, const char *path, const char *token, const char *json,
                 oth_resp *r)
{
    char url[1200];
    snprintf(url, sizeof url, "%s%s", env.base_url, path);
    memset(r, 0, sizeof *r);
    oth_http_url(method, url, token, json ? "application/json" : NULL, json,
                 json ? strlen(json) : 0, NULL, r);
    return r->status;
}

/* A user made by the admin token (password NULL = a service account). */
static void make_user(const char *name, const char *password, const char *role)
{
    char body[300];
    oth_resp r;
    if (password)
        snprintf(body, sizeof body, "{\"userName\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}",
                 name, password, role);
    else
        snprintf(body, sizeof body, "{\"userName\":\"%s\",\"role\":\"%s\"}", name, role);
    assert_int_equal(call("POST", "/api/v1/users", env.admin_token, body, &r), 201);
    oth_resp_free(&r);
}

/* An API token of user (role) made by the admin token, into out (>= 80 bytes); its id
 * into id (>= 24 bytes) when not NULL. */
static __attribute__((unused)) void make_token(const char *user, const char *role, char *out,
                                               char *id)
{
    char body[300];
    oth_resp r;
    snprintf(body, sizeof body, "{\"name\":\"t-%s\",\"role\":\"%s\",\"userName\":\"%s\"}", user,
             role, user);
    assert_int_equal(call("POST", "/api/v1/tokens", env.admin_token, body, &r), 201);
    snprintf(out, 80, "%s", jstr(r.json, "token"));
    if (id)
        snprintf(id, 24, "%s", jstr(r.json, "id"));
    assert_int_equal(strlen(out), 68);
    oth_resp_free(&r);
}

#endif
