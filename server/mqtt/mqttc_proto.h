/*
 * mqttc_proto: the pure parts of the server's MQTT client, apart from libmosquitto so unit
 * tests reach them: device topic parsing, presence payload parsing (the ota_auth plugin's
 * wire format, docs/broker.md), a string set, and the assembly of a presence snapshot
 * from its parts. Nothing here is thread-safe; mqttc uses it from its loop thread only.
 */
#ifndef MQTTC_PROTO_H
#define MQTTC_PROTO_H

#include "otaproto/ota_protocol.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a clock probe's payload (decimal epoch ms, 1..19 digits). Returns it, or -1. */
int64_t mqttc_clock_parse(const void *payload, size_t len);

/* Splits "/sys/{pk}/{id}/{suffix}". pk gets <= OTA_PRODUCT_KEY_MAX chars, id <= OTA_IDENT_MAX, both
 * non-empty, without '/', '+', '#'; *suffix points into topic (non-empty, <=
 * OTA_TOPIC_SUFFIX_MAX chars). Returns 0, or -1 (outputs unspecified) for anything else. */
int mqttc_parse_topic(const char *topic, char *pk, char *id, const char **suffix);

/* A partition topic "$ota/p/{part}/sys/..." (docs/broker.md, "Partition topics"): returns
 * where its device topic "/sys/..." starts, *part its partition (0..OTA_PARTS_N-1, one or
 * two digits, no leading zero); for any other topic, the topic itself and *part = -1. NULL
 * for a "$ota/p/" topic without a valid partition. Its rest is checked by the caller. */
const char *mqttc_unroute(const char *topic, int *part);

/* Splits "pk.id" (bounded as above). Returns 0 or -1. */
int mqttc_split_cid(const char *cid, char *pk, char *id);

typedef enum { MQTTC_PRES_ON = 1, MQTTC_PRES_OFF, MQTTC_PRES_SNAPSHOT } mqttc_pres_kind;

typedef struct {
    mqttc_pres_kind kind;
    char pk[OTA_PRODUCT_KEY_MAX + 1];       /* on/off */
    char id[OTA_IDENT_MAX + 1];       /* on/off */
    int64_t t_ms;                    /* broker's clock; 0 when absent */
    char nonce[OTA_NONCE_MAX + 1]; /* snapshot */
    unsigned part;                   /* snapshot */
    bool last;                       /* snapshot */
    json_t *root;                    /* owned: the parsed payload */
    json_t *clients; /* snapshot: borrowed from root, an array (entries are checked on use) */
} mqttc_presence;

/* Parses a payload of ota/internal/presence. Returns 0 (free with mqttc_presence_clear), or
 * -1 when it is malformed (nothing to free). */
int mqttc_presence_parse(const void *payload, size_t len, mqttc_presence *out);
void mqttc_presence_clear(mqttc_presence *p);

/* A set of strings (copied in), chained hash. */
typedef struct mqttc_set_node mqttc_set_node;
typedef struct {
    mqttc_set_node **buckets;
    size_t nbuckets, count;
} mqttc_set;

void mqttc_set_init(mqttc_set *s);
void mqttc_set_clear(mqttc_set *s);
/* Returns 1 if added, 0 if already there, -1 when out of memory. */
int mqttc_set_add(mqttc_set *s, const char *str);
/* Returns 1 if removed, 0 if absent. */
int mqttc_set_remove(mqttc_set *s, const char *str);
int mqttc_set_has(const mqttc_set *s, const char *str);
/* Fills out[0..count) with borrowed pointers (valid until the set changes). out must hold
 * s->count entries. */
void mqttc_set_list(const mqttc_set *s, const char **out);

/* Snapshot assembly: begin with a fresh nonce after each sync request; feed parts and live
 * events; when a part completes it, take the list and end. */
typedef struct {
    char nonce[OTA_NONCE_MAX + 1]; /* awaited nonce; "" when no sync is pending */
    bool active;                     /* part 0 seen */
    unsigned next_part;
    int64_t started_mono_ms; /* when the sync was requested (for its timeout) */
    mqttc_set set;
} mqttc_snap;

typedef enum {
    MQTTC_SNAP_IGNORED = 0, /* not ours: another nonce, or no sync pending */
    MQTTC_SNAP_PARTIAL,     /* taken, more parts to come */
    MQTTC_SNAP_COMPLETE,    /* last part taken: the set is the snapshot */
    MQTTC_SNAP_BROKEN       /* a part is missing or malformed: request a new sync */
} mqttc_snap_result;

void mqttc_snap_init(mqttc_snap *s);
void mqttc_snap_begin(mqttc_snap *s, const char *nonce, int64_t now_mono_ms);
/* Abandons any pending assembly. */
void mqttc_snap_end(mqttc_snap *s);
mqttc_snap_result mqttc_snap_part(mqttc_snap *s, const mqttc_presence *p);
/* A live event: applied to the set while an assembly is active (part 0 seen); events
 * before part 0 are already in the snapshot. */
void mqttc_snap_event(mqttc_snap *s, const char *cid, bool online);
void mqttc_snap_free(mqttc_snap *s);

#endif
