/*
 * urlsign: signed firmware download links. A push carries a URL that lets one device
 * fetch one firmware for one batch until an expiry, with no other credential (devices
 * download with plain HTTP GET). The link is
 *
 *   {base}/dl/{firmwareId}/{fileName}?b={batchId}&d={productKey.identifier}&e={expiry}&s={sig}
 *
 * base      OTA_PUBLIC_URL, trailing '/' removed
 * fileName  the firmware's file name, or "firmware.bin" when it has none (cosmetic for
 *           download tools, but signed, so it cannot be swapped)
 * expiry    epoch seconds; the link works while now < expiry (the engine uses the batch's
 *           validity end; the HTTP layer must also refuse links of a batch that is no
 *           longer in_progress, since terminate ends it earlier)
 * sig       64 lowercase hex chars: HMAC-SHA256(url key, message), where the url key is
 *           HMAC-SHA256(server key, "url:") and the message is
 *           "ota-dl-v1\n" then for firmwareId, fileName, batchId, device and the decimal
 *           expiry in that order: "<byte length>:<value>\n" (unambiguous for any bytes).
 * Every path segment and query value is percent-escaped (RFC 3986: all but
 * A-Z a-z 0-9 - . _ ~), so UTF-8 file names and any id survive; the signature covers the
 * unescaped values.
 *
 * Verification order: structure (MALFORMED), then signature (BADSIG: any field changed,
 * the signature changed or truncated), then expiry (EXPIRED: only an authentic link can
 * be reported as expired, so a forged late expiry is BADSIG). Suggested HTTP answers: 400,
 * 403, 403 (or 410). Unknown query parameters are ignored; repeated ones are MALFORMED.
 *
 * Pure functions, no globals; the caller keeps the derived key (32 bytes).
 */
#ifndef OTAD_URLSIGN_H
#define OTAD_URLSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "ota_err.h"

#define URLSIGN_KEY_BYTES 32
#define URLSIGN_FIELD_MAX 255   /* bytes of one unescaped field, without NUL */
#define URLSIGN_TARGET_MAX 4096 /* bytes of a request target urlsign_check() accepts */
#define URLSIGN_SIG_HEX 64
#define URLSIGN_DEFAULT_FILE "firmware.bin"

typedef struct {
    const char *firmware_id; /* 1..URLSIGN_FIELD_MAX bytes */
    const char *file_name;   /* NULL or "" means URLSIGN_DEFAULT_FILE */
    const char *batch_id;    /* 1..URLSIGN_FIELD_MAX bytes */
    const char *device;      /* "productKey.identifier", 1..URLSIGN_FIELD_MAX bytes */
    int64_t expires_s;       /* epoch seconds, >= 0 */
} urlsign_fields;

/* A parsed request target; all strings unescaped and NUL-terminated. */
typedef struct {
    char firmware_id[URLSIGN_FIELD_MAX + 1];
    char file_name[URLSIGN_FIELD_MAX + 1];
    char batch_id[URLSIGN_FIELD_MAX + 1];
    char device[URLSIGN_FIELD_MAX + 1];
    int64_t expires_s;
    char sig[URLSIGN_SIG_HEX + 1]; /* as received (may be shorter/longer: then BADSIG) */
    int sig_bad_length;            /* 1 if the received s was not 64 characters */
} urlsign_request;

/* url_key = HMAC-SHA256(server_key, "url:"). OTA_OK or OTA_EINTERNAL. */
ota_err urlsign_derive_key(const unsigned char server_key[32],
                           unsigned char url_key[URLSIGN_KEY_BYTES]);

/* The signature of f as 64 hex chars + NUL into sig_hex. OTA_OK, OTA_EINVAL or
 * OTA_EINTERNAL. */
ota_err urlsign_sign(const unsigned char key[URLSIGN_KEY_BYTES], const urlsign_fields *f,
                     char sig_hex[URLSIGN_SIG_HEX + 1]);

/* Builds the full link into *out_url (malloc'd; the caller frees it). On error *out_url is
 * NULL and the return is OTA_EINVAL (empty/over-long field, negative expiry, empty
 * base_url) or OTA_EINTERNAL. */
ota_err urlsign_build(const unsigned char key[URLSIGN_KEY_BYTES], const char *base_url,
                      const urlsign_fields *f, char **out_url);

/* Parses a request target "/dl/{firmwareId}/{fileName}?b=&d=&e=&s=" (path and query as
 * received, still escaped). OTA_OK or OTA_EMALFORMED; *out is filled on OK. */
ota_err urlsign_parse(const char *target, urlsign_request *out);

/* Verifies parsed fields against the signature at now_s. OTA_OK, OTA_EBADSIG,
 * OTA_EEXPIRED, or OTA_EINTERNAL. */
ota_err urlsign_verify(const unsigned char key[URLSIGN_KEY_BYTES], const urlsign_request *req,
                       int64_t now_s);

/* For an HTTP layer that has already unescaped the path segments and query values (as
 * libmicrohttpd does): fills *out from the parts. e must be 1..18 decimal digits, no leading zero.
 * Any NULL or empty part, or an over-long one: OTA_EMALFORMED. */
ota_err urlsign_request_from_parts(const char *firmware_id, const char *file_name, const char *b,
                                   const char *d, const char *e, const char *s,
                                   urlsign_request *out);

/* urlsign_parse() then urlsign_verify(); *out (may be NULL) gets the parsed fields. */
ota_err urlsign_check(const unsigned char key[URLSIGN_KEY_BYTES], const char *target, int64_t now_s,
                      urlsign_request *out);

#endif
