/*
 * routes_accounts: users, sign-in and tokens (docs/api.md, "Accounts, roles and tokens").
 *
 *   POST   /api/v1/auth/login     {userName, password} -> {token, expiresAt, ...} (session)
 *   POST   /api/v1/auth/logout    revokes the session presented
 *   GET    /api/v1/auth/me        who the credential is, and its role
 *   POST   /api/v1/users          {userName, password?, role} (admin); no password = a
 *                                 service account, which only holds tokens
 *   GET    /api/v1/users          (admin)
 *   PATCH  /api/v1/users/{userName} {role?, disabled?, password?} (admin)
 *   POST   /api/v1/tokens         {name, role, expiresAt?, userName?} -> {id, token, ...}:
 *                                 the token is shown once; role at most the caller's; another
 *                                 user's token (userName) only for an admin
 *   GET    /api/v1/tokens         the caller's API tokens (an admin: everyone's)
 *   DELETE /api/v1/tokens/{id}     revoked at once
 *
 * Sign-in guards against guessing: per user name and per source address, failures past a
 * few make the next attempt wait 1, 2, 4, ... s and then lock it for 15 minutes (429 with
 * Retry-After; core/account.h's throttle); each failure is logged with its address. An
 * unknown user costs the same scrypt as a wrong password, so timing does not tell which.
 *
 * Expected load: sign-ins a few per minute (each one scrypt, ~50 ms); the rest are rare.
 */
#include "http/http.h"

#include "core/validate.h"
#include "ota_log.h"
#include "ota_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_MS (8 * 3600 * 1000ll) /* a console session lasts 8 hours */
#define USER_FREE_FAILS 3              /* failures per user name before waits begin */
#define USER_LOCK_FAILS 10             /* ... and before the 15-minute lock */
#define ADDR_FREE_FAILS 10             /* per source address (several users behind one) */
#define ADDR_LOCK_FAILS 30

/* A stored form that matches no password: an unknown user costs one scrypt too. */
static const char no_user_hash[] =
    "scrypt$15$8$1$00000000000000000000000000000000$"
    "0000000000000000000000000000000000000000000000000000000000000000";

void http_signin_open(http_app *app)
{
    if (!app->signin_users) {
        app->signin_users = malloc(sizeof *app->signin_users);
        app->signin_addrs = malloc(sizeof *app->signin_addrs);
        if (!app->signin_users || !app->signin_addrs)
            abort();
        acct_throttle_init(app->signin_users, USER_FREE_FAILS, USER_LOCK_FAILS);
        acct_throttle_init(app->signin_addrs, ADDR_FREE_FAILS, ADDR_LOCK_FAILS);
    }
}

void http_signin_close(http_app *app)
{
    if (!app || !app->signin_users)
        return;
    acct_throttle_destroy(app->signin_users);
    acct_throttle_destroy(app->signin_addrs);
    free(app->signin_users);
    free(app->signin_addrs);
    app->signin_users = app->signin_addrs = NULL;
}

static json_t *user_json(const void *x)
{
    const store_user *u = x;
    return json_pack("{s:s, s:s, s:b, s:b, s:o, s:s}", "userName", u->name, "role",
                     acct_role_name(u->role), "disabled", u->disabled, "canSignIn", u->has_password,
                     "createdTime", http_time(u->created_ms, 0), "createdBy", u->created_by);
}

static json_t *token_json(const void *x)
{
    const store_token *t = x;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)t->id);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s}", "id", id, "name", t->name, "role",
                     acct_role_name(t->role), "userName",
                     t->user_id ? json_string(t->user_name) : json_null(), "createdTime",
                     http_time(t->created_ms, 0), "expiresAt", http_time(t->expires_ms, 1),
                     "lastUsedTime", http_time(t->last_used_ms, 1), "createdBy", t->created_by);
}

/* An optional string member that must be a role name: 0 with *role (ACCT_ROLE_NONE when
 * absent and !required), or answers 422 / 400 and returns -1. */
