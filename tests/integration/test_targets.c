/*
 * test_targets: device tags, static groups, batch targets and continuous batches
 * (docs/batches.md, "Targeting"), through the API and MQTT against the real broker and
 * otad: the tag and group routes and their refusals; a filter, fromVersions and the live
 * count selecting exactly the right devices; a continuous batch taking a device that
 * activated after it was created, one that got the tag later and one that got a group
 * later, each once; and across otad kill -9, no join lost or repeated.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* method + path (under /api/v1/products/{pk}) + JSON body; returns the status. */
static long call(bt_ctx *t, const char *method, const char *sub, const char *body, oth_resp *r)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/products/%s%s", t->pk, sub);
    if (oth_http(&t->env, method, path, 1, body ? "application/json" : NULL, body,
                 body ? strlen(body) : 0, NULL, r) != 0)
        fail_msg("%s %s: no answer", method, path);
    return r->status;
}

/* Fails unless method sub body answers status (and, when given, error code and field). */
static void expect(bt_ctx *t, const char *method, const char *sub, const char *body, long status,
                   const char *code, const char *field)
{
    oth_resp r;
    long st = call(t, method, sub, body, &r);
    if (st != status || (code && strcmp(oth_err_code(&r), code) != 0) ||
        (field && strcmp(oth_err_field(&r), field) != 0))
        fail_msg("%s %s %s: want %ld %s %s, got %ld %s", method, sub, body ? body : "", status,
                 code ? code : "", field ? field : "", st, r.body ? r.body : "");
    oth_resp_free(&r);
}

static void tags(bt_ctx *t, const char *id, const char *json)
{
    char sub[128], body[512];
    snprintf(sub, sizeof sub, "/devices/%s/tags", id);
    snprintf(body, sizeof body, "{\"tags\":%s}", json);
    expect(t, "PUT", sub, body, 200, NULL, NULL);
}

static void group(bt_ctx *t, const char *name)
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    expect(t, "POST", "/groups", body, 201, NULL, NULL);
}

static void members(bt_ctx *t, const char *name, const char *idents_json)
{
    char sub[128], body[512];
    snprintf(sub, sizeof sub, "/groups/%s/members", name);
    snprintf(body, sizeof body, "{\"identifiers\":%s}", idents_json);
    expect(t, "POST", sub, body, 200, NULL, NULL);
}

/* The identifiers of a device list answer joined by ',' in list order; frees r. */
static void ids_of(oth_resp *r, const char *what, char *out, size_t cap)
{
    if (r->status != 200 || !r->json)
        fail_msg("GET %s: %ld %s", what, r->status, r->body ? r->body : "");
    out[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r->json, "items"), i, v)
    {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", i ? "," : "", bt_js(v, "identifier"));
    }
    oth_resp_free(r);
}

/* The identifiers of GET sub (a device list under the product). */
static void list_ids(bt_ctx *t, const char *sub, char *out, size_t cap)
{
    oth_resp r;
    call(t, "GET", sub, NULL, &r);
    ids_of(&r, sub, out, cap);
}

/* The identifiers of batch b's device rows, in device order. */
static void batch_ids(bt_ctx *t, const char *b, char *out, size_t cap)
{
    oth_resp r;
    bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=100", b);
    ids_of(&r, b, out, cap);
}

/* GET .../devices:count?query; the member key of the answer. */
static long count(bt_ctx *t, const char *query, const char *key)
{
    oth_resp r;
    char sub[512];
    snprintf(sub, sizeof sub, "/devices:count?%s", query);
    if (call(t, "GET", sub, NULL, &r) != 200 || !r.json)
        fail_msg("count %s: %ld %s", query, r.status, r.body ? r.body : "");
    long n = (long)json_integer_value(json_object_get(r.json, key));
    oth_resp_free(&r);
    return n;
}

