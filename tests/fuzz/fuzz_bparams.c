/*
 * libFuzzer target for server/core/batchparams: the create-batch body, the largest JSON
 * an API client sends (up to 100,000 identifiers), with its rollout (core/rollout.c).
 * Checks, beyond the sanitizers: an accepted body satisfies every documented bound, its
 * rollout's stored form reads back to the same rollout, and a refusal names a status and
 * code.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/batchparams.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bparams p;
    bparams_error err;
    if (bparams_parse((const char *)data, size, &p, &err) == 0) {
        check(p.validity_days >= BPARAMS_VALIDITY_MIN && p.validity_days <= BPARAMS_VALIDITY_MAX);
        check(p.timeout_minutes >= BPARAMS_TIMEOUT_MIN && p.timeout_minutes <= BPARAMS_TIMEOUT_MAX);
        check(p.retry_times >= 0 && p.retry_times <= BPARAMS_RETRY_TIMES_MAX);
        check(p.retry_times == 0 || (p.retry_interval_minutes >= BPARAMS_RETRY_INTERVAL_MIN &&
                                     p.retry_interval_minutes <= BPARAMS_RETRY_INTERVAL_MAX));
        check(p.scope == BPARAMS_SCOPE_DIRECTED ? p.n_identifiers > 0 : p.n_identifiers == 0);
        for (size_t i = 0; i < p.n_identifiers; i++) {
            size_t len = strlen(p.identifiers[i]);
            check(len >= 1 && len <= OTA_IDENT_MAX);
        }
        for (size_t i = 0; i < p.windows.n; i++) {
            check(p.windows.w[i].start_min >= 0 && p.windows.w[i].start_min < 1440);
            check(p.windows.w[i].duration_min >= 1 && p.windows.w[i].duration_min <= 1440);
        }
        if (p.has_rollout) {
            static char text[ROLLOUT_STORED_MAX];
            static rollout back;
            const rollout *r = &p.rollout;
            int sum = 0;
            check(r->n_phases <= ROLLOUT_MAX_PHASES && r->n_rules <= ROLLOUT_MAX_RULES);
            for (int i = 0; i < r->n_phases; i++) {
                sum += r->phases[i].percent;
                check(r->phases[i].min_success_percent >= 0 &&
                      r->phases[i].min_success_percent <= 100);
                check(!r->phases[i].canary || i == 0);
            }
            check(sum <= 100);
            for (int i = 0; i < r->n_rules; i++)
                check(r->rules[i].threshold_percent >= 1 && r->rules[i].threshold_percent <= 100);
            check(rollout_to_text(r, text, sizeof text) == 0);
            check(rollout_from_text(text, &back) == 0);
            check(memcmp(r, &back, sizeof back) == 0);
            int64_t sizes[ROLLOUT_MAX_PHASES], total = 0;
            rollout_sizes(r, 1000, (int64_t)r->n_canary, sizes);
            for (int i = 0; i < rollout_phase_count(r); i++) {
                check(sizes[i] >= 0);
                total += sizes[i];
            }
            check(total == 1000);
        }
    } else {
        check(err.status == 400 || err.status == 413 || err.status == 422 || err.status == 500);
        check(err.code != NULL && err.message[0] != '\0');
    }
    bparams_free(&p);
    return 0;
}
