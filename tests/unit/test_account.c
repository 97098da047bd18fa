/*
 * Unit tests of server/core/account: role names and order, name and password rules, the
 * stored scrypt form (salted, checked, tamper and malformed refused), tokens, and the
 * sign-in throttle's free failures, doubling waits, lock and expiry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/account.h"

static void test_roles(void **st)
{
    (void)st;
    assert_true(ACCT_VIEWER < ACCT_OPERATOR && ACCT_OPERATOR < ACCT_ADMIN);
    assert_int_equal(acct_role_parse("viewer"), ACCT_VIEWER);
    assert_int_equal(acct_role_parse("operator"), ACCT_OPERATOR);
    assert_int_equal(acct_role_parse("admin"), ACCT_ADMIN);
    assert_int_equal(acct_role_parse("Admin"), ACCT_ROLE_NONE);
    assert_int_equal(acct_role_parse(""), ACCT_ROLE_NONE);
    assert_int_equal(acct_role_parse(NULL), ACCT_ROLE_NONE);
    assert_string_equal(acct_role_name(ACCT_OPERATOR), "operator");
}

static void test_names_and_passwords(void **st)
{
    (void)st;
    char why[160], long_name[80];
    assert_int_equal(acct_valid_name("alice", why, sizeof why), 0);
    assert_int_equal(acct_valid_name("ci.bot-1@ops_team", why, sizeof why), 0);
    assert_int_equal(acct_valid_name("", why, sizeof why), -1);
    assert_int_equal(acct_valid_name("-x", why, sizeof why), -1);
    assert_int_equal(acct_valid_name("a b", why, sizeof why), -1);
    assert_int_equal(acct_valid_name("a/b", why, sizeof why), -1);
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_int_equal(acct_valid_name(long_name, why, sizeof why), -1);
    long_name[64] = '\0';
    assert_int_equal(acct_valid_name(long_name, why, sizeof why), 0);
    assert_int_equal(acct_valid_password("1234567", why, sizeof why), -1);
    assert_int_equal(acct_valid_password("12345678", why, sizeof why), 0);
}

static void test_password_hash(void **st)
{
    (void)st;
    char h1[ACCT_HASH_MAX], h2[ACCT_HASH_MAX];
    assert_int_equal(acct_password_hash("correct horse", h1, sizeof h1), 0);
    assert_int_equal(acct_password_hash("correct horse", h2, sizeof h2), 0);
    assert_non_null(strstr(h1, "scrypt$15$8$1$"));
    assert_null(strstr(h1, "correct"));
    assert_string_not_equal(h1, h2); /* a salt of its own each time */
    assert_int_equal(acct_password_check("correct horse", h1), 1);
    assert_int_equal(acct_password_check("correct horse", h2), 1);
    assert_int_equal(acct_password_check("correct horsE", h1), 0);
    assert_int_equal(acct_password_check("", h1), 0);
    /* a changed key, a changed salt, junk and absent forms never match */
    char t[ACCT_HASH_MAX];
    snprintf(t, sizeof t, "%s", h1);
    t[strlen(t) - 1] = t[strlen(t) - 1] == '0' ? '1' : '0';
    assert_int_equal(acct_password_check("correct horse", t), 0);
    snprintf(t, sizeof t, "%s", h1);
    char *salt = strstr(t, "$1$") + 3;
    salt[0] = salt[0] == '0' ? '1' : '0';
    assert_int_equal(acct_password_check("correct horse", t), 0);
    char longer[ACCT_HASH_MAX + 2];
    snprintf(longer, sizeof longer, "%sx", h1);
    assert_int_equal(acct_password_check("correct horse", longer), 0);
    assert_int_equal(acct_password_check("correct horse", "plain"), 0);
    assert_int_equal(acct_password_check("correct horse", ""), 0);
    assert_int_equal(acct_password_check("correct horse", NULL), 0);
    /* cost parameters beyond the limits are refused, not computed */
    snprintf(t, sizeof t, "scrypt$30%s", strstr(h1, "$8$"));
    assert_int_equal(acct_password_check("correct horse", t), 0);
}

static void test_tokens(void **st)
{
    (void)st;
    char tok[ACCT_TOKEN_MAX], hash[ACCT_TOKEN_HEX + 1], again[ACCT_TOKEN_HEX + 1],
        tok2[ACCT_TOKEN_MAX], hash2[ACCT_TOKEN_HEX + 1];
    assert_int_equal(acct_token_new(tok, hash), 0);
    assert_int_equal(acct_token_new(tok2, hash2), 0);
    assert_int_equal(strncmp(tok, "ota_", 4), 0);
    assert_int_equal(strlen(tok), 4 + 64);
    assert_int_equal(strlen(hash), 64);
    assert_string_not_equal(tok, tok2);
    assert_null(strstr(hash, tok + 4));
    assert_int_equal(acct_token_hash(tok, again), 0);
    assert_string_equal(hash, again);
    /* SHA-256("abc") */
    assert_int_equal(acct_token_hash("abc", again), 0);
    assert_string_equal(again, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_throttle(void **st)
{
    (void)st;
    static acct_throttle t;
    int64_t now = 1000000;
    acct_throttle_init(&t, 3, 6);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(acct_throttle_wait(&t, "u:alice", now), 0);
        assert_int_equal(acct_throttle_fail(&t, "u:alice", now), i);
    }
    assert_int_equal(acct_throttle_wait(&t, "u:alice", now), 0); /* three are free */
    assert_int_equal(acct_throttle_fail(&t, "u:alice", now), 4);
    assert_int_equal(acct_throttle_wait(&t, "u:alice", now), 1000);
    assert_int_equal(acct_throttle_wait(&t, "u:bob", now), 0); /* others are not held */
    now += 1000;
    assert_int_equal(acct_throttle_wait(&t, "u:alice", now), 0);
    assert_int_equal(acct_throttle_fail(&t, "u:alice", now), 5);
    assert_int_equal(acct_throttle_wait(&t, "u:alice", now), 2000); /* doubling */
    now += 2000;
    assert_int_equal(acct_throttle_fail(&t, "u:alice", now), 6);
    assert_int_equal(acct_throttle_wait(&t, "u:alice", now), ACCT_LOCK_MS); /* locked */
    assert_true(acct_throttle_wait(&t, "u:alice", now + ACCT_LOCK_MS - 1) > 0);
    assert_int_equal(acct_throttle_wait(&t, "u:alice", now + ACCT_LOCK_MS), 0);
    /* once the lock is over and idle, the count starts again */
    assert_int_equal(acct_throttle_fail(&t, "u:alice", now + ACCT_LOCK_MS), 1);
    /* a success clears it */
    acct_throttle_fail(&t, "u:carol", now);
    acct_throttle_fail(&t, "u:carol", now);
    acct_throttle_fail(&t, "u:carol", now);
    acct_throttle_ok(&t, "u:carol");
    assert_int_equal(acct_throttle_fail(&t, "u:carol", now), 1);
    /* a full table reuses the entry idle longest and keeps the newer ones */
    char key[32];
    for (int i = 0; i < ACCT_THROTTLE_SLOTS + 10; i++) {
        snprintf(key, sizeof key, "a:%d", i);
        acct_throttle_fail(&t, key, now + 1 + i);
    }
    snprintf(key, sizeof key, "a:%d", ACCT_THROTTLE_SLOTS + 9);
    assert_int_equal(acct_throttle_fail(&t, key, now + 20000), 2);
    acct_throttle_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),         cmocka_unit_test(test_names_and_passwords),
        cmocka_unit_test(test_password_hash), cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
