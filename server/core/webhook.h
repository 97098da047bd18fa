/*
 * webhook (prefix hook_): the pure rules of webhooks (docs/webhooks.md), no I/O: the list
 * of events, a subscription's fields checked (URL, secret, events, grouping), the event
 * payloads (`data`), the exact body of a delivery and its signature, and the retry
 * schedule. The store keeps the outbox (store/store_webhook.h), the delivery worker
 * (webhook/webhook.c) sends; both take their rules from here.
 *
 * Expected load: one payload built per event (a device's upgrade ending is one); a body
 * and a signature per delivery attempt.
 */
#ifndef OTAD_CORE_WEBHOOK_H
#define OTAD_CORE_WEBHOOK_H

#include "core/reqparse.h"

#include <stddef.h>
#include <stdint.h>

/* Every event a webhook may subscribe to: X(ID, "name", grouped). grouped = 1: a device
 * event, which a webhook with grouping on receives with others in one delivery (the
 * `events` array); 0: always delivered alone. A new event is one line here (and a row in
 * docs/webhooks.md's table); subscriptions store names, so the order may change. */
#define HOOK_EVENTS(X)                                                                           \
    X(BATCH_CREATED, "batch.created", 0)                                                         \
    X(BATCH_COMPLETED, "batch.completed", 0)                                                     \
    X(BATCH_TERMINATED, "batch.terminated", 0)                                                   \
    X(BATCH_PAUSED, "batch.paused", 0)                                                           \
    X(BATCH_RESUMED, "batch.resumed", 0)                                                         \
    X(BATCH_ABORTED, "batch.aborted", 0)                                                         \
    X(BATCH_PHASE_STARTED, "batch.phase.started", 0)                                             \
    X(DEVICE_UPGRADE_SUCCEEDED, "device.upgrade.succeeded", 1)                                   \
    X(DEVICE_UPGRADE_FAILED, "device.upgrade.failed", 1)                                         \
    X(FIRMWARE_CREATED, "firmware.created", 0)                                                   \
    X(FIRMWARE_DELETED, "firmware.deleted", 0)                                                   \
    X(PING, "ping", 0) /* a test delivery (POST /api/v1/webhooks/{id}/ping), never subscribed */

#define HOOK_X_ENUM(id, name, grouped) HOOK_EV_##id,
typedef enum { HOOK_EVENTS(HOOK_X_ENUM) HOOK_EV_COUNT } hook_event;
#undef HOOK_X_ENUM

#define HOOK_EVENT_NAME_MAX 48   /* bytes of an event's name, NUL included */
#define HOOK_URL_MAX 2048        /* bytes of a URL */
#define HOOK_SECRET_MIN 16       /* bytes of a secret */
#define HOOK_SECRET_MAX 256
#define HOOK_EVENTS_TEXT_MAX 512 /* the stored list: names joined by ',' */
#define HOOK_GROUP_MAX_EVENTS 1000   /* the most events in one delivery */
#define HOOK_GROUP_MAX_SECONDS 3600  /* the longest a device event waits for its group */
#define HOOK_GROUP_DEFAULT_EVENTS 500
#define HOOK_GROUP_DEFAULT_SECONDS 10
#define HOOK_RETRY_HORIZON_MS (24 * 3600 * 1000ll) /* retries stop this long after the event */

/* The event's name ("?" when out of range). */
const char *hook_event_name(hook_event ev);
/* The event named name, or -1 (ping is not a name one subscribes to: -1 too). */
int hook_event_parse(const char *name);
/* 1 when ev is a device event that grouping gathers. */
int hook_event_grouped(hook_event ev);

/* 0 when url is an http:// or https:// URL with a host (no user info, no spaces or control
 * characters, < HOOK_URL_MAX bytes); else -1 with why (a sentence) in why. */
