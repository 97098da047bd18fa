/*
 * test_webhooks: webhooks end to end (docs/webhooks.md) with the real otad, broker and
 * scripted devices, and a small HTTP receiver in this test on a free port (a plain socket
 * server: it reads each request, records its headers and body, answers the status it is
 * told to, after a delay when asked, and closes the connection).
 *
 * - a batch run delivers firmware.created, batch.created, the devices' upgrade events
 *   (grouped), batch.completed and firmware.deleted; every body verifies under its
 *   webhook's secret (and not under another), X-Ota-Event and X-Ota-Delivery match the
 *   body; a webhook subscribed to one event gets only that one;
 * - the operator's pause, resume and terminate each deliver their event; so do a batch's
 *   next phase (batch.phase.started) and a brake's abort (batch.aborted);
 * - a receiver that answers 503, then is down, gets the same delivery again until it
 *   answers 2xx, and the delivery log shows each attempt;
 * - otad killed with SIGKILL while deliveries are under way or waiting: after a restart
 *   every event arrives, duplicates only as the same delivery with the same bytes;
 * - two otad on one store (SQLite file, or PostgreSQL under scripts/pg-test.sh) both
 *   sending: each delivery arrives once;
 * - bad input on every field names the field; the secret is never answered.
 */
#include "test_batch_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HITS 256
#define WAIT_MS 30000

/* ---- the receiver ----------------------------------------------------------------------- */

typedef struct {
    char path[64];
    char event[256];
    char delivery[32];
    char signature[128];
    char *body;
    int answered; /* the status sent; 0 when the client was gone */
} hit;

typedef struct {
    int port, lfd;
    pthread_t th;
    int running;
    atomic_int stop;
    pthread_mutex_t mu;
    hit hits[MAX_HITS];
    int n;
    int fail_first;  /* answer 503 to this many requests first */
    atomic_int down; /* close each connection at once, unanswered (a receiver that died) */
    int delay_ms;    /* before answering */
} recv_t;

static void header(const char *head, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = head; (p = strstr(p, "\r\n"));) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)len, v);
            return;
        }
    }
}

