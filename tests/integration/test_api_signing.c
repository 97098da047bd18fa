/* Integration: signed firmware on the server. A product's Ed25519 signing keys (add, list,
 * refused keys, retire), requireSignature, and uploads with the signature field: a
 * signature over the manifest of the uploaded bytes is kept (signed, keyId); a signature
 * no active key verifies, bad base64, a wrong length, an unsigned upload to a product that
 * requires signatures, a retired key: 422 naming signature, and no file and no row left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_api_util.h"

#include "ota_crypto.h"
#include "ota_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char pk[16], pk2[16];
static EVP_PKEY *key1, *key2;
static char pem1[1024], pem2[1024];

static int setup(void **st)
{
    if (tapi_setup(st) != 0)
        return -1;
    tapi_ctx *c = *st;
    tapi_product(c, "sig-lamp", pk);
    tapi_product(c, "sig-lamp-2", pk2);
    key1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    key2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    tapi_pubkey_pem(key1, pem1, sizeof pem1);
    tapi_pubkey_pem(key2, pem2, sizeof pem2);
    return 0;
}

static int teardown(void **st)
{
    EVP_PKEY_free(key1);
    EVP_PKEY_free(key2);
    return tapi_teardown(st);
}

static long upload(tapi_ctx *c, const char *product, const char *name, const char *version,
                   const char *sig, const void *data, size_t len, oth_resp *r)
{
    const char *f[] = {"firmwareName", name, "productKey", product, "firmwareVersion", version,
                       sig ? "signature" : NULL, sig, NULL};
    oth_upload(&c->env, "/api/v1/firmwares", f, "app.bin", data, len, r);
    return r->status;
}

static long add_key(tapi_ctx *c, const char *product, const char *name, const char *pem,
                    oth_resp *r)
{
    char path[96];
    json_t *b = json_pack("{s:s, s:s}", "name", name, "publicKey", pem);
    snprintf(path, sizeof path, "/api/v1/products/%s/signing-keys", product);
    oth_post_json(&c->env, path, b, r);
    json_decref(b);
    return r->status;
}

static long call(tapi_ctx *c, const char *method, const char *path, const char *json, oth_resp *r)
{
    oth_http(&c->env, method, path, 1, json ? "application/json" : NULL, json,
             json ? strlen(json) : 0, NULL, r);
    return r->status;
}

/* The refusal leaves nothing: same firmware count and files. */
static void expect_refused(tapi_ctx *c, oth_resp *r, long status, int files, const char *field)
{
    char path[96];
    oth_resp l;
    assert_int_equal(r->status, status);
    assert_string_equal(oth_err_field(r), field);
    assert_int_equal(tapi_count_files(c, "firmware"), files);
    snprintf(path, sizeof path, "/api/v1/firmwares?productKey=%s", pk);
    oth_get(&c->env, path, &l);
    json_t *items = json_object_get(l.json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        assert_string_not_equal(tapi_jstr(json_array_get(items, i), "firmwareName"), "refused");
    oth_resp_free(&l);
}

static void test_signing(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char sig[OTA_SIGN_SIG_B64_LEN + 1], path[128], kid1[17], kid2[17];
    static const char data[] = "firmware bytes v1.0.0";
    static const char data2[] = "firmware bytes v2.0.0";

    /* keys: added, listed, refused ones name publicKey */
    assert_int_equal(add_key(c, pk, "release-2026", pem1, &r), 201);
    snprintf(kid1, sizeof kid1, "%s", tapi_jstr(r.json, "keyId"));
    assert_int_equal(strlen(kid1), 16);
    assert_string_equal(tapi_jstr(r.json, "algorithm"), "Ed25519");
    oth_resp_free(&r);
    assert_int_equal(add_key(c, pk, "again", pem1, &r), 409);
    oth_resp_free(&r);
    assert_int_equal(add_key(c, pk, "garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END "
                                                "PUBLIC KEY-----\n", &r), 422);
    assert_string_equal(oth_err_field(&r), "publicKey");
    oth_resp_free(&r);
    assert_int_equal(add_key(c, pk, "", pem2, &r), 422);
    assert_string_equal(oth_err_field(&r), "name");
    oth_resp_free(&r);
    assert_int_equal(add_key(c, "nosuchprod01", "k", pem2, &r), 404);
    oth_resp_free(&r);
    assert_int_equal(add_key(c, pk2, "other-product", pem2, &r), 201);
    snprintf(kid2, sizeof kid2, "%s", tapi_jstr(r.json, "keyId"));
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/products/%s/signing-keys", pk);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    oth_resp_free(&r);

    /* a good signature: kept, with its key */
    int files = tapi_count_files(c, "firmware");
    tapi_sign_b64(key1, pk, "1.0.0", data, sizeof data - 1, sig);
    assert_int_equal(upload(c, pk, "signed-1", "1.0.0", sig, data, sizeof data - 1, &r), 201);
    assert_true(json_is_true(json_object_get(r.json, "signed")));
    assert_string_equal(tapi_jstr(r.json, "keyId"), kid1);
    oth_resp_free(&r);
    files = tapi_count_files(c, "firmware");

    /* refused, nothing stored: another version than signed, other bytes, another product's
     * key, bad base64, wrong length */
    assert_int_equal(upload(c, pk, "refused", "1.0.1", sig, data, sizeof data - 1, &r), 422);
    expect_refused(c, &r, 422, files, "signature");
    oth_resp_free(&r);
    tapi_sign_b64(key1, pk, "2.0.0", data, sizeof data - 1, sig);
    upload(c, pk, "refused", "2.0.0", sig, data2, sizeof data2 - 1, &r);
    expect_refused(c, &r, 422, files, "signature");
    oth_resp_free(&r);
    tapi_sign_b64(key2, pk, "2.0.0", data2, sizeof data2 - 1, sig);
    upload(c, pk, "refused", "2.0.0", sig, data2, sizeof data2 - 1, &r);
    expect_refused(c, &r, 422, files, "signature");
    assert_string_equal(oth_err_code(&r), "invalid_signature");
    oth_resp_free(&r);
    upload(c, pk, "refused", "2.0.0", "not*base64==", data2, sizeof data2 - 1, &r);
    expect_refused(c, &r, 422, files, "signature");
    oth_resp_free(&r);
    upload(c, pk, "refused", "2.0.0", "c2lnbmF0dXJl", data2, sizeof data2 - 1, &r);
    expect_refused(c, &r, 422, files, "signature");
    oth_resp_free(&r);

    /* requireSignature: shown, settable, and then an unsigned upload is refused */
    snprintf(path, sizeof path, "/api/v1/products/%s", pk);
    assert_int_equal(call(c, "PATCH", path, "{\"requireSignature\":\"yes\"}", &r), 400);
    assert_string_equal(oth_err_field(&r), "requireSignature");
    oth_resp_free(&r);
    assert_int_equal(call(c, "PATCH", path, "{\"requireSignature\":true}", &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "requireSignature")));
    oth_resp_free(&r);
    upload(c, pk, "refused", "2.0.0", NULL, data2, sizeof data2 - 1, &r);
    expect_refused(c, &r, 422, files, "signature");
    assert_string_equal(oth_err_code(&r), "signature_required");
    oth_resp_free(&r);
    /* another product without the requirement still takes unsigned firmware */
    assert_int_equal(upload(c, pk2, "unsigned-2", "2.0.0", NULL, data2, sizeof data2 - 1, &r), 201);
    assert_false(json_is_true(json_object_get(r.json, "signed")));
    assert_true(json_is_null(json_object_get(r.json, "keyId")));
    oth_resp_free(&r);
    files = tapi_count_files(c, "firmware");

    /* a retired key verifies nothing more */
    snprintf(path, sizeof path, "/api/v1/products/%s/signing-keys/%s", pk, kid1);
    assert_int_equal(call(c, "DELETE", path, NULL, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "retired")));
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/products/%s/signing-keys/%s", pk, kid2);
    assert_int_equal(call(c, "DELETE", path, NULL, &r), 404); /* pk2's key, not pk's */
    oth_resp_free(&r);
    tapi_sign_b64(key1, pk, "2.0.0", data2, sizeof data2 - 1, sig);
    upload(c, pk, "refused", "2.0.0", sig, data2, sizeof data2 - 1, &r);
    expect_refused(c, &r, 422, files, "signature");
    oth_resp_free(&r);

    /* the signed firmware keeps its signed state; the audit log has the key's rows */
    oth_get(&c->env, "/api/v1/audit?action=signingkey.create", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 2);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
