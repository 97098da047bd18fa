/*
 * test_fleet: the fleet simulator at small size, as the benchmarks use it.
 *  - with the broker alone and ota-fleet-responder playing the server: a behaviour mix
 *    (success, each failure step, no ack, stall, offline) run by two worker processes ends
 *    exactly as told, in the per-device results and the summary;
 *  - through the real otad: register (NDJSON import) and activate a fleet, then a batch
 *    with ranged downloads completes with every device succeeded, as the server counts it;
 *  - devices that fail their first push succeed on the server's retry;
 *  - a wrong server key makes every login fail, reported as errors (exit 1);
 *  - bad options exit 2.
 */
#include "fleet_fixture.h"
#include "ota_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(char *const argv[], const char *log)
{
    return ff_run(argv, log);
}

static void dump(const char *path)
{
    oth_dump_file(path, 4000);
}

/* Runs ota-fleet against otad, which must succeed; on failure its log and otad's go to
 * stderr first. */
static void run_ok(char *const argv[], const char *log, oth_env *e)
{
    int rc = run(argv, log);
    if (rc != 0) {
        dump(log);
        oth_dump_logs(e);
    }
    assert_int_equal(rc, 0);
}

/* Counts lines of the results CSV whose behaviour and outcome columns match. */
static int count_rows(const char *csv, const char *behaviour, const char *outcome)
{
    char line[512], want[128];
    int n = 0;
    FILE *fp = fopen(csv, "r");
    if (!fp)
        return -1;
    snprintf(want, sizeof want, ",%s,%s,", behaviour, outcome);
    while (fgets(line, sizeof line, fp))
        if (strstr(line, want))
            n++;
    fclose(fp);
    return n;
}

static void test_fleet_with_responder(void **state)
{
    (void)state;
    oth_env e;
    char addr[64], key[320], csv[320], flog[320], rlog[320], rsum[320], fsum[320];
    assert_int_equal(oth_env_init(&e), 0);
    assert_int_equal(oth_broker_start(&e), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", e.mqtt_port);
    snprintf(key, sizeof key, "%s/keys/server.key", e.dir);
    snprintf(csv, sizeof csv, "%s/results.csv", e.dir);
    snprintf(flog, sizeof flog, "%s/fleet.log", e.dir);
    snprintf(rlog, sizeof rlog, "%s/responder.log", e.dir);
    snprintf(rsum, sizeof rsum, "%s/responder.json", e.dir);
    snprintf(fsum, sizeof fsum, "%s/fleet.json", e.dir);

    /* 160 devices: 100 succeed, 8 of each failure step, 8 no ack, 8 stall, 12 offline;
     * the responder starts once the 148 that connect are ready, ends at 100 successes */
    char *rargv[] = {RESPONDER_BIN, "--broker", addr, "--key-file", key, "--product-key", "pkfleet",
                     "-n", "100", "--start-after", "148", "--duration", "40", "--summary-json", rsum,
                     NULL};
    pid_t rp = oth_spawn(rargv, NULL, 0, rlog);
    assert_true(rp > 0);
    usleep(300 * 1000);
    char *fargv[] = {FLEET_BIN, "--broker", addr, "--key-file", key, "--product-key", "pkfleet",
                     "-n", "160", "--mix",
                     "success=100,fail-1=8,fail-2=8,fail-3=8,fail-4=8,no-ack=8,stall=8,offline=12",
                     "--download", "0", "--step-ms", "5", "--procs", "2", "--duration", "40",
                     "--results", csv,
                     "--summary-json", fsum, NULL};
    int rc = run(fargv, flog);
    int st;
    waitpid(rp, &st, 0);
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        dump(flog);
        dump(rlog);
    }
    assert_int_equal(rc, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    assert_int_equal(count_rows(csv, "success", "succeeded"), 100);
    assert_int_equal(count_rows(csv, "fail-1", "failed"), 8);
    assert_int_equal(count_rows(csv, "fail-2", "failed"), 8);
    assert_int_equal(count_rows(csv, "fail-3", "failed"), 8);
    assert_int_equal(count_rows(csv, "fail-4", "failed"), 8);
    assert_int_equal(count_rows(csv, "no-ack", "no_ack"), 8);
    assert_int_equal(count_rows(csv, "stall", "stalled"), 8);
    assert_int_equal(count_rows(csv, "offline", "offline"), 12);

    json_t *r = json_load_file(rsum, 0, NULL);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "ready")), 148);
    assert_int_equal(json_integer_value(json_object_get(r, "pushed")), 148);
    assert_int_equal(json_integer_value(json_object_get(r, "acked")), 140); /* all but no-ack */
    assert_int_equal(json_integer_value(json_object_get(r, "done")), 100);
    /* progress: success 3 each, failing 2 each (10 then the failure), stall 1 */
    assert_int_equal(json_integer_value(json_object_get(r, "progress")), 100 * 3 + 32 * 2 + 8);
    json_decref(r);
    json_t *f = json_load_file(fsum, 0, NULL);
    assert_non_null(f);
    assert_int_equal(json_integer_value(json_object_get(f, "errors")), 0);
    assert_int_equal(json_integer_value(json_object_get(f, "ready")), 148);
    json_decref(f);
    oth_env_cleanup(&e);
}

