/*
 * store_each: a fresh store per database for the unit tests that run on both (store_each.h).
 */
#include "store_each.h"

#include "ota_crypto.h"

#ifdef OTA_HAVE_PG
#include <libpq-fe.h>
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void store_each_sqlite(void (*cases)(store_t *s))
{
    char dir[] = "/tmp/ota-store-each-XXXXXX", url[128], err[256], path[96];
    store_t *s = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/ota.db", dir);
    assert_int_equal(store_open(url, &s, err, sizeof err), OTA_OK);
    cases(s);
    store_close(s);
    snprintf(path, sizeof path, "%s/ota.db", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/ota.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/ota.db-shm", dir);
    unlink(path);
    rmdir(dir);
}

#ifdef OTA_HAVE_PG
static int pg_admin(const char *admin, const char *sql)
{
    PGconn *c = PQconnectdb(admin);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    PQfinish(c);
    return ok ? 0 : -1;
}
#endif

void store_each_postgresql(const char *tag, void (*cases)(store_t *s))
{
#ifdef OTA_HAVE_PG
    const char *admin = getenv("OTA_TEST_PG_URL");
    char hex[17], db[64], url[1200], q[128], err[256];
    if (!admin || !*admin) {
        skip();
        return;
    }
    assert_int_equal(ota_random_hex(8, hex), 0);
    snprintf(db, sizeof db, "ota_%s_%s", tag, hex);
    /* the URL's database name replaced, as the harness does */
    const char *auth = strstr(admin, "://");
    assert_non_null(auth);
    auth += 3;
    const char *rest = auth + strcspn(auth, "/?"), *query = strchr(rest, '?');
    snprintf(url, sizeof url, "%.*s/%s%s", (int)(rest - admin), admin, db, query ? query : "");
    snprintf(q, sizeof q, "CREATE DATABASE %s", db);
    assert_int_equal(pg_admin(admin, q), 0);
    store_t *s = NULL;
    ota_err rc = store_open(url, &s, err, sizeof err);
    if (rc == OTA_OK)
        cases(s);
    store_close(s);
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    pg_admin(admin, q);
    assert_int_equal(rc, OTA_OK);
#else
    (void)tag;
    (void)cases;
    skip();
#endif
}
