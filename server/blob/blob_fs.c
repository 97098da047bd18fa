/*
 * blob_fs: firmware bytes as files in the data folder (the layout otad always had):
 * DATA/firmware/<sha256>, one file per distinct content. A put streams into
 * DATA/tmp/upload-XXXXXX, is fsynced, and its commit renames it into place (or drops it
 * when a file with that name is already there) and fsyncs the folder. Readers get the open
 * file, so downloads go out by file descriptor (the kernel copies). blob_pg.c uses the same
 * functions (through blob_fs_ops) for its local copy, hence their state in p->fs / rd->fs.
 * Expected load: a few
 * uploads at a time of up to 100 MB, written in tens-of-KiB chunks.
 */
#include "blob/blob_internal.h"

#include "ota_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int fd; /* -1 when closed */
    char tmp_path[1100];
} fs_put;

static void fs_path(const blob_store *b, const char *sha256, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/firmware/%s", b->data_dir, sha256);
}

static int fs_open(blob_store *b, char *err, size_t errlen)
{
    (void)b;
    (void)err;
    (void)errlen;
    return 0; /* otad creates DATA/firmware and DATA/tmp before */
}

static int fs_put_begin(blob_put *p)
{
    fs_put *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s/tmp/upload-XXXXXX", p->b->data_dir);
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (f->fd < 0) {
        OTA_ERROR("firmware: cannot create a temp file in %s/tmp: %s", p->b->data_dir,
                  strerror(errno));
        free(f);
        return -1;
    }
    p->fs = f;
    return 0;
}

static int fs_put_write(blob_put *p, const void *data, size_t len)
{
    fs_put *f = p->fs;
    const char *c = data;
    while (len > 0) {
        ssize_t w = write(f->fd, c, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            OTA_ERROR("firmware: write %s: %s", f->tmp_path, strerror(errno));
            return -1;
        }
        c += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fs_put_finish(blob_put *p)
{
    fs_put *f = p->fs;
    if (fsync(f->fd) != 0) {
        OTA_ERROR("firmware: fsync %s: %s", f->tmp_path, strerror(errno));
        return -1;
    }
    close(f->fd);
    f->fd = -1;
    return 0;
}

int blob_fs__staged_fd(blob_put *p)
{
    fs_put *f = p->fs;
    int fd = f && f->tmp_path[0] ? open(f->tmp_path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        OTA_ERROR("firmware: cannot read the staged upload: %s", strerror(errno));
    return fd;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int fs_put_commit(blob_put *p)
{
    fs_put *f = p->fs;
    char dst[1200], dir[1100];
    struct stat st;
    fs_path(p->b, p->sha256_hex, dst, sizeof dst);
    if (stat(dst, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == p->size) {
        unlink(f->tmp_path); /* same bytes already stored: share the file */
        f->tmp_path[0] = '\0';
        return 0;
    }
    chmod(f->tmp_path, 0644);
    if (rename(f->tmp_path, dst) != 0) {
        OTA_ERROR("firmware: rename %s -> %s: %s", f->tmp_path, dst, strerror(errno));
        return -1;
    }
    f->tmp_path[0] = '\0';
    snprintf(dir, sizeof dir, "%s/firmware", p->b->data_dir);
    fsync_dir(dir);
    return 0;
}

static void fs_put_drop(blob_put *p)
{
    fs_put *f = p->fs;
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp_path[0])
        unlink(f->tmp_path);
    free(f);
    p->fs = NULL;
}

static int fs_exists(blob_store *b, const char *sha256)
{
    char path[1200];
    struct stat st;
    fs_path(b, sha256, path, sizeof path);
    if (stat(path, &st) == 0)
        return S_ISREG(st.st_mode) ? 1 : 0;
    return errno == ENOENT ? 0 : -1;
}

static void fs_remove(blob_store *b, const char *sha256)
{
    char path[1200];
    fs_path(b, sha256, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        OTA_WARN("firmware: cannot remove %s: %s", path, strerror(errno));
}

static int fs_each(blob_store *b, int (*fn)(blob_store *b, const char *sha256))
{
    char dir[1100];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof dir, "%s/firmware", b->data_dir);
    if (!(d = opendir(dir)))
        return 0;
    while ((e = readdir(d)))
        if (blob__is_sha_name(e->d_name))
            n += fn(b, e->d_name);
    closedir(d);
    return n;
}

static int fs_sweep_tmp(blob_store *b)
{
    char dir[1100], path[1400];
    DIR *d;
    struct dirent *e;
    int removed = 0;
    snprintf(dir, sizeof dir, "%s/tmp", b->data_dir);
    if (!(d = opendir(dir)))
        return 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "upload-", 7) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0)
                removed++;
        }
    closedir(d);
    return removed;
}

static ota_err fs_reader_open(blob_reader *rd, const char *sha256)
{
    char path[1200];
    struct stat st;
    fs_path(rd->b, sha256, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return OTA_ENOTFOUND;
        OTA_ERROR("firmware: open %s: %s", path, strerror(errno));
        return OTA_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return OTA_ENOTFOUND;
    }
    int *pfd = malloc(sizeof *pfd);
    if (!pfd)
        abort();
    *pfd = fd;
    rd->fs = pfd;
    rd->size = (uint64_t)st.st_size;
    return 0;
}

static ssize_t fs_read_at(blob_reader *rd, uint64_t off, void *buf, size_t len)
{
    int fd = *(int *)rd->fs;
    ssize_t n;
    if (fd < 0)
        return -1;
    do
        n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n;
}

static int fs_reader_take_fd(blob_reader *rd)
{
    int *pfd = rd->fs, fd = *pfd;
    *pfd = -1;
    return fd;
}

static void fs_reader_close(blob_reader *rd)
{
    int *pfd = rd->fs;
    if (pfd && *pfd >= 0)
        close(*pfd);
    free(pfd);
}

const blob_ops blob_fs_ops = {
    .kind = "fs",
    .open = fs_open,
    .put_begin = fs_put_begin,
    .put_write = fs_put_write,
    .put_finish = fs_put_finish,
    .put_commit = fs_put_commit,
    .put_drop = fs_put_drop,
    .exists = fs_exists,
    .remove = fs_remove,
    .each = fs_each,
    .sweep_tmp = fs_sweep_tmp,
    .reader_open = fs_reader_open,
    .read_at = fs_read_at,
    .reader_take_fd = fs_reader_take_fd,
    .reader_close = fs_reader_close,
};