/* 60 devices registered, activated and upgraded by a batch, 30 of them downloading in
 * ranges. tls: MQTT over TLS (--cafile, the broker's TLS listener), the API and the
 * download links over HTTPS, all verified against the generated CA. */
static void fleet_rollout(int tls)
{
    oth_env e;
    oth_resp r;
    char addr[64], key[320], flog[320], fsum[320], fwid[32], pk[32], api[64];
    assert_int_equal(oth_env_init(&e), 0);
    if (tls) {
        assert_int_equal(oth_env_tls(&e), 0);
        snprintf(api, sizeof api, "https://localhost:%d", e.https_port);
        oth_env_set(&e, "OTA_PUBLIC_URL", api);
    } else {
        snprintf(api, sizeof api, "%s", e.base_url);
    }
    assert_int_equal(oth_broker_start(&e), 0);
    assert_int_equal(oth_otad_start(&e), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", tls ? e.mqtts_port : e.mqtt_port);
    snprintf(key, sizeof key, "%s/keys/server.key", e.dir);
    snprintf(flog, sizeof flog, "%s/fleet.log", e.dir);
    snprintf(fsum, sizeof fsum, "%s/fleet.json", e.dir);

    ff_product(&e, "fleet_test", pk, sizeof pk);
    size_t fw_len = 300000;
    unsigned char *fw = malloc(fw_len);
    assert_non_null(fw);
    for (size_t i = 0; i < fw_len; i++)
        fw[i] = (unsigned char)(i * 31 + 7);
    ff_firmware(&e, pk, "fleet_fw", "2.0.0", fw, fw_len, fwid, sizeof fwid);
    free(fw);

    /* register and activate 60 devices, then a batch with ranged downloads */
    /* the CA option last: without TLS the list ends before it */
    char *aargv[] = {FLEET_BIN, "--api", api, "--token", e.admin_token, "--key-file", key,
                     "--broker", addr, "--product-key", pk, "-n", "60", "--register",
                     "--activate-only", "--duration", "30", tls ? "--cafile" : NULL, e.ca_path,
                     NULL};
    run_ok(aargv, flog, &e);
    /* activation reaches the server asynchronously: wait until all 60 are eligible */
    ff_wait_eligible(&e, fwid, 60, 10000);

    char *bargv[] = {FLEET_BIN, "--api", api, "--token", e.admin_token, "--key-file", key,
                     "--broker", addr, "--product-key", pk, "-n", "60", "--download", "50",
                     "--range-size", "65536", "--download-concurrency", "8", "--batch", fwid,
                     "--summary-json", fsum, "--duration", "40", tls ? "--cafile" : NULL,
                     e.ca_path, NULL};
    run_ok(bargv, flog, &e);
    json_t *f = json_load_file(fsum, 0, NULL);
    assert_non_null(f);
    json_t *b = json_object_get(f, "batch");
    assert_string_equal(json_string_value(json_object_get(b, "state")), "completed");
    assert_int_equal(json_integer_value(json_object_get(b, "total")), 60);
    assert_int_equal(json_integer_value(json_object_get(b, "succeeded")), 60);
    /* 30 devices downloaded the 300,000 bytes in 65,536-byte ranges */
    assert_int_equal(json_integer_value(json_object_get(f, "downloadedBytes")), 30 * 300000);
    char bpath[128];
    snprintf(bpath, sizeof bpath, "/api/v1/batches/%s", json_string_value(json_object_get(b, "batchId")));
    json_decref(f);
    assert_int_equal(oth_get(&e, bpath, &r), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "counts"), "succeeded")),
                     60);
    oth_resp_free(&r);
    oth_env_cleanup(&e);
}

static void test_fleet_rollout_through_otad(void **state)
{
    (void)state;
    fleet_rollout(0);
}

static void test_fleet_rollout_over_tls(void **state)
{
    (void)state;
    fleet_rollout(1);
}

