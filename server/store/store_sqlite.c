/*
 * store_sqlite: the SQLite implementation of the store. One database file in WAL mode,
 * reached through a small pool of connections (one per concurrent caller, up to
 * POOL_MAX), so HTTP threads, the engine and the MQTT side can read concurrently while
 * writers take turns (BEGIN IMMEDIATE, busy_timeout 30 s). Schema changes are a
 * versioned list of migrations applied at open in one transaction (PRAGMA user_version);
 * append to the list, never edit an applied entry.
 *
 * Expected load: a catalog of up to millions of devices, tens of firmwares per product;
 * bulk imports of 1,000,000 devices in one transaction (one prepared statement reused).
 */
#include "store/store_sqlite.h"

#include "ota_log.h"
#include "ota_time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 16

/* A pooled connection and the statements kept prepared on it: sq_query parses each numbered
 * statement once per connection instead of on every call (a DDI poll's read runs tens of
 * thousands of times a second; docs/benchmarks.md). st[q] is NULL until q first runs here;
 * all are finalized before the connection closes (conn_close). A kept statement whose
 * schema changed is prepared again by SQLite itself (sqlite3_prepare_v2). */
typedef struct {
    sqlite3 *db;  /* NULL: the slot is free */
    int reserved; /* being opened (db still NULL) */
    sqlite3_stmt *st[STORE_Q_COUNT];
} sq_conn;

typedef struct {
    char path[1024];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sq_conn conns[POOL_MAX];
    sq_conn *free_conns[POOL_MAX];
    int n_free;
    int n_open;
    int version;
} store_sqlite;

/* The connection sq_tx lent this thread, for sq_query to find its kept statements (a
 * statement run on any other connection, e.g. sqlite_batch.c's, is prepared per call). */
static _Thread_local sq_conn *tls_conn;

/* ---- migrations ------------------------------------------------------------------ */

