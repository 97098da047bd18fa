/*
 * test_sdk: the device SDK's core against a fake world: a fake MQTT transport that records
 * what is published, a fake HTTP server over an in-memory image (cuts, wrong ranges,
 * errors, corruption), a fake flash that keeps its staged bytes across SDK contexts (so a
 * "restart" can resume), OpenSSL digests with failure injection, and a failing allocator
 * for jansson. Every progress step code, the silent policy, resume after a cut at a random
 * byte, MD5 and SHA-256 mismatch, flash failure, out-of-memory and short-buffer paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otasdk/otasdk.h"

#define IMG_MAX (256 * 1024)
#define MAX_PUB 256

typedef struct {
    char topic[160];
    char payload[800];
    json_t *json;
} pub_t;

static struct {
    /* image served */
    unsigned char img[IMG_MAX];
    size_t img_len;
    char md5[33], sha[65];
    /* mqtt */
    pub_t pub[MAX_PUB];
    int npub;
    char subs[4][160];
    int nsubs;
    int fail_publish;
    /* http */
    size_t chunk;
    long cut_at[8]; /* break the connection once the stream reaches this byte; -1 none */
    int ncut;
    int ignore_range; /* answer 200 from byte 0 */
    int http_error;   /* return OTASDK_ERR_HTTP */
    int always_net;   /* every GET fails at once */
    long flip_byte;   /* corrupt this byte on the wire; -1 none */
    size_t serve_len; /* bytes the server has (default img_len) */
    uint64_t froms[64];
    int nget;
    long stop_at; /* call otasdk_stop when the stream reaches this byte; -1 none */
    int dup_push; /* during the download, the platform pushes the same job again */
    otasdk_ctx *ctx;
    /* flash */
    unsigned char flash[IMG_MAX + 1024];
    uint64_t staged; /* bytes durably staged (survives contexts) */
    char staged_md5[33];
    int opened, finalized, discarded, closed;
    int fail_open, fail_finalize, fail_write_after;
    int nwrite;
    /* digest */
    int fail_digest_begin;
    /* sys */
    uint64_t now;
    uint32_t slept[32];
    int nsleep;
    int fail_alloc;
    /* app */
    otasdk_event_type ev[64];
    int evstep[64];
    int nev;
    int install_rc;
    const char *install_version; /* NULL: the job's */
    int ninstall;
} W;

/* ---- helpers ---- */

