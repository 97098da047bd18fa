/*
 * routes_batch: the batch API of docs/api.md (create, list, get, devices,
 * terminate, pause, resume) and the devices' firmware downloads (/dl/..., signed links).
 *
 * Routes only turn requests into store and engine calls: parameters are checked by
 * core/batchparams, rows come from store_batch, and the engine is told of every batch
 * that starts or ends so its in-memory view follows. Counts come from the batch row's
 * counters (kept by transition), never from counting task rows.
 */
#include "core/batchparams.h"
#include "core/fsm.h"
#include "core/urlsign.h"
#include "core/validate.h"
#include "engine/engine.h"
#include "http/api.h"
#include "http/firmware_files.h"
#include "http/http.h"
#include "ota_log.h"
#include "ota_time.h"
#include "store/store_batch.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_START_SKEW_MS 60000LL                       /* startAt this far back: at once */
#define BATCH_START_AHEAD_MAX_MS (30LL * 24 * 3600 * 1000) /* startAt at most this far ahead */

static json_t *batch_row_json(const store_batch *b)
{
    char id[24], fw[24];
    snprintf(id, sizeof id, "%lld", (long long)b->id);
    snprintf(fw, sizeof fw, "%lld", (long long)b->firmware_id);
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:s}", "batchId", id, "firmwareId", fw,
                     "startTime", http_time(b->start_ms, 0), "endTime", http_time(b->end_ms, 1),
                     "total", (json_int_t)b->total, "succeeded",
                     (json_int_t)b->counts[FSM_SUCCEEDED], "failed",
                     (json_int_t)b->counts[FSM_FAILED], "state", b->state);
}

static json_t *batch_full_json(const store_batch *b)
{
    json_t *o = batch_row_json(b);
    json_t *counts = json_object();
    for (int i = 0; i < FSM_STATE_COUNT; i++)
        json_object_set_new(counts, fsm_state_name((fsm_state)i), json_integer(b->counts[i]));
    json_object_set_new(o, "firmwareName", json_string(b->firmware_name));
    json_object_set_new(o, "firmwareVersion", json_string(b->firmware_version));
    json_object_set_new(o, "md5", json_string(b->md5));
    json_object_set_new(o, "sha256", json_string(b->sha256));
    json_object_set_new(o, "productKey", json_string(b->product_key));
    json_object_set_new(o, "productName", json_string(b->product_name));
    json_object_set_new(o, "scope", json_string(b->scope));
    json_object_set_new(o, "validityDays", json_integer(b->validity_days));
    json_object_set_new(o, "expiresTime", http_time(b->expires_ms, 0));
    json_object_set_new(o, "policy", json_string(b->policy));
    json_object_set_new(o, "timeoutMinutes", json_integer(b->timeout_min));
    json_object_set_new(o, "retryTimes", json_integer(b->retry_times));
    json_object_set_new(o, "retryIntervalMinutes",
                        b->retry_times > 0 ? json_integer(b->retry_interval_min) : json_null());
    json_object_set_new(o, "maxPushPerMinute", json_integer(b->max_push_per_min));
    json_object_set_new(o, "startAt", b->start_at_ms ? http_time(b->start_at_ms, 0) : json_null());
    json_t *win = b->windows[0] ? json_loads(b->windows, 0, NULL) : NULL;
    json_object_set_new(o, "windows", win ? win : json_null());
    json_object_set_new(o, "confirmMinutes", json_integer(b->confirm_min));
    json_object_set_new(o, "continuous", json_boolean(b->continuous));
    if (b->target_tags[0] || b->target_groups[0]) {
        json_t *f = json_object();
        if (b->target_tags[0])
            json_object_set_new(f, "tags", json_loads(b->target_tags, 0, NULL));
        if (b->target_groups[0])
            json_object_set_new(f, "groups", json_loads(b->target_groups, 0, NULL));
        json_object_set_new(o, "filter", f);
    }
    json_object_set_new(o, "fromVersions", b->target_versions[0]
                                               ? json_loads(b->target_versions, 0, NULL)
                                               : json_null());
    json_object_set_new(o, "counts", counts);
    json_t *why = b->pause_reason[0] ? json_loads(b->pause_reason, 0, NULL) : NULL;
    json_object_set_new(o, "pauseReason", why ? why : json_null());
    json_t *ro = rollout_to_json_value(b->rollout);
    json_object_set_new(o, "rollout", ro ? ro : json_null());
    return o;
}

