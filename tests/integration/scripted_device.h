/*
 * scripted_device: the one scripted MQTT client of the integration tests (libmosquitto, a
 * loop thread of its own per connection). It owns the test side of every MQTT conversation:
 * a device of the OTA protocol (docs/device-protocol.md) connecting as `{pk}.{id}` with the
 * derived secret, the server account (`otad`), or any credentials a test wants refused.
 * It records CONNACK, SUBACKs, PUBACKs and every message received (with its topic and
 * arrival time), and every wait has a deadline: a broker that does not answer makes a call
 * return an error, never hang. A lost connection stays lost (no automatic reconnect): a
 * dropped or refused client does not come back behind the test's back.
 *
 * A device can also answer pushes by itself from the loop thread (sdev_set_auto), which a
 * test needs when OTA_TIME_SCALE makes the 10 s ack timeout a few hundred milliseconds.
 * One sdev per client, any number at once; not for use by two test threads at once.
 */
#ifndef OTA_SCRIPTED_DEVICE_H
#define OTA_SCRIPTED_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#define SDEV_MAX_MSGS 4096 /* messages recorded per client; later ones are not recorded */

typedef enum {
    SDEV_ANY = 0,       /* any kind (for sdev_wait, sdev_count, sdev_msg_get) */
    SDEV_PUSH = 1,      /* ota/firmware/upgrade of this device */
    SDEV_GET_REPLY = 2, /* ota/firmware/get_reply of this device */
    SDEV_OTHER = 3,
} sdev_kind;

/* One message received (fields parsed from a JSON payload when present, else empty). */
typedef struct {
    sdev_kind kind;
    int64_t at_ms; /* CLOCK_MONOTONIC ms at arrival */
    char msg_id[80];
    int code; /* get_reply's code; 0 when absent */
    char batch_id[32];
    char firmware_version[112];
    char policy[16];
    char md5[40];
    char sha256[72];
    long long size;
    char url[1024];
    char *topic;   /* NUL-terminated; a partition topic "$ota/p/N/sys/..." without its prefix */
    int part;      /* N of such a topic (docs/broker.md, "Partition topics"), else -1 */
    char *payload; /* the raw payload, NUL-terminated */
} sdev_msg;

/* What the device does by itself when a push arrives (on the loop thread). */
typedef enum {
    SDEV_AUTO_NONE = 0, /* records only */
    SDEV_AUTO_ACK,      /* acks (code 200) */
    SDEV_AUTO_UPGRADE,  /* acks, progress 50 and 100, then reports the push's firmwareVersion */
    SDEV_AUTO_FAIL,     /* acks, then reports progress `fail_step` (-1..-4) */
} sdev_auto;

typedef struct sdev sdev;

/* Clients, not connected yet; strings are copied. NULL when out of memory (or, for a device,
 * when pk or id is longer than 64 characters). */
/* A device: client id and username "pk.id", password its secret derived from key. */
sdev *sdev_new(int mqtt_port, const unsigned char key[32], const char *pk, const char *id);
/* The server account: username "otad", client id client_id (NULL: "otad"). */
sdev *sdev_new_server(int mqtt_port, const unsigned char key[32], const char *client_id);
/* Any credentials; each of client_id (the library makes one up), user and pass may be NULL. */
sdev *sdev_new_client(int mqtt_port, const char *client_id, const char *user, const char *pass);

/* Connects (clean session, MQTT 3.1.1, non-blocking) and waits up to 5 s for the CONNACK.
 * Returns its code: 0 accepted, 5 not authorised, ...; -1 when there was no answer, no
 * connection or d is NULL. Subscribes to nothing. */
int sdev_login(sdev *d);
/* A device logged in: sdev_new + sdev_login. NULL (the reason on stderr) unless accepted. */
sdev *sdev_open(int mqtt_port, const unsigned char key[32], const char *pk, const char *id);
/* Device: sdev_login, then subscribes to its own ota/firmware/upgrade and
 * ota/firmware/get_reply (QoS 1, waiting for both SUBACKs, 5 s each). 0, or -1 (refused, no
 * answer, subscription refused). */
int sdev_connect(sdev *d);
/* sdev_connect, then a version report of `version`. */
int sdev_start(sdev *d, const char *version);
/* Clean DISCONNECT (the broker reports the device offline), waiting up to 5 s for it to be
 * written. Records are kept; the client may connect again. */
void sdev_disconnect(sdev *d);
/* Drops the TCP connection without DISCONNECT, like a crashed device. Records are kept. */
void sdev_drop(sdev *d);
/* Disconnects cleanly if still connected, and frees. NULL is fine. */
void sdev_free(sdev *d);

/* Subscribes at QoS 1 and waits up to 5 s for the SUBACK: the granted QoS (0x80 refused),
 * or -1 (not connected, no answer). */
int sdev_subscribe(sdev *d, const char *filter);
/* Publishes payload (a string) on any topic at QoS 1 and waits up to 5 s for the PUBACK.
 * 0 or -1. */
int sdev_publish(sdev *d, const char *topic, const char *payload);
/* The same with the retain flag set. */
int sdev_publish_retained(sdev *d, const char *topic, const char *payload);

void sdev_set_auto(sdev *d, sdev_auto mode, int fail_step);
/* Automatic answers are sent `delay_ms` apart (ack at +delay, each next message one delay
 * later) from a helper thread instead of at once; 0 (the default) answers at once. */
void sdev_set_auto_delay(sdev *d, int delay_ms);

/* Device messages on /sys/{pk}/{id}/...: publish (QoS 1) and wait for the PUBACK (5 s).
 * 0 or -1. msgIds are generated ("<id>-<n>", unique per device). */
int sdev_version(sdev *d, const char *firmware_version);
int sdev_ack(sdev *d, const char *msg_id, int code);
int sdev_progress(sdev *d, int step);
/* ota/firmware/get; version NULL sends "data":{} (the pending upgrade). */
int sdev_get(sdev *d, const char *version);
/* Any payload (len bytes) on /sys/{pk}/{id}/{suffix}. */
int sdev_publish_raw(sdev *d, const char *suffix, const void *payload, size_t len);

/* Waits until at least n messages of this kind arrived; returns how many did (may be < n
 * after timeout_ms). */
int sdev_wait(sdev *d, sdev_kind kind, int n, int timeout_ms);
/* Number of messages of this kind received so far. */
int sdev_count(sdev *d, sdev_kind kind);
/* Copy of the i-th (0-based) message of this kind; topic and payload are NOT copied (set to
 * NULL). 0, or -1 when there is no such message. */
int sdev_msg_get(sdev *d, sdev_kind kind, int i, sdev_msg *out);
/* The i-th message of any kind, borrowed until sdev_free; NULL when there is none. */
const sdev_msg *sdev_msg_at(sdev *d, int i);
/* Waits until a message with this topic (NULL: any) whose payload contains substr (NULL:
 * any) arrived at index >= from (indexes as sdev_msg_at); returns its index, or -1 after
 * timeout_ms. */
int sdev_wait_msg(sdev *d, int from, const char *topic, const char *substr, int timeout_ms);
/* Number of messages from index `from` whose topic and payload match (NULL: any). */
int sdev_count_matching(sdev *d, int from, const char *topic, const char *substr);
/* Number of pushes whose msgId equals an earlier push's (0 when every push is distinct). */
int sdev_duplicate_push_ids(sdev *d);
/* Number of acks the device sent by itself (auto mode). */
int sdev_auto_acks(sdev *d);

const char *sdev_identifier(const sdev *d);
int64_t sdev_now_ms(void);
void sdev_sleep_ms(int ms);

#endif
