/*
 * blob_pg: firmware bytes in the PostgreSQL database of the store (OTA_BLOB=postgresql),
 * so every otad instance on that database can serve every firmware. One row per distinct
 * content, blobs(sha256 primary key, size, chunk_size), and its bytes in 1 MiB rows
 * blob_chunks(sha256, n, data bytea) (stored out of line, uncompressed), written and read
 * a chunk at a time, never whole in memory.
 *
 * A put stages the upload in the data folder first, exactly as blob_fs does (the client
 * may be slow: no connection or transaction is held while it sends). Its commit (under
 * blob_lock, just before the firmware row is added), knowing the sha256, adds the blobs
 * row and copies the file into chunk rows in one transaction, unless the blob is stored
 * already. A failure or a crash before that commit rolls everything back: PostgreSQL
 * never holds a partial blob, and no temp rows need sweeping, even across instances.
 *
 * The instance that received the upload keeps the staged file as its local copy,
 * DATA/firmware/<sha256> (the fs layout), and serves it by file descriptor; any other
 * instance (or this one without the file) serves the bytes from PostgreSQL, one
 * substring of one chunk row per read (what the caller asks, within one row), through
 * http_send_blob's callback response. The local copy is only a cache: it is removed with the blob,
 * and swept like fs files when no row uses it.
 *
 * Why chunk rows and not large objects (both measured, docs/postgresql.md): the same
 * upload and download times within noise, a quarter less disk (pg_largeobject's 2 KiB
 * pages fit three to an 8 KiB page), nothing outside ordinary tables (no lo_unlink to
 * forget, ordinary privileges, dumps and vacuum), and the delete is one cascading DELETE.
 *
 * Connections are borrowed from the store's pool (store_pg.h; the one place outside
 * server/store/ that uses it, because the blobs live in the store's database): a put holds
 * one during its commit (the lock holder needs two at most, so pool_max >= 2); a read
 * borrows one per chunk, so a slow download does not keep one. blob_lock adds a session advisory
 * lock (on its own borrowed connection) so the "commit blob + add row" / "delete row + remove blob"
 * rule holds across instances.
 */
#ifdef OTA_HAVE_PG

#include "blob/blob_internal.h"
#include "store/store_pg.h"

#include "ota_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1024 * 1024) /* bytes per blob_chunks row, and at most per read */
#define LOCK_KEY "hashtext('otad blobs')"

typedef struct {
    store_pg_conn *lock_conn; /* held between blob_lock and blob_unlock */
} pg_blobs;

typedef struct {
    store_pg_conn *c; /* inside the commit: the open transaction with the rows */
    int in_pg;        /* the row was there already (another upload of the same bytes) */
} pg_put;

typedef struct {
    char sha256[65];
    int chunk_size;
} pg_reader;

static PGresult *run(PGconn *pg, const char *sql, int n, const char *const *vals, int binary,
                     const char *what)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, binary);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        OTA_ERROR("blob: %s: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static int run_cmd(PGconn *pg, const char *sql, int n, const char *const *vals, const char *what)
{
    PGresult *r = run(pg, sql, n, vals, 0, what);
    PQclear(r);
    return r ? 0 : -1;
}

static int pg_open(blob_store *b, char *err, size_t errlen)
{
    if (!b->store || strcmp(store_kind(b->store), "postgresql") != 0) {
        snprintf(err, errlen, "OTA_BLOB=postgresql needs OTA_DB to be a postgresql:// URL");
        return -1;
    }
    store_pg_conn *c = store_pg_conn_get(b->store);
    if (!c) {
        snprintf(err, errlen, "cannot connect to PostgreSQL for the blob store");
        return -1;
    }
    /* the table is created here rather than by a store migration (the store does not know
     * about blobs); the migrations' lock keeps two starting instances from racing */
    int rc = run_cmd(c->pg, "BEGIN", 0, NULL, "begin");
    if (rc == 0)
        rc = run_cmd(c->pg, "SELECT pg_advisory_xact_lock(hashtext('otad schema migrations'))", 0,
                     NULL, "lock");
    if (rc == 0)
        rc = run_cmd(c->pg,
                     "CREATE TABLE IF NOT EXISTS blobs (sha256 text PRIMARY KEY,"
                     " size bigint NOT NULL, chunk_size int NOT NULL, created_ms bigint NOT NULL"
                     " DEFAULT (extract(epoch from now()) * 1000)::bigint)",
                     0, NULL, "create table blobs");
    /* chunks stored out of line and uncompressed (firmware is mostly compressed already):
     * a substring of one is read from the TOAST pieces it covers only */
    if (rc == 0)
        rc = run_cmd(c->pg,
                     "CREATE TABLE IF NOT EXISTS blob_chunks (sha256 text NOT NULL"
                     " REFERENCES blobs ON DELETE CASCADE, n int NOT NULL, data bytea NOT NULL,"
                     " PRIMARY KEY (sha256, n))",
                     0, NULL, "create table blob_chunks");
    if (rc == 0)
        rc = run_cmd(c->pg, "ALTER TABLE blob_chunks ALTER data SET STORAGE EXTERNAL", 0, NULL,
                     "chunk storage");
    if (rc == 0)
        rc = run_cmd(c->pg, "COMMIT", 0, NULL, "commit");
    if (rc != 0)
        store_pg_rollback(c);
    store_pg_conn_put(b->store, c);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the blobs table (see the log)");
        return -1;
    }
    b->impl = calloc(1, sizeof(pg_blobs));
    if (!b->impl)
        abort();
    return 0;
}

