/*
 * routes_targets: device tags, static groups and the live count of the devices a target
 * matches (docs/api.md, "Tags and groups"). Bodies are parsed by core/target.c
 * (target_body_parse), the data is store_targets.c's; after every change to a device's
 * tags or groups the engine is told (engine_targets_changed), so a continuous batch the
 * device now matches takes it (the store noted the device in the same transaction).
 */
#include "core/target.h"
#include "core/validate.h"
#include "engine/engine.h"
#include "http/api.h"
#include "http/http.h"
#include "ota_log.h"
#include "ota_time.h"
#include "store/store_targets.h"

#include <stdlib.h>
#include <string.h>

static json_t *group_json(const store_group *g)
{
    return json_pack("{s:s, s:s, s:o, s:I}", "productKey", g->product_key, "name", g->name,
                     "createdTime", http_time(g->created_ms, 0), "members",
                     (json_int_t)g->members);
}

static int send_target_error(http_req *r, const target_error *e)
{
    return http_send_error(r, (unsigned)e->status, e->code, e->field[0] ? e->field : NULL, "%s",
                           e->message);
}

/* The refusal of a store call with err (store_targets.h), or the store's error. */
static int send_refusal(http_req *r, ota_err rc, const store_target_err *err, const char *what)
{
    const char *code = err ? err->code : NULL;
    if (code && strcmp(code, "device_not_found") == 0)
        return http_send_error(r, 422, code, "identifiers",
                               "Device '%s' is not a device of the product.", err->name);
    if (code && strcmp(code, "group_not_found") == 0)
        return http_send_error(r, rc == OTA_ENOTFOUND ? 404 : 422, code,
                               rc == OTA_ENOTFOUND ? "name" : "filter.groups",
                               "The product has no group '%s'.", err->name);
    if (code && strcmp(code, "too_many_tags") == 0)
        return http_send_error(r, 422, code, "set",
                               "Device %s would have more than %d tags.", err->name,
                               TARGET_TAGS_MAX);
    if (code && strcmp(code, "too_many_devices") == 0)
        return http_send_error(r, 422, code, "filter",
                               "The filter matches more than %d devices; narrow it.",
                               STORE_TARGET_BULK_MAX);
    return http_send_store_error(r, rc, what);
}

static void targets_changed(http_req *r)
{
    if (r->app->engine)
        engine_targets_changed(r->app->engine);
}

static store_match match_of(const target_body *b)
{
    return (store_match){b->tags, b->groups, b->versions};
}

/* ---- tags --------------------------------------------------------------------------------- */

/* The path's productKey and identifier; answers 404 and returns -1 when malformed. */
static int path_device(http_req *r, const char **pk, const char **ident)
{
    *pk = http_param(r, "productKey");
    *ident = http_param(r, "identifier");
    if (valid_product_key(*pk) != 0 || valid_identifier(*ident, NULL, 0) != 0) {
        http_send_store_error(r, OTA_ENOTFOUND, "device");
        return -1;
    }
    return 0;
}

static int answer_device(http_req *r, const store_device *d)
{
    OTA_INFO("api: device %s.%s: tags %s", d->product_key, d->identifier,
             d->tags[0] ? d->tags : "{}");
    http_audit_object(r, "device:%s.%s", d->product_key, d->identifier);
    targets_changed(r);
    return http_send_json(r, 200, api_device_json(d, NULL));
}

/* PUT /api/v1/products/{productKey}/devices/{identifier}/tags {"tags":{...}}: replaces the set. */
static int tags_put(http_req *r)
{
    const char *pk, *ident;
    target_body b;
    target_error e;
    store_device d;
    if (path_device(r, &pk, &ident) != 0)
        return MHD_YES;
    if (target_body_parse(TARGET_BODY_TAGS, r->body, r->body_len, &b, &e) != 0) {
        target_body_free(&b);
        return send_target_error(r, &e);
    }
    ota_err rc = store_device_tags_put(r->app->store, pk, ident, b.tags, &d);
    target_body_free(&b);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "device");
    return answer_device(r, &d);
}

