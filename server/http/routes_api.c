/*
 * routes_api: the management API for health, products, devices and firmware
 * (docs/api.md), a product's signing keys and requireSignature (docs/security.md). Routes only turn requests into validator and store calls and store
 * results into answers; the rules live in core/validate.c, the data in store/.
 */
#include "core/ddi.h"
#include "store/store_ddi.h"
#include "http/api.h"
#include "http/firmware_files.h"

#include "core/parts.h"
#include "core/rules.h"
#include "core/target.h"
#include "core/validate.h"
#include "engine/engine.h"
#include "engine/lease.h"
#include "store/store_parts.h"
#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_sign.h"
#include "ota_time.h"
#include "store/store_targets.h"

#include <stdlib.h>
#include <string.h>

json_t *api_product_json(const store_product *p)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:b}", "productKey", p->product_key,
                     "productName", p->name, "description", p->description, "createdTime",
                     http_time(p->created_ms, 0), "deviceCount", (json_int_t)p->device_count,
                     "firmwareCount", (json_int_t)p->firmware_count, "requireSignature",
                     p->require_signature);
}

json_t *api_device_json(const store_device *d, const char *secret)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o}", "productKey", d->product_key, "identifier",
        d->identifier, "deviceName", d->device_name, "activated", d->activated, "online", d->online,
        "firmwareVersion", d->has_version ? json_string(d->firmware_version) : json_null(),
        "createdTime", http_time(d->created_ms, 0), "activatedTime", http_time(d->activated_ms, 1),
        "lastSeenTime", http_time(d->last_seen_ms, 1));
    if (j && secret)
        json_object_set_new(j, "deviceSecret", json_string(secret));
    json_t *tags = d->tags[0] ? json_loads(d->tags, 0, NULL) : NULL;
    if (j)
        json_object_set_new(j, "tags", json_is_object(tags) ? json_incref(tags) : json_object());
    json_decref(tags);
    return j;
}

json_t *api_firmware_json(const store_firmware *f)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)f->id);
    /* sha1 is null for a row added before the column, until a DDI device first needs it */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:b, s:o}",
                     "firmwareId", id, "firmwareName", f->name, "productKey", f->product_key,
                     "firmwareVersion", f->version, "firmwareDescription", f->description,
                     "firmwareFileName", f->file_name, "firmwareSize", (json_int_t)f->size, "md5",
                     f->md5, "sha256", f->sha256, "sha1",
                     f->sha1[0] ? json_string(f->sha1) : json_null(), "createdTime",
                     http_time(f->created_ms, 0), "signed", f->key_id[0] != '\0', "keyId",
                     f->key_id[0] ? json_string(f->key_id) : json_null());
}

json_t *api_signkey_json(const store_signkey *k)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:o}", "keyId", k->key_id, "productKey",
                     k->product_key, "name", k->name, "algorithm", "Ed25519", "publicKey",
                     k->public_key, "createdTime", http_time(k->created_ms, 0), "retired",
                     k->retired_ms != 0, "retiredTime", http_time(k->retired_ms, 1));
}

/* ---- health ----------------------------------------------------------------------- */

static int health(http_req *r)
{
    const char *broker = "not_configured";
    int broker_ok = 1;
    int store_ok = store_ping(r->app->store) == OTA_OK;
    if (r->app->broker_ready)
        broker_ok = r->app->broker_ready(r->app->broker_ud, &broker);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:o}", "status", store_ok && broker_ok ? "ok" : "unavailable",
                  "store", store_ok ? "ok" : "error", "broker", broker ? broker : "unknown", "time",
                  http_time(ota_time_now_ms(), 0));
    if (r->app->engine) {
        /* how the batch engine keeps up: inputLagMs is how late device messages reach it
         * (-1 before the first clock probe came back); pushes wait while it is high */
        engine_stats st;
        engine_get_stats(r->app->engine, &st);
        json_object_set_new(j, "engine",
                            json_pack("{s:I, s:I, s:I, s:b, s:i}", "inputLagMs",
                                      (json_int_t)st.input_lag_ms, "queued", (json_int_t)st.queued,
                                      "timers", (json_int_t)st.timers, "pushesHeld",
                                      st.pushes_held, "partitions", parts_count(st.parts)));
    }
    if (!store_ok || !broker_ok)
        json_object_set_new(
            j, "reason",
            json_string(!store_ok ? "the store is not usable" : "the broker is not connected"));
    return http_send_json(r, store_ok && broker_ok ? 200 : 503, j);
}

