/*
 * devmsg: parsing of device -> platform messages and building of platform -> device
 * payloads (rules in devmsg.h). This is the first code that touches bytes a device
 * sent, so every input is bounded before it is parsed: topic length, payload size (jansson
 * never sees more than OTA_PAYLOAD_MAX bytes), and each field's length before it is
 * copied into the fixed-size result. Expected load: every device message of the fleet,
 * i.e. thousands per second at peak; one small jansson parse each.
 */
#include "devmsg.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *suffix;
    devmsg_kind kind;
} suffixes[] = {
    {OTA_TOPIC_UPGRADE_REPLY, DEVMSG_UPGRADE_REPLY},
    {OTA_TOPIC_PROGRESS, DEVMSG_PROGRESS},
    {OTA_TOPIC_VERSION, DEVMSG_VERSION},
    {OTA_TOPIC_GET, DEVMSG_GET},
};

const char *devmsg_kind_name(devmsg_kind k)
{
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (suffixes[i].kind == k)
            return suffixes[i].suffix;
    return "?";
}

static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static int version_char(char c)
{
    return id_char(c) || c == '.';
}

/* Copies the segment [s, s+n) into out if it is 1..max id characters. */
static int take_id(const char *s, size_t n, size_t max, char *out)
{
    if (n == 0 || n > max)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!id_char(s[i]))
            return -1;
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return 0;
}

ota_err devmsg_parse_topic(const char *topic, char *pk, char *id, devmsg_kind *kind)
{
    if (!topic)
        return OTA_ETOPIC;
    size_t len = strnlen(topic, OTA_TOPIC_MAX + 1);
    if (len > OTA_TOPIC_MAX || strncmp(topic, OTA_TOPIC_ROOT, OTA_TOPIC_ROOT_LEN) != 0)
        return OTA_ETOPIC;
    const char *p = topic + OTA_TOPIC_ROOT_LEN;
    const char *s1 = strchr(p, '/');
    if (!s1 || take_id(p, (size_t)(s1 - p), OTA_PRODUCT_KEY_MAX, pk) != 0)
        return OTA_ETOPIC;
    const char *q = s1 + 1;
    const char *s2 = strchr(q, '/');
    if (!s2 || take_id(q, (size_t)(s2 - q), OTA_IDENT_MAX, id) != 0)
        return OTA_ETOPIC;
    const char *suffix = s2 + 1;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcmp(suffix, suffixes[i].suffix) == 0) {
            if (kind)
                *kind = suffixes[i].kind;
            return OTA_OK;
        }
    }
    return OTA_ETOPIC;
}

/* Formats the reason (if wanted) and returns code. */
static int fail(char *reason, size_t reason_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *reason, size_t reason_len, int code, const char *fmt, ...)
{
    if (reason && reason_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, reason_len, fmt, ap);
        va_end(ap);
        /* one printable ASCII line, whatever jansson quoted from the payload */
        for (char *p = reason; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
    }
    return code;
}

/* Number of UTF-8 code points (jansson has validated the encoding). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Validates a firmwareVersion string value into out. */
static int take_fw_version(const json_t *v, const char *where, char *out, char *reason,
                           size_t reason_len)
{
    if (!json_is_string(v))
        return fail(reason, reason_len, OTA_ETYPE, "%s must be a string, got %s", where,
                    json_type_name(v));
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > OTA_VERSION_MAX)
        return fail(reason, reason_len, OTA_EVALUE, "%s must have 1..%d characters, got %zu", where,
                    OTA_VERSION_MAX, n);
    for (size_t i = 0; i < n; i++)
        if (!version_char(s[i]))
            return fail(reason, reason_len, OTA_EVALUE,
                        "%s may contain only letters, digits, '_', '-' and '.'", where);
    memcpy(out, s, n + 1);
    return OTA_OK;
}

