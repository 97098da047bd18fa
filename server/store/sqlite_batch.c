/*
 * sqlite_batch: the batch tables on SQLite (schema in store_sqlite.c, migrations 1 and 2).
 *
 * The batch API runs one transaction per call. The engine works in units of work: one
 * BEGIN IMMEDIATE on a borrowed connection, a few thousand small statements (each
 * prepared once per unit and reset between uses), one COMMIT. Counters by state are kept
 * on the batch row with each transition; the only place that counts task rows is a
 * terminate, which moves all unfinished tasks in one statement and then sets the counters
 * from the row's own numbers.
 *
 * Task states and reasons are stored as their API names, so the database reads the
 * same as the API. A task's deadline is (due_ms, due_kind); due_ms is NULL when none, so
 * the partial index tasks_due holds only armed deadlines.
 */
#include "store/store_sqlite.h"

#include "ota_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define OPEN_STATES STORE_SQL_TASK_OPEN
#define BATCH_COLS STORE_SQL_BATCH_COLS

/* ---- rows ------------------------------------------------------------------------------ */

static void batch_row(sqlite3_stmt *st, store_batch *b)
{
    store_row r = store_sqlite_row(st);
    store__read_batch(&r, b);
}

/* ---- the engine's unit of work --------------------------------------------------------- */

/* The unit's statements: STORE_UOW_QUERIES, then this file's own. */
enum { Q_SNAP_ONE = STORE_UQ_COUNT, Q_COUNT };

