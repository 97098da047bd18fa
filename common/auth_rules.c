/*
 * auth_rules: name checks, the device ACL rule and the presence payloads of the broker
 * plugin (see ota_auth_rules.h). Called on every CONNECT, every ACL check (each publish and
 * each delivery to a device) and every presence change, so everything here is a bounded
 * scan of short strings without allocation.
 */
#include "ota_auth_rules.h"

#include <stdio.h>
#include <string.h>

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int auth_name_ok(const char *s, size_t max)
{
    size_t i;
    if (!s)
        return 0;
    for (i = 0; i <= max && s[i]; i++) {
        if (!name_char(s[i]))
            return 0;
    }
    return i >= 1 && i <= max;
}

int auth_split_device(const char *username, char *pk, char *id)
{
    size_t len, dot;
    const char *d;
    if (!username)
        return -1;
    len = strnlen(username, OTA_CLIENT_ID_MAX + 1);
    if (len > OTA_CLIENT_ID_MAX)
        return -1;
    d = memchr(username, '.', len);
    if (!d)
        return -1;
    dot = (size_t)(d - username);
    if (dot < 1 || dot > OTA_PRODUCT_KEY_MAX || len - dot - 1 < 1 || len - dot - 1 > OTA_IDENT_MAX)
        return -1;
    memcpy(pk, username, dot);
    pk[dot] = '\0';
    memcpy(id, d + 1, len - dot - 1);
    id[len - dot - 1] = '\0';
    if (!auth_name_ok(pk, OTA_PRODUCT_KEY_MAX) || !auth_name_ok(id, OTA_IDENT_MAX))
        return -1;
    return 0;
}

int auth_device_prefix(const char *username, char *out, size_t outlen)
{
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    int n;
    if (auth_split_device(username, pk, id) != 0)
        return -1;
    n = snprintf(out, outlen, OTA_TOPIC_ROOT "%s/%s/", pk, id);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return n;
}

int auth_device_topic_ok(const char *username, const char *topic)
{
    char prefix[OTA_DEVICE_PREFIX_MAX + 1];
    int n;
    if (!topic)
        return 0;
    n = auth_device_prefix(username, prefix, sizeof prefix);
    if (n < 0)
        return 0;
    return strncmp(topic, prefix, (size_t)n) == 0;
}

int auth_upstream_identifier(const char *topic, char *id)
{
    static const char *const up[] = {OTA_TOPIC_UPGRADE_REPLY, OTA_TOPIC_PROGRESS,
                                     OTA_TOPIC_VERSION, OTA_TOPIC_GET};
    const char *pk, *ident, *suffix;
    size_t pk_len, id_len;
    if (!topic || strncmp(topic, OTA_TOPIC_ROOT, OTA_TOPIC_ROOT_LEN) != 0)
        return -1;
    pk = topic + OTA_TOPIC_ROOT_LEN;
    pk_len = strcspn(pk, "/");
    if (pk[pk_len] != '/' || pk_len < 1 || pk_len > OTA_PRODUCT_KEY_MAX)
        return -1;
    ident = pk + pk_len + 1;
    id_len = strcspn(ident, "/");
    if (ident[id_len] != '/' || id_len < 1 || id_len > OTA_IDENT_MAX)
        return -1;
    suffix = ident + id_len + 1;
    for (size_t i = 0; i < pk_len; i++)
        if (!name_char(pk[i]))
            return -1;
    for (size_t i = 0; i < id_len; i++)
        if (!name_char(ident[i]))
            return -1;
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        if (strcmp(suffix, up[i]) == 0) {
            memcpy(id, ident, id_len);
            id[id_len] = '\0';
            return 0;
        }
    }
    return -1;
}

int auth_route_topic(const char *topic, int part, char *out, size_t outlen)
{
    if (!topic || part < 0 || part >= OTA_PARTS_N)
        return -1;
    int n = snprintf(out, outlen, OTA_TOPIC_PART_PREFIX "%d%s", part, topic);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return n;
}

int auth_presence_event(char *out, size_t outlen, bool online, const char *cid, int64_t t_ms)
{
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    int n;
    if (auth_split_device(cid, pk, id) != 0)
        return -1;
    n = snprintf(out, outlen, "{\"e\":\"%s\",\"c\":\"%s.%s\",\"t\":%lld}", online ? "on" : "off",
                 pk, id, (long long)t_ms);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return n;
}

/* Skips JSON whitespace from p up to end. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

int auth_parse_sync_nonce(const void *payload, size_t len, char *nonce)
{
    static const char key[] = "\"nonce\"";
    const char *p = payload, *end, *k = NULL;
    size_t i;
    nonce[0] = '\0';
    if (!payload || len == 0)
        return 0;
    if (len > 4096)
        return -1;
    end = p + len;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    for (const char *q = p; q + sizeof key - 1 <= end; q++) {
        if (memcmp(q, key, sizeof key - 1) == 0) {
            k = q;
            break;
        }
    }
    if (!k)
        return 0;
    p = skip_ws(k + sizeof key - 1, end);
    if (p >= end || *p != ':')
        return -1;
    p = skip_ws(p + 1, end);
    if (p >= end || *p != '"')
        return -1;
    p++;
    for (i = 0; p + i < end && p[i] != '"'; i++) {
        if (i >= OTA_NONCE_MAX || !name_char(p[i]))
            return -1;
        nonce[i] = p[i];
    }
    if (p + i >= end)
        return -1;
    nonce[i] = '\0';
    return 0;
}

size_t auth_snapshot_size(size_t n)
{
    return 160 + OTA_NONCE_MAX + n * (OTA_CLIENT_ID_MAX + 3);
}

int auth_snapshot_part(char *out, size_t outlen, const char *nonce, unsigned part, bool last,
                       const char *const *cids, size_t n, int64_t t_ms)
{
    size_t pos;
    int w;
    if (!nonce || strnlen(nonce, OTA_NONCE_MAX + 1) > OTA_NONCE_MAX ||
        outlen < auth_snapshot_size(n))
        return -1;
    for (size_t i = 0; nonce[i]; i++) {
        if (!name_char(nonce[i]))
            return -1;
    }
    w = snprintf(
        out, outlen,
        "{\"e\":\"snapshot\",\"nonce\":\"%s\",\"part\":%u,\"last\":%s,\"t\":%lld,\"clients\":[",
        nonce, part, last ? "true" : "false", (long long)t_ms);
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    pos = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        size_t l = strnlen(cids[i], OTA_CLIENT_ID_MAX + 1);
        if (l > OTA_CLIENT_ID_MAX || pos + l + 4 >= outlen)
            return -1;
        if (i > 0)
            out[pos++] = ',';
        out[pos++] = '"';
        memcpy(out + pos, cids[i], l);
        pos += l;
        out[pos++] = '"';
    }
    if (pos + 3 > outlen)
        return -1;
    out[pos++] = ']';
    out[pos++] = '}';
    out[pos] = '\0';
    return (int)pos;
}
