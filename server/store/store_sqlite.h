/*
 * store_sqlite: the SQLite implementation's internal helpers, for the store's own SQLite
 * files (store_sqlite.c, sqlite_batch.c). Nothing outside server/store/
 * includes this.
 *
 * Connections: the store keeps a small pool of connections (WAL, synchronous=NORMAL,
 * foreign_keys=ON, busy_timeout 30 s). Borrow one with store_sqlite_conn_get (blocks until
 * one is free; never NULL on an open store) and always give it back with
 * store_sqlite_conn_put, with no transaction open. Or let store_sqlite_tx do both around
 * a function that runs inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when it fails).
 */
#ifndef OTAD_STORE_SQLITE_H
#define OTAD_STORE_SQLITE_H

#include "store/store_internal.h"
#include "store/store_sql.h"

#include <sqlite3.h>

sqlite3 *store_sqlite_conn_get(store_t *s);
void store_sqlite_conn_put(store_t *s, sqlite3 *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. begin and commit return OTA_OK or OTA_EDB
 * (logged). rollback never fails visibly. */
ota_err store_sqlite_begin(sqlite3 *db);
ota_err store_sqlite_commit(sqlite3 *db);
void store_sqlite_rollback(sqlite3 *db);

/* Borrows a connection, BEGIN IMMEDIATE, fn(db, ud); COMMIT when fn returns OTA_OK,
 * else ROLLBACK; returns fn's result (or OTA_EDB when begin/commit fail). */
ota_err store_sqlite_tx(store_t *s, ota_err (*fn)(sqlite3 *db, void *ud), void *ud);

/* Logs "store: <what>: <sqlite message>" once and returns OTA_EDB. */
ota_err store_sqlite_fail(sqlite3 *db, const char *what);

/* Prepares sql on db; logs and returns NULL on failure. Finalize with sqlite3_finalize. */
sqlite3_stmt *store_sqlite_prepare(sqlite3 *db, const char *sql);

/* Copies column col as text into out (size outlen), "" when NULL. */
void store_sqlite_text(sqlite3_stmt *st, int col, char *out, size_t outlen);

/* The current row of st, for the shared row readers (store_sql.h). */
store_row store_sqlite_row(sqlite3_stmt *st);

/* sqlite_batch.c's table, put on the store by store_sqlite_open. */
extern const store_batch_ops store_sqlite_batch_ops;

#endif
