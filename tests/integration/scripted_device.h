/*
 * scripted_device: a device of the OTA protocol (contract section 4) played by a test, over
 * libmosquitto with its own loop thread. It connects as `{pk}.{id}` with the derived
 * secret, subscribes to its own ota/firmware/upgrade and ota/firmware/get_reply (QoS 1,
 * waiting for the SUBACKs), and then does what the test says: version reports, acks,
 * progress, gets, raw publishes. Every message the platform sends it is recorded with its
 * arrival time, so a test can wait for the n-th push and check msgIds and URLs.
 *
 * A device can also answer by itself from the loop thread (sdev_set_auto), which a test
 * needs when OTA_TIME_SCALE makes the 10 s ack timeout a few hundred milliseconds.
 * Reusable by any integration test; one sdev per device, any number at once.
 */
#ifndef OTA_SCRIPTED_DEVICE_H
#define OTA_SCRIPTED_DEVICE_H

#include <stdint.h>
#include <stddef.h>

#define SDEV_MAX_MSGS 512

typedef enum {
    SDEV_PUSH = 1,      /* ota/firmware/upgrade */
    SDEV_GET_REPLY = 2, /* ota/firmware/get_reply */
    SDEV_OTHER = 3,
} sdev_kind;

/* One message received from the platform (fields parsed when present, else empty). */
typedef struct {
    sdev_kind kind;
    int64_t at_ms;         /* CLOCK_MONOTONIC ms at arrival */
    char msg_id[80];
    int code;              /* get_reply's code; 0 when absent */
    char batch_id[32];
    char firmware_version[112];
    char policy[16];
    char md5[40];
    char sha256[72];
    long long size;
    char url[1024];
    char *payload;         /* the raw payload, NUL-terminated */
} sdev_msg;

/* What the device does by itself when a push arrives (on the loop thread). */
typedef enum {
    SDEV_AUTO_NONE = 0, /* records only */
    SDEV_AUTO_ACK,      /* acks (code 200) */
    SDEV_AUTO_UPGRADE,  /* acks, progress 50 and 100, then reports the push's firmwareVersion */
    SDEV_AUTO_FAIL,     /* acks, then reports progress `fail_step` (-1..-4) */
} sdev_auto;

typedef struct sdev sdev;

/* A device (not connected yet). NULL when out of memory. */
sdev *sdev_new(int mqtt_port, const unsigned char key[32], const char *pk, const char *id);
/* Connects (clean session, MQTT 3.1.1), waits for CONNACK and both SUBACKs (5 s each).
 * Sends nothing else. 0, or -1 (refused, no answer, subscription refused). */
int sdev_connect(sdev *d);
/* sdev_connect, then a version report of `version`. */
int sdev_start(sdev *d, const char *version);
/* Clean DISCONNECT (the broker reports the device offline). Records are kept. */
void sdev_disconnect(sdev *d);
/* Drops the TCP connection without DISCONNECT, like a crashed device. Records are kept. */
void sdev_drop(sdev *d);
/* Disconnects if needed and frees. NULL is fine. */
void sdev_free(sdev *d);

void sdev_set_auto(sdev *d, sdev_auto mode, int fail_step);
/* Automatic answers are sent `delay_ms` apart (ack at +delay, each next message one delay
 * later) from a helper thread instead of at once; 0 (the default) answers at once. */
void sdev_set_auto_delay(sdev *d, int delay_ms);

/* Publishes (QoS 1) and waits for the PUBACK (5 s). 0 or -1. msgIds are generated
 * ("<id>-<n>", unique per device). */
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
/* Copy of the i-th (0-based) message of this kind; payload is NOT copied (set to NULL).
 * 0, or -1 when there is no such message. */
int sdev_msg_get(sdev *d, sdev_kind kind, int i, sdev_msg *out);
/* Number of pushes whose msgId equals an earlier push's (0 when every push is distinct). */
int sdev_duplicate_push_ids(sdev *d);
/* Number of acks the device sent by itself (auto mode). */
int sdev_auto_acks(sdev *d);

const char *sdev_identifier(const sdev *d);
int64_t sdev_now_ms(void);
void sdev_sleep_ms(int ms);

#endif
