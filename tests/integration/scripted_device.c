/*
 * scripted_device: see scripted_device.h. One mutex and condition per client; a loop thread
 * of ours (not mosquitto_loop_start's) runs mosquitto_loop with a short timeout, records
 * what arrives (and answers in auto mode), and ends when the connection does; the test
 * thread waits on the records with deadlines. A new mosquitto handle is made for every
 * connection, so a client can disconnect and connect again while its records stay.
 *
 * Why not mosquitto_loop_start/loop_stop: with libmosquitto 2.0 a client whose connection
 * was lost sleeps in the library's reconnect delay, and that sleep first drains the wake-up
 * pipe, so a mosquitto_disconnect + loop_stop(force=false) landing just before it is lost
 * and the join waits out the whole delay (test_broker hung in test_presence_on_off this
 * way); loop_stop(force=true) cancels the thread wherever it is, possibly holding one of
 * the library's locks. Our own loop never reconnects and always stops within SDEV_LOOP_MS.
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
#define SDEV_WAIT_MS 5000 /* CONNACK, SUBACK, PUBACK, DISCONNECT written, loop thread ended */
#define SDEV_LOOP_MS 100  /* mosquitto_loop's timeout: how long a stop may take to be seen */

struct sdev {
    int port;
    char pk[72], id[72];
    char *client_id, *user, *pass; /* NULL: none */
    char t_upgrade[200], t_get_reply[200];
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* our loop thread for mosq: started by sdev_login, joined by close_handle */
    pthread_t loop;
    int loop_started, loop_stop, loop_ended;
    int connack; /* -1 until the CONNACK */
    int sub_mid, sub_granted, got_suback;
    int acked[SDEV_ACKED_RING];
    int nacked;
    unsigned next_msg; /* msgId counter */
    sdev_auto mode;
    int fail_step;
    int auto_acks;
    sdev_msg **msgs; /* nmsgs records (each allocated once: pointers stay valid), cap slots */
    int nmsgs, cap;
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

static const char *name(const sdev *d)
{
    return d->client_id ? d->client_id : "(no client id)";
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

/* Lock held: queues a QoS 1 publish (the loop thread writes it). 0 or -1 (not connected). */
static int publish_locked(sdev *d, const char *topic, const void *payload, size_t len, int *mid,
                          bool retain)
{
    if (!d->mosq)
        return -1;
    return mosquitto_publish(d->mosq, mid, topic, (int)len, payload, 1, retain) == MOSQ_ERR_SUCCESS
               ? 0
               : -1;
}

/* The topic /sys/{pk}/{id}/{suffix} of this device. */
static void dev_topic(const sdev *d, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "/sys/%s/%s/%s", d->pk, d->id, suffix);
}

/* Lock held: sends an automatic answer now, or schedules it `step` delays from now. */
static int auto_send(sdev *d, int step, const char *suffix, const char *payload, size_t len)
{
    if (d->delay_ms <= 0) {
        char topic[256];
        dev_topic(d, suffix, topic, sizeof topic);
        return publish_locked(d, topic, payload, len, NULL, false);
    }
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
        n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":50}}", mid_s);
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
        n = snprintf(buf, sizeof buf,
                     "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":%d}}", mid_s,
                     d->fail_step);
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
                char topic[256];
                dev_topic(d, p.suffix, topic, sizeof topic);
                publish_locked(d, topic, p.payload, strlen(p.payload), NULL, false);
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

/* Lock held: a new record at the end (NULL when full or out of memory). */
static sdev_msg *append_locked(sdev *d)
{
    if (d->nmsgs >= SDEV_MAX_MSGS)
        return NULL;
    if (d->nmsgs == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        sdev_msg **m = realloc(d->msgs, (size_t)cap * sizeof *m);
        if (!m)
            return NULL;
        d->msgs = m;
        d->cap = cap;
    }
    return calloc(1, sizeof(sdev_msg));
}

