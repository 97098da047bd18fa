/*
 * Integration: the hawkBit DDI API with a real client, Debian's swupdate (suricatta's
 * hawkBit server built in), against the real otad and broker. Each test builds a signed
 * .swu (ddi_swu.sh: sw-description with a rawfile handler writing to a temp path, its CMS
 * signature, the payload), uploads it, and starts swupdate as the device with its
 * TargetToken and a private TMPDIR:
 *   - a batch of one swupdate device and two scripted MQTT devices: the payload lands,
 *     swupdate restarted with -c 2 (as after the reboot) confirms, the task succeeds, the
 *     next poll offers nothing, and the batch's counters hold all three;
 *   - a corrupted stored artifact: the install fails, the task waits for its retry with the
 *     reason swupdate gave, the retry runs under a new action id and succeeds;
 *   - a batch terminated after the install: swupdate acknowledges the cancel and the task
 *     ends terminated.
 * Deadlines are generous (a loaded machine, ASan); nothing is asserted on elapsed time.
 */
#include "ddi_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SW_WAIT 45000 /* an install: download, verify, write (ms) */

/* swupdate processes of the running test, stopped by teardown (a failed assertion skips
 * the test's own stops) */
static pid_t sw_pids[8];
static int n_sw;

static int teardown(void **state)
{
    for (int i = 0; i < n_sw; i++)
        if (sw_pids[i] > 0)
            oth_stop_pid(sw_pids[i], SIGKILL, 3000);
    n_sw = 0;
    return bt_teardown(state);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

static void write_all(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The test's folder for images, swupdate's TMPDIRs and logs. */
static void work_dir(bt_ctx *t, char *out, size_t cap)
{
    snprintf(out, cap, "%s/ddi", t->env.dir);
    mkdir(out, 0700);
}

/* Builds image-ver.swu writing to target, uploads it as firmware ver (file name
 * image<n>.swu); the firmware id into fw, its sha256 into sha (may be NULL). */
static void swu_firmware(bt_ctx *t, const char *ver, const char *target, int n, char *fw,
                         size_t cap, char sha[65])
{
    char dir[300], cmd[1200], path[400], file[32], name[32];
    size_t len;
    oth_resp r;
    work_dir(t, dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "bash %s/tests/integration/ddi_swu.sh %s %s %s", OTA_SOURCE_DIR, dir,
             ver, target);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/image-%s.swu", dir, ver);
    char *data = read_all(path, &len);
    assert_non_null(data);
    snprintf(file, sizeof file, "image%d.swu", n);
    snprintf(name, sizeof name, "swu-%d", n);
    const char *fields[] = {"firmwareName", name, "productKey", t->pk, "firmwareVersion", ver,
                            NULL};
    oth_upload(&t->env, "/api/v1/firmwares", fields, file, data, len, &r);
    free(data);
    if (r.status != 201)
        fail_msg("upload %s: %ld %s", file, r.status, r.body);
    bt_id_text(json_object_get(r.json, "firmwareId"), fw, cap);
    if (sha)
        snprintf(sha, 65, "%s", bt_js(r.json, "sha256"));
    assert_int_equal(strlen(bt_js(r.json, "sha1")), 40);
    oth_resp_free(&r);
}

/* The test's product and swupdate device id, and firmware ver built for it (swu_firmware,
 * image n) installing to DIR/installed-<id>.bin (its path into target). */
static void swu_setup(bt_ctx *t, const char *product, const char *id, const char *ver, int n,
                      char *target, size_t tcap, char *fw, size_t fcap, char sha[65])
{
    char dir[300];
    bt_product(t, product);
    bt_device(t, id);
    work_dir(t, dir, sizeof dir);
    snprintf(target, tcap, "%s/installed-%s.bin", dir, id);
    swu_firmware(t, ver, target, n, fw, fcap, sha);
}

/* Starts swupdate as device id (confirm "2": report success, as after the reboot; NULL:
 * none). Its log path into log. */
static pid_t sw_start(bt_ctx *t, const char *id, const char *confirm, char *log, size_t cap)
{
    char dir[300], tmp[360], cert[360], secret[40], args[600], envtmp[400];
    static int run;
    work_dir(t, dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/tmp-%s-%d", dir, id, ++run);
    mkdir(tmp, 0700);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(log, cap, "%s/sw-%s-%d.log", dir, id, run);
    assert_int_equal(oth_device_secret(&t->env, t->pk, id, secret), 0);
    snprintf(args, sizeof args, "-t %s -u %s -i %s -k %s -r 2 -w 1%s%s", t->pk, t->env.base_url,
             id, secret, confirm ? " -c " : "", confirm ? confirm : "");
    snprintf(envtmp, sizeof envtmp, "TMPDIR=%s", tmp);
    char *argv[] = {"/usr/bin/swupdate", "-v", "-k", cert, "-H", "board:1.0", "-u", args, NULL};
    char *env[] = {envtmp};
    pid_t pid = oth_spawn(argv, env, 1, log);
    assert_true(pid > 0);
    assert_true(n_sw < (int)(sizeof sw_pids / sizeof sw_pids[0]));
    sw_pids[n_sw++] = pid;
    return pid;
}

static void sw_stop(pid_t pid)
{
    for (int i = 0; i < n_sw; i++)
        if (sw_pids[i] == pid)
            sw_pids[i] = 0;
    oth_stop_pid(pid, SIGTERM, 5000);
}

/* 1 when the file at path holds exactly the bytes of want_path. */
static int same_file(const char *path, const char *want_path)
{
    size_t a = 0, b = 0;
    char *x = read_all(path, &a), *y = read_all(want_path, &b);
    int same = x && y && a == b && memcmp(x, y, a) == 0;
    free(x);
    free(y);
    return same;
}

static void wait_payload(bt_ctx *t, const char *target, const char *ver, const char *log)
{
    char dir[300], want[400];
    work_dir(t, dir, sizeof dir);
    snprintf(want, sizeof want, "%s/payload-%s.bin", dir, ver);
    int64_t end = oth_now_ms() + SW_WAIT;
    while (!same_file(target, want)) {
        if (oth_now_ms() > end) {
            oth_dump_file(log, 6000);
            oth_dump_logs(&t->env);
            fail_msg("swupdate did not install %s into %s", ver, target);
        }
        oth_sleep_ms(100);
    }
}

/* Waits until device id's first poll made it online (its log shown when it does not). */
static void wait_polled(bt_ctx *t, const char *id, const char *log)
{
    oth_resp r;
    int64_t end = oth_now_ms() + SW_WAIT;
    for (;;) {
        int on = bt_get(t, &r, "/api/v1/products/%s/devices/%s", t->pk, id) == 200 &&
                 json_is_true(json_object_get(r.json, "online"));
        oth_resp_free(&r);
        if (on)
            return;
        if (oth_now_ms() > end) {
            oth_dump_file(log, 6000);
            fail_msg("swupdate as %s never polled", id);
        }
        oth_sleep_ms(100);
    }
}

static int file_has(const char *path, const char *needle)
{
    size_t n;
    char *s = read_all(path, &n);
    int has = s && strstr(s, needle) != NULL;
    free(s);
    return has;
}

static void wait_log(bt_ctx *t, const char *log, const char *needle)
{
    int64_t end = oth_now_ms() + SW_WAIT;
    while (!file_has(log, needle)) {
        if (oth_now_ms() > end) {
            oth_dump_file(log, 6000);
            oth_dump_logs(&t->env);
            fail_msg("swupdate's log never showed %s", needle);
        }
        oth_sleep_ms(100);
    }
}

/* A swupdate device and two scripted MQTT devices in one batch: everyone succeeds. */
static void test_swupdate_mixed_batch(void **state)
{
    bt_ctx *t = ddi_new(state, 10, 20); /* polls every 2 s */
    char fw[32], b[32], body[512], target[400], log[400], link[512];
    swu_setup(t, "ddi-mixed", "sw-1", "2.0.0", 1, target, sizeof target, fw, sizeof fw, NULL);
    bt_device(t, "mq-1");
    bt_device(t, "mq-2");
    bt_dev_start(t, "mq-1", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_dev_start(t, "mq-2", "1.0.0", SDEV_AUTO_UPGRADE, 0);

    pid_t sw = sw_start(t, "sw-1", NULL, log, sizeof log);
    wait_polled(t, "sw-1", log); /* its first poll activated it */
    bt_body(body, sizeof body, "\"scope\":\"all\"", 10, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    json_t *bj = bt_batch_get(t, b);
    assert_int_equal(bt_int(bj, "total"), 3);
    json_decref(bj);

    wait_payload(t, target, "2.0.0", log);
    json_decref(bt_wait_task(t, b, "sw-1", "upgrading", SW_WAIT));
    /* installed is not succeeded: swupdate reports success only after the reboot */
    oth_sleep_ms(2500);
    bt_expect_task(t, b, "sw-1", "upgrading");
    sw_stop(sw);
    sw = sw_start(t, "sw-1", "2", log, sizeof log);
    json_decref(bt_wait_task(t, b, "sw-1", "succeeded", SW_WAIT));
    bt_wait_device(t, "sw-1", 1, "2.0.0", BT_SOON);
    json_decref(bt_wait_batch(t, b, "completed", SW_WAIT));
    bt_check_counts(t, b);
    bj = bt_batch_get(t, b);
    assert_int_equal(bt_int(bj, "succeeded"), 3);
    assert_int_equal(bt_int(bj, "failed"), 0);
    json_decref(bj);
    ddi_poll_link(t, "sw-1", "deploymentBase", link, sizeof link);
    assert_string_equal(link, "");
    sw_stop(sw);
}

/* The stored artifact corrupted: the install fails, the retry gets a new action id and,
 * with the artifact repaired, succeeds. */
static void test_swupdate_corrupt_then_retry(void **state)
{
    bt_ctx *t = ddi_new(state, 10, 20);
    char fw[32], b[32], body[512], target[400], log[400], sha[65], blob[400];
    char feedback[128];
    size_t len;
    swu_setup(t, "ddi-retry", "sw-2", "3.0.0", 2, target, sizeof target, fw, sizeof fw, sha);

    /* one byte of the payload changed in the stored file: size and links stay, the hashes
     * the device checks (the image's sha256, the artifact's SHA-1) do not match */
    snprintf(blob, sizeof blob, "%s/firmware/%s", t->env.dir, sha);
    char *orig = read_all(blob, &len);
    assert_non_null(orig);
    char *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, orig, len);
    char *m = memmem(bad, len, "PAYLOAD-MARKER", 14);
    assert_non_null(m);
    m[40] = m[40] == 'x' ? 'y' : 'x';
    chmod(blob, 0600);
    write_all(blob, bad, len);
    free(bad);

    pid_t sw = sw_start(t, "sw-2", NULL, log, sizeof log);
    wait_polled(t, "sw-2", log);
    bt_body(body, sizeof body, "\"scope\":\"directed\",\"identifiers\":[\"sw-2\"]", 10, 1, 1);
    bt_batch(t, fw, body, b, sizeof b);
    long long first = atoll(b) * 16 + 1;
    json_t *task = bt_wait_task(t, b, "sw-2", "to_retry", SW_WAIT);
    if (strcmp(bt_reason(task), "verify_failed") != 0)
        oth_dump_file(log, 8000);
    assert_string_equal(bt_reason(task), "verify_failed");
    json_decref(task);
    snprintf(feedback, sizeof feedback, "deploymentBase/%lld/feedback", first);
    assert_true(file_has(log, feedback));

    /* repaired: the retry (a new action) installs it */
    write_all(blob, orig, len);
    free(orig);
    unlink(target);
    wait_payload(t, target, "3.0.0", log);
    snprintf(feedback, sizeof feedback, "deploymentBase/%lld/feedback", first + 1);
    wait_log(t, log, feedback);
    json_decref(bt_wait_task(t, b, "sw-2", "upgrading", SW_WAIT));
    sw_stop(sw);
    sw = sw_start(t, "sw-2", "2", log, sizeof log);
    task = bt_wait_task(t, b, "sw-2", "succeeded", SW_WAIT);
    assert_int_equal(bt_int(task, "retried"), 1);
    json_decref(task);
    /* the confirming run saw the second action only: the closed first one is never
     * offered again */
    wait_log(t, log, feedback); /* it logs the request after our answer */
    snprintf(feedback, sizeof feedback, "deploymentBase/%lld?", first);
    assert_false(file_has(log, feedback));
    sw_stop(sw);
}

/* A batch terminated while the device holds the action: it acknowledges the cancel. */
static void test_swupdate_cancel_on_terminate(void **state)
{
    bt_ctx *t = ddi_new(state, 10, 20);
    char fw[32], b[32], body[512], target[400], log[400], path[128], link[512];
    char want[128];
    oth_resp r;
    swu_setup(t, "ddi-cancel", "sw-3", "4.0.0", 3, target, sizeof target, fw, sizeof fw, NULL);
    pid_t sw = sw_start(t, "sw-3", NULL, log, sizeof log);
    wait_polled(t, "sw-3", log);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 10, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    wait_payload(t, target, "4.0.0", log);
    json_decref(bt_wait_task(t, b, "sw-3", "upgrading", SW_WAIT));

    snprintf(path, sizeof path, "/api/v1/batches/%s/terminate", b);
    assert_int_equal(bt_post(t, path, "{}", &r), 200);
    oth_resp_free(&r);
    json_t *task = bt_wait_task(t, b, "sw-3", "failed", BT_SOON);
    assert_string_equal(bt_reason(task), "terminated");
    json_decref(task);
    snprintf(want, sizeof want, "cancelAction/%lld/feedback", atoll(b) * 16 + 1);
    wait_log(t, log, want);
    /* acknowledged: nothing is offered any more */
    int64_t end = oth_now_ms() + BT_SOON;
    for (;;) {
        ddi_poll_link(t, "sw-3", "cancelAction", link, sizeof link);
        if (!link[0])
            break;
        if (oth_now_ms() > end)
            fail_msg("the cancel is still offered after swupdate acknowledged it");
        oth_sleep_ms(100);
    }
    ddi_poll_link(t, "sw-3", "deploymentBase", link, sizeof link);
    assert_string_equal(link, "");
    sw_stop(sw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_swupdate_mixed_batch, teardown),
        cmocka_unit_test_teardown(test_swupdate_corrupt_then_retry, teardown),
        cmocka_unit_test_teardown(test_swupdate_cancel_on_terminate, teardown),
    };
    if (getenv("BT_FILTER"))
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
