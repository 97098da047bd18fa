/*
 * ceiling.c: `ota-bench mqtt-ceiling`, the broker's own ceiling for the rollout's messages
 * (docs/benchmarks.md, figure 1): how many QoS 1 messages a second the broker passes with
 * the rollout's mix on the rollout's connections, when nobody waits for anything.
 *
 * N device connections log in as devices ({pk}.{id}, the secret derived from the server
 * key, through the broker's own plugin and ACL) and subscribe to their upgrade topic; K
 * server connections log in as otad and subscribe to the devices' version, upgrade_reply
 * and progress topics (one shared subscription when K > 1). Then, timed: the server side
 * publishes one push (the responder's payload) to every device, and every device publishes
 * its ack, progress 10, 60, 100 and its new version (the fleet's payloads) at once, each
 * in its own write as the fleet does, without waiting for its push. Both sides PUBACK what
 * they receive. The time runs until the server side has received 5 N messages and the
 * devices N pushes: 6 N messages through the broker, in any order.
 *
 * A rollout cannot beat this: it carries the same messages, and each device's five wait
 * for its push. One thread, mqttwire.c on raw sockets, so the measuring side costs little
 * next to the broker.
 *
 * Expected load: 100,000 connections (bounded by RLIMIT_NOFILE), 600,000 messages.
 */
#include "ceiling.h"
#include "mqttwire.h"
#include "ota_crypto.h"
#include "otaproto/ota_protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define CEIL_MAX_SERVER 16
#define CEIL_HANDSHAKES 90 /* Mosquitto listens with a backlog of 100 */
#define CEIL_TIMEOUT_S 300

typedef struct {
    mw_conn c;
    uint32_t events;
    uint16_t mid;
    uint8_t ready;   /* SUBACK came */
    uint8_t is_server;
    uint32_t got;    /* messages received */
} ceil_conn;

typedef struct {
    int ep;
    ceil_conn *conns; /* devices [0, n), then the server's [n, n + k) */
    uint32_t n, k;
    uint32_t ready, handshaking;
    uint64_t dev_got, srv_got;
    const char *pk;
} ceiling;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sets what the epoll set waits for on connection i: reading, and writing while bytes wait. */
static int want(ceiling *cl, uint32_t i, int writing)
{
    ceil_conn *c = &cl->conns[i];
    uint32_t ev = EPOLLIN | (writing ? EPOLLOUT : 0);
    if (ev == c->events)
        return 0;
    struct epoll_event e = {.events = ev, .data.u32 = i};
    int rc = epoll_ctl(cl->ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->c.fd, &e);
    c->events = ev;
    return rc;
}

static int flush(ceiling *cl, uint32_t i)
{
    int rc = mw_conn_flush(&cl->conns[i].c);
    return rc < 0 ? -1 : want(cl, i, rc == 0);
}

/* Opens connection i: device i (i < n) or server connection i - n; CONNECT and SUBSCRIBE
 * are queued at once (MQTT lets a client send them before the CONNACK). */
static int open_conn(ceiling *cl, uint32_t i, const char *host, int port, const unsigned char *key)
{
    ceil_conn *c = &cl->conns[i];
    char local[16], cid[96], pw[40], t1[160];
    snprintf(local, sizeof local, "127.0.0.%u", 1 + i % 8);
    if (mw_conn_open(&c->c, host, port, strncmp(host, "127.", 4) == 0 ? local : NULL) != 0)
        return -1;
    if (i < cl->n) {
        char id[32];
        snprintf(id, sizeof id, "c%06u", i);
        snprintf(cid, sizeof cid, "%s.%s", cl->pk, id);
        snprintf(t1, sizeof t1, OTA_TOPIC_ROOT "%s/%s/" OTA_TOPIC_UPGRADE, cl->pk, id);
        const char *subs[1] = {t1};
        if (ota_secret_device(key, cl->pk, id, pw, sizeof pw) != 0 ||
            mw_connect(&c->c.out, cid, cid, pw, 600, 1) != 0 ||
            mw_subscribe(&c->c.out, 1, subs, 1, 1) != 0)
            return -1;
    } else {
        c->is_server = 1;
        snprintf(cid, sizeof cid, "otad-ceiling%u", i - cl->n);
        if (ota_secret_server(key, pw, sizeof pw) != 0 ||
            mw_connect(&c->c.out, cid, "otad", pw, 600, 1) != 0 ||
            mw_server_subscribe(&c->c.out, 1, cl->pk, "ceiling", i - cl->n, cl->k) != 0)
            return -1;
    }
    cl->handshaking++;
    return flush(cl, i);
}