/* ---- cluster ---------------------------------------------------------------------- */

/* The partitions of the devices and who holds them (docs/postgresql.md, "Partitions"):
 * this instance's name and set, and, on a store with leases, every live instance and
 * every lease as the database has them now. */
static int cluster(http_req *r)
{
    const char *me = r->app->cfg->instance[0] ? r->app->cfg->instance : "otad";
    uint64_t mine = PARTS_ALL;
    if (r->app->engine) {
        engine_stats st;
        engine_get_stats(r->app->engine, &st);
        mine = st.parts;
    }
    json_t *own = json_array();
    for (int p = 0; p < PARTS_N; p++)
        if ((mine >> p) & 1)
            json_array_append_new(own, json_integer(p));
    json_t *j = json_pack("{s:s, s:i, s:b, s:o}", "instance", me, "partitions", PARTS_N,
                          "leases", store_parts_supported(r->app->store), "held", own);
    if (!store_parts_supported(r->app->store))
        return http_send_json(r, 200, j);
    parts_lease leases[PARTS_N];
    store_member *live = NULL;
    size_t n_live = 0;
    int64_t now = 0;
    ota_err rc = store_parts_read(r->app->store, LEASE_TTL_MS, leases, &live, &n_live, &now);
    if (rc != OTA_OK) {
        json_decref(j);
        return http_send_store_error(r, rc, "cluster");
    }
    json_t *members = json_array(), *arr = json_array();
    for (size_t i = 0; i < n_live; i++) {
        int held = 0;
        for (int p = 0; p < PARTS_N; p++)
            held += leases[p].expires_ms > now && strcmp(leases[p].owner, live[i].name) == 0;
        json_array_append_new(members, json_pack("{s:s, s:o, s:i}", "name", live[i].name,
                                                 "seenTime", http_time(live[i].seen_ms, 0),
                                                 "partitions", held));
    }
    for (int p = 0; p < PARTS_N; p++)
        json_array_append_new(
            arr, json_pack("{s:i, s:s?, s:I, s:o, s:b}", "partition", p, "owner",
                           leases[p].owner[0] ? leases[p].owner : NULL, "epoch",
                           (json_int_t)leases[p].epoch, "expiresTime",
                           http_time(leases[p].expires_ms, 1), "valid",
                           leases[p].owner[0] && leases[p].expires_ms > now));
    free(live);
    json_object_set_new(j, "members", members);
    json_object_set_new(j, "leaseTable", arr);
    return http_send_json(r, 200, j);
}

/* ---- products --------------------------------------------------------------------- */

static int product_create(http_req *r)
{
    rq_error e = {0};
    rq_product in;
    json_t *b = NULL;
    store_product p;
    int ret;
    if (rq_product_body(r->body, r->body_len, &b, &in, &e) != 0) {
        ret = http_send_rq_error(r, &e);
    } else {
        ota_err rc = store_product_create(
            r->app->store, in.name, in.description ? in.description : "", ota_time_now_ms(), &p);
        if (rc == OTA_OK) {
            OTA_INFO("api: product %s created", p.product_key);
            ret = http_send_json(r, 201, api_product_json(&p));
        } else
            ret = http_send_store_error(r, rc, "product");
    }
    json_decref(b);
    return ret;
}

static int product_list(http_req *r)
{
    store_page pg;
    store_product *items;
    size_t n;
    int64_t total;
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    ota_err rc = store_product_list(r->app->store, pg, &items, &n, &total);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product list");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_product_json(&items[i]));
    free(items);
    return http_send_list(r, arr, total, pg);
}

/* Looks the path's productKey up; answers 404 and returns -1 when it does not exist. */
static int path_product(http_req *r, store_product *p)
{
    const char *key = http_param(r, "productKey");
    ota_err rc =
        valid_product_key(key) == 0 ? store_product_get(r->app->store, key, p) : OTA_ENOTFOUND;
    if (rc != OTA_OK) {
        http_send_store_error(r, rc, "product");
        return -1;
    }
    return 0;
}

static int product_get(http_req *r)
{
    store_product p;
    if (path_product(r, &p) != 0)
        return MHD_YES;
    return http_send_json(r, 200, api_product_json(&p));
}