/* Reads one request from fd and answers it. */
static void serve(recv_t *rv, int fd)
{
    char *buf = malloc(1 << 20);
    size_t len = 0, cap = (1 << 20) - 1;
    char *end = NULL;
    assert_non_null(buf);
    while (!end && len < cap) {
        ssize_t k = read(fd, buf + len, cap - len);
        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end) {
        free(buf);
        return;
    }
    char cl[32];
    *end = '\0';
    header(buf, "Content-Length", cl, sizeof cl);
    size_t want = (size_t)strtoul(cl, NULL, 10), have = len - (size_t)(end + 4 - buf);
    while (have < want && len < cap) {
        ssize_t k = read(fd, buf + len, cap - len);
        if (k <= 0)
            break;
        len += (size_t)k;
        have += (size_t)k;
    }
    int status = 200;
    pthread_mutex_lock(&rv->mu);
    hit *h = rv->n < MAX_HITS ? &rv->hits[rv->n++] : NULL;
    if (rv->fail_first > 0) {
        rv->fail_first--;
        status = 503;
    }
    int delay = rv->delay_ms;
    if (h) {
        memset(h, 0, sizeof *h);
        sscanf(buf, "POST %63s", h->path);
        header(buf, "X-Ota-Event", h->event, sizeof h->event);
        header(buf, "X-Ota-Delivery", h->delivery, sizeof h->delivery);
        header(buf, "X-Ota-Signature", h->signature, sizeof h->signature);
        h->body = strndup(end + 4, have < want ? have : want);
    }
    pthread_mutex_unlock(&rv->mu);
    if (delay)
        oth_sleep_ms(delay);
    char ans[128];
    int n = snprintf(ans, sizeof ans,
                     "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    int ok = write(fd, ans, (size_t)n) == n;
    pthread_mutex_lock(&rv->mu);
    if (h)
        h->answered = ok ? status : 0;
    pthread_mutex_unlock(&rv->mu);
    free(buf);
}

static void *recv_main(void *arg)
{
    recv_t *rv = arg;
    while (!atomic_load(&rv->stop)) {
        struct pollfd p = {rv->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(rv->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (!atomic_load(&rv->down))
            serve(rv, fd);
        close(fd);
    }
    return NULL;
}

/* Listens on rv->port (a free one when 0) and starts answering. */
static void recv_up(recv_t *rv)
{
    struct sockaddr_in a = {0};
    int one = 1;
    if (!rv->port)
        rv->port = oth_free_port();
    rv->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(rv->lfd >= 0);
    setsockopt(rv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)rv->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rv->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(rv->lfd, 64), 0);
    atomic_store(&rv->stop, 0);
    assert_int_equal(pthread_create(&rv->th, NULL, recv_main, rv), 0);
    rv->running = 1;
}

/* Stops the receiver and closes its port. */
static void recv_stop(recv_t *rv)
{
    if (!rv->running)
        return;
    atomic_store(&rv->stop, 1);
    pthread_join(rv->th, NULL);
    close(rv->lfd);
    rv->running = 0;
}

static recv_t *recv_new(void)
{
    recv_t *rv = calloc(1, sizeof *rv);
    assert_non_null(rv);
    pthread_mutex_init(&rv->mu, NULL);
    return rv;
}

static void recv_free(recv_t *rv)
{
    if (!rv)
        return;
    recv_stop(rv);
    for (int i = 0; i < rv->n; i++)
        free(rv->hits[i].body);
    pthread_mutex_destroy(&rv->mu);
    free(rv);
}

/* ---- the test's state: the batch fixture's context and the receiver ----------------------- */

typedef struct {
    void *bt_state; /* bt_new's cmocka state (the bt_ctx) */
    recv_t *rv;
    pid_t otad_b; /* a second otad on the same store, when a test starts one */
} hk;

static int setup(void **state)
{
    hk *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->rv = recv_new();
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    hk *h = *state;
    if (h->otad_b > 0)
        oth_stop_pid(h->otad_b, SIGTERM, 10000);
    recv_free(h->rv);
    if (h->bt_state)
        bt_teardown(&h->bt_state);
    free(h);
    return 0;
}

/* otad at time scale 60 (retries from 83 ms, grouping waits of 60 s last 1 s), with env
 * name=value pairs first (NULL-ended). */
static bt_ctx *start(hk *h, const char *const *env)
{
    bt_ctx *t = bt_alloc(&h->bt_state);
    oth_env_set(&t->env, "OTA_TIME_SCALE", "60");
    for (size_t i = 0; env && env[i]; i += 2)
        oth_env_set(&t->env, env[i], env[i + 1]);
    if (oth_broker_start(&t->env) != 0 || oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("broker or otad did not start");
    }
    t->up = 1;
    return t;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static long req(bt_ctx *t, const char *method, const char *path, const char *body, oth_resp *r)
{
    oth_http(&t->env, method, path, 1, body ? "application/json" : NULL, body,
             body ? strlen(body) : 0, NULL, r);
    return r->status;
}

/* Creates a webhook to the receiver's path; its id into id. */
static void webhook(bt_ctx *t, recv_t *rv, const char *path, const char *secret, const char *events,
                    const char *extra, char *id, size_t cap)
{
    char body[1024];
    oth_resp r;
    snprintf(body, sizeof body,
             "{\"url\":\"http://127.0.0.1:%d%s\",\"secret\":\"%s\",\"events\":%s%s}", rv->port,
             path, secret, events, extra ? extra : "");
    if (bt_post(t, "/api/v1/webhooks", body, &r) != 201) {
        fprintf(stderr, "webhook create: %ld %s\n", r.status, r.body ? r.body : "");
        fail_msg("webhook not created");
    }
    assert_null(strstr(r.body, secret)); /* the secret is never answered */
    bt_id_text(json_object_get(r.json, "id"), id, cap);
    oth_resp_free(&r);
}

static int hmac_ok(const char *secret, const char *body, const char *header_value)
{
    unsigned char mac[32];
    unsigned int len = 0;
    char hex[65] = {0}, want[80];
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac,
         &len);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(want, sizeof want, "sha256=%s", hex);
    return strcmp(want, header_value) == 0;
}

/* Answered (2xx) hits of path whose body has event name ev (a grouped body counts each
 * of its events). */
static int count_event(recv_t *rv, const char *path, const char *ev)
{
    int n = 0;
    pthread_mutex_lock(&rv->mu);
    for (int i = 0; i < rv->n; i++) {
        hit *h = &rv->hits[i];
        if (strcmp(h->path, path) != 0 || h->answered != 200)
            continue;
        json_t *b = json_loads(h->body, 0, NULL), *arr = json_object_get(b, "events"), *x;
        size_t k;
        if (arr) {
            json_array_foreach(arr, k, x) n += strcmp(bt_js(x, "event"), ev) == 0;
        } else
            n += strcmp(bt_js(b, "event"), ev) == 0;
        json_decref(b);
    }
    pthread_mutex_unlock(&rv->mu);
    return n;
}

static void wait_event(bt_ctx *t, recv_t *rv, const char *path, const char *ev, int want)
{
    int64_t until = oth_now_ms() + WAIT_MS;
    int n = 0;
    while ((n = count_event(rv, path, ev)) < want && oth_now_ms() < until)
        oth_sleep_ms(50);
    if (n < want) {
        oth_dump_logs(&t->env);
        fail_msg("%s: %d of %d %s events arrived", path, n, want, ev);
    }
}

/* A product and its devices <p>1 and <p>2, which upgrade, and <p>3, whose download fails;
 * all three online on version 1.0.0. */
static void three_devices(bt_ctx *t, const char *product, const char *p)
{
    char id[3][16];
    bt_product(t, product);
    for (int i = 0; i < 3; i++) {
        snprintf(id[i], sizeof id[i], "%s%d", p, i + 1);
        bt_device(t, id[i]);
        bt_dev_start(t, id[i], "1.0.0", i < 2 ? SDEV_AUTO_UPGRADE : SDEV_AUTO_FAIL, i < 2 ? 0 : -2);
    }
    for (int i = 0; i < 3; i++)
        bt_wait_device(t, id[i], 1, "1.0.0", BT_SOON);
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_batch_run_signed_events(void **state)
{
    hk *h = *state;
    recv_t *rv = h->rv;
    char a[32], b_id[32], fw[32], batch[32], path[128];
    oth_resp r;
    recv_up(rv);
    bt_ctx *t = start(h, NULL);
    webhook(t, rv, "/all", "secret-of-all-events", "[\"*\"]",
            ",\"groupMaxEvents\":2,\"groupSeconds\":60", a, sizeof a);
    webhook(t, rv, "/done", "secret-of-completions", "[\"batch.completed\"]", NULL, b_id,
            sizeof b_id);

    three_devices(t, "hooks", "d");
    bt_firmware(t, "fw_hooks", "2.0.0", fw, sizeof fw);
    char body[512];
    bt_body(body, sizeof body, "\"scope\":\"all\"", 60, 0, 0);
    bt_batch(t, fw, body, batch, sizeof batch);
    json_decref(bt_wait_batch(t, batch, "completed", WAIT_MS));
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", fw);
    assert_int_equal(req(t, "DELETE", path, NULL, &r), 204);
    oth_resp_free(&r);

    wait_event(t, rv, "/all", "firmware.created", 1);
    wait_event(t, rv, "/all", "batch.created", 1);
    wait_event(t, rv, "/all", "device.upgrade.succeeded", 2);
    wait_event(t, rv, "/all", "device.upgrade.failed", 1);
    wait_event(t, rv, "/all", "batch.completed", 1);
    wait_event(t, rv, "/all", "firmware.deleted", 1);
    wait_event(t, rv, "/done", "batch.completed", 1);

    /* every request: signed under its webhook's secret and not under the other one,
     * X-Ota-Delivery is the body's id, X-Ota-Event names its event(s) */
    int grouped = 0;
    pthread_mutex_lock(&rv->mu);
    for (int i = 0; i < rv->n; i++) {
        hit *x = &rv->hits[i];
        int all = strcmp(x->path, "/all") == 0;
        assert_true(all || strcmp(x->path, "/done") == 0);
        assert_true(
            hmac_ok(all ? "secret-of-all-events" : "secret-of-completions", x->body, x->signature));
        assert_false(
            hmac_ok(all ? "secret-of-completions" : "secret-of-all-events", x->body, x->signature));
        json_t *j = json_loads(x->body, 0, NULL), *arr = json_object_get(j, "events"), *e;
        assert_non_null(j);
        assert_string_equal(bt_js(j, "id"), x->delivery);
        if (!all)
            assert_string_equal(x->event, "batch.completed");
        if (arr) {
            size_t k;
            char names[256] = "";
            grouped++;
            assert_true(json_array_size(arr) >= 1 && json_array_size(arr) <= 2);
            json_array_foreach(arr, k, e)
            {
                const char *ev = bt_js(e, "event");
                assert_true(strncmp(ev, "device.upgrade.", 15) == 0);
                if (!strstr(names, ev))
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                             names[0] ? "," : "", ev);
                json_t *d = json_object_get(e, "data");
                assert_string_equal(bt_js(d, "batchId"), batch);
                assert_string_equal(bt_js(d, "firmwareVersion"), "2.0.0");
                if (strcmp(bt_js(d, "identifier"), "d3") == 0) {
                    assert_string_equal(ev, "device.upgrade.failed");
                    assert_string_equal(bt_js(d, "failReason"), "download_failed");
                }
            }
            assert_string_equal(x->event, names);
        } else {
            assert_string_equal(bt_js(j, "event"), x->event);
            assert_non_null(json_object_get(j, "data"));
            if (strncmp(x->event, "batch.", 6) == 0)
                assert_string_equal(bt_js(json_object_get(j, "data"), "batchId"), batch);
            if (strcmp(x->event, "batch.completed") == 0)
                assert_string_equal(bt_js(json_object_get(j, "data"), "state"), "completed");
            if (strncmp(x->event, "firmware.", 9) == 0)
                assert_string_equal(bt_js(json_object_get(j, "data"), "firmwareId"), fw);
        }
        json_decref(j);
    }
    pthread_mutex_unlock(&rv->mu);
    assert_true(grouped >= 1);
    /* the one-event webhook got nothing else */
    assert_int_equal(count_event(rv, "/done", "batch.created"), 0);

    /* the delivery log: every attempt delivered with 200; no backlog left */
    snprintf(path, sizeof path, "/api/v1/webhooks/%s/deliveries?limit=100", a);
    assert_int_equal(bt_get(t, &r, "%s", path), 200);
    json_t *items = json_object_get(r.json, "items"), *it;
    size_t k;
    assert_true(json_array_size(items) >= 5);
    json_array_foreach(items, k, it)
    {
        assert_string_equal(bt_js(it, "result"), "delivered");
        assert_int_equal(bt_int(it, "status"), 200);
    }
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/api/v1/webhooks/%s", a), 200);
    assert_int_equal(bt_int(r.json, "backlog"), 0);
    assert_null(strstr(r.body, "secret-of"));
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "/metrics"), 200);
    assert_non_null(strstr(r.body, "ota_webhook_backlog 0\n"));
    assert_null(strstr(r.body, "ota_webhook_deliveries_total{result=\"delivered\"} 0\n"));
    oth_resp_free(&r);
}

