/*
 * account: roles, names, scrypt password hashes, bearer tokens and the sign-in throttle
 * (account.h says what each promises). No I/O but OpenSSL and the clock values passed in.
 */
#include "core/account.h"

#include "ota_crypto.h"
#include "ota_log.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* scrypt cost: N = 2^15, r = 8, p = 1 is 32 MiB and about 50 ms a hash on one core */
#define SCRYPT_LOG_N 15
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SALT_BYTES 16
#define KEY_BYTES 32
#define MAXMEM (1024ull * 1024 * 1024) /* refuse stored parameters that ask for more */

static const char *const role_names[] = {"", "viewer", "operator", "admin"};

const char *acct_role_name(acct_role r)
{
    return r >= ACCT_ROLE_NONE && r <= ACCT_ADMIN ? role_names[r] : "";
}

acct_role acct_role_parse(const char *s)
{
    for (int i = ACCT_VIEWER; s && i <= ACCT_ADMIN; i++)
        if (strcmp(s, role_names[i]) == 0)
            return (acct_role)i;
    return ACCT_ROLE_NONE;
}

int acct_valid_name(const char *name, char *why, size_t whylen)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > ACCT_NAME_MAX) {
        snprintf(why, whylen, "A name has 1 to %d characters", ACCT_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-' && c != '@'))) {
            snprintf(why, whylen,
                     "A name has letters, digits and . _ - @, and starts with a letter or digit");
            return -1;
        }
    }
    return 0;
}

int acct_valid_password(const char *pw, char *why, size_t whylen)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < ACCT_PASSWORD_MIN || n > ACCT_PASSWORD_MAX) {
        snprintf(why, whylen, "A password has %d to %d characters", ACCT_PASSWORD_MIN,
                 ACCT_PASSWORD_MAX);
        return -1;
    }
    return 0;
}

/* scrypt(pw, salt) with the given cost into key[KEY_BYTES]. 0, or -1 (logged). */
static int scrypt(const char *pw, const unsigned char *salt, size_t saltlen, unsigned log_n,
                  uint32_t r, uint32_t p, unsigned char *key)
{
    uint64_t n = 1ull << log_n, maxmem = MAXMEM;
    int rc = -1;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, strlen(pw)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    if (ctx && EVP_KDF_derive(ctx, key, KEY_BYTES, params) == 1)
        rc = 0;
    else
        OTA_ERROR("account: scrypt failed (OpenSSL)");
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

int acct_password_hash(const char *pw, char *out, size_t outlen)
{
    unsigned char salt[SALT_BYTES], key[KEY_BYTES];
    char salt_hex[2 * SALT_BYTES + 1], key_hex[2 * KEY_BYTES + 1];
    if (ota_random_bytes(salt, sizeof salt) != 0 ||
        scrypt(pw, salt, sizeof salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, key) != 0)
        return -1;
    ota_hex_encode(salt, sizeof salt, salt_hex);
    ota_hex_encode(key, sizeof key, key_hex);
    OPENSSL_cleanse(key, sizeof key);
    int n = snprintf(out, outlen, "scrypt$%d$%d$%d$%s$%s", SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P,
                     salt_hex, key_hex);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int acct_password_check(const char *pw, const char *stored)
{
    unsigned log_n, r, p;
    char salt_hex[2 * SALT_BYTES + 1], key_hex[2 * KEY_BYTES + 1], got_hex[2 * KEY_BYTES + 1];
    unsigned char salt[SALT_BYTES], key[KEY_BYTES];
    int end = 0;
    if (!stored || !pw ||
        sscanf(stored, "scrypt$%2u$%3u$%3u$%32[0-9a-f]$%64[0-9a-f]%n", &log_n, &r, &p, salt_hex,
               key_hex, &end) != 5 ||
        stored[end] != '\0' || log_n < 10 || log_n > 22 || r < 1 || r > 32 || p < 1 || p > 16 ||
        strlen(key_hex) != 2 * KEY_BYTES || ota_hex_decode(salt_hex, salt, sizeof salt) != 0)
        return 0;
    if (scrypt(pw, salt, sizeof salt, log_n, r, p, key) != 0)
        return -1;
    ota_hex_encode(key, sizeof key, got_hex);
    OPENSSL_cleanse(key, sizeof key);
    return ota_ct_streq(got_hex, key_hex);
}

int acct_token_hash(const char *token, char *hash)
{
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return -1;
    ota_hex_encode(md, 32, hash);
    return 0;
}

int acct_token_new(char *token, char *hash)
{
    char hex[65];
    if (ota_random_hex(32, hex) != 0)
        return -1;
    snprintf(token, ACCT_TOKEN_MAX, "ota_%s", hex);
    return acct_token_hash(token, hash);
}

/* ---- throttle ---------------------------------------------------------------------- */

void acct_throttle_init(acct_throttle *t, int free_fails, int lock_fails)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->free = free_fails;
    t->lock = lock_fails;
}

void acct_throttle_destroy(acct_throttle *t)
{
    if (t)
        pthread_mutex_destroy(&t->mu);
}

/* The slot of key (locked), forgetting one idle for ACCT_LOCK_MS; NULL when none and
 * !make; with make, a free or the longest idle slot. */
static acct_throttle_slot *find(acct_throttle *t, const char *key, int64_t now_ms, int make)
{
    acct_throttle_slot *oldest = NULL;
    for (size_t i = 0; i < ACCT_THROTTLE_SLOTS; i++) {
        acct_throttle_slot *s = &t->slot[i];
        if (s->key[0] && now_ms - s->last_ms >= ACCT_LOCK_MS && now_ms >= s->until_ms)
            s->key[0] = '\0';
        if (s->key[0] && strcmp(s->key, key) == 0)
            return s;
        if (!oldest || !s->key[0] || (oldest->key[0] && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    if (!make)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->key, sizeof oldest->key, "%s", key);
    return oldest;
}

int64_t acct_throttle_wait(acct_throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->mu);
    acct_throttle_slot *s = find(t, key, now_ms, 0);
    int64_t wait = s && s->until_ms > now_ms ? s->until_ms - now_ms : 0;
    pthread_mutex_unlock(&t->mu);
    return wait;
}

int acct_throttle_fail(acct_throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->mu);
    acct_throttle_slot *s = find(t, key, now_ms, 1);
    int n = ++s->fails;
    s->last_ms = now_ms;
    if (n >= t->lock)
        s->until_ms = now_ms + ACCT_LOCK_MS;
    else if (n > t->free) {
        int shift = n - t->free - 1;
        s->until_ms = now_ms + (1000ll << (shift > 20 ? 20 : shift));
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

void acct_throttle_ok(acct_throttle *t, const char *key)
{
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < ACCT_THROTTLE_SLOTS; i++)
        if (t->slot[i].key[0] && strcmp(t->slot[i].key, key) == 0)
            t->slot[i].key[0] = '\0';
    pthread_mutex_unlock(&t->mu);
}
