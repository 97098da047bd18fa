/*
 * firmware_files: the HTTP side of the firmware byte store (see firmware_files.h; the bytes
 * themselves are server/blob/'s). Expected load: a few uploads at a time of up to 100 MB
 * each, written in the chunks libmicrohttpd hands over (tens of KiB), never held whole in
 * memory; downloads by file descriptor (fs) or in reads of up to 1 MiB (postgresql).
 */
#include "http/firmware_files.h"

#include "ota_crypto.h"
#include "ota_log.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static blob_store *blobs; /* one per process, like the store */

static int sha_used(void *ud, const char *sha256)
{
    return store_firmware_sha_used(ud, sha256);
}

static int open_store(const http_app *app, const char *kind, char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&init_mu);
    if (!blobs) {
        blobs = blob_open(kind, app->data_dir, app->store, sha_used, app->store, err, errlen);
        rc = blobs ? 0 : -1;
    }
    pthread_mutex_unlock(&init_mu);
    return rc;
}

/* The process's blob store; the fs one of app->data_dir when otad did not choose. */
static blob_store *bs(const http_app *app)
{
    char err[256];
    if (!blobs && open_store(app, "fs", err, sizeof err) != 0)
        OTA_ERROR("firmware: %s", err); /* fs cannot fail to open */
    return blobs;
}

int fwfiles_init(const http_app *app, const char *kind, char *err, size_t errlen)
{
    return open_store(app, kind, err, errlen);
}

void fwfiles_close(void)
{
    pthread_mutex_lock(&init_mu);
    blob_close(blobs);
    blobs = NULL;
    pthread_mutex_unlock(&init_mu);
}

int fwup_begin(const http_app *app, fwup *u)
{
    memset(u, 0, sizeof *u);
    return blob_put_begin(bs(app), &u->put);
}

/* Hashes and writes what u->buf holds. 0, or -1. */
static int fwup_flush(fwup *u)
{
    if (u->buf_len > 0 && blob_put_write(u->put, u->buf, u->buf_len) != 0)
        return -1;
    u->buf_len = 0;
    return 0;
}

int fwup_write(fwup *u, const void *data, size_t len)
{
    if (!u->put)
        return -1;
    if (len > sizeof u->buf - u->buf_len) {
        if (fwup_flush(u) != 0)
            return -1;
        if (len >= sizeof u->buf) { /* a large run goes through as it is */
            if (blob_put_write(u->put, data, len) != 0)
                return -1;
            u->size += len;
            return 0;
        }
    }
    memcpy(u->buf + u->buf_len, data, len);
    u->buf_len += len;
    u->size += len;
    return 0;
}

int fwup_finish(fwup *u)
{
    if (!u->put || fwup_flush(u) != 0 || blob_put_finish(u->put) != 0)
        return -1;
    memcpy(u->md5_hex, blob_put_md5(u->put), sizeof u->md5_hex);
    memcpy(u->sha256_hex, blob_put_sha256(u->put), sizeof u->sha256_hex);
    memcpy(u->sha1_hex, blob_put_sha1(u->put), sizeof u->sha1_hex);
    return 0;
}

int fwup_place(const http_app *app, fwup *u)
{
    (void)app;
    return u->put ? blob_put_commit(u->put) : -1;
}

void fwup_discard(fwup *u)
{
    blob_put_free(u->put);
    u->put = NULL;
}

void fwfiles_lock(const http_app *app)
{
    blob_lock(bs(app));
}

void fwfiles_unlock(const http_app *app)
{
    blob_unlock(bs(app));
}

void fwfiles_remove_if_unused(const http_app *app, const char *sha256)
{
    blob_remove_if_unused(bs(app), sha256);
}

void fwfiles_sweep(const http_app *app)
{
    blob_sweep(bs(app));
}

static ssize_t reader_read(void *ud, uint64_t off, void *buf, size_t len)
{
    return blob_read_at(ud, off, buf, len);
}

static void reader_free(void *ud)
{
    blob_reader_close(ud);
}

int fwfiles_send(http_req *r, const char *sha256, const char *download_name)
{
    blob_reader *rd = NULL;
    uint64_t size = 0;
    int answer;
    if (strcmp(r->method, "HEAD") != 0 && http_download_begin(r, &answer) != 0)
        return answer;
    ota_err rc = blob_reader_open(bs(r->app), sha256, &rd, &size);
    if (rc == OTA_ENOTFOUND)
        return http_send_error(r, 404, "not_found", NULL, "The file does not exist.");
    if (rc != OTA_OK)
        return http_send_error(r, 500, "internal", NULL, "The file could not be read.");
    int fd = blob_reader_take_fd(rd);
    if (fd >= 0) { /* a plain file: the kernel copies it */
        blob_reader_close(rd);
        return http_send_fd(r, fd, size, "application/octet-stream", download_name);
    }
    return http_send_blob(r, size, reader_read, rd, reader_free, "application/octet-stream",
                          download_name);
}

int fwfiles_sha1(const http_app *app, const char *sha256, char out[41])
{
    blob_reader *rd = NULL;
    uint64_t size = 0, off = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(256 * 1024);
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        blob_reader_open(bs(app), sha256, &rd, &size) != OTA_OK)
        goto out;
    while (off < size) {
        ssize_t got = blob_read_at(rd, off, buf, 256 * 1024);
        if (got <= 0 || EVP_DigestUpdate(ctx, buf, (size_t)got) != 1)
            goto out;
        off += (uint64_t)got;
    }
    if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 20)
        goto out;
    ota_hex_encode(md, 20, out);
    rc = 0;
out:
    if (rc != 0)
        OTA_ERROR("firmware: cannot compute the SHA-1 of %s", sha256);
    blob_reader_close(rd);
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}
