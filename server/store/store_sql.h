/*
 * store_sql: SQL text both databases run as it is (store_sqlite.c, sqlite_batch.c,
 * store_pg.c, pg_batch.c), so a column or a state is named once. Column lists are the
 * order the shared row readers (store_rows.c) read them in; the task-state counters are
 * generated from FSM_STATES (core/fsm.h), so the counters' columns, the API's counts and
 * the engine's delta[] follow one order by construction. Nothing outside server/store/
 * includes this.
 *
 * Parameters differ between the databases (?N in SQLite, $N in PostgreSQL): fragments
 * here take none, or are built by store__sql_counts_add for one of them.
 */
#ifndef OTAD_STORE_SQL_H
#define OTAD_STORE_SQL_H

#include "core/fsm.h"
#include "store/store_batch.h"

#include <stddef.h>
#include <stdint.h>

/* "x" when f is 0, nothing when 1 (f is a literal 0 or 1 from a list of core/fsm.h). */
#define STORE_SQL_UNLESS_0(x) x
#define STORE_SQL_UNLESS_1(x)
#define STORE_SQL_UNLESS(f, x) STORE_SQL_UNLESS_##f(x)

/* ", b.n_to_push, ..., b.n_failed": the counters, in FSM_STATES order. */
#define STORE_SQL_X_COUNTER_COL(c, name, final) ", b.n_" #name
#define STORE_SQL_COUNTER_COLS FSM_STATES(STORE_SQL_X_COUNTER_COL)

/* After a terminate every unfinished task is failed: the unfinished states' counters are
 * 0 and n_failed = total - n_succeeded, which holds while succeeded and failed are the only
 * final states. */
#define STORE_SQL_X_FINAL_COUNT(c, name, final) +final
_Static_assert((0 FSM_STATES(STORE_SQL_X_FINAL_COUNT)) == 2 && FSM_SUCCEEDED >= 0 &&
                   FSM_FAILED >= 0,
               "terminate's counters (STORE_SQL_TERMINATE_COUNTERS) know succeeded and failed"
               " as the only final states");
#define STORE_SQL_X_ZERO_OPEN(c, name, final) STORE_SQL_UNLESS(final, ", n_" #name " = 0")
#define STORE_SQL_TERMINATE_COUNTERS                                                            \
    "n_failed = total - n_succeeded" FSM_STATES(STORE_SQL_X_ZERO_OPEN)

/* "Unfinished", spelled exactly as the partial index tasks_one_open's WHERE clause (SQLite
 * migration 1) so SQLite's planner uses that index (a lookup by device) instead of
 * scanning tasks per device. The final states are those of FSM_STATES (asserted above). */
#define STORE_SQL_TASK_OPEN "NOT IN ('succeeded','failed')"

/* A batch that has not ended (the running states of FSM_BATCH_STATES, core/fsm.h):
 * its tasks are worked on, its devices are busy, its firmware is in use. */
#define STORE_SQL_BATCH_RUNNING "IN ('in_progress','scheduled','paused')"

/* The batch row with its firmware and product (store__read_batch reads it). */
#define STORE_SQL_BATCH_COLS                                                                    \
    "b.id, b.firmware_id, b.product_id, p.product_key, p.name, f.name, f.version, f.file_name, " \
    "f.size, f.md5, f.sha256, b.scope, b.policy, b.validity_days, b.timeout_min, "              \
    "b.retry_times, b.retry_interval_min, b.max_push_per_min, b.state, b.start_ms, "             \
    "b.expires_ms, b.end_ms, b.total" STORE_SQL_COUNTER_COLS ", f.signature, f.key_id, "     \
    "COALESCE(b.pause_reason, ''), COALESCE(b.rollout, ''), b.phase, b.phase_due_ms, "      \
    "b.brakes_fired, "                                                                      \
    "b.continuous, b.target_tags, b.target_groups, b.target_versions, f.sha1, "                 \
    "b.start_at_ms, COALESCE(b.windows, ''), b.confirm_min "                                   \
    "FROM batches b JOIN firmwares f ON f.id = b.firmware_id JOIN products p ON p.id = b.product_id "
