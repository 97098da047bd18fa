/*
 * Integration tests of the server's MQTT client module (server/mqtt/mqttc.c) against the
 * real broker with the ota_auth plugin: connection and subscriptions, device messages and
 * presence through the callbacks, the presence snapshot after (re)connect, reconnect with
 * backoff after the broker is killed and restarted, the persistent session keeping QoS 1
 * messages published while otad was away, the publish rate, and where libmosquitto sends
 * the PUBACK relative to the message callback (docs/broker.md, "PUBACK").
 */
#include "scripted_device.h"
#include "mqttc.h"
#include "ota_crypto.h"
#include "ota_harness.h"
#include "ota_time.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static oth_env env;

/* What the callbacks saw. */
typedef struct {
    pthread_mutex_t lock;
    int ups, downs;
    bool up;
    int snapshots;
    char snap[64][100];
    size_t snap_n;
    int ons, offs;
    char last_presence[100];
    bool last_online;
    int msgs;
    char last_suffix[80], last_cid[100], last_payload[256];
    char order[64][32]; /* payloads in arrival order (persistent session test) */
    int clocks;
    int64_t clock_sent[4096]; /* clock probes back: their send time, */
    int clock_msgs[4096];     /* and how many device messages had arrived before each */
} seen_t;

static seen_t seen;

static void on_connection(void *ud, bool up)
{
    seen_t *s = ud;
    pthread_mutex_lock(&s->lock);
    if (up)
        s->ups++;
    else
        s->downs++;
    s->up = up;
    pthread_mutex_unlock(&s->lock);
}

static void on_presence(void *ud, const char *pk, const char *id, bool online, int64_t t)
{
    seen_t *s = ud;
    (void)t;
    pthread_mutex_lock(&s->lock);
    if (online)
        s->ons++;
    else
        s->offs++;
    snprintf(s->last_presence, sizeof s->last_presence, "%s.%s", pk, id);
    s->last_online = online;
    pthread_mutex_unlock(&s->lock);
}

static void on_snapshot(void *ud, const char *const *clients, size_t n)
{
    seen_t *s = ud;
    pthread_mutex_lock(&s->lock);
    s->snapshots++;
    s->snap_n = n;
    for (size_t i = 0; i < n && i < 64; i++)
        snprintf(s->snap[i], sizeof s->snap[i], "%s", clients[i]);
    pthread_mutex_unlock(&s->lock);
}

static void on_device_message(void *ud, const char *pk, const char *id, const char *suffix,
                              const void *payload, size_t len)
{
    seen_t *s = ud;
    pthread_mutex_lock(&s->lock);
    if (s->msgs < 64)
        snprintf(s->order[s->msgs], sizeof s->order[0], "%.*s", (int)(len < 31 ? len : 31),
                 (const char *)payload);
    s->msgs++;
    snprintf(s->last_suffix, sizeof s->last_suffix, "%s", suffix);
    snprintf(s->last_cid, sizeof s->last_cid, "%s.%s", pk, id);
    snprintf(s->last_payload, sizeof s->last_payload, "%.*s", (int)len, (const char *)payload);
    pthread_mutex_unlock(&s->lock);
}

static void on_clock(void *ud, int64_t sent_ms)
{
    seen_t *s = ud;
    pthread_mutex_lock(&s->lock);
    if (s->clocks < 4096) {
        s->clock_sent[s->clocks] = sent_ms;
        s->clock_msgs[s->clocks] = s->msgs;
    }
    s->clocks++;
    pthread_mutex_unlock(&s->lock);
}

static const mqttc_callbacks CBS = {
    .on_connection = on_connection,
    .on_presence = on_presence,
    .on_presence_snapshot = on_snapshot,
    .on_device_message = on_device_message,
    .on_clock = on_clock,
};

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.lock);
    pthread_mutex_t l = seen.lock;
    memset(&seen, 0, sizeof seen);
    seen.lock = l;
    pthread_mutex_unlock(&seen.lock);
}

