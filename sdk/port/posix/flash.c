/*
 * flash: the SDK's flash writer on a Linux file system. The image being downloaded is
 * staged in download_dir/image.part; download_dir/image.ckpt records which image it is
 * (md5, sha256, size) and how many of its bytes are durably on disk. The checkpoint is
 * only ever behind the data: the part file is fdatasync'ed before the checkpoint that
 * covers it is written (temp file, fsync, rename). finalize fsyncs, cuts the file to the
 * image size and renames it to image.bin; nothing is ever called image.bin before the
 * SDK has checked its size, MD5 and SHA-256. Load: one pwrite per network chunk, one
 * fdatasync and checkpoint per checkpoint_bytes.
 */
#include "posix_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int posix__ckpt_load(const otasdk_posix *p, posix_ckpt *ck)
{
    char path[POSIX_PATH_MAX], line[256];
    FILE *f;
    int ok;
    memset(ck, 0, sizeof *ck);
    if (posix__path(p, "image.ckpt", path, sizeof path) != 0 || !(f = fopen(path, "r")))
        return -1;
    ok = fgets(line, sizeof line, f) != NULL &&
         sscanf(line, "v1 %32s %64s %llu %llu", ck->md5, ck->sha256, &ck->size, &ck->offset) == 4;
    fclose(f);
    if (!ok) {
        memset(ck, 0, sizeof *ck);
        return -1;
    }
    if (strcmp(ck->sha256, "-") == 0)
        ck->sha256[0] = '\0';
    return 0;
}

static int fsync_dir(const otasdk_posix *p)
{
    int fd = open(p->dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    fsync(fd);
    close(fd);
    return 0;
}

/* Writes the checkpoint atomically. 0 or -1. */
static int ckpt_save(otasdk_posix *p, unsigned long long offset)
{
    char path[POSIX_PATH_MAX], tmp[POSIX_PATH_MAX], line[256];
    int fd, n, ok;
    if (posix__path(p, "image.ckpt", path, sizeof path) != 0 ||
        posix__path(p, "image.ckpt.tmp", tmp, sizeof tmp) != 0)
        return -1;
    n = snprintf(line, sizeof line, "v1 %s %s %llu %llu\n", p->ck.md5,
                 p->ck.sha256[0] ? p->ck.sha256 : "-", p->ck.size, offset);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    p->ck.offset = offset;
    return 0;
}

/* Makes the bytes up to p->end durable and records them. */
static int sync_ckpt(otasdk_posix *p)
{
    if (p->fd < 0)
        return 0;
    if (fdatasync(p->fd) != 0)
        return -1;
    return ckpt_save(p, p->end);
}

int posix__flash_open(void *user, const otasdk_job *job, uint64_t *have)
{
    otasdk_posix *p = user;
    char part[POSIX_PATH_MAX];
    posix_ckpt ck;
    struct stat st;
    if (posix__path(p, "image.part", part, sizeof part) != 0)
        return -1;
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    *have = 0;
    if (posix__ckpt_load(p, &ck) == 0 && strcmp(ck.md5, job->md5) == 0 &&
        strcmp(ck.sha256, job->sha256) == 0 && ck.size == job->size &&
        (p->fd = open(part, O_RDWR | O_CLOEXEC)) >= 0 && fstat(p->fd, &st) == 0) {
        unsigned long long keep = ck.offset;
        if ((unsigned long long)st.st_size < keep)
            keep = (unsigned long long)st.st_size;
        if (ftruncate(p->fd, (off_t)keep) == 0) {
            p->ck = ck;
            p->ck.offset = keep;
            p->end = keep;
            *have = keep;
            posix__log(p, OTASDK_LOG_INFO, "checkpoint: %llu of %llu bytes staged", keep, ck.size);
            return 0;
        }
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (p->fd < 0) {
        posix__log(p, OTASDK_LOG_ERROR, "cannot create %s: %s", part, strerror(errno));
        return -1;
    }
    memset(&p->ck, 0, sizeof p->ck);
    memcpy(p->ck.md5, job->md5, sizeof p->ck.md5);
    memcpy(p->ck.sha256, job->sha256, sizeof p->ck.sha256);
    p->ck.size = job->size;
    p->end = 0;
    if (ckpt_save(p, 0) != 0) {
        posix__log(p, OTASDK_LOG_ERROR, "cannot write the checkpoint in %s", p->dir);
        close(p->fd);
        p->fd = -1;
        return -1;
    }
    return 0;
}

int posix__flash_write(void *user, uint64_t offset, const void *data, size_t len)
{
    otasdk_posix *p = user;
    const char *b = data;
    if (p->fd < 0)
        return -1;
    if (offset < p->ck.offset && ckpt_save(p, offset) != 0) /* restart below the checkpoint */
        return -1;
    if (offset < p->end)
        p->end = offset;
    while (len > 0) {
        ssize_t n = pwrite(p->fd, b, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            posix__log(p, OTASDK_LOG_ERROR, "write of the staged image failed: %s",
                       n < 0 ? strerror(errno) : "no space");
            return -1;
        }
        b += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    if (offset > p->end)
        p->end = offset;
    if (p->end - p->ck.offset >= p->checkpoint_bytes && sync_ckpt(p) != 0)
        return -1;
    return 0;
}

int posix__flash_read(void *user, uint64_t offset, void *buf, size_t len)
{
    otasdk_posix *p = user;
    char *b = buf;
    if (p->fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = pread(p->fd, b, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int posix__flash_close(void *user)
{
    otasdk_posix *p = user;
    int rc;
    if (p->fd < 0)
        return 0;
    rc = sync_ckpt(p);
    close(p->fd);
    p->fd = -1;
    return rc;
}

int posix__flash_finalize(void *user, const otasdk_job *job)
{
    otasdk_posix *p = user;
    char part[POSIX_PATH_MAX], fin[POSIX_PATH_MAX], ckpt[POSIX_PATH_MAX];
    int ok;
    if (p->fd < 0 || posix__path(p, "image.part", part, sizeof part) != 0 ||
        posix__path(p, "image.bin", fin, sizeof fin) != 0 ||
        posix__path(p, "image.ckpt", ckpt, sizeof ckpt) != 0)
        return -1;
    ok = ftruncate(p->fd, (off_t)job->size) == 0 && fsync(p->fd) == 0;
    ok = close(p->fd) == 0 && ok;
    p->fd = -1;
    if (!ok || rename(part, fin) != 0) {
        posix__log(p, OTASDK_LOG_ERROR, "cannot finalize %s: %s", fin, strerror(errno));
        return -1;
    }
    unlink(ckpt);
    fsync_dir(p);
    memset(&p->ck, 0, sizeof p->ck);
    p->end = 0;
    return 0;
}

int posix__flash_discard(void *user)
{
    otasdk_posix *p = user;
    char path[POSIX_PATH_MAX];
    int rc = 0;
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    static const char *const names[] = {"image.ckpt", "image.part"};
    for (size_t i = 0; i < 2; i++)
        if (posix__path(p, names[i], path, sizeof path) != 0 ||
            (unlink(path) != 0 && errno != ENOENT))
            rc = -1;
    memset(&p->ck, 0, sizeof p->ck);
    p->end = 0;
    return rc;
}
