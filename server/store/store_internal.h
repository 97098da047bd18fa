/*
 * store_internal: what the store's implementations share, and nothing the rest of otad
 * may use. Each implementation fills two tables: store_ops (the catalog) and
 * store_batch_ops (the batch tables and the engine's unit of work), and its open function
 * puts both on the struct store it returns. store.c's and store_batch.c's public functions
 * only check arguments and dispatch through them. A new database is a new pair of files
 * with their two tables and one line in store_open (store.c).
 */
#ifndef OTAD_STORE_INTERNAL_H
#define OTAD_STORE_INTERNAL_H

#include "store/store.h"
#include "store/store_batch.h"
#include "store/store_parts.h"
#include "store/store_sql.h"
#include "store/store_metrics.h"

typedef struct store_ops store_ops;
typedef struct store_batch_ops store_batch_ops;
typedef struct store_parts_ops store_parts_ops;

struct store {
    const store_ops *ops;             /* catalog: products, devices, firmware */
    const store_batch_ops *batch_ops; /* batches and the engine's unit of work */
    const store_parts_ops *parts_ops; /* partition leases (store_parts.h); NULL: none */
    uint64_t parts_filter;            /* the engine reads' partitions (store_parts_filter);
                                         set to PARTS_ALL by store_open */
    void *impl; /* the implementation's state (store_sqlite.c, store_pg.c) */
    hist tx_latency[STORE_TX_KINDS]; /* store_metrics.h: by store_tx_mode, then the engine's */
    long test_kill_after; /* store__test_after_commit: 0 = off */
    _Atomic long test_commits;
};

struct store_import {
    const store_ops *ops;
    store_t *s;
    void *impl;
};

/* A transaction of the implementation's (SQLite: a connection; PostgreSQL: a pooled
 * connection), opaque here. */
typedef struct store_tx store_tx;

typedef enum {
    STORE_TX_ONE,   /* one statement: a borrowed connection, no BEGIN (autocommit) */
    STORE_TX_READ,  /* several reads that must agree (a count and its page): one snapshot */
    STORE_TX_WRITE, /* reads and writes that must hold together: SQLite BEGIN IMMEDIATE
                       (writers take turns); PostgreSQL BEGIN (READ COMMITTED) with the rows a
                       rule rests on locked by the *_LOCK / *_SHARE statements first */
} store_tx_mode;

/* Called for each result row; the row is borrowed for the call. */
typedef void (*store_row_fn)(void *ud, const store_row *r);

struct store_ops {
    const char *kind;
    void (*close)(store_t *s);
    ota_err (*ping)(store_t *s);
    int (*schema_version)(store_t *s);

    /* Runs fn(tx, ud) in a transaction of the mode; with STORE_TX_WRITE commits when fn
     * returns OTA_OK and rolls back otherwise. Returns fn's result, or OTA_EDB when
     * no connection, BEGIN or COMMIT failed (logged). */
    ota_err (*tx)(store_t *s, store_tx_mode mode, ota_err (*fn)(store_tx *tx, void *ud), void *ud);
    /* Runs statement q (store_sql.h's STORE_QUERIES, in this database's SQL) with args:
     * row (may be NULL) gets each result row, *changes (may be NULL) the rows written.
     * OTA_EDB on failure, logged with the statement's name. */
    ota_err (*query)(store_tx *tx, store_q q, const store_args *args, store_row_fn row, void *ud,
                     int64_t *changes);
    /* After a bulk write of rows new rows into table, committed: lets the database update
     * its statistics (PostgreSQL ANALYZE); NULL when it needs nothing. */
    void (*bulk_written)(store_t *s, const char *table, int64_t rows);

    /* Bulk import (store.h): the database's fastest path (SQLite one prepared INSERT,
     * PostgreSQL COPY). */
    ota_err (*import_begin)(store_t *s, const char *product_key, int64_t now_ms, store_import *im);
    ota_err (*import_add)(store_import *im, const char *identifier, const char *device_name);
    ota_err (*import_commit)(store_import *im, int64_t *created);
    void (*import_abort)(store_import *im);
};

/* The engine's side: sqlite_batch.c (store_sqlite_batch_ops) and pg_batch.c
 * (store_pg_batch_ops). The uow_* and following calls run inside the engine's unit of
 * work, impl being the implementation's state for that one transaction; the engine_*
 * reads run at start-up and on bookkeeping. (The batch API's calls are catalog.c's.) */
/* A read sent along with a load (uow_load): statement q with args, each row to row(ud). */
typedef struct {
    store_uq q;
    const store_args *args;
    store_row_fn row;
    void *ud;
} store_uow_side;

