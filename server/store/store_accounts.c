/*
 * store_accounts: users and tokens above the databases (store_accounts.h says what each
 * call promises). Every statement is plain SQL both databases run as it is, through the
 * store's exec (store_sqlite_exec.c, store_pg_exec.c); the rules (expiry, revocation,
 * disabled users, the role a token really grants, how often a use is recorded) are the C
 * around them.
 */
#include "store/store_accounts.h"

#include "store/store_internal.h"

#include "ota_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOUCH_MS 60000 /* a token's last use is written at most once a minute */

enum {
    Q_USER_INSERT = STORE_EXEC_Q_ACCOUNTS,
    Q_USER_GET,
    Q_USER_LIST,
    Q_USER_COUNT,
    Q_USER_UPDATE,
    Q_TOKEN_INSERT,
    Q_TOKEN_BY_HASH,
    Q_TOKEN_BY_ID,
    Q_TOKEN_TOUCH,
    Q_TOKEN_LIST,
    Q_TOKEN_COUNT,
    Q_TOKEN_REVOKE,
    Q_END
};
_Static_assert(Q_END <= STORE_EXEC_Q_ACCOUNTS + 30, "store_accounts.c owns exec ids 0..29");

#define USER_COLS                                                                                  \
    "u.id, u.name, u.role, u.disabled, CASE WHEN u.password IS NULL THEN 0 ELSE 1 END,"            \
    " u.created_ms, u.created_by, COALESCE(u.password, '') FROM users u "
#define TOKEN_COLS                                                                                 \
    "t.id, COALESCE(t.user_id, 0), COALESCE(u.name, ''), t.kind, t.name, t.role, t.created_ms,"    \
    " COALESCE(t.expires_ms, 0), COALESCE(t.last_used_ms, 0), COALESCE(t.revoked_ms, 0),"          \
    " t.created_by, COALESCE(u.role, ''), COALESCE(u.disabled, 0)"                                 \
    " FROM tokens t LEFT JOIN users u ON u.id = t.user_id "
#define API_TOKENS                                                                                 \
    "WHERE t.kind = 'api' AND t.revoked_ms IS NULL"                                                \
    " AND (CAST($1 AS BIGINT) < 0 OR COALESCE(t.user_id, 0) = CAST($1 AS BIGINT)) "

static const char *const sql[] = {
    [Q_USER_INSERT] = "INSERT INTO users(name, role, password, disabled, created_ms, created_by)"
                      " VALUES ($1, $2, $3, 0, $4, $5)",
    [Q_USER_GET] = "SELECT " USER_COLS "WHERE u.name = $1",
    [Q_USER_LIST] = "SELECT " USER_COLS "ORDER BY u.id LIMIT $1 OFFSET $2",
    [Q_USER_COUNT] = "SELECT count(*) FROM users",
    [Q_USER_UPDATE] = "UPDATE users SET role = COALESCE($2, role),"
                      " disabled = COALESCE(CAST($3 AS INTEGER), disabled),"
                      " password = COALESCE($4, password) WHERE name = $1",
    [Q_TOKEN_INSERT] = "INSERT INTO tokens(user_id, kind, name, role, hash, created_ms,"
                       " expires_ms, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [Q_TOKEN_BY_HASH] = "SELECT " TOKEN_COLS "WHERE t.hash = $1",
    [Q_TOKEN_BY_ID] = "SELECT " TOKEN_COLS "WHERE t.id = CAST($1 AS BIGINT)",
    [Q_TOKEN_TOUCH] = "UPDATE tokens SET last_used_ms = $2 WHERE id = CAST($1 AS BIGINT)",
    [Q_TOKEN_LIST] = "SELECT " TOKEN_COLS API_TOKENS "ORDER BY t.id DESC LIMIT $2 OFFSET $3",
    [Q_TOKEN_COUNT] = "SELECT count(*) FROM tokens t " API_TOKENS,
    [Q_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms = $2"
                       " WHERE id = CAST($1 AS BIGINT) AND revoked_ms IS NULL",
};

/* Up to 8 values; integers are formatted into the list. */
typedef struct {
    const char *v[8];
    char buf[8][24];
    int n;
} params;

static void p_i64(params *p, int64_t x)
{
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)x);
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

