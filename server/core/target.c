/*
 * target: tag, group and fromVersions rules, their canonical texts, and the match of one
 * device against a target (target.h). Texts are built by jansson (sorted keys, compact) so
 * the same set of tags is always the same bytes.
 */
#include "core/target.h"

#include "core/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(target_error *e, int status, const char *code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(target_error *e, int status, const char *code, const char *field,
                const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    for (char *p = e->message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    for (char *p = e->field; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return -1;
}

static int alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int chars_ok(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!alnum(s[i]) && !strchr(extra, s[i]))
            return 0;
    return 1;
}

int target_key_ok(const char *s)
{
    return chars_ok(s, TARGET_KEY_MAX, "_.-");
}

int target_value_ok(const char *s)
{
    return chars_ok(s, TARGET_VALUE_MAX, "_.:/+-");
}

int target_group_name_ok(const char *s)
{
    return chars_ok(s, TARGET_GROUP_NAME_MAX, "_.-");
}

/* "field.key" when the key is short printable ASCII, else "field". */
static void member_field(char *out, size_t outlen, const char *field, const char *key)
{
    int ok = strlen(key) <= TARGET_KEY_MAX * 2;
    for (const char *p = key; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f;
    if (ok)
        snprintf(out, outlen, "%s.%s", field, key);
    else
        snprintf(out, outlen, "%s", field);
}

/* Writes j compactly (sorted keys) into out; -1 when it does not fit. */
static int dump(const json_t *j, char *out, size_t outlen)
{
    size_t n = json_dumpb(j, out, outlen - 1, JSON_COMPACT | JSON_SORT_KEYS);
    if (n == 0 || n >= outlen)
        return -1;
    out[n] = '\0';
    return 0;
}

int target_tags_parse(const json_t *obj, const char *field, int min_one, char *out,
                      target_error *e)
{
    char f[128];
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return fail(e, 400, "invalid_type", field, "%s must be an object of \"key\":\"value\".",
                    field);
    size_t n = json_object_size(obj);
    if (n > TARGET_TAGS_MAX)
        return fail(e, 422, "too_many_tags", field, "%s has %zu tags; at most %d are allowed.",
                    field, n, TARGET_TAGS_MAX);
    if (n == 0 && min_one)
        return fail(e, 422, "invalid_value", field, "%s needs at least one tag.", field);
    json_object_foreach((json_t *)obj, key, v)
    {
        member_field(f, sizeof f, field, key);
        if (!target_key_ok(key))
            return fail(e, 422, "invalid_tag", f,
                        "A tag key must be 1-%d characters of letters, digits, '_', '.' and "
                        "'-'.",
                        TARGET_KEY_MAX);
        if (!json_is_string(v))
            return fail(e, 400, "invalid_type", f, "The value of tag '%s' must be a string.",
                        key);
        if (!target_value_ok(json_string_value(v)) ||
            strlen(json_string_value(v)) != json_string_length(v))
            return fail(e, 422, "invalid_tag", f,
                        "The value of tag '%s' must be 1-%d characters of letters, digits, '_', "
                        "'.', ':', '/', '+' and '-'.",
                        key, TARGET_VALUE_MAX);
    }
    if (dump(obj, out, TARGET_TAGS_TEXT_MAX) != 0)
        return fail(e, 422, "invalid_value", field, "%s is too long.", field);
    return 0;
}

/* An array of 1..max distinct strings, each accepted by ok; into its compact text. */
static int string_set(const json_t *arr, const char *field, size_t max, int (*ok)(const char *),
                      const char *rule, char *out, size_t outlen, target_error *e)
{
    if (!json_is_array(arr))
        return fail(e, 400, "invalid_type", field, "%s must be an array of strings.", field);
    size_t n = json_array_size(arr);
    if (n < 1 || n > max)
        return fail(e, 422, "out_of_range", field, "%s needs 1 to %zu entries; %zu given.",
                    field, max, n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return fail(e, 400, "invalid_type", field, "%s[%zu] must be a string.", field, i);
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v) || !ok(s))
            return fail(e, 422, "invalid_value", field, "%s[%zu] must be %s.", field, i, rule);
        for (size_t k = 0; k < i; k++)
            if (strcmp(s, json_string_value(json_array_get(arr, k))) == 0)
                return fail(e, 422, "duplicate", field, "%s lists '%s' twice.", field, s);
    }
    if (dump(arr, out, outlen) != 0)
        return fail(e, 422, "invalid_value", field, "%s is too long.", field);
    return 0;
}

