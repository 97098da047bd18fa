/*
 * A RabbitMQ cluster as the device broker (docs/broker.md, "RabbitMQ"): two RabbitMQ 3.10
 * nodes of this machine (rabbitmq_cluster.sh: their own names, ports, folders, cookie and
 * epmd) with the MQTT plugin, the HTTP auth backend asking otad's
 * /api/v1/broker/rabbitmq/{token}/... routes, and the management API from which otad reads
 * presence (OTA_RABBITMQ_API). No Mosquitto anywhere. Checked:
 *  - otad becomes healthy (200) with presence from the management API alone;
 *  - logins: a device with its secret is admitted on either node, a wrong secret is
 *    refused (CONNACK 5), a client id other than the username is refused;
 *  - ACL: a device may not subscribe to another device's topics;
 *  - devices on both nodes are online in the API; a batch to all of them completes;
 *  - a second batch, paced; node 2 is stopped in the middle of it; its devices reconnect to
 *    node 1 and report their version; the batch completes with every device succeeded and
 *    no attempt pushed twice.
 * Slow to start (two Erlang nodes, a minute on a loaded machine), so it runs only under
 * `make test-rabbitmq` (OTA_TEST_RABBITMQ=1); elsewhere it is skipped with a message.
 */
#include "test_batch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_DEV 12 /* even: half on each node */
#define RMQ_SCRIPT OTA_SOURCE_DIR "/tests/integration/rabbitmq_cluster.sh"

typedef struct {
    int amqp, dist, mqtt, mgmt;
} rmq_node;

static char rmq_dir[300];
static int rmq_up;

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = 0;
}

static int teardown_all(void **state)
{
    if (rmq_up) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "bash %s stop %s", RMQ_SCRIPT, rmq_dir);
        run(cmd);
        rmq_up = 0;
    }
    return bt_teardown(state);
}

/* A device of the product logged in to the node on mqtt_port, reporting ver, answering
 * pushes by itself. */
static sdev *dev_on(bt_ctx *t, int mqtt_port, const char *id, const char *ver)
{
    int keep = t->env.mqtt_port;
    t->env.mqtt_port = mqtt_port;
    sdev *d = bt_dev_start(t, id, ver, SDEV_AUTO_UPGRADE, 0);
    t->env.mqtt_port = keep;
    sdev_set_auto_delay(d, 30);
    return d;
}

/* Waits until the API counts n devices of the product online. */
static void wait_online(bt_ctx *t, int n, int timeout_ms)
{
    int got = -1;
    for (int64_t end = oth_now_ms() + timeout_ms; oth_now_ms() < end; oth_sleep_ms(100)) {
        oth_resp r;
        if (bt_get(t, &r, "/api/v1/products/%s/devices?online=true&pageSize=1", t->pk) == 200)
            got = bt_int(r.json, "total");
        oth_resp_free(&r);
        if (got == n)
            return;
    }
    fail_msg("%d devices online, expected %d", got, n);
}