static const char *const uow_sql[Q_COUNT] = {
    [STORE_UQ_DEVICE_FIND] = "SELECT d.id FROM devices d JOIN products p ON p.id = d.product_id"
                      " WHERE p.product_key = ? AND d.identifier = ?",
    [STORE_UQ_DEVICE_NAMES] = "SELECT p.product_key, d.identifier FROM devices d"
                       " JOIN products p ON p.id = d.product_id WHERE d.id = ?",
    [STORE_UQ_TASK_OPEN] = "SELECT " STORE_SQL_TASK_COLS " FROM tasks t JOIN batches b ON b.id = t.batch_id"
                    " WHERE t.device_id = ? AND t.state " OPEN_STATES " AND b.state " STORE_SQL_BATCH_RUNNING,
    [STORE_UQ_TASK_PUT] = "UPDATE tasks SET state = ?3, fail_reason = ?4, progress = ?5, retried = ?6,"
                   " attempt = ?7, push_msg_id = ?8, pushed_ms = ?9, started_ms = ?10,"
                   " finish_ms = ?11, due_kind = ?12, due_ms = ?13, current_version = ?14,"
                   " updated_ms = ?15 WHERE batch_id = ?1 AND device_id = ?2",
    [STORE_UQ_COUNTS] = NULL, /* store__sql_counts_add('?'), built from FSM_STATES */
    [STORE_UQ_COMPLETE] = "UPDATE batches SET state = 'completed', end_ms = ?2 WHERE id = ?1"
                   " AND state " STORE_SQL_BATCH_RUNNING " AND n_succeeded + n_failed = total"
                   " AND continuous = 0",
    /* confirmMinutes: not while a success waits for its confirmation (read only once the
     * counters say every task is final) */
    [STORE_UQ_COMPLETE_CONFIRMED] =
        "UPDATE batches SET state = 'completed', end_ms = ?2 WHERE id = ?1"
        " AND state " STORE_SQL_BATCH_RUNNING " AND n_succeeded + n_failed = total"
        " AND continuous = 0 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = ?1"
        " AND t.due_kind = 'confirm')",
    [STORE_UQ_TASK_GET] = "SELECT " STORE_SQL_TASK_COLS " FROM tasks t"
                          " WHERE t.batch_id = ?1 AND t.device_id = ?2",
    /* A connection that started at ?2 (broker time) newer than the one known: not ready
     * until the device says so on it. Its messages may be applied before this event (with
     * partition sessions they come through another session than presence: docs/broker.md,
     * "Partition topics"), so a ready set at or after ?2 is this connection's and stays.
     * The same or an older connection again (another otad applied it first, or a late
     * event) changes nothing. A disconnect applies to a connection not newer than it (a
     * takeover's late "off" cannot hide the new connection). */
    [STORE_UQ_PRESENCE_ON] = "UPDATE devices SET online = 1, conn_ms = ?2, ddi = 0,"
                      " ready = CASE WHEN COALESCE(ready_ms, 0) >= ?2 THEN ready ELSE 0 END,"
                      " last_seen_ms = ?2, activated = 1, activated_ms = COALESCE(activated_ms, ?2)"
                      " WHERE id = ?1 AND COALESCE(conn_ms, 0) < ?2",
    /* <=: a connection that ended within the millisecond it started gets its "off" (with <
     * it stayed online for good: 20 of 100,000 devices were pushed while away in the
     * benchmark). A superseded connection's "off" with the new one's time comes before the
     * new "on" (the plugin publishes it first), so it cannot hide the new connection. */
    [STORE_UQ_PRESENCE_OFF] = "UPDATE devices SET online = 0, ready = 0, last_seen_ms = ?2"
                       " WHERE id = ?1 AND COALESCE(conn_ms, 0) <= ?2",
    [STORE_UQ_READY] = "UPDATE devices SET ready = 1, ready_ms = ?2 WHERE id = ?1",
    [STORE_UQ_PUSHABLE] = "SELECT online AND ready, ddi FROM devices WHERE id = ?1",
    [STORE_UQ_VERSION] = "UPDATE devices SET firmware_version = ?2, last_seen_ms = ?3 WHERE id = ?1",
    [STORE_UQ_BATCH_PAUSE] = "UPDATE batches SET state = 'paused', pause_reason = ?2"
                             " WHERE id = ?1 AND state = 'in_progress'",
    [STORE_UQ_BATCH_REASON] = "UPDATE batches SET pause_reason = ?2 WHERE id = ?1",
    [STORE_UQ_BATCH_START] = "UPDATE batches SET state = 'in_progress'"
                             " WHERE id = ?1 AND state = 'scheduled'",
    [STORE_UQ_BATCH_PHASE] = "UPDATE batches SET phase = ?2, phase_due_ms = ?3,"
                             " brakes_fired = ?4 WHERE id = ?1",
    [STORE_UQ_EVENT] = STORE_SQL_HOOK_EVENT("instr", "?1", "?2", "?3"),
    /* continuous batches (engine.c's join_continuous) */
    [STORE_UQ_DEVICE_FACTS] = "SELECT product_id, activated, firmware_version, COALESCE(tags, '')"
                              " FROM devices WHERE id = ?1",
    [STORE_UQ_DEVICE_GROUPS] = "SELECT g.name FROM device_group_members m JOIN device_groups g"
                               " ON g.id = m.group_id WHERE m.device_id = ?1",
    /* nothing when the device was in the batch already (primary key) or is in an
     * unfinished task of any batch (tasks_one_open) */
    [STORE_UQ_TASK_JOIN] = "INSERT INTO tasks(batch_id, device_id, state, updated_ms, phase)"
                           " VALUES(?1, ?2, 'to_push', ?3, ?4) ON CONFLICT DO NOTHING",
    [STORE_UQ_BATCH_JOINED] = "UPDATE batches SET total = total + 1, n_to_push = n_to_push + 1"
                              " WHERE id = ?1",
    [STORE_UQ_TARGET_EVENTS] = "SELECT device_id FROM target_events ORDER BY device_id LIMIT ?1",
    [STORE_UQ_TARGET_EVENT_DEL] = "DELETE FROM target_events WHERE device_id = ?1",
    /* unfinished continuous batches created after the newest the engine knows (?1) */
    [STORE_UQ_CONTINUOUS_NEW] = "SELECT id FROM batches WHERE continuous = 1 AND id > ?1"
                                " AND end_ms IS NULL ORDER BY id",
    /* a DDI device's poll found it offline: online, ready and a DDI device (engine.c's
     * on_ddi_presence); its last poll now, so the offline sweep leaves it be until the
     * batched writes of its later polls (store_ddi_polls_put) take over */
    [STORE_UQ_DDI_ONLINE] = "UPDATE devices SET online = 1, ready = 1, ready_ms = ?2, ddi = 1,"
                            " ddi_poll_ms = max(ddi_poll_ms, ?2), last_seen_ms = ?2,"
                            " activated = 1, activated_ms = COALESCE(activated_ms, ?2)"
                            " WHERE id = ?1",
    /* a batch's rollout counters (store_uow_rollout_lock): the write lock the unit holds
     * (BEGIN IMMEDIATE) makes the read exact until the commit */
    [STORE_UQ_ROLLOUT_LOCK] = "SELECT counts, phase, phase_due_ms, brakes_fired FROM batch_rollout"
                              " WHERE batch_id = ?1",
    [STORE_UQ_ROLLOUT_PUT] = "UPDATE batch_rollout SET counts = ?2, phase = ?3, phase_due_ms = ?4,"
                             " brakes_fired = ?5 WHERE batch_id = ?1",
    /* ready is kept: every connect and disconnect the broker saw reached us as an event
     * (queued in our persistent session while we were away) and reset it */
    [Q_SNAP_ONE] = "UPDATE devices SET online = 1, ddi = 0,"
                   " activated = 1, activated_ms = COALESCE(activated_ms, ?3), last_seen_ms = ?3"
                   " WHERE product_id = (SELECT id FROM products WHERE product_key = ?1)"
                   " AND identifier = ?2",
};

