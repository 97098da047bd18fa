/* Integration: otad's HTTP endpoints for brokers other than the Mosquitto plugin (EMQX...):
 * POST /api/v1/broker/auth, /acl and /presence (server/http/routes_broker.c, docs/broker.md
 * "Other brokers"), and RabbitMQ's HTTP auth backend's four (/api/v1/broker/rabbitmq/{token}/
 * user, vhost, resource, topic; test_rabbitmq runs them against a real RabbitMQ cluster). A real otad (with the project's broker, so it is healthy) is asked the
 * questions EMQX's HTTP authenticator, authorizer and webhook would ask. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ota_crypto.h"
#include "test_api_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>

static char pk[16], pk2[16];
static char secret[40];   /* pk.dev1's secret */
static char token[40];    /* the broker token */
static char auth_hdr[80]; /* "Authorization: Bearer <token>" */
static char cid[128];     /* "pk.dev1" */
static char server_pass[40];

static int setup(void **st)
{
    oth_resp r;
    char body[256], path[128];
    if (tapi_setup(st) != 0)
        return -1;
    tapi_ctx *c = *st;
    tapi_product(c, "brokerhttp", pk);
    tapi_product(c, "brokerhttp2", pk2);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", pk);
    snprintf(body, sizeof body, "{\"identifier\":\"dev1\",\"deviceName\":\"d1\"}");
    if (tapi_post(c, path, body, &r) != 201)
        return -1;
    snprintf(secret, sizeof secret, "%s", tapi_jstr(r.json, "deviceSecret"));
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices", pk2);
    snprintf(body, sizeof body, "{\"identifier\":\"other\",\"deviceName\":\"o\"}");
    if (tapi_post(c, path, body, &r) != 201)
        return -1;
    oth_resp_free(&r);
    snprintf(cid, sizeof cid, "%s.dev1", pk);
    if (ota_secret_broker_http(c->env.key, token, sizeof token) != 0 ||
        ota_secret_server(c->env.key, server_pass, sizeof server_pass) != 0)
        return -1;
    snprintf(auth_hdr, sizeof auth_hdr, "Authorization: Bearer %s", token);
    return 0;
}

/* POSTs body to /api/v1/broker/<what> with the broker token (hdr NULL = none). */
static long bpost_ct(tapi_ctx *c, const char *what, const char *ctype, const char *hdr,
                     const char *body, oth_resp *r)
{
    char path[64];
    const char *hdrs[] = {hdr, NULL};
    snprintf(path, sizeof path, "/api/v1/broker/%s", what);
    assert_int_equal(
        oth_http(&c->env, "POST", path, 0, ctype, body, strlen(body), hdr ? hdrs : NULL, r), 0);
    return r->status;
}

/* The "result" of a 200 answer ("" otherwise); frees r. */
static const char *result_of(tapi_ctx *c, const char *what, const char *body, int *superuser)
{
    static char res[16];
    oth_resp r;
    long st = bpost_ct(c, what, "application/json", auth_hdr, body, &r);
    res[0] = '\0';
    if (st == 200) {
        snprintf(res, sizeof res, "%s", tapi_jstr(r.json, "result"));
        if (superuser)
            *superuser = json_is_true(json_object_get(r.json, "is_superuser"));
        assert_non_null(strstr(r.content_type, "application/json"));
    } else {
        fprintf(stderr, "%s %s -> %ld %s\n", what, body, st, r.body ? r.body : "");
    }
    oth_resp_free(&r);
    return res;
}

static const char *login(tapi_ctx *c, const char *client, const char *u, const char *p,
                         int *superuser)
{
    char body[512];
    if (snprintf(body, sizeof body, "{\"clientid\":\"%s\",\"username\":\"%s\",\"password\":\"%s\"}",
                 client, u, p) >= (int)sizeof body)
        fail_msg("auth body too long");
    return result_of(c, "auth", body, superuser);
}

static const char *acl(tapi_ctx *c, const char *client, const char *u, const char *topic,
                       const char *action)
{
    char body[512];
    if (snprintf(body, sizeof body,
                 "{\"clientid\":\"%s\",\"username\":\"%s\",\"topic\":\"%s\",\"action\":\"%s\"}",
                 client, u, topic, action) >= (int)sizeof body)
        fail_msg("acl body too long");
    return result_of(c, "acl", body, NULL);
}

