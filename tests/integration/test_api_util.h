/*
 * Helpers shared by the API integration tests: one otad per test program, JSON request
 * shortcuts, direct SQL on the test's database (to stand in for presence and batches that
 * other parts of the service produce), and folder counts to prove nothing is left behind.
 */
#ifndef TEST_API_UTIL_H
#define TEST_API_UTIL_H

#include "ota_harness.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static oth_env env;

static int start_otad(void **st)
{
    (void)st;
    char plugin[600];
    if (oth_env_init(&env) != 0)
        return -1;
    /* otad is healthy once it has its broker connection; start the broker when it is built
     * (before the MQTT side existed, otad reported the broker as not_configured) */
    snprintf(plugin, sizeof plugin, "%s/broker-plugin/ota_auth.so", OTA_BUILD_DIR);
    if (access(plugin, R_OK) == 0 && oth_broker_start(&env) != 0)
        return -1;
    if (oth_otad_start(&env) != 0)
        return -1;
    return 0;
}

static int stop_otad(void **st)
{
    (void)st;
    oth_env_cleanup(&env);
    return 0;
}

/* POST a JSON text (not necessarily valid) with a content type. */
static int post_raw(const char *path, const char *ctype, const char *body, oth_resp *r)
{
    return oth_http(&env, "POST", path, 1, ctype, body, strlen(body), NULL, r);
}

static __attribute__((unused)) long post_status(const char *path, const char *json, oth_resp *r)
{
    post_raw(path, "application/json", json, r);
    return r->status;
}

static __attribute__((unused)) const char *jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

/* Creates a product; returns its key in out (>= 16 bytes). */
static __attribute__((unused)) void make_product(const char *name, char *out)
{
    oth_resp r;
    char body[256];
    snprintf(body, sizeof body, "{\"productName\":\"%s\"}", name);
    post_status("/api/v1/products", body, &r);
    if (r.status != 201) {
        fprintf(stderr, "make_product %s: %ld %s\n", name, r.status, r.body);
        abort();
    }
    snprintf(out, 16, "%s", jstr(r.json, "productKey"));
    oth_resp_free(&r);
}

/* Runs SQL on the test's database (SQLite in WAL mode, or the test's PostgreSQL database);
 * otad keeps running. Returns 0 or -1. */
static __attribute__((unused)) int sql(const char *q)
{
    char path[400];
    sqlite3 *db;
    char *msg = NULL;
    if (env.pg_db[0]) /* the suite runs on PostgreSQL (scripts/pg-test.sh) */
        return oth_pg_sql(&env, q);
    snprintf(path, sizeof path, "%s/ota.db", env.dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 10000);
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql: %s: %s\n", q, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Number of entries (not . and ..) in DATA/sub. */
static __attribute__((unused)) int count_files(const char *sub)
{
    char path[400];
    int n = 0;
    struct dirent *e;
    snprintf(path, sizeof path, "%s/%s", env.dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

#endif
