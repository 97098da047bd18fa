/*
 * store_webhook: webhooks, their outbox and their delivery log on both databases (tables
 * of migration 8 in store_sqlite.c and store_pg.c; docs/webhooks.md is the user's view):
 *
 *   webhooks            a subscription: url, secret (kept so the HMAC can be computed; never
 *                       returned by the API), events, enabled, grouping
 *   webhook_events      the outbox: one row per event per subscribed webhook, written in the
 *                       transaction of the change that caused it (store__event,
 *                       store_uow_event), so a crash can neither lose nor invent one
 *   webhook_deliveries  what is sent: one event, or a group of a webhook's device events;
 *                       pending until delivered or dead, with the absolute time of its next
 *                       attempt and a lease held by the otad sending it
 *   webhook_attempts    the delivery log: one row per attempt (status or error, duration)
 *
 * The worker (webhook/webhook.c) calls store_webhook_assemble, _claim, _items and _result;
 * on PostgreSQL several otad may do so at once: rows are taken with FOR UPDATE SKIP LOCKED
 * and a lease, so no delivery is sent by two of them at a time.
 *
 * Expected load: a write per event per subscribed webhook inside the change's transaction
 * (an INSERT ... SELECT that writes nothing when nobody subscribed); the worker's few
 * statements per delivery; a few webhooks.
 */
#ifndef OTAD_STORE_WEBHOOK_H
#define OTAD_STORE_WEBHOOK_H

#include "core/webhook.h"
#include "store/store.h"
#include "store/store_accounts.h"
#include "store/store_batch.h"

typedef struct {
    int64_t id;
    char url[HOOK_URL_MAX];
    char secret[HOOK_SECRET_MAX + 1]; /* never leaves otad but in signatures */
    char events[HOOK_EVENTS_TEXT_MAX]; /* "a,b" or "*" (hook_events_join) */
    int enabled;
    int group_max;     /* 1..HOOK_GROUP_MAX_EVENTS; 1 = device events alone too */
    int group_seconds; /* 0..HOOK_GROUP_MAX_SECONDS */
    char created_by[STORE_WHO_MAX];
    int64_t created_ms;
    int64_t backlog;   /* undelivered events (reads only) */
} store_webhook;

/* Adds w (its id ignored); *id the new one. */
ota_err store_webhook_create(store_t *s, const store_webhook *w, int64_t *id);
/* One webhook (with its backlog), OTA_ENOTFOUND when none. */
ota_err store_webhook_get(store_t *s, int64_t id, store_webhook *out);
/* Every webhook (by id), into *items (free) and *n. */
ota_err store_webhook_list(store_t *s, store_webhook **items, size_t *n);
/* Writes every field of w but id, created_by and created_ms; OTA_ENOTFOUND when none. */
ota_err store_webhook_update(store_t *s, const store_webhook *w);
/* Removes the webhook with its outbox, deliveries and log; OTA_ENOTFOUND when none. */
ota_err store_webhook_delete(store_t *s, int64_t id);
/* Queues a ping (a test delivery of its own) for webhook id: *delivery_id its delivery.
 * OTA_ENOTFOUND when no such webhook. */
ota_err store_webhook_ping(store_t *s, int64_t id, int64_t now_ms, int64_t *delivery_id);

/* ---- the enqueue -------------------------------------------------------------------------
 * An event is written in the transaction of the change that causes it, one row per enabled
 * webhook subscribed to it; nothing when none is. data: the payload object's text (core/
 * webhook.h's hook_data_*). Inside the engine's unit of work: */
ota_err store_uow_event(store_uow *u, hook_event ev, const char *data, int64_t now_ms);
/* (Inside a catalog transaction: store__event in store_internal.h.) The payloads of a
 * batch event (state: the batch's state after the change) and of a firmware event
 * (malloc'd; the caller frees): */
char *store_webhook_batch_data(const store_batch *b, const char *state);
char *store_webhook_firmware_data(const store_firmware *f);

/* ---- the delivery worker ------------------------------------------------------------------ */

/* Puts outbox rows into deliveries: each non-device event alone, a webhook's device events
 * in groups of its group_max, a group smaller than that once its oldest event is
 * group_seconds / scale old. *made the deliveries made. */
ota_err store_webhook_assemble(store_t *s, int64_t now_ms, double scale, int *made);

typedef struct {
    int64_t id, webhook_id;
    int grouped;
    int attempts; /* made so far */
    int64_t first_ms;
    char event[HOOK_EVENTS_TEXT_MAX]; /* the X-Ota-Event value */
} store_delivery;

/* Leases up to max due deliveries of webhook webhook_id until lease_until_ms (oldest due
 * first) into *items (free) and *n. */
ota_err store_webhook_claim(store_t *s, int64_t webhook_id, int64_t now_ms,
                            int64_t lease_until_ms, int max, store_delivery **items, size_t *n);
/* The events of delivery id in order, into *items (free with store_webhook_items_free). */
ota_err store_webhook_items(store_t *s, int64_t delivery_id, hook_item **items, size_t *n);
void store_webhook_items_free(hook_item *items, size_t n);

typedef enum { STORE_HOOK_DELIVERED, STORE_HOOK_FAILED, STORE_HOOK_DEAD } store_hook_result;

/* The outcome of attempt d->attempts + 1: a log row, and the delivery delivered, dead, or
 * due again at next_ms (failed), its lease released. */
ota_err store_webhook_result(store_t *s, const store_delivery *d, store_hook_result res,
                             int status, const char *error, int64_t duration_ms,
                             int64_t now_ms, int64_t next_ms);

/* One row of the delivery log. */
typedef struct {
    int64_t id, delivery_id;
    char event[HOOK_EVENTS_TEXT_MAX];
    int n_events;
    int attempt;
    int status; /* HTTP status, 0 when none came */
    char error[256];
    int64_t duration_ms, time_ms;
    char result[16]; /* delivered | failed | dead */
} store_hook_attempt;

/* Up to limit (1..1000) log rows of webhook id, newest first, with ids below before_id
 * (0 = from the newest); *next_id the cursor of the next page, 0 on the last. */
ota_err store_webhook_log(store_t *s, int64_t id, int64_t before_id, int limit,
                          store_hook_attempt **items, size_t *n, int64_t *next_id);

/* Undelivered events of every webhook (the ota_webhook_backlog gauge). */
ota_err store_webhook_backlog(store_t *s, int64_t *n);
/* Forgets delivered and dead deliveries, their events and log rows older than before_ms. */
ota_err store_webhook_prune(store_t *s, int64_t before_ms);

#endif