/* Polls until *counter >= want (under the lock) or timeout. */
static int wait_count(const int *counter, int want, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pthread_mutex_lock(&seen.lock);
        int v = *counter;
        pthread_mutex_unlock(&seen.lock);
        if (v >= want)
            return 0;
        sdev_sleep_ms(10);
    }
    return -1;
}

static mqttc *new_client_x(const char *client_id, bool clean, const char *group, seen_t *ud,
                           int clock_ms)
{
    static char pass[40];
    mqttc_config cfg = {0};
    ota_secret_server(env.key, pass, sizeof pass);
    cfg.host = "127.0.0.1";
    cfg.port = env.mqtt_port;
    cfg.client_id = client_id;
    cfg.username = "otad";
    cfg.password = pass;
    cfg.keepalive_s = 10;
    cfg.clean_session = clean;
    cfg.reconnect_min_ms = 200;
    cfg.reconnect_max_ms = 2000;
    cfg.shared_group = group;
    cfg.clock_ms = clock_ms;
    mqttc *m = mqttc_new(&cfg, &CBS, ud);
    assert_non_null(m);
    return m;
}

static mqttc *new_client(const char *client_id, bool clean)
{
    return new_client_x(client_id, clean, NULL, &seen, 0);
}

static int group_setup(void **state)
{
    (void)state;
    pthread_mutex_init(&seen.lock, NULL);
    setenv("OTA_BROKER_PART_SIZE", "3", 1);
    /* the client on its own, with the device topics where devices publish them (the
     * shared subscriptions below cannot take the partition topics: docs/broker.md,
     * "Partition topics"; test_broker checks the plugin's move) */
    setenv("OTA_BROKER_PARTITION_TOPICS", "false", 1);
    if (oth_env_init(&env) != 0 || oth_broker_start(&env) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    oth_env_cleanup(&env);
    return 0;
}

static void test_connect_messages_presence(void **state)
{
    (void)state;
    seen_reset();
    mqttc *m = new_client("otad-t1", true);
    assert_false(mqttc_is_connected(m));
    assert_int_equal(mqttc_publish_device(m, "pk1", "d1", "ota/firmware/upgrade", "{}", 2),
                     OTA_ENOCONN);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(mqttc_start(m), OTA_ESTATE);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    assert_true(mqttc_is_connected(m));
    assert_true(mqttc_presence_ready(m));
    assert_int_equal(seen.ups, 1);
    assert_int_equal(seen.snap_n, 0);

    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "d1");
    assert_non_null(d);
    assert_int_equal(wait_count(&seen.ons, 1, 1000), 0);
    assert_string_equal(seen.last_presence, "pk1.d1");
    assert_int_equal(sdev_subscribe(d, "/sys/pk1/d1/#"), 1);

    /* device -> server, each subscribed suffix */
    const char *sfx[] = {"ota/progress", "ota/version", "ota/firmware/get",
                         "ota/firmware/upgrade_reply"};
    for (int i = 0; i < 4; i++) {
        char topic[128];
        snprintf(topic, sizeof topic, "/sys/pk1/d1/%s", sfx[i]);
        assert_int_equal(sdev_publish(d, topic, "{\"msgId\":\"7\"}"), 0);
        assert_int_equal(wait_count(&seen.msgs, i + 1, 2000), 0);
        pthread_mutex_lock(&seen.lock);
        assert_string_equal(seen.last_suffix, sfx[i]);
        assert_string_equal(seen.last_cid, "pk1.d1");
        assert_string_equal(seen.last_payload, "{\"msgId\":\"7\"}");
        pthread_mutex_unlock(&seen.lock);
    }
    /* a topic the server does not subscribe to */
    assert_int_equal(sdev_publish(d, "/sys/pk1/d1/other", "x"), 0);
    sdev_sleep_ms(200);
    assert_int_equal(seen.msgs, 4);

    /* server -> device */
    assert_int_equal(mqttc_publish_device(m, "pk1", "d1", "ota/firmware/upgrade", "{\"p\":1}", 7),
                     OTA_OK);
    assert_true(sdev_wait_msg(d, 0, "/sys/pk1/d1/ota/firmware/upgrade", "{\"p\":1}", 2000) >= 0);
    /* bad arguments */
    assert_int_equal(mqttc_publish_device(m, "pk/1", "d1", "ota/x", "{}", 2), OTA_EINVAL);
    assert_int_equal(mqttc_publish_device(m, "pk1", "d+", "ota/x", "{}", 2), OTA_EINVAL);
    assert_int_equal(mqttc_publish_device(m, "pk1", "d1", "ota/#", "{}", 2), OTA_EINVAL);
    assert_int_equal(mqttc_publish_device(m, "pk1", "d1", "", "{}", 2), OTA_EINVAL);

    sdev_free(d);
    assert_int_equal(wait_count(&seen.offs, 1, 1000), 0);
    assert_false(seen.last_online);
    mqttc_stop(m);
    assert_false(mqttc_is_connected(m));
    assert_int_equal(seen.downs, 1);
    mqttc_destroy(m);
}