static int product_patch(http_req *r)
{
    rq_error e = {0};
    int on = 0;
    store_product p;
    if (rq_product_patch_body(r->body, r->body_len, &on, &e) != 0)
        return http_send_rq_error(r, &e);
    const char *key = http_param(r, "productKey");
    ota_err rc = valid_product_key(key) == 0
                      ? store_product_set_require_signature(r->app->store, key, on, &p)
                      : OTA_ENOTFOUND;
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    OTA_INFO("api: product %s: requireSignature %s", p.product_key, on ? "on" : "off");
    return http_send_json(r, 200, api_product_json(&p));
}

/* ---- signing keys ------------------------------------------------------------------- */

static int signkey_create(http_req *r)
{
    rq_error e = {0};
    rq_signkey in;
    json_t *b = NULL;
    store_signkey k, out;
    int ret;
    const char *pk = http_param(r, "productKey");
    if (rq_signkey_body(r->body, r->body_len, &b, &in, &e) != 0) {
        ret = http_send_rq_error(r, &e);
        json_decref(b);
        return ret;
    }
    memset(&k, 0, sizeof k);
    snprintf(k.product_key, sizeof k.product_key, "%s", pk ? pk : "");
    snprintf(k.key_id, sizeof k.key_id, "%s", in.key_id);
    snprintf(k.name, sizeof k.name, "%s", in.name);
    snprintf(k.public_key, sizeof k.public_key, "%s", in.public_key);
    json_decref(b);
    http_audit_object(r, "signing-key:%s.%s", k.product_key, k.key_id);
    ota_err rc = valid_product_key(pk) == 0
                      ? store_signkey_create(r->app->store, &k, ota_time_now_ms(), &out)
                      : OTA_ENOTFOUND;
    switch (rc) {
    case OTA_OK:
        OTA_INFO("api: product %s: signing key %s (%s) added", out.product_key, out.key_id,
                 out.name);
        return http_send_json(r, 201, api_signkey_json(&out));
    case OTA_EDUPLICATE:
        return http_send_error(r, 409, "duplicate", "publicKey",
                               "The product already has this key (%s).", k.key_id);
    case OTA_ELIMIT:
        return http_send_error(r, 422, "limit_exceeded", "productKey",
                               "The product already has %d signing keys.",
                               RULES_SIGNING_KEYS_PER_PRODUCT);
    default:
        return http_send_store_error(r, rc, "product");
    }
}

static int signkey_list(http_req *r)
{
    store_signkey *items = NULL;
    size_t n = 0;
    const char *pk = http_param(r, "productKey");
    ota_err rc = valid_product_key(pk) == 0 ? store_signkey_list(r->app->store, pk, &items, &n)
                                             : OTA_ENOTFOUND;
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_signkey_json(&items[i]));
    free(items);
    return http_send_json(r, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)n));
}

static int signkey_retire(http_req *r)
{
    store_signkey out;
    const char *pk = http_param(r, "productKey"), *kid = http_param(r, "keyId");
    http_audit_object(r, "signing-key:%s.%s", pk, kid);
    ota_err rc = valid_product_key(pk) == 0 && kid && strlen(kid) == OTA_SIGN_KEY_ID_LEN
                      ? store_signkey_retire(r->app->store, pk, kid, ota_time_now_ms(), &out)
                      : OTA_ENOTFOUND;
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "signing key");
    OTA_INFO("api: product %s: signing key %s retired", pk, kid);
    return http_send_json(r, 200, api_signkey_json(&out));
}

/* ---- devices ------------------------------------------------------------------------ */

static int device_create(http_req *r)
{
    rq_error e = {0};
    rq_device in;
    json_t *b = NULL;
    char secret[40];
    store_product p;
    store_device d;
    int ret;
    if (path_product(r, &p) != 0)
        return MHD_YES;
    if (rq_device_body(r->body, r->body_len, &b, &in, &e) != 0) {
        ret = http_send_rq_error(r, &e);
    } else {
        http_audit_object(r, "device:%s.%s", p.product_key, in.identifier);
        ota_err rc = store_device_create(r->app->store, p.product_key, in.identifier, in.name,
                                         ota_time_now_ms(), &d);
        if (rc == OTA_EDUPLICATE)
            ret = http_send_error(r, 409, "duplicate", "identifier",
                                  "A device with this identifier already exists in the product.");
        else if (rc != OTA_OK)
            ret = http_send_store_error(r, rc, "product");
        else if (ota_secret_device(r->app->server_key, d.product_key, d.identifier, secret,
                                   sizeof secret) != 0)
            ret = http_send_error(r, 500, "internal", NULL, "The device secret could not be made.");
        else {
            OTA_INFO("api: device %s.%s created", d.product_key, d.identifier);
            ret = http_send_json(r, 201, api_device_json(&d, secret));
        }
    }
    json_decref(b);
    return ret;
}

