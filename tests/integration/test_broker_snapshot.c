/*
 * The presence snapshot at scale, with the broker's default part size (1000): 1500 devices
 * connected over raw sockets (a hand-written MQTT 3.1.1 CONNECT each; libmosquitto's
 * select() loop cannot hold that many sockets in one process), one sync, and the parts
 * checked: 1000 + 500, every device exactly once. Then all of them drop their TCP
 * connection and 1500 "off" events must follow. Then the push fan-out: mqttc publishes 20
 * pushes to each of 1500 subscribed raw devices (QoS 1, acknowledged), timed.
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
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_DEV 1500
#define P "ota/internal/presence"

static oth_env env;

static size_t put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s);
    b[0] = (unsigned char)(n >> 8);
    b[1] = (unsigned char)(n & 0xff);
    memcpy(b + 2, s, n);
    return n + 2;
}

/* Opens a connection and sends CONNECT; returns the socket or -1. */
static int raw_connect(const char *cid, const char *pass)
{
    unsigned char body[512], pkt[600];
    size_t n = 0, m = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)env.mqtt_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    n += put_str(body + n, "MQTT");
    body[n++] = 4;    /* 3.1.1 */
    body[n++] = 0xC2; /* username, password, clean session */
    body[n++] = 0;
    body[n++] = 120; /* keepalive */
    n += put_str(body + n, cid);
    n += put_str(body + n, cid);
    n += put_str(body + n, pass);
    pkt[m++] = 0x10;
    size_t rl = n;
    do {
        unsigned char byte = rl % 128;
        rl /= 128;
        pkt[m++] = byte | (rl ? 0x80 : 0);
    } while (rl);
    memcpy(pkt + m, body, n);
    m += n;
    if (write(fd, pkt, m) != (ssize_t)m) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the 4-byte CONNACK; returns its return code or -1. */
static int raw_connack(int fd)
{
    unsigned char b[4];
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < 4) {
        if (poll(&p, 1, 5000) != 1)
            return -1;
        ssize_t r = read(fd, b + got, 4 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return b[0] == 0x20 ? b[3] : -1;
}

static void test_snapshot_1500(void **state)
{
    (void)state;
    static int fds[N_DEV];
    char cid[64], pk[8] = "pkbig", id[32], secret[40];
    sdev *s = sdev_new_server(env.mqtt_port, env.key, "otad");
    assert_int_equal(sdev_login(s), 0);
    assert_int_equal(sdev_subscribe(s, P), 1);

    for (int i = 0; i < N_DEV; i++) {
        snprintf(id, sizeof id, "dev%04d", i);
        snprintf(cid, sizeof cid, "%s.%s", pk, id);
        ota_secret_device(env.key, pk, id, secret, sizeof secret);
        fds[i] = raw_connect(cid, secret);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < N_DEV; i++)
        assert_int_equal(raw_connack(fds[i]), 0);
    /* every "on" arrives */
    for (int waited = 0; waited < 10000 && sdev_count_matching(s, 0, P, "\"e\":\"on\"") < N_DEV;
         waited += 50)
        sdev_sleep_ms(50);
    assert_int_equal(sdev_count_matching(s, 0, P, "\"e\":\"on\""), N_DEV);

    int from = sdev_count(s, SDEV_ANY);
    assert_int_equal(sdev_publish(s, "ota/internal/sync", "{\"nonce\":\"big\"}"), 0);
    assert_true(sdev_wait_msg(s, from, P, "\"last\":true", 5000) >= 0);
    char *seen = calloc(N_DEV, 1);
    int parts = 0, total = 0;
    for (int i = from; i < sdev_count(s, SDEV_ANY); i++) {
        const sdev_msg *m = sdev_msg_at(s, i);
        if (!strstr(m->payload, "\"nonce\":\"big\""))
            continue;
        json_t *j = json_loads(m->payload, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "part")), parts);
        json_t *c = json_object_get(j, "clients");
        assert_int_equal(json_array_size(c), parts == 0 ? 1000 : 500);
        size_t k;
        json_t *v;
        json_array_foreach(c, k, v)
        {
            int n = -1;
            assert_int_equal(sscanf(json_string_value(v), "pkbig.dev%d", &n), 1);
            assert_true(n >= 0 && n < N_DEV);
            assert_int_equal(seen[n], 0);
            seen[n] = 1;
            total++;
        }
        parts++;
        int last = json_is_true(json_object_get(j, "last"));
        json_decref(j);
        if (last)
            break;
    }
    assert_int_equal(parts, 2);
    assert_int_equal(total, N_DEV);
    free(seen);

    from = sdev_count(s, SDEV_ANY);
    for (int i = 0; i < N_DEV; i++)
        close(fds[i]);
    for (int waited = 0; waited < 10000 && sdev_count_matching(s, from, P, "\"e\":\"off\"") < N_DEV;
         waited += 50)
        sdev_sleep_ms(50);
    assert_int_equal(sdev_count_matching(s, from, P, "\"e\":\"off\""), N_DEV);
    sdev_free(s);
}

/* --- push fan-out: mqttc -> broker -> 1500 device sockets ------------------------------- */

