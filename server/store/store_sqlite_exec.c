/*
 * store_sqlite_exec: plain SQL on SQLite for the layers above the databases
 * (store_internal.h's store_exec_fn). One statement on a borrowed connection, in
 * autocommit; parameters are named $1..$n (SQLite reads "$1" as a named parameter), bound
 * as text, which SQLite turns into the column's type. No rules here: the callers own them.
 *
 * Expected load: accounts (a token check per API call: one indexed SELECT).
 */
#include "store/store_sqlite.h"

#include "ota_log.h"

#include <stdio.h>

store_rc store_sqlite_exec(store_t *s, int id, const char *sql, int n, const char *const *vals,
                           store_exec_row_fn fn, void *ud, int64_t *changes, const char *what)
{
    (void)id;
    sqlite3 *db = store_sqlite_conn_get(s);
    sqlite3_stmt *st = store_sqlite_prepare(db, sql);
    store_rc rc = STORE_OK;
    int step;
    if (!st) {
        store_sqlite_conn_put(s, db);
        return STORE_ERROR;
    }
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int at = sqlite3_bind_parameter_index(st, name);
        if (at > 0)
            sqlite3_bind_text(st, at, vals[i], -1, SQLITE_STATIC); /* NULL binds NULL */
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_row r = store_sqlite_row(st);
        if (fn && fn(ud, &r) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        if ((sqlite3_extended_errcode(db) & 0xff) == SQLITE_CONSTRAINT &&
            (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE ||
             sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY))
            rc = STORE_DUPLICATE;
        else
            rc = store_sqlite_fail(db, what);
    }
    if (changes)
        *changes = sqlite3_changes64(db);
    sqlite3_finalize(st);
    store_sqlite_conn_put(s, db);
    return rc;
}
