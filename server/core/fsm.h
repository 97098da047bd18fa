/*
 * fsm: the device task state machine of a batch (docs/batches.md), as one pure
 * function. A device task is one device in one batch. The engine owns the tasks; for each
 * device message, fired timer or engine action it builds an fsm_event and calls
 * fsm_apply(), which returns the new task, whether anything changed, whether the task has
 * just finished (for the batch's succeeded/failed counters), the next deadline to arm, and
 * a note saying why an event that does not fit the state was ignored (for one log line).
 *
 * No I/O, no clock, no globals: "now" is passed in as epoch milliseconds, and every
 * duration in fsm_params is already divided by OTA_TIME_SCALE by the caller. Expected
 * load: one call per device message or timer, i.e. a few per device per attempt.
 *
 * States (their API names):
 *   to_push    waiting for the engine to push (device offline, not ready, or rate limit)
 *   pushed     upgrade message published, waiting up to ack_timeout_ms for the ack
 *   to_upgrade the device acked the push; no timer (the upgrade timeout starts with the
 *              first progress report (docs/batches.md), so a silent-policy device that
 *              acks and waits stays here until the batch ends)
 *   upgrading  first progress report seen; upgrade deadline = first progress + timeout_ms
 *   to_retry   a failure with retries left; retry due = failure + retry_interval_ms
 *   succeeded  the device reported the batch's firmware version (final)
 *   failed     a failure with no retry left, or the batch ended (final)
 *
 * Events and what they do (anything else is ignored with a note, and changes nothing):
 *   PUSH_SENT(msg_id)   to_push -> pushed; attempt+1; a retry push also does retried+1;
 *                       progress 0; ACK deadline = now + ack_timeout_ms.
 *   ACK(msg_id, code)   pushed -> to_upgrade when code == 200 and msg_id is the current
 *                       push's msgId. code != 200 is ignored (REFUSED): the ack timeout
 *                       then fails the attempt with push_timeout.
 *   ACK_TIMEOUT         pushed -> failure(push_timeout), only if the armed deadline is ACK
 *                       and has passed (otherwise TIMER_STALE: lazy timer deletion).
 *   PROGRESS(step)      step 1..100 in pushed or to_upgrade -> upgrading, starts the upgrade
 *                       deadline (a progress report in pushed proves the device got the
 *                       push: its ack was lost or is late, so it counts as ack + progress).
 *                       In upgrading the progress is raised (it never goes down: reports
 *                       at or below the current value are DUPLICATE, which covers QoS 1
 *                       redelivery and reordering). Progress 100 does not succeed.
 *                       step -1..-4 in pushed, to_upgrade or upgrading -> failure with
 *                       reason unknown / download_failed / verify_failed / flash_failed.
 *   VERSION(version)    equal to the batch's firmware version: any unfinished state ->
 *                       succeeded (progress 100, reason none). This includes to_retry and
 *                       to_push: the device may have upgraded from an earlier push whose
 *                       ack or progress was lost, or from its own ota/firmware/get; the
 *                       goal of the task is reached and pushing again would be wrong.
 *                       Another version is ignored (VERSION_OTHER).
 *   UPGRADE_TIMEOUT     upgrading -> failure(upgrade_timeout), if the UPGRADE deadline passed.
 *   RETRY_DUE           to_retry -> to_push, if the RETRY deadline passed. The engine then
 *                       pushes when the device is online and ready (docs/batches.md), like a
 *                       first push.
 *   TERMINATE           any unfinished state -> failed(terminated) (terminate or validity end).
 *
 * Confirmation (params confirm_ms > 0, docs/batches.md "Rolled back"): a success arms a
 * CONFIRM deadline (success + confirm_ms); until it fires, succeeded is not yet final:
 *   VERSION(other)      succeeded with CONFIRM armed -> failed(rolled_back) (the device
 *                       booted the new image and fell back); result.rolled_back = 1.
 *   CONFIRM_DUE         succeeded with CONFIRM passed -> succeeded, deadline cleared (final).
 *
 * failure(reason): to_retry (reason kept, RETRY deadline) while retried < retry_times,
 * else failed (reason kept, final).
 *
 * Retry counting: `retried` is the number of retry pushes actually sent, i.e. attempt-1,
 * incremented by PUSH_SENT of a retry. So "retried/retryTimes" shows pushes done, a task
 * in to_retry shows the retries already used (not the pending one), and a task that failed
 * after all retries shows retryTimes/retryTimes. A batch terminated while to_retry does
 * not count a retry that was never sent.
 *
 * failReason keeps the last failure through to_retry and the following to_push, pushed,
 * to_upgrade and upgrading (it is "the last failure"); success clears it to none.
 */
