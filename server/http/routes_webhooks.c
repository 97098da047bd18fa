/*
 * routes_webhooks: webhooks (docs/api.md, "Webhooks"; docs/webhooks.md), admin only:
 *
 *   POST   /api/v1/webhooks                     {url, secret, events, enabled?,
 *                                               groupMaxEvents?, groupSeconds?} -> 201
 *   GET    /api/v1/webhooks                     every webhook
 *   GET    /api/v1/webhooks/{webhookId}         one, with its backlog
 *   PATCH  /api/v1/webhooks/{webhookId}         any of the fields above
 *   DELETE /api/v1/webhooks/{webhookId}         with its outbox and log
 *   GET    /api/v1/webhooks/{webhookId}/deliveries  the delivery log, newest first, by cursor
 *   POST   /api/v1/webhooks/{webhookId}/ping    queues a test delivery -> 202 {deliveryId}
 *
 * The secret is written to the store (the worker signs with it) and never answered or
 * logged. Bodies are parsed by core/webhook.c's hook_fields_parse.
 *
 * Expected load: rare (an administrator's changes, the console's reads).
 */
#include "http/http.h"

#include "core/webhook.h"
#include "store/store_webhook.h"

#include "ota_log.h"
#include "ota_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WEBHOOKS 100 /* webhooks one service keeps */

static json_t *id_json(int64_t id)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)id);
    return json_string(s);
}

static void add_name(void *ud, const char *name)
{
    json_array_append_new(ud, json_string(name));
}

/* The webhook as the API shows it: everything but the secret. */
static json_t *webhook_json(const store_webhook *w)
{
    json_t *events = json_array();
    hook_events_each(w->events, add_name, events);
    return json_pack("{s:o, s:s, s:o, s:b, s:i, s:i, s:s, s:o, s:I}", "id", id_json(w->id), "url",
                     w->url, "events", events, "enabled", w->enabled, "groupMaxEvents",
                     w->group_max, "groupSeconds", w->group_seconds, "createdBy", w->created_by,
                     "createdTime", http_time(w->created_ms, 0), "backlog",
                     (json_int_t)w->backlog);
}

/* The body's fields, or answers the first broken rule and returns -1. */
static int fields(http_req *r, int create, hook_fields *f)
{
    rq_error e = {0};
    if (hook_fields_parse(r->body ? r->body : "", r->body_len, create, f, &e) == 0)
        return 0;
    http_send_rq_error(r, &e);
    return -1;
}

/* The path's webhook: 0 with *w, or answers 404 (or the store's error) and returns -1. */
static int path_webhook(http_req *r, store_webhook *w)
{
    const char *s = http_param(r, "webhookId");
    char *end;
    errno = 0;
    long long id = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || id <= 0) {
        http_send_error(r, 404, "not_found", "webhookId", "The webhook does not exist.");
        return -1;
    }
    ota_err rc = store_webhook_get(r->app->store, id, w);
    if (rc == OTA_ENOTFOUND) {
        http_send_error(r, 404, "not_found", "webhookId", "The webhook does not exist.");
        return -1;
    }
    if (rc != OTA_OK) {
        http_send_store_error(r, rc, "webhook");
        return -1;
    }
    return 0;
}

static int webhook_create(http_req *r)
{
    hook_fields f;
    store_webhook w = {0}, *all = NULL;
    size_t n = 0;
    int64_t id;
    if (fields(r, 1, &f) != 0)
        return MHD_YES;
    ota_err rc = store_webhook_list(r->app->store, &all, &n);
    free(all);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "webhook");
    if (n >= MAX_WEBHOOKS)
        return http_send_error(r, 422, "limit_exceeded", NULL, "At most %d webhooks.",
                               MAX_WEBHOOKS);
    snprintf(w.url, sizeof w.url, "%s", f.url);
    snprintf(w.secret, sizeof w.secret, "%s", f.secret);
    snprintf(w.events, sizeof w.events, "%s", f.events);
    w.enabled = f.enabled;
    w.group_max = f.group_max;
    w.group_seconds = f.group_seconds;
    snprintf(w.created_by, sizeof w.created_by, "%s", r->caller.actor);
    w.created_ms = ota_time_now_ms();
    if ((rc = store_webhook_create(r->app->store, &w, &id)) != OTA_OK)
        return http_send_store_error(r, rc, "webhook");
    if ((rc = store_webhook_get(r->app->store, id, &w)) != OTA_OK)
        return http_send_store_error(r, rc, "webhook");
    /* the log names the receiver's scheme, host and port only: receivers often take a key
     * in the path or the query (docs/webhooks.md) */
    const char *host = strstr(w.url, "://");
    int origin = host ? (int)(host + 3 - w.url) + (int)strcspn(host + 3, "/?#") : 0;
    OTA_INFO("webhook %lld (%.*s/..., events %s) created by %s", (long long)id, origin, w.url,
             w.events, r->caller.actor);
    return http_send_json(r, 201, webhook_json(&w));
}

