/*
 * libFuzzer target for server/core/devmsg: the first code that parses bytes a device
 * sent. Input layout: the first byte picks one of the four device topics (or, for
 * values >= 4, uses the bytes up to the first '\n' as the topic itself); the rest is the
 * payload. Checks, beyond the sanitizers: an accepted message satisfies every documented
 * bound, the reason is one printable line, and the builders accept what the parser
 * accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/devmsg.h"

static const char *const topics[] = {
    "/sys/pk/dev/ota/firmware/upgrade_reply",
    "/sys/pk/dev/ota/progress",
    "/sys/pk/dev/ota/version",
    "/sys/pk/dev/ota/firmware/get",
};

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char topic[OTA_TOPIC_MAX + 64];
    const uint8_t *payload = data + 1;
    size_t len = size - 1;
    if (data[0] < 4) {
        memcpy(topic, topics[data[0]], strlen(topics[data[0]]) + 1);
    } else {
        const uint8_t *nl = memchr(payload, '\n', len);
        size_t tl = nl ? (size_t)(nl - payload) : len;
        if (tl >= sizeof topic)
            tl = sizeof topic - 1;
        memcpy(topic, payload, tl);
        topic[tl] = '\0';
        if (nl) {
            len -= (size_t)(nl - payload) + 1;
            payload = nl + 1;
        } else {
            len = 0;
        }
    }
    /* copy so that reading past len is caught by ASan */
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, payload, len);

    devmsg_msg m;
    char reason[160];
    int rc = devmsg_parse(topic, buf, len, &m, reason, sizeof reason);
    if (rc != OTA_OK) {
        check(rc >= OTA_EVALUE && rc <= OTA_ETOPIC);
        check(reason[0] != '\0');
        for (const char *p = reason; *p; p++)
            check(*p >= 0x20 && *p < 0x7f);
    } else {
        check(len <= OTA_PAYLOAD_MAX);
        size_t n = strlen(m.msg_id);
        check(n >= 1 && n <= OTA_MSGID_MAX);
        check(strlen(m.product_key) >= 1 && strlen(m.identifier) >= 1);
        switch (m.kind) {
        case DEVMSG_PROGRESS:
            check((m.step >= 1 && m.step <= 100) || (m.step >= -4 && m.step <= -1));
            check(strlen(m.desc) <= DEVMSG_DESC_BYTES);
            break;
        case DEVMSG_VERSION:
            check(m.has_version);
            /* fall through */
        case DEVMSG_GET:
            if (m.has_version) {
                n = strlen(m.firmware_version);
                check(n >= 1 && n <= OTA_VERSION_MAX);
            }
            break;
        case DEVMSG_UPGRADE_REPLY:
            break;
        default:
            check(0);
        }
        /* whatever the parser accepted, the builders can echo */
        devmsg_upgrade u = {
            "standard", 1,  m.has_version ? m.firmware_version : "1", "http://x/dl/a/b", "00",
            "11",       "b",  NULL, NULL, NULL};
        char *s = devmsg_build_get_reply(m.msg_id, &u);
        check(s != NULL);
        free(s);
        s = devmsg_build_get_reply_404(m.msg_id, m.has_version ? m.firmware_version : NULL);
        check(s != NULL);
        free(s);
    }
    free(buf);
    return 0;
}
