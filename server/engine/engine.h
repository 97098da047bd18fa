/*
 * engine: the batch engine. One thread owns the device tasks of every running batch: it
 * drains device messages and presence events, fires due deadlines, paces pushes, applies
 * each change through the task state machine (core/fsm.h) and writes a whole round in one
 * store transaction; only after the commit does it publish what the round decided. So a
 * push is committed as `pushed` before it leaves (never sent twice for one attempt), and
 * kill -9 at any point leaves either the round or nothing.
 *
 * Inputs come from other threads (the MQTT client's callbacks, HTTP handlers) through
 * engine_* calls that copy what they need and queue it; they never touch the store.
 * Expected load: up to 100,000 devices a minute pushed, a few messages per device.
 */
#ifndef OTAD_ENGINE_H
#define OTAD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/fsm.h"
#include "core/hist.h"
#include "store/store.h"

typedef struct engine engine_t;

/* Publishes payload (QoS 1) to /sys/{pk}/{id}/{suffix}. Returns 0, or -1 when it could not
 * be queued (e.g. not connected). Called on the engine thread. */
typedef int (*engine_publish_fn)(void *ud, const char *product_key, const char *identifier,
                                 const char *suffix, const char *payload, size_t len);

typedef struct {
    store_t *store;              /* borrowed; outlives the engine */
    double time_scale;           /* OTA_TIME_SCALE: platform durations are divided by it */
    const char *public_url;      /* base of download links (copied) */
    const unsigned char *server_key; /* 32 bytes (copied): download links are signed with a key
                                        derived from it */
    engine_publish_fn publish;
    void *publish_ud;
    int64_t ack_timeout_ms;      /* before scaling; 0 = 10 s (docs/batches.md) */
    size_t max_queue;            /* queued inputs before producers wait; 0 = 200,000 */
    int64_t resync_ms;           /* 0 (one otad) = never; else how often the engine re-reads what
                                    other instances may have changed: running batches, deadlines
                                    due soon, devices waiting for a push (docs/postgresql.md) */
    /* 1: engine_clock() is fed (a probe through the broker every ~100 ms). Deadlines that
     * mean "the device did not answer in time" (ack, upgrade) then fire only once a probe sent
     * after them came back, so messages delayed on our side never fail a device; pushes wait
     * while the probes come back late. 0: the wall clock alone (nothing feeds the clock). */
    int clocked;
    /* Optional: publishes queued and not yet acknowledged by the broker; pushes wait while
     * there are many. Called on the engine thread. */
    size_t (*publish_pending)(void *ud);
    /* The poll interval DDI devices are told (docs/ddi.md), already divided by the time
     * scale: a DDI device's push is answered by its next poll, so its ack deadline is this
     * plus the ack timeout; a DDI device no instance saw poll for two of these is set
     * offline (every second, for the partitions this engine works on). 0 = 60 s. */
    int64_t ddi_sleep_ms;
    /* Several otad on one store that takes leases (store_parts_supported: PostgreSQL): this
     * instance's name (copied). The engine then works only on the partitions of devices
     * its lease keeper holds (engine/lease.h; docs/postgresql.md, "Partitions"): it applies
     * their messages and presence, fires their deadlines, pushes to them, and sets the
     * others' messages aside for a while in case it takes their partition over. NULL, or
     * a store without leases: one engine owns every partition, nothing is leased. */
    const char *lease_owner;
    /* Optional: asks the broker for a new presence snapshot (a partition was taken over:
     * its devices' presence comes from the broker again). Any thread. */
    void (*request_snapshot)(void *ud);
    /* Optional, with lease_owner: device messages reach this instance through the sessions
     * of the partitions it holds (mqtt/mqttparts.h; docs/broker.md, "Partition topics"),
     * which follow the leases: the lease keeper calls route(publish_ud, set, connect) with
     * the partitions it holds from now on (lease.h's route). With it the engine also holds
     * its silence watermark back when it gains a partition (adopt_parts), until probes
     * come back through that partition's session behind its backlog. */
    void (*route)(void *ud, uint64_t set, int connect);
} engine_config;

/* Creates the engine (nothing runs yet). NULL on a bad config. */
engine_t *engine_new(const engine_config *cfg);
/* Loads running batches and armed deadlines from the store, marks every device offline
 * until the broker's presence snapshot arrives, and starts the thread. 0 or -1. */
int engine_start(engine_t *e);
/* Stops the thread once the queued inputs are applied (stop the producers first).
 * NULL is fine. */
void engine_stop(engine_t *e);
void engine_free(engine_t *e);

/* --- inputs (any thread; data copied) ------------------------------------------------ */
/* A device message on /sys/{pk}/{id}/{suffix}. */
void engine_device_message(engine_t *e, const char *product_key, const char *identifier,
                           const char *suffix, const void *payload, size_t len);
/* The broker says a device connected (online = 1) or its connection ended. */
void engine_presence(engine_t *e, const char *product_key, const char *identifier, int online,
                     int64_t t_ms);
/* The broker's complete list of connected devices ("pk.id"). */
void engine_presence_snapshot(engine_t *e, const char *const *clients, size_t n);
/* A clock probe sent at sent_ms (epoch ms) came back through the broker, in line with the
 * device messages (cfg.clocked). */
