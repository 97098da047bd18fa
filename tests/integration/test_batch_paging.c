/*
 * test_batch_paging: GET /api/v1/batches/{batchId}/devices, paged by page/pageSize and by
 * keyset cursor (after / nextCursor). Through HTTP only: real broker, real otad (SQLite, or
 * PostgreSQL with OTA_TEST_PG_URL).
 *
 * The batch: BP_N devices imported in identifier order (so device order is identifier
 * order), all activated; a few stay online and finish the batch (succeeded or failed), the
 * rest are offline and stay to_push, so the rows are stable while the test walks them and
 * each upgradeState filter picks rows spread over the whole id range. Every walk by cursor
 * must give exactly the rows, in the same order, of the walk by page.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BP_N 300
#define BP_SUCCEED(i) ((i) % 20 == 3) /* 15 devices online that upgrade */
#define BP_FAIL(i) ((i) % 25 == 11)   /* 12 devices online that fail (download) */
#define BP_N_SUCCEED 15
#define BP_N_FAIL 12
#define BP_CHUNK 30 /* devices activated at once */

/* Rows of one walk: each row as compact JSON, in answer order. */
typedef struct {
    char **rows;
    size_t n, cap;
} bp_rows;

static void rows_add(bp_rows *w, json_t *row)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->rows = realloc(w->rows, w->cap * sizeof *w->rows);
        assert_non_null(w->rows);
    }
    w->rows[w->n] = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(w->rows[w->n]);
    w->n++;
}

static void rows_free(bp_rows *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->rows[i]);
    free(w->rows);
    memset(w, 0, sizeof *w);
}

static void bp_ident(int i, char *out, size_t cap)
{
    snprintf(out, cap, "d%04d", i);
}

/* The batch of the file comment; its id into b. */
static void bp_setup(bt_ctx *t, char *b, size_t cap)
{
    oth_resp r;
    char path[256], fw[32];
    bt_product(t, "pagingP");
    /* import BP_N devices in identifier order */
    size_t bcap = (size_t)BP_N * 64, used = 0;
    char *nd = malloc(bcap);
    assert_non_null(nd);
    for (int i = 0; i < BP_N; i++)
        used += (size_t)snprintf(nd + used, bcap - used,
                                 "{\"identifier\":\"d%04d\",\"deviceName\":\"dev %d\"}\n", i, i);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", t->pk);
    oth_http(&t->env, "POST", path, 1, "application/x-ndjson", nd, used, NULL, &r);
    free(nd);
    if (r.status != 200)
        fail_msg("import: %ld %s", r.status, r.body);
    oth_resp_free(&r);

    /* activate all: the finishing ones stay connected, the others connect once and leave */
    for (int c = 0; c < BP_N; c += BP_CHUNK) {
        sdev *gone[BP_CHUNK];
        int ngone = 0;
        for (int i = c; i < c + BP_CHUNK && i < BP_N; i++) {
            char id[16];
            bp_ident(i, id, sizeof id);
            if (BP_SUCCEED(i))
                bt_dev_start(t, id, "1.0.0", SDEV_AUTO_UPGRADE, 0);
            else if (BP_FAIL(i))
                bt_dev_start(t, id, "1.0.0", SDEV_AUTO_FAIL, -2);
            else {
                sdev *d = sdev_new(t->env.mqtt_port, t->env.key, t->pk, id);
                assert_non_null(d);
                if (sdev_start(d, "1.0.0") != 0) {
                    sdev_free(d);
                    oth_dump_logs(&t->env);
                    fail_msg("device %s could not start", id);
                }
                gone[ngone++] = d;
            }
        }
        for (int k = 0; k < ngone; k++) /* before the batch: these stay to_push */
            sdev_free(gone[k]);
    }
    bt_firmware(t, "fw_paging", "2.0.0", fw, sizeof fw);

    /* every device activated (and so eligible), the leavers offline */
    int64_t end = sdev_now_ms() + 4 * BT_SOON;
    long elig = -1, online = -1;
    for (;;) {
        if (bt_get(t, &r, "/api/v1/firmwares/%s/eligible-devices?pageSize=1", fw) == 200)
            elig = (long)json_integer_value(json_object_get(r.json, "total"));
        oth_resp_free(&r);
        if (bt_get(t, &r, "/api/v1/products/%s/devices?online=true&pageSize=1", t->pk) == 200)
            online = (long)json_integer_value(json_object_get(r.json, "total"));
        oth_resp_free(&r);
        if (elig == BP_N && online == BP_N_SUCCEED + BP_N_FAIL)
            break;
        if (sdev_now_ms() > end) {
            oth_dump_logs(&t->env);
            fail_msg("wanted %d eligible and %d online devices, have %ld and %ld", BP_N,
                     BP_N_SUCCEED + BP_N_FAIL, elig, online);
        }
        sdev_sleep_ms(100);
    }
    char body[512];
    bt_body(body, sizeof body, "\"scope\":\"all\"", 10, 0, 0);
    bt_batch(t, fw, body, b, cap);

    /* the online devices finish; the others wait offline */
    end = sdev_now_ms() + 4 * BT_SOON;
    for (;;) {
        json_t *bj = bt_batch_get(t, b);
        assert_non_null(bj);
        json_t *counts = json_object_get(bj, "counts");
        int s = bt_int(counts, "succeeded"), f = bt_int(counts, "failed"),
            p = bt_int(counts, "to_push");
        int total = bt_int(bj, "total");
        json_decref(bj);
        if (total != BP_N)
            fail_msg("batch %s has %d devices, want %d", b, total, BP_N);
        if (s == BP_N_SUCCEED && f == BP_N_FAIL && p == BP_N - BP_N_SUCCEED - BP_N_FAIL)
            break;
        if (sdev_now_ms() > end) {
            oth_dump_logs(&t->env);
            fail_msg("batch %s: succeeded %d failed %d to_push %d", b, s, f, p);
        }
        sdev_sleep_ms(50);
    }
}

