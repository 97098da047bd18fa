/*
 * libFuzzer target for the webhook bodies (core/webhook.c's hook_fields_parse, the body of
 * POST and PATCH /api/v1/webhooks). Byte 0 picks create (odd) or PATCH; the rest is the
 * body. Beyond the sanitizers: an accepted body satisfies every field's rule (the URL and
 * the secret pass their checks, the events are a stored list whose names are known,
 * grouping in range) and a create has its required fields; a refusal carries a 4xx
 * status, a code and the field at fault.
 */
#include "core/webhook.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

static void known(void *ud, const char *name)
{
    (void)ud;
    check(strcmp(name, "*") == 0 || hook_event_parse(name) >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int create = data[0] & 1;
    rq_error e = {0};
    hook_fields f;
    char why[160];
    if (hook_fields_parse((const char *)data + 1, size - 1, create, &f, &e) == 0) {
        check(e.status == 0);
        check(!create || (f.has_url && f.has_secret && f.has_events));
        check(!f.has_url || hook_url_check(f.url, why, sizeof why) == 0);
        check(!f.has_secret || hook_secret_check(f.secret) == 0);
        check(!f.has_events || f.events[0] != '\0');
        hook_events_each(f.events, known, NULL);
        check(f.group_max >= 1 && f.group_max <= HOOK_GROUP_MAX_EVENTS);
        check(f.group_seconds >= 0 && f.group_seconds <= HOOK_GROUP_MAX_SECONDS);
    } else {
        check(e.status >= 400 && e.status < 500);
        check(e.code[0] != '\0' && e.msg[0] != '\0');
    }
    return 0;
}