static void test_auth(void **st)
{
    tapi_ctx *c = *st;
    int su = -1;
    char other[128], other_secret[40], wrong[40];
    assert_string_equal(login(c, cid, cid, secret, &su), "allow");
    assert_int_equal(su, 0);
    /* wrong secret, empty password, a secret of the wrong length */
    snprintf(wrong, sizeof wrong, "%s", secret);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_string_equal(login(c, cid, cid, wrong, NULL), "deny");
    assert_string_equal(login(c, cid, cid, "", NULL), "deny");
    char longer[64];
    snprintf(longer, sizeof longer, "%sx", secret);
    assert_string_equal(login(c, cid, cid, longer, NULL), "deny");
    /* right derived secret but not registered here (the plugin would let it in) */
    snprintf(other, sizeof other, "%s.ghost", pk);
    assert_int_equal(oth_device_secret(&c->env, pk, "ghost", other_secret), 0);
    assert_string_equal(login(c, other, other, other_secret, NULL), "deny");
    /* username differs from client id */
    assert_string_equal(login(c, "someone", cid, secret, NULL), "deny");
    snprintf(other, sizeof other, "%s.dev1x", pk);
    assert_string_equal(login(c, other, cid, secret, NULL), "deny");
    /* not a device name */
    assert_string_equal(login(c, "nodot", "nodot", secret, NULL), "deny");
    assert_string_equal(login(c, "", "", "", NULL), "deny");
    /* the server account */
    su = -1;
    assert_string_equal(login(c, "otad", "otad", server_pass, &su), "allow");
    assert_int_equal(su, 1);
    assert_string_equal(login(c, "otad-2", "otad", server_pass, &su), "allow");
    assert_int_equal(su, 1);
    assert_string_equal(login(c, "otad", "otad", secret, NULL), "deny");
    assert_string_equal(login(c, "otad-", "otad", server_pass, NULL), "deny");
    assert_string_equal(login(c, "otadx", "otad", server_pass, NULL), "deny");
    assert_string_equal(login(c, "otad-2", "otad-2", server_pass, NULL), "deny");
    /* a device secret never makes a superuser */
    su = -1;
    assert_string_equal(login(c, cid, cid, secret, &su), "allow");
    assert_int_equal(su, 0);
}

static void test_auth_form(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char body[512];
    /* EMQX 4-style form body; '+' and %XX decoded */
    snprintf(body, sizeof body, "clientid=%s&username=%s&password=%s&peerhost=127.0.0.1", cid, cid,
             secret);
    assert_int_equal(bpost_ct(c, "auth", "application/x-www-form-urlencoded", auth_hdr, body, &r),
                     200);
    assert_string_equal(tapi_jstr(r.json, "result"), "allow");
    oth_resp_free(&r);
    char enc[128];
    snprintf(enc, sizeof enc, "%s%%2Edev1", pk); /* "." as %2E */
    snprintf(body, sizeof body, "clientid=%s&username=%s&password=%s", enc, cid, secret);
    assert_int_equal(bpost_ct(c, "auth", "application/x-www-form-urlencoded", auth_hdr, body, &r),
                     200);
    assert_string_equal(tapi_jstr(r.json, "result"), "allow");
    oth_resp_free(&r);
    snprintf(body, sizeof body, "clientid=%s&username=%s&password=wrong+one", cid, cid);
    assert_int_equal(bpost_ct(c, "auth", "application/x-www-form-urlencoded", auth_hdr, body, &r),
                     200);
    assert_string_equal(tapi_jstr(r.json, "result"), "deny");
    oth_resp_free(&r);
    /* ACL as a form too */
    snprintf(body, sizeof body,
             "clientid=%s&username=%s&topic=%%2Fsys%%2F%s%%2Fdev1%%2F%%23&action=subscribe", cid,
             cid, pk);
    assert_int_equal(bpost_ct(c, "acl", "application/x-www-form-urlencoded", auth_hdr, body, &r),
                     200);
    assert_string_equal(tapi_jstr(r.json, "result"), "allow");
    oth_resp_free(&r);
    /* malformed forms: bad escape, NUL, repeated name, empty name */
    static const char *const bad[] = {"clientid=%zz&username=a&password=b",
                                      "clientid=a%00&username=a&password=b",
                                      "clientid=a&clientid=a&username=a&password=b",
                                      "=x&clientid=a&username=a&password=b", "clientid=a%2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            bpost_ct(c, "auth", "application/x-www-form-urlencoded", auth_hdr, bad[i], &r), 400);
        oth_resp_free(&r);
    }
}

