/*
 * test_store_pg: the PostgreSQL store (server/store/store_pg.c, pg_batch.c) through the
 * public store.h / store_batch.h functions, against a real server. Runs only when
 * OTA_TEST_PG_URL names one (e.g. postgresql:///postgres?host=/var/run/postgresql; see
 * scripts/pg-test.sh); every test is skipped otherwise. Each run creates a fresh database
 * ota_unit_<random> through that URL and drops it at the end.
 *
 * Besides the SQLite version's rules (fields named, 50-firmware limit, import all or
 * nothing, refusals of a directed batch), it checks what only a server with concurrent
 * writers can get wrong: two stores migrating one database at once, two batch creates for
 * one product, firmware creates racing the limit, and a terminate racing the engine's unit
 * of work.
 */
#include "store/store.h"
#include "store/store_batch.h"
#include "store/store_ddi.h"

#include "ota_crypto.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char admin_url[1024]; /* OTA_TEST_PG_URL */
static char db_name[40];
static char db_url[1100];
static store_t *st;
static int64_t now_ms = 1700000000000LL;

/* ---- database per run ---------------------------------------------------------------- */

static int admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(admin_url);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

/* Runs SQL on the test database (for setting up states the API would take long to reach). */
static int db_exec(const char *sql)
{
    PGconn *c = PQconnectdb(db_url);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    const char *u = getenv("OTA_TEST_PG_URL");
    char hex[17], q[128];
    if (!u || !*u)
        return 0; /* every test skips */
    snprintf(admin_url, sizeof admin_url, "%s", u);
    if (ota_random_hex(8, hex) != 0)
        return -1;
    snprintf(db_name, sizeof db_name, "ota_unit_%s", hex);
    /* same rewrite as the harness: the URL's database name replaced */
    const char *auth = strstr(admin_url, "://");
    if (!auth)
        return -1;
    auth += 3;
    const char *rest = auth + strcspn(auth, "/?");
    const char *query = strchr(rest, '?');
    snprintf(db_url, sizeof db_url, "%.*s/%s%s", (int)(rest - admin_url), admin_url, db_name,
             query ? query : "");
    snprintf(q, sizeof q, "CREATE DATABASE %s", db_name);
    return admin_exec(q);
}

static int teardown(void **state)
{
    (void)state;
    char q[128];
    store_close(st);
    st = NULL;
    if (!db_name[0])
        return 0;
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    return admin_exec(q);
}

#define NEED_PG()                                                                               \
    do {                                                                                        \
        if (!db_name[0]) {                                                                      \
            skip();                                                                             \
            return;                                                                             \
        }                                                                                       \
    } while (0)

static store_page page(int p, int size)
{
    store_page pg = {p, size};
    return pg;
}

/* ---- open and migrations ----------------------------------------------------------- */

typedef struct {
    ota_err rc;
    int version;
} open_result;

static void *open_thread(void *arg)
{
    open_result *r = arg;
    store_t *s = NULL;
    char err[256];
    r->rc = store_open(db_url, &s, err, sizeof err);
    r->version = r->rc == OTA_OK ? store_schema_version(s) : -1;
    store_close(s);
    return NULL;
}

static void test_open_migrate(void **state)
{
    (void)state;
    NEED_PG();
    /* two stores migrating the empty database at once: the advisory lock makes one wait */
    pthread_t t[2];
    open_result r[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, open_thread, &r[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, OTA_OK);
        /* both see every migration applied, once (the number grows with the schema) */
        assert_true(r[i].version >= 8);
        assert_int_equal(r[i].version, r[0].version);
    }
    char err[256], url[1200];
    snprintf(url, sizeof url, "%s%spool_max=4", db_url, strchr(db_url, '?') ? "&" : "?");
    assert_int_equal(store_open(url, &st, err, sizeof err), OTA_OK);
    assert_string_equal(store_kind(st), "postgresql");
    assert_int_equal(store_schema_version(st), r[0].version);
    assert_int_equal(store_ping(st), OTA_OK);
    store_t *bad = NULL;
    snprintf(url, sizeof url, "%s%spool_max=0", db_url, strchr(db_url, '?') ? "&" : "?");
    assert_int_equal(store_open(url, &bad, err, sizeof err), OTA_EDB);
    assert_null(bad);
}

/* ---- catalog ------------------------------------------------------------------------- */

static store_product prod_a;