typedef struct {
    store_t *s;
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
} sq_uow;

static sqlite3_stmt *uq(sq_uow *u, int which)
{
    if (!u->q[which]) {
        const char *text = which == STORE_UQ_COUNTS ? store__sql_counts_add('?') : uow_sql[which];
        if (sqlite3_prepare_v3(u->db, text, -1, SQLITE_PREPARE_PERSISTENT, &u->q[which],
                               NULL) != SQLITE_OK) {
            store_sqlite_fail(u->db, "engine prepare");
            u->q[which] = NULL;
            return NULL;
        }
    } else {
        sqlite3_reset(u->q[which]);
        sqlite3_clear_bindings(u->q[which]);
    }
    return u->q[which];
}

static void uow_free(sq_uow *u)
{
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(u->q[i]);
    store_sqlite_conn_put(u->s, u->db);
    free(u);
}

static ota_err sq_uow_begin(store_t *s, void **out)
{
    sq_uow *u = calloc(1, sizeof *u);
    if (!u)
        abort();
    u->s = s;
    u->db = store_sqlite_conn_get(s);
    if (store_sqlite_begin(u->db) != OTA_OK) {
        uow_free(u);
        return OTA_EDB;
    }
    *out = u;
    return OTA_OK;
}

static ota_err sq_uow_commit(void *impl)
{
    sq_uow *u = impl;
    /* statements must be reset before COMMIT can finish reading transactions */
    for (int i = 0; i < Q_COUNT; i++)
        if (u->q[i])
            sqlite3_reset(u->q[i]);
    ota_err r = store_sqlite_commit(u->db);
    if (r != OTA_OK)
        store_sqlite_rollback(u->db);
    uow_free(u);
    return r;
}

static void sq_uow_rollback(void *impl)
{
    sq_uow *u = impl;
    for (int i = 0; i < Q_COUNT; i++)
        if (u->q[i])
            sqlite3_reset(u->q[i]);
    store_sqlite_rollback(u->db);
    uow_free(u);
}

static ota_err step_done(sq_uow *u, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_fail(u->db, what);
    return OTA_OK;
}

