/*
 * common/log.c and common/log_limit.c: what a reader of otad's log sees. Outside strings
 * with control bytes come out escaped on one line; a key that logs too much gets its burst,
 * then one summary line with the count of what was dropped.
 */
#include "ota_log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char captured[65536];

/* Runs fn with stderr sent to a temp file; the text written lands in captured. */
static void capture(void (*fn)(void))
{
    char path[] = "/tmp/ota-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    fn();
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    assert_true(n >= 0 && n < (off_t)sizeof captured);
    assert_int_equal(pread(fd, captured, (size_t)n, 0), n);
    captured[n] = '\0';
    close(fd);
    unlink(path);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void log_hostile_path(void)
{
    OTA_INFO("http: GET %s 404", "/a\x1b[2J\x1b]0;owned\x07/b\r\nFAKE 2026 ERROR x\\y\t\x7f");
}

static void test_control_bytes_escaped(void **state)
{
    (void)state;
    capture(log_hostile_path);
    for (const char *p = captured; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n')
            assert_int_equal(p[1], '\0'); /* the only newline ends the only line */
        else
            assert_true(c >= 0x20 && c != 0x7f);
    }
    assert_non_null(strstr(
        captured, "GET /a\\x1b[2J\\x1b]0;owned\\x07/b\\r\\nFAKE 2026 ERROR x\\\\y\\t\\x7f 404\n"));
}

static void test_escape_cut_at_boundary(void **state)
{
    (void)state;
    char out[6];
    /* "ab" + "\x1b" needs 6 bytes with the NUL: the escape does not fit, nothing half */
    assert_int_equal(ota_log_escape(out, sizeof out, "ab\x1b", 3), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(ota_log_escape(out, sizeof out, "a\nb", 3), 4);
    assert_string_equal(out, "a\\nb");
    char big[2048];
    memset(big, 0x1b, sizeof big);
    char line[64];
    size_t n = ota_log_escape(line, sizeof line, big, sizeof big);
    assert_int_equal(n, 60);
    assert_int_equal(strlen(line), 60);
}

static void log_long_hostile(void)
{
    static char big[3000];
    memset(big, '\x01', sizeof big - 1);
    OTA_WARN("x %s", big);
}

static void test_long_line_cut_not_grown(void **state)
{
    (void)state;
    capture(log_long_hostile);
    size_t len = strlen(captured);
    assert_true(len <= 2048);
    assert_int_equal(captured[len - 1], '\n');
    assert_int_equal(count(captured, "\n"), 1);
    assert_null(strchr(captured, '\x01'));
}

static void flood_one_device(void)
{
    ota_log_limit *l = ota_log_limit_new(64, 10, 60000);
    assert_non_null(l);
    int64_t t = 1000000;
    int written = 0;
    for (int i = 0; i < 5000; i++) {
        if (ota_log_limit_allow(l, "device p.d1", t + i)) {
            OTA_WARN("device p.d1: bad message %d", i);
            written++;
        }
        /* another device keeps its own budget */
        if (i < 3 && ota_log_limit_allow(l, "device p.d2", t + i))
            OTA_WARN("device p.d2: bad message %d", i);
    }
    assert_int_equal(written, 10);
    assert_int_equal(ota_log_limit_dropped(l), 4990);
    /* no summary before the window ends */
    ota_log_limit_flush(l, t + 59999);
    /* the window ends: one summary for d1, none for d2 (nothing dropped) */
    ota_log_limit_flush(l, t + 60000);
    ota_log_limit_flush(l, t + 60001);
    /* a new window: d1 may write again */
    assert_true(ota_log_limit_allow(l, "device p.d1", t + 60002));
    ota_log_limit_free(l);
}

static void test_rate_limit_per_key(void **state)
{
    (void)state;
    capture(flood_one_device);
    assert_int_equal(count(captured, "device p.d1: bad message"), 10);
    assert_int_equal(count(captured, "device p.d2: bad message"), 3);
    assert_int_equal(count(captured, "log limit:"), 1);
    assert_non_null(strstr(
        captured,
        "log limit: 4990 more lines about device p.d1 dropped in 60 s (at most 10 per 60 s)"));
}

static void slot_sharing(void)
{
    /* one slot: keys take it in turns, and the one that loses it reports its drops first */
    ota_log_limit *l = ota_log_limit_new(1, 1, 60000);
    assert_non_null(l);
    assert_true(ota_log_limit_allow(l, "a", 1));
    assert_false(ota_log_limit_allow(l, "a", 2));
    assert_false(ota_log_limit_allow(l, "a", 3));
    assert_true(ota_log_limit_allow(l, "b", 4));
    ota_log_limit_free(l);
}

static void test_rate_limit_eviction_reports(void **state)
{
    (void)state;
    capture(slot_sharing);
    assert_non_null(strstr(captured, "log limit: 2 more lines about a dropped"));
    assert_null(ota_log_limit_new(0, 1, 1));
    assert_true(ota_log_limit_allow(NULL, "x", 1));
    ota_log_limit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_bytes_escaped),
        cmocka_unit_test(test_escape_cut_at_boundary),
        cmocka_unit_test(test_long_line_cut_not_grown),
        cmocka_unit_test(test_rate_limit_per_key),
        cmocka_unit_test(test_rate_limit_eviction_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