static int json_role(http_req *r, json_t *b, int required, acct_role *role)
{
    const char *s;
    if (http_json_string(r, b, "role", required, &s) != 0)
        return -1;
    *role = s ? acct_role_parse(s) : ACCT_ROLE_NONE;
    if (s && *role == ACCT_ROLE_NONE) {
        http_send_error(r, 422, "invalid_field", "role",
                        "The role is one of viewer, operator, admin.");
        return -1;
    }
    return 0;
}

/* A required string member that must be an account name (core/account.h): 0 with *out, or
 * answers 400 / 422 naming the field and returns -1. */
static int json_name(http_req *r, json_t *b, const char *field, const char **out)
{
    char why[160];
    if (http_json_string(r, b, field, 1, out) != 0)
        return -1;
    if (acct_valid_name(*out, why, sizeof why) != 0) {
        http_send_error(r, 422, "invalid_field", field, "%s.", why);
        return -1;
    }
    return 0;
}

/* A page of a list read from the store (items[0..n) of size bytes each, freed here) as
 * {"items","total","page","pageSize"}, each item made by to_json; or the store's error. */
static int send_rows(http_req *r, ota_err rc, const char *what, void *items, size_t n,
                     size_t size, json_t *(*to_json)(const void *), int64_t total, store_page pg)
{
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, what);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, to_json((const char *)items + i * size));
    free(items);
    return http_send_list(r, arr, total, pg);
}

/* ---- sign-in ------------------------------------------------------------------------ */

static int too_many(http_req *r, int64_t wait_ms, const char *user, const char *addr)
{
    r->retry_after_s = (int)((wait_ms + 999) / 1000);
    OTA_WARN("auth: sign-in for %s from %s refused for %d s after repeated failures", user,
             addr[0] ? addr : "?", r->retry_after_s);
    return http_send_error(r, 429, "too_many_attempts", NULL,
                           "Too many failed sign-ins; try again in %d s.", r->retry_after_s);
}

static int login(http_req *r)
{
    static const char *const allowed[] = {"userName", "password", NULL};
    const char *name, *pw;
    char addr[64], ukey[80], akey[80], stored[ACCT_HASH_MAX], tok[ACCT_TOKEN_MAX],
        hash[ACCT_TOKEN_HEX + 1];
    store_user u;
    store_token in = {0}, t;
    int64_t now = ota_time_now_ms(), wait;
    int ret;
    json_t *b = http_json_body(r, allowed);
    if (!b)
        return MHD_YES;
    if (http_json_string(r, b, "userName", 1, &name) != 0 ||
        http_json_string(r, b, "password", 1, &pw) != 0) {
        json_decref(b);
        return MHD_YES;
    }
    http_client_addr(r, addr, sizeof addr);
    http_audit_actor(r, name);
    http_audit_object(r, "user:%.70s", name);
    snprintf(ukey, sizeof ukey, "u:%.70s", name);
    snprintf(akey, sizeof akey, "a:%s", addr);
    wait = acct_throttle_wait(r->app->signin_users, ukey, now);
    if (wait <= 0)
        wait = acct_throttle_wait(r->app->signin_addrs, akey, now);
    if (wait > 0) {
        ret = too_many(r, wait, name, addr);
        json_decref(b);
        return ret;
    }
    ota_err rc = store_user_get(r->app->store, name, &u, stored, sizeof stored);
    if (rc != OTA_OK && rc != OTA_ENOTFOUND) {
        json_decref(b);
        return http_send_store_error(r, rc, "user");
    }
    int ok = acct_password_check(pw, rc == OTA_OK && stored[0] ? stored : no_user_hash);
    if (ok < 0) {
        json_decref(b);
        return http_send_error(r, 500, "internal", NULL, "The password could not be checked.");
    }
    if (ok != 1 || rc != OTA_OK || u.disabled) {
        int nu = acct_throttle_fail(r->app->signin_users, ukey, now);
        int na = acct_throttle_fail(r->app->signin_addrs, akey, now);
        OTA_WARN("auth: failed sign-in for %s from %s (%d for the user, %d from the address)", name,
                 addr[0] ? addr : "?", nu, na);
        json_decref(b);
        return http_send_error(r, 401, "invalid_credentials", NULL,
                               "Wrong user name or password, or the user is disabled.");
    }
    acct_throttle_ok(r->app->signin_users, ukey);
    in.user_id = u.id;
    snprintf(in.kind, sizeof in.kind, "session");
    snprintf(in.name, sizeof in.name, "console");
    in.role = u.role;
    in.expires_ms = now + SESSION_MS;
    snprintf(in.created_by, sizeof in.created_by, "%s", u.name);
    if (acct_token_new(tok, hash) != 0) {
        json_decref(b);
        return http_send_error(r, 500, "internal", NULL, "No token could be made.");
    }
    rc = store_token_create(r->app->store, &in, hash, now, &t);
    if (rc != OTA_OK)
        ret = http_send_store_error(r, rc, "session");
    else {
        OTA_INFO("auth: %s signed in from %s", u.name, addr[0] ? addr : "?");
        ret = http_send_json(r, 200,
                             json_pack("{s:s, s:o, s:s, s:s}", "token", tok, "expiresAt",
                                       http_time(t.expires_ms, 0), "userName", u.name, "role",
                                       acct_role_name(u.role)));
    }
    json_decref(b);
    return ret;
}

