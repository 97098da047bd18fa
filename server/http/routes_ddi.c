/*
 * routes_ddi: the hawkBit "Direct Device Integration" API v1 for devices that run SWUpdate's
 * suricatta or rauc-hawkbit-updater (docs/ddi.md has the subset, the mapping and the
 * limits). The tenant is the productKey, the controller id the device's identifier:
 *
 *   GET  /{pk}/controller/v1/{id}                                poll
 *   GET  /{pk}/controller/v1/{id}/deploymentBase/{action}        the offer (= the ack)
 *   POST /{pk}/controller/v1/{id}/deploymentBase/{action}/feedback
 *   GET  /{pk}/controller/v1/{id}/cancelAction/{action}
 *   POST /{pk}/controller/v1/{id}/cancelAction/{action}/feedback
 *   PUT  /{pk}/controller/v1/{id}/configData                     attributes
 *
 * Credentials: "Authorization: TargetToken <deviceSecret>" of the device in the path, or
 * "GatewayToken <token>" of its product (ddi_gateway_token); anything else is 401, so a
 * device reaches only its own paths, and an action that is not its current one is 404.
 *
 * Nothing here changes a task: fetches and feedback become engine_ddi inputs, applied by
 * the engine's state machine in its rounds like MQTT messages (engine.h). A feedback that
 * ends an attempt is answered once the engine has committed it (engine_sync), so a 200
 * the client saw is never lost. Presence lives in the store, so that several otad behind
 * a load balancer agree (docs/ddi.md, "Several otad"): a poll of a device the store has
 * offline (or not as a DDI device) is an engine input (and waits for it, so the answer
 * already shows the push it may cause); every poll is noted in a table in memory (struct
 * http_ddi), whose last polls a writer thread puts in the store in one batch every
 * quarter interval (at most 2 s), and the engines set offline the DDI devices no instance
 * saw poll for two intervals (engine.c's sweep_ddi). The failure reason a feedback's error
 * lines name is stored with its action (store_ddi_hint_put) for the action's close.
 *
 * Expected load: polls from up to 100,000s of devices, each one indexed store read, a
 * table update in memory and a small JSON answer; one store write per 5,000 devices that
 * polled every few seconds; everything else a few requests per device and attempt.
 */
#include "core/ddi.h"
#include "core/fsm.h"
#include "core/urlsign.h"
#include "core/validate.h"
#include "engine/engine.h"
#include "http/firmware_files.h"
#include "http/http.h"
#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"
#include "store/store_batch.h"
#include "store/store_ddi.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POLL_BUCKETS 65536 /* power of two */
#define POLL_STRIPES 64
#define FLUSH_MAX_MS 2000  /* the last polls are written at least this often */

/* ---- the poll table --------------------------------------------------------------------- */

/* A device that polled this instance within two intervals. */
typedef struct poll_entry {
    struct poll_entry *next;
    int64_t device_id;
    int64_t last_ms;    /* the last poll */
    int64_t written_ms; /* the last poll written to the store (store_ddi_polls_put) */
    char cid[OTA_CLIENT_ID_MAX + 1];
} poll_entry;

struct http_ddi {
    pthread_mutex_t mu[POLL_STRIPES];
    poll_entry *buckets[POLL_BUCKETS];
    int64_t sleep_s;  /* the interval devices are told */
    int64_t flush_ms; /* how often the last polls are written: a quarter interval, at most
                         FLUSH_MAX_MS (so each is in the store long before the offline
                         sweep, two intervals, could miss it) */
    http_app *app;
    pthread_t writer;
    int started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
    /* writer thread only */
    int failing;      /* the last write failed: the next one writes every entry */
    int64_t *ids, *ms; /* the write's arrays */
    size_t cap;
};

static size_t cid_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h & (POLL_BUCKETS - 1));
}

