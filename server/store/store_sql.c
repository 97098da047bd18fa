/*
 * store_sql: what both databases' files share below the rules: the row readers that turn
 * a result row (store_row: the database's column accessors) into the store's structs, and
 * the counters' UPDATE built from FSM_STATES. Column orders are those of store_sql.h's
 * STORE_SQL_*_COLS. Pure functions, no I/O; the row readers run once per row read (the
 * engine reads one task per device event).
 */
#include "store/store_sql.h"

#include "store/store_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The firmware row: its columns (store__read_firmware reads them in this order) and its
 * INSERT's (store__firmware_args gives the values in that order). A new firmware field is
 * one line in each, the struct's field (store.h) and a migration per database. */
#define STORE_SQL_FIRMWARE_COLS                                                                 \
    "f.id, f.product_id, p.product_key, f.name, f.version, f.description, f.file_name,"       \
    " f.size, f.md5, f.sha256, f.created_ms, f.signature, f.key_id, f.sha1"
#define FIRMWARE_INSERT                                                                         \
    "INSERT INTO firmwares(product_id, name, version, description, file_name, size, md5,"      \
    " sha256, created_ms, signature, key_id, sha1)"                                         \
    " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"

/* Parameters the counters' UPDATE needs: the batch id and one delta per task state. The
 * PostgreSQL parameter builder holds 16 (store_pg_params). */
_Static_assert(1 + FSM_STATE_COUNT <= 16, "too many task states for one counters' UPDATE");

static char counts_sql[2][1024];
static pthread_once_t counts_once = PTHREAD_ONCE_INIT;

static void counts_build(void)
{
    static const char *const names[FSM_STATE_COUNT] = {
#define X_NAME(c, name, final) #name,
        FSM_STATES(X_NAME)
#undef X_NAME
    };
    static const char marks[2] = {'?', '$'};
    for (int d = 0; d < 2; d++) {
        char *out = counts_sql[d];
        size_t len = sizeof counts_sql[d], at = 0;
        at += (size_t)snprintf(out + at, len - at, "UPDATE batches SET ");
        for (int i = 0; i < FSM_STATE_COUNT; i++)
            at += (size_t)snprintf(out + at, len - at, "%sn_%s = n_%s + %c%d", i ? ", " : "",
                                   names[i], names[i], marks[d], i + 2);
        snprintf(out + at, len - at, " WHERE id = %c1", marks[d]);
    }
}

const char *store__q_name(store_q q)
{
    static const char *const names[STORE_Q_COUNT] = {
#define X_NAME(id, name) name,
        STORE_QUERIES(X_NAME)
#undef X_NAME
    };
    return (unsigned)q < STORE_Q_COUNT ? names[q] : "?";
}

/* The statements both databases run as written ($N parameters: SQLite binds them by name,
 * store_sqlite.c's query). A database's own table (its locks, casts and functions) has
 * the others. */
