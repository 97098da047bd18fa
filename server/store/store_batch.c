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

#include "ota_log.h"
#include "ota_time.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the unit's cache (store_batch.h) ----------------------------------------------------
 * One entry per device the unit has read or written, found by id and by name through two
 * open-addressing tables of entry index + 1 (0: empty). Entries are never removed within a
 * unit; a round touches at most a few times ROUND_MAX_EVENTS devices. */
typedef struct {
    int64_t device_id;  /* 0: the name is no device */
    char pk[OTA_PRODUCT_KEY_MAX + 1];
    char ident[OTA_IDENT_MAX + 1];
    unsigned named : 1;      /* pk, ident known (and in the name table) */
    unsigned flags : 1;      /* online, ready, ddi known */
    unsigned task_known : 1; /* the open task was read or written: has_task says if any */
    unsigned has_task : 1;
    unsigned dirty : 1; /* task written in the unit, not yet sent (flush_tasks) */
    int online, ready, ddi;
    store_task task;
    int64_t put_ms;
    size_t dput; /* its newest row in the unit's dput, index + 1; 0: no device write waits */
} udev;

struct store_uow {
    const store_batch_ops *ops;
    const store_parts_ops *parts; /* NULL: no leases, nothing to fence */
    void *impl;
    store_t *s;
    int64_t t0_us; /* its BEGIN, for the latency histogram (store_metrics.h) */
    udev *dev;
    size_t n_dev, cap_dev;
    uint32_t *by_id, *by_name;
    size_t slots; /* a power of two, > 2 n_dev */
    size_t n_dirty;
    /* device writes not yet sent (flush_devices), in arrival order; waves 0..max_wave */
    store_device_put *dput;
    size_t n_dput, cap_dput;
    int max_wave;
    /* store_uow_continuous_ahead: 1 asked, 2 answered (cont_ids, cont_n) */
    int cont_state;
    int64_t cont_after;
    int64_t cont_ids[STORE_UOW_CONT_AHEAD];
    size_t cont_n;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t name_hash(const char *pk, const char *ident)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *pk; pk++)
        h = (h ^ (unsigned char)*pk) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* no byte of a name: "a"+"bc" differs from "ab"+"c" */
    for (; *ident; ident++)
        h = (h ^ (unsigned char)*ident) * 1099511628211ULL;
    return mix64(h);
}

static void index_id(store_uow *u, size_t i)
{
    size_t m = u->slots - 1, k = (size_t)mix64((uint64_t)u->dev[i].device_id) & m;
    while (u->by_id[k])
        k = (k + 1) & m;
    u->by_id[k] = (uint32_t)i + 1;
}

static void index_name(store_uow *u, size_t i)
{
    size_t m = u->slots - 1, k = (size_t)name_hash(u->dev[i].pk, u->dev[i].ident) & m;
    while (u->by_name[k])
        k = (k + 1) & m;
    u->by_name[k] = (uint32_t)i + 1;
}

static udev *find_id(store_uow *u, int64_t id)
{
    if (!u->slots || id == 0)
        return NULL;
    size_t m = u->slots - 1;
    for (size_t k = (size_t)mix64((uint64_t)id) & m; u->by_id[k]; k = (k + 1) & m)
        if (u->dev[u->by_id[k] - 1].device_id == id)
            return &u->dev[u->by_id[k] - 1];
    return NULL;
}

static udev *find_name(store_uow *u, const char *pk, const char *ident)
{
    if (!u->slots)
        return NULL;
    size_t m = u->slots - 1;
    for (size_t k = (size_t)name_hash(pk, ident) & m; u->by_name[k]; k = (k + 1) & m) {
        udev *e = &u->dev[u->by_name[k] - 1];
        if (strcmp(e->pk, pk) == 0 && strcmp(e->ident, ident) == 0)
            return e;
    }
    return NULL;
}

/* A new entry (zeroed but for device_id, and in the id table when id != 0); pointers to
 * entries taken before are invalid afterwards. */
