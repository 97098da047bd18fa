/*
 * test_sdk_download: the SDK with its Linux port's downloader (libcurl), file staging with
 * checkpoint and OpenSSL digests, against a real HTTP server (test_sdk_httpsrv) that cuts,
 * corrupts, stalls and refuses on purpose. MQTT is a fake that records what the SDK
 * publishes, so no broker is needed. The key case: a connection cut at a random byte
 * resumes with "Range: bytes=<that byte>-" and the image is still bit-exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otasdk/otasdk.h"
#include "otasdk/otasdk_posix.h"
#include "test_sdk_httpsrv.h"

typedef struct {
    tsrv srv;
    char dir[128];
    otasdk_posix *port;
    otasdk_ctx *ctx;
    int steps[256];
    int nsteps;
    char version[64];
    int installs;
    long stop_at; /* the server calls otasdk_stop when it reaches this byte */
} fx;

static fx *g_fx; /* for the server hook */

static int f_publish(void *u, const char *topic, const void *payload, size_t len)
{
    fx *f = u;
    json_t *m = json_loadb(payload, len, 0, NULL), *data;
    assert_non_null(m);
    data = json_object_get(m, "data");
    if (strstr(topic, "/ota/progress") && f->nsteps < 256)
        f->steps[f->nsteps++] = (int)json_integer_value(json_object_get(data, "step"));
    if (strstr(topic, "/ota/version"))
        snprintf(f->version, sizeof f->version, "%s",
                 json_string_value(json_object_get(data, "firmwareVersion")));
    json_decref(m);
    return 0;
}

static int f_subscribe(void *u, const char *topic)
{
    (void)u, (void)topic;
    return 0;
}

static int a_install(void *u, const otasdk_job *job, char *out, size_t cap)
{
    fx *f = u;
    f->installs++;
    snprintf(out, cap, "%s", job->version);
    return OTASDK_OK;
}

static void a_log(void *u, otasdk_log_level l, const char *line)
{
    (void)u;
    if (getenv("SDK_TEST_LOG") || l >= OTASDK_LOG_ERROR)
        fprintf(stderr, "  [%d] %s\n", (int)l, line);
}

static void stop_hook(tsrv *s, uint64_t pos)
{
    (void)s;
    if (g_fx->stop_at >= 0 && pos >= (uint64_t)g_fx->stop_at) {
        g_fx->stop_at = -1;
        otasdk_stop(g_fx->ctx);
    }
}

static void open_device(fx *f)
{
    otasdk_posix_config pc;
    otasdk_config c;
    memset(&pc, 0, sizeof pc);
    pc.host = "127.0.0.1";
    pc.port = 1;
    pc.product_key = "pk";
    pc.identifier = "d1";
    pc.device_secret = "s";
    pc.download_dir = f->dir;
    pc.stall_timeout_s = 1;
    pc.checkpoint_bytes = 8192;
    pc.on_log = a_log;
    assert_int_equal(otasdk_posix_create(&pc, &f->port), OTASDK_OK);
    memset(&c, 0, sizeof c);
    c.product_key = "pk";
    c.identifier = "d1";
    c.firmware_version = "1.0";
    otasdk_posix_fill(f->port, &c);
    c.mqtt.user = f;
    c.mqtt.publish = f_publish;
    c.mqtt.subscribe = f_subscribe;
    c.app.user = f;
    c.app.on_log = a_log;
    c.app.install = a_install;
    c.retry_delay_ms = 10;
    c.progress_every = 5;
    assert_int_equal(otasdk_create(&c, &f->ctx), OTASDK_OK);
}

static void close_device(fx *f)
{
    otasdk_destroy(f->ctx);
    otasdk_posix_destroy(f->port);
    f->ctx = NULL;
    f->port = NULL;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/otasdk-dl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(tsrv_start(&f->srv, 600 * 1024 + 123, 7), 0);
    f->stop_at = -1;
    g_fx = f;
    open_device(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[200];
    close_device(f);
    tsrv_stop(&f->srv);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static void do_push(fx *f, const char *version, const char *md5)
{
    char url[128], buf[1024];
    int n;
    tsrv_url(&f->srv, url, sizeof url);
    n = snprintf(buf, sizeof buf,
                 "{\"msgId\":\"p-%s\",\"version\":\"1.0\",\"data\":{\"policy\":\"standard\","
                 "\"size\":%zu,\"firmwareVersion\":\"%s\",\"url\":\"%s\",\"sign\":\"%s\","
                 "\"signMethod\":\"Md5\",\"sha256\":\"%s\",\"batchId\":\"b\"}}",
                 version, f->srv.len, version, url, md5 ? md5 : f->srv.md5, f->srv.sha256);
    assert_int_equal(otasdk_on_message(f->ctx, "/sys/pk/d1/ota/firmware/upgrade", buf, (size_t)n),
                     OTASDK_OK);
}

static void assert_image(fx *f)
{
    char path[256];
    FILE *fp;
    unsigned char *buf = malloc(f->srv.len + 1);
    size_t n;
    assert_int_equal(otasdk_posix_image_path(f->port, path, sizeof path), OTASDK_OK);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    n = fread(buf, 1, f->srv.len + 1, fp);
    fclose(fp);
    assert_int_equal(n, f->srv.len);
    assert_memory_equal(buf, f->srv.img, f->srv.len);
    free(buf);
    assert_int_equal(otasdk_posix_staged_bytes(f->port), 0);
}

static int exists(fx *f, const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", f->dir, name);
    return stat(p, &st) == 0;
}

static void test_full_download(void **state)
{
    fx *f = *state;
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_OK);
    assert_image(f);
    assert_int_equal(tsrv_nreq(&f->srv), 1);
    assert_int_equal(f->installs, 1);
    assert_string_equal(f->version, "2.0");
    assert_int_equal(f->steps[0], 1);
    assert_int_equal(f->steps[f->nsteps - 1], 100);
    assert_false(exists(f, "image.part"));
    assert_false(exists(f, "image.ckpt"));
}

static void test_cut_at_random_byte_resumes(void **state)
{
    fx *f = *state;
    long cut;
    srand((unsigned)getpid());
    cut = 1 + rand() % (long)(f->srv.len - 2);
    fprintf(stderr, "  cut at byte %ld of %zu\n", cut, f->srv.len);
    f->srv.cut_at = cut;
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_OK);
    assert_int_equal(tsrv_nreq(&f->srv), 2);
    assert_int_equal(tsrv_start_of(&f->srv, 0), 0);
    assert_int_equal(tsrv_start_of(&f->srv, 1), (uint64_t)cut);
    assert_image(f);
    assert_string_equal(f->version, "2.0");
}