static int device_list(http_req *r)
{
    store_page pg;
    store_device *items;
    size_t n;
    int64_t total;
    int online = -1;
    const char *o = http_query(r, "online");
    if (o) {
        if (strcmp(o, "true") == 0)
            online = 1;
        else if (strcmp(o, "false") == 0)
            online = 0;
        else
            return http_send_error(r, 400, "invalid_parameter", "online",
                                   "online must be true or false.");
    }
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    const char *key = http_param(r, "productKey");
    target_body q;
    target_error qe;
    if (target_query_parse(http_query(r, "tag"), http_query(r, "group"),
                           http_query(r, "fromVersions"), &q, &qe) != 0)
        return http_send_error(r, (unsigned)qe.status, qe.code, qe.field, "%s", qe.message);
    store_match m = {q.tags, q.groups, q.versions};
    store_target_err terr = {0};
    ota_err rc = valid_product_key(key) != 0 ? OTA_ENOTFOUND
                 : q.has_filter
                     ? store_device_match_list(r->app->store, key, online, &m, pg, &items, &n,
                                               &total, &terr)
                     : store_device_list(r->app->store, key, online, pg, &items, &n, &total);
    target_body_free(&q);
    if (rc == OTA_EINVAL && terr.code)
        return http_send_error(r, 422, terr.code, "group", "The product has no group '%s'.",
                               terr.name);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_device_json(&items[i], NULL));
    free(items);
    return http_send_list(r, arr, total, pg);
}

static int device_get(http_req *r)
{
    store_device d;
    const char *key = http_param(r, "productKey"), *ident = http_param(r, "identifier");
    store_product p;
    if (path_product(r, &p) != 0)
        return MHD_YES;
    ota_err rc = valid_identifier(ident, NULL, 0) == 0
                     ? store_device_get(r->app->store, key, ident, &d)
                     : OTA_ENOTFOUND;
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "device");
    json_t *j = api_device_json(&d, NULL);
    /* every group of the product, at most */
    size_t glen = TARGET_GROUPS_PER_PRODUCT * (TARGET_GROUP_NAME_MAX + 3) + 3;
    char *groups = malloc(glen);
    if (groups && store_device_groups(r->app->store, key, ident, groups, glen) == OTA_OK)
        json_object_set_new(j, "groups", json_loads(groups, 0, NULL));
    free(groups);
    /* what a hawkBit DDI device sent as configData (docs/ddi.md), when it did */
    char attrs[DDI_ATTR_JSON_MAX + 1];
    int64_t at = 0;
    rc = store_ddi_attributes_get(r->app->store, key, ident, attrs, sizeof attrs, &at);
    if (rc != OTA_OK && rc != OTA_ENOTFOUND) {
        json_decref(j);
        return http_send_store_error(r, rc, "device attributes");
    }
    json_t *a = rc == OTA_OK ? json_loads(attrs, 0, NULL) : NULL;
    json_object_set_new(j, "attributes", json_is_object(a) ? a : json_null());
    if (a && !json_is_object(a))
        json_decref(a);
    json_object_set_new(j, "attributesTime", http_time(at, 1));
    return http_send_json(r, 200, j);
}

/* ---- firmware ------------------------------------------------------------------------ */

static int path_firmware(http_req *r, store_firmware *f)
{
    int64_t id;
    ota_err rc = valid_id(http_param(r, "firmwareId"), &id) == 0
                     ? store_firmware_get(r->app->store, id, f)
                     : OTA_ENOTFOUND;
    if (rc != OTA_OK) {
        http_send_store_error(r, rc, "firmware");
        return -1;
    }
    return 0;
}

static int firmware_list(http_req *r)
{
    store_page pg;
    store_firmware *items;
    size_t n;
    int64_t total;
    const char *key = http_query(r, "productKey");
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    if (key && !*key)
        key = NULL;
    ota_err rc = !key || valid_product_key(key) == 0
                     ? store_firmware_list(r->app->store, key, pg, &items, &n, &total)
                     : OTA_ENOTFOUND;
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "productKey", "The product does not exist.");
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "firmware list");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_firmware_json(&items[i]));
    free(items);
    return http_send_list(r, arr, total, pg);
}

