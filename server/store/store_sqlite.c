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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 16

typedef struct {
    char path[1024];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sqlite3 *free_conns[POOL_MAX];
    int n_free;
    int n_open;
    int version;
} store_sqlite;

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
    /* 2: presence readiness (contract 3.1: pushed once the device said
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
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- connections ----------------------------------------------------------------- */

static store_sqlite *impl(store_t *s)
{
    return (store_sqlite *)s->impl;
}

store_rc store_sqlite_fail(sqlite3 *db, const char *what)
{
    OTA_ERROR("store: %s: %s", what, db ? sqlite3_errmsg(db) : "no connection");
    return STORE_ERROR;
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

sqlite3 *store_sqlite_conn_get(store_t *s)
{
    store_sqlite *q = impl(s);
    sqlite3 *db = NULL;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->n_free > 0) {
            db = q->free_conns[--q->n_free];
            break;
        }
        if (q->n_open < POOL_MAX) {
            q->n_open++;
            pthread_mutex_unlock(&q->mu);
            db = open_conn(q->path);
            pthread_mutex_lock(&q->mu);
            if (!db) {
                q->n_open--;
                pthread_cond_signal(&q->cv);
            }
            break;
        }
        pthread_cond_wait(&q->cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return db;
}

void store_sqlite_conn_put(store_t *s, sqlite3 *db)
{
    store_sqlite *q = impl(s);
    if (!db)
        return;
    if (!sqlite3_get_autocommit(db)) {
        OTA_WARN("store: connection returned inside a transaction; rolling back");
        exec(db, "ROLLBACK");
    }
    pthread_mutex_lock(&q->mu);
    q->free_conns[q->n_free++] = db;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

store_rc store_sqlite_begin(sqlite3 *db)
{
    return exec(db, "BEGIN IMMEDIATE") == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_sqlite_commit(sqlite3 *db)
{
    if (exec(db, "COMMIT") == 0)
        return STORE_OK;
    store_sqlite_rollback(db);
    return STORE_ERROR;
}

void store_sqlite_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

store_rc store_sqlite_tx(store_t *s, store_rc (*fn)(sqlite3 *db, void *ud), void *ud)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    store_rc rc;
    if (!db)
        return STORE_ERROR;
    rc = store_sqlite_begin(db);
    if (rc != STORE_OK)
        goto out;
    rc = fn(db, ud);
    if (rc == STORE_OK)
        rc = store_sqlite_commit(db);
    else
        store_sqlite_rollback(db);
out:
    store_sqlite_conn_put(s, db);
    return rc;
}

/* Runs a read-only function on a borrowed connection (autocommit: one implicit
 * transaction per statement). */
static store_rc with_conn(store_t *s, store_rc (*fn)(sqlite3 *db, void *ud), void *ud)
{
    sqlite3 *db = store_sqlite_conn_get(s);
    if (!db)
        return STORE_ERROR;
    store_rc rc = fn(db, ud);
    store_sqlite_conn_put(s, db);
    return rc;
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
        sqlite3_close(q->free_conns[i]);
    if (q->n_free != q->n_open)
        OTA_WARN("store: closing with %d connections still borrowed", q->n_open - q->n_free);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
    free(s);
}

static store_rc ping_fn(sqlite3 *db, void *ud)
{
    (void)ud;
    return exec(db, "SELECT 1") == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_ping(store_t *s)
{
    return with_conn(s, ping_fn, NULL);
}

static int sq_schema_version(store_t *s)
{
    return impl(s)->version;
}

/* ---- products --------------------------------------------------------------------- */

#define PRODUCT_COLS STORE_SQL_PRODUCT_COLS

static void read_product(sqlite3_stmt *st, store_product *p)
{
    store_row r = store_sqlite_row(st);
    store__read_product(&r, p);
}

typedef struct {
    const char *name, *desc;
    int64_t now;
    store_product *out;
} product_create_args;

static store_rc product_create_fn(sqlite3 *db, void *ud)
{
    product_create_args *a = ud;
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "INSERT INTO products(product_key, name, description, created_ms) VALUES(?,?,?,?)");
    store_rc rc = STORE_ERROR;
    if (!st)
        return STORE_ERROR;
    for (int attempt = 0; attempt < 5; attempt++) {
        char key[16];
        if (store__product_key(key) != 0)
            break;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->desc, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, a->now);
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE) {
            memset(a->out, 0, sizeof *a->out);
            a->out->id = sqlite3_last_insert_rowid(db);
            snprintf(a->out->product_key, sizeof a->out->product_key, "%s", key);
            snprintf(a->out->name, sizeof a->out->name, "%s", a->name);
            snprintf(a->out->description, sizeof a->out->description, "%s", a->desc);
            a->out->created_ms = a->now;
            rc = STORE_OK;
            break;
        }
        if (r != SQLITE_CONSTRAINT) {
            rc = store_sqlite_fail(db, "insert product");
            break;
        }
        /* key collision: draw again */
    }
    sqlite3_finalize(st);
    return rc;
}

