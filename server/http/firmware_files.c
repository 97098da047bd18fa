/*
 * firmware_files: content-addressed firmware files (see firmware_files.h). Expected load:
 * a few uploads at a time of up to 100 MB each, written in the chunks libmicrohttpd hands
 * over (tens of KiB), never held whole in memory.
 */
#include "http/firmware_files.h"

#include "ota_crypto.h"
#include "ota_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;

void fwfiles_lock(void)
{
    pthread_mutex_lock(&files_mu);
}

void fwfiles_unlock(void)
{
    pthread_mutex_unlock(&files_mu);
}

void fwfiles_path(const http_app *app, const char *sha256, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/firmware/%s", app->data_dir, sha256);
}

int fwup_begin(const http_app *app, fwup *u)
{
    memset(u, 0, sizeof *u);
    u->fd = -1;
    snprintf(u->tmp_path, sizeof u->tmp_path, "%s/tmp/upload-XXXXXX", app->data_dir);
    u->fd = mkostemp(u->tmp_path, O_CLOEXEC);
    if (u->fd < 0) {
        OTA_ERROR("firmware: cannot create a temp file in %s/tmp: %s", app->data_dir,
                  strerror(errno));
        u->tmp_path[0] = '\0';
        return -1;
    }
    u->md5 = EVP_MD_CTX_new();
    u->sha256 = EVP_MD_CTX_new();
    if (!u->md5 || !u->sha256 || EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) != 1 ||
        EVP_DigestInit_ex(u->sha256, EVP_sha256(), NULL) != 1) {
        OTA_ERROR("firmware: hash init failed");
        fwup_discard(u);
        return -1;
    }
    return 0;
}

int fwup_write(fwup *u, const void *data, size_t len)
{
    const char *p = data;
    size_t left = len;
    if (u->fd < 0)
        return -1;
    if (EVP_DigestUpdate(u->md5, data, len) != 1 || EVP_DigestUpdate(u->sha256, data, len) != 1)
        return -1;
    while (left > 0) {
        ssize_t w = write(u->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            OTA_ERROR("firmware: write %s: %s", u->tmp_path, strerror(errno));
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    u->size += len;
    return 0;
}

int fwup_finish(fwup *u)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (u->fd < 0)
        return -1;
    if (EVP_DigestFinal_ex(u->md5, md, &n) != 1 || n != 16)
        return -1;
    ota_hex_encode(md, 16, u->md5_hex);
    if (EVP_DigestFinal_ex(u->sha256, md, &n) != 1 || n != 32)
        return -1;
    ota_hex_encode(md, 32, u->sha256_hex);
    if (fsync(u->fd) != 0) {
        OTA_ERROR("firmware: fsync %s: %s", u->tmp_path, strerror(errno));
        return -1;
    }
    close(u->fd);
    u->fd = -1;
    return 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int fwup_place(const http_app *app, fwup *u)
{
    char dst[CFG_STR_MAX + 96], dir[CFG_STR_MAX + 16];
    struct stat st;
    fwfiles_path(app, u->sha256_hex, dst, sizeof dst);
    if (stat(dst, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == u->size) {
        unlink(u->tmp_path); /* same bytes already stored: share the file */
        u->tmp_path[0] = '\0';
        return 0;
    }
    chmod(u->tmp_path, 0644);
    if (rename(u->tmp_path, dst) != 0) {
        OTA_ERROR("firmware: rename %s -> %s: %s", u->tmp_path, dst, strerror(errno));
        return -1;
    }
    u->tmp_path[0] = '\0';
    snprintf(dir, sizeof dir, "%s/firmware", app->data_dir);
    fsync_dir(dir);
    return 0;
}

void fwup_discard(fwup *u)
{
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (u->tmp_path[0]) {
        unlink(u->tmp_path);
        u->tmp_path[0] = '\0';
    }
    EVP_MD_CTX_free(u->md5);
    EVP_MD_CTX_free(u->sha256);
    u->md5 = u->sha256 = NULL;
}

void fwfiles_remove_if_unused(const http_app *app, const char *sha256)
{
    char path[CFG_STR_MAX + 96];
    if (store_firmware_sha_used(app->store, sha256) != 0)
        return; /* used, or unknown because of an error: keep it */
    fwfiles_path(app, sha256, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        OTA_WARN("firmware: cannot remove %s: %s", path, strerror(errno));
}

static int is_sha_name(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

void fwfiles_sweep(const http_app *app)
{
    char dir[CFG_STR_MAX + 16], path[CFG_STR_MAX + 300];
    DIR *d;
    struct dirent *e;
    int removed = 0;
    snprintf(dir, sizeof dir, "%s/tmp", app->data_dir);
    if ((d = opendir(dir))) {
        while ((e = readdir(d)))
            if (strncmp(e->d_name, "upload-", 7) == 0) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (unlink(path) == 0)
                    removed++;
            }
        closedir(d);
    }
    snprintf(dir, sizeof dir, "%s/firmware", app->data_dir);
    fwfiles_lock();
    if ((d = opendir(dir))) {
        while ((e = readdir(d)))
            if (is_sha_name(e->d_name) && store_firmware_sha_used(app->store, e->d_name) == 0) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (unlink(path) == 0)
                    removed++;
            }
        closedir(d);
    }
    fwfiles_unlock();
    if (removed)
        OTA_INFO("firmware: removed %d leftover file(s) of interrupted uploads", removed);
}
