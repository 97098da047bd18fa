/*
 * Integration: users, sign-in, API tokens and console sessions against the real otad, as
 * a client sees them: passwords never come back (nor reach the log or the database file),
 * a token is shown once, its role is at most its creator's, revocation, expiry, sign-out
 * and a disabled user take effect on the next request, a lowered user role lowers their
 * tokens, tokens survive a restart, and repeated failed sign-ins get 429 with Retry-After.
 * Runs on PostgreSQL too when OTA_TEST_PG_URL is set (make test-pg).
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

#include "ota_time.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define PW "s3cret-Passw0rd"

/* Reads the file at path (at most 64 MiB) and tells whether needle occurs in it. */
static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t cap = 64u << 20, n, nl = strlen(needle);
    char *buf = malloc(cap);
    n = fread(buf, 1, cap, f);
    fclose(f);
    int found = 0;
    for (size_t i = 0; !found && i + nl <= n; i++)
        found = memcmp(buf + i, needle, nl) == 0;
    free(buf);
    return found;
}

static char *login(tapi_ctx *c, const char *user, const char *pw, long *status)
{
    char body[300];
    oth_resp r;
    snprintf(body, sizeof body, "{\"userName\":\"%s\",\"password\":\"%s\"}", user, pw);
    *status = tacc_call(c, "POST", "/api/v1/auth/login", NULL, body, &r);
    char *tok = *status == 200 ? strdup(tapi_jstr(r.json, "token")) : NULL;
    oth_resp_free(&r);
    return tok;
}

static void test_users(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/users", c->env.admin_token,
                  "{\"userName\":\"alice\",\"password\":\"" PW "\",\"role\":\"operator\"}", &r),
        201);
    assert_string_equal(tapi_jstr(r.json, "userName"), "alice");
    assert_string_equal(tapi_jstr(r.json, "role"), "operator");
    assert_true(json_is_true(json_object_get(r.json, "canSignIn")));
    assert_null(strstr(r.body, PW));
    assert_null(json_object_get(r.json, "password"));
    oth_resp_free(&r);
    /* bad input names the field; nothing is created */
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/users", c->env.admin_token,
                  "{\"userName\":\"alice\",\"password\":\"" PW "\",\"role\":\"viewer\"}", &r),
        409);
    assert_string_equal(oth_err_field(&r), "userName");
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/users", c->env.admin_token,
                               "{\"userName\":\"bob\",\"password\":\"short\",\"role\":\"viewer\"}",
                               &r),
                     422);
    assert_string_equal(oth_err_field(&r), "password");
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/users", c->env.admin_token,
                               "{\"userName\":\"bob\",\"password\":\"" PW "\",\"role\":\"root\"}",
                               &r),
                     422);
    assert_string_equal(oth_err_field(&r), "role");
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/users", c->env.admin_token,
                               "{\"userName\":\"b b\",\"password\":\"" PW "\",\"role\":\"viewer\"}",
                               &r),
                     422);
    assert_string_equal(oth_err_field(&r), "userName");
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/users", c->env.admin_token,
                               "{\"userName\":\"bob\",\"role\":\"viewer\",\"x\":1}", &r),
                     400);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/users", c->env.admin_token, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
    assert_null(strstr(r.body, "scrypt"));
    oth_resp_free(&r);
}

static void test_sign_in_and_sessions(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    long s;
    tacc_user(c, "carol", PW, "viewer");
    char *tok = login(c, "carol", PW, &s);
    assert_int_equal(s, 200);
    assert_non_null(tok);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/auth/me", tok, NULL, &r), 200);
    assert_string_equal(tapi_jstr(r.json, "userName"), "carol");
    assert_string_equal(tapi_jstr(r.json, "role"), "viewer");
    assert_string_equal(tapi_jstr(r.json, "kind"), "session");
    /* a session is short: expires within 8 hours */
    int64_t exp = 0;
    assert_int_equal(ota_time_parse(tapi_jstr(r.json, "expiresAt"), &exp), 0);
    assert_true(exp > ota_time_now_ms() && exp <= ota_time_now_ms() + 8 * 3600 * 1000ll);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/products", tok, NULL, &r), 200);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/products", tok, "{\"productName\":\"p\"}", &r),
                     403);
    assert_string_equal(oth_err_code(&r), "forbidden");
    oth_resp_free(&r);
    /* sign-out revokes that session at once, and only it */
    long s2;
    char *tok2 = login(c, "carol", PW, &s2);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/auth/logout", tok, NULL, &r), 204);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/auth/me", tok, NULL, &r), 401);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/auth/me", tok2, NULL, &r), 200);
    oth_resp_free(&r);
    /* wrong password, unknown user, service account: the same 401 */
    assert_null(login(c, "carol", "wrong-password", &s));
    assert_int_equal(s, 401);
    assert_null(login(c, "nobody", PW, &s));
    assert_int_equal(s, 401);
    tacc_user(c, "svc", NULL, "operator");
    assert_null(login(c, "svc", "", &s));
    assert_int_equal(s, 401);
    /* a disabled user's sessions stop at once, and it cannot sign in */
    assert_int_equal(
        tacc_call(c, "PATCH", "/api/v1/users/carol", c->env.admin_token, "{\"disabled\":true}", &r),
        200);
    assert_true(json_is_true(json_object_get(r.json, "disabled")));
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/auth/me", tok2, NULL, &r), 401);
    oth_resp_free(&r);
    assert_null(login(c, "carol", PW, &s));
    assert_int_equal(s, 401);
    assert_int_equal(tacc_call(c, "PATCH", "/api/v1/users/carol", c->env.admin_token,
                               "{\"disabled\":false}", &r),
                     200);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/auth/me", tok2, NULL, &r), 200);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "PATCH", "/api/v1/users/nobody", c->env.admin_token,
                               "{\"disabled\":true}", &r),
                     404);
    oth_resp_free(&r);
    free(tok);
    free(tok2);
}

