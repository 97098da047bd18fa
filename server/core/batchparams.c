/*
 * batchparams: the create-batch body's rules (see batchparams.h). The integer fields are
 * one table (JSON name, bounds, required, target) that drives their checks, so the rules
 * are read in one place. Identifiers are copied into one allocation (pointer array then
 * the strings) so the result is freed with a single free().
 */
#include "batchparams.h"

#include "ota_time.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_fields[] = {
    "scope",          "identifiers", "validityDays",         "policy",
    "timeoutMinutes", "retryTimes",  "retryIntervalMinutes", "maxPushPerMinute",
    "filter",         "fromVersions", "continuous",
    "rollout",        "startAt",     "windows",      "confirmMinutes",
};

const char *bparams_scope_name(bparams_scope s)
{
    return s == BPARAMS_SCOPE_DIRECTED ? "directed" : s == BPARAMS_SCOPE_FILTER ? "filter" : "all";
}

const char *bparams_policy_name(bparams_policy p)
{
    return p == BPARAMS_POLICY_SILENT ? "silent" : "standard";
}

void bparams_free(bparams *p)
{
    if (!p)
        return;
    free(p->identifiers);
    memset(p, 0, sizeof *p);
}

static int fail(bparams_error *err, int status, const char *code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(bparams_error *err, int status, const char *code, const char *field,
                const char *fmt, ...)
{
    err->status = status;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* printable ASCII only: the message may quote bytes of the body */
    for (char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return -1;
}

/* A field's value, NULL when absent or null. */
static json_t *get(const json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return v && !json_is_null(v) ? v : NULL;
}

static int ident_ok(const char *s, size_t n)
{
    if (n == 0 || n > OTA_IDENT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

typedef struct {
    const char *s;
    size_t idx;
} ident_ref;

static int cmp_ref(const void *a, const void *b)
{
    const ident_ref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c)
        return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Validates the identifiers array of a directed batch and copies it into out. */
static int take_identifiers(const json_t *arr, bparams *out, bparams_error *err)
{
    size_t n = json_array_size(arr);
    if (n < 1 || n > BPARAMS_MAX_IDENTIFIERS)
        return fail(err, 422, "out_of_range", "identifiers",
                    "A directed batch needs 1 to %d identifiers; %zu given.",
                    BPARAMS_MAX_IDENTIFIERS, n);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return fail(err, 400, "invalid_type", "identifiers",
                        "identifiers[%zu] must be a string.", i);
        size_t len = json_string_length(v);
        const char *s = json_string_value(v);
        if (!ident_ok(s, len)) {
            /* echo it only when it is short printable ASCII */
            int printable = len <= OTA_IDENT_MAX * 2;
            for (size_t k = 0; printable && k < len; k++)
                printable = s[k] >= 0x20 && s[k] < 0x7f;
            if (printable)
                return fail(err, 422, "invalid_value", "identifiers",
                            "Identifier '%s' (identifiers[%zu]) must be 1-64 characters of "
                            "letters, digits, '_' and '-'.",
                            s, i);
            return fail(err, 422, "invalid_value", "identifiers",
                        "identifiers[%zu] must be 1-64 characters of letters, digits, '_' and "
                        "'-'.",
                        i);
        }
        bytes += len + 1;
    }

    ident_ref *refs = malloc(n * sizeof *refs);
    if (!refs)
        return fail(err, 500, "internal", NULL, "Out of memory.");
    for (size_t i = 0; i < n; i++)
        refs[i] = (ident_ref){json_string_value(json_array_get(arr, i)), i};
    qsort(refs, n, sizeof *refs, cmp_ref);
    size_t dup = SIZE_MAX;
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].s, refs[i].s) == 0 && refs[i].idx < dup)
            dup = refs[i].idx;
    free(refs);
    if (dup != SIZE_MAX)
        return fail(err, 422, "duplicate_identifier", "identifiers",
                    "Identifier '%s' is listed more than once.",
                    json_string_value(json_array_get(arr, dup)));

    char **ptrs = malloc(n * sizeof *ptrs + bytes);
    if (!ptrs)
        return fail(err, 500, "internal", NULL, "Out of memory.");
    char *w = (char *)(ptrs + n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        size_t len = json_string_length(v);
        memcpy(w, json_string_value(v), len + 1);
        ptrs[i] = w;
        w += len + 1;
    }
    out->identifiers = ptrs;
    out->n_identifiers = n;
    return 0;
}