const char *const store__sql_common[STORE_Q_COUNT] = {
    [STORE_Q_PRODUCT_INSERT] = "INSERT INTO products(product_key, name, description, created_ms)"
                               " VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING RETURNING id",
    [STORE_Q_PRODUCT_GET] = "SELECT " STORE_SQL_PRODUCT_COLS " FROM products p WHERE p.product_key=$1",
    [STORE_Q_PRODUCT_COUNT] = "SELECT count(*) FROM products",
    [STORE_Q_PRODUCT_LIST] = "SELECT " STORE_SQL_PRODUCT_COLS
                             " FROM products p ORDER BY p.id LIMIT $1 OFFSET $2",
    [STORE_Q_PRODUCT_ID] = "SELECT id FROM products WHERE product_key=$1",
    [STORE_Q_DEVICE_INSERT] = "INSERT INTO devices(product_id, identifier, device_name, created_ms)"
                              " VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING"
                              " RETURNING id",
    [STORE_Q_DEVICE_GET] = "SELECT " STORE_SQL_DEVICE_COLS " FROM devices d JOIN products p"
                           " ON p.id = d.product_id WHERE p.product_key=$1 AND d.identifier=$2",
    [STORE_Q_DEVICE_COUNT] = "SELECT count(*) FROM devices WHERE product_id=$1",
    [STORE_Q_DEVICE_LIST] = "SELECT " STORE_SQL_DEVICE_COLS " FROM devices d JOIN products p"
                            " ON p.id = d.product_id WHERE d.product_id=$1 ORDER BY d.id"
                            " LIMIT $2 OFFSET $3",
    [STORE_Q_DEVICE_COUNT_ON] = "SELECT count(*) FROM devices WHERE product_id=$1 AND online=$2",
    [STORE_Q_DEVICE_LIST_ON] = "SELECT " STORE_SQL_DEVICE_COLS " FROM devices d JOIN products p"
                               " ON p.id = d.product_id WHERE d.product_id=$1 AND d.online=$2"
                               " ORDER BY d.id LIMIT $3 OFFSET $4",
    [STORE_Q_VERSION] = "UPDATE devices SET firmware_version=$3, last_seen_ms=$4 WHERE identifier=$2"
                        " AND product_id=(SELECT id FROM products WHERE product_key=$1)",
    [STORE_Q_ALL_OFFLINE] = "UPDATE devices SET online=0 WHERE online<>0",
    [STORE_Q_FW_GET] = "SELECT " STORE_SQL_FIRMWARE_COLS " FROM firmwares f JOIN products p"
                       " ON p.id = f.product_id WHERE f.id=$1",
    [STORE_Q_FW_NAME_USED] = "SELECT 1 FROM firmwares WHERE name=$1",
    [STORE_Q_FW_VERSION_USED] = "SELECT 1 FROM firmwares WHERE product_id=$1 AND version=$2",
    [STORE_Q_FW_COUNT_P] = "SELECT count(*) FROM firmwares WHERE product_id=$1",
    [STORE_Q_FW_INSERT] = FIRMWARE_INSERT " ON CONFLICT DO NOTHING RETURNING id",
    [STORE_Q_FW_COUNT] = "SELECT count(*) FROM firmwares",
    [STORE_Q_FW_LIST] = "SELECT " STORE_SQL_FIRMWARE_COLS " FROM firmwares f JOIN products p"
                        " ON p.id = f.product_id ORDER BY f.id DESC LIMIT $1 OFFSET $2",
    [STORE_Q_FW_LIST_P] = "SELECT " STORE_SQL_FIRMWARE_COLS " FROM firmwares f JOIN products p"
                          " ON p.id = f.product_id WHERE f.product_id=$1 ORDER BY f.id DESC"
                          " LIMIT $2 OFFSET $3",
    [STORE_Q_FW_RUNNING] = "SELECT count(*) FROM batches WHERE firmware_id=$1 AND state " STORE_SQL_BATCH_RUNNING,
    [STORE_Q_FW_DEL_TASKS] = "DELETE FROM tasks WHERE batch_id IN"
                             " (SELECT id FROM batches WHERE firmware_id=$1)",
    [STORE_Q_FW_DEL_ROLLOUT] = "DELETE FROM batch_rollout WHERE batch_id IN"
                               " (SELECT id FROM batches WHERE firmware_id=$1)",
    [STORE_Q_FW_DEL_BATCHES] = "DELETE FROM batches WHERE firmware_id=$1",
    [STORE_Q_FW_DEL] = "DELETE FROM firmwares WHERE id=$1",
    /* accounts (store_accounts.c) */
    [STORE_Q_USER_INSERT] = "INSERT INTO users(name, role, password, disabled, created_ms, created_by)"
                            " VALUES ($1, $2, $3, 0, $4, $5) ON CONFLICT DO NOTHING",
    [STORE_Q_USER_GET] = "SELECT " STORE_SQL_USER_COLS "WHERE u.name = $1",
    [STORE_Q_USER_COUNT] = "SELECT count(*) FROM users",
    [STORE_Q_USER_LIST] = "SELECT " STORE_SQL_USER_COLS "ORDER BY u.id LIMIT $1 OFFSET $2",
    [STORE_Q_USER_UPDATE] = "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled),"
                            " password = COALESCE($4, password) WHERE name = $1",
    [STORE_Q_TOKEN_INSERT] = "INSERT INTO tokens(user_id, kind, name, role, hash, created_ms, expires_ms,"
                             " created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [STORE_Q_TOKEN_BY_HASH] = "SELECT " STORE_SQL_TOKEN_COLS "WHERE t.hash = $1",
    [STORE_Q_TOKEN_BY_ID] = "SELECT " STORE_SQL_TOKEN_COLS "WHERE t.id = $1",
    [STORE_Q_TOKEN_TOUCH] = "UPDATE tokens SET last_used_ms = $2 WHERE id = $1",
    [STORE_Q_TOKEN_COUNT] = "SELECT count(*) FROM tokens t WHERE t.kind = 'api' AND t.revoked_ms IS NULL AND ($1 < 0 OR COALESCE(t.user_id, 0) = $1) ",
    [STORE_Q_TOKEN_LIST] = "SELECT " STORE_SQL_TOKEN_COLS "WHERE t.kind = 'api' AND t.revoked_ms IS NULL AND ($1 < 0 OR COALESCE(t.user_id, 0) = $1) "
                           "ORDER BY t.id DESC LIMIT $2 OFFSET $3",
    [STORE_Q_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
    /* audit (store_audit.c): append only; newest first, every filter optional */
    [STORE_Q_AUDIT_INSERT] = "INSERT INTO audit(time_ms, actor, source, action, object, result, detail)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [STORE_Q_AUDIT_LIST] = "SELECT " STORE_SQL_AUDIT_COLS
                           "WHERE (CAST($1 AS TEXT) IS NULL OR a.actor = $1)"
                           " AND (CAST($2 AS TEXT) IS NULL OR a.action = $2)"
                           " AND (CAST($3 AS TEXT) IS NULL OR a.object = $3)"
                           " AND (CAST($4 AS BIGINT) IS NULL OR a.time_ms >= $4)"
                           " AND (CAST($5 AS BIGINT) IS NULL OR a.time_ms < $5)"
                           " AND (CAST($6 AS BIGINT) IS NULL OR a.id < $6)"
                           " ORDER BY a.id DESC LIMIT $7",
    /* metrics (store_metrics.c) */
    [STORE_Q_METRIC_BATCHES] = STORE_SQL_METRIC_BATCHES,
    [STORE_Q_METRIC_TASKS] = STORE_SQL_METRIC_TASKS,
    [STORE_Q_METRIC_ONLINE] = STORE_SQL_METRIC_ONLINE,
    [STORE_Q_METRIC_RUNNING] = "SELECT id, total, n_succeeded, n_failed FROM batches WHERE state "
                               STORE_SQL_BATCH_RUNNING " ORDER BY id DESC LIMIT 100",
    [STORE_Q_SHA_USED] = "SELECT 1 FROM firmwares WHERE sha256=$1 LIMIT 1",
    [STORE_Q_BATCH_INSERT] =
        "INSERT INTO batches(firmware_id, product_id, scope, policy, validity_days, timeout_min,"
        " retry_times, retry_interval_min, max_push_per_min, state, start_ms, expires_ms, total)"
        " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,'in_progress',$10,$11,0) RETURNING id",
    [STORE_Q_BATCH_TOTAL] = "UPDATE batches SET total = $1, n_to_push = $1 WHERE id = $2",
    [STORE_Q_BATCH_GET] = "SELECT " STORE_SQL_BATCH_COLS "WHERE b.id = $1",
    [STORE_Q_TERM_TASKS] =
        "UPDATE tasks SET state = 'failed', fail_reason = 'terminated', finish_ms = $2,"
        " due_ms = NULL, due_kind = NULL, updated_ms = $2"
        " WHERE batch_id = $1 AND state " STORE_SQL_TASK_OPEN
        " AND EXISTS (SELECT 1 FROM batches WHERE id = $1 AND state " STORE_SQL_BATCH_RUNNING ")",
    [STORE_Q_PRODUCT_SET_REQSIG] = "UPDATE products SET require_signature=$2 WHERE product_key=$1",
    [STORE_Q_PRODUCT_REQSIG] = "SELECT require_signature FROM products WHERE id=$1",
    [STORE_Q_SIGNKEY_INSERT] = "INSERT INTO signing_keys(product_id, key_id, name, public_key,"
                               " created_ms) VALUES($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING"
                               " RETURNING id",
    [STORE_Q_SIGNKEY_COUNT] = "SELECT count(*) FROM signing_keys WHERE product_id=$1",
    [STORE_Q_SIGNKEY_LIST] = "SELECT " STORE_SQL_SIGNKEY_COLS "WHERE k.product_id=$1 ORDER BY k.id",
    [STORE_Q_SIGNKEY_GET] = "SELECT " STORE_SQL_SIGNKEY_COLS "WHERE k.product_id=$1 AND k.key_id=$2",
    [STORE_Q_SIGNKEY_RETIRE] = "UPDATE signing_keys SET retired_ms=$3 WHERE product_id=$1"
                               " AND key_id=$2 AND retired_ms IS NULL",
    [STORE_Q_SIGNKEY_ACTIVE] = "SELECT 1 FROM signing_keys WHERE product_id=$1 AND key_id=$2"
                               " AND retired_ms IS NULL",
    /* webhooks (store_webhook.c) */
    [STORE_Q_HOOK_INSERT] = "INSERT INTO webhooks(url, secret, events, enabled, group_max,"
                            " group_seconds, created_by, created_ms)"
                            " VALUES($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
    [STORE_Q_HOOK_GET] = "SELECT " STORE_SQL_HOOK_COLS "WHERE w.id = $1",
    [STORE_Q_HOOK_LIST] = "SELECT " STORE_SQL_HOOK_COLS "ORDER BY w.id",
    [STORE_Q_HOOK_UPDATE] = "UPDATE webhooks SET url=$2, secret=$3, events=$4, enabled=$5,"
                            " group_max=$6, group_seconds=$7 WHERE id=$1",
    [STORE_Q_HOOK_DEL_ATTEMPTS] = "DELETE FROM webhook_attempts WHERE webhook_id=$1",
    [STORE_Q_HOOK_DEL_EVENTS] = "DELETE FROM webhook_events WHERE webhook_id=$1",
    [STORE_Q_HOOK_DEL_DELIVERIES] = "DELETE FROM webhook_deliveries WHERE webhook_id=$1",
    [STORE_Q_HOOK_DEL] = "DELETE FROM webhooks WHERE id=$1",
    [STORE_Q_HOOK_PING_EVENT] = "INSERT INTO webhook_events(webhook_id, event, time_ms, data,"
                                " delivery_id) VALUES($1,'ping',$2,$3,$4)",
    [STORE_Q_HOOK_OPEN_ANY] = "SELECT 1 FROM webhook_events WHERE delivery_id IS NULL LIMIT 1",
    [STORE_Q_HOOK_DELIVERY_INSERT] =
        "INSERT INTO webhook_deliveries(webhook_id, grouped, n_events, event, state, attempts,"
        " first_ms, next_ms, lease_ms, created_ms) VALUES($1,$2,$3,$4,'pending',0,$5,$6,0,$6)"
        " RETURNING id",
    [STORE_Q_HOOK_ITEMS] = "SELECT event, time_ms, data FROM webhook_events WHERE delivery_id=$1"
                           " ORDER BY id",
    [STORE_Q_HOOK_DELIVERY_SET] = "UPDATE webhook_deliveries SET state=$2, attempts=$3,"
                                  " next_ms=$4, lease_ms=0 WHERE id=$1",
    [STORE_Q_HOOK_ATTEMPT_INSERT] =
        "INSERT INTO webhook_attempts(webhook_id, delivery_id, attempt, status, error,"
        " duration_ms, time_ms, result) VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
    [STORE_Q_HOOK_BACKLOG] = "SELECT " STORE_SQL_HOOK_BACKLOG("", ""),
    /* every finished delivery has an attempt no later than its end */
    [STORE_Q_HOOK_PRUNE_ANY] = "SELECT 1 FROM webhook_attempts WHERE time_ms < $1 LIMIT 1",
    [STORE_Q_HOOK_PRUNE_EVENTS] = "DELETE FROM webhook_events WHERE delivery_id IN (SELECT id FROM"
                                  " webhook_deliveries WHERE state <> 'pending' AND next_ms < $1)",
    [STORE_Q_HOOK_PRUNE_DELIVERIES] = "DELETE FROM webhook_deliveries WHERE state <> 'pending'"
                                      " AND next_ms < $1",
    [STORE_Q_HOOK_PRUNE_ATTEMPTS] = "DELETE FROM webhook_attempts WHERE time_ms < $1",
    /* targeting (store_targets.c) */
    [STORE_Q_DEVICE_ID_TAGS] = "SELECT id, COALESCE(tags, '') FROM devices"
                               " WHERE product_id=$1 AND identifier=$2",
    [STORE_Q_DEVICE_TAGS_SET] = "UPDATE devices SET tags=$2 WHERE id=$1",
    [STORE_Q_BATCH_TARGET_SET] = "UPDATE batches SET continuous=$2, target_tags=$3,"
                                 " target_groups=$4, target_versions=$5 WHERE id=$1",
    [STORE_Q_CONTINUOUS_ANY] = "SELECT 1 FROM batches WHERE product_id=$1 AND continuous=1"
                               " AND end_ms IS NULL LIMIT 1",
    [STORE_Q_TARGET_EVENT_ADD] = "INSERT INTO target_events(device_id) VALUES($1)"
                                 " ON CONFLICT DO NOTHING",
    [STORE_Q_GROUP_INSERT] = "INSERT INTO device_groups(product_id, name, created_ms)"
                             " VALUES($1,$2,$3) ON CONFLICT DO NOTHING RETURNING id",
    [STORE_Q_GROUP_COUNT_P] = "SELECT count(*) FROM device_groups WHERE product_id=$1",
    [STORE_Q_GROUP_LIST] = "SELECT " STORE_SQL_GROUP_COLS "WHERE g.product_id=$1 ORDER BY g.name"
                           " LIMIT $2 OFFSET $3",
    [STORE_Q_GROUP_GET] = "SELECT " STORE_SQL_GROUP_COLS "WHERE g.product_id=$1 AND g.name=$2",
    [STORE_Q_GROUP_DEL_MEMBERS] = "DELETE FROM device_group_members WHERE group_id=$1",
    [STORE_Q_GROUP_DEL] = "DELETE FROM device_groups WHERE id=$1",
    [STORE_Q_GROUP_MEMBER_ADD] = "INSERT INTO device_group_members(group_id, device_id)"
                                 " VALUES($1,$2) ON CONFLICT DO NOTHING",
    [STORE_Q_GROUP_MEMBER_DEL] = "DELETE FROM device_group_members WHERE group_id=$1"
                                 " AND device_id=$2",
    [STORE_Q_GROUP_MEMBER_COUNT] = "SELECT count(*) FROM device_group_members WHERE group_id=$1",
    [STORE_Q_GROUP_MEMBER_LIST] = "SELECT " STORE_SQL_DEVICE_COLS " FROM device_group_members m"
                                  " JOIN devices d ON d.id = m.device_id JOIN products p"
                                  " ON p.id = d.product_id WHERE m.group_id=$1 ORDER BY d.id"
                                  " LIMIT $2 OFFSET $3",
    [STORE_Q_DEVICE_GROUP_NAMES] = "SELECT g.name FROM device_group_members m JOIN device_groups g"
                                   " ON g.id = m.group_id WHERE m.device_id=$1 ORDER BY g.name",
    [STORE_Q_FW_SET_SHA1] = "UPDATE firmwares SET sha1=$2 WHERE id=$1 AND sha1 IS NULL",
    /* the device, its newest task (by batch id, through tasks_device) with that batch's
     * state, and what it told us through DDI (store_ddi.c reads the columns in order) */
    [STORE_Q_DDI_TARGET] =
        "SELECT d.id, COALESCE(t.batch_id, 0), COALESCE(t.state, ''), COALESCE(t.attempt, 0),"
        " COALESCE(t.fail_reason, ''), COALESCE(b.state, ''),"
        " CASE WHEN x.attributes IS NULL THEN 0 ELSE 1 END, COALESCE(x.cancel_acked, 0),"
        " COALESCE(b.windows, ''), d.online, d.ddi, COALESCE(x.hint_action, 0),"
        " COALESCE(x.hint_step, 0)"
        " FROM devices d JOIN products p ON p.id = d.product_id"
        " LEFT JOIN tasks t ON t.device_id = d.id AND t.batch_id ="
        " (SELECT max(t2.batch_id) FROM tasks t2 WHERE t2.device_id = d.id)"
        " LEFT JOIN batches b ON b.id = t.batch_id"
        " LEFT JOIN ddi_targets x ON x.device_id = d.id"
        " WHERE p.product_key = $1 AND d.identifier = $2",
    [STORE_Q_DDI_ATTRS_PUT] = "INSERT INTO ddi_targets(device_id, attributes, attributes_ms)"
                              " VALUES($1,$2,$3) ON CONFLICT(device_id) DO UPDATE SET"
                              " attributes = excluded.attributes,"
                              " attributes_ms = excluded.attributes_ms",
    [STORE_Q_DDI_ATTRS_GET] = "SELECT x.attributes, COALESCE(x.attributes_ms, 0) FROM ddi_targets x"
                              " JOIN devices d ON d.id = x.device_id JOIN products p"
                              " ON p.id = d.product_id WHERE p.product_key = $1"
                              " AND d.identifier = $2 AND x.attributes IS NOT NULL",
    [STORE_Q_DDI_CANCEL_ACK] = "INSERT INTO ddi_targets(device_id, cancel_acked) VALUES($1,$2)"
                               " ON CONFLICT(device_id) DO UPDATE SET"
                               " cancel_acked = excluded.cancel_acked",
    /* the reason action $2's error lines named (ddi_feedback_post); the action's close
     * reads it with the device (STORE_Q_DDI_TARGET), on whichever instance it arrives */
    [STORE_Q_DDI_HINT_PUT] = "INSERT INTO ddi_targets(device_id, hint_action, hint_step)"
                             " VALUES($1,$2,$3) ON CONFLICT(device_id) DO UPDATE SET"
                             " hint_action = excluded.hint_action,"
                             " hint_step = excluded.hint_step",
    /* $3: the end state, terminated or aborted */
    [STORE_Q_TERM_BATCH] = "UPDATE batches SET state = $3, end_ms = $2, "
                           STORE_SQL_TERMINATE_COUNTERS " WHERE id = $1 AND state "
                           STORE_SQL_BATCH_RUNNING,
    /* $2: why (JSON, docs/api.md "pauseReason") */
    [STORE_Q_BATCH_PAUSE] = "UPDATE batches SET state = 'paused', pause_reason = $2"
                            " WHERE id = $1 AND state = 'in_progress'",
    [STORE_Q_BATCH_ROLLOUT] = "UPDATE batches SET rollout = $2 WHERE id = $1",
    /* a startAt ahead makes the batch scheduled (core/fsm.h) */
    [STORE_Q_BATCH_TIME] = "UPDATE batches SET start_at_ms = CAST($2 AS BIGINT),"
                           " windows = CAST($3 AS TEXT), confirm_min = $4, state = CASE"
                           " WHEN CAST($2 AS BIGINT) > 0 THEN 'scheduled' ELSE state END"
                           " WHERE id = $1",
    /* phases are given in device id order, the last phase the highest ids, each statement
     * taking its share of the tasks not given yet (phase 0); the named first phase's tasks
     * are set aside (-1) first and come back as phase 0 at the end */
    [STORE_Q_TASK_CANARY] = "UPDATE tasks SET phase = -1 WHERE batch_id = $1 AND device_id ="
                            " (SELECT d.id FROM devices d WHERE d.product_id = $2"
                            " AND d.identifier = $3)",
    [STORE_Q_TASK_PHASE] = "UPDATE tasks SET phase = $2 WHERE batch_id = $1 AND device_id IN"
                           " (SELECT device_id FROM tasks WHERE batch_id = $1 AND phase = 0"
                           " ORDER BY device_id DESC LIMIT $3)",
    [STORE_Q_TASK_CANARY_DONE] = "UPDATE tasks SET phase = 0 WHERE batch_id = $1 AND phase = -1",
    /* devices by phase, state and reason: the detail's phases, the engine's counters when it
     * loads the batch (phases count their devices, which continuous batches add to) */
    [STORE_Q_BATCH_PHASE_COUNTS] = "SELECT phase, state, COALESCE(fail_reason, ''), count(*)"
                                   " FROM tasks WHERE batch_id = $1"
                                   " GROUP BY phase, state, fail_reason",
    /* a batch's rollout counters (store_batch_rollout_init): the row is made once, from the
     * tasks, by whichever engine loads the batch first; the other's insert does nothing */
    [STORE_Q_ROLLOUT_GET] = "SELECT counts FROM batch_rollout WHERE batch_id = $1",
    [STORE_Q_ROLLOUT_ADD] = "INSERT INTO batch_rollout(batch_id, counts, phase, phase_due_ms,"
                            " brakes_fired) SELECT id, $2, phase, phase_due_ms, brakes_fired"
                            " FROM batches WHERE id = $1 ON CONFLICT DO NOTHING",
    [STORE_Q_BATCH_RESUME] = "UPDATE batches SET state = 'in_progress', pause_reason = NULL"
                             " WHERE id = $1 AND state = 'paused'",
};

const char *store__uq_name(store_uq q)
{
    static const char *const names[STORE_UQ_COUNT] = {
#define X_NAME(id, name) name,
        STORE_UOW_QUERIES(X_NAME)
#undef X_NAME
    };
    return (unsigned)q < STORE_UQ_COUNT ? names[q] : "?";
}

int store__sql_complete(const char *const *texts, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (!texts[i] && !store__sql_common[i]) {
            snprintf(err, errlen, "store: no SQL for statement %d (%s)", i, store__q_name(i));
            return -1;
        }
    }
    return 0;
}

