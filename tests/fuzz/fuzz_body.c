/*
 * libFuzzer target for the JSON request bodies of the management API as the routes parse
 * them (core/reqparse.c): one object, known fields only, then the route's rules. Byte 0
 * picks the route (product create, device create); the rest is the body. Beyond the
 * sanitizers: an accepted body satisfies the rules it was checked against, and a refusal
 * carries a 4xx status, a code and a message.
 */
#include "core/reqparse.h"
#include "core/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    rq_error e = {0};
    json_t *keep = NULL;
    int rc;
    if (data[0] & 1) {
        rq_device d;
        rc = rq_device_body(body, len, &keep, &d, &e);
        if (rc == 0) {
            check(valid_identifier(d.identifier, NULL, 0) == 0);
            check(valid_device_name(d.name, NULL, 0) == 0);
        }
    } else {
        rq_product p;
        rc = rq_product_body(body, len, &keep, &p, &e);
        if (rc == 0) {
            check(valid_product_name(p.name, NULL, 0) == 0);
            check(!p.description || valid_description(p.description, NULL, 0) == 0);
        }
    }
    if (rc != 0)
        check(e.status >= 400 && e.status < 500 && e.code[0] && e.msg[0]);
    else
        check(e.status == 0);
    json_decref(keep);
    return 0;
}
