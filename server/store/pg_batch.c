/*
 * pg_batch: the batch tables on PostgreSQL (schema in store_pg.c, migrations 1 and 2), with
 * the SQLite version's semantics (sqlite_batch.c): the same refusals, counters on the batch
 * row, lists in the same order, tasks stored with their API names.
 *
 * The batch API runs one transaction per call. The engine works in units of work: BEGIN on
 * one borrowed connection, statements in set shape where a round has many of a kind (the
 * loads of a round's devices and open tasks by array, pg_uow_load; its task writes in one
 * UPDATE ... FROM unnest, pg_uow_put_tasks, and its device writes (readiness, versions,
 * presence) the same way, pg_uow_put_devices), small ones for the rest (named prepared
 * statements, prepared once per connection and kept with it; the writes sent in pipeline
 * mode, see pipe_send), one COMMIT. A round of thousands of events waits for a handful of
 * round trips.
 *
 * Locking. SQLite's BEGIN IMMEDIATE makes every write transaction run alone; here they run
 * side by side under READ COMMITTED, so the rows a decision rests on are locked first, in
 * one order everywhere (batch row, then its task rows), which makes the outcome the one
 * some serial order gives:
 * - The engine reads a task with its batch row locked (task_open: FOR NO KEY UPDATE OF
 *   b, t, batch first). A terminate (API or validity end) locks the batch row before it
 *   touches tasks. So a terminate either runs wholly before the engine's round reads the
 *   task (which then no longer counts as open: the batch is not in_progress) or waits for
 *   the round to commit and sets the counters from the row the round left.
 * - Creating a batch takes FOR SHARE on its firmware row (firmware delete takes FOR UPDATE:
 *   one of them waits for the other) and FOR NO KEY UPDATE on its product row, so two
 *   creates for the same product run one after the other and the second sees the first's
 *   tasks (device_busy / not eligible) instead of failing on the one-open-task index.
 * - A load locks its tasks sorted by (batch, device), and the bulk task write touches only
 *   rows the unit has locked that way. Several engines (several otad on one database) work
 *   on disjoint devices and tasks (their partitions: pg_parts.c, store_parts.h); what they
 *   share is the batch rows, read FOR KEY SHARE and updated in batch id order (engine.c's
 *   write_counts), so they do not deadlock.
 *
 * Expected load: batches of up to 1,000,000 tasks (created by one INSERT ... SELECT, or for
 * directed batches from one array parameter); thousands of statements per engine round.
 */
#ifdef OTA_HAVE_PG /* built with libpq only (server/CMakeLists.txt filters store_pg*.c) */

#include "ota_log.h"
#include "store/store_pg.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OPEN_STATES STORE_SQL_TASK_OPEN
#define SNAPSHOT_CHUNK 5000
#define BATCH_COLS STORE_SQL_BATCH_COLS
/* U_PUT_DEVICES: whether row u's presence applies to device row d (STORE_UQ_PRESENCE_ON's
 * and _OFF's rule: only a connection newer than the one the row knows) */
#define PRESENCE_ON "(u.p = 1 AND COALESCE(d.conn_ms, 0) < u.pt)"
#define PRESENCE_OFF "(u.p = 2 AND COALESCE(d.conn_ms, 0) <= u.pt)"
#define PRESENCE "(" PRESENCE_ON " OR " PRESENCE_OFF ")"

/* Statement ids: STORE_PG_Q_BATCH + the unit's STORE_UOW_QUERIES, then this file's own. */
enum {
    U_SNAP = STORE_PG_Q_BATCH + STORE_UQ_COUNT,
    U_SNAP_OFF,
    U_LOAD_DEV_NAMES,
    U_LOAD_TASK_NAMES,
    U_LOAD_DEV_IDS,
    U_LOAD_TASK_IDS,
    U_PUT_TASKS,
    U_LOCK_JOIN,
    U_PUT_DEVICES,
    U_BEGIN,
    U_COMMIT,
    U_END, /* the unit's statements end here: pg_uow_begin prepares them */
    E_BATCHES = U_END,
    E_PRESENCE_RESET,
    E_DDI_OFFLINE,
    B_END
};
_Static_assert(B_END <= STORE_PG_Q_PARTS, "batch statement ids");