#define STORE_SQL_BATCH_COUNTS_AT 23 /* column of b.n_to_push in STORE_SQL_BATCH_COLS */
/* f.signature, then f.key_id, follow the counters */
#define STORE_SQL_BATCH_SIGNATURE_AT (STORE_SQL_BATCH_COUNTS_AT + FSM_STATE_COUNT)
/* b.continuous, then the target's three texts and f.sha1, follow b.brakes_fired */
#define STORE_SQL_BATCH_TARGET_AT (STORE_SQL_BATCH_SIGNATURE_AT + 7)
/* b.start_at_ms, then b.windows, follow f.sha1 */
#define STORE_SQL_BATCH_TIME_AT (STORE_SQL_BATCH_TARGET_AT + 5)

/* The catalog's rows (store__read_product, store__read_device; the firmware's columns are
 * store_sql.c's alone, next to its reader and its INSERT). */
#define STORE_SQL_PRODUCT_COLS                                                                  \
    "p.id, p.product_key, p.name, p.description, p.created_ms,"                                \
    " (SELECT count(*) FROM devices d WHERE d.product_id = p.id),"                              \
    " (SELECT count(*) FROM firmwares f WHERE f.product_id = p.id), p.require_signature"
#define STORE_SQL_DEVICE_COLS                                                                   \
    "d.id, d.product_id, p.product_key, d.identifier, d.device_name, d.activated, d.online,"   \
    " d.firmware_version, d.created_ms, d.activated_ms, d.last_seen_ms, d.tags"
/* The engine's view of a task (store__read_task), from tasks t. */
#define STORE_SQL_TASK_COLS                                                                     \
    "t.batch_id, t.state, t.fail_reason, t.progress, t.retried, t.attempt,"                    \
    " t.push_msg_id, t.pushed_ms, t.started_ms, t.finish_ms, t.due_kind, t.due_ms,"            \
    " t.current_version, t.phase"

/* One row of a batch's device table (store__read_batch_device), from tasks t, devices d. */
#define STORE_SQL_BATCH_DEVICE_COLS                                                             \
    "d.id, d.identifier, d.device_name, d.online, t.finish_ms,"                                 \
    " COALESCE(t.current_version, d.firmware_version, ''), t.state, t.progress, t.retried,"     \
    " t.fail_reason"

/* A device eligible for a batch of a firmware: activated, reported version other than the
 * firmware's (none counts as other), and no unfinished task (a device is in at most one;
 * the partial index tasks_one_open holds them). pid and ver are the parameters' marks
 * (?1/$1 ...); d is devices. Used by the eligible list and by a batch for all devices. */
#define STORE_SQL_ELIGIBLE(pid, ver)                                                            \
    "d.product_id = " pid " AND d.activated = 1"                                                \
    " AND (d.firmware_version IS NULL OR d.firmware_version <> " ver ")"                        \
    " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.device_id = d.id"                           \
    " AND t.state " STORE_SQL_TASK_OPEN ")"

/* A group (store__read_group), from device_groups g joined to products p. */
#define STORE_SQL_GROUP_COLS                                                                    \
    "g.id, p.product_key, g.name, g.created_ms,"                                               \
    " (SELECT count(*) FROM device_group_members m WHERE m.group_id = g.id)"                    \
    " FROM device_groups g JOIN products p ON p.id = g.product_id "

/* A signing key (store__read_signkey), from signing_keys k joined to products p. */
#define STORE_SQL_SIGNKEY_COLS                                                                  \
    "k.id, p.product_key, k.key_id, k.name, k.public_key, k.created_ms,"                       \
    " COALESCE(k.retired_ms, 0) FROM signing_keys k JOIN products p ON p.id = k.product_id "

/* A user (store_accounts.c's read_user), from users u; the last column is the stored
 * password form ("" when none). */
#define STORE_SQL_USER_COLS                                                                     \
    "u.id, u.name, u.role, u.disabled, CASE WHEN u.password IS NULL THEN 0 ELSE 1 END,"        \
    " u.created_ms, u.created_by, COALESCE(u.password, '') FROM users u "
