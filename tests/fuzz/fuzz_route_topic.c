/*
 * libFuzzer target for the partition topics (docs/broker.md, "Partition topics"): the
 * broker plugin's reading of a device's publish topic (auth_upstream_identifier, on every
 * device message) and the writing of its partition topic (auth_route_topic), then otad's
 * reading of that topic back (mqttc_unroute, mqttc_parse_topic). Checks, beyond the
 * sanitizers: an accepted topic names a valid identifier that is its own, the partition
 * topic fits OTA_PART_TOPIC_MAX, and otad reads back the same partition and device topic.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqttc_proto.h"
#include "ota_auth_rules.h"
#include "ota_crypto.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char topic[512], id[OTA_IDENT_MAX + 1], routed[OTA_PART_TOPIC_MAX + 1];
    char pk2[OTA_PRODUCT_KEY_MAX + 1], id2[OTA_IDENT_MAX + 1];
    const char *suffix;
    int part = -1;
    if (size >= sizeof topic)
        size = sizeof topic - 1;
    memcpy(topic, data, size);
    topic[size] = '\0';
    /* otad reads any topic the broker hands it */
    const char *rest = mqttc_unroute(topic, &part);
    check(rest == NULL || (part >= -1 && part < OTA_PARTS_N));
    if (auth_upstream_identifier(topic, id) != 0)
        return 0;
    check(auth_name_ok(id, OTA_IDENT_MAX));
    int p = ota_part_of(id);
    check(p >= 0 && p < OTA_PARTS_N);
    int n = auth_route_topic(topic, p, routed, sizeof routed);
    check(n > 0 && (size_t)n == strlen(routed));
    rest = mqttc_unroute(routed, &part);
    check(rest != NULL && part == p && strcmp(rest, topic) == 0);
    check(mqttc_parse_topic(rest, pk2, id2, &suffix) == 0 && strcmp(id2, id) == 0);
    return 0;
}
