/*
 * store_batch: the batch tables behind the store interface: what the batch API reads and
 * writes (create, list, get, devices, terminate), and the engine's unit of work, one
 * write transaction in which the engine applies a round of device events, timers and
 * pushes. Counters by state live on the batch row and change with every transition, so
 * the API never counts task rows.
 *
 * Expected load: a batch of up to 1,000,000 tasks; the engine applies a few thousand
 * transitions per transaction; the API reads one batch row or one page of tasks.
 * Ownership as in store.h: strings in are copied, rows out are filled by value, lists are
 * arrays the caller frees with free().
 */
#ifndef OTAD_STORE_BATCH_H
#define OTAD_STORE_BATCH_H

#include "core/fsm.h"
#include "core/rollout.h"
#include "core/window.h"
#include "store/store.h"

#define STORE_BATCH_MAX_IDENTIFIERS 100000
#define STORE_ROLLOUT_MAX ROLLOUT_STORED_MAX /* bytes of a batch's rollout JSON */
/* Bytes of a batch's target texts with the NUL (core/target.h: TARGET_*_TEXT_MAX). */
#define STORE_TARGET_GROUPS_MAX 1344
#define STORE_TARGET_VERSIONS_MAX 5160

typedef struct {
    int64_t id;
    int64_t firmware_id;
    int64_t product_id;
    char product_key[OTA_PRODUCT_KEY_MAX + 1];
    char product_name[256];
    char firmware_name[256];
    char firmware_version[OTA_VERSION_MAX + 1];
    char file_name[320];
    int64_t size;
    char md5[33];
    char sha256[65];
    char scope[16];  /* all | directed */
    char policy[16]; /* standard | silent */
    int validity_days;
    int timeout_min;
    int retry_times;
    int retry_interval_min;
    int max_push_per_min;
    char state[FSM_NAME_MAX]; /* a name of FSM_BATCH_STATES (core/fsm.h) */
    int64_t start_ms;
    int64_t expires_ms;
    int64_t end_ms; /* 0 while in_progress */
    int64_t total;
    int64_t counts[FSM_STATE_COUNT]; /* tasks by state; [FSM_SUCCEEDED], [FSM_FAILED] */
    char signature[96]; /* the firmware's (store_firmware); "" = unsigned */
    char key_id[17];
    char pause_reason[1024]; /* paused or aborted: why, JSON (docs/api.md); "" otherwise */
    char rollout[STORE_ROLLOUT_MAX]; /* rollout JSON (phases, abort rules); "" = none */
    int phase;                       /* current phase, 0-based (0 without phases) */
    int64_t phase_due_ms;            /* when the current phase's soak ends; 0 while its
                                        success share is not reached */
    int brakes_fired;                /* bit i: abort rule i fired (each fires once) */
    int64_t start_at_ms;             /* startAt (epoch ms); 0: none */
    char windows[WINDOW_TEXT_MAX];   /* maintenance windows, JSON; "" = none */
    int confirm_min;                 /* confirmMinutes; 0 = a success is final at once */
    /* the target (core/target.h's texts; "" = no condition of that kind) */
    int continuous; /* devices that come to match later join (docs/batches.md) */
    char target_tags[STORE_TAGS_TEXT_MAX];
    char target_groups[STORE_TARGET_GROUPS_MAX];
    char target_versions[STORE_TARGET_VERSIONS_MAX];
    char sha1[41]; /* the firmware's; "" for a row older than the column */
} store_batch;

