/*
 * Unit tests of common/sign.c (ota_sign.h): the manifest's exact bytes and what it
 * refuses, strict base64 both ways, reading an Ed25519 public key from PEM (and refusing
 * other keys and other blocks), the key id, and verification: a good signature, one bit
 * changed in the signature or the manifest, another key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ota_crypto.h"
#include "ota_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SHA[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

static void test_manifest(void **state)
{
    (void)state;
    char m[OTA_SIGN_MANIFEST_MAX];
    int n = ota_sign_manifest("a1B2c3D4e5F", "1.2.3-rc_1", 1048576, SHA, m, sizeof m);
    const char *want = "{\"productKey\":\"a1B2c3D4e5F\",\"firmwareVersion\":\"1.2.3-rc_1\","
                       "\"size\":1048576,\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0"
                       "b822cd15d6c15b0f00a08\"}";
    assert_string_equal(m, want);
    assert_int_equal(n, (int)strlen(want));
    assert_int_equal(ota_sign_manifest("pk", "1", 0, SHA, m, sizeof m) > 0, 1);
    assert_non_null(strstr(m, "\"size\":0,"));
    /* refused: empty fields, escapes, bad hash, negative size, no room */
    assert_int_equal(ota_sign_manifest("", "1", 1, SHA, m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("pk", "", 1, SHA, m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("p\"k", "1", 1, SHA, m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("pk", "1\\", 1, SHA, m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("pk", "1\n", 1, SHA, m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("pk", "1", -1, SHA, m, sizeof m), -1);
    char upper[65];
    memcpy(upper, SHA, sizeof upper);
    upper[0] = 'F';
    assert_int_equal(ota_sign_manifest("pk", "1", 1, upper, m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("pk", "1", 1, "abc", m, sizeof m), -1);
    assert_int_equal(ota_sign_manifest("pk", "1", 1, SHA, m, 40), -1);
}

static void test_base64(void **state)
{
    (void)state;
    unsigned char out[16];
    char txt[32];
    static const struct {
        const char *txt, *bin;
    } ok[] = {{"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg==", "foob"},
              {"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long n = ota_b64_decode(ok[i].txt, strlen(ok[i].txt), out, sizeof out);
        assert_int_equal(n, (long)strlen(ok[i].bin));
        assert_memory_equal(out, ok[i].bin, (size_t)n);
        assert_int_equal(ota_b64_encode((const unsigned char *)ok[i].bin, strlen(ok[i].bin), txt,
                                        sizeof txt),
                         (long)strlen(ok[i].txt));
        assert_string_equal(txt, ok[i].txt);
    }
    static const char *const bad[] = {"",     "Zg",   "Zg=",  "Zg=a", "Z===", "Zh==",
                                      "Zm9=", "Zm 9", "Zm9-", "Zm9_", "=m9v", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ota_b64_decode(bad[i], strlen(bad[i]), out, sizeof out), -1);
    assert_int_equal(ota_b64_decode("Zm9vYmFy", 8, out, 5), -1); /* too long for out */
    assert_int_equal(ota_b64_encode((const unsigned char *)"foo", 3, txt, 4), -1);
}

/* A fresh Ed25519 pair: its PEM public key into pem, raw key into raw. */
static EVP_PKEY *new_key(char *pem, size_t pemlen, unsigned char raw[32])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    assert_true(n > 0 && (size_t)n < pemlen);
    memcpy(pem, p, (size_t)n);
    pem[n] = '\0';
    BIO_free(b);
    size_t rl = 32;
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &rl), 1);
    return k;
}

static void sign(EVP_PKEY *k, const char *msg, unsigned char sig[64])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t sl = 64;
    assert_int_equal(EVP_DigestSignInit(c, NULL, NULL, NULL, k), 1);
    assert_int_equal(EVP_DigestSign(c, sig, &sl, (const unsigned char *)msg, strlen(msg)), 1);
    assert_int_equal(sl, 64);
    EVP_MD_CTX_free(c);
}

static void test_keys_and_verify(void **state)
{
    (void)state;
    char pem[1024], pem2[1024], m[OTA_SIGN_MANIFEST_MAX], id[OTA_SIGN_KEY_ID_LEN + 1];
    unsigned char raw[32], raw2[32], got[32], sig[64];
    const char *why = NULL;
    EVP_PKEY *k = new_key(pem, sizeof pem, raw), *k2 = new_key(pem2, sizeof pem2, raw2);
    assert_int_equal(ota_sign_pubkey_pem(pem, strlen(pem), got, &why), 0);
    assert_memory_equal(got, raw, 32);
    /* the key id: SHA-256 of the raw key, first 8 bytes in hex */
    unsigned char d[32];
    char want[17];
    SHA256(raw, 32, d);
    ota_hex_encode(d, 8, want);
    ota_sign_key_id(raw, id);
    assert_string_equal(id, want);

    int n = ota_sign_manifest("pk1", "2.0.0", 4096, SHA, m, sizeof m);
    assert_true(n > 0);
    sign(k, m, sig);
    assert_int_equal(ota_sign_verify(raw, m, (size_t)n, sig), 1);
    assert_int_equal(ota_sign_verify(raw2, m, (size_t)n, sig), 0); /* another key */
    sig[10] ^= 1;
    assert_int_equal(ota_sign_verify(raw, m, (size_t)n, sig), 0);
    sig[10] ^= 1;
    m[20] ^= 1; /* the manifest of other bytes */
    assert_int_equal(ota_sign_verify(raw, m, (size_t)n, sig), 0);

    /* refused keys: garbage, a private key, an EC key, truncated, too long */
    assert_int_equal(ota_sign_pubkey_pem("hello", 5, got, &why), -1);
    assert_non_null(why);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *p;
    long pl = BIO_get_mem_data(b, &p);
    assert_int_equal(ota_sign_pubkey_pem(p, (size_t)pl, got, &why), -1);
    BIO_free(b);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, ec);
    pl = BIO_get_mem_data(b, &p);
    assert_int_equal(ota_sign_pubkey_pem(p, (size_t)pl, got, &why), -1);
    assert_string_equal(why, "The public key must be an Ed25519 key.");
    BIO_free(b);
    EVP_PKEY_free(ec);
    assert_int_equal(ota_sign_pubkey_pem(pem, strlen(pem) / 2, got, &why), -1);
    char big[2048];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, pem, strlen(pem));
    assert_int_equal(ota_sign_pubkey_pem(big, strlen(big), got, &why), -1);
    (void)pem2;
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_keys_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