/* A token and its user's role and disabled flag (store_accounts.c's read_token). */
#define STORE_SQL_TOKEN_COLS                                                                    \
    "t.id, COALESCE(t.user_id, 0), COALESCE(u.name, ''), t.kind, t.name, t.role, t.created_ms," \
    " COALESCE(t.expires_ms, 0), COALESCE(t.last_used_ms, 0), COALESCE(t.revoked_ms, 0),"      \
    " t.created_by, COALESCE(u.role, ''), COALESCE(u.disabled, 0)"                              \
    " FROM tokens t LEFT JOIN users u ON u.id = t.user_id "

/* An audit row (store_audit.c's reader), from audit a. */
#define STORE_SQL_AUDIT_COLS                                                                    \
    "a.id, a.time_ms, a.actor, a.source, a.action, a.object, a.result, COALESCE(a.detail, '')"  \
    " FROM audit a "

/* A webhook (store_webhook.c's reader), from webhooks w; the last column its backlog:
 * events not yet in a delivery and those of its pending deliveries. */
#define STORE_SQL_HOOK_BACKLOG(where_e, where_d)                                                \
    "(SELECT count(*) FROM webhook_events e WHERE e.delivery_id IS NULL" where_e ")"            \
    " + (SELECT COALESCE(sum(d.n_events), 0) FROM webhook_deliveries d"                          \
    " WHERE d.state = 'pending'" where_d ")"
#define STORE_SQL_HOOK_COLS                                                                     \
    "w.id, w.url, w.secret, w.events, w.enabled, w.group_max, w.group_seconds, w.created_by,"   \
    " w.created_ms, " STORE_SQL_HOOK_BACKLOG(" AND e.webhook_id = w.id",                         \
                                              " AND d.webhook_id = w.id") " FROM webhooks w "
/* The enqueue (store__event, store_uow_event): one outbox row per enabled webhook
 * subscribed to the event (its name ev, its time t, its payload data: the database's
 * parameter marks, cast where PostgreSQL needs it); pos is the database's substring
 * search (instr, strpos). */
#define STORE_SQL_HOOK_EVENT(pos, ev, t, data)                                                  \
    "INSERT INTO webhook_events(webhook_id, event, time_ms, data) SELECT w.id, " ev ", " t ", "  \
    data " FROM webhooks w WHERE w.enabled = 1 AND (w.events = '*' OR " pos                      \
    "(',' || w.events || ',', ',' || " ev " || ',') > 0)"
/* A delivery's lease (store_webhook_claim): up to $4 due deliveries of webhook $1 at $2,
 * leased until $3; lock is PostgreSQL's row lock clause (another otad skips them). */
#define STORE_SQL_HOOK_CLAIM(lock)                                                              \
    "UPDATE webhook_deliveries SET lease_ms = $3 WHERE id IN (SELECT id FROM"                   \
    " webhook_deliveries WHERE webhook_id = $1 AND state = 'pending' AND next_ms <= $2"         \
    " AND lease_ms <= $2 ORDER BY next_ms, id LIMIT $4" lock ")"                                 \
    " RETURNING id, webhook_id, grouped, attempts, first_ms, event"
/* The outbox rows not yet in a delivery, a webhook's together (store_webhook_assemble). */
#define STORE_SQL_HOOK_OPEN(lock)                                                               \
    "SELECT e.id, e.webhook_id, e.event, e.time_ms, w.group_max, w.group_seconds"               \
    " FROM webhook_events e JOIN webhooks w ON w.id = e.webhook_id"                             \
    " WHERE e.delivery_id IS NULL ORDER BY e.webhook_id, e.id LIMIT 5000" lock

/* The metrics' reads (store_metrics.c), the same text in both databases: batches by state;
 * the tasks of running batches by state from their counters (FSM_STATES order, so no task
 * row is read); devices online. */
#define STORE_SQL_X_SUM(c, name, final) ", COALESCE(sum(b.n_" #name "), 0)"
#define STORE_SQL_METRIC_BATCHES "SELECT state, count(*) FROM batches GROUP BY state"
#define STORE_SQL_METRIC_TASKS                                                                  \
    "SELECT count(*)" FSM_STATES(STORE_SQL_X_SUM) " FROM batches b WHERE b.state " STORE_SQL_BATCH_RUNNING
