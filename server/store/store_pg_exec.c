/*
 * store_pg_exec: plain SQL on PostgreSQL for the layers above the databases
 * (store_internal.h's store_exec_fn). One named prepared statement (id STORE_PG_Q_EXEC +
 * the caller's id) on a borrowed connection, in autocommit; values in text format, which
 * PostgreSQL types from their use. No rules here: the callers own them.
 *
 * Expected load: accounts (a token check per API call: one indexed SELECT).
 */
#include "store/store_pg.h"

#include "ota_log.h"

#include <string.h>

store_rc store_pg_exec_plain(store_t *s, int id, const char *sql, int n, const char *const *vals,
                             store_exec_row_fn fn, void *ud, int64_t *changes, const char *what)
{
    if (id < 0 || id >= STORE_EXEC_Q_MAX)
        return STORE_INVALID;
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return STORE_ERROR;
    store_rc rc = STORE_OK;
    PGresult *r = store_pg_exec_raw(c, STORE_PG_Q_EXEC + id, sql, n, vals);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        for (int i = 0; fn && i < PQntuples(r); i++) {
            store_pg_at at = {r, i};
            store_row row = store_pg_row(&at);
            if (fn(ud, &row) != 0)
                break;
        }
        if (changes)
            *changes = store_pg_changes(r);
    } else {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        rc = state && strcmp(state, "23505") == 0 ? STORE_DUPLICATE : store_pg_fail(c, r, what);
    }
    PQclear(r);
    store_pg_conn_put(s, c);
    return rc;
}
