/*
 * test_sdk_agent_config: the ota-device configuration table: defaults, the file format
 * (comments, spaces, quotes), overrides, bounds, unknown keys, required keys and the
 * broker address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* the keys every check needs, TLS aside */
static void required(dev_config *c)
{
    char err[128];
    dev_config_set(c, "product_key = pk", err, sizeof err);
    dev_config_set(c, "identifier = d", err, sizeof err);
    dev_config_set(c, "version_file = /v", err, sizeof err);
    dev_config_set(c, "install_hook = true", err, sizeof err);
    dev_config_set(c, "download_dir = /d", err, sizeof err);
}

static void test_defaults(void **state)
{
    dev_config c;
    char err[256];
    (void)state;
    unsetenv("OTA_MQTT_ADDR");
    unsetenv("OTA_MQTTS_ADDR");
    dev_config_defaults(&c);
    assert_string_equal(c.tls, "on");
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.silent_delay_s, 0);
    assert_int_equal(c.stall_timeout_s, 30);
    assert_int_equal(c.download_retries, 5);
    assert_int_equal(c.max_download_rate, 0);
    /* TLS by default: the CA is required, the broker is the TLS port */
    required(&c);
    dev_config_set(&c, "device_secret = s", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "ca: required with tls = on"));
    dev_config_set(&c, "ca = /etc/ca.pem", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), 0);
    assert_string_equal(c.broker, "127.0.0.1:8883");
    setenv("OTA_MQTTS_ADDR", "10.0.0.2:8884", 1);
    c.broker[0] = '\0';
    assert_int_equal(dev_config_check(&c, err, sizeof err), 0);
    assert_string_equal(c.broker, "10.0.0.2:8884");
    unsetenv("OTA_MQTTS_ADDR");
    /* plain only when the configuration says so */
    setenv("OTA_MQTT_ADDR", "10.0.0.2:2883", 1);
    dev_config_defaults(&c);
    required(&c);
    dev_config_set(&c, "device_secret = s", err, sizeof err);
    dev_config_set(&c, "tls = off", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), 0);
    assert_string_equal(c.broker, "10.0.0.2:2883");
    unsetenv("OTA_MQTT_ADDR");
    dev_config_defaults(&c);
    required(&c);
    dev_config_set(&c, "device_secret = s", err, sizeof err);
    dev_config_set(&c, "tls = maybe", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "tls"));
}

static void test_certificate_keys(void **state)
{
    dev_config c;
    char err[256];
    (void)state;
    dev_config_defaults(&c);
    required(&c);
    dev_config_set(&c, "ca = /ca.pem", err, sizeof err);
    /* neither a secret nor a certificate */
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "device_secret"));
    /* a certificate without its key */
    dev_config_set(&c, "cert = /d.crt", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "cert and key go together"));
    /* both: no secret needed */
    dev_config_set(&c, "key = /d.key", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), 0);
    /* a certificate on plain MQTT makes no sense */
    dev_config_set(&c, "tls = off", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs tls = on"));
}

static void test_file_and_overrides(void **state)
{
    char path[] = "/tmp/ota-device-conf-XXXXXX";
    char err[256];
    dev_config c;
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# a comment\n\n  broker = broker.local:1884  \nproduct_key=pk1\n"
                     "identifier = dev-1\ndevice_secret = \"s e c\"\nversion_file = /tmp/v\nca = /tmp/ca.pem\n"
                     "install_hook = sh /opt/hook.sh --flag \"x\"\ndownload_dir = /tmp/d\n"
                     "silent_delay = -1\n");
    dev_config_defaults(&c);
    assert_int_equal(dev_config_load(&c, path, err, sizeof err), 0);
    assert_int_equal(dev_config_set(&c, "progress_every=5", err, sizeof err), 0);
    assert_int_equal(dev_config_check(&c, err, sizeof err), 0);
    assert_string_equal(c.host, "broker.local");
    assert_int_equal(c.port, 1884);
    assert_string_equal(c.device_secret, "s e c");
    assert_string_equal(c.install_hook, "sh /opt/hook.sh --flag \"x\"");
    assert_int_equal(c.silent_delay_s, -1);
    assert_int_equal(c.progress_every, 5);

    write_file(path, "product_key = pk\nnot_a_key = 1\n");
    assert_int_equal(dev_config_load(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: unknown key 'not_a_key'"));
    unlink(path);
    assert_int_equal(dev_config_load(&c, path, err, sizeof err), -1);
}

static void test_bounds_and_required(void **state)
{
    char err[256];
    dev_config c;
    (void)state;
    dev_config_defaults(&c);
    assert_int_equal(dev_config_set(&c, "progress_every = 0", err, sizeof err), -1);
    assert_int_equal(dev_config_set(&c, "progress_every = 101", err, sizeof err), -1);
    assert_int_equal(dev_config_set(&c, "stall_timeout = 12abc", err, sizeof err), -1);
    assert_int_equal(dev_config_set(&c, "silent_delay = -2", err, sizeof err), -1);
    assert_int_equal(dev_config_set(&c, "no equals sign", err, sizeof err), -1);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "product_key"));
    dev_config_set(&c, "product_key = pk", err, sizeof err);
    dev_config_set(&c, "identifier = d", err, sizeof err);
    dev_config_set(&c, "device_secret = s", err, sizeof err);
    dev_config_set(&c, "version_file = /v", err, sizeof err);
    dev_config_set(&c, "install_hook = true", err, sizeof err);
    dev_config_set(&c, "download_dir = /d", err, sizeof err);
    dev_config_set(&c, "ca = /ca.pem", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), 0);
    dev_config_set(&c, "broker = nohostport", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    dev_config_set(&c, "broker = host:70000", err, sizeof err);
    assert_int_equal(dev_config_check(&c, err, sizeof err), -1);
    {
        char longv[2000];
        memset(longv, 'x', sizeof longv - 1);
        longv[sizeof longv - 1] = '\0';
        memcpy(longv, "identifier=", 11);
        assert_int_equal(dev_config_set(&c, longv, err, sizeof err), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_certificate_keys),
        cmocka_unit_test(test_file_and_overrides),
        cmocka_unit_test(test_bounds_and_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
