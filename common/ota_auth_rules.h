/*
 * auth_rules: the pure rules of the broker plugin (broker-plugin/ota_auth.c), kept apart
 * from the Mosquitto API so unit tests can check them without a broker, and shared with
 * otad's HTTP authentication for other brokers (server/http/routes_broker.c). Names: a
 * device logs in as "{productKey}.{identifier}" (productKey 1..OTA_PRODUCT_KEY_MAX,
 * identifier 1..OTA_IDENT_MAX of [A-Za-z0-9_-], include/otaproto/ota_protocol.h); its
 * topics are everything under "/sys/{productKey}/{identifier}/". Payloads: the presence
 * event and snapshot JSON the plugin publishes on ota/internal/presence, and the nonce of a
 * sync request. Every function bounds what it reads; none allocates.
 */
#ifndef OTA_AUTH_RULES_H
#define OTA_AUTH_RULES_H

#include "otaproto/ota_protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_PART_MAX 1000 /* default and largest snapshot part (client ids per message) */

/* 1 when s is 1..max characters of [A-Za-z0-9_-] (reads at most max+1 bytes), else 0. */
int auth_name_ok(const char *s, size_t max);

/* Splits a device username "pk.id" into pk (>= OTA_PRODUCT_KEY_MAX+1 bytes) and id
 * (>= OTA_IDENT_MAX+1 bytes). Returns 0, or -1 when it is not a valid device name (NULL,
 * too long, no dot, bad character, empty part). Reads at most OTA_CLIENT_ID_MAX+1 bytes. */
int auth_split_device(const char *username, char *pk, char *id);

/* Writes "/sys/pk/id/" for a device username into out. Returns its length, or -1. */
int auth_device_prefix(const char *username, char *out, size_t outlen);

/* 1 when a device (username "pk.id") may use topic (a topic name or a subscription
 * filter): it must start with "/sys/pk/id/". 0 otherwise, and for NULL or malformed input. */
int auth_device_topic_ok(const char *username, const char *topic);

/* Partition routing (docs/broker.md, "Partition topics"): when topic is one a device
 * publishes to the platform, "/sys/{pk}/{id}/{suffix}" with suffix one of upgrade_reply,
 * progress, version and firmware/get, copies the identifier into id (>= OTA_IDENT_MAX+1
 * bytes) and returns 0; else -1 (NULL, bad names, another suffix, anything after it). */
int auth_upstream_identifier(const char *topic, char *id);

/* "$ota/p/{part}{topic}" into out: where the plugin moves a device's upstream message so
 * that it reaches only its partition's session (OTA_TOPIC_PART_PREFIX). Returns the length,
 * or -1 when part is out of 0..OTA_PARTS_N-1 or out is too small. */
int auth_route_topic(const char *topic, int part, char *out, size_t outlen);

/* {"e":"on"|"off","c":"<cid>","t":<ms>} into out. Returns the length, or -1 if out is too
 * small or cid is not a valid device name. */
int auth_presence_event(char *out, size_t outlen, bool online, const char *cid, int64_t t_ms);

/* Reads the nonce of a sync request {"nonce":"..."} (1..OTA_NONCE_MAX of [A-Za-z0-9_-])
 * into nonce (>= OTA_NONCE_MAX+1 bytes). A request without a nonce gets "" (still
 * answered). Returns 0, or -1 when the payload is malformed or the nonce is invalid. */
int auth_parse_sync_nonce(const void *payload, size_t len, char *nonce);

/* Bytes a snapshot part of n client ids needs, NUL included. */
size_t auth_snapshot_size(size_t n);
/* {"e":"snapshot","nonce":"..","part":P,"last":true|false,"clients":["pk.id",...],"t":ms}
 * into out (outlen >= auth_snapshot_size(n)). Returns the length, or -1. */
int auth_snapshot_part(char *out, size_t outlen, const char *nonce, unsigned part, bool last,
                       const char *const *cids, size_t n, int64_t t_ms);

#endif
