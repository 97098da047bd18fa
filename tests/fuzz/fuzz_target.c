/*
 * libFuzzer target for server/core/target: the tag, group and bulk-tag bodies and the
 * target query (tag, group, fromVersions), the device-side texts the store keeps, and the
 * match of a device against a target. Checks, beyond the sanitizers: an accepted body or
 * query gives texts that parse back to their form within their bounds, a refusal names a
 * status and a code, and a tags text always matches itself as a filter.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/target.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_texts(const target_body *b)
{
    target t;
    check(strlen(b->tags) < TARGET_TAGS_TEXT_MAX && strlen(b->groups) < TARGET_GROUPS_TEXT_MAX &&
          strlen(b->versions) < TARGET_VERSIONS_TEXT_MAX);
    check(target_load(&t, b->tags, b->groups, b->versions) == 0);
    check(json_object_size(t.tags) <= TARGET_TAGS_MAX);
    /* a device carrying exactly the filter's tags, in every group, on a listed version */
    const char *names[TARGET_GROUPS_MAX];
    size_t n = json_array_size(t.groups);
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(t.groups, i));
    const char *v = json_array_size(t.versions) ? json_string_value(json_array_get(t.versions, 0))
                                                : "1.0";
    check(target_match(&t, b->tags, names, n, v) == 1);
    target_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    target_body b;
    target_error e;
    if (size < 1)
        return 0;
    /* the first byte picks the parser; the rest is its input */
    int kind = data[0] % 5;
    const char *in = (const char *)data + 1;
    size--;
    int rc;
    if (kind < 4) {
        rc = target_body_parse((target_body_kind)kind, in, size, &b, &e);
    } else {
        /* three NUL-separated query values */
        char *q = malloc(size + 3);
        memcpy(q, in, size);
        q[size] = q[size + 1] = q[size + 2] = '\0';
        const char *tag = q, *group = tag + strlen(tag) + 1;
        const char *vers = group < q + size + 2 ? group + strlen(group) + 1 : "";
        rc = target_query_parse(tag, group, vers, &b, &e);
        free(q);
    }
    if (rc == 0)
        check_texts(&b);
    else
        check((e.status == 400 || e.status == 413 || e.status == 422 || e.status == 500) &&
              e.code && e.message[0]);
    target_body_free(&b);
    return 0;
}
