/*
 * Unit tests of server/core/batchparams: a valid body of each shape, then every field's
 * type, presence and bounds, the identifiers rules (count, format, duplicates, scope),
 * unknown fields, malformed and over-large bodies, and the order of the checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/batchparams.h"

static bparams P;
static bparams_error E;

static json_t *base(void)
{
    return json_pack("{s:s, s:i, s:s, s:i, s:i}", "scope", "all", "validityDays", 3, "policy",
                     "standard", "timeoutMinutes", 30, "retryTimes", 0);
}

/* Serializes o (consumed) and parses it. */
static int run(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    bparams_free(&P);
    int rc = bparams_parse(s, strlen(s), &P, &E);
    free(s);
    if (rc != 0) {
        assert_true(E.status == 400 || E.status == 413 || E.status == 422);
        assert_non_null(E.code);
        assert_true(strlen(E.message) > 0);
        for (const char *p = E.message; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
        assert_null(P.identifiers); /* nothing to free after a failure */
    }
    return rc;
}

static int run_str(const char *s)
{
    bparams_free(&P);
    return bparams_parse(s, strlen(s), &P, &E);
}

static void expect_err(json_t *o, int status, const char *code, const char *field)
{
    int rc = run(o);
    if (rc == 0 || E.status != status || strcmp(E.code, code) != 0 || strcmp(E.field, field))
        print_error("got rc %d %d %s field '%s' (%s); want %d %s '%s'\n", rc, E.status,
                    rc ? E.code : "-", E.field, E.message, status, code, field);
    assert_int_equal(rc, -1);
    assert_int_equal(E.status, status);
    assert_string_equal(E.code, code);
    assert_string_equal(E.field, field);
}

static json_t *with(json_t *o, const char *key, json_t *v)
{
    json_object_set_new(o, key, v);
    return o;
}

static json_t *without(json_t *o, const char *key)
{
    json_object_del(o, key);
    return o;
}

static json_t *directed(json_t *ids)
{
    return with(with(base(), "scope", json_string("directed")), "identifiers", ids);
}

static int teardown(void **state)
{
    (void)state;
    bparams_free(&P);
    return 0;
}

static void test_valid_all(void **state)
{
    (void)state;
    assert_int_equal(run(base()), 0);
    assert_int_equal(P.scope, BPARAMS_SCOPE_ALL);
    assert_null(P.identifiers);
    assert_int_equal(P.n_identifiers, 0);
    assert_int_equal(P.validity_days, 3);
    assert_int_equal(P.policy, BPARAMS_POLICY_STANDARD);
    assert_int_equal(P.timeout_minutes, 30);
    assert_int_equal(P.retry_times, 0);
    assert_int_equal(P.retry_interval_minutes, 0);
    assert_int_equal(P.max_push_per_minute, BPARAMS_PUSH_RATE_DEFAULT);
    /* identifiers null or [] with all are accepted */
    assert_int_equal(run(with(base(), "identifiers", json_null())), 0);
    assert_int_equal(run(with(base(), "identifiers", json_array())), 0);
    assert_null(P.identifiers);
}

static void test_valid_directed_full(void **state)
{
    (void)state;
    json_t *o = directed(json_pack("[s,s,s]", "dev-2", "dev_1", "A"));
    o = with(o, "policy", json_string("silent"));
    o = with(o, "retryTimes", json_integer(5));
    o = with(o, "retryIntervalMinutes", json_integer(4320));
    o = with(o, "maxPushPerMinute", json_integer(1000));
    o = with(o, "validityDays", json_integer(7));
    o = with(o, "timeoutMinutes", json_integer(1440));
    assert_int_equal(run(o), 0);
    assert_int_equal(P.scope, BPARAMS_SCOPE_DIRECTED);
    assert_int_equal(P.n_identifiers, 3);
    assert_string_equal(P.identifiers[0], "dev-2"); /* request order kept */
    assert_string_equal(P.identifiers[1], "dev_1");
    assert_string_equal(P.identifiers[2], "A");
    assert_int_equal(P.policy, BPARAMS_POLICY_SILENT);
    assert_int_equal(P.retry_times, 5);
    assert_int_equal(P.retry_interval_minutes, 4320);
    assert_int_equal(P.max_push_per_minute, 1000);
    assert_int_equal(P.validity_days, 7);
    assert_int_equal(P.timeout_minutes, 1440);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "42",
                         "null",
                         "\"x\"",
                         "{\"scope\":\"all\",}",
                         "{\"scope\":\"all\",\"scope\":\"all\"}",
                         "{\"scope\":\"\xff\"}",
                         "{} {}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run_str(bad[i]), -1);
        assert_int_equal(E.status, 400);
        assert_string_equal(E.code, "malformed_json");
        assert_string_equal(E.field, "");
        for (const char *p = E.message; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
    assert_int_equal(bparams_parse(NULL, 0, &P, &E), -1);
    assert_string_equal(E.code, "malformed_json");
    /* only len bytes are read */
    const char *s = "{\"scope\":\"all\",\"validityDays\":1,\"policy\":\"standard\","
                    "\"timeoutMinutes\":1,\"retryTimes\":0}GARBAGE";
    assert_int_equal(bparams_parse(s, strlen(s) - 7, &P, &E), 0);
    json_t *arr = json_array();
    assert_int_equal(bparams_from_json(arr, &P, &E), -1);
    assert_string_equal(E.code, "malformed_json");
    json_decref(arr);
}

static void test_too_large(void **state)
{
    (void)state;
    size_t n = BPARAMS_MAX_BODY + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(bparams_parse(big, n, &P, &E), -1);
    assert_int_equal(E.status, 413);
    assert_string_equal(E.code, "too_large");
    free(big);
}

static void test_unknown_fields(void **state)
{
    (void)state;
    expect_err(with(base(), "foo", json_integer(1)), 400, "unknown_field", "foo");
    expect_err(with(base(), "Scope", json_string("all")), 400, "unknown_field", "Scope");
    expect_err(with(base(), "firmwareId", json_string("1")), 400, "unknown_field", "firmwareId");
    expect_err(with(base(), "retry_times", json_integer(1)), 400, "unknown_field", "retry_times");
    /* a key that is not printable is not echoed */
    expect_err(with(base(), "a\nb", json_integer(1)), 400, "unknown_field", "");
    /* unknown fields are reported before anything else */
    expect_err(with(with(base(), "zzz", json_true()), "validityDays", json_string("x")), 400,
               "unknown_field", "zzz");
}

static void test_types(void **state)
{
    (void)state;
    const char *ints[] = {"validityDays", "timeoutMinutes", "retryTimes", "retryIntervalMinutes",
                          "maxPushPerMinute"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        expect_err(with(base(), ints[i], json_string("3")), 400, "invalid_type", ints[i]);
        expect_err(with(base(), ints[i], json_real(3.0)), 400, "invalid_type", ints[i]);
        expect_err(with(base(), ints[i], json_true()), 400, "invalid_type", ints[i]);
        expect_err(with(base(), ints[i], json_array()), 400, "invalid_type", ints[i]);
    }
    expect_err(with(base(), "scope", json_integer(1)), 400, "invalid_type", "scope");
    expect_err(with(base(), "policy", json_array()), 400, "invalid_type", "policy");
    expect_err(with(base(), "identifiers", json_string("a,b")), 400, "invalid_type", "identifiers");
    expect_err(with(base(), "identifiers", json_object()), 400, "invalid_type", "identifiers");
    expect_err(directed(json_pack("[s,i]", "a", 2)), 400, "invalid_type", "identifiers");
    expect_err(directed(json_pack("[n]")), 400, "invalid_type", "identifiers");
    /* a type error is reported before a missing field */
    expect_err(with(without(base(), "scope"), "policy", json_integer(1)), 400, "invalid_type",
               "policy");
}

static void test_required(void **state)
{
    (void)state;
    const char *req[] = {"scope", "validityDays", "policy", "timeoutMinutes", "retryTimes"};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        expect_err(without(base(), req[i]), 422, "missing_field", req[i]);
        expect_err(with(base(), req[i], json_null()), 422, "missing_field", req[i]);
    }
    assert_int_equal(run_str("{}"), -1);
    assert_string_equal(E.field, "scope"); /* the first in order */
}

static void test_scope_and_policy_values(void **state)
{
    (void)state;
    const char *bad_scope[] = {"ALL", "", "Directed", "all ", "some"};
    for (size_t i = 0; i < sizeof bad_scope / sizeof bad_scope[0]; i++)
        expect_err(with(base(), "scope", json_string(bad_scope[i])), 422, "invalid_value", "scope");
    /* an embedded NUL: refused by the JSON parser, and by the check when given a value */
    assert_int_equal(run_str("{\"scope\":\"all\\u0000x\"}"), -1);
    assert_string_equal(E.code, "malformed_json");
    json_t *o = with(base(), "scope", json_stringn("all\0x", 5));
    bparams_free(&P);
    assert_int_equal(bparams_from_json(o, &P, &E), -1);
    assert_string_equal(E.code, "invalid_value");
    json_decref(o);
    const char *bad_policy[] = {"Silent", "", "quiet", "standard\t"};
    for (size_t i = 0; i < sizeof bad_policy / sizeof bad_policy[0]; i++)
        expect_err(with(base(), "policy", json_string(bad_policy[i])), 422, "invalid_value",
                   "policy");
    assert_int_equal(run(with(base(), "policy", json_string("silent"))), 0);
    assert_int_equal(P.policy, BPARAMS_POLICY_SILENT);
    assert_string_equal(bparams_scope_name(BPARAMS_SCOPE_ALL), "all");
    assert_string_equal(bparams_scope_name(BPARAMS_SCOPE_DIRECTED), "directed");
    assert_string_equal(bparams_policy_name(BPARAMS_POLICY_STANDARD), "standard");
    assert_string_equal(bparams_policy_name(BPARAMS_POLICY_SILENT), "silent");
}

static void test_identifiers_rules(void **state)
{
    (void)state;
    expect_err(with(base(), "identifiers", json_pack("[s]", "a")), 422, "not_allowed",
               "identifiers");
    expect_err(without(with(base(), "scope", json_string("directed")), "identifiers"), 422,
               "missing_field", "identifiers");
    expect_err(directed(json_null()), 422, "missing_field", "identifiers");
    expect_err(directed(json_array()), 422, "out_of_range", "identifiers");
    char id64[65], id65[66];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'b', 65);
    id65[65] = '\0';
    assert_int_equal(run(directed(json_pack("[s]", id64))), 0);
    assert_string_equal(P.identifiers[0], id64);
    const char *bad[] = {"", "a b", "a.b", "名字", "a/b", "a\tb", id65, "a+b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_err(directed(json_pack("[s,s]", "ok", bad[i])), 422, "invalid_value", "identifiers");
    expect_err(directed(json_pack("[s]", "dev 1")), 422, "invalid_value", "identifiers");
    assert_non_null(strstr(E.message, "'dev 1'"));
    assert_non_null(strstr(E.message, "identifiers[0]"));
    /* case matters: A and a are two devices */
    assert_int_equal(run(directed(json_pack("[s,s]", "A", "a"))), 0);
    expect_err(directed(json_pack("[s,s,s,s,s]", "x", "dup2", "y", "dup2", "x")), 422,
               "duplicate_identifier", "identifiers");
    /* the first repeated one in request order is named: "dup2" repeats at index 3 before
     * "x" repeats at index 4 */
    assert_non_null(strstr(E.message, "'dup2'"));
}

static void test_identifiers_count(void **state)
{
    (void)state;
    json_t *arr = json_array();
    char id[32];
    for (int i = 0; i < BPARAMS_MAX_IDENTIFIERS; i++) {
        snprintf(id, sizeof id, "device-%06d", (i * 7919) % BPARAMS_MAX_IDENTIFIERS);
        json_array_append_new(arr, json_string(id));
    }
    json_incref(arr);
    assert_int_equal(run(directed(arr)), 0);
    assert_int_equal(P.n_identifiers, BPARAMS_MAX_IDENTIFIERS);
    assert_string_equal(P.identifiers[1], "device-007919");
    json_array_append_new(arr, json_string("one-more"));
    expect_err(directed(arr), 422, "out_of_range", "identifiers");
    /* a duplicate far apart in a large list */
    arr = json_array();
    for (int i = 0; i < 50000; i++) {
        snprintf(id, sizeof id, "d%d", i);
        json_array_append_new(arr, json_string(id));
    }
    json_array_append_new(arr, json_string("d17"));
    expect_err(directed(arr), 422, "duplicate_identifier", "identifiers");
    assert_non_null(strstr(E.message, "'d17'"));
}

/* Bounds of every integer field: min-1, min, max, max+1, and far outside. */
static void test_integer_bounds(void **state)
{
    (void)state;
    struct {
        const char *name;
        long long min, max;
    } f[] = {
        {"validityDays", 1, 7},
        {"timeoutMinutes", 1, 1440},
        {"retryTimes", 0, 5},
        {"retryIntervalMinutes", 1, 4320},
        {"maxPushPerMinute", 1, 1000000},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        json_t *o;
        o = with(base(), f[i].name, json_integer(f[i].min));
        if (strcmp(f[i].name, "retryTimes") == 0)
            o = with(o, "retryIntervalMinutes", json_integer(1));
        assert_int_equal(run(o), 0);
        o = with(base(), f[i].name, json_integer(f[i].max));
        o = with(o, "retryIntervalMinutes",
                 json_integer(strcmp(f[i].name, "retryIntervalMinutes") == 0 ? f[i].max : 1));
        assert_int_equal(run(o), 0);
        const long long bad[] = {f[i].min - 1, f[i].max + 1, -1000000, 1LL << 40, INT64_MIN};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            o = with(base(), f[i].name, json_integer(bad[k]));
            o = with(o, "retryIntervalMinutes",
                     json_integer(strcmp(f[i].name, "retryIntervalMinutes") == 0 ? bad[k] : 1));
            expect_err(o, 422, "out_of_range", f[i].name);
        }
    }
    assert_int_equal(run(with(base(), "maxPushPerMinute", json_integer(1))), 0);
    assert_int_equal(P.max_push_per_minute, 1);
}