static void test_broker_token(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char body[512], hdr[128];
    snprintf(body, sizeof body, "{\"clientid\":\"%s\",\"username\":\"%s\",\"password\":\"%s\"}",
             cid, cid, secret);
    static const char *const what[] = {"auth", "acl", "presence"};
    for (size_t i = 0; i < 3; i++) {
        /* no token, the admin token, a wrong one, a prefix of the right one */
        assert_int_equal(bpost_ct(c, what[i], "application/json", NULL, body, &r), 401);
        assert_string_equal(oth_err_code(&r), "unauthorized");
        oth_resp_free(&r);
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", c->env.admin_token);
        assert_int_equal(bpost_ct(c, what[i], "application/json", hdr, body, &r), 401);
        oth_resp_free(&r);
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %.31s", token);
        assert_int_equal(bpost_ct(c, what[i], "application/json", hdr, body, &r), 401);
        oth_resp_free(&r);
        snprintf(hdr, sizeof hdr, "Authorization: Basic %s", token);
        assert_int_equal(bpost_ct(c, what[i], "application/json", hdr, body, &r), 401);
        oth_resp_free(&r);
    }
    /* the admin token alone does not open these routes either (auth = 1) */
    assert_int_equal(oth_http(&c->env, "POST", "/api/v1/broker/auth", 1, "application/json", body,
                              strlen(body), NULL, &r),
                     0);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);
    /* otad --broker-token prints the same token */
    char cmd[900], line[128] = "";
    snprintf(cmd, sizeof cmd, "OTA_DATA_DIR='%s' %s/server/otad --broker-token", c->env.dir,
             OTA_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    line[strcspn(line, "\n")] = '\0';
    assert_string_equal(line, token);
    /* without a key: an error, not a token */
    snprintf(cmd, sizeof cmd, "OTA_DATA_DIR='%s/none' %s/server/otad --broker-token 2>/dev/null",
             c->env.dir, OTA_BUILD_DIR);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_null(fgets(line, sizeof line, p));
    assert_int_not_equal(pclose(p), 0);
}

static void test_acl(void **st)
{
    tapi_ctx *c = *st;
    char t[256], other[128];
    snprintf(t, sizeof t, "/sys/%s/dev1/ota/progress", pk);
    assert_string_equal(acl(c, cid, cid, t, "publish"), "allow");
    snprintf(t, sizeof t, "/sys/%s/dev1/ota/firmware/upgrade", pk);
    assert_string_equal(acl(c, cid, cid, t, "subscribe"), "allow");
    snprintf(t, sizeof t, "/sys/%s/dev1/#", pk);
    assert_string_equal(acl(c, cid, cid, t, "subscribe"), "allow");
    /* another device's topics, in this product and in another */
    snprintf(t, sizeof t, "/sys/%s/dev2/ota/progress", pk);
    assert_string_equal(acl(c, cid, cid, t, "publish"), "deny");
    assert_string_equal(acl(c, cid, cid, t, "subscribe"), "deny");
    snprintf(t, sizeof t, "/sys/%s/other/ota/firmware/upgrade", pk2);
    assert_string_equal(acl(c, cid, cid, t, "subscribe"), "deny");
    /* a prefix that only looks like its own */
    snprintf(t, sizeof t, "/sys/%s/dev1x/ota/progress", pk);
    assert_string_equal(acl(c, cid, cid, t, "publish"), "deny");
    snprintf(t, sizeof t, "/sys/%s/dev1", pk);
    assert_string_equal(acl(c, cid, cid, t, "publish"), "deny");
    /* wildcards outside its own prefix */
    assert_string_equal(acl(c, cid, cid, "#", "subscribe"), "deny");
    snprintf(t, sizeof t, "/sys/%s/+/ota/progress", pk);
    assert_string_equal(acl(c, cid, cid, t, "subscribe"), "deny");
    assert_string_equal(acl(c, cid, cid, "/sys/#", "subscribe"), "deny");
    snprintf(t, sizeof t, "$share/g//sys/%s/dev1/ota/progress", pk);
    assert_string_equal(acl(c, cid, cid, t, "subscribe"), "deny");
    /* the service's internal topics */
    assert_string_equal(acl(c, cid, cid, "ota/internal/presence", "subscribe"), "deny");
    assert_string_equal(acl(c, cid, cid, "ota/internal/sync", "publish"), "deny");
    assert_string_equal(acl(c, cid, cid, "ota/internal/#", "subscribe"), "deny");
    /* username differs from client id: nothing */
    snprintf(t, sizeof t, "/sys/%s/dev1/ota/progress", pk);
    snprintf(other, sizeof other, "%s.dev2", pk);
    assert_string_equal(acl(c, other, cid, t, "publish"), "deny");
    assert_string_equal(acl(c, "", "", t, "publish"), "deny");
    /* the server: everything */
    assert_string_equal(acl(c, "otad", "otad", "ota/internal/sync", "publish"), "allow");
    assert_string_equal(acl(c, "otad-2", "otad", "$share/otad//sys/+/+/ota/progress", "subscribe"),
                        "allow");
    assert_string_equal(acl(c, "otad", "otad", "#", "subscribe"), "allow");
    /* but not a client id that only starts like it */
    assert_string_equal(acl(c, "otadx", "otad", "#", "subscribe"), "deny");
}

