/*
 * scripted_device: see scripted_device.h. One mutex and condition per device; the
 * libmosquitto loop thread records what arrives (and answers in auto mode), the test thread
 * waits on the records. A new mosquitto handle is made for every connection, so a device
 * can disconnect and connect again while its records stay.
 */
#include "scripted_device.h"

#include "ota_crypto.h"

#include <jansson.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SDEV_ACKED_RING 256

struct sdev {
    int port;
    char pk[72], id[72], client[150], secret[40];
    char t_upgrade[200], t_get_reply[200];
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int connack; /* -1 until the CONNACK */
    int sub_mid, sub_granted, got_suback;
    int acked[SDEV_ACKED_RING];
    int nacked;
    unsigned next_msg; /* msgId counter */
    sdev_auto mode;
    int fail_step;
    int auto_acks;
    sdev_msg msgs[SDEV_MAX_MSGS];
    int nmsgs;
    /* delayed automatic answers (sdev_set_auto_delay) */
    int delay_ms;
    pthread_t worker;
    int worker_started, worker_stop;
    pthread_cond_t wcond;
    struct delayed {
        int64_t due_ms;
        char suffix[40];
        char payload[512];
    } pending[64];
    int npending;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mosquitto_lib_init();
}

int64_t sdev_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sdev_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void abs_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, cap, "%s", s ? s : "");
}

/* Parses a platform message into m (best effort: a malformed one keeps empty fields). */
static void parse_msg(sdev_msg *m, const char *payload, size_t len)
{
    json_t *root = json_loadb(payload, len, 0, NULL);
    if (!root)
        return;
    copy_str(m->msg_id, sizeof m->msg_id, json_object_get(root, "msgId"));
    if (json_is_integer(json_object_get(root, "code")))
        m->code = (int)json_integer_value(json_object_get(root, "code"));
    json_t *data = json_object_get(root, "data");
    if (json_is_object(data)) {
        copy_str(m->batch_id, sizeof m->batch_id, json_object_get(data, "batchId"));
        copy_str(m->firmware_version, sizeof m->firmware_version,
                 json_object_get(data, "firmwareVersion"));
        copy_str(m->policy, sizeof m->policy, json_object_get(data, "policy"));
        copy_str(m->md5, sizeof m->md5, json_object_get(data, "sign"));
        copy_str(m->sha256, sizeof m->sha256, json_object_get(data, "sha256"));
        copy_str(m->url, sizeof m->url, json_object_get(data, "url"));
        if (json_is_integer(json_object_get(data, "size")))
            m->size = (long long)json_integer_value(json_object_get(data, "size"));
    }
    json_decref(root);
}

/* Next msgId; call with the lock held. */
static void next_id(sdev *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%u", d->id, ++d->next_msg);
}

static int publish_locked(sdev *d, const char *suffix, const void *payload, size_t len, int *mid)
{
    char topic[256];
    snprintf(topic, sizeof topic, "/sys/%s/%s/%s", d->pk, d->id, suffix);
    if (!d->mosq)
        return -1;
    return mosquitto_publish(d->mosq, mid, topic, (int)len, payload, 1, false) == MOSQ_ERR_SUCCESS
               ? 0
               : -1;
}

/* Lock held: sends an automatic answer now, or schedules it `step` delays from now. */
static int auto_send(sdev *d, int step, const char *suffix, const char *payload, size_t len)
{
    if (d->delay_ms <= 0)
        return publish_locked(d, suffix, payload, len, NULL);
    if (d->npending >= (int)(sizeof d->pending / sizeof d->pending[0]))
        return -1;
    struct delayed *p = &d->pending[d->npending++];
    p->due_ms = sdev_now_ms() + (int64_t)d->delay_ms * step;
    snprintf(p->suffix, sizeof p->suffix, "%s", suffix);
    snprintf(p->payload, sizeof p->payload, "%.*s", (int)len, payload);
    pthread_cond_broadcast(&d->wcond);
    return 0;
}

