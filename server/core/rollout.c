/*
 * rollout: phases and brakes of a batch (see rollout.h). One parser reads both the
 * create-batch body's `rollout` field (with an error naming the field) and the stored form
 * read back from the store, so the two cannot drift apart.
 */
#include "rollout.h"

#include "core/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rq_fail, then -1: the caller returns at once. */
#define fail(err, ...) (rq_fail((err), __VA_ARGS__), -1)

static json_t *get(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* Refuses a key of o not in names (NULL-terminated). */
static int only_keys(const json_t *o, const char *const *names, const char *where,
                     rq_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i;
        for (i = 0; names[i]; i++)
            if (strcmp(key, names[i]) == 0)
                break;
        if (!names[i]) {
            int printable = strlen(key) <= 40;
            for (const char *p = key; printable && *p; p++)
                printable = *p >= 0x20 && *p < 0x7f;
            return fail(err, 400, "unknown_field", where, "Unknown field '%s' in %s.",
                        printable ? key : "?", where);
        }
    }
    return 0;
}

/* An optional integer member in [min, max] (def when absent). */
static int take_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t def,
                    const char *field, int64_t *out, rq_error *err)
{
    json_t *v = get(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(err, 400, "invalid_type", field, "%s must be an integer.", field);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return fail(err, 422, "out_of_range", field, "%s must be an integer from %lld to %lld.",
                    field, (long long)min, (long long)max);
    *out = x;
    return 0;
}

static int take_canary(const json_t *arr, rollout *out, const char *field, rq_error *err)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr))
        return fail(err, 400, "invalid_type", field, "%s must be an array.", field);
    if (n < 1 || n > ROLLOUT_MAX_CANARY)
        return fail(err, 422, "out_of_range", field, "%s needs 1 to %d identifiers.", field,
                    ROLLOUT_MAX_CANARY);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return fail(err, 400, "invalid_type", field, "%s[%zu] must be a string.", field, i);
        char why[96];
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            valid_identifier(json_string_value(v), why, sizeof why) != 0)
            return fail(err, 422, "invalid_value", field,
                        "%s[%zu] must be 1-64 characters of letters, digits, '_' and '-'.", field,
                        i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(out->canary[k], json_string_value(v)) == 0)
                return fail(err, 422, "duplicate_identifier", field,
                            "Identifier '%s' is listed more than once.", out->canary[k]);
        snprintf(out->canary[i], sizeof out->canary[i], "%s", json_string_value(v));
    }
    out->n_canary = n;
    return 0;
}

static int take_phase(const json_t *o, int i, rollout *out, int *percent_sum, rq_error *err)
{
    static const char *const keys[] = {"percent", "count", "identifiers", "soakMinutes",
                                       "minSuccessPercent", NULL};
    char field[64];
    rollout_phase *p = &out->phases[i];
    int64_t x;
    snprintf(field, sizeof field, "rollout.phases[%d]", i);
    if (!json_is_object(o))
        return fail(err, 400, "invalid_type", field, "%s must be an object.", field);
    if (only_keys(o, keys, field, err))
        return -1;
    int given = (get(o, "percent") != NULL) + (get(o, "count") != NULL) +
                (get(o, "identifiers") != NULL);
    if (given != 1)
        return fail(err, 422, given ? "not_allowed" : "missing_field", field,
                    "%s needs exactly one of percent, count and identifiers.", field);
    if (get(o, "identifiers")) {
        snprintf(field, sizeof field, "rollout.phases[%d].identifiers", i);
        if (i != 0)
            return fail(err, 422, "not_allowed", field,
                        "Only the first phase may name its devices (identifiers).");
        if (take_canary(get(o, "identifiers"), out, field, err))
            return -1;
        p->canary = 1;
    } else if (get(o, "percent")) {
        snprintf(field, sizeof field, "rollout.phases[%d].percent", i);
        if (take_int(o, "percent", 1, 100, 0, field, &x, err))
            return -1;
        p->percent = (int)x;
        *percent_sum += p->percent;
        if (*percent_sum > 100)
            return fail(err, 422, "out_of_range", "rollout.phases",
                        "The phases' percentages add up to more than 100.");
    } else {
        snprintf(field, sizeof field, "rollout.phases[%d].count", i);
        if (take_int(o, "count", 1, ROLLOUT_COUNT_MAX, 0, field, &x, err))
            return -1;
        p->count = x;
    }
    snprintf(field, sizeof field, "rollout.phases[%d].soakMinutes", i);
    if (take_int(o, "soakMinutes", 0, ROLLOUT_SOAK_MAX, 0, field, &x, err))
        return -1;
    p->soak_minutes = (int)x;
    snprintf(field, sizeof field, "rollout.phases[%d].minSuccessPercent", i);
    if (take_int(o, "minSuccessPercent", 0, 100, 100, field, &x, err))
        return -1;
    p->min_success_percent = (int)x;
    return 0;
}

