/*
 * Shared crypto helpers on OpenSSL 3: hex, randomness, HMAC-SHA256, constant-time
 * compare, key file handling and secret derivation. No state but SHA-256's algorithm,
 * fetched once (ota_hmac_sha256); safe from any thread.
 */
#include "ota_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ota_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int ota_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ota_hex_decode(const char *in, unsigned char *out, size_t outlen)
{
    if (strlen(in) != 2 * outlen)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        int hi = ota_hex_digit(in[2 * i]), lo = ota_hex_digit(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int ota_random_bytes(unsigned char *out, size_t len)
{
    return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

/* MD5 fetched once: the broker plugin computes a partition for every device message, and
 * EVP_md5() makes EVP_Digest fetch the algorithm on every call. NULL when the fetch failed
 * (EVP_md5() then). Never freed (one per process). */
static EVP_MD *md5_md;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void)
{
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
}

int ota_part_of(const char *identifier)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    pthread_once(&md5_once, md5_fetch);
    if (!EVP_Digest(identifier, strlen(identifier), md, &len, md5_md ? md5_md : EVP_md5(), NULL) ||
        len == 0)
        return 0; /* cannot happen with OpenSSL's built-in MD5 */
    return md[0] % OTA_PARTS_N;
}

int ota_random_hex(size_t nbytes, char *out)
{
    unsigned char buf[64];
    if (nbytes > sizeof buf || ota_random_bytes(buf, nbytes) != 0)
        return -1;
    ota_hex_encode(buf, nbytes, out);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

/* OpenSSL's HMAC-SHA256 set up once for the process: the one-shot HMAC() and EVP_MAC_init
 * with a digest name fetch their algorithms on every call (locks and allocations: four
 * times the hash itself), and a DDI poll checks a device's TargetToken with one HMAC
 * (docs/benchmarks.md). A call duplicates the template (the fetched digest is shared) and
 * keys it. NULL when the setup failed: ota_hmac_sha256 then falls back to HMAC(). Never
 * freed (one per process). */
static EVP_MAC_CTX *hmac_tmpl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_setup(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (c && EVP_MAC_CTX_set_params(c, params) != 1) {
        EVP_MAC_CTX_free(c);
        c = NULL;
    }
    hmac_tmpl = c;
}

int ota_hmac_sha256(const unsigned char *key, size_t keylen, const void *msg, size_t msglen,
                    unsigned char mac[32])
{
    static const unsigned char nokey[1];
    size_t n = 0;
    pthread_once(&hmac_once, hmac_setup);
    if (!hmac_tmpl) {
        unsigned int hn = 0;
        if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, mac, &hn) || hn != 32)
            return -1;
        return 0;
    }
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(hmac_tmpl);
    if (!c)
        return -1;
    /* an empty key is a valid HMAC key; EVP_MAC_init takes NULL as "keep the old one" */
    int ok = EVP_MAC_init(c, keylen ? key : nokey, keylen, NULL) == 1 &&
             EVP_MAC_update(c, msg, msglen) == 1 && EVP_MAC_final(c, mac, &n, 32) == 1 && n == 32;
    EVP_MAC_CTX_free(c);
    return ok ? 0 : -1;
}

int ota_ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

int ota_key_load(const char *path, int create, unsigned char key[OTA_KEY_BYTES])
{
    char hex[2 * OTA_KEY_BYTES + 2];
    FILE *f = fopen(path, "r");
    if (f) {
        struct stat st;
        if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
            /* like ssh with a private key: a key others may read is refused */
            int e = (st.st_mode & 077) != 0 ? EPERM : errno;
            fclose(f);
            errno = e;
            return -1;
        }
        size_t n = fread(hex, 1, sizeof hex - 1, f);
        fclose(f);
        hex[n] = '\0';
        while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r'))
            hex[--n] = '\0';
        if (ota_hex_decode(hex, key, OTA_KEY_BYTES) != 0) {
            errno = EINVAL;
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT || !create)
        return -1;
    if (ota_random_bytes(key, OTA_KEY_BYTES) != 0) {
        errno = EIO;
        return -1;
    }
    ota_hex_encode(key, OTA_KEY_BYTES, hex);
    strcat(hex, "\n");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(hex);
    if (write(fd, hex, len) != (ssize_t)len || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    /* link() instead of rename(): two processes starting together keep the first key */
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EEXIST)
            return ota_key_load(path, 0, key);
        errno = e;
        return -1;
    }
    unlink(tmp);
    return 0;
}

const char *ota_key_strerror(int err)
{
    return err == EPERM ? "group or others may read it (chmod 600 it; docs/security.md)"
                        : strerror(err);
}

static int derive(const unsigned char key[OTA_KEY_BYTES], const char *msg, char *out, size_t outlen)
{
    unsigned char mac[32];
    char hex[65];
    if (outlen < OTA_DEVICE_SECRET_LEN + 1 || ota_hmac_sha256(key, OTA_KEY_BYTES, msg, strlen(msg), mac))
        return -1;
    ota_hex_encode(mac, sizeof mac, hex);
    memcpy(out, hex, OTA_DEVICE_SECRET_LEN);
    out[OTA_DEVICE_SECRET_LEN] = '\0';
    return 0;
}

int ota_secret_device(const unsigned char key[OTA_KEY_BYTES], const char *product_key,
                      const char *identifier, char *out, size_t outlen)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "device:%s.%s", product_key, identifier);
    if (n < 0 || n >= (int)sizeof msg)
        return -1;
    return derive(key, msg, out, outlen);
}

int ota_secret_server(const unsigned char key[OTA_KEY_BYTES], char *out, size_t outlen)
{
    return derive(key, "server:otad", out, outlen);
}

/* The broker token of otad's HTTP authentication endpoints (see ota_crypto.h). */
int ota_secret_broker_http(const unsigned char key[OTA_KEY_BYTES], char *out, size_t outlen)
{
    return derive(key, "broker-http:", out, outlen);
}
