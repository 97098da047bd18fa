/*
 * webhook: the pure rules of webhooks (webhook.h says what each call promises).
 */
#include "core/webhook.h"

#include "ota_crypto.h"
#include "ota_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int grouped;
} events[HOOK_EV_COUNT] = {
#define X(id, name, grouped) {name, grouped},
    HOOK_EVENTS(X)
#undef X
};

const char *hook_event_name(hook_event ev)
{
    return (unsigned)ev < HOOK_EV_COUNT ? events[ev].name : "?";
}

int hook_event_parse(const char *name)
{
    for (int i = 0; i < HOOK_EV_COUNT; i++)
        if (i != HOOK_EV_PING && strcmp(events[i].name, name) == 0)
            return i;
    return -1;
}

int hook_event_grouped(hook_event ev)
{
    return (unsigned)ev < HOOK_EV_COUNT && events[ev].grouped;
}

int hook_url_check(const char *url, char *why, size_t whylen)
{
    size_t skip, len = strlen(url);
    if (len >= HOOK_URL_MAX) {
        snprintf(why, whylen, "The URL is at most %d bytes.", HOOK_URL_MAX - 1);
        return -1;
    }
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else {
        snprintf(why, whylen, "The URL starts with http:// or https://.");
        return -1;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(why, whylen, "The URL has no spaces or control characters.");
            return -1;
        }
    size_t host = strcspn(url + skip, "/?#");
    const char *at = memchr(url + skip, '@', host);
    if (at) {
        snprintf(why, whylen, "The URL carries no user or password (the secret signs each delivery).");
        return -1;
    }
    /* a host: not empty, not only a port */
    if (host == 0 || url[skip] == ':') {
        snprintf(why, whylen, "The URL names a host.");
        return -1;
    }
    return 0;
}

int hook_secret_check(const char *secret)
{
    size_t n = strlen(secret);
    if (n < HOOK_SECRET_MIN || n > HOOK_SECRET_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)secret[i] < 0x20 || (unsigned char)secret[i] > 0x7e)
            return -1;
    return 0;
}

int hook_events_join(const char *const *names, size_t n, char *out, size_t outlen,
                     const char **bad)
{
    int want[HOOK_EV_COUNT] = {0};
    size_t at = 0;
    *bad = NULL;
    out[0] = '\0';
    if (n == 0)
        return -1;
    if (n == 1 && strcmp(names[0], "*") == 0) {
        snprintf(out, outlen, "*");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int ev = hook_event_parse(names[i]);
        if (ev < 0) {
            *bad = names[i];
            return -1;
        }
        want[ev] = 1;
    }
    for (int i = 0; i < HOOK_EV_COUNT; i++) {
        if (!want[i])
            continue;
        int w = snprintf(out + at, outlen - at, "%s%s", at ? "," : "", events[i].name);
        if (w < 0 || (size_t)w >= outlen - at)
            return -1;
        at += (size_t)w;
    }
    return 0;
}

void hook_events_each(const char *text, void (*fn)(void *ud, const char *name), void *ud)
{
    char name[HOOK_EVENT_NAME_MAX];
    while (*text) {
        size_t n = strcspn(text, ",");
        if (n > 0 && n < sizeof name) {
            memcpy(name, text, n);
            name[n] = '\0';
            fn(ud, name);
        }
        text += n;
        if (*text == ',')
            text++;
    }
}

/* ---- request bodies ---------------------------------------------------------------------- */

/* An optional integer member in lo..hi: 0 (with *has and *out when present), or -1 with e. */
static int int_field(json_t *b, const char *name, long lo, long hi, int *has, int *out,
                     rq_error *e)
{
    json_t *v = json_object_get(b, name);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        rq_fail(e, 400, "invalid_type", name, "The field %s must be a whole number.", name);
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        rq_fail(e, 422, "invalid_field", name, "The field %s is from %ld to %ld.", name, lo, hi);
        return -1;
    }
    *has = 1;
    *out = (int)x;
    return 0;
}