/* DELETE /api/v1/products/{productKey}/devices/{identifier}/tags/{key} */
static int tag_delete(http_req *r)
{
    const char *pk, *ident, *key = http_param(r, "key");
    int64_t changed = 0;
    store_device d;
    if (path_device(r, &pk, &ident) != 0)
        return MHD_YES;
    if (!target_key_ok(key))
        return http_send_error(r, 404, "not_found", "key", "The device has no such tag.");
    const char *idents[1] = {ident}, *remove[1] = {key};
    ota_err rc = store_device_tags_bulk(r->app->store, pk, idents, 1, NULL, NULL, remove, 1,
                                        &changed, NULL);
    if (rc == OTA_EINVAL)
        rc = OTA_ENOTFOUND; /* the only refusal of one known-good identifier: no device */
    if (rc == OTA_OK)
        rc = store_device_get(r->app->store, pk, ident, &d);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "device");
    return answer_device(r, &d);
}

/* POST /api/v1/products/{productKey}/devices:tag */
static int tags_bulk(http_req *r)
{
    const char *pk = http_param(r, "productKey");
    target_body b;
    target_error e;
    store_target_err serr = {0};
    int64_t changed = 0;
    if (valid_product_key(pk) != 0)
        return http_send_store_error(r, OTA_ENOTFOUND, "product");
    if (target_body_parse(TARGET_BODY_BULK, r->body, r->body_len, &b, &e) != 0) {
        target_body_free(&b);
        return send_target_error(r, &e);
    }
    store_match m = match_of(&b);
    ota_err rc = store_device_tags_bulk(r->app->store, pk, b.idents, b.n_idents, &m,
                                        b.set[0] ? b.set : NULL, b.remove, b.n_remove, &changed,
                                        &serr);
    target_body_free(&b);
    if (rc != OTA_OK)
        return send_refusal(r, rc, &serr, "product");
    OTA_INFO("api: product %s: tags of %lld devices changed", pk, (long long)changed);
    http_audit_object(r, "product:%s", pk);
    targets_changed(r);
    return http_send_json(r, 200, json_pack("{s:I}", "changed", (json_int_t)changed));
}

/* GET /api/v1/products/{productKey}/devices:count?tag=&group=&fromVersions=&firmwareId= */
static int devices_count(http_req *r)
{
    const char *pk = http_param(r, "productKey"), *fwq = http_query(r, "firmwareId");
    target_body b;
    target_error e;
    store_target_err serr = {0};
    int64_t matching = 0, eligible = 0, fw = 0;
    if (valid_product_key(pk) != 0)
        return http_send_store_error(r, OTA_ENOTFOUND, "product");
    if (target_query_parse(http_query(r, "tag"), http_query(r, "group"),
                           http_query(r, "fromVersions"), &b, &e) != 0)
        return send_target_error(r, &e);
    if (fwq && *fwq && valid_id(fwq, &fw) != 0)
        return http_send_error(r, 404, "not_found", "firmwareId",
                               "The firmware does not exist in this product.");
    store_match m = match_of(&b);
    ota_err rc = store_device_match_count(r->app->store, pk, &m, fw, &matching, &eligible, &serr);
    target_body_free(&b);
    if (rc == OTA_ENOTFOUND && fw > 0) {
        store_product p;
        if (store_product_get(r->app->store, pk, &p) == OTA_OK)
            return http_send_error(r, 404, "not_found", "firmwareId",
                                   "The firmware does not exist in this product.");
    }
    if (rc == OTA_EINVAL && serr.code)
        return http_send_error(r, 422, serr.code, "group", "The product has no group '%s'.",
                               serr.name);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    json_t *j = json_pack("{s:I}", "matching", (json_int_t)matching);
    json_object_set_new(j, "eligible", fw > 0 ? json_integer(eligible) : json_null());
    return http_send_json(r, 200, j);
}

/* ---- groups -------------------------------------------------------------------------------- */

static int path_group(http_req *r, const char **pk, const char **name)
{
    *pk = http_param(r, "productKey");
    *name = http_param(r, "name");
    if (valid_product_key(*pk) != 0 || !target_group_name_ok(*name)) {
        http_send_error(r, 404, "not_found", "name", "The group does not exist.");
        return -1;
    }
    return 0;
}

static int group_create(http_req *r)
{
    const char *pk = http_param(r, "productKey");
    target_body b;
    target_error e;
    store_group g;
    if (valid_product_key(pk) != 0)
        return http_send_store_error(r, OTA_ENOTFOUND, "product");
    if (target_body_parse(TARGET_BODY_GROUP, r->body, r->body_len, &b, &e) != 0) {
        target_body_free(&b);
        return send_target_error(r, &e);
    }
    ota_err rc = store_group_create(r->app->store, pk, b.name, ota_time_now_ms(), &g);
    target_body_free(&b);
    if (rc == OTA_EDUPLICATE)
        return http_send_error(r, 409, "duplicate", "name",
                               "The product already has a group of this name.");
    if (rc == OTA_ELIMIT)
        return http_send_error(r, 422, "limit_exceeded", "name",
                               "The product already has %d groups.", TARGET_GROUPS_PER_PRODUCT);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    OTA_INFO("api: product %s: group %s created", g.product_key, g.name);
    http_audit_object(r, "group:%s.%s", g.product_key, g.name);
    return http_send_json(r, 201, group_json(&g));
}

