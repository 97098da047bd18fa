/*
 * ddi: the pure parts of the hawkBit DDI device API (docs/ddi.md): action ids, the poll
 * interval's "HH:MM:SS" text, the poll's answer, and the parsers of what a DDI client sends (deployment and
 * cancel feedback, configData). The HTTP side (http/routes_ddi.c) authenticates, reads
 * the store and hands events to the engine; nothing here does I/O.
 *
 * Action ids: an action is one attempt of one device task, so it is made of the task's
 * batch id and attempt number (ddi_action_id): durable with the task row, never reused,
 * and a retry (attempt + 1) gets a new one. SWUpdate keeps it in an int, so ids stay
 * below 2^31 for batch ids below 2^27.
 *
 * Bodies are bounded (DDI_BODY_MAX) before they reach these parsers; every string kept is
 * bounded again here. Errors are rq_error (core/reqparse.h): 400 naming the field.
 * Expected load: one parse per feedback (a handful per device and attempt).
 */
#ifndef OTAD_DDI_H
#define OTAD_DDI_H

#include "core/reqparse.h"

#include <stddef.h>
#include <stdint.h>

#define DDI_BODY_MAX (16 * 1024)      /* a feedback or configData body */
#define DDI_ATTEMPTS 16               /* attempts one batch id can number (retryTimes + 1 <= 6) */
#define DDI_ATTR_MAX_KEYS 32          /* configData: keys kept per device */
#define DDI_ATTR_KEY_MAX 64           /* bytes of a key */
#define DDI_ATTR_VALUE_MAX 256        /* bytes of a value */
#define DDI_ATTR_JSON_MAX 12288       /* the stored JSON text of all attributes */
#define DDI_SLEEP_MAX_S (99 * 3600 + 59 * 60 + 59)

/* The action id of attempt (1..DDI_ATTEMPTS-1) of the task in batch_id; 0 when out of range. */
int64_t ddi_action_id(int64_t batch_id, int attempt);
/* Splits an action id; 0, or -1 when it names no attempt. */
int ddi_action_split(int64_t action_id, int64_t *batch_id, int *attempt);
/* Parses an action id path segment (decimal digits, 1..18 of them). 0 or -1. */
int ddi_action_parse(const char *s, int64_t *action_id);

/* What a poll answers (http/routes_ddi.c decides it from the device's task). */
typedef struct {
    const char *base;   /* the device's URL: public_url/{tenant}/controller/v1/{id} */
    int64_t sleep_s;    /* the poll interval devices are told (ddi_sleep_text) */
    int64_t cancel;     /* the action to cancel; 0: none */
    int64_t deployment; /* the action offered; 0: none (not shown with a cancel) */
    int config_data;    /* ask for configData (the device has not sent its attributes) */
} ddi_poll_links;

/* The poll's answer as compact JSON into out (len bytes, NUL-terminated), written from a
 * fixed template: byte for byte what jansson's json_dumps(JSON_COMPACT) makes of
 * {"config":{"polling":{"sleep":..}},"_links":{..}} (tests/unit/test_ddi.c compares
 * them), without building objects on the poll's path. Returns the length, or -1 when it
 * does not fit (out then holds nothing useful). */
int ddi_poll_answer(const ddi_poll_links *p, char *out, size_t len);

/* The poll interval DDI devices are told: poll_s divided by the time scale, whole seconds,
 * at least 1 (the clients read "HH:MM:SS"). */
int64_t ddi_sleep_seconds(int poll_s, double time_scale);
/* "HH:MM:SS" of seconds (clamped to 1..DDI_SLEEP_MAX_S) into out (>= 9 bytes). */
void ddi_sleep_text(int64_t seconds, char out[9]);

typedef enum {
    DDI_EXEC_CLOSED = 0,
    DDI_EXEC_PROCEEDING,
    DDI_EXEC_CANCELED,
    DDI_EXEC_SCHEDULED,
    DDI_EXEC_REJECTED,
    DDI_EXEC_RESUMED,
    DDI_EXEC_DOWNLOAD,
    DDI_EXEC_DOWNLOADED,
} ddi_execution;

typedef enum { DDI_FIN_NONE = 0, DDI_FIN_SUCCESS, DDI_FIN_FAILURE } ddi_finished;

/* A deployment or cancel feedback, as hawkBit's DDI v1 defines it:
 * {"id"?, "time"?, "status":{"execution", "result":{"finished", "progress"?:{"cnt","of"}},
 *  "details"?:[strings]}}. "id" may be an integer, a string of digits, or absent ("time"
 * is opaque). Unknown members are ignored, as hawkBit does. */
typedef struct {
    int has_id;
    int64_t id;
    ddi_execution execution;
    ddi_finished finished;
    int has_progress;
    int64_t cnt, of;
    int fail_step; /* closed + failure: -2 download, -3 verify, -4 flash, -1 unknown (details) */
    /* any feedback: the reason its error lines name (0: none). SWUpdate sends the installer's
     * errors ("HASH mismatch") in "proceeding" feedback and closes with a bare failure, so
     * the caller keeps this for the action's close (docs/ddi.md) */
    int hint_step;
} ddi_feedback;

/* Parses a feedback body. 0, or -1 with e set (400 invalid_json, or invalid_field naming
 * the member: status, status.execution, status.result.finished, id, ...). */
int ddi_parse_feedback(const char *body, size_t len, ddi_feedback *out, rq_error *e);

/* The more telling of two failure steps: -3 verify over -2 download over -4 flash; -1
 * (unknown) when neither names one (0 and -1 name none). */
int ddi_step_best(int a, int b);

/* The progress step (1..100) of a proceeding feedback's cnt/of; 1 when absent or odd
 * (SWUpdate sends counters, not percent). */
int ddi_progress_step(const ddi_feedback *f);

/* PUT configData {"data":{"key":"value",...}, "mode"?, "id"?, "time"?, "status"?}: the
 * attributes as a compact JSON object text with sorted keys into *json (malloc'd, the
 * caller frees). Keys 1..DDI_ATTR_KEY_MAX bytes, values strings of at most
 * DDI_ATTR_VALUE_MAX bytes, at most DDI_ATTR_MAX_KEYS of them. mode "merge" (default)
 * and "replace" store what was sent; "remove" stores an empty object. 0, or -1 with e
 * set (400 naming "data", "data.<key>" or "mode"). */
int ddi_parse_config(const char *body, size_t len, char **json, rq_error *e);

#endif
