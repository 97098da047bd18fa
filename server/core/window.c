/*
 * window: maintenance windows of a batch (see window.h).
 */
#include "window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MIN 1440
#define fail(err, ...) (rq_fail((err), __VA_ARGS__), -1)

/* "HH:MM" to minutes after midnight, or -1. */
static int parse_hhmm(const char *s, size_t len)
{
    if (len != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

static int take_window(const json_t *o, size_t i, window_spec *w, rq_error *err)
{
    char field[72];
    const char *key;
    json_t *v;
    snprintf(field, sizeof field, "windows[%zu]", i);
    if (!json_is_object(o))
        return fail(err, 400, "invalid_type", field, "%s must be an object.", field);
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "start") && strcmp(key, "durationMinutes") && strcmp(key, "timeZone"))
            return fail(err, 400, "unknown_field", field,
                        "%s takes start, durationMinutes and timeZone.", field);
    }
    v = json_object_get(o, "start");
    snprintf(field, sizeof field, "windows[%zu].start", i);
    if (!v)
        return fail(err, 422, "missing_field", field, "%s is required.", field);
    if (!json_is_string(v))
        return fail(err, 400, "invalid_type", field, "%s must be a string.", field);
    if ((w->start_min = parse_hhmm(json_string_value(v), json_string_length(v))) < 0)
        return fail(err, 422, "invalid_value", field, "%s must be HH:MM, 00:00 to 23:59.", field);
    v = json_object_get(o, "durationMinutes");
    snprintf(field, sizeof field, "windows[%zu].durationMinutes", i);
    if (!v)
        return fail(err, 422, "missing_field", field, "%s is required.", field);
    if (!json_is_integer(v))
        return fail(err, 400, "invalid_type", field, "%s must be an integer.", field);
    if (json_integer_value(v) < 1 || json_integer_value(v) > DAY_MIN)
        return fail(err, 422, "out_of_range", field, "%s must be an integer from 1 to 1440.",
                    field);
    w->duration_min = (int)json_integer_value(v);
    v = json_object_get(o, "timeZone");
    snprintf(field, sizeof field, "windows[%zu].timeZone", i);
    if (!v)
        return fail(err, 422, "missing_field", field, "%s is required.", field);
    if (!json_is_string(v))
        return fail(err, 400, "invalid_type", field, "%s must be a string.", field);
    const char *zone = json_string_value(v);
    ota_tz tz;
    if (strlen(zone) != json_string_length(v) || ota_tz_load(zone, &tz) != 0)
        return fail(err, 422, "invalid_value", field,
                    "%s must be a time zone of the system's database, such as Asia/Shanghai.",
                    field);
    ota_tz_free(&tz);
    snprintf(w->zone, sizeof w->zone, "%s", zone);
    return 0;
}

int window_from_json(const json_t *v, window_list *out, rq_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!json_is_array(v))
        return fail(err, 400, "invalid_type", "windows", "windows must be an array.");
    if (json_array_size(v) < 1 || json_array_size(v) > WINDOW_MAX)
        return fail(err, 422, "out_of_range", "windows", "windows takes 1 to %d windows.",
                    WINDOW_MAX);
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (take_window(json_array_get(v, i), i, &out->w[i], err))
            return -1;
        out->n++;
    }
    return 0;
}

int window_to_text(const window_list *l, char *out, size_t cap)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++) {
        char hhmm[32];
        snprintf(hhmm, sizeof hhmm, "%02d:%02d", l->w[i].start_min / 60, l->w[i].start_min % 60);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "start", hhmm, "durationMinutes",
                                             l->w[i].duration_min, "timeZone", l->w[i].zone));
    }
    char *text = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (!text || strlen(text) >= cap) {
        free(text);
        return -1;
    }
    memcpy(out, text, strlen(text) + 1);
    free(text);
    return 0;
}

int window_set_load(const char *text, window_set *s)
{
    rq_error err;
    memset(s, 0, sizeof *s);
    if (!text || !*text)
        return 0;
    json_t *v = json_loads(text, 0, NULL);
    int rc = v ? window_from_json(v, &s->list, &err) : -1;
    json_decref(v);
    for (size_t i = 0; rc == 0 && i < s->list.n; i++)
        rc = ota_tz_load(s->list.w[i].zone, &s->zone[i]);
    if (rc != 0)
        window_set_free(s);
    return rc;
}

void window_set_free(window_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < WINDOW_MAX; i++)
        ota_tz_free(&s->zone[i]);
    memset(s, 0, sizeof *s);
}

/* Minutes after local midnight in window i's zone at t_ms. */
static int local_minute(const window_set *s, size_t i, int64_t t_ms)
{
    int64_t local_min = (t_ms / 1000 + ota_tz_offset(&s->zone[i], t_ms)) / 60;
    int m = (int)(local_min % DAY_MIN);
    return m < 0 ? m + DAY_MIN : m;
}

int window_inside(const window_set *s, int64_t t_ms)
{
    if (s->list.n == 0)
        return 1;
    for (size_t i = 0; i < s->list.n; i++) {
        int since = (local_minute(s, i, t_ms) - s->list.w[i].start_min + DAY_MIN) % DAY_MIN;
        if (since < s->list.w[i].duration_min)
            return 1;
    }
    return 0;
}

int64_t window_next_open(const window_set *s, int64_t t_ms)
{
    if (s->list.n == 0)
        return t_ms;
    int64_t best = INT64_MAX, minute_start = t_ms - t_ms % 60000;
    for (size_t i = 0; i < s->list.n; i++) {
        int until = (s->list.w[i].start_min - local_minute(s, i, t_ms) + DAY_MIN) % DAY_MIN;
        int64_t at = minute_start + (int64_t)(until ? until : DAY_MIN) * 60000;
        if (at < best)
            best = at;
    }
    return best;
}

int window_batch_inside(const char *text, int64_t t_ms)
{
    window_set s;
    if (!text || !*text || window_set_load(text, &s) != 0)
        return 1;
    int in = window_inside(&s, t_ms);
    window_set_free(&s);
    return in;
}
