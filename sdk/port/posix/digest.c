/*
 * digest: MD5 and SHA-256 for the SDK through OpenSSL 3's EVP interface. One EVP_MD_CTX
 * per digest state; the SDK holds two during a download.
 */
#include "posix_internal.h"

#include <openssl/evp.h>

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