/* Failing devices that fail once (--fail-times 1) succeed on the server's retry push. */
static void test_fleet_retry_through_otad(void **state)
{
    (void)state;
    oth_env e;
    char addr[64], key[320], flog[320], fsum[320], fwid[32], pk[32];
    assert_int_equal(oth_env_init(&e), 0);
    oth_env_set(&e, "OTA_TIME_SCALE", "30"); /* retry interval 1 min -> 2 s */
    assert_int_equal(oth_broker_start(&e), 0);
    assert_int_equal(oth_otad_start(&e), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", e.mqtt_port);
    snprintf(key, sizeof key, "%s/keys/server.key", e.dir);
    snprintf(flog, sizeof flog, "%s/fleet.log", e.dir);
    snprintf(fsum, sizeof fsum, "%s/fleet.json", e.dir);

    ff_product(&e, "fleet_retry", pk, sizeof pk);
    ff_firmware(&e, pk, "retry_fw", "2.0.0", "0123456789", 10, fwid, sizeof fwid);

    char *aargv[] = {FLEET_BIN, "--api", e.base_url, "--token", e.admin_token, "--key-file", key,
                     "--broker", addr, "--product-key", pk, "-n", "20", "--register",
                     "--activate-only", "--duration", "30", NULL};
    run_ok(aargv, flog, &e);
    ff_wait_eligible(&e, fwid, 20, 10000);

    char *bargv[] = {FLEET_BIN, "--api", e.base_url, "--token", e.admin_token, "--key-file", key,
                     "--broker", addr, "--product-key", pk, "-n", "20", "--mix",
                     "success=10,fail-2=5,fail-4=5", "--fail-times", "1", "--download", "100",
                     "--batch", fwid, "--batch-json", "{\"retryTimes\":1,\"retryIntervalMinutes\":1}",
                     "--summary-json", fsum, "--duration", "40", NULL};
    run_ok(bargv, flog, &e);
    json_t *f = json_load_file(fsum, 0, NULL);
    assert_non_null(f);
    json_t *b = json_object_get(f, "batch");
    assert_string_equal(json_string_value(json_object_get(b, "state")), "completed");
    assert_int_equal(json_integer_value(json_object_get(b, "succeeded")), 20);
    assert_int_equal(json_integer_value(json_object_get(f, "pushes")), 30); /* 10 retried */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f, "outcomes"), "succeeded")), 20);
    json_decref(f);
    oth_env_cleanup(&e);
}

static void test_fleet_wrong_key_is_refused(void **state)
{
    (void)state;
    oth_env e;
    char addr[64], key[320], flog[320], csv[320];
    assert_int_equal(oth_env_init(&e), 0);
    assert_int_equal(oth_broker_start(&e), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", e.mqtt_port);
    snprintf(key, sizeof key, "%s/other.key", e.dir);
    snprintf(flog, sizeof flog, "%s/fleet.log", e.dir);
    snprintf(csv, sizeof csv, "%s/results.csv", e.dir);
    FILE *fp = fopen(key, "w");
    assert_non_null(fp);
    fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", fp);
    fclose(fp);
    assert_int_equal(chmod(key, 0600), 0); /* a key others may read is refused */
    char *argv[] = {FLEET_BIN, "--broker", addr, "--key-file", key, "--product-key", "pkx", "-n", "5",
                    "--duration", "20", "--results", csv, NULL};
    assert_int_equal(run(argv, flog), 1);
    assert_int_equal(count_rows(csv, "success", "refused"), 5);
    oth_env_cleanup(&e);
}

static void test_fleet_bad_options(void **state)
{
    (void)state;
    char *a1[] = {FLEET_BIN, "--mix", "bogus=1", "--product-key", "p", NULL};
    char *a2[] = {FLEET_BIN, "-n", "0", "--product-key", "p", NULL};
    char *a3[] = {FLEET_BIN, "--product-key", "p", "--key-file", "/nonexistent/server.key", NULL};
    char *a4[] = {FLEET_BIN, "--key-file", "/nonexistent", NULL}; /* no product */
    assert_int_equal(run(a1, "/dev/null"), 2);
    assert_int_equal(run(a2, "/dev/null"), 2);
    assert_int_equal(run(a3, "/dev/null"), 2);
    assert_int_equal(run(a4, "/dev/null"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_bad_options),
        cmocka_unit_test(test_fleet_with_responder),
        cmocka_unit_test(test_fleet_wrong_key_is_refused),
        cmocka_unit_test(test_fleet_rollout_through_otad),
        cmocka_unit_test(test_fleet_rollout_over_tls),
        cmocka_unit_test(test_fleet_retry_through_otad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
