/*
 * libFuzzer target for server/core/batchparams: the create-batch body, the largest JSON
 * an API client sends (up to 100,000 identifiers). Checks, beyond the sanitizers: an
 * accepted body satisfies every documented bound, and a refusal names a status and code.
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
    } else {
        check(err.status == 400 || err.status == 413 || err.status == 422 || err.status == 500);
        check(err.code != NULL && err.message[0] != '\0');
    }
    bparams_free(&p);
    return 0;
}