static udev *add_entry(store_uow *u, int64_t id)
{
    if (2 * (u->n_dev + 1) >= u->slots) {
        u->slots = u->slots ? u->slots * 2 : 256;
        free(u->by_id);
        free(u->by_name);
        u->by_id = calloc(u->slots, sizeof *u->by_id);
        u->by_name = calloc(u->slots, sizeof *u->by_name);
        if (!u->by_id || !u->by_name)
            abort(); /* the daemon may abort on out-of-memory */
        for (size_t i = 0; i < u->n_dev; i++) {
            if (u->dev[i].device_id)
                index_id(u, i);
            if (u->dev[i].named)
                index_name(u, i);
        }
    }
    if (u->n_dev == u->cap_dev) {
        u->cap_dev = u->cap_dev ? u->cap_dev * 2 : 128;
        u->dev = realloc(u->dev, u->cap_dev * sizeof *u->dev);
        if (!u->dev)
            abort();
    }
    udev *e = &u->dev[u->n_dev];
    memset(e, 0, sizeof *e);
    e->device_id = id;
    if (id)
        index_id(u, u->n_dev);
    u->n_dev++;
    return e;
}

static udev *entry_for_id(store_uow *u, int64_t id)
{
    udev *e = find_id(u, id);
    return e ? e : add_entry(u, id);
}

static void set_names(store_uow *u, udev *e, const char *pk, const char *ident)
{
    if (e->named)
        return;
    snprintf(e->pk, sizeof e->pk, "%s", pk);
    snprintf(e->ident, sizeof e->ident, "%s", ident);
    e->named = 1;
    index_name(u, (size_t)(e - u->dev));
}

static int task_is_open(const store_task *t)
{
    return t->task.state != FSM_SUCCEEDED && t->task.state != FSM_FAILED;
}

/* Sends the unit's task writes, sorted by (batch, device) so that two units lock rows in one
 * order. */
static int cmp_task(const void *a, const void *b)
{
    const store_task *x = *(const store_task *const *)a, *y = *(const store_task *const *)b;
    if (x->batch_id != y->batch_id)
        return x->batch_id < y->batch_id ? -1 : 1;
    return x->device_id < y->device_id ? -1 : x->device_id > y->device_id;
}

static ota_err put_one(store_uow *u, const store_task *t, int64_t now_ms);

static ota_err flush_tasks(store_uow *u)
{
    if (!u->n_dirty)
        return OTA_OK;
    const store_task **ts = malloc(u->n_dirty * sizeof *ts);
    int64_t *ms = malloc(u->n_dirty * sizeof *ms);
    size_t n = 0;
    ota_err rc = OTA_OK;
    if (!ts || !ms)
        abort();
    for (size_t i = 0; i < u->n_dev; i++)
        if (u->dev[i].dirty)
            ts[n++] = &u->dev[i].task;
    qsort(ts, n, sizeof *ts, cmp_task);
    for (size_t i = 0; i < n; i++) {
        const udev *e = (const udev *)((const char *)ts[i] - offsetof(udev, task));
        ms[i] = e->put_ms;
    }
    if (u->ops->uow_put_tasks)
        rc = u->ops->uow_put_tasks(u->impl, ts, ms, n);
    else
        for (size_t i = 0; i < n && rc == OTA_OK; i++)
            rc = put_one(u, ts[i], ms[i]);
    free(ts);
    free(ms);
    if (rc == OTA_OK) {
        for (size_t i = 0; i < u->n_dev; i++)
            u->dev[i].dirty = 0;
        u->n_dirty = 0;
    }
    return rc;
}

/* ---- device writes ---------------------------------------------------------------------
 * Readiness, versions and presence wait in the unit like task writes, one row per device
 * (store_device_put: presence, then ready, then version, which is the order a device sends
 * them in: it connects, then reports its version). They go out before the unit's next
 * read (uexec, the loads, a terminate, a snapshot), so every read sees them as if each had
 * been written at once, and at the commit: on PostgreSQL one statement per wave, instead of
 * one per write. */