static const char *const sql[] = {
    [STORE_UQ_DEVICE_FIND] =
        "SELECT d.id FROM devices d JOIN products p ON p.id = d.product_id"
        " WHERE p.product_key = $1 AND d.identifier = $2",
    [STORE_UQ_DEVICE_NAMES] = "SELECT p.product_key, d.identifier FROM devices d"
                                          " JOIN products p ON p.id = d.product_id WHERE d.id = $1",
    /* batch row first, then the task: the order a terminate locks them in. The batch row
     * only FOR KEY SHARE: rounds of several instances (each on its own partitions' tasks)
     * share it, and their counter updates (FOR NO KEY UPDATE) do not wait for it, while a
     * terminate (STORE_Q_BATCH_LOCK: FOR UPDATE) waits for every round holding it */
    [STORE_UQ_TASK_OPEN] =
        "SELECT " STORE_SQL_TASK_COLS " FROM batches b JOIN tasks t ON t.batch_id = b.id"
        " WHERE t.device_id = $1 AND t.state " OPEN_STATES
        " AND b.state " STORE_SQL_BATCH_RUNNING " FOR KEY SHARE OF b FOR NO KEY UPDATE OF t",
    [STORE_UQ_TASK_PUT] =
        "UPDATE tasks SET state = $3, fail_reason = $4, progress = $5, retried = $6,"
        " attempt = $7, push_msg_id = $8, pushed_ms = $9, started_ms = $10,"
        " finish_ms = $11, due_kind = $12, due_ms = $13, current_version = $14,"
        " updated_ms = $15 WHERE batch_id = $1 AND device_id = $2",
    [STORE_UQ_COUNTS] = NULL, /* store__sql_counts_add('$'), from FSM_STATES */
    [STORE_UQ_COMPLETE] =
        "UPDATE batches SET state = 'completed', end_ms = $2 WHERE id = $1"
        " AND state " STORE_SQL_BATCH_RUNNING " AND n_succeeded + n_failed = total"
        " AND continuous = 0",
    [STORE_UQ_COMPLETE_CONFIRMED] =
        "UPDATE batches SET state = 'completed', end_ms = $2 WHERE id = $1"
        " AND state " STORE_SQL_BATCH_RUNNING " AND n_succeeded + n_failed = total"
        " AND continuous = 0 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = $1"
        " AND t.due_kind = 'confirm')",
    /* a task in any state; its batch row locked first, as task_open does */
    [STORE_UQ_TASK_GET] =
        "SELECT " STORE_SQL_TASK_COLS " FROM batches b JOIN tasks t ON t.batch_id = b.id"
        " WHERE t.batch_id = $1 AND t.device_id = $2 FOR NO KEY UPDATE OF b, t",
    /* presence ordered by the broker's times: see sqlite_batch.c */
    [STORE_UQ_PRESENCE_ON] =
        "UPDATE devices SET online = 1, conn_ms = $2, ddi = 0,"
        " ready = CASE WHEN COALESCE(ready_ms, 0) >= $2 THEN ready ELSE 0 END,"
        " last_seen_ms = $2, activated = 1, activated_ms = COALESCE(activated_ms, $2)"
        " WHERE id = $1 AND COALESCE(conn_ms, 0) < $2",
    [STORE_UQ_PRESENCE_OFF] =
        "UPDATE devices SET online = 0, ready = 0, last_seen_ms = $2"
        " WHERE id = $1 AND COALESCE(conn_ms, 0) <= $2",
    [STORE_UQ_READY] = "UPDATE devices SET ready = 1, ready_ms = $2 WHERE id = $1",
    [STORE_UQ_PUSHABLE] =
        "SELECT CASE WHEN online <> 0 AND ready <> 0 THEN 1 ELSE 0 END, ddi FROM devices"
        " WHERE id = $1",
    [STORE_UQ_VERSION] =
        "UPDATE devices SET firmware_version = $2, last_seen_ms = $3 WHERE id = $1",
    [STORE_UQ_BATCH_PAUSE] = "UPDATE batches SET state = 'paused', pause_reason = $2"
                             " WHERE id = $1 AND state = 'in_progress'",
    [STORE_UQ_BATCH_REASON] = "UPDATE batches SET pause_reason = $2 WHERE id = $1",
    [STORE_UQ_BATCH_START] = "UPDATE batches SET state = 'in_progress'"
                             " WHERE id = $1 AND state = 'scheduled'",
    [STORE_UQ_BATCH_PHASE] = "UPDATE batches SET phase = $2, phase_due_ms = $3,"
                             " brakes_fired = $4 WHERE id = $1",
    [STORE_UQ_EVENT] = STORE_SQL_HOOK_EVENT("strpos", "$1::text", "$2::bigint", "$3::text"),
    /* continuous batches: see sqlite_batch.c */
    [STORE_UQ_DEVICE_FACTS] = "SELECT product_id, activated, firmware_version, COALESCE(tags, '')"
                              " FROM devices WHERE id = $1",
    [STORE_UQ_DEVICE_GROUPS] = "SELECT g.name FROM device_group_members m JOIN device_groups g"
                               " ON g.id = m.group_id WHERE m.device_id = $1",
    [STORE_UQ_TASK_JOIN] = "INSERT INTO tasks(batch_id, device_id, state, updated_ms, phase)"
                           " VALUES($1, $2, 'to_push', $3, $4) ON CONFLICT DO NOTHING",
    [STORE_UQ_BATCH_JOINED] = "UPDATE batches SET total = total + 1, n_to_push = n_to_push + 1"
                              " WHERE id = $1",
    /* $2: the engine's partitions (pg_uow_exec adds it) */
    [STORE_UQ_TARGET_EVENTS] = "SELECT t.device_id FROM target_events t JOIN devices d"
                               " ON d.id = t.device_id WHERE ((($2::bigint) >> d.part) & 1) = 1"
                               " ORDER BY t.device_id LIMIT $1",
    [STORE_UQ_TARGET_EVENT_DEL] = "DELETE FROM target_events WHERE device_id = $1",
    /* unfinished continuous batches created after the newest the engine knows ($1) */
    [STORE_UQ_CONTINUOUS_NEW] = "SELECT id FROM batches WHERE continuous = 1 AND id > $1"
                                " AND end_ms IS NULL ORDER BY id",
    /* see sqlite_batch.c */
    [STORE_UQ_DDI_ONLINE] = "UPDATE devices SET online = 1, ready = 1, ready_ms = $2, ddi = 1,"
                            " ddi_poll_ms = GREATEST(ddi_poll_ms, $2), last_seen_ms = $2,"
                            " activated = 1, activated_ms = COALESCE(activated_ms, $2)"
                            " WHERE id = $1",
    /* a batch's rollout counters (store_uow_rollout_lock): the row stays locked until the
     * round commits, so the rounds of several instances that finish devices of the batch take
     * turns and each judges the exact totals. Only this row: the batch row's counters are
     * written at the round's end in batch id order (write_counts), and the engine locks these
     * rows in batch id order too (engine.c's tally_lock), rows of one kind before the other */
    [STORE_UQ_ROLLOUT_LOCK] = "SELECT counts, phase, phase_due_ms, brakes_fired FROM batch_rollout"
                              " WHERE batch_id = $1 FOR NO KEY UPDATE",
    [STORE_UQ_ROLLOUT_PUT] = "UPDATE batch_rollout SET counts = $2, phase = $3, phase_due_ms = $4,"
                             " brakes_fired = $5 WHERE batch_id = $1",
    /* ready is kept: every connect and disconnect the broker saw reached us as an event
     * (queued in our persistent session while we were away) and reset it */
    [U_SNAP - STORE_PG_Q_BATCH] =
        "UPDATE devices d SET online = 1, ddi = 0, activated = 1,"
        " activated_ms = COALESCE(d.activated_ms, $3::bigint), last_seen_ms = $3::bigint"
        " FROM products p, unnest($1::text[], $2::text[]) AS u(pk, ident)"
        " WHERE p.product_key = u.pk AND d.product_id = p.id AND d.identifier = u.ident"
        " AND ((($4::bigint) >> d.part) & 1) = 1",
    [U_SNAP_OFF - STORE_PG_Q_BATCH] =
        "UPDATE devices SET online = 0, ready = 0 WHERE online = 1 AND ddi = 0 AND"
        " (last_seen_ms IS NULL OR last_seen_ms <> $1) AND ((($2::bigint) >> part) & 1) = 1",
    /* the loads (store_uow_load_names / _ids): the devices, then their open tasks locked
     * as STORE_UQ_TASK_OPEN locks them, sorted so that every unit locks in one order */
    [U_LOAD_DEV_NAMES - STORE_PG_Q_BATCH] =
        "SELECT d.id, p.product_key, d.identifier, d.online, d.ready, d.ddi"
        " FROM unnest($1::text[], $2::text[]) AS u(pk, ident)"
        " JOIN products p ON p.product_key = u.pk"
        " JOIN devices d ON d.product_id = p.id AND d.identifier = u.ident",
    [U_LOAD_TASK_NAMES - STORE_PG_Q_BATCH] =
        "SELECT t.device_id, " STORE_SQL_TASK_COLS " FROM batches b JOIN tasks t ON t.batch_id = b.id"
        " WHERE t.device_id IN (SELECT d.id FROM unnest($1::text[], $2::text[]) AS u(pk, ident)"
        " JOIN products p ON p.product_key = u.pk"
        " JOIN devices d ON d.product_id = p.id AND d.identifier = u.ident)"
        " AND t.state " OPEN_STATES " AND b.state " STORE_SQL_BATCH_RUNNING
        " ORDER BY t.batch_id, t.device_id FOR KEY SHARE OF b FOR NO KEY UPDATE OF t",
    [U_LOAD_DEV_IDS - STORE_PG_Q_BATCH] =
        "SELECT d.id, p.product_key, d.identifier, d.online, d.ready, d.ddi FROM devices d"
        " JOIN products p ON p.id = d.product_id WHERE d.id = ANY($1::bigint[])",
    [U_LOAD_TASK_IDS - STORE_PG_Q_BATCH] =
        "SELECT t.device_id, " STORE_SQL_TASK_COLS " FROM batches b JOIN tasks t ON t.batch_id = b.id"
        " WHERE t.device_id = ANY($1::bigint[]) AND t.state " OPEN_STATES
        " AND b.state " STORE_SQL_BATCH_RUNNING " ORDER BY t.batch_id, t.device_id FOR KEY SHARE OF b FOR NO KEY UPDATE OF t",
    /* before a round's first load reads the continuous batches (the load's side read): the
     * products of its devices' events, locked shared against the create of a continuous
     * batch (STORE_Q_BATCH_CONTINUOUS_LOCK, exclusive) until the round commits. The read
     * after it (a statement of its own, so a snapshot taken once the lock is held) sees
     * every continuous batch committed before, and a batch created later selects its
     * devices only after this round committed: no event is judged by neither */
    [U_LOCK_JOIN - STORE_PG_Q_BATCH] =
        "SELECT count(pg_advisory_xact_lock_shared(" STORE_PG_JOIN_LOCK("p.id") "))"
        " FROM products p WHERE p.product_key = ANY($1::text[])",
    /* STORE_UQ_TASK_PUT for many tasks: one array per column, element i of each is task i */
    [U_PUT_TASKS - STORE_PG_Q_BATCH] =
        "UPDATE tasks t SET state = u.state, fail_reason = u.reason, progress = u.progress,"
        " retried = u.retried, attempt = u.attempt, push_msg_id = u.msg, pushed_ms = u.pushed,"
        " started_ms = u.started, finish_ms = u.finish, due_kind = u.dkind, due_ms = u.dms,"
        " current_version = u.ver, updated_ms = u.upd"
        " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[],"
        " $7::int[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[],"
        " $13::bigint[], $14::text[], $15::bigint[])"
        " AS u(b, d, state, reason, progress, retried, attempt, msg, pushed, started, finish,"
        " dkind, dms, ver, upd)"
        " WHERE t.batch_id = u.b AND t.device_id = u.d",
    /* STORE_UQ_PRESENCE_ON/OFF, then STORE_UQ_READY, then STORE_UQ_VERSION, for many
     * devices (store_device_put, one row per device): p is 0 (no presence), 1 (on) or 2
     * (off) at pt; rt the ready time, vt the version's time (NULL: none). SET sees the row
     * as it was, so PRESENCE repeats the presence rule of the single statements; a row it
     * would not change is not written */
    [U_PUT_DEVICES - STORE_PG_Q_BATCH] =
        "UPDATE devices d SET"
        " online = CASE WHEN " PRESENCE_ON " THEN 1 WHEN " PRESENCE_OFF " THEN 0 ELSE d.online END,"
        " conn_ms = CASE WHEN " PRESENCE_ON " THEN u.pt ELSE d.conn_ms END,"
        " activated = CASE WHEN " PRESENCE_ON " THEN 1 ELSE d.activated END,"
        " ddi = CASE WHEN " PRESENCE_ON " THEN 0 ELSE d.ddi END,"
        " activated_ms = CASE WHEN " PRESENCE_ON " THEN COALESCE(d.activated_ms, u.pt)"
        " ELSE d.activated_ms END,"
        " ready = CASE WHEN u.rt IS NOT NULL THEN 1 WHEN " PRESENCE_ON
        " AND COALESCE(d.ready_ms, 0) >= u.pt THEN d.ready WHEN " PRESENCE " THEN 0"
        " ELSE d.ready END,"
        " ready_ms = COALESCE(u.rt, d.ready_ms),"
        " last_seen_ms = CASE WHEN u.vt IS NOT NULL THEN u.vt WHEN " PRESENCE " THEN u.pt"
        " ELSE d.last_seen_ms END,"
        " firmware_version = CASE WHEN u.vt IS NOT NULL THEN u.v ELSE d.firmware_version END"
        " FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::text[],"
        " $6::bigint[]) AS u(id, p, pt, rt, v, vt)"
        " WHERE d.id = u.id AND (u.rt IS NOT NULL OR u.vt IS NOT NULL OR " PRESENCE ")",
    /* sent in the pipeline, with the unit's first read and after its last write */
    [U_BEGIN - STORE_PG_Q_BATCH] = "BEGIN",
    [U_COMMIT - STORE_PG_Q_BATCH] = "COMMIT",
    [E_BATCHES - STORE_PG_Q_BATCH] = "SELECT " BATCH_COLS "WHERE b.state " STORE_SQL_BATCH_RUNNING
                                     " ORDER BY b.id",
    [E_PRESENCE_RESET - STORE_PG_Q_BATCH] = "UPDATE devices SET online = 0 WHERE online = 1"
                                            " AND ddi = 0 AND ((($1::bigint) >> part) & 1) = 1",
    [E_DDI_OFFLINE - STORE_PG_Q_BATCH] = "UPDATE devices SET online = 0, ready = 0 WHERE ddi = 1"
                                         " AND online = 1 AND ddi_poll_ms < $1"
                                         " AND ((($2::bigint) >> part) & 1) = 1",
};

