/*
 * Unit: core/hist.c, the lock-free latency histogram: an observation lands in the first
 * bucket whose bound holds it (a value on a bound counts in that bound's bucket), reads are
 * cumulative with the last entry counting everything, the sum is in seconds, a negative
 * duration counts as 0, and several threads observing at once lose nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hist.h"

#include <pthread.h>

static const double le[] = {0.001, 0.01, 0.1};

static void test_buckets(void **st)
{
    (void)st;
    hist h;
    hist_read_t r;
    hist_init(&h, le, 3);
    hist_observe_us(&h, 500);    /* 0.0005 s: first bucket */
    hist_observe_us(&h, 1000);   /* on the bound: first bucket */
    hist_observe_us(&h, 1001);   /* second */
    hist_observe_us(&h, 250000); /* above all: +Inf only */
    hist_observe_us(&h, -5);     /* counts as 0 */
    hist_read(&h, &r);
    assert_int_equal(r.n_le, 3);
    assert_true(r.le == le);
    assert_int_equal(r.cum[0], 3);
    assert_int_equal(r.cum[1], 4);
    assert_int_equal(r.cum[2], 4);
    assert_int_equal(r.cum[3], 5);
    assert_true(r.sum_s > 0.252500 && r.sum_s < 0.252502);
    hist_init(&h, le, 3); /* zeroes */
    hist_read(&h, &r);
    assert_int_equal(r.cum[3], 0);
    assert_true(r.sum_s == 0);
}

static void *observer(void *arg)
{
    for (int i = 0; i < 100000; i++)
        hist_observe_us(arg, i % 3 == 0 ? 50 : 5000);
    return NULL;
}

static void test_threads(void **st)
{
    (void)st;
    static hist h;
    hist_read_t r;
    pthread_t t[4];
    hist_init(&h, le, 3);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, observer, &h), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    hist_read(&h, &r);
    assert_int_equal(r.cum[3], 400000);
    assert_int_equal(r.cum[0], 4 * 33334);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