static int parse_body(json_t *root, devmsg_msg *out, const char *t, char *reason, size_t rl)
{
    json_t *v = json_object_get(root, "msgId");
    if (!v)
        return fail(reason, rl, OTA_EMISSING, "%s: \"msgId\" is missing", t);
    if (!json_is_string(v))
        return fail(reason, rl, OTA_ETYPE, "%s: \"msgId\" must be a string, got %s", t,
                    json_type_name(v));
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > OTA_MSGID_MAX)
        return fail(reason, rl, OTA_EVALUE, "%s: \"msgId\" must have 1..%d bytes, got %zu", t,
                    OTA_MSGID_MAX, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(reason, rl, OTA_EVALUE, "%s: \"msgId\" contains a control character", t);
    memcpy(out->msg_id, s, n + 1);

    v = json_object_get(root, "version");
    if (!v)
        return fail(reason, rl, OTA_EMISSING, "%s: \"version\" is missing", t);
    if (!json_is_string(v))
        return fail(reason, rl, OTA_ETYPE, "%s: \"version\" must be a string, got %s", t,
                    json_type_name(v));
    if (strcmp(json_string_value(v), OTA_PROTOCOL_VERSION) != 0 ||
        json_string_length(v) != sizeof OTA_PROTOCOL_VERSION - 1)
        return fail(reason, rl, OTA_EVALUE, "%s: \"version\" must be \"1.0\"", t);

    json_t *data = json_object_get(root, "data");
    switch (out->kind) {
    case DEVMSG_UPGRADE_REPLY:
        v = json_object_get(root, "code");
        if (!v)
            return fail(reason, rl, OTA_EMISSING, "%s: \"code\" is missing", t);
        if (!json_is_integer(v))
            return fail(reason, rl, OTA_ETYPE, "%s: \"code\" must be an integer, got %s", t,
                        json_type_name(v));
        {
            json_int_t c = json_integer_value(v);
            if (c < -2147483647 || c > 2147483647)
                return fail(reason, rl, OTA_EVALUE, "%s: \"code\" is out of range", t);
            out->code = (int)c;
        }
        return OTA_OK;

    case DEVMSG_PROGRESS:
        if (!data)
            return fail(reason, rl, OTA_EMISSING, "%s: \"data\" is missing", t);
        if (!json_is_object(data))
            return fail(reason, rl, OTA_ETYPE, "%s: \"data\" must be an object, got %s", t,
                        json_type_name(data));
        v = json_object_get(data, "step");
        if (!v)
            return fail(reason, rl, OTA_EMISSING, "%s: \"data.step\" is missing", t);
        if (!json_is_integer(v))
            return fail(reason, rl, OTA_ETYPE, "%s: \"data.step\" must be an integer, got %s", t,
                        json_type_name(v));
        {
            json_int_t st = json_integer_value(v);
            if (st < -4 || st > 100 || st == 0)
                return fail(reason, rl, OTA_EVALUE,
                            "%s: \"data.step\" must be -4..-1 or 1..100, got %lld", t,
                            (long long)st);
            out->step = (int)st;
        }
        v = json_object_get(data, "desc");
        if (v && !json_is_null(v)) {
            if (!json_is_string(v))
                return fail(reason, rl, OTA_ETYPE, "%s: \"data.desc\" must be a string, got %s", t,
                            json_type_name(v));
            n = json_string_length(v);
            s = json_string_value(v);
            if (n > DEVMSG_DESC_BYTES || utf8_chars(s, n) > OTA_PROGRESS_DESC_MAX)
                return fail(reason, rl, OTA_EVALUE,
                            "%s: \"data.desc\" must have at most %d characters", t,
                            OTA_PROGRESS_DESC_MAX);
            if (memchr(s, '\0', n))
                return fail(reason, rl, OTA_EVALUE, "%s: \"data.desc\" contains NUL", t);
            memcpy(out->desc, s, n + 1);
            out->has_desc = 1;
        }
        return OTA_OK;

    case DEVMSG_VERSION:
        if (!data)
            return fail(reason, rl, OTA_EMISSING, "%s: \"data\" is missing", t);
        if (!json_is_object(data))
            return fail(reason, rl, OTA_ETYPE, "%s: \"data\" must be an object, got %s", t,
                        json_type_name(data));
        v = json_object_get(data, "firmwareVersion");
        if (!v)
            return fail(reason, rl, OTA_EMISSING, "%s: \"data.firmwareVersion\" is missing", t);
        {
            char where[64];
            snprintf(where, sizeof where, "%s: \"data.firmwareVersion\"", t);
            int rc = take_fw_version(v, where, out->firmware_version, reason, rl);
            if (rc != OTA_OK)
                return rc;
        }
        out->has_version = 1;
        return OTA_OK;

    case DEVMSG_GET:
        if (!data || json_is_null(data))
            return OTA_OK;
        if (!json_is_object(data))
            return fail(reason, rl, OTA_ETYPE, "%s: \"data\" must be an object, got %s", t,
                        json_type_name(data));
        v = json_object_get(data, "firmwareVersion");
        if (v && !json_is_null(v)) {
            char where[64];
            snprintf(where, sizeof where, "%s: \"data.firmwareVersion\"", t);
            int rc = take_fw_version(v, where, out->firmware_version, reason, rl);
            if (rc != OTA_OK)
                return rc;
            out->has_version = 1;
        }
        return OTA_OK;
    }
    return fail(reason, rl, OTA_ETOPIC, "unknown message kind");
}