static void test_products_devices(void **state)
{
    (void)state;
    NEED_PG();
    store_product p, *items;
    store_device d, *devs;
    size_t n;
    int64_t total;
    assert_int_equal(store_product_create(st, "Lamp", "a lamp", now_ms, &prod_a), OTA_OK);
    assert_int_equal(strlen(prod_a.product_key), 11);
    assert_int_equal(store_product_create(st, "Fan", NULL, now_ms, &p), OTA_OK);
    assert_int_equal(store_product_get(st, prod_a.product_key, &p), OTA_OK);
    assert_string_equal(p.name, "Lamp");
    assert_string_equal(p.description, "a lamp");
    assert_int_equal(store_product_get(st, "nope", &p), OTA_ENOTFOUND);
    assert_int_equal(store_product_list(st, page(1, 10), &items, &n, &total), OTA_OK);
    assert_int_equal(total, 2);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].name, "Lamp"); /* by id */
    free(items);

    assert_int_equal(store_device_create(st, prod_a.product_key, "d1", "厨房 #1", now_ms, &d),
                     OTA_OK);
    assert_string_equal(d.device_name, "厨房 #1");
    assert_int_equal(d.has_version, 0);
    assert_int_equal(store_device_create(st, prod_a.product_key, "d1", "x", now_ms, &d),
                     OTA_EDUPLICATE);
    assert_int_equal(store_device_create(st, "nope", "d1", "x", now_ms, &d), OTA_ENOTFOUND);
    assert_int_equal(store_device_create(st, prod_a.product_key, "d2", "two", now_ms, &d), OTA_OK);
    assert_int_equal(store_device_set_online(st, prod_a.product_key, "d2", 1, now_ms + 5), OTA_OK);
    assert_int_equal(store_device_set_version(st, prod_a.product_key, "d2", "1.0", now_ms + 6),
                     OTA_OK);
    assert_int_equal(store_device_set_online(st, prod_a.product_key, "zz", 1, now_ms),
                     OTA_ENOTFOUND);
    assert_int_equal(store_device_get(st, prod_a.product_key, "d2", &d), OTA_OK);
    assert_int_equal(d.online, 1);
    assert_int_equal(d.activated, 1);
    assert_int_equal(d.activated_ms, now_ms + 5);
    assert_int_equal(d.last_seen_ms, now_ms + 6);
    assert_int_equal(d.has_version, 1);
    assert_string_equal(d.firmware_version, "1.0");
    assert_int_equal(store_device_list(st, prod_a.product_key, 1, page(1, 10), &devs, &n, &total),
                     OTA_OK);
    assert_int_equal(total, 1);
    assert_string_equal(devs[0].identifier, "d2");
    free(devs);
    assert_int_equal(store_device_list(st, prod_a.product_key, -1, page(2, 1), &devs, &n, &total),
                     OTA_OK);
    assert_int_equal(total, 2);
    assert_int_equal(n, 1);
    assert_string_equal(devs[0].identifier, "d2");
    free(devs);
    assert_int_equal(store_device_list(st, "nope", -1, page(1, 1), &devs, &n, &total),
                     OTA_ENOTFOUND);
    assert_int_equal(
        store_device_list(st, prod_a.product_key, -1, page(1, 1001), &devs, &n, &total),
        OTA_EINVAL);
    assert_int_equal(store_device_all_offline(st), OTA_OK);
    assert_int_equal(store_product_get(st, prod_a.product_key, &p), OTA_OK);
    assert_int_equal(p.device_count, 2);
}

static void test_import(void **state)
{
    (void)state;
    NEED_PG();
    store_import *im;
    store_device d;
    int64_t created = 0;
    char ident[32];
    /* aborted: nothing stays */
    assert_int_equal(store_import_begin(st, prod_a.product_key, now_ms, &im), OTA_OK);
    assert_int_equal(store_import_add(im, "i-a", "A"), OTA_OK);
    store_import_abort(im);
    assert_int_equal(store_device_get(st, prod_a.product_key, "i-a", &d), OTA_ENOTFOUND);
    /* duplicates: in the product already, and earlier in the import */
    assert_int_equal(store_import_begin(st, prod_a.product_key, now_ms, &im), OTA_OK);
    assert_int_equal(store_import_add(im, "d1", "x"), OTA_EDUPLICATE);
    assert_int_equal(store_import_add(im, "i-b", "x"), OTA_OK);
    assert_int_equal(store_import_add(im, "i-b", "y"), OTA_EDUPLICATE);
    store_import_abort(im);
    assert_int_equal(store_import_begin(st, "nope", now_ms, &im), OTA_ENOTFOUND);
    /* COPY's special characters survive; many rows in one go */
    assert_int_equal(store_import_begin(st, prod_a.product_key, now_ms, &im), OTA_OK);
    assert_int_equal(store_import_add(im, "i-esc", "tab\there back\\slash nl\nend \\N"), OTA_OK);
    for (int i = 0; i < 20000; i++) {
        snprintf(ident, sizeof ident, "bulk-%05d", i);
        assert_int_equal(store_import_add(im, ident, "bulk"), OTA_OK);
    }
    assert_int_equal(store_import_commit(im, &created), OTA_OK);
    assert_int_equal(created, 20001);
    assert_int_equal(store_device_get(st, prod_a.product_key, "i-esc", &d), OTA_OK);
    assert_string_equal(d.device_name, "tab\there back\\slash nl\nend \\N");
    assert_int_equal(d.created_ms, now_ms);
    assert_int_equal(store_device_get(st, prod_a.product_key, "bulk-19999", &d), OTA_OK);
}

static store_firmware make_fw(const char *pk, const char *name, const char *version)
{
    store_firmware f;
    memset(&f, 0, sizeof f);
    snprintf(f.product_key, sizeof f.product_key, "%s", pk);
    snprintf(f.name, sizeof f.name, "%s", name);
    snprintf(f.version, sizeof f.version, "%s", version);
    snprintf(f.file_name, sizeof f.file_name, "%s.bin", name);
    f.size = 3;
    snprintf(f.md5, sizeof f.md5, "%032d", 0);
    snprintf(f.sha256, sizeof f.sha256, "%064d", 7);
    return f;
}

