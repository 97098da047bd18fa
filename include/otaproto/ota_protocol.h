/*
 * ota_protocol: the facts of the device protocol, written once. Limits of the names a device
 * and the server exchange, the topics they use and the fields every message carries, for
 * everything that speaks the protocol: otad, the Mosquitto plugin (broker-plugin/), the
 * device SDK (sdk/), the tools and the tests. Header only, no code and no dependency, so the
 * SDK takes it without the server. The protocol is described in docs/device-protocol.md,
 * the broker's side in docs/broker.md.
 *
 * Lengths are in characters (ASCII) without the terminating NUL: a buffer for one needs
 * OTA_..._MAX + 1 bytes. Sizes that are derived from others are written as expressions, and
 * where two must agree a _Static_assert says so.
 */
#ifndef OTA_PROTOCOL_H
#define OTA_PROTOCOL_H

/* ---- names ------------------------------------------------------------------------------ */

/* productKey: otad issues OTA_PRODUCT_KEY_LEN alphanumeric characters; the broker and the
 * server accept up to OTA_PRODUCT_KEY_MAX of [A-Za-z0-9_-] in a device name. */
#define OTA_PRODUCT_KEY_LEN 11
#define OTA_PRODUCT_KEY_MAX 32
/* identifier: 1..OTA_IDENT_MAX of [A-Za-z0-9_-], unique in its product. */
#define OTA_IDENT_MAX 64
/* A device's MQTT client id and username: "{productKey}.{identifier}". */
#define OTA_CLIENT_ID_MAX (OTA_PRODUCT_KEY_MAX + 1 + OTA_IDENT_MAX)
/* deviceSecret, the device's MQTT password: lowercase hex. */
#define OTA_DEVICE_SECRET_LEN 32
/* The MQTT username of otad's own connection to the broker. */
#define OTA_SERVER_USER "otad"

/* ---- messages --------------------------------------------------------------------------- */

/* Every message is a JSON object {"msgId","version":OTA_PROTOCOL_VERSION,...}; a reply echoes
 * the request's msgId. */
#define OTA_PROTOCOL_VERSION "1.0"
#define OTA_MSGID_MAX 64
/* firmwareVersion: 1..OTA_VERSION_MAX of [A-Za-z0-9_.-]. */
#define OTA_VERSION_MAX 100
/* The "desc" of a progress report, in UTF-8 code points (longer ones are refused). */
#define OTA_PROGRESS_DESC_MAX 256
/* Bytes of a device message's payload the server takes; a longer one is dropped. */
#define OTA_PAYLOAD_MAX 8192

/* ---- topics ----------------------------------------------------------------------------- */

/* A device publishes and subscribes only under "/sys/{productKey}/{identifier}/"; the rest
 * of the topic is one of the suffixes below. */
#define OTA_TOPIC_ROOT "/sys/"
#define OTA_TOPIC_ROOT_LEN 5
#define OTA_TOPIC_UPGRADE "ota/firmware/upgrade"             /* platform -> device: a push */
#define OTA_TOPIC_UPGRADE_REPLY "ota/firmware/upgrade_reply" /* device: the push's ack */
#define OTA_TOPIC_PROGRESS "ota/progress"                    /* device: step 1..100 or < 0 */
#define OTA_TOPIC_VERSION "ota/version"                      /* device: its running version */
#define OTA_TOPIC_GET "ota/firmware/get"                     /* device: asks for its upgrade */
#define OTA_TOPIC_GET_REPLY "ota/firmware/get_reply"         /* platform -> device: the answer */
/* Longest suffix the server's MQTT side takes. */
#define OTA_TOPIC_SUFFIX_MAX 64
/* "/sys/{productKey}/{identifier}/": the prefix of every topic of one device. */
#define OTA_DEVICE_PREFIX_MAX (OTA_TOPIC_ROOT_LEN + OTA_PRODUCT_KEY_MAX + 1 + OTA_IDENT_MAX + 1)
/* A device topic: its prefix and a suffix. */
#define OTA_TOPIC_MAX (OTA_DEVICE_PREFIX_MAX + OTA_TOPIC_SUFFIX_MAX)

/* Between the broker plugin and otad only (devices may not use them; docs/broker.md). */
#define OTA_TOPIC_PRESENCE "ota/internal/presence"  /* plugin -> otad: on/off and snapshots */
#define OTA_TOPIC_SYNC "ota/internal/sync"          /* otad -> plugin: send a snapshot */
#define OTA_TOPIC_CLOCK_PREFIX "ota/internal/clock/" /* + otad's client id: its clock probes */
/* Partition topics (docs/broker.md, "Partition topics"): the plugin moves a device's
 * upstream message "/sys/pk/id/suffix" to "$ota/p/{part}/sys/pk/id/suffix", part =
 * first byte of MD5(id) mod OTA_PARTS_N (ota_part_of), and the instance that holds the
 * partition reads it through the partition's own persistent session. */
#define OTA_TOPIC_PART_PREFIX "$ota/p/"
#define OTA_PARTS_N 64
/* Longest partition topic: the prefix, two digits and a device topic. */
#define OTA_PART_TOPIC_MAX (sizeof OTA_TOPIC_PART_PREFIX - 1 + 2 + OTA_TOPIC_MAX)
/* The nonce of a sync request and of the snapshot that answers it: [A-Za-z0-9_-]. */
#define OTA_NONCE_MAX 64

_Static_assert(sizeof OTA_TOPIC_ROOT - 1 == OTA_TOPIC_ROOT_LEN, "OTA_TOPIC_ROOT_LEN");
_Static_assert(OTA_PRODUCT_KEY_LEN <= OTA_PRODUCT_KEY_MAX, "issued productKeys must be accepted");
_Static_assert(sizeof OTA_TOPIC_UPGRADE_REPLY - 1 <= OTA_TOPIC_SUFFIX_MAX &&
                   sizeof OTA_TOPIC_GET_REPLY - 1 <= OTA_TOPIC_SUFFIX_MAX,
               "every device topic suffix fits OTA_TOPIC_SUFFIX_MAX");
_Static_assert(sizeof OTA_SERVER_USER - 1 <= OTA_CLIENT_ID_MAX, "otad's username is a client id");

#endif