/* Reads connection i and answers what it got. Returns 0, or -1 when it is lost. */
static int on_readable(ceiling *cl, uint32_t i)
{
    ceil_conn *c = &cl->conns[i];
    mw_packet pk;
    int rc;
    if (mw_conn_read(&c->c) < 0)
        return -1;
    while ((rc = mw_next(&c->c.in, &pk)) == 1) {
        if (pk.type == MW_CONNACK && (pk.len < 2 || pk.body[1] != 0)) {
            fprintf(stderr, "ota-bench mqtt-ceiling: connection %u refused (CONNACK %d)\n", i,
                    pk.len >= 2 ? pk.body[1] : -1);
            return -1;
        }
        if (pk.type == MW_SUBACK) {
            if (pk.len < 3 || pk.body[2] >= 0x80) {
                fprintf(stderr, "ota-bench mqtt-ceiling: connection %u: subscription refused\n", i);
                return -1;
            }
            c->ready = 1;
            cl->ready++;
            cl->handshaking--;
        } else if (pk.type == MW_PUBLISH) {
            const char *topic;
            const uint8_t *payload;
            size_t tlen, plen;
            uint16_t mid;
            if (mw_publish_parts(&pk, &topic, &tlen, &mid, &payload, &plen) != 0 ||
                (mid && mw_puback(&c->c.out, mid) != 0))
                return -1;
            c->got++;
            if (c->is_server)
                cl->srv_got++;
            else
                cl->dev_got++;
        }
    }
    return rc < 0 ? -1 : flush(cl, i);
}

