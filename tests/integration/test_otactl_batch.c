/*
 * Integration: otactl's batch commands against the real broker and otad, with two scripted
 * devices that upgrade by themselves: create (all and directed), list with filters, get,
 * devices with a state filter, wait until completed, terminate (and its refusal once
 * ended), and the usage errors (exit 2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ota_harness.h"
#include "scripted_device.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static oth_env env;

/* Runs otactl with args; stdout into out, parsed as JSON into *json when asked. Returns
 * the exit code. */
static int otactl(const char *args, json_t **json, char *out, size_t outlen)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/tools/otactl/otactl --url %s --token %s %s 2>/dev/null",
             OTA_BUILD_DIR, env.base_url, env.admin_token, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (json)
        *json = json_loads(out, 0, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int setup(void **st)
{
    (void)st;
    if (oth_env_init(&env) != 0 || oth_broker_start(&env) != 0 || oth_otad_start(&env) != 0)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    oth_env_cleanup(&env);
    return 0;
}

static void test_otactl_batch(void **st)
{
    (void)st;
    static char out[1 << 16];
    char args[2048], pk[16], fw[24], fw2[24], b1[24], b2[24], file[400];
    json_t *j;

    assert_int_equal(otactl("product create ctl-batch", &j, out, sizeof out), 0);
    snprintf(pk, sizeof pk, "%s", jstr(j, "productKey"));
    json_decref(j);
    sdev *d[2];
    for (int i = 0; i < 2; i++) {
        char id[8];
        snprintf(id, sizeof id, "c%d", i);
        snprintf(args, sizeof args, "device create %s %s", pk, id);
        assert_int_equal(otactl(args, NULL, out, sizeof out), 0);
        d[i] = sdev_new(env.mqtt_port, env.key, pk, id);
        assert_non_null(d[i]);
        sdev_set_auto(d[i], SDEV_AUTO_UPGRADE, 0);
        assert_int_equal(sdev_start(d[i], "1.0.0"), 0);
    }
    snprintf(file, sizeof file, "%s/fw_200.bin", env.dir);
    FILE *f = fopen(file, "w");
    fputs("firmware 2.0.0", f);
    fclose(f);
    snprintf(args, sizeof args, "firmware add %s --name ctl-fw --product %s --version 2.0.0", file, pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    snprintf(fw, sizeof fw, "%s", jstr(j, "firmwareId"));
    json_decref(j);

    /* usage errors: bad numbers never reach the server */
    snprintf(args, sizeof args, "batch create %s --validity 8", fw);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 2);
    snprintf(args, sizeof args, "batch create %s --retries 6", fw);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 2);
    assert_int_equal(otactl("batch get", NULL, out, sizeof out), 2);
    /* a rule only the server knows: an interval is required with retries */
    snprintf(args, sizeof args, "batch create %s --retries 2", fw);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 1);

    /* scope all: both devices; wait follows it to completed */
    snprintf(args, sizeof args, "batch create %s --validity 1 --timeout 5 --rate 600", fw);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    snprintf(b1, sizeof b1, "%s", jstr(j, "batchId"));
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "maxPushPerMinute")), 600);
    json_decref(j);
    snprintf(args, sizeof args, "batch wait %s --timeout 60", b1);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_string_equal(jstr(j, "state"), "completed");
    assert_int_equal(json_integer_value(json_object_get(j, "succeeded")), 2);
    json_decref(j);
    snprintf(args, sizeof args, "batch devices %s --state succeeded", b1);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);
    snprintf(args, sizeof args, "batch terminate %s", b1);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 1); /* 409: already ended */

    /* directed to one device, on a new version; the device does not answer: terminate */
    snprintf(file, sizeof file, "%s/fw_300.bin", env.dir);
    f = fopen(file, "w");
    fputs("firmware 3.0.0", f);
    fclose(f);
    snprintf(args, sizeof args, "firmware add %s --name ctl-fw3 --product %s --version 3.0.0", file, pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    snprintf(fw2, sizeof fw2, "%s", jstr(j, "firmwareId"));
    json_decref(j);
    sdev_set_auto(d[1], SDEV_AUTO_NONE, 0);
    snprintf(args, sizeof args, "batch create %s --devices c1 --rollout '{\"phases\":[{\"percent\":200}]}'", fw2);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 1); /* 422 rollout.phases[0].percent */
    snprintf(args, sizeof args,
             "batch create %s --devices c1 --policy silent --timeout 10 --rollout "
             "'{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":50}]}'",
             fw2);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    snprintf(b2, sizeof b2, "%s", jstr(j, "batchId"));
    assert_string_equal(jstr(j, "scope"), "directed");
    assert_string_equal(jstr(j, "policy"), "silent");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    snprintf(args, sizeof args, "batch list --firmware %s --state in_progress", fw2);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    snprintf(args, sizeof args, "batch pause %s", b2);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_string_equal(jstr(j, "state"), "paused");
    assert_string_equal(jstr(json_object_get(j, "pauseReason"), "by"), "operator");
    json_decref(j);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 1); /* 409: already paused */
    snprintf(args, sizeof args, "batch resume %s", b2);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_string_equal(jstr(j, "state"), "in_progress");
    json_decref(j);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 1); /* 409: not paused */
    snprintf(args, sizeof args, "batch terminate %s", b2);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_string_equal(jstr(j, "state"), "terminated");
    json_decref(j);
    snprintf(args, sizeof args, "batch wait %s", b2);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 1); /* ended, not completed */
    snprintf(args, sizeof args, "batch get %s", b2);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "failed")), 1);
    json_decref(j);
    snprintf(args, sizeof args, "batch list --product %s", pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);
    for (int i = 0; i < 2; i++)
        sdev_free(d[i]);
}