static void hexs(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void make_image(size_t len, unsigned seed)
{
    unsigned char md[32];
    unsigned int n;
    srand(seed);
    W.img_len = len;
    for (size_t i = 0; i < len; i++)
        W.img[i] = (unsigned char)(rand() & 0xff);
    EVP_Digest(W.img, len, md, &n, EVP_md5(), NULL);
    hexs(md, 16, W.md5);
    EVP_Digest(W.img, len, md, &n, EVP_sha256(), NULL);
    hexs(md, 32, W.sha);
}

static void record_pub(const char *topic, const void *payload, size_t len)
{
    pub_t *p = &W.pub[W.npub++];
    assert_true(W.npub < MAX_PUB);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    assert_true(len < sizeof p->payload);
    memcpy(p->payload, payload, len);
    p->payload[len] = '\0';
    p->json = json_loads(p->payload, 0, NULL);
    assert_non_null(p->json);
}

/* The n-th publish whose topic ends with suffix, or NULL. */
static pub_t *find_pub(const char *suffix, int nth)
{
    size_t sl = strlen(suffix);
    for (int i = 0; i < W.npub; i++) {
        size_t tl = strlen(W.pub[i].topic);
        if (tl >= sl && strcmp(W.pub[i].topic + tl - sl, suffix) == 0 && nth-- == 0)
            return &W.pub[i];
    }
    return NULL;
}

static int count_pub(const char *suffix)
{
    int n = 0;
    while (find_pub(suffix, n))
        n++;
    return n;
}

/* Steps reported on ota/progress, in order, into steps; returns their count. */
static int progress_steps(int *steps, int max)
{
    int n = 0;
    pub_t *p;
    while (n < max && (p = find_pub("ota/progress", n)) != NULL) {
        steps[n] =
            (int)json_integer_value(json_object_get(json_object_get(p->json, "data"), "step"));
        n++;
    }
    return n;
}

static int last_step(void)
{
    int s[128];
    int n = progress_steps(s, 128);
    return n ? s[n - 1] : 0;
}

static int count_ev(otasdk_event_type t)
{
    int n = 0;
    for (int i = 0; i < W.nev; i++)
        n += W.ev[i] == t;
    return n;
}

/* ---- fakes ---- */

static int push(otasdk_ctx *ctx, const char *msg_id, const char *policy, const char *version,
                const char *md5, const char *sha);

static int f_publish(void *u, const char *topic, const void *payload, size_t len)
{
    (void)u;
    if (W.fail_publish)
        return -1;
    record_pub(topic, payload, len);
    return 0;
}

static int f_subscribe(void *u, const char *topic)
{
    (void)u;
    if (W.fail_publish)
        return -1;
    snprintf(W.subs[W.nsubs++ % 4], sizeof W.subs[0], "%s", topic);
    return 0;
}

static int f_get(void *u, const char *url, uint64_t from, otasdk_http_sink sink, void *arg)
{
    size_t pos, have = W.serve_len ? W.serve_len : W.img_len;
    unsigned char buf[4096];
    (void)u;
    assert_non_null(strstr(url, "http://fw.example/"));
    W.froms[W.nget++ % 64] = from;
    if (W.always_net)
        return OTASDK_ERR_NET;
    if (W.http_error)
        return OTASDK_ERR_HTTP;
    pos = W.ignore_range ? 0 : (size_t)from;
    while (pos < have) {
        size_t n = W.chunk ? W.chunk : 1000;
        if (n > have - pos)
            n = have - pos;
        for (int i = 0; i < W.ncut; i++)
            if (W.cut_at[i] > (long)pos && W.cut_at[i] < (long)(pos + n))
                n = (size_t)W.cut_at[i] - pos;
        for (int i = 0; i < W.ncut; i++)
            if (W.cut_at[i] == (long)pos) {
                W.cut_at[i] = -1; /* each cut happens once */
                return OTASDK_ERR_NET;
            }
        if (W.dup_push && pos > 0) {
            W.dup_push = 0;
            assert_int_equal(push(W.ctx, "again", "standard", "2.0", NULL, NULL), OTASDK_OK);
        }
        if (W.stop_at >= 0 && (long)pos >= W.stop_at) {
            W.stop_at = -1;
            otasdk_stop(W.ctx);
            if (sink(arg, pos, NULL, 0) != 0)
                return OTASDK_ERR_ABORTED;
        }
        memcpy(buf, W.img + pos, n);
        if (W.flip_byte >= (long)pos && W.flip_byte < (long)(pos + n))
            buf[W.flip_byte - (long)pos] ^= 0x5a;
        if (sink(arg, pos, buf, n) != 0)
            return OTASDK_ERR_ABORTED;
        pos += n;
    }
    return OTASDK_OK;
}

static int f_open(void *u, const otasdk_job *job, uint64_t *have)
{
    (void)u;
    W.opened++;
    if (W.fail_open)
        return -1;
    *have = strcmp(W.staged_md5, job->md5) == 0 ? W.staged : 0;
    if (*have == 0)
        W.staged = 0;
    snprintf(W.staged_md5, sizeof W.staged_md5, "%s", job->md5);
    return 0;
}

static int f_write(void *u, uint64_t off, const void *d, size_t len)
{
    (void)u;
    W.nwrite++;
    if (W.fail_write_after && W.nwrite > W.fail_write_after)
        return -1;
    assert_true(off + len <= sizeof W.flash);
    memcpy(W.flash + off, d, len);
    W.staged = off + len;
    return 0;
}

static int f_read(void *u, uint64_t off, void *buf, size_t len)
{
    (void)u;
    assert_true(off + len <= W.staged);
    memcpy(buf, W.flash + off, len);
    return 0;
}

static int f_close(void *u)
{
    (void)u;
    W.closed++;
    return 0;
}

static int f_finalize(void *u, const otasdk_job *job)
{
    (void)u;
    if (W.fail_finalize)
        return -1;
    assert_int_equal(W.staged, job->size);
    W.finalized++;
    W.staged = 0;
    W.staged_md5[0] = '\0';
    return 0;
}

static int f_discard(void *u)
{
    (void)u;
    W.discarded++;
    W.staged = 0;
    W.staged_md5[0] = '\0';
    return 0;
}

static int d_begin(void *u, otasdk_digest_alg alg, void **state)
{
    EVP_MD_CTX *m;
    (void)u;
    if (W.fail_digest_begin)
        return -1;
    m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, alg == OTASDK_MD5 ? EVP_md5() : EVP_sha256(), NULL);
    *state = m;
    return 0;
}

static int d_update(void *u, void *s, const void *d, size_t len)
{
    (void)u;
    return EVP_DigestUpdate(s, d, len) == 1 ? 0 : -1;
}

static int d_finish(void *u, void *s, unsigned char *out, size_t outlen)
{
    unsigned char md[64];
    unsigned int n;
    (void)u;
    EVP_DigestFinal_ex(s, md, &n);
    EVP_MD_CTX_free(s);
    assert_true(n <= outlen);
    memcpy(out, md, n);
    return 0;
}

static void d_free(void *u, void *s)
{
    (void)u;
    EVP_MD_CTX_free(s);
}

static uint64_t s_now(void *u)
{
    (void)u;
    return W.now += 7;
}

static void s_sleep(void *u, uint32_t ms)
{
    (void)u;
    W.slept[W.nsleep++ % 32] = ms;
}

static void *s_alloc(void *u, size_t n)
{
    (void)u;
    return W.fail_alloc ? NULL : malloc(n);
}

static void s_free(void *u, void *p)
{
    (void)u;
    free(p);
}

static int g_start_from_event; /* the application starts silent jobs from its event */

static void a_event(void *u, const otasdk_event *ev)
{
    (void)u;
    if (g_start_from_event && ev->type == OTASDK_EV_JOB_OFFERED)
        assert_int_equal(otasdk_upgrade_start(W.ctx), OTASDK_OK);
    W.evstep[W.nev % 64] = ev->step;
    W.ev[W.nev++ % 64] = ev->type;
}

static int a_install(void *u, const otasdk_job *job, char *out, size_t cap)
{
    (void)u;
    W.ninstall++;
    snprintf(out, cap, "%s", W.install_version ? W.install_version : job->version);
    return W.install_rc;
}

static void a_log(void *u, otasdk_log_level l, const char *line)
{
    (void)u;
    (void)l;
    assert_non_null(line);
    if (getenv("SDK_TEST_LOG"))
        fprintf(stderr, "  sdk: %s\n", line);
}

/* jansson allocator that can be told to fail */
static int g_json_fail;
static void *j_malloc(size_t n)
{
    return g_json_fail ? NULL : malloc(n);
}