/* What creating a batch needs; strings borrowed for the call. */
typedef struct {
    int directed;                    /* 0: every eligible device of the product */
    const char *const *identifiers;  /* directed only: n_identifiers entries */
    size_t n_identifiers;
    const char *policy;
    int validity_days;
    int timeout_min;
    int retry_times;
    int retry_interval_min;
    int max_push_per_min;
    /* the target (NULL = no condition of that kind): with directed, versions only; with
     * scope "filter" (filter != 0), tags and/or groups */
    int filter;
    const char *tags;     /* canonical tags text */
    const char *groups;   /* JSON array of group names */
    const char *versions; /* JSON array of firmware versions (fromVersions) */
    int continuous;
    const rollout *rollout;          /* phases and brakes; NULL: none */
    int64_t start_at_ms;             /* > now: the batch is scheduled until then; else 0 */
    const char *windows;             /* maintenance windows (JSON); NULL: none */
    int confirm_min;                 /* confirmMinutes (0: none) */
} store_batch_new;

/* Why a create was refused (with OTA_EINVAL / OTA_ENOTFOUND). */
typedef struct {
    const char *field;      /* "identifiers", "scope", "firmwareId" */
    const char *code;       /* machine code: device_not_found, device_not_activated,
                               device_same_version, device_busy, no_devices,
                               not_in_batch (a named first phase's device) */
    char identifier[OTA_IDENT_MAX + 1];    /* the identifier at fault, or "" */
} store_batch_err;

/* One row of a batch's device table. */
typedef struct {
    int64_t device_id;
    char identifier[OTA_IDENT_MAX + 1];
    char device_name[272];
    int online;
    int64_t finish_ms;         /* 0 while unfinished */
    char current_version[OTA_VERSION_MAX + 1]; /* last version the device reported ("" when none) */
    fsm_state state;
    int progress;
    int retried;
    int retry_times;
    fsm_reason reason;
} store_batch_device;

typedef struct {
    int64_t firmware_id;     /* 0 = any */
    const char *product_key; /* NULL = any */
    const char *state;       /* NULL = any */
} store_batch_filter;

/* Creates a batch and its tasks (to_push) in one transaction: OTA_ENOTFOUND when the
 * firmware does not exist; OTA_EINVAL with *err when a directed identifier is not
 * eligible (not found, not activated, already on the version, in an unfinished task) or
 * the batch would have no device. out gets the new row. */
ota_err store_batch_create(store_t *s, int64_t firmware_id, const store_batch_new *in,
                           int64_t now_ms, int64_t expires_ms, store_batch *out,
                           store_batch_err *err);
ota_err store_batch_get(store_t *s, int64_t id, store_batch *out);
/* Calls fn for the batch's devices counted by phase, state and failure reason. One read of
 * the batch's tasks (by its primary key's prefix): for batches with a rollout only. */
ota_err store_batch_phase_counts(store_t *s, int64_t batch_id,
                                 void (*fn)(void *ud, int phase, fsm_state st, fsm_reason r,
                                            int64_t n),
                                 void *ud);
/* A batch's rollout counters and progress as stored (batch_rollout, migration 16): the
 * engine's phases and brakes judge these, so they are exact across the instances that share
 * the database (docs/batches.md, "Several otad"). */
typedef struct {
    rollout_tally ct;
    int phase;            /* 0-based current phase */
    int64_t phase_due_ms; /* its soak's end, 0: none */
    int brakes_fired;     /* bit i: abort rule i fired */
} store_rollout;
/* The batch's stored rollout counters into *out (a batch with a rollout gets them when it is
 * created). With make, a batch without them (created before migration 16) gets them
 * counted from its tasks first, in a transaction of its own (so not while the caller holds
 * a unit: SQLite would wait for itself); a concurrent caller's row wins and is read.
 * OTA_ENOTFOUND when there are none (and not make), else OTA_OK or a store error. */
ota_err store_batch_rollout_init(store_t *s, int64_t batch_id, int make, rollout_tally *out);
ota_err store_batch_list(store_t *s, const store_batch_filter *f, store_page pg,
                         store_batch **items, size_t *n, int64_t *total);
/* A page of the batch's device rows in device id order. state: -1 any, else an fsm_state.
 * OTA_ENOTFOUND when the batch does not exist; OTA_EINVAL for a bad page or state. */