ota_err devmsg_parse(const char *topic, const void *payload, size_t len, devmsg_msg *out,
                     char *reason, size_t reason_len)
{
    memset(out, 0, sizeof *out);
    if (reason && reason_len)
        reason[0] = '\0';
    if (devmsg_parse_topic(topic, out->product_key, out->identifier, &out->kind) != OTA_OK) {
        out->product_key[0] = out->identifier[0] = '\0';
        return fail(reason, reason_len, OTA_ETOPIC,
                    "topic is not /sys/{productKey}/{identifier}/ota/... with a known suffix");
    }
    const char *t = devmsg_kind_name(out->kind);
    if (len > OTA_PAYLOAD_MAX)
        return fail(reason, reason_len, OTA_ETOOBIG, "%s: payload of %zu bytes exceeds %d", t, len,
                    OTA_PAYLOAD_MAX);
    if (!payload && len)
        return fail(reason, reason_len, OTA_EJSON, "%s: no payload", t);
    json_error_t err;
    json_t *root = json_loadb(payload ? payload : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return fail(reason, reason_len, OTA_EJSON, "%s: invalid JSON at byte %d: %.80s", t,
                    err.position, err.text);
    int rc;
    if (!json_is_object(root))
        rc = fail(reason, reason_len, OTA_EJSON, "%s: payload must be a JSON object, got %s", t,
                  json_type_name(root));
    else
        rc = parse_body(root, out, t, reason, reason_len);
    json_decref(root);
    return rc;
}

int devmsg_topic(char *out, size_t outlen, const char *product_key, const char *identifier,
                 const char *suffix)
{
    int n = snprintf(out, outlen, OTA_TOPIC_ROOT "%s/%s/%s", product_key, identifier, suffix);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- builders ---- */

static int nonempty(const char *s)
{
    return s && s[0];
}

static json_t *upgrade_data(const devmsg_upgrade *u)
{
    if (!u || !nonempty(u->policy) || !nonempty(u->firmware_version) || !nonempty(u->url) ||
        !nonempty(u->md5) || !nonempty(u->sha256) || !nonempty(u->batch_id) || u->size < 0)
        return NULL;
    int is_signed = nonempty(u->signature);
    if (is_signed && (!nonempty(u->manifest) || !nonempty(u->key_id)))
        return NULL;
    json_t *d = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "policy", u->policy, "size",
                          (json_int_t)u->size, "firmwareVersion", u->firmware_version, "url",
                          u->url, "sign", u->md5, "signMethod", "Md5", "sha256", u->sha256,
                          "batchId", u->batch_id);
    if (d && is_signed &&
        json_object_update_new(d, json_pack("{s:s, s:s, s:s, s:s}", "manifest", u->manifest,
                                            "signature", u->signature, "keyId", u->key_id,
                                            "signAlgorithm", "Ed25519")) != 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* Serializes and frees root (which may be NULL). */
static char *dump(json_t *root)
{
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

char *devmsg_build_upgrade(const char *msg_id, const devmsg_upgrade *u)
{
    if (!nonempty(msg_id))
        return NULL;
    json_t *data = upgrade_data(u);
    if (!data)
        return NULL;
    return dump(json_pack("{s:s, s:s, s:o}", "msgId", msg_id, "version", OTA_PROTOCOL_VERSION, "data", data));
}

char *devmsg_build_get_reply(const char *msg_id, const devmsg_upgrade *u)
{
    if (!nonempty(msg_id))
        return NULL;
    json_t *data = upgrade_data(u);
    if (!data)
        return NULL;
    return dump(json_pack("{s:s, s:s, s:i, s:o}", "msgId", msg_id, "version", OTA_PROTOCOL_VERSION, "code", 200,
                          "data", data));
}

char *devmsg_build_get_reply_404(const char *msg_id, const char *firmware_version)
{
    if (!nonempty(msg_id))
        return NULL;
    char msg[160];
    if (nonempty(firmware_version))
        snprintf(msg, sizeof msg, "FirmwareVersion %.100s not existed", firmware_version);
    else
        snprintf(msg, sizeof msg, "No pending upgrade");
    return dump(json_pack("{s:s, s:s, s:i, s:s}", "msgId", msg_id, "version", OTA_PROTOCOL_VERSION, "code", 404,
                          "message", msg));
}
