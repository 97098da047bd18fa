/*
 * test_blob: the firmware byte store (server/blob/blob.h) through its public functions,
 * once per implementation: "fs" in a temp data folder, and "postgresql" in a fresh
 * database ota_unit_<random> created through OTA_TEST_PG_URL (those tests skip without
 * it). The same checks run on both: a put streams and hashes, commits under its sha256
 * name, identical puts share one blob, an uncommitted put leaves nothing, reads at any
 * offset, remove-if-unused follows the caller's answer, and the sweep removes leftovers and
 * unused blobs only.
 */
#include "blob/blob.h"

#include "ota_crypto.h"

#ifdef OTA_HAVE_PG
#include <libpq-fe.h>
#endif
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* the "abc" test vectors */
#define ABC_MD5 "900150983cd24fb0d6963f7d28e17f72"
#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

typedef struct {
    const char *kind;
    char dir[64];
    store_t *store;
    blob_store *b;
    char used[8][65]; /* the "rows": blobs in use */
    int used_error;   /* the callback answers -1 */
#ifdef OTA_HAVE_PG
    char db_name[40];
    char db_url[1100];
#endif
} fixture;

static int used_cb(void *ud, const char *sha256)
{
    fixture *f = ud;
    if (f->used_error)
        return -1;
    for (int i = 0; i < 8; i++)
        if (strcmp(f->used[i], sha256) == 0)
            return 1;
    return 0;
}

static void set_used(fixture *f, const char *sha256)
{
    for (int i = 0; i < 8; i++)
        if (!f->used[i][0]) {
            snprintf(f->used[i], sizeof f->used[i], "%s", sha256);
            return;
        }
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int count_dir(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int make_dirs(fixture *f)
{
    char p[128];
    snprintf(f->dir, sizeof f->dir, "/tmp/ota-blob-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(p, sizeof p, "%s/firmware", f->dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/tmp", f->dir);
    mkdir(p, 0755);
    return 0;
}

static int setup_fs(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256];
    f->kind = "fs";
    if (make_dirs(f) != 0)
        return -1;
    f->b = blob_open("fs", f->dir, NULL, used_cb, f, err, sizeof err);
    *state = f;
    return f->b ? 0 : -1;
}

static int teardown_any(void **state)
{
    fixture *f = *state;
    blob_close(f->b);
    store_close(f->store);
    if (f->dir[0])
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
#ifdef OTA_HAVE_PG
    if (f->db_name[0]) {
        char q[128];
        PGconn *c = PQconnectdb(getenv("OTA_TEST_PG_URL"));
        snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db_name);
        PQclear(PQexec(c, q));
        PQfinish(c);
    }
#endif
    free(f);
    return 0;
}

#ifdef OTA_HAVE_PG
static long long pg_count(fixture *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->db_url);
    PGresult *r = PQexec(c, sql);
    long long n =
        PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static int setup_pg(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *u = getenv("OTA_TEST_PG_URL");
    char hex[17], q[128], err[256];
    f->kind = "postgresql";
    *state = f;
    if (!u || !*u)
        return 0; /* every test skips */
    if (make_dirs(f) != 0 || ota_random_hex(8, hex) != 0)
        return -1;
    snprintf(f->db_name, sizeof f->db_name, "ota_unit_%s", hex);
    const char *auth = strstr(u, "://");
    if (!auth)
        return -1;
    auth += 3;
    const char *rest = auth + strcspn(auth, "/?");
    const char *query = strchr(rest, '?');
    snprintf(f->db_url, sizeof f->db_url, "%.*s/%s%s", (int)(rest - u), u, f->db_name,
             query ? query : "");
    /* the store's URL: the smallest pool blob_pg works with (docs/postgresql.md) */
    char store_url[1200];
    snprintf(store_url, sizeof store_url, "%s%spool_max=2", f->db_url, query ? "&" : "?");
    PGconn *c = PQconnectdb(u);
    snprintf(q, sizeof q, "CREATE DATABASE %s", f->db_name);
    PGresult *r = PQexec(c, q);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok || store_open(store_url, &f->store, err, sizeof err) != OTA_OK)
        return -1;
    f->b = blob_open("postgresql", f->dir, f->store, used_cb, f, err, sizeof err);
    return f->b ? 0 : -1;
}
#endif

