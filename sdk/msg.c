/*
 * msg: the JSON messages of docs/device-protocol.md, built and read with jansson. Every
 * outgoing message is {"msgId","version":"1.0",...} built into a stack buffer of
 * OTASDK_MSG_MAX bytes (no heap buffer outlives the call); every incoming job is copied
 * into the fixed-size fields of otasdk_job after its bounds are checked. Load: a handful
 * of messages per upgrade plus one progress report every progress_every percent.
 */
#include "sdk_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void sdk__msg_id(otasdk_ctx *c, char *out)
{
    uint32_t n;
    sdk__lock(c);
    n = ++c->msg_counter;
    sdk__unlock(c);
    /* boot time + counter: unique per device across restarts of a running clock */
    snprintf(out, OTASDK_MSGID_MAX + 1, "%llx-%lu", (unsigned long long)c->boot_ms,
             (unsigned long)n);
}

int sdk__send(otasdk_ctx *c, const char *suffix, const char *msg_id, int code, json_t *data)
{
    char id[OTASDK_MSGID_MAX + 1];
    char topic[OTASDK_TOPIC_MAX];
    char buf[OTASDK_MSG_MAX];
    json_t *m;
    size_t n;
    int rc = otasdk_topic(c, suffix, topic, sizeof topic);
    if (rc != OTASDK_OK)
        return rc;
    if (!msg_id) {
        sdk__msg_id(c, id);
        msg_id = id;
    }
    m = json_object();
    if (!m)
        return OTASDK_ERR_NOMEM;
    if (json_object_set_new(m, "msgId", json_string(msg_id)) != 0 ||
        json_object_set_new(m, "version", json_string(OTA_PROTOCOL_VERSION)) != 0 ||
        (code >= 0 && json_object_set_new(m, "code", json_integer(code)) != 0) ||
        (data && json_object_set(m, "data", data) != 0)) {
        json_decref(m);
        return OTASDK_ERR_NOMEM;
    }
    n = json_dumpb(m, buf, sizeof buf, JSON_COMPACT);
    json_decref(m);
    if (n == 0)
        return OTASDK_ERR_NOMEM;
    if (n > sizeof buf)
        return OTASDK_ERR_SHORT_BUFFER;
    if (c->cfg.mqtt.publish(c->cfg.mqtt.user, topic, buf, n) != 0) {
        sdk__log(c, OTASDK_LOG_WARN, "publish to %s failed", topic);
        return OTASDK_ERR_MQTT;
    }
    sdk__log(c, OTASDK_LOG_DEBUG, "sent %s %.*s", suffix, (int)n, buf);
    return OTASDK_OK;
}

int sdk__send_progress(otasdk_ctx *c, int step, const char *desc)
{
    char d[OTASDK_DESC_MAX + 1];
    json_t *data;
    int rc;
    snprintf(d, sizeof d, "%s", desc ? desc : "");
    data = json_pack("{s:i,s:s}", "step", step, "desc", d);
    if (!data)
        return OTASDK_ERR_NOMEM;
    rc = sdk__send(c, OTA_TOPIC_PROGRESS, NULL, -1, data);
    json_decref(data);
    if (rc != OTASDK_OK)
        sdk__log(c, OTASDK_LOG_WARN, "progress %d not reported: %s", step, otasdk_strerror(rc));
    return rc;
}

int sdk__send_version(otasdk_ctx *c, const char *version)
{
    json_t *data = json_pack("{s:s}", "firmwareVersion", version);
    int rc;
    if (!data)
        return OTASDK_ERR_NOMEM;
    rc = sdk__send(c, OTA_TOPIC_VERSION, NULL, -1, data);
    json_decref(data);
    if (rc == OTASDK_OK)
        sdk__log(c, OTASDK_LOG_INFO, "reported version %s", version);
    return rc;
}

/* Copies string member name of o into out (cap bytes incl. NUL). 0, or -1 when absent,
 * not a string, empty or too long. */
static int get_str(json_t *o, const char *name, char *out, size_t cap)
{
    json_t *v = json_object_get(o, name);
    size_t n;
    if (!json_is_string(v))
        return -1;
    n = json_string_length(v);
    if (n == 0 || n >= cap || strlen(json_string_value(v)) != n)
        return -1;
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

static int is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return 0;
    }
    return 1;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
}

int sdk__parse_job(json_t *data, otasdk_job *job)
{
    char policy[16], method[16];
    json_t *size;
    otasdk_job j;
    memset(&j, 0, sizeof j);
    if (!json_is_object(data))
        return OTASDK_ERR_PARSE;
    if (get_str(data, "policy", policy, sizeof policy) != 0)
        snprintf(policy, sizeof policy, "standard");
    if (strcmp(policy, "standard") == 0)
        j.policy = OTASDK_POLICY_STANDARD;
    else if (strcmp(policy, "silent") == 0)
        j.policy = OTASDK_POLICY_SILENT;
    else
        return OTASDK_ERR_PARSE;
    size = json_object_get(data, "size");
    if (json_is_integer(size) && json_integer_value(size) > 0)
        j.size = (uint64_t)json_integer_value(size);
    else
        return OTASDK_ERR_PARSE;
    if (get_str(data, "firmwareVersion", j.version, sizeof j.version) != 0 ||
        get_str(data, "url", j.url, sizeof j.url) != 0 ||
        get_str(data, "sign", j.md5, sizeof j.md5) != 0 || !is_hex(j.md5, 32))
        return OTASDK_ERR_PARSE;
    if (get_str(data, "signMethod", method, sizeof method) == 0 && strcasecmp(method, "md5") != 0)
        return OTASDK_ERR_PARSE;
    if (json_object_get(data, "sha256") &&
        (get_str(data, "sha256", j.sha256, sizeof j.sha256) != 0 || !is_hex(j.sha256, 64)))
        return OTASDK_ERR_PARSE;
    if (json_object_get(data, "batchId") &&
        get_str(data, "batchId", j.batch_id, sizeof j.batch_id) != 0) {
        /* batchId may be a number on some platforms */
        json_t *b = json_object_get(data, "batchId");
        if (!json_is_integer(b))
            return OTASDK_ERR_PARSE;
        snprintf(j.batch_id, sizeof j.batch_id, "%lld", (long long)json_integer_value(b));
    }
    if (json_object_get(data, "signature") &&
        (get_str(data, "manifest", j.manifest, sizeof j.manifest) != 0 ||
         get_str(data, "signature", j.signature, sizeof j.signature) != 0))
        return OTASDK_ERR_PARSE;
    if (json_object_get(data, "keyId"))
        get_str(data, "keyId", j.key_id, sizeof j.key_id);
    lower(j.md5);
    lower(j.sha256);
    *job = j; /* msg_id is the caller's to fill */
    return OTASDK_OK;
}