/* Records a poll of cid (device_id) at now, for the next write. */
static void poll_seen(struct http_ddi *d, const char *cid, int64_t device_id, int64_t now)
{
    size_t h = cid_hash(cid);
    pthread_mutex_t *mu = &d->mu[h % POLL_STRIPES];
    pthread_mutex_lock(mu);
    for (poll_entry *p = d->buckets[h]; p; p = p->next)
        if (strcmp(p->cid, cid) == 0) {
            if (now > p->last_ms)
                p->last_ms = now;
            p->device_id = device_id;
            pthread_mutex_unlock(mu);
            return;
        }
    poll_entry *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    snprintf(p->cid, sizeof p->cid, "%s", cid);
    p->device_id = device_id;
    p->last_ms = now;
    p->next = d->buckets[h];
    d->buckets[h] = p;
    pthread_mutex_unlock(mu);
}

/* Appends p's device and last poll to the write's arrays (d->ids, d->ms; *n of them). */
static void take(struct http_ddi *d, size_t *n, const poll_entry *p)
{
    if (*n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        d->ids = realloc(d->ids, d->cap * sizeof *d->ids);
        d->ms = realloc(d->ms, d->cap * sizeof *d->ms);
        if (!d->ids || !d->ms)
            abort();
    }
    d->ids[*n] = p->device_id;
    d->ms[*n] = p->last_ms;
    (*n)++;
}

/* Writes the polls seen since the last write (every entry after a failed one) to the store
 * in one batch, and forgets devices silent here for two intervals: one stripe's buckets
 * under its lock at a time (polls of the other stripes go on). The offline itself is the
 * engine's (sweep_ddi), from what every instance wrote. */
static void poll_flush(struct http_ddi *d, int64_t now)
{
    int64_t limit = now - 2 * d->sleep_s * 1000;
    size_t n = 0;
    for (size_t s = 0; s < POLL_STRIPES; s++) {
        pthread_mutex_lock(&d->mu[s]);
        for (size_t h = s; h < POLL_BUCKETS; h += POLL_STRIPES) {
            for (poll_entry **pp = &d->buckets[h]; *pp;) {
                poll_entry *p = *pp;
                if (p->last_ms > p->written_ms || (d->failing && p->last_ms >= limit)) {
                    take(d, &n, p);
                    p->written_ms = p->last_ms;
                }
                if (p->last_ms >= limit) {
                    pp = &p->next;
                    continue;
                }
                *pp = p->next;
                free(p);
            }
        }
        pthread_mutex_unlock(&d->mu[s]);
    }
    if (!n)
        return;
    ota_err rc = store_ddi_polls_put(d->app->store, d->ids, d->ms, n);
    if (rc != OTA_OK && !d->failing)
        OTA_ERROR("ddi: cannot write the last polls of %zu devices (%s); trying again", n,
                  ota_err_name(rc));
    else if (rc == OTA_OK && d->failing)
        OTA_INFO("ddi: the last polls are written again");
    d->failing = rc != OTA_OK;
}

static void *writer_main(void *arg)
{
    struct http_ddi *d = arg;
    int64_t every = d->flush_ms;
    pthread_mutex_lock(&d->stop_mu);
    while (!d->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(every % 1000) * 1000000L;
        ts.tv_sec += every / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&d->stop_cv, &d->stop_mu, &ts);
        if (d->stop)
            break;
        pthread_mutex_unlock(&d->stop_mu);
        poll_flush(d, ota_time_now_ms());
        pthread_mutex_lock(&d->stop_mu);
    }
    pthread_mutex_unlock(&d->stop_mu);
    return NULL;
}

void http_ddi_open(http_app *app)
{
    if (app->ddi)
        return;
    struct http_ddi *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    for (int i = 0; i < POLL_STRIPES; i++)
        pthread_mutex_init(&d->mu[i], NULL);
    pthread_mutex_init(&d->stop_mu, NULL);
    pthread_cond_init(&d->stop_cv, NULL);
    d->app = app;
    d->sleep_s = ddi_sleep_seconds(app->cfg->ddi_poll_s > 0 ? app->cfg->ddi_poll_s : 60,
                                   app->cfg->time_scale);
    d->flush_ms = d->sleep_s * 1000 / 4 < FLUSH_MAX_MS ? d->sleep_s * 1000 / 4 : FLUSH_MAX_MS;
    d->started = pthread_create(&d->writer, NULL, writer_main, d) == 0;
    if (!d->started)
        OTA_ERROR("ddi: cannot start the poll writer; DDI devices go offline two intervals "
                  "after their first poll here");
    app->ddi = d;
}