static void test_malformed(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    static const struct {
        const char *what, *body, *code;
    } cases[] = {
        {"auth", "", "invalid_body"},
        {"auth", "{", "invalid_json"},
        {"auth", "[1,2]", "invalid_json"},
        {"auth", "{\"clientid\":\"a\",\"clientid\":\"b\",\"username\":\"a\",\"password\":\"p\"}",
         "invalid_json"},
        {"auth", "{\"username\":\"a\",\"password\":\"p\"}", "missing_field"},
        {"auth", "{\"clientid\":\"a\",\"username\":5,\"password\":\"p\"}", "invalid_type"},
        {"auth", "{\"clientid\":\"a\",\"username\":\"a\",\"password\":\"p\\u0000q\"}",
         "invalid_json"}, /* jansson refuses \u0000 */
        {"acl", "{\"clientid\":\"a\",\"username\":\"a\",\"topic\":\"t\"}", "missing_field"},
        {"acl", "{\"clientid\":\"a\",\"username\":\"a\",\"topic\":\"t\",\"action\":\"all\"}",
         "invalid_field"},
        {"acl", "{\"clientid\":\"a\",\"username\":\"a\",\"topic\":null,\"action\":\"publish\"}",
         "missing_field"},
        {"presence", "{\"event\":\"client.subscribed\",\"clientid\":\"a.b\"}", "invalid_field"},
        {"presence", "{\"event\":\"client.connected\"}", "missing_field"},
        {"presence", "{\"event\":\"client.connected\",\"clientid\":\"a.b\",\"timestamp\":\"x\"}",
         "invalid_type"},
        {"presence", "{\"event\":\"client.connected\",\"clientid\":\"a.b\",\"timestamp\":1.5}",
         "invalid_type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long s = bpost_ct(c, cases[i].what, "application/json", auth_hdr, cases[i].body, &r);
        if (s != 400 || strcmp(oth_err_code(&r), cases[i].code) != 0)
            fprintf(stderr, "case %zu (%s %s): %ld %s\n", i, cases[i].what, cases[i].body, s,
                    r.body ? r.body : "");
        assert_int_equal(s, 400);
        assert_string_equal(oth_err_code(&r), cases[i].code);
        oth_resp_free(&r);
    }
    /* unknown fields are fine: brokers add their own (peerhost, qos, retain...) */
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"clientid\":\"%s\",\"username\":\"%s\",\"password\":\"%s\",\"peerhost\":\"1.2.3.4\","
        "\"qos\":1}",
        cid, cid, secret);
    assert_string_equal(result_of(c, "auth", body, NULL), "allow");
    /* another content type: 415; too large: 413 */
    assert_int_equal(bpost_ct(c, "auth", "text/plain", auth_hdr, body, &r), 415);
    oth_resp_free(&r);
    size_t big = 20000;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    assert_int_equal(bpost_ct(c, "auth", "application/json", auth_hdr, huge, &r), 413);
    oth_resp_free(&r);
    free(huge);
    /* GET: 405 */
    const char *hdrs[] = {auth_hdr, NULL};
    assert_int_equal(oth_http(&c->env, "GET", "/api/v1/broker/auth", 0, NULL, NULL, 0, hdrs, &r),
                     0);
    assert_true(r.status == 405 || r.status == 401);
    oth_resp_free(&r);
}