static const char *text_of(int q)
{
    return q == STORE_PG_Q_BATCH + STORE_UQ_COUNTS ? store__sql_counts_add('$')
                                                   : sql[q - STORE_PG_Q_BATCH];
}

static PGresult *run(store_pg_conn *c, int q, const store_pg_params *p, const char *what)
{
    return store_pg_exec(c, q, text_of(q), p ? p->n : 0, p ? p->v : NULL, what);
}

/* A growing text buffer for array literals; the daemon may abort on out-of-memory. */
typedef struct {
    char *s;
    size_t len, cap;
} tbuf;

static void tb_room(tbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *n = realloc(b->s, cap);
    if (!n)
        abort();
    b->s = n;
    b->cap = cap;
}

static void tb_char(tbuf *b, char ch)
{
    tb_room(b, 1);
    b->s[b->len++] = ch;
    b->s[b->len] = '\0';
}

/* Appends s as one quoted element of an array literal ({"a","b\"c"}). */
static void tb_elem(tbuf *b, const char *s)
{
    tb_room(b, strlen(s) * 2 + 3);
    if (b->len > 1)
        b->s[b->len++] = ',';
    b->s[b->len++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            b->s[b->len++] = '\\';
        b->s[b->len++] = *s;
    }
    b->s[b->len++] = '"';
    b->s[b->len] = '\0';
}

