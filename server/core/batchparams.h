/*
 * batchparams: validation of the create-batch request body (docs/api.md, "Batches",
 * POST /api/v1/firmwares/{firmwareId}/batches) into a plain struct, or one error that the
 * HTTP layer sends as {"error":{"code","message","field"}}. Only the body's own rules are
 * checked here; whether the devices exist and are eligible is the store's job.
 *
 * Fields (JSON null counts as absent):
 *   scope                 required, "all" | "directed" | "filter"
 *   identifiers           directed: required array of 1..100000 strings, each 1..64 of
 *                         [A-Za-z0-9_-], no duplicates; all: absent, null or [] only
 *   validityDays          required integer 1..7
 *   policy                required, "standard" | "silent"
 *   timeoutMinutes        required integer 1..1440
 *   retryTimes            required integer 0..5
 *   retryIntervalMinutes  integer 1..4320; required when retryTimes > 0; when retryTimes is 0
 *                         it may be given (it is checked and kept) or left out (0)
 *   rollout               optional object: phases and abort rules (core/rollout.h says every
 *                         rule; errors name the field inside it, "rollout.phases[0].percent");
 *                         a first phase of identifiers must name devices of a directed
 *                         batch's identifiers (422 not_in_batch)
 *   confirmMinutes        optional integer 0..10080, default 0: a success is final only after
 *                         the device stayed on the version this long (docs/batches.md)
 *   startAt               optional RFC 3339 time: the batch is scheduled until then
 *                         (docs/batches.md); its bounds against the clock are the route's
 *   windows               optional array of daily maintenance windows (core/window.h)
 *   maxPushPerMinute      optional integer 1..1000000, default 60000 (an addition to the
 *                         base API: the pace of first pushes and retries of this batch, so a
 *                         fleet of a million devices is pushed in about 17 minutes instead
 *                         of flooding the broker; not divided by OTA_TIME_SCALE)
 *   filter                filter: required object {"tags":{"k":"v",...},"groups":["g",...]},
 *                         at least one of the two (core/target.h's rules); other scopes: refused
 *   fromVersions          optional array of 1..50 firmware versions (any scope)
 *   continuous            optional boolean (all and filter: devices that come to match
 *                         later join; directed: refused)
 * Any other field is refused. Integers must be JSON integers (3.0 and "3" are refused).
 *
 * Errors, checked in this order, first one wins:
 *   413 too_large       body over BPARAMS_MAX_BODY bytes
 *   400 malformed_json  not JSON, not an object, or a key given twice
 *   400 unknown_field   a key not listed above (field = that key)
 *   400 invalid_type    a known field of the wrong JSON type
 *   422 missing_field   a required field is absent
 *   422 invalid_value   scope/policy not one of the names; an identifier of bad format
 *   422 out_of_range    an integer outside its bounds; identifiers count outside 1..100000
 *   422 not_allowed     identifiers given (non-empty) with scope "all"
 *   422 duplicate_identifier  an identifier listed twice (the message names it)
 * Fields are checked in the order listed above (scope first). Messages are one sentence
 * of printable ASCII.
 *
 * Expected load: rare (one per batch created), but the body can hold 100000 identifiers,
 * so duplicates are found by sorting (O(n log n)), not by pairwise comparison.
 */
#ifndef OTAD_BATCHPARAMS_H
#define OTAD_BATCHPARAMS_H

#include "core/target.h"
#include "core/rollout.h"
#include "core/window.h"
#include "otaproto/ota_protocol.h"

#include <jansson.h>
#include <stddef.h>

#define BPARAMS_MAX_BODY (8 * 1024 * 1024) /* bytes: 100000 identifiers of 64 fit */
#define BPARAMS_MAX_IDENTIFIERS 100000
#define BPARAMS_VALIDITY_MIN 1
#define BPARAMS_VALIDITY_MAX 7
#define BPARAMS_TIMEOUT_MIN 1
#define BPARAMS_TIMEOUT_MAX 1440
#define BPARAMS_RETRY_TIMES_MAX 5
#define BPARAMS_RETRY_INTERVAL_MIN 1
#define BPARAMS_RETRY_INTERVAL_MAX 4320
#define BPARAMS_PUSH_RATE_MIN 1
#define BPARAMS_PUSH_RATE_MAX 1000000
#define BPARAMS_PUSH_RATE_DEFAULT 60000
#define BPARAMS_CONFIRM_MAX 10080 /* minutes a success waits for its confirmation (7 days) */

typedef enum { BPARAMS_SCOPE_ALL = 0, BPARAMS_SCOPE_DIRECTED, BPARAMS_SCOPE_FILTER } bparams_scope;
typedef enum { BPARAMS_POLICY_STANDARD = 0, BPARAMS_POLICY_SILENT } bparams_policy;

typedef struct {
    bparams_scope scope;
    char **identifiers;   /* directed: n_identifiers strings in request order; owned,
                             one allocation (freed by bparams_free); NULL for all */
    size_t n_identifiers; /* 0 for all */
    int validity_days;    /* 1..7 */
    bparams_policy policy;
    int timeout_minutes;        /* 1..1440 */
    int retry_times;            /* 0..5 */
    int retry_interval_minutes; /* 1..4320, or 0 when retryTimes is 0 and it was left out */
    int max_push_per_minute;    /* 1..1000000, default 60000 */
    int confirm_minutes;        /* 0..BPARAMS_CONFIRM_MAX, default 0 (success final at once) */
    /* the target (core/target.h's texts; "" = no condition of that kind) */
    char tags[TARGET_TAGS_TEXT_MAX];       /* filter.tags */
    char groups[TARGET_GROUPS_TEXT_MAX];   /* filter.groups */
    char versions[TARGET_VERSIONS_TEXT_MAX]; /* fromVersions */
    int continuous;
    int has_rollout;            /* rollout given */
    rollout rollout;            /* phases and brakes (zeroed when not given) */
    int64_t start_at_ms;        /* startAt, epoch ms; 0 when not given (the route checks it
                                   against the clock: not past, at most 30 days ahead) */
    window_list windows;        /* maintenance windows (n = 0: none) */
} bparams;

typedef struct {
    int status;        /* 400, 413 or 422 (500 "internal" on out of memory) */
    const char *code;  /* machine code (static string), see above */
    char field[72];    /* the JSON field at fault, "" when none */
    char message[256]; /* one sentence for people */
} bparams_error;

/* Parses and validates body[0..len) (need not be NUL-terminated). Returns 0 and fills *out,
 * or -1 and fills *err. On either return *out can be given to bparams_free() (on failure it
 * holds nothing). */
int bparams_parse(const char *body, size_t len, bparams *out, bparams_error *err);
/* The same for an already parsed JSON value (borrowed). */
int bparams_from_json(const json_t *root, bparams *out, bparams_error *err);
/* Frees what *p owns and zeroes it. Accepts NULL. */
void bparams_free(bparams *p);

/* "all" / "directed", "standard" / "silent". */
const char *bparams_scope_name(bparams_scope s);
const char *bparams_policy_name(bparams_policy p);

#endif