#define STORE_SQL_METRIC_ONLINE "SELECT count(*) FROM devices WHERE online = 1"

/* The statements the layer above the SQL (catalog.c) runs through store_ops.query, by id;
 * each database's file has one SQL text per id (its parameter marks, locks and
 * functions), and every text is checked to be there when the store opens. X(id, name for
 * the log): parameters and result columns in the comment of each database's table. */
#define STORE_QUERIES(X)                                                                        \
    X(PRODUCT_INSERT, "insert product")                                                         \
    X(PRODUCT_GET, "get product")                                                               \
    X(PRODUCT_COUNT, "count products")                                                          \
    X(PRODUCT_LIST, "list products")                                                            \
    X(PRODUCT_ID, "find product")                                                               \
    X(PRODUCT_LOCK, "lock product")                                                             \
    X(DEVICE_INSERT, "insert device")                                                           \
    X(DEVICE_GET, "get device")                                                                 \
    X(DEVICE_COUNT, "count devices")                                                            \
    X(DEVICE_LIST, "list devices")                                                              \
    X(DEVICE_COUNT_ON, "count devices")                                                         \
    X(DEVICE_LIST_ON, "list devices")                                                           \
    X(PRESENCE, "update device")                                                                \
    X(VERSION, "update device")                                                                 \
    X(ALL_OFFLINE, "all offline")                                                               \
    X(FW_GET, "get firmware")                                                                   \
    X(FW_NAME_USED, "check firmware name")                                                      \
    X(FW_VERSION_USED, "check firmware version")                                                \
    X(FW_COUNT_P, "count firmwares")                                                            \
    X(FW_INSERT, "insert firmware")                                                             \
    X(FW_COUNT, "count firmwares")                                                              \
    X(FW_LIST, "list firmwares")                                                                \
    X(FW_LIST_P, "list firmwares")                                                              \
    X(FW_LOCK, "lock firmware")                                                                 \
    X(FW_RUNNING, "check batches")                                                              \
    X(FW_DEL_TASKS, "delete firmware")                                                          \
    X(FW_DEL_BATCHES, "delete firmware")                                                        \
    X(FW_DEL, "delete firmware")                                                                \
    X(SHA_USED, "check firmware file")                                                          \
    X(ELIG_COUNT, "count eligible")                                                             \
    X(ELIG_LIST, "list eligible")                                                               \
    X(BATCH_FIRMWARE, "batch create: firmware")                                                 \
    X(BATCH_PRODUCT_LOCK, "batch create: lock product")                                         \
    X(BATCH_INSERT, "batch create: insert batch")                                               \
    X(BATCH_TASKS_ALL, "batch create: insert tasks")                                            \
    X(BATCH_DIRECTED_FIND, "batch create: find devices")                                        \
    X(BATCH_TASKS_DIRECTED, "batch create: insert tasks")                                       \
    X(BATCH_TOTAL, "batch create: total")                                                       \
    X(BATCH_GET, "batch get")                                                                   \
    X(BATCH_COUNT, "batch list count")                                                          \
    X(BATCH_LIST, "batch list")                                                                 \
    X(BATCH_DEVICES, "batch devices")                                                           \
    X(BATCH_DEVICES_STATE, "batch devices")                                                     \
    X(BATCH_LOCK, "batch terminate: lock")                                                      \
    X(TERM_TASKS, "batch terminate: tasks")                                                     \
    X(TERM_BATCH, "batch terminate")                                                            \
    X(BATCH_PAUSE, "batch pause")                                                               \
    X(BATCH_ROLLOUT, "batch create: rollout")                                                   \
    X(BATCH_TIME, "batch create: schedule")                                                     \
    X(TASK_CANARY, "batch create: named phase")                                                 \
    X(TASK_PHASE, "batch create: phases")                                                       \
    X(TASK_CANARY_DONE, "batch create: named phase")                                            \
    X(BATCH_PHASE_COUNTS, "batch phase counts")                                                 \
    X(ROLLOUT_GET, "batch rollout counters")                                                    \
    X(BATCH_CONTINUOUS_LOCK, "batch create: continuous")                                        \
    X(ROLLOUT_ADD, "batch rollout counters")                                                    \
    X(FW_DEL_ROLLOUT, "delete firmware")                                                        \
    X(BATCH_RESUME, "batch resume")                                                             \
    X(USER_INSERT, "insert user")                                                               \
    X(USER_GET, "get user")                                                                     \
    X(USER_COUNT, "count users")                                                                \
    X(USER_LIST, "list users")                                                                  \
    X(USER_UPDATE, "update user")                                                               \
    X(TOKEN_INSERT, "insert token")                                                             \
    X(TOKEN_BY_HASH, "check token")                                                             \
    X(TOKEN_BY_ID, "get token")                                                                 \
    X(TOKEN_TOUCH, "record token use")                                                          \
    X(TOKEN_COUNT, "count tokens")                                                              \
    X(TOKEN_LIST, "list tokens")                                                                \
    X(TOKEN_REVOKE, "revoke token")                                                             \
    X(AUDIT_INSERT, "append audit row")                                                         \
    X(AUDIT_LIST, "list audit rows")                                                            \
    X(METRIC_BATCHES, "metrics: batches")                                                       \
    X(METRIC_TASKS, "metrics: tasks")                                                           \
    X(METRIC_ONLINE, "metrics: devices online")                                                 \
    X(METRIC_RUNNING, "metrics: running batches")                                               \
    X(PRODUCT_SET_REQSIG, "update product")                                                     \
    X(PRODUCT_REQSIG, "check product signing")                                                  \
    X(SIGNKEY_INSERT, "insert signing key")                                                     \
    X(SIGNKEY_COUNT, "count signing keys")                                                      \
    X(SIGNKEY_LIST, "list signing keys")                                                        \
    X(SIGNKEY_GET, "get signing key")                                                           \
    X(SIGNKEY_RETIRE, "retire signing key")                                                     \
    X(SIGNKEY_ACTIVE, "check signing key")                                                    \
    X(HOOK_INSERT, "insert webhook")                                                            \
    X(HOOK_GET, "get webhook")                                                                  \
    X(HOOK_LIST, "list webhooks")                                                               \
    X(HOOK_UPDATE, "update webhook")                                                            \
    X(HOOK_DEL_ATTEMPTS, "delete webhook")                                                      \
    X(HOOK_DEL_EVENTS, "delete webhook")                                                        \
    X(HOOK_DEL_DELIVERIES, "delete webhook")                                                    \
    X(HOOK_DEL, "delete webhook")                                                               \
    X(HOOK_EVENT, "enqueue webhook event")                                                      \
    X(HOOK_PING_EVENT, "webhook ping")                                                          \
    X(HOOK_OPEN_ANY, "webhook outbox")                                                          \
    X(HOOK_OPEN, "webhook outbox")                                                              \
    X(HOOK_DELIVERY_INSERT, "webhook delivery")                                                 \
    X(HOOK_EVENTS_ASSIGN, "webhook delivery")                                                   \
    X(HOOK_CLAIM, "webhook claim")                                                              \
    X(HOOK_ITEMS, "webhook delivery events")                                                    \
    X(HOOK_DELIVERY_SET, "webhook delivery result")                                             \
    X(HOOK_ATTEMPT_INSERT, "webhook delivery log")                                              \
    X(HOOK_LOG, "webhook delivery log")                                                         \
    X(HOOK_BACKLOG, "webhook backlog")                                                          \
    X(HOOK_PRUNE_ANY, "webhook prune")                                                          \
    X(HOOK_PRUNE_EVENTS, "webhook prune")                                                       \
    X(HOOK_PRUNE_DELIVERIES, "webhook prune")                                                   \
    X(HOOK_PRUNE_ATTEMPTS, "webhook prune")                                                    \
    X(DEVICE_ID_TAGS, "find device")                                                            \
    X(DEVICE_TAGS_SET, "set device tags")                                                       \
    X(MATCH_COUNT, "count matching devices")                                                    \
    X(MATCH_LIST, "list matching devices")                                                      \
    X(MATCH_IDS, "find matching devices")                                                       \
    X(MATCH_ELIGIBLE, "count eligible matching devices")                                        \
    X(BATCH_TASKS_MATCH, "batch create: insert matching tasks")                                 \
    X(BATCH_TARGET_SET, "batch create: target")                                                 \
    X(CONTINUOUS_ANY, "check continuous batches")                                               \
    X(TARGET_EVENT_ADD, "note target change")                                                   \
    X(GROUP_INSERT, "insert group")                                                             \
    X(GROUP_COUNT_P, "count groups")                                                            \
    X(GROUP_LIST, "list groups")                                                                \
    X(GROUP_GET, "get group")                                                                   \
    X(GROUP_DEL_MEMBERS, "delete group")                                                        \
    X(GROUP_DEL, "delete group")                                                                \
    X(GROUP_MEMBER_ADD, "add group member")                                                     \
    X(GROUP_MEMBER_DEL, "remove group member")                                                  \
    X(GROUP_MEMBER_COUNT, "count group members")                                                \
    X(GROUP_MEMBER_LIST, "list group members")                                                  \
    X(DEVICE_GROUP_NAMES, "device groups")                                                      \
    X(FW_SET_SHA1, "record firmware sha1")                                                      \
    X(DDI_TARGET, "ddi poll")                                                                   \
    X(DDI_ATTRS_PUT, "ddi config data")                                                         \
    X(DDI_ATTRS_GET, "ddi attributes")                                                          \
    X(DDI_CANCEL_ACK, "ddi cancel feedback")                                                  \
    X(DDI_HINT_PUT, "ddi failure hint")                                                         \
    X(DDI_POLLS_PUT, "ddi last polls")