/* GET the device until its "online" is want (at most 10 s). */
static int wait_online(tapi_ctx *c, int want)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/dev1", pk);
    for (int i = 0; i < 100; i++) {
        oth_resp r;
        oth_get(&c->env, path, &r);
        int online = json_is_true(json_object_get(r.json, "online"));
        long s = r.status;
        oth_resp_free(&r);
        if (s == 200 && online == want)
            return 0;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static long presence(tapi_ctx *c, const char *body, int *applied)
{
    oth_resp r;
    long s = bpost_ct(c, "presence", "application/json", auth_hdr, body, &r);
    if (applied)
        *applied = json_is_true(json_object_get(r.json, "applied"));
    oth_resp_free(&r);
    return s;
}

static void test_presence(void **st)
{
    tapi_ctx *c = *st;
    char body[512];
    int applied = -1;
    assert_int_equal(wait_online(c, 0), 0);
    /* EMQX's client.connected event as a rule forwards it (${.}), extra fields and all */
    snprintf(body, sizeof body,
             "{\"event\":\"client.connected\",\"clientid\":\"%s\",\"username\":\"%s\","
             "\"timestamp\":%lld,\"connected_at\":1,\"proto_ver\":4,\"node\":\"emqx@a\"}",
             cid, cid, (long long)time(NULL) * 1000);
    assert_int_equal(presence(c, body, &applied), 200);
    assert_int_equal(applied, 1);
    assert_int_equal(wait_online(c, 1), 0);
    /* a takeover's disconnect of the old connection leaves the device online */
    snprintf(body, sizeof body,
             "{\"event\":\"client.disconnected\",\"clientid\":\"%s\",\"reason\":\"takenover\","
             "\"timestamp\":%lld}",
             cid, (long long)time(NULL) * 1000);
    assert_int_equal(presence(c, body, &applied), 200);
    assert_int_equal(applied, 0);
    /* non-device client ids are ignored */
    assert_int_equal(
        presence(c, "{\"event\":\"client.connected\",\"clientid\":\"otad\"}", &applied), 200);
    assert_int_equal(applied, 0);
    assert_int_equal(wait_online(c, 1), 0);
    /* a real disconnect (timestamp as a string, as a form would send it) */
    snprintf(body, sizeof body,
             "{\"event\":\"client.disconnected\",\"clientid\":\"%s\",\"reason\":\"normal\","
             "\"timestamp\":\"%lld\"}",
             cid, (long long)time(NULL) * 1000 + 1);
    assert_int_equal(presence(c, body, &applied), 200);
    assert_int_equal(applied, 1);
    assert_int_equal(wait_online(c, 0), 0);
    /* an unknown device is accepted and changes nothing */
    snprintf(body, sizeof body, "{\"event\":\"client.connected\",\"clientid\":\"%s.ghost\"}", pk);
    assert_int_equal(presence(c, body, &applied), 200);
    assert_int_equal(applied, 1);
}

/* RabbitMQ's backend: POSTs a form to /api/v1/broker/rabbitmq/<tok>/<what>; returns the
 * status and the answer's text into word (when 200). */
static long rmq_post(tapi_ctx *c, const char *tok, const char *what, const char *form, char *word,
                     size_t cap)
{
    char path[160];
    oth_resp r;
    snprintf(path, sizeof path, "/api/v1/broker/rabbitmq/%s/%s", tok, what);
    assert_int_equal(oth_http(&c->env, "POST", path, 0, "application/x-www-form-urlencoded", form,
                              strlen(form), NULL, &r),
                     0);
    long st = r.status;
    if (word) {
        snprintf(word, cap, "%s", st == 200 && r.body ? r.body : "");
        if (st == 200)
            assert_non_null(strstr(r.content_type, "text/plain"));
    }
    oth_resp_free(&r);
    return st;
}

static const char *rmq(tapi_ctx *c, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *rmq(tapi_ctx *c, const char *what, const char *fmt, ...)
{
    static char word[32];
    char form[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(form, sizeof form, fmt, ap);
    va_end(ap);
    assert_int_equal(rmq_post(c, token, what, form, word, sizeof word), 200);
    return word;
}

static void test_rabbitmq(void **st)
{
    tapi_ctx *c = *st;
    char wrong[40];
    /* the token is a path segment: a wrong one is 401 (RabbitMQ then refuses) */
    snprintf(wrong, sizeof wrong, "%s", token);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_int_equal(rmq_post(c, wrong, "user", "username=otad&password=x", NULL, 0), 401);
    /* logins: the MQTT plugin sends the client id */
    assert_string_equal(rmq(c, "user", "username=%s&password=%s&client_id=%s", cid, secret, cid), "allow");
    assert_string_equal(rmq(c, "user", "username=%s&password=%s&client_id=%s.other", cid, secret, pk), "deny");
    assert_string_equal(rmq(c, "user", "username=%s&password=wrong&client_id=%s", cid, cid), "deny");
    assert_string_equal(rmq(c, "user", "username=%s&password=%s", cid, secret), "deny"); /* not MQTT */
    assert_string_equal(rmq(c, "user", "username=otad&password=%s&client_id=otad-a", server_pass), "allow");
    assert_string_equal(rmq(c, "user", "username=otad&password=%s&client_id=mallory", server_pass), "deny");
    /* the virtual host */
    assert_string_equal(rmq(c, "vhost", "username=%s&vhost=%%2F&ip=127.0.0.1", cid), "allow");
    assert_string_equal(rmq(c, "vhost", "username=%s&vhost=other", cid), "deny");
    /* AMQP objects behind MQTT: the topic exchange, the device's own subscription queues */
    assert_string_equal(rmq(c, "resource", "username=%s&vhost=%%2F&resource=exchange&name=amq.topic&permission=write", cid), "allow");
    assert_string_equal(rmq(c, "resource", "username=%s&vhost=%%2F&resource=exchange&name=amq.topic&permission=configure", cid), "deny");
    assert_string_equal(rmq(c, "resource", "username=%s&vhost=%%2F&resource=exchange&name=amq.fanout&permission=write", cid), "deny");
    assert_string_equal(rmq(c, "resource", "username=%s&vhost=%%2F&resource=queue&name=mqtt-subscription-%sqos1&permission=configure", cid, cid), "allow");
    assert_string_equal(rmq(c, "resource", "username=%s&vhost=%%2F&resource=queue&name=mqtt-subscription-%s.otherqos1&permission=read", cid, pk), "deny");
    assert_string_equal(rmq(c, "resource", "username=otad&vhost=%%2F&resource=queue&name=anything&permission=configure"), "allow");
    /* topics: routing keys are MQTT topics with '/' and '.' swapped and '+' as '*' */
    assert_string_equal(rmq(c, "topic", "username=%s&vhost=%%2F&resource=topic&name=amq.topic&permission=write&routing_key=.sys.%s.dev1.ota.version", cid, pk), "allow");
    assert_string_equal(rmq(c, "topic", "username=%s&vhost=%%2F&resource=topic&name=amq.topic&permission=read&routing_key=.sys.%s.dev1.ota.firmware.%%23", cid, pk), "allow");
    assert_string_equal(rmq(c, "topic", "username=%s&vhost=%%2F&resource=topic&name=amq.topic&permission=read&routing_key=.sys.%s.*.ota.%%23", cid, pk), "deny");
    assert_string_equal(rmq(c, "topic", "username=%s&vhost=%%2F&resource=topic&name=amq.topic&permission=write&routing_key=.sys.%s.other.ota.version", cid, pk2), "deny");
    assert_string_equal(rmq(c, "topic", "username=%s&vhost=%%2F&resource=topic&name=amq.topic&permission=write&routing_key=ota.internal.presence", cid), "deny");
    assert_string_equal(rmq(c, "topic", "username=otad&vhost=%%2F&resource=topic&name=amq.topic&permission=read&routing_key=.sys.*.*.ota.%%23"), "allow");
    /* a field missing: 400 naming it */
    char w[8];
    assert_int_equal(rmq_post(c, token, "topic", "username=otad&vhost=%2F", w, sizeof w), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),         cmocka_unit_test(test_auth_form),
        cmocka_unit_test(test_broker_token), cmocka_unit_test(test_acl),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_presence),
        cmocka_unit_test(test_rabbitmq),
    };
    return cmocka_run_group_tests(tests, setup, tapi_teardown);
}