typedef struct {
    int64_t devices[ROLLOUT_MAX_PHASES], succeeded[ROLLOUT_MAX_PHASES], failed[ROLLOUT_MAX_PHASES];
} phase_tally;

static void tally_fn(void *ud, int phase, fsm_state st, fsm_reason why, int64_t n)
{
    phase_tally *t = ud;
    (void)why;
    if (phase < 0 || phase >= ROLLOUT_MAX_PHASES)
        return;
    t->devices[phase] += n;
    if (st == FSM_SUCCEEDED)
        t->succeeded[phase] += n;
    else if (st == FSM_FAILED)
        t->failed[phase] += n;
}

/* The per-phase figures of batch b into *t. While it runs they are the counters the engine
 * keeps with the batch in the transaction of every finish (store_batch_rollout_init: one
 * row, so a client polling the detail does not count the batch's tasks each time); once it
 * has ended, or when it has none stored, they are counted from its tasks. */
static ota_err phase_figures(http_req *r, const store_batch *b, fsm_batch_state bs,
                             phase_tally *t)
{
    memset(t, 0, sizeof *t);
    if (fsm_batch_state_is_running(bs)) {
        rollout_tally ct;
        ota_err rc = store_batch_rollout_init(r->app->store, b->id, 0, &ct);
        if (rc == OTA_OK) {
            for (int k = 0; k < ROLLOUT_MAX_PHASES; k++) {
                t->devices[k] = ct.size[k];
                t->succeeded[k] = ct.succ[k];
                t->failed[k] = ct.fail[k];
            }
            return OTA_OK;
        }
        if (rc != OTA_ENOTFOUND)
            return rc;
    }
    return store_batch_phase_counts(r->app->store, b->id, tally_fn, t);
}

/* The detail's "phases" of a batch with a rollout: per phase its devices, succeeded,
 * failed and state (docs/api.md); NULL on a store error or without a rollout. */
static json_t *phases_json(http_req *r, const store_batch *b)
{
    rollout ro;
    phase_tally t;
    fsm_batch_state bs = FSM_BATCH_TERMINATED;
    fsm_batch_state_from_name(b->state, &bs);
    if (!b->rollout[0] || rollout_from_text(b->rollout, &ro) != 0 ||
        phase_figures(r, b, bs, &t) != OTA_OK)
        return NULL;
    json_t *arr = json_array();
    for (int k = 0; k < rollout_phase_count(&ro); k++) {
        const char *st;
        if (k < b->phase)
            st = "done";
        else if (k > b->phase)
            st = fsm_batch_state_is_running(bs) ? "waiting" : "not_started";
        else if (!fsm_batch_state_is_running(bs))
            st = "ended";
        else if (b->phase_due_ms > 0)
            st = "soaking";
        else
            st = "running";
        json_array_append_new(arr, json_pack("{s:i, s:I, s:I, s:I, s:s}", "phase", k + 1,
                                             "devices", (json_int_t)t.devices[k], "succeeded",
                                             (json_int_t)t.succeeded[k], "failed",
                                             (json_int_t)t.failed[k], "state", st));
    }
    return arr;
}