static void test_tags_and_groups(void **state)
{
    char ids[512];
    oth_resp r;
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "tags");
    bt_device(t, "d1");
    bt_device(t, "d2");
    bt_device(t, "d3");

    tags(t, "d1", "{\"site\":\"north\",\"hw\":\"v2\"}");
    tags(t, "d2", "{\"hw\":\"v2\"}");
    assert_int_equal(call(t, "GET", "/devices/d1", NULL, &r), 200);
    assert_string_equal(bt_js(json_object_get(r.json, "tags"), "site"), "north");
    assert_string_equal(bt_js(json_object_get(r.json, "tags"), "hw"), "v2");
    oth_resp_free(&r);
    /* PUT replaces the set */
    tags(t, "d1", "{\"site\":\"south\"}");
    assert_int_equal(call(t, "GET", "/devices/d1", NULL, &r), 200);
    assert_null(json_object_get(json_object_get(r.json, "tags"), "hw"));
    oth_resp_free(&r);
    expect(t, "DELETE", "/devices/d1/tags/site", NULL, 200, NULL, NULL);
    assert_int_equal(call(t, "GET", "/devices/d1", NULL, &r), 200);
    assert_int_equal(json_object_size(json_object_get(r.json, "tags")), 0);
    oth_resp_free(&r);

    /* refusals name the field */
    char many[1024] = "{";
    for (int i = 0; i < 21; i++) {
        size_t len = strlen(many);
        snprintf(many + len, sizeof many - len, "%s\"k%d\":\"v\"", i ? "," : "", i);
    }
    strcat(many, "}");
    char body[1200];
    snprintf(body, sizeof body, "{\"tags\":%s}", many);
    expect(t, "PUT", "/devices/d1/tags", body, 422, "too_many_tags", "tags");
    expect(t, "PUT", "/devices/d1/tags", "{\"tags\":{\"bad!key\":\"v\"}}", 422, "invalid_tag",
           "tags.bad!key");
    expect(t, "PUT", "/devices/d1/tags", "{\"tags\":{\"k\":\"a=b\"}}", 422, "invalid_tag",
           "tags.k");
    expect(t, "PUT", "/devices/d1/tags", "{\"tags\":{\"k\":1}}", 400, "invalid_type", "tags.k");
    expect(t, "PUT", "/devices/d1/tags", "{\"tag\":{}}", 400, "unknown_field", "tag");
    expect(t, "PUT", "/devices/nobody/tags", "{\"tags\":{}}", 404, "not_found", NULL);

    /* bulk: by identifiers (all or nothing), then by filter */
    expect(t, "POST", "/devices:tag", "{\"identifiers\":[\"d1\",\"ghost\"],\"set\":{\"a\":\"1\"}}",
           422, "device_not_found", "identifiers");
    assert_int_equal(call(t, "GET", "/devices/d1", NULL, &r), 200);
    assert_int_equal(json_object_size(json_object_get(r.json, "tags")), 0);
    oth_resp_free(&r);
    expect(t, "POST", "/devices:tag", "{\"identifiers\":[\"d1\",\"d3\"],\"set\":{\"a\":\"1\"}}", 200,
           NULL, NULL);
    list_ids(t, "/devices?tag=a=1", ids, sizeof ids);
    assert_string_equal(ids, "d1,d3");
    expect(t, "POST", "/devices:tag", "{\"filter\":{\"tags\":{\"a\":\"1\"}},\"set\":{\"b\":\"2\"}}",
           200, NULL, NULL);
    list_ids(t, "/devices?tag=a=1,b=2", ids, sizeof ids);
    assert_string_equal(ids, "d1,d3");
    expect(t, "POST", "/devices:tag", "{\"filter\":{\"tags\":{\"b\":\"2\"}},\"remove\":[\"a\"]}",
           200, NULL, NULL);
    list_ids(t, "/devices?tag=a=1", ids, sizeof ids);
    assert_string_equal(ids, "");
    expect(t, "POST", "/devices:tag", "{\"set\":{\"a\":\"1\"}}", 422, "missing_field",
           "identifiers");
    expect(t, "GET", "/devices?tag=nokv", NULL, 400, "invalid_parameter", "tag");

    /* groups */
    group(t, "canary");
    expect(t, "POST", "/groups", "{\"name\":\"canary\"}", 409, "duplicate", "name");
    expect(t, "POST", "/groups", "{\"name\":\"no spaces\"}", 422, "invalid_value", "name");
    members(t, "canary", "[\"d2\",\"d3\"]");
    expect(t, "POST", "/groups/canary/members", "{\"identifiers\":[\"ghost\"]}", 422,
           "device_not_found", "identifiers");
    expect(t, "POST", "/groups/none/members", "{\"identifiers\":[\"d1\"]}", 404, "not_found",
           "name");
    list_ids(t, "/groups/canary/members", ids, sizeof ids);
    assert_string_equal(ids, "d2,d3");
    list_ids(t, "/devices?group=canary&tag=hw=v2", ids, sizeof ids);
    assert_string_equal(ids, "d2");
    assert_int_equal(call(t, "GET", "/devices/d3", NULL, &r), 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "groups"), 0)),
                        "canary");
    oth_resp_free(&r);
    expect(t, "POST", "/groups/canary/members:remove", "{\"identifiers\":[\"d3\"]}", 200, NULL,
           NULL);
    list_ids(t, "/groups/canary/members", ids, sizeof ids);
    assert_string_equal(ids, "d2");
    assert_int_equal(call(t, "GET", "/groups", NULL, &r), 200);
    assert_int_equal(bt_int(r.json, "total"), 1);
    assert_int_equal(bt_int(json_array_get(json_object_get(r.json, "items"), 0), "members"), 1);
    oth_resp_free(&r);
    expect(t, "DELETE", "/groups/canary", NULL, 204, NULL, NULL);
    expect(t, "GET", "/groups/canary", NULL, 404, "not_found", NULL);
    expect(t, "GET", "/devices?group=canary", NULL, 422, "group_not_found", "group");
}

