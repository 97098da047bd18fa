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

typedef struct store_ops store_ops;
typedef struct store_batch_ops store_batch_ops;

struct store {
    const store_ops *ops;             /* catalog: products, devices, firmware */
    const store_batch_ops *batch_ops; /* batches and the engine's unit of work */
    void *impl; /* the implementation's state (store_sqlite.c, store_pg.c) */
};

struct store_import {
    const store_ops *ops;
    store_t *s;
    void *impl;
};

struct store_ops {
    const char *kind;
    void (*close)(store_t *s);
    store_rc (*ping)(store_t *s);
    int (*schema_version)(store_t *s);

    store_rc (*product_create)(store_t *s, const char *name, const char *description,
                               int64_t now_ms, store_product *out);
    store_rc (*product_get)(store_t *s, const char *product_key, store_product *out);
    store_rc (*product_list)(store_t *s, store_page pg, store_product **items, size_t *n,
                             int64_t *total);

    store_rc (*device_create)(store_t *s, const char *product_key, const char *identifier,
                              const char *device_name, int64_t now_ms, store_device *out);
    store_rc (*device_get)(store_t *s, const char *product_key, const char *identifier,
                           store_device *out);
    store_rc (*device_list)(store_t *s, const char *product_key, int online, store_page pg,
                            store_device **items, size_t *n, int64_t *total);
    store_rc (*import_begin)(store_t *s, const char *product_key, int64_t now_ms, store_import *im);
    store_rc (*import_add)(store_import *im, const char *identifier, const char *device_name);
    store_rc (*import_commit)(store_import *im, int64_t *created);
    void (*import_abort)(store_import *im);
    store_rc (*device_set_online)(store_t *s, const char *product_key, const char *identifier,
                                  int online, int64_t now_ms);
    store_rc (*device_set_version)(store_t *s, const char *product_key, const char *identifier,
                                   const char *version, int64_t now_ms);
    store_rc (*device_all_offline)(store_t *s);

    store_rc (*firmware_create)(store_t *s, const store_firmware *in, int64_t now_ms,
                                store_firmware *out, const char **field);
    store_rc (*firmware_get)(store_t *s, int64_t id, store_firmware *out);
    store_rc (*firmware_list)(store_t *s, const char *product_key, store_page pg,
                              store_firmware **items, size_t *n, int64_t *total);
    store_rc (*firmware_delete)(store_t *s, int64_t id, store_firmware *deleted,
                                int *sha_still_used);
    int (*firmware_sha_used)(store_t *s, const char *sha256);
    store_rc (*firmware_eligible)(store_t *s, int64_t firmware_id, const char *q, store_page pg,
                                  store_device **items, size_t *n, int64_t *total);
};

/* The batch side: sqlite_batch.c (store_sqlite_batch_ops) and pg_batch.c
 * (store_pg_batch_ops). The API calls run one transaction each; the uow_* and following
 * calls run inside the engine's unit of work, impl being the implementation's state for
 * that one transaction. */
struct store_batch_ops {
    store_rc (*batch_create)(store_t *s, int64_t firmware_id, const store_batch_new *in,
                             int64_t now_ms, int64_t expires_ms, store_batch *out,
                             store_batch_err *err);
    store_rc (*batch_get)(store_t *s, int64_t id, store_batch *out);
    store_rc (*batch_list)(store_t *s, const store_batch_filter *f, store_page pg,
                           store_batch **items, size_t *n, int64_t *total);
    store_rc (*batch_devices)(store_t *s, int64_t batch_id, int state, store_page pg,
                              int64_t after, store_batch_device **items, size_t *n,
                              int64_t *total, int64_t *next_after);
    store_rc (*batch_terminate)(store_t *s, int64_t id, int64_t now_ms, store_batch *out);

    store_rc (*uow_begin)(store_t *s, void **impl);
    store_rc (*uow_commit)(void *impl);
    void (*uow_rollback)(void *impl);
    store_rc (*device_find)(void *impl, const char *pk, const char *ident, int64_t *device_id);
    store_rc (*device_names)(void *impl, int64_t device_id, char *pk, size_t pklen, char *ident,
                             size_t identlen);
    store_rc (*task_open)(void *impl, int64_t device_id, store_task *out);
    store_rc (*task_put)(void *impl, const store_task *t, int64_t now_ms);
    store_rc (*batch_counts)(void *impl, int64_t batch_id, const int delta[FSM_STATE_COUNT]);
    store_rc (*batch_complete_if_done)(void *impl, int64_t batch_id, int64_t now_ms, int *completed);
    store_rc (*uow_terminate)(void *impl, int64_t batch_id, int64_t now_ms, int *done);
    store_rc (*device_presence)(void *impl, int64_t device_id, int online, int64_t now_ms);
    store_rc (*device_ready)(void *impl, int64_t device_id, int64_t now_ms);
    store_rc (*device_pushable)(void *impl, int64_t device_id, int *pushable);
    store_rc (*device_version)(void *impl, int64_t device_id, const char *version, int64_t now_ms);
    store_rc (*presence_snapshot)(void *impl, const char *const *clients, size_t n, int64_t now_ms);

    store_rc (*engine_batches)(store_t *s, store_batch **items, size_t *n);
    store_rc (*engine_deadlines)(store_t *s, int64_t until_ms, int64_t limit,
                                 void (*fn)(void *, int64_t, int, int64_t), void *ud);
    store_rc (*engine_pushable)(store_t *s, int64_t batch_id, void (*fn)(void *, int64_t), void *ud);
    store_rc (*presence_reset)(store_t *s);
};

/* Implementations. */
store_rc store_sqlite_open(const char *path, store_t **out, char *err, size_t errlen);

/* 1 when pg is a valid page (page >= 1, page_size 1..1000); the public list functions
 * check it once, so implementations may assume it. */
int store__page_ok(store_page pg);

/* Fills a random product key of 11 [A-Za-z0-9] characters + NUL into out (>= 12 bytes). */
int store__product_key(char *out);

#endif