/* Loop thread, lock held: what an automatic device does with a push. */
static void auto_answer(sdev *d, const sdev_msg *m)
{
    char buf[512], mid_s[80];
    int n;
    if (d->mode == SDEV_AUTO_NONE || !m->msg_id[0])
        return;
    n = snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":200}", m->msg_id);
    if (auto_send(d, 1, "ota/firmware/upgrade_reply", buf, (size_t)n) == 0)
        d->auto_acks++;
    if (d->mode == SDEV_AUTO_UPGRADE) {
        next_id(d, mid_s, sizeof mid_s);
        n = snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":50}}",
                     mid_s);
        auto_send(d, 2, "ota/progress", buf, (size_t)n);
        next_id(d, mid_s, sizeof mid_s);
        n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":100}}", mid_s);
        auto_send(d, 3, "ota/progress", buf, (size_t)n);
        next_id(d, mid_s, sizeof mid_s);
        n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":\"%s\"}}",
                     mid_s, m->firmware_version);
        auto_send(d, 4, "ota/version", buf, (size_t)n);
    } else if (d->mode == SDEV_AUTO_FAIL) {
        next_id(d, mid_s, sizeof mid_s);
        n = snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":%d}}",
                     mid_s, d->fail_step);
        auto_send(d, 2, "ota/progress", buf, (size_t)n);
    }
}

