/*
 * pg_parts: partition leases on PostgreSQL (store_parts.h; tables from migration 8 of
 * store_pg.c). Every time is the database's clock, so instances on machines whose clocks
 * differ agree on who is live and which lease ran out.
 *
 * Locks. A unit of work fences itself (pg_fence) with FOR KEY SHARE on its instance's
 * lease rows: renewals and releases are plain updates of non-key columns (FOR NO KEY
 * UPDATE, which KEY SHARE does not block), while a takeover first locks the row FOR
 * UPDATE, which waits until every unit of work still holding it under the old owner has
 * ended. So the old owner's last round commits before the new owner's first one reads, and
 * a round that starts after the takeover finds the row no longer its own (OTA_EFENCED).
 * The fence also sets idle_in_transaction_session_timeout for the unit: an instance
 * stopped in the middle of a round (SIGSTOP, a VM pause) loses its transaction, and with
 * it the lock, after FENCE_IDLE_MS instead of blocking the takeover for ever.
 *
 * Notices (store_parts_notify): NOTIFY on one channel with the sender's name, LISTEN on a
 * connection outside the pool that the listener keeps.
 */
#ifdef OTA_HAVE_PG /* built with libpq only (server/CMakeLists.txt filters store_pg*.c) */

#include "ota_log.h"
#include "store/store_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FENCE_IDLE_MS "5000"

enum {
    P_SEEN = STORE_PG_Q_PARTS,
    P_RENEW,
    P_LEASES,
    P_LIVE,
    P_RELEASE,
    P_TAKE_LOCK,
    P_TAKE,
    P_LEAVE_LEASES,
    P_LEAVE_MEMBER,
    P_FENCE,
    P_NOTIFY,
    P_END
};
_Static_assert(P_END <= STORE_PG_Q_MAX, "parts statement ids");

/* the notices' channel (store_parts_notify); the payload is the sender's name */
#define NOTICE_CHANNEL "ota_batches"

#define DB_NOW "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
/* $N::bigint holds a set of partitions, bit p = partition p */
#define IN_SET(n, col) "((" n "::bigint >> " col ") & 1) = 1"

static const char *const sql[] = {
    [P_SEEN - P_SEEN] = "INSERT INTO otad_members(name, seen_ms) VALUES($1, " DB_NOW ")"
                       " ON CONFLICT (name) DO UPDATE SET seen_ms = EXCLUDED.seen_ms",
    [P_RENEW - P_SEEN] = "UPDATE partition_leases SET expires_ms = " DB_NOW " + $2,"
                        " applied_ms = $3 WHERE owner = $1 RETURNING part",
    [P_LEASES - P_SEEN] = "SELECT part, COALESCE(owner, ''), epoch, expires_ms, " DB_NOW
                         " FROM partition_leases ORDER BY part",
    [P_LIVE - P_SEEN] = "SELECT name, seen_ms FROM otad_members"
                       " WHERE seen_ms > " DB_NOW " - $1 ORDER BY name",
    [P_RELEASE - P_SEEN] = "UPDATE partition_leases SET owner = NULL, expires_ms = 0,"
                          " applied_ms = $3 WHERE owner = $1 AND " IN_SET("$2", "part"),
    /* waits for the old owner's units of work (their FOR KEY SHARE), then re-checks */
    [P_TAKE_LOCK - P_SEEN] = "SELECT part, applied_ms FROM partition_leases WHERE " IN_SET("$1", "part")
                            " AND (owner IS NULL OR expires_ms <= " DB_NOW ")"
                            " ORDER BY part FOR UPDATE",
    [P_TAKE - P_SEEN] = "UPDATE partition_leases SET owner = $1, epoch = epoch + 1,"
                       " expires_ms = " DB_NOW " + $3 WHERE " IN_SET("$2", "part"),
    [P_LEAVE_LEASES - P_SEEN] = "UPDATE partition_leases SET owner = NULL, expires_ms = 0"
                               " WHERE owner = $1",
    [P_LEAVE_MEMBER - P_SEEN] = "DELETE FROM otad_members WHERE name = $1",
    [P_FENCE - P_SEEN] =
        "WITH idle AS (SELECT set_config('idle_in_transaction_session_timeout', '" FENCE_IDLE_MS
        "', true))"
        " SELECT l.part FROM partition_leases l, idle WHERE l.owner = $1 AND " IN_SET("$2", "l.part")
        " FOR KEY SHARE OF l",
    [P_NOTIFY - P_SEEN] = "SELECT pg_notify('" NOTICE_CHANNEL "', $1)",
};

