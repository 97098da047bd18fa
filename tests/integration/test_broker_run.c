/*
 * `make run`'s script, scripts/run.sh, end to end: it prepares the data folder with
 * `otad --init-only`, writes the broker configuration, starts Mosquitto and otad, reports
 * the console URL and the admin token once otad is healthy, and on SIGTERM stops both.
 * Skipped when otad is not built (the part is built by others).
 */
#include "scripted_device.h"
#include "ota_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static oth_env env;
static pid_t run_pid;

static int file_contains(const char *path, const char *needle)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static int accepts(int port)
{
    return oth_wait_tcp(port, 0) == 0;
}

static void test_run_script(void **state)
{
    (void)state;
    char bin[512], script[512], log[320], conf[320];
    char e1[64], e2[96], e3[64], e4[300], e5[128], e6[64], e7[64], e8[64];
    snprintf(bin, sizeof bin, "%s/server/otad", OTA_BUILD_DIR);
    if (access(bin, X_OK) != 0) {
        printf("otad not built: skipped\n");
        skip();
    }
    snprintf(script, sizeof script, "%s/scripts/run.sh", OTA_SOURCE_DIR);
    snprintf(log, sizeof log, "%s/run.log", env.dir);
    snprintf(e1, sizeof e1, "OTA_HTTP_ADDR=127.0.0.1:%d", env.http_port);
    snprintf(e2, sizeof e2, "OTA_PUBLIC_URL=%s", env.base_url);
    snprintf(e3, sizeof e3, "OTA_MQTT_ADDR=127.0.0.1:%d", env.mqtt_port);
    snprintf(e4, sizeof e4, "OTA_DATA_DIR=%s", env.dir);
    snprintf(e5, sizeof e5, "OTA_ADMIN_TOKEN=%s", env.admin_token);
    int https_port = oth_free_port(), mqtts_port = oth_free_port(),
        cert_port = oth_free_port();
    snprintf(e6, sizeof e6, "OTA_HTTPS_ADDR=127.0.0.1:%d", https_port);
    snprintf(e7, sizeof e7, "OTA_MQTTS_ADDR=127.0.0.1:%d", mqtts_port);
    snprintf(e8, sizeof e8, "OTA_MQTTS_CERT_ADDR=127.0.0.1:%d", cert_port);
    char *envs[] = {e1, e2, e3, e4, e5, e6, e7, e8};
    char *argv[] = {"/bin/bash", script, OTA_BUILD_DIR, NULL};
    run_pid = oth_spawn(argv, envs, 8, log);
    assert_true(run_pid > 0);

    /* healthy within 30 s: broker up, otad connected and presence synced */
    char url[128];
    int healthy = 0;
    snprintf(url, sizeof url, "%s/api/v1/health", env.base_url);
    for (int i = 0; i < 300 && !healthy; i++) {
        oth_resp r;
        if (oth_http_url("GET", url, NULL, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200)
            healthy = 1;
        oth_resp_free(&r);
        if (!healthy)
            sdev_sleep_ms(100);
    }
    if (!healthy) {
        oth_dump_logs(&env);
        fail_msg("not healthy after 30 s");
    }
    /* the banner follows the health check */
    for (int i = 0; i < 50 && !file_contains(log, "OTA console:"); i++)
        sdev_sleep_ms(100);
    assert_true(file_contains(log, "OTA console:"));
    assert_true(file_contains(log, env.base_url));
    assert_true(file_contains(log, env.admin_token));
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", env.dir);
    assert_true(file_contains(conf, "allow_anonymous false"));
    struct stat st;
    char bdir[320];
    snprintf(bdir, sizeof bdir, "%s/broker", env.dir);
    assert_int_equal(stat(bdir, &st), 0);

    /* a device with the derived secret gets in */
    sdev *d = sdev_open(env.mqtt_port, env.key, "pkrun", "d1");
    assert_non_null(d);
    sdev_free(d);

    /* out of the box: HTTPS and MQTT over TLS with the generated CA, whose path the
     * banner prints */
    char ca[340], cmd[1200], out[64] = "", secret[40];
    snprintf(ca, sizeof ca, "%s/keys/ca.pem", env.dir);
    assert_true(file_contains(log, ca));
    assert_true(file_contains(log, "MQTT/TLS:"));
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -w '%%{http_code}' --cacert %s https://localhost:%d/api/v1/health",
             ca, https_port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof out, p));
    pclose(p);
    assert_string_equal(out, "200");
    assert_int_equal(oth_device_secret(&env, "pkrun", "d2", secret), 0);
    snprintf(cmd, sizeof cmd,
             "mosquitto_pub -h localhost -p %d --cafile %s -q 1 -i pkrun.d2 -u pkrun.d2 -P %s "
             "-t /sys/pkrun/d2/ota/version -m '{}'",
             mqtts_port, ca, secret);
    assert_int_equal(system(cmd), 0);

    /* SIGTERM stops otad, then the broker, and the script exits */
    kill(run_pid, SIGTERM);
    int status = 0, done = 0;
    for (int i = 0; i < 200 && !done; i++) {
        if (waitpid(run_pid, &status, WNOHANG) == run_pid)
            done = 1;
        else
            sdev_sleep_ms(100);
    }
    assert_true(done);
    run_pid = 0;
    assert_true(file_contains(log, "stopping otad"));
    assert_true(file_contains(log, "stopping the broker"));
    assert_false(accepts(env.mqtt_port));
    assert_false(accepts(env.http_port));
    assert_false(accepts(https_port));
    assert_false(accepts(mqtts_port));
}

static int group_setup(void **state)
{
    (void)state;
    return oth_env_init(&env);
}

static int group_teardown(void **state)
{
    (void)state;
    if (run_pid > 0) { /* a failed test: the script stops its children */
        kill(run_pid, SIGTERM);
        oth_stop_pid(run_pid, SIGTERM, 20000);
    }
    oth_env_cleanup(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run_script)};
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
