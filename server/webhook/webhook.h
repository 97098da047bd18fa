/*
 * webhook: otad's webhook delivery worker (docs/webhooks.md). One thread of its own, so
 * nothing a receiver does reaches the batch engine: it turns the store's outbox into
 * deliveries (store_webhook_assemble), leases the due ones (store_webhook_claim, at most
 * cfg.concurrency under way per webhook), sends them with libcurl's multi interface
 * (connect and total timeouts, the body signed with the webhook's secret) and records each
 * attempt (store_webhook_result): 2xx is delivered; anything else is retried at the
 * absolute time core/webhook.c's hook_retry_at gives, until 24 h after the event, then
 * dead. Every state lives in the store, so a restart (or another otad on the same
 * PostgreSQL) carries on where this one stopped; a delivery cut by a crash is sent again
 * once its lease ends, with the same delivery id (at least once).
 *
 * Expected load: a pass every 500 ms (two or three small reads when idle); one HTTP
 * request per delivery.
 */
#ifndef OTAD_WEBHOOK_H
#define OTAD_WEBHOOK_H

#include "store/store.h"

#include <stdint.h>

typedef struct webhooks webhooks;

typedef struct {
    int timeout_s;     /* per attempt, connecting included */
    int concurrency;   /* deliveries under way per webhook */
    double time_scale; /* OTA_TIME_SCALE: retries and grouping waits are divided by it */
} webhook_cfg;

/* Starts the worker thread on store s (borrowed; outlives the worker). NULL on failure
 * (logged). */
webhooks *webhook_start(store_t *s, const webhook_cfg *cfg);
/* Stops the thread (transfers under way are abandoned: their leases end and they are sent
 * again) and frees. NULL is fine. */
void webhook_stop(webhooks *w);

/* Attempts by result since start (the ota_webhook_deliveries_total counter). */
typedef struct {
    uint64_t delivered, failed, dead;
} webhook_stats;
void webhook_get_stats(webhooks *w, webhook_stats *out);

#endif
