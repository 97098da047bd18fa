/*
 * libFuzzer target for server/mqtt/rmq_presence.c's parser of the RabbitMQ management API's
 * /api/connections answer (rmqp_parse): otad reads it from the broker every poll. Checks,
 * beyond the sanitizers: every client id it returns is a device name, the list is sorted
 * without repeats, and a body that is not a JSON array gives -1 and no list.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/rmq_presence.h"
#include "ota_auth_rules.h"
#include "otaproto/ota_protocol.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char **list = NULL;
    size_t n = 0;
    char pk[OTA_PRODUCT_KEY_MAX + 1], id[OTA_IDENT_MAX + 1];
    if (rmqp_parse((const char *)data, size, &list, &n) != 0) {
        check(list == NULL && n == 0);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        check(auth_split_device(list[i], pk, id) == 0);
        if (i > 0)
            check(strcmp(list[i - 1], list[i]) < 0);
    }
    rmqp_free_list(list, n);
    return 0;
}