int target_groups_parse(const json_t *arr, const char *field, char *out, target_error *e)
{
    return string_set(arr, field, TARGET_GROUPS_MAX, target_group_name_ok,
                      "a group name: 1-64 characters of letters, digits, '_', '.' and '-'", out,
                      TARGET_GROUPS_TEXT_MAX, e);
}

static int version_ok(const char *s)
{
    return valid_firmware_version(s, NULL, 0) == 0;
}

int target_versions_parse(const json_t *arr, const char *field, char *out, target_error *e)
{
    return string_set(arr, field, TARGET_VERSIONS_MAX, version_ok,
                      "a firmware version: 1-100 characters of letters, digits, '_', '-' and '.'",
                      out, TARGET_VERSIONS_TEXT_MAX, e);
}

int target_tags_edit(const char *have, const char *set, const char *const *remove,
                     size_t n_remove, char *out)
{
    json_t *h = have && *have ? json_loads(have, 0, NULL) : json_object();
    json_t *add = set && *set ? json_loads(set, 0, NULL) : json_object();
    int rc = -1;
    if (json_is_object(h) && json_is_object(add) && json_object_update(h, add) == 0) {
        for (size_t i = 0; i < n_remove; i++)
            json_object_del(h, remove[i]);
        if (json_object_size(h) <= TARGET_TAGS_MAX)
            rc = json_object_size(h) == 0 ? (out[0] = '\0', 0) : dump(h, out, TARGET_TAGS_TEXT_MAX);
    }
    json_decref(h);
    json_decref(add);
    return rc;
}

int target_tag_split(const char *kv, char *key, char *value)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || (size_t)(eq - kv) > TARGET_KEY_MAX || strlen(eq + 1) > TARGET_VALUE_MAX)
        return -1;
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    snprintf(value, TARGET_VALUE_MAX + 1, "%s", eq + 1);
    return target_key_ok(key) && target_value_ok(value) ? 0 : -1;
}

/* ---- matching ----------------------------------------------------------------------------- */

static json_t *load(const char *text, int object)
{
    if (!text || !*text)
        return object ? json_object() : json_array();
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (j && (object ? !json_is_object(j) : !json_is_array(j))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int target_load(target *t, const char *tags, const char *groups, const char *versions)
{
    t->tags = load(tags, 1);
    t->groups = load(groups, 0);
    t->versions = load(versions, 0);
    return t->tags && t->groups && t->versions ? 0 : -1;
}

void target_free(target *t)
{
    if (!t)
        return;
    json_decref(t->tags);
    json_decref(t->groups);
    json_decref(t->versions);
    memset(t, 0, sizeof *t);
}

int target_needs_groups(const target *t)
{
    return json_array_size(t->groups) > 0;
}

static int in_array(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v) ? json_string_value(v) : "", s) == 0)
            return 1;
    }
    return 0;
}

int target_match(const target *t, const char *tags, const char *const *group_names,
                 size_t n_groups, const char *version)
{
    if (json_array_size(t->versions) > 0 && (!version || !in_array(t->versions, version)))
        return 0;
    if (json_object_size(t->tags) > 0) {
        json_t *have = tags && *tags ? json_loads(tags, 0, NULL) : NULL;
        const char *key;
        json_t *want;
        int ok = json_is_object(have);
        json_object_foreach(t->tags, key, want)
        {
            json_t *v = ok ? json_object_get(have, key) : NULL;
            if (!v || !json_equal(v, want)) {
                ok = 0;
                break;
            }
        }
        json_decref(have);
        if (!ok)
            return 0;
    }
    if (json_array_size(t->groups) > 0) {
        for (size_t i = 0; i < n_groups; i++)
            if (in_array(t->groups, group_names[i]))
                return 1;
        return 0;
    }
    return 1;
}

/* ---- request bodies ------------------------------------------------------------------------ */

void target_body_free(target_body *b)
{
    if (!b)
        return;
    json_decref(b->root);
    free(b->idents);
    free(b->remove);
    memset(b, 0, sizeof *b);
}