/* The attempts of delivery id in webhook hook's log, oldest first, as "status/result,". */
static void attempts_of(bt_ctx *t, const char *hook, const char *id, char *out, size_t cap)
{
    oth_resp r;
    json_t *items, *it;
    size_t k;
    out[0] = '\0';
    assert_int_equal(bt_get(t, &r, "/api/v1/webhooks/%s/deliveries?limit=1000", hook), 200);
    items = json_object_get(r.json, "items");
    for (size_t i = json_array_size(items); i-- > 0;) {
        it = json_array_get(items, i);
        if (strcmp(bt_js(it, "deliveryId"), id) != 0)
            continue;
        k = strlen(out);
        snprintf(out + k, cap - k, "%d/%s,", bt_int(it, "status"), bt_js(it, "result"));
    }
    oth_resp_free(&r);
}

static void ping(bt_ctx *t, const char *hook, char *id, size_t cap)
{
    oth_resp r;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/webhooks/%s/ping", hook);
    assert_int_equal(req(t, "POST", path, NULL, &r), 202);
    bt_id_text(json_object_get(r.json, "deliveryId"), id, cap);
    oth_resp_free(&r);
}

static void wait_attempts(bt_ctx *t, const char *hook, const char *id, const char *want)
{
    char got[512] = "";
    int64_t until = oth_now_ms() + WAIT_MS;
    while (oth_now_ms() < until) {
        attempts_of(t, hook, id, got, sizeof got);
        if (strcmp(got, want) == 0)
            return;
        oth_sleep_ms(100);
    }
    oth_dump_logs(&t->env);
    fail_msg("delivery %s: attempts %s, want %s", id, got, want);
}

