/*
 * ota-fleet-responder: a trivial stand-in for otad, the floor of the rollout benchmark.
 * It logs in to the broker with the server's account (user "otad", password
 * ota_secret_server(key)), subscribes to every device's version, upgrade_reply and
 * progress topics of one product, and plays the platform's side of docs/device-protocol.md
 * with no database and no rules: once `start-after` devices have reported a version other
 * than the target, it pushes the target to every ready device (and to each device that
 * becomes ready later), and counts acks, progress and version reports until `devices`
 * devices report the target version. The same messages as a real rollout go through the
 * same broker; what is left out is everything the server adds.
 *
 * A floor is only a floor if nothing can beat it, so the responder costs as little as the
 * broker lets anything cost (docs/benchmarks.md, "Method"): its own MQTT wire code
 * (mqttwire.c) reads whatever the sockets hold in one call and answers every PUBACK of a
 * read in one write, pushes are written back to back with no window, nothing waits for a
 * device, and with --connections K it reads on K connections of one shared subscription
 * (the broker spreads device messages over them; K = 1 is a plain subscription).
 *
 * Expected load: 100,000 devices, 600,000 messages, one thread.
 */
#include "mqttwire.h"
#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"
#include "otaproto/ota_protocol.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_CONNS 64
#define KEEPALIVE_S 60

typedef struct {
    char *id;       /* identifier; owned; NULL = free slot */
    uint8_t ready;  /* reported a version other than the target */
    uint8_t pushed;
    uint8_t acked;
    uint8_t done;
} rdev;

typedef struct {
    mw_conn c;
    int connacked, subacked;
    uint16_t mid;   /* last mid used for a push */
    uint32_t events; /* what the epoll set waits for */
} rconn;

typedef struct {
    int ep;
    rconn conns[MAX_CONNS];
    int n_conns, next_conn, n_subacked;
    char pk[64];
    char target[64];
    char url[512];
    char md5[40];
    char sha256[72];
    long long size;
    uint32_t expect, start_after;
    int push_twice; /* --push-twice: publish every push twice (a broken server, for tests) */
    rdev *tab;
    size_t cap; /* power of two */
    uint32_t n_known, n_ready, n_pushed, n_acked, n_done;
    uint64_t n_progress, msgs_in, msg_seq;
    int started;
    int64_t t0, t_start, t_end;      /* monotonic ms */
    int64_t unix_start, unix_end;    /* the same two moments, Unix ms (for CPU windows) */
} responder;

static volatile sig_atomic_t stop_flag;
static void on_signal(int s)
{
    (void)s;
    stop_flag = 1;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The device record of id, created when absent. NULL when the table is full. */
static rdev *lookup(responder *r, const char *id)
{
    size_t i = (size_t)hash(id) & (r->cap - 1);
    for (size_t k = 0; k < r->cap; k++, i = (i + 1) & (r->cap - 1)) {
        if (!r->tab[i].id) {
            if (r->n_known >= r->cap - 1)
                return NULL;
            r->tab[i].id = strdup(id);
            if (!r->tab[i].id)
                return NULL;
            r->n_known++;
            return &r->tab[i];
        }
        if (strcmp(r->tab[i].id, id) == 0)
            return &r->tab[i];
    }
    return NULL;
}

/* Queues a QoS 1 publish on the next connection (round robin); written by flush_all(). */
static int publish1(responder *r, const char *topic, const char *buf, size_t n)
{
    rconn *c = &r->conns[r->next_conn];
    r->next_conn = (r->next_conn + 1) % r->n_conns;
    if (++c->mid == 0)
        c->mid = 1;
    return mw_publish(&c->c.out, topic, buf, n, 1, c->mid);
}

static void push(responder *r, rdev *d)
{
    char topic[256], buf[1400];
    snprintf(topic, sizeof topic, OTA_TOPIC_ROOT "%s/%s/" OTA_TOPIC_UPGRADE, r->pk, d->id);
    int n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"r%llu\",\"version\":\"" OTA_PROTOCOL_VERSION "\",\"data\":{\"policy\":\"standard\","
                     "\"size\":%lld,\"firmwareVersion\":\"%s\",\"url\":\"%s\",\"sign\":\"%s\","
                     "\"signMethod\":\"Md5\",\"sha256\":\"%s\",\"batchId\":\"floor\"}}",
                     (unsigned long long)++r->msg_seq, r->size, r->target, r->url, r->md5,
                     r->sha256);
    if (publish1(r, topic, buf, (size_t)n) == 0) {
        d->pushed = 1;
        r->n_pushed++;
    }
    if (r->push_twice) /* the same attempt (msgId) in a second PUBLISH */
        publish1(r, topic, buf, (size_t)n);
}

