/*
 * mqttc_proto: topic and presence parsing, the string set and snapshot assembly used by
 * the server's MQTT client (see mqttc_proto.h). Inputs come from the network: every field
 * is bounded before it is copied. Load: one parse per device message; a snapshot of a
 * million devices is a million set insertions, once per (re)connect.
 */
#include "mqttc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Copies the segment [s, s+len) into out when it is 1..max name characters. */
static int copy_name(const char *s, size_t len, size_t max, char *out)
{
    if (len < 1 || len > max)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!name_char(s[i]))
            return -1;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

int mqttc_parse_topic(const char *topic, char *pk, char *id, const char **suffix)
{
    const char *p, *slash, *end;
    size_t len;
    if (!topic)
        return -1;
    len = strnlen(topic, OTA_TOPIC_MAX + 1);
    if (len > OTA_TOPIC_MAX || strncmp(topic, OTA_TOPIC_ROOT, OTA_TOPIC_ROOT_LEN) != 0)
        return -1;
    end = topic + len;
    p = topic + OTA_TOPIC_ROOT_LEN;
    slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || copy_name(p, (size_t)(slash - p), OTA_PRODUCT_KEY_MAX, pk) != 0)
        return -1;
    p = slash + 1;
    slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || copy_name(p, (size_t)(slash - p), OTA_IDENT_MAX, id) != 0)
        return -1;
    p = slash + 1;
    len = (size_t)(end - p);
    if (len < 1 || len > OTA_TOPIC_SUFFIX_MAX || p[len - 1] == '/')
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '+' || p[i] == '#')
            return -1;
    }
    *suffix = p;
    return 0;
}

const char *mqttc_unroute(const char *topic, int *part)
{
    static const size_t plen = sizeof OTA_TOPIC_PART_PREFIX - 1;
    *part = -1;
    if (!topic || strncmp(topic, OTA_TOPIC_PART_PREFIX, plen) != 0)
        return topic;
    const char *p = topic + plen;
    int n = 0, digits = 0;
    while (p[digits] >= '0' && p[digits] <= '9' && digits < 3)
        n = n * 10 + (p[digits++] - '0');
    if (digits < 1 || digits > 2 || (digits == 2 && p[0] == '0') || n >= OTA_PARTS_N ||
        p[digits] != '/')
        return NULL;
    *part = n;
    return p + digits;
}

int mqttc_split_cid(const char *cid, char *pk, char *id)
{
    size_t len;
    const char *dot;
    if (!cid)
        return -1;
    len = strnlen(cid, OTA_CLIENT_ID_MAX + 1);
    if (len > OTA_CLIENT_ID_MAX)
        return -1;
    dot = memchr(cid, '.', len);
    if (!dot || copy_name(cid, (size_t)(dot - cid), OTA_PRODUCT_KEY_MAX, pk) != 0 ||
        copy_name(dot + 1, len - (size_t)(dot - cid) - 1, OTA_IDENT_MAX, id) != 0)
        return -1;
    return 0;
}

int mqttc_presence_parse(const void *payload, size_t len, mqttc_presence *out)
{
    json_t *root, *v;
    const char *e;
    memset(out, 0, sizeof *out);
    if (!payload || len == 0 || len > 16 * 1024 * 1024)
        return -1;
    root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root))
        goto bad;
    e = json_string_value(json_object_get(root, "e"));
    v = json_object_get(root, "t");
    if (json_is_integer(v))
        out->t_ms = (int64_t)json_integer_value(v);
    if (!e)
        goto bad;
    if (strcmp(e, "on") == 0 || strcmp(e, "off") == 0) {
        out->kind = e[1] == 'n' ? MQTTC_PRES_ON : MQTTC_PRES_OFF;
        if (mqttc_split_cid(json_string_value(json_object_get(root, "c")), out->pk, out->id) != 0)
            goto bad;
    } else if (strcmp(e, "snapshot") == 0) {
        const char *nonce = json_string_value(json_object_get(root, "nonce"));
        json_t *part = json_object_get(root, "part");
        out->kind = MQTTC_PRES_SNAPSHOT;
        if (!nonce || strlen(nonce) > OTA_NONCE_MAX || !json_is_integer(part) ||
            json_integer_value(part) < 0 || json_integer_value(part) > 1000000000)
            goto bad;
        memcpy(out->nonce, nonce, strlen(nonce) + 1);
        out->part = (unsigned)json_integer_value(part);
        out->last = json_is_true(json_object_get(root, "last"));
        out->clients = json_object_get(root, "clients");
        if (!json_is_array(out->clients))
            goto bad;
    } else {
        goto bad;
    }
    out->root = root;
    return 0;
bad:
    json_decref(root);
    memset(out, 0, sizeof *out);
    return -1;
}

void mqttc_presence_clear(mqttc_presence *p)
{
    if (p && p->root)
        json_decref(p->root);
    if (p)
        memset(p, 0, sizeof *p);
}

