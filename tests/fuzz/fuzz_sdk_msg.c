/*
 * libFuzzer target for the device SDK's message handling: what a device receives from the
 * network (ota/firmware/upgrade pushes and ota/firmware/get_reply answers). The first byte
 * picks the topic; the rest is the payload. Each input goes through otasdk_on_message and
 * then otasdk_process with fake interfaces (an HTTP port that always answers an error, a
 * flash that holds nothing), so parsing, acking, job queueing and the failure path all run
 * under the sanitizers. Checks: every ack the SDK publishes is valid JSON with a msgId.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otasdk/otasdk.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static int f_publish(void *u, const char *topic, const void *payload, size_t len)
{
    (void)u;
    check(topic && strncmp(topic, "/sys/pk/dev/", 12) == 0);
    json_t *j = json_loadb(payload, len, 0, NULL);
    check(j && json_is_string(json_object_get(j, "msgId")));
    json_decref(j);
    return 0;
}
static int f_subscribe(void *u, const char *t)
{
    (void)u;
    (void)t;
    return 0;
}
static int f_get(void *u, const char *url, uint64_t from, otasdk_http_sink sink, void *arg)
{
    (void)u;
    (void)url;
    (void)from;
    (void)sink;
    (void)arg;
    return OTASDK_ERR_HTTP;
}
static int f_open(void *u, const otasdk_job *j, uint64_t *have)
{
    (void)u;
    (void)j;
    *have = 0;
    return 0;
}
static int f_write(void *u, uint64_t o, const void *d, size_t l)
{
    (void)u;
    (void)o;
    (void)d;
    (void)l;
    return 0;
}
static int f_close(void *u)
{
    (void)u;
    return 0;
}
static int f_final(void *u, const otasdk_job *j)
{
    (void)u;
    (void)j;
    return 0;
}
static int f_dbegin(void *u, otasdk_digest_alg a, void **s)
{
    (void)u;
    (void)a;
    *s = malloc(1);
    return *s ? 0 : -1;
}
static int f_dupdate(void *u, void *s, const void *d, size_t l)
{
    (void)u;
    (void)s;
    (void)d;
    (void)l;
    return 0;
}
static int f_dfinish(void *u, void *s, unsigned char *out, size_t outlen)
{
    (void)u;
    free(s);
    memset(out, 0, outlen);
    return 0;
}
static void f_dfree(void *u, void *s)
{
    (void)u;
    free(s);
}
static uint64_t f_now(void *u)
{
    (void)u;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const topics[] = {"/sys/pk/dev/ota/firmware/upgrade",
                                         "/sys/pk/dev/ota/firmware/get_reply",
                                         "/sys/pk/other/ota/firmware/upgrade", "/sys/pk/dev/x"};
    otasdk_config cfg = {
        .product_key = "pk",
        .identifier = "dev",
        .firmware_version = "1.0.0",
        .mqtt = {NULL, f_publish, f_subscribe, 0},
        .http = {NULL, f_get},
        .flash = {NULL, f_open, f_write, NULL, f_close, f_final, f_close},
        .digest = {NULL, f_dbegin, f_dupdate, f_dfinish, f_dfree},
        .sys = {.now_ms = f_now},
    };
    otasdk_ctx *ctx = NULL;
    if (size < 1)
        return 0;
    check(otasdk_create(&cfg, &ctx) == OTASDK_OK);
    otasdk_on_message(ctx, topics[data[0] & 3], data + 1, size - 1);
    for (int i = 0; i < 4 && otasdk_pending(ctx); i++)
        otasdk_process(ctx);
    otasdk_destroy(ctx);
    return 0;
}