static void test_tokens(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    long s;
    char body[300], id[24];
    tacc_user(c, "dave", PW, "operator");
    char *sess = login(c, "dave", PW, &s);
    assert_int_equal(s, 200);
    /* no higher than its creator */
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/tokens", sess, "{\"name\":\"ci\",\"role\":\"admin\"}", &r),
        403);
    assert_string_equal(oth_err_field(&r), "role");
    oth_resp_free(&r);
    /* nor for another user unless admin */
    assert_int_equal(tacc_call(c, "POST", "/api/v1/tokens", sess,
                               "{\"name\":\"ci\",\"role\":\"viewer\",\"userName\":\"alice\"}", &r),
                     403);
    assert_string_equal(oth_err_field(&r), "userName");
    oth_resp_free(&r);
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/tokens", sess,
                  "{\"name\":\"ci\",\"role\":\"operator\",\"expiresAt\":\"2001-01-01T00:00:00Z\"}",
                  &r),
        422);
    assert_string_equal(oth_err_field(&r), "expiresAt");
    oth_resp_free(&r);
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/tokens", sess, "{\"name\":\"ci\",\"role\":\"operator\"}", &r),
        201);
    char *tok = strdup(tapi_jstr(r.json, "token"));
    snprintf(id, sizeof id, "%s", tapi_jstr(r.json, "id"));
    assert_string_equal(tapi_jstr(r.json, "userName"), "dave");
    assert_true(json_is_null(json_object_get(r.json, "lastUsedTime")));
    oth_resp_free(&r);
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/products", tok, "{\"productName\":\"by-token\"}", &r), 201);
    oth_resp_free(&r);
    /* listed with its last use, never with the token itself */
    assert_int_equal(tacc_call(c, "GET", "/api/v1/tokens", sess, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
    json_t *it = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(tapi_jstr(it, "name"), "ci");
    assert_string_equal(tapi_jstr(it, "role"), "operator");
    assert_false(json_is_null(json_object_get(it, "lastUsedTime")));
    assert_null(json_object_get(it, "token"));
    assert_null(strstr(r.body, tok + 4));
    oth_resp_free(&r);
    /* another user's token: not theirs to see or revoke */
    tacc_user(c, "erin", PW, "admin");
    tacc_user(c, "frank", PW, "operator");
    char *fr = login(c, "frank", PW, &s);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/tokens", fr, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 0);
    oth_resp_free(&r);
    snprintf(body, sizeof body, "/api/v1/tokens/%s", id);
    assert_int_equal(tacc_call(c, "DELETE", body, fr, NULL, &r), 404);
    oth_resp_free(&r);
    /* lowering the user lowers the token at once */
    assert_int_equal(tacc_call(c, "PATCH", "/api/v1/users/dave", c->env.admin_token,
                               "{\"role\":\"viewer\"}", &r),
                     200);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/products", tok, "{\"productName\":\"p2\"}", &r),
                     403);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "PATCH", "/api/v1/users/dave", c->env.admin_token,
                               "{\"role\":\"operator\"}", &r),
                     200);
    oth_resp_free(&r);
    /* tokens outlive a restart */
    assert_int_equal(oth_otad_stop(&c->env, SIGTERM), 0);
    assert_int_equal(oth_otad_start(&c->env), 0);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/products", tok, NULL, &r), 200);
    oth_resp_free(&r);
    /* revoked: refused on the very next request */
    assert_int_equal(tacc_call(c, "DELETE", body, sess, NULL, &r), 204);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/products", tok, NULL, &r), 401);
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "DELETE", body, sess, NULL, &r), 404);
    oth_resp_free(&r);
    /* an admin's token for a service account is at most that account's role (svc is an
     * operator), whatever the admin's own */
    assert_int_equal(tacc_call(c, "POST", "/api/v1/tokens", c->env.admin_token,
                               "{\"name\":\"too-high\",\"role\":\"admin\",\"userName\":\"svc\"}",
                               &r),
                     422);
    assert_string_equal(oth_err_field(&r), "role");
    oth_resp_free(&r);
    /* a viewer token of an admin user makes nothing above viewer: the token's role bounds
     * it, not its user's */
    char weak[80];
    tacc_token(c, "erin", "viewer", weak, NULL);
    assert_int_equal(
        tacc_call(c, "POST", "/api/v1/tokens", weak, "{\"name\":\"up\",\"role\":\"admin\"}", &r),
        403);
    assert_string_equal(oth_err_field(&r), "role");
    oth_resp_free(&r);
    /* an admin makes a token for a service account; it expires on time */
    char exp[40];
    int64_t at = ota_time_now_ms() + 2000;
    ota_time_format_ms(at, exp, sizeof exp);
    snprintf(body, sizeof body,
             "{\"name\":\"short\",\"role\":\"viewer\",\"userName\":\"svc\",\"expiresAt\":\"%s\"}",
             exp);
    assert_int_equal(tacc_call(c, "POST", "/api/v1/tokens", c->env.admin_token, body, &r), 201);
    char *short_tok = strdup(tapi_jstr(r.json, "token"));
    oth_resp_free(&r);
    assert_int_equal(tacc_call(c, "GET", "/api/v1/products", short_tok, NULL, &r), 200);
    oth_resp_free(&r);
    while (ota_time_now_ms() < at + 50) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(tacc_call(c, "GET", "/api/v1/products", short_tok, NULL, &r), 401);
    oth_resp_free(&r);
    /* an API token does not sign out (sessions do) */
    assert_int_equal(tacc_call(c, "POST", "/api/v1/auth/logout", c->env.admin_token, NULL, &r),
                     409);
    oth_resp_free(&r);
    /* no token, session or the admin token is ever in the log */
    char log[400];
    snprintf(log, sizeof log, "%s/otad.log", c->env.dir);
    assert_true(file_has(log, "auth: dave signed in"));
    assert_false(file_has(log, tok));
    assert_false(file_has(log, sess));
    assert_false(file_has(log, short_tok));
    assert_false(file_has(log, c->env.admin_token));
    free(tok);
    free(sess);
    free(fr);
    free(short_tok);
}

