/*
 * What an outside probe of a running system checks, end to end with the real otad:
 *  - the data folder is private: made 0700 with keys, token and database 0600; looser modes
 *    are repaired at start with a warning; a server key others may read stops otad, and
 *    the broker (its plugin refuses the key);
 *  - the admin token is shown once, when it is created, and never on a restart;
 *  - a request path with escape sequences and newlines reaches the log escaped;
 *  - a device that sends malformed messages as fast as it can gets a few log lines and one
 *    summary with the count of the rest (with the real broker and plugin).
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

static int group_setup(void **state)
{
    (void)state;
    return oth_env_init(&env);
}

static int group_teardown(void **state)
{
    (void)state;
    oth_env_cleanup(&env);
    return 0;
}

/* The whole file (NUL-terminated, caller frees), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; hay && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int log_has(const char *path, const char *needle)
{
    char *s = slurp(path, NULL);
    int ok = s && strstr(s, needle);
    free(s);
    return ok;
}

/* Starts otad on data folder dir (no OTA_ADMIN_TOKEN unless token), output into log.
 * Waits for "otad: ready" (returns the pid) or its exit (returns -1, *status set). */
static pid_t start_otad(const char *dir, const char *log, const char *token, int *status)
{
    char bin[512], e1[64], e2[96], e3[64], e4[320], e5[128];
    snprintf(bin, sizeof bin, "%s/server/otad", OTA_BUILD_DIR);
    snprintf(e1, sizeof e1, "OTA_HTTP_ADDR=127.0.0.1:%d", env.http_port);
    snprintf(e2, sizeof e2, "OTA_PUBLIC_URL=%s", env.base_url);
    snprintf(e3, sizeof e3, "OTA_MQTT_ADDR=127.0.0.1:%d", env.mqtt_port);
    snprintf(e4, sizeof e4, "OTA_DATA_DIR=%s", dir);
    snprintf(e5, sizeof e5, "OTA_ADMIN_TOKEN=%s", token ? token : "");
    char *envs[] = {e1, e2, e3, e4, e5};
    char *argv[] = {bin, NULL};
    unlink(log);
    pid_t pid = oth_spawn(argv, envs, token ? 5 : 4, log);
    assert_true(pid > 0);
    for (int waited = 0; waited < 20000; waited += 50) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return -1;
        if (log_has(log, "otad: ready"))
            return pid;
        sdev_sleep_ms(50);
    }
    oth_dump_file(log, 4000);
    oth_stop_pid(pid, SIGKILL, 1000);
    fail_msg("otad neither ready nor exited after 20 s");
    return -1;
}

static unsigned mode_of(const char *dir, const char *rel)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s%s", dir, rel);
    if (stat(p, &st) != 0)
        fail_msg("%s is missing", p);
    return (unsigned)(st.st_mode & 07777);
}

