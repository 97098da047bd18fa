/*
 * test_accounts_util: helpers of the accounts integration tests (test_api_accounts.c,
 * test_api_roles.c), a small library (ota_test_accounts, tests/integration/accounts.cmake):
 * requests with any bearer token, and users and tokens made through the API with the
 * admin token. Each works on the program's tapi_ctx (test_api_util.h).
 */
#ifndef OTA_TEST_ACCOUNTS_UTIL_H
#define OTA_TEST_ACCOUNTS_UTIL_H

#include "test_api_util.h"

/* method path with "Authorization: Bearer token" (NULL = none) and a JSON body (NULL =
 * none) into r (free it). Returns the status (0 when no answer came). */
long tacc_call(tapi_ctx *c, const char *method, const char *path, const char *token,
               const char *json, oth_resp *r);
/* GET path with the admin token; fails the test unless the status is want. The parsed
 * answer (decref it; NULL when it is not JSON). */
json_t *tacc_get_json(tapi_ctx *c, const char *path, long want);
/* A user made by the admin token (password NULL = a service account); fails the test
 * otherwise. */
void tacc_user(tapi_ctx *c, const char *name, const char *password, const char *role);
/* An API token of user with role, made by the admin token, into out (>= 80 bytes); its id
 * into id (>= 24 bytes) when not NULL. Fails the test otherwise. */
void tacc_token(tapi_ctx *c, const char *user, const char *role, char *out, char *id);

#endif