void engine_clock(engine_t *e, int64_t sent_ms);
/* A clock probe sent at sent_ms on the connection the pushes take came back: every publish
 * queued before it has reached the broker. A push's ack deadline counts from then, for the
 * pushes this engine remembers (docs/batches.md, "A push's ack timeout counts from when it
 * left otad"). */
void engine_published(engine_t *e, int64_t sent_ms);
/* A batch was created (or ended) through the API: load (or drop) it. tasks_failed: the
 * unfinished tasks the API's terminate failed (counted as failures, reason terminated). */
void engine_batch_created(engine_t *e, int64_t batch_id);
void engine_batch_ended(engine_t *e, int64_t batch_id, int64_t tasks_failed);
/* A batch was paused or resumed through the API: its state is re-read from the store. */
void engine_batch_changed(engine_t *e, int64_t batch_id);
/* Devices were noted in target_events (their tags or groups changed while a continuous
 * batch of their product ran: store_targets.h): judge them against those batches. */
void engine_targets_changed(engine_t *e);

/* A hawkBit DDI device (http/routes_ddi.c, docs/ddi.md). Its events are inputs like the MQTT
 * devices' messages, applied through the same state machine in the same rounds, by the
 * instance whose HTTP listener received them, whichever partition the device is in:
 *   POLL      it polled while the store had it offline: online from t_ms, ready (like a
 *             version report after connecting) and a DDI device in the store, so its
 *             to_push task is pushed by its partition's owner; its pushes go to its next
 *             poll instead of MQTT, with the ack deadline ddi_sleep_ms later. It goes
 *             offline when no instance saw it poll for two intervals (the engine's sweep)
 *   FETCH     GET deploymentBase/{action}: the ack of the push
 *   PROGRESS  feedback "proceeding" (step 1..100)
 *   SUCCESS   feedback "closed"+"success": the device runs the batch's firmware version
 *   FAILURE   feedback "closed"+"failure" (step -1..-4: the reason)
 * The action events apply only when action_id is the task's current attempt (core/ddi.h);
 * others are ignored and counted. */
typedef enum {
    ENGINE_DDI_POLL = 0,
    ENGINE_DDI_FETCH,
    ENGINE_DDI_PROGRESS,
    ENGINE_DDI_SUCCESS,
    ENGINE_DDI_FAILURE,
} engine_ddi_event;
void engine_ddi(engine_t *e, const char *product_key, const char *identifier, engine_ddi_event ev,
                int64_t action_id, int step, int64_t t_ms);

/* Waits until every input queued before the call is committed to the store (a round that
 * fails is retried, so this may wait as long as the store is failing). The MQTT side calls
 * it before it lets the broker see its PUBACKs, so an acknowledged device message is never
 * only in memory. Returns 0, or -1 when the engine stopped first. Any thread but the
 * engine's. */
int engine_sync(engine_t *e);
/* A producer that is about to queue a group of inputs (one read phase of an MQTT session)
 * holds the next round back until it has queued them all (on = 0), so that one round,
 * one transaction, takes the group instead of its first few. Holds nest (a count); the
 * engine waits for them HOLD_MAX_MS (engine.c) at most, and not while its queue is full. */
void engine_hold(engine_t *e, int on);
/* engine_sync for at most wait_ms: 1 when the inputs are committed, 0 not yet, -1 the
 * engine stops. */
int engine_sync_wait(engine_t *e, int wait_ms);

/* Counters for health and metrics. */
typedef struct {
    uint64_t rounds;
    uint64_t events;
    uint64_t pushes;
    uint64_t ignored;        /* device messages that changed nothing */
    uint64_t bad_messages;   /* malformed device messages */
    size_t queued;
    size_t timers;
    int presence_synced;     /* a snapshot was applied since start */
    int64_t input_lag_ms;    /* clocked: how late device messages reach the engine (the age of
                                the newest probe back); -1 before the first probe; else 0 */
    int pushes_held;         /* the last round held pushes (lag or publishes waiting) */
    uint64_t held_ms;        /* how long pushes were held while a device waited for one, in
                                all (holds that ended) */
    /* counted once the round that applied them committed (lock-free atomics inside) */
    uint64_t acks;                       /* pushes a device acknowledged (pushed -> to_upgrade) */
    uint64_t retries;                    /* failed attempts sent to to_retry */
    uint64_t acks_moved;                 /* ack deadlines moved later: the push left late */
    uint64_t failures[FSM_REASON_COUNT]; /* failed attempts by reason, retried ones included;
                                            terminated: tasks a terminate failed */
    hist_read_t round_time;              /* rounds: their work and their transaction */
    uint64_t parts;          /* the partitions this engine works on (bit p: core/parts.h) */
    size_t parked;           /* device messages and presence of other partitions set aside */
    uint64_t foreign;        /* device messages of partitions this engine did not work on
                                when they arrived (with partition sessions: none expected) */
    uint64_t fenced;         /* rounds refused by the fence (a lease lost meanwhile) */
} engine_stats;
void engine_get_stats(engine_t *e, engine_stats *out);

#endif
