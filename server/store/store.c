/*
 * store: opening and closing the store (store_open picks the implementation from the URL
 * scheme), the bulk import's dispatch, and the helpers every part of the store shares.
 * The catalog's functions are catalog.c's; no SQL here.
 */
#include "store/store_internal.h"
#ifdef OTA_HAVE_PG
#include "store/store_pg.h"
#endif

#include "ota_crypto.h"
#include "ota_log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ota_err open_url(const char *url, store_t **out, char *err, size_t errlen)
{
    if (url && strncmp(url, "sqlite:", 7) == 0)
        return store_sqlite_open(url + 7, out, err, errlen);
#ifdef OTA_HAVE_PG
    if (url && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0))
        return store_pg_open(url, out, err, errlen);
    snprintf(err, errlen, "unsupported database URL (sqlite: or postgresql://)");
#else
    snprintf(err, errlen,
             "unsupported database URL (only sqlite: is built in; PostgreSQL needs"
             " otad built with libpq)");
#endif
    return OTA_EDB;
}

ota_err store_open(const char *url, store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    ota_err rc = open_url(url, out, err, errlen);
    if (rc == OTA_OK) {
        store__tx_latency_init(*out);
        (*out)->parts_filter = PARTS_ALL;
    }
    const char *kill_after = getenv("OTA_TEST_KILL_AFTER_COMMIT");
    if (rc == OTA_OK && kill_after && *kill_after) {
        (*out)->test_kill_after = strtol(kill_after, NULL, 10);
        if ((*out)->test_kill_after > 0)
            OTA_WARN("store: test only: OTA_TEST_KILL_AFTER_COMMIT=%ld kills otad after that "
                     "many committed changes",
                     (*out)->test_kill_after);
    }
    return rc;
}

void store__tx_ended(store_t *s, store_tx_mode mode, int64_t t0_us, ota_err rc)
{
    store__tx_observe(s, (int)mode, t0_us);
    if (mode == STORE_TX_WRITE && rc == OTA_OK)
        store__test_after_commit(s);
}

void store__test_after_commit(store_t *s)
{
    if (s->test_kill_after > 0 && ++s->test_commits == s->test_kill_after)
        raise(SIGKILL);
}

void store_close(store_t *s)
{
    if (s)
        s->ops->close(s);
}

ota_err store_ping(store_t *s)
{
    return s ? s->ops->ping(s) : OTA_EDB;
}

const char *store_kind(const store_t *s)
{
    return s ? s->ops->kind : "none";
}

int store_schema_version(store_t *s)
{
    return s->ops->schema_version(s);
}

int store__product_key(char *out)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[11];
    if (ota_random_bytes(r, sizeof r) != 0)
        return -1;
    for (int i = 0; i < 11; i++)
        out[i] = set[r[i] % 62]; /* the slight bias does not matter for an identifier */
    out[11] = '\0';
    return 0;
}

typedef struct {
    store_t *s;
    store_q q;
    const store_args *a;
    store_row_fn row;
    void *ud;
    int64_t *changes;
} one_stmt;

static ota_err one_fn(store_tx *tx, void *ud)
{
    one_stmt *o = ud;
    return o->s->ops->query(tx, o->q, o->a, o->row, o->ud, o->changes);
}

ota_err store__one(store_t *s, store_q q, const store_args *a, store_row_fn row, void *ud,
                   int64_t *changes)
{
    one_stmt o = {s, q, a, row, ud, changes};
    return s->ops->tx(s, STORE_TX_ONE, one_fn, &o);
}

ota_err store__one_change(store_t *s, store_q q, const store_args *a, int64_t *changes)
{
    one_stmt o = {s, q, a, NULL, NULL, changes};
    return store__change(s, one_fn, &o);
}

int store__page_ok(store_page pg)
{
    return pg.page >= 1 && pg.page_size >= 1 && pg.page_size <= 1000;
}

ota_err store_import_begin(store_t *s, const char *product_key, int64_t now_ms, store_import **out)
{
    *out = NULL;
    store_import *im = calloc(1, sizeof *im);
    if (!im)
        abort();
    im->ops = s->ops;
    im->s = s;
    ota_err rc = s->ops->import_begin(s, product_key, now_ms, im);
    if (rc != OTA_OK) {
        free(im);
        return rc;
    }
    *out = im;
    return OTA_OK;
}

ota_err store_import_add(store_import *im, const char *identifier, const char *device_name)
{
    return im->ops->import_add(im, identifier, device_name);
}

ota_err store_import_commit(store_import *im, int64_t *created)
{
    ota_err rc = im->ops->import_commit(im, created);
    store__audit_committed(rc);
    if (rc == OTA_OK)
        store__test_after_commit(im->s);
    free(im);
    return rc;
}

void store_import_abort(store_import *im)
{
    if (!im)
        return;
    im->ops->import_abort(im);
    free(im);
}