/* The operator's pause, resume and terminate each deliver their event, with the batch's
 * state after it; a webhook subscribed to these three gets nothing else; neither the
 * secret nor a key in the URL's query is in a log line. */
#define LIFE "/life?key=receiver-key-in-the-query"
static void test_pause_resume_terminate_events(void **state)
{
    hk *h = *state;
    recv_t *rv = h->rv;
    char wh[32], fw[32], batch[32], path[128], body[512];
    static const char *const evs[3][2] = {{"batch.paused", "paused"},
                                          {"batch.resumed", "in_progress"},
                                          {"batch.terminated", "terminated"}};
    static const char *const verbs[3] = {"pause", "resume", "terminate"};
    oth_resp r;
    recv_up(rv);
    bt_ctx *t = start(h, NULL);
    webhook(t, rv, LIFE, "secret-of-the-life-cycle",
            "[\"batch.paused\",\"batch.resumed\",\"batch.terminated\"]", NULL, wh, sizeof wh);
    bt_product(t, "hooks-life");
    bt_device(t, "off1");
    /* offline: its task waits, so the batch stays running until the operator acts */
    bt_dev_activated_offline(t, "off1", "1.0.0", SDEV_AUTO_UPGRADE, 0);
    bt_firmware(t, "fw_life", "2.0.0", fw, sizeof fw);
    bt_body(body, sizeof body, "\"scope\":\"all\"", 60, 0, 0);
    bt_batch(t, fw, body, batch, sizeof batch);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/api/v1/batches/%s/%s", batch, verbs[i]);
        assert_int_equal(req(t, "POST", path, NULL, &r), 200);
        oth_resp_free(&r);
        wait_event(t, rv, LIFE, evs[i][0], 1);
    }
    pthread_mutex_lock(&rv->mu);
    int seen = 0;
    for (int i = 0; i < rv->n; i++) {
        hit *x = &rv->hits[i];
        assert_true(hmac_ok("secret-of-the-life-cycle", x->body, x->signature));
        json_t *j = json_loads(x->body, 0, NULL), *d = json_object_get(j, "data");
        assert_non_null(d);
        assert_string_equal(bt_js(j, "event"), x->event);
        assert_string_equal(bt_js(d, "batchId"), batch);
        for (int k = 0; k < 3; k++)
            if (strcmp(x->event, evs[k][0]) == 0) {
                assert_string_equal(bt_js(d, "state"), evs[k][1]);
                seen |= 1 << k;
            }
        json_decref(j);
    }
    pthread_mutex_unlock(&rv->mu);
    assert_int_equal(seen, 7);
    assert_int_equal(count_event(rv, LIFE, "batch.created"), 0);
    char log[600];
    snprintf(log, sizeof log, "%s/otad.log", t->env.dir);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[4096];
    int created = 0;
    while (fgets(line, sizeof line, f)) {
        assert_null(strstr(line, "secret-of-the-life-cycle"));
        assert_null(strstr(line, "receiver-key-in-the-query"));
        created += strstr(line, "/..., events") != NULL;
    }
    assert_int_equal(created, 1);
    fclose(f);
}