static store_rc sq_product_create(store_t *s, const char *name, const char *description,
                                  int64_t now_ms, store_product *out)
{
    product_create_args a = {name, description, now_ms, out};
    return store_sqlite_tx(s, product_create_fn, &a);
}

typedef struct {
    const char *key;
    store_product *out;
} product_get_args;

static store_rc product_get_fn(sqlite3 *db, void *ud)
{
    product_get_args *a = ud;
    sqlite3_stmt *st =
        store_sqlite_prepare(db, "SELECT " PRODUCT_COLS " FROM products p WHERE p.product_key=?");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, a->key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    store_rc rc = STORE_NOT_FOUND;
    if (r == SQLITE_ROW) {
        read_product(st, a->out);
        rc = STORE_OK;
    } else if (r != SQLITE_DONE) {
        rc = store_sqlite_fail(db, "get product");
    }
    sqlite3_finalize(st);
    return rc;
}

static store_rc sq_product_get(store_t *s, const char *product_key, store_product *out)
{
    product_get_args a = {product_key, out};
    return with_conn(s, product_get_fn, &a);
}

/* Generic paged list: count_sql gives the total, list_sql the rows; both take the same
 * leading binds (bind_fn), list_sql then LIMIT and OFFSET. */
typedef struct {
    const char *count_sql, *list_sql;
    void (*bind)(sqlite3_stmt *st, void *ud);
    void *bind_ud;
    size_t item_size;
    void (*read)(sqlite3_stmt *st, void *item);
    store_page pg;
    void **items;
    size_t *n;
    int64_t *total;
} list_args;

static store_rc list_fn(sqlite3 *db, void *ud)
{
    list_args *a = ud;
    store_rc rc = STORE_ERROR;
    sqlite3_stmt *st = store_sqlite_prepare(db, a->count_sql);
    if (!st)
        return STORE_ERROR;
    if (a->bind)
        a->bind(st, a->bind_ud);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = store_sqlite_fail(db, "count");
        sqlite3_finalize(st);
        return rc;
    }
    *a->total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);

    st = store_sqlite_prepare(db, a->list_sql);
    if (!st)
        return STORE_ERROR;
    int nb = 0;
    if (a->bind)
        a->bind(st, a->bind_ud);
    nb = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int(st, nb - 1, a->pg.page_size);
    sqlite3_bind_int64(st, nb, (int64_t)(a->pg.page - 1) * a->pg.page_size);
    char *items = calloc((size_t)a->pg.page_size, a->item_size);
    size_t n = 0;
    if (!items)
        abort();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)a->pg.page_size)
        a->read(st, items + a->item_size * n++);
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        free(items);
        rc = store_sqlite_fail(db, "list");
    } else {
        *a->items = items;
        *a->n = n;
        rc = STORE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static void read_product_v(sqlite3_stmt *st, void *item)
{
    read_product(st, item);
}

static store_rc sq_product_list(store_t *s, store_page pg, store_product **items, size_t *n,
                                int64_t *total)
{
    list_args a = {"SELECT count(*) FROM products",
                   "SELECT " PRODUCT_COLS " FROM products p ORDER BY p.id LIMIT ? OFFSET ?",
                   NULL,
                   NULL,
                   sizeof(store_product),
                   read_product_v,
                   pg,
                   (void **)items,
                   n,
                   total};
    return with_conn(s, list_fn, &a);
}

/* ---- devices ---------------------------------------------------------------------- */

#define DEVICE_COLS STORE_SQL_DEVICE_COLS

static void read_device(sqlite3_stmt *st, void *item)
{
    store_row r = store_sqlite_row(st);
    store__read_device(&r, item);
}

static int64_t product_id(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st = store_sqlite_prepare(db, "SELECT id FROM products WHERE product_key=?");
    int64_t id = 0;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    else if (r != SQLITE_DONE)
        id = -1;
    sqlite3_finalize(st);
    return id;
}

typedef struct {
    const char *key, *ident, *name;
    int64_t now;
    store_device *out;
} device_get_args;

static store_rc device_get_fn(sqlite3 *db, void *ud)
{
    device_get_args *a = ud;
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "SELECT " DEVICE_COLS " FROM devices d JOIN products p ON p.id = d.product_id"
            " WHERE p.product_key=? AND d.identifier=?");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, a->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->ident, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    store_rc rc = STORE_NOT_FOUND;
    if (r == SQLITE_ROW) {
        read_device(st, a->out);
        rc = STORE_OK;
    } else if (r != SQLITE_DONE) {
        rc = store_sqlite_fail(db, "get device");
    }
    sqlite3_finalize(st);
    return rc;
}

