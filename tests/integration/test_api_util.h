/*
 * test_api_util: what the API integration tests share (test_api_<part>.c, test_http_listener.c,
 * test_broker_http.c), a small library (ota_test_api, tests/integration/fixtures.cmake):
 * one otad per test program, JSON request shortcuts, direct SQL on the test's database (to
 * stand in for presence and batches that other parts of the service produce), and folder
 * counts to prove nothing is left behind.
 *
 * State: one tapi_ctx per test program, made by the group setup tapi_setup and handed to
 * every test as its cmocka state (`tapi_ctx *c = *st;`); tapi_teardown stops and frees it.
 */
#ifndef OTA_TEST_API_UTIL_H
#define OTA_TEST_API_UTIL_H

#include "ota_harness.h"

typedef struct {
    oth_env env; /* otad (and the broker, when the plugin is built) of this program */
} tapi_ctx;

/* A tapi_ctx into *st with an initialised environment (nothing started yet: settings may be
 * added with oth_env_set), or NULL. tapi_teardown frees it. */
tapi_ctx *tapi_new(void **st);
/* Starts the broker (when ota_auth.so is built: otad is healthy once it has its broker
 * connection) and otad. 0 or -1. */
int tapi_start(tapi_ctx *c);
/* cmocka group setup: tapi_new, then tapi_start. 0 or -1. */
int tapi_setup(void **st);
/* cmocka group teardown: stops what tapi_setup started, frees the context. */
int tapi_teardown(void **st);

/* POST a text (not necessarily valid JSON) with a content type; oth_http's result. */
int tapi_post_raw(tapi_ctx *c, const char *path, const char *ctype, const char *body, oth_resp *r);
/* POST a JSON text; the HTTP status. Free r. */
long tapi_post(tapi_ctx *c, const char *path, const char *json, oth_resp *r);
/* The string member k of j, or "". */
const char *tapi_jstr(json_t *j, const char *k);
/* Creates a product; its key into out (>= 16 bytes). Aborts on failure. */
void tapi_product(tapi_ctx *c, const char *name, char *out);
/* Runs SQL on the test's database (SQLite in WAL mode, or the test's PostgreSQL database);
 * otad keeps running. 0 or -1. */
int tapi_sql(tapi_ctx *c, const char *q);
/* Number of entries (not . and ..) in DATA/sub, or -1. */
int tapi_count_files(tapi_ctx *c, const char *sub);

/* Signed firmware (common/ota_sign.h): the PEM public key of an Ed25519 key k into pem
 * (len bytes), and the base64 signature by k of the manifest of (product, version, the
 * bytes data[0..len)) into out. Both abort the test on failure. */
typedef struct evp_pkey_st EVP_PKEY;
void tapi_pubkey_pem(EVP_PKEY *k, char *pem, size_t len);
void tapi_sign_b64(EVP_PKEY *k, const char *product, const char *version, const void *data,
                   size_t len, char out[89]);

#endif
