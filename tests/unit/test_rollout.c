/*
 * test_rollout: core/rollout.c, the phases and brakes of a batch: the body's rules with the
 * field named, the stored form read back unchanged, how many devices each phase gets, when
 * a phase's share is met and when an abort rule fires (at the crossing, not before).
 */
#include "core/rollout.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *text, rollout *r, rq_error *err)
{
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    int rc = rollout_from_json(v, r, err);
    json_decref(v);
    return rc;
}

static void refused(const char *text, int status, const char *code, const char *field)
{
    rollout r;
    rq_error err;
    if (parse(text, &r, &err) == 0)
        fail_msg("accepted: %s", text);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    assert_string_equal(err.field, field);
    assert_true(err.msg[0] != '\0');
}

static void test_refusals(void **state)
{
    (void)state;
    refused("{\"phases\":[{\"percent\":60},{\"percent\":41}]}", 422, "out_of_range",
            "rollout.phases");
    refused("{\"phases\":[]}", 422, "out_of_range", "rollout.phases");
    refused("{\"phases\":[{\"percent\":0}]}", 422, "out_of_range", "rollout.phases[0].percent");
    refused("{\"phases\":[{\"count\":0}]}", 422, "out_of_range", "rollout.phases[0].count");
    refused("{\"phases\":[{}]}", 422, "missing_field", "rollout.phases[0]");
    refused("{\"phases\":[{\"percent\":5,\"count\":5}]}", 422, "not_allowed", "rollout.phases[0]");
    refused("{\"phases\":[{\"identifiers\":[\"a\"]}]}", 422, "not_allowed", "rollout.phases");
    refused("{\"phases\":[{\"percent\":5},{\"identifiers\":[\"a\"]}]}", 422, "not_allowed",
            "rollout.phases[1].identifiers");
    refused("{\"phases\":[{\"identifiers\":[\"a\",\"a\"]},{\"percent\":5}]}", 422,
            "duplicate_identifier", "rollout.phases[0].identifiers");
    refused("{\"phases\":[{\"identifiers\":[\"a b\"]},{\"percent\":5}]}", 422, "invalid_value",
            "rollout.phases[0].identifiers");
    refused("{\"phases\":[{\"percent\":5,\"soakMinutes\":10081}]}", 422, "out_of_range",
            "rollout.phases[0].soakMinutes");
    refused("{\"phases\":[{\"percent\":5,\"minSuccessPercent\":101}]}", 422, "out_of_range",
            "rollout.phases[0].minSuccessPercent");
    refused("{\"phases\":[{\"percent\":\"5\"}]}", 400, "invalid_type", "rollout.phases[0].percent");
    refused("{\"phases\":[{\"percent\":5,\"x\":1}]}", 400, "unknown_field", "rollout.phases[0]");
    refused("{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":101}]}", 422, "out_of_range",
            "rollout.abort[0].thresholdPercent");
    refused("{\"abort\":[{\"reason\":\"any\"}]}", 422, "missing_field",
            "rollout.abort[0].thresholdPercent");
    refused("{\"abort\":[{\"thresholdPercent\":5}]}", 422, "missing_field",
            "rollout.abort[0].reason");
    refused("{\"abort\":[{\"reason\":\"terminated\",\"thresholdPercent\":5}]}", 422,
            "invalid_value", "rollout.abort[0].reason");
    refused("{\"abort\":[{\"reason\":\"none\",\"thresholdPercent\":5}]}", 422, "invalid_value",
            "rollout.abort[0].reason");
    refused("{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":5,\"action\":\"stop\"}]}", 422,
            "invalid_value", "rollout.abort[0].action");
    refused("{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":5,\"minFinished\":0}]}", 422,
            "out_of_range", "rollout.abort[0].minFinished");
    refused("{\"abort\":{}}", 400, "invalid_type", "rollout.abort");
    refused("{\"stages\":[]}", 400, "unknown_field", "rollout");
    refused("[]", 400, "invalid_type", "rollout");
}

static void test_stored_form(void **state)
{
    (void)state;
    rollout r, back;
    rq_error err;
    char text[ROLLOUT_STORED_MAX], again[ROLLOUT_STORED_MAX];
    assert_int_equal(parse("{\"phases\":[{\"identifiers\":[\"c1\",\"c2\"],\"soakMinutes\":30},"
                           "{\"percent\":10,\"minSuccessPercent\":95},{\"count\":500}],"
                           "\"abort\":[{\"reason\":\"rolled_back\",\"thresholdPercent\":5,"
                           "\"minFinished\":20,\"action\":\"abort\"},{\"reason\":\"any\","
                           "\"thresholdPercent\":10}]}",
                           &r, &err),
                     0);
    assert_int_equal(r.n_phases, 3);
    assert_int_equal(r.phases[0].canary, 1);
    assert_int_equal(r.n_canary, 2);
    assert_int_equal(r.phases[0].min_success_percent, 100);
    assert_int_equal(r.phases[1].min_success_percent, 95);
    assert_int_equal(r.rules[0].reason, FSM_REASON_ROLLED_BACK);
    assert_int_equal(r.rules[0].abort, 1);
    assert_int_equal(r.rules[1].reason, FSM_REASON_NONE);
    assert_int_equal(r.rules[1].min_finished, 1);
    assert_int_equal(r.rules[1].abort, 0);
    assert_int_equal(rollout_to_text(&r, text, sizeof text), 0);
    assert_int_equal(rollout_from_text(text, &back), 0);
    assert_int_equal(rollout_to_text(&back, again, sizeof again), 0);
    assert_string_equal(text, again);
    assert_memory_equal(&r, &back, sizeof r);
    assert_int_equal(rollout_to_text(&r, text, 16), -1);
    /* brakes alone: one phase of every device */
    assert_int_equal(parse("{\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":10}]}", &r, &err),
                     0);
    assert_int_equal(rollout_to_text(&r, text, sizeof text), 0);
    assert_int_equal(rollout_from_text(text, &back), 0);
    assert_int_equal(rollout_phase_count(&back), 1);
    assert_int_equal(rollout_from_text("", &back), -1);
    assert_int_equal(rollout_from_text("{", &back), -1);
}

