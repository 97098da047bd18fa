/*
 * rmq_presence: device presence from a RabbitMQ cluster's management API, for otad on
 * RabbitMQ instead of Mosquitto and its plugin (docs/broker.md, "RabbitMQ"). RabbitMQ has no
 * plugin to publish connects and disconnects in order or to answer otad's snapshot request,
 * so a thread reads the list of connected MQTT clients (GET /api/connections of any node:
 * the management API answers for the whole cluster) every poll_ms and hands it to the
 * engine as a presence snapshot whenever it changed. Prefix rmqp_.
 *
 * Expected load: one GET per poll; the answer lists every connection of the cluster
 * (about 100 bytes each with the columns asked for).
 */
#ifndef OTA_RMQ_PRESENCE_H
#define OTA_RMQ_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rmqp rmqp;

/* The client ids of body (the JSON array of /api/connections) that are device names
 * ("pk.id", client_properties.client_id), sorted and without repeats, into *out (a new array
 * of new strings; free with rmqp_free_list) and *n. 0, or -1 when body is not a JSON array
 * (*out NULL). Connections that are not devices (otad, other clients) are left out. */
int rmqp_parse(const char *body, size_t len, char ***out, size_t *n);
void rmqp_free_list(char **list, size_t n);

/* Starts the poller: urls is "http://user:password@host:port[,...]" (tried in order until
 * one answers); on_snapshot(ud, clients, n) runs on the poller's thread with the connected
 * devices after the first good reading and after every reading that differs from the one
 * before. NULL when the thread cannot start. */
rmqp *rmqp_start(const char *urls, int poll_ms,
                 void (*on_snapshot)(void *ud, const char *const *clients, size_t n), void *ud);
/* True while the last good reading is recent (within max(10 s, 3 polls)): presence is
 * known. */
bool rmqp_ready(const rmqp *p);
/* Stops and frees the poller (no callback after it returns). NULL is fine. */
void rmqp_stop(rmqp *p);

#endif