static otasdk_config base_cfg(void)
{
    otasdk_config c;
    memset(&c, 0, sizeof c);
    c.product_key = "pk1";
    c.identifier = "dev-1";
    c.firmware_version = "1.0.0";
    c.mqtt.publish = f_publish;
    c.mqtt.subscribe = f_subscribe;
    c.http.get = f_get;
    c.flash.open = f_open;
    c.flash.write = f_write;
    c.flash.read = f_read;
    c.flash.close = f_close;
    c.flash.finalize = f_finalize;
    c.flash.discard = f_discard;
    c.digest.begin = d_begin;
    c.digest.update = d_update;
    c.digest.finish = d_finish;
    c.digest.free = d_free;
    c.sys.now_ms = s_now;
    c.sys.sleep_ms = s_sleep;
    c.sys.alloc = s_alloc;
    c.sys.free = s_free;
    c.app.on_log = a_log;
    c.app.on_event = a_event;
    c.app.install = a_install;
    c.progress_every = 10;
    c.work_buf_size = 1024;
    return c;
}

static void reset_world(void)
{
    for (int i = 0; i < W.npub; i++)
        json_decref(W.pub[i].json);
    memset(&W, 0, sizeof W);
    W.flip_byte = -1;
    W.stop_at = -1;
    make_image(50000, 1);
}

static int setup(void **state)
{
    (void)state;
    reset_world();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < W.npub; i++)
        json_decref(W.pub[i].json);
    W.npub = 0;
    g_json_fail = 0;
    return 0;
}

static otasdk_ctx *new_ctx(void)
{
    otasdk_config c = base_cfg();
    otasdk_ctx *ctx = NULL;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_OK);
    W.ctx = ctx;
    return ctx;
}

/* A push payload; policy "standard"/"silent"; md5/sha NULL: the right ones. */
static int push(otasdk_ctx *ctx, const char *msg_id, const char *policy, const char *version,
                const char *md5, const char *sha)
{
    char buf[1024];
    int n =
        snprintf(buf, sizeof buf,
                 "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"policy\":\"%s\",\"size\":%zu,"
                 "\"firmwareVersion\":\"%s\",\"url\":\"http://fw.example/dl/1\",\"sign\":\"%s\","
                 "\"signMethod\":\"Md5\",\"sha256\":\"%s\",\"batchId\":\"b1\"}}",
                 msg_id, policy, W.img_len, version, md5 ? md5 : W.md5, sha ? sha : W.sha);
    return otasdk_on_message(ctx, "/sys/pk1/dev-1/ota/firmware/upgrade", buf, (size_t)n);
}

static void assert_ack(const char *msg_id, int code)
{
    for (int i = 0; find_pub("ota/firmware/upgrade_reply", i); i++) {
        pub_t *p = find_pub("ota/firmware/upgrade_reply", i);
        if (strcmp(json_string_value(json_object_get(p->json, "msgId")), msg_id) == 0) {
            assert_int_equal(json_integer_value(json_object_get(p->json, "code")), code);
            assert_string_equal(json_string_value(json_object_get(p->json, "version")), "1.0");
            return;
        }
    }
    fail_msg("no ack for %s", msg_id);
}

static const char *last_version_reported(void)
{
    int n = count_pub("ota/version");
    pub_t *p = n ? find_pub("ota/version", n - 1) : NULL;
    return p ? json_string_value(
                   json_object_get(json_object_get(p->json, "data"), "firmwareVersion"))
             : NULL;
}

/* ---- tests ---- */

static void test_errors_and_create(void **state)
{
    otasdk_config c = base_cfg();
    otasdk_ctx *ctx = (otasdk_ctx *)&c;
    (void)state;
    assert_string_equal(otasdk_errname(OTASDK_ERR_VERIFY), "OTASDK_ERR_VERIFY");
    assert_string_equal(otasdk_strerror(OTASDK_OK), "success");
    assert_string_equal(otasdk_strerror(12345), "unknown error");
    assert_string_equal(otasdk_errname(-999), "OTASDK_ERR_UNKNOWN");
    assert_int_equal(otasdk_create(NULL, &ctx), OTASDK_ERR_ARG);
    assert_null(ctx);
    assert_int_equal(otasdk_create(&c, NULL), OTASDK_ERR_ARG);
    c.http.get = NULL;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c = base_cfg();
    c.product_key = "";
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c = base_cfg();
    c.identifier = "a/b";
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c = base_cfg();
    c.firmware_version = "1.0 beta"; /* the platform refuses spaces */
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c = base_cfg();
    c.work_buf_size = 16;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c = base_cfg();
    c.sys.free = NULL; /* alloc without free */
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c = base_cfg();
    W.fail_alloc = 1;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_NOMEM);
    assert_null(ctx);
    W.fail_alloc = 0;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_OK);
    otasdk_destroy(ctx);
    otasdk_destroy(NULL);
    assert_int_equal(otasdk_set_json_allocator(NULL, free), OTASDK_ERR_ARG);
}

static void test_topic_short_buffer(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    char buf[64];
    (void)state;
    assert_int_equal(otasdk_topic(ctx, "ota/progress", buf, sizeof buf), OTASDK_OK);
    assert_string_equal(buf, "/sys/pk1/dev-1/ota/progress");
    assert_int_equal(otasdk_topic(ctx, "ota/progress", buf, 10), OTASDK_ERR_SHORT_BUFFER);
    assert_string_equal(buf, "");
    assert_int_equal(otasdk_topic(ctx, "ota/progress", buf, strlen("/sys/pk1/dev-1/ota/progress")),
                     OTASDK_ERR_SHORT_BUFFER);
    assert_int_equal(otasdk_topic(ctx, NULL, buf, sizeof buf), OTASDK_ERR_ARG);
    otasdk_destroy(ctx);
}