ota_err store_batch_devices(store_t *s, int64_t batch_id, int state, store_page pg,
                            store_batch_device **items, size_t *n, int64_t *total);
/* The same, also by keyset: after > 0 answers the pg.page_size rows whose device id is
 * greater than after (pg.page must be 1), at the same cost at any depth; after = 0 pages by
 * pg.page. *next_after (may be NULL) gets the after of the next page: the last row's device
 * id when rows follow it, 0 when none does. OTA_EINVAL also for a negative after, or one
 * with pg.page > 1. */
ota_err store_batch_devices_keyset(store_t *s, int64_t batch_id, int state, store_page pg,
                                   int64_t after, store_batch_device **items, size_t *n,
                                   int64_t *total, int64_t *next_after);
/* Terminates a running batch (in_progress, scheduled or paused): unfinished tasks
 * failed/terminated, state terminated, end_ms set; *failed (may be NULL) the tasks it
 * failed. OTA_EINUSE when it has already ended. */
ota_err store_batch_terminate(store_t *s, int64_t id, int64_t now_ms, store_batch *out,
                              int64_t *failed);
/* The operator pauses an in_progress batch (pause_reason = why, JSON) or resumes a paused
 * one (pause_reason cleared). OTA_EINUSE when the batch is not in the state the call needs
 * (out then holds the row as it is); OTA_ENOTFOUND when it does not exist. */
ota_err store_batch_pause(store_t *s, int64_t id, const char *why, store_batch *out);
ota_err store_batch_resume(store_t *s, int64_t id, store_batch *out);

/* ---- the engine's side ---------------------------------------------------------------- */

/* A task as the engine sees it. */
typedef struct {
    int64_t batch_id;
    int64_t device_id;
    fsm_task task;
    char current_version[OTA_VERSION_MAX + 1];
    int phase; /* the task's phase, 0-based (fixed at creation; read, never written) */
} store_task;

typedef struct store_uow store_uow;

/* Starts a write transaction on a borrowed connection. */
ota_err store_uow_begin(store_t *s, store_uow **out);
/* Commits and frees u (also when the commit fails: then nothing was written). */
ota_err store_uow_commit(store_uow *u);
/* Rolls back and frees u; NULL is fine. */
void store_uow_rollback(store_uow *u);

/* The unit keeps what it read and wrote per device for the rest of the transaction, so a
 * round asks the database once per device at most: the reads below answer from it, task
 * writes wait in it and go out together (one statement on PostgreSQL) at the commit or
 * before a terminate. The two loads fill it for a whole round at once; a device not loaded
 * is read on its own when first asked for (both are correct, the loads are fewer round
 * trips). Tasks are read as store_uow_task_open reads them: locked, batch row first. */
/* Loads the devices named pks[i].idents[i] (i < n): their ids, flags and open tasks.
 * Unknown names are remembered as unknown for the unit. */
ota_err store_uow_load_names(store_uow *u, const char *const *pks, const char *const *idents,
                             size_t n);
/* The same by device ids (names included). */
ota_err store_uow_load_ids(store_uow *u, const int64_t *ids, size_t n);
/* Forgets the "no open task" answers the unit has read: a batch created since (by another
 * connection) may have given those devices a task. */
void store_uow_forget_absent(store_uow *u);

/* The device's id and whether it is online/ready; OTA_ENOTFOUND when unknown. */
ota_err store_uow_device_find(store_uow *u, const char *product_key, const char *identifier,
                              int64_t *device_id);
/* The device's product key and identifier; OTA_ENOTFOUND when unknown. */
ota_err store_uow_device_names(store_uow *u, int64_t device_id, char *pk, size_t pklen, char *ident,
                               size_t identlen);