/* The detail: batch_full_json plus, with a rollout, the phases and the current phase. */
static json_t *batch_detail_json(http_req *r, const store_batch *b)
{
    json_t *o = batch_full_json(b);
    json_t *ph = b->rollout[0] ? phases_json(r, b) : NULL;
    json_object_set_new(o, "phases", ph ? ph : json_null());
    json_object_set_new(o, "currentPhase", ph ? json_integer(b->phase + 1) : json_null());
    json_object_set_new(o, "phaseSoakEndsTime",
                        ph && b->phase_due_ms > 0 ? http_time(b->phase_due_ms, 0) : json_null());
    return o;
}

static int path_batch_id(http_req *r, int64_t *id)
{
    if (valid_id(http_param(r, "batchId"), id) != 0) {
        http_send_error(r, 404, "not_found", "batchId", "The batch does not exist.");
        return -1;
    }
    return 0;
}

/* POST /api/v1/firmwares/{firmwareId}/batches */
static int batch_create(http_req *r)
{
    int64_t fw_id;
    bparams p;
    bparams_error err;
    store_batch b;
    store_batch_err serr;
    store_firmware f;

    if (valid_id(http_param(r, "firmwareId"), &fw_id) != 0 ||
        store_firmware_get(r->app->store, fw_id, &f) != OTA_OK)
        return http_send_error(r, 404, "not_found", "firmwareId", "The firmware does not exist.");
    if (bparams_parse(r->body, r->body_len, &p, &err) != 0) {
        int rc = http_send_error(r, (unsigned)err.status, err.code, err.field[0] ? err.field : NULL,
                                 "%s", err.message);
        bparams_free(&p);
        return rc;
    }
    int64_t now = ota_time_now_ms();
    double scale = r->app->cfg->time_scale > 0 ? r->app->cfg->time_scale : 1;
    /* startAt: a minute of clock skew is forgiven (it starts at once); 30 days ahead at most
     * (wall-clock days: a date, not a duration, so OTA_TIME_SCALE does not apply) */
    if (p.start_at_ms && p.start_at_ms < now - BATCH_START_SKEW_MS) {
        bparams_free(&p);
        return http_send_error(r, 422, "invalid_value", "startAt", "The startAt time is in the past.");
    }
    if (p.start_at_ms > now + BATCH_START_AHEAD_MAX_MS) {
        bparams_free(&p);
        return http_send_error(r, 422, "out_of_range", "startAt",
                               "The startAt time must be at most 30 days ahead.");
    }
    int64_t start_at = p.start_at_ms > now ? p.start_at_ms : 0;
    char windows[WINDOW_TEXT_MAX];
    if (p.windows.n > 0 && window_to_text(&p.windows, windows, sizeof windows) != 0) {
        bparams_free(&p);
        return http_send_error(r, 500, "internal", NULL, "The windows could not be kept.");
    }
    /* validity counts from the start */
    int64_t expires = (start_at ? start_at : now) +
                      (int64_t)((double)p.validity_days * 86400000.0 / scale);
    store_batch_new in = {
        .directed = p.scope == BPARAMS_SCOPE_DIRECTED,
        .identifiers = (const char *const *)p.identifiers,
        .n_identifiers = p.n_identifiers,
        .policy = p.policy == BPARAMS_POLICY_SILENT ? "silent" : "standard",
        .validity_days = p.validity_days,
        .timeout_min = p.timeout_minutes,
        .retry_times = p.retry_times,
        .retry_interval_min = p.retry_interval_minutes,
        .max_push_per_min = p.max_push_per_minute,
        .filter = p.scope == BPARAMS_SCOPE_FILTER,
        .tags = p.tags,
        .groups = p.groups,
        .versions = p.versions,
        .continuous = p.continuous,
        .rollout = p.has_rollout ? &p.rollout : NULL,
        .start_at_ms = start_at,
        .windows = p.windows.n > 0 ? windows : NULL,
        .confirm_min = p.confirm_minutes,
    };
    ota_err rc = store_batch_create(r->app->store, fw_id, &in, now, expires, &b, &serr);
    bparams_free(&p);
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "firmwareId", "The firmware does not exist.");
    if (rc == OTA_EINVAL && serr.code) {
        if (strcmp(serr.code, "no_devices") == 0)
            return http_send_error(r, 422, "no_devices", serr.field,
                                   "No eligible device: devices must be activated, on another "
                                   "version, not in an unfinished upgrade, and match the "
                                   "target.");
        if (strcmp(serr.code, "group_not_found") == 0)
            return http_send_error(r, 422, "group_not_found", serr.field,
                                   "The product has no group '%s'.", serr.identifier);
        if (strcmp(serr.code, "not_in_batch") == 0)
            return http_send_error(r, 422, "not_in_batch", serr.field,
                                   "Device '%s' of the first phase is not an eligible device of "
                                   "this batch.",
                                   serr.identifier);
        static const struct {
            const char *code, *why;
        } whys[] = {
            {"device_not_found", "is not a device of this firmware's product"},
            {"device_not_activated", "has never connected (not activated)"},
            {"device_same_version", "already reports this firmware's version"},
            {"device_busy", "is in an unfinished upgrade of a running batch"},
            {"duplicate_identifier", "is listed twice"},
            {"device_version_not_listed", "reports a version not listed in fromVersions"},
        };
        const char *why = "is not eligible";
        for (size_t i = 0; i < sizeof whys / sizeof whys[0]; i++)
            if (strcmp(whys[i].code, serr.code) == 0)
                why = whys[i].why;
        return http_send_error(r, 422, serr.code, serr.field, "Device '%s' %s.", serr.identifier,
                               why);
    }
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "batch create");
    OTA_INFO("batch %lld created: firmware %lld, %lld devices, policy %s", (long long)b.id,
             (long long)fw_id, (long long)b.total, b.policy);
    if (r->app->engine)
        engine_batch_created(r->app->engine, b.id);
    return http_send_json(r, 201, batch_detail_json(r, &b));
}