void store__first_fn(void *ud, const store_row *r)
{
    store_first *f = ud;
    if (!f->found)
        f->read(r, f->out);
    f->found = 1;
}

void store__first_i64(void *ud, const store_row *r)
{
    *(int64_t *)ud = r->i64(r->row, 0);
}

const char *store__sql_counts_add(char mark)
{
    pthread_once(&counts_once, counts_build);
    return counts_sql[mark == '$'];
}

void store__firmware_args(store_args *a, int64_t product_id, const store_firmware *in,
                          int64_t now_ms)
{
    store_arg_i64(a, product_id);
    store_arg_str(a, in->name);
    store_arg_str(a, in->version);
    store_arg_str(a, in->description);
    store_arg_str(a, in->file_name);
    store_arg_i64(a, in->size);
    store_arg_str(a, in->md5);
    store_arg_str(a, in->sha256);
    store_arg_i64(a, now_ms);
    store_arg_str(a, in->key_id[0] ? in->signature : NULL);
    store_arg_str(a, in->key_id[0] ? in->key_id : NULL);
    store_arg_str(a, in->sha1[0] ? in->sha1 : NULL);
}

void store__read_product(const store_row *r, store_product *p)
{
    memset(p, 0, sizeof *p);
    p->id = r->i64(r->row, 0);
    r->text(r->row, 1, p->product_key, sizeof p->product_key);
    r->text(r->row, 2, p->name, sizeof p->name);
    r->text(r->row, 3, p->description, sizeof p->description);
    p->created_ms = r->i64(r->row, 4);
    p->device_count = r->i64(r->row, 5);
    p->firmware_count = r->i64(r->row, 6);
    p->require_signature = r->i64(r->row, 7) != 0;
}

