/*
 * bus: the glue between mqttc and the engine, and the broker readiness that health
 * reports. Callbacks run on mqttc's thread and only copy into the engine's queue.
 */
#include "bus.h"

#include "core/ddi.h"
#include "engine/engine.h"
#include "mqtt/mqttc.h"
#include "mqtt/mqttparts.h"
#include "mqtt/rmq_presence.h"
#include "ota_crypto.h"
#include "ota_log.h"
#include "store/store_parts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Each partition session's probe interval. The main session's stays at 100 ms (it also
 * tells when pushes left: on_clock); the partitions' only move the watermark, which
 * deadlines of seconds and the 2 s push hold need to a few hundred ms, and there are up to
 * 64 of them: at 250 ms two idle instances cost the broker 1 % of a core in probes instead
 * of 2.4 % (docs/broker.md, "Partition topics"). */
#define PARTS_CLOCK_MS 250

struct bus {
    engine_t *engine;
    mqttc *mq;
    rmqp *rmq; /* presence from RabbitMQ's management API (OTA_RABBITMQ_API), or NULL */
    char password[OTA_DEVICE_SECRET_LEN + 1];
    char client_id[64];
    volatile int stopping; /* set before the client disconnects on purpose */
    /* partition sessions (docs/broker.md, "Partition topics"), or NULL: the main session
     * reads every device message */
    mqttparts *parts;
    pthread_mutex_t clock_mu; /* with parts: the watermark handed to the engine */
    int64_t clock_main;       /* the newest probe back on the main session */
    int64_t clock_sent;       /* the last watermark handed to the engine */
    bool main_reading;        /* mqttc's thread: in a read phase (engine_hold) */
    bool parts_reading;       /* mqttparts' thread: the same */
};

static void on_connection(void *ud, bool up)
{
    struct bus *b = ud;
    if (b->stopping)
        return;
    if (up)
        OTA_INFO("bus: broker connected; waiting for the presence snapshot%s",
                 b->rmq ? " (RabbitMQ management API)" : "");
    else
        OTA_WARN("bus: broker connection lost; reconnecting");
}

static void on_presence(void *ud, const char *pk, const char *id, bool online, int64_t t_ms)
{
    struct bus *b = ud;
    engine_presence(b->engine, pk, id, online, t_ms);
}

static void on_snapshot(void *ud, const char *const *clients, size_t n)
{
    struct bus *b = ud;
    OTA_INFO("bus: presence snapshot: %zu devices connected", n);
    engine_presence_snapshot(b->engine, clients, n);
}

static void on_message(void *ud, const char *pk, const char *id, const char *suffix,
                       const void *payload, size_t len)
{
    struct bus *b = ud;
    engine_device_message(b->engine, pk, id, suffix, payload, len);
}

/* One reading thread's hold on the engine's next round (engine_hold), taken when its read
 * phase starts and given back once when it ends; *reading is that thread's own flag. */
static void hold(struct bus *b, bool *reading, bool on)
{
    if (*reading == on)
        return;
    *reading = on;
    engine_hold(b->engine, on);
}

/* Runs on mqttc's thread between reading messages and sending their PUBACKs: returns only
 * once the engine has committed them, so a message the broker considers delivered is
 * durable (kill -9 at any moment loses nothing; docs/broker.md, "PUBACK"). */
static void before_ack(void *ud)
{
    struct bus *b = ud;
    hold(b, &b->main_reading, false);
    if (!b->stopping)
        engine_sync(b->engine);
}

/* A read phase starts: the engine's next round waits for all of it (engine_hold), so one
 * transaction takes what one phase read. */
static void before_read(void *ud)
{
    struct bus *b = ud;
    hold(b, &b->main_reading, true);
}

/* With partition sessions the engine's watermark is the oldest of the main session's
 * (presence, and device messages where the plugin does not route) and the partitions'
 * (mqttparts_watermark): every device message that reached the broker before it was passed
 * to the engine, whichever session it came through. Each session passes its messages on
 * before it moves its own watermark, so the engine gets them before the probe. */
static void clock_forward(struct bus *b)
{
    pthread_mutex_lock(&b->clock_mu);
    int64_t wm = mqttparts_watermark(b->parts);
    if (b->clock_main < wm)
        wm = b->clock_main;
    if (wm > b->clock_sent) {
        b->clock_sent = wm;
        engine_clock(b->engine, wm);
    }
    pthread_mutex_unlock(&b->clock_mu);
}

/* The main session's probe, which went out on the publishing connection behind the pushes
 * (mqttc.c, clock_tick): it tells when they left (engine_published) and, with the
 * partitions' probes, how far the device messages are read. */
