/*
 * test_api_util: the API integration tests' helpers (declared and described in
 * test_api_util.h). Each call works on the program's tapi_ctx; nothing is kept in this file.
 */
#include "test_api_util.h"

#include "ota_crypto.h"
#include "ota_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

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

void tapi_pubkey_pem(EVP_PKEY *k, char *pem, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n = b && PEM_write_bio_PUBKEY(b, k) == 1 ? BIO_get_mem_data(b, &p) : -1;
    if (n <= 0 || (size_t)n >= len)
        abort();
    memcpy(pem, p, (size_t)n);
    pem[n] = '\0';
    BIO_free(b);
}

void tapi_sign_b64(EVP_PKEY *k, const char *product, const char *version, const void *data,
                   size_t len, char out[89])
{
    unsigned char d[32], sig[64];
    char sha[65], m[OTA_SIGN_MANIFEST_MAX];
    unsigned int dl = 0;
    size_t sl = sizeof sig;
    EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
    ota_hex_encode(d, 32, sha);
    int n = ota_sign_manifest(product, version, (int64_t)len, sha, m, sizeof m);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (n < 0 || !c || EVP_DigestSignInit(c, NULL, NULL, NULL, k) != 1 ||
        EVP_DigestSign(c, sig, &sl, (unsigned char *)m, (size_t)n) != 1 ||
        ota_b64_encode(sig, sl, out, 89) != OTA_SIGN_SIG_B64_LEN)
        abort();
    EVP_MD_CTX_free(c);
}
