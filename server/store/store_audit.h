/*
 * store_audit: the audit log on both databases (table of migration 6 in store_sqlite.c and
 * store_pg.c): one row per change made through the API (http/audit.c decides which), with
 * who, from where, what, on what and how it ended. A change writes its row in its own
 * transaction (store_audit_ctx), so a crash cannot keep one without the other. Rows are
 * only appended: nothing in otad updates or deletes them. docs/api.md ("Audit log") is the
 * user's view.
 *
 * Expected load: one INSERT per changing API call (tens a second at most); lists page by
 * id, newest first, so a page costs the same however long the log is.
 */
#ifndef OTAD_STORE_AUDIT_H
#define OTAD_STORE_AUDIT_H

#include "store/store.h"

#define STORE_AUDIT_DETAIL_MAX 4096 /* bytes of detail kept (the batch parameters) */

typedef struct {
    int64_t id;
    int64_t time_ms;
    char actor[160];  /* http_caller.actor, or the user name a sign-in tried, or "-" */
    char source[64];  /* the client's address */
    char action[64];  /* "batch.create", "auth.login", ... (docs/api.md lists them) */
    char object[256]; /* "batch:12", "user:alice", ... */
    char result[64];  /* "ok", or "<status> <error code>" */
    char detail[STORE_AUDIT_DETAIL_MAX]; /* JSON text or "" */
} store_audit;

/* Filters of a list; NULL / 0 = any. */
typedef struct {
    const char *actor, *action, *object;
    int64_t from_ms, to_ms; /* time_ms >= from_ms, < to_ms */
    int64_t before_id;      /* cursor: rows with a smaller id */
} store_audit_filter;

/* The audit row of the change the calling thread is about to make through the store.
 * A change and its row commit in one transaction (or neither does): the caller fills row
 * (time, actor, source, action, object, result "ok", detail) and binds the context to its
 * thread with store_audit_bind before the call that changes something; that call writes
 * row in its own transaction and sets written once it has committed. The store names what
 * it created ("product:<key>", "batch:<id>") in row.object unless object_named is set.
 * Attempts that change nothing (a refusal, a rule broken) leave written 0: their row is
 * the caller's to append (store_audit_append). */
typedef struct {
    store_audit row;
    int object_named; /* row.object was set by the caller and stays */
    int written;      /* a change committed with row */
} store_audit_ctx;

/* Binds c to the calling thread (NULL unbinds): until unbound, the first change this
 * thread makes through the store writes c->row with it. c stays the caller's. */
void store_audit_bind(store_audit_ctx *c);

/* Appends one row (id ignored) in a transaction of its own. OTA_EDB (logged) when the
 * store fails. */
ota_err store_audit_append(store_t *s, const store_audit *a);
/* Up to limit (1..1000) rows matching f, newest first, into *items (free) and *n; *next_id
 * the cursor for the next page (the last row's id), 0 when this is the last page. */
ota_err store_audit_list(store_t *s, const store_audit_filter *f, int limit, store_audit **items,
                         size_t *n, int64_t *next_id);

#endif
