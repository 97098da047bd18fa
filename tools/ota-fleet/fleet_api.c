/*
 * fleet_api: what ota-fleet asks of the management API (docs/api.md): create a
 * product, import the fleet as NDJSON, and, from a controller thread, create a batch once
 * the fleet is ready and poll it until it ends, timing create -> completed. --api may list
 * several otad (URL,URL,...): a request that cannot connect goes to the next. Blocking
 * libcurl easy calls; only the controller thread runs while the event loop works, so the
 * loop never waits for HTTP.
 */
#include "fleet.h"

#include "ota_log.h"
#include "ota_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESP_MAX (64u << 20) /* ceiling of a response body we keep */

static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    fleet_http_resp *r = ud;
    size_t n = size * nmemb;
    if (r->len + n > RESP_MAX)
        return 0;
    char *b = realloc(r->body, r->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, ptr, n);
    r->len += n;
    b[r->len] = 0;
    r->body = b;
    return n;
}

/* Index of the --api URL in use (of a comma-separated list): requests go there until one
 * cannot connect, then to the next. */
static atomic_int api_cur;

/* The i-th URL of o->api_url's comma-separated list into out (no trailing '/'). Returns the
 * number of URLs in the list. */
static int api_base(const fleet_opts *o, int i, char *out, size_t len)
{
    int n = 0;
    out[0] = 0;
    for (const char *p = o->api_url; *p; n++) {
        size_t l = strcspn(p, ",");
        if (n == i) {
            while (l > 0 && p[l - 1] == '/')
                l--;
            snprintf(out, len, "%.*s", (int)l, p);
        }
        p += l;
        if (*p == ',')
            p++;
    }
    return n;
}

