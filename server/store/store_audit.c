/*
 * store_audit: the audit log above the databases (store_audit.h says what each call
 * promises): two numbered statements (store_sql.h's STORE_QUERIES) through store_ops, and
 * the change's transaction that carries its row (store__change): the calling thread's
 * bound store_audit_ctx is appended inside the transaction, just before its COMMIT.
 *
 * The context is per thread because a change runs on the thread that asked for it (an
 * HTTP pool thread) from its first statement to its COMMIT; the store's other callers (the
 * engine, the MQTT side) bind nothing and write no row.
 */
#include "store/store_audit.h"

#include "store/store_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local store_audit_ctx *bound;

void store_audit_bind(store_audit_ctx *c)
{
    bound = c;
}

void store__audit_object(const char *fmt, ...)
{
    va_list ap;
    if (!bound || bound->object_named)
        return;
    va_start(ap, fmt);
    vsnprintf(bound->row.object, sizeof bound->row.object, fmt, ap);
    va_end(ap);
}

static void insert_args(store_args *v, const store_audit *a)
{
    store_arg_i64(v, a->time_ms);
    store_arg_str(v, a->actor);
    store_arg_str(v, a->source);
    store_arg_str(v, a->action);
    store_arg_str(v, a->object);
    store_arg_str(v, a->result);
    store_arg_str(v, a->detail[0] ? a->detail : NULL);
}

ota_err store_audit_append(store_t *s, const store_audit *a)
{
    store_args v = {0};
    insert_args(&v, a);
    return store__one(s, STORE_Q_AUDIT_INSERT, &v, NULL, NULL, NULL);
}

ota_err store__audit_insert(store_t *s, store_tx *tx)
{
    store_args v = {0};
    if (!bound || bound->written)
        return OTA_OK;
    insert_args(&v, &bound->row);
    return s->ops->query(tx, STORE_Q_AUDIT_INSERT, &v, NULL, NULL, NULL);
}

void store__audit_committed(ota_err rc)
{
    if (rc == OTA_OK && bound)
        bound->written = 1;
}

typedef struct {
    store_t *s;
    ota_err (*fn)(store_tx *tx, void *ud);
    void *ud;
} change_call;

static ota_err change_fn(store_tx *tx, void *ud)
{
    change_call *c = ud;
    ota_err rc = c->fn(tx, c->ud);
    return rc == OTA_OK ? store__audit_insert(c->s, tx) : rc;
}

ota_err store__change(store_t *s, ota_err (*fn)(store_tx *tx, void *ud), void *ud)
{
    change_call c = {s, fn, ud};
    ota_err rc = s->ops->tx(s, STORE_TX_WRITE, change_fn, &c);
    store__audit_committed(rc);
    return rc;
}

typedef struct {
    store_audit *items;
    size_t n, cap;
} audit_rows;

static void audit_row(void *ud, const store_row *r)
{
    audit_rows *x = ud;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 32;
        x->items = realloc(x->items, x->cap * sizeof *x->items);
        if (!x->items)
            abort();
    }
    store_audit *a = &x->items[x->n++];
    memset(a, 0, sizeof *a);
    a->id = r->i64(r->row, 0);
    a->time_ms = r->i64(r->row, 1);
    r->text(r->row, 2, a->actor, sizeof a->actor);
    r->text(r->row, 3, a->source, sizeof a->source);
    r->text(r->row, 4, a->action, sizeof a->action);
    r->text(r->row, 5, a->object, sizeof a->object);
    r->text(r->row, 6, a->result, sizeof a->result);
    r->text(r->row, 7, a->detail, sizeof a->detail);
}

ota_err store_audit_list(store_t *s, const store_audit_filter *f, int limit, store_audit **items,
                         size_t *n, int64_t *next_id)
{
    store_args v = {0};
    audit_rows x = {0};
    if (limit < 1 || limit > 1000)
        return OTA_EINVAL;
    store_arg_str(&v, f->actor);
    store_arg_str(&v, f->action);
    store_arg_str(&v, f->object);
    store_arg_i64_pos(&v, f->from_ms);
    store_arg_i64_pos(&v, f->to_ms);
    store_arg_i64_pos(&v, f->before_id);
    store_arg_i64(&v, (int64_t)limit + 1); /* one more tells whether a next page exists */
    ota_err rc = store__one(s, STORE_Q_AUDIT_LIST, &v, audit_row, &x, NULL);
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