static int webhook_list(http_req *r)
{
    store_webhook *items;
    size_t n;
    ota_err rc = store_webhook_list(r->app->store, &items, &n);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "webhook list");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, webhook_json(&items[i]));
    free(items);
    return http_send_json(r, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)n));
}

static int webhook_get(http_req *r)
{
    store_webhook w;
    if (path_webhook(r, &w) != 0)
        return MHD_YES;
    return http_send_json(r, 200, webhook_json(&w));
}

static int webhook_update(http_req *r)
{
    store_webhook w;
    hook_fields f;
    if (path_webhook(r, &w) != 0 || fields(r, 0, &f) != 0)
        return MHD_YES;
    if (f.has_url)
        snprintf(w.url, sizeof w.url, "%s", f.url);
    if (f.has_secret)
        snprintf(w.secret, sizeof w.secret, "%s", f.secret);
    if (f.has_events)
        snprintf(w.events, sizeof w.events, "%s", f.events);
    if (f.has_enabled)
        w.enabled = f.enabled;
    if (f.has_group_max)
        w.group_max = f.group_max;
    if (f.has_group_seconds)
        w.group_seconds = f.group_seconds;
    ota_err rc = store_webhook_update(r->app->store, &w);
    if (rc == OTA_OK)
        rc = store_webhook_get(r->app->store, w.id, &w);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "webhook");
    OTA_INFO("webhook %lld changed by %s (enabled %d, events %s)", (long long)w.id,
             r->caller.actor, w.enabled, w.events);
    return http_send_json(r, 200, webhook_json(&w));
}

static int webhook_delete(http_req *r)
{
    store_webhook w;
    if (path_webhook(r, &w) != 0)
        return MHD_YES;
    ota_err rc = store_webhook_delete(r->app->store, w.id);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "webhook");
    OTA_INFO("webhook %lld (%s) deleted by %s", (long long)w.id, w.url, r->caller.actor);
    return http_send_empty(r, 204);
}

static int webhook_ping(http_req *r)
{
    store_webhook w;
    int64_t delivery;
    if (path_webhook(r, &w) != 0)
        return MHD_YES;
    ota_err rc = store_webhook_ping(r->app->store, w.id, ota_time_now_ms(), &delivery);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "webhook ping");
    return http_send_json(r, 202, json_pack("{s:o}", "deliveryId", id_json(delivery)));
}

static int webhook_deliveries(http_req *r)
{
    store_webhook w;
    int limit;
    int64_t before, next;
    store_hook_attempt *items;
    size_t n;
    if (path_webhook(r, &w) != 0 || http_cursor(r, &limit, &before) != 0)
        return MHD_YES;
    ota_err rc = store_webhook_log(r->app->store, w.id, before, limit, &items, &n, &next);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "webhook deliveries");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        store_hook_attempt *a = &items[i];
        json_t *events = json_array();
        hook_events_each(a->event, add_name, events);
        json_array_append_new(
            arr, json_pack("{s:o, s:o, s:o, s:i, s:i, s:o, s:o, s:I, s:o, s:s}", "id",
                           id_json(a->id), "deliveryId", id_json(a->delivery_id), "events",
                           events, "eventCount", a->n_events, "attempt", a->attempt, "status",
                           a->status ? json_integer(a->status) : json_null(), "error",
                           a->error[0] ? json_string(a->error) : json_null(), "durationMs",
                           (json_int_t)a->duration_ms, "time", http_time(a->time_ms, 0),
                           "result", a->result));
    }
    free(items);
    return http_send_json(r, 200, json_pack("{s:o, s:o}", "items", arr, "nextCursor",
                                            next ? id_json(next) : json_null()));
}

const http_route http_routes_webhooks[] = {
    {"POST", "/api/v1/webhooks", webhook_create, HTTP_ADMIN, HTTP_BODY_JSON, 0, NULL, NULL},
    {"GET", "/api/v1/webhooks", webhook_list, HTTP_ADMIN, 0, 0, NULL, NULL},
    {"GET", "/api/v1/webhooks/{webhookId}", webhook_get, HTTP_ADMIN, 0, 0, NULL, NULL},
    {"PATCH", "/api/v1/webhooks/{webhookId}", webhook_update, HTTP_ADMIN, HTTP_BODY_JSON, 0, NULL,
     NULL},
    {"DELETE", "/api/v1/webhooks/{webhookId}", webhook_delete, HTTP_ADMIN, 0, 0, NULL, NULL},
    {"GET", "/api/v1/webhooks/{webhookId}/deliveries", webhook_deliveries, HTTP_ADMIN, 0, 0,
     NULL, NULL},
    {"POST", "/api/v1/webhooks/{webhookId}/ping", webhook_ping, HTTP_ADMIN, 0, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