/* A device's writes that wait in the unit of work (store_batch.c), applied in this order:
 * presence (store_uow_device_presence's rule: only a connection newer than the one the store
 * knows), then ready, then version. A device whose writes do not fit one such row (a
 * presence after any other write) gets a second row, in a later wave. */
typedef struct {
    int64_t device_id;
    int presence;        /* 0: none; 1: a connection started at presence_ms; 2: one ended */
    int64_t presence_ms;
    int ready;           /* the device said it is subscribed at ready_ms */
    int64_t ready_ms;
    int version;         /* it reported firmware_version at version_ms */
    int64_t version_ms;
    char firmware_version[OTA_VERSION_MAX + 1];
    int wave; /* 0, 1, ...: the rows of one wave are written together, waves in order */
} store_device_put;

struct store_batch_ops {
    ota_err (*uow_begin)(store_t *s, void **impl);
    ota_err (*uow_commit)(void *impl);
    void (*uow_rollback)(void *impl);
    /* Runs unit-of-work statement q with args (store_sql.h's STORE_UOW_QUERIES). row NULL and
     * changes NULL: the caller needs no answer, and the database may send it without waiting
     * (PostgreSQL pipelines it: a failure then shows at the next call or the commit);
     * otherwise row gets each result row and *changes the rows written. */
    ota_err (*uow_exec)(void *impl, store_uq q, const store_args *args, store_row_fn row, void *ud,
                        int64_t *changes);
    /* The devices named (pks/idents, ids NULL) or numbered (ids, pks NULL), n of them, in
     * one or a few statements: dev gets each device's row (id, product_key, identifier,
     * online, ready, ddi), task each of their open tasks in a running batch (device_id, then
     * STORE_SQL_TASK_COLS), locked as STORE_UQ_TASK_OPEN locks them, in (batch, device)
     * order. NULL: store_batch.c reads each device when first asked for. side, when not
     * NULL, is one more read answered in the same round trip (store_uow_continuous_ahead). */
    ota_err (*uow_load)(void *impl, const char *const *pks, const char *const *idents,
                        const int64_t *ids, size_t n, store_row_fn dev, store_row_fn task,
                        void *ud, const store_uow_side *side);
    /* Writes n tasks as STORE_UQ_TASK_PUT does (updated_ms[i] the i-th's time), sorted by
     * (batch, device), in one or a few statements. NULL: one STORE_UQ_TASK_PUT each. */
    ota_err (*uow_put_tasks)(void *impl, const store_task *const *tasks,
                             const int64_t *updated_ms, size_t n);
    /* Writes n device rows of one wave (each device once), sorted by device id, in one or a
     * few statements. NULL: store_batch.c writes each row as its STORE_UQ_PRESENCE_ON/OFF,
     * STORE_UQ_READY and STORE_UQ_VERSION. */
    ota_err (*uow_put_devices)(void *impl, const store_device_put *const *rows, size_t n);
    ota_err (*uow_terminate)(void *impl, int64_t batch_id, int64_t now_ms, const char *end_state,
                             int *done, int64_t *failed);
    /* Round trips the units of work of this process have waited for; NULL: not counted. */
    uint64_t (*round_trips)(void);
    ota_err (*presence_snapshot)(void *impl, const char *const *clients, size_t n, int64_t now_ms);

    ota_err (*engine_batches)(store_t *s, store_batch **items, size_t *n);
    ota_err (*engine_deadlines)(store_t *s, int64_t until_ms, int64_t limit,
                                void (*fn)(void *, int64_t, int, int64_t), void *ud);
    ota_err (*engine_pushable)(store_t *s, int64_t batch_id, int max_phase,
                               void (*fn)(void *, int64_t), void *ud);
    ota_err (*presence_reset)(store_t *s);
    ota_err (*ddi_offline)(store_t *s, int64_t before_ms, int64_t *n);
};

/* Ends a running batch inside tx (catalog.c; also the engine's unit of work, whose impl is
 * then the tx): batch row locked, unfinished tasks failed/terminated, counters set from the
 * row, state end_state ("terminated" or "aborted"). *done = 0 when the batch was not
 * running (core/fsm.h) or is missing; *failed (may be NULL) the unfinished tasks it failed. */
ota_err store__batch_terminate(store_t *s, store_tx *tx, int64_t id, int64_t now_ms,
                               const char *end_state, int *done, int64_t *failed);

/* One page of a list (catalog.c): count_q with the leading args lead gives *total; list_q
 * with lead, then LIMIT and OFFSET, the page's rows, read with read into a new array of
 * item_size items (*items, the caller frees it; *n of them). */