static int logout(http_req *r)
{
    http_audit_object(r, "user:%s", r->caller.user[0] ? r->caller.user : r->caller.actor);
    if (strcmp(r->caller.kind, "session") != 0)
        return http_send_error(r, 409, "not_a_session", NULL,
                               "Only a console session signs out; revoke an API token with "
                               "DELETE /api/v1/tokens/{id}.");
    ota_err rc = store_token_revoke(r->app->store, r->caller.token_id, ota_time_now_ms());
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "session");
    OTA_INFO("auth: %s signed out", r->caller.actor);
    return http_send_empty(r, 204);
}

static int me(http_req *r)
{
    http_caller *c = &r->caller;
    return http_send_json(r, 200,
                          json_pack("{s:s, s:o, s:s, s:s, s:o}", "actor", c->actor, "userName",
                                    c->user[0] ? json_string(c->user) : json_null(), "role",
                                    acct_role_name(c->role), "kind", c->kind, "expiresAt",
                                    http_time(c->expires_ms, 1)));
}

/* ---- users -------------------------------------------------------------------------- */

/* The password member, hashed into out: 0 (out "" when absent and !required), or answers
 * 422 / 400 / 500 and returns -1. */
static int json_password(http_req *r, json_t *b, char *out, size_t outlen)
{
    const char *pw;
    char why[128];
    out[0] = '\0';
    if (http_json_string(r, b, "password", 0, &pw) != 0)
        return -1;
    if (!pw)
        return 0;
    if (acct_valid_password(pw, why, sizeof why) != 0) {
        http_send_error(r, 422, "invalid_field", "password", "%s.", why);
        return -1;
    }
    if (acct_password_hash(pw, out, outlen) != 0) {
        http_send_error(r, 500, "internal", NULL, "The password could not be hashed.");
        return -1;
    }
    return 0;
}