void store__read_device(const store_row *r, store_device *d)
{
    memset(d, 0, sizeof *d);
    d->id = r->i64(r->row, 0);
    d->product_id = r->i64(r->row, 1);
    r->text(r->row, 2, d->product_key, sizeof d->product_key);
    r->text(r->row, 3, d->identifier, sizeof d->identifier);
    r->text(r->row, 4, d->device_name, sizeof d->device_name);
    d->activated = (int)r->i64(r->row, 5);
    d->online = (int)r->i64(r->row, 6);
    d->has_version = !r->is_null(r->row, 7);
    r->text(r->row, 7, d->firmware_version, sizeof d->firmware_version);
    d->created_ms = r->i64(r->row, 8);
    d->activated_ms = r->i64(r->row, 9);
    d->last_seen_ms = r->i64(r->row, 10);
    r->text(r->row, 11, d->tags, sizeof d->tags);
}

void store__read_firmware(const store_row *r, store_firmware *f)
{
    memset(f, 0, sizeof *f);
    f->id = r->i64(r->row, 0);
    f->product_id = r->i64(r->row, 1);
    r->text(r->row, 2, f->product_key, sizeof f->product_key);
    r->text(r->row, 3, f->name, sizeof f->name);
    r->text(r->row, 4, f->version, sizeof f->version);
    r->text(r->row, 5, f->description, sizeof f->description);
    r->text(r->row, 6, f->file_name, sizeof f->file_name);
    f->size = r->i64(r->row, 7);
    r->text(r->row, 8, f->md5, sizeof f->md5);
    r->text(r->row, 9, f->sha256, sizeof f->sha256);
    f->created_ms = r->i64(r->row, 10);
    r->text(r->row, 11, f->signature, sizeof f->signature);
    r->text(r->row, 12, f->key_id, sizeof f->key_id);
    r->text(r->row, 13, f->sha1, sizeof f->sha1);
}