static PGresult *run(store_pg_conn *c, int q, const store_pg_params *p, const char *what)
{
    return store_pg_exec(c, q, sql[q - P_SEEN], p ? p->n : 0, p ? p->v : NULL, what);
}

static void p_set(store_pg_params *p, uint64_t set)
{
    store_pg_p_i64(p, (int64_t)set);
}

static uint64_t set_of_rows(const PGresult *r)
{
    uint64_t set = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t part = store_pg_i64(r, i, 0);
        if (part >= 0 && part < PARTS_N)
            set |= (uint64_t)1 << part;
    }
    return set;
}

static ota_err pg_renew(store_t *s, const char *me, int64_t ttl_ms, int64_t applied_ms,
                        uint64_t *owned)
{
    store_pg_params p = {0};
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    store_pg_p_str(&p, me);
    PGresult *r = run(c, P_SEEN, &p, "parts seen");
    if (r) {
        PQclear(r);
        store_pg_p_i64(&p, ttl_ms);
        store_pg_p_i64(&p, applied_ms);
        r = run(c, P_RENEW, &p, "parts renew");
    }
    store_pg_conn_put(s, c);
    if (!r)
        return OTA_EDB;
    *owned = set_of_rows(r);
    PQclear(r);
    return OTA_OK;
}

static ota_err pg_read(store_t *s, int64_t ttl_ms, parts_lease leases[PARTS_N],
                       store_member **live, size_t *n_live, int64_t *now_ms)
{
    store_pg_params p = {0};
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    PGresult *r = run(c, P_LEASES, NULL, "parts leases");
    PGresult *m = NULL;
    if (r) {
        store_pg_p_i64(&p, ttl_ms);
        m = run(c, P_LIVE, &p, "parts members");
    }
    store_pg_conn_put(s, c);
    if (!r || !m) {
        PQclear(r);
        return OTA_EDB;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t part = store_pg_i64(r, i, 0);
        if (part < 0 || part >= PARTS_N)
            continue;
        store_pg_text(r, i, 1, leases[part].owner, sizeof leases[part].owner);
        leases[part].epoch = store_pg_i64(r, i, 2);
        leases[part].expires_ms = store_pg_i64(r, i, 3);
        *now_ms = store_pg_i64(r, i, 4);
    }
    int n = PQntuples(m);
    *live = calloc((size_t)n + 1, sizeof **live);
    if (!*live)
        abort(); /* the daemon may abort on out-of-memory */
    for (int i = 0; i < n; i++) {
        store_pg_text(m, i, 0, (*live)[i].name, sizeof (*live)[i].name);
        (*live)[i].seen_ms = store_pg_i64(m, i, 1);
    }
    *n_live = (size_t)n;
    PQclear(r);
    PQclear(m);
    return OTA_OK;
}

static ota_err pg_release(store_t *s, const char *me, uint64_t set, int64_t applied_ms)
{
    store_pg_params p = {0};
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    store_pg_p_str(&p, me);
    p_set(&p, set);
    store_pg_p_i64(&p, applied_ms);
    PGresult *r = run(c, P_RELEASE, &p, "parts release");
    store_pg_conn_put(s, c);
    PQclear(r);
    return r ? OTA_OK : OTA_EDB;
}

static ota_err pg_take(store_t *s, const char *me, uint64_t set, int64_t ttl_ms, int64_t lock_ms,
                       uint64_t *taken, int64_t applied[PARTS_N])
{
    char timeout[64];
    store_pg_params p = {0};
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    ota_err rc = store_pg_begin(c);
    snprintf(timeout, sizeof timeout, "SET LOCAL lock_timeout = %lld", (long long)lock_ms);
    if (rc == OTA_OK)
        rc = store_pg_cmd(c, timeout, "parts lock timeout");
    PGresult *r = NULL;
    if (rc == OTA_OK) {
        p_set(&p, set);
        /* a lock wait that times out is normal: the old owner's round runs long, or it is
         * paused until the server ends its transaction; the next tick tries again */
        r = store_pg_exec_raw(c, P_TAKE_LOCK, sql[P_TAKE_LOCK - P_SEEN], p.n, p.v);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (state && strcmp(state, "55P03") == 0)
                OTA_INFO("parts: a partition to take is still in use by its old owner; "
                         "trying again");
            else
                store_pg_fail(c, r, "parts take");
            rc = OTA_EDB;
        }
    }
    uint64_t got = rc == OTA_OK ? set_of_rows(r) : 0;
    for (int i = 0; rc == OTA_OK && i < PQntuples(r); i++) {
        int64_t part = store_pg_i64(r, i, 0);
        if (part >= 0 && part < PARTS_N)
            applied[part] = store_pg_i64(r, i, 1);
    }
    PQclear(r);
    if (rc == OTA_OK && got) {
        store_pg_params q = {0};
        store_pg_p_str(&q, me);
        p_set(&q, got);
        store_pg_p_i64(&q, ttl_ms);
        r = run(c, P_TAKE, &q, "parts take");
        rc = r ? OTA_OK : OTA_EDB;
        PQclear(r);
    }
    if (rc == OTA_OK)
        rc = store_pg_commit(c);
    else
        store_pg_rollback(c);
    store_pg_conn_put(s, c);
    if (rc == OTA_OK)
        *taken = got;
    return rc;
}