/* The rollout events: a batch in two phases delivers batch.phase.started when its second
 * phase starts (phase 2, its devices), and a batch whose brake fires delivers
 * batch.aborted with state aborted. */
static void test_rollout_events(void **state)
{
    hk *h = *state;
    recv_t *rv = h->rv;
    char wh[32], fw[32], b1[32], b2[32];
    recv_up(rv);
    bt_ctx *t = start(h, NULL);
    webhook(t, rv, "/roll", "secret-of-the-rollouts", "[\"batch.phase.started\",\"batch.aborted\"]",
            NULL, wh, sizeof wh);
    three_devices(t, "hooks-roll", "r");
    /* two phases of one device each, then a brake that aborts at the first failure */
    static const char *const batches[2][3] = {
        {"2.0.0", "\"r1\",\"r2\"", "\"phases\":[{\"count\":1},{\"count\":1}]"},
        {"3.0.0", "\"r3\"",
         "\"abort\":[{\"reason\":\"any\",\"thresholdPercent\":1,\"action\":\"abort\"}]"}};
    char *out[2] = {b1, b2};
    for (int i = 0; i < 2; i++) {
        char name[32], body[512];
        snprintf(name, sizeof name, "fw_roll_%d", i);
        bt_firmware(t, name, batches[i][0], fw, sizeof fw);
        snprintf(body, sizeof body,
                 "{\"scope\":\"directed\",\"identifiers\":[%s],\"validityDays\":7,"
                 "\"policy\":\"standard\",\"timeoutMinutes\":1440,\"retryTimes\":0,"
                 "\"rollout\":{%s}}",
                 batches[i][1], batches[i][2]);
        bt_batch(t, fw, body, out[i], 32);
        json_decref(bt_wait_batch(t, out[i], i ? "aborted" : "completed", WAIT_MS));
        wait_event(t, rv, "/roll", i ? "batch.aborted" : "batch.phase.started", 1);
    }
    pthread_mutex_lock(&rv->mu);
    for (int i = 0; i < rv->n; i++) {
        hit *x = &rv->hits[i];
        assert_true(hmac_ok("secret-of-the-rollouts", x->body, x->signature));
        json_t *j = json_loads(x->body, 0, NULL), *d = json_object_get(j, "data");
        assert_non_null(d);
        if (strcmp(x->event, "batch.phase.started") == 0) {
            assert_string_equal(bt_js(d, "batchId"), b1);
            assert_int_equal(json_integer_value(json_object_get(d, "phase")), 2);
        } else {
            assert_string_equal(x->event, "batch.aborted");
            assert_string_equal(bt_js(d, "batchId"), b2);
            assert_string_equal(bt_js(d, "state"), "aborted");
        }
        json_decref(j);
    }
    pthread_mutex_unlock(&rv->mu);
}