void http_ddi_close(http_app *app)
{
    struct http_ddi *d = app->ddi;
    if (!d)
        return;
    if (d->started) {
        pthread_mutex_lock(&d->stop_mu);
        d->stop = 1;
        pthread_cond_broadcast(&d->stop_cv);
        pthread_mutex_unlock(&d->stop_mu);
        pthread_join(d->writer, NULL);
        poll_flush(d, ota_time_now_ms()); /* a clean stop loses no poll */
    }
    for (size_t h = 0; h < POLL_BUCKETS; h++)
        while (d->buckets[h]) {
            poll_entry *p = d->buckets[h];
            d->buckets[h] = p->next;
            free(p);
        }
    for (int i = 0; i < POLL_STRIPES; i++)
        pthread_mutex_destroy(&d->mu[i]);
    pthread_mutex_destroy(&d->stop_mu);
    pthread_cond_destroy(&d->stop_cv);
    free(d->ids);
    free(d->ms);
    free(d);
    app->ddi = NULL;
}

/* ---- request: who, which action --------------------------------------------------------- */

typedef struct {
    const char *pk, *id;
    char cid[OTA_CLIENT_ID_MAX + 1];
    store_ddi_target t;
} ddi_req;

/* The product's gateway token: hex(HMAC-SHA256(server key, "ddi-gateway:" + pk))[0..32). A
 * gateway that polls for many devices of one product presents it (docs/ddi.md). */