/* Tags, groups, the live count and a continuous filtered batch through otactl. */
static void test_otactl_targets(void **st)
{
    (void)st;
    static char out[1 << 16];
    char args[2048], pk[16], fw[24], b[24], file[400];
    json_t *j;
    assert_int_equal(otactl("product create ctl-targets", &j, out, sizeof out), 0);
    snprintf(pk, sizeof pk, "%s", jstr(j, "productKey"));
    json_decref(j);
    sdev *d[3];
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "t%d", i);
        snprintf(args, sizeof args, "device create %s %s", pk, id);
        assert_int_equal(otactl(args, NULL, out, sizeof out), 0);
        d[i] = sdev_new(env.mqtt_port, env.key, pk, id);
        assert_non_null(d[i]);
        sdev_set_auto(d[i], SDEV_AUTO_UPGRADE, 0);
        assert_int_equal(sdev_start(d[i], i == 1 ? "0.9.0" : "1.0.0"), 0);
    }
    snprintf(args, sizeof args, "device tag %s t0,t1 hw=v2 site=north", pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "changed")), 2);
    json_decref(j);
    snprintf(args, sizeof args, "device untag %s t1 site", pk);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 0);
    snprintf(args, sizeof args, "device list %s --tag hw=v2,site=north", pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    snprintf(args, sizeof args, "device tag %s t0 novalue", pk);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 2);
    snprintf(args, sizeof args, "group create %s lab", pk);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 0);
    snprintf(args, sizeof args, "group add %s lab t1,t2", pk);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 0);
    snprintf(args, sizeof args, "group members %s lab", pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);
    snprintf(args, sizeof args, "device count %s --tag hw=v2 --from-version 1.0.0", pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "matching")), 1);
    json_decref(j);

    snprintf(file, sizeof file, "%s/fw_t2.bin", env.dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("targets firmware", f);
    fclose(f);
    snprintf(args, sizeof args, "firmware add %s --name ctl-t --product %s --version 2.0.0", file,
             pk);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    snprintf(fw, sizeof fw, "%s", jstr(j, "firmwareId"));
    json_decref(j);
    /* the lab group on 1.0.0: t2 now; t1 once it reports 1.0.0 */
    snprintf(args, sizeof args,
             "batch create %s --filter group=lab --from-version 1.0.0,1.1.0 --continuous", fw);
    assert_int_equal(otactl(args, &j, out, sizeof out), 0);
    snprintf(b, sizeof b, "%s", jstr(j, "batchId"));
    assert_string_equal(jstr(j, "scope"), "filter");
    assert_true(json_is_true(json_object_get(j, "continuous")));
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    assert_int_equal(sdev_version(d[1], "1.0.0"), 0);
    int64_t end = oth_now_ms() + 8000;
    json_int_t total = 0;
    while (oth_now_ms() < end && total != 2) {
        snprintf(args, sizeof args, "batch get %s", b);
        assert_int_equal(otactl(args, &j, out, sizeof out), 0);
        total = json_integer_value(json_object_get(j, "total"));
        json_decref(j);
        oth_sleep_ms(50);
    }
    assert_int_equal(total, 2);
    snprintf(args, sizeof args, "batch create %s --filter colour=red", fw);
    assert_int_equal(otactl(args, NULL, out, sizeof out), 2);
    for (int i = 0; i < 3; i++)
        sdev_free(d[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otactl_batch),
        cmocka_unit_test(test_otactl_targets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