ota_err store__list_page(store_t *s, store_tx *tx, store_q count_q, store_q list_q,
                         const store_args *lead, store_page pg, size_t item_size,
                         void (*read)(const store_row *r, void *out), void **items, size_t *n,
                         int64_t *total);

/* Runs fn in a STORE_TX_WRITE transaction that also appends the calling thread's bound
 * audit row (store_audit_bind) just before COMMIT, so the change and its row commit
 * together or not at all; marks the row written once committed. Every store function that
 * makes a change an API caller asks for runs through it (store_audit.c). */
ota_err store__change(store_t *s, ota_err (*fn)(store_tx *tx, void *ud), void *ud);
/* Names what a change created in the bound audit row ("batch:%lld"), unless the caller
 * named the object itself; nothing when no row is bound. */
void store__audit_object(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For a change with a transaction of its own (the bulk import): appends the bound row
 * inside tx (OTA_OK when none is bound or it is written), and after the COMMIT marks it
 * written when rc is OTA_OK. */
ota_err store__audit_insert(store_t *s, store_tx *tx);
void store__audit_committed(ota_err rc);
/* Counts a transaction of kind (a store_tx_mode, or STORE_TX_KINDS - 1 for the engine's unit
 * of work) that began at t0_us (ota_time_mono_us) and has just ended, committed or not. */
void store__tx_observe(store_t *s, int kind, int64_t t0_us);
/* After each store_ops.tx of an implementation: counts its latency (t0_us its start) and,
 * for a committed write, store__test_after_commit. */
void store__tx_ended(store_t *s, store_tx_mode mode, int64_t t0_us, ota_err rc);
/* Sets the histograms' bounds (store_open, once the implementation made the handle). */
void store__tx_latency_init(store_t *s);
/* Test-only fault injection (docs/operations.md, "Durability"): when OTA_TEST_KILL_AFTER_COMMIT
 * is N > 0 at store_open, the process kills itself with SIGKILL right after its N-th
 * committed write transaction of the catalog (STORE_TX_WRITE or a bulk import; the
 * engine's units of work do not count), before anything else runs. Called by the
 * implementations after each such COMMIT. */
void store__test_after_commit(store_t *s);

/* The enqueue of a webhook event inside a catalog transaction tx (store_webhook.h): one
 * outbox row per enabled webhook subscribed to ev; data is the payload's text. The change
 * and its event commit or roll back together. */
ota_err store__event(store_t *s, store_tx *tx, int ev, const char *data, int64_t now_ms);

/* Runs statement q with args alone (STORE_TX_ONE: one borrowed connection, autocommit);
 * row and changes as for store_ops.query. */
ota_err store__one(store_t *s, store_q q, const store_args *a, store_row_fn row, void *ud,
                   int64_t *changes);
/* store__one for a statement that is a change an API caller asked for: its audit row
 * commits with it (store__change). */
ota_err store__one_change(store_t *s, store_q q, const store_args *a, int64_t *changes);

/* Partition leases (store_parts.h; pg_parts.c). fence runs in a unit of work (impl as
 * for uow_exec). */
struct store_parts_ops {
    ota_err (*renew)(store_t *s, const char *me, int64_t ttl_ms, int64_t applied_ms,
                     uint64_t *owned);
    ota_err (*read)(store_t *s, int64_t ttl_ms, parts_lease leases[PARTS_N],
                    store_member **live, size_t *n_live, int64_t *now_ms);
    ota_err (*release)(store_t *s, const char *me, uint64_t set, int64_t applied_ms);
    ota_err (*take)(store_t *s, const char *me, uint64_t set, int64_t ttl_ms, int64_t lock_ms,
                    uint64_t *taken, int64_t applied[PARTS_N]);
    ota_err (*leave)(store_t *s, const char *me);
    ota_err (*fence)(void *impl, const char *me, uint64_t set);
    ota_err (*notify)(store_t *s, const char *me);
    /* notices (store_parts.h): listen opens the implementation's listener *impl */
    ota_err (*listen)(store_t *s, void **impl);
    int (*listen_wait)(void *impl, const char *me, int wait_ms);
    void (*listen_close)(void *impl);
};

/* A listener (store_parts.h) keeps its implementation's calls: wait and close need no
 * store. */
struct store_listener {
    const store_parts_ops *ops;
    void *impl;
};

/* Implementations. */
ota_err store_sqlite_open(const char *path, store_t **out, char *err, size_t errlen);

/* 1 when pg is a valid page (page >= 1, page_size 1..1000); the public list functions
 * check it once, so implementations may assume it. */
int store__page_ok(store_page pg);

/* Fills a random product key of 11 [A-Za-z0-9] characters + NUL into out (>= 12 bytes). */
int store__product_key(char *out);

#endif