static int user_create(http_req *r)
{
    static const char *const allowed[] = {"userName", "password", "role", NULL};
    const char *name;
    char hash[ACCT_HASH_MAX];
    acct_role role;
    store_user u;
    int ret;
    json_t *b = http_json_body(r, allowed);
    if (!b)
        return MHD_YES;
    if (json_name(r, b, "userName", &name) != 0 || json_role(r, b, 1, &role) != 0 ||
        json_password(r, b, hash, sizeof hash) != 0) {
        json_decref(b);
        return MHD_YES;
    }
    http_audit_object(r, "user:%s", name);
    ota_err rc = store_user_create(r->app->store, name, role, hash[0] ? hash : NULL,
                                   r->caller.actor, ota_time_now_ms(), &u);
    if (rc == OTA_EDUPLICATE)
        ret = http_send_error(r, 409, "duplicate", "userName", "A user with this name exists.");
    else if (rc != OTA_OK)
        ret = http_send_store_error(r, rc, "user");
    else {
        OTA_INFO("auth: user %s (%s) created by %s", u.name, acct_role_name(u.role),
                 r->caller.actor);
        ret = http_send_json(r, 201, user_json(&u));
    }
    json_decref(b);
    return ret;
}

static int user_list(http_req *r)
{
    store_page pg;
    store_user *items = NULL;
    size_t n;
    int64_t total;
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    ota_err rc = store_user_list(r->app->store, pg, &items, &n, &total);
    return send_rows(r, rc, "user list", items, n, sizeof *items, user_json, total, pg);
}

static int user_update(http_req *r)
{
    static const char *const allowed[] = {"role", "disabled", "password", NULL};
    const char *name = http_param(r, "userName");
    char hash[ACCT_HASH_MAX];
    acct_role role;
    int disabled = -1, ret;
    store_user u;
    json_t *b = http_json_body(r, allowed);
    if (!b)
        return MHD_YES;
    json_t *d = json_object_get(b, "disabled");
    if (d && !json_is_boolean(d)) {
        json_decref(b);
        return http_send_error(r, 400, "invalid_field", "disabled", "disabled is true or false.");
    }
    if (d)
        disabled = json_is_true(d);
    if (json_role(r, b, 0, &role) != 0 || json_password(r, b, hash, sizeof hash) != 0) {
        json_decref(b);
        return MHD_YES;
    }
    ota_err rc = store_user_update(r->app->store, name, role, disabled, hash[0] ? hash : NULL, &u);
    if (rc != OTA_OK)
        ret = http_send_store_error(r, rc, "user");
    else {
        OTA_INFO("auth: user %s changed by %s (role %s%s%s)", u.name, r->caller.actor,
                 acct_role_name(u.role), u.disabled ? ", disabled" : "",
                 hash[0] ? ", new password" : "");
        ret = http_send_json(r, 200, user_json(&u));
    }
    json_decref(b);
    return ret;
}

/* ---- tokens ------------------------------------------------------------------------- */