static store_rc device_create_fn(sqlite3 *db, void *ud)
{
    device_get_args *a = ud;
    int64_t pid = product_id(db, a->key);
    if (pid < 0)
        return store_sqlite_fail(db, "find product");
    if (pid == 0)
        return STORE_NOT_FOUND;
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "INSERT INTO devices(product_id, identifier, device_name, created_ms) VALUES(?,?,?,?)");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, pid);
    sqlite3_bind_text(st, 2, a->ident, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a->now);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_CONSTRAINT)
        return STORE_DUPLICATE;
    if (r != SQLITE_DONE)
        return store_sqlite_fail(db, "insert device");
    return device_get_fn(db, a);
}

static store_rc sq_device_create(store_t *s, const char *product_key, const char *identifier,
                                 const char *device_name, int64_t now_ms, store_device *out)
{
    device_get_args a = {product_key, identifier, device_name, now_ms, out};
    return store_sqlite_tx(s, device_create_fn, &a);
}

static store_rc sq_device_get(store_t *s, const char *product_key, const char *identifier,
                              store_device *out)
{
    device_get_args a = {product_key, identifier, NULL, 0, out};
    return with_conn(s, device_get_fn, &a);
}

typedef struct {
    int64_t pid;
    int online;
} device_list_bind;

static void bind_device_list(sqlite3_stmt *st, void *ud)
{
    device_list_bind *b = ud;
    sqlite3_bind_int64(st, 1, b->pid);
    if (b->online >= 0)
        sqlite3_bind_int(st, 2, b->online);
}

typedef struct {
    const char *key;
    int online;
    list_args la;
} device_list_args;

static store_rc device_list_fn(sqlite3 *db, void *ud)
{
    device_list_args *a = ud;
    device_list_bind b;
    b.pid = product_id(db, a->key);
    b.online = a->online;
    if (b.pid < 0)
        return store_sqlite_fail(db, "find product");
    if (b.pid == 0)
        return STORE_NOT_FOUND;
    a->la.bind = bind_device_list;
    a->la.bind_ud = &b;
    if (a->online >= 0) {
        a->la.count_sql = "SELECT count(*) FROM devices WHERE product_id=? AND online=?";
        a->la.list_sql = "SELECT " DEVICE_COLS " FROM devices d JOIN products p ON p.id ="
                         " d.product_id WHERE d.product_id=? AND d.online=? ORDER BY d.id"
                         " LIMIT ? OFFSET ?";
    } else {
        a->la.count_sql = "SELECT count(*) FROM devices WHERE product_id=?";
        a->la.list_sql = "SELECT " DEVICE_COLS " FROM devices d JOIN products p ON p.id ="
                         " d.product_id WHERE d.product_id=? ORDER BY d.id LIMIT ? OFFSET ?";
    }
    return list_fn(db, &a->la);
}

static store_rc sq_device_list(store_t *s, const char *product_key, int online, store_page pg,
                               store_device **items, size_t *n, int64_t *total)
{
    device_list_args a = {product_key, online, {0}};
    a.la.item_size = sizeof(store_device);
    a.la.read = read_device;
    a.la.pg = pg;
    a.la.items = (void **)items;
    a.la.n = n;
    a.la.total = total;
    return with_conn(s, device_list_fn, &a);
}

/* ---- import ----------------------------------------------------------------------- */

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *ins;
    int64_t pid, now, count;
} sq_import;

