/*
 * audit: the audit log's HTTP side. Every change (a route that is not GET/HEAD and needs a
 * role) and every sign-in writes one row to the store's audit table (store_audit.h): time,
 * actor (http_caller.actor; for a sign-in the name it tried; "-" without a
 * credential), source address, action (from the table below, "METHOD pattern" for a route
 * it does not name), object (from the path, or what the handler named with
 * http_audit_object), result ("ok" or "<status> <error code>"), and for a batch its
 * parameters.
 *
 * A change's row commits in the change's own transaction: before the handler runs,
 * http_audit_bind fills the row and binds it to the thread (store_audit_bind), and the
 * store function that makes the change writes it before its COMMIT. An answer that made
 * no change (refused attempts: 401, 403, 429, a failed sign-in, a broken rule; a change
 * outside the database, such as a device certificate) appends its row just before the
 * answer leaves (http_audit_answer), so a client that saw the answer finds the row.
 * GET /api/v1/audit (admin) reads it newest first with filters and a cursor; no route
 * changes or deletes rows.
 *
 * Expected load: one INSERT per change; reads are rare.
 */
#include "http/http.h"
#include "http/http_internal.h"

#include "store/store_audit.h"

#include "ota_log.h"
#include "ota_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *method, *pattern, *action;
    int detail_body; /* the request body is the row's detail (batch parameters) */
} audit_action;

static const audit_action actions[] = {
    {"POST", "/api/v1/products", "product.create", 0},
    {"POST", "/api/v1/products/{productKey}/devices", "device.create", 0},
    {"POST", "/api/v1/products/{productKey}/devices:import", "device.import", 0},
    {"POST", "/api/v1/products/{productKey}/devices/{identifier}/certificates", "certificate.issue",
     0},
    {"DELETE", "/api/v1/products/{productKey}/devices/{identifier}/certificates",
     "certificate.revoke", 0},
    {"PATCH", "/api/v1/products/{productKey}", "product.update", 0},
    {"POST", "/api/v1/products/{productKey}/signing-keys", "signingkey.create", 0},
    {"DELETE", "/api/v1/products/{productKey}/signing-keys/{keyId}", "signingkey.retire", 0},
    {"POST", "/api/v1/firmwares", "firmware.create", 0},
    {"DELETE", "/api/v1/firmwares/{firmwareId}", "firmware.delete", 0},
    {"POST", "/api/v1/firmwares/{firmwareId}/batches", "batch.create", 1},
    {"POST", "/api/v1/batches/{batchId}/terminate", "batch.terminate", 0},
    {"POST", "/api/v1/batches/{batchId}/pause", "batch.pause", 0},
    {"POST", "/api/v1/batches/{batchId}/resume", "batch.resume", 0},
    {"PUT", "/api/v1/products/{productKey}/devices/{identifier}/tags", "device.tags", 1},
    {"DELETE", "/api/v1/products/{productKey}/devices/{identifier}/tags/{key}", "device.untag", 0},
    {"POST", "/api/v1/products/{productKey}/devices:tag", "device.tags.bulk", 0},
    {"POST", "/api/v1/products/{productKey}/groups", "group.create", 0},
    {"DELETE", "/api/v1/products/{productKey}/groups/{name}", "group.delete", 0},
    {"POST", "/api/v1/products/{productKey}/groups/{name}/members", "group.members.add", 0},
    {"POST", "/api/v1/products/{productKey}/groups/{name}/members:remove",
     "group.members.remove", 0},
    {"POST", "/api/v1/auth/login", "auth.login", 0},
    {"POST", "/api/v1/auth/logout", "auth.logout", 0},
    {"POST", "/api/v1/users", "user.create", 0},
    {"PATCH", "/api/v1/users/{userName}", "user.update", 0},
    {"POST", "/api/v1/tokens", "token.create", 0},
    {"DELETE", "/api/v1/tokens/{id}", "token.revoke", 0},
    {"POST", "/api/v1/webhooks", "webhook.create", 0},
    {"PATCH", "/api/v1/webhooks/{webhookId}", "webhook.update", 0},
    {"DELETE", "/api/v1/webhooks/{webhookId}", "webhook.delete", 0},
    {"POST", "/api/v1/webhooks/{webhookId}/ping", "webhook.ping", 0},
};