static void test_throttle(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    long s;
    tacc_user(c, "gina", PW, "viewer");
    for (int i = 0; i < 4; i++) {
        assert_null(login(c, "gina", "not-the-password", &s));
        assert_int_equal(s, 401);
    }
    /* the fifth try comes too soon: even the right password is refused, with Retry-After */
    assert_int_equal(tacc_call(c, "POST", "/api/v1/auth/login", NULL,
                               "{\"userName\":\"gina\",\"password\":\"" PW "\"}", &r),
                     429);
    assert_string_equal(oth_err_code(&r), "too_many_attempts");
    char *ra = strcasestr(r.headers, "Retry-After:");
    assert_non_null(ra);
    int secs = atoi(ra + 12);
    assert_true(secs >= 1 && secs <= 2);
    oth_resp_free(&r);
    sleep((unsigned)secs);
    char *tok = login(c, "gina", PW, &s);
    assert_int_equal(s, 200);
    free(tok);
    /* from one address: failures for many user names (none of them held on its own) are
     * slowed down too, and the refusal is logged */
    int refused_at = 0;
    for (int i = 0; i < 40 && !refused_at; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"userName\":\"ghost-%d\",\"password\":\"guess-%d\"}", i, i);
        s = tacc_call(c, "POST", "/api/v1/auth/login", NULL, body, &r);
        if (s == 429) {
            refused_at = i + 1;
            assert_string_equal(oth_err_code(&r), "too_many_attempts");
            assert_non_null(strcasestr(r.headers, "Retry-After:"));
        } else
            assert_int_equal(s, 401);
        oth_resp_free(&r);
    }
    /* gina's failures and these count for 127.0.0.1: 10 are free (routes_accounts.c) */
    assert_true(refused_at >= 1 && refused_at <= 12);
    char log[400];
    snprintf(log, sizeof log, "%s/otad.log", c->env.dir);
    assert_true(file_has(log, "sign-in for ghost-"));
    assert_true(file_has(log, "refused for"));
    /* failures were logged, the password never was */
    assert_true(file_has(log, "failed sign-in for gina"));
    assert_false(file_has(log, PW));
    assert_false(file_has(log, "not-the-password"));
    if (!c->env.pg_db[0]) {
        char db[400];
        snprintf(db, sizeof db, "%s/ota.db", c->env.dir);
        assert_true(file_has(db, "scrypt$"));
        assert_false(file_has(db, PW));
    }
    /* the counts live in otad's memory (docs/security.md): a restart clears them */
    assert_int_equal(oth_otad_stop(&c->env, SIGTERM), 0);
    assert_int_equal(oth_otad_start(&c->env), 0);
    assert_null(login(c, "ghost-0", "guess-0", &s));
    assert_int_equal(s, 401);
}