static store_rc sq_import_begin(store_t *s, const char *product_key, int64_t now_ms,
                                store_import *im)
{
    sq_import *x = calloc(1, sizeof *x);
    if (!x)
        abort();
    x->now = now_ms;
    x->db = store_sqlite_conn_get(s);
    if (!x->db) {
        free(x);
        return STORE_ERROR;
    }
    store_rc rc = store_sqlite_begin(x->db);
    if (rc != STORE_OK)
        goto fail;
    x->pid = product_id(x->db, product_key);
    if (x->pid <= 0) {
        rc = x->pid < 0 ? store_sqlite_fail(x->db, "find product") : STORE_NOT_FOUND;
        goto fail;
    }
    x->ins = store_sqlite_prepare(
        x->db,
        "INSERT INTO devices(product_id, identifier, device_name, created_ms) VALUES(?,?,?,?)");
    if (!x->ins) {
        rc = STORE_ERROR;
        goto fail;
    }
    im->impl = x;
    return STORE_OK;
fail:
    store_sqlite_rollback(x->db);
    store_sqlite_conn_put(s, x->db);
    free(x);
    return rc;
}

static store_rc sq_import_add(store_import *im, const char *identifier, const char *device_name)
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
        return STORE_DUPLICATE;
    if (r != SQLITE_DONE)
        return store_sqlite_fail(x->db, "import device");
    x->count++;
    return STORE_OK;
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

static store_rc sq_import_commit(store_import *im, int64_t *created)
{
    sq_import *x = im->impl;
    sqlite3_finalize(x->ins);
    x->ins = NULL;
    store_rc rc = store_sqlite_commit(x->db);
    if (rc == STORE_OK && created)
        *created = x->count;
    import_free(im);
    return rc;
}

static void sq_import_abort(store_import *im)
{
    if (im->impl)
        import_free(im);
}

/* ---- presence and version ---------------------------------------------------------- */

typedef struct {
    const char *key, *ident, *version;
    int online;
    int64_t now;
} presence_args;

static store_rc presence_fn(sqlite3 *db, void *ud)
{
    presence_args *a = ud;
    sqlite3_stmt *st;
    if (a->version)
        st = store_sqlite_prepare(
            db, "UPDATE devices SET firmware_version=?3, last_seen_ms=?4 WHERE identifier=?2 AND"
                " product_id=(SELECT id FROM products WHERE product_key=?1)");
    else
        st = store_sqlite_prepare(
            db, "UPDATE devices SET online=?3, last_seen_ms=?4,"
                " activated_ms=CASE WHEN ?3=1 AND activated=0 THEN ?4 ELSE activated_ms END,"
                " activated=CASE WHEN ?3=1 THEN 1 ELSE activated END WHERE identifier=?2 AND"
                " product_id=(SELECT id FROM products WHERE product_key=?1)");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, a->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->ident, -1, SQLITE_STATIC);
    if (a->version)
        sqlite3_bind_text(st, 3, a->version, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int(st, 3, a->online ? 1 : 0);
    sqlite3_bind_int64(st, 4, a->now);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return store_sqlite_fail(db, "update device");
    return sqlite3_changes(db) > 0 ? STORE_OK : STORE_NOT_FOUND;
}

static store_rc sq_device_set_online(store_t *s, const char *product_key, const char *identifier,
                                     int online, int64_t now_ms)
{
    presence_args a = {product_key, identifier, NULL, online, now_ms};
    return store_sqlite_tx(s, presence_fn, &a);
}

static store_rc sq_device_set_version(store_t *s, const char *product_key, const char *identifier,
                                      const char *version, int64_t now_ms)
{
    if (!version)
        return STORE_INVALID;
    presence_args a = {product_key, identifier, version, 0, now_ms};
    return store_sqlite_tx(s, presence_fn, &a);
}

