/*
 * Unit tests of server/core/timerheap: order, ties, peek/pop/pop_due, removal, growth up
 * to the ceiling, wait computation, and a randomized comparison against a sorted array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/timerheap.h"

static void test_empty(void **state)
{
    (void)state;
    assert_null(theap_new(10, 0));
    theap *h = theap_new(0, 100);
    assert_non_null(h);
    theap_entry e;
    assert_int_equal(theap_size(h), 0);
    assert_int_equal(theap_peek(h, &e), OTA_EEMPTY);
    assert_int_equal(theap_pop(h, &e), OTA_EEMPTY);
    assert_int_equal(theap_pop_due(h, INT64_MAX, &e), OTA_EEMPTY);
    assert_int_equal(theap_remove(h, 1, -1), 0);
    assert_true(theap_wait_ms(h, 0, 5000) == 5000);
    assert_int_equal(theap_max_entries(h), 100);
    theap_free(h);
    theap_free(NULL);
}

static void test_order_and_ties(void **state)
{
    (void)state;
    theap *h = theap_new(1, 1000);
    assert_int_equal(theap_push(h, 30, 1, 0), OTA_OK);
    assert_int_equal(theap_push(h, 10, 5, 2), OTA_OK);
    assert_int_equal(theap_push(h, 10, 5, 1), OTA_OK);
    assert_int_equal(theap_push(h, 10, 2, 3), OTA_OK);
    assert_int_equal(theap_push(h, -5, 9, 0), OTA_OK);
    assert_int_equal(theap_push(h, 20, 1, 0), OTA_OK);
    theap_entry e;
    assert_int_equal(theap_peek(h, &e), OTA_OK);
    assert_true(e.due_ms == -5);
    assert_int_equal(theap_size(h), 6);
    const struct {
        int64_t due;
        uint64_t id;
        int kind;
    } want[] = {{-5, 9, 0}, {10, 2, 3}, {10, 5, 1}, {10, 5, 2}, {20, 1, 0}, {30, 1, 0}};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(theap_pop(h, &e), OTA_OK);
        assert_true(e.due_ms == want[i].due);
        assert_true(e.id == want[i].id);
        assert_int_equal(e.kind, want[i].kind);
    }
    assert_int_equal(theap_pop(h, NULL), OTA_EEMPTY);
    theap_free(h);
}

static void test_pop_due_and_wait(void **state)
{
    (void)state;
    theap *h = theap_new(4, 16);
    theap_push(h, 1000, 1, 1);
    theap_push(h, 2000, 2, 1);
    theap_entry e;
    assert_int_equal(theap_pop_due(h, 999, &e), OTA_EEMPTY);
    assert_true(theap_wait_ms(h, 999, 60000) == 1);
    assert_true(theap_wait_ms(h, 0, 500) == 500);
    assert_true(theap_wait_ms(h, 5000, 500) == 0);
    assert_true(theap_wait_ms(h, INT64_MIN, 500) == 500);
    assert_int_equal(theap_pop_due(h, 1000, &e), OTA_OK);
    assert_true(e.id == 1);
    assert_int_equal(theap_pop_due(h, 1999, &e), OTA_EEMPTY);
    assert_int_equal(theap_size(h), 1);
    assert_int_equal(theap_pop_due(h, INT64_MAX, NULL), OTA_OK);
    assert_int_equal(theap_size(h), 0);
    theap_free(h);
}

static void test_ceiling_and_growth(void **state)
{
    (void)state;
    theap *h = theap_new(2, 5);
    assert_int_equal(theap_capacity(h), 2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(theap_push(h, 100 - i, (uint64_t)i, 0), OTA_OK);
    assert_int_equal(theap_capacity(h), 5);
    assert_int_equal(theap_push(h, 1, 99, 0), OTA_EFULL);
    assert_int_equal(theap_size(h), 5);
    theap_entry e;
    theap_peek(h, &e);
    assert_true(e.due_ms == 96); /* the failed push left nothing behind */
    theap_clear(h);
    assert_int_equal(theap_size(h), 0);
    assert_int_equal(theap_push(h, 7, 7, 7), OTA_OK);
    theap_free(h);
    /* initial capacity above the ceiling is clamped */
    h = theap_new(1000, 3);
    assert_int_equal(theap_capacity(h), 3);
    theap_free(h);
}