static void test_connect_sequence(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    pub_t *v, *g;
    (void)state;
    assert_int_equal(otasdk_on_connected(ctx), OTASDK_OK);
    assert_int_equal(W.nsubs, 2);
    assert_string_equal(W.subs[0], "/sys/pk1/dev-1/ota/firmware/upgrade");
    assert_string_equal(W.subs[1], "/sys/pk1/dev-1/ota/firmware/get_reply");
    assert_int_equal(W.npub, 2);
    v = &W.pub[0];
    g = &W.pub[1];
    assert_string_equal(v->topic, "/sys/pk1/dev-1/ota/version");
    assert_string_equal(json_string_value(json_object_get(v->json, "version")), "1.0");
    assert_string_equal(last_version_reported(), "1.0.0");
    assert_string_equal(g->topic, "/sys/pk1/dev-1/ota/firmware/get");
    assert_true(json_is_object(json_object_get(g->json, "data")));
    assert_int_equal(json_object_size(json_object_get(g->json, "data")), 0);
    /* msgIds are unique */
    assert_string_not_equal(json_string_value(json_object_get(v->json, "msgId")),
                            json_string_value(json_object_get(g->json, "msgId")));
    W.fail_publish = 1;
    assert_int_equal(otasdk_on_connected(ctx), OTASDK_ERR_MQTT);
    otasdk_destroy(ctx);
}

