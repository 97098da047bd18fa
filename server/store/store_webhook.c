/*
 * store_webhook: webhooks, the outbox and the delivery log above the databases
 * (store_webhook.h says what each call promises): numbered statements (store_sql.h's
 * STORE_QUERIES; the texts that differ, locks and JSON arrays, are the databases' own)
 * through store_ops; the grouping of device events is the C in assemble_fn.
 */
#include "store/store_webhook.h"

#include "store/store_internal.h"

#include "ota_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROW(arr, n, cap)                                                                        \
    do {                                                                                         \
        if ((n) == (cap)) {                                                                      \
            (cap) = (cap) ? (cap) * 2 : 16;                                                      \
            void *grown_ = realloc((arr), (cap) * sizeof *(arr));                                \
            if (!grown_)                                                                         \
                abort();                                                                         \
            (arr) = grown_;                                                                      \
        }                                                                                        \
    } while (0)


static ota_err run(store_t *s, store_tx *tx, store_q q, const store_args *a, store_row_fn row,
                   void *ud, int64_t *changes)
{
    return s->ops->query(tx, q, a, row, ud, changes);
}

ota_err store__event(store_t *s, store_tx *tx, int ev, const char *data, int64_t now_ms)
{
    store_args a = {0};
    store_arg_str(&a, hook_event_name((hook_event)ev));
    store_arg_i64(&a, now_ms);
    store_arg_str(&a, data);
    return run(s, tx, STORE_Q_HOOK_EVENT, &a, NULL, NULL, NULL);
}

char *store_webhook_batch_data(const store_batch *b, const char *state)
{
    return hook_data_batch(b->id, b->firmware_id, b->product_key, b->firmware_version, state,
                           b->total);
}

char *store_webhook_firmware_data(const store_firmware *f)
{
    return hook_data_firmware(f->id, f->product_key, f->name, f->version, f->sha256);
}

/* ---- webhooks ------------------------------------------------------------------------------ */

typedef struct {
    store_webhook *items;
    size_t n, cap;
} hook_rows;

static void hook_row(void *ud, const store_row *r)
{
    hook_rows *x = ud;
    GROW(x->items, x->n, x->cap);
    store_webhook *w = &x->items[x->n++];
    memset(w, 0, sizeof *w);
    w->id = r->i64(r->row, 0);
    r->text(r->row, 1, w->url, sizeof w->url);
    r->text(r->row, 2, w->secret, sizeof w->secret);
    r->text(r->row, 3, w->events, sizeof w->events);
    w->enabled = r->i64(r->row, 4) != 0;
    w->group_max = (int)r->i64(r->row, 5);
    w->group_seconds = (int)r->i64(r->row, 6);
    r->text(r->row, 7, w->created_by, sizeof w->created_by);
    w->created_ms = r->i64(r->row, 8);
    w->backlog = r->i64(r->row, 9);
}

static void hook_args(store_args *a, const store_webhook *w)
{
    store_arg_str(a, w->url);
    store_arg_str(a, w->secret);
    store_arg_str(a, w->events);
    store_arg_i64(a, w->enabled ? 1 : 0);
    store_arg_i64(a, w->group_max);
    store_arg_i64(a, w->group_seconds);
}

/* One statement that is a change an API caller asked for: its audit row commits with it
 * (store__change). */
typedef struct {
    store_t *s;
    store_q q;
    const store_args *a;
    int64_t *id;      /* the RETURNING id, or NULL */
    int64_t *changes; /* or NULL */
} change_stmt;

static ota_err change_fn(store_tx *tx, void *ud)
{
    change_stmt *c = ud;
    ota_err rc = run(c->s, tx, c->q, c->a, c->id ? store__first_i64 : NULL, c->id, c->changes);
    if (rc == OTA_OK && c->id && *c->id)
        store__audit_object("webhook:%lld", (long long)*c->id);
    return rc;
}

ota_err store_webhook_create(store_t *s, const store_webhook *w, int64_t *id)
{
    store_args a = {0};
    hook_args(&a, w);
    store_arg_str(&a, w->created_by);
    store_arg_i64(&a, w->created_ms);
    *id = 0;
    change_stmt c = {s, STORE_Q_HOOK_INSERT, &a, id, NULL};
    ota_err rc = store__change(s, change_fn, &c);
    return rc == OTA_OK && *id == 0 ? OTA_EDB : rc;
}