/* The answer's nextCursor: 1 and the text in cur when a string, 0 when null; fails when it
 * is missing or of another type. */
static int next_cursor(const oth_resp *r, char *cur, size_t cap)
{
    json_t *v = json_object_get(r->json, "nextCursor");
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v) || !json_string_value(v)[0])
        fail_msg("nextCursor must be a non-empty string or null: %s", r->body);
    snprintf(cur, cap, "%s", json_string_value(v));
    return 1;
}

/* Walks the batch's devices (query q, "" or "upgradeState=...") by page; checks total,
 * pageSize, page and that nextCursor is set exactly when rows follow. */
static void walk_pages(bt_ctx *t, const char *b, const char *q, int size, long want_total,
                       bp_rows *w)
{
    char cur[128];
    for (int page = 1;; page++) {
        oth_resp r;
        if (bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=%d&page=%d%s%s", b, size, page,
                   q[0] ? "&" : "", q) != 200 ||
            !r.json)
            fail_msg("%s page %d: %ld %s", q, page, r.status, r.body);
        json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        assert_int_equal(json_integer_value(json_object_get(r.json, "total")), want_total);
        assert_int_equal(json_integer_value(json_object_get(r.json, "page")), page);
        assert_int_equal(json_integer_value(json_object_get(r.json, "pageSize")), size);
        json_array_foreach(items, i, it) rows_add(w, it);
        int more = (long)w->n < want_total;
        if (next_cursor(&r, cur, sizeof cur) != more)
            fail_msg("%s page %d (%zu of %ld rows): nextCursor %s", q, page, w->n, want_total,
                     r.body);
        size_t got = json_array_size(items);
        oth_resp_free(&r);
        if (got == 0 || !more)
            break;
        if (page > BP_N)
            fail_msg("%s: page walk does not end", q);
    }
}

