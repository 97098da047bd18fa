/*
 * broker_helpers: a scripted MQTT client for the broker and mqttc integration tests
 * (libmosquitto, its own loop thread). It records CONNACK, SUBACK, PUBACK and every
 * message received, and lets a test wait for them with timeouts. Devices and the server
 * observer are both tclient. Plus a few waits and the snapshot collector.
 */
#ifndef OTA_BROKER_HELPERS_H
#define OTA_BROKER_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#define TC_MAX_MSGS 4096

typedef struct {
    char *topic;
    char *payload;
} tc_msg;

typedef struct tclient tclient;

/* Connects (MQTT 3.1.1) and waits up to 5 s for the CONNACK. Always returns a client (NULL
 * only when out of memory); tc_connack(c) tells the result: 0 accepted, 5 not authorised,
 * -1 no answer. user/pass may be NULL. */
tclient *tc_connect(int port, const char *client_id, const char *user, const char *pass,
                    bool clean_session);
int tc_connack(tclient *c);
/* Subscribes at QoS 1 and waits for the SUBACK; returns the granted QoS (0x80 = refused)
 * or -1 on timeout. */
int tc_subscribe(tclient *c, const char *filter);
/* Publishes at QoS 1 and waits for the PUBACK. Returns 0 or -1. */
int tc_publish(tclient *c, const char *topic, const char *payload);
/* Waits until a message with this topic (NULL: any) whose payload contains substr (NULL:
 * any) arrived at index >= from; returns its index, or -1 after timeout_ms. */
int tc_wait_msg(tclient *c, int from, const char *topic, const char *substr, int timeout_ms);
/* Number of messages received so far, and one of them (borrowed until tc_close). */
int tc_count(tclient *c);
const tc_msg *tc_get(tclient *c, int i);
/* Counts received messages from index from whose topic and payload match (NULL: any). */
int tc_count_matching(tclient *c, int from, const char *topic, const char *substr);
/* Clean DISCONNECT, then frees. Accepts NULL. */
void tc_close(tclient *c);
/* Drops the TCP connection without DISCONNECT (like a crashed device), then frees. */
void tc_drop(tclient *c);

/* A device's credentials: client id and username "pk.id", password its secret. */
tclient *tc_device(int port, const unsigned char key[32], const char *pk, const char *id);
/* The server account (client id and username "otad"). */
tclient *tc_server(int port, const unsigned char key[32], const char *client_id);

void tc_sleep_ms(int ms);

#endif