static json_t *member(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* The keys of o must all be in allowed (NULL-terminated). */
static int known_keys(const json_t *o, const char *const *allowed, const char *where,
                      target_error *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i;
        for (i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (!allowed[i]) {
            char f[72];
            if (where)
                member_field(f, sizeof f, where, key);
            else
                snprintf(f, sizeof f, "%.64s", key);
            return fail(e, 400, "unknown_field", f, "The field '%s' is not known here.", f);
        }
    }
    return 0;
}

static int take_idents(const json_t *arr, target_body *out, target_error *e)
{
    if (!json_is_array(arr))
        return fail(e, 400, "invalid_type", "identifiers", "identifiers must be an array.");
    size_t n = json_array_size(arr);
    if (n < 1 || n > TARGET_IDENTS_MAX)
        return fail(e, 422, "out_of_range", "identifiers",
                    "identifiers needs 1 to %d entries; %zu given.", TARGET_IDENTS_MAX, n);
    out->idents = calloc(n, sizeof *out->idents);
    if (!out->idents)
        return fail(e, 500, "internal", NULL, "Out of memory.");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return fail(e, 400, "invalid_type", "identifiers", "identifiers[%zu] must be a string.",
                        i);
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            valid_identifier(json_string_value(v), NULL, 0) != 0)
            return fail(e, 422, "invalid_value", "identifiers",
                        "identifiers[%zu] must be 1-64 characters of letters, digits, '_' and "
                        "'-'.",
                        i);
        out->idents[i] = json_string_value(v);
    }
    out->n_idents = n;
    return 0;
}

/* filter {"tags","groups"} (at least one) and fromVersions. */
static int take_filter(const json_t *root, target_body *out, target_error *e)
{
    static const char *const keys[] = {"tags", "groups", NULL};
    json_t *f = member(root, "filter"), *v = member(root, "fromVersions");
    if (f) {
        if (!json_is_object(f))
            return fail(e, 400, "invalid_type", "filter", "filter must be an object.");
        if (known_keys(f, keys, "filter", e) != 0)
            return -1;
        json_t *t = member(f, "tags"), *g = member(f, "groups");
        if (!t && !g)
            return fail(e, 422, "missing_field", "filter", "filter needs tags, groups or both.");
        if (t && target_tags_parse(t, "filter.tags", 1, out->tags, e) != 0)
            return -1;
        if (g && target_groups_parse(g, "filter.groups", out->groups, e) != 0)
            return -1;
    }
    if (v && target_versions_parse(v, "fromVersions", out->versions, e) != 0)
        return -1;
    out->has_filter = f || v;
    return 0;
}

static int take_remove(const json_t *arr, target_body *out, target_error *e)
{
    if (!json_is_array(arr))
        return fail(e, 400, "invalid_type", "remove", "remove must be an array of tag keys.");
    size_t n = json_array_size(arr);
    if (n < 1 || n > TARGET_TAGS_MAX)
        return fail(e, 422, "out_of_range", "remove", "remove needs 1 to %d keys; %zu given.",
                    TARGET_TAGS_MAX, n);
    out->remove = calloc(n, sizeof *out->remove);
    if (!out->remove)
        return fail(e, 500, "internal", NULL, "Out of memory.");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || !target_key_ok(json_string_value(v)))
            return fail(e, 422, "invalid_tag", "remove",
                        "remove[%zu] must be a tag key: 1-%d characters of letters, digits, "
                        "'_', '.' and '-'.",
                        i, TARGET_KEY_MAX);
        out->remove[i] = json_string_value(v);
    }
    out->n_remove = n;
    return 0;
}

static int body_kind(target_body_kind kind, const json_t *root, target_body *out,
                     target_error *e)
{
    static const char *const tags_keys[] = {"tags", NULL};
    static const char *const bulk_keys[] = {"identifiers", "filter", "fromVersions", "set",
                                            "remove", NULL};
    static const char *const group_keys[] = {"name", NULL};
    static const char *const members_keys[] = {"identifiers", NULL};
    json_t *v;
    switch (kind) {
    case TARGET_BODY_TAGS:
        if (known_keys(root, tags_keys, NULL, e) != 0)
            return -1;
        if (!(v = member(root, "tags")))
            return fail(e, 422, "missing_field", "tags", "tags is required.");
        return target_tags_parse(v, "tags", 0, out->tags, e);
    case TARGET_BODY_BULK:
        if (known_keys(root, bulk_keys, NULL, e) != 0)
            return -1;
        if ((v = member(root, "identifiers")) && take_idents(v, out, e) != 0)
            return -1;
        if (take_filter(root, out, e) != 0)
            return -1;
        if (out->n_idents && out->has_filter)
            return fail(e, 422, "not_allowed", "filter",
                        "Give either identifiers or filter/fromVersions, not both.");
        if (!out->n_idents && !out->has_filter)
            return fail(e, 422, "missing_field", "identifiers",
                        "identifiers or filter/fromVersions is required.");
        if ((v = member(root, "set")) && target_tags_parse(v, "set", 1, out->set, e) != 0)
            return -1;
        if ((v = member(root, "remove")) && take_remove(v, out, e) != 0)
            return -1;
        if (!out->set[0] && !out->n_remove)
            return fail(e, 422, "missing_field", "set", "set or remove is required.");
        return 0;
    case TARGET_BODY_GROUP:
        if (known_keys(root, group_keys, NULL, e) != 0)
            return -1;
        if (!(v = member(root, "name")))
            return fail(e, 422, "missing_field", "name", "name is required.");
        if (!json_is_string(v))
            return fail(e, 400, "invalid_type", "name", "name must be a string.");
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            !target_group_name_ok(json_string_value(v)))
            return fail(e, 422, "invalid_value", "name",
                        "A group name must be 1-%d characters of letters, digits, '_', '.' and "
                        "'-'.",
                        TARGET_GROUP_NAME_MAX);
        out->name = json_string_value(v);
        return 0;
    case TARGET_BODY_MEMBERS:
        if (known_keys(root, members_keys, NULL, e) != 0)
            return -1;
        if (!(v = member(root, "identifiers")))
            return fail(e, 422, "missing_field", "identifiers", "identifiers is required.");
        return take_idents(v, out, e);
    }
    return fail(e, 500, "internal", NULL, "Unknown body.");
}