static void test_sizes(void **state)
{
    (void)state;
    rollout r;
    rq_error err;
    int64_t s[ROLLOUT_MAX_PHASES];
    assert_int_equal(parse("{\"phases\":[{\"percent\":1},{\"percent\":10},{\"percent\":89}]}", &r,
                           &err),
                     0);
    rollout_sizes(&r, 100000, 0, s);
    assert_int_equal(s[0], 1000);
    assert_int_equal(s[1], 10000);
    assert_int_equal(s[2], 89000);
    rollout_sizes(&r, 5, 0, s); /* rounded up: a small batch still gets a device per phase */
    assert_int_equal(s[0], 1);
    assert_int_equal(s[1], 1);
    assert_int_equal(s[2], 3);
    rollout_sizes(&r, 1, 0, s);
    assert_int_equal(s[0] + s[1] + s[2], 1);
    /* the last phase takes the rest; counts bounded by what is left */
    assert_int_equal(parse("{\"phases\":[{\"identifiers\":[\"a\",\"b\"]},{\"count\":10},"
                           "{\"percent\":10}]}",
                           &r, &err),
                     0);
    rollout_sizes(&r, 7, 2, s);
    assert_int_equal(s[0], 2);
    assert_int_equal(s[1], 5);
    assert_int_equal(s[2], 0);
    rollout_sizes(&r, 100, 2, s);
    assert_int_equal(s[0], 2);
    assert_int_equal(s[1], 10);
    assert_int_equal(s[2], 88);
}

static void test_share_and_rules(void **state)
{
    (void)state;
    rollout_phase p = {.percent = 10, .min_success_percent = 90};
    assert_int_equal(rollout_share_met(&p, 10, 8), 0);
    assert_int_equal(rollout_share_met(&p, 10, 9), 1);
    assert_int_equal(rollout_share_met(&p, 0, 0), 1);
    rollout_rule rule = {FSM_REASON_FLASH_FAILED, 50, 4, 1};
    assert_int_equal(rollout_rule_fires(&rule, 2, 1), 0); /* 50 % before minFinished */
    assert_int_equal(rollout_rule_fires(&rule, 3, 1), 0);
    assert_int_equal(rollout_rule_fires(&rule, 4, 1), 0);
    assert_int_equal(rollout_rule_fires(&rule, 4, 2), 1); /* the crossing */
    assert_int_equal(rollout_rule_fires(&rule, 5, 2), 0);
    rollout_rule all = {FSM_REASON_NONE, 100, 1, 0};
    assert_int_equal(rollout_rule_fires(&all, 1, 1), 1);
    assert_int_equal(rollout_rule_fires(&all, 0, 0), 0);
}

/* The counters' stored form (batch_rollout.counts) reads back what was written, with the
 * batch-wide sums; anything else is refused. */
static void test_tally_text(void **state)
{
    (void)state;
    rollout_tally t = {0}, back;
    char text[ROLLOUT_TALLY_TEXT_MAX];
    t.size[0] = 4, t.succ[0] = 2, t.fail[0] = 2;
    t.size[1] = 1000000, t.succ[1] = 3, t.fail[1] = 1;
    t.failed_by[FSM_REASON_FLASH_FAILED] = 2;
    t.failed_by[FSM_REASON_ROLLED_BACK] = 1;
    assert_int_equal(rollout_tally_to_text(&t, text, sizeof text), 0);
    assert_int_equal(rollout_tally_from_text(text, &back), 0);
    assert_int_equal(back.size[1], 1000000);
    assert_int_equal(back.succ[1], 3);
    assert_int_equal(back.failed_by[FSM_REASON_FLASH_FAILED], 2);
    assert_int_equal(back.failed_by[FSM_REASON_ROLLED_BACK], 1);
    assert_int_equal(back.finished, 8);
    assert_int_equal(back.failed, 3);
    assert_int_equal(rollout_tally_to_text(&t, text, 20), -1); /* does not fit */
    static const char *const bad[] = {
        "", "{}", "[]",
        "{\"devices\":[1],\"succeeded\":[1],\"failed\":[1],\"failedBy\":{}}",
        "{\"devices\":[0,0,0,0,0,0,0,0,0,-1],\"succeeded\":[0,0,0,0,0,0,0,0,0,0],"
        "\"failed\":[0,0,0,0,0,0,0,0,0,0],\"failedBy\":{}}",
        "{\"devices\":[0,0,0,0,0,0,0,0,0,0],\"succeeded\":[0,0,0,0,0,0,0,0,0,0],"
        "\"failed\":[0,0,0,0,0,0,0,0,0,0],\"failedBy\":{\"nope\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        back.finished = 7;
        assert_int_equal(rollout_tally_from_text(bad[i], &back), -1);
        assert_int_equal(back.finished, 0);
    }
    assert_int_equal(rollout_tally_from_text(NULL, &back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_stored_form),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_share_and_rules),
        cmocka_unit_test(test_tally_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