typedef struct {
    int fd;
    unsigned char buf[8192];
    size_t len;
    int got;
} rawdev;

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* SUBSCRIBE (QoS 1) and wait for a granted SUBACK. */
static int raw_subscribe(int fd, const char *filter)
{
    unsigned char pkt[256], b[5];
    size_t n = 0, tl = strlen(filter);
    pkt[n++] = 0x82;
    pkt[n++] = (unsigned char)(2 + 2 + tl + 1);
    pkt[n++] = 0;
    pkt[n++] = 1; /* packet id */
    n += put_str(pkt + n, filter);
    pkt[n++] = 1;
    if (write_all(fd, pkt, n) != 0)
        return -1;
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < 5) {
        if (poll(&p, 1, 5000) != 1)
            return -1;
        ssize_t r = read(fd, b + got, 5 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return b[0] == 0x90 && b[4] == 1 ? 0 : -1;
}

/* Consumes whole packets in d->buf: counts PUBLISHes, answers QoS 1 with PUBACK. */
static void raw_consume(rawdev *d)
{
    size_t pos = 0;
    while (pos + 2 <= d->len) {
        size_t rl = 0, mult = 1, h = 1;
        while (pos + h < d->len) {
            unsigned char c = d->buf[pos + h++];
            rl += (c & 127) * mult;
            mult *= 128;
            if (!(c & 128))
                break;
        }
        if (pos + h + rl > d->len)
            break;
        unsigned char type = d->buf[pos];
        if ((type & 0xF0) == 0x30) {
            d->got++;
            if (type & 0x02) { /* QoS 1: topic length, topic, packet id */
                const unsigned char *v = d->buf + pos + h;
                size_t tl = ((size_t)v[0] << 8) | v[1];
                unsigned char ack[4] = {0x40, 2, v[2 + tl], v[3 + tl]};
                write_all(d->fd, ack, 4);
            }
        }
        pos += h + rl;
    }
    memmove(d->buf, d->buf + pos, d->len - pos);
    d->len -= pos;
}

static void test_push_fanout(void **state)
{
    (void)state;
    enum { ROUNDS = 20 };
    static rawdev devs[N_DEV];
    static struct pollfd pfds[N_DEV];
    char cid[64], pk[8] = "pkfan", id[32], secret[40], filter[96], pass[40];
    for (int i = 0; i < N_DEV; i++) {
        snprintf(id, sizeof id, "dev%04d", i);
        snprintf(cid, sizeof cid, "%s.%s", pk, id);
        ota_secret_device(env.key, pk, id, secret, sizeof secret);
        devs[i].fd = raw_connect(cid, secret);
        assert_true(devs[i].fd >= 0);
    }
    for (int i = 0; i < N_DEV; i++) {
        assert_int_equal(raw_connack(devs[i].fd), 0);
        snprintf(filter, sizeof filter, "/sys/%s/dev%04d/ota/firmware/upgrade", pk, i);
        assert_int_equal(raw_subscribe(devs[i].fd, filter), 0);
    }
    mqttc_config cfg = {0};
    ota_secret_server(env.key, pass, sizeof pass);
    cfg.port = env.mqtt_port;
    cfg.client_id = "otad-fan";
    cfg.password = pass;
    cfg.clean_session = true;
    mqttc *m = mqttc_new(&cfg, NULL, NULL);
    assert_non_null(m);
    assert_int_equal(mqttc_start(m), OTA_OK);
    for (int w = 0; w < 5000 && !mqttc_presence_ready(m); w += 10)
        sdev_sleep_ms(10);
    assert_true(mqttc_presence_ready(m));

    const char *payload =
        "{\"msgId\":\"1\",\"version\":\"1.0\",\"data\":{\"policy\":\"standard\",\"size\":1048576,"
        "\"firmwareVersion\":\"2.0.0\",\"url\":\"http://127.0.0.1:8080/dl/0123456789abcdef\","
        "\"sign\":\"0123456789abcdef0123456789abcdef\",\"signMethod\":\"Md5\",\"batchId\":\"b1\"}}";
    int64_t t0 = ota_time_mono_ms();
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N_DEV; i++) {
            snprintf(id, sizeof id, "dev%04d", i);
            assert_int_equal(
                mqttc_publish_device(m, pk, id, "ota/firmware/upgrade", payload, strlen(payload)),
                OTA_OK);
        }
    }
    long total = 0;
    for (int i = 0; i < N_DEV; i++) {
        pfds[i].fd = devs[i].fd;
        pfds[i].events = POLLIN;
    }
    while (total < (long)N_DEV * ROUNDS && ota_time_mono_ms() - t0 < 60000) {
        if (poll(pfds, N_DEV, 1000) <= 0)
            continue;
        total = 0;
        for (int i = 0; i < N_DEV; i++) {
            if (pfds[i].revents & POLLIN) {
                ssize_t r =
                    read(devs[i].fd, devs[i].buf + devs[i].len, sizeof devs[i].buf - devs[i].len);
                if (r > 0) {
                    devs[i].len += (size_t)r;
                    raw_consume(&devs[i]);
                }
            }
            total += devs[i].got;
        }
    }
    int64_t took = ota_time_mono_ms() - t0;
    printf("push fan-out: %ld pushes (%zu bytes, QoS 1 both ways) to %d devices in %lld ms: %.0f "
           "pushes/s\n",
           total, strlen(payload), N_DEV, (long long)took,
           total * 1000.0 / (double)(took ? took : 1));
    assert_int_equal(total, (long)N_DEV * ROUNDS);
    assert_true(took < 60000);
    mqttc_destroy(m);
    for (int i = 0; i < N_DEV; i++)
        close(devs[i].fd);
}

static int group_setup(void **state)
{
    struct rlimit rl;
    (void)state;
    unsetenv("OTA_BROKER_PART_SIZE");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl); /* the broker inherits it */
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_snapshot_1500),
                                       cmocka_unit_test(test_push_fanout)};
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