/* Clock probes come back in line with the device messages: a probe sent after the broker
 * acknowledged a device's message arrives after that message (what the engine's deadlines
 * rely on), and probes keep coming at about the configured interval. */
static void test_clock_probes_in_line(void **state)
{
    enum { N = 40 };
    int64_t acked[N];
    (void)state;
    seen_reset();
    mqttc *m = new_client_x("otad-clk", true, NULL, &seen, 20);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk1", "dclk");
    assert_non_null(d);
    for (int i = 0; i < N; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"msgId\":\"%d\"}", i);
        assert_int_equal(sdev_publish(d, "/sys/pk1/dclk/ota/progress", payload), 0);
        acked[i] = ota_time_now_ms(); /* the broker has it */
        if (i % 8 == 0)
            sdev_sleep_ms(30);
    }
    /* a probe sent after the last acknowledgement must come back */
    int64_t until = ota_time_now_ms() + 5000, last = 0;
    while (ota_time_now_ms() < until) {
        pthread_mutex_lock(&seen.lock);
        last = seen.clocks > 0 && seen.clocks <= 4096 ? seen.clock_sent[seen.clocks - 1] : 0;
        pthread_mutex_unlock(&seen.lock);
        if (last > acked[N - 1])
            break;
        sdev_sleep_ms(10);
    }
    assert_true(last > acked[N - 1]);
    pthread_mutex_lock(&seen.lock);
    int clocks = seen.clocks;
    assert_true(clocks < 4096);
    assert_int_equal(seen.msgs, N);
    for (int c = 0; c < clocks; c++) {
        if (c > 0)
            assert_true(seen.clock_sent[c] >= seen.clock_sent[c - 1]);
        /* every message acknowledged before this probe left was delivered before it */
        int before = 0;
        while (before < N && acked[before] < seen.clock_sent[c])
            before++;
        if (seen.clock_msgs[c] < before)
            fail_msg("probe %d (sent %lld) arrived after %d messages, but %d were acknowledged "
                     "before it was sent",
                     c, (long long)seen.clock_sent[c], seen.clock_msgs[c], before);
    }
    int64_t span = seen.clock_sent[clocks - 1] - seen.clock_sent[0];
    pthread_mutex_unlock(&seen.lock);
    /* about one probe per 20 ms (generous: a loaded machine delays the loop) */
    assert_true(clocks >= 2);
    assert_true(span / (clocks - 1) < 200);
    sdev_free(d);
    mqttc_destroy(m);
}

static void test_snapshot_of_connected_devices(void **state)
{
    (void)state;
    sdev *d[7];
    char id[16];
    seen_reset();
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "s%d", i);
        d[i] = sdev_open(env.mqtt_port, env.key, "pk2", id);
        assert_non_null(d[i]);
    }
    mqttc *m = new_client("otad-t2", true);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    assert_int_equal(seen.snap_n, 7); /* 3 parts of at most 3 */
    for (int i = 0; i < 7; i++) {
        char cid[32];
        int found = 0;
        snprintf(cid, sizeof cid, "pk2.s%d", i);
        for (size_t k = 0; k < seen.snap_n; k++)
            found += strcmp(seen.snap[k], cid) == 0;
        assert_int_equal(found, 1);
    }
    for (int i = 0; i < 7; i++)
        sdev_free(d[i]);
    mqttc_destroy(m);
}