static int token_create(http_req *r)
{
    static const char *const allowed[] = {"name", "role", "expiresAt", "userName", NULL};
    const char *name, *exp, *user;
    char tok[ACCT_TOKEN_MAX], hash[ACCT_TOKEN_HEX + 1];
    store_token in = {0}, t;
    store_user u;
    int64_t now = ota_time_now_ms();
    int ret;
    json_t *b = http_json_body(r, allowed);
    if (!b)
        return MHD_YES;
    if (json_name(r, b, "name", &name) != 0 || json_role(r, b, 1, &in.role) != 0 ||
        http_json_string(r, b, "expiresAt", 0, &exp) != 0 ||
        http_json_string(r, b, "userName", 0, &user) != 0) {
        json_decref(b);
        return MHD_YES;
    }
    if (exp && (ota_time_parse(exp, &in.expires_ms) != 0 || in.expires_ms <= now))
        ret = http_send_error(r, 422, "invalid_field", "expiresAt",
                              "expiresAt is an RFC 3339 time in the future.");
    else if (in.role > r->caller.role)
        ret = http_send_error(r, 403, "forbidden", "role",
                              "A token's role is at most its creator's (%s).",
                              acct_role_name(r->caller.role));
    else if (user && strcmp(user, r->caller.user) != 0 && r->caller.role < ACCT_ADMIN)
        ret = http_send_error(r, 403, "forbidden", "userName",
                              "Only an admin makes tokens for another user.");
    else {
        ota_err rc = OTA_OK;
        if (user) {
            rc = store_user_get(r->app->store, user, &u, NULL, 0);
            if (rc == OTA_ENOTFOUND) {
                ret = http_send_error(r, 422, "invalid_field", "userName", "No such user.");
                goto out;
            }
            if (rc == OTA_OK && (u.disabled || in.role > u.role)) {
                ret = http_send_error(r, 422, "invalid_field", u.disabled ? "userName" : "role",
                                      u.disabled ? "The user is disabled."
                                                 : "A token's role is at most its user's (%s).",
                                      acct_role_name(u.role));
                goto out;
            }
            in.user_id = u.id;
        } else
            in.user_id = r->caller.user_id;
        snprintf(in.kind, sizeof in.kind, "api");
        snprintf(in.name, sizeof in.name, "%s", name);
        snprintf(in.created_by, sizeof in.created_by, "%s", r->caller.actor);
        if (rc == OTA_OK && acct_token_new(tok, hash) != 0)
            rc = OTA_EDB;
        if (rc == OTA_OK)
            rc = store_token_create(r->app->store, &in, hash, now, &t);
        if (rc != OTA_OK)
            ret = http_send_store_error(r, rc, "token");
        else {
            OTA_INFO("auth: token %lld (%s, %s) created by %s", (long long)t.id, t.name,
                     acct_role_name(t.role), r->caller.actor);
            json_t *j = token_json(&t);
            json_object_set_new(j, "token", json_string(tok));
            ret = http_send_json(r, 201, j);
        }
    }
out:
    json_decref(b);
    return ret;
}

static int token_list(http_req *r)
{
    store_page pg;
    store_token *items = NULL;
    size_t n;
    int64_t total;
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    ota_err rc =
        store_token_list(r->app->store, r->caller.role >= ACCT_ADMIN ? -1 : r->caller.user_id, pg,
                         &items, &n, &total);
    return send_rows(r, rc, "token list", items, n, sizeof *items, token_json, total, pg);
}

static int token_revoke(http_req *r)
{
    const char *s = http_param(r, "id");
    char *end;
    store_token t;
    errno = 0;
    long long id = strtoll(s, &end, 10);
    if (errno || *end || id <= 0)
        return http_send_error(r, 404, "not_found", NULL, "The token does not exist.");
    ota_err rc = store_token_get(r->app->store, id, &t);
    /* someone else's token is "not found" unless the caller is an admin */
    if (rc == OTA_OK && (t.revoked_ms || strcmp(t.kind, "api") != 0 ||
                         (r->caller.role < ACCT_ADMIN && t.user_id != r->caller.user_id)))
        rc = OTA_ENOTFOUND;
    if (rc == OTA_OK)
        rc = store_token_revoke(r->app->store, id, ota_time_now_ms());
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "token");
    OTA_INFO("auth: token %lld (%s) revoked by %s", id, t.name, r->caller.actor);
    return http_send_empty(r, 204);
}

const http_route http_routes_accounts[] = {
    {"POST", "/api/v1/auth/login", login, HTTP_PUBLIC, HTTP_BODY_JSON, 0, NULL, NULL},
    {"POST", "/api/v1/auth/logout", logout, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/auth/me", me, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"POST", "/api/v1/users", user_create, HTTP_ADMIN, HTTP_BODY_JSON, 0, NULL, NULL},
    {"GET", "/api/v1/users", user_list, HTTP_ADMIN, 0, 0, NULL, NULL},
    {"PATCH", "/api/v1/users/{userName}", user_update, HTTP_ADMIN, HTTP_BODY_JSON, 0, NULL, NULL},
    {"POST", "/api/v1/tokens", token_create, HTTP_VIEWER, HTTP_BODY_JSON, 0, NULL, NULL},
    {"GET", "/api/v1/tokens", token_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/tokens/{id}", token_revoke, HTTP_VIEWER, 0, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