static void test_rabbitmq_cluster(void **state)
{
    if (!getenv("OTA_TEST_RABBITMQ") || strcmp(getenv("OTA_TEST_RABBITMQ"), "1") != 0) {
        printf("test_rabbitmq: skipped: two Erlang nodes take a minute to start; "
               "`make test-rabbitmq` runs this test (OTA_TEST_RABBITMQ=1)\n");
        skip();
    }
    if (access("/usr/lib/rabbitmq/bin/rabbitmq-server", X_OK) != 0)
        fail_msg("RabbitMQ is missing: apt-get install rabbitmq-server (make test-rabbitmq "
                 "installs it)");

    char cmd[2048], path[400], token[80], pass[80], api[512], fw1[32], fw2[32], b1[32], b2[32];
    char body[512];
    bt_ctx *t = bt_alloc(state);
    rmq_node n[2];
    for (int i = 0; i < 2; i++) {
        n[i].amqp = oth_free_port();
        n[i].dist = oth_free_port();
        n[i].mqtt = oth_free_port();
        n[i].mgmt = oth_free_port();
    }
    int epmd = oth_free_port();
    snprintf(rmq_dir, sizeof rmq_dir, "%s/rabbitmq", t->env.dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && OTA_DATA_DIR=%s %s/server/otad --broker-token > %s/broker.token",
             rmq_dir, t->env.dir, OTA_BUILD_DIR, rmq_dir);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "bash %s start %s %d http://127.0.0.1:%d %d:%d:%d:%d %d:%d:%d:%d",
             RMQ_SCRIPT, rmq_dir, epmd, t->env.http_port, n[0].amqp, n[0].dist, n[0].mqtt,
             n[0].mgmt, n[1].amqp, n[1].dist, n[1].mqtt, n[1].mgmt);
    int64_t t0 = oth_now_ms();
    rmq_up = 1;
    if (run(cmd) != 0)
        fail_msg("the RabbitMQ cluster did not start (logs in %s/n*/log)", rmq_dir);
    printf("RabbitMQ: two nodes up and clustered in %lld ms\n", (long long)(oth_now_ms() - t0));
    snprintf(path, sizeof path, "%s/broker.token", rmq_dir);
    read_file(path, token, sizeof token);
    snprintf(path, sizeof path, "%s/admin.pass", rmq_dir);
    read_file(path, pass, sizeof pass);

    /* otad on node 1, presence from the management API of either node */
    snprintf(api, sizeof api, "http://ota-admin:%s@127.0.0.1:%d,http://ota-admin:%s@127.0.0.1:%d",
             pass, n[0].mgmt, pass, n[1].mgmt);
    oth_env_set(&t->env, "OTA_RABBITMQ_API", api);
    oth_env_set(&t->env, "OTA_RABBITMQ_POLL_MS", "500");
    oth_env_set(&t->env, "OTA_LOG_LEVEL", "debug"); /* RabbitMQ's calls are logged at debug */
    /* scale 20: the ack timeout 500 ms, retryIntervalMinutes 1 = 3 s */
    oth_env_set(&t->env, "OTA_TIME_SCALE", "20");
    t->env.mqtt_port = n[0].mqtt;
    t0 = oth_now_ms();
    if (oth_otad_start(&t->env) != 0)
        fail_msg("otad did not become healthy on RabbitMQ (log %s/otad.log)", t->env.dir);
    t->up = 1;
    printf("otad healthy on RabbitMQ in %lld ms\n", (long long)(oth_now_ms() - t0));

    bt_product(t, "rabbit");
    /* logins and ACL through otad's routes */
    bt_device(t, "probe");
    {
        char cid[80];
        snprintf(cid, sizeof cid, "%s.probe", t->pk);
        sdev *wrong = bt_keep(t, sdev_new_client(n[1].mqtt, cid, cid, "0123456789abcdef0123456789abcdef"));
        /* refused: RabbitMQ answers 4 (bad user name or password) where Mosquitto says 5 */
        int ca = sdev_login(wrong); /* a wrong secret */
        printf("a wrong secret: CONNACK %d\n", ca);
        assert_true(ca == 4 || ca == 5);
        char secret[40], other[80];
        assert_int_equal(oth_device_secret(&t->env, t->pk, "probe", secret), 0);
        snprintf(other, sizeof other, "%s.someone", t->pk);
        sdev *cidx = bt_keep(t, sdev_new_client(n[1].mqtt, other, cid, secret));
        ca = sdev_login(cidx); /* the client id is not the username */
        printf("a client id other than the username: CONNACK %d\n", ca);
        assert_true(ca == 4 || ca == 5);
    }
    sdev *probe = dev_on(t, n[1].mqtt, "probe", "1.0.0");
    char foreign[160];
    snprintf(foreign, sizeof foreign, "/sys/%s/h0/ota/firmware/upgrade", t->pk);
    int granted = sdev_subscribe(probe, foreign);
    printf("a device subscribing to another device's topic: %d\n", granted);
    /* refused: RabbitMQ 3.10 closes the connection (no SUBACK) where Mosquitto answers 0x80 */
    assert_true(granted != 0 && granted != 1);

    /* publishing on another device's topic: RabbitMQ closes the connection as well */
    bt_device(t, "probe2");
    sdev *probe2 = dev_on(t, n[0].mqtt, "probe2", "1.0.0");
    snprintf(foreign, sizeof foreign, "/sys/%s/h0/ota/version", t->pk);
    int prc = sdev_publish(probe2, foreign, "{\"msgId\":\"x\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":\"6.6.6\"}}");
    printf("a device publishing on another device's topic: %s\n", prc == 0 ? "PUBACK" : "no PUBACK (closed)");
    sdev_disconnect(probe2);

    sdev *d[N_DEV];
    for (int i = 0; i < N_DEV; i++) {
        char id[16];
        snprintf(id, sizeof id, "h%d", i);
        bt_device(t, id);
        d[i] = dev_on(t, n[i % 2].mqtt, id, "1.0.0");
    }
    wait_online(t, N_DEV, 30000); /* the probe was disconnected */

    /* batch 1: every device, on both nodes */
    bt_firmware(t, "rabbit-fw", "2.0.0", fw1, sizeof fw1);
    snprintf(body, sizeof body,
             "{\"scope\":\"directed\",\"identifiers\":[\"h0\",\"h1\",\"h2\",\"h3\",\"h4\",\"h5\","
             "\"h6\",\"h7\",\"h8\",\"h9\",\"h10\",\"h11\"],\"validityDays\":1,\"policy\":\"standard\","
             "\"timeoutMinutes\":1,\"retryTimes\":3,\"retryIntervalMinutes\":1}");
    bt_batch(t, fw1, body, b1, sizeof b1);
    json_t *bj = bt_wait_batch(t, b1, "completed", 60000);
    assert_int_equal(bt_int(bj, "succeeded"), N_DEV);
    json_decref(bj);

    /* batch 2, paced; node 2 stops in the middle; its devices come back on node 1 */
    unsigned char *bytes = bt_fw_bytes(4096, 3);
    bt_firmware_data(t, "rabbit-fw3", "3.0.0", bytes, 4096, fw2, sizeof fw2);
    free(bytes);
    snprintf(body, sizeof body,
             "{\"scope\":\"directed\",\"identifiers\":[\"h0\",\"h1\",\"h2\",\"h3\",\"h4\",\"h5\","
             "\"h6\",\"h7\",\"h8\",\"h9\",\"h10\",\"h11\"],\"validityDays\":1,\"policy\":\"standard\","
             "\"timeoutMinutes\":1,\"retryTimes\":5,\"retryIntervalMinutes\":1,\"maxPushPerMinute\":60}");
    bt_batch(t, fw2, body, b2, sizeof b2);
    for (int64_t end = oth_now_ms() + 30000;; oth_sleep_ms(50)) {
        json_t *b = bt_batch_get(t, b2);
        int ok = b && bt_int(b, "succeeded") >= 2;
        json_decref(b);
        if (ok)
            break;
        if (oth_now_ms() > end)
            fail_msg("batch 2 made no progress");
    }
    t0 = oth_now_ms();
    snprintf(cmd, sizeof cmd, "bash %s stop-node %s 2", RMQ_SCRIPT, rmq_dir);
    assert_int_equal(run(cmd), 0);
    printf("node 2 stopped in %lld ms\n", (long long)(oth_now_ms() - t0));
    for (int i = 1; i < N_DEV; i += 2) { /* the devices of node 2, as a device would: reconnect */
        char id[16];
        snprintf(id, sizeof id, "h%d", i);
        json_t *task = bt_task(t, b2, id);
        const char *ver = task && strcmp(bt_js(task, "upgradeState"), "succeeded") == 0 ? "3.0.0" : "2.0.0";
        d[i] = dev_on(t, n[0].mqtt, id, ver);
        json_decref(task);
    }
    bj = bt_wait_batch(t, b2, "completed", 120000);
    bt_expect_all_succeeded(bj, d, N_DEV, "h");
    json_decref(bj);
    /* the broker token travels in RabbitMQ's request paths: otad's log must not show it */
    char logp[400], line[1024];
    snprintf(logp, sizeof logp, "%s/otad.log", t->env.dir);
    FILE *lf = fopen(logp, "r");
    assert_non_null(lf);
    int leaks = 0, asked = 0;
    while (fgets(line, sizeof line, lf)) {
        leaks += strstr(line, token) != NULL;
        asked += strstr(line, "/api/v1/broker/rabbitmq/{token}/") != NULL;
    }
    fclose(lf);
    assert_int_equal(leaks, 0);
    assert_true(asked > 0);
    /* health stayed up without Mosquitto's snapshot */
    oth_resp r;
    assert_int_equal(oth_http(&t->env, "GET", "/api/v1/health", 0, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rabbitmq_cluster, teardown_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
