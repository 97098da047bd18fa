/*
 * Unit tests of the broker plugin's pure rules (common/auth_rules.c) and its
 * connection table (conn_table.c): device names, the ACL prefix rule, presence payloads,
 * sync nonce parsing, snapshot parts, and per-connection presence with takeovers.
 */
#include "ota_auth_rules.h"
#include "ota_crypto.h"
#include "ota_conn_table.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_names(void **state)
{
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1], big[300];
    (void)state;
    assert_int_equal(auth_split_device("pk1.dev-1_A", pk, id), 0);
    assert_string_equal(pk, "pk1");
    assert_string_equal(id, "dev-1_A");
    const char *bad[] = {NULL,     "",       "nodot", ".id",    "pk.",     "a.b.c",
                         "pk.i/d", "pk.i+d", "pk.i#", "p k.id", "pk.id\n", "otad"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(auth_split_device(bad[i], pk, id), -1);
    /* bounds: pk 32, id 64 */
    memset(big, 'a', sizeof big);
    big[32] = '.';
    big[32 + 1 + 64] = '\0';
    assert_int_equal(auth_split_device(big, pk, id), 0);
    big[32 + 1 + 64] = 'a';
    big[32 + 1 + 65] = '\0';
    assert_int_equal(auth_split_device(big, pk, id), -1);
    memset(big, 'a', sizeof big);
    big[33] = '.';
    big[40] = '\0';
    assert_int_equal(auth_split_device(big, pk, id), -1);
    big[sizeof big - 1] = '\0'; /* long, unterminated within bounds */
    memset(big, 'a', sizeof big - 1);
    assert_int_equal(auth_split_device(big, pk, id), -1);
    assert_int_equal(auth_name_ok("abc", 3), 1);
    assert_int_equal(auth_name_ok("abcd", 3), 0);
    assert_int_equal(auth_name_ok("", 3), 0);
}

static void test_acl(void **state)
{
    (void)state;
    assert_true(auth_device_topic_ok("pk.d1", "/sys/pk/d1/ota/progress"));
    assert_true(auth_device_topic_ok("pk.d1", "/sys/pk/d1/#"));
    assert_true(auth_device_topic_ok("pk.d1", "/sys/pk/d1/"));
    assert_false(auth_device_topic_ok("pk.d1", "/sys/pk/d1"));
    assert_false(auth_device_topic_ok("pk.d1", "/sys/pk/d10/ota"));
    assert_false(auth_device_topic_ok("pk.d1", "/sys/pk/d2/ota"));
    assert_false(auth_device_topic_ok("pk.d1", "/sys/pk/+/ota"));
    assert_false(auth_device_topic_ok("pk.d1", "#"));
    assert_false(auth_device_topic_ok("pk.d1", "ota/internal/presence"));
    assert_false(auth_device_topic_ok("pk.d1", "sys/pk/d1/x"));
    assert_false(auth_device_topic_ok("pk.d1", NULL));
    assert_false(auth_device_topic_ok(NULL, "/sys/pk/d1/x"));
    assert_false(auth_device_topic_ok("otad", "/sys/pk/d1/x"));
}

