/*
 * store_pg: the PostgreSQL implementation's internal helpers, shared by the store's own
 * PostgreSQL files (store_pg.c: connections, migrations, catalog; pg_batch.c: batch tables
 * and the engine's unit of work). Nothing outside server/store/ includes this.
 *
 * Connections: a small mutex-protected pool of PGconn (libpq allows one thread per
 * connection at a time). Borrow one with store_pg_conn_get (blocks until one is free; NULL
 * only when a new connection cannot be opened) and give it back with store_pg_conn_put; a
 * connection given back inside a transaction is rolled back, a broken one is closed.
 *
 * Statements: every query with values is a named prepared statement, prepared once per
 * connection on first use (store_pg_exec with a statement id that is unique across the
 * store: catalog ids from STORE_PG_Q_CATALOG, batch ids from STORE_PG_Q_BATCH). Values are
 * always parameters, in text format; results come back in text format.
 */
#ifndef OTAD_STORE_PG_H
#define OTAD_STORE_PG_H

#include "store/store_internal.h"
#include "store/store_sql.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#define STORE_PG_Q_CATALOG 0   /* store_pg.c's statement ids: 0..149 */
#define STORE_PG_Q_BATCH 150   /* pg_batch.c's statement ids: 150..255 */
#define STORE_PG_Q_PARTS 256   /* pg_parts.c's statement ids: 256..275 */
#define STORE_PG_Q_MAX 320

/* The advisory lock key of a product's continuous joins (its id an SQL expression): taken
 * exclusively by the create of a continuous batch, shared by the engine's rounds. */
#define STORE_PG_JOIN_LOCK(product_id)                                                             \
    "hashtext('otad continuous join'), ((" product_id ") % 2147483647)::int"

typedef struct {
    PGconn *pg;
    uint64_t prepared[STORE_PG_Q_MAX / 64]; /* bit per statement id prepared here */
} store_pg_conn;

store_pg_conn *store_pg_conn_get(store_t *s);
void store_pg_conn_put(store_t *s, store_pg_conn *c);
/* A connection outside the pool, for a session that must stay the caller's (a LISTEN:
 * pg_parts.c); closed with store_pg_conn_close. NULL when it cannot be opened (logged). */
store_pg_conn *store_pg_conn_own(store_t *s);
void store_pg_conn_close(store_pg_conn *c);

/* Runs a statement without parameters (BEGIN, COMMIT, ...). OTA_OK or OTA_EDB (logged
 * with what). */
ota_err store_pg_cmd(store_pg_conn *c, const char *sql, const char *what);
/* BEGIN (READ COMMITTED) / COMMIT / ROLLBACK. rollback never fails visibly. */
ota_err store_pg_begin(store_pg_conn *c);
ota_err store_pg_commit(store_pg_conn *c);
/* After a bulk write of `rows` new rows into table (outside a transaction): ANALYZE it when
 * rows >= STORE_PG_ANALYZE_ROWS, so that plans (also the ones cached with prepared
 * statements, which ANALYZE invalidates) see the new size at once instead of after
 * autovacuum's next pass; a page of a fresh 100,000-device batch took 258 ms p99 before.
 * Failure is only logged. */
#define STORE_PG_ANALYZE_ROWS 10000
void store_pg_analyze_big(store_pg_conn *c, const char *table, int64_t rows);
void store_pg_rollback(store_pg_conn *c);

/* Executes statement id (text sql, n parameters, NULL value = SQL NULL) as a named prepared
 * statement, preparing it on this connection first when needed. Returns the result (free
 * it with PQclear) or NULL when it failed (logged "store: <what>: <message>"). Callers that
 * must look at the SQLSTATE use store_pg_exec_raw, which returns failed results too. */
/* Prepares statement id on c unless it already is (for callers that send it later with
 * PQsendQueryPrepared, e.g. in pipeline mode, under the name store_pg_stmt_name gives).
 * OTA_OK or OTA_EDB (logged with what). */
ota_err store_pg_prepare(store_pg_conn *c, int id, const char *sql, const char *what);
void store_pg_stmt_name(int id, char *out, size_t outlen);
PGresult *store_pg_exec(store_pg_conn *c, int id, const char *sql, int n,
                        const char *const *vals, const char *what);
PGresult *store_pg_exec_raw(store_pg_conn *c, int id, const char *sql, int n,
                            const char *const *vals);
/* Logs "store: <what>: <message>" once and returns OTA_EDB. */
ota_err store_pg_fail(store_pg_conn *c, const PGresult *r, const char *what);

/* Reads column col of row as int64 (0 when NULL) or text ("" when NULL) into out. */
int64_t store_pg_i64(const PGresult *r, int row, int col);
void store_pg_text(const PGresult *r, int row, int col, char *out, size_t outlen);
/* Row `row` of r, for the shared row readers (store_sql.h); *at must outlive the use. */
typedef struct {
    const PGresult *r;
    int row;
} store_pg_at;
store_row store_pg_row(const store_pg_at *at);

/* Rows changed by an INSERT/UPDATE/DELETE result. */
int64_t store_pg_changes(const PGresult *r);

/* Parameter list builder: up to 16 values; integers are formatted into the builder. */
typedef struct {
    const char *v[16];
    char buf[16][24];
    int n;
} store_pg_params;

static inline void store_pg_p_i64(store_pg_params *p, int64_t x)
{
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)x);
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

/* s NULL = SQL NULL. The string is borrowed until the statement has run. */
static inline void store_pg_p_str(store_pg_params *p, const char *s)
{
    p->v[p->n++] = s;
}

/* Hands each row of r to row (may be NULL) and its count of rows written to *changes (may
 * be NULL), then clears r. r NULL (the statement failed, logged): OTA_EDB. */
ota_err store_pg_answer(PGresult *r, store_row_fn row, void *ud, int64_t *changes);
/* The same values as parameters (integers formatted into p). */
void store_pg_params_of(store_pg_params *p, const store_args *a);

/* Implementation entry points: store.c's store_open for postgresql:// and postgres:// URLs,
 * and pg_batch.c's batch table, put on the store by store_pg_open. */
ota_err store_pg_open(const char *url, store_t **out, char *err, size_t errlen);
extern const store_batch_ops store_pg_batch_ops;
extern const store_parts_ops store_pg_parts_ops;
/* pg_batch.c: statement id (text sql, parameters p) inside the unit of work uow_impl (for
 * pg_parts.c's fence), answered in the same round trip as the unit's pending statements.
 * Returns the result (PQclear it), or NULL when it or a pending statement failed (logged);
 * the unit can then only roll back. */
PGresult *store_pg_uow_read(void *uow_impl, int id, const char *sql, const store_pg_params *p,
                            const char *what);

#endif