static int gateway_token(const unsigned char *key, const char *pk, char out[33])
{
    char msg[16 + OTA_PRODUCT_KEY_MAX + 1];
    unsigned char mac[32];
    int n = snprintf(msg, sizeof msg, "ddi-gateway:%s", pk);
    if (n < 0 || (size_t)n >= sizeof msg || ota_hmac_sha256(key, 32, msg, (size_t)n, mac) != 0)
        return -1;
    ota_hex_encode(mac, 16, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

/* 1 when the request carries the TargetToken of the path's device or its product's
 * GatewayToken (constant-time comparisons). */
static int authorized(http_req *r, const char *pk, const char *id)
{
    char want[OTA_DEVICE_SECRET_LEN + 1];
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    int ok = 0;
    if (!h)
        return 0;
    if (strncasecmp(h, "TargetToken ", 12) == 0) {
        h += 12;
        ok = ota_secret_device(r->app->server_key, pk, id, want, sizeof want) == 0;
    } else if (strncasecmp(h, "GatewayToken ", 13) == 0) {
        h += 13;
        ok = gateway_token(r->app->server_key, pk, want) == 0;
    }
    while (ok && *h == ' ')
        h++;
    ok = ok && ota_ct_streq(h, want);
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}

/* Checks the credential and reads the device's target state into q. 0, or answers (401,
 * 404, 500) and returns -1. */
static int ddi_begin(http_req *r, ddi_req *q)
{
    char why[160];
    memset(q, 0, sizeof *q);
    q->pk = http_param(r, "productKey");
    q->id = http_param(r, "identifier");
    if (!q->pk || !q->id || strlen(q->pk) > OTA_PRODUCT_KEY_MAX ||
        valid_identifier(q->id, why, sizeof why) != 0 || !authorized(r, q->pk, q->id)) {
        http_send_error(r, 401, "unauthorized", NULL,
                        "A device credential is required (Authorization: TargetToken "
                        "<deviceSecret> of the device in the path, or GatewayToken).");
        return -1;
    }
    snprintf(q->cid, sizeof q->cid, "%s.%s", q->pk, q->id);
    ota_err rc = store_ddi_target_get(r->app->store, q->pk, q->id, &q->t);
    if (rc == OTA_ENOTFOUND) {
        http_send_error(r, 404, "not_found", "identifier", "The device does not exist.");
        return -1;
    }
    if (rc != OTA_OK) {
        http_send_store_error(r, rc, "ddi target");
        return -1;
    }
    return 0;
}

/* Maintenance windows (docs/batches.md): the one place that decides whether a deployment
 * may be offered now. The engine pushes only inside a window; a push the device has not
 * fetched yet when the window closes is not offered until the next one opens (its ack
 * deadline may then fail the attempt, as for an MQTT device that does not answer). A device
 * that has fetched it goes on to its end, as MQTT devices already in an attempt do.
 * Nothing is offered outside a window, never "update":"skip": SWUpdate takes skip for
 * success. */
static int ddi_in_window(const store_ddi_target *t)
{
    if (t->state != FSM_PUSHED || !t->windows[0])
        return 1;
    return window_batch_inside(t->windows, ota_time_now_ms());
}

/* The action the device should work on now (0: none): its task's current attempt while
 * the push is out (pushed, to_upgrade, upgrading) and the batch runs. */
static int64_t current_action(const store_ddi_target *t)
{
    if (!t->has_task || !t->batch_running)
        return 0;
    if (t->state != FSM_PUSHED && t->state != FSM_TO_UPGRADE && t->state != FSM_UPGRADING)
        return 0;
    return ddi_action_id(t->batch_id, t->attempt);
}

/* The action to cancel (0: none): the last attempt of a task the batch's end terminated,
 * until the device acknowledges the cancel. */
static int64_t cancel_action(const store_ddi_target *t)
{
    if (!t->has_task || t->state != FSM_FAILED || t->reason != FSM_REASON_TERMINATED ||
        t->attempt < 1)
        return 0;
    int64_t a = ddi_action_id(t->batch_id, t->attempt);
    return a == t->cancel_acked ? 0 : a;
}

/* The path's action id. 0, or answers 404 and returns -1. */
static int path_action(http_req *r, int64_t *action)
{
    if (ddi_action_parse(http_param(r, "actionId"), action) != 0) {
        http_send_error(r, 404, "not_found", "actionId", "No such action.");
        return -1;
    }
    return 0;
}

static void base_url(http_req *r, const ddi_req *q, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/controller/v1/%s", r->app->cfg->public_url, q->pk, q->id);
}

/* ---- routes ------------------------------------------------------------------------------ */

/* GET /{pk}/controller/v1/{id} */
static int ddi_poll(http_req *r)
{
    ddi_req q;
    char base[700], body[4096];
    if (ddi_begin(r, &q) != 0)
        return MHD_YES;
    struct http_ddi *d = r->app->ddi;
    int64_t now = ota_time_now_ms();
    engine_t *e = r->app->engine;
    if (d)
        poll_seen(d, q.cid, q.t.device_id, now); /* written with others' (poll_flush) */
    if (d && e && !(q.t.online && q.t.ddi)) {
        /* online now, in the store (an instance's sweep set it offline, or it never polled):
         * the engine makes it ready and may push it in the same round */
        engine_ddi(e, q.pk, q.id, ENGINE_DDI_POLL, 0, 0, now);
        if (engine_sync(e) != 0)
            return http_send_error(r, 503, "unavailable", NULL, "The server is stopping.");
        ota_err rc = store_ddi_target_get(r->app->store, q.pk, q.id, &q.t);
        if (rc != OTA_OK)
            return http_send_store_error(r, rc, "ddi target");
    }
    base_url(r, &q, base, sizeof base);
    int64_t cur = current_action(&q.t);
    /* the query changes with the action, as hawkBit's does, so no cache serves an old one
     * (ddi_poll_answer) */
    ddi_poll_links p = {base, d ? d->sleep_s : 60, cancel_action(&q.t),
                        cur && ddi_in_window(&q.t) ? cur : 0, !q.t.has_attributes};
    int n = ddi_poll_answer(&p, body, sizeof body);
    if (n < 0)
        return http_send_error(r, 500, "internal", NULL, "The poll's answer does not fit.");
    return http_send_json_text(r, 200, body, (size_t)n);
}

/* GET /{pk}/controller/v1/{id}/deploymentBase/{actionId}[?anything] */
static int ddi_deployment(http_req *r)
{
    ddi_req q;
    int64_t action;
    store_batch b;
    unsigned char key[URLSIGN_KEY_BYTES];
    char fw[24], bid[24], act[24], *url = NULL;
    if (ddi_begin(r, &q) != 0 || path_action(r, &action) != 0)
        return MHD_YES;
    if (action != current_action(&q.t) || !ddi_in_window(&q.t))
        return http_send_error(r, 404, "not_found", "actionId",
                               "The action is not open for this device.");
    ota_err rc = store_batch_get(r->app->store, q.t.batch_id, &b);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "ddi batch");
    if (!b.sha1[0]) {
        /* a firmware added before SHA-1 was computed on upload: once, then kept */
        if (fwfiles_sha1(r->app, b.sha256, b.sha1) != 0)
            return http_send_error(r, 500, "internal", NULL, "The firmware could not be read.");
        if (store_firmware_set_sha1(r->app->store, b.firmware_id, b.sha1) != OTA_OK)
            OTA_WARN("ddi: firmware %lld: its SHA-1 is computed again next time",
                     (long long)b.firmware_id);
    }
    snprintf(fw, sizeof fw, "%lld", (long long)b.firmware_id);
    snprintf(bid, sizeof bid, "%lld", (long long)b.id);
    snprintf(act, sizeof act, "%lld", (long long)action);
    urlsign_fields f = {fw, b.file_name, bid, q.cid, (b.expires_ms + 999) / 1000};
    if (urlsign_derive_key(r->app->server_key, key) != OTA_OK ||
        urlsign_build(key, r->app->cfg->public_url, &f, &url) != OTA_OK)
        return http_send_error(r, 500, "internal", NULL, "The download link could not be made.");
    if (q.t.state == FSM_PUSHED && r->app->engine)
        engine_ddi(r->app->engine, q.pk, q.id, ENGINE_DDI_FETCH, action, 0, ota_time_now_ms());
    const char *mode = strcmp(b.policy, "silent") == 0 ? "attempt" : "forced";
    json_t *links = json_pack("{s:{s:s}, s:{s:s}}", "download", "href", url, "download-http",
                              "href", url);
    json_t *artifact = json_pack("{s:s, s:I, s:{s:s, s:s, s:s}, s:o}", "filename", b.file_name,
                                 "size", (json_int_t)b.size, "hashes", "sha1", b.sha1, "md5",
                                 b.md5, "sha256", b.sha256, "_links", links);
    json_t *chunk = json_pack("{s:s, s:s, s:s, s:[o]}", "part", "os", "version",
                              b.firmware_version, "name", b.firmware_name, "artifacts", artifact);
    json_t *body = json_pack("{s:s, s:{s:s, s:s, s:[o]}}", "id", act, "deployment", "download",
                             mode, "update", mode, "chunks", chunk);
    free(url);
    return http_send_json(r, 200, body);
}

/* The feedback body collected under DDI_BODY_MAX (any content type: clients differ). */
static int body_stream(http_req *r, const char *data, size_t size)
{
    return http_body_append(r, data, size, DDI_BODY_MAX);
}

static int body_start(http_req *r)
{
    (void)r;
    return 0;
}

/* Whether action names an attempt this device had: its newest task's batch, an attempt
 * it was pushed. Older batches' actions are answered 404 too. */
static int own_action(const store_ddi_target *t, int64_t action)
{
    int64_t batch;
    int attempt;
    return t->has_task && ddi_action_split(action, &batch, &attempt) == 0 &&
           batch == t->batch_id && attempt <= t->attempt;
}

/* A feedback request: the device (ddi_begin), the path's action, and the body parsed as a
 * feedback whose id (when given) is that action. 0, or answers (401, 404, 400) and -1. */
static int feedback_begin(http_req *r, ddi_req *q, int64_t *action, ddi_feedback *fb)
{
    rq_error err = {0};
    if (ddi_begin(r, q) != 0 || path_action(r, action) != 0)
        return -1;
    if (ddi_parse_feedback(r->body, r->body_len, fb, &err) != 0)
        return http_send_rq_error(r, &err), -1;
    if (fb->has_id && fb->id != *action) {
        http_send_error(r, 400, "invalid_field", "id", "id must be the action of the path (%lld).",
                        (long long)*action);
        return -1;
    }
    return 0;
}

/* POST /{pk}/controller/v1/{id}/deploymentBase/{actionId}/feedback */
static int ddi_feedback_post(http_req *r)
{
    ddi_req q;
    int64_t action;
    ddi_feedback fb;
    if (feedback_begin(r, &q, &action, &fb) != 0)
        return MHD_YES;
    if (!own_action(&q.t, action))
        return http_send_error(r, 404, "not_found", "actionId", "No such action of this device.");
    /* the reason its error lines name, kept with the action for its close (SWUpdate closes
     * with a bare failure), which may reach another instance or come after a restart */
    int hint = q.t.hint_action == action ? q.t.hint_step : 0;
    if (fb.hint_step && !(fb.execution == DDI_EXEC_CLOSED && fb.finished == DDI_FIN_FAILURE)) {
        int best = ddi_step_best(hint, fb.hint_step);
        if (best != hint) {
            ota_err rc = store_ddi_hint_put(r->app->store, q.t.device_id, action, best);
            if (rc != OTA_OK)
                return http_send_store_error(r, rc, "ddi feedback");
        }
    }
    engine_ddi_event ev;
    int step = 0, final = 0;
    switch (fb.execution) {
    case DDI_EXEC_CLOSED:
        final = fb.finished != DDI_FIN_NONE;
        ev = fb.finished == DDI_FIN_SUCCESS   ? ENGINE_DDI_SUCCESS
             : fb.finished == DDI_FIN_FAILURE ? ENGINE_DDI_FAILURE
                                              : ENGINE_DDI_PROGRESS;
        step = fb.finished != DDI_FIN_FAILURE ? ddi_progress_step(&fb)
                                              : ddi_step_best(fb.fail_step, hint);
        break;
    case DDI_EXEC_CANCELED:
    case DDI_EXEC_REJECTED:
        /* the device gave the action up: a failure without a known cause (docs/ddi.md) */
        final = 1;
        ev = ENGINE_DDI_FAILURE;
        step = -1;
        break;
    case DDI_EXEC_PROCEEDING:
    case DDI_EXEC_RESUMED:
        ev = ENGINE_DDI_PROGRESS;
        step = ddi_progress_step(&fb);
        break;
    default: /* scheduled, download, downloaded: it has the action, nothing more */
        ev = ENGINE_DDI_FETCH;
        break;
    }
    engine_t *e = r->app->engine;
    if (e) {
        engine_ddi(e, q.pk, q.id, ev, action, step, ota_time_now_ms());
        /* an end of the attempt is committed before the client hears 200 (it sends it once) */
        if (final && engine_sync(e) != 0)
            return http_send_error(r, 503, "unavailable", NULL, "The server is stopping.");
    }
    return http_send_empty(r, 200);
}

/* GET /{pk}/controller/v1/{id}/cancelAction/{actionId} */
static int ddi_cancel_get(http_req *r)
{
    ddi_req q;
    int64_t action;
    char act[24];
    if (ddi_begin(r, &q) != 0 || path_action(r, &action) != 0)
        return MHD_YES;
    if (action != cancel_action(&q.t))
        return http_send_error(r, 404, "not_found", "actionId", "No cancel for this action.");
    snprintf(act, sizeof act, "%lld", (long long)action);
    return http_send_json(r, 200, json_pack("{s:s, s:{s:s}}", "id", act, "cancelAction", "stopId",
                                            act));
}

/* POST /{pk}/controller/v1/{id}/cancelAction/{actionId}/feedback */
static int ddi_cancel_feedback(http_req *r)
{
    ddi_req q;
    int64_t action;
    ddi_feedback fb;
    if (feedback_begin(r, &q, &action, &fb) != 0)
        return MHD_YES;
    if (action != cancel_action(&q.t) && action != q.t.cancel_acked)
        return http_send_error(r, 404, "not_found", "actionId", "No cancel for this action.");
    /* the task ended terminated with its batch; the device has let the action go */
    ota_err rc = store_ddi_cancel_ack(r->app->store, q.t.device_id, action);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "ddi cancel feedback");
    OTA_INFO("device %s: cancel of action %lld acknowledged (%s)", q.cid, (long long)action,
             fb.execution == DDI_EXEC_REJECTED ? "rejected" : "closed");
    return http_send_empty(r, 200);
}