/* The device's unfinished task in an in_progress batch; OTA_ENOTFOUND when none. */
ota_err store_uow_task_open(store_uow *u, int64_t device_id, store_task *out);
/* Writes the task's fsm fields and current_version. */
ota_err store_uow_task_put(store_uow *u, const store_task *t, int64_t now_ms);
/* Adds delta[state] to the batch's counters. */
ota_err store_uow_batch_counts(store_uow *u, int64_t batch_id, const int delta[FSM_STATE_COUNT]);
/* The task of the device in the batch, in any state; OTA_ENOTFOUND when none. */
ota_err store_uow_task_get(store_uow *u, int64_t batch_id, int64_t device_id, store_task *out);
/* Marks the batch completed (end_ms = now) when it is running and every task is final (with
 * confirming: and no success still waits for its confirmation).
 * *completed = 1 when it did. */
ota_err store_uow_batch_complete_if_done(store_uow *u, int64_t batch_id, int confirming,
                                         int64_t now_ms, int *completed);
/* Terminates a running batch inside the unit (validity end). *done = 1 when it did;
 * *failed the unfinished tasks it failed. */
ota_err store_uow_batch_terminate(store_uow *u, int64_t batch_id, int64_t now_ms, int *done,
                                  int64_t *failed);
/* A brake with action "abort" fired: ended as terminate does, state aborted, why (JSON)
 * kept as its pause_reason. *done = 1 when the batch was running; *failed as above. */
ota_err store_uow_batch_abort(store_uow *u, int64_t batch_id, int64_t now_ms, const char *why,
                              int *done, int64_t *failed);
/* A scheduled batch reached its startAt: in_progress. *done = 1 when it was scheduled. */
ota_err store_uow_batch_start(store_uow *u, int64_t batch_id, int *done);
/* A brake with action "pause" fired, or a phase ended below its success share: an
 * in_progress batch becomes paused with why (JSON). *done = 1 when it did. */
ota_err store_uow_batch_pause(store_uow *u, int64_t batch_id, const char *why, int *done);
/* The batch's rollout progress: current phase (0-based), when its soak ends (0: not yet
 * known), the brakes that fired (bits). */
ota_err store_uow_batch_phase(store_uow *u, int64_t batch_id, int phase, int64_t due_ms,
                              int brakes_fired);
/* Presence from the broker: a connection of the device that started (online) or ended at
 * t_ms, the broker's time. A start of a newer connection sets activated (first time) and
 * makes the device not ready until it says so again; a start or end not newer than the
 * connection the store knows changes nothing (several otad applying the same events, or
 * late ones, cannot undo a newer state). */
ota_err store_uow_device_presence(store_uow *u, int64_t device_id, int online, int64_t t_ms);
/* The device said it is subscribed (version report or firmware/get) at now_ms. */
ota_err store_uow_device_ready(store_uow *u, int64_t device_id, int64_t now_ms);
/* Online and ready, as the store has it; *ddi (may be NULL) whether it polls (a DDI
 * device: its pushes wait for its next poll, docs/ddi.md). */
ota_err store_uow_device_pushable(store_uow *u, int64_t device_id, int *pushable, int *ddi);
/* A DDI device polled at now_ms while the store had it offline (or not as a DDI device):
 * online, ready, activated, a DDI device, its last poll now_ms. */
ota_err store_uow_ddi_online(store_uow *u, int64_t device_id, int64_t now_ms);
ota_err store_uow_device_version(store_uow *u, int64_t device_id, const char *version,
                                 int64_t now_ms);
/* Presence snapshot: devices "pk.id" in clients[] are online (their ready flag kept: each
 * connect and disconnect since it was set arrived as an event and reset it), every other
 * device is offline and not ready, but for DDI devices: the broker does not know them,
 * their polls say (store_engine_ddi_offline). */
ota_err store_uow_presence_snapshot(store_uow *u, const char *const *clients, size_t n,
                                    int64_t now_ms);

