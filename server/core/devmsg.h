/*
 * devmsg: the device protocol's payloads (docs/device-protocol.md). Parses what devices
 * publish (topic + payload bytes, straight from the MQTT callback) into a fixed-size
 * struct, and builds what the platform publishes to devices as JSON strings.
 *
 * Device -> platform, topic /sys/{productKey}/{identifier}/<suffix>:
 *   ota/firmware/upgrade_reply  {"msgId","version":"1.0","code":int}   (data ignored)
 *   ota/progress                {"msgId","version":"1.0","data":{"step":N,"desc":"..."}}
 *   ota/version                 {"msgId","version":"1.0","data":{"firmwareVersion":"..."}}
 *   ota/firmware/get            {"msgId","version":"1.0","data":{} | {"firmwareVersion":"..."}}
 * Rules: payload <= OTA_PAYLOAD_MAX bytes, one JSON object (UTF-8, no duplicate keys);
 * productKey and identifier 1..64 of [A-Za-z0-9_-]; msgId a string of 1..64 bytes without
 * control characters; version exactly "1.0"; code an integer; step an integer in -4..-1
 * or 1..100; desc optional, a string of at most 256 characters (UTF-8 code points), null =
 * absent; firmwareVersion 1..100 of [A-Za-z0-9_.-]. For ota/firmware/get a missing "data"
 * counts as {} (the pending upgrade is asked for). Fields not listed are ignored, so
 * devices may add their own. Anything else is refused with an error code and a one-line
 * reason that the caller logs once with the device (printable ASCII only; it echoes no
 * field values, only lengths, numbers and at most a short token near a JSON syntax error).
 *
 * Platform -> device (malloc'd compact JSON, caller frees):
 *   ota/firmware/upgrade    {"msgId","version":"1.0","data":{"policy","size","firmwareVersion",
 *                            "url","sign","signMethod":"Md5","sha256","batchId"}}
 *   ota/firmware/get_reply  {"msgId","version":"1.0","code":200,"data":{same as upgrade}}
 *                        or {"msgId","version":"1.0","code":404,
 *                            "message":"FirmwareVersion X not existed"}
 *                           ("No pending upgrade" when the get named no version).
 *
 * Pure functions, no globals; thread-safe (jansson with its default allocator).
 */
#ifndef OTAD_DEVMSG_H
#define OTAD_DEVMSG_H

#include "otaproto/ota_protocol.h"

#include <stddef.h>
#include <stdint.h>

#include "ota_err.h"

#define DEVMSG_DESC_BYTES (4 * OTA_PROGRESS_DESC_MAX)

/* Topic suffixes under /sys/{productKey}/{identifier}/ */

typedef enum {
    DEVMSG_UPGRADE_REPLY = 1,
    DEVMSG_PROGRESS,
    DEVMSG_VERSION,
    DEVMSG_GET,
} devmsg_kind;

typedef struct {
    devmsg_kind kind;
    char product_key[OTA_PRODUCT_KEY_MAX + 1];
    char identifier[OTA_IDENT_MAX + 1];
    char msg_id[OTA_MSGID_MAX + 1];
    int code;                         /* UPGRADE_REPLY */
    int step;                         /* PROGRESS: -4..-1, 1..100 */
    int has_desc;                     /* PROGRESS: desc given */
    char desc[DEVMSG_DESC_BYTES + 1]; /* PROGRESS: UTF-8 */
    int has_version;                  /* VERSION: 1; GET: 1 if it named a version */
    char firmware_version[OTA_VERSION_MAX + 1];
} devmsg_msg;

/* The firmware a push or get_reply offers. Strings borrowed for the call. */
typedef struct {
    const char *policy;           /* "standard" | "silent" */
    int64_t size;                 /* bytes, >= 0 */
    const char *firmware_version; /* non-empty */
    const char *url;              /* non-empty */
    const char *md5;              /* lowercase hex, the "sign" */
    const char *sha256;           /* lowercase hex */
    const char *batch_id;         /* non-empty */
    /* a signed firmware (all three, or all NULL/empty): adds manifest, signature, keyId and
     * signAlgorithm "Ed25519" (common/ota_sign.h) */
    const char *manifest;
    const char *signature; /* base64 */
    const char *key_id;
} devmsg_upgrade;

/* Parses only the topic: productKey and identifier (OTA_PRODUCT_KEY_MAX+1 and OTA_IDENT_MAX+1 bytes) and kind.
 * OTA_OK or OTA_ETOPIC. pk/id/kind may be NULL. */
ota_err devmsg_parse_topic(const char *topic, char *pk, char *id, devmsg_kind *kind);

/* Parses one device message. On OTA_OK *out is filled. On error the return is one of
 * OTA_ETOPIC, OTA_ETOOBIG, OTA_EJSON, OTA_EMISSING, OTA_ETYPE or OTA_EVALUE, *out is partly filled
 * (kind, product_key and identifier once the topic parsed) and reason (if not NULL) gets a one-line
 * NUL-terminated explanation, truncated to reason_len. No allocation survives the call. */
ota_err devmsg_parse(const char *topic, const void *payload, size_t len, devmsg_msg *out,
                     char *reason, size_t reason_len);

/* Writes "/sys/{pk}/{id}/{suffix}" into out. Returns 0, or -1 if it does not fit. */
int devmsg_topic(char *out, size_t outlen, const char *product_key, const char *identifier,
                 const char *suffix);

/* Platform -> device payloads. Each returns a malloc'd NUL-terminated JSON string the
 * caller frees with free(), or NULL on out of memory or a missing/empty field. */
char *devmsg_build_upgrade(const char *msg_id, const devmsg_upgrade *u);
char *devmsg_build_get_reply(const char *msg_id, const devmsg_upgrade *u);
/* firmware_version: what the get asked for; NULL or "" gives "No pending upgrade". */
char *devmsg_build_get_reply_404(const char *msg_id, const char *firmware_version);

/* The topic suffix of a kind ("ota/progress", ...); "?" otherwise. */
const char *devmsg_kind_name(devmsg_kind k);

#endif