static void on_clock(void *ud, int64_t sent_ms)
{
    struct bus *b = ud;
    engine_published(b->engine, sent_ms);
    if (!b->parts) {
        engine_clock(b->engine, sent_ms);
        return;
    }
    pthread_mutex_lock(&b->clock_mu);
    if (sent_ms > b->clock_main)
        b->clock_main = sent_ms;
    pthread_mutex_unlock(&b->clock_mu);
    clock_forward(b);
}

static void parts_clock(void *ud)
{
    clock_forward(ud);
}

static void parts_before_read(void *ud)
{
    struct bus *b = ud;
    hold(b, &b->parts_reading, true);
}

static int parts_before_ack(void *ud, int wait_ms)
{
    struct bus *b = ud;
    hold(b, &b->parts_reading, false);
    return b->stopping ? -1 : engine_sync_wait(b->engine, wait_ms);
}

/* engine_config.route (the lease keeper's thread): the partition sessions follow the
 * partitions held. */
static void route(void *ud, uint64_t set, int connect)
{
    struct bus *b = ud;
    /* the partitions gained count in the watermark at once, with no probe back: no newer
     * watermark reaches the engine until their sessions delivered their backlog */
    mqttparts_set(b->parts, set, connect != 0);
}

static size_t publish_pending(void *ud)
{
    struct bus *b = ud;
    return mqttc_pending(b->mq);
}

static void request_snapshot(void *ud)
{
    struct bus *b = ud;
    mqttc_request_snapshot(b->mq);
}

static int publish(void *ud, const char *pk, const char *id, const char *suffix, const char *payload,
                   size_t len)
{
    struct bus *b = ud;
    return mqttc_publish_device(b->mq, pk, id, suffix, payload, len) == OTA_OK ? 0 : -1;
}

static int broker_ready(void *ud, const char **state)
{
    struct bus *b = ud;
    if (!mqttc_is_connected(b->mq)) {
        *state = "connecting";
        return 0;
    }
    if (b->rmq ? !rmqp_ready(b->rmq) : !mqttc_presence_ready(b->mq)) {
        *state = "syncing_presence";
        return 0;
    }
    if (b->parts) {
        /* a device message to a partition whose session the broker does not know yet has
         * no subscriber and is dropped: not ready until every partition held is read */
        engine_stats st;
        engine_get_stats(b->engine, &st);
        if (st.parts == 0 || (st.parts & ~mqttparts_connected(b->parts))) {
            *state = "connecting_partitions";
            return 0;
        }
    }
    *state = "connected";
    return 1;
}