static int events_field(json_t *b, hook_fields *out, rq_error *e)
{
    json_t *v = json_object_get(b, "events");
    const char *names[HOOK_EV_COUNT + 1], *bad;
    size_t i;
    json_t *x;
    if (!v)
        return 0;
    if (!json_is_array(v)) {
        rq_fail(e, 400, "invalid_type", "events", "The field events must be an array of names.");
        return -1;
    }
    if (json_array_size(v) == 0 || json_array_size(v) > HOOK_EV_COUNT) {
        rq_fail(e, 422, "invalid_field", "events",
                "The field events lists 1 to %d event names, or is [\"*\"] for all.", HOOK_EV_COUNT - 1);
        return -1;
    }
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x)) {
            rq_fail(e, 400, "invalid_type", "events", "Each event is a name (a string).");
            return -1;
        }
        names[i] = json_string_value(x);
    }
    if (hook_events_join(names, json_array_size(v), out->events, sizeof out->events, &bad) != 0) {
        rq_fail(e, 422, "invalid_field", "events", "Unknown event \"%.48s\" (docs/webhooks.md lists them).",
                bad ? bad : "");
        return -1;
    }
    out->has_events = 1;
    return 0;
}

int hook_fields_parse(const char *body, size_t len, int create, hook_fields *out, rq_error *e)
{
    static const char *const allowed[] = {"url",           "secret",      "events", "enabled",
                                          "groupMaxEvents", "groupSeconds", NULL};
    const char *url, *secret;
    char why[160];
    memset(out, 0, sizeof *out);
    out->enabled = 1;
    out->group_max = HOOK_GROUP_DEFAULT_EVENTS;
    out->group_seconds = HOOK_GROUP_DEFAULT_SECONDS;
    json_t *b = rq_json_object(body, len, allowed, e);
    if (!b)
        return -1;
    int rc = -1;
    if (rq_json_string(b, "url", create, &url, e) != 0 ||
        rq_json_string(b, "secret", create, &secret, e) != 0)
        goto out;
    if (url) {
        if (hook_url_check(url, why, sizeof why) != 0) {
            rq_fail(e, 422, "invalid_field", "url", "%s", why);
            goto out;
        }
        snprintf(out->url, sizeof out->url, "%s", url);
        out->has_url = 1;
    }
    if (secret) {
        if (hook_secret_check(secret) != 0) {
            rq_fail(e, 422, "invalid_field", "secret",
                    "The secret is %d to %d printable ASCII characters.", HOOK_SECRET_MIN,
                    HOOK_SECRET_MAX);
            goto out;
        }
        snprintf(out->secret, sizeof out->secret, "%s", secret);
        out->has_secret = 1;
    }
    if (create && !json_object_get(b, "events")) {
        rq_fail(e, 422, "missing_field", "events", "The field events is required.");
        goto out;
    }
    if (events_field(b, out, e) != 0)
        goto out;
    json_t *en = json_object_get(b, "enabled");
    if (en) {
        if (!json_is_boolean(en)) {
            rq_fail(e, 400, "invalid_type", "enabled", "The field enabled must be true or false.");
            goto out;
        }
        out->enabled = json_is_true(en);
        out->has_enabled = 1;
    }
    if (int_field(b, "groupMaxEvents", 1, HOOK_GROUP_MAX_EVENTS, &out->has_group_max,
                  &out->group_max, e) != 0 ||
        int_field(b, "groupSeconds", 0, HOOK_GROUP_MAX_SECONDS, &out->has_group_seconds,
                  &out->group_seconds, e) != 0)
        goto out;
    rc = 0;
out:
    json_decref(b);
    return rc;
}

/* ---- payloads ----------------------------------------------------------------------------- */

static json_t *id_str(int64_t id)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)id);
    return json_string(s);
}

/* The object's compact text with keys in insertion order (so a payload reads as built). */
static char *dump(json_t *o)
{
    if (!o)
        abort();
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        abort();
    return s;
}