static void test_retries_until_delivered(void **state)
{
    hk *h = *state;
    recv_t *rv = h->rv;
    char hook[32], d1[32], d2[32], got[512];
    rv->fail_first = 2;
    recv_up(rv);
    bt_ctx *t = start(h, NULL);
    webhook(t, rv, "/r", "retry-secret-0123", "[\"batch.created\"]", NULL, hook, sizeof hook);

    /* 503 twice, then 200: three attempts of one delivery, same id and bytes each time */
    ping(t, hook, d1, sizeof d1);
    wait_attempts(t, hook, d1, "503/failed,503/failed,200/delivered,");
    pthread_mutex_lock(&rv->mu);
    assert_int_equal(rv->n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(rv->hits[i].delivery, d1);
        assert_string_equal(rv->hits[i].event, "ping");
        assert_string_equal(rv->hits[i].body, rv->hits[0].body);
        assert_true(hmac_ok("retry-secret-0123", rv->hits[i].body, rv->hits[i].signature));
    }
    pthread_mutex_unlock(&rv->mu);

    /* the receiver down (connections closed unanswered): attempts fail with no status and
     * go on until it is back */
    atomic_store(&rv->down, 1);
    ping(t, hook, d2, sizeof d2);
    int64_t until = oth_now_ms() + WAIT_MS;
    do {
        oth_sleep_ms(100);
        attempts_of(t, hook, d2, got, sizeof got);
    } while (strncmp(got, "0/failed,0/failed,", 18) != 0 && oth_now_ms() < until);
    assert_memory_equal(got, "0/failed,0/failed,", 18);
    atomic_store(&rv->down, 0);
    until = oth_now_ms() + WAIT_MS;
    do {
        oth_sleep_ms(100);
        attempts_of(t, hook, d2, got, sizeof got);
    } while (!strstr(got, "200/delivered,") && oth_now_ms() < until);
    assert_non_null(strstr(got, "200/delivered,"));
    /* nothing after the delivered attempt */
    assert_string_equal(strstr(got, "200/delivered,"), "200/delivered,");
}

static void test_kill9_loses_nothing(void **state)
{
    hk *h = *state;
    recv_t *rv = h->rv;
    char hook[32], fws[4][32];
    static const char *const env[] = {"OTA_WEBHOOK_TIMEOUT", "2", NULL};
    rv->delay_ms = 1200; /* slow: deliveries are under way when otad dies */
    recv_up(rv);
    bt_ctx *t = start(h, env);
    webhook(t, rv, "/k", "kill-secret-01234", "[\"firmware.created\"]", NULL, hook, sizeof hook);
    bt_product(t, "hooks_k");
    for (int i = 0; i < 4; i++) {
        char name[32], ver[16];
        snprintf(name, sizeof name, "fw_k%d", i);
        snprintf(ver, sizeof ver, "1.%d.0", i);
        bt_firmware(t, name, ver, fws[i], sizeof fws[i]);
    }
    /* let the worker start some of them, then kill it mid-flight */
    int64_t until = oth_now_ms() + WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&rv->mu);
        int n = rv->n;
        pthread_mutex_unlock(&rv->mu);
        if (n >= 1 || oth_now_ms() > until)
            break;
        oth_sleep_ms(20);
    }
    assert_int_equal(oth_otad_stop(&t->env, SIGKILL), 0);
    rv->delay_ms = 0;
    if (oth_otad_start(&t->env) != 0) {
        oth_dump_logs(&t->env);
        fail_msg("otad did not start again");
    }
    wait_event(t, rv, "/k", "firmware.created", 4);
    /* ... and the store knows them delivered: no backlog */
    oth_resp r;
    int64_t backlog = -1;
    until = oth_now_ms() + WAIT_MS;
    while (backlog != 0 && oth_now_ms() < until) {
        assert_int_equal(bt_get(t, &r, "/api/v1/webhooks/%s", hook), 200);
        backlog = bt_int(r.json, "backlog");
        oth_resp_free(&r);
        if (backlog)
            oth_sleep_ms(100);
    }
    assert_int_equal(backlog, 0);

    /* every firmware's event answered 2xx; several requests for one event only as the same
     * delivery with the same bytes */
    pthread_mutex_lock(&rv->mu);
    for (int f = 0; f < 4; f++) {
        const char *first_delivery = NULL, *first_body = NULL;
        int answered = 0;
        for (int i = 0; i < rv->n; i++) {
            json_t *j = json_loads(rv->hits[i].body, 0, NULL);
            int mine = strcmp(bt_js(json_object_get(j, "data"), "firmwareId"), fws[f]) == 0;
            json_decref(j);
            if (!mine)
                continue;
            if (!first_delivery) {
                first_delivery = rv->hits[i].delivery;
                first_body = rv->hits[i].body;
            }
            assert_string_equal(rv->hits[i].delivery, first_delivery);
            assert_string_equal(rv->hits[i].body, first_body);
            answered += rv->hits[i].answered == 200;
        }
        assert_non_null(first_delivery);
        assert_true(answered >= 1);
    }
    pthread_mutex_unlock(&rv->mu);
}