static void pg_close(blob_store *b)
{
    free(b->impl);
}

static int pg_exists(blob_store *b, const char *sha256);

/* ---- put: staged locally, copied into chunk rows, committed with its row ---------------- */

static int pg_put_begin(blob_put *p)
{
    if (blob_fs_ops.put_begin(p) != 0)
        return -1;
    p->impl = calloc(1, sizeof(pg_put));
    if (!p->impl)
        abort();
    return 0;
}

static int pg_put_write(blob_put *p, const void *data, size_t len)
{
    return blob_fs_ops.put_write(p, data, len);
}

/* Borrows a connection, BEGIN, adds the row (unless the blob is there: q->in_pg) and
 * copies the staged file into CHUNK-byte rows; the transaction stays open in q->c (the
 * caller commits it). */
static int copy_into_pg(blob_put *p, pg_put *q)
{
    char *buf = malloc(CHUNK);
    char size[24], chunk[16], n_s[16];
    int fd = -1, rc = -1;
    uint64_t done = 0;
    q->c = store_pg_conn_get(p->b->store);
    if (!buf || !q->c || run_cmd(q->c->pg, "BEGIN", 0, NULL, "begin upload") != 0)
        goto out;
    snprintf(size, sizeof size, "%llu", (unsigned long long)p->size);
    snprintf(chunk, sizeof chunk, "%d", CHUNK);
    const char *vals[3] = {p->sha256_hex, size, chunk};
    PGresult *r = run(q->c->pg,
                      "INSERT INTO blobs (sha256, size, chunk_size) VALUES ($1, $2::bigint,"
                      " $3::int) ON CONFLICT (sha256) DO NOTHING",
                      3, vals, 0, "add blob");
    if (!r)
        goto out;
    /* 0 rows: the same bytes were stored meanwhile (the insert waited for them): share */
    q->in_pg = strcmp(PQcmdTuples(r), "1") != 0;
    PQclear(r);
    if (q->in_pg) {
        rc = 0;
        goto out;
    }
    if ((fd = blob_fs__staged_fd(p)) < 0)
        goto out;
    for (int n = 0; done < p->size; n++) {
        ssize_t got = pread(fd, buf, CHUNK, (off_t)done);
        if (got <= 0) {
            OTA_ERROR("blob: reading the staged upload: %s", got < 0 ? strerror(errno) : "short");
            goto out;
        }
        snprintf(n_s, sizeof n_s, "%d", n);
        const char *cv[3] = {p->sha256_hex, n_s, buf};
        const int lens[3] = {0, 0, (int)got}, fmts[3] = {0, 0, 1}; /* the bytes as binary */
        r = PQexecParams(q->c->pg,
                         "INSERT INTO blob_chunks (sha256, n, data) VALUES ($1, $2::int, $3)", 3,
                         NULL, cv, lens, fmts, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            OTA_ERROR("blob: add chunk: %s", PQresultErrorMessage(r));
            PQclear(r);
            goto out;
        }
        PQclear(r);
        done += (uint64_t)got;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    if ((rc != 0 || q->in_pg) && q->c) {
        store_pg_rollback(q->c); /* nothing of this put stays */
        store_pg_conn_put(p->b->store, q->c);
        q->c = NULL;
    }
    return rc;
}

static void end_tx(blob_put *p, pg_put *q)
{
    if (!q->c)
        return;
    store_pg_rollback(q->c);
    store_pg_conn_put(p->b->store, q->c);
    q->c = NULL;
}

static int pg_put_finish(blob_put *p)
{
    return blob_fs_ops.put_finish(p); /* the staged file is durable */
}

/* Under blob_lock: unless the blob is stored already, the bytes go into PostgreSQL here, in
 * one transaction committed before the firmware row is added. Doing it under the lock (a
 * 100 MB copy takes about a second) means a waiting upload holds no connection: the lock
 * holder needs two at most (the lock's, then this copy's or the store's). */
static int pg_put_commit(blob_put *p)
{
    pg_put *q = p->impl;
    int e = pg_exists(p->b, p->sha256_hex);
    if (e < 0 || (e == 0 && copy_into_pg(p, q) != 0))
        return -1;
    if (q->c) {
        int rc = run_cmd(q->c->pg, "COMMIT", 0, NULL, "commit blob");
        store_pg_conn_put(p->b->store, q->c);
        q->c = NULL;
        if (rc != 0)
            return -1;
    }
    /* this instance's local copy, served by file descriptor; only a cache: without it the
     * bytes come from PostgreSQL */
    if (blob_fs_ops.put_commit(p) != 0)
        OTA_WARN("blob: no local copy of %s (served from PostgreSQL)", p->sha256_hex);
    return 0;
}

static void pg_put_drop(blob_put *p)
{
    pg_put *q = p->impl;
    if (q) {
        end_tx(p, q); /* not committed: the rows go with the transaction */
        free(q);
        p->impl = NULL;
    }
    blob_fs_ops.put_drop(p);
}

/* ---- lock across instances ---------------------------------------------------------------- */

static void pg_lock(blob_store *b)
{
    pg_blobs *s = b->impl;
    s->lock_conn = store_pg_conn_get(b->store);
    if (!s->lock_conn ||
        run_cmd(s->lock_conn->pg, "SELECT pg_advisory_lock(" LOCK_KEY ")", 0, NULL, "lock") != 0)
        OTA_WARN("blob: the lock across instances is not held (this process's is)");
}

static void pg_unlock(blob_store *b)
{
    pg_blobs *s = b->impl;
    if (!s->lock_conn)
        return;
    run_cmd(s->lock_conn->pg, "SELECT pg_advisory_unlock(" LOCK_KEY ")", 0, NULL, "unlock");
    store_pg_conn_put(b->store, s->lock_conn);
    s->lock_conn = NULL;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static int pg_exists(blob_store *b, const char *sha256)
{
    store_pg_conn *c = store_pg_conn_get(b->store);
    if (!c)
        return -1;
    PGresult *r = run(c->pg, "SELECT 1 FROM blobs WHERE sha256 = $1", 1, &sha256, 0, "exists");
    int rc = r ? PQntuples(r) > 0 : -1;
    PQclear(r);
    store_pg_conn_put(b->store, c);
    return rc;
}

static void pg_remove(blob_store *b, const char *sha256)
{
    store_pg_conn *c = store_pg_conn_get(b->store);
    if (!c)
        return;
    /* the row and its chunks (ON DELETE CASCADE) in one statement */
    PQclear(run(c->pg, "DELETE FROM blobs WHERE sha256 = $1", 1, &sha256, 0, "remove blob"));
    store_pg_conn_put(b->store, c);
    blob_fs_ops.remove(b, sha256); /* and this instance's local copy */
}

static int pg_each(blob_store *b, int (*fn)(blob_store *b, const char *sha256))
{
    store_pg_conn *c = store_pg_conn_get(b->store);
    int n = 0;
    if (!c)
        return 0;
    PGresult *r = run(c->pg, "SELECT sha256 FROM blobs ORDER BY sha256", 0, NULL, 0, "list");
    store_pg_conn_put(b->store, c); /* fn borrows its own */
    for (int i = 0; r && i < PQntuples(r); i++)
        n += fn(b, PQgetvalue(r, i, 0));
    PQclear(r);
    return n + blob_fs_ops.each(b, fn); /* local copies no row uses */
}

static int pg_sweep_tmp(blob_store *b)
{
    return blob_fs_ops.sweep_tmp(b);
}

/* ---- reading ------------------------------------------------------------------------------ */

static ota_err pg_reader_open(blob_reader *rd, const char *sha256)
{
    ota_err rc = blob_fs_ops.reader_open(rd, sha256); /* this instance's copy first */
    if (rc != OTA_ENOTFOUND)
        return rc;
    store_pg_conn *c = store_pg_conn_get(rd->b->store);
    if (!c)
        return OTA_EDB;
    PGresult *r = run(c->pg, "SELECT size, chunk_size FROM blobs WHERE sha256 = $1", 1, &sha256, 0,
                      "open blob");
    store_pg_conn_put(rd->b->store, c);
    if (!r)
        return OTA_EDB;
    if (PQntuples(r) == 0) {
        rc = OTA_ENOTFOUND;
    } else {
        pg_reader *q = calloc(1, sizeof *q);
        if (!q)
            abort();
        rd->size = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(q->sha256, sizeof q->sha256, "%s", sha256);
        q->chunk_size = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
        if (q->chunk_size <= 0)
            q->chunk_size = CHUNK;
        rd->impl = q;
        rc = OTA_OK;
    }
    PQclear(r);
    return rc;
}

/* One read stays inside one chunk: substring of that row (only the TOAST pieces it covers
 * are read). */
static ssize_t pg_read_at(blob_reader *rd, uint64_t off, void *buf, size_t len)
{
    pg_reader *q = rd->impl;
    char n_s[24], from[24], cnt[24];
    if (rd->fs)
        return blob_fs_ops.read_at(rd, off, buf, len);
    uint64_t n = off / (uint64_t)q->chunk_size, in = off % (uint64_t)q->chunk_size;
    if (len > (uint64_t)q->chunk_size - in)
        len = (size_t)((uint64_t)q->chunk_size - in);
    snprintf(n_s, sizeof n_s, "%llu", (unsigned long long)n);
    snprintf(from, sizeof from, "%llu", (unsigned long long)in + 1);
    snprintf(cnt, sizeof cnt, "%zu", len);
    const char *vals[4] = {q->sha256, n_s, from, cnt};
    store_pg_conn *c = store_pg_conn_get(rd->b->store);
    if (!c)
        return -1;
    /* binary result: the bytes as they are, no hex to decode */
    PGresult *r = run(c->pg,
                      "SELECT substring(data from $3::int for $4::int) FROM blob_chunks"
                      " WHERE sha256 = $1 AND n = $2::int",
                      4, vals, 1, "read blob");
    store_pg_conn_put(rd->b->store, c);
    if (!r)
        return -1;
    ssize_t got = -1;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && PQgetlength(r, 0, 0) > 0) {
        got = PQgetlength(r, 0, 0);
        if ((size_t)got > len)
            got = (ssize_t)len;
        memcpy(buf, PQgetvalue(r, 0, 0), (size_t)got);
    }
    PQclear(r);
    return got;
}

static int pg_reader_take_fd(blob_reader *rd)
{
    return rd->fs ? blob_fs_ops.reader_take_fd(rd) : -1;
}

static void pg_reader_close(blob_reader *rd)
{
    if (rd->fs)
        blob_fs_ops.reader_close(rd);
    free(rd->impl);
}

const blob_ops blob_pg_ops = {
    .kind = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .put_begin = pg_put_begin,
    .put_write = pg_put_write,
    .put_finish = pg_put_finish,
    .put_commit = pg_put_commit,
    .put_drop = pg_put_drop,
    .lock = pg_lock,
    .unlock = pg_unlock,
    .exists = pg_exists,
    .remove = pg_remove,
    .each = pg_each,
    .sweep_tmp = pg_sweep_tmp,
    .reader_open = pg_reader_open,
    .read_at = pg_read_at,
    .reader_take_fd = pg_reader_take_fd,
    .reader_close = pg_reader_close,
};

#endif /* OTA_HAVE_PG */