static void p_str(params *p, const char *s)
{
    p->v[p->n++] = s;
}

static store_rc run(store_t *s, int q, const params *p, store_exec_row_fn fn, void *ud,
                    int64_t *changes, const char *what)
{
    return s->exec(s, q, sql[q], p->n, p->v, fn, ud, changes, what);
}

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

static int on_row(void *ud, const store_row *r)
{
    rows *x = ud;
    if (x->n == x->cap) {
        if (x->cap == 1)
            return 1; /* one row wanted: the first one */
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
    return 0;
}

static int on_count(void *ud, const store_row *r)
{
    *(int64_t *)ud = r->i64(r->row, 0);
    return 1;
}

/* One row of query q into out (the row reader read): STORE_NOT_FOUND when none. */
static store_rc one(store_t *s, int q, const params *p, void (*read)(const store_row *, void *),
                    void *out, size_t size, char *pw_hash, size_t pw_len, const char *what)
{
    rows x = {out, 0, 1, size, read, pw_hash, pw_len};
    store_rc rc = run(s, q, p, on_row, &x, NULL, what);
    return rc == STORE_OK && x.n == 0 ? STORE_NOT_FOUND : rc;
}

/* ---- users -------------------------------------------------------------------------------- */

store_rc store_user_create(store_t *s, const char *name, acct_role role, const char *pw_hash,
                           const char *created_by, int64_t now_ms, store_user *out)
{
    params p = {0};
    if (acct_role_parse(acct_role_name(role)) == ACCT_ROLE_NONE || !name || !created_by)
        return STORE_INVALID;
    p_str(&p, name);
    p_str(&p, acct_role_name(role));
    p_str(&p, pw_hash);
    p_i64(&p, now_ms);
    p_str(&p, created_by);
    store_rc rc = run(s, Q_USER_INSERT, &p, NULL, NULL, NULL, "user create");
    return rc == STORE_OK ? store_user_get(s, name, out, NULL, 0) : rc;
}

store_rc store_user_get(store_t *s, const char *name, store_user *out, char *pw_hash, size_t pw_len)
{
    params p = {0};
    if (pw_hash && pw_len)
        pw_hash[0] = '\0';
    p_str(&p, name);
    return one(s, Q_USER_GET, &p, read_user, out, sizeof *out, pw_len ? pw_hash : NULL, pw_len,
               "user get");
}

/* A page of query q (LIMIT and OFFSET the last two parameters) and the count of qc. */
static store_rc page(store_t *s, int q, int qc, params *p, store_page pg,
                     void (*read)(const store_row *, void *), size_t size, void **items, size_t *n,
                     int64_t *total)
{
    rows x = {NULL, 0, 0, size, read, NULL, 0};
    params pc = *p;
    store_rc rc;
    if (!store__page_ok(pg))
        return STORE_INVALID;
    for (int i = 0; i < pc.n; i++)
        if (pc.v[i] == p->buf[i])
            pc.v[i] = pc.buf[i];
    rc = run(s, qc, &pc, on_count, total, NULL, "count");
    p_i64(p, pg.page_size);
    p_i64(p, (int64_t)(pg.page - 1) * pg.page_size);
    if (rc == STORE_OK)
        rc = run(s, q, p, on_row, &x, NULL, "list");
    if (rc != STORE_OK) {
        free(x.items);
        return rc;
    }
    *items = x.items;
    *n = x.n;
    return STORE_OK;
}

store_rc store_user_list(store_t *s, store_page pg, store_user **items, size_t *n, int64_t *total)
{
    params p = {0};
    void *it = NULL;
    store_rc rc =
        page(s, Q_USER_LIST, Q_USER_COUNT, &p, pg, read_user, sizeof(store_user), &it, n, total);
    *items = it;
    return rc;
}

store_rc store_user_update(store_t *s, const char *name, acct_role role, int disabled,
                           const char *pw_hash, store_user *out)
{
    params p = {0};
    int64_t changed = 0;
    p_str(&p, name);
    p_str(&p, role == ACCT_ROLE_NONE ? NULL : acct_role_name(role));
    if (disabled < 0)
        p_str(&p, NULL);
    else
        p_i64(&p, disabled ? 1 : 0);
    p_str(&p, pw_hash);
    store_rc rc = run(s, Q_USER_UPDATE, &p, NULL, NULL, &changed, "user update");
    if (rc == STORE_OK && changed == 0)
        return STORE_NOT_FOUND;
    return rc == STORE_OK ? store_user_get(s, name, out, NULL, 0) : rc;
}

/* ---- tokens -------------------------------------------------------------------------------- */

store_rc store_token_create(store_t *s, const store_token *in, const char *hash, int64_t now_ms,
                            store_token *out)
{
    params p = {0};
    if (in->user_id > 0)
        p_i64(&p, in->user_id);
    else
        p_str(&p, NULL);
    p_str(&p, in->kind);
    p_str(&p, in->name);
    p_str(&p, acct_role_name(in->role));
    p_str(&p, hash);
    p_i64(&p, now_ms);
    if (in->expires_ms > 0)
        p_i64(&p, in->expires_ms);
    else
        p_str(&p, NULL);
    p_str(&p, in->created_by);
    store_rc rc = run(s, Q_TOKEN_INSERT, &p, NULL, NULL, NULL, "token create");
    if (rc != STORE_OK)
        return rc;
    params q = {0};
    p_str(&q, hash);
    return one(s, Q_TOKEN_BY_HASH, &q, read_token, out, sizeof *out, NULL, 0, "token get");
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

store_rc store_token_auth(store_t *s, const char *hash, int64_t now_ms, store_token *out)
{
    params p = {0};
    token_auth_row a;
    p_str(&p, hash);
    store_rc rc =
        one(s, Q_TOKEN_BY_HASH, &p, read_token_auth, &a, sizeof a, NULL, 0, "token check");
    if (rc != STORE_OK)
        return rc;
    if (a.t.revoked_ms || (a.t.expires_ms && a.t.expires_ms <= now_ms) ||
        (a.t.user_id && (a.user_disabled || a.user_role == ACCT_ROLE_NONE)))
        return STORE_NOT_FOUND;
    if (a.t.user_id && a.user_role < a.t.role)
        a.t.role = a.user_role;
    if (now_ms - a.t.last_used_ms >= TOUCH_MS) {
        params t = {0};
        p_i64(&t, a.t.id);
        p_i64(&t, now_ms);
        if (run(s, Q_TOKEN_TOUCH, &t, NULL, NULL, NULL, "token last use") == STORE_OK)
            a.t.last_used_ms = now_ms;
    }
    *out = a.t;
    return STORE_OK;
}

store_rc store_token_get(store_t *s, int64_t id, store_token *out)
{
    params p = {0};
    p_i64(&p, id);
    return one(s, Q_TOKEN_BY_ID, &p, read_token, out, sizeof *out, NULL, 0, "token get");
}

store_rc store_token_list(store_t *s, int64_t user_id, store_page pg, store_token **items,
                          size_t *n, int64_t *total)
{
    params p = {0};
    void *it = NULL;
    p_i64(&p, user_id < 0 ? -1 : user_id);
    store_rc rc = page(s, Q_TOKEN_LIST, Q_TOKEN_COUNT, &p, pg, read_token, sizeof(store_token), &it,
                       n, total);
    *items = it;
    return rc;
}

store_rc store_token_revoke(store_t *s, int64_t id, int64_t now_ms)
{
    params p = {0};
    int64_t changed = 0;
    p_i64(&p, id);
    p_i64(&p, now_ms);
    store_rc rc = run(s, Q_TOKEN_REVOKE, &p, NULL, NULL, &changed, "token revoke");
    return rc == STORE_OK && changed == 0 ? STORE_NOT_FOUND : rc;
}
