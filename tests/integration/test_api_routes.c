/* Integration: every route otad answers (otad --list-routes) is described in
 * docs/openapi.yaml with the same method and the same role (x-ota-role: the access the
 * route table declares), and every operation there is a real route;
 * otad --help lists every setting. "{name*}" catch-alls appear as "{name}" in the yaml. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXR 256

typedef struct {
    char method[16];
    char path[1024];
    char role[16];
    int seen;
} op;

static int read_routes(op *ops)
{
    char cmd[600], line[512];
    int n = 0;
    snprintf(cmd, sizeof cmd, "%s/server/otad --list-routes", OTA_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof line, p) && n < MAXR) {
        char m[16], path[256], role[16];
        if (sscanf(line, "%15s %255s %15s", m, path, role) != 3)
            continue;
        snprintf(ops[n].role, sizeof ops[n].role, "%s", role);
        char *star = strstr(path, "*}");
        if (star)
            memmove(star, star + 1, strlen(star + 1) + 1);
        snprintf(ops[n].method, sizeof ops[n].method, "%s", m);
        snprintf(ops[n].path, sizeof ops[n].path, "%s", path);
        n++;
    }
    assert_int_equal(pclose(p), 0);
    return n;
}

static int read_yaml(op *ops)
{
    char path[600], line[1024], cur[1024] = "";
    int n = 0, in_paths = 0;
    snprintf(path, sizeof path, "%s/docs/openapi.yaml", OTA_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) && n < MAXR) {
        if (line[0] != ' ' && line[0] != '\n') {
            in_paths = strncmp(line, "paths:", 6) == 0;
            continue;
        }
        if (!in_paths)
            continue;
        if (n > 0 && strncmp(line, "      x-ota-role: ", 18) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(ops[n - 1].role, sizeof ops[n - 1].role, "%.15s", line + 18);
        } else if (strncmp(line, "  /", 3) == 0) {
            char *colon = strrchr(line, ':');
            *colon = '\0';
            snprintf(cur, sizeof cur, "%s", line + 2);
        } else if (strncmp(line, "    ", 4) == 0 && line[4] != ' ') {
            static const char *const methods[] = {"get", "post", "put", "patch", "delete", "head"};
            for (size_t i = 0; i < 6; i++) {
                size_t l = strlen(methods[i]);
                if (strncmp(line + 4, methods[i], l) == 0 && line[4 + l] == ':') {
                    for (size_t k = 0; k < l; k++)
                        ops[n].method[k] = (char)toupper((unsigned char)methods[i][k]);
                    ops[n].method[l] = '\0';
                    snprintf(ops[n].path, sizeof ops[n].path, "%s", cur);
                    n++;
                }
            }
        }
    }
    fclose(f);
    return n;
}

static void test_routes_in_openapi(void **st)
{
    (void)st;
    static op routes[MAXR], yaml[MAXR];
    int nr = read_routes(routes), ny = read_yaml(yaml);
    int missing = 0;
    assert_true(nr >= 15);
    assert_true(ny >= 15);
    for (int i = 0; i < nr; i++) {
        int found = 0;
        for (int j = 0; j < ny; j++)
            if (strcmp(routes[i].method, yaml[j].method) == 0 &&
                strcmp(routes[i].path, yaml[j].path) == 0) {
                found = 1;
                yaml[j].seen = 1;
                if (strcmp(routes[i].role, yaml[j].role) != 0) {
                    fprintf(stderr, "%s %s: otad's route needs %s, docs/openapi.yaml says %s\n",
                            routes[i].method, routes[i].path, routes[i].role,
                            yaml[j].role[0] ? yaml[j].role : "(no x-ota-role)");
                    missing++;
                }
            }
        if (!found) {
            fprintf(stderr, "route not in docs/openapi.yaml: %s %s\n", routes[i].method,
                    routes[i].path);
            missing++;
        }
    }
    for (int j = 0; j < ny; j++)
        if (!yaml[j].seen) {
            fprintf(stderr, "docs/openapi.yaml describes a route otad does not answer: %s %s\n",
                    yaml[j].method, yaml[j].path);
            missing++;
        }
    assert_int_equal(missing, 0);
}

static void test_help_lists_settings(void **st)
{
    (void)st;
    char cmd[600], buf[8192];
    snprintf(cmd, sizeof cmd, "%s/server/otad --help", OTA_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    static const char *const want[] = {"OTA_HTTP_ADDR", "OTA_PUBLIC_URL",  "OTA_MQTT_ADDR",
                                       "OTA_DATA_DIR",  "OTA_ADMIN_TOKEN", "OTA_TIME_SCALE",
                                       "OTA_DB",        "OTA_LOG_LEVEL",   "OTA_CONSOLE_DIR",
                                       "--http-addr",   "--init-only",     "--list-routes"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_non_null(strstr(buf, want[i]));
    snprintf(cmd, sizeof cmd, "%s/server/otad --no-such-flag 2>/dev/null", OTA_BUILD_DIR);
    p = popen(cmd, "r");
    assert_int_not_equal(pclose(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_routes_in_openapi),
                                       cmocka_unit_test(test_help_lists_settings)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