static ota_err pg_leave(store_t *s, const char *me)
{
    store_pg_params p = {0};
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    store_pg_p_str(&p, me);
    PGresult *r = run(c, P_LEAVE_LEASES, &p, "parts leave");
    PGresult *m = r ? run(c, P_LEAVE_MEMBER, &p, "parts leave") : NULL;
    store_pg_conn_put(s, c);
    PQclear(r);
    PQclear(m);
    return r && m ? OTA_OK : OTA_EDB;
}

static ota_err pg_fence(void *impl, const char *me, uint64_t set)
{
    store_pg_params p = {0};
    store_pg_p_str(&p, me);
    p_set(&p, set);
    /* with the unit's BEGIN, in one round trip */
    PGresult *r = store_pg_uow_read(impl, P_FENCE, sql[P_FENCE - P_SEEN], &p, "engine fence");
    if (!r)
        return OTA_EDB;
    uint64_t held = set_of_rows(r);
    PQclear(r);
    return held == set ? OTA_OK : OTA_EFENCED;
}

static ota_err pg_notify(store_t *s, const char *me)
{
    store_pg_params p = {0};
    store_pg_conn *c = store_pg_conn_get(s);
    if (!c)
        return OTA_EDB;
    store_pg_p_str(&p, me);
    PGresult *r = run(c, P_NOTIFY, &p, "parts notify");
    store_pg_conn_put(s, c);
    PQclear(r);
    return r ? OTA_OK : OTA_EDB;
}

static ota_err pg_listen(store_t *s, void **impl)
{
    store_pg_conn *c = store_pg_conn_own(s);
    if (!c)
        return OTA_EDB;
    if (store_pg_cmd(c, "LISTEN " NOTICE_CHANNEL, "parts listen") != OTA_OK) {
        store_pg_conn_close(c);
        return OTA_EDB;
    }
    *impl = c;
    return OTA_OK;
}

static int pg_listen_wait(void *impl, const char *me, int wait_ms)
{
    store_pg_conn *c = impl;
    int got = 0;
    PGnotify *n;
    struct pollfd pf = {PQsocket(c->pg), POLLIN, 0};
    if (pf.fd < 0 || PQstatus(c->pg) != CONNECTION_OK)
        return -1;
    int ready = poll(&pf, 1, wait_ms);
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    if (ready == 0)
        return 0;
    if (!PQconsumeInput(c->pg)) {
        char m[256];
        snprintf(m, sizeof m, "%s", PQerrorMessage(c->pg));
        m[strcspn(m, "\n")] = '\0';
        OTA_WARN("store: the notices' connection to PostgreSQL: %s", m);
        return -1;
    }
    while ((n = PQnotifies(c->pg)) != NULL) {
        got += strcmp(n->extra, me) != 0; /* our own come back too */
        PQfreemem(n);
    }
    return got;
}

static void pg_listen_close(void *impl)
{
    store_pg_conn_close(impl);
}

const store_parts_ops store_pg_parts_ops = {
    .renew = pg_renew,
    .read = pg_read,
    .release = pg_release,
    .take = pg_take,
    .leave = pg_leave,
    .fence = pg_fence,
    .notify = pg_notify,
    .listen = pg_listen,
    .listen_wait = pg_listen_wait,
    .listen_close = pg_listen_close,
};

#else
typedef int pg_parts_not_built; /* an empty file is not valid ISO C */
#endif
