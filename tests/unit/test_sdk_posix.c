/*
 * test_sdk_posix: the Linux port's file staging (flash interface) and digests, called
 * directly through the ops otasdk_posix_fill hands out: a new image starts empty, a
 * matching checkpoint resumes, a different image or a checkpoint ahead of the file is
 * cut back, a restart below the checkpoint moves it down, finalize renames, discard and
 * clear remove; MD5/SHA-256 of a known string.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otasdk/otasdk.h"
#include "otasdk/otasdk_posix.h"

typedef struct {
    char dir[64];
    otasdk_posix *port;
    otasdk_config cfg;
    otasdk_job job;
    unsigned char data[100000];
} fx;

static void new_port(fx *f)
{
    otasdk_posix_config pc;
    memset(&pc, 0, sizeof pc);
    pc.host = "127.0.0.1";
    pc.port = 1883;
    pc.product_key = "pk";
    pc.identifier = "d";
    pc.device_secret = "s";
    pc.download_dir = f->dir;
    pc.checkpoint_bytes = 10000;
    assert_int_equal(otasdk_posix_create(&pc, &f->port), OTASDK_OK);
    memset(&f->cfg, 0, sizeof f->cfg);
    otasdk_posix_fill(f->port, &f->cfg);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/otasdk-posix-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (size_t i = 0; i < sizeof f->data; i++)
        f->data[i] = (unsigned char)(i * 7 + 3);
    f->job.size = sizeof f->data;
    snprintf(f->job.md5, sizeof f->job.md5, "%s", "0123456789abcdef0123456789abcdef");
    snprintf(f->job.version, sizeof f->job.version, "2.0");
    new_port(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[128];
    otasdk_posix_destroy(f->port);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int exists(fx *f, const char *name)
{
    char p[128];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", f->dir, name);
    return stat(p, &st) == 0;
}

static void write_range(fx *f, size_t from, size_t to)
{
    otasdk_flash_ops *fl = &f->cfg.flash;
    for (size_t off = from; off < to; off += 3000) {
        size_t n = to - off < 3000 ? to - off : 3000;
        assert_int_equal(fl->write(fl->user, off, f->data + off, n), 0);
    }
}

static void test_stage_resume_finalize(void **state)
{
    fx *f = *state;
    otasdk_flash_ops *fl = &f->cfg.flash;
    uint64_t have = 99;
    unsigned char back[5000];
    char path[128];
    assert_int_equal(fl->open(fl->user, &f->job, &have), 0);
    assert_int_equal(have, 0);
    assert_true(exists(f, "image.part"));
    assert_true(exists(f, "image.ckpt"));
    write_range(f, 0, 35000);
    /* a checkpoint every 10000 bytes: 30000 durable so far; close makes all 35000 durable */
    assert_true(otasdk_posix_staged_bytes(f->port) >= 30000);
    assert_int_equal(fl->close(fl->user), 0);
    assert_int_equal(otasdk_posix_staged_bytes(f->port), 35000);

    /* a new process: same image resumes at 35000, and the bytes read back */
    otasdk_posix_destroy(f->port);
    new_port(f);
    fl = &f->cfg.flash;
    assert_int_equal(fl->open(fl->user, &f->job, &have), 0);
    assert_int_equal(have, 35000);
    assert_int_equal(fl->read(fl->user, 30000, back, sizeof back), 0);
    assert_memory_equal(back, f->data + 30000, sizeof back);
    write_range(f, 35000, sizeof f->data);
    assert_int_equal(fl->finalize(fl->user, &f->job), 0);
    assert_false(exists(f, "image.part"));
    assert_false(exists(f, "image.ckpt"));
    assert_true(exists(f, "image.bin"));
    assert_int_equal(otasdk_posix_image_path(f->port, path, sizeof path), OTASDK_OK);
    {
        FILE *fp = fopen(path, "rb");
        unsigned char *all = malloc(sizeof f->data + 1);
        assert_int_equal(fread(all, 1, sizeof f->data + 1, fp), sizeof f->data);
        fclose(fp);
        assert_memory_equal(all, f->data, sizeof f->data);
        free(all);
    }
    assert_int_equal(otasdk_posix_image_path(f->port, path, 5), OTASDK_ERR_SHORT_BUFFER);
    assert_int_equal(otasdk_posix_clear(f->port), OTASDK_OK);
    assert_false(exists(f, "image.bin"));
}