typedef struct {
    const char *pk;
    int base, ok, limit, other;
} fw_race;

static void *fw_race_thread(void *arg)
{
    fw_race *r = arg;
    for (int i = 0; i < 30; i++) {
        char name[32], ver[16];
        store_firmware out;
        const char *field;
        snprintf(name, sizeof name, "race-%d", r->base + i);
        snprintf(ver, sizeof ver, "9.%d", r->base + i);
        store_firmware f = make_fw(r->pk, name, ver);
        ota_err rc = store_firmware_create(st, &f, now_ms, &out, &field);
        if (rc == OTA_OK)
            r->ok++;
        else if (rc == OTA_ELIMIT && strcmp(field, "productKey") == 0)
            r->limit++;
        else
            r->other++;
    }
    return NULL;
}

static void test_firmware(void **state)
{
    (void)state;
    NEED_PG();
    store_firmware f, out, *items;
    store_product p2;
    const char *field = NULL;
    size_t n;
    int64_t total;
    int used;
    f = make_fw(prod_a.product_key, "fw-one", "1.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, &field), OTA_OK);
    assert_string_equal(out.product_key, prod_a.product_key);
    assert_string_equal(out.version, "1.0");
    int64_t fid = out.id;
    f = make_fw(prod_a.product_key, "fw-one", "1.1");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, &field), OTA_EDUPLICATE);
    assert_string_equal(field, "firmwareName");
    f = make_fw(prod_a.product_key, "fw-two", "1.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, &field), OTA_EDUPLICATE);
    assert_string_equal(field, "firmwareVersion");
    f = make_fw("nope", "fw-three", "1.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, &field), OTA_ENOTFOUND);
    assert_string_equal(field, "productKey");
    f = make_fw(prod_a.product_key, "fw-two", "2.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, &field), OTA_OK);
    assert_int_equal(store_firmware_list(st, prod_a.product_key, page(1, 10), &items, &n, &total),
                     OTA_OK);
    assert_int_equal(total, 2);
    assert_string_equal(items[0].name, "fw-two"); /* newest first */
    free(items);
    assert_int_equal(store_firmware_list(st, "nope", page(1, 10), &items, &n, &total),
                     OTA_ENOTFOUND);
    assert_int_equal(store_firmware_sha_used(st, out.sha256), 1);
    assert_int_equal(store_firmware_delete(st, out.id, &f, &used), OTA_OK);
    assert_int_equal(used, 1); /* fw-one has the same file */
    assert_int_equal(store_firmware_get(st, out.id, &f), OTA_ENOTFOUND);
    assert_int_equal(store_firmware_get(st, fid, &f), OTA_OK);

    /* 50 per product, with two writers racing for the last places */
    assert_int_equal(store_product_create(st, "Racer", "", now_ms, &p2), OTA_OK);
    fw_race r[2] = {{p2.product_key, 0, 0, 0, 0}, {p2.product_key, 100, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, fw_race_thread, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r[0].ok + r[1].ok, 50);
    assert_int_equal(r[0].limit + r[1].limit, 10);
    assert_int_equal(r[0].other + r[1].other, 0);
}

/* ---- batches ------------------------------------------------------------------------- */

static store_batch_new batch_new(int directed, const char *const *ids, size_t n)
{
    store_batch_new in = {.directed = directed, .identifiers = ids, .n_identifiers = n,
                          .policy = "standard", .validity_days = 1, .timeout_min = 10,
                          .retry_times = 1, .retry_interval_min = 1, .max_push_per_min = 1000};
    return in;
}

static int64_t fw_b; /* firmware 2.0 of product B */
static store_product prod_b;

static void test_batch_create_rules(void **state)
{
    (void)state;
    NEED_PG();
    store_batch b;
    store_batch_err err;
    store_firmware f, out;
    assert_int_equal(store_product_create(st, "B", "", now_ms, &prod_b), OTA_OK);
    const char *ids[] = {"b1", "b2", "b3", "b4", "b5"};
    for (int i = 0; i < 5; i++) {
        store_device d;
        assert_int_equal(store_device_create(st, prod_b.product_key, ids[i], ids[i], now_ms, &d),
                         OTA_OK);
    }
    f = make_fw(prod_b.product_key, "b-fw", "2.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, NULL), OTA_OK);
    fw_b = out.id;
    /* b1..b4 activated, b3 already on 2.0, b5 never connected */
    for (int i = 0; i < 4; i++)
        assert_int_equal(store_device_set_online(st, prod_b.product_key, ids[i], 1, now_ms),
                         OTA_OK);
    assert_int_equal(store_device_set_version(st, prod_b.product_key, "b3", "2.0", now_ms), OTA_OK);

    const char *nf[] = {"b1", "zz"};
    store_batch_new in = batch_new(1, nf, 2);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "device_not_found");
    assert_string_equal(err.field, "identifiers");
    assert_string_equal(err.identifier, "zz");
    const char *na[] = {"b5"};
    in = batch_new(1, na, 1);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "device_not_activated");
    const char *sv[] = {"b3"};
    in = batch_new(1, sv, 1);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "device_same_version");
    const char *rep[] = {"b1", "b2", "b1"};
    in = batch_new(1, rep, 3);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "device_busy");
    assert_string_equal(err.identifier, "b1");
    in = batch_new(1, NULL, 0);
    in.identifiers = ids;
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "no_devices");
    assert_string_equal(err.field, "identifiers");
    in = batch_new(0, NULL, 0);
    assert_int_equal(store_batch_create(st, 999999, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_ENOTFOUND);
    assert_string_equal(err.field, "firmwareId");

    /* directed b1: then b1 is busy, "all" takes b2 and b4 */
    const char *one[] = {"b1"};
    in = batch_new(1, one, 1);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err), OTA_OK);
    assert_int_equal(b.total, 1);
    assert_int_equal(b.counts[FSM_TO_PUSH], 1);
    assert_string_equal(b.scope, "directed");
    assert_string_equal(b.state, "in_progress");
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "device_busy");
    in = batch_new(0, NULL, 0);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms + 1, now_ms + 1000, &b, &err),
                     OTA_OK);
    assert_int_equal(b.total, 2);
    assert_string_equal(b.firmware_version, "2.0");
    assert_string_equal(b.product_key, prod_b.product_key);
    assert_int_equal(store_batch_create(st, fw_b, &in, now_ms, now_ms + 1000, &b, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "no_devices");
    assert_string_equal(err.field, "scope");

    /* a firmware with an in_progress batch is in use */
    assert_int_equal(store_firmware_delete(st, fw_b, NULL, NULL), OTA_EINUSE);
    /* lists: newest first, filters */
    store_batch *items;
    size_t n;
    int64_t total;
    store_batch_filter flt = {fw_b, NULL, NULL};
    assert_int_equal(store_batch_list(st, &flt, page(1, 10), &items, &n, &total), OTA_OK);
    assert_int_equal(total, 2);
    assert_int_equal(items[0].total, 2);
    free(items);
    flt = (store_batch_filter){0, prod_b.product_key, "completed"};
    assert_int_equal(store_batch_list(st, &flt, page(1, 10), &items, &n, &total), OTA_OK);
    assert_int_equal(total, 0);
    free(items);
}

