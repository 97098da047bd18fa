/*
 * store_accounts: users and tokens above the databases (store_accounts.h says what each
 * call promises), as catalog.c does for the catalog: numbered statements (store_sql.h's
 * STORE_QUERIES; the SQL texts are the database's, store_sqlite.c and store_pg.c) run
 * through store_ops.tx/query; the rules (expiry, revocation, disabled users, the role a
 * token really grants, how often a use is recorded) are the C around them.
 */
#include "store/store_accounts.h"

#include "store/store_internal.h"

#include "ota_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOUCH_MS 60000 /* a token's last use is written at most once a minute */

/* ---- rows -------------------------------------------------------------------------------- */

typedef struct {
    void *items;   /* store_user[] or store_token[] */
    size_t n, cap; /* for lists; cap 1 = one row into items */
    size_t size;   /* of one item */
    void (*read)(const store_row *r, void *out);
    char *pw_hash; /* users: the stored password, when wanted */
    size_t pw_len;
} rows;

static void read_user(const store_row *r, void *o)
{
    store_user *u = o;
    char role[16];
    memset(u, 0, sizeof *u);
    u->id = r->i64(r->row, 0);
    r->text(r->row, 1, u->name, sizeof u->name);
    r->text(r->row, 2, role, sizeof role);
    u->role = acct_role_parse(role);
    u->disabled = r->i64(r->row, 3) != 0;
    u->has_password = r->i64(r->row, 4) != 0;
    u->created_ms = r->i64(r->row, 5);
    r->text(r->row, 6, u->created_by, sizeof u->created_by);
}

static void read_token(const store_row *r, void *o)
{
    store_token *t = o;
    char role[16];
    memset(t, 0, sizeof *t);
    t->id = r->i64(r->row, 0);
    t->user_id = r->i64(r->row, 1);
    r->text(r->row, 2, t->user_name, sizeof t->user_name);
    r->text(r->row, 3, t->kind, sizeof t->kind);
    r->text(r->row, 4, t->name, sizeof t->name);
    r->text(r->row, 5, role, sizeof role);
    t->role = acct_role_parse(role);
    t->created_ms = r->i64(r->row, 6);
    t->expires_ms = r->i64(r->row, 7);
    t->last_used_ms = r->i64(r->row, 8);
    t->revoked_ms = r->i64(r->row, 9);
    r->text(r->row, 10, t->created_by, sizeof t->created_by);
}

static void on_row(void *ud, const store_row *r)
{
    rows *x = ud;
    if (x->n == x->cap) {
        if (x->cap == 1)
            return; /* one row wanted: the first one */
        size_t cap = x->cap ? x->cap * 2 : 16;
        void *ni = realloc(x->items, cap * x->size);
        if (!ni)
            abort();
        x->items = ni;
        x->cap = cap;
    }
    x->read(r, (char *)x->items + x->n * x->size);
    if (x->pw_hash)
        r->text(r->row, 7, x->pw_hash, x->pw_len);
    x->n++;
}

/* One row of query q into out (the row reader read): OTA_ENOTFOUND when none. */
static ota_err one(store_t *s, store_q q, const store_args *a,
                   void (*read)(const store_row *, void *), void *out, size_t size, char *pw_hash,
                   size_t pw_len)
{
    rows x = {out, 0, 1, size, read, pw_hash, pw_len};
    ota_err rc = store__one(s, q, a, on_row, &x, NULL);
    return rc == OTA_OK && x.n == 0 ? OTA_ENOTFOUND : rc;
}

/* ---- users -------------------------------------------------------------------------------- */

ota_err store_user_create(store_t *s, const char *name, acct_role role, const char *pw_hash,
                          const char *created_by, int64_t now_ms, store_user *out)
{
    store_args a = {0};
    int64_t added = 0;
    if (acct_role_parse(acct_role_name(role)) == ACCT_ROLE_NONE || !name || !created_by)
        return OTA_EINVAL;
    store_arg_str(&a, name);
    store_arg_str(&a, acct_role_name(role));
    store_arg_str(&a, pw_hash);
    store_arg_i64(&a, now_ms);
    store_arg_str(&a, created_by);
    ota_err rc = store__one_change(s, STORE_Q_USER_INSERT, &a, &added);
    if (rc == OTA_OK && added == 0)
        return OTA_EDUPLICATE; /* the name is taken (ON CONFLICT DO NOTHING) */
    return rc == OTA_OK ? store_user_get(s, name, out, NULL, 0) : rc;
}

