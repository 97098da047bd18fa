/*
 * test_store_targets: the store's targeting tables (server/store/store_targets.c, migration
 * "targeting": device tags, groups and their members, a batch's target, target_events) and
 * the engine's joins (store_uow_task_join, store_uow_target_events), through store.h,
 * store_targets.h and store_batch.h. The same cases run on SQLite (a temp folder) and, when
 * OTA_TEST_PG_URL names a PostgreSQL server it may create databases on (scripts/pg-test.sh),
 * on a fresh database there (dropped at the end): each database has its own matching SQL.
 */
#include "store/store.h"
#include "store/store_batch.h"
#include "store/store_targets.h"

#include "store_each.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const int64_t now_ms = 1700000000000LL;

static store_page pg(int p, int size)
{
    store_page x = {p, size};
    return x;
}

static int64_t device_id(store_t *s, const char *pk, const char *id)
{
    store_device d;
    assert_int_equal(store_device_get(s, pk, id, &d), OTA_OK);
    return d.id;
}

static int64_t matching(store_t *s, const char *pk, const char *tags, const char *groups,
                        const char *versions)
{
    int64_t n = -1, eligible = 0;
    store_match m = {tags, groups, versions};
    assert_int_equal(store_device_match_count(s, pk, &m, 0, &n, &eligible, NULL), OTA_OK);
    return n;
}