static void test_remove(void **state)
{
    (void)state;
    theap *h = theap_new(0, 1000);
    for (int i = 0; i < 100; i++) {
        theap_push(h, (i * 37) % 101, (uint64_t)(i % 10), i % 3);
    }
    /* id 3 appears 10 times with kinds 0,1,2 */
    size_t n3k1 = 0;
    for (int i = 0; i < 100; i++)
        n3k1 += (i % 10 == 3 && i % 3 == 1);
    assert_int_equal(theap_remove(h, 3, 1), n3k1);
    assert_int_equal(theap_remove(h, 3, 1), 0);
    assert_int_equal(theap_remove(h, 3, -1), 10 - n3k1);
    assert_int_equal(theap_remove(h, 12345, -1), 0);
    assert_int_equal(theap_size(h), 90);
    theap_entry e, prev = {INT64_MIN, 0, 0};
    while (theap_pop(h, &e) == OTA_OK) {
        assert_true(e.id != 3);
        assert_true(e.due_ms >= prev.due_ms);
        prev = e;
    }
    theap_free(h);
}

/* ---- randomized model check against a sorted array ---- */

static int cmp_entry(const void *x, const void *y)
{
    const theap_entry *a = x, *b = y;
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return (a->kind > b->kind) - (a->kind < b->kind);
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_random_against_sorted_array(void **state)
{
    (void)state;
    enum { MAX = 2000 };
    theap *h = theap_new(1, MAX);
    theap_entry *model = calloc(MAX, sizeof *model);
    size_t n = 0;
    for (int round = 0; round < 200000; round++) {
        uint64_t r = rnd();
        int op = (int)(r % 10);
        if (op < 5) { /* push */
            theap_entry e = {(int64_t)(rnd() % 5000) - 100, rnd() % 300, (int)(rnd() % 4)};
            int rc = theap_push(h, e.due_ms, e.id, e.kind);
            if (n == MAX) {
                assert_int_equal(rc, OTA_EFULL);
            } else {
                assert_int_equal(rc, OTA_OK);
                size_t at = n; /* sorted insert */
                while (at > 0 && cmp_entry(&model[at - 1], &e) > 0)
                    at--;
                memmove(model + at + 1, model + at, (n - at) * sizeof *model);
                model[at] = e;
                n++;
            }
        } else if (op < 8) { /* pop */
            theap_entry e;
            int rc = theap_pop(h, &e);
            if (n == 0) {
                assert_int_equal(rc, OTA_EEMPTY);
            } else {
                assert_int_equal(rc, OTA_OK);
                assert_int_equal(cmp_entry(&e, &model[0]), 0);
                memmove(model, model + 1, (n - 1) * sizeof *model);
                n--;
            }
        } else if (op < 9) { /* pop_due */
            int64_t now = (int64_t)(rnd() % 5000) - 100;
            theap_entry e;
            int rc = theap_pop_due(h, now, &e);
            if (n == 0 || model[0].due_ms > now) {
                assert_int_equal(rc, OTA_EEMPTY);
            } else {
                assert_int_equal(rc, OTA_OK);
                assert_int_equal(cmp_entry(&e, &model[0]), 0);
                memmove(model, model + 1, (n - 1) * sizeof *model);
                n--;
            }
        } else { /* remove */
            uint64_t id = rnd() % 300;
            int kind = (int)(rnd() % 5) - 1;
            size_t w = 0;
            for (size_t i = 0; i < n; i++) {
                if (model[i].id == id && (kind < 0 || model[i].kind == kind))
                    continue;
                model[w++] = model[i];
            }
            assert_int_equal(theap_remove(h, id, kind), n - w);
            n = w;
        }
        assert_int_equal(theap_size(h), n);
        theap_entry top;
        if (n) {
            assert_int_equal(theap_peek(h, &top), OTA_OK);
            assert_int_equal(cmp_entry(&top, &model[0]), 0);
        }
    }
    /* drain: everything comes out in the model's order */
    for (size_t i = 0; i < n; i++) {
        theap_entry e;
        assert_int_equal(theap_pop(h, &e), OTA_OK);
        assert_int_equal(cmp_entry(&e, &model[i]), 0);
    }
    assert_int_equal(theap_size(h), 0);
    free(model);
    theap_free(h);
}

static void test_large(void **state)
{
    (void)state;
    enum { N = 300000 };
    theap *h = theap_new(0, N);
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(theap_push(h, (int64_t)((i * 7919) % N), i, 0), OTA_OK);
    assert_int_equal(theap_push(h, 0, 0, 0), OTA_EFULL);
    int64_t prev = -1;
    theap_entry e;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(theap_pop(h, &e), OTA_OK);
        assert_true(e.due_ms >= prev);
        prev = e.due_ms;
    }
    theap_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_order_and_ties),
        cmocka_unit_test(test_pop_due_and_wait),
        cmocka_unit_test(test_ceiling_and_growth),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_random_against_sorted_array),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
