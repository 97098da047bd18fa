/*
 * fleet_fixture: see fleet_fixture.h. Linked into each test that uses it.
 */
#include "fleet_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ff_run(char *const argv[], const char *log)
{
    int st;
    pid_t pid = oth_spawn(argv, NULL, 0, log);
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int ff_wait(pid_t pid, int timeout_ms)
{
    int st;
    for (int64_t end = mono_ms() + timeout_ms; mono_ms() < end; usleep(50 * 1000)) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
    oth_stop_pid(pid, SIGKILL, 1000);
    return -1;
}

void ff_product(oth_env *e, const char *name, char *pk, size_t pk_len)
{
    oth_resp r;
    json_t *body = json_pack("{s:s,s:s}", "productName", name, "description", "");
    assert_int_equal(oth_post_json(e, "/api/v1/products", body, &r), 0);
    json_decref(body);
    assert_int_equal(r.status, 201);
    snprintf(pk, pk_len, "%s", json_string_value(json_object_get(r.json, "productKey")));
    oth_resp_free(&r);
}

void ff_firmware(oth_env *e, const char *pk, const char *name, const char *version,
                 const void *data, size_t len, char *id, size_t id_len)
{
    oth_resp r;
    char file[160];
    const char *fields[] = {"firmwareName",    name,    "productKey", pk,
                            "firmwareVersion", version, NULL};
    snprintf(file, sizeof file, "%s.bin", name);
    assert_int_equal(oth_upload(e, "/api/v1/firmwares", fields, file, data, len, &r), 0);
    assert_int_equal(r.status, 201);
    json_t *v = json_object_get(r.json, "firmwareId");
    if (json_is_string(v))
        snprintf(id, id_len, "%s", json_string_value(v));
    else
        snprintf(id, id_len, "%lld", (long long)json_integer_value(v));
    oth_resp_free(&r);
}

void ff_wait_eligible(oth_env *e, const char *fwid, long long n, int timeout_ms)
{
    char path[160];
    long long eligible = 0;
    snprintf(path, sizeof path, "/api/v1/firmwares/%s/eligible-devices?pageSize=1", fwid);
    for (int64_t end = mono_ms() + timeout_ms;;) {
        oth_resp r;
        if (oth_get(e, path, &r) == 0 && r.json)
            eligible = (long long)json_integer_value(json_object_get(r.json, "total"));
        oth_resp_free(&r);
        if (eligible >= n || mono_ms() > end)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(eligible, n);
}