/* Devices d1..d6 activated on versions and tagged/grouped for the filter cases. */
static void fleet(bt_ctx *t)
{
    static const struct {
        const char *id, *ver, *tags;
    } devs[] = {
        {"d1", "1.0.0", "{\"hw\":\"v2\",\"site\":\"north\"}"},
        {"d2", "1.0.0", "{\"hw\":\"v2\",\"site\":\"south\"}"},
        {"d3", "1.1.0", "{\"hw\":\"v2\",\"site\":\"north\"}"},
        {"d4", "1.0.0", "{\"hw\":\"v1\",\"site\":\"north\"}"},
        {"d5", "2.0.0", "{\"hw\":\"v2\",\"site\":\"north\"}"},
        {"d6", "0.9.0", "{}"},
    };
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        bt_device(t, devs[i].id);
        tags(t, devs[i].id, devs[i].tags);
        bt_dev_start(t, devs[i].id, devs[i].ver, SDEV_AUTO_NONE, 0);
    }
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
        bt_wait_device(t, devs[i].id, 1, devs[i].ver, BT_SOON);
    group(t, "lab");
    members(t, "lab", "[\"d4\",\"d6\"]");
}

static void test_filter_and_versions(void **state)
{
    char fw[32], fw3[32], b[32], body[1024], ids[512];
    oth_resp r;
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "filter");
    fleet(t);
    bt_firmware(t, "fw_filter", "2.0.0", fw, sizeof fw);
    bt_firmware(t, "fw_filter3", "3.0.0", fw3, sizeof fw3);

    /* the live count: matching, and eligible for a firmware (d5 is on 2.0.0 already) */
    assert_int_equal(count(t, "tag=hw=v2", "matching"), 4);
    snprintf(body, sizeof body, "tag=hw=v2&firmwareId=%s", fw);
    assert_int_equal(count(t, body, "eligible"), 3);
    assert_int_equal(count(t, "tag=hw=v2,site=north&fromVersions=1.0.0,1.1.0", "matching"), 2);
    assert_int_equal(count(t, "group=lab", "matching"), 2);
    assert_int_equal(count(t, "", "matching"), 6);
    expect(t, "GET", "/devices:count?group=nope", NULL, 422, "group_not_found", "group");
    expect(t, "GET", "/devices:count?fromVersions=1.0.0,,", NULL, 400, "invalid_parameter",
           "fromVersions");

    /* scope filter: every tag must match, then the version filter */
    bt_body(body, sizeof body,
            "\"scope\":\"filter\",\"filter\":{\"tags\":{\"hw\":\"v2\",\"site\":\"north\"}},"
            "\"fromVersions\":[\"1.0.0\",\"1.1.0\"]",
            60, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);
    batch_ids(t, b, ids, sizeof ids);
    assert_string_equal(ids, "d1,d3");
    json_t *bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "scope"), "filter");
    assert_string_equal(bt_js(json_object_get(json_object_get(bj, "filter"), "tags"), "hw"), "v2");
    assert_int_equal(json_array_size(json_object_get(bj, "fromVersions")), 2);
    assert_false(json_is_true(json_object_get(bj, "continuous")));
    json_decref(bj);

    /* groups: a member of any listed group; with scope all, fromVersions alone */
    char b2[32];
    bt_body(body, sizeof body, "\"scope\":\"filter\",\"filter\":{\"groups\":[\"lab\"]}", 60, 0, 0);
    bt_batch(t, fw3, body, b2, sizeof b2);
    batch_ids(t, b2, ids, sizeof ids);
    assert_string_equal(ids, "d4,d6");
    /* d2 is the only device on 1.0.0 in no unfinished task */
    char b3[32];
    bt_body(body, sizeof body, "\"scope\":\"all\",\"fromVersions\":[\"1.0.0\"]", 60, 0, 0);
    bt_batch(t, fw3, body, b3, sizeof b3);
    batch_ids(t, b3, ids, sizeof ids);
    assert_string_equal(ids, "d2");

    /* refusals, each naming its field, nothing created */
    struct {
        const char *extra, *code, *field;
    } bad[] = {
        {"\"scope\":\"all\",\"filter\":{\"tags\":{\"a\":\"b\"}}", "not_allowed", "filter"},
        {"\"scope\":\"filter\"", "missing_field", "filter"},
        {"\"scope\":\"filter\",\"filter\":{}", "missing_field", "filter"},
        {"\"scope\":\"filter\",\"filter\":{\"groups\":[\"ghost\"]}", "group_not_found",
         "filter.groups"},
        {"\"scope\":\"filter\",\"filter\":{\"tags\":{\"bad!key\":\"b\"}}", "invalid_tag",
         "filter.tags.bad!key"},
        {"\"scope\":\"filter\",\"filter\":{\"colour\":[]}", "unknown_field", "filter"},
        {"\"scope\":\"all\",\"fromVersions\":[\"1.0 beta\"]", "invalid_value", "fromVersions"},
        {"\"scope\":\"all\",\"fromVersions\":[]", "out_of_range", "fromVersions"},
        {"\"scope\":\"all\",\"fromVersions\":[\"1.0.0\",\"1.0.0\"]", "duplicate", "fromVersions"},
        {"\"scope\":\"directed\",\"identifiers\":[\"d2\"],\"continuous\":true", "not_allowed",
         "continuous"},
        {"\"scope\":\"all\",\"continuous\":1", "invalid_type", "continuous"},
        {"\"scope\":\"all\",\"fromVersions\":[\"7.7.7\"]", "no_devices", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[32];
        bt_body(body, sizeof body, bad[i].extra, 60, 0, 0);
        long st = bt_batch_try(t, fw, body, out, sizeof out, &r);
        if (st < 400 || strcmp(oth_err_code(&r), bad[i].code) != 0 ||
            (bad[i].field && strcmp(oth_err_field(&r), bad[i].field) != 0))
            fail_msg("%s: want %s %s, got %ld %s", bad[i].extra, bad[i].code,
                     bad[i].field ? bad[i].field : "", st, r.body ? r.body : "");
        oth_resp_free(&r);
    }
    /* directed with fromVersions: a device on another version is refused by name */
    char out[32];
    bt_body(body, sizeof body,
            "\"scope\":\"directed\",\"identifiers\":[\"d5\"],\"fromVersions\":[\"1.0.0\"]", 60, 0,
            0);
    assert_int_equal(bt_batch_try(t, fw3, body, out, sizeof out, &r), 422);
    assert_string_equal(oth_err_code(&r), "device_version_not_listed");
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches?productKey=%s", t->pk), 200);
    assert_int_equal(bt_int(r.json, "total"), 3);
    oth_resp_free(&r);
}

