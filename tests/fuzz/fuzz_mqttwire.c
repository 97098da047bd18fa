/*
 * libFuzzer target for tools/ota-fleet/mqttwire.c: the MQTT packet reader of the measuring
 * tools (ota-fleet-responder, ota-bench mqtt-ceiling) takes whatever the broker sends.
 * Checks, beyond the sanitizers: every packet handed out lies inside the input, a PUBLISH's
 * parts lie inside its packet, and the reader always consumes or stops.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttwire.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mw_buf b = {0};
    if (size) {
        b.p = malloc(size);
        if (!b.p)
            return 0;
        memcpy(b.p, data, size);
    }
    b.len = b.cap = size;
    mw_packet pk;
    int rc;
    size_t before = b.off;
    while ((rc = mw_next(&b, &pk)) == 1) {
        check(b.off > before && b.off <= b.len);
        check(pk.body >= b.p && pk.body + pk.len <= b.p + b.len);
        before = b.off;
        if (pk.type == MW_PUBLISH) {
            const char *t;
            const uint8_t *pl;
            size_t tl, pll;
            uint16_t mid;
            if (mw_publish_parts(&pk, &t, &tl, &mid, &pl, &pll) == 0) {
                check((const uint8_t *)t >= pk.body && (const uint8_t *)t + tl <= pk.body + pk.len);
                check(pl >= pk.body && pl + pll == pk.body + pk.len);
            }
        } else {
            (void)mw_ack_mid(&pk);
        }
    }
    check(rc == 0 || rc == -1);
    free(b.p);
    return 0;
}
