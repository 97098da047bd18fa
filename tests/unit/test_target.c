/*
 * test_target: core/target.c, the tag, group and fromVersions rules, their canonical texts,
 * the tag edit of a bulk change, the request bodies and queries, and the match of a device
 * against a target.
 */
#include "core/target.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_rules(void **st)
{
    (void)st;
    assert_true(target_key_ok("hw") && target_key_ok("a.b-c_1") && target_key_ok("k23456789012345678901234567890ab"));
    assert_false(target_key_ok("") || target_key_ok("a b") || target_key_ok("a=b") ||
                 target_key_ok("k234567890123456789012345678901ab"));
    assert_true(target_value_ok("v2") && target_value_ok("a:b/c+d-e_f.g"));
    assert_false(target_value_ok("") || target_value_ok("a=b") || target_value_ok("a,b") ||
                 target_value_ok("é"));
    assert_true(target_group_name_ok("lab.1-a_b"));
    assert_false(target_group_name_ok("lab one") || target_group_name_ok(""));
    char k[TARGET_KEY_MAX + 1], v[TARGET_VALUE_MAX + 1];
    assert_int_equal(target_tag_split("hw=v2", k, v), 0);
    assert_string_equal(k, "hw");
    assert_string_equal(v, "v2");
    assert_int_equal(target_tag_split("hw", k, v), -1);
    assert_int_equal(target_tag_split("=v", k, v), -1);
    assert_int_equal(target_tag_split("a=b=c", k, v), -1);
}

static void test_tags_text(void **st)
{
    (void)st;
    char out[TARGET_TAGS_TEXT_MAX];
    target_error e;
    json_t *o = json_loads("{\"site\":\"n\",\"hw\":\"v2\"}", 0, NULL);
    assert_int_equal(target_tags_parse(o, "tags", 0, out, &e), 0);
    assert_string_equal(out, "{\"hw\":\"v2\",\"site\":\"n\"}"); /* sorted, compact */
    json_decref(o);
    o = json_object();
    assert_int_equal(target_tags_parse(o, "tags", 0, out, &e), 0);
    assert_string_equal(out, "{}");
    assert_int_equal(target_tags_parse(o, "filter.tags", 1, out, &e), -1);
    for (int i = 0; i < 21; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(o, key, json_string("v"));
    }
    assert_int_equal(target_tags_parse(o, "tags", 0, out, &e), -1);
    assert_string_equal(e.code, "too_many_tags");
    assert_string_equal(e.field, "tags");
    json_decref(o);
    o = json_loads("{\"ok\":\"v\",\"bad!\":\"v\"}", 0, NULL);
    assert_int_equal(target_tags_parse(o, "tags", 0, out, &e), -1);
    assert_string_equal(e.code, "invalid_tag");
    assert_string_equal(e.field, "tags.bad!");
    json_decref(o);
    o = json_loads("{\"k\":2}", 0, NULL);
    assert_int_equal(target_tags_parse(o, "tags", 0, out, &e), -1);
    assert_int_equal(e.status, 400);
    json_decref(o);

    /* the bulk edit: put in, take out, at most 20 */
    const char *rm[] = {"hw"};
    assert_int_equal(target_tags_edit("{\"hw\":\"v1\",\"x\":\"1\"}", "{\"hw\":\"v2\",\"a\":\"b\"}", NULL, 0, out), 0);
    assert_string_equal(out, "{\"a\":\"b\",\"hw\":\"v2\",\"x\":\"1\"}");
    assert_int_equal(target_tags_edit(out, NULL, rm, 1, out), 0);
    assert_string_equal(out, "{\"a\":\"b\",\"x\":\"1\"}");
    assert_int_equal(target_tags_edit("{\"a\":\"b\"}", NULL, (const char *[]){"a"}, 1, out), 0);
    assert_string_equal(out, "");
    char twenty[1024] = "{";
    for (int i = 0; i < 20; i++) {
        size_t len = strlen(twenty);
        snprintf(twenty + len, sizeof twenty - len, "%s\"k%02d\":\"v\"", i ? "," : "", i);
    }
    strcat(twenty, "}");
    assert_int_equal(target_tags_edit(twenty, "{\"k00\":\"w\"}", NULL, 0, out), 0);
    assert_int_equal(target_tags_edit(twenty, "{\"new\":\"w\"}", NULL, 0, out), -1);
}