typedef struct {
    int64_t fw;
    ota_err rc;
    int64_t total;
    const char *code;
} create_race;

static void *create_thread(void *arg)
{
    create_race *c = arg;
    store_batch b;
    store_batch_err err;
    store_batch_new in = batch_new(0, NULL, 0);
    c->rc = store_batch_create(st, c->fw, &in, now_ms, now_ms + 100000, &b, &err);
    c->total = c->rc == OTA_OK ? b.total : 0;
    c->code = err.code;
    return NULL;
}

static void test_batch_create_race(void **state)
{
    (void)state;
    NEED_PG();
    /* 300 activated devices in a new product; two "all" batches created at once: one gets
     * every device, the other finds none (as SQLite's one-writer-at-a-time gives), never a
     * unique-index error */
    store_product p;
    store_firmware f, out;
    store_import *im;
    char q[256];
    assert_int_equal(store_product_create(st, "Race", "", now_ms, &p), OTA_OK);
    assert_int_equal(store_import_begin(st, p.product_key, now_ms, &im), OTA_OK);
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        assert_int_equal(store_import_add(im, id, id), OTA_OK);
    }
    assert_int_equal(store_import_commit(im, NULL), OTA_OK);
    snprintf(q, sizeof q,
             "UPDATE devices SET activated=1 WHERE product_id=(SELECT id FROM products WHERE"
             " product_key='%s')",
             p.product_key);
    assert_int_equal(db_exec(q), 0);
    f = make_fw(p.product_key, "race-fw", "1.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, NULL), OTA_OK);
    create_race c[2] = {{out.id, 0, 0, NULL}, {out.id, 0, 0, NULL}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, create_thread, &c[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    int ok = (c[0].rc == OTA_OK) + (c[1].rc == OTA_OK);
    assert_int_equal(ok, 1);
    create_race *lost = c[0].rc == OTA_OK ? &c[1] : &c[0];
    create_race *won = c[0].rc == OTA_OK ? &c[0] : &c[1];
    assert_int_equal(won->total, 300);
    assert_int_equal(lost->rc, OTA_EINVAL);
    assert_string_equal(lost->code, "no_devices");
}

/* ---- the engine's unit of work -------------------------------------------------------- */

static void deadline_cb(void *ud, int64_t device_id, int kind, int64_t due_ms)
{
    (void)device_id;
    assert_int_equal(kind, FSM_DL_ACK);
    assert_int_equal(due_ms, now_ms + 10020);
    (*(int *)ud)++;
}

static int64_t batch_of_b; /* the "all" batch of product B (b2, b4) */

static void test_uow(void **state)
{
    (void)state;
    NEED_PG();
    store_uow *u;
    store_task t;
    int64_t id2, id4, id1;
    int pushable = 9, done = 0;
    char pk[16], ident[72];
    store_batch *rows;
    size_t n;
    assert_int_equal(store_engine_batches(st, &rows, &n), OTA_OK);
    for (size_t i = 0; i < n; i++)
        if (rows[i].product_id == prod_b.id && strcmp(rows[i].scope, "all") == 0)
            batch_of_b = rows[i].id;
    free(rows);
    assert_true(batch_of_b > 0);

    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b2", &id2), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b4", &id4), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b1", &id1), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "nope", &id1), OTA_ENOTFOUND);
    assert_int_equal(store_uow_device_names(u, id2, pk, sizeof pk, ident, sizeof ident), OTA_OK);
    assert_string_equal(ident, "b2");
    assert_string_equal(pk, prod_b.product_key);
    assert_int_equal(store_uow_device_presence(u, id2, 1, now_ms + 10), OTA_OK);
    assert_int_equal(store_uow_device_pushable(u, id2, &pushable, NULL), OTA_OK);
    assert_int_equal(pushable, 0); /* online, not ready */
    assert_int_equal(store_uow_device_ready(u, id2, now_ms + 20), OTA_OK);
    assert_int_equal(store_uow_device_pushable(u, id2, &pushable, NULL), OTA_OK);
    assert_int_equal(pushable, 1);
    /* an event for no known connection (stale, or no such device) changes nothing */
    assert_int_equal(store_uow_device_presence(u, 99999999, 1, now_ms), OTA_OK);
    /* a late "off" of an older connection does not hide the current one */
    assert_int_equal(store_uow_device_presence(u, id2, 0, now_ms + 5), OTA_OK);
    assert_int_equal(store_uow_device_pushable(u, id2, &pushable, NULL), OTA_OK);
    assert_int_equal(pushable, 1);

    /* push b2: to_push -> pushed with an ack deadline */
    assert_int_equal(store_uow_task_open(u, id2, &t), OTA_OK);
    assert_int_equal(t.batch_id, batch_of_b);
    assert_int_equal(t.task.state, FSM_TO_PUSH);
    t.task.state = FSM_PUSHED;
    t.task.attempt = 1;
    snprintf(t.task.push_msg_id, sizeof t.task.push_msg_id, "m-1");
    t.task.pushed_ms = now_ms + 20;
    t.task.deadline_kind = FSM_DL_ACK;
    t.task.deadline_ms = now_ms + 10020;
    assert_int_equal(store_uow_task_put(u, &t, now_ms + 20), OTA_OK);
    int delta[FSM_STATE_COUNT] = {0};
    delta[FSM_TO_PUSH] = -1;
    delta[FSM_PUSHED] = 1;
    assert_int_equal(store_uow_batch_counts(u, batch_of_b, delta), OTA_OK);
    int completed = 1;
    assert_int_equal(store_uow_batch_complete_if_done(u, batch_of_b, 0, now_ms, &completed), OTA_OK);
    assert_int_equal(completed, 0);
    assert_int_equal(store_uow_commit(u), OTA_OK);

    int deadlines = 0;
    assert_int_equal(store_engine_deadlines(st, INT64_MAX, INT64_MAX, deadline_cb, &deadlines),
                     OTA_OK);
    assert_int_equal(deadlines, 1);
    store_batch b;
    assert_int_equal(store_batch_get(st, batch_of_b, &b), OTA_OK);
    assert_int_equal(b.counts[FSM_PUSHED], 1);
    assert_int_equal(b.counts[FSM_TO_PUSH], 1);

    /* rolled back: nothing changes */
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_task_open(u, id2, &t), OTA_OK);
    assert_int_equal(t.task.state, FSM_PUSHED);
    assert_string_equal(t.task.push_msg_id, "m-1");
    assert_int_equal(t.task.deadline_kind, FSM_DL_ACK);
    assert_int_equal(t.task.deadline_ms, now_ms + 10020);
    t.task.state = FSM_SUCCEEDED;
    assert_int_equal(store_uow_task_put(u, &t, now_ms), OTA_OK);
    store_uow_rollback(u);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_task_open(u, id2, &t), OTA_OK);
    assert_int_equal(t.task.state, FSM_PUSHED);
    /* a terminate inside the unit (validity end) */
    assert_int_equal(store_uow_batch_terminate(u, batch_of_b, now_ms + 30, &done, NULL), OTA_OK);
    assert_int_equal(done, 1);
    assert_int_equal(store_uow_task_open(u, id2, &t), OTA_ENOTFOUND);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_batch_get(st, batch_of_b, &b), OTA_OK);
    assert_string_equal(b.state, "terminated");
    assert_int_equal(b.end_ms, now_ms + 30);
    assert_int_equal(b.counts[FSM_FAILED], 2);
    assert_int_equal(b.counts[FSM_PUSHED], 0);
    store_batch b2;
    assert_int_equal(store_batch_terminate(st, batch_of_b, now_ms, &b2, NULL), OTA_EINUSE);
    assert_string_equal(b2.state, "terminated");
    assert_int_equal(store_batch_terminate(st, 99999999, now_ms, &b2, NULL), OTA_ENOTFOUND);
    store_batch_device *devs;
    int64_t total;
    assert_int_equal(
        store_batch_devices(st, batch_of_b, FSM_FAILED, page(1, 10), &devs, &n, &total), OTA_OK);
    assert_int_equal(total, 2);
    assert_int_equal(n, 2);
    assert_string_equal(devs[0].identifier, "b2"); /* by device id */
    assert_int_equal(devs[0].reason, FSM_REASON_TERMINATED);
    assert_int_equal(devs[0].retry_times, 1);
    assert_true(devs[0].finish_ms == now_ms + 30);
    free(devs);
    assert_int_equal(store_batch_devices(st, 99999999, -1, page(1, 10), &devs, &n, &total),
                     OTA_ENOTFOUND);
}