static void test_standard_success(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    int steps[64], n;
    (void)state;
    assert_int_equal(push(ctx, "m1", "standard", "2.0.0", NULL, NULL), OTASDK_OK);
    /* acked at once, before any processing */
    assert_int_equal(W.npub, 1);
    assert_ack("m1", 200);
    assert_true(otasdk_pending(ctx));
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_false(otasdk_pending(ctx));
    assert_int_equal(W.finalized, 1);
    assert_memory_equal(W.flash, W.img, W.img_len);
    n = progress_steps(steps, 64);
    assert_true(n >= 3);
    assert_int_equal(steps[0], 1);
    for (int i = 1; i < n; i++)
        assert_true(steps[i] > steps[i - 1]);
    assert_int_equal(steps[n - 1], 100);
    assert_string_equal(last_version_reported(), "2.0.0");
    assert_int_equal(count_ev(OTASDK_EV_SUCCEEDED), 1);
    assert_int_equal(count_ev(OTASDK_EV_FAILED), 0);
    assert_int_equal(W.nget, 1);
    assert_int_equal(W.froms[0], 0);
    /* the same job again: already running, only the version is reported */
    teardown(NULL);
    assert_int_equal(push(ctx, "m2", "standard", "2.0.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.nget, 1);
    assert_string_equal(last_version_reported(), "2.0.0");
    otasdk_destroy(ctx);
}

static void test_silent_policy(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    otasdk_job job;
    (void)state;
    assert_int_equal(otasdk_upgrade_start(ctx), OTASDK_ERR_STATE);
    assert_int_equal(otasdk_job_get(ctx, &job), OTASDK_ERR_STATE);
    assert_int_equal(push(ctx, "s1", "silent", "3.0", NULL, NULL), OTASDK_OK);
    assert_ack("s1", 200);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(count_ev(OTASDK_EV_JOB_OFFERED), 1);
    assert_int_equal(W.nget, 0);
    assert_int_equal(count_pub("ota/progress"), 0);
    assert_int_equal(otasdk_job_get(ctx, &job), OTASDK_OK);
    assert_string_equal(job.version, "3.0");
    assert_int_equal(job.policy, OTASDK_POLICY_SILENT);
    assert_string_equal(job.batch_id, "b1");
    /* nothing happens until the application decides */
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.nget, 0);
    assert_int_equal(otasdk_upgrade_start(ctx), OTASDK_OK);
    assert_int_equal(otasdk_upgrade_start(ctx), OTASDK_ERR_STATE); /* already requested */
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.finalized, 1);
    assert_string_equal(last_version_reported(), "3.0");
    assert_int_equal(otasdk_job_get(ctx, &job), OTASDK_ERR_STATE);

    /* decline */
    make_image(2000, 9);
    assert_int_equal(push(ctx, "s2", "silent", "4.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(otasdk_upgrade_decline(ctx), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(otasdk_upgrade_start(ctx), OTASDK_ERR_STATE);
    assert_int_equal(W.finalized, 1);
    assert_int_equal(W.nget, 1);
    /* and asks again later */
    assert_int_equal(otasdk_fetch(ctx), OTASDK_OK);
    assert_non_null(find_pub("ota/firmware/get", 0));
    otasdk_destroy(ctx);
}

static void test_resume_after_random_cuts(void **state)
{
    (void)state;
    srand(0x5eed);
    for (int round = 0; round < 20; round++) {
        unsigned seed = (unsigned)rand();
        long cut;
        otasdk_ctx *ctx;
        reset_world();
        make_image(20000 + (size_t)(seed % 30000), seed);
        cut = 1 + (long)(seed % (W.img_len - 1));
        W.cut_at[0] = cut;
        W.ncut = 1;
        W.chunk = 1 + seed % 3000;
        ctx = new_ctx();
        assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
        assert_int_equal(otasdk_process(ctx), OTASDK_OK);
        assert_int_equal(W.nget, 2);
        assert_int_equal(W.froms[0], 0);
        assert_int_equal(W.froms[1], (uint64_t)cut); /* resumed from the last good byte */
        assert_int_equal(W.finalized, 1);
        assert_memory_equal(W.flash, W.img, W.img_len);
        assert_string_equal(last_version_reported(), "2.0");
        assert_int_equal(W.nsleep, 0); /* progress was made: no backoff */
        otasdk_destroy(ctx);
        teardown(NULL);
    }
}

static void test_resume_after_restart(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.stop_at = 23000;
    assert_int_equal(push(ctx, "m1", "standard", "2.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(count_ev(OTASDK_EV_STOPPED), 1);
    assert_int_equal(W.finalized, 0);
    assert_int_equal(W.closed, 1);
    assert_int_equal(W.staged, 23000);
    assert_true(last_step() > 0); /* a stop is not reported as a failure */
    otasdk_destroy(ctx);

    /* "restart": a new context, the platform pushes (or get_reply brings) the job again */
    ctx = new_ctx();
    W.nget = 0;
    assert_int_equal(
        otasdk_on_message(ctx, "/sys/pk1/dev-1/ota/firmware/get_reply",
                          "{\"msgId\":\"g1\",\"code\":200,\"version\":\"1.0\",\"data\":{}}", 54),
        OTASDK_ERR_PARSE);
    assert_int_equal(push(ctx, "m2", "standard", "2.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.nget, 1);
    assert_int_equal(W.froms[0], 23000);
    assert_int_equal(W.finalized, 1);
    assert_memory_equal(W.flash, W.img, W.img_len);
    assert_string_equal(last_version_reported(), "2.0");
    otasdk_destroy(ctx);
}

static void expect_failure(otasdk_ctx *ctx, int want_rc, int want_step)
{
    assert_int_equal(otasdk_process(ctx), want_rc);
    assert_int_equal(last_step(), want_step);
    assert_int_equal(W.finalized, want_rc == OTASDK_ERR_INSTALL); /* install follows finalize */
    assert_int_equal(count_ev(OTASDK_EV_FAILED), 1);
    assert_string_equal(last_version_reported() ? last_version_reported() : "none", "none");
}

static void test_md5_mismatch(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    assert_int_equal(push(ctx, "m", "standard", "2.0", "00112233445566778899aabbccddeeff", NULL),
                     OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED);
    assert_int_equal(W.discarded, 1);
    otasdk_destroy(ctx);
}

static void test_sha256_mismatch(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    char bad[65];
    (void)state;
    memset(bad, 'a', 64);
    bad[64] = '\0';
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, bad), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED);
    assert_int_equal(W.discarded, 1);
    otasdk_destroy(ctx);
}

static void test_corrupted_on_the_wire(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.flip_byte = 31337;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED);
    otasdk_destroy(ctx);
}

static void test_size_mismatch(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    char buf[1024];
    int n;
    (void)state;
    W.serve_len = W.img_len - 100; /* the server has less than announced */
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED);
    otasdk_destroy(ctx);

    reset_world();
    ctx = new_ctx();
    /* announced smaller than served: more bytes than size */
    n = snprintf(
        buf, sizeof buf,
        "{\"msgId\":\"x\",\"version\":\"1.0\",\"data\":{\"size\":1000,\"firmwareVersion\":\"2\","
        "\"url\":\"http://fw.example/a\",\"sign\":\"%s\",\"signMethod\":\"Md5\"}}",
        W.md5);
    assert_int_equal(otasdk_on_message(ctx, "/sys/pk1/dev-1/ota/firmware/upgrade", buf, (size_t)n),
                     OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED);
    otasdk_destroy(ctx);
}

static void test_flash_failures(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.fail_write_after = 10;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_FLASH, OTASDK_STEP_FLASH_FAILED);
    assert_int_equal(W.discarded, 1);
    otasdk_destroy(ctx);

    reset_world();
    ctx = new_ctx();
    W.fail_open = 1;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_FLASH, OTASDK_STEP_FLASH_FAILED);
    assert_int_equal(W.nget, 0);
    otasdk_destroy(ctx);

    reset_world();
    ctx = new_ctx();
    W.fail_finalize = 1;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_FLASH, OTASDK_STEP_FLASH_FAILED);
    assert_int_equal(W.ninstall, 0);
    otasdk_destroy(ctx);
}

static void test_install_failures(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.install_rc = OTASDK_ERR_INSTALL;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_INSTALL, OTASDK_STEP_FLASH_FAILED);
    assert_int_equal(W.ninstall, 1);
    otasdk_destroy(ctx);

    reset_world();
    ctx = new_ctx();
    W.install_version = "1.0.0"; /* the hook "succeeded" but the old version still runs */
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_INSTALL, OTASDK_STEP_FLASH_FAILED);
    otasdk_destroy(ctx);
}

static void test_download_failures(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.http_error = 1;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_HTTP, OTASDK_STEP_DOWNLOAD_FAILED);
    assert_int_equal(W.nget, 1);      /* an HTTP error is not retried */
    assert_int_equal(W.discarded, 0); /* staged bytes are kept for a later attempt */
    otasdk_destroy(ctx);

    reset_world();
    ctx = new_ctx();
    W.always_net = 1;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_NET, OTASDK_STEP_DOWNLOAD_FAILED);
    assert_int_equal(W.nget, 6); /* first try + download_retries (5) */
    assert_int_equal(W.nsleep, 5);
    assert_int_equal(W.slept[0], 1000);
    assert_int_equal(W.slept[1], 2000);
    assert_int_equal(W.slept[4], 16000);
    otasdk_destroy(ctx);
}

