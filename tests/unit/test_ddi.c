/*
 * Unit test of server/core/ddi: action ids (a retry gets a new one; foreign numbers name no
 * attempt), the poll interval text, the poll's answer (the bytes jansson made of it), and
 * the parsers of what hawkBit DDI clients send, with bodies as SWUpdate 2022.12 and
 * rauc-hawkbit-updater send them (docs/ddi.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ddi.h"

#include <jansson.h>
#include <stdio.h>

static void test_action_ids(void **st)
{
    (void)st;
    int64_t b;
    int a;
    int64_t x = ddi_action_id(7, 1), y = ddi_action_id(7, 2);
    assert_true(x > 0 && y > 0 && x != y);
    assert_int_equal(ddi_action_split(y, &b, &a), 0);
    assert_int_equal(b, 7);
    assert_int_equal(a, 2);
    assert_int_equal(ddi_action_id(7, 0), 0);
    assert_int_equal(ddi_action_id(7, DDI_ATTEMPTS), 0);
    assert_int_equal(ddi_action_id(0, 1), 0);
    assert_int_equal(ddi_action_split(DDI_ATTEMPTS * 3, &b, &a), -1); /* attempt 0 */
    assert_int_equal(ddi_action_split(5, &b, &a), -1);                /* batch 0 */
    int64_t v;
    assert_int_equal(ddi_action_parse("113", &v), 0);
    assert_int_equal(v, 113);
    assert_int_equal(ddi_action_parse("", &v), -1);
    assert_int_equal(ddi_action_parse("0", &v), -1);
    assert_int_equal(ddi_action_parse("12a", &v), -1);
    assert_int_equal(ddi_action_parse("-1", &v), -1);
    assert_int_equal(ddi_action_parse("1234567890123456789", &v), -1);
    assert_int_equal(ddi_action_parse(NULL, &v), -1);
}

static void test_sleep(void **st)
{
    (void)st;
    char s[9];
    ddi_sleep_text(1, s);
    assert_string_equal(s, "00:00:01");
    ddi_sleep_text(0, s);
    assert_string_equal(s, "00:00:01");
    ddi_sleep_text(3723, s);
    assert_string_equal(s, "01:02:03");
    ddi_sleep_text(INT64_MAX, s);
    assert_string_equal(s, "99:59:59");
    assert_int_equal(ddi_sleep_seconds(60, 1), 60);
    assert_int_equal(ddi_sleep_seconds(60, 30), 2);
    assert_int_equal(ddi_sleep_seconds(60, 1000), 1);
}

/* The poll's answer as the jansson objects it was once built from, dumped compact. */
static char *poll_by_jansson(const ddi_poll_links *p)
{
    char sleep[9], url[1200];
    json_t *links = json_object();
    ddi_sleep_text(p->sleep_s, sleep);
    if (p->cancel) {
        snprintf(url, sizeof url, "%s/cancelAction/%lld", p->base, (long long)p->cancel);
        json_object_set_new(links, "cancelAction", json_pack("{s:s}", "href", url));
    } else if (p->deployment) {
        snprintf(url, sizeof url, "%s/deploymentBase/%lld?c=%lld", p->base,
                 (long long)p->deployment, (long long)p->deployment);
        json_object_set_new(links, "deploymentBase", json_pack("{s:s}", "href", url));
    }
    if (p->config_data) {
        snprintf(url, sizeof url, "%s/configData", p->base);
        json_object_set_new(links, "configData", json_pack("{s:s}", "href", url));
    }
    json_t *body = json_pack("{s:{s:{s:s}}}", "config", "polling", "sleep", sleep);
    if (json_object_size(links))
        json_object_set_new(body, "_links", links);
    else
        json_decref(links);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return s;
}