static int firmware_get(http_req *r)
{
    store_firmware f;
    if (path_firmware(r, &f) != 0)
        return MHD_YES;
    return http_send_json(r, 200, api_firmware_json(&f));
}

static int firmware_file(http_req *r)
{
    store_firmware f;
    if (path_firmware(r, &f) != 0)
        return MHD_YES;
    return fwfiles_send(r, f.sha256, f.file_name);
}

static int firmware_delete(http_req *r)
{
    int64_t id;
    store_firmware f;
    int still_used = 1;
    if (valid_id(http_param(r, "firmwareId"), &id) != 0)
        return http_send_store_error(r, OTA_ENOTFOUND, "firmware");
    fwfiles_lock(r->app);
    ota_err rc = store_firmware_delete(r->app->store, id, &f, &still_used);
    if (rc == OTA_OK && !still_used)
        fwfiles_remove_if_unused(r->app, f.sha256);
    fwfiles_unlock(r->app);
    if (rc == OTA_EINUSE)
        return http_send_error(r, 409, "firmware_in_use", NULL,
                               "The firmware is used by a batch in progress; terminate it first.");
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "firmware");
    OTA_INFO("api: firmware %lld deleted", (long long)id);
    return http_send_empty(r, 204);
}

static int firmware_eligible(http_req *r)
{
    int64_t id;
    store_page pg;
    store_device *items;
    size_t n;
    int64_t total;
    const char *q = http_query(r, "q");
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    if (q && strlen(q) > 128)
        return http_send_error(r, 400, "invalid_parameter", "q", "q must be at most 128 bytes.");
    if (valid_id(http_param(r, "firmwareId"), &id) != 0)
        return http_send_store_error(r, OTA_ENOTFOUND, "firmware");
    ota_err rc = store_firmware_eligible(r->app->store, id, q, pg, &items, &n, &total);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "firmware");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_device_json(&items[i], NULL));
    free(items);
    return http_send_list(r, arr, total, pg);
}

const http_route http_routes_api[] = {
    {"GET", "/api/v1/health", health, HTTP_PUBLIC, 0, 0, NULL, NULL},
    {"GET", "/api/v1/cluster", cluster, HTTP_ADMIN, 0, 0, NULL, NULL},
    {"POST", "/api/v1/products", product_create, HTTP_OPERATOR, HTTP_BODY_JSON, 0, NULL, NULL},
    {"GET", "/api/v1/products", product_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/products/{productKey}", product_get, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"PATCH", "/api/v1/products/{productKey}", product_patch, HTTP_OPERATOR, HTTP_BODY_JSON, 0,
     NULL, NULL},
    {"POST", "/api/v1/products/{productKey}/signing-keys", signkey_create, HTTP_OPERATOR,
     HTTP_BODY_JSON, 0, NULL, NULL},
    {"GET", "/api/v1/products/{productKey}/signing-keys", signkey_list, HTTP_VIEWER, 0, 0, NULL,
     NULL},
    {"DELETE", "/api/v1/products/{productKey}/signing-keys/{keyId}", signkey_retire,
     HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"POST", "/api/v1/products/{productKey}/devices", device_create, HTTP_OPERATOR, HTTP_BODY_JSON,
     0, NULL, NULL},
    {"POST", "/api/v1/products/{productKey}/devices:import", api_import_end, HTTP_OPERATOR,
     HTTP_BODY_STREAM, 0, api_import_start, api_import_chunk},
    {"GET", "/api/v1/products/{productKey}/devices", device_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/products/{productKey}/devices/{identifier}", device_get, HTTP_VIEWER, 0, 0,
     NULL, NULL},
    {"POST", "/api/v1/firmwares", api_firmware_upload_end, HTTP_OPERATOR, HTTP_BODY_STREAM, 0,
     api_firmware_upload_start, api_firmware_upload_chunk},
    {"GET", "/api/v1/firmwares", firmware_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/firmwares/{firmwareId}", firmware_get, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/firmwares/{firmwareId}", firmware_delete, HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"GET", "/api/v1/firmwares/{firmwareId}/file", firmware_file, HTTP_VIEWER, HTTP_ALSO_HEAD, 0,
     NULL, NULL},
    {"GET", "/api/v1/firmwares/{firmwareId}/eligible-devices", firmware_eligible, HTTP_VIEWER, 0, 0,
     NULL, NULL},
    HTTP_ROUTES_END,
};
