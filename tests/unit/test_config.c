/* Unit tests of core/config: defaults, environment, flags, validation and help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/config.h"

#include <stdlib.h>
#include <string.h>

static const char *const envs[] = {
    "OTA_HTTP_ADDR",  "OTA_PUBLIC_URL", "OTA_MQTT_ADDR", "OTA_DATA_DIR",    "OTA_ADMIN_TOKEN",
    "OTA_TIME_SCALE", "OTA_DB",         "OTA_LOG_LEVEL", "OTA_CONSOLE_DIR", "OTA_HTTP_THREADS",
    "OTA_HTTP_MAX_CONNECTIONS", "OTA_HTTP_MAX_PER_ADDRESS", "OTA_HTTP_HEAD_TIMEOUT",
    "OTA_HTTP_IDLE_TIMEOUT"};

static int clear_env(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
    return 0;
}

static void test_defaults(void **st)
{
    (void)st;
    cfg_t c;
    char err[256], url[1100];
    char *argv[] = {"otad", NULL};
    assert_int_equal(cfg_load(&c, 1, argv, err, sizeof err), 0);
    assert_string_equal(c.http_addr, "127.0.0.1:8080");
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");
    assert_string_equal(c.mqtt_addr, "127.0.0.1:1883");
    assert_string_equal(c.data_dir, "./data");
    assert_string_equal(c.admin_token, "");
    assert_true(c.time_scale == 1.0);
    assert_string_equal(cfg_db_url(&c, url, sizeof url), "sqlite:./data/ota.db");
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.http_threads, 8);
    assert_int_equal(c.http_max_connections, 20000);
    assert_int_equal(c.http_max_per_address, 256);
    assert_int_equal(c.http_head_timeout, 10);
    assert_int_equal(c.http_idle_timeout, 120);
}

static void test_env_and_flags(void **st)
{
    (void)st;
    cfg_t c;
    char err[256];
    setenv("OTA_HTTP_ADDR", "0.0.0.0:9000", 1);
    setenv("OTA_TIME_SCALE", "60", 1);
    setenv("OTA_PUBLIC_URL", "https://ota.example.com/", 1);
    char *argv[] = {"otad",        "--http-addr", "127.0.0.1:9001", "--data-dir=/tmp/x",
                    "--init-only", NULL};
    assert_int_equal(cfg_load(&c, 5, argv, err, sizeof err), 0);
    assert_string_equal(c.http_addr, "127.0.0.1:9001"); /* flag wins */
    assert_string_equal(c.data_dir, "/tmp/x");
    assert_string_equal(c.public_url, "https://ota.example.com"); /* no trailing slash */
    assert_true(c.time_scale == 60.0);
    assert_int_equal(c.init_only, 1);
    clear_env(NULL);
}

static void test_errors(void **st)
{
    (void)st;
    cfg_t c;
    char err[256];
    char *a1[] = {"otad", "--http-addr", "nope", NULL};
    assert_int_equal(cfg_load(&c, 3, a1, err, sizeof err), -1);
    assert_non_null(strstr(err, "http address"));
    char *a2[] = {"otad", "--bogus", NULL};
    assert_int_equal(cfg_load(&c, 2, a2, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown option"));
    char *a3[] = {"otad", "--data-dir", NULL};
    assert_int_equal(cfg_load(&c, 2, a3, err, sizeof err), -1);
    setenv("OTA_TIME_SCALE", "0", 1);
    char *a4[] = {"otad", NULL};
    assert_int_equal(cfg_load(&c, 1, a4, err, sizeof err), -1);
    assert_non_null(strstr(err, "OTA_TIME_SCALE"));
    clear_env(NULL);
    setenv("OTA_ADMIN_TOKEN", "short\x01", 1);
    assert_int_equal(cfg_load(&c, 1, a4, err, sizeof err), -1);
    assert_null(strstr(err, "short")); /* secrets are never echoed */
    clear_env(NULL);
    setenv("OTA_DB", "mysql://x", 1);
    assert_int_equal(cfg_load(&c, 1, a4, err, sizeof err), -1);
    clear_env(NULL);
    setenv("OTA_LOG_LEVEL", "loud", 1);
    assert_int_equal(cfg_load(&c, 1, a4, err, sizeof err), -1);
    clear_env(NULL);
    char *a5[] = {"otad", "--mqtt-addr", "host:70000", NULL};
    assert_int_equal(cfg_load(&c, 3, a5, err, sizeof err), -1);
    /* the listener's limits: ranges named in the error; 0 = no per-address limit */
    setenv("OTA_HTTP_HEAD_TIMEOUT", "0", 1);
    assert_int_equal(cfg_load(&c, 1, a4, err, sizeof err), -1);
    assert_non_null(strstr(err, "OTA_HTTP_HEAD_TIMEOUT"));
    assert_non_null(strstr(err, "1..3600"));
    clear_env(NULL);
    char *a6[] = {"otad", "--http-max-connections", "15", NULL};
    assert_int_equal(cfg_load(&c, 3, a6, err, sizeof err), -1);
    char *a7[] = {"otad", "--http-max-per-address=0", "--http-idle-timeout", "30", NULL};
    assert_int_equal(cfg_load(&c, 4, a7, err, sizeof err), 0);
    assert_int_equal(c.http_max_per_address, 0);
    assert_int_equal(c.http_idle_timeout, 30);
}

static void test_split_addr(void **st)
{
    (void)st;
    char host[64];
    int port;
    assert_int_equal(cfg_split_addr("127.0.0.1:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(cfg_split_addr("[::1]:80", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(cfg_split_addr("localhost:0", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_addr(":80", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_addr("a:b", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_addr("::1:80", host, sizeof host, &port), -1);
}

static void test_help(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_print_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        assert_non_null(strstr(buf, envs[i]));
    assert_non_null(strstr(buf, "--http-addr"));
    assert_non_null(strstr(buf, "--init-only"));
    assert_non_null(strstr(buf, "--list-routes"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_env_and_flags, clear_env),
        cmocka_unit_test_setup(test_errors, clear_env),
        cmocka_unit_test(test_split_addr),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