static void test_poll_answer(void **st)
{
    (void)st;
    static const char *const bases[] = {
        "http://127.0.0.1:8080/Ab12Cd34Ef/controller/v1/dev-1",
        "https://ota.example.com/a\\b/Ab12Cd34Ef/controller/v1/x_y", /* a backslash */
        "http://h\"q\x01\t\n/\xc3\xa9/controller/v1/z",             /* what jansson escapes */
    };
    char out[2048];
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
        for (int k = 0; k < 12; k++) {
            ddi_poll_links p = {bases[i], k % 2 ? 60 : 360000, k % 3 == 1 ? 113 : 0,
                                k % 3 == 2 ? 2147483647 : k % 4 == 0 ? 17 : 0, k / 6};
            char *want = poll_by_jansson(&p);
            assert_non_null(want);
            int n = ddi_poll_answer(&p, out, sizeof out);
            assert_int_equal(n, (int)strlen(want));
            assert_string_equal(out, want);
            /* a buffer one byte short is refused, never cut */
            assert_int_equal(ddi_poll_answer(&p, out, strlen(want)), -1);
            assert_int_equal(ddi_poll_answer(&p, out, strlen(want) + 1), n);
            free(want);
        }
    ddi_poll_links none = {bases[0], 60, 0, 0, 0};
    assert_int_equal(ddi_poll_answer(&none, out, sizeof out), 43);
    assert_string_equal(out, "{\"config\":{\"polling\":{\"sleep\":\"00:01:00\"}}}");
}

static int parse(const char *body, ddi_feedback *f, rq_error *e)
{
    memset(e, 0, sizeof *e);
    return ddi_parse_feedback(body, strlen(body), f, e);
}

static void test_feedback(void **st)
{
    (void)st;
    ddi_feedback f;
    rq_error e;
    /* SWUpdate's proceeding: id as a number, time as it formats it, cnt/of counters */
    assert_int_equal(parse("{\"id\":17,\"time\":\"20261202T134752\",\"status\":{\"result\":{"
                           "\"progress\":{\"cnt\":1,\"of\":2},\"finished\":\"none\"},"
                           "\"execution\":\"proceeding\",\"details\":[\"Installed Chunk.\"]}}",
                           &f, &e),
                     0);
    assert_true(f.has_id);
    assert_int_equal(f.id, 17);
    assert_int_equal(f.execution, DDI_EXEC_PROCEEDING);
    assert_int_equal(ddi_progress_step(&f), 50);
    assert_int_equal(f.hint_step, 0); /* a progress line names no failure */
    /* id as a string, or absent; closed + success */
    assert_int_equal(parse("{\"id\":\"18\",\"status\":{\"execution\":\"closed\",\"result\":{"
                           "\"finished\":\"success\"}}}",
                           &f, &e),
                     0);
    assert_int_equal(f.id, 18);
    assert_int_equal(f.finished, DDI_FIN_SUCCESS);
    assert_int_equal(parse("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":"
                           "\"failure\"},\"details\":[\"Download failed: timeout\"]}}",
                           &f, &e),
                     0);
    assert_false(f.has_id);
    assert_int_equal(f.fail_step, -2);
    /* verify is the more telling when a bad image also failed to install */
    assert_int_equal(parse("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":"
                           "\"failure\"},\"details\":[\"Installing failed\",\"ERROR : HASH "
                           "mismatch\"]}}",
                           &f, &e),
                     0);
    assert_int_equal(f.fail_step, -3);
    assert_int_equal(parse("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":"
                           "\"failure\"},\"details\":[\"No suitable .swu image found\"]}}",
                           &f, &e),
                     0);
    assert_int_equal(f.fail_step, -1);
    /* SWUpdate's installer errors come while proceeding */
    assert_int_equal(parse("{\"id\":17,\"status\":{\"execution\":\"proceeding\",\"result\":{"
                           "\"finished\":\"none\"},\"details\":[\"ERROR : HASH mismatch : a <--> "
                           "b\"]}}",
                           &f, &e),
                     0);
    assert_int_equal(f.hint_step, -3);
    assert_int_equal(ddi_step_best(-4, -3), -3);
    assert_int_equal(ddi_step_best(-1, 0), -1);
    assert_int_equal(ddi_step_best(-2, -4), -2);
    assert_int_equal(ddi_step_best(-1, -4), -4);
    /* refusals name the member */
    assert_int_equal(parse("[]", &f, &e), -1);
    assert_string_equal(e.code, "invalid_json");
    assert_int_equal(parse("{\"status\":1}", &f, &e), -1);
    assert_string_equal(e.field, "status");
    assert_int_equal(parse("{\"status\":{\"execution\":\"done\"}}", &f, &e), -1);
    assert_string_equal(e.field, "status.execution");
    assert_int_equal(parse("{\"status\":{\"execution\":\"closed\"}}", &f, &e), -1);
    assert_string_equal(e.field, "status.result.finished");
    assert_int_equal(parse("{\"id\":true,\"status\":{\"execution\":\"proceeding\"}}", &f, &e), -1);
    assert_string_equal(e.field, "id");
    assert_int_equal(parse("{\"id\":\"x1\",\"status\":{\"execution\":\"proceeding\"}}", &f, &e),
                     -1);
    assert_string_equal(e.field, "id");
    assert_int_equal(parse("{\"status\":{\"execution\":\"proceeding\",\"result\":{\"progress\":{"
                           "\"cnt\":-1}}}}",
                           &f, &e),
                     -1);
    assert_string_equal(e.field, "status.result.progress");
    assert_int_equal(parse("{\"status\":{\"execution\":\"proceeding\",\"details\":\"x\"}}", &f, &e),
                     -1);
    assert_string_equal(e.field, "status.details");
    assert_int_equal(parse("{\"status\":{\"execution\":\"x\"},\"status\":{}}", &f, &e), -1);
}