static void test_reconnect_after_broker_restart(void **state)
{
    (void)state;
    seen_reset();
    mqttc *m = new_client("otad-t3", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);

    assert_int_equal(oth_broker_stop(&env, SIGKILL), 0);
    assert_int_equal(wait_count(&seen.downs, 1, 5000), 0);
    assert_false(mqttc_is_connected(m));
    assert_false(mqttc_presence_ready(m));
    assert_int_equal(mqttc_publish_device(m, "pk1", "d1", "ota/firmware/upgrade", "{}", 2),
                     OTA_ENOCONN);
    sdev_sleep_ms(3000); /* several failed attempts: the backoff grows to its 2 s ceiling */
    int64_t t0 = ota_time_mono_ms();
    assert_int_equal(oth_broker_start(&env), 0);
    assert_int_equal(wait_count(&seen.ups, 2, 10000), 0);
    int64_t took = ota_time_mono_ms() - t0;
    printf("reconnected %lld ms after the broker came back\n", (long long)took);
    assert_true(took < 6000);
    assert_int_equal(wait_count(&seen.snapshots, 2, 5000), 0);
    assert_true(mqttc_presence_ready(m));

    /* messages flow again */
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk3", "r1");
    assert_non_null(d);
    assert_int_equal(wait_count(&seen.ons, 1, 2000), 0);
    int before = seen.msgs;
    assert_int_equal(sdev_publish(d, "/sys/pk3/r1/ota/version", "{\"v\":\"2\"}"), 0);
    assert_int_equal(wait_count(&seen.msgs, before + 1, 2000), 0);
    sdev_free(d);
    mqttc_destroy(m);
}

static void test_persistent_session(void **state)
{
    (void)state;
    seen_reset();
    mqttc *m = new_client("otad-t4", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    mqttc_destroy(m); /* session with its subscriptions stays on the broker */

    sdev *d = sdev_open(env.mqtt_port, env.key, "pk4", "p1");
    assert_non_null(d);
    for (int i = 0; i < 20; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"step\":%d}", i + 1);
        assert_int_equal(sdev_publish(d, "/sys/pk4/p1/ota/progress", payload), 0);
    }
    sdev_free(d);

    seen_reset();
    m = new_client("otad-t4", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.msgs, 20, 5000), 0);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    sdev_sleep_ms(200);
    assert_int_equal(seen.msgs, 20);
    /* the device's on/off queued in the session while otad was away are stale: the
     * snapshot (nobody online) tells the truth, and no on_presence was delivered */
    assert_int_equal(seen.snap_n, 0);
    assert_int_equal(seen.ons, 0);
    assert_int_equal(seen.offs, 0);
    /* live events flow after the snapshot */
    d = sdev_open(env.mqtt_port, env.key, "pk4", "p2");
    assert_non_null(d);
    assert_int_equal(wait_count(&seen.ons, 1, 3000), 0);
    sdev_free(d);
    assert_int_equal(wait_count(&seen.offs, 1, 3000), 0);
    for (int i = 0; i < 20; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"step\":%d}", i + 1);
        assert_string_equal(seen.order[i], payload);
    }
    mqttc_destroy(m);
}