bus *bus_start(http_app *app)
{
    char host[256];
    int port;
    const cfg_t *cfg = app->cfg;
    struct bus *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->clock_mu, NULL);
    if (cfg_split_addr(cfg->mqtt_addr, host, sizeof host, &port) != 0) {
        OTA_ERROR("bus: bad OTA_MQTT_ADDR '%s'", cfg->mqtt_addr);
        free(b);
        return NULL;
    }
    if (ota_secret_server(app->server_key, b->password, sizeof b->password) != 0) {
        bus_stop(b);
        return NULL;
    }
    /* One persistent session per instance, each receiving every device message. Not a
     * shared subscription: Mosquitto 2.0 keeps dispatching a shared subscription's messages
     * to a member whose persistent session is offline, so a killed instance would strand
     * them. Each instance applies the messages of its own partitions and sets the others'
     * aside, so the instance that takes a dead one's partitions over has what the dead one
     * had not committed (docs/postgresql.md, "Partitions"). */
    if (cfg->instance[0])
        snprintf(b->client_id, sizeof b->client_id, "otad-%s", cfg->instance);
    else
        snprintf(b->client_id, sizeof b->client_id, "otad");
    /* Partition sessions: with leases (PostgreSQL) behind Mosquitto and its plugin, each
     * device message reaches only the instance holding its partition, through that
     * partition's persistent session (docs/broker.md, "Partition topics"). RabbitMQ has no
     * plugin to move the messages: every instance reads them all on its own session and
     * sets the others' aside, as does an instance without leases (SQLite), which works on
     * every partition. By default (auto) only an instance that has a name: a lone otad
     * holds every partition, and its 64 sessions would cost it work and gain nothing. */
    bool sessions = strcmp(cfg->partition_sessions, "1") == 0 ||
                    (strcmp(cfg->partition_sessions, "auto") == 0 && cfg->instance[0]);
    bool routed = sessions && store_parts_supported(app->store) && !cfg->rabbitmq_api[0];
    if (routed) {
        mqttparts_config pc = {.host = host, .port = port, .client_id = b->client_id,
                               .username = "otad", .password = b->password,
                               .clock_ms = PARTS_CLOCK_MS,
                               .gather_ms = cfg->mqtt_gather_ms};
        mqttparts_callbacks pcb = {.on_device_message = on_message,
                                   .before_ack = parts_before_ack,
                                   .before_read = parts_before_read,
                                   .on_clock = parts_clock};
        b->parts = mqttparts_new(&pc, &pcb, b);
        if (!b->parts) {
            OTA_ERROR("bus: the partition sessions could not be created");
            bus_stop(b);
            return NULL;
        }
    }
    mqttc_config mc = {
        .host = host,
        .port = port,
        .client_id = b->client_id,
        .username = "otad",
        .password = b->password,
        .clock_ms = 100,
        /* pushes leave while the engine commits what was read (before_ack) */
        .separate_publisher = true,
        .partition_sessions = routed,
        .gather_ms = cfg->mqtt_gather_ms,
    };
    mqttc_callbacks cbs = {
        .on_connection = on_connection,
        .on_presence = on_presence,
        .on_presence_snapshot = on_snapshot,
        .on_device_message = on_message,
        .before_ack = before_ack,
        .before_read = before_read,
        .on_clock = on_clock,
    };
    /* created before the engine starts (which asks it how many publishes wait), started
     * after (its callbacks feed the engine) */
    b->mq = mqttc_new(&mc, &cbs, b);
    if (!b->mq) {
        OTA_ERROR("bus: the MQTT client could not be created");
        bus_stop(b);
        return NULL;
    }
    engine_config ec = {
        .store = app->store,
        .time_scale = cfg->time_scale,
        .public_url = cfg->public_url,
        .server_key = app->server_key,
        .publish = publish,
        .publish_ud = b,
        /* several otad: re-read what the others changed (running batches, due deadlines,
         * devices waiting) every OTA_RESYNC_MS; on PostgreSQL their batch changes come at
         * once as notices (engine/notice.h), and this makes up for a notice lost */
        .resync_ms = cfg->instance[0] ? cfg->resync_ms : 0,
        /* device deadlines follow our clock probes through the broker (mqttc clock_ms) */
        .clocked = 1,
        .publish_pending = publish_pending,
        .ddi_sleep_ms = ddi_sleep_seconds(cfg->ddi_poll_s, cfg->time_scale) * 1000,
        /* on a store with leases (PostgreSQL) this instance works on its partitions only */
        .lease_owner = cfg->instance[0] ? cfg->instance : "otad",
        .request_snapshot = request_snapshot,
        .route = routed ? route : NULL,
    };
    b->engine = engine_new(&ec);
    /* the partition sessions wait for the lease keeper, which engine_start starts */
    if (b->engine && b->parts && mqttparts_start(b->parts) != OTA_OK) {
        bus_stop(b);
        return NULL;
    }
    if (!b->engine || engine_start(b->engine) != 0) {
        OTA_ERROR("bus: the batch engine could not start");
        bus_stop(b);
        return NULL;
    }
    /* RabbitMQ: no plugin answers the snapshot request; the management API's list of
     * connections is the snapshot, read again every poll (docs/broker.md, "RabbitMQ") */
    if (cfg->rabbitmq_api[0]) {
        b->rmq = rmqp_start(cfg->rabbitmq_api, cfg->rabbitmq_poll_ms, on_snapshot, b);
        if (!b->rmq) {
            bus_stop(b);
            return NULL;
        }
    }
    if (mqttc_start(b->mq) != OTA_OK) {
        OTA_ERROR("bus: the MQTT client could not start");
        bus_stop(b);
        return NULL;
    }
    app->engine = b->engine;
    app->broker_ready = broker_ready;
    app->broker_ud = b;
    return b;
}

void bus_stop(bus *b)
{
    if (!b)
        return;
    b->stopping = 1;
    rmqp_stop(b->rmq);       /* its snapshots feed the engine: stopped first */
    mqttc_stop(b->mq);       /* no callback runs after this */
    /* the partition sessions are left before the engine stops (what they read and the
     * engine did not commit is sent again to the next holder); the lease keeper may still
     * call route until engine_free joins it, which then returns at once */
    mqttparts_stop(b->parts);
    engine_free(b->engine);  /* its thread may still publish or ask: mq is freed after */
    mqttparts_destroy(b->parts);
    mqttc_destroy(b->mq);
    pthread_mutex_destroy(&b->clock_mu);
    free(b);
}