static void test_config(void **st)
{
    (void)st;
    rq_error e = {0};
    char *json = NULL;
    /* SWUpdate's configData: "id":"" and the data */
    const char *b = "{\"id\":\"\",\"time\":\"20261202T134752\",\"status\":{\"result\":{"
                    "\"finished\":\"success\"},\"execution\":\"closed\",\"details\":[\"\"]},"
                    "\"data\":{\"hw\":\"board 1.0\",\"VIN\":\"JH4TB2H26CC000000\"}}";
    assert_int_equal(ddi_parse_config(b, strlen(b), &json, &e), 0);
    assert_string_equal(json, "{\"VIN\":\"JH4TB2H26CC000000\",\"hw\":\"board 1.0\"}");
    free(json);
    b = "{\"data\":{\"a\":\"1\"},\"mode\":\"remove\"}";
    assert_int_equal(ddi_parse_config(b, strlen(b), &json, &e), 0);
    assert_string_equal(json, "{}");
    free(json);
    b = "{\"data\":{\"a\":1}}";
    assert_int_equal(ddi_parse_config(b, strlen(b), &json, &e), -1);
    assert_string_equal(e.field, "data.a");
    assert_null(json);
    memset(&e, 0, sizeof e);
    b = "{\"data\":[]}";
    assert_int_equal(ddi_parse_config(b, strlen(b), &json, &e), -1);
    assert_string_equal(e.field, "data");
    memset(&e, 0, sizeof e);
    b = "{\"data\":{},\"mode\":\"append\"}";
    assert_int_equal(ddi_parse_config(b, strlen(b), &json, &e), -1);
    assert_string_equal(e.field, "mode");
    /* bounds: keys, key length, value length */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"data\":{");
    for (int i = 0; i <= DDI_ATTR_MAX_KEYS; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "}}");
    memset(&e, 0, sizeof e);
    assert_int_equal(ddi_parse_config(big, strlen(big), &json, &e), -1);
    assert_string_equal(e.field, "data");
    char val[DDI_ATTR_VALUE_MAX + 2];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    snprintf(big, sizeof big, "{\"data\":{\"k\":\"%s\"}}", val);
    memset(&e, 0, sizeof e);
    assert_int_equal(ddi_parse_config(big, strlen(big), &json, &e), -1);
    assert_string_equal(e.field, "data.k");
    char key[DDI_ATTR_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(big, sizeof big, "{\"data\":{\"%s\":\"v\"}}", key);
    memset(&e, 0, sizeof e);
    assert_int_equal(ddi_parse_config(big, strlen(big), &json, &e), -1);
    assert_string_equal(e.field, "data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_ids),
        cmocka_unit_test(test_sleep),
        cmocka_unit_test(test_poll_answer),
        cmocka_unit_test(test_feedback),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