ota_err store_webhook_get(store_t *s, int64_t id, store_webhook *out)
{
    store_args a = {0};
    hook_rows x = {0};
    store_arg_i64(&a, id);
    ota_err rc = store__one(s, STORE_Q_HOOK_GET, &a, hook_row, &x, NULL);
    if (rc == OTA_OK && x.n == 0)
        rc = OTA_ENOTFOUND;
    if (rc == OTA_OK)
        *out = x.items[0];
    free(x.items);
    return rc;
}

ota_err store_webhook_list(store_t *s, store_webhook **items, size_t *n)
{
    static const store_args none = {0};
    hook_rows x = {0};
    ota_err rc = store__one(s, STORE_Q_HOOK_LIST, &none, hook_row, &x, NULL);
    if (rc != OTA_OK) {
        free(x.items);
        return rc;
    }
    *items = x.items;
    *n = x.n;
    return OTA_OK;
}

ota_err store_webhook_update(store_t *s, const store_webhook *w)
{
    store_args a = {0};
    int64_t changed = 0;
    store_arg_i64(&a, w->id);
    hook_args(&a, w);
    change_stmt c = {s, STORE_Q_HOOK_UPDATE, &a, NULL, &changed};
    ota_err rc = store__change(s, change_fn, &c);
    return rc == OTA_OK && changed == 0 ? OTA_ENOTFOUND : rc;
}

typedef struct {
    store_t *s;
    int64_t id, now, delivery_id;
} id_args;

static ota_err delete_fn(store_tx *tx, void *ud)
{
    id_args *c = ud;
    store_args a = {0};
    int64_t changed = 0;
    static const store_q dels[] = {STORE_Q_HOOK_DEL_ATTEMPTS, STORE_Q_HOOK_DEL_EVENTS,
                                   STORE_Q_HOOK_DEL_DELIVERIES};
    store_arg_i64(&a, c->id);
    ota_err rc = run(c->s, tx, STORE_Q_HOOK_DEL, &a, NULL, NULL, &changed);
    if (rc != OTA_OK)
        return rc;
    if (changed == 0)
        return OTA_ENOTFOUND;
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++)
        if ((rc = run(c->s, tx, dels[i], &a, NULL, NULL, NULL)) != OTA_OK)
            return rc;
    return OTA_OK;
}

ota_err store_webhook_delete(store_t *s, int64_t id)
{
    id_args c = {s, id, 0, 0};
    return store__change(s, delete_fn, &c);
}

static ota_err ping_fn(store_tx *tx, void *ud)
{
    id_args *c = ud;
    store_args a = {0};
    int64_t found = 0;
    hook_rows x = {0};
    store_arg_i64(&a, c->id);
    ota_err rc = run(c->s, tx, STORE_Q_HOOK_GET, &a, hook_row, &x, NULL);
    found = (int64_t)x.n;
    free(x.items);
    if (rc != OTA_OK)
        return rc;
    if (!found)
        return OTA_ENOTFOUND;
    a.n = 0;
    store_arg_i64(&a, c->id);
    store_arg_i64(&a, 0);
    store_arg_i64(&a, 1);
    store_arg_str(&a, hook_event_name(HOOK_EV_PING));
    store_arg_i64(&a, c->now);
    store_arg_i64(&a, c->now);
    if ((rc = run(c->s, tx, STORE_Q_HOOK_DELIVERY_INSERT, &a, store__first_i64, &c->delivery_id,
                  NULL)) != OTA_OK)
        return rc;
    char *data = hook_data_ping(c->id);
    a.n = 0;
    store_arg_i64(&a, c->id);
    store_arg_i64(&a, c->now);
    store_arg_str(&a, data);
    store_arg_i64(&a, c->delivery_id);
    rc = run(c->s, tx, STORE_Q_HOOK_PING_EVENT, &a, NULL, NULL, NULL);
    free(data);
    return rc;
}

ota_err store_webhook_ping(store_t *s, int64_t id, int64_t now_ms, int64_t *delivery_id)
{
    id_args c = {s, id, now_ms, 0};
    ota_err rc = store__change(s, ping_fn, &c);
    *delivery_id = c.delivery_id;
    return rc;
}

/* ---- assembling deliveries ------------------------------------------------------------------ */

typedef struct {
    int64_t id, webhook_id, time_ms;
    char name[HOOK_EVENT_NAME_MAX];
    int group_max, group_seconds;
    int ev; /* hook_event, or -1 for a name this otad does not know (delivered alone) */
} open_row;