static const char *const migrations[] = {
    /* 1: the whole first schema (catalog and batch tables) */
    "CREATE TABLE products("
    " id INTEGER PRIMARY KEY,"
    " product_key TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE devices("
    " id INTEGER PRIMARY KEY,"
    " product_id INTEGER NOT NULL REFERENCES products(id),"
    " identifier TEXT NOT NULL,"
    " device_name TEXT NOT NULL,"
    " activated INTEGER NOT NULL DEFAULT 0,"
    " online INTEGER NOT NULL DEFAULT 0,"
    " firmware_version TEXT,"
    " created_ms INTEGER NOT NULL,"
    " activated_ms INTEGER,"
    " last_seen_ms INTEGER,"
    " UNIQUE(product_id, identifier));"
    "CREATE INDEX devices_online ON devices(product_id, online);"
    "CREATE TABLE firmwares("
    " id INTEGER PRIMARY KEY,"
    " product_id INTEGER NOT NULL REFERENCES products(id),"
    " name TEXT NOT NULL UNIQUE,"
    " version TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " file_name TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " md5 TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " UNIQUE(product_id, version));"
    "CREATE INDEX firmwares_sha256 ON firmwares(sha256);"
    "CREATE TABLE batches("
    " id INTEGER PRIMARY KEY,"
    " firmware_id INTEGER NOT NULL REFERENCES firmwares(id),"
    " product_id INTEGER NOT NULL,"
    " scope TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " validity_days INTEGER NOT NULL,"
    " timeout_min INTEGER NOT NULL,"
    " retry_times INTEGER NOT NULL,"
    " retry_interval_min INTEGER NOT NULL,"
    " max_push_per_min INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " start_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " end_ms INTEGER,"
    " total INTEGER NOT NULL,"
    " n_to_push INTEGER NOT NULL DEFAULT 0,"
    " n_pushed INTEGER NOT NULL DEFAULT 0,"
    " n_to_upgrade INTEGER NOT NULL DEFAULT 0,"
    " n_upgrading INTEGER NOT NULL DEFAULT 0,"
    " n_to_retry INTEGER NOT NULL DEFAULT 0,"
    " n_succeeded INTEGER NOT NULL DEFAULT 0,"
    " n_failed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX batches_fw_state ON batches(firmware_id, state);"
    "CREATE INDEX batches_state ON batches(state);"
    "CREATE TABLE tasks("
    " batch_id INTEGER NOT NULL REFERENCES batches(id),"
    " device_id INTEGER NOT NULL REFERENCES devices(id),"
    " state TEXT NOT NULL,"
    " fail_reason TEXT,"
    " progress INTEGER NOT NULL DEFAULT 0,"
    " retried INTEGER NOT NULL DEFAULT 0,"
    " attempt INTEGER NOT NULL DEFAULT 0,"
    " push_msg_id TEXT,"
    " due_ms INTEGER,"
    " due_kind TEXT,"
    " finish_ms INTEGER,"
    " current_version TEXT,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(batch_id, device_id)) WITHOUT ROWID;"
    "CREATE INDEX tasks_due ON tasks(due_ms) WHERE due_ms IS NOT NULL;"
    "CREATE UNIQUE INDEX tasks_one_open ON tasks(device_id)"
    " WHERE state NOT IN ('succeeded','failed');"
    "CREATE INDEX tasks_batch_state ON tasks(batch_id, state);",
    /* 2: presence readiness (docs/batches.md: pushed once the device said
     * it has subscribed) and the times the task state machine keeps */
    "ALTER TABLE devices ADD COLUMN ready INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tasks ADD COLUMN pushed_ms INTEGER;"
    "ALTER TABLE tasks ADD COLUMN started_ms INTEGER;",
    /* 3: presence ordered by the broker's times, so events handled late (by another
     * otad, or after a device message of the next connection) cannot undo newer ones:
     * conn_ms = start of the connection we believe current, ready_ms = last "I am ready" */
    ("ALTER TABLE devices ADD COLUMN conn_ms INTEGER;"
     "ALTER TABLE devices ADD COLUMN ready_ms INTEGER;"),
    /* 4: creating a batch for a whole product reads the product's activated devices
     * and their versions from this index alone, not row by row from the table: 1,000,000
     * devices took 2.6 s against 1.4 s to insert the same tasks (the benchmark's floor);
     * with it about 1.7 s. Costs about a quarter more time on a large device import. */
    "CREATE INDEX devices_eligible ON devices(product_id, activated, firmware_version);",
    /* 5: accounts (store_accounts.c): users with a scrypt password (NULL = cannot sign
     * in), and bearer tokens kept as their SHA-256 (API tokens and console sessions) */
    ("CREATE TABLE users("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE,"
     " role TEXT NOT NULL,"
     " password TEXT,"
     " disabled INTEGER NOT NULL DEFAULT 0,"
     " created_ms INTEGER NOT NULL,"
     " created_by TEXT NOT NULL);"
     "CREATE TABLE tokens("
     " id INTEGER PRIMARY KEY,"
     " user_id INTEGER REFERENCES users(id),"
     " kind TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " role TEXT NOT NULL,"
     " hash TEXT NOT NULL UNIQUE,"
     " created_ms INTEGER NOT NULL,"
     " expires_ms INTEGER,"
     " last_used_ms INTEGER,"
     " revoked_ms INTEGER,"
     " created_by TEXT NOT NULL);"
     "CREATE INDEX tokens_user ON tokens(user_id, kind);"),
    /* 6: the audit log (store_audit.c): one row per change, appended, never changed */
    ("CREATE TABLE audit("
     " id INTEGER PRIMARY KEY,"
     " time_ms INTEGER NOT NULL,"
     " actor TEXT NOT NULL,"
     " source TEXT NOT NULL,"
     " action TEXT NOT NULL,"
     " object TEXT NOT NULL,"
     " result TEXT NOT NULL,"
     " detail TEXT);"
     "CREATE INDEX audit_time ON audit(time_ms);"),
    /* 7: signed firmware (catalog.c): a product's Ed25519 public keys, whether it
     * requires signatures, and a firmware's signature and the key that verified it */
    ("ALTER TABLE products ADD COLUMN require_signature INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE firmwares ADD COLUMN signature TEXT;"
     "ALTER TABLE firmwares ADD COLUMN key_id TEXT;"
     "CREATE TABLE signing_keys("
     " id INTEGER PRIMARY KEY,"
     " product_id INTEGER NOT NULL REFERENCES products(id),"
     " key_id TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " public_key TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL,"
     " retired_ms INTEGER,"
     " UNIQUE(product_id, key_id));"),
    /* 8: phases and brakes (docs/batches.md, "Phases, brakes and time"): why a batch is
     * paused or aborted (JSON), its rollout (JSON as the API shows it), its current phase,
     * when that phase's soak ends (0: its success share not reached yet), the brakes that
     * fired (bit i: abort rule i); each task's phase, fixed when the task is made */
    ("ALTER TABLE batches ADD COLUMN pause_reason TEXT;"
     "ALTER TABLE batches ADD COLUMN rollout TEXT;"
     "ALTER TABLE batches ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE batches ADD COLUMN phase_due_ms INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE batches ADD COLUMN brakes_fired INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE tasks ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;"),
    /* 9: webhooks (store_webhook.c): subscriptions, the outbox of their events (written in
     * the change's transaction), deliveries with their next attempt's time and lease, and
     * the log of attempts */
    ("CREATE TABLE webhooks("
     " id INTEGER PRIMARY KEY,"
     " url TEXT NOT NULL,"
     " secret TEXT NOT NULL,"
     " events TEXT NOT NULL,"
     " enabled INTEGER NOT NULL,"
     " group_max INTEGER NOT NULL,"
     " group_seconds INTEGER NOT NULL,"
     " created_by TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL);"
     "CREATE TABLE webhook_events("
     " id INTEGER PRIMARY KEY,"
     " webhook_id INTEGER NOT NULL,"
     " event TEXT NOT NULL,"
     " time_ms INTEGER NOT NULL,"
     " data TEXT NOT NULL,"
     " delivery_id INTEGER);"
     "CREATE INDEX webhook_events_open ON webhook_events(webhook_id, id) WHERE delivery_id IS NULL;"
     "CREATE INDEX webhook_events_delivery ON webhook_events(delivery_id);"
     "CREATE TABLE webhook_deliveries("
     " id INTEGER PRIMARY KEY,"
     " webhook_id INTEGER NOT NULL,"
     " grouped INTEGER NOT NULL,"
     " n_events INTEGER NOT NULL,"
     " event TEXT NOT NULL,"
     " state TEXT NOT NULL,"
     " attempts INTEGER NOT NULL,"
     " first_ms INTEGER NOT NULL,"
     " next_ms INTEGER NOT NULL,"
     " lease_ms INTEGER NOT NULL,"
     " created_ms INTEGER NOT NULL);"
     "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(webhook_id, next_ms)"
     " WHERE state = 'pending';"
     "CREATE INDEX webhook_deliveries_done ON webhook_deliveries(next_ms) WHERE state <> 'pending';"
     "CREATE TABLE webhook_attempts("
     " id INTEGER PRIMARY KEY,"
     " webhook_id INTEGER NOT NULL,"
     " delivery_id INTEGER NOT NULL,"
     " attempt INTEGER NOT NULL,"
     " status INTEGER NOT NULL,"
     " error TEXT,"
     " duration_ms INTEGER NOT NULL,"
     " time_ms INTEGER NOT NULL,"
     " result TEXT NOT NULL);"
     "CREATE INDEX webhook_attempts_hook ON webhook_attempts(webhook_id, id);"
     "CREATE INDEX webhook_attempts_time ON webhook_attempts(time_ms);"),
    /* 10: targeting (store_targets.c, docs/batches.md "Targeting"): a device's tags as
     * their canonical JSON text (core/target.h), static groups and their members, a
     * batch's target (filter texts) and whether it is continuous, and the devices whose
     * tags or groups changed while a continuous batch of their product ran, which the
     * engine judges against it (one row per device until it has) */
    ("ALTER TABLE devices ADD COLUMN tags TEXT;"
     "CREATE TABLE device_groups("
     " id INTEGER PRIMARY KEY,"
     " product_id INTEGER NOT NULL REFERENCES products(id),"
     " name TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL,"
     " UNIQUE(product_id, name));"
     "CREATE TABLE device_group_members("
     " group_id INTEGER NOT NULL REFERENCES device_groups(id),"
     " device_id INTEGER NOT NULL REFERENCES devices(id),"
     " PRIMARY KEY(group_id, device_id)) WITHOUT ROWID;"
     "CREATE INDEX device_group_members_dev ON device_group_members(device_id);"
     "ALTER TABLE batches ADD COLUMN continuous INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE batches ADD COLUMN target_tags TEXT;"
     "ALTER TABLE batches ADD COLUMN target_groups TEXT;"
     "ALTER TABLE batches ADD COLUMN target_versions TEXT;"
     "CREATE INDEX batches_continuous ON batches(product_id, state) WHERE continuous = 1;"
     "CREATE TABLE target_events(device_id INTEGER PRIMARY KEY);"),
    /* 11: the hawkBit DDI device API (docs/ddi.md): a firmware's SHA-1 (NULL for older rows
     * until first needed), what a DDI device told us (configData attributes, the last
     * action whose cancel it acknowledged), and a device's tasks newest first for its poll */
    ("ALTER TABLE firmwares ADD COLUMN sha1 TEXT;"
     "CREATE TABLE ddi_targets("
     " device_id INTEGER PRIMARY KEY,"
     " attributes TEXT,"
     " attributes_ms INTEGER,"
     " cancel_acked INTEGER);"
     "CREATE INDEX tasks_device ON tasks(device_id, batch_id);"),
    /* 12: time (docs/batches.md, "Phases, brakes and time"): a scheduled batch's start
     * (0: none), its maintenance windows (JSON as the API shows them) */
    ("ALTER TABLE batches ADD COLUMN start_at_ms INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE batches ADD COLUMN windows TEXT;"),
    /* 13: partition leases, as PostgreSQL's 13 (one SQLite database has one otad, which owns
     * every partition without a lease: store_parts.h; the tables keep the lists in step) */
    ("CREATE TABLE partition_leases("
     " part INTEGER PRIMARY KEY,"
     " owner TEXT,"
     " epoch INTEGER NOT NULL DEFAULT 0,"
     " expires_ms INTEGER NOT NULL DEFAULT 0,"
     " applied_ms INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE otad_members(name TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL);"),
    /* 14: a batch's confirmation window (confirmMinutes; docs/batches.md "Rolled back") */
    ("ALTER TABLE batches ADD COLUMN confirm_min INTEGER NOT NULL DEFAULT 0;"),
    /* 15: DDI devices behind several otad (docs/ddi.md, "Several otad"): whether a device
     * polls (its pushes wait for its next poll), its last poll any instance saw (written
     * in batches), the reason its current action's error lines named before it closed;
     * the offline sweep reads the online DDI devices by last poll */
    ("ALTER TABLE devices ADD COLUMN ddi INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE devices ADD COLUMN ddi_poll_ms INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE ddi_targets ADD COLUMN hint_action INTEGER;"
     "ALTER TABLE ddi_targets ADD COLUMN hint_step INTEGER;"
     "CREATE INDEX devices_ddi_polls ON devices(ddi_poll_ms) WHERE ddi = 1 AND online = 1;"),
    /* 16: a batch's rollout counters and progress, exact across instances (docs/batches.md,
     * "Several otad"): counts is core/rollout.h's rollout_tally text; phase, phase_due_ms
     * and brakes_fired are the engine's, copied to the batch row for the API */
    ("CREATE TABLE batch_rollout("
     " batch_id INTEGER PRIMARY KEY,"
     " counts TEXT NOT NULL,"
     " phase INTEGER NOT NULL DEFAULT 0,"
     " phase_due_ms INTEGER NOT NULL DEFAULT 0,"
     " brakes_fired INTEGER NOT NULL DEFAULT 0);"),
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- connections ----------------------------------------------------------------- */