static void *worker_main(void *arg)
{
    sdev *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->worker_stop) {
        int64_t now = sdev_now_ms(), next = now + 1000;
        int sent = 0;
        for (int i = 0; i < d->npending; i++) {
            if (d->pending[i].due_ms <= now) {
                struct delayed p = d->pending[i];
                memmove(&d->pending[i], &d->pending[i + 1],
                        (size_t)(d->npending - i - 1) * sizeof d->pending[0]);
                d->npending--;
                publish_locked(d, p.suffix, p.payload, strlen(p.payload), NULL);
                sent = 1;
                break;
            }
            if (d->pending[i].due_ms < next)
                next = d->pending[i].due_ms;
        }
        if (sent)
            continue;
        struct timespec ts;
        abs_deadline(&ts, (int)(next - now));
        pthread_cond_timedwait(&d->wcond, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

void sdev_set_auto_delay(sdev *d, int delay_ms)
{
    pthread_mutex_lock(&d->lock);
    d->delay_ms = delay_ms;
    int start = !d->worker_started && delay_ms > 0;
    if (start)
        d->worker_started = pthread_create(&d->worker, NULL, worker_main, d) == 0;
    pthread_mutex_unlock(&d->lock);
}

static void on_connect(struct mosquitto *mq, void *obj, int rc)
{
    sdev *d = obj;
    (void)mq;
    pthread_mutex_lock(&d->lock);
    d->connack = rc;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *granted)
{
    sdev *d = obj;
    (void)mq;
    pthread_mutex_lock(&d->lock);
    if (mid == d->sub_mid) {
        d->sub_granted = n > 0 ? granted[0] : -1;
        d->got_suback = 1;
    }
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void on_publish(struct mosquitto *mq, void *obj, int mid)
{
    sdev *d = obj;
    (void)mq;
    pthread_mutex_lock(&d->lock);
    d->acked[d->nacked++ % SDEV_ACKED_RING] = mid;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *msg)
{
    sdev *d = obj;
    (void)mq;
    pthread_mutex_lock(&d->lock);
    if (d->nmsgs < SDEV_MAX_MSGS) {
        sdev_msg *m = &d->msgs[d->nmsgs];
        memset(m, 0, sizeof *m);
        m->at_ms = sdev_now_ms();
        if (strcmp(msg->topic, d->t_upgrade) == 0)
            m->kind = SDEV_PUSH;
        else if (strcmp(msg->topic, d->t_get_reply) == 0)
            m->kind = SDEV_GET_REPLY;
        else
            m->kind = SDEV_OTHER;
        m->payload = calloc(1, (size_t)msg->payloadlen + 1);
        if (m->payload) {
            memcpy(m->payload, msg->payload, (size_t)msg->payloadlen);
            parse_msg(m, m->payload, (size_t)msg->payloadlen);
            d->nmsgs++;
            if (m->kind == SDEV_PUSH)
                auto_answer(d, m);
        }
    }
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

sdev *sdev_new(int mqtt_port, const unsigned char key[32], const char *pk, const char *id)
{
    pthread_once(&lib_once, lib_init);
    sdev *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->port = mqtt_port;
    snprintf(d->pk, sizeof d->pk, "%s", pk);
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->client, sizeof d->client, "%s.%s", pk, id);
    snprintf(d->t_upgrade, sizeof d->t_upgrade, "/sys/%s/%s/ota/firmware/upgrade", pk, id);
    snprintf(d->t_get_reply, sizeof d->t_get_reply, "/sys/%s/%s/ota/firmware/get_reply", pk, id);
    if (ota_secret_device(key, pk, id, d->secret, sizeof d->secret) != 0) {
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_cond_init(&d->wcond, NULL);
    d->connack = -1;
    return d;
}

/* Stops the loop and frees the handle (after a disconnect or a drop). */
static void close_handle(sdev *d, bool force)
{
    struct mosquitto *mq;
    pthread_mutex_lock(&d->lock);
    mq = d->mosq;
    pthread_mutex_unlock(&d->lock);
    if (!mq)
        return;
    mosquitto_loop_stop(mq, force);
    pthread_mutex_lock(&d->lock);
    d->mosq = NULL;
    d->connack = -1;
    pthread_mutex_unlock(&d->lock);
    mosquitto_destroy(mq);
}

static int subscribe_wait(sdev *d, const char *topic)
{
    struct timespec ts;
    int mid = 0, ok = -1;
    pthread_mutex_lock(&d->lock);
    d->got_suback = 0;
    if (mosquitto_subscribe(d->mosq, &mid, topic, 1) != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&d->lock);
        return -1;
    }
    d->sub_mid = mid;
    abs_deadline(&ts, 5000);
    while (!d->got_suback) {
        if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    if (d->got_suback && d->sub_granted >= 0 && d->sub_granted <= 2)
        ok = 0;
    pthread_mutex_unlock(&d->lock);
    return ok;
}

int sdev_connect(sdev *d)
{
    struct timespec ts;
    struct mosquitto *mq;
    if (d->mosq)
        close_handle(d, true);
    mq = mosquitto_new(d->client, true, d);
    if (!mq)
        return -1;
    mosquitto_int_option(mq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_username_pw_set(mq, d->client, d->secret);
    mosquitto_connect_callback_set(mq, on_connect);
    mosquitto_subscribe_callback_set(mq, on_subscribe);
    mosquitto_publish_callback_set(mq, on_publish);
    mosquitto_message_callback_set(mq, on_message);
    mosquitto_reconnect_delay_set(mq, 3600, 3600, false); /* a dropped device stays dropped */
    pthread_mutex_lock(&d->lock);
    d->mosq = mq;
    d->connack = -1;
    pthread_mutex_unlock(&d->lock);
    if (mosquitto_connect(mq, "127.0.0.1", d->port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "sdev %s: connect failed\n", d->client);
        close_handle(d, true);
        return -1;
    }
    mosquitto_loop_start(mq);
    abs_deadline(&ts, 5000);
    pthread_mutex_lock(&d->lock);
    while (d->connack < 0) {
        if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    int ca = d->connack;
    pthread_mutex_unlock(&d->lock);
    if (ca != 0) {
        fprintf(stderr, "sdev %s: CONNACK %d\n", d->client, ca);
        mosquitto_disconnect(mq);
        close_handle(d, true);
        return -1;
    }
    if (subscribe_wait(d, d->t_upgrade) != 0 || subscribe_wait(d, d->t_get_reply) != 0) {
        fprintf(stderr, "sdev %s: subscription refused or unanswered\n", d->client);
        return -1;
    }
    return 0;
}

int sdev_start(sdev *d, const char *version)
{
    if (sdev_connect(d) != 0)
        return -1;
    return sdev_version(d, version);
}

void sdev_disconnect(sdev *d)
{
    if (!d || !d->mosq)
        return;
    mosquitto_disconnect(d->mosq);
    close_handle(d, false);
}

void sdev_drop(sdev *d)
{
    if (!d || !d->mosq)
        return;
    int fd = mosquitto_socket(d->mosq);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    close_handle(d, true);
}

void sdev_free(sdev *d)
{
    if (!d)
        return;
    if (d->worker_started) {
        pthread_mutex_lock(&d->lock);
        d->worker_stop = 1;
        pthread_cond_broadcast(&d->wcond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->worker, NULL);
    }
    sdev_disconnect(d);
    for (int i = 0; i < d->nmsgs; i++)
        free(d->msgs[i].payload);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    pthread_cond_destroy(&d->wcond);
    free(d);
}

void sdev_set_auto(sdev *d, sdev_auto mode, int fail_step)
{
    pthread_mutex_lock(&d->lock);
    d->mode = mode;
    d->fail_step = fail_step;
    pthread_mutex_unlock(&d->lock);
}

/* Publishes and waits for the PUBACK. */
static int publish_wait(sdev *d, const char *suffix, const void *payload, size_t len)
{
    struct timespec ts;
    int mid = 0, ok = 0;
    pthread_mutex_lock(&d->lock);
    if (publish_locked(d, suffix, payload, len, &mid) != 0) {
        pthread_mutex_unlock(&d->lock);
        fprintf(stderr, "sdev %s: publish on %s failed\n", d->client, suffix);
        return -1;
    }
    abs_deadline(&ts, 5000);
    for (;;) {
        for (int i = 0; i < SDEV_ACKED_RING && i < d->nacked; i++)
            if (d->acked[i] == mid)
                ok = 1;
        if (ok || pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&d->lock);
    if (!ok)
        fprintf(stderr, "sdev %s: no PUBACK on %s\n", d->client, suffix);
    return ok ? 0 : -1;
}

static void fresh_id(sdev *d, char *out, size_t cap)
{
    pthread_mutex_lock(&d->lock);
    next_id(d, out, cap);
    pthread_mutex_unlock(&d->lock);
}

int sdev_version(sdev *d, const char *firmware_version)
{
    char buf[512], mid[80];
    fresh_id(d, mid, sizeof mid);
    int n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":\"%s\"}}",
                     mid, firmware_version);
    return publish_wait(d, "ota/version", buf, (size_t)n);
}

int sdev_ack(sdev *d, const char *msg_id, int code)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":%d}", msg_id,
                     code);
    return publish_wait(d, "ota/firmware/upgrade_reply", buf, (size_t)n);
}

int sdev_progress(sdev *d, int step)
{
    char buf[512], mid[80];
    fresh_id(d, mid, sizeof mid);
    int n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":%d,\"desc\":\"scripted\"}}",
                     mid, step);
    return publish_wait(d, "ota/progress", buf, (size_t)n);
}

int sdev_get(sdev *d, const char *version)
{
    char buf[512], mid[80];
    int n;
    fresh_id(d, mid, sizeof mid);
    if (version)
        n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"firmwareVersion\":\"%s\"}}",
                     mid, version);
    else
        n = snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{}}", mid);
    return publish_wait(d, "ota/firmware/get", buf, (size_t)n);
}

int sdev_publish_raw(sdev *d, const char *suffix, const void *payload, size_t len)
{
    return publish_wait(d, suffix, payload, len);
}

static int count_locked(sdev *d, sdev_kind kind)
{
    int n = 0;
    for (int i = 0; i < d->nmsgs; i++)
        n += d->msgs[i].kind == kind;
    return n;
}

int sdev_wait(sdev *d, sdev_kind kind, int n, int timeout_ms)
{
    struct timespec ts;
    int have;
    abs_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        have = count_locked(d, kind);
        if (have >= n || pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    have = count_locked(d, kind);
    pthread_mutex_unlock(&d->lock);
    return have;
}

int sdev_count(sdev *d, sdev_kind kind)
{
    pthread_mutex_lock(&d->lock);
    int n = count_locked(d, kind);
    pthread_mutex_unlock(&d->lock);
    return n;
}

int sdev_msg_get(sdev *d, sdev_kind kind, int i, sdev_msg *out)
{
    int seen = 0, rc = -1;
    pthread_mutex_lock(&d->lock);
    for (int k = 0; k < d->nmsgs; k++) {
        if (d->msgs[k].kind != kind)
            continue;
        if (seen++ == i) {
            *out = d->msgs[k];
            out->payload = NULL;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int sdev_duplicate_push_ids(sdev *d)
{
    int dups = 0;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->nmsgs; i++) {
        if (d->msgs[i].kind != SDEV_PUSH)
            continue;
        for (int j = 0; j < i; j++)
            if (d->msgs[j].kind == SDEV_PUSH && strcmp(d->msgs[j].msg_id, d->msgs[i].msg_id) == 0) {
                dups++;
                break;
            }
    }
    pthread_mutex_unlock(&d->lock);
    return dups;
}

int sdev_auto_acks(sdev *d)
{
    pthread_mutex_lock(&d->lock);
    int n = d->auto_acks;
    pthread_mutex_unlock(&d->lock);
    return n;
}

const char *sdev_identifier(const sdev *d)
{
    return d->id;
}