typedef struct {
    open_row *rows;
    size_t n, cap;
} open_rows;

static void open_fn(void *ud, const store_row *r)
{
    open_rows *x = ud;
    GROW(x->rows, x->n, x->cap);
    open_row *o = &x->rows[x->n++];
    o->id = r->i64(r->row, 0);
    o->webhook_id = r->i64(r->row, 1);
    r->text(r->row, 2, o->name, sizeof o->name);
    o->time_ms = r->i64(r->row, 3);
    o->group_max = (int)r->i64(r->row, 4);
    o->group_seconds = (int)r->i64(r->row, 5);
    o->ev = hook_event_parse(o->name);
}

typedef struct {
    store_t *s;
    int64_t now;
    double scale;
    int made;
} assemble_args;

/* One delivery of rows[0..n) (one webhook's), its events marked as in it. */
static ota_err make_delivery(assemble_args *c, store_tx *tx, const open_row *rows, size_t n,
                             int grouped)
{
    char header[HOOK_EVENTS_TEXT_MAX];
    size_t at = 0, cap = 32 + n * 24;
    char *ids = malloc(cap);
    hook_item *items = calloc(n, sizeof *items);
    int64_t id = 0;
    if (!ids || !items)
        abort();
    for (size_t i = 0; i < n; i++) {
        memcpy(items[i].name, rows[i].name, sizeof items[i].name);
        at += (size_t)snprintf(ids + at, cap - at, "%s%lld", i ? "," : "[", (long long)rows[i].id);
    }
    snprintf(ids + at, cap - at, "]");
    hook_event_header(items, n, header, sizeof header);
    free(items);
    store_args a = {0};
    store_arg_i64(&a, rows[0].webhook_id);
    store_arg_i64(&a, grouped);
    store_arg_i64(&a, (int64_t)n);
    store_arg_str(&a, header);
    store_arg_i64(&a, rows[0].time_ms);
    store_arg_i64(&a, c->now);
    ota_err rc = run(c->s, tx, STORE_Q_HOOK_DELIVERY_INSERT, &a, store__first_i64, &id, NULL);
    if (rc == OTA_OK) {
        a.n = 0;
        store_arg_i64(&a, id);
        store_arg_str(&a, ids);
        rc = run(c->s, tx, STORE_Q_HOOK_EVENTS_ASSIGN, &a, NULL, NULL, NULL);
    }
    free(ids);
    if (rc == OTA_OK)
        c->made++;
    return rc;
}

/* One webhook's open rows [0..n): events delivered alone at once; device events (with
 * grouping on) in groups of group_max, the last smaller one once its oldest is old enough.
 * grp is scratch of n rows. */
static ota_err assemble_hook(assemble_args *c, store_tx *tx, const open_row *rows, size_t n,
                             open_row *grp)
{
    size_t ng = 0;
    ota_err rc = OTA_OK;
    for (size_t i = 0; i < n && rc == OTA_OK; i++) {
        if (rows[i].ev >= 0 && hook_event_grouped((hook_event)rows[i].ev) && rows[i].group_max > 1)
            grp[ng++] = rows[i];
        else
            rc = make_delivery(c, tx, &rows[i], 1, 0);
    }
    if (ng == 0 || rc != OTA_OK)
        return rc;
    size_t max = (size_t)grp[0].group_max, i = 0;
    int64_t wait_ms = (int64_t)((double)grp[0].group_seconds * 1000.0 / c->scale);
    for (; ng - i >= max && rc == OTA_OK; i += max)
        rc = make_delivery(c, tx, &grp[i], max, 1);
    if (rc == OTA_OK && i < ng && grp[i].time_ms + wait_ms <= c->now)
        rc = make_delivery(c, tx, &grp[i], ng - i, 1);
    return rc;
}

static ota_err assemble_fn(store_tx *tx, void *ud)
{
    assemble_args *c = ud;
    static const store_args none = {0};
    open_rows x = {0};
    ota_err rc = run(c->s, tx, STORE_Q_HOOK_OPEN, &none, open_fn, &x, NULL);
    open_row *grp = x.n ? malloc(x.n * sizeof *grp) : NULL;
    if (x.n && !grp)
        abort();
    for (size_t i = 0, j; rc == OTA_OK && i < x.n; i = j) {
        for (j = i; j < x.n && x.rows[j].webhook_id == x.rows[i].webhook_id; j++)
            ;
        rc = assemble_hook(c, tx, &x.rows[i], j - i, grp);
    }
    free(grp);
    free(x.rows);
    return rc;
}