static store_rc all_offline_fn(sqlite3 *db, void *ud)
{
    (void)ud;
    return exec(db, "UPDATE devices SET online=0 WHERE online<>0") == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_device_all_offline(store_t *s)
{
    return store_sqlite_tx(s, all_offline_fn, NULL);
}

/* ---- firmware --------------------------------------------------------------------- */

#define FIRMWARE_COLS STORE_SQL_FIRMWARE_COLS

static void read_firmware(sqlite3_stmt *st, void *item)
{
    store_row r = store_sqlite_row(st);
    store__read_firmware(&r, item);
}

typedef struct {
    int64_t id;
    store_firmware *out;
} fw_get_args;

static store_rc fw_get_fn(sqlite3 *db, void *ud)
{
    fw_get_args *a = ud;
    sqlite3_stmt *st = store_sqlite_prepare(
        db, "SELECT " FIRMWARE_COLS " FROM firmwares f JOIN products p ON p.id = f.product_id"
            " WHERE f.id=?");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, a->id);
    int r = sqlite3_step(st);
    store_rc rc = STORE_NOT_FOUND;
    if (r == SQLITE_ROW) {
        read_firmware(st, a->out);
        rc = STORE_OK;
    } else if (r != SQLITE_DONE) {
        rc = store_sqlite_fail(db, "get firmware");
    }
    sqlite3_finalize(st);
    return rc;
}

static store_rc sq_firmware_get(store_t *s, int64_t id, store_firmware *out)
{
    fw_get_args a = {id, out};
    return with_conn(s, fw_get_fn, &a);
}

/* 1 when the query (binds: int64 then optional text) returns a row, 0 when not, -1. */
static int exists(sqlite3 *db, const char *sql, int64_t i, const char *t)
{
    sqlite3_stmt *st = store_sqlite_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, i);
    if (t)
        sqlite3_bind_text(st, 2, t, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

static int64_t count_of(sqlite3 *db, const char *sql, int64_t i)
{
    sqlite3_stmt *st = store_sqlite_prepare(db, sql);
    int64_t n = -1;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, i);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

typedef struct {
    const store_firmware *in;
    int64_t now;
    store_firmware *out;
    const char **field;
} fw_create_args;

static store_rc fw_create_fn(sqlite3 *db, void *ud)
{
    fw_create_args *a = ud;
    const store_firmware *in = a->in;
    int64_t pid = product_id(db, in->product_key);
    int e;
    if (pid < 0)
        return store_sqlite_fail(db, "find product");
    if (pid == 0) {
        *a->field = "productKey";
        return STORE_NOT_FOUND;
    }
    sqlite3_stmt *st = store_sqlite_prepare(db, "SELECT 1 FROM firmwares WHERE name=?");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
    e = sqlite3_step(st);
    sqlite3_finalize(st);
    if (e == SQLITE_ROW) {
        *a->field = "firmwareName";
        return STORE_DUPLICATE;
    }
    if (e != SQLITE_DONE)
        return store_sqlite_fail(db, "check firmware name");
    e = exists(db, "SELECT 1 FROM firmwares WHERE product_id=? AND version=?", pid, in->version);
    if (e < 0)
        return store_sqlite_fail(db, "check firmware version");
    if (e) {
        *a->field = "firmwareVersion";
        return STORE_DUPLICATE;
    }
    int64_t n = count_of(db, "SELECT count(*) FROM firmwares WHERE product_id=?", pid);
    if (n < 0)
        return store_sqlite_fail(db, "count firmwares");
    if (n >= 50) {
        *a->field = "productKey";
        return STORE_LIMIT;
    }
    st = store_sqlite_prepare(db, "INSERT INTO firmwares(product_id, name, version, description,"
                                  " file_name, size, md5, sha256, created_ms)"
                                  " VALUES(?,?,?,?,?,?,?,?,?)");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, pid);
    sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, in->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, in->file_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, in->size);
    sqlite3_bind_text(st, 7, in->md5, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, in->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, a->now);
    e = sqlite3_step(st);
    sqlite3_finalize(st);
    if (e == SQLITE_CONSTRAINT) {
        *a->field = "firmwareName";
        return STORE_DUPLICATE;
    }
    if (e != SQLITE_DONE)
        return store_sqlite_fail(db, "insert firmware");
    fw_get_args g = {sqlite3_last_insert_rowid(db), a->out};
    return fw_get_fn(db, &g);
}

static store_rc sq_firmware_create(store_t *s, const store_firmware *in, int64_t now_ms,
                                   store_firmware *out, const char **field)
{
    fw_create_args a = {in, now_ms, out, field};
    return store_sqlite_tx(s, fw_create_fn, &a);
}

static void bind_pid(sqlite3_stmt *st, void *ud)
{
    sqlite3_bind_int64(st, 1, *(int64_t *)ud);
}

typedef struct {
    const char *key;
    list_args la;
} fw_list_args;