/* The row's action for r's route, or NULL with *audited 0 for a route that writes no row:
 * reads, and the public and broker routes that are not sign-in. */
static const audit_action *action_of(const http_route *rt, int *audited)
{
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(actions[i].method, rt->method) == 0 &&
            strcmp(actions[i].pattern, rt->pattern) == 0) {
            *audited = 1;
            return &actions[i];
        }
    *audited = strcmp(rt->method, "GET") != 0 && strcmp(rt->method, "HEAD") != 0 &&
               http_access_role(rt->access) != ACCT_ROLE_NONE;
    return NULL;
}

const char *http__audit_action(const http_route *rt, int *audited)
{
    const audit_action *act = action_of(rt, audited);
    return act ? act->action : NULL;
}

void http_audit_object(http_req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->audit.row.object, sizeof r->audit.row.object, fmt, ap);
    va_end(ap);
    r->audit.object_named = 1;
}

void http_audit_actor(http_req *r, const char *name)
{
    snprintf(r->audit_actor, sizeof r->audit_actor, "%s", name);
    if (!r->caller.actor[0])
        snprintf(r->audit.row.actor, sizeof r->audit.row.actor, "%s", name);
}

/* The object named by the path: the most specific parameter. */
static void path_object(http_req *r, char *out, size_t outlen)
{
    const char *pk = http_param(r, "productKey"), *id = http_param(r, "identifier");
    static const struct {
        const char *param, *kind;
    } by[] = {
        {"batchId", "batch"}, {"firmwareId", "firmware"}, {"userName", "user"}, {"id", "token"},
        {"webhookId", "webhook"}};
    out[0] = '\0';
    if (pk && id) {
        snprintf(out, outlen, "device:%s.%s", pk, id);
        return;
    }
    for (size_t i = 0; i < sizeof by / sizeof by[0]; i++) {
        const char *v = http_param(r, by[i].param);
        if (v) {
            snprintf(out, outlen, "%s:%s", by[i].kind, v);
            return;
        }
    }
    if (pk)
        snprintf(out, outlen, "product:%s", pk);
}

#define DETAIL_ARRAY_KEEP 20 /* items kept of a long array in a detail too large to keep whole */

/* The row's detail from a request body (JSON text): the body itself when it fits; else
 * (a directed batch of 100,000 identifiers, say) the body with each top-level array cut to
 * its first DETAIL_ARRAY_KEEP items and "truncated":{"<member>":<its length>}, so the
 * parameters stay readable; else {"truncated":true,"bytes":N}. */
static void detail_of(const char *body, char *out, size_t outlen)
{
    size_t len = strlen(body);
    if (len < outlen) {
        memcpy(out, body, len + 1);
        return;
    }
    json_t *j = json_loads(body, 0, NULL), *cut = json_object(), *v;
    const char *k;
    char *text = NULL;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            size_t n = json_array_size(v);
            if (n > DETAIL_ARRAY_KEEP) {
                json_object_set_new(cut, k, json_integer((json_int_t)n));
                while (json_array_size(v) > DETAIL_ARRAY_KEEP)
                    json_array_remove(v, DETAIL_ARRAY_KEEP);
            }
        }
        json_object_set(j, "truncated", cut);
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    if (text && strlen(text) < outlen)
        snprintf(out, outlen, "%s", text);
    else
        snprintf(out, outlen, "{\"truncated\":true,\"bytes\":%zu}", len);
    free(text);
    json_decref(cut);
    json_decref(j);
}

