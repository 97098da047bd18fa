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
 * Expected load: 100,000 devices, one connection, one thread.
 */
#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"
#include "otaproto/ota_protocol.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *id;       /* identifier; owned; NULL = free slot */
    uint8_t ready;  /* reported a version other than the target */
    uint8_t pushed;
    uint8_t acked;
    uint8_t done;
} rdev;

typedef struct {
    struct mosquitto *mosq;
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
    int64_t t0, t_start, t_end;
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
    if (mosquitto_publish(r->mosq, NULL, topic, n, buf, 1, false) == MOSQ_ERR_SUCCESS) {
        d->pushed = 1;
        r->n_pushed++;
    }
    if (r->push_twice) /* the same attempt (msgId) in a second PUBLISH */
        mosquitto_publish(r->mosq, NULL, topic, n, buf, 1, false);
}

static void start(responder *r)
{
    r->started = 1;
    r->t_start = ota_time_mono_ms();
    OTA_INFO("responder: %u devices ready, pushing", r->n_ready);
    for (size_t i = 0; i < r->cap; i++)
        if (r->tab[i].id && r->tab[i].ready && !r->tab[i].pushed)
            push(r, &r->tab[i]);
}

static void cb_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    responder *r = ud;
    char id[96];
    (void)m;
    r->msgs_in++;
    /* /sys/{pk}/{id}/ota/... */
    const char *p = msg->topic + OTA_TOPIC_ROOT_LEN + strlen(r->pk) + 1;
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof id)
        return;
    memcpy(id, p, (size_t)(slash - p));
    id[slash - p] = 0;
    const char *kind = slash + 1;
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
    if (strcmp(kind, OTA_TOPIC_VERSION) != 0)
        return;
    json_t *j = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
    const char *v = json_string_value(json_object_get(json_object_get(j, "data"), "firmwareVersion"));
    if (v && strcmp(v, r->target) == 0) {
        if (d->pushed && !d->done) {
            d->done = 1;
            r->n_done++;
            if (r->n_done >= r->expect)
                r->t_end = ota_time_mono_ms();
        }
    } else if (v && !d->ready) {
        d->ready = 1;
        r->n_ready++;
        if (r->started)
            push(r, d);
        else if (r->n_ready >= r->start_after)
            start(r);
    } else if (v && d->ready && r->started && !d->done) {
        push(r, d); /* reconnected before finishing: push again */
    }
    json_decref(j);
}

static void cb_connect(struct mosquitto *m, void *ud, int rc)
{
    responder *r = ud;
    char t1[160], t2[160], t3[160];
    if (rc != 0) {
        OTA_ERROR("responder: broker refused: %s", mosquitto_connack_string(rc));
        stop_flag = 1;
        return;
    }
    snprintf(t1, sizeof t1, OTA_TOPIC_ROOT "%s/+/" OTA_TOPIC_VERSION, r->pk);
    snprintf(t2, sizeof t2, OTA_TOPIC_ROOT "%s/+/" OTA_TOPIC_UPGRADE_REPLY, r->pk);
    snprintf(t3, sizeof t3, OTA_TOPIC_ROOT "%s/+/" OTA_TOPIC_PROGRESS, r->pk);
    char *subs[3] = {t1, t2, t3};
    mosquitto_subscribe_multiple(m, NULL, 3, subs, 1, 0, NULL);
}

static void cb_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    (void)m;
    (void)ud;
    (void)mid;
    for (int i = 0; i < n; i++)
        if (granted[i] >= 0x80) {
            OTA_ERROR("responder: subscription refused");
            stop_flag = 1;
        }
    fprintf(stdout, "responder subscribed\n");
    fflush(stdout);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: ota-fleet-responder --product-key PK -n DEVICES [--start-after K]\n"
                "  [--broker HOST:PORT] [--key-file PATH] [--fw-version V] [--url U] [--size B]\n"
                "  [--md5 HEX] [--sha256 HEX] [--duration S] [--summary-json FILE]\n"
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
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
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
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "ota-fleet-responder: bad number: %s\n", optarg);
            return 2;
        }
    }
    if (!r->pk[0] || !r->expect) {
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
    mosquitto_lib_init();
    r->mosq = mosquitto_new("otad", true, r);
    mosquitto_username_pw_set(r->mosq, "otad", pw);
    mosquitto_max_inflight_messages_set(r->mosq, 0);
    mosquitto_connect_callback_set(r->mosq, cb_connect);
    mosquitto_subscribe_callback_set(r->mosq, cb_subscribe);
    mosquitto_message_callback_set(r->mosq, cb_message);
    r->t0 = ota_time_mono_ms();
    if (mosquitto_connect(r->mosq, host, port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "ota-fleet-responder: cannot connect to %s:%d\n", host, port);
        return 2;
    }
    int rc = 1;
    while (!stop_flag) {
        int lrc = mosquitto_loop(r->mosq, 50, 1);
        if (lrc != MOSQ_ERR_SUCCESS) {
            OTA_WARN("responder: %s; reconnecting", mosquitto_strerror(lrc));
            mosquitto_reconnect(r->mosq);
        }
        if (r->t_end) {
            rc = 0;
            break;
        }
        if (ota_time_mono_ms() - r->t0 > (int64_t)duration * 1000) {
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
        json_t *j = json_pack("{s:i,s:i,s:i,s:I,s:i,s:I,s:f}", "ready", (int)r->n_ready, "pushed",
                              (int)r->n_pushed, "acked", (int)r->n_acked, "progress",
                              (json_int_t)r->n_progress, "done", (int)r->n_done, "startToDoneMs",
                              (json_int_t)el, "devicesPerMinute", rate);
        json_dump_file(j, summary, JSON_INDENT(1));
        json_decref(j);
    }
    mosquitto_disconnect(r->mosq);
    mosquitto_loop(r->mosq, 50, 1);
    mosquitto_destroy(r->mosq);
    mosquitto_lib_cleanup();
    for (size_t i = 0; i < r->cap; i++)
        free(r->tab[i].id);
    free(r->tab);
    return rc;
}
