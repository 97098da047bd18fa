/*
 * sign: see ota_sign.h. Ed25519 through OpenSSL's EVP interface (one-shot
 * EVP_DigestVerify, no digest: Ed25519 hashes internally).
 */
#include "ota_sign.h"

#include "ota_crypto.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <string.h>

/* 1 when s is non-empty and holds no character JSON would escape. */
static int json_plain(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int lower_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int ota_sign_manifest(const char *product_key, const char *version, int64_t size,
                      const char *sha256, char *out, size_t outlen)
{
    if (!json_plain(product_key) || !json_plain(version) || size < 0 || !lower_hex64(sha256) ||
        !out || outlen == 0)
        return -1;
    int n = snprintf(out, outlen,
                     "{\"productKey\":\"%s\",\"firmwareVersion\":\"%s\",\"size\":%lld,"
                     "\"sha256\":\"%s\"}",
                     product_key, version, (long long)size, sha256);
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return n;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long ota_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax)
{
    if (!in || inlen == 0 || inlen % 4 != 0)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        int last = i + 4 == inlen;
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + (size_t)k];
            if (c == '=' && last && k >= 2) {
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad) /* a character after '=' */
                return -1;
            v[k] = b64_value(c);
            if (v[k] < 0)
                return -1;
        }
        if (pad == 2 && (v[1] & 15)) /* unused bits must be zero: one text per value */
            return -1;
        if (pad == 1 && (v[2] & 3))
            return -1;
        size_t bytes = 3 - (size_t)pad;
        if (n + bytes > outmax)
            return -1;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        out[n++] = (unsigned char)(w >> 16);
        if (bytes > 1)
            out[n++] = (unsigned char)(w >> 8);
        if (bytes > 2)
            out[n++] = (unsigned char)w;
    }
    return (long)n;
}

long ota_b64_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = 4 * ((len + 2) / 3);
    if (!out || outlen < need + 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            w |= in[i + 2];
        out[o++] = abc[(w >> 18) & 63];
        out[o++] = abc[(w >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[w & 63] : '=';
    }
    out[o] = '\0';
    return (long)o;
}

int ota_sign_pubkey_pem(const char *pem, size_t len, unsigned char raw[OTA_SIGN_PUB_BYTES],
                        const char **why)
{
    static const char *const begin = "-----BEGIN PUBLIC KEY-----";
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (!pem || len == 0 || len > OTA_SIGN_PEM_MAX || len > (size_t)0x7fffffff) {
        *why = "The public key must be PEM text of at most 1024 bytes.";
        return -1;
    }
    /* only a SubjectPublicKeyInfo block: PEM_read_bio_PUBKEY would also skip other blocks
     * before it, and a private key must never be sent here */
    if (len < strlen(begin) || memcmp(pem, begin, strlen(begin)) != 0) {
        *why = "The public key must start with -----BEGIN PUBLIC KEY-----.";
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    int rc = -1;
    size_t rawlen = OTA_SIGN_PUB_BYTES;
    if (!k)
        *why = "The public key is not a readable PEM SubjectPublicKeyInfo.";
    else if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519)
        *why = "The public key must be an Ed25519 key.";
    else if (EVP_PKEY_get_raw_public_key(k, raw, &rawlen) != 1 || rawlen != OTA_SIGN_PUB_BYTES)
        *why = "The public key has the wrong length for Ed25519.";
    else
        rc = 0;
    EVP_PKEY_free(k);
    return rc;
}

void ota_sign_key_id(const unsigned char raw[OTA_SIGN_PUB_BYTES], char *out)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(raw, OTA_SIGN_PUB_BYTES, d);
    ota_hex_encode(d, OTA_SIGN_KEY_ID_LEN / 2, out);
}

int ota_sign_verify(const unsigned char raw[OTA_SIGN_PUB_BYTES], const void *msg, size_t len,
                    const unsigned char sig[OTA_SIGN_SIG_BYTES])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, OTA_SIGN_PUB_BYTES);
    EVP_MD_CTX *ctx = k ? EVP_MD_CTX_new() : NULL;
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(ctx, sig, OTA_SIGN_SIG_BYTES, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}
