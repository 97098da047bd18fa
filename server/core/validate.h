/*
 * validate: the field rules of the management API (docs/api.md: the firmware, product and
 * device rules), as pure functions so they are unit-tested alone and
 * shared by the HTTP routes, otactl's hints and the fuzz targets.
 *
 * Every valid_* function returns 0 when the value is acceptable, else -1 and, when why is
 * not NULL, one short human sentence (no trailing period) in why. Lengths count Unicode
 * code points of well-formed UTF-8 (overlong forms, surrogates and values > U+10FFFF are
 * rejected). "Chinese" is the CJK Unified Ideographs block U+4E00..U+9FFF.
 */
#ifndef OTAD_VALIDATE_H
#define OTAD_VALIDATE_H

#include "otaproto/ota_protocol.h"

#include <stddef.h>
#include <stdint.h>

#define VALID_NAME_MAX 50      /* firmware and product names, code points */
#define VALID_DESC_MAX 100     /* firmware and product descriptions, code points */
#define VALID_FILE_BASE_MAX 64 /* file name without its format extension, code points */
#define VALID_DEVNAME_MAX 64   /* device name, code points */
#define VALID_FIRMWARE_MAX_BYTES 104857600LL /* 100 MB of file content */
#define VALID_FIRMWARES_PER_PRODUCT 50
#define VALID_PAGE_SIZE_MAX 1000
#define VALID_PAGE_SIZE_DEFAULT 20

/* Decodes one UTF-8 sequence from s (at most len bytes). Returns its length (1..4) and
 * sets *cp, or -1 when malformed. */
int valid_utf8_next(const char *s, size_t len, uint32_t *cp);
/* Number of code points of a NUL-terminated UTF-8 string, or -1 when malformed. */
long valid_utf8_len(const char *s);

/* Firmware name: 1..50 of Chinese, letters, digits and _ - . ( ); starts and ends with a
 * Chinese character, letter or digit; no spaces. */
int valid_firmware_name(const char *s, char *why, size_t whylen);
/* Product name: the firmware-name rule. */
int valid_product_name(const char *s, char *why, size_t whylen);
/* Firmware version: 1..100 of letters, digits, _ - . */
int valid_firmware_version(const char *s, char *why, size_t whylen);
/* Description (firmware, product): 0..100 code points, no control characters except
 * newline and tab. */
int valid_description(const char *s, char *why, size_t whylen);
/* Firmware file name: BASE.EXT where EXT is bin, rom, zip, gz, tar or tar.gz (ASCII case
 * ignored) and BASE is 1..64 of Chinese, letters, digits, _ -. On success *ext (if not
 * NULL) points into s at the extension (after the dot). */
int valid_file_name(const char *s, const char **ext, char *why, size_t whylen);
/* Device identifier: 1..64 of [A-Za-z0-9_-]. */
int valid_identifier(const char *s, char *why, size_t whylen);
/* Device name: 1..64 code points of printable UTF-8 (no C0/C1 control characters, no DEL). */
int valid_device_name(const char *s, char *why, size_t whylen);
/* Product key: exactly 11 of [A-Za-z0-9]. */
int valid_product_key(const char *s);
/* Decimal row id as used in paths ("17"): 1..2^53, no sign, no leading zero.
 * Returns 0 and sets *id, or -1. */
int valid_id(const char *s, int64_t *id);
/* Paging parameters as they arrive in a query (NULL = absent): page >= 1 (default 1),
 * pageSize 1..1000 (default 20). On error why names the rule and *field the parameter. */
int valid_paging(const char *page, const char *page_size, int *out_page, int *out_size,
                 const char **field, char *why, size_t whylen);

#endif