/* The plugin moves a device's upstream messages only, to the partition topic otad reads. */
static void test_route_topic(void **state)
{
    char id[OTA_IDENT_MAX + 1], out[OTA_PART_TOPIC_MAX + 1];
    (void)state;
    assert_int_equal(auth_upstream_identifier("/sys/pk/dev-1/ota/progress", id), 0);
    assert_string_equal(id, "dev-1");
    assert_int_equal(auth_upstream_identifier("/sys/pk/d/ota/firmware/upgrade_reply", id), 0);
    assert_int_equal(auth_upstream_identifier("/sys/pk/d/ota/version", id), 0);
    assert_int_equal(auth_upstream_identifier("/sys/pk/d/ota/firmware/get", id), 0);
    static const char *const no[] = {
        "/sys/pk/d/ota/firmware/upgrade", /* the platform's topics stay where they are */
        "/sys/pk/d/ota/firmware/get_reply", "/sys/pk/d/ota/progress/x", "/sys/pk/d/ota/progres",
        "/sys/pk//ota/progress", "/sys//d/ota/progress", "/sys/p.k/d/ota/progress",
        "/sys/pk/d+/ota/progress", "sys/pk/d/ota/progress", "/sys/pk/d", "", "ota/internal/sync",
        "$ota/p/1/sys/pk/d/ota/progress"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_int_equal(auth_upstream_identifier(no[i], id), -1);
    assert_int_equal(auth_upstream_identifier(NULL, id), -1);
    assert_int_equal(auth_route_topic("/sys/pk/d/ota/progress", 7, out, sizeof out), 30);
    assert_string_equal(out, "$ota/p/7/sys/pk/d/ota/progress");
    assert_int_equal(auth_route_topic("/sys/pk/d/ota/progress", 64, out, sizeof out), -1);
    assert_int_equal(auth_route_topic("/sys/pk/d/ota/progress", -1, out, sizeof out), -1);
    assert_int_equal(auth_route_topic("/sys/pk/d/ota/progress", 63, out, 10), -1);
    /* the partition is the one PostgreSQL's generated column gives: MD5("dev-1")[0] = 0x1a */
    assert_int_equal(ota_part_of("dev-1"), 0x1a % 64);
}

static void test_payloads(void **state)
{
    char buf[512], nonce[OTA_NONCE_MAX + 1];
    (void)state;
    assert_true(auth_presence_event(buf, sizeof buf, true, "pk.d1", 1234) > 0);
    assert_string_equal(buf, "{\"e\":\"on\",\"c\":\"pk.d1\",\"t\":1234}");
    assert_true(auth_presence_event(buf, sizeof buf, false, "pk.d1", 5) > 0);
    assert_string_equal(buf, "{\"e\":\"off\",\"c\":\"pk.d1\",\"t\":5}");
    assert_int_equal(auth_presence_event(buf, 10, true, "pk.d1", 5), -1);
    assert_int_equal(auth_presence_event(buf, sizeof buf, true, "bad\"name", 5), -1);

    assert_int_equal(auth_parse_sync_nonce("{\"nonce\":\"abc-1\"}", 17, nonce), 0);
    assert_string_equal(nonce, "abc-1");
    assert_int_equal(auth_parse_sync_nonce(" { \"nonce\" : \"x\" } ", 20, nonce), 0);
    assert_string_equal(nonce, "x");
    assert_int_equal(auth_parse_sync_nonce("{}", 2, nonce), 0);
    assert_string_equal(nonce, "");
    assert_int_equal(auth_parse_sync_nonce(NULL, 0, nonce), 0);
    assert_int_equal(auth_parse_sync_nonce("{\"nonce\":\"a b\"}", 15, nonce), -1);
    assert_int_equal(auth_parse_sync_nonce("{\"nonce\":\"abc", 13, nonce), -1);
    assert_int_equal(auth_parse_sync_nonce("{\"nonce\":5}", 11, nonce), -1);
    assert_int_equal(auth_parse_sync_nonce("not json", 8, nonce), -1);
    char longn[200];
    int n = snprintf(longn, sizeof longn, "{\"nonce\":\"%0100d\"}", 0);
    assert_int_equal(auth_parse_sync_nonce(longn, (size_t)n, nonce), -1);
    /* not NUL-terminated: the parser must stop at len */
    char raw[16];
    memcpy(raw, "{\"nonce\":\"abcdef", 16);
    assert_int_equal(auth_parse_sync_nonce(raw, sizeof raw, nonce), -1);

    const char *cids[] = {"pk.a", "pk.b"};
    size_t sz = auth_snapshot_size(2);
    char *snap = malloc(sz);
    assert_true(auth_snapshot_part(snap, sz, "n1", 0, true, cids, 2, 7) > 0);
    assert_string_equal(snap, "{\"e\":\"snapshot\",\"nonce\":\"n1\",\"part\":0,\"last\":true,\"t\":"
                              "7,\"clients\":[\"pk.a\",\"pk.b\"]}");
    assert_true(auth_snapshot_part(snap, sz, "", 3, false, cids, 0, 7) > 0);
    assert_string_equal(
        snap,
        "{\"e\":\"snapshot\",\"nonce\":\"\",\"part\":3,\"last\":false,\"t\":7,\"clients\":[]}");
    assert_int_equal(auth_snapshot_part(snap, sz - 200, "n1", 0, true, cids, 2, 7), -1);
    assert_int_equal(auth_snapshot_part(snap, sz, "bad\"", 0, true, cids, 2, 7), -1);
    free(snap);
    /* a full part of the longest names fits */
    char **names = malloc(AUTH_PART_MAX * sizeof *names);
    for (int i = 0; i < AUTH_PART_MAX; i++) {
        names[i] = malloc(OTA_CLIENT_ID_MAX + 1);
        memset(names[i], 'x', OTA_CLIENT_ID_MAX);
        names[i][32] = '.';
        names[i][OTA_CLIENT_ID_MAX] = '\0';
    }
    sz = auth_snapshot_size(AUTH_PART_MAX);
    snap = malloc(sz);
    char nn[OTA_NONCE_MAX + 1];
    memset(nn, 'n', OTA_NONCE_MAX);
    nn[OTA_NONCE_MAX] = '\0';
    assert_true(auth_snapshot_part(snap, sz, nn, 999999, false, (const char *const *)names,
                                   AUTH_PART_MAX, INT64_MAX) > 0);
    free(snap);
    for (int i = 0; i < AUTH_PART_MAX; i++)
        free(names[i]);
    free(names);
}

typedef struct {
    char offs[16][OTA_CLIENT_ID_MAX + 1];
    int n;
} offs_t;

static void record_off(const char *cid, void *ud)
{
    offs_t *o = ud;
    if (o->n < 16)
        snprintf(o->offs[o->n++], sizeof o->offs[0], "%s", cid);
}

static void count_cb(const char *cid, void *ud)
{
    (void)cid;
    (*(size_t *)ud)++;
}

static void test_conn_table(void **state)
{
    conn_table t;
    offs_t o = {0};
    char cid[OTA_CLIENT_ID_MAX + 1];
    int a, b, c; /* stand-ins for struct mosquitto pointers */
    (void)state;
    assert_int_equal(conn_table_init(&t), 0);
    assert_int_equal(conn_table_login(&t, &a, "pk.d1", record_off, &o), 0);
    assert_int_equal(o.n, 0);
    assert_true(conn_table_online(&t, "pk.d1"));
    /* takeover: b logs in as the same client id before a's disconnect */
    assert_int_equal(conn_table_login(&t, &b, "pk.d1", record_off, &o), 0);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.offs[0], "pk.d1");
    assert_int_equal(t.current, 1);
    assert_int_equal(t.entries, 2);
    /* a's late disconnect is silent; the device stays online */
    assert_int_equal(conn_table_logout(&t, &a, cid), 0);
    assert_true(conn_table_online(&t, "pk.d1"));
    /* unknown connections (refused logins, the server) are silent */
    assert_int_equal(conn_table_logout(&t, &c, cid), 0);
    assert_int_equal(conn_table_logout(&t, &b, cid), 1);
    assert_string_equal(cid, "pk.d1");
    assert_false(conn_table_online(&t, "pk.d1"));
    assert_int_equal(t.entries, 0);
    /* a pointer reused without a disconnect seen: its old presence ends */
    assert_int_equal(conn_table_login(&t, &a, "pk.d2", record_off, &o), 0);
    assert_int_equal(conn_table_login(&t, &a, "pk.d3", record_off, &o), 0);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.offs[1], "pk.d2");
    assert_false(conn_table_online(&t, "pk.d2"));
    assert_true(conn_table_online(&t, "pk.d3"));
    conn_table_free(&t);

    /* many entries: growth keeps every one findable */
    enum { N = 50000 };
    char *ptrs = malloc(N);
    assert_int_equal(conn_table_init(&t), 0);
    for (int i = 0; i < N; i++) {
        snprintf(cid, sizeof cid, "pk.d%d", i);
        assert_int_equal(conn_table_login(&t, ptrs + i, cid, record_off, &o), 0);
    }
    assert_int_equal(t.current, N);
    size_t count = 0;
    conn_table_foreach(&t, count_cb, &count);
    assert_int_equal(count, N);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(conn_table_logout(&t, ptrs + i, cid), 1);
    assert_int_equal(t.current, N / 2);
    snprintf(cid, sizeof cid, "pk.d%d", 1);
    assert_true(conn_table_online(&t, cid));
    snprintf(cid, sizeof cid, "pk.d%d", 2);
    assert_false(conn_table_online(&t, cid));
    conn_table_free(&t);
    conn_table_free(NULL);
    free(ptrs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_acl),
        cmocka_unit_test(test_route_topic),
        cmocka_unit_test(test_payloads),
        cmocka_unit_test(test_conn_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