static void count_cb(void *ud, int64_t device_id)
{
    (void)device_id;
    (*(int *)ud)++;
}

static void test_snapshot(void **state)
{
    (void)state;
    NEED_PG();
    store_uow *u;
    store_device d;
    char c1[64], c2[64];
    snprintf(c1, sizeof c1, "%s.b1", prod_b.product_key);
    snprintf(c2, sizeof c2, "%s.b5", prod_b.product_key);
    const char *clients[] = {c1, c2, "bad", "nope.x"};
    assert_int_equal(store_engine_presence_reset(st), OTA_OK);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_presence_snapshot(u, clients, 4, now_ms + 500), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_device_get(st, prod_b.product_key, "b5", &d), OTA_OK);
    assert_int_equal(d.online, 1);
    assert_int_equal(d.activated, 1);
    assert_int_equal(d.activated_ms, now_ms + 500);
    assert_int_equal(store_device_get(st, prod_b.product_key, "b2", &d), OTA_OK);
    assert_int_equal(d.online, 0);
    /* b1's directed task: pushable once ready */
    store_batch *rows;
    size_t n;
    int64_t directed = 0;
    assert_int_equal(store_engine_batches(st, &rows, &n), OTA_OK);
    for (size_t i = 0; i < n; i++)
        if (rows[i].product_id == prod_b.id)
            directed = rows[i].id;
    free(rows);
    int count = 0;
    assert_int_equal(store_engine_pushable(st, directed, 0, count_cb, &count), OTA_OK);
    assert_int_equal(count, 0);
    int64_t id1;
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b1", &id1), OTA_OK);
    assert_int_equal(store_uow_device_ready(u, id1, now_ms + 600), OTA_OK);
    assert_int_equal(store_uow_device_version(u, id1, "1.5", now_ms + 600), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_engine_pushable(st, directed, 0, count_cb, &count), OTA_OK);
    assert_int_equal(count, 1);

    /* a DDI device (docs/ddi.md, "Several otad"): a snapshot leaves it online, its last poll
     * (written in a batch) decides its offline */
    int64_t id2, k = -1;
    int pushable = 0, ddi = 0;
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b2", &id2), OTA_OK);
    assert_int_equal(store_uow_ddi_online(u, id2, now_ms + 700), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_presence_snapshot(u, clients, 4, now_ms + 800), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_pushable(u, id2, &pushable, &ddi), OTA_OK);
    store_uow_rollback(u);
    assert_int_equal(pushable, 1);
    assert_int_equal(ddi, 1);
    int64_t ids[2] = {id2, id2}, ms[2] = {now_ms + 900, now_ms + 850};
    assert_int_equal(store_ddi_polls_put(st, ids, ms, 2), OTA_OK);
    assert_int_equal(store_engine_ddi_offline(st, now_ms + 900, &k), OTA_OK);
    assert_int_equal(k, 0);
    assert_int_equal(store_device_get(st, prod_b.product_key, "b2", &d), OTA_OK);
    assert_int_equal(d.online, 1);
    assert_int_equal(store_engine_ddi_offline(st, now_ms + 901, &k), OTA_OK);
    assert_int_equal(k, 1);
    assert_int_equal(store_device_get(st, prod_b.product_key, "b2", &d), OTA_OK);
    assert_int_equal(d.online, 0);
}