static int cmp_dput(const void *a, const void *b)
{
    const store_device_put *x = *(const store_device_put *const *)a;
    const store_device_put *y = *(const store_device_put *const *)b;
    return (x->device_id > y->device_id) - (x->device_id < y->device_id);
}

/* The device's row that the next write joins: its newest unless fresh is asked (a presence
 * applies first in a row, so it cannot join one that has writes already) or it has none. */
static store_device_put *dput_row(store_uow *u, int64_t device_id, int fresh)
{
    udev *e = entry_for_id(u, device_id);
    if (e->dput && !fresh)
        return &u->dput[e->dput - 1];
    int wave = e->dput ? u->dput[e->dput - 1].wave + 1 : 0;
    if (u->n_dput == u->cap_dput) {
        u->cap_dput = u->cap_dput ? u->cap_dput * 2 : 256;
        u->dput = realloc(u->dput, u->cap_dput * sizeof *u->dput);
        if (!u->dput)
            abort(); /* the daemon may abort on out-of-memory */
    }
    store_device_put *d = &u->dput[u->n_dput++];
    memset(d, 0, sizeof *d);
    d->device_id = device_id;
    d->wave = wave;
    if (wave > u->max_wave)
        u->max_wave = wave;
    e->dput = u->n_dput;
    return d;
}

static ota_err uexec(store_uow *u, store_uq q, const store_args *a, store_row_fn row, void *ud,
                     int64_t *changes);

/* One row as the single-row statements (no uow_put_devices): presence, ready, version. */
static ota_err put_device_one(store_uow *u, const store_device_put *d)
{
    store_args a = {0};
    ota_err rc = OTA_OK;
    if (d->presence) {
        store_arg_i64(&a, d->device_id);
        store_arg_i64(&a, d->presence_ms);
        rc = uexec(u, d->presence == 1 ? STORE_UQ_PRESENCE_ON : STORE_UQ_PRESENCE_OFF, &a, NULL,
                   NULL, NULL);
    }
    if (rc == OTA_OK && d->ready) {
        a.n = 0;
        store_arg_i64(&a, d->device_id);
        store_arg_i64(&a, d->ready_ms);
        rc = uexec(u, STORE_UQ_READY, &a, NULL, NULL, NULL);
    }
    if (rc == OTA_OK && d->version) {
        a.n = 0;
        store_arg_i64(&a, d->device_id);
        store_arg_str(&a, d->firmware_version);
        store_arg_i64(&a, d->version_ms);
        rc = uexec(u, STORE_UQ_VERSION, &a, NULL, NULL, NULL);
    }
    return rc;
}

/* Sends the waiting device writes, wave by wave, each wave sorted by device id (two units
 * lock device rows in one order). Nothing waits afterwards, also on failure (the unit then
 * only rolls back). */
static ota_err flush_devices(store_uow *u)
{
    if (!u->n_dput)
        return OTA_OK;
    const store_device_put **rows = malloc(u->n_dput * sizeof *rows);
    ota_err rc = OTA_OK;
    if (!rows)
        abort();
    for (int w = 0; w <= u->max_wave && rc == OTA_OK; w++) {
        size_t n = 0;
        for (size_t i = 0; i < u->n_dput; i++)
            if (u->dput[i].wave == w)
                rows[n++] = &u->dput[i];
        qsort(rows, n, sizeof *rows, cmp_dput);
        if (u->ops->uow_put_devices)
            rc = u->ops->uow_put_devices(u->impl, rows, n);
        else
            for (size_t i = 0; i < n && rc == OTA_OK; i++)
                rc = put_device_one(u, rows[i]);
    }
    free(rows);
    for (size_t i = 0; i < u->n_dput; i++) {
        udev *e = find_id(u, u->dput[i].device_id);
        if (e)
            e->dput = 0;
    }
    u->n_dput = 0;
    u->max_wave = 0;
    return rc;
}