/* Two otad on one store (instances a and b), both sending: every delivery reaches the
 * receiver exactly once (no crash, so no repeat), whichever otad leased it. */
static void test_two_otad_one_delivery_each(void **state)
{
    hk *h = *state;
    recv_t *rv = h->rv;
    char hook[32], ids[30][32], url[128];
    static const char *const env[] = {"OTA_INSTANCE", "a", NULL};
    rv->delay_ms = 200; /* deliveries overlap, so both workers find due ones at once */
    recv_up(rv);
    bt_ctx *t = start(h, env);
    h->otad_b = oth_otad_start_instance(&t->env, "b", url, sizeof url);
    assert_true(h->otad_b > 0);
    webhook(t, rv, "/two", "two-otad-secret-0123", "[\"batch.created\"]", NULL, hook, sizeof hook);
    for (int i = 0; i < 30; i++)
        ping(t, hook, ids[i], sizeof ids[i]);
    wait_event(t, rv, "/two", "ping", 30);
    oth_sleep_ms(1500); /* a second sending of any of them would show by now */
    pthread_mutex_lock(&rv->mu);
    assert_int_equal(rv->n, 30);
    for (int i = 0; i < 30; i++) {
        int seen = 0;
        for (int k = 0; k < rv->n; k++)
            seen += strcmp(rv->hits[k].delivery, ids[i]) == 0;
        assert_int_equal(seen, 1);
    }
    pthread_mutex_unlock(&rv->mu);
}

static void expect_bad(bt_ctx *t, const char *method, const char *path, const char *body,
                       long status, const char *field)
{
    oth_resp r;
    long got = req(t, method, path, body, &r);
    if (got != status || strcmp(oth_err_field(&r), field) != 0) {
        fprintf(stderr, "%s %s %s: %ld %s\n", method, path, body ? body : "", got,
                r.body ? r.body : "");
        oth_resp_free(&r);
        fail_msg("want %ld naming %s", status, field);
    }
    oth_resp_free(&r);
}