#define STORE_X_Q_ENUM(id, name) STORE_Q_##id,
typedef enum { STORE_QUERIES(STORE_X_Q_ENUM) STORE_Q_COUNT } store_q;
#undef STORE_X_Q_ENUM

/* The engine's unit of work's statements (store_batch.c runs them through
 * store_batch_ops.uow_exec; each database has the texts, in the order of this list, and may
 * add its own after STORE_UQ_COUNT). X(id, name for the log). */
#define STORE_UOW_QUERIES(X)                                                                    \
    X(DEVICE_FIND, "engine device find")                                                        \
    X(DEVICE_NAMES, "engine device names")                                                      \
    X(TASK_OPEN, "engine task open")                                                            \
    X(TASK_PUT, "engine task put")                                                              \
    X(COUNTS, "engine batch counts")                                                            \
    X(COMPLETE, "engine batch complete")                                                        \
    X(PRESENCE_ON, "engine presence")                                                           \
    X(PRESENCE_OFF, "engine presence")                                                          \
    X(READY, "engine ready")                                                                    \
    X(PUSHABLE, "engine pushable")                                                              \
    X(VERSION, "engine version")                                                                \
    X(BATCH_PAUSE, "engine batch pause")                                                        \
    X(BATCH_REASON, "engine batch reason")                                                      \
    X(BATCH_PHASE, "engine batch phase")                                                        \
    X(BATCH_START, "engine batch start")                                                        \
    X(TASK_GET, "engine task get")                                                              \
    X(COMPLETE_CONFIRMED, "engine batch complete")                                                        \
    X(EVENT, "engine webhook event")                                                     \
    X(DEVICE_FACTS, "engine device facts")                                                      \
    X(DEVICE_GROUPS, "engine device groups")                                                    \
    X(TASK_JOIN, "engine join batch")                                                           \
    X(BATCH_JOINED, "engine join batch")                                                        \
    X(TARGET_EVENTS, "engine target changes")                                                   \
    X(TARGET_EVENT_DEL, "engine target changes")                                                \
    X(CONTINUOUS_NEW, "engine continuous batches")                                              \
    X(DDI_ONLINE, "engine ddi presence")                                                        \
    X(ROLLOUT_LOCK, "engine rollout counters")                                                  \
    X(ROLLOUT_PUT, "engine rollout counters")