/* The noted devices, handled (their notes removed), in one unit of work. */
static size_t take_events(store_t *s, int64_t *ids, size_t max)
{
    store_uow *u;
    size_t n = 0;
    assert_int_equal(store_uow_begin(s, &u), OTA_OK);
    assert_int_equal(store_uow_target_events(u, ids, max, &n), OTA_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_uow_target_event_done(u, ids[i]), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    return n;
}

static void run_cases(store_t *s)
{
    store_product p;
    store_device d;
    store_target_err err;
    int64_t changed = 0, total = 0, ev[8];
    size_t n;
    assert_int_equal(store_product_create(s, "targets", "", now_ms, &p), OTA_OK);
    const char *pk = p.product_key;
    const char *ids[] = {"d1", "d2", "d3", "d4"};
    const char *vers[] = {"1.0", "1.0", "1.1", NULL};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_device_create(s, pk, ids[i], ids[i], now_ms, &d), OTA_OK);
        assert_string_equal(d.tags, "");
        if (vers[i]) {
            assert_int_equal(store_device_set_online(s, pk, ids[i], 1, now_ms), OTA_OK);
            assert_int_equal(store_device_set_version(s, pk, ids[i], vers[i], now_ms), OTA_OK);
        }
    }

    /* tags: put replaces, the text is kept as given (canonical, core/target.c) */
    assert_int_equal(store_device_tags_put(s, pk, "d1", "{\"hw\":\"v2\",\"site\":\"n\"}", &d), OTA_OK);
    assert_string_equal(d.tags, "{\"hw\":\"v2\",\"site\":\"n\"}");
    assert_int_equal(store_device_tags_put(s, pk, "d2", "{\"hw\":\"v2\"}", NULL), OTA_OK);
    assert_int_equal(store_device_tags_put(s, pk, "ghost", "{}", NULL), OTA_ENOTFOUND);
    assert_int_equal(store_device_tags_put(s, "nope", "d1", "{}", NULL), OTA_ENOTFOUND);

    /* bulk by identifiers: all or nothing */
    const char *two[] = {"d3", "ghost"};
    assert_int_equal(store_device_tags_bulk(s, pk, two, 2, NULL, "{\"x\":\"1\"}", NULL, 0, &changed, &err),
                     OTA_EINVAL);
    assert_string_equal(err.code, "device_not_found");
    assert_string_equal(err.name, "ghost");
    assert_int_equal(store_device_get(s, pk, "d3", &d), OTA_OK);
    assert_string_equal(d.tags, "");
    /* bulk by filter: set, then remove */
    store_match hw2 = {"{\"hw\":\"v2\"}", NULL, NULL};
    assert_int_equal(store_device_tags_bulk(s, pk, NULL, 0, &hw2, "{\"x\":\"1\"}", NULL, 0, &changed, &err),
                     OTA_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(matching(s, pk, "{\"x\":\"1\"}", NULL, NULL), 2);
    const char *rm[] = {"x"};
    assert_int_equal(store_device_tags_bulk(s, pk, NULL, 0, &hw2, NULL, rm, 1, &changed, &err), OTA_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(matching(s, pk, "{\"x\":\"1\"}", NULL, NULL), 0);
    /* more than 20 tags on one device: nobody changes */
    char many[1024] = "{";
    for (int i = 0; i < 20; i++) {
        size_t len = strlen(many);
        snprintf(many + len, sizeof many - len, "%s\"k%02d\":\"v\"", i ? "," : "", i);
    }
    strcat(many, "}");
    assert_int_equal(store_device_tags_put(s, pk, "d4", many, NULL), OTA_OK);
    const char *d24[] = {"d2", "d4"};
    assert_int_equal(store_device_tags_bulk(s, pk, d24, 2, NULL, "{\"new\":\"1\"}", NULL, 0, &changed, &err),
                     OTA_ELIMIT);
    assert_string_equal(err.code, "too_many_tags");
    assert_string_equal(err.name, "d4");
    assert_int_equal(matching(s, pk, "{\"new\":\"1\"}", NULL, NULL), 0);
    assert_int_equal(store_device_tags_put(s, pk, "d4", "{}", &d), OTA_OK);
    assert_string_equal(d.tags, "");

    /* groups and members */
    store_group g;
    assert_int_equal(store_group_create(s, pk, "lab", now_ms, &g), OTA_OK);
    assert_string_equal(g.name, "lab");
    assert_int_equal(g.members, 0);
    assert_int_equal(store_group_create(s, pk, "lab", now_ms, &g), OTA_EDUPLICATE);
    const char *d23[] = {"d2", "d3"};
    assert_int_equal(store_group_members_change(s, pk, "lab", 1, d23, 2, &changed, &err), OTA_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(store_group_members_change(s, pk, "lab", 1, d23, 2, &changed, &err), OTA_OK);
    assert_int_equal(changed, 0);
    const char *ghost[] = {"d1", "ghost"};
    assert_int_equal(store_group_members_change(s, pk, "lab", 1, ghost, 2, &changed, &err), OTA_EINVAL);
    assert_string_equal(err.name, "ghost");
    assert_int_equal(store_group_members_change(s, pk, "none", 1, d23, 2, &changed, &err),
                     OTA_ENOTFOUND);
    store_device *items = NULL;
    assert_int_equal(store_group_members(s, pk, "lab", pg(1, 10), &items, &n, &total), OTA_OK);
    assert_int_equal(total, 2);
    assert_string_equal(items[0].identifier, "d2");
    free(items);
    char names[256];
    assert_int_equal(store_device_groups(s, pk, "d3", names, sizeof names), OTA_OK);
    assert_string_equal(names, "[\"lab\"]");

    /* matching: tags all, groups any, versions one of */
    assert_int_equal(matching(s, pk, "{\"hw\":\"v2\"}", NULL, NULL), 2);
    assert_int_equal(matching(s, pk, "{\"hw\":\"v2\",\"site\":\"n\"}", NULL, NULL), 1);
    assert_int_equal(matching(s, pk, "{\"hw\":\"v2\"}", "[\"lab\"]", NULL), 1);
    assert_int_equal(matching(s, pk, NULL, "[\"lab\"]", "[\"1.1\"]"), 1);
    assert_int_equal(matching(s, pk, NULL, NULL, "[\"1.0\",\"1.1\"]"), 3);
    assert_int_equal(matching(s, pk, NULL, NULL, NULL), 4);
    store_match nope = {NULL, "[\"nope\"]", NULL};
    int64_t cnt;
    assert_int_equal(store_device_match_count(s, pk, &nope, 0, &cnt, NULL, &err), OTA_EINVAL);
    assert_string_equal(err.code, "group_not_found");
    assert_int_equal(store_device_match_list(s, pk, -1, &hw2, pg(1, 10), &items, &n, &total, &err),
                     OTA_OK);
    assert_int_equal(total, 2);
    assert_string_equal(items[1].identifier, "d2");
    free(items);

    /* no continuous batch: a change notes nobody */
    assert_int_equal(store_device_tags_put(s, pk, "d3", "{\"hw\":\"v1\"}", NULL), OTA_OK);
    assert_int_equal(take_events(s, ev, 8), 0);

    /* a continuous filtered batch takes the matching eligible devices at creation */
    store_firmware f, fo;
    const char *field = NULL;
    memset(&f, 0, sizeof f);
    snprintf(f.product_key, sizeof f.product_key, "%s", pk);
    snprintf(f.name, sizeof f.name, "targets-fw");
    snprintf(f.version, sizeof f.version, "2.0");
    snprintf(f.file_name, sizeof f.file_name, "t.bin");
    f.size = 3;
    snprintf(f.md5, sizeof f.md5, "%032d", 0);
    snprintf(f.sha256, sizeof f.sha256, "%064d", 9);
    assert_int_equal(store_firmware_create(s, &f, now_ms, &fo, &field), OTA_OK);
    store_batch b;
    store_batch_err berr;
    store_batch_new in = {.policy = "standard", .validity_days = 1, .timeout_min = 10,
                          .max_push_per_min = 1000, .filter = 1, .tags = "{\"hw\":\"v2\"}",
                          .continuous = 1};
    assert_int_equal(store_batch_create(s, fo.id, &in, now_ms, now_ms + 86400000, &b, &berr), OTA_OK);
    assert_int_equal(b.total, 2);
    assert_int_equal(b.continuous, 1);
    assert_string_equal(b.scope, "filter");
    assert_string_equal(b.target_tags, "{\"hw\":\"v2\"}");
    assert_string_equal(b.target_groups, "");
    /* an unknown group is refused by name, nothing created */
    store_batch_new bad = in;
    bad.groups = "[\"ghost\"]";
    store_batch refused;
    assert_int_equal(store_batch_create(s, fo.id, &bad, now_ms, now_ms + 1, &refused, &berr),
                     OTA_EINVAL);
    assert_string_equal(berr.code, "group_not_found");
    assert_string_equal(berr.field, "filter.groups");
    assert_string_equal(berr.identifier, "ghost");

    /* now a change to d3's tags is noted for the engine, once however often it changes */
    assert_int_equal(store_device_tags_put(s, pk, "d3", "{\"hw\":\"v2\"}", NULL), OTA_OK);
    const char *d3[] = {"d3"};
    assert_int_equal(store_group_members_change(s, pk, "lab", 0, d3, 1, &changed, &err), OTA_OK);
    assert_int_equal(store_group_members_change(s, pk, "lab", 1, d3, 1, &changed, &err), OTA_OK);
    int64_t id3 = device_id(s, pk, "d3"), id1 = device_id(s, pk, "d1");
    store_uow *u;
    assert_int_equal(store_uow_begin(s, &u), OTA_OK);
    assert_int_equal(store_uow_target_events(u, ev, 8, &n), OTA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0], id3);
    store_device_facts facts;
    assert_int_equal(store_uow_device_facts(u, id3, &facts), OTA_OK);
    assert_int_equal(facts.product_id, p.id);
    assert_true(facts.activated && facts.has_version);
    assert_string_equal(facts.version, "1.1");
    assert_string_equal(facts.tags, "{\"hw\":\"v2\"}");
    int64_t newer[4];
    size_t nn = 0;
    assert_int_equal(store_uow_continuous_new(u, 0, newer, 4, &nn), OTA_OK);
    assert_int_equal(nn, 1);
    assert_int_equal(store_uow_continuous_new(u, newer[0], newer, 4, &nn), OTA_OK);
    assert_int_equal(nn, 0);
    /* joins once: the task's primary key; and not while in another unfinished task */
    int joined = 0;
    assert_int_equal(store_uow_task_join(u, b.id, id3, 0, now_ms, &joined), OTA_OK);
    assert_int_equal(joined, 1);
    assert_int_equal(store_uow_task_join(u, b.id, id3, 0, now_ms, &joined), OTA_OK);
    assert_int_equal(joined, 0);
    assert_int_equal(store_uow_task_join(u, b.id, id1, 0, now_ms, &joined), OTA_OK);
    assert_int_equal(joined, 0);
    assert_int_equal(store_uow_target_event_done(u, id3), OTA_OK);
    assert_int_equal(store_uow_commit(u), OTA_OK);
    assert_int_equal(take_events(s, ev, 8), 0);
    assert_int_equal(store_batch_get(s, b.id, &b), OTA_OK);
    assert_int_equal(b.total, 3);
    assert_int_equal(b.counts[FSM_TO_PUSH], 3);

    /* a deleted group: its members go, the filter naming it matches nobody */
    assert_int_equal(store_group_delete(s, pk, "lab"), OTA_OK);
    assert_int_equal(store_group_get(s, pk, "lab", &g), OTA_ENOTFOUND);
    assert_int_equal(store_group_delete(s, pk, "lab"), OTA_ENOTFOUND);
    store_group *gl = NULL;
    assert_int_equal(store_group_list(s, pk, pg(1, 10), &gl, &n, &total), OTA_OK);
    assert_int_equal(total, 0);
    free(gl);
}

static void test_sqlite(void **state)
{
    (void)state;
    store_each_sqlite(run_cases);
}

static void test_postgresql(void **state)
{
    (void)state;
    store_each_postgresql("targets", run_cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_postgresql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