static void test_bad_input(void **state)
{
    hk *h = *state;
    char hook[32], path[96], big[3100];
    bt_ctx *t = start(h, NULL);
    static const struct {
        const char *body;
        long status;
        const char *field;
    } bad[] = {
        {"{\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 422, "url"},
        {"{\"url\":5,\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 400, "url"},
        {"{\"url\":\"ftp://h/x\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 422, "url"},
        {"{\"url\":\"http://\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 422, "url"},
        {"{\"url\":\"http://:80/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 422,
         "url"},
        {"{\"url\":\"http://u:p@h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 422,
         "url"},
        {"{\"url\":\"http://h/a b\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", 422,
         "url"},
        {"{\"url\":\"http://h/\",\"events\":[\"*\"]}", 422, "secret"},
        {"{\"url\":\"http://h/\",\"secret\":\"short\",\"events\":[\"*\"]}", 422, "secret"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\\n\",\"events\":[\"*\"]}", 422,
         "secret"},
        {"{\"url\":\"http://h/\",\"secret\":[],\"events\":[\"*\"]}", 400, "secret"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\"}", 422, "events"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":\"*\"}", 400, "events"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[]}", 422, "events"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"nope\"]}", 422,
         "events"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"ping\"]}", 422,
         "events"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[1]}", 400, "events"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],"
         "\"enabled\":\"yes\"}",
         400, "enabled"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],"
         "\"groupMaxEvents\":0}",
         422, "groupMaxEvents"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],"
         "\"groupMaxEvents\":1001}",
         422, "groupMaxEvents"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],"
         "\"groupMaxEvents\":\"5\"}",
         400, "groupMaxEvents"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],"
         "\"groupSeconds\":-1}",
         422, "groupSeconds"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],"
         "\"groupSeconds\":3601}",
         422, "groupSeconds"},
        {"{\"url\":\"http://h/\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"],\"x\":1}", 400,
         "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(t, "POST", "/api/v1/webhooks", bad[i].body, bad[i].status, bad[i].field);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char body[3300];
    snprintf(body, sizeof body,
             "{\"url\":\"http://h/%s\",\"secret\":\"0123456789abcdef\",\"events\":[\"*\"]}", big);
    expect_bad(t, "POST", "/api/v1/webhooks", body, 422, "url");
    snprintf(body, sizeof body, "{\"url\":\"http://h/\",\"secret\":\"%.300s\",\"events\":[\"*\"]}",
             big);
    expect_bad(t, "POST", "/api/v1/webhooks", body, 422, "secret");
    oth_resp r;
    assert_int_equal(bt_get(t, &r, "/api/v1/webhooks"), 200);
    assert_int_equal(bt_int(r.json, "total"), 0); /* nothing half-made */
    oth_resp_free(&r);

    /* a good one; then PATCH and the log's paging refuse bad values the same way */
    recv_t *rv = h->rv;
    rv->port = oth_free_port();
    webhook(t, rv, "/x", "0123456789abcdef-secret", "[\"batch.created\"]", NULL, hook, sizeof hook);
    snprintf(path, sizeof path, "/api/v1/webhooks/%s", hook);
    expect_bad(t, "PATCH", path, "{\"events\":[\"batch.nope\"]}", 422, "events");
    expect_bad(t, "PATCH", path, "{\"url\":\"mailto:x\"}", 422, "url");
    expect_bad(t, "PATCH", path, "{\"secret\":\"\"}", 422, "secret");
    expect_bad(t, "PATCH", "/api/v1/webhooks/999", "{\"enabled\":false}", 404, "webhookId");
    expect_bad(t, "PATCH", "/api/v1/webhooks/abc", "{\"enabled\":false}", 404, "webhookId");
    expect_bad(t, "DELETE", "/api/v1/webhooks/999", NULL, 404, "webhookId");
    expect_bad(t, "POST", "/api/v1/webhooks/999/ping", NULL, 404, "webhookId");
    snprintf(path, sizeof path, "/api/v1/webhooks/%s/deliveries?limit=0", hook);
    expect_bad(t, "GET", path, NULL, 400, "limit");
    snprintf(path, sizeof path, "/api/v1/webhooks/%s/deliveries?cursor=x", hook);
    expect_bad(t, "GET", path, NULL, 400, "cursor");

    /* a good PATCH changes only what it names; the secret stays unseen */
    snprintf(path, sizeof path, "/api/v1/webhooks/%s", hook);
    assert_int_equal(req(t, "PATCH", path,
                         "{\"enabled\":false,\"events\":[\"firmware.deleted\",\"batch.created\"],"
                         "\"secret\":\"another-secret-0123\"}",
                         &r),
                     200);
    assert_false(json_is_true(json_object_get(r.json, "enabled")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "events"), 0)),
                        "batch.created");
    assert_int_equal(bt_int(r.json, "groupMaxEvents"), 500);
    assert_null(strstr(r.body, "secret-0123"));
    assert_null(json_object_get(r.json, "secret"));
    oth_resp_free(&r);

    /* audit rows of the changes, without the secret */
    assert_int_equal(bt_get(t, &r, "/api/v1/audit?action=webhook.update"), 200);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 1);
    assert_null(strstr(r.body, "secret-0123"));
    oth_resp_free(&r);
    char obj[128];
    snprintf(obj, sizeof obj, "/api/v1/audit?action=webhook.create&object=webhook:%s", hook);
    assert_int_equal(bt_get(t, &r, "%s", obj), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    oth_resp_free(&r);

    assert_int_equal(req(t, "DELETE", path, NULL, &r), 204);
    oth_resp_free(&r);
    assert_int_equal(bt_get(t, &r, "%s", path), 404);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_run_signed_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume_terminate_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_until_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_otad_one_delivery_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