/* Walks by cursor: the first page without `after`, then after=nextCursor until it is null.
 * from: a cursor to start after instead (NULL = from the start). Returns the requests. */
static int walk_cursor(bt_ctx *t, const char *b, const char *q, int size, long want_total,
                       const char *from, bp_rows *w)
{
    char cur[128] = "";
    int have = 0, requests = 0;
    if (from) {
        snprintf(cur, sizeof cur, "%s", from);
        have = 1;
    }
    for (;;) {
        oth_resp r;
        if (bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=%d%s%s%s%s", b, size,
                   q[0] ? "&" : "", q, have ? "&after=" : "", have ? cur : "") != 200 ||
            !r.json)
            fail_msg("%s after %s: %ld %s", q, have ? cur : "-", r.status, r.body);
        requests++;
        json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        assert_int_equal(json_integer_value(json_object_get(r.json, "total")), want_total);
        assert_int_equal(json_integer_value(json_object_get(r.json, "pageSize")), size);
        if (have && json_object_get(r.json, "page"))
            fail_msg("a cursor page has no page number: %s", r.body);
        if ((int)json_array_size(items) > size)
            fail_msg("more than pageSize rows: %s", r.body);
        json_array_foreach(items, i, it) rows_add(w, it);
        size_t got = json_array_size(items);
        have = next_cursor(&r, cur, sizeof cur);
        if (have && (int)got != size)
            fail_msg("%s: a short page (%zu rows) with a nextCursor: %s", q, got, r.body);
        oth_resp_free(&r);
        if (!have)
            break;
        if (requests > BP_N + 2)
            fail_msg("%s: cursor walk does not end (last cursor %s)", q, cur);
    }
    return requests;
}

static void rows_equal(const char *what, const bp_rows *a, const bp_rows *c)
{
    if (a->n != c->n)
        fail_msg("%s: %zu rows by page, %zu by cursor", what, a->n, c->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->rows[i], c->rows[i]) != 0)
            fail_msg("%s: row %zu differs:\n page   %s\n cursor %s", what, i, a->rows[i],
                     c->rows[i]);
}

/* The identifier of a row (compact JSON), into out. */
static void row_ident(const char *row, char *out, size_t cap)
{
    json_t *j = json_loads(row, 0, NULL);
    snprintf(out, cap, "%s", j ? bt_js(j, "identifier") : "");
    json_decref(j);
}

/* Rows of each walk are in device order: identifiers strictly ascending. */
static void rows_ascending(const char *what, const bp_rows *w)
{
    char prev[80] = "", cur[80];
    for (size_t i = 0; i < w->n; i++) {
        row_ident(w->rows[i], cur, sizeof cur);
        if (i > 0 && strcmp(prev, cur) >= 0)
            fail_msg("%s: row %zu (%s) not after %s", what, i, cur, prev);
        snprintf(prev, sizeof prev, "%s", cur);
    }
}

/* Walking by cursor gives the rows of walking by page, with and without a filter, for page
 * sizes that divide the count and that do not; nextCursor is null on the last page. */