void store__read_signkey(const store_row *r, store_signkey *k)
{
    memset(k, 0, sizeof *k);
    k->id = r->i64(r->row, 0);
    r->text(r->row, 1, k->product_key, sizeof k->product_key);
    r->text(r->row, 2, k->key_id, sizeof k->key_id);
    r->text(r->row, 3, k->name, sizeof k->name);
    r->text(r->row, 4, k->public_key, sizeof k->public_key);
    k->created_ms = r->i64(r->row, 5);
    k->retired_ms = r->i64(r->row, 6);
}

void store__read_batch(const store_row *r, store_batch *b)
{
    memset(b, 0, sizeof *b);
    b->id = r->i64(r->row, 0);
    b->firmware_id = r->i64(r->row, 1);
    b->product_id = r->i64(r->row, 2);
    r->text(r->row, 3, b->product_key, sizeof b->product_key);
    r->text(r->row, 4, b->product_name, sizeof b->product_name);
    r->text(r->row, 5, b->firmware_name, sizeof b->firmware_name);
    r->text(r->row, 6, b->firmware_version, sizeof b->firmware_version);
    r->text(r->row, 7, b->file_name, sizeof b->file_name);
    b->size = r->i64(r->row, 8);
    r->text(r->row, 9, b->md5, sizeof b->md5);
    r->text(r->row, 10, b->sha256, sizeof b->sha256);
    r->text(r->row, 11, b->scope, sizeof b->scope);
    r->text(r->row, 12, b->policy, sizeof b->policy);
    b->validity_days = (int)r->i64(r->row, 13);
    b->timeout_min = (int)r->i64(r->row, 14);
    b->retry_times = (int)r->i64(r->row, 15);
    b->retry_interval_min = (int)r->i64(r->row, 16);
    b->max_push_per_min = (int)r->i64(r->row, 17);
    r->text(r->row, 18, b->state, sizeof b->state);
    b->start_ms = r->i64(r->row, 19);
    b->expires_ms = r->i64(r->row, 20);
    b->end_ms = r->i64(r->row, 21);
    b->total = r->i64(r->row, 22);
    for (int i = 0; i < FSM_STATE_COUNT; i++)
        b->counts[i] = r->i64(r->row, STORE_SQL_BATCH_COUNTS_AT + i);
    r->text(r->row, STORE_SQL_BATCH_SIGNATURE_AT, b->signature, sizeof b->signature);
    r->text(r->row, STORE_SQL_BATCH_SIGNATURE_AT + 1, b->key_id, sizeof b->key_id);
    r->text(r->row, STORE_SQL_BATCH_SIGNATURE_AT + 2, b->pause_reason, sizeof b->pause_reason);
    r->text(r->row, STORE_SQL_BATCH_SIGNATURE_AT + 3, b->rollout, sizeof b->rollout);
    b->phase = (int)r->i64(r->row, STORE_SQL_BATCH_SIGNATURE_AT + 4);
    b->phase_due_ms = r->i64(r->row, STORE_SQL_BATCH_SIGNATURE_AT + 5);
    b->brakes_fired = (int)r->i64(r->row, STORE_SQL_BATCH_SIGNATURE_AT + 6);
    b->continuous = (int)r->i64(r->row, STORE_SQL_BATCH_TARGET_AT);
    r->text(r->row, STORE_SQL_BATCH_TARGET_AT + 1, b->target_tags, sizeof b->target_tags);
    r->text(r->row, STORE_SQL_BATCH_TARGET_AT + 2, b->target_groups, sizeof b->target_groups);
    r->text(r->row, STORE_SQL_BATCH_TARGET_AT + 3, b->target_versions,
            sizeof b->target_versions);
    r->text(r->row, STORE_SQL_BATCH_TARGET_AT + 4, b->sha1, sizeof b->sha1);
    b->start_at_ms = r->i64(r->row, STORE_SQL_BATCH_TIME_AT);
    r->text(r->row, STORE_SQL_BATCH_TIME_AT + 1, b->windows, sizeof b->windows);
    b->confirm_min = (int)r->i64(r->row, STORE_SQL_BATCH_TIME_AT + 2);
}