static void test_retry_interval(void **state)
{
    (void)state;
    expect_err(with(base(), "retryTimes", json_integer(1)), 422, "missing_field",
               "retryIntervalMinutes");
    expect_err(
        with(with(base(), "retryTimes", json_integer(2)), "retryIntervalMinutes", json_null()), 422,
        "missing_field", "retryIntervalMinutes");
    assert_int_equal(run(with(with(base(), "retryTimes", json_integer(2)), "retryIntervalMinutes",
                              json_integer(15))),
                     0);
    assert_int_equal(P.retry_times, 2);
    assert_int_equal(P.retry_interval_minutes, 15);
    /* with retryTimes 0 it may be given (checked, kept) or not */
    assert_int_equal(run(with(base(), "retryIntervalMinutes", json_integer(10))), 0);
    assert_int_equal(P.retry_interval_minutes, 10);
    expect_err(with(base(), "retryIntervalMinutes", json_integer(0)), 422, "out_of_range",
               "retryIntervalMinutes");
}

static void test_check_order(void **state)
{
    (void)state;
    /* scope before identifiers before validityDays ... */
    json_t *o = with(with(base(), "scope", json_string("bad")), "validityDays", json_integer(99));
    expect_err(o, 422, "invalid_value", "scope");
    o = with(directed(json_array()), "validityDays", json_integer(99));
    expect_err(o, 422, "out_of_range", "identifiers");
    o = with(with(base(), "validityDays", json_integer(0)), "policy", json_string("x"));
    expect_err(o, 422, "out_of_range", "validityDays");
    o = with(with(base(), "policy", json_string("x")), "timeoutMinutes", json_integer(0));
    expect_err(o, 422, "invalid_value", "policy");
    o = with(with(base(), "timeoutMinutes", json_integer(0)), "retryTimes", json_integer(9));
    expect_err(o, 422, "out_of_range", "timeoutMinutes");
}