static void test_digest_failure_is_unknown(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.fail_digest_begin = 1;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    expect_failure(ctx, OTASDK_ERR_DIGEST, OTASDK_STEP_FAILED);
    otasdk_destroy(ctx);
}

static void test_server_ignores_range(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.cut_at[0] = 12345;
    W.ncut = 1;
    W.ignore_range = 1;
    assert_int_equal(push(ctx, "m", "standard", "2.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.nget, 2);
    assert_int_equal(W.froms[1], 12345);
    assert_int_equal(W.finalized, 1);
    assert_memory_equal(W.flash, W.img, W.img_len);
    otasdk_destroy(ctx);
}

static void test_bad_messages(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    static const char big[5000] = {0};
    const char *t = "/sys/pk1/dev-1/ota/firmware/upgrade";
    const char *nodata = "{\"msgId\":\"bad1\",\"version\":\"1.0\",\"data\":{\"size\":5}}";
    const char *noid = "{\"version\":\"1.0\",\"data\":{}}";
    const char *r404 = "{\"msgId\":\"g\",\"version\":\"1.0\",\"code\":404,\"message\":\"none\"}";
    char longurl[1200 + 300];
    int n;
    (void)state;
    assert_int_equal(otasdk_on_message(ctx, "/sys/pk1/other/ota/firmware/upgrade", "{}", 2),
                     OTASDK_ERR_ARG);
    assert_int_equal(otasdk_on_message(ctx, t, "not json", 8), OTASDK_ERR_PARSE);
    assert_int_equal(otasdk_on_message(ctx, t, noid, strlen(noid)), OTASDK_ERR_PARSE);
    assert_int_equal(W.npub, 0); /* no msgId: nothing to ack */
    assert_int_equal(otasdk_on_message(ctx, t, nodata, strlen(nodata)), OTASDK_ERR_PARSE);
    assert_ack("bad1", 400);
    assert_int_equal(otasdk_on_message(ctx, t, big, sizeof big), OTASDK_ERR_PARSE);
    n = snprintf(
        longurl, sizeof longurl,
        "{\"msgId\":\"bad2\",\"version\":\"1.0\",\"data\":{\"size\":5,\"firmwareVersion\":\"2\","
        "\"url\":\"http://fw.example/%01200d\",\"sign\":\"%s\"}}",
        0, W.md5);
    assert_int_equal(otasdk_on_message(ctx, t, longurl, (size_t)n), OTASDK_ERR_PARSE);
    assert_ack("bad2", 400);
    assert_int_equal(
        otasdk_on_message(ctx, "/sys/pk1/dev-1/ota/firmware/get_reply", r404, strlen(r404)),
        OTASDK_OK);
    assert_false(otasdk_pending(ctx));
    assert_int_equal(otasdk_report_progress(ctx, 0, "x"), OTASDK_ERR_ARG);
    assert_int_equal(otasdk_report_progress(ctx, 101, "x"), OTASDK_ERR_ARG);
    assert_int_equal(otasdk_set_version(ctx, ""), OTASDK_ERR_ARG);
    assert_int_equal(otasdk_set_version(ctx, "2.0/x"), OTASDK_ERR_ARG);
    otasdk_destroy(ctx);
}

static void test_get_reply_job(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    char buf[1024];
    int n;
    (void)state;
    n = snprintf(
        buf, sizeof buf,
        "{\"msgId\":\"g7\",\"version\":\"1.0\",\"code\":200,\"data\":{\"policy\":\"standard\","
        "\"size\":%zu,\"firmwareVersion\":\"5.0\",\"url\":\"http://fw.example/x\","
        "\"sign\":\"%s\",\"signMethod\":\"Md5\",\"sha256\":\"%s\",\"batchId\":7}}",
        W.img_len, W.md5, W.sha);
    assert_int_equal(
        otasdk_on_message(ctx, "/sys/pk1/dev-1/ota/firmware/get_reply", buf, (size_t)n), OTASDK_OK);
    assert_ack("g7", 200);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_string_equal(last_version_reported(), "5.0");
    otasdk_destroy(ctx);
}

static void test_out_of_memory(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    int rc;
    (void)state;
    assert_int_equal(otasdk_set_json_allocator(j_malloc, free), OTASDK_OK);
    g_json_fail = 1;
    /* parsing a push fails: nothing queued, nothing acked, state unchanged */
    rc = push(ctx, "m1", "standard", "2.0", NULL, NULL);
    assert_int_equal(rc, OTASDK_ERR_NOMEM);
    assert_false(otasdk_pending(ctx));
    assert_int_equal(W.npub, 0);
    assert_int_equal(otasdk_on_connected(ctx), OTASDK_ERR_NOMEM);
    assert_int_equal(otasdk_set_version(ctx, "1.0.1"), OTASDK_ERR_NOMEM);
    assert_int_equal(otasdk_report_progress(ctx, 5, "x"), OTASDK_ERR_NOMEM);
    g_json_fail = 0;
    /* the version was kept and goes out with the next connection */
    assert_int_equal(otasdk_on_connected(ctx), OTASDK_OK);
    assert_string_equal(last_version_reported(), "1.0.1");
    /* the same push now works */
    assert_int_equal(push(ctx, "m1", "standard", "2.0", NULL, NULL), OTASDK_OK);
    /* out of memory during the download: reports are lost, the upgrade still completes */
    g_json_fail = 1;
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    g_json_fail = 0;
    assert_int_equal(W.finalized, 1);
    assert_int_equal(count_ev(OTASDK_EV_SUCCEEDED), 1);
    json_set_alloc_funcs(malloc, free);
    otasdk_destroy(ctx);
}

static void test_ack_publish_failure_keeps_job(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.fail_publish = 1;
    assert_int_equal(push(ctx, "m1", "standard", "2.0", NULL, NULL), OTASDK_ERR_MQTT);
    assert_true(otasdk_pending(ctx));
    W.fail_publish = 0;
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.finalized, 1);
    otasdk_destroy(ctx);
}

static void test_progress_desc_truncated(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    char desc[600];
    pub_t *p;
    (void)state;
    memset(desc, 'd', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    assert_int_equal(otasdk_report_progress(ctx, 50, desc), OTASDK_OK);
    p = find_pub("ota/progress", 0);
    assert_int_equal(
        strlen(json_string_value(json_object_get(json_object_get(p->json, "data"), "desc"))),
        OTASDK_DESC_MAX);
    otasdk_destroy(ctx);
}

static void test_repeated_job_runs_once(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    W.dup_push = 1;
    assert_int_equal(push(ctx, "first", "standard", "2.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_ack("first", 200);
    assert_ack("again", 200);
    assert_false(otasdk_pending(ctx));
    assert_int_equal(W.nget, 1);
    assert_int_equal(count_pub("ota/version"), 1);
    otasdk_destroy(ctx);
}

static void test_silent_started_from_event(void **state)
{
    otasdk_ctx *ctx = new_ctx();
    (void)state;
    g_start_from_event = 1;
    assert_int_equal(push(ctx, "s1", "silent", "3.0", NULL, NULL), OTASDK_OK);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    g_start_from_event = 0;
    assert_int_equal(count_ev(OTASDK_EV_JOB_OFFERED), 1);
    assert_int_equal(W.finalized, 1);
    assert_string_equal(last_version_reported(), "3.0");
    otasdk_destroy(ctx);
}

static void test_announce_after_suback(void **state)
{
    otasdk_config c = base_cfg();
    otasdk_ctx *ctx;
    (void)state;
    c.mqtt.announce_on_suback = 1;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_OK);
    assert_int_equal(otasdk_on_connected(ctx), OTASDK_OK);
    assert_int_equal(W.nsubs, 2);
    assert_int_equal(W.npub, 0); /* nothing before the SUBACKs */
    assert_int_equal(otasdk_on_subscribed(ctx), OTASDK_OK);
    assert_int_equal(W.npub, 2);
    assert_string_equal(W.pub[0].topic, "/sys/pk1/dev-1/ota/version");
    assert_string_equal(W.pub[1].topic, "/sys/pk1/dev-1/ota/firmware/get");
    assert_int_equal(otasdk_on_subscribed(NULL), OTASDK_ERR_ARG);
    otasdk_destroy(ctx);
}

/* ---- signed firmware ---- */

static int v_ed25519(void *u, const unsigned char pub[32], const void *msg, size_t len,
                     const unsigned char sig[64])
{
    (void)u;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(c, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

static EVP_PKEY *g_keys[2];
static unsigned char g_raw[2][32];

static void make_keys(void)
{
    for (int i = 0; i < 2; i++) {
        size_t n = 32;
        if (!g_keys[i])
            g_keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        assert_int_equal(EVP_PKEY_get_raw_public_key(g_keys[i], g_raw[i], &n), 1);
    }
}

/* A context trusting nkeys of g_raw (from first), running version running. */
static otasdk_ctx *new_signed_ctx(size_t first, size_t nkeys, const char *running)
{
    otasdk_config c = base_cfg();
    otasdk_ctx *ctx = NULL;
    make_keys();
    c.firmware_version = running;
    c.trusted_keys = (const unsigned char(*)[32])g_raw[first];
    c.trusted_key_count = nkeys;
    c.verify.ed25519 = v_ed25519;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_OK);
    W.ctx = ctx;
    return ctx;
}

/* Pushes the image as version; signed by g_keys[key] (-1: unsigned) over the manifest of
 * (mpk, mver, the image's size, msha: NULL = the image's); flip: one bit of the signature. */
static void push_signed(otasdk_ctx *ctx, const char *version, int key, const char *mpk,
                        const char *mver, const char *msha, int flip)
{
    char m[512], sig64[100];
    unsigned char sig[64];
    size_t sl = 64;
    json_t *data = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "policy", "standard",
                             "size", (json_int_t)W.img_len, "firmwareVersion", version, "url",
                             "http://fw.example/dl/1", "sign", W.md5, "signMethod", "Md5",
                             "sha256", W.sha, "batchId", "b1");
    if (key >= 0) {
        snprintf(m, sizeof m,
                 "{\"productKey\":\"%s\",\"firmwareVersion\":\"%s\",\"size\":%zu,\"sha256\":\"%s\"}",
                 mpk, mver, W.img_len, msha ? msha : W.sha);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(c, NULL, NULL, NULL, g_keys[key]), 1);
        assert_int_equal(EVP_DigestSign(c, sig, &sl, (unsigned char *)m, strlen(m)), 1);
        EVP_MD_CTX_free(c);
        sig[7] ^= (unsigned char)flip;
        EVP_EncodeBlock((unsigned char *)sig64, sig, 64);
        json_object_set_new(data, "manifest", json_string(m));
        json_object_set_new(data, "signature", json_string(sig64));
        json_object_set_new(data, "keyId", json_string("0123456789abcdef"));
        json_object_set_new(data, "signAlgorithm", json_string("Ed25519"));
    }
    json_t *msg = json_pack("{s:s, s:s, s:o}", "msgId", "s1", "version", "1.0", "data", data);
    char *txt = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    assert_int_equal(otasdk_on_message(ctx, "/sys/pk1/dev-1/ota/firmware/upgrade", txt,
                                       strlen(txt)),
                     OTASDK_OK);
    free(txt);
}

/* The refusal: step -3 with a desc holding why, nothing downloaded or staged, no version. */
static void expect_refused(otasdk_ctx *ctx, const char *why)
{
    assert_int_equal(otasdk_process(ctx), OTASDK_ERR_VERIFY);
    assert_int_equal(last_step(), OTASDK_STEP_VERIFY_FAILED);
    pub_t *p = find_pub("ota/progress", count_pub("ota/progress") - 1);
    const char *desc = json_string_value(json_object_get(json_object_get(p->json, "data"), "desc"));
    assert_non_null(desc);
    if (!strstr(desc, why))
        fail_msg("desc \"%s\" does not name \"%s\"", desc, why);
    assert_int_equal(W.nget, 0);
    assert_int_equal(W.opened, 0);
    assert_int_equal(W.finalized, 0);
    assert_null(last_version_reported());
    otasdk_destroy(ctx);
}

static void test_signed_accepted(void **state)
{
    (void)state;
    /* signed by the second of two trusted keys (a rotation) */
    otasdk_ctx *ctx = new_signed_ctx(0, 2, "1.0.0");
    push_signed(ctx, "2.0.0", 1, "pk1", "2.0.0", NULL, 0);
    assert_int_equal(otasdk_process(ctx), OTASDK_OK);
    assert_int_equal(W.finalized, 1);
    assert_string_equal(last_version_reported(), "2.0.0");
    otasdk_destroy(ctx);
}

static void test_signed_refusals(void **state)
{
    char other_sha[65];
    (void)state;
    expect_refused((new_signed_ctx(0, 1, "1.0.0"), push(W.ctx, "u", "standard", "2.0.0", NULL, NULL),
                    W.ctx),
                   "unsigned firmware");
    reset_world();
    otasdk_ctx *ctx = new_signed_ctx(0, 1, "1.0.0");
    push_signed(ctx, "2.0.0", 0, "pk1", "2.0.0", NULL, 1);
    expect_refused(ctx, "bad signature");
    reset_world();
    ctx = new_signed_ctx(0, 1, "1.0.0"); /* signed by a key it does not trust */
    push_signed(ctx, "2.0.0", 1, "pk1", "2.0.0", NULL, 0);
    expect_refused(ctx, "bad signature");
    reset_world();
    ctx = new_signed_ctx(0, 1, "1.0.0");
    push_signed(ctx, "2.0.0", 0, "pkOTHER", "2.0.0", NULL, 0);
    expect_refused(ctx, "another product");
    reset_world();
    ctx = new_signed_ctx(0, 1, "1.0.0");
    memset(other_sha, 'b', 64);
    other_sha[64] = '\0';
    push_signed(ctx, "2.0.0", 0, "pk1", "2.0.0", other_sha, 0);
    expect_refused(ctx, "sha256 differs");
    reset_world();
    ctx = new_signed_ctx(0, 1, "1.0.0");
    push_signed(ctx, "2.0.0", 0, "pk1", "3.0.0", NULL, 0);
    expect_refused(ctx, "version differs");
    reset_world();
    ctx = new_signed_ctx(0, 1, "1.10.0"); /* 1.9.9 < 1.10.0: numbers, not bytes */
    push_signed(ctx, "1.9.9", 0, "pk1", "1.9.9", NULL, 0);
    expect_refused(ctx, "downgrade from 1.10.0 to 1.9.9");
    /* a configuration with keys and no verifier is refused */
    otasdk_config c = base_cfg();
    c.trusted_keys = (const unsigned char(*)[32])g_raw[0];
    c.trusted_key_count = 1;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    c.verify.ed25519 = v_ed25519;
    c.trusted_key_count = OTASDK_TRUSTED_KEYS_MAX + 1;
    assert_int_equal(otasdk_create(&c, &ctx), OTASDK_ERR_ARG);
    for (int i = 0; i < 2; i++) {
        EVP_PKEY_free(g_keys[i]);
        g_keys[i] = NULL;
    }
}

static void test_version_cmp(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {{"1.0.0", "1.0.0", 0},   {"1.0.1", "1.0.0", 1},  {"1.9", "1.10", -1},
                 {"2.0.0", "10.0.0", -1}, {"1.0", "1.0.1", -1},   {"1.0.0-rc1", "1.0.0", 1},
                 {"01.2", "1.2", 0},      {"1.a", "1.2", -1},     {"v2", "v10", 1},
                 {"1_2", "1.3", -1},      {"abc", "abd", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = otasdk_version_cmp(cases[i].a, cases[i].b);
        if ((r > 0) - (r < 0) != cases[i].want)
            fail_msg("%s vs %s: %d, want %d", cases[i].a, cases[i].b, r, cases[i].want);
        r = otasdk_version_cmp(cases[i].b, cases[i].a);
        assert_int_equal((r > 0) - (r < 0), -cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_errors_and_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_short_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_standard_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_random_cuts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_md5_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_on_the_wire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_failure_is_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_ignores_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_reply_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_publish_failure_keeps_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_desc_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_job_runs_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_started_from_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announce_after_suback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_refusals, setup, teardown),
        cmocka_unit_test(test_version_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