static int take_rule(const json_t *o, int i, rollout *out, rq_error *err)
{
    static const char *const keys[] = {"reason", "thresholdPercent", "minFinished", "action",
                                       NULL};
    char field[64];
    rollout_rule *r = &out->rules[i];
    int64_t x;
    snprintf(field, sizeof field, "rollout.abort[%d]", i);
    if (!json_is_object(o))
        return fail(err, 400, "invalid_type", field, "%s must be an object.", field);
    if (only_keys(o, keys, field, err))
        return -1;
    json_t *v = get(o, "reason");
    snprintf(field, sizeof field, "rollout.abort[%d].reason", i);
    if (!v)
        return fail(err, 422, "missing_field", field, "%s is required.", field);
    if (!json_is_string(v))
        return fail(err, 400, "invalid_type", field, "%s must be a string.", field);
    const char *name = json_string_value(v);
    if (strcmp(name, "any") == 0) {
        r->reason = FSM_REASON_NONE;
    } else if (fsm_reason_from_name(name, &r->reason) != 0 || r->reason == FSM_REASON_NONE ||
               r->reason == FSM_REASON_TERMINATED || strlen(name) != json_string_length(v)) {
        return fail(err, 422, "invalid_value", field,
                    "%s must be \"any\" or a failure reason (push_timeout, download_failed, "
                    "verify_failed, flash_failed, upgrade_timeout, unknown, rolled_back).",
                    field);
    }
    snprintf(field, sizeof field, "rollout.abort[%d].thresholdPercent", i);
    if (!get(o, "thresholdPercent"))
        return fail(err, 422, "missing_field", field, "%s is required.", field);
    if (take_int(o, "thresholdPercent", 1, 100, 0, field, &x, err))
        return -1;
    r->threshold_percent = (int)x;
    snprintf(field, sizeof field, "rollout.abort[%d].minFinished", i);
    if (take_int(o, "minFinished", 1, ROLLOUT_COUNT_MAX, 1, field, &x, err))
        return -1;
    r->min_finished = x;
    v = get(o, "action");
    snprintf(field, sizeof field, "rollout.abort[%d].action", i);
    if (v && !json_is_string(v))
        return fail(err, 400, "invalid_type", field, "%s must be a string.", field);
    if (!v || strcmp(json_string_value(v), "pause") == 0)
        r->abort = 0;
    else if (strcmp(json_string_value(v), "abort") == 0)
        r->abort = 1;
    else
        return fail(err, 422, "invalid_value", field, "%s must be \"pause\" or \"abort\".", field);
    return 0;
}

int rollout_from_json(const json_t *v, rollout *out, rq_error *err)
{
    static const char *const keys[] = {"phases", "abort", NULL};
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!json_is_object(v))
        return fail(err, 400, "invalid_type", "rollout", "rollout must be an object.");
    if (only_keys(v, keys, "rollout", err))
        return -1;
    json_t *phases = get(v, "phases"), *rules = get(v, "abort");
    if (phases && !json_is_array(phases))
        return fail(err, 400, "invalid_type", "rollout.phases", "rollout.phases must be an array.");
    if (rules && !json_is_array(rules))
        return fail(err, 400, "invalid_type", "rollout.abort", "rollout.abort must be an array.");
    if (phases && (json_array_size(phases) < 1 || json_array_size(phases) > ROLLOUT_MAX_PHASES))
        return fail(err, 422, "out_of_range", "rollout.phases",
                    "rollout.phases needs 1 to %d phases.", ROLLOUT_MAX_PHASES);
    if (rules && json_array_size(rules) > ROLLOUT_MAX_RULES)
        return fail(err, 422, "out_of_range", "rollout.abort",
                    "rollout.abort takes at most %d rules.", ROLLOUT_MAX_RULES);
    int percent_sum = 0;
    for (size_t i = 0; phases && i < json_array_size(phases); i++) {
        if (take_phase(json_array_get(phases, i), (int)i, out, &percent_sum, err))
            return -1;
        out->n_phases++;
    }
    if (out->n_phases == 1 && out->phases[0].canary)
        return fail(err, 422, "not_allowed", "rollout.phases",
                    "A first phase of named devices needs a phase after it.");
    for (size_t i = 0; rules && i < json_array_size(rules); i++) {
        if (take_rule(json_array_get(rules, i), (int)i, out, err))
            return -1;
        out->n_rules++;
    }
    return 0;
}

int rollout_phase_count(const rollout *r)
{
    return r->n_phases > 0 ? r->n_phases : 1;
}

