/*
 * store_batch: the engine's side of the batch store (store_batch.h): the unit of work and
 * the start-up reads. Each dispatches through the store's batch table (s->batch_ops,
 * store_internal.h), which the implementation's open put there; argument checks live here
 * so every database gets the same ones. The batch API's calls (create, get, list, devices,
 * terminate) are catalog.c's, written once above the SQL.
 */
#include "store/store_batch.h"

#include "store/store_internal.h"
#include "store/store_webhook.h"

#include "ota_time.h"

#include <stdlib.h>
#include <string.h>

struct store_uow {
    const store_batch_ops *ops;
    void *impl;
    store_t *s;
    int64_t t0_us; /* its BEGIN, for the latency histogram (store_metrics.h) */
};

ota_err store_uow_begin(store_t *s, store_uow **out)
{
    const store_batch_ops *ops = s->batch_ops;
    store_uow *u = calloc(1, sizeof *u);
    if (!u)
        abort(); /* the daemon may abort on out-of-memory */
    u->ops = ops;
    u->s = s;
    u->t0_us = ota_time_mono_us();
    ota_err r = ops->uow_begin(s, &u->impl);
    if (r != OTA_OK) {
        free(u);
        return r;
    }
    *out = u;
    return OTA_OK;
}

ota_err store_uow_commit(store_uow *u)
{
    ota_err r = u->ops->uow_commit(u->impl);
    store__tx_observe(u->s, STORE_TX_KINDS - 1, u->t0_us);
    free(u);
    return r;
}

void store_uow_rollback(store_uow *u)
{
    if (!u)
        return;
    u->ops->uow_rollback(u->impl);
    store__tx_observe(u->s, STORE_TX_KINDS - 1, u->t0_us);
    free(u);
}

/* Runs unit-of-work statement q: an answer is awaited only when row or changes asks for one. */
static ota_err uexec(store_uow *u, store_uq q, const store_args *a, store_row_fn row, void *ud,
                     int64_t *changes)
{
    return u->ops->uow_exec(u->impl, q, a, row, ud, changes);
}

static ota_err first(store_uow *u, store_uq q, const store_args *a,
                     void (*read)(const store_row *, void *), void *out)
{
    store_first f = {read, out, 0};
    ota_err rc = uexec(u, q, a, store__first_fn, &f, NULL);
    if (rc != OTA_OK)
        return rc;
    return f.found ? OTA_OK : OTA_ENOTFOUND;
}

static void read_i64(const store_row *r, void *out)
{
    *(int64_t *)out = r->i64(r->row, 0);
}

ota_err store_uow_device_find(store_uow *u, const char *pk, const char *ident, int64_t *id)
{
    store_args a = {0};
    store_arg_str(&a, pk);
    store_arg_str(&a, ident);
    return first(u, STORE_UQ_DEVICE_FIND, &a, read_i64, id);
}

typedef struct {
    char *pk, *ident;
    size_t pklen, identlen;
} names_out;

static void read_names(const store_row *r, void *out)
{
    names_out *o = out;
    r->text(r->row, 0, o->pk, o->pklen);
    r->text(r->row, 1, o->ident, o->identlen);
}

ota_err store_uow_device_names(store_uow *u, int64_t device_id, char *pk, size_t pklen, char *ident,
                               size_t identlen)
{
    names_out o = {pk, ident, pklen, identlen};
    store_args a = {0};
    store_arg_i64(&a, device_id);
    return first(u, STORE_UQ_DEVICE_NAMES, &a, read_names, &o);
}

typedef struct {
    int64_t device_id;
    store_task *out;
    int bad;
} task_out;

static void read_task(const store_row *r, void *out)
{
    task_out *o = out;
    o->bad = store__read_task(r, o->device_id, o->out) != 0;
}

ota_err store_uow_task_open(store_uow *u, int64_t device_id, store_task *out)
{
    task_out o = {device_id, out, 0};
    store_args a = {0};
    store_arg_i64(&a, device_id);
    ota_err rc = first(u, STORE_UQ_TASK_OPEN, &a, read_task, &o);
    return rc == OTA_OK && o.bad ? OTA_EDB : rc;
}

/* v, or SQL NULL when 0 ("not yet"). */
static void arg_opt_i64(store_args *a, int64_t v)
{
    if (v)
        store_arg_i64(a, v);
    else
        store_arg_str(a, NULL);
}