#ifndef OTAD_FSM_H
#define OTAD_FSM_H

#include "otaproto/ota_protocol.h"

#include <stdint.h>

#define FSM_ACK_TIMEOUT_DEFAULT_MS 10000 /* docs/batches.md, before OTA_TIME_SCALE */

/* ---- the lists ---------------------------------------------------------------------
 * Each list below is the one place its names are written. X(C, name, ...): C gives the
 * enum constant (FSM_<C>, FSM_REASON_<C>, FSM_BATCH_<C>), name the API and database spelling
 * (stored as text, shown by GET /api/v1/batches..., docs/api.md), from which the rest is
 * derived: the batches table's counter column n_<name> per task state (store_sql.h builds
 * the counters' SQL from FSM_STATES in this order), and the web console's string keys
 * us_<name>, fr_<name> and bs_<name> (server/console/js/i18n.js). Adding an entry is one
 * line here plus, for a task state, its counter column in a migration of each database
 * (the counters' SQL then names it: a missing column fails at the first statement) and
 * the console strings.
 *
 * Task states: X(C, name, final). Counters, the API's "counts" object and the columns
 * n_<name> follow this order. */
#define FSM_STATES(X)                                                                          \
    X(TO_PUSH, to_push, 0)                                                                     \
    X(PUSHED, pushed, 0)                                                                       \
    X(TO_UPGRADE, to_upgrade, 0)                                                               \
    X(UPGRADING, upgrading, 0)                                                                 \
    X(TO_RETRY, to_retry, 0)                                                                   \
    X(SUCCEEDED, succeeded, 1)                                                                 \
    X(FAILED, failed, 1)

/* Failure reasons: X(C, name, step), step = the negative progress step a device reports
 * for it (0: none reports it). NONE is stored as SQL NULL and shown as null. */
#define FSM_REASONS(X)                                                                         \
    X(NONE, none, 0)                                                                           \
    X(PUSH_TIMEOUT, push_timeout, 0)                                                           \
    X(DOWNLOAD_FAILED, download_failed, -2)                                                    \
    X(VERIFY_FAILED, verify_failed, -3)                                                        \
    X(FLASH_FAILED, flash_failed, -4)                                                          \
    X(UPGRADE_TIMEOUT, upgrade_timeout, 0)                                                     \
    X(TERMINATED, terminated, 0)                                                               \
    X(UNKNOWN, unknown, -1)                                                                    \
    X(ROLLED_BACK, rolled_back, 0)

/* Batch states: X(C, name, running, pushing). A running batch has not ended: its tasks
 * are worked on by the engine (device messages and deadlines apply, its download links
 * work, its devices count as busy); the others have ended (end_ms set). A pushing batch
 * also sends pushes, first ones and retries (docs/batches.md, "Phases, brakes and time"):
 *   scheduled  created with a startAt still ahead: nothing is pushed before it
 *   paused     by the operator or by a brake (batches.pause_reason says which): no new
 *              pushes, retries wait; devices already in an attempt go on
 *   aborted    a brake with action "abort" fired: ended like terminated
 * The SQL spelling of "running" is STORE_SQL_BATCH_RUNNING (store/store_sql.h). */
#define FSM_BATCH_STATES(X)                                                                    \
    X(IN_PROGRESS, in_progress, 1, 1)                                                          \
    X(COMPLETED, completed, 0, 0)                                                              \
    X(TERMINATED, terminated, 0, 0)                                                            \
    X(SCHEDULED, scheduled, 1, 0)                                                              \
    X(PAUSED, paused, 1, 0)                                                                    \
    X(ABORTED, aborted, 0, 0)

/* Deadline kinds: X(C, name), stored in tasks.due_kind (NONE as SQL NULL). */
#define FSM_DEADLINES(X)                                                                       \
    X(NONE, none)                                                                              \
    X(ACK, ack)                                                                                \
    X(UPGRADE, upgrade)                                                                        \
    X(RETRY, retry)                                                                            \
    X(CONFIRM, confirm)

#define FSM_X_STATE_ENUM(c, name, final) FSM_##c,
typedef enum { FSM_STATES(FSM_X_STATE_ENUM) FSM_STATE_COUNT } fsm_state;
#undef FSM_X_STATE_ENUM