/* Runs "[input |] otactl --url URL ARGS" with env (a prefix of VAR=value words, may be "");
 * stdout into out, parsed into *json when asked. Returns the exit code. */
static int otactl(tapi_ctx *c, const char *envs, const char *input, const char *args, json_t **json)
{
    static char out[1 << 16];
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "%s%s%s env -u OTA_ADMIN_TOKEN %s %s/tools/otactl/otactl --url %s %s",
             input ? "printf '%s\\n' '" : "", input ? input : "", input ? "' |" : "", envs,
             OTA_BUILD_DIR, c->env.base_url, args);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (json)
        *json = json_loads(out, 0, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_otactl(void **st)
{
    tapi_ctx *c = *st;
    char admin[700], session[600], file[400], args[300];
    json_t *j;
    struct stat sb;
    snprintf(file, sizeof file, "%s/otactl-session", c->env.dir);
    snprintf(admin, sizeof admin, "OTA_TOKEN_FILE=%s OTA_ADMIN_TOKEN=%s", file, c->env.admin_token);
    snprintf(session, sizeof session, "OTA_TOKEN_FILE=%s", file);
    /* user add reads the password from stdin; a service account has none */
    assert_int_equal(otactl(c, admin, PW, "user add zed --role operator", &j), 0);
    assert_string_equal(tapi_jstr(j, "role"), "operator");
    json_decref(j);
    assert_int_equal(
        otactl(c, admin, NULL, "user add robot --role viewer --password-file none", &j), 0);
    assert_false(json_is_true(json_object_get(j, "canSignIn")));
    json_decref(j);
    assert_int_equal(otactl(c, admin, NULL, "user list", &j), 0);
    assert_true(json_integer_value(json_object_get(j, "total")) >= 2);
    json_decref(j);
    /* login keeps the session in a 0600 file the next commands use */
    assert_int_equal(otactl(c, session, "wrong-password", "login zed", NULL), 1);
    assert_int_equal(otactl(c, session, PW, "login zed", NULL), 0);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(otactl(c, session, NULL, "product create via-session", &j), 0);
    json_decref(j);
    assert_int_equal(otactl(c, session, NULL, "user list", NULL), 1); /* an operator */
    /* tokens: made (shown once), listed, revoked */
    assert_int_equal(otactl(c, session, NULL, "token create ci --role viewer --days 30", &j), 0);
    char tok[80], id[24];
    snprintf(tok, sizeof tok, "%s", tapi_jstr(j, "token"));
    snprintf(id, sizeof id, "%s", tapi_jstr(j, "id"));
    assert_non_null(json_object_get(j, "expiresAt"));
    assert_false(json_is_null(json_object_get(j, "expiresAt")));
    json_decref(j);
    assert_int_equal(otactl(c, session, NULL, "token list", &j), 0);
    assert_string_equal(tapi_jstr(json_array_get(json_object_get(j, "items"), 0), "name"), "ci");
    json_decref(j);
    snprintf(args, sizeof args, "--token %s product list", tok);
    assert_int_equal(otactl(c, "", NULL, args, NULL), 0);
    assert_int_equal(otactl(c, admin, NULL, "token create svc --role viewer --user robot", &j), 0);
    assert_string_equal(tapi_jstr(j, "userName"), "robot");
    json_decref(j);
    snprintf(args, sizeof args, "token revoke %s", id);
    assert_int_equal(otactl(c, session, NULL, args, NULL), 0);
    snprintf(args, sizeof args, "--token %s product list", tok);
    assert_int_equal(otactl(c, "", NULL, args, NULL), 1);
    /* disable: the session stops working; logout ends it and removes the file */
    assert_int_equal(otactl(c, admin, NULL, "user disable zed", NULL), 0);
    assert_int_equal(otactl(c, session, NULL, "product list", NULL), 1);
    assert_int_equal(otactl(c, admin, NULL, "user enable zed", NULL), 0);
    assert_int_equal(otactl(c, session, NULL, "product list", NULL), 0);
    assert_int_equal(otactl(c, session, NULL, "logout", NULL), 0);
    assert_int_not_equal(stat(file, &sb), 0);
    assert_int_equal(otactl(c, "", NULL, "user add x", NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users),  cmocka_unit_test(test_sign_in_and_sessions),
        cmocka_unit_test(test_tokens), cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_otactl),
    };
    return cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
}