/* One round of the event loop (at most ms milliseconds). Returns 0, or -1. */
static int step(ceiling *cl, int ms)
{
    struct epoll_event evs[1024];
    int n = epoll_wait(cl->ep, evs, 1024, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int e = 0; e < n; e++) {
        uint32_t i = evs[e].data.u32;
        if (evs[e].events & EPOLLOUT && flush(cl, i) != 0)
            return -1;
        if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP) && on_readable(cl, i) != 0) {
            fprintf(stderr, "ota-bench mqtt-ceiling: connection %u lost: %s\n", i, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int publish(ceiling *cl, uint32_t i, const char *topic, const char *payload)
{
    ceil_conn *c = &cl->conns[i];
    if (++c->mid == 0)
        c->mid = 1;
    return mw_publish(&c->c.out, topic, payload, strlen(payload), 1, c->mid);
}

/* The timed part: every push and every device message queued and written, then received. */
static int exchange(ceiling *cl, double *secs)
{
    char topic[256], buf[1024];
    double t0 = mono_s();
    for (uint32_t i = 0; i < cl->n; i++) {
        uint32_t s = cl->n + i % cl->k;
        snprintf(topic, sizeof topic, OTA_TOPIC_ROOT "%s/c%06u/" OTA_TOPIC_UPGRADE, cl->pk, i);
        snprintf(buf, sizeof buf,
                 "{\"msgId\":\"r%u\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"data\":{\"policy\":\"standard\","
                 "\"size\":65536,\"firmwareVersion\":\"2.0.0\",\"url\":\"http://127.0.0.1:1/none\","
                 "\"sign\":\"d41d8cd98f00b204e9800998ecf8427e\",\"signMethod\":\"Md5\","
                 "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                 "\"batchId\":\"ceiling\"}}", i + 1);
        if (publish(cl, s, topic, buf) != 0)
            return -1;
    }
    for (uint32_t s = cl->n; s < cl->n + cl->k; s++)
        if (flush(cl, s) != 0)
            return -1;
    static const struct {
        const char *suffix;
        int step; /* 0: the ack; -1: the version */
    } mix[5] = {{OTA_TOPIC_UPGRADE_REPLY, 0},
                {OTA_TOPIC_PROGRESS, 10},
                {OTA_TOPIC_PROGRESS, 60},
                {OTA_TOPIC_PROGRESS, 100},
                {OTA_TOPIC_VERSION, -1}};
    for (uint32_t i = 0; i < cl->n; i++) {
        for (int m = 0; m < 5; m++) {
            snprintf(topic, sizeof topic, OTA_TOPIC_ROOT "%s/c%06u/%s", cl->pk, i, mix[m].suffix);
            if (mix[m].step == 0)
                snprintf(buf, sizeof buf, "{\"msgId\":\"r%u\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"code\":200}", i + 1);
            else if (mix[m].step > 0)
                snprintf(buf, sizeof buf,
                         "{\"msgId\":\"f%u-%d\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"data\":{\"step\":%d,\"desc\":\"%s\"}}",
                         i, m + 1, mix[m].step, mix[m].step == 100 ? "flashing" : "downloading");
            else
                snprintf(buf, sizeof buf,
                         "{\"msgId\":\"f%u-%d\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"data\":{\"firmwareVersion\":\"2.0.0\"}}",
                         i, m + 1);
            if (publish(cl, i, topic, buf) != 0 || flush(cl, i) != 0)
                return -1;
        }
    }
    uint64_t want_srv = (uint64_t)cl->n * 5, want_dev = cl->n;
    while (cl->srv_got < want_srv || cl->dev_got < want_dev) {
        if (mono_s() - t0 > CEIL_TIMEOUT_S) {
            fprintf(stderr, "ota-bench mqtt-ceiling: timed out: server side %llu of %llu, devices %llu of %llu\n",
                    (unsigned long long)cl->srv_got, (unsigned long long)want_srv,
                    (unsigned long long)cl->dev_got, (unsigned long long)want_dev);
            return -1;
        }
        if (step(cl, 100) != 0)
            return -1;
    }
    *secs = mono_s() - t0;
    return 0;
}

int ceiling_main(int argc, char **argv)
{
    const char *broker = "127.0.0.1:1883", *key_file = NULL;
    long n = 1000, k = 1;
    ceiling cl = {.pk = "ceil", .ep = -1};
    for (int a = 0; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--broker"))
            broker = argv[a + 1];
        else if (!strcmp(argv[a], "--key-file"))
            key_file = argv[a + 1];
        else if (!strcmp(argv[a], "--product-key"))
            cl.pk = argv[a + 1];
        else if (!strcmp(argv[a], "-n"))
            n = strtol(argv[a + 1], NULL, 10);
        else if (!strcmp(argv[a], "--server-connections"))
            k = strtol(argv[a + 1], NULL, 10);
        else
            break;
    }
    char host[64];
    const char *colon = strrchr(broker, ':');
    unsigned char key[OTA_KEY_BYTES];
    if (!key_file || !colon || (size_t)(colon - broker) >= sizeof host || n < 1 || n > 1000000 ||
        k < 1 || k > CEIL_MAX_SERVER || strlen(cl.pk) > OTA_PRODUCT_KEY_MAX) {
        fprintf(stderr, "usage: ota-bench mqtt-ceiling --broker HOST:PORT --key-file PATH -n DEVICES"
                        " [--product-key PK] [--server-connections K]\n");
        return 2;
    }
    if (ota_key_load(key_file, 0, key) != 0) {
        fprintf(stderr, "ota-bench mqtt-ceiling: cannot read the key %s: %s\n", key_file,
                ota_key_strerror(errno));
        return 2;
    }
    memcpy(host, broker, (size_t)(colon - broker));
    host[colon - broker] = 0;
    int port = (int)strtol(colon + 1, NULL, 10);
    cl.n = (uint32_t)n;
    cl.k = (uint32_t)k;
    cl.conns = calloc(cl.n + cl.k, sizeof *cl.conns);
    cl.ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = 1;
    double t_conn = mono_s(), secs = 0;
    if (!cl.conns || cl.ep < 0)
        goto out;
    for (uint32_t i = cl.n; i < cl.n + cl.k; i++)
        if (open_conn(&cl, i, host, port, key) != 0)
            goto out;
    /* devices, at most CEIL_HANDSHAKES unanswered at a time */
    for (uint32_t next = 0; cl.ready < cl.n + cl.k;) {
        while (next < cl.n && cl.handshaking < CEIL_HANDSHAKES)
            if (open_conn(&cl, next++, host, port, key) != 0) {
                fprintf(stderr, "ota-bench mqtt-ceiling: device %u: %s\n", next - 1, strerror(errno));
                goto out;
            }
        if (mono_s() - t_conn > CEIL_TIMEOUT_S || step(&cl, 100) != 0) {
            fprintf(stderr, "ota-bench mqtt-ceiling: %u of %u connections ready\n", cl.ready, cl.n + cl.k);
            goto out;
        }
    }
    t_conn = mono_s() - t_conn;
    if (exchange(&cl, &secs) != 0)
        goto out;
    printf("{\"devices\":%u,\"serverConnections\":%u,\"messages\":%llu,\"ms\":%.0f,"
           "\"messagesPerSecond\":%.0f,\"devicesPerMinute\":%.0f,\"connectSeconds\":%.1f}\n",
           cl.n, cl.k, (unsigned long long)cl.n * 6, secs * 1000, (double)cl.n * 6 / secs,
           (double)cl.n * 60 / secs, t_conn);
    rc = 0;
out:
    if (cl.conns)
        for (uint32_t i = 0; i < cl.n + cl.k; i++)
            if (cl.conns[i].c.fd > 0 || cl.conns[i].c.in.p || cl.conns[i].c.out.p)
                mw_conn_close(&cl.conns[i].c);
    free(cl.conns);
    if (cl.ep >= 0)
        close(cl.ep);
    return rc;
}