ota_err store_webhook_assemble(store_t *s, int64_t now_ms, double scale, int *made)
{
    static const store_args none = {0};
    int64_t any = 0;
    *made = 0;
    /* a read first: the write transaction (which SQLite's writers take turns for) only when
     * there is something to assemble */
    ota_err rc = store__one(s, STORE_Q_HOOK_OPEN_ANY, &none, store__first_i64, &any, NULL);
    if (rc != OTA_OK || !any)
        return rc;
    assemble_args c = {s, now_ms, scale > 0 ? scale : 1, 0};
    rc = s->ops->tx(s, STORE_TX_WRITE, assemble_fn, &c);
    if (rc == OTA_OK)
        *made = c.made;
    return rc;
}

/* ---- claims, items, results ----------------------------------------------------------------- */

typedef struct {
    store_delivery *items;
    size_t n, cap;
} claim_rows;

static void claim_fn(void *ud, const store_row *r)
{
    claim_rows *x = ud;
    GROW(x->items, x->n, x->cap);
    store_delivery *d = &x->items[x->n++];
    memset(d, 0, sizeof *d);
    d->id = r->i64(r->row, 0);
    d->webhook_id = r->i64(r->row, 1);
    d->grouped = r->i64(r->row, 2) != 0;
    d->attempts = (int)r->i64(r->row, 3);
    d->first_ms = r->i64(r->row, 4);
    r->text(r->row, 5, d->event, sizeof d->event);
}

ota_err store_webhook_claim(store_t *s, int64_t webhook_id, int64_t now_ms,
                            int64_t lease_until_ms, int max, store_delivery **items, size_t *n)
{
    store_args a = {0};
    claim_rows x = {0};
    store_arg_i64(&a, webhook_id);
    store_arg_i64(&a, now_ms);
    store_arg_i64(&a, lease_until_ms);
    store_arg_i64(&a, max);
    ota_err rc = store__one(s, STORE_Q_HOOK_CLAIM, &a, claim_fn, &x, NULL);
    if (rc != OTA_OK) {
        free(x.items);
        return rc;
    }
    *items = x.items;
    *n = x.n;
    return OTA_OK;
}

typedef struct {
    hook_item *items;
    size_t n, cap;
} item_rows;

static void item_fn(void *ud, const store_row *r)
{
    item_rows *x = ud;
    GROW(x->items, x->n, x->cap);
    hook_item *it = &x->items[x->n++];
    memset(it, 0, sizeof *it);
    r->text(r->row, 0, it->name, sizeof it->name);
    it->time_ms = r->i64(r->row, 1);
    /* data: as long as the database has it (a payload is a few hundred bytes) */
    char buf[8192];
    r->text(r->row, 2, buf, sizeof buf);
    it->data = strdup(buf);
    if (!it->data)
        abort();
}

void store_webhook_items_free(hook_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        free((char *)items[i].data);
    free(items);
}

ota_err store_webhook_items(store_t *s, int64_t delivery_id, hook_item **items, size_t *n)
{
    store_args a = {0};
    item_rows x = {0};
    store_arg_i64(&a, delivery_id);
    ota_err rc = store__one(s, STORE_Q_HOOK_ITEMS, &a, item_fn, &x, NULL);
    if (rc != OTA_OK) {
        store_webhook_items_free(x.items, x.n);
        return rc;
    }
    *items = x.items;
    *n = x.n;
    return OTA_OK;
}

typedef struct {
    store_t *s;
    const store_delivery *d;
    store_hook_result res;
    int status;
    const char *error;
    int64_t duration, now, next;
} result_args;

