/*
 * rollout: a batch's phases and brakes (docs/batches.md, "Phases, brakes and time") as
 * pure functions: the rollout's stored form (the JSON the API shows), how many devices
 * each phase gets, when a phase has reached its success share, and when an abort rule
 * fires. The create-batch body's `rollout` field is checked by core/batchparams.c, which
 * fills the struct below; the store keeps the stored form on the batch row and each task's
 * phase; the engine (server/engine/engine.c) keeps the counters and asks these functions
 * at the event that finishes a device.
 *
 * No I/O, no clock. Expected load: one rule check per finished device of a batch that has
 * a rollout (a few comparisons), one size computation per batch created or loaded.
 */
#ifndef OTAD_ROLLOUT_H
#define OTAD_ROLLOUT_H

#include "core/fsm.h"
#include "core/reqparse.h"
#include "otaproto/ota_protocol.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ROLLOUT_MAX_PHASES 10
#define ROLLOUT_MAX_RULES 10
#define ROLLOUT_MAX_CANARY 50        /* identifiers of a first phase of named devices */
#define ROLLOUT_COUNT_MAX 1000000    /* a phase's count, a rule's minFinished */
#define ROLLOUT_SOAK_MAX 10080       /* minutes (7 days, the longest validity) */
#define ROLLOUT_STORED_MAX 8192      /* bytes of the stored form, NUL included */

typedef struct {
    int percent;             /* 1..100 of the batch's devices; 0 when count or canary */
    int64_t count;           /* 1..ROLLOUT_COUNT_MAX devices; 0 when percent or canary */
    int canary;              /* phase 0 only: the devices named in rollout.identifiers */
    int soak_minutes;        /* 0..ROLLOUT_SOAK_MAX, before OTA_TIME_SCALE */
    int min_success_percent; /* 0..100 of the phase's devices; default 100 */
} rollout_phase;

typedef struct {
    fsm_reason reason;     /* FSM_REASON_NONE stands for "any" failure */
    int threshold_percent; /* 1..100: failed (for reason) / finished, in percent */
    int64_t min_finished;  /* 1..ROLLOUT_COUNT_MAX finished devices before it may fire */
    int abort;             /* 1: action "abort" (ends the batch), 0: "pause" */
} rollout_rule;

typedef struct {
    int n_phases; /* 0: no phases (one phase of every device) */
    rollout_phase phases[ROLLOUT_MAX_PHASES];
    int n_rules;
    rollout_rule rules[ROLLOUT_MAX_RULES];
    size_t n_canary; /* identifiers of phase 0 when phases[0].canary */
    char canary[ROLLOUT_MAX_CANARY][OTA_IDENT_MAX + 1];
} rollout;

/* Checks the body's `rollout` value (borrowed) into *out: phases 1..ROLLOUT_MAX_PHASES,
 * each exactly one of percent (1..100; all of them together at most 100), count
 * (1..ROLLOUT_COUNT_MAX) or identifiers (first phase only, 1..ROLLOUT_MAX_CANARY, which
 * then needs a phase after it), soakMinutes 0..ROLLOUT_SOAK_MAX (default 0),
 * minSuccessPercent 0..100 (default 100); abort rules 0..ROLLOUT_MAX_RULES, each reason
 * ("any" or a failure reason other than terminated; required), thresholdPercent 1..100
 * (required), minFinished 1..ROLLOUT_COUNT_MAX (default 1), action "pause" (default) or
 * "abort". Unknown keys are refused. 0, or -1 with *err (core/reqparse.h: 400 or 422, the
 * field inside the rollout named, "rollout.phases[1].percent") set. */
int rollout_from_json(const json_t *v, rollout *out, rq_error *err);

/* Phases at least 1 (a batch without phases is one phase). */
int rollout_phase_count(const rollout *r);

/* The stored form: {"phases":[{"percent"|"count"|"identifiers":[...],"soakMinutes",
 * "minSuccessPercent"}...],"abort":[{"reason","thresholdPercent","minFinished","action"}...]}
 * written into out (cap bytes). 0, or -1 when it does not fit. */
int rollout_to_text(const rollout *r, char *out, size_t cap);
/* The stored form as a JSON value (new reference), or NULL for "" or bad text. */
json_t *rollout_to_json_value(const char *text);
/* Reads the stored form back. 0, or -1 when text is not one (out then holds no rules). */
int rollout_from_text(const char *text, rollout *out);

/* How many of the batch's `total` devices each phase gets (sizes[rollout_phase_count(r)]),
 * n_canary of them named for phase 0. Phases take their share in order, percent rounded up
 * so that a small batch still gets a device per phase while devices remain; the last phase
 * also takes every device the shares before it leave. */
void rollout_sizes(const rollout *r, int64_t total, int64_t n_canary, int64_t *sizes);

/* 1 when a phase of `size` devices with `succeeded` of them succeeded has reached its
 * success share (succeeded * 100 >= min_success_percent * size). */
int rollout_share_met(const rollout_phase *p, int64_t size, int64_t succeeded);
/* 1 when the rule fires: finished >= min_finished and failed * 100 >= threshold * finished
 * (failed: the batch's failed devices for the rule's reason, or all of them for "any"). */
int rollout_rule_fires(const rollout_rule *rule, int64_t finished, int64_t failed);

/* A batch's rollout counters: each phase's devices and finished ones, the failures by
 * reason. Kept by the engine at the events that finish devices and stored with the batch
 * (store_batch.h, store_uow_rollout_lock) so that every otad on one database judges the
 * phases and brakes on the batch's exact totals. finished and failed are sums of the
 * phases' (rollout_tally_sum). */
typedef struct {
    int64_t size[ROLLOUT_MAX_PHASES], succ[ROLLOUT_MAX_PHASES], fail[ROLLOUT_MAX_PHASES];
    int64_t failed_by[FSM_REASON_COUNT];
    int64_t finished, failed;
} rollout_tally;

#define ROLLOUT_TALLY_TEXT_MAX 1024 /* bytes of rollout_tally_to_text's form, NUL included */

/* The stored form: {"devices":[...],"succeeded":[...],"failed":[...],"failedBy":{reason:n}}
 * (one entry per phase, ROLLOUT_MAX_PHASES of them; reasons with n > 0 only) into out
 * (cap bytes). 0, or -1 when it does not fit. */
int rollout_tally_to_text(const rollout_tally *t, char *out, size_t cap);
/* Reads the stored form back into *t, finished and failed summed. 0, or -1 when text is
 * not one (*t is then zeroed). */
int rollout_tally_from_text(const char *text, rollout_tally *t);

#endif