static void start(responder *r)
{
    r->started = 1;
    r->t_start = ota_time_mono_ms();
    r->unix_start = ota_time_now_ms();
    OTA_INFO("responder: %u devices ready, pushing", r->n_ready);
    for (size_t i = 0; i < r->cap; i++)
        if (r->tab[i].id && r->tab[i].ready && !r->tab[i].pushed)
            push(r, &r->tab[i]);
}

/* The reported version in a version payload, copied into out; 0, or -1 when there is none.
 * The devices' payloads are machine-made JSON: a parse of the whole text would measure the
 * responder, not the broker, so only the one value is read (a string with no escapes). */
static int version_of(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    static const char key[] = "\"firmwareVersion\":\"";
    const char *s = memmem(p, n, key, sizeof key - 1);
    if (!s)
        return -1;
    s += sizeof key - 1;
    const char *e = memchr(s, '"', n - (size_t)(s - (const char *)p));
    if (!e || (size_t)(e - s) >= outlen)
        return -1;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = 0;
    return 0;
}

/* One device message: /sys/{pk}/{id}/{kind}, or $ota/p/{part}/sys/... */
static void on_device_message(responder *r, const char *topic, size_t tlen, const uint8_t *p,
                              size_t n)
{
    char id[96], kind[64], v[64];
    size_t plen = sizeof OTA_TOPIC_PART_PREFIX - 1;
    if (tlen > plen && memcmp(topic, OTA_TOPIC_PART_PREFIX, plen) == 0) {
        const char *sl = memchr(topic + plen, '/', tlen - plen);
        if (!sl)
            return;
        tlen -= (size_t)(sl - topic);
        topic = sl;
    }
    size_t pre = OTA_TOPIC_ROOT_LEN + strlen(r->pk) + 1;
    r->msgs_in++;
    if (tlen <= pre)
        return;
    const char *s = topic + pre, *end = topic + tlen;
    const char *slash = memchr(s, '/', (size_t)(end - s));
    if (!slash || (size_t)(slash - s) >= sizeof id || (size_t)(end - slash - 1) >= sizeof kind)
        return;
    memcpy(id, s, (size_t)(slash - s));
    id[slash - s] = 0;
    memcpy(kind, slash + 1, (size_t)(end - slash - 1));
    kind[end - slash - 1] = 0;
    rdev *d = lookup(r, id);
    if (!d)
        return;
    if (strcmp(kind, OTA_TOPIC_PROGRESS) == 0) {
        r->n_progress++;
        return;
    }
    if (strcmp(kind, OTA_TOPIC_UPGRADE_REPLY) == 0) {
        if (!d->acked) {
            d->acked = 1;
            r->n_acked++;
        }
        return;
    }
    if (strcmp(kind, OTA_TOPIC_VERSION) != 0 || version_of(p, n, v, sizeof v) != 0)
        return;
    if (strcmp(v, r->target) == 0) {
        if (d->pushed && !d->done) {
            d->done = 1;
            r->n_done++;
            if (r->n_done >= r->expect) {
                r->t_end = ota_time_mono_ms();
                r->unix_end = ota_time_now_ms();
            }
        }
    } else if (!d->ready) {
        d->ready = 1;
        r->n_ready++;
        if (r->started)
            push(r, d);
        else if (r->n_ready >= r->start_after)
            start(r);
    } else if (r->started && !d->done) {
        push(r, d); /* reconnected before finishing: push again */
    }
}

