/*
 * broker_helpers: see broker_helpers.h. One mutex and condition per client; libmosquitto's
 * loop thread fills the records, the test thread waits on them.
 */
#include "broker_helpers.h"

#include "ota_crypto.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct tclient {
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int connack; /* -1 until the CONNACK */
    int last_sub_mid, granted;
    bool got_suback;
    int acked[256]; /* mids acknowledged (ring) */
    int nacked;
    tc_msg msgs[TC_MAX_MSGS];
    int nmsgs;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mosquitto_lib_init();
}

void tc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    tclient *c = obj;
    (void)m;
    pthread_mutex_lock(&c->lock);
    c->connack = rc;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    tclient *c = obj;
    (void)m;
    pthread_mutex_lock(&c->lock);
    if (mid == c->last_sub_mid) {
        c->granted = n > 0 ? granted[0] : -1;
        c->got_suback = true;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    tclient *c = obj;
    (void)m;
    pthread_mutex_lock(&c->lock);
    c->acked[c->nacked++ % 256] = mid;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    tclient *c = obj;
    (void)m;
    pthread_mutex_lock(&c->lock);
    if (c->nmsgs < TC_MAX_MSGS) {
        tc_msg *x = &c->msgs[c->nmsgs];
        x->topic = strdup(msg->topic);
        x->payload = calloc(1, (size_t)msg->payloadlen + 1);
        if (x->topic && x->payload) {
            memcpy(x->payload, msg->payload, (size_t)msg->payloadlen);
            c->nmsgs++;
        }
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

tclient *tc_connect(int port, const char *client_id, const char *user, const char *pass,
                    bool clean_session)
{
    struct timespec ts;
    pthread_once(&once, lib_init);
    tclient *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->connack = -1;
    c->mosq = mosquitto_new(client_id, clean_session, c);
    if (!c->mosq)
        return c;
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (user)
        mosquitto_username_pw_set(c->mosq, user, pass);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_message_callback_set(c->mosq, on_message);
    mosquitto_reconnect_delay_set(c->mosq, 60, 60, false); /* a refused client stays refused */
    if (mosquitto_connect(c->mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS)
        return c;
    mosquitto_loop_start(c->mosq);
    deadline(&ts, 5000);
    pthread_mutex_lock(&c->lock);
    while (c->connack < 0) {
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return c;
}

int tc_connack(tclient *c)
{
    int rc;
    pthread_mutex_lock(&c->lock);
    rc = c->connack;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int tc_subscribe(tclient *c, const char *filter)
{
    struct timespec ts;
    int mid = 0, granted = -1;
    pthread_mutex_lock(&c->lock);
    c->got_suback = false;
    c->last_sub_mid = -2;
    pthread_mutex_unlock(&c->lock);
    /* hold the lock across subscribe so the SUBACK cannot be missed */
    pthread_mutex_lock(&c->lock);
    if (mosquitto_subscribe(c->mosq, &mid, filter, 1) != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    c->last_sub_mid = mid;
    deadline(&ts, 5000);
    while (!c->got_suback) {
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0)
            break;
    }
    if (c->got_suback)
        granted = c->granted;
    pthread_mutex_unlock(&c->lock);
    return granted;
}

int tc_publish(tclient *c, const char *topic, const char *payload)
{
    struct timespec ts;
    int mid = 0, ok = 0;
    pthread_mutex_lock(&c->lock);
    if (mosquitto_publish(c->mosq, &mid, topic, (int)strlen(payload), payload, 1, false) !=
        MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    deadline(&ts, 5000);
    while (!ok) {
        for (int i = 0; i < 256 && i < c->nacked; i++) {
            if (c->acked[i] == mid)
                ok = 1;
        }
        if (ok || pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return ok ? 0 : -1;
}

static int matches(const tc_msg *m, const char *topic, const char *substr)
{
    return (!topic || strcmp(m->topic, topic) == 0) && (!substr || strstr(m->payload, substr));
}

int tc_wait_msg(tclient *c, int from, const char *topic, const char *substr, int timeout_ms)
{
    struct timespec ts;
    int found = -1, i = from;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&c->lock);
    while (found < 0) {
        for (; i < c->nmsgs; i++) {
            if (matches(&c->msgs[i], topic, substr)) {
                found = i;
                break;
            }
        }
        if (found >= 0 || pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

int tc_count(tclient *c)
{
    int n;
    pthread_mutex_lock(&c->lock);
    n = c->nmsgs;
    pthread_mutex_unlock(&c->lock);
    return n;
}

const tc_msg *tc_get(tclient *c, int i)
{
    const tc_msg *m = NULL;
    pthread_mutex_lock(&c->lock);
    if (i >= 0 && i < c->nmsgs)
        m = &c->msgs[i];
    pthread_mutex_unlock(&c->lock);
    return m;
}

int tc_count_matching(tclient *c, int from, const char *topic, const char *substr)
{
    int n = 0;
    pthread_mutex_lock(&c->lock);
    for (int i = from; i < c->nmsgs; i++)
        n += matches(&c->msgs[i], topic, substr);
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void tc_free(tclient *c)
{
    /* Mark the client disconnected before stopping its thread: woken from its reconnect
     * sleep by loop_stop, libmosquitto's loop would otherwise reconnect (and take over a
     * newer connection with the same client id) before a forced cancel lands. */
    mosquitto_disconnect(c->mosq);
    mosquitto_loop_stop(c->mosq, false);
    mosquitto_destroy(c->mosq);
    for (int i = 0; i < c->nmsgs; i++) {
        free(c->msgs[i].topic);
        free(c->msgs[i].payload);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

void tc_close(tclient *c)
{
    if (!c)
        return;
    if (c->mosq) {
        mosquitto_disconnect(c->mosq);
        mosquitto_loop_stop(c->mosq, c->connack != 0);
        mosquitto_destroy(c->mosq);
        c->mosq = NULL;
    }
    for (int i = 0; i < c->nmsgs; i++) {
        free(c->msgs[i].topic);
        free(c->msgs[i].payload);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

void tc_drop(tclient *c)
{
    if (!c)
        return;
    if (c->mosq) {
        int fd = mosquitto_socket(c->mosq);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        tc_free(c);
        return;
    }
    tc_close(c);
}

tclient *tc_device(int port, const unsigned char key[32], const char *pk, const char *id)
{
    char cid[128], secret[40];
    snprintf(cid, sizeof cid, "%s.%s", pk, id);
    if (ota_secret_device(key, pk, id, secret, sizeof secret) != 0)
        return NULL;
    return tc_connect(port, cid, cid, secret, true);
}

tclient *tc_server(int port, const unsigned char key[32], const char *client_id)
{
    char secret[40];
    if (ota_secret_server(key, secret, sizeof secret) != 0)
        return NULL;
    return tc_connect(port, client_id ? client_id : "otad", "otad", secret, true);
}