/* GET /api/v1/batches and /api/v1/firmwares/{firmwareId}/batches */
static int batch_list(http_req *r)
{
    store_page pg;
    store_batch *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    store_batch_filter f = {0};
    const char *fw = http_param(r, "firmwareId");
    if (!fw)
        fw = http_query(r, "firmwareId");
    if (http_paging(r, &pg) != 0)
        return MHD_YES;
    if (fw && *fw && valid_id(fw, &f.firmware_id) != 0)
        return http_send_error(r, 400, "invalid_parameter", "firmwareId",
                               "firmwareId must be a firmware id.");
    f.product_key = http_query(r, "productKey");
    if (f.product_key && !*f.product_key)
        f.product_key = NULL;
    f.state = http_query(r, "state");
    if (f.state && !*f.state)
        f.state = NULL;
    fsm_batch_state bs;
    if (f.state && fsm_batch_state_from_name(f.state, &bs) != 0)
        return http_send_error(r, 400, "invalid_parameter", "state",
                               "state must be one of in_progress, scheduled, paused, completed, "
                               "terminated, aborted.");
    ota_err rc = store_batch_list(r->app->store, &f, pg, &items, &n, &total);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "batch list");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, batch_row_json(&items[i]));
    free(items);
    return http_send_list(r, arr, total, pg);
}

static int batch_get(http_req *r)
{
    int64_t id;
    store_batch b;
    if (path_batch_id(r, &id) != 0)
        return MHD_YES;
    ota_err rc = store_batch_get(r->app->store, id, &b);
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "batchId", "The batch does not exist.");
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "batch get");
    return http_send_json(r, 200, batch_detail_json(r, &b));
}