static store_rc fw_list_fn(sqlite3 *db, void *ud)
{
    fw_list_args *a = ud;
    int64_t pid = 0;
    if (a->key) {
        pid = product_id(db, a->key);
        if (pid < 0)
            return store_sqlite_fail(db, "find product");
        if (pid == 0)
            return STORE_NOT_FOUND;
        a->la.bind = bind_pid;
        a->la.bind_ud = &pid;
        a->la.count_sql = "SELECT count(*) FROM firmwares WHERE product_id=?";
        a->la.list_sql = "SELECT " FIRMWARE_COLS " FROM firmwares f JOIN products p ON p.id ="
                         " f.product_id WHERE f.product_id=? ORDER BY f.id DESC LIMIT ? OFFSET ?";
    } else {
        a->la.count_sql = "SELECT count(*) FROM firmwares";
        a->la.list_sql = "SELECT " FIRMWARE_COLS " FROM firmwares f JOIN products p ON p.id ="
                         " f.product_id ORDER BY f.id DESC LIMIT ? OFFSET ?";
    }
    return list_fn(db, &a->la);
}

static store_rc sq_firmware_list(store_t *s, const char *product_key, store_page pg,
                                 store_firmware **items, size_t *n, int64_t *total)
{
    fw_list_args a = {product_key, {0}};
    a.la.item_size = sizeof(store_firmware);
    a.la.read = read_firmware;
    a.la.pg = pg;
    a.la.items = (void **)items;
    a.la.n = n;
    a.la.total = total;
    return with_conn(s, fw_list_fn, &a);
}

typedef struct {
    int64_t id;
    store_firmware *deleted;
    int *still_used;
} fw_delete_args;

static store_rc fw_delete_fn(sqlite3 *db, void *ud)
{
    fw_delete_args *a = ud;
    fw_get_args g = {a->id, a->deleted};
    store_rc rc = fw_get_fn(db, &g);
    if (rc != STORE_OK)
        return rc;
    int e = exists(db, "SELECT 1 FROM batches WHERE firmware_id=? AND state='in_progress'", a->id,
                   NULL);
    if (e < 0)
        return store_sqlite_fail(db, "check batches");
    if (e)
        return STORE_IN_USE;
    static const char *const dels[] = {
        "DELETE FROM tasks WHERE batch_id IN (SELECT id FROM batches WHERE firmware_id=?)",
        "DELETE FROM batches WHERE firmware_id=?",
        "DELETE FROM firmwares WHERE id=?",
    };
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
        sqlite3_stmt *st = store_sqlite_prepare(db, dels[i]);
        if (!st)
            return STORE_ERROR;
        sqlite3_bind_int64(st, 1, a->id);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE)
            return store_sqlite_fail(db, "delete firmware");
    }
    sqlite3_stmt *st = store_sqlite_prepare(db, "SELECT 1 FROM firmwares WHERE sha256=?");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, a->deleted->sha256, -1, SQLITE_STATIC);
    e = sqlite3_step(st);
    sqlite3_finalize(st);
    if (e != SQLITE_ROW && e != SQLITE_DONE)
        return store_sqlite_fail(db, "check firmware file");
    *a->still_used = e == SQLITE_ROW;
    return STORE_OK;
}

static store_rc sq_firmware_delete(store_t *s, int64_t id, store_firmware *deleted,
                                   int *sha_still_used)
{
    store_firmware tmp;
    int used = 0;
    fw_delete_args a = {id, deleted ? deleted : &tmp, &used};
    store_rc rc = store_sqlite_tx(s, fw_delete_fn, &a);
    if (sha_still_used)
        *sha_still_used = used;
    return rc;
}

typedef struct {
    const char *sha;
    int used;
} sha_args;

static store_rc sha_used_fn(sqlite3 *db, void *ud)
{
    sha_args *a = ud;
    sqlite3_stmt *st = store_sqlite_prepare(db, "SELECT 1 FROM firmwares WHERE sha256=?");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_text(st, 1, a->sha, -1, SQLITE_STATIC);
    int e = sqlite3_step(st);
    sqlite3_finalize(st);
    if (e != SQLITE_ROW && e != SQLITE_DONE)
        return store_sqlite_fail(db, "check firmware file");
    a->used = e == SQLITE_ROW;
    return STORE_OK;
}