static void uow_free(store_uow *u)
{
    free(u->dput);
    free(u->dev);
    free(u->by_id);
    free(u->by_name);
    free(u);
}

ota_err store_uow_begin(store_t *s, store_uow **out)
{
    const store_batch_ops *ops = s->batch_ops;
    store_uow *u = calloc(1, sizeof *u);
    if (!u)
        abort(); /* the daemon may abort on out-of-memory */
    u->ops = ops;
    u->s = s;
    u->t0_us = ota_time_mono_us();
    u->parts = s->parts_ops;
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
    ota_err r = flush_devices(u);
    if (r == OTA_OK)
        r = flush_tasks(u);
    if (r != OTA_OK) {
        u->ops->uow_rollback(u->impl);
        store__tx_observe(u->s, STORE_TX_KINDS - 1, u->t0_us);
        uow_free(u);
        return r;
    }
    r = u->ops->uow_commit(u->impl);
    store__tx_observe(u->s, STORE_TX_KINDS - 1, u->t0_us);
    uow_free(u);
    return r;
}

void store_uow_rollback(store_uow *u)
{
    if (!u)
        return;
    u->ops->uow_rollback(u->impl);
    store__tx_observe(u->s, STORE_TX_KINDS - 1, u->t0_us);
    uow_free(u);
}

/* Runs unit-of-work statement q: an answer is awaited only when row or changes asks for one;
 * the device writes waiting go out first, so that the answer includes them. */
static ota_err uexec(store_uow *u, store_uq q, const store_args *a, store_row_fn row, void *ud,
                     int64_t *changes)
{
    if (row || changes) {
        ota_err rc = flush_devices(u);
        if (rc != OTA_OK)
            return rc;
    }
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

/* ---- loads ------------------------------------------------------------------------------ */

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

static void load_dev(void *ud, const store_row *r);
static void load_task(void *ud, const store_row *r);

void store_uow_continuous_ahead(store_uow *u, int64_t after)
{
    u->cont_state = 1;
    u->cont_after = after;
    u->cont_n = 0;
}

/* The load's uow_load with the read asked ahead, if any (cont_state 1 -> 2 when sent). */
static ota_err load_with_side(store_uow *u, const char *const *pks, const char *const *idents,
                              const int64_t *ids, size_t n, void *ud)
{
    store_args a = {0};
    ids_out o = {u->cont_ids, STORE_UOW_CONT_AHEAD, 0};
    store_uow_side side = {STORE_UQ_CONTINUOUS_NEW, &a, id_row, &o};
    int ahead = u->cont_state == 1;
    if (ahead)
        store_arg_i64(&a, u->cont_after);
    ota_err rc = flush_devices(u); /* the flags read must include the unit's own writes */
    if (rc != OTA_OK)
        return rc;
    rc = u->ops->uow_load(u->impl, pks, idents, ids, n, load_dev, load_task, ud,
                                  ahead ? &side : NULL);
    if (ahead && rc == OTA_OK) {
        u->cont_n = o.n;
        u->cont_state = 2;
    } else if (ahead) {
        u->cont_state = 0;
    }
    return rc;
}

typedef struct {
    store_uow *u;
    int bad; /* a task row with a state that is no name of FSM_STATES */
} load_ctx;

static void load_dev(void *ud, const store_row *r)
{
    load_ctx *c = ud;
    char pk[OTA_PRODUCT_KEY_MAX + 1], ident[OTA_IDENT_MAX + 1];
    udev *e = entry_for_id(c->u, r->i64(r->row, 0));
    r->text(r->row, 1, pk, sizeof pk);
    r->text(r->row, 2, ident, sizeof ident);
    set_names(c->u, e, pk, ident);
    /* the unit's own flag writes went out before this read: the row has them */
    e->online = r->i64(r->row, 3) != 0;
    e->ready = r->i64(r->row, 4) != 0;
    e->ddi = r->i64(r->row, 5) != 0;
    e->flags = 1;
}

/* A task row: device_id, then STORE_SQL_TASK_COLS. */
static int64_t shifted_i64(const void *row, int col);
static void shifted_text(const void *row, int col, char *out, size_t outlen);
static int shifted_null(const void *row, int col);

static void load_task(void *ud, const store_row *r)
{
    load_ctx *c = ud;
    udev *e = entry_for_id(c->u, r->i64(r->row, 0));
    if (e->task_known)
        return; /* the unit's own version is newer (it may not be written yet) */
    store_row sr = {r, shifted_i64, shifted_text, shifted_null};
    if (store__read_task(&sr, e->device_id, &e->task) != 0) {
        c->bad = 1;
        return;
    }
    e->task_known = 1;
    e->has_task = 1;
}

static int64_t shifted_i64(const void *row, int col)
{
    const store_row *r = row;
    return r->i64(r->row, col + 1);
}

static void shifted_text(const void *row, int col, char *out, size_t outlen)
{
    const store_row *r = row;
    r->text(r->row, col + 1, out, outlen);
}

static int shifted_null(const void *row, int col)
{
    const store_row *r = row;
    return r->is_null(r->row, col + 1);
}

ota_err store_uow_load_names(store_uow *u, const char *const *pks, const char *const *idents,
                             size_t n)
{
    if (!u->ops->uow_load || n == 0)
        return OTA_OK;
    const char **p = malloc(n * sizeof *p), **d = malloc(n * sizeof *d);
    size_t m = 0;
    if (!p || !d)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!find_name(u, pks[i], idents[i])) {
            p[m] = pks[i];
            d[m++] = idents[i];
        }
    load_ctx c = {u, 0};
    ota_err rc = m ? load_with_side(u, p, d, NULL, m, &c) : OTA_OK;
    for (size_t i = 0; i < m && rc == OTA_OK; i++) {
        udev *e = find_name(u, p[i], d[i]);
        if (!e) { /* no such device */
            e = add_entry(u, 0);
            set_names(u, e, p[i], d[i]);
        } else if (e->device_id && !e->task_known) {
            e->task_known = 1; /* its tasks were read: none is open */
        }
    }
    free(p);
    free(d);
    return rc == OTA_OK && c.bad ? OTA_EDB : rc;
}