ota_err store_user_get(store_t *s, const char *name, store_user *out, char *pw_hash, size_t pw_len)
{
    store_args a = {0};
    if (pw_hash && pw_len)
        pw_hash[0] = '\0';
    store_arg_str(&a, name);
    return one(s, STORE_Q_USER_GET, &a, read_user, out, sizeof *out, pw_len ? pw_hash : NULL,
               pw_len);
}

/* A page of q (LIMIT and OFFSET after a's values) and the count of qc (a's values), read
 * in one snapshot. */
typedef struct {
    store_t *s;
    store_q q, qc;
    const store_args *a;
    store_page pg;
    rows *x;
    int64_t *total;
} page_call;

static ota_err page_fn(store_tx *tx, void *ud)
{
    page_call *c = ud;
    store_args a = *c->a;
    ota_err rc = c->s->ops->query(tx, c->qc, c->a, store__first_i64, c->total, NULL);
    store_arg_i64(&a, c->pg.page_size);
    store_arg_i64(&a, (int64_t)(c->pg.page - 1) * c->pg.page_size);
    return rc == OTA_OK ? c->s->ops->query(tx, c->q, &a, on_row, c->x, NULL) : rc;
}

static ota_err page(store_t *s, store_q q, store_q qc, const store_args *a, store_page pg,
                    void (*read)(const store_row *, void *), size_t size, void **items, size_t *n,
                    int64_t *total)
{
    rows x = {NULL, 0, 0, size, read, NULL, 0};
    page_call c = {s, q, qc, a, pg, &x, total};
    if (!store__page_ok(pg))
        return OTA_EINVAL;
    *total = 0;
    ota_err rc = s->ops->tx(s, STORE_TX_READ, page_fn, &c);
    if (rc != OTA_OK) {
        free(x.items);
        return rc;
    }
    *items = x.items;
    *n = x.n;
    return OTA_OK;
}

ota_err store_user_list(store_t *s, store_page pg, store_user **items, size_t *n, int64_t *total)
{
    store_args a = {0};
    void *it = NULL;
    ota_err rc = page(s, STORE_Q_USER_LIST, STORE_Q_USER_COUNT, &a, pg, read_user,
                      sizeof(store_user), &it, n, total);
    *items = it;
    return rc;
}

ota_err store_user_update(store_t *s, const char *name, acct_role role, int disabled,
                          const char *pw_hash, store_user *out)
{
    store_args a = {0};
    int64_t changed = 0;
    store_arg_str(&a, name);
    store_arg_str(&a, role == ACCT_ROLE_NONE ? NULL : acct_role_name(role));
    if (disabled < 0)
        store_arg_str(&a, NULL);
    else
        store_arg_i64(&a, disabled ? 1 : 0);
    store_arg_str(&a, pw_hash);
    ota_err rc = store__one_change(s, STORE_Q_USER_UPDATE, &a, &changed);
    if (rc == OTA_OK && changed == 0)
        return OTA_ENOTFOUND;
    return rc == OTA_OK ? store_user_get(s, name, out, NULL, 0) : rc;
}

/* ---- tokens -------------------------------------------------------------------------------- */

typedef struct {
    store_t *s;
    const store_args *insert, *by_hash;
    rows *x;
} token_new;

/* The insert and the stored row, in the change's transaction (the row's id names the
 * audit row's object). */