static void kill9(bt_ctx *t)
{
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
}

static void restart(bt_ctx *t)
{
    if (oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("otad did not start again");
    }
}

/* Waits until the otad started last has died of SIGKILL (it killed itself). */
static void expect_dead(bt_ctx *t)
{
    int st = 0;
    pid_t got = 0;
    for (int i = 0; i < 400 && got == 0; i++) {
        got = waitpid(t->env.otad_pid, &st, WNOHANG);
        if (got == 0)
            sdev_sleep_ms(50);
    }
    if (got != t->env.otad_pid || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        oth_dump_logs(&t->env);
        fail_msg("otad did not kill itself after the commit");
    }
    t->env.otad_pid = 0;
}

/* Waits until batch b's total is n; fails naming what it saw. */
static void wait_total(bt_ctx *t, const char *b, int n)
{
    int64_t end = sdev_now_ms() + BT_SOON;
    int seen = -1;
    while (sdev_now_ms() < end) {
        json_t *bj = bt_batch_get(t, b);
        seen = bj ? bt_int(bj, "total") : -1;
        json_decref(bj);
        if (seen == n)
            return;
        sdev_sleep_ms(BT_POLL_MS);
    }
    fail_msg("batch %s: total %d, want %d", b, seen, n);
}

static void test_continuous(void **state)
{
    char fw[32], fwg[32], b[32], bg[32], body[1024], ids[512];
    /* time scale 10: a push lost in the kill below times out after 1 s and is retried 6 s
     * later (retryIntervalMinutes 1) */
    bt_ctx *t = bt_new(state, 10);
    bt_product(t, "continuous");
    bt_device(t, "first");
    tags(t, "first", "{\"hw\":\"v2\"}");
    sdev *first = bt_dev_start(t, "first", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "first", 1, "1.0.0", BT_SOON);
    bt_firmware(t, "fw_cont", "2.0.0", fw, sizeof fw);
    bt_firmware(t, "fw_cont_g", "3.0.0", fwg, sizeof fwg);
    group(t, "late");

    bt_body(body, sizeof body,
            "\"scope\":\"filter\",\"filter\":{\"tags\":{\"hw\":\"v2\"}},\"continuous\":true", 60,
            1, 1);
    bt_batch(t, fw, body, b, sizeof b);
    /* an empty continuous batch is allowed */
    bt_body(body, sizeof body,
            "\"scope\":\"filter\",\"filter\":{\"groups\":[\"late\"]},\"continuous\":true", 60, 0, 0);
    bt_batch(t, fwg, body, bg, sizeof bg);
    json_t *bj = bt_batch_get(t, bg);
    assert_int_equal(bt_int(bj, "total"), 0);
    assert_true(json_is_true(json_object_get(bj, "continuous")));
    json_decref(bj);
    json_decref(bt_wait_task(t, b, "first", "succeeded", BT_SOON));

    /* registered (and tagged) after the batch was created, then activates: joins */
    bt_device(t, "newcomer");
    tags(t, "newcomer", "{\"hw\":\"v2\"}");
    sdev *newcomer = bt_dev_start(t, "newcomer", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    json_decref(bt_wait_task(t, b, "newcomer", "succeeded", BT_SOON));

    /* activated without the tag: not in; gets the tag later: joins */
    bt_device(t, "tagged");
    sdev *tagged = bt_dev_start(t, "tagged", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "tagged", 1, "1.0.0", BT_SOON);
    bt_no_push_for(t, tagged, 0, 500);
    tags(t, "tagged", "{\"hw\":\"v2\",\"extra\":\"x\"}");
    json_decref(bt_wait_task(t, b, "tagged", "succeeded", BT_SOON));

    /* a device that gets a group later joins the group's continuous batch */
    bt_device(t, "grouped");
    sdev *grouped = bt_dev_start(t, "grouped", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "grouped", 1, "1.0.0", BT_SOON);
    members(t, "late", "[\"grouped\"]");
    json_decref(bt_wait_task(t, bg, "grouped", "succeeded", BT_SOON));

    /* at most once: tagged again, reconnecting, reporting an old version: no second task */
    tags(t, "first", "{\"hw\":\"v2\",\"again\":\"1\"}");
    sdev_disconnect(first);
    assert_int_equal(sdev_start(first, "1.0.0"), 0);
    bt_wait_device(t, "first", 1, "1.0.0", BT_SOON);
    bt_no_push_for(t, first, 1, 800);
    wait_total(t, b, 3);
    batch_ids(t, b, ids, sizeof ids);
    assert_string_equal(ids, "first,newcomer,tagged");
    bt_check_counts(t, b);
    bt_check_counts(t, bg);
    (void)newcomer;
    (void)grouped;

    /* otad killed right after a tag change commits (OTA_TEST_KILL_AFTER_COMMIT: before the
     * engine could judge the device): the device joins after the start, once */
    bt_device(t, "cut");
    sdev *cut = bt_dev_start(t, "cut", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "cut", 1, "1.0.0", BT_SOON);
    kill9(t);
    oth_env_set(&t->env, "OTA_TEST_KILL_AFTER_COMMIT", "1");
    restart(t);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/cut/tags", t->pk);
    oth_resp r;
    const char *put = "{\"tags\":{\"hw\":\"v2\"}}";
    oth_http(&t->env, "PUT", path, 1, "application/json", put, strlen(put), NULL, &r);
    assert_int_equal(r.status, 0); /* no answer: it died after the commit */
    oth_resp_free(&r);
    expect_dead(t);
    oth_env_set(&t->env, "OTA_TEST_KILL_AFTER_COMMIT", "0");
    restart(t);
    json_decref(bt_wait_task(t, b, "cut", "succeeded", 3 * BT_SOON));
    wait_total(t, b, 4);
    (void)cut;

    /* kill -9: a device that connects for the first time while otad is down (its "on"
     * waits in otad's broker session), and one tagged just before the kill, both join
     * exactly once after the start */
    bt_device(t, "offline");
    tags(t, "offline", "{\"hw\":\"v2\"}");
    bt_device(t, "justtagged");
    sdev *jt = bt_dev_start(t, "justtagged", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_wait_device(t, "justtagged", 1, "1.0.0", BT_SOON);
    tags(t, "justtagged", "{\"hw\":\"v2\"}");
    kill9(t);
    sdev *off = bt_dev_start(t, "offline", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    sdev_sleep_ms(300);
    restart(t);
    json_decref(bt_wait_task(t, b, "offline", "succeeded", BT_SOON));
    /* its push may have been lost with the kill: then it is retried */
    json_decref(bt_wait_task(t, b, "justtagged", "succeeded", 3 * BT_SOON));
    wait_total(t, b, 6);
    assert_int_equal(sdev_count(off, SDEV_PUSH), 1);
    (void)jt;
    /* and again across a second restart: nothing repeated */
    kill9(t);
    restart(t);
    bt_wait_device(t, "offline", 1, NULL, BT_SOON);
    sdev_sleep_ms(500);
    wait_total(t, b, 6);
    bt_check_counts(t, b);
    assert_int_equal(sdev_count(off, SDEV_PUSH), 1);
    /* a continuous batch does not complete while valid: more devices may come */
    bj = bt_batch_get(t, b);
    assert_string_equal(bt_js(bj, "state"), "in_progress");
    assert_int_equal(bt_int(bj, "succeeded"), 6);
    json_decref(bj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_tags_and_groups, bt_teardown),
        cmocka_unit_test_teardown(test_filter_and_versions, bt_teardown),
        cmocka_unit_test_teardown(test_continuous, bt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