int target_body_parse(target_body_kind kind, const char *body, size_t len, target_body *out,
                      target_error *e)
{
    json_error_t jerr;
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    if (len > TARGET_BODY_MAX)
        return fail(e, 413, "too_large", NULL, "The body is larger than %d bytes.",
                    TARGET_BODY_MAX);
    out->root = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(out->root))
        return fail(e, 400, "invalid_json", NULL, "The request body must be a JSON object.");
    return body_kind(kind, out->root, out, e);
}

/* A comma list of at most max items (each at most item_max bytes) into a JSON array, or
 * NULL when malformed. */
static json_t *comma_list(const char *s, size_t max, size_t item_max)
{
    json_t *a = json_array();
    const char *p = s;
    while (a) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char item[OTA_VERSION_MAX + 2];
        if (n == 0 || n > item_max || n >= sizeof item || json_array_size(a) >= max) {
            json_decref(a);
            return NULL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        json_array_append_new(a, json_string(item));
        if (!c)
            break;
        p = c + 1;
    }
    return a;
}

int target_query_parse(const char *tag, const char *group, const char *versions,
                       target_body *out, target_error *e)
{
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    if (tag && *tag) {
        json_t *kv = comma_list(tag, TARGET_TAGS_MAX, TARGET_KEY_MAX + 1 + TARGET_VALUE_MAX);
        json_t *o = json_object();
        size_t i;
        json_t *v;
        int bad = !kv;
        json_array_foreach(kv, i, v)
        {
            char k[TARGET_KEY_MAX + 1], val[TARGET_VALUE_MAX + 1];
            if (bad || target_tag_split(json_string_value(v), k, val) != 0 ||
                json_object_get(o, k)) {
                bad = 1;
                break;
            }
            json_object_set_new(o, k, json_string(val));
        }
        json_decref(kv);
        if (!bad)
            bad = target_tags_parse(o, "tag", 1, out->tags, e) != 0;
        json_decref(o);
        if (bad)
            return fail(e, 400, "invalid_parameter", "tag",
                        "tag must be key=value[,key=value...], at most %d, each key once.",
                        TARGET_TAGS_MAX);
    }
    if (group && *group) {
        json_t *g = comma_list(group, TARGET_GROUPS_MAX, TARGET_GROUP_NAME_MAX);
        int bad = !g || target_groups_parse(g, "group", out->groups, e) != 0;
        json_decref(g);
        if (bad)
            return fail(e, 400, "invalid_parameter", "group",
                        "group must be a group name, or up to %d of them separated by commas.",
                        TARGET_GROUPS_MAX);
    }
    if (versions && *versions) {
        json_t *v = comma_list(versions, TARGET_VERSIONS_MAX, OTA_VERSION_MAX);
        int bad = !v || target_versions_parse(v, "fromVersions", out->versions, e) != 0;
        json_decref(v);
        if (bad)
            return fail(e, 400, "invalid_parameter", "fromVersions",
                        "fromVersions must be up to %d firmware versions separated by commas, "
                        "each once.",
                        TARGET_VERSIONS_MAX);
    }
    out->has_filter = out->tags[0] || out->groups[0] || out->versions[0];
    return 0;
}