#define FSM_X_REASON_ENUM(c, name, step) FSM_REASON_##c,
typedef enum { FSM_REASONS(FSM_X_REASON_ENUM) FSM_REASON_COUNT } fsm_reason;
#undef FSM_X_REASON_ENUM

#define FSM_X_BATCH_ENUM(c, name, running, pushing) FSM_BATCH_##c,
typedef enum { FSM_BATCH_STATES(FSM_X_BATCH_ENUM) FSM_BATCH_STATE_COUNT } fsm_batch_state;
#undef FSM_X_BATCH_ENUM

/* The longest name of each list, with its NUL: buffers that hold a name read back from the
 * database (store_batch.state, the stores' row readers) are at least this big; the
 * asserts in fsm.c check every name against it. */
#define FSM_NAME_MAX 24

/* A fresh task is to_push with no failure: fsm_task_init and zeroed memory agree. */
_Static_assert(FSM_TO_PUSH == 0, "a zeroed task must be to_push");
_Static_assert(FSM_REASON_NONE == 0, "a zeroed task must have no failure reason");

typedef enum {
    FSM_EV_PUSH_SENT = 0,
    FSM_EV_ACK,
    FSM_EV_ACK_TIMEOUT,
    FSM_EV_PROGRESS,
    FSM_EV_VERSION,
    FSM_EV_UPGRADE_TIMEOUT,
    FSM_EV_RETRY_DUE,
    FSM_EV_TERMINATE,
    FSM_EV_CONFIRM_DUE,
    FSM_EV_COUNT
} fsm_event_kind;

/* Which deadline a task has armed (FSM_DEADLINES). Also usable as the timer heap's `kind`.
 *   ACK      push + ack_timeout_ms: fires ACK_TIMEOUT
 *   UPGRADE  first progress + timeout_ms: fires UPGRADE_TIMEOUT
 *   RETRY    failure + retry_interval_ms: fires RETRY_DUE */
#define FSM_X_DL_ENUM(c, name) FSM_DL_##c,
typedef enum { FSM_DEADLINES(FSM_X_DL_ENUM) FSM_DL_COUNT } fsm_deadline;
#undef FSM_X_DL_ENUM
_Static_assert(FSM_DL_NONE == 0, "a zeroed task must have no deadline");

/* Why an event changed nothing (or FSM_NOTE_APPLIED when it did). */
typedef enum {
    FSM_NOTE_APPLIED = 0,   /* the transition happened */
    FSM_NOTE_DUPLICATE,     /* repeated ack of the current push, or progress <= current */
    FSM_NOTE_LATE,          /* ack/progress of an attempt that already failed (to_retry, or
                               to_push after a retry) */
    FSM_NOTE_STALE_MSGID,   /* ack whose msgId is not the current push's */
    FSM_NOTE_REFUSED,       /* ack with code != 200 */
    FSM_NOTE_FINISHED,      /* any event for a succeeded or failed task */
    FSM_NOTE_UNSOLICITED,   /* ack/progress for a task never pushed */
    FSM_NOTE_VERSION_OTHER, /* version report not equal to the batch's firmware version */
    FSM_NOTE_TIMER_STALE,   /* timer event that does not match the armed deadline (lazy deletion) */
    FSM_NOTE_INVALID,       /* malformed event (bad step, empty msgId) or one the engine
                               must not send in this state (PUSH_SENT outside to_push) */
    FSM_NOTE_COUNT
} fsm_note;

/* One device task. Times are epoch ms; 0 means "not yet". */
typedef struct {
    fsm_state state;
    fsm_reason reason;                   /* last failure; none until one happens */
    int progress;                        /* 0..100, last accepted positive step of this attempt */
    int retried;                         /* retry pushes sent, 0..retry_times */
    int attempt;                         /* pushes sent, 0 before the first */
    char push_msg_id[OTA_MSGID_MAX + 1]; /* msgId of the latest push, "" before the first */
    int64_t pushed_ms;                   /* latest push */
    int64_t started_ms;                  /* first progress of the latest attempt */
    int64_t finished_ms;                 /* entered succeeded or failed */
    fsm_deadline deadline_kind;          /* armed deadline, FSM_DL_NONE when none */
    int64_t deadline_ms;                 /* when it fires; 0 when none */
} fsm_task;