/* --- string set --------------------------------------------------------------------- */

struct mqttc_set_node {
    mqttc_set_node *next;
    size_t hash;
    char str[]; /* NUL-terminated */
};

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

void mqttc_set_init(mqttc_set *s)
{
    memset(s, 0, sizeof *s);
}

void mqttc_set_clear(mqttc_set *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        mqttc_set_node *n = s->buckets[i];
        while (n) {
            mqttc_set_node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(s->buckets);
    memset(s, 0, sizeof *s);
}

static mqttc_set_node **find_link(const mqttc_set *s, const char *str, size_t h)
{
    mqttc_set_node **l;
    if (!s->nbuckets)
        return NULL;
    for (l = &s->buckets[h & (s->nbuckets - 1)]; *l; l = &(*l)->next) {
        if ((*l)->hash == h && strcmp((*l)->str, str) == 0)
            return l;
    }
    return NULL;
}

static int grow(mqttc_set *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
    mqttc_set_node **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < s->nbuckets; i++) {
        mqttc_set_node *x = s->buckets[i];
        while (x) {
            mqttc_set_node *next = x->next;
            x->next = b[x->hash & (n - 1)];
            b[x->hash & (n - 1)] = x;
            x = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    return 0;
}

int mqttc_set_add(mqttc_set *s, const char *str)
{
    size_t h = hash_str(str), len = strlen(str);
    mqttc_set_node *n;
    if (find_link(s, str, h))
        return 0;
    if (s->count >= s->nbuckets && grow(s) != 0 && !s->nbuckets)
        return -1;
    n = malloc(sizeof *n + len + 1);
    if (!n)
        return -1;
    n->hash = h;
    memcpy(n->str, str, len + 1);
    n->next = s->buckets[h & (s->nbuckets - 1)];
    s->buckets[h & (s->nbuckets - 1)] = n;
    s->count++;
    return 1;
}

int mqttc_set_remove(mqttc_set *s, const char *str)
{
    mqttc_set_node **l = find_link(s, str, hash_str(str)), *n;
    if (!l)
        return 0;
    n = *l;
    *l = n->next;
    free(n);
    s->count--;
    return 1;
}

int mqttc_set_has(const mqttc_set *s, const char *str)
{
    return find_link(s, str, hash_str(str)) != NULL;
}

void mqttc_set_list(const mqttc_set *s, const char **out)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (mqttc_set_node *n = s->buckets[i]; n; n = n->next)
            out[k++] = n->str;
    }
}

/* --- snapshot assembly --------------------------------------------------------------- */

void mqttc_snap_init(mqttc_snap *s)
{
    memset(s, 0, sizeof *s);
    mqttc_set_init(&s->set);
}

void mqttc_snap_begin(mqttc_snap *s, const char *nonce, int64_t now_mono_ms)
{
    mqttc_set_clear(&s->set);
    snprintf(s->nonce, sizeof s->nonce, "%s", nonce);
    s->active = false;
    s->next_part = 0;
    s->started_mono_ms = now_mono_ms;
}

void mqttc_snap_end(mqttc_snap *s)
{
    mqttc_set_clear(&s->set);
    s->nonce[0] = '\0';
    s->active = false;
    s->next_part = 0;
}

mqttc_snap_result mqttc_snap_part(mqttc_snap *s, const mqttc_presence *p)
{
    size_t i;
    json_t *c;
    if (p->kind != MQTTC_PRES_SNAPSHOT || !s->nonce[0] || strcmp(p->nonce, s->nonce) != 0)
        return MQTTC_SNAP_IGNORED;
    if (p->part == 0) {
        mqttc_set_clear(&s->set);
        s->active = true;
        s->next_part = 0;
    }
    if (!s->active || p->part != s->next_part)
        return MQTTC_SNAP_BROKEN;
    json_array_foreach(p->clients, i, c)
    {
        char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
        const char *cid = json_string_value(c);
        if (mqttc_split_cid(cid, pk, id) != 0)
            continue; /* not a device name: skip it, keep the rest */
        if (mqttc_set_add(&s->set, cid) < 0)
            return MQTTC_SNAP_BROKEN;
    }
    s->next_part++;
    return p->last ? MQTTC_SNAP_COMPLETE : MQTTC_SNAP_PARTIAL;
}

void mqttc_snap_event(mqttc_snap *s, const char *cid, bool online)
{
    if (!s->nonce[0] || !s->active)
        return;
    if (online)
        mqttc_set_add(&s->set, cid);
    else
        mqttc_set_remove(&s->set, cid);
}

void mqttc_snap_free(mqttc_snap *s)
{
    mqttc_snap_end(s);
}

int64_t mqttc_clock_parse(const void *payload, size_t len)
{
    const char *p = payload;
    int64_t v = 0;
    if (!p || len < 1 || len > 18)
        return -1; /* 18 digits: epoch ms until the year 33658 and no overflow */
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}