static void test_publish_rate(void **state)
{
    (void)state;
    enum { N = 100000 };
    char payload[300];
    seen_reset();
    mqttc *m = new_client("otad-t5", true);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    /* one device listens, to check delivery at the end */
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk5", "dev99999");
    assert_non_null(d);
    assert_int_equal(sdev_subscribe(d, "/sys/pk5/dev99999/#"), 1);
    snprintf(
        payload, sizeof payload,
        "{\"msgId\":\"1\",\"version\":\"1.0\",\"data\":{\"policy\":\"standard\",\"size\":1048576,"
        "\"firmwareVersion\":\"2.0.0\",\"url\":\"http://127.0.0.1:8080/dl/0123456789abcdef\","
        "\"sign\":\"0123456789abcdef0123456789abcdef\",\"signMethod\":\"Md5\",\"batchId\":\"b1\"}"
        "}");
    int64_t t0 = ota_time_mono_ms();
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "dev%d", i);
        int rc =
            mqttc_publish_device(m, "pk5", id, "ota/firmware/upgrade", payload, strlen(payload));
        assert_int_equal(rc, OTA_OK);
    }
    int64_t queued = ota_time_mono_ms() - t0;
    while (mqttc_pending(m) > 0 && ota_time_mono_ms() - t0 < 120000)
        sdev_sleep_ms(5);
    int64_t done = ota_time_mono_ms() - t0;
    assert_int_equal(mqttc_pending(m), 0);
    printf("publish rate: %d QoS 1 messages (%zu bytes) queued in %lld ms, all acknowledged by the "
           "broker in %lld ms: %.0f msg/s\n",
           N, strlen(payload), (long long)queued, (long long)done,
           N * 1000.0 / (double)(done ? done : 1));
    assert_true(sdev_wait_msg(d, 0, "/sys/pk5/dev99999/ota/firmware/upgrade", "Md5", 5000) >= 0);
    assert_true(done < 60000); /* the engine needs 100,000 a minute */
    sdev_free(d);
    mqttc_destroy(m);
}

/* A busy otad has many descriptors (downloads, database): the broker socket may be
 * >= FD_SETSIZE, where libmosquitto's select() loop would fail. mqttc polls instead. */