/* Every whole packet read on c. Returns 0, or -1 when the connection is unusable. */
static int on_packets(responder *r, rconn *c)
{
    mw_packet pk;
    int rc;
    while ((rc = mw_next(&c->c.in, &pk)) == 1) {
        switch (pk.type) {
        case MW_CONNACK:
            if (pk.len < 2 || pk.body[1] != 0) {
                OTA_ERROR("responder: broker refused the login (CONNACK %d)", pk.len >= 2 ? pk.body[1] : -1);
                return -1;
            }
            c->connacked = 1;
            break;
        case MW_SUBACK:
            for (size_t i = 2; i < pk.len; i++)
                if (pk.body[i] >= 0x80) {
                    OTA_ERROR("responder: subscription refused");
                    return -1;
                }
            c->subacked = 1;
            if (++r->n_subacked == r->n_conns) {
                fprintf(stdout, "responder subscribed\n");
                fflush(stdout);
            }
            break;
        case MW_PUBLISH: {
            const char *topic;
            const uint8_t *payload;
            size_t tlen, plen;
            uint16_t mid;
            if (mw_publish_parts(&pk, &topic, &tlen, &mid, &payload, &plen) != 0)
                return -1;
            if (mid && mw_puback(&c->c.out, mid) != 0)
                return -1;
            on_device_message(r, topic, tlen, payload, plen);
            break;
        }
        default: /* PUBACK of a push, PINGRESP */
            break;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* Writes what every connection has queued; waits for EPOLLOUT where the socket is full. */
static int flush_all(responder *r)
{
    for (int i = 0; i < r->n_conns; i++) {
        rconn *c = &r->conns[i];
        int rc = mw_conn_flush(&c->c);
        if (rc < 0)
            return -1;
        uint32_t want = EPOLLIN | (rc == 0 ? EPOLLOUT : 0);
        if (want != c->events) {
            struct epoll_event ev = {.events = want, .data.u32 = (uint32_t)i};
            if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->c.fd, &ev) != 0)
                return -1;
            c->events = want;
        }
    }
    return 0;
}

/* Opens connection i and queues its CONNECT and SUBSCRIBE. */
static int open_conn(responder *r, int i, const char *host, int port, const char *pw)
{
    rconn *c = &r->conns[i];
    char cid[64];
    if (mw_conn_open(&c->c, host, port, NULL) != 0) {
        fprintf(stderr, "ota-fleet-responder: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
        return -1;
    }
    if (r->n_conns > 1)
        snprintf(cid, sizeof cid, "otad-floor%d", i);
    else
        snprintf(cid, sizeof cid, "otad");
    if (mw_connect(&c->c.out, cid, "otad", pw, KEEPALIVE_S, 1) != 0 ||
        mw_server_subscribe(&c->c.out, 1, r->pk, "floor", (unsigned)i, (unsigned)r->n_conns) != 0)
        return -1;
    c->events = EPOLLIN | EPOLLOUT;
    struct epoll_event ev = {.events = c->events, .data.u32 = (uint32_t)i};
    return epoll_ctl(r->ep, EPOLL_CTL_ADD, c->c.fd, &ev);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: ota-fleet-responder --product-key PK -n DEVICES [--start-after K]\n"
                "  [--broker HOST:PORT] [--key-file PATH] [--fw-version V] [--url U] [--size B]\n"
                "  [--md5 HEX] [--sha256 HEX] [--duration S] [--summary-json FILE]\n"
                "  [--connections K] read on K connections of one shared subscription (1..64,\n"
                "                   default 1)\n"
                "  [--push-twice]   publish every push twice with one msgId (a server bug, to\n"
                "                   check that ota-fleet reports duplicate pushes)\n");
}

int main(int argc, char **argv)
{
    static responder R;
    responder *r = &R;
    static const struct option lo[] = {
        {"broker", 1, 0, 'b'}, {"key-file", 1, 0, 'k'}, {"product-key", 1, 0, 'p'},
        {"devices", 1, 0, 'n'}, {"start-after", 1, 0, 's'}, {"fw-version", 1, 0, 'V'},
        {"url", 1, 0, 'u'}, {"size", 1, 0, 'z'}, {"md5", 1, 0, 'm'}, {"sha256", 1, 0, 'S'},
        {"duration", 1, 0, 'd'}, {"summary-json", 1, 0, 'j'}, {"push-twice", 0, 0, 'T'},
        {"connections", 1, 0, 'K'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    char host[128] = "127.0.0.1", key_file[512] = "", summary[512] = "";
    int port = 1883, duration = 600, c;
    const char *env;
    unsigned char key[OTA_KEY_BYTES];
    char pw[40];

    snprintf(r->target, sizeof r->target, "2.0.0");
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:1/none");
    snprintf(r->md5, sizeof r->md5, "d41d8cd98f00b204e9800998ecf8427e");
    snprintf(r->sha256, sizeof r->sha256,
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    env = getenv("OTA_DATA_DIR");
    snprintf(key_file, sizeof key_file, "%s/keys/server.key", env && *env ? env : "./data");
    if ((env = getenv("OTA_MQTT_ADDR")) && *env) {
        const char *cp = strrchr(env, ':');
        if (cp && (size_t)(cp - env) < sizeof host) {
            memcpy(host, env, (size_t)(cp - env));
            host[cp - env] = 0;
            port = (int)strtol(cp + 1, NULL, 10);
        }
    }
    while ((c = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'b': {
            const char *cp = strrchr(optarg, ':');
            if (!cp || (size_t)(cp - optarg) >= sizeof host) {
                usage(stderr);
                return 2;
            }
            memcpy(host, optarg, (size_t)(cp - optarg));
            host[cp - optarg] = 0;
            port = (int)strtol(cp + 1, &end, 10);
            break;
        }
        case 'k': snprintf(key_file, sizeof key_file, "%s", optarg); break;
        case 'p': snprintf(r->pk, sizeof r->pk, "%s", optarg); break;
        case 'n': r->expect = (uint32_t)strtoul(optarg, &end, 10); break;
        case 's': r->start_after = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'V': snprintf(r->target, sizeof r->target, "%s", optarg); break;
        case 'u': snprintf(r->url, sizeof r->url, "%s", optarg); break;
        case 'z': r->size = strtoll(optarg, &end, 10); break;
        case 'm': snprintf(r->md5, sizeof r->md5, "%s", optarg); break;
        case 'S': snprintf(r->sha256, sizeof r->sha256, "%s", optarg); break;
        case 'd': duration = (int)strtol(optarg, &end, 10); break;
        case 'j': snprintf(summary, sizeof summary, "%s", optarg); break;
        case 'T': r->push_twice = 1; break;
        case 'K': r->n_conns = (int)strtol(optarg, &end, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "ota-fleet-responder: bad number: %s\n", optarg);
            return 2;
        }
    }
    if (!r->n_conns)
        r->n_conns = 1;
    if (!r->pk[0] || !r->expect || r->n_conns < 1 || r->n_conns > MAX_CONNS) {
        usage(stderr);
        return 2;
    }
    if (!r->start_after)
        r->start_after = r->expect;
    r->cap = 1024;
    while (r->cap < (size_t)r->expect * 2 + 16)
        r->cap <<= 1;
    r->tab = calloc(r->cap, sizeof *r->tab);
    if (!r->tab || ota_key_load(key_file, 0, key) != 0 || ota_secret_server(key, pw, sizeof pw) != 0) {
        fprintf(stderr, "ota-fleet-responder: cannot read the key %s: %s\n", key_file,
                ota_key_strerror(errno));
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0)
        return 2;
    r->t0 = ota_time_mono_ms();
    for (int i = 0; i < r->n_conns; i++)
        if (open_conn(r, i, host, port, pw) != 0)
            return 2;
    int rc = 1;
    int64_t last_ping = r->t0;
    while (!stop_flag) {
        struct epoll_event evs[MAX_CONNS];
        int n = epoll_wait(r->ep, evs, MAX_CONNS, 50);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            rconn *c = &r->conns[evs[i].data.u32];
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (mw_conn_read(&c->c) < 0 || on_packets(r, c) != 0) {
                    OTA_ERROR("responder: connection %u to the broker lost: %s", evs[i].data.u32,
                              strerror(errno));
                    stop_flag = 1;
                }
            }
        }
        int64_t now = ota_time_mono_ms();
        if (now - last_ping > KEEPALIVE_S * 1000 / 2) {
            for (int i = 0; i < r->n_conns; i++)
                mw_pingreq(&r->conns[i].c.out);
            last_ping = now;
        }
        if (flush_all(r) != 0) {
            OTA_ERROR("responder: write to the broker: %s", strerror(errno));
            break;
        }
        if (r->t_end) {
            rc = 0;
            break;
        }
        if (now - r->t0 > (int64_t)duration * 1000) {
            OTA_WARN("responder: duration over");
            break;
        }
    }
    int64_t el = r->t_end ? r->t_end - r->t_start : -1;
    double rate = el > 0 ? (double)r->n_done * 60000.0 / (double)el : 0;
    printf("ota-fleet-responder: %u ready, %u pushed, %u acked, %llu progress, %u done; "
           "start->all done %lld ms: %.0f devices/min\n",
           r->n_ready, r->n_pushed, r->n_acked, (unsigned long long)r->n_progress, r->n_done,
           (long long)el, rate);
    if (summary[0]) {
        json_t *j = json_pack("{s:i,s:i,s:i,s:I,s:i,s:I,s:f,s:i,s:I,s:I}", "ready", (int)r->n_ready,
                              "pushed", (int)r->n_pushed, "acked", (int)r->n_acked, "progress",
                              (json_int_t)r->n_progress, "done", (int)r->n_done, "startToDoneMs",
                              (json_int_t)el, "devicesPerMinute", rate, "connections", r->n_conns,
                              "startUnixMs", (json_int_t)r->unix_start, "endUnixMs",
                              (json_int_t)r->unix_end);
        json_dump_file(j, summary, JSON_INDENT(1));
        json_decref(j);
    }
    for (int i = 0; i < r->n_conns; i++) {
        mw_disconnect(&r->conns[i].c.out);
        mw_conn_flush(&r->conns[i].c);
        mw_conn_close(&r->conns[i].c);
    }
    close(r->ep);
    for (size_t i = 0; i < r->cap; i++)
        free(r->tab[i].id);
    free(r->tab);
    return rc;
}