/* A rollout error's code as the static string bparams_error keeps. */
static const char *rollout_code(const char *code)
{
    static const char *const codes[] = {"unknown_field", "invalid_type", "missing_field",
                                        "invalid_value", "out_of_range", "not_allowed",
                                        "duplicate_identifier"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            return codes[i];
    return "invalid_value";
}

/* The rollout (core/rollout.c checks it); a directed batch's named first phase must name
 * devices of the batch. */
static int take_rollout(const json_t *v, bparams *out, bparams_error *err)
{
    rq_error rerr;
    memset(&rerr, 0, sizeof rerr);
    if (rollout_from_json(v, &out->rollout, &rerr) != 0)
        return fail(err, (int)rerr.status, rollout_code(rerr.code), rerr.field, "%s", rerr.msg);
    out->has_rollout = 1;
    for (size_t k = 0; out->scope == BPARAMS_SCOPE_DIRECTED && k < out->rollout.n_canary; k++) {
        size_t i;
        for (i = 0; i < out->n_identifiers; i++)
            if (strcmp(out->identifiers[i], out->rollout.canary[k]) == 0)
                break;
        if (i == out->n_identifiers)
            return fail(err, 422, "not_in_batch", "rollout.phases[0].identifiers",
                        "Identifier '%s' of the first phase is not among the batch's "
                        "identifiers.",
                        out->rollout.canary[k]);
    }
    return 0;
}

/* One integer field: JSON name, bounds, whether required, and where it goes. */
typedef struct {
    const char *name;
    int min, max;
    int required;
    size_t offset; /* of the int in bparams */
} int_rule;

static const int_rule int_rules[] = {
    {"validityDays", BPARAMS_VALIDITY_MIN, BPARAMS_VALIDITY_MAX, 1,
     offsetof(bparams, validity_days)},
    {"timeoutMinutes", BPARAMS_TIMEOUT_MIN, BPARAMS_TIMEOUT_MAX, 1,
     offsetof(bparams, timeout_minutes)},
    {"retryTimes", 0, BPARAMS_RETRY_TIMES_MAX, 1, offsetof(bparams, retry_times)},
    {"retryIntervalMinutes", BPARAMS_RETRY_INTERVAL_MIN, BPARAMS_RETRY_INTERVAL_MAX, 0,
     offsetof(bparams, retry_interval_minutes)},
    {"maxPushPerMinute", BPARAMS_PUSH_RATE_MIN, BPARAMS_PUSH_RATE_MAX, 0,
     offsetof(bparams, max_push_per_minute)},
    {"confirmMinutes", 0, BPARAMS_CONFIRM_MAX, 0, offsetof(bparams, confirm_minutes)},
};

/* Checks the integer field r. Leaves the target untouched when absent and optional. */
static int take_int(const json_t *root, const int_rule *r, bparams *out, bparams_error *err)
{
    json_t *v = get(root, r->name);
    if (!v) {
        if (r->required)
            return fail(err, 422, "missing_field", r->name, "%s is required.", r->name);
        return 0;
    }
    json_int_t x = json_integer_value(v);
    if (x < r->min || x > r->max)
        return fail(err, 422, "out_of_range", r->name, "%s must be an integer from %d to %d.",
                    r->name, r->min, r->max);
    *(int *)((char *)out + r->offset) = (int)x;
    return 0;
}

static int take_enum(const json_t *root, const char *name, const char *a, const char *b, int *out,
                     bparams_error *err)
{
    json_t *v = get(root, name);
    if (!v)
        return fail(err, 422, "missing_field", name, "%s is required (\"%s\" or \"%s\").", name, a,
                    b);
    const char *s = json_string_value(v);
    if (strcmp(s, a) == 0 && json_string_length(v) == strlen(a))
        *out = 0;
    else if (strcmp(s, b) == 0 && json_string_length(v) == strlen(b))
        *out = 1;
    else
        return fail(err, 422, "invalid_value", name, "%s must be \"%s\" or \"%s\".", name, a, b);
    return 0;
}

static int take_scope(const json_t *root, bparams *out, bparams_error *err)
{
    static const char *const names[] = {"all", "directed", "filter"};
    json_t *v = get(root, "scope");
    if (!v)
        return fail(err, 422, "missing_field", "scope",
                    "scope is required (\"all\", \"directed\" or \"filter\").");
    for (int i = 0; i < 3; i++)
        if (strcmp(json_string_value(v), names[i]) == 0 && json_string_length(v) == strlen(names[i])) {
            out->scope = (bparams_scope)i;
            return 0;
        }
    return fail(err, 422, "invalid_value", "scope",
                "scope must be \"all\", \"directed\" or \"filter\".");
}

static int target_fail(bparams_error *err, const target_error *te)
{
    return fail(err, te->status, te->code, te->field, "%s", te->message);
}

/* filter (scope filter only), fromVersions (any scope), continuous (not directed). */
static int take_target(const json_t *root, bparams *out, bparams_error *err)
{
    target_error te = {0};
    json_t *f = get(root, "filter"), *vers = get(root, "fromVersions"), *c = get(root, "continuous");
    if (out->scope != BPARAMS_SCOPE_FILTER && f)
        return fail(err, 422, "not_allowed", "filter",
                    "filter may only be given when scope is \"filter\".");
    if (out->scope == BPARAMS_SCOPE_FILTER) {
        if (!f)
            return fail(err, 422, "missing_field", "filter",
                        "filter is required when scope is \"filter\".");
        const char *key;
        json_t *v;
        json_object_foreach(f, key, v)
        {
            if (strcmp(key, "tags") != 0 && strcmp(key, "groups") != 0)
                return fail(err, 400, "unknown_field", "filter",
                            "Unknown field in filter; its fields are tags and groups.");
        }
        json_t *tags = get(f, "tags"), *groups = get(f, "groups");
        if (!tags && !groups)
            return fail(err, 422, "missing_field", "filter",
                        "filter needs tags, groups or both.");
        if (tags && target_tags_parse(tags, "filter.tags", 1, out->tags, &te) != 0)
            return target_fail(err, &te);
        if (groups && target_groups_parse(groups, "filter.groups", out->groups, &te) != 0)
            return target_fail(err, &te);
    }
    if (vers && target_versions_parse(vers, "fromVersions", out->versions, &te) != 0)
        return target_fail(err, &te);
    out->continuous = c && json_is_true(c);
    if (out->continuous && out->scope == BPARAMS_SCOPE_DIRECTED)
        return fail(err, 422, "not_allowed", "continuous",
                    "continuous applies to scope \"all\" or \"filter\", not \"directed\".");
    return 0;
}

int bparams_from_json(const json_t *root, bparams *out, bparams_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!json_is_object(root))
        return fail(err, 400, "malformed_json", NULL, "The body must be a JSON object.");

    /* unknown fields, then the JSON type of every known one */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v)
    {
        size_t i;
        for (i = 0; i < sizeof known_fields / sizeof known_fields[0]; i++)
            if (strcmp(key, known_fields[i]) == 0)
                break;
        if (i == sizeof known_fields / sizeof known_fields[0]) {
            int printable = strlen(key) <= 64;
            for (const char *p = key; printable && *p; p++)
                printable = *p >= 0x20 && *p < 0x7f;
            return fail(err, 400, "unknown_field", printable ? key : NULL,
                        "Unknown field '%s'; the fields are scope, identifiers, validityDays, "
                        "policy, timeoutMinutes, retryTimes, retryIntervalMinutes, "
                        "maxPushPerMinute, filter, fromVersions, continuous, rollout, startAt, "
                        "windows and confirmMinutes.",
                        printable ? key : "?");
        }
    }
    for (size_t i = 0; i < sizeof known_fields / sizeof known_fields[0]; i++) {
        const char *name = known_fields[i];
        v = get(root, name);
        if (!v)
            continue;
        if (strcmp(name, "scope") == 0 || strcmp(name, "policy") == 0) {
            if (!json_is_string(v))
                return fail(err, 400, "invalid_type", name, "%s must be a string.", name);
        } else if (strcmp(name, "identifiers") == 0 || strcmp(name, "fromVersions") == 0) {
            if (!json_is_array(v))
                return fail(err, 400, "invalid_type", name, "%s must be an array.", name);
        } else if (strcmp(name, "filter") == 0) {
            if (!json_is_object(v))
                return fail(err, 400, "invalid_type", name, "filter must be an object.");
        } else if (strcmp(name, "continuous") == 0) {
            if (!json_is_boolean(v))
                return fail(err, 400, "invalid_type", name, "continuous must be true or false.");
        } else if (strcmp(name, "rollout") == 0) {
            if (!json_is_object(v))
                return fail(err, 400, "invalid_type", name, "rollout must be an object.");
        } else if (strcmp(name, "startAt") == 0) {
            if (!json_is_string(v))
                return fail(err, 400, "invalid_type", name, "startAt must be a string.");
        } else if (strcmp(name, "windows") == 0) {
            if (!json_is_array(v))
                return fail(err, 400, "invalid_type", name, "windows must be an array.");
        } else if (!json_is_integer(v)) {
            return fail(err, 400, "invalid_type", name, "%s must be an integer.", name);
        }
    }

    int policy = 0;
    if (take_scope(root, out, err) || take_target(root, out, err))
        return -1;
    json_t *ids = get(root, "identifiers");
    if (out->scope == BPARAMS_SCOPE_DIRECTED) {
        if (!ids)
            return fail(err, 422, "missing_field", "identifiers",
                        "identifiers is required when scope is \"directed\".");
        if (take_identifiers(ids, out, err))
            return -1;
    } else if (ids && json_array_size(ids) > 0) {
        return fail(err, 422, "not_allowed", "identifiers",
                    "identifiers may only be given when scope is \"directed\".");
    }

    int rc = take_int(root, &int_rules[0], out, err); /* validityDays */
    if (!rc)
        rc = take_enum(root, "policy", "standard", "silent", &policy, err);
    out->policy = policy ? BPARAMS_POLICY_SILENT : BPARAMS_POLICY_STANDARD;
    out->max_push_per_minute = BPARAMS_PUSH_RATE_DEFAULT;
    for (size_t i = 1; !rc && i < sizeof int_rules / sizeof int_rules[0]; i++)
        rc = take_int(root, &int_rules[i], out, err);
    if (!rc && out->retry_times > 0 && !get(root, "retryIntervalMinutes"))
        rc = fail(err, 422, "missing_field", "retryIntervalMinutes",
                  "retryIntervalMinutes is required when retryTimes is above 0.");
    if (!rc && get(root, "rollout"))
        rc = take_rollout(get(root, "rollout"), out, err);
    if (!rc && get(root, "startAt") &&
        ota_time_parse(json_string_value(get(root, "startAt")), &out->start_at_ms) != 0)
        rc = fail(err, 422, "invalid_value", "startAt",
                  "startAt must be an RFC 3339 time, such as 2026-12-24T02:00:00Z.");
    if (!rc && get(root, "windows")) {
        rq_error werr;
        if (window_from_json(get(root, "windows"), &out->windows, &werr) != 0)
            rc = fail(err, (int)werr.status, rollout_code(werr.code), werr.field, "%s", werr.msg);
    }
    if (rc) {
        bparams_free(out);
        return -1;
    }
    return 0;
}

int bparams_parse(const char *body, size_t len, bparams *out, bparams_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (len > BPARAMS_MAX_BODY)
        return fail(err, 413, "too_large", NULL, "The body is larger than %d bytes.",
                    BPARAMS_MAX_BODY);
    if (!body)
        return fail(err, 400, "malformed_json", NULL, "The body must be a JSON object.");
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, 400, "malformed_json", NULL, "The body is not valid JSON: %s (line %d).",
                    jerr.text, jerr.line);
    int rc = bparams_from_json(root, out, err);
    json_decref(root);
    return rc;
}