/* The statements are prepared once per unit and reset between uses (uq); SQLite answers
 * every statement at once, so row/changes only say what the caller wants back. */
static ota_err sq_uow_exec(void *impl, store_uq q, const store_args *a, store_row_fn row, void *ud,
                           int64_t *changes)
{
    sq_uow *u = impl;
    sqlite3_stmt *st = uq(u, (int)q);
    if (!st)
        return OTA_EDB;
    for (int i = 0; i < a->n; i++) {
        if (a->v[i].kind == STORE_ARG_I64)
            sqlite3_bind_int64(st, i + 1, a->v[i].i);
        else if (a->v[i].kind == STORE_ARG_TEXT)
            sqlite3_bind_text(st, i + 1, a->v[i].s, -1, SQLITE_STATIC);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (row) {
            store_row r = store_sqlite_row(st);
            row(ud, &r);
        }
    }
    if (rc != SQLITE_DONE)
        return store_sqlite_fail(u->db, store__uq_name(q));
    if (changes)
        *changes = sqlite3_changes64(u->db);
    return OTA_OK;
}

static ota_err sq_uow_terminate(void *impl, int64_t batch_id, int64_t now_ms,
                                const char *end_state, int *done, int64_t *failed)
{
    sq_uow *u = impl;
    return store__batch_terminate(u->s, (store_tx *)u->db, batch_id, now_ms, end_state, done,
                                  failed);
}

static ota_err sq_snapshot(void *impl, const char *const *clients, size_t n, int64_t now_ms)
{
    sq_uow *u = impl;
    /* mark the snapshot's devices first (seen = now), then every other MQTT device offline
     * (the broker does not know DDI devices: their polls say, sq_ddi_offline) */
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(clients[i], '.');
        if (!dot || dot == clients[i] || (size_t)(dot - clients[i]) >= 32)
            continue;
        char pk[32];
        memcpy(pk, clients[i], (size_t)(dot - clients[i]));
        pk[dot - clients[i]] = '\0';
        sqlite3_stmt *st = uq(u, Q_SNAP_ONE);
        if (!st)
            return OTA_EDB;
        sqlite3_bind_text(st, 1, pk, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, dot + 1, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now_ms);
        ota_err r = step_done(u, st, "engine snapshot");
        if (r != OTA_OK)
            return r;
    }
    sqlite3_stmt *st = store_sqlite_prepare(
        u->db, "UPDATE devices SET online = 0, ready = 0 WHERE online = 1 AND ddi = 0 AND"
               " (last_seen_ms IS NULL OR last_seen_ms <> ?1)");
    if (!st)
        return OTA_EDB;
    sqlite3_bind_int64(st, 1, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? OTA_OK : store_sqlite_fail(u->db, "engine snapshot offline");
}

/* ---- start-up reads ---------------------------------------------------------------------- */

static ota_err sq_engine_batches(store_t *s, store_batch **items, size_t *n)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    size_t cap = 16;
    ota_err r = OTA_OK;
    *n = 0;
    *items = malloc(cap * sizeof **items);
    if (!*items)
        abort();
    sqlite3_stmt *st = store_sqlite_prepare(db, "SELECT " BATCH_COLS "WHERE b.state " STORE_SQL_BATCH_RUNNING " ORDER BY b.id");
    if (!st) {
        free(*items);
        *items = NULL;
        store_sqlite_conn_put(s, db);
        return OTA_EDB;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap *= 2;
            store_batch *nb = realloc(*items, cap * sizeof **items);
            if (!nb)
                abort();
            *items = nb;
        }
        batch_row(st, &(*items)[(*n)++]);
    }
    if (rc != SQLITE_DONE) {
        r = store_sqlite_fail(db, "engine batches");
        free(*items);
        *items = NULL;
        *n = 0;
    }
    sqlite3_finalize(st);
    store_sqlite_conn_put(s, db);
    return r;
}