/* The reason stored in col: NULL or "" is none. */
static fsm_reason read_reason(const store_row *r, int col)
{
    char buf[FSM_NAME_MAX];
    fsm_reason reason = FSM_REASON_NONE;
    r->text(r->row, col, buf, sizeof buf);
    if (buf[0])
        fsm_reason_from_name(buf, &reason);
    return reason;
}

int store__read_task(const store_row *r, int64_t device_id, store_task *out)
{
    char buf[FSM_NAME_MAX];
    memset(out, 0, sizeof *out);
    out->device_id = device_id;
    out->batch_id = r->i64(r->row, 0);
    fsm_task *t = &out->task;
    fsm_task_init(t);
    r->text(r->row, 1, buf, sizeof buf);
    if (fsm_state_from_name(buf, &t->state) != 0)
        return -1;
    t->reason = read_reason(r, 2);
    t->progress = (int)r->i64(r->row, 3);
    t->retried = (int)r->i64(r->row, 4);
    t->attempt = (int)r->i64(r->row, 5);
    r->text(r->row, 6, t->push_msg_id, sizeof t->push_msg_id);
    t->pushed_ms = r->i64(r->row, 7);
    t->started_ms = r->i64(r->row, 8);
    t->finished_ms = r->i64(r->row, 9);
    r->text(r->row, 10, buf, sizeof buf);
    t->deadline_kind = fsm_deadline_from_name(buf);
    t->deadline_ms = t->deadline_kind == FSM_DL_NONE ? 0 : r->i64(r->row, 11);
    r->text(r->row, 12, out->current_version, sizeof out->current_version);
    out->phase = (int)r->i64(r->row, 13);
    return 0;
}

void store__read_batch_device(const store_row *r, int retry_times, store_batch_device *d)
{
    char buf[FSM_NAME_MAX];
    memset(d, 0, sizeof *d);
    d->device_id = r->i64(r->row, 0);
    r->text(r->row, 1, d->identifier, sizeof d->identifier);
    r->text(r->row, 2, d->device_name, sizeof d->device_name);
    d->online = (int)r->i64(r->row, 3);
    d->finish_ms = r->i64(r->row, 4);
    r->text(r->row, 5, d->current_version, sizeof d->current_version);
    r->text(r->row, 6, buf, sizeof buf);
    fsm_state_from_name(buf, &d->state);
    d->progress = (int)r->i64(r->row, 7);
    d->retried = (int)r->i64(r->row, 8);
    d->retry_times = retry_times;
    d->reason = read_reason(r, 9);
}