static void test_other_image_starts_over(void **state)
{
    fx *f = *state;
    otasdk_flash_ops *fl = &f->cfg.flash;
    otasdk_job other = f->job;
    uint64_t have;
    assert_int_equal(fl->open(fl->user, &f->job, &have), 0);
    write_range(f, 0, 20000);
    assert_int_equal(fl->close(fl->user), 0);
    other.md5[0] = 'f';
    assert_int_equal(fl->open(fl->user, &other, &have), 0);
    assert_int_equal(have, 0);
    assert_int_equal(otasdk_posix_staged_bytes(f->port), 0);
    other = f->job;
    other.size = f->job.size + 1;
    assert_int_equal(fl->open(fl->user, &other, &have), 0);
    assert_int_equal(have, 0);
}

static void test_checkpoint_ahead_of_file_is_cut(void **state)
{
    fx *f = *state;
    otasdk_flash_ops *fl = &f->cfg.flash;
    uint64_t have;
    char p[128];
    assert_int_equal(fl->open(fl->user, &f->job, &have), 0);
    write_range(f, 0, 20000);
    assert_int_equal(fl->close(fl->user), 0);
    /* the file lost its tail (e.g. power cut before the data reached the disk) */
    snprintf(p, sizeof p, "%s/image.part", f->dir);
    assert_int_equal(truncate(p, 12345), 0);
    assert_int_equal(fl->open(fl->user, &f->job, &have), 0);
    assert_int_equal(have, 12345);
    /* a restart at 0 (server ignored Range) moves the checkpoint down first */
    assert_int_equal(fl->write(fl->user, 0, f->data, 100), 0);
    assert_int_equal(otasdk_posix_staged_bytes(f->port), 0);
    assert_int_equal(fl->discard(fl->user), 0);
    assert_false(exists(f, "image.part"));
    assert_false(exists(f, "image.ckpt"));
    assert_int_equal(fl->write(fl->user, 0, f->data, 1), -1); /* nothing open */
}

static void test_digests(void **state)
{
    fx *f = *state;
    otasdk_digest_ops *d = &f->cfg.digest;
    void *md5, *sha;
    unsigned char out[32];
    char hex[65];
    assert_int_equal(d->begin(d->user, OTASDK_MD5, &md5), 0);
    assert_int_equal(d->begin(d->user, OTASDK_SHA256, &sha), 0);
    assert_int_equal(d->update(d->user, md5, "ab", 2), 0);
    assert_int_equal(d->update(d->user, md5, "c", 1), 0);
    assert_int_equal(d->update(d->user, sha, "abc", 3), 0);
    assert_int_equal(d->finish(d->user, md5, out, 16), 0);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    assert_int_equal(d->finish(d->user, sha, out, 32), 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(d->begin(d->user, OTASDK_SHA256, &sha), 0);
    assert_int_equal(d->finish(d->user, sha, out, 16), -1); /* short output buffer */
    assert_int_equal(d->begin(d->user, OTASDK_MD5, &md5), 0);
    d->free(d->user, md5);
}

static void test_create_arguments(void **state)
{
    otasdk_posix_config pc;
    otasdk_posix *p = (otasdk_posix *)state;
    memset(&pc, 0, sizeof pc);
    assert_int_equal(otasdk_posix_create(&pc, &p), OTASDK_ERR_ARG);
    assert_null(p);
    pc.host = "h";
    pc.port = 1;
    pc.product_key = "pk";
    pc.identifier = "id";
    pc.device_secret = "s";
    assert_int_equal(otasdk_posix_create(&pc, &p), OTASDK_ERR_ARG); /* no download_dir */
    pc.download_dir = "/tmp";
    pc.port = 70000;
    assert_int_equal(otasdk_posix_create(&pc, &p), OTASDK_ERR_ARG);
    otasdk_posix_destroy(NULL);
    otasdk_posix_stop(NULL);
    assert_int_equal(otasdk_posix_connected(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stage_resume_finalize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_image_starts_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_ahead_of_file_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digests, setup, teardown),
        cmocka_unit_test(test_create_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