/* PUT /{pk}/controller/v1/{id}/configData */
static int ddi_config_put(http_req *r)
{
    ddi_req q;
    rq_error err = {0};
    char *json = NULL;
    if (ddi_begin(r, &q) != 0)
        return MHD_YES;
    if (ddi_parse_config(r->body, r->body_len, &json, &err) != 0)
        return http_send_rq_error(r, &err);
    ota_err rc = store_ddi_attributes_put(r->app->store, q.t.device_id, json, ota_time_now_ms());
    free(json);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "ddi config data");
    return http_send_empty(r, 200);
}

/* GET /api/v1/products/{productKey}/ddi (admin): what a DDI client of the product is
 * configured with: the tenant, the poll interval devices are told, the server's base URL,
 * and the product's GatewayToken (a secret: admin only; docs/ddi.md). */
static int ddi_settings(http_req *r)
{
    store_product p;
    char tok[33], sleep[9];
    const char *pk = http_param(r, "productKey");
    ota_err rc = store_product_get(r->app->store, pk, &p);
    if (rc != OTA_OK)
        return http_send_store_error(r, rc, "product");
    if (gateway_token(r->app->server_key, p.product_key, tok) != 0)
        return http_send_error(r, 500, "internal", NULL, "The gateway token could not be made.");
    int64_t s = r->app->ddi ? r->app->ddi->sleep_s : 60;
    ddi_sleep_text(s, sleep);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "productKey", p.product_key, "tenant",
                          p.product_key, "url", r->app->cfg->public_url, "pollSeconds",
                          (json_int_t)s, "sleep", sleep, "gatewayToken", tok);
    OPENSSL_cleanse(tok, sizeof tok);
    return http_send_json(r, 200, o);
}

