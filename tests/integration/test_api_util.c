/*
 * test_api_util: the API integration tests' helpers (declared and described in
 * test_api_util.h). Each call works on the program's tapi_ctx; nothing is kept in this file.
 */
#include "test_api_util.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tapi_ctx *tapi_new(void **st)
{
    tapi_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *st = c;
    if (oth_env_init(&c->env) != 0)
        return NULL;
    return c;
}

int tapi_start(tapi_ctx *c)
{
    char plugin[600];
    snprintf(plugin, sizeof plugin, "%s/broker-plugin/ota_auth.so", OTA_BUILD_DIR);
    if (access(plugin, R_OK) == 0 && oth_broker_start(&c->env) != 0)
        return -1;
    return oth_otad_start(&c->env);
}

int tapi_setup(void **st)
{
    tapi_ctx *c = tapi_new(st);
    return c ? tapi_start(c) : -1;
}

int tapi_teardown(void **st)
{
    tapi_ctx *c = *st;
    if (!c)
        return 0;
    oth_env_cleanup(&c->env);
    free(c);
    *st = NULL;
    return 0;
}

int tapi_post_raw(tapi_ctx *c, const char *path, const char *ctype, const char *body, oth_resp *r)
{
    return oth_http(&c->env, "POST", path, 1, ctype, body, strlen(body), NULL, r);
}

long tapi_post(tapi_ctx *c, const char *path, const char *json, oth_resp *r)
{
    tapi_post_raw(c, path, "application/json", json, r);
    return r->status;
}

const char *tapi_jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

void tapi_product(tapi_ctx *c, const char *name, char *out)
{
    oth_resp r;
    char body[256];
    snprintf(body, sizeof body, "{\"productName\":\"%s\"}", name);
    tapi_post(c, "/api/v1/products", body, &r);
    if (r.status != 201) {
        fprintf(stderr, "tapi_product %s: %ld %s\n", name, r.status, r.body);
        abort();
    }
    snprintf(out, 16, "%s", tapi_jstr(r.json, "productKey"));
    oth_resp_free(&r);
}

int tapi_sql(tapi_ctx *c, const char *q)
{
    char path[400];
    sqlite3 *db;
    char *msg = NULL;
    if (c->env.pg_db[0]) /* the suite runs on PostgreSQL (scripts/pg-test.sh) */
        return oth_pg_sql(&c->env, q);
    snprintf(path, sizeof path, "%s/ota.db", c->env.dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 10000);
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "tapi_sql: %s: %s\n", q, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

int tapi_count_files(tapi_ctx *c, const char *sub)
{
    char path[400];
    int n = 0;
    struct dirent *e;
    snprintf(path, sizeof path, "%s/%s", c->env.dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}