ota_err store_uow_load_ids(store_uow *u, const int64_t *ids, size_t n)
{
    if (!u->ops->uow_load || n == 0)
        return OTA_OK;
    int64_t *want = malloc(n * sizeof *want);
    size_t m = 0;
    if (!want)
        abort();
    for (size_t i = 0; i < n; i++) {
        const udev *e = find_id(u, ids[i]);
        if (!e || !e->named || !e->flags || !e->task_known)
            want[m++] = ids[i];
    }
    load_ctx c = {u, 0};
    ota_err rc = m ? load_with_side(u, NULL, NULL, want, m, &c) : OTA_OK;
    for (size_t i = 0; i < m && rc == OTA_OK; i++) {
        udev *e = find_id(u, want[i]);
        if (e && e->named && !e->task_known)
            e->task_known = 1; /* a device whose tasks were read: none is open */
    }
    free(want);
    return rc == OTA_OK && c.bad ? OTA_EDB : rc;
}

void store_uow_forget_absent(store_uow *u)
{
    for (size_t i = 0; i < u->n_dev; i++) {
        udev *e = &u->dev[i];
        /* a task this unit finished stays finished (it holds the row); one never seen may be new */
        if (e->task_known && !e->has_task && !e->dirty)
            e->task_known = 0;
    }
}

/* ---- reads and writes through the cache ----------------------------------------------- */