/* Appends an integer element, or NULL when null. */
static void tb_i64(tbuf *b, int64_t v, int null)
{
    char num[24];
    int k = null ? snprintf(num, sizeof num, "NULL") : snprintf(num, sizeof num, "%lld", (long long)v);
    tb_room(b, (size_t)k + 1);
    if (b->len > 1)
        b->s[b->len++] = ',';
    memcpy(b->s + b->len, num, (size_t)k + 1);
    b->len += (size_t)k;
}

/* Appends s as a quoted element, or NULL when s is NULL. */
static void tb_opt(tbuf *b, const char *s)
{
    if (s) {
        tb_elem(b, s);
        return;
    }
    tb_room(b, 5);
    if (b->len > 1)
        b->s[b->len++] = ',';
    memcpy(b->s + b->len, "NULL", 5);
    b->len += 4;
}

/* ---- rows ------------------------------------------------------------------------------ */

static void batch_row(const PGresult *r, int row, store_batch *b)
{
    store_pg_at at = {r, row};
    store_row rr = store_pg_row(&at);
    store__read_batch(&rr, b);
}

/* ---- the engine's unit of work --------------------------------------------------------- */

/* The unit's writes are sent in libpq's pipeline mode, without waiting for each answer:
 * results are read (after a Sync) when the unit next needs an answer (a read), when it
 * commits, or every PIPE_MAX writes. A transition's write therefore costs no round trip of
 * its own, which halves a round's round trips. A failed write is reported by the next read
 * or the commit (its statement named in the log); the unit can then only roll back, which
 * is what the engine does with any failed round. */
#define PIPE_MAX 256

typedef struct {
    store_t *s;
    store_pg_conn *c;
    int piped;                  /* in pipeline mode */
    int pending;                /* statements sent whose results are not read yet */
    const char *what[PIPE_MAX]; /* their names for the log */
    int failed;                 /* something failed: every further call fails */
} pg_uow;

/* Sends statement q (already prepared on the connection) into the pipeline. */
static ota_err pipe_send(pg_uow *u, int q, const store_pg_params *p, const char *what)
{
    char name[16];
    if (u->failed)
        return OTA_EDB;
    if (!u->piped) {
        if (!PQenterPipelineMode(u->c->pg)) {
            u->failed = 1;
            return store_pg_fail(u->c, NULL, "engine pipeline");
        }
        u->piped = 1;
    }
    store_pg_stmt_name(q, name, sizeof name);
    if (!PQsendQueryPrepared(u->c->pg, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0)) {
        u->failed = 1;
        return store_pg_fail(u->c, NULL, what);
    }
    u->what[u->pending++] = what;
    return OTA_OK;
}

/* Round trips the engine's units of work waited for in this process (BEGIN, each read or
 * pipeline sync, COMMIT or ROLLBACK): /metrics' ota_store_round_trips_total. */
static _Atomic uint64_t round_trips;

static void trip(void)
{
    round_trips++;
}

