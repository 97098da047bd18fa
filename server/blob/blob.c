/*
 * blob: the byte store's public functions (see blob.h). Picks the implementation by kind,
 * computes MD5, SHA-256 and SHA-1 while a put streams (OpenSSL EVP), keeps the in-process lock
 * and asks the caller's "used" callback before anything is removed. Load: a few uploads
 * at a time of up to 100 MB, in the chunks libmicrohttpd hands over; downloads read in
 * chunks of up to 1 MiB. Nothing here holds a whole firmware in memory.
 */
#include "blob/blob_internal.h"

#include "ota_crypto.h"
#include "ota_log.h"

#include <stdlib.h>
#include <string.h>

int blob__is_sha_name(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

blob_store *blob_open(const char *kind, const char *data_dir, store_t *store, blob_used_fn used,
                      void *used_ud, char *err, size_t errlen)
{
    const blob_ops *ops = NULL;
    if (!kind || !*kind || strcmp(kind, "fs") == 0)
        ops = &blob_fs_ops;
#ifdef OTA_HAVE_PG
    else if (strcmp(kind, "postgresql") == 0)
        ops = &blob_pg_ops;
#else
    else if (strcmp(kind, "postgresql") == 0) {
        snprintf(err, errlen, "OTA_BLOB=postgresql needs otad built with libpq");
        return NULL;
    }
#endif
    if (!ops) {
        snprintf(err, errlen, "unknown blob store \"%.40s\" (fs or postgresql)", kind);
        return NULL;
    }
    blob_store *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    b->ops = ops;
    snprintf(b->data_dir, sizeof b->data_dir, "%s", data_dir ? data_dir : ".");
    b->store = store;
    b->used = used;
    b->used_ud = used_ud;
    pthread_mutex_init(&b->mu, NULL);
    if (ops->open && ops->open(b, err, errlen) != 0) {
        pthread_mutex_destroy(&b->mu);
        free(b);
        return NULL;
    }
    return b;
}

void blob_close(blob_store *b)
{
    if (!b)
        return;
    if (b->ops->close)
        b->ops->close(b);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

const char *blob_kind(const blob_store *b)
{
    return b->ops->kind;
}

/* ---- writing ---------------------------------------------------------------------------- */

int blob_put_begin(blob_store *b, blob_put **out)
{
    blob_put *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->b = b;
    p->md5 = EVP_MD_CTX_new();
    p->sha256 = EVP_MD_CTX_new();
    p->sha1 = EVP_MD_CTX_new();
    if (!p->md5 || !p->sha256 || !p->sha1 || EVP_DigestInit_ex(p->md5, EVP_md5(), NULL) != 1 ||
        EVP_DigestInit_ex(p->sha256, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(p->sha1, EVP_sha1(), NULL) != 1) {
        OTA_ERROR("blob: hash init failed");
        EVP_MD_CTX_free(p->md5);
        EVP_MD_CTX_free(p->sha256);
        EVP_MD_CTX_free(p->sha1);
        free(p);
        return -1;
    }
    if (b->ops->put_begin(p) != 0) {
        EVP_MD_CTX_free(p->md5);
        EVP_MD_CTX_free(p->sha256);
        EVP_MD_CTX_free(p->sha1);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int blob_put_write(blob_put *p, const void *data, size_t len)
{
    if (p->failed || p->finished)
        return -1;
    if (EVP_DigestUpdate(p->md5, data, len) != 1 || EVP_DigestUpdate(p->sha256, data, len) != 1 ||
        EVP_DigestUpdate(p->sha1, data, len) != 1 || p->b->ops->put_write(p, data, len) != 0) {
        p->failed = 1;
        return -1;
    }
    p->size += len;
    return 0;
}

int blob_put_finish(blob_put *p)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (p->failed || p->finished)
        return -1;
    if (EVP_DigestFinal_ex(p->md5, md, &n) != 1 || n != 16)
        goto fail;
    ota_hex_encode(md, 16, p->md5_hex);
    if (EVP_DigestFinal_ex(p->sha256, md, &n) != 1 || n != 32)
        goto fail;
    ota_hex_encode(md, 32, p->sha256_hex);
    if (EVP_DigestFinal_ex(p->sha1, md, &n) != 1 || n != 20)
        goto fail;
    ota_hex_encode(md, 20, p->sha1_hex);
    if (p->b->ops->put_finish(p) != 0)
        goto fail;
    p->finished = 1;
    return 0;
fail:
    p->failed = 1;
    return -1;
}

uint64_t blob_put_size(const blob_put *p)
{
    return p->size;
}

const char *blob_put_md5(const blob_put *p)
{
    return p->md5_hex;
}

const char *blob_put_sha256(const blob_put *p)
{
    return p->sha256_hex;
}

const char *blob_put_sha1(const blob_put *p)
{
    return p->sha1_hex;
}

int blob_put_commit(blob_put *p)
{
    if (!p->finished || p->failed || p->committed)
        return -1;
    if (p->b->ops->put_commit(p) != 0) {
        p->failed = 1;
        return -1;
    }
    p->committed = 1;
    return 0;
}

void blob_put_free(blob_put *p)
{
    if (!p)
        return;
    p->b->ops->put_drop(p);
    EVP_MD_CTX_free(p->md5);
    EVP_MD_CTX_free(p->sha256);
    EVP_MD_CTX_free(p->sha1);
    free(p);
}

/* ---- in use ------------------------------------------------------------------------------- */

void blob_lock(blob_store *b)
{
    pthread_mutex_lock(&b->mu);
    if (b->ops->lock)
        b->ops->lock(b);
}

void blob_unlock(blob_store *b)
{
    if (b->ops->unlock)
        b->ops->unlock(b);
    pthread_mutex_unlock(&b->mu);
}

int blob_exists(blob_store *b, const char *sha256)
{
    if (!blob__is_sha_name(sha256))
        return 0;
    return b->ops->exists(b, sha256);
}

static int unused(blob_store *b, const char *sha256)
{
    return b->used && b->used(b->used_ud, sha256) == 0;
}

void blob_remove_if_unused(blob_store *b, const char *sha256)
{
    if (!blob__is_sha_name(sha256) || !unused(b, sha256))
        return; /* used, or unknown because of an error: keep it */
    b->ops->remove(b, sha256);
}

static int sweep_one(blob_store *b, const char *sha256)
{
    if (!unused(b, sha256))
        return 0;
    b->ops->remove(b, sha256);
    return 1;
}

void blob_sweep(blob_store *b)
{
    int removed = b->ops->sweep_tmp ? b->ops->sweep_tmp(b) : 0;
    blob_lock(b);
    removed += b->ops->each(b, sweep_one);
    blob_unlock(b);
    if (removed)
        OTA_INFO("firmware: removed %d leftover file(s) of interrupted uploads", removed);
}

/* ---- reading ---------------------------------------------------------------------------- */

ota_err blob_reader_open(blob_store *b, const char *sha256, blob_reader **out, uint64_t *size)
{
    if (!blob__is_sha_name(sha256))
        return OTA_ENOTFOUND;
    blob_reader *rd = calloc(1, sizeof *rd);
    if (!rd)
        abort();
    rd->b = b;
    ota_err rc = b->ops->reader_open(rd, sha256);
    if (rc != OTA_OK) {
        free(rd);
        return rc;
    }
    *out = rd;
    *size = rd->size;
    return OTA_OK;
}

ssize_t blob_read_at(blob_reader *rd, uint64_t off, void *buf, size_t len)
{
    if (off >= rd->size || len == 0)
        return 0;
    if (len > rd->size - off)
        len = (size_t)(rd->size - off);
    return rd->b->ops->read_at(rd, off, buf, len);
}

int blob_reader_take_fd(blob_reader *rd)
{
    return rd->b->ops->reader_take_fd ? rd->b->ops->reader_take_fd(rd) : -1;
}

void blob_reader_close(blob_reader *rd)
{
    if (!rd)
        return;
    rd->b->ops->reader_close(rd);
    free(rd);
}
