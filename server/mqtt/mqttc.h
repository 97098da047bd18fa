/*
 * mqttc: otad's connection to the MQTT broker (libmosquitto, MQTT 3.1.1, QoS 1).
 *
 * One client with a persistent session (clean_session=false, fixed client id, "otad" by
 * default), so device messages published while otad is away wait in the broker. mqttc runs
 * its own loop thread around mosquitto_loop(): it connects, reconnects with exponential
 * backoff (with jitter) whenever the connection is lost, and after every CONNACK
 * subscribes (QoS 1) to
 *     /sys/+/+/ota/firmware/upgrade_reply  /sys/+/+/ota/progress  /sys/+/+/ota/version
 *     /sys/+/+/ota/firmware/get            ota/internal/presence
 * and the same four device topics under "$ota/p/+" (where the broker plugin moves them,
 * docs/broker.md, "Partition topics"; not with partition_sessions, mqttparts.h)
 * (and ota/internal/clock/{client_id} when clock probes are on, see clock_ms)
 * and asks the broker plugin for a presence snapshot (ota/internal/sync with a fresh
 * nonce). It assembles the snapshot parts, applies presence events that arrive during
 * assembly, then hands the complete set over, and only then passes live events on. A
 * snapshot not complete within sync_timeout_ms is requested again. See docs/broker.md
 * for the wire format.
 *
 * Callbacks run on mqttc's loop thread, one at a time, and must be cheap (parse and
 * enqueue): while one runs no other message is read. Data given to a callback is borrowed
 * for the callback only. A device message is acknowledged (PUBACK) to the broker by
 * libmosquitto regardless of what the callback does: the PUBACK is queued before the
 * callback is called and reaches the socket after it returns (docs/broker.md, "PUBACK").
 *
 * mqttc never touches the store. Publishing is thread-safe.
 */
#ifndef MQTTC_H
#define MQTTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ota_err.h"

typedef struct mqttc mqttc;

typedef struct {
    const char *host;      /* broker host; default "127.0.0.1" */
    int port;              /* default 1883 */
    const char *client_id; /* default "otad"; fixed, so the session persists */
    const char *username;  /* default "otad" */
    const char *password;  /* ota_secret_server(key); required */
    int keepalive_s;       /* default 30 */
    bool clean_session;    /* default false (persistent session); set true only in tests */
    int reconnect_min_ms;  /* first retry delay; default 500 */
    int reconnect_max_ms;  /* backoff ceiling; default 30000 */
    int sync_timeout_ms;   /* snapshot must complete within; default 10000 */
    int max_inflight;      /* QoS 1 publishes in flight to the broker; default 1000 */
    /* Read phases start at most every gather_ms while messages keep coming (0 = as soon as
     * something is readable): what arrives meanwhile waits at the broker, and one phase,
     * one before_ack, covers it. Adds at most gather_ms to a message's handling. */
    int gather_ms;
    /* NULL or "": off. Else the device topics are subscribed as $share/{group}/... so that
     * several otad instances (distinct client ids, e.g. "otad-2") split the device messages;
     * presence is never shared. 1..32 of [A-Za-z0-9_-]. */
    const char *shared_group;
    /* 0: off. Else every clock_ms, while connected, a probe (QoS 1, payload: epoch ms) is
     * published on ota/internal/clock/{client_id}, which the client also subscribes; its
     * return is passed to on_clock in line with the device messages. */
    int clock_ms;
    /* true: publishes (mqttc_publish_device, clock probes) leave on a second connection,
     * "{client_id}-pub" (clean session, same account), with its own loop thread, so they
     * never wait while before_ack holds the main connection's writes. When it is down they
     * take the main connection. */
    bool separate_publisher;
    /* true: the partition topics ($ota/p/+/...) are not subscribed here: the sessions of
     * the partitions this instance holds read them (mqtt/mqttparts.h). */
    bool partition_sessions;
} mqttc_config;