#define NEED(f)                                                                                    \
    do {                                                                                           \
        if (!(f)->b) {                                                                             \
            skip();                                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Leftovers of puts: staged files; PostgreSQL chunks without a blobs row. */
static int leftovers(fixture *f)
{
    char p[128];
    int n = 0;
#ifdef OTA_HAVE_PG
    if (f->db_name[0])
        n = (int)pg_count(f, "SELECT count(*) FROM blob_chunks c WHERE NOT EXISTS"
                             " (SELECT 1 FROM blobs b WHERE b.sha256 = c.sha256)");
#endif
    snprintf(p, sizeof p, "%s/tmp", f->dir);
    return n + count_dir(p, "upload-");
}

static int stored(fixture *f)
{
#ifdef OTA_HAVE_PG
    if (f->db_name[0])
        return (int)pg_count(f, "SELECT count(*) FROM blobs");
#endif
    char p[128];
    snprintf(p, sizeof p, "%s/firmware", f->dir);
    return count_dir(p, "");
}

/* Puts data in pieces of step bytes; commits when commit. Returns the sha256 in out. */
static void put(fixture *f, const void *data, size_t len, size_t step, int commit, char *out)
{
    blob_put *p = NULL;
    assert_int_equal(blob_put_begin(f->b, &p), 0);
    for (size_t o = 0; o < len; o += step)
        assert_int_equal(blob_put_write(p, (const char *)data + o, len - o < step ? len - o : step),
                         0);
    assert_int_equal(blob_put_finish(p), 0);
    assert_int_equal(blob_put_size(p), len);
    if (out)
        snprintf(out, 65, "%s", blob_put_sha256(p));
    if (commit) {
        blob_lock(f->b);
        assert_int_equal(blob_put_commit(p), 0);
        blob_unlock(f->b);
    }
    blob_put_free(p);
}

static void test_put_read(void **state)
{
    fixture *f = *state;
    blob_put *p = NULL;
    blob_reader *rd = NULL;
    uint64_t size = 0;
    char buf[8];
    NEED(f);
    assert_int_equal(blob_put_begin(f->b, &p), 0);
    assert_int_equal(blob_put_write(p, "a", 1), 0);
    assert_int_equal(blob_put_write(p, "bc", 2), 0);
    assert_int_equal(blob_put_finish(p), 0);
    assert_string_equal(blob_put_md5(p), ABC_MD5);
    assert_string_equal(blob_put_sha256(p), ABC_SHA);
    assert_int_equal(blob_exists(f->b, ABC_SHA), 0); /* not before the commit */
    blob_lock(f->b);
    assert_int_equal(blob_put_commit(p), 0);
    blob_unlock(f->b);
    blob_put_free(p);
    assert_int_equal(blob_exists(f->b, ABC_SHA), 1);
    assert_int_equal(leftovers(f), 0);
    assert_int_equal(blob_reader_open(f->b, ABC_SHA, &rd, &size), OTA_OK);
    assert_int_equal(size, 3);
    assert_int_equal(blob_read_at(rd, 0, buf, sizeof buf), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(blob_read_at(rd, 1, buf, 1), 1);
    assert_int_equal(buf[0], 'b');
    assert_int_equal(blob_read_at(rd, 3, buf, 1), 0);
    int fd = blob_reader_take_fd(rd); /* fs, and postgresql's local copy: a plain file */
    assert_true(fd >= 0);
    close(fd);
    blob_reader_close(rd);
    assert_int_equal(blob_reader_open(f->b, ABC_MD5 ABC_MD5, &rd, &size),
                     OTA_ENOTFOUND); /* no such */
    assert_int_equal(blob_reader_open(f->b, "../x", &rd, &size), OTA_ENOTFOUND);
}

static void test_big_ranges(void **state)
{
    fixture *f = *state;
    size_t len = 3 * 1024 * 1024 + 12345;
    char sha[65];
    blob_reader *rd = NULL;
    uint64_t size = 0;
    NEED(f);
    unsigned char *data = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 11));
    put(f, data, len, 65536 + 3, 1, sha);
    assert_int_equal(blob_reader_open(f->b, sha, &rd, &size), OTA_OK);
    assert_int_equal(size, len);
    /* read it all in odd pieces (a read may return less than asked) */
    size_t off = 0;
    while (off < len) {
        ssize_t n = blob_read_at(rd, off, back + off, 300000);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_memory_equal(back, data, len);
    /* one range across the 1 MiB write boundary */
    ssize_t n = blob_read_at(rd, 1024 * 1024 - 10, back, 20);
    assert_int_equal(n, 20);
    assert_memory_equal(back, data + 1024 * 1024 - 10, 20);
    blob_reader_close(rd);
    free(data);
    free(back);
}

/* Another instance on the same database, with a data folder of its own: it has no local
 * copy and reads the bytes from PostgreSQL (no file descriptor), at any offset. */
static void test_second_instance(void **state)
{
    fixture *f = *state, g;
    size_t len = 2 * 1024 * 1024 + 777;
    char sha[65], err[256];
    blob_reader *rd = NULL;
    uint64_t size = 0;
    NEED(f);
    if (strcmp(f->kind, "postgresql") != 0) {
        skip();
        return;
    }
    memset(&g, 0, sizeof g);
    assert_int_equal(make_dirs(&g), 0);
    blob_store *b2 = blob_open("postgresql", g.dir, f->store, used_cb, f, err, sizeof err);
    assert_non_null(b2);
    unsigned char *data = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 13 + (i >> 9));
    put(f, data, len, 100000, 1, sha);
    assert_int_equal(blob_exists(b2, sha), 1);
    assert_int_equal(blob_reader_open(b2, sha, &rd, &size), OTA_OK);
    assert_int_equal(size, len);
    assert_int_equal(blob_reader_take_fd(rd), -1);
    size_t off = 0;
    while (off < len) {
        ssize_t n = blob_read_at(rd, off, back + off, len - off);
        assert_true(n > 0 && n <= 1024 * 1024);
        off += (size_t)n;
    }
    assert_memory_equal(back, data, len);
    assert_int_equal(blob_read_at(rd, len - 5, back, 100), 5);
    assert_memory_equal(back, data + len - 5, 5);
    blob_reader_close(rd);
    /* removed through the second instance: gone for both (the first one's local copy too
     * once it removes; its reads of a removed blob find nothing in PostgreSQL) */
    blob_lock(b2);
    blob_remove_if_unused(b2, sha);
    blob_unlock(b2);
    assert_int_equal(blob_exists(f->b, sha), 0);
    assert_int_equal(blob_reader_open(b2, sha, &rd, &size), OTA_ENOTFOUND);
    blob_close(b2);
    nftw(g.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(data);
    free(back);
}

static void test_abort_and_share(void **state)
{
    fixture *f = *state;
    char s1[65], s2[65];
    NEED(f);
    int before = stored(f);
    put(f, "never kept", 10, 4, 0, s1); /* finished, not committed */
    assert_int_equal(blob_exists(f->b, s1), 0);
    assert_int_equal(leftovers(f), 0);
    blob_put *p = NULL; /* written, not finished */
    assert_int_equal(blob_put_begin(f->b, &p), 0);
    assert_int_equal(blob_put_write(p, "half", 4), 0);
    blob_put_free(p);
    assert_int_equal(leftovers(f), 0);
    assert_int_equal(stored(f), before);
    put(f, "same bytes", 10, 3, 1, s1);
    put(f, "same bytes", 10, 10, 1, s2);
    assert_string_equal(s1, s2);
    assert_int_equal(stored(f), before + 1);
    assert_int_equal(leftovers(f), 0);
}

static void test_remove_and_sweep(void **state)
{
    fixture *f = *state;
    char keep[65], drop[65], unknown[65];
    NEED(f);
    put(f, "kept: a row uses it", 19, 5, 1, keep);
    put(f, "dropped: no row", 15, 5, 1, drop);
    put(f, "unknown: error", 14, 5, 1, unknown);
    set_used(f, keep);
    blob_lock(f->b);
    blob_remove_if_unused(f->b, keep);
    f->used_error = 1;
    blob_remove_if_unused(f->b, unknown); /* the caller cannot tell: kept */
    f->used_error = 0;
    blob_remove_if_unused(f->b, drop);
    blob_unlock(f->b);
    assert_int_equal(blob_exists(f->b, keep), 1);
    assert_int_equal(blob_exists(f->b, unknown), 1);
    assert_int_equal(blob_exists(f->b, drop), 0);
    /* a crash's leftovers: an fs temp file; the sweep removes it and unused blobs */
    if (strcmp(f->kind, "fs") == 0) {
        char p[128];
        snprintf(p, sizeof p, "%s/tmp/upload-crash1", f->dir);
        FILE *t = fopen(p, "w");
        fputs("partial", t);
        fclose(t);
        assert_int_equal(leftovers(f), 1);
    }
    blob_sweep(f->b);
    assert_int_equal(leftovers(f), 0);
    assert_int_equal(blob_exists(f->b, keep), 1);
    assert_int_equal(blob_exists(f->b, unknown), 0);
}

static void test_pg_needs_pg_store(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(blob_open("postgresql", "/tmp", NULL, used_cb, NULL, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_null(blob_open("s3", "/tmp", NULL, used_cb, NULL, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_read),         cmocka_unit_test(test_big_ranges),
        cmocka_unit_test(test_second_instance),  cmocka_unit_test(test_abort_and_share),
        cmocka_unit_test(test_remove_and_sweep),
    };
    const struct CMUnitTest other[] = {cmocka_unit_test(test_pg_needs_pg_store)};
    int rc = 0;
    /* one fixture per kind, shared by its tests (counts they check are relative) */
    rc |= cmocka_run_group_tests_name("blob_fs", tests, setup_fs, teardown_any);
#ifdef OTA_HAVE_PG
    rc |= cmocka_run_group_tests_name("blob_pg", tests, setup_pg, teardown_any);
#endif
    rc |= cmocka_run_group_tests_name("blob_open", other, NULL, NULL);
    return rc;
}