static ota_err result_fn(store_tx *tx, void *ud)
{
    static const char *const names[] = {"delivered", "failed", "dead"};
    static const char *const states[] = {"delivered", "pending", "dead"};
    result_args *c = ud;
    store_args a = {0};
    int64_t changed = 0;
    store_arg_i64(&a, c->d->id);
    store_arg_str(&a, states[c->res]);
    store_arg_i64(&a, c->d->attempts + 1);
    store_arg_i64(&a, c->res == STORE_HOOK_FAILED ? c->next : c->now);
    ota_err rc = run(c->s, tx, STORE_Q_HOOK_DELIVERY_SET, &a, NULL, NULL, &changed);
    if (rc != OTA_OK || changed == 0)
        return rc; /* the webhook was deleted meanwhile: nothing to log */
    a.n = 0;
    store_arg_i64(&a, c->d->webhook_id);
    store_arg_i64(&a, c->d->id);
    store_arg_i64(&a, c->d->attempts + 1);
    store_arg_i64(&a, c->status);
    store_arg_str(&a, c->error && c->error[0] ? c->error : NULL);
    store_arg_i64(&a, c->duration);
    store_arg_i64(&a, c->now);
    store_arg_str(&a, names[c->res]);
    return run(c->s, tx, STORE_Q_HOOK_ATTEMPT_INSERT, &a, NULL, NULL, NULL);
}

ota_err store_webhook_result(store_t *s, const store_delivery *d, store_hook_result res,
                             int status, const char *error, int64_t duration_ms,
                             int64_t now_ms, int64_t next_ms)
{
    result_args c = {s, d, res, status, error, duration_ms, now_ms, next_ms};
    return s->ops->tx(s, STORE_TX_WRITE, result_fn, &c);
}

/* ---- the log, the backlog, pruning ---------------------------------------------------------- */

typedef struct {
    store_hook_attempt *items;
    size_t n, cap;
} log_rows;

static void log_fn(void *ud, const store_row *r)
{
    log_rows *x = ud;
    GROW(x->items, x->n, x->cap);
    store_hook_attempt *l = &x->items[x->n++];
    memset(l, 0, sizeof *l);
    l->id = r->i64(r->row, 0);
    l->delivery_id = r->i64(r->row, 1);
    r->text(r->row, 2, l->event, sizeof l->event);
    l->n_events = (int)r->i64(r->row, 3);
    l->attempt = (int)r->i64(r->row, 4);
    l->status = (int)r->i64(r->row, 5);
    r->text(r->row, 6, l->error, sizeof l->error);
    l->duration_ms = r->i64(r->row, 7);
    l->time_ms = r->i64(r->row, 8);
    r->text(r->row, 9, l->result, sizeof l->result);
}

ota_err store_webhook_log(store_t *s, int64_t id, int64_t before_id, int limit,
                          store_hook_attempt **items, size_t *n, int64_t *next_id)
{
    store_args a = {0};
    log_rows x = {0};
    if (limit < 1 || limit > 1000)
        return OTA_EINVAL;
    store_arg_i64(&a, id);
    store_arg_i64(&a, before_id > 0 ? before_id : 0);
    store_arg_i64(&a, (int64_t)limit + 1); /* one more tells whether a next page exists */
    ota_err rc = store__one(s, STORE_Q_HOOK_LOG, &a, log_fn, &x, NULL);
    if (rc != OTA_OK) {
        free(x.items);
        return rc;
    }
    *next_id = 0;
    if (x.n > (size_t)limit) {
        x.n = (size_t)limit;
        *next_id = x.items[x.n - 1].id;
    }
    *items = x.items;
    *n = x.n;
    return OTA_OK;
}

ota_err store_webhook_backlog(store_t *s, int64_t *n)
{
    static const store_args none = {0};
    *n = 0;
    return store__one(s, STORE_Q_HOOK_BACKLOG, &none, store__first_i64, n, NULL);
}

static ota_err prune_fn(store_tx *tx, void *ud)
{
    id_args *c = ud;
    store_args a = {0};
    static const store_q qs[] = {STORE_Q_HOOK_PRUNE_EVENTS, STORE_Q_HOOK_PRUNE_DELIVERIES,
                                 STORE_Q_HOOK_PRUNE_ATTEMPTS};
    store_arg_i64(&a, c->now);
    ota_err rc = OTA_OK;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0] && rc == OTA_OK; i++)
        rc = run(c->s, tx, qs[i], &a, NULL, NULL, NULL);
    return rc;
}

ota_err store_webhook_prune(store_t *s, int64_t before_ms)
{
    id_args c = {s, 0, before_ms, 0};
    store_args a = {0};
    int64_t any = 0;
    store_arg_i64(&a, before_ms);
    /* a read first: no write transaction while there is nothing to forget */
    ota_err rc = store__one(s, STORE_Q_HOOK_PRUNE_ANY, &a, store__first_i64, &any, NULL);
    if (rc != OTA_OK || !any)
        return rc;
    return s->ops->tx(s, STORE_TX_WRITE, prune_fn, &c);
}