int hook_url_check(const char *url, char *why, size_t whylen);
/* 0 when secret has HOOK_SECRET_MIN..HOOK_SECRET_MAX printable ASCII bytes; else -1. */
int hook_secret_check(const char *secret);
/* Turns a list of names (n of them) into the stored form "a,b,c" (sorted as HOOK_EVENTS,
 * each once) in out (>= HOOK_EVENTS_TEXT_MAX). "*" alone subscribes to every event.
 * Returns 0, or -1 with *bad the first unknown name (or NULL: the list is empty). */
int hook_events_join(const char *const *names, size_t n, char *out, size_t outlen,
                     const char **bad);
/* Calls fn for each name of the stored form text ("*" is one name). */
void hook_events_each(const char *text, void (*fn)(void *ud, const char *name), void *ud);

/* ---- request bodies --------------------------------------------------------------------- */

/* The fields of POST /api/v1/webhooks and PATCH /api/v1/webhooks/{id} (docs/api.md,
 * "Webhooks"); has_* says which the body set. */
typedef struct {
    int has_url, has_secret, has_events, has_enabled, has_group_max, has_group_seconds;
    char url[HOOK_URL_MAX];
    char secret[HOOK_SECRET_MAX + 1];
    char events[HOOK_EVENTS_TEXT_MAX]; /* the stored form (hook_events_join) */
    int enabled;
    int group_max, group_seconds;
} hook_fields;

/* Parses a webhook body of len bytes (outside input; fuzz_webhook): create = 1 wants url,
 * secret and events and fills the defaults of the rest (enabled, grouping
 * HOOK_GROUP_DEFAULT_*); create = 0 (PATCH) takes any of them. 0, or -1 with e set (its
 * field named): 400 invalid_json / unknown_field / invalid_type, 422 missing_field /
 * invalid_field. */
int hook_fields_parse(const char *body, size_t len, int create, hook_fields *out, rq_error *e);

/* ---- payloads: each returns a JSON object's text (malloc'd; the caller frees) ---------- */
/* batch.created / completed / terminated. */
char *hook_data_batch(int64_t batch_id, int64_t firmware_id, const char *product_key,
                      const char *firmware_version, const char *state, int64_t total);
/* device.upgrade.succeeded / failed; fail_reason NULL for a success. */
char *hook_data_device(int64_t batch_id, const char *product_key, const char *identifier,
                       const char *firmware_version, const char *fail_reason, int retried);
/* firmware.created / deleted. */
char *hook_data_firmware(int64_t firmware_id, const char *product_key, const char *name,
                         const char *version, const char *sha256);

/* ping: the webhook's id. */
char *hook_data_ping(int64_t webhook_id);

/* One event of a delivery, as the store keeps it (data: a JSON object's text). */
typedef struct {
    char name[HOOK_EVENT_NAME_MAX];
    int64_t time_ms;
    const char *data;
} hook_item;

/* The body of delivery id (malloc'd, NUL-terminated; its exact bytes are what is signed):
 * grouped = 0 and n = 1: {"id":"<id>","event":..,"time":..,"data":{..}};
 * grouped = 1: {"id":"<id>","time":<first event's>,"events":[{"event","time","data"},..]}.
 * The same inputs always give the same bytes, so every attempt sends the same body. NULL
 * when a data text is not a JSON object. */
char *hook_body(int64_t id, int grouped, const hook_item *items, size_t n);
/* The X-Ota-Event value: the event's name, or for a group the distinct names in order of
 * first appearance joined by ','. */
void hook_event_header(const hook_item *items, size_t n, char *out, size_t outlen);
/* "sha256=<lowercase hex HMAC-SHA256 of body under secret>" into out (>= 72). 0 or -1. */
int hook_signature(const char *secret, const char *body, size_t len, char *out, size_t outlen);

/* When attempt (1 = the first, failed) is retried: now + min(5 s * 2^(attempt-1), 1 h)
 * with jitter in [-20 %, +20 %) from r in [0, 1), all divided by scale (OTA_TIME_SCALE).
 * 0 when that is later than first_ms + HOOK_RETRY_HORIZON_MS / scale: the delivery is
 * dead. */
int64_t hook_retry_at(int attempt, int64_t now_ms, int64_t first_ms, double scale, double r);

#endif