static int group_list(http_req *r)
{
    const char *pk = http_param(r, "productKey");
    store_page pg;
    store_group *items;
    size_t n;
    int64_t total;
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    ota_err rc = valid_product_key(pk) == 0
                     ? store_group_list(r->app->store, pk, pg, &items, &n, &total)
                     : OTA_ENOTFOUND;
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, group_json(&items[i]));
    free(items);
    return http_send_list(r, arr, total, pg);
}

static int group_get(http_req *r)
{
    const char *pk, *name;
    store_group g;
    if (path_group(r, &pk, &name) != 0)
        return MHD_YES;
    ota_err rc = store_group_get(r->app->store, pk, name, &g);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "group");
    return http_send_json(r, 200, group_json(&g));
}

static int group_delete(http_req *r)
{
    const char *pk, *name;
    if (path_group(r, &pk, &name) != 0)
        return MHD_YES;
    ota_err rc = store_group_delete(r->app->store, pk, name);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "group");
    OTA_INFO("api: product %s: group %s deleted", pk, name);
    http_audit_object(r, "group:%s.%s", pk, name);
    return http_send_empty(r, 204);
}

static int members_change(http_req *r, int add)
{
    const char *pk, *name;
    target_body b;
    target_error e;
    store_target_err serr = {0};
    int64_t changed = 0;
    if (path_group(r, &pk, &name) != 0)
        return MHD_YES;
    if (target_body_parse(TARGET_BODY_MEMBERS, r->body, r->body_len, &b, &e) != 0) {
        target_body_free(&b);
        return send_target_error(r, &e);
    }
    ota_err rc = store_group_members_change(r->app->store, pk, name, add, b.idents, b.n_idents,
                                            &changed, &serr);
    target_body_free(&b);
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "name", "The group does not exist.");
    if (rc != OTA_OK)
        return send_refusal(r, rc, &serr, "group");
    OTA_INFO("api: product %s: group %s: %lld devices %s", pk, name, (long long)changed,
             add ? "added" : "removed");
    http_audit_object(r, "group:%s.%s", pk, name);
    targets_changed(r);
    return http_send_json(r, 200, json_pack("{s:I}", "changed", (json_int_t)changed));
}

static int members_add(http_req *r)
{
    return members_change(r, 1);
}

static int members_remove(http_req *r)
{
    return members_change(r, 0);
}

static int members_list(http_req *r)
{
    const char *pk, *name;
    store_page pg;
    store_device *items;
    size_t n;
    int64_t total;
    if (path_group(r, &pk, &name) != 0)
        return MHD_YES;
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    ota_err rc = store_group_members(r->app->store, pk, name, pg, &items, &n, &total);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "group");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_device_json(&items[i], NULL));
    free(items);
    return http_send_list(r, arr, total, pg);
}

#define P "/api/v1/products/{productKey}"
const http_route http_routes_targets[] = {
    {"PUT", P "/devices/{identifier}/tags", tags_put, HTTP_OPERATOR, HTTP_BODY_JSON, 0, NULL,
     NULL},
    {"DELETE", P "/devices/{identifier}/tags/{key}", tag_delete, HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"POST", P "/devices:tag", tags_bulk, HTTP_OPERATOR, HTTP_BODY_JSON, TARGET_BODY_MAX, NULL,
     NULL},
    {"GET", P "/devices:count", devices_count, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"POST", P "/groups", group_create, HTTP_OPERATOR, HTTP_BODY_JSON, 0, NULL, NULL},
    {"GET", P "/groups", group_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", P "/groups/{name}", group_get, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"DELETE", P "/groups/{name}", group_delete, HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"POST", P "/groups/{name}/members", members_add, HTTP_OPERATOR, HTTP_BODY_JSON,
     TARGET_BODY_MAX, NULL, NULL},
    {"POST", P "/groups/{name}/members:remove", members_remove, HTTP_OPERATOR, HTTP_BODY_JSON,
     TARGET_BODY_MAX, NULL, NULL},
    {"GET", P "/groups/{name}/members", members_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
#undef P