/* Continuous batches (docs/batches.md, "Continuous batches"). */
typedef struct {
    int64_t product_id;
    int activated;
    int has_version;
    char version[OTA_VERSION_MAX + 1];
    char tags[STORE_TAGS_TEXT_MAX]; /* "" = none */
} store_device_facts;
/* What a target is judged on; OTA_ENOTFOUND when the device is unknown. */
ota_err store_uow_device_facts(store_uow *u, int64_t device_id, store_device_facts *out);
/* Calls fn with the name of each group the device is in (borrowed for the call). */
ota_err store_uow_device_groups(store_uow *u, int64_t device_id,
                                void (*fn)(void *ud, const char *name), void *ud);
/* The device joins the batch with a to_push task in phase (0-based: a batch with phases
 * takes a joining device into its current phase) and the batch's total and to_push count
 * grow, unless it was ever in the batch or is in an unfinished task of any batch: then
 * nothing changes. *joined = 1 when it joined. */
ota_err store_uow_task_join(store_uow *u, int64_t batch_id, int64_t device_id, int phase,
                            int64_t now_ms, int *joined);
/* Up to max device ids noted in target_events (store_targets.h), into ids; *n = how many. */
ota_err store_uow_target_events(store_uow *u, int64_t *ids, size_t max, size_t *n);
/* The device's note is handled. */
ota_err store_uow_target_event_done(store_uow *u, int64_t device_id);
/* Up to max ids of unfinished continuous batches with an id above after, ascending. */
ota_err store_uow_continuous_new(store_uow *u, int64_t after, int64_t *ids, size_t max,
                                 size_t *n);
/* Asks for store_uow_continuous_new(u, after, ...) ahead: the unit's next load (above) sends
 * it in the same round trip (PostgreSQL), and the call then answers from what came back
 * (up to STORE_UOW_CONT_AHEAD ids; a call with another after reads as before). */
#define STORE_UOW_CONT_AHEAD 64
void store_uow_continuous_ahead(store_uow *u, int64_t after);
/* The batch's rollout counters and progress, locked until the unit ends (PostgreSQL: the
 * row FOR NO KEY UPDATE; SQLite: the unit's write lock), so every unit that changes them
 * takes turns and reads what the one before committed. OTA_ENOTFOUND when the batch has
 * none stored (store_batch_rollout_init makes them). */
ota_err store_uow_rollout_lock(store_uow *u, int64_t batch_id, store_rollout *out);
/* Writes them back (a row locked by store_uow_rollout_lock). */
ota_err store_uow_rollout_put(store_uow *u, int64_t batch_id, const store_rollout *in);
/* Round trips to the database that the units of work of this process have waited for
 * (0 where the database is in-process: SQLite). */
uint64_t store_uow_round_trips(store_t *s);

/* Start-up and bookkeeping reads (no transaction needed). */
/* Every in_progress batch. */
ota_err store_engine_batches(store_t *s, store_batch **items, size_t *n);
/* Calls fn for the armed task deadlines of running batches due at or before until_ms
 * (INT64_MAX: all), earliest first, at most limit of them (device id, fsm_deadline, due ms). */
ota_err store_engine_deadlines(store_t *s, int64_t until_ms, int64_t limit,
                               void (*fn)(void *ud, int64_t device_id, int kind, int64_t due_ms),
                               void *ud);
/* Calls fn for every to_push task of the batch in a phase up to max_phase (0-based; 0 for a
 * batch without phases) whose device is online and ready. */
ota_err store_engine_pushable(store_t *s, int64_t batch_id, int max_phase,
                              void (*fn)(void *ud, int64_t device_id), void *ud);
/* At start: every MQTT device offline (ready flags kept for the snapshot to confirm); DDI
 * devices keep their presence, which their polls keep (store_engine_ddi_offline). */
ota_err store_engine_presence_reset(store_t *s);

/* The DDI devices (of the engine's partitions: store_parts_filter) online whose last poll
 * (store_ddi_polls_put, whichever instance saw it) is older than before_ms: offline and not
 * ready; *n (may be NULL) how many. */
ota_err store_engine_ddi_offline(store_t *s, int64_t before_ms, int64_t *n);

#endif