ota_err store_uow_task_put(store_uow *u, const store_task *in, int64_t now_ms)
{
    const fsm_task *t = &in->task;
    store_args a = {0};
    store_arg_i64(&a, in->batch_id);
    store_arg_i64(&a, in->device_id);
    store_arg_str(&a, fsm_state_name(t->state));
    store_arg_str(&a, t->reason != FSM_REASON_NONE ? fsm_reason_name(t->reason) : NULL);
    store_arg_i64(&a, t->progress);
    store_arg_i64(&a, t->retried);
    store_arg_i64(&a, t->attempt);
    store_arg_str(&a, t->push_msg_id[0] ? t->push_msg_id : NULL);
    arg_opt_i64(&a, t->pushed_ms);
    arg_opt_i64(&a, t->started_ms);
    arg_opt_i64(&a, t->finished_ms);
    if (t->deadline_kind != FSM_DL_NONE) {
        store_arg_str(&a, fsm_deadline_name(t->deadline_kind));
        store_arg_i64(&a, t->deadline_ms);
    } else {
        store_arg_str(&a, NULL);
        store_arg_str(&a, NULL);
    }
    store_arg_str(&a, in->current_version[0] ? in->current_version : NULL);
    store_arg_i64(&a, now_ms);
    return uexec(u, STORE_UQ_TASK_PUT, &a, NULL, NULL, NULL);
}

ota_err store_uow_event(store_uow *u, hook_event ev, const char *data, int64_t now_ms)
{
    store_args a = {0};
    store_arg_str(&a, hook_event_name(ev));
    store_arg_i64(&a, now_ms);
    store_arg_str(&a, data);
    return uexec(u, STORE_UQ_EVENT, &a, NULL, NULL, NULL);
}

ota_err store_uow_batch_counts(store_uow *u, int64_t batch_id, const int delta[FSM_STATE_COUNT])
{
    /* parameters in store__sql_counts_add's order: the batch, then FSM_STATES' */
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    for (int i = 0; i < FSM_STATE_COUNT; i++)
        store_arg_i64(&a, delta[i]);
    return uexec(u, STORE_UQ_COUNTS, &a, NULL, NULL, NULL);
}

/* Runs a statement that changes the batch row when its state allows: *done = 1 when it did. */
static ota_err batch_change(store_uow *u, store_uq q, const store_args *a, int *done)
{
    int64_t changed = 0;
    ota_err rc = uexec(u, q, a, NULL, NULL, &changed);
    *done = rc == OTA_OK && changed == 1;
    return rc;
}

ota_err store_uow_batch_complete_if_done(store_uow *u, int64_t batch_id, int64_t now_ms,
                                         int *completed)
{
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    store_arg_i64(&a, now_ms);
    return batch_change(u, STORE_UQ_COMPLETE, &a, completed);
}

ota_err store_uow_batch_terminate(store_uow *u, int64_t batch_id, int64_t now_ms, int *done,
                                  int64_t *failed)
{
    return u->ops->uow_terminate(u->impl, batch_id, now_ms, "terminated", done, failed);
}

ota_err store_uow_batch_abort(store_uow *u, int64_t batch_id, int64_t now_ms, const char *why,
                              int *done, int64_t *failed)
{
    store_args a = {0};
    ota_err rc = u->ops->uow_terminate(u->impl, batch_id, now_ms, "aborted", done, failed);
    if (rc != OTA_OK || !*done)
        return rc;
    store_arg_i64(&a, batch_id);
    store_arg_str(&a, why);
    return uexec(u, STORE_UQ_BATCH_REASON, &a, NULL, NULL, NULL);
}

ota_err store_uow_batch_start(store_uow *u, int64_t batch_id, int *done)
{
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    return batch_change(u, STORE_UQ_BATCH_START, &a, done);
}

ota_err store_uow_batch_pause(store_uow *u, int64_t batch_id, const char *why, int *done)
{
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    store_arg_str(&a, why);
    return batch_change(u, STORE_UQ_BATCH_PAUSE, &a, done);
}

ota_err store_uow_batch_phase(store_uow *u, int64_t batch_id, int phase, int64_t due_ms,
                              int brakes_fired)
{
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    store_arg_i64(&a, phase);
    store_arg_i64(&a, due_ms);
    store_arg_i64(&a, brakes_fired);
    return uexec(u, STORE_UQ_BATCH_PHASE, &a, NULL, NULL, NULL);
}

ota_err store_uow_device_presence(store_uow *u, int64_t device_id, int online, int64_t now_ms)
{
    /* no row changed: a stale event, nothing to do (the count is asked for, so the answer
     * is awaited rather than pipelined, as it always was) */
    int64_t changed = 0;
    store_args a = {0};
    store_arg_i64(&a, device_id);
    store_arg_i64(&a, now_ms);
    return uexec(u, online ? STORE_UQ_PRESENCE_ON : STORE_UQ_PRESENCE_OFF, &a, NULL, NULL,
                 &changed);
}

ota_err store_uow_device_ready(store_uow *u, int64_t device_id, int64_t now_ms)
{
    store_args a = {0};
    store_arg_i64(&a, device_id);
    store_arg_i64(&a, now_ms);
    return uexec(u, STORE_UQ_READY, &a, NULL, NULL, NULL);
}

ota_err store_uow_device_pushable(store_uow *u, int64_t device_id, int *pushable)
{
    int64_t v = 0;
    store_args a = {0};
    store_arg_i64(&a, device_id);
    ota_err rc = first(u, STORE_UQ_PUSHABLE, &a, read_i64, &v);
    *pushable = rc == OTA_OK && v != 0;
    return rc;
}