char *hook_data_batch(int64_t batch_id, int64_t firmware_id, const char *product_key,
                      const char *firmware_version, const char *state, int64_t total)
{
    return dump(json_pack("{s:o, s:o, s:s, s:s, s:s, s:I}", "batchId", id_str(batch_id),
                          "firmwareId", id_str(firmware_id), "productKey", product_key,
                          "firmwareVersion", firmware_version, "state", state, "total",
                          (json_int_t)total));
}

char *hook_data_device(int64_t batch_id, const char *product_key, const char *identifier,
                       const char *firmware_version, const char *fail_reason, int retried)
{
    json_t *o = json_pack("{s:o, s:s, s:s, s:s, s:i}", "batchId", id_str(batch_id),
                          "productKey", product_key, "identifier", identifier,
                          "firmwareVersion", firmware_version, "retried", retried);
    if (o && fail_reason)
        json_object_set_new(o, "failReason", json_string(fail_reason));
    return dump(o);
}

char *hook_data_firmware(int64_t firmware_id, const char *product_key, const char *name,
                         const char *version, const char *sha256)
{
    return dump(json_pack("{s:o, s:s, s:s, s:s, s:s}", "firmwareId", id_str(firmware_id),
                          "productKey", product_key, "name", name, "firmwareVersion", version,
                          "sha256", sha256));
}

char *hook_data_ping(int64_t webhook_id)
{
    return dump(json_pack("{s:o}", "webhookId", id_str(webhook_id)));
}

static json_t *time_str(int64_t ms)
{
    char t[40];
    return json_string(ota_time_format_ms(ms, t, sizeof t));
}

char *hook_body(int64_t id, int grouped, const hook_item *items, size_t n)
{
    json_t *body;
    if (n == 0 || (!grouped && n != 1))
        return NULL;
    if (!grouped) {
        json_t *data = json_loads(items[0].data, 0, NULL);
        if (!json_is_object(data)) {
            json_decref(data);
            return NULL;
        }
        body = json_pack("{s:o, s:s, s:o, s:o}", "id", id_str(id), "event", items[0].name,
                         "time", time_str(items[0].time_ms), "data", data);
        return dump(body);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *data = json_loads(items[i].data, 0, NULL);
        if (!json_is_object(data)) {
            json_decref(data);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "event", items[i].name, "time",
                                             time_str(items[i].time_ms), "data", data));
    }
    body = json_pack("{s:o, s:o, s:o}", "id", id_str(id), "time", time_str(items[0].time_ms),
                     "events", arr);
    return dump(body);
}

void hook_event_header(const hook_item *items, size_t n, char *out, size_t outlen)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(items[j].name, items[i].name) == 0;
        if (seen)
            continue;
        int w = snprintf(out + at, outlen - at, "%s%s", at ? "," : "", items[i].name);
        if (w < 0 || (size_t)w >= outlen - at)
            return;
        at += (size_t)w;
    }
}

int hook_signature(const char *secret, const char *body, size_t len, char *out, size_t outlen)
{
    unsigned char mac[32];
    if (outlen < 7 + 64 + 1 ||
        ota_hmac_sha256((const unsigned char *)secret, strlen(secret), body, len, mac) != 0)
        return -1;
    memcpy(out, "sha256=", 7);
    ota_hex_encode(mac, sizeof mac, out + 7);
    return 0;
}

int64_t hook_retry_at(int attempt, int64_t now_ms, int64_t first_ms, double scale, double r)
{
    double base = 5000.0;
    if (scale <= 0)
        scale = 1;
    for (int i = 1; i < attempt && base < 3600000.0; i++)
        base *= 2;
    if (base > 3600000.0)
        base = 3600000.0;
    double wait = base * (0.8 + 0.4 * r) / scale;
    int64_t whole = (int64_t)wait; /* rounded up, without libm */
    int64_t at = now_ms + whole + (wait > (double)whole);
    if (at > first_ms + (int64_t)((double)HOOK_RETRY_HORIZON_MS / scale))
        return 0;
    return at;
}
