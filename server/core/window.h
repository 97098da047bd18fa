/*
 * window: a batch's daily maintenance windows (docs/batches.md, "Phases, brakes and time"):
 * `windows:[{"start":"HH:MM","durationMinutes":N,"timeZone":"Area/City"}]` checked with the
 * field named, kept as text on the batch row, and the question the engine and the DDI API
 * ask: is the batch inside one of its windows at time t (pushes and retries go out only
 * then), and when does the next window open.
 *
 * A window opens every day at `start`, local time of its zone (the system's time zone
 * database through common/ota_tz.h), and stays open durationMinutes (1..1440; it may run
 * past midnight). Judged by the zone's wall clock at t: on a day the clocks change, a window
 * is as long as the wall clock says. Several windows: inside any of them. No window: always
 * inside.
 *
 * Pure functions but window_batch_inside (which loads the zones: file reads). Expected
 * load: a check per engine wake-up per batch with windows (a few comparisons and a binary
 * search per window).
 */
#ifndef OTAD_WINDOW_H
#define OTAD_WINDOW_H

#include "core/reqparse.h"
#include "ota_tz.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define WINDOW_MAX 7             /* windows of a batch */
#define WINDOW_TEXT_MAX 1024     /* bytes of the stored form, NUL included */

typedef struct {
    int start_min;    /* 0..1439: minutes after local midnight */
    int duration_min; /* 1..1440 */
    char zone[OTA_TZ_NAME_MAX + 1];
} window_spec;

typedef struct {
    size_t n; /* 0: no window (always inside) */
    window_spec w[WINDOW_MAX];
} window_list;

/* The list and its zones loaded: what the engine keeps per batch. */
typedef struct {
    window_list list;
    ota_tz zone[WINDOW_MAX];
} window_set;

/* Checks the body's `windows` value (borrowed): an array of 1..WINDOW_MAX objects with
 * exactly start ("HH:MM", 00:00..23:59), durationMinutes (1..1440) and timeZone (a zone of
 * the system's database; "UTC" works). 0, or -1 with *err naming the field
 * ("windows[0].timeZone"). Reads the zone files to know the zones exist. */
int window_from_json(const json_t *v, window_list *out, rq_error *err);
/* The stored form (the API's JSON) into out (cap bytes). 0, or -1 when it does not fit. */
int window_to_text(const window_list *l, char *out, size_t cap);
/* Reads the stored form and loads its zones into *s (free with window_set_free). "" is no
 * window. 0, or -1 (then *s is empty: always inside). */
int window_set_load(const char *text, window_set *s);
void window_set_free(window_set *s);

/* 1 when t_ms is inside one of the windows (always, with none). */
int window_inside(const window_set *s, int64_t t_ms);
/* The first time after t_ms (to the minute) at which a window opens, for a timer; t_ms
 * itself when there is no window. Exact but on a day the clocks change, where it may be an
 * hour early (a timer then finds the window closed and asks again). */
int64_t window_next_open(const window_set *s, int64_t t_ms);

/* Is the batch whose stored windows are `text` inside one at t_ms (the DDI API's question)?
 * 1 or 0; a text that cannot be read counts as no window (1). Loads the zones each call. */
int window_batch_inside(const char *text, int64_t t_ms);

#endif