/* Reads every pending result (Sync first) and leaves pipeline mode. last[0..nlast) (last
 * may be NULL) get the results of the last nlast (at most 3) statements when everything succeeded
 * (the caller clears them). OTA_EDB (the first failure logged) when any statement failed. */
static ota_err pipe_settle_n(pg_uow *u, PGresult **last, int nlast)
{
    PGconn *pg = u->c->pg;
    ota_err rc = u->failed ? OTA_EDB : OTA_OK;
    PGresult *keep[3] = {NULL, NULL, NULL};
    if (!last)
        nlast = 0;
    for (int k = 0; k < nlast; k++)
        last[k] = NULL;
    if (!u->piped)
        return rc;
    trip();
    if (!PQpipelineSync(pg)) {
        u->failed = 1;
        return store_pg_fail(u->c, NULL, "engine pipeline sync");
    }
    for (int i = 0; i < u->pending; i++) {
        PGresult *r = PQgetResult(pg);
        ExecStatusType st = PQresultStatus(r);
        if (!r) {
            u->failed = 1; /* the connection is gone; put() drops it */
            return store_pg_fail(u->c, NULL, u->what[i]);
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (rc == OTA_OK)
                store_pg_fail(u->c, r, u->what[i]);
            rc = OTA_EDB;
            PQclear(r);
        } else if (i >= u->pending - nlast) {
            keep[i - (u->pending - nlast)] = r;
        } else {
            PQclear(r);
        }
        PQclear(PQgetResult(pg)); /* the NULL that ends each statement's results */
    }
    PGresult *sync = PQgetResult(pg);
    if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        if (rc == OTA_OK)
            store_pg_fail(u->c, sync, "engine pipeline sync");
        rc = OTA_EDB;
    }
    PQclear(sync);
    u->pending = 0;
    if (!PQexitPipelineMode(pg)) {
        if (rc == OTA_OK)
            store_pg_fail(u->c, NULL, "engine pipeline exit");
        rc = OTA_EDB;
    } else {
        u->piped = 0;
    }
    if (rc != OTA_OK) {
        u->failed = 1;
        for (int k = 0; k < nlast; k++) {
            PQclear(keep[k]);
            keep[k] = NULL;
        }
    }
    for (int k = 0; k < nlast; k++)
        last[k] = keep[k];
    return rc;
}

static ota_err pipe_settle(pg_uow *u, PGresult **last)
{
    return pipe_settle_n(u, last, last ? 1 : 0);
}

/* A statement (id q, text sql) whose answer the caller needs: sent after the pending
 * writes, answered in the same round trip. NULL on failure (logged). */
static PGresult *uow_read_sql(pg_uow *u, int q, const char *sql, const store_pg_params *p,
                              const char *what)
{
    PGresult *r = NULL;
    if (u->failed)
        return NULL;
    if (!u->piped) {
        /* nothing pending: a plain round trip is cheaper than a pipeline's */
        trip();
        r = store_pg_exec(u->c, q, sql, p ? p->n : 0, p ? p->v : NULL, what);
        if (!r)
            u->failed = 1;
        return r;
    }
    if (pipe_send(u, q, p, what) != OTA_OK)
        return NULL;
    pipe_settle(u, &r);
    return r;
}

static PGresult *uow_read(pg_uow *u, int q, const store_pg_params *p, const char *what)
{
    return uow_read_sql(u, q, text_of(q), p, what);
}

static ota_err pg_uow_begin(store_t *s, void **out)
{
    pg_uow *u = calloc(1, sizeof *u);
    if (!u)
        abort();
    u->s = s;
    u->c = store_pg_conn_get(s);
    ota_err rc = u->c ? OTA_OK : OTA_EDB;
    /* the pipeline sends prepared statements only: prepare them first (once per connection) */
    for (int q = STORE_PG_Q_BATCH; q < U_END && rc == OTA_OK; q++)
        rc = store_pg_prepare(u->c, q, text_of(q), "engine prepare");
    /* BEGIN waits in the pipeline for the unit's first read (the fence or the first load):
     * one round trip for both */
    if (rc == OTA_OK)
        rc = pipe_send(u, U_BEGIN, NULL, "begin");
    if (rc != OTA_OK) {
        pipe_settle(u, NULL);
        store_pg_conn_put(s, u->c);
        free(u);
        return OTA_EDB;
    }
    *out = u;
    return OTA_OK;
}

PGresult *store_pg_uow_read(void *impl, int id, const char *sql, const store_pg_params *p,
                            const char *what)
{
    pg_uow *u = impl;
    if (u->failed || id < 0 || id >= STORE_PG_Q_MAX)
        return NULL;
    if (!(u->c->prepared[id / 64] & (1ull << (id % 64)))) {
        /* preparing waits for its answer: outside the pipeline, once per connection */
        if (pipe_settle(u, NULL) != OTA_OK)
            return NULL;
        if (store_pg_prepare(u->c, id, sql, what) != OTA_OK) {
            u->failed = 1;
            return NULL;
        }
    }
    return uow_read_sql(u, id, sql, p, what);
}

/* COMMIT goes after the pending writes, in the same round trip; the unit has committed
 * only when its answer says COMMIT (a transaction that an earlier statement aborted ends
 * with ROLLBACK, or in the pipeline the COMMIT is not run at all). */
static ota_err pg_uow_commit(void *impl)
{
    pg_uow *u = impl;
    PGresult *r = NULL;
    ota_err rc = pipe_send(u, U_COMMIT, NULL, "commit");
    if (rc == OTA_OK)
        rc = pipe_settle(u, &r);
    else
        pipe_settle(u, NULL);
    if (rc == OTA_OK && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        OTA_ERROR("store: commit: the transaction was rolled back (%s)", PQcmdStatus(r));
        rc = OTA_EDB;
    }
    PQclear(r);
    if (rc != OTA_OK && !u->piped)
        store_pg_rollback(u->c);
    store_pg_conn_put(u->s, u->c);
    free(u);
    return rc;
}

