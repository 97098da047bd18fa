/*
 * libFuzzer target for server/core/ddi: the parsers of what a hawkBit DDI device sends
 * (deployment and cancel feedback, configData) and the action id of a path. The first byte
 * picks the parser, the rest is the body. Checks, beyond the sanitizers: an accepted
 * feedback has a known execution and result, a failure's step names a reason, a progress
 * step is 1..100, and accepted attributes are a JSON object within the documented bounds.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ddi.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > DDI_BODY_MAX + 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    rq_error e;
    memset(&e, 0, sizeof e);
    switch (data[0] % 3) {
    case 0: {
        ddi_feedback f;
        if (ddi_parse_feedback(body, len, &f, &e) == 0) {
            check(f.execution >= DDI_EXEC_CLOSED && f.execution <= DDI_EXEC_DOWNLOADED);
            check(f.finished >= DDI_FIN_NONE && f.finished <= DDI_FIN_FAILURE);
            check(!f.has_id || f.id > 0);
            check(f.finished != DDI_FIN_FAILURE || (f.fail_step >= -4 && f.fail_step <= -1));
            check(f.hint_step >= -4 && f.hint_step <= 0);
            int p = ddi_progress_step(&f);
            check(p >= 1 && p <= 100);
        } else {
            check(e.status == 400 && e.code[0]);
        }
        break;
    }
    case 1: {
        char *json = NULL;
        if (ddi_parse_config(body, len, &json, &e) == 0) {
            check(json && strlen(json) <= DDI_ATTR_JSON_MAX);
            json_t *o = json_loads(json, 0, NULL);
            check(json_is_object(o) && json_object_size(o) <= DDI_ATTR_MAX_KEYS);
            json_decref(o);
            free(json);
        } else {
            check(!json && e.status == 400);
        }
        break;
    }
    default: {
        char s[32];
        int64_t a, b;
        int at;
        size_t n = len < sizeof s - 1 ? len : sizeof s - 1;
        memcpy(s, body, n);
        s[n] = '\0';
        if (ddi_action_parse(s, &a) == 0) {
            check(a > 0);
            if (ddi_action_split(a, &b, &at) == 0)
                check(ddi_action_id(b, at) == a);
        }
        break;
    }
    }
    return 0;
}