static void test_paging_cursor_walk_equals_page_walk(void **state)
{
    char b[32];
    bt_ctx *t = bt_new(state, 1);
    bp_setup(t, b, sizeof b);
    static const struct {
        const char *q;
        long total;
        int size;
    } walks[] = {
        {"", BP_N, 7},
        {"", BP_N, 20}, /* divides 300: the last full page has nextCursor null */
        {"", BP_N, 1000},
        {"upgradeState=to_push", BP_N - BP_N_SUCCEED - BP_N_FAIL, 11},
        {"upgradeState=succeeded", BP_N_SUCCEED, 4},
        {"upgradeState=failed", BP_N_FAIL, 6},
        {"upgradeState=failed", BP_N_FAIL, 1},
        {"upgradeState=upgrading", 0, 5},
    };
    for (size_t k = 0; k < sizeof walks / sizeof walks[0]; k++) {
        bp_rows pw = {0}, cw = {0};
        char what[96];
        snprintf(what, sizeof what, "walk '%s' pageSize %d", walks[k].q, walks[k].size);
        walk_pages(t, b, walks[k].q, walks[k].size, walks[k].total, &pw);
        int req = walk_cursor(t, b, walks[k].q, walks[k].size, walks[k].total, NULL, &cw);
        if ((long)pw.n != walks[k].total)
            fail_msg("%s: %zu rows by page, total %ld", what, pw.n, walks[k].total);
        rows_equal(what, &pw, &cw);
        rows_ascending(what, &cw);
        /* exactly as many requests as pages: the last full page already says it is last */
        long pages = walks[k].total == 0 ? 1 : (walks[k].total + walks[k].size - 1) / walks[k].size;
        if (req != pages)
            fail_msg("%s: %d cursor requests for %ld pages", what, req, pages);
        /* every row of a filtered walk has that state */
        const char *eq = strchr(walks[k].q, '=');
        for (size_t i = 0; eq && i < cw.n; i++) {
            char want[64];
            snprintf(want, sizeof want, "\"upgradeState\":\"%s\"", eq + 1);
            if (!strstr(cw.rows[i], want))
                fail_msg("%s: row %s is not %s", what, cw.rows[i], eq + 1);
        }
        rows_free(&pw);
        rows_free(&cw);
    }

    /* a cursor from one walk continues another: the unfiltered walk's cursor after d0029
     * (the end of page 3 of 10 rows) used with a filter gives that filter's rows after it */
    oth_resp r;
    char cur[128];
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=10&page=3", b), 200);
    assert_int_equal(next_cursor(&r, cur, sizeof cur), 1);
    json_t *items = json_object_get(r.json, "items");
    assert_string_equal(bt_js(json_array_get(items, 9), "identifier"), "d0029");
    oth_resp_free(&r);
    bp_rows all = {0}, tail = {0}, want = {0};
    walk_pages(t, b, "upgradeState=succeeded", 1000, BP_N_SUCCEED, &all);
    walk_cursor(t, b, "upgradeState=succeeded", 3, BP_N_SUCCEED, cur, &tail);
    for (size_t i = 0; i < all.n; i++) {
        char id[80];
        row_ident(all.rows[i], id, sizeof id);
        if (strcmp(id, "d0029") > 0) {
            json_t *j = json_loads(all.rows[i], 0, NULL);
            rows_add(&want, j);
            json_decref(j);
        }
    }
    assert_true(want.n > 0 && want.n < all.n);
    rows_equal("succeeded after d0029", &want, &tail);
    rows_free(&all);
    rows_free(&tail);
    rows_free(&want);

    /* a cursor past the last device: no rows, nextCursor null */
    char last[64];
    snprintf(last, sizeof last, "%s.9007199254740992", b);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?after=%s", b, last), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    assert_int_equal(next_cursor(&r, cur, sizeof cur), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), BP_N);
    oth_resp_free(&r);
}

static void expect_after_400(bt_ctx *t, const char *b, const char *query)
{
    oth_resp r;
    long st = bt_get(t, &r, "/api/v1/batches/%s/devices?%s", b, query);
    if (st != 400 || strcmp(oth_err_field(&r), "after") != 0 ||
        strcmp(oth_err_code(&r), "invalid_parameter") != 0)
        fail_msg("?%s: want 400 invalid_parameter naming after, got %ld %s", query, st, r.body);
    oth_resp_free(&r);
}

/* Malformed cursors, a cursor of another batch, and after with page: 400 naming `after`.
 * An unknown batch: 404, with or without a cursor. */