ota_err store_uow_device_version(store_uow *u, int64_t device_id, const char *version,
                                 int64_t now_ms)
{
    store_args a = {0};
    store_arg_i64(&a, device_id);
    store_arg_str(&a, version);
    store_arg_i64(&a, now_ms);
    return uexec(u, STORE_UQ_VERSION, &a, NULL, NULL, NULL);
}

static void read_facts(const store_row *r, void *out)
{
    store_device_facts *f = out;
    memset(f, 0, sizeof *f);
    f->product_id = r->i64(r->row, 0);
    f->activated = r->i64(r->row, 1) != 0;
    f->has_version = !r->is_null(r->row, 2);
    r->text(r->row, 2, f->version, sizeof f->version);
    r->text(r->row, 3, f->tags, sizeof f->tags);
}

ota_err store_uow_device_facts(store_uow *u, int64_t device_id, store_device_facts *out)
{
    store_args a = {0};
    store_arg_i64(&a, device_id);
    return first(u, STORE_UQ_DEVICE_FACTS, &a, read_facts, out);
}

typedef struct {
    void (*fn)(void *ud, const char *name);
    void *ud;
} names_fn;

static void group_name_row(void *ud, const store_row *r)
{
    names_fn *n = ud;
    char name[72];
    r->text(r->row, 0, name, sizeof name);
    n->fn(n->ud, name);
}

ota_err store_uow_device_groups(store_uow *u, int64_t device_id,
                                void (*fn)(void *ud, const char *name), void *ud)
{
    names_fn n = {fn, ud};
    store_args a = {0};
    store_arg_i64(&a, device_id);
    return uexec(u, STORE_UQ_DEVICE_GROUPS, &a, group_name_row, &n, NULL);
}

ota_err store_uow_task_join(store_uow *u, int64_t batch_id, int64_t device_id, int phase,
                            int64_t now_ms, int *joined)
{
    int64_t changed = 0;
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    store_arg_i64(&a, device_id);
    store_arg_i64(&a, now_ms);
    store_arg_i64(&a, phase);
    *joined = 0;
    ota_err rc = uexec(u, STORE_UQ_TASK_JOIN, &a, NULL, NULL, &changed);
    if (rc != OTA_OK || changed != 1)
        return rc;
    a.n = 0;
    store_arg_i64(&a, batch_id);
    rc = uexec(u, STORE_UQ_BATCH_JOINED, &a, NULL, NULL, NULL);
    *joined = rc == OTA_OK;
    return rc;
}

typedef struct {
    int64_t *ids;
    size_t max, n;
} ids_out;

static void id_row(void *ud, const store_row *r)
{
    ids_out *o = ud;
    if (o->n < o->max)
        o->ids[o->n++] = r->i64(r->row, 0);
}

ota_err store_uow_target_events(store_uow *u, int64_t *ids, size_t max, size_t *n)
{
    ids_out o = {ids, max, 0};
    store_args a = {0};
    store_arg_i64(&a, (int64_t)max);
    ota_err rc = uexec(u, STORE_UQ_TARGET_EVENTS, &a, id_row, &o, NULL);
    *n = o.n;
    return rc;
}

ota_err store_uow_continuous_new(store_uow *u, int64_t after, int64_t *ids, size_t max,
                                 size_t *n)
{
    ids_out o = {ids, max, 0};
    store_args a = {0};
    store_arg_i64(&a, after);
    ota_err rc = uexec(u, STORE_UQ_CONTINUOUS_NEW, &a, id_row, &o, NULL);
    *n = o.n;
    return rc;
}

ota_err store_uow_target_event_done(store_uow *u, int64_t device_id)
{
    store_args a = {0};
    store_arg_i64(&a, device_id);
    return uexec(u, STORE_UQ_TARGET_EVENT_DEL, &a, NULL, NULL, NULL);
}

ota_err store_uow_presence_snapshot(store_uow *u, const char *const *clients, size_t n,
                                    int64_t now_ms)
{
    return u->ops->presence_snapshot(u->impl, clients, n, now_ms);
}

ota_err store_engine_batches(store_t *s, store_batch **items, size_t *n)
{
    return s->batch_ops->engine_batches(s, items, n);
}

ota_err store_engine_deadlines(store_t *s, int64_t until_ms, int64_t limit,
                               void (*fn)(void *, int64_t, int, int64_t), void *ud)
{
    if (limit <= 0)
        return OTA_EINVAL;
    return s->batch_ops->engine_deadlines(s, until_ms, limit, fn, ud);
}

ota_err store_engine_pushable(store_t *s, int64_t batch_id, int max_phase,
                              void (*fn)(void *, int64_t), void *ud)
{
    return s->batch_ops->engine_pushable(s, batch_id, max_phase, fn, ud);
}

ota_err store_engine_presence_reset(store_t *s)
{
    return s->batch_ops->presence_reset(s);
}
