/*
 * Unit tests of tools/ota-fleet/mqttwire.c, the MQTT packets the measuring tools write and
 * read on raw sockets: packets built here come back whole from mw_next, byte by byte as
 * well as all at once; lengths over four bytes or running past the data are refused; a
 * PUBLISH's topic, mid and payload come out as they went in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqttwire.h"

static void feed(mw_buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n);
    assert_non_null(b->p);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->cap = b->len;
}

static void test_publish_round_trip(void **state)
{
    (void)state;
    mw_buf out = {0}, in = {0};
    static char big[300];
    memset(big, 'x', sizeof big); /* a remaining length of two bytes */
    assert_int_equal(mw_publish(&out, "/sys/pk/d1/ota/version", "{\"a\":1}", 7, 1, 513), 0);
    assert_int_equal(mw_publish(&out, "t", big, sizeof big, 0, 0), 0);
    assert_int_equal(mw_puback(&out, 7), 0);
    /* byte by byte: nothing comes out until a packet is whole */
    int got = 0;
    for (size_t i = 0; i < out.len; i++) {
        mw_packet pk;
        feed(&in, out.p + i, 1);
        int rc;
        while ((rc = mw_next(&in, &pk)) == 1) {
            const char *topic;
            const uint8_t *pl;
            size_t tl, pll;
            uint16_t mid;
            if (got == 0) {
                assert_int_equal(pk.type, MW_PUBLISH);
                assert_int_equal((pk.flags >> 1) & 3, 1);
                assert_int_equal(mw_publish_parts(&pk, &topic, &tl, &mid, &pl, &pll), 0);
                assert_int_equal(tl, strlen("/sys/pk/d1/ota/version"));
                assert_memory_equal(topic, "/sys/pk/d1/ota/version", tl);
                assert_int_equal(mid, 513);
                assert_int_equal(pll, 7);
                assert_memory_equal(pl, "{\"a\":1}", 7);
            } else if (got == 1) {
                assert_int_equal(mw_publish_parts(&pk, &topic, &tl, &mid, &pl, &pll), 0);
                assert_int_equal(mid, 0);
                assert_int_equal(pll, sizeof big);
            } else {
                assert_int_equal(pk.type, MW_PUBACK);
                assert_int_equal(mw_ack_mid(&pk), 7);
            }
            got++;
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(got, 3);
    free(out.p);
    free(in.p);
}

static void test_connect_and_subscribe_bytes(void **state)
{
    (void)state;
    mw_buf b = {0};
    const char *f[2] = {"a/+", "b/#"};
    assert_int_equal(mw_connect(&b, "cid", "u", "pw", 60, 1), 0);
    static const uint8_t conn[] = {0x10, 22,  0,   4, 'M', 'Q', 'T', 'T', 4,   0xc2, 0, 60, 0,
                                   3,    'c', 'i', 'd', 0, 1,   'u', 0,   2,   'p',  'w'};
    assert_int_equal(b.len, sizeof conn);
    assert_memory_equal(b.p, conn, sizeof conn);
    b.len = 0;
    assert_int_equal(mw_subscribe(&b, 9, f, 2, 1), 0);
    static const uint8_t sub[] = {0x82, 14, 0, 9, 0, 3, 'a', '/', '+', 1, 0, 3, 'b', '/', '#', 1};
    assert_int_equal(b.len, sizeof sub);
    assert_memory_equal(b.p, sub, sizeof sub);
    free(b.p);
}

static void test_malformed(void **state)
{
    (void)state;
    mw_buf in = {0};
    mw_packet pk;
    static const uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    feed(&in, five, sizeof five);
    assert_int_equal(mw_next(&in, &pk), -1); /* a remaining length of five bytes */
    free(in.p);
    memset(&in, 0, sizeof in);
    /* a PUBLISH whose topic length runs past its body */
    static const uint8_t topic_long[] = {0x32, 4, 0, 9, 'a', 'b'};
    feed(&in, topic_long, sizeof topic_long);
    assert_int_equal(mw_next(&in, &pk), 1);
    const char *t;
    const uint8_t *pl;
    size_t tl, pll;
    uint16_t mid;
    assert_int_equal(mw_publish_parts(&pk, &t, &tl, &mid, &pl, &pll), -1);
    free(in.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_round_trip),
        cmocka_unit_test(test_connect_and_subscribe_bytes),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