/* A terminate racing the engine: the engine holds the task (and its batch row) while the
 * terminate waits; the engine's success is kept and the terminate counts from it. */
typedef struct {
    int64_t batch;
    ota_err rc;
    store_batch out;
} term_arg;

static void *terminate_thread(void *arg)
{
    term_arg *a = arg;
    a->rc = store_batch_terminate(st, a->batch, now_ms + 900, &a->out, NULL);
    return NULL;
}

static void test_terminate_vs_engine(void **state)
{
    (void)state;
    NEED_PG();
    store_batch *rows;
    size_t n;
    int64_t directed = 0, id1;
    store_uow *u;
    store_task t;
    assert_int_equal(store_engine_batches(st, &rows, &n), OTA_OK);
    for (size_t i = 0; i < n; i++)
        if (rows[i].product_id == prod_b.id)
            directed = rows[i].id;
    free(rows);
    assert_true(directed > 0);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b1", &id1), OTA_OK);
    assert_int_equal(store_uow_task_open(u, id1, &t), OTA_OK);
    term_arg a = {directed, OTA_EDB, {0}};
    pthread_t th;
    pthread_create(&th, NULL, terminate_thread, &a);
    usleep(300 * 1000); /* the terminate now waits for the batch row */
    t.task.state = FSM_SUCCEEDED;
    t.task.progress = 100;
    t.task.finished_ms = now_ms + 800;
    assert_int_equal(store_uow_task_put(u, &t, now_ms + 800), OTA_OK);
    int delta[FSM_STATE_COUNT] = {0};
    delta[FSM_TO_PUSH] = -1;
    delta[FSM_SUCCEEDED] = 1;
    assert_int_equal(store_uow_batch_counts(u, directed, delta), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    pthread_join(th, NULL);
    /* the batch had one task, finished by the engine first: the round's completion check
     * did not run, so the terminate finds it in_progress and ends it with nothing to fail */
    assert_int_equal(a.rc, OTA_OK);
    assert_string_equal(a.out.state, "terminated");
    assert_int_equal(a.out.counts[FSM_SUCCEEDED], 1);
    assert_int_equal(a.out.counts[FSM_FAILED], 0);
    assert_int_equal(a.out.counts[FSM_TO_PUSH], 0);
    /* the firmware has no in_progress batch left: delete takes batches and tasks along */
    int used = 9;
    assert_int_equal(store_firmware_delete(st, fw_b, NULL, &used), OTA_OK);
    assert_int_equal(used, 1); /* every test firmware has the same file */
}

/* The other order: a terminate holds the batch row when the engine reads the task; once it
 * commits, the engine's read finds no open task (PostgreSQL re-checks the locked rows). */
typedef struct {
    int64_t device_id;
    ota_err rc;
    int finished;
} open_arg;

static void *task_open_thread(void *arg)
{
    open_arg *a = arg;
    store_uow *u;
    store_task t;
    a->rc = store_uow_begin(st, &u);
    if (a->rc != OTA_OK)
        return NULL;
    a->rc = store_uow_task_open(u, a->device_id, &t);
    __atomic_store_n(&a->finished, 1, __ATOMIC_SEQ_CST);
    store_uow_rollback(u);
    return NULL;
}

static void test_engine_waits_for_terminate(void **state)
{
    (void)state;
    NEED_PG();
    store_firmware f, out;
    store_batch b;
    store_batch_err err;
    store_uow *u;
    int64_t id2;
    char q[512];
    f = make_fw(prod_b.product_key, "b-fw4", "4.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, NULL), OTA_OK);
    const char *one[] = {"b2"};
    store_batch_new in = batch_new(1, one, 1);
    assert_int_equal(store_batch_create(st, out.id, &in, now_ms, now_ms + 1000, &b, &err), OTA_OK);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_b.product_key, "b2", &id2), OTA_OK);
    store_uow_rollback(u);

    PGconn *c = PQconnectdb(db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    snprintf(q, sizeof q,
             "BEGIN; SELECT state FROM batches WHERE id = %lld FOR NO KEY UPDATE;"
             "UPDATE tasks SET state = 'failed', fail_reason = 'terminated' WHERE batch_id = %lld;"
             "UPDATE batches SET state = 'terminated', n_to_push = 0, n_failed = 1 WHERE id = %lld",
             (long long)b.id, (long long)b.id, (long long)b.id);
    PGresult *r = PQexec(c, q);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    open_arg a = {id2, OTA_EDB, 0};
    pthread_t th;
    pthread_create(&th, NULL, task_open_thread, &a);
    usleep(300 * 1000); /* the engine's read now waits for the batch row */
    assert_int_equal(__atomic_load_n(&a.finished, __ATOMIC_SEQ_CST), 0);
    PQclear(PQexec(c, "COMMIT"));
    pthread_join(th, NULL);
    PQfinish(c);
    assert_int_equal(a.rc, OTA_ENOTFOUND);
}

static void test_eligible(void **state)
{
    (void)state;
    NEED_PG();
    store_firmware f, out;
    store_device *items;
    size_t n;
    int64_t total;
    f = make_fw(prod_b.product_key, "b-fw3", "3.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &out, NULL), OTA_OK);
    /* b1..b5 activated now (b5 through the snapshot); none in an unfinished task */
    assert_int_equal(store_firmware_eligible(st, out.id, NULL, page(1, 10), &items, &n, &total),
                     OTA_OK);
    assert_int_equal(total, 5);
    assert_string_equal(items[0].identifier, "b1");
    free(items);
    assert_int_equal(store_firmware_eligible(st, out.id, "b3", page(1, 10), &items, &n, &total),
                     OTA_OK);
    assert_int_equal(total, 1);
    free(items);
    assert_int_equal(store_firmware_eligible(st, 99999999, NULL, page(1, 10), &items, &n, &total),
                     OTA_ENOTFOUND);
}

/* A continuous batch created while an engine round applies the event that activates one of
 * its devices: the create waits for the round (its lock on the product's joins, taken by
 * the round's first load) and then takes the device; without that wait the batch's
 * selection would not see the round's uncommitted activation, and the round had looked for
 * continuous batches before the batch existed, so the device would join neither. The test
 * commits the round once the create waits for a lock, or once the create has ended (which
 * is the failure: the device is then missing from the batch). */
typedef struct {
    int64_t fw;
    ota_err rc;
    store_batch out;
    int done;
} cont_arg;

static void *continuous_thread(void *arg)
{
    cont_arg *a = arg;
    store_batch_err err;
    store_batch_new in = batch_new(0, NULL, 0);
    in.continuous = 1;
    a->rc = store_batch_create(st, a->fw, &in, now_ms + 50, now_ms + 100000, &a->out, &err);
    __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_continuous_join_race(void **state)
{
    (void)state;
    NEED_PG();
    store_product p;
    store_device d;
    store_firmware f, fw;
    store_uow *u;
    int64_t dev = 0, ids[8];
    size_t n = 9;
    assert_int_equal(store_product_create(st, "Join", NULL, now_ms, &p), OTA_OK);
    assert_int_equal(store_device_create(st, p.product_key, "j1", "j1", now_ms, &d), OTA_OK);
    f = make_fw(p.product_key, "j-fw", "2.0");
    assert_int_equal(store_firmware_create(st, &f, now_ms, &fw, NULL), OTA_OK);

    /* the round: the device's connection (its first: it activates) */
    const char *pks[] = {p.product_key}, *idents[] = {"j1"};
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    store_uow_continuous_ahead(u, 0);
    assert_int_equal(store_uow_load_names(u, pks, idents, 1), OTA_OK);
    assert_int_equal(store_uow_continuous_new(u, 0, ids, 8, &n), OTA_OK);
    assert_int_equal(store_uow_device_find(u, p.product_key, "j1", &dev), OTA_OK);
    assert_int_equal(store_uow_device_presence(u, dev, 1, now_ms + 10), OTA_OK);

    cont_arg a = {fw.id, OTA_EDB, {0}, 0};
    pthread_t th;
    pthread_create(&th, NULL, continuous_thread, &a);
    PGconn *c = PQconnectdb(db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    int waiting = 0;
    for (int i = 0; i < 500 && !waiting && !__atomic_load_n(&a.done, __ATOMIC_SEQ_CST); i++) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE NOT granted");
        waiting = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
        if (!waiting)
            usleep(10 * 1000);
    }
    PQfinish(c);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, OTA_OK);
    /* the batch took the device the round activated */
    assert_int_equal(a.out.total, 1);
    assert_true(waiting);
}

/* The server closes otad's idle connections (restart, failover, an administrator): the next
 * calls get new connections instead of failing. */
static void test_reconnect(void **state)
{
    (void)state;
    NEED_PG();
    store_product p;
    char q[256];
    assert_int_equal(store_product_get(st, prod_a.product_key, &p), OTA_OK);
    snprintf(q, sizeof q,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'"
             " AND application_name = 'otad'",
             db_name);
    PGconn *c = PQconnectdb(admin_url);
    PGresult *r = PQexec(c, q);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) >= 1);
    PQclear(r);
    PQfinish(c);
    usleep(200 * 1000);
    assert_int_equal(store_ping(st), OTA_OK);
    assert_int_equal(store_product_get(st, prod_a.product_key, &p), OTA_OK);
    assert_string_equal(p.name, "Lamp");
}