int fleet_api_request(const fleet_opts *o, const char *method, const char *path,
                      const char *content_type, const char *body, size_t len, fleet_http_resp *r)
{
    char base[512], url[1024] = "", auth[200], ct[128];
    struct curl_slist *h = NULL;
    CURLcode res = CURLE_FAILED_INIT;
    memset(r, 0, sizeof *r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
    h = curl_slist_append(h, auth);
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    int cur = atomic_load(&api_cur);
    int n = api_base(o, 0, base, sizeof base);
    for (int k = 0; k < (n > 0 ? n : 1); k++) {
        int i = n > 0 ? (cur + k) % n : 0;
        CURL *c = curl_easy_init();
        if (!c)
            break;
        api_base(o, i, base, sizeof base);
        snprintf(url, sizeof url, "%s%s", base, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (o->cafile[0])
            curl_easy_setopt(c, CURLOPT_CAINFO, o->cafile);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        res = curl_easy_perform(c);
        if (res == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_cleanup(c);
        /* nothing was sent when the connection failed: the next URL may take the request */
        if (res != CURLE_COULDNT_CONNECT || k + 1 >= n)
            break;
        OTA_WARN("fleet: %s: %s; trying the next --api URL", url, curl_easy_strerror(res));
        fleet_http_resp_free(r);
        atomic_store(&api_cur, (i + 1) % n);
    }
    if (res != CURLE_OK)
        OTA_ERROR("fleet: %s %s: %s", method, url, curl_easy_strerror(res));
    curl_slist_free_all(h);
    return res == CURLE_OK ? 0 : -1;
}

void fleet_http_resp_free(fleet_http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int fleet_api_create_product(fleet_opts *o)
{
    fleet_http_resp r;
    json_t *j = json_pack("{s:s,s:s}", "productName", o->create_product, "description",
                          "ota-fleet simulated devices");
    char *body = json_dumps(j, 0);
    json_decref(j);
    int rc = -1;
    if (body && fleet_api_request(o, "POST", "/api/v1/products", "application/json", body,
                                  strlen(body), &r) == 0) {
        json_t *a = r.status == 201 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
        const char *pk = json_string_value(json_object_get(a, "productKey"));
        if (pk && strlen(pk) < sizeof o->product_key) {
            snprintf(o->product_key, sizeof o->product_key, "%s", pk);
            rc = 0;
        } else {
            OTA_ERROR("fleet: create product: HTTP %ld %s", r.status, r.body ? r.body : "");
        }
        json_decref(a);
        fleet_http_resp_free(&r);
    }
    free(body);
    return rc;
}

int fleet_api_import(const fleet_opts *o)
{
    char path[256], line[256];
    size_t cap = (size_t)o->n_devices * 72 + 1, len = 0;
    char *buf = malloc(cap);
    int rc = -1;
    if (!buf)
        return -1;
    for (uint32_t i = 0; i < o->n_devices; i++) {
        int n = snprintf(line, sizeof line, "{\"identifier\":\"%s%06u\",\"deviceName\":\"%s%06u\"}\n",
                         o->prefix, o->first + i, o->prefix, o->first + i);
        if (n < 0 || len + (size_t)n >= cap)
            goto out;
        memcpy(buf + len, line, (size_t)n);
        len += (size_t)n;
    }
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", o->product_key);
    fleet_http_resp r;
    int64_t t = ota_time_mono_ms();
    if (fleet_api_request(o, "POST", path, "application/x-ndjson", buf, len, &r) != 0)
        goto out;
    if (r.status == 200 || r.status == 201) {
        OTA_INFO("fleet: imported %u devices in %lld ms: %s", o->n_devices,
                 (long long)(ota_time_mono_ms() - t), r.body ? r.body : "");
        rc = 0;
    } else if (r.status == 409) {
        /* all or nothing: a duplicate means this fleet (or part of it) is registered already */
        OTA_WARN("fleet: import answered 409 (already registered?): %s", r.body ? r.body : "");
        rc = 0;
    } else {
        OTA_ERROR("fleet: import: HTTP %ld %s", r.status, r.body ? r.body : "");
    }
    fleet_http_resp_free(&r);
out:
    free(buf);
    return rc;
}

void fleet_api_batch_bind(fleet_batch_ctl *c, const fleet_opts *o)
{
    c->o = o;
    snprintf(c->state, sizeof c->state, "not_created");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void id_text(json_t *v, char *out, size_t len)
{
    if (json_is_string(v))
        snprintf(out, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else
        out[0] = 0;
}

void *fleet_api_batch_thread(void *arg)
{
    fleet_batch_ctl *c = arg;
    const fleet_opts *o = c->o;
    char path[256];
    fleet_http_resp r;
    json_t *body = NULL, *a = NULL;
    char *txt = NULL;

    while (atomic_load(&c->ready_to_start) == 0)
        sleep_ms(5);
    if (atomic_load(&c->ready_to_start) != 1)
        goto fail;
    body = json_pack("{s:s,s:i,s:s,s:i,s:i}", "scope", "all", "validityDays", 1, "policy",
                     "standard", "timeoutMinutes", 10, "retryTimes", 0);
    if (o->batch_json[0]) {
        json_error_t e;
        json_t *extra = json_loads(o->batch_json, 0, &e);
        if (!json_is_object(extra)) {
            OTA_ERROR("fleet: --batch-json is not a JSON object: %s", e.text);
            json_decref(extra);
            goto fail;
        }
        json_object_update(body, extra);
        json_decref(extra);
    }
    txt = json_dumps(body, 0);
    snprintf(path, sizeof path, "/api/v1/firmwares/%lld/batches", o->batch_firmware);
    c->t_create = ota_time_mono_ms() - c->t0;
    c->wall_create = ota_time_now_ms();
    if (!txt || fleet_api_request(o, "POST", path, "application/json", txt, strlen(txt), &r) != 0)
        goto fail;
    c->t_created = ota_time_mono_ms() - c->t0;
    a = json_loads(r.body ? r.body : "", 0, NULL);
    if (r.status != 201 || !a) {
        OTA_ERROR("fleet: create batch: HTTP %ld %s", r.status, r.body ? r.body : "");
        fleet_http_resp_free(&r);
        goto fail;
    }
    fleet_http_resp_free(&r);
    id_text(json_object_get(a, "batchId"), c->batch_id, sizeof c->batch_id);
    c->total = json_integer_value(json_object_get(a, "total"));
    snprintf(c->state, sizeof c->state, "in_progress");
    OTA_INFO("fleet: batch %s created with %lld devices in %lld ms", c->batch_id, c->total,
             (long long)(c->t_created - c->t_create));
    json_decref(a);
    a = NULL;
    snprintf(path, sizeof path, "/api/v1/batches/%s", c->batch_id);
    for (;;) {
        sleep_ms(20);
        if (atomic_load(&c->ready_to_start) == 2)
            goto fail;
        if (fleet_api_request(o, "GET", path, NULL, NULL, 0, &r) != 0)
            continue;
        a = json_loads(r.body ? r.body : "", 0, NULL);
        fleet_http_resp_free(&r);
        const char *st = json_string_value(json_object_get(a, "state"));
        if (st && strcmp(st, "in_progress") != 0) {
            int64_t s_ms = 0, e_ms = 0;
            c->t_end = ota_time_mono_ms() - c->t0;
            c->wall_end = ota_time_now_ms();
            snprintf(c->state, sizeof c->state, "%s", st);
            c->total = json_integer_value(json_object_get(a, "total"));
            c->succeeded = json_integer_value(json_object_get(a, "succeeded"));
            c->failed_devices = json_integer_value(json_object_get(a, "failed"));
            const char *s = json_string_value(json_object_get(a, "startTime"));
            const char *e = json_string_value(json_object_get(a, "endTime"));
            if (s && e && ota_time_parse(s, &s_ms) == 0 && ota_time_parse(e, &e_ms) == 0)
                c->server_ms = e_ms - s_ms;
            json_decref(a);
            break;
        }
        json_decref(a);
        a = NULL;
    }
    json_decref(body);
    free(txt);
    atomic_store(&c->done, 1);
    return NULL;
fail:
    c->failed = 1;
    json_decref(body);
    json_decref(a);
    free(txt);
    atomic_store(&c->done, 1);
    return NULL;
}