#define STORE_X_UQ_ENUM(id, name) STORE_UQ_##id,
typedef enum { STORE_UOW_QUERIES(STORE_X_UQ_ENUM) STORE_UQ_COUNT } store_uq;
#undef STORE_X_UQ_ENUM

/* The unit-of-work statement's name for the log. */
const char *store__uq_name(store_uq q);

/* The statement's name for the log. */
const char *store__q_name(store_q q);
/* SQL both databases run as written, by statement id (NULL: each database has its own). */
extern const char *const store__sql_common[STORE_Q_COUNT];
/* The text of statement q for a database whose own table is texts. */
static inline const char *store__sql_text(const char *const *texts, store_q q)
{
    return texts[q] ? texts[q] : store__sql_common[q];
}
/* 0 when texts[0..n) or store__sql_common has every statement; else -1 with the first
 * missing one in err. */
int store__sql_complete(const char *const *texts, int n, char *err, size_t errlen);

/* "UPDATE batches SET n_to_push = n_to_push + ?2, ... WHERE id = ?1" with the mark of the
 * database ('?' SQLite, '$' PostgreSQL): parameter 1 the batch id, then one delta per
 * task state in FSM_STATES order. Built once; the string lives as long as the process. */
const char *store__sql_counts_add(char mark);

/* Parameters of one statement, in order (?1/$1 first). Strings are borrowed until the
 * statement has run; store_arg_str(NULL) is SQL NULL. */