/* Writes of a unit are pipelined: one that fails is reported by the next call that waits
 * for an answer, and by the commit, and nothing of the unit is kept. */
static void test_uow_pipeline_failure(void **state)
{
    (void)state;
    NEED_PG();
    store_uow *u;
    store_device d;
    int64_t id;
    int pushable;
    assert_int_equal(store_device_get(st, prod_a.product_key, "d1", &d), OTA_OK);
    assert_int_equal(d.has_version, 0);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_find(u, prod_a.product_key, "d1", &id), OTA_OK);
    assert_int_equal(store_uow_device_version(u, id, "1.0", now_ms), OTA_OK);
    /* not UTF-8: the server refuses it, which only the next answer can tell */
    assert_int_equal(store_uow_device_version(u, id, "\xff\xfe", now_ms), OTA_OK);
    assert_int_equal(store_uow_device_ready(u, id, now_ms), OTA_OK);
    assert_int_equal(store_uow_device_pushable(u, id, &pushable, NULL), OTA_EDB);
    assert_int_equal(store_uow_commit(u), OTA_EDB);
    assert_int_equal(store_device_get(st, prod_a.product_key, "d1", &d), OTA_OK);
    assert_int_equal(d.has_version, 0);
    /* the same through a rollback, and the store goes on */
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_version(u, id, "\xff", now_ms), OTA_OK);
    store_uow_rollback(u);
    assert_int_equal(store_uow_begin(st, &u), OTA_OK);
    assert_int_equal(store_uow_device_version(u, id, "1.1", now_ms), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(store_device_get(st, prod_a.product_key, "d1", &d), OTA_OK);
    assert_string_equal(d.firmware_version, "1.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_migrate),     cmocka_unit_test(test_products_devices),
        cmocka_unit_test(test_import),           cmocka_unit_test(test_firmware),
        cmocka_unit_test(test_batch_create_rules), cmocka_unit_test(test_batch_create_race),
        cmocka_unit_test(test_uow),              cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_terminate_vs_engine), cmocka_unit_test(test_engine_waits_for_terminate),
        cmocka_unit_test(test_eligible),         cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_uow_pipeline_failure), cmocka_unit_test(test_continuous_join_race),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