static store_sqlite *impl(store_t *s)
{
    return (store_sqlite *)s->impl;
}

ota_err store_sqlite_fail(sqlite3 *db, const char *what)
{
    OTA_ERROR("store: %s: %s", what, db ? sqlite3_errmsg(db) : "no connection");
    return OTA_EDB;
}

sqlite3_stmt *store_sqlite_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_sqlite_fail(db, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

void store_sqlite_text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static int64_t row_i64(const void *row, int col)
{
    return sqlite3_column_int64((sqlite3_stmt *)row, col);
}

static void row_text(const void *row, int col, char *out, size_t outlen)
{
    store_sqlite_text((sqlite3_stmt *)row, col, out, outlen);
}

static int row_null(const void *row, int col)
{
    return sqlite3_column_type((sqlite3_stmt *)row, col) == SQLITE_NULL;
}

store_row store_sqlite_row(sqlite3_stmt *st)
{
    return (store_row){st, row_i64, row_text, row_null};
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        OTA_ERROR("store: %.60s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3 *open_conn(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        OTA_ERROR("store: open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 30000);
    if (exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                 "PRAGMA temp_store=MEMORY;") != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void conn_close(sq_conn *c)
{
    for (int i = 0; i < STORE_Q_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

/* Borrows a connection: a free one, else a new one while fewer than POOL_MAX are open, else
 * waits. NULL when a new one cannot be opened (logged). */
static sq_conn *conn_take(store_sqlite *q)
{
    sq_conn *c = NULL;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->n_free > 0) {
            c = q->free_conns[--q->n_free];
            break;
        }
        if (q->n_open < POOL_MAX) {
            for (int i = 0; i < POOL_MAX && !c; i++)
                if (!q->conns[i].db && !q->conns[i].reserved)
                    c = &q->conns[i];
            c->reserved = 1;
            q->n_open++;
            pthread_mutex_unlock(&q->mu);
            sqlite3 *db = open_conn(q->path);
            pthread_mutex_lock(&q->mu);
            c->reserved = 0;
            c->db = db;
            if (!db) {
                q->n_open--;
                c = NULL;
                pthread_cond_signal(&q->cv);
            }
            break;
        }
        pthread_cond_wait(&q->cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return c;
}

static void conn_give(store_sqlite *q, sq_conn *c)
{
    if (!sqlite3_get_autocommit(c->db)) {
        OTA_WARN("store: connection returned inside a transaction; rolling back");
        exec(c->db, "ROLLBACK");
    }
    pthread_mutex_lock(&q->mu);
    q->free_conns[q->n_free++] = c;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

sqlite3 *store_sqlite_conn_get(store_t *s)
{
    sq_conn *c = conn_take(impl(s));
    return c ? c->db : NULL;
}

void store_sqlite_conn_put(store_t *s, sqlite3 *db)
{
    store_sqlite *q = impl(s);
    sq_conn *c = NULL;
    if (!db)
        return;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < POOL_MAX && !c; i++)
        if (q->conns[i].db == db)
            c = &q->conns[i];
    pthread_mutex_unlock(&q->mu);
    if (c)
        conn_give(q, c);
}

ota_err store_sqlite_begin(sqlite3 *db)
{
    return exec(db, "BEGIN IMMEDIATE") == 0 ? OTA_OK : OTA_EDB;
}

ota_err store_sqlite_commit(sqlite3 *db)
{
    if (exec(db, "COMMIT") == 0)
        return OTA_OK;
    store_sqlite_rollback(db);
    return OTA_EDB;
}

void store_sqlite_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs fn on a borrowed connection c, lent to this thread for sq_query meanwhile (the
 * previous one back after: a store call inside fn borrows its own). write: inside one
 * BEGIN IMMEDIATE transaction, committed when fn returns OTA_OK; else autocommit (one
 * implicit read transaction per statement). */
static ota_err conn_run(store_t *s, int write, ota_err (*fn)(sqlite3 *db, void *ud), void *ud)
{
    store_sqlite *q = impl(s);
    sq_conn *c = conn_take(q), *prev = tls_conn;
    ota_err rc;
    if (!c)
        return OTA_EDB;
    tls_conn = c;
    if (!write) {
        rc = fn(c->db, ud);
        goto out;
    }
    rc = store_sqlite_begin(c->db);
    if (rc != OTA_OK)
        goto out;
    rc = fn(c->db, ud);
    if (rc == OTA_OK)
        rc = store_sqlite_commit(c->db);
    else
        store_sqlite_rollback(c->db);
out:
    tls_conn = prev;
    conn_give(q, c);
    return rc;
}

ota_err store_sqlite_tx(store_t *s, ota_err (*fn)(sqlite3 *db, void *ud), void *ud)
{
    return conn_run(s, 1, fn, ud);
}

static ota_err with_conn(store_t *s, ota_err (*fn)(sqlite3 *db, void *ud), void *ud)
{
    return conn_run(s, 0, fn, ud);
}

static int migrate(sqlite3 *db, int *version)
{
    sqlite3_stmt *st;
    int v = 0;
    if (exec(db, "BEGIN IMMEDIATE") != 0)
        return -1;
    st = store_sqlite_prepare(db, "PRAGMA user_version");
    if (!st)
        goto fail;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (v > N_MIGRATIONS) {
        OTA_ERROR("store: database schema version %d is newer than this otad (%d)", v,
                  N_MIGRATIONS);
        goto fail;
    }
    for (; v < N_MIGRATIONS; v++) {
        char pragma[64];
        if (exec(db, migrations[v]) != 0)
            goto fail;
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
        if (exec(db, pragma) != 0)
            goto fail;
        OTA_INFO("store: applied migration %d", v + 1);
    }
    if (exec(db, "COMMIT") != 0)
        goto fail;
    *version = v;
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void sq_close(store_t *s)
{
    store_sqlite *q = impl(s);
    for (int i = 0; i < q->n_free; i++)
        conn_close(q->free_conns[i]);
    if (q->n_free != q->n_open)
        OTA_WARN("store: closing with %d connections still borrowed", q->n_open - q->n_free);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
    free(s);
}

static ota_err ping_fn(sqlite3 *db, void *ud)
{
    (void)ud;
    return exec(db, "SELECT 1") == 0 ? OTA_OK : OTA_EDB;
}

static ota_err sq_ping(store_t *s)
{
    return with_conn(s, ping_fn, NULL);
}

static int sq_schema_version(store_t *s)
{
    return impl(s)->version;
}

/* ---- the catalog's statements (catalog.c runs them) ----------------------------------- */

#define ELIGIBLE_Q                                                                              \
    " AND (?3 IS NULL OR instr(lower(d.identifier), lower(?3)) > 0"                             \
    " OR instr(lower(d.device_name), lower(?3)) > 0)"

#define BATCH_WHERE                                                                             \
    "WHERE (?1 = 0 OR b.firmware_id = ?1) AND (?2 IS NULL OR p.product_key = ?2)"               \
    " AND (?3 IS NULL OR b.state = ?3) "

/* A page of a batch's devices: the page's keys first, from an index alone (the primary
 * key, or (batch_id, state) whose entries end with device_id), then only those rows:
 * OFFSET steps over index entries, not joined rows, so a page deep in a 1,000,000-device
 * batch stays cheap. Keyset pages (after > 0, OFFSET 0) seek to device_id > ?5 in the same
 * index and cost the same at any depth; by page, ?5 is 0 (every id is greater). */
#define PAGE_ROWS(filter)                                                                       \
    "WITH page(device_id) AS (SELECT device_id FROM tasks WHERE batch_id = ?1" filter           \
    " AND device_id > ?5 ORDER BY device_id LIMIT ?3 OFFSET ?4)"                                \
    " SELECT " STORE_SQL_BATCH_DEVICE_COLS " FROM page p JOIN tasks t ON t.batch_id = ?1"      \
    " AND t.device_id = p.device_id JOIN devices d ON d.id = p.device_id ORDER BY p.device_id"

/* A device d of product p matches a target (core/target.h's texts as parameters t, g, v;
 * "{}" / "[]" = no condition): every tag of t (a key's value read with a quoted path, as
 * keys may hold '.'; a device without tags is passed over before any JSON is read), member
 * of one of the groups named in g (the product's members of those groups, read once, not
 * per device), reported version one of v. At 1,000,000 devices of which 10,000 carry tags
 * and are in the group, a count by tag took 0.31 s instead of 2.6 s without the tags IS NOT
 * NULL test, by group 0.33 s instead of 0.68 s with a test per device (warm cache, loaded
 * machine). */
#define MATCH(p, t, g, v)                                                                       \
    " AND (" t " = '{}' OR (d.tags IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each(" t ") f" \
    " WHERE json_extract(d.tags, '$.\"' || f.key || '\"') IS NOT f.value)))"                   \
    " AND (" g " = '[]' OR d.id IN (SELECT m.device_id FROM device_group_members m"            \
    " JOIN device_groups gr ON gr.id = m.group_id WHERE gr.product_id = " p                     \
    " AND gr.name IN (SELECT value FROM json_each(" g "))))"                                    \
    " AND (" v " = '[]' OR d.firmware_version IN (SELECT value FROM json_each(" v ")))"

/* This database's own texts; the rest are store__sql_common's. Writers take turns (BEGIN
 * IMMEDIATE), so the *_LOCK statements only read. */
static const char *const sql[STORE_Q_COUNT] = {
    /* ?1: [[device id, poll ms], ...] (store_ddi_polls_put); a newer poll another instance
     * wrote first is kept */
    [STORE_Q_DDI_POLLS_PUT] =
        "UPDATE devices SET ddi_poll_ms = u.ms, last_seen_ms = max(COALESCE(last_seen_ms, 0), u.ms)"
        " FROM (SELECT json_extract(value, '$[0]') AS id, max(json_extract(value, '$[1]')) AS ms"
        " FROM json_each(?1) GROUP BY 1) AS u WHERE devices.id = u.id AND devices.ddi_poll_ms < u.ms",
    [STORE_Q_MATCH_COUNT] = "SELECT count(*) FROM devices d WHERE d.product_id = ?1"
                            " AND (?2 < 0 OR d.online = ?2)" MATCH("?1", "?3", "?4", "?5"),
    [STORE_Q_MATCH_LIST] = "SELECT " STORE_SQL_DEVICE_COLS " FROM devices d JOIN products p"
                           " ON p.id = d.product_id WHERE d.product_id = ?1"
                           " AND (?2 < 0 OR d.online = ?2)" MATCH("?1", "?3", "?4", "?5")
                           " ORDER BY d.id LIMIT ?6 OFFSET ?7",
    [STORE_Q_MATCH_IDS] = "SELECT d.id, COALESCE(d.tags, '') FROM devices d"
                          " WHERE d.product_id = ?1" MATCH("?1", "?2", "?3", "?4")
                          " ORDER BY d.id LIMIT ?5",
    [STORE_Q_MATCH_ELIGIBLE] = "SELECT count(*) FROM devices d WHERE "
                               STORE_SQL_ELIGIBLE("?1", "?2") MATCH("?1", "?3", "?4", "?5"),
    [STORE_Q_BATCH_TASKS_MATCH] = "INSERT INTO tasks(batch_id, device_id, state, updated_ms)"
                                  " SELECT ?1, d.id, 'to_push', ?2 FROM devices d"
                                  " WHERE " STORE_SQL_ELIGIBLE("?3", "?4") MATCH("?3", "?5", "?6", "?7"),
    [STORE_Q_PRODUCT_LOCK] = "SELECT id FROM products WHERE product_key=?1",
    [STORE_Q_PRESENCE] = "UPDATE devices SET online=?3, last_seen_ms=?4,"
                         " activated_ms=CASE WHEN ?3=1 AND activated=0 THEN ?4 ELSE activated_ms END,"
                         " activated=CASE WHEN ?3=1 THEN 1 ELSE activated END WHERE identifier=?2 AND"
                         " product_id=(SELECT id FROM products WHERE product_key=?1)",
    [STORE_Q_FW_LOCK] = "SELECT 1 FROM firmwares WHERE id=?1",
    [STORE_Q_ELIG_COUNT] = "SELECT count(*) FROM devices d WHERE "
                           STORE_SQL_ELIGIBLE("?1", "?2") ELIGIBLE_Q,
    [STORE_Q_ELIG_LIST] = "SELECT " STORE_SQL_DEVICE_COLS " FROM devices d JOIN products p"
                          " ON p.id = d.product_id WHERE " STORE_SQL_ELIGIBLE("?1", "?2") ELIGIBLE_Q
                          " ORDER BY d.id LIMIT ?4 OFFSET ?5",
    [STORE_Q_BATCH_FIRMWARE] = "SELECT product_id, version FROM firmwares WHERE id = ?1",
    [STORE_Q_BATCH_PRODUCT_LOCK] = "SELECT 1 FROM products WHERE id = ?1",
    /* writers take turns: no engine round runs while a batch is created */
    [STORE_Q_BATCH_CONTINUOUS_LOCK] = "SELECT ?1",
    [STORE_Q_BATCH_TASKS_ALL] = "INSERT INTO tasks(batch_id, device_id, state, updated_ms)"
                                " SELECT ?1, d.id, 'to_push', ?2 FROM devices d"
                                " WHERE " STORE_SQL_ELIGIBLE("?3", "?4"),
    /* one row per identifier of the JSON array ?2, in its order */
    [STORE_Q_BATCH_DIRECTED_FIND] =
        "SELECT d.id, d.activated, d.firmware_version,"
        " EXISTS (SELECT 1 FROM tasks t WHERE t.device_id = d.id AND t.state " STORE_SQL_TASK_OPEN ")"
        " FROM json_each(?2) AS u LEFT JOIN devices d ON d.product_id = ?1"
        " AND d.identifier = u.value ORDER BY u.key",
    [STORE_Q_BATCH_TASKS_DIRECTED] = "INSERT INTO tasks(batch_id, device_id, state, updated_ms)"
                                     " SELECT ?1, value, 'to_push', ?3 FROM json_each(?2)",
    [STORE_Q_BATCH_COUNT] = "SELECT count(*) FROM batches b JOIN products p ON p.id = b.product_id "
                            BATCH_WHERE,
    [STORE_Q_BATCH_LIST] = "SELECT " STORE_SQL_BATCH_COLS BATCH_WHERE
                           "ORDER BY b.id DESC LIMIT ?4 OFFSET ?5",
    [STORE_Q_BATCH_DEVICES] = PAGE_ROWS(" AND ?2 IS NULL"),
    [STORE_Q_BATCH_DEVICES_STATE] = PAGE_ROWS(" AND state = ?2"),
    [STORE_Q_BATCH_LOCK] = "SELECT 1 FROM batches WHERE id = ?1",
    /* accounts (store_accounts.c): users, then tokens */
    /* webhooks (store_webhook.c); SQLite has one writer at a time, so no row locks */
    [STORE_Q_HOOK_EVENT] = STORE_SQL_HOOK_EVENT("instr", "?1", "?2", "?3"),
    [STORE_Q_HOOK_OPEN] = STORE_SQL_HOOK_OPEN(""),
    [STORE_Q_HOOK_CLAIM] = STORE_SQL_HOOK_CLAIM(""),
    [STORE_Q_HOOK_EVENTS_ASSIGN] = "UPDATE webhook_events SET delivery_id = ?1"
                                   " WHERE id IN (SELECT value FROM json_each(?2))",
    [STORE_Q_HOOK_LOG] = "SELECT a.id, a.delivery_id, d.event, d.n_events, a.attempt, a.status,"
                         " COALESCE(a.error, ''), a.duration_ms, a.time_ms, a.result"
                         " FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
                         " WHERE a.webhook_id = ?1 AND (?2 = 0 OR a.id < ?2)"
                         " ORDER BY a.id DESC LIMIT ?3",
};

/* store_tx is the connection. */
typedef struct {
    ota_err (*fn)(store_tx *tx, void *ud);
    void *ud;
} tx_call;

static ota_err tx_call_fn(sqlite3 *db, void *ud)
{
    tx_call *c = ud;
    return c->fn((store_tx *)db, c->ud);
}

static ota_err sq_tx(store_t *s, store_tx_mode mode, ota_err (*fn)(store_tx *tx, void *ud),
                     void *ud)
{
    tx_call c = {fn, ud};
    int64_t t0 = ota_time_mono_us();
    ota_err rc;
    /* reads on one connection: WAL gives each statement (and the statements of a read
     * transaction) a consistent snapshot; one writer at a time */
    if (mode == STORE_TX_WRITE)
        rc = store_sqlite_tx(s, tx_call_fn, &c);
    else
        rc = with_conn(s, tx_call_fn, &c);
    store__tx_ended(s, mode, t0, rc);
    return rc;
}

/* A statement sq_query ran: a kept one reset for its next call (its bindings cleared: they
 * pointed into the caller's arguments), any other finalized. */
static void stmt_done(sqlite3_stmt *st, int kept)
{
    if (!kept) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static ota_err sq_query(store_tx *tx, store_q q, const store_args *a, store_row_fn row, void *ud,
                        int64_t *changes)
{
    sqlite3 *db = (sqlite3 *)tx;
    sq_conn *c = tls_conn && tls_conn->db == db ? tls_conn : NULL;
    sqlite3_stmt *st = c ? c->st[q] : NULL;
    int kept = 1;
    /* a kept statement still running (a row callback's query of the same number) is left
     * alone: this call prepares its own */
    if (!st || sqlite3_stmt_busy(st)) {
        st = store_sqlite_prepare(db, store__sql_text(sql, q));
        if (!st)
            return OTA_EDB;
        kept = c && !c->st[q];
        if (kept)
            c->st[q] = st;
    }
    /* ?N is parameter N; $N (the shared texts) is a named parameter whose index is the
     * order of first use, so it is bound by its name */
    for (int j = 1; j <= sqlite3_bind_parameter_count(st); j++) {
        const char *name = sqlite3_bind_parameter_name(st, j);
        long k = j;
        if (name && name[0] == '$')
            k = strtol(name + 1, NULL, 10);
        if (k < 1 || k > a->n) {
            stmt_done(st, kept);
            OTA_ERROR("store: %s: parameter %s without a value", store__q_name(q),
                      name ? name : "?");
            return OTA_EDB;
        }
        if (a->v[k - 1].kind == STORE_ARG_I64)
            sqlite3_bind_int64(st, j, a->v[k - 1].i);
        else if (a->v[k - 1].kind == STORE_ARG_TEXT)
            sqlite3_bind_text(st, j, a->v[k - 1].s, -1, SQLITE_STATIC);
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (row) {
            store_row sr = store_sqlite_row(st);
            row(ud, &sr);
        }
    }
    if (r != SQLITE_DONE)
        store_sqlite_fail(db, store__q_name(q));
    stmt_done(st, kept);
    if (r != SQLITE_DONE)
        return OTA_EDB;
    if (changes)
        *changes = sqlite3_changes64(db);
    return OTA_OK;
}

/* The product's id: > 0, 0 when none, -1 on error. */
static int64_t product_id(sqlite3 *db, const char *key)
{
    int64_t id = 0;
    store_args a = {0};
    store_arg_str(&a, key);
    return sq_query((store_tx *)db, STORE_Q_PRODUCT_ID, &a, store__first_i64, &id, NULL) == OTA_OK
               ? id
               : -1;
}

/* ---- import ----------------------------------------------------------------------- */

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *ins;
    int64_t pid, now, count;
} sq_import;

static ota_err sq_import_begin(store_t *s, const char *product_key, int64_t now_ms,
                               store_import *im)
{
    sq_import *x = calloc(1, sizeof *x);
    if (!x)
        abort();
    x->now = now_ms;
    x->db = store_sqlite_conn_get(s);
    if (!x->db) {
        free(x);
        return OTA_EDB;
    }
    ota_err rc = store_sqlite_begin(x->db);
    if (rc != OTA_OK)
        goto fail;
    x->pid = product_id(x->db, product_key);
    if (x->pid <= 0) {
        rc = x->pid < 0 ? store_sqlite_fail(x->db, "find product") : OTA_ENOTFOUND;
        goto fail;
    }
    x->ins = store_sqlite_prepare(
        x->db,
        "INSERT INTO devices(product_id, identifier, device_name, created_ms) VALUES(?,?,?,?)");
    if (!x->ins) {
        rc = OTA_EDB;
        goto fail;
    }
    im->impl = x;
    return OTA_OK;
fail:
    store_sqlite_rollback(x->db);
    store_sqlite_conn_put(s, x->db);
    free(x);
    return rc;
}

static ota_err sq_import_add(store_import *im, const char *identifier, const char *device_name)
{
    sq_import *x = im->impl;
    sqlite3_reset(x->ins);
    sqlite3_bind_int64(x->ins, 1, x->pid);
    sqlite3_bind_text(x->ins, 2, identifier, -1, SQLITE_STATIC);
    sqlite3_bind_text(x->ins, 3, device_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(x->ins, 4, x->now);
    int r = sqlite3_step(x->ins);
    sqlite3_reset(x->ins);
    if (r == SQLITE_CONSTRAINT)
        return OTA_EDUPLICATE;
    if (r != SQLITE_DONE)
        return store_sqlite_fail(x->db, "import device");
    x->count++;
    return OTA_OK;
}

static void import_free(store_import *im)
{
    sq_import *x = im->impl;
    sqlite3_finalize(x->ins);
    store_sqlite_rollback(x->db);
    store_sqlite_conn_put(im->s, x->db);
    free(x);
    im->impl = NULL;
}

static ota_err sq_import_commit(store_import *im, int64_t *created)
{
    sq_import *x = im->impl;
    sqlite3_finalize(x->ins);
    x->ins = NULL;
    ota_err rc = store__audit_insert(im->s, (store_tx *)x->db);
    if (rc == OTA_OK)
        rc = store_sqlite_commit(x->db);
    if (rc == OTA_OK && created)
        *created = x->count;
    import_free(im);
    return rc;
}

static void sq_import_abort(store_import *im)
{
    if (im->impl)
        import_free(im);
}

/* ---- the table ---------------------------------------------------------------------- */

static const store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .schema_version = sq_schema_version,
    .tx = sq_tx,
    .query = sq_query,
    .import_begin = sq_import_begin,
    .import_add = sq_import_add,
    .import_commit = sq_import_commit,
    .import_abort = sq_import_abort,
};

ota_err store_sqlite_open(const char *path, store_t **out, char *err, size_t errlen)
{
    store_t *s = calloc(1, sizeof *s);
    store_sqlite *q = calloc(1, sizeof *q);
    if (!s || !q)
        abort();
    if (strlen(path) >= sizeof q->path || !*path) {
        snprintf(err, errlen, "database path empty or too long");
        goto fail;
    }
    if (store__sql_complete(sql, STORE_Q_COUNT, err, errlen) != 0)
        goto fail;
    snprintf(q->path, sizeof q->path, "%s", path);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    s->ops = &sqlite_ops;
    s->batch_ops = &store_sqlite_batch_ops;
    s->impl = q;
    sqlite3 *db = store_sqlite_conn_get(s);
    if (!db) {
        snprintf(err, errlen, "cannot open SQLite database %s", path);
        sq_close(s);
        return OTA_EDB;
    }
    if (migrate(db, &q->version) != 0) {
        snprintf(err, errlen, "database migration failed (see the log)");
        store_sqlite_conn_put(s, db);
        sq_close(s);
        return OTA_EDB;
    }
    store_sqlite_conn_put(s, db);
    *out = s;
    return OTA_OK;
fail:
    free(q);
    free(s);
    return OTA_EDB;
}