static int batch_devices(http_req *r)
{
    int64_t id;
    store_page pg;
    int state = -1;
    store_batch_device *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    int64_t after = 0, next = 0;
    if (path_batch_id(r, &id) != 0 || http_paging_keyset(r, id, &pg, &after) != 0)
        return MHD_YES;
    const char *st = http_query(r, "upgradeState");
    if (st && *st) {
        fsm_state s;
        if (fsm_state_from_name(st, &s) != 0)
            return http_send_error(r, 400, "invalid_parameter", "upgradeState",
                                   "upgradeState must be one of to_push, pushed, to_upgrade, "
                                   "upgrading, to_retry, succeeded, failed.");
        state = (int)s;
    }
    ota_err rc =
        store_batch_devices_keyset(r->app->store, id, state, pg, after, &items, &n, &total, &next);
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "batchId", "The batch does not exist.");
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "batch devices");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const store_batch_device *d = &items[i];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:b, s:o, s:o, s:s, s:i, s:i, s:i, s:o}", "identifier",
                           d->identifier, "deviceName", d->device_name, "online", d->online,
                           "finishTime", http_time(d->finish_ms, 1), "currentVersion",
                           d->current_version[0] ? json_string(d->current_version) : json_null(),
                           "upgradeState", fsm_state_name(d->state), "progress", d->progress,
                           "retried", d->retried, "retryTimes", d->retry_times, "failReason",
                           d->reason == FSM_REASON_NONE ? json_null()
                                                        : json_string(fsm_reason_name(d->reason))));
    }
    free(items);
    return http_send_keyset_list(r, arr, total, pg, id, after, next);
}

static int batch_terminate(http_req *r)
{
    int64_t id;
    store_batch b;
    int64_t failed = 0;
    if (path_batch_id(r, &id) != 0)
        return MHD_YES;
    ota_err rc = store_batch_terminate(r->app->store, id, ota_time_now_ms(), &b, &failed);
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "batchId", "The batch does not exist.");
    if (rc == OTA_EINUSE)
        return http_send_error(r, 409, "batch_not_in_progress", "batchId",
                               "The batch has already ended (%s).", b.state);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "batch terminate");
    OTA_INFO("batch %lld terminated by the API", (long long)id);
    if (r->app->engine)
        engine_batch_ended(r->app->engine, id, failed);
    return http_send_json(r, 200, batch_full_json(&b));
}

/* The engine learns of a pause or a resume and applies it before the answer leaves: once
 * the caller sees 200 for a pause, no push of that batch leaves after it (the engine's
 * round that applies the change publishes its pushes only after it, engine_sync). */
static void tell_engine(http_req *r, int64_t id)
{
    if (!r->app->engine)
        return;
    engine_batch_changed(r->app->engine, id);
    engine_sync(r->app->engine);
}

/* POST /api/v1/batches/{batchId}/pause and /resume: 409 batch_not_in_progress (pause)
 * or batch_not_paused (resume) when the batch is in another state. */
static int batch_pause_resume(http_req *r, int pause)
{
    int64_t id;
    store_batch b;
    ota_err rc;
    if (path_batch_id(r, &id) != 0)
        return MHD_YES;
    if (pause) {
        json_t *why = json_pack("{s:s, s:s, s:o}", "by", "operator", "actor",
                                r->caller.actor[0] ? r->caller.actor : "-", "time",
                                http_time(ota_time_now_ms(), 0));
        char *text = why ? json_dumps(why, JSON_COMPACT) : NULL;
        json_decref(why);
        if (!text)
            return http_send_error(r, 500, "internal", NULL, "Out of memory.");
        rc = store_batch_pause(r->app->store, id, text, &b);
        free(text);
    } else {
        rc = store_batch_resume(r->app->store, id, &b);
    }
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", "batchId", "The batch does not exist.");
    if (rc == OTA_EINUSE && pause)
        return http_send_error(r, 409, "batch_not_in_progress", "batchId",
                               "Only an in_progress batch can be paused (it is %s).", b.state);
    if (rc == OTA_EINUSE)
        return http_send_error(r, 409, "batch_not_paused", "batchId",
                               "Only a paused batch can be resumed (it is %s).", b.state);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, pause ? "batch pause" : "batch resume");
    OTA_INFO("batch %lld %s by %s", (long long)id, pause ? "paused" : "resumed",
             r->caller.actor[0] ? r->caller.actor : "-");
    tell_engine(r, id);
    return http_send_json(r, 200, batch_detail_json(r, &b));
}

