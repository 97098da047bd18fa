/*
 * store_batch: the engine's side of the batch store (store_batch.h): the unit of work and
 * the start-up reads. Each dispatches through the store's batch table (s->batch_ops,
 * store_internal.h), which the implementation's open put there; argument checks live here
 * so every database gets the same ones. The batch API's calls (create, get, list, devices,
 * terminate) are catalog.c's, written once above the SQL.
 */
#include "store/store_batch.h"

#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

struct store_uow {
    const store_batch_ops *ops;
    void *impl;
};

store_rc store_uow_begin(store_t *s, store_uow **out)
{
    const store_batch_ops *ops = s->batch_ops;
    store_uow *u = calloc(1, sizeof *u);
    if (!u)
        abort(); /* the daemon may abort on out-of-memory */
    u->ops = ops;
    store_rc r = ops->uow_begin(s, &u->impl);
    if (r != STORE_OK) {
        free(u);
        return r;
    }
    *out = u;
    return STORE_OK;
}

store_rc store_uow_commit(store_uow *u)
{
    store_rc r = u->ops->uow_commit(u->impl);
    free(u);
    return r;
}

void store_uow_rollback(store_uow *u)
{
    if (!u)
        return;
    u->ops->uow_rollback(u->impl);
    free(u);
}

store_rc store_uow_device_find(store_uow *u, const char *pk, const char *ident, int64_t *id)
{
    return u->ops->device_find(u->impl, pk, ident, id);
}

store_rc store_uow_device_names(store_uow *u, int64_t device_id, char *pk, size_t pklen,
                                char *ident, size_t identlen)
{
    return u->ops->device_names(u->impl, device_id, pk, pklen, ident, identlen);
}

store_rc store_uow_task_open(store_uow *u, int64_t device_id, store_task *out)
{
    return u->ops->task_open(u->impl, device_id, out);
}

store_rc store_uow_task_put(store_uow *u, const store_task *t, int64_t now_ms)
{
    return u->ops->task_put(u->impl, t, now_ms);
}

store_rc store_uow_batch_counts(store_uow *u, int64_t batch_id, const int delta[FSM_STATE_COUNT])
{
    return u->ops->batch_counts(u->impl, batch_id, delta);
}

store_rc store_uow_batch_complete_if_done(store_uow *u, int64_t batch_id, int64_t now_ms,
                                          int *completed)
{
    return u->ops->batch_complete_if_done(u->impl, batch_id, now_ms, completed);
}

store_rc store_uow_batch_terminate(store_uow *u, int64_t batch_id, int64_t now_ms, int *done)
{
    return u->ops->uow_terminate(u->impl, batch_id, now_ms, done);
}

store_rc store_uow_device_presence(store_uow *u, int64_t device_id, int online, int64_t now_ms)
{
    return u->ops->device_presence(u->impl, device_id, online, now_ms);
}

store_rc store_uow_device_ready(store_uow *u, int64_t device_id, int64_t now_ms)
{
    return u->ops->device_ready(u->impl, device_id, now_ms);
}

store_rc store_uow_device_pushable(store_uow *u, int64_t device_id, int *pushable)
{
    return u->ops->device_pushable(u->impl, device_id, pushable);
}

store_rc store_uow_device_version(store_uow *u, int64_t device_id, const char *version,
                                  int64_t now_ms)
{
    return u->ops->device_version(u->impl, device_id, version, now_ms);
}

store_rc store_uow_presence_snapshot(store_uow *u, const char *const *clients, size_t n,
                                     int64_t now_ms)
{
    return u->ops->presence_snapshot(u->impl, clients, n, now_ms);
}

store_rc store_engine_batches(store_t *s, store_batch **items, size_t *n)
{
    return s->batch_ops->engine_batches(s, items, n);
}

store_rc store_engine_deadlines(store_t *s, int64_t until_ms, int64_t limit,
                                void (*fn)(void *, int64_t, int, int64_t), void *ud)
{
    if (limit <= 0)
        return STORE_INVALID;
    return s->batch_ops->engine_deadlines(s, until_ms, limit, fn, ud);
}

store_rc store_engine_pushable(store_t *s, int64_t batch_id, void (*fn)(void *, int64_t), void *ud)
{
    return s->batch_ops->engine_pushable(s, batch_id, fn, ud);
}

store_rc store_engine_presence_reset(store_t *s)
{
    return s->batch_ops->presence_reset(s);
}
