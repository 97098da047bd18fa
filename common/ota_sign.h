/*
 * ota_sign: signed firmware (Ed25519) as otad and the tools see it: the manifest text a
 * signature covers, strict base64, public keys in PEM (SubjectPublicKeyInfo), key ids,
 * verification, and for otactl key generation and signing. The manifest is the exact
 * byte string
 *   {"productKey":"<pk>","firmwareVersion":"<v>","size":<bytes>,"sha256":"<lowercase hex>"}
 * (keys in this order, no spaces; docs/device-protocol.md). A key id is the first 16 lowercase hex
 * characters of SHA-256 over the 32 raw public-key bytes, so a device computes it from the
 * keys it trusts.
 *
 * Pure functions on caller buffers, no global state; the OpenSSL calls allocate and free
 * inside each call. Cost: one Ed25519 verification is tens of microseconds, done once per
 * firmware upload per key of the product.
 */
#ifndef OTA_SIGN_H
#define OTA_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define OTA_SIGN_PUB_BYTES 32
#define OTA_SIGN_SIG_BYTES 64
#define OTA_SIGN_SIG_B64_LEN 88 /* base64 characters of a signature, without NUL */
#define OTA_SIGN_KEY_ID_LEN 16  /* hex characters of a key id, without NUL */
#define OTA_SIGN_MANIFEST_MAX 512
#define OTA_SIGN_PEM_MAX 1024 /* bytes of a public key's PEM text accepted */

/* Writes the manifest and a NUL to out. Returns its length, or -1 when it does not fit
 * or a field is empty, size is negative, sha256 is not 64 lowercase hex characters, or
 * product_key/version hold a character JSON would escape (" \ or a control character). */
int ota_sign_manifest(const char *product_key, const char *version, int64_t size,
                      const char *sha256, char *out, size_t outlen);

/* Decodes in[0..inlen) as standard, padded base64 (no whitespace; unused bits zero) into
 * out (at most outmax bytes). Returns the decoded length, or -1 when the text is not such
 * base64 or the result would exceed outmax. */
long ota_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax);
/* Encodes in[0..len) as standard padded base64 with a NUL; out needs 4*((len+2)/3)+1
 * bytes. Returns the text's length, or -1 when outlen is too small. */
long ota_b64_encode(const unsigned char *in, size_t len, char *out, size_t outlen);

/* Reads an Ed25519 public key from PEM text (SubjectPublicKeyInfo) into raw. Returns 0,
 * or -1 with *why (a static sentence) set. */
int ota_sign_pubkey_pem(const char *pem, size_t len, unsigned char raw[OTA_SIGN_PUB_BYTES],
                        const char **why);
/* The key id of raw into out (OTA_SIGN_KEY_ID_LEN + 1 bytes). */
void ota_sign_key_id(const unsigned char raw[OTA_SIGN_PUB_BYTES], char *out);
/* 1 when sig is raw's Ed25519 signature of msg[0..len), else 0. */
int ota_sign_verify(const unsigned char raw[OTA_SIGN_PUB_BYTES], const void *msg, size_t len,
                    const unsigned char sig[OTA_SIGN_SIG_BYTES]);

#endif
