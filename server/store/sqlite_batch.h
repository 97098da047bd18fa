/*
 * The batch store's implementation table: one per database (sqlite_batch.c; later the
 * PostgreSQL one). store_batch.c's public functions dispatch through it, choosing the
 * table by the store's kind. Nothing outside server/store/ includes this.
 */
#ifndef OTAD_SQLITE_BATCH_H
#define OTAD_SQLITE_BATCH_H

#include "store/store_batch.h"

typedef struct {
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

    /* unit of work: impl is the implementation's state for one transaction */
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
} store_batch_ops;

extern const store_batch_ops store_sqlite_batch_ops;

#endif