static void test_ownership(void **state)
{
    (void)state;
    bparams_free(NULL);
    bparams p;
    bparams_error e;
    const char *s = "{\"scope\":\"directed\",\"identifiers\":[\"a\"],\"validityDays\":9,"
                    "\"policy\":\"standard\",\"timeoutMinutes\":1,\"retryTimes\":0}";
    assert_int_equal(bparams_parse(s, strlen(s), &p, &e), -1);
    assert_null(p.identifiers); /* freed by the failure */
    bparams_free(&p);
    s = "{\"scope\":\"directed\",\"identifiers\":[\"a\"],\"validityDays\":1,"
        "\"policy\":\"standard\",\"timeoutMinutes\":1,\"retryTimes\":0}";
    assert_int_equal(bparams_parse(s, strlen(s), &p, &e), 0);
    bparams_free(&p);
    bparams_free(&p); /* zeroed: a second free is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_valid_all, teardown),
        cmocka_unit_test_teardown(test_valid_directed_full, teardown),
        cmocka_unit_test_teardown(test_malformed, teardown),
        cmocka_unit_test_teardown(test_too_large, teardown),
        cmocka_unit_test_teardown(test_unknown_fields, teardown),
        cmocka_unit_test_teardown(test_types, teardown),
        cmocka_unit_test_teardown(test_required, teardown),
        cmocka_unit_test_teardown(test_scope_and_policy_values, teardown),
        cmocka_unit_test_teardown(test_identifiers_rules, teardown),
        cmocka_unit_test_teardown(test_identifiers_count, teardown),
        cmocka_unit_test_teardown(test_integer_bounds, teardown),
        cmocka_unit_test_teardown(test_retry_interval, teardown),
        cmocka_unit_test_teardown(test_check_order, teardown),
        cmocka_unit_test_teardown(test_ownership, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