/* The batch's parameters, durations already divided by OTA_TIME_SCALE. */
typedef struct {
    int64_t ack_timeout_ms;       /* <= 0 means FSM_ACK_TIMEOUT_DEFAULT_MS */
    int64_t timeout_ms;           /* upgrade timeout (timeoutMinutes) */
    int64_t retry_interval_ms;    /* retryIntervalMinutes */
    int retry_times;              /* 0..5 */
    const char *firmware_version; /* the batch's target version; borrowed */
    int64_t confirm_ms;           /* confirmMinutes: a success is final only this long after
                                     it; 0 = at once */
} fsm_params;

/* An event. Strings are borrowed for the call only. */
typedef struct {
    fsm_event_kind kind;
    const char *msg_id;  /* PUSH_SENT: the push's msgId; ACK: the reply's msgId */
    int code;            /* ACK: the reply's code (200 = ok) */
    int step;            /* PROGRESS: 1..100 or -1..-4 */
    const char *version; /* VERSION: the reported firmwareVersion */
} fsm_event;

typedef struct {
    fsm_task task; /* the new task; equal to the input when !changed */
    int changed;   /* 1 if task differs from the input (persist it) */
    int finished;  /* 1 if this event moved the task into succeeded or failed */
    int rearm;     /* 1 if task.deadline_kind/deadline_ms changed (push a timer if not NONE) */
    int rolled_back; /* 1 if a succeeded task in its confirmation became failed (rolled_back) */
    fsm_note note; /* FSM_NOTE_APPLIED when changed; else why the event was ignored */
} fsm_result;

/* A new task: to_push, nothing sent, no deadline. */
void fsm_task_init(fsm_task *t);

/* Applies ev to *in at now_ms under params p, writing the outcome to *out (in may point
 * to &out->task: it is copied first). Never fails: an event that does not fit leaves the
 * task as it was, with out->changed = 0 and a note saying why. */
void fsm_apply(const fsm_task *in, const fsm_params *p, const fsm_event *ev, int64_t now_ms,
               fsm_result *out);

/* 1 for succeeded and failed. */
int fsm_state_is_final(fsm_state s);

/* Names from the lists above ("to_push", ...); "?" for an out-of-range value. */
const char *fsm_state_name(fsm_state s);
/* Parses an API name ("to_push", ...). Returns 0 and sets *out, or -1 if unknown (or NULL). */
int fsm_state_from_name(const char *name, fsm_state *out);
/* API names ("push_timeout", ...); "none" for FSM_REASON_NONE (the API shows null). */
const char *fsm_reason_name(fsm_reason r);
/* Parses a reason name including "none". Returns 0 and sets *out, or -1. */
int fsm_reason_from_name(const char *name, fsm_reason *out);
/* Reason of a negative progress step: -1 unknown, -2 download_failed, -3 verify_failed,
 * -4 flash_failed; FSM_REASON_NONE for anything else. */
fsm_reason fsm_reason_from_step(int step);
/* Names for logs: "push_sent", "ack", ...; "applied", "duplicate", "late", ... */
const char *fsm_event_name(fsm_event_kind k);
const char *fsm_note_name(fsm_note n);
const char *fsm_deadline_name(fsm_deadline d);
/* Parses a deadline name; FSM_DL_NONE for NULL, "" or an unknown name. */
fsm_deadline fsm_deadline_from_name(const char *name);

/* Batch state names ("in_progress", ...); "?" for an out-of-range value. */
const char *fsm_batch_state_name(fsm_batch_state s);
/* Parses a batch state name. Returns 0 and sets *out, or -1 if unknown (or NULL). */
int fsm_batch_state_from_name(const char *name, fsm_batch_state *out);
/* 1 for a batch whose tasks the engine works on (in_progress, scheduled, paused). */
int fsm_batch_state_is_running(fsm_batch_state s);
/* 1 for a batch that sends pushes (in_progress). */
int fsm_batch_state_is_pushing(fsm_batch_state s);

/* Batch counters by transition: adds to delta[] (FSM_STATE_COUNT entries, caller zeroes)
 * -1 for `from` and +1 for `to` when they differ. delta[FSM_SUCCEEDED] and
 * delta[FSM_FAILED] are the batch's succeeded/failed counter changes. */
void fsm_counts_delta(fsm_state from, fsm_state to, int delta[FSM_STATE_COUNT]);
/* 1 when every task of a batch of `total` is final, given per-state counts. */
int fsm_batch_complete(const int64_t counts[FSM_STATE_COUNT], int64_t total);

#endif
