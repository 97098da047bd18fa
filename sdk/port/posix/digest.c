/*
 * digest: MD5 and SHA-256 for the SDK through OpenSSL 3's EVP interface. One EVP_MD_CTX
 * per digest state; the SDK holds two during a download. Also Ed25519 verification
 * (otasdk_verify_ops, EVP_DigestVerify) and reading a trusted public key from PEM for
 * signed firmware.
 */
#include "posix_internal.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdio.h>

int posix__ed25519(void *user, const unsigned char pub[32], const void *msg, size_t len,
                   const unsigned char sig[64])
{
    (void)user;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = k ? EVP_MD_CTX_new() : NULL;
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

int otasdk_posix_load_public_key(const char *path, unsigned char raw[32])
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return OTASDK_ERR_ARG;
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    size_t n = 32;
    int rc = k && EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 &&
                     EVP_PKEY_get_raw_public_key(k, raw, &n) == 1 && n == 32
                 ? OTASDK_OK
                 : OTASDK_ERR_ARG;
    EVP_PKEY_free(k);
    return rc;
}

int posix__digest_begin(void *user, otasdk_digest_alg alg, void **state)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    (void)user;
    if (!md)
        return -1;
    if (EVP_DigestInit_ex(md, alg == OTASDK_MD5 ? EVP_md5() : EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    *state = md;
    return 0;
}

int posix__digest_update(void *user, void *state, const void *data, size_t len)
{
    (void)user;
    return EVP_DigestUpdate(state, data, len) == 1 ? 0 : -1;
}

int posix__digest_finish(void *user, void *state, unsigned char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok;
    (void)user;
    ok = EVP_DigestFinal_ex(state, md, &n) == 1 && n <= outlen;
    EVP_MD_CTX_free(state);
    if (!ok)
        return -1;
    for (unsigned int i = 0; i < n; i++)
        out[i] = md[i];
    return 0;
}

void posix__digest_free(void *user, void *state)
{
    (void)user;
    EVP_MD_CTX_free(state);
}