int rollout_to_text(const rollout *r, char *out, size_t cap)
{
    json_t *root = json_object(), *phases = json_array(), *rules = json_array();
    for (int i = 0; i < r->n_phases; i++) {
        const rollout_phase *p = &r->phases[i];
        json_t *o = json_object();
        if (p->canary) {
            json_t *ids = json_array();
            for (size_t k = 0; k < r->n_canary; k++)
                json_array_append_new(ids, json_string(r->canary[k]));
            json_object_set_new(o, "identifiers", ids);
        } else if (p->percent) {
            json_object_set_new(o, "percent", json_integer(p->percent));
        } else {
            json_object_set_new(o, "count", json_integer(p->count));
        }
        json_object_set_new(o, "soakMinutes", json_integer(p->soak_minutes));
        json_object_set_new(o, "minSuccessPercent", json_integer(p->min_success_percent));
        json_array_append_new(phases, o);
    }
    for (int i = 0; i < r->n_rules; i++) {
        const rollout_rule *x = &r->rules[i];
        json_array_append_new(
            rules, json_pack("{s:s, s:i, s:I, s:s}", "reason",
                             x->reason == FSM_REASON_NONE ? "any" : fsm_reason_name(x->reason),
                             "thresholdPercent", x->threshold_percent, "minFinished",
                             (json_int_t)x->min_finished, "action", x->abort ? "abort" : "pause"));
    }
    if (r->n_phases > 0) /* none is one phase of every device, as when "phases" is absent */
        json_object_set_new(root, "phases", phases);
    else
        json_decref(phases);
    json_object_set_new(root, "abort", rules);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text || strlen(text) >= cap) {
        free(text);
        return -1;
    }
    memcpy(out, text, strlen(text) + 1);
    free(text);
    return 0;
}

json_t *rollout_to_json_value(const char *text)
{
    return text && *text ? json_loads(text, 0, NULL) : NULL;
}

int rollout_from_text(const char *text, rollout *out)
{
    rq_error err;
    json_t *v = rollout_to_json_value(text);
    int rc = v ? rollout_from_json(v, out, &err) : -1;
    json_decref(v);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

void rollout_sizes(const rollout *r, int64_t total, int64_t n_canary, int64_t *sizes)
{
    int n = rollout_phase_count(r);
    int64_t left = total;
    for (int i = 0; i < n; i++) {
        const rollout_phase *p = i < r->n_phases ? &r->phases[i] : NULL;
        int64_t want;
        if (!p || i == n - 1)
            want = left; /* the last phase takes the rest */
        else if (p->canary)
            want = n_canary;
        else if (p->percent)
            want = (total * p->percent + 99) / 100;
        else
            want = p->count;
        if (want > left)
            want = left;
        sizes[i] = want;
        left -= want;
    }
}

int rollout_share_met(const rollout_phase *p, int64_t size, int64_t succeeded)
{
    int min = p ? p->min_success_percent : 0;
    return succeeded * 100 >= (int64_t)min * size;
}

int rollout_rule_fires(const rollout_rule *rule, int64_t finished, int64_t failed)
{
    return finished >= rule->min_finished && finished > 0 &&
           failed * 100 >= (int64_t)rule->threshold_percent * finished;
}

static json_t *tally_array(const int64_t *v)
{
    json_t *a = json_array();
    for (int k = 0; a && k < ROLLOUT_MAX_PHASES; k++)
        json_array_append_new(a, json_integer((json_int_t)v[k]));
    return a;
}

int rollout_tally_to_text(const rollout_tally *t, char *out, size_t cap)
{
    json_t *by = json_object();
    for (int i = 0; by && i < FSM_REASON_COUNT; i++)
        if (t->failed_by[i] > 0)
            json_object_set_new(by, fsm_reason_name((fsm_reason)i),
                                json_integer((json_int_t)t->failed_by[i]));
    json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "devices", tally_array(t->size), "succeeded",
                          tally_array(t->succ), "failed", tally_array(t->fail), "failedBy", by);
    size_t n = o ? json_dumpb(o, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    json_decref(o);
    if (n == 0 || n >= cap)
        return -1;
    out[n] = '\0';
    return 0;
}

/* Reads a stored array of ROLLOUT_MAX_PHASES counts into v: 0 or -1. */
static int tally_read(const json_t *a, int64_t *v)
{
    if (!json_is_array(a) || json_array_size(a) != ROLLOUT_MAX_PHASES)
        return -1;
    for (int k = 0; k < ROLLOUT_MAX_PHASES; k++) {
        const json_t *x = json_array_get(a, (size_t)k);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return -1;
        v[k] = (int64_t)json_integer_value(x);
    }
    return 0;
}

int rollout_tally_from_text(const char *text, rollout_tally *t)
{
    memset(t, 0, sizeof *t);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    const json_t *by = json_object_get(o, "failedBy");
    int rc = o && tally_read(json_object_get(o, "devices"), t->size) == 0 &&
                     tally_read(json_object_get(o, "succeeded"), t->succ) == 0 &&
                     tally_read(json_object_get(o, "failed"), t->fail) == 0 && json_is_object(by)
                 ? 0
                 : -1;
    const char *key;
    const json_t *n;
    if (rc == 0)
        json_object_foreach((json_t *)by, key, n) {
            fsm_reason r;
            if (fsm_reason_from_name(key, &r) != 0 || (unsigned)r >= FSM_REASON_COUNT ||
                !json_is_integer(n) || json_integer_value(n) < 0) {
                rc = -1;
                break;
            }
            t->failed_by[r] = (int64_t)json_integer_value(n);
        }
    json_decref(o);
    if (rc != 0) {
        memset(t, 0, sizeof *t);
        return -1;
    }
    for (int k = 0; k < ROLLOUT_MAX_PHASES; k++) {
        t->finished += t->succ[k] + t->fail[k];
        t->failed += t->fail[k];
    }
    return 0;
}
