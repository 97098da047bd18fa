/*
 * mqttparts: the persistent MQTT sessions of the partitions this otad holds (several otad
 * on one PostgreSQL behind Mosquitto with the ota_auth plugin; docs/broker.md, "Partition
 * topics").
 *
 * The plugin moves each device message to "$ota/p/{part}/sys/{pk}/{id}/{suffix}". Each
 * partition has one session at the broker, client id "otad-part-{NN}" (NN = 00..63,
 * clean_session=false, subscribed QoS 1 to "$ota/p/{part}/#"), whoever holds it: while no
 * instance holds the partition the broker queues its messages there, and the instance
 * that takes the partition over connects with the same client id, receives that backlog
 * (and the messages the last holder had read and not acknowledged) and fences the last
 * holder's connection out if it was still there (session takeover). The set of sessions
 * connected follows the partitions held (mqttparts_set, called by the lease keeper).
 *
 * One loop thread serves every session (poll over their sockets): it reads what arrived
 * on all of them, calls before_ack once (the application makes the messages durable),
 * then sends their PUBACKs. Clock probes: every clock_ms each connected session publishes
 * its send time on "$ota/p/{part}/clock/{client_id}" (client_id: the instance's, e.g.
 * "otad-a"), which comes back behind the partition's messages; the watermark is the
 * oldest of the partitions' newest probes back (mqttparts_watermark), so every device
 * message that reached the broker before it has been passed to on_device_message.
 *
 * Callbacks run on the loop thread; data given to them is borrowed for the call only.
 */
#ifndef MQTTPARTS_H
#define MQTTPARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ota_err.h"

typedef struct mqttparts mqttparts;

typedef struct {
    const char *host;      /* default "127.0.0.1" */
    int port;              /* default 1883 */
    const char *client_id; /* the instance's client id (the probes' topic); required */
    const char *username;  /* default "otad" */
    const char *password;  /* ota_secret_server(key); required */
    int keepalive_s;       /* default 30 */
    int clock_ms;          /* probe interval; default 100 */
    int max_inflight;      /* default 1000 */
    int gather_ms;         /* read phases start at most this often (mqttc.h) while every
                              partition is held, proportionally less often while fewer are
                              (at most every 100 ms); 0 = at once */
} mqttparts_config;

typedef struct {
    /* as mqttc's on_device_message */
    void (*on_device_message)(void *ud, const char *product_key, const char *identifier,
                              const char *suffix, const void *payload, size_t len);
    /* After a read phase, before its PUBACKs leave: waits up to wait_ms for the messages to
     * be durable. 1: they are (the PUBACKs leave); 0: not yet (called again, unless
     * mqttparts_set waits: then the sessions read are dropped without acknowledging, and
     * the broker sends their messages again to whoever holds them next); -1: never
     * (stopping; the same). */
    int (*before_ack)(void *ud, int wait_ms);
    /* Optional. A read phase over the sessions that have something starts; before_ack
     * follows once every one of them was read. */
    void (*before_read)(void *ud);
    /* mqttparts_watermark() moved on (after the messages it covers were passed on) */
    void (*on_clock)(void *ud);
} mqttparts_callbacks;

/* The client id of partition p's session: "otad-part-{NN}" (an instance may not be named
 * "part-NN": core/config.c). */
#define MQTTPARTS_CID_FMT "otad-part-%02d"

mqttparts *mqttparts_new(const mqttparts_config *cfg, const mqttparts_callbacks *cbs, void *ud);
/* Starts the loop thread (no session is connected before mqttparts_set). */
ota_err mqttparts_start(mqttparts *mp);
/* Disconnects every session (they stay at the broker) and joins the thread. No callback
 * runs after it returns; mqttparts_set then returns at once. NULL is fine. */
void mqttparts_stop(mqttparts *mp);
/* Stops if needed and frees. NULL is fine. */
void mqttparts_destroy(mqttparts *mp);

/* The partitions (bit p) whose sessions this instance holds from now on. A session not in
 * set is disconnected before this returns (after the read phase under way, whose messages
 * before_ack made durable): it reads nothing more here. A partition newly in set counts in
 * the watermark at once, with no probe back yet (so the watermark stops until its session
 * has delivered its backlog); with connect, the sessions of set connect (and keep
 * reconnecting), else they wait for a later call with connect. Any thread but the loop's. */
void mqttparts_set(mqttparts *mp, uint64_t set, bool connect);

/* The send time (epoch ms) of the oldest of the newest probes back on the partitions in
 * the set (0 while one has none yet); INT64_MAX with an empty set. Any thread. */
int64_t mqttparts_watermark(const mqttparts *mp);

/* The sessions connected now (bit p). Any thread. */
uint64_t mqttparts_connected(const mqttparts *mp);

#endif