static void test_socket_above_fd_setsize(void **state)
{
    (void)state;
    struct rlimit rl;
    int fds[1100], n = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < 2048) {
        skip();
    }
    if (rl.rlim_cur < 2048) {
        rl.rlim_cur = 2048;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    /* the scripted device uses libmosquitto's select() loop: connect it first */
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk7", "fd1");
    assert_non_null(d);
    while (n < 1100) {
        fds[n] = open("/dev/null", O_RDONLY);
        if (fds[n] < 0)
            break;
        n++;
    }
    assert_true(fds[n - 1] >= 1024);
    seen_reset();
    mqttc *m = new_client("otad-t6", true);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    assert_int_equal(sdev_publish(d, "/sys/pk7/fd1/ota/version", "{}"), 0);
    assert_int_equal(wait_count(&seen.msgs, 1, 2000), 0);
    sdev_free(d);
    mqttc_destroy(m);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Two instances with a shared group split the device messages; both see all presence. */
static void test_shared_subscription(void **state)
{
    (void)state;
    static seen_t other;
    pthread_mutex_init(&other.lock, NULL);
    seen_reset();
    mqttc *a = new_client_x("otad-s1", true, "otad", &seen, 0);
    mqttc *b = new_client_x("otad-s2", true, "otad", &other, 0);
    assert_int_equal(mqttc_start(a), OTA_OK);
    assert_int_equal(mqttc_start(b), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    assert_int_equal(wait_count(&other.snapshots, 1, 5000), 0);
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk8", "sh1");
    assert_non_null(d);
    assert_int_equal(wait_count(&seen.ons, 1, 3000), 0);
    assert_int_equal(wait_count(&other.ons, 1, 3000), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sdev_publish(d, "/sys/pk8/sh1/ota/progress", "{\"step\":1}"), 0);
    for (int waited = 0; waited < 2000; waited += 10) {
        pthread_mutex_lock(&seen.lock);
        pthread_mutex_lock(&other.lock);
        int total = seen.msgs + other.msgs;
        pthread_mutex_unlock(&other.lock);
        pthread_mutex_unlock(&seen.lock);
        if (total >= 10)
            break;
        sdev_sleep_ms(10);
    }
    sdev_sleep_ms(200);
    printf("shared group: %d + %d messages\n", seen.msgs, other.msgs);
    assert_int_equal(seen.msgs + other.msgs, 10);
    assert_true(seen.msgs > 0 && other.msgs > 0);
    sdev_free(d);
    mqttc_destroy(a);
    mqttc_destroy(b);
    /* a bad group name is refused */
    char pass[40];
    mqttc_config cfg = {0};
    ota_secret_server(env.key, pass, sizeof pass);
    cfg.password = pass;
    cfg.shared_group = "a/b";
    assert_null(mqttc_new(&cfg, &CBS, &seen));
}

/* --- PUBACK versus the message callback -------------------------------------------------- */

static void crash_in_callback(void *ud, const char *pk, const char *id, const char *suffix,
                              const void *payload, size_t len)
{
    (void)ud, (void)pk, (void)id, (void)suffix, (void)payload, (void)len;
    _exit(3); /* dies inside the callback: before it returns */
}

static volatile int returned; /* messages whose callback returned (child only) */
static void return_from_callback(void *ud, const char *pk, const char *id, const char *suffix,
                                 const void *payload, size_t len)
{
    (void)ud, (void)pk, (void)id, (void)suffix, (void)payload, (void)len;
    returned++;
}

/* Runs an mqttc "otad-pa" (persistent session) in a child with the given message callback;
 * the child exits by itself (in the callback) or 500 ms after the callback returned. */
static int run_child_ack(void (*cb)(void *, const char *, const char *, const char *,
                                    const void *, size_t),
                         void (*before_ack)(void *))
{
    pid_t pid = fork();
    if (pid == 0) {
        char pass[40];
        mqttc_config cfg = {0};
        mqttc_callbacks cbs = {0};
        ota_secret_server(env.key, pass, sizeof pass);
        cfg.port = env.mqtt_port;
        cfg.client_id = "otad-pa";
        cfg.password = pass;
        cbs.on_device_message = cb;
        cbs.before_ack = before_ack;
        mqttc *m = mqttc_new(&cfg, &cbs, NULL);
        mqttc_start(m);
        for (int i = 0; i < 500 && returned < 2; i++)
            sdev_sleep_ms(10);
        sdev_sleep_ms(500);
        _exit(10 + returned); /* no DISCONNECT, like a crash */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_child(void (*cb)(void *, const char *, const char *, const char *, const void *,
                                size_t))
{
    return run_child_ack(cb, NULL);
}

static void crash_before_ack(void *ud)
{
    (void)ud;
    if (returned > 0)
        _exit(4); /* the message was handed over, its PUBACK not yet written */
}

static void test_puback_after_callback(void **state)
{
    (void)state;
    /* create the session and its subscriptions, then leave */
    seen_reset();
    mqttc *m = new_client("otad-pa", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    mqttc_destroy(m);

    sdev *d = sdev_open(env.mqtt_port, env.key, "pk6", "pa");
    assert_non_null(d);
    assert_int_equal(sdev_publish(d, "/sys/pk6/pa/ota/progress", "{\"step\":1}"), 0);
    /* 1. the process dies inside the callback: the message comes again */
    assert_int_equal(run_child(crash_in_callback), 3);
    assert_int_equal(sdev_publish(d, "/sys/pk6/pa/ota/progress", "{\"step\":2}"), 0);
    /* 2. both come (step 1 again), the callbacks return, the process dies 500 ms later */
    assert_int_equal(run_child(return_from_callback), 10 + 2);
    sdev_free(d);

    seen_reset();
    m = new_client("otad-pa", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    sdev_sleep_ms(300);
    /* what child 2's callbacks returned from was acknowledged: nothing comes again */
    assert_int_equal(seen.msgs, 0);
    mqttc_destroy(m);
}

/* before_ack: the application (otad: the engine's commit) holds the PUBACKs back until it
 * returns; a process that dies inside it gets the messages again. */
static void test_before_ack_holds_puback(void **state)
{
    (void)state;
    seen_reset();
    mqttc *m = new_client("otad-pa", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    mqttc_destroy(m);

    sdev *d = sdev_open(env.mqtt_port, env.key, "pk6", "pb");
    assert_non_null(d);
    assert_int_equal(sdev_publish(d, "/sys/pk6/pb/ota/progress", "{\"step\":1}"), 0);
    /* 1. the callback returned but the process died in before_ack: it comes again */
    returned = 0;
    assert_int_equal(run_child_ack(return_from_callback, crash_before_ack), 4);
    sdev_free(d);

    seen_reset();
    m = new_client("otad-pa", false);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.msgs, 1, 5000), 0);
    assert_string_equal(seen.last_cid, "pk6.pb");
    sdev_sleep_ms(300);
    mqttc_destroy(m);
}

/* A before_ack that holds until released (at most 8 s), saying when it holds. */
static atomic_int hold_armed, hold_release, holding;
static void holding_before_ack(void *ud)
{
    (void)ud;
    if (!atomic_load(&hold_armed))
        return;
    atomic_store(&holding, 1);
    for (int i = 0; i < 800 && !atomic_load(&hold_release); i++)
        sdev_sleep_ms(10);
    atomic_store(&holding, 0);
}

/* Publishes (pushes) must not wait while before_ack holds the main connection's writes:
 * with separate_publisher they leave on their own connection; without it they wait (which
 * is why otad uses it: a push's ack clock starts when it is committed). */
static void publish_while_held(bool separate, bool want_through)
{
    char pass[40];
    mqttc_config cfg = {0};
    mqttc_callbacks cbs = CBS;
    ota_secret_server(env.key, pass, sizeof pass);
    cfg.port = env.mqtt_port;
    cfg.client_id = separate ? "otad-hold1" : "otad-hold2";
    cfg.password = pass;
    cfg.clean_session = true;
    cfg.separate_publisher = separate;
    cbs.before_ack = holding_before_ack;
    seen_reset();
    atomic_store(&hold_armed, 0);
    atomic_store(&hold_release, 0);
    atomic_store(&holding, 0);
    mqttc *m = mqttc_new(&cfg, &cbs, &seen);
    assert_non_null(m);
    assert_int_equal(mqttc_start(m), OTA_OK);
    assert_int_equal(wait_count(&seen.snapshots, 1, 5000), 0);
    sdev *d = sdev_open(env.mqtt_port, env.key, "pk7", "held");
    assert_non_null(d);
    assert_int_equal(sdev_subscribe(d, "/sys/pk7/held/#"), 1);
    /* the publishing connection may come up a moment after the main one */
    for (int i = 0; separate && i < 50; i++) {
        if (mqttc_publish_device(m, "pk7", "held", "ota/firmware/upgrade", "{\"probe\":1}", 11) !=
            OTA_OK)
            break;
        if (sdev_wait_msg(d, 0, "/sys/pk7/held/ota/firmware/upgrade", "probe", 100) >= 0)
            break;
    }
    /* a device message: read, then held in before_ack */
    atomic_store(&hold_armed, 1);
    assert_int_equal(sdev_publish(d, "/sys/pk7/held/ota/progress", "{\"step\":5}"), 0);
    for (int i = 0; i < 500 && !atomic_load(&holding); i++)
        sdev_sleep_ms(10);
    assert_true(atomic_load(&holding));
    assert_int_equal(
        mqttc_publish_device(m, "pk7", "held", "ota/firmware/upgrade", "{\"push\":1}", 10), OTA_OK);
    int got = sdev_wait_msg(d, 0, "/sys/pk7/held/ota/firmware/upgrade", "push", 1500);
    int still = atomic_load(&holding);
    atomic_store(&hold_release, 1);
    if (want_through) {
        assert_true(got >= 0);
        assert_true(still); /* it came while before_ack still held */
    } else {
        assert_true(got < 0);
        /* released: it leaves now */
        assert_true(sdev_wait_msg(d, 0, "/sys/pk7/held/ota/firmware/upgrade", "push", 5000) >= 0);
    }
    sdev_free(d);
    mqttc_destroy(m);
}

static void test_publish_while_before_ack_holds(void **state)
{
    (void)state;
    publish_while_held(true, true);
    publish_while_held(false, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_while_before_ack_holds),
        cmocka_unit_test(test_connect_messages_presence),
        cmocka_unit_test(test_snapshot_of_connected_devices),
        cmocka_unit_test(test_clock_probes_in_line),
        cmocka_unit_test(test_persistent_session),
        cmocka_unit_test(test_puback_after_callback),
        cmocka_unit_test(test_before_ack_holds_puback),
        cmocka_unit_test(test_publish_rate),
        cmocka_unit_test(test_socket_above_fd_setsize),
        cmocka_unit_test(test_shared_subscription),
        cmocka_unit_test(test_reconnect_after_broker_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