/* Fills r's row (once) as far as the request tells: 0, or -1 when r writes no row. */
static int audit_fill(http_req *r)
{
    const http_route *rt = r->route;
    store_audit *a = &r->audit.row;
    int audited;
    if (!rt || !r->app->store)
        return -1;
    const audit_action *act = action_of(rt, &audited);
    if (!audited)
        return -1;
    if (r->audit_filled)
        return 0;
    r->audit_filled = 1;
    a->time_ms = ota_time_now_ms();
    snprintf(a->actor, sizeof a->actor, "%s",
             r->caller.actor[0]  ? r->caller.actor
             : r->audit_actor[0] ? r->audit_actor
                                 : "-");
    http_client_addr(r, a->source, sizeof a->source);
    if (act)
        snprintf(a->action, sizeof a->action, "%s", act->action);
    else
        snprintf(a->action, sizeof a->action, "%s %.50s", rt->method, rt->pattern);
    if (!r->audit.object_named)
        path_object(r, a->object, sizeof a->object);
    snprintf(a->result, sizeof a->result, "ok");
    if (act && act->detail_body && r->body)
        detail_of(r->body, a->detail, sizeof a->detail);
    return 0;
}

void http_audit_bind(http_req *r)
{
    if (audit_fill(r) == 0)
        store_audit_bind(&r->audit);
}

void http_audit_unbind(http_req *r)
{
    (void)r;
    store_audit_bind(NULL);
}

void http_audit_answer(http_req *r, unsigned status)
{
    store_audit *a = &r->audit.row;
    if (audit_fill(r) != 0 || r->audit.written)
        return; /* no row, or the change's transaction wrote it */
    if (status >= 400)
        snprintf(a->result, sizeof a->result, "%u %s", status,
                 r->error_code[0] ? r->error_code : "error");
    if (store_audit_append(r->app->store, a) != OTA_OK)
        OTA_ERROR("audit: the row of %s %s by %s could not be written", a->action, a->object,
                  a->actor);
    r->audit.written = 1;
}

/* ---- GET /api/v1/audit ------------------------------------------------------------------ */

/* An optional time query parameter: 0 with *ms (0 when absent), or answers 400 and -1. */
static int query_time(http_req *r, const char *name, int64_t *ms)
{
    const char *v = http_query(r, name);
    *ms = 0;
    if (v && (ota_time_parse(v, ms) != 0 || *ms <= 0)) {
        http_send_error(r, 400, "invalid_parameter", name, "%s is an RFC 3339 time.", name);
        return -1;
    }
    return 0;
}

static int audit_list(http_req *r)
{
    store_audit_filter f = {
        http_query(r, "actor"), http_query(r, "action"), http_query(r, "object"), 0, 0, 0};
    int limit;
    store_audit *items;
    size_t n;
    int64_t next;
    if (query_time(r, "from", &f.from_ms) != 0 || query_time(r, "to", &f.to_ms) != 0 ||
        http_cursor(r, &limit, &f.before_id) != 0)
        return MHD_YES;
    ota_err rc = store_audit_list(r->app->store, &f, limit, &items, &n, &next);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "audit log");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        store_audit *a = &items[i];
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)a->id);
        json_t *detail = a->detail[0] ? json_loads(a->detail, 0, NULL) : NULL;
        json_array_append_new(arr, json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:o}", "id", id,
                                             "time", http_time(a->time_ms, 0), "actor", a->actor,
                                             "source", a->source, "action", a->action, "object",
                                             a->object, "result", a->result, "detail",
                                             detail ? detail : json_null()));
    }
    free(items);
    json_t *body = json_pack("{s:o}", "items", arr);
    if (next) {
        char nc[24];
        snprintf(nc, sizeof nc, "%lld", (long long)next);
        json_object_set_new(body, "nextCursor", json_string(nc));
    } else
        json_object_set_new(body, "nextCursor", json_null());
    return http_send_json(r, 200, body);
}

const http_route http_routes_audit[] = {
    {"GET", "/api/v1/audit", audit_list, HTTP_ADMIN, 0, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