#define STORE_ARGS_MAX 16
typedef struct {
    int n;
    struct {
        enum { STORE_ARG_NULL, STORE_ARG_I64, STORE_ARG_TEXT } kind;
        int64_t i;
        const char *s;
    } v[STORE_ARGS_MAX];
} store_args;

static inline void store_arg_i64(store_args *a, int64_t x)
{
    a->v[a->n].kind = STORE_ARG_I64;
    a->v[a->n++].i = x;
}

static inline void store_arg_str(store_args *a, const char *x)
{
    a->v[a->n].kind = x ? STORE_ARG_TEXT : STORE_ARG_NULL;
    a->v[a->n++].s = x;
}

/* x when above 0, else SQL NULL (an optional time or id: 0 means none). */
static inline void store_arg_i64_pos(store_args *a, int64_t x)
{
    if (x > 0)
        store_arg_i64(a, x);
    else
        store_arg_str(a, NULL);
}

/* ---- rows --------------------------------------------------------------------------------
 * A result row as the shared readers see it: the database's accessors for one row. */
typedef struct {
    const void *row;                                   /* sqlite3_stmt, or a PGresult row */
    int64_t (*i64)(const void *row, int col);          /* 0 when NULL */
    void (*text)(const void *row, int col, char *out, size_t outlen); /* "" when NULL */
    int (*is_null)(const void *row, int col);
} store_row;

/* A row function (store_row_fn, ud a store_first) that reads the first row with read into
 * out and notes that there was one; later rows are ignored. */
typedef struct {
    void (*read)(const store_row *r, void *out);
    void *out;
    int found;
} store_first;
void store__first_fn(void *ud, const store_row *r);

/* A row function (store_row_fn) that keeps column 0 of a row as an integer in *(int64_t *)ud. */
void store__first_i64(void *ud, const store_row *r);

/* The parameters of FW_INSERT: the product's id, then in's fields, then now_ms. */
void store__firmware_args(store_args *a, int64_t product_id, const store_firmware *in,
                          int64_t now_ms);

/* Fill *out (zeroed first) from the columns of the matching STORE_SQL_*_COLS, from col 0.
 * read_task returns -1 when the stored state is not a name of FSM_STATES. */
void store__read_product(const store_row *r, store_product *out);
void store__read_device(const store_row *r, store_device *out);
void store__read_firmware(const store_row *r, store_firmware *out);
/* From STORE_SQL_SIGNKEY_COLS. */
void store__read_signkey(const store_row *r, store_signkey *out);
void store__read_batch(const store_row *r, store_batch *out);
int store__read_task(const store_row *r, int64_t device_id, store_task *out);
/* retry_times: the batch's (not in the row). */
void store__read_batch_device(const store_row *r, int retry_times, store_batch_device *out);

#endif