static void test_paging_bad_cursors_unknown_batch(void **state)
{
    char fw[32], b[32], q[256], good[64];
    oth_resp r;
    bt_ctx *t = bt_new(state, 1);
    bt_product(t, "pagingBad");
    bt_device(t, "x1");
    bt_device(t, "x2");
    bt_dev_activated_offline(t, "x1", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_dev_activated_offline(t, "x2", "1.0.0", SDEV_AUTO_NONE, 0);
    bt_firmware(t, "fw_bad", "2.0.0", fw, sizeof fw);
    char body[512];
    bt_body(body, sizeof body, "\"scope\":\"all\"", 10, 0, 0);
    bt_batch(t, fw, body, b, sizeof b);

    /* a real cursor works, and says where the next page starts */
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=1", b), 200);
    assert_int_equal(next_cursor(&r, good, sizeof good), 1);
    assert_string_equal(bt_js(json_array_get(json_object_get(r.json, "items"), 0), "identifier"),
                        "x1");
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=1&after=%s", b, good), 200);
    assert_string_equal(bt_js(json_array_get(json_object_get(r.json, "items"), 0), "identifier"),
                        "x2");
    assert_true(json_is_null(json_object_get(r.json, "nextCursor")));
    oth_resp_free(&r);
    /* the page form says it too: page 2 of 2 is the last */
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?pageSize=1&page=2", b), 200);
    assert_true(json_is_null(json_object_get(r.json, "nextCursor")));
    oth_resp_free(&r);

    long bid = strtol(b, NULL, 10);
    const char *key = strchr(good, '.') ? strchr(good, '.') + 1 : good;
    const char *bad_fmt[] = {
        "after=",       "after=abc",      "after=null",     "after=%s", /* the key alone */
        "after=-%s",    "after=0",        "after=%s.",      "after=.%s",
        "after=%s.0",   "after=%s.01",    "after=%s.-5",    "after=%s.5x",
        "after=%s.5.6", "after=%s.5%%20", "after=%%20%s.5", "after=%s.99999999999999999999",
        "after=%s.1e3", "after=0x%s.5",
    };
    for (size_t i = 0; i < sizeof bad_fmt / sizeof bad_fmt[0]; i++) {
        char tmp[128];
        if (i == 3 || i == 4) /* the key without its batch */
            snprintf(tmp, sizeof tmp, bad_fmt[i], key);
        else if (strstr(bad_fmt[i], "%s"))
            snprintf(tmp, sizeof tmp, bad_fmt[i], b);
        else
            snprintf(tmp, sizeof tmp, "%s", bad_fmt[i]);
        expect_after_400(t, b, tmp);
    }
    /* a cursor of another batch */
    snprintf(q, sizeof q, "after=%ld.%s", bid + 1, key);
    expect_after_400(t, b, q);
    /* after with page, whatever the page */
    snprintf(q, sizeof q, "page=1&after=%s", good);
    expect_after_400(t, b, q);
    snprintf(q, sizeof q, "after=%s&page=2&pageSize=1", good);
    expect_after_400(t, b, q);
    /* the other parameters keep their own errors */
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?after=%s&pageSize=0", b, good), 400);
    assert_string_equal(oth_err_field(&r), "pageSize");
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/batches/%s/devices?after=%s&upgradeState=x", b, good),
                     400);
    assert_string_equal(oth_err_field(&r), "upgradeState");
    oth_resp_free(&r);

    /* an unknown batch */
    if (bt_get(t, &r, "/api/v1/batches/%ld/devices", bid + 1000) != 404)
        fail_msg("unknown batch: want 404, got %ld %s", r.status, r.body);
    oth_resp_free(&r);
    if (bt_get(t, &r, "/api/v1/batches/%ld/devices?after=%ld.%s", bid + 1000, bid + 1000, key) !=
        404)
        fail_msg("unknown batch with a cursor: want 404, got %ld %s", r.status, r.body);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_paging_cursor_walk_equals_page_walk, bt_teardown),
        cmocka_unit_test_teardown(test_paging_bad_cursors_unknown_batch, bt_teardown),
    };
    if (getenv("BT_FILTER"))
        cmocka_set_test_filter(getenv("BT_FILTER"));
    return cmocka_run_group_tests_name("batch_paging", tests, NULL, NULL);
}