static void test_bodies_and_queries(void **st)
{
    (void)st;
    target_body b;
    target_error e;
    const char *bulk = "{\"filter\":{\"tags\":{\"a\":\"b\"},\"groups\":[\"g\"]},"
                       "\"fromVersions\":[\"1.0\"],\"set\":{\"x\":\"y\"},\"remove\":[\"a\"]}";
    assert_int_equal(target_body_parse(TARGET_BODY_BULK, bulk, strlen(bulk), &b, &e), 0);
    assert_true(b.has_filter);
    assert_string_equal(b.tags, "{\"a\":\"b\"}");
    assert_string_equal(b.groups, "[\"g\"]");
    assert_string_equal(b.versions, "[\"1.0\"]");
    assert_string_equal(b.set, "{\"x\":\"y\"}");
    assert_int_equal(b.n_remove, 1);
    target_body_free(&b);
    static const struct {
        target_body_kind kind;
        const char *body, *code, *field;
    } bad[] = {
        {TARGET_BODY_TAGS, "{\"tags\":{\"a\":\"b\"},\"x\":1}", "unknown_field", "x"},
        {TARGET_BODY_TAGS, "{}", "missing_field", "tags"},
        {TARGET_BODY_TAGS, "[1]", "invalid_json", ""},
        {TARGET_BODY_BULK, "{\"set\":{\"a\":\"b\"}}", "missing_field", "identifiers"},
        {TARGET_BODY_BULK, "{\"identifiers\":[\"d1\"],\"filter\":{\"tags\":{\"a\":\"b\"}},\"set\":{\"a\":\"b\"}}",
         "not_allowed", "filter"},
        {TARGET_BODY_BULK, "{\"identifiers\":[\"d1\"]}", "missing_field", "set"},
        {TARGET_BODY_BULK, "{\"identifiers\":[\"d 1\"],\"set\":{\"a\":\"b\"}}", "invalid_value", "identifiers"},
        {TARGET_BODY_BULK, "{\"fromVersions\":[\"1.0\",\"1.0\"],\"set\":{\"a\":\"b\"}}", "duplicate", "fromVersions"},
        {TARGET_BODY_BULK, "{\"filter\":{\"colour\":1},\"set\":{\"a\":\"b\"}}", "unknown_field", "filter.colour"},
        {TARGET_BODY_GROUP, "{\"name\":\"a b\"}", "invalid_value", "name"},
        {TARGET_BODY_MEMBERS, "{\"identifiers\":[]}", "out_of_range", "identifiers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = target_body_parse(bad[i].kind, bad[i].body, strlen(bad[i].body), &b, &e);
        if (rc != -1 || strcmp(e.code, bad[i].code) != 0 || strcmp(e.field, bad[i].field) != 0)
            fail_msg("%s: got %s %s", bad[i].body, rc ? e.code : "accepted", rc ? e.field : "");
        target_body_free(&b);
    }
    assert_int_equal(target_query_parse("hw=v2,site=n", "lab,canary", "1.0,1.1", &b, &e), 0);
    assert_string_equal(b.tags, "{\"hw\":\"v2\",\"site\":\"n\"}");
    assert_string_equal(b.groups, "[\"lab\",\"canary\"]");
    assert_string_equal(b.versions, "[\"1.0\",\"1.1\"]");
    target_body_free(&b);
    assert_int_equal(target_query_parse(NULL, "", NULL, &b, &e), 0);
    assert_false(b.has_filter);
    assert_int_equal(target_query_parse("hw", NULL, NULL, &b, &e), -1);
    assert_string_equal(e.field, "tag");
    assert_int_equal(target_query_parse("a=1,a=2", NULL, NULL, &b, &e), -1);
    assert_int_equal(target_query_parse(NULL, "lab,,x", NULL, &b, &e), -1);
    assert_string_equal(e.field, "group");
    assert_int_equal(target_query_parse(NULL, NULL, "1.0+b", &b, &e), -1);
    assert_string_equal(e.field, "fromVersions");
}

static void test_match(void **st)
{
    (void)st;
    target t;
    const char *lab[] = {"lab"}, *both[] = {"x", "canary"};
    assert_int_equal(target_load(&t, "{\"hw\":\"v2\"}", "[\"lab\",\"canary\"]", "[\"1.0\"]"), 0);
    assert_true(target_needs_groups(&t));
    assert_true(target_match(&t, "{\"hw\":\"v2\",\"x\":\"1\"}", lab, 1, "1.0"));
    assert_true(target_match(&t, "{\"hw\":\"v2\"}", both, 2, "1.0"));
    assert_false(target_match(&t, "{\"hw\":\"v1\"}", lab, 1, "1.0"));   /* a tag differs */
    assert_false(target_match(&t, "", lab, 1, "1.0"));                  /* no tags */
    assert_false(target_match(&t, "{\"hw\":\"v2\"}", NULL, 0, "1.0")); /* in no group */
    assert_false(target_match(&t, "{\"hw\":\"v2\"}", lab, 1, "1.1"));  /* another version */
    assert_false(target_match(&t, "{\"hw\":\"v2\"}", lab, 1, NULL));   /* none reported */
    target_free(&t);
    assert_int_equal(target_load(&t, NULL, "", NULL), 0);
    assert_false(target_needs_groups(&t));
    assert_true(target_match(&t, NULL, NULL, 0, NULL)); /* no condition: everyone */
    target_free(&t);
    assert_int_equal(target_load(&t, "[1]", NULL, NULL), -1);
    target_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_tags_text),
        cmocka_unit_test(test_bodies_and_queries),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
