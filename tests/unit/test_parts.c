/*
 * Unit tests of server/core/parts: the partition of a device (the same formula as the
 * PostgreSQL column devices.part: first byte of MD5(identifier) mod 64, values computed
 * with Python's hashlib) and the lease plan: even spread over the live instances, a dead
 * holder's partitions taken only once its lease ran out, release to a joining instance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/parts.h"

static void test_of(void **state)
{
    (void)state;
    assert_int_equal(parts_of("dev-0001"), 46);
    assert_int_equal(parts_of("a"), 12);
    assert_int_equal(parts_of(""), 20);
    int seen[PARTS_N] = {0};
    for (int i = 0; i < 10000; i++) {
        char id[32];
        snprintf(id, sizeof id, "dev-%05d", i);
        int p = parts_of(id);
        assert_true(p >= 0 && p < PARTS_N);
        seen[p]++;
    }
    for (int p = 0; p < PARTS_N; p++) /* 156 each on average */
        assert_true(seen[p] > 80 && seen[p] < 240);
    assert_int_equal(parts_count(PARTS_ALL), 64);
    assert_int_equal(parts_count(5), 2);
}

static void leases_of(parts_lease l[PARTS_N], const char *owner, int64_t expires)
{
    for (int p = 0; p < PARTS_N; p++) {
        snprintf(l[p].owner, sizeof l[p].owner, "%s", owner);
        l[p].epoch = 1;
        l[p].expires_ms = expires;
    }
}

static int count(const parts_action a[PARTS_N], parts_action want)
{
    int n = 0;
    for (int p = 0; p < PARTS_N; p++)
        n += a[p] == want;
    return n;
}

static void test_plan(void **state)
{
    (void)state;
    parts_lease l[PARTS_N];
    parts_action a[PARTS_N], b[PARTS_N];
    const char *ab[] = {"b", "a"};
    /* alone with nothing owned: take everything */
    leases_of(l, "", 0);
    parts_plan("a", NULL, 0, l, 1000, a);
    assert_int_equal(count(a, PARTS_TAKE), 64);
    /* a owns everything, b joins: a releases half, b waits for them, then takes */
    leases_of(l, "a", 5000);
    parts_plan("a", ab, 2, l, 1000, a);
    assert_int_equal(count(a, PARTS_RENEW), 32);
    assert_int_equal(count(a, PARTS_RELEASE), 32);
    parts_plan("b", ab, 2, l, 1000, b);
    assert_int_equal(count(b, PARTS_WAIT), 32);
    assert_int_equal(count(b, PARTS_NONE), 32);
    for (int p = 0; p < PARTS_N; p++) {
        assert_true((a[p] == PARTS_RELEASE) == (b[p] == PARTS_WAIT));
        if (a[p] == PARTS_RELEASE)
            l[p].owner[0] = '\0';
    }
    parts_plan("b", ab, 2, l, 1000, b);
    assert_int_equal(count(b, PARTS_TAKE), 32);
    /* b died (no longer live): a waits for b's leases to run out, then takes them */
    leases_of(l, "b", 5000);
    parts_plan("a", NULL, 0, l, 4999, a);
    assert_int_equal(count(a, PARTS_WAIT), 64);
    parts_plan("a", NULL, 0, l, 5000, a);
    assert_int_equal(count(a, PARTS_TAKE), 64);
    /* duplicate names count once */
    const char *aab[] = {"a", "a", "b"};
    leases_of(l, "", 0);
    parts_plan("a", aab, 3, l, 1, a);
    assert_int_equal(count(a, PARTS_TAKE), 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_of),
        cmocka_unit_test(test_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
