/*
 * ota_crypto: the small pieces of OpenSSL the whole project shares: hex, random tokens,
 * HMAC-SHA256, constant-time comparison, and the one rule that turns the server key
 * into device secrets and the server's broker password. The broker plugin, otad and
 * the tests all derive secrets with these functions, so they can never disagree.
 *
 * Secrets (see docs/architecture.md):
 *   deviceSecret   = hex(HMAC-SHA256(key, "device:" productKey "." identifier))[0..32)
 *   server password = hex(HMAC-SHA256(key, "server:otad"))[0..32)
 *   broker token    = hex(HMAC-SHA256(key, "broker-http:"))[0..32)  (HTTP auth endpoints)
 * The key is 32 random bytes kept hex-encoded in $OTA_DATA_DIR/keys/server.key.
 */
#ifndef OTA_CRYPTO_H
#define OTA_CRYPTO_H

#include "otaproto/ota_protocol.h"

#include <stddef.h>
#include <stdint.h>

#define OTA_KEY_BYTES 32

/* Writes 2*len lowercase hex characters and a NUL to out (size >= 2*len+1). */
void ota_hex_encode(const unsigned char *in, size_t len, char *out);
/* The value of one hex digit (either case), or -1. */
int ota_hex_digit(char c);
/* Decodes exactly 2*outlen hex characters. Returns 0, or -1 on a bad character/length. */
int ota_hex_decode(const char *in, unsigned char *out, size_t outlen);
/* Fills out with len cryptographically random bytes. Returns 0, or -1. */
int ota_random_bytes(unsigned char *out, size_t len);
/* A random token of nbytes bytes as hex into out (size >= 2*nbytes+1). Returns 0 or -1. */
int ota_random_hex(size_t nbytes, char *out);
/* The partition of a device (0..OTA_PARTS_N-1): first byte of MD5(identifier) mod
 * OTA_PARTS_N, the formula of PostgreSQL's generated column devices.part, so otad
 * (core/parts.c), the broker plugin and SQL agree (docs/postgresql.md, "Partitions"). */
int ota_part_of(const char *identifier);
/* HMAC-SHA256 of msg under key into mac[32]. Returns 0, or -1. */
int ota_hmac_sha256(const unsigned char *key, size_t keylen, const void *msg, size_t msglen,
                    unsigned char mac[32]);
/* Constant-time equality of two strings (time depends only on the lengths). 1 if equal. */
int ota_ct_streq(const char *a, const char *b);

/* Reads the hex server key file into key[32]. If it does not exist and create is set,
 * makes a new random key and writes it atomically (temp file, fsync, rename, mode 0600).
 * Returns 0, or -1 (errno kept). A key file that group or others may access (any of mode
 * 077) is refused with errno EPERM, as ssh refuses such a private key: every device secret
 * derives from it (docs/security.md). */
int ota_key_load(const char *path, int create, unsigned char key[OTA_KEY_BYTES]);
/* Why ota_key_load failed, for a message: for EPERM "group or others may read it (chmod
 * 600 it)", else strerror(err). A static string. */
const char *ota_key_strerror(int err);

/* Device secret for productKey.identifier: OTA_DEVICE_SECRET_LEN hex chars + NUL into out
 * (size >= 33). Returns 0, or -1. */
int ota_secret_device(const unsigned char key[OTA_KEY_BYTES], const char *product_key,
                      const char *identifier, char *out, size_t outlen);
/* The server's own broker password (user "otad"), same format. Returns 0, or -1. */
int ota_secret_server(const unsigned char key[OTA_KEY_BYTES], char *out, size_t outlen);
/* The shared secret a broker other than our Mosquitto plugin (EMQX, ...) presents to otad's
 * /api/v1/broker/... endpoints as "Authorization: Bearer <token>" (docs/broker.md):
 * hex(HMAC-SHA256(key, "broker-http:"))[0..32), same format. Not the admin token: it only
 * lets the broker ask for login, ACL and presence decisions. Returns 0, or -1. */
int ota_secret_broker_http(const unsigned char key[OTA_KEY_BYTES], char *out, size_t outlen);

#endif