ota_err store_uow_device_find(store_uow *u, const char *pk, const char *ident, int64_t *id)
{
    udev *e = find_name(u, pk, ident);
    if (e) {
        *id = e->device_id;
        return e->device_id ? OTA_OK : OTA_ENOTFOUND;
    }
    store_args a = {0};
    store_arg_str(&a, pk);
    store_arg_str(&a, ident);
    ota_err rc = first(u, STORE_UQ_DEVICE_FIND, &a, read_i64, id);
    if (rc == OTA_OK)
        set_names(u, entry_for_id(u, *id), pk, ident);
    else if (rc == OTA_ENOTFOUND)
        set_names(u, add_entry(u, 0), pk, ident);
    return rc;
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
    udev *e = find_id(u, device_id);
    if (e && e->named) {
        snprintf(pk, pklen, "%s", e->pk);
        snprintf(ident, identlen, "%s", e->ident);
        return OTA_OK;
    }
    char p[OTA_PRODUCT_KEY_MAX + 1], d[OTA_IDENT_MAX + 1];
    names_out o = {p, d, sizeof p, sizeof d};
    store_args a = {0};
    store_arg_i64(&a, device_id);
    ota_err rc = first(u, STORE_UQ_DEVICE_NAMES, &a, read_names, &o);
    if (rc != OTA_OK)
        return rc;
    set_names(u, entry_for_id(u, device_id), p, d);
    snprintf(pk, pklen, "%s", p);
    snprintf(ident, identlen, "%s", d);
    return OTA_OK;
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
    udev *e = find_id(u, device_id);
    if (e && e->task_known) {
        if (!e->has_task)
            return OTA_ENOTFOUND;
        *out = e->task;
        return OTA_OK;
    }
    store_task t;
    task_out o = {device_id, &t, 0};
    store_args a = {0};
    store_arg_i64(&a, device_id);
    ota_err rc = first(u, STORE_UQ_TASK_OPEN, &a, read_task, &o);
    if (rc == OTA_OK && o.bad)
        return OTA_EDB;
    if (rc != OTA_OK && rc != OTA_ENOTFOUND)
        return rc;
    e = entry_for_id(u, device_id);
    e->task_known = 1;
    e->has_task = rc == OTA_OK;
    if (rc == OTA_OK) {
        e->task = t;
        *out = t;
    }
    return rc;
}

/* v, or SQL NULL when 0 ("not yet"). */
static void arg_opt_i64(store_args *a, int64_t v)
{
    if (v)
        store_arg_i64(a, v);
    else
        store_arg_str(a, NULL);
}

/* One STORE_UQ_TASK_PUT (pipelined where the database can). */
static ota_err put_one(store_uow *u, const store_task *in, int64_t now_ms)
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