static void pg_uow_rollback(void *impl)
{
    pg_uow *u = impl;
    pipe_settle(u, NULL);
    trip();
    if (!u->piped)
        store_pg_rollback(u->c);
    store_pg_conn_put(u->s, u->c);
    free(u);
}

/* A statement that changes rows, pipelined. */
static ota_err uow_write(pg_uow *u, int q, const store_pg_params *p, const char *what)
{
    ota_err rc = pipe_send(u, q, p, what);
    if (rc == OTA_OK && u->pending >= PIPE_MAX)
        rc = pipe_settle(u, NULL);
    return rc;
}

/* Statement q's parameters: args, and those the unit adds. */
static void uq_params(const pg_uow *u, store_uq q, const store_args *a, store_pg_params *p)
{
    store_pg_params_of(p, a);
    if (q == STORE_UQ_TARGET_EVENTS) /* only the devices of the partitions this engine holds */
        store_pg_p_i64(p, (int64_t)u->s->parts_filter);
}

/* A statement whose answer nobody needs (no row, no count) is pipelined (uow_write); one
 * whose rows or count the caller wants is answered in the same round trip as the pending
 * writes (uow_read). */
static ota_err pg_uow_exec(void *impl, store_uq q, const store_args *a, store_row_fn row, void *ud,
                           int64_t *changes)
{
    pg_uow *u = impl;
    store_pg_params p;
    uq_params(u, q, a, &p);
    int id = STORE_PG_Q_BATCH + (int)q;
    if (!row && !changes)
        return uow_write(u, id, &p, store__uq_name(q));
    return store_pg_answer(uow_read(u, id, &p, store__uq_name(q)), row, ud, changes);
}

/* Array literals of one chunk, built by the callers below. */
typedef struct {
    tbuf a[15];
    int n;
} arrays;

static void arrays_open(arrays *x, int n)
{
    memset(x, 0, sizeof *x);
    x->n = n;
    for (int i = 0; i < n; i++)
        tb_char(&x->a[i], '{');
}

static void arrays_close(arrays *x, store_pg_params *p)
{
    p->n = 0;
    for (int i = 0; i < x->n; i++) {
        tb_char(&x->a[i], '}');
        store_pg_p_str(p, x->a[i].s);
    }
}

static void arrays_free(arrays *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->a[i].s);
}

/* Two statements sent together (after the pending writes), answered in one round trip;
 * each result's rows go to its row function. side (or NULL): a third read sent with them. */
static ota_err read_two(pg_uow *u, int q1, int q2, const store_pg_params *p, store_row_fn f1,
                        store_row_fn f2, void *ud, const store_uow_side *side)
{
    PGresult *r[3];
    store_pg_params sp, lp;
    int lock = side && q1 == U_LOAD_DEV_NAMES; /* U_LOCK_JOIN on the product keys ($1) */
    if (side)
        uq_params(u, side->q, side->args, &sp);
    if (lock) {
        lp.n = 0;
        store_pg_p_str(&lp, p->v[0]);
        if (pipe_send(u, U_LOCK_JOIN, &lp, "engine lock joins") != OTA_OK)
            return OTA_EDB;
    }
    if (pipe_send(u, q1, p, "engine load devices") != OTA_OK ||
        pipe_send(u, q2, p, "engine load tasks") != OTA_OK ||
        (side && pipe_send(u, STORE_PG_Q_BATCH + (int)side->q, &sp,
                           store__uq_name(side->q)) != OTA_OK))
        return OTA_EDB;
    /* the lock's answer is not kept: a failure of it fails the settle */
    if (pipe_settle_n(u, r, side ? 3 : 2) != OTA_OK)
        return OTA_EDB;
    store_pg_answer(r[0], f1, ud, NULL);
    ota_err rc = store_pg_answer(r[1], f2, ud, NULL);
    if (side) {
        ota_err rs = store_pg_answer(r[2], side->row, side->ud, NULL);
        rc = rc != OTA_OK ? rc : rs;
    }
    return rc;
}

/* Rows per statement of the loads and the bulk write (a round has up to a few thousand). */
#define CHUNK 5000

/* Calls fn(u, ud, start, end, x) for each run [start, end) of at most CHUNK of n rows, with
 * x's n_arrays array literals opened; fn fills them and sends its statement. */
static ota_err by_chunks(pg_uow *u, size_t n, int n_arrays,
                         ota_err (*fn)(pg_uow *u, void *ud, size_t start, size_t end, arrays *x),
                         void *ud)
{
    ota_err rc = OTA_OK;
    for (size_t start = 0; start < n && rc == OTA_OK; start += CHUNK) {
        arrays x;
        arrays_open(&x, n_arrays);
        rc = fn(u, ud, start, start + CHUNK < n ? start + CHUNK : n, &x);
        arrays_free(&x);
    }
    return rc;
}

typedef struct {
    const char *const *pks, *const *idents;
    const int64_t *ids;
    store_row_fn dev, task;
    void *ud;
    const store_uow_side *side; /* sent with the first chunk */
} load_args;

static ota_err load_chunk(pg_uow *u, void *ud, size_t start, size_t end, arrays *x)
{
    load_args *a = ud;
    store_pg_params p;
    for (size_t i = start; i < end; i++) {
        if (a->ids) {
            tb_i64(&x->a[0], a->ids[i], 0);
        } else {
            tb_elem(&x->a[0], a->pks[i]);
            tb_elem(&x->a[1], a->idents[i]);
        }
    }
    arrays_close(x, &p);
    const store_uow_side *side = start == 0 ? a->side : NULL;
    return a->ids ? read_two(u, U_LOAD_DEV_IDS, U_LOAD_TASK_IDS, &p, a->dev, a->task, a->ud, side)
                  : read_two(u, U_LOAD_DEV_NAMES, U_LOAD_TASK_NAMES, &p, a->dev, a->task, a->ud,
                             side);
}