static void test_restart_resumes_from_checkpoint(void **state)
{
    fx *f = *state;
    unsigned long long staged;
    f->srv.delay_us = 2000;
    f->srv.on_byte = stop_hook;
    f->stop_at = 300 * 1024;
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_OK); /* stopped: not a failure */
    for (int i = 0; i < f->nsteps; i++)
        assert_true(f->steps[i] > 0);
    staged = otasdk_posix_staged_bytes(f->port);
    fprintf(stderr, "  stopped with %llu bytes checkpointed\n", staged);
    assert_true(staged >= 200 * 1024);
    assert_true(exists(f, "image.part"));
    assert_false(exists(f, "image.bin"));
    close_device(f);

    /* a new process: the same job arrives again (push or get_reply) */
    f->srv.delay_us = 0;
    f->srv.on_byte = NULL;
    open_device(f);
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_OK);
    assert_int_equal(tsrv_start_of(&f->srv, tsrv_nreq(&f->srv) - 1), staged);
    assert_image(f);
    assert_string_equal(f->version, "2.0");
}

static void test_corrupted_download_is_verify_failure(void **state)
{
    fx *f = *state;
    f->srv.flip_byte = 424242;
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_ERR_VERIFY);
    assert_int_equal(f->steps[f->nsteps - 1], OTASDK_STEP_VERIFY_FAILED);
    assert_false(exists(f, "image.bin")); /* never written as final */
    assert_false(exists(f, "image.part"));
    assert_false(exists(f, "image.ckpt"));
    assert_int_equal(f->installs, 0);
    assert_string_equal(f->version, "");
}

static void test_http_error_is_download_failure(void **state)
{
    fx *f = *state;
    f->srv.status = 403;
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_ERR_HTTP);
    assert_int_equal(f->steps[f->nsteps - 1], OTASDK_STEP_DOWNLOAD_FAILED);
    assert_int_equal(tsrv_nreq(&f->srv), 1);
    assert_false(exists(f, "image.bin"));
}

static void test_server_ignoring_range_restarts(void **state)
{
    fx *f = *state;
    f->srv.cut_at = 100000;
    f->srv.ignore_range = 1;
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_OK);
    assert_int_equal(tsrv_nreq(&f->srv), 2);
    assert_int_equal(tsrv_start_of(&f->srv, 1), 100000); /* asked for it, got 200 */
    assert_image(f);
}

static void test_stall_counts_as_broken(void **state)
{
    fx *f = *state;
    f->srv.stall_at = 50000;
    f->srv.stall_ms = 9000; /* stall_timeout_s is 1; curl averages speed over ~5 s */
    do_push(f, "2.0", NULL);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_OK);
    assert_true(tsrv_nreq(&f->srv) >= 2);
    assert_true(tsrv_start_of(&f->srv, 1) >= 40000);
    assert_image(f);
}

static void test_unreachable_server(void **state)
{
    fx *f = *state;
    char buf[1024];
    int n = snprintf(
        buf, sizeof buf,
        "{\"msgId\":\"u\",\"version\":\"1.0\",\"data\":{\"size\":10,\"firmwareVersion\":\"2\","
        "\"url\":\"http://127.0.0.1:1/x\",\"sign\":\"%s\"}}",
        f->srv.md5);
    assert_int_equal(otasdk_on_message(f->ctx, "/sys/pk/d1/ota/firmware/upgrade", buf, (size_t)n),
                     OTASDK_OK);
    assert_int_equal(otasdk_process(f->ctx), OTASDK_ERR_NET);
    assert_int_equal(f->steps[f->nsteps - 1], OTASDK_STEP_DOWNLOAD_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_at_random_byte_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes_from_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_download_is_verify_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_error_is_download_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_ignoring_range_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_counts_as_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_server, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