static int sq_firmware_sha_used(store_t *s, const char *sha256)
{
    sha_args a = {sha256, 0};
    return with_conn(s, sha_used_fn, &a) == STORE_OK ? a.used : -1;
}

typedef struct {
    int64_t pid;
    const char *version, *q;
} eligible_bind;

static void bind_eligible(sqlite3_stmt *st, void *ud)
{
    eligible_bind *b = ud;
    sqlite3_bind_int64(st, 1, b->pid);
    sqlite3_bind_text(st, 2, b->version, -1, SQLITE_STATIC);
    if (b->q)
        sqlite3_bind_text(st, 3, b->q, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
}

#define ELIGIBLE_WHERE                                                                             \
    " WHERE d.product_id=?1 AND d.activated=1"                                                     \
    " AND (d.firmware_version IS NULL OR d.firmware_version<>?2)"                                  \
    " AND NOT EXISTS (SELECT 1 FROM tasks t JOIN batches b ON b.id=t.batch_id"                     \
    "  WHERE t.device_id=d.id AND b.state='in_progress'"                                           \
    "  AND t.state NOT IN ('succeeded','failed'))"                                                 \
    " AND (?3 IS NULL OR instr(lower(d.identifier), lower(?3))>0 OR instr(lower(d.device_name), lower(?3))>0)"

typedef struct {
    int64_t fid;
    const char *q;
    list_args la;
} eligible_args;

static store_rc eligible_fn(sqlite3 *db, void *ud)
{
    eligible_args *a = ud;
    store_firmware f;
    fw_get_args g = {a->fid, &f};
    store_rc rc = fw_get_fn(db, &g);
    if (rc != STORE_OK)
        return rc;
    eligible_bind b = {f.product_id, f.version, a->q};
    a->la.bind = bind_eligible;
    a->la.bind_ud = &b;
    a->la.count_sql = "SELECT count(*) FROM devices d" ELIGIBLE_WHERE;
    a->la.list_sql = "SELECT " DEVICE_COLS " FROM devices d JOIN products p ON p.id ="
                     " d.product_id" ELIGIBLE_WHERE " ORDER BY d.id LIMIT ?4 OFFSET ?5";
    return list_fn(db, &a->la);
}

static store_rc sq_firmware_eligible(store_t *s, int64_t firmware_id, const char *q, store_page pg,
                                     store_device **items, size_t *n, int64_t *total)
{
    eligible_args a = {firmware_id, q, {0}};
    a.la.item_size = sizeof(store_device);
    a.la.read = read_device;
    a.la.pg = pg;
    a.la.items = (void **)items;
    a.la.n = n;
    a.la.total = total;
    return with_conn(s, eligible_fn, &a);
}

/* ---- the table ---------------------------------------------------------------------- */

static const store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .schema_version = sq_schema_version,
    .product_create = sq_product_create,
    .product_get = sq_product_get,
    .product_list = sq_product_list,
    .device_create = sq_device_create,
    .device_get = sq_device_get,
    .device_list = sq_device_list,
    .import_begin = sq_import_begin,
    .import_add = sq_import_add,
    .import_commit = sq_import_commit,
    .import_abort = sq_import_abort,
    .device_set_online = sq_device_set_online,
    .device_set_version = sq_device_set_version,
    .device_all_offline = sq_device_all_offline,
    .firmware_create = sq_firmware_create,
    .firmware_get = sq_firmware_get,
    .firmware_list = sq_firmware_list,
    .firmware_delete = sq_firmware_delete,
    .firmware_sha_used = sq_firmware_sha_used,
    .firmware_eligible = sq_firmware_eligible,
};

store_rc store_sqlite_open(const char *path, store_t **out, char *err, size_t errlen)
{
    store_t *s = calloc(1, sizeof *s);
    store_sqlite *q = calloc(1, sizeof *q);
    if (!s || !q)
        abort();
    if (strlen(path) >= sizeof q->path || !*path) {
        snprintf(err, errlen, "database path empty or too long");
        goto fail;
    }
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
        return STORE_ERROR;
    }
    if (migrate(db, &q->version) != 0) {
        snprintf(err, errlen, "database migration failed (see the log)");
        store_sqlite_conn_put(s, db);
        sq_close(s);
        return STORE_ERROR;
    }
    store_sqlite_conn_put(s, db);
    *out = s;
    return STORE_OK;
fail:
    free(q);
    free(s);
    return STORE_ERROR;
}