static ota_err pg_uow_load(void *impl, const char *const *pks, const char *const *idents,
                           const int64_t *ids, size_t n, store_row_fn dev, store_row_fn task,
                           void *ud, const store_uow_side *side)
{
    load_args a = {pks, idents, ids, dev, task, ud, side};
    return by_chunks(impl, n, ids ? 1 : 2, load_chunk, &a);
}

/* An optional time (0: not yet) as an array element. */
static void tb_ms(tbuf *b, int64_t ms)
{
    tb_i64(b, ms, ms == 0);
}

typedef struct {
    const store_task *const *ts;
    const int64_t *ms;
} put_args;

static ota_err put_chunk(pg_uow *u, void *ud, size_t start, size_t end, arrays *x)
{
    put_args *a = ud;
    store_pg_params p;
    /* the columns in STORE_UQ_TASK_PUT's parameter order (store_batch.c put_one) */
    for (size_t i = start; i < end; i++) {
        const store_task *st = a->ts[i];
        const fsm_task *t = &st->task;
        int dl = t->deadline_kind != FSM_DL_NONE;
        tb_i64(&x->a[0], st->batch_id, 0);
        tb_i64(&x->a[1], st->device_id, 0);
        tb_elem(&x->a[2], fsm_state_name(t->state));
        tb_opt(&x->a[3], t->reason != FSM_REASON_NONE ? fsm_reason_name(t->reason) : NULL);
        tb_i64(&x->a[4], t->progress, 0);
        tb_i64(&x->a[5], t->retried, 0);
        tb_i64(&x->a[6], t->attempt, 0);
        tb_opt(&x->a[7], t->push_msg_id[0] ? t->push_msg_id : NULL);
        tb_ms(&x->a[8], t->pushed_ms);
        tb_ms(&x->a[9], t->started_ms);
        tb_ms(&x->a[10], t->finished_ms);
        tb_opt(&x->a[11], dl ? fsm_deadline_name(t->deadline_kind) : NULL);
        tb_i64(&x->a[12], t->deadline_ms, !dl);
        tb_opt(&x->a[13], st->current_version[0] ? st->current_version : NULL);
        tb_i64(&x->a[14], a->ms[i], 0);
    }
    arrays_close(x, &p);
    return uow_write(u, U_PUT_TASKS, &p, "engine task put (bulk)");
}

static ota_err pg_uow_put_tasks(void *impl, const store_task *const *ts, const int64_t *ms,
                                size_t n)
{
    put_args a = {ts, ms};
    return by_chunks(impl, n, 15, put_chunk, &a);
}

typedef struct {
    const store_device_put *const *rows;
} put_devices_args;

static ota_err put_devices_chunk(pg_uow *u, void *ud, size_t start, size_t end, arrays *x)
{
    const store_device_put *const *rows = ((put_devices_args *)ud)->rows;
    store_pg_params p;
    /* U_PUT_DEVICES' columns: id, p, pt, rt, v, vt */
    for (size_t i = start; i < end; i++) {
        const store_device_put *d = rows[i];
        tb_i64(&x->a[0], d->device_id, 0);
        tb_i64(&x->a[1], d->presence, 0);
        tb_i64(&x->a[2], d->presence_ms, !d->presence);
        tb_i64(&x->a[3], d->ready_ms, !d->ready);
        tb_opt(&x->a[4], d->version ? d->firmware_version : NULL);
        tb_i64(&x->a[5], d->version_ms, !d->version);
    }
    arrays_close(x, &p);
    return uow_write(u, U_PUT_DEVICES, &p, "engine device put (bulk)");
}

static ota_err pg_uow_put_devices(void *impl, const store_device_put *const *rows, size_t n)
{
    put_devices_args a = {rows};
    return by_chunks(impl, n, 6, put_devices_chunk, &a);
}

static uint64_t pg_round_trips(void)
{
    return round_trips;
}

static ota_err pg_uow_terminate(void *impl, int64_t batch_id, int64_t now_ms,
                                const char *end_state, int *done, int64_t *failed)
{
    pg_uow *u = impl;
    /* the pending writes first; the terminate itself runs outside the pipeline */
    *done = 0;
    if (pipe_settle(u, NULL) != OTA_OK)
        return OTA_EDB;
    ota_err rc = store__batch_terminate(u->s, (store_tx *)u->c, batch_id, now_ms, end_state, done,
                                        failed);
    if (rc != OTA_OK)
        u->failed = 1;
    return rc;
}

static ota_err pg_snapshot(void *impl, const char *const *clients, size_t n, int64_t now_ms)
{
    pg_uow *u = impl;
    ota_err rc = OTA_OK;
    /* mark the snapshot's devices first (seen = now), in chunks of one statement each,
     * then everyone else offline */
    for (size_t start = 0; start < n && rc == OTA_OK; start += SNAPSHOT_CHUNK) {
        tbuf pks = {0}, idents = {0};
        tb_char(&pks, '{');
        tb_char(&idents, '{');
        for (size_t i = start; i < n && i < start + SNAPSHOT_CHUNK; i++) {
            const char *dot = strchr(clients[i], '.');
            char pk[32];
            if (!dot || dot == clients[i] || (size_t)(dot - clients[i]) >= sizeof pk)
                continue;
            memcpy(pk, clients[i], (size_t)(dot - clients[i]));
            pk[dot - clients[i]] = '\0';
            tb_elem(&pks, pk);
            tb_elem(&idents, dot + 1);
        }
        tb_char(&pks, '}');
        tb_char(&idents, '}');
        store_pg_params p = {0};
        store_pg_p_str(&p, pks.s);
        store_pg_p_str(&p, idents.s);
        store_pg_p_i64(&p, now_ms);
        store_pg_p_i64(&p, (int64_t)u->s->parts_filter);
        rc = uow_write(u, U_SNAP, &p, "engine snapshot");
        free(pks.s);
        free(idents.s);
    }
    if (rc != OTA_OK)
        return rc;
    store_pg_params p = {0};
    store_pg_p_i64(&p, now_ms);
    store_pg_p_i64(&p, (int64_t)u->s->parts_filter);
    return uow_write(u, U_SNAP_OFF, &p, "engine snapshot offline");
}