static void assert_private(const char *dir)
{
    static const char *const dirs[] = {"", "/keys", "/firmware", "/tmp"};
    static const char *const files[] = {"/keys/server.key", "/keys/admin.token", "/ota.db"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (mode_of(dir, dirs[i]) != 0700)
            fail_msg("%s%s has mode %04o, want 0700", dir, dirs[i], mode_of(dir, dirs[i]));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (mode_of(dir, files[i]) != 0600)
            fail_msg("%s%s has mode %04o, want 0600", dir, files[i], mode_of(dir, files[i]));
}

/* A fresh data folder is private; the token is printed at creation only; loose modes are
 * repaired with a warning; a key others may read stops otad. */
static void test_data_folder_private_and_token_once(void **state)
{
    (void)state;
    char dir[320], log[340], tok_path[360], token[128] = {0};
    int status = 0;
    snprintf(dir, sizeof dir, "%s/fresh", env.dir);
    snprintf(log, sizeof log, "%s/otad-fresh.log", env.dir);
    snprintf(tok_path, sizeof tok_path, "%s/keys/admin.token", dir);

    /* first start: everything made private, the new token shown once */
    umask(022); /* a usual login umask: otad must not depend on it */
    pid_t pid = start_otad(dir, log, NULL, &status);
    assert_true(pid > 0);
    assert_int_equal(oth_stop_pid(pid, SIGTERM, 10000), 0);
    assert_private(dir);
    FILE *f = fopen(tok_path, "r");
    assert_non_null(f);
    assert_non_null(fgets(token, sizeof token, f));
    fclose(f);
    token[strcspn(token, "\n")] = '\0';
    assert_true(strlen(token) >= 16);
    char *text = slurp(log, NULL);
    assert_int_equal(count(text, token), 1);
    free(text);

    /* restart: the token is not printed again, where to find it is */
    pid = start_otad(dir, log, NULL, &status);
    assert_true(pid > 0);
    assert_int_equal(oth_stop_pid(pid, SIGTERM, 10000), 0);
    text = slurp(log, NULL);
    assert_int_equal(count(text, token), 0);
    assert_non_null(strstr(text, "keys/admin.token"));
    free(text);

    /* loose modes (today's main left these) are repaired, each with a warning */
    char p[400];
    assert_int_equal(chmod(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/keys", dir);
    assert_int_equal(chmod(p, 0755), 0);
    snprintf(p, sizeof p, "%s/ota.db", dir);
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(chmod(tok_path, 0644), 0);
    pid = start_otad(dir, log, NULL, &status);
    assert_true(pid > 0);
    assert_int_equal(oth_stop_pid(pid, SIGTERM, 10000), 0);
    assert_private(dir);
    text = slurp(log, NULL);
    assert_true(count(text, "others could read it") >= 4);
    assert_int_equal(count(text, token), 0);
    free(text);

    /* a key others may read: otad refuses to start, and says what to do */
    snprintf(p, sizeof p, "%s/keys/server.key", dir);
    assert_int_equal(chmod(p, 0644), 0);
    pid = start_otad(dir, log, NULL, &status);
    assert_int_equal(pid, -1);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_true(log_has(log, "refusing to start"));
    assert_true(log_has(log, "chmod 600"));
    assert_int_equal(mode_of(dir, "/keys/server.key"), 0644); /* not silently "fixed" */
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(start_otad(dir, log, NULL, &status), -1);
    assert_int_equal(chmod(p, 0600), 0);
    pid = start_otad(dir, log, NULL, &status);
    assert_true(pid > 0);
    assert_int_equal(oth_stop_pid(pid, SIGTERM, 10000), 0);
}

/* The broker's plugin refuses a server key others may read, as otad does: the broker does
 * not start. The same configuration starts once the key is 0600 again. */
static void test_broker_refuses_readable_key(void **state)
{
    (void)state;
    char key[320], log[340];
    snprintf(key, sizeof key, "%s/keys/server.key", env.dir);
    snprintf(log, sizeof log, "%s/broker.log", env.dir);
    assert_int_equal(chmod(key, 0644), 0);
    unlink(log);
    assert_int_not_equal(oth_broker_start(&env), 0);
    oth_broker_stop(&env, SIGKILL); /* reaps the exited broker */
    assert_true(log_has(log, "group or others may read it"));
    assert_int_equal(chmod(key, 0600), 0);
}

/* Escape sequences and newlines of a request path reach the log escaped, on one line. */
static void test_log_escapes_request_path(void **state)
{
    (void)state;
    char log[340], url[256];
    int status = 0;
    snprintf(log, sizeof log, "%s/otad-esc.log", env.dir);
    pid_t pid = start_otad(env.dir, log, env.admin_token, &status);
    assert_true(pid > 0);
    snprintf(url, sizeof url, "%s/probe%%1b%%5b2J%%1b%%5d0;owned%%07%%0d%%0aFAKE-LINE%%7f", env.base_url);
    oth_resp r;
    assert_int_equal(oth_http_url("GET", url, NULL, NULL, NULL, 0, NULL, &r), 0);
    oth_resp_free(&r);
    sdev_sleep_ms(300);
    assert_int_equal(oth_stop_pid(pid, SIGTERM, 10000), 0);
    size_t len = 0;
    char *text = slurp(log, &len);
    assert_non_null(text);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c != '\n' && (c < 0x20 || c == 0x7f))
            fail_msg("raw control byte 0x%02x in otad's log at %zu", c, i);
    }
    assert_non_null(strstr(text, "/probe\\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE-LINE\\x7f"));
    /* no line starts with the forged text */
    assert_null(strstr(text, "\nFAKE-LINE"));
    free(text);
}

/* A device flooding malformed messages: a few lines, then a summary with the count. */
static void test_device_log_rate_limited(void **state)
{
    (void)state;
    enum { N = 300 };
    char log[340];
    assert_int_equal(oth_broker_start(&env), 0);
    /* the limit's window is 60 s of otad's time: 6 s at time scale 10 */
    oth_env_set(&env, "OTA_TIME_SCALE", "10");
    assert_int_equal(oth_otad_start(&env), 0);
    snprintf(log, sizeof log, "%s/otad.log", env.dir);
    sdev *d = sdev_open(env.mqtt_port, env.key, "floodpk", "flood1");
    assert_non_null(d);
    for (int i = 0; i < N; i++)
        assert_int_equal(sdev_publish_raw(d, "ota/progress", "{not json", 9), 0);
    char *text = NULL;
    for (int waited = 0; waited < 30000; waited += 200) {
        free(text);
        text = slurp(log, NULL);
        if (text && strstr(text, "lines about device floodpk.flood1 dropped"))
            break;
        sdev_sleep_ms(200);
    }
    assert_non_null(text);
    size_t written = count(text, "device floodpk.flood1: bad message");
    unsigned long dropped = 0;
    for (const char *p = text; (p = strstr(p, "log limit: ")) != NULL; p++) {
        unsigned long n = 0;
        char who[64];
        if (sscanf(p, "log limit: %lu more lines about device %63s", &n, who) == 2 &&
            strcmp(who, "floodpk.flood1") == 0)
            dropped += n;
    }
    if (written + dropped != N || written > 20)
        fail_msg("%zu lines written and %lu counted as dropped for %d bad messages", written,
                 dropped, N);
    free(text);
    sdev_free(d);
    oth_otad_stop(&env, SIGTERM);
    oth_broker_stop(&env, SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_folder_private_and_token_once),
        cmocka_unit_test(test_broker_refuses_readable_key),
        cmocka_unit_test(test_log_escapes_request_path),
        cmocka_unit_test(test_device_log_rate_limited),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
