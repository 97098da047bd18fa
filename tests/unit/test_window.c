/*
 * test_window: core/window.c and common/tz.c: the windows' rules with the field named, the
 * system's zones read (offsets across daylight saving), inside / outside a window (one that
 * runs past midnight too), and when the next one opens.
 */
#include "core/window.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* 2026-07-01T00:00:00Z and 2026-01-01T00:00:00Z */
#define JUL1 1782864000000LL
#define JAN1 1767225600000LL
#define MIN 60000LL

static void test_tz(void **state)
{
    (void)state;
    ota_tz tz;
    assert_int_equal(ota_tz_load("Europe/Berlin", &tz), 0);
    assert_int_equal(ota_tz_offset(&tz, JAN1), 3600);
    assert_int_equal(ota_tz_offset(&tz, JUL1), 7200);
    ota_tz_free(&tz);
    assert_int_equal(ota_tz_load("Asia/Shanghai", &tz), 0);
    assert_int_equal(ota_tz_offset(&tz, JUL1), 8 * 3600);
    ota_tz_free(&tz);
    assert_int_equal(ota_tz_load("UTC", &tz), 0);
    assert_int_equal(ota_tz_offset(&tz, JUL1), 0);
    ota_tz_free(&tz);
    assert_int_equal(ota_tz_load("Mars/Base", &tz), -1);
    assert_int_equal(ota_tz_load("../etc/passwd", &tz), -1);
    assert_int_equal(ota_tz_load("/etc/passwd", &tz), -1);
    assert_int_equal(ota_tz_name_ok("America/Argentina/Buenos_Aires"), 1);
    assert_int_equal(ota_tz_name_ok("Etc/GMT+5"), 1);
    assert_int_equal(ota_tz_name_ok(""), 0);
    ota_tz_free(NULL);
}

static void refused(const char *text, const char *field)
{
    window_list l;
    rq_error err;
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    if (window_from_json(v, &l, &err) == 0)
        fail_msg("accepted: %s", text);
    json_decref(v);
    assert_string_equal(err.field, field);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("[]", "windows");
    refused("{}", "windows");
    refused("[{\"start\":\"2:00\",\"durationMinutes\":5,\"timeZone\":\"UTC\"}]", "windows[0].start");
    refused("[{\"start\":\"23:60\",\"durationMinutes\":5,\"timeZone\":\"UTC\"}]",
            "windows[0].start");
    refused("[{\"start\":\"02:00\",\"durationMinutes\":1441,\"timeZone\":\"UTC\"}]",
            "windows[0].durationMinutes");
    refused("[{\"start\":\"02:00\",\"durationMinutes\":0,\"timeZone\":\"UTC\"}]",
            "windows[0].durationMinutes");
    refused("[{\"start\":\"02:00\",\"durationMinutes\":5,\"timeZone\":\"Nowhere/City\"}]",
            "windows[0].timeZone");
    refused("[{\"start\":\"02:00\",\"durationMinutes\":5}]", "windows[0].timeZone");
    refused("[{\"start\":\"02:00\",\"durationMinutes\":5,\"timeZone\":\"UTC\",\"x\":1}]",
            "windows[0]");
}

static void load(const char *text, window_set *s)
{
    window_list l;
    rq_error err;
    char stored[WINDOW_TEXT_MAX];
    json_t *v = json_loads(text, 0, NULL);
    assert_int_equal(window_from_json(v, &l, &err), 0);
    json_decref(v);
    assert_int_equal(window_to_text(&l, stored, sizeof stored), 0);
    assert_int_equal(window_set_load(stored, s), 0);
}

static void test_inside(void **state)
{
    (void)state;
    window_set s;
    /* 23:30 Berlin for 60 minutes: runs past local midnight; summer = UTC+2 */
    load("[{\"start\":\"23:30\",\"durationMinutes\":60,\"timeZone\":\"Europe/Berlin\"}]", &s);
    int64_t open = JUL1 - 150 * MIN; /* 2026-06-30T21:30Z = 23:30 Berlin */
    assert_int_equal(window_inside(&s, open - 1), 0);
    assert_int_equal(window_inside(&s, open), 1);
    assert_int_equal(window_inside(&s, open + 59 * MIN), 1);
    assert_int_equal(window_inside(&s, open + 60 * MIN), 0);
    assert_true(window_next_open(&s, open - 30 * MIN) == open);
    assert_true(window_next_open(&s, open + 61 * MIN) == open + 1440 * MIN);
    /* winter: the same local time is an hour later in UTC */
    assert_int_equal(window_inside(&s, JAN1 - 90 * MIN), 1);
    assert_int_equal(window_inside(&s, JAN1 - 150 * MIN), 0);
    assert_int_equal(window_batch_inside(
                         "[{\"start\":\"23:30\",\"durationMinutes\":60,\"timeZone\":\"Europe/Berlin\"}]",
                         open),
                     1);
    window_set_free(&s);
    /* none: always inside */
    assert_int_equal(window_set_load("", &s), 0);
    assert_int_equal(window_inside(&s, JUL1), 1);
    assert_int_equal(window_batch_inside("", JUL1), 1);
    /* two windows: inside either */
    load("[{\"start\":\"01:00\",\"durationMinutes\":10,\"timeZone\":\"UTC\"},"
         "{\"start\":\"03:00\",\"durationMinutes\":1440,\"timeZone\":\"UTC\"}]",
         &s);
    assert_int_equal(window_inside(&s, JUL1 + 5 * MIN), 1); /* the all-day one */
    window_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_inside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