static ota_err token_create_fn(store_tx *tx, void *ud)
{
    token_new *t = ud;
    ota_err rc = t->s->ops->query(tx, STORE_Q_TOKEN_INSERT, t->insert, NULL, NULL, NULL);
    if (rc == OTA_OK)
        rc = t->s->ops->query(tx, STORE_Q_TOKEN_BY_HASH, t->by_hash, on_row, t->x, NULL);
    if (rc == OTA_OK && t->x->n == 0)
        rc = OTA_EDB; /* the row just inserted is not there */
    if (rc == OTA_OK)
        store__audit_object("token:%lld", (long long)((store_token *)t->x->items)->id);
    return rc;
}

ota_err store_token_create(store_t *s, const store_token *in, const char *hash, int64_t now_ms,
                           store_token *out)
{
    store_args a = {0}, h = {0};
    rows x = {out, 0, 1, sizeof *out, read_token, NULL, 0};
    store_arg_i64_pos(&a, in->user_id);
    store_arg_str(&a, in->kind);
    store_arg_str(&a, in->name);
    store_arg_str(&a, acct_role_name(in->role));
    store_arg_str(&a, hash);
    store_arg_i64(&a, now_ms);
    store_arg_i64_pos(&a, in->expires_ms);
    store_arg_str(&a, in->created_by);
    store_arg_str(&h, hash);
    token_new t = {s, &a, &h, &x};
    return store__change(s, token_create_fn, &t);
}

/* read_token plus the user's role and disabled flag (columns 11, 12). */
typedef struct {
    store_token t;
    acct_role user_role;
    int user_disabled;
} token_auth_row;

static void read_token_auth(const store_row *r, void *o)
{
    token_auth_row *a = o;
    char role[16];
    read_token(r, &a->t);
    r->text(r->row, 11, role, sizeof role);
    a->user_role = acct_role_parse(role);
    a->user_disabled = r->i64(r->row, 12) != 0;
}

ota_err store_token_auth(store_t *s, const char *hash, int64_t now_ms, store_token *out)
{
    store_args a = {0};
    token_auth_row t;
    store_arg_str(&a, hash);
    ota_err rc = one(s, STORE_Q_TOKEN_BY_HASH, &a, read_token_auth, &t, sizeof t, NULL, 0);
    if (rc != OTA_OK)
        return rc;
    if (t.t.revoked_ms || (t.t.expires_ms && t.t.expires_ms <= now_ms) ||
        (t.t.user_id && (t.user_disabled || t.user_role == ACCT_ROLE_NONE)))
        return OTA_ENOTFOUND;
    if (t.t.user_id && t.user_role < t.t.role)
        t.t.role = t.user_role;
    if (now_ms - t.t.last_used_ms >= TOUCH_MS) {
        store_args u = {0};
        store_arg_i64(&u, t.t.id);
        store_arg_i64(&u, now_ms);
        if (store__one(s, STORE_Q_TOKEN_TOUCH, &u, NULL, NULL, NULL) == OTA_OK)
            t.t.last_used_ms = now_ms;
    }
    *out = t.t;
    return OTA_OK;
}

ota_err store_token_get(store_t *s, int64_t id, store_token *out)
{
    store_args a = {0};
    store_arg_i64(&a, id);
    return one(s, STORE_Q_TOKEN_BY_ID, &a, read_token, out, sizeof *out, NULL, 0);
}

ota_err store_token_list(store_t *s, int64_t user_id, store_page pg, store_token **items, size_t *n,
                         int64_t *total)
{
    store_args a = {0};
    void *it = NULL;
    store_arg_i64(&a, user_id < 0 ? -1 : user_id);
    ota_err rc = page(s, STORE_Q_TOKEN_LIST, STORE_Q_TOKEN_COUNT, &a, pg, read_token,
                      sizeof(store_token), &it, n, total);
    *items = it;
    return rc;
}

ota_err store_token_revoke(store_t *s, int64_t id, int64_t now_ms)
{
    store_args a = {0};
    int64_t changed = 0;
    store_arg_i64(&a, id);
    store_arg_i64(&a, now_ms);
    ota_err rc = store__one_change(s, STORE_Q_TOKEN_REVOKE, &a, &changed);
    return rc == OTA_OK && changed == 0 ? OTA_ENOTFOUND : rc;
}