typedef struct {
    /* The broker connection came up (after CONNACK and the subscribe request) or went down
     * (also once during mqttc_stop, when it was up). */
    void (*on_connection)(void *ud, bool up);
    /* A device connection started (online) or ended, as the broker saw it at t_ms (epoch
     * ms, broker's clock). Strings are bounded names ([A-Za-z0-9_-], pk <= 32, id <= 64).
     * Only delivered after this connection's snapshot: events that arrive before it (also
     * stale ones queued in the persistent session while otad was away) are contained in
     * the snapshot, so after each (re)connect the application sees one snapshot, then
     * live events. */
    void (*on_presence)(void *ud, const char *product_key, const char *identifier, bool online,
                        int64_t t_ms);
    /* The complete set of connected devices ("pk.id" each, in no order), once after each
     * (re)connect (again if the broker is asked again). It replaces whatever the
     * application believed. */
    void (*on_presence_snapshot)(void *ud, const char *const *clients, size_t n);
    /* A device published payload[0..len) on /sys/{pk}/{id}/{suffix} (or the plugin moved
     * it to "$ota/p/{part}/sys/{pk}/{id}/{suffix}"); suffix is e.g.
     * "ota/progress". payload is not NUL-terminated by this API (libmosquitto adds one). */
    void (*on_device_message)(void *ud, const char *product_key, const char *identifier,
                              const char *suffix, const void *payload, size_t len);
    /* Optional. Called on the loop thread after a read phase that delivered messages and
     * before the write phase that sends their PUBACKs: an application that must not lose
     * an acknowledged message makes it durable here (it may block; publishing from other
     * threads goes on meanwhile). Up to MQTTC_READ_BATCH packets are read per phase, so
     * one call covers a group of messages. */
    void (*before_ack)(void *ud);
    /* Optional. Called on the loop thread when a read phase starts; before_ack follows once
     * it ends. The application may gather what the phase delivers into one unit of work. */
    void (*before_read)(void *ud);
    /* Optional. One of our clock probes (config clock_ms), sent at sent_ms (epoch ms), came
     * back. Every device message the broker had received before that probe was delivered
     * before this call (one session, QoS 1, in order). */
    void (*on_clock)(void *ud, int64_t sent_ms);
} mqttc_callbacks;

/* Packets read in one read phase at most (one before_ack call covers them). */
#define MQTTC_READ_BATCH 512

/* Creates a client (not yet connected). Strings of cfg are copied; cbs is copied; any
 * callback may be NULL. Returns NULL on a bad config (logged) or out of memory. */
mqttc *mqttc_new(const mqttc_config *cfg, const mqttc_callbacks *cbs, void *ud);
/* Starts the loop thread, which connects and keeps reconnecting. Returns OTA_OK (even
 * if the broker is not reachable yet), OTA_ESTATE, or OTA_EMQTTLIB. */
ota_err mqttc_start(mqttc *m);
/* Disconnects cleanly (the session stays on the broker) and joins the loop thread. No
 * callback runs after it returns. Safe to call twice or without mqttc_start. */
void mqttc_stop(mqttc *m);
/* Stops if needed and frees. Accepts NULL. */
void mqttc_destroy(mqttc *m);

/* true between a successful CONNACK and the loss of the connection. Any thread. */
bool mqttc_is_connected(const mqttc *m);
/* Asks the broker for a new presence snapshot (delivered through on_presence_snapshot as
 * after a connect; presence events keep coming meanwhile). Any thread. */
void mqttc_request_snapshot(mqttc *m);
/* true once a snapshot has been delivered since the last (re)connect. Any thread. */
bool mqttc_presence_ready(const mqttc *m);

/* Publishes payload (QoS 1, not retained) on /sys/{pk}/{id}/{suffix}. Any thread. The
 * message is queued in libmosquitto and written by the loop thread; if the connection
 * drops before the broker acknowledges it, libmosquitto sends it again after the reconnect
 * (persistent session). Returns OTA_OK, OTA_ENOCONN, OTA_EINVAL (bad name,
 * suffix or payload > 256 KiB), OTA_ENOMEM or OTA_EMQTTLIB. */
ota_err mqttc_publish_device(mqttc *m, const char *product_key, const char *identifier,
                             const char *suffix, const void *payload, size_t len);

typedef struct {
    const char *product_key;
    const char *identifier;
    const char *suffix;
    const void *payload;
    size_t len;
} mqttc_msg;

/* Publishes n messages as mqttc_publish_device does; stops at the first failure. Returns
 * the number queued (n on success); *rc_out (may be NULL) gets the first failure's code. */
size_t mqttc_publish_many(mqttc *m, const mqttc_msg *msgs, size_t n, ota_err *rc_out);

/* QoS 1 publishes queued in libmosquitto and not yet acknowledged by the broker. */
size_t mqttc_pending(const mqttc *m);

#endif
