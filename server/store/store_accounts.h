/*
 * store_accounts: users and their bearer tokens, on both databases (tables of migration 5
 * in store_sqlite.c and store_pg.c). The rules (who may sign in, whether a token still
 * works, the role it grants) are here in C above numbered statements whose SQL each
 * database writes (store_sql.h's STORE_QUERIES); docs/api.md ("Accounts, roles and
 * tokens") is the user's view.
 *
 * A token is kept only as the SHA-256 of what was handed out (core/account.h). Kinds:
 * "api" (named, listed, optional expiry) and "session" (console sign-in, short expiry,
 * revoked at sign-out). A token's user_id 0 means it belongs to the bootstrap admin token
 * (OTA_ADMIN_TOKEN), which has no user row.
 *
 * Expected load: one indexed SELECT per API call (store_token_auth) and, at most once a
 * minute per token, one UPDATE of its last-used time; users and tokens number in the
 * hundreds.
 */
#ifndef OTAD_STORE_ACCOUNTS_H
#define OTAD_STORE_ACCOUNTS_H

#include "core/account.h"
#include "store/store.h"

#define STORE_WHO_MAX 160 /* an actor: "<user>", "<user>/<token name>", "admin-token" */

typedef struct {
    int64_t id;
    char name[ACCT_NAME_MAX + 1];
    acct_role role;
    int disabled;
    int has_password; /* 0: a service account, which cannot sign in */
    int64_t created_ms;
    char created_by[STORE_WHO_MAX];
} store_user;

typedef struct {
    int64_t id;
    int64_t user_id;                   /* 0: the bootstrap admin token's own */
    char user_name[ACCT_NAME_MAX + 1]; /* "" when user_id is 0 */
    char kind[8];                      /* "api" or "session" */
    char name[ACCT_NAME_MAX + 1];
    acct_role role; /* as granted; store_token_auth lowers it to the user's */
    int64_t created_ms;
    int64_t expires_ms;   /* 0 = never */
    int64_t last_used_ms; /* 0 = never; kept to the minute */
    int64_t revoked_ms;   /* 0 = not revoked */
    char created_by[STORE_WHO_MAX];
} store_token;

/* pw_hash: acct_password_hash's form, or NULL (a service account). OTA_EDUPLICATE when
 * the name is taken. */
ota_err store_user_create(store_t *s, const char *name, acct_role role, const char *pw_hash,
                          const char *created_by, int64_t now_ms, store_user *out);
/* pw_hash (may be NULL) gets the stored form, "" when none. OTA_ENOTFOUND. */
ota_err store_user_get(store_t *s, const char *name, store_user *out, char *pw_hash, size_t pw_len);
/* By id order. items owned by the caller (free). */
ota_err store_user_list(store_t *s, store_page pg, store_user **items, size_t *n, int64_t *total);
/* Changes what is given: role (ACCT_ROLE_NONE keeps it), disabled (-1 keeps it), pw_hash
 * (NULL keeps it); *out the result. OTA_ENOTFOUND. */
ota_err store_user_update(store_t *s, const char *name, acct_role role, int disabled,
                          const char *pw_hash, store_user *out);

/* Stores a new token: in's user_id, kind, name, role, expires_ms and created_by, with hash
 * (acct_token_new's). *out the stored row. */
ota_err store_token_create(store_t *s, const store_token *in, const char *hash, int64_t now_ms,
                           store_token *out);
/* The token whose hash this is, when it still works at now_ms: not revoked, not expired,
 * its user (if any) not disabled; out->role is then the lower of the token's and the
 * user's current role. OTA_ENOTFOUND otherwise. Records the use (to the minute). */
ota_err store_token_auth(store_t *s, const char *hash, int64_t now_ms, store_token *out);
ota_err store_token_get(store_t *s, int64_t id, store_token *out);
/* API tokens not revoked, newest first: of one user (user_id > 0), of the bootstrap admin
 * token (0), or all (-1). items owned by the caller (free). */
ota_err store_token_list(store_t *s, int64_t user_id, store_page pg, store_token **items, size_t *n,
                         int64_t *total);
/* Revokes at once (later store_token_auth calls fail). OTA_ENOTFOUND when there is no
 * such token or it was already revoked. */
ota_err store_token_revoke(store_t *s, int64_t id, int64_t now_ms);

#endif