static int batch_pause(http_req *r)
{
    return batch_pause_resume(r, 1);
}

static int batch_resume(http_req *r)
{
    return batch_pause_resume(r, 0);
}

/* GET /dl/{firmwareId}/{fileName}?b=&d=&e=&s= : a device's signed firmware download. It
 * works while the link is authentic, not expired, and its batch is still in_progress. */
static int device_download(http_req *r)
{
    urlsign_request req;
    unsigned char key[URLSIGN_KEY_BYTES];
    int64_t fw_id, batch_id;
    store_firmware f;
    store_batch b;

    int rc = urlsign_request_from_parts(http_param(r, "firmwareId"), http_param(r, "fileName"),
                                        http_query(r, "b"), http_query(r, "d"), http_query(r, "e"),
                                        http_query(r, "s"), &req);
    if (rc == OTA_OK && urlsign_derive_key(r->app->server_key, key) != OTA_OK)
        rc = OTA_EINTERNAL;
    if (rc == OTA_OK)
        rc = urlsign_verify(key, &req, ota_time_now_ms() / 1000);
    if (rc == OTA_EMALFORMED)
        return http_send_error(r, 400, "malformed_link", NULL, "The download link is malformed.");
    if (rc == OTA_EBADSIG)
        return http_send_error(r, 403, "bad_signature", NULL, "The download link is not valid.");
    if (rc == OTA_EEXPIRED)
        return http_send_error(r, 403, "link_expired", NULL, "The download link has expired.");
    if (rc != OTA_OK)
        return http_send_error(r, 500, "internal", NULL, "The link could not be checked.");
    if (valid_id(req.firmware_id, &fw_id) != 0 || valid_id(req.batch_id, &batch_id) != 0 ||
        store_firmware_get(r->app->store, fw_id, &f) != OTA_OK)
        return http_send_error(r, 404, "not_found", NULL, "The firmware does not exist.");
    ota_err src = store_batch_get(r->app->store, batch_id, &b);
    if (src != OTA_OK || b.firmware_id != fw_id)
        return http_send_error(r, 404, "not_found", NULL, "The batch does not exist.");
    fsm_batch_state bs;
    if (fsm_batch_state_from_name(b.state, &bs) != 0 || !fsm_batch_state_is_running(bs))
        return http_send_error(r, 410, "batch_ended", NULL, "The batch has ended (%s).", b.state);
    return fwfiles_send(r, f.sha256, NULL);
}

const http_route http_routes_batch[] = {
    {"POST", "/api/v1/firmwares/{firmwareId}/batches", batch_create, HTTP_OPERATOR, HTTP_BODY_JSON,
     16u * 1024 * 1024, NULL, NULL},
    {"GET", "/api/v1/firmwares/{firmwareId}/batches", batch_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/batches", batch_list, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/batches/{batchId}", batch_get, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"GET", "/api/v1/batches/{batchId}/devices", batch_devices, HTTP_VIEWER, 0, 0, NULL, NULL},
    {"POST", "/api/v1/batches/{batchId}/terminate", batch_terminate, HTTP_OPERATOR, 0, 0, NULL,
     NULL},
    {"POST", "/api/v1/batches/{batchId}/pause", batch_pause, HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"POST", "/api/v1/batches/{batchId}/resume", batch_resume, HTTP_OPERATOR, 0, 0, NULL, NULL},
    {"GET", "/dl/{firmwareId}/{fileName}", device_download, HTTP_PUBLIC, HTTP_ALSO_HEAD, 0, NULL,
     NULL},
    HTTP_ROUTES_END,
};