#define DDI_PATH "/{productKey}/controller/v1/{identifier}"

const http_route http_routes_ddi[] = {
    {"GET", "/api/v1/products/{productKey}/ddi", ddi_settings, HTTP_ADMIN, 0, 0, NULL, NULL},
    /* every device polls every interval: its access log line is debug */
    {"GET", DDI_PATH, ddi_poll, HTTP_DEVICE, HTTP_LOG_DEBUG, 0, NULL, NULL},
    {"GET", DDI_PATH "/deploymentBase/{actionId}", ddi_deployment, HTTP_DEVICE, 0, 0, NULL, NULL},
    {"POST", DDI_PATH "/deploymentBase/{actionId}/feedback", ddi_feedback_post, HTTP_DEVICE,
     HTTP_BODY_STREAM, DDI_BODY_MAX, body_start, body_stream},
    {"GET", DDI_PATH "/cancelAction/{actionId}", ddi_cancel_get, HTTP_DEVICE, 0, 0, NULL, NULL},
    {"POST", DDI_PATH "/cancelAction/{actionId}/feedback", ddi_cancel_feedback, HTTP_DEVICE,
     HTTP_BODY_STREAM, DDI_BODY_MAX, body_start, body_stream},
    {"PUT", DDI_PATH "/configData", ddi_config_put, HTTP_DEVICE, HTTP_BODY_STREAM, DDI_BODY_MAX,
     body_start, body_stream},
    HTTP_ROUTES_END,
};
