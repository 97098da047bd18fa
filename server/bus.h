/*
 * bus: joins the broker connection (mqtt/mqttc) and the batch engine (engine/engine) for
 * otad: device messages and presence go from the MQTT thread into the engine's queue,
 * the engine's pushes and replies go out through the MQTT client, and /api/v1/health
 * learns whether the broker is connected and presence is tracked.
 */
#ifndef OTAD_BUS_H
#define OTAD_BUS_H

#include "http/http.h"

typedef struct bus bus;

/* Starts the engine (loading running batches and deadlines) and the MQTT client on
 * app->cfg->mqtt_addr; sets app->engine, app->broker_ready and app->broker_ud. The broker
 * need not be reachable yet (the client keeps trying). Returns NULL on failure (logged). */
bus *bus_start(http_app *app);
/* Stops the MQTT client first (no more input), then the engine; frees. NULL is fine. */
void bus_stop(bus *b);

#endif