static ota_err sq_engine_deadlines(store_t *s, int64_t until_ms, int64_t limit,
                                   void (*fn)(void *, int64_t, int, int64_t), void *ud)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    char kind[16];
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "SELECT t.device_id, t.due_kind, t.due_ms FROM tasks t JOIN batches b ON b.id = t.batch_id"
            " WHERE t.due_ms IS NOT NULL AND t.due_ms <= ?1 AND b.state " STORE_SQL_BATCH_RUNNING
            " ORDER BY t.due_ms LIMIT ?2");
    if (!st) {
        store_sqlite_conn_put(s, db);
        return OTA_EDB;
    }
    sqlite3_bind_int64(st, 1, until_ms);
    sqlite3_bind_int64(st, 2, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_sqlite_text(st, 1, kind, sizeof kind);
        fn(ud, sqlite3_column_int64(st, 0), (int)fsm_deadline_from_name(kind), sqlite3_column_int64(st, 2));
    }
    ota_err r = rc == SQLITE_DONE ? OTA_OK : store_sqlite_fail(db, "engine deadlines");
    sqlite3_finalize(st);
    store_sqlite_conn_put(s, db);
    return r;
}

static ota_err sq_engine_pushable(store_t *s, int64_t batch_id, int max_phase,
                                  void (*fn)(void *, int64_t), void *ud)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "SELECT t.device_id FROM tasks t JOIN devices d ON d.id = t.device_id"
            " WHERE t.batch_id = ?1 AND t.state = 'to_push' AND d.online = 1 AND d.ready = 1"
            " AND t.phase <= ?2 ORDER BY t.device_id");
    if (!st) {
        store_sqlite_conn_put(s, db);
        return OTA_EDB;
    }
    sqlite3_bind_int64(st, 1, batch_id);
    sqlite3_bind_int64(st, 2, max_phase);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ud, sqlite3_column_int64(st, 0));
    ota_err r = rc == SQLITE_DONE ? OTA_OK : store_sqlite_fail(db, "engine pushable");
    sqlite3_finalize(st);
    store_sqlite_conn_put(s, db);
    return r;
}

static ota_err sq_presence_reset(store_t *s)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    char *msg = NULL;
    ota_err r = OTA_OK;
    if (sqlite3_exec(db, "UPDATE devices SET online = 0 WHERE online = 1 AND ddi = 0", NULL, NULL,
                     &msg) != SQLITE_OK) {
        OTA_ERROR("store: presence reset: %s", msg ? msg : "?");
        r = OTA_EDB;
    }
    sqlite3_free(msg);
    store_sqlite_conn_put(s, db);
    return r;
}

static ota_err sq_ddi_offline(store_t *s, int64_t before_ms, int64_t *n)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    *n = 0;
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "UPDATE devices SET online = 0, ready = 0 WHERE ddi = 1 AND online = 1"
            " AND ddi_poll_ms < ?1");
    if (!st) {
        store_sqlite_conn_put(s, db);
        return OTA_EDB;
    }
    sqlite3_bind_int64(st, 1, before_ms);
    int rc = sqlite3_step(st);
    ota_err r = rc == SQLITE_DONE ? OTA_OK : store_sqlite_fail(db, "engine ddi offline");
    if (r == OTA_OK)
        *n = sqlite3_changes64(db);
    sqlite3_finalize(st);
    store_sqlite_conn_put(s, db);
    return r;
}

const store_batch_ops store_sqlite_batch_ops = {
    .uow_begin = sq_uow_begin,
    .uow_commit = sq_uow_commit,
    .uow_rollback = sq_uow_rollback,
    .uow_exec = sq_uow_exec,
    .uow_terminate = sq_uow_terminate,
    .presence_snapshot = sq_snapshot,
    .engine_batches = sq_engine_batches,
    .engine_deadlines = sq_engine_deadlines,
    .engine_pushable = sq_engine_pushable,
    .presence_reset = sq_presence_reset,
    .ddi_offline = sq_ddi_offline,
};