static void on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *msg)
{
    sdev *d = obj;
    (void)mq;
    pthread_mutex_lock(&d->lock);
    sdev_msg *m = append_locked(d);
    if (m) {
        m->at_ms = sdev_now_ms();
        if (strcmp(msg->topic, d->t_upgrade) == 0)
            m->kind = SDEV_PUSH;
        else if (strcmp(msg->topic, d->t_get_reply) == 0)
            m->kind = SDEV_GET_REPLY;
        else
            m->kind = SDEV_OTHER;
        const char *t = msg->topic;
        m->part = -1;
        if (strncmp(t, OTA_TOPIC_PART_PREFIX, sizeof OTA_TOPIC_PART_PREFIX - 1) == 0) {
            char *end;
            m->part = (int)strtol(t + sizeof OTA_TOPIC_PART_PREFIX - 1, &end, 10);
            t = end;
        }
        m->topic = strdup(t);
        m->payload = calloc(1, (size_t)msg->payloadlen + 1);
        if (m->topic && m->payload) {
            if (msg->payloadlen > 0) /* an empty message has no payload pointer */
                memcpy(m->payload, msg->payload, (size_t)msg->payloadlen);
            parse_msg(m, m->payload, (size_t)msg->payloadlen);
            d->msgs[d->nmsgs++] = m;
            if (m->kind == SDEV_PUSH)
                auto_answer(d, m);
        } else {
            free(m->topic);
            free(m->payload);
            free(m);
        }
    }
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* Our loop thread for one handle: runs until told to stop or the connection ends (refused,
 * lost, or closed after our DISCONNECT was written). Never reconnects. */
static void *loop_main(void *arg)
{
    sdev *d = arg;
    pthread_mutex_lock(&d->lock);
    struct mosquitto *mq = d->mosq;
    pthread_mutex_unlock(&d->lock);
    for (;;) {
        pthread_mutex_lock(&d->lock);
        int stop = d->loop_stop;
        pthread_mutex_unlock(&d->lock);
        if (stop || mosquitto_loop(mq, SDEV_LOOP_MS, 1) != MOSQ_ERR_SUCCESS)
            break;
    }
    pthread_mutex_lock(&d->lock);
    d->loop_ended = 1;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Lock held: waits until *flag is set or ms passed. Returns *flag. */
static int wait_flag_locked(sdev *d, const int *flag, int ms)
{
    struct timespec ts;
    abs_deadline(&ts, ms);
    while (!*flag) {
        if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    return *flag;
}

/* Lock held: tells our loop thread to stop and joins it. It sees the flag within
 * SDEV_LOOP_MS; one that has not stopped after SDEV_WAIT_MS is reported and aborts the test
 * rather than hanging it. */
static void stop_loop_locked(sdev *d)
{
    if (!d->loop_started)
        return;
    d->loop_stop = 1;
    if (!wait_flag_locked(d, &d->loop_ended, SDEV_WAIT_MS)) {
        fprintf(stderr, "sdev %s: loop thread did not stop within %d ms\n", name(d), SDEV_WAIT_MS);
        abort();
    }
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->loop, NULL); /* it only unlocks and returns now */
    pthread_mutex_lock(&d->lock);
    d->loop_started = 0;
}

/* Takes the handle from d, stops its loop thread (once the connection ended, waiting up to
 * SDEV_WAIT_MS for that, or at once when `now`) and frees the handle. */
static void close_handle(sdev *d, bool now)
{
    pthread_mutex_lock(&d->lock);
    struct mosquitto *mq = d->mosq;
    if (!mq) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    if (d->loop_started && !now && !wait_flag_locked(d, &d->loop_ended, SDEV_WAIT_MS))
        fprintf(stderr, "sdev %s: connection not closed within %d ms; stopping\n", name(d),
                SDEV_WAIT_MS);
    stop_loop_locked(d);
    d->mosq = NULL;
    d->connack = -1;
    d->loop_stop = d->loop_ended = 0;
    pthread_mutex_unlock(&d->lock);
    mosquitto_destroy(mq); /* closes the socket if still open */
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A client of these credentials; NULL when out of memory. */
static sdev *new_client(int port, const char *client_id, const char *user, const char *pass)
{
    pthread_once(&lib_once, lib_init);
    sdev *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->port = port;
    d->client_id = dup_or_null(client_id);
    d->user = dup_or_null(user);
    d->pass = dup_or_null(pass);
    if ((client_id && !d->client_id) || (user && !d->user) || (pass && !d->pass)) {
        free(d->client_id);
        free(d->user);
        free(d->pass);
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_cond_init(&d->wcond, NULL);
    d->connack = -1;
    return d;
}

sdev *sdev_new_client(int mqtt_port, const char *client_id, const char *user, const char *pass)
{
    return new_client(mqtt_port, client_id, user, pass);
}

sdev *sdev_new(int mqtt_port, const unsigned char key[32], const char *pk, const char *id)
{
    char cid[150], secret[40];
    if (strlen(pk) > 64 || strlen(id) > 64)
        return NULL;
    snprintf(cid, sizeof cid, "%s.%s", pk, id);
    if (ota_secret_device(key, pk, id, secret, sizeof secret) != 0)
        return NULL;
    sdev *d = new_client(mqtt_port, cid, cid, secret);
    if (!d)
        return NULL;
    snprintf(d->pk, sizeof d->pk, "%s", pk);
    snprintf(d->id, sizeof d->id, "%s", id);
    dev_topic(d, "ota/firmware/upgrade", d->t_upgrade, sizeof d->t_upgrade);
    dev_topic(d, "ota/firmware/get_reply", d->t_get_reply, sizeof d->t_get_reply);
    return d;
}

sdev *sdev_new_server(int mqtt_port, const unsigned char key[32], const char *client_id)
{
    char secret[40];
    if (ota_secret_server(key, secret, sizeof secret) != 0)
        return NULL;
    return new_client(mqtt_port, client_id ? client_id : "otad", "otad", secret);
}

int sdev_login(sdev *d)
{
    struct mosquitto *mq;
    if (!d)
        return -1;
    if (d->mosq)
        close_handle(d, true);
    mq = mosquitto_new(d->client_id, true, d);
    if (!mq)
        return -1;
    mosquitto_int_option(mq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_threaded_set(mq, true); /* our thread writes; callers only queue */
    if (d->user)
        mosquitto_username_pw_set(mq, d->user, d->pass);
    mosquitto_connect_callback_set(mq, on_connect);
    mosquitto_subscribe_callback_set(mq, on_subscribe);
    mosquitto_publish_callback_set(mq, on_publish);
    mosquitto_message_callback_set(mq, on_message);
    pthread_mutex_lock(&d->lock);
    d->mosq = mq;
    d->connack = -1;
    pthread_mutex_unlock(&d->lock);
    /* non-blocking TCP connect; the CONNECT goes out from the loop thread */
    int rc = mosquitto_connect_async(mq, "127.0.0.1", d->port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "sdev %s: connect to port %d failed: %s\n", name(d), d->port,
                mosquitto_strerror(rc));
        close_handle(d, true);
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    d->loop_started = pthread_create(&d->loop, NULL, loop_main, d) == 0;
    int ca = -1;
    if (d->loop_started) {
        struct timespec ts;
        abs_deadline(&ts, SDEV_WAIT_MS);
        while (d->connack < 0 && !d->loop_ended) {
            if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
                break;
        }
        ca = d->connack;
    }
    int ended = d->loop_ended;
    pthread_mutex_unlock(&d->lock);
    if (ca < 0 && ended)
        fprintf(stderr, "sdev %s: no CONNACK on port %d: connection closed\n", name(d), d->port);
    else if (ca < 0)
        fprintf(stderr, "sdev %s: no CONNACK on port %d within %d ms\n", name(d), d->port,
                SDEV_WAIT_MS);
    return ca;
}

sdev *sdev_open(int mqtt_port, const unsigned char key[32], const char *pk, const char *id)
{
    sdev *d = sdev_new(mqtt_port, key, pk, id);
    int ca = sdev_login(d);
    if (ca != 0) {
        fprintf(stderr, "sdev %s.%s: login refused or unanswered (CONNACK %d)\n", pk, id, ca);
        sdev_free(d);
        return NULL;
    }
    return d;
}

int sdev_subscribe(sdev *d, const char *filter)
{
    int mid = 0, granted = -1;
    pthread_mutex_lock(&d->lock);
    d->got_suback = 0;
    d->sub_mid = -2;
    /* the lock is held across subscribe so the SUBACK cannot be missed */
    if (!d->mosq || mosquitto_subscribe(d->mosq, &mid, filter, 1) != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&d->lock);
        fprintf(stderr, "sdev %s: subscribe to %s failed\n", name(d), filter);
        return -1;
    }
    d->sub_mid = mid;
    if (wait_flag_locked(d, &d->got_suback, SDEV_WAIT_MS))
        granted = d->sub_granted;
    pthread_mutex_unlock(&d->lock);
    if (granted < 0)
        fprintf(stderr, "sdev %s: no SUBACK for %s\n", name(d), filter);
    return granted;
}

int sdev_connect(sdev *d)
{
    int ca = sdev_login(d);
    if (ca != 0) {
        fprintf(stderr, "sdev %s: CONNACK %d\n", d ? name(d) : "NULL", ca);
        if (d)
            close_handle(d, true);
        return -1;
    }
    const char *own[] = {d->t_upgrade, d->t_get_reply};
    for (int i = 0; i < 2; i++) {
        int granted = sdev_subscribe(d, own[i]);
        if (granted < 0 || granted > 2) {
            fprintf(stderr, "sdev %s: subscription to %s refused or unanswered\n", name(d), own[i]);
            return -1;
        }
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
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    struct mosquitto *mq = d->mosq;
    pthread_mutex_unlock(&d->lock);
    if (!mq)
        return;
    /* queued; the loop thread writes it and then sees the connection end */
    mosquitto_disconnect(mq);
    close_handle(d, false);
}

void sdev_drop(sdev *d)
{
    if (!d || !d->mosq)
        return;
    /* our loop stops first, so the socket cannot be closed (and its number reused) under us */
    pthread_mutex_lock(&d->lock);
    stop_loop_locked(d);
    pthread_mutex_unlock(&d->lock);
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
    for (int i = 0; i < d->nmsgs; i++) {
        free(d->msgs[i]->topic);
        free(d->msgs[i]->payload);
        free(d->msgs[i]);
    }
    free(d->msgs);
    free(d->client_id);
    free(d->user);
    free(d->pass);
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

/* Publishes on topic and waits for the PUBACK. */
static int publish_wait(sdev *d, const char *topic, const void *payload, size_t len, bool retain)
{
    struct timespec ts;
    int mid = 0, ok = 0;
    pthread_mutex_lock(&d->lock);
    if (publish_locked(d, topic, payload, len, &mid, retain) != 0) {
        pthread_mutex_unlock(&d->lock);
        fprintf(stderr, "sdev %s: publish on %s failed\n", name(d), topic);
        return -1;
    }
    abs_deadline(&ts, SDEV_WAIT_MS);
    for (;;) {
        for (int i = 0; i < SDEV_ACKED_RING && i < d->nacked; i++)
            if (d->acked[i] == mid)
                ok = 1;
        if (ok || pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&d->lock);
    if (!ok)
        fprintf(stderr, "sdev %s: no PUBACK on %s\n", name(d), topic);
    return ok ? 0 : -1;
}

int sdev_publish(sdev *d, const char *topic, const char *payload)
{
    return publish_wait(d, topic, payload, strlen(payload), false);
}

int sdev_publish_retained(sdev *d, const char *topic, const char *payload)
{
    return publish_wait(d, topic, payload, strlen(payload), true);
}

/* Publishes on /sys/{pk}/{id}/{suffix} and waits for the PUBACK. */
static int dev_publish(sdev *d, const char *suffix, const void *payload, size_t len)
{
    char topic[256];
    dev_topic(d, suffix, topic, sizeof topic);
    return publish_wait(d, topic, payload, len, false);
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
    return dev_publish(d, "ota/version", buf, (size_t)n);
}

int sdev_ack(sdev *d, const char *msg_id, int code)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"msgId\":\"%s\",\"version\":\"1.0\",\"code\":%d}", msg_id,
                     code);
    return dev_publish(d, "ota/firmware/upgrade_reply", buf, (size_t)n);
}

int sdev_progress(sdev *d, int step)
{
    char buf[512], mid[80];
    fresh_id(d, mid, sizeof mid);
    int n = snprintf(
        buf, sizeof buf,
        "{\"msgId\":\"%s\",\"version\":\"1.0\",\"data\":{\"step\":%d,\"desc\":\"scripted\"}}", mid,
        step);
    return dev_publish(d, "ota/progress", buf, (size_t)n);
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
    return dev_publish(d, "ota/firmware/get", buf, (size_t)n);
}

int sdev_publish_raw(sdev *d, const char *suffix, const void *payload, size_t len)
{
    return dev_publish(d, suffix, payload, len);
}

static int matches(const sdev_msg *m, sdev_kind kind, const char *topic, const char *substr)
{
    return (kind == SDEV_ANY || m->kind == kind) && (!topic || strcmp(m->topic, topic) == 0) &&
           (!substr || strstr(m->payload, substr));
}

static int count_locked(sdev *d, sdev_kind kind)
{
    int n = 0;
    for (int i = 0; i < d->nmsgs; i++)
        n += matches(d->msgs[i], kind, NULL, NULL);
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
        if (!matches(d->msgs[k], kind, NULL, NULL))
            continue;
        if (seen++ == i) {
            *out = *d->msgs[k];
            out->topic = NULL;
            out->payload = NULL;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

const sdev_msg *sdev_msg_at(sdev *d, int i)
{
    const sdev_msg *m = NULL;
    pthread_mutex_lock(&d->lock);
    if (i >= 0 && i < d->nmsgs)
        m = d->msgs[i];
    pthread_mutex_unlock(&d->lock);
    return m;
}

int sdev_wait_msg(sdev *d, int from, const char *topic, const char *substr, int timeout_ms)
{
    struct timespec ts;
    int found = -1, i = from < 0 ? 0 : from;
    abs_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        for (; i < d->nmsgs; i++) {
            if (matches(d->msgs[i], SDEV_ANY, topic, substr)) {
                found = i;
                break;
            }
        }
        if (found >= 0 || pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&d->lock);
    return found;
}

int sdev_count_matching(sdev *d, int from, const char *topic, const char *substr)
{
    int n = 0;
    pthread_mutex_lock(&d->lock);
    for (int i = from < 0 ? 0 : from; i < d->nmsgs; i++)
        n += matches(d->msgs[i], SDEV_ANY, topic, substr);
    pthread_mutex_unlock(&d->lock);
    return n;
}

int sdev_duplicate_push_ids(sdev *d)
{
    int dups = 0;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->nmsgs; i++) {
        if (d->msgs[i]->kind != SDEV_PUSH)
            continue;
        for (int j = 0; j < i; j++)
            if (d->msgs[j]->kind == SDEV_PUSH &&
                strcmp(d->msgs[j]->msg_id, d->msgs[i]->msg_id) == 0) {
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