ota_err store_uow_task_put(store_uow *u, const store_task *in, int64_t now_ms)
{
    udev *e = entry_for_id(u, in->device_id);
    e->task = *in;
    e->task_known = 1;
    e->has_task = task_is_open(in);
    e->put_ms = now_ms;
    if (!e->dirty) {
        e->dirty = 1;
        u->n_dirty++;
    }
    return OTA_OK;
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

ota_err store_uow_batch_complete_if_done(store_uow *u, int64_t batch_id, int confirming,
                                         int64_t now_ms, int *completed)
{
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    store_arg_i64(&a, now_ms);
    /* the confirmations are read from the task rows: the unit's task writes go first */
    ota_err rc = confirming ? flush_tasks(u) : OTA_OK;
    if (rc != OTA_OK)
        return rc;
    return batch_change(u, confirming ? STORE_UQ_COMPLETE_CONFIRMED : STORE_UQ_COMPLETE, &a,
                        completed);
}

ota_err store_uow_task_get(store_uow *u, int64_t batch_id, int64_t device_id, store_task *out)
{
    task_out o = {device_id, out, 0};
    store_args a = {0};
    udev *e = find_id(u, device_id);
    if (e && e->dirty && e->task.batch_id == batch_id) { /* written in this unit */
        *out = e->task;
        return OTA_OK;
    }
    store_arg_i64(&a, batch_id);
    store_arg_i64(&a, device_id);
    ota_err rc = first(u, STORE_UQ_TASK_GET, &a, read_task, &o);
    return rc == OTA_OK && o.bad ? OTA_EDB : rc;
}

/* Ends the batch's unfinished tasks inside the unit (uow_terminate with end_state). The
 * terminate reads the task rows: the unit's task writes go first; afterwards none of the
 * batch's tasks is open. */
static ota_err end_in_unit(store_uow *u, int64_t batch_id, int64_t now_ms, const char *end_state,
                           int *done, int64_t *failed)
{
    ota_err rc = flush_tasks(u);
    if (rc == OTA_OK)
        rc = flush_devices(u);
    if (rc == OTA_OK)
        rc = u->ops->uow_terminate(u->impl, batch_id, now_ms, end_state, done, failed);
    if (rc == OTA_OK && *done)
        for (size_t i = 0; i < u->n_dev; i++)
            if (u->dev[i].has_task && u->dev[i].task.batch_id == batch_id)
                u->dev[i].has_task = 0;
    return rc;
}

ota_err store_uow_batch_terminate(store_uow *u, int64_t batch_id, int64_t now_ms, int *done,
                                  int64_t *failed)
{
    return end_in_unit(u, batch_id, now_ms, "terminated", done, failed);
}

ota_err store_uow_batch_abort(store_uow *u, int64_t batch_id, int64_t now_ms, const char *why,
                              int *done, int64_t *failed)
{
    store_args a = {0};
    ota_err rc = end_in_unit(u, batch_id, now_ms, "aborted", done, failed);
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
    /* it waits with the unit's other device writes (flush_devices); whether it changes
     * anything (not when stale) is the database's rule, applied when it is written */
    store_device_put *d = dput_row(u, device_id, 1);
    d->presence = online ? 1 : 2;
    d->presence_ms = now_ms;
    find_id(u, device_id)->flags = 0; /* read them again (after the write) when asked */
    return OTA_OK;
}

ota_err store_uow_device_ready(store_uow *u, int64_t device_id, int64_t now_ms)
{
    store_device_put *d = dput_row(u, device_id, 0);
    d->ready = 1;
    d->ready_ms = now_ms;
    find_id(u, device_id)->ready = 1;
    return OTA_OK;
}

static void read_pushable(const store_row *r, void *out)
{
    int64_t *v = out;
    v[0] = r->i64(r->row, 0);
    v[1] = r->i64(r->row, 1);
}

ota_err store_uow_device_pushable(store_uow *u, int64_t device_id, int *pushable, int *ddi)
{
    int64_t v[2] = {0, 0};
    udev *e = find_id(u, device_id);
    if (e && e->flags) {
        *pushable = e->online && e->ready;
        if (ddi)
            *ddi = e->ddi;
        return OTA_OK;
    }
    store_args a = {0};
    store_arg_i64(&a, device_id);
    ota_err rc = first(u, STORE_UQ_PUSHABLE, &a, read_pushable, v);
    *pushable = rc == OTA_OK && v[0] != 0;
    if (ddi)
        *ddi = rc == OTA_OK && v[1] != 0;
    if (*pushable) { /* both flags set; a 0 does not say which one is not */
        e = entry_for_id(u, device_id);
        e->online = e->ready = 1;
        e->ddi = v[1] != 0;
        e->flags = 1;
    }
    return rc;
}

ota_err store_uow_ddi_online(store_uow *u, int64_t device_id, int64_t now_ms)
{
    store_args a = {0};
    store_arg_i64(&a, device_id);
    store_arg_i64(&a, now_ms);
    udev *e = find_id(u, device_id);
    if (e && e->dput) { /* it comes after the device's writes that wait in the unit */
        ota_err rc = flush_devices(u);
        if (rc != OTA_OK)
            return rc;
    }
    if (e) { /* what the statement sets, whatever was there */
        e->online = e->ready = e->ddi = 1;
        e->flags = 1;
    }
    return uexec(u, STORE_UQ_DDI_ONLINE, &a, NULL, NULL, NULL);
}

ota_err store_uow_device_version(store_uow *u, int64_t device_id, const char *version,
                                 int64_t now_ms)
{
    size_t len = strlen(version);
    if (len > OTA_VERSION_MAX)
        return OTA_EINVAL; /* the message parser allows no longer one */
    store_device_put *d = dput_row(u, device_id, 0);
    d->version = 1;
    d->version_ms = now_ms;
    memcpy(d->firmware_version, version, len + 1);
    return OTA_OK;
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
    udev *e = find_id(u, device_id);
    /* the join asks the database whether the device has an open task: a task this unit
     * finished must be written first */
    ota_err rc = e && e->dirty ? flush_tasks(u) : OTA_OK;
    if (rc == OTA_OK)
        rc = uexec(u, STORE_UQ_TASK_JOIN, &a, NULL, NULL, &changed);
    if (rc != OTA_OK || changed != 1)
        return rc;
    if ((e = find_id(u, device_id)) != NULL)
        e->task_known = 0; /* it has a new task: read it (locked) when asked */
    a.n = 0;
    store_arg_i64(&a, batch_id);
    rc = uexec(u, STORE_UQ_BATCH_JOINED, &a, NULL, NULL, NULL);
    *joined = rc == OTA_OK;
    return rc;
}

static void read_rollout(const store_row *r, void *out)
{
    store_rollout *o = out;
    char text[ROLLOUT_TALLY_TEXT_MAX];
    r->text(r->row, 0, text, sizeof text);
    o->phase = rollout_tally_from_text(text, &o->ct) == 0 ? (int)r->i64(r->row, 1) : -1;
    o->phase_due_ms = r->i64(r->row, 2);
    o->brakes_fired = (int)r->i64(r->row, 3);
}

ota_err store_uow_rollout_lock(store_uow *u, int64_t batch_id, store_rollout *out)
{
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    memset(out, 0, sizeof *out);
    ota_err rc = first(u, STORE_UQ_ROLLOUT_LOCK, &a, read_rollout, out);
    if (rc == OTA_OK && (out->phase < 0 || out->phase >= ROLLOUT_MAX_PHASES)) {
        OTA_ERROR("store: batch %lld: its stored rollout counters cannot be read",
                  (long long)batch_id);
        return OTA_EDB;
    }
    return rc;
}

ota_err store_uow_rollout_put(store_uow *u, int64_t batch_id, const store_rollout *in)
{
    char text[ROLLOUT_TALLY_TEXT_MAX];
    if (rollout_tally_to_text(&in->ct, text, sizeof text) != 0)
        return OTA_EINVAL;
    store_args a = {0};
    store_arg_i64(&a, batch_id);
    store_arg_str(&a, text);
    store_arg_i64(&a, in->phase);
    store_arg_i64(&a, in->phase_due_ms);
    store_arg_i64(&a, in->brakes_fired);
    return uexec(u, STORE_UQ_ROLLOUT_PUT, &a, NULL, NULL, NULL);
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
    if (u->cont_state == 2 && u->cont_after == after) { /* came with the load */
        u->cont_state = 0;
        for (size_t i = 0; i < u->cont_n && o.n < max; i++)
            ids[o.n++] = u->cont_ids[i];
        *n = o.n;
        return OTA_OK;
    }
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
    ota_err rc = flush_devices(u); /* the snapshot comes after the events before it */
    if (rc != OTA_OK)
        return rc;
    for (size_t i = 0; i < u->n_dev; i++)
        u->dev[i].flags = 0;
    return u->ops->presence_snapshot(u->impl, clients, n, now_ms);
}

uint64_t store_uow_round_trips(store_t *s)
{
    return s->batch_ops->round_trips ? s->batch_ops->round_trips() : 0;
}

ota_err store_uow_fence(store_uow *u, const char *me, uint64_t set)
{
    return u->parts && set ? u->parts->fence(u->impl, me, set) : OTA_OK;
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

ota_err store_engine_ddi_offline(store_t *s, int64_t before_ms, int64_t *n)
{
    int64_t none = 0;
    return s->batch_ops->ddi_offline(s, before_ms, n ? n : &none);
}