/* ---- start-up reads ---------------------------------------------------------------------- */

static ota_err pg_engine_batches(store_t *s, store_batch **items, size_t *n)
{
    *n = 0;
    *items = NULL;
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    PGresult *r = run(c, E_BATCHES, NULL, "engine batches");
    store_pg_conn_put(s, c);
    if (!r)
        return OTA_EDB;
    int rows = PQntuples(r);
    *items = malloc(((size_t)rows + 1) * sizeof **items);
    if (!*items)
        abort();
    for (int i = 0; i < rows; i++)
        batch_row(r, i, &(*items)[(*n)++]);
    PQclear(r);
    return OTA_OK;
}

/* Streams the rows of sql (parameters p) to row(), one at a time (single-row mode), so a
 * million rows never sit in memory together. */
static ota_err stream(store_t *s, const char *q, const store_pg_params *p,
                      void (*row)(const PGresult *r, void *ud), void *ud, const char *what)
{
    store_pg_conn *c = store_pg_conn_get(s);
    ota_err rc = OTA_OK;
    if (!c)
        return OTA_EDB;
    if (!PQsendQueryParams(c->pg, q, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0) ||
        !PQsetSingleRowMode(c->pg)) {
        rc = store_pg_fail(c, NULL, what);
    } else {
        PGresult *r;
        while ((r = PQgetResult(c->pg))) {
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_SINGLE_TUPLE && rc == OTA_OK)
                row(r, ud);
            else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == OTA_OK)
                rc = store_pg_fail(c, r, what);
            PQclear(r);
        }
    }
    store_pg_conn_put(s, c);
    return rc;
}

typedef struct {
    void (*fn)(void *, int64_t, int, int64_t);
    void (*fn1)(void *, int64_t);
    void *ud;
} stream_cb;

static void deadline_row(const PGresult *r, void *ud)
{
    stream_cb *cb = ud;
    char kind[16];
    store_pg_text(r, 0, 1, kind, sizeof kind);
    cb->fn(cb->ud, store_pg_i64(r, 0, 0), (int)fsm_deadline_from_name(kind), store_pg_i64(r, 0, 2));
}

static ota_err pg_engine_deadlines(store_t *s, int64_t until_ms, int64_t limit,
                                   void (*fn)(void *, int64_t, int, int64_t), void *ud)
{
    stream_cb cb = {fn, NULL, ud};
    store_pg_params p = {0};
    store_pg_p_i64(&p, until_ms);
    store_pg_p_i64(&p, limit);
    store_pg_p_i64(&p, (int64_t)s->parts_filter);
    return stream(s,
                  "SELECT t.device_id, t.due_kind, t.due_ms FROM tasks t JOIN batches b"
                  " ON b.id = t.batch_id JOIN devices d ON d.id = t.device_id"
                  " WHERE t.due_ms IS NOT NULL AND t.due_ms <= $1"
                  " AND b.state " STORE_SQL_BATCH_RUNNING " AND ((($3::bigint) >> d.part) & 1) = 1"
                  " ORDER BY t.due_ms LIMIT $2",
                  &p, deadline_row, &cb, "engine deadlines");
}

static void pushable_row(const PGresult *r, void *ud)
{
    stream_cb *cb = ud;
    cb->fn1(cb->ud, store_pg_i64(r, 0, 0));
}

static ota_err pg_engine_pushable(store_t *s, int64_t batch_id, int max_phase,
                                  void (*fn)(void *, int64_t), void *ud)
{
    stream_cb cb = {NULL, fn, ud};
    store_pg_params p = {0};
    store_pg_p_i64(&p, batch_id);
    store_pg_p_i64(&p, max_phase);
    store_pg_p_i64(&p, (int64_t)s->parts_filter);
    return stream(s,
                  "SELECT t.device_id FROM tasks t JOIN devices d ON d.id = t.device_id"
                  " WHERE t.batch_id = $1 AND t.state = 'to_push' AND d.online = 1 AND d.ready = 1"
                  " AND t.phase <= $2 AND ((($3::bigint) >> d.part) & 1) = 1 ORDER BY t.device_id",
                  &p, pushable_row, &cb, "engine pushable");
}

static ota_err pg_presence_reset(store_t *s)
{
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    store_pg_params p = {0};
    store_pg_p_i64(&p, (int64_t)s->parts_filter);
    PGresult *r = run(c, E_PRESENCE_RESET, &p, "presence reset");
    PQclear(r);
    store_pg_conn_put(s, c);
    return r ? OTA_OK : OTA_EDB;
}

static ota_err pg_ddi_offline(store_t *s, int64_t before_ms, int64_t *n)
{
    *n = 0;
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    store_pg_params p = {0};
    store_pg_p_i64(&p, before_ms);
    store_pg_p_i64(&p, (int64_t)s->parts_filter);
    PGresult *r = run(c, E_DDI_OFFLINE, &p, "engine ddi offline");
    store_pg_conn_put(s, c);
    if (!r)
        return OTA_EDB;
    *n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return OTA_OK;
}

const store_batch_ops store_pg_batch_ops = {
    .uow_begin = pg_uow_begin,
    .uow_commit = pg_uow_commit,
    .uow_rollback = pg_uow_rollback,
    .uow_exec = pg_uow_exec,
    .uow_load = pg_uow_load,
    .uow_put_tasks = pg_uow_put_tasks,
    .uow_put_devices = pg_uow_put_devices,
    .uow_terminate = pg_uow_terminate,
    .round_trips = pg_round_trips,
    .presence_snapshot = pg_snapshot,
    .engine_batches = pg_engine_batches,
    .engine_deadlines = pg_engine_deadlines,
    .engine_pushable = pg_engine_pushable,
    .presence_reset = pg_presence_reset,
    .ddi_offline = pg_ddi_offline,
};

#else
typedef int pg_batch_not_built; /* an empty file is not valid ISO C */
#endif
